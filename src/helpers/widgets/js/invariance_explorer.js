// invariance_explorer.js: chapter 2's explorable. Transform a layer (one of the six
// transformations of the paper's Table 1) and see which of batch norm, weight norm
// and layer norm change their normalized output.
// lib.js is joined in front of this file (see helpers/widgets/base.py); the Python
// twin is helpers.widgets.invariance_explorer.invariance_view.

// The transformations, methods, Table 1, the tolerance and the eps choices come from
// Python (InvarianceExplorer.constants, in the model's spec); here only the words.
// What each transformation does, and which of delta and gamma it uses, by its name.
const IV_FORMULA = {
  "weight matrix re-scaling": "W ← δW",
  "weight matrix re-centering": "every wᵢ ← wᵢ + γ",
  "weight vector re-scaling": "one wᵢ ← δwᵢ",
  "dataset re-scaling": "X ← δX",
  "dataset re-centering": "every xₙ ← xₙ + γ",
  "single training case re-scaling": "one xₙ ← δxₙ",
};
const ivUses = (t) => (t.includes("re-centering") ? "gamma" : "delta");
// Why each cell of Table 1 holds or fails, by method and transformation.
const IV_WHY = {
  "batch norm": {
    "weight matrix re-scaling": "a → δa: every column's μᵢ and σᵢ scale by δ as well.",
    "weight matrix re-centering": "aₙᵢ → aₙᵢ + γ·xₙ: the shift differs from case to case, so the column mean cannot remove it.",
    "weight vector re-scaling": "only column i scales, and it has its own μᵢ and σᵢ.",
    "dataset re-scaling": "a → δa: every column's μᵢ and σᵢ scale by δ as well.",
    "dataset re-centering": "aₙᵢ → aₙᵢ + wᵢ·γ: the same shift for every case of unit i, which μᵢ removes.",
    "single training case re-scaling": "case n enters every column's μᵢ and σᵢ, so every case's output moves.",
  },
  "weight norm": {
    "weight matrix re-scaling": "aᵢ and ‖wᵢ‖ both scale by δ.",
    "weight matrix re-centering": "each wᵢ turns to a new direction wᵢ + γ; dividing by its length cannot undo that.",
    "weight vector re-scaling": "aᵢ and ‖wᵢ‖ both scale by δ.",
    "dataset re-scaling": "nothing is computed from the data: the output scales by δ.",
    "dataset re-centering": "nothing is computed from the data: the output shifts by wᵢ·γ / ‖wᵢ‖.",
    "single training case re-scaling": "case n's output scales by δ.",
  },
  "layer norm": {
    "weight matrix re-scaling": "aₙ → δaₙ: every row's μₙ and σₙ scale by δ as well.",
    "weight matrix re-centering": "aₙ → aₙ + (γ·xₙ)·1: one shift for all units of case n, which μₙ removes.",
    "weight vector re-scaling": "only unit i's input scales, which changes the pattern across the row.",
    "dataset re-scaling": "aₙ → δaₙ: every row's μₙ and σₙ scale by δ as well.",
    "dataset re-centering": "aₙᵢ → aₙᵢ + wᵢ·γ: the shift differs from unit to unit.",
    "single training case re-scaling": "aₙ → δaₙ for case n, which is normalized on its own.",
  },
};
const IV_STATS = {
  "batch norm": "μᵢ, σᵢ per unit, over the B cases",
  "weight norm": "μ = 0, σᵢ = ‖wᵢ‖",
  "layer norm": "μₙ, σₙ per case, over the H units",
};
// How the eps choices read in the menu (any other value reads as lnbFmtEps writes it).
const IV_EPS_LABEL = { 1e-20: "≈ 0 (1e-20, as in the paper)", 1e-5: "1e-5 (PyTorch)", 1e-2: "0.01" };

/** Apply a transformation: the JS twin of helpers.invariance.transform. Returns [W', X']. */
function ivTransform(t, W, X, delta, gamma, index) {
  let W2 = W.map((r) => r.slice()), X2 = X.map((r) => r.slice());
  if (t === "weight matrix re-scaling") W2 = W.map((r) => r.map((v) => delta * v));
  else if (t === "weight matrix re-centering") W2 = W.map((r) => r.map((v, k) => v + gamma[k]));
  else if (t === "weight vector re-scaling") W2[index] = W[index].map((v) => v * delta);
  else if (t === "dataset re-scaling") X2 = X.map((r) => r.map((v) => delta * v));
  else if (t === "dataset re-centering") X2 = X.map((r) => r.map((v, k) => v + gamma[k]));
  else if (t === "single training case re-scaling") X2[index] = X[index].map((v) => v * delta);
  else throw new Error(`ivTransform: unknown transformation ${t}`);
  return [W2, X2];
}

/** (a - mu) / sigma of one method, gain 1 and bias 0: the JS twin of helpers.invariance.normalized_output. */
function ivNormalized(method, W, X, eps) {
  const a = X.map((x) => W.map((w) => {  // (B, H): a_ni = w_i . x_n
    let s = 0;
    for (let k = 0; k < x.length; k++) s += x[k] * w[k];
    return s;
  }));
  if (method === "weight norm") {
    const norms = W.map((w) => Math.sqrt(w.reduce((s, v) => s + v * v, 0)));  // ||w_i||
    return a.map((row) => row.map((v, i) => v / norms[i]));
  }
  return lnbNormalize(a, method === "batch norm" ? "batch" : "layer", eps).y;
}

/** How many rows the index can pick: units (rows of W) or cases (rows of X); 1 when it is unused. */
function ivIndexSize(C, t, W, X) {
  const kind = C.index_kind[t];
  return kind === "unit" ? W.length : kind === "case" ? X.length : 1;
}

/** Everything the widget shows: the JS twin of invariance_view. C: InvarianceExplorer.constants. */
function ivCompute(C, W, X, transformation, delta, gamma, index, eps) {
  const ix = lnbClampInt(index, 0, ivIndexSize(C, transformation, W, X) - 1);
  const [W2, X2] = ivTransform(transformation, W, X, delta, gamma, ix);
  const before = [], after = [], changes = [];
  for (const m of C.methods) {
    const y0 = ivNormalized(m, W, X, eps), y1 = ivNormalized(m, W2, X2, eps);
    let diff = 0, scale = 0;
    y0.forEach((row, n) => row.forEach((v, i) => {
      diff = Math.max(diff, Math.abs(y1[n][i] - v));
      scale = Math.max(scale, Math.abs(v));
    }));
    before.push(y0);
    after.push(y1);
    changes.push(diff / scale);
  }
  const col = C.transformations.indexOf(transformation);
  return {
    W, X, transformation, delta, gamma, index: ix, eps,
    W_new: W2, X_new: X2, methods: C.methods.slice(),
    before, after, changes,
    invariant: changes.map((c) => c <= C.tolerance),
    paper: C.methods.map((m) => C.paper[m][col]),
  };
}

// ------------------------------------------------------------------ drawing

/** A labelled matrix heatmap (values in the cells), with changed cells outlined. */
function ivMatrix(M, M0, o) {
  const R = M.length, C = M[0].length, cw = 44, ch = 18, ml = 46, mt = 42;  // room for "−0.93" at 12.5 px
  const width = ml + C * cw + 4, height = mt + R * ch + 6;
  const svg = lnbSvg(width, height, o.ariaLabel);
  svg.append(lnbSvgEl("text", { x: 0, y: 12, class: "lnb-title", text: o.title }));
  svg.append(lnbSvgEl("text", { x: ml + (C * cw) / 2, y: mt - 16, "text-anchor": "middle", class: "lnb-axis-label", text: o.colLabel }));
  for (let k = 0; k < C; k++) {
    svg.append(lnbSvgEl("text", { x: ml + (k + 0.5) * cw, y: mt - 3, "text-anchor": "middle", class: "lnb-tick", text: String(k) }));
  }
  for (let r = 0; r < R; r++) {
    svg.append(lnbSvgEl("text", {
      x: ml - 4, y: mt + (r + 0.5) * ch, "text-anchor": "end", "dominant-baseline": "central",
      class: o.emphRows.includes(r) ? "lnb-tick lnb-emph" : "lnb-tick", text: `${o.rowName} ${r}`,
    }));
  }
  let vmax = 0;
  for (const row of M0) for (const v of row) vmax = Math.max(vmax, Math.abs(v));
  lnbHeatmap(svg, {
    values: M, x: ml, y: mt, cellW: cw, cellH: ch,
    color: (v) => lnbDiverging(v, vmax || 1),
    title: (v, i, j) => `${o.name}[${i}, ${j}] = ${lnbFmt(v, 3)}` + (v !== M0[i][j] ? ` (was ${lnbFmt(M0[i][j], 3)})` : ""),
    label: (v) => lnbFmt(v, Math.abs(v) >= 10 ? 1 : 2),
  });
  M.forEach((row, i) => row.forEach((v, j) => {
    if (v !== M0[i][j]) {
      svg.append(lnbSvgEl("rect", { x: ml + j * cw + 1, y: mt + i * ch + 1, width: cw - 2, height: ch - 2, class: "lnb-highlight" }));
    }
  }));
  return svg;
}

/** One method's before and after heatmaps, side by side, on the colour scale of "before". */
function ivOutputs(before, after, method) {
  const B = before.length, H = before[0].length, cw = 17, ch = 13, ml = 16, mt = 30, gap = 22;
  const pw = H * cw, width = ml + 2 * pw + gap + 2, height = mt + B * ch + 30;
  const svg = lnbSvg(width, height, `${method}: normalized outputs before and after the transformation, ${B} cases by ${H} units`);
  let vmax = 0;
  for (const row of before) for (const v of row) vmax = Math.max(vmax, Math.abs(v));
  [[before, "before"], [after, "after"]].forEach(([M, name], p) => {
    const x0 = ml + p * (pw + gap);
    svg.append(lnbSvgEl("text", { x: x0 + pw / 2, y: 12, "text-anchor": "middle", class: "lnb-axis-label", text: name }));
    for (let i = 0; i < H; i++) {
      svg.append(lnbSvgEl("text", { x: x0 + (i + 0.5) * cw, y: mt - 4, "text-anchor": "middle", class: "lnb-tick", text: String(i) }));
    }
    lnbHeatmap(svg, {
      values: M, x: x0, y: mt, cellW: cw, cellH: ch,
      color: (v) => lnbDiverging(v, vmax || 1),
      title: (v, n, i) => `${method} ${name}: case ${n}, unit ${i}: ${lnbFmt(v, 4)}`,
    });
  });
  for (let n = 0; n < B; n++) {
    svg.append(lnbSvgEl("text", { x: ml - 3, y: mt + (n + 0.5) * ch, "text-anchor": "end", "dominant-baseline": "central", class: "lnb-tick", text: String(n) }));
  }
  svg.append(lnbSvgEl("text", { x: ml + pw + gap / 2, y: mt + (B * ch) / 2, "text-anchor": "middle", "dominant-baseline": "central", class: "lnb-axis-label", text: "→" }));
  lnbColorbar(svg, { x: ml, y: mt + B * ch + 8, width: 2 * pw + gap, color: (v) => lnbDiverging(v, vmax || 1), vmin: -vmax, vmax, label: "" });
  return svg;
}

export default {
  render(ctx) {
    return lnbMount(ctx, "invariance", ({ state, commit, layout, C, bounds }) => {
      const clamped = (s) => ({ ...s, index: lnbClampInt(s.index, 0, ivIndexSize(C, s.transformation, s.W, s.X) - 1) });
      const deltaNotch = (d) => Math.round(100 * Math.log10(d));
      const s0 = clamped(state());
      const tCtl = lnbSelect({
        label: "Transformation", ariaLabel: "which transformation of Table 1 to apply",
        options: C.transformations.map((t) => ({ value: t, label: `${t}: ${IV_FORMULA[t]}` })), value: s0.transformation,
        onChange: (t) => commit({ transformation: t, index: Math.min(state().index, ivIndexSize(C, t, s0.W, s0.X) - 1) }),
      });
      const deltaCtl = lnbSlider({
        label: "δ", name: "delta", ariaLabel: "re-scaling factor delta, log scale from 0.1 to 10",
        min: deltaNotch(bounds.delta.min), max: deltaNotch(bounds.delta.max), value: deltaNotch(s0.delta),
        format: (k) => lnbFmt(10 ** (k / 100), 2),
        onInput: (k) => commit({ delta: 10 ** (k / 100) }),
      });
      const gammaCtl = lnbSlider({
        label: "size of γ", name: "size of gamma", ariaLabel: "size of the shift gamma, from -3 to 3 times a fixed direction",
        min: Math.round(10 * bounds.gamma_scale.min), max: Math.round(10 * bounds.gamma_scale.max),
        value: Math.round(10 * s0.gamma_scale), format: (j) => lnbFmt(j / 10, 1),
        onInput: (j) => commit({ gamma_scale: j / 10 }),
      });
      const indexCtl = lnbSlider({
        label: "row", name: "row", ariaLabel: "which unit or training case to re-scale",
        min: 0, max: Math.max(s0.W.length, s0.X.length) - 1, value: s0.index,
        onInput: (v) => commit({ index: v }),
      });
      const epsCtl = lnbSelect({
        label: "ε", ariaLabel: "epsilon, added to the variance inside the square root by batch and layer norm",
        options: C.eps_choices.map((v) => ({ value: String(v), label: IV_EPS_LABEL[v] || lnbFmtEps(v) })), value: String(s0.eps),
        onChange: (v) => commit({ eps: Number(v) }),
      });
      const indexLabel = indexCtl.el.querySelector(".lnb-label");
      const layer = lnbEl("div", { class: "iv-layer" });
      const cards = lnbEl("div", { class: "iv-cards" });
      const { text, note } = layout([tCtl.el, deltaCtl.el, gammaCtl.el, indexCtl.el, epsCtl.el], [layer, cards]);

      return (s0) => {
        const s = clamped(s0), t = s.transformation, kind = C.index_kind[t];
        const gamma = s.gamma_dir.map((g) => s.gamma_scale * g);
        const r = ivCompute(C, s.W, s.X, t, s.delta, gamma, s.index, s.eps);
        tCtl.set(t);
        deltaCtl.set(deltaNotch(s.delta));
        deltaCtl.show(lnbFmt(s.delta, 2));
        gammaCtl.set(Math.round(10 * s.gamma_scale));
        indexCtl.set(r.index, Math.max(1, ivIndexSize(C, t, s.W, s.X) - 1));
        indexLabel.textContent = kind === "case" ? "case n" : kind === "unit" ? "unit i" : "row";
        // the name says what the label shows (label in name, WCAG 2.5.3)
        indexCtl.input.setAttribute("aria-label", lnbNameWithLabel(indexLabel.textContent,
          kind === "case" ? "which training case to re-scale" : kind === "unit" ? "which unit to re-scale" : "which unit or training case to re-scale"));
        if (![...epsCtl.input.options].some((o) => Number(o.value) === s.eps)) {
          epsCtl.input.append(lnbEl("option", { value: String(s.eps), text: lnbFmtEps(s.eps) }));  // a value set from Python
        }
        epsCtl.set(String(s.eps));
        const enable = (ctl, on) => {
          ctl.input.disabled = !on;
          ctl.el.classList.toggle("iv-off", !on);
        };
        enable(deltaCtl, ivUses(t) === "delta");
        enable(gammaCtl, ivUses(t) === "gamma");
        enable(indexCtl, Boolean(kind));
        text.textContent = ivCaption(s, r);
        const H = s.W.length, B = s.X.length;
        const emph = (k) => (kind === k ? [r.index] : []);
        layer.replaceChildren(
          ivMatrix(r.W_new, s.W, { title: "W′: weights (H × I)", name: "W′", rowName: "unit", colLabel: "input k", emphRows: emph("unit"), ariaLabel: `Heatmap of the transformed ${H} by ${s.W[0].length} weight matrix` }),
          ivMatrix(r.X_new, s.X, { title: "X′: cases (B × I)", name: "X′", rowName: "case", colLabel: "input k", emphRows: emph("case"), ariaLabel: `Heatmap of the transformed ${B} by ${s.X[0].length} data matrix` }),
        );
        cards.replaceChildren(...C.methods.map((m, k) => ivCard(r, m, k)));
        ivNote(note, s, r, C);
        return r;
      };
    });
  },
};

/** The sentence above the matrices: what the transformation did. */
function ivCaption(s, r) {
  const d = lnbFmt(s.delta, 2), g = `γ = ${lnbFmt(s.gamma_scale, 1)} × (${s.gamma_dir.map((v) => lnbFmt(v, 2)).join(", ")})`;
  const what = {
    "weight matrix re-scaling": `Every weight is multiplied by δ = ${d}.`,
    "weight matrix re-centering": `The same vector ${g} is added to every row wᵢ of W.`,
    "weight vector re-scaling": `Only unit ${r.index}'s incoming weights w${r.index} are multiplied by δ = ${d}.`,
    "dataset re-scaling": `Every input of every case is multiplied by δ = ${d}.`,
    "dataset re-centering": `The same vector ${g} is added to every case xₙ.`,
    "single training case re-scaling": `Only case ${r.index}'s inputs x${r.index} are multiplied by δ = ${d}.`,
  }[s.transformation];
  return `${what} Outlined cells changed. Below: each method's normalized summed inputs (aₙᵢ − μ) / σ ` +
    `for the ${s.X.length} cases (rows) and ${s.W.length} units (columns), before and after.`;
}

/** One method's card: its outputs before and after, its verdict, Table 1's, and why. */
function ivCard(r, m, k) {
  const same = r.invariant[k];
  const badge = lnbEl("div", { class: `iv-badge ${same ? "iv-same" : "iv-moved"}` }, [
    lnbEl("strong", { text: same ? "✓ unchanged" : "✗ moved" }),
    ` max relative change ${lnbFmtSci(r.changes[k], 2)}`,
  ]);
  const paper = lnbEl("div", { class: "iv-paper" }, [
    `Table 1: ${r.paper[k] ? "invariant" : "not invariant"}` + (r.paper[k] === same ? "" : " (see the note below)"),
  ]);
  return lnbEl("div", { class: "iv-card" }, [
    lnbEl("div", { class: "iv-card-title" }, [lnbEl("strong", { text: m }), lnbEl("span", { class: "iv-stats", text: ` ${IV_STATS[m]}` })]),
    ivOutputs(r.before[k], r.after[k], m), badge, paper,
    lnbEl("div", { class: "iv-why", text: `Why: ${IV_WHY[m][r.transformation]}` }),
  ]);
}

/** The note under the cards: nothing to see, eps at work, or agreement with Table 1. */
function ivNote(note, s, r, C) {
  const uses = ivUses(s.transformation);
  const identity = (uses === "delta" && s.delta === 1) || (uses === "gamma" && s.gamma_scale === 0);
  const epsBroke = C.methods.filter((m, k) => r.paper[k] && !r.invariant[k]);
  note.className = !identity && epsBroke.length ? "lnb-note lnb-warn" : "lnb-note";
  if (identity) {
    note.textContent = uses === "delta"
      ? "δ = 1 leaves the layer as it is, so nothing can move. Drag δ away from 1."
      : "γ = 0 adds nothing, so nothing can move. Drag the size of γ away from 0.";
  } else if (epsBroke.length) {
    note.textContent = `Table 1 says ${epsBroke.join(" and ")} should not move. The culprit is ε = ${lnbFmtEps(s.eps)}: ` +
      `σ = √(variance + ε), and re-scaling the summed inputs by δ re-scales the variance by δ² but not ε. ` +
      `The smaller δ and the variance, the more ε matters. Set ε ≈ 0 to recover the paper's exact invariance.`;
  } else {
    note.textContent = `The three verdicts agree with Table 1. A change below ${lnbFmtSci(C.tolerance, 1)} counts as unchanged: ` +
      `what remains is floating-point rounding.`;
  }
}
