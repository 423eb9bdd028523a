"""book/_ext/chapter_byline.py: the byline, date and "Cite this chapter" box of every chapter page (issue 19).
The pages themselves are checked in test_site.py (test_chapters_have_a_byline_and_a_citation)."""

import datetime
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import chapter_byline as cb  # noqa: E402


def test_bibtex_entry_is_one_balanced_incollection():
    date = datetime.date(2026, 12, 7)
    entry = cb.bibtex_entry("lnbook-06", title="Feed-forward {and} convolutional \\nets", number="6",
                            book="Layer Normalization", author="The authors", date=date)
    assert entry.startswith("@incollection{lnbook-06,\n") and entry.endswith("\n}")
    assert entry.count("{") == entry.count("}")  # the title's braces and backslash are gone
    fields = dict(re.findall(r"^  (\w+)\s+= \{(.*)\},?$", entry, re.M))
    assert fields["title"] == "Feed-forward and convolutional nets"
    assert fields["booktitle"] == "Layer Normalization: an interactive book"
    assert fields["author"] == "{The authors}"  # one corporate author, not "The" and "authors"
    assert fields["chapter"] == "6" and fields["year"] == "2026" and fields["note"] == "Version of 2026-12-07"


def test_last_changed_is_the_last_commit_or_today():
    chapter = sorted((ROOT / "chapters").glob("01_*.ipynb"))[0]
    when = cb.last_changed(chapter)
    assert datetime.date(2026, 1, 1) <= when <= datetime.date.today()
    assert cb.last_changed(Path("/nonexistent/dir/file.ipynb")) == datetime.date.today()


def test_byline_and_box_escape_and_link():
    date = datetime.date(2026, 3, 1)
    line = cb.byline_html("A & B", date)
    assert "A &amp; B" in line and '<time datetime="2026-03-01">1 March 2026</time>' in line
    assert 'href="#lnb-cite"' in line
    box = cb.cite_html("@x{y}", title="<T>", number="2", book="Book", author="A", date=date)
    assert box.startswith('<details class="lnb-cite" id="lnb-cite">') and "&lt;T&gt;" in box
