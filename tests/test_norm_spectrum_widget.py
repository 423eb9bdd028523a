"""Chapter 6's explorable (helpers.widgets.norm_spectrum): its JavaScript against helpers.norm_groups."""

import json
import subprocess

import numpy as np
import pytest

from helpers import norm_groups
from helpers.widgets import NormSpectrumExplorer, norm_spectrum_view
from helpers.widgets.base import esm_source
from helpers.widgets.norm_spectrum import GROUP_CHOICES, SHAPE
from conftest import NODE, needs_node  # skipped without node; under CI=true a failure


@needs_node
def test_javascript_matches_python_at_every_setting(tmp_path):
    """Every norm and group count, every followed element at the extremes, three seeds (the browser test's cases and more)."""
    cases = [(seed, norm, g, n, c) for seed in (0, 7, 99) for norm in norm_groups.KINDS for g in GROUP_CHOICES
             for n in (0, SHAPE[0] - 1) for c in (0, SHAPE[1] - 1)]
    constants = json.loads(json.dumps(NormSpectrumExplorer.page_spec()["constants"]))  # what the page gets
    body = (f"const C = {json.dumps(constants)};\nconst cases = {json.dumps(cases)};\n"
            "console.log(JSON.stringify(cases.map(([s, k, g, n, c]) => nsCompute(C, s, k, g, n, c, 1e-5))));\n")
    path = tmp_path / "explorable.mjs"
    path.write_text(esm_source("norm_spectrum.js") + "\n" + body)
    proc = subprocess.run([NODE, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    for case, r in zip(cases, results):
        expected = NormSpectrumExplorer.reference(r)
        np.testing.assert_array_equal(r["x"], expected["x"])  # the same generator, bit for bit
        for key in NormSpectrumExplorer.checked_keys:
            np.testing.assert_allclose(np.asarray(r[key], float), np.asarray(expected[key], float),
                                       rtol=1e-12, atol=1e-12, err_msg=f"{key} {case}")


def test_view_uses_the_library_and_torch_agrees():
    import torch
    from torch.nn import functional as F

    for norm, g in (("layer", 2), ("group", 3), ("instance", 1), ("batch", 6)):
        v = norm_spectrum_view(5, norm, g, 2, 4)
        x = torch.tensor(v["x"], dtype=torch.float64)
        ref = {"layer": lambda: F.layer_norm(x, x.shape[1:]), "group": lambda: F.group_norm(x, 3),
               "instance": lambda: F.instance_norm(x), "batch": lambda: F.batch_norm(x, None, None, training=True)}[norm]()
        np.testing.assert_allclose(v["y"], ref.numpy(), rtol=1e-10, atol=1e-10)
    v = norm_spectrum_view(0, "group", 3, 1, 5)
    assert v["selected"] == 1 * 3 + 5 // 2 and v["shared"] == 2 * 9 and v["n_sets"] == 9


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="groups"):
        norm_spectrum_view(0, "group", 4, 0, 0)
    with pytest.raises(ValueError, match="norm"):
        norm_spectrum_view(0, "weight", 2, 0, 0)
    with pytest.raises(ValueError, match="example"):
        norm_spectrum_view(0, "layer", 2, 3, 0)
    with pytest.raises(ValueError):
        NormSpectrumExplorer(groups=5)
    with pytest.raises(ValueError):
        NormSpectrumExplorer(channel=6)
