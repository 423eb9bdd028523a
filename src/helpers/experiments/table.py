"""The results table: every registered claim of the paper, checked against the records at hand.

:func:`results_table` iterates over :func:`helpers.experiments.claims` -- whatever
the experiment modules register, so a chapter that adds experiments adds rows
without touching this code -- and checks each claim against every record of its
experiment, one row per (claim, source of records). :func:`results_markdown`
writes the rows as a Markdown table.
"""

from __future__ import annotations

from .._checks import ArgTypeError, check_instance

__all__ = ["COLUMNS", "NOT_RUN", "results_table", "results_markdown", "describe_record", "describe_sources",
           "verdict_counts"]

#: The table's columns, in order: the keys of each row of :func:`results_table`.
COLUMNS = ("section", "claim", "paper", "size", "effect", "threshold", "source", "verdict")

#: The verdict shown for a claim without any record.
NOT_RUN = "not run"


def describe_record(record) -> str:
    """How a record was produced, in a few words: budget, seeds, device, date."""
    check_instance(record, dict, "record", "describe_record", "a record from helpers.experiments.run")
    missing = {"budget", "seeds", "device", "date"} - set(record)
    if missing:
        raise ValueError(f"describe_record: the record lacks {sorted(missing)}")
    n = len(record["seeds"])
    return f"{record['budget']} budget, {n} seed{'s' if n != 1 else ''}, {record['device']}, {record['date']}"


def _short_source(label, record) -> str:
    """The table's Source cell: the label and the number of seeds, e.g. ``"shipped, 5 seeds"``.

    "5 seeds" is joined by a no-break space, so the narrow column wraps after the label only.
    """
    n = len(record["seeds"])
    return f"{label}, {n}\u00a0seed{'s' if n != 1 else ''}"


def describe_sources(sources) -> str:
    """One sentence per source label saying how its records were produced (for under the table).

    ``"shipped run: full budget, 5 seeds, cpu, 2026-11-30. this build: quick budget, 2 seeds, cpu, 2026-12-01."``;
    when a label's records were made in different ways, each way is listed once with the
    experiments it made, ``"full budget, 5 seeds, cpu, 2026-11-30 (draw, reader); full budget, 1 seed, ..."``.
    """
    out = []
    for label, records in _sources(sources).items():
        ways = {}  # description -> experiment names, in order of appearance
        for r in records:
            ways.setdefault(describe_record(r), []).append(r["name"])
        if len(ways) == 1:
            out.append(f"{label}: {next(iter(ways))}.")
        elif ways:
            out.append(f"{label}: " + "; ".join(f"{w} ({', '.join(names)})" for w, names in ways.items()) + ".")
    return " ".join(out)


def _sources(sources):
    """``{label: [record, ...]}`` from a dict of labels to records or lists of records."""
    check_instance(sources, dict, "sources", "results_table", "a dict {label: list of records}")
    out = {}
    for label, records in sources.items():
        check_instance(label, str, "label", "results_table", "a str")
        records = [records] if isinstance(records, dict) else records
        if isinstance(records, (str, bytes)) or not hasattr(records, "__iter__"):
            raise ArgTypeError(f"results_table: sources[{label!r}] must be a record or a list of records")
        records = list(records)
        for r in records:
            check_instance(r, dict, f"a record of {label!r}", "results_table", "a dict")
            if "name" not in r or "runs" not in r:
                raise ValueError(f"results_table: a record of {label!r} lacks 'name' or 'runs'")
        out[label] = records
    return out


def results_table(sources, claims=None) -> list[dict]:
    """One row per claim and source of records: the claim, the paper's evidence and size, the effect, the verdict.

    The verdict is the book's one rule (:data:`helpers.experiments.stats.RULE`) applied to
    one effect per seed against the claim's :class:`~helpers.experiments.stats.Size`.

    Args:
        sources (dict): ``{label: records}``, e.g. ``{"shipped full-budget run": [...],
            "this build": [...]}``; ``records`` a list of records of
            :func:`helpers.experiments.run` (or one record). Labels keep their order.
        claims (list of Claim or None): the claims to check; by default every
            registered one (:func:`helpers.experiments.claims`, in the order of the paper).

    Returns:
        list of dict with keys :data:`COLUMNS`, ``"measurement"`` (the claim's longer text), ``"label"``
        (the source's label, also for a claim the miniature cannot test, whose Source cell is "—") and
        ``"kind"`` (the claim's :attr:`~helpers.experiments.Claim.kind`). A claim with no record of
        its experiment in any source gets one row with verdict :data:`NOT_RUN` and label ``""``.
    """
    from . import claims as registered

    sources = _sources(sources)
    rows = []
    for c in registered() if claims is None else claims:
        found = False
        for label, records in sources.items():
            for record in records:
                if record["name"] != c.experiment:
                    continue
                out = c.evaluate(record)
                describe_record(record)  # refuses a record that does not say how it was made
                rows.append({"section": c.section, "claim": c.statement, "paper": c.paper_evidence,
                             "size": _size_text(c), "effect": _effect_cell(c, out), "threshold": out["threshold"],
                             "source": "—" if c.size is None else _short_source(label, record),
                             "verdict": out["verdict"],
                             "measurement": out["measurement"], "label": label, "kind": c.kind})
                found = True
        if not found:
            rows.append({"section": c.section, "claim": c.statement, "paper": c.paper_evidence,
                         "size": _size_text(c), "effect": "no record", "threshold": "",
                         "source": "", "verdict": NOT_RUN, "measurement": "no record", "label": "",
                         "kind": c.kind})
    return rows


def verdict_counts(rows, label) -> dict[str, dict[str, int]]:
    """How many rows from source ``label`` got each verdict: ``{"paper": {...}, "book": {...}}``, the
    paper's own claims apart from the book's readings and controls. Every verdict of
    :data:`~helpers.experiments.stats.VERDICTS` is a key (0 where none); the counts add up to the rows.
    """
    from .stats import VERDICTS

    if isinstance(rows, (str, bytes, dict)) or not hasattr(rows, "__iter__"):
        raise ArgTypeError("verdict_counts: rows must be a list of dicts from results_table")
    out = {"paper": dict.fromkeys(VERDICTS, 0), "book": dict.fromkeys(VERDICTS, 0)}
    for row in rows:
        if row.get("label") != label:
            continue
        if row["verdict"] not in VERDICTS:
            raise ValueError(f"verdict_counts: unknown verdict {row['verdict']!r}")
        out["paper" if row["kind"] == "paper" else "book"][row["verdict"]] += 1
    return out


def _size_text(c) -> str:
    """The paper's words on the size of claim ``c`` (or why the miniature cannot test it)."""
    return "not testable in miniature" if c.size is None else c.size.paper


def _effect_cell(c, out) -> str:
    """What was measured per seed and its median (min to max), e.g. ``"LN / baseline steps: 0.55 (0.40 to 0.70)"``."""
    return out["effect"] if c.size is None else f"{c.size.effect}: {out['effect']}"


def _cell(text) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


#: What the claim and evidence cells of a row say when the row above is the same claim from another source.
SAME_CLAIM = "same as above"


def results_markdown(rows) -> str:
    """The rows of :func:`results_table` as a Markdown (GFM) table, verdicts in bold.

    Six columns, so the table fits a laptop's text column: the paper's size goes with its
    evidence, and the threshold with the effect. A claim checked on several sources (shipped and
    this build) has its claim and evidence written once; the rows below say :data:`SAME_CLAIM`.
    """
    if isinstance(rows, (str, bytes, dict)) or not hasattr(rows, "__iter__"):
        raise ArgTypeError("results_markdown: rows must be a list of dicts from results_table")
    head = ("| § | Claim | Paper's evidence; its size | Effect per seed: median (min to max); threshold "
            "| Source | Verdict |")
    lines = [head, "|---|---|---|---|---|---|"]
    before = None
    for row in rows:
        if not isinstance(row, dict) or set(COLUMNS) - set(row):
            raise ValueError(f"results_markdown: each row must be a dict with keys {COLUMNS}")
        c = {k: _cell(row[k]) for k in COLUMNS}
        stop = "" if c["paper"].endswith(".") else "."  # "... Cooijmans et al." takes no second period
        paper = f"{c['paper']}{stop} *Size:* {c['size']}" if c["size"] else c["paper"]
        same = (c["section"], c["claim"], paper) == before  # the same claim from the next source
        before = (c["section"], c["claim"], paper)
        if same:  # its claim and evidence once, not again for every source (chapter 10's page weight)
            c["claim"], paper = SAME_CLAIM, SAME_CLAIM
        effect = f"{c['effect']}; threshold {c['threshold']}" if c["threshold"] else c["effect"]
        cells = [c["section"], c["claim"], paper, effect, c["source"], f"**{c['verdict']}**"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
