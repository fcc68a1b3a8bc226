// emscale decomposition page: scree with the noise threshold, phase map with a legend in matching colours,
// factor <-> loading pairs. Everything drawn is in window.emscaleDecomposition.state (read by the browser tests).
(function () {
  "use strict";
  const { ticks, logTicks, fmt, scaleBar, niceStep, verticalText } = window.emscalePlot;
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  // matplotlib's tab10: the colours of emscale's static figures.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf"];
  const colour = (k) => PALETTE[k % PALETTE.length];
  const state = { ready: false, data: null, errors: [], swatches: [] };

  function rgb(hex) { return [1, 3, 5].map((i) => parseInt(hex.substr(i, 2), 16)); }

  function frame(ctx, g) { ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.strokeRect(g.x + 0.5, g.y + 0.5, g.w, g.h); }

  function xAxis(ctx, g, lo, hi, label, toX) {
    ctx.fillStyle = "#222"; ctx.font = "11px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const v of ticks(lo, hi, 6)) {
      const px = toX(v);
      ctx.beginPath(); ctx.moveTo(px, g.y + g.h); ctx.lineTo(px, g.y + g.h + 4); ctx.stroke();
      ctx.fillText(fmt(v), px, g.y + g.h + 6);
    }
    ctx.fillText(label, g.x + g.w / 2, g.y + g.h + 22);
  }

  function yTicks(ctx, g, values, toY) {
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const v of values) {
      const py = toY(v);
      ctx.beginPath(); ctx.moveTo(g.x, py); ctx.lineTo(g.x - 4, py); ctx.stroke();
      ctx.fillText(fmt(v), g.x - 6, py);
    }
  }

  function drawScree() {
    const sc = state.data.scree, cv = $("scree"), ctx = cv.getContext("2d");
    const g = { x: 70, y: 14, w: cv.width - 84, h: cv.height - 58 };
    if (!sc) { ctx.fillText("no eigenvalue spectrum for this method", 20, 40); return; }
    const vals = sc.values.map((v, i) => [i, v]).filter(([, v]) => v !== null && v > 0);
    const all = vals.map(([, v]) => v).concat(sc.threshold ? [sc.threshold] : []);
    const lo = Math.log10(Math.min(...all) / 1.5), hi = Math.log10(Math.max(...all) * 1.5);
    const toX = (i) => g.x + (i + 0.5) / sc.values.length * g.w;
    const toY = (v) => g.y + g.h - (Math.log10(v) - lo) / (hi - lo) * g.h;
    frame(ctx, g);
    xAxis(ctx, g, 0, sc.values.length - 1, "component index", toX);
    yTicks(ctx, g, logTicks(lo, hi), toY);
    verticalText(ctx, "eigenvalue (log)", 14, g.y + g.h / 2, g.h);
    if (sc.threshold) {
      ctx.strokeStyle = "#d62728"; ctx.setLineDash([5, 4]);
      ctx.beginPath(); ctx.moveTo(g.x, toY(sc.threshold)); ctx.lineTo(g.x + g.w, toY(sc.threshold)); ctx.stroke();
      ctx.setLineDash([]); ctx.fillStyle = "#d62728"; ctx.textAlign = "right"; ctx.textBaseline = "bottom";
      ctx.fillText(`noise threshold (${sc.method})`, g.x + g.w - 4, toY(sc.threshold) - 2);
    }
    for (const [i, v] of vals) {
      const above = sc.threshold ? v > sc.threshold : i < (sc.rank || 0);
      ctx.beginPath(); ctx.arc(toX(i), toY(v), 3.5, 0, 2 * Math.PI);
      ctx.fillStyle = above ? "#1f3b73" : "#fff"; ctx.strokeStyle = "#1f3b73"; ctx.fill(); ctx.stroke();
    }
    $("screeinfo").textContent = sc.rank === null ? "explained variance ratio"
      : sc.threshold ? `${sc.rank_label}: eigenvalues above the noise threshold ${fmt(sc.threshold)} are filled`
      : `${sc.rank_label}: the first ${sc.rank} components are filled`;
    // a rank estimated here, beside the given component count, from a short randomized run may read low: said
    // here rather than warned of on opening (the user fixed the count)
    $("screenote").textContent = sc.caution ? `Caution: ${sc.caution}.` : "";
  }

  function decodeMap(b64) {
    const raw = atob(b64), bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return new Float64Array(bytes.buffer);
  }

  function mapGeometry(cv, right) {
    const d = state.data, [ax, ay] = d.nav_axes.concat([{ scale: 1, units: "" }]);
    const W = cv.width - 10 - right, H = cv.height - 20;
    // a non-uniform axis (tilts in acquisition order) has no one length a pixel: its pixels are drawn square
    const step = (a) => (a.coords ? 1 : Math.abs(a.scale || 1));
    const uniform = !ax.coords && !ay.coords;
    const aspect = d.height === 1 ? 8 / d.width
      : (d.height * (uniform ? step(ay) : 1)) / (d.width * (uniform ? step(ax) : 1));
    let w = W, h = W * aspect;
    if (h > H) { h = H; w = H / aspect; }
    return { x: 5, y: 5, w, h };
  }

  function putImage(ctx, g, rgba) {
    const d = state.data, img = new ImageData(rgba, d.width, d.height), off = document.createElement("canvas");
    off.width = d.width; off.height = d.height; off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false; ctx.drawImage(off, g.x, g.y, g.w, g.h);
    ctx.strokeStyle = "#333"; ctx.strokeRect(g.x + 0.5, g.y + 0.5, g.w, g.h);
  }

  function drawScaleBar(ctx, g) {
    const d = state.data, ax = d.nav_axes[0], span = Math.abs(ax.scale) * d.width;
    state.scaleBar = null;
    if (!(span > 0) || !ax.units || d.nav_axes.some((a) => a.coords)) return;  // no one length a pixel
    const len = niceStep(span / 5, 1) > span / 3 ? niceStep(span / 10, 1) : niceStep(span / 5, 1);
    state.scaleBar = scaleBar(len, ax.units).label;
    const px = len / span * g.w, x = g.x + 8, y = g.y + g.h - 10;
    ctx.fillStyle = "rgba(0,0,0,.55)"; ctx.fillRect(x - 4, y - 15, Math.max(px, 44) + 8, 22);
    ctx.fillStyle = "#fff"; ctx.fillRect(x, y, px, 3);
    ctx.font = "11px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "bottom";
    ctx.fillText(scaleBar(len, ax.units).label, x, y - 2);
  }

  function drawPhases() {
    const d = state.data, ph = d.phases, cv = $("phase"), ctx = cv.getContext("2d"), g = mapGeometry(cv, 0);
    const rgba = new Uint8ClampedArray(4 * d.width * d.height);
    ph.labels.forEach((k, i) => {
      if (k < 0) return;
      const c = rgb(colour(k));
      rgba[4 * i] = c[0]; rgba[4 * i + 1] = c[1]; rgba[4 * i + 2] = c[2]; rgba[4 * i + 3] = 255;
    });
    putImage(ctx, g, rgba);
    drawScaleBar(ctx, g);
    state.phaseGeometry = g;
    const name = ph.how.startsWith("dominant") ? "component" : "phase";
    const labels = ph.spectra.map((_, k) => `${name} ${k} (${(100 * ph.fractions[k]).toFixed(1)} %)`);
    drawSpectra($("legend"), ph.spectra, ph.spectra.map((_, k) => colour(k)), labels);
    $("phaseinfo").textContent = "phases: " + ph.how;
  }

  // Spectra in the given colours; with labels, a legend of colour swatches (their centres kept in state.swatches).
  function drawSpectra(cv, spectra, colours, labels) {
    const ctx = cv.getContext("2d"), e = state.data.energy.values, en = state.data.energy;
    const g = { x: 66, y: 10, w: cv.width - 78, h: cv.height - 50 };
    const finite = spectra.flat().filter((v) => v !== null && isFinite(v));
    let lo = Math.min(0, ...finite), hi = Math.max(0, ...finite);
    hi += 0.05 * (hi - lo || 1);
    const elo = Math.min(e[0], e[e.length - 1]), ehi = Math.max(e[0], e[e.length - 1]) + (e.length === 1 ? 1 : 0);
    const toX = (v) => g.x + (v - elo) / (ehi - elo) * g.w, toY = (v) => g.y + g.h - (v - lo) / (hi - lo || 1) * g.h;
    frame(ctx, g);
    xAxis(ctx, g, elo, ehi, (en.name || "energy") + (en.units ? ` (${en.units})` : ""), toX);
    yTicks(ctx, g, ticks(lo, hi, 5), toY);
    spectra.forEach((s, k) => {
      ctx.strokeStyle = colours[k]; ctx.lineWidth = 1.3; ctx.beginPath();
      let on = false;
      s.forEach((v, i) => {
        if (v === null) { on = false; return; }
        if (on) ctx.lineTo(toX(e[i]), toY(v)); else { ctx.moveTo(toX(e[i]), toY(v)); on = true; }
      });
      ctx.stroke();
    });
    if (!labels) return;
    ctx.font = "11px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
    state.swatches = labels.map((label, k) => {
      const x = g.x + g.w - 150, y = g.y + 12 + 16 * k;
      ctx.fillStyle = colours[k]; ctx.fillRect(x, y - 5, 18, 10);
      ctx.fillStyle = "#222"; ctx.fillText(label, x + 24, y);
      return { x: x + 9, y };
    });
  }

  function diverging(t) {  // blue - white - red for signed loadings, t in [0, 1]
    const a = Math.abs(2 * t - 1), base = t < 0.5 ? [33, 102, 172] : [178, 24, 43];
    return base.map((c) => Math.round(255 + (c - 255) * a));
  }

  function drawPairs() {
    const d = state.data, host = $("pairs");
    d.factors.forEach((f, k) => {
      const row = document.createElement("div"); row.className = "pair";
      const spec = document.createElement("canvas"); spec.width = 460; spec.height = 200; spec.id = `factor-${k}`;
      const map = document.createElement("canvas"); map.width = 320; map.height = 200; map.id = `loading-${k}`;
      row.append(spec, map); host.append(row);
      drawSpectra(spec, [f], [colour(k)], null);
      const ctx = spec.getContext("2d");
      ctx.fillStyle = colour(k); ctx.font = "bold 12px sans-serif"; ctx.textAlign = "left"; ctx.fillText(`component ${k}`, 72, 22);
      // the server's colour scale (emscale.viewer.decomposition.loading_limits, the static figures' rule): the full
      // range unless a few pixels stretch it; the 1st-99th percentiles drew a 9-pixel inclusion as bright as
      // background leftovers 100 times weaker. Blue-white-red about zero where both signs matter.
      const m = decodeMap(d.loadings[k]), { vmin, vmax, extend, signed } = d.loading_limits[k];
      const rgba = new Uint8ClampedArray(4 * m.length);
      m.forEach((v, i) => {
        if (!isFinite(v)) return;
        const t = Math.min(1, Math.max(0, signed ? 0.5 + v / (2 * vmax || 1) : (v - vmin) / (vmax - vmin || 1)));
        const c = signed ? diverging(t) : rgb(colour(k)).map((ch) => Math.round(255 + (ch - 255) * t));
        rgba[4 * i] = c[0]; rgba[4 * i + 1] = c[1]; rgba[4 * i + 2] = c[2]; rgba[4 * i + 3] = 255;
      });
      const mctx = map.getContext("2d"), g = mapGeometry(map, 70);
      putImage(mctx, g, rgba);
      state.loadingGeometry = g;
      mctx.fillStyle = "#222"; mctx.font = "11px sans-serif"; mctx.textAlign = "left"; mctx.textBaseline = "middle";
      // "<" / ">": loadings lie beyond that end (a hot pixel), as the static colour bar's triangles say
      const over = extend === "max" || extend === "both", under = extend === "min" || extend === "both";
      mctx.fillText(`${over ? "> " : ""}${fmt(vmax)}`, g.x + g.w + 6, g.y + 8);
      mctx.fillText(`${under ? "< " : ""}${fmt(vmin)}`, g.x + g.w + 6, g.y + g.h - 8);
    });
  }

  async function start() {
    try {
      const r = await fetch("/api/decomposition", { headers: { "X-Emscale-Token": token } });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || r.statusText);
      state.data = body;
      $("title").textContent = `${body.title || "decomposition"}: ${body.method}`;
      $("shape").textContent = `${body.n_components} components · navigation ${body.width} x ${body.height} · ${body.energy.values.length} channels`;
      drawScree(); drawPhases(); drawPairs();
    } catch (err) {
      state.errors.push(String(err.message || err)); $("status").textContent = String(err.message || err);
    }
    state.ready = true;
  }

  window.emscaleDecomposition = { state, colour };
  start();
})();
