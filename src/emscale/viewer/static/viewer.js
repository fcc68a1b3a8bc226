// emscale viewer front end: plain JS and canvas, no external resources (the page works offline).
// Everything the page shows is in window.emscaleViewer.state, which the browser tests and the benchmark read.
(function () {
  "use strict";
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  const navCanvas = $("nav"), specCanvas = $("spec");
  const NAV_M = { left: 64, right: 96, top: 12, bottom: 44 };  // right: the colour bar, its values and title
  const SPEC_M = { left: 72, right: 14, top: 70, bottom: 44 };
  const MARKER_COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

  const state = {
    ready: false, info: null, errors: [],
    pixel: null, region: null, spectrum: null, spectrumLabel: "", msa: {},
    window: null, channels: null, map: null, mapStats: null, mapsLoaded: 0, navTicks: null,
    vmin: 0, vmax: 1, extend: "neither", navLog: false, specLog: false, cmap: "viridis", along: 0,
    markers: [], latencies: [], frameLatencies: [], spectraDrawn: 0, pending: 0,
    progress: null, axisTitles: {},
  };

  // ---------------------------------------------------------------------------------------------- server
  async function api(path, params) {
    const q = new URLSearchParams(params || {});
    if (state.along) q.set("along", String(state.along));  // a stack's or volume's slices along another axis
    const r = await fetch(path + (q.toString() ? "?" + q : ""), { headers: { "X-Emscale-Token": token } });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  function report(err) {
    state.errors.push(String(err.message || err));
    $("status").textContent = String(err.message || err);
  }

  const { niceStep, ticks, logTicks, fmt, scaleBar, lengthUnit, isLength, verticalText,
    parseLut } = window.emscalePlot;

  // ---------------------------------------------------------------------------------------------- navigator
  // A navigation axis's value at pixel i, and its mean step: a non-uniform axis (tilts in acquisition order,
  // positions from a file) has coordinates, and its scale and offset are not its values.
  const navValue = (a, i) => (a.coords ? a.coords[i] : a.offset + i * a.scale);
  const navStep = (a) => (!a.coords ? Math.abs(a.scale)
    : a.coords.length > 1 ? Math.abs(a.coords[a.coords.length - 1] - a.coords[0]) / (a.coords.length - 1) || 1 : 1);

  // Navigation axes as displayed: lengths in the unit that reads best over the map (nm, not "0.002 um").
  function navAxes() {
    const info = state.info, [ax, ay] = info.nav_axes;
    const span = Math.max(navStep(ax) * info.width, ay.units === ax.units ? navStep(ay) * info.height : 0);
    const show = (a) => {
      const u = lengthUnit(span, a.units);
      return { ...a, scale: a.scale * u.factor, offset: a.offset * u.factor, units: u.units,
        coords: a.coords ? a.coords.map((v) => v * u.factor) : undefined };
    };
    return { ax: show(ax), ay: show(ay) };
  }

  // Ticks [position across the image (0..1), value] of an axis of n pixels: calibrated round numbers on a uniform
  // axis; on a non-uniform one a few pixels' own coordinates, at their centres (the image spaces pixels evenly).
  function axisTicks(a, n, count) {
    if (a.coords) {
      const idx = [...new Set(Array.from({ length: Math.min(n, count) }, (_, k) =>
        Math.round(k * (n - 1) / Math.max(Math.min(n, count) - 1, 1))))];
      return idx.map((i) => [(i + 0.5) / n, a.coords[i]]);
    }
    const v0 = a.offset - 0.5 * a.scale, v1 = a.offset + (n - 0.5) * a.scale;
    return ticks(Math.min(v0, v1), Math.max(v0, v1), count).map((v) => [(v - v0) / (v1 - v0), v]);
  }

  function navGeometry() {
    const info = state.info, { ax, ay } = navAxes();
    const W = navCanvas.width - NAV_M.left - NAV_M.right, H = navCanvas.height - NAV_M.top - NAV_M.bottom;
    const sameUnits = ax.units === ay.units && ay.size > 1;
    const physW = info.width * (sameUnits ? navStep(ax) : 1), physH = info.height * (sameUnits ? navStep(ay) : 1);
    let h = info.height === 1 ? Math.min(H, Math.max(24, W / info.width * 8)) : H * 1;
    let w = info.height === 1 ? W : h * physW / physH;
    if (w > W) { h = h * W / w; w = W; }
    return { x: NAV_M.left, y: NAV_M.top, w, h };
  }

  // The canvas as tall as the image needs (up to 560 px), so that a wide map leaves no empty band below.
  function fitNavigatorHeight() {
    navCanvas.height = 560;
    const g = navGeometry();
    navCanvas.height = Math.ceil(g.h + NAV_M.top + NAV_M.bottom);
  }

  function lut(name) {
    return parseLut(state.info.colormaps[name] || state.info.colormaps.gray);
  }

  function normaliser() {
    let lo = state.vmin, hi = state.vmax;
    if (state.navLog) {
      const floor = state.mapStats && state.mapStats.minPositive > 0 ? state.mapStats.minPositive : 1e-12;
      lo = Math.log10(Math.max(lo, floor)); hi = Math.log10(Math.max(hi, floor));
      return (v) => (Math.log10(Math.max(v, floor)) - lo) / (hi - lo || 1);
    }
    return (v) => (v - lo) / (hi - lo || 1);
  }

  // The coloured map, recoloured only when the map or its display settings change (not on every click).
  let coloured = { key: null, canvas: null };
  function colouredMap() {
    const info = state.info, key = [state.mapsLoaded, state.cmap, state.vmin, state.vmax, state.navLog].join("|");
    if (coloured.key === key) return coloured.canvas;
    const table = lut(state.cmap), norm = normaliser(), img = new ImageData(info.width, info.height);
    for (let i = 0; i < state.map.length; i++) {
      const v = state.map[i];
      if (!isFinite(v)) { img.data[4 * i + 3] = 0; continue; }
      const k = Math.max(0, Math.min(255, Math.round(255 * norm(v))));
      img.data[4 * i] = table[3 * k]; img.data[4 * i + 1] = table[3 * k + 1]; img.data[4 * i + 2] = table[3 * k + 2];
      img.data[4 * i + 3] = 255;
    }
    const off = document.createElement("canvas");
    off.width = info.width; off.height = info.height;
    off.getContext("2d").putImageData(img, 0, 0);
    coloured = { key, canvas: off };
    return off;
  }

  function drawNavigator() {
    const ctx = navCanvas.getContext("2d");
    ctx.clearRect(0, 0, navCanvas.width, navCanvas.height);
    if (!state.map) return;
    const g = navGeometry(), table = lut(state.cmap);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(colouredMap(), g.x, g.y, g.w, g.h);
    drawNavAxes(ctx, g);
    drawScaleBar(ctx, g);
    drawColourBar(ctx, g, table);
    drawSelection(ctx, g);
  }

  function drawNavAxes(ctx, g) {
    const { ax, ay } = navAxes(), info = state.info;
    ctx.strokeStyle = "#333"; ctx.fillStyle = "#222"; ctx.font = "11px sans-serif"; ctx.lineWidth = 1;
    ctx.strokeRect(g.x + 0.5, g.y + 0.5, g.w, g.h);
    state.navTicks = { x: axisTicks(ax, info.width, 6), y: info.height > 1 ? axisTicks(ay, info.height, 6) : [] };
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const [f, v] of state.navTicks.x) {
      const px = g.x + f * g.w;
      ctx.beginPath(); ctx.moveTo(px, g.y + g.h); ctx.lineTo(px, g.y + g.h + 4); ctx.stroke();
      ctx.fillText(fmt(v), px, g.y + g.h + 6);
    }
    ctx.fillText(ax.name + (ax.units ? " (" + ax.units + ")" : ""), g.x + g.w / 2, g.y + g.h + 24);
    if (info.height > 1) {
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      for (const [f, v] of state.navTicks.y) {
        const py = g.y + f * g.h;
        ctx.beginPath(); ctx.moveTo(g.x, py); ctx.lineTo(g.x - 4, py); ctx.stroke();
        ctx.fillText(fmt(v), g.x - 6, py);
      }
      verticalText(ctx, ay.name + (ay.units ? " (" + ay.units + ")" : ""), 14, g.y + g.h / 2, g.h);
    }
  }

  function drawScaleBar(ctx, g) {
    const { ax } = navAxes(), info = state.info;
    const span = Math.abs(ax.scale) * info.width;
    if (!(span > 0) || ax.coords) return;  // a non-uniform axis has no one length a pixel
    const len = niceStep(span / 5, 1) > span / 3 ? niceStep(span / 10, 1) : niceStep(span / 5, 1);
    const px = len / span * g.w, bar = scaleBar(len, ax.units);
    const x = g.x + 10, y = g.y + g.h - 14;
    ctx.fillStyle = "rgba(0,0,0,.55)"; ctx.fillRect(x - 4, y - 16, Math.max(px, 50) + 8, 24);
    ctx.fillStyle = "#fff"; ctx.fillRect(x, y, px, 4);
    ctx.font = "11px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "bottom";
    ctx.fillText(bar.label, x, y - 2);
  }

  function drawColourBar(ctx, g, table) {
    const x = g.x + g.w + 12, w = 14, y = g.y, h = g.h;
    for (let i = 0; i < h; i++) {
      const k = Math.round(255 * (1 - i / Math.max(h - 1, 1)));
      ctx.fillStyle = `rgb(${table[3 * k]},${table[3 * k + 1]},${table[3 * k + 2]})`;
      ctx.fillRect(x, y + i, w, 1);
    }
    ctx.strokeStyle = "#333"; ctx.strokeRect(x + 0.5, y + 0.5, w, h);
    // values beyond the limits (a hot pixel, or limits typed in) get a triangle at that end, as the static figures'
    // colour bar extends, and "<" / ">" before its value
    const st = state.mapStats, low = st && st.min < state.vmin, high = st && st.max > state.vmax;
    state.extend = low ? (high ? "both" : "min") : high ? "max" : "neither";
    ctx.fillStyle = "#333";
    for (const [on, tip, base] of [[high, y - 8, y], [low, y + h + 8, y + h]]) {
      if (!on) continue;
      ctx.beginPath(); ctx.moveTo(x, base); ctx.lineTo(x + w / 2, tip); ctx.lineTo(x + w, base); ctx.fill();
    }
    ctx.fillStyle = "#222"; ctx.font = "11px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
    const top = (high ? "> " : "") + fmt(state.vmax), bottom = (low ? "< " : "") + fmt(state.vmin);
    ctx.fillText(top, x + w + 3, y + 6);
    ctx.fillText(bottom, x + w + 3, y + h - 6);
    if (state.navLog) ctx.fillText("log", x + w + 3, y + h / 2);
    // what the colours are, as the static navigator's bar says: a map sums the window's channels ("Counts, total")
    const [i0, i1] = state.channels || [0, 1];
    state.axisTitles.colourBar = state.info.y_label + (i0 === i1 ? "" : ", total");
    const right = x + w + 9 + Math.max(...[top, bottom, "log"].map((v) => ctx.measureText(v).width));
    if (h > 76) verticalText(ctx, state.axisTitles.colourBar, right, y + h / 2, h - 36);
  }


  function drawSelection(ctx, g) {
    const info = state.info, sx = g.w / info.width, sy = g.h / info.height;
    ctx.lineWidth = 1.5; ctx.strokeStyle = "#ff3b30";
    if (state.region) {
      const [x0, x1, y0, y1] = state.region;
      ctx.strokeRect(g.x + x0 * sx, g.y + y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy);
    } else if (state.pixel) {
      const [x, y] = state.pixel;
      ctx.strokeRect(g.x + x * sx, g.y + y * sy, Math.max(sx, 3), Math.max(sy, 3));
    }
    if (drag && drag.kind === "nav" && drag.moved) {
      ctx.setLineDash([4, 3]); ctx.strokeStyle = "#fff";
      const a = drag.start, b = drag.end;
      ctx.strokeRect(g.x + Math.min(a[0], b[0]) * sx, g.y + Math.min(a[1], b[1]) * sy,
        (Math.abs(b[0] - a[0]) + 1) * sx, (Math.abs(b[1] - a[1]) + 1) * sy);
      ctx.setLineDash([]);
    }
  }

  function canvasPoint(canvas, ev) {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
  }

  function navPixel(ev, clamp) {
    const g = navGeometry(), [cx, cy] = canvasPoint(navCanvas, ev), info = state.info;
    let x = Math.floor((cx - g.x) / g.w * info.width), y = Math.floor((cy - g.y) / g.h * info.height);
    if (clamp) { x = Math.max(0, Math.min(info.width - 1, x)); y = Math.max(0, Math.min(info.height - 1, y)); }
    else if (x < 0 || y < 0 || x >= info.width || y >= info.height) return null;
    return [x, y];
  }

  function pixelToClient(x, y) {
    const g = navGeometry(), r = navCanvas.getBoundingClientRect(), info = state.info;
    return [r.left + (g.x + (x + 0.5) * g.w / info.width) * r.width / navCanvas.width,
      r.top + (g.y + (y + 0.5) * g.h / info.height) * r.height / navCanvas.height];
  }

  // ---------------------------------------------------------------------------------------------- spectrum
  function energies() { return state.info.energy.values; }

  function specGeometry() {
    return { x: SPEC_M.left, y: SPEC_M.top, w: specCanvas.width - SPEC_M.left - SPEC_M.right,
      h: specCanvas.height - SPEC_M.top - SPEC_M.bottom };
  }

  function energyRange() {
    const e = energies();
    return [Math.min(e[0], e[e.length - 1]), Math.max(e[0], e[e.length - 1]) + (e.length === 1 ? 1 : 0)];
  }

  function energyToX(v) {
    const g = specGeometry(), [lo, hi] = energyRange();
    return g.x + (v - lo) / (hi - lo) * g.w;
  }

  function xToEnergy(px) {
    const g = specGeometry(), [lo, hi] = energyRange();
    return lo + (px - g.x) / g.w * (hi - lo);
  }

  function energyToClient(v) {
    const r = specCanvas.getBoundingClientRect(), g = specGeometry();
    return [r.left + energyToX(v) * r.width / specCanvas.width, r.top + (g.y + g.h / 2) * r.height / specCanvas.height];
  }

  function yScale(values, g) {
    const finite = values.filter((v) => v !== null && isFinite(v));
    let lo = Math.min(0, ...finite), hi = Math.max(...finite, 0);
    if (state.specLog) {
      const pos = finite.filter((v) => v > 0);
      lo = pos.length ? Math.log10(Math.min(...pos) / 2) : 0; hi = pos.length ? Math.log10(Math.max(...pos) * 2) : 1;
      return { lo, hi, y: (v) => g.y + g.h - (Math.log10(Math.max(v, Math.pow(10, lo))) - lo) / (hi - lo || 1) * g.h, log: true };
    }
    hi = hi + 0.05 * (hi - lo || 1);
    return { lo, hi, y: (v) => g.y + g.h - (v - lo) / (hi - lo || 1) * g.h, log: false };
  }

  function drawSpectrum() {
    const ctx = specCanvas.getContext("2d"), g = specGeometry(), e = energies();
    ctx.clearRect(0, 0, specCanvas.width, specCanvas.height);
    ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.strokeRect(g.x + 0.5, g.y + 0.5, g.w, g.h);
    const [lo, hi] = energyRange();
    const win = drag && drag.kind === "spec" && drag.moved ? [drag.e0, drag.e1] : state.window;
    if (win) {
      ctx.fillStyle = "rgba(42,122,184,.18)";
      const a = energyToX(Math.min(...win)), b = energyToX(Math.max(...win));
      ctx.fillRect(a, g.y, Math.max(b - a, 1), g.h);
    }
    ctx.fillStyle = "#222"; ctx.font = "11px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const v of ticks(lo, hi, 8)) {
      const px = energyToX(v);
      ctx.beginPath(); ctx.moveTo(px, g.y + g.h); ctx.lineTo(px, g.y + g.h + 4); ctx.stroke();
      ctx.fillText(fmt(v), px, g.y + g.h + 6);
    }
    const en = state.info.energy;
    ctx.fillText((en.name || "energy") + (en.units ? " (" + en.units + ")" : ""), g.x + g.w / 2, g.y + g.h + 24);
    if (!state.spectrum) return;
    const s = yScale(state.spectrum, g);
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const v of s.log ? logTicks(s.lo, s.hi) : ticks(s.lo, s.hi, 6)) {
      const py = s.y(v);
      ctx.beginPath(); ctx.moveTo(g.x, py); ctx.lineTo(g.x - 4, py); ctx.stroke();
      ctx.fillText(fmt(v), g.x - 6, py);
    }
    state.axisTitles.spectrum = state.info.y_label;
    verticalText(ctx, state.info.y_label, 14, g.y + g.h / 2, g.h);
    ctx.save(); ctx.beginPath(); ctx.rect(g.x, g.y, g.w, g.h); ctx.clip();
    ctx.strokeStyle = "#1f3b73"; ctx.lineWidth = 1.2; ctx.beginPath();
    let started = false;
    for (let i = 0; i < e.length; i++) {
      const v = state.spectrum[i];
      if (v === null || !isFinite(v)) { started = false; continue; }
      const px = energyToX(e[i]), py = s.y(v);
      if (started) ctx.lineTo(px, py); else { ctx.moveTo(px, py); started = true; }
    }
    ctx.stroke(); ctx.restore();
    drawMarkers(ctx, g);
  }

  // Marker labels. Each element's lines closer than a label's height share its label ("Fe La,Lb1"); labels that
  // crowd are set apart, each joined to its lines by a leader. The Bruker map's 16 elements (their main lines, the
  // default) get 16 labels, moved 9 px at most; before, 72 lines under 6 labels merged past use ("Mg · Al +13" over
  // 0.09-2.1 keV). Where labels would move further than MAX_SHIFT from their lines (every line of those 16
  // elements, "all lines"), the lines of a crowd share one label as before ("Fe La,Lb1 · O Ka", "Fe · O +3").
  const LABEL_GAP = 11, LEADER = 10, MAX_SHIFT = 40;

  // Positions for labels at sorted `anchors`, at least `gap` apart inside lo..hi, each run of crowded labels centred
  // on its anchors.
  function spreadLabels(anchors, gap, lo, hi) {
    const runs = [];
    const start = (r) => Math.max(lo, Math.min(hi - (r.n - 1) * gap, r.sum / r.n - (r.n - 1) * gap / 2));
    for (const a of anchors) {
      runs.push({ n: 1, sum: a });
      while (runs.length > 1) {
        const b = runs[runs.length - 1], prev = runs[runs.length - 2];
        if (start(prev) + prev.n * gap <= start(b)) break;
        prev.n += b.n; prev.sum += b.sum; runs.pop();
      }
    }
    return runs.flatMap((r) => Array.from({ length: r.n }, (_, j) => start(r) + j * gap));
  }

  function drawMarkers(ctx, g) {
    const elements = [...new Set(state.markers.map((m) => m.element))];
    const colour = (m) => MARKER_COLOURS[elements.indexOf(m.element) % MARKER_COLOURS.length];
    const groups = [];
    for (const m of state.markers) {
      const px = energyToX(m.energy), last = groups[groups.length - 1];
      if (px < g.x - 1 || px > g.x + g.w + 1) continue;
      if (last && px - last.px[last.px.length - 1] < LABEL_GAP) { last.items.push(m); last.px.push(px); }
      else groups.push({ items: [m], px: [px] });
    }
    for (const grp of groups) {
      grp.items.forEach((m, i) => {
        ctx.strokeStyle = colour(m); ctx.setLineDash([3, 3]);
        ctx.beginPath(); ctx.moveTo(grp.px[i], g.y); ctx.lineTo(grp.px[i], g.y + g.h); ctx.stroke();
      });
    }
    ctx.setLineDash([]);
    ctx.font = "10px sans-serif"; ctx.textBaseline = "middle"; ctx.textAlign = "left";
    const own = groups.flatMap(elementLabels);
    const at = spreadLabels(own.map((l) => l.anchor), LABEL_GAP, g.x, g.x + g.w);
    const spread = own.every((l, i) => Math.abs(at[i] - l.anchor) <= MAX_SHIFT);
    const labels = spread ? own.map((l, i) => ({ ...l, x: at[i] })) : groups.map((grp) => mergedLabel(ctx, grp));
    const room = SPEC_M.top - 6 - (spread ? LEADER + 2 : 0);
    state.markerLabels = [];
    for (const l of labels) {
      ctx.strokeStyle = ctx.fillStyle = colour(l.item);
      if (spread) { ctx.beginPath(); ctx.moveTo(l.x, g.y - LEADER); ctx.lineTo(l.anchor, g.y); ctx.stroke(); }
      ctx.save(); ctx.translate(l.x, g.y - 3 - (spread ? LEADER : 0)); ctx.rotate(-Math.PI / 2);
      ctx.fillText(l.text, 0, 0, room); ctx.restore();
      state.markerLabels.push({ text: l.text, x: l.x, fits: ctx.measureText(l.text).width <= room });
    }
  }

  // One label per element of a group of crowded lines ("Fe La,Lb1"), at its lines' mean.
  function elementLabels(grp) {
    const byElement = new Map();
    grp.items.forEach((m, i) => {
      const l = byElement.get(m.element) || { item: m, lines: [], px: [] };
      l.lines.push(m.label.slice(m.element.length + 1)); l.px.push(grp.px[i]);
      byElement.set(m.element, l);
    });
    return [...byElement.values()].map((l) => ({ item: l.item, text: l.item.element + " " + l.lines.join(","),
      anchor: l.px.reduce((a, b) => a + b, 0) / l.px.length })).sort((a, b) => a.anchor - b.anchor);
  }

  // One label for a whole group: a label wider than the margin was squeezed by fillText's maxWidth until
  // unreadable (16 elements of a real map), so the line names go first, then the elements past those that fit
  // ("Fe · O +3").
  function mergedLabel(ctx, grp) {
    const own = elementLabels(grp), room = SPEC_M.top - 6;
    let text = own.map((l) => l.text).join(" · ");
    if (ctx.measureText(text).width > room) {
      const els = own.map((l) => l.item.element);
      let n = els.length;
      const short = (k) => els.slice(0, k).join(" · ") + (k < els.length ? " +" + (els.length - k) : "");
      while (n > 1 && ctx.measureText(short(n)).width > room) n -= 1;
      text = short(n);
    }
    const mid = grp.px.reduce((a, b) => a + b, 0) / grp.px.length;
    return { item: grp.items[0], text, x: mid, anchor: mid };
  }

  // ---------------------------------------------------------------------------------------------- actions
  let seq = 0, drawnSeq = 0, hoverBusy = false, hoverNext = null;

  async function showSpectrum(kind, params, label, t0) {
    const my = ++seq;
    state.pending++;
    try {
      const body = await api(kind === "pixel" ? "/api/spectrum" : "/api/region", params);
      if (my < drawnSeq) return;  // a later request was already drawn
      drawnSeq = my;
      // a position a sparse scan did not measure has no spectrum (all null), not a spectrum of zero counts
      const unmeasured = kind === "pixel" && state.info.measured_fraction !== null
        && body.values.every((v) => v === null);
      state.spectrum = body.values; state.spectrumLabel = unmeasured ? label + " (not measured)" : label;
      // the EMSA keywords of this spectrum (the server's): a pixel's, or a region's (its live time the pixels' sum)
      state.msa = (kind === "pixel" ? state.info.msa : body.msa) || {};
      drawSpectrum(); drawNavigator();
      state.spectraDrawn++;
      if (t0 !== undefined) {
        state.latencies.push(performance.now() - t0);
        requestAnimationFrame(() => state.frameLatencies.push(performance.now() - t0));
      }
      $("specinfo").textContent = label;
    } catch (err) { report(err); } finally { state.pending--; }
  }

  function selectPixel(x, y, t0) {
    state.pixel = [x, y]; state.region = null;
    const { ax, ay } = navAxes();
    const vx = fmt(navValue(ax, x)), vy = fmt(navValue(ay, y));
    const label = state.info.height === 1 ? `pixel x=${x} (${vx} ${ax.units})`
      // each coordinate in its own axis's unit (a scan of nm against a tilt in degrees)
      : ax.units === ay.units ? `pixel x=${x}, y=${y} (${vx}, ${vy} ${ax.units})`
        : `pixel x=${x}, y=${y} (${vx} ${ax.units}, ${vy} ${ay.units})`;
    return showSpectrum("pixel", { x, y }, label, t0);
  }

  function selectRegion(a, b, t0) {
    const x0 = Math.min(a[0], b[0]), x1 = Math.max(a[0], b[0]) + 1, y0 = Math.min(a[1], b[1]), y1 = Math.max(a[1], b[1]) + 1;
    state.region = [x0, x1, y0, y1]; state.pixel = null;
    const n = (x1 - x0) * (y1 - y0), size = regionSize(x1 - x0, y1 - y0);
    return showSpectrum("region", { x0, x1, y0, y1 },
      `sum of ${n} pixels x ${x0}..${x1 - 1}, y ${y0}..${y1 - 1}` + (size ? ` (${size})` : ""), t0);
  }

  // A region of nx x ny pixels in the units the map's axes show: "4 x 3 nm, 12 nm²" (the area where both axes are
  // lengths in one unit), each axis in its own unit otherwise. Nothing on an axis of no units or no one step (tilts
  // in acquisition order).
  function regionSize(nx, ny) {
    const { ax, ay } = navAxes(), line = state.info.height === 1;
    const size = (a, k) => (a.coords || !a.units ? null : k * Math.abs(a.scale));
    const w = size(ax, nx), h = line ? 0 : size(ay, ny);
    if (w === null || h === null) return "";
    if (line) return `${fmt(w)} ${ax.units}`;
    if (ax.units !== ay.units) return `${fmt(w)} ${ax.units} x ${fmt(h)} ${ay.units}`;
    return `${fmt(w)} x ${fmt(h)} ${ax.units}` + (isLength(ax.units) ? `, ${fmt(w * h)} ${ax.units}²` : "");
  }

  async function loadMap(window) {
    const params = window ? { window: window.join(",") } : {};
    state.pending++;
    $("progress").hidden = false;
    const poll = setInterval(async () => {
      try {
        const p = await api("/api/progress");
        state.progress = p;
        if (p.total) $("bar").style.width = (100 * p.done / p.total).toFixed(1) + "%";
      } catch (err) { /* the map request reports errors */ }
    }, 150);
    try {
      const body = await api("/api/navigator", params);
      const raw = atob(body.data), bytes = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
      state.map = new ({ "<i4": Int32Array, "<f4": Float32Array, "<f8": Float64Array }[body.dtype])(bytes.buffer);
      state.window = body.window; state.channels = body.channels;
      let minPositive = Infinity;
      for (const v of state.map) if (v > 0 && v < minPositive) minPositive = v;
      state.mapStats = { min: body.min, max: body.max, minPositive, clim: body.clim };
      autoContrast();
      state.mapsLoaded++;
      $("navinfo").textContent = mapLabel(body);
      if (state.info.images && body.channels[0] === body.channels[1]) $("stack").value = body.channels[0];
      drawNavigator(); drawSpectrum();
    } catch (err) { report(err); } finally {
      clearInterval(poll); $("progress").hidden = true; $("bar").style.width = "0"; state.pending--;
    }
  }

  function mapLabel(body) {
    const en = state.info.energy, [i0, i1] = body.channels, unit = en.units ? " " + en.units : "";
    if (state.info.images) {
      const at = (i) => `${en.name || "image"} ${fmt(en.values[i])}${unit}`;
      if (en.values.length === 1) return "the image";
      const what = state.info.slices ? "slice" : "image";
      return i0 === i1 ? `${what} ${i0} of ${en.values.length} (${at(i0)})`
        : `sum of ${what}s ${i0}..${i1} (${at(i0)} to ${fmt(en.values[i1])}${unit})`;
    }
    // low..high whichever way the axis runs (a falling wavelength-derived energy axis read 2.49..1.998). The window
    // holds both end channels, and s.isig[lo:hi] stops before hi (Bruker map 1.70-1.78 keV: 9 channels here, 8 by
    // isig): the label gives the Python that reproduces the map, half-open
    return body.window
      ? `map of ${fmt(Math.min(...body.window))}..${fmt(Math.max(...body.window))} ${en.units} ` +
        `(channels ${i0}..${i1}: s.isig[${i0}:${i1 + 1}])`
      : "map: sum over all channels";
  }

  // A stack of images: show image i (a window of that one channel of the stack's axis).
  function showImage(i) {
    const e = energies(), k = Math.max(0, Math.min(e.length - 1, Math.round(i)));
    $("stackval").textContent = `${k} (${fmt(e[k])}${state.info.energy.units ? " " + state.info.energy.units : ""})`;
    return loadMap([e[k], e[k]]);
  }

  // The server's limits (emscale.plotting.colour_limits, as the static figures'): the full range, or the rest's where
  // a few hot pixels stretch it; the 0.5-99.5th percentiles clipped a sparse map of 1-10 counts at (0, 2).
  function autoContrast() {
    [state.vmin, state.vmax] = state.mapStats.clim;
    $("vmin").value = fmt(state.vmin); $("vmax").value = fmt(state.vmax);
  }

  async function loadMarkers() {
    const elements = state.info.marker_kind === null ? "" : $("elements").value.trim();
    if (!elements) { state.markers = []; drawSpectrum(); return; }
    try {
      const lines = $("alllines").checked ? "all" : "main";
      state.markers = (await api("/api/markers", { elements, kind: $("kind").value, lines })).markers;
      $("status").textContent = "";
    } catch (err) { state.markers = []; report(err); }
    drawSpectrum();
  }

  function download(name, blob) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = name; a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  function spectrumCSV() {
    if (!state.spectrum) return "";
    const en = state.info.energy, e = en.values;
    const lines = [`# ${state.info.title || "emscale signal"}: ${state.spectrumLabel}`,
      `${en.name || "energy"}${en.units ? " (" + en.units + ")" : ""},intensity`];
    for (let i = 0; i < e.length; i++) lines.push(`${e[i]},${state.spectrum[i] === null ? "" : state.spectrum[i]}`);
    return lines.join("\n") + "\n";
  }

  // A header value as RosettaSciIO (HyperSpy) reads it back: it splits each header line at ": ", so one more in the
  // value read the title "EDX: pixel (3, 5)" as '' and failed on "test-CL_spectrum-SI: pixel (10, 0)"; a line
  // break would end the line. EMSA/MAS files are ASCII ("µm²" written as UTF-8 read back as "Âµm" in HyperSpy): units
  // spelled in ASCII (µ -> u, ² -> 2, Å -> A), accents dropped, anything else left "?".
  const ASCII = { "µ": "u", "μ": "u", "°": "deg", "×": "x", "±": "+/-", "–": "-", "—": "-" };
  const msaValue = (v) => String(v).replace(/[\r\n]+/g, " ").replace(/:+\s/g, " - ")
    .replace(/[^\x00-\x7f]/g, (c) => ASCII[c] ?? c.normalize("NFKD").replace(/[\u0300-\u036f]/g, ""))
    .replace(/[^\x00-\x7f]/g, "?");

  // The TITLE, at most 64 characters (the standard's limit) and whole: cut at 64, "... 166.8 µm²)" lost its
  // bracket. Shortened in steps until it fits: the region's area (its sides stay), the signal's title down to
  // 16 characters (its middle dropped), the label's bracket (the position in axis units; the pixel indices stay),
  // the signal's title down to 7, and last the label's middle.
  const MSA_TITLE = 64;
  function msaTitle(title, label) {
    let t = msaValue(title), l = msaValue(label);
    const fits = () => t.length + 3 + l.length <= MSA_TITLE;
    const middle = (v, n) => (v.length <= n ? v : v.slice(0, Math.ceil((n - 3) / 2)) + "..." + v.slice(v.length - Math.floor((n - 3) / 2)));
    const steps = [
      () => { l = l.replace(/, [-+.\de]+ [^\s,()]+2\)$/, ")"); },
      () => { t = middle(t, Math.max(16, MSA_TITLE - 3 - l.length)); },
      () => { l = l.replace(/ \([^()]*\)/, ""); },
      () => { t = middle(t, Math.max(7, MSA_TITLE - 3 - l.length)); },
      () => { l = middle(l, MSA_TITLE - 3 - t.length); },
    ];
    for (const step of steps) { if (fits()) break; step(); }
    return `${t} - ${l}`;
  }

  // EMSA/MAS single spectrum (ISO 22029), readable by HyperSpy / RosettaSciIO and most EDS software.
  // A non-uniform axis (energy from wavelength) is written in the XY form, each channel's energy beside its value:
  // XPERCHAN/OFFSET (required keywords) alone would put channel i at OFFSET + i * XPERCHAN, the wrong energy.
  // SIGNALTYPE and the acquisition (BEAMKV, detector angles, live time) are the server's (emscale.viewer.msa).
  function spectrumMSA() {
    if (!state.spectrum) return "";
    const en = state.info.energy, e = en.values, n = e.length, uniform = en.uniform !== false;
    const step = n > 1 ? (e[n - 1] - e[0]) / (n - 1) : 1;
    const head = [["FORMAT", "EMSA/MAS Spectral Data File"], ["VERSION", "1.0"],
      ["TITLE", msaTitle(state.info.title || "emscale", state.spectrumLabel)],
      ["OWNER", "emscale viewer"], ["NPOINTS", n], ["NCOLUMNS", 1], ["XUNITS", en.units || ""],
      ["YUNITS", state.info.y_units || ""], ["DATATYPE", uniform ? "Y" : "XY"], ["XPERCHAN", step], ["OFFSET", e[0]],
      ...Object.entries(state.msa)];
    if (!uniform) head.push(["COMMENT", "non-uniform energy axis; the X column holds each channel's energy"]);
    // a channel without data (NaN, an unmeasured position) was written as 0 counts: NaN, which readers parse
    const missing = state.spectrum.some((v) => v === null);
    if (missing) head.push(["COMMENT", "NaN marks a channel without data"]);
    const lines = head.map(([k, v]) => `#${k.padEnd(12)}: ${msaValue(v)}`);
    lines.push("#SPECTRUM    : Spectral Data Starts Here");
    state.spectrum.forEach((v, i) => {
      const y = v === null ? "NaN" : String(v);
      lines.push(uniform ? y : `${e[i]}, ${y}`);
    });
    lines.push("#ENDOFDATA   : ");
    return lines.join("\r\n") + "\r\n";
  }

  // ---------------------------------------------------------------------------------------------- mouse
  let drag = null;

  function bindNavigator() {
    navCanvas.addEventListener("mousedown", (ev) => {
      const p = navPixel(ev, false);
      if (p) drag = { kind: "nav", start: p, end: p, moved: false, x: ev.clientX, y: ev.clientY };
    });
    navCanvas.addEventListener("mousemove", (ev) => {
      if (drag && drag.kind === "nav") {
        drag.end = navPixel(ev, true);
        drag.moved = drag.moved || Math.hypot(ev.clientX - drag.x, ev.clientY - drag.y) > 4;
        drawNavigator(); return;
      }
      if (!$("hover").checked || state.region) return;
      const p = navPixel(ev, false);
      if (!p || (state.pixel && p[0] === state.pixel[0] && p[1] === state.pixel[1])) return;
      if (hoverBusy) { hoverNext = p; return; }
      hoverBusy = true;
      const go = (q) => selectPixel(q[0], q[1], ev.timeStamp).finally(() => {
        const n = hoverNext; hoverNext = null;
        if (n) go(n); else hoverBusy = false;
      });
      go(p);
    });
    window.addEventListener("mouseup", (ev) => {
      if (!drag || drag.kind !== "nav") return;
      const d = drag; drag = null;
      if (d.moved) selectRegion(d.start, d.end, ev.timeStamp); else selectPixel(d.start[0], d.start[1], ev.timeStamp);
    });
  }

  function bindSpectrum() {
    specCanvas.addEventListener("mousedown", (ev) => {
      const [cx] = canvasPoint(specCanvas, ev), e = xToEnergy(cx);
      drag = { kind: "spec", e0: e, e1: e, moved: false, x: ev.clientX };
    });
    window.addEventListener("mousemove", (ev) => {
      if (!drag || drag.kind !== "spec") return;
      const [lo, hi] = energyRange();
      drag.e1 = Math.max(lo, Math.min(hi, xToEnergy(canvasPoint(specCanvas, ev)[0])));
      drag.moved = drag.moved || Math.abs(ev.clientX - drag.x) > 3;
      drawSpectrum();
    });
    window.addEventListener("mouseup", () => {
      if (!drag || drag.kind !== "spec") return;
      const d = drag; drag = null;
      if (d.moved) loadMap([Math.min(d.e0, d.e1), Math.max(d.e0, d.e1)]); else drawSpectrum();
    });
  }

  function bindControls() {
    const cm = $("cmap");
    for (const name of Object.keys(state.info.colormaps)) cm.add(new Option(name, name, false, name === state.cmap));
    cm.onchange = () => { state.cmap = cm.value; drawNavigator(); };
    $("navlog").onchange = (ev) => { state.navLog = ev.target.checked; drawNavigator(); };
    $("speclog").onchange = (ev) => { state.specLog = ev.target.checked; drawSpectrum(); };
    $("vmin").onchange = (ev) => { state.vmin = parseFloat(ev.target.value); drawNavigator(); };
    $("vmax").onchange = (ev) => { state.vmax = parseFloat(ev.target.value); drawNavigator(); };
    $("auto").onclick = () => { if (state.mapStats) { autoContrast(); drawNavigator(); } };
    $("fullwin").onclick = () => loadMap(null);
    $("stack").oninput = (ev) => showImage(Number(ev.target.value));
    $("elements").onchange = loadMarkers;
    $("kind").onchange = loadMarkers;
    $("alllines").onchange = loadMarkers;
    $("csv").onclick = () => download("spectrum.csv", new Blob([spectrumCSV()], { type: "text/csv" }));
    $("msa").onclick = () => download("spectrum.msa", new Blob([spectrumMSA()], { type: "text/plain" }));
    $("png").onclick = () => navCanvas.toBlob((b) => download("map.png", b), "image/png");
  }

  // What the page shows of the signal's info: the header, the stack's slider and the hints.
  function applyInfo() {
    const info = state.info;
    document.title = "emscale viewer: " + (info.title || "signal");
    $("title").textContent = info.title || "emscale viewer";
    const n = info.energy.values.length;
    $("shape").textContent = info.images
      ? `${info.signal_type || "signal"} · ${n === 1 ? "one image" : `${n} ${info.slices ? "slices" : "images"} ` +
        `along '${info.energy.name}'`} of ` +
        `${info.width} x ${info.height} · ${info.dtype}${info.lazy ? " · lazy" : ""}`
      : `${info.signal_type || "signal"} · navigation ${info.nav_shape.join(" x ") || "-"} · ` +
        `${n} channels · ${info.dtype}${info.lazy ? " · lazy" : ""}`;
    // an image or a stack of them: the image is the map, a pixel's values through the stack its "spectrum"
    $("stackctl").hidden = !(info.images && n > 1);
    $("stack").max = String(n - 1);
    if (info.images) {
      $("fullwin").textContent = "map: sum of all images";
      $("navhint").textContent = "click a pixel: its values through the stack · drag a rectangle: their sums";
      $("spechint").textContent = "drag over the profile: the sum of those images";
    }
    $("alongctl").hidden = !info.sections.length;
    // element lines and edges sit on an energy axis (eV, keV): on a wavelength (cathodoluminescence) the
    // control was offered and every use of it answered an error
    $("markerctl").hidden = info.marker_kind === null;
    // one spectrum: a 1 x 1 "map" has nothing to navigate (it drew a made-up axis, a scale bar of no unit and a
    // colour bar of one value)
    $("nav-panel").hidden = !info.images && info.width * info.height === 1;
    fitNavigatorHeight();
  }

  // The first view, or (a stack or volume) its slices along another axis: the middle one, and its middle pixel.
  async function show() {
    const info = state.info, n = info.energy.values.length;
    await (info.images && n > 1 ? showImage(Math.floor(n / 2)) : loadMap(null));  // a slice, not their sum
    await Promise.all([selectPixel(Math.floor(info.width / 2), Math.floor(info.height / 2)), loadMarkers()]);
  }

  async function sliceAlong(k) {
    try {
      state.along = Number(k);
      state.info = await api("/api/info");
      state.pixel = null; state.region = null; state.spectrum = null; state.map = null;
      $("along").value = String(state.along);
      applyInfo();
      await show();
    } catch (err) { report(err); }
  }

  async function start() {
    try {
      state.info = await api("/api/info");
      const info = state.info;
      const al = $("along");
      info.sections.forEach((name, k) => al.add(new Option(`${name} (axis ${k})`, String(k), false, k === 0)));
      al.onchange = () => sliceAlong(al.value);
      applyInfo();
      $("kind").value = "auto";
      if (info.elements.length && info.marker_kind !== null) $("elements").value = info.elements.join(", ");
      bindControls(); bindNavigator(); bindSpectrum();
      await show();
    } catch (err) { report(err); }
    state.ready = true;
  }

  window.emscaleViewer = { state, pixelToClient, energyToClient, spectrumCSV, spectrumMSA, selectPixel, selectRegion,
    loadMap, showImage, sliceAlong };
  start();
})();
