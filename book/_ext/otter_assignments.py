"""Otter-Grader assignments from the chapters' fill-in exercises (``make otter``).

Each chapter's fill-in exercises (code cells tagged ``fill-in``, the solution
between ``# BEGIN SOLUTION`` and ``# END SOLUTION``, see
:mod:`reader_notebooks`) become the questions of one Otter assignment:

* the question's prompt is the exercise's text;
* its solution is the instructor's code; what a student receives is the same
  stub as in the book's student edition (:func:`reader_notebooks.stub_fill_in`:
  ``raise NotImplementedError(...)``), written as an Otter prompt block;
* its test calls the book's own checker, ``helpers.exercises.check``, the cell
  after the fill-in names (so the checkers stay the one source of truth): full
  marks when every case passes, and on a wrong answer the checker's message,
  which names the failed case.

Only what the questions need goes into an assignment (the imports and the
fill-in cells), so ``otter assign`` and grading run in seconds, not the
chapter's minutes. Each assignment lands in ``OUT/<chapter>/``: ``source/`` (the
master notebook), and what ``otter assign`` writes, ``autograder/`` (the
solutions notebook and the autograder zip) and ``student/``.

Usage::

    python book/_ext/otter_assignments.py [--no-assign] [--no-run-tests] SRC_DIR OUT_DIR [CHAPTER ...]

``--no-assign`` writes the master notebooks only; ``--no-run-tests`` passes
``no_run_tests`` to ``otter assign`` (it then does not run the solutions against
their tests, which it otherwise does, failing on one that does not pass). The exit status is 2 with one line on bad arguments.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reader_notebooks as rn  # noqa: E402

#: The names a fill-in cell may use from the assignment's first cell.
IMPORTS = "import math\n\nimport numpy as np\nimport torch\n\nfrom helpers import exercises"
CHECK_RE = re.compile(r"""exercises\.check\(\s*["'](\w+)["']\s*,\s*(\w+)\s*\)""")
DEF_RE = re.compile(r"^def (\w+)\(", re.M)
ROLE_RE = re.compile(r"\{([\w:-]+)\}`([^`]+)`")
TITLED_RE = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)

CONFIG = """\
# ASSIGNMENT CONFIG
name: {name}
init_cell: true
check_all_cell: false
export_cell: false
generate: true
requirements: requirements.txt
tests:
  files: false
  ok_format: false
"""

TEST = '''\
def test_{check}({fn}):
    """The book's checker helpers.exercises.check("{check}", ...): it names the case a wrong answer fails."""
    from helpers import exercises

    assert exercises.check("{check}", {fn}), "not done yet: {fn} still raises NotImplementedError"

test_{check}({fn})'''

REQUIREMENTS = """\
# What grading needs (otter grade builds its Docker image from this; otter run uses the current
# environment): the book's pins for reading and running the notebooks, then the book's helpers.
{pins}
# The helpers: the wheel `make book` writes to _build/dist/ (copy it next to this file), or
# a pip requirement that installs the helpers from the repository _config.yml names
"""


class Question:
    """One fill-in exercise of a chapter, as an Otter question.

    Args:
        check (str): the checker's name in ``helpers.exercises`` (also the question's name).
        fn (str): the function the student completes.
        title (str): the exercise's title.
        prompt (str): the exercise's text, as plain Markdown.
        solution (str): the fill-in cell with Otter's markers: the book's stub as the prompt,
            the instructor's code as the solution.
    """

    def __init__(self, check: str, fn: str, title: str, prompt: str, solution: str):
        self.check, self.fn, self.title, self.prompt, self.solution = check, fn, title, prompt, solution


def plain_roles(text: str, cite=None) -> str:
    """MyST roles as plain Markdown for a question's prompt, without the build's numbers.

    Equation, section and exercise references become their labels (the chapter holds the
    numbered versions); glued numbers become "(computed in the chapter)"; citations become
    author-year text when ``cite`` (a :class:`reader_notebooks.Citations`) is given.
    """
    def role(m):
        name, content = m.group(1), m.group(2)
        if name.startswith("glue"):
            return "(computed in the chapter)"
        if name == "math":
            return f"${content}$"
        if name.startswith("cite"):
            keys = [k.strip() for k in content.split(",")]
            if cite is None:
                return "(" + "; ".join(keys) + ")"
            return re.sub(r"\[([^\]]+)\]\(#ref-[^)]*\)", r"\1", cite(keys, textual=name.startswith("cite:t")))
        titled = TITLED_RE.match(content)
        if titled:
            return titled.group(1)
        what = "equation" if name == "eq" else "exercise" if "-ex-" in content else "section"
        return f"the chapter's {what} `{content}`"

    return ROLE_RE.sub(role, text)


def otter_solution(code: str, stub: str) -> str:
    """A fill-in cell in Otter's syntax: the student edition's stub line as a prompt block,
    then the instructor's code as a solution block that leaves no prompt.

    Args:
        code (str): the instructor's fill-in cell, with ``# BEGIN SOLUTION`` ... ``# END SOLUTION``.
        stub (str): the same cell as the student edition has it (:func:`reader_notebooks.stub_fill_in`).
    """
    raises = [l for l in stub.split("\n") if "raise NotImplementedError" in l and l not in code.split("\n")]
    if len(raises) != 1:
        raise ValueError(f"expected one stub line in the student edition's cell, found {len(raises)}")
    out = []
    for line in code.split("\n"):
        if line.strip() == rn.BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            out += [f'{indent}""" # BEGIN PROMPT', raises[0], f'{indent}""" # END PROMPT',
                    f"{indent}# BEGIN SOLUTION NO PROMPT"]
        else:
            out.append(line)
    return "\n".join(out)


def _exercise_before(nb, k: int):
    """(title, body) of the last ``{exercise}`` fence in the markdown cells before cell ``k``."""
    for j in range(k - 1, -1, -1):
        cell = nb.cells[j]
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.split("\n")
        found = [f for f in rn._fences(lines) if f[3] == "exercise"]
        if found:
            start, end, _, _, arg = found[-1]
            _, body = rn._options(lines[start + 1 : end])
            return arg, "\n".join(body).strip("\n")
    raise ValueError(f"no {{exercise}} fence before the fill-in cell {k}")


def questions(nb, name: str, cite=None) -> list[Question]:
    """The fill-in exercises of a chapter notebook ``nb`` (MyST sources), as Otter questions.

    Each fill-in cell must be followed by a code cell calling ``exercises.check(NAME, FN)``
    with ``FN`` the function the fill-in cell defines, and preceded by its ``{exercise}``.

    Raises:
        ValueError: for a fill-in cell without a check after it, or whose check tests
            another function than the one it defines.
    """
    student = rn.student_source(nb, name)
    stubs = [c.source for c in student.cells if rn.FILL_IN_TAG in c.metadata.get("tags", [])]
    fills = [k for k, c in enumerate(nb.cells) if rn.FILL_IN_TAG in c.metadata.get("tags", [])]
    if len(stubs) != len(fills):
        raise ValueError(f"{name}: {len(fills)} fill-in cells but {len(stubs)} in the student edition")
    out = []
    for k, stub in zip(fills, stubs):
        code = nb.cells[k].source
        after = next((c.source for c in nb.cells[k + 1 :] if c.cell_type == "code"), "")
        m = CHECK_RE.search(after)
        if not m:
            raise ValueError(f"{name}, cell {k}: no exercises.check(...) in the code cell after the fill-in")
        check, fn = m.groups()
        if fn not in DEF_RE.findall(code):
            raise ValueError(f"{name}, cell {k}: the check tests {fn!r}, which the fill-in cell does not define")
        title, body = _exercise_before(nb, k)
        number = re.search(r'NotImplementedError\("(Exercise [\d.]+):', stub)  # as the site numbers it
        head = f"{number.group(1)}: {plain_roles(title, cite)}" if number else plain_roles(title, cite)
        prompt = f"**{head}**\n\n{plain_roles(body, cite)}"
        out.append(Question(check, fn, title, prompt, otter_solution(code, stub)))
    return out


def master_notebook(nb, name: str, cite=None):
    """The Otter master notebook of chapter ``nb`` (None when it has no fill-in exercise)."""
    qs = questions(nb, name, cite)
    if not qs:
        return None
    title = next((re.sub(r"^#\s*", "", l) for c in nb.cells if c.cell_type == "markdown"
                  for l in c.source.split("\n") if l.startswith("# ")), name)
    cells = [
        nbformat.v4.new_raw_cell(CONFIG.format(name=name)),
        nbformat.v4.new_markdown_cell(
            f"# {title}: graded exercises\n\nThe fill-in exercises of this chapter of *Layer Normalization, "
            "an interactive book*. Complete each function where it raises `NotImplementedError`, then run "
            "the check after it: it runs the book's checker (`helpers.exercises`) on small cases and names "
            "the first case your function gets wrong."),
        nbformat.v4.new_code_cell(IMPORTS),
    ]
    for q in qs:
        cells += [
            nbformat.v4.new_raw_cell(f"# BEGIN QUESTION\nname: {q.check}\npoints: 1"),
            nbformat.v4.new_markdown_cell(q.prompt),
            nbformat.v4.new_raw_cell("# BEGIN SOLUTION"),
            nbformat.v4.new_code_cell(q.solution),
            nbformat.v4.new_raw_cell("# END SOLUTION"),
            nbformat.v4.new_raw_cell("# BEGIN TESTS"),
            nbformat.v4.new_code_cell(TEST.format(check=q.check, fn=q.fn)),
            nbformat.v4.new_raw_cell("# END TESTS"),
            nbformat.v4.new_raw_cell("# END QUESTION"),
        ]
    master = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}})
    for k, cell in enumerate(master.cells):
        cell.id = f"cell-{k}"
    return master


def _citations(root: Path):
    """The book's citations (author-year), or None where pybtex is not installed."""
    try:
        return rn.Citations([root / "book" / "references.bib"])
    except ImportError:
        return None


def write(src: Path, out: Path, chapters=(), assign: bool = True, run_tests: bool = True) -> list[Path]:
    """Write one Otter assignment per chapter of ``src`` with fill-in exercises, under ``out``.

    Args:
        src (Path): the folder of chapter notebooks (MyST sources).
        out (Path): where the assignments go, one folder per chapter.
        chapters (sequence of str): chapter file stems to take (all when empty).
        assign (bool): run ``otter assign`` on each master notebook.
        run_tests (bool): let ``otter assign`` run the solutions against the tests.

    Returns:
        list of Path: the assignments' folders.

    Raises:
        ValueError: if ``src`` holds no notebook or a named chapter is not among them.
        RuntimeError: if ``otter assign`` finds a solution that fails its test.
    """
    paths = sorted(Path(src).glob("*.ipynb"))
    if not paths:
        raise ValueError(f"no notebooks in {src}")
    stems = [p.stem for p in paths]
    unknown = [c for c in chapters if c not in stems]
    if unknown:
        raise ValueError(f"no chapter {unknown[0]!r} in {src}; the chapters are: {', '.join(stems)}")
    root = Path(__file__).resolve().parents[2]
    cite = _citations(root)
    pins = (root / "binder" / "requirements.txt").read_text() if (root / "binder" / "requirements.txt").exists() else ""
    written = []
    for path in paths:
        if chapters and path.stem not in chapters:
            continue
        master = master_notebook(nbformat.read(path, as_version=4), path.stem, cite)
        if master is None:
            continue
        folder = Path(out) / path.stem
        (folder / "source").mkdir(parents=True, exist_ok=True)
        nbformat.write(master, folder / "source" / f"{path.stem}.ipynb")
        (folder / "source" / "requirements.txt").write_text(REQUIREMENTS.format(pins=pins.strip()))
        if assign:
            from otter.assign import main as otter_assign

            otter_assign(str(folder / "source" / f"{path.stem}.ipynb"), str(folder), no_run_tests=not run_tests)
        written.append(folder)
    return written


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="otter_assignments.py", description=__doc__.split("\n")[0])
    parser.add_argument("src", type=Path, help="the chapters' folder")
    parser.add_argument("out", type=Path, help="where the assignments go")
    parser.add_argument("chapters", nargs="*", help="chapter file stems (default: all)")
    parser.add_argument("--no-assign", action="store_true", help="write the master notebooks only")
    parser.add_argument("--no-run-tests", action="store_true", help="otter assign without running the tests")
    args = parser.parse_args(argv)
    try:
        folders = write(args.src, args.out, args.chapters, assign=not args.no_assign,
                        run_tests=not args.no_run_tests)
    except ValueError as err:
        print(f"otter_assignments.py: {err}", file=sys.stderr)
        return 2
    for folder in folders:
        print(f"{folder}: " + ("source/ (the master notebook)" if args.no_assign
                               else "autograder/ (solutions, autograder zip), student/"))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
