// weight_growth.js: chapter 3's interactive figure. Gradient descent on one
// layer-normalized layer, and what it does to ||W|| and the effective learning rate.
// lib.js is joined in front of this file (see helpers/widgets/base.py). Its
// Python twin is helpers.widgets.weight_growth.weight_growth_view: the same
// float operations in the same order, so the two agree to the last bit.

// Slider notches: lr = 10^(k/10), scale = 10^(j/20). One notch of each multiplies
// lr and scale^2 by the same factor, so equal moves keep lr / ||W_0||^2 fixed.
const WG_LR_NOTCH = [-20, 10];     // lr from 0.01 to 10
const WG_SCALE_NOTCH = [-20, 20];  // ||W_0|| from 0.1 to 10
// The same guards as weight_growth.py: inputs outside these are clamped.
const WG_LR_RANGE = [1e-4, 1e3];
const WG_SCALE_RANGE = [1e-3, 1e3];
const WG_STEPS_RANGE = [1, 500];

function wgClamp(v, lo, hi, fallback) {
  const x = Number(v);
  return Number.isFinite(x) ? Math.min(hi, Math.max(lo, x)) : fallback;
}

/** Loss and gradient over the examples `rows`: the JS twin of weight_growth._loss_grad. */
function wgLossGrad(W, X, T, eps, rows) {
  const H = W.length, I = W[0].length, m = rows.length;
  const G = Array.from({ length: H }, () => new Array(I).fill(0));
  let loss = 0;
  for (const n of rows) {
    const x = X[n], t = T[n];
    const a = new Array(H).fill(0);
    for (let i = 0; i < H; i++) {
      let s = 0;
      for (let k = 0; k < I; k++) s += W[i][k] * x[k];
      a[i] = s;  // summed input a_i = w_i . x
    }
    let mu = 0;
    for (let i = 0; i < H; i++) mu += a[i];
    mu /= H;
    let v = 0;
    for (let i = 0; i < H; i++) { const d = a[i] - mu; v += d * d; }
    v /= H;  // biased variance
    const sigma = Math.sqrt(v + eps);
    const aHat = a.map((ai) => (ai - mu) / sigma);
    const dHat = new Array(H).fill(0);
    for (let i = 0; i < H; i++) {
      const r = aHat[i] - t[i];
      loss += r * r;
      dHat[i] = r / m;  // dL/d a_hat for L = sum r^2 / (2 m)
    }
    let m1 = 0;
    for (let i = 0; i < H; i++) m1 += dHat[i];
    m1 /= H;
    let m2 = 0;
    for (let i = 0; i < H; i++) m2 += dHat[i] * aHat[i];
    m2 /= H;
    for (let i = 0; i < H; i++) {
      const da = (dHat[i] - m1 - aHat[i] * m2) / sigma;  // layer norm's backward pass
      for (let k = 0; k < I; k++) G[i][k] += da * x[k];
    }
  }
  return { loss: loss / (2 * m), G };
}

function wgSumProducts(A, B) {
  let s = 0;
  for (let i = 0; i < A.length; i++) for (let k = 0; k < A[i].length; k++) s += A[i][k] * B[i][k];
  return s;
}

/** The whole trajectory: the JS twin of weight_growth_view. */
function wgCompute(X, T, U, lr, scale, steps, eps, mode) {
  const N = X.length;
  const everything = Array.from({ length: N }, (_, n) => n);
  let W = U.map((row) => row.map((u) => scale * u));
  let pSq = wgSumProducts(W, W);
  const out = { norm: [], predicted_norm: [], effective_lr: [], loss: [], grad_norm: [], cosine: [] };
  let maxGap = 0;
  for (let t = 0; t <= steps; t++) {
    const full = wgLossGrad(W, X, T, eps, everything);
    const G = mode === "cyclic" ? wgLossGrad(W, X, T, eps, [t % N]).G : full.G;
    const nSq = wgSumProducts(W, W), gSq = wgSumProducts(G, G), dot = wgSumProducts(W, G);
    const norm = Math.sqrt(nSq), pred = Math.sqrt(pSq);
    out.norm.push(norm);
    out.predicted_norm.push(pred);
    out.effective_lr.push(lr / nSq);
    out.loss.push(full.loss);
    out.grad_norm.push(Math.sqrt(gSq));
    out.cosine.push(gSq > 0 ? dot / (norm * Math.sqrt(gSq)) : 0);
    maxGap = Math.max(maxGap, Math.abs(norm / pred - 1));
    pSq = pSq + lr * lr * gSq;
    if (t < steps) W = W.map((row, i) => row.map((w, k) => w - lr * G[i][k]));
  }
  return { X, T, U, lr, scale, steps, eps, mode, ...out, max_gap: maxGap };
}

// ------------------------------------------------------------------ drawing

/** Round-number text for a value on a log axis: 0.001, 0.01, 0.1, 1, 10, 100, 1e3, ... */
function wgFmtPow(e) {
  if (e >= -3 && e <= 2) return String(Number((10 ** e).toPrecision(1)));
  return `1e${e}`;
}

/** Short text for a positive number: 3 significant digits, exponent form when very small or large. */
function wgFmt(v) {
  if (!Number.isFinite(v)) return lnbFmt(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) {
    const [mant, exp] = v.toExponential(2).split("e");
    return `${mant}e${Number(exp)}`.replace("-", "−");
  }
  return lnbFmt(v, a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
}

/**
 * A line chart as an <svg>. Options: series [{ values, cls, label }], width, height,
 * logY (decade ticks), xLabel, yLabel, title, ariaLabel. x runs over the indices 0..n-1.
 */
function wgLineChart(o) {
  const m = { left: 44, right: 8, top: 22, bottom: 32 };
  const svg = lnbSvg(o.width, o.height, o.ariaLabel || o.title);
  const pw = o.width - m.left - m.right, ph = o.height - m.top - m.bottom;
  const all = o.series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && (!o.logY || v > 0));
  let lo = Math.min(...all), hi = Math.max(...all);
  let ticks;
  const f = o.logY ? Math.log10 : (v) => v;
  if (o.logY) {
    let e0 = Math.floor(Math.log10(lo) + 1e-9), e1 = Math.ceil(Math.log10(hi) - 1e-9);
    if (e1 <= e0) e1 = e0 + 1;
    lo = 10 ** e0; hi = 10 ** e1;
    const stride = Math.max(1, Math.ceil((e1 - e0) / 5));
    ticks = [];
    for (let e = e0; e <= e1; e += stride) ticks.push([10 ** e, wgFmtPow(e)]);
  } else {
    lo = 0;
    hi = hi > 0 ? hi * 1.05 : 1;
    ticks = [0, 1, 2, 3, 4].map((k) => [(k / 4) * hi, lnbFmt((k / 4) * hi, hi >= 10 ? 0 : hi >= 1 ? 1 : 2)]);
  }
  const n = o.series[0].values.length;
  const sx = (i) => m.left + (n > 1 ? (i / (n - 1)) * pw : 0);
  const sy = (v) => {
    const c = Math.min(f(hi), Math.max(f(lo), f(Math.max(v, o.logY ? lo : -Infinity))));
    return m.top + ((f(hi) - c) / (f(hi) - f(lo))) * ph;
  };
  svg.append(lnbSvgEl("text", { x: m.left, y: 14, class: "lnb-title", text: o.title }));
  for (const [v, label] of ticks) {
    const yy = sy(v);
    svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left + pw, y1: yy, y2: yy, class: "lnb-grid" }));
    svg.append(lnbSvgEl("text", { x: m.left - 5, y: yy, "text-anchor": "end", "dominant-baseline": "central", class: "lnb-tick", text: label }));
  }
  const xStep = n - 1 > 100 ? 50 : n - 1 > 40 ? 20 : 10;
  for (let i = 0; i < n; i += xStep) {
    svg.append(lnbSvgEl("text", { x: sx(i), y: m.top + ph + 12, "text-anchor": "middle", class: "lnb-tick", text: String(i) }));
  }
  for (const s of o.series) {
    const d = s.values.map((v, i) => `${i ? "L" : "M"} ${sx(i).toFixed(2)} ${sy(v).toFixed(2)}`).join(" ");
    svg.append(lnbSvgEl("path", { d, class: `wg-line ${s.cls}` }, [lnbSvgEl("title", { text: s.label })]));
  }
  svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left, y1: m.top, y2: m.top + ph, class: "lnb-axis" }));
  svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left + pw, y1: m.top + ph, y2: m.top + ph, class: "lnb-axis" }));
  svg.append(lnbSvgEl("text", { x: m.left + pw / 2, y: o.height - 4, "text-anchor": "middle", class: "lnb-axis-label", text: o.xLabel }));
  svg.append(lnbSvgEl("text", {
    x: 12, y: m.top + ph / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${m.top + ph / 2})`,
    class: "lnb-axis-label", text: o.yLabel,
  }));
  return svg;
}

export default {
  render({ model, el }) {
    const root = lnbRoot(el, "weight_growth");
    const state = () => ({
      X: model.get("X"), T: model.get("T"), U: model.get("U"),
      lr: wgClamp(model.get("lr"), ...WG_LR_RANGE, 0.1),
      scale: wgClamp(model.get("scale"), ...WG_SCALE_RANGE, 1),
      steps: Math.round(wgClamp(model.get("steps"), ...WG_STEPS_RANGE, 100)),
      eps: wgClamp(model.get("eps"), 1e-300, 1, 1e-5),
      mode: model.get("mode") === "full" ? "full" : "cyclic",
    });
    const commit = (changes) => {
      for (const [key, value] of Object.entries(changes)) model.set(key, value);
      model.save_changes();
      schedule();
    };
    const lrNotch = (lr) => Math.round(10 * Math.log10(lr));
    const scaleNotch = (s) => Math.round(20 * Math.log10(s));

    const s0 = state();
    const lrCtl = lnbSlider({
      label: "Learning rate", name: "learning rate", ariaLabel: "learning rate, log scale from 0.01 to 10",
      min: WG_LR_NOTCH[0], max: WG_LR_NOTCH[1], value: lrNotch(s0.lr),
      format: (k) => wgFmt(10 ** (k / 10)),
      onInput: (k) => commit({ lr: 10 ** (k / 10) }),
    });
    const scaleCtl = lnbSlider({
      label: "Starting norm ‖W₀‖", name: "starting norm", ariaLabel: "starting norm of the weights, log scale from 0.1 to 10",
      min: WG_SCALE_NOTCH[0], max: WG_SCALE_NOTCH[1], value: scaleNotch(s0.scale),
      format: (j) => wgFmt(10 ** (j / 20)),
      onInput: (j) => commit({ scale: 10 ** (j / 20) }),
    });
    const modeCtl = lnbRadio({
      label: "Each step uses", name: `lnb-wg-mode-${Math.random().toString(36).slice(2, 9)}`, value: s0.mode,
      options: [
        { value: "cyclic", label: "one example (SGD)", ariaLabel: "stochastic gradient descent: one example per step, in turn" },
        { value: "full", label: "all examples", ariaLabel: "full-batch gradient descent: all examples every step" },
      ],
      onChange: (v) => commit({ mode: v }),
    });

    const text = lnbEl("p", { class: "lnb-caption", "aria-live": "polite" });
    const charts = lnbEl("div", { class: "wg-charts" });
    const legend = lnbEl("div", { class: "lnb-legend" });
    const note = lnbEl("p", { class: "lnb-note", "aria-live": "polite" });
    root.append(lnbEl("div", { class: "lnb-controls" }, [lrCtl.el, scaleCtl.el, modeCtl.el]), text, charts, legend, note);

    function draw() {
      const s = state();
      const r = wgCompute(s.X, s.T, s.U, s.lr, s.scale, s.steps, s.eps, s.mode);
      lrCtl.set(lrNotch(s.lr));
      scaleCtl.set(scaleNotch(s.scale));
      modeCtl.set(s.mode);
      // the displayed values are the ones used, even when the model's value is off the notches
      lrCtl.show(wgFmt(s.lr));
      scaleCtl.show(wgFmt(s.scale));

      const T = s.steps, last = r.norm.length - 1;
      const size = { width: 210, height: 180 };
      charts.replaceChildren(
        wgLineChart({
          ...size, logY: true, title: "Weight norm ‖W‖", xLabel: "step t", yLabel: "‖Wₜ‖ (log scale)",
          ariaLabel: `Weight norm over ${T} steps, from ${wgFmt(r.norm[0])} to ${wgFmt(r.norm[last])}, with the Pythagoras prediction`,
          series: [
            { values: r.norm, cls: "wg-measured", label: "measured ‖W_t‖" },
            { values: r.predicted_norm, cls: "wg-predicted", label: "Pythagoras: ‖Wₜ₊₁‖² = ‖Wₜ‖² + lr² ‖gₜ‖²" },
          ],
        }),
        wgLineChart({
          ...size, logY: true, title: "Effective learning rate", xLabel: "step t", yLabel: "lr / ‖Wₜ‖² (log scale)",
          ariaLabel: `Effective learning rate over ${T} steps, from ${wgFmt(r.effective_lr[0])} to ${wgFmt(r.effective_lr[last])}`,
          series: [{ values: r.effective_lr, cls: "wg-measured", label: "lr / ‖Wₜ‖²" }],
        }),
        wgLineChart({
          ...size, logY: false, title: "Loss", xLabel: "step t", yLabel: "loss, all examples",
          ariaLabel: `Loss over ${T} steps, from ${wgFmt(r.loss[0])} to ${wgFmt(r.loss[last])}`,
          series: [{ values: r.loss, cls: "wg-loss", label: "loss" }],
        }),
      );
      legend.replaceChildren(
        lnbEl("span", { class: "lnb-swatch wg-swatch-measured" }), " measured",
        lnbEl("span", { class: "lnb-swatch wg-swatch-predicted" }), " Pythagoras: ‖Wₜ₊₁‖² = ‖Wₜ‖² + lr² ‖gₜ‖², with gₜ the step's gradient",
      );

      const grow = r.norm[last] / r.norm[0];
      text.textContent =
        `Start: ‖W₀‖ = ${wgFmt(r.norm[0])}, so the effective learning rate is lr / ‖W₀‖² = ${wgFmt(r.effective_lr[0])}. ` +
        `After ${T} steps ‖W‖ = ${wgFmt(r.norm[last])} (× ${wgFmt(grow)}), the effective learning rate is ` +
        `${wgFmt(r.effective_lr[last])}, and the loss went from ${wgFmt(r.loss[0])} to ${wgFmt(r.loss[last])}.`;
      const worst = Math.max(...r.cosine.map(Math.abs));
      note.className = r.max_gap > 1e-3 ? "lnb-note lnb-warn" : "lnb-note";
      note.textContent = (r.max_gap > 1e-3
        ? `With ‖W‖ this small, ε = ${lnbFmtEps(s.eps)} is not negligible next to the variance of the summed inputs, ` +
          `so the gradient is not quite orthogonal to W (|cos| up to ${wgFmt(worst)}) and the norm drifts from the ` +
          `prediction by up to ${wgFmt(100 * r.max_gap)}%. `
        : `Every gradient is orthogonal to W (|cos| ≤ ${wgFmt(worst)}, the ε term), so the measured norm follows ` +
          `Pythagoras to a relative ${wgFmt(r.max_gap)}. `) +
        `Only lr / ‖W₀‖² shapes the loss curve: move both sliders by the same number of notches and it stays put.`;
      lnbSetResult(root, r);
    }

    let pending = false;
    function schedule() {
      if (pending) return;
      pending = true;
      queueMicrotask(() => { pending = false; draw(); });
    }
    const events = ["change:X", "change:T", "change:U", "change:lr", "change:scale", "change:steps", "change:eps", "change:mode"];
    for (const name of events) model.on(name, schedule);
    draw();
    return () => { for (const name of events) model.off(name, schedule); };
  },
};
