/** The run summary: collected from the core's counters, printed by `run`, written by --report. */
import type { Platform } from "../platform.ts";
import type { ArchName, CacheName } from "../core/abi.ts";
import type { PolicyName } from "../config/caches.ts";
import type { DriverStats, InvalidationMode } from "../driver/driver.ts";
import type { ArchReport, CacheSummary, RunSummaryBase, SummaryInfo } from "./arch/types.ts";
import { archReports } from "./arch/index.ts";
import type { VtdSections } from "./arch/vtd.ts";
export { pcmIioEvents, type PcmIioEvent } from "./arch/vtd.ts";
import type { SmmuSections } from "./arch/smmuv3.ts";
import { timingSummary, formatTiming, type TimingSummary } from "./timing.ts";
import { textTable, type TextRow } from "./text-table.ts";
import { formatWbinvd } from "../iommu/wbinvd.ts";

export type VtdRunSummary = RunSummaryBase & VtdSections & { version: 2; arch?: undefined };
export type SmmuRunSummary = Omit<RunSummaryBase, "caches"> & SmmuSections & { version: 3; arch: "smmuv3" };
/** The run summary: `arch` tells which (absent: VT-d). */
export type RunSummary = VtdRunSummary | SmmuRunSummary;

/** The report part of the architecture of a summary. */
export function reportOf(s: Pick<RunSummaryBase, "arch">): ArchReport {
  return archReports[s.arch ?? "vtd"];
}

export type { CacheSummary, RunSummaryBase, SummaryInfo } from "./arch/types.ts";


export function summarize(platform: Platform, info: SummaryInfo): RunSummary {
  const core = platform.core;
  const report: ArchReport = archReports[platform.module.name];
  const c = core.counters();
  const n = (v: bigint) => Number(v);
  const tlps = info.tlps ?? n(c.requests);

  const stats = core.cacheStats();
  const caches: CacheSummary[] = [];
  for (const name of Object.keys(report.caches) as CacheName[]) {
    const cfg = platform.caches[name];
    if (!cfg.enable || cfg.entries === 0) continue;
    const x = stats[name];
    const lookups = n(x.lookups), hits = n(x.hits);
    caches.push({
      name,
      entries: cfg.entries,
      assoc: cfg.assoc,
      policy: cfg.policy,
      lookups,
      hits,
      misses: n(x.misses),
      hitRate: lookups ? hits / lookups : 0,
      fills: n(x.fills),
      evictions: n(x.evictions),
      invalidations: n(x.invalidations),
    });
  }

  const s = {
    version: report.version,
    ...(report.named ? { arch: platform.module.name } : {}),
    scenario: info.scenario,
    core: core.build,
    tlps,
    requests: n(c.requests),
    translated: n(c.translated),
    faulted: n(c.faulted),
    faultsRecorded: n(c.faultsRecorded),
    ...(report.interrupts || n(c.interrupts) ? { interrupts: n(c.interrupts) } : {}),
    blocked: n(c.blocked),
    ...(n(c.p2p) ? { p2p: n(c.p2p) } : {}),
    atsRequests: n(c.atsRequests),
    faults: [...core.faultCounts()].map(([code, count]) => {
      const f = platform.module.faults.get(code);
      return { code, name: f?.id ?? `0x${code.toString(16)}`, text: f?.text ?? "", count: n(count) };
    }),
    ...report.sections(core, { caches, tlps, driver: info.driver }),
    host: { seconds: info.hostSeconds, tlpsPerSecond: info.hostSeconds > 0 ? tlps / info.hostSeconds : 0 },
  } as RunSummary;
  if (info.trace) s.trace = info.trace;
  const timing = timingSummary(core.timingStats(), platform.timing, platform.preset);
  const window = info.invalidationWindow && info.invalidationWindow.unmaps > 0 ? info.invalidationWindow : undefined;
  if (timing || window) {
    // Keep `host` last, as in a functional run without unmaps.
    const { host, ...rest } = s;
    return { ...rest, ...(timing ? { timing } : {}), ...(window ? { invalidationWindow: window } : {}), host } as RunSummary;
  }
  return s;
}

const cap = (w: string) => w[0]!.toUpperCase() + w.slice(1);
const pct = (part: number, whole: number) => (whole ? `(${((100 * part) / whole).toFixed(1)}%)` : "");

/**
 * The printed summary: one label / value / note table (text-table.ts) through every section but
 * Timing, so that labels and values line up from the widest of each; the Timing section and the
 * caches, faults and latency tables are laid out on their own, from their own widest cells.
 */
export function formatSummary(s: RunSummary, report: ArchReport = reportOf(s)): string {
  const out: TextRow[] = [];
  const caches: TextRow[] = [];
  const note = (...parts: string[]) => parts.filter(Boolean).join(", ");
  out.push(`iommu-emu run: ${s.scenario}${s.trace ? ` with ${s.trace}` : ""} (${s.core} core)`);
  out.push(["TLPs", s.tlps]);
  out.push(["translated", s.translated, pct(s.translated, s.tlps)]);
  out.push(["faulted", s.faulted, note(pct(s.faulted, s.tlps), s.faulted ? `${s.faultsRecorded} recorded` : "")]);
  if (s.interrupts) out.push(["interrupt requests", s.interrupts]);
  if (s.blocked) out.push([report.words.blocked, s.blocked]);
  if (s.p2p) out.push(["peer-to-peer", s.p2p, "(a p2p window: routed by the root complex, not translated)"]);
  if (s.atsRequests) out.push(["ATS translation requests", s.atsRequests, s.requests !== s.tlps ? `(${s.requests - s.tlps} sent by devices on device-TLB misses)` : ""]);
  out.push(...report.textHead(s));
  if (s.faults.length) {
    out.push(`${cap(report.words.fault)}s by ${report.words.reason}`);
    out.push(...textTable(s.faults.map((f) => [`0x${f.code.toString(16).padStart(2, "0")}`, f.name, f.count, f.text]), { indent: 2 }));
  }
  if (s.caches.length) {
    const head = ["Caches", "lookups", "hits", "misses", "hit rate", "fills", "evictions", "invalidated"];
    const name = (c: CacheSummary) => (report.cacheRowsByTitle ? (report.caches[c.name] ?? c.name) : c.name);
    const rows = s.caches.map((c) => [`  ${name(c)}`, c.lookups, c.hits, c.misses, c.lookups ? `${(100 * c.hitRate).toFixed(1)}%` : "-", c.fills, c.evictions, c.invalidations]);
    caches.push(...textTable([head, ...rows], { header: true }));
  }
  out.push(...report.text(s, caches));
  const w = s.invalidationWindow;
  if (w) {
    const longest = w.devices.reduce((m, d) => Math.max(m, d.longestWindowCycles), 0);
    out.push("Deferred-invalidation window");
    out.push([
      "TLPs after their unmap",
      w.staleTlps,
      note(w.staleTlps ? `longest window ${longest} cycles` : "", w.unattributed ? `${w.unattributed} more stale, after no unmap` : ""),
    ]);
    for (const d of w.devices) out.push([`  ${d.device}`, d.staleTlps, `longest window ${d.longestWindowCycles} cycles`]);
  }
  const lines = textTable(out, { indent: 2 });
  // The Timing section is a table of its own: a functional run prints the same lines without it.
  if (s.timing) lines.push(...formatTiming(s.timing, report.latencyClasses));
  if (s.wbinvd) lines.push(...formatWbinvd(s.wbinvd));
  lines.push(`Host: replay ${s.host.seconds.toFixed(3)} s, ${(s.host.tlpsPerSecond / 1e6).toFixed(2)} M TLPs/s (trace reading and parsing included)`);
  return lines.join("\n");
}
