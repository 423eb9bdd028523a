"""Reader notebooks: every chapter as a notebook that reads well in Jupyter and Colab.

The chapters are written in MyST: ``{glue:text}`` roles where numbers go,
``{cite}``, ``{numref}``, ``{eq}``, ``:::{admonition}`` fences and exercise
solutions. Opened outside the website that is raw markup. At the end of an
HTML build this extension writes, for each chapter, a *reader notebook*:

* glued numbers written in as the values the build computed;
* citations as author-year text, linked to a reference list at the end of the
  notebook; cross-references as "Figure 4.2" and "(3.1)"; equations tagged with
  their numbers; admonitions as block quotes; exercises numbered as on the site;
  solutions folded in ``<details>``; figure captions under their code cells;
* the setup cell's install source filled in from ``_config.yml`` (see
  :func:`helpers_source`); code cells without outputs; ``glue(...)`` calls left out (their
  values are in the text), and with them the hidden cells that only fed the text and the
  build's own checks (cells tagged ``build-check``: timings and seed-dependent claims the text
  relies on); see :func:`reader_code`.

It writes two editions of each: the instructor edition (solutions folded) and the
student edition (solutions removed, fill-in exercises replaced by a
``raise NotImplementedError``; see :func:`student_source`). The edition of the
site being built is what the page's download button serves (``_sources/``); both
go to ``_build/notebooks/<edition>/``, and the site's edition, with the helpers
wheel, is zipped into a classroom bundle per edition (:data:`BUNDLES`: the instructor site carries
both, ``lnbook-instructor.zip`` with the solutions and ``lnbook-student.zip`` without; the student
site only the student one).

It also derives everything that names the repository from the one URL in
``_config.yml`` (``repository.url``): with no URL configured the repository and
launch buttons are hidden and the install line points at the helpers wheel; a
publication build (``LNBOOK_PUBLISH=1``, ``make publish``) refuses to run
without a real URL. Launch buttons open the reader notebooks of the site's edition, published by
``make publish`` on the branch ``lnbook_notebooks_branch`` (instructor edition) or
``lnbook_student_branch`` (student edition; :func:`edition_branch`).

Run as a script, it writes the student edition of the sources, or of the executed
chapters (for ``make student``, which builds the student site without executing
the chapters again)::

    python book/_ext/reader_notebooks.py student-sources SRC_DIR OUT_DIR [--cache CACHE_DIR]
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlencode, urlparse

import nbformat

#: Repository URLs that must never be published: an unset one, and the old
#: placeholder (its organisation belongs to an unrelated project).
PLACEHOLDER_URLS = ("", "https://github.com/lnbook/layer-norm-book")
#: The variable the setup cell installs the helpers from.
SETUP_SOURCE_RE = re.compile(r'^(\s*HELPERS = )"[^"\n]*"', re.M)
#: Where the classroom bundle lands inside the built site.
#: Where each edition's classroom bundle lands inside the built site: the instructor site carries both
#: (the instructor hands out the student one), the student site only its own.
BUNDLES = {"instructor": "downloads/lnbook-instructor.zip", "student": "downloads/lnbook-student.zip"}
#: Environment variable that makes a build a publication build.
PUBLISH_ENV_VAR = "LNBOOK_PUBLISH"

FILL_IN_TAG = "fill-in"
#: Cells that check the text's claims for the website's build (timings, seed-dependent results); a reader's
#: machine has no use for them and a slow or different one could fail them, so reader notebooks leave them out.
BUILD_CHECK_TAG = "build-check"
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"


# --- the repository URL, in one place ------------------------------------------

def repository_url(theme_options: dict) -> str:
    """The configured repository URL, without a trailing slash ('' when unset or a placeholder)."""
    url = (theme_options.get("repository_url") or "").strip().rstrip("/")
    return "" if url in PLACEHOLDER_URLS else url


def helpers_source(url: str, version: str) -> str:
    """What the setup cell installs in Colab: the helpers from the repository, else the bundled wheel."""
    if url:
        return f"lnbook-helpers @ git+{url}"
    return f"lnbook_helpers-{version}-py3-none-any.whl"


def launch_urls(url: str, branch: str, path: str, launch: dict) -> dict[str, str]:
    """Launch links for one notebook ``path`` (relative to the repository root) on ``branch``.

    Only GitHub repositories are supported by Colab; Binder and JupyterHub take any git URL.
    """
    parts = urlparse(url)
    org_repo = parts.path.strip("/")
    ui = {"classic": "tree", "jupyterlab": "lab/tree"}[launch.get("notebook_interface", "jupyterlab")]
    out = {}
    if launch.get("binderhub_url"):
        base = launch["binderhub_url"].rstrip("/")
        if parts.netloc == "github.com":
            out["Binder"] = f"{base}/v2/gh/{org_repo}/{branch}?urlpath={ui}/{path}"
        else:
            out["Binder"] = f"{base}/v2/git/{url.replace(':', '%3A').replace('/', '%2F')}/{branch}?urlpath={ui}/{path}"
    if launch.get("jupyterhub_url"):
        query = urlencode({"repo": url, "urlpath": f"{ui}/{org_repo.split('/')[-1]}/{path}", "branch": branch}, safe="/")
        out["JupyterHub"] = f"{launch['jupyterhub_url'].rstrip('/')}/hub/user-redirect/git-pull?{query}"
    if launch.get("colab_url") and parts.netloc == "github.com":
        out["Colab"] = f"{launch['colab_url'].rstrip('/')}/github/{org_repo}/blob/{branch}/{path}"
    return out


# --- student edition of the sources ---------------------------------------------

def _fences(lines: list[str]):
    """Yield (start, end, colons, name, arg) for each top-level colon fence ``:::{name} arg`` ... ``:::``."""
    i = 0
    while i < len(lines):
        m = re.match(r"^(:{3,})\{([\w:-]+)\}\s*(.*)$", lines[i])
        if not m:
            i += 1
            continue
        colons = len(m.group(1))
        j = i + 1
        while j < len(lines) and not re.match(rf"^:{{{colons}}}\s*$", lines[j]):
            j += 1
        if j == len(lines):
            raise ValueError(f"unclosed :::{{{m.group(2)}}} fence: {lines[i]!r}")
        yield i, j, colons, m.group(2), m.group(3).strip()
        i = j + 1


def remove_solutions(markdown: str) -> str:
    """Drop every ``{solution}`` fence (and the blank line after it) from MyST markdown."""
    lines = markdown.split("\n")
    drop = set()
    for start, end, _, name, _ in _fences(lines):
        if name == "solution":
            drop.update(range(start, end + 1))
            if end + 1 < len(lines) and not lines[end + 1].strip():
                drop.add(end + 1)
    return "\n".join(l for k, l in enumerate(lines) if k not in drop).rstrip("\n")


def stub_fill_in(code: str, label: str) -> str:
    """Replace the instructor's solution between the markers with ``raise NotImplementedError``."""
    out, inside = [], False
    for line in code.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{label}: nested {BEGIN!r}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f'{indent}raise NotImplementedError("{label}: this is yours to write")')
        elif stripped == END:
            if not inside:
                raise ValueError(f"{label}: {END!r} without {BEGIN!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{label}: {BEGIN!r} without {END!r}")
    if all(l.strip() not in (BEGIN, END) for l in code.split("\n")):
        if "raise NotImplementedError" in code:  # already the student's version
            return code
        raise ValueError(f"{label}: a {FILL_IN_TAG!r} cell without {BEGIN!r} ... {END!r} markers")
    return "\n".join(out)


GLUE_ROLE_RE = re.compile(r"\{glue(?::\w+)?\}(?:`([^`:]+)|[ \t]+(\w+))")  # a role, or a directive's argument
GLUE_CALL_RE = re.compile(r"""\bglue\(\s*f?(["'])(.+?)\1""")


def answer_cells(nb) -> list[int]:
    """Indices of the code cells that compute exercise answers: ``remove-cell`` cells whose glued values
    appear only inside ``{solution}`` fences (e.g. the answers to exercises 6.1 and 6.2).

    A cell counts when it glues at least one value and the text outside the solutions refers to none
    of them (an f-string key such as ``f"ch6x_ex_pp_err_{n}"`` stands for any key it can make).
    """
    shown = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            shown.update(role or arg for role, arg in GLUE_ROLE_RE.findall(remove_solutions(cell.source)))
    found = []
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "remove-cell" not in cell.metadata.get("tags", []):
            continue
        keys = [re.compile(re.sub(r"\\\{.*?\\\}", r"\\w+", re.escape(key)) + "$")
                for _, key in GLUE_CALL_RE.findall(cell.source)]
        if keys and not any(key.match(name) for key in keys for name in shown):
            found.append(k)
    return found


EXERCISE_RE = re.compile(r"^\s*(?::::+|```+)\{exercise\}", re.M)


def exercise_names(nb, name: str = "notebook") -> dict[int, str]:
    """``{id(cell): "Exercise 5.2"}`` for each code cell: the exercise above it, numbered as the site numbers
    it (the chapter's number from its file name, then the exercise's place in the chapter).

    A cell above the first exercise, or in a notebook whose name has no chapter number, is named by
    ``name`` and its cell index instead.
    """
    chapter = re.match(r"(?:.*/)?0*(\d+)_", name)
    count, out = 0, {}
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            count += len(EXERCISE_RE.findall(cell.source))
        elif chapter and count:
            out[id(cell)] = f"Exercise {chapter.group(1)}.{count}"
        else:
            out[id(cell)] = f"{name}, cell {k}"
    return out


def student_source(nb, name: str = "notebook", executed: bool = False):
    """The student edition of a MyST notebook: no solutions, fill-in exercises stubbed.

    The cells that compute the exercises' answers (:func:`answer_cells`) and the build's checks
    (cells tagged ``build-check``) are dropped.
    With ``executed=True`` (an executed notebook, for a student site built without
    executing again) the outputs are kept, except those of the fill-in cells and of
    the cells that call their checker, which belonged to the instructor's solution.
    """
    nb = copy.deepcopy(nb)
    exercise = exercise_names(nb, name)
    answers = set(answer_cells(nb))
    nb.cells = [cell for k, cell in enumerate(nb.cells)
                if k not in answers and BUILD_CHECK_TAG not in cell.metadata.get("tags", [])]
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = remove_solutions(cell.source)
        elif FILL_IN_TAG in cell.metadata.get("tags", []):
            cell.source = stub_fill_in(cell.source, exercise[id(cell)])
            cell.outputs, cell.execution_count = [], None
            # the instructor's site folds the solution away; the student's stub is where they work: shown
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "hide-input"]
        elif cell.cell_type == "code" and "exercises.check(" in cell.source:
            cell.outputs, cell.execution_count = [], None
        if cell.cell_type == "code" and not executed:
            cell.outputs, cell.execution_count = [], None
    return nb


# --- code a reader does not need ----------------------------------------------------

def parse_code(source: str) -> ast.Module:
    """A code cell as Python: IPython's ``%magic`` and ``!shell`` lines read as ``pass``."""
    return ast.parse("\n".join(re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in source.split("\n")))


def defined_names(tree: ast.Module) -> set[str]:
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


def _is_glue(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "glue")


#: Blocks that exist only to glue (every statement in them glues) go with their glue calls. A ``with``
#: or ``try`` block is never dropped: entering it can do something.
_DROPPABLE_BLOCKS = (ast.If, ast.For, ast.While)


def _glue_only(stmt: ast.stmt) -> bool:
    """Whether ``stmt`` does nothing but glue: a glue call, or an ``if``/``for``/``while`` whose every branch
    holds only such statements (a loop over values to glue, an ``if`` choosing which text to glue)."""
    if _is_glue(stmt):
        return True
    if isinstance(stmt, _DROPPABLE_BLOCKS):
        return all(_glue_only(s) for s in stmt.body + stmt.orelse)
    return False


def _glue_lines(body: list[ast.stmt], drop: set[int], fill: list[tuple[int, int, str]], lines: list[str]) -> None:
    """Add to ``drop`` the line numbers (0-based) of the glue-only statements of ``body``, at any depth.

    A block whose body is all glue but which must stay (an ``if`` with real code in its ``else``) gets a
    ``pass`` in its place: ``fill`` records (first line, last line, indentation) of such a body.
    """
    for stmt in body:
        if _glue_only(stmt):
            drop.update(range(stmt.lineno - 1, stmt.end_lineno))
            continue
        for field in ("body", "orelse", "finalbody"):
            block = getattr(stmt, field, None)
            if not block or not isinstance(block[0], ast.stmt):
                continue
            if all(_glue_only(s) for s in block):
                first, last = block[0].lineno - 1, block[-1].end_lineno - 1
                if first == stmt.lineno - 1:  # on the header's line (``if x: glue(...)``): leave it as it is
                    continue
                indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
                fill.append((first, last, indent))
                drop.update(range(first, last + 1))
            else:
                _glue_lines(block, drop, fill, lines)
        for handler in getattr(stmt, "handlers", []) or []:
            _glue_lines(handler.body, drop, fill, lines)


#: Calls an assignment feeding only glue may make and still go with its glue: they compute a value and
#: change nothing (formatting, rounding, a tensor's ``.item()``, a reduction). Anything else (training a
#: model, drawing from a random generator) may matter to what follows, so its assignment stays.
_PURE_CALLS = frozenset({
    "abs", "all", "any", "bool", "dict", "enumerate", "float", "format", "int", "len", "list", "max", "min",
    "range", "repr", "round", "set", "sorted", "str", "sum", "tuple", "zip",  # builtins
    "count", "get", "index", "item", "items", "join", "keys", "lower", "mean", "replace", "std", "strip",
    "tolist", "upper", "values",  # methods
    "sci",  # helpers.glue.sci: a number as text
})


def _pure(expr: ast.expr) -> bool:
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name not in _PURE_CALLS:
                return False
        elif isinstance(node, (ast.Lambda, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
            return False
    return True


def glue_only_names(sources: list[str]) -> frozenset[str]:
    """The names of a notebook (its code cells' ``sources``) that exist only to be glued: each is bound by
    top-level ``name = <pure expression>`` statements (:data:`_PURE_CALLS`) and read only inside
    ``glue(...)`` calls or by the assignments of other such names. Without their glue
    calls these assignments compute what no one reads, so :func:`strip_glue` drops them too."""
    trees = []
    for source in sources:
        try:
            trees.append(parse_code(source))
        except SyntaxError:  # not Python: it reads nothing we can see, and binds nothing
            continue
    in_glue: set[int] = set()  # ids of the nodes inside glue(...) calls
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.stmt) and _is_glue(node):
                in_glue.update(id(n) for n in ast.walk(node))
    assigns: dict[str, list[ast.Assign]] = {}  # top-level ``name = value``
    for tree in trees:
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                assigns.setdefault(stmt.targets[0].id, []).append(stmt)
    simple_targets = {id(st.targets[0]) for stmts in assigns.values() for st in stmts}
    bound_otherwise = {n.id for tree in trees for n in ast.walk(tree)  # a loop variable, a tuple, a +=, ...
                       if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and id(n) not in simple_targets}
    impure = {name for name, stmts in assigns.items() if not all(_pure(st.value) for st in stmts)}
    reads: dict[str, list[int]] = {}  # name -> ids of its Load nodes
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                reads.setdefault(node.id, []).append(id(node))
    inside = {name: {id(n) for st in stmts for n in ast.walk(st.value)} for name, stmts in assigns.items()}
    candidates = {n for n in assigns if n not in impure | bound_otherwise and reads.get(n)}
    dropped: set[str] = set()
    changed = True
    while changed:  # a name read only by glue, or by the assignments of names already dropped
        changed = False
        for name in sorted(candidates - dropped):
            allowed = set(in_glue).union(*(inside[d] for d in dropped | {name}))
            if all(i in allowed for i in reads[name]):
                dropped.add(name)
                changed = True
    return frozenset(dropped)


def glue_plan(source: str, glue_only: frozenset[str] = frozenset()) -> list[int | str] | None:
    """How :func:`strip_glue` changes ``source``, line by line: ``None`` if it does not; else the new
    cell's lines, each the index (0-based) of a line of ``source`` kept as it is, or a new line's text (a
    ``pass``, a last line given its ``;``). The PDF printer applies it to the highlighted code.
    ``glue_only``: names whose top-level assignments go too (:func:`glue_only_names`)."""
    tree = parse_code(source)
    lines = source.split("\n")
    drop: set[int] = set()
    fill: list[tuple[int, int, str]] = []
    _glue_lines(tree.body, drop, fill, lines)
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and getattr(stmt.targets[0], "id", None) in glue_only:
            drop.update(range(stmt.lineno - 1, stmt.end_lineno))
    if not drop:
        return None
    for first in sorted({s.lineno - 1 for s in ast.walk(tree) if isinstance(s, ast.stmt) and s.lineno - 1 in drop}):
        k = first - 1
        while k >= 0 and lines[k].strip().startswith("#") and k not in drop:
            drop.add(k)
            k -= 1
    passes = {first: f"{indent}pass" for first, _, indent in fill}
    plan: list[int | str] = [passes.get(k, k) for k in range(len(lines)) if k not in drop or k in passes]
    text = [lines[p] if isinstance(p, int) else p for p in plan]
    while plan and not text[-1].strip():
        plan.pop()
        text.pop()
    if not [line for line in text if line.strip() and not line.strip().startswith("#")]:
        return []
    last = parse_code("\n".join(text)).body[-1]
    echoes = isinstance(last, ast.Expr) and not (isinstance(last.value, ast.Call)
                                                 and getattr(last.value.func, "id", None) == "print")
    if tree.body[-1].lineno - 1 in drop and echoes and not text[-1].rstrip().endswith(";"):
        plan[-1] = text[-1].rstrip() + ";"
    return plan


def strip_glue(source: str, glue_only: frozenset[str] = frozenset()) -> str:
    """``source`` without its ``glue(...)`` statements (their values are written into the text), nor the
    top-level assignments of ``glue_only`` names (:func:`glue_only_names`: computed only to be glued).

    Glue calls go at any depth, and so does a block that only glues (a ``for`` loop over the values to
    glue, an ``if`` choosing which text to glue); a block that must stay but is left empty gets ``pass``.
    If the cell ended on a glue call, the new last expression gets a ``;`` so that it does not echo its
    value. Comment lines directly above a removed statement go with it; a cell left with nothing to run
    becomes "".
    """
    plan = glue_plan(source, glue_only)
    if plan is None:
        return source
    lines = source.split("\n")
    return "\n".join(lines[p] if isinstance(p, int) else p for p in plan)


def reader_code(cells) -> list[str | None]:
    """The code a reader notebook shows for each code cell of ``cells`` (``None``: leave the cell out).

    Glue calls go, with the assignments that fed only them (:func:`strip_glue`, :func:`glue_only_names`).
    A cell the website hides (``remove-cell``) stays only if a
    later cell uses a name it defines; the build's checks (``build-check``) never stay.
    """
    out: list[str | None] = []
    used_later: set[str] = set()
    glue_only = glue_only_names([cell.source for cell in cells])
    for cell in reversed(cells):
        tags = cell.metadata.get("tags", [])
        if BUILD_CHECK_TAG in tags:
            out.append(None)
            continue
        code = strip_glue(cell.source, glue_only)
        tree = parse_code(code)
        if "remove-cell" in tags and not defined_names(tree) & used_later:
            code = ""
        out.append(code if code.strip() else None)
        if code.strip():
            used_later |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return out[::-1]


# --- MyST to Jupyter markdown ------------------------------------------------

class Context:
    """What the conversion needs to know about the whole book (numbers, titles, glue, citations)."""

    def __init__(self, docname, numbers, titles, glue, cite, source):
        self.docname = docname  # e.g. "chapters/01_from_batch_norm_to_layer_norm"
        self.numbers = numbers  # label -> (kind, "1.2", docname, title)
        self.titles = titles    # docname -> title
        self.glue = glue        # key -> text/plain
        self.cite = cite        # callable(keys, textual) -> markdown
        self.source = source    # the setup cell's install source
        self.cited: list[str] = []


ROLE_RE = re.compile(r"\{([\w:-]+)\}`([^`]+)`")
TITLED_RE = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)


def _role(ctx: Context, name: str, content: str) -> str:
    from myst_nb.core.variables import format_plain_text

    if name in ("glue:text", "glue", "glue:"):
        key, _, fmt = content.rpartition(":") if name == "glue:text" and ":" in content else (content, "", "")
        if key not in ctx.glue:
            raise KeyError(f"{ctx.docname}: glue key {key!r} not found in the executed notebook")
        return format_plain_text(ctx.glue[key], fmt)
    if name in ("cite", "cite:p", "cite:t", "cite:ps", "cite:ts"):
        keys = [k.strip() for k in content.split(",")]
        ctx.cited.extend(k for k in keys if k not in ctx.cited)
        return ctx.cite(keys, textual=name.startswith("cite:t"))
    if name == "math":
        return f"${content}$"
    m = TITLED_RE.match(content)
    text, target = (m.group(1), m.group(2)) if m else (None, content.strip())
    if name == "doc":
        doc = os.path.normpath(os.path.join(os.path.dirname(ctx.docname), target))
        return f"*{text or ctx.titles.get(doc, target)}*"
    if name in ("numref", "eq", "ref"):
        if target not in ctx.numbers:
            raise KeyError(f"{ctx.docname}: no number or title for {{{name}}}`{content}`")
        kind, number, doc, title = ctx.numbers[target]
        if name == "eq":
            shown = f"({number})"
        elif name == "numref":
            shown = (text.replace("%s", number).replace("{number}", number) if text else f"{kind} {number}")
        else:
            shown = text or (f"{kind} {number}" if number else title)
        return f"[{shown}](#{target})" if doc == ctx.docname else shown
    raise ValueError(f"{ctx.docname}: no conversion for the role {{{name}}}")


def _inline(ctx: Context, text: str) -> str:
    """Convert MyST roles outside code spans."""
    parts = re.split(r"(``.+?``|`[^`\n]+`)", text)
    out = []
    k = 0
    while k < len(parts):
        chunk = parts[k]
        # A role is "{name}" immediately followed by a code span: the split separated them.
        if k % 2 == 0 and k + 1 < len(parts) and re.search(r"\{[\w:-]+\}$", chunk):
            m = re.search(r"\{([\w:-]+)\}$", chunk)
            out.append(chunk[: m.start()] + _role(ctx, m.group(1), parts[k + 1][1:-1]))
            k += 2
            continue
        out.append(chunk)
        k += 1
    return "".join(out)


def _options(lines: list[str]) -> tuple[dict, list[str]]:
    opts = {}
    while lines and re.match(r"^:[\w-]+:", lines[0]):
        key, _, value = lines.pop(0)[1:].partition(":")
        opts[key.strip()] = value.strip()
    return opts, lines


def _quote(markdown: str) -> str:
    return "\n".join(("> " + l) if l.strip() else ">" for l in markdown.split("\n"))


def convert_markdown(ctx: Context, markdown: str) -> str:
    """MyST markdown to the Markdown Jupyter and Colab render."""
    lines = markdown.split("\n")
    out: list[str] = []
    pos = 0
    for start, end, _, name, arg in _fences(lines):
        out.append(_convert_plain(ctx, "\n".join(lines[pos:start])))
        opts, body = _options(lines[start + 1 : end])
        inner = convert_markdown(ctx, "\n".join(body).strip("\n"))
        if name == "exercise":
            label = opts.get("label", "")
            kind, number, _, _ = ctx.numbers.get(label, ("Exercise", "", "", ""))
            head = f"**Exercise {number}**" + (f" ({_inline(ctx, arg)})" if arg else "")
            anchor = f'<a id="{label}"></a>' if label else ""
            out.append(f"{anchor}{head}\n\n{inner}")
        elif name == "solution":
            number = ctx.numbers.get(arg, ("", "", "", ""))[1]
            out.append(f"<details>\n<summary><b>Solution to Exercise {number}</b></summary>\n\n{inner}\n\n</details>")
        else:  # admonition, note, tip, ...: a titled block quote
            title = _inline(ctx, arg) if name == "admonition" else (name.capitalize() + (f": {arg}" if arg else ""))
            out.append(_quote(f"**{title}**\n\n{inner}"))
        pos = end + 1
    out.append(_convert_plain(ctx, "\n".join(lines[pos:])))
    return "\n".join(s for s in out if s is not None).strip("\n")


def _convert_plain(ctx: Context, text: str) -> str:
    """Markdown without colon fences: code fences kept, equations tagged, targets anchored, roles converted."""
    out, lines, k = [], text.split("\n"), 0
    while k < len(lines):
        line = lines[k]
        fence = re.match(r"^(\s*)(`{3,}|~{3,})\s*(\{[\w-]+\})?\s*(.*)$", line)
        if fence:  # a code fence (kept verbatim) or a backtick directive (a block quote)
            j = k + 1
            while j < len(lines) and not lines[j].strip().startswith(fence.group(2)):
                j += 1
            body = lines[k + 1 : j]
            if fence.group(3):
                name = fence.group(3)[1:-1]
                opts, body = _options(body)
                title = fence.group(4) if name == "admonition" else name.capitalize()
                out.append(_quote(f"**{_inline(ctx, title)}**\n\n" + convert_markdown(ctx, "\n".join(body))))
            else:
                out.extend(lines[k : j + 1])
            k = j + 1
            continue
        target = re.match(r"^\(([\w-]+)\)=\s*$", line)
        if target:
            out.append(f'<a id="{target.group(1)}"></a>')
            k += 1
            continue
        if line.strip().startswith("$$"):  # display maths: one line, or up to the closing $$
            j = k if line.strip().count("$$") >= 2 else next(
                (j for j in range(k + 1, len(lines)) if "$$" in lines[j]), len(lines) - 1)
            math = lines[k : j + 1]
            label = re.search(r"\$\$\s*\(([\w-]+)\)\s*$", math[-1])
            if label:
                number = ctx.numbers.get(label.group(1), ("", "", "", ""))[1]
                tag = f"\\tag{{{number}}}" if number else ""
                math[-1] = math[-1][: math[-1].rindex("$$")] + tag + "$$"
                out.append(f'<a id="{label.group(1)}"></a>\n')
            out.extend(math)
            k = j + 1
            continue
        out.append(_inline(ctx, line))
        k += 1
    return "\n".join(out)


def to_reader(nb, ctx: Context, intro: str):
    """A MyST notebook (sources) as a reader notebook: plain Markdown, numbers written in, no outputs."""
    reader = nbformat.v4.new_notebook(metadata=copy.deepcopy(nb.metadata))
    reader.metadata.pop("widgets", None)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    code = dict(zip(map(id, code_cells), reader_code(code_cells)))
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            reader.cells.append(nbformat.v4.new_markdown_cell(convert_markdown(ctx, cell.source)))
            continue
        if cell.cell_type != "code" or code[id(cell)] is None:
            continue
        source = SETUP_SOURCE_RE.sub(lambda m: f'{m.group(1)}"{ctx.source}"', code[id(cell)])
        meta = {"tags": list(cell.metadata.get("tags", []))} if cell.metadata.get("tags") else {}
        reader.cells.append(nbformat.v4.new_code_cell(source, metadata=meta))
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        if figure.get("caption"):
            label = figure.get("name", "")
            number = ctx.numbers.get(label, ("", "", "", ""))[1]
            anchor = f'<a id="{label}"></a>' if label else ""
            caption = convert_markdown(ctx, figure["caption"])
            reader.cells.append(nbformat.v4.new_markdown_cell(f"{anchor}*Figure {number}: {caption}*"))
    if reader.cells and reader.cells[0].cell_type == "markdown":
        reader.cells[0].source = reader.cells[0].source + "\n\n" + intro
    if ctx.cited:
        entries = "\n".join(ctx.cite.entry(key) for key in ctx.cited)
        reader.cells.append(nbformat.v4.new_markdown_cell("## Works cited in this chapter\n\n" + entries))
    for k, cell in enumerate(reader.cells):  # stable ids: the same build gives the same file
        cell.id = f"cell-{k}"
    return reader


# --- citations -----------------------------------------------------------------

class Citations:
    """Author-year citations from the book's BibTeX file, labelled as the site's bibliography labels them."""

    def __init__(self, bibfiles: list[Path]):
        from bibliography_style import AuthorYearLabels, AuthorYearStyle
        from pybtex.database import parse_file

        self.entries = {}
        for path in bibfiles:
            self.entries.update(parse_file(str(path)).entries)
        self._labels = AuthorYearLabels()
        self._style = AuthorYearStyle(label_style="number")  # entries only: their labels are not used

    def _names(self, key: str) -> tuple[str, str]:
        if key not in self.entries:
            raise KeyError(f"citation key {key!r} not in the bibliography")
        who, _, year = self._labels.format_label(self.entries[key]).rpartition(" ")
        return who, year

    def __call__(self, keys: list[str], textual: bool) -> str:
        items = []
        for key in keys:
            who, year = self._names(key)
            items.append(f"[{who} ({year})](#ref-{key})" if textual else f"[{who}, {year}](#ref-{key})")
        return ", ".join(items) if textual else "(" + "; ".join(items) + ")"

    def entry(self, key: str) -> str:
        formatted = self._style.format_entry(key, self.entries[key])
        return f'- <a id="ref-{key}"></a>{formatted.text.render_as("markdown")}'


# --- the Sphinx side --------------------------------------------------------------

KINDS = {"figure": "Figure", "table": "Table", "code-block": "Listing", "exercise": "Exercise"}


def _numbers(env) -> dict:
    """label -> (kind, number, docname, title) for figures, equations, exercises and sections."""
    out = {}
    fignums = env.toc_fignumbers
    for label, (doc, node_id, title) in env.domaindata["std"].get("labels", {}).items():
        out[label] = ("Section", "", doc, title)
        for kind, table in fignums.get(doc, {}).items():
            if node_id in table:
                out[label] = (KINDS.get(kind, kind.capitalize()), ".".join(map(str, table[node_id])), doc, title)
                break
    for label, (doc, _) in env.domaindata["math"].get("objects", {}).items():
        table = fignums.get(doc, {}).get("displaymath", {})
        node_id = f"equation-{label}"
        out[label] = ("Equation", ".".join(map(str, table[node_id])) if node_id in table else "", doc, "")
    return out


def _glue_data(executed_dir: Path, docname: str) -> dict[str, str]:
    """The glued values of an executed chapter (myst-nb writes them beside the executed notebook)."""
    path = executed_dir / f"{docname}.glue.json"
    if not path.exists():
        return {}
    return {key: out.get("data", {}).get("text/plain", "") for key, out in json.loads(path.read_text()).items()}


EDITIONS = ("instructor", "student")
EDITION_ENV_VAR = "LNBOOK_EDITION"

INTRO = {
    "instructor": "instructor edition: exercise solutions are folded under *Solution*",
    "student": "student edition: no solutions; fill-in exercises raise `NotImplementedError` until you write them",
}


def edition_branch(config, edition: str) -> str:
    """The notebooks branch that holds ``edition``'s reader notebooks (``make publish`` fills both)."""
    return config.lnbook_student_branch if edition == "student" else config.lnbook_notebooks_branch


def _edition() -> str:
    edition = os.environ.get(EDITION_ENV_VAR, "instructor").strip() or "instructor"
    if edition not in EDITIONS:
        raise ValueError(f"{EDITION_ENV_VAR} must be one of {EDITIONS}, got {edition!r}")
    return edition


def _version(root: Path) -> str:
    import tomllib

    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def configure(app, config) -> None:
    """config-inited: derive the repository and launch buttons from the one configured URL."""
    from sphinx.errors import ExtensionError

    options = config.html_theme_options
    url = repository_url(options)
    if os.environ.get(PUBLISH_ENV_VAR, "") == "1" and not url:
        raise ExtensionError(
            f"publication build refused: repository.url in _config.yml is "
            f"{options.get('repository_url')!r}, a placeholder; set it to the book's real repository"
        )
    options["repository_url"] = url
    options["use_repository_button"] = options["use_issues_button"] = bool(url)
    if not url:  # nothing to launch from: no buttons that would lead nowhere (or to someone else's code)
        options["launch_buttons"] = {}
    app.lnbook_url = url
    app.lnbook_edition = _edition()


def retarget_launch_buttons(app, pagename, templatename, context, doctree) -> None:
    """html-page-context: launch buttons open the reader notebook on the site edition's notebooks branch."""
    group = next((b for b in context.get("header_buttons", []) if b.get("label") == "launch-buttons"), None)
    if group is None or not app.lnbook_url:
        return
    path = f"{pagename}.ipynb"
    urls = launch_urls(app.lnbook_url, edition_branch(app.config, app.lnbook_edition), path,
                       app.config.html_theme_options.get("launch_buttons", {}))
    for button in group.get("buttons", []):
        if button.get("text") in urls:
            button["url"] = urls[button["text"]]


def build_wheel(root: Path, dist: Path) -> Path:
    """Build the helpers wheel from the working tree into ``dist`` (no network: no build isolation)."""
    import subprocess

    wheel = dist / f"lnbook_helpers-{_version(root)}-py3-none-any.whl"
    wheel.unlink(missing_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), str(root)],
        check=True, cwd=dist.parent,
    )
    if not wheel.exists():
        raise FileNotFoundError(f"pip wheel did not produce {wheel}")
    return wheel


BUNDLE_EDITION = {"instructor": "instructor edition: WITH the exercise solutions, not for students",
                  "student": "student edition: no solutions, for students"}
BUNDLE_README = """Layer Normalization, an interactive book: classroom bundle ({edition})

chapters/   the chapters as Jupyter notebooks (plain Markdown, numbers written in)
{wheel}   the book's helpers, the Python package every chapter imports

On your own Python (3.10 or newer):
    python -m venv .venv && . .venv/bin/activate
    pip install torch numpy matplotlib ipywidgets jupyterlab {wheel}
    jupyter lab chapters/

In Colab: upload {wheel} (Files pane) and a chapter (File > Upload notebook),
then run the chapter's first cell: it installs the wheel.
"""


def write_reader_notebooks(app, exception) -> None:
    """build-finished: write both editions of every chapter, the download copies and the bundle."""
    if exception or app.builder.format != "html":
        return
    root, build = Path(app.confdir), Path(app.outdir).parent
    env = app.env
    numbers = _numbers(env)
    titles = {doc: title.astext() for doc, title in env.titles.items()}
    cite = Citations([root / f for f in app.config.bibtex_bibfiles])
    version = _version(root)
    source = helpers_source(app.lnbook_url, version)
    editions = EDITIONS if app.lnbook_edition == "instructor" else ("student",)
    chapters = {edition: [] for edition in editions}
    for doc in sorted(env.found_docs):
        path = Path(env.doc2path(doc))
        if path.suffix != ".ipynb":
            continue
        nb = nbformat.read(path, as_version=4)
        glue = _glue_data(build / "jupyter_execute", doc)
        for edition in editions:
            ctx = Context(doc, numbers, titles, glue, cite, source)
            src = nb if edition == "instructor" else student_source(nb, doc)
            intro = (f"> *Converted from the book's sources for Jupyter and Colab ({INTRO[edition]}). "
                     "Numbers in the text are the values the book's build computed; running the cells "
                     "recomputes them. Figures, equations and exercises are numbered as on the website.*")
            reader = to_reader(src, ctx, intro)
            target = build / "notebooks" / edition / f"{doc}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(reader, target)
            chapters[edition].append((doc, target))
            if edition == app.lnbook_edition:
                download = Path(app.outdir) / "_sources" / f"{doc}.ipynb"
                download.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(reader, download)
    dist = build / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(root, dist)
    for edition, written in chapters.items():
        bundle = Path(app.outdir) / BUNDLES[edition]
        bundle.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("README.txt", BUNDLE_README.format(edition=BUNDLE_EDITION[edition], wheel=wheel.name))
            z.write(wheel, wheel.name)
            for doc, path in written:
                z.write(path, f"chapters/{Path(doc).name}.ipynb")


def setup(app):
    app.add_config_value("lnbook_notebooks_branch", "notebooks", "html")
    app.add_config_value("lnbook_student_branch", "notebooks-student", "html")
    app.connect("config-inited", configure, priority=400)
    app.connect("html-page-context", retarget_launch_buttons, priority=600)
    app.connect("build-finished", write_reader_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def publish_refusal(config_path: Path) -> str | None:
    """Why a publication build must not run with the configuration ``config_path`` (one line), or ``None``."""
    import yaml

    url = ((yaml.safe_load(config_path.read_text()) or {}).get("repository") or {}).get("url") or ""
    if not repository_url({"repository_url": url}):
        return (f"make publish: refused: repository.url in {config_path.name} is {url!r}, a placeholder; "
                "set it to the book's real repository")
    return None


def _main(argv: list[str]) -> int:
    """``student-sources SRC OUT [--cache DIR]``: SRC's chapters as their student edition, into OUT.
    ``check-publish CONFIG``: one line and exit status 2 if CONFIG's repository URL is a placeholder.

    With ``--cache`` (the build's jupyter-cache), each chapter gets the outputs of its
    cached execution, so a student site can be built without executing it again.
    """
    if argv[:1] == ["check-publish"] and len(argv) == 2:
        why = publish_refusal(Path(argv[1]))
        if why:
            print(why, file=sys.stderr)
            return 2
        return 0
    usage = ("usage: reader_notebooks.py student-sources SRC_DIR OUT_DIR [--cache CACHE_DIR]\n"
             "       reader_notebooks.py check-publish _config.yml")
    cache = None
    if "--cache" in argv:
        k = argv.index("--cache")
        if k + 1 >= len(argv):
            print(usage, file=sys.stderr)
            return 2
        from jupyter_cache import get_cache

        cache = get_cache(argv[k + 1])
        argv = argv[:k] + argv[k + 2:]
    if len(argv) != 3 or argv[0] != "student-sources":
        print(usage, file=sys.stderr)
        return 2
    src, out = Path(argv[1]), Path(argv[2])
    notebooks = sorted(src.glob("*.ipynb"))
    if not notebooks:
        print(f"reader_notebooks.py: no notebooks in {src}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        if cache is not None:
            try:
                _, nb = cache.merge_match_into_notebook(nb)
            except KeyError:
                print(f"reader_notebooks.py: {path.name} has no cached execution: run `make book`", file=sys.stderr)
                return 2
        nbformat.write(student_source(nb, path.stem, executed=cache is not None), out / path.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
