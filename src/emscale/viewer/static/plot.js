// Shared by the emscale viewer pages: tick positions, number formats, scale-bar units, colour tables.
window.emscalePlot = (function () {
  "use strict";
  function niceStep(span, n) {
    const raw = span / Math.max(n, 1), e = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * e >= raw) return m * e;
    return 10 * e;
  }

  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const step = niceStep(hi - lo, n), out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }

  // Decades, or 1-2-5 multiples where the range spans less than two decades.
  function logTicks(lo, hi) {
    const out = [];
    for (const mult of [[1], [1, 2, 5]]) {
      out.length = 0;
      for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
        for (const m of mult) {
          const v = m * Math.pow(10, k);
          if (Math.log10(v) >= lo && Math.log10(v) <= hi) out.push(v);
        }
      }
      if (out.length >= 3) break;
    }
    return out;
  }

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "-";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
    return String(Number(v.toPrecision(4)));
  }

  // Length units for the scale bar: the unit that puts the bar between 1 and 1000 (nm, not "0.0002 um").
  const LENGTH = { pm: 1e-12, "Å": 1e-10, A: 1e-10, nm: 1e-9, "µm": 1e-6, um: 1e-6, "μm": 1e-6, mm: 1e-3, m: 1 };
  function scaleBar(lengthUnits, units) {
    if (!(units in LENGTH)) return { value: lengthUnits, label: fmt(lengthUnits) + (units ? " " + units : "") };
    const metres = lengthUnits * LENGTH[units];
    for (const u of ["pm", "nm", "µm", "mm", "m"]) {
      const v = metres / LENGTH[u];
      if (v < 1000 || u === "m") return { value: lengthUnits, label: fmt(v) + " " + u };
    }
  }

  // The length unit in which a span of `span` `units` reads between 1 and 1000: {units, factor} such that
  // value_in_new_units = factor * value (axes in "0.002 um" become "2 nm"). Other units stay as they are.
  function lengthUnit(span, units) {
    if (!(units in LENGTH) || !(span > 0)) return { units, factor: 1 };
    const metres = span * LENGTH[units];
    for (const u of ["pm", "nm", "µm", "mm", "m"]) {
      if (metres / LENGTH[u] < 1000 || u === "m") return { units: u, factor: LENGTH[units] / LENGTH[u] };
    }
  }

  const isLength = (units) => units in LENGTH;

  // A rotated axis title centred on (x, y), squeezed to `room` px at most.
  function verticalText(ctx, text, x, y, room) {
    ctx.save(); ctx.translate(x, y); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.fillText(text, 0, 0, room); ctx.restore();
  }

  function parseLut(hex) {
    const out = new Uint8Array(768);
    for (let i = 0; i < 768; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  }

  return { niceStep, ticks, logTicks, fmt, scaleBar, lengthUnit, isLength, verticalText, parseLut };
})();
