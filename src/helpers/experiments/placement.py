r"""Chapter 10's experiment on where the norm sits and what that does to depth.

One registered experiment, ``run(budget, seed, device) -> dict`` of plain values
(see :mod:`helpers.experiments`), on the character-level corpus of the book's
prose and the GPT of :mod:`helpers.transformer`, for every placement of
:data:`PLACEMENTS` (post-LN, pre-LN, sandwich / Peri-LN, DeepNorm, and ReZero
and Fixup, which have no norm) at every depth of the budget:

* **gradients at initialization**: each block's gradient norm, all of the
  block's parameters (:func:`helpers.transformer.grad_norms_at_init`,
  ``which="all"``), from the input side to the output side;
* **the largest stable learning rate**: the model is trained from the seed's
  initialization for ``steps`` AdamW steps, *without warm-up*, at each learning
  rate of the budget's grid (:data:`LRS`; the quick budget starts at 0.03, to
  save time) in increasing order, and each run's final loss is read on fixed
  validation windows. A learning rate is *stable* when the run did not
  diverge (:func:`helpers.transformer.train_lm`'s rule: a loss that is not finite
  or above twice the larger of the first loss and :math:`\ln V`), it learned
  (its final loss is at least :data:`LEARNED_NATS` below the unigram loss,
  :func:`helpers.corpus.unigram_loss`: a run that stalls at the characters' frequencies, as
  post-LN without warm-up does, has not trained, however stable its loss), and
  its final loss is within :data:`TOLERANCE_NATS` of the best final loss of the
  runs that learned (it still trains about as well as the best learning rate does). The sweep
  stops at the first run that diverges; the larger rates are recorded as not
  run (``None``) and counted as unstable (a larger step than one that diverged).

The runs are short on purpose: they measure the start of training at a large
learning rate without warm-up, the regime the analyses of Xiong et al. (2020)
and Wang et al. (2022, DeepNet) are about, not where each model ends. The
claims registered here quote those papers' abstracts; :func:`largest_stable_lr`
is the one place the rule above is written. A record made before a placement
was added lacks it (the shipped record may): :func:`placements_of` is what a
record has, and the readers here go by it. A placement run apart and merged
into a record later carries its own provenance in the record's
``placement_provenance`` (:func:`provenance_of`). Nothing runs at import.
"""

from __future__ import annotations

import functools
import math

from .._checks import check_instance, check_real
from ..corpus import load_char_corpus, unigram_loss
from ..transformer import NORMLESS, GPTConfig, grad_norms_at_init, train_lm
from . import claim, experiment, sizes
from ._common import per_seed, rounded
from .stats import Size, effect_text

__all__ = ["PLACEMENTS", "NO_NORM", "MODEL", "LRS", "TOLERANCE_NATS", "LEARNED_NATS", "model_config",
           "largest_stable_lr", "placements_of", "provenance_of", "stable_lrs", "summary_rows"]

#: The placements compared, as :class:`helpers.transformer.GPTConfig` spells them.
PLACEMENTS = ("post", "pre", "sandwich", "deepnorm", "rezero", "fixup")
#: The placements without a norm (``norm=None``, :data:`helpers.transformer.NORMLESS`); the others use layer norm.
NO_NORM = tuple(NORMLESS)
#: The model of every run, less ``vocab_size``, ``n_layer`` and ``placement``. Xavier initialization,
#: the setting of Xiong et al.'s analysis and of chapter 8's post-LN runs.
MODEL = dict(block_size=16, n_head=2, n_embd=16, init="xavier")
#: The learning-rate grid, increasing (AdamW, no warm-up).
LRS = (0.01, 0.03, 0.1, 0.3, 1.0)
#: A learning rate is stable when its final loss is at most this many nats above the grid's best.
TOLERANCE_NATS = 0.1
#: A run has learned when its final loss is at least this many nats below :func:`helpers.corpus.unigram_loss`.
LEARNED_NATS = 0.05


@functools.lru_cache(maxsize=1)
def _book_unigram_loss():
    return unigram_loss(load_char_corpus())


def model_config(vocab_size, n_layer, placement) -> GPTConfig:
    """The experiment's :class:`~helpers.transformer.GPTConfig`: layer norm, or no norm for ``"rezero"`` and
    ``"fixup"``."""
    return GPTConfig(**MODEL, vocab_size=vocab_size, n_layer=n_layer, placement=placement,
                     norm=None if placement in NO_NORM else "layer")


def largest_stable_lr(lrs, final_losses, tolerance=TOLERANCE_NATS, learned_below=math.inf):
    """The largest learning rate whose final loss is finite, below ``learned_below`` and within ``tolerance``
    of the best such loss.

    Args:
        lrs (sequence of float): the grid, increasing.
        final_losses (sequence of float or None): one per learning rate; ``None`` (not run, or
            diverged) and non-finite values count as unstable.
        tolerance (float): nats above the best final loss still counted as stable, >= 0.
        learned_below (float): a run whose final loss is not below this has not learned and is not
            counted (the experiment passes :func:`helpers.corpus.unigram_loss` minus :data:`LEARNED_NATS`).

    Returns:
        the learning rate (a float), or ``0.0`` when no run is stable.

    Example::

        >>> largest_stable_lr([0.01, 0.1, 1.0], [3.30, 3.35, None])
        0.1
        >>> largest_stable_lr([0.01, 0.1, 1.0], [3.30, 3.60, 3.35])
        1.0
        >>> largest_stable_lr([0.01, 0.1, 1.0], [3.10, 3.30, 3.30], learned_below=3.2)  # 3.30: never learned
        0.01
    """
    where = "largest_stable_lr"
    tolerance = check_real(tolerance, "tolerance", where, 0.0)
    lrs, final_losses = list(lrs), list(final_losses)
    if not lrs or len(lrs) != len(final_losses):
        raise ValueError(f"{where}: need one final loss per learning rate, got {len(final_losses)} for {len(lrs)}")
    if any(b <= a for a, b in zip(lrs, lrs[1:])):
        raise ValueError(f"{where}: lrs must be increasing, got {lrs}")
    if learned_below != math.inf:
        learned_below = check_real(learned_below, "learned_below", where)
    ok = [v is not None and math.isfinite(v) and v < learned_below for v in final_losses]
    if not any(ok):
        return 0.0
    best = min(v for v, good in zip(final_losses, ok) if good)
    stable = [lr for lr, v, good in zip(lrs, final_losses, ok) if good and v <= best + tolerance]
    return float(max(stable))


@experiment("placement_depth",
            quick=dict(depths=[6, 12, 24], lrs=list(LRS[1:]), steps=10, batch_size=8, grad_batches=2, eval_batches=2),
            full=dict(depths=[6, 12, 24], lrs=list(LRS), steps=60, batch_size=16, grad_batches=4, eval_batches=4),
            engine="helpers.transformer.GPT, torch operations",
            summary="Chapter 10: post / pre / sandwich / DeepNorm / ReZero / Fixup at depths 6-24: gradients at init, "
                    "largest stable learning rate")
def placement_depth(budget, seed, device):
    size = sizes("placement_depth", budget)
    corpus = load_char_corpus()
    V = len(corpus.vocab)
    out = {"depths": size["depths"], "lrs": size["lrs"], "placements": list(PLACEMENTS),
           "unigram_loss": rounded(unigram_loss(corpus), 5),
           "grads": {}, "final_loss": {}, "diverged": {}, "largest_stable_lr": {}}
    for placement in PLACEMENTS:
        for key in ("grads", "final_loss", "diverged", "largest_stable_lr"):
            out[key][placement] = []
        for depth in size["depths"]:
            cfg = model_config(V, depth, placement)
            out["grads"][placement].append(rounded(grad_norms_at_init(
                cfg, corpus.train, seed=seed, batch_size=size["batch_size"], batches=size["grad_batches"],
                which="all", device=device), 6))
            finals, diverged = [], []
            for lr in size["lrs"]:
                if any(diverged):  # a larger step than one that diverged: not run (None is not a divergence)
                    finals.append(None)
                    diverged.append(None)
                    continue
                _, h = train_lm(cfg, corpus.train, corpus.val, steps=size["steps"], lr=lr,
                                batch_size=size["batch_size"], seed=seed, eval_every=size["steps"],
                                eval_batches=size["eval_batches"], device=device)
                diverged.append(bool(h["diverged"]))
                finals.append(None if h["diverged"] else rounded(h["val_loss"][-1], 5))
            out["final_loss"][placement].append(finals)
            out["diverged"][placement].append(diverged)
            out["largest_stable_lr"][placement].append(
                largest_stable_lr(size["lrs"], finals, learned_below=out["unigram_loss"] - LEARNED_NATS))
    return out


# --- claims ---------------------------------------------------------------------------------

def _deepest(run, key, placement):
    """``run[key][placement]`` at the deepest depth of the record."""
    return run[key][placement][-1]


def placements_of(record):
    """The placements that every run (seed) of ``record`` has, in the record's order: a list.

    A record made before a placement joined :data:`PLACEMENTS` lacks it (the shipped full-budget record may
    lack ``"fixup"``); the readers go by this rather than by :data:`PLACEMENTS`.
    """
    check_instance(record, dict, "record", "placements_of", "a record of 'placement_depth'")
    runs = record["runs"]
    return [p for p in runs[0]["placements"] if all(p in r["placements"] for r in runs)]


def provenance_of(record, placement):
    """Where ``placement``'s part of ``record`` came from: the record's ``provenance``, or, for a placement run
    apart and merged in later, its own.

    A merged placement is listed in ``record["placement_provenance"]``, one entry per placement:
    ``{"note", "seeds", "sizes", "device", "torch", "python", "date", "wall_s", "provenance"}``, the
    keys of a record of :func:`helpers.experiments.run` (less its runs) with a note on how it was merged;
    its ``seeds`` and ``sizes`` are the record's, so its runs sit beside the others seed by seed. The
    record's own ``provenance``, ``date`` and ``wall_s`` are then those of the other placements.

    Returns:
        a dict with the keys :data:`helpers.experiments.provenance.KEYS`.

    Raises:
        ValueError: when ``placement`` is not in every run of the record.
    """
    if placement not in placements_of(record):
        raise ValueError(f"provenance_of: the record has no {placement!r} in every run; it has {placements_of(record)}")
    merged = record.get("placement_provenance", {})
    return merged[placement]["provenance"] if placement in merged else record["provenance"]


def stable_lrs(run, placement):
    """The largest stable learning rate of ``placement`` at each depth of one seed's result, by
    :func:`largest_stable_lr` from the run's final losses (the rule as it stands, also for records made
    before a run had to learn to count): a list, one per depth; 0.0 where no learning rate trained."""
    below = run.get("unigram_loss", _book_unigram_loss()) - LEARNED_NATS
    return [largest_stable_lr(run["lrs"], finals, learned_below=below) for finals in run["final_loss"][placement]]


def _lr_ratio(record, a, b):
    """Per seed, at the deepest depth: ``a``'s largest stable learning rate over ``b``'s (``inf`` when only ``a``
    trained), and whether neither trained at any rate of the grid (then the seed cannot be read)."""
    pairs = per_seed(record, lambda r: (stable_lrs(r, a)[-1], stable_lrs(r, b)[-1]))
    ratios = [x / y if y > 0 else math.inf if x > 0 else 0.0 for x, y in pairs]
    return ratios, [x == 0 and y == 0 for x, y in pairs]


def _lrs_text(record, placement):
    vals = per_seed(record, lambda r: stable_lrs(r, placement)[-1])
    return ", ".join(f"{v:g}" if v > 0 else "none" for v in vals)


#: How the claims name the placements in their measurement text: in full, and in a ratio.
_NAMES = {"post": "post-LN", "pre": "pre-LN", "deepnorm": "DeepNorm"}
_SHORT = {"post": "post", "pre": "pre", "deepnorm": "DeepNorm"}


def _lr_comparison(record, a, b):
    """(measurement, effects, undecided) of a claim comparing placements ``a`` and ``b`` by the largest stable
    learning rate at the deepest depth: each seed's rates ("none": no rate of the grid trained), their ratio
    a / b per seed, and the seeds where neither trained (undecided)."""
    ratios, neither = _lr_ratio(record, a, b)
    note = f"; neither trained at any rate in {sum(neither)} of {len(neither)} seeds" if any(neither) else ""
    shown = [1.0 if n else v for v, n in zip(ratios, neither)]  # unreadable seeds: shown as 1, judged undecided
    return (f"largest stable learning rate per seed: {_NAMES[a]} {_lrs_text(record, a)}, {_NAMES[b]} "
            f"{_lrs_text(record, b)}; {_SHORT[a]} / {_SHORT[b]} {effect_text(shown)}{note}", shown, neither)


XIONG = ("Xiong et al. (2020), abstract: \"at initialization, for the original-designed Post-LN Transformer, "
         "which places the layer normalization between the residual blocks, the expected gradients of the "
         "parameters near the output layer are large\"")


@claim("placement_depth", section="10.1", paper="xiong2020layer",
       statement="Post-LN's gradients near the output are larger at initialization than pre-LN's "
                 "(Xiong et al., 2020), at the deepest depth",
       paper_evidence=XIONG + "; a mean-field proof",
       size=Size("last block's gradient norm at init, post-LN / pre-LN", "higher", 1.0, None,
                 "no size: \"large\"; judged by direction"))
def post_grads_near_output_larger(record):
    ratios = per_seed(record, lambda r: _deepest(r, "grads", "post")[-1] / _deepest(r, "grads", "pre")[-1])
    depth = record["runs"][0]["depths"][-1]
    return f"depth {depth}: last block's gradient norm, post-LN / pre-LN: {effect_text(ratios)}", ratios


@claim("placement_depth", section="10.1", paper="xiong2020layer",
       statement="Post-LN tolerates a smaller learning rate than pre-LN without warm-up (Xiong et al., 2020), "
                 "at the deepest depth",
       paper_evidence="Xiong et al. (2020), abstract, after the sentence on gradients: \"Therefore, using a large "
                      "learning rate on those gradients makes the training unstable.\"",
       size=Size("largest stable learning rate on the grid, post-LN / pre-LN", "lower", 1.0, None,
                 "no size: \"unstable\"; judged by direction (a grid step is a factor of about 3)"))
def post_less_stable_than_pre(record):
    return _lr_comparison(record, "post", "pre")


@claim("placement_depth", section="10.1", paper="wang2022deepnet",
       statement="DeepNorm trains as stably as pre-LN (Wang et al., 2022, DeepNet), at the deepest depth",
       paper_evidence="Wang et al. (2022), abstract: \"The proposed method combines the best of two worlds, i.e., "
                      "good performance of Post-LN and stable training of Pre-LN, making DeepNorm a preferred "
                      "alternative.\"",
       size=Size("largest stable learning rate on the grid, DeepNorm / pre-LN", "higher", 1.0, 1.0,
                 "no size stated; we read \"stable training of Pre-LN\" as a largest stable learning rate at "
                 "least pre-LN's (ratio >= 1)"))
def deepnorm_as_stable_as_pre(record):
    return _lr_comparison(record, "deepnorm", "pre")


@claim("placement_depth", section="10.1", kind="reading", paper="wang2022deepnet",
       statement="Our reading of DeepNet's abstract: DeepNorm is more stable than the Post-LN it modifies, "
                 "at the deepest depth",
       paper_evidence="Wang et al. (2022), abstract: \"we introduce a new normalization function (DeepNorm) to "
                      "modify the residual connection in Transformer, accompanying with theoretically derived "
                      "initialization. In-depth theoretical analysis shows that model updates can be bounded in a "
                      "stable way.\"",
       size=Size("largest stable learning rate on the grid, DeepNorm / post-LN", "higher", 1.0, None,
                 "no size; judged by direction"))
def deepnorm_more_stable_than_post(record):
    return _lr_comparison(record, "deepnorm", "post")


def summary_rows(record):
    """Per placement and depth: the largest stable learning rates of the seeds, and the last block's gradient
    norm at initialization relative to the first block's (median over seeds), for the chapter's table."""
    check_instance(record, dict, "record", "summary_rows", "a record of 'placement_depth'")
    rows = []
    runs = record["runs"]
    for placement in placements_of(record):
        for d, depth in enumerate(runs[0]["depths"]):
            lrs = [stable_lrs(r, placement)[d] for r in runs]
            spread = [r["grads"][placement][d][-1] / r["grads"][placement][d][0] for r in runs]
            rows.append({"placement": placement, "depth": depth, "largest_stable_lr": lrs,
                         "grad_last_over_first": effect_text(spread)})
    return rows

