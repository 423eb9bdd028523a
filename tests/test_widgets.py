"""Python-side tests of helpers.widgets: the explorable's maths, its checks, its JavaScript.

The browser test (which reads ``data-lnb-result`` from the rendered page) lives
elsewhere; here the JavaScript is checked with Node: its syntax, and its maths
run head-less against :func:`norm_axis_view`.
"""

import json
import math
import subprocess
import sys

import ipywidgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import traitlets  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from helpers import norms  # noqa: E402
from helpers.widgets import (  # noqa: E402
    Explorable,
    NormAxisExplorer,
    example_activations,
    interactive_figure,
    norm_axis_view,
)
from helpers.widgets.base import JS_DIR, esm_source  # noqa: E402
from conftest import NODE, needs_node  # skipped without node; under CI=true a failure

X = example_activations()  # (16, 8)
R, H = X.shape
KEYS = {"axis", "batch_size", "example", "eps", "x", "x_used", "mu", "sigma", "y",
        "example_output", "example_output_ref", "max_change", "degenerate"}


# ---------------------------------------------------------------- the data

def test_example_activations_shape_seed_and_spread():
    assert X.shape == (16, 8)
    np.testing.assert_array_equal(X, example_activations(seed=0))
    assert not np.array_equal(X, example_activations(seed=1))
    # rows and columns must differ, or the two axes would look alike
    assert np.ptp(X.mean(1)) > 1.0 and np.ptp(X.std(1)) > 0.5
    assert np.ptp(X.mean(0)) > 1.0
    with pytest.raises(ValueError):
        example_activations(rows=0)


# ------------------------------------------------------ norm_axis_view maths

@pytest.mark.parametrize("B", [1, 2, 5, 16])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_layer_view_matches_torch(B, eps):
    v = norm_axis_view(X, "layer", B, B - 1, eps)
    xt = torch.tensor(X[:B], dtype=torch.float64)
    ref = F.layer_norm(xt, (H,), eps=eps).numpy()
    np.testing.assert_allclose(v["y"], ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(v["mu"], xt.mean(1).numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(v["sigma"], torch.sqrt(xt.var(1, unbiased=False) + eps).numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(v["x_used"], X[:B])
    np.testing.assert_array_equal(v["x"], X)
    assert set(v) == KEYS and v["axis"] == "layer" and v["batch_size"] == B and v["example"] == B - 1
    # layer norm ignores the batch: the output equals the full-batch one exactly
    assert v["example_output"] == v["example_output_ref"] and v["max_change"] == 0.0
    assert v["degenerate"] is False


@pytest.mark.parametrize("B", [2, 3, 8, 16])
@pytest.mark.parametrize("eps", [1e-5, 1.0])
def test_batch_view_matches_torch(B, eps):
    v = norm_axis_view(X, "batch", B, 0, eps)
    xt = torch.tensor(X[:B], dtype=torch.float64)
    ref = F.batch_norm(xt, None, None, training=True, eps=eps).numpy()
    np.testing.assert_allclose(v["y"], ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(v["y"], norms.batch_norm(X[:B], eps=eps), rtol=0, atol=1e-12)
    np.testing.assert_allclose(v["mu"], X[:B].mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(v["sigma"], np.sqrt(X[:B].var(0) + eps), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(v["example_output"], v["y"][0])
    full = F.batch_norm(torch.tensor(X), None, None, training=True, eps=eps).numpy()[0]
    np.testing.assert_allclose(v["example_output_ref"], full, rtol=0, atol=1e-12)
    assert math.isclose(v["max_change"], np.abs(np.array(v["y"][0]) - full).max(), abs_tol=1e-12)
    if B < R:  # the point of the explorable: the batch changes the output
        assert v["max_change"] > 0.05


def test_batch_view_b1_is_degenerate_not_nan():
    for eps in (1e-5, 0.5):
        v = norm_axis_view(X, "batch", 1, 0, eps)
        assert v["degenerate"] is True
        flat = np.concatenate([np.ravel(v[k]) for k in ("mu", "sigma", "y", "example_output")])
        assert np.isfinite(flat).all()
        np.testing.assert_array_equal(v["y"], np.zeros((1, H)))
        np.testing.assert_array_equal(v["mu"], X[0])
        np.testing.assert_allclose(v["sigma"], np.full(H, math.sqrt(eps)))
        # torch refuses B = 1 in training mode; the view reports it instead of failing
        with pytest.raises(ValueError):
            F.batch_norm(torch.tensor(X[:1]), None, None, training=True)


def test_layer_view_h1_is_degenerate():
    v = norm_axis_view(X[:, :1], "layer", 4, 0)
    assert v["degenerate"] is True and np.array_equal(v["y"], np.zeros((4, 1)))


def test_view_returns_plain_json():
    v = norm_axis_view(X, "batch", 4, 2)
    assert json.loads(json.dumps(v)) == v


@pytest.mark.parametrize("kwargs", [
    {"axis": "time"}, {"axis": 0},
    {"batch_size": 0}, {"batch_size": R + 1}, {"batch_size": 2.0}, {"batch_size": True},
    {"batch_size": 4, "example": 4}, {"example": -1},
    {"eps": 0.0}, {"eps": -1e-5}, {"eps": float("nan")}, {"eps": float("inf")}, {"eps": "1e-5"},
])
def test_view_rejects_bad_arguments(kwargs):
    args = {"x": X, "axis": "batch", "batch_size": 4, "example": 0, "eps": 1e-5} | kwargs
    with pytest.raises(ValueError):
        norm_axis_view(**args)


@pytest.mark.parametrize("x", [[1.0, 2.0], [[1.0, 2.0], [3.0]], [[1.0, np.nan]], np.zeros((0, 3)), [["a"]]])
def test_view_rejects_bad_matrices(x):
    with pytest.raises(ValueError):
        norm_axis_view(x, "layer", 1, 0)


# ---------------------------------------------------------------- the widget

def test_widget_instantiates_with_module_and_styles():
    w = NormAxisExplorer()
    assert isinstance(w, Explorable)
    assert "export default" in w._esm and "function lnbNormalize" in w._esm
    assert 'lnbMount(ctx, "norm_axis"' in w._esm  # data-lnb-kind, read by the browser test
    assert ".lnb-explorable" in w._css and 'html[data-theme="dark"]' in w._css
    assert np.array_equal(np.array(w.x), X)
    for name in ("x", "axis", "batch_size", "example", "eps"):
        assert w.trait_metadata(name, "sync") is True, name
    assert w.view() == norm_axis_view(X, "batch", 4, 0, 1e-5)


def test_widget_keeps_example_inside_batch_and_rejects_bad_state():
    w = NormAxisExplorer(axis="layer", batch_size=8, example=6)
    w.batch_size = 3
    assert w.example == 2
    with pytest.raises(ValueError):
        w.example = 3
    with pytest.raises(ValueError):
        w.batch_size = R + 1
    with pytest.raises(ValueError):
        w.axis = "time"
    with pytest.raises(ValueError):
        w.eps = 0.0
    assert (w.axis, w.batch_size, w.example, w.eps) == ("layer", 3, 2, 1e-5)  # rolled back
    # the page sends B and the example together when it lowers B
    w.set_state({"batch_size": 2, "example": 1})
    assert (w.batch_size, w.example) == (2, 1)
    w.batch_size = 1
    assert w.view()["degenerate"] is False  # layer norm: B = 1 is fine


@pytest.mark.parametrize("kwargs", [
    {"axis": "rows"}, {"batch_size": 0}, {"batch_size": 17}, {"example": 4}, {"eps": -1.0},
    {"x": [[1.0, 2.0], [3.0]]}, {"x": [1.0, 2.0]},
])
def test_widget_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        NormAxisExplorer(**kwargs)


def test_widget_with_custom_matrix():
    x = [[1, 2, 3], [4, 5, 7]]
    w = NormAxisExplorer(x=x, axis="batch", batch_size=2, example=1)
    np.testing.assert_allclose(w.view()["y"], norms.batch_norm(np.array(x, float)), atol=1e-12)


# ------------------------------------------------------------ the JavaScript

def _module_file(tmp_path, name="norm_axis.js", extra=""):
    path = tmp_path / "explorable.mjs"
    path.write_text(esm_source(name) + "\n" + extra)
    return path


@needs_node
def test_joined_module_is_valid_javascript(tmp_path):
    for js in sorted(p.name for p in JS_DIR.glob("*.js") if p.name != "lib.js"):
        proc = subprocess.run([NODE, "--check", str(_module_file(tmp_path, js))], capture_output=True, text=True)
        assert proc.returncode == 0, f"{js}: {proc.stderr}"


@needs_node
def test_javascript_maths_matches_python(tmp_path):
    """Run the widget's own compute function in Node and compare with norm_axis_view."""
    cases = [(axis, B, ex, eps) for axis in ("batch", "layer") for B in (1, 2, 7, 16)
             for ex in sorted({0, B - 1}) for eps in (1e-5, 0.3)]
    extra = (f"const X = {json.dumps(X.tolist())};\n"
             f"const cases = {json.dumps(cases)};\n"
             "console.log(JSON.stringify(cases.map(([a, b, e, eps]) => naCompute(X, a, b, e, eps))));\n"
             "console.log(JSON.stringify([lnbFmt(-0.0001, 2), lnbFmt(-1.5, 1), lnbFmt(NaN), lnbFmtEps(1e-5), lnbFmtEps(0.1)]));\n"
             "console.log(JSON.stringify([lnbFmtSci(1.2345e-5), lnbFmtSci(-0.012345), lnbFmtSci(123456), lnbFmtSci(0), lnbFmtSci(Infinity)]));\n"
             "const b = { default: 1e-5, min: 0, max: null, int: false, min_open: true };\n"
             "const n = { default: 4, min: 1, max: 16, int: true, min_open: false };\n"
             "const e = { default: 'batch', values: ['batch', 'layer'] };\n"
             "console.log(JSON.stringify([lnbInBounds(0, b), lnbInBounds(NaN, b), lnbInBounds(2, b), lnbInBounds(99, n), "
             "lnbInBounds(2.6, n), lnbInBounds(-3, n), lnbInBounds(true, n), lnbInBounds('time', e), lnbInBounds('layer', e)]));\n")
    proc = subprocess.run([NODE, str(_module_file(tmp_path, extra=extra))], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    results = json.loads(lines[0])
    for (axis, B, ex, eps), r in zip(cases, results):
        v = norm_axis_view(X, axis, B, ex, eps)
        assert set(r) == set(v)
        for key in v:
            if isinstance(v[key], (bool, str, int)):
                assert r[key] == v[key], (key, axis, B)
            else:
                np.testing.assert_allclose(np.array(r[key], float), np.array(v[key], float), rtol=0, atol=1e-12,
                                           err_msg=f"{key} {axis} B={B}")
        assert np.isfinite(np.array(r["y"], float)).all()
    assert json.loads(lines[1]) == ["0.00", "−1.5", "NaN", "1e-5", "0.1"]
    assert json.loads(lines[2]) == ["1.23×10⁻⁵", "−0.0123", "1.23×10⁵", "0", "∞"]
    # the page clamps a model value to the bounds Python declared (NormAxisExplorer's spec)
    assert json.loads(lines[3]) == [1e-5, 1e-5, 2, 16, 3, 1, 4, "batch", "layer"]


def test_css_sets_explicit_colours_for_both_themes():
    css = (JS_DIR / "lib.css").read_text()
    root_block = css.split(".lnb-explorable {", 1)[1].split("}", 1)[0]
    assert "background: var(--lnb-bg)" in root_block and "color: var(--lnb-fg)" in root_block
    assert "background: transparent" not in css and "background-color: transparent" not in css
    dark = css.split('html[data-theme="dark"] .lnb-explorable', 1)[1].split("}", 1)[0]
    assert "--lnb-bg" in dark and "--lnb-fg" in dark


# ------------------------------------------------------- interactive_figure

def _compute(n, scale):
    t = np.linspace(0.0, 1.0, 50)
    return t, scale * np.sin(2 * np.pi * n * t)


def _plot(data):
    fig, ax = plt.subplots()
    ax.plot(*data)
    return fig


def test_interactive_figure_draws_and_redraws():
    n = ipywidgets.IntSlider(value=2, min=1, max=5)
    scale = ipywidgets.FloatSlider(value=1.0, min=0.5, max=2.0)
    box = interactive_figure(_compute, _plot, n=n, scale=scale)
    assert isinstance(box, ipywidgets.VBox) and isinstance(box.children[1], ipywidgets.Output)
    assert isinstance(box.figure, Figure)
    first = box.figure
    scale.value = 2.0
    assert box.figure is not first
    np.testing.assert_allclose(box.data[1], _compute(2, 2.0)[1])
    np.testing.assert_allclose(box.figure.axes[0].lines[0].get_ydata(), _compute(2, 2.0)[1])


def test_interactive_figure_rejects_bad_arguments():
    slider = ipywidgets.IntSlider()
    with pytest.raises(TypeError):
        interactive_figure(None, _plot, n=slider)
    with pytest.raises(ValueError):
        interactive_figure(_compute, _plot)
    with pytest.raises(TypeError):
        interactive_figure(_compute, _plot, n=3)
    with pytest.raises(TypeError):
        interactive_figure(lambda n: n, lambda d: "not a figure", n=slider)


# ------------------------------------------------------- every explorable

def test_importing_widgets_does_not_load_pyplot():
    """pyplot picks a backend and registers figures: a page of explorables needs neither."""
    code = "import sys, helpers.widgets; assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("kind", sorted(Explorable.registry))
def test_every_explorable_follows_the_shape(kind):
    """Mounted by lnbMount with its kind, bounds declared on traits and sent in spec.

    (Its last block, ``reference(view())`` against ``view()``, compared Python with itself and is gone:
    each explorable's reference is tested against its JavaScript and an independent computation in its
    own test file.)
    """
    cls = Explorable.registry[kind]
    assert f'lnbMount(ctx, "{kind}"' in cls._esm and cls.checked_keys
    w = cls()
    assert w.spec == cls.page_spec() == json.loads(json.dumps(cls.page_spec()))
    assert set(w.spec["inputs"]) == set(cls.input_names()) and "spec" not in w.spec["inputs"]
    for name in cls.input_names():
        assert w.trait_metadata(name, "sync") is True, name
    for name, b in w.spec["bounds"].items():
        trait = cls.class_traits()[name]
        if "values" in b:
            assert b["values"] == list(trait.values) and getattr(w, name) in b["values"]
        else:
            assert (b["min"], b["max"]) == (trait.min, trait.max)
            with pytest.raises(ValueError):  # below the bound: refused, rolled back
                setattr(w, name, (b["min"] if b["min"] is not None else 0) - 1)
    for name, trait in cls.class_traits().items():  # no float input takes NaN (traitlets' Float would)
        if name in cls.input_names() and isinstance(trait, traitlets.Float):
            with pytest.raises(ValueError, match=name):
                setattr(w, name, float("nan"))
    # no hand-written per-trait checkers left: at most one validator, for bounds that depend on other traits
    validators = [n for n, f in vars(cls).items() if getattr(f, "_traitlets_validate", False) or
                  type(f).__name__ == "ValidateHandler"]
    assert len(validators) <= 1, validators


@pytest.mark.parametrize("kind", sorted(__import__("helpers.widgets.base", fromlist=["Explorable"]).Explorable.registry))
def test_explorables_refuse_misspelled_inputs_and_describe_themselves(kind):
    """A misspelled input raises TypeError (it was set as a plain attribute and did nothing); a front end
    without widgets (nbconvert, a console, a viewer) gets text saying what the explorable is and its state."""
    from helpers.widgets.base import Explorable

    cls = Explorable.registry[kind]
    with pytest.raises(TypeError, match=r"unexpected argument\(s\) 'batchsize'"):
        cls(batchsize=4)
    data = cls()._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert "application/vnd.jupyter.widget-view+json" in data
    text = data["text/plain"]
    assert text.startswith(f"{cls.__name__}: ") and "inputs: " in text and "explorable" in text
    assert "object at 0x" not in text and "_esm" not in text and len(text) < 800, text
