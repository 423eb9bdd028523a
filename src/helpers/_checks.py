"""Input checks, written once for every helper.

Each check takes the value, its argument name and ``where`` (the public
function or class the user called) and either returns the value in a
canonical form -- a Python ``int`` or ``float``, a NumPy float array, the
matching choice -- or raises with a message that says where, what and why::

    layer_norm: eps must be finite and > 0, got 0.0
    adding_problem: T must be an int >= 2, got 1
    transform: transformation must be one of 'weight matrix re-scaling', ..., got 'rotation'

A value of the wrong *type* raises :class:`ArgTypeError`, which is both a
:class:`TypeError` and a :class:`ValueError`, so that ``except ValueError``
catches every bad argument and ``except TypeError`` every wrongly typed one.
A value of the right type but out of range raises :class:`ValueError`.

The module imports nothing of ours (it is the ground floor of
``helpers``) and nothing runs at import.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

__all__ = [
    "ArgTypeError",
    "check_int",
    "check_int_ranges",
    "check_shape",
    "check_real",
    "check_eps",
    "check_choice",
    "check_instance",
    "check_tensor",
    "check_device",
    "DEVICE_TYPES",
    "float_array",
]


class ArgTypeError(TypeError, ValueError):
    """An argument of the wrong type: a :class:`TypeError` that is also a :class:`ValueError`."""


def _show(value, limit=60):
    """``repr(value)``, shortened to about ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _hint(hint):
    return "" if hint is None else f"; {hint}"


def _interval(lo, hi, lo_open=False, hi_open=False):
    """`` >= 0``, `` > 0``, `` <= 1`` or `` in (0, 1]``; empty without bounds."""
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi}"
    return ""


def check_int(value, name, where, lo=None, hi=None, *, hint=None):
    """``value`` as an ``int``, checked to lie in ``[lo, hi]`` (either bound may be ``None``).

    Python and NumPy integers pass; ``bool``, floats (even ``2.0``) and
    everything else raise :class:`ArgTypeError`. ``hint`` is appended to the
    message after a semicolon.

    Example::

        >>> check_int(3, "n", "f", lo=1)
        3
        >>> check_int(0, "n", "f", lo=1)
        Traceback (most recent call last):
        ValueError: f: n must be an int >= 1, got 0
    """
    need = f"an int{_interval(lo, hi)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgTypeError(f"{where}: {name} must be {need}, got {type(value).__name__} {_show(value)}{_hint(hint)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{where}: {name} must be {need}, got {value!r}{_hint(hint)}")
    return int(value)


def check_int_ranges(text, name, where, lo=0, hi=None, *, max_count=None):
    """A text of ints and ranges, ``"0-9"``, ``"0,2,5"`` or ``"0-4,7"``, as a list of distinct ints in ``[lo, hi]``.

    A range ``a-b`` includes both ends and needs ``a <= b``; the ints keep the order written.
    A value that is not a str raises :class:`ArgTypeError`; an empty text, a malformed item, a
    value outside ``[lo, hi]``, one written twice, or more than ``max_count`` of them (counted
    before any range is expanded) raises :class:`ValueError`.

    Example::

        >>> check_int_ranges("0-3,7", "seeds", "sweep")
        [0, 1, 2, 3, 7]
        >>> check_int_ranges("3-1", "seeds", "sweep")
        Traceback (most recent call last):
        ValueError: sweep: seeds must be ints >= 0 and ranges a-b with a <= b (e.g. 0-9 or 0,2,5), got '3-1'
    """
    need = f"ints{_interval(lo, hi)} and ranges a-b with a <= b (e.g. 0-9 or 0,2,5)"
    if not isinstance(text, str):
        raise ArgTypeError(f"{where}: {name} must be a str of {need}, got {type(text).__name__} {_show(text)}")
    bounds = []
    for item in text.replace(" ", "").split(","):
        first, dash, last = item.partition("-")
        if not (first.isdigit() and (not dash or last.isdigit())):
            raise ValueError(f"{where}: {name} must be {need}, got {_show(text)}")
        a, b = int(first), int(last if dash else first)
        if a > b or a < lo or (hi is not None and b > hi):
            raise ValueError(f"{where}: {name} must be {need}, got {_show(text)}")
        bounds.append((a, b))
    count = sum(b - a + 1 for a, b in bounds)
    if max_count is not None and count > max_count:
        raise ValueError(f"{where}: {name} must name at most {max_count} values, got {count} in {_show(text)}")
    out = [v for a, b in bounds for v in range(a, b + 1)]
    if len(set(out)) != len(out):
        twice = sorted({v for v in out if out.count(v) > 1})
        raise ValueError(f"{where}: {name} must be distinct, got {twice[0]} twice in {_show(text)}")
    return out


def check_shape(shape, name, where):
    """``shape`` as a tuple of ``int`` sizes >= 1: the ``normalized_shape`` of a norm module.

    An int or a sequence of ints passes (a ``list``, a ``torch.Size``, NumPy
    integers), as in :class:`torch.nn.LayerNorm`. Where torch raises a
    ``TypeError`` -- a ``str`` such as ``"3"``, a ``bool``, a float, a
    sequence holding one -- this raises :class:`ArgTypeError` (a
    ``TypeError``). An empty shape or a size < 1 raises :class:`ValueError`:
    torch accepts ``0`` and ``()`` (a layer with nothing to normalize) and
    fails on a negative size with a ``RuntimeError`` from ``torch.empty``.

    Example::

        >>> check_shape(3, "normalized_shape", "LayerNorm"), check_shape([2, 3], "normalized_shape", "LayerNorm")
        ((3,), (2, 3))
        >>> check_shape((2.5,), "normalized_shape", "LayerNorm")
        Traceback (most recent call last):
        helpers._checks.ArgTypeError: LayerNorm: normalized_shape must be an int or a tuple of ints, got (2.5,) (2.5 is a float)
    """
    need = "an int or a tuple of ints"
    if isinstance(shape, (str, bytes, bool, np.bool_)):
        raise ArgTypeError(f"{where}: {name} must be {need}, got {type(shape).__name__} {_show(shape)}")
    items = (shape,) if isinstance(shape, numbers.Integral) else shape
    try:
        items = tuple(items)
    except TypeError:  # not iterable, e.g. a float, None or a 0-d tensor
        raise ArgTypeError(f"{where}: {name} must be {need}, got {type(shape).__name__} {_show(shape)}") from None
    for n in items:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
            raise ArgTypeError(f"{where}: {name} must be {need}, got {_show(shape)} ({_show(n)} is a {type(n).__name__})")
    sizes = tuple(int(n) for n in items)
    if not sizes or min(sizes) < 1:
        raise ValueError(f"{where}: {name} must be one or more positive sizes, got {_show(shape)}")
    return sizes

def check_real(value, name, where, lo=None, hi=None, *, lo_open=False, hi_open=False, hint=None):
    """``value`` as a finite ``float``, checked against the bounds.

    ``lo``/``hi`` are inclusive unless ``lo_open``/``hi_open``. Any real
    number passes the type check (Python and NumPy ints and floats);
    ``bool``, strings, complex numbers and arrays raise :class:`ArgTypeError`.
    NaN and infinities always raise :class:`ValueError`.

    Example::

        >>> check_real(0.5, "p", "f", 0, 1, lo_open=True)
        0.5
        >>> check_real(float("nan"), "lr", "f", 0, lo_open=True)
        Traceback (most recent call last):
        ValueError: f: lr must be finite and > 0, got nan
    """
    need = f"finite{' and' if lo is not None or hi is not None else ''}{_interval(lo, hi, lo_open, hi_open)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgTypeError(
            f"{where}: {name} must be a real number, got {type(value).__name__} {_show(value)}{_hint(hint)}"
        )
    x = float(value)
    ok = math.isfinite(x)
    if ok and lo is not None:
        ok = x > lo if lo_open else x >= lo
    if ok and hi is not None:
        ok = x < hi if hi_open else x <= hi
    if not ok:
        raise ValueError(f"{where}: {name} must be {need}, got {value!r}{_hint(hint)}")
    return x


def check_eps(eps, where):
    """The ``eps`` of a normalization: a finite float > 0.

    Example::

        >>> check_eps(1e-5, "layer_norm")
        1e-05
    """
    return check_real(eps, "eps", where, 0, lo_open=True)


def _is_choice(value, choice):
    if value is choice:
        return True
    if isinstance(choice, str) or isinstance(value, str):
        return isinstance(value, str) and isinstance(choice, str) and value == choice
    if isinstance(value, bool) != isinstance(choice, bool):
        return False
    try:
        return bool(value == choice)
    except (TypeError, ValueError):  # e.g. an array compared with a scalar
        return False


def check_choice(value, name, choices, where, *, hint=None):
    """The element of ``choices`` (a tuple, or a dict's keys) that ``value`` is.

    Strings match strings only (``"1" != 1``) and ``True`` is not ``1``.

    Example::

        >>> check_choice("layer", "norm", (None, "layer"), "RNNCell")
        'layer'
        >>> check_choice("batch", "norm", (None, "layer"), "RNNCell")
        Traceback (most recent call last):
        ValueError: RNNCell: norm must be one of None, 'layer', got 'batch'
    """
    for choice in choices:
        if _is_choice(value, choice):
            return choice
    listed = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{where}: {name} must be one of {listed}, got {_show(value)}{_hint(hint)}")


def check_instance(value, types, name, where, what):
    """``value`` unchanged if it is an instance of ``types``; ``what`` names them in the message.

    Example::

        >>> check_instance([1], tuple, "pair", "f", "a tuple")
        Traceback (most recent call last):
        helpers._checks.ArgTypeError: f: pair must be a tuple, got list
    """
    if not isinstance(value, types):
        raise ArgTypeError(f"{where}: {name} must be {what}, got {type(value).__name__}")
    return value


def check_tensor(x, name, where, *, floating=True):
    """``x`` unchanged if it is a :class:`torch.Tensor` (of a floating dtype, unless ``floating=False``)."""
    check_instance(x, torch.Tensor, name, where, "a torch.Tensor")
    if floating and not x.is_floating_point():
        raise ArgTypeError(f"{where}: {name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


#: The device types the book's helpers run on.
DEVICE_TYPES = ("cpu", "cuda", "mps")


def _device_available(kind):
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return True


def check_device(device, name, where):
    """``device`` as a :class:`torch.device` that exists on this machine.

    A :class:`torch.device` or its name (``"cpu"``, ``"cuda"``, ``"cuda:1"``,
    ``"mps"``) passes; any other type raises :class:`ArgTypeError`. An unknown
    name (``"tpu"``, ``"meta"``) raises :class:`ValueError` naming it, and so does a
    device this machine does not have, instead of a silent run on the CPU.

    Example::

        >>> check_device("cpu", "device", "f")
        device(type='cpu')
        >>> check_device("gpu", "device", "f")
        Traceback (most recent call last):
        ValueError: f: device must be one of 'cpu', 'cuda', 'mps' (optionally with an index, 'cuda:1'), got 'gpu'
    """
    need = f"one of {', '.join(repr(t) for t in DEVICE_TYPES)} (optionally with an index, 'cuda:1')"
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except RuntimeError:  # torch's own message lists its many backends; ours names the value
            raise ValueError(f"{where}: {name} must be {need}, got {_show(device)}") from None
    else:
        raise ArgTypeError(f"{where}: {name} must be a torch.device or a str, got {type(device).__name__} {_show(device)}")
    if dev.type not in DEVICE_TYPES:
        raise ValueError(f"{where}: {name} must be {need}, got {_show(device)}")
    if not _device_available(dev.type):
        raise ValueError(f"{where}: {name} {_show(device)} was asked for but this machine has no {dev.type} device; "
                         f"use 'cpu', or leave the device unset to pick the best available")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"{where}: {name} {_show(device)} was asked for but this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s)")
    return dev


def _shape_text(shape):
    """``("H", None, 3)`` -> ``"(H, ?, 3)"``; one entry gets a trailing comma, ``"(I,)"``."""
    parts = ["?" if s is None else str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _check_shape(a, name, where, shape, nonempty):
    fixed_ok = all(not isinstance(s, numbers.Integral) or s == d for s, d in zip(shape, a.shape))
    if a.ndim == len(shape) and fixed_ok and not (nonempty and a.size == 0):
        return
    kind = {1: "vector", 2: "matrix"}.get(len(shape), f"{len(shape)}-d array")
    spec = "" if all(s is None for s in shape) else f" of shape {_shape_text(shape)}"
    raise ValueError(f"{where}: {name} must be a {'non-empty ' if nonempty else ''}{kind}{spec}, got shape {a.shape}")


def float_array(x, name, where, *, ndim=None, shape=None, dtype=None, finite=False, nonempty=False, copy=False):
    """``x`` as a NumPy float array, with its shape and values checked.

    Floating arrays keep their dtype (float32 stays float32) unless ``dtype``
    is given; integers (even beyond int64) and booleans become float64; strings, other objects, complex
    numbers and ragged nested lists raise :class:`ArgTypeError`. A torch
    tensor is detached and copied to the CPU first.

    Args:
        x (array_like or Tensor): the value to check.
        name, where (str): for the messages.
        ndim (int, optional): the number of dimensions required.
        shape (tuple, optional): the shape required, one entry per dimension:
            an int (that size) or a str or ``None`` (any size; a str names it
            in the message, e.g. ``("H", "I")``).
        dtype (optional): convert to this float dtype, e.g. ``np.float64``.
        finite (bool): refuse NaN and infinities. Default: ``False``
        nonempty (bool): refuse arrays with no entries. Default: ``False``
        copy (bool): always return a new array. Default: ``False``

    Example::

        >>> float_array([[1, 2]], "W", "f", shape=("H", "I")).dtype
        dtype('float64')
        >>> float_array([1.0, 2.0], "W", "f", shape=("H", "I"))
        Traceback (most recent call last):
        ValueError: f: W must be a matrix of shape (H, I), got shape (2,)
    """
    try:
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        a = np.array(x) if copy else np.asarray(x)
    except (TypeError, ValueError) as err:  # e.g. ragged nested lists
        raise ArgTypeError(f"{where}: {name} must be a numeric array, got {type(x).__name__} ({err})") from None
    if a.dtype.kind in "biu" or (a.dtype.kind == "O" and all(isinstance(v, numbers.Real) for v in a.flat)):
        a = a.astype(np.float64)  # also Python ints too large for int64, e.g. 10**20 from JSON
    elif a.dtype.kind != "f":
        raise ArgTypeError(f"{where}: {name} must be a real numeric array, got dtype {a.dtype} from {type(x).__name__}")
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    if ndim is not None and shape is None:
        shape = (None,) * ndim
    if shape is not None:
        _check_shape(a, name, where, tuple(shape), nonempty)
    elif nonempty and a.size == 0:
        raise ValueError(f"{where}: {name} must be non-empty, got shape {a.shape}")
    if finite and not np.isfinite(a).all():
        bad = int(a.size - np.isfinite(a).sum())
        raise ValueError(f"{where}: {name} must be finite, got {bad} NaN or infinite entr{'y' if bad == 1 else 'ies'}")
    return a
