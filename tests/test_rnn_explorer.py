"""Python-side tests of chapter 4's explorable (helpers.widgets.rnn_dynamics) and its JavaScript.

The browser test (tests/test_site.py) drives the rendered page; here the view
is checked against helpers.dynamics and helpers.rnn, the traits' checks are
exercised, and the JavaScript's maths is run head-less in Node against the
Python twin, at the sliders' extremes too.
"""

import doctest
import itertools
import json
import subprocess

import numpy as np
import pytest
import torch

from helpers import dynamics
from helpers.rnn import RNNCell, run_sequence
from helpers.widgets import Explorable, RNNDynamicsExplorer, rnn_dynamics_view
from helpers.widgets import rnn_dynamics as rd_mod
from helpers.widgets.base import esm_source
from helpers.widgets.rnn_dynamics import LIMITS
from conftest import NODE, needs_node  # skipped without node; under CI=true a failure

NET = dynamics.example_rnn(hidden=16, inputs=4, max_length=300, seed=0)
ARRAYS = [NET[k] for k in ("w_hh", "w_xh", "x", "h0", "readout")]
OUTPUT_KEYS = {"h", "delta", "h_norm", "grad_norm", "steps_run", "overflow", "h_norm_last", "grad_norm_first",
               "grad_factor"}
INPUT_KEYS = {"radius", "length", "input_scale", "norm", "nonlinearity", "eps", "w_hh", "w_xh", "x", "h0", "readout"}
EXTREMES = list(itertools.product(LIMITS["radius"][:2], LIMITS["length"][:2], LIMITS["input_scale"][:2],
                                  ("none", "layer"), ("linear", "tanh")))


def view(radius=1.0, length=200, scale=1.0, norm="none", nl="tanh", **kwargs):
    return rnn_dynamics_view(*ARRAYS, radius, length, scale, norm, nl, **kwargs)


# ---------------------------------------------------------------- the view

def test_view_is_rnn_dynamics_with_scaled_weights():
    v = view(1.7, 120, 0.6, "layer", "tanh")
    out = dynamics.rnn_dynamics(1.7 * NET["w_hh"], 0.6 * NET["w_xh"], NET["x"], NET["h0"], NET["readout"],
                                norm="layer", nonlinearity="tanh", length=120)
    for key in ("h", "delta", "h_norm", "grad_norm"):
        np.testing.assert_array_equal(np.array(v[key]), out[key])
    assert set(v) == INPUT_KEYS | OUTPUT_KEYS
    assert len(v["x"]) == 120 and v["steps_run"] == 120 and v["overflow"] is False
    assert v["grad_factor"] == pytest.approx((v["grad_norm"][0] / v["grad_norm"][-1]) ** (1 / 120), rel=1e-12)
    assert json.loads(json.dumps(v)) == v


def test_view_matches_helpers_rnn_cell():
    """The explorable's tanh network is helpers.rnn.RNNCell with rho W_hh, s W_xh, no bias, gain 1."""
    for norm in ("none", "layer"):
        v = view(2.0, 60, 1.5, norm, "tanh")
        cell = RNNCell(4, 16, norm=None if norm == "none" else "layer", dtype=torch.float64)
        with torch.no_grad():
            cell.weight_hh.copy_(torch.from_numpy(2.0 * NET["w_hh"]))
            cell.weight_ih.copy_(torch.from_numpy(1.5 * NET["w_xh"]))
            if cell.bias is not None:
                cell.bias.zero_()
            h, _ = run_sequence(cell, torch.from_numpy(NET["x"][:60]), torch.from_numpy(NET["h0"]))
        np.testing.assert_allclose(np.array(v["h"][1:]), h.numpy(), rtol=1e-10, atol=1e-13)


def test_reference_of_a_view_is_the_view():
    """Stepping from the page's own states (teacher forcing) reproduces a correct page exactly.

    Not Python against itself: ``reference`` takes each step from the page's state before it, so a
    misaligned teacher fails. Mutant: ``reference`` passing ``teacher_h=result["h"][:1] + result["h"][:-1]``
    (each step from the state one step too early) fails here. That the views themselves are right is
    checked against ``helpers.dynamics`` and ``helpers.rnn.RNNCell`` by the tests above.
    """
    v = view(1.2, 300, 0.3, "layer", "tanh")
    ref = RNNDynamicsExplorer.reference(v)
    for key in RNNDynamicsExplorer.checked_keys:
        np.testing.assert_array_equal(np.array(ref[key]), np.array(v[key]))


def test_reference_catches_a_wrong_step():
    v = view(1.0, 50, 1.0, "none", "tanh")
    v["h"][20][3] += 1e-6
    ref = RNNDynamicsExplorer.reference(v)
    assert not np.allclose(np.array(ref["h"]), np.array(v["h"]), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("radius, length, scale, norm, nl", EXTREMES)
def test_slider_extremes_are_finite(radius, length, scale, norm, nl):
    v = view(radius, length, scale, norm, nl)
    assert v["overflow"] is False and v["steps_run"] == length
    for key in ("h", "delta", "h_norm", "grad_norm"):
        a = np.array(v[key], dtype=float)
        assert np.isfinite(a).all(), key
    assert all(g > 0 for g in v["grad_norm"]) and 0 < v["grad_factor"] < np.inf


def test_layer_norm_view_depends_on_rho_over_s_only():
    """Up to eps, which does not scale: a relative effect of about eps / variance of a_t."""
    a, b = view(0.8, 300, 0.5, "layer", "linear"), view(1.6, 300, 1.0, "layer", "linear")
    np.testing.assert_allclose(a["h_norm"], b["h_norm"], rtol=1e-4)
    assert a["grad_factor"] == pytest.approx(b["grad_factor"], rel=1e-3)
    c = view(2.4, 300, 0.5, "layer", "linear")  # another ratio: another network
    assert abs(c["grad_factor"] - a["grad_factor"]) > 0.05


@pytest.mark.parametrize("kwargs", [
    {"radius": 0.4}, {"radius": 3.5}, {"length": 5}, {"length": 301}, {"length": 20.0}, {"scale": -0.1},
    {"scale": 2.5}, {"norm": None}, {"norm": "batch"}, {"nl": "relu"}, {"eps": 0.0}, {"radius": float("nan")},
])
def test_view_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        view(**kwargs)


# ---------------------------------------------------------------- the widget

def test_widget_state_module_and_registry():
    w = RNNDynamicsExplorer()
    assert isinstance(w, Explorable) and Explorable.registry["rnn_dynamics"] is RNNDynamicsExplorer
    assert "export default" in w._esm and "function rdCompute" in w._esm and "function lnbNormalize" in w._esm
    assert 'lnbMount(ctx, "rnn_dynamics"' in w._esm
    for name in ("w_hh", "w_xh", "x", "h0", "readout", "spec", "radius", "length", "input_scale", "norm",
                 "nonlinearity", "eps"):
        assert w.trait_metadata(name, "sync") is True, name
    # the sliders' ranges reach the page as the traits' bounds, their steps as constants
    assert {k: (w.spec["bounds"][k]["min"], w.spec["bounds"][k]["max"], w.spec["constants"]["steps"][k])
            for k in LIMITS} == LIMITS
    assert w.spec["bounds"]["length"]["int"] and not w.spec["bounds"]["radius"]["int"]
    assert w.spec["bounds"]["norm"]["values"] == ["none", "layer"]
    assert set(RNNDynamicsExplorer.checked_keys) <= OUTPUT_KEYS
    np.testing.assert_array_equal(np.array(w.w_hh), NET["w_hh"])
    assert w.view() == view(1.0, 200, 1.0, "none", "tanh")


def test_widget_rejects_bad_state_and_rolls_back():
    w = RNNDynamicsExplorer(radius=2.0, norm="layer", nonlinearity="linear")
    for name, value in [("radius", 9.0), ("length", 0), ("input_scale", -1.0), ("norm", "batch"),
                        ("nonlinearity", "relu"), ("eps", -1.0)]:
        with pytest.raises(ValueError):
            setattr(w, name, value)
    assert (w.radius, w.length, w.input_scale, w.norm, w.nonlinearity, w.eps) == (2.0, 200, 1.0, "layer", "linear", 1e-5)
    w.set_state({"radius": 0.5, "length": 10})
    assert w.view()["length"] == 10


@pytest.mark.parametrize("kwargs", [{"radius": 0.0}, {"length": 1000}, {"input_scale": 3.0}, {"norm": "on"},
                                    {"nonlinearity": "sigmoid"}, {"eps": float("inf")}])
def test_widget_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        RNNDynamicsExplorer(**kwargs)


def test_doctests():
    failures, tried = doctest.testmod(rd_mod)
    assert tried > 0 and failures == 0


# ------------------------------------------------------------ the JavaScript

def _run_node(tmp_path, cases):
    state = {k: v.tolist() for k, v in NET.items()}
    extra = (f"const S = {json.dumps(state)};\nconst cases = {json.dumps(cases)};\n"
             "console.log(JSON.stringify(cases.map(([radius, length, input_scale, norm, nonlinearity]) =>"
             " rdCompute({ ...S, radius, length, input_scale, nonlinearity, eps: 1e-5 }, norm))));\n"
             "console.log(JSON.stringify([lnbFmtSci(0), lnbFmtSci(1234), lnbFmtSci(2.5e-120), lnbFmtSci(3e45), lnbFmtSci(NaN)]));\n")
    path = tmp_path / "rnn_dynamics.mjs"
    path.write_text(esm_source("rnn_dynamics.js") + "\n" + extra)
    proc = subprocess.run([NODE, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[0]), json.loads(lines[1])


@needs_node
def test_joined_module_is_valid_javascript(tmp_path):
    path = tmp_path / "rnn_dynamics.mjs"
    path.write_text(esm_source("rnn_dynamics.js"))
    proc = subprocess.run([NODE, "--check", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@needs_node
def test_javascript_matches_python_step_by_step(tmp_path):
    """What the browser test checks, for every slider extreme and a few inner points, without a browser."""
    cases = [list(c) for c in EXTREMES] + [[1.0, 200, 1.0, n, nl] for n in ("none", "layer") for nl in ("linear", "tanh")]
    results, texts = _run_node(tmp_path, cases)
    for case, r in zip(cases, results):
        assert set(r) == INPUT_KEYS | OUTPUT_KEYS, case
        ref = RNNDynamicsExplorer.reference(r)
        for key in RNNDynamicsExplorer.checked_keys:
            np.testing.assert_allclose(np.asarray(r[key], float), np.asarray(ref[key], float), rtol=1e-12, atol=1e-300,
                                       err_msg=f"{key} {case}")
        if case[4] == "linear":  # no tanh: the same operations in the same order give the same bits, free-running
            free = view(*case)
            for key in ("h", "delta", "h_norm", "grad_norm"):
                np.testing.assert_array_equal(np.asarray(r[key], float), np.asarray(free[key], float),
                                              err_msg=f"{key} {case}")
        assert r["overflow"] is False and r["steps_run"] == case[1]
    assert texts == ["0", "1230", "2.50×10⁻¹²⁰", "3.00×10⁴⁵", "NaN"]


@needs_node
def test_javascript_free_running_agrees_where_not_chaotic(tmp_path):
    """Short tanh runs agree without teacher forcing too (only tanh's last bit differs)."""
    cases = [[r, 30, s, n, "tanh"] for r in (0.5, 1.0, 3.0) for s in (0.0, 1.0) for n in ("none", "layer")]
    results, _ = _run_node(tmp_path, cases)
    for case, r in zip(cases, results):
        free = view(*case)
        for key in ("h_norm", "grad_norm"):
            np.testing.assert_allclose(np.asarray(r[key], float), np.asarray(free[key], float), rtol=1e-10,
                                       err_msg=f"{key} {case}")
