"""The website's own styles and behaviour, on top of the book theme.

Adds ``site_static/lnb-site.css`` and ``site_static/lnb-site.js`` (both
commented) to every page. They fix what the theme does not do for this book:

* dark mode: no light frame around widget outputs and HTML tables (the theme
  paints every ``.text_html`` / ``.widget-subarea`` output light grey), and
  figures on a plain white card;
* narrow screens: display equations and wide tables scroll inside their own
  box, with a visible affordance, instead of being clipped or widening the page;
* kernel-only forms (``.lnb-kernel-only``, e.g. chapter 5's "Your turn"): shown
  dimmed, with a note, and taken out of the pointer and keyboard order, since
  no Python kernel runs behind the static site;
* the execution table's ✅/❌ (myst-nb) become ✓/✗, which every text font has,
  and its long document paths may wrap, so the table fits the column;
* search snippets: TeX source of formulas made readable;
* code cells show no ``glue(...)`` calls: they hand numbers to the prose, build
  plumbing that made a reader's phone scroll sideways (the same rule as the
  reader notebooks and the PDF: ``reader_notebooks.strip_glue``); a cell that only
  glued shows no code;
* accessibility of markup from Sphinx and the theme (axe-core, tests/test_site.py):
  bibliography entries are list items (Sphinx writes ``role="doc-biblioentry"``,
  a role ARIA 1.2 deprecated, inside ``role="list"``); the hide-input toggles are
  named by their visible text ("Show code cell source"), not "Toggle hidden
  content"; pages with explorables get skip links to each (lnb-site.js).

The files live in their own folder (not the book's ``_static``, whose every
js/css Jupyter Book injects into every page) and are added explicitly here.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from docutils import nodes

STATIC = Path(__file__).with_name("site_static")

#: myst-nb's execution-table marks -> marks every text font has (no emoji font needed).
EXEC_MARKS = {"✅": "✓ yes", "❌": "✗ no"}


def add_static_path(app, config) -> None:
    """config-inited: serve site_static/ from _static/."""
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def plain_exec_marks(app, doctree, docname) -> None:
    """doctree-resolved: in tables, replace the emoji marks of ``{nb-exec-table}``."""
    for table in doctree.findall(nodes.table):
        for text in list(table.findall(nodes.Text)):
            if text.astext() in EXEC_MARKS:
                text.parent.replace(text, nodes.Text(EXEC_MARKS[text.astext()]))
                if "lnb-exec-table" not in table["classes"]:
                    table["classes"].append("lnb-exec-table")  # styled in lnb-site.css


def hide_glue_calls(app, doctree, docname) -> None:
    """doctree-resolved: a code cell's shown source without its ``glue(...)`` statements
    (:func:`reader_notebooks.strip_glue`), nor the assignments that only fed them
    (:func:`reader_notebooks.glue_only_names`); a cell's input that was only glue goes, outputs stay."""
    from reader_notebooks import glue_only_names, strip_glue

    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb":
        return
    cells = json.loads(path.read_text(encoding="utf8"))["cells"]
    glue_only = glue_only_names(["".join(c["source"]) for c in cells if c["cell_type"] == "code"])
    for block in list(doctree.findall(nodes.literal_block)):
        box = block.parent
        if not (isinstance(box, nodes.container) and "cell_input" in box.get("classes", [])):
            continue
        source = block.astext()
        try:
            code = strip_glue(source.rstrip("\n"), glue_only)
        except SyntaxError:  # not Python: shown as it is
            continue
        if code == source.rstrip("\n"):
            continue
        if code.strip():
            block.children = [nodes.Text(code)]
            block.rawsource = code
        else:
            cell = box.parent
            cell.remove(box)
            if not cell.children:
                cell.parent.remove(cell)


#: Exact strings in a page's body -> their accessible replacement.
BODY_FIXES = {
    'role="doc-biblioentry"': 'role="listitem"',
    '<summary aria-label="Toggle hidden content">': "<summary>",
}


def accessible_body(app, pagename, templatename, context, doctree) -> None:
    """html-page-context: apply :data:`BODY_FIXES` to the page's body."""
    body = context.get("body")
    if body:
        for old, new in BODY_FIXES.items():
            body = body.replace(old, new)
        context["body"] = body


def write_root_redirect(app, exception) -> None:
    """build-finished, before sphinx-external-toc's own: ``index.html`` at the site's root, sending the
    browser to the root page, with a title, the icon (else the browser asks for a missing
    ``/favicon.ico``) and a link for a reader whose browser does not follow the redirect."""
    if exception is not None or app.builder.format != "html":
        return
    root = app.config.root_doc
    index = Path(app.outdir) / "index.html"
    if root == "index" or (index.exists() and "http-equiv=\"Refresh\"" not in index.read_text(encoding="utf8")):
        return
    target = f"{root}.html"
    icon = f'<link rel="icon" href="_static/{Path(app.config.html_favicon).name}">' if app.config.html_favicon else ""
    title = html.escape(app.config.html_title or app.config.project)
    index.write_text(
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Refresh" content="0; url={target}">{icon}<title>{title}</title></head>\n'
        f'<body><p><a href="{target}">{title}</a></p></body></html>\n', encoding="utf8")


def setup(app):
    app.connect("config-inited", add_static_path)
    app.connect("build-finished", write_root_redirect, priority=400)
    app.connect("doctree-resolved", plain_exec_marks)
    app.connect("doctree-resolved", hide_glue_calls)
    app.connect("html-page-context", accessible_body)
    # After the theme's own files, so that equal-specificity rules here win.
    app.add_css_file("lnb-site.css", priority=900)
    app.add_js_file("lnb-site.js", priority=900, loading_method="defer")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
