"""helpers.glue.sci: numbers in scientific notation for the prose."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.glue import sci


@pytest.mark.parametrize("value, digits, expected", [
    (7.64e-4, 1, "7.6 × 10⁻⁴"),
    (2.6e12, 0, "3 × 10¹²"),
    (1.0e-15, 0, "1 × 10⁻¹⁵"),
    (3.14159e-300, 2, "3.14 × 10⁻³⁰⁰"),
    (9.96e-5, 1, "1.0 × 10⁻⁴"),       # rounding carries into the exponent
    (0.5, 1, "5.0 × 10⁻¹"),
    (12345.0, 1, "1.2 × 10⁴"),
    (5, 1, "5.0"),                     # exponent 0: the mantissa alone
    (-1234.5, 1, "−1.2 × 10³"),        # U+2212 minus sign
    (-7.6e-4, 0, "−8 × 10⁻⁴"),
    (0.0, 1, "0"),
    (-0.0, 3, "0"),
])
def test_sci_formats(value, digits, expected):
    assert sci(value, digits) == expected


def test_sci_agrees_with_e_format_on_random_values():
    """The mantissa and exponent are those of Python's own e-format."""
    rng = np.random.default_rng(0)
    sup = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
    for v in rng.standard_normal(200) * 10.0 ** rng.integers(-30, 30, 200):
        for digits in (0, 1, 3):
            text = sci(v, digits).replace("−", "-")
            mantissa, _, power = text.partition(" × 10")
            exponent = int(power.translate(sup)) if power else 0
            assert float(mantissa) * 10.0 ** exponent == pytest.approx(float(f"{v:.{digits}e}"), rel=1e-12)
            assert mantissa == f"{v:.{digits}e}".split("e")[0]


def test_sci_accepts_numpy_and_torch_numbers():
    assert sci(np.float32(3e-8), 0) == "3 × 10⁻⁸"
    assert sci(np.float64(2.5e-3)) == "2.5 × 10⁻³"
    assert sci(torch.tensor(1e-3, dtype=torch.float64)) == "1.0 × 10⁻³"


@pytest.mark.parametrize("value, digits, error", [
    (float("nan"), 1, ValueError),
    (float("inf"), 1, ValueError),
    (1.0, -1, ValueError),
    (1.0, 1.5, TypeError),
    (1.0, True, TypeError),
    ("1e-3", 1, TypeError),
    (True, 1, TypeError),
    (None, 1, TypeError),
    (np.ones(3), 1, TypeError),
])
def test_sci_rejects_bad_input(value, digits, error):
    with pytest.raises(error, match="sci"):
        sci(value, digits)


def test_prose_shows_no_e_notation_formats():
    """Glued numbers in the chapters' prose use sci(), not an e-format such as ``:.1e``."""
    import json
    import re

    from conftest import chapter_notebooks

    e_format = re.compile(r"\{glue:text\}`[A-Za-z0-9_]+:[^`]*[eE]`")
    for path in chapter_notebooks():
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                assert not e_format.search(text), f"{path.name}: {e_format.search(text).group(0)}"


def test_glue_takes_numpy_and_torch_scalars_as_python_numbers(capsys, monkeypatch):
    import builtins

    import numpy as np
    import torch

    from helpers.glue import glue

    real_import = builtins.__import__

    def no_myst(name, *args, **kwargs):  # the branch Colab takes: print instead of gluing
        if name == "myst_nb":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    import myst_nb

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=False: glued.__setitem__(name, value))
    for value, expected in ((np.float32(1.5), 1.5), (np.int64(3), 3), (np.array(2.5), 2.5),
                            (torch.tensor(0.25), 0.25), (torch.tensor(7), 7)):
        assert glue("x", value) is None  # no echo of the value under a cell that ends with glue
        assert type(glued["x"]) is type(expected) and glued["x"] == expected
    monkeypatch.setattr(builtins, "__import__", no_myst)
    assert glue("s", "text") is None
    assert capsys.readouterr().out == ""  # silent outside the website build (it printed "x = 1.5" before)
    for bad in (np.ones(2), torch.ones(1, 1), torch.ones(3)):
        with pytest.raises(ValueError, match="scalar"):
            glue("x", bad)
