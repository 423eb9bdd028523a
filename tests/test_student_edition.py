"""What a student receives holds no exercise answer: the student sources that ``make student``
writes (``reader_notebooks.py student-sources``) and the student reader notebooks the build writes
(``to_reader(student_source(...))``), made here from the real chapters without a build."""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT, chapter_notebooks

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import reader_notebooks as rn  # noqa: E402

GLUE_CALL = re.compile(r"""\bglue\(\s*f?(["'])(.+?)\1""")
GLUE_REF = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)")


def _solution_keys(nb) -> set[str]:
    """Glue keys that the instructor's solutions show (read from the ``{solution}`` fences themselves)."""
    keys = set()
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.split("\n")
        for start, end, _, name, _ in rn._fences(lines):
            if name == "solution":
                keys.update(GLUE_REF.findall("\n".join(lines[start:end])))
    return keys


HIDDEN = ("remove-cell", "remove-input")  # code the website never shows


def _answer_code(nb, keys) -> list[str]:
    """The hidden code cells of ``nb`` that glue one of ``keys`` (an f-string key matches what it can make).

    Code the page shows (e.g. chapter 3's ``loss_and_grads``, whose values one solution quotes) is what
    the student site shows too; what the website hides must not reach a student's notebook.
    """
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not set(HIDDEN) & set(cell.metadata.get("tags", [])):
            continue
        for _, key in GLUE_CALL.findall(cell.source):
            pattern = re.compile(re.sub(r"\\\{.*?\\\}", ".+", re.escape(key)))
            if any(pattern.fullmatch(k) for k in keys):
                found.append(cell.source.split("\n")[0])
                break
    return found


def _check_student(nb, source, where):
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, where
    assert ":::{solution}" not in text and "```{solution}" not in text and "Solution to Exercise" not in text, where
    leaked = _answer_code(nb, _solution_keys(source))
    assert not leaked, f"{where}: code computing the answers shown only in solutions: {leaked}"
    assert not [c for c in nb.cells if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", [])
                and GLUE_CALL.search(c.source) and "answer" in c.source.lower()], where


def test_the_check_sees_the_answer_cells_of_the_instructor_sources():
    """The check itself can fail: the instructor sources of chapters 6 and 7 hold answer code."""
    leaky = {p.stem for p in chapter_notebooks()
             if _answer_code(nbformat.read(p, as_version=4), _solution_keys(nbformat.read(p, as_version=4)))}
    assert {"06_feedforward_and_conv", "07_recurrent_experiments"} <= leaky, leaky


def test_student_sources_as_make_student_writes_them(tmp_path):
    """``reader_notebooks.py student-sources chapters OUT``, the command ``make student`` runs.

    Mutant: ``student_source`` without the ``answer_cells`` filter keeps the remove-cell cells that
    compute exercises 6.1, 6.2, 7.1 and 7.2 (they glued the answers when a student ran them).
    """
    run = subprocess.run([sys.executable, str(ROOT / "book/_ext/reader_notebooks.py"), "student-sources",
                          str(ROOT / "chapters"), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    written = sorted(tmp_path.glob("*.ipynb"))
    assert [p.name for p in written] == sorted(p.name for p in chapter_notebooks())
    for path in written:
        student = nbformat.read(path, as_version=4)
        _check_student(student, nbformat.read(ROOT / "chapters" / path.name, as_version=4), f"student source {path.name}")
        stubs = [c for c in student.cells if "fill-in" in c.metadata.get("tags", [])]
        # the stub is the student's to write in, not folded away like the instructor's solution (mutant: the
        # instructor's hide-input tag kept, as the new-user trial of issue 18 found on the student site)
        assert stubs and all("hide-input" not in c.metadata["tags"] for c in stubs), path.name


class _AnyGlue(dict):
    """Every glue key has a value (the build's values are not needed to see which cells are kept)."""

    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return "1"


class _AnyNumbers(dict):
    """Every label has a number and a title."""

    def get(self, key, default=None):
        return ("Figure", "1.1", "", "A title")

    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return self.get(key)


class _AnyTitles(dict):
    def get(self, key, default=None):
        return "A title"


class _Cite:
    def __call__(self, keys, textual):
        return ", ".join(keys)

    def entry(self, key):
        return f"- {key}"


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_student_reader_notebooks(path):
    """The student reader notebook, as ``write_reader_notebooks`` makes it: ``to_reader(student_source(nb))``."""
    source = nbformat.read(path, as_version=4)
    doc = f"chapters/{path.stem}"
    ctx = rn.Context(doc, _AnyNumbers(), _AnyTitles(), _AnyGlue(), _Cite(), "SRC")
    try:
        reader = rn.to_reader(rn.student_source(source, doc), ctx, "intro")
    except (KeyError, ValueError) as err:  # a cross-reference the empty numbers cannot resolve
        pytest.fail(f"{doc}: the conversion needs the build's numbers here ({err}); extend the stub context")
    _check_student(reader, source, f"student reader notebook {path.name}")
