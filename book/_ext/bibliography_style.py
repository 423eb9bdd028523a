"""Author–year bibliography for the book, with links back to the citations.

The text cites author–year ("Ba et al. (2016)", sphinxcontrib-bibtex's
``author_year`` reference style), so the bibliography labels its entries the
same way instead of with pybtex's alpha labels ("[BKH16]"):

* :class:`AuthorYearLabels`, a pybtex label style: "Ba et al. 2016", "Ioffe and
  Szegedy 2015", "Salimans and Kingma 2016"; a letter separates two works with
  the same label ("2016a", "2016b");
* :class:`AuthorYearStyle`, pybtex's ``unsrt`` formatting with those labels,
  sorted by author, year and title, registered as ``lnb_author_year`` (select it
  with ``bibtex_default_style: lnb_author_year``).

sphinxcontrib-bibtex links a bibliography entry back to its citations only
within one page; the book cites from the chapters, so :func:`add_backlinks`
appends "Cited in: ..." to every entry, one link per citing place.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from docutils import nodes
from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle

STYLE_NAME = "lnb_author_year"


def _last_name(person) -> str:
    """A person's surname as plain text (TeX accents and braces decoded)."""
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


class AuthorYearLabels(BaseLabelStyle):
    """Labels "Surname Year", "A and B Year", "A et al. Year", unique within a bibliography."""

    def format_label(self, entry) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_last_name(p) for p in persons]
        if not names:
            who = entry.fields.get("organization") or entry.fields.get("title", entry.key)
            who = Text.from_latex(who).render_as("text")
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} and {names[1]}"
        else:
            who = f"{names[0]} et al."
        return f"{who} {entry.fields.get('year', 'n.d.')}"

    def format_labels(self, sorted_entries):
        labels = [self.format_label(e) for e in sorted_entries]
        total, seen = Counter(labels), Counter()
        for label in labels:
            if total[label] > 1:
                seen[label] += 1
                label += "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            yield label


class AuthorYearStyle(UnsrtStyle):
    """pybtex's unsrt entries, author–year labels, sorted by author, year, title."""

    default_label_style = STYLE_NAME
    default_sorting_style = "author_year_title"


def add_backlinks(app, doctree, docname) -> None:
    """doctree-resolved: after each bibliography entry, links to where it is cited."""
    domain = app.env.get_domain("cite")
    key_of = {c.citation_id: c.key for c in domain.citations}
    places = defaultdict(list)  # key -> [(docname, id of the citation reference)]
    for ref in domain.citation_refs:
        for target in ref.targets:
            places[target.key].append((ref.docname, ref.citation_ref_id))
    order = {d: i for i, d in enumerate(_reading_order(app))}
    for citation in doctree.findall(nodes.citation):
        key = next((key_of[i] for i in citation["ids"] if i in key_of), None)
        if not places.get(key):
            continue
        para = nodes.paragraph(classes=["lnb-cited-in"])
        para += nodes.Text("Cited in: ")
        by_doc = defaultdict(list)
        for doc, ref_id in places[key]:
            by_doc[doc].append(ref_id)
        for k, doc in enumerate(sorted(by_doc, key=lambda d: order.get(d, len(order)))):
            if k:
                para += nodes.Text("; ")
            title = app.env.titles[doc].astext() if doc in app.env.titles else doc
            base = app.builder.get_relative_uri(docname, doc)
            for n, ref_id in enumerate(by_doc[doc]):
                text = title if n == 0 else f"({n + 1})"
                if n:
                    para += nodes.Text(" ")
                para += nodes.reference("", text, internal=True, refuri=f"{base}#{ref_id}",
                                        reftitle=f"citation {n + 1} in {title}")
        citation += para


def _reading_order(app) -> list[str]:
    """Documents in table-of-contents order (the master doc first)."""
    seen, out = set(), []

    def walk(doc):
        if doc in seen:
            return
        seen.add(doc)
        out.append(doc)
        for child in app.env.toctree_includes.get(doc, []):
            walk(child)

    walk(app.config.root_doc)
    return out


def setup(app):
    register_plugin("pybtex.style.labels", STYLE_NAME, AuthorYearLabels)
    register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearStyle)
    app.connect("doctree-resolved", add_backlinks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
