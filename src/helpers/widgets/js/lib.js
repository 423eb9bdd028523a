// lib.js: shared code for the book's explorables.
//
// Plain functions and constants, no imports or exports: helpers/widgets/base.py
// joins this file and a widget's own file into one ES module, so every name
// here is visible to the widget. Names start with `lnb` to stay out of the way.
//
//   mounting ........... lnbMount (one explorable's root, state, redraws and result), lnbNarrow (a phone's width?)
//   DOM and SVG ........ lnbEl, lnbSvgEl, lnbSvg, lnbRoot, lnbSetResult
//   numbers ............ lnbFmt, lnbFmtSci, lnbFmtEps, lnbClampInt, lnbClamp
//   maths (float64) .... lnbUniform (mulberry32), lnbMean, lnbVar, lnbNormalize
//   colour ............. lnbViridis, lnbDiverging, lnbTextColorOn
//   charts ............. lnbHeatmap (lnbLabelWidth), lnbColorbar, lnbBarChart, lnbLineChart
//   controls ........... lnbSlider, lnbRadio, lnbSelect

const LNB_SVG_NS = "http://www.w3.org/2000/svg";

// ------------------------------------------------------------------- mounting

/**
 * Mount an explorable: anywidget's render({ model, el }) is `return lnbMount(ctx, kind, setup)`.
 *
 * The model's `spec` trait (written by helpers/widgets/base.py) names the inputs
 * (the synced traits), their bounds and the Python class's constants. lnbMount
 * makes the root element (lnbRoot), then calls setup(w) once with
 *   w.root      the root element, to append controls and panels to;
 *   w.state()   every input, numbers clamped to their bounds, Enum values checked
 *               (bounds that depend on another input are the widget's to apply);
 *   w.commit(changes)  set inputs from a control, save them to the model, redraw;
 *   w.C         spec.constants;  w.bounds  spec.bounds (e.g. a slider's min and max);
 *   w.radio(key, label, options)  a radio group for input `key` that commits on change;
 *               options are [value, label, spoken label] triples;
 *   w.layout(controls, panels)  the usual layout: controls (and a Reset button, which puts
 *               every input back as the explorable first showed it), a caption, the panels, a note;
 *               returns { text, note }, the caption and note elements (both aria-live);
 *   w.uid       a short unique id;  w.model  the model, for anything else.
 * setup returns draw(state) -> result: the numbers it drew, which lnbMount writes
 * to data-lnb-result. Every change of an input redraws, at most once per microtask.
 * Returns the cleanup function render() should return.
 */
function lnbMount({ model, el }, kind, setup) {
  const root = lnbRoot(el, kind);
  const spec = model.get("spec") || {};
  const inputs = spec.inputs || [], bounds = spec.bounds || {};
  const state = () => Object.fromEntries(inputs.map((name) => [name, lnbInBounds(model.get(name), bounds[name])]));
  let pending = false;
  const schedule = () => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => { pending = false; lnbSetResult(root, draw(state())); });
  };
  const commit = (changes) => {
    for (const [key, value] of Object.entries(changes)) model.set(key, value);
    model.save_changes();
    schedule();
  };
  const initial = state();  // what Reset goes back to: the inputs as the page (or the notebook) first drew them
  const uid = Math.random().toString(36).slice(2, 9);
  const radio = (key, label, options) => lnbRadio({
    label, name: `lnb-${key}-${uid}`, value: state()[key], onChange: (v) => commit({ [key]: v }),
    options: options.map(([value, text, spoken]) => ({ value, label: text, ariaLabel: spoken })),
  });
  const layout = (controls, panels) => {
    const text = lnbEl("p", { class: "lnb-caption", "aria-live": "polite" });
    const note = lnbEl("p", { class: "lnb-note", "aria-live": "polite" });
    const reset = lnbEl("button", { type: "button", class: "lnb-reset" }, ["Reset"]);
    reset.addEventListener("click", () => commit(initial));
    root.append(lnbEl("div", { class: "lnb-controls" }, [...controls, reset]), text, ...panels, note);
    return { text, note };
  };
  const draw = setup({ root, model, state, commit, radio, layout, C: spec.constants || {}, bounds, uid });
  const events = inputs.map((name) => `change:${name}`);
  for (const name of events) model.on(name, schedule);
  const narrow = lnbNarrowQuery();  // a figure drawn for a phone's width is redrawn when the width changes
  if (narrow) narrow.addEventListener("change", schedule);
  lnbSetResult(root, draw(state()));
  return () => {
    for (const name of events) model.off(name, schedule);
    if (narrow) narrow.removeEventListener("change", schedule);
  };
}

/** The media query of a phone's width (lib.css stacks the panels there), or null without a window. */
function lnbNarrowQuery() {
  return typeof window !== "undefined" && window.matchMedia ? window.matchMedia("(max-width: 560px)") : null;
}

/** Whether the screen is a phone's width (at most 560 CSS px): figures then draw for a 340 px column. */
function lnbNarrow() {
  const q = lnbNarrowQuery();
  return !!(q && q.matches);
}

/** A value inside one input's bounds ({ default, values } or { default, min, max, int, min_open }). */
function lnbInBounds(value, b) {
  if (!b) return value;
  if (b.values) return b.values.includes(value) ? value : b.default;
  let v = Number(value);
  if (!Number.isFinite(v) || typeof value === "boolean") return b.default;
  if (b.min !== null && b.min !== undefined) v = b.min_open && v <= b.min ? b.default : Math.max(b.min, v);
  if (b.max !== null && b.max !== undefined) v = Math.min(b.max, v);
  return b.int ? Math.round(v) : v;
}

// ---------------------------------------------------------------- DOM and SVG

/** An HTML element: lnbEl("div", { class: "x" }, ["text", childNode]). */
function lnbEl(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  return lnbFill(node, attrs, children);
}

/** An SVG element, same arguments as lnbEl. */
function lnbSvgEl(tag, attrs = {}, children = []) {
  const node = document.createElementNS(LNB_SVG_NS, tag);
  return lnbFill(node, attrs, children);
}

function lnbFill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, String(value));
  }
  for (const child of [].concat(children)) {
    if (child === undefined || child === null) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** A responsive <svg> drawn in a width x height coordinate box, at most `width` px wide. */
function lnbSvg(width, height, label) {
  return lnbSvgEl("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width: "100%",
    style: `max-width:${width}px;height:auto`,
    role: "img",
    "aria-label": label,
    class: "lnb-svg",
  });
}

/**
 * Empty `el` and give it the explorable's root element: class lnb-explorable,
 * and data-lnb-kind = `kind` (e.g. "norm_axis"), which tells the browser test
 * which Python twin to compare data-lnb-result with.
 */
function lnbRoot(el, kind) {
  el.replaceChildren();
  const root = lnbEl("div", { class: `lnb-explorable lnb-${kind.replace(/_/g, "-")}`, "data-lnb-kind": kind });
  el.append(root);
  return root;
}

/** Record what the explorable used and computed, for readers' tools and the browser test. */
function lnbSetResult(root, result) {
  root.setAttribute("data-lnb-result", JSON.stringify(result));
}

// -------------------------------------------------------------------- numbers

/** Fixed-point text with a true minus sign; never "-0.00"; NaN and infinities spelled out. */
function lnbFmt(value, digits = 2) {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "−∞";
  let text = value.toFixed(digits);
  if (Number(text) === 0) text = (0).toFixed(digits);
  return text.replace("-", "−");
}

/** A small positive constant as text: 1e-05 -> "1e-5", 0.1 -> "0.1". */
function lnbFmtEps(eps) {
  if (eps >= 0.01) return String(Number(eps.toPrecision(3)));
  const [mant, exp] = eps.toExponential().split("e");
  return `${Number(Number(mant).toPrecision(3))}e${Number(exp)}`;
}

/** Round to an integer in [lo, hi]; non-numbers become lo. */
function lnbClampInt(value, lo, hi) {
  const v = Math.round(Number(value));
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : lo;
}

/** Clamp a number to [lo, hi]; non-numbers become `fallback`. */
function lnbClamp(value, lo, hi, fallback = lo) {
  const v = Number(value);
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : fallback;
}

const LNB_SUPERSCRIPT = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };

/** An integer as superscript digits: -5 -> "⁻⁵". */
function lnbSup(n) {
  return String(n).split("").map((c) => LNB_SUPERSCRIPT[c]).join("");
}

/** `digits` significant digits, as "0.0123" or "4.56×10⁻⁵" (below 1e-3 or from 1e4); true minus sign. */
function lnbFmtSci(value, digits = 3) {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "−∞";
  if (value === 0) return "0";
  const a = Math.abs(value);
  let text;
  if (a >= 1e-3 && a < 1e4) text = String(Number(value.toPrecision(digits)));
  else {
    const [mant, exp] = value.toExponential(digits - 1).split("e");
    text = `${mant}×10${lnbSup(Number(exp))}`;
  }
  return text.replace("-", "−");
}

// ---------------------------------------------------------- maths, in float64

/** n numbers in [0, 1) from mulberry32 seeded with `seed`, as helpers.residual.uniform_stream draws them. */
function lnbUniform(seed, n) {
  let a = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return out;
}

/** Mean of an array of numbers. */
function lnbMean(values) {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Biased variance (divide by n), from the squares of value - mean (two passes). */
function lnbVar(values, mean = lnbMean(values)) {
  let sum = 0;
  for (const v of values) sum += (v - mean) * (v - mean);
  return sum / values.length;
}

/**
 * Normalize a matrix (array of rows, B x H) along one axis, as helpers.norms does:
 *   axis "layer": one mean and std per row, over its H entries (layer norm);
 *   axis "batch": one mean and std per column, over its B entries (batch norm).
 * sigma = sqrt(biased variance + eps). Returns { mu, sigma, y } with y the same shape
 * as rows; mu and sigma have length B ("layer") or H ("batch"). A group of one
 * value has x - mu = 0 exactly, so its outputs are 0 (never NaN) for eps > 0.
 */
function lnbNormalize(rows, axis, eps) {
  if (axis !== "layer" && axis !== "batch") throw new Error(`lnbNormalize: axis must be "layer" or "batch", got ${axis}`);
  const B = rows.length, H = B ? rows[0].length : 0;
  const groups = axis === "layer"
    ? rows.map((row) => row.slice())
    : Array.from({ length: H }, (_, j) => rows.map((row) => row[j]));
  const mu = groups.map((g) => lnbMean(g));
  const sigma = groups.map((g, k) => Math.sqrt(lnbVar(g, mu[k]) + eps));
  const y = rows.map((row, b) => row.map((v, j) => {
    const k = axis === "layer" ? b : j;
    return (v - mu[k]) / sigma[k];
  }));
  return { mu, sigma, y };
}

// --------------------------------------------------------------------- colour

// Matplotlib's viridis (magnitudes) and RdBu_r (signed values), sampled evenly.
const LNB_VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"];
const LNB_RDBU_R = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"];

function lnbRamp(stops, t) {
  const s = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0.5)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(s)), f = s - i;
  const a = lnbHexRgb(stops[i]), b = lnbHexRgb(stops[i + 1]);
  const mix = a.map((c, k) => Math.round(c + f * (b[k] - c)));
  return "#" + mix.map((c) => c.toString(16).padStart(2, "0")).join("");
}

function lnbHexRgb(hex) {
  return [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
}

/** Colour of a magnitude on viridis, vmin -> dark purple, vmax -> yellow (clipped). */
function lnbViridis(value, vmin, vmax) {
  return lnbRamp(LNB_VIRIDIS, vmax > vmin ? (value - vmin) / (vmax - vmin) : 0.5);
}

/** Colour of a signed value: -vmax blue, 0 white, +vmax red (clipped). */
function lnbDiverging(value, vmax) {
  return lnbRamp(LNB_RDBU_R, vmax > 0 ? 0.5 + value / (2 * vmax) : 0.5);
}

/** Black or white, whichever reads better on a background colour. */
function lnbTextColorOn(hex) {
  const [r, g, b] = lnbHexRgb(hex).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.22 ? "#111111" : "#ffffff";
}

// --------------------------------------------------------------------- charts

/**
 * Draw a matrix as coloured cells into an SVG group. Options:
 *   values (rows), x, y (top-left), cellW, cellH, color(v, i, j) -> hex,
 *   title(v, i, j) -> tooltip text, label(v, i, j) -> text in the cell or "" (optional),
 *   opacity(i, j) -> number (optional).
 */
/** About how wide ``text`` is drawn as a cell label (lib.css: 12.5 px, tabular figures), in px. */
function lnbLabelWidth(text, px = 12.5) {
  let em = 0;
  for (const ch of text) em += /[0-9]/.test(ch) ? 0.64 : ch === "−" || ch === "+" ? 0.84 : ch === "." || ch === "," ? 0.32 : 0.62;
  return em * px;
}

function lnbHeatmap(parent, o) {
  const g = lnbSvgEl("g", { class: "lnb-heatmap" });
  o.values.forEach((row, i) => row.forEach((v, j) => {
    const fill = o.color(v, i, j);
    const cx = o.x + j * o.cellW, cy = o.y + i * o.cellH;
    const cell = lnbSvgEl("rect", {
      x: cx, y: cy, width: o.cellW, height: o.cellH, fill,
      "fill-opacity": o.opacity ? o.opacity(i, j) : 1,
      class: "lnb-cell",
    }, [lnbSvgEl("title", { text: o.title(v, i, j) })]);
    g.append(cell);
    const text = o.label ? o.label(v, i, j) : "";
    if (text) {
      const attrs = {
        x: cx + o.cellW / 2, y: cy + o.cellH / 2, "text-anchor": "middle", "dominant-baseline": "central",
        class: "lnb-cell-label", style: `fill:${lnbTextColorOn(fill)}`, text,
      };
      // a label wider than its cell (a narrow phone: "−1.1" in 30 px) is drawn narrower, at the same
      // height, so that it never runs into its neighbour's
      if (lnbLabelWidth(text) > o.cellW - 3) Object.assign(attrs, { textLength: o.cellW - 3, lengthAdjust: "spacingAndGlyphs" });
      g.append(lnbSvgEl("text", attrs));
    }
  }));
  parent.append(g);
  return g;
}

/** A horizontal colour bar with tick labels at both ends and the middle. */
function lnbColorbar(parent, { x, y, width, height = 8, color, vmin, vmax, label, digits = 1 }) {
  const g = lnbSvgEl("g", { class: "lnb-colorbar" });
  const n = 40;
  for (let k = 0; k < n; k++) {
    const v = vmin + ((k + 0.5) / n) * (vmax - vmin);
    g.append(lnbSvgEl("rect", { x: x + (k * width) / n, y, width: width / n + 0.5, height, fill: color(v) }));
  }
  g.append(lnbSvgEl("rect", { x, y, width, height, class: "lnb-frame" }));
  const ticks = [[x, vmin, "start"], [x + width / 2, (vmin + vmax) / 2, "middle"], [x + width, vmax, "end"]];
  for (const [tx, v, anchor] of ticks) {
    g.append(lnbSvgEl("text", { x: tx, y: y + height + 13, "text-anchor": anchor, class: "lnb-tick", text: lnbFmt(v, digits) }));
  }
  if (label) g.append(lnbSvgEl("text", { x: x - 6, y: y + height - 1, "text-anchor": "end", class: "lnb-tick", text: label }));
  parent.append(g);
  return g;
}

/**
 * A bar chart with labelled axes, returned as an <svg>. Options:
 *   values, width, height, ymin, ymax, xLabel, yLabel, title, ariaLabel,
 *   xTicks (labels under the bars), color(v, j) -> hex (default: the accent colour),
 *   markers (optional values drawn as short horizontal ticks over the bars).
 */
function lnbBarChart(o) {
  const m = { left: 46, right: 10, top: o.title ? 22 : 10, bottom: 34 };
  const svg = lnbSvg(o.width, o.height, o.ariaLabel || o.title || "bar chart");
  const pw = o.width - m.left - m.right, ph = o.height - m.top - m.bottom;
  const n = o.values.length, slot = pw / n, bw = slot * 0.62;
  const clip = (v) => Math.min(o.ymax, Math.max(o.ymin, v));
  const sy = (v) => m.top + ((o.ymax - clip(v)) / (o.ymax - o.ymin)) * ph;
  if (o.title) svg.append(lnbSvgEl("text", { x: m.left, y: 14, class: "lnb-title", text: o.title }));
  // y grid and ticks: five evenly spaced values
  for (let k = 0; k <= 4; k++) {
    const v = o.ymin + (k / 4) * (o.ymax - o.ymin), yy = sy(v);
    svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left + pw, y1: yy, y2: yy, class: Math.abs(v) < 1e-12 ? "lnb-zero" : "lnb-grid" }));
    svg.append(lnbSvgEl("text", { x: m.left - 5, y: yy, "text-anchor": "end", "dominant-baseline": "central", class: "lnb-tick", text: lnbFmt(v, 1) }));
  }
  o.values.forEach((v, j) => {
    const cx = m.left + (j + 0.5) * slot, y0 = sy(0), y1 = sy(v);
    svg.append(lnbSvgEl("rect", {
      x: cx - bw / 2, y: Math.min(y0, y1), width: bw, height: Math.max(0.5, Math.abs(y1 - y0)),
      style: `fill:${o.color ? o.color(v, j) : "var(--lnb-accent)"}`, class: "lnb-bar",
    }, [lnbSvgEl("title", { text: `${o.xTicks ? o.xTicks[j] : j}: ${lnbFmt(v, 3)}` })]));
    if (o.markers) {
      const ym = sy(o.markers[j]);
      svg.append(lnbSvgEl("line", { x1: cx - slot * 0.45, x2: cx + slot * 0.45, y1: ym, y2: ym, class: "lnb-marker" }));
    }
    svg.append(lnbSvgEl("text", { x: cx, y: m.top + ph + 12, "text-anchor": "middle", class: "lnb-tick", text: o.xTicks ? o.xTicks[j] : String(j) }));
  });
  lnbAxes(svg, o, m, pw, ph);
  return svg;
}

/** The label of the power of ten 10^e on a log axis: 0.01 ... 100 written out, else 10ᵉ. */
function lnbFmtPow10(e) {
  return e >= -2 && e <= 2 ? String(Number((10 ** e).toPrecision(1))) : `10${lnbSup(e)}`;
}

/**
 * A line chart as an <svg>; x runs over the indices 0..n-1 of the values. Options:
 *   series [{ values, label, cls?, style? }] (cls and style go to the path),
 *   width, height, title, xLabel, yLabel, ariaLabel,
 *   logY (a log axis with decade ticks; zeros and underflow are drawn on the bottom edge).
 * A linear axis starts at 0 (or below, for negative values).
 */
function lnbLineChart(o) {
  const m = { left: 50, right: 10, top: 24, bottom: 34 };
  const svg = lnbSvg(o.width, o.height, o.ariaLabel || o.title);
  const f = o.logY ? (v) => (v > 0 ? Math.log10(v) : NaN) : (v) => v;
  let lo = Infinity, hi = -Infinity, n = 1;
  for (const s of o.series) {
    n = Math.max(n, s.values.length - 1);
    for (const v of s.values) {
      const y = f(v);
      if (Number.isFinite(y)) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
    }
  }
  if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
  let ymin, ymax, ticks;
  if (o.logY) {
    const step = [1, 2, 5, 10, 20, 50, 100].find((k) => (hi - lo) / k <= 5) || 200;
    ymin = Math.floor(lo / step) * step;
    ymax = Math.max(ymin + step, Math.ceil(hi / step) * step);
    ticks = [];
    for (let k = ymin; k <= ymax + 1e-9; k += step) ticks.push([k, lnbFmtPow10(k)]);
  } else {
    ymin = Math.min(0, lo);
    ymax = hi > ymin ? ymin + 1.05 * (hi - ymin) : ymin + 1;
    const digits = ymax - ymin >= 10 ? 0 : ymax - ymin >= 1 ? 1 : 2;
    ticks = [0, 1, 2, 3, 4].map((k) => ymin + (k / 4) * (ymax - ymin)).map((v) => [v, lnbFmt(v, digits)]);
  }
  // room for the longest tick label (12.5 px text: ~7 px a character, ~5 px a superscript) beside the
  // axis label (centred at x = 12): "10⁻⁴⁰" ran into it at the default 50
  const labelWidth = (t) => [...t].reduce((w, c) => w + (/[\u2070-\u209f\u00b9\u00b2\u00b3]/.test(c) ? 5 : 7.2), 0);
  m.left = Math.max(m.left, Math.ceil(27 + Math.max(...ticks.map(([, t]) => labelWidth(t)))));
  const pw = o.width - m.left - m.right, ph = o.height - m.top - m.bottom;
  const sx = (i) => m.left + (i / n) * pw;
  const sy = (y) => m.top + ((ymax - Math.max(ymin, Math.min(ymax, Number.isFinite(y) ? y : ymin))) / (ymax - ymin)) * ph;
  svg.append(lnbSvgEl("text", { x: m.left, y: 14, class: "lnb-title", text: o.title }));
  for (const [y, label] of ticks) {
    svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left + pw, y1: sy(y), y2: sy(y), class: "lnb-grid" }));
    svg.append(lnbSvgEl("text", { x: m.left - 5, y: sy(y), "text-anchor": "end", "dominant-baseline": "central", class: "lnb-tick", text: label }));
  }
  // every block up to 4 (a depth of 1 still gets its "1"), then steps of 5 or more
  const xStep = n < 5 ? 1 : [5, 10, 20, 25, 50, 100].find((k) => n / k <= 6) || 100;
  for (let i = 0; i <= n; i += xStep) {
    svg.append(lnbSvgEl("text", { x: sx(i), y: m.top + ph + 13, "text-anchor": "middle", class: "lnb-tick", text: String(i) }));
  }
  for (const s of o.series) {
    const d = s.values.map((v, i) => `${i ? "L" : "M"}${sx(i).toFixed(2)},${sy(f(v)).toFixed(2)}`).join("");
    svg.append(lnbSvgEl("path", { d, class: `lnb-line ${s.cls || ""}`.trim(), style: s.style }, [lnbSvgEl("title", { text: s.label })]));
  }
  lnbAxes(svg, o, m, pw, ph);
  return svg;
}

/** The left and bottom axis lines and the two axis labels of a chart. */
function lnbAxes(svg, o, m, pw, ph) {
  svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left, y1: m.top, y2: m.top + ph, class: "lnb-axis" }));
  svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left + pw, y1: m.top + ph, y2: m.top + ph, class: "lnb-axis" }));
  svg.append(lnbSvgEl("text", { x: m.left + pw / 2, y: o.height - 4, "text-anchor": "middle", class: "lnb-axis-label", text: o.xLabel }));
  svg.append(lnbSvgEl("text", {
    x: 12, y: m.top + ph / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${m.top + ph / 2})`,
    class: "lnb-axis-label", text: o.yLabel,
  }));
}

// ------------------------------------------------------------------- controls
// Each builder returns { el, input(s), set(value) }; the label wraps the input,
// so no ids are needed, and every input carries an aria-label that starts from
// (or contains) its visible label (lnbNameWithLabel: WCAG 2.5.3, label in name,
// so that a reader who says "click Follow example" to voice control reaches it).

/** An accessible name that contains the visible `label`: `spoken` if it does already, else "label: spoken". */
function lnbNameWithLabel(label, spoken) {
  const norm = (t) => String(t || "").toLowerCase().replace(/\s+/g, " ").trim();
  if (!spoken || norm(spoken) === norm(label)) return label;
  return norm(spoken).includes(norm(label)) ? spoken : `${label}: ${spoken}`;
}

/**
 * A labelled range slider showing its value. onInput(value) fires while dragging.
 * A screen reader announces aria-valuetext, not the raw notch of the input:
 * `${name} ${format(value)} ${unit}` (e.g. "learning rate 0.1" for notch -10
 * of a log-scale slider), so give `name` (spoken name, default `label`) and,
 * where the quantity has one, `unit`. show(text) displays a value that is not
 * on a notch (e.g. a model value set from Python) in the output and valuetext.
 */
function lnbSlider({ label, ariaLabel, name, unit = "", min, max, step = 1, value, format = String, onInput }) {
  const input = lnbEl("input", { type: "range", min, max, step, value, "aria-label": lnbNameWithLabel(label, ariaLabel) });
  const out = lnbEl("output", { class: "lnb-value", "aria-hidden": "true" });
  const el = lnbEl("label", { class: "lnb-control lnb-slider" }, [lnbEl("span", { class: "lnb-label", text: label }), input, out]);
  const spoken = name || label;
  const show = (text) => {
    out.textContent = text;
    input.setAttribute("aria-valuetext", `${spoken} ${text}${unit ? " " + unit : ""}`);
  };
  show(format(Number(value)));
  input.addEventListener("input", () => {
    show(format(Number(input.value)));
    onInput(Number(input.value));
  });
  return {
    el, input, show,
    set(v, newMax) {
      if (newMax !== undefined) input.max = newMax;
      input.value = v;
      show(format(Number(v)));
    },
  };
}

/** A group of radio buttons; options are [{ value, label, ariaLabel? }]. */
function lnbRadio({ label, name, options, value, onChange }) {
  const el = lnbEl("fieldset", { class: "lnb-control lnb-radio" }, [lnbEl("legend", { class: "lnb-label", text: label })]);
  const inputs = options.map((opt) => {
    const input = lnbEl("input", { type: "radio", name, value: opt.value, "aria-label": lnbNameWithLabel(opt.label, opt.ariaLabel) });
    input.checked = opt.value === value;
    input.addEventListener("change", () => { if (input.checked) onChange(opt.value); });
    el.append(lnbEl("label", { class: "lnb-option" }, [input, " " + opt.label]));
    return input;
  });
  return { el, inputs, set(v) { inputs.forEach((input) => { input.checked = input.value === String(v); }); } };
}

/** A labelled <select>; options are [{ value, label }], values compared as strings. */
function lnbSelect({ label, ariaLabel, options, value, onChange }) {
  const input = lnbEl("select", { "aria-label": lnbNameWithLabel(label, ariaLabel) },
    options.map((opt) => lnbEl("option", { value: opt.value, text: opt.label })));
  input.value = String(value);
  input.addEventListener("change", () => onChange(input.value));
  const el = lnbEl("label", { class: "lnb-control lnb-select" }, [lnbEl("span", { class: "lnb-label", text: label }), input]);
  return { el, input, set(v) { input.value = String(v); } };
}
