/**
 * What the HTML report needs beyond the run summary, gathered from the per-TLP results while the
 * trace replays (`run --html`): translations and faults per device (BDF) and per PASID, the faulting
 * TLPs (the first `maxFaultRecords` of them, and counts by reason, device, PASID and 4 KiB page of
 * the address), and the No-Snoop audit, one row per leaf entry that No-Snoop TLPs went through.
 *
 * `add()` is called once per TLP and does only a few map lookups and integer additions; the
 * No-Snoop audit is touched only for successful No-Snoop DMA (not ATS translation requests, the
 * same TLPs the summary's `snoop.noSnoopTlps` counts).
 *
 * Memory is bounded: at most `maxGroups` devices, `maxGroups` PASIDs and `maxGroups` faulting
 * pages are kept apart (later ones are summed into one "other" row, so totals stay exact), the
 * first `maxFaultRecords` faulting TLPs are kept whole, and the audit keeps at most
 * `2 x maxAuditEntries` leaf entries while running. When that fills up, the half with the fewest
 * No-Snoop TLPs is dropped (their TLPs are counted in `dropped`); an entry first seen after such a
 * drop may have been dropped before, so its counts are lower bounds (`exact: false`). The report
 * shows the `maxAuditEntries` entries with the most No-Snoop TLPs. Until the cap is reached (10 000
 * entries by default, 20 000 while running) every count is exact.
 */
import type { Result } from "../core/core.ts";
import { faultCatalogues, type FaultInfo } from "../core/abi.ts";
import { faultName } from "../arch/types.ts";
import { formatBdf, type TraceTlp } from "../trace/text.ts";
import { vtdAuditStage } from "./arch/vtd-stage.ts";

/** Outcomes of a group of TLPs (one device, or one PASID). */
export interface GroupCounts {
  tlps: number;
  /** status ok (ATS translation requests included, as the summary's `translated`). */
  translated: number;
  faulted: number;
  interrupts: number;
  blocked: number;
  /** No-Snoop TLPs translated (status ok, not ATS). */
  noSnoop: number;
  /** ... of which a PGSNP or SS-leaf SNP forced to snoop. */
  noSnoopForced: number;
  /** Faults by reason, by code. */
  faults: { code: number; name: string; count: number }[];
  /** Timed runs: summed and largest latency in cycles (0 in a functional run). */
  latencySum: number;
  latencyMax: number;
}

export interface DeviceCounts extends GroupCounts {
  /** "BB:DD.F" (or "SSSS:BB:DD.F"); "other" sums the devices beyond the cap. */
  bdf: string;
  sid: number | null;
}

export interface PasidCounts extends GroupCounts {
  /** The TLP's PASID; null: requests without PASID (and "other" beyond the cap: see `other`). */
  pasid: number | null;
  other?: true;
}

/** How a leaf entry's translation was set up, from the result's PGTT. */
/** VT-d: "second-stage", "first-stage", "nested", "legacy"; SMMUv3: "stage 1", "stage 2", "nested", "bypass" (ArchReport.auditStage). */
export type LeafStage = string;

/** One row of the No-Snoop audit: a leaf entry and the No-Snoop TLPs it translated. */
export interface AuditEntry {
  /** Physical address of the leaf entry (the first-stage leaf under nesting). */
  leafPa: bigint;
  stage: LeafStage;
  /** Nested: the second-stage leaf that mapped the final address (the last one seen). */
  s2LeafPa?: bigint;
  /** The IOVA pages the TLPs went through: [iovaLo, iovaHi) = page base .. page base + page size. */
  iovaLo: bigint;
  iovaHi: bigint;
  /** The output (host physical) pages they went to, the same way. */
  paLo: bigint;
  paHi: bigint;
  pageSize: number;
  /** More than one page base was seen through this entry (the table page was reused). */
  movedPages: boolean;
  /** SS SNP (bit 11) of the leaf as read: "0", "1", "0/1" (changed during the run), or "n/a" (not a second-stage leaf). */
  snp: "0" | "1" | "0/1" | "n/a";
  /** PGSNP in effect (scalable mode; "n/a" in legacy mode): 1 when it forced snooping. */
  pgsnp: "0" | "1" | "0/1" | "n/a";
  /** No-Snoop TLPs translated through this entry. */
  nsTlps: number;
  /** ... forced to snoop, by PGSNP and by the SS leaf's SNP. */
  forced: number;
  forcedByPgsnp: number;
  forcedBySnp: number;
  /** ... let through non-snooped (snoop false). */
  through: number;
  /** No-Snoop TLPs by what decided their outcome: the results' `snoopBy` names (VT-d pgsnp/pte/tlp; SMMUv3 canwbs/tlp). */
  decidedBy: Record<string, number>;
  /** Devices seen (up to 4) and whether there were more. */
  devices: string[];
  moreDevices: boolean;
  /** Domain IDs the translations used (from the context or PASID entry), up to 4, and whether there were more. */
  dids: number[];
  moreDids: boolean;
  /** PASIDs whose entries the translations used (RID_PASID for requests without one; none in legacy mode), up to 4. */
  pasids: number[];
  morePasids: boolean;
  /** False: the entry was first seen after the table had to drop entries; counts may be lower bounds. */
  exact: boolean;
}

export interface NoSnoopAudit {
  /** Every No-Snoop TLP translated, forced to snoop, let through (exact, whatever the cap). */
  tlps: number;
  forced: number;
  through: number;
  /** No-Snoop TLPs translated without a leaf entry (pass-through, translated requests). */
  noLeaf: { tlps: number; forced: number; through: number };
  /** The kept entries, most No-Snoop TLPs first (then by leaf address). */
  entries: AuditEntry[];
  maxEntries: number;
  /** Entries left out (dropped while running, or beyond maxEntries at the end) and their TLPs. */
  dropped: { entries: number; tlps: number };
  /** The table was capped: some counts of kept entries may be lower bounds (those with exact false). */
  capped: boolean;
}

/** One faulting TLP, as --results would show it. */
export interface FaultRecord {
  /** The TLP's number in the trace (0-based, TLPs only: the results' `seq`) and its line. */
  seq: number;
  line: number;
  op: TraceTlp["op"];
  bdf: string;
  /** The TLP's own PASID (none: absent). */
  pasid?: number;
  addr: bigint;
  code: number;
  name: string;
  /** The fault is recorded (not suppressed by FPD). */
  recorded: boolean;
}

/** Faults of one 4 KiB page of the input address. */
export interface FaultPage {
  /** The page's address; null: the pages beyond the cap, summed. */
  page: bigint | null;
  count: number;
  /** Devices seen (up to 4), and whether there were more. */
  devices: string[];
  moreDevices: boolean;
  /** Fault reasons seen there, by code. */
  reasons: { code: number; name: string; count: number }[];
}

export interface FaultReport {
  /** Faulting TLPs in all (exact). */
  total: number;
  /** The first maxRecords faulting TLPs, in trace order. */
  first: FaultRecord[];
  maxRecords: number;
  /** By reason (exact), by code. */
  byReason: { code: number; name: string; count: number }[];
  /** By device and by PASID: the groups with faults, faults by reason within each. */
  byDevice: { bdf: string; count: number; reasons: { code: number; name: string; count: number }[] }[];
  byPasid: { pasid: number | null; other?: true; count: number; reasons: { code: number; name: string; count: number }[] }[];
  /** By 4 KiB page of the input address, most faults first (then by address), the "other" row last. */
  byPage: FaultPage[];
}

export interface CollectedReport {
  devices: DeviceCounts[];
  pasids: PasidCounts[];
  maxGroups: number;
  faults: FaultReport;
  noSnoop: NoSnoopAudit;
}

export interface CollectorOptions {
  /** Audit rows in the report (default 10 000); the table holds twice as many while running. */
  maxAuditEntries?: number;
  /** Devices, PASIDs and faulting pages kept apart (default 10 000 each). */
  maxGroups?: number;
  /** Faulting TLPs kept whole (default 100). */
  maxFaultRecords?: number;
  /** The platform's fault catalogue, for fault names (its module's `faults`; default VT-d's). */
  faults?: ReadonlyMap<number, FaultInfo>;
  /** A leaf entry's stage from the result's `kind` (its module's `report.auditStage`; default VT-d's). */
  auditStage?: (kind: number) => LeafStage;
}

interface Group {
  tlps: number;
  translated: number;
  faulted: number;
  interrupts: number;
  blocked: number;
  noSnoop: number;
  noSnoopForced: number;
  faults: Map<number, number> | null;
  latencySum: number;
  latencyMax: number;
}

interface Entry {
  leafPa: bigint;
  pgtt: number;
  s2LeafPa: bigint;
  iovaLo: bigint;
  iovaHi: bigint;
  paLo: bigint;
  paHi: bigint;
  pageLg2: number;
  moved: boolean;
  /** bit 0: seen 0, bit 1: seen 1. */
  snp: number;
  pgsnp: number;
  nsTlps: number;
  forcedByPgsnp: number;
  forcedBySnp: number;
  through: number;
  /** No-Snoop TLPs by what decided their outcome (the result's `snoopBy`). */
  decidedBy: Record<string, number>;
  sids: number[];
  moreSids: boolean;
  dids: number[];
  moreDids: boolean;
  pasids: number[];
  morePasids: boolean;
  exact: boolean;
}

interface Page {
  count: number;
  sids: number[];
  moreSids: boolean;
  reasons: Map<number, number>;
}

/** Adds `v` to the first-seen values `a` (up to 4); true when `v` was a fifth one (not kept). */
function remember(a: number[], v: number): boolean {
  if (a.includes(v)) return false;
  if (a.length < 4) {
    a.push(v);
    return false;
  }
  return true;
}

const newGroup = (): Group => ({ tlps: 0, translated: 0, faulted: 0, interrupts: 0, blocked: 0, noSnoop: 0, noSnoopForced: 0, faults: null, latencySum: 0, latencyMax: 0 });

const SNP_BIT = 1n << 11n;
const OTHER = -1;
const PAGE_LG2 = 12n;
const reasonList = (m: Map<number, number> | null, faults: ReadonlyMap<number, FaultInfo>) =>
  [...(m ?? [])].sort((a, b) => a[0] - b[0]).map(([code, count]) => ({ code, name: faultName({ faults }, code), count }));

export class ReportCollector {
  readonly maxAuditEntries: number;
  readonly maxGroups: number;
  readonly maxFaultRecords: number;
  private readonly faults: ReadonlyMap<number, FaultInfo>;
  private readonly stageOf: (kind: number) => LeafStage;
  private readonly devices = new Map<number, Group>();
  private readonly faultPages = new Map<bigint, Page>();
  private readonly firstFaults: FaultRecord[] = [];
  private readonly faultReasons = new Map<number, number>();
  private faultTotal = 0;
  /** TLPs seen: the next one's seq. */
  private seq = 0;
  private readonly pasids = new Map<number, Group>();
  private readonly entries = new Map<bigint, Entry>();
  private ns = { tlps: 0, forced: 0, through: 0 };
  private noLeaf = { tlps: 0, forced: 0, through: 0 };
  private dropped = { entries: 0, tlps: 0 };
  private pruned = false;

  constructor(o: CollectorOptions = {}) {
    this.maxAuditEntries = Math.max(1, Math.floor(o.maxAuditEntries ?? 10_000));
    this.maxGroups = Math.max(1, Math.floor(o.maxGroups ?? 10_000));
    this.maxFaultRecords = Math.max(0, Math.floor(o.maxFaultRecords ?? 100));
    this.faults = o.faults ?? faultCatalogues.vtd;
    this.stageOf = o.auditStage ?? vtdAuditStage;
  }

  private group(map: Map<number, Group>, key: number): Group {
    let g = map.get(key);
    if (g) return g;
    if (map.size >= this.maxGroups) key = OTHER;
    g = map.get(key);
    if (!g) map.set(key, (g = newGroup()));
    return g;
  }

  /** One TLP and its result, in trace order (a ResultSink's arguments; `seq` defaults to the TLPs added before). */
  add(tlp: TraceTlp, r: Result, seq = this.seq): void {
    this.seq = seq + 1;
    if (r.status === "fault") this.fault(seq, tlp, r);
    const nsTranslated = tlp.ns && r.status === "ok" && tlp.op !== "ATS";
    const forced = nsTranslated && r.snoop;
    this.count(this.group(this.devices, tlp.sid), r, nsTranslated, forced);
    // requests without PASID: key -2 (sorts first, never meets OTHER)
    this.count(this.group(this.pasids, tlp.pasid ?? -2), r, nsTranslated, forced);
    if (!nsTranslated) return;
    this.ns.tlps++;
    if (forced) this.ns.forced++;
    else this.ns.through++;
    if (!r.leafPa) {
      this.noLeaf.tlps++;
      if (forced) this.noLeaf.forced++;
      else this.noLeaf.through++;
      return;
    }
    this.audit(tlp, r, forced);
  }

  private fault(seq: number, tlp: TraceTlp, r: Result): void {
    const code = r.fault!.code;
    this.faultTotal++;
    this.faultReasons.set(code, (this.faultReasons.get(code) ?? 0) + 1);
    if (this.firstFaults.length < this.maxFaultRecords) {
      const f: FaultRecord = { seq, line: tlp.line, op: tlp.op, bdf: formatBdf(tlp.sid), addr: tlp.addr, code, name: r.fault!.name, recorded: r.fault!.recorded };
      if (tlp.pasid !== undefined) f.pasid = tlp.pasid;
      this.firstFaults.push(f);
    }
    let key = tlp.addr >> PAGE_LG2;
    let p = this.faultPages.get(key);
    if (!p) {
      if (this.faultPages.size >= this.maxGroups) key = -1n;
      p = this.faultPages.get(key);
      if (!p) this.faultPages.set(key, (p = { count: 0, sids: [], moreSids: false, reasons: new Map() }));
    }
    p.count++;
    if (remember(p.sids, tlp.sid)) p.moreSids = true;
    p.reasons.set(code, (p.reasons.get(code) ?? 0) + 1);
  }

  private count(g: Group, r: Result, ns: boolean, forced: boolean): void {
    g.tlps++;
    switch (r.status) {
      case "ok":
        g.translated++;
        break;
      case "fault": {
        g.faulted++;
        const code = r.fault!.code;
        const f = (g.faults ??= new Map());
        f.set(code, (f.get(code) ?? 0) + 1);
        break;
      }
      case "interrupt":
        g.interrupts++;
        break;
      case "blocked":
        g.blocked++;
        break;
    }
    if (ns) {
      g.noSnoop++;
      if (forced) g.noSnoopForced++;
    }
    g.latencySum += r.latency;
    if (r.latency > g.latencyMax) g.latencyMax = r.latency;
  }

  private audit(tlp: TraceTlp, r: Result, forced: boolean): void {
    const lg2 = r.pageLg2;
    const base = lg2 > 0 ? (tlp.addr >> BigInt(lg2)) << BigInt(lg2) : tlp.addr;
    const paBase = lg2 > 0 ? (r.pa >> BigInt(lg2)) << BigInt(lg2) : r.pa;
    const size = 1n << BigInt(lg2);
    let e = this.entries.get(r.leafPa);
    if (!e) {
      if (this.entries.size >= 2 * this.maxAuditEntries) this.prune();
      e = {
        leafPa: r.leafPa,
        pgtt: r.kind,
        s2LeafPa: 0n,
        iovaLo: base,
        iovaHi: base + size,
        paLo: paBase,
        paHi: paBase + size,
        pageLg2: lg2,
        moved: false,
        snp: 0,
        pgsnp: 0,
        nsTlps: 0,
        forcedByPgsnp: 0,
        forcedBySnp: 0,
        through: 0,
        decidedBy: {},
        sids: [tlp.sid],
        moreSids: false,
        dids: [],
        moreDids: false,
        pasids: [],
        morePasids: false,
        exact: !this.pruned,
      };
      this.entries.set(r.leafPa, e);
    } else {
      if (base !== e.iovaLo || paBase !== e.paLo || lg2 !== e.pageLg2) {
        if (base < e.iovaLo) e.iovaLo = base;
        if (base + size > e.iovaHi) e.iovaHi = base + size;
        if (paBase < e.paLo) e.paLo = paBase;
        if (paBase + size > e.paHi) e.paHi = paBase + size;
        if (lg2 > e.pageLg2) e.pageLg2 = lg2;
        e.moved = true;
      }
      if (e.sids[0] !== tlp.sid && remember(e.sids, tlp.sid)) e.moreSids = true;
    }
    if (e.dids[0] !== r.domain && remember(e.dids, r.domain)) e.moreDids = true;
    if (r.addressSpace !== undefined && e.pasids[0] !== r.addressSpace && remember(e.pasids, r.addressSpace)) e.morePasids = true;
    e.pgtt = r.kind;
    if (r.s2LeafPa && r.s2LeafPa !== r.leafPa) e.s2LeafPa = r.s2LeafPa;
    e.nsTlps++;
    e.snp |= (r.leafPte & SNP_BIT) !== 0n ? 2 : 1;
    e.pgsnp |= r.snoopBy === "pgsnp" ? 2 : 1;
    e.decidedBy[r.snoopBy] = (e.decidedBy[r.snoopBy] ?? 0) + 1;
    if (!forced) e.through++;
    else if (r.snoopBy === "pgsnp") e.forcedByPgsnp++;
    else e.forcedBySnp++;
  }

  /** Keeps the maxAuditEntries entries with the most No-Snoop TLPs. */
  private prune(): void {
    const all = [...this.entries.values()].sort(byCount);
    for (let i = this.maxAuditEntries; i < all.length; i++) {
      const e = all[i]!;
      this.dropped.entries++;
      this.dropped.tlps += e.nsTlps;
      this.entries.delete(e.leafPa);
    }
    this.pruned = true;
  }

  /** The collected data, for renderHtmlReport. */
  result(): CollectedReport {
    const faults = (g: Group) => reasonList(g.faults, this.faults);
    const counts = (g: Group): GroupCounts => ({
      tlps: g.tlps,
      translated: g.translated,
      faulted: g.faulted,
      interrupts: g.interrupts,
      blocked: g.blocked,
      noSnoop: g.noSnoop,
      noSnoopForced: g.noSnoopForced,
      faults: faults(g),
      latencySum: g.latencySum,
      latencyMax: g.latencyMax,
    });
    // by key, the "other" row last
    const ordered = (m: Map<number, Group>) => [...m].sort((a, b) => (a[0] === OTHER ? 1 : b[0] === OTHER ? -1 : a[0] - b[0]));
    const devices: DeviceCounts[] = ordered(this.devices).map(([sid, g]) => ({ bdf: sid === OTHER ? "other" : formatBdf(sid), sid: sid === OTHER ? null : sid, ...counts(g) }));
    const pasids: PasidCounts[] = ordered(this.pasids).map(([p, g]) => (p === OTHER ? { pasid: null, other: true as const, ...counts(g) } : { pasid: p < 0 ? null : p, ...counts(g) }));
    const all = [...this.entries.values()].sort(byCount);
    const kept = all.slice(0, this.maxAuditEntries);
    const dropped = { ...this.dropped };
    for (let i = this.maxAuditEntries; i < all.length; i++) {
      dropped.entries++;
      dropped.tlps += all[i]!.nsTlps;
    }
    const pages: FaultPage[] = [...this.faultPages]
      .sort((a, b) => (a[0] === -1n ? 1 : b[0] === -1n ? -1 : b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1)))
      .map(([key, p]) => ({ page: key === -1n ? null : key << PAGE_LG2, count: p.count, devices: p.sids.map(formatBdf), moreDevices: p.moreSids, reasons: reasonList(p.reasons, this.faults) }));
    return {
      devices,
      pasids,
      maxGroups: this.maxGroups,
      faults: {
        total: this.faultTotal,
        first: this.firstFaults.map((f) => ({ ...f })),
        maxRecords: this.maxFaultRecords,
        byReason: reasonList(this.faultReasons, this.faults),
        byDevice: devices.filter((d) => d.faulted).map((d) => ({ bdf: d.bdf, count: d.faulted, reasons: d.faults })),
        byPasid: pasids.filter((p) => p.faulted).map((p) => ({ pasid: p.pasid, ...(p.other ? { other: true as const } : {}), count: p.faulted, reasons: p.faults })),
        byPage: pages,
      },
      noSnoop: {
        ...this.ns,
        noLeaf: { ...this.noLeaf },
        entries: kept.map((e) => auditEntry(e, this.stageOf(e.pgtt))),
        maxEntries: this.maxAuditEntries,
        dropped,
        capped: dropped.entries > 0,
      },
    };
  }
}

function byCount(a: Entry, b: Entry): number {
  return b.nsTlps - a.nsTlps || (a.leafPa < b.leafPa ? -1 : a.leafPa > b.leafPa ? 1 : 0);
}

const seen = (mask: number): "0" | "1" | "0/1" => (mask === 3 ? "0/1" : mask === 2 ? "1" : "0");

function auditEntry(e: Entry, stage: LeafStage): AuditEntry {
  // SNP (bit 11) means something only in a second-stage leaf (SS-only and legacy translation).
  const ssLeaf = stage === "second-stage" || stage === "legacy";
  const a: AuditEntry = {
    leafPa: e.leafPa,
    stage,
    iovaLo: e.iovaLo,
    iovaHi: e.iovaHi,
    paLo: e.paLo,
    paHi: e.paHi,
    pageSize: 2 ** e.pageLg2,
    movedPages: e.moved,
    snp: ssLeaf ? seen(e.snp) : "n/a",
    pgsnp: stage === "legacy" ? "n/a" : seen(e.pgsnp),
    nsTlps: e.nsTlps,
    forced: e.forcedByPgsnp + e.forcedBySnp,
    forcedByPgsnp: e.forcedByPgsnp,
    forcedBySnp: e.forcedBySnp,
    through: e.through,
    decidedBy: { ...e.decidedBy },
    devices: e.sids.map(formatBdf),
    moreDevices: e.moreSids,
    dids: [...e.dids],
    moreDids: e.moreDids,
    pasids: [...e.pasids],
    morePasids: e.morePasids,
    exact: e.exact,
  };
  if (e.s2LeafPa) a.s2LeafPa = e.s2LeafPa;
  return a;
}
