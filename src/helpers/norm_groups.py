r"""Batch, layer, instance and group norm of an ``N x C x H x W`` tensor as one choice: which elements share statistics.

Every normalization of this family computes

.. math::
    \hat x_i = \frac{x_i - \mu_{g(i)}}{\sqrt{\sigma^2_{g(i)} + \epsilon}}, \qquad
    \mu_g = \frac{1}{|S_g|}\sum_{k \in S_g} x_k, \quad
    \sigma^2_g = \frac{1}{|S_g|}\sum_{k \in S_g} (x_k - \mu_g)^2,

where :math:`S_g` is the set of elements that share statistic ``g`` and
:math:`g(i)` the set element ``i`` belongs to. They differ only in the sets
(Wu & He 2018, Fig. 2):

* ``"batch"``: one set per channel ``c``, over ``(N, H, W)``;
* ``"layer"``: one set per example ``n``, over ``(C, H, W)``;
* ``"instance"``: one set per example and channel ``(n, c)``, over ``(H, W)``;
* ``"group"``: one set per example and group of ``C / G`` consecutive
  channels, over ``(C / G, H, W)``; ``G = 1`` is layer norm, ``G = C`` is
  instance norm.

:func:`group_ids` says which set each element belongs to; :func:`normalize`
computes the statistics and the normalized tensor from these sets (no affine
gain and bias) in float64; :func:`example_tensor` is the seeded tensor the
chapter-6 explorable draws, with a generator written identically in
JavaScript (``nsMulberry32`` in ``widgets/js/norm_spectrum.js``). Nothing runs at import.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_choice, check_eps, check_int, float_array

__all__ = ["KINDS", "group_ids", "normalize", "mulberry32", "example_tensor"]

#: The four normalizations, by the name of the set of elements each statistic runs over.
KINDS = ("batch", "layer", "instance", "group")


def _groups(kind, groups, C, where):
    """The number of channel groups ``G`` that ``kind`` implies (``None`` for batch norm)."""
    if kind == "group":
        G = check_int(groups, "groups", where, lo=1, hi=C)
        if C % G:
            raise ValueError(f"{where}: groups must divide the {C} channels, got {G}")
        return G
    if groups is not None:
        raise ValueError(f"{where}: groups is only for kind='group', got groups={groups!r} with kind={kind!r}")
    return {"layer": 1, "instance": C, "batch": None}[kind]


def group_ids(shape, kind, groups=None):
    """Which statistic every element of an ``N x C x H x W`` tensor uses: an int array of ``shape``.

    Ids count the sets in order: ``c`` for batch norm; ``n`` for layer norm;
    ``n * G + c // (C / G)`` for group norm with ``G`` groups (and instance
    norm, ``G = C``).

    Args:
        shape: ``(N, C, H, W)``, each at least 1.
        kind (str): one of :data:`KINDS`.
        groups (int or None): ``G`` for ``kind="group"``, a divisor of ``C``; else ``None``.

    Example::

        >>> group_ids((2, 4, 1, 1), "group", 2)[:, :, 0, 0].tolist()
        [[0, 0, 1, 1], [2, 2, 3, 3]]
    """
    where = "group_ids"
    if len(tuple(shape)) != 4:
        raise ValueError(f"{where}: shape must be (N, C, H, W), got {tuple(shape)!r}")
    N, C, H, W = (check_int(s, name, where, lo=1) for s, name in zip(shape, "NCHW"))
    kind = check_choice(kind, "kind", KINDS, where)
    G = _groups(kind, groups, C, where)
    n = np.arange(N)[:, None, None, None]  # (N, 1, 1, 1)
    c = np.arange(C)[None, :, None, None]  # (1, C, 1, 1)
    ids = c + 0 * n if kind == "batch" else n * G + c // (C // G)  # (N, C, 1, 1)
    return np.broadcast_to(ids, (N, C, H, W)).astype(np.int64)


def normalize(x, kind, groups=None, eps=1e-5):
    r"""Normalize ``x`` over the sets of :func:`group_ids`; no gain or bias.

    Args:
        x: array-like ``(N, C, H, W)`` of finite numbers.
        kind (str): one of :data:`KINDS`.
        groups (int or None): ``G`` for ``kind="group"``. Default: ``None``
        eps (float): added to the biased variance; > 0. Default: 1e-5

    Returns:
        dict of float64 arrays: ``y`` (``x``'s shape), ``mean`` and ``var``
        (one per set, in id order: ``C`` for batch norm, ``N`` for layer norm,
        ``N * G`` for group norm, ``N * C`` for instance norm), ``ids``
        (:func:`group_ids`) and ``size`` (elements per set).

    Shape:
        - x: :math:`(N, C, H, W)`; y: the same.
    """
    where = "normalize"
    x = float_array(x, "x", where, ndim=4, dtype=np.float64, finite=True, nonempty=True)
    eps = check_eps(eps, where)
    ids = group_ids(x.shape, kind, groups)
    n_sets = int(ids.max()) + 1
    flat_ids, flat_x = ids.ravel(), x.ravel()
    size = np.bincount(flat_ids, minlength=n_sets)  # (n_sets,): elements per set
    mean = np.bincount(flat_ids, weights=flat_x, minlength=n_sets) / size  # (n_sets,): sum over each set
    centred = flat_x - mean[flat_ids]  # (N*C*H*W,)
    var = np.bincount(flat_ids, weights=centred * centred, minlength=n_sets) / size  # (n_sets,), biased
    y = (centred / np.sqrt(var[flat_ids] + eps)).reshape(x.shape)
    return {"y": y, "mean": mean, "var": var, "ids": ids, "size": int(size[0])}


def mulberry32(seed):
    """A generator of floats in [0, 1), bit for bit the explorable's JavaScript ``nsMulberry32(seed)``.

    Example::

        >>> g = mulberry32(1); [round(next(g), 6) for _ in range(2)]
        [0.627074, 0.002736]
    """
    a = check_int(seed, "seed", "mulberry32", lo=0) & 0xFFFFFFFF
    m = 0xFFFFFFFF

    def imul(u, v):  # Math.imul: the low 32 bits of the product
        return (u * v) & m

    while True:
        a = (a + 0x6D2B79F5) & m
        t = a
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & m
        yield ((t ^ (t >> 14)) & m) / 4294967296


def example_tensor(shape=(3, 6, 3, 3), seed=0):
    r"""The explorable's tensor: noise plus an offset per channel and a scale per example.

    Element ``(n, c, h, w)``, drawn in C order (``w`` fastest), is
    :math:`(k - 200)/100 \cdot (1 + n/2) + c - (C-1)/2` with ``k`` an integer
    in ``0..400`` from ``floor(401 u)`` and ``u`` the next :func:`mulberry32`
    number, so that channels differ in mean (what batch norm removes) and
    examples in spread (what layer norm removes).

    Args:
        shape: ``(N, C, H, W)``. Default: ``(3, 6, 3, 3)``
        seed (int): the generator's seed. Default: 0

    Returns:
        float64 array of ``shape``.
    """
    where = "example_tensor"
    if len(tuple(shape)) != 4:
        raise ValueError(f"{where}: shape must be (N, C, H, W), got {tuple(shape)!r}")
    N, C, H, W = (check_int(s, name, where, lo=1) for s, name in zip(shape, "NCHW"))
    g = mulberry32(seed)
    out = np.empty((N, C, H, W))
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    k = int(next(g) * 401)  # floor, as Math.floor for u >= 0
                    out[n, c, h, w] = (k - 200) / 100 * (1 + n / 2) + (c - (C - 1) / 2)
    return out
