"""The explorables on the built chapters (issue 19): text of 12 CSS px or more, wide on a laptop, clear of the TOC.

For every explorable of every chapter page, at 1280 and 390 px: the smallest text of its figures on the screen
(the computed font size times the scale of its SVG, tests/explorable_page.py's MIN_TEXT_JS) is at least 12 px.
At 1280 px the explorable leaves the text column for the article's side padding (lib.css: up to 960 px) and
ends before the right-hand table of contents begins.
"""

from __future__ import annotations

import pytest

from explorable_page import MIN_TEXT_JS, in_chromium
from test_site import DESKTOP, PHONE, explorable_docs, open_page

pytestmark = [pytest.mark.site, pytest.mark.browser]

MIN_TEXT_PX = 12.0
READY = "Array.from(document.querySelectorAll('.lnb-explorable')).every(e => e.dataset.lnbResult)"
GEOMETRY = """() => {
  const box = (s) => { const e = document.querySelector(s); if (!e) return null;
    const b = e.getBoundingClientRect(); return b.width ? { left: b.left, right: b.right, width: b.width } : null; };
  return { toc: box('.bd-sidebar-secondary'), column: box('.bd-article .cell_output'),
           roots: Array.from(document.querySelectorAll('.lnb-explorable')).map(e => {
             const b = e.getBoundingClientRect(); return { kind: e.dataset.lnbKind, left: b.left, right: b.right, width: b.width }; }) };
}"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["laptop", "phone"])
@pytest.mark.parametrize("doc", explorable_docs())
def test_explorable_text_is_12_px_and_wide_screens_give_room(server, doc, viewport):
    # its own browser in its own thread: test_site.py's session browser may be open in this process
    def measure(browser):
        visit = open_page(browser, f"{server}/{doc}.html", viewport=viewport)
        page = visit.page
        page.wait_for_function(READY, timeout=20_000)
        sizes = page.evaluate(f"({MIN_TEXT_JS})(Array.from(document.querySelectorAll('.lnb-explorable')))")
        geometry = page.evaluate(GEOMETRY)
        page.context.close()
        return visit, sizes, geometry

    visit, sizes, geometry = in_chromium(measure)
    print("\n" + "\n".join(f"{doc} at {viewport['width']} px: {s['kind']}: smallest SVG text {s['min']:.2f} px, "
                           f"card {s['width']:.0f} px" for s in sizes))
    small = [s for s in sizes if s["min"] is None or s["min"] < MIN_TEXT_PX]
    assert not small, "\n".join(f"{s['kind']}: {s['min']} px ({s['which']})" for s in small)
    if viewport is DESKTOP:
        toc, column = geometry["toc"], geometry["column"]
        for root in geometry["roots"]:
            if toc:
                assert root["right"] <= toc["left"] + 0.5, f"{root['kind']} overlaps the contents: {root}, {toc}"
            assert root["width"] <= 960.5, root
            if column:  # out of the text column, into the article's padding
                assert root["width"] > column["width"], (root, column)
    assert visit.page_errors == [] and visit.console_errors == [], (visit.page_errors, visit.console_errors)
