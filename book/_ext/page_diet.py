"""A lighter page: what the theme and Sphinx load that a chapter does not need.

Measured on the built site (issue 19), a chapter page transferred 8-9 MB on its
first load. Besides the widget loader (``widget_loader.py``) this extension
takes off:

* ``fontawesome.js`` (1.5 MB, the pydata theme's, for about ten icons): the
  icons are written into the page at build time as inline SVG
  (``<svg class="svg-inline--fa fa-sun">``, what Font Awesome's script would
  have made, so the theme's CSS applies), from :data:`lnb_icons.ICONS`; the
  few rules of Font Awesome's CSS they need are in ``lean_static/lnb-icons.css``;
* Sphinx's search scripts and ``searchindex.js`` on every page but the search
  page: the theme's search box (``search_as_you_type`` off) only sends the
  reader to ``search.html``, which loads them;
* MathJax on pages with no mathematics (the intro loaded it because its table
  of contents includes pages that have some), and on pages with some, MathJax
  run while the page is parsed: it is fetched at once and run after the
  explorables have drawn (:data:`MATHJAX_AFTER_WIDGETS`);
* the theme's icon font (156 kB, for the dozen glyphs its CSS puts in
  admonition titles and links): a subset of it, a few kB, written at the end
  of the build (:func:`subset_icon_font`);
* eager figures: every ``<img>`` in the text gets ``loading="lazy"``,
  ``decoding="async"`` and its ``width``/``height`` (read from the file), so
  the page does not jump as figures arrive and the ones below the fold wait
  until the reader scrolls near them.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from markupsafe import Markup
from sphinx.util import logging

import offline_assets
from lnb_icons import ICONS, VIEWBOX

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("page_templates")
STATIC = Path(__file__).with_name("lean_static")

#: Sphinx's search machinery, needed on search.html only.
SEARCH_SCRIPTS = re.compile(
    r'\s*<script src="[^"]*(?:_static/searchtools\.js|_static/language_data\.js|searchindex\.js)[^"]*"></script>')
FONTAWESOME = re.compile(r'\s*(?:<!--[^>]*custom icons[^>]*-->\s*)?<script defer src="[^"]*fontawesome\.js[^"]*"></script>')
ICON = re.compile(r'<(i|span) class="([^"]*\bfa-[a-z0-9-]+[^"]*)"([^>]*)>\s*</\1>')
TITLE = re.compile(r'\s*title="[^"]*"')
#: Font Awesome classes that say how, not which icon.
FA_STYLE = {"fa", "fas", "far", "fab", "fa-solid", "fa-regular", "fa-brands", "fa-lg", "fa-fw", "fa-xs",
            "fa-sm", "fa-xl", "fa-2x", "fa-3x", "fa-spin", "fa-pulse"}
#: Font Awesome's family classes: the SVG its script makes carries none of them.
FA_FAMILY = {"fa", "fas", "far", "fab", "fa-solid", "fa-regular", "fa-brands"}
IMG = re.compile(r"<img\b([^>]*?)\s*/?>")
STYLE_SIZE = re.compile(r'style="width:\s*([\d.]+)px;\s*height:\s*([\d.]+)px;?"')


def add_templates(app, config) -> None:
    """config-inited: our layout.html (page_templates/) extends the theme's; lean_static/ is served."""
    config.templates_path = [str(TEMPLATES), *config.templates_path]
    if str(STATIC) not in config.html_static_path:
        config.html_static_path = [*config.html_static_path, str(STATIC)]


def svg_icon(classes: str, attributes: str = "") -> str | None:
    """The inline SVG for a Font Awesome ``<i class=...>``, or None if the icon is not in ICONS."""
    names = classes.split()
    pack = "fab" if {"fab", "fa-brands"} & set(names) else "far" if {"far", "fa-regular"} & set(names) else "fas"
    icon = next((n[3:] for n in names if n.startswith("fa-") and n not in FA_STYLE), None)
    path = ICONS.get(f"{pack}:{icon}")
    if path is None:
        return None
    w, h = VIEWBOX.get(f"{pack}:{icon}", (512, 512))
    # as Font Awesome's script writes it: without the family class, which the theme's CSS reads as "an <i>
    # still to be replaced" (.bd-search .fa-solid.fa-magnifying-glass is absolute, over the search field's text)
    extra = " ".join(n for n in names if n not in FA_FAMILY)
    # the element's other attributes (the theme switch's data-mode) stay; a title would name a hidden icon
    attributes = TITLE.sub("", attributes).rstrip()
    return (f'<svg class="svg-inline--fa {extra}"{attributes} aria-hidden="true" focusable="false" '
            f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}"><path fill="currentColor" d="{path}"/></svg>')


def lnb_icons(html: str) -> Markup:
    """Jinja filter: every empty Font Awesome ``<i>`` becomes its inline SVG."""
    def swap(m):
        svg = svg_icon(m.group(2), m.group(3))
        if svg is None:
            logger.warning("page_diet: no inline SVG for the icon %r: add it to book/_ext/lnb_icons.py", m.group(2))
            return m.group(0)
        return svg
    return Markup(ICON.sub(swap, str(html)))


def lnb_diet(html: str, pagename: str = "") -> Markup:
    """Jinja filter: the page head without fontawesome.js, and without the search scripts off the search page."""
    html = FONTAWESOME.sub("", str(html))
    if pagename != "search":
        html = SEARCH_SCRIPTS.sub("", html)
    return Markup(html)


def add_filters(app) -> None:
    """builder-inited: register the template filters."""
    templates = getattr(app.builder, "templates", None)
    if templates is not None and hasattr(templates, "environment"):
        templates.environment.filters["lnb_icons"] = lnb_icons
        templates.environment.filters["lnb_diet"] = lnb_diet


def image_size(path: Path) -> tuple[int, int] | None:
    """Pixel width and height of a PNG, GIF or JPEG file (None for anything else)."""
    try:
        with path.open("rb") as f:
            head = f.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n"):
                return struct.unpack(">II", head[16:24])
            if head[:6] in (b"GIF87a", b"GIF89a"):
                return struct.unpack("<HH", head[6:10])
            if head.startswith(b"\xff\xd8"):
                f.seek(2)
                while True:
                    marker, size = struct.unpack(">2sH", f.read(4))
                    if marker[0] != 0xFF:
                        return None
                    if marker[1] in (0xC0, 0xC1, 0xC2):
                        h, w = struct.unpack(">xHH", f.read(5))
                        return w, h
                    f.seek(size - 2, 1)
    except (OSError, struct.error):
        return None
    return None


def lazy_images(app, pagename, templatename, context, doctree) -> None:
    """html-page-context: figures in the text load lazily, with their size known before they arrive."""
    body = context.get("body")
    if not body or "<img" not in body:
        return
    sources = {Path(dest).name: Path(src) for src, dest in getattr(app.builder, "images", {}).items()}

    def attrs(m):
        inner = m.group(1)
        if "loading=" not in inner:
            inner += ' loading="lazy" decoding="async"'
        src = re.search(r'\bsrc="([^"]+)"', inner)
        if src and "width=" not in inner and "height=" not in inner and not src.group(1).startswith("data:"):
            # the size it is shown at (a retina figure's style), else the file's own
            shown = STYLE_SIZE.search(inner)
            file = sources.get(Path(src.group(1).split("?")[0]).name)
            size = (round(float(shown[1])), round(float(shown[2]))) if shown else image_size(file) if file else None
            if size:
                inner += f' width="{size[0]}" height="{size[1]}"'
        return f"<img{inner} />"

    context["body"] = IMG.sub(attrs, body)


#: Appended to the page's MathJax configuration, in place of MathJax's own script tag: the script (0.76 MB
#: with the components ``startup.js`` loads, offline_assets.py) is fetched at once (preloads) but run only
#: once the page's explorables have drawn (``window.lnbWidgetsReady``, set by ``lnb-widgets.js``; at most 1.5 s after DOMContentLoaded). Run while
#: the page was parsed and typesetting inside DOMContentLoaded, it held up the explorables' first drawing by
#: 0.3 to 0.7 s (chapters 2 and 4); the formulas are typeset about when they were before, as MathJax waited for
#: DOMContentLoaded anyway. ``{src}`` is the script's address relative to the page, ``{parts}`` the components
#: to preload beside it.
MATHJAX_AFTER_WIDGETS = """;(function () {{
  var src = {src}, base = src.replace(/[^\\/]*$/, "");
  [src].concat({parts}.map(function (p) {{ return base + p; }})).forEach(function (href) {{
    var pre = document.createElement("link");
    pre.rel = "preload"; pre.as = "script"; pre.href = href;
    document.head.appendChild(pre);
  }});
  var load = function () {{
    if (load.done) return;
    load.done = true;
    var s = document.createElement("script");
    s.src = src; s.async = true; s.id = "MathJax-script";
    document.head.appendChild(s);
  }};
  document.addEventListener("DOMContentLoaded", function () {{
    var w = window.lnbWidgetsReady;
    if (!w) return load();
    Promise.race([w, new Promise(function (r) {{ setTimeout(r, 1500); }})]).then(load, load);
  }});
}})();"""


def mathjax_where_needed(app, pagename, templatename, context, doctree) -> None:
    """html-page-context: no MathJax on a page whose body has no formula; where there is one, MathJax runs
    after the page's explorables have drawn (:data:`MATHJAX_AFTER_WIDGETS`)."""
    from sphinx.builders.html._assets import _JavaScript

    scripts, body = context.get("script_files"), context.get("body") or ""
    if not scripts:
        return
    paths = {app.config.mathjax_path, f"_static/{app.config.mathjax_path}"}  # as given, and as add_js_file stores it
    is_config = [str(js.attributes.get("body", "")).startswith("window.MathJax") for js in scripts]
    is_script = [js.filename in paths for js in scripts]
    if 'class="math' not in body:
        scripts[:] = [js for js, config, script in zip(scripts, is_config, is_script) if not (config or script)]
        return
    if not any(is_script) or not any(is_config):
        return
    path = str(app.config.mathjax_path)
    src = path if "://" in path else context["pathto"](path if path.startswith("_static/") else f"_static/{path}", 1)
    # the components startup.js's loader will ask for (offline_assets.py), where it is startup.js
    parts = offline_assets.MATHJAX_PRELOAD if path.endswith("/startup.js") else []
    after = MATHJAX_AFTER_WIDGETS.format(src=json.dumps(src), parts=json.dumps(parts))
    scripts[:] = [_JavaScript(js.filename, priority=js.priority,
                              **{**js.attributes, "body": js.attributes["body"] + after}) if config else js
                  for js, config, script in zip(scripts, is_config, is_script) if not script]


#: The theme's icon font, drawn from by its CSS (admonition titles, breadcrumbs, external links).
FA_SOLID = "vendor/fontawesome/webfonts/fa-solid-900.ttf"
#: Icon characters in the private use area, written literally (--pst-icon-*) or escaped.
PUA = re.compile("[\ue000-\uf8ff]")
ESCAPE = re.compile(r"\\(f[0-9a-f]{3})\b")


def subset_icon_font(app, exception) -> None:
    """build-finished: the theme's solid icon font cut down to the characters its CSS shows.

    The full font (``fa-solid-900.woff2``, 156 kB) loaded on every page with an
    admonition for a dozen glyphs. ``lnb-icons.css`` declares the same family and
    weight from ``_static/lnb-fa-solid.woff`` (declared later, so it is the face
    the browser uses): the glyphs named in the site's CSS, except the full list
    of ``.fa-*`` classes in the theme's copy of Font Awesome's CSS, which no page uses.
    """
    if exception or app.builder.format != "html":
        return
    import pydata_sphinx_theme

    source = Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static" / FA_SOLID
    static = Path(app.builder.outdir, "_static")
    codepoints = set()
    for css in static.rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="ignore")
        codepoints |= {ord(c) for c in PUA.findall(text)}
        if css.name != "pydata-sphinx-theme.css":
            codepoints |= {int(h, 16) for h in ESCAPE.findall(text)}
    if not source.exists() or not codepoints:
        logger.warning("page_diet: cannot subset the icon font (%s, %d characters)", source, len(codepoints))
        return
    from fontTools import subset

    options = subset.Options()
    options.flavor = "woff"  # zlib: woff2 would need brotli
    options.layout_features = []
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(codepoints))
    subsetter.subset(font)
    subset.save_font(font, str(static / "lnb-fa-solid.woff"), options)


def setup(app):
    app.connect("config-inited", add_templates)
    app.connect("builder-inited", add_filters)
    app.connect("html-page-context", lazy_images)
    # after sphinx.ext.mathjax adds its scripts (default priority)
    app.connect("html-page-context", mathjax_where_needed, priority=960)
    app.add_css_file("lnb-icons.css")
    app.connect("build-finished", subset_icon_font, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
