/**
 * Timing model, one request at a time: the latency of a request alone on the IOMMU is the sum of
 * the terms its events imply (assembly/timing/model.ts), with every cache and memory level at its
 * own latency (helpers.ts) so each term shows. Requests are spaced 10 000 cycles apart: nothing
 * they share (cache ports, walker and translation slots, in-order completion) is still busy.
 *
 * Event order (what the functional path emits, assembly/arch/vtd/*.ts, uarch/vtd-caches.ts):
 *   scalable: context-cache lookup [miss: root read, context read], PASID-cache lookup [miss: PASID
 *   directory read, PASID-table read], IOTLB lookup [miss: walk = paging-structure-cache probes
 *   PDE, PDPE, PML4E(, PML5E) up to the first hit, then one read per level from below the hit,
 *   A/D writes as needed]; legacy: no PASID step; nested: every first-stage table pointer walked
 *   through the second stage (with its own second-stage PWC probes), then the final GPA.
 *
 * Also the presets: hypersio (IOTLB hit = 1 + 1 + 2 = 4 cycles at 1 GHz), gem5-smmuv3, vtd-default.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Request, Result } from "../../src/core/core.ts";
import { VtdPlatform } from "../../src/platform.ts";
import { DEFAULT_CAP, capFields, setField } from "../../src/arch/vtd/registers.ts";
import { latencyClassNames } from "../../src/core/abi.ts";
import { LAT, rd, platform, withoutPwc, K4, M2, G1, G512 } from "./helpers.ts";

type ClassName = (typeof latencyClassNames)[number];

/** Runs requests one at a time, `gap` cycles apart; returns each result with its latency class. */
class Seq {
  at = 0n;
  constructor(readonly p: VtdPlatform, readonly gap = 10_000n) {}
  run(req: Request): { r: Result; cls: ClassName } {
    const before = this.p.core.timingStats()!.classes;
    const r = this.p.translateOne({ ...req, time: this.at });
    assert.is(r.issue, this.at, "issue = arrival");
    this.at += this.gap;
    const after = this.p.core.timingStats()!.classes;
    const moved = latencyClassNames.filter((c) => after[c].count !== before[c].count);
    assert.is(moved.length, 1, `one class counted per request (${moved.join(",")})`);
    assert.is(after[moved[0]!].sum - before[moved[0]!].sum, BigInt(r.latency), "class sum grows by the latency");
    return { r, cls: moved[0]! };
  }
  lat(req: Request, expected: number, cls: ClassName, what: string): Result {
    const { r, cls: c } = this.run(req);
    assert.is(r.latency, expected, `${what}: latency`);
    assert.is(c, cls, `${what}: class`);
    return r;
  }
}

// Sums used below (helpers.ts):
const READS4 = rd(4) + rd(3) + rd(2) + rd(1); // 404 + 303 + 202 + 101 = 1010
const READS5 = rd(5) + READS4; // 505 + 1010 = 1515
const SS_PROBES = LAT.ssPde + LAT.ssPdpe + LAT.ssPml4e; // 11 + 13 + 17 = 41
const FS_PROBES = LAT.fsPde + LAT.fsPdpe + LAT.fsPml4e; // 19 + 23 + 29 = 71
const COLD_FRONT = LAT.ctx + 2 * LAT.struct + LAT.pasid + 2 * LAT.struct + LAT.iotlb; // 3 + 62 + 5 + 62 + 7 = 139
const WARM_FRONT = LAT.ctx + LAT.pasid + LAT.iotlb; // 3 + 5 + 7 = 15

test("the sums themselves (guards against a typo in helpers.ts)", () => {
  assert.is(READS4, 1010);
  assert.is(READS5, 1515);
  assert.is(SS_PROBES, 41);
  assert.is(FS_PROBES, 71);
  assert.is(COLD_FRONT, 139);
  assert.is(WARM_FRONT, 15);
});

// ---- second stage only (scalable, PGTT=010), 4 levels ------------------------------------------

test("second stage only: cold walk, IOTLB hit (full path and replay memo), PDE / PDPE / PML4E hits", () => {
  const p = platform();
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "ss" });
  const A = 0x1000_0000n;
  b.map(d, A, 0x2_0000_0000n, 4n * K4);
  b.map(d, A + M2, 0x2_1000_0000n, K4); // other 2 MiB region, same 1 GiB
  b.map(d, A + G1, 0x2_2000_0000n, K4); // other 1 GiB region, same 512 GiB
  b.attach({ sid: 0x10, domain: 1, ats: true });
  p.enable();
  const s = new Seq(p);
  const rq = (addr: bigint): Request => ({ op: "MRd", sid: 0x10, addr });

  // cold: ctx miss 3 + root 31 + context 31 + PASID miss 5 + dir 31 + table 31 + IOTLB miss 7
  //       + probes PDE 11 + PDPE 13 + PML4E 17 + reads 404 + 303 + 202 + 101 = 139 + 41 + 1010 = 1190
  const cold = s.lat(rq(A), 1190, "fullWalk", "cold walk");
  assert.is(cold.reads, 8, "4 structure reads + 4 paging reads");
  assert.is(COLD_FRONT + SS_PROBES + READS4, 1190);
  // IOTLB hit: 3 + 5 + 7 = 15 (the second goes the full path; the third replays from the memo)
  s.lat(rq(A + 8n), 15, "iotlbHit", "IOTLB hit");
  s.lat(rq(A + 16n), 15, "iotlbHit", "IOTLB hit (memo)");
  // PDE hit: 15 + PDE probe 11 + L1 read 101 = 127
  s.lat(rq(A + K4), 127, "pdeHit", "PDE hit");
  // PDPE hit: 15 + PDE miss 11 + PDPE hit 13 + L2 202 + L1 101 = 342
  s.lat(rq(A + M2), 342, "pdpeHit", "PDPE hit");
  // PML4E hit: 15 + 11 + 13 + 17 (hit) + L3 303 + L2 202 + L1 101 = 662
  s.lat(rq(A + G1), 662, "pml4eHit", "PML4E hit");
  // ATS translation request: the same path as a read; the page is now cached: 15
  s.lat({ op: "ATS", sid: 0x10, addr: A + G1 }, 15, "iotlbHit", "ATS hit");
});

test("second stage only, PWC off: a cold walk has no probes (139 + 1010 = 1149); a second page walks again", () => {
  const p = platform({ caches: withoutPwc() });
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "ss" });
  b.map(d, 0x1000_0000n, 0x2_0000_0000n, 2n * K4);
  b.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const s = new Seq(p);
  s.lat({ op: "MRd", sid: 0x10, addr: 0x1000_0000n }, COLD_FRONT + READS4, "fullWalk", "cold, no PWC");
  assert.is(COLD_FRONT + READS4, 1149);
  // warm front 15 + 1010 = 1025
  s.lat({ op: "MRd", sid: 0x10, addr: 0x1000_1000n }, 1025, "fullWalk", "second page, no PWC");
});

test("second stage only, 5 levels: L5 read 505 and the PML5E probe 41 show; PML5E hit", () => {
  let cap = setField(DEFAULT_CAP, capFields.SAGAW, 0xen);
  cap = setField(cap, capFields.MGAW, 56n);
  const p = platform({ cap });
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "ss", levels: 5 });
  const A = 0x1000_0000n;
  b.map(d, A, 0x2_0000_0000n, K4);
  b.map(d, A + G512, 0x2_1000_0000n, K4); // other 512 GiB region, same 256 TiB
  b.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const s = new Seq(p);
  // 139 + probes 11 + 13 + 17 + 41 (= 82) + reads 505 + 404 + 303 + 202 + 101 (= 1515) = 1736
  s.lat({ op: "MRd", sid: 0x10, addr: A }, 1736, "fullWalk", "cold 5-level");
  assert.is(COLD_FRONT + SS_PROBES + LAT.ssPml5e + READS5, 1736);
  // 15 + 82 (PML5E hit) + 404 + 303 + 202 + 101 = 1107
  s.lat({ op: "MRd", sid: 0x10, addr: A + G512 }, 1107, "pml5eHit", "PML5E hit");
});

// ---- first stage only (PGTT=001) ---------------------------------------------------------------

test("first stage only: cold walk through the FS caches (139 + 71 + 1010 = 1220), hits", () => {
  const p = platform();
  const b = p.builder;
  const d = b.createDomain({ id: 2, type: "fs" });
  const A = 0x7000_0000_0000n;
  b.map(d, A, 0x3_0000_0000n, 2n * K4);
  b.attach({ sid: 0x20, pasid: 3, domain: 2 });
  p.enable();
  const s = new Seq(p);
  const rq = (op: "MRd" | "MWr", addr: bigint): Request => ({ op, sid: 0x20, pasid: 3, addr });
  s.lat(rq("MRd", A), 1220, "fullWalk", "cold FS");
  assert.is(COLD_FRONT + FS_PROBES + READS4, 1220);
  s.lat(rq("MRd", A), 15, "iotlbHit", "FS hit");
  // builder presets D on writable leaves: a write hits too
  s.lat(rq("MWr", A), 15, "iotlbHit", "FS write hit (D preset)");
  // FS PDE hit: 15 + 19 + 101 = 135
  s.lat(rq("MRd", A + K4), 135, "pdeHit", "FS PDE hit");
});

test("first stage only without preset A/D: the A and D writes cost 37 each", () => {
  const p = platform();
  const b = p.builder;
  const d = b.createDomain({ id: 2, type: "fs", presetAccessed: false });
  const A = 0x7000_0000_0000n;
  b.map(d, A, 0x3_0000_0000n, 2n * K4);
  b.attach({ sid: 0x20, pasid: 3, domain: 2 });
  p.enable();
  const s = new Seq(p);
  const rq = (op: "MRd" | "MWr", addr: bigint): Request => ({ op, sid: 0x20, pasid: 3, addr });
  const before = p.core.counters().adWrites;
  // cold write: 139 + 71 + 1010 + A (leaf) 37 + D (leaf) 37 = 1294
  s.lat(rq("MWr", A), 1294, "fullWalk", "cold FS write, A and D");
  assert.is(p.core.counters().adWrites - before, 2n, "two A/D writes");
  s.lat(rq("MRd", A), 15, "iotlbHit", "hit after the write");
  // read of the second page (same 2 MiB): 15 + PDE 19 + L1 101 + A 37 = 172
  s.lat(rq("MRd", A + K4), 172, "pdeHit", "FS read, A write");
  // write to it: the IOTLB entry lacks D, so the walk is repeated: 15 + 19 + 101 + D 37 = 172
  s.lat(rq("MWr", A + K4), 172, "pdeHit", "FS write after read, D write");
  assert.is(p.core.counters().adWrites - before, 4n, "four A/D writes");
});

// ---- nested (PGTT=011): FS 4 levels over SS 4 levels -------------------------------------------

function nestedPlatform(pwc: boolean): VtdPlatform {
  const p = platform(pwc ? {} : { caches: withoutPwc() });
  const b = p.builder;
  const parent = b.createDomain({ id: 5, type: "ss" });
  const n = b.createDomain({ id: 4, type: "nested", parent: 5 });
  // final GPA 0x4000_0000 (1 GiB region 1); all table pages are in [0x1000_0000, 0x1000_0000 + 2 MiB)
  b.map(parent, 0x4000_0000n, 0x3_0000_0000n, 2n * K4);
  b.map(n, 0x7000_0000_0000n, 0x4000_0000n, 2n * K4);
  b.attach({ sid: 0x20, pasid: 4, domain: 4 });
  p.enable();
  assert.ok(p.alloc.used < M2, "every table page in the first 2 MiB after 0x1000_0000");
  return p;
}

test("nested, PWC off: 4 FS table pointers x 4 SS reads + 4 FS reads + final GPA 4 SS reads", () => {
  const p = nestedPlatform(false);
  const s = new Seq(p);
  // 139 + 4 x (SS 1010 + FS read) + final 1010
  //   = 139 + (1010 + 404) + (1010 + 303) + (1010 + 202) + (1010 + 101) + 1010 = 139 + 6060 = 6199
  const r = s.lat({ op: "MRd", sid: 0x20, pasid: 4, addr: 0x7000_0000_0000n }, 6199, "fullWalk", "cold nested");
  assert.is(COLD_FRONT + 5 * READS4 + READS4, 6199);
  assert.is(r.pa, 0x3_0000_0000n);
  assert.equal(p.core.walkReads(), { fs: [1n, 1n, 1n, 1n, 0n], ss: [5n, 5n, 5n, 5n, 0n] });
  s.lat({ op: "MRd", sid: 0x20, pasid: 4, addr: 0x7000_0000_0000n }, 15, "iotlbHit", "nested hit");
  // second page, no PWC: 15 + 6060 = 6075
  s.lat({ op: "MRd", sid: 0x20, pasid: 4, addr: 0x7000_0000_1000n }, 6075, "fullWalk", "nested second page");
});

test("nested, PWC on: the SS PDE cache serves the later table-pointer walks", () => {
  const p = nestedPlatform(true);
  const s = new Seq(p);
  // front 139
  // FS probes PDE 19 + PDPE 23 + PML4E 29 (all miss)                             = 71    -> 210
  // FS root pointer (GPA 0x1000_xxxx): SS probes 11 + 13 + 17, SS reads 1010     = 1051  -> 1261
  //   FS L4 read 404                                                                     -> 1665
  // FS L3 table pointer: SS PDE hit 11 + SS L1 read 101 = 112, FS L3 read 303            -> 2080
  // FS L2 table pointer: 112, FS L2 read 202                                             -> 2394
  // FS L1 table pointer: 112, FS L1 read 101                                             -> 2607
  // final GPA 0x4000_0000: SS PDE miss 11, PDPE miss 13, PML4E hit 17, reads 303+202+101 -> 3254
  const r = s.run({ op: "MRd", sid: 0x20, pasid: 4, addr: 0x7000_0000_0000n }).r;
  assert.is(r.latency, 3254, "cold nested with PWC");
  assert.is(139 + 71 + 1051 + 404 + 3 * (LAT.ssPde + rd(1)) + 303 + 202 + 101 + SS_PROBES + 303 + 202 + 101, 3254);
  assert.equal(p.core.walkReads(), { fs: [1n, 1n, 1n, 1n, 0n], ss: [5n, 2n, 2n, 1n, 0n] });
  // second page: FS PDE hit 19 resumes at the FS L1 table, whose host-physical address the FS PDE
  // cache holds (no SS walk for that pointer), FS L1 read 101; final GPA 0x4000_1000: SS PDE hit
  // (filled by the first final walk) 11 + SS L1 read 101
  //   = 15 + 19 + 101 + 11 + 101 = 247
  s.lat({ op: "MRd", sid: 0x20, pasid: 4, addr: 0x7000_0000_1000n }, 247, "pdeHit", "nested FS PDE hit");
});

// ---- legacy mode ---------------------------------------------------------------------------------

test("legacy mode: no PASID step: cold 3 + 31 + 31 + 7 + 41 + 1010 = 1123, hit 3 + 7 = 10, PDE hit 122", () => {
  const p = platform({ mode: "legacy" });
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "ss" });
  b.map(d, 0x1000_0000n, 0x2_0000_0000n, 2n * K4);
  b.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const s = new Seq(p);
  s.lat({ op: "MRd", sid: 0x10, addr: 0x1000_0000n }, 1123, "fullWalk", "legacy cold");
  s.lat({ op: "MRd", sid: 0x10, addr: 0x1000_0000n }, 10, "iotlbHit", "legacy hit");
  s.lat({ op: "MRd", sid: 0x10, addr: 0x1000_0000n }, 10, "iotlbHit", "legacy hit (memo)");
  // 3 + 7 + 11 + 101 = 122
  s.lat({ op: "MRd", sid: 0x10, addr: 0x1000_1000n }, 122, "pdeHit", "legacy PDE hit");
});

// ---- no translation: pass-through, translated requests --------------------------------------------

test("pass-through and translated requests: only the lookups and structure reads; class other", () => {
  const p = platform({ caches: { deviceTlb: { enable: true } } });
  const b = p.builder;
  b.createDomain({ id: 9, type: "pt" });
  const d = b.createDomain({ id: 1, type: "ss" });
  b.map(d, 0x1000_0000n, 0x2_0000_0000n, K4);
  b.attach({ sid: 0x30, domain: 9 });
  b.attach({ sid: 0x10, domain: 1, ats: true });
  p.enable();
  const s = new Seq(p);
  // PT cold: 3 + 31 + 31 + 5 + 31 + 31 = 132; warm 3 + 5 = 8
  s.lat({ op: "MRd", sid: 0x30, addr: 0x5000n }, 132, "other", "PT cold");
  s.lat({ op: "MRd", sid: 0x30, addr: 0x5000n }, 8, "other", "PT warm");
  s.lat({ op: "MRd", sid: 0x10, addr: 0x1000_0000n }, 1190, "fullWalk", "warm-up walk");
  // translated, device-TLB miss: the device's own lookup (device-TLB latency 2, a miss), its ATS
  // request (15, an IOTLB hit), then the translated request itself (context lookup 3, no PASID
  // step): 2 + 15 + 3 = 20; counted once, as the ATS hit
  s.lat({ op: "MRd", sid: 0x10, addr: 0x1000_0000n, translated: true }, 20, "iotlbHit", "translated, ATC miss");
  // device-TLB hit: the device's lookup 2, then the translated request 3: 5
  s.lat({ op: "MRd", sid: 0x10, addr: 0x1000_0000n, translated: true }, 5, "other", "translated, ATC hit");
});

test("translated request without a device-TLB: context lookup only (3)", () => {
  const p = platform({ caches: { deviceTlb: { enable: false } } });
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "ss" });
  b.map(d, 0x1000_0000n, 0x2_0000_0000n, K4);
  b.attach({ sid: 0x10, domain: 1, ats: true });
  p.enable();
  const s = new Seq(p);
  // cold: 3 + 31 + 31 = 65 (stops before the PASID entry)
  s.lat({ op: "MRd", sid: 0x10, addr: 0x2_0000_0000n, translated: true }, 65, "other", "translated cold");
  s.lat({ op: "MWr", sid: 0x10, addr: 0x2_0000_0000n, translated: true }, 3, "other", "translated warm");
});

test("faults: counted in the fault class with the latency of the work done", () => {
  const p = platform();
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "ss" });
  b.map(d, 0x1000_0000n, 0x2_0000_0000n, K4, { write: false });
  b.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const s = new Seq(p);
  s.lat({ op: "MRd", sid: 0x10, addr: 0x1000_0000n }, 1190, "fullWalk", "warm-up");
  // not present in the same 2 MiB: 15 + PDE hit 11 + L1 read 101 = 127
  const f = s.lat({ op: "MRd", sid: 0x10, addr: 0x1000_1000n }, 127, "fault", "not present");
  assert.is(f.status, "fault");
  // write to a read-only page served by the IOTLB: 15
  s.lat({ op: "MWr", sid: 0x10, addr: 0x1000_0000n }, 15, "fault", "write to read-only");
  // device not attached (context entry not present): ctx miss 3 + root 31 + context 31 = 65
  s.lat({ op: "MRd", sid: 0x11, addr: 0x1000_0000n }, 65, "fault", "no context entry");
});

// ---- presets --------------------------------------------------------------------------------------

function presetRun(preset: "hypersio" | "gem5-smmuv3" | "vtd-default", type: "ss" | "fs"): { cold: number; hit: number; p: VtdPlatform } {
  const p = new VtdPlatform({ preset });
  const b = p.builder;
  const d = b.createDomain({ id: 1, type });
  const A = 0x7000_0000_0000n;
  b.map(d, A, 0x2_0000_0000n, K4);
  if (type === "ss") b.attach({ sid: 0x10, domain: 1 });
  else b.attach({ sid: 0x10, pasid: 1, domain: 1 });
  p.enable();
  const rq = (time: bigint): Request => ({ op: "MRd", sid: 0x10, addr: A, time, ...(type === "fs" ? { pasid: 1 } : {}) });
  const [c, h] = p.translate([rq(0n), rq(100_000n)]);
  assert.is(c!.status, "ok");
  return { cold: c!.latency, hit: h!.latency, p };
}

test("preset hypersio: hit 1 + 1 + 2 = 4 cycles at 1 GHz; cold 4-level SS walk 414", () => {
  for (const type of ["ss", "fs"] as const) {
    const { cold, hit, p } = presetRun("hypersio", type);
    assert.is(p.timing.clockMHz, 1000);
    assert.is(hit, 1 + 1 + 2, `${type} hit`);
    // ctx miss 1 + root 50 + context 50 + PASID miss 1 + dir 50 + table 50 + IOTLB miss 2
    //   + PDE probe 5 + PDPE probe 5 (the PML4E cache has 0 entries: no probe) + 4 x 50 = 414
    assert.is(cold, 1 + 50 + 50 + 1 + 50 + 50 + 2 + 5 + 5 + 4 * 50, `${type} cold`);
    assert.is(cold, 414);
  }
});

test("preset gem5-smmuv3: hit 3 + 3 + 3 = 9; cold 4-level walk 821", () => {
  for (const type of ["ss", "fs"] as const) {
    const { cold, hit, p } = presetRun("gem5-smmuv3", type);
    assert.is(p.timing.walkerSlots, 16);
    assert.is(p.timing.translationSlots, 64);
    assert.is(hit, 9, `${type} hit`);
    // 3 + 100 + 100 + 3 + 100 + 100 + 3 + probes 4 + 4 + 4 + reads 4 x 100 = 821
    assert.is(cold, 3 + 200 + 3 + 200 + 3 + 12 + 400, `${type} cold`);
    assert.is(cold, 821);
  }
});

test("preset vtd-default: hit 2 + 2 + 2 = 6; cold 4-level walk 812", () => {
  const { cold, hit } = presetRun("vtd-default", "ss");
  assert.is(hit, 6);
  // 2 + 200 + 2 + 200 + 2 + probes 2 + 2 + 2 + reads 400 = 812
  assert.is(cold, 812);
});

test("functional run (timing: false): latency and issue 0, no timing statistics", () => {
  const p = platform({ timing: false });
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "ss" });
  b.map(d, 0x1000_0000n, 0x2_0000_0000n, K4);
  b.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const r = p.translateOne({ op: "MRd", sid: 0x10, addr: 0x1000_0000n, time: 1234n });
  assert.is(r.status, "ok");
  assert.is(r.latency, 0);
  assert.is(r.issue, 0n);
  assert.is(p.core.timingStats(), undefined);
});

test.run();
