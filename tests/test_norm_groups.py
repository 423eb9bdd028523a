"""helpers.norm_groups: the four normalizations as sets of elements, against torch's functions."""

import doctest

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from helpers import norm_groups
from helpers.norm_groups import KINDS, example_tensor, group_ids, mulberry32, normalize


def _torch_ref(x, kind, groups, eps):
    t = torch.as_tensor(x)
    return {
        "batch": lambda: F.batch_norm(t, None, None, training=True, eps=eps),
        "layer": lambda: F.layer_norm(t, t.shape[1:], eps=eps),
        "instance": lambda: F.instance_norm(t, eps=eps),
        "group": lambda: F.group_norm(t, groups, eps=eps),
    }[kind]().numpy()


@pytest.mark.parametrize("shape", [(3, 6, 3, 3), (1, 4, 2, 5), (4, 1, 1, 3), (2, 8, 1, 1)])
@pytest.mark.parametrize("kind, groups", [("batch", None), ("layer", None), ("instance", None),
                                          ("group", 1), ("group", 2), ("group", "C")])
def test_normalize_matches_torch(shape, kind, groups):
    groups = shape[1] if groups == "C" else groups
    if kind == "group" and shape[1] % groups:
        pytest.skip("groups must divide C")
    if kind == "instance" and shape[2] * shape[3] == 1:
        pytest.skip("F.instance_norm refuses one element per set (group norm with G = C covers it)")
    x = np.random.default_rng(1).normal(2.0, 3.0, size=shape)
    for eps in (1e-5, 0.5):
        out = normalize(x, kind, groups, eps)
        np.testing.assert_allclose(out["y"], _torch_ref(x, kind, groups, eps), rtol=1e-10, atol=1e-10)


def test_group_norm_ends_are_layer_and_instance_norm():
    x = example_tensor((2, 6, 3, 3), seed=4)
    np.testing.assert_array_equal(group_ids(x.shape, "group", 1), group_ids(x.shape, "layer"))
    np.testing.assert_array_equal(group_ids(x.shape, "group", 6), group_ids(x.shape, "instance"))
    np.testing.assert_allclose(normalize(x, "group", 6)["y"], normalize(x, "instance")["y"], rtol=0, atol=0)


def test_statistics_are_those_of_each_set():
    x = example_tensor((3, 6, 2, 2), seed=2)
    out = normalize(x, "group", 3)
    assert out["mean"].shape == (9,) and out["size"] == 2 * 2 * 2
    # set 4 is example 1, channels 2-3
    np.testing.assert_allclose(out["mean"][4], x[1, 2:4].mean())
    np.testing.assert_allclose(out["var"][4], x[1, 2:4].var())
    bn = normalize(x, "batch")
    np.testing.assert_allclose(bn["mean"], x.mean((0, 2, 3)))
    assert bn["size"] == 3 * 2 * 2


def test_mulberry32_matches_the_javascript_generator():
    # nsMulberry32(1) and nsMulberry32(12345) of widgets/js/norm_spectrum.js, printed by node
    g = mulberry32(1)
    assert [next(g) for _ in range(3)] == [0.6270739405881613, 0.002735721180215478, 0.5274470399599522]
    g = mulberry32(12345)
    assert [next(g) for _ in range(2000)][-1] == 0.7276864345185459


def test_example_tensor_structure():
    x = example_tensor((3, 6, 3, 3), seed=0)
    assert x.shape == (3, 6, 3, 3)
    assert np.array_equal(x, example_tensor((3, 6, 3, 3), seed=0)) and not np.array_equal(x, example_tensor(seed=1))
    noise = (x - (np.arange(6) - 2.5)[None, :, None, None]) / (1 + np.arange(3) / 2)[:, None, None, None]
    k = noise * 100 + 200
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)  # integers 0..400
    assert k.min() >= -1e-9 and k.max() <= 400 + 1e-9


def test_bad_arguments():
    x = np.zeros((2, 4, 1, 1))
    with pytest.raises(ValueError, match="kind must be one of"):
        normalize(x, "weight")
    with pytest.raises(ValueError, match="groups must divide"):
        normalize(x, "group", 3)
    with pytest.raises(ValueError, match="groups is only for"):
        normalize(x, "layer", 2)
    with pytest.raises(ValueError, match="4-d"):
        normalize(np.zeros((2, 4)), "layer")
    with pytest.raises(ValueError, match="finite"):
        normalize(np.full((1, 2, 1, 1), np.nan), "layer")
    with pytest.raises(ValueError, match="eps"):
        normalize(x, "layer", eps=0)
    with pytest.raises(ValueError, match="shape must be"):
        group_ids((2, 3), "layer")
    with pytest.raises(ValueError, match="seed"):
        example_tensor(seed=-1)


def test_public_api_and_doctests():
    assert set(norm_groups.__all__) == {"KINDS", "group_ids", "normalize", "mulberry32", "example_tensor"}
    assert KINDS == ("batch", "layer", "instance", "group")
    result = doctest.testmod(norm_groups)
    assert result.attempted >= 2 and result.failed == 0
