"""The chapters execute on a machine without any C or C++ compiler (``CC=/nonexistent`` and no
``cc``, ``gcc``, ``g++``, ``clang``... that works on ``PATH``): ``torch.compile`` and the book's C
kernels are skipped, and the page says so.

``make test`` runs chapter 9 this way (the one that calls ``torch.compile`` and both C kernels, and says
what it skipped). Every other chapter, about five more minutes on two cores, runs in
``make test-no-compiler`` (``LNBOOK_NO_COMPILER_ALL=1``): too long for ``make test``'s budget, run before a
release and by CI on a schedule.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

CHAPTER = ROOT / "chapters" / "09_speed.ipynb"
COMPILER = re.compile(r"^(cc|c\+\+|c89|c99|(.+-)?(gcc|g\+\+|clang|clang\+\+|icx|icpx)(-[0-9.]+)?)$")

# Run first in the kernel: the environment really has no working compiler.
CHECK = """\
import os, shutil, subprocess
assert os.environ["CC"] == "/nonexistent" and "CXX" not in os.environ
for name in ("cc", "gcc", "g++", "c++", "clang", "clang++"):
    path = shutil.which(name)
    assert path is None or subprocess.run([path, "--version"], capture_output=True).returncode != 0, path
"""


def _no_compiler_path(shadow):
    """PATH with a failing stand-in, in ``shadow``, for every compiler found on the current PATH."""
    shadow.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if COMPILER.match(name) and not (shadow / name).exists():
                (shadow / name).write_text(f"#!/bin/sh\necho '{name}: no compiler in this test' >&2\nexit 127\n")
                (shadow / name).chmod(0o755)
    return os.pathsep.join([str(shadow), str(ROOT / ".venv" / "bin"), os.environ["PATH"]])


def _without_a_compiler(tmp_path, monkeypatch):
    """The environment of a machine with no compiler, fresh kernel and inductor caches, the quick budget."""
    monkeypatch.setenv("PATH", _no_compiler_path(tmp_path / "shadow"))
    monkeypatch.setenv("CC", "/nonexistent")
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.delenv("LNBOOK_NO_C_KERNEL", raising=False)
    monkeypatch.setenv("LNBOOK_KERNEL_CACHE", str(tmp_path / "kernels"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    monkeypatch.setenv("LNBOOK_BUDGET", "quick")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("MPLBACKEND", "agg")


OTHERS = sorted(p.name for p in (ROOT / "chapters").glob("[0-9]*.ipynb") if p != CHAPTER)


@pytest.mark.every_chapter_without_a_compiler  # deselected unless LNBOOK_NO_COMPILER_ALL=1 (conftest)
@pytest.mark.parametrize("name", OTHERS)
def test_every_chapter_runs_without_a_compiler(name, tmp_path, monkeypatch):
    """The chapter completes without a compiler; every note about a C kernel is the one-line fallback note.

    Mutant: ``_native._compile`` raising when no compiler is found (as before the fallback) stops
    chapters 4, 5 and 7, which train ``helpers.rnn.LSTM``.
    """
    _without_a_compiler(tmp_path, monkeypatch)
    nb = nbformat.read(ROOT / "chapters" / name, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(CHECK))
    NotebookClient(nb, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(CHAPTER.parent)}}).execute()  # raises on a failed cell
    streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                      if o.output_type == "stream")
    notes = [line for line in streams.splitlines() if "KernelFallbackWarning" in line]
    assert all("no C compiler found" in line for line in notes), notes


def test_chapter_9_runs_without_a_compiler(tmp_path, monkeypatch):
    """Chapter 9 completes, says the torch.compile comparison was skipped, and the LSTM runs on torch ops.

    Mutant: chapter 9 as it was, calling ``kernels.compiled_layer_norm`` without
    ``kernels.compile_available()``, stops with ``InductorError: InvalidCxxCompiler``.
    """
    _without_a_compiler(tmp_path, monkeypatch)
    assert shutil.which("g++") in (None, str(tmp_path / "shadow" / "g++"))

    nb = nbformat.read(CHAPTER, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(CHECK))
    NotebookClient(nb, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(CHAPTER.parent)}}).execute()  # raises on a failed cell

    streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                      if o.output_type == "stream")
    glued = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                        if o.output_type == "display_data"])
    assert "skipped: the compiled composite; torch.compile could not build" in streams, streams[-3000:]
    header = next(line for line in streams.splitlines() if line.startswith("dtype"))
    assert "F.layer_norm" in header and "compiled composite" not in header, header
    assert "was skipped on this machine" in glued and "C++ compiler" in glued  # the page says what was skipped
    assert "torch operations: no C compiler here" in glued  # the LSTM's engine, glued into the text
    notes = [line for line in streams.splitlines() if "KernelFallbackWarning" in line]
    assert notes and all("no C compiler found" in line for line in notes), notes  # one line per C kernel
