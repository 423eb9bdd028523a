"""Explorables in a standalone page, without building the book.

:func:`write_page` writes an HTML page holding the saved state of some
explorables (as myst-nb writes a page: one ``widget-state+json`` script and a
``widget-view+json`` script per view) and the site's own loader,
``book/_ext/lean_static/lnb-widgets.js``, which mounts them as on the website.
:func:`serve` serves such a folder on 127.0.0.1; :func:`open_standalone`
opens it in headless Chromium. The browser tests of the explorables use this
route to check JavaScript against Python, text sizes and timings of an
explorable that no chapter shows yet, or before the book is built.

:data:`MIN_TEXT_JS` measures the smallest text in an explorable's SVGs in CSS
pixels (the font size times the SVG's scale on the screen), which
``tests/test_site.py`` and ``tests/test_explorable_page.py`` assert against.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import uuid
from pathlib import Path

from conftest import ROOT

sys.path.insert(0, str(ROOT / "book"))
import print_pdf  # noqa: E402  (its serve(): one quiet local server for the book's browser code)

LOADER = ROOT / "book" / "_ext" / "lean_static" / "lnb-widgets.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

#: The text column of a chapter page, roughly as the theme lays it out (the site tests use the real one).
PAGE_CSS = """
body { margin: 0; font-family: system-ui, sans-serif; }
main { max-width: 760px; margin: 0 auto; padding: 0 16px; }
"""

#: For each explorable root, the smallest text of its SVGs in CSS px: the computed font size times the
#: scale of the text's screen transform (getScreenCTM: the viewBox to pixels, any transform on the way),
#: cross-checked with the height of the text's box; with the text, its class and the SVG's scale.
MIN_TEXT_JS = """roots => roots.map(root => {
  let min = Infinity, which = null;
  for (const t of root.querySelectorAll('svg text')) {
    if (!t.textContent.trim() || !t.getClientRects().length) continue;
    const m = t.getScreenCTM();
    const scale = m ? Math.sqrt(Math.abs(m.a * m.d - m.b * m.c)) : 1;
    const size = parseFloat(getComputedStyle(t).fontSize) * scale;
    if (size < min) {
      min = size;
      which = { text: t.textContent.slice(0, 30), cls: t.getAttribute('class') || '', scale,
                font: parseFloat(getComputedStyle(t).fontSize), box: t.getBoundingClientRect().height };
    }
  }
  return { kind: root.dataset.lnbKind, min: Number.isFinite(min) ? min : null, which,
           width: root.getBoundingClientRect().width };
})"""


def page_html(widgets, title: str = "explorables", css: str = PAGE_CSS) -> str:
    """The HTML of a page showing ``widgets`` (anywidget instances) one after the other."""
    state, views = {}, []
    for w in widgets:
        model_id = uuid.uuid4().hex
        s = w.get_state()
        s.pop("layout", None)
        state[model_id] = {"model_name": "AnyModel", "model_module": "anywidget",
                           "model_module_version": "*", "state": s}
        views.append(f'<div class="cell_output"><script type="application/vnd.jupyter.widget-view+json">'
                     f'{json.dumps({"version_major": 2, "version_minor": 0, "model_id": model_id})}</script></div>')
    saved = json.dumps({"version_major": 2, "version_minor": 0, "state": state}).replace("</", "<\\/")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{title}</title>'
            f"<style>{css}</style></head><body><main><h1>{title}</h1>\n" + "\n".join(views) +
            f'\n</main><script type="application/vnd.jupyter.widget-state+json">{saved}</script>'
            '<script type="module" src="lnb-widgets.js"></script></body></html>\n')


def write_page(folder: Path, widgets, name: str = "index.html", **kwargs) -> Path:
    """Write :func:`page_html` of ``widgets`` and the loader into ``folder``; returns the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(LOADER, folder / "lnb-widgets.js")
    path = folder / name
    path.write_text(page_html(widgets, **kwargs))
    return path


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 (a free port; ``make pdf``'s quiet threaded server); yields the base URL."""
    srv, url = print_pdf.serve(folder)
    try:
        yield url
    finally:
        srv.shutdown()
        srv.server_close()


READY = "document.querySelectorAll('.lnb-explorable[data-lnb-result]').length === {n}"


def open_standalone(browser, url: str, n: int, viewport: dict, touch: bool = False):
    """A fresh page at ``url`` once its ``n`` explorables have drawn; returns (page, errors)."""
    context = browser.new_context(viewport=viewport, has_touch=touch, is_mobile=touch)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url, wait_until="networkidle")
    page.wait_for_function(READY.format(n=n), timeout=20_000)
    return page, errors


#: Times (ms) of ``n`` updates of the explorable ``root`` driven by one of its sliders (``aria``, a substring of its
#: accessible name): each from the input event to the new result drawn and laid out (a MutationObserver sees
#: ``data-lnb-result`` change; the callback forces layout). The slider alternates between its two ends and its middle.
UPDATE_TIMES_JS = """async ([root, aria, n]) => {
  const slider = Array.from(root.querySelectorAll('input[type=range]')).find(s => (s.getAttribute('aria-label') || '').includes(aria));
  const lo = Number(slider.min), hi = Number(slider.max), mid = Math.round((lo + hi) / 2);
  const values = [hi, mid, lo, mid];
  const times = [];
  for (let k = 0; k < n; k++) {
    const done = new Promise(resolve => {
      const mo = new MutationObserver(() => { root.getBoundingClientRect(); mo.disconnect(); resolve(performance.now()); });
      mo.observe(root, { attributes: true, attributeFilter: ['data-lnb-result'] });
    });
    slider.value = String(values[k % values.length] === Number(slider.value) ? lo : values[k % values.length]);
    const t0 = performance.now();
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    times.push((await done) - t0);
    await new Promise(r => setTimeout(r, 5));
  }
  return times;
}"""


def in_chromium(fn, *args):
    """``fn(browser, *args)`` in headless Chromium, run in a thread of its own; returns what ``fn`` returns.

    Playwright's sync API allows one running instance per thread, and tests/test_site.py keeps its
    session-wide browser open in the main thread (under pytest-xdist, in each worker): a second
    ``sync_playwright()`` there fails ("Sync API inside the asyncio loop"). A thread of its own gives
    these tests their own, whatever ran before. Exceptions (a failed assert included) are raised here.
    Skipped without Playwright or Chromium (a failure under CI=true).
    """
    import concurrent.futures

    from conftest import import_or_missing, missing_tool

    playwright = import_or_missing("playwright.sync_api", "pip install -r requirements.txt (playwright)")
    if not Path(CHROMIUM).exists():
        missing_tool(CHROMIUM, "run `make browser-deps` (apt-get install chromium)")

    def run():
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                return fn(browser, *args)
            finally:
                browser.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
