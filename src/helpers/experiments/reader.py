r"""Reading comprehension in miniature (the paper's §6.2, Fig. 2): associative recall.

The paper trains an attentive reader on the CNN corpus (a passage, a query with
a blank, the answer an entity of the passage) with an LSTM, a layer-normalized
LSTM and recurrent batch norm (Cooijmans et al. 2016), and tries LN's gain
initialized at 1.0 and at 0.1.

Here a *question* is a query marker and a key, followed by a *passage* of
key-value facts, ``? q k1 v1 k2 v2 ... kK vK``, keys drawn without repetition
from 8 symbols and values from 10 digits; the answer is the value of key
``q``. (The query comes first, as in one of Hermann et al.'s LSTM readers, so
that a reader without attention knows what to look for.) Like the
CNN task, the answer is in the passage and only reading decides which one.

Kept: an LSTM reading the passage token by token (``helpers.rnn.LSTMCell``,
``norm=None`` or ``"layer"``), recurrent batch norm with statistics per time
step and gain 0.1 as Cooijmans et al., LN's gain at 1.0 and 0.1, validation
error over training. Lost: attention, natural language, the bidirectional
reader; passages are a dozen tokens, not hundreds.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from .._checks import check_choice, check_instance, check_int, check_real
from ..rnn import LSTMCell
from . import claim, experiment, sizes
from ._common import per_seed, ratio_text, spread_text, steps_to_reach
from .stats import Size

__all__ = ["N_KEYS", "N_VALUES", "recall_task", "guessing_error", "BNLSTMCell", "Reader", "VARIANTS", "BN_EVALUATIONS",
           "evaluate"]

N_KEYS, N_VALUES = 8, 10
QUERY = N_KEYS + N_VALUES  # token ids: keys 0..N_KEYS-1, values N_KEYS..QUERY-1, then the query marker
#: The readers compared: the LSTM's normalization and the initial gain of its norms.
VARIANTS = {"lstm": (None, 1.0), "ln": ("layer", 1.0), "ln_gain0.1": ("layer", 0.1),
            "bn": ("batch", 0.1), "bn_gain1.0": ("batch", 1.0)}
#: How a batch-norm reader's validation error is measured: record key -> (statistics, floor).
#: The statistics are the running averages kept during training, population statistics estimated
#: after training (Cooijmans et al.), or the validation set's own batch statistics (what the weights
#: can do); with the floor, features that are constant over the batch are normalized to 0 as in
#: training (:class:`BNLSTMCell`'s ``const_var``), without it divided by sqrt(eps) as plain batch
#: norm does. ``"val_error"`` is the curve the claims read.
BN_EVALUATIONS = {
    "val_error_running_plain": ("running", False),
    "val_error_running": ("running", True),
    "val_error_population_plain": ("population", False),
    "val_error": ("population", True),
    "val_error_batch": ("batch", None),
}


def recall_task(n, n_facts, gen):
    """``n`` questions, each a query (marker, key) then ``n_facts`` key-value facts.

    Returns:
        tokens :math:`(2 + 2K, n)` (time-major) and the answers :math:`(n,)`, values 0..9.
    """
    n = check_int(n, "n", "recall_task", lo=1)
    n_facts = check_int(n_facts, "n_facts", "recall_task", lo=1, hi=N_KEYS)
    keys = torch.argsort(torch.rand(n, N_KEYS, generator=gen), dim=1)[:, :n_facts]  # (n, K), distinct
    values = torch.randint(N_VALUES, (n, n_facts), generator=gen)  # (n, K)
    asked = torch.randint(n_facts, (n,), generator=gen)  # (n,)
    facts = torch.stack([keys, N_KEYS + values], dim=2).reshape(n, 2 * n_facts)  # k1 v1 k2 v2 ...
    query = torch.stack([torch.full((n,), QUERY), keys[torch.arange(n), asked]], dim=1)  # (n, 2)
    return torch.cat([query, facts], dim=1).T.contiguous(), values[torch.arange(n), asked]


def guessing_error(n_facts):
    """Error rates (in %) of two readers that ignore the question: ``(any value, one of the passage's values)``.

    Guessing any of the ``N_VALUES`` values is right with probability ``1 / N_VALUES``.
    Picking one of the passage's ``n_facts`` values at random is right when it picks the asked
    fact (``1 / n_facts``) or another fact whose value happens to be the same (values are drawn
    with replacement): ``1/K + (1 - 1/K) / N_VALUES``.

    Example::

        >>> [round(e, 1) for e in guessing_error(3)]
        [90.0, 60.0]
    """
    k = check_int(n_facts, "n_facts", "guessing_error", lo=1, hi=N_KEYS)
    return 100 * (1 - 1 / N_VALUES), 100 * (1 - (1 / k + (1 - 1 / k) / N_VALUES))


class BNLSTMCell(nn.Module):
    r"""Recurrent batch norm (Cooijmans et al. 2016): an LSTM with batch norm of both terms and of the cell, per time step.

    .. math::
        (i, f, g, o) = \mathrm{BN}_t(W_{hh} h_{t-1}; \gamma_1) + \mathrm{BN}_t(W_{ih} x_t; \gamma_2) + b, \qquad
        h_t = \sigma(o) \odot \tanh(\mathrm{BN}_t(c_t; \gamma_3, \beta_3))

    Each time step ``t`` has its own statistics. In training they are the batch's mean
    and (biased) variance; running averages of them (momentum 0.1) are kept as well.
    At evaluation the model uses its *population* statistics: the running averages, or,
    after :meth:`estimate_population`, the average of the batch statistics of many
    training batches drawn with the weights frozen -- Cooijmans et al.'s estimate.
    Steps beyond ``max_steps`` reuse the last step's statistics.

    **Constant features.** A feature that takes the same value for every example of the
    batch at step ``t`` (the first token of every question is the same marker, and
    :math:`h_0 = 0`) has batch variance 0, so training normalizes it to exactly 0. At
    evaluation its stored variance is (near) 0 too, and any small difference between the
    feature and its stored mean (a running mean that lags the weights, or rounding)
    is multiplied by :math:`1/\sqrt{\epsilon}` (316 for :math:`\epsilon = 10^{-5}`). With ``const_var`` set, evaluation keeps
    training's answer: a feature whose population variance is at most ``const_var`` is
    normalized to 0.

    Args:
        input_size (int), hidden_size (int): ``I``, ``H``.
        max_steps (int): the number of time steps with their own statistics.
        gain (float): the initial :math:`\gamma`'s. Default: 0.1, Cooijmans et al.'s choice
        eps (float): added to the variance. Default: 1e-5
        const_var (float or None): the variance at or below which a feature counts as constant
            at evaluation; ``None`` divides by :math:`\sqrt{\epsilon}` as plain batch norm does.
            Default: 1e-8
    """

    def __init__(self, input_size, hidden_size, max_steps, gain=0.1, eps=1e-5, const_var=1e-8):
        super().__init__()
        self.hidden_size = check_int(hidden_size, "hidden_size", "BNLSTMCell", lo=1)
        self.max_steps = check_int(max_steps, "max_steps", "BNLSTMCell", lo=1)
        self.eps = check_real(eps, "eps", "BNLSTMCell", lo=0.0)
        self.const_var = None if const_var is None else check_real(const_var, "const_var", "BNLSTMCell", lo=0.0)
        self.lstm = LSTMCell(input_size, hidden_size)  # weights, bias and initialization of the plain cell
        g4, h = 4 * hidden_size, hidden_size
        self.gamma_hh = nn.Parameter(torch.full((g4,), float(gain)))
        self.gamma_ih = nn.Parameter(torch.full((g4,), float(gain)))
        self.gamma_c = nn.Parameter(torch.full((h,), float(gain)))
        self.beta_c = nn.Parameter(torch.zeros(h))
        for name, size in (("hh", g4), ("ih", g4), ("c", h)):
            self.register_buffer(f"mean_{name}", torch.zeros(max_steps, size))
            self.register_buffer(f"var_{name}", torch.ones(max_steps, size))
        self._collect = None  # while estimating the population: {(name, t): [sum of means, sum of vars, count]}

    def _bn(self, a, name, t):
        t = min(t, self.max_steps - 1)
        mean, var = getattr(self, f"mean_{name}"), getattr(self, f"var_{name}")
        if self.training or self._collect is not None:
            m, v = a.mean(0), a.var(0, unbiased=False)  # (F,) over the batch
            with torch.no_grad():
                if self._collect is not None:
                    acc = self._collect.setdefault((name, t), [0.0, 0.0, 0])
                    acc[0], acc[1], acc[2] = acc[0] + m, acc[1] + v, acc[2] + 1
                else:
                    mean[t].lerp_(m, 0.1), var[t].lerp_(v, 0.1)
            return (a - m) / torch.sqrt(v + self.eps)
        m, v = mean[t], var[t]
        out = (a - m) / torch.sqrt(v + self.eps)  # (B, F)
        if self.const_var is not None:
            out = torch.where(v <= self.const_var, torch.zeros_like(out), out)  # constant in training: 0 there too
        return out

    @torch.no_grad()
    def estimate_population(self, batches):
        """Replace the running averages by the mean of the batch statistics over ``batches``.

        Args:
            batches: an iterable of inputs :math:`(T, B, I)`, drawn like the training batches.
                The weights are not changed; the model is left in evaluation mode.

        Returns:
            the number of batches averaged.
        """
        self._collect = {}
        n = 0
        try:
            for x in batches:
                self.run_sequence(x)
                n += 1
        finally:
            collected, self._collect = self._collect, None
        if n == 0:
            raise ValueError("BNLSTMCell.estimate_population: no batches")
        for (name, t), (m, v, k) in collected.items():
            getattr(self, f"mean_{name}")[t] = m / k
            getattr(self, f"var_{name}")[t] = v / k
        self.eval()
        return n

    def run_sequence(self, x):
        """Run over ``x`` :math:`(T, B, I)`; return the last hidden state :math:`(B, H)`."""
        B = x.shape[1]
        h = c = x.new_zeros(B, self.hidden_size)
        cell = self.lstm
        for t in range(x.shape[0]):
            gates = (self.gamma_hh * self._bn(h @ cell.weight_hh.T, "hh", t)
                     + self.gamma_ih * self._bn(x[t] @ cell.weight_ih.T, "ih", t) + cell.bias)  # (B, 4H)
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
            h = torch.sigmoid(o) * torch.tanh(self.gamma_c * self._bn(c, "c", t) + self.beta_c)
        return h


class Reader(nn.Module):
    """Embed the tokens, read them with one recurrent cell, classify the answer from the last state.

    Args:
        hidden (int): ``H``.
        variant (str): a key of :data:`VARIANTS`.
        max_steps (int): the passage length (for batch norm's per-step statistics).
    """

    def __init__(self, hidden, variant, max_steps, emb=16):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"Reader: variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        norm, gain = VARIANTS[variant]
        self.embed = nn.Embedding(QUERY + 1, emb)
        if norm == "batch":
            self.cell = BNLSTMCell(emb, hidden, max_steps, gain=gain)
        else:
            self.cell = LSTMCell(emb, hidden, norm=norm)
            if norm == "layer":
                with torch.no_grad():
                    for ln in (self.cell.ln_ih, self.cell.ln_hh, self.cell.ln_c):
                        ln.weight.fill_(gain)
        self.out = nn.Linear(hidden, N_VALUES)

    def forward(self, tokens, stats="stored", floor=True):
        r"""Logits :math:`(B, 10)` for tokens :math:`(T, B)`.

        For a batch-norm reader in evaluation mode: ``stats="stored"`` uses the statistics the
        cell holds (running averages, or population statistics after
        :meth:`BNLSTMCell.estimate_population`), ``"batch"`` these tokens' own batch statistics
        (the stored ones are left alone); ``floor=False`` divides constant features by
        :math:`\sqrt{\epsilon}` as plain batch norm does instead of normalizing them to 0.
        Other readers ignore both.
        """
        stats = check_choice(stats, "stats", ("stored", "batch"), "Reader")
        check_instance(floor, bool, "floor", "Reader", "True or False")
        x = self.embed(tokens)  # (T, B, E)
        if not isinstance(self.cell, BNLSTMCell):
            _, (h, _) = self.cell.run_sequence(x)
            return self.out(h)  # (B, 10)
        cell = self.cell
        if self.training:
            return self.out(cell.run_sequence(x))
        kept = cell._collect, cell.const_var
        if stats == "batch":
            cell._collect = {}  # batch statistics, collected and thrown away
        if not floor:
            cell.const_var = None
        try:
            return self.out(cell.run_sequence(x))
        finally:
            cell._collect, cell.const_var = kept


def _error(model, val, stats="stored", floor=True):
    """Validation error (%) of ``model`` on ``val = (tokens, answers)``, in evaluation mode."""
    with torch.no_grad():
        return round(100 * (model(val[0], stats, floor).argmax(1) != val[1]).float().mean().item(), 2)


def evaluate(model, val, population_batches):
    """Validation errors (%) of a trained reader: ``{"val_error": ...}``, and for batch norm every :data:`BN_EVALUATIONS`.

    A batch-norm reader is measured five ways (:data:`BN_EVALUATIONS`): with the running
    averages kept during training, with and without the constant-feature floor; with the
    validation set's own batch statistics; and with population statistics estimated from
    ``population_batches`` (token batches :math:`(T, B)` drawn like the training batches),
    with and without the floor. The running averages are restored afterwards, so training
    can go on. The model is left in training mode.
    """
    model.eval()
    if not isinstance(model.cell, BNLSTMCell):
        out = {"val_error": _error(model, val)}
    else:
        cell = model.cell
        kept = {name: b.clone() for name, b in cell.named_buffers()}
        out = {}
        for key, (stats, floor) in BN_EVALUATIONS.items():  # the running averages and the batch's own first
            if stats != "population":
                out[key] = _error(model, val, "batch" if stats == "batch" else "stored", bool(floor))
        with torch.no_grad():
            cell.estimate_population(model.embed(t) for t in population_batches)
        for key, (stats, floor) in BN_EVALUATIONS.items():
            if stats == "population":
                out[key] = _error(model, val, "stored", floor)
        with torch.no_grad():
            for name, b in cell.named_buffers():
                b.copy_(kept[name])
    model.train()
    return out


def _train_one(variant, sz, seed, val, device):
    torch.manual_seed(seed)
    T = 2 * sz["facts"] + 2
    model = Reader(sz["hidden"], variant, T).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=sz["lr"])
    gen = torch.Generator().manual_seed(20_000 + seed)  # the same passages for every variant
    pop_gen = torch.Generator().manual_seed(30_000 + seed)  # batches for batch norm's population statistics
    curve, tic = {"step": [], "wall": []}, time.perf_counter()
    for step in range(1, sz["steps"] + 1):
        tokens, answer = (t.to(device) for t in recall_task(sz["batch"], sz["facts"], gen))  # drawn on the CPU
        loss = nn.functional.cross_entropy(model(tokens), answer)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % sz["eval_every"] == 0:
            pop = [recall_task(sz["batch"], sz["facts"], pop_gen)[0].to(device) for _ in range(sz["pop_batches"])] \
                if VARIANTS[variant][0] == "batch" else []
            for key, err in evaluate(model, val, pop).items():
                curve.setdefault(key, []).append(err)
            curve["step"].append(step), curve["wall"].append(round(time.perf_counter() - tic, 3))
    return curve


@experiment("reader",
            quick=dict(facts=3, hidden=32, batch=64, steps=250, eval_every=25, lr=1e-2, val=500, pop_batches=10),
            full=dict(facts=3, hidden=32, batch=64, steps=500, eval_every=25, lr=1e-2, val=2000, pop_batches=20),
            engine="stepped cells (helpers.rnn.LSTMCell; the BN-LSTM cell of helpers.experiments.reader), torch operations", 
            summary="associative recall read by an LSTM: none / LN (gain 1.0, 0.1) / recurrent BN (paper §6.2)")
def reader(budget, seed, device):
    """Validation error (%) over training for every variant of :data:`VARIANTS`, on the same passages.

    Passages are drawn on the CPU (the same for every device); models and batches live on ``device``.
    """
    sz = sizes("reader", budget)
    val = recall_task(sz["val"], sz["facts"], torch.Generator().manual_seed(999_999))  # one fixed validation set
    val = tuple(t.to(device) for t in val)
    return {v: _train_one(v, sz, seed, val, device) for v in VARIANTS}


def _final(run, v, k=3):
    """Mean validation error over the last ``k`` evaluations."""
    e = run[v]["val_error"][-k:]
    return sum(e) / len(e)


def _steps_to(run, v, target):
    s = steps_to_reach(run[v]["step"], run[v]["val_error"], target)
    return math.inf if s is None else s


def _target(run):
    """The error the plain LSTM reaches at the end: the bar for "trains faster"."""
    return _final(run, "lstm")


_PAPER_62 = ("'not only trains faster but converges to a better validation result over both the baseline "
             "and BN variants': no size stated")


@claim("reader", section="6.2", statement="LN trains faster than the plain LSTM and than recurrent batch norm",
       paper_evidence="Fig. 2: validation error of one model each, the BN curves taken from Cooijmans et al. (2016)",
       size=Size("steps to the LSTM's final error, LN / the faster of LSTM and BN (gain 0.1)", "lower", 1.0, None,
                 _PAPER_62))
def _reader_faster(record):
    ln = per_seed(record, lambda r: _steps_to(r, "ln", _target(r)))
    lstm = per_seed(record, lambda r: _steps_to(r, "lstm", _target(r)))
    bn = per_seed(record, lambda r: _steps_to(r, "bn", _target(r)))
    others = [min(a, b) for a, b in zip(lstm, bn)]
    effects = [x / o for x, o in zip(ln, others)]  # inf where LN never got there
    never = sum(not math.isfinite(b) for b in bn)
    bn_text = f"LN / recurrent BN {ratio_text(ln, bn)}" if not never else \
        f"recurrent BN never reached it in {never} of {len(bn)} seeds"
    return f"steps to the LSTM's final error: LN / LSTM {ratio_text(ln, lstm)}; {bn_text}", effects


@claim("reader", section="6.2", statement="LN converges to a lower validation error than the LSTM and recurrent BN",
       paper_evidence="Fig. 2: one curve each; the paper gives no numbers",
       size=Size("final validation error (%), LN minus the better of LSTM and BN (gain 0.1)", "lower", 0.0, None,
                 _PAPER_62))
def _reader_better(record):
    ln = per_seed(record, lambda r: _final(r, "ln"))
    lstm = per_seed(record, lambda r: _final(r, "lstm"))
    bn = per_seed(record, lambda r: _final(r, "bn"))
    effects = [x - min(a, b) for x, a, b in zip(ln, lstm, bn)]
    return (f"final validation error (%): LN {spread_text(ln, 1)}, LSTM {spread_text(lstm, 1)}, "
            f"recurrent BN {spread_text(bn, 1)}", effects)


@claim("reader", section="6.2", statement="LN's gain initialized at 1.0 works better than at 0.1",
       paper_evidence="Text: 1.0 'performed significantly better' than 0.1; no curve or number shown",
       size=Size("final validation error (%), gain 0.1 minus gain 1.0", "higher", 0.0, None,
                 "'the former model performed significantly better': no number; judged by direction in every seed"))
def _reader_gain(record):
    g1 = per_seed(record, lambda r: _final(r, "ln"))
    g01 = per_seed(record, lambda r: _final(r, "ln_gain0.1"))
    return (f"final validation error (%): gain 1.0 {spread_text(g1, 1)}, gain 0.1 {spread_text(g01, 1)}",
            [b - a for a, b in zip(g1, g01)])


@claim("reader", section="6.2",
       statement="LN is less sensitive to the initial gain (1.0 or 0.1) than recurrent batch norm "
                 "(our reading of the paper's sentence)",
       paper_evidence="Text: 'layer normalization is not sensitive to the initial scale in the same way that "
                      "recurrent BN is'; BN at gain 1.0 is not shown",
       size=Size("|BN 0.1 − BN 1.0| minus |LN 0.1 − LN 1.0|, final validation error (percentage points)",
                 "higher", 0.0, None, "no size stated; judged by direction in every seed"), kind="reading")
def _reader_gain_sensitivity(record):
    def gap(r, a, b):
        return abs(_final(r, a) - _final(r, b))
    bn = per_seed(record, lambda r: gap(r, "bn", "bn_gain1.0"))
    ln = per_seed(record, lambda r: gap(r, "ln_gain0.1", "ln"))
    return (f"change of the final validation error (percentage points) from gain 1.0 to 0.1: "
            f"recurrent BN {spread_text(bn, 1)}, LN {spread_text(ln, 1)}", [b - a for a, b in zip(ln, bn)])
