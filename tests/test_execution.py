"""Every chapter was executed top to bottom, in a fresh kernel, by the build.

``make book`` executes each notebook through jupyter-cache (one new kernel per
notebook, errors fatal: ``nb_execution_raise_on_error``) and ``make test`` runs
``make book`` first. Here we check the cache holds a successful execution of the
*current* code of every chapter in the table of contents, and write the
execution times to ``_build/reports/execution.md``.
"""

from __future__ import annotations

import nbformat
import pytest

from conftest import ROOT, chapter_notebooks

pytestmark = pytest.mark.site

CACHE = ROOT / "_build" / ".jupyter_cache"
REPORT = ROOT / "_build" / "reports" / "execution.md"


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


def test_every_chapter_executed_successfully(cache):
    rows = []
    for path in chapter_notebooks():
        nb = nbformat.read(path, as_version=4)
        record = cache.match_cache_notebook(nb)  # raises KeyError when this code was never executed
        seconds = record.data.get("execution_seconds")
        assert seconds is not None, f"{path.name}: cache record without execution time"
        executed = cache.get_cache_bundle(record.pk).nb
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, f"{path.name}: executed with errors: {[e.ename for e in errors]}"
        rows.append((path.name, seconds))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    lines = ["| chapter | execution time (s) |", "|---|---|"] + [f"| {n} | {s:.1f} |" for n, s in rows]
    REPORT.write_text("# Notebook execution (fresh kernel, this machine)\n\n" + "\n".join(lines) + "\n")
