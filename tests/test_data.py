"""Tests for helpers.data: shapes, determinism, and that the targets mean what the docs say.

References: scikit-learn's load_digits images, and the task definitions
recomputed here from the generated inputs.
"""

import doctest
import math

import numpy as np
import pytest
import torch

from helpers import data
from helpers.data import (
    ADDING_BASELINE_MSE,
    adding_problem,
    copy_task,
    copy_task_baseline,
    load_digits_images,
    load_digits_sequences,
    pixel_permutation,
)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data / 16.0, d.target


# ---------------------------------------------------------------------------
# Digits
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("order, T, I", [("rows", 8, 8), ("pixels", 64, 1), ("permuted", 64, 1)])
def test_digits_shapes_and_ranges(order, T, I):
    (x, y), (xt, yt) = load_digits_sequences(order)
    assert x.shape == (T, 1347, I) and xt.shape == (T, 450, I)
    assert y.shape == (1347,) and yt.shape == (450,)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= 0 and x.max() == 1.0
    assert set(y.tolist()) == set(range(10)) == set(yt.tolist())


def test_digits_rows_are_the_images_read_top_to_bottom(digits):
    images, labels = digits
    (x, y), _ = load_digits_sequences("rows", dtype=torch.float64)
    (xp, yp), _ = load_digits_sequences("pixels", dtype=torch.float64)
    assert torch.equal(y, yp)  # same split for the same seed
    # find each training sequence among the original images
    flat = x.permute(1, 0, 2).reshape(len(y), 64).numpy()  # (T, N, I) -> (N, T*I)
    torch.testing.assert_close(xp[:, :, 0].T, torch.as_tensor(flat))  # pixel order = row-major reading
    lookup = {row.tobytes(): k for k, row in enumerate(images)}
    found = [lookup.get(row.tobytes()) for row in flat]
    assert None not in found  # every sequence is one of the images
    assert (labels[found] == y.numpy()).all()
    assert x[0, 0].tolist() == images[found[0]][:8].tolist()  # step 0 is the top row


def test_digits_permuted_uses_one_fixed_permutation():
    (xp, y), (xpt, _) = load_digits_sequences("pixels")
    (xq, yq), (xqt, _) = load_digits_sequences("permuted", permutation_seed=3)
    perm = torch.as_tensor(pixel_permutation(3))
    assert torch.equal(y, yq)
    assert torch.equal(xq, xp[perm])  # the same reordering of the 64 steps for every image
    assert torch.equal(xqt, xpt[perm])
    assert not torch.equal(xq, xp)


def test_pixel_permutation_is_a_fixed_permutation():
    p = pixel_permutation()
    assert p.shape == (64,) and p.dtype == np.int64
    assert sorted(p.tolist()) == list(range(64))
    assert np.array_equal(p, pixel_permutation(0))
    assert not np.array_equal(p, pixel_permutation(1))
    assert not np.array_equal(p, np.arange(64))


def test_digits_split_is_seeded_and_stratified():
    (x0, y0), (xt0, yt0) = load_digits_sequences("rows", seed=0)
    (x1, y1), _ = load_digits_sequences("rows", seed=0)
    (x2, y2), _ = load_digits_sequences("rows", seed=1)
    assert torch.equal(x0, x1) and torch.equal(y0, y1)
    assert not torch.equal(y0, y2)
    train_freq = torch.bincount(y0, minlength=10) / len(y0)
    test_freq = torch.bincount(yt0, minlength=10) / len(yt0)
    assert (train_freq - test_freq).abs().max() < 0.01
    (xs, _), (xst, _) = load_digits_sequences("rows", test_size=0.5)
    assert xs.shape[1] + xst.shape[1] == 1797 and abs(xs.shape[1] - xst.shape[1]) <= 1


def test_digits_bad_arguments():
    with pytest.raises(ValueError, match="order"):
        load_digits_sequences("columns")
    with pytest.raises(ValueError, match="test_size"):
        load_digits_sequences(test_size=1.0)
    with pytest.raises(TypeError, match="dtype"):
        load_digits_sequences(dtype=torch.int64)
    with pytest.raises(ValueError, match="seed"):
        pixel_permutation(-1)


# ---------------------------------------------------------------------------
# Adding problem
# ---------------------------------------------------------------------------

def test_adding_problem_shapes_markers_and_targets():
    T, n = 20, 500
    x, y = adding_problem(n, T, seed=3, dtype=torch.float64)
    assert x.shape == (T, n, 2) and y.shape == (n,) and x.dtype == y.dtype == torch.float64
    values, markers = x[..., 0], x[..., 1]  # (T, N) each
    assert ((values >= 0) & (values < 1)).all()
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    assert (markers.sum(0) == 2).all()  # exactly two markers per sequence
    assert (markers[: T // 2].sum(0) == 1).all() and (markers[T // 2:].sum(0) == 1).all()  # one per half
    torch.testing.assert_close(y, (values * markers).sum(0), rtol=0, atol=1e-15)


def test_adding_problem_small_T_and_determinism():
    x, y = adding_problem(50, 2, seed=0)
    assert (x[..., 1] == 1).all()  # T = 2: both steps are marked
    a, b, c = adding_problem(10, 8, seed=1), adding_problem(10, 8, seed=1), adding_problem(10, 8, seed=2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_adding_problem_baseline_is_the_variance_of_the_target():
    _, y = adding_problem(200_000, 4, seed=0, dtype=torch.float64)
    assert ADDING_BASELINE_MSE == pytest.approx(1 / 6)
    assert abs(y.mean().item() - 1.0) < 0.005
    assert abs(((y - 1.0) ** 2).mean().item() - ADDING_BASELINE_MSE) < 0.002  # predict the mean, 1


def test_generators_do_not_touch_the_global_random_state():
    state = torch.random.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    adding_problem(10, 5, seed=0)
    copy_task(10, 5, seed=0)
    pixel_permutation(0)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert (np.random.get_state()[1] == np_state).all()


def test_adding_problem_bad_arguments():
    with pytest.raises(ValueError, match="T must be an int >= 2"):
        adding_problem(5, 1)
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        adding_problem(0, 5)
    with pytest.raises(TypeError, match="seed"):
        adding_problem(5, 5, seed=1.5)


# ---------------------------------------------------------------------------
# Copy task
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("T, S, K", [(1, 2, 1), (7, 8, 10), (30, 4, 3)])
def test_copy_task_layout(T, S, K):
    n = 64
    x, y = copy_task(n, T, n_symbols=S, copy_len=K, seed=4)
    L = T + 2 * K
    assert x.shape == (L, n, S + 2) and y.shape == (L, n) and y.dtype == torch.int64
    assert (x.sum(-1) == 1).all() and set(x.unique().tolist()) == {0.0, 1.0}  # one-hot
    tokens = x.argmax(-1)  # (L, N)
    blank, delim = S, S + 1
    assert (tokens[:K] < S).all()  # the symbols to copy
    assert (tokens[K:T + K - 1] == blank).all()  # T - 1 blanks
    assert (tokens[T + K - 1] == delim).all()  # the delimiter
    assert (tokens[T + K:] == blank).all()  # K blanks while writing
    assert (y[:T + K] == blank).all()
    assert torch.equal(y[T + K:], tokens[:K])  # the copy


def test_copy_task_determinism_and_symbol_use():
    a, b, c = copy_task(100, 5, seed=9), copy_task(100, 5, seed=9), copy_task(100, 5, seed=10)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    assert set(a[1][-10:].unique().tolist()) == set(range(8))


@pytest.mark.parametrize("T, S, K", [(100, 8, 10), (5, 3, 2)])
def test_copy_task_baselines_are_the_cross_entropies_of_those_strategies(T, S, K):
    x, y = copy_task(256, T, n_symbols=S, copy_len=K, seed=0, dtype=torch.float64)
    L, n = y.shape
    blank = S
    # memoryless: blank (with certainty) until the copy starts, then uniform over the S symbols
    probs = torch.zeros(L, n, S + 2, dtype=torch.float64)
    probs[:T + K, :, blank] = 1.0
    probs[T + K:, :, :S] = 1.0 / S
    ce = -torch.log(probs.gather(-1, y[..., None])).mean()
    assert ce.item() == pytest.approx(copy_task_baseline(T, S, K), rel=1e-12)
    assert copy_task_baseline(T, S, K) == pytest.approx(K * math.log(S) / (T + 2 * K))
    # constant: the same distribution at every step, the label frequencies
    p = (T + K) / L
    const = torch.full((S + 2,), (1 - p) / S, dtype=torch.float64)
    const[blank], const[S + 1] = p, 0.0
    ce_const = -torch.log(const[y]).mean()
    assert ce_const.item() == pytest.approx(copy_task_baseline(T, S, K, kind="constant"), rel=1e-12)
    assert copy_task_baseline(T, S, K, kind="constant") > copy_task_baseline(T, S, K)


def test_copy_task_bad_arguments():
    with pytest.raises(ValueError, match="n_symbols"):
        copy_task(5, 5, n_symbols=1)
    with pytest.raises(ValueError, match="T must be an int >= 1"):
        copy_task(5, 0)
    with pytest.raises(ValueError, match="kind"):
        copy_task_baseline(10, kind="random")


def test_digits_images_are_sklearns_images_in_the_sequence_split():
    from sklearn.datasets import load_digits

    (x, y), (xt, yt) = load_digits_images(dtype=torch.float64)
    (xs, ys), _ = load_digits_sequences("rows", dtype=torch.float64)
    assert x.shape == (1347, 1, 8, 8) and xt.shape == (450, 1, 8, 8)
    assert torch.equal(y, ys) and torch.equal(x[:, 0, 3], xs[3])  # row 3 of every image
    d = load_digits()  # independent: find image 0 among sklearn's raw images
    raw = torch.as_tensor(d.images / 16.0)  # (1797, 8, 8)
    hits = [i for i in range(len(raw)) if torch.equal(raw[i], x[0, 0])]
    assert hits and d.target[hits[0]] == y[0].item()
    (f, fy), (ft, _) = load_digits_images(flatten=True, dtype=torch.float64)
    assert f.shape == (1347, 64) and torch.equal(f, x.reshape(1347, 64)) and torch.equal(fy, y)
    with pytest.raises(TypeError, match="flatten must be a bool"):
        load_digits_images(flatten="yes")
    with pytest.raises(ValueError, match="test_size"):
        load_digits_images(test_size=0.0)


def test_public_api_and_doctests():
    assert set(data.__all__) == {"DIGITS_ORDERS", "load_digits_sequences", "load_digits_images", "pixel_permutation",
                                 "adding_problem", "ADDING_BASELINE_MSE", "copy_task", "copy_task_baseline"}
    result = doctest.testmod(data, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 6 and result.failed == 0
