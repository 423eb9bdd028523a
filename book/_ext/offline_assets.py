"""Make the built website self-contained: no request leaves the local server.

Jupyter Book's pages load require.js, the Jupyter widgets html-manager,
anywidget and MathJax from CDNs. This extension copies pinned copies of them
from ``node_modules`` (installed by ``npm ci`` from ``package-lock.json``) into
``_static/lnb-assets/`` and points ``mathjax_path`` and ``nb_ipywidgets_js`` at
them. A small shim (``widgets-offline.js``, written below) does three things
before the html-manager runs:

1. tells require.js where the local ``anywidget`` module is, so the
   html-manager's loader finds it before it would fall back to a CDN, and
   where the ``@jupyter-widgets/*`` modules live, so the icon fonts their
   CSS names (Font Awesome, for ``Button(icon=...)``) load from the site;
2. sets ``__jupyter_widgets_assets_path__`` so the widgets' fonts load locally;
3. bridges the MathJax 2 call the html-manager makes (``MathJax.Hub.Queue``)
   to MathJax 3's ``typesetPromise``.

It also removes exact duplicate ``<script>`` entries (sphinx-thebe 0.3.1 adds its
configuration script twice, which is a page error on every page).

Without ``node_modules`` the build keeps the CDN defaults and says so loudly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

#: Folder under ``_static`` in the built site (not ``vendor``: the theme has one).
ASSET_DIR = "lnb-assets"

#: What the pages need, as (source under node_modules, destination under ASSET_DIR).
COPIES = [
    ("requirejs/require.js", "require.js"),
    ("anywidget/dist/index.js", "anywidget/index.js"),
    ("@jupyter-widgets/html-manager/dist", "html-manager"),
    # MathJax as components (761 kB) rather than the combined tex-mml-chtml.js (1.17 MB), whose
    # largest part is the right-click menu (426 kB): see MATHJAX_COMPONENTS.
    ("mathjax/es5/startup.js", "mathjax/startup.js"),
    ("mathjax/es5/core.js", "mathjax/core.js"),
    ("mathjax/es5/input/tex.js", "mathjax/input/tex.js"),
    ("mathjax/es5/output/chtml.js", "mathjax/output/chtml.js"),
    ("mathjax/es5/output/chtml/fonts/tex.js", "mathjax/output/chtml/fonts/tex.js"),
    ("mathjax/es5/output/chtml/fonts/woff-v2", "mathjax/output/chtml/fonts/woff-v2"),
    ("mathjax/es5/input/tex/extensions", "mathjax/input/tex/extensions"),
    ("mathjax/es5/a11y/assistive-mml.js", "mathjax/a11y/assistive-mml.js"),
]
#: The MathJax components a page loads (by ``startup.js``'s loader, from the folder it was served from):
#: TeX input with its default packages (others autoload from ``input/tex/extensions``), HTML output, and
#: the hidden MathML screen readers read. Not the menu: the book turned its Tab stops off, and a formula's
#: TeX source is in the page's own source (a reader copies it from there).
MATHJAX_COMPONENTS = ["input/tex", "output/chtml", "a11y/assistive-mml"]
#: Fetched at once by the page (``<link rel="preload">``, page_diet.py) so the loader's chain of
#: requests (startup, then core, then input and output, then the font) costs no round trips.
MATHJAX_PRELOAD = ["core.js", "input/tex.js", "output/chtml.js", "output/chtml/fonts/tex.js",
                   "a11y/assistive-mml.js"]
#: html-manager files the pages never load (source maps, the non-AMD bundles).
SKIP = shutil.ignore_patterns("*.map", "embed.js", "embed.js.LICENSE.txt", "libembed-amd.js")

SHIM = r"""// Written by book/_ext/offline_assets.py: run the page's widgets and maths from local copies.
(function () {
  "use strict";
  var here = document.currentScript.src.replace(/[^\/]*$/, "");  // .../_static/lnb-assets/
  window.__jupyter_widgets_assets_path__ = here + "html-manager/";
  // Each widget module finds its fonts (Font Awesome, for Button(icon=...)) next to the
  // module URI require.js gives it: without a path for "@jupyter-widgets", the URI of
  // "@jupyter-widgets/controls" is relative to the page, and the fonts 404.
  window.requirejs.config({
    paths: {
      anywidget: here + "anywidget/index",
      "@jupyter-widgets/html-manager/dist": here + "html-manager",
      "@jupyter-widgets": here + "html-manager",
    },
  });

  // MathJax 2 API used by @jupyter-widgets/base's typeset(), served by MathJax 3.
  function whenMathJax3() {
    return new Promise(function (resolve, reject) {
      var tries = 0;
      (function poll() {
        var mj = window.MathJax;
        if (mj && mj.startup && mj.startup.promise && mj.typesetPromise) {
          mj.startup.promise.then(function () { resolve(mj); });
        } else if (++tries > 200) {
          reject(new Error("MathJax 3 did not load"));
        } else {
          setTimeout(poll, 50);
        }
      })();
    });
  }
  var hub = {
    Queue: function () {
      Array.prototype.forEach.call(arguments, function (cmd) {
        var el = Array.isArray(cmd) && cmd[0] === "Typeset" ? cmd[2] : null;
        whenMathJax3().then(function (mj) { return mj.typesetPromise(el ? [el] : undefined); });
      });
    },
  };
  function withHub(obj) {
    if (obj && typeof obj === "object" && !obj.Hub) {
      Object.defineProperty(obj, "Hub", { value: hub, enumerable: false, configurable: true });
    }
    return obj;
  }
  // MathJax 3 replaces window.MathJax when it loads; keep a Hub on whatever object is there.
  var current = withHub(window.MathJax || {});
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (v) { current = withHub(v); },
  });
})();
"""


def _node_modules(app) -> Path:
    return Path(app.confdir, app.config.offline_assets_node_modules).resolve()


def _missing(root: Path) -> list[str]:
    return [src for src, _ in COPIES if not (root / src).exists()]


def configure(app, config) -> None:
    """config-inited: point MathJax and the widget scripts at the local copies."""
    root = _node_modules(app)
    missing = _missing(root)
    if missing:
        app.offline_assets_ready = False
        logger.info(
            "\n\033[1;33mWARNING (offline assets): %s lacks %s. The website will load "
            "require.js, the widget manager, anywidget and MathJax from CDNs and will not "
            "work offline. Run `npm ci` (or `make assets`) and rebuild with --all.\033[0m\n",
            root, ", ".join(missing),
        )
        return
    app.offline_assets_ready = True
    config.mathjax_path = f"{ASSET_DIR}/mathjax/startup.js"
    mj = dict(config.mathjax3_config or {})
    mj["loader"] = {**mj.get("loader", {}), "load": MATHJAX_COMPONENTS}
    config.mathjax3_config = mj
    config.nb_ipywidgets_js = {
        f"{ASSET_DIR}/require.js": {},
        f"{ASSET_DIR}/widgets-offline.js": {},
        # The html-manager reads its CDN from this attribute; the shim makes it unused.
        f"{ASSET_DIR}/html-manager/embed-amd.js": {"data-jupyter-widgets-cdn": "https://cdn.jsdelivr.net/npm/"},
    }


def copy_assets(app, exception) -> None:
    """build-finished: copy the pinned assets and the shim into ``_static/lnb-assets``."""
    if exception or app.builder.format != "html" or not getattr(app, "offline_assets_ready", False):
        return
    root = _node_modules(app)
    dest = Path(app.builder.outdir, "_static", ASSET_DIR)
    for src, dst in COPIES:
        source, target = root / src, dest / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=SKIP, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    (dest / "widgets-offline.js").write_text(SHIM)


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """html-page-context: drop repeats of a script (same src, body and attributes, any priority)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = (getattr(js, "filename", None) or "", tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app):
    app.add_config_value("offline_assets_node_modules", "node_modules", "html")
    app.connect("config-inited", configure)
    app.connect("build-finished", copy_assets)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
