r"""Benchmarks of layer norm and of the layer-normalized LSTM, and the ``make bench`` report.

Every time is the median of interleaved repetitions, and every figure in the
report is a *ratio* to a reference measured in the same run on the same
machine, because absolute times say more about the machine than about the
code. Chapter 9 calls the same functions with small sizes.

* :func:`time_calls`: medians of interleaved repetitions of several callables.
* :func:`layer_norm_throughput`: GB/s of each layer norm implementation
  (:data:`LAYER_NORMS`) and of a plain copy (the memory roofline), forward or
  backward, for some row widths and dtypes.
* :func:`lstm_train_step`: one training step (forward and backward) of
  :class:`helpers.rnn.LSTM` (on each of its engines), :class:`torch.nn.LSTM`, a
  :class:`torch.nn.LSTMCell` loop and the book's :class:`helpers.rnn.LSTMCell` loop.
* :func:`thread_comparison`: at each thread count (``--threads 1,all``), the C layer
  norm against ``F.layer_norm`` and :class:`helpers.rnn.LSTM` against ``nn.LSTM`` and
  PyTorch's own scripted layer-norm LSTM (:class:`ScriptedLNLSTM`) at the shapes of
  :data:`THREAD_SHAPES`, as per-round ratios (min/median/max), judged by :func:`thread_targets`.
* :func:`run`, :func:`targets`, :func:`write_report`: the whole benchmark; run it as
  ``python -m helpers.bench [--quick] [--threads 1,all] [--out DIR]`` (``make bench``).

Nothing runs at import.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import pathlib
import platform
import statistics
import sys
import time
import warnings

import torch
import torch.nn.functional as F
from torch._functorch import config as functorch_config

from . import lstm_kernel
from ._checks import check_choice, check_instance, check_int
from .kernels import (c_available, c_layer_norm, compiled_layer_norm, naive_layer_norm, triton_available,
                      triton_layer_norm)
from .norms import LayerNorm
from .rnn import LSTM, LSTMCell

__all__ = [
    "SIZES",
    "LAYER_NORMS",
    "steady_allocator",
    "default_allocator",
    "THREAD_SHAPES",
    "ScriptedLNLSTM",
    "thread_comparison",
    "thread_targets",
    "parse_threads",
    "time_calls",
    "layer_norm_bytes",
    "layer_norm_throughput",
    "lstm_train_step",
    "lstm_engine",
    "machine",
    "run",
    "targets",
    "write_report",
    "main",
]

#: Sizes of a run: ``"tiny"`` for the smoke test, ``"chapter"`` for chapter 9, ``"full"`` for ``make bench``,
#: ``"gpu"`` for ``make gpu-check`` (larger tensors to fill a GPU, one compilation per dtype and direction).
#: ``elements`` is the number of elements of one input tensor; ``lstm`` is (B, T, I, H); ``compile``:
#: ``False``, ``True`` (one compilation per shape) or ``"dynamic"`` (one per dtype and direction).
SIZES = {
    "tiny": {"widths": (32,), "elements": 2 ** 12, "dtypes": ("float32",), "repeats": 2, "lstm": (4, 3, 3, 8),
             "compile": False},
    "chapter": {"widths": (128, 512, 2048), "elements": 2 ** 20, "dtypes": ("float32", "bfloat16"), "repeats": 7,
                "lstm": (64, 64, 32, 128), "compile": True},
    "full": {"widths": (128, 512, 2048, 8192), "elements": 2 ** 22, "dtypes": ("float32", "bfloat16"),
             "repeats": 11, "lstm": (64, 64, 32, 128), "compile": True},
    "gpu": {"widths": (512, 2048, 8192), "elements": 2 ** 24, "dtypes": ("float32", "bfloat16"), "repeats": 11,
            "lstm": (64, 64, 32, 128), "compile": "dynamic"},
}


def _module_layer_norm(x, w, b):
    """``helpers.norms.LayerNorm`` (the module) with gain ``w`` and bias ``b`` (the same tensors)."""
    ln = LayerNorm(x.shape[-1], device=x.device, dtype=x.dtype)
    del ln.weight, ln.bias
    ln.weight, ln.bias = w, b  # plain attributes: the caller's tensors, their gradients included
    return ln


#: Name -> ``fn(x, weight, bias)``; the copy is the roofline (forward: clone, 2 transfers;
#: backward: add, 3 transfers), not a layer norm. The C kernel runs where it builds, on
#: float32 and float64 on a CPU; Triton only on a CUDA GPU.
LAYER_NORMS = {
    "naive composite": naive_layer_norm,
    "norms.LayerNorm": lambda x, w, b: _module_layer_norm(x, w, b)(x),
    "F.layer_norm": lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b),
    "compiled composite": compiled_layer_norm,
    "C kernel": c_layer_norm,
    "triton": triton_layer_norm,
}


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


_ALLOCATOR = []  # what steady_allocator() did, once per process


def steady_allocator():
    """Make the C library's allocator reuse freed large buffers; returns a sentence saying what it did.

    Every layer norm here returns a new tensor of up to tens of MB. By default
    glibc gives a buffer that large fresh pages from the operating system
    (``mmap``) and returns them when it is freed, *unless* its adaptive
    threshold has moved past that size, which depends on the order of earlier
    allocations. Writing to fresh pages costs a page fault every 4 KB, so the
    same kernel can run at half or double the speed from one process to the
    next. Fixing the threshold at 32 MiB (and not giving freed memory back)
    makes every implementation write into reused memory: the timings then
    measure the kernels, not the operating system. Linux with glibc only;
    elsewhere nothing changes, and the sentence says so.
    """
    if not _ALLOCATOR:
        done = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None)
                m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameters
                done = libc.mallopt(m_mmap_threshold, 32 << 20) == 1 and libc.mallopt(m_trim_threshold, 1 << 30) == 1
            except (OSError, AttributeError):
                done = False
        _ALLOCATOR.append("glibc malloc with its mmap threshold fixed at 32 MiB and trim threshold at 1 GiB "
                          "(freed buffers are reused: no page faults inside the timings)" if done else
                          "the platform's default allocator (not adjusted)")
    return _ALLOCATOR[0]


def default_allocator():
    """Put glibc's allocator thresholds back to its defaults (128 KiB each) after :func:`steady_allocator`.

    Large buffers are then given back to the system when freed, so a process
    that timed something (chapter 9's kernel, say) does not keep its peak
    memory. glibc's *adaptive* mmap threshold stays off once set; the fixed
    default is what it starts from. Returns what it did, in words.
    """
    done = False
    if _ALLOCATOR and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None)
            m_trim_threshold, m_mmap_threshold = -1, -3
            done = libc.mallopt(m_mmap_threshold, 128 << 10) == 1 and libc.mallopt(m_trim_threshold, 128 << 10) == 1
            libc.malloc_trim(0)
        except (OSError, AttributeError):
            done = False
    _ALLOCATOR.clear()
    return "glibc malloc's default thresholds restored (128 KiB)" if done else "nothing to restore"


class _SteadyAllocator:
    """``with``: :func:`steady_allocator` inside, and the defaults back after unless it was already on."""

    def __enter__(self):
        self.was_on = bool(_ALLOCATOR)
        return steady_allocator()

    def __exit__(self, *exc):
        if not self.was_on:
            default_allocator()


def time_calls(calls, repeats=7, device="cpu"):
    """Median seconds of each callable, over ``repeats`` interleaved rounds after one warm-up call each.

    Interleaving (a, b, c, a, b, c, ...) spreads the machine's slow moments over
    all of them alike, so their ratios stay fair on a busy machine. Runs under
    :func:`steady_allocator`, and restores glibc's defaults after (:func:`default_allocator`)
    unless the process had fixed them itself (``python -m helpers.bench`` does).

    Args:
        calls (dict): name -> callable with no arguments.
        repeats (int): rounds. Default: 7
        device: synchronized before and after each call when it is a CUDA device.

    Returns:
        dict name -> ``{"median": s, "q1": s, "q3": s, "times": [s, ...]}`` (``times``: one per round).
    """
    repeats = check_int(repeats, "repeats", "time_calls", lo=1)
    times = {name: [] for name in calls}
    with _SteadyAllocator():
        for fn in calls.values():
            fn()  # warm-up (and compilation)
        for _ in range(repeats):
            for name, fn in calls.items():
                _sync(device)
                tic = time.perf_counter()
                fn()
                _sync(device)
                times[name].append(time.perf_counter() - tic)
    out = {}
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=4) if len(ts) > 1 else [ts[0]] * 3
        out[name] = {"median": statistics.median(ts), "q1": q[0], "q3": q[2], "times": ts}
    return out


def layer_norm_bytes(x, backward=False):
    """Bytes a layer norm must move at least: read x, write y (forward); read x and dy, write dx (backward)."""
    return (3 if backward else 2) * x.numel() * x.element_size()


def _ln_calls(x, backward, compile_, device):
    """name -> a callable running one layer norm forward (or backward) on x."""
    h = x.shape[-1]
    dynamic = compile_ == "dynamic"
    impls = dict(LAYER_NORMS, **{"compiled composite": lambda x, w, b: compiled_layer_norm(x, w, b, dynamic=dynamic)})
    w = torch.ones(h, device=device, dtype=x.dtype, requires_grad=backward)
    b = torch.zeros(h, device=device, dtype=x.dtype, requires_grad=backward)
    cpu = torch.device(device).type == "cpu"
    names = [n for n in LAYER_NORMS if (n != "compiled composite" or compile_)
             and (n != "C kernel" or (cpu and x.dtype in (torch.float32, torch.float64) and c_available()[0]))
             and (n != "triton" or (not cpu and triton_available()))]
    if not backward:
        calls = {"copy": lambda: x.clone()}
        calls.update({n: (lambda f=impls[n]: f(x, w, b)) for n in names})
        module = _module_layer_norm(x, w, b)  # built once: time its forward, not its construction
        if "norms.LayerNorm" in calls:
            calls["norms.LayerNorm"] = lambda: module(x)
        return calls
    xg = x.detach().requires_grad_()
    dy = torch.randn_like(x)
    calls = {"copy": lambda: torch.add(x, dy)}  # reads two tensors, writes one, like dx
    for n in names:
        y = impls[n](xg, w, b)  # the graph, built once; each call runs its backward
        calls[n] = lambda y=y: torch.autograd.grad(y, (xg, w, b), dy, retain_graph=True)
    return calls


def layer_norm_throughput(widths=(128, 512, 2048), dtypes=("float32",), *, elements=2 ** 20, backward=False,
                          repeats=7, compile=True, device="cpu"):
    """GB/s of every layer norm in :data:`LAYER_NORMS` and of a copy, for each row width and dtype.

    Each input has ``elements`` elements as ``(elements // width, width)``
    rows. GB/s is :func:`layer_norm_bytes` over the median time: the memory a
    kernel must move at least, whatever it does.

    Args:
        widths (sequence of int): row widths ``H``.
        dtypes (sequence of str): e.g. ``("float32", "bfloat16")``.
        elements (int): elements per input tensor. Default: 2**20
        backward (bool): time the backward pass (dx, dgain, dbias) instead. Default: ``False``
        repeats (int): interleaved repetitions. Default: 7
        compile (bool or str): include ``torch.compile``'s fusion of the composite,
            compiled for each shape (``True``) or once for all widths (``"dynamic"``). Default: ``True``
        device: Default: ``"cpu"``

    Returns:
        a list of dicts with ``impl``, ``width``, ``dtype``, ``direction``, ``seconds``, ``gbps``,
        ``vs_copy`` and ``vs_F`` (GB/s over the copy's and over ``F.layer_norm``'s).
    """
    where = "layer_norm_throughput"
    elements = check_int(elements, "elements", where, lo=1)
    rows = []
    gen = torch.Generator(device=device).manual_seed(0)
    for dtype_name in dtypes:
        dtype = check_instance(getattr(torch, str(dtype_name), None), torch.dtype, "dtypes", where,
                               "names of torch dtypes such as 'float32'")
        for width in widths:
            width = check_int(width, "widths", where, lo=1)
            x = torch.randn(max(elements // width, 1), width, generator=gen, device=device).to(dtype)
            # A compiled backward may reuse ("donate") its saved buffers, which forbids
            # running it twice on one graph; the benchmark does exactly that, so turn it off.
            with functorch_config.patch(donated_buffer=False):
                times = time_calls(_ln_calls(x, backward, compile, device), repeats, device)
            nbytes = layer_norm_bytes(x, backward)
            gbps = {n: nbytes / t["median"] / 1e9 for n, t in times.items()}
            for n, t in times.items():
                rows.append({"impl": n, "width": width, "dtype": dtype_name,
                             "direction": "backward" if backward else "forward", "seconds": t["median"],
                             "gbps": gbps[n], "vs_copy": gbps[n] / gbps["copy"],
                             "vs_F": gbps[n] / gbps["F.layer_norm"]})
    return rows


def _lstm_models(i, h, device):
    torch.manual_seed(0)
    fast = LSTM(i, h, norm="layer", device=device)
    ops = LSTM.from_cell(fast.cell, engine="torch")  # the same cell, the torch-operations engine
    slow = LSTMCell(i, h, norm="layer", device=device)
    slow.load_state_dict(fast.cell.state_dict())
    cell = torch.nn.LSTMCell(i, h, device=device)

    def cell_loop(x):
        hc = (x.new_zeros(x.shape[1], h), x.new_zeros(x.shape[1], h))
        outs = []
        for t in range(x.shape[0]):
            hc = cell(x[t], hc)
            outs.append(hc[0])
        return torch.stack(outs), hc  # (T, B, H)

    return {
        "LSTM(norm='layer')": (fast, fast),
        "LSTM(norm='layer', engine='torch')": (ops, ops),
        "nn.LSTM": (torch.nn.LSTM(i, h, device=device), None),
        "nn.LSTMCell loop": (cell, cell_loop),
        "LSTMCell(norm='layer') loop": (slow, slow.run_sequence),
    }


def lstm_train_step(batch=64, steps=64, input_size=32, hidden=128, *, repeats=7, device="cpu"):
    """Seconds per training step (forward, loss, backward) of five one-layer LSTMs of the same shape.

    ``"LSTM(norm='layer')"`` is :class:`helpers.rnn.LSTM` with its default engine (the
    fused C kernel where it builds, see :func:`lstm_engine`), ``"LSTM(norm='layer',
    engine='torch')"`` the same module on torch operations; ``"LSTMCell(norm='layer') loop"``
    the book's cell stepped in Python (same maths, same weights); ``"nn.LSTM"``
    torch's whole-sequence kernel (oneDNN on a CPU, cuDNN on a GPU) and
    ``"nn.LSTMCell loop"`` torch's cell stepped in Python, both without layer norm.

    Args:
        batch, steps, input_size, hidden (int): B, T, I, H. Defaults: 64, 64, 32, 128
        repeats (int): interleaved repetitions. Default: 7
        device: Default: ``"cpu"``

    Returns:
        dict name -> ``{"median", "q1", "q3"}`` in seconds.
    """
    where = "lstm_train_step"
    b, t, i, h = (check_int(v, n, where, lo=1) for v, n in
                  ((batch, "batch"), (steps, "steps"), (input_size, "input_size"), (hidden, "hidden")))
    x = torch.randn(t, b, i, generator=torch.Generator().manual_seed(1)).to(device)  # (T, B, I)

    def step(module, fn):
        module.zero_grad(set_to_none=True)
        out = (fn or module)(x)[0]  # (T, B, H)
        out.square().mean().backward()

    models = _lstm_models(i, h, device)
    return time_calls({n: (lambda m=m, f=f: step(m, f)) for n, (m, f) in models.items()}, repeats, device)


def lstm_engine(device="cpu"):
    """What ``LSTM(norm='layer')`` runs on here: ``"c"``, or ``"torch"`` with the reason the C kernel is not used."""
    ok, why = lstm_kernel.available()
    if torch.device(device).type != "cpu":
        return "torch (the C kernel is CPU-only)"
    return "c (helpers/lstm_kernel.c)" if ok else f"torch (the C kernel is not available: {why})"


#: The shapes :func:`thread_comparison` times, per size: ``lstm`` (T, B, I, H), issue 20's five (B = 1 included);
#: ``widths`` of the layer norms, each over ``elements`` elements; ``repeats`` rounds.
THREAD_SHAPES = {
    "tiny": {"lstm": ((3, 4, 3, 8), (3, 1, 3, 8)), "widths": (32, 64), "elements": 2 ** 12, "repeats": 2},
    "full": {"lstm": ((64, 64, 32, 128), (64, 8, 32, 128), (128, 32, 64, 256), (32, 128, 128, 512), (64, 1, 32, 128)),
             "widths": (128, 512, 2048, 8192), "elements": 2 ** 22, "repeats": 11},
}
THREAD_SHAPES["chapter"] = dict(THREAD_SHAPES["full"], lstm=((64, 64, 32, 128), (64, 8, 32, 128)), repeats=5,
                                elements=2 ** 20)

_ALL_THREADS = torch.get_num_threads()  # torch's own choice, before anything here changes it


def parse_threads(text):
    """``"1,all"`` -> ``[1, n]`` with ``n`` torch's default thread count here (duplicates dropped).

    Raises:
        ValueError: for anything but positive integers and ``all`` separated by commas.
    """
    counts = []
    for word in str(text).split(","):
        word = word.strip().lower()
        if word == "all":
            n = _ALL_THREADS
        elif word.isdigit() and int(word) >= 1:
            n = int(word)
        else:
            raise ValueError(f"threads: expected positive integers or 'all' separated by commas, got {text!r}")
        if n not in counts:
            counts.append(n)
    return counts


class ScriptedLNLSTM(torch.nn.Module):
    r"""PyTorch's own layer-normalized LSTM as its benchmarks write it, to be ``torch.jit.script``-ed: the peer.

    The structure of ``LayerNormLSTMCell`` in ``pytorch/benchmarks/fastrnns/custom_lstms.py``
    (written here anew): ``gates = LN_i(x W_ih^T) + LN_h(h W_hh^T)``, the four gates,
    ``c' = LN_c(f c + i g)`` and ``h' = o tanh(c')``, run over the time steps in a
    scripted loop. It normalizes the carried cell state itself, where the paper's
    (and :class:`helpers.rnn.LSTM`'s) carries ``c`` and normalizes it inside the
    tanh; the work per step is the same: two matrix products, three layer norms.

    Shape:
        - x: :math:`(T, B, I)`; output :math:`(T, B, H)` and ``(h_T, c_T)``, each :math:`(B, H)`.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.weight_ih = torch.nn.Parameter(torch.randn(4 * hidden_size, input_size) / hidden_size ** 0.5)
        self.weight_hh = torch.nn.Parameter(torch.randn(4 * hidden_size, hidden_size) / hidden_size ** 0.5)
        self.layernorm_i = torch.nn.LayerNorm(4 * hidden_size)
        self.layernorm_h = torch.nn.LayerNorm(4 * hidden_size)
        self.layernorm_c = torch.nn.LayerNorm(hidden_size)
        self.hidden_size = hidden_size

    def forward(self, x: torch.Tensor):
        h = x.new_zeros(x.shape[1], self.hidden_size)
        c = x.new_zeros(x.shape[1], self.hidden_size)
        outputs = []
        for x_t in x.unbind(0):
            gates = (self.layernorm_i(torch.mm(x_t, self.weight_ih.t()))
                     + self.layernorm_h(torch.mm(h, self.weight_hh.t())))  # (B, 4H)
            i, f, g, o = gates.chunk(4, 1)
            c = self.layernorm_c(torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g))
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs), (h, c)


def _scripted_peer(i, h):
    with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.x, and still works
        warnings.simplefilter("ignore")
        return torch.jit.script(ScriptedLNLSTM(i, h))


def _ratios(times, name, ref):
    """Per-round ratios of ``name``'s time to ``ref``'s (paired: the same round), as min/median/max."""
    r = [a / b for a, b in zip(times[name]["times"], times[ref]["times"])]
    return {"min": min(r), "median": statistics.median(r), "max": max(r)}


def lstm_engine_name(batch, hidden, device="cpu"):
    """:func:`lstm_engine` with how the C kernel runs this shape: the whole sequence in one call (its matrix
    products by torch's MKL or by its own) or one call per step after torch's matrix product, and the number
    of threads it splits the work over, and why when fewer than torch has."""
    name = lstm_engine(device)
    if not name.startswith("c "):
        return name
    n, have = lstm_kernel.threads(batch, hidden), torch.get_num_threads()
    how = ("per step, after torch's matrix product" if not lstm_kernel.whole_sequence(batch) else
           "whole sequence in one call, " + ("MKL's matrix products" if lstm_kernel.blas() is not None else
                                             "its own matrix products"))
    why = "" if n == have else (": one row cannot be split" if batch == 1 else ": too little work per step to share")
    return f"c ({how}), {n} of {have} thread{'s' if have > 1 else ''}{why}"


def thread_comparison(size="full", threads=(1,), device="cpu"):
    """At each thread count: the C layer norm / ``F.layer_norm`` and the LN-LSTM / ``nn.LSTM`` and the peer.

    For each count in ``threads`` (``torch.set_num_threads``; restored after):

    * layer norm, float32, forward and backward, at the widths of :data:`THREAD_SHAPES`: the
      C kernel's time over ``F.layer_norm``'s, per round, inverted to a speed ratio (> 1: C is faster);
    * for each LSTM shape (T, B, I, H): a training step (forward, loss, backward) of
      ``LSTM(norm='layer')``, ``nn.LSTM`` and the scripted peer (:class:`ScriptedLNLSTM`),
      and the forward pass alone under ``torch.no_grad()`` of the first two; each
      as per-round time ratios to ``nn.LSTM`` (< 1: faster than ``nn.LSTM``).

    Returns:
        a list, one dict per thread count: ``threads``, ``layer_norm`` (rows with ``width``,
        ``direction``, ``speed``: min/median/max of F's time over C's) and ``lstm`` (rows with
        ``shape``, ``engine``, ``train``: name -> min/median/max over nn.LSTM, ``forward``: same).
    """
    where = "thread_comparison"
    shapes = THREAD_SHAPES["tiny" if size == "tiny" else "chapter" if size == "chapter" else "full"]
    before = torch.get_num_threads()
    out = []
    try:
        for n in threads:
            torch.set_num_threads(check_int(n, "threads", where, lo=1))
            part = {"threads": torch.get_num_threads(), "layer_norm": [], "lstm": []}
            cpu = torch.device(device).type == "cpu"
            if cpu and c_available()[0]:
                for width in shapes["widths"]:
                    x = torch.randn(max(shapes["elements"] // width, 1), width, generator=torch.Generator().manual_seed(0))
                    for backward in (False, True):
                        calls = {k: v for k, v in _ln_calls(x, backward, False, device).items()
                                 if k in ("F.layer_norm", "C kernel")}
                        t = time_calls(calls, shapes["repeats"], device)
                        r = _ratios(t, "F.layer_norm", "C kernel")  # F's time / C's: C's speed over F's
                        part["layer_norm"].append({"width": width, "direction": "backward" if backward else "forward",
                                                   "speed": r})
            for (T, B, I, H) in shapes["lstm"]:
                torch.manual_seed(0)
                ours, ref, peer = LSTM(I, H, device=device), torch.nn.LSTM(I, H, device=device), _scripted_peer(I, H)
                peer.to(device)
                x = torch.randn(T, B, I, generator=torch.Generator().manual_seed(1)).to(device)

                def step(m):
                    m.zero_grad(set_to_none=True)
                    m(x)[0].square().mean().backward()

                def infer(m):
                    with torch.no_grad():
                        m(x)

                names = {"LSTM(norm='layer')": ours, "nn.LSTM": ref, "scripted LayerNormLSTMCell": peer}
                for _ in range(2):  # TorchScript profiles its first runs, then optimizes: not part of the timing
                    step(peer)
                    infer(peer)
                train = time_calls({k: (lambda m=m: step(m)) for k, m in names.items()}, shapes["repeats"], device)
                fwd = time_calls({k: (lambda m=m: infer(m)) for k, m in list(names.items())[:2]}, shapes["repeats"],
                                 device)
                part["lstm"].append({
                    "shape": {"T": T, "B": B, "I": I, "H": H}, "engine": lstm_engine_name(B, H, device),
                    "train": {k: _ratios(train, k, "nn.LSTM") for k in names if k != "nn.LSTM"},
                    "forward": {"LSTM(norm='layer')": _ratios(fwd, "LSTM(norm='layer')", "nn.LSTM")},
                    "nn.LSTM ms": 1e3 * train["nn.LSTM"]["median"]})
            out.append(part)
    finally:
        torch.set_num_threads(before)
    return out


def thread_targets(parts):
    """Issue 20's targets per thread count, each ``{"what", "threads", "value", "goal", "met"}`` (medians).

    * LN-LSTM train step / ``nn.LSTM``: <= 1.3 at one thread, <= 1.5 at more, for every shape with
      B >= 8 (the worst shape is reported); <= 2 at B = 1; below the scripted peer's at every shape;
    * forward only (``no_grad``) / ``nn.LSTM``: <= 1.5 at B >= 8;
    * C layer norm's speed over ``F.layer_norm``'s, geometric mean over the widths: >= 0.95 forward, >= 1.0 backward.
    """
    out = []
    for part in parts:
        n, rows = part["threads"], part["lstm"]
        big = [r for r in rows if r["shape"]["B"] >= 8]
        one = [r for r in rows if r["shape"]["B"] == 1]

        def worst(rs, kind):
            r = max(rs, key=lambda r: r[kind]["LSTM(norm='layer')"]["median"])
            sh = r["shape"]
            return r[kind]["LSTM(norm='layer')"]["median"], f"T,B,I,H={sh['T']},{sh['B']},{sh['I']},{sh['H']}"

        goal = 1.3 if n == 1 else 1.5
        if big:
            v, at = worst(big, "train")
            out.append({"what": f"LN-LSTM train step / nn.LSTM, B >= 8 (worst: {at})", "threads": n, "value": v,
                        "goal": f"<= {goal}", "met": v <= goal})
            v, at = worst(big, "forward")
            out.append({"what": f"LN-LSTM forward (no_grad) / nn.LSTM, B >= 8 (worst: {at})", "threads": n,
                        "value": v, "goal": "<= 1.5", "met": v <= 1.5})
        if one:
            v, at = worst(one, "train")
            out.append({"what": f"LN-LSTM train step / nn.LSTM, B = 1 ({at})", "threads": n, "value": v,
                        "goal": "<= 2.0", "met": v <= 2.0})
        if rows:
            gap = [r["train"]["LSTM(norm='layer')"]["median"] / r["train"]["scripted LayerNormLSTMCell"]["median"]
                   for r in rows]
            v = max(gap)
            out.append({"what": "LN-LSTM train step / scripted LayerNormLSTMCell's, worst shape", "threads": n,
                        "value": v, "goal": "< 1.0", "met": v < 1.0})
        for direction, goal in (("forward", 0.95), ("backward", 1.0)):
            speeds = [r["speed"]["median"] for r in part["layer_norm"] if r["direction"] == direction]
            if speeds:
                v = _geomean(speeds)
                out.append({"what": f"C layer norm / F.layer_norm, {direction} speed, geometric mean over widths",
                            "threads": n, "value": v, "goal": f">= {goal}", "met": v >= goal})
    return out


def machine(device="cpu"):
    """What the numbers were measured on: cores, threads, device, versions."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine())
    return {"cores": os.cpu_count(), "threads": torch.get_num_threads(), "device": dev.type, "device_name": name,
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "triton": triton_available(), "allocator": steady_allocator(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def run(size="full", device="cpu", threads=None, thread_counts=None):
    """The whole benchmark at one of the :data:`SIZES`: a JSON-ready dict.

    Args:
        size (str): a key of :data:`SIZES`. Default: ``"full"``
        device: Default: ``"cpu"``
        threads (int, optional): ``torch.set_num_threads`` for the run (on a
            shared machine one thread gives steadier ratios). Default: leave as is.
        thread_counts (sequence of int, optional): also run :func:`thread_comparison`
            at each of these counts (report keys ``threads`` and ``thread_targets``). Default: none
    """
    where = "run"
    size = check_choice(size, "size", SIZES, where)
    if threads is not None:
        torch.set_num_threads(check_int(threads, "threads", where, lo=1))
    with _SteadyAllocator():
        return _run(size, device, thread_counts)


def _run(size, device, thread_counts):
    s = SIZES[size]
    tic = time.perf_counter()
    ln = []
    for backward in (False, True):
        ln += layer_norm_throughput(s["widths"], s["dtypes"], elements=s["elements"], backward=backward,
                                    repeats=s["repeats"], compile=s["compile"], device=device)
    b, t, i, h = s["lstm"]
    lstm = lstm_train_step(b, t, i, h, repeats=s["repeats"], device=device)
    report = {"size": size, "machine": machine(device), "layer_norm": ln,
              "lstm": {"shape": {"B": b, "T": t, "I": i, "H": h}, "engine": lstm_engine(device), "seconds": lstm}}
    report["targets"] = targets(report)
    if thread_counts:
        report["threads"] = thread_comparison(size, thread_counts, device)
        report["thread_targets"] = thread_targets(report["threads"])
    report["wall_seconds"] = time.perf_counter() - tic
    return report


def _geomean(values):
    values = list(values)
    return float(torch.tensor(values, dtype=torch.float64).log().mean().exp()) if values else float("nan")


def targets(report):
    """Issue 11's targets, each ``{"what", "value", "goal", "met"}``, from a :func:`run` report.

    * the book's fastest written layer norm (not ``F.layer_norm``) over
      ``F.layer_norm``, forward, float32, geometric mean over widths: >= 0.9;
    * the fast LN-LSTM's training step over ``nn.LSTM``'s: <= 1.5 on a CPU, <= 2 on a GPU;
    * on a GPU, the Triton forward at the largest width over the copy: >= 0.8.
    """
    ln = [r for r in report["layer_norm"] if r["direction"] == "forward" and r["dtype"] == "float32"]
    written = {r["impl"] for r in ln} - {"copy", "F.layer_norm", "norms.LayerNorm", "naive composite"}
    written = written or {"naive composite"}
    best = max(written, key=lambda n: _geomean(r["vs_F"] for r in ln if r["impl"] == n))
    best_ratio = _geomean(r["vs_F"] for r in ln if r["impl"] == best)
    sec = report["lstm"]["seconds"]
    lstm_ratio = sec["LSTM(norm='layer')"]["median"] / sec["nn.LSTM"]["median"]
    gpu = report["machine"]["device"] == "cuda"
    out = [
        {"what": f"fastest layer norm written in the book ({best}) / F.layer_norm, forward GB/s",
         "value": best_ratio, "goal": ">= 0.9", "met": best_ratio >= 0.9},
        {"what": f"LSTM(norm='layer') train step / nn.LSTM train step, time (engine: {report['lstm']['engine']})",
         "value": lstm_ratio, "goal": "<= 2.0" if gpu else "<= 1.5", "met": lstm_ratio <= (2.0 if gpu else 1.5)},
    ]
    tri = [r for r in ln if r["impl"] == "triton"]
    if tri:
        top = max(tri, key=lambda r: r["width"])
        out.append({"what": f"triton forward / copy, GB/s at width {top['width']}", "value": top["vs_copy"],
                    "goal": ">= 0.8", "met": top["vs_copy"] >= 0.8})
    return out


def _markdown(report):
    m = report["machine"]
    lines = [f"# Benchmark: layer norm at speed ({report['size']} sizes)", "",
             f"Machine: {m['cores']} cores, {m['threads']} torch threads, {m['device']} ({m['device_name']}), "
             f"torch {m['torch']}, Python {m['python']}, Triton: {'yes' if m['triton'] else 'no'}; {m['date']}. "
             f"Run time {report['wall_seconds']:.0f} s. Every figure is a median over interleaved repetitions, "
             "and every ratio is against a reference measured in the same run. "
             f"Memory: {m['allocator']}.", "", "## Targets", "",
             "| target | value | goal | met |", "|---|---|---|---|"]
    lines += [f"| {t['what']} | {t['value']:.2f} | {t['goal']} | {'yes' if t['met'] else 'NO'} |"
              for t in report["targets"]]
    lines += ["", "## Layer norm throughput", "", "GB/s = bytes that must move (forward: x in, y out; backward: "
              "x and dy in, dx out) / median time.", "",
              "| direction | dtype | width | implementation | GB/s | / copy | / F.layer_norm |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['direction']} | {r['dtype']} | {r['width']} | {r['impl']} | {r['gbps']:.2f} | "
              f"{r['vs_copy']:.2f} | {r['vs_F']:.2f} |" for r in report["layer_norm"]]
    sh, sec = report["lstm"]["shape"], report["lstm"]["seconds"]
    ref, loop = sec["nn.LSTM"]["median"], sec["nn.LSTMCell loop"]["median"]
    lines += ["", f"## LSTM training step (B={sh['B']}, T={sh['T']}, I={sh['I']}, H={sh['H']})", "",
              f"`LSTM(norm='layer')` ran on the engine: {report['lstm']['engine']}.", "",
              "| model | ms (median) | / nn.LSTM | / nn.LSTMCell loop |", "|---|---|---|---|"]
    lines += [f"| {n} | {1e3 * t['median']:.1f} | {t['median'] / ref:.2f} | {t['median'] / loop:.2f} |"
              for n, t in sec.items()]
    if report.get("threads"):
        lines += _thread_markdown(report)
    return "\n".join(lines) + "\n"


def _mmm(r):
    return f"{r['min']:.2f} / **{r['median']:.2f}** / {r['max']:.2f}"


def _thread_markdown(report):
    """The thread-count sections of the report: verdicts, then the LSTM and layer-norm ratios."""
    parts = report["threads"]
    lines = ["", "## At each thread count (issue 20)", "",
             "Ratios per round (the two timed in the same round), min / **median** / max over rounds; "
             "the verdict uses the median.", "",
             "| target | threads | value | goal | met |", "|---|---|---|---|---|"]
    lines += [f"| {t['what']} | {t['threads']} | {t['value']:.2f} | {t['goal']} | {'yes' if t['met'] else 'NO'} |"
              for t in report["thread_targets"]]
    lines += ["", "### LN-LSTM, time / nn.LSTM's (< 1: faster than nn.LSTM)", "",
              "| T, B, I, H | threads | engine | train step | scripted LayerNormLSTMCell, train step "
              "| forward only (no_grad) | nn.LSTM step, ms |", "|---|---|---|---|---|---|---|"]
    for part in parts:
        for r in part["lstm"]:
            sh, ours = r["shape"], "LSTM(norm='layer')"
            lines.append(f"| {sh['T']}, {sh['B']}, {sh['I']}, {sh['H']} | {part['threads']} | {r['engine']} | "
                         f"{_mmm(r['train'][ours])} | {_mmm(r['train']['scripted LayerNormLSTMCell'])} | "
                         f"{_mmm(r['forward'][ours])} | {r['nn.LSTM ms']:.1f} |")
    lines += ["", "### C layer norm, speed over F.layer_norm's (float32; > 1: faster)", "",
              "| width | threads | forward | backward |", "|---|---|---|---|"]
    for part in parts:
        by = {(r["width"], r["direction"]): r["speed"] for r in part["layer_norm"]}
        for w in sorted({r["width"] for r in part["layer_norm"]}):
            lines.append(f"| {w} | {part['threads']} | {_mmm(by[w, 'forward'])} | {_mmm(by[w, 'backward'])} |")
    return lines


def write_report(report, out_dir):
    """Write ``bench.json`` and ``bench.md`` into ``out_dir``; returns the two paths."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "bench.md").write_text(_markdown(report))
    return out / "bench.json", out / "bench.md"


def main(argv=None):
    """``python -m helpers.bench [--quick] [--out DIR] [--threads 1,all] [--device D]``; prints the targets.

    The process keeps :func:`steady_allocator` on for its whole run (it ends with it).
    """
    parser = argparse.ArgumentParser(prog="python -m helpers.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--tiny", "--quick", action="store_const", const="tiny", dest="size",
                        help="same as --size tiny (seconds: for tests)")
    parser.add_argument("--out", default="_build/reports", help="where bench.md and bench.json go")
    parser.add_argument("--threads", type=parse_threads, default=None,
                        help="torch thread counts, e.g. 1,all (all: torch's default here, "
                             f"{_ALL_THREADS}); the first runs the whole benchmark, each runs the thread "
                             "comparison (default: torch's choice, no comparison)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    steady_allocator()  # for this process only: it ends with the benchmark
    counts = args.threads
    report = run(args.size, args.device, counts[0] if counts else None, counts)
    paths = write_report(report, args.out)
    for t in report["targets"]:
        print(f"{'met    ' if t['met'] else 'NOT met'}  {t['what']}: {t['value']:.2f} (goal {t['goal']})")
    for t in report.get("thread_targets", []):
        print(f"{'met    ' if t['met'] else 'NOT met'}  [{t['threads']} thread{'s' if t['threads'] > 1 else ''}] "
              f"{t['what']}: {t['value']:.2f} (goal {t['goal']})")
    print("wrote", *paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
