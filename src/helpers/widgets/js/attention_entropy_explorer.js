// attention_entropy_explorer.js: chapter 10's explorable. One row of attention:
// scores s (a pattern), logits z = λ s (or, soft-capped at c, c tanh(λ s / c)), weights
// softmax(z) and their entropy H in nats, against the logit scale λ. lib.js is joined
// in front of this file (see helpers/widgets/base.py); the Python twin is
// helpers.widgets.attention_entropy_explorer.attention_entropy_view, whose entropies
// come from helpers.attention_entropy.attention_entropy (log_softmax, shifted by the
// row's maximum: so here, and no scale overflows).


/** The scores of one pattern: helpers.widgets.attention_entropy_explorer.attention_scores. */
function aeScores(pattern, T, seed) {
  const s = new Array(T).fill(0);
  if (pattern === "random") {
    const u = lnbUniform(seed, T);
    for (let t = 0; t < T; t++) s[t] = Math.sqrt(3.0) * (2.0 * u[t] - 1.0);
  } else if (pattern === "peak") s[0] = 1.0;
  else if (pattern === "tie") { s[0] = 1.0; if (T > 1) s[1] = 1.0; }
  else for (let t = 0; t < T; t++) s[t] = 1.0 - (2.0 * t) / Math.max(T - 1, 1);
  return s;
}

/** The logits: λ s, or c tanh(λ s / c) with a soft cap c > 0 (variables: c is λ, cap is c). */
function aeLogits(s, c, cap) {
  return s.map((v) => (cap > 0 ? cap * Math.tanh((c * v) / cap) : c * v));
}

/** { p, H }: softmax(z) and its entropy in nats, from log p = z - max - log sum exp (never NaN). */
function aeSoftmax(z) {
  let m = -Infinity;
  for (const v of z) m = Math.max(m, v);
  let sum = 0;
  for (const v of z) sum += Math.exp(v - m);
  const logSum = Math.log(sum);
  const p = new Array(z.length);
  let H = 0;
  for (let t = 0; t < z.length; t++) {
    const logp = z[t] - m - logSum;
    p[t] = Math.exp(logp);
    H -= p[t] * logp;
  }
  return { p, H: Math.max(0, H) };
}

/** Everything the widget shows and reports: the JS twin of attention_entropy_view. */
function aeCompute(s0, curveScales) {
  const { scale, length, pattern, seed } = s0, softcap = Number(s0.softcap);
  const scores = aeScores(pattern, length, seed);
  const logits = aeLogits(scores, scale, softcap);
  const { p, H } = aeSoftmax(logits);
  const curve = curveScales.map((c) => aeSoftmax(aeLogits(scores, c, softcap)).H);
  return {
    scale, length, pattern, seed, softcap, scores, logits, weights: p, entropy: H,
    max_entropy: Math.log(length), perplexity: Math.exp(H), max_weight: Math.max(...p),
    curve_scales: curveScales.slice(), curve,
  };
}

const AE_W = 340, AE_H = 250;  // each chart's coordinate box: drawn at about 1 px per unit, so 13 units ~ 13 px
const AE_M = { left: 50, right: 12, top: 26, bottom: 44 };

/** The weights as bars, with the uniform 1/T dashed. */
function aeBars(r) {
  const T = r.length, m = AE_M, pw = AE_W - m.left - m.right, ph = AE_H - m.top - m.bottom;
  const svg = lnbSvg(AE_W, AE_H, `Bar chart of the ${T} attention weights; the largest is ${lnbFmt(r.max_weight, 3)}, ` +
    `the uniform weight 1/T is ${lnbFmt(1 / T, 3)}`);
  const ymax = [0.05, 0.1, 0.2, 0.5, 1].find((v) => v >= r.max_weight) || 1;
  const sy = (v) => m.top + (1 - Math.min(v, ymax) / ymax) * ph;
  const slot = pw / T, bw = Math.max(1, slot * (T > 24 ? 0.8 : 0.65));
  svg.append(lnbSvgEl("text", { x: m.left, y: 16, class: "lnb-title", text: "Weights pₜ = softmax(z)ₜ" }));
  for (const v of [0, ymax / 2, ymax]) {
    svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left + pw, y1: sy(v), y2: sy(v), class: "lnb-grid" }));
    svg.append(lnbSvgEl("text", { x: m.left - 6, y: sy(v), "text-anchor": "end", "dominant-baseline": "central",
      class: "lnb-tick", text: lnbFmt(v, ymax < 0.1 ? 3 : ymax < 1 ? 2 : 1) }));
  }
  const top = r.weights.indexOf(r.max_weight);
  r.weights.forEach((v, t) => {
    const y = sy(v);
    svg.append(lnbSvgEl("rect", { x: m.left + t * slot + (slot - bw) / 2, y, width: bw, height: Math.max(0.5, m.top + ph - y),
      class: t === top ? "ae-bar ae-top" : "ae-bar" }, [lnbSvgEl("title", { text: `position ${t + 1}: weight ${lnbFmt(v, 4)}, score ${lnbFmt(r.scores[t], 3)}` })]));
  });
  svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left + pw, y1: sy(1 / T), y2: sy(1 / T), class: "ae-uniform" },
    [lnbSvgEl("title", { text: `uniform weight 1/T = ${lnbFmt(1 / T, 4)}` })]));
  const step = T <= 8 ? 1 : T <= 16 ? 5 : T <= 40 ? 10 : 20;  // at most 8 labels, 13 units apart at least
  const xs = [1];
  for (let t = step; t <= T; t += step) if (t !== 1) xs.push(t);
  for (const t of xs) {
    svg.append(lnbSvgEl("text", { x: m.left + (t - 0.5) * slot, y: m.top + ph + 16, "text-anchor": "middle", class: "lnb-tick", text: String(t) }));
  }
  lnbAxes(svg, { xLabel: "position t", yLabel: "weight", height: AE_H }, m, pw, ph);
  return svg;
}

/** H(λ) on a log axis of λ (0.01 .. 100), log T dashed, the current λ as a point (λ = 0 at the left edge). */
function aeCurve(r) {
  const m = AE_M, pw = AE_W - m.left - m.right, ph = AE_H - m.top - m.bottom;
  const cs = r.curve_scales, lo = Math.log10(cs[0]), hi = Math.log10(cs[cs.length - 1]);
  const ymax = r.max_entropy > 0 ? r.max_entropy * 1.08 : 1;
  const sx = (c) => m.left + ((Math.min(hi, Math.max(lo, c > 0 ? Math.log10(c) : lo)) - lo) / (hi - lo)) * pw;
  const sy = (h) => m.top + (1 - h / ymax) * ph;
  const svg = lnbSvg(AE_W, AE_H, `Line chart of the entropy against the logit scale λ on a log axis; ` +
    `at λ = ${lnbFmtSci(r.scale)} it is ${lnbFmt(r.entropy, 3)} nats, log T = ${lnbFmt(r.max_entropy, 3)}`);
  svg.append(lnbSvgEl("text", { x: m.left, y: 16, class: "lnb-title", text: "Entropy H (nats) against λ" }));
  const yt = ymax >= 3 ? [0, 1, 2, 3, 4] : ymax >= 1.5 ? [0, 0.5, 1, 1.5, 2, 2.5] : [0, 0.25, 0.5, 0.75, 1];
  for (const h of yt.filter((v) => v <= ymax + 1e-9)) {
    svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left + pw, y1: sy(h), y2: sy(h), class: "lnb-grid" }));
    svg.append(lnbSvgEl("text", { x: m.left - 6, y: sy(h), "text-anchor": "end", "dominant-baseline": "central", class: "lnb-tick", text: String(h) }));
  }
  for (let e = Math.ceil(lo); e <= hi; e++) {
    svg.append(lnbSvgEl("text", { x: sx(10 ** e), y: m.top + ph + 16, "text-anchor": "middle", class: "lnb-tick", text: lnbFmtPow10(e) }));
  }
  svg.append(lnbSvgEl("line", { x1: m.left, x2: m.left + pw, y1: sy(r.max_entropy), y2: sy(r.max_entropy), class: "ae-logt" }));
  svg.append(lnbSvgEl("text", { x: m.left + pw, y: sy(r.max_entropy) - 5, "text-anchor": "end", class: "lnb-tick",
    text: `log T = ${lnbFmt(r.max_entropy, 2)}` }));
  const d = r.curve.map((h, i) => `${i ? "L" : "M"}${sx(cs[i]).toFixed(2)},${sy(h).toFixed(2)}`).join("");
  svg.append(lnbSvgEl("path", { d, class: "lnb-line" }, [lnbSvgEl("title", { text: "entropy H(λ)" })]));
  svg.append(lnbSvgEl("circle", { cx: sx(r.scale), cy: sy(r.entropy), r: 5.5, class: "ae-point" },
    [lnbSvgEl("title", { text: `λ = ${lnbFmtSci(r.scale)}: H = ${lnbFmt(r.entropy, 3)} nats` })]));
  lnbAxes(svg, { xLabel: "logit scale λ (log axis)", yLabel: "H (nats)", height: AE_H }, m, pw, ph);
  return svg;
}

const AE_PATTERNS = {
  random: "random scores (mean 0, variance 1)",
  peak: "one score 1 above the rest",
  tie: "two scores tied at the top",
  ramp: "scores falling evenly from 1 to −1",
};

/** The caption: the current row in numbers. */
function aeCaption(r) {
  const cap = r.softcap > 0 ? `, soft cap ${r.softcap}` : "";
  return `${AE_PATTERNS[r.pattern]}, T = ${r.length}, λ = ${lnbFmtSci(r.scale)}${cap}: entropy ${lnbFmt(r.entropy, 3)} nats ` +
    `of at most log T = ${lnbFmt(r.max_entropy, 3)}, as spread as ${lnbFmt(r.perplexity, 1)} equal weights (e^H); ` +
    `the largest weight is ${lnbFmt(r.max_weight, 3)}.`;
}

/** The note: what to try. */
function aeNote(r) {
  if (r.length === 1) return "One position: the weight is 1 and the entropy 0 = log 1 at every scale.";
  if (r.softcap > 0) return `With a soft cap c = ${r.softcap} every logit stays within ±${r.softcap}, so however large λ grows ` +
    "the entropy stops falling at a floor; the floor is tiny unless the cap is small. Turn the cap off to compare.";
  if (r.pattern === "tie") return "Two tied maxima: as λ grows the entropy falls to log 2 ≈ 0.69, not 0; the weight is shared.";
  return "At λ = 0 every weight is 1/T and H = log T; as λ grows the weight gathers on the largest score and H falls " +
    "to 0: entropy collapse, what growing query and key norms do to attention (and what QK-norm and soft caps bound).";
}

export default {
  render(ctx) {
    return lnbMount(ctx, "attention_entropy", ({ state, commit, radio, layout, C, bounds }) => {
      const s0 = state();
      const [k0, k1] = C.scale_notches;
      const fromNotch = (k) => (k <= k0 ? 0 : 10 ** ((k - 20) / 10));
      const notch = (c) => (c <= 0 ? k0 : Math.min(k1, Math.max(k0 + 1, Math.round(10 * Math.log10(c)) + 20)));
      const scaleCtl = lnbSlider({
        label: "Logit scale λ", name: "logit scale λ", ariaLabel: "logit scale λ, 0 then a log scale from 0.01 to 100",
        min: k0, max: k1, value: notch(s0.scale), format: (k) => lnbFmtSci(fromNotch(k)),
        onInput: (k) => commit({ scale: fromNotch(k) }),
      });
      const lenCtl = lnbSlider({
        label: "Positions T", name: "positions", ariaLabel: "number of positions T attended over",
        min: bounds.length.min, max: bounds.length.max, value: s0.length, onInput: (v) => commit({ length: v }),
      });
      const patCtl = radio("pattern", "Scores", [
        ["random", "random", "random scores with mean 0 and variance 1"],
        ["peak", "one peak", "one peak: one score 1 above the rest"],
        ["tie", "tie", "tie: two scores tied at the top"],
        ["ramp", "ramp", "ramp: scores falling evenly from 1 to -1"],
      ]);
      const seedCtl = lnbSlider({
        label: "Seed", name: "seed", ariaLabel: "seed of the random scores",
        min: bounds.seed.min, max: bounds.seed.max, value: s0.seed, onInput: (v) => commit({ seed: v }),
      });
      const capCtl = lnbSelect({
        label: "Soft cap c", ariaLabel: "soft cap c: logits c tanh(z / c)",
        options: C.softcaps.map((v) => ({ value: String(v), label: v > 0 ? String(v) : "off" })),
        value: String(s0.softcap), onChange: (v) => commit({ softcap: Number(v) }),
      });
      const panels = lnbEl("div", { class: "lnb-row ae-panels" });
      const { text, note } = layout([scaleCtl.el, lenCtl.el, patCtl.el, seedCtl.el, capCtl.el], [panels]);

      return (s) => {
        const r = aeCompute(s, C.curve_scales);
        scaleCtl.set(notch(s.scale));
        scaleCtl.show(lnbFmtSci(s.scale));
        lenCtl.set(s.length);
        patCtl.set(s.pattern);
        seedCtl.set(s.seed);
        seedCtl.input.disabled = s.pattern !== "random";
        capCtl.set(String(s.softcap));
        panels.replaceChildren(aeBars(r), aeCurve(r));
        text.textContent = aeCaption(r);
        note.textContent = aeNote(r);
        return r;
      };
    });
  },
};
