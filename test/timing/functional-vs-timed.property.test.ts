/**
 * The timing model only times; it never changes a translation. Property-based (fast-check, fixed
 * seed by default so the traces are deterministic; FC_SEED / FC_PATH to replay another):
 *
 * Three platforms built identically run the same random trace of driver operations (map, unmap
 * with or without the invalidations) and DMA (reads, writes, ATS translation requests, translated
 * requests through the device-TLB, pass-through, faults of many kinds) over second-stage,
 * first-stage and nested domains (scalable mode) or second-stage domains (legacy mode):
 *
 *   functional  timing: false
 *   timed       random resources (walker slots, translation slots, ports, coalescing, completion
 *               order, lookup latencies) and random arrival gaps, often 0: contention everywhere
 *   spaced      the same timing parameters, requests 2^20 cycles apart: each request alone on an
 *               idle IOMMU with the same cache state (the no-contention latency)
 *
 * 1. Every Result field except issue/latency, the run counters, the cache counters, the walk reads
 *    by level and the fault counts are identical in all three; the functional run has latency 0.
 * 2. Timed latencies are never below the spaced (no-contention) latency of the same request.
 * 3. Timing statistics: every request counted once, in the same class in both timed runs; class
 *    sums add up to the total latency; the histograms hold exactly the result latencies; the
 *    fault class counts the faults; invalidation cycles are the same in both timed runs.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { VtdPlatform, type PlatformOptions } from "../../src/platform.ts";
import type { Request, Result } from "../../src/core/core.ts";
import type { Domain } from "../../src/arch/vtd/builder.ts";
import type { TimingConfig } from "../../src/config/timing.ts";
import { InvalidationQueue, desc, type Descriptor } from "../../src/arch/vtd/invalidation.ts";
import { latencyClassNames } from "../../src/core/abi.ts";
import { bucketLow, bucketOf } from "../../src/core/histogram.ts";
import { Prng } from "../../src/util/prng.ts";
import { distinctCaches, distinctTiming, functional, hex, K4 } from "./helpers.ts";

const params = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns,
  includeErrorInReport: true,
  seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : 0x7157,
  ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
});

const STATUS = 0x7_0000_0000n;
const SPACING = 1n << 20n;
// IOVA slots over the paging-structure-cache levels: two in one 2 MiB region, another 2 MiB,
// another 1 GiB, another 512 GiB, and one more page next to the first two.
const SLOTS = [0x10_0000n, 0x10_1000n, 0x60_0000n, 0x4000_0000n, 0x80_0000_0000n, 0x10_5000n];
const NSLOT = SLOTS.length;

interface DomSpec {
  kind: "ss" | "fs" | "nested" | "pt" | "none";
  did: number;
  sid: number;
  pasid?: number;
  ats: boolean;
  /** Output page of slot i (a GPA under nesting; slot 5's is not mapped in the parent). */
  pa(i: number): bigint;
}
const SCALABLE: DomSpec[] = [
  { kind: "ss", did: 1, sid: 0x10, ats: true, pa: (i) => 0x1_0000_0000n + BigInt(i) * K4 },
  { kind: "fs", did: 2, sid: 0x20, pasid: 3, ats: true, pa: (i) => 0x2_0000_0000n + BigInt(i) * K4 },
  { kind: "nested", did: 4, sid: 0x20, pasid: 4, ats: true, pa: (i) => (i === NSLOT - 1 ? 0x5000_0000n : 0x4000_0000n + BigInt(i) * K4) },
  { kind: "pt", did: 9, sid: 0x30, ats: false, pa: () => 0n },
  { kind: "none", did: 0, sid: 0x48, ats: false, pa: () => 0n }, // not attached: context faults
];
const LEGACY: DomSpec[] = [
  { kind: "ss", did: 1, sid: 0x10, ats: true, pa: (i) => 0x1_0000_0000n + BigInt(i) * K4 },
  { kind: "ss", did: 3, sid: 0x18, ats: false, pa: (i) => 0x3_0000_0000n + BigInt(i) * K4 },
  { kind: "pt", did: 9, sid: 0x30, ats: false, pa: () => 0n },
  { kind: "none", did: 0, sid: 0x48, ats: false, pa: () => 0n },
];

type Op =
  | { t: "req"; dom: number; slot: number; op: "MRd" | "MWr" | "ATS"; translated: boolean; priv: boolean; off: number; gap: number; repeat: number }
  | { t: "toggle"; dom: number; slot: number; inv: boolean };

interface Knobs {
  legacy: boolean;
  walkerSlots: number;
  translationSlots: number;
  ports: number;
  coalesce: boolean;
  inOrder: boolean;
  zeroLookups: boolean;
  smallCaches: boolean;
}

class World {
  readonly p: VtdPlatform;
  readonly q: InvalidationQueue;
  readonly doms: DomSpec[];
  readonly domains = new Map<number, Domain>();
  readonly mapped: boolean[][];
  private data = 1;

  constructor(k: Knobs, timing: Partial<TimingConfig> | false) {
    const caches: PlatformOptions["caches"] = {};
    for (const [n, c] of Object.entries(distinctCaches)) {
      (caches as Record<string, object>)[n] = { ...c, ports: k.ports, ...(k.zeroLookups ? { latencyCycles: 0 } : {}) };
    }
    if (k.smallCaches) Object.assign(caches, { iotlb: { ...caches.iotlb, entries: 8, assoc: 2 }, pwcSsPde: { ...caches.pwcSsPde, entries: 2, assoc: 1 }, pwcFsPde: { ...caches.pwcFsPde, entries: 2, assoc: 1 }, deviceTlb: { entries: 4, assoc: 2 } });
    this.p = new VtdPlatform({ build: "release", mode: k.legacy ? "legacy" : "scalable", caches, timing });
    this.doms = k.legacy ? LEGACY : SCALABLE;
    const b = this.p.builder;
    let parent: Domain | undefined;
    for (const d of this.doms) {
      if (d.kind === "none") continue;
      if (d.kind === "nested") {
        parent = b.createDomain({ id: 5, type: "ss" });
        b.map(parent, 0x4000_0000n, 0x6_0000_0000n, BigInt(NSLOT - 1) * K4);
      }
      const dom = b.createDomain({ id: d.did, type: d.kind, ...(d.kind === "nested" ? { parent: 5 } : {}) });
      this.domains.set(d.did, dom);
      b.attach({ sid: d.sid, domain: d.did, ats: d.ats, ...(d.pasid !== undefined ? { pasid: d.pasid } : {}) });
    }
    // slots 0..3 mapped (1 read-only, 2 supervisor-only for first stage), 4 and 5 not
    this.mapped = this.doms.map(() => Array(NSLOT).fill(false));
    this.doms.forEach((d, di) => {
      if (d.kind === "pt" || d.kind === "none") return;
      for (let i = 0; i < 4; i++) this.map(di, i, i !== 1, i !== 2);
    });
    this.p.enable();
    this.p.core.zeroPage(STATUS);
    this.q = new InvalidationQueue(this.p.core, this.p.alloc);
  }

  private map(di: number, slot: number, write: boolean, user: boolean): void {
    const d = this.doms[di]!;
    this.p.builder.map(this.domains.get(d.did)!, SLOTS[slot]!, d.pa(slot), K4, { write, user });
    this.mapped[di]![slot] = true;
  }

  toggle(di: number, slot: number, inv: boolean): void {
    const d = this.doms[di]!;
    if (d.kind === "pt" || d.kind === "none") return;
    if (!this.mapped[di]![slot]) return this.map(di, slot, true, true);
    this.p.builder.unmap(this.domains.get(d.did)!, SLOTS[slot]!, K4);
    this.mapped[di]![slot] = false;
    if (!inv) return;
    const iova = SLOTS[slot]!;
    const ds: Descriptor[] =
      d.pasid === undefined
        ? [desc.iotlb(3, d.did, iova, 0, false), desc.deviceTlb(d.sid, iova)]
        : [desc.pasidIotlb(3, d.did, d.pasid, iova, 0, false), desc.pasidDeviceTlb(d.sid, d.pasid, iova)];
    this.q.submit([...ds, desc.wait(STATUS, this.data++)]);
  }

  request(o: Extract<Op, { t: "req" }>, time: bigint): Request {
    const d = this.doms[o.dom]!;
    const addr = d.kind === "pt" || d.kind === "none" ? 0x9000n + BigInt(o.slot) * K4 : SLOTS[o.slot]!;
    return {
      op: o.op,
      sid: d.sid,
      ...(d.pasid !== undefined ? { pasid: d.pasid } : {}),
      addr: addr + BigInt(o.off * 8),
      priv: o.priv,
      translated: o.translated && o.op !== "ATS",
      time,
    };
  }
}

/** Runs `ops` on a world: requests in batches between driver operations; arrival by `clock`. */
function run(w: World, ops: Op[], clock: (i: number, gap: number) => bigint): Result[] {
  const out: Result[] = [];
  let batch: Request[] = [];
  const flush = () => {
    if (batch.length) out.push(...w.p.translate(batch));
    batch = [];
  };
  let n = 0;
  for (const o of ops) {
    if (o.t === "toggle") {
      flush();
      w.toggle(o.dom % w.doms.length, o.slot, o.inv);
    } else {
      // `repeat` more requests to the same page right behind (gap 0): coalescing, ports, order
      for (let j = 0; j <= o.repeat; j++) {
        const r = { ...o, dom: o.dom % w.doms.length, off: (o.off + 8 * j) % 512 };
        batch.push(w.request(r, clock(n++, j === 0 ? o.gap : 0)));
      }
    }
  }
  flush();
  return out;
}

function timingOf(k: Knobs): Partial<TimingConfig> {
  return {
    ...distinctTiming,
    walkerSlots: k.walkerSlots,
    translationSlots: k.translationSlots,
    coalesce: k.coalesce,
    completionOrder: k.inOrder ? "in-order" : "out-of-order",
    invDescriptorFetchCycles: 7,
    invPerEntryCycles: 3,
    invWaitCycles: 11,
  };
}

const tally = { runs: 0, requests: 0, faults: 0, contended: 0, ats: 0, translated: 0, coalesced: 0n, rewalks: 0n, stalls: 0n, walks: 0 };

/** The whole comparison for one trace; returns a message on the first difference. */
function check(k: Knobs, ops: Op[]): void {
  const fun = new World(k, false);
  const timed = new World(k, timingOf(k));
  const spaced = new World(k, timingOf(k));
  let at = 0n;
  const rf = run(fun, ops, () => 0n);
  const rt = run(timed, ops, (_i, gap) => (at += BigInt(gap)));
  const rs = run(spaced, ops, (i) => BigInt(i) * SPACING);
  assert.is(rt.length, rf.length);
  assert.is(rs.length, rf.length);

  // 1. functionally identical
  for (let i = 0; i < rf.length; i++) {
    const f = hex(functional(rf[i]!));
    assert.is(hex(functional(rt[i]!)), f, `request ${i}: timed result differs from functional`);
    assert.is(hex(functional(rs[i]!)), f, `request ${i}: spaced result differs from functional`);
    assert.is(rf[i]!.latency, 0);
    assert.is(rf[i]!.issue, 0n);
  }
  for (const w of [timed, spaced]) {
    assert.is(hex(w.p.core.counters()), hex(fun.p.core.counters()), "run counters");
    assert.is(hex(w.p.core.cacheStats()), hex(fun.p.core.cacheStats()), "cache counters");
    assert.is(hex(w.p.core.walkReads()), hex(fun.p.core.walkReads()), "walk reads");
    assert.is(hex([...w.p.core.faultCounts()]), hex([...fun.p.core.faultCounts()]), "fault counts");
  }
  assert.is(fun.p.core.timingStats(), undefined);

  // 2. never below the no-contention latency
  for (let i = 0; i < rt.length; i++) {
    assert.ok(rt[i]!.latency >= rs[i]!.latency, `request ${i}: timed ${rt[i]!.latency} < alone ${rs[i]!.latency} (${hex(rt[i])})`);
    assert.is(rs[i]!.issue, BigInt(i) * SPACING);
  }

  // 3. statistics
  const st = timed.p.core.timingStats()!;
  const ss = spaced.p.core.timingStats()!;
  for (const [s, rr] of [[st, rt], [ss, rs]] as const) {
    assert.is(s.timed, BigInt(rr.length));
    let count = 0n, sum = 0n;
    const hist = new Map<number, number>();
    for (const c of latencyClassNames) {
      const cs = s.classes[c];
      count += cs.count;
      sum += cs.sum;
      let inClass = 0n;
      for (const [low, n] of cs.histogram) {
        hist.set(low, (hist.get(low) ?? 0) + n);
        inClass += BigInt(n);
      }
      assert.is(inClass, cs.count, `${c}: histogram = count`);
    }
    assert.is(count, BigInt(rr.length), "one class per request");
    assert.is(sum, rr.reduce((a, r) => a + BigInt(r.latency), 0n), "class sums = total latency");
    const want = new Map<number, number>();
    for (const r of rr) want.set(bucketLow(bucketOf(r.latency)), (want.get(bucketLow(bucketOf(r.latency))) ?? 0) + 1);
    assert.is(hex([...hist].sort((a, b) => a[0] - b[0])), hex([...want].sort((a, b) => a[0] - b[0])), "histogram = result latencies");
    assert.is(s.classes.fault.count, BigInt(rr.filter((r) => r.status === "fault").length), "fault class");
    const maxAll = latencyClassNames.reduce((m, c) => (s.classes[c].max > m ? s.classes[c].max : m), 0n);
    assert.is(maxAll, BigInt(rr.reduce((m, r) => Math.max(m, r.latency), 0)), "max");
  }
  for (const c of latencyClassNames) assert.is(st.classes[c].count, ss.classes[c].count, `${c}: same class in both timed runs`);
  assert.is(st.invalidationCycles, ss.invalidationCycles, "invalidation cycles");
  assert.is(ss.stallCycles, 0n, "spaced: no stall");
  assert.is(ss.coalesced, 0n, "spaced: nothing in flight to coalesce with");
  assert.is(ss.rewalks, 0n);

  tally.runs++;
  tally.requests += rt.length;
  tally.faults += rt.filter((r) => r.status === "fault").length;
  tally.contended += rt.filter((r, i) => r.latency > rs[i]!.latency).length;
  tally.ats += rt.filter((r) => r.atc).length;
  tally.translated += ops.filter((o) => o.t === "req" && o.translated).length;
  tally.coalesced += st.coalesced;
  tally.rewalks += st.rewalks;
  tally.stalls += st.stallCycles;
  tally.walks += rt.filter((r) => r.reads > 0).length;
}

const knobsArb: fc.Arbitrary<Knobs> = fc.record({
  legacy: fc.nat(3).map((n) => n === 0),
  walkerSlots: fc.integer({ min: 1, max: 4 }),
  translationSlots: fc.integer({ min: 1, max: 8 }),
  ports: fc.integer({ min: 1, max: 2 }),
  coalesce: fc.boolean(),
  inOrder: fc.boolean(),
  zeroLookups: fc.nat(3).map((n) => n === 0),
  smallCaches: fc.boolean(),
});
const gapArb = fc.constantFrom(0, 0, 0, 1, 2, 5, 40, 700, 5000);
const slotArb = fc.oneof({ weight: 4, arbitrary: fc.nat(1) }, { weight: 3, arbitrary: fc.nat(NSLOT - 1) });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      t: fc.constant("req" as const),
      dom: fc.nat(4),
      slot: slotArb,
      op: fc.constantFrom("MRd" as const, "MRd" as const, "MWr" as const, "ATS" as const),
      translated: fc.nat(4).map((n) => n === 0),
      priv: fc.nat(4).map((n) => n === 0),
      off: fc.nat(511),
      gap: gapArb,
      repeat: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("toggle" as const), dom: fc.nat(2), slot: slotArb, inv: fc.boolean() }) },
);

test("functional vs timed: identical translations and counters; timed >= alone; statistics exact", () => {
  fc.assert(
    fc.property(knobsArb, fc.array(opArb, { minLength: 20, maxLength: 80 }), (k, ops) => check(k, ops)),
    params(40),
  );
  if (process.env.TIMING_TALLY) console.log(tally);
  // not vacuous
  assert.ok(tally.runs >= 40);
  assert.ok(tally.faults > 50, `faults ${tally.faults}`);
  assert.ok(tally.contended > 100, `requests slowed by contention ${tally.contended}`);
  assert.ok(tally.translated > 20, `translated ${tally.translated}`);
  assert.ok(tally.ats > 5, `through the device-TLB ${tally.ats}`);
  assert.ok(tally.coalesced > 20n, `coalesced ${tally.coalesced}`);
  assert.ok(tally.rewalks > 20n, `rewalks ${tally.rewalks}`);
  assert.ok(tally.stalls > 0n);
});

test("functional vs timed: a long deterministic trace (mulberry32) under heavy contention", () => {
  const g = new Prng(2024);
  const ops: Op[] = [];
  for (let i = 0; i < 1500; i++) {
    if (g.int(20) === 0) ops.push({ t: "toggle", dom: g.int(3), slot: g.int(NSLOT), inv: g.int(3) !== 0 });
    else
      ops.push({
        t: "req",
        dom: g.int(5),
        slot: g.int(3) === 0 ? g.int(NSLOT) : g.int(2),
        op: g.pick(["MRd", "MRd", "MWr", "ATS"] as const),
        translated: g.int(5) === 0,
        priv: g.int(5) === 0,
        off: g.int(512),
        gap: g.pick([0, 0, 0, 1, 3, 50]),
        repeat: g.int(4) === 0 ? 1 + g.int(3) : 0,
      });
  }
  for (const k of [
    { legacy: false, walkerSlots: 2, translationSlots: 4, ports: 1, coalesce: true, inOrder: true, zeroLookups: false, smallCaches: true },
    { legacy: false, walkerSlots: 1, translationSlots: 2, ports: 1, coalesce: false, inOrder: false, zeroLookups: true, smallCaches: false },
    { legacy: true, walkerSlots: 3, translationSlots: 8, ports: 2, coalesce: true, inOrder: false, zeroLookups: false, smallCaches: true },
  ])
    check(k, ops);
});

test.run();
