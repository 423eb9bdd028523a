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
* :func:`run`, :func:`targets`, :func:`write_report`: the whole benchmark; run it as
  ``python -m helpers.bench [--tiny] [--out DIR]`` (``make bench``).

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


def time_calls(calls, repeats=7, device="cpu"):
    """Median seconds of each callable, over ``repeats`` interleaved rounds after one warm-up call each.

    Interleaving (a, b, c, a, b, c, ...) spreads the machine's slow moments over
    all of them alike, so their ratios stay fair on a busy machine. Calls
    :func:`steady_allocator` first.

    Args:
        calls (dict): name -> callable with no arguments.
        repeats (int): rounds. Default: 7
        device: synchronized before and after each call when it is a CUDA device.

    Returns:
        dict name -> ``{"median": s, "q1": s, "q3": s}``.
    """
    repeats = check_int(repeats, "repeats", "time_calls", lo=1)
    steady_allocator()
    times = {name: [] for name in calls}
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
        out[name] = {"median": statistics.median(ts), "q1": q[0], "q3": q[2]}
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


def machine(device="cpu"):
    """What the numbers were measured on: cores, threads, device, versions."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine())
    return {"cores": os.cpu_count(), "threads": torch.get_num_threads(), "device": dev.type, "device_name": name,
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "triton": triton_available(), "allocator": steady_allocator(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def run(size="full", device="cpu", threads=None):
    """The whole benchmark at one of the :data:`SIZES`: a JSON-ready dict.

    Args:
        size (str): a key of :data:`SIZES`. Default: ``"full"``
        device: Default: ``"cpu"``
        threads (int, optional): ``torch.set_num_threads`` for the run (on a
            shared machine one thread gives steadier ratios). Default: leave as is.
    """
    where = "run"
    size = check_choice(size, "size", SIZES, where)
    if threads is not None:
        torch.set_num_threads(check_int(threads, "threads", where, lo=1))
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
    return "\n".join(lines) + "\n"


def write_report(report, out_dir):
    """Write ``bench.json`` and ``bench.md`` into ``out_dir``; returns the two paths."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "bench.md").write_text(_markdown(report))
    return out / "bench.json", out / "bench.md"


def main(argv=None):
    """``python -m helpers.bench [--tiny] [--out DIR] [--threads N] [--device D]``; prints the targets."""
    parser = argparse.ArgumentParser(prog="python -m helpers.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--tiny", action="store_const", const="tiny", dest="size", help="same as --size tiny")
    parser.add_argument("--out", default="_build/reports", help="where bench.md and bench.json go")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    report = run(args.size, args.device, args.threads)
    paths = write_report(report, args.out)
    for t in report["targets"]:
        print(f"{'met    ' if t['met'] else 'NOT met'}  {t['what']}: {t['value']:.2f} (goal {t['goal']})")
    print("wrote", *paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
