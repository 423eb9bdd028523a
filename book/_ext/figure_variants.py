"""Each figure as four images, of which the reader's screen loads one (issue 19).

The build's kernels draw every figure four times (``helpers.figure_variants``):
as Jupyter shows it (7 inches, light), laid out for a phone (3.5 inches, its
panels stacked, no text under 9 points), and both of those on the dark theme's
background. The three extra PNGs travel in the ``image/png`` output's metadata
(``lnbook_variants``), where Jupyter front ends ignore them.

This extension is a myst-nb mime renderer for such outputs: it writes the four
PNGs as four ``<img>`` in one ``<div class="lnb-figure">``, classed by size and
theme (``lnb-fig-wide``/``lnb-fig-phone``, ``lnb-fig-light``/``lnb-fig-dark``)
and by the smallest text each shows at its own size (``lnb-text-px-NNNN``,
hundredths of a CSS pixel, for the browser test). ``lnb-site.css`` shows the
one that fits the screen and the theme and hides the others (``display:
none``), and a hidden lazy image is never fetched, so a page weighs what it did
with one image per figure. Printing takes the wide light one. The alt text
(cell metadata) goes on all four; only the one shown is in the accessibility
tree. An output without variants renders as myst-nb renders it.
"""

from __future__ import annotations

import dataclasses

from docutils import nodes

#: (key in the output's metadata, size, theme); "wide-light" is the output's own PNG.
VARIANTS = (("wide-light", "wide", "light"), ("phone-light", "phone", "light"),
            ("wide-dark", "wide", "dark"), ("phone-dark", "phone", "dark"))


class FigureVariants:
    """myst-nb mime render plugin (``handle_mime``) for figures with ``lnbook_variants``."""

    mime_priority_overrides = ()

    @staticmethod
    def handle_mime(renderer, data, inline):
        if inline or data.mime_type != "image/png":
            return None
        meta = data.output_metadata.get("image/png", {})
        found = meta.get("lnbook_variants")
        if not isinstance(found, dict) or any(key not in found for key, _, _ in VARIANTS[1:]):
            return None
        entries = {"wide-light": {"png": data.content, "width": meta.get("width"), "height": meta.get("height"),
                                  "min_text_px": meta.get("lnbook_min_text_px")}, **found}
        box = nodes.container(classes=["lnb-figure"])
        for key, size, theme in VARIANTS:
            entry = entries[key]
            size_meta = {k: entry[k] for k in ("width", "height") if entry.get(k)}
            one = dataclasses.replace(data, content=entry["png"], output_metadata={"image/png": size_meta})
            (image,) = renderer.render_image(one)
            image["classes"] += ["lnb-fig", f"lnb-fig-{size}", f"lnb-fig-{theme}"]
            if entry.get("min_text_px") is not None:
                image["classes"].append(f"lnb-text-px-{round(100 * float(entry['min_text_px']))}")
            box += image
        return [box]


def setup(app):
    from myst_nb.core.render import load_mime_renders

    plugins = load_mime_renders()  # myst-nb's cached list of plugins (entry points): ours joins it
    if not any(isinstance(p, FigureVariants) or p is FigureVariants for p in plugins):
        plugins.append(FigureVariants)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
