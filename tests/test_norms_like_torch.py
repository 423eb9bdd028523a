"""The constructors of helpers.norms' modules reject what torch's counterparts reject, with the
same exception type (the checks live once in helpers._checks.check_shape / check_int).

Where torch accepts a size of 0 or an empty shape (a layer with nothing to normalize), or fails
on a negative size with a RuntimeError from ``torch.empty``, the book's modules raise ValueError
on purpose; :data:`STRICTER` lists those cases and the test pins both behaviours."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers import norms

# (ours, torch's): each called with one size argument
PAIRS = {
    "LayerNorm": (norms.LayerNorm, nn.LayerNorm),
    "RMSNorm": (norms.RMSNorm, nn.RMSNorm),
    "BatchNorm1d": (norms.BatchNorm1d, nn.BatchNorm1d),
    "WeightNormLinear(in)": (lambda n: norms.WeightNormLinear(n, 3), lambda n: nn.Linear(n, 3)),
    "WeightNormLinear(out)": (lambda n: norms.WeightNormLinear(3, n), lambda n: nn.Linear(3, n)),
}
SHAPED = ("LayerNorm", "RMSNorm")  # take a normalized_shape: an int or a tuple of ints

BAD = ["3", True, False, 2.5, None]
BAD_SHAPES = [(2.5,), (True,), (3, "4"), torch.tensor(3)]  # normalized_shape only
STRICTER = [0, -1]
STRICTER_SHAPES = [(), (3, 0)]
GOOD = [3, np.int64(3), [3], (2, 3), torch.Size([2, 3]), (np.int64(2), 3)]


def _cases(values, shapes):
    return [(m, v) for m in PAIRS for v in values] + [(m, v) for m in SHAPED for v in shapes]


def _torch_outcome(make, value):
    try:
        make(value)
    except Exception as err:  # noqa: BLE001 -- we record what torch raises
        return type(err)
    return None


@pytest.mark.parametrize("module, value", _cases(BAD, BAD_SHAPES), ids=repr)
def test_rejects_what_torch_rejects_with_the_same_type(module, value):
    """Mutant: LayerNorm's old constructor (``tuple(int(n) for n in ...)``) accepts "3", True and (2.5,)."""
    ours, theirs = PAIRS[module]
    expected = _torch_outcome(theirs, value)
    if expected is None:  # torch accepts it (nn.Linear(True, 3)): ours refuses a bool all the same
        assert isinstance(value, bool), (module, value)
        expected = TypeError
    with pytest.raises(expected):
        ours(value)


@pytest.mark.parametrize("module, value", _cases(STRICTER, STRICTER_SHAPES), ids=repr)
def test_empty_or_negative_sizes_are_a_value_error(module, value):
    """torch accepts 0 and () and raises RuntimeError for -1; ours raise ValueError naming the argument.

    Mutant: check_shape without its ``min(sizes) < 1`` test accepts 0.
    """
    ours, theirs = PAIRS[module]
    assert _torch_outcome(theirs, value) in (None, RuntimeError)  # what the module docstring says of torch
    with pytest.raises(ValueError, match=r"must be"):
        ours(value)


@pytest.mark.parametrize("module", SHAPED)
@pytest.mark.parametrize("value", GOOD, ids=repr)
def test_accepts_what_torch_accepts(module, value):
    """The same normalized_shape as torch's, as Python ints. Mutant: refusing NumPy ints fails here."""
    ours, theirs = PAIRS[module]
    assert ours(value).normalized_shape == tuple(int(n) for n in theirs(value).normalized_shape)
    assert all(type(n) is int for n in ours(value).normalized_shape)


def test_the_message_names_the_module_and_the_value():
    with pytest.raises(TypeError, match=r"^LayerNorm: normalized_shape must be an int or a tuple of ints, got str '3'$"):
        norms.LayerNorm("3")
    with pytest.raises(TypeError, match=r"^RMSNorm: normalized_shape .*\(2\.5 is a float\)$"):
        norms.RMSNorm((2.5,))
