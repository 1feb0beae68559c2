// A small line chart drawn as inline SVG: no library, no network.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  if (parent) parent.appendChild(el);
  return el;
}

function niceTicks(lo, hi, count) {
  if (hi <= lo) hi = lo + 1;
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count)));
  const mult = [1, 2, 5, 10].find((m) => (hi - lo) / (step * m) <= count) || 10;
  const size = step * mult;
  const ticks = [];
  for (let v = Math.ceil(lo / size) * size; v <= hi + 1e-9; v += size) ticks.push(Number(v.toFixed(10)));
  return ticks;
}

/**
 * Draw series [{name, color, dashed, points: [[x, y], ...]}] into an <svg> element.
 * Options: xLabel, yLabel, yMin, yMax.
 */
function lineChart(svg, series, options) {
  const opts = Object.assign({ width: 640, height: 280, yMin: 0, yMax: 1, xLabel: "", yLabel: "" }, options || {});
  const pad = { left: 46, right: 16, top: 30, bottom: 38 };
  svg.textContent = "";
  svg.setAttribute("viewBox", `0 0 ${opts.width} ${opts.height}`);
  svg.setAttribute("role", "img");
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const xMin = xs.length ? Math.min(...xs) : 0;
  const xMax = xs.length ? Math.max(...xs, xMin + 1) : 1;
  const sx = (x) => pad.left + ((x - xMin) / (xMax - xMin)) * (opts.width - pad.left - pad.right);
  const sy = (y) => opts.height - pad.bottom - ((y - opts.yMin) / (opts.yMax - opts.yMin)) * (opts.height - pad.top - pad.bottom);
  for (const t of niceTicks(opts.yMin, opts.yMax, 5)) {
    svgEl("line", { x1: pad.left, x2: opts.width - pad.right, y1: sy(t), y2: sy(t), stroke: "#eaecf0" }, svg);
    svgEl("text", { x: pad.left - 6, y: sy(t) + 4, "text-anchor": "end" }, svg).textContent = t;
  }
  for (const t of niceTicks(xMin, xMax, 8)) {
    svgEl("text", { x: sx(t), y: opts.height - pad.bottom + 16, "text-anchor": "middle" }, svg).textContent = t;
  }
  svgEl("line", { x1: pad.left, x2: pad.left, y1: pad.top, y2: opts.height - pad.bottom, stroke: "#98a2b3" }, svg);
  svgEl("line", { x1: pad.left, x2: opts.width - pad.right, y1: opts.height - pad.bottom, y2: opts.height - pad.bottom, stroke: "#98a2b3" }, svg);
  svgEl("text", { x: (opts.width + pad.left) / 2, y: opts.height - 4, "text-anchor": "middle" }, svg).textContent = opts.xLabel;
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    const attrs = { fill: "none", stroke: s.color, "stroke-width": 2, "data-series": s.name,
      points: pts.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ") };
    if (s.dashed) attrs["stroke-dasharray"] = "6 4";
    svgEl("polyline", attrs, svg);
    for (const p of pts) svgEl("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.5, fill: s.color }, svg);
    const lx = pad.left + 10 + i * 130;
    svgEl("rect", { x: lx, y: 8, width: 12, height: 3, fill: s.color }, svg);
    svgEl("text", { x: lx + 16, y: 13 }, svg).textContent = s.name;
  });
}
