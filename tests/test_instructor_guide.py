"""The instructor guide: its dependency figure, its run-time table and the build-time measurements."""

from __future__ import annotations

import re
import subprocess
import sys
import types
import xml.etree.ElementTree as ET

import nbformat
import pytest

from conftest import ROOT, chapter_notebooks, toc_files

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import course_facts  # noqa: E402

GUIDE = ROOT / "book" / "instructor-guide.md"
FIGURE = ROOT / "book" / "figures" / "chapter-dependencies.svg"


def prerequisites() -> dict[int, set[int]]:
    """Chapter number -> the chapters its "**Prerequisites:**" sentence names."""
    found = {}
    for path in chapter_notebooks():
        number = int(path.name[:2])
        text = " ".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        m = re.search(r"\*\*Prerequisites:\*\*(.*?)Symbols\s+follow", text, re.S)
        assert m, f"{path.name}: no '**Prerequisites:** ... Symbols follow' sentence to read"
        found[number] = {int(n) for group in re.findall(r"chapters? (\d(?:(?:, | and )\d)*)", m.group(1))
                         for n in re.findall(r"\d", group)}
    return found


def transitive_reduction(graph: dict[int, set[int]]) -> set[tuple[int, int]]:
    """Edges (before, after) that no longer path implies."""
    def reach(start, skip_edge):
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            for before in graph.get(node, ()):
                if (before, node) != skip_edge and before not in seen:
                    seen.add(before)
                    todo.append(before)
        return seen

    return {(b, a) for a, befores in graph.items() for b in befores if b not in reach(a, (b, a))}


def test_figure_edges_match_the_chapters_prerequisites():
    root = ET.parse(FIGURE).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    drawn = {(int(g.get("data-from")), int(g.get("data-to"))) for g in root.iterfind(".//s:g[@class='edge']", ns)}
    boxes = {int(g.get("data-chapter")) for g in root.iterfind(".//s:g[@class='chapter']", ns)}
    graph = prerequisites()
    assert boxes == set(graph), f"figure shows chapters {sorted(boxes)}, the book has {sorted(graph)}"
    assert drawn == transitive_reduction(graph), f"figure arrows {sorted(drawn)}; prerequisites say {graph}"
    assert root.find("s:title", ns) is not None and root.find("s:desc", ns) is not None  # screen readers


def test_transitive_reduction_drops_implied_edges():
    assert transitive_reduction({2: {1}, 3: {1, 2}, 5: {1, 4}, 4: {1}}) == {(1, 2), (2, 3), (1, 4), (4, 5)}


def test_guide_is_in_the_toc_after_how_to_use_and_lists_every_chapter():
    files = toc_files()
    assert files.index("book/instructor-guide") == files.index("book/how-to-use") + 1
    text = GUIDE.read_text()
    block = re.search(r"```\{lnb-runtime-table\}\n(.*?)```", text, re.S).group(1)
    listed = [doc for doc, _ in course_facts.parse_gpu_lines(block.splitlines())]
    assert listed == [f for f in files if f.startswith("chapters/")]


def test_formatting():
    assert course_facts.format_seconds(12.345) == "12.3"
    assert course_facts.format_seconds(None) == "–"
    assert course_facts.format_bytes(1_234_000_000) == "1.2 GB"
    assert course_facts.format_bytes(456_700_000) == "457 MB"
    with pytest.raises(ValueError, match="negative"):
        course_facts.format_seconds(-1)
    with pytest.raises(ValueError, match="negative"):
        course_facts.format_bytes(-1)


@pytest.mark.parametrize("bad", ["chapters/01 no bar", "chapters/01 | a | b", " | text", "chapters/01 | "])
def test_gpu_lines_reject_malformed(bad):
    with pytest.raises(ValueError, match="line 1"):
        course_facts.parse_gpu_lines([bad])


def test_build_setting_reads_the_cache_variables(monkeypatch):
    monkeypatch.setenv("LNBOOK_BUDGET", "quick")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert course_facts.build_setting() == "budget quick, no GPU visible"


def test_kernel_peak_is_measured_per_document():
    """A child that allocates ~200 MB while a document is read is recorded with its peak; a document
    during which no child runs (a notebook taken from the cache, a Markdown page) is not."""
    app = types.SimpleNamespace(env=types.SimpleNamespace(docname="chapters/heavy"))
    course_facts.on_source_read(app, "chapters/heavy", [""])
    subprocess.run([sys.executable, "-c", "b = bytearray(200_000_000); b[::4096] = b'x' * len(b[::4096])"],
                   check=True)
    course_facts.on_doctree_read(app, None)
    app.env.docname = "book/page"
    course_facts.on_source_read(app, "book/page", [""])
    course_facts.on_doctree_read(app, None)
    assert app.lnb_memory["executed"] == ["chapters/heavy"]
    assert app.lnb_memory["peak_doc"] == "chapters/heavy"
    assert 200_000_000 <= app.lnb_memory["peak"] < 2_000_000_000
