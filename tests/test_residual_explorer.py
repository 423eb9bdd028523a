"""The Transformer chapter's explorable (helpers.widgets.residual_stream): Python view, state, and its JavaScript."""

import json
import subprocess

import numpy as np
import pytest

from helpers import residual
from helpers.widgets import ResidualStreamExplorer, residual_stream_view
from helpers.widgets import residual_stream as rs_mod
from helpers.widgets.base import InvalidState, esm_source
from conftest import NODE, needs_node  # skipped without node; under CI=true a failure


def test_view_is_the_library_for_both_placements():
    v = residual_stream_view(12, "post", 2.0, 0.5, seed=3)
    post = residual.residual_stream(12, "post", 2.0, 0.5, seed=3)
    pre = residual.residual_stream(12, "pre", 2.0, 0.5, seed=3)
    assert v["rms"] == post["rms"].tolist() and v["grad"] == post["grad"].tolist()
    assert v["rms_other"] == pre["rms"].tolist() and v["stream_grad_other"] == pre["stream_grad"].tolist()
    assert v["grad_ratio"] == post["grad"][-1] / post["grad"][0]
    assert v["grad_last_other"] == pre["grad"][-1] / post["grad"][-1]
    assert v["expected_rms"] == residual.expected_rms(12, "post", 2.0, 0.5).tolist()


def test_explorer_state_reference_and_bounds():
    w = ResidualStreamExplorer(depth=6, placement="post")
    assert ResidualStreamExplorer.reference(w.view()) == w.view()
    for trait, value in (("depth", 0), ("depth", 49), ("scale", 0.05), ("gain", float("nan")), ("placement", "mid")):
        with pytest.raises(InvalidState):
            setattr(w, trait, value)
    assert w.depth == 6 and w.placement == "post"  # rolled back
    bounds = ResidualStreamExplorer.page_spec()["bounds"]
    for name, (lo, hi) in rs_mod.LIMITS.items():
        assert (bounds[name]["min"], bounds[name]["max"]) == (lo, hi)


@pytest.mark.parametrize("kwargs, match", [
    (dict(depth=49), "depth must be an int in"),
    (dict(placement="both"), "placement must be one of"),
    (dict(scale=20.0), "scale must be finite"),
    (dict(gain=0.0), "gain must be finite"),
])
def test_view_rejects_bad_inputs(kwargs, match):
    args = dict(depth=4, placement="pre", scale=1.0, gain=1.0) | kwargs
    with pytest.raises(ValueError, match=match):
        residual_stream_view(**args)


@needs_node
def test_javascript_matches_the_library_at_the_controls_extremes(tmp_path):
    """The page's loops against helpers.residual in NumPy, far inside the browser test's 1e-9."""
    C = json.loads(json.dumps(ResidualStreamExplorer.page_spec()["constants"]))
    lo, hi = C["scale_notches"]
    cases = [dict(depth=L, placement=p, scale=10 ** (k / 10), gain=g, seed=0, width=32, tokens=16, eps=1e-5)
             for p in ("pre", "post") for L in (1, 48) for k in (lo, 0, hi) for g in rs_mod.LIMITS["gain"]]
    path = tmp_path / "explorable.mjs"
    path.write_text(esm_source("residual_stream.js") + f"\nconst cases = {json.dumps(cases)};\n"
                    "console.log(JSON.stringify(cases.map((s) => rsCompute(s))));\n")
    proc = subprocess.run([NODE, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for case, r in zip(cases, json.loads(proc.stdout)):
        expected = ResidualStreamExplorer.reference(r)
        assert {k: r[k] for k in case} == case
        for key in ResidualStreamExplorer.checked_keys:
            values = np.asarray(r[key], float)
            assert np.all(np.isfinite(values)), (case, key)
            np.testing.assert_allclose(values, expected[key], rtol=1e-12, err_msg=f"{key} {case}")
    # the notches reach the trait's bounds: 10^(-1) and 10^1
    assert 10 ** (lo / 10) == pytest.approx(rs_mod.LIMITS["scale"][0]) and 10 ** (hi / 10) == pytest.approx(10.0)


#: Issue 19 aims at 16 ms an update at depth 48 (about 10 ms of arithmetic measured on a quiet 2-core machine,
#: 40 ms before the flat arrays); the test asserts only a bound a loaded CI machine keeps, and prints the median.
MAX_MEDIAN_MS = 100.0


@pytest.mark.browser
def test_in_chromium_an_update_at_depth_48_is_quick_and_agrees_with_python(tmp_path):
    """Median time of an update at depth 48 in headless Chromium (input event to result drawn and laid out),
    moving the gain (both placements recomputed) and the placement (nothing recomputed); then the page's
    numbers against Python's."""
    import statistics

    from explorable_page import UPDATE_TIMES_JS, in_chromium, open_standalone, serve, write_page

    write_page(tmp_path, [ResidualStreamExplorer(depth=48)])
    times, toggles, r, errors = in_chromium(_time_updates, tmp_path, UPDATE_TIMES_JS, open_standalone, serve)
    median, toggle = statistics.median(times), statistics.median(toggles[1:])
    print(f"\nresidual stream at depth 48, per update in Chromium: gain moved {median:.1f} ms median "
          f"(min {min(times):.1f}, max {max(times):.1f}); placement switched {toggle:.1f} ms median")
    assert errors == [], errors
    assert r["depth"] == 48
    expected = ResidualStreamExplorer.reference(r)
    for key in ResidualStreamExplorer.checked_keys:
        np.testing.assert_allclose(np.asarray(r[key], float), expected[key], rtol=1e-9, atol=1e-9, err_msg=key)
    assert median < MAX_MEDIAN_MS, f"an update at depth 48 took {median:.1f} ms (median of {len(times)})"


def _time_updates(browser, tmp_path, UPDATE_TIMES_JS, open_standalone, serve):
    """In the browser: 30 gain updates and 10 placement switches timed, and the last result."""
    with serve(tmp_path) as url:
        page, errors = open_standalone(browser, url + "/index.html", 1, {"width": 1280, "height": 900})
        root = page.locator(".lnb-explorable").first
        times = page.evaluate(UPDATE_TIMES_JS, [root.element_handle(), "gain", 31])[1:]  # the first warms up
        toggles = page.evaluate("""async (root) => {
          const out = [];
          for (let k = 0; k < 10; k++) {
            const radio = root.querySelectorAll('input[type=radio]')[k % 2];
            const done = new Promise(resolve => { const mo = new MutationObserver(() => {
              root.getBoundingClientRect(); mo.disconnect(); resolve(performance.now()); });
              mo.observe(root, { attributes: true, attributeFilter: ['data-lnb-result'] }); });
            const t0 = performance.now();
            radio.click();
            out.push((await done) - t0);
            await new Promise(r => setTimeout(r, 5));
          }
          return out; }""", root.element_handle())
        r = json.loads(root.get_attribute("data-lnb-result"))
        page.context.close()
    return times, toggles, r, errors
