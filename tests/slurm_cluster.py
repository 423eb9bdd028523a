"""A single-node Slurm cluster on localhost for the sweep test: munged, slurmctld and slurmd, private to one
temporary folder (their own munge socket, ports, state, spool, logs), started as child processes and stopped
after. Debian's ``slurm-wlm`` and ``munge`` (``.ci/run`` installs them); run as root, as CI runs.

Run as a script, it starts the cluster, prints ``sinfo`` and stops it (a check of a machine's setup)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "srun", "squeue", "scancel")
HOW = "apt-get install slurm-wlm munge (.ci/run and `make slurm-deps` install them)"

CONF = """\
ClusterName=lnbook
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/munge.socket
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=localhost NodeAddr=127.0.0.1 {node} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class ClusterError(RuntimeError):
    """The daemons could not be started here; the message says why (with their logs' last lines)."""


def missing_tools() -> list[str]:
    """The programs of :data:`TOOLS` not found on this machine."""
    return [t for t in TOOLS if shutil.which(t) is None and not os.path.exists(f"/usr/sbin/{t}")]


def _tool(name):
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return "(no log)"


class Cluster:
    """A running one-node cluster; ``env`` is what a client (sbatch, submitit) needs (``SLURM_CONF``)."""

    def __init__(self):
        if os.geteuid() != 0:
            raise ClusterError("the test cluster runs its daemons as root (as CI does); this is not root")
        self.dir = Path(tempfile.mkdtemp(prefix="lnslurm-", dir="/tmp"))  # short: sockets have a length limit
        self.procs: list[subprocess.Popen] = []
        self.conf = self.dir / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, args, log):
        proc = subprocess.Popen(args, stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=self.env,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def _start(self):
        d = self.dir
        for sub in ("state", "spool", "munge"):
            (d / sub).mkdir(mode=0o700)
        os.chmod(d, 0o755)
        Path("/run/munge").mkdir(parents=True, exist_ok=True)  # munged checks its default folders exist
        key = d / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        munged = self._spawn([_tool("munged"), "-F", "-f", f"--socket={d}/munge.socket", f"--key-file={key}",
                              f"--pid-file={d}/munge/munged.pid", f"--seed-file={d}/munge/munged.seed",
                              f"--log-file={d}/munge/munged.log"], d / "munged.out")
        self._wait(lambda: (d / "munge.socket").exists(), 10, "munged", munged, d / "munge" / "munged.log")
        probe = subprocess.run([_tool("slurmd"), "-C"], capture_output=True, text=True, timeout=30)
        m = re.search(r"(CPUs=.*RealMemory=\d+)", probe.stdout)
        if not m:
            raise ClusterError(f"slurmd -C gave no node description: {probe.stdout.strip()} {probe.stderr.strip()}")
        node = m.group(1)
        self.cpus = int(re.search(r"CPUs=(\d+)", node).group(1))
        self.conf.write_text(CONF.format(dir=d, ctld_port=_free_port(), d_port=_free_port(), node=node))
        ctld = self._spawn([_tool("slurmctld"), "-D", "-i", "-f", str(self.conf)], d / "slurmctld.out")
        slurmd = self._spawn([_tool("slurmd"), "-D", "-N", "localhost", "-f", str(self.conf)], d / "slurmd.out")

        def idle():
            out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env)
            return out.returncode == 0 and out.stdout.strip() in ("idle", "mixed", "allocated")

        self._wait(idle, 45, "slurmctld and slurmd (node idle)", None, d / "slurmctld.log", d / "slurmd.log")
        for name, proc in (("slurmctld", ctld), ("slurmd", slurmd)):
            if proc.poll() is not None:
                raise ClusterError(f"{name} exited with {proc.returncode}: {_tail(d / f'{name}.log')}")

    def _wait(self, ready, timeout, what, proc, *logs):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ready():
                return
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.3)
        why = "; ".join(f"{p.name}: {_tail(p)}" for p in logs)
        raise ClusterError(f"{what} did not come up within {timeout} s ({why})")

    def _ours(self) -> list[int]:
        """Processes this cluster started that outlive its daemons (slurmstepd, job scripts, srun): every
        process but this one whose environment names this cluster's slurm.conf."""
        mark = f"SLURM_CONF={self.conf}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
        return found

    def _drain(self, timeout=20):
        """Let running jobs end (their steps finish a moment after the result is written), then cancel the rest."""
        def queued():
            out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, env=self.env, timeout=10)
            return out.stdout.split() if out.returncode == 0 else []

        end = time.monotonic() + timeout / 2
        while queued() and time.monotonic() < end:
            time.sleep(0.3)
        jobs = queued()
        if jobs:
            subprocess.run(["scancel", "--full", *jobs], capture_output=True, env=self.env, timeout=10)
            end = time.monotonic() + timeout / 2
            while queued() and time.monotonic() < end:
                time.sleep(0.3)

    def stop(self):
        """Let the jobs end (or cancel them), stop the daemons (newest first), end what they left, remove the folder."""
        if self.procs and all(p.poll() is None for p in self.procs):
            try:
                self._drain()
            except (OSError, subprocess.SubprocessError):
                pass
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs = []
        for pid in self._ours():  # srun and slurmstepd ignore SIGTERM while their controller is gone
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    if missing_tools():
        raise SystemExit(f"missing: {', '.join(missing_tools())}; {HOW}")
    c = Cluster()
    try:
        print(subprocess.run(["sinfo"], capture_output=True, text=True, env=c.env).stdout)
        print(subprocess.run(["srun", "hostname"], capture_output=True, text=True, env=c.env, timeout=60))
    finally:
        c.stop()
