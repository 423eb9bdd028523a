"""The Makefile's build-cache hash (``make book``): an edit to any shipped file under ``src`` -- a
helper, a C kernel, the corpus, a data record -- invalidates the executed chapters; bytecode does not."""

from __future__ import annotations

import re
import shutil
import subprocess

from conftest import ROOT


def _hash_snippet():
    """The shell line of the ``book`` target that computes the hash, as bash runs it (``$$`` -> ``$``)."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^\t@?(h=\$\$\(.*?\| sha256sum \| cut -c1-16\));", text, re.M)
    assert match, "the book target's hash line (h=$$( ... | sha256sum | cut -c1-16)) is not in the Makefile"
    return match.group(1).replace("$$", "$") + '; echo "$h"'


def test_hash_covers_every_shipped_file_under_src(tmp_path):
    """Each shipped kind of file changes the hash; bytecode and egg-info do not.

    Mutant: the old find expression (``*.py``, ``*.js``, ``*.css``, ``*.json`` only) misses the
    ``.c`` kernel and ``book_prose.txt``.
    """
    shutil.copy(ROOT / "requirements.txt", tmp_path)
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    snippet = _hash_snippet()

    def digest():
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", snippet], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
        assert run.returncode == 0 and re.fullmatch(r"[0-9a-f]{16}\n", run.stdout), (run.stdout, run.stderr)
        return run.stdout

    shipped = [tmp_path / "src/helpers/layer_norm_kernel.c", tmp_path / "src/helpers/data_files/book_prose.txt",
               next((tmp_path / "src/helpers/data_files").rglob("*.json")), tmp_path / "src/helpers/norms.py"]
    before = digest()
    for path in shipped:
        assert path.exists(), path
        with path.open("a") as f:
            f.write("\n")
        after = digest()
        assert after != before, f"editing {path.relative_to(tmp_path)} leaves the build-cache hash unchanged"
        before = after
    for junk in (tmp_path / "src/helpers/__pycache__/norms.cpython-311.pyc",
                 tmp_path / "src/lnbook_helpers.egg-info/SOURCES.txt"):
        junk.parent.mkdir(parents=True, exist_ok=True)
        junk.write_text("rebuilt by pip or python")
        assert digest() == before, f"{junk.relative_to(tmp_path)} changes the hash"
