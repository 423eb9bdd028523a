r"""``make gpu-check``: every GPU path of the book, run once on a CUDA machine, and its report.

The book is built and tested on CPUs. These are the paths that only a CUDA GPU runs,
one *part* each:

* ``device``: the chapters' device choice (:func:`helpers.repro.pick_device`) and
  training budget (:func:`helpers.repro.budget`) pick CUDA and the full budget, and
  :func:`helpers._checks.check_device` accepts ``"cuda"``;
* ``triton``: the book's Triton layer norm (:func:`helpers.kernels.triton_layer_norm`)
  against :func:`torch.nn.functional.layer_norm`, values and gradients in float32 and
  bfloat16, and its GB/s against a copy (:func:`helpers.bench.layer_norm_throughput`);
* ``bench``: ``make bench`` on the GPU (:func:`helpers.bench.run`); its own report goes to
  ``gpu-bench/bench.md``;
* ``lstm``: :class:`helpers.rnn.LSTM` with ``norm="layer"`` on the GPU against its own
  cell stepped in a loop (values and gradients), and its training step against cuDNN's
  :class:`torch.nn.LSTM` (:func:`helpers.bench.lstm_train_step`);
* ``experiment``: one full-budget experiment (:data:`EXPERIMENT`, seed 0,
  :func:`helpers.experiments.run`) timed, next to the shipped record's CPU time.

A part is a function returning Markdown lines; :func:`run_parts` runs parts and turns
each into a :class:`Part` (``"ok"``, ``"failed"`` with the error, or ``"not run"``), and
:func:`report` writes ``gpu.md`` from a list of parts, with no GPU needed. Run it as
``python -m helpers.gpu_check [--out DIR] [--parts NAME ...]``; without a CUDA GPU it
prints one line and exits with status 2. It takes a few minutes on one GPU
(:data:`TIME_BUDGET_S` at most). Nothing runs at import.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import sys
import time

import torch
import torch.nn.functional as F

from . import bench, experiments, kernels, repro
from ._checks import check_choice, check_device, check_instance
from .rnn import LSTM

__all__ = ["PARTS", "EXPERIMENT", "TIME_BUDGET_S", "Part", "not_run", "run_parts", "report", "main",
           "relative_error", "as_accurate"]

#: The full-budget experiment the ``experiment`` part times (one seed).
EXPERIMENT = "transformer_lm"
#: What the whole check may take on one GPU, in seconds.
TIME_BUDGET_S = 480
#: Relative error a GPU result may always have, whatever the reference's own error: one rounding step.
_FLOOR = {torch.float32: 1e-5, torch.bfloat16: 2 ** -7}


@dataclasses.dataclass
class Part:
    """One part of the check: ``status`` is ``"ok"``, ``"failed"`` or ``"not run"``; ``lines`` is Markdown."""

    name: str
    status: str
    seconds: float | None = None
    lines: list = dataclasses.field(default_factory=list)


def not_run(name, why):
    """A :class:`Part` that did not run, saying why."""
    return Part(name, "not run", None, [f"Not run: {why}."])


def relative_error(value, reference):
    """``max |value - reference| / max |reference|``, in float64 (the plain difference for an all-zero reference).

    Example::

        >>> relative_error(torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0]))
        0.25
    """
    ref = reference.detach().double()
    diff = (value.detach().double() - ref).abs().max().item()  # a reduction over every element
    scale = ref.abs().max().item()
    return diff / scale if scale > 0 else diff


def as_accurate(err, err_reference, dtype):
    """True when an error is at most 4 times the reference implementation's own, or one rounding step.

    Example::

        >>> as_accurate(3e-3, 1e-3, torch.bfloat16), as_accurate(3e-5, 1e-6, torch.float32)
        (True, False)
    """
    return err <= max(4 * err_reference, _FLOOR[dtype])


# --- the parts ------------------------------------------------------------------------------
def _devices():
    device = repro.pick_device()
    budget = repro.budget(device)
    expected = os.environ.get(repro.BUDGET_ENV_VAR, "").strip().lower() or "full"
    checked = check_device("cuda", "device", "gpu_check")
    chapters = sorted(p.stem for p in pathlib.Path("chapters").glob("*.ipynb") if "pick_device(" in p.read_text())
    ok = device.type == "cuda" and checked.type == "cuda" and budget == expected
    if not ok:
        raise AssertionError(f"pick_device() gave {device}, budget(device) {budget!r} (expected {expected!r})")
    return [f"`repro.pick_device()` gives `{device}` ({torch.cuda.get_device_name(device)}), "
            f"`repro.budget(device)` gives `{budget}`, `check_device('cuda')` passes.",
            f"Chapters that choose their device this way: {', '.join(chapters) or '(run from the repository root to list them)'}."]


def _triton():
    if not kernels.triton_available():
        raise RuntimeError("the triton package is not installed")
    gen = torch.Generator(device="cuda").manual_seed(0)
    lines = ["| dtype | width | output | dx | dgain | dbias | F.layer_norm's own (output, dx) |", "|---|---|---|---|---|---|---|"]
    worst = []
    for dtype in (torch.float32, torch.bfloat16):
        for width in (1000, 4096):  # one width that is not a power of two: masked columns
            x, w, b, dy = (torch.randn(s, generator=gen, device="cuda") for s in ((512, width), (width,), (width,), (512, width)))
            exact = _ln_and_grads(F.layer_norm, x.double(), w.double(), b.double(), dy.double())
            ours = _ln_and_grads(kernels.triton_layer_norm, x.to(dtype), w.to(dtype), b.to(dtype), dy.to(dtype))
            torch_ = _ln_and_grads(F.layer_norm, x.to(dtype), w.to(dtype), b.to(dtype), dy.to(dtype))
            errs = [relative_error(o, e) for o, e in zip(ours, exact)]
            refs = [relative_error(t, e) for t, e in zip(torch_, exact)]
            worst += [(e, r, dtype) for e, r in zip(errs, refs)]
            lines.append(f"| {str(dtype)[6:]} | {width} | " + " | ".join(f"{e:.1e}" for e in errs)
                         + f" | {refs[0]:.1e}, {refs[1]:.1e} |")
    lines += ["", "Relative errors against float64; each must be at most 4 times F.layer_norm's own, "
              "or one rounding step of the dtype.", "", "GB/s (forward: x in, y out; backward: x and dy in, dx out):",
              "", "| direction | dtype | width | triton GB/s | / copy | / F.layer_norm |", "|---|---|---|---|---|---|"]
    for backward in (False, True):
        rows = bench.layer_norm_throughput((1024, 4096), ("float32", "bfloat16"), elements=2 ** 24,
                                           backward=backward, compile=False, device="cuda")
        lines += [f"| {r['direction']} | {r['dtype']} | {r['width']} | {r['gbps']:.0f} | {r['vs_copy']:.2f} | "
                  f"{r['vs_F']:.2f} |" for r in rows if r["impl"] == "triton"]
    bad = [(e, r) for e, r, d in worst if not as_accurate(e, r, d)]
    if bad:
        raise AssertionError(f"the Triton layer norm is less accurate than F.layer_norm: {bad}\n" + "\n".join(lines))
    return lines


def _ln_and_grads(layer_norm, x, w, b, dy):
    """``(y, dx, dgain, dbias)`` of one layer norm of the last axis."""
    x, w, b = (t.detach().requires_grad_() for t in (x, w, b))
    y = layer_norm(x, (x.shape[-1],), w, b) if layer_norm is F.layer_norm else layer_norm(x, w, b)
    return (y, *torch.autograd.grad(y, (x, w, b), dy))


def _bench(out_dir):
    result = bench.run("gpu", "cuda")
    _, md = bench.write_report(result, pathlib.Path(out_dir) / "gpu-bench")
    lines = [f"`make bench` on the GPU ({result['wall_seconds']:.0f} s), in full: `{md}`.", "",
             "| target | value | goal | met |", "|---|---|---|---|"]
    return lines + [f"| {t['what']} | {t['value']:.2f} | {t['goal']} | {'yes' if t['met'] else 'NO'} |"
                    for t in result["targets"]]


def _lstm():
    errs = {}
    for dtype, tol in ((torch.float64, 1e-9), (torch.float32, 1e-3)):  # float32: rounding grows over 64 steps
        torch.manual_seed(0)
        lstm = LSTM(32, 128, norm="layer", device="cuda", dtype=dtype)
        x = torch.randn(64, 16, 32, device="cuda", dtype=dtype)  # (T, B, I)
        fast, loop = lstm(x)[0], lstm.cell.run_sequence(x)[0]  # (T, B, H) each
        params = list(lstm.parameters())
        g_fast = torch.autograd.grad(fast.square().mean(), params)
        g_loop = torch.autograd.grad(loop.square().mean(), params)
        errs[dtype] = max([relative_error(fast, loop)] + [relative_error(a, b) for a, b in zip(g_fast, g_loop)])
        if errs[dtype] > tol:
            raise AssertionError(f"LSTM(norm='layer') on CUDA differs from its cell's loop in {dtype}: {errs[dtype]:.1e}")
    sec = bench.lstm_train_step(device="cuda")
    ratio = sec["LSTM(norm='layer')"]["median"] / sec["nn.LSTM"]["median"]
    return [f"`LSTM(norm='layer')` (engine: {bench.lstm_engine('cuda')}) against its cell stepped in a loop: "
            f"largest relative difference over the output and every gradient {errs[torch.float64]:.1e} "
            f"in float64, {errs[torch.float32]:.1e} in float32.",
            f"cuDNN: {'enabled' if torch.backends.cudnn.enabled else 'DISABLED'}, version {torch.backends.cudnn.version()}.",
            "", "| model | training step (ms) | / nn.LSTM |", "|---|---|---|"] + [
            f"| {n} | {1e3 * t['median']:.2f} | {t['median'] / sec['nn.LSTM']['median']:.2f} |"
            for n, t in sec.items()] + ["", f"`LSTM(norm='layer')` / cuDNN `nn.LSTM`: {ratio:.2f}."]


def _experiment():
    record = experiments.run(EXPERIMENT, "full", seeds=[0], device="cuda")
    shipped = experiments.load_reference(EXPERIMENT)
    cpu = dict(zip(shipped["seeds"], shipped["wall_s"])).get(0)
    line = f"`{EXPERIMENT}`, full budget, seed 0, on {record['device']}: {record['wall_s'][0]:.1f} s."
    if cpu is not None:
        line += f" The shipped record's seed 0 took {cpu:.1f} s on {shipped['device']}."
    return [line]


#: The parts, in the order they run: name -> (what it checks, function of the output folder).
PARTS = {
    "device": ("the chapters' device and budget choice on CUDA", lambda out: _devices()),
    "triton": ("Triton layer norm vs F.layer_norm (float32, bfloat16), GB/s vs a copy", lambda out: _triton()),
    "bench": ("`make bench` on the GPU", _bench),
    "lstm": ("LSTM(norm='layer') vs its cell loop, and vs cuDNN nn.LSTM", lambda out: _lstm()),
    "experiment": (f"one full-budget experiment ({EXPERIMENT}) timed", lambda out: _experiment()),
}


def run_parts(parts, out_dir="."):
    """Run ``parts`` (name -> ``(what, function(out_dir) -> lines)``) in order; a part that raises is ``"failed"``.

    Returns:
        list of :class:`Part`.
    """
    check_instance(parts, dict, "parts", "run_parts", "a dict name -> (what, function)")
    done = []
    for name, (_, fn) in parts.items():
        tic = time.perf_counter()
        try:
            part = Part(name, "ok", lines=list(fn(out_dir)))
        except Exception as exc:  # noqa: BLE001 -- reported, and the next part still runs
            part = Part(name, "failed", lines=[f"Failed: `{type(exc).__name__}`:", "", "```", str(exc), "```"])
        part.seconds = time.perf_counter() - tic
        print(f"gpu-check: {name}: {part.status} ({part.seconds:.0f} s)", flush=True)
        done.append(part)
    return done


def report(parts, machine):
    """``gpu.md`` from a list of :class:`Part` and a ``machine`` dict (``device_name``, ``torch``, ``date``...)."""
    for part in parts:
        check_instance(part, Part, "parts", "report", "a list of Part")
        check_choice(part.status, "status", ("ok", "failed", "not run"), "report")
    total = sum(p.seconds or 0.0 for p in parts)
    within = "within" if total <= TIME_BUDGET_S else "OVER"
    lines = ["# GPU check (`make gpu-check`)", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()) + ".",
             f"Total time {total:.0f} s ({within} the budget of {TIME_BUDGET_S} s).", "",
             "| part | status | time (s) | what it checks |", "|---|---|---|---|"]
    for p in parts:
        what = PARTS[p.name][0] if p.name in PARTS else ""
        seconds = "–" if p.seconds is None else f"{p.seconds:.1f}"
        lines.append(f"| {p.name} | {p.status} | {seconds} | {what} |")
    for p in parts:
        lines += ["", f"## {p.name}", "", *p.lines]
    return "\n".join(lines) + "\n"


def _machine():
    return {"device_name": torch.cuda.get_device_name(0), "torch": torch.__version__,
            "CUDA": torch.version.cuda, "triton": kernels.triton_available(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main(argv=None):
    """``python -m helpers.gpu_check [--out DIR] [--parts NAME ...]``: exit status 0 all ok, 1 a part failed, 2 no GPU."""
    parser = argparse.ArgumentParser(prog="python -m helpers.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="_build/reports", help="where gpu.md (and gpu-bench/) go")
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS), help="run only these parts")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA GPU here (torch.cuda.is_available() is False); run it on a machine with one.",
              file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = run_parts({n: PARTS[n] for n in args.parts}, out)
    parts += [not_run(n, "not asked for (--parts)") for n in PARTS if n not in args.parts]
    path = out / "gpu.md"
    path.write_text(report(parts, _machine()))
    print("wrote", path)
    return 0 if all(p.status != "failed" for p in parts) else 1


if __name__ == "__main__":
    sys.exit(main())
