"""Tests for helpers._checks, the input checks every helper shares."""

import numpy as np
import pytest
import torch

from helpers._checks import (
    ArgTypeError,
    check_choice,
    check_eps,
    check_instance,
    check_int,
    check_real,
    check_tensor,
    float_array,
)


def test_arg_type_error_is_both_type_and_value_error():
    assert issubclass(ArgTypeError, TypeError) and issubclass(ArgTypeError, ValueError)
    with pytest.raises(TypeError):
        check_int(2.0, "n", "f")
    with pytest.raises(ValueError):
        check_int(2.0, "n", "f")


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_check_int_accepts_integers(value):
    out = check_int(value, "n", "f", lo=1, hi=3)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value, exc, message", [
    (True, ArgTypeError, r"^f: n must be an int >= 1, got bool True$"),
    (2.0, ArgTypeError, r"^f: n must be an int >= 1, got float 2\.0$"),
    ("2", ArgTypeError, r"got str '2'"),
    (None, ArgTypeError, r"got NoneType None"),
    (0, ValueError, r"^f: n must be an int >= 1, got 0$"),
])
def test_check_int_rejects(value, exc, message):
    with pytest.raises(exc, match=message):
        check_int(value, "n", "f", lo=1)


def test_check_int_bounds_and_hint():
    assert check_int(-5, "k", "f") == -5  # no bounds
    with pytest.raises(ValueError, match=r"k must be an int in \[0, 4\], got 5"):
        check_int(5, "k", "f", 0, 4)
    with pytest.raises(ValueError, match=r"k must be an int <= 4, got 5"):
        check_int(5, "k", "f", hi=4)
    with pytest.raises(ValueError, match=r"got 1; too few to say anything$"):
        check_int(1, "k", "f", lo=2, hint="too few to say anything")


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.int64(1)])
def test_check_real_accepts_real_numbers(value):
    out = check_real(value, "x", "f", 0, 1, lo_open=True)
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize("value, kwargs, exc, message", [
    ("1", {}, ArgTypeError, r"^f: x must be a real number, got str '1'$"),
    (True, {}, ArgTypeError, r"got bool True"),
    (1j, {}, ArgTypeError, r"got complex"),
    (np.ones(2), {}, ArgTypeError, r"got ndarray"),
    (float("nan"), {}, ValueError, r"^f: x must be finite, got nan$"),
    (float("inf"), {"lo": 0}, ValueError, r"^f: x must be finite and >= 0, got inf$"),
    (0.0, {"lo": 0, "lo_open": True}, ValueError, r"^f: x must be finite and > 0, got 0\.0$"),
    (1.0, {"lo": 0, "hi": 1, "hi_open": True}, ValueError, r"finite and in \[0, 1\), got 1\.0"),
    (2.0, {"hi": 1}, ValueError, r"finite and <= 1, got 2\.0"),
    (-1.0, {"lo": 0, "hint": "a variance"}, ValueError, r"got -1\.0; a variance$"),
])
def test_check_real_rejects(value, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        check_real(value, "x", "f", **kwargs)


def test_check_eps():
    assert check_eps(1e-5, "g") == 1e-5
    with pytest.raises(ValueError, match=r"^g: eps must be finite and > 0, got 0$"):
        check_eps(0, "g")


def test_check_choice():
    assert check_choice("b", "kind", ("a", "b"), "f") == "b"
    assert check_choice(None, "norm", (None, "layer"), "f") is None
    assert check_choice("x", "key", {"x": 1, "y": 2}, "f") == "x"  # a dict's keys
    assert check_choice(2, "k", (1, 2), "f") == 2
    with pytest.raises(ValueError, match=r"^f: norm must be one of None, 'layer', got 'batch'$"):
        check_choice("batch", "norm", (None, "layer"), "f")
    with pytest.raises(ValueError, match=r"got 1$"):
        check_choice(1, "k", ("1",), "f")  # a string matches strings only
    with pytest.raises(ValueError, match=r"got True"):
        check_choice(True, "k", (1, 2), "f")  # True is not 1
    with pytest.raises(ValueError, match=r"got \[1\]; or a callable"):
        check_choice([1], "k", ("a",), "f", hint="or a callable")  # unhashable values are fine
    with pytest.raises(ValueError, match=r"got array"):
        check_choice(np.ones(3), "k", (1, 2), "f")  # no ambiguous truth value


def test_check_instance_and_tensor():
    t = torch.ones(2)
    assert check_instance(t, torch.Tensor, "x", "f", "a tensor") is t
    assert check_tensor(t, "x", "f") is t
    n = torch.ones(2, dtype=torch.long)
    assert check_tensor(n, "x", "f", floating=False) is n  # mutant: floating=False returning x.double() fails
    with pytest.raises(ArgTypeError, match=r"^f: x must be a torch.Tensor, got list$"):
        check_tensor([1.0], "x", "f")
    with pytest.raises(ArgTypeError, match=r"^f: x must be a floating-point tensor, got dtype torch.int64$"):
        check_tensor(torch.ones(2, dtype=torch.long), "x", "f")


def test_float_array_dtypes():
    assert float_array(np.ones(2, np.float32), "x", "f").dtype == np.float32  # kept
    assert float_array([1, 2], "x", "f").dtype == np.float64  # ints become float64
    assert float_array([True], "x", "f").dtype == np.float64
    assert float_array([1.5, 10**20], "x", "f").tolist() == [1.5, 1e20]  # an object array of numbers, from JSON
    assert float_array(np.ones(2, np.float32), "x", "f", dtype=np.float64).dtype == np.float64
    t = torch.ones(2, 3, requires_grad=True)
    assert float_array(t, "x", "f").shape == (2, 3)  # detached, on the CPU
    with pytest.raises(ArgTypeError, match=r"x must be a real numeric array, got dtype <U1 from list"):
        float_array(["a"], "x", "f")
    with pytest.raises(ArgTypeError, match=r"x must be a real numeric array, got dtype object from NoneType"):
        float_array(None, "x", "f")
    with pytest.raises(ArgTypeError, match=r"x must be a real numeric array, got dtype complex"):
        float_array([1j], "x", "f")
    with pytest.raises(ArgTypeError, match=r"x must be a numeric array, got list"):
        float_array([[1.0], [1.0, 2.0]], "x", "f")  # ragged


def test_float_array_copy():
    a = np.ones(3)
    assert float_array(a, "x", "f") is a
    b = float_array(a, "x", "f", copy=True)
    b[0] = 5.0
    assert a[0] == 1.0


def test_float_array_shape_and_values():
    assert float_array(np.ones((2, 3)), "W", "f", shape=("H", 3)).shape == (2, 3)
    assert float_array(np.ones((0, 3)), "W", "f", ndim=2).shape == (0, 3)
    with pytest.raises(ValueError, match=r"^f: W must be a matrix of shape \(H, 4\), got shape \(2, 3\)$"):
        float_array(np.ones((2, 3)), "W", "f", shape=("H", 4))
    with pytest.raises(ValueError, match=r"^f: v must be a non-empty vector of shape \(I,\), got shape \(0,\)$"):
        float_array([], "v", "f", shape=("I",), nonempty=True)
    with pytest.raises(ValueError, match=r"^f: x must be a matrix, got shape \(3,\)$"):
        float_array(np.ones(3), "x", "f", ndim=2)
    with pytest.raises(ValueError, match=r"x must be a 3-d array of shape \(T, \?, I\), got shape \(3,\)"):
        float_array(np.ones(3), "x", "f", shape=("T", None, "I"))
    with pytest.raises(ValueError, match=r"^f: x must be non-empty, got shape \(0,\)$"):
        float_array([], "x", "f", nonempty=True)
    with pytest.raises(ValueError, match=r"^f: x must be finite, got 2 NaN or infinite entries$"):
        float_array([np.nan, 1.0, np.inf], "x", "f", finite=True)
    assert np.isnan(float_array([np.nan], "x", "f")).all()  # allowed unless finite=True
