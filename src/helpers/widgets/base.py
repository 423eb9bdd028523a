"""The base for explorables whose computation runs in the browser.

An :class:`Explorable` is an `anywidget <https://anywidget.dev>`_: a Python
class holding the state (traitlets synced to the page) and an ES module that
draws it and computes in JavaScript. Because the computation lives in the page,
the explorable stays live on the static website, where no Python kernel runs,
as well as in Jupyter, Colab and VS Code. There are two implementations of
each explorable's numbers, no more: the page's JavaScript and the library
function (:mod:`helpers.norms`, :mod:`helpers.geometry`, ...) that
:meth:`Explorable.reference` calls.

Conventions every explorable follows:

* **State is declared, not checked by hand.** Each input is a synced trait
  with its bounds: ``traitlets.Int(4, min=1)``, ``traitlets.Enum(values)``,
  :class:`FiniteFloat` (``traitlets.Float`` takes NaN and infinities; this one
  refuses them, and takes an open lower bound for an ``eps``), and
  :class:`FloatArray` for matrices and vectors. A bad value raises
  :class:`InvalidState` (a ``ValueError`` naming the class and the trait) and
  traitlets rolls the update back. Only bounds that depend on another trait
  (e.g. ``example < batch_size``) need a ``@traitlets.validate`` method.
* **Constants reach the page through a synced trait, never typed twice.** The
  ``spec`` trait, filled in by the base class, holds ``inputs`` (the names of
  the synced traits), ``bounds`` (each input's ``min``/``max``/``int``, or its
  Enum ``values``, and its ``default``) and ``constants`` (the class's
  :attr:`Explorable.constants`: choices, tolerances, tables).
* **JavaScript**: ``lib.js`` (shared drawing, maths, controls, the mount helper
  ``lnbMount`` and the chart helpers) followed by the widget's own file named in
  ``_js``; the two are joined into one module here, because a module loaded
  from a ``blob:`` URL cannot import its neighbours. ``lnbMount`` gives the
  widget its root element, its clamped state, a ``commit`` for its controls
  and the constants, and redraws on every change.
* **Checked against Python.** The root element gets the class
  ``lnb-explorable``, a ``data-lnb-kind`` attribute naming the class's
  ``kind`` and, after every draw, a ``data-lnb-result`` attribute holding JSON
  of the inputs it used and the numbers it computed. The browser test finds the
  class in :attr:`Explorable.registry`, recomputes the numbers with
  :meth:`Explorable.reference` and compares the ``checked_keys``.
* Its controls are plain HTML inputs inside the widget (not ipywidgets), so
  they keep working without a kernel.
"""

from __future__ import annotations

import json
import pathlib
from typing import ClassVar

import anywidget
import numpy as np
import traitlets

from .._checks import check_real, float_array

__all__ = ["Explorable", "InvalidState", "FiniteFloat", "FloatArray", "as_trait_error", "JS_DIR", "esm_source"]

#: Folder holding the JavaScript of every explorable.
JS_DIR = pathlib.Path(__file__).with_name("js")


class InvalidState(ValueError, traitlets.TraitError):
    """A bad trait value: a ValueError for the reader, a TraitError so traitlets rolls the update back."""


def as_trait_error(check, *args, **kwargs):
    """``check(*args, **kwargs)``, with a ValueError it raises turned into :class:`InvalidState`.

    Example::

        >>> from helpers._checks import check_int
        >>> as_trait_error(check_int, 0, "n", "f", lo=1)
        Traceback (most recent call last):
        helpers.widgets.base.InvalidState: f: n must be an int >= 1, got 0
    """
    try:
        return check(*args, **kwargs)
    except InvalidState:
        raise
    except ValueError as err:
        raise InvalidState(str(err)) from None


class FiniteFloat(traitlets.Float):
    """A float trait that refuses NaN and infinities (``traitlets.Float`` accepts them).

    Args:
        default_value (float): the default.
        min, max (float, optional): inclusive bounds, as ``traitlets.Float``'s.
        min_open (bool): make ``min`` an open bound (``eps > 0``). Default: ``False``

    Example::

        >>> class Demo(traitlets.HasTraits):
        ...     eps = FiniteFloat(1e-5, min=0.0, min_open=True)
        >>> Demo(eps=float("nan"))
        Traceback (most recent call last):
        helpers.widgets.base.InvalidState: Demo: eps must be finite and > 0.0, got nan
    """

    def __init__(self, default_value=0.0, *, min=None, max=None, min_open=False, **kwargs):
        super().__init__(default_value, min=min, max=max, **kwargs)
        self.min_open = min_open

    def validate(self, obj, value):
        return as_trait_error(check_real, value, self.name, type(obj).__name__, self.min, self.max,
                              lo_open=self.min_open)


class FloatArray(traitlets.List):
    """A finite, non-empty float array of ``ndim`` dimensions, synced to the page as nested lists.

    Example::

        >>> class Demo(traitlets.HasTraits):
        ...     W = FloatArray(ndim=2)
        >>> Demo(W=[[1, 2], [3, 4]]).W
        [[1.0, 2.0], [3.0, 4.0]]
    """

    def __init__(self, ndim: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.ndim = ndim

    def validate(self, obj, value):
        return as_trait_error(float_array, value, self.name, type(obj).__name__, ndim=self.ndim,
                              dtype=np.float64, finite=True, nonempty=True).tolist()


def esm_source(name: str) -> str:
    """The ES module for the explorable whose own code is ``js/<name>``: ``lib.js`` + that file."""
    path = JS_DIR / name
    if not path.is_file():
        raise ValueError(f"esm_source: no JavaScript file {name!r} in {JS_DIR}")
    return (JS_DIR / "lib.js").read_text() + "\n" + path.read_text()


def _bounds(trait) -> dict:
    """What the page needs to clamp one input: its default, and its Enum values or numeric bounds."""
    out = {"default": trait.default_value}
    if isinstance(trait, traitlets.Enum):
        out["values"] = list(trait.values)
    elif isinstance(trait, (traitlets.Int, traitlets.Float)):
        out.update(min=trait.min, max=trait.max, int=isinstance(trait, traitlets.Int),
                   min_open=getattr(trait, "min_open", False))
    return out if len(out) > 1 else {}


class Explorable(anywidget.AnyWidget):
    """An anywidget whose ES module is ``lib.js`` plus the file named by ``_js``.

    Subclasses set ``_js = "name.js"``, ``kind``, ``checked_keys``, optionally
    :attr:`constants`, declare their inputs as synced traits with bounds, and
    define :meth:`reference`.
    """

    _js: str = ""
    #: Written to the root's ``data-lnb-kind``; unique among explorables.
    kind: ClassVar[str] = ""
    #: Keys of ``data-lnb-result`` that must agree with :meth:`reference`.
    checked_keys: ClassVar[tuple[str, ...]] = ()
    #: JSON-able constants the page reads from ``spec["constants"]`` (choices, tolerances, tables).
    constants: ClassVar[dict] = {}
    #: Every explorable class by its ``kind``, filled in as they are defined.
    registry: ClassVar[dict[str, type["Explorable"]]] = {}
    _css = (JS_DIR / "lib.css").read_text() if (JS_DIR / "lib.css").is_file() else ""

    #: Filled in by the base class: ``{"inputs": [...], "bounds": {...}, "constants": {...}}``.
    spec = traitlets.Dict().tag(sync=True)

    def __init__(self, **kwargs):
        unknown = sorted(set(kwargs) - set(self.input_names()) - {"layout"})
        if unknown:  # a misspelled input would otherwise be set as a plain attribute and do nothing
            raise TypeError(f"{type(self).__name__}() got unexpected argument(s) {', '.join(map(repr, unknown))}; "
                            f"its inputs are: {', '.join(self.input_names())}")
        super().__init__(spec=self.page_spec(), **kwargs)

    def _repr_mimebundle_(self, **kwargs):
        """The widget for a front end that draws widgets; for one that cannot (nbconvert, a plain console,
        a notebook viewer, the PDF), ``text/plain`` saying what it is and the numbers of its state."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):  # (data, metadata)
            data, meta = bundle
        else:
            data, meta = bundle, None
        data = dict(data or {})
        data["text/plain"] = self.describe()
        return (data, meta) if meta is not None else data

    def describe(self) -> str:
        """What this explorable is, in words: its first docstring line, its inputs, and where it draws."""
        cls = next((c for c in type(self).__mro__ if "kind" in c.__dict__), type(self))  # not a traitlets subclass
        doc = (cls.__doc__ or "").strip().split("\n")[0]
        shown = []
        for name in (n for n in cls.input_names() if not n.startswith("_")):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                value = f"<{np.asarray(value).shape} array>"
            shown.append(f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}")
        return (f"{cls.__name__}: {doc}\n  inputs: {', '.join(shown)}\n"
                "  (an explorable: it draws and computes in JupyterLab, Jupyter Notebook, Colab, VS Code "
                "or on the book's website; this front end shows only this text)")

    @classmethod
    def input_names(cls) -> list[str]:
        """The synced traits this class adds (its inputs), sorted by name."""
        base = set(anywidget.AnyWidget.class_trait_names()) | {"spec"}
        return sorted(n for n in cls.class_trait_names(sync=True) if n not in base)

    @classmethod
    def page_spec(cls) -> dict:
        """The ``spec`` trait: input names, their bounds and the class's constants, as the page gets them (JSON)."""
        traits = cls.class_traits()
        bounds = {n: b for n in cls.input_names() if (b := _bounds(traits[n]))}
        return json.loads(json.dumps({"inputs": cls.input_names(), "bounds": bounds, "constants": cls.constants}))

    @classmethod
    def reference(cls, result: dict) -> dict:
        """The numbers the page should show, recomputed in Python from the inputs in ``result``."""
        raise NotImplementedError(f"{cls.__name__} does not define reference()")

    def __setattr__(self, name, value):
        # traitlets' own checks (Int's bounds, Enum's values) raise a bare TraitError: make it a ValueError too.
        try:
            super().__setattr__(name, value)
        except traitlets.TraitError as err:
            if isinstance(err, ValueError):
                raise
            raise InvalidState(f"{type(self).__name__}.{name}: {err}") from None

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
