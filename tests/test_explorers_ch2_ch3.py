"""Python-side tests of chapter 2's InvarianceExplorer and chapter 3's WeightGrowthExplorer.

Their reference functions are checked against independent computations (the
normalizations written out here, and :func:`helpers.geometry.gd_trajectory`),
at the sliders' extremes, for bad inputs, and against the JavaScript itself,
run head-less in Node: the browser test compares the page with ``reference``,
and these tests make sure the two implementations agree before a page exists.
"""

import json
import math
import subprocess

import numpy as np
import pytest

from helpers import geometry, invariance
from helpers.widgets import (
    Explorable,
    InvarianceExplorer,
    WeightGrowthExplorer,
    invariance_example,
    invariance_view,
    weight_growth_view,
)
from helpers.widgets import invariance_explorer as iv_mod
from helpers.widgets import weight_growth as wg_mod
from helpers.widgets.base import JS_DIR, esm_source
from conftest import NODE, needs_node  # skipped without node; under CI=true a failure

EX = invariance_example()
P = geometry.toy_regression_problem()
TRANSFORMATIONS = invariance.TRANSFORMATIONS


def _finite(obj):
    """True if no NaN or infinity hides anywhere in a nested structure of lists and numbers."""
    if isinstance(obj, dict):
        return all(_finite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(_finite(v) for v in obj)
    return not isinstance(obj, float) or math.isfinite(obj)


# ================================================================ chapter 2

def test_invariance_example():
    assert EX["W"].shape == (4, 3) and EX["X"].shape == (6, 3) and EX["gamma"].shape == (3,)
    again = invariance_example()
    assert all(np.array_equal(EX[k], again[k]) for k in EX)
    np.testing.assert_array_equal(EX["W"], EX["W"].round(2))
    for bad in ({"B": 2}, {"H": 2}, {"I": 1}, {"B": 3.0}):
        with pytest.raises(ValueError):
            invariance_example(**bad)


def _independent(method, W, X, eps):
    """The normalized summed inputs, written out without helpers.invariance."""
    A = X @ W.T  # (B, H)
    if method == "weight norm":
        return A / np.sqrt((W ** 2).sum(1))
    axis = 0 if method == "batch norm" else 1
    mu = A.mean(axis, keepdims=True)
    return (A - mu) / np.sqrt(((A - mu) ** 2).mean(axis, keepdims=True) + eps)


def _independent_transform(t, W, X, delta, gamma, index):
    W, X = W.copy(), X.copy()
    if t == "weight matrix re-scaling":
        W = delta * W
    elif t == "weight matrix re-centering":
        W = W + gamma
    elif t == "weight vector re-scaling":
        W[index] = delta * W[index]
    elif t == "dataset re-scaling":
        X = delta * X
    elif t == "dataset re-centering":
        X = X + gamma
    else:
        X[index] = delta * X[index]
    return W, X


@pytest.mark.parametrize("t", TRANSFORMATIONS)
@pytest.mark.parametrize("delta, g_scale", [(0.1, -3.0), (10.0, 3.0), (3.0, 0.7)])
@pytest.mark.parametrize("eps", iv_mod.EPS_CHOICES)
def test_invariance_view_matches_an_independent_computation(t, delta, g_scale, eps):
    gamma = g_scale * EX["gamma"]
    index = 2
    v = invariance_view(EX["W"], EX["X"], t, delta, gamma, index, eps)
    W2, X2 = _independent_transform(t, EX["W"], EX["X"], delta, gamma, index)
    np.testing.assert_allclose(v["W_new"], W2, rtol=1e-15)
    np.testing.assert_allclose(v["X_new"], X2, rtol=1e-15)
    for k, m in enumerate(invariance.METHODS):
        before = _independent(m, EX["W"], EX["X"], eps)
        after = _independent(m, W2, X2, eps)
        np.testing.assert_allclose(v["before"][k], before, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(v["after"][k], after, rtol=1e-12, atol=1e-14)
        change = np.abs(after - before).max() / np.abs(before).max()
        assert v["changes"][k] == pytest.approx(change, rel=1e-6, abs=1e-14)
        assert v["paper"][k] == invariance.PAPER_TABLE_1[m, t]
        if eps == 1e-20:  # the paper's eps = 0: every verdict is Table 1's
            assert v["invariant"][k] == invariance.PAPER_TABLE_1[m, t], (m, t)
    assert _finite(v) and json.loads(json.dumps(v)) == v
    assert v["methods"] == list(invariance.METHODS)


def test_invariance_view_shows_eps_breaking_the_invariance():
    v = invariance_view(EX["W"], EX["X"], "dataset re-scaling", 0.1, EX["gamma"], 0, 1e-2)
    ln = invariance.METHODS.index("layer norm")
    assert v["paper"][ln] and not v["invariant"][ln] and v["changes"][ln] > 1e-3


@pytest.mark.parametrize("t", TRANSFORMATIONS)
def test_identity_settings_change_nothing(t):
    v = invariance_view(EX["W"], EX["X"], t, 1.0, 0.0 * EX["gamma"], 0, 1e-5)
    assert v["changes"] == [0.0, 0.0, 0.0] and all(v["invariant"])


@pytest.mark.parametrize("kwargs", [
    {"transformation": "dataset rotation"}, {"delta": 0.0}, {"delta": -2.0}, {"delta": float("nan")},
    {"transformation": "weight vector re-scaling", "index": 4},
    {"transformation": "single training case re-scaling", "index": 6},
    {"eps": 0.0}, {"eps": float("inf")}, {"gamma": [1.0, 2.0]}, {"gamma": [1.0, np.nan, 0.0]},
    {"W": [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [1.0, 0.0, 0.0]]}, {"X": [[1.0, 2.0, 3.0]]},
    {"X": [[1.0, 2.0]] * 4}, {"W": [1.0, 2.0, 3.0]},
])
def test_invariance_view_rejects_bad_inputs(kwargs):
    args = {"W": EX["W"], "X": EX["X"], "transformation": "dataset re-scaling", "delta": 2.0,
            "gamma": EX["gamma"], "index": 0, "eps": 1e-5} | kwargs
    with pytest.raises((ValueError, TypeError)):
        invariance_view(**args)


def test_invariance_explorer_state_and_reference():
    w = InvarianceExplorer(transformation="weight vector re-scaling", delta=3.0, index=1)
    assert w.kind == "invariance" and Explorable.registry["invariance"] is InvarianceExplorer
    assert "function ivCompute" in w._esm and "function lnbNormalize" in w._esm and "export default" in w._esm
    assert 'lnbMount(ctx, "invariance"' in w._esm
    assert w._css.startswith((JS_DIR / "lib.css").read_text()) and ".iv-card" in w._css
    for name in ("W", "X", "gamma_dir", "transformation", "delta", "gamma_scale", "index", "eps"):
        assert w.trait_metadata(name, "sync") is True, name
    v = w.view()
    assert v["invariant"] == [True, True, False]
    assert InvarianceExplorer.reference(v) == v
    assert set(InvarianceExplorer.checked_keys) <= set(v)
    # the index is clamped to the rows the transformation can pick from, as the page does
    w.index = 5
    w.transformation = "weight vector re-scaling"
    assert w.view()["index"] == 3
    w.transformation = "single training case re-scaling"
    assert w.view()["index"] == 5
    w.transformation = "dataset re-scaling"
    assert w.view()["index"] == 0
    np.testing.assert_allclose(w.gamma(), w.gamma_scale * EX["gamma"])


@pytest.mark.parametrize("trait, value", [
    ("transformation", "flip"), ("delta", 0.05), ("delta", 11.0), ("gamma_scale", 3.5), ("eps", 0.0),
    ("index", 6), ("index", -1), ("W", [[1.0, np.nan, 0.0]]),
])
def test_invariance_explorer_rolls_back_bad_state(trait, value):
    w = InvarianceExplorer()
    old = getattr(w, trait)
    with pytest.raises(ValueError):
        setattr(w, trait, value)
    assert getattr(w, trait) == old


@pytest.mark.parametrize("kwargs", [
    {"transformation": "flip"}, {"delta": 0.0}, {"gamma_scale": 4.0}, {"eps": -1.0}, {"index": 4},
    {"transformation": "single training case re-scaling", "index": 6}, {"example": {"W": EX["W"]}},
    {"example": {"W": EX["W"], "X": EX["X"], "gamma": [1.0]}},
])
def test_invariance_explorer_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        InvarianceExplorer(**kwargs)


# ================================================================ chapter 3

GRID = [(lr, s, mode) for lr in (0.01, 0.1, 1.0, 10.0) for s in (0.1, 1.0, 10.0) for mode in geometry.MODES]


@pytest.mark.parametrize("lr, scale, mode", GRID)
def test_weight_growth_view_matches_numpy_and_stays_finite(lr, scale, mode):
    v = weight_growth_view(P["X"], P["T"], P["U"], lr, scale, 100, 1e-5, mode)
    r = geometry.gd_trajectory(scale * P["U"], P["X"], P["T"], lr, 100, 1e-5, mode)
    for key in WeightGrowthExplorer.checked_keys:
        assert len(v[key]) == 101
        atol = 1e-12 if key == "cosine" else 0.0
        np.testing.assert_allclose(v[key], r[key], rtol=1e-9, atol=atol, err_msg=key)
    assert _finite(v)
    assert v["max_gap"] == pytest.approx(np.abs(np.array(v["norm"]) / np.array(v["predicted_norm"]) - 1).max())
    assert json.loads(json.dumps(v)) == v


@pytest.mark.parametrize("lr", wg_mod.LR_RANGE)
@pytest.mark.parametrize("scale", wg_mod.SCALE_RANGE)
@pytest.mark.parametrize("mode", geometry.MODES)
def test_weight_growth_view_is_finite_at_the_allowed_extremes(lr, scale, mode):
    v = weight_growth_view(P["X"], P["T"], P["U"], lr, scale, wg_mod.STEPS_RANGE[1], 1e-5, mode)
    assert _finite(v) and v["norm"][-1] >= 0.9 * scale


def test_weight_growth_view_follows_pythagoras_and_only_grows():
    v = weight_growth_view(P["X"], P["T"], P["U"], 1.0, 1.0, 200, 1e-5, "cyclic")
    assert v["max_gap"] < 1e-4
    assert np.all(np.diff(v["norm"]) > -1e-9)
    assert v["effective_lr"][-1] < v["effective_lr"][0] / 10  # the learning rate decayed by itself


def test_matched_notches_give_the_same_loss_curve():
    """lr * k**2 and scale * k: the same effective learning rate, the same losses (eps ~ 0)."""
    a = weight_growth_view(P["X"], P["T"], P["U"], 0.1, 1.0, 100, 1e-30, "cyclic")
    b = weight_growth_view(P["X"], P["T"], P["U"], 0.1 * 10 ** 0.6, 10 ** 0.3, 100, 1e-30, "cyclic")
    np.testing.assert_allclose(b["loss"], a["loss"], rtol=1e-8)
    np.testing.assert_allclose(b["norm"], 10 ** 0.3 * np.array(a["norm"]), rtol=1e-8)


@pytest.mark.parametrize("kwargs", [
    {"lr": 0.0}, {"lr": 1e4}, {"lr": float("nan")}, {"scale": 0.0}, {"scale": 1e4}, {"steps": 0},
    {"steps": 501}, {"steps": 10.0}, {"eps": 0.0}, {"mode": "batch"}, {"U": np.zeros((4, 3))},
    {"U": np.ones((1, 3))}, {"T": np.ones((8, 3))}, {"X": np.ones((8, 2))}, {"X": [[1.0, np.inf, 0.0]] * 8},
])
def test_weight_growth_view_rejects_bad_inputs(kwargs):
    args = {"X": P["X"], "T": P["T"], "U": P["U"], "lr": 0.1, "scale": 1.0, "steps": 10, "eps": 1e-5,
            "mode": "cyclic"} | kwargs
    with pytest.raises(ValueError):
        weight_growth_view(**args)


def test_weight_growth_explorer_state_and_reference():
    w = WeightGrowthExplorer(lr=1.0, scale=0.1)
    assert w.kind == "weight_growth" and Explorable.registry["weight_growth"] is WeightGrowthExplorer
    assert "function wgCompute" in w._esm and 'lnbMount(ctx, "weight_growth"' in w._esm
    assert ".wg-charts" in w._css and w._css.startswith((JS_DIR / "lib.css").read_text())
    for name in ("X", "T", "U", "lr", "scale", "steps", "eps", "mode"):
        assert w.trait_metadata(name, "sync") is True, name
    v = w.view()
    assert WeightGrowthExplorer.reference(v) == v
    assert set(WeightGrowthExplorer.checked_keys) <= set(v)
    for trait, value in (("lr", 0.0), ("lr", 2e3), ("scale", 0.0), ("steps", 0), ("eps", -1.0), ("mode", "x"),
                         ("X", [[np.nan]])):
        old = getattr(w, trait)
        with pytest.raises(ValueError):
            setattr(w, trait, value)
        assert getattr(w, trait) == old
    with pytest.raises(ValueError):
        WeightGrowthExplorer(problem={"X": P["X"]})
    with pytest.raises(ValueError):
        WeightGrowthExplorer(lr=-1.0)


# ================================================================ the JavaScript

def _run_node(tmp_path, js_file, body):
    path = tmp_path / "explorable.mjs"
    path.write_text(esm_source(js_file) + "\n" + body)
    proc = subprocess.run([NODE, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.strip().splitlines()]


@needs_node
@pytest.mark.parametrize("js", ["invariance_explorer.js", "weight_growth.js"])
def test_joined_modules_are_valid_javascript(tmp_path, js):
    path = tmp_path / "explorable.mjs"
    path.write_text(esm_source(js))
    proc = subprocess.run([NODE, "--check", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@needs_node
def test_weight_growth_javascript_matches_numpy(tmp_path):
    """The page's loops against helpers.geometry.gd_trajectory, far inside the browser test's 1e-9."""
    # the sliders' extremes and middle: lr = 10^(k/10), scale = 10^(j/20), k and j at the notches' ends
    lr_k, scale_j = WeightGrowthExplorer.constants["lr_notches"], WeightGrowthExplorer.constants["scale_notches"]
    cases = [(k, j, mode) for k in (lr_k[0], -7, 0, lr_k[1]) for j in (scale_j[0], 0, scale_j[1]) for mode in geometry.MODES]
    problem = {k: v.tolist() for k, v in P.items()}
    body = (f"const P = {json.dumps(problem)};\nconst cases = {json.dumps(cases)};\n"
            "console.log(JSON.stringify(cases.map(([k, j, m]) => wgCompute(P.X, P.T, P.U, 10 ** (k / 10), 10 ** (j / 20), 100, 1e-5, m))));\n")
    (results,) = _run_node(tmp_path, "weight_growth.js", body)
    for (k, j, mode), r in zip(cases, results):
        assert _finite(r), (k, j, mode)
        expected = WeightGrowthExplorer.reference(r)
        for key in WeightGrowthExplorer.checked_keys + ("max_gap",):
            atol = 1e-13 if key in ("cosine", "max_gap") else 0.0
            np.testing.assert_allclose(r[key], expected[key], rtol=1e-11, atol=atol, err_msg=f"{key} {k} {j} {mode}")
    # the notches cover 0.01 to 10 (lr) and 0.1 to 10 (||W_0||), inside the traits' bounds
    assert 10 ** (lr_k[0] / 10) == pytest.approx(0.01) and 10 ** (lr_k[1] / 10) == pytest.approx(10)
    assert 10 ** (scale_j[0] / 20) == pytest.approx(0.1) and 10 ** (scale_j[1] / 20) == pytest.approx(10)
    bounds = WeightGrowthExplorer.page_spec()["bounds"]
    assert (bounds["lr"]["min"], bounds["lr"]["max"]) == wg_mod.LR_RANGE
    assert (bounds["scale"]["min"], bounds["scale"]["max"]) == wg_mod.SCALE_RANGE
    assert (bounds["steps"]["min"], bounds["steps"]["max"]) == wg_mod.STEPS_RANGE


@needs_node
def test_invariance_javascript_matches_python(tmp_path):
    cases = [(t, 10 ** (k / 100), g / 10, index, eps) for t in TRANSFORMATIONS for k in (-100, 0, 47, 100)
             for g in (-30, 0, 30) for index in (0, 3, 9) for eps in iv_mod.EPS_CHOICES]
    ex = {k: v.tolist() for k, v in EX.items()}
    constants = json.loads(json.dumps(InvarianceExplorer.page_spec()["constants"]))  # what the page gets
    body = (f"const E = {json.dumps(ex)};\nconst cases = {json.dumps(cases)};\nconst C = {json.dumps(constants)};\n"
            "console.log(JSON.stringify(cases.map(([t, d, g, i, e]) => ivCompute(C, E.W, E.X, t, d, E.gamma.map((v) => g * v), i, e))));\n"
            "console.log(JSON.stringify([Object.keys(IV_FORMULA), ...C.methods.map((m) => Object.keys(IV_WHY[m])), Object.keys(IV_STATS)]));\n")
    results, (formulas, *whys, stats) = _run_node(tmp_path, "invariance_explorer.js", body)
    for case, r in zip(cases, results):
        assert _finite(r), case
        expected = InvarianceExplorer.reference(r)
        for key in InvarianceExplorer.checked_keys:
            np.testing.assert_allclose(np.asarray(r[key], float), np.asarray(expected[key], float),
                                       rtol=1e-12, atol=1e-13, err_msg=f"{key} {case}")
        assert r["paper"] == expected["paper"]
        size = {"weight vector re-scaling": 4, "single training case re-scaling": 6}.get(case[0], 1)
        assert r["index"] == min(case[3], size - 1)  # clamped like InvarianceExplorer._index_used
    # the page's words are keyed by the Python names, every one of them
    assert formulas == list(TRANSFORMATIONS) and all(why == list(TRANSFORMATIONS) for why in whys)
    assert stats == list(invariance.METHODS)
    # and its constants are the Python ones, Table 1 included
    assert constants["transformations"] == list(TRANSFORMATIONS) and constants["methods"] == list(invariance.METHODS)
    assert {(m, t): constants["paper"][m][k] for m in invariance.METHODS
            for k, t in enumerate(TRANSFORMATIONS)} == dict(invariance.PAPER_TABLE_1)
    assert constants["tolerance"] == iv_mod.TOLERANCE and constants["eps_choices"] == list(iv_mod.EPS_CHOICES)
