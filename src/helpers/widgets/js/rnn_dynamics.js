// rnn_dynamics.js: chapter 4's explorable. Norms of the hidden state and of the
// gradient of a small RNN over long sequences, with and without layer norm.
// lib.js is joined in front of this file (see helpers/widgets/base.py); the
// Python twin is helpers.widgets.rnn_dynamics.rnn_dynamics_view, which calls
// helpers.dynamics.rnn_dynamics. Every loop below adds its terms in the same
// order as that Python code, so the two agree to the last bit (tanh aside).

const RD_OVERFLOW_LIMIT = 1e150;  // helpers.dynamics.OVERFLOW_LIMIT
const RD_SUPERSCRIPT = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };

/** m (rows) times v, each row's sum accumulated left to right from 0. */
function rdMatvec(m, v) {
  const out = new Array(m.length);
  for (let i = 0; i < m.length; i++) {
    let s = 0;
    for (let j = 0; j < v.length; j++) s += m[i][j] * v[j];
    out[i] = s;
  }
  return out;
}

/** m transposed times v: out[j] = sum over i, in order, of m[i][j] * v[i]. */
function rdMatTvec(m, v) {
  const H = m[0].length, out = new Array(H);
  for (let j = 0; j < H; j++) {
    let s = 0;
    for (let i = 0; i < m.length; i++) s += m[i][j] * v[i];
    out[j] = s;
  }
  return out;
}

/** Euclidean norm, scaled by the largest entry so that squares cannot overflow. */
function rdNorm(v) {
  let m = 0;
  for (const x of v) m = Math.max(m, Math.abs(x));
  if (m === 0) return 0;
  let s = 0;
  for (const x of v) { const q = x / m; s += q * q; }
  return m * Math.sqrt(s);
}

/**
 * Forward through time and back-propagation of L = r . h_T, as helpers.dynamics.rnn_dynamics:
 *   a_t = W h_{t-1} + U x_t,  a_hat_t = a_t or LN(a_t) (gain 1, bias 0),  h_t = f(a_hat_t).
 * W, U are the effective (already scaled) matrices. Returns states h[0..T], gradients
 * delta[0..T], their norms, the steps run and whether the overflow guard cut the run.
 */
function rdRun(W, U, x, h0, r, T, norm, nonlinearity, eps) {
  const H = h0.length, tanh = nonlinearity === "tanh", ln = norm === "layer";
  const hs = [h0.slice()], hats = [], sigmas = [];
  let overflow = false;
  for (let t = 1; t <= T; t++) {
    const rec = rdMatvec(W, hs[t - 1]), inp = rdMatvec(U, x[t - 1]);
    const a = rec.map((v, i) => v + inp[i]);
    let aHat = a, sigma = 1;
    if (ln) {
      const mu = lnbMean(a);
      const variance = lnbVar(a, mu);  // biased: divide by H
      sigma = Math.sqrt(variance + eps);
      aHat = a.map((v) => (v - mu) / sigma);
    }
    const h = tanh ? aHat.map((v) => Math.tanh(v)) : aHat;
    hs.push(h);
    hats.push(aHat);
    sigmas.push(sigma);
    let big = 0;
    for (const v of h) big = Math.max(big, Math.abs(v));
    if (big > RD_OVERFLOW_LIMIT) { overflow = true; break; }
  }
  const steps = hs.length - 1;
  const deltas = new Array(steps + 1);
  deltas[steps] = r.slice();
  for (let t = steps; t >= 1; t--) {
    let d = deltas[t];
    if (tanh) { const h = hs[t]; d = d.map((v, i) => v * (1 - h[i] * h[i])); }
    if (ln) {
      const aHat = hats[t - 1], sigma = sigmas[t - 1];
      let s1 = 0, s2 = 0;
      for (let i = 0; i < H; i++) s1 += d[i];
      for (let i = 0; i < H; i++) s2 += d[i] * aHat[i];
      const m1 = s1 / H, m2 = s2 / H;
      d = d.map((v, i) => (v - m1 - aHat[i] * m2) / sigma);
    }
    deltas[t - 1] = rdMatTvec(W, d);
  }
  return { h: hs, delta: deltas, h_norm: hs.map(rdNorm), grad_norm: deltas.map(rdNorm), steps_run: steps, overflow };
}

/** Everything the widget shows and reports: the JS twin of rnn_dynamics_view. */
function rdCompute(s, norm) {
  const W = s.w_hh.map((row) => row.map((v) => s.radius * v));
  const U = s.w_xh.map((row) => row.map((v) => s.input_scale * v));
  const out = rdRun(W, U, s.x, s.h0, s.readout, s.length, norm, s.nonlinearity, s.eps);
  const T = out.steps_run, g = out.grad_norm;
  const factor = g[0] > 0 && g[T] > 0 ? Math.exp((Math.log(g[0]) - Math.log(g[T])) / T) : 0;
  return {
    radius: s.radius, length: s.length, input_scale: s.input_scale, norm, nonlinearity: s.nonlinearity, eps: s.eps,
    w_hh: s.w_hh, w_xh: s.w_xh, x: s.x.slice(0, s.length), h0: s.h0, readout: s.readout,
    h: out.h, delta: out.delta, h_norm: out.h_norm, grad_norm: g, steps_run: T, overflow: out.overflow,
    h_norm_last: out.h_norm[T], grad_norm_first: g[0], grad_factor: factor,
  };
}

/** A positive number as text: 3 significant digits, with a power of ten when large or small. */
function rdSci(v) {
  if (Number.isNaN(v)) return "NaN";
  if (v === 0) return "0";
  if (!Number.isFinite(v)) return "∞";
  if (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4) return String(Number(v.toPrecision(3)));
  const [mant, exp] = v.toExponential(2).split("e");
  return `${mant}×10${rdSup(Number(exp))}`;
}

function rdSup(n) {
  return String(n).split("").map((c) => RD_SUPERSCRIPT[c]).join("");
}

/**
 * A line chart with a log-scale y axis, returned as an <svg>. Options: series
 * [{ values, style, label }], width, height, xLabel, yLabel, title, ariaLabel.
 * Zeros (underflow) are drawn on the bottom edge.
 */
function rdLogChart(o) {
  const m = { left: 54, right: 10, top: 24, bottom: 36 };
  const svg = lnbSvg(o.width, o.height, o.ariaLabel);
  const pw = o.width - m.left - m.right, ph = o.height - m.top - m.bottom;
  let lo = Infinity, hi = -Infinity, n = 1;
  for (const s of o.series) {
    n = Math.max(n, s.values.length - 1);
    for (const v of s.values) if (v > 0 && Number.isFinite(v)) { const l = Math.log10(v); lo = Math.min(lo, l); hi = Math.max(hi, l); }
  }
  if (!Number.isFinite(lo)) { lo = -1; hi = 1; }
  const span = hi - lo;
  const step = [1, 2, 5, 10, 20, 50, 100].find((k) => span / k <= 5) || 200;
  let ymin = Math.floor(lo / step) * step, ymax = Math.ceil(hi / step) * step;
  if (ymax - ymin < 2 * step) { ymin -= step; ymax += step; }
  const sx = (t) => m.left + (t / n) * pw;
  const sy = (v) => {
    const l = v > 0 && Number.isFinite(v) ? Math.log10(v) : ymin;
    return m.top + ((ymax - Math.max(ymin, Math.min(ymax, l))) / (ymax - ymin)) * ph;
  };
  svg.append(lnbSvgEl("text", { x: m.left, y: 14, class: "lnb-title", text: o.title }));
  for (let k = ymin; k <= ymax + 1e-9; k += step) {
    const yy = m.top + ((ymax - k) / (ymax - ymin)) * ph;
    svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left + pw, y1: yy, y2: yy, class: "lnb-grid" }));
    svg.append(lnbSvgEl("text", { x: m.left - 5, y: yy, "text-anchor": "end", "dominant-baseline": "central", class: "lnb-tick", text: `10${rdSup(k)}` }));
  }
  const xStep = [5, 10, 25, 50, 100].find((k) => n / k <= 6) || 100;
  for (let t = 0; t <= n; t += xStep) {
    svg.append(lnbSvgEl("text", { x: sx(t), y: m.top + ph + 13, "text-anchor": "middle", class: "lnb-tick", text: String(t) }));
  }
  for (const s of o.series) {
    const d = s.values.map((v, t) => `${t ? "L" : "M"}${sx(t).toFixed(2)},${sy(v).toFixed(2)}`).join("");
    svg.append(lnbSvgEl("path", { d, style: `fill:none;${s.style}` }, [lnbSvgEl("title", { text: s.label })]));
  }
  svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left, y1: m.top, y2: m.top + ph, class: "lnb-axis" }));
  svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left + pw, y1: m.top + ph, y2: m.top + ph, class: "lnb-axis" }));
  svg.append(lnbSvgEl("text", { x: m.left + pw / 2, y: o.height - 4, "text-anchor": "middle", class: "lnb-axis-label", text: o.xLabel }));
  svg.append(lnbSvgEl("text", {
    x: 11, y: m.top + ph / 2, "text-anchor": "middle", transform: `rotate(-90 11 ${m.top + ph / 2})`,
    class: "lnb-axis-label", text: o.yLabel,
  }));
  return svg;
}

const RD_MAIN = "stroke:var(--lnb-accent);stroke-width:2.2";
const RD_GHOST = "stroke:var(--lnb-muted);stroke-width:1.4;stroke-dasharray:5 3";

export default {
  render({ model, el }) {
    const root = lnbRoot(el, "rnn_dynamics");
    const uid = Math.random().toString(36).slice(2, 9);
    const lim = () => model.get("limits");
    const clampReal = (v, [lo, hi]) => (Number.isFinite(Number(v)) ? Math.min(hi, Math.max(lo, Number(v))) : lo);
    const state = () => {
      const L = lim();
      const xs = model.get("x");
      return {
        w_hh: model.get("w_hh"), w_xh: model.get("w_xh"), x: xs, h0: model.get("h0"), readout: model.get("readout"),
        radius: clampReal(model.get("radius"), L.radius),
        length: lnbClampInt(model.get("length"), L.length[0], Math.min(L.length[1], xs.length)),
        input_scale: clampReal(model.get("input_scale"), L.input_scale),
        norm: model.get("norm") === "layer" ? "layer" : "none",
        nonlinearity: model.get("nonlinearity") === "linear" ? "linear" : "tanh",
        eps: Number(model.get("eps")),
      };
    };
    const commit = (changes) => {
      for (const [key, value] of Object.entries(changes)) model.set(key, value);
      model.save_changes();
      schedule();
    };

    const s0 = state(), L0 = lim();
    const radiusCtl = lnbSlider({
      label: "Spectral radius ρ", name: "spectral radius", ariaLabel: "spectral radius rho of the recurrent weight matrix",
      min: L0.radius[0], max: L0.radius[1], step: L0.radius[2], value: s0.radius,
      format: (v) => v.toFixed(2), onInput: (v) => commit({ radius: v }),
    });
    const lengthCtl = lnbSlider({
      label: "Length T", name: "length", unit: "steps", ariaLabel: "sequence length T, in time steps",
      min: L0.length[0], max: L0.length[1], step: L0.length[2], value: s0.length,
      onInput: (v) => commit({ length: v }),
    });
    const inputCtl = lnbSlider({
      label: "Input scale s", name: "input scale", ariaLabel: "scale s of the input weights",
      min: L0.input_scale[0], max: L0.input_scale[1], step: L0.input_scale[2], value: s0.input_scale,
      format: (v) => v.toFixed(1), onInput: (v) => commit({ input_scale: v }),
    });
    const normCtl = lnbRadio({
      label: "Layer norm", name: `lnb-rd-norm-${uid}`, value: s0.norm,
      options: [
        { value: "none", label: "off", ariaLabel: "no normalization" },
        { value: "layer", label: "on", ariaLabel: "layer norm of the summed input at every step" },
      ],
      onChange: (v) => commit({ norm: v }),
    });
    const unitCtl = lnbRadio({
      label: "Units", name: `lnb-rd-unit-${uid}`, value: s0.nonlinearity,
      options: [
        { value: "linear", label: "linear", ariaLabel: "linear units: f(a) = a" },
        { value: "tanh", label: "tanh", ariaLabel: "tanh units" },
      ],
      onChange: (v) => commit({ nonlinearity: v }),
    });

    const text = lnbEl("p", { class: "lnb-caption", "aria-live": "polite" });
    const panels = lnbEl("div", { class: "lnb-row" });
    const legend = lnbEl("div", { class: "lnb-legend" });
    const note = lnbEl("p", { class: "lnb-note", "aria-live": "polite" });
    root.append(
      lnbEl("div", { class: "lnb-controls" }, [radiusCtl.el, lengthCtl.el, inputCtl.el, normCtl.el, unitCtl.el]),
      text, panels, legend, note,
    );

    function draw() {
      const s = state();
      const r = rdCompute(s, s.norm);
      const other = rdCompute(s, s.norm === "layer" ? "none" : "layer");
      radiusCtl.set(s.radius);
      lengthCtl.set(s.length);
      inputCtl.set(s.input_scale);
      normCtl.set(s.norm);
      unitCtl.set(s.nonlinearity);

      const on = s.norm === "layer";
      const mainLabel = on ? "with layer norm" : "without layer norm";
      const ghostLabel = on ? "without layer norm" : "with layer norm";
      const chart = (key, title, yLabel) => rdLogChart({
        series: [
          { values: other[key], style: RD_GHOST, label: ghostLabel },
          { values: r[key], style: RD_MAIN, label: mainLabel },
        ],
        width: 350, height: 230, title, yLabel, xLabel: "time step t",
        ariaLabel: `${title} against time step t on a log scale, ${mainLabel} (solid) and ${ghostLabel} (dashed)`,
      });
      panels.style.gridTemplateColumns = "minmax(0, 1fr) minmax(0, 1fr)";
      panels.replaceChildren(
        chart("h_norm", "Hidden state ‖hᵗ‖", "‖hᵗ‖ (log scale)"),
        chart("grad_norm", "Gradient ‖∂L/∂hᵗ‖", "‖∂L/∂hᵗ‖ (log scale)"),
      );
      legend.replaceChildren(
        lnbEl("span", { class: "lnb-swatch", style: "height:0;width:16px;border-top:3px solid var(--lnb-accent)" }), ` ${mainLabel}`,
        lnbEl("span", { class: "lnb-swatch", style: "height:0;width:16px;border-top:2px dashed var(--lnb-muted)" }), ` ${ghostLabel}, for comparison`,
      );

      const T = r.steps_run;
      const unit = s.nonlinearity === "tanh" ? "tanh" : "linear";
      text.textContent = `${on ? "Layer-normalized" : "Plain"} RNN, ${unit} units, ρ = ${s.radius.toFixed(2)}, ` +
        `s = ${s.input_scale.toFixed(1)}, T = ${T}: the last state has norm ${rdSci(r.h_norm_last)}, the gradient at t = 0 has norm ${rdSci(r.grad_norm_first)}` +
        (r.grad_factor > 0 ? `, a factor of ${rdSci(r.grad_factor)} per step back through time.` : ".");
      const zeroAt = r.grad_norm.findIndex((v) => v === 0);
      if (r.overflow) {
        note.className = "lnb-note lnb-warn";
        note.textContent = `The state passed 10¹⁵⁰ at step ${T}; the run stops there so that no number overflows.`;
      } else if (zeroAt >= 0) {
        note.className = "lnb-note lnb-warn";
        note.textContent = `The gradient underflowed to exactly 0 (below about 10⁻³²³) at step ${r.grad_norm.lastIndexOf(0)} and earlier: ` +
          "saturated tanh units multiplied it by f′ ≈ 0 too many times. Zeros are drawn on the bottom edge.";
      } else {
        note.className = "lnb-note";
        note.textContent = on
          ? "With layer norm, the summed input is rescaled at every step: only the ratio ρ / s matters (try doubling both)."
          : "Without normalization, the recurrent matrix's scale decides: for linear units both curves change by a factor of about ρ per step.";
      }
      lnbSetResult(root, r);
    }

    let pending = false;
    function schedule() {
      if (pending) return;
      pending = true;
      queueMicrotask(() => { pending = false; draw(); });
    }
    const events = ["change:radius", "change:length", "change:input_scale", "change:norm", "change:nonlinearity",
      "change:eps", "change:w_hh", "change:w_xh", "change:x", "change:h0", "change:readout", "change:limits"];
    for (const name of events) model.on(name, schedule);
    draw();
    return () => { for (const name of events) model.off(name, schedule); };
  },
};
