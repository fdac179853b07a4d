// The look-ahead (abi Opt.LOOKAHEAD_SHIFT, PlatformOptions.lookAhead) is a simulator speed-up: after
// a walk, the core loads the leaf entries its hint table gives for the next requests
// (assembly/engine/prefetch.ts), which changes no state. So every result field, run counter, fault
// count, cache counter and timing statistic is the same with it on (any group size) and off, over
// a walk-heavy trace: VT-d second-stage, first-stage and nested walks, faults, requesters
// switching between address spaces, host table writes between batches (hints to pages whose
// entries changed), and a peer-to-peer window of one requester that the core routes before the
// IOMMU (abi P2pMap); SMMUv3 stage 1, stage 2 and nested walks with faults and unmaps.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform, createPlatform, DEFAULT_LOOKAHEAD, type Platform, type PlatformOptions } from "../../src/platform.ts";
import type { SmmuModule } from "../../src/arch/smmuv3/module.ts";
import { Opt } from "../../src/core/abi.ts";
import { Prng } from "../../src/util/prng.ts";
import type { Request, Result } from "../../src/core/core.ts";

function build(lookAhead: number, mode: "scalable" | "legacy", timed: boolean) {
  const p = new VtdPlatform({ mode, timing: timed ? { enable: true } : false, caches: { iotlb: { entries: 16, assoc: 4 }, pwcSsPde: { entries: 4, assoc: 2 } }, lookAhead });
  const b = p.builder;
  const ss = b.createDomain({ id: 1, type: "ss" });
  b.map(ss, 0x10_0000n, 0x8000_0000n, 512n * 4096n);
  b.map(ss, 0x4000_0000n, 0x1_0000_0000n, 0x40_0000n, { pageSize: 0x20_0000n });
  const ro = b.createDomain({ id: 2, type: "ss" });
  b.map(ro, 0x10_0000n, 0x9000_0000n, 256n * 4096n, { write: false });
  for (let dev = 0; dev < 4; dev++) b.attach({ sid: 0x100 + dev * 8, domain: dev % 2 ? 2 : 1 });
  if (mode === "scalable") {
    const fs = b.createDomain({ id: 3, type: "fs" });
    b.map(fs, 0x7f00_0000_0000n, 0xa000_0000n, 256n * 4096n);
    b.attach({ sid: 0x100, pasid: 7, domain: 3 });
    const nested = b.createDomain({ id: 4, type: "nested", parent: 1 });
    b.map(nested, 0x5000_0000n, 0x20_0000n, 64n * 4096n);
    b.attach({ sid: 0x108, pasid: 9, domain: 4 });
  }
  // 0x100's requests to 0x4000_0000-0x400f_ffff go to a peer (status p2p); the other devices' are translated.
  p.core.setP2pWindows([{ sid: 0x100, base: 0x4000_0000n, last: 0x400f_ffffn }]);
  p.enable();
  return { p, ss };
}

/** Translates `trace` on `off` and on each of `ons`: the results and every counter must be the same. */
function sameAsOff(off: Platform, ons: Platform[], trace: Request[]): Result[] {
  const want = off.translate(trace);
  for (const on of ons) {
    assert.equal(on.translate(trace), want);
    assert.equal(on.core.counters(), off.core.counters());
    assert.equal(on.core.faultCounts(), off.core.faultCounts());
    assert.equal(on.core.cacheStats(), off.core.cacheStats());
    assert.equal(on.core.timingStats(), off.core.timingStats());
  }
  return want;
}

function randomRequest(r: Prng, scalable: boolean, i: number): Request {
  const dev = r.int(4);
  const sid = 0x100 + dev * 8;
  const op = r.int(3) === 0 ? "MWr" : "MRd";
  const time = BigInt(i * 2);
  if (scalable && dev === 0 && r.int(3) === 0) return { op, sid, pasid: 7, addr: 0x7f00_0000_0000n + BigInt(r.int(300)) * 4096n, time };
  if (scalable && dev === 1 && r.int(3) === 0) return { op, sid, pasid: 9, addr: 0x5000_0000n + BigInt(r.int(80)) * 4096n, time };
  if (r.int(6) === 0) return { op, sid, addr: 0x4000_0000n + BigInt(r.int(0x40_0000)), time };
  return { op, sid, addr: 0x10_0000n + BigInt(r.int(600)) * 4096n + BigInt(r.int(64)) * 64n, time };
}

for (const mode of ["scalable", "legacy"] as const) {
  for (const timed of [false, true]) {
    test(`${mode}, ${timed ? "timed" : "functional"}: look-ahead 1, 3, 8 and 15 give the results and counters of look-ahead off`, () => {
      const off = build(0, mode, timed);
      const ons = [1, 3, 8, 15].map((k) => build(k, mode, timed));
      const r = new Prng(mode === "scalable" ? 21 : 22);
      let seq = 0;
      for (let round = 0; round < 4; round++) {
        const trace = Array.from({ length: 5000 }, () => randomRequest(r, mode === "scalable", seq++));
        sameAsOff(off.p, ons.map((on) => on.p), trace);
        // Host table changes between batches (no invalidation: stale translations).
        for (const x of [off, ...ons]) x.p.builder.unmap(x.ss, 0x10_0000n + BigInt(round * 7) * 4096n, 4096n);
      }
      const c = off.p.core.counters();
      assert.ok(c.faulted > 1000n && c.translated > 5000n, "the trace faulted and translated");
      if (mode === "scalable") assert.ok(off.p.core.walkReads().fs.reduce((a, b) => a + b) > 1000n, "the trace walked first-stage tables");
      assert.ok(off.p.core.cacheStats().iotlb.misses > 10000n, "the trace walked");
    });
  }
}

function buildSmmu(lookAhead: number, timed: boolean) {
  const p = createPlatform("smmuv3", { lookAhead, caches: { iotlb: { entries: 16, assoc: 4 } }, ...(timed ? {} : { timing: false }) } as PlatformOptions<SmmuModule>);
  const b = p.builder;
  const s1 = b.createDomain({ id: 1, type: "s1", asid: 1 });
  const s2 = b.createDomain({ id: 2, type: "s2", vmid: 1 });
  const parent = b.createDomain({ id: 3, type: "s2", vmid: 2 });
  const nested = b.createDomain({ id: 4, type: "nested", parent: 3, asid: 2 });
  b.map(s1, { iova: 0x10_0000n, pa: 0x8000_0000n, size: 512n * 4096n });
  b.map(s1, { iova: 0x4000_0000n, pa: 0x1_0000_0000n, size: 0x40_0000n, pageSize: 0x20_0000n });
  b.map(s2, { iova: 0x10_0000n, pa: 0x9000_0000n, size: 512n * 4096n });
  b.map(parent, { iova: 0x5000_0000n, pa: 0xa000_0000n, size: 128n * 4096n });
  b.map(nested, { iova: 0x10_0000n, pa: 0x5000_0000n, size: 128n * 4096n });
  b.attach({ sid: 0x10, domain: 1 });
  b.attach({ sid: 0x18, domain: 2 });
  b.attach({ sid: 0x20, domain: 4 });
  p.enable();
  return { p, s1 };
}

for (const timed of [false, true]) {
  test(`SMMUv3, ${timed ? "timed" : "functional"}: look-ahead 1, 3, 8 and 15 give the results and counters of look-ahead off`, () => {
    const off = buildSmmu(0, timed);
    const ons = [1, 3, 8, 15].map((k) => buildSmmu(k, timed));
    const r = new Prng(timed ? 31 : 32);
    let seq = 0;
    const statuses = new Map<string, number>();
    for (let round = 0; round < 4; round++) {
      const trace: Request[] = Array.from({ length: 5000 }, () => {
        const sid = [0x10, 0x18, 0x20][r.int(3)]!;
        const op = r.int(3) === 0 ? "MWr" : "MRd";
        const time = BigInt(seq++ * 2);
        // a few beyond each mapping (translation faults), and 2 MiB blocks for stage 1
        if (sid === 0x10 && r.int(5) === 0) return { op, sid, addr: 0x4000_0000n + BigInt(r.int(0x40_0000)), time };
        return { op, sid, addr: 0x10_0000n + BigInt(r.int(sid === 0x20 ? 140 : 540)) * 4096n + BigInt(r.int(64)) * 64n, time };
      });
      for (const res of sameAsOff(off.p, ons.map((on) => on.p), trace)) statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      // Host table changes between batches (no invalidation: stale translations).
      for (const x of [off, ...ons]) x.p.builder.unmapRange(x.s1, 0x10_0000n + BigInt(round * 7) * 4096n, 4096n);
    }
    assert.ok((statuses.get("fault") ?? 0) > 1000 && (statuses.get("ok") ?? 0) > 10000, `the trace faulted and translated: ${[...statuses]}`);
    assert.ok(off.p.core.cacheStats().iotlb.misses > 10000n, "the trace walked");
  });
}

test("lookAhead goes to the core's options (bits 11:8), default 8; outside 0..15 is refused", () => {
  const opts = (p: VtdPlatform) => new Uint32Array(p.core.requestWords().buffer, 0x20, 1)[0]!;
  assert.is(opts(new VtdPlatform({ lookAhead: 6 })) & Opt.LOOKAHEAD_MASK, 6 << 8);
  assert.is(opts(new VtdPlatform({ lookAhead: 0 })) & Opt.LOOKAHEAD_MASK, 0);
  assert.is(DEFAULT_LOOKAHEAD, 8);
  assert.is(opts(new VtdPlatform()) & Opt.LOOKAHEAD_MASK, 8 << 8);
  assert.throws(() => new VtdPlatform({ lookAhead: 16 }), /lookAhead 16 must be 0..15/);
});

test.run();
