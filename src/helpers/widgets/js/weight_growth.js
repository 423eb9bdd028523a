// weight_growth.js: chapter 3's interactive figure. Gradient descent on one
// layer-normalized layer, and what it does to ||W|| and the effective learning rate.
// lib.js is joined in front of this file (see helpers/widgets/base.py). Python
// checks it with helpers.geometry.gd_trajectory (weight_growth_view), which does
// the same arithmetic with NumPy. The inputs' bounds and the sliders' notches come
// from Python (the model's spec). Notches: lr = 10^(k/10), scale = 10^(j/20), so one
// notch of each multiplies lr and scale^2 by the same factor, and equal moves keep
// lr / ||W_0||^2 fixed.

/** Loss and gradient over the examples `rows`: helpers.geometry.ln_regression_loss_and_grad. */
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

/** The whole trajectory: helpers.geometry.gd_trajectory, as weight_growth_view reports it. */
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

export default {
  render(ctx) {
    return lnbMount(ctx, "weight_growth", ({ state, commit, radio, layout, C }) => {
      const lrNotch = (lr) => Math.round(10 * Math.log10(lr));
      const scaleNotch = (s) => Math.round(20 * Math.log10(s));
      const s0 = state();
      const lrCtl = lnbSlider({
        label: "Learning rate", name: "learning rate", ariaLabel: "learning rate, log scale from 0.01 to 10",
        min: C.lr_notches[0], max: C.lr_notches[1], value: lrNotch(s0.lr),
        format: (k) => lnbFmtSci(10 ** (k / 10)),
        onInput: (k) => commit({ lr: 10 ** (k / 10) }),
      });
      const scaleCtl = lnbSlider({
        label: "Starting norm ‖W₀‖", name: "starting norm", ariaLabel: "starting norm of the weights, log scale from 0.1 to 10",
        min: C.scale_notches[0], max: C.scale_notches[1], value: scaleNotch(s0.scale),
        format: (j) => lnbFmtSci(10 ** (j / 20)),
        onInput: (j) => commit({ scale: 10 ** (j / 20) }),
      });
      const modeCtl = radio("mode", "Each step uses", [
        ["cyclic", "one example (SGD)", "stochastic gradient descent: one example per step, in turn"],
        ["full", "all examples", "full-batch gradient descent: all examples every step"],
      ]);
      const charts = lnbEl("div", { class: "wg-charts" });
      const legend = lnbEl("div", { class: "lnb-legend" }, [
        lnbEl("span", { class: "lnb-swatch lnb-swatch-line" }), " measured",
        lnbEl("span", { class: "lnb-swatch lnb-swatch-ref" }), " Pythagoras: ‖Wₜ₊₁‖² = ‖Wₜ‖² + lr² ‖gₜ‖², with gₜ the step's gradient",
      ]);
      const { text, note } = layout([lrCtl.el, scaleCtl.el, modeCtl.el], [charts, legend]);

      return (s) => {
        const r = wgCompute(s.X, s.T, s.U, s.lr, s.scale, s.steps, s.eps, s.mode);
        lrCtl.set(lrNotch(s.lr));
        scaleCtl.set(scaleNotch(s.scale));
        modeCtl.set(s.mode);
        // the displayed values are the ones used, even when the model's value is off the notches
        lrCtl.show(lnbFmtSci(s.lr));
        scaleCtl.show(lnbFmtSci(s.scale));
        const last = r.norm.length - 1, fmt = lnbFmtSci;
        // three side by side on a laptop; on a phone they stack, each the column's width
        const narrow = lnbNarrow();
        const chart = (o) => lnbLineChart({ width: narrow ? 340 : 228, height: narrow ? 220 : 196, xLabel: "step t", ...o });
        charts.replaceChildren(
          chart({
            logY: true, title: "Weight norm ‖W‖", yLabel: "‖Wₜ‖ (log scale)",
            ariaLabel: `Weight norm over ${s.steps} steps, from ${fmt(r.norm[0])} to ${fmt(r.norm[last])}, with the Pythagoras prediction`,
            series: [
              { values: r.norm, label: "measured ‖W_t‖" },
              { values: r.predicted_norm, cls: "lnb-line-ref", label: "Pythagoras: ‖Wₜ₊₁‖² = ‖Wₜ‖² + lr² ‖gₜ‖²" },
            ],
          }),
          chart({
            logY: true, title: "Effective learning rate", yLabel: "lr / ‖Wₜ‖² (log scale)",
            ariaLabel: `Effective learning rate over ${s.steps} steps, from ${fmt(r.effective_lr[0])} to ${fmt(r.effective_lr[last])}`,
            series: [{ values: r.effective_lr, label: "lr / ‖Wₜ‖²" }],
          }),
          chart({
            title: "Loss", yLabel: "loss, all examples",
            ariaLabel: `Loss over ${s.steps} steps, from ${fmt(r.loss[0])} to ${fmt(r.loss[last])}`,
            series: [{ values: r.loss, cls: "lnb-line-fg", label: "loss" }],
          }),
        );
        text.textContent =
          `Start: ‖W₀‖ = ${fmt(r.norm[0])}, so the effective learning rate is lr / ‖W₀‖² = ${fmt(r.effective_lr[0])}. ` +
          `After ${s.steps} steps ‖W‖ = ${fmt(r.norm[last])} (× ${fmt(r.norm[last] / r.norm[0])}), the effective learning rate is ` +
          `${fmt(r.effective_lr[last])}, and the loss went from ${fmt(r.loss[0])} to ${fmt(r.loss[last])}.`;
        const worst = Math.max(...r.cosine.map(Math.abs));
        note.className = r.max_gap > 1e-3 ? "lnb-note lnb-warn" : "lnb-note";
        note.textContent = (r.max_gap > 1e-3
          ? `With ‖W‖ this small, ε = ${lnbFmtEps(s.eps)} is not negligible next to the variance of the summed inputs, ` +
            `so the gradient is not quite orthogonal to W (|cos| up to ${fmt(worst)}) and the norm drifts from the ` +
            `prediction by up to ${fmt(100 * r.max_gap)}%. `
          : `Every gradient is orthogonal to W (|cos| ≤ ${fmt(worst)}, the ε term), so the measured norm follows ` +
            `Pythagoras to a relative ${fmt(r.max_gap)}. `) +
          `Only lr / ‖W₀‖² shapes the loss curve: move both sliders by the same number of notches and it stays put.`;
        return r;
      };
    });
  },
};
