"""The base for explorables whose computation runs in the browser.

An :class:`Explorable` is an `anywidget <https://anywidget.dev>`_: a Python
class holding the state (traitlets synced to the page) and an ES module that
draws it and computes in JavaScript. Because the computation lives in the page,
the explorable stays live on the static website, where no Python kernel runs,
as well as in Jupyter, Colab and VS Code.

Conventions every explorable follows:

* Its JavaScript is ``lib.js`` (shared drawing and maths) followed by the
  widget's own file named in ``_js``; the two are joined into one module here,
  because a module loaded from a ``blob:`` URL cannot import its neighbours.
* Its root element gets the class ``lnb-explorable`` and, after every render,
  a ``data-lnb-result`` attribute holding JSON of the inputs it used and the
  numbers it computed, and a ``data-lnb-kind`` attribute naming its class's
  ``kind``. The browser test reads both, finds the class in
  :attr:`Explorable.registry`, recomputes the numbers in Python with
  :meth:`Explorable.reference` and compares the ``checked_keys``, so JavaScript
  and Python cannot drift apart.
* Its controls are plain HTML inputs inside the widget (not ipywidgets), so
  they keep working without a kernel.
"""

from __future__ import annotations

import pathlib
from typing import ClassVar

import anywidget
import numpy as np
import traitlets

__all__ = ["Explorable", "InvalidState", "as_trait_error", "finite_matrix", "JS_DIR", "esm_source"]

#: Folder holding the JavaScript of every explorable.
JS_DIR = pathlib.Path(__file__).with_name("js")


class InvalidState(ValueError, traitlets.TraitError):
    """A bad trait value: a ValueError for the reader, a TraitError so traitlets rolls the update back."""


def as_trait_error(check, *args):
    """``check(*args)``, with a ValueError it raises turned into :class:`InvalidState`."""
    try:
        return check(*args)
    except ValueError as err:
        raise InvalidState(str(err)) from None


def finite_matrix(x, name: str, where: str, shape: tuple | None = None) -> np.ndarray:
    """``x`` as a non-empty, finite, 2-d float64 array (of ``shape`` if given), or a ValueError naming it."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {name} must be a rectangular matrix of numbers ({err})") from None
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"{where}: {name} must be a non-empty 2-d matrix, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: {name} must be finite")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{where}: {name} must have shape {tuple(shape)}, got {a.shape}")
    return a


def esm_source(name: str) -> str:
    """The ES module for the explorable whose own code is ``js/<name>``: ``lib.js`` + that file."""
    path = JS_DIR / name
    if not path.is_file():
        raise ValueError(f"esm_source: no JavaScript file {name!r} in {JS_DIR}")
    return (JS_DIR / "lib.js").read_text() + "\n" + path.read_text()


class Explorable(anywidget.AnyWidget):
    """An anywidget whose ES module is ``lib.js`` plus the file named by ``_js``.

    Subclasses set ``_js = "name.js"`` and declare their state as synced traitlets.
    """

    _js: str = ""
    #: Written to the root's ``data-lnb-kind``; unique among explorables.
    kind: ClassVar[str] = ""
    #: Keys of ``data-lnb-result`` that must agree with :meth:`reference`.
    checked_keys: ClassVar[tuple[str, ...]] = ()
    #: Every explorable class by its ``kind``, filled in as they are defined.
    registry: ClassVar[dict[str, type["Explorable"]]] = {}

    @classmethod
    def reference(cls, result: dict) -> dict:
        """The numbers the page should show, recomputed in Python from the inputs in ``result``."""
        raise NotImplementedError(f"{cls.__name__} does not define reference()")
    _css = (JS_DIR / "lib.css").read_text() if (JS_DIR / "lib.css").is_file() else ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Only a class that names its own file gets a module. (traitlets' add_traits
        # also makes subclasses on the fly, holding the _esm trait: leave those alone.)
        if "_js" in cls.__dict__ and cls._js:
            cls._esm = esm_source(cls._js)
        if "kind" in cls.__dict__:
            if cls.kind in Explorable.registry:
                raise ValueError(f"two explorables share the kind {cls.kind!r}")
            Explorable.registry[cls.kind] = cls
