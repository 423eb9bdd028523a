"""The book's one figure style.

* Colours are the Okabe-Ito palette, distinguishable with the common forms of
  colour blindness; sequential data uses ``viridis`` and signed data ``RdBu_r``
  (both readable in greyscale order or by sign).
* Figures have an opaque white background with dark text, so they stay readable
  when the website is switched to dark mode (a transparent figure would put
  black text on a black page); the website shows them on a white card.
* Notebooks show figures as "retina" PNGs: drawn at twice ``figure.dpi`` and
  displayed at its size (a 7-inch figure: 1400 pixels shown 700 CSS pixels
  wide), so text stays sharp on high-density screens and when a phone shrinks
  the figure to its width.

Nothing changes at import: call :func:`use_book_style` once in a chapter's setup
cell, or wrap a block in ``with book_style(): ...``.
"""

from __future__ import annotations

import contextlib
import os

import matplotlib as mpl
import matplotlib.pyplot as plt

__all__ = ["PALETTE", "COLORS", "SEQUENTIAL", "DIVERGING", "STYLE", "use_book_style", "book_style", "subplots"]

#: Okabe & Ito (2008), "Color Universal Design": name -> hex.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}

#: The order in which lines are coloured (yellow last: weak on white).
COLORS = [PALETTE[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]

#: Colour maps: magnitudes and signed quantities.
SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"

#: rcParams applied by :func:`use_book_style`.
STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.figsize": (7.0, 3.6),
    "figure.constrained_layout.use": True,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "axes.edgecolor": "#333333",
    "axes.labelcolor": "#111111",
    "text.color": "#111111",
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=COLORS),
    "lines.linewidth": 2.0,
    "legend.frameon": False,
    "image.cmap": SEQUENTIAL,
}


def use_book_style() -> None:
    """Apply :data:`STYLE` to matplotlib for the rest of the session.

    In a Jupyter kernel it also makes inline figures retina PNGs (see the
    module's docstring); outside one (a script, the tests) only the style changes.
    """
    mpl.rcParams.update(STYLE)
    _use_retina_inline_figures()


def _use_retina_inline_figures() -> None:
    """Inline figures as PNGs at twice the resolution, displayed at their nominal size; in the book's
    build (``LNBOOK_FIGURE_VARIANTS=1``) with their phone and dark variants (:mod:`helpers.figure_variants`)."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # no IPython: nothing displays figures inline
        return
    ip = get_ipython()
    if ip is None:
        return
    set_matplotlib_formats("retina")
    if os.environ.get("LNBOOK_FIGURE_VARIANTS") == "1":
        from matplotlib.figure import Figure

        from .figure_variants import png_with_variants
        ip.display_formatter.formatters["image/png"].for_type(Figure, png_with_variants)


@contextlib.contextmanager
def book_style():
    """Context manager: the book's style inside the block, the previous style after."""
    with mpl.rc_context(STYLE):
        yield


def subplots(nrows: int = 1, ncols: int = 1, *, width: float = 7.0, height: float | None = None, **kwargs):
    """``plt.subplots`` sized by total width in inches (style: :func:`use_book_style`).

    Args:
        nrows, ncols: the grid of axes.
        width: figure width in inches (7 fits the book's text column).
        height: figure height; by default 3.2 inches per row.
        **kwargs: passed to :func:`matplotlib.pyplot.subplots`.

    Returns:
        ``(fig, axes)`` as :func:`matplotlib.pyplot.subplots` returns them.
    """
    if nrows < 1 or ncols < 1:
        raise ValueError(f"subplots: nrows and ncols must be >= 1, got {nrows} x {ncols}")
    height = 3.2 * nrows if height is None else height
    # No rc_context here: leaving one would also restore matplotlib's interactive
    # flag, and a notebook would stop showing figures. Call use_book_style() first.
    return plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)
