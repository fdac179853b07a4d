/**
 * `run --html`: one self-contained HTML file that works offline. uPlot's JS and CSS are inlined,
 * the data the charts draw is inlined as JSON, and a Content-Security-Policy forbids every fetch,
 * so the file shows the same thing anywhere, with no network.
 *
 * Sections: the summary figures; the latency histogram per latency class on a logarithmic axis
 * (timed runs); hit rates per cache and per paging-structure level; translations and faults per
 * device and per PASID; the No-Snoop audit (one row per leaf entry No-Snoop TLPs went through); the
 * faults (by reason, device, PASID and page, and the first faulting TLPs); the driver side's, when
 * the run has one (html-driver.ts: driver events and refusals, VMs, cache coherency, the
 * deferred-invalidation window, peer-to-peer); PMU events, table reads, invalidation and stale
 * translations. Every chart has a legend that needs no cursor. Tables are
 * plain HTML (readable without script) and sortable by clicking a column header. Every text that
 * comes from the run is HTML-escaped; the JSON is escaped so that it cannot end its script element.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { reportOf, type RunSummary, type CacheSummary } from "./summary.ts";
import type { ArchReport } from "./arch/types.ts";
import { vtdReport } from "./arch/vtd.ts";
import { fmtNs, type LatencyClassLabels, type LatencyStats, type TimingSummary } from "./timing.ts";
import { LatencyHist, latencyClassNames, type CacheName } from "../core/abi.ts";
import { log2Floor } from "../core/histogram.ts";
import type { CollectedReport, GroupCounts } from "./collector.ts";
import { driverSections } from "./html-driver.ts";

import { escapeHtml, jsonForScript, inlineScript, inlineStyle, fmt, pct, hex, hexKey, bytes, table, figures, few, type Cell, type CellLike, type Column } from "./html-parts.ts";

export { escapeHtml, jsonForScript };

// ---- uPlot, from node_modules ----------------------------------------------------------------------

let uplotAssets: { js: string; css: string; license: string } | undefined;

function uplot(): { js: string; css: string; license: string } {
  if (!uplotAssets) {
    const require = createRequire(import.meta.url);
    const js = readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8");
    const css = readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8");
    let license = "uPlot, MIT License, Copyright (c) Leon Sorokin";
    try {
      license = readFileSync(require.resolve("uplot/LICENSE"), "utf8").trim();
    } catch {
      /* the banner in the file still names it */
    }
    uplotAssets = { js, css, license: license.replace(/\*\//g, "* /") };
  }
  return uplotAssets;
}

// ---- chart data -------------------------------------------------------------------------------------

/** What the page's script draws with uPlot (embedded as JSON). */
export interface ChartData {
  /**
   * Timed runs: the latency histogram per latency class, in display bins on a log axis: bin i holds
   * the latencies x[i] .. x[i+1] - 1 (x has one edge more than there are bins). The bins are the
   * core's log-linear buckets merged: 1 cycle wide below 2^binsPerOctaveLg2, then 2^binsPerOctaveLg2
   * (at most 256) equal bins per power of two.
   */
  latency?: { binsPerOctaveLg2: number; x: number[]; series: { name: string; label: string; counts: number[] }[] };
  /** Hit rate (%) per enabled cache, with its lookups. */
  caches: { name: string; label: string; hitRate: number | null; lookups: number; hits: number }[];
  /** Paging-structure caches by level: hit rate (%) of the first- and second-stage cache, null when disabled or unused. */
  pwc?: { levels: string[]; fs: (number | null)[]; ss: (number | null)[]; fsLookups: number[]; ssLookups: number[] };
  /** Translations and faults per device and per PASID (the first CHART_GROUPS by TLPs). */
  devices: GroupBars;
  pasids: GroupBars;
}

export interface GroupBars {
  labels: string[];
  translated: number[];
  faulted: number[];
  /** Groups left out of the chart (all are in the table). */
  omitted: number;
}

/** Audit rows displayed before "show all" (all are in the file and sorted together). */
export const AUDIT_ROWS_SHOWN = 500;
/** Groups shown in a chart (the tables show all). */
export const CHART_GROUPS = 40;
/** Latency histogram display bins at most; fewer bins per power of two when the latencies spread further. */
const MAX_LATENCY_BINS = 256;

/**
 * The display bin that holds latency `v` with 2^d bins per power of two: [low, next). Below 2^d a
 * bin is one cycle; the core's buckets (256 per power of two from 4096 on) are never split.
 */
function displayBin(v: number, d: number): [number, number] {
  if (v < 2 ** d) return [v, v + 1];
  const e = log2Floor(v);
  const w = 2 ** (e - (e >= LatencyHist.EXACT_LG2 ? Math.min(d, LatencyHist.SUB_LG2) : d));
  const low = Math.floor(v / w) * w;
  return [low, low + w];
}

/** VT-d's cache titles (ArchReport.caches; each architecture's module has its own). */
export const cacheLabels = vtdReport.caches as Record<CacheName, string>;

function latencyChart(t: TimingSummary, labels: LatencyClassLabels): ChartData["latency"] {
  let lo = Infinity, hi = -Infinity;
  for (const name of latencyClassNames)
    for (const [low] of t.histograms[name]) {
      if (low < lo) lo = low;
      if (low > hi) hi = low;
    }
  if (lo > hi) return undefined;
  // the finest resolution (1-cycle bins up to 4096) whose bins from lo to hi fit MAX_LATENCY_BINS
  let d = LatencyHist.EXACT_LG2;
  let x: number[] = [];
  for (; d >= 0; d--) {
    x = [displayBin(lo, d)[0]];
    for (let v = lo; x.length <= MAX_LATENCY_BINS + 1; ) {
      const [, next] = displayBin(v, d);
      x.push(next);
      if (next > hi) break;
      v = next;
    }
    if (x.length <= MAX_LATENCY_BINS + 1) break;
  }
  const index = new Map(x.map((v, i) => [v, i]));
  const series: NonNullable<ChartData["latency"]>["series"] = [];
  for (const name of latencyClassNames) {
    const pairs = t.histograms[name];
    if (!pairs.length) continue;
    const counts = new Array<number>(x.length - 1).fill(0);
    for (const [low, c] of pairs) counts[index.get(displayBin(low, d)[0])!]! += c;
    series.push({ name, label: labels[name], counts });
  }
  return { binsPerOctaveLg2: d, x, series };
}

function groupBars(groups: (GroupCounts & { label: string })[]): GroupBars {
  const top = [...groups].sort((a, b) => b.tlps - a.tlps).slice(0, CHART_GROUPS);
  // keep the table's order (by BDF / PASID) among the shown groups
  const shown = groups.filter((g) => top.includes(g));
  return { labels: shown.map((g) => g.label), translated: shown.map((g) => g.translated), faulted: shown.map((g) => g.faulted), omitted: groups.length - shown.length };
}

const pasidLabel = (p: { pasid: number | null; other?: true }, w: ArchReport["words"]) => (p.other ? "other" : p.pasid === null ? `no ${w.pasid}` : `${w.pasid} ${p.pasid}`);
const cap = (w: string) => w[0]!.toUpperCase() + w.slice(1);

/** The chart data of a report (exported for tests). */
export function chartData(summary: RunSummary, collected: CollectedReport, report: ArchReport = reportOf(summary)): ChartData {
  const pwcLevels = report.walkCacheLevels;
  const byName = new Map(summary.caches.map((c) => [c.name, c] as const));
  const rate = (c: CacheSummary | undefined) => (c && c.lookups ? 100 * c.hitRate : null);
  const data: ChartData = {
    caches: summary.caches.map((c) => ({ name: c.name, label: report.caches[c.name] ?? c.name, hitRate: rate(c), lookups: c.lookups, hits: c.hits })),
    devices: groupBars(collected.devices.map((d) => ({ ...d, label: d.bdf }))),
    pasids: groupBars(collected.pasids.map((p) => ({ ...p, label: pasidLabel(p, report.words) }))),
  };
  if (pwcLevels.some((l) => byName.has(l.fs) || byName.has(l.ss)))
    data.pwc = {
      levels: pwcLevels.map((l) => l.label),
      fs: pwcLevels.map((l) => rate(byName.get(l.fs))),
      ss: pwcLevels.map((l) => rate(byName.get(l.ss))),
      fsLookups: pwcLevels.map((l) => byName.get(l.fs)?.lookups ?? 0),
      ssLookups: pwcLevels.map((l) => byName.get(l.ss)?.lookups ?? 0),
    };
  if (summary.timing) {
    const l = latencyChart(summary.timing, report.latencyClasses);
    if (l) data.latency = l;
  }
  return data;
}

// ---- sections -------------------------------------------------------------------------------------

function summarySection(s: RunSummary, c: CollectedReport, report: ArchReport): string {
  const sn = s.snoop;
  const items: [string, string, string?][] = [
    ["TLPs", fmt(s.tlps)],
    ["translated", fmt(s.translated), pct(s.translated, s.tlps)],
    ["faulted", fmt(s.faulted), s.faulted ? `${pct(s.faulted, s.tlps)}, ${fmt(s.faultsRecorded)} recorded` : undefined],
  ];
  if (s.interrupts) items.push(["interrupt requests", fmt(s.interrupts)]);
  if (s.blocked) items.push([report.words.blocked, fmt(s.blocked)]);
  if (s.p2p) items.push(["peer-to-peer", fmt(s.p2p), "routed by the root complex, not translated"]);
  if (s.atsRequests) items.push(["ATS translation requests", fmt(s.atsRequests)]);
  items.push([`devices / ${report.words.pasid}s`, `${fmt(c.devices.length)} / ${fmt(c.pasids.length)}`]);
  items.push(["No-Snoop TLPs translated", fmt(sn.noSnoopTlps), `${fmt(sn.noSnoopForced)} forced to snoop, ${fmt(sn.noSnoopTlps - sn.noSnoopForced)} let through`]);
  items.push(["table reads", fmt(s.walkReads.total), s.tlps ? `${(s.walkReads.total / s.tlps).toFixed(2)} per TLP` : undefined]);
  const iotlb = s.caches.find((x) => x.name === "iotlb");
  if (iotlb) items.push([`${report.caches.iotlb} hit rate`, pct(iotlb.hits, iotlb.lookups), `${fmt(iotlb.lookups)} lookups`]);
  items.push(...report.summaryFigures(s));
  const t = s.timing;
  if (t) {
    items.push(["total cycles", fmt(t.totalCycles), `${fmtNs(t.totalNs)} at ${t.clockMHz} MHz`]);
    items.push(["translations per cycle", t.translationsPerCycle.toFixed(4), "simulated"]);
    items.push(["latency (cycles)", `mean ${t.latency.mean.toFixed(1)}`, `p50 ${fmt(t.latency.p50)}, p90 ${fmt(t.latency.p90)}, p99 ${fmt(t.latency.p99)}, max ${fmt(t.latency.max)}`]);
  }
  items.push(["host replay", `${s.host.seconds.toFixed(3)} s`, `${(s.host.tlpsPerSecond / 1e6).toFixed(2)} M TLPs/s`]);
  return `<section id="summary"><h2>Summary</h2>${figures(items)}</section>`;
}

function latencyRows(t: TimingSummary, labels: LatencyClassLabels): { cells: CellLike[] }[] {
  const row = (label: string, s: LatencyStats) => ({ cells: [label, s.count, { text: s.mean.toFixed(1), sort: s.mean }, s.p50, s.p90, s.p99, s.max] });
  return [row("all", t.latency), ...latencyClassNames.filter((n) => t.classes[n].count).map((n) => row(labels[n], t.classes[n]))];
}

function timingSection(s: RunSummary, charts: ChartData, labels: LatencyClassLabels): string {
  const t = s.timing;
  if (!t) return `<section id="latency"><h2>Latency</h2><p class="note">Functional run (no timing model): no latencies.</p></section>`;
  const arrival = t.arrival === "injection-rate" ? `${t.injectionRate} TLPs/cycle` : t.arrival === "trace" ? "trace times" : "back-to-back";
  const l = charts.latency;
  const bins = l && l.binsPerOctaveLg2 >= LatencyHist.EXACT_LG2 ? `1-cycle bins below ${fmt(t.histogram.exactBelowCycles)} cycles, ${t.histogram.bucketsPerOctave} per power of two above` : l ? `1-cycle bins below ${fmt(2 ** l.binsPerOctaveLg2)} cycles, ${2 ** l.binsPerOctaveLg2} per power of two above` : "";
  const chart = l
    ? `<div class="chart" id="chart-latency" data-chart="latency"></div><p class="note">Translations per latency, stacked by latency class, on a logarithmic latency axis (${escapeHtml(bins)}; a latency of 0 is drawn between 0.5 and 1).</p>`
    : `<p class="note">No translations were timed.</p>`;
  const cols: Column[] = ["class", "count", "mean", "p50", "p90", "p99", "max"].map((label, i) => ({ label, num: i > 0 }));
  return `<section id="latency"><h2>Latency</h2>
<p class="note">Preset ${escapeHtml(t.preset)}, ${escapeHtml(t.clockMHz)} MHz, arrivals: ${escapeHtml(arrival)}. Cycles at the IOMMU clock; percentiles by nearest rank, exact below ${fmt(t.histogram.exactBelowCycles)} cycles; above, the top of the histogram bucket the percentile falls in (less than ${(100 * t.histogram.relativeError).toFixed(2)}% above the true value, never above the max). Mean and max are exact.</p>
${chart}
${table("latency-table", cols, latencyRows(t, labels))}
${figures([
  ["walker occupancy", pct(t.walkerBusyCycles, t.walkerSlots * t.totalCycles), `${fmt(t.walkerBusyCycles)} busy cycles over ${t.walkerSlots} walkers`],
  ["stall cycles", fmt(t.stallCycles), `waiting for one of ${t.translationSlots} translation slots`],
  ["peak outstanding", fmt(t.peakOutstanding)],
  ["invalidation cycles", fmt(t.invalidationCycles)],
  ["coalesced / re-walked hits", `${fmt(t.coalescedHits)} / ${fmt(t.rewalks)}`],
])}
</section>`;
}

function cacheSection(s: RunSummary, charts: ChartData, report: ArchReport): string {
  if (!s.caches.length) return `<section id="caches"><h2>Caches</h2><p class="note">No cache is enabled.</p></section>`;
  const cols: Column[] = [{ label: "cache" }, ...["entries", "ways", "lookups", "hits", "misses", "hit rate", "fills", "evictions", "invalidated"].map((label) => ({ label, num: true }))];
  cols.splice(3, 0, { label: "policy" });
  const rows = s.caches.map((c) => ({
    attrs: { "data-cache": c.name },
    cells: [
      report.caches[c.name] ?? c.name,
      c.entries,
      { text: c.assoc === 0 ? "full" : String(c.assoc), sort: c.assoc },
      c.policy,
      c.lookups,
      c.hits,
      c.misses,
      { text: c.lookups ? pct(c.hits, c.lookups) : "-", sort: c.lookups ? c.hitRate : -1 },
      c.fills,
      c.evictions,
      c.invalidations,
    ] as CellLike[],
  }));
  return `<section id="caches"><h2>Caches</h2>
<div class="charts"><div class="chart" id="chart-caches" data-chart="caches"></div>${charts.pwc ? `<div class="chart" id="chart-pwc" data-chart="pwc"></div>` : ""}</div>
<p class="note">Hit rate = hits / lookups; a cache without lookups has no bar. The paging-structure caches are probed from the deepest level a walk could resume from; each probe is a lookup.</p>
${table("cache-table", cols, rows)}
</section>`;
}

function groupCells(g: GroupCounts, timed: boolean): CellLike[] {
  const faults = g.faults.map((f) => `${f.name} x${f.count}`).join(", ");
  const cells: CellLike[] = [
    g.tlps,
    g.translated,
    g.faulted,
    { text: faults || "-", title: g.faults.map((f) => `0x${f.code.toString(16).padStart(2, "0")} ${f.name}: ${f.count}`).join("\n") },
    g.interrupts,
    g.blocked,
    g.noSnoop,
    g.noSnoopForced,
  ];
  if (timed) cells.push({ text: g.tlps ? (g.latencySum / g.tlps).toFixed(1) : "-", sort: g.tlps ? g.latencySum / g.tlps : 0 }, g.latencyMax);
  return cells;
}

function groupColumns(first: string, timed: boolean, w: ArchReport["words"]): Column[] {
  const cols: Column[] = [
    { label: first },
    { label: "TLPs", num: true },
    { label: "translated", num: true },
    { label: "faulted", num: true },
    { label: `${w.fault}s by ${w.reason}` },
    { label: "interrupts", num: true },
    { label: "blocked", num: true },
    { label: "No-Snoop", num: true, title: "No-Snoop TLPs translated" },
    { label: "NS forced", num: true, title: "No-Snoop TLPs forced to snoop" },
  ];
  if (timed) cols.push({ label: "mean latency", num: true }, { label: "max latency", num: true });
  return cols;
}

function groupSection(id: string, title: string, c: CollectedReport, timed: boolean, bars: GroupBars, kind: "devices" | "pasids", w: ArchReport["words"]): string {
  const rows =
    kind === "devices"
      ? c.devices.map((d) => ({ attrs: { "data-bdf": d.bdf }, cells: [{ text: d.bdf, sort: d.sid ?? Number.MAX_SAFE_INTEGER } as CellLike, ...groupCells(d, timed)] }))
      : c.pasids.map((p) => ({
          attrs: { "data-pasid": p.other ? "other" : p.pasid === null ? "none" : String(p.pasid) },
          cells: [{ text: pasidLabel(p, w), sort: p.other ? Number.MAX_SAFE_INTEGER : (p.pasid ?? -1) } as CellLike, ...groupCells(p, timed)],
        }));
  const capped = kind === "devices" ? c.devices.some((d) => d.sid === null) : c.pasids.some((p) => p.other);
  const notes = [
    bars.omitted ? `The chart shows the ${bars.labels.length} with the most TLPs; the table has all ${rows.length}.` : "",
    capped ? `Beyond ${fmt(c.maxGroups)} ${kind === "devices" ? "devices" : `${w.pasid}s`}, the rest are summed in the row "other".` : "",
    kind === "pasids" ? `${w.pasid} is the TLP's own; requests without one are under "no ${w.pasid}" (${w.noPasid}).` : "",
  ].filter(Boolean);
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2>
<div class="chart" id="chart-${id}" data-chart="${kind}"></div>
${notes.length ? `<p class="note">${escapeHtml(notes.join(" "))}</p>` : ""}
${table(`${id}-table`, groupColumns(kind === "devices" ? "device" : w.pasid, timed, w), rows)}
</section>`;
}

function auditSection(c: CollectedReport, report: ArchReport): string {
  const a = c.noSnoop;
  const head = figures([
    ["No-Snoop TLPs translated", fmt(a.tlps)],
    ["forced to snoop", fmt(a.forced), pct(a.forced, a.tlps)],
    ["let through (non-snooped)", fmt(a.through), pct(a.through, a.tlps)],
    ["leaf entries", fmt(a.entries.length + a.dropped.entries), a.capped ? `${fmt(a.entries.length)} shown` : undefined],
    ["without a leaf entry", fmt(a.noLeaf.tlps), a.noLeaf.tlps ? `pass-through or translated requests: ${fmt(a.noLeaf.forced)} forced, ${fmt(a.noLeaf.through)} let through` : undefined],
  ]);
  const cols = [...report.auditColumns];
  const rows = a.entries.map((e) => ({ attrs: { "data-leaf": hex(e.leafPa), class: e.through ? "through" : "forced" }, cells: report.auditCells(e) }));
  const notes = [
    "One row per leaf entry that No-Snoop DMA went through, most No-Snoop TLPs first; rows that let No-Snoop TLPs through unsnooped are marked.",
    `The table keeps at most ${fmt(a.maxEntries)} leaf entries (those with the most No-Snoop TLPs).`,
    a.capped
      ? `This run had more: ${fmt(a.dropped.entries)} entries with ${fmt(a.dropped.tlps)} No-Snoop TLPs are left out; counts marked >= may miss TLPs of an entry dropped earlier in the run. The totals above are exact.`
      : "Every leaf entry is shown; the counts are exact.",
  ];
  // Long tables show their first AUDIT_ROWS_SHOWN rows (in the current order) until "show all".
  const body = a.entries.length ? limitedTable("audit-table", cols, rows, "audit") : `<p class="note">No No-Snoop TLP went through a leaf entry.</p>`;
  return `<section id="nosnoop"><h2>No-Snoop audit</h2>${head}<p class="note">${escapeHtml(notes.join(" "))}</p>${body}</section>`;
}

/** Rows beyond AUDIT_ROWS_SHOWN hidden until "show all" (sorting covers every row). */
function limitedTable(id: string, columns: Column[], rows: { cells: CellLike[]; attrs?: Record<string, string> }[], cls = ""): string {
  const limited = rows.length > AUDIT_ROWS_SHOWN;
  const more = limited
    ? `<p><button type="button" data-show-all="${escapeHtml(id)}">Show all ${fmt(rows.length)} rows</button> <span class="note">(the first ${fmt(AUDIT_ROWS_SHOWN)} in the current order are shown; sorting applies to all)</span></p>`
    : "";
  return table(id, columns, rows, { cls: [cls, limited ? "limited" : ""].filter(Boolean).join(" ") }) + more;
}

const reasonsText = (rs: { name: string; count: number }[]) => rs.map((f) => `${f.name} x${f.count}`).join(", ");

function faultSection(s: RunSummary, c: CollectedReport, w: ArchReport["words"]): string {
  const title = `${cap(w.fault)}s`;
  if (!s.faults.length) return `<section id="faults"><h2>${title}</h2><p class="note">No ${w.fault}s.</p></section>`;
  const f = c.faults;
  const byReason = table(
    "faults-table",
    [{ label: "code" }, { label: "condition" }, { label: "count", num: true }, { label: "meaning" }],
    s.faults.map((x) => ({ cells: [{ text: `0x${x.code.toString(16).padStart(2, "0")}`, sort: x.code }, x.name, x.count, x.text] })),
  );
  const count: Column = { label: `${w.fault}s`, num: true };
  const reasons: Column = { label: `by ${w.reason}` };
  const byDevice = table("fault-devices-table", [{ label: "device" }, count, reasons], f.byDevice.map((d) => ({ attrs: { "data-bdf": d.bdf }, cells: [d.bdf, d.count, reasonsText(d.reasons)] })));
  const byPasid = table(
    "fault-pasids-table",
    [{ label: w.pasid }, count, reasons],
    f.byPasid.map((p) => ({ cells: [{ text: pasidLabel(p, w), sort: p.other ? Number.MAX_SAFE_INTEGER : (p.pasid ?? -1) }, p.count, reasonsText(p.reasons)] })),
  );
  const byPage = limitedTable(
    "fault-pages-table",
    [{ label: "page (4K)" }, count, reasons, { label: "devices" }],
    f.byPage.map((p) => ({
      attrs: { "data-page": p.page === null ? "other" : hex(p.page) },
      cells: [{ text: p.page === null ? "other" : hex(p.page), sort: p.page === null ? "~" : hexKey(p.page), cls: "mono" }, p.count, reasonsText(p.reasons), p.devices.join(" ") + (p.moreDevices ? " ..." : "")],
    })),
  );
  const first = table(
    "fault-tlps-table",
    [{ label: "seq", num: true }, { label: "line", num: true }, { label: "op" }, { label: "device" }, { label: w.pasid }, { label: "address" }, { label: "code" }, { label: "condition" }, { label: "recorded" }],
    f.first.map((x) => ({
      attrs: { "data-seq": String(x.seq) },
      cells: [
        x.seq,
        x.line,
        x.op,
        x.bdf,
        { text: x.pasid === undefined ? "-" : String(x.pasid), sort: x.pasid ?? -1 },
        { text: hex(x.addr), sort: hexKey(x.addr), cls: "mono" },
        { text: `0x${x.code.toString(16).padStart(2, "0")}`, sort: x.code },
        x.name,
        x.recorded ? "yes" : `no (${w.unrecorded})`,
      ] as CellLike[],
    })),
  );
  const pagesCapped = f.byPage.some((p) => p.page === null);
  const notes = [
    `${fmt(f.total)} faulting TLPs.`,
    f.total > f.first.length ? `The table shows the first ${fmt(f.first.length)} (at most ${fmt(f.maxRecords)}) in trace order; seq and line are those of --results and of the trace.` : "Every faulting TLP is in the table; seq and line are those of --results and of the trace.",
    "The counts by device, PASID and page are of the trace's TLPs; the table by reason also counts the ATS requests devices sent on device-TLB misses.",
    pagesCapped ? `Beyond ${fmt(c.maxGroups)} pages, the rest are summed in the row "other".` : "",
  ].filter(Boolean);
  return `<section id="faults"><h2>${title}</h2>
<p class="note">${escapeHtml(notes.join(" "))}</p>
<div class="cols"><div><h3>By ${w.reason}</h3>${byReason}</div><div><h3>By device</h3>${byDevice}</div><div><h3>By ${w.pasid}</h3>${byPasid}</div></div>
<h3>By page of the address</h3>${byPage}
<h3>Faulting TLPs</h3>${first}
</section>`;
}

// ---- the page -----------------------------------------------------------------------------------------

const css = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0 auto;padding:0 24px 48px;max-width:1280px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:20px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}h3{font-size:15px;margin:8px 0}
.meta,.note{color:#57606a}.note{max-width:980px}
nav a{margin-right:12px}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:8px;margin:8px 0}
.figures div{background:#f6f8fa;border:1px solid #d8dee4;border-radius:6px;padding:6px 10px}
.figures dt{font-size:12px;color:#57606a}.figures dd{margin:0;font-size:17px;font-variant-numeric:tabular-nums}.figures small{font-size:12px;color:#57606a;display:block}
table.data{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
table.data th,table.data td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
table.data th{background:#f6f8fa;position:sticky;top:0}table.data td[data-v]{text-align:right}table.data td.mono,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;text-align:left}
table.audit td{white-space:nowrap}table.limited tbody tr:nth-child(n+${AUDIT_ROWS_SHOWN + 1}){display:none}
table.sortable th{cursor:pointer;user-select:none}table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
table.audit tr.through td{background:#fff1e5}table.audit tr.through td.c-through{font-weight:bold;color:#9a3412}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{margin:8px 0;min-height:40px}
.cols{display:flex;flex-wrap:wrap;gap:24px}.cols>div{flex:1 1 300px}
`;

/**
 * Runs in the page: draws the charts with uPlot from the JSON data, and makes `table.sortable`
 * tables sort by a clicked column. Plain ES5-style script, nothing taken from the network.
 */
const clientScript = String.raw`
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var charts = data.charts;
  var colors = ["#2563eb", "#16a34a", "#ca8a04", "#9333ea", "#db2777", "#0891b2", "#dc2626", "#64748b"];
  var classColors = { iotlbHit: "#2563eb", pdeHit: "#16a34a", pdpeHit: "#65a30d", pml4eHit: "#ca8a04", pml5eHit: "#d97706", fullWalk: "#9333ea", fault: "#dc2626", other: "#64748b" };
  function fill(c) { return c + "cc"; }
  function width(el) { var w = el.parentNode.clientWidth || 960; return Math.max(360, Math.min(w, 1200)); }

  function categoryAxis(labels) {
    var rotate = labels.length > 6 ? -40 : 0;
    var longest = 0;
    for (var i = 0; i < labels.length; i++) longest = Math.max(longest, String(labels[i]).length);
    return {
      scale: "x",
      grid: { show: false },
      splits: function () { return labels.map(function (_, i) { return i; }); },
      values: function (u, splits) { return splits.map(function (i) { return labels[i] == null ? "" : labels[i]; }); },
      rotate: rotate,
      size: rotate ? 30 + longest * 6 : 40
    };
  }

  function zeroUp(u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; }

  /**
   * Bars per category, side by side; series: [{label, values, color, scale}]. A series with
   * scale "y2" is measured on a second axis on the right (named by y2Label).
   */
  function categoryBars(el, title, xLabel, labels, series, yLabel, yRange, y2Label) {
    var n = series.length;
    var factor = n > 1 ? 0.8 / n : 0.6;
    var scales = { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: yRange || zeroUp } };
    var axes = [categoryAxis(labels), { scale: "y", label: yLabel }];
    if (y2Label) {
      scales.y2 = { range: zeroUp };
      axes.push({ scale: "y2", label: y2Label, side: 1, grid: { show: false } });
    }
    var opts = {
      title: title,
      width: width(el),
      height: 300,
      legend: { live: false },
      scales: scales,
      axes: axes,
      cursor: { points: { show: false } },
      series: [{ label: xLabel }].concat(series.map(function (s, k) {
        return {
          label: s.label,
          scale: s.scale || "y",
          stroke: s.color,
          fill: fill(s.color),
          width: 1,
          points: { show: false },
          paths: uPlot.paths.bars({ size: [factor, 80], align: n === 1 ? 0 : (k < n / 2 ? -1 : 1) })
        };
      }))
    };
    var xs = labels.map(function (_, i) { return i; });
    return new uPlot(opts, [xs].concat(series.map(function (s) { return s.values; })), el);
  }

  function latencyChart(el, l) {
    // stacked: series k holds the sum of classes k..end, drawn largest first; bin i spans x[i]..x[i+1]
    // (a step after each edge), and the last edge closes the last bin
    var n = l.series.length, bins = l.x.length - 1;
    var stacked = [];
    for (var k = 0; k < n; k++) {
      var row = new Array(bins + 1);
      for (var i = 0; i < bins; i++) {
        var s = 0;
        for (var j = k; j < n; j++) s += l.series[j].counts[i];
        row[i] = s;
      }
      row[bins] = 0;
      stacked.push(row);
    }
    // a log axis has no 0: latency 0 is drawn from 0.5 to 1
    var xs = l.x.map(function (v) { return v === 0 ? 0.5 : v; });
    var opts = {
      title: "Latency histogram (cycles, logarithmic)",
      width: width(el),
      height: 320,
      legend: { live: false },
      scales: {
        x: { time: false, distr: 3, log: 2, range: function () { return [xs[0], xs[xs.length - 1]]; } },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } }
      },
      axes: [
        { label: "latency (cycles)", values: function (u, splits) { return splits.map(function (v) { return v < 1 ? "0" : fmtCycles(v); }); } },
        { label: "translations" }
      ],
      cursor: { points: { show: false } },
      series: [{ label: "latency" }].concat(l.series.map(function (s, k) {
        var c = classColors[s.name] || colors[k % colors.length];
        return {
          label: s.label,
          stroke: c,
          fill: fill(c),
          width: 1,
          points: { show: false },
          paths: uPlot.paths.stepped({ align: 1 })
        };
      }))
    };
    return new uPlot(opts, [xs].concat(stacked), el);
  }

  function fmtCycles(v) {
    if (v >= 1e15) return v.toExponential(0);
    if (v >= 1e9 && v % 1e9 === 0) return v / 1e9 + "G";
    if (v >= 1e6 && v % 1e6 === 0) return v / 1e6 + "M";
    if (v >= 1e4 && v % 1e3 === 0) return v / 1e3 + "k";
    return String(v);
  }

  var draw = {
    latency: function (el) { return charts.latency && latencyChart(el, charts.latency); },
    caches: function (el) {
      return categoryBars(el, "Hit rate per cache", "cache", charts.caches.map(function (c) { return c.label; }),
        [{ label: "hit rate", color: colors[0], values: charts.caches.map(function (c) { return c.hitRate; }) }], "hit rate (%)", [0, 100]);
    },
    pwc: function (el) {
      var p = charts.pwc;
      if (!p) return null;
      return categoryBars(el, "Paging-structure cache hit rate per level", "level", p.levels,
        [{ label: "first stage", color: colors[0], values: p.fs }, { label: "second stage", color: colors[1], values: p.ss }], "hit rate (%)", [0, 100]);
    },
    devices: function (el) { return groupChart(el, "TLPs translated (left axis) and faulted (right axis) per device", "device", charts.devices); },
    pasids: function (el) { return groupChart(el, "TLPs translated (left axis) and faulted (right axis) per PASID", "PASID", charts.pasids); }
  };

  function groupChart(el, title, xLabel, g) {
    if (!g.labels.length) return null;
    return categoryBars(el, title, xLabel, g.labels, [
      { label: "translated", color: colors[1], values: g.translated },
      { label: "faulted", color: colors[6], values: g.faulted, scale: "y2" }
    ], "translated TLPs", null, "faulted TLPs");
  }

  // the uPlot instances by chart, for whoever inspects the page (the tests)
  var drawn = window.iommuEmuCharts = {};
  var els = document.querySelectorAll("[data-chart]");
  for (var i = 0; i < els.length; i++) {
    var el = els[i], kind = el.getAttribute("data-chart");
    if (draw[kind]) drawn[kind] = draw[kind](el) || null;
  }

  // sortable tables: click a header; numbers sort by data-v
  function sortable(t) {
    var ths = t.tHead.rows[0].cells;
    Array.prototype.forEach.call(ths, function (th, c) {
      th.addEventListener("click", function () {
        var num = th.getAttribute("data-type") === "num";
        var cur = th.getAttribute("aria-sort");
        var dir = cur ? (cur === "ascending" ? -1 : 1) : (num ? -1 : 1);
        var key = function (row) {
          var td = row.cells[c];
          if (!td) return num ? -Infinity : "";
          var v = td.hasAttribute("data-v") ? td.getAttribute("data-v") : td.textContent;
          return num ? Number(v) : v;
        };
        var body = t.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var keyed = rows.map(function (r) { return [key(r), r]; });
        keyed.sort(function (a, b) { return (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0) * dir; });
        // reorder while the body is out of the document: one style and layout pass, not one per row
        var next = body.nextSibling;
        t.removeChild(body);
        keyed.forEach(function (k) { body.appendChild(k[1]); });
        t.insertBefore(body, next);
        Array.prototype.forEach.call(ths, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);
  Array.prototype.forEach.call(document.querySelectorAll("button[data-show-all]"), function (b) {
    b.addEventListener("click", function () {
      document.getElementById(b.getAttribute("data-show-all")).classList.remove("limited");
      b.parentNode.style.display = "none";
    });
  });
  document.documentElement.setAttribute("data-rendered", "1");
})();
`;

/**
 * The whole report: one HTML document with uPlot and the data inlined. `collected` comes from a
 * ReportCollector fed with every TLP's result during the run.
 */
export function renderHtmlReport(summary: RunSummary, collected: CollectedReport, report: ArchReport = reportOf(summary)): string {
  const u = uplot();
  const charts = chartData(summary, collected, report);
  const w = report.words;
  const timed = summary.timing !== undefined;
  const title = `iommu-emu report: ${summary.scenario}`;
  const meta = [
    `scenario ${summary.scenario}`,
    summary.trace ? `trace ${summary.trace}` : "",
    `${summary.core} core`,
    summary.timing ? `timing preset ${summary.timing.preset}, ${summary.timing.clockMHz} MHz` : "functional run (no timing)",
    `${fmt(summary.tlps)} TLPs`,
  ].filter(Boolean);
  const driver = driverSections(summary, report);
  const sections = [
    summarySection(summary, collected, report),
    timingSection(summary, charts, report.latencyClasses),
    cacheSection(summary, charts, report),
    groupSection("devices", `Translations and ${w.fault}s per device`, collected, timed, charts.devices, "devices", w),
    groupSection("pasids", `Translations and ${w.fault}s per ${w.pasid}`, collected, timed, charts.pasids, "pasids", w),
    auditSection(collected, report),
    faultSection(summary, collected, w),
    // the driver side's (html-driver.ts), each only when the run has something for it
    ...driver.map((x) => `<section id="${x.id}"><h2>${escapeHtml(x.title)}</h2>${x.html}</section>`),
    report.detailsHtml(summary, collected),
  ];
  const nav = [
    ["summary", "Summary"],
    ["latency", "Latency"],
    ["caches", "Caches"],
    ["devices", "Devices"],
    ["pasids", `${w.pasid}s`],
    ["nosnoop", "No-Snoop audit"],
    ["faults", `${cap(w.fault)}s`],
    ...driver.map((x) => [x.id, x.title]),
    ["details", "Details"],
  ]
    .map(([id, label]) => `<a href="#${id}">${label}</a>`)
    .join("");
  // The summary holds numbers and strings only (as --report writes it).
  const data = { version: 2, summary, charts };
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="iommu-emu">
<title>${escapeHtml(title)}</title>
<style>${inlineStyle(u.css)}</style>
<style>${css}</style>
<noscript><style>table.limited tbody tr{display:table-row!important}</style></noscript>
</head>
<body>
<h1>iommu-emu run report</h1>
<p class="meta">${escapeHtml(meta.join(" | "))}</p>
<nav>${nav}</nav>
${sections.join("\n")}
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>/*
${u.license}
*/
${inlineScript(u.js)}</script>
<script>${inlineScript(clientScript)}</script>
</body>
</html>
`;
}
