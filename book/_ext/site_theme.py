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
* the execution table's ✅/❌ (myst-nb) become ✓/✗, which every text font has;
* search snippets: TeX source of formulas made readable.

The files live in their own folder (not the book's ``_static``, whose every
js/css Jupyter Book injects into every page) and are added explicitly here.
"""

from __future__ import annotations

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


def setup(app):
    app.connect("config-inited", add_static_path)
    app.connect("doctree-resolved", plain_exec_marks)
    # After the theme's own files, so that equal-specificity rules here win.
    app.add_css_file("lnb-site.css", priority=900)
    app.add_js_file("lnb-site.js", priority=900, loading_method="defer")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
