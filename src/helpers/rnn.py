r"""Recurrent cells with and without layer normalization, written out in full.

Three cells -- :class:`RNNCell`, :class:`GRUCell` and :class:`LSTMCell` -- that
take the same arguments and are called like their :mod:`torch.nn`
counterparts, plus the layer-normalized versions of Ba, Kiros & Hinton (2016),
switched on with ``norm="layer"``:

* RNN, eq. (4): one layer norm of the summed input
  :math:`a_t = W_{hh} h_{t-1} + W_{xh} x_t` before the non-linearity.
* LSTM, eqs. (20)-(22): separate layer norms of :math:`W_h h_{t-1}` and of
  :math:`W_x x_t` (each over all ``4H`` gate pre-activations), and one of the
  cell state inside the output tanh.
* GRU, eqs. (26)-(28): separate layer norms of the recurrent and the input
  terms, for the two gates and for the candidate state.

The normalization statistics are recomputed at every time step, for every
sequence on its own; the gains and biases are shared over time steps.

Then the sequence level: every cell's ``run_sequence`` method (also the
function :func:`run_sequence` and the module :class:`RNN`) runs it over a
time-major input ``(T, B, I)``, and can record
the pre-activations at every step; :class:`SequenceClassifier` and
:class:`SequenceRegressor` put a linear read-out on top.

Notation (``book/notation.md``): ``B`` batch, ``T`` time steps, ``I`` input
size, ``H`` hidden units, ``G`` the number of gate blocks (1 for the RNN, 3 for
the GRU, 4 for the LSTM). Layer norm always normalizes the *last* axis, the
hidden units of one example at one time step.

Parameters. Every cell holds ``weight_ih`` ``(G*H, I)`` and ``weight_hh``
``(G*H, H)`` with torch's gate order (LSTM: i, f, g, o; GRU: r, z, n). Torch
adds two biases, ``bias_ih + bias_hh``, where one does the same job; these
cells keep one ``bias`` ``(G*H,)``. With ``norm="layer"`` the layer norms'
own biases take its place and ``bias`` is ``None`` (registered but absent, as
in ``torch.nn.RNNCell(bias=False)``) -- see the cells' docstrings.
:meth:`RNNCell.from_torch` and friends copy a torch cell's weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import lstm_kernel
from ._checks import check_choice, check_instance, check_int, check_tensor
from .norms import LayerNorm

__all__ = [
    "NORMS",
    "RNNCell",
    "GRUCell",
    "LSTMCell",
    "run_sequence",
    "RNN",
    "LSTM",
    "SequenceClassifier",
    "SequenceRegressor",
]

#: The values the cells' ``norm`` argument accepts.
NORMS = (None, "layer")


# ---------------------------------------------------------------------------
# Shared machinery
# ---------------------------------------------------------------------------

def _record(trace, **values):
    """Append to ``trace`` (a dict of lists, or ``None``) the values it asks for, one list per key."""
    if trace is not None:
        for key, kept in trace.items():
            kept.append(values[key])


class _Cell(nn.Module):
    """What the three cells share: parameters, init, input checks, running a sequence, torch import.

    A subclass sets ``_gates`` (G), ``_torch_types`` and ``_trace_keys`` and implements
    :meth:`_make_norms`, :meth:`_input_term` and :meth:`_step`.
    """

    _gates = 1
    _torch_types: tuple = ()
    _trace_keys: tuple = ()  # what _step records when asked, see run_sequence
    _has_cell_state = False

    def __init__(self, input_size, hidden_size, norm=None, eps=1e-5, device=None, dtype=None):
        super().__init__()
        where = type(self).__name__
        self.input_size = check_int(input_size, "input_size", where, lo=1)
        self.hidden_size = check_int(hidden_size, "hidden_size", where, lo=1)
        self.norm = check_choice(norm, "norm", NORMS, where,
                                 hint="None: no normalization, 'layer': layer normalization")
        self.eps = eps
        gh = self._gates * self.hidden_size  # G*H rows: one block per gate
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(gh, self.input_size, **factory))  # (G*H, I)
        self.weight_hh = nn.Parameter(torch.empty(gh, self.hidden_size, **factory))  # (G*H, H)
        if norm is None:
            self.bias = nn.Parameter(torch.empty(gh, **factory))  # (G*H,)
        else:
            # The layer norms' biases are the biases; a separate `bias` would only add a
            # second copy of the same vector (see the class docstrings).
            self.register_parameter("bias", None)
            self._make_norms(eps, factory)
        self.reset_parameters()

    def _make_norms(self, eps, factory):  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def reset_parameters(self):
        r"""Weights and ``bias`` to :math:`\mathcal U(-1/\sqrt H, 1/\sqrt H)`, as torch does; gains 1, LN biases 0.

        The paper's supplementary material says its :math:`\alpha`'s -- the
        gains of its eq. (15) -- start at zero and its :math:`\beta`'s at one,
        and in the same sentence calls the :math:`\alpha`'s "additive" and the
        :math:`\beta`'s "multiplicative": the two names are swapped there. Zero
        gains would switch every normalized pre-activation off at the start.
        We follow the consistent reading, which is also what the authors'
        released code does (github.com/ryankiros/layer-norm: gains 1, biases 0).
        """
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.weight_ih, self.weight_hh, self.bias):
            if p is not None:
                nn.init.uniform_(p, -bound, bound)
        for m in self.children():
            if isinstance(m, LayerNorm):
                m.reset_parameters()  # gain 1, bias 0

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, norm={self.norm!r}"

    # --- checks -----------------------------------------------------------

    def _check_input(self, x, ndim, layout):
        """Type, dtype and last-dim checks of an input with ``ndim`` or ``ndim - 1`` dims."""
        where = type(self).__name__
        check_tensor(x, "input", where)
        if x.dtype != self.weight_ih.dtype:
            raise TypeError(
                f"{where}: input has dtype {x.dtype} but the cell's weights are {self.weight_ih.dtype}; "
                f"convert one of them (x.to({self.weight_ih.dtype}) or cell.to({x.dtype}))"
            )
        if x.dim() not in (ndim - 1, ndim) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{where}: expected input of shape {layout} with input size I = {self.input_size}, "
                f"got shape {tuple(x.shape)}"
            )

    def _check_state(self, hx, batch, unbatched):
        """``hx`` (or zeros) as the batched state: a (B, H) tensor, or a pair of them for the LSTM."""
        where = type(self).__name__
        shape = (self.hidden_size,) if unbatched else (batch, self.hidden_size)
        if hx is None:
            h = self.weight_ih.new_zeros(batch, self.hidden_size)  # (B, H)
            return (h, h.clone()) if self._has_cell_state else h
        if self._has_cell_state:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{where}: hx must be a pair (h, c) of tensors, got {type(hx).__name__}")
            parts, names = tuple(hx), ("h", "c")
        else:
            parts, names = (hx,), ("hx",)
        out = []
        for p, name in zip(parts, names):
            check_tensor(p, name, where, floating=False)
            if tuple(p.shape) != shape:
                raise ValueError(
                    f"{where}: {name} must have shape {shape} (batch B = {batch}, hidden size "
                    f"H = {self.hidden_size}), got {tuple(p.shape)}"
                )
            if p.dtype != self.weight_ih.dtype:
                raise TypeError(f"{where}: {name} has dtype {p.dtype}, the cell's weights {self.weight_ih.dtype}")
            out.append(p.unsqueeze(0) if unbatched else p)  # (B, H)
        return tuple(out) if self._has_cell_state else out[0]

    # --- the computation ----------------------------------------------------

    @staticmethod
    def _output(state):
        """The hidden state ``h`` from the state (``h`` or ``(h, c)``)."""
        return state[0] if isinstance(state, tuple) else state

    def _input_term(self, x):  # pragma: no cover - every subclass overrides
        """What the input contributes to the pre-activations, for inputs of shape (*, I)."""
        raise NotImplementedError

    def _step(self, u, state, trace=None):  # pragma: no cover - every subclass overrides
        """One time step from the input term ``u`` (B, G*H); returns the new state."""
        raise NotImplementedError

    def forward(self, x, hx=None):
        self._check_input(x, 2, "(B, I) or (I,)")
        unbatched = x.dim() == 1
        xb = x.unsqueeze(0) if unbatched else x  # (B, I)
        state = self._check_state(hx, xb.shape[0], unbatched)
        state = self._step(self._input_term(xb), state)
        if unbatched:  # (1, H) -> (H,)
            return tuple(s.squeeze(0) for s in state) if isinstance(state, tuple) else state.squeeze(0)
        return state

    def run_sequence(self, x, hx=None, *, record=False):
        r"""Run the cell over a time-major sequence, like one layer of :class:`torch.nn.RNN`.

        The input term :math:`W_{ih} x_t` (and its layer norm, for the LSTM and
        GRU) is computed for all time steps in one go; the recurrence then takes
        one step at a time.

        With ``record=True`` a third value, a dict of tensors stacked over time
        (each :math:`(T, B, \cdot)`), holds what the cell computed at every step;
        ``record`` may instead name the keys wanted (``record="c"`` or
        ``record=("a_ih", "a_hh")``), and then only those are kept and returned,
        which saves the memory of the others on long sequences:

        * ``"a_ih"``: :math:`W_{ih} x_t`, ``(T, B, G*H)``, no bias, not normalized;
        * ``"a_hh"``: :math:`W_{hh} h_{t-1}`, ``(T, B, G*H)``, no bias, not normalized;
        * :class:`RNNCell`: ``"pre"``, the argument of the non-linearity, ``(T, B, H)``
          (:math:`a_t + b`, or the layer-normalized :math:`a_t`);
        * :class:`LSTMCell`: ``"gates"``, the i, f, g, o pre-activations, ``(T, B, 4H)``,
          and ``"c"``, the cell states :math:`c_t`, ``(T, B, H)``;
        * :class:`GRUCell`: ``"gates"``, the r, z pre-activations, ``(T, B, 2H)``,
          and ``"n_pre"``, the candidate's pre-activation, ``(T, B, H)``.

        Args:
            x (Tensor): the inputs, time-major.
            hx: the initial state as the cell takes it (``h``, or ``(h, c)`` for
                the LSTM, each :math:`(B, H)`); zeros if not given.
            record (bool, str or tuple of str): also return the per-step pre-activations:
                all of them (``True``) or only the keys named. Default: ``False``

        Shape:
            - x: :math:`(T, B, I)`, or :math:`(T, I)` for one unbatched sequence
            - Output: ``(outputs, state)``: all hidden states :math:`h_1..h_T`,
              :math:`(T, B, H)`, and the final state (:math:`h_T`, or
              :math:`(h_T, c_T)`), each :math:`(B, H)`. Unbatched input drops the ``B`` axis.
              Unlike torch's ``h_n`` there is no leading ``num_layers`` axis.

        Example::

            >>> outputs, (h, c) = LSTMCell(8, 16).run_sequence(torch.randn(5, 4, 8))
            >>> outputs.shape, h.shape
            (torch.Size([5, 4, 16]), torch.Size([4, 16]))
        """
        self._check_input(x, 3, "(T, B, I) or (T, I)")
        if x.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}: the sequence is empty (T = 0), input shape {tuple(x.shape)}")
        unbatched = x.dim() == 2
        xb = x.unsqueeze(1) if unbatched else x  # (T, B, I)
        state = self._check_state(hx, xb.shape[1], unbatched)
        keys = self._record_keys(record)
        trace = {key: [] for key in self._trace_keys if key in keys} or None  # None: nothing per step
        u = self._input_term(xb)  # (T, B, G*H): all input terms at once
        outputs = []
        for t in range(xb.shape[0]):
            state = self._step(u[t], state, trace)
            outputs.append(self._output(state))  # (B, H)
        out = torch.stack(outputs)  # T x (B, H) -> (T, B, H)
        if unbatched:
            out = out.squeeze(1)  # (T, H)
            state = tuple(s.squeeze(0) for s in state) if isinstance(state, tuple) else state.squeeze(0)
        if not keys:
            return out, state
        stacked = {}
        if "a_ih" in keys:
            stacked["a_ih"] = xb @ self.weight_ih.T  # (T, B, I) @ (I, G*H) -> (T, B, G*H)
        stacked.update({k: torch.stack(v) for k, v in (trace or {}).items()})  # T x (B, .) -> (T, B, .)
        if unbatched:
            stacked = {k: v.squeeze(1) for k, v in stacked.items()}  # (T, .)
        return out, state, stacked

    def _record_keys(self, record):
        """The keys ``run_sequence(record=...)`` keeps: all for ``True``, none for ``False``, else those named."""
        where = f"{type(self).__name__}.run_sequence"
        known = ("a_ih",) + self._trace_keys
        if isinstance(record, bool):
            return known if record else ()
        names = (record,) if isinstance(record, str) else record
        if not isinstance(names, (tuple, list)) or not names:
            raise TypeError(f"{where}: record must be True, False, a key or a non-empty tuple of keys "
                            f"from {known}, got {record!r}")
        return tuple(check_choice(name, "record", known, where) for name in names)

    # --- import from torch ------------------------------------------------

    @classmethod
    def _torch_parameters(cls, module):
        """``(weight_ih, weight_hh, bias_ih, bias_hh, kwargs)`` of a torch cell or 1-layer RNN."""
        where = f"{cls.__name__}.from_torch"
        cell_type, seq_type = cls._torch_types
        if isinstance(module, cell_type):
            suffix = ""
        elif isinstance(module, seq_type):
            if module.num_layers != 1 or module.bidirectional or getattr(module, "proj_size", 0):
                raise ValueError(
                    f"{where}: only a single-layer, unidirectional {seq_type.__name__} without "
                    f"projection can be copied, got {module}"
                )
            suffix = "_l0"
        else:
            raise TypeError(
                f"{where}: expected torch.nn.{cell_type.__name__} or torch.nn.{seq_type.__name__}, "
                f"got {type(module).__name__}"
            )
        w_ih = getattr(module, "weight_ih" + suffix).detach()  # (G*H, I)
        w_hh = getattr(module, "weight_hh" + suffix).detach()  # (G*H, H)
        if module.bias:
            b_ih = getattr(module, "bias_ih" + suffix).detach()  # (G*H,)
            b_hh = getattr(module, "bias_hh" + suffix).detach()  # (G*H,)
        else:
            b_ih = b_hh = torch.zeros_like(w_ih[:, 0])  # (G*H,)
        kwargs = {"input_size": module.input_size, "hidden_size": module.hidden_size,
                  "device": w_ih.device, "dtype": w_ih.dtype}
        return w_ih, w_hh, b_ih, b_hh, kwargs

    @classmethod
    def _from_parts(cls, w_ih, w_hh, bias, **kwargs):
        cell = cls(**kwargs)
        with torch.no_grad():
            cell.weight_ih.copy_(w_ih)
            cell.weight_hh.copy_(w_hh)
            cell.bias.copy_(bias)
        return cell


# ---------------------------------------------------------------------------
# The cells
# ---------------------------------------------------------------------------

class RNNCell(_Cell):
    r"""An Elman RNN cell, optionally layer-normalized as in Ba et al. (2016), eq. (4).

    Without normalization (``norm=None``), as :class:`torch.nn.RNNCell`:

    .. math::
        a_t = W_{ih} x_t + W_{hh} h_{t-1}, \qquad h_t = f(a_t + b)

    With ``norm="layer"`` (the paper's eq. (4)):

    .. math::
        h_t = f\Big[\frac{g}{\sigma_t} \odot (a_t - \mu_t) + b\Big]

    where :math:`\mu_t`, :math:`\sigma_t` are the mean and standard deviation
    of the ``H`` entries of :math:`a_t` (last axis), for each sequence and each
    time step on its own; :math:`\sigma_t` includes ``eps`` as in
    :class:`~helpers.norms.LayerNorm`. The gain :math:`g` and bias :math:`b`
    are ``ln.weight`` and ``ln.bias``, one pair shared by all time steps.
    The cell's own ``bias`` is then ``None``: a bias added to :math:`a_t`
    before the norm would be partly subtracted again with the mean, and the
    paper has only the one after it.

    The norm sees the whole summed input, input and recurrent parts together,
    so the output is unchanged when ``weight_ih`` *and* ``weight_hh`` are
    scaled by the same factor -- but not when only one of them is: that
    changes their balance. (:class:`LSTMCell` normalizes the two separately.)

    Args:
        input_size (int): ``I``, features of :math:`x_t`.
        hidden_size (int): ``H``, hidden units.
        norm (None or str): ``None`` or ``"layer"``. Default: ``None``
        nonlinearity (str): ``"tanh"`` or ``"relu"``, the :math:`f`. Default: ``"tanh"``
        eps (float): the layer norm's eps (only with ``norm="layer"``). Default: 1e-5
        device, dtype: where and in what dtype to create the parameters.

    Shape:
        - x: :math:`(B, I)` or :math:`(I,)`
        - hx: :math:`(B, H)` or :math:`(H,)`; zeros if not given
        - Output: :math:`h_t`, same shape as ``hx``.

    Attributes:
        weight_ih: :math:`(H, I)`; weight_hh: :math:`(H, H)`; bias: :math:`(H,)` or ``None``;
        ln (LayerNorm(H)): only with ``norm="layer"``.

    Example::

        >>> cell = RNNCell(8, 16, norm="layer")
        >>> h = cell(torch.randn(4, 8))
        >>> h.shape
        torch.Size([4, 16])
    """

    _gates = 1
    _torch_types = (nn.RNNCell, nn.RNN)
    _trace_keys = ("a_hh", "pre")

    def __init__(self, input_size, hidden_size, norm=None, nonlinearity="tanh", eps=1e-5,
                 device=None, dtype=None):
        nonlinearity = check_choice(nonlinearity, "nonlinearity", ("tanh", "relu"), "RNNCell")
        super().__init__(input_size, hidden_size, norm, eps, device, dtype)
        self.nonlinearity = nonlinearity

    def _make_norms(self, eps, factory):
        self.ln = LayerNorm(self.hidden_size, eps=eps, **factory)  # over the H summed inputs

    def extra_repr(self):
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"

    def _input_term(self, x):
        u = x @ self.weight_ih.T  # (*, I) @ (I, H) -> (*, H)
        return u if self.bias is None else u + self.bias

    def _step(self, u, h, trace=None):
        a_hh = h @ self.weight_hh.T  # (B, H) @ (H, H) -> (B, H)
        a = u + a_hh  # (B, H): the summed input (plus bias without norm)
        pre = a if self.norm is None else self.ln(a)  # (B, H), normalized over H
        _record(trace, a_hh=a_hh, pre=pre)
        return torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)

    @classmethod
    def from_torch(cls, module):
        """A ``norm=None`` cell computing exactly what ``module`` computes.

        Args:
            module: a :class:`torch.nn.RNNCell`, or a single-layer unidirectional
                :class:`torch.nn.RNN`. ``bias = bias_ih + bias_hh``; the new cell
                has the module's dtype, device and nonlinearity.
        """
        w_ih, w_hh, b_ih, b_hh, kwargs = cls._torch_parameters(module)
        return cls._from_parts(w_ih, w_hh, b_ih + b_hh, nonlinearity=module.nonlinearity, **kwargs)


class LSTMCell(_Cell):
    r"""An LSTM cell, optionally layer-normalized as in Ba et al. (2016), eqs. (20)-(22).

    Without normalization (``norm=None``), as :class:`torch.nn.LSTMCell`, with
    the four gate blocks in torch's order i, f, g, o:

    .. math::
        (i_t, f_t, g_t, o_t) = W_{ih} x_t + W_{hh} h_{t-1} + b

        c_t = \sigma(f_t) \odot c_{t-1} + \sigma(i_t) \odot \tanh(g_t), \qquad
        h_t = \sigma(o_t) \odot \tanh(c_t)

    With ``norm="layer"``, eqs. (20)-(22):

    .. math::
        (i_t, f_t, g_t, o_t) = \mathrm{LN}(W_{hh} h_{t-1}; \alpha_1, \beta_1)
                             + \mathrm{LN}(W_{ih} x_t; \alpha_2, \beta_2)

        c_t = \sigma(f_t) \odot c_{t-1} + \sigma(i_t) \odot \tanh(g_t), \qquad
        h_t = \sigma(o_t) \odot \tanh(\mathrm{LN}(c_t; \alpha_3, \beta_3))

    ``ln_hh`` and ``ln_ih`` are each ``LayerNorm(4H)``: the statistics are
    taken over all ``4H`` gate pre-activations of one example at one step (the
    gate order does not change them). ``ln_c`` is ``LayerNorm(H)`` over the cell
    state; it only feeds the output -- the un-normalized :math:`c_t` is what
    is carried to the next step and returned. Because the recurrent and input
    terms are normalized separately, scaling ``weight_hh`` or ``weight_ih``
    (each on its own) leaves the output unchanged up to ``eps``.

    The paper's eq. (20) (and the authors' code) also adds a bias :math:`b`; it would be a third
    vector added to the same pre-activation as :math:`\beta_1` and
    :math:`\beta_2`, so it is left out and ``bias`` is ``None`` -- the
    function class is the same. (:math:`\beta_1` and :math:`\beta_2` are
    already redundant with each other; only their sum matters in the forward pass.)

    Args:
        input_size (int): ``I``.
        hidden_size (int): ``H``.
        norm (None or str): ``None`` or ``"layer"``. Default: ``None``
        eps (float): the layer norms' eps. Default: 1e-5
        device, dtype: where and in what dtype to create the parameters.

    Shape:
        - x: :math:`(B, I)` or :math:`(I,)`
        - hx: a pair ``(h, c)``, each :math:`(B, H)` or :math:`(H,)`; zeros if not given
        - Output: the pair ``(h_t, c_t)``, shaped like ``hx``.

    Attributes:
        weight_ih: :math:`(4H, I)`; weight_hh: :math:`(4H, H)`; bias: :math:`(4H,)` or ``None``;
        ln_ih, ln_hh (LayerNorm(4H)), ln_c (LayerNorm(H)): only with ``norm="layer"``.

    Example::

        >>> cell = LSTMCell(8, 16, norm="layer")
        >>> h, c = cell(torch.randn(4, 8))
        >>> h.shape, c.shape
        (torch.Size([4, 16]), torch.Size([4, 16]))
    """

    _gates = 4
    _torch_types = (nn.LSTMCell, nn.LSTM)
    _trace_keys = ("a_hh", "gates", "c")
    _has_cell_state = True

    def _make_norms(self, eps, factory):
        gh = 4 * self.hidden_size
        self.ln_ih = LayerNorm(gh, eps=eps, **factory)  # over the 4H input terms
        self.ln_hh = LayerNorm(gh, eps=eps, **factory)  # over the 4H recurrent terms
        self.ln_c = LayerNorm(self.hidden_size, eps=eps, **factory)  # over the H cell units

    def _input_term(self, x):
        u = x @ self.weight_ih.T  # (*, I) @ (I, 4H) -> (*, 4H)
        return u + self.bias if self.norm is None else self.ln_ih(u)  # (*, 4H)

    def _step(self, u, state, trace=None):
        h, c = state  # (B, H), (B, H)
        a_hh = h @ self.weight_hh.T  # (B, H) @ (H, 4H) -> (B, 4H)
        gates = u + (a_hh if self.norm is None else self.ln_hh(a_hh))  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)  # 4 x (B, H)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
        c_out = c if self.norm is None else self.ln_c(c)  # (B, H), normalized over H
        h = torch.sigmoid(o) * torch.tanh(c_out)  # (B, H)
        _record(trace, a_hh=a_hh, gates=gates, c=c)
        return h, c

    @classmethod
    def from_torch(cls, module):
        """A ``norm=None`` cell computing exactly what ``module`` computes.

        Args:
            module: a :class:`torch.nn.LSTMCell`, or a single-layer unidirectional
                :class:`torch.nn.LSTM` without projection. ``bias = bias_ih + bias_hh``.
        """
        w_ih, w_hh, b_ih, b_hh, kwargs = cls._torch_parameters(module)
        return cls._from_parts(w_ih, w_hh, b_ih + b_hh, **kwargs)


class GRUCell(_Cell):
    r"""A GRU cell, optionally layer-normalized as in Ba et al. (2016), eqs. (26)-(28).

    Without normalization (``norm=None``), with the gate blocks in torch's
    order r, z, n and one bias :math:`b = (b_r, b_z, b_n)`:

    .. math::
        (r_t, z_t) = \sigma\big(W_{ih}^{rz} x_t + W_{hh}^{rz} h_{t-1} + b_{rz}\big)

        n_t = \tanh\big(W_{ih}^{n} x_t + b_n + r_t \odot (W_{hh}^{n} h_{t-1})\big)

        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    This is :class:`torch.nn.GRUCell` *except for one bias*: torch has two
    candidate biases, :math:`b_{in}` outside and :math:`b_{hn}` inside the
    reset product, :math:`r_t \odot (W_{hn} h_{t-1} + b_{hn})`. No single bias
    can be both, so this cell keeps the outside one (where the authors' code,
    github.com/ryankiros/layer-norm, adds its candidate bias too) and matches
    torch exactly when :math:`b_{hn} = 0`; :meth:`from_torch` refuses a torch cell
    whose :math:`b_{hn}` is not zero.

    With ``norm="layer"``, eqs. (26)-(28), each term is normalized on its own,
    the two gates' terms together (over ``2H`` units) and the candidate's
    terms separately (over ``H`` units):

    .. math::
        (r_t, z_t) = \sigma\big(\mathrm{LN}(W_{hh}^{rz} h_{t-1}) + \mathrm{LN}(W_{ih}^{rz} x_t)\big)

        n_t = \tanh\big(\mathrm{LN}(W_{ih}^{n} x_t) + r_t \odot \mathrm{LN}(W_{hh}^{n} h_{t-1})\big)

        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    The reset gate multiplies the *normalized* recurrent term, bias included:
    :math:`r_t \odot (\hat a \odot \alpha + \beta)` -- so the normalized GRU has
    a bias inside the reset product, like torch's :math:`b_{hn}`. The paper
    writes the update as :math:`(1 - z_t) h_{t-1} + z_t n_t`; that is the same
    cell with :math:`z` negated (:math:`1 - \sigma(a) = \sigma(-a)`), and
    torch's convention is used here. Modules: ``ln_ih``, ``ln_hh``
    (LayerNorm(2H), gates) and ``ln_ih_n``, ``ln_hh_n`` (LayerNorm(H),
    candidate); ``bias`` is ``None`` (the four LN biases serve).

    Args:
        input_size (int): ``I``.
        hidden_size (int): ``H``.
        norm (None or str): ``None`` or ``"layer"``. Default: ``None``
        eps (float): the layer norms' eps. Default: 1e-5
        device, dtype: where and in what dtype to create the parameters.

    Shape:
        - x: :math:`(B, I)` or :math:`(I,)`
        - hx: :math:`(B, H)` or :math:`(H,)`; zeros if not given
        - Output: :math:`h_t`, same shape as ``hx``.

    Example::

        >>> cell = GRUCell(8, 16, norm="layer")
        >>> cell(torch.randn(4, 8)).shape
        torch.Size([4, 16])
    """

    _gates = 3
    _torch_types = (nn.GRUCell, nn.GRU)
    _trace_keys = ("a_hh", "gates", "n_pre")

    def _make_norms(self, eps, factory):
        h = self.hidden_size
        self.ln_ih = LayerNorm(2 * h, eps=eps, **factory)  # gates r, z: input term, over 2H
        self.ln_hh = LayerNorm(2 * h, eps=eps, **factory)  # gates r, z: recurrent term, over 2H
        self.ln_ih_n = LayerNorm(h, eps=eps, **factory)  # candidate: input term, over H
        self.ln_hh_n = LayerNorm(h, eps=eps, **factory)  # candidate: recurrent term, over H

    def _input_term(self, x):
        u = x @ self.weight_ih.T  # (*, I) @ (I, 3H) -> (*, 3H)
        if self.norm is None:
            return u + self.bias  # (*, 3H)
        h2 = 2 * self.hidden_size
        return torch.cat([self.ln_ih(u[..., :h2]), self.ln_ih_n(u[..., h2:])], dim=-1)  # (*, 2H) + (*, H)

    def _step(self, u, h, trace=None):
        h2 = 2 * self.hidden_size
        a_hh = h @ self.weight_hh.T  # (B, H) @ (H, 3H) -> (B, 3H)
        rec_rz, rec_n = a_hh[:, :h2], a_hh[:, h2:]  # (B, 2H), (B, H)
        if self.norm is not None:
            rec_rz, rec_n = self.ln_hh(rec_rz), self.ln_hh_n(rec_n)  # normalized over 2H and H
        gates = u[:, :h2] + rec_rz  # (B, 2H)
        r, z = torch.sigmoid(gates).chunk(2, dim=1)  # 2 x (B, H)
        n_pre = u[:, h2:] + r * rec_n  # (B, H)
        _record(trace, a_hh=a_hh, gates=gates, n_pre=n_pre)
        return (1 - z) * torch.tanh(n_pre) + z * h  # (B, H)

    @classmethod
    def from_torch(cls, module):
        """A ``norm=None`` cell computing exactly what ``module`` computes.

        Args:
            module: a :class:`torch.nn.GRUCell`, or a single-layer unidirectional
                :class:`torch.nn.GRU`, whose candidate recurrent bias
                ``bias_hh[2H:]`` (:math:`b_{hn}`) is zero -- zero it first with
                ``module.bias_hh.data[2 * H:] = 0`` if need be. The gate biases
                are summed, ``bias[:2H] = bias_ih[:2H] + bias_hh[:2H]``, and
                ``bias[2H:] = bias_ih[2H:]``.

        Raises:
            ValueError: if :math:`b_{hn} \ne 0`, which this cell cannot represent.
        """
        w_ih, w_hh, b_ih, b_hh, kwargs = cls._torch_parameters(module)
        h2 = 2 * module.hidden_size
        if torch.any(b_hh[h2:] != 0):
            raise ValueError(
                "GRUCell.from_torch: torch's GRU adds b_hn = bias_hh[2H:] inside the reset product "
                "r * (W_hn h + b_hn); this cell has one bias, outside it, so it can only copy a GRU "
                "whose b_hn is zero. Set `module.bias_hh.data[2 * H:] = 0` first "
                f"(max |b_hn| here is {b_hh[h2:].abs().max().item():.3g})"
            )
        bias = torch.cat([b_ih[:h2] + b_hh[:h2], b_ih[h2:]])  # (2H,) + (H,) -> (3H,)
        return cls._from_parts(w_ih, w_hh, bias, **kwargs)


# ---------------------------------------------------------------------------
# Sequences
# ---------------------------------------------------------------------------

def run_sequence(cell, x, hx=None, *, record=False):
    """``cell.run_sequence(x, hx, record=record)``: run a cell over a time-major sequence.

    See :meth:`RNNCell.run_sequence` (the same for the three cells).

    Example::

        >>> outputs, (h, c) = run_sequence(LSTMCell(8, 16), torch.randn(5, 4, 8))
        >>> outputs.shape, h.shape
        (torch.Size([5, 4, 16]), torch.Size([4, 16]))
    """
    check_instance(cell, _Cell, "cell", "run_sequence", "an RNNCell, GRUCell or LSTMCell from helpers.rnn")
    return cell.run_sequence(x, hx, record=record)


class RNN(nn.Module):
    r"""A cell run over a sequence: one recurrent layer, as a module.

    ``RNN(cell)(x, hx)`` is :func:`run_sequence` ``(cell, x, hx)``; the cell
    is a submodule, so its parameters (and ``state_dict`` keys ``cell.*``)
    belong to this module.

    Args:
        cell: an :class:`RNNCell`, :class:`GRUCell` or :class:`LSTMCell`.

    Shape:
        - x: :math:`(T, B, I)` (time-major) or :math:`(T, I)`
        - Output: ``(outputs, state)`` with outputs :math:`(T, B, H)` and the
          final state :math:`(B, H)` (or a pair of them); see :func:`run_sequence`.

    Example::

        >>> rnn = RNN(GRUCell(8, 16, norm="layer"))
        >>> outputs, h = rnn(torch.randn(5, 4, 8))
        >>> outputs.shape, h.shape
        (torch.Size([5, 4, 16]), torch.Size([4, 16]))
    """

    def __init__(self, cell):
        super().__init__()
        self.cell = check_instance(cell, _Cell, "cell", "RNN", "an RNNCell, GRUCell or LSTMCell from helpers.rnn")

    def forward(self, x, hx=None, *, record=False):
        return self.cell.run_sequence(x, hx, record=record)


class _SequenceModel(nn.Module):
    """A recurrent layer and a linear read-out of its hidden states."""

    def __init__(self, cell, out_features, per_step):
        super().__init__()
        # an LSTM module runs its own cell over the sequence; it has the same state_dict keys as RNN(cell)
        self.rnn = cell if isinstance(cell, LSTM) else RNN(cell)
        self.per_step = bool(per_step)
        w = self.rnn.cell.weight_ih
        self.readout = nn.Linear(self.rnn.cell.hidden_size, out_features, device=w.device, dtype=w.dtype)

    def forward(self, x):
        outputs, _ = self.rnn(x)  # (T, B, H)
        return self.readout(outputs if self.per_step else outputs[-1])  # (T, B, K) or (B, K)


class SequenceClassifier(_SequenceModel):
    r"""Classify a sequence from the last hidden state (or every step's).

    .. math::
        \text{logits} = W_{out} h_T + b_{out}

    Args:
        cell: the recurrent cell (:class:`RNNCell`, :class:`GRUCell` or :class:`LSTMCell`), or an
            :class:`LSTM` (the fast sequence module; same parameters and state_dict keys).
        n_classes (int): ``K``, the number of classes.
        per_step (bool): read out every step's :math:`h_t` instead of only the
            last, for per-step targets such as the copy task. Default: ``False``

    Shape:
        - x: :math:`(T, B, I)`
        - Output: logits :math:`(B, K)`, or :math:`(T, B, K)` with ``per_step=True``.

    Example::

        >>> model = SequenceClassifier(LSTMCell(8, 16, norm="layer"), n_classes=10)
        >>> model(torch.randn(8, 4, 8)).shape
        torch.Size([4, 10])
    """

    def __init__(self, cell, n_classes, *, per_step=False):
        n_classes = check_int(n_classes, "n_classes", "SequenceClassifier", lo=1)
        super().__init__(cell, n_classes, per_step)


class SequenceRegressor(_SequenceModel):
    r"""Predict real numbers from the last hidden state: :math:`\hat y = W_{out} h_T + b_{out}`.

    Args:
        cell: the recurrent cell.
        out_features (int or None): ``K`` outputs per sequence, or ``None``
            for a single number per sequence, returned without a trailing axis
            (the shape of :func:`helpers.data.adding_problem`'s targets). Default: ``None``

    Shape:
        - x: :math:`(T, B, I)`
        - Output: :math:`(B,)` if ``out_features`` is ``None``, else :math:`(B, K)`.

    Example::

        >>> model = SequenceRegressor(RNNCell(2, 16))
        >>> model(torch.randn(10, 4, 2)).shape
        torch.Size([4])
    """

    def __init__(self, cell, out_features=None):
        scalar = out_features is None
        k = 1 if scalar else check_int(out_features, "out_features", "SequenceRegressor", lo=1)
        super().__init__(cell, k, per_step=False)
        self.scalar = scalar

    def forward(self, x):
        y = super().forward(x)  # (B, K)
        return y.squeeze(-1) if self.scalar else y  # (B,) or (B, K)


# ---------------------------------------------------------------------------
# A fast sequence module: the layer-normalized LSTM with a hand-written backward
# ---------------------------------------------------------------------------

def _ln(x, weight, bias, eps):
    """Fused layer norm of the last axis: ``(y, mean, rstd)``, the statistics ``(*, 1)``."""
    return torch.native_layer_norm(x, [x.shape[-1]], weight, bias, eps)


def _ln_backward_input(dy, x, mean, rstd, weight):
    """dL/dx of a layer norm of the last axis (the closed form of chapter 1, fused by torch)."""
    return torch.ops.aten.native_layer_norm_backward(dy, x, [x.shape[-1]], mean, rstd, weight, None,
                                                     [True, False, False])[0]


def _ln_backward_affine(dy, x, mean, rstd, weight):
    """dL/d(gain), dL/d(bias) of a layer norm, summed over every leading axis, in one call."""
    h = x.shape[-1]
    _, dgain, dbias = torch.ops.aten.native_layer_norm_backward(
        dy.reshape(-1, h), x.reshape(-1, h), [h], mean.reshape(-1, 1).contiguous(), rstd.reshape(-1, 1).contiguous(),
        weight, weight, [False, True, True])  # rows: every (t, b) pair; `bias` only needs to exist here
    # (contiguous: with B = 1 the reshape is a strided view, which the fused kernel would misread)
    return dgain, dbias


class _LNLSTMRecurrence(torch.autograd.Function):
    r"""The recurrent part of the layer-normalized LSTM, with backpropagation through time by hand.

    Forward: for t = 1..T, from the normalized input terms ``u`` (T, B, 4H),
    ``gates = u_t + LN_hh(h_{t-1} W_hh^T)``, the LSTM update, ``h_t = o * tanh(LN_c(c_t))``.
    Backward: one loop from t = T down to 1 carrying dL/dh and dL/dc; everything that
    does not depend on the carry (activation derivatives, the weight and gain gradients)
    is computed for all time steps at once, outside the loop.
    """

    @staticmethod
    def forward(ctx, u, h, c, w_hh, g_hh, b_hh, g_c, b_c, eps):
        T, B, H = u.shape[0], h.shape[0], h.shape[1]
        w_t = w_hh.t()  # (H, 4H)
        # What the backward pass needs is written in place into (T, ...) buffers, through
        # per-step views made once (unbind), so the loop makes no indexing calls of its own.
        h_all, c_all = u.new_empty(T + 1, B, H), u.new_empty(T + 1, B, H)  # h_0..h_T, c_0..c_T
        a, act = u.new_empty(T, B, 4 * H), u.new_empty(T, B, 4 * H)  # W_hh h_{t-1}; sigmoid(gates)
        g, k = u.new_empty(T, B, H), u.new_empty(T, B, H)  # tanh(z_g); tanh(LN(c_t))
        h_all[0], c_all[0] = h, c
        hs, cs, us, a_s, ks, gs = (v.unbind(0) for v in (h_all, c_all, u, a, k, g))
        acts = act.unbind(0)
        gates = act.view(T, B, 4, H).unbind(0)  # each (B, 4, H): i, f, g, o blocks
        stats = []  # per step: mean and 1/sigma of both layer norms, (B, 1) each
        for t in range(T):
            torch.mm(hs[t], w_t, out=a_s[t])  # (B, H) @ (H, 4H) -> (B, 4H)
            n, m, r = _ln(a_s[t], g_hh, b_hh, eps)  # (B, 4H), (B, 1), (B, 1)
            z = n.add_(us[t])  # (B, 4H): i, f, g, o pre-activations
            torch.sigmoid(z, out=acts[t])  # the g block is unused: tanh below
            i_t, f_t, _, o_t = gates[t].unbind(1)  # 4 x (B, H)
            torch.tanh(z[:, 2 * H:3 * H], out=gs[t])  # (B, H)
            torch.addcmul(f_t * cs[t], i_t, gs[t], out=cs[t + 1])  # c_t = f c_{t-1} + i g
            cn, mc, rc = _ln(cs[t + 1], g_c, b_c, eps)  # (B, H), (B, 1), (B, 1)
            torch.tanh(cn, out=ks[t])  # (B, H)
            torch.mul(o_t, ks[t], out=hs[t + 1])  # h_t = o * tanh(LN(c_t))
            stats += (m, r, mc, rc)
        stats = torch.stack(stats).view(T, 4, B, 1).transpose(0, 1)  # (4, T, B, 1)
        ctx.save_for_backward(w_hh, g_hh, g_c, h_all, c_all, a, act, g, k, stats)
        return h_all[1:], c_all[-1]  # (T, B, H), (B, H)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out, d_cn):
        (w_hh, g_hh, g_c, h_all, c_all, a, act, g, k, stats) = ctx.saved_tensors
        T, B, H = d_out.shape  # autograd passes zeros for an unused output (materialized grads)
        m, r, mc, rc = stats  # (T, B, 1) each: the two layer norms' statistics
        # Per-step factors that do not depend on the carried gradients, all steps at once.
        i, f, o = act[..., :H], act[..., H:2 * H], act[..., 3 * H:]  # (T, B, H) each
        dk_dc = o * (1 - k * k)  # dh/d(LN(c)) through tanh, times o
        to_z = torch.stack([g * i * (1 - i), c_all[:-1] * f * (1 - f), i * (1 - g * g)], dim=2)  # (T, B, 3, H)
        to_zo = k * o * (1 - o)  # dh/dz_o, (T, B, H)
        dh, dc = d_out.new_zeros(B, H), d_cn
        dz, da, dcn = torch.empty_like(act), torch.empty_like(act), torch.empty_like(d_out)
        views = [v.unbind(0) for v in (d_out, dk_dc, dcn, c_all, mc, rc, to_z, to_zo, dz, a, m, r, da, f)]
        d_outs, dk_dcs, dcns, cs, mcs, rcs, to_zs, to_zos, dzs, a_s, ms, rs, das, fs = views
        dz4 = dz.view(T, B, 4, H).unbind(0)
        for t in range(T - 1, -1, -1):
            dh_t = d_outs[t] + dh  # (B, H)
            torch.mul(dh_t, dk_dcs[t], out=dcns[t])  # dL/d(LN(c_t)), (B, H)
            dc = dc + _ln_backward_input(dcns[t], cs[t + 1], mcs[t], rcs[t], g_c)  # (B, H)
            torch.mul(dc.unsqueeze(1), to_zs[t], out=dz4[t][:, :3])  # dL/dz_i, dz_f, dz_g
            torch.mul(dh_t, to_zos[t], out=dz4[t][:, 3])  # dL/dz_o
            das[t].copy_(_ln_backward_input(dzs[t], a_s[t], ms[t], rs[t], g_hh))  # (B, 4H)
            dh = das[t] @ w_hh  # (B, 4H) @ (4H, H) -> (B, H)
            dc = dc * fs[t]  # through c_t = f c_{t-1} + ...
        need = ctx.needs_input_grad
        d_w = da.reshape(-1, 4 * H).t() @ h_all[:-1].reshape(-1, H) if need[3] else None  # (4H, TB) @ (TB, H)
        d_ghh, d_bhh = _ln_backward_affine(dz, a, m, r, g_hh) if need[4] or need[5] else (None, None)  # (4H,)
        d_gc, d_bc = _ln_backward_affine(dcn, c_all[1:], mc, rc, g_c) if need[6] or need[7] else (None, None)  # (H,)
        return dz, dh, dc, d_w, d_ghh, d_bhh, d_gc, d_bc, None


class LSTM(nn.Module):
    r"""A one-layer LSTM over a whole sequence, like :class:`torch.nn.LSTM`, fast with layer norm.

    It computes exactly what :class:`LSTMCell` computes when run step by step
    (``norm="layer"``: the paper's eqs. (20)-(22), one layer norm over all ``4H``
    input terms, one over all ``4H`` recurrent terms, one over the ``H`` cell
    units), and holds that cell as ``self.cell`` (same parameters, same
    ``state_dict`` keys under ``cell.``). What differs is the cost:

    * the input terms :math:`\mathrm{LN}(W_{ih} x_t)` of all time steps come
      from one matrix product and one fused layer norm, before the loop;
    * backpropagation through time is written by hand: the loop carries only
      :math:`\partial L/\partial h` and :math:`\partial L/\partial c` from step to step;
    * each step is the matrix product :math:`W_{hh} h_{t-1}` and then, with
      ``engine="c"``, a fused C kernel (:mod:`helpers.lstm_kernel`: both layer
      norms, the gates and the cell update, row by row in cache; usually one call
      for the whole sequence, torch's MKL doing the products, and one call
      backward), or, with ``engine="torch"``, about a dozen torch operations per
      step (:class:`_LNLSTMRecurrence`: fused layer norms, results written in
      place). ``"auto"`` takes the C kernel for float32 and float64 on a CPU when
      it compiles (it needs a C compiler, once), else torch. Under
      ``torch.no_grad()`` or ``torch.inference_mode()`` the C engine keeps
      nothing for a backward pass (only the output and two cell states) and
      applies the input terms' layer norm inside the kernel.

    With ``norm=None`` it is torch's own LSTM kernel with this cell's weights
    (one bias, see :class:`LSTMCell`). Second derivatives are not supported.

    Args:
        input_size (int): ``I``.
        hidden_size (int): ``H``.
        norm (None or str): ``"layer"`` or ``None``. Default: ``"layer"``
        eps (float): the layer norms' eps. Default: 1e-5
        engine (str): ``"auto"``, ``"c"`` or ``"torch"``: what runs the
            layer-normalized recurrence (see above; the results agree to float
            rounding). ``"c"`` raises a ``RuntimeError`` where the kernel cannot
            be built or the tensors are not float32/float64 on a CPU. Default: ``"auto"``
        device, dtype: where and in what dtype to create the parameters.

    Shape:
        - x: :math:`(T, B, I)`, time-major, or :math:`(T, I)` for one unbatched sequence
        - hx: a pair ``(h_0, c_0)``, each :math:`(B, H)` (or :math:`(H,)`); zeros if not given
        - Output: ``(output, (h_n, c_n))``: :math:`(T, B, H)` and two :math:`(B, H)`.
          Unlike :class:`torch.nn.LSTM` there is no leading ``num_layers`` axis on ``h_n``, ``c_n``.

    Example::

        >>> lstm = LSTM(8, 16)
        >>> out, (h, c) = lstm(torch.randn(5, 4, 8))
        >>> out.shape, h.shape, torch.equal(out[-1], h)
        (torch.Size([5, 4, 16]), torch.Size([4, 16]), True)
    """

    ENGINES = ("auto", "c", "torch")

    def __init__(self, input_size, hidden_size, norm="layer", eps=1e-5, engine="auto", device=None, dtype=None):
        super().__init__()
        self.engine = check_choice(engine, "engine", self.ENGINES, "LSTM")
        self.cell = LSTMCell(input_size, hidden_size, norm=norm, eps=eps, device=device, dtype=dtype)

    @classmethod
    def from_cell(cls, cell, engine="auto"):
        """An :class:`LSTM` that runs (and shares the parameters of) an existing :class:`LSTMCell`."""
        check_instance(cell, LSTMCell, "cell", "LSTM.from_cell", "an LSTMCell from helpers.rnn")
        lstm = cls.__new__(cls)
        nn.Module.__init__(lstm)
        lstm.engine = check_choice(engine, "engine", cls.ENGINES, "LSTM.from_cell")
        lstm.cell = cell
        return lstm

    input_size = property(lambda self: self.cell.input_size)
    hidden_size = property(lambda self: self.cell.hidden_size)
    norm = property(lambda self: self.cell.norm)

    def extra_repr(self):
        engine = "" if self.engine == "auto" else f", engine={self.engine!r}"
        return f"{self.input_size}, {self.hidden_size}, norm={self.norm!r}{engine}"

    def _recurrence(self, *tensors):
        """The autograd Function that runs the layer-normalized recurrence on these tensors."""
        if self.engine == "torch":
            return _LNLSTMRecurrence
        ok, why = lstm_kernel.available()
        fits = lstm_kernel.supports(*tensors)
        if ok and fits:
            return lstm_kernel.LNLSTMRecurrenceC
        if self.engine == "c":
            raise RuntimeError("LSTM(engine='c'): " + (f"the C kernel is not available ({why})" if not ok else
                               f"the C kernel takes float32 or float64 tensors on a CPU, got "
                               f"{tensors[0].dtype} on {tensors[0].device}"))
        return _LNLSTMRecurrence

    def forward(self, x, hx=None):
        cell = self.cell
        cell._check_input(x, 3, "(T, B, I) or (T, I)")
        if x.shape[0] == 0:
            raise ValueError(f"LSTM: the sequence is empty (T = 0), input shape {tuple(x.shape)}")
        unbatched = x.dim() == 2
        xb = x.unsqueeze(1) if unbatched else x  # (T, B, I)
        h, c = cell._check_state(hx, xb.shape[1], unbatched)  # (B, H), (B, H)
        if cell.norm is None:
            weights = [cell.weight_ih, cell.weight_hh, cell.bias, torch.zeros_like(cell.bias)]
            out, h_n, c_n = torch.lstm(xb, (h[None], c[None]), weights, True, 1, 0.0, self.training, False, False)
            h_n, c_n = h_n[0], c_n[0]  # (1, B, H) -> (B, H)
        else:
            xw = xb @ cell.weight_ih.T  # (T, B, 4H) at once
            rest = (h, c, cell.weight_hh, cell.ln_hh.weight, cell.ln_hh.bias, cell.ln_c.weight, cell.ln_c.bias)
            recurrence = self._recurrence(xw, *rest)
            if recurrence is lstm_kernel.LNLSTMRecurrenceC and not torch.is_grad_enabled():
                # keeps nothing for backward, and normalizes W_ih x row by row inside the kernel
                out, c_n = lstm_kernel.forward_no_grad(xw, *rest, float(cell.eps),
                                                       ln_ih=(cell.ln_ih.weight, cell.ln_ih.bias))
            else:
                u = _ln(xw, cell.ln_ih.weight, cell.ln_ih.bias, cell.eps)[0]  # (T, B, 4H)
                out, c_n = recurrence.apply(u, *rest, float(cell.eps))
            h_n = out[-1]  # (B, H)
        if unbatched:
            return out.squeeze(1), (h_n.squeeze(0), c_n.squeeze(0))
        return out, (h_n, c_n)
