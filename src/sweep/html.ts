/**
 * sweep.html: one self-contained file (uPlot's script and CSS inlined, no network) with a chart per
 * figure (by default the IOTLB hit rate and the cycles per translation) against one parameter (by
 * default the first numeric one, e.g. the IOTLB size), one series per combination of the other
 * varying dimensions (e.g. per replacement policy), and a table of every point, sortable by a
 * click on a column header, each row linking the point's own report.
 *
 * Series that coincide stay distinguishable: each has its own colour, dash pattern and marker shape
 * (hollow markers, so coinciding ones show both outlines), the legend is static markup drawn from
 * the same styles (readable without a cursor and without script), and a note under a chart names
 * the series whose values are identical.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { metricDocs, type MetricName } from "./metrics.ts";
import { csvColumns, type PointRecord, type SweepResults } from "./results.ts";

const require = createRequire(import.meta.url);
let assets: { js: string; css: string } | undefined;

function uplotAssets(): { js: string; css: string } {
  assets ??= {
    js: readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8"),
    css: readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8"),
  };
  return assets;
}

export interface ChartSeries {
  label: string;
  /** One y per x (null: no point there). */
  y: (number | null)[];
}

export interface ChartSpec {
  metric: MetricName;
  title: string;
  xLabel: string;
  /** Numeric x positions; for a categorical x, 0..n-1 with `xTicks` as labels. */
  x: number[];
  xTicks?: string[];
  xLog2: boolean;
  series: ChartSeries[];
  /** Groups of series (labels) whose values are identical at every x. */
  identical: string[][];
}

const fmt = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/** The x parameter, the y figures and the series, as README "Sweeps" describes the defaults. */
export function chartSpecs(r: SweepResults): ChartSpec[] {
  const params = r.sweep.parameters;
  const xParam = r.sweep.chart.x ?? params.find((p) => p.values.every((v) => typeof v === "number" && Number.isFinite(v)))?.path ?? params[0]?.path;
  const anyValue = (m: MetricName) => r.points.some((p) => typeof p.metrics[m] === "number");
  let y = r.sweep.chart.y;
  if (!y) {
    const wanted: MetricName[] = ["iotlbHitRate", anyValue("cyclesPerTranslation") ? "cyclesPerTranslation" : "walkReadsPerTlp"];
    y = wanted.filter((m) => r.sweep.metrics.includes(m));
    if (!y.length) y = r.sweep.metrics.slice(0, 2);
  }

  // x positions
  const xOf = new Map<string, number>();
  let x: number[];
  let xTicks: string[] | undefined;
  let xLog2 = false;
  const xDef = params.find((p) => p.path === xParam);
  const pointX = (p: PointRecord) => (xDef ? fmt(p.parameters[xDef.path]) : p.id);
  if (xDef && xDef.values.every((v) => typeof v === "number" && Number.isFinite(v))) {
    const nums = [...new Set(xDef.values as number[])].sort((a, b) => a - b);
    x = nums;
    for (const v of nums) xOf.set(fmt(v), v);
    xLog2 = nums.length > 2 && nums.every((v) => v > 0 && Number.isInteger(Math.log2(v)));
  } else {
    const labels = xDef ? xDef.values.map(fmt) : r.points.map((p) => p.id);
    x = labels.map((_, i) => i);
    xTicks = labels;
    labels.forEach((l, i) => xOf.set(l, i));
  }

  // series: every other dimension with more than one value
  const dims: { name: string; of: (p: PointRecord) => string }[] = [];
  if (r.sweep.scenarios.length > 1) dims.push({ name: "scenario", of: (p) => p.scenario });
  if ((r.sweep.traces?.length ?? 0) > 1) dims.push({ name: "trace", of: (p) => p.trace ?? "" });
  const short = (path: string) => {
    const last = /([A-Za-z_$][A-Za-z0-9_$-]*)[^A-Za-z_$]*$/.exec(path)?.[1] ?? path;
    return params.filter((q) => q.path !== path && (/([A-Za-z_$][A-Za-z0-9_$-]*)[^A-Za-z_$]*$/.exec(q.path)?.[1] ?? q.path) === last).length ? path : last;
  };
  for (const p of params) if (p.path !== xParam && p.values.length > 1) dims.push({ name: short(p.path), of: (pt) => fmt(pt.parameters[p.path]) });
  const seriesKey = (p: PointRecord) => (dims.length ? dims.map((d) => (d.name === "scenario" || d.name === "trace" ? d.of(p) : `${d.name}=${d.of(p)}`)).join(", ") : "all points");
  const order: string[] = [];
  const byKey = new Map<string, PointRecord[]>();
  for (const p of r.points) {
    const k = seriesKey(p);
    if (!byKey.has(k)) {
      byKey.set(k, []);
      order.push(k);
    }
    byKey.get(k)!.push(p);
  }

  return y.map((metric): ChartSpec => {
    const series = order.map((label): ChartSeries => {
      const ys: (number | null)[] = x.map(() => null);
      for (const p of byKey.get(label)!) {
        const i = x.indexOf(xOf.get(pointX(p)) ?? NaN);
        if (i >= 0) ys[i] = p.metrics[metric] ?? null;
      }
      return { label, y: ys };
    });
    const same = new Map<string, string[]>();
    for (const ser of series) {
      const k = JSON.stringify(ser.y);
      if (ser.y.some((v) => v !== null)) same.set(k, [...(same.get(k) ?? []), ser.label]);
    }
    const identical = [...same.values()].filter((g) => g.length > 1);
    return { metric, title: `${metric}: ${metricDocs[metric]}`, xLabel: xParam ?? "point", x, ...(xTicks ? { xTicks } : {}), xLog2, series, identical };
  });
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
/** JSON that is safe inside a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");

// ---- series styles: colour, dash pattern, marker; series i takes entry i of each list (cycled) ----

export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
/** Canvas / SVG dash patterns (CSS pixels): solid, dashed, dotted, dash-dot, long dash, dash-dot-dot. */
export const DASHES: number[][] = [[], [8, 4], [2, 3], [10, 3, 2, 3], [14, 5], [8, 3, 2, 3, 2, 3]];
/** Marker shapes as polylines in a unit box (y down), each closed or open. */
export const MARKERS: { name: string; lines: [number, number][][]; closed: boolean }[] = [
  { name: "circle", lines: [Array.from({ length: 20 }, (_, i) => [Math.round(Math.cos((i * Math.PI) / 10) * 1000) / 1000, Math.round(Math.sin((i * Math.PI) / 10) * 1000) / 1000] as [number, number])], closed: true },
  { name: "square", lines: [[[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]]], closed: true },
  { name: "triangle", lines: [[[0, -1], [0.9, 0.7], [-0.9, 0.7]]], closed: true },
  { name: "diamond", lines: [[[0, -1.1], [1.1, 0], [0, 1.1], [-1.1, 0]]], closed: true },
  { name: "triangle-down", lines: [[[0, 1], [0.9, -0.7], [-0.9, -0.7]]], closed: true },
  { name: "cross", lines: [[[-0.8, -0.8], [0.8, 0.8]], [[-0.8, 0.8], [0.8, -0.8]]], closed: false },
  { name: "plus", lines: [[[-1, 0], [1, 0]], [[0, -1], [0, 1]]], closed: false },
];

export interface SeriesStyle {
  color: string;
  dash: number[];
  marker: string;
}

export function seriesStyle(i: number): SeriesStyle {
  return { color: PALETTE[i % PALETTE.length]!, dash: DASHES[i % DASHES.length]!, marker: MARKERS[i % MARKERS.length]!.name };
}

/** The legend entry's picture: a line in the series' dash pattern with its marker in the middle. */
function legendSvg(st: SeriesStyle): string {
  const m = MARKERS.find((x) => x.name === st.marker)!;
  const r = 4.5;
  const d = m.lines.map((l) => "M" + l.map(([x, y]) => `${(18 + x * r).toFixed(2)} ${(8 + y * r).toFixed(2)}`).join(" L") + (m.closed ? " Z" : "")).join(" ");
  const dash = st.dash.length ? ` stroke-dasharray="${st.dash.join(" ")}"` : "";
  return `<svg width="36" height="16" viewBox="0 0 36 16" aria-hidden="true"><line x1="0" y1="8" x2="36" y2="8" stroke="${st.color}" stroke-width="2"${dash}/><path d="${d}" fill="none" stroke="${st.color}" stroke-width="1.5"/></svg>`;
}

function chartBlock(s: ChartSpec, i: number): string {
  const legend = s.series
    .map((ser, k) => {
      const st = seriesStyle(k);
      return `<li data-series="${k}" data-color="${st.color}" data-dash="${st.dash.join(" ")}" data-marker="${st.marker}">${legendSvg(st)} <span>${esc(ser.label)}</span></li>`;
    })
    .join("");
  const q = (l: string) => `"${l}"`;
  const notes = s.identical.map((g) => `Identical values: ${g.map(q).join(" and ")} coincide at every ${s.xLabel} (drawn on top of each other; told apart by dash pattern and marker).`);
  return `<figure class="chart-block" id="chart-${i}">
<div class="chart" data-spec="${i}"></div>
<ul class="legend">${legend}</ul>
${notes.map((n) => `<p class="note identical">${esc(n)}</p>`).join("\n")}
</figure>`;
}

/**
 * The sweep's page. `pointReport` gives the link from sweep.html to a point's report (relative to
 * the folder sweep.html is written to; null: no link).
 */
export function sweepHtml(r: SweepResults, pointReport: (p: PointRecord) => string | null = (p) => `points/${p.id}/report.json`): string {
  const { js, css } = uplotAssets();
  const specs = chartSpecs(r);
  const cols = csvColumns(r);
  const cell = (v: unknown) => (v === null || v === undefined ? "" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : fmt(v));
  const rows = r.points.map((p) => {
    const values = [p.index, p.id, p.scenario, p.trace, ...r.sweep.parameters.map((q) => p.parameters[q.path]), ...r.sweep.metrics.map((m) => p.metrics[m])];
    const cells = values.map((v) => `<td${typeof v === "number" ? ` data-v="${v}"` : ""}>${esc(cell(v))}</td>`);
    const href = pointReport(p);
    const link = href ? `<a href="${esc(href.split("/").map(encodeURIComponent).join("/"))}">${esc(href.split("/").pop()!)}</a>` : "";
    return `<tr data-id="${esc(p.id)}">${cells.join("")}<td class="report">${link}</td></tr>`;
  });
  const numeric = (i: number) => r.points.every((p) => {
    const v = [p.index, p.id, p.scenario, p.trace, ...r.sweep.parameters.map((q) => p.parameters[q.path]), ...r.sweep.metrics.map((m) => p.metrics[m])][i];
    return v === null || v === undefined || typeof v === "number";
  });
  const scope = r.shard ? `shard ${r.shard.index}/${r.shard.count}: ${r.points.length} of ${r.sweep.points} points` : `${r.points.length} points`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>iommu-emu sweep</title>
<style>
${css}
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } .meta, .note { color: #555; }
.chart-block { margin: 1em 0 2em; } .note.identical { color: #8a4b00; }
ul.legend { list-style: none; padding: 0; margin: 4px 0; display: flex; flex-wrap: wrap; gap: 4px 18px; }
ul.legend li { display: flex; align-items: center; gap: 6px; } ul.legend svg { flex: none; }
table { border-collapse: collapse; font-size: 12px; } th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f4f4f4; position: sticky; top: 0; cursor: pointer; user-select: none; } td:nth-child(-n+4), td.report { text-align: left; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
</style>
</head>
<body>
<h1>iommu-emu sweep</h1>
<p class="meta">${esc(scope)}; scenarios: ${esc(r.sweep.scenarios.join(", "))}${r.sweep.traces ? `; traces: ${esc(r.sweep.traces.join(", "))}` : ""}; ${esc(r.sweep.hash)}</p>
<div id="charts">
${specs.map(chartBlock).join("\n")}
</div>
<h2>Points</h2>
<p class="note">Click a column header to sort by it (again to reverse). Each point's report: its run summary${rows.length && r.points.some((p) => pointReport(p)?.endsWith(".html")) ? " as an HTML report" : " (report.json; <code>sweep --point-html</code> writes an HTML report for each point)"}.</p>
<table id="points">
<thead><tr>${cols.map((c, i) => `<th${numeric(i) ? ' data-type="num"' : ""}>${esc(c)}</th>`).join("")}<th>report</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>
<script>${js}</script>
<script>
const SPECS = ${scriptJson(specs)};
const STYLES = ${scriptJson({ palette: PALETTE, dashes: DASHES, markers: MARKERS })};
const width = () => Math.max(480, Math.min(1000, document.body.clientWidth - 40));
function style(i) {
  return { color: STYLES.palette[i % STYLES.palette.length], dash: STYLES.dashes[i % STYLES.dashes.length], marker: STYLES.markers[i % STYLES.markers.length] };
}
// hollow markers of the series' shape at its points (canvas pixels)
function markerPaths(marker) {
  return (u, si, i0, i1) => {
    const xs = u.data[0], ys = u.data[si], r = 4.5 * devicePixelRatio, p = new Path2D();
    for (let i = i0; i <= i1; i++) {
      if (ys[i] == null) continue;
      const x = u.valToPos(xs[i], "x", true), y = u.valToPos(ys[i], u.series[si].scale, true);
      for (const line of marker.lines) {
        line.forEach(([mx, my], k) => (k ? p.lineTo(x + mx * r, y + my * r) : p.moveTo(x + mx * r, y + my * r)));
        if (marker.closed) p.closePath();
      }
    }
    return { stroke: p, fill: null, clip: null, flags: 0 };
  };
}
const plots = [];
SPECS.forEach((s, n) => {
  const el = document.querySelector('.chart[data-spec="' + n + '"]');
  const cat = Array.isArray(s.xTicks);
  const opts = {
    title: s.title,
    width: width(),
    height: 320,
    legend: { show: false },
    scales: { x: s.xLog2 ? { time: false, distr: 3, log: 2 } : cat ? { time: false, range: (u, lo, hi) => [lo - 0.5, hi + 0.5] } : { time: false } },
    axes: [
      { label: s.xLabel, ...(cat ? { splits: () => s.x, values: (u, splits) => splits.map((v) => s.xTicks[v] ?? "") } : s.x.length <= 16 ? { splits: () => s.x, values: (u, splits) => splits.map(String) } : {}) },
      { label: s.metric, size: 70 },
    ],
    series: [{ label: s.xLabel }].concat(
      s.series.map((ser, i) => {
        const st = style(i);
        return { label: ser.label, stroke: st.color, dash: st.dash, width: 2, spanGaps: true, points: { show: true, size: 9, width: 1.5, stroke: st.color, fill: "rgba(0,0,0,0)", paths: markerPaths(st.marker) } };
      }),
    ),
  };
  plots.push(new uPlot(opts, [s.x].concat(s.series.map((ser) => ser.y)), el));
});
window.addEventListener("resize", () => { for (const p of plots) p.setSize({ width: width(), height: 320 }); });

// the points table: a click on a header sorts by that column (numbers as numbers), again reverses
const table = document.getElementById("points");
const heads = Array.from(table.tHead.rows[0].cells);
heads.forEach((th, c) => th.addEventListener("click", () => {
  const num = th.getAttribute("data-type") === "num";
  const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
  const key = (tr) => { const td = tr.cells[c]; const v = td.hasAttribute("data-v") ? td.getAttribute("data-v") : td.textContent; return num ? (v === "" ? -Infinity : Number(v)) : v; };
  const body = table.tBodies[0];
  const rows = Array.from(body.rows).map((tr, i) => [key(tr), i, tr]);
  rows.sort((a, b) => (a[0] < b[0] ? -dir : a[0] > b[0] ? dir : a[1] - b[1]));
  for (const [, , tr] of rows) body.appendChild(tr);
  heads.forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
}));
document.documentElement.setAttribute("data-rendered", "1");
</script>
</body>
</html>
`;
}
