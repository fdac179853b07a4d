/**
 * sweep.html: one self-contained file (uPlot's script and CSS inlined, no network) with a chart per
 * figure (by default the IOTLB hit rate and the cycles per translation) against one parameter (by
 * default the first numeric one, e.g. the IOTLB size), one series per combination of the other
 * varying dimensions (e.g. per replacement policy), and a table of every point.
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
    return { metric, title: `${metric}: ${metricDocs[metric]}`, xLabel: xParam ?? "point", x, ...(xTicks ? { xTicks } : {}), xLog2, series };
  });
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
/** JSON that is safe inside a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");

export function sweepHtml(r: SweepResults): string {
  const { js, css } = uplotAssets();
  const specs = chartSpecs(r);
  const cols = csvColumns(r);
  const cell = (v: unknown) => (v === null || v === undefined ? "" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : fmt(v));
  const rows = r.points.map(
    (p) =>
      `<tr>${[p.index, p.id, p.scenario, p.trace, ...r.sweep.parameters.map((q) => p.parameters[q.path]), ...r.sweep.metrics.map((m) => p.metrics[m])]
        .map((v) => `<td>${esc(cell(v))}</td>`)
        .join("")}</tr>`,
  );
  const scope = r.shard ? `shard ${r.shard.index}/${r.shard.count}: ${r.points.length} of ${r.sweep.points} points` : `${r.points.length} points`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>iommu-emu sweep</title>
<style>
${css}
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } .meta { color: #555; }
.chart { margin: 1em 0 2em; }
table { border-collapse: collapse; font-size: 12px; } th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f4f4f4; position: sticky; top: 0; } td:nth-child(-n+4) { text-align: left; }
</style>
</head>
<body>
<h1>iommu-emu sweep</h1>
<p class="meta">${esc(scope)}; scenarios: ${esc(r.sweep.scenarios.join(", "))}${r.sweep.traces ? `; traces: ${esc(r.sweep.traces.join(", "))}` : ""}; ${esc(r.sweep.hash)}</p>
<div id="charts"></div>
<h2>Points</h2>
<table id="points">
<thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>
<script>${js}</script>
<script>
const SPECS = ${scriptJson(specs)};
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const root = document.getElementById("charts");
const width = () => Math.max(480, Math.min(1000, document.body.clientWidth - 40));
const plots = [];
for (const s of SPECS) {
  const el = document.createElement("div");
  el.className = "chart";
  root.appendChild(el);
  const cat = Array.isArray(s.xTicks);
  const opts = {
    title: s.title,
    width: width(),
    height: 320,
    scales: { x: s.xLog2 ? { time: false, distr: 3, log: 2 } : cat ? { time: false, range: (u, lo, hi) => [lo - 0.5, hi + 0.5] } : { time: false } },
    axes: [
      { label: s.xLabel, ...(cat ? { splits: () => s.x, values: (u, splits) => splits.map((v) => s.xTicks[v] ?? "") } : s.x.length <= 16 ? { splits: () => s.x, values: (u, splits) => splits.map(String) } : {}) },
      { label: s.metric, size: 70 },
    ],
    series: [{ label: s.xLabel, value: cat ? (u, v) => (v == null ? "-" : s.xTicks[v]) : undefined }].concat(
      s.series.map((ser, i) => ({ label: ser.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true, points: { show: true, size: 6 } })),
    ),
  };
  plots.push(new uPlot(opts, [s.x].concat(s.series.map((ser) => ser.y)), el));
}
window.addEventListener("resize", () => { for (const p of plots) p.setSize({ width: width(), height: 320 }); });
</script>
</body>
</html>
`;
}
