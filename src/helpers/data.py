r"""Sequence data sets that need no download.

* :func:`load_digits_sequences` -- scikit-learn's bundled 8x8 handwritten
  digits (1797 images, 10 classes) read as sequences: row by row
  (``T = 8``, ``I = 8``), pixel by pixel (``T = 64``, ``I = 1``), or pixel by
  pixel in a fixed random order (:func:`pixel_permutation`), a small cousin
  of sequential and permuted MNIST.
* :func:`load_digits_images` -- the same digits as images ``(N, 1, 8, 8)``,
  for convolutional networks, or flattened to ``(N, 64)`` for a
  permutation-invariant classifier.
* :func:`adding_problem` -- remember two marked numbers and add them
  (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015 and
  Arjovsky et al. 2016).
* :func:`copy_task` -- remember a few symbols across a long blank stretch and
  repeat them (Arjovsky et al. 2016).

Everything is time-major like ``book/notation.md``: inputs ``(T, N, I)``
with ``N`` sequences, targets ``(N,)`` per sequence or ``(T, N)`` per step.
The synthetic tasks draw from a :class:`torch.Generator` seeded with the
``seed`` argument and never touch the global random state, so the same seed
gives the same data on every machine. Nothing runs at import (scikit-learn
is imported only when the digits are asked for).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ._checks import check_choice, check_int, check_real

__all__ = [
    "DIGITS_ORDERS",
    "load_digits_sequences",
    "load_digits_images",
    "pixel_permutation",
    "adding_problem",
    "ADDING_BASELINE_MSE",
    "copy_task",
    "copy_task_baseline",
]

#: The ways :func:`load_digits_sequences` reads an image: ``(T, I)`` per order.
DIGITS_ORDERS = {"rows": (8, 8), "pixels": (64, 1), "permuted": (64, 1)}

#: Mean squared error of the best constant prediction for :func:`adding_problem`:
#: predict the mean, 1, and pay the variance of a sum of two U(0, 1), 2/12 = 1/6.
ADDING_BASELINE_MSE = 1.0 / 6.0


def _generator(seed, where):
    seed = check_int(seed, "seed", where, lo=0)
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------
# Digits
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _digits():
    """scikit-learn's digits as read-only arrays: images (N, 64) in [0, 1] and labels (N,)."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    d = load_digits()
    images = (d.data / 16.0).astype(np.float32)  # (N, 64), pixel values 0..16 -> [0, 1]
    labels = d.target.astype(np.int64)  # (N,)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def pixel_permutation(seed=0, n=64):
    """The fixed pixel order of the ``"permuted"`` digits: a permutation of ``range(n)``.

    Args:
        seed (int): seeds a fresh NumPy generator; the same seed gives the same
            permutation everywhere. Default: 0
        n (int): the number of pixels. Default: 64

    Returns:
        ndarray of int64, shape ``(n,)``: ``image[perm]`` is the permuted image.

    Example::

        >>> sorted(pixel_permutation(seed=0, n=5).tolist())
        [0, 1, 2, 3, 4]
    """
    where = "pixel_permutation"
    seed = check_int(seed, "seed", where, lo=0)
    n = check_int(n, "n", where, lo=1)
    return np.random.default_rng(seed).permutation(n).astype(np.int64)


def load_digits_sequences(order="rows", *, test_size=0.25, seed=0, permutation_seed=0, dtype=torch.float32):
    r"""The 8x8 digits as sequences, split into training and test sets.

    Pixels are scaled from 0..16 to [0, 1]. An image becomes a sequence:

    * ``"rows"``: one row per time step, ``T = 8`` steps of ``I = 8`` pixels;
    * ``"pixels"``: one pixel per step in reading order, ``T = 64``, ``I = 1``;
    * ``"permuted"``: one pixel per step in the fixed order
      ``pixel_permutation(permutation_seed)``, the same for every image, ``T = 64``, ``I = 1``.

    The split is stratified by class and fixed by ``seed`` (scikit-learn's
    ``train_test_split`` with ``random_state=seed``): 1347 training and 450 test
    images with the defaults.

    Args:
        order (str): ``"rows"``, ``"pixels"`` or ``"permuted"``. Default: ``"rows"``
        test_size (float): fraction of the images held out, in (0, 1). Default: 0.25
        seed (int): fixes the split. Default: 0
        permutation_seed (int): fixes the pixel order of ``"permuted"``. Default: 0
        dtype (torch.dtype): floating dtype of the inputs. Default: ``torch.float32``

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` with inputs :math:`(T, N, I)`
        (time-major) and int64 labels 0..9 of shape :math:`(N,)`.

    Example::

        >>> (x, y), (x_test, y_test) = load_digits_sequences("rows")
        >>> tuple(x.shape), tuple(y.shape), tuple(x_test.shape)
        ((8, 1347, 8), (1347,), (8, 450, 8))
    """
    where = "load_digits_sequences"
    order = check_choice(order, "order", DIGITS_ORDERS, where)
    test_size = check_real(test_size, "test_size", where, 0, 1, lo_open=True, hi_open=True)
    seed = check_int(seed, "seed", where, lo=0)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"{where}: dtype must be a floating torch.dtype, got {dtype!r}")
    from sklearn.model_selection import train_test_split

    images, labels = _digits()  # (N, 64), (N,)
    if order == "permuted":
        images = images[:, pixel_permutation(permutation_seed, 64)]  # (N, 64), columns reordered
    T, I = DIGITS_ORDERS[order]
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=test_size, random_state=seed, stratify=labels
    )

    def as_sequences(idx):
        x = images[idx].reshape(len(idx), T, I)  # (N, 64) -> (N, T, I): row-major reading order
        x = torch.as_tensor(np.ascontiguousarray(x.transpose(1, 0, 2)), dtype=dtype)  # (T, N, I)
        return x, torch.as_tensor(labels[idx].copy())  # (T, N, I), (N,)

    return as_sequences(idx_train), as_sequences(idx_test)


def load_digits_images(*, flatten=False, test_size=0.25, seed=0, dtype=torch.float32):
    r"""The 8x8 digits as images (or flat vectors), with the split of :func:`load_digits_sequences`.

    Pixels are scaled from 0..16 to [0, 1]. The split is the same stratified
    split as :func:`load_digits_sequences` with the same ``test_size`` and
    ``seed`` (1347 training and 450 test images with the defaults), so image
    ``i`` here is sequence ``i`` there.

    Args:
        flatten (bool): return ``(N, 64)`` vectors in reading order instead of
            ``(N, 1, 8, 8)`` images. Default: ``False``
        test_size (float): fraction of the images held out, in (0, 1). Default: 0.25
        seed (int): fixes the split. Default: 0
        dtype (torch.dtype): floating dtype of the inputs. Default: ``torch.float32``

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` with inputs :math:`(N, 1, 8, 8)`
        (or :math:`(N, 64)`) and int64 labels 0..9 of shape :math:`(N,)`.

    Example::

        >>> (x, y), (x_test, y_test) = load_digits_images()
        >>> tuple(x.shape), tuple(x_test.shape)
        ((1347, 1, 8, 8), (450, 1, 8, 8))
        >>> tuple(load_digits_images(flatten=True)[0][0].shape)
        (1347, 64)
    """
    if not isinstance(flatten, bool):
        raise TypeError(f"load_digits_images: flatten must be a bool, got {flatten!r}")
    train_set, test_set = load_digits_sequences("rows", test_size=test_size, seed=seed, dtype=dtype)

    def as_images(data):
        x, y = data  # (8, N, 8): time-major rows
        x = x.permute(1, 0, 2).contiguous()  # (N, 8, 8): row t of image n is x[n, t]
        return (x.reshape(len(y), 64) if flatten else x.unsqueeze(1)), y  # (N, 64) or (N, 1, 8, 8)

    return as_images(train_set), as_images(test_set)


# ---------------------------------------------------------------------------
# Synthetic long-memory tasks
# ---------------------------------------------------------------------------

def adding_problem(n, T, seed=0, *, dtype=torch.float32):
    r"""The adding problem: output the sum of the two marked numbers of a sequence.

    Each of the ``n`` sequences has ``T`` steps and two input channels:
    channel 0 holds numbers drawn from :math:`\mathcal U(0, 1)`, channel 1 is a
    marker that is 1 at exactly two steps and 0 elsewhere -- one step drawn
    uniformly from the first half, ``0 <= t < T // 2``, one from the second
    half, ``T // 2 <= t < T`` (as in Arjovsky et al. 2016). The target is the
    sum of the two marked numbers, so the model has to carry the first one
    across up to ``T - 1`` steps.

    Baseline: a model that ignores its input can do no better than predicting
    the mean, 1, for a mean squared error of
    :math:`\mathrm{Var}[u_1 + u_2] = 2 \cdot \tfrac{1}{12} = \tfrac16 \approx 0.167`
    (:data:`ADDING_BASELINE_MSE`). Learning has started when the loss goes below it.

    Args:
        n (int): number of sequences ``N``.
        T (int): sequence length, at least 2.
        seed (int): seeds the local generator. Default: 0
        dtype (torch.dtype): floating dtype of inputs and targets. Default: ``torch.float32``

    Returns:
        ``(x, y)``: inputs :math:`(T, N, 2)` and targets :math:`(N,)`.

    Example::

        >>> x, y = adding_problem(4, T=10, seed=0)
        >>> tuple(x.shape), tuple(y.shape), x[:, :, 1].sum(0).tolist()
        ((10, 4, 2), (4,), [2.0, 2.0, 2.0, 2.0])
    """
    where = "adding_problem"
    n = check_int(n, "n", where, lo=1)
    T = check_int(T, "T", where, lo=2)
    g = _generator(seed, where)
    values = torch.rand(T, n, generator=g, dtype=torch.float64)  # (T, N), U(0, 1)
    half = T // 2
    first = torch.randint(0, half, (n,), generator=g)  # (N,), a step in [0, T // 2)
    second = torch.randint(half, T, (n,), generator=g)  # (N,), a step in [T // 2, T)
    cols = torch.arange(n)  # (N,)
    markers = torch.zeros(T, n, dtype=torch.float64)  # (T, N)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    y = values[first, cols] + values[second, cols]  # (N,)
    x = torch.stack([values, markers], dim=-1)  # 2 x (T, N) -> (T, N, 2)
    return x.to(dtype), y.to(dtype)


def copy_task(n, T, n_symbols=8, copy_len=10, seed=0, *, dtype=torch.float32):
    r"""The copy task: read ``copy_len`` symbols, wait ``T`` steps, write them back.

    Following Arjovsky et al. (2016), with ``K = copy_len``, ``S = n_symbols``
    and tokens ``0..S-1`` for the data symbols, ``S`` for the blank and
    ``S + 1`` for the delimiter, each sequence has ``L = T + 2K`` steps::

        input:   s_1 ... s_K   blank x (T - 1)   delimiter   blank x K
        target:  blank x (T + K)                             s_1 ... s_K

    where the :math:`s_k` are drawn uniformly from the ``S`` data symbols.
    The input is one-hot; the target is a class index at *every* step, for a
    per-step classifier (e.g. ``SequenceClassifier(cell, S + 2, per_step=True)``)
    trained with cross-entropy averaged over all ``L`` steps.

    Baselines (see :func:`copy_task_baseline`): the memoryless strategy of
    Arjovsky et al. -- blank for ``T + K`` steps, then a uniform guess among
    the ``S`` symbols -- scores :math:`K \log S / (T + 2K)`
    (0.173 nats for ``T = 100``, ``S = 8``, ``K = 10``). A model that also
    ignores *when* it is, predicting the same distribution at every step,
    scores more (0.460 nats for the same sizes).

    Args:
        n (int): number of sequences ``N``.
        T (int): the delay, at least 1.
        n_symbols (int): ``S``, the number of data symbols, at least 2. Default: 8
        copy_len (int): ``K``, how many symbols to copy, at least 1. Default: 10
        seed (int): seeds the local generator. Default: 0
        dtype (torch.dtype): floating dtype of the one-hot inputs. Default: ``torch.float32``

    Returns:
        ``(x, y)``: one-hot inputs :math:`(L, N, S + 2)` and int64 targets :math:`(L, N)`.

    Example::

        >>> x, y = copy_task(2, T=5, n_symbols=3, copy_len=2, seed=1)
        >>> tuple(x.shape), tuple(y.shape)
        ((9, 2, 5), (9, 2))
        >>> x.argmax(-1)[:, 0].tolist(), y[:, 0].tolist()
        ([1, 0, 3, 3, 3, 3, 4, 3, 3], [3, 3, 3, 3, 3, 3, 3, 1, 0])
    """
    where = "copy_task"
    n = check_int(n, "n", where, lo=1)
    T = check_int(T, "T", where, lo=1)
    S = check_int(n_symbols, "n_symbols", where, lo=2)
    K = check_int(copy_len, "copy_len", where, lo=1)
    g = _generator(seed, where)
    blank, delimiter = S, S + 1
    L = T + 2 * K
    symbols = torch.randint(0, S, (K, n), generator=g)  # (K, N)
    tokens = torch.full((L, n), blank, dtype=torch.int64)  # (L, N)
    tokens[:K] = symbols
    tokens[T + K - 1] = delimiter  # after the K symbols and T - 1 blanks
    y = torch.full((L, n), blank, dtype=torch.int64)  # (L, N)
    y[T + K:] = symbols
    x = torch.nn.functional.one_hot(tokens, S + 2).to(dtype)  # (L, N) -> (L, N, S + 2)
    return x, y


def copy_task_baseline(T, n_symbols=8, copy_len=10, *, kind="memoryless"):
    r"""Cross-entropy per step (nats) of a model that cannot remember the symbols.

    * ``kind="memoryless"`` (the baseline Arjovsky et al. 2016 plot): predict
      the blank for the first ``T + K`` steps, which needs no memory of the
      symbols, then the uniform distribution over the ``S`` symbols:
      :math:`K \log S / (T + 2K)`.
    * ``kind="constant"``: predict the same distribution at every step; the
      best one has the blank with probability :math:`p = (T + K) / L` and each
      symbol with :math:`(1 - p)/S`, for
      :math:`-p \log p - (1 - p) \log\big((1 - p)/S\big)`, with ``L = T + 2K``.

    Args:
        T (int): the delay. n_symbols (int): ``S``. Default: 8. copy_len (int): ``K``. Default: 10
        kind (str): ``"memoryless"`` or ``"constant"``. Default: ``"memoryless"``

    Example::

        >>> round(copy_task_baseline(100), 4), round(copy_task_baseline(100, kind="constant"), 4)
        (0.1733, 0.4601)
    """
    where = "copy_task_baseline"
    T = check_int(T, "T", where, lo=1)
    S = check_int(n_symbols, "n_symbols", where, lo=2)
    K = check_int(copy_len, "copy_len", where, lo=1)
    kind = check_choice(kind, "kind", ("memoryless", "constant"), where)
    L = T + 2 * K
    if kind == "memoryless":
        return K * math.log(S) / L
    p = (T + K) / L  # probability of the blank
    return -p * math.log(p) - (1 - p) * math.log((1 - p) / S)
