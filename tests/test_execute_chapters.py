"""``book/execute_chapters.py``: chapters executed into the build's cache before the website build.

The website build (myst-nb, ``execute_notebooks: cache``) must find what this script stored: the test
asks jupyter-cache exactly as myst-nb asks it (``match_cache_notebook`` on the notebook as read).
"""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from jupyter_cache import get_cache

from conftest import ROOT

SCRIPT = ROOT / "book" / "execute_chapters.py"


def _notebook(path, code, times_code=False):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if times_code:
        nb.metadata["lnbook"] = {"times_code": True}
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"), nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)
    return path


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_chapters_land_in_the_cache_as_the_build_finds_them(tmp_path):
    """Mutant: storing the notebook as read (not as executed), or under another hash, fails the match."""
    a = _notebook(tmp_path / "a.ipynb", "x = [0] * 1_000_000\nprint(6 * 7)")
    b = _notebook(tmp_path / "b.ipynb", "print('alone')", times_code=True)
    bad = _notebook(tmp_path / "bad.ipynb", "raise RuntimeError('broken chapter')")
    run = _run("--jobs", 2, "--cache", tmp_path / "cache", a, b, bad)
    assert run.returncode == 0, run.stderr
    assert "bad.ipynb failed" in run.stdout and "2 of 3 chapters executed" in run.stdout, run.stdout
    assert "b.ipynb alone" in run.stdout, run.stdout
    cache = get_cache(tmp_path / "cache")
    record = cache.match_cache_notebook(nbformat.read(a, as_version=4))
    _, merged = cache.merge_match_into_notebook(nbformat.read(a, as_version=4))  # what myst-nb renders
    assert merged.cells[1].outputs[0]["text"] == "42\n"
    assert record.data["execution_seconds"] > 0
    with pytest.raises(KeyError):  # a failed chapter is left for the website build to run and report
        cache.match_cache_notebook(nbformat.read(bad, as_version=4))
    peaks = json.loads((tmp_path / "cache" / "lnb-kernel-memory.json").read_text())["chapters"]
    assert {entry["cache_pk"] for entry in peaks.values()} == {
        record.pk, cache.match_cache_notebook(nbformat.read(b, as_version=4)).pk}
    assert all(entry["peak_rss_bytes"] > 8_000_000 for entry in peaks.values())  # a kernel's, not zero
    again = _run("--cache", tmp_path / "cache", a, b)
    assert "every chapter is in the cache" in again.stdout, again.stdout


def test_bad_arguments_exit_2_with_one_line(tmp_path):
    for args in (["--jobs", 0, tmp_path / "a.ipynb"], [tmp_path / "missing.ipynb"]):
        run = _run(*args)
        assert run.returncode == 2, run
        last = run.stderr.strip().splitlines()[-1]
        assert "--jobs must be at least 1" in last or "no such chapter" in last, run.stderr
