"""Print the built website to one PDF with Debian's Chromium: ``make pdf``.

Serves ``_build/html`` on 127.0.0.1, opens every page of the table of contents in
headless Chromium (``/usr/bin/chromium`` through Playwright, no downloaded
browser), waits until the maths is typeset and every widget has rendered, prints
the page with print styles (no header, sidebars or navigation; light theme;
dropdowns such as the worked solutions opened, but code the website hides behind
"Show code cell source" left out, as the site already leaves out the ``glue(...)`` lines
that hand numbers to the text (book/_ext/site_theme.py); links within the site kept as text, since they would point at the
temporary server; page numbers running through the book and the page's title at the
foot of every page) and merges the pages, in reading order, into
``_build/pdf/layer-norm-book.pdf``, with a bookmark per page and, under it, one per
section (Chromium's own outline of the page's headings, from a tagged PDF). No request leaves the local
server.

Usage: python book/print_pdf.py [--html DIR] [--out FILE] [--only DOC ...]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import re
import socketserver
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
WIDGET_VIEW = 'script[type="application/vnd.jupyter.widget-view+json"]'  # one per widget output
TIMEOUT_MS = 30_000

#: Print styles: the article alone, full width, light colours, nothing interactive.
PRINT_CSS = """
@page { size: A4; margin: 16mm 14mm 18mm 14mm; }
.bd-header, .bd-header-article, .header-article, .bd-sidebar-primary, .bd-sidebar-secondary,
.prev-next-area, .prev-next-footer, footer, .bd-footer, .bd-footer-article, .bd-footer-content,
.headerlink, .copybtn, .toggle-button, .skip-link, #pst-back-to-top, .search-button-field,
.theme-switch-button, .launch-buttons, .article-header-buttons { display: none !important; }
.bd-container, .bd-container__inner, .bd-main, .bd-main .bd-content, .bd-article-container,
.bd-page-width { max-width: none !important; width: auto !important; padding: 0 !important; margin: 0 !important; }
.bd-article { padding: 0 !important; }
.bd-container, .bd-container__inner, .bd-main, .bd-content { display: block !important; }
html, body { background: #ffffff !important; }
/* Nothing wider than the paper: wrap long code lines and paths instead of clipping them. */
pre, pre * { white-space: pre-wrap !important; overflow-wrap: anywhere; }
code, a { overflow-wrap: anywhere; }
img, svg, table, .cell_output, .output { max-width: 100% !important; }
/* Code boxes print like text. The cell's box is a flex container (myst-nb's) around a <pre> that
   scrolls and must not break: Chromium left the box empty on one page and put the code on the next. */
div.cell_input, div.cell_input > div, div.cell_input div.highlight { display: block !important; }
div.cell_input > div, div.cell_input div.highlight, div.cell_input pre {
  overflow: visible !important; break-inside: auto !important; }
figure, table, .cell_output img, .jupyter-widgets { break-inside: avoid; }
div.cell_input { break-inside: avoid; }
h1, h2, h3 { break-after: avoid; }
/* Chapter 5's form, drawn inert: on paper its note speaks of paper, not of the website. */
.bd-content .lnb-kernel-only::before { content: "This form trains in Python: run the chapter's notebook in Jupyter or Colab to use it. Below, the form as the book's build left it." !important; }
"""


def toc_docs(root: Path = ROOT) -> list[str]:
    """Every document of ``_toc.yml``, in reading order (e.g. ``chapters/01_...``)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    docs = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                docs.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return docs


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def serve(directory: Path) -> tuple[_Server, str]:
    """Serve ``directory`` on a free port of 127.0.0.1; returns the server and its base URL."""
    server = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


#: Run in the page before printing: what a printed book should not carry.
PRINT_JS = """() => {
    document.documentElement.dataset.theme = 'light';
    document.documentElement.dataset.mode = 'light';
    // Code the website hides ("Show code cell source") stays hidden on paper; its outputs stay.
    document.querySelectorAll('details.hide.above-input').forEach(d => d.remove());
    document.querySelectorAll('details').forEach(d => d.open = true);
    document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
    // Links into the site would point at this temporary server: keep their text, drop the link.
    document.querySelectorAll('a[href]').forEach(a => { if (a.host === location.host) a.removeAttribute('href'); });
}"""


def page_css(first_page: int, title: str) -> str:
    """Page numbers that run through the book (this page starts at ``first_page``) and the page's title,
    in the paper margins (CSS page-margin boxes, which Chromium prints)."""
    quoted = title.replace("\\", "\\\\").replace('"', '\\"')
    return (f"html {{ counter-reset: page {first_page - 1}; }}\n"
            "@page { @bottom-right { content: counter(page); font: 9pt system-ui, sans-serif; color: #555; }\n"
            f'        @bottom-left {{ content: "{quoted}"; font: 9pt system-ui, sans-serif; color: #555; }} }}\n')


def render_page(page, url: str, first_page: int = 1) -> tuple[str, list[str]]:
    """Open ``url``, wait for maths and widgets, apply the print styles (numbering its pages from
    ``first_page``); returns (title, problems)."""
    problems: list[str] = []
    page.goto(url, wait_until="networkidle")
    waits = []
    if page.locator(WIDGET_VIEW).count():  # the widget manager adds a .widget-subarea per view it renders
        waits.append(("widgets rendered", f"document.querySelectorAll('{WIDGET_VIEW}').length === "
                                          "document.querySelectorAll('.widget-subarea').length"))
    if page.locator(".math").count():
        waits.append(("maths typeset", "Array.from(document.querySelectorAll('.math'))"
                                       ".every(m => m.querySelector('mjx-container'))"))
    for what, condition in waits:
        try:
            page.wait_for_function(condition, timeout=TIMEOUT_MS)
        except Exception as exc:  # print what there is, but say so
            problems.append(f"{url}: not {what} within {TIMEOUT_MS // 1000} s ({type(exc).__name__})")
    page.evaluate(PRINT_JS)
    title = page.title().split(" — ")[0].strip() or url
    page.add_style_tag(content=PRINT_CSS + page_css(first_page, title))
    page.emulate_media(media="print", color_scheme="light")
    page.wait_for_timeout(300)
    return title, problems


def clean_heading(title: str) -> str:
    """A heading as Chromium's outline gives it, tidied: some come doubled ("1.2. 1.2. TitleTitle")."""
    title = " ".join(title.replace("#", " ").split())
    doubled = re.fullmatch(r"(\d+(?:\.\d+)*\.\s)\1(.+)\2", title)
    if doubled:
        return doubled.group(1) + doubled.group(2)
    half = len(title) // 2
    return title[:half] if len(title) % 2 == 0 and title[:half] == title[half:] else title


def headings(reader) -> list[tuple[int, str, int]]:
    """(depth, title, page index) of the sections in a page's PDF outline (Chromium's, from the headings
    of a tagged PDF): below the page's own title (h1), without the theme's "Contents" heading."""
    out = []

    def walk(items, depth):
        for k, item in enumerate(items):
            if isinstance(item, list):
                walk(item, depth + 1)
                continue
            title = clean_heading(item.title)
            if depth >= 1 and title and title != "Contents":
                out.append((depth - 1, title, reader.get_destination_page_number(item)))

    walk(reader.outline, 0)
    return out


def print_book(html: Path, out: Path, docs: list[str]) -> dict:
    """Print ``docs`` of the site in ``html`` into ``out``; returns a summary (pages, bytes, seconds)."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader, PdfWriter

    missing = [d for d in docs if not (html / f"{d}.html").exists()]
    if missing:
        raise SystemExit(f"not in {html}: {missing} (run `make book` first)")
    start = time.monotonic()
    server, base = serve(html)
    writer, problems, external = PdfWriter(), [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            context = browser.new_context(viewport={"width": 1100, "height": 1400}, color_scheme="light")

            def route(r):
                u = urlparse(r.request.url)
                if u.scheme in ("blob", "data") or u.hostname == "127.0.0.1":
                    r.continue_()
                else:
                    external.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            page = context.new_page()
            for doc in docs:
                first = len(writer.pages)
                title, page_problems = render_page(page, f"{base}/{doc}.html", first + 1)
                problems += page_problems
                pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True,
                               outline=True, tagged=True)
                reader = PdfReader(io.BytesIO(pdf))
                writer.append(reader, import_outline=False)
                parent = writer.add_outline_item(title=title, page_number=first)
                for depth, heading, number in headings(reader):  # the sections, under the page's bookmark
                    node = writer.add_outline_item(title=heading, page_number=first + number,
                                                   parent=parent if depth == 0 else last[depth - 1])
                    last = {**(last if depth else {}), depth: node}
                print(f"  {doc}: {len(writer.pages) - first} pages", flush=True)
            browser.close()
    finally:
        server.shutdown()
    writer.add_metadata({"/Title": "Layer Normalization, an interactive book"})
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        writer.write(f)
    for problem in problems + [f"blocked non-local request {u}" for u in external]:
        print(f"WARNING: {problem}", file=sys.stderr)
    return {"pages": len(writer.pages), "bytes": out.stat().st_size, "seconds": time.monotonic() - start,
            "problems": problems, "external": external}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf" / "layer-norm-book.pdf")
    parser.add_argument("--only", nargs="+", metavar="DOC", help="print these documents only (e.g. book/notation)")
    args = parser.parse_args(argv)
    docs = args.only or toc_docs()
    summary = print_book(args.html, args.out, docs)
    print(f"Wrote {args.out}: {summary['pages']} pages, {summary['bytes'] / 1e6:.1f} MB, "
          f"{len(docs)} documents in {summary['seconds']:.0f} s")
    return 1 if summary["problems"] or summary["external"] else 0


if __name__ == "__main__":
    sys.exit(main())
