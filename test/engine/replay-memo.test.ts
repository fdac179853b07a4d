// The replay memo (assembly/engine/replay-memo.ts) is a simulator fast path: with it on or off,
// every result field, run counter and cache counter must be identical, whatever the trace does to
// the caches in between (fills, evictions, invalidations, host writes, register changes).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../src/platform.ts";
import { InvalidationQueue, desc } from "../../src/arch/vtd/invalidation.ts";
import { Prng } from "../../src/util/prng.ts";
import type { Request } from "../../src/core/core.ts";

type Policy = "lru" | "plru" | "fifo" | "random" | "round-robin";

/** `policy`: every cache's, or the IOTLB's, context cache's and PASID cache's. */
function build(replayMemo: boolean, mode: "scalable" | "legacy", policy: Policy | [Policy, Policy, Policy]) {
  const [iotlb, ctx, pasid] = typeof policy === "string" ? [policy, policy, policy] : policy;
  const p = new VtdPlatform({ replayMemo, mode, caches: { iotlb: { entries: 16, assoc: 4, policy: iotlb }, contextCache: { entries: 4, assoc: 2, policy: ctx }, pasidCache: { entries: 4, assoc: 2, policy: pasid } } });
  const b = p.builder;
  const ss = b.createDomain({ id: 1, type: "ss" });
  b.map(ss, 0x10_0000n, 0x8000_0000n, 64n * 4096n);
  b.map(ss, 0x4000_0000n, 0x1_0000_0000n, 0x40_0000n, { pageSize: 0x20_0000n, snp: true });
  const ro = b.createDomain({ id: 2, type: "ss" });
  b.map(ro, 0x10_0000n, 0x9000_0000n, 16n * 4096n, { write: false });
  for (let dev = 0; dev < 6; dev++) b.attach({ sid: 0x100 + dev * 8, domain: dev % 2 ? 2 : 1 });
  if (mode === "scalable") {
    const fs = b.createDomain({ id: 3, type: "fs" });
    b.map(fs, 0x7f00_0000_0000n, 0xa000_0000n, 32n * 4096n);
    b.attach({ sid: 0x100, pasid: 7, domain: 3 });
    b.attach({ sid: 0x108, pasid: 9, domain: 3, pgsnp: true });
  }
  p.enable();
  return { p, q: new InvalidationQueue(p.core, p.alloc, mode === "scalable"), ss, ro };
}

function randomRequest(r: Prng, scalable: boolean): Request {
  const dev = r.int(6);
  const sid = 0x100 + dev * 8;
  const op = r.int(4) === 0 ? "MWr" : "MRd";
  const ns = r.int(3) === 0;
  if (scalable && dev < 2 && r.int(3) === 0) {
    return { op, sid, pasid: dev === 0 ? 7 : 9, addr: 0x7f00_0000_0000n + BigInt(r.int(40)) * 4096n + BigInt(r.int(64)) * 64n, ns };
  }
  const big = r.int(4) === 0;
  const addr = big ? 0x4000_0000n + BigInt(r.int(0x40_0000)) : 0x10_0000n + BigInt(r.int(70)) * 4096n + BigInt(r.int(64)) * 64n;
  return { op, sid, addr, ns };
}

// Mixed policies too: a replay touches the slots of caches that are all LRU by their stamps'
// addresses, and goes through each cache's policy otherwise (engine/replay-memo.ts).
const policies: (Policy | [Policy, Policy, Policy])[] = ["lru", "plru", "fifo", "random", "round-robin", ["plru", "lru", "lru"], ["lru", "lru", "fifo"]];
for (const mode of ["scalable", "legacy"] as const) {
  for (const policy of policies) {
    test(`${mode}, ${policy}: memo on and off give identical results and counters`, () => {
      const on = build(true, mode, policy);
      const off = build(false, mode, policy);
      const r = new Prng(mode === "scalable" ? 11 : 12);
      for (let round = 0; round < 12; round++) {
        const reqs = Array.from({ length: 700 }, () => randomRequest(r, mode === "scalable"));
        // Repeat a slice, and every other request at once (the second time served by hits and
        // recorded, the third replayed unless a cache changed in between), so the memo replays.
        const trace = [...reqs, ...reqs.slice(0, 300), ...reqs.slice(100, 400)].flatMap((q, i) => (i % 2 ? [q, { ...q, addr: q.addr ^ 0x40n }, q] : [q]));
        assert.equal(on.p.translate(trace), off.p.translate(trace));
        assert.equal(on.p.core.counters(), off.p.core.counters());
        assert.equal(on.p.core.cacheStats(), off.p.core.cacheStats());
        // Between rounds: change tables without and with invalidation, as a driver might.
        for (const x of [on, off]) {
          if (round % 3 === 0) x.p.builder.unmap(x.ss, 0x10_0000n + BigInt(round) * 4096n, 4096n); // stale window
          if (round % 3 === 1) x.q.submit([desc.iotlb(3, 1, 0x10_0000n, 4), desc.wait()]);
          if (round % 4 === 3) x.q.submit([desc.context(1), desc.iotlb(1)]);
        }
      }
      assert.ok(on.p.core.cacheStats().iotlb.hits > 1000n, "the trace exercised IOTLB hits");
      assert.ok(on.p.core.memoReplays() > 1000, `the memo replayed (${on.p.core.memoReplays()})`);
    });
  }
}

test("the memo replays: an all-hit request repeated gives the same record as the full path", () => {
  const { p } = build(true, "scalable", "lru");
  const req: Request = { op: "MRd", sid: 0x100, addr: 0x10_0040n };
  const first = p.translateOne(req); // walk + fills
  const second = p.translateOne(req); // all hits, recorded
  const third = p.translateOne({ ...req, addr: 0x10_0080n }); // replayed, other offset
  assert.is(first.pa, 0x8000_0040n);
  assert.is(second.reads, 0);
  assert.equal({ ...third, pa: 0n }, { ...second, pa: 0n });
  assert.is(third.pa, 0x8000_0080n);
});

test.run();
