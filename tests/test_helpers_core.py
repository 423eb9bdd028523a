"""helpers.repro, helpers.plots, helpers.glue, and the package's hygiene (``__all__``, nothing at import)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
import torch

import helpers
from helpers import glue as glue_mod
from helpers import plots, repro

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(helpers.__path__, prefix="helpers.")
)


def test_package_lists_modules():
    assert {"helpers.norms", "helpers.repro", "helpers.plots", "helpers.widgets"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_all(name):
    mod = importlib.import_module(name)
    assert hasattr(mod, "__all__"), f"{name} has no __all__"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"


def test_import_has_no_side_effects():
    """A fresh interpreter importing every module: RNG states, rcParams and stdout unchanged."""
    code = f"""
import random, numpy as np, torch, matplotlib as mpl
r0, n0, t0 = random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state().clone()
rc0 = dict(mpl.rcParams)
import importlib
for name in {MODULES!r}:
    importlib.import_module(name)
assert random.getstate() == r0, "python random state changed"
assert (np.random.get_state()[1] == n0).all(), "numpy random state changed"
assert torch.equal(torch.random.get_rng_state(), t0), "torch random state changed"
changed = [k for k, v in mpl.rcParams.items() if str(rc0.get(k)) != str(v)]
assert not changed, f"rcParams changed: {{changed}}"
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "", f"import printed: {proc.stdout!r}"


# --- repro -------------------------------------------------------------------

def test_seed_everything_makes_draws_repeat():
    repro.seed_everything(123)
    a = (np.random.rand(3), torch.rand(3))
    repro.seed_everything(123)
    b = (np.random.rand(3), torch.rand(3))
    np.testing.assert_array_equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    repro.seed_everything(124)
    assert not torch.equal(torch.rand(3), b[1])


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)])
def test_seed_everything_rejects_bad_seed(bad, exc):
    with pytest.raises(exc, match="seed"):
        repro.seed_everything(bad)


def test_pick_device_order(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert repro.pick_device().type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert repro.pick_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert repro.pick_device().type == "cuda"


def test_pick_device_prefer(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert repro.pick_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="not available"):
        repro.pick_device("cuda")
    with pytest.raises(ValueError, match="one of"):
        repro.pick_device("tpu")


def test_budget(monkeypatch):
    monkeypatch.delenv(repro.BUDGET_ENV_VAR, raising=False)
    assert repro.budget("cpu") == "quick"
    assert repro.budget(torch.device("cuda")) == "full"
    monkeypatch.setenv(repro.BUDGET_ENV_VAR, "full")
    assert repro.budget("cpu") == "full"
    monkeypatch.setenv(repro.BUDGET_ENV_VAR, " Quick ")
    assert repro.budget("cuda") == "quick"
    monkeypatch.setenv(repro.BUDGET_ENV_VAR, "huge")
    with pytest.raises(ValueError, match="LNBOOK_BUDGET"):
        repro.budget("cpu")


# --- plots -------------------------------------------------------------------

def _relative_luminance(hex_colour: str) -> float:
    rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    lin = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(lin @ [0.2126, 0.7152, 0.0722])


def test_style_is_opaque_with_dark_text():
    """Readable in the site's dark mode: an opaque white figure with dark text (WCAG contrast >= 7)."""
    assert plots.STYLE["savefig.transparent"] is False
    for key in ("figure.facecolor", "axes.facecolor", "savefig.facecolor"):
        assert matplotlib.colors.to_hex(plots.STYLE[key]) == "#ffffff", key
    for key in ("text.color", "axes.labelcolor"):
        lum = _relative_luminance(matplotlib.colors.to_hex(plots.STYLE[key]))
        assert (1.05) / (lum + 0.05) >= 7, key


def test_palette_is_okabe_ito():
    assert plots.COLORS[:4] == ["#0072B2", "#E69F00", "#009E73", "#D55E00"]
    assert len(set(plots.COLORS)) == len(plots.COLORS)


def test_book_style_is_scoped():
    before = matplotlib.rcParams["axes.facecolor"]
    with plots.book_style():
        assert matplotlib.rcParams["figure.facecolor"] == "white"
    assert matplotlib.rcParams["axes.facecolor"] == before


def test_subplots_sizes_and_rejects_empty_grid():
    fig, axes = plots.subplots(2, 3, width=9)
    assert axes.shape == (2, 3)
    np.testing.assert_allclose(fig.get_size_inches(), [9, 6.4])
    matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match="nrows"):
        plots.subplots(0, 1)


# --- glue --------------------------------------------------------------------

def test_glue_records_python_numbers_returns_none_and_validates_name(monkeypatch):
    """With myst-nb: the value reaches ``myst_nb.glue`` as a Python number, and the call returns None (a cell
    ending with it echoes nothing). Mutants: returning the value; passing the NumPy scalar through."""
    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=False: calls.append((name, value, display)))
    assert glue_mod.glue("ch0_value", np.float32(3.5)) is None
    assert glue_mod.glue("ch0_t", torch.tensor(2)) is None
    assert calls == [("ch0_value", 3.5, False), ("ch0_t", 2, False)]
    assert type(calls[0][1]) is float and type(calls[1][1]) is int
    with pytest.raises(ValueError, match="name"):
        glue_mod.glue("bad name!", 1)
    with pytest.raises(ValueError):
        glue_mod.glue("ch0_arr", np.ones(3))
    assert len(calls) == 2


def test_glue_without_myst_nb_is_silent(monkeypatch, capsys):
    """Without myst-nb (Colab, a reader notebook) glue prints nothing: the value is already in the text.
    Mutant: the old ``print(f"{name} = {value}")`` fallback."""
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails as in Colab
    assert glue_mod.glue("ch0_x", 7) is None
    assert capsys.readouterr().out == ""


def test_use_book_style_shows_retina_figures_in_a_kernel():
    """In IPython, figures become PNGs at twice figure.dpi, displayed at their nominal size."""
    import struct

    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell

    saved = dict(matplotlib.rcParams)
    shell = InteractiveShell.instance()
    try:
        plots.use_book_style()
        fig, ax = plt.subplots(figsize=(7.0, 3.0))
        ax.plot([0, 1], [0, 1])
        data, meta = shell.display_formatter.format(fig)
        png = data["image/png"]
        png = png if isinstance(png, bytes) else __import__("base64").b64decode(png)
        width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
        dpi = plots.STYLE["figure.dpi"]
        # twice the figure's pixels (the inline backend crops to a tight bounding box: +-5%)
        assert width == pytest.approx(7.0 * 2 * dpi, rel=0.05) and height == pytest.approx(3.0 * 2 * dpi, rel=0.05)
        assert meta["image/png"] == {"width": width // 2, "height": height // 2}
        plt.close(fig)
    finally:
        InteractiveShell.clear_instance()
        matplotlib.rcParams.update(saved)


def test_use_book_style_outside_ipython_only_sets_the_style():
    saved = dict(matplotlib.rcParams)
    try:
        plots.use_book_style()
        assert matplotlib.rcParams["figure.facecolor"] == "white"
    finally:
        matplotlib.rcParams.update(saved)
