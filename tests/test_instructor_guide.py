"""The instructor guide: its dependency figure, its run-time table, the build-time measurements and the hub sizing."""

from __future__ import annotations

import json
import os
import re
import sys
import types
import xml.etree.ElementTree as ET

import nbformat
import pytest
import yaml

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
    monkeypatch.delenv("LNBOOK_BOOK_JOBS", raising=False)
    assert course_facts.build_setting() == "budget quick, no GPU visible"
    monkeypatch.setenv("LNBOOK_BOOK_JOBS", "2")  # `make book` executes two chapters at a time
    assert course_facts.build_setting() == ("budget quick, no GPU visible, 2 chapters executed at a time "
                                            "(those that time code alone)")


def test_kernel_peak_is_measured_per_document(tmp_path):
    """A notebook that allocates ~200 MB while it is read is recorded with its kernel's peak; a document
    during which no kernel runs (a notebook taken from the cache, a Markdown page) is not. The probe
    leaves no name in the notebook and the environment is put back."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("b = bytearray(200_000_000); b[::4096] = b'x' * len(b[::4096])"),
        nbformat.v4.new_code_cell("print(sorted(k for k in globals() if 'lnb' in k.lower()))"),
    ])
    app = types.SimpleNamespace(env=types.SimpleNamespace(docname="chapters/heavy"))
    before = {k: os.environ.get(k) for k in ("PYTHONSTARTUP", course_facts.PROBE_ENV_VAR)}
    course_facts.on_source_read(app, "chapters/heavy", [""])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    course_facts.on_doctree_read(app, None)
    assert {k: os.environ.get(k) for k in before} == before
    app.env.docname = "book/page"
    course_facts.on_source_read(app, "book/page", [""])
    course_facts.on_doctree_read(app, None)
    assert list(app.lnb_memory["executed"]) == ["chapters/heavy"]
    assert 200_000_000 <= app.lnb_memory["executed"]["chapters/heavy"] < 2_000_000_000
    assert nb.cells[1].outputs[0]["text"] == "[]\n"


def test_saved_peaks_count_only_for_the_current_execution(tmp_path):
    path = tmp_path / course_facts.MEMORY_FILE
    assert course_facts.read_peaks(path, {"chapters/a": 1}) == {}
    entry = {"peak_rss_bytes": 5, "cache_pk": 1, "setting": "s"}
    path.write_text(json.dumps({"chapters": {"chapters/a": entry, "chapters/b": {**entry, "cache_pk": 2}}}))
    # b was executed again since (its record is now 3), c never measured
    assert course_facts.read_peaks(path, {"chapters/a": 1, "chapters/b": 3, "chapters/c": 4}) == {"chapters/a": entry}


def test_hub_memory_from_the_peaks():
    mib = 2 ** 20
    # largest peak 900 MiB, server 256 MiB: guarantee 1156 MiB -> 1.5 GiB, limit 2056 MiB -> 2.5 GiB
    m = course_facts.hub_memory({"a": 900 * mib, "b": 100}, server=256 * mib)
    assert m == {"guarantee": 1536 * mib, "limit": 2560 * mib}
    assert [course_facts.format_hub_bytes(m[k]) for k in ("guarantee", "limit")] == ["1.5G", "2.5G"]
    assert course_facts.hub_memory({"a": 256 * mib}, server=256 * mib) == {"guarantee": 512 * mib, "limit": 1024 * mib}
    for bad in ({}, {"a": 0}, {"a": 1.5e9}):
        with pytest.raises(ValueError):
            course_facts.hub_memory(bad)
    with pytest.raises(ValueError):
        course_facts.format_hub_bytes(1000 * mib)  # not a multiple of the step


def test_hub_config_snippets():
    m = {"guarantee": 2 ** 30, "limit": 3 * 2 ** 29}
    lang, text = course_facts.hub_config("z2jh", m)
    assert lang == "yaml" and yaml.safe_load(text) == {"singleuser": {"memory": {"guarantee": "1G", "limit": "1.5G"}}}
    lang, text = course_facts.hub_config("tljh", m)
    assert lang == "bash" and text.splitlines() == ["sudo tljh-config set limits.memory 1.5G", "sudo tljh-config reload"]
    assert "not measured" in course_facts.hub_config("tljh", None)[1]
    with pytest.raises(ValueError, match="z2jh"):
        course_facts.hub_config("k8s", m)


def test_guide_sizes_a_hub_from_the_build():
    """The hub section takes every number from the build: the sizing table, the derived memory, the snippets."""
    text = GUIDE.read_text()
    section = text[text.index("## Run it on your hub"):]
    for markup in ("```{lnb-sizing-table}", "```{lnb-hub-config} z2jh", "```{lnb-hub-config} tljh",
                   "{lnb-fact}`memory-guarantee`", "{lnb-fact}`memory-limit`", "/dev/shm"):
        assert markup in section, markup
    assert not re.search(r"\d+(\.\d+)?\s*(GB|MB|GiB|MiB|G\b)", section), "a typed memory size in the hub section"
