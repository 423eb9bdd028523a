"""The classroom bundle works where the book's build stack is absent.

A fresh virtual environment is made outside the repository with only torch,
numpy, matplotlib and ipywidgets (and ipykernel, to run a notebook at all), at
the versions ``requirements.txt`` pins. The classroom bundle the build wrote is
unpacked there, and its reader notebooks are executed in that environment:

* chapter 1 in full, as Colab runs it: a stand-in ``google.colab`` module is
  importable and the helpers are not installed, so the setup cell must install
  them itself, from the bundle's wheel;
* every other chapter through its setup cell, with the helpers now installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

pytestmark = pytest.mark.site

BUNDLE = ROOT / "_build" / "html" / "downloads" / "lnbook-instructor.zip"  # every cell runs (fill-ins solved)
BESIDE = ("torch", "numpy", "matplotlib", "ipywidgets", "ipykernel")
REPORT = ROOT / "_build" / "reports" / "reader-venv.md"


def pins(names) -> list[str]:
    wanted = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() in names:
            wanted[name.strip().lower()] = f"{name.strip()}=={version.split()[0]}"
    missing = set(names) - set(wanted)
    assert not missing, f"requirements.txt pins none of {missing}"
    return [wanted[n] for n in names]


@pytest.fixture(scope="module")
def classroom():
    """(bundle folder, python of a fresh venv with only BESIDE installed, kernel environment)."""
    if not BUNDLE.exists():
        pytest.fail(f"no classroom bundle at {BUNDLE}: run `make book`")
    with tempfile.TemporaryDirectory(prefix="lnbook-reader-") as tmp:
        tmp = Path(tmp)
        assert ROOT not in tmp.parents
        t0 = time.time()
        subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
        python = tmp / "venv" / "bin" / "python"
        # --no-compile: no bytecode for all of torch up front (half the install's time); what runs compiles lazily
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
                        *pins(BESIDE)], check=True, timeout=900)
        subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(tmp / "venv"),
                        "--name", "lnbook-reader"], check=True, capture_output=True)
        seconds_install = time.time() - t0
        with zipfile.ZipFile(BUNDLE) as z:
            z.extractall(tmp / "bundle")
        # A stand-in for Colab's own module, imported at start-up as Colab does, so the
        # setup cell takes its Colab branch.
        fake = tmp / "fake-colab" / "google" / "colab"
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text("")
        (fake.parent / "__init__.py").write_text("")
        (fake.parent.parent / "sitecustomize.py").write_text("import google.colab  # noqa: F401\n")
        env = {"JUPYTER_PATH": str(tmp / "venv" / "share" / "jupyter"), "CUDA_VISIBLE_DEVICES": "",
               "LNBOOK_BUDGET": "quick", "MPLBACKEND": "agg"}
        yield tmp / "bundle", python, env, tmp / "fake-colab", seconds_install


def run(nb, cwd: Path, env: dict, extra_path: Path | None = None):
    old = {k: os.environ.get(k) for k in (*env, "PYTHONPATH")}
    os.environ.update(env)
    if extra_path is not None:
        os.environ["PYTHONPATH"] = str(extra_path)
    else:
        os.environ.pop("PYTHONPATH", None)
    try:
        NotebookClient(nb, kernel_name="lnbook-reader", timeout=600, resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_reader_notebooks_run_from_the_bundle_in_a_bare_environment(classroom):
    folder, python, env, fake_colab, seconds_install = classroom
    chapters = sorted((folder / "chapters").glob("*.ipynb"))
    assert chapters, "the bundle holds no chapters"
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('helpers'))"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "None", "the fresh environment must not have the helpers yet"

    # Chapter 1 in full, as in Colab: the setup cell installs the helpers from the bundle's wheel.
    first = nbformat.read(chapters[0], as_version=4)
    t0 = time.time()
    run(first, folder, env, fake_colab)
    seconds_first = time.time() - t0
    errors = [o for c in first.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    # no glue plumbing reaches the reader: no "name = value" lines, no echoed values of glue calls
    printed = "".join(o.get("text", "") for c in first.cells if c.cell_type == "code" for o in c.outputs
                      if o.output_type == "stream")
    glued = [line for line in printed.splitlines() if re.match(r"ch\d+\w* = ", line)]
    assert not glued, f"glue lines printed: {glued[:3]}"
    installed = subprocess.run([str(python), "-c", "import helpers, sys; print(helpers.__file__)"],
                               capture_output=True, text=True, check=True).stdout
    assert "site-packages" in installed and str(ROOT) not in installed, installed

    # Every other chapter through its setup cell (and the first cell after it).
    for path in chapters[1:]:
        nb = nbformat.read(path, as_version=4)
        nb.cells = nb.cells[:3]
        run(nb, folder, env)
        assert nb.cells[1].outputs == [] or all(o.output_type != "error" for o in nb.cells[1].outputs)

    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        "# Reader notebooks in a bare environment\n\n"
        f"- fresh venv with {', '.join(pins(BESIDE))}: {seconds_install:.0f} s\n"
        f"- {chapters[0].name} in full, helpers installed by its setup cell (Colab branch): {seconds_first:.0f} s\n"
        f"- {len(chapters) - 1} other chapters through their setup cell: no error\n"
    )


def test_setup_cell_outside_colab_says_what_to_run(classroom):
    folder, python, env, _, _ = classroom
    # A second bare venv would cost a minute; instead hide the installed helpers behind a stub
    # that makes find_spec fail, which is what the setup cell checks.
    nb = nbformat.read(sorted((folder / "chapters").glob("*.ipynb"))[0], as_version=4)
    cell = nb.cells[1]
    cell.source = "import importlib.util\n_real = importlib.util.find_spec\nimportlib.util.find_spec = " \
                  "lambda name, *a: None if name == 'helpers' else _real(name, *a)\n" + cell.source
    nb.cells = nb.cells[:2]
    with pytest.raises(Exception) as info:
        run(nb, folder, env)
    message = str(info.value)
    assert "ModuleNotFoundError" in message and "pip install" in message and "lnbook_helpers" in message, message
