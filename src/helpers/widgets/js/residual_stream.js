// residual_stream.js: the Transformer chapter's explorable. The residual stream of a
// random stack of L blocks at initialization, post-LN or pre-LN: the stream's RMS and
// the gradient reaching it after every block. lib.js is joined in front of this file
// (see helpers/widgets/base.py); the Python twin is
// helpers.widgets.residual_stream.residual_stream_view, which calls
// helpers.residual.residual_stream. Same weights (mulberry32, drawn in the same
// order), same arithmetic; only the order of some sums differs.


// Speed (issue 19: at most 16 ms an update at depth 48). Everything lives in flat Float64Arrays:
// a token's vector is C consecutive numbers, a matrix C x C row by row. The weights are drawn once per
// (seed, width, tokens) for the deepest stack asked for so far: helpers.residual.random_stack draws
// X0, R, then W1, W2 block by block, so a shallower stack is a prefix of a deeper one and the depth
// slider draws nothing. The buffers of the forward and backward pass are allocated once per shape
// (RS_WORK) and the hot loops allocate nothing. Each placement's result is kept for its inputs
// (RS_RESULTS), so an update recomputes only what changed: switching placement recomputes nothing,
// a new depth, scale or gain recomputes both placements once.

const RS_MIN_DEPTH = 48;  // the slider's maximum: draw at least this deep once
let RS_NET = null;  // { key, L, C, N, X0, R, W1, W2 }

/** X0, R (N x C), W1 and W2 transposed (L x C x C), flat, drawn as helpers.residual.random_stack draws them; cached. */
function rsStack(L, C, N, seed) {
  const key = `${seed}/${C}/${N}`;
  if (RS_NET && RS_NET.key === key && RS_NET.L >= L) return RS_NET;
  const depth = Math.max(L, RS_MIN_DEPTH), nc = N * C, cc = C * C;
  const u = lnbUniform(seed, 2 * nc + 2 * depth * cc);
  const X0 = new Float64Array(nc), R = new Float64Array(nc);
  const W1 = new Float64Array(depth * cc), W2T = new Float64Array(depth * cc);  // W2 transposed: columns contiguous
  const s0 = Math.sqrt(3.0), s1 = Math.sqrt(3.0 / C), s2 = Math.sqrt(6.0 / C);
  for (let i = 0; i < nc; i++) { X0[i] = (2.0 * u[i] - 1.0) * s0; R[i] = (2.0 * u[nc + i] - 1.0) * s0; }
  for (let l = 0; l < depth; l++) {
    const from = 2 * nc + 2 * l * cc;
    for (let i = 0; i < cc; i++) {
      W1[l * cc + i] = (2.0 * u[from + i] - 1.0) * s1;
      W2T[l * cc + (i % C) * C + Math.floor(i / C)] = (2.0 * u[from + cc + i] - 1.0) * s2;
    }
  }
  RS_NET = { key, L: depth, C, N, X0, R, W1, W2T };
  return RS_NET;
}

let RS_WORK = null;

/** The buffers of one pass for L blocks of N tokens of width C, allocated once per shape. */
function rsWork(L, C, N) {
  if (RS_WORK && RS_WORK.L >= L && RS_WORK.C === C && RS_WORK.N === N) return RS_WORK;
  const nc = N * C, depth = Math.max(L, RS_MIN_DEPTH);
  RS_WORK = {
    L: depth, C, N,
    xs: new Float64Array((depth + 1) * nc),  // the stream x_0 .. x_L
    zs: new Float64Array(depth * nc),  // each block's W1 input: LN(x) (pre) or x (post)
    hs: new Float64Array(depth * nc),  // relu(W1 z)
    act: new Int32Array(depth * nc),  // per block and token: the units with W1 z > 0, then unused entries
    nAct: new Int32Array(depth * N),  // how many
    sig: new Float64Array(depth * N),  // the block's norm's sigma per token
    fy: new Float64Array(nc), fsig: new Float64Array(N),  // the final norm (pre-LN)
    dx: new Float64Array(nc), f: new Float64Array(C),
    dSum: new Float64Array(C), da: new Float64Array(C), dIn: new Float64Array(C),
    gW1: new Float64Array(C * C), gW2: new Float64Array(C * C),
  };
  return RS_WORK;
}

/** Layer norm (no gain or bias) of x[xo .. xo + C) into y[yo ..]; returns sigma. y may be x. */
function rsLnInto(x, xo, y, yo, C, eps) {
  let mu = 0;
  for (let j = 0; j < C; j++) mu += x[xo + j];
  mu /= C;
  let v = 0;
  for (let j = 0; j < C; j++) { const d = x[xo + j] - mu; v += d * d; }
  const sigma = Math.sqrt(v / C + eps);
  for (let j = 0; j < C; j++) y[yo + j] = (x[xo + j] - mu) / sigma;
  return sigma;
}

/** In place: dy[do ..] <- the gradient through layer norm, given its output y[yo ..] and sigma. */
function rsLnBackInPlace(y, yo, sigma, dy, dOff, C) {
  let m1 = 0, m2 = 0;
  for (let j = 0; j < C; j++) { m1 += dy[dOff + j]; m2 += dy[dOff + j] * y[yo + j]; }
  m1 /= C;
  m2 /= C;
  for (let j = 0; j < C; j++) dy[dOff + j] = (dy[dOff + j] - m1 - y[yo + j] * m2) / sigma;
}

/** Sum of squares of a[o .. o + n). */
function rsSq(a, o, n) {
  let s = 0;
  for (let i = o; i < o + n; i++) s += a[i] * a[i];
  return s;
}

/** The stack forward and backward, all tokens: helpers.residual.residual_stream. Returns plain arrays. */
function rsRun(net, L, placement, scale, gain, eps) {
  const pre = placement === "pre", C = net.C, N = net.N, nc = N * C, cc = C * C;
  const w = rsWork(L, C, N), { xs, zs, hs, act, nAct, sig, dx, f, dSum, da, dIn, gW1, gW2 } = w;
  const W1 = net.W1, W2T = net.W2T, g = gain;
  for (let i = 0; i < nc; i++) xs[i] = scale * net.X0[i];
  for (let l = 0; l < L; l++) {
    const w0 = l * cc, bo = l * nc, xi = l * nc, xo = (l + 1) * nc;
    for (let n = 0; n < N; n++) {
      const t = n * C;  // token n's offset in an N x C block
      if (pre) sig[l * N + n] = rsLnInto(xs, xi + t, zs, bo + t, C, eps);
      else for (let j = 0; j < C; j++) zs[bo + t + j] = xs[xi + t + j];
      const ao = bo + t;
      let k = 0;
      for (let i = 0; i < C; i++) {  // a = W1 z, h = relu(a); the units with a > 0 listed in act
        let s = 0;
        const r = w0 + i * C;
        for (let j = 0; j < C; j++) s += W1[r + j] * zs[ao + j];
        hs[ao + i] = s > 0 ? s : 0;
        if (s > 0) act[ao + k++] = i;
      }
      nAct[l * N + n] = k;
      f.fill(0);
      for (let q = 0; q < k; q++) {  // f = W2 h = sum of h_j times column j of W2 (row j of W2T), active j only
        const j = act[ao + q], hj = hs[ao + j], r = w0 + j * C;
        for (let i = 0; i < C; i++) f[i] += W2T[r + i] * hj;
      }
      for (let i = 0; i < C; i++) xs[xo + t + i] = xs[xi + t + i] + g * f[i];
      if (!pre) sig[l * N + n] = rsLnInto(xs, xo + t, xs, xo + t, C, eps);  // x_{l+1} = LN(x + g f)
    }
  }
  // the loss: mean over tokens of r_n . y_n, y the final norm's output (pre) or x_L (post)
  const last = L * nc;
  for (let i = 0; i < nc; i++) dx[i] = net.R[i] / N;
  if (pre) {
    for (let n = 0; n < N; n++) {
      w.fsig[n] = rsLnInto(xs, last + n * C, w.fy, n * C, C, eps);
      rsLnBackInPlace(w.fy, n * C, w.fsig[n], dx, n * C, C);
    }
  }
  const streamGrad = new Array(L + 1), grad = new Array(L), rms = new Array(L + 1);
  streamGrad[L] = Math.sqrt(rsSq(dx, 0, nc));
  for (let l = L - 1; l >= 0; l--) {
    const w0 = l * cc, bo = l * nc, xo = (l + 1) * nc;
    gW1.fill(0);
    gW2.fill(0);
    for (let n = 0; n < N; n++) {
      const t = n * C;
      for (let j = 0; j < C; j++) dSum[j] = dx[t + j];
      if (!pre) rsLnBackInPlace(xs, xo + t, sig[l * N + n], dSum, 0, C);  // through the norm after the sum
      // only the active units (a > 0) carry a gradient into W1, W2's columns and the branch's input
      const ao = bo + t, k = nAct[l * N + n];
      for (let q = 0; q < k; q++) {  // da = g W2^T dSum at the q-th active unit j; gW2^T += g h dSum^T
        const j = act[ao + q], r = w0 + j * C, hj = g * hs[ao + j];
        let s = 0;
        for (let i = 0; i < C; i++) {
          s += W2T[r + i] * dSum[i];
          gW2[r - w0 + i] += hj * dSum[i];  // gW2 kept transposed: its norm is the same
        }
        da[q] = s;
      }
      for (let j = 0; j < C; j++) dIn[j] = 0;
      for (let q = 0; q < k; q++) {
        const i = act[ao + q], d1 = g * da[q], r = w0 + i * C, gr = i * C;
        for (let j = 0; j < C; j++) {
          gW1[gr + j] += d1 * zs[ao + j];  // gW1 += da z^T
          dIn[j] += W1[r + j] * d1;  // dIn = W1^T da
        }
      }
      if (pre) {
        rsLnBackInPlace(zs, bo + t, sig[l * N + n], dIn, 0, C);  // through the branch's norm
        for (let j = 0; j < C; j++) dx[t + j] += dIn[j];
      } else {
        for (let j = 0; j < C; j++) dx[t + j] = dSum[j] + dIn[j];
      }
    }
    grad[l] = Math.sqrt(rsSq(gW1, 0, cc) + rsSq(gW2, 0, cc));
    streamGrad[l] = Math.sqrt(rsSq(dx, 0, nc));
  }
  for (let l = 0; l <= L; l++) rms[l] = Math.sqrt(rsSq(xs, l * nc, nc)) / Math.sqrt(nc);
  return { rms, grad, stream_grad: streamGrad };
}

// Each placement's last result, by its inputs: an update recomputes only the placements whose inputs changed.
const RS_RESULTS = new Map();

function rsRunCached(s, placement) {
  const key = [placement, s.depth, s.scale, s.gain, s.seed, s.width, s.tokens, s.eps].join("/");
  let r = RS_RESULTS.get(placement);
  if (!r || r.key !== key) {
    r = { key, ...rsRun(rsStack(s.depth, s.width, s.tokens, s.seed), s.depth, placement, s.scale, s.gain, s.eps) };
    RS_RESULTS.set(placement, r);
  }
  return r;
}

/** Everything the widget shows and reports: the JS twin of residual_stream_view. */
function rsCompute(s) {
  const other = s.placement === "pre" ? "post" : "pre";
  const a = rsRunCached(s, s.placement), b = rsRunCached(s, other);
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
          width: 340, height: 230, logY: true, title, yLabel, xLabel: "after block \u2113",
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
