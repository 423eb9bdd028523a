"""Numbers in the prose, computed by the chapter's own code.

Every number the book's text states is produced by a code cell and *glued*
into the prose with MyST's ``{glue:text}`` role (for example
``{glue:text}`name:.3f```), so it
changes when the code does. :func:`glue` hands a value to ``myst_nb.glue`` when
the notebook is executed by the book build; where ``myst_nb`` is not installed
(Colab, a bare Jupyter), it prints ``name = value`` so the reader still sees it.
"""

from __future__ import annotations

__all__ = ["glue"]


def glue(name: str, value, display: bool = False):
    """Record ``value`` under ``name`` for the prose; return ``value``.

    Args:
        name: the key the text refers to, e.g. ``"ch1_max_err"``; letters,
            digits and underscores.
        value: a number, string, or anything with a rich display (a figure).
        display: also show the value in the cell's output.
    """
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise ValueError(f"glue: name must be letters, digits and underscores, got {name!r}")
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:  # no book toolchain: show the value instead
        print(f"{name} = {value}")
        return value
    _myst_glue(name, value, display=display)
    return value
