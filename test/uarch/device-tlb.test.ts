/**
 * The device-TLB (assembly/uarch/device-tlb.ts): one address translation cache per device, found
 * by source ID; invalidations of 2^k pages encoded with the S bit remove exactly the naturally
 * aligned range; an invalidation for another device leaves a device's entries. Exact counters.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../src/platform.ts";
import type { Request } from "../../src/core/core.ts";
import { InvalidationQueue, desc } from "../../src/arch/vtd/invalidation.ts";

const K4 = 0x1000n;
const IOVA = 0x10_0000n; // 8 pages mapped, 32 KiB aligned
const PA = 0x2_0000_0000n;
const A = 0x30, B = 0x38;

function world(build: "release" | "debug") {
  const p = new VtdPlatform({ build, timing: false });
  const d = p.builder.createDomain({ id: 7, type: "ss" });
  p.builder.map(d, IOVA, PA, 8n * K4);
  p.builder.attach({ sid: A, domain: 7, ats: true });
  p.builder.attach({ sid: B, domain: 7, ats: true });
  p.enable();
  const q = new InvalidationQueue(p.core, p.alloc);
  return { p, q };
}
const ats = (sid: number, page: bigint): Request => ({ op: "ATS", sid, addr: IOVA + page * K4 });
const tr = (sid: number, page: bigint): Request => ({ op: "MRd", sid, addr: IOVA + page * K4 + 8n, translated: true });

for (const build of ["release", "debug"] as const) {
  test(`${build}: each device has its own cache, by source ID`, () => {
    const { p } = world(build);
    p.translateOne(ats(A, 0n));
    const a = p.translateOne(tr(A, 0n));
    assert.equal([a.status, a.atc, a.pa], ["ok", true, PA + 8n]);
    assert.is(p.core.counters().atcMisses, 0n, "device A hits its own entry");
    const b = p.translateOne(tr(B, 0n));
    assert.equal([b.status, b.atc, b.pa], ["ok", true, PA + 8n]);
    assert.is(p.core.counters().atcMisses, 1n, "device B has no entry: it sends ATS first");
    const again = p.translateOne(tr(B, 0n));
    assert.equal([again.atc, p.core.counters().atcMisses], [true, 1n], "now B hits its own entry");
    assert.is(p.core.cacheStats().deviceTlb.fills, 2n, "A's ATS, B's ATS on its miss");
  });

  // A device that has no cache yet still looks up and misses (one lookup per translated request).
  test(`${build}: a translated request of a device without a cache yet counts one lookup and one miss`, () => {
    const { p } = world(build);
    p.translateOne(ats(A, 0n));
    p.translateOne(tr(A, 0n));
    p.translateOne(tr(B, 0n));
    p.translateOne(tr(B, 0n));
    const s = p.core.cacheStats().deviceTlb;
    assert.equal([s.lookups, s.hits, s.misses, s.fills], [3n, 2n, 1n, 2n]);
    assert.is(s.misses, p.core.counters().atcMisses);
  });

  test(`${build}: an invalidation of 2 pages (S=1) removes the naturally aligned pair, of that device only`, () => {
    const { p, q } = world(build);
    for (let page = 0n; page < 4n; page++) {
      p.translateOne(ats(A, page));
      p.translateOne(ats(B, page));
    }
    // 2 pages at IOVA + 1 page: aligned down to IOVA, so pages 0 and 1 (S=1, one trailing 1 above bit 12)
    q.submit([desc.deviceTlb(A, IOVA + K4, 1), desc.wait()]);
    assert.is(p.core.cacheStats().deviceTlb.invalidations, 2n);
    const n0 = p.core.counters().atcMisses;
    const misses = [0n, 1n, 2n, 3n].map((page) => {
      const before = p.core.counters().atcMisses;
      p.translateOne(tr(A, page));
      return p.core.counters().atcMisses - before;
    });
    assert.equal(misses, [1n, 1n, 0n, 0n]);
    for (let page = 0n; page < 4n; page++) p.translateOne(tr(B, page));
    assert.is(p.core.counters().atcMisses - n0, 2n, "device B kept its four entries");
  });

  test(`${build}: 4 pages (S=1, two trailing 1s) from an unaligned address; one page (S=0)`, () => {
    const { p, q } = world(build);
    for (let page = 0n; page < 8n; page++) p.translateOne(ats(A, page));
    q.submit([desc.deviceTlb(A, IOVA + 6n * K4, 2), desc.wait()]); // pages 4..7
    q.submit([desc.deviceTlb(A, IOVA + K4, 0), desc.wait()]); // page 1
    assert.is(p.core.cacheStats().deviceTlb.invalidations, 5n);
    const missed = [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n].filter((page) => {
      const before = p.core.counters().atcMisses;
      p.translateOne(tr(A, page));
      return p.core.counters().atcMisses !== before;
    });
    assert.equal(missed, [1n, 4n, 5n, 6n, 7n]);
  });
}

test.run();
