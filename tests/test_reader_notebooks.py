"""Reader notebooks: the chapters as they read in Jupyter and Colab (book/_ext/reader_notebooks.py).

The first half tests the conversion on small pieces of MyST against what a
reader must see; the second half (marked ``site``) checks what the build wrote:
both editions of every chapter, the download copies, the classroom bundle, and
the repository settings derived from the one URL in ``_config.yml``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import ROOT, chapter_notebooks

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import reader_notebooks as rn  # noqa: E402

RAW_MYST = ("{glue", "{cite", "{numref", "{eq}", "{ref}", "{doc}", ":::{", "```{")
BUILD = ROOT / "_build"


class FakeCite:
    def __call__(self, keys, textual):
        return ", ".join(f"{k}-{'t' if textual else 'p'}" for k in keys)

    def entry(self, key):
        return f"- entry {key}"


def ctx(**glue):
    numbers = {
        "fig-a": ("Figure", "2.3", "chapters/x", "A figure"),
        "eq-a": ("Equation", "2.1", "chapters/x", ""),
        "ex-a": ("Exercise", "2.4", "chapters/x", "Exercise"),
        "fig-other": ("Figure", "5.1", "chapters/y", "Elsewhere"),
    }
    return rn.Context("chapters/x", numbers, {"book/notation": "Notation"}, glue, FakeCite(), "SRC")


# --- the conversion, piece by piece ------------------------------------------

def test_glue_numbers_are_written_in_with_their_format():
    c = ctx(err="0.000123456", pct="0.25", name="'LSTM'")
    out = rn.convert_markdown(c, "max {glue:text}`err:.1e`, {glue:text}`pct:.0%` and {glue:text}`name`.")
    assert out == "max 1.2e-04, 25% and LSTM."


def test_unknown_glue_key_and_unknown_role_fail_loudly():
    with pytest.raises(KeyError, match="missing"):
        rn.convert_markdown(ctx(), "{glue:text}`missing:.2f`")
    with pytest.raises(ValueError, match="no conversion for the role"):
        rn.convert_markdown(ctx(), "{abbr}`LN (layer norm)`")
    with pytest.raises(KeyError, match="nowhere"):
        rn.convert_markdown(ctx(), "{numref}`nowhere`")


def test_cross_references_become_numbers_linked_within_the_notebook():
    out = rn.convert_markdown(ctx(), "See {numref}`fig-a`, {eq}`eq-a`, {ref}`ex-a`, {numref}`Fig. %s <fig-other>`.")
    assert out == "See [Figure 2.3](#fig-a), [(2.1)](#eq-a), [Exercise 2.4](#ex-a), Fig. 5.1."


def test_citations_and_doc_links():
    c = ctx()
    out = rn.convert_markdown(c, "{cite:t}`ba2016` and {cite}`a,b`; the {doc}`notation table <../book/notation>`.")
    assert out == "ba2016-t and a-p, b-p; the *notation table*."
    assert c.cited == ["ba2016", "a", "b"]


def test_roles_inside_code_are_left_alone():
    src = "Call `{glue:text}` as text.\n\n```python\nx = '{cite}`k`'\n```"
    assert rn.convert_markdown(ctx(), src) == src


def test_labelled_equation_gets_its_number_as_a_tag():
    out = rn.convert_markdown(ctx(), "$$\nx = 1\n$$ (eq-a)\n\nafter")
    assert '<a id="eq-a"></a>' in out and "x = 1\n\\tag{2.1}$$" in out and "(eq-a)" not in out


def test_admonitions_exercises_and_solutions():
    src = (":::{admonition} In this chapter\n:class: tip\n\n- one {glue:text}`n:d`\n:::\n\n"
           ":::{exercise} Try it\n:label: ex-a\n\nDo {eq}`eq-a`.\n:::\n\n"
           "::::{solution} ex-a\n:class: dropdown\n\nAnswer.\n\n```python\nprint(1)\n```\n::::")
    out = rn.convert_markdown(ctx(n="3"), src)
    assert "> **In this chapter**\n>\n> - one 3" in out
    assert '<a id="ex-a"></a>**Exercise 2.4** (Try it)\n\nDo [(2.1)](#eq-a).' in out
    assert "<details>\n<summary><b>Solution to Exercise 2.4</b></summary>\n\nAnswer." in out
    assert out.rstrip().endswith("</details>") and ":::" not in out and ":class:" not in out


def test_remove_solutions_keeps_the_exercise():
    src = ":::{exercise} E\n:label: e\n\nQ?\n:::\n\n::::{solution} e\n:class: dropdown\n\nA!\n::::\n\nNext."
    out = rn.remove_solutions(src)
    assert "Q?" in out and "Next." in out and "A!" not in out and "solution" not in out
    with pytest.raises(ValueError, match="unclosed"):
        rn.remove_solutions("::::{solution} e\nA!\n:::")


def test_stub_replaces_exactly_the_marked_solution():
    code = "def f(x):\n    \"\"\"Doc.\"\"\"\n    # BEGIN SOLUTION\n    y = x + 1\n    return y\n    # END SOLUTION\n"
    stub = rn.stub_fill_in(code, "ex")
    assert stub == 'def f(x):\n    """Doc."""\n    raise NotImplementedError("ex: this is yours to write")\n'
    scope = {}
    exec(stub, scope)
    with pytest.raises(NotImplementedError):
        scope["f"](1)
    assert rn.stub_fill_in(stub, "ex") == stub  # idempotent on the student version
    for bad in ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "def f():\n    return 1\n    # END SOLUTION\n",
                "def f():\n    return 1\n"):
        with pytest.raises(ValueError):
            rn.stub_fill_in(bad, "ex")


def test_setup_cell_gets_the_configured_source():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# T"),
        nbformat.v4.new_code_cell('import sys\nif 1:\n    HELPERS = "old.whl"  # comment\n    %pip install "{HELPERS}"'),
    ])
    reader = rn.to_reader(nb, ctx(), "> intro")
    assert 'HELPERS = "SRC"  # comment' in reader.cells[1].source
    assert reader.cells[0].source.endswith("> intro")
    nbformat.validate(reader)


# --- one URL, everything derived ------------------------------------------------

def test_placeholder_urls_count_as_unset():
    for url in ("", "https://github.com/lnbook/layer-norm-book", "https://github.com/lnbook/layer-norm-book/"):
        assert rn.repository_url({"repository_url": url}) == ""
    assert rn.repository_url({"repository_url": "https://github.com/me/book/"}) == "https://github.com/me/book"
    assert rn.helpers_source("", "0.1.0") == "lnbook_helpers-0.1.0-py3-none-any.whl"
    assert rn.helpers_source("https://github.com/me/book", "0.1.0") == "lnbook-helpers @ git+https://github.com/me/book"


def test_launch_urls_open_the_notebooks_branch():
    launch = {"binderhub_url": "https://mybinder.org", "colab_url": "https://colab.research.google.com",
              "jupyterhub_url": "https://hub.example.edu/", "notebook_interface": "jupyterlab"}
    urls = rn.launch_urls("https://github.com/me/book", "notebooks", "chapters/01.ipynb", launch)
    assert urls["Colab"] == "https://colab.research.google.com/github/me/book/blob/notebooks/chapters/01.ipynb"
    assert urls["Binder"] == "https://mybinder.org/v2/gh/me/book/notebooks?urlpath=lab/tree/chapters/01.ipynb"
    assert urls["JupyterHub"].startswith("https://hub.example.edu/hub/user-redirect/git-pull?repo=https")
    assert "branch=notebooks" in urls["JupyterHub"]
    assert "Colab" not in rn.launch_urls("https://gitlab.com/me/book", "nb", "c.ipynb", launch)


@pytest.mark.parametrize("edition, branch", [("instructor", "notebooks"), ("student", "notebooks-student")])
def test_launch_buttons_open_the_branch_of_the_site_edition(edition, branch):
    """The student site's buttons must open the notebooks without solutions (mutant: one branch for both)."""
    class Config:
        lnbook_notebooks_branch, lnbook_student_branch = "notebooks", "notebooks-student"
        html_theme_options = {"launch_buttons": {"colab_url": "https://colab.research.google.com"}}

    class App:
        config, lnbook_url, lnbook_edition = Config(), "https://github.com/me/book", edition

    context = {"header_buttons": [{"label": "launch-buttons", "buttons": [{"text": "Colab", "url": "#"}]}]}
    rn.retarget_launch_buttons(App(), "chapters/01_x", "page.html", context, None)
    url = context["header_buttons"][0]["buttons"][0]["url"]
    assert url == f"https://colab.research.google.com/github/me/book/blob/{branch}/chapters/01_x.ipynb"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert (config["lnbook_notebooks_branch"], config["lnbook_student_branch"]) == ("notebooks", "notebooks-student")


def _sphinx_project(tmp_path: Path, url: str) -> Path:
    (tmp_path / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        f"extensions = ['reader_notebooks']\nhtml_theme_options = {{'repository_url': {url!r}, "
        "'launch_buttons': {'colab_url': 'https://colab.research.google.com'}}\n"
    )
    (tmp_path / "index.rst").write_text("Title\n=====\n")
    return tmp_path


@pytest.mark.parametrize("url", ["", "https://github.com/lnbook/layer-norm-book"])
def test_publication_build_refuses_the_placeholder(tmp_path, url):
    src = _sphinx_project(tmp_path, url)
    env = {**os.environ, rn.PUBLISH_ENV_VAR: "1"}
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "dummy", "-q", str(src), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert "publication build refused" in proc.stderr


def test_make_publish_refuses_in_one_line_before_building(tmp_path):
    """`make publish` with the placeholder URL: one line on stderr, exit 2, nothing built (it was line 12
    of 62, under two tracebacks, after the build had started)."""
    # as typed in a shell: not a sub-make of `make test` (which would print "make[1]: ***")
    shell = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    run = subprocess.run(["make", "-s", "-o", ".venv/.installed", "publish"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env=shell)
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if not line.startswith("make: ***")]
    assert len(lines) == 1 and "refused: repository.url" in lines[0] and "placeholder" in lines[0], run.stderr
    config = tmp_path / "_config.yml"
    config.write_text("repository:\n  url: https://github.com/me/book\n")
    assert rn.publish_refusal(config) is None


def test_publication_build_accepts_a_real_url(tmp_path):
    src = _sphinx_project(tmp_path, "https://github.com/me/book")
    env = {**os.environ, rn.PUBLISH_ENV_VAR: "1"}
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "dummy", "-q", str(src), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_repository_is_named_once():
    """Only _config.yml names the book's repository: no other file carries it, the placeholder or an install line."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    names = [u for u in (config["repository"]["url"], *rn.PLACEHOLDER_URLS) if u]
    names += [u.split("://", 1)[1] for u in names] + ["lnbook-helpers @ git+"]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in tracked:
        path = ROOT / name
        if name in ("_config.yml", "book/_ext/reader_notebooks.py", "tests/test_reader_notebooks.py") or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        offenders += [f"{name}: {n}" for n in names if n in text]
    assert offenders == [], f"the repository named outside _config.yml: {offenders}"


def test_every_setup_cell_has_the_install_line():
    for path in chapter_notebooks():
        nb = nbformat.read(path, as_version=4)
        setup = nb.cells[1].source
        assert len(rn.SETUP_SOURCE_RE.findall(setup)) == 1, f"{path.name}: no HELPERS = \"...\" line in the setup cell"
        assert '"google.colab" not in sys.modules' in setup and "%pip install" in setup, path.name


# --- what the build wrote ---------------------------------------------------------

site = pytest.mark.site


def built(edition: str) -> list[Path]:
    folder = BUILD / "notebooks" / edition / "chapters"
    paths = sorted(folder.glob("*.ipynb"))
    if not paths:
        pytest.fail(f"no reader notebooks in {folder}: run `make book`")
    assert [p.name for p in paths] == [p.name for p in chapter_notebooks()]
    return paths


def _text(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


@site
@pytest.mark.parametrize("edition", rn.EDITIONS)
def test_reader_notebooks_have_no_raw_myst(edition):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    source = rn.helpers_source(rn.repository_url({"repository_url": config["repository"]["url"]}),
                               rn._version(ROOT))
    for path in built(edition):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        text = _text(nb)
        left = [m for m in RAW_MYST if m in text]
        assert not left, f"{path.name} ({edition}): raw MyST left: {left}"
        assert not re.search(r"\$\$\s*\([\w-]+\)", text), f"{path.name}: an equation label was not converted"
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name}: outputs"
        assert f'HELPERS = "{source}"' in nb.cells[1].source, f"{path.name}: setup cell lacks the configured source"
        assert "## Works cited in this chapter" in nb.cells[-1].source


@site
def test_download_button_serves_the_reader_notebook(site):
    for path in built("instructor"):
        doc = f"chapters/{path.stem}"
        page = (site / f"{doc}.html").read_text()
        assert f'href="../_sources/{doc}.ipynb"' in page, f"{doc}: no download link to the notebook"
        served = site / "_sources" / f"{doc}.ipynb"
        assert served.read_bytes() == path.read_bytes(), f"{doc}: the download is not the reader notebook"


@site
def test_no_launch_buttons_without_a_configured_url(site):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    if rn.repository_url({"repository_url": config["repository"]["url"]}):
        pytest.skip("a repository URL is configured")
    for path in built("instructor"):
        page = (site / "chapters" / f"{path.stem}.html").read_text()
        for host in ("colab.research.google.com", "mybinder.org", "github.com/"):
            # links only: a citation's tooltip (title) may quote a GitHub URL
            links = re.findall(r'href="([^"]*)"', page)
            assert not [u for u in links if host in u], \
                f"{path.stem}.html links to {host} although no repository is configured"


@site
def test_student_edition_has_no_solutions_and_stubbed_fill_ins(capsys):
    for source_path, path in zip(chapter_notebooks(), built("student")):
        source = nbformat.read(source_path, as_version=4)
        nb = nbformat.read(path, as_version=4)
        text = _text(nb)
        assert "Solution to Exercise" not in text and "<details>" not in text, path.name
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path.name
        # No line of any solution survives (lines that also appear outside solutions excepted).
        outside = "\n".join(rn.remove_solutions(c.source) if c.cell_type == "markdown" else c.source
                            for c in source.cells if "fill-in" not in c.metadata.get("tags", []))
        for cell in source.cells:
            if cell.cell_type != "markdown":
                continue
            for start, end, _, name, _ in rn._fences(cell.source.split("\n")):
                if name != "solution":
                    continue
                for line in cell.source.split("\n")[start + 1:end]:
                    line = line.strip()
                    if len(line) > 30 and line not in outside:
                        assert line not in text, f"{path.name}: solution text in the student edition: {line!r}"
        # Fill-in exercises: the student's version raises NotImplementedError; the checker says "not done".
        fill_ins = [c for c in nb.cells if "fill-in" in c.metadata.get("tags", [])]
        src_fill_ins = [c for c in source.cells if "fill-in" in c.metadata.get("tags", [])]
        assert len(fill_ins) == len(src_fill_ins)
        for cell, src_cell in zip(fill_ins, src_fill_ins):
            assert "NotImplementedError" in cell.source
            assert "BEGIN SOLUTION" in src_cell.source


@site
@pytest.mark.parametrize("edition", rn.EDITIONS)
def test_classroom_bundles(site, edition):
    """The instructor site carries both bundles; the student one holds no solution (what a student gets)."""
    bundle = site / rn.BUNDLES[edition]
    assert bundle.exists(), f"no classroom bundle at {bundle}"
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
        wheels = [n for n in names if n.endswith(".whl")]
        assert wheels == [f"lnbook_helpers-{rn._version(ROOT)}-py3-none-any.whl"], names
        assert sorted(n for n in names if n.startswith("chapters/")) == [
            f"chapters/{p.name}" for p in chapter_notebooks()]
        readme = z.read("README.txt").decode()
        assert ("not for students" in readme) == (edition == "instructor"), readme.splitlines()[0]
        text = ""
        for n in names:
            if n.startswith("chapters/"):
                assert z.read(n) == (BUILD / "notebooks" / edition / n).read_bytes()
                text += z.read(n).decode()
        has_solutions = "Solution to Exercise" in text or "BEGIN SOLUTION" in text
        assert has_solutions == (edition == "instructor"), edition
        with z.open(wheels[0]) as w, zipfile.ZipFile(w) as wheel:
            members = wheel.namelist()
        for needed in ("helpers/__init__.py", "helpers/norms.py", "helpers/widgets/js/lib.js", "helpers/lstm_kernel.c"):
            assert needed in members, f"the wheel lacks {needed}"


STUDENT_SITE = BUILD / "student" / "_build" / "html"


@site
def test_student_site_has_no_solutions():
    if not (STUDENT_SITE / "index.html").exists():
        pytest.fail(f"no student site in {STUDENT_SITE}: run `make student` (`make test` does)")
    for source_path in chapter_notebooks():
        doc = f"chapters/{source_path.stem}"
        page = (STUDENT_SITE / f"{doc}.html").read_text()
        instructor_page = (BUILD / "html" / f"{doc}.html").read_text()
        assert "Solution to" not in page, f"{doc}: a solution on the student site"
        assert "BEGIN SOLUTION" not in page, f"{doc}: fill-in solution code on the student site"
        n_fill = sum("fill-in" in c.metadata.get("tags", []) for c in nbformat.read(source_path, as_version=4).cells)
        assert page.count("NotImplementedError") >= n_fill, f"{doc}: fill-in exercises not stubbed on the student site"
        assert "Solution to" in instructor_page, f"{doc}: the instructor site should show solutions"
        served = nbformat.read(STUDENT_SITE / "_sources" / f"{doc}.ipynb", as_version=4)
        assert "Solution to Exercise" not in _text(served) and "BEGIN SOLUTION" not in _text(served)
    assert not (STUDENT_SITE / rn.BUNDLES["instructor"]).exists(), "the instructor bundle on the student site"
    with zipfile.ZipFile(STUDENT_SITE / rn.BUNDLES["student"]) as z:
        for name in z.namelist():
            if name.endswith(".ipynb"):
                text = z.read(name).decode()
                assert "Solution to Exercise" not in text and "BEGIN SOLUTION" not in text, name


@site
def test_make_lab_opens_the_reader_notebooks_of_an_edition(tmp_path):
    """`make lab` copies the edition's reader notebooks into a work folder and opens that (not chapters/)."""
    def lab(*args):
        return subprocess.run(["make", "-s", "-o", ".venv/.installed", "lab", "LAB_CMD=echo opening", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    for edition in rn.EDITIONS:
        folder = tmp_path / edition
        run = lab(f"EDITION={edition}", f"LAB_DIR={folder}")
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip().splitlines()[-1] == f"opening {folder}", run.stdout
        copied = sorted(folder.glob("*.ipynb"))
        assert [p.name for p in copied] == [p.name for p in chapter_notebooks()]
        text = "\n".join(_text(nbformat.read(p, as_version=4)) for p in copied)
        assert ("BEGIN SOLUTION" in text) == (edition == "instructor"), edition
        assert not [m for m in RAW_MYST if m in text], edition
    mine = tmp_path / "student" / copied[0].name
    mine.write_text(mine.read_text().replace("Layer", "My notes on layer", 1))
    lab("EDITION=student", f"LAB_DIR={tmp_path / 'student'}")
    assert "My notes on layer" in mine.read_text()  # a student's work survives
    bad = lab("EDITION=teacher")
    assert bad.returncode == 2 and "EDITION must be student or instructor" in bad.stderr, bad


@site
def test_stubs_name_their_exercise_as_the_site_numbers_it():
    """A stub says "Exercise 5.5: this is yours to write", the number the website shows above that fill-in."""
    for path in chapter_notebooks():
        doc = f"chapters/{path.stem}"
        page = (BUILD / "html" / f"{doc}.html").read_text()
        title = r'<span class="caption-number">(Exercise \d+\.\d+) </span>'  # an exercise's heading
        on_site = [re.findall(title, page[: m.start()])[-1] for m in re.finditer("BEGIN SOLUTION", page)]
        student = rn.student_source(nbformat.read(path, as_version=4), doc)
        stubs = [m for c in student.cells if rn.FILL_IN_TAG in c.metadata.get("tags", [])
                 for m in re.findall(r'NotImplementedError\("(Exercise \d+\.\d+): this is yours to write"\)', c.source)]
        assert stubs and stubs == on_site[: len(stubs)], (doc, stubs, on_site)
