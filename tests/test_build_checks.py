"""The build's own checks stay with the build.

Chapters assert what their text relies on: timings beyond the spread of the repetitions, results
that hold in every seed. The website's build runs those asserts (a wrong sentence fails the build);
a reader's slower laptop or another seed could fail them too, so they live in cells tagged
``build-check`` that the reader and student notebooks leave out (book/_ext/reader_notebooks.py).
These tests read the real chapter sources; no build is needed.
"""

from __future__ import annotations

import ast
import re
import sys

import nbformat
import pytest

from conftest import ROOT, chapter_notebooks

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import reader_notebooks as rn  # noqa: E402

from test_student_edition import _AnyGlue, _AnyNumbers, _AnyTitles, _Cite  # noqa: E402

#: Words that mark an assert as depending on the machine or the seed: timings and spreads.
MACHINE_DEPENDENT = ("clearly_less", "quartiles", '["q1"]', '["q3"]', "speedup", "seconds[")


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def _checks(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and rn.BUILD_CHECK_TAG in _tags(c)]


def _parse(source: str) -> ast.Module:
    """A code cell as Python: IPython's ``%magic`` and ``!shell`` lines read as ``pass``."""
    lines = source.split("\n")
    return ast.parse("\n".join(re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in lines))


def _asserts(source: str) -> list[str]:
    return [ast.unparse(node) for node in ast.walk(_parse(source)) if isinstance(node, ast.Assert)]


def _defined(tree: ast.Module) -> set[str]:
    """The names a cell's top-level statements bind (comprehension variables stay inside their comprehension)."""
    names = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        else:
            targets = {ast.Assign: lambda s: s.targets, ast.AugAssign: lambda s: [s.target],
                       ast.AnnAssign: lambda s: [s.target], ast.For: lambda s: [s.target],
                       ast.With: lambda s: [i.optional_vars for i in s.items if i.optional_vars]}
            for target in targets.get(type(stmt), lambda s: [])(stmt):
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _reader(path, student: bool):
    source = nbformat.read(path, as_version=4)
    doc = f"chapters/{path.stem}"
    ctx = rn.Context(doc, _AnyNumbers(), _AnyTitles(), _AnyGlue(), _Cite(), "SRC")
    return rn.to_reader(rn.student_source(source, doc) if student else source, ctx, "intro")


def test_the_chapters_have_build_checks():
    """The check below can fail: chapters 5, 8 and 9 assert timings and per-seed results."""
    with_checks = {p.stem[:2] for p in chapter_notebooks() if _checks(nbformat.read(p, as_version=4))}
    assert {"05", "08", "09"} <= with_checks, with_checks


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_build_checks_are_hidden_and_only_check(path):
    """A build-check cell is hidden on the site, asserts something, and defines nothing a later cell uses
    (so leaving it out cannot break a reader's notebook)."""
    nb = nbformat.read(path, as_version=4)
    later_loads: set[str] = set()
    for k, cell in reversed(list(enumerate(nb.cells))):
        if cell.cell_type != "code":
            continue
        tree = _parse(cell.source)
        if rn.BUILD_CHECK_TAG in _tags(cell):
            assert "remove-cell" in _tags(cell), f"{path.stem}, cell {k}: a build check the site shows"
            assert _asserts(cell.source), f"{path.stem}, cell {k}: a build check with no assert"
            used = _defined(tree) & later_loads
            assert not used, f"{path.stem}, cell {k}: later cells use {sorted(used)} defined in a build check"
        else:
            later_loads |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_timing_and_seed_asserts_are_build_checks(path):
    """Every assert on a timing or on a spread over seeds sits in a build-check cell."""
    nb = nbformat.read(path, as_version=4)
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or rn.BUILD_CHECK_TAG in _tags(cell):
            continue
        loose = [a for a in _asserts(cell.source) if any(word in a for word in MACHINE_DEPENDENT)]
        assert not loose, f"{path.stem}, cell {k}: machine- or seed-dependent asserts outside a build check: {loose}"


@pytest.mark.parametrize("student", [False, True], ids=["instructor", "student"])
def test_reader_notebooks_leave_the_build_checks_out(student):
    """Mutant: ``to_reader`` (instructor) or ``student_source`` (student) without the tag filter keeps them."""
    for path in chapter_notebooks():
        checks = [a for c in _checks(nbformat.read(path, as_version=4)) for a in _asserts(c.source)]
        reader = _reader(path, student)
        kept = {a for c in reader.cells if c.cell_type == "code" for a in _asserts(c.source)}
        assert not kept & set(checks), f"{path.stem}: build checks in the reader notebook: {sorted(kept & set(checks))}"
        assert not [c for c in reader.cells if rn.BUILD_CHECK_TAG in _tags(c)], path.stem


def test_student_sources_leave_the_build_checks_out():
    for path in chapter_notebooks():
        student = rn.student_source(nbformat.read(path, as_version=4), path.stem)
        assert not _checks(student), path.stem
