"""A byline, a date and a "Cite this chapter" box on every chapter page (issue 19).

Under each chapter's title: who wrote it (``author`` in ``_config.yml``), the
date its source last changed (``git log`` of the notebook; the build's date when
git cannot say) and a link to the citation. At the end of the chapter, a
folded "Cite this chapter" box: one line of text and a BibTeX entry
(``@incollection``, the chapter's number and title in the book). The page's own
address is not known when the site is built (it depends on where it is
published), so ``lnb-site.js`` writes it into the entry, from ``location``, when
the page is read; without JavaScript the entry has no ``url`` field.
"""

from __future__ import annotations

import datetime
import html
import re
import subprocess
from pathlib import Path

__all__ = ["last_changed", "bibtex_entry", "byline_html", "cite_html"]

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def last_changed(path: Path) -> datetime.date:
    """The date of the last commit that changed ``path`` (``git log``), or today if git cannot say."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cs", "--", path.name], cwd=path.parent,
                             capture_output=True, text=True, timeout=20).stdout.strip()
        return datetime.date.fromisoformat(out)
    except (OSError, ValueError, subprocess.SubprocessError):
        return datetime.date.today()


def _bib(text: str) -> str:
    """``text`` for a BibTeX field in braces: braces and backslashes escaped away, one line."""
    return " ".join(text.replace("\\", "").replace("{", "").replace("}", "").split())


def bibtex_entry(key: str, *, title: str, number: str, book: str, author: str, date: datetime.date) -> str:
    """A BibTeX ``@incollection`` for one chapter (no ``url``: the page adds it)."""
    fields = [("title", _bib(title)), ("booktitle", _bib(book) + ": an interactive book"),
              ("author", "{" + _bib(author) + "}"), ("chapter", _bib(number)), ("year", str(date.year)),
              ("note", f"Version of {date.isoformat()}")]
    body = ",\n".join(f"  {name:<9} = {{{value}}}" for name, value in fields if value)
    return f"@incollection{{{key},\n{body}\n}}"


def _human(date: datetime.date) -> str:
    return f"{date.day} {MONTHS[date.month - 1]} {date.year}"


def byline_html(author: str, date: datetime.date) -> str:
    return (f'<p class="lnb-byline">By {html.escape(author)} · updated '
            f'<time datetime="{date.isoformat()}">{_human(date)}</time> · '
            f'<a href="#lnb-cite">Cite this chapter</a></p>')


def cite_html(entry: str, *, title: str, number: str, book: str, author: str, date: datetime.date) -> str:
    text = (f"{html.escape(author)} ({date.year}). “{html.escape(title)}”. Chapter {html.escape(number)} of "
            f"<em>{html.escape(book)}</em>, an interactive book. Version of {date.isoformat()}."
            ' <span class="lnb-cite-url"></span>')
    return (f'<details class="lnb-cite" id="lnb-cite"><summary>Cite this chapter</summary>'
            f'<p>{text}</p><pre class="lnb-cite-bibtex">{html.escape(entry)}</pre></details>')


def add_byline(app, pagename, templatename, context, doctree) -> None:
    """html-page-context: the byline after a chapter's title, the citation box at its end."""
    body = context.get("body")
    if not body or not pagename.startswith("chapters/") or doctree is None:
        return
    numbers = app.builder.env.toc_secnumbers.get(pagename, {}).get("")
    number = ".".join(map(str, numbers)) if numbers else ""
    title = re.sub(r"<[^>]+>", "", context.get("title", "")).strip()
    title = re.sub(r"^\d+(\.\d+)*\.?\s+", "", title)  # the section number goes in its own field
    author, book = app.config.author, app.config.html_title or app.config.project
    date = last_changed(Path(app.env.doc2path(pagename)))
    key = "lnbook-" + re.sub(r"[^a-z0-9]+", "-", Path(pagename).name.lower()).strip("-")
    entry = bibtex_entry(key, title=title, number=number, book=book, author=author, date=date)
    head = re.search(r"</h1>", body)
    if head is None:
        return
    body = body[:head.end()] + byline_html(author, date) + body[head.end():]
    context["body"] = body + cite_html(entry, title=title, number=number, book=book, author=author, date=date)


def setup(app):
    app.connect("html-page-context", add_byline)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
