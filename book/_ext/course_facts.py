"""Numbers about running the chapters, taken from the build itself (for the instructor guide).

Two things an instructor plans a class with are measured while the book is built,
so the guide never states a typed number that could go stale:

- **Run time of each chapter.** myst-nb records, for every executed notebook, the
  seconds its kernel ran (``env.nb_metadata[docname]["exec_data"]["runtime"]``, the
  same data its ``{nb-exec-table}`` directive shows; for a notebook taken from the
  jupyter-cache it is the time of the execution that filled the cache).
- **Peak memory of a chapter's kernel.** Each notebook runs in a kernel that is a
  child process of the build. Once the kernel is shut down and reaped, the operating
  system folds its peak resident set size into ``getrusage(RUSAGE_CHILDREN).ru_maxrss``
  (the largest of all reaped children). Reading that value after each notebook
  tells which kernel set the maximum and what it was. The value is kept in
  ``<execution cache>/lnb-kernel-memory.json`` so that a later build that takes
  every notebook from the cache can still show it; it is written only when every
  chapter was executed in the same build (the cache is deleted with it).

Markup:

``{lnb-runtime-table}`` (a directive) renders a table "chapter · run time (s) ·
benefits from a GPU?". Its content lists the chapters, one per line, as
``docname | text for the GPU column`` (inline markup allowed); every chapter of the table of contents
must be listed (a missing one is a build warning, hence an error with ``-W``).

``{lnb-fact}`` (a role) prints one measured value inline: ``peak-rss`` (e.g.
"1.2 GB"), ``peak-rss-chapter`` (the chapter's title), ``total-runtime`` (seconds,
all chapters) and ``build-setting`` (the budget and visible GPUs of the build).
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

logger = logging.getLogger(__name__)

#: Marks, in env.nb_metadata, the documents that show measured facts.
USES_FACTS = "lnb_uses_course_facts"
MEMORY_FILE = "lnb-kernel-memory.json"
FACTS = ("peak-rss", "peak-rss-chapter", "total-runtime", "build-setting")


# --- pure helpers (unit-tested) ---------------------------------------------------
def format_seconds(seconds: float | None) -> str:
    """Seconds as the table shows them: one decimal, or a dash when unknown."""
    if seconds is None:
        return "–"
    if seconds < 0:
        raise ValueError(f"a run time cannot be negative, got {seconds}")
    return f"{seconds:.1f}"


def format_bytes(n_bytes: int) -> str:
    """A memory size in GB (10^9 bytes) with two significant decimals, or MB below 1 GB."""
    if n_bytes < 0:
        raise ValueError(f"a memory size cannot be negative, got {n_bytes}")
    if n_bytes >= 1e9:
        return f"{n_bytes / 1e9:.1f} GB"
    return f"{n_bytes / 1e6:.0f} MB"


def parse_gpu_lines(lines: list[str]) -> list[tuple[str, str]]:
    """Parse the directive's ``docname | GPU text`` lines; blank lines are skipped."""
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.count("|") != 1:
            raise ValueError(f"line {number}: expected 'docname | does it benefit from a GPU?', got {line!r}")
        doc, text = (part.strip() for part in line.split("|"))
        if not doc or not text:
            raise ValueError(f"line {number}: both the docname and the GPU text are needed, got {line!r}")
        rows.append((doc, text))
    return rows


def build_setting() -> str:
    """The build's budget and GPU visibility, from the variables `make book` keys its cache on."""
    budget = os.environ.get("LNBOOK_BUDGET") or "default (quick on a CPU, full on a GPU)"
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpu_text = "no GPU visible" if gpus == "" else ("GPUs as found" if gpus is None else f"GPUs {gpus}")
    return f"budget {budget}, {gpu_text}"


# --- the measurement ------------------------------------------------------------------
def _children_usage() -> tuple[int, float]:
    """(peak RSS in bytes of the largest reaped child, CPU seconds of all reaped children)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_maxrss * 1024, ru.ru_utime + ru.ru_stime  # ru_maxrss is in KiB on Linux


def _state(app) -> dict:
    if not hasattr(app, "lnb_memory"):
        app.lnb_memory = {"executed": [], "peak": 0, "peak_doc": None, "last": _children_usage()}
    return app.lnb_memory


def on_source_read(app, docname, source) -> None:
    _state(app)["last"] = _children_usage()


def on_doctree_read(app, doctree) -> None:
    """After a document is read (and, for a notebook, executed): did a kernel run, and set a new peak?"""
    state = _state(app)
    peak_before, cpu_before = state["last"]
    peak_after, cpu_after = _children_usage()
    if cpu_after > cpu_before:  # a child process (the notebook's kernel) ran and was reaped
        docname = app.env.docname
        state["executed"].append(docname)
        if peak_after > peak_before or state["peak_doc"] is None:
            state["peak"], state["peak_doc"] = peak_after, docname
    state["last"] = (peak_after, cpu_after)


def _memory_file(app) -> Path | None:
    cache = app.config["nb_execution_cache_path"] if "nb_execution_cache_path" in app.config else ""
    return Path(app.srcdir, cache, MEMORY_FILE) if cache else None


def _chapters(env) -> list[str]:
    """Notebook documents in reading order (those myst-nb has execution data for)."""
    from myst_nb.sphinx_ import NbMetadataCollector

    data = NbMetadataCollector.get_doc_data(env)
    order = {doc: i for i, doc in enumerate(_toc_order(env))}
    executed = [d for d in env.found_docs if data.get(d, {}).get("exec_data")]
    return sorted(executed, key=lambda d: (order.get(d, len(order)), d))


def on_env_updated(app, env):
    """Save the kernel peak when every chapter ran in this build; re-render pages that show facts."""
    from myst_nb.sphinx_ import NbMetadataCollector

    state = _state(app)
    chapters = _chapters(env)
    path = _memory_file(app)
    if path and chapters and set(chapters) <= set(state["executed"]):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"peak_rss_bytes": state["peak"], "chapter": state["peak_doc"],
                                    "setting": build_setting()}, indent=1))
    if NbMetadataCollector.new_exec_data(env):
        return [d for d, data in NbMetadataCollector.get_doc_data(env).items() if data.get(USES_FACTS)]
    return []


def _toc_order(env) -> list[str]:
    """Documents in the order of the table of contents (sphinx-external-toc's site map)."""
    site_map = getattr(env, "external_site_map", None)
    if site_map is None:
        return sorted(env.found_docs)
    order = []

    def walk(name):
        if name in order:
            return
        order.append(name)
        if name in site_map:
            for child in site_map[name].child_files():
                walk(child)

    walk(site_map.root.docname)
    return order


def measured_memory(app) -> dict | None:
    path = _memory_file(app)
    if path and path.exists():
        return json.loads(path.read_text())
    return None


# --- markup -----------------------------------------------------------------------
class runtime_table(nodes.General, nodes.Element):
    """Placeholder for the run-time table, filled once every notebook has executed."""


class fact(nodes.Inline, nodes.Element):
    """Placeholder for one measured value."""


def _mark(env) -> None:
    from myst_nb.sphinx_ import NbMetadataCollector

    NbMetadataCollector.set_doc_data(env, env.docname, USES_FACTS, True)


class RuntimeTable(SphinxDirective):
    has_content = True

    def run(self):
        try:
            rows = parse_gpu_lines(list(self.content))
        except ValueError as exc:
            raise self.error(f"lnb-runtime-table: {exc}") from None
        _mark(self.env)
        node = runtime_table(docs=[doc for doc, _ in rows])
        self.set_source_info(node)
        for _, text in rows:  # the GPU column may use inline markup (*quick*, `code`, links)
            inline, messages = self.parse_inline(text, lineno=self.lineno)
            node += nodes.inline("", "", *inline)
            node += messages
        return [node]


class FactRole(SphinxRole):
    def run(self):
        if self.text not in FACTS:
            msg = self.inliner.reporter.error(f"lnb-fact: unknown fact {self.text!r}; known: {', '.join(FACTS)}",
                                              line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        _mark(self.env)
        return [fact(name=self.text)], []


def _doc_link(fromdoc: str, docname: str, env) -> pending_xref:
    ref = pending_xref(refdoc=fromdoc, reftarget="/" + docname, reftype="doc", refdomain="std",
                       refexplicit=False, refwarn=True)
    ref += nodes.inline(text=docname)
    return ref


class FillFacts(SphinxPostTransform):
    """Replace the placeholders with the measured values (runs after every document was read)."""

    default_priority = 8  # before the references are resolved, so the chapter links resolve

    def run(self, **kwargs) -> None:
        from myst_nb.sphinx_ import NbMetadataCollector

        env = self.env
        data = NbMetadataCollector.get_doc_data(env)
        chapters = _chapters(env)
        runtimes = {d: data[d]["exec_data"].get("runtime") for d in chapters}
        for node in list(self.document.findall(runtime_table)):
            node.replace_self(self._table(node, runtimes))
        memory = measured_memory(self.app)
        for node in list(self.document.findall(fact)):
            node.replace_self(self._fact(node, node["name"], runtimes, memory))

    def _fact(self, node, name, runtimes, memory):
        if name == "total-runtime":
            known = [t for t in runtimes.values() if t is not None]
            return nodes.inline(text=format_seconds(sum(known)) if known else "–")
        if name == "build-setting":
            return nodes.inline(text=build_setting())
        if memory is None:  # not an error: a build from an older execution cache has no measurement
            if name == "peak-rss-chapter":
                return nodes.inline(text="–")
            logger.info("lnb-fact %s: no kernel memory measured yet; it is measured when every chapter "
                        "executes in one build (`make clean book`)", name, location=node)
            return nodes.inline(text="not measured (every chapter came from the execution cache; "
                                     "`make clean book` measures it)")
        if name == "peak-rss":
            return nodes.inline(text=format_bytes(memory["peak_rss_bytes"]))
        return _doc_link(self.env.docname, memory["chapter"], self.env)

    def _table(self, node, runtimes):
        listed = node["docs"]
        gpu_texts = [child for child in node.children if isinstance(child, nodes.inline)]
        # A site built from cached executions without running them (`make student`)
        # has no run times; the instructor edition's guide shows them.
        executed = self.env.config.nb_execution_mode != "off"
        for doc in listed:
            if doc not in runtimes and executed:
                logger.warning("lnb-runtime-table: %s is not an executed notebook of this book", doc, location=node)
        for doc in runtimes:
            if doc not in listed:
                logger.warning("lnb-runtime-table: chapter %s is missing from the table", doc, location=node)
        table = nodes.table(classes=["lnb-runtime-table", "colwidths-auto"])
        tgroup = nodes.tgroup(cols=3)
        table += tgroup
        for _ in range(3):
            tgroup += nodes.colspec(colwidth=1)
        head = nodes.thead()
        tgroup += head
        header = nodes.row()
        for title in ("Chapter", "Run time (s)", "Benefits from a GPU?"):
            header += nodes.entry("", nodes.paragraph(text=title))
        head += header
        body = nodes.tbody()
        tgroup += body
        total = 0.0
        for doc, gpu in zip(listed, gpu_texts):
            row = nodes.row()
            link = nodes.paragraph()
            link += _doc_link(self.env.docname, doc, self.env)
            row += nodes.entry("", link)
            seconds = runtimes.get(doc)
            total += seconds or 0.0
            row += nodes.entry("", nodes.paragraph(text=format_seconds(seconds)))
            row += nodes.entry("", nodes.paragraph("", "", *gpu.children))
            body += row
        row = nodes.row()
        row += nodes.entry("", nodes.paragraph(text="All chapters"))
        row += nodes.entry("", nodes.paragraph(text=format_seconds(total)))
        row += nodes.entry("", nodes.paragraph(text=""))
        body += row
        return table


def setup(app):
    app.add_node(runtime_table)
    app.add_node(fact)
    app.add_directive("lnb-runtime-table", RuntimeTable)
    app.add_role("lnb-fact", FactRole())
    app.add_post_transform(FillFacts)
    app.connect("source-read", on_source_read)
    app.connect("doctree-read", on_doctree_read)
    app.connect("env-updated", on_env_updated)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
