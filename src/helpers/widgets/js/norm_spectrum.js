// norm_spectrum.js: chapter 6's explorable. Batch, layer, instance and group norm of an
// N x C x H x W tensor, as the set of elements that share one mean and variance.
// lib.js is joined in front of this file; its Python twin is
// helpers.widgets.norm_spectrum.norm_spectrum_view (helpers.norm_groups).

const NS_NAMES = { batch: "Batch norm", layer: "Layer norm", instance: "Instance norm", group: "Group norm" };

/** A seeded generator of numbers in [0, 1) (mulberry32), bit for bit helpers.norm_groups.mulberry32. */
function nsMulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seeded tensor of helpers.norm_groups.example_tensor, element by element in C order. */
function nsTensor(shape, seed) {
  const [N, C, H, W] = shape;
  const rand = nsMulberry32(seed);
  return Array.from({ length: N }, (_, n) => Array.from({ length: C }, (_, c) => Array.from({ length: H }, () =>
    Array.from({ length: W }, () => (Math.floor(rand() * 401) - 200) / 100 * (1 + n / 2) + (c - (C - 1) / 2)))));
}

/** The set each element's statistics come from (helpers.norm_groups.group_ids). */
function nsSetId(norm, G, C, n, c) {
  if (norm === "batch") return c;
  const g = norm === "layer" ? 1 : norm === "instance" ? C : G;
  return n * g + Math.floor(c / (C / g));
}

/** Everything the widget shows: the JS twin of norm_spectrum_view. */
function nsCompute(C0, seed, norm, groups, example, channel, eps) {
  const shape = C0.shape, [N, C, H, W] = shape;
  const x = nsTensor(shape, seed);
  const ids = x.map((xn, n) => xn.map((xc, c) => xc.map((row) => row.map(() => nsSetId(norm, groups, C, n, c)))));
  const members = [];  // set id -> its values, in C order
  x.forEach((xn, n) => xn.forEach((xc, c) => xc.forEach((row, h) => row.forEach((v, w) => {
    const k = ids[n][c][h][w];
    (members[k] = members[k] || []).push(v);
  }))));
  const mean = members.map((m) => lnbMean(m));
  const vr = members.map((m, k) => lnbVar(m, mean[k]));
  const y = x.map((xn, n) => xn.map((xc, c) => xc.map((row, h) => row.map((v, w) => {
    const k = ids[n][c][h][w];
    return (v - mean[k]) / Math.sqrt(vr[k] + eps);
  }))));
  return {
    seed, norm, groups, example, channel, eps, x, ids, mean, var: vr, y,
    selected: ids[example][channel][0][0], shared: members[0].length, n_sets: members.length,
  };
}

/** One face cell of the cube: a polygon filled by whether it is in the followed set. */
function nsFace(svg, points, inSet, label) {
  svg.append(lnbSvgEl("polygon", {
    points: points.map((p) => p.join(",")).join(" "),
    class: inSet ? "ns-cell ns-in" : "ns-cell", "stroke-width": 0.8,
  }, [lnbSvgEl("title", { text: label })]));
}

/** The classic cube: C across, H·W down, N into the page; the followed set shaded. */
function nsCube(r, shape) {
  const [N, C, H, W] = shape, P = H * W;
  const s = 19, dx = 15, dy = -10, x0 = 38, y0 = 16 + N * -dy;
  const width = x0 + C * s + N * dx + 16, height = y0 + P * s + 34;
  const svg = lnbSvg(width, height, `Cube of the ${N} by ${C} by ${H}×${W} tensor; the shaded cells share one mean and variance`);
  const inSet = (n, c, p) => r.ids[n][c][Math.floor(p / W)][p % W] === r.selected;
  const name = (n, c, p) => `x[${n}, ${c}, ${Math.floor(p / W)}, ${p % W}]${inSet(n, c, p) ? ", in the followed set" : ""}`;
  for (let n = N - 1; n >= 0; n--) {
    for (let c = 0; c < C; c++) {  // top face: position 0 of every (n, c)
      const a = x0 + c * s + n * dx, b = y0 + n * dy;
      nsFace(svg, [[a, b], [a + s, b], [a + s + dx, b + dy], [a + dx, b + dy]], inSet(n, c, 0), name(n, c, 0));
    }
    for (let p = 0; p < P; p++) {  // right face: channel C - 1 at every position
      const a = x0 + C * s + n * dx, b = y0 + p * s + n * dy;
      nsFace(svg, [[a, b], [a + dx, b + dy], [a + dx, b + s + dy], [a, b + s]], inSet(n, C - 1, p), name(n, C - 1, p));
    }
  }
  for (let c = 0; c < C; c++) {  // front face: example 0
    for (let p = 0; p < P; p++) {
      const a = x0 + c * s, b = y0 + p * s;
      nsFace(svg, [[a, b], [a + s, b], [a + s, b + s], [a, b + s]], inSet(0, c, p), name(0, c, p));
    }
  }
  const label = (x, y, text, extra = {}) => svg.append(lnbSvgEl("text", { x, y, class: "lnb-axis-label", text, ...extra }));
  label(x0 + (C * s) / 2, y0 + P * s + 16, "C (channels)", { "text-anchor": "middle" });
  label(x0 - 6, y0 + (P * s) / 2, "H, W", { "text-anchor": "end", "dominant-baseline": "central" });
  label(x0 + C * s + N * dx + 2, y0 + N * dy - 2, "N", { "text-anchor": "start" });
  return svg;
}

/** Runs [first, last + 1) of consecutive true entries: the channel blocks of one example in the followed set. */
function nsOutlineRuns(flags) {
  const runs = [];
  flags.forEach((f, c) => {
    if (!f) return;
    if (runs.length && runs[runs.length - 1][1] === c) runs[runs.length - 1][1] = c + 1;
    else runs.push([c, c + 1]);
  });
  return runs;
}

/** The normalized values: one C x (H·W) heatmap per example, the followed set outlined. */
function nsValues(r, shape) {
  const [N, C, H, W] = shape, P = H * W;
  const cw = 10, ch = 13, gap = 12, ml = 26, mt = 30;  // 332 units wide: a phone's 340 px
  const panelW = P * cw, width = ml + N * (panelW + gap), height = mt + C * ch + 40;
  const svg = lnbSvg(width, height, `Heatmaps of the normalized values ŷ, one per example; rows are channels, columns positions`);
  for (let n = 0; n < N; n++) {
    const px = ml + n * (panelW + gap);
    svg.append(lnbSvgEl("text", { x: px + panelW / 2, y: mt - 8, "text-anchor": "middle", class: n === r.example ? "lnb-tick lnb-emph" : "lnb-tick", text: `example ${n}` }));
    const rows = r.y[n].map((yc) => yc.flat());  // (C, P)
    lnbHeatmap(svg, {
      values: rows, x: px, y: mt, cellW: cw, cellH: ch, color: (v) => lnbDiverging(v, 2.5),
      title: (v, c, p) => `ŷ[${n}, ${c}, ${Math.floor(p / W)}, ${p % W}] = ${lnbFmt(v, 3)} (x = ${lnbFmt(r.x[n][c][Math.floor(p / W)][p % W], 2)})`,
    });
    nsOutlineRuns(r.ids[n].map((idc) => idc[0][0] === r.selected)).forEach(([c0, c1]) => {
      svg.append(lnbSvgEl("rect", { x: px + 0.5, y: mt + c0 * ch + 0.5, width: panelW - 1, height: (c1 - c0) * ch - 1, class: "ns-outline" }));
    });
  }
  for (let c = 0; c < C; c++) {
    svg.append(lnbSvgEl("text", { x: ml - 4, y: mt + (c + 0.5) * ch, "text-anchor": "end", "dominant-baseline": "central", class: "lnb-tick", text: String(c) }));
  }
  svg.append(lnbSvgEl("text", { x: 6, y: mt + (C * ch) / 2, class: "lnb-tick", "text-anchor": "middle", transform: `rotate(-90 6 ${mt + (C * ch) / 2})`, text: "channel c" }));
  lnbColorbar(svg, { x: ml, y: mt + C * ch + 14, width: Math.min(220, width - ml - 10), color: (v) => lnbDiverging(v, 2.5), vmin: -2.5, vmax: 2.5, label: "ŷ" });
  return svg;
}

/** The sentence above the drawings: which elements one statistic runs over. */
function nsCaption(r, shape) {
  const [N, C, H, W] = shape;
  const over = {
    batch: `each channel gets one mean and variance over the N × H × W = ${N} × ${H}×${W} elements of that channel in every example`,
    layer: `each example gets one mean and variance over its C × H × W = ${C} × ${H}×${W} elements`,
    instance: `each example and channel gets one mean and variance over its H × W = ${H}×${W} positions`,
    group: `each example gets ${r.groups} group${r.groups === 1 ? "" : "s"} of ${C / r.groups} channel${C / r.groups === 1 ? "" : "s"}, ` +
      `and each group one mean and variance over its ${C / r.groups} × ${H}×${W} elements` +
      (r.groups === 1 ? " (G = 1: layer norm)" : r.groups === C ? " (G = C: instance norm)" : ""),
  }[r.norm];
  return `${NS_NAMES[r.norm]}: ${over}. ${r.n_sets} sets of ${r.shared} elements.`;
}

export default {
  render(ctx) {
    return lnbMount(ctx, "norm_spectrum", ({ state, commit, radio, layout, C, bounds }) => {
      const s0 = state();
      const [N, Ch] = C.shape;
      const normCtl = radio("norm", "Statistics shared by", [
        ["batch", "batch norm", "batch norm: per channel, over examples and positions"],
        ["layer", "layer norm", "layer norm: per example, over channels and positions"],
        ["instance", "instance norm", "instance norm: per example and channel, over positions"],
        ["group", "group norm", "group norm: per example and group of channels"],
      ]);
      const choices = C.group_choices;
      const gCtl = lnbSlider({
        label: "Groups G", name: "groups G", ariaLabel: "number of channel groups G (group norm)",
        min: 0, max: choices.length - 1, value: Math.max(0, choices.indexOf(s0.groups)),
        format: (i) => String(choices[i]), onInput: (i) => commit({ groups: choices[i] }),
      });
      const nCtl = lnbSlider({
        label: "Follow example n", name: "example", ariaLabel: "example n of the followed element",
        min: bounds.example.min, max: bounds.example.max, value: s0.example, onInput: (v) => commit({ example: v }),
      });
      const cCtl = lnbSlider({
        label: "channel c", name: "channel", ariaLabel: "channel c of the followed element",
        min: bounds.channel.min, max: bounds.channel.max, value: s0.channel, onInput: (v) => commit({ channel: v }),
      });
      const seedCtl = lnbSlider({
        label: "Tensor seed", name: "seed", ariaLabel: "seed of the random tensor",
        min: bounds.seed.min, max: bounds.seed.max, value: s0.seed, onInput: (v) => commit({ seed: v }),
      });
      const panels = lnbEl("div", { class: "lnb-row ns-panels" });
      const { text, note } = layout([normCtl.el, gCtl.el, nCtl.el, cCtl.el, seedCtl.el], [panels]);

      return (s) => {
        const r = nsCompute(C, s.seed, s.norm, s.groups, s.example, s.channel, s.eps);
        normCtl.set(s.norm);
        gCtl.set(Math.max(0, choices.indexOf(s.groups)));
        gCtl.input.disabled = s.norm !== "group";
        nCtl.set(s.example);
        cCtl.set(s.channel);
        seedCtl.set(s.seed);
        const cube = nsCube(r, C.shape), values = nsValues(r, C.shape);
        panels.style.gridTemplateColumns = `minmax(0, ${cube.viewBox.baseVal.width}fr) minmax(0, ${values.viewBox.baseVal.width}fr)`;
        panels.replaceChildren(cube, values);
        text.textContent = nsCaption(r, C.shape);
        note.textContent = `The followed element, example ${s.example} channel ${s.channel}, shares μ = ${lnbFmt(r.mean[r.selected], 3)} ` +
          `and σ² = ${lnbFmt(r.var[r.selected], 3)} with the ${r.shared - 1} other shaded elements. ` +
          `Channels were drawn with different offsets and examples with different spreads (${N} examples, ${Ch} channels).`;
        return r;
      };
    });
  },
};
