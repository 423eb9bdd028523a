// lnb-widgets.js: mount the page's anywidget explorables from their saved state
// (book/_ext/widget_loader.py adds this module, instead of require.js and the
// ipywidgets html-manager, to pages whose every widget is an anywidget).
//
// The page holds, as myst-nb writes them,
//   <script type="application/vnd.jupyter.widget-state+json">  every model's state, once;
//   <script type="application/vnd.jupyter.widget-view+json">   one per output: {"model_id": ...}.
// For each view this module puts a <div class="widget-subarea"> before the script
// (where the html-manager put it) and calls the widget's ES module on the
// anywidget front-end contract (https://anywidget.dev/en/afm/):
//   initialize({ model, experimental })  once per model, if the module has it;
//   render({ model, el, experimental })   once per view;
// both may return a cleanup function. The model has get, set, on, off,
// save_changes and send; with no kernel behind the page, save_changes and send
// keep the change in the page. The module comes from the model's `_esm`: a URL
// (widget_loader.py writes each module to _static/lnb-widgets/ so that pages share
// it from the cache) or the module's source (loaded from a blob: URL); `_css`
// becomes one <style> per widget class.
//
// Views of ipywidgets models (chapter 5's form: boxes, dropdowns, a button, an
// output) are drawn as an inert snapshot of their saved state: with no kernel,
// no control could do anything (widget_loader.py uses this module only on pages
// whose every widget it can draw).
const STATE = "application/vnd.jupyter.widget-state+json";
const VIEW = "application/vnd.jupyter.widget-view+json";

/** A Backbone-like model over one widget's saved state: what an anywidget module may use. */
class LnbModel {
  constructor(id, state) {
    this.model_id = id;
    this._state = { ...state };
    this._handlers = new Map();  // event name -> [[callback, context]]
  }
  get(name) { return this._state[name]; }
  set(name, value) {
    const changes = typeof name === "object" && name !== null ? name : { [name]: value };
    let changed = false;
    for (const [key, v] of Object.entries(changes)) {
      if (sameValue(this._state[key], v)) continue;
      this._state[key] = v;
      changed = true;
      this._emit(`change:${key}`, this, v);
    }
    if (changed) this._emit("change", this);
  }
  on(events, callback, context) {
    for (const e of String(events).split(/\s+/).filter(Boolean)) {
      if (!this._handlers.has(e)) this._handlers.set(e, []);
      this._handlers.get(e).push([callback, context]);
    }
  }
  off(events, callback) {
    if (!events) {
      if (!callback) this._handlers.clear();
      else for (const [e, list] of this._handlers) this._handlers.set(e, list.filter(([cb]) => cb !== callback));
      return;
    }
    for (const e of String(events).split(/\s+/).filter(Boolean)) {
      if (!callback) this._handlers.delete(e);
      else if (this._handlers.has(e)) this._handlers.set(e, this._handlers.get(e).filter(([cb]) => cb !== callback));
    }
  }
  save_changes() {}  // no kernel to send the change to: the page keeps it
  send() {}          // custom messages go to a kernel; there is none
  _emit(event, ...args) {
    for (const [cb, ctx] of [...(this._handlers.get(event) || [])]) {
      try { cb.apply(ctx, args); } catch (err) { console.error(err); }  // eslint-disable-line no-console
    }
  }
}

function sameValue(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

const experimental = {
  invoke: () => Promise.reject(new Error("no Python kernel runs behind this page")),
};

function isUrl(esm) {
  return !/[\n;{}]/.test(esm) && /\.m?js(\?[^\s]*)?$/.test(esm.trim());
}

const modules = new Map();  // _esm -> Promise of the widget definition
function loadWidget(esm) {
  if (!modules.has(esm)) {
    modules.set(esm, (async () => {
      let mod;
      if (isUrl(esm)) {
        mod = await import(new URL(esm.trim(), document.baseURI).href);
      } else {
        const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
        try { mod = await import(url); } finally { URL.revokeObjectURL(url); }
      }
      let widget = mod.default ?? mod;
      if (typeof widget === "function") widget = await widget();
      return widget;
    })());
  }
  return modules.get(esm);
}

const styled = new Set();
function addCss(model) {
  const css = model.get("_css"), id = model.get("_anywidget_id") || css;
  if (!css || styled.has(id)) return;
  styled.add(id);
  const style = document.createElement("style");
  style.dataset.lnbWidget = model.get("_anywidget_id") || "";
  style.textContent = css;
  document.head.append(style);
}

function readJson(script) {
  try { return JSON.parse(script.textContent); } catch (err) { console.error("lnb-widgets: bad JSON in", script, err); return null; }  // eslint-disable-line no-console
}

const initialized = new Map();  // model id -> Promise of initialize()

// ------------------------------------------------------------ ipywidgets snapshot
const SNAPSHOT_CSS = `
.lnb-snapshot.widget-vbox { display: flex; flex-direction: column; gap: 0.3rem; }
.lnb-snapshot.widget-hbox { display: flex; flex-wrap: wrap; align-items: center; gap: 0.3rem 1rem; }
.lnb-snapshot.widget-dropdown { display: inline-flex; align-items: center; gap: 0.4rem; }
.lnb-snapshot.widget-dropdown select { font: inherit; min-height: 1.8rem; }
.lnb-snapshot.jupyter-button { font: inherit; padding: 0.2rem 1rem; border: 1px solid var(--pst-color-border, #ccc); border-radius: 2px; }
.lnb-snapshot.jupyter-button.mod-primary { background-color: #1565c0; color: #fff; border-color: #1565c0; }
.lnb-snapshot.jupyter-button svg { height: 1em; vertical-align: -0.125em; margin-right: 0.3em; }
.lnb-snapshot.widget-output img { max-width: 100%; height: auto; }
`;
let snapshotStyled = false;

function el(tag, className, attrs = {}) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null && v !== "") e.setAttribute(k, v);
  return e;
}

let snapshotIds = 0;
/** One ipywidgets model (and its children) as plain HTML; null for a model this snapshot does not know. */
function snapshot(state, id) {
  const m = state[id];
  if (!m) return null;
  const s = m.state || {}, name = m.model_name;
  const classes = ["jupyter-widgets", "lnb-snapshot", ...(s._dom_classes || [])].join(" ");
  const kids = () => (s.children || []).map((c) => snapshot(state, String(c).replace(/^IPY_MODEL_/, ""))).filter(Boolean);
  if (name === "VBoxModel" || name === "HBoxModel" || name === "BoxModel") {
    const box = el("div", `${classes} widget-container widget-box ${name === "HBoxModel" ? "widget-hbox" : "widget-vbox"}`);
    box.append(...kids());
    return box;
  }
  if (name === "DropdownModel") {
    const wrap = el("div", `${classes} widget-inline-hbox widget-dropdown`);
    const sid = `lnb-snapshot-${++snapshotIds}`;
    const label = el("label", "widget-label", { for: sid });
    label.textContent = s.description || "";
    const select = el("select", "", { id: sid, title: s.tooltip });
    (s._options_labels || []).forEach((text, i) => {
      const o = el("option");
      o.textContent = text;
      o.selected = i === s.index;
      select.append(o);
    });
    select.disabled = !!s.disabled;
    wrap.append(label, select);
    return wrap;
  }
  if (name === "ButtonModel") {
    const style = s.button_style ? ` mod-${s.button_style}` : "";
    const b = el("button", `${classes} jupyter-button widget-button${style}`, { type: "button", title: s.tooltip });
    if (s._lnb_icon_svg) b.insertAdjacentHTML("beforeend", s._lnb_icon_svg);
    b.append(document.createTextNode(s.description || ""));
    b.disabled = !!s.disabled;
    return b;
  }
  if (name === "IntProgressModel" || name === "FloatProgressModel") {
    const p = el("progress", classes, { max: s.max, "aria-label": s.description });
    p.value = s.value;
    return p;
  }
  if (name === "HTMLModel" || name === "LabelModel") {
    const d = el("div", `${classes} widget-${name === "HTMLModel" ? "html" : "label"}`);
    if (name === "HTMLModel") d.innerHTML = s.value || ""; else d.textContent = s.value || "";
    return d;
  }
  if (name === "OutputModel") {
    const out = el("div", `${classes} widget-output`);
    for (const o of s.outputs || []) {
      const data = o.data || {};
      if (o.output_type === "stream") {
        const pre = el("pre");
        pre.textContent = o.text || "";
        out.append(pre);
      } else if (data["text/html"]) {
        out.insertAdjacentHTML("beforeend", [].concat(data["text/html"]).join(""));
      } else if (data["image/png"]) {
        out.append(el("img", "", { src: `data:image/png;base64,${data["image/png"]}`, alt: data["text/plain"] || "" }));
      } else if (data["text/plain"]) {
        const pre = el("pre");
        pre.textContent = [].concat(data["text/plain"]).join("");
        out.append(pre);
      }
    }
    return out;
  }
  return null;
}

function mountSnapshot(state, id, host) {
  if (!snapshotStyled) {
    snapshotStyled = true;
    const style = document.createElement("style");
    style.textContent = SNAPSHOT_CSS;
    document.head.append(style);
  }
  const view = snapshot(state, id);
  if (!view) throw new Error(`lnb-widgets: cannot draw the widget ${id} (${state[id]?.model_name})`);
  host.append(view);
}

// ------------------------------------------------------------------ mounting
/** Mount every widget view of the page; returns a Promise that settles when all have rendered. */
export async function mountAll(root = document) {
  const saved = root.querySelector(`script[type="${STATE}"]`);
  const state = (saved && readJson(saved)?.state) || {};
  const models = new Map();
  const modelFor = (id) => {
    if (!models.has(id) && state[id]) models.set(id, new LnbModel(id, state[id].state || {}));
    return models.get(id);
  };
  const jobs = Array.from(root.querySelectorAll(`script[type="${VIEW}"]`)).map(async (script) => {
    if (script.lnbMounted) return;
    script.lnbMounted = true;
    const id = readJson(script)?.model_id, model = modelFor(id);
    if (!model) {
      console.error(`lnb-widgets: no saved state for the view of model ${id}`);  // eslint-disable-line no-console
      return;
    }
    const host = document.createElement("div");
    host.className = "widget-subarea lnb-widget";
    script.before(host);
    if (!model.get("_esm")) {
      mountSnapshot(state, id, host);
      return;
    }
    const el = document.createElement("div");
    host.append(el);
    addCss(model);
    const widget = await loadWidget(model.get("_esm"));
    if (!initialized.has(id)) {
      initialized.set(id, Promise.resolve(widget.initialize?.({ model, experimental })));
    }
    await initialized.get(id);
    await widget.render?.({ model, el, experimental });
  });
  const results = await Promise.allSettled(jobs);
  for (const r of results) if (r.status === "rejected") console.error("lnb-widgets:", r.reason);  // eslint-disable-line no-console
}

// window.lnbWidgetsReady settles once every explorable has drawn: MathJax waits for it (page_diet.py)
window.lnbWidgetsReady = document.readyState === "loading"
  ? new Promise((resolve) => document.addEventListener("DOMContentLoaded", () => resolve(mountAll())))
  : mountAll();
