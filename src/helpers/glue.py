"""Numbers in the prose, computed by the chapter's own code.

Every number the book's text states is produced by a code cell and *glued*
into the prose with MyST's ``{glue:text}`` role (for example
``{glue:text}`name:.3f```), so it
changes when the code does. :func:`glue` hands a value to ``myst_nb.glue`` when
the notebook is executed by the book build; where ``myst_nb`` is not installed
(Colab, a bare Jupyter) it does nothing: the reader notebooks have every glued
value written into their text, and leave the glue calls out.

Very small or large numbers read better in the prose as ``7.6 × 10⁻⁴`` than as
``7.6e-04``: :func:`sci` formats them so, and the chapter glues the string,
``glue("ch1_err", sci(err))``, for ``{glue:text}`ch1_err``` (no format spec).
"""

from __future__ import annotations

import math
import numbers

__all__ = ["glue", "sci"]

_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def glue(name: str, value, display: bool = False) -> None:
    """Record ``value`` under ``name`` for the prose. Returns ``None`` (as ``myst_nb.glue`` does), so a
    cell that ends with a glue call shows no echo of the value.

    NumPy and torch scalars (and 0-d arrays and tensors) are glued as the
    Python numbers they hold, so ``glue("err", np.abs(d).max())`` needs no
    ``float(...)``; an array or tensor with more than one element is refused.

    Args:
        name: the key the text refers to, e.g. ``"ch1_max_err"``; letters,
            digits and underscores.
        value: a number, string, or anything with a rich display (a figure).
        display: also show the value in the cell's output.
    """
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise ValueError(f"glue: name must be letters, digits and underscores, got {name!r}")
    value = _python_scalar(value, name)
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:  # no book toolchain: the value is already in the reader notebook's text
        return None
    _myst_glue(name, value, display=display)
    return None


def _python_scalar(value, name):
    """A NumPy/torch scalar or 0-d array/tensor as a Python number; anything else unchanged."""
    shape = getattr(value, "shape", None)
    if shape is None or not hasattr(value, "item") or isinstance(value, (str, bytes)):
        return value
    if tuple(shape) != ():
        raise ValueError(f"glue: {name} must be a scalar to glue, got an array of shape {tuple(shape)}")
    return value.item()


def sci(value, digits=1):
    """A number in scientific notation for the prose: ``sci(7.6e-4)`` is ``'7.6 × 10⁻⁴'``.

    The mantissa has ``digits`` digits after the point, as in the format
    ``f"{value:.{digits}e}"``; the exponent is written in Unicode superscripts.
    Zero is ``'0'``, a negative value starts with a minus sign (``'−2.0 × 10³'``),
    and a value whose exponent is 0 is just its mantissa (``'5.0'``).

    Args:
        value (float): a finite real number (a Python, NumPy or 0-d torch number).
        digits (int): digits after the mantissa's point, >= 0. Default: 1

    Example::

        >>> sci(0.000764), sci(2.6e12, digits=0), sci(-1234.5), sci(0.0)
        ('7.6 × 10⁻⁴', '3 × 10¹²', '−1.2 × 10³', '0')
    """
    if isinstance(digits, bool) or not isinstance(digits, numbers.Integral):
        raise TypeError(f"sci: digits must be an int, got {type(digits).__name__} {digits!r}")
    if digits < 0:
        raise ValueError(f"sci: digits must be >= 0, got {digits}")
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"sci: value must be a number, got {type(value).__name__} {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"sci: value must be a number, got {type(value).__name__} ({err})") from None
    if not math.isfinite(x):
        raise ValueError(f"sci: value must be finite, got {x!r}")
    if x == 0:
        return "0"
    mantissa, exponent = f"{abs(x):.{int(digits)}e}".split("e")
    sign = "−" if x < 0 else ""  # U+2212, the minus sign
    if int(exponent) == 0:
        return sign + mantissa
    return f"{sign}{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPTS)}"
