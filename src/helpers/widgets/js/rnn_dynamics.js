// rnn_dynamics.js: chapter 4's explorable. Norms of the hidden state and of the
// gradient of a small RNN over long sequences, with and without layer norm.
// lib.js is joined in front of this file (see helpers/widgets/base.py); the
// Python twin is helpers.widgets.rnn_dynamics.rnn_dynamics_view, which calls
// helpers.dynamics.rnn_dynamics. Every loop below adds its terms in the same
// order as that Python code, so the two agree to the last bit (tanh aside).

const RD_OVERFLOW_LIMIT = 1e150;  // helpers.dynamics.OVERFLOW_LIMIT

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

export default {
  render(ctx) {
    return lnbMount(ctx, "rnn_dynamics", ({ state, commit, radio, layout, C, bounds }) => {
      const s0 = state();
      const slider = (name, o) => lnbSlider({ min: bounds[name].min, max: bounds[name].max, step: C.steps[name], value: s0[name], onInput: (v) => commit({ [name]: v }), ...o });
      const radiusCtl = slider("radius", {
        label: "Spectral radius ρ", name: "spectral radius", ariaLabel: "spectral radius rho of the recurrent weight matrix", format: (v) => v.toFixed(2),
      });
      const lengthCtl = slider("length", { label: "Length T", name: "length", unit: "steps", ariaLabel: "sequence length T, in time steps" });
      const inputCtl = slider("input_scale", {
        label: "Input scale s", name: "input scale", ariaLabel: "scale s of the input weights", format: (v) => v.toFixed(1),
      });
      const normCtl = radio("norm", "Layer norm", [
        ["none", "off", "no normalization"], ["layer", "on", "layer norm of the summed input at every step"],
      ]);
      const unitCtl = radio("nonlinearity", "Units", [["linear", "linear", "linear units: f(a) = a"], ["tanh", "tanh", "tanh units"]]);
      const panels = lnbEl("div", { class: "lnb-row" });
      const legend = lnbEl("div", { class: "lnb-legend" });
      const { text, note } = layout([radiusCtl.el, lengthCtl.el, inputCtl.el, normCtl.el, unitCtl.el], [panels, legend]);

      return (s0) => {
        const s = { ...s0, length: Math.min(s0.length, s0.x.length) };
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
        const chart = (key, title, yLabel) => lnbLineChart({
          series: [
            { values: other[key], cls: "lnb-line-ghost", label: ghostLabel },
            { values: r[key], label: mainLabel },
          ],
          width: 340, height: 230, title, yLabel, xLabel: "time step t", logY: true,
          ariaLabel: `${title} against time step t on a log scale, ${mainLabel} (solid) and ${ghostLabel} (dashed)`,
        });
        panels.style.gridTemplateColumns = "minmax(0, 1fr) minmax(0, 1fr)";
        panels.replaceChildren(
          chart("h_norm", "Hidden state ‖hᵗ‖", "‖hᵗ‖ (log scale)"),
          chart("grad_norm", "Gradient ‖∂L/∂hᵗ‖", "‖∂L/∂hᵗ‖ (log scale)"),
        );
        legend.replaceChildren(
          lnbEl("span", { class: "lnb-swatch lnb-swatch-line" }), ` ${mainLabel}`,
          lnbEl("span", { class: "lnb-swatch lnb-swatch-ghost" }), ` ${ghostLabel}, for comparison`,
        );
        const T = r.steps_run;
        text.textContent = `${on ? "Layer-normalized" : "Plain"} RNN, ${s.nonlinearity} units, ρ = ${s.radius.toFixed(2)}, ` +
          `s = ${s.input_scale.toFixed(1)}, T = ${T}: the last state has norm ${lnbFmtSci(r.h_norm_last)}, the gradient at t = 0 has norm ${lnbFmtSci(r.grad_norm_first)}` +
          (r.grad_factor > 0 ? `, a factor of ${lnbFmtSci(r.grad_factor)} per step back through time.` : ".");
        rdNote(note, r, on);
        return r;
      };
    });
  },
};

/** The note under the charts: overflow, underflow, or what decides the scale. */
function rdNote(note, r, on) {
  const warn = r.overflow || r.grad_norm.includes(0);
  note.className = warn ? "lnb-note lnb-warn" : "lnb-note";
  if (r.overflow) {
    note.textContent = `The state passed 10¹⁵⁰ at step ${r.steps_run}; the run stops there so that no number overflows.`;
  } else if (warn) {
    note.textContent = `The gradient underflowed to exactly 0 (below about 10⁻³²³) at step ${r.grad_norm.lastIndexOf(0)} and earlier: ` +
      "saturated tanh units multiplied it by f′ ≈ 0 too many times. Zeros are drawn on the bottom edge.";
  } else {
    note.textContent = on
      ? "With layer norm, the summed input is rescaled at every step: only the ratio ρ / s matters (try doubling both)."
      : "Without normalization, the recurrent matrix's scale decides: for linear units both curves change by a factor of about ρ per step.";
  }
}
