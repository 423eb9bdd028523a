r"""Hidden-state and gradient dynamics of a simple recurrent network, in float64.

Chapter 4 asks how the norm of a recurrent network's hidden state, and of the
gradient flowing back through it, evolve over hundreds of time steps, with and
without layer normalization. Everything here is NumPy in float64, for one
sequence at a time (no batch axis), on the network of the paper's eq. (4)
with gain 1 and bias 0:

.. math::
    a_t = W_{hh} h_{t-1} + W_{xh} x_t, \qquad
    h_t = f(\hat a_t), \qquad
    \hat a_t = \begin{cases} a_t & \text{without normalization} \\
        (a_t - \mu_t) / \sigma_t & \text{with layer norm} \end{cases}

for :math:`t = 1, \dots, T`, with :math:`\mu_t`, :math:`\sigma_t = \sqrt{v_t + \epsilon}`
the mean and standard deviation of the ``H`` entries of :math:`a_t` (biased
variance :math:`v_t`), and :math:`f` the identity (``"linear"``) or ``tanh``.
The loss is a fixed linear read-out of the last state,
:math:`\mathcal L = r^\top h_T`, so :math:`\partial\mathcal L/\partial h_T = r`,
and back-propagation through time gives every
:math:`\delta_t = \partial\mathcal L/\partial h_t` from

.. math::
    \delta_{t-1} = J_t^\top \delta_t, \qquad
    J_t = \frac{\partial h_t}{\partial h_{t-1}}
        = \operatorname{diag}\big(f'(\hat a_t)\big)\, \frac{\partial \hat a_t}{\partial a_t}\, W_{hh},

where :math:`\partial\hat a_t/\partial a_t` is the identity without
normalization and :math:`\frac{1}{\sigma_t}\big(I - \frac1H \mathbf 1\mathbf 1^\top - \frac1H \hat a_t \hat a_t^\top\big)`
with layer norm (chapter 1).

:func:`rnn_dynamics` is also the Python twin of chapter 4's explorable
(:mod:`helpers.widgets.rnn_dynamics`), whose JavaScript performs the same
floating-point operations in the same order: matrix-vector products and sums
are accumulated left to right, one term at a time, never by BLAS or NumPy's
pairwise summation. Additions, multiplications, divisions and square roots are
correctly rounded in both languages, so the two agree to the last bit except
for ``tanh``, whose last bit is left to each language's maths library. That
one-ulp freedom could be amplified over hundreds of steps in a chaotic
network, so the explorable's check recomputes every step from the page's own
previous state (the ``teacher_h`` and ``teacher_delta`` arguments).

Notation (``book/notation.md``): ``T`` time steps, ``I`` input size, ``H``
hidden units. Nothing runs at import.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_choice, check_eps, check_int, check_real, float_array

__all__ = [
    "NONLINEARITIES",
    "NORMS",
    "OVERFLOW_LIMIT",
    "spectral_radius",
    "scale_to_spectral_radius",
    "example_rnn",
    "rnn_step",
    "rnn_step_backward",
    "rnn_dynamics",
    "growth_rate",
]

#: The element-wise non-linearities :func:`rnn_dynamics` knows.
NONLINEARITIES = ("linear", "tanh")

#: The values of ``norm``: no normalization, or layer norm of the summed input.
NORMS = (None, "layer")

#: A state or gradient entry larger than this in absolute value stops the run
#: (the trajectory is cut at that step, see :func:`rnn_dynamics`): well inside
#: float64's range, so that norms and squares never overflow to ``inf``.
OVERFLOW_LIMIT = 1e150


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

def _array(value, name, shape, where):
    """A finite, non-empty float64 copy of ``value`` (callers' arrays are never changed)."""
    return float_array(value, name, where, shape=shape, dtype=np.float64, finite=True, nonempty=True, copy=True)


def _square(w, name, where):
    """A finite, non-empty float64 square matrix ``(H, H)``."""
    w = _array(w, name, ("H", "H"), where)
    if w.shape[0] != w.shape[1]:
        raise ValueError(f"{where}: {name} must be square (H, H), got shape {w.shape}")
    return w


def _settings(norm, nonlinearity, eps, where):
    """``(layer, tanh, eps)``: is there a layer norm, is ``f`` tanh, and the checked ``eps``."""
    norm = check_choice(norm, "norm", NORMS, where)
    tanh = check_choice(nonlinearity, "nonlinearity", NONLINEARITIES, where) == "tanh"
    return norm == "layer", tanh, check_eps(eps, where)


# ---------------------------------------------------------------------------
# Spectral radius
# ---------------------------------------------------------------------------

def spectral_radius(w):
    r"""The largest absolute value of the eigenvalues of a square matrix.

    :math:`\rho(W) = \max_k |\lambda_k|`. It sets the long-run growth of
    :math:`W^k`: :math:`\|W^k\|^{1/k} \to \rho(W)` for any matrix norm
    (Gelfand's formula), so a linear recurrence :math:`h_t = W h_{t-1}` grows
    or decays like :math:`\rho^t` after a transient.

    Args:
        w (array_like): a square matrix ``(H, H)``.

    Returns:
        float: :math:`\rho(W) \ge 0`.

    Example::

        >>> spectral_radius([[0.0, 2.0], [0.5, 0.0]])  # eigenvalues +-1
        1.0
    """
    w = _square(w, "w", "spectral_radius")
    return float(np.abs(np.linalg.eigvals(w)).max())


def scale_to_spectral_radius(w, radius=1.0):
    r"""``w`` multiplied by the one positive number that gives it spectral radius ``radius``.

    Args:
        w (array_like): a square matrix ``(H, H)`` with at least one non-zero eigenvalue.
        radius (float): the spectral radius wanted, > 0. Default: 1.0

    Returns:
        ndarray ``(H, H)``: :math:`\frac{\rho^*}{\rho(W)} W`, a new array.

    Raises:
        ValueError: if ``w`` is not square or finite, or is nilpotent
            (all eigenvalues zero), so that no multiple of it has the radius.

    Example::

        >>> w = scale_to_spectral_radius([[0.0, 2.0], [0.5, 0.0]], 3.0)
        >>> round(spectral_radius(w), 12)
        3.0
    """
    where = "scale_to_spectral_radius"
    w = _square(w, "w", where)
    radius = check_real(radius, "radius", where, 0, lo_open=True)
    rho = spectral_radius(w)
    if rho < 1e-12 * max(1.0, float(np.abs(w).max())):
        raise ValueError(f"{where}: w has spectral radius {rho:.3g} (nilpotent): no multiple of it has radius {radius}")
    return (radius / rho) * w


# ---------------------------------------------------------------------------
# The example network of chapter 4 and its explorable
# ---------------------------------------------------------------------------

def example_rnn(hidden=16, inputs=4, max_length=300, seed=0):
    r"""Weights, inputs and read-out of a small random RNN, as plain arrays.

    * ``w_hh`` ``(H, H)``: a Gaussian matrix rescaled to spectral radius exactly 1
      (multiply by :math:`\rho` for radius :math:`\rho`);
    * ``w_xh`` ``(H, I)``: entries :math:`\mathcal N(0, 1/I)`, so each entry of
      :math:`W_{xh} x_t` has variance about 1 for standard normal inputs;
    * ``x`` ``(max_length, I)``: a standard normal input sequence;
    * ``h0`` ``(H,)``: the initial state, standard normal entries scaled to norm 1;
    * ``readout`` ``(H,)``: :math:`r = \partial\mathcal L/\partial h_T`, normal entries scaled to norm 1.

    Every value is rounded to 6 decimals (so that it survives a trip through
    JSON and text unchanged) and ``w_hh`` is rescaled after rounding.

    Args:
        hidden (int): ``H``. Default: 16
        inputs (int): ``I``. Default: 4
        max_length (int): the longest sequence, ``T_max``. Default: 300
        seed (int): seeds a fresh :class:`numpy.random.Generator`. Default: 0

    Returns:
        dict of float64 arrays with the keys above.

    Example::

        >>> net = example_rnn(hidden=8, inputs=2, max_length=10)
        >>> net["w_hh"].shape, net["x"].shape, round(spectral_radius(net["w_hh"]), 12)
        ((8, 8), (10, 2), 1.0)
    """
    where = "example_rnn"
    H = check_int(hidden, "hidden", where, lo=1)
    I = check_int(inputs, "inputs", where, lo=1)
    T = check_int(max_length, "max_length", where, lo=1)
    rng = np.random.default_rng(check_int(seed, "seed", where, lo=0))
    w_hh = np.round(rng.standard_normal((H, H)) / np.sqrt(H), 6)  # (H, H)
    w_xh = np.round(rng.standard_normal((H, I)) / np.sqrt(I), 6)  # (H, I)
    x = np.round(rng.standard_normal((T, I)), 6)  # (T, I)
    h0 = rng.standard_normal(H)  # (H,)
    r = rng.standard_normal(H)  # (H,)
    return {
        "w_hh": scale_to_spectral_radius(w_hh, 1.0),
        "w_xh": w_xh,
        "x": x,
        "h0": np.round(h0 / np.linalg.norm(h0), 6),
        "readout": np.round(r / np.linalg.norm(r), 6),
    }


# ---------------------------------------------------------------------------
# Forward and backward through time, operation by operation
# ---------------------------------------------------------------------------

def _seq_sum(values):
    """Left-to-right sum, one term at a time (the JavaScript loop's order)."""
    s = 0.0
    for v in values:
        s += float(v)
    return s


def _matvec(m, v):
    """``m @ v`` accumulated over the columns in order: ``s_i = ((0 + m_i0 v_0) + m_i1 v_1) + ...``."""
    s = np.zeros(m.shape[0])
    for j in range(m.shape[1]):
        s = s + m[:, j] * v[j]  # element-wise: exactly the scalar loop, row by row
    return s


def _norm(v):
    """Euclidean norm, scaled by the largest entry first so that squares cannot overflow."""
    m = 0.0
    for x in v:
        m = max(m, abs(float(x)))
    if m == 0.0:
        return 0.0
    return m * math.sqrt(_seq_sum((v / m) * (v / m)))


def _step(w_hh, w_xh, h, x_t, layer, tanh, eps):
    """:func:`rnn_step` on checked arrays."""
    a = _matvec(w_hh, h) + _matvec(w_xh, x_t)  # (H,): recurrent term + input term
    if layer:
        H = a.shape[0]
        mu = _seq_sum(a) / H
        var = _seq_sum((a - mu) * (a - mu)) / H  # biased variance
        sigma = math.sqrt(var + eps)
        a_hat = (a - mu) / sigma  # (H,)
    else:
        sigma, a_hat = 1.0, a
    return (np.tanh(a_hat) if tanh else a_hat), a, a_hat, sigma


def _step_backward(w_hh, delta, h, a_hat, sigma, layer, tanh):
    """:func:`rnn_step_backward` on checked arrays."""
    d = delta * (1.0 - h * h) if tanh else delta  # (H,) dL/da_hat_t; tanh' = 1 - tanh^2
    if layer:
        H = d.shape[0]
        m1 = _seq_sum(d) / H
        m2 = _seq_sum(d * a_hat) / H
        d = (d - m1 - a_hat * m2) / sigma  # (H,) dL/da_t, chapter 1's backward pass
    return _matvec(w_hh.T, d)  # (H,) W_hh^T dL/da_t, summed over i in order


def rnn_step(w_hh, w_xh, h, x_t, *, norm=None, nonlinearity="tanh", eps=1e-5):
    r"""One step forward: :math:`h_t = f(\hat a_t)` from :math:`h_{t-1}` = ``h`` and :math:`x_t`.

    Args:
        w_hh (array_like): :math:`W_{hh}`, ``(H, H)``.
        w_xh (array_like): :math:`W_{xh}`, ``(H, I)``.
        h (array_like): the previous state :math:`h_{t-1}`, ``(H,)``.
        x_t (array_like): the input :math:`x_t`, ``(I,)``.
        norm, nonlinearity, eps: as in :func:`rnn_dynamics`.

    Returns:
        ``(h_t, a_t, a_hat_t, sigma_t)``: the new state, the summed input and
        the non-linearity's argument, each ``(H,)``, and :math:`\sigma_t` (1.0
        without normalization).

    Example::

        >>> h, a, a_hat, sigma = rnn_step([[0.0, 1.0], [1.0, 0.0]], [[1.0], [-1.0]], [1.0, 2.0], [0.5],
        ...                               norm="layer", nonlinearity="linear")
        >>> a.tolist(), a_hat.round(4).tolist()  # a = (2 + 0.5, 1 - 0.5)
        ([2.5, 0.5], [1.0, -1.0])
    """
    where = "rnn_step"
    w_hh = _square(w_hh, "w_hh", where)
    H = w_hh.shape[0]
    w_xh, h = _array(w_xh, "w_xh", (H, "I"), where), _array(h, "h", (H,), where)
    x_t = _array(x_t, "x_t", (w_xh.shape[1],), where)
    return _step(w_hh, w_xh, h, x_t, *_settings(norm, nonlinearity, eps, where))


def rnn_step_backward(w_hh, delta, h, a_hat, sigma, *, norm=None, nonlinearity="tanh"):
    r"""One step back through time: :math:`\delta_{t-1} = J_t^\top \delta_t`.

    Args:
        w_hh (array_like): :math:`W_{hh}`, ``(H, H)``.
        delta (array_like): :math:`\delta_t = \partial\mathcal L/\partial h_t`, ``(H,)``.
        h, a_hat (array_like): :math:`h_t` and :math:`\hat a_t` from :func:`rnn_step`, ``(H,)``.
        sigma (float): :math:`\sigma_t` from :func:`rnn_step`.
        norm, nonlinearity: as in :func:`rnn_dynamics`.

    Returns:
        ndarray ``(H,)``: :math:`\delta_{t-1}`.

    Example::

        >>> rnn_step_backward([[0.0, 1.0], [1.0, 0.0]], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0], 1.0).tolist()
        [0.0, 1.0]
    """
    where = "rnn_step_backward"
    w_hh = _square(w_hh, "w_hh", where)
    H = w_hh.shape[0]
    delta, h, a_hat = (_array(v, name, (H,), where) for v, name in ((delta, "delta"), (h, "h"), (a_hat, "a_hat")))
    sigma = check_real(sigma, "sigma", where, 0, lo_open=True)
    layer, tanh, _ = _settings(norm, nonlinearity, 1.0, where)
    return _step_backward(w_hh, delta, h, a_hat, sigma, layer, tanh)


def _teachers(teacher_h, teacher_delta, T, H, where):
    """The teacher arrays, checked: ``(k, H)`` each, and at most ``T + 1`` states."""
    if teacher_h is not None:
        teacher_h = _array(teacher_h, "teacher_h", (None, H), where)
        if teacher_h.shape[0] > T + 1:
            raise ValueError(f"{where}: teacher_h has {teacher_h.shape[0]} states, more than T + 1 = {T + 1}")
    if teacher_delta is not None:
        teacher_delta = _array(teacher_delta, "teacher_delta", (None, H), where)
    return teacher_h, teacher_delta


def _enough(teacher, what, T, where):
    """Refuse a teacher with fewer than ``T + 1`` rows, where ``T`` is the number of steps run."""
    if teacher is not None and teacher.shape[0] < T + 1:
        raise ValueError(f"{where}: teacher_{what} has {teacher.shape[0]} rows, but the run needs T + 1 = {T + 1}")


def _forward(w_hh, w_xh, x, h0, settings, teacher_h, where):
    """``[h_0, h_1, ...]`` and ``[(a_t, a_hat_t, sigma_t), ...]``, cut after a state beyond :data:`OVERFLOW_LIMIT`."""
    hs, steps = [h0], []
    for t in range(1, x.shape[0] + 1):
        _enough(teacher_h, "h", t - 1, where)
        h, *step = _step(w_hh, w_xh, hs[-1] if teacher_h is None else teacher_h[t - 1], x[t - 1], *settings)
        hs.append(h)
        steps.append(step)
        if np.abs(h).max() > OVERFLOW_LIMIT:
            break
    return hs, steps


def _backward(w_hh, r, hs, steps, settings, teacher_delta):
    """``delta_0..delta_T`` ``(T + 1, H)`` from ``delta_T = r``; ``hs[t]`` is the state f' is taken at."""
    deltas = [r]  # delta_T, delta_{T-1}, ..., delta_0
    for t in range(len(steps), 0, -1):
        d = deltas[-1] if teacher_delta is None else teacher_delta[t]  # (H,) dL/dh_t
        _, a_hat, sigma = steps[t - 1]
        deltas.append(_step_backward(w_hh, d, hs[t], a_hat, sigma, *settings[:2]))
    return np.array(deltas[::-1])


def rnn_dynamics(w_hh, w_xh, x, h0, readout, *, norm=None, nonlinearity="tanh", eps=1e-5,
                 length=None, teacher_h=None, teacher_delta=None):
    r"""Run the RNN forward over a sequence and back-propagate :math:`\mathcal L = r^\top h_T`.

    The equations are in the module docstring; every step is :func:`rnn_step`,
    and every step back :func:`rnn_step_backward`. The weights are used as
    given: for a spectral radius :math:`\rho` and an input scale :math:`s`,
    pass ``rho * w_hh`` and ``s * w_xh``. If an entry of some :math:`h_t`
    exceeds :data:`OVERFLOW_LIMIT` in absolute value, the sequence is cut
    there: :math:`T = t` and ``"overflow"`` is ``True`` (never with
    :func:`example_rnn`'s weights, :math:`\rho \le 3` and :math:`T \le 300`).
    The gradient can underflow to exactly 0 when saturated tanh units
    multiply it by :math:`f' \approx 0`; its norm is then 0, never NaN.

    Args:
        w_hh (array_like): :math:`W_{hh}`, ``(H, H)``.
        w_xh (array_like): :math:`W_{xh}`, ``(H, I)``.
        x (array_like): inputs ``(T_x, I)``; the first ``length`` rows are used.
        h0 (array_like): the initial state :math:`h_0`, ``(H,)``.
        readout (array_like): :math:`r`, ``(H,)``.
        norm (None or str): ``None`` or ``"layer"``. Default: ``None``
        nonlinearity (str): ``"linear"`` or ``"tanh"``. Default: ``"tanh"``
        eps (float): layer norm's :math:`\epsilon`, > 0. Default: 1e-5
        length (int or None): ``T``, at most ``T_x``; ``None`` uses all of ``x``.
        teacher_h, teacher_delta (array_like or None): ``(T + 1, H)`` states and
            gradients to step *from* instead of the run's own (teacher forcing,
            also for :math:`f'`), to check another implementation step by step,
            as the explorable's browser test does. Default: ``None``

    Returns:
        dict with ``"h"`` and ``"delta"``, ``(T + 1, H)``: the states
        :math:`h_0..h_T` and gradients :math:`\delta_0..\delta_T`
        (:math:`\delta_T = r`); ``"h_norm"``, ``"grad_norm"``, ``(T + 1,)``:
        their Euclidean norms; ``"a"``, ``"a_hat"``, ``(T, H)``: the summed
        inputs and the non-linearity's arguments; ``"sigma"``, ``(T,)`` (ones
        without normalization); ``"length"``: ``T`` as run; ``"overflow"``.

    Example::

        >>> net = example_rnn(hidden=4, inputs=2, max_length=20)
        >>> out = rnn_dynamics(0.5 * net["w_hh"], net["w_xh"], net["x"], net["h0"],
        ...                    net["readout"], norm="layer", nonlinearity="linear")
        >>> out["h"].shape, round(float(out["h_norm"][-1]), 3)  # sqrt(H) up to eps: layer norm's fixed scale
        ((21, 4), 2.0)
    """
    where = "rnn_dynamics"
    w_hh = _square(w_hh, "w_hh", where)
    H = w_hh.shape[0]
    w_xh, h0, r = (_array(v, name, shape, where) for v, name, shape in
                   ((w_xh, "w_xh", (H, "I")), (h0, "h0", (H,)), (readout, "readout", (H,))))
    x = _array(x, "x", ("T_x", w_xh.shape[1]), where)
    settings = _settings(norm, nonlinearity, eps, where)  # (layer, tanh, eps)
    T_x = x.shape[0]
    T = T_x if length is None else check_int(length, "length", where, 1, T_x, hint=f"x has {T_x} steps")
    teacher_h, teacher_delta = _teachers(teacher_h, teacher_delta, T, H, where)

    hs, steps = _forward(w_hh, w_xh, x[:T], h0, settings, teacher_h, where)
    T = len(steps)
    _enough(teacher_h, "h", T, where)
    _enough(teacher_delta, "delta", T, where)
    delta_all = _backward(w_hh, r, hs if teacher_h is None else teacher_h, steps, settings, teacher_delta)
    h_all = np.array(hs)  # (T + 1, H)
    a, a_hat, sigma = (np.array(v) for v in zip(*steps))  # (T, H), (T, H), (T,)
    return {
        "h": h_all,
        "delta": delta_all,
        "h_norm": np.array([_norm(v) for v in h_all]),
        "grad_norm": np.array([_norm(v) for v in delta_all]),
        "a": a,
        "a_hat": a_hat,
        "sigma": sigma,
        "length": T,
        "overflow": bool(np.abs(h_all[-1]).max() > OVERFLOW_LIMIT),
    }


def growth_rate(norms, start=None, stop=None):
    r"""Average growth factor per step of a positive sequence: :math:`\exp` of the slope of :math:`\log` norms.

    Fits :math:`\log n_t \approx c + t \log\gamma` by least squares over
    ``norms[start:stop]`` and returns :math:`\gamma`: above 1 the sequence
    grows geometrically, below 1 it decays. Gradients travel backwards, from
    :math:`\delta_T` to :math:`\delta_0`: pass ``grad_norm[::-1]`` to get
    their factor per step back through time.

    Args:
        norms (array_like): 1-d, at least two values in the window, all > 0.
        start, stop (int or None): the window, as in slicing.

    Returns:
        float: :math:`\gamma > 0`.

    Example::

        >>> round(growth_rate([1.0, 2.0, 4.0, 8.0]), 12)
        2.0
    """
    where = "growth_rate"
    n = _array(norms, "norms", ("T",), where)[start:stop]
    if n.size < 2:
        raise ValueError(f"{where}: need at least two values in the window, got {n.size}")
    if (n <= 0).any():
        raise ValueError(f"{where}: every value must be > 0 (take a window before any underflow to 0)")
    t = np.arange(n.size, dtype=np.float64)
    slope = np.polyfit(t, np.log(n), 1)[0]
    return float(np.exp(slope))
