/**
 * Timing statistics (core.timingStats()):
 *
 * - latency classes: every timed request is counted in exactly one class; the per-class count, sum
 *   and max and the log-linear histogram (1-cycle buckets below 4096, 256 per power of two above)
 *   match the result latencies exactly, on a hand-computed trace that reaches every class, and at
 *   the histogram's edges (4095 the last exact bucket, 4096..4111 the first 16-cycle one, a latency
 *   beyond 2^34 cycles in its 2^26-cycle bucket);
 * - invalidation cycles through the queued-invalidation ring (src/arch/vtd/invalidation.ts):
 *   descriptors fetched x fetch cost + cache entries removed x per-entry cost + waits x wait cost.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Request, Result, TimingStats } from "../../src/core/core.ts";
import type { VtdPlatform } from "../../src/platform.ts";
import { latencyClassNames } from "../../src/core/abi.ts";
import { bucketLow, bucketOf } from "../../src/core/histogram.ts";
import { InvalidationQueue, desc, type Descriptor } from "../../src/arch/vtd/invalidation.ts";
import { DEFAULT_CAP, capFields, setField } from "../../src/arch/vtd/registers.ts";
import { platform, K4, M2, G1, G512 } from "./helpers.ts";

type ClassName = (typeof latencyClassNames)[number];

/** Checks timingStats() against the expected (class, latency) of every timed request. */
function checkClasses(s: TimingStats, expected: [ClassName, number][]): void {
  assert.is(s.timed, BigInt(expected.length), "timed");
  let total = 0n;
  for (const c of latencyClassNames) {
    const mine = expected.filter(([k]) => k === c).map(([, l]) => l);
    const cs = s.classes[c];
    assert.is(cs.count, BigInt(mine.length), `${c} count`);
    assert.is(cs.sum, BigInt(mine.reduce((a, b) => a + b, 0)), `${c} sum`);
    assert.is(cs.max, BigInt(mine.reduce((a, b) => Math.max(a, b), 0)), `${c} max`);
    const want = new Map<number, number>();
    for (const l of mine) want.set(bucketLow(bucketOf(l)), (want.get(bucketLow(bucketOf(l))) ?? 0) + 1);
    assert.equal(cs.histogram, [...want].sort((a, b) => a[0] - b[0]), `${c} histogram`);
    total += cs.sum;
  }
  assert.is(total, BigInt(expected.reduce((a, [, l]) => a + l, 0)), "class sums add up to the total latency");
}

test("latency classes: a trace through every class, counted once each, histograms exact", () => {
  // 5-level second stage: SAGAW 3/4/5 levels, MGAW 57 bits
  const cap = setField(setField(DEFAULT_CAP, capFields.SAGAW, 0xen), capFields.MGAW, 56n);
  const p = platform({ cap, caches: { deviceTlb: { enable: false } } });
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "ss", levels: 5 });
  b.createDomain({ id: 9, type: "pt" });
  const A = 0x1000_0000n;
  b.map(d, A, 0x2_0000_0000n, K4, { write: false });
  b.map(d, A + M2, 0x2_1000_0000n, K4);
  b.map(d, A + G1, 0x2_2000_0000n, K4);
  b.map(d, A + G512, 0x2_3000_0000n, K4);
  b.attach({ sid: 0x10, domain: 1, ats: true });
  b.attach({ sid: 0x30, domain: 9 });
  p.enable();
  const trace: [Request, ClassName, number][] = [
    // cold 5-level: 139 + probes 11 + 13 + 17 + 41 + reads 505 + 404 + 303 + 202 + 101 = 1736
    [{ op: "MRd", sid: 0x10, addr: A }, "fullWalk", 1736],
    [{ op: "MRd", sid: 0x10, addr: A }, "iotlbHit", 15],
    [{ op: "ATS", sid: 0x10, addr: A }, "iotlbHit", 15],
    [{ op: "MRd", sid: 0x10, addr: A + 4n }, "iotlbHit", 15],
    // not present next to A: 15 + PDE hit 11 + L1 101 = 127
    [{ op: "MRd", sid: 0x10, addr: A + K4 }, "fault", 127],
    // write to the read-only page, from the IOTLB: 15
    [{ op: "MWr", sid: 0x10, addr: A }, "fault", 15],
    // PDPE hit: 15 + 11 + 13 + 202 + 101 = 342
    [{ op: "MRd", sid: 0x10, addr: A + M2 }, "pdpeHit", 342],
    // PML4E hit: 15 + 11 + 13 + 17 + 303 + 202 + 101 = 662
    [{ op: "MRd", sid: 0x10, addr: A + G1 }, "pml4eHit", 662],
    // PML5E hit: 15 + 82 + 1010 = 1107
    [{ op: "MRd", sid: 0x10, addr: A + G512 }, "pml5eHit", 1107],
    // the same page again: an IOTLB hit, 15
    [{ op: "MRd", sid: 0x10, addr: A + G512 + 0x800n }, "iotlbHit", 15],
    // pass-through: cold 3 + 62 + 5 + 62 = 132, warm 8
    [{ op: "MRd", sid: 0x30, addr: 0x9000n }, "other", 132],
    [{ op: "MWr", sid: 0x30, addr: 0x9000n }, "other", 8],
    // translated request (DTE=1, no device-TLB): context lookup only
    [{ op: "MRd", sid: 0x10, addr: 0x2_0000_0000n, translated: true }, "other", 3],
  ];
  const results: Result[] = [];
  trace.forEach(([r], i) => results.push(p.translateOne({ ...r, time: BigInt(i) * 10_000n })));
  assert.equal(results.map((r) => r.latency), trace.map(([, , l]) => l), "latencies");
  assert.equal(results.map((r) => r.status === "fault"), trace.map(([, c]) => c === "fault"), "faults");
  checkClasses(p.core.timingStats()!, trace.map(([, c, l]) => [c, l]));
});

test("latency classes: a PDE hit, a nested walk, back-to-back requests (latencies from the results)", () => {
  const p = platform();
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "ss" });
  b.map(d, 0x1000_0000n, 0x2_0000_0000n, 8n * K4);
  b.attach({ sid: 0x10, domain: 1 });
  p.enable();
  // cold 1190, then 7 PDE hits and 8 IOTLB hits, all at cycle 0: contention changes the latencies,
  // not the classes
  const reqs: Request[] = [];
  for (let i = 0; i < 8; i++) reqs.push({ op: "MRd", sid: 0x10, addr: 0x1000_0000n + BigInt(i) * K4, time: 0n });
  for (let i = 0; i < 8; i++) reqs.push({ op: "MRd", sid: 0x10, addr: 0x1000_0000n + BigInt(i) * K4, time: 0n });
  const rs = p.translate(reqs);
  const classes: ClassName[] = ["fullWalk", ...Array(7).fill("pdeHit"), ...Array(8).fill("iotlbHit")];
  assert.is(rs[0]!.latency, 1190);
  checkClasses(p.core.timingStats()!, rs.map((r, i) => [classes[i]!, r.latency]));
});

test("latency histogram edges: exact to 4095, then 16-cycle buckets from 4096, 2^26-cycle ones from 2^34; nothing clipped", () => {
  const M = 0xffffffff;
  // 139 + 41 + the four reads of a 4-level walk
  for (const [reads, latency, low] of [
    [[1000, 1000, 1000, 915, 0], 4095, 4095],
    [[1000, 1000, 1000, 916, 0], 4096, 4096],
    [[1000, 1000, 1000, 931, 0], 4111, 4096],
    [[1000, 1000, 1000, 932, 0], 4112, 4112],
    [[5000, 1000, 1000, 931, 0], 8111, 8096], // [8096, 8111]: 2^12 + 250 x 16
    // 180 + 4 x (2^32 - 1) = 2^34 + 176: bucket [2^34, 2^34 + 2^26 - 1]
    [[M, M, M, M, 0], 17179869360, 17179869184],
  ] as [[number, number, number, number, number], number, number][]) {
    const p = platform({ timing: { readLatencyCycles: reads } });
    const d = p.builder.createDomain({ id: 1, type: "ss" });
    p.builder.map(d, 0x1000_0000n, 0x2_0000_0000n, K4);
    p.builder.attach({ sid: 0x10, domain: 1 });
    p.enable();
    const r = p.translateOne({ op: "MRd", sid: 0x10, addr: 0x1000_0000n });
    assert.is(r.latency, Math.min(latency, M), "the result record's latency is a u32");
    const s = p.core.timingStats()!;
    const h = s.classes.fullWalk;
    assert.equal([h.count, h.sum, h.max], [1n, BigInt(latency), BigInt(latency)], `${latency}: count, sum and max exact`);
    assert.equal(h.histogram, [[low, 1]], `${latency} in the bucket from ${low}`);
    if (latency < 2 ** 32) checkClasses(s, [["fullWalk", latency]]);
  }
});

// ---- invalidation cycles ---------------------------------------------------------------------------

const FETCH = 7, PER_ENTRY = 3, WAIT = 11;
const STATUS = 0x7_0000_0000n;

function invPlatform(): { p: VtdPlatform; q: InvalidationQueue; inv: () => bigint; removed: () => bigint } {
  const p = platform({ timing: { invDescriptorFetchCycles: FETCH, invPerEntryCycles: PER_ENTRY, invWaitCycles: WAIT } });
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "ss" });
  b.map(d, 0x1000_0000n, 0x2_0000_0000n, 2n * K4);
  b.attach({ sid: 0x10, domain: 1 });
  p.enable();
  p.core.zeroPage(STATUS);
  const q = new InvalidationQueue(p.core, p.alloc);
  const inv = () => p.core.timingStats()!.invalidationCycles;
  const removed = () => Object.values(p.core.cacheStats()).reduce((a, c) => a + c.invalidations, 0n);
  return { p, q, inv, removed };
}

/** A cold walk: fills the context cache (1), the PASID cache (1), the IOTLB (1), the SS PDE, PDPE and PML4E caches (1 each). */
function warm(p: VtdPlatform, time = 0n): void {
  const r = p.translateOne({ op: "MRd", sid: 0x10, addr: 0x1000_0000n, time });
  assert.is(r.status, "ok");
}

test("invalidation cycles: fetches x 7 + entries removed x 3 + waits x 11", () => {
  const { p, q, inv, removed } = invPlatform();
  warm(p);
  assert.is(inv(), 0n);
  // 4 descriptors; removed: context 1 + PASID 1 + IOTLB 1 + SS PWC 3 = 6; 1 wait
  //   4 x 7 + 6 x 3 + 1 x 11 = 28 + 18 + 11 = 57
  q.submit([desc.context(1), desc.pasidCache(3), desc.iotlb(1), desc.wait(STATUS, 1)]);
  assert.is(inv(), 57n);
  // nothing left to remove: 3 x 7 + 0 + 2 x 11 = 43 -> 100
  q.submit([desc.iotlb(1), desc.wait(STATUS, 2), desc.wait()]);
  assert.is(inv(), 100n);
  // warm again (cacheStats() is brought up to date by a translation: 6 removed so far), then a
  // page-selective IOTLB invalidation with IH=1 (PWC kept): 1 entry
  //   2 x 7 + 1 x 3 + 1 x 11 = 28 -> 128
  warm(p, 100_000n);
  assert.is(removed(), 6n);
  q.submit([desc.iotlb(3, 1, 0x1000_0000n, 0, true), desc.wait(STATUS, 3)]);
  assert.is(inv(), 128n);
  // IH=0: the IOTLB entry is gone already; the three SS PWC entries covering the page go:
  //   1 x 7 + 3 x 3 = 16 -> 144
  q.submit([desc.iotlb(3, 1, 0x1000_0000n, 0, false)]);
  assert.is(inv(), 144n);
  // a domain-selective invalidation of another domain removes nothing: 7 -> 151
  q.submit([desc.iotlb(2, 2)]);
  assert.is(inv(), 151n);
  // the caches' own counters agree once synced: 6 + 1 + 3 = 10 removed
  warm(p, 200_000n);
  assert.is(removed(), 10n);
});

test("invalidation cycles: a queue error charges the descriptors fetched up to the bad one", () => {
  const { p, q, inv } = invPlatform();
  warm(p);
  // a wait, then a descriptor of type 9 (invalid): 2 fetched, 0 removed, 1 wait: 14 + 11 = 25
  const bad: Descriptor = [9n, 0n];
  q.submit([desc.wait(STATUS, 1), bad]);
  assert.ok(q.error, "the queue stopped");
  assert.is(inv(), 25n);
  // the bad descriptor replaced by a global IOTLB invalidation: 1 fetched, IOTLB 1 + PWC 3 removed
  //   7 + 4 x 3 = 19 -> 44
  q.replaceHeadAndResume(desc.iotlb(1));
  assert.is(q.error, undefined);
  assert.is(inv(), 44n);
});

test("invalidation cycles: translations are not held back by invalidation work", () => {
  const { p, q, inv } = invPlatform();
  warm(p);
  q.submit([desc.context(1), desc.pasidCache(3), desc.iotlb(1), desc.wait(STATUS, 1)]);
  assert.is(inv(), 57n);
  // a cold walk again at 10 000: the same 1190 as before the invalidation
  const r = p.translateOne({ op: "MRd", sid: 0x10, addr: 0x1000_0000n, time: 10_000n });
  assert.is(r.latency, 1190);
});

test.run();
