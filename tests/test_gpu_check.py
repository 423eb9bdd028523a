"""helpers.gpu_check (``make gpu-check``): what can be checked without a GPU.

The GPU parts themselves run only on a CUDA machine. Here: the report's format with
every part marked "not run" and with a failed and a passing part, the runner that
turns a raising part into a failed one, the accuracy rule, the clean refusal without a
GPU (exit status 2, one line) and the Makefile target.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from helpers import bench, gpu_check
from helpers.gpu_check import PARTS, Part, not_run, report, run_parts

MACHINE = {"device_name": "NVIDIA H100", "torch": "2.x", "date": "2026-12-07 03:00 UTC"}


def _table(text):
    """The rows of the parts table: ``[(part, status, time, what)]``."""
    rows = re.findall(r"^\| (\w+) \| ([a-z ]+) \| ([^|]+) \| ([^|]*) \|$", text, re.M)
    return [tuple(c.strip() for c in r) for r in rows if r[0] != "part"]  # not the header


def test_report_on_a_cpu_marks_every_gpu_part_not_run():
    text = report([not_run(name, "no CUDA GPU here") for name in PARTS], MACHINE)
    assert text.startswith("# GPU check (`make gpu-check`)\n")
    assert "Machine: device_name NVIDIA H100, torch 2.x, date 2026-12-07 03:00 UTC." in text
    assert f"Total time 0 s (within the budget of {gpu_check.TIME_BUDGET_S} s)." in text
    assert _table(text) == [(name, "not run", "–", what) for name, (what, _) in PARTS.items()]
    for name in PARTS:
        assert f"## {name}\n\nNot run: no CUDA GPU here.\n" in text + "\n"
    assert " ok " not in text and "failed" not in text


def test_report_of_parts_that_ran():
    parts = [Part("device", "ok", 1.25, ["`cuda:0`"]), Part("bench", "failed", 500.0, ["Failed: `RuntimeError`:"])]
    text = report(parts, MACHINE)
    assert _table(text) == [("device", "ok", "1.2", PARTS["device"][0]), ("bench", "failed", "500.0", PARTS["bench"][0])]
    assert f"Total time 501 s (OVER the budget of {gpu_check.TIME_BUDGET_S} s)." in text
    assert "## device\n\n`cuda:0`" in text and "## bench\n\nFailed: `RuntimeError`:" in text


@pytest.mark.parametrize("bad", [[Part("device", "done")], ["device"]])
def test_report_rejects_what_is_not_a_part(bad):
    with pytest.raises((TypeError, ValueError)):
        report(bad, MACHINE)


def test_run_parts_reports_a_raising_part_and_goes_on(tmp_path, capsys):
    seen = []

    def fails(out):
        raise RuntimeError("triton is not installed")

    def passes(out):
        seen.append(out)
        return ["all good"]

    parts = run_parts({"triton": ("", fails), "lstm": ("", passes)}, tmp_path)
    assert [(p.name, p.status) for p in parts] == [("triton", "failed"), ("lstm", "ok")]
    assert "triton is not installed" in "\n".join(parts[0].lines) and parts[1].lines == ["all good"]
    assert seen == [tmp_path] and all(p.seconds >= 0 for p in parts)
    assert "gpu-check: triton: failed" in capsys.readouterr().out
    with pytest.raises(TypeError):
        run_parts([("triton", fails)])


def test_accuracy_rule():
    assert gpu_check.relative_error(torch.tensor([1.0, 3.0]), torch.tensor([1.0, 2.0])) == 0.5
    assert gpu_check.relative_error(torch.zeros(2), torch.zeros(2)) == 0.0
    assert gpu_check.as_accurate(1e-6, 0.0, torch.float32)  # within one float32 rounding step
    assert not gpu_check.as_accurate(1e-3, 1e-6, torch.float32)
    assert gpu_check.as_accurate(4e-3, 1e-3, torch.bfloat16) and not gpu_check.as_accurate(5e-2, 1e-3, torch.bfloat16)


def test_without_a_gpu_it_refuses_with_one_line_and_status_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "helpers.gpu_check", "--out", str(tmp_path)], capture_output=True,
                          text=True, env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"}, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1 and "no CUDA GPU" in proc.stderr
    assert not (tmp_path / "gpu.md").exists()


def test_the_parts_reuse_the_book_s_functions():
    assert list(PARTS) == ["device", "triton", "bench", "lstm", "experiment"]
    assert bench.SIZES["gpu"]["compile"] == "dynamic"  # one compilation per dtype and direction: minutes, not tens
    from helpers import experiments
    assert gpu_check.EXPERIMENT in experiments.names()


def test_make_gpu_check_runs_the_module():
    out = subprocess.run(["make", "-n", "gpu-check"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "-m helpers.gpu_check --out _build/reports" in out
