"""Mount the explorables with a small loader of our own, not the ipywidgets html-manager.

myst-nb puts on every page with widgets require.js, a shim and the ipywidgets
html-manager (``embed-amd.js``, 3.6 MB, render-blocking in ``<head>``; see
``offline_assets.py``), and the page's whole widget state. Our explorables are
anywidgets: all they need from a page is their ES module, a model with
``get``/``set``/``on``/``off``/``save_changes`` and an element. On a page whose
every widget view is an anywidget, this extension (at ``html-page-context``,
after myst-nb has added its scripts):

* drops the scripts named in ``nb_ipywidgets_js`` (require.js, the shim, the
  html-manager) and adds ``lnb-widgets.js``, one ES module
  (``lean_static/lnb-widgets.js``) that mounts each view from the saved state
  at ``DOMContentLoaded`` on the anywidget front-end contract;
* keeps in the page's widget state only the models its views show, and moves
  each model's ES module (``_esm``, 30 to 40 kB of JavaScript) to a file
  ``_static/lnb-widgets/<hash>.js`` that every page showing the same explorable
  shares from the browser's cache; ``_esm`` then holds that file's URL, relative
  to the page.

Chapter 5's "Your turn" form is ipywidgets (a VBox of Dropdowns, a Button
and an Output) and trains in Python: on the website it can only ever be an
inert picture of itself (``site_theme.py`` greys it out and says so). The
loader draws such widgets -- the models in :data:`SNAPSHOT_MODELS` -- from
their saved state as plain, inert HTML (the Output's figure included), so that
page needs no html-manager either. A page with any other widget keeps the
html-manager, which then renders every widget of that page, anywidgets
included. The explorables are unchanged in Jupyter, Colab and VS Code, where
anywidget's own front end runs them from the same ``_esm`` source, and so is
the form, which trains there.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from sphinx.builders.html._assets import _JavaScript
from sphinx.util import logging

from page_diet import svg_icon

logger = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("lean_static")
STATE_TYPE = "application/vnd.jupyter.widget-state+json"
VIEW_RE = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.S)
#: Where the explorables' ES modules go, under the site's _static.
MODULE_DIR = "lnb-widgets"


def add_static_path(app, config) -> None:
    """config-inited: serve lean_static/ (lnb-widgets.js) from _static/."""
    if str(STATIC) not in config.html_static_path:
        config.html_static_path = [*config.html_static_path, str(STATIC)]


def view_model_ids(body: str) -> list[str]:
    """The model id of every widget view in a page's HTML body."""
    ids = []
    for raw in VIEW_RE.findall(body):
        try:
            ids.append(json.loads(raw.replace("<\\/", "</"))["model_id"])
        except (ValueError, KeyError, TypeError):
            ids.append("")
    return ids


def is_anywidget(model: dict | None) -> bool:
    """A saved model that anywidget's front end would render (module ``anywidget``, an ``_esm``)."""
    return bool(model) and model.get("model_module") == "anywidget" and bool(model.get("state", {}).get("_esm"))


#: ipywidgets models lnb-widgets.js draws as an inert snapshot (their state as saved; no kernel answers them).
SNAPSHOT_MODELS = {"VBoxModel", "HBoxModel", "BoxModel", "DropdownModel", "ButtonModel", "OutputModel",
                   "IntProgressModel", "FloatProgressModel", "HTMLModel", "LabelModel"}
#: Models that only style another (sizes, colours): the snapshot does without them.
STYLE_MODELS = {"LayoutModel", "DescriptionStyleModel", "ButtonStyleModel", "ProgressStyleModel",
                "HTMLStyleModel", "LabelStyleModel"}
REF = "IPY_MODEL_"


def widget_tree(models: dict, root: str) -> list[str] | None:
    """The models a view of ``root`` shows (itself and its children, recursively), less style models;
    None if one of them is neither an anywidget nor in :data:`SNAPSHOT_MODELS`."""
    seen, order, todo = set(), [], [root]
    while todo:
        model_id = todo.pop()
        if model_id in seen:
            continue
        seen.add(model_id)
        model = models.get(model_id)
        if model is None:
            return None
        if model.get("model_name") in STYLE_MODELS:
            continue
        if not (is_anywidget(model) or model.get("model_name") in SNAPSHOT_MODELS):
            return None
        order.append(model_id)
        todo += [c[len(REF):] for c in model.get("state", {}).get("children", []) if str(c).startswith(REF)]
    return order


def _module_file(app, source: str) -> str:
    """Write ``source`` to _static/lnb-widgets/<hash>.js (once) and return that path under _static."""
    name = hashlib.sha256(source.encode()).hexdigest()[:16] + ".js"
    target = Path(app.builder.outdir, "_static", MODULE_DIR, name)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
    return f"_static/{MODULE_DIR}/{name}"


def use_light_loader(app, pagename, templatename, context, doctree) -> None:
    """html-page-context: on a page whose widgets lnb-widgets.js can draw, swap the html-manager for it."""
    scripts, body = context.get("script_files"), context.get("body") or ""
    if not scripts or not getattr(app, "offline_assets_ready", False):
        return
    states = [i for i, js in enumerate(scripts) if js.attributes.get("type") == STATE_TYPE]
    ids = view_model_ids(body)
    if len(states) != 1 or not ids:
        return
    index = states[0]
    from myst_nb.core.render import sanitize_script_content

    saved = json.loads(scripts[index].attributes["body"])
    models = saved.get("state", {})
    trees = [widget_tree(models, i) for i in ids]
    if any(tree is None for tree in trees):
        return  # another kind of widget: the html-manager renders this page
    kept = {}
    for model_id in (m for tree in trees for m in tree):
        model = json.loads(json.dumps(models[model_id]))
        state = model["state"]
        if is_anywidget(model):
            state["_esm"] = context["pathto"](_module_file(app, state["_esm"]), 1)
            # fetched while the page is parsed, not after lnb-widgets.js asks for it
            context["metatags"] = context.get("metatags", "") + f'\n<link rel="modulepreload" href="{state["_esm"]}" />'
        for key in ("layout", "style"):  # references to style models, which are not kept
            state.pop(key, None)
        if state.get("icon"):  # a Button's Font Awesome icon, as inline SVG (no icon font on the page)
            svg = svg_icon(f"fa-solid fa-{state['icon']}")
            if svg:
                state["_lnb_icon_svg"] = svg
        kept[model_id] = model
    saved["state"] = kept
    attributes = dict(scripts[index].attributes, body=sanitize_script_content(json.dumps(saved)))
    scripts[index] = _JavaScript(scripts[index].filename, priority=scripts[index].priority, **attributes)
    # what app.add_js_file made of the nb_ipywidgets_js entries: paths under _static
    dropped = {f"_static/{path}" for path in app.config.nb_ipywidgets_js} | set(app.config.nb_ipywidgets_js)
    scripts[:] = [js for js in scripts if js.filename not in dropped]
    scripts.append(_JavaScript("_static/lnb-widgets.js", priority=800, type="module"))


def setup(app):
    app.connect("config-inited", add_static_path)
    # After myst-nb adds the page's widget scripts (default priority) and offline_assets dedupes them (900).
    app.connect("html-page-context", use_light_loader, priority=950)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
