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
import numbers

import numpy as np

__all__ = [
    "NONLINEARITIES",
    "NORMS",
    "OVERFLOW_LIMIT",
    "spectral_radius",
    "scale_to_spectral_radius",
    "example_rnn",
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

def _matrix(value, name, where, shape=None):
    try:
        a = np.array(value, dtype=np.float64)  # a copy: callers' arrays are never changed
    except (TypeError, ValueError) as err:
        raise TypeError(f"{where}: {name} must be an array of numbers ({err})") from None
    ndim = 2 if shape is None else len(shape)
    if a.ndim != ndim:
        raise ValueError(f"{where}: {name} must have {ndim} dimension(s), got shape {a.shape}")
    if shape is not None and any(s is not None and s != d for s, d in zip(shape, a.shape)):
        want = tuple("?" if s is None else s for s in shape)
        raise ValueError(f"{where}: {name} must have shape {want}, got {a.shape}")
    if a.size == 0:
        raise ValueError(f"{where}: {name} is empty, shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: {name} must be finite")
    return a


def _positive_int(value, name, where):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be >= 1, got {value}")
    return int(value)


def _real(value, name, where, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0) or value < 0:
        need = "> 0" if positive else ">= 0"
        raise ValueError(f"{where}: {name} must be finite and {need}, got {value!r}")
    return value


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
    w = _matrix(w, "w", "spectral_radius")
    if w.shape[0] != w.shape[1]:
        raise ValueError(f"spectral_radius: w must be square, got shape {w.shape}")
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
    w = _matrix(w, "w", where)
    radius = _real(radius, "radius", where, positive=True)
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
    H = _positive_int(hidden, "hidden", where)
    I = _positive_int(inputs, "inputs", where)
    T = _positive_int(max_length, "max_length", where)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{where}: seed must be an int >= 0, got {seed!r}")
    rng = np.random.default_rng(int(seed))
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


def rnn_dynamics(w_hh, w_xh, x, h0, readout, *, norm=None, nonlinearity="tanh", eps=1e-5,
                 length=None, teacher_h=None, teacher_delta=None):
    r"""Run the RNN forward over a sequence and back-propagate :math:`\mathcal L = r^\top h_T`.

    See the module docstring for the equations. The weights are used as
    given: to set the spectral radius :math:`\rho` and an input scale
    :math:`s`, pass ``rho * w_hh`` and ``s * w_xh``.

    Overflow: if an entry of some :math:`h_t` exceeds :data:`OVERFLOW_LIMIT`
    in absolute value, the sequence is cut at that step -- it becomes the last
    one, :math:`T = t`, the loss reads it out, and ``"overflow"`` is ``True``.
    (With :math:`\rho \le 3`, :math:`T \le 300` and :func:`example_rnn`'s
    weights, as in the explorable, this does not happen: the largest norms,
    with linear units at :math:`\rho = 3` and :math:`T = 300`, are about
    :math:`3 \times 10^{142}`.) The gradient can still underflow to exactly 0
    when many saturated tanh units multiply it by :math:`f' \approx 0`; its
    norm is then 0, never NaN.

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
        teacher_h (array_like or None): ``(T + 1, H)`` states to step *from*:
            step ``t`` computes :math:`h_t` from ``teacher_h[t - 1]`` instead of
            from its own previous result, and the backward pass uses
            ``teacher_h`` for :math:`f'`. Used to check another implementation
            step by step. Default: ``None``
        teacher_delta (array_like or None): ``(T + 1, H)`` gradients to step
            from in the backward pass, likewise. Default: ``None``

    Returns:
        dict with

        * ``"h"``: ``(T + 1, H)`` states :math:`h_0, \dots, h_T`;
        * ``"delta"``: ``(T + 1, H)`` gradients :math:`\delta_0, \dots, \delta_T` (:math:`\delta_T = r`);
        * ``"h_norm"``, ``"grad_norm"``: ``(T + 1,)`` their Euclidean norms;
        * ``"a"``, ``"a_hat"``: ``(T, H)`` summed inputs :math:`a_1..a_T` and
          the non-linearity's arguments :math:`\hat a_1..\hat a_T`;
        * ``"sigma"``: ``(T,)`` :math:`\sigma_t` (all ones without normalization);
        * ``"length"``: ``T`` as run (smaller than asked after an overflow);
        * ``"overflow"``: bool.

    Raises:
        TypeError, ValueError: for arrays of the wrong shape, non-finite
            values, an unknown ``norm`` or ``nonlinearity``, ``eps <= 0``, or
            ``length`` out of range.

    Example::

        >>> net = example_rnn(hidden=4, inputs=2, max_length=20)
        >>> out = rnn_dynamics(0.5 * net["w_hh"], net["w_xh"], net["x"], net["h0"],
        ...                    net["readout"], norm="layer", nonlinearity="linear")
        >>> out["h"].shape, round(float(out["h_norm"][-1]), 3)  # sqrt(H) up to eps: layer norm's fixed scale
        ((21, 4), 2.0)
    """
    where = "rnn_dynamics"
    w_hh = _matrix(w_hh, "w_hh", where)
    H = w_hh.shape[0]
    if w_hh.shape != (H, H):
        raise ValueError(f"{where}: w_hh must be square (H, H), got shape {w_hh.shape}")
    w_xh = _matrix(w_xh, "w_xh", where, (H, None))
    I = w_xh.shape[1]
    x = _matrix(x, "x", where, (None, I))
    h0 = _matrix(h0, "h0", where, (H,))
    r = _matrix(readout, "readout", where, (H,))
    if norm not in NORMS:
        raise ValueError(f"{where}: norm must be None or 'layer', got {norm!r}")
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"{where}: nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    eps = _real(eps, "eps", where, positive=True)
    T = x.shape[0] if length is None else _positive_int(length, "length", where)
    if T > x.shape[0]:
        raise ValueError(f"{where}: length {T} is longer than the input sequence ({x.shape[0]} steps)")
    # A teacher needs a state (or gradient) for every step that can run: T + 1 of them,
    # or fewer only if the run was cut by the overflow guard (checked again below).
    if teacher_h is not None:
        teacher_h = _matrix(teacher_h, "teacher_h", where, (None, H))
        if teacher_h.shape[0] > T + 1:
            raise ValueError(f"{where}: teacher_h has {teacher_h.shape[0]} states, more than T + 1 = {T + 1}")
    if teacher_delta is not None:
        teacher_delta = _matrix(teacher_delta, "teacher_delta", where, (None, H))
    tanh = nonlinearity == "tanh"

    # Forward: h_t = f(a_hat_t), a_t = W_hh h_{t-1} + W_xh x_t.
    hs, as_, hats, sigmas = [h0], [], [], []
    overflow = False
    for t in range(1, T + 1):
        if teacher_h is not None and t - 1 >= teacher_h.shape[0]:
            raise ValueError(f"{where}: teacher_h has {teacher_h.shape[0]} states, but step {t} needs state {t - 1}")
        prev = hs[-1] if teacher_h is None else teacher_h[t - 1]  # (H,)
        a = _matvec(w_hh, prev) + _matvec(w_xh, x[t - 1])  # (H,): recurrent term + input term
        if norm == "layer":
            mu = _seq_sum(a) / H
            var = _seq_sum((a - mu) * (a - mu)) / H  # biased variance
            sigma = math.sqrt(var + eps)
            a_hat = (a - mu) / sigma  # (H,)
        else:
            sigma, a_hat = 1.0, a
        h = np.tanh(a_hat) if tanh else a_hat  # (H,)
        hs.append(h)
        as_.append(a)
        hats.append(a_hat)
        sigmas.append(sigma)
        if np.abs(h).max() > OVERFLOW_LIMIT:
            overflow = True
            break
    T = len(hs) - 1
    h_all = np.array(hs)  # (T + 1, H)
    if teacher_h is not None and teacher_h.shape[0] < T + 1:
        raise ValueError(f"{where}: teacher_h has {teacher_h.shape[0]} states, {T + 1} are needed")
    h_used = h_all if teacher_h is None else teacher_h[:T + 1]  # the states f' is taken at

    # Backward: delta_T = r, delta_{t-1} = W_hh^T (dahat/da)^T (f'(a_hat_t) * delta_t).
    deltas = [None] * (T + 1)
    deltas[T] = r.copy()
    if teacher_delta is not None and teacher_delta.shape[0] < T + 1:
        raise ValueError(f"{where}: teacher_delta has {teacher_delta.shape[0]} gradients, {T + 1} are needed")
    for t in range(T, 0, -1):
        d = deltas[t] if teacher_delta is None else teacher_delta[t]  # (H,) dL/dh_t
        if tanh:
            h = h_used[t]
            d = d * (1.0 - h * h)  # (H,) dL/da_hat_t; tanh' = 1 - tanh^2
        if norm == "layer":
            a_hat, sigma = hats[t - 1], sigmas[t - 1]
            m1 = _seq_sum(d) / H
            m2 = _seq_sum(d * a_hat) / H
            d = (d - m1 - a_hat * m2) / sigma  # (H,) dL/da_t, chapter 1's backward pass
        deltas[t - 1] = _matvec(w_hh.T, d)  # (H,) W_hh^T dL/da_t, summed over i in order
    delta_all = np.array(deltas)  # (T + 1, H)
    return {
        "h": h_all,
        "delta": delta_all,
        "h_norm": np.array([_norm(v) for v in h_all]),
        "grad_norm": np.array([_norm(v) for v in delta_all]),
        "a": np.array(as_),
        "a_hat": np.array(hats),
        "sigma": np.array(sigmas),
        "length": T,
        "overflow": overflow,
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
    n = _matrix(norms, "norms", where, (None,))[start:stop]
    if n.size < 2:
        raise ValueError(f"{where}: need at least two values in the window, got {n.size}")
    if (n <= 0).any():
        raise ValueError(f"{where}: every value must be > 0 (take a window before any underflow to 0)")
    t = np.arange(n.size, dtype=np.float64)
    slope = np.polyfit(t, np.log(n), 1)[0]
    return float(np.exp(slope))
