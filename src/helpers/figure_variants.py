"""A figure's phone and dark variants, drawn when the book is built.

The book's figures are 7 inches wide (700 CSS pixels, :mod:`helpers.plots`). A
phone shrinks them to its column, about 350 CSS pixels, and their 8-11 point
text to 5-7 pixels; on the website's dark theme their white background glares.
So the build draws each figure three more times, from a copy:

* **phone**: :data:`PHONE_WIDTH` inches wide as drawn (tight bounding box
  included: a figure whose colour bar or labels stick out is shrunk until it
  fits), shown at its own size on a phone: panels stacked (images two a row),
  legends inside the axes, fewer ticks, no text under :data:`PHONE_MIN_POINTS`
  (:func:`phone_layout`);
* **dark**: the same figure on the dark theme's background, its greys and
  black mirrored in lightness (text, axes, grid, black lines); the colours of
  the data (:data:`helpers.plots.PALETTE`, colour maps) are kept;
* **phone and dark**: both.

:func:`png_with_variants` is an IPython formatter for figures: it returns the
figure's retina PNG as Jupyter shows it, with the variants in the output's
metadata (``metadata["lnbook_variants"]``), which front ends ignore and the
website's build turns into images that only the matching screen loads
(``book/_ext/figure_variants.py``). :func:`helpers.plots.use_book_style`
installs it when ``LNBOOK_FIGURE_VARIANTS=1`` (the book's build sets it); a
reader's kernel draws each figure once. Nothing happens at import.
"""

from __future__ import annotations

import base64
import math
import pickle
from io import BytesIO

import matplotlib.colors as mcolors
import matplotlib.ticker as ticker
from matplotlib.collections import Collection
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from ._checks import check_instance

__all__ = ["PHONE_WIDTH", "PHONE_MIN_POINTS", "DARK_BACKGROUND", "VARIANTS", "dark_color", "darken",
           "phone_layout", "min_text_points", "render_png", "variants", "png_with_variants"]

#: Width of the phone variant, inches (CSS pixels / 100 at the book's ``figure.dpi``): a 390-pixel
#: phone's text column is about 350 pixels wide.
PHONE_WIDTH = 3.5
#: The smallest font size of the phone variant, points: 9 pt is 12.5 CSS pixels at ``figure.dpi`` 100.
PHONE_MIN_POINTS = 9.0
#: The dark theme's page background (pydata-sphinx-theme's ``--pst-color-background`` in dark mode).
DARK_BACKGROUND = "#121212"
#: The variants, as ``(size, theme)``; ``("wide", "light")`` is the figure itself.
VARIANTS = (("wide", "light"), ("phone", "light"), ("wide", "dark"), ("phone", "dark"))

#: Colours whose channels differ by less than this are greys, mirrored in dark mode.
_GREY = 0.12


def dark_color(color):
    """The dark theme's colour for ``color``: a grey (black and white included) is mirrored in lightness
    (black becomes light grey, white the dark background's shade), any other colour is kept. RGBA tuple."""
    r, g, b, a = mcolors.to_rgba(color)
    if max(r, g, b) - min(r, g, b) >= _GREY:
        return (r, g, b, a)
    v = 0.90 - 0.80 * (r + g + b) / 3  # 0 (black) -> 0.90; 1 (white) -> 0.10; #dddddd (grid) -> 0.21
    return (v, v, v, a)


def _is_color(c):
    return not (isinstance(c, str) and c in ("none", "None", "auto", "face", "inherit"))


def _tick_artists(ax):
    """The ticks' own artists (marks, labels, grid lines), recoloured by ``tick_params``: an axis makes new
    ticks from those settings when it draws."""
    for axis in ax._axis_map.values():
        for tick in axis.get_major_ticks() + axis.get_minor_ticks():
            yield from (tick.tick1line, tick.tick2line, tick.gridline, tick.label1, tick.label2)


def darken(fig):
    """Recolour ``fig`` in place for the dark theme (see :func:`dark_color`); returns ``fig``."""
    ticks = []
    for ax in fig.axes:
        for axis in ax._axis_map.values():
            tick = axis.get_major_ticks()[0] if axis.get_major_ticks() else None
            if tick is not None:
                ticks.append((ax, "x" if axis is ax.xaxis else "y", tick.tick1line.get_markeredgecolor(),
                              tick.label1.get_color(), tick.gridline.get_color()))
    skip = {id(a) for ax in fig.axes for a in _tick_artists(ax)}
    skip.update({id(fig.patch)} | {id(ax.patch) for ax in fig.axes})
    fig.patch.set_facecolor(DARK_BACKGROUND)
    fig.patch.set_edgecolor(DARK_BACKGROUND)
    for ax in fig.axes:
        ax.patch.set_facecolor(dark_color(ax.patch.get_facecolor()))
    for artist in fig.findobj():
        if id(artist) in skip:
            continue
        if isinstance(artist, Text):
            artist.set_color(dark_color(artist.get_color()))
        elif isinstance(artist, Line2D):
            # marker colours first, from what was set: "auto" follows the line's colour (mapped once, below)
            for raw, get, set_ in ((artist._markerfacecolor, artist.get_markerfacecolor, artist.set_markerfacecolor),
                                   (artist._markeredgecolor, artist.get_markeredgecolor, artist.set_markeredgecolor)):
                if raw is not None and _is_color(raw) and _is_color(get()):
                    set_(dark_color(get()))
            artist.set_color(dark_color(artist.get_color()))
        elif isinstance(artist, Patch):
            if artist.get_fill():
                artist.set_facecolor(dark_color(artist.get_facecolor()))
            artist.set_edgecolor(dark_color(artist.get_edgecolor()))
        elif isinstance(artist, Collection):
            if artist.get_array() is None and len(artist.get_facecolors()):  # not colour-mapped
                artist.set_facecolors([dark_color(c) for c in artist.get_facecolors()])
            if len(artist.get_edgecolors()):
                artist.set_edgecolors([dark_color(c) for c in artist.get_edgecolors()])
    for ax, which, mark, label, grid in ticks:  # last: the loop above leaves the ticks alone
        ax.tick_params(axis=which, which="both", color=dark_color(mark), labelcolor=dark_color(label),
                       grid_color=dark_color(grid))
    return fig


def _grid(fig):
    """``(nrows, ncols, [(axes, row, col)])`` of the axes in one grid of one cell each, or ``None``."""
    cells, geometry = [], None
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is None:  # a colour bar, an inset: it follows its parent
            continue
        gs = spec.get_gridspec()
        if geometry is None:
            geometry = gs
        if gs is not geometry or len(spec.rowspan) != 1 or len(spec.colspan) != 1:
            return None
        cells.append((ax, spec.rowspan.start, spec.colspan.start))
    if geometry is None:
        return None
    nrows, ncols = geometry.get_geometry()
    return nrows, ncols, cells


def _has_colorbars(fig):
    return any(getattr(ax, "_colorbar", None) is not None for ax in fig.axes)


def _is_image(ax):
    return bool(ax.images) or any(c.get_array() is not None for c in ax.collections)


def _phone_legends(fig, min_points):
    """Every legend rebuilt for a phone inside an axes (``loc="best"``, on a card of the axes' colour that hides
    what runs under it), in one column, at ``min_points``:
    a legend beside the panels, on the figure, or wider than its axes (several columns) would take the
    panels' room, since the layout keeps a legend in view."""
    moves = [(legend, next((ax for ax in fig.axes if ax.get_legend() is None and ax.get_subplotspec() is not None),
                           None)) for legend in list(fig.legends)]
    moves += [(ax.get_legend(), ax) for ax in fig.axes if ax.get_legend() is not None]
    for legend, ax in moves:
        if ax is None:
            continue
        handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
        title = legend.get_title().get_text()
        legend.remove()
        if legend in fig.legends:
            fig.legends.remove(legend)
        # on a mostly opaque card of the axes' colour: in a phone's small axes "best" still often lies on a
        # curve, which then ran through the entries' text (chapters 2, 4, 7-10: the second look)
        ax.legend(handles, labels, loc="best", ncol=1, fontsize=min_points, title=title or None,
                  title_fontsize=min_points, handlelength=1.5, frameon=True, framealpha=0.85,
                  edgecolor="none", borderpad=0.3)


def _fewer_ticks(ax, nbins=4):
    """At most ``nbins`` intervals on a linear axis whose ticks matplotlib chose (set ticks are kept)."""
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "linear" and type(axis.get_major_locator()) is ticker.AutoLocator:
            axis.set_major_locator(ticker.MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]))


def phone_layout(fig, width=PHONE_WIDTH, min_points=PHONE_MIN_POINTS):
    """Lay ``fig`` out in place for a phone, ``width`` inches wide, with no text smaller than ``min_points``:

    * panels side by side are stacked, one a row (a grid whose titles name its columns, column by
      column; else row by row); a grid of images keeps two a row (one a row if they have colour
      bars), and a two-row grid of images or
      of small multiples (panels without y ticks, such as histograms of shapes) becomes two columns,
      the original rows, each phone row one original column (its title copied onto both panels,
      and the x axis labelled on both);
    * each panel about as tall for its width as before (1.8-2.8 inches; images 1.6-2.8; small
      multiples 1.6-1.8: their shape is what they show, not their scale);
    * every legend inside an axes, in one column (:func:`_phone_legends`), and linear axes get
      at most four tick intervals.

    Returns ``fig``."""
    fig_w, fig_h = fig.get_size_inches()
    grid = _grid(fig)
    _phone_legends(fig, min_points)
    for ax in fig.axes:
        _fewer_ticks(ax)
    if grid is not None and grid[1] > 1:
        nrows, ncols, cells = grid
        images = all(_is_image(ax) for ax, _, _ in cells)
        multiples = not images and all(len(ax.get_yticks()) == 0 for ax, _, _ in cells)
        titled = {r for ax, r, _ in cells if ax.get_title()}
        if (images or multiples) and nrows == 2 and ncols > 2:  # (r, c) -> (c, r): an original column is a phone row
            cols, rows = 2, ncols
            gs = fig.add_gridspec(rows, cols)
            tops = {c: ax.get_title() for ax, r, c in cells if r == 0}
            bottoms = {c: ax.get_xlabel() for ax, r, c in cells if r == 1}
            for ax, r, c in cells:
                ax.set_subplotspec(gs[c, r])
                if r == 1 and not ax.get_title() and tops.get(c):
                    ax.set_title(tops[c])
                if multiples:  # side by side now, not one above the other: each shows its x axis
                    ax.tick_params(labelbottom=True)
                    if not ax.get_xlabel() and bottoms.get(c):
                        ax.set_xlabel(bottoms[c])
        else:
            # two images a row, unless they carry colour bars: beside a bar and its ticks, two images
            # in a phone's width were a few pixels each (chapter 6's 2 x 2 maps, titles over each other)
            cols = 2 if images and not _has_colorbars(fig) else 1
            by_column = titled == {0} and nrows > 1
            order = sorted(cells, key=lambda cell: (cell[2], cell[1]) if by_column else (cell[1], cell[2]))
            rows = math.ceil(len(order) / cols)
            gs = fig.add_gridspec(rows, cols)
            for i, (ax, _, _) in enumerate(order):
                ax.set_subplotspec(gs[i // cols, i % cols])
                if cols == 1:  # a shared axis's labels were left on the outer panels only: each panel gets its own
                    ax.tick_params(labelleft=True, labelbottom=True)
        aspect = (fig_h / nrows) / (fig_w / ncols)  # a panel's height / width before
        panel_h = min(1.8 if multiples else 2.8, max(1.6 if images or multiples else 1.8, aspect * width / cols))
        fig.set_size_inches(width, panel_h * rows + 0.3 * (fig._suptitle is not None))
    else:
        fig.set_size_inches(width, min(max(fig_h, 2.4), max(2.4, fig_h * width / fig_w * 1.4)))
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if tick.label1.get_fontsize() < min_points:
                    ax.tick_params(axis="x" if axis is ax.xaxis else "y", which="both", labelsize=min_points)
                    break
    for text in fig.findobj(Text):
        if text.get_fontsize() < min_points:
            text.set_fontsize(min_points)
    return fig


def min_text_points(fig):
    """The smallest font size, in points, of the text ``fig`` shows, as last drawn (draw it first: the
    axes make their tick labels when drawn)."""
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) if sizes else None


def render_png(fig):
    """``fig`` as Jupyter's retina PNG: ``(png bytes, width, height)``, the size in CSS pixels
    (half the PNG's pixels; tight bounding box, the figure's face colour)."""
    buf = BytesIO()
    fig.canvas.print_figure(buf, format="png", dpi=2 * fig.dpi, bbox_inches="tight",
                            facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
    data = buf.getvalue()
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # the PNG's IHDR chunk
    return data, w // 2, h // 2


def _entry(fig):
    data, w, h = render_png(fig)  # draws the figure: its tick labels exist from here on
    points = min_text_points(fig)
    return {"png": base64.b64encode(data).decode("ascii"), "width": w, "height": h,
            "min_text_px": None if points is None else round(points * fig.dpi / 72, 2)}


def _settled(fig, draws=4):
    """:func:`_entry` once the layout has settled: constrained layout moves a colour bar shared by several
    axes a little on each draw (378, 377, then 361 px wide), so the light and the dark variant, drawn one
    after the other, differed in size."""
    entry = _entry(fig)
    for _ in range(draws - 1):
        again = _entry(fig)
        if (again["width"], again["height"]) == (entry["width"], entry["height"]):
            return again
        entry = again
    return entry


def variants(fig, blob=None):
    """The four variants of ``fig`` (:data:`VARIANTS`), each drawn from a copy: ``{"wide-light": entry, ...}``,
    an entry being ``{"png": base64, "width": css px, "height": css px, "min_text_px": css px}``. The
    figure itself is not changed. ``blob``: ``pickle.dumps(fig)`` if the caller has it. Raises
    ``TypeError`` for anything but a matplotlib figure."""
    from matplotlib.figure import Figure
    check_instance(fig, Figure, "fig", "variants", "a matplotlib Figure")
    blob = pickle.dumps(fig) if blob is None else blob
    out = {"wide-light": _entry(fig)}
    phone = phone_layout(pickle.loads(blob))
    out["phone-light"] = entry = _settled(phone)
    for _ in range(4):  # what sticks out of the axes (a colour bar, a long label) widens the tight box: shrink it
        if entry["width"] <= PHONE_WIDTH * phone.dpi:
            break
        shrink = 0.99 * PHONE_WIDTH * phone.dpi / entry["width"]  # both sides: a square image is as wide as it is tall
        phone.set_size_inches(*(phone.get_size_inches() * shrink))
        before = entry["width"]
        out["phone-light"] = entry = _settled(phone)
        if entry["width"] > before - 2:  # what sticks out does not shrink with the figure: stop
            break
    out["phone-dark"] = _entry(darken(phone))
    out["wide-dark"] = _entry(darken(pickle.loads(blob)))
    return out


def png_with_variants(fig):
    """IPython ``image/png`` formatter: ``(base64 PNG, metadata)`` as IPython's retina formatter returns them,
    plus ``metadata["lnbook_variants"]`` (:func:`variants`, the wide light one left out: it is the PNG).
    ``None`` for an empty figure, as IPython's."""
    if not fig.axes and not fig.lines:
        return None
    try:
        blob = pickle.dumps(fig)
    except (pickle.PicklingError, TypeError, AttributeError):  # a figure that cannot be copied: no variants
        data, w, h = render_png(fig)
        return base64.b64encode(data).decode("ascii"), {"width": w, "height": h}
    found = variants(fig, blob)
    main = found.pop("wide-light")
    return main["png"], {"width": main["width"], "height": main["height"], "lnbook_variants": found,
                         "lnbook_min_text_px": main["min_text_px"]}
