"""Every page names its icon, so a browser never asks the server for a missing /favicon.ico."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT

pytestmark = pytest.mark.site
HTML = ROOT / "_build" / "html"


def test_every_page_links_an_icon_that_exists():
    pages = sorted(HTML.rglob("*.html"))
    if not pages:
        pytest.fail(f"no site in {HTML}: run `make book`")
    for page in [p for p in pages if "_static" not in p.parts][:40]:
        m = re.search(r'<link rel="icon" href="([^"]+)"', page.read_text())
        assert m, f"{page.relative_to(HTML)}: no <link rel=icon>"
        assert (page.parent / m.group(1)).resolve().is_file(), f"{page.relative_to(HTML)}: {m.group(1)} is missing"


def test_the_root_redirect_has_an_icon_a_title_and_a_link(tmp_path):
    """site_theme.write_root_redirect writes the root index.html (else sphinx-external-toc writes a bare
    meta refresh, and a browser asks for /favicon.ico). Mutants: the page without its icon link; a real
    index.html overwritten."""
    import sys
    from types import SimpleNamespace

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import site_theme

    config = SimpleNamespace(root_doc="book/intro", html_favicon="book/figures/favicon.svg",
                             html_title="Layer <Norm>", project="p")
    app = SimpleNamespace(config=config, outdir=str(tmp_path), builder=SimpleNamespace(format="html"))
    site_theme.write_root_redirect(app, None)
    text = (tmp_path / "index.html").read_text()
    assert 'url=book/intro.html' in text and '<link rel="icon" href="_static/favicon.svg">' in text
    assert "<title>Layer &lt;Norm&gt;</title>" in text and '<a href="book/intro.html">' in text
    (tmp_path / "index.html").write_text("<html>a real page</html>")
    site_theme.write_root_redirect(app, None)
    assert (tmp_path / "index.html").read_text() == "<html>a real page</html>"
    site_theme.write_root_redirect(app, RuntimeError("build failed"))  # nothing written after a failure
