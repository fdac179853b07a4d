/** The run summary: collected from the core's counters, printed by `run`, written by --report. */
import type { Platform } from "../platform.ts";
import { cacheNames, type CacheName } from "../core/abi.ts";
import type { PolicyName } from "../config/caches.ts";
import type { DriverStats, InvalidationMode } from "../driver/driver.ts";
import { timingSummary, formatTiming, type TimingSummary } from "./timing.ts";
import { textTable, type TextRow } from "./text-table.ts";

/** One enabled cache's counters (the deviceTlb row sums every device's device-TLB). */
export interface CacheSummary {
  name: CacheName;
  entries: number;
  assoc: number;
  policy: PolicyName;
  lookups: number;
  hits: number;
  misses: number;
  /** hits / lookups (0 without lookups). */
  hitRate: number;
  fills: number;
  evictions: number;
  /** Entries removed by invalidations. */
  invalidations: number;
}

/**
 * The VT-d performance-monitoring events of Intel's pcm-iio (shared/notes/performance.md R4), by
 * their exact names, so that a replay can be compared with a measurement:
 * - `IOTLB Lookup` = iotlb.lookups, `IOTLB Miss` = iotlb.misses, `Ctxt Cache Hit` = contextCache.hits;
 * - `256T Cache Hit`, `512G Cache Hit`, `1G Cache Hit`, `2M Cache Hit` = hits of the paging-structure
 *   caches of PML5E, PML4E, PDPE and PDE entries, first and second stage summed;
 * - `IOMMU Mem Access` = every memory access the IOMMU made: table reads (root, context,
 *   PASID-directory, PASID-table entries and paging entries of both stages, ATS translations
 *   included) + A/D flag writes + invalidation-wait status writes + invalidation descriptor fetches
 *   (descriptors the hardware took from the queue: the core's invDescriptors less the
 *   register-based invalidations, which it counts there too but which read no memory).
 */
export const pcmIioEvents = ["IOTLB Lookup", "IOTLB Miss", "Ctxt Cache Hit", "256T Cache Hit", "512G Cache Hit", "1G Cache Hit", "2M Cache Hit", "IOMMU Mem Access"] as const;
export type PcmIioEvent = (typeof pcmIioEvents)[number];

export interface RunSummary {
  /** 2: latency histograms log-linear, no `overflow` (README "Run summary"). */
  version: 2;
  scenario: string;
  trace?: string;
  core: string;
  /** TLPs in the trace. */
  tlps: number;
  /** Requests the IOMMU translated: the TLPs plus the ATS requests devices sent on device-TLB misses. */
  requests: number;
  translated: number;
  faulted: number;
  faultsRecorded: number;
  interrupts: number;
  blocked: number;
  atsRequests: number;
  faults: { code: number; name: string; text: string; count: number }[];
  snoop: {
    snooped: number;
    nonSnooped: number;
    noSnoopTlps: number;
    noSnoopForced: number;
    noSnoopForcedByPgsnp: number;
    noSnoopForcedByPte: number;
  };
  walkReads: {
    root: number;
    context: number;
    pasidDir: number;
    pasidTable: number;
    /** Paging-entry reads by spec level, index 0 = level 1 (4 KiB table). */
    firstStage: number[];
    secondStage: number[];
    total: number;
  };
  adWrites: number;
  /** Enabled caches only. */
  caches: CacheSummary[];
  pcmIio: Record<PcmIioEvent, number>;
  invalidation: {
    /** Queued descriptors the hardware processed (waits included). */
    descriptors: number;
    /** Register-based invalidations (CCMD, IOTLB_REG). */
    registerInvalidations: number;
    waitWrites: number;
    /** Descriptors that stopped the queue with FSTS.IQE. */
    queueErrors: number;
    driver: {
      mode: InvalidationMode;
      maps: number;
      unmaps: number;
      invs: number;
      flushes: number;
      flushReasons: DriverStats["flushReasons"];
      deferredUnmaps: number;
      /** Driver events refused as results (present only when the run asked for refusals as results). */
      refused?: number;
    };
  };
  stale: {
    /** Requests translated by an IOTLB entry whose leaf software had already changed (not invalidated yet). */
    staleIotlbUses: number;
    /** Translated requests that used a device-TLB entry the IOMMU had invalidated but the device had not. */
    staleAtcUses: number;
    /** Translated requests whose device-TLB had no translation (the device sent an ATS request first). */
    atcMisses: number;
  };
  /** The timing model's results (README "Run summary"); absent in a functional run. */
  timing?: TimingSummary;
  host: { seconds: number; tlpsPerSecond: number };
}

export interface SummaryInfo {
  scenario: string;
  trace?: string;
  hostSeconds: number;
  /** TLPs in the trace (default: the core's request count). */
  tlps?: number;
  /** `refused`: the driver events refused as results, when the run asked for them. */
  driver?: { mode: InvalidationMode; stats: DriverStats; refused?: number };
}

export function summarize(platform: Platform, info: SummaryInfo): RunSummary {
  const core = platform.core;
  const c = core.counters();
  const n = (v: bigint) => Number(v);
  const w = core.walkReads();
  const fs = w.fs.map(n), ss = w.ss.map(n);
  const structures = n(c.rootReads) + n(c.contextReads) + n(c.pasidDirReads) + n(c.pasidTableReads);
  const walkTotal = structures + fs.reduce((a, b) => a + b, 0) + ss.reduce((a, b) => a + b, 0);
  const tlps = info.tlps ?? n(c.requests);

  const stats = core.cacheStats();
  const caches: CacheSummary[] = [];
  for (const name of cacheNames) {
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
  const hitsOf = (...names: CacheName[]) => names.reduce((a, name) => a + n(stats[name].hits), 0);
  const driver = info.driver?.stats;
  const registerInvalidations = driver?.registerInvalidations ?? 0;
  const descriptors = Math.max(0, n(c.invDescriptors) - registerInvalidations);
  const pcmIio: Record<PcmIioEvent, number> = {
    "IOTLB Lookup": n(stats.iotlb.lookups),
    "IOTLB Miss": n(stats.iotlb.misses),
    "Ctxt Cache Hit": n(stats.contextCache.hits),
    "256T Cache Hit": hitsOf("pwcFsPml5e", "pwcSsPml5e"),
    "512G Cache Hit": hitsOf("pwcFsPml4e", "pwcSsPml4e"),
    "1G Cache Hit": hitsOf("pwcFsPdpe", "pwcSsPdpe"),
    "2M Cache Hit": hitsOf("pwcFsPde", "pwcSsPde"),
    "IOMMU Mem Access": walkTotal + n(c.adWrites) + n(c.invWaitWrites) + descriptors,
  };

  const s: RunSummary = {
    version: 2,
    scenario: info.scenario,
    core: core.build,
    tlps,
    requests: n(c.requests),
    translated: n(c.translated),
    faulted: n(c.faulted),
    faultsRecorded: n(c.faultsRecorded),
    interrupts: n(c.interrupts),
    blocked: n(c.blocked),
    atsRequests: n(c.atsRequests),
    faults: [...core.faultCounts()].map(([code, count]) => {
      const f = platform.module.faults.get(code);
      return { code, name: f?.id ?? `0x${code.toString(16)}`, text: f?.text ?? "", count: n(count) };
    }),
    snoop: {
      snooped: n(c.snooped),
      nonSnooped: n(c.nonSnooped),
      noSnoopTlps: n(c.noSnoopTlps),
      noSnoopForced: n(c.noSnoopForced),
      noSnoopForcedByPgsnp: n(c.noSnoopForcedPgsnp),
      noSnoopForcedByPte: n(c.noSnoopForcedPte),
    },
    walkReads: {
      root: n(c.rootReads),
      context: n(c.contextReads),
      pasidDir: n(c.pasidDirReads),
      pasidTable: n(c.pasidTableReads),
      firstStage: fs,
      secondStage: ss,
      total: walkTotal,
    },
    adWrites: n(c.adWrites),
    caches,
    pcmIio,
    invalidation: {
      descriptors,
      registerInvalidations,
      waitWrites: n(c.invWaitWrites),
      queueErrors: n(c.invQueueErrors),
      driver: {
        mode: info.driver?.mode ?? "strict",
        maps: driver?.maps ?? 0,
        unmaps: driver?.unmaps ?? 0,
        invs: driver?.invs ?? 0,
        flushes: driver?.flushes ?? 0,
        flushReasons: { batch: 0, timeout: 0, explicit: 0, end: 0, ...driver?.flushReasons },
        deferredUnmaps: driver?.deferredUnmaps ?? 0,
        ...(info.driver?.refused !== undefined ? { refused: info.driver.refused } : {}),
      },
    },
    stale: { staleIotlbUses: n(c.staleIotlbUses), staleAtcUses: n(c.staleAtcUses), atcMisses: n(c.atcMisses) },
    host: { seconds: info.hostSeconds, tlpsPerSecond: info.hostSeconds > 0 ? tlps / info.hostSeconds : 0 },
  };
  if (info.trace) s.trace = info.trace;
  const timing = timingSummary(core.timingStats(), platform.timing, platform.preset);
  if (timing) {
    // Keep `host` last, as in a functional run.
    const { host, ...rest } = s;
    return { ...rest, timing, host };
  }
  return s;
}

const pct = (part: number, whole: number) => (whole ? `(${((100 * part) / whole).toFixed(1)}%)` : "");

/**
 * The printed summary: one label / value / note table (text-table.ts) through every section but
 * Timing, so that labels and values line up from the widest of each; the Timing section and the
 * caches, faults and latency tables are laid out on their own, from their own widest cells.
 */
export function formatSummary(s: RunSummary): string {
  const out: TextRow[] = [];
  const note = (...parts: string[]) => parts.filter(Boolean).join(", ");
  out.push(`iommu-emu run: ${s.scenario}${s.trace ? ` with ${s.trace}` : ""} (${s.core} core)`);
  out.push(["TLPs", s.tlps]);
  out.push(["translated", s.translated, pct(s.translated, s.tlps)]);
  out.push(["faulted", s.faulted, note(pct(s.faulted, s.tlps), s.faulted ? `${s.faultsRecorded} recorded` : "")]);
  if (s.interrupts) out.push(["interrupt requests", s.interrupts]);
  if (s.blocked) out.push(["blocked", s.blocked]);
  if (s.atsRequests) out.push(["ATS translation requests", s.atsRequests, s.requests !== s.tlps ? `(${s.requests - s.tlps} sent by devices on device-TLB misses)` : ""]);
  if (s.faults.length) {
    out.push("Faults by reason");
    out.push(...textTable(s.faults.map((f) => [`0x${f.code.toString(16).padStart(2, "0")}`, f.name, f.count, f.text]), { indent: 2 }));
  }
  const sn = s.snoop;
  out.push("Snoop");
  out.push(["snooped accesses", sn.snooped]);
  out.push(["non-snooped accesses", sn.nonSnooped]);
  out.push(["No-Snoop TLPs translated", sn.noSnoopTlps]);
  out.push(["  forced to snoop", sn.noSnoopForced, `(PGSNP ${sn.noSnoopForcedByPgsnp}, SS-leaf SNP ${sn.noSnoopForcedByPte})`]);
  out.push(["  left non-snooped", sn.noSnoopTlps - sn.noSnoopForced]);
  const r = s.walkReads;
  out.push("Table reads");
  out.push(["root / context", `${r.root} / ${r.context}`]);
  if (r.pasidDir || r.pasidTable) out.push(["PASID dir / table", `${r.pasidDir} / ${r.pasidTable}`]);
  const levels = (a: number[]) => a.map((v, i) => (v ? `L${i + 1} ${v}` : "")).filter(Boolean).reverse().join("  ");
  if (r.firstStage.some(Boolean)) out.push(["first stage", r.firstStage.reduce((a, b) => a + b, 0), levels(r.firstStage)]);
  if (r.secondStage.some(Boolean)) out.push(["second stage", r.secondStage.reduce((a, b) => a + b, 0), levels(r.secondStage)]);
  out.push(["total", r.total, s.tlps ? `(${(r.total / s.tlps).toFixed(2)} per TLP)` : ""]);
  if (s.adWrites) out.push(["A/D flag writes", s.adWrites]);
  if (s.caches.length) {
    const head = ["Caches", "lookups", "hits", "misses", "hit rate", "fills", "evictions", "invalidated"];
    const rows = s.caches.map((c) => [`  ${c.name}`, c.lookups, c.hits, c.misses, c.lookups ? `${(100 * c.hitRate).toFixed(1)}%` : "-", c.fills, c.evictions, c.invalidations]);
    out.push(...textTable([head, ...rows], { header: true }));
  }
  out.push("VT-d PMU events (pcm-iio names)");
  for (const e of pcmIioEvents) out.push([e, s.pcmIio[e]]);
  const inv = s.invalidation, d = inv.driver;
  out.push(`Invalidation (${d.mode} mode)`);
  out.push(["queued descriptors", inv.descriptors]);
  if (inv.registerInvalidations) out.push(["register-based", inv.registerInvalidations]);
  out.push(["wait status writes", inv.waitWrites]);
  out.push(["queue errors", inv.queueErrors]);
  out.push(["driver maps / unmaps", `${d.maps} / ${d.unmaps}`]);
  if (d.invs) out.push(["inv events", d.invs]);
  if (d.refused !== undefined) out.push(["refused driver events", d.refused]);
  if (d.mode === "lazy" || d.flushes) {
    const why = Object.entries(d.flushReasons).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(", ");
    out.push(["flushes", d.flushes, why ? `(${why})` : ""]);
    out.push(["deferred unmaps", d.deferredUnmaps]);
  }
  const st = s.stale;
  out.push("Stale translations");
  out.push(["stale IOTLB uses", st.staleIotlbUses]);
  out.push(["stale device-TLB uses", st.staleAtcUses]);
  out.push(["device-TLB misses", st.atcMisses]);
  const lines = textTable(out, { indent: 2 });
  // The Timing section is a table of its own: a functional run prints the same lines without it.
  if (s.timing) lines.push(...formatTiming(s.timing));
  lines.push(`Host: replay ${s.host.seconds.toFixed(3)} s, ${(s.host.tlpsPerSecond / 1e6).toFixed(2)} M TLPs/s (trace reading and parsing included)`);
  return lines.join("\n");
}
