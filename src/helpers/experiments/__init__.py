r"""The paper's experiments in miniature: one registry for the chapters and the command line.

Each experiment is a plain function ``run(budget, seed, device) -> dict``
registered under a name with :func:`experiment`, together with its sizes for
the ``"quick"`` and ``"full"`` budgets (:data:`helpers.repro.BUDGETS`). The
function looks its sizes up itself with :func:`sizes` and returns only
JSON-serialisable values (numbers, strings, lists, dicts), so that a result can
be shipped, reloaded and compared with a reader's run.

:func:`run` calls one experiment over several seeds and wraps the per-seed
results in a *record* that says what produced them: the name, the budget *as
passed*, the seeds, the device, the torch and Python versions, the wall time
per seed and the date. The chapters call::

    from helpers import experiments
    rec = experiments.run("ffn_digits", budget="quick", seeds=[0, 1])

and an instructor regenerates a shipped reference with::

    python -m helpers.experiments run ffn_digits --budget full --seeds 0 1 2 3 4 --out ref.json

Shipped full-budget records live in ``helpers/data_files/experiments/NAME.json``
(:func:`load_reference`). The experiment modules are listed in
:data:`MODULES` and imported the first time a name is looked up; nothing runs
at import.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import json
import pathlib
import platform
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .._checks import ArgTypeError, check_choice, check_device, check_instance, check_int
from ..repro import BUDGETS, pick_device, seed_everything
from . import provenance as _provenance
from .stats import VERDICTS, Size, effect_text, judge

__all__ = [
    "MODULES",
    "SEEDS",
    "seeds",
    "REFERENCE_DIR",
    "Experiment",
    "experiment",
    "names",
    "get",
    "sizes",
    "run",
    "save",
    "load",
    "load_reference",
    "VERDICTS",
    "Claim",
    "claim",
    "Size",
    "claims",
    "results_table",
    "results_markdown",
]

#: The modules (in this package) that register experiments, imported on first lookup.
MODULES: tuple[str, ...] = (
    "sequences", "feedforward", "convnet", "retrieval", "reader", "skipthoughts", "draw", "handwriting", "transformer",
    "placement", "attention", "powernorm", "convnext", "adanorm",
)

#: The seeds every comparison runs over, per budget: at least 2 for a quick run, 5 for a full one.
SEEDS = {"quick": (0, 1), "full": (0, 1, 2, 3, 4)}

#: Where the shipped full-budget records live.
REFERENCE_DIR = pathlib.Path(__file__).resolve().parent.parent / "data_files" / "experiments"

_REGISTRY: dict[str, "Experiment"] = {}
_CLAIMS: list["Claim"] = []

_LOADED = False


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its function, its sizes per budget and one line saying what it is."""

    name: str
    fn: Callable[..., dict]
    sizes: dict = field(repr=False)
    summary: str = ""
    engine: object = ""

    def engine_name(self, device) -> str:
        """What computes this experiment's steps on ``device`` (for the record's provenance)."""
        return self.engine(device) if callable(self.engine) else self.engine


def experiment(name: str, *, quick: dict, full: dict, engine, summary: str = ""):
    """Register ``fn(budget, seed, device) -> dict`` under ``name`` with its sizes per budget.

    Used as a decorator in the experiment modules::

        @experiment("ffn_digits", quick=dict(steps=300), full=dict(steps=3000),
                    summary="MLP on digits: none / batch / layer norm (paper §6.6)")
        def ffn_digits(budget, seed, device): ...

    The name is bound to a wrapper that checks its arguments before ``fn`` runs:
    ``budget`` one of :data:`helpers.repro.BUDGETS`, ``seed`` an int >= 0, and
    ``device`` a :class:`torch.device` that exists here (``"cuda"`` on a machine
    without CUDA raises ``ValueError``). ``fn`` receives a :class:`torch.device`
    and must put its models and data on it.

    ``engine`` says what computes the model's steps, for the record's provenance: a str
    (``"stepped cell (helpers.rnn.LSTMCell), torch operations"``) or a function of the
    device returning one (e.g. :func:`helpers.experiments.provenance.lstm_engine`).
    """
    check_instance(name, str, "name", "experiment", "a str")
    for b, s in (("quick", quick), ("full", full)):
        check_instance(s, dict, b, "experiment", "a dict of sizes")
    if not (callable(engine) or (isinstance(engine, str) and engine)):
        raise ArgTypeError(f"experiment {name!r}: engine must be a non-empty str or a function of the device")

    def register(fn):
        if name in _REGISTRY and getattr(_REGISTRY[name].fn, "__wrapped__", None) is not fn:
            raise ValueError(f"experiment: the name {name!r} is already registered")

        @functools.wraps(fn)
        def checked(budget, seed, device):
            # every experiment gets a checked budget and a torch.device that exists here,
            # whether it is called through run() or directly
            budget = check_choice(budget, "budget", BUDGETS, name)
            return fn(budget, check_int(seed, "seed", name, lo=0), check_device(device, "device", name))

        _REGISTRY[name] = Experiment(name, checked, {"quick": dict(quick), "full": dict(full)}, summary, engine)
        return checked

    return register


def _load_modules():
    global _LOADED
    if not _LOADED:
        for module in MODULES:
            importlib.import_module(f"{__name__}.{module}")
        _LOADED = True


def names() -> list[str]:
    """The registered experiment names, sorted."""
    _load_modules()
    return sorted(_REGISTRY)


def get(name: str) -> Experiment:
    """The :class:`Experiment` called ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    _load_modules()
    check_instance(name, str, "name", "experiments.get", "a str")
    if name not in _REGISTRY:
        raise ValueError(f"experiments: unknown experiment {name!r}; known: {', '.join(sorted(_REGISTRY)) or 'none'}")
    return _REGISTRY[name]


def sizes(name: str, budget: str) -> dict:
    """The sizes of experiment ``name`` at ``budget`` (a copy)."""
    budget = check_choice(budget, "budget", BUDGETS, "experiments.sizes")
    return dict(get(name).sizes[budget])


def seeds(budget: str) -> list[int]:
    """The seeds a comparison at ``budget`` runs over (:data:`SEEDS`), as a list."""
    return list(SEEDS[check_choice(budget, "budget", BUDGETS, "experiments.seeds")])


def _check_seeds(seeds, where):
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ArgTypeError(f"{where}: seeds must be a list of ints >= 0, got {type(seeds).__name__}")
    seeds = [check_int(s, "seed", where, lo=0) for s in seeds]
    if not seeds:
        raise ValueError(f"{where}: seeds must not be empty")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{where}: seeds must be distinct, got {seeds}")
    return seeds


def run(name: str, budget: str, seeds=None, device=None, progress: bool = False) -> dict:
    """Run experiment ``name`` at ``budget`` once per seed; return a record of the results.

    Args:
        name: a registered name (:func:`names`).
        budget: ``"quick"`` or ``"full"``; recorded exactly as passed.
        seeds: distinct non-negative ints (``None``: the budget's :data:`SEEDS`); each run starts
            from :func:`helpers.repro.seed_everything`.
        device: a :class:`torch.device` or its name (``"cpu"``, ``"cuda"``, ``"mps"``); ``None`` picks
            one (:func:`helpers.repro.pick_device`). An unknown name, or a device this machine
            does not have, raises ``ValueError``: nothing falls back to the CPU silently.
        progress: show a ``tqdm`` bar over the seeds.

    Returns:
        ``{"name", "budget", "sizes", "seeds", "device", "torch", "python", "date",
        "wall_s": [per seed], "runs": [per-seed result dicts], "provenance": {...}}``,
        ``provenance`` with the keys :data:`helpers.experiments.provenance.KEYS` (commit, versions,
        threads, device and CPU names, the engine that computed the steps, date, wall time).
    """
    where = "experiments.run"
    exp = get(name)
    budget = check_choice(budget, "budget", BUDGETS, where)
    seeds = _check_seeds(SEEDS[budget] if seeds is None else seeds, where)
    device = pick_device() if device is None else check_device(device, "device", where)
    runs, walls = [], []
    it = seeds
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(seeds, desc=f"{name} ({budget}, {device.type})", unit="seed")
    for seed in it:
        seed_everything(seed)
        start = time.perf_counter()
        result = exp.fn(budget, seed, device)
        walls.append(round(time.perf_counter() - start, 3))
        check_instance(result, dict, "result", f"experiment {name!r}", "a dict")
        runs.append(json.loads(json.dumps(result)))  # fails loudly if not JSON-serialisable
    return {
        "name": name,
        "budget": budget,
        "sizes": exp.sizes[budget],
        "seeds": seeds,
        "device": device.type if device.type != "cuda" else torch.cuda.get_device_name(device),  # the device used
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
        "wall_s": walls,
        "runs": runs,
        "provenance": _provenance.provenance(exp.engine_name(device), device, walls),
    }


def save(record: dict, path) -> pathlib.Path:
    """Write ``record`` as JSON to ``path`` (directories created); return the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def load(path) -> dict:
    """A record written by :func:`save`."""
    return json.loads(pathlib.Path(path).read_text())


def load_reference(name: str) -> dict:
    """The shipped full-budget record of experiment ``name`` (``FileNotFoundError`` if none ships)."""
    get(name)
    path = REFERENCE_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"experiments: no shipped reference for {name!r} (expected {path})")
    return load(path)


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, the paper's evidence and size, and how a record of ``experiment`` tests it.

    ``check(record) -> (measurement, effects)`` or ``(measurement, effects, undecided)``:
    ``measurement`` is a short text for the chapter, ``effects`` one number per seed of the
    record, judged against :attr:`size` by the book's one rule
    (:func:`helpers.experiments.stats.judge`); ``undecided`` (one bool per seed) marks seeds
    whose measure cannot be read. A claim the miniature cannot test has ``size=None`` and
    its check returns ``effects=None``.

    :attr:`kind` says whose claim it is: ``"paper"`` (the paper's own), ``"reading"`` (our
    reading of a sentence of the paper, or our measure of it, labelled so in the statement) or
    ``"control"`` (the book's control experiment, not a claim of the paper). Chapters count
    the paper's claims apart from the others.

    :attr:`paper` is the bibliography key of the paper the claim is about: ``"ba2016layer"``
    (Ba, Kiros & Hinton, whose claims chapters 5 to 7 check; :attr:`section` is then that paper's
    section) or a later paper (chapter 10's; :attr:`section` is then the book's section).
    """

    experiment: str
    section: str
    statement: str
    paper_evidence: str
    size: Size | None
    check: Callable[[dict], tuple] = field(repr=False)
    kind: str = "paper"
    paper: str = "ba2016layer"

    def evaluate(self, record: dict) -> dict:
        """What the results table shows for ``record``: measurement, effects, effect ± spread, threshold, verdict."""
        if record.get("name") != self.experiment:
            raise ValueError(f"Claim: a record of {self.experiment!r} is needed, got one of {record.get('name')!r}")
        measurement, effects, *rest = self.check(record)
        undecided = rest[0] if rest else None
        if self.size is None or effects is None:
            if not (self.size is None and effects is None):
                raise ValueError(f"claim {self.statement[:40]!r}: a size needs effects, and effects a size")
            return {"measurement": str(measurement), "effects": None, "effect": "not measured",
                    "threshold": "", "verdict": "not testable in miniature"}
        effects = [float(e) for e in effects]
        if len(effects) != len(record["runs"]):
            raise ValueError(f"claim {self.statement[:40]!r}: {len(effects)} effects for {len(record['runs'])} seeds")
        if undecided is not None:
            undecided = [bool(u) for u in undecided]
        return {"measurement": str(measurement), "effects": effects, "effect": effect_text(effects),
                "threshold": self.size.threshold_text(), "verdict": judge(effects, self.size, undecided)}

    def verdict(self, record: dict) -> tuple[str, str]:
        """``(measurement, verdict)`` for ``record`` (which must be a record of :attr:`experiment`)."""
        out = self.evaluate(record)
        return out["measurement"], out["verdict"]


KINDS = ("paper", "reading", "control")


def claim(experiment: str, *, section: str, statement: str, paper_evidence: str, size: Size | None,
          kind: str = "paper", paper: str = "ba2016layer"):
    """Register the decorated ``check(record) -> (measurement, effects)`` as a :class:`Claim`.

    Used in the experiment modules, next to the experiment the claim is about::

        @claim("draw", section="6.4", statement="LN DRAW converges almost twice as fast",
               paper_evidence="Fig. 4 ...", size=Size("LN / baseline steps", "lower", 1.0, 0.6, "..."))
        def _faster(record): ...

    ``size`` is a :class:`~helpers.experiments.stats.Size` (its ``threshold`` ``None`` where the
    paper states no size, saying so in its ``paper`` text), or ``None`` for a claim the miniature
    cannot test. ``kind`` is ``"paper"``, ``"reading"`` or ``"control"``; ``paper`` the bibliography
    key of the paper the claim is about (see :class:`Claim`).
    """
    if size is not None and not isinstance(size, Size):
        raise ArgTypeError(f"claim: size must be a Size or None, got {type(size).__name__}")
    check_choice(kind, "kind", KINDS, "claim")
    if not isinstance(paper, str) or not paper.strip():
        raise ArgTypeError(f"claim: paper must be a bibliography key (a non-empty str), got {paper!r}")

    def register(check):
        if not any(c.check is check for c in _CLAIMS):
            _CLAIMS.append(Claim(experiment, section, statement, paper_evidence, size, check, kind, paper))
        return check

    return register


def claims(paper: str | None = None) -> list[Claim]:
    """Every registered claim (only those about ``paper``, a bibliography key, if given), in the order of
    their sections: ``claims("ba2016layer")`` is the layer-norm paper's, which chapter 7's table checks."""
    _load_modules()
    if paper is not None and not isinstance(paper, str):
        raise ArgTypeError(f"claims: paper must be a bibliography key (str) or None, got {type(paper).__name__}")
    chosen = [c for c in _CLAIMS if paper is None or c.paper == paper]
    if paper is not None and not chosen:
        raise ValueError(f"claims: no claim is about {paper!r}; papers: {sorted({c.paper for c in _CLAIMS})}")
    return sorted(chosen, key=lambda c: [int(p) if p.isdigit() else p for p in c.section.split(".")])


from .table import results_markdown, results_table  # noqa: E402  (needs the registry above)
