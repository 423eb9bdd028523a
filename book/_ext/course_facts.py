"""Numbers about running the chapters, taken from the build itself (for the instructor guide).

Two things an instructor plans a class with are measured while the book is built,
so the guide never states a typed number that could go stale:

- **Run time of each chapter.** myst-nb records, for every executed notebook, the
  seconds its kernel ran (``env.nb_metadata[docname]["exec_data"]["runtime"]``, the
  same data its ``{nb-exec-table}`` directive shows; for a notebook taken from the
  jupyter-cache it is the time of the execution that filled the cache).
- **Peak memory of each chapter's kernel.** While the build executes a chapter, the
  kernel it starts runs ``kernel_memory_probe.py`` first (IPython runs the file
  that ``PYTHONSTARTUP`` names, which this extension sets for that chapter only):
  after every cell the probe writes the kernel's own peak resident set size,
  ``getrusage(RUSAGE_SELF).ru_maxrss``, to a file, so after the last cell the file
  holds the chapter's peak. Nothing of it shows in the chapter. The peaks are kept
  in ``<execution cache>/lnb-kernel-memory.json``, each with the jupyter-cache
  record of the execution it belongs to, so that a build that takes a chapter from
  the cache still shows its peak, and a peak whose record is gone (the chapter's
  code changed) is never shown.

From the peaks, :func:`hub_memory` derives the memory to give each user of a
JupyterHub, and ``{lnb-hub-config}`` prints it as configuration.

Markup:

``{lnb-runtime-table}`` (a directive) renders a table "chapter · run time (s) ·
benefits from a GPU?". Its content lists the chapters, one per line, as
``docname | text for the GPU column`` (inline markup allowed); every chapter of the table of contents
must be listed (a missing one is a build warning, hence an error with ``-W``).

``{lnb-fact}`` (a role) prints one measured value inline: ``peak-rss`` (e.g.
"1.2 GB"), ``peak-rss-chapter`` (the chapter's title), ``total-runtime`` (seconds,
all chapters), ``build-setting`` (the budget and visible GPUs of the build), and
for a hub ``memory-guarantee``, ``memory-limit`` and ``server-allowance`` (see
:func:`hub_memory`).

``{lnb-sizing-table}`` (a directive, no content) renders "chapter · run time (s) ·
peak memory" for every chapter. ``{lnb-hub-config}`` (a directive whose argument is
``z2jh`` or ``tljh``) renders the Zero-to-JupyterHub ``singleuser.memory`` values
or the Littlest-JupyterHub ``tljh-config`` line with :func:`hub_memory`'s numbers.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
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
FACTS = ("peak-rss", "peak-rss-chapter", "total-runtime", "build-setting",
         "memory-guarantee", "memory-limit", "server-allowance")
PROBE = Path(__file__).with_name("kernel_memory_probe.py")
PROBE_ENV_VAR = "LNB_KERNEL_MEMORY_FILE"
#: What a user's Jupyter server (JupyterLab, its extensions, the terminal) is allowed besides the kernels,
#: in bytes: an allowance, not a measurement (JupyterLab 4 idles well below it).
SERVER_ALLOWANCE = 250_000_000
#: Hub memory settings are rounded up to multiples of this, in bytes (JupyterHub reads "G" as 2**30 bytes).
HUB_STEP = 2 ** 29


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


def format_hub_bytes(n_bytes: int) -> str:
    """A JupyterHub memory setting: a multiple of :data:`HUB_STEP` written in G (2**30 bytes), e.g. '1.5G'."""
    if n_bytes <= 0 or n_bytes % HUB_STEP:
        raise ValueError(f"a hub memory setting is a positive multiple of {HUB_STEP} bytes, got {n_bytes}")
    return f"{n_bytes / 2 ** 30:g}G"


def hub_memory(peaks: dict[str, int], server: int = SERVER_ALLOWANCE) -> dict[str, int]:
    """The memory guarantee and limit for each user of a hub, from the chapters' kernel peaks (bytes).

    - ``guarantee``: the largest chapter peak plus the server, rounded up to :data:`HUB_STEP`:
      enough for a student to run the heaviest chapter.
    - ``limit``: twice the largest peak plus the server, rounded up: room for a second kernel at its
      peak, the notebook a student left open.
    """
    if not peaks:
        raise ValueError("no chapter peak to size a hub from")
    if any(not isinstance(v, int) or v <= 0 for v in peaks.values()) or server < 0:
        raise ValueError(f"peaks must be positive integers (bytes) and the server allowance >= 0, got {peaks}, {server}")
    top = max(peaks.values())

    def up(n):
        return math.ceil(n / HUB_STEP) * HUB_STEP

    return {"guarantee": up(top + server), "limit": up(2 * top + server)}


def hub_config(kind: str, memory: dict[str, int] | None) -> tuple[str, str]:
    """(language, text) of the hub configuration that sets ``memory`` (from :func:`hub_memory`)."""
    if kind not in ("z2jh", "tljh"):
        raise ValueError(f"lnb-hub-config: the argument is 'z2jh' or 'tljh', got {kind!r}")
    if memory is None:
        guarantee = limit = "not measured: run `make clean book`"
    else:
        guarantee, limit = format_hub_bytes(memory["guarantee"]), format_hub_bytes(memory["limit"])
    if kind == "z2jh":
        return "yaml", f"singleuser:\n  memory:\n    guarantee: {guarantee}\n    limit: {limit}\n"
    return "bash", f"sudo tljh-config set limits.memory {limit}\nsudo tljh-config reload\n"


def build_setting() -> str:
    """The build's budget and GPU visibility, from the variables `make book` keys its cache on."""
    budget = os.environ.get("LNBOOK_BUDGET") or "default (quick on a CPU, full on a GPU)"
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpu_text = "no GPU visible" if gpus == "" else ("GPUs as found" if gpus is None else f"GPUs {gpus}")
    jobs = os.environ.get("LNBOOK_BOOK_JOBS", "1")  # set by `make book` (book/execute_chapters.py)
    together = (f", {jobs} chapters executed at a time (those that time code alone)"
                if jobs.isdigit() and int(jobs) > 1 else "")
    return f"budget {budget}, {gpu_text}{together}"


# --- the measurement ------------------------------------------------------------------
def _state(app) -> dict:
    if not hasattr(app, "lnb_memory"):
        app.lnb_memory = {"probe_dir": tempfile.TemporaryDirectory(prefix="lnb-kernel-memory-"),
                          "executed": {}, "saved_env": None}
    return app.lnb_memory


def _probe_file(state, docname) -> Path:
    return Path(state["probe_dir"].name, docname.replace("/", "__") + ".json")


def on_source_read(app, docname, source) -> None:
    """Before a document is read (a notebook is executed then): a kernel started now runs the probe."""
    state = _state(app)
    path = _probe_file(state, docname)
    path.unlink(missing_ok=True)
    state["saved_env"] = {k: os.environ.get(k) for k in ("PYTHONSTARTUP", PROBE_ENV_VAR)}
    os.environ["PYTHONSTARTUP"], os.environ[PROBE_ENV_VAR] = str(PROBE), str(path)


def on_doctree_read(app, doctree) -> None:
    """After a document is read: if a kernel ran for it, keep the peak it wrote; put the environment back."""
    state = _state(app)
    for key, value in (state["saved_env"] or {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    state["saved_env"] = None
    path = _probe_file(state, app.env.docname)
    if path.exists():
        state["executed"][app.env.docname] = json.loads(path.read_text())["peak_rss_bytes"]


def _memory_file(app) -> Path | None:
    cache = app.config["nb_execution_cache_path"] if "nb_execution_cache_path" in app.config else ""
    return Path(app.srcdir, cache, MEMORY_FILE) if cache else None


def _cache_records(app, env, docs) -> dict[str, int]:
    """docname -> pk of the jupyter-cache record that holds the document's current execution."""
    import nbformat
    from jupyter_cache import get_cache

    path = _memory_file(app)
    if path is None or not path.parent.exists():
        return {}
    cache, out = get_cache(path.parent), {}
    for doc in docs:
        source = Path(env.doc2path(doc))
        if source.suffix != ".ipynb":
            continue
        try:
            out[doc] = cache.match_cache_notebook(nbformat.read(source, as_version=4)).pk
        except KeyError:
            pass
    return out


def read_peaks(path: Path, records: dict[str, int]) -> dict[str, dict]:
    """The saved peaks (``{doc: {"peak_rss_bytes", "cache_pk", "setting"}}``) whose record is current."""
    if not path.exists():
        return {}
    saved = json.loads(path.read_text()).get("chapters", {})
    return {doc: entry for doc, entry in saved.items() if records.get(doc) == entry.get("cache_pk")}


def on_env_updated(app, env):
    """Save the peaks of the chapters executed now; re-render pages that show facts."""
    from myst_nb.sphinx_ import NbMetadataCollector

    state = _state(app)
    path = _memory_file(app)
    chapters = _chapters(env)
    records = _cache_records(app, env, chapters)
    if path:
        saved = read_peaks(path, records)
        for doc, peak in state["executed"].items():
            if doc in records:
                saved[doc] = {"peak_rss_bytes": peak, "cache_pk": records[doc], "setting": build_setting()}
        if saved:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"chapters": saved}, indent=1, sort_keys=True))
    app.lnb_peaks = read_peaks(path, records) if path else {}
    if NbMetadataCollector.new_exec_data(env):
        return [d for d, data in NbMetadataCollector.get_doc_data(env).items() if data.get(USES_FACTS)]
    return []


def _chapters(env) -> list[str]:
    """Notebook documents in reading order (those myst-nb has execution data for)."""
    from myst_nb.sphinx_ import NbMetadataCollector

    data = NbMetadataCollector.get_doc_data(env)
    order = {doc: i for i, doc in enumerate(_toc_order(env))}
    executed = [d for d in env.found_docs if data.get(d, {}).get("exec_data")]
    return sorted(executed, key=lambda d: (order.get(d, len(order)), d))


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


class sizing_table(nodes.General, nodes.Element):
    """Placeholder for the table of run time and peak memory per chapter."""


class hub_config_block(nodes.General, nodes.Element):
    """Placeholder for a hub's memory configuration (``kind``: z2jh or tljh)."""


class SizingTable(SphinxDirective):
    def run(self):
        _mark(self.env)
        node = sizing_table()
        self.set_source_info(node)
        return [node]


class HubConfig(SphinxDirective):
    required_arguments = 1

    def run(self):
        try:
            hub_config(self.arguments[0], None)
        except ValueError as exc:
            raise self.error(str(exc)) from None
        _mark(self.env)
        node = hub_config_block(kind=self.arguments[0])
        self.set_source_info(node)
        return [node]


def _table(header: tuple[str, ...], rows: list[list], classes: list[str]) -> nodes.table:
    """A docutils table; a cell is a string or a node to put in a paragraph."""
    table = nodes.table(classes=classes + ["colwidths-auto"])
    tgroup = nodes.tgroup(cols=len(header))
    table += tgroup
    for _ in header:
        tgroup += nodes.colspec(colwidth=1)
    head = nodes.thead()
    tgroup += head
    row = nodes.row()
    for title in header:
        row += nodes.entry("", nodes.paragraph(text=title))
    head += row
    body = nodes.tbody()
    tgroup += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            para = nodes.paragraph(text=cell) if isinstance(cell, str) else nodes.paragraph("", "", cell)
            row += nodes.entry("", para)
        body += row
    return table


class FillFacts(SphinxPostTransform):
    """Replace the placeholders with the measured values (runs after every document was read)."""

    default_priority = 8  # before the references are resolved, so the chapter links resolve

    def run(self, **kwargs) -> None:
        from myst_nb.sphinx_ import NbMetadataCollector

        env = self.env
        data = NbMetadataCollector.get_doc_data(env)
        chapters = _chapters(env)
        runtimes = {d: data[d]["exec_data"].get("runtime") for d in chapters}
        peaks = {d: e["peak_rss_bytes"] for d, e in getattr(self.app, "lnb_peaks", {}).items() if d in runtimes}
        memory = hub_memory(peaks) if peaks else None
        for node in list(self.document.findall(runtime_table)):
            node.replace_self(self._runtime_table(node, runtimes))
        for node in list(self.document.findall(sizing_table)):
            node.replace_self(self._sizing_table(runtimes, peaks))
        for node in list(self.document.findall(hub_config_block)):
            language, text = hub_config(node["kind"], memory)
            node.replace_self(nodes.literal_block(text, text, language=language))
        for node in list(self.document.findall(fact)):
            node.replace_self(self._fact(node, node["name"], runtimes, peaks, memory))

    def _fact(self, node, name, runtimes, peaks, memory):
        if name == "total-runtime":
            known = [t for t in runtimes.values() if t is not None]
            return nodes.inline(text=format_seconds(sum(known)) if known else "–")
        if name == "build-setting":
            return nodes.inline(text=build_setting())
        if name == "server-allowance":
            return nodes.inline(text=format_bytes(SERVER_ALLOWANCE))
        if not peaks:  # not an error: a build from an older execution cache has no measurement
            if name == "peak-rss-chapter":
                return nodes.inline(text="–")
            logger.info("lnb-fact %s: no kernel memory measured yet; it is measured when a chapter "
                        "executes (`make clean book`)", name, location=node)
            return nodes.inline(text="not measured (every chapter came from an older execution cache; "
                                     "`make clean book` measures it)")
        if name == "memory-guarantee":
            return nodes.inline(text=format_hub_bytes(memory["guarantee"]))
        if name == "memory-limit":
            return nodes.inline(text=format_hub_bytes(memory["limit"]))
        top = max(peaks, key=peaks.get)
        if name == "peak-rss":
            return nodes.inline(text=format_bytes(peaks[top]))
        return _doc_link(self.env.docname, top, self.env)

    def _sizing_table(self, runtimes, peaks):
        rows = [[_doc_link(self.env.docname, doc, self.env), format_seconds(seconds),
                 format_bytes(peaks[doc]) if doc in peaks else "–"] for doc, seconds in runtimes.items()]
        return _table(("Chapter", "Run time (s)", "Peak memory"), rows, ["lnb-sizing-table"])

    def _runtime_table(self, node, runtimes):
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
        rows, total = [], 0.0
        for doc, gpu in zip(listed, gpu_texts):
            seconds = runtimes.get(doc)
            total += seconds or 0.0
            rows.append([_doc_link(self.env.docname, doc, self.env), format_seconds(seconds),
                         nodes.inline("", "", *gpu.children)])
        rows.append(["All chapters", format_seconds(total), ""])
        return _table(("Chapter", "Run time (s)", "Benefits from a GPU?"), rows, ["lnb-runtime-table"])


def setup(app):
    app.add_node(runtime_table)
    app.add_node(fact)
    app.add_node(sizing_table)
    app.add_node(hub_config_block)
    app.add_directive("lnb-runtime-table", RuntimeTable)
    app.add_directive("lnb-sizing-table", SizingTable)
    app.add_directive("lnb-hub-config", HubConfig)
    app.add_role("lnb-fact", FactRole())
    app.add_post_transform(FillFacts)
    app.connect("source-read", on_source_read)
    app.connect("doctree-read", on_doctree_read)
    app.connect("env-updated", on_env_updated)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
