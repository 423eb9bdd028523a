"""helpers.figure_variants (a figure's phone and dark variants) and the website's renderer for them
(book/_ext/figure_variants.py). The browser side (one image shown, text >= 11 px at 390 px, no white card in
dark mode) is in test_site.py."""

import base64
import dataclasses
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from helpers import figure_variants as fv  # noqa: E402
from helpers import plots  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
import figure_variants as ext  # noqa: E402


def lines_figure(ncols=2):
    with plots.book_style():
        fig, axes = plots.subplots(2, ncols, height=5.0)
        for j in range(ncols):
            axes[0, j].plot(np.arange(10), np.arange(10) ** 0.5, color=plots.PALETTE["black"], label="none")
            axes[0, j].plot(np.arange(10), np.arange(10) ** 0.6, color=plots.PALETTE["blue"], label="layer")
            axes[0, j].fill_between(np.arange(10), 0, 1, color=plots.PALETTE["blue"], alpha=0.2)
            axes[0, j].set_title(f"batch size {j}")
            axes[1, j].plot(np.arange(10), -np.arange(10))
            axes[1, j].set_xlabel("epoch")
        axes[0, 0].legend(fontsize=7)
    return fig, axes


def luminance(color):
    r, g, b, _ = mcolors.to_rgba(color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_dark_color_mirrors_greys_and_keeps_colours():
    assert luminance(fv.dark_color("black")) > 0.8
    assert luminance(fv.dark_color("white")) < 0.15
    assert fv.dark_color("#dddddd")[0] < 0.3  # the grid: dark on the dark page, not bright
    for colour in plots.COLORS[:6]:  # the data's colours stay what the captions say
        assert fv.dark_color(colour) == mcolors.to_rgba(colour)
    assert fv.dark_color((0, 0, 0, 0.3))[3] == 0.3  # transparency kept


def test_variants_leave_the_figure_alone_and_draw_four():
    fig, axes = lines_figure()
    size, face = tuple(fig.get_size_inches()), fig.get_facecolor()
    colours = [t.get_color() for t in fig.findobj(Text)]
    out = fv.variants(fig)
    assert set(out) == {"wide-light", "phone-light", "wide-dark", "phone-dark"}
    assert tuple(fig.get_size_inches()) == size and fig.get_facecolor() == face
    assert [t.get_color() for t in fig.findobj(Text)] == colours
    for key, entry in out.items():
        png = base64.b64decode(entry["png"])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        w = int.from_bytes(png[16:20], "big")
        assert entry["width"] == w // 2  # CSS pixels: half the retina PNG's
    assert out["wide-light"]["width"] > 600  # 7 inches, tight bounding box
    assert 300 <= out["phone-light"]["width"] <= 380  # 3.5 inches
        # the legend's 7 pt is 9.7 px wide; on the phone no text is under 9 pt = 12.5 px
    assert out["wide-light"]["min_text_px"] == pytest.approx(7 * 100 / 72, abs=0.01)
    assert out["phone-light"]["min_text_px"] >= fv.PHONE_MIN_POINTS * 100 / 72 - 1e-9


def test_darken_recolours_text_axes_and_black_lines():
    fig, axes = lines_figure()
    fv.darken(fig)
    assert mcolors.to_hex(fig.get_facecolor()) == fv.DARK_BACKGROUND
    fig.canvas.draw()
    shown = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert shown and all(luminance(t.get_color()) > 0.5 for t in shown)  # tick labels, titles, legend
    assert luminance(axes[0, 0].lines[0].get_color()) > 0.5  # the black "none" line, now light
    assert mcolors.to_hex(axes[0, 0].lines[1].get_color()) == plots.PALETTE["blue"].lower()
    assert luminance(axes[0, 0].patch.get_facecolor()) < 0.15
    grid = axes[0, 0].xaxis.get_major_ticks()[0].gridline.get_color()
    assert luminance(grid) < 0.3


def spots(axes):
    return [(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in axes]


def test_phone_layout_stacks_panels_and_keeps_each_titled_column_together():
    fig, axes = lines_figure()  # 2 x 2, titles on the top row name the columns
    fv.phone_layout(fig)
    assert fig.get_size_inches()[0] == pytest.approx(fv.PHONE_WIDTH)
    assert spots([axes[0, 0], axes[1, 0], axes[0, 1], axes[1, 1]]) == [(0, 0), (1, 0), (2, 0), (3, 0)]
    with plots.book_style():
        fig2, axes2 = plots.subplots(1, 4, height=2.0)
        for ax in axes2:
            ax.plot([0, 1], [1, 0], label="a line")
        fig2.legend(*axes2[0].get_legend_handles_labels(), loc="outside right upper")
    fv.phone_layout(fig2)
    assert spots(axes2) == [(0, 0), (1, 0), (2, 0), (3, 0)]  # one a row
    assert not fig2.legends and axes2[0].get_legend() is not None  # the figure's legend moved inside
    frame = axes2[0].get_legend().get_frame()  # on a card: a curve under it no longer crosses its text
    assert axes2[0].get_legend().get_frame_on() and frame.get_alpha() >= 0.8
    assert len(axes2[0].xaxis.get_major_locator().tick_values(0, 1)) <= 6  # at most four intervals, and the ends


def test_phone_layout_turns_a_two_row_image_grid_into_two_columns_with_titles():
    with plots.book_style():
        fig, axes = plots.subplots(2, 5, height=3.0)
        for r in range(2):
            for c in range(5):
                axes[r, c].imshow(np.random.default_rng(r * 5 + c).random((4, 4)))
                if r == 0:
                    axes[r, c].set_title(f"layer {c + 1}")
    fv.phone_layout(fig)
    assert spots(axes[0]) == [(c, 0) for c in range(5)] and spots(axes[1]) == [(c, 1) for c in range(5)]
    assert [ax.get_title() for ax in axes[1]] == [f"layer {c + 1}" for c in range(5)]  # copied: each row says which


def test_phone_layout_puts_a_two_row_grid_of_small_multiples_in_two_short_columns():
    """Chapter 1's histograms (2 x 5, no y ticks) were ten panels one above the other: 2,660 px on a phone."""
    with plots.book_style():
        fig, axes = plots.subplots(2, 5, height=3.8, sharex=True)
        for r in range(2):
            for c in range(5):
                axes[r, c].hist(np.random.default_rng(r * 5 + c).normal(size=200), bins=20)
                axes[r, c].set_yticks([])
                if r == 0:
                    axes[r, c].set_title(f"layer {c + 1}")
                else:
                    axes[r, c].set_xlabel("$h$")
    fv.phone_layout(fig)
    assert spots(axes[0]) == [(c, 0) for c in range(5)] and spots(axes[1]) == [(c, 1) for c in range(5)]
    assert [ax.get_xlabel() for ax in axes[0]] == ["$h$"] * 5  # both columns say what the x axis is
    fig.canvas.draw()
    assert all(t.get_visible() and t.get_text() for t in axes[0, 0].get_xticklabels()[1:-1])  # sharex hid them
    assert fig.get_size_inches()[1] <= 5 * 1.8 + 0.01  # five short rows, not ten tall ones
    with plots.book_style():  # a 2 x 3 grid of line plots with y ticks still stacks one a row
        fig2, axes2 = plots.subplots(2, 3, height=3.0)
        for ax in axes2.ravel():
            ax.plot([0, 1], [0, 1])
    fv.phone_layout(fig2)
    assert sorted(c for _, c in spots(axes2.ravel())) == [0] * 6


def test_phone_layout_gives_images_with_colour_bars_a_row_each():
    """Chapter 6's 2 x 2 maps, each with a colour bar and a long title, were drawn two a row on a phone:
    a few pixels each, titles over each other. Each now gets the phone's width."""
    with plots.book_style():
        fig, axes = plots.subplots(2, 2, height=5.6)
        for ax in axes.ravel():
            im = ax.imshow(np.random.default_rng(0).random((8, 8)))
            ax.set_title("layer 1: fraction of the time on")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fv.phone_layout(fig)
    assert sorted(spots(axes.ravel())) == [(r, 0) for r in range(4)]
    fig.canvas.draw()
    widths = [ax.get_window_extent().width / fig.bbox.width for ax in axes.ravel()]
    assert min(widths) > 0.4, widths  # each map at least 40 % of the figure's width


def test_darken_makes_black_markers_light():
    with plots.book_style():
        fig, ax = plots.subplots()
        (line,) = ax.plot([1, 2, 3], [1, 2, 3], "x", color=plots.PALETTE["black"], label="layer norm")
        ax.legend()
    fv.darken(fig)
    assert luminance(line.get_markeredgecolor()) > 0.5 and luminance(line.get_color()) > 0.5
    handle = ax.get_legend().legend_handles[0]
    assert luminance(handle.get_markeredgecolor()) > 0.5


def test_phone_variant_fits_the_phone_even_with_a_colour_bar_and_long_labels():
    with plots.book_style():
        fig, axes = plots.subplots(1, 2, height=2.5)
        for ax in axes:
            im = ax.imshow(np.random.default_rng(0).random((8, 8)))
            ax.set_ylabel("a long label on the left of the panel")
        fig.colorbar(im, ax=axes, label="a colour bar's label, also long")
    out = fv.variants(fig)
    assert out["phone-light"]["width"] <= fv.PHONE_WIDTH * 100  # the tight box, colour bar included
    assert out["phone-dark"]["width"] == out["phone-light"]["width"]


def test_variants_refuse_a_non_figure():
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        fv.variants("a figure")


def test_png_with_variants_is_ipythons_retina_formatter_plus_metadata():
    from IPython.core.pylabtools import retina_figure

    fig, _ = lines_figure()
    data, meta = fv.png_with_variants(fig)
    ref_data, ref_meta = retina_figure(fig, base64=True)
    assert (meta["width"], meta["height"]) == (ref_meta["width"], ref_meta["height"])
    assert base64.b64decode(data)[:8] == base64.b64decode(ref_data)[:8]
    assert set(meta["lnbook_variants"]) == {"phone-light", "wide-dark", "phone-dark"}
    with plots.book_style():
        empty = matplotlib.figure.Figure()
    assert fv.png_with_variants(empty) is None


@dataclasses.dataclass
class FakeMime:
    mime_type: str
    content: str
    output_metadata: dict


class FakeRenderer:
    """myst-nb's renderer, as far as the plugin uses it: render_image writes one image node."""

    def __init__(self):
        self.written = []

    def render_image(self, data):
        from docutils import nodes

        self.written.append(data)
        image = nodes.image(uri=f"{len(self.written)}.png")
        meta = data.output_metadata["image/png"]
        image["width"], image["height"] = str(meta["width"]), str(meta["height"])
        return [image]


def test_renderer_writes_four_classed_images_or_leaves_the_output_alone():
    fig, _ = lines_figure()
    data, meta = fv.png_with_variants(fig)
    renderer = FakeRenderer()
    (box,) = ext.FigureVariants.handle_mime(renderer, FakeMime("image/png", data, {"image/png": meta}), False)
    assert box["classes"] == ["lnb-figure"] and len(box.children) == 4
    classes = [set(img["classes"]) for img in box.children]
    assert [c & {"lnb-fig-wide", "lnb-fig-phone", "lnb-fig-light", "lnb-fig-dark"} for c in classes] == [
        {"lnb-fig-wide", "lnb-fig-light"}, {"lnb-fig-phone", "lnb-fig-light"},
        {"lnb-fig-wide", "lnb-fig-dark"}, {"lnb-fig-phone", "lnb-fig-dark"}]
    assert f"lnb-text-px-{round(100 * meta['lnbook_min_text_px'])}" in classes[0]
    assert renderer.written[0].content == data  # the wide light image is the output's own PNG
    assert renderer.written[3].content == meta["lnbook_variants"]["phone-dark"]["png"]
    assert renderer.written[1].output_metadata["image/png"]["width"] == meta["lnbook_variants"]["phone-light"]["width"]
    # not ours: myst-nb renders it
    plain = {k: v for k, v in meta.items() if not k.startswith("lnbook")}
    assert ext.FigureVariants.handle_mime(renderer, FakeMime("image/png", data, {"image/png": plain}), False) is None
    assert ext.FigureVariants.handle_mime(renderer, FakeMime("image/png", data, {"image/png": meta}), True) is None
    assert ext.FigureVariants.handle_mime(renderer, FakeMime("text/plain", "x", {}), False) is None
