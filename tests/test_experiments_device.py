"""Every registered experiment honours its ``device`` argument, shown on a machine without a GPU.

Three things are checked. A device name that is not a device (``"tpu"``) is a
``ValueError`` naming it, from :func:`helpers.experiments.run`, from each
experiment function called directly and from the command line. A device this
machine lacks (``"cuda"`` without CUDA) is a ``ValueError`` too, never a silent
run on the CPU. And each experiment really *puts its work on* the device: with
``torch.cuda.is_available`` patched to say yes, asking for ``"cuda"`` gets past
the checks and fails inside torch the moment the experiment moves a model or a
batch to the GPU, which a CPU-only experiment would never do.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from helpers import experiments
from helpers._checks import ArgTypeError, check_device
from helpers.experiments import draw, feedforward, handwriting, reader, retrieval

NO_CUDA = not torch.cuda.is_available()

#: Sizes small enough that a run that wrongly stayed on the CPU would still end in a second or two.
TINY = {
    "order_embeddings": dict(train_pairs=64, dim=8, batch=16, steps=2, eval_every=2, lr=1e-3, margin=0.2, test_sets=1),
    "reader": dict(facts=2, hidden=8, batch=8, steps=2, eval_every=2, lr=1e-2, val=16),
    "draw": dict(hidden=8, latent=2, glimpses=2, batch=8, steps=2, eval_every=2, lr=1e-3),
    "handwriting": dict(length=6, hidden=8, mixtures=2, batch=8, steps=2, eval_every=2, lr=1e-3, val=4),
    "ffn_digits": dict(hidden=8, epochs=[1], n_logs=1, norms=["layer"], batch_sizes=[128], controls=[]),
    "convnet_digits": dict(channels=4, steps=2, n_logs=1, norms=["layer"]),
    "adding": dict(steps=2, hidden=8, batch_size=16, log_every=1),
    "pixels": dict(steps=2, hidden=8, batch_size=16, log_every=1),
    "rows": dict(steps=2, hidden=8, batch_size=16, log_every=1),
    "placement_depth": dict(depths=[1, 2], lrs=[1e-3, 1e-2], steps=2, batch_size=2, grad_batches=1, eval_batches=1),
    "qk_norm_logits": dict(steps=3, batch_size=2, eval_batches=1),
    "powernorm_batch_stats": dict(steps=2, text_batch=2, image_batch=4, channels=4),
    "convnext_digits": dict(channels=4, blocks=1, steps=2, n_logs=1, norms=["layer"]),
    "adanorm_detach": dict(n_layer=1, steps=2, batch_size=2, n_evals=1, eval_batches=1),
}
#: Experiments that train nothing, so have nothing to put on a device.
TRAINS_NOTHING = {"skip_thoughts"}


@pytest.fixture
def tiny(monkeypatch):
    for name, sz in TINY.items():
        full = dict(experiments.get(name).sizes["quick"], **sz)
        monkeypatch.setitem(experiments.get(name).sizes, "quick", full)


#: Experiments whose first step on the device comes before any training, so need no tiny sizes.
MOVES_FIRST = {"transformer_grads", "transformer_lm", "post_ln_rescue"}


def test_every_training_experiment_is_covered():
    assert set(experiments.names()) - TRAINS_NOTHING == set(TINY) | MOVES_FIRST


# --- the check itself ----------------------------------------------------------------

@pytest.mark.parametrize("good", ["cpu", torch.device("cpu"), "cpu:0"])
def test_check_device_accepts_the_cpu(good):
    assert check_device(good, "device", "f").type == "cpu"


@pytest.mark.parametrize("bad", ["tpu", "gpu", "meta", "", "cuda:x"])
def test_check_device_names_an_unknown_device(bad):
    with pytest.raises(ValueError, match=f"f: device must be one of 'cpu', 'cuda', 'mps'.*got {bad!r}"):
        check_device(bad, "device", "f")


@pytest.mark.parametrize("bad", [0, None, 1.5, ["cpu"]])
def test_check_device_refuses_other_types(bad):
    with pytest.raises(ArgTypeError, match="f: device must be a torch.device or a str"):
        check_device(bad, "device", "f")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_check_device_refuses_a_missing_gpu():
    with pytest.raises(ValueError, match="'cuda' was asked for but this machine has no cuda device"):
        check_device("cuda", "device", "f")


# --- every experiment, through run() and called directly ------------------------------

@pytest.mark.parametrize("name", experiments.names())
def test_unknown_device_is_a_value_error_naming_it(name):
    with pytest.raises(ValueError, match="device must be one of .*got 'tpu'"):
        experiments.run(name, "quick", seeds=[0], device="tpu")
    with pytest.raises(ValueError, match=f"{name}: device must be one of .*got 'tpu'"):
        experiments.get(name).fn("quick", 0, "tpu")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("name", experiments.names())
def test_missing_cuda_is_an_error_not_a_cpu_run(name):
    with pytest.raises(ValueError, match="'cuda' was asked for but this machine has no cuda device"):
        experiments.run(name, "quick", seeds=[0], device="cuda")
    with pytest.raises(ValueError, match=f"{name}: device 'cuda' was asked for"):
        experiments.get(name).fn("quick", 0, "cuda")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_the_module_functions_are_the_checked_ones():
    # the names the chapters import are the checked wrappers, not the raw functions
    for fn in (retrieval.order_embeddings, reader.reader, draw.draw, handwriting.handwriting, feedforward.ffn_digits):
        with pytest.raises(ValueError, match="was asked for but this machine has no cuda device"):
            fn("quick", 0, "cuda")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA: the next test runs there for real")
@pytest.mark.parametrize("name", sorted(set(TINY) | MOVES_FIRST))
def test_each_experiment_moves_its_work_to_the_device(name, tiny, monkeypatch):
    # Pretend CUDA is there: the checks pass, and the experiment must then fail inside torch
    # when it first moves a model or a batch to the GPU. A run that ignored `device` would
    # instead finish on the CPU and return a result.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises((AssertionError, RuntimeError), match="(?i)cuda|nvidia"):
        experiments.get(name).fn("quick", 0, "cuda")


@pytest.mark.skipif(NO_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_runs_on_the_gpu_say_so(name, tiny):
    """The record names the GPU. Mutant: a run that ignores ``device`` records "cpu" and fails.

    (Its last line, ``assert rec["runs"][0]``, passed for any non-empty dict and is gone; that the
    work itself moves to the device is checked by test_each_experiment_moves_its_work_to_the_device.)
    """
    rec = experiments.run(name, "quick", seeds=[0], device="cuda")
    assert rec["device"] == torch.cuda.get_device_name(0)


def test_the_record_says_the_cpu_when_asked_for_it(tiny):
    rec = experiments.run("draw", "quick", seeds=[0], device=torch.device("cpu"))
    assert rec["device"] == "cpu"


# --- the command line ---------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "helpers.experiments", *args], capture_output=True, text=True)


@pytest.mark.parametrize("device, msg", [("tpu", "got 'tpu'")]
                         + ([("cuda", "'cuda' was asked for but this machine has no cuda device")] if NO_CUDA else []))
def test_cli_bad_device_exits_2_with_one_line(device, msg):
    out = _cli("run", "draw", "--device", device)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0], out.stderr
