"""Tests for helpers.invariance: the paper's Table 1, measured.

The acceptance test is that the measured table equals the printed one in all 18
cells, for several seeds, layer sizes and scales. The transformations are checked
against closed forms written out by hand, the normalized outputs against torch, and
the numerical verdict against the size of the changes it rests on.
"""

import doctest
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import invariance
from helpers.invariance import (
    METHODS,
    PAPER_TABLE_1,
    TRANSFORMATIONS,
    counterexample,
    invariance_changes,
    invariance_table,
    is_invariant,
    normalized_output,
    recenter_dataset,
    recenter_weight_matrix,
    rescale_dataset,
    rescale_training_case,
    rescale_weight_matrix,
    rescale_weight_vector,
    transform,
)

# The paper's Table 1 as printed: rows are methods, columns the transformations in order.
PRINTED = {
    "batch norm": "Invariant No Invariant Invariant Invariant No",
    "weight norm": "Invariant No Invariant No No No",
    "layer norm": "Invariant Invariant No Invariant No Invariant",
}
INVARIANT_CELLS = [key for key, inv in PAPER_TABLE_1.items() if inv]
VARIANT_CELLS = [key for key, inv in PAPER_TABLE_1.items() if not inv]


def layer(B=6, I=4, H=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((H, I)) / np.sqrt(I), rng.standard_normal((B, I)), rng.standard_normal(I)


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

def test_paper_table_1_is_the_printed_table():
    assert list(PAPER_TABLE_1) == list(itertools.product(METHODS, TRANSFORMATIONS))
    for method, row in PRINTED.items():
        cells = row.split()
        assert len(cells) == len(TRANSFORMATIONS) == 6
        for transformation, cell in zip(TRANSFORMATIONS, cells):
            assert PAPER_TABLE_1[method, transformation] == (cell == "Invariant"), (method, transformation)
    assert sum(PAPER_TABLE_1.values()) == 10


def test_paper_table_1_is_read_only():
    with pytest.raises(TypeError):
        PAPER_TABLE_1["layer norm", "dataset re-centering"] = True


def test_measured_table_equals_paper_table():  # the acceptance test
    table = invariance_table()
    assert table == PAPER_TABLE_1
    assert all(isinstance(v, bool) for v in table.values())


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 12345])
@pytest.mark.parametrize("delta", [0.05, 0.5, 2.0, 3.7, 25.0])
@pytest.mark.parametrize("B, I, H", [(3, 2, 3), (8, 5, 6), (40, 7, 12)])
def test_measured_table_equals_paper_table_for_many_layers(seed, delta, B, I, H):
    table = invariance_table(seed, B=B, I=I, H=H, delta=delta)
    wrong = {key: table[key] for key in PAPER_TABLE_1 if table[key] != PAPER_TABLE_1[key]}
    assert not wrong, wrong


def test_changes_are_far_from_the_threshold():
    # Invariant cells: rounding only. The others: at least a percent or so. Far from rtol = 1e-8 both ways.
    worst_invariant, least_variant = 0.0, np.inf
    for seed, delta in itertools.product(range(5), [0.1, 3.7, 10.0]):
        changes = invariance_changes(seed, delta=delta)
        assert list(changes) == list(PAPER_TABLE_1)
        worst_invariant = max(worst_invariant, *(changes[k] for k in INVARIANT_CELLS))
        least_variant = min(least_variant, *(changes[k] for k in VARIANT_CELLS))
    assert worst_invariant < 1e-11
    assert least_variant > 1e-2


def test_default_changes_are_reproducible_and_the_obvious_ones_exact():
    changes = invariance_changes()
    assert changes == invariance_changes(seed=0)
    assert changes != invariance_changes(seed=1)
    # Weight norm ignores the data entirely: re-scaling it by delta re-scales the output by delta.
    assert changes["weight norm", "dataset re-scaling"] == pytest.approx(3.7 - 1, rel=1e-12)


def test_table_does_not_touch_global_rng():
    state = np.random.get_state()[1].copy()
    invariance_table(seed=3)
    counterexample("layer norm", "dataset re-centering", seed=3)
    assert (np.random.get_state()[1] == state).all()


@pytest.mark.parametrize("B, I, H", [(2, 5, 6), (8, 1, 6), (8, 5, 2), (8, 5, 3.0)])
def test_degenerate_sizes_are_refused(B, I, H):
    with pytest.raises(ValueError, match=r"must be an int >= \d.*degenerates"):
        invariance_table(B=B, I=I, H=H)


def test_why_two_cases_are_degenerate():
    # With B = 2 batch norm outputs only signs, +-1, whatever the data (and likewise layer norm with H = 2).
    W, X, _ = layer(B=2, H=2)
    np.testing.assert_allclose(np.abs(normalized_output("batch norm", W, X)), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.abs(normalized_output("layer norm", W, X)), 1.0, rtol=1e-12)


# ---------------------------------------------------------------------------
# The mechanism behind the cells, on the summed inputs a = X W^T
# ---------------------------------------------------------------------------

def test_recentering_w_shifts_each_case_by_one_scalar():
    W, X, gamma = layer()
    a, a2 = X @ W.T, X @ recenter_weight_matrix(W, gamma).T  # (B, H)
    np.testing.assert_allclose(a2 - a, np.tile((X @ gamma)[:, None], (1, W.shape[0])), atol=1e-13)


def test_recentering_x_shifts_each_unit_by_one_scalar():
    W, X, gamma = layer()
    a, a2 = X @ W.T, recenter_dataset(X, gamma) @ W.T  # (B, H)
    np.testing.assert_allclose(a2 - a, np.tile((W @ gamma)[None, :], (X.shape[0], 1)), atol=1e-13)


def test_layer_norm_is_invariant_to_the_papers_combined_recentering():
    # Sec. 5.1: W' = delta W + 1 gamma^T. Layer norm removes both; batch and weight norm do not.
    W, X, gamma = layer(seed=5)
    W2 = recenter_weight_matrix(W, gamma, delta=3.7)
    np.testing.assert_allclose(X @ W2.T, 3.7 * X @ W.T + (X @ gamma)[:, None], atol=1e-12)
    before, after = normalized_output("layer norm", W, X), normalized_output("layer norm", W2, X)
    np.testing.assert_allclose(after, before, atol=1e-12)
    for method in ("batch norm", "weight norm"):
        assert np.abs(normalized_output(method, W2, X) - normalized_output(method, W, X)).max() > 0.1


@pytest.mark.parametrize("method", METHODS)
def test_negative_scale_flips_the_sign(method):
    # Why delta must be > 0: every method is odd, N(-W) = -N(W).
    W, X, _ = layer(seed=6)
    np.testing.assert_allclose(normalized_output(method, -W, X), -normalized_output(method, W, X), atol=1e-12)


# ---------------------------------------------------------------------------
# The transformations, against closed forms on tiny matrices
# ---------------------------------------------------------------------------

W0 = np.array([[1.0, 2.0], [3.0, -4.0], [0.5, 0.0]])  # (H, I) = (3, 2)
X0 = np.array([[1.0, -1.0], [2.0, 0.0], [0.0, 3.0], [-2.0, 1.0]])  # (B, I) = (4, 2)
G0 = np.array([10.0, -20.0])  # (I,)


def test_rescale_weight_matrix_closed_form():
    np.testing.assert_array_equal(rescale_weight_matrix(W0, 2.0), [[2.0, 4.0], [6.0, -8.0], [1.0, 0.0]])


def test_recenter_weight_matrix_closed_form():
    np.testing.assert_array_equal(recenter_weight_matrix(W0, G0), [[11.0, -18.0], [13.0, -24.0], [10.5, -20.0]])
    np.testing.assert_array_equal(recenter_weight_matrix(W0, G0, delta=2.0),
                                  [[12.0, -16.0], [16.0, -28.0], [11.0, -20.0]])


def test_rescale_weight_vector_closed_form():
    np.testing.assert_array_equal(rescale_weight_vector(W0, 1, 0.5), [[1.0, 2.0], [1.5, -2.0], [0.5, 0.0]])


def test_rescale_dataset_closed_form():
    np.testing.assert_array_equal(rescale_dataset(X0, 3.0), [[3.0, -3.0], [6.0, 0.0], [0.0, 9.0], [-6.0, 3.0]])


def test_recenter_dataset_closed_form():
    np.testing.assert_array_equal(recenter_dataset(X0, G0),
                                  [[11.0, -21.0], [12.0, -20.0], [10.0, -17.0], [8.0, -19.0]])


def test_rescale_training_case_closed_form():
    np.testing.assert_array_equal(rescale_training_case(X0, 2, 2.0),
                                  [[1.0, -1.0], [2.0, 0.0], [0.0, 6.0], [-2.0, 1.0]])


@pytest.mark.parametrize("transformation", TRANSFORMATIONS)
def test_transform_dispatches_and_leaves_inputs_alone(transformation):
    W, X = W0.copy(), X0.copy()
    W2, X2 = transform(transformation, W, X, delta=2.0, gamma=G0, index=1)
    np.testing.assert_array_equal(W, W0)  # not modified in place
    np.testing.assert_array_equal(X, X0)
    expected = {
        "weight matrix re-scaling": (2.0 * W0, X0),
        "weight matrix re-centering": (W0 + G0, X0),  # pure: delta is only for the re-scalings
        "weight vector re-scaling": (W0 * np.array([[1.0], [2.0], [1.0]]), X0),
        "dataset re-scaling": (W0, 2.0 * X0),
        "dataset re-centering": (W0, X0 + G0),
        "single training case re-scaling": (W0, X0 * np.array([[1.0], [2.0], [1.0], [1.0]])),
    }[transformation]
    np.testing.assert_array_equal(W2, expected[0])
    np.testing.assert_array_equal(X2, expected[1])


# ---------------------------------------------------------------------------
# normalized_output and is_invariant
# ---------------------------------------------------------------------------

def test_normalized_output_matches_torch_and_formulas():
    W, X, _ = layer(B=7, I=3, H=4, seed=7)
    a = torch.from_numpy(X @ W.T)  # (B, H)
    ln = F.layer_norm(a, (4,), eps=1e-5).numpy()
    bn = F.batch_norm(a, None, None, training=True, eps=1e-5).numpy()
    np.testing.assert_allclose(normalized_output("layer norm", W, X, eps=1e-5), ln, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(normalized_output("batch norm", W, X, eps=1e-5), bn, rtol=1e-10, atol=1e-12)
    wn = (X @ W.T) / np.linalg.norm(W, axis=1)  # (B, H) / (H,)
    np.testing.assert_allclose(normalized_output("weight norm", W, X), wn, rtol=1e-13)
    assert normalized_output("layer norm", W, X).shape == (7, 4)


@pytest.mark.parametrize("method, transformation", list(PAPER_TABLE_1))
def test_is_invariant_agrees_with_the_paper_on_a_fresh_layer(method, transformation):
    W, X, gamma = layer(B=10, I=6, H=7, seed=8)
    for index in (0, 3):
        got = is_invariant(method, transformation, W, X, delta=0.3, gamma=gamma, index=index)
        assert got is PAPER_TABLE_1[method, transformation]


def test_is_invariant_at_the_identity_is_true():
    W, X, gamma = layer(seed=9)
    for method, transformation in PAPER_TABLE_1:
        assert is_invariant(method, transformation, W, X, delta=1.0, gamma=np.zeros_like(gamma))


def test_is_invariant_tolerance_is_relative_to_the_whole_output():
    W, X, _ = layer(seed=10)
    # Weight norm, dataset re-scaling by 1 + 1e-9: change 1e-9, under rtol = 1e-8, over rtol = 1e-10.
    assert is_invariant("weight norm", "dataset re-scaling", W, X, delta=1 + 1e-9)
    assert not is_invariant("weight norm", "dataset re-scaling", W, X, delta=1 + 1e-9, rtol=1e-10, atol=0.0)
    assert is_invariant("weight norm", "dataset re-scaling", W, X, delta=1 + 1e-9, rtol=0.0, atol=1e-6)
    # Relative to the output's scale: 1000 times larger outputs, the same verdicts.
    assert is_invariant("weight norm", "dataset re-scaling", W, 1e3 * X, delta=1 + 1e-9, atol=0.0)
    assert not is_invariant("weight norm", "dataset re-scaling", W, 1e3 * X, delta=1 + 1e-7, atol=0.0)


def test_eps_breaks_layer_norm_invariance_for_tiny_data():
    # Summed inputs ~1e-6, far below sqrt(eps) ~ 3e-3: eps, not the data, sets the scale.
    W, X, gamma = layer(seed=11)
    tiny = 1e-6 * X
    assert is_invariant("layer norm", "dataset re-scaling", W, tiny, eps=1e-30)  # eps << var ~ 1e-12
    assert not is_invariant("layer norm", "dataset re-scaling", W, tiny, eps=1e-5)
    assert not is_invariant("layer norm", "single training case re-scaling", W, tiny, eps=1e-5)
    before = normalized_output("layer norm", W, tiny, eps=1e-5)
    after = normalized_output("layer norm", W, rescale_dataset(tiny, 3.7), eps=1e-5)
    np.testing.assert_allclose(after, 3.7 * before, rtol=1e-4)  # almost linear: x / sqrt(eps)
    # For data of order 1, eps = 1e-5 still leaves a visible but small change.
    assert not is_invariant("layer norm", "dataset re-scaling", W, X, eps=1e-5)
    assert is_invariant("layer norm", "dataset re-scaling", W, X, eps=1e-5, rtol=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_default_eps_suits_summed_inputs_down_to_1e_minus_5(seed):
    W, X, gamma = layer(seed=seed)
    small = 1e-5 * X  # summed inputs ~1e-5
    for method, transformation in INVARIANT_CELLS:
        assert is_invariant(method, transformation, W, small, gamma=1e-5 * gamma), (method, transformation)


def test_eps_error_follows_the_first_order_formula():
    # Module docstring: relative change ~ eps / (2 var) * |1 - delta^-2|, for one case under layer norm.
    W, X, _ = layer(B=1, H=8, seed=12)
    a = X @ W.T  # (1, H)
    var = a.var()
    eps, delta = 1e-8, 0.5
    before = normalized_output("layer norm", W, X, eps=eps)
    after = normalized_output("layer norm", W, rescale_dataset(X, delta), eps=eps)
    measured = np.abs(after - before).max() / np.abs(before).max()
    assert measured == pytest.approx(eps / (2 * var) * abs(1 - delta ** -2), rel=1e-3)


# ---------------------------------------------------------------------------
# counterexample
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("method, transformation", VARIANT_CELLS)
def test_counterexample_is_small_and_real(method, transformation):
    inputs, before, after = ce = counterexample(method, transformation)
    assert isinstance(ce, invariance.Counterexample)
    W, X = inputs["W"], inputs["X"]
    assert W.shape == (3, 2) and X.shape == (3, 2) and before.shape == after.shape == (3, 3)
    np.testing.assert_array_equal(W, W.round(1))  # printable: one decimal
    np.testing.assert_array_equal(X, X.round(1))
    W2, X2 = transform(transformation, W, X, delta=inputs["delta"], gamma=inputs["gamma"], index=inputs["index"])
    np.testing.assert_array_equal(inputs["W_new"], W2)
    np.testing.assert_array_equal(inputs["X_new"], X2)
    np.testing.assert_array_equal(before, normalized_output(method, W, X))
    np.testing.assert_array_equal(after, normalized_output(method, W2, X2))
    assert np.abs(after - before).max() > 0.05 * np.abs(before).max()


@pytest.mark.parametrize("method, transformation, seed", [("batch norm", "weight matrix re-centering", 57),
                                                         ("layer norm", "weight vector re-scaling", 7),
                                                         ("layer norm", "dataset re-centering", 57)])
def test_counterexample_skips_near_misses(method, transformation, seed):
    # For these seeds the first draw changes the output by only 2-3%: it must be skipped.
    inputs, before, after = counterexample(method, transformation, seed=seed)
    first_W = np.random.default_rng(seed).standard_normal((3, 2)).round(1)
    assert not np.array_equal(inputs["W"], first_W)
    assert np.abs(after - before).max() > 0.05 * np.abs(before).max()


def test_counterexample_is_reproducible():
    a, b = counterexample("layer norm", "weight vector re-scaling", seed=4), \
        counterexample("layer norm", "weight vector re-scaling", seed=4)
    np.testing.assert_array_equal(a.before, b.before)
    np.testing.assert_array_equal(a.inputs["W"], b.inputs["W"])


@pytest.mark.parametrize("method, transformation", INVARIANT_CELLS)
def test_no_counterexample_for_invariant_cells(method, transformation):
    with pytest.raises(ValueError, match="is invariant to.*no counterexample"):
        counterexample(method, transformation)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

W1, X1, G1 = layer()
VALID_METHODS = r"method must be one of 'batch norm', 'weight norm', 'layer norm'"
VALID_TRANSFORMATIONS = r"transformation must be one of 'weight matrix re-scaling', .*'single training case re-scaling'"

BAD_CALLS = {
    "method": (lambda: normalized_output("group norm", W1, X1), ValueError,
               r"normalized_output: " + VALID_METHODS + r", got 'group norm'"),
    "method case": (lambda: is_invariant("Layer Norm", "dataset re-scaling", W1, X1), ValueError, VALID_METHODS),
    "method None": (lambda: counterexample(None, "dataset re-scaling"), ValueError, r"method must be one of .*, got None"),
    "transformation": (lambda: transform("rotation", W1, X1), ValueError,
                       r"transform: " + VALID_TRANSFORMATIONS + r", got 'rotation'"),
    "transformation in is_invariant": (lambda: is_invariant("layer norm", "re-scaling", W1, X1), ValueError,
                                       VALID_TRANSFORMATIONS),
    "delta 0": (lambda: rescale_dataset(X1, 0.0), ValueError, r"rescale_dataset: delta must be finite and > 0, got 0\.0"),
    "delta neg": (lambda: rescale_weight_matrix(W1, -2.0), ValueError, r"delta must be finite and > 0.*flips the sign"),
    "delta neg table": (lambda: invariance_table(delta=-1.0), ValueError, r"invariance_changes: delta must be"),
    "delta neg is_invariant": (lambda: is_invariant("layer norm", "single training case re-scaling", W1, X1,
                                                    delta=-3.0), ValueError, r"delta must be finite and > 0"),
    "delta neg recenter": (lambda: recenter_weight_matrix(W1, G1, delta=-1.0), ValueError, r"delta must be"),
    "delta nan": (lambda: rescale_weight_vector(W1, 0, float("nan")), ValueError, r"finite and > 0, got nan"),
    "delta str": (lambda: rescale_training_case(X1, 0, "2"), TypeError, r"delta must be a real number, got str"),
    "delta bool": (lambda: rescale_dataset(X1, True), TypeError, r"delta must be a real number, got bool"),
    "I mismatch": (lambda: normalized_output("layer norm", W1, X1[:, :3]), ValueError,
                   r"same input size I, got W.shape = \(5, 4\), X.shape = \(6, 3\)"),
    "I mismatch transform": (lambda: transform("dataset re-scaling", W1.T, X1), ValueError, r"same input size I"),
    "W 1-d": (lambda: normalized_output("weight norm", W1[0], X1), ValueError,
              r"W must be a non-empty matrix of shape \(H, I\), got shape \(4,\)"),
    "X 3-d": (lambda: rescale_dataset(X1[None], 2.0), ValueError, r"X must be a non-empty matrix of shape \(B, I\)"),
    "X empty": (lambda: normalized_output("layer norm", W1, X1[:0]), ValueError, r"non-empty.*\(0, 4\)"),
    "X strings": (lambda: rescale_dataset([["a"]], 2.0), TypeError, r"X must be a real numeric array"),
    "gamma missing": (lambda: transform("dataset re-centering", W1, X1), ValueError,
                      r"needs gamma, a vector of shape \(I,\) = \(4,\)"),
    "gamma shape": (lambda: recenter_weight_matrix(W1, G1[:3]), ValueError,
                    r"gamma must have shape \(I,\) = \(4,\), got gamma.shape = \(3,\)"),
    "gamma shape data": (lambda: recenter_dataset(X1, G1[None]), ValueError, r"gamma.shape = \(1, 4\)"),
    "unit index": (lambda: rescale_weight_vector(W1, 5, 2.0), ValueError,
                   r"unit \(row of W\) index must be an int in \[0, 4\], got 5"),
    "case index": (lambda: transform("single training case re-scaling", W1, X1, index=-1), ValueError,
                   r"training case \(row of X\) index must be an int in \[0, 5\], got -1"),
    "index float": (lambda: rescale_training_case(X1, 1.0, 2.0), ValueError, r"got float 1\.0"),
    "batch of one": (lambda: normalized_output("batch norm", W1, X1[:1]), ValueError, r"batch size 1"),
    "eps 0": (lambda: normalized_output("layer norm", W1, X1, eps=0.0), ValueError, r"eps must be finite and > 0"),
    "zero row": (lambda: normalized_output("weight norm", np.zeros((2, 4)), X1), ValueError, r"row 0 of weight"),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_input_raises(name):
    call, exc, match = BAD_CALLS[name]
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------------------
# Module hygiene
# ---------------------------------------------------------------------------

def test_docstring_examples_run():
    result = doctest.testmod(invariance, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


def test_public_api():
    assert set(invariance.__all__) >= {"METHODS", "TRANSFORMATIONS", "PAPER_TABLE_1", "normalized_output",
                                       "is_invariant", "invariance_table", "invariance_changes", "counterexample"}
    for name in invariance.__all__:
        obj = getattr(invariance, name)
        assert callable(obj) is False or obj.__doc__, name
