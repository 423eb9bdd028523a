"""Every chapter was executed top to bottom, in a fresh kernel, by the build.

``make book`` executes each notebook through jupyter-cache (one new kernel per
notebook, errors fatal: ``nb_execution_raise_on_error``) and ``make test`` runs
``make book`` first. Here we check the cache holds a successful execution of the
*current* code of every chapter in the table of contents, and write the
execution times and the peak memory of each chapter's kernel (measured by the
build, ``book/_ext/course_facts.py``) to ``_build/reports/execution.md``. Every
chapter must stay within :data:`MEMORY_TARGET` at the quick budget, so that a
class hub can give each student little memory (issue 21).
"""

from __future__ import annotations

import json

import nbformat
import pytest

from conftest import ROOT, chapter_notebooks

pytestmark = pytest.mark.site

CACHE = ROOT / "_build" / ".jupyter_cache"
REPORT = ROOT / "_build" / "reports" / "execution.md"
MEMORY = CACHE / "lnb-kernel-memory.json"  # written by book/_ext/course_facts.py
MEMORY_TARGET = 10 ** 9  # bytes of peak RSS per chapter kernel, quick budget


@pytest.fixture(scope="module")
def cache():
    from jupyter_cache import get_cache

    if not CACHE.exists():
        pytest.fail("no execution cache in _build/.jupyter_cache: run `make book` first")
    return get_cache(CACHE)


def test_chapters_exist():
    assert chapter_notebooks(), "the table of contents lists no chapter notebook"


def test_chapters_committed_without_outputs():
    for path in chapter_notebooks():
        nb = nbformat.read(path, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{path.name}: cells {dirty} have outputs; run `make strip`"


def _peaks() -> dict:
    return json.loads(MEMORY.read_text())["chapters"] if MEMORY.exists() else {}


def test_every_chapter_executed_successfully(cache):
    rows, peaks = [], _peaks()
    for path in chapter_notebooks():
        nb = nbformat.read(path, as_version=4)
        record = cache.match_cache_notebook(nb)  # raises KeyError when this code was never executed
        seconds = record.data.get("execution_seconds")
        assert seconds is not None, f"{path.name}: cache record without execution time"
        executed = cache.get_cache_bundle(record.pk).nb
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, f"{path.name}: executed with errors: {[e.ename for e in errors]}"
        entry = peaks.get(path.relative_to(ROOT).with_suffix("").as_posix(), {})
        peak = entry.get("peak_rss_bytes") if entry.get("cache_pk") == record.pk else None
        rows.append((path.name, seconds, peak, entry.get("setting", "")))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    lines = ["| chapter | execution time (s) | kernel peak RSS (MB) | setting |", "|---|---|---|---|"] + [
        f"| {n} | {s:.1f} | {'not measured' if m is None else f'{m / 1e6:.0f}'} | {b} |" for n, s, m, b in rows]
    REPORT.write_text("# Notebook execution (fresh kernel, this machine)\n\n" + "\n".join(lines) + "\n\n"
                      "Peak RSS: the kernel's own getrusage(RUSAGE_SELF).ru_maxrss after the chapter's last cell.\n")


def test_every_chapter_fits_the_memory_target(cache):
    """Each chapter's kernel peaked at most MEMORY_TARGET bytes in the execution the cache holds."""
    peaks, measured, over = _peaks(), [], []
    for path in chapter_notebooks():
        record = cache.match_cache_notebook(nbformat.read(path, as_version=4))
        entry = peaks.get(path.relative_to(ROOT).with_suffix("").as_posix(), {})
        if entry.get("cache_pk") != record.pk:
            pytest.fail(f"{path.name}: no kernel peak measured for its current execution; run `make clean book`")
        measured.append(path.name)
        quick = "budget quick" in entry["setting"] or entry["setting"].startswith("budget default") and (
            "no GPU visible" in entry["setting"])  # the default budget on a CPU is quick
        if quick and entry["peak_rss_bytes"] > MEMORY_TARGET:
            over.append(f"{path.name}: {entry['peak_rss_bytes'] / 1e6:.0f} MB")
    assert measured and not over, f"chapters above {MEMORY_TARGET / 1e6:.0f} MB at the quick budget: {over}"
