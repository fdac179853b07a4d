/**
 * Timing model resources (assembly/timing/model.ts), each isolated so that it alone decides the
 * latencies, every number computed by hand:
 *
 * - walker slots: back-to-back misses (all at cycle 0, or at a fixed rate) complete at W per walk
 *   latency L; with one slot they serialise;
 * - translation slots: requests beyond X wait (stall cycles, peak outstanding);
 * - cache ports: a second lookup in the same cycle starts one cycle later;
 * - completion order: in order per requester holds a hit behind an older miss of the same
 *   requester only;
 * - coalescing: N misses to one page cost one walk (on) or N walks of walker time (off).
 *
 * Walker-bound set-up: no caches at all (or 0-cycle 16-port lookups and no paging-structure
 * caches), structure reads 0 cycles, paging reads 25 cycles: every request is one 4-level walk of
 * L = 4 x 25 = 100 cycles and nothing else costs time.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Request, Result } from "../../src/core/core.ts";
import type { PlatformOptions, VtdPlatform } from "../../src/platform.ts";
import type { TimingConfig } from "../../src/config/timing.ts";
import { platform, withoutPwc, K4, G512 } from "./helpers.ts";

const L = 100;
const PAGES = 0x1000_0000n;

/** A second-stage domain with `pages` 4 KiB pages at PAGES, device 0x10. */
function walkBound(timing: Partial<TimingConfig>, cachesOn: boolean, pages = 32): VtdPlatform {
  const caches: PlatformOptions["caches"] = cachesOn
    ? {
        ...withoutPwc(),
        contextCache: { latencyCycles: 0, ports: 16 },
        pasidCache: { latencyCycles: 0, ports: 16 },
        iotlb: { latencyCycles: 0, ports: 16 },
      }
    : "off";
  const p = platform({
    caches,
    timing: { structureReadLatencyCycles: 0, readLatencyCycles: L / 4, translationSlots: 4096, walkerSlots: 4096, ...timing },
  });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, PAGES, 0x2_0000_0000n, BigInt(pages) * K4);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  return p;
}

/** `n` reads of distinct pages, request i arriving at `arrival(i)`. */
function misses(n: number, arrival: (i: number) => number): Request[] {
  return Array.from({ length: n }, (_, i) => ({ op: "MRd" as const, sid: 0x10, addr: PAGES + BigInt(i) * K4, time: BigInt(arrival(i)) }));
}

const completions = (rs: Result[]) => rs.map((r) => Number(r.issue) + r.latency);

// ---- walker slots -------------------------------------------------------------------------------

for (const cachesOn of [false, true]) {
  const how = cachesOn ? "0-cycle lookups, IOTLB misses" : "no caches";
  test(`walker saturation (${how}): 12 misses at cycle 0 complete W per ${L} cycles`, () => {
    for (const W of [1, 2, 3, 4, 5]) {
      for (const order of ["in-order", "out-of-order"] as const) {
        const p = walkBound({ walkerSlots: W, completionOrder: order }, cachesOn);
        const rs = p.translate(misses(12, () => 0));
        assert.ok(rs.every((r) => r.status === "ok"));
        // request i waits for floor(i / W) earlier walks on its slot: done = (floor(i / W) + 1) x 100
        assert.equal(completions(rs), rs.map((_, i) => (Math.floor(i / W) + 1) * L), `W=${W} ${order}`);
        // W translations per 100 cycles: within [0, k x 100] exactly min(12, k W) have completed
        for (let k = 1; k <= 12; k++)
          assert.is(completions(rs).filter((c) => c <= k * L).length, Math.min(12, k * W), `W=${W}: done by ${k * L}`);
        const s = p.core.timingStats()!;
        assert.is(s.walkerBusyCycles, 12n * BigInt(L), "12 walks of 100 cycles");
        assert.is(s.lastCompletion, BigInt(Math.ceil(12 / W) * L));
        assert.is(s.stallCycles, 0n);
      }
    }
  });
}

test("walker, one slot: completions serialise (100, 200, ..., 1200)", () => {
  const p = walkBound({ walkerSlots: 1 }, false);
  const rs = p.translate(misses(12, () => 0));
  assert.equal(completions(rs), [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200]);
  assert.equal(rs.map((r) => r.latency), [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200]);
});

test("walker, fixed rate: one miss every 10 cycles, 2 slots: 2 per 100 cycles", () => {
  const p = walkBound({ walkerSlots: 2 }, false);
  const rs = p.translate(misses(10, (i) => 10 * i));
  // request 2k starts at 100k (its slot frees then; it arrived at 20k <= 100k): done 100k + 100
  // request 2k+1 starts at max(20k + 10, 100k + 10) = 100k + 10: done 100k + 110
  assert.equal(completions(rs), [100, 110, 200, 210, 300, 310, 400, 410, 500, 510]);
  // latency = done - 10 i
  assert.equal(rs.map((r) => r.latency), [100, 100, 180, 180, 260, 260, 340, 340, 420, 420]);
});

test("walker, fixed rate below capacity: one miss every 60 cycles, 2 slots: no queueing", () => {
  const p = walkBound({ walkerSlots: 2 }, false);
  const rs = p.translate(misses(8, (i) => 60 * i));
  // a slot is free again 100 cycles after its walk started; 2 slots take one every 50 cycles > rate
  assert.ok(rs.every((r) => r.latency === L));
});

// ---- translation slots ----------------------------------------------------------------------------

test("translation slots: 10 misses at cycle 0, 3 slots: waits of 0, 100, 200, 300 cycles", () => {
  const p = walkBound({ translationSlots: 3 }, false);
  const rs = p.translate(misses(10, () => 0));
  // request i starts at floor(i / 3) x 100 and takes 100
  assert.equal(rs.map((r) => r.latency), [100, 100, 100, 200, 200, 200, 300, 300, 300, 400]);
  const s = p.core.timingStats()!;
  // stall = 3 x 0 + 3 x 100 + 3 x 200 + 1 x 300 = 1200
  assert.is(s.stallCycles, 1200n);
  assert.is(s.peakOutstanding, 3n);
  assert.is(s.lastCompletion, 400n);
});

test("translation slots: 1 slot serialises (stall 0 + 100 + ... + 900 = 4500), peak 1", () => {
  const p = walkBound({ translationSlots: 1 }, false);
  const rs = p.translate(misses(10, () => 0));
  assert.equal(rs.map((r) => r.latency), [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  const s = p.core.timingStats()!;
  assert.is(s.stallCycles, 4500n);
  assert.is(s.peakOutstanding, 1n);
});

test("translation slots: enough for all: no stall, peak = requests in flight", () => {
  const p = walkBound({ translationSlots: 16 }, false);
  p.translate(misses(10, () => 0));
  let s = p.core.timingStats()!;
  assert.is(s.stallCycles, 0n);
  assert.is(s.peakOutstanding, 10n);
  // one every 30 cycles, each 100 cycles long: at arrival i, requests i-3, i-2, i-1 are still in
  // flight (30 j + 100 > 30 i  <=>  j > i - 10/3): peak 4
  const q = walkBound({ translationSlots: 16 }, false);
  q.translate(misses(10, (i) => 30 * i));
  s = q.core.timingStats()!;
  assert.is(s.stallCycles, 0n);
  assert.is(s.peakOutstanding, 4n);
});

// ---- cache ports ------------------------------------------------------------------------------------

/** Three devices warmed on one page (IOTLB hits later), distinct latencies, ports from `ports`. */
function portsPlatform(ports: { ctx: number; pasid: number; iotlb: number }): VtdPlatform {
  const p = platform({
    caches: {
      contextCache: { latencyCycles: 3, ports: ports.ctx },
      pasidCache: { latencyCycles: 5, ports: ports.pasid },
      iotlb: { latencyCycles: 7, ports: ports.iotlb },
    },
  });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, PAGES, 0x2_0000_0000n, K4);
  for (const sid of [0x10, 0x11, 0x12]) p.builder.attach({ sid, domain: 1 });
  p.enable();
  const warm = p.translate([0x10, 0x11, 0x12].map((sid, i) => ({ op: "MRd" as const, sid, addr: PAGES, time: BigInt(i * 20_000) })));
  // 1190 cold; then ctx miss 3 + 62 + PASID miss 5 + 62 + IOTLB hit 7 = 139 (the IOTLB is per domain)
  assert.equal(warm.map((r) => r.latency), [1190, 139, 139]);
  return p;
}

const T = 100_000n;
const hitsAtT = (): Request[] => [0x10, 0x11, 0x12].map((sid) => ({ op: "MRd" as const, sid, addr: PAGES, time: T }));

test("ports: 1 port everywhere, three hits in one cycle: 15, 16, 17", () => {
  const p = portsPlatform({ ctx: 1, pasid: 1, iotlb: 1 });
  const rs = p.translate(hitsAtT());
  // A: ctx T..T+3, PASID T+3..T+8, IOTLB T+8..T+15                   -> 15
  // B: ctx port busy at T: T+1..T+4, PASID T+4..T+9, IOTLB T+9..T+16 -> 16
  // C: ctx busy at T, T+1: T+2..T+5, PASID T+5..T+10, IOTLB ..T+17   -> 17
  assert.equal(rs.map((r) => r.latency), [15, 16, 17]);
  assert.ok(rs.every((r) => r.issue === T));
});

test("ports: 2 context-cache ports move the conflict to the 1-port PASID cache", () => {
  const p = portsPlatform({ ctx: 2, pasid: 1, iotlb: 1 });
  const rs = p.translate(hitsAtT());
  // A: 15. B: ctx T..T+3 (second port), PASID busy at T+3 (A): T+4..T+9, IOTLB T+9..T+16 -> 16
  // C: ctx both ports busy at T: T+1..T+4, PASID busy at T+4 (B): T+5..T+10, IOTLB ..T+17 -> 17
  assert.equal(rs.map((r) => r.latency), [15, 16, 17]);
});

test("ports: 2 ports everywhere: two lookups per cycle, the third a cycle later: 15, 15, 16", () => {
  const p = portsPlatform({ ctx: 2, pasid: 2, iotlb: 2 });
  const rs = p.translate(hitsAtT());
  assert.equal(rs.map((r) => r.latency), [15, 15, 16]);
});

test("ports: 3 ports everywhere: no conflict", () => {
  const p = portsPlatform({ ctx: 3, pasid: 3, iotlb: 3 });
  assert.equal(p.translate(hitsAtT()).map((r) => r.latency), [15, 15, 15]);
});

// ---- completion order ------------------------------------------------------------------------------

/**
 * Devices 0x10 and 0x11 in one domain, warm on page A (context, PASID, IOTLB, the PWC of A's
 * region); page S in another 512 GiB region (a walk with every probe missing).
 */
const A = 0x1000_0000n;
const S = 0x1000_0000n + G512;
function orderPlatform(order: "in-order" | "out-of-order"): VtdPlatform {
  const p = platform({ timing: { completionOrder: order } });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, A, 0x2_0000_0000n, 4n * K4);
  p.builder.map(d, S, 0x3_0000_0000n, K4);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.builder.attach({ sid: 0x11, domain: 1 });
  p.enable();
  const warm = p.translate([
    { op: "MRd", sid: 0x10, addr: A, time: 0n },
    { op: "MRd", sid: 0x11, addr: A, time: 20_000n },
  ]);
  assert.equal(warm.map((r) => r.latency), [1190, 139]);
  return p;
}

test("completion order: a hit waits for an older miss of its requester in order only; other requesters never", () => {
  for (const order of ["in-order", "out-of-order"] as const) {
    const p = orderPlatform(order);
    const rs = p.translate([
      // slow miss: 15 + probes 11 + 13 + 17 (all miss) + 1010 = 1066, done T+1066
      { op: "MRd", sid: 0x10, addr: S, time: T },
      // same requester, hit: ctx T+1..T+4, PASID T+4..T+9, IOTLB T+9..T+16: 15 alone;
      // in order it completes with the miss at T+1066: latency 1065
      { op: "MRd", sid: 0x10, addr: A, time: T + 1n },
      // other requester, hit: ctx T+2..T+5, PASID T+5..T+10, IOTLB T+10..T+17: 15 either way
      { op: "MRd", sid: 0x11, addr: A, time: T + 2n },
    ]);
    assert.equal(rs.map((r) => r.latency), order === "in-order" ? [1066, 1065, 15] : [1066, 15, 15], order);
  }
});

test("completion order: a miss behind an older slower miss of its requester", () => {
  for (const order of ["in-order", "out-of-order"] as const) {
    const p = orderPlatform(order);
    const rs = p.translate([
      { op: "MRd", sid: 0x10, addr: S, time: T },
      // PDE hit: ctx T+1..T+4, PASID T+4..T+9, IOTLB T+9..T+16, PDE T+16..T+27, L1 read ..T+128: 127
      { op: "MRd", sid: 0x10, addr: A + K4, time: T + 1n },
    ]);
    assert.equal(rs.map((r) => r.latency), order === "in-order" ? [1066, 1065] : [1066, 127], order);
  }
});

// Suspected model bug (reported): the IOTLB entry a walk fills is marked ready at the filling
// request's completion (after its in-order wait), not at the end of the walk, so a request of
// ANOTHER requester that hits the entry inherits the first requester's ordering wait.
test("completion order: another requester's hit on an entry being filled waits for the walk, not for the filler's in-order completion", () => {
  for (const order of ["in-order", "out-of-order"] as const) {
    const p = orderPlatform(order);
    const rs = p.translate([
      { op: "MRd", sid: 0x10, addr: S, time: T }, // slow miss, done T+1066
      { op: "MRd", sid: 0x10, addr: A + K4, time: T + 1n }, // fast miss: walk ends T+128
      // 0x11 hits the entry the fast miss filled: ctx T+2..T+5, PASID T+5..T+10, IOTLB T+10..T+17,
      // then waits for that walk (coalescing) until T+128: 126
      { op: "MRd", sid: 0x11, addr: A + K4, time: T + 2n },
      // 0x11 hit: IOTLB done T+18; in order behind its own previous request (T+128): 125
      { op: "MRd", sid: 0x11, addr: A, time: T + 3n },
    ]);
    const lat = rs.map((r) => r.latency);
    assert.equal(lat.slice(0, 2), order === "in-order" ? [1066, 1065] : [1066, 127], `${order}: requester 0x10`);
    assert.equal(lat.slice(2), order === "in-order" ? [126, 125] : [126, 15], `${order}: requester 0x11 must not wait for 0x10's order`);
  }
});

// The header of model.ts says a walk holds its slot "until the request completes"; the code frees
// it when the walk ends, which is what this test expects: a request held only by in-order
// completion no longer occupies a walker (holding it would let one requester's ordering starve the
// walkers of every other requester).
test("walker slot is free when the walk ends, even while in-order completion holds the request", () => {
  for (const order of ["in-order", "out-of-order"] as const) {
    const p = platform({ timing: { completionOrder: order, walkerSlots: 2 } });
    const d = p.builder.createDomain({ id: 1, type: "ss" });
    p.builder.map(d, A, 0x2_0000_0000n, 4n * K4);
    p.builder.map(d, S, 0x3_0000_0000n, K4);
    p.builder.attach({ sid: 0x10, domain: 1 });
    p.builder.attach({ sid: 0x11, domain: 1 });
    p.enable();
    p.translate([
      { op: "MRd", sid: 0x10, addr: A, time: 0n },
      { op: "MRd", sid: 0x11, addr: A, time: 20_000n },
    ]);
    const rs = p.translate([
      // walker 0 from T+15 to T+1066
      { op: "MRd", sid: 0x10, addr: S, time: T },
      // walker 1 from T+16 to T+128 (PDE hit); in order the request completes at T+1066
      { op: "MRd", sid: 0x10, addr: A + K4, time: T + 1n },
      // lookups end at T+17; both walkers busy: walker 1 frees at T+128; PDE probe T+128..T+139,
      // L1 read ..T+240: latency 238
      { op: "MRd", sid: 0x11, addr: A + 2n * K4, time: T + 2n },
    ]);
    assert.equal(rs.map((r) => r.latency), order === "in-order" ? [1066, 1065, 238] : [1066, 127, 238], order);
  }
});

// ---- coalescing -------------------------------------------------------------------------------------

/** Four cold reads of one page at cycle 0 from one device. */
function coalescing(timing: Partial<TimingConfig>) {
  const p = platform({ timing });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, A, 0x2_0000_0000n, K4);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const rs = p.translate(Array.from({ length: 4 }, (_, i) => ({ op: "MRd" as const, sid: 0x10, addr: A + BigInt(i * 8), time: 0n })));
  assert.ok(rs.every((r) => r.status === "ok" && r.pa === 0x2_0000_0000n + BigInt(rs.indexOf(r) * 8)));
  // functionally one walk whatever the timing: 4 paging reads
  assert.equal(p.core.walkReads().ss, [1n, 1n, 1n, 1n, 0n]);
  return { lat: rs.map((r) => r.latency), s: p.core.timingStats()! };
}

// The first request: front 139 (ctx 0..3, reads, PASID 65..70, reads, IOTLB 132..139), walk from
// 139: probes 41 + reads 1010 = 1051 -> done 1190. The others hit the IOTLB entry functionally:
//   #2 ctx port busy at 0: 1..4, PASID 4..9, IOTLB 9..16
//   #3 ctx 2..5, PASID 5..10, IOTLB 10..17
//   #4 ctx 3..6, PASID 6..11, IOTLB 11..18
const WALK = 1051;

test("coalescing on: 4 misses to one page cost one walk; every latency = 1190 - 0", () => {
  for (const order of ["in-order", "out-of-order"] as const) {
    const { lat, s } = coalescing({ coalesce: true, completionOrder: order });
    assert.equal(lat, [1190, 1190, 1190, 1190], order);
    assert.is(s.coalesced, 3n);
    assert.is(s.rewalks, 0n);
    assert.is(s.walkerBusyCycles, BigInt(WALK));
  }
});

test("coalescing off, 1 walker: each repeats the walk after the previous one: 1190 + k x 1051", () => {
  const { lat, s } = coalescing({ coalesce: false, walkerSlots: 1 });
  // #2 walks 1190..2241, #3 2241..3292, #4 3292..4343
  assert.equal(lat, [1190, 2241, 3292, 4343]);
  assert.is(s.coalesced, 0n);
  assert.is(s.rewalks, 3n);
  assert.is(s.walkerBusyCycles, BigInt(4 * WALK)); // 4204
});

test("coalescing off, 4 walkers: the repeated walks overlap (16 + 1051, 17 + 1051, 18 + 1051)", () => {
  let { lat, s } = coalescing({ coalesce: false, walkerSlots: 4, completionOrder: "out-of-order" });
  assert.equal(lat, [1190, 1067, 1068, 1069]);
  assert.is(s.rewalks, 3n);
  assert.is(s.walkerBusyCycles, BigInt(4 * WALK));
  // in order, the repeated walks finish before the first: all complete with it
  ({ lat, s } = coalescing({ coalesce: false, walkerSlots: 4, completionOrder: "in-order" }));
  assert.equal(lat, [1190, 1190, 1190, 1190]);
  assert.is(s.rewalks, 3n);
});

test("coalescing: a hit after the filling walk completed waits for nothing", () => {
  const p = platform({ timing: { coalesce: true } });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, A, 0x2_0000_0000n, K4);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  // the second arrives at 1175: IOTLB lookup 1175 + 15 = 1190 = the fill's completion: no wait
  const rs = p.translate([
    { op: "MRd", sid: 0x10, addr: A, time: 0n },
    { op: "MRd", sid: 0x10, addr: A, time: 1175n },
    { op: "MRd", sid: 0x10, addr: A, time: 1174n + 2n },
  ]);
  assert.equal(rs.map((r) => r.latency), [1190, 15, 15]);
  assert.is(p.core.timingStats()!.coalesced, 0n);
  // one cycle earlier it would wait one cycle
  const q = platform({ timing: { coalesce: true } });
  const e = q.builder.createDomain({ id: 1, type: "ss" });
  q.builder.map(e, A, 0x2_0000_0000n, K4);
  q.builder.attach({ sid: 0x10, domain: 1 });
  q.enable();
  const r2 = q.translate([
    { op: "MRd", sid: 0x10, addr: A, time: 0n },
    { op: "MRd", sid: 0x10, addr: A, time: 1174n },
  ]);
  // lookups end at 1189 < 1190: waits for the walk: latency 1190 - 1174 = 16
  assert.equal(r2.map((r) => r.latency), [1190, 16]);
  assert.is(q.core.timingStats()!.coalesced, 1n);
});

test.run();
