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
