// norm_axis.js: chapter 1's explorable. Batch norm or layer norm of a B x H matrix.
// lib.js is joined in front of this file (see helpers/widgets/base.py); its
// Python twin is helpers.widgets.norm_axis.norm_axis_view.

/** Everything the widget shows, from the model's state: the JS twin of norm_axis_view. */
function naCompute(x, axis, batchSize, example, eps) {
  const R = x.length, H = x[0].length;
  const B = lnbClampInt(batchSize, 1, R);
  const ex = lnbClampInt(example, 0, B - 1);
  const xUsed = x.slice(0, B);
  const { mu, sigma, y } = lnbNormalize(xUsed, axis, eps);
  const ref = lnbNormalize(x, axis, eps).y[ex];  // the same example with all R rows as the batch
  const out = y[ex];
  return {
    axis, batch_size: B, example: ex, eps,
    x, x_used: xUsed, mu, sigma, y,
    example_output: out,
    example_output_ref: ref,
    max_change: Math.max(...out.map((v, j) => Math.abs(v - ref[j]))),
    degenerate: (axis === "batch" ? B : H) === 1,
  };
}

/** One matrix panel: the raw x (with statistics) when r.stats is true, else the normalized y. */
function naMatrixPanel(x, r, geom, raw) {
  const { R, H, cw, ch, ml, mt, width, height, vx, vy } = geom;
  const B = r.batch_size, ex = r.example, byRow = r.axis === "layer";
  const svg = lnbSvg(width, height, raw
    ? `Heatmap of the ${R} by ${H} activations; the first ${B} rows form the mini-batch`
    : `Heatmap of the normalized ${B} by ${H} mini-batch`);
  const title = raw ? "x: summed inputs (rows = examples)" : "ŷ = (x − μ) / σ";
  svg.append(lnbSvgEl("text", { x: ml, y: 12, class: "lnb-title", text: title }));

  // column labels: hidden unit index
  for (let j = 0; j < H; j++) {
    svg.append(lnbSvgEl("text", { x: ml + (j + 0.5) * cw, y: mt - 5, "text-anchor": "middle", class: "lnb-tick", text: String(j) }));
  }
  svg.append(lnbSvgEl("text", { x: ml + (H * cw) / 2, y: 27, "text-anchor": "middle", class: "lnb-axis-label", text: "hidden unit i" }));
  // row labels: example index, the followed one emphasised
  for (let b = 0; b < R; b++) {
    svg.append(lnbSvgEl("text", {
      x: ml - 4, y: mt + (b + 0.5) * ch, "text-anchor": "end", "dominant-baseline": "central",
      class: b === ex ? "lnb-tick lnb-emph" : "lnb-tick", "fill-opacity": b < B ? 1 : 0.45,
      text: ch >= 9 || b === ex ? String(b) : "",
    }));
  }
  // the mini-batch bracket on the far left
  svg.append(lnbSvgEl("path", { d: `M 16 ${mt + 1} H 12 V ${mt + B * ch - 1} H 16`, class: "lnb-bracket" }));
  svg.append(lnbSvgEl("text", {
    x: 7, y: mt + (B * ch) / 2, "text-anchor": "middle", class: "lnb-tick",
    transform: `rotate(-90 7 ${mt + (B * ch) / 2})`, text: B * ch >= 60 ? `batch, B = ${B}` : `B=${B}`,
  }));

  if (raw) {
    lnbHeatmap(svg, {
      values: x, x: ml, y: mt, cellW: cw, cellH: ch,
      color: (v) => lnbDiverging(v, vx),
      opacity: (i) => (i < B ? 1 : 0.22),
      title: (v, i, j) => `x[${i}, ${j}] = ${lnbFmt(v, 2)}${i < B ? "" : " (not in the mini-batch)"}`,
    });
  } else {
    for (let b = B; b < R; b++) {
      svg.append(lnbSvgEl("rect", { x: ml, y: mt + b * ch, width: H * cw, height: ch, class: "lnb-empty" }));
    }
    lnbHeatmap(svg, {
      values: r.y, x: ml, y: mt, cellW: cw, cellH: ch,
      color: (v) => lnbDiverging(v, vy),
      title: (v, i, j) => `ŷ[${i}, ${j}] = ${lnbFmt(v, 3)}`,
    });
  }

  // the groups each statistic runs over: columns (batch norm) or rows (layer norm)
  const groups = lnbSvgEl("g", { class: "lnb-groups" });
  if (byRow) {
    for (let b = 0; b < B; b++) groups.append(lnbSvgEl("rect", { x: ml + 1, y: mt + b * ch + 1, width: H * cw - 2, height: ch - 2, rx: 3 }));
  } else {
    for (let j = 0; j < H; j++) groups.append(lnbSvgEl("rect", { x: ml + j * cw + 1, y: mt + 1, width: cw - 2, height: B * ch - 2, rx: 3 }));
  }
  svg.append(groups);
  // the followed example
  svg.append(lnbSvgEl("rect", { x: ml - 1, y: mt + ex * ch - 1, width: H * cw + 2, height: ch + 2, class: "lnb-highlight" }));

  if (raw) naStats(svg, r, geom);
  else lnbColorbar(svg, { x: ml, y: mt + R * ch + 46, width: H * cw, color: (v) => lnbDiverging(v, vy), vmin: -vy, vmax: vy, label: "ŷ" });
  return svg;
}

/** The statistics of the raw panel: μ and σ beside the rows (layer norm) or under the columns (batch norm). */
function naStats(svg, r, geom) {
  const { R, H, cw, ch, ml, mt, statW, vx, vsig } = geom;
  const B = r.batch_size;
  const statCell = (px, py, w, h, v, color, label) => lnbHeatmap(svg, {
    values: [[v]], x: px, y: py, cellW: w, cellH: h, color: () => color,
    title: () => `${label} = ${lnbFmt(v, 4)}`, label: () => lnbFmt(v, w >= 36 ? 2 : Math.abs(v) >= 9.95 ? 0 : 1),
  });
  const sx = ml + H * cw + 6, sy = mt + R * ch + 6;
  if (r.axis === "layer") {
    ["μ", "σ"].forEach((name, k) => svg.append(lnbSvgEl("text", { x: sx + (k + 0.5) * statW, y: mt - 5, "text-anchor": "middle", class: "lnb-axis-label", text: name })));
    for (let b = 0; b < B; b++) {
      statCell(sx, mt + b * ch, statW, ch, r.mu[b], lnbDiverging(r.mu[b], vx), `μ of row ${b}`);
      statCell(sx + statW, mt + b * ch, statW, ch, r.sigma[b], lnbViridis(r.sigma[b], 0, vsig), `σ of row ${b}`);
    }
  } else {
    ["μ", "σ"].forEach((name, k) => svg.append(lnbSvgEl("text", { x: ml - 4, y: sy + (k + 0.5) * 16, "text-anchor": "end", "dominant-baseline": "central", class: "lnb-axis-label", text: name })));
    for (let j = 0; j < H; j++) {
      statCell(ml + j * cw, sy, cw, 16, r.mu[j], lnbDiverging(r.mu[j], vx), `μ of column ${j}`);
      statCell(ml + j * cw, sy + 16, cw, 16, r.sigma[j], lnbViridis(r.sigma[j], 0, vsig), `σ of column ${j}`);
    }
  }
  lnbColorbar(svg, { x: ml, y: sy + 40, width: H * cw, color: (v) => lnbDiverging(v, vx), vmin: -vx, vmax: vx, label: "x, μ" });
}

/** The two matrix panels, raw (with statistics) and normalized, sized in proportion. */
function naPanels(panels, x, r, eps) {
  const R = x.length, H = x[0].length;
  // geometry shared by both panels; colour ranges fixed per matrix so they do not jump
  // On a phone's 340 px column the raw panel is at most 340 units wide, so its text is drawn at full size:
  // narrower cells beside layer norm's two columns of statistics, full ones when batch norm's go underneath.
  const byRow = r.axis === "layer", narrow = lnbNarrow();
  const cw = Math.min(30, Math.max(12, Math.floor((narrow ? (byRow ? 200 : 250) : 232) / H)));
  const ch = Math.min(16, Math.max(6, Math.floor(224 / R)));
  const statW = 38, ml = 40, mt = 46;
  let vx = 0, lo = Infinity, hi = -Infinity;
  for (const row of x) for (const v of row) { vx = Math.max(vx, Math.abs(v)); lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const geomBase = { R, H, cw, ch, ml, mt, statW, vx: vx || 1, vsig: Math.max((hi - lo) / 2, Math.sqrt(eps)), vy: 3 };
  const heightA = mt + R * ch + 6 + 32 + 8 + 8 + 16;
  const widthA = ml + H * cw + 6 + (narrow && !byRow ? 0 : 2 * statW) + 4;
  const widthB = ml + H * cw + 8;
  panels.style.gridTemplateColumns = `minmax(0, ${widthA}fr) minmax(0, ${widthB}fr)`;
  panels.replaceChildren(
    naMatrixPanel(x, r, { ...geomBase, width: widthA, height: heightA }, true),
    naMatrixPanel(x, r, { ...geomBase, width: widthB, height: heightA }, false),
  );
}

export default {
  render(ctx) {
    return lnbMount(ctx, "norm_axis", ({ state, commit, radio, layout, C }) => {
      // bounds that depend on another input: B <= R, example < B
      const clamped = (s) => {
        const B = lnbClampInt(s.batch_size, 1, s.x.length);
        return { ...s, B, ex: lnbClampInt(s.example, 0, B - 1) };
      };
      const epsOptions = (eps) => (C.eps_choices.includes(eps) ? C.eps_choices : [eps, ...C.eps_choices])
        .map((v) => ({ value: String(v), label: lnbFmtEps(v) }));

      const s0 = clamped(state());
      const axisCtl = radio("axis", "Statistics over", [
        ["batch", "the batch (batch norm)", "batch norm: statistics down each column, over the batch"],
        ["layer", "the layer (layer norm)", "layer norm: statistics along each row, over the hidden units"],
      ]);
      const bCtl = lnbSlider({
        label: "Batch size B", name: "batch size", ariaLabel: "batch size B: the first B rows form the mini-batch",
        min: 1, max: s0.x.length, value: s0.B,
        onInput: (v) => commit({ batch_size: v, example: Math.min(clamped(state()).ex, v - 1) }),
      });
      const exCtl = lnbSlider({
        label: "Follow example", name: "example", ariaLabel: "which example (row) to follow",
        min: 0, max: s0.B - 1, value: s0.ex,
        onInput: (v) => commit({ example: v }),
      });
      const epsCtl = lnbSelect({
        label: "ε", ariaLabel: "epsilon, added to the variance inside the square root",
        options: epsOptions(s0.eps), value: String(s0.eps),
        onChange: (v) => commit({ eps: Number(v) }),
      });

      const panels = lnbEl("div", { class: "lnb-row" });
      const chart = lnbEl("div", { class: "lnb-chart" });
      const legend = lnbEl("div", { class: "lnb-legend" });
      const { text, note } = layout([axisCtl.el, bCtl.el, exCtl.el, epsCtl.el], [panels, chart, legend]);

      return (s) => {
        const { x, axis, B, ex, eps } = clamped(s);
        const R = x.length, H = x[0].length;
        const r = naCompute(x, axis, B, ex, eps);

        axisCtl.set(axis);
        bCtl.set(B, R);
        exCtl.set(ex, B - 1);
        exCtl.input.disabled = B === 1;
        epsCtl.input.replaceChildren(...epsOptions(eps).map((o) => lnbEl("option", { value: o.value, text: o.label })));
        epsCtl.set(String(eps));

        naPanels(panels, x, r, eps);

        // the followed example's output, with its output for the full batch as markers
        const ylim = Math.max(1, Math.ceil(Math.sqrt(Math.max(R, H) - 1)));
        chart.replaceChildren(lnbBarChart({
          values: r.example_output, markers: r.example_output_ref,
          width: lnbNarrow() ? 340 : 640, height: 170, ymin: -ylim, ymax: ylim,
          xTicks: Array.from({ length: H }, (_, j) => String(j)),
          xLabel: "hidden unit i", yLabel: `ŷ of example ${ex}`,
          title: `Example ${ex} after normalization`,
          ariaLabel: `Bar chart of example ${ex}'s ${H} normalized values, with markers for its values when all ${R} rows form the batch`,
        }));
        legend.replaceChildren(
          lnbEl("span", { class: "lnb-swatch lnb-swatch-bar" }), ` with this mini-batch (B = ${B})`,
          lnbEl("span", { class: "lnb-swatch lnb-swatch-marker" }), ` with all ${R} rows as the batch`,
        );
        text.textContent = naCaption(axis, B, ex, H);
        naNote(note, r, R, eps);
        return r;
      };
    });
  },
};

/** The sentence above the panels: what the statistics run over, and what the example depends on. */
function naCaption(axis, B, ex, H) {
  const rowsText = B === 1 ? "row 0" : `rows 0–${B - 1}`;
  return axis === "batch"
    ? `Batch norm: each of the ${H} columns gets its own μ and σ, computed over ${B === 1 ? "the one example" : `the ${B} examples`} ` +
      `in the mini-batch (${rowsText}). ` +
      (B === 1 ? "With one example there is nothing to normalize against: see the note below."
        : `Example ${ex}'s output depends on its ${B - 1} batch-mate${B === 2 ? "" : "s"} too.`)
    : `Layer norm: ${B === 1 ? "the one row gets" : `each of the ${B} rows gets`} its own μ and σ, computed over its ${H} hidden units. ` +
      `Example ${ex}'s output depends on example ${ex} alone.`;
}

/** The note under the chart: degenerate statistics, or how far the batch moved the example. */
function naNote(note, r, R, eps) {
  const B = r.batch_size, ex = r.example;
  note.className = r.degenerate ? "lnb-note lnb-warn" : "lnb-note";
  if (r.degenerate && r.axis === "batch") {
    note.textContent = `B = 1: each column's mean is the example's own value, so x − μ = 0 and every normalized value is 0 ` +
      `(after the affine step only the bias b would be left). The variance is 0, so σ = √ε = ${lnbFmt(Math.sqrt(eps), 4)}. ` +
      `A batch of one carries no information for batch norm; torch.nn.BatchNorm1d refuses it in training mode.`;
  } else if (r.degenerate) {
    note.textContent = `H = 1: each row's mean is its only value, so every normalized value is 0.`;
  } else {
    note.textContent = B === R
      ? `This mini-batch is all ${R} rows, so the bars sit exactly on the markers. Lower B to change example ${ex}'s batch-mates.`
      : `Largest change in example ${ex}'s output caused by using this mini-batch instead of all ${R} rows: ` +
        `${lnbFmt(r.max_change, 3)}${r.axis === "layer" ? " (layer norm never looks at the other rows)" : ""}.`;
  }
}
