"""Chapter 10's explorable (helpers.widgets.attention_entropy_explorer): traits, reference, its JavaScript.

The JavaScript is run twice: in Node on every pattern, soft cap and the controls' extremes (far inside
the browser test's 1e-9), and in headless Chromium on a standalone page (tests/explorable_page.py: the
site's own loader, no book build needed), driven through its controls like the site test drives the
chapters' explorables, with its SVG text measured at 1280 and 390 px.
"""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
import torch

from helpers.attention_entropy import attention_entropy
from helpers.residual import uniform_stream
from helpers.widgets import AttentionEntropyExplorer, Explorable, attention_entropy_view
from helpers.widgets import attention_entropy_explorer as ae
from helpers.widgets.base import InvalidState, esm_source
from conftest import NODE, needs_node

CASES = [dict(scale=c, length=T, pattern=p, seed=sd, softcap=k)
         for p in ae.PATTERNS for T in (1, 2, 64) for c in (0.0, 10 ** (-1.9), 1.0, 100.0)
         for k in (0.0, 2.0, 50.0) for sd in ((0, 99) if p == "random" else (0,))]


# ------------------------------------------------------------------- Python

def test_view_entropies_are_the_library_function():
    v = attention_entropy_view(2.5, 12, "random", seed=7)
    s = np.sqrt(3.0) * (2.0 * uniform_stream(7, 12) - 1.0)
    np.testing.assert_array_equal(v["scores"], s)
    assert v["entropy"] == float(attention_entropy(s, 2.5))
    assert v["curve"] == [float(attention_entropy(s, c)) for c in ae.CURVE_SCALES]
    p = torch.softmax(torch.tensor(2.5 * s), -1).numpy()
    np.testing.assert_allclose(v["weights"], p, rtol=1e-13)
    assert v["max_entropy"] == math.log(12) and v["perplexity"] == pytest.approx(math.exp(v["entropy"]))
    # a soft cap is applied to the logits before the library's softmax
    w = attention_entropy_view(30.0, 12, "random", seed=7, softcap=5.0)
    z = 5.0 * np.tanh(30.0 * s / 5.0)
    np.testing.assert_allclose(w["logits"], z, rtol=1e-15)
    assert w["entropy"] == float(attention_entropy(z, 1.0))
    assert np.abs(w["logits"]).max() < 5.0 < np.abs(30.0 * s).max()


def test_view_closed_forms():
    for T in (1, 5, 64):
        for pattern in ae.PATTERNS:
            assert attention_entropy_view(0.0, T, pattern)["entropy"] == pytest.approx(math.log(T), abs=1e-12)
    assert attention_entropy_view(100.0, 16, "peak")["entropy"] < 1e-30
    assert attention_entropy_view(100.0, 16, "tie")["entropy"] == pytest.approx(math.log(2), abs=1e-12)
    assert attention_entropy_view(100.0, 1, "ramp")["entropy"] == 0.0
    # entropy falls as the scale grows (one largest score), and the cap stops it short of 0
    curve = attention_entropy_view(1.0, 16, "ramp")["curve"]
    assert all(a >= b for a, b in zip(curve, curve[1:])) and curve[0] > 2.7 and curve[-1] < 1e-3
    assert attention_entropy_view(100.0, 16, "ramp", softcap=2.0)["entropy"] > 0.5


@pytest.mark.parametrize("case", CASES[::5] + [CASES[-1]])
def test_view_is_finite_at_the_extremes(case):
    v = attention_entropy_view(**case)
    for key in AttentionEntropyExplorer.checked_keys:
        assert np.all(np.isfinite(np.asarray(v[key], float))), (key, case)
    assert 0.0 <= v["entropy"] <= v["max_entropy"] + 1e-12
    assert sum(v["weights"]) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(scale=-0.1), "scale"), (dict(scale=101.0), "scale"), (dict(scale=float("nan")), "scale"),
    (dict(length=0), "length"), (dict(length=65), "length"), (dict(length=2.0), "length"),
    (dict(pattern="flat"), "pattern"), (dict(seed=100), "seed"), (dict(softcap=3.0), "softcap"),
    (dict(softcap=True), "softcap"),
])
def test_view_rejects_bad_inputs(kwargs, match):
    args = dict(scale=1.0, length=8, pattern="random", seed=0, softcap=0.0) | kwargs
    with pytest.raises(ValueError, match=match):
        attention_entropy_view(**args)


@pytest.mark.parametrize("trait, value", [
    ("scale", -1.0), ("scale", 1e3), ("scale", float("inf")), ("scale", float("nan")), ("length", 0),
    ("length", 65), ("pattern", "flat"), ("seed", -1), ("seed", 100), ("softcap", 3.0), ("softcap", "off"),
])
def test_explorer_refuses_bad_state_and_rolls_back(trait, value):
    w = AttentionEntropyExplorer(scale=2.0, length=8, pattern="tie", softcap=5.0)
    before = {n: getattr(w, n) for n in w.input_names()}
    with pytest.raises(ValueError):  # InvalidState: a ValueError and a TraitError
        setattr(w, trait, value)
    assert {n: getattr(w, n) for n in w.input_names()} == before
    with pytest.raises(InvalidState):
        AttentionEntropyExplorer(**{trait: value})


def test_explorer_spec_reference_and_registry():
    assert Explorable.registry["attention_entropy"] is AttentionEntropyExplorer
    w = AttentionEntropyExplorer(scale=0.0, length=1)
    assert AttentionEntropyExplorer.reference(w.view()) == w.view()
    spec = AttentionEntropyExplorer.page_spec()
    assert spec["bounds"]["scale"]["min"] == 0.0 and spec["bounds"]["scale"]["max"] == 100.0
    assert spec["bounds"]["softcap"]["values"] == list(ae.SOFTCAPS)
    lo, hi = spec["constants"]["scale_notches"]
    assert lo == 0 and 10 ** ((hi - 20) / 10) == ae.LIMITS["scale"][1]


# ---------------------------------------------------------- JavaScript, Node

def _run_node(tmp_path, cases):
    constants = json.loads(json.dumps(AttentionEntropyExplorer.page_spec()["constants"]))
    path = tmp_path / "explorable.mjs"
    path.write_text(esm_source("attention_entropy_explorer.js") +
                    f"\nconst C = {json.dumps(constants)};\nconst cases = {json.dumps(cases)};\n"
                    "console.log(JSON.stringify(cases.map((s) => aeCompute(s, C.curve_scales))));\n")
    proc = subprocess.run([NODE, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@needs_node
def test_javascript_matches_python_everywhere(tmp_path):
    for case, r in zip(CASES, _run_node(tmp_path, CASES)):
        expected = AttentionEntropyExplorer.reference(r)
        assert {k: r[k] for k in case} == case
        for key in AttentionEntropyExplorer.checked_keys:
            values = np.asarray(r[key], float)
            assert np.all(np.isfinite(values)), (case, key)  # JSON writes NaN as null: float(None) fails first
            np.testing.assert_allclose(values, expected[key], rtol=1e-12, atol=1e-13, err_msg=f"{key} {case}")


# ------------------------------------------------------- JavaScript, Chromium

MIN_TEXT_PX = 12.0
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


STARTS = [dict(), dict(scale=0.0, length=1), dict(scale=100.0, length=64, pattern="tie", softcap=50.0),
          dict(scale=0.3, length=5, pattern="ramp", softcap=2.0)]


@pytest.mark.browser
def test_in_chromium_the_page_agrees_with_python_and_its_text_is_large_enough(tmp_path):
    from explorable_page import in_chromium

    in_chromium(_drive_the_page, tmp_path)


def _drive_the_page(chromium, tmp_path):
    from explorable_page import MIN_TEXT_JS, open_standalone, serve, write_page

    write_page(tmp_path, [AttentionEntropyExplorer(**s) for s in STARTS], title="attention entropy")
    with serve(tmp_path) as url:
        for viewport in (DESKTOP, PHONE):
            page, errors = open_standalone(chromium, url + "/index.html", len(STARTS), viewport)
            roots = page.locator(".lnb-explorable")
            sizes = page.evaluate(f"({MIN_TEXT_JS})(Array.from(document.querySelectorAll('.lnb-explorable')))")
            for s in sizes:
                assert s["min"] is not None and s["min"] >= MIN_TEXT_PX, (viewport, s)
            if viewport is PHONE:
                assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), "the page scrolls sideways"
                page.context.close()
                continue
            seen = set()
            for i, start in enumerate(STARTS):
                root = roots.nth(i)

                def check(first=False):
                    r = json.loads(root.get_attribute("data-lnb-result"))
                    if first:  # the page starts from the state Python gave it
                        assert {k: r[k] for k in start} == start
                    expected = AttentionEntropyExplorer.reference(r)
                    for key in AttentionEntropyExplorer.checked_keys:
                        assert None not in np.ravel(np.asarray(r[key], object)), key
                        np.testing.assert_allclose(np.asarray(r[key], float), np.asarray(expected[key], float),
                                                   rtol=1e-9, atol=1e-9, err_msg=f"{key} {r}")
                    seen.add(json.dumps({k: r[k] for k in ("scale", "length", "pattern", "seed", "softcap")}))

                check(first=True)
                for radio in root.locator("input[type=radio]").all():
                    radio.check()
                    check()
                for value in root.locator("select").evaluate("s => Array.from(s.options).map(o => o.value)"):
                    root.locator("select").select_option(value)
                    check()
                for slider in root.locator("input[type=range]").all():
                    if slider.is_disabled():
                        continue
                    for end in ("min", "max"):
                        slider.evaluate(f"s => {{ s.value = s.{end}; s.dispatchEvent(new Event('input', {{bubbles: true}})); }}")
                        page.wait_for_timeout(30)
                        check()
                # the keyboard moves the scale slider one notch
                scale = root.get_by_role("slider", name="Logit scale λ")
                scale.focus()
                before = root.get_attribute("data-lnb-result")
                page.keyboard.press("ArrowLeft")
                page.wait_for_timeout(30)
                assert root.get_attribute("data-lnb-result") != before
                check()
            assert len(seen) > 10
            assert errors == [], errors
            page.context.close()
