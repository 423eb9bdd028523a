"""The compiled-kernel cache (helpers._native) on a shared home: a library built for another CPU,
or one that does not load, is never a crash: the helpers fall back to torch operations with a
one-line note. Each test runs the helpers in a fresh process with its own cache directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import _native

SOURCE = Path(_native.__file__).with_name("lstm_kernel.c")

# Trains helpers.rnn.LSTM (engine="auto") for a few steps and prints what ran.
TRAIN = textwrap.dedent("""
    import torch
    from helpers import lstm_kernel
    from helpers.rnn import LSTM
    torch.manual_seed(0)
    lstm, head = LSTM(3, 8), torch.nn.Linear(8, 1)
    opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.05)
    x, y = torch.randn(6, 4, 3), torch.randn(4, 1)
    losses = []
    for _ in range(20):
        out, _ = lstm(x)
        loss = torch.nn.functional.mse_loss(head(out[-1]), y)
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    print("engine:", "c" if lstm_kernel.available()[0] else "torch", "| why:", lstm_kernel.available()[1])
""")


def _run(cache, code=TRAIN, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("LNBOOK_NO_C_KERNEL", "CC")}
    environ.update(LNBOOK_KERNEL_CACHE=str(cache), **env)
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=300)


def _notes(stderr):
    return [line for line in stderr.splitlines() if "KernelFallbackWarning" in line]


def _cc():
    cc = shutil.which(os.environ.get("CC", "cc"))
    assert cc, "these tests need the C compiler the README asks for (cc)"
    return cc


def _entry(cache, monkeypatch, target=None):
    """Where the loader of this process would look for lstm_kernel.c's library (first flag set)."""
    monkeypatch.setenv("LNBOOK_KERNEL_CACHE", str(cache))
    monkeypatch.delenv("LNBOOK_NO_C_KERNEL", raising=False)
    cc = _native._compiler()
    return _native._entry(SOURCE, cc, _native.FLAGS[0], target or _native._target(cc))


def test_a_library_stamped_for_another_cpu_is_not_loaded(tmp_path, monkeypatch):
    """A cached library stamped for another CPU is never loaded: LSTM trains on torch ops, with one note.

    The library planted here dies of an illegal instruction (``__builtin_trap``, SIGILL) as soon as
    it is loaded, as code for another CPU would when run. Mutant: ``_compile`` without the
    ``_check_stamp`` call loads it and the process dies (return code -4, SIGILL).
    """
    library = _entry(tmp_path, monkeypatch)
    trap = tmp_path / "trap.c"
    trap.write_text("__attribute__((constructor)) static void trap(void) { __builtin_trap(); }\n")
    subprocess.run([_cc(), "-shared", "-fPIC", str(trap), "-o", str(library)], check=True, timeout=120)
    library.with_name(library.name + ".target").write_text("linux x86_64: -march=sapphirerapids -mavx512f\n")
    run = _run(tmp_path)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert "engine: torch" in run.stdout and "another CPU" in run.stdout, run.stdout
    notes = _notes(run.stderr)
    assert len(notes) == 1 and "another CPU" in notes[0] and "torch operations" in notes[0], run.stderr
    assert library.exists()  # left for the node it was built for


def test_a_library_that_does_not_load_falls_back(tmp_path, monkeypatch):
    """A corrupt cached library with this machine's stamp: one note, and LSTM trains on torch ops.

    Mutant: ``load`` without its inner ``try`` around ``ctypes.CDLL`` says only "file too short",
    not which cached file to delete.
    """
    library = _entry(tmp_path, monkeypatch)
    library.write_bytes(b"\x7fELF this is not a shared library")
    library.with_name(library.name + ".target").write_text(_native._target(_native._compiler()) + "\n")
    run = _run(tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "engine: torch" in run.stdout and "does not load" in run.stdout, run.stdout
    notes = _notes(run.stderr)
    assert len(notes) == 1 and "does not load" in notes[0], run.stderr


def test_a_library_without_a_stamp_is_not_loaded(tmp_path, monkeypatch):
    """No stamp (e.g. copied in by hand): not loaded. Mutant: a missing stamp read as a match loads it."""
    library = _entry(tmp_path, monkeypatch)
    library.write_bytes(b"not loaded")
    run = _run(tmp_path)
    assert run.returncode == 0 and "has no target stamp" in run.stdout, (run.stdout, run.stderr[-2000:])


def test_the_cache_is_keyed_by_the_target_and_stamped(tmp_path, monkeypatch):
    """A fresh build writes its stamp, and another target gets another file; the C kernel then runs.

    Mutant: the target left out of ``_entry``'s hash makes both paths equal.
    """
    cc = _cc()
    assert _entry(tmp_path, monkeypatch, target="linux x86_64: -march=a") != _entry(
        tmp_path, monkeypatch, target="linux x86_64: -march=b")
    run = _run(tmp_path)
    assert run.returncode == 0 and "engine: c" in run.stdout and not _notes(run.stderr), (run.stdout, run.stderr)
    stamps = sorted(tmp_path.glob("lstm_kernel-*.so.target"))
    assert len(stamps) == 1 and stamps[0].read_text().strip() == _native._target(cc)
    assert "-march=" in _native._target(cc) or "-target-cpu" in _native._target(cc), _native._target(cc)


@pytest.mark.parametrize("cc, expect", [
    ("/nonexistent", "no C compiler found (looked for '/nonexistent')"),
    ("false", f"could not build lstm_kernel.c with each of the {len(_native.FLAGS)} flag sets tried "
              "(exit status 1, no message)"),
])
def test_without_a_working_compiler_one_readable_note(tmp_path, cc, expect):
    """``CC=/nonexistent`` or ``CC=false``: LSTM trains on torch ops and one line says why.

    Mutant: the old message, ``-O3 -march=native ...: 1`` per flag set, fails the ``expect`` match.
    """
    run = _run(tmp_path, CC=cc)
    assert run.returncode == 0, run.stderr[-2000:]
    notes = _notes(run.stderr)
    assert len(notes) == 1 and expect in notes[0], run.stderr
    assert "engine: torch" in run.stdout and expect in run.stdout


def test_switched_off_says_nothing(tmp_path):
    """``LNBOOK_NO_C_KERNEL`` is a choice, not a fault: no note. Mutant: warning for every reason prints one."""
    run = _run(tmp_path, LNBOOK_NO_C_KERNEL="1")
    assert run.returncode == 0 and "engine: torch" in run.stdout and not _notes(run.stderr), run.stderr
