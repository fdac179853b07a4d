/**
 * SMMUv3's part of the reports (ArchReport, src/arch/types.ts): events by type (the shared faults
 * section, by the event catalogue), the architected PMU (PMCG) events by the names Linux's perf
 * driver gives them, the model's own SMMU counters, the event queue's state from EVENTQ_BASE/PROD/
 * CONS, who decided the coherency of No-Snoop TLPs (`canwbs` or the `tlp`), table reads as
 * configuration structures (STE, CD and their level-1 descriptors) and descriptors of each stage by
 * VMSAv8-64 level, and the caches titled by what they hold on an SMMU.
 */
import type { ArchReport, ArchSummaryContext, CacheSummary } from "./types.ts";
import type { Core } from "../../core/core.ts";
import type { DomainModes, InvalidationMode } from "../../driver/driver.ts";
import { getField } from "../../arch/fields.ts";
import { cr0Fields, eventqConsFields, eventqProdFields, idr1Fields, queueBaseFields } from "../../arch/smmuv3/fields.ts";
import { fmt, figures, table } from "../html-parts.ts";
import { anyLazy, auditIds, auditRange, auditTail, driverFigures, flushWhy, lb, levelText, modeText } from "./vtd.ts";

/** The architected SMMUv3 PMU events the model counts, as arm_smmuv3_pmu.c names them (core/abi.ts smmuCounters). */
export const pmcgEvents = ["transaction", "tlb_miss", "config_cache_miss", "trans_table_walk_access", "config_struct_access", "pcie_ats_trans_rq", "pcie_ats_trans_passed"] as const;
export type PmcgEvent = (typeof pmcgEvents)[number];
/** The model's own SMMU counters (core/abi.ts smmuCounters). */
export const smmuModelCounters = ["bypassed", "eventsRecorded", "eventsLost", "commands", "cmdSyncs", "cmdqErrors"] as const;
export type SmmuModelCounter = (typeof smmuModelCounters)[number];

/** SMMUv3's sections of the run summary (README "Run summary", version 3), in their JSON order. */
export interface SmmuSections {
  snoop: {
    snooped: number;
    nonSnooped: number;
    noSnoopTlps: number;
    /** No-Snoop TLPs made coherent: by CANWBS, the only thing that overrides No-Snoop on an SMMU. */
    noSnoopForced: number;
    /** Who decided the No-Snoop TLPs' outcome, by the result's `snoopBy` names. */
    noSnoopDecidedBy: { canwbs: number; tlp: number };
  };
  walkReads: {
    /** STE, CD and level-1 stream and CD table descriptor reads (PMCG config_struct_access). */
    configStructures: number;
    /** Descriptor reads by VMSAv8-64 lookup level, index 0 = level 0. */
    stage1: number[];
    stage2: number[];
    total: number;
  };
  /** Hardware access-flag and dirty-state updates written to descriptors (HA/HD). */
  hardwareUpdates: number;
  caches: (CacheSummary & { title: string })[];
  pmcg: Record<PmcgEvent, number>;
  counters: Record<SmmuModelCounter, number>;
  eventQueue: {
    /** CR0.EVENTQEN. */
    enabled: boolean;
    /** Records the queue holds: 2^log2Size (EVENTQ_BASE.LOG2SIZE, capped at IDR1.EVENTQS). */
    log2Size: number;
    prod: number;
    prodWrap: number;
    cons: number;
    consWrap: number;
    /** Records written and not yet consumed (PROD - CONS). */
    pending: number;
    /** An overflow not yet acknowledged: EVENTQ_PROD.OVFLG != EVENTQ_CONS.OVACKFLG. */
    overflow: boolean;
  };
  driver: {
    mode: InvalidationMode;
    /** The domains whose policy is not `mode`, under theirs; absent when none. */
    domainModes?: DomainModes;
    maps: number;
    unmaps: number;
    /** `cmd` events. */
    cmds: number;
    flushes: number;
    flushReasons: { batch: number; timeout: number; explicit: number; end: number };
    deferredUnmaps: number;
    refused?: number;
  };
  /** With a RID-to-StreamID map (config.smmu.rootComplexes): TLPs no ID mapping routed to the SMMU (status unrouted). */
  unrouted?: number;
}

const n = (v: bigint | undefined) => Number(v ?? 0n);
const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
/** The core counts descriptor reads by normalised level (index 0 = the page level, VMSAv8-64 level 3). */
const vmsaLevels = (byNormalised: bigint[]) => [3, 2, 1, 0].map((i) => n(byNormalised[i]));

/** The event queue's state from its registers (spec 6.3.29-6.3.31). */
function eventQueue(core: Core): SmmuSections["eventQueue"] {
  const base = core.getRegister("EVENTQ_BASE"), prod = core.getRegister("EVENTQ_PROD"), cons = core.getRegister("EVENTQ_CONS");
  const lg2 = Math.min(Number(getField(base, queueBaseFields.LOG2SIZE)), Number(getField(core.getRegister("IDR1"), idr1Fields.EVENTQS)));
  const size = 2 ** lg2;
  const at = (v: bigint) => Number(v & 0x7fffffffn) % (2 * size);
  return {
    enabled: getField(core.getRegister("CR0"), cr0Fields.EVENTQEN) === 1n,
    log2Size: lg2,
    prod: at(prod) % size,
    prodWrap: at(prod) >= size ? 1 : 0,
    cons: at(cons) % size,
    consWrap: at(cons) >= size ? 1 : 0,
    pending: (at(prod) - at(cons) + 2 * size) % (2 * size),
    overflow: getField(prod, eventqProdFields.OVFLG) !== getField(cons, eventqConsFields.OVACKFLG),
  };
}

function sections(core: Core, ctx: ArchSummaryContext): SmmuSections {
  const c = core.archCounters();
  const w = core.walkReads();
  const stage1 = vmsaLevels(w.fs), stage2 = vmsaLevels(w.ss);
  const configStructures = n(c.config_struct_access);
  const { invs, ...d } = driverFigures(ctx.driver);
  return {
    snoop: {
      snooped: n(c.snooped),
      nonSnooped: n(c.nonSnooped),
      noSnoopTlps: n(c.noSnoopTlps),
      noSnoopForced: n(c.noSnoopForced),
      noSnoopDecidedBy: { canwbs: n(c.noSnoopForced), tlp: n(c.noSnoopTlps) - n(c.noSnoopForced) },
    },
    walkReads: { configStructures, stage1, stage2, total: configStructures + sum(stage1) + sum(stage2) },
    hardwareUpdates: n(c.adWrites),
    caches: ctx.caches.map((x) => ({ ...x, title: smmuReport.caches[x.name]! })),
    pmcg: Object.fromEntries(pmcgEvents.map((e) => [e, n(c[e])])) as Record<PmcgEvent, number>,
    counters: Object.fromEntries(smmuModelCounters.map((e) => [e, n(c[e])])) as Record<SmmuModelCounter, number>,
    eventQueue: eventQueue(core),
    driver: { mode: d.mode, ...(d.domainModes ? { domainModes: d.domainModes } : {}), maps: d.maps, unmaps: d.unmaps, cmds: invs, flushes: d.flushes, flushReasons: d.flushReasons, deferredUnmaps: d.deferredUnmaps, ...(d.refused !== undefined ? { refused: d.refused } : {}) },
    ...(core.streamMapped ? { unrouted: n(c.unrouted) } : {}),
  };
}

/** STE.Config of the translation (core Result.kind for SMMUv3). */
const stageByConfig: Record<number, string> = { 0b100: "bypass", 0b101: "stage 1", 0b110: "stage 2", 0b111: "nested" };
const queueText = (q: SmmuSections["eventQueue"]) => `PROD ${q.prod} (wrap ${q.prodWrap}) / CONS ${q.cons} (wrap ${q.consWrap})`;
const levelName = (i: number) => `L${i}`;

export const smmuReport: ArchReport<SmmuSections> = {
  version: 3,
  named: true,
  interrupts: false,
  caches: {
    microTlb: "micro-TLB",
    iotlb: "TLB",
    contextCache: "config cache (STE)",
    pasidCache: "config cache (CD)",
    pwcFsPde: "S1 walk cache L2",
    pwcFsPdpe: "S1 walk cache L1",
    pwcFsPml4e: "S1 walk cache L0",
    pwcSsPde: "S2 walk cache L2",
    pwcSsPdpe: "S2 walk cache L1",
    pwcSsPml4e: "S2 walk cache L0",
    deviceTlb: "ATC (device TLBs)",
  },
  cacheRowsByTitle: true,
  // The same classes on an SMMU (assembly/timing/model.ts): a TLB hit (the main TLB, or the
  // micro-TLB in front of it); a walk resumed below the deepest walk-cache hit, by VMSAv8-64 level
  // (the stage-1 walk cache for stage-1 and nested walks, where stage-2 hits only served the
  // table-pointer translations; the stage-2 one for stage-2-only walks): the L2 cache holds the
  // table descriptor read at level 2, so its hit leaves the level-3 read; level -1 (the slot VT-d
  // uses for PML5E) needs 52-bit inputs, which this model does not translate; a full walk; a
  // transaction that ended with an event; the rest: bypassed and aborted transactions (no event),
  // and any other that neither hit a TLB nor walked.
  latencyClasses: {
    iotlbHit: "TLB hit",
    pdeHit: "walk-cache hit L2",
    pdpeHit: "walk-cache hit L1",
    pml4eHit: "walk-cache hit L0",
    pml5eHit: "walk-cache hit L-1",
    fullWalk: "full walk",
    fault: "event",
    other: "bypass, abort, other",
  },
  walkCacheLevels: [
    { label: "L2 (2M)", fs: "pwcFsPde", ss: "pwcSsPde" },
    { label: "L1 (1G)", fs: "pwcFsPdpe", ss: "pwcSsPdpe" },
    { label: "L0 (512G)", fs: "pwcFsPml4e", ss: "pwcSsPml4e" },
  ],
  words: { blocked: "aborted (no event)", fault: "event", reason: "type", pasid: "SSID", noPasid: "the STE's S1DSS decides", unrecorded: "CD.R/STE.S2R or queue" },
  driverOf: (s) => s.driver,
  summaryFigures: (s) => [
    ["events recorded / lost", `${fmt(s.counters.eventsRecorded)} / ${fmt(s.counters.eventsLost)}`, s.eventQueue.overflow ? "event queue overflow" : undefined],
    ["bypassed transactions", fmt(s.counters.bypassed)],
    ...(s.unrouted !== undefined ? [["unrouted TLPs (no IORT ID mapping)", fmt(s.unrouted)] as [string, string]] : []),
  ],
  textHead: (s) => [
    ...(s.counters.bypassed ? [["bypassed", s.counters.bypassed, "(translated: passed untranslated)"] as [string, number, string]] : []),
    ...(s.unrouted !== undefined ? [["unrouted", s.unrouted, "(no IORT ID mapping: never reached the SMMU)"] as [string, number, string]] : []),
  ],
  sections,
  text(s, caches) {
    const out: ReturnType<ArchReport["text"]> = [];
    const sn = s.snoop;
    out.push("Snoop");
    out.push(["snooped accesses", sn.snooped]);
    out.push(["non-snooped accesses", sn.nonSnooped]);
    out.push(["No-Snoop TLPs translated", sn.noSnoopTlps]);
    out.push(["  made coherent (canwbs)", sn.noSnoopDecidedBy.canwbs]);
    out.push(["  left non-snooped (tlp)", sn.noSnoopDecidedBy.tlp]);
    const r = s.walkReads;
    out.push("Table reads");
    out.push(["config structures", r.configStructures, "(STE, CD, L1 descriptors)"]);
    const levels = (a: number[]) => levelText(a, levelName, "  ", String, false);
    if (r.stage1.some(Boolean)) out.push(["stage 1", sum(r.stage1), levels(r.stage1)]);
    if (r.stage2.some(Boolean)) out.push(["stage 2", sum(r.stage2), levels(r.stage2)]);
    out.push(["total", r.total, s.tlps ? `(${(r.total / s.tlps).toFixed(2)} per TLP)` : ""]);
    if (s.hardwareUpdates) out.push(["AF/dirty updates", s.hardwareUpdates]);
    out.push(...caches);
    out.push("SMMUv3 PMU events (PMCG names)");
    for (const e of pmcgEvents) out.push([e, s.pmcg[e]]);
    const k = s.counters, q = s.eventQueue;
    out.push("Event queue");
    out.push(["events recorded / lost", `${k.eventsRecorded} / ${k.eventsLost}`]);
    out.push(["state", `${q.pending} pending of ${2 ** q.log2Size}`, `(${queueText(q)}${q.overflow ? ", overflow" : ""}${q.enabled ? "" : ", disabled"})`]);
    const d = s.driver;
    out.push(`Commands (${modeText(d)})`);
    out.push(["commands / CMD_SYNCs", `${k.commands} / ${k.cmdSyncs}`]);
    out.push(["command queue errors", k.cmdqErrors]);
    out.push(["driver maps / unmaps", `${d.maps} / ${d.unmaps}`]);
    if (d.cmds) out.push(["cmd events", d.cmds]);
    if (d.refused !== undefined) out.push(["refused driver events", d.refused]);
    if (anyLazy(d) || d.flushes) {
      const why = flushWhy(d.flushReasons);
      out.push(["flushes", d.flushes, why ? `(${why})` : ""]);
      out.push(["deferred unmaps", d.deferredUnmaps]);
    }
    return out;
  },
  auditStage: (kind) => stageByConfig[kind] ?? `config ${kind}`,
  auditColumns: [
    { label: "leaf descriptor", title: "physical address of the leaf descriptor (the stage-1 leaf under nesting)" },
    { label: "stage", title: "STE.Config of the translations" },
    { label: "IOVA range", title: "page base .. page base + page size, from the TLPs seen" },
    { label: "output PA", title: "the physical page the TLPs went to: page base .. page base + page size" },
    { label: "page", num: true },
    { label: "VMID", num: true, title: "STE.S2VMID of the translations (0: stage 1 only)" },
    { label: "SSID", title: "SubstreamIDs of the TLPs (n/a: none)" },
    { label: "NS TLPs", num: true },
    { label: "coherent (canwbs)", num: true, title: "No-Snoop TLPs made coherent by the root port's CANWBS" },
    { label: "let through (tlp)", num: true, title: "No-Snoop TLPs left non-snooped: the TLP's attribute decided" },
    { label: "devices" },
    { label: "S2 leaf", title: "nested: the stage-2 leaf of the final address" },
  ],
  auditCells(e) {
    return [
      ...auditRange(e),
      ...auditIds(e, "c-vmid", "c-ssid"),
      { ...lb(e, e.nsTlps), cls: "c-ns" },
      { ...lb(e, e.decidedBy.canwbs ?? 0), cls: "c-canwbs" },
      { ...lb(e, e.through), cls: "c-through" },
      ...auditTail(e),
    ];
  },
  detailsHtml(s) {
    const r = s.walkReads, k = s.counters, q = s.eventQueue, d = s.driver;
    const lv = (a: number[]) => levelText(a, levelName, ", ", fmt, false);
    const reads: [string, string, string?][] = [
      ["config structures", fmt(r.configStructures), "STE, CD, L1 descriptors"],
      ["stage 1", fmt(sum(r.stage1)), lv(r.stage1) || undefined],
      ["stage 2", fmt(sum(r.stage2)), lv(r.stage2) || undefined],
      ["total", fmt(r.total)],
      ["AF/dirty updates", fmt(s.hardwareUpdates)],
    ];
    const pmu = table("pmcg-table", [{ label: "event" }, { label: "count", num: true }], pmcgEvents.map((e) => ({ cells: [e, s.pmcg[e]] })), { sortable: false });
    const why = flushWhy(d.flushReasons);
    const queues: [string, string, string?][] = [
      ["events recorded / lost", `${fmt(k.eventsRecorded)} / ${fmt(k.eventsLost)}`],
      ["event queue", `${fmt(q.pending)} pending of ${fmt(2 ** q.log2Size)}`, `${queueText(q)}${q.overflow ? ", overflow" : ""}${q.enabled ? "" : ", disabled"}`],
      ["commands / CMD_SYNCs", `${fmt(k.commands)} / ${fmt(k.cmdSyncs)}`],
      ["command queue errors", fmt(k.cmdqErrors)],
      ["bypassed transactions", fmt(k.bypassed)],
      ["mode", modeText(d).replace(/ mode/, "")],
      ["driver maps / unmaps / cmd", `${fmt(d.maps)} / ${fmt(d.unmaps)} / ${fmt(d.cmds)}`],
      ["flushes", fmt(d.flushes), why || undefined],
      ["deferred unmaps", fmt(d.deferredUnmaps)],
    ];
    return `<section id="details"><h2>Table reads, PMU events, queues</h2>
<div class="cols"><div><h3>Table reads</h3>${figures(reads)}</div><div><h3>SMMUv3 PMU events (PMCG names)</h3>${pmu}</div><div><h3>Event and command queues</h3>${figures(queues)}</div></div>
</section>`;
  },
};
