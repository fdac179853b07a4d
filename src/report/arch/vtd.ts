/**
 * VT-d's part of the reports (ArchReport, src/arch/types.ts): the snoop figures with PGSNP and the
 * second-stage leaf's SNP, root/context/PASID-structure reads and paging-entry reads by level, the
 * pcm-iio PMU events, the invalidation queue and the stale translations.
 */
import type { ArchReport, ArchSummaryContext, CacheSummary, SummaryInfo } from "./types.ts";
import { vtdAuditStage } from "./vtd-stage.ts";
import type { Core } from "../../core/core.ts";
import type { CacheName } from "../../core/abi.ts";
import type { DomainModes, DriverStats, InvalidationMode } from "../../driver/driver.ts";
import type { AuditEntry } from "../collector.ts";
import { fmt, hex, hexKey, bytes, few, figures, table, type Cell, type CellLike, type Column } from "../html-parts.ts";

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

/** VT-d's sections of the run summary (README "Run summary"), in their JSON order. */
export interface VtdSections {
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
      /** The domains whose policy is not `mode`, under theirs (`{ "lazy": [2, 5] }`); absent when none. */
      domainModes?: DomainModes;
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
}

const n = (v: bigint) => Number(v);

/** Reads by level ("L4 3  L3 3"), the levels that had some, `sep` between them; `reverse`: last index first. */
export const levelText = (a: number[], name: (i: number) => string, sep: string, f: (v: number) => string = String, reverse = true) => {
  const parts = a.map((v, i) => (v ? `${name(i)} ${f(v)}` : "")).filter(Boolean);
  return (reverse ? parts.reverse() : parts).join(sep);
};
const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

/** The driver's figures every architecture's summary gives (maps, unmaps, flushes). */
export function driverFigures(driver: SummaryInfo["driver"]) {
  const d = driver?.stats;
  const modes = driver?.domainModes;
  return {
    mode: driver?.mode ?? "strict",
    ...(modes && Object.keys(modes).length ? { domainModes: modes } : {}),
    maps: d?.maps ?? 0,
    unmaps: d?.unmaps ?? 0,
    invs: d?.invs ?? 0,
    flushes: d?.flushes ?? 0,
    flushReasons: { batch: 0, timeout: 0, explicit: 0, end: 0, ...d?.flushReasons },
    deferredUnmaps: d?.deferredUnmaps ?? 0,
    ...(driver?.refused !== undefined ? { refused: driver.refused } : {}),
  };
}

/**
 * The invalidation policy as the summary heads it: the platform's mode, then the domains whose
 * policy differs ("strict mode; lazy: domains 2, 5").
 */
export function modeText(d: { mode: InvalidationMode; domainModes?: DomainModes }): string {
  const others = Object.entries(d.domainModes ?? {}).filter(([, ids]) => ids.length);
  return [`${d.mode} mode`, ...others.map(([m, ids]) => `${m}: domain${ids.length > 1 ? "s" : ""} ${ids.join(", ")}`)].join("; ");
}

/** Lazy flushes can happen: the platform's policy is lazy, or some domain's is. */
export const anyLazy = (d: { mode: InvalidationMode; domainModes?: DomainModes }) => d.mode === "lazy" || (d.domainModes?.lazy?.length ?? 0) > 0;

/** "batch 2, end 1": the flushes by reason that happened. */
export const flushWhy = (r: DriverStats["flushReasons"]) => Object.entries(r).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(", ");

function sections(core: Core, ctx: ArchSummaryContext): VtdSections {
  const c = core.counters();
  const w = core.walkReads();
  const fs = w.fs.map(n), ss = w.ss.map(n);
  const structures = n(c.rootReads) + n(c.contextReads) + n(c.pasidDirReads) + n(c.pasidTableReads);
  const walkTotal = structures + sum(fs) + sum(ss);
  const stats = core.cacheStats();
  const hitsOf = (...names: CacheName[]) => names.reduce((a, name) => a + n(stats[name].hits), 0);
  const registerInvalidations = ctx.driver?.stats.registerInvalidations ?? 0;
  const descriptors = Math.max(0, n(c.invDescriptors) - registerInvalidations);
  return {
    snoop: {
      snooped: n(c.snooped),
      nonSnooped: n(c.nonSnooped),
      noSnoopTlps: n(c.noSnoopTlps),
      noSnoopForced: n(c.noSnoopForced),
      noSnoopForcedByPgsnp: n(c.noSnoopForcedPgsnp),
      noSnoopForcedByPte: n(c.noSnoopForcedPte),
    },
    walkReads: { root: n(c.rootReads), context: n(c.contextReads), pasidDir: n(c.pasidDirReads), pasidTable: n(c.pasidTableReads), firstStage: fs, secondStage: ss, total: walkTotal },
    adWrites: n(c.adWrites),
    caches: ctx.caches,
    pcmIio: {
      "IOTLB Lookup": n(stats.iotlb.lookups),
      "IOTLB Miss": n(stats.iotlb.misses),
      "Ctxt Cache Hit": n(stats.contextCache.hits),
      "256T Cache Hit": hitsOf("pwcFsPml5e", "pwcSsPml5e"),
      "512G Cache Hit": hitsOf("pwcFsPml4e", "pwcSsPml4e"),
      "1G Cache Hit": hitsOf("pwcFsPdpe", "pwcSsPdpe"),
      "2M Cache Hit": hitsOf("pwcFsPde", "pwcSsPde"),
      "IOMMU Mem Access": walkTotal + n(c.adWrites) + n(c.invWaitWrites) + descriptors,
    },
    invalidation: { descriptors, registerInvalidations, waitWrites: n(c.invWaitWrites), queueErrors: n(c.invQueueErrors), driver: driverFigures(ctx.driver) },
    stale: { staleIotlbUses: n(c.staleIotlbUses), staleAtcUses: n(c.staleAtcUses), atcMisses: n(c.atcMisses) },
  };
}

/** Scalable-mode PGTT values (core Result.kind); legacy mode is 0x10 | TT. */

/** An audit count: ">=" when the entry's counts may be lower bounds. */
export const lb = (e: AuditEntry, v: number): Cell => ({ text: (e.exact ? "" : ">=") + fmt(v), sort: v });

export const vtdReport: ArchReport<VtdSections> = {
  version: 2,
  named: false,
  interrupts: true,
  caches: {
    iotlb: "IOTLB",
    contextCache: "context cache",
    pasidCache: "PASID cache",
    pwcFsPde: "FS PDE cache",
    pwcFsPdpe: "FS PDPE cache",
    pwcFsPml4e: "FS PML4E cache",
    pwcFsPml5e: "FS PML5E cache",
    pwcSsPde: "SS PDE cache",
    pwcSsPdpe: "SS PDPE cache",
    pwcSsPml4e: "SS PML4E cache",
    pwcSsPml5e: "SS PML5E cache",
    deviceTlb: "device-TLBs",
  },
  cacheRowsByTitle: false,
  // What served the translation (assembly/timing/model.ts): the IOTLB; a walk resumed below the
  // deepest paging-structure-cache hit (first stage for first-stage and nested walks); a full walk;
  // a fault; other: interrupt requests, blocked requests, pass-through, translated requests.
  latencyClasses: {
    iotlbHit: "IOTLB hit",
    pdeHit: "PDE-cache hit",
    pdpeHit: "PDPE-cache hit",
    pml4eHit: "PML4E-cache hit",
    pml5eHit: "PML5E-cache hit",
    fullWalk: "full walk",
    fault: "fault",
    other: "other",
  },
  walkCacheLevels: [
    { label: "PDE (2M)", fs: "pwcFsPde", ss: "pwcSsPde" },
    { label: "PDPE (1G)", fs: "pwcFsPdpe", ss: "pwcSsPdpe" },
    { label: "PML4E (512G)", fs: "pwcFsPml4e", ss: "pwcSsPml4e" },
    { label: "PML5E (256T)", fs: "pwcFsPml5e", ss: "pwcSsPml5e" },
  ],
  words: { blocked: "blocked", fault: "fault", reason: "reason", pasid: "PASID", noPasid: "the device's RID_PASID translates them", unrecorded: "FPD" },
  driverOf: (s) => s.invalidation.driver,
  summaryFigures: (s) =>
    s.stale.staleIotlbUses || s.stale.staleAtcUses ? [["stale translations used", fmt(s.stale.staleIotlbUses + s.stale.staleAtcUses), `IOTLB ${fmt(s.stale.staleIotlbUses)}, device-TLB ${fmt(s.stale.staleAtcUses)}`]] : [],
  textHead: () => [],
  sections,
  text(s, caches) {
    const out: ReturnType<ArchReport["text"]> = [];
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
    const levels = (a: number[]) => levelText(a, (i) => `L${i + 1}`, "  ");
    if (r.firstStage.some(Boolean)) out.push(["first stage", sum(r.firstStage), levels(r.firstStage)]);
    if (r.secondStage.some(Boolean)) out.push(["second stage", sum(r.secondStage), levels(r.secondStage)]);
    out.push(["total", r.total, s.tlps ? `(${(r.total / s.tlps).toFixed(2)} per TLP)` : ""]);
    if (s.adWrites) out.push(["A/D flag writes", s.adWrites]);
    out.push(...caches);
    out.push("VT-d PMU events (pcm-iio names)");
    for (const e of pcmIioEvents) out.push([e, s.pcmIio[e]]);
    const inv = s.invalidation, d = inv.driver;
    out.push(`Invalidation (${modeText(d)})`);
    out.push(["queued descriptors", inv.descriptors]);
    if (inv.registerInvalidations) out.push(["register-based", inv.registerInvalidations]);
    out.push(["wait status writes", inv.waitWrites]);
    out.push(["queue errors", inv.queueErrors]);
    out.push(["driver maps / unmaps", `${d.maps} / ${d.unmaps}`]);
    if (d.invs) out.push(["inv events", d.invs]);
    if (d.refused !== undefined) out.push(["refused driver events", d.refused]);
    if (anyLazy(d) || d.flushes) {
      const why = flushWhy(d.flushReasons);
      out.push(["flushes", d.flushes, why ? `(${why})` : ""]);
      out.push(["deferred unmaps", d.deferredUnmaps]);
    }
    const st = s.stale;
    out.push("Stale translations");
    out.push(["stale IOTLB uses", st.staleIotlbUses]);
    out.push(["stale device-TLB uses", st.staleAtcUses]);
    out.push(["device-TLB misses", st.atcMisses]);
    return out;
  },
  auditStage: vtdAuditStage,
  auditColumns: [
    { label: "leaf entry", title: "physical address of the leaf entry (first-stage leaf under nesting)" },
    { label: "stage" },
    { label: "IOVA range", title: "page base .. page base + page size, from the TLPs seen" },
    { label: "output PA", title: "the host physical page the TLPs went to: page base .. page base + page size" },
    { label: "page", num: true },
    { label: "DID", num: true, title: "domain ID of the translations (context or PASID entry)" },
    { label: "PASID", title: "PASID entry used (RID_PASID for requests without a PASID); n/a in legacy mode" },
    { label: "SNP", title: "SS leaf SNP (bit 11) as read; n/a: not a second-stage leaf" },
    { label: "PGSNP", title: "PGSNP in effect (1: it forced snooping); n/a in legacy mode" },
    { label: "NS TLPs", num: true },
    { label: "forced", num: true, title: "No-Snoop TLPs forced to snoop" },
    { label: "by PGSNP", num: true },
    { label: "by SNP", num: true },
    { label: "let through", num: true, title: "No-Snoop TLPs left non-snooped (snoop false)" },
    { label: "devices" },
    { label: "SS leaf", title: "nested: the second-stage leaf of the final address" },
  ],
  auditCells(e) {
    return [
      ...auditRange(e),
      ...auditIds(e, "c-did", "c-pasid"),
      e.snp,
      e.pgsnp,
      { ...lb(e, e.nsTlps), cls: "c-ns" },
      { ...lb(e, e.forced), cls: "c-forced" },
      { ...lb(e, e.forcedByPgsnp), cls: "c-pgsnp" },
      { ...lb(e, e.forcedBySnp), cls: "c-snp" },
      { ...lb(e, e.through), cls: "c-through" },
      ...auditTail(e),
    ];
  },
  detailsHtml(s) {
    const pmu = table("pmu-table", [{ label: "event" }, { label: "count", num: true }], pcmIioEvents.map((e) => ({ cells: [e, s.pcmIio[e]] })), { sortable: false });
    const r = s.walkReads;
    const lv = (a: number[]) => levelText(a, (i) => `L${i + 1}`, ", ", fmt);
    const reads: [string, string, string?][] = [
      ["root / context", `${fmt(r.root)} / ${fmt(r.context)}`],
      ["PASID dir / table", `${fmt(r.pasidDir)} / ${fmt(r.pasidTable)}`],
      ["first stage", fmt(sum(r.firstStage)), lv(r.firstStage) || undefined],
      ["second stage", fmt(sum(r.secondStage)), lv(r.secondStage) || undefined],
      ["total", fmt(r.total)],
      ["A/D flag writes", fmt(s.adWrites)],
    ];
    const inv = s.invalidation, d = inv.driver;
    const why = flushWhy(d.flushReasons);
    const invs: [string, string, string?][] = [
      ["mode", modeText(d).replace(/ mode/, "")],
      ["queued descriptors", fmt(inv.descriptors)],
      ["register-based", fmt(inv.registerInvalidations)],
      ["wait status writes", fmt(inv.waitWrites)],
      ["queue errors", fmt(inv.queueErrors)],
      ["driver maps / unmaps / inv", `${fmt(d.maps)} / ${fmt(d.unmaps)} / ${fmt(d.invs)}`],
      ["flushes", fmt(d.flushes), why || undefined],
      ["deferred unmaps", fmt(d.deferredUnmaps)],
      ["stale IOTLB uses", fmt(s.stale.staleIotlbUses)],
      ["stale device-TLB uses", fmt(s.stale.staleAtcUses)],
      ["device-TLB misses", fmt(s.stale.atcMisses)],
    ];
    return `<section id="details"><h2>Table reads, PMU events, invalidation</h2>
<div class="cols"><div><h3>Table reads</h3>${figures(reads)}</div><div><h3>VT-d PMU events (pcm-iio names)</h3>${pmu}</div><div><h3>Invalidation and stale translations</h3>${figures(invs)}</div></div>
</section>`;
  },
};

/** The audit cells every architecture's table starts with: leaf, stage, IOVA and PA ranges, page size. */
export function auditRange(e: AuditEntry): CellLike[] {
  return [
    { text: hex(e.leafPa), sort: hexKey(e.leafPa), cls: "mono" },
    e.stage,
    { text: `${hex(e.iovaLo)} .. ${hex(e.iovaHi)}${e.movedPages ? " (several pages)" : ""}`, sort: hexKey(e.iovaLo), cls: "mono" },
    { text: `${hex(e.paLo)} .. ${hex(e.paHi)}`, sort: hexKey(e.paLo), cls: "mono c-pa" },
    { text: bytes(e.pageSize), sort: e.pageSize },
  ];
}

/** The audit cells of the domains (VT-d DIDs, SMMUv3 VMIDs) and PASIDs (SSIDs) seen, up to 4 each. */
export function auditIds(e: AuditEntry, domainCls: string, pasidCls: string): CellLike[] {
  return [
    { text: few(e.dids, e.moreDids), sort: e.dids[0] ?? -1, cls: domainCls },
    { text: e.pasids.length ? few(e.pasids, e.morePasids) : "n/a", sort: e.pasids[0] ?? -1, cls: pasidCls },
  ];
}

/** The audit cells every architecture's table ends with: the devices, the stage-2 leaf. */
export function auditTail(e: AuditEntry): CellLike[] {
  return [
    { text: e.devices.join(" ") + (e.moreDevices ? " ..." : ""), cls: "c-devices" },
    { text: e.s2LeafPa ? hex(e.s2LeafPa) : "", sort: e.s2LeafPa ? hexKey(e.s2LeafPa) : "", cls: "mono" },
  ];
}

