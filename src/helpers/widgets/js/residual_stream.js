// residual_stream.js: the Transformer chapter's explorable. The residual stream of a
// random stack of L blocks at initialization, post-LN or pre-LN: the stream's RMS and
// the gradient reaching it after every block. lib.js is joined in front of this file
// (see helpers/widgets/base.py); the Python twin is
// helpers.widgets.residual_stream.residual_stream_view, which calls
// helpers.residual.residual_stream. Same weights (mulberry32, drawn in the same
// order), same arithmetic; only the order of some sums differs.

/** n numbers in [0, 1) from mulberry32 seeded with `seed`: helpers.residual.uniform_stream. */
function rsUniform(seed, n) {
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

/** X0, R (N x C) and W1, W2 (L of C x C), drawn as helpers.residual.random_stack draws them. */
function rsStack(L, C, N, seed) {
  const u = rsUniform(seed, 2 * N * C + 2 * L * C * C);
  let k = 0;
  const take = (rows, cols, scale) => Array.from({ length: rows }, () =>
    Array.from({ length: cols }, () => (2.0 * u[k++] - 1.0) * scale));
  const X0 = take(N, C, Math.sqrt(3.0)), R = take(N, C, Math.sqrt(3.0));
  const W1 = [], W2 = [];
  for (let l = 0; l < L; l++) {
    W1.push(take(C, C, Math.sqrt(3.0 / C)));
    W2.push(take(C, C, Math.sqrt(6.0 / C)));
  }
  return { X0, R, W1, W2 };
}

/** Layer norm of one token (no gain, no bias): { y, sigma }. */
function rsLn(x, eps) {
  const mu = lnbMean(x);
  const sigma = Math.sqrt(lnbVar(x, mu) + eps);
  return { y: x.map((v) => (v - mu) / sigma), sigma };
}

/** The gradient through rsLn, given its output y, its sigma and the upstream gradient dy. */
function rsLnBack(y, sigma, dy) {
  const m1 = lnbMean(dy);
  const m2 = lnbMean(dy.map((v, i) => v * y[i]));
  return dy.map((v, i) => (v - m1 - y[i] * m2) / sigma);
}

/** W v (W: rows of length v.length). */
function rsMv(W, v) {
  return W.map((row) => { let s = 0; for (let j = 0; j < v.length; j++) s += row[j] * v[j]; return s; });
}

/** W^T v. */
function rsMtv(W, v) {
  const out = new Array(W[0].length).fill(0);
  for (let i = 0; i < W.length; i++) for (let j = 0; j < out.length; j++) out[j] += W[i][j] * v[i];
  return out;
}

/** One block forward for one token: the new stream and what the backward pass needs. */
function rsBlock(x, W1, W2, g, pre, eps) {
  if (pre) {
    const { y: z, sigma } = rsLn(x, eps);
    const a = rsMv(W1, z), h = a.map((v) => Math.max(v, 0));
    const f = rsMv(W2, h);
    return { out: x.map((v, i) => v + g * f[i]), z, sigma, a, h };
  }
  const a = rsMv(W1, x), h = a.map((v) => Math.max(v, 0));
  const f = rsMv(W2, h);
  const { y, sigma } = rsLn(x.map((v, i) => v + g * f[i]), eps);
  return { out: y, z: x, sigma, a, h };
}

/** One block backward for one token; adds to the weight gradients gW1, gW2; returns d(stream in). */
function rsBlockBack(c, dx, W1, W2, g, pre, gW1, gW2) {
  const dSum = pre ? dx : rsLnBack(c.out, c.sigma, dx);
  const dh = rsMtv(W2, dSum).map((v) => g * v);
  const da = dh.map((v, i) => (c.a[i] > 0 ? v : 0));
  for (let i = 0; i < dSum.length; i++) for (let j = 0; j < dSum.length; j++) {
    gW2[i][j] += g * dSum[i] * c.h[j];
    gW1[i][j] += da[i] * c.z[j];
  }
  const dIn = rsMtv(W1, da);
  if (pre) {
    const back = rsLnBack(c.z, c.sigma, dIn);
    return dx.map((v, i) => v + back[i]);
  }
  return dSum.map((v, i) => v + dIn[i]);
}

/** Frobenius norm of a list of equally long vectors. */
function rsNorm(rows) {
  let s = 0;
  for (const row of rows) for (const v of row) s += v * v;
  return Math.sqrt(s);
}

/** The stack forward and backward, all tokens: helpers.residual.residual_stream. */
function rsRun(net, L, placement, scale, gain, eps) {
  const pre = placement === "pre", N = net.X0.length, C = net.X0[0].length;
  let xs = net.X0.map((row) => row.map((v) => scale * v));
  const streams = [xs], caches = [];
  for (let l = 0; l < L; l++) {
    const cs = xs.map((x) => rsBlock(x, net.W1[l], net.W2[l], gain, pre, eps));
    caches.push(cs);
    xs = cs.map((c) => c.out);
    streams.push(xs);
  }
  const fin = pre ? xs.map((x) => rsLn(x, eps)) : null;
  let dxs = net.R.map((r, n) => {
    const dy = r.map((v) => v / N);
    return pre ? rsLnBack(fin[n].y, fin[n].sigma, dy) : dy;
  });
  const streamGrad = [rsNorm(dxs)], grad = [];
  for (let l = L - 1; l >= 0; l--) {
    const gW1 = Array.from({ length: C }, () => new Array(C).fill(0));
    const gW2 = Array.from({ length: C }, () => new Array(C).fill(0));
    dxs = dxs.map((dx, n) => rsBlockBack(caches[l][n], dx, net.W1[l], net.W2[l], gain, pre, gW1, gW2));
    grad.push(Math.sqrt(rsNorm(gW1) ** 2 + rsNorm(gW2) ** 2));
    streamGrad.push(rsNorm(dxs));
  }
  const rms = streams.map((s) => rsNorm(s) / Math.sqrt(N * C));
  return { rms, grad: grad.reverse(), stream_grad: streamGrad.reverse() };
}

/** Everything the widget shows and reports: the JS twin of residual_stream_view. */
function rsCompute(s) {
  const net = rsStack(s.depth, s.width, s.tokens, s.seed);
  const other = s.placement === "pre" ? "post" : "pre";
  const a = rsRun(net, s.depth, s.placement, s.scale, s.gain, s.eps);
  const b = rsRun(net, s.depth, other, s.scale, s.gain, s.eps);
  const expected = Array.from({ length: s.depth + 1 }, (_, l) => (s.placement === "pre"
    ? Math.sqrt(s.scale * s.scale + l * s.gain * s.gain) : (l === 0 ? s.scale : 1.0)));
  return {
    depth: s.depth, placement: s.placement, scale: s.scale, gain: s.gain,
    seed: s.seed, width: s.width, tokens: s.tokens, eps: s.eps,
    rms: a.rms, stream_grad: a.stream_grad, grad: a.grad, rms_other: b.rms, stream_grad_other: b.stream_grad,
    expected_rms: expected, grad_ratio: a.grad[s.depth - 1] / a.grad[0],
    grad_last_other: b.grad[s.depth - 1] / a.grad[s.depth - 1],
  };
}

const RS_NAMES = { pre: "pre-LN", post: "post-LN" };

/** The caption: what the reader is looking at, in numbers. */
function rsCaption(s, r) {
  const other = s.placement === "pre" ? "post" : "pre";
  return `${RS_NAMES[s.placement]}, ${s.depth} block${s.depth === 1 ? "" : "s"}, input scale s = ${lnbFmtSci(s.scale)}, ` +
    `branch gain g = ${lnbFmt(s.gain, 1)}: the stream ends at RMS ${lnbFmtSci(r.rms[s.depth])}; the last block's weight gradient ` +
    `is ${lnbFmtSci(r.grad_ratio)} times the first block's, and ${RS_NAMES[other]}'s last block gets ` +
    `${lnbFmtSci(r.grad_last_other)} times as large a gradient.`;
}

const RS_NOTES = {
  pre: "Pre-LN: every branch adds g² to the stream's mean square, so it grows like √(s² + l g²), and every norm " +
    "divides the gradient by it: the gradient falls towards the output. Try a large s, or many blocks.",
  post: "Post-LN: every norm brings the stream back to RMS 1, whatever s; the gradient reaching each block " +
    "stays about the same at every depth. Compare its last block with pre-LN's (dashed) as L grows.",
};

export default {
  render(ctx) {
    return lnbMount(ctx, "residual_stream", ({ state, commit, radio, layout, C, bounds }) => {
      const s0 = state();
      const notch = (v) => Math.round(10 * Math.log10(v));
      const placeCtl = radio("placement", "Norm", [
        ["post", "post-LN", "post-LN: layer norm after each residual addition"],
        ["pre", "pre-LN", "pre-LN: layer norm in front of each branch, and a final norm"],
      ]);
      const depthCtl = lnbSlider({
        label: "Blocks L", name: "blocks", ariaLabel: "number of residual blocks L",
        min: bounds.depth.min, max: bounds.depth.max, value: s0.depth, onInput: (v) => commit({ depth: v }),
      });
      const scaleCtl = lnbSlider({
        label: "Input scale s", name: "input scale", ariaLabel: "scale s of the input to the stack, log scale from 0.1 to 10",
        min: C.scale_notches[0], max: C.scale_notches[1], value: notch(s0.scale),
        format: (k) => lnbFmtSci(10 ** (k / 10)), onInput: (k) => commit({ scale: 10 ** (k / 10) }),
      });
      const gainCtl = lnbSlider({
        label: "Branch gain g", name: "branch gain", ariaLabel: "gain g of every residual branch",
        min: bounds.gain.min, max: bounds.gain.max, step: C.gain_step, value: s0.gain,
        format: (v) => lnbFmt(v, 1), onInput: (v) => commit({ gain: v }),
      });
      const charts = lnbEl("div", { class: "lnb-row rs-charts" });
      const legend = lnbEl("div", { class: "lnb-legend" });
      const { text, note } = layout([placeCtl.el, depthCtl.el, scaleCtl.el, gainCtl.el], [charts, legend]);

      return (s) => {
        const r = rsCompute(s);
        placeCtl.set(s.placement);
        depthCtl.set(s.depth);
        scaleCtl.set(notch(s.scale));
        gainCtl.set(s.gain);
        const me = RS_NAMES[s.placement], them = RS_NAMES[s.placement === "pre" ? "post" : "pre"];
        const chart = (key, title, yLabel, extra) => lnbLineChart({
          width: 350, height: 230, logY: true, title, yLabel, xLabel: "after block \u2113",
          ariaLabel: `${title} after each block on a log scale, ${me} (solid) and ${them} (dashed)`,
          series: [{ values: r[`${key}_other`], cls: "lnb-line-ghost", label: them }, ...extra,
            { values: r[key], label: me }],
        });
        charts.replaceChildren(
          chart("rms", "Stream RMS ‖xₗ‖/√(NC)", "RMS (log scale)",
            [{ values: r.expected_rms, cls: "lnb-line-ref", label: "expected" }]),
          chart("stream_grad", "Gradient ‖∂L/∂xₗ‖", "norm (log scale)", []),
        );
        const item = (cls, label) => lnbEl("span", { style: "white-space:nowrap" },
          [lnbEl("span", { class: `lnb-swatch ${cls}` }), ` ${label}`]);
        legend.replaceChildren(item("lnb-swatch-line", me), " ", item("lnb-swatch-ghost", them), " ",
          item("lnb-swatch-ref", `expected RMS of ${me}`));
        text.textContent = rsCaption(s, r);
        note.textContent = RS_NOTES[s.placement];
        return r;
      };
    });
  },
};
