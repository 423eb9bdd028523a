"""Shared fixtures: the repository layout, the built site, a local web server and a browser."""

from __future__ import annotations

import functools
import http.server
import importlib
import os
import shutil
import socketserver
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


# --- tools the suite needs: skipped on a laptop without them, a failure under CI=true -----------

def in_ci() -> bool:
    """Whether the tests run in CI (``CI=true``, as CI services and ``.ci/run`` set it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_tool(what: str, how: str):
    """Skip the current test for want of ``what`` -- except under ``CI=true``, where it fails.

    CI installs every tool the README lists, so a missing one there is a broken setup, not a
    reason to pass quietly. ``how`` says how to install it.
    """
    message = f"{what} is not available: {how}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing tool is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


#: Node.js, which runs the explorables' JavaScript against the Python helpers (None without it).
NODE = shutil.which("node") or ("/usr/bin/node" if os.path.exists("/usr/bin/node") else None)
HOW_NODE = "install Node.js (`apt-get install nodejs`; `make` installs it with the browser tools)"

#: Marks a test that runs ``node``: see :func:`missing_tool`.
needs_node = pytest.mark.needs_node


def import_or_missing(module: str, how: str):
    """``importlib.import_module(module)``, or :func:`missing_tool` if it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing_tool(f"the Python module {module}", how)


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_node: runs Node.js (skipped without it, failed under CI=true)")
    config.addinivalue_line("markers", "every_chapter_without_a_compiler: five more minutes of chapters; "
                                       "`make test-no-compiler` runs them (LNBOOK_NO_COMPILER_ALL=1)")


def pytest_collection_modifyitems(config, items):
    """Deselect (not skip) the every-chapter no-compiler runs unless ``LNBOOK_NO_COMPILER_ALL=1`` asks for them."""
    if os.environ.get("LNBOOK_NO_COMPILER_ALL", "") not in ("", "0"):
        return
    keep = [i for i in items if i.get_closest_marker("every_chapter_without_a_compiler") is None]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_node") is not None and NODE is None:
        missing_tool("node", HOW_NODE)


def toc_files() -> list[str]:
    """Every document in _toc.yml, in reading order, as paths without suffix (e.g. 'chapters/01_...')."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def chapter_notebooks() -> list[Path]:
    """The chapter notebooks listed in the TOC."""
    return [ROOT / f"{f}.ipynb" for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]


@pytest.fixture(scope="session")
def site() -> Path:
    if not (HTML / "index.html").exists():
        pytest.fail("no built site in _build/html: run `make book` first (`make test` does)")
    return HTML


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output readable
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


@pytest.fixture(scope="session")
def server(site):
    """Serve the built site on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    srv = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def two_threads():
    """torch on two threads for one test (the C kernels follow torch's setting), restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)
