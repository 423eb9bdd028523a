r"""Handwriting generation in miniature (the paper's §6.5, Fig. 5): an LSTM with a mixture-density output.

The paper trains Graves's (2013) handwriting model on IAM-OnDB -- pen offsets
of lines about 700 points long on average, trained as sequences of 500 points
(Fig. 5's caption), batches of 8 -- and reports that with layer
norm the negative log likelihood reaches a value comparable to the baseline's
"but is much faster".

Here the pen trajectories are generated: each *line* is a few strokes, each
stroke an arc of a few to a couple of dozen points whose direction turns at its
own rate (loops and hooks, like cursive), followed by a pen lift and a jump.
A point is ``(dx, dy, eos)``: the pen's offset and whether the stroke ends
there. The model reads the points one by one and predicts the next from a
mixture of ``M`` bivariate Gaussians and a Bernoulli for ``eos`` (Graves 2013,
eqs. 18-26); the loss is the negative log likelihood in nats per point.

Kept: the batch size of 8, long sequences (hundreds of steps in the full
budget), the mixture-density output, the LSTM (``helpers.rnn.LSTM``: the
``LSTMCell`` with ``norm=None`` or ``"layer"``, run over a whole sequence by
torch's kernel or the fast layer-normalized path), samples drawn from the
trained model. Lost:
real handwriting, conditioning on text (the paper's model is the synthesis
network with a window over characters), three layers of 400 units.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn
from torch.nn import functional as F

from .._checks import check_int
from ..rnn import LSTM
from . import claim, experiment, sizes
from .provenance import lstm_engine
from .stats import Size
from ._common import final_mean, per_seed, ratio_text, rounded, spread_text, steps_to_baseline

__all__ = ["pen_trajectories", "MixtureDensityLSTM", "mixture_nll"]


def pen_trajectories(n, length, gen):
    """``n`` generated pen lines of ``length`` points: :math:`(T, n, 3)` with columns ``dx, dy, eos``.

    Strokes of 6 to 24 points; within a stroke the pen moves at a constant
    speed while its direction turns at a constant random rate; ``eos = 1`` on a
    stroke's last point, and the next offset is a pen-up jump to the right.
    """
    n = check_int(n, "n", "pen_trajectories", lo=1)
    length = check_int(length, "length", "pen_trajectories", lo=2)
    out = torch.zeros(length, n, 3)
    for j in range(n):
        t = 0
        while t < length:
            L = int(torch.randint(6, 25, (1,), generator=gen))
            theta0 = float(torch.rand(1, generator=gen)) * 2 * math.pi
            turn = (float(torch.rand(1, generator=gen)) - 0.5) * 0.9  # radians per point
            k = torch.arange(min(L, length - t), dtype=torch.float32)
            theta = theta0 + turn * k
            out[t:t + len(k), j, 0] = 0.6 * torch.cos(theta) + 0.05 * torch.randn(len(k), generator=gen)
            out[t:t + len(k), j, 1] = 0.6 * torch.sin(theta) + 0.05 * torch.randn(len(k), generator=gen)
            if t + L - 1 < length:
                out[t + L - 1, j, 2] = 1.0
            if t + L < length:  # the pen-up jump that starts the next stroke
                out[t + L, j, 0] = 1.5 + 0.3 * torch.randn(1, generator=gen)
                out[t + L, j, 1] = 0.3 * torch.randn(1, generator=gen)
                t += 1
            t += L
    return out


def mixture_nll(params, target):
    r"""Negative log likelihood (nats) of ``target = (dx, dy, eos)`` under a bivariate Gaussian mixture and a Bernoulli.

    Args:
        params: :math:`(\ldots, 6M + 1)`: mixture logits, means (x then y), log standard
            deviations (x then y), correlations before tanh, and the ``eos`` logit.
        target: :math:`(\ldots, 3)`.

    Shape:
        Output: :math:`(\ldots)`, one value per point.
    """
    M = (params.shape[-1] - 1) // 6
    logit_pi, mx, my, lsx, lsy, rho_raw, eos_logit = params.split([M, M, M, M, M, M, 1], dim=-1)
    rho = torch.tanh(rho_raw) * 0.999
    zx = (target[..., :1] - mx) / lsx.exp()  # (..., M)
    zy = (target[..., 1:2] - my) / lsy.exp()
    one_m_r2 = 1 - rho.pow(2)
    log_n = (-(zx.pow(2) + zy.pow(2) - 2 * rho * zx * zy) / (2 * one_m_r2)
             - math.log(2 * math.pi) - lsx - lsy - 0.5 * torch.log(one_m_r2))  # (..., M) log densities
    log_mix = torch.logsumexp(F.log_softmax(logit_pi, dim=-1) + log_n, dim=-1)  # (...)
    nll_eos = F.binary_cross_entropy_with_logits(eos_logit[..., 0], target[..., 2], reduction="none")
    return -log_mix + nll_eos


class MixtureDensityLSTM(nn.Module):
    """An LSTM over pen points with a mixture-density read-out (Graves 2013, §4).

    Args:
        hidden (int): ``H``.
        mixtures (int): ``M``.
        norm (None or str): ``None`` or ``"layer"``.

    Shape:
        forward(x): :math:`(T, B, 3)` -> parameters :math:`(T, B, 6M + 1)` of the next point's distribution.
    """

    def __init__(self, hidden, mixtures, norm):
        super().__init__()
        self.lstm = LSTM(3, hidden, norm=norm)  # an LSTMCell (``self.lstm.cell``), run a sequence at a time
        self.out = nn.Linear(hidden, 6 * mixtures + 1)
        self.mixtures = mixtures

    def forward(self, x, state=None):
        h, state = self.lstm(x, state)  # (T, B, H), ((B, H), (B, H))
        return self.out(h), state

    @torch.no_grad()
    def sample(self, length, gen):
        """One pen line of ``length`` points drawn from the model: :math:`(T, 3)`, on the CPU.

        The model runs on its own device; each step's distribution is read back and sampled
        on the CPU with ``gen`` (a CPU generator), so a seed gives the same line on every device.
        """
        device = self.out.weight.device
        M, point, state, pts = self.mixtures, torch.zeros(1, 1, 3, device=device), None, []
        for _ in range(length):
            p, state = self(point, state)
            logit_pi, mx, my, lsx, lsy, rho_raw, eos_logit = p[0, 0].cpu().split([M] * 6 + [1])
            k = int(torch.multinomial(F.softmax(logit_pi, 0), 1, generator=gen))
            rho = torch.tanh(rho_raw[k]) * 0.999
            e1, e2 = torch.randn(2, generator=gen)
            dx = mx[k] + lsx[k].exp() * e1
            dy = my[k] + lsy[k].exp() * (rho * e1 + torch.sqrt(1 - rho ** 2) * e2)
            eos = float(torch.rand(1, generator=gen) < torch.sigmoid(eos_logit[0]))
            point = torch.tensor([[[float(dx), float(dy), eos]]])
            pts.append(point[0, 0])
            point = point.to(device)
        return torch.stack(pts)


@experiment("handwriting",
            quick=dict(length=100, hidden=32, mixtures=3, batch=8, steps=150, eval_every=15, lr=5e-3, val=16),
            full=dict(length=500, hidden=32, mixtures=5, batch=8, steps=250, eval_every=25, lr=5e-3, val=32),
            engine=lstm_engine, 
            summary="pen trajectories, LSTM + mixture density at batch size 8, with/without LN (paper §6.5)")
def handwriting(budget, seed, device):
    """Validation NLL (nats per point) over training for the baseline and LN, and one sample of each.

    Pen lines are generated on the CPU (the same for every device); models and batches live on ``device``.
    """
    sz = sizes("handwriting", budget)
    val = pen_trajectories(sz["val"], sz["length"] + 1, torch.Generator().manual_seed(777_777)).to(device)
    out = {}
    for variant, norm in (("baseline", None), ("ln", "layer")):
        torch.manual_seed(seed)
        model = MixtureDensityLSTM(sz["hidden"], sz["mixtures"], norm).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=sz["lr"])
        gen = torch.Generator().manual_seed(50_000 + seed)
        curve, tic = {"step": [], "val_nll": [], "wall": []}, time.perf_counter()
        for step in range(1, sz["steps"] + 1):
            seq = pen_trajectories(sz["batch"], sz["length"] + 1, gen).to(device)  # (T + 1, 8, 3)
            loss = mixture_nll(model(seq[:-1])[0], seq[1:]).mean()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            if step % sz["eval_every"] == 0:
                with torch.no_grad():
                    nll = mixture_nll(model(val[:-1])[0], val[1:]).mean().item()
                curve["step"].append(step), curve["val_nll"].append(round(nll, 4))
                curve["wall"].append(round(time.perf_counter() - tic, 3))
        sample = model.sample(sz["length"], torch.Generator().manual_seed(seed))
        out[variant] = {**curve, "sample": rounded(sample, 3)}
    return out


def _final(run, v):
    return final_mean(run, v, "val_nll")


def _steps_to(run, v):
    """Steps until the validation NLL first reaches the baseline's final one (``inf`` if never)."""
    return steps_to_baseline(run, v, "val_nll")


@claim("handwriting", section="6.5",
       statement="At batch size 8 on long sequences, LN reaches the baseline's log likelihood much faster",
       paper_evidence="Fig. 5: train and test NLL of one model each, no numbers in the text",
       size=Size("steps to the baseline's final NLL, LN / baseline", "lower", 1.0, 2 / 3,
                 "'much faster': no number; we read it as a ratio of steps of at most 2/3 (a speed-up of at least 1.5)"))
def _hw_faster(record):
    ln, base = per_seed(record, lambda r: _steps_to(r, "ln")), per_seed(record, lambda r: _steps_to(r, "baseline"))
    return f"steps to the baseline's final NLL, LN / baseline: {ratio_text(ln, base)}", [a / b for a, b in zip(ln, base)]


#: How much worse (nats per point) LN's final NLL may be and still count as "comparable" to the baseline's.
COMPARABLE_NATS = 0.05


@claim("handwriting", section="6.5",
       statement="LN converges to a log likelihood comparable to the baseline's (no worse)",
       paper_evidence="Fig. 5: the final curves of one model each lie close together",
       size=Size("final NLL, LN minus baseline (nats per point)", "lower", 0.0, COMPARABLE_NATS,
                 f"'comparable': no number; we read it as no worse than the baseline by more than "
                 f"{COMPARABLE_NATS} nats per point"))
def _hw_comparable(record):
    ln, base = per_seed(record, lambda r: _final(r, "ln")), per_seed(record, lambda r: _final(r, "baseline"))
    diff = [a - b for a, b in zip(ln, base)]
    return f"final NLL, LN minus baseline: {spread_text(diff, 2)} nats per point", diff
