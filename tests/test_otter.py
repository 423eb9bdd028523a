"""Otter-Grader assignments (``make otter``, book/_ext/otter_assignments.py): every fill-in exercise is a
question whose solution is the instructor's code, whose stub is the student edition's and whose test is the
book's checker; and ``otter assign`` plus local grading (no Docker) of two chapters gives full marks to a
correct submission and names the failed case of a wrong one."""

from __future__ import annotations

import io
import re
import sys
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, chapter_notebooks, import_or_missing

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import otter_assignments as oa  # noqa: E402
import reader_notebooks as rn  # noqa: E402

from helpers import exercises  # noqa: E402


def _chapters():
    return {p.stem: nbformat.read(p, as_version=4) for p in chapter_notebooks()}


def _cells(nb, tag):
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def test_every_fill_in_is_a_question_with_the_student_editions_stub_and_the_books_checker():
    from otter.assign.solutions import replace_solutions

    total = 0
    for name, nb in _chapters().items():
        fills = _cells(nb, rn.FILL_IN_TAG)
        qs = oa.questions(nb, name)
        assert len(qs) == len(fills), name
        stubs = [c.source for c in _cells(rn.student_source(nb, name), rn.FILL_IN_TAG)]
        for q, fill, stub in zip(qs, fills, stubs):
            assert q.check in exercises.names(), (name, q.check)
            # What Otter hands a student is the student edition's cell, line for line.
            assert "\n".join(replace_solutions(q.solution.split("\n"), "python")) == stub, (name, q.check)
            # The solution is the instructor's code: Otter's solution notebook runs it as the chapter does.
            body = fill.source.split(rn.BEGIN, 1)[1].split(rn.END, 1)[0]
            assert body in q.solution, (name, q.check)
            # The prompt is the exercise, numbered as the site numbers it, with no MyST role left.
            assert re.match(r"\*\*Exercise \d+\.\d+: ", q.prompt), (name, q.prompt[:80])
            assert "{" not in re.sub(r"\$\$.*?\$\$|\$[^$]*\$", "", q.prompt, flags=re.S), (name, q.prompt)
            total += 1
    assert total >= 9


def test_the_solutions_pass_their_checker_with_only_the_assignments_imports():
    """What ``otter assign`` checks in a kernel, here in-process for every chapter (a second each)."""
    for name, nb in _chapters().items():
        for q in oa.questions(nb, name):
            env: dict = {}
            exec(oa.IMPORTS, env)
            exec(q.solution, env)
            with redirect_stdout(io.StringIO()):
                assert exercises.check(q.check, env[q.fn]) is True, (name, q.check)


def test_a_fill_in_whose_check_tests_another_function_is_refused():
    nb = nbformat.read(ROOT / "chapters" / "02_invariance.ipynb", as_version=4)
    k = next(i for i, c in enumerate(nb.cells) if rn.FILL_IN_TAG in c.metadata.get("tags", []))
    nb.cells[k + 1].source = nb.cells[k + 1].source.replace("rms_norm_scratch)", "other_function)")
    with pytest.raises(ValueError, match="does not define"):
        oa.questions(nb, "02_invariance")


def test_roles_become_plain_text():
    text = "see {eq}`ch1-bn-batch`, {ref}`the table <ch2-tab>`, {glue:text}`x:.2f` and {math}`a^2`"
    assert oa.plain_roles(text) == ("see the chapter's equation `ch1-bn-batch`, the table, "
                                    "(computed in the chapter) and $a^2$")


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert oa._main([str(tmp_path), str(tmp_path / "out")]) == 2
    assert "no notebooks" in capsys.readouterr().err
    assert oa._main([str(ROOT / "chapters"), str(tmp_path / "out"), "99_nope", "--no-assign"]) == 2
    assert "no chapter '99_nope'" in capsys.readouterr().err


# Two chapters, a NumPy and a torch exercise; each wrong answer and the case the checker names for it.
WRONG = {
    "02_invariance": ("rms_norm", "def rms_norm_scratch(a, gain, eps=1e-5):\n"
                      "    return gain * a / np.sqrt((a ** 2).mean() + eps)\n",  # the mean of the whole array
                      "case 'B=4, H=8'"),
    "08_transformers": ("causal_attention", "def causal_attention(q, k, v):\n"
                        "    s = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5\n"
                        "    return s.softmax(dim=-1) @ v\n",  # no mask: the future leaks in
                        "case 'B=2, heads=2, T=5, hs=4'"),
}


@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.drop")  # otter 7.0.0 under pandas 3.1
def test_otter_assign_and_local_grading_full_marks_and_a_named_failing_case(tmp_path):
    otter_api = import_or_missing("otter.api", "pip install -r requirements.txt (otter-grader)")
    folders = oa.write(ROOT / "chapters", tmp_path, list(WRONG), run_tests=False)
    assert [f.name for f in folders] == sorted(WRONG)
    sources = _chapters()
    for folder in folders:
        check, wrong, case = WRONG[folder.name]
        # The checker itself names this case for this answer: Otter must report the same.
        env: dict = {}
        exec(oa.IMPORTS + "\n" + wrong, env)
        with pytest.raises(AssertionError, match=re.escape(case)), redirect_stdout(io.StringIO()):
            exercises.check(check, env[re.match(r"def (\w+)", wrong).group(1)])
        (zip_path,) = (folder / "autograder").glob("*-autograder_*.zip")
        student = nbformat.read(folder / "student" / f"{folder.name}.ipynb", as_version=4)
        (answer,) = _cells(student, "otter_answer_cell")
        assert "raise NotImplementedError" in answer.source
        instructor = _cells(sources[folder.name], rn.FILL_IN_TAG)[0].source
        for label, code in (("correct", instructor), ("wrong", wrong)):
            answer.source = code
            path = tmp_path / f"{folder.name}-{label}.ipynb"
            nbformat.write(student, path)
            with redirect_stdout(io.StringIO()):
                results = otter_api.grade_submission(str(path), str(zip_path), quiet=True)
            result = results.results[check]
            if label == "correct":
                assert (results.total, results.possible) == (1, 1), (folder.name, result)
            else:
                assert results.total == 0 and results.possible == 1, folder.name
                assert case in result.summary(), (folder.name, result.summary())


def test_the_instructor_guide_shows_the_workflow_in_five_lines_and_why_otter():
    guide = (ROOT / "book" / "instructor-guide.md").read_text()
    section = guide.split("### With Otter-Grader", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1).strip().splitlines()
    assert len(block) == 5 and block[0].startswith("make otter"), block
    assert any(l.startswith("otter grade ") for l in block) and any(l.startswith("otter run ") for l in block)
    assert "nbgrader" in section and "Why Otter" in section
    assert re.search(r"^otter: .*\n(?:\t.*\n)*\t.*otter_assignments\.py chapters \$\(BUILD\)/otter",
                     (ROOT / "Makefile").read_text(), re.M)
