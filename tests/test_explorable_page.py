"""Every explorable in a standalone page (tests/explorable_page.py), without building the book.

Issue 19: the text of every explorable's figures is at least 12 CSS px on the screen, on a laptop (1280 px)
and on a phone (390 px): its font size times the scale its SVG is drawn at. The standalone page holds each
explorable in its default state in a column like the book's; tests/test_site_text_size.py measures the same
on the built chapters, where the theme's column and the wide-screen breakout apply.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

MIN_TEXT_PX = 12.0
VIEWPORTS = {"laptop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("where", sorted(VIEWPORTS))
def test_every_explorable_draws_its_text_at_12_px_or_more(tmp_path, where):
    from explorable_page import MIN_TEXT_JS, in_chromium, open_standalone, serve, write_page
    from helpers.widgets import Explorable

    kinds = sorted(Explorable.registry)
    write_page(tmp_path, [Explorable.registry[k]() for k in kinds], title="every explorable")

    def measure(chromium):
        with serve(tmp_path) as url:
            page, errors = open_standalone(chromium, url + "/index.html", len(kinds), VIEWPORTS[where])
            sizes = page.evaluate(f"({MIN_TEXT_JS})(Array.from(document.querySelectorAll('.lnb-explorable')))")
            sideways = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            page.context.close()
        return sizes, sideways, errors

    sizes, sideways, errors = in_chromium(measure)
    print("\n" + "\n".join(f"{where}: {s['kind']}: smallest SVG text {s['min']:.2f} px" for s in sizes))
    assert sorted(s["kind"] for s in sizes) == kinds
    small = [s for s in sizes if s["min"] is None or s["min"] < MIN_TEXT_PX]
    assert not small, "\n".join(f"{s['kind']}: {s['min']} px ({s['which']})" for s in small)
    assert sideways <= 0, f"the page scrolls sideways by {sideways} px"
    assert errors == [], errors
