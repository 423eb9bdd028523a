"""book/print_pdf.py (`make pdf`): the reading order it prints, and one page printed for real."""

from __future__ import annotations

import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "book"))
import print_pdf  # noqa: E402


def test_prints_the_table_of_contents_in_reading_order(tmp_path):
    """Against the order of the ``root:``/``file:`` lines in ``_toc.yml``, read as text (not the same walk
    of the parsed YAML, which conftest.toc_files copies), and on a nested table of contents.

    Mutant: ``toc_docs`` appending a document after its sections (or skipping sections) fails.
    """
    def by_lines(text):
        return re.findall(r"^\s*(?:-\s*)?(?:root|file):\s*(\S+)\s*$", text, re.M)

    real = (ROOT / "_toc.yml").read_text()
    assert print_pdf.toc_docs() == by_lines(real)
    chapters = [d for d in print_pdf.toc_docs() if d.startswith("chapters/")]
    assert chapters == sorted(chapters) and len(chapters) >= 9
    nested = ("format: jb-book\nroot: intro\nparts:\n  - caption: A\n    chapters:\n      - file: a\n"
              "        sections:\n          - file: a1\n            sections:\n              - file: a1x\n"
              "          - file: a2\n      - file: b\n  - caption: B\n    chapters:\n      - file: c\n")
    (tmp_path / "_toc.yml").write_text(nested)
    assert print_pdf.toc_docs(tmp_path) == by_lines(nested) == ["intro", "a", "a1", "a1x", "a2", "b", "c"]


@pytest.mark.site
@pytest.mark.browser
def test_prints_a_page_with_typeset_maths(site, tmp_path):
    """Two small pages (maths; links to other pages) printed: a real PDF with the typeset text."""
    from pypdf import PdfReader

    out = tmp_path / "one.pdf"
    summary = print_pdf.print_book(site, out, ["book/notation", "book/how-to-use"])
    assert summary["problems"] == [] and summary["external"] == []
    reader = PdfReader(out)
    assert len(reader.pages) == summary["pages"] >= 2
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Notation" in text
    assert "\\mathbb" not in text and "$" not in text, "raw TeX in the PDF: MathJax had not typeset the page"
    top = [item.title for item in reader.outline if not isinstance(item, list)]
    assert top == ["Notation", "How to use this book"]  # a bookmark a page (sections nest under it)
    uris = [a.get_object()["/A"].get("/URI", "") for page in reader.pages for a in page.get("/Annots", [])
            if "/A" in a.get_object()]
    assert not [u for u in uris if "127.0.0.1" in u], "links to the temporary print server left in the PDF"


@pytest.mark.site
@pytest.mark.browser
def test_a_printed_chapter_reads_as_a_book(site, tmp_path):
    """A chapter after another page: page numbers that run on from the first page, section bookmarks
    under the chapter's, no "Show code cell source" toggle or hidden code, no glue(...) plumbing."""
    from pypdf import PdfReader

    chapter = "chapters/01_from_batch_norm_to_layer_norm"
    out = tmp_path / "chapter.pdf"
    summary = print_pdf.print_book(site, out, ["book/notation", chapter])
    assert summary["problems"] == [] and summary["external"] == []
    reader = PdfReader(out)
    feet = [[m.group(1) for m in re.finditer(r"^\s*(?:Notation|1\. From batch norm to layer norm)\s+(\d+)\s*$",
                                             page.extract_text(extraction_mode="layout"), re.M)]
            for page in reader.pages]  # the running foot: the page's title, then its number
    assert feet == [[str(k)] for k in range(1, len(reader.pages) + 1)], feet
    top = [item for item in reader.outline if not isinstance(item, list)]
    sections = [item for group in reader.outline if isinstance(group, list) for item in group
                if not isinstance(item, list)]
    assert [t.title for t in top] == ["Notation", "1. From batch norm to layer norm"]
    assert "1.7. Exercises" in [s.title for s in sections] and all(s.title.startswith("1.") for s in sections)
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "code cell source" not in text and "glue(" not in text
    # no page that is only a code cell's empty box and the running foot (issue 18's trial: p. 47, before
    # chapter 1's make_deep_mlp cell; mutant: break-inside: avoid on the cell's <pre> instead of its box)
    bodies = [re.sub(r"(Notation|1\. From batch norm to layer norm)\s+\d+\s*$", "", page.extract_text().strip())
              for page in reader.pages]
    assert all(len(b.strip()) > 40 for b in bodies), [k + 1 for k, b in enumerate(bodies) if len(b.strip()) <= 40]
    source = (site / f"{chapter}.html").read_text()
    assert "Show code cell source" in source  # the page has toggles; its notebook has glue (the site drops it)
    assert "glue(" in (ROOT / f"{chapter}.ipynb").read_text()


@pytest.mark.site
@pytest.mark.browser
def test_printed_code_drops_glue_inside_blocks_too(site, tmp_path):
    """Chapter 4 glues inside an ``if`` and from loops that only glue: none of it is printed, the code
    around it is (issue 18's trial found ~30 such lines on 13 pages). The site drops them when it is built
    (book/_ext/site_theme.py), so the printer prints what the page shows. Mutant: the old rule, which
    dropped only lines starting with ``glue(``, prints ``glue("ch4_gelfand_300", ...)``."""
    from pypdf import PdfReader

    chapter = "chapters/04_rnn_dynamics"
    assert (ROOT / f"{chapter}.ipynb").read_text().count("glue(") > 10  # the notebook has them, nested too
    out = tmp_path / "chapter.pdf"
    form = "chapters/05_training_ln_rnns"  # and chapter 5, whose inert form had a website's note on paper
    summary = print_pdf.print_book(site, out, [chapter, form])
    assert summary["problems"] == [] and summary["external"] == []
    text = " ".join(page.extract_text() for page in PdfReader(out).pages)
    assert "glue(" not in text and "ch4_" not in text
    assert "rates" in text and "for rho in" in text  # the loop around the dropped `if rho == 1.1: glue(...)`
    flat = " ".join(text.split())
    assert "this website" not in flat and "run the chapter's notebook in Jupyter or Colab to use it" in flat
