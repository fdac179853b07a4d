/**
 * The VT-d caches in the translation flow (assembly/uarch/vtd-caches.ts): exact counter values for
 * hand-computed traces.
 *
 * - IOTLB replacement: a 4-entry fully associative IOTLB under LRU and FIFO on one page sequence.
 * - Context cache (one lookup per request, a miss only for a device's first request) and PASID
 *   cache (one lookup per request that reaches the PASID entry, keyed by source ID and PASID).
 * - Paging-structure caches per level: which level hits for accesses in the same 2 MiB / 1 GiB /
 *   512 GiB region, and the exact walk reads that remain (first stage, second stage, nested, where
 *   the second-stage caches also serve the stage-2 walks of first-stage table pointers).
 * - 4 KiB, 2 MiB and 1 GiB IOTLB entries side by side; one lookup finds any of them.
 * - Caches change which reads happen, never what a request gets: caches "off" and the default
 *   caches give identical results on a deterministic random trace with no table changes, and with
 *   caches on every read is still counted (per request: reads == structure + walk read counters).
 * - Caching mode (CAP.CM=1): a not-present translation is cached until software invalidates it.
 *
 * Structure reads on a cold request in scalable mode: root, context, PASID directory and PASID
 * table entry = 4. With the context and PASID caches warm, a request reads only paging entries.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform, type PlatformOptions } from "../../src/platform.ts";
import type { Request, Result } from "../../src/core/core.ts";
import { DEFAULT_CAP } from "../../src/arch/vtd/registers.ts";
import { InvalidationQueue, desc } from "../../src/arch/vtd/invalidation.ts";
import { Prng } from "../../src/util/prng.ts";

const K4 = 0x1000n, M2 = 0x20_0000n, G1 = 0x4000_0000n, G512 = 0x80_0000_0000n;
const CM = 1n << 7n;

type Stats = ReturnType<VtdPlatform["core"]["cacheStats"]>;
type Counters = ReturnType<VtdPlatform["core"]["counters"]>;
type CacheName = keyof Stats;

/** Snapshot of every counter, to diff around one step. */
function snap(p: VtdPlatform) {
  return { c: p.core.cacheStats(), n: p.core.counters(), w: p.core.walkReads() };
}
type Snap = ReturnType<typeof snap>;

function cacheDelta(a: Snap, b: Snap, name: CacheName) {
  const out = {} as Record<keyof Stats[CacheName], number>;
  for (const k of Object.keys(b.c[name]) as (keyof Stats[CacheName])[]) out[k] = Number(b.c[name][k] - a.c[name][k]);
  return out;
}
function counterDelta(a: Snap, b: Snap, name: keyof Counters): number {
  return Number(b.n[name] - a.n[name]);
}
/** Table reads recorded by the counters between two snapshots: structures plus walk reads. */
function countedReads(a: Snap, b: Snap): number {
  let n = 0;
  for (const k of ["rootReads", "contextReads", "pasidDirReads", "pasidTableReads"] as const) n += counterDelta(a, b, k);
  for (const s of ["fs", "ss"] as const) for (let l = 0; l < 5; l++) n += Number(b.w[s][l]! - a.w[s][l]!);
  return n;
}
/** Walk reads by stage and spec level (1 = 4 KiB table) between two snapshots. */
function walkDelta(a: Snap, b: Snap) {
  return { fs: b.w.fs.map((v, i) => Number(v - a.w.fs[i]!)), ss: b.w.ss.map((v, i) => Number(v - a.w.ss[i]!)) };
}

/** Translates one request at a time; returns, per request, whether `cache` hit ("H") or missed ("M"). */
function hitPattern(p: VtdPlatform, reqs: Request[], cache: CacheName = "iotlb"): string {
  let s = "";
  for (const r of reqs) {
    const a = snap(p);
    const res = p.translateOne(r);
    assert.is(res.status, "ok", `request 0x${r.addr.toString(16)}: ${res.fault?.name}`);
    const d = cacheDelta(a, snap(p), cache);
    assert.is(d.lookups, 1, "one lookup per request");
    s += d.hits ? "H" : "M";
  }
  return s;
}

const rd = (sid: number, addr: bigint, pasid?: number): Request => (pasid === undefined ? { op: "MRd", sid, addr } : { op: "MRd", sid, addr, pasid });

// ---- IOTLB replacement ----------------------------------------------------------------------------

/** A second-stage domain (DID 1) on device 00:02.0, 16 pages at 0x100000 -> 0x2_0000_0000. */
function ssPlatform(o: PlatformOptions = {}) {
  const p = new VtdPlatform({ build: "debug", ...o });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, 0x10_0000n, 0x2_0000_0000n, 16n * K4);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  return { p, d };
}
const page = (n: number) => rd(0x10, 0x10_0000n + BigInt(n) * K4 + 0x18n);
// Page sequence 1 2 3 4 1 5 2 3 4 5 1 (11 lookups) through a 4-entry fully associative IOTLB.
const SEQ = [1, 2, 3, 4, 1, 5, 2, 3, 4, 5, 1];

test("IOTLB 4 entries, fully associative, LRU: hand-computed hits, misses and evictions", () => {
  const { p } = ssPlatform({ caches: { iotlb: { entries: 4, assoc: 0, policy: "lru" } } });
  // LRU order (least recent first) after each access:
  //  1 M  [1]            2 M  [1 2]          3 M  [1 2 3]        4 M  [1 2 3 4]
  //  1 H  [2 3 4 1]      5 M  evict 2 [3 4 1 5]                  2 M  evict 3 [4 1 5 2]
  //  3 M  evict 4 [1 5 2 3]                  4 M  evict 1 [5 2 3 4]
  //  5 H  [2 3 4 5]      1 M  evict 2 [3 4 5 1]
  // => 11 lookups, 2 hits, 9 misses, 9 fills, 5 evictions.
  assert.is(hitPattern(p, SEQ.map(page)), "MMMMHMMMMHM");
  const s = p.core.cacheStats().iotlb;
  assert.equal(
    { lookups: s.lookups, hits: s.hits, misses: s.misses, fills: s.fills, evictions: s.evictions, invalidations: s.invalidations },
    { lookups: 11n, hits: 2n, misses: 9n, fills: 9n, evictions: 5n, invalidations: 0n },
  );
});

test("IOTLB 4 entries, fully associative, FIFO: the same sequence, hits do not refresh", () => {
  const { p } = ssPlatform({ caches: { iotlb: { entries: 4, assoc: 0, policy: "fifo" } } });
  // FIFO order (oldest fill first):
  //  1 M, 2 M, 3 M, 4 M  [1 2 3 4]       1 H (no change)
  //  5 M  evict 1 [2 3 4 5]              2 H, 3 H, 4 H, 5 H
  //  1 M  evict 2 [3 4 5 1]
  // => 11 lookups, 5 hits, 6 misses, 6 fills, 2 evictions.
  assert.is(hitPattern(p, SEQ.map(page)), "MMMMHMHHHHM");
  const s = p.core.cacheStats().iotlb;
  assert.equal(
    { lookups: s.lookups, hits: s.hits, misses: s.misses, fills: s.fills, evictions: s.evictions },
    { lookups: 11n, hits: 5n, misses: 6n, fills: 6n, evictions: 2n },
  );
});

test("an IOTLB hit reads nothing; a miss walks (PDE-cache hit: 1 read)", () => {
  const { p } = ssPlatform({ caches: { iotlb: { entries: 4, assoc: 0, policy: "lru" } } });
  const reads = SEQ.map((n) => p.translateOne(page(n)).reads);
  // First request: 4 structures + 4 paging entries; later misses resume below the cached PDE.
  assert.equal(reads, [8, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1]);
});

// ---- context and PASID caches ---------------------------------------------------------------------

test("context cache: one lookup per request, one miss (root + context read) per device", () => {
  const p = new VtdPlatform({ build: "debug", caches: { iotlb: { enable: false } } });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, 0x10_0000n, 0x2_0000_0000n, 4n * K4);
  for (const sid of [0x10, 0x11, 0x108]) p.builder.attach({ sid, domain: 1 }); // two on bus 0, one on bus 1
  p.enable();
  const a = snap(p);
  const order = [0x10, 0x10, 0x11, 0x10, 0x108, 0x11, 0x108, 0x108, 0x10];
  const pattern = order.map((sid) => {
    const s = snap(p);
    assert.is(p.translateOne(rd(sid, 0x10_1000n)).status, "ok");
    const e = snap(p);
    assert.is(cacheDelta(s, e, "contextCache").lookups, 1);
    return cacheDelta(s, e, "contextCache").hits ? "H" : "M";
  });
  assert.is(pattern.join(""), "MHMHMHHHH");
  const b = snap(p);
  assert.equal(cacheDelta(a, b, "contextCache"), { lookups: 9, hits: 6, misses: 3, fills: 3, evictions: 0, invalidations: 0 });
  assert.is(counterDelta(a, b, "rootReads"), 3);
  assert.is(counterDelta(a, b, "contextReads"), 3);
});

test("legacy mode: the context cache holds root + context; a warm request reads only its walk", () => {
  const p = new VtdPlatform({ build: "debug", mode: "legacy", caches: { iotlb: { enable: false } } });
  const d = p.builder.createDomain({ id: 7, type: "ss" });
  p.builder.map(d, 0x10_0000n, 0x2_0000_0000n, 4n * K4);
  p.builder.attach({ sid: 0x20, domain: 7 });
  p.enable();
  const r = [0, 1, 2].map((i) => p.translateOne(rd(0x20, 0x10_0000n + BigInt(i) * K4)));
  assert.equal(r.map((x) => x.reads), [2 + 4, 1, 1]); // root + context + 4 entries; then the PDE cache
  const s = p.core.cacheStats();
  assert.is(s.contextCache.hits, 2n);
  assert.is(s.contextCache.misses, 1n);
  assert.is(s.pasidCache.lookups, 0n, "no PASID entries in legacy mode");
});

test("PASID cache: keyed by (source ID, PASID); requests without PASID use RID_PASID", () => {
  const p = new VtdPlatform({ build: "debug", caches: { iotlb: { enable: false } } });
  const fs = p.builder.createDomain({ id: 2, type: "fs" });
  const ss = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(fs, 0x7000_0000n, 0x3_0000_0000n, K4);
  p.builder.map(ss, 0x7000_0000n, 0x4_0000_0000n, K4);
  p.builder.attach({ sid: 0x20, domain: 1 }); // RID_PASID 0
  p.builder.attach({ sid: 0x20, pasid: 5, domain: 2 });
  p.builder.attach({ sid: 0x20, pasid: 70, domain: 2 }); // a second PASID table (directory entry 1)
  p.builder.attach({ sid: 0x28, pasid: 5, domain: 2 });
  p.enable();
  const a = snap(p);
  const seq: [number, number | undefined][] = [[0x20, 5], [0x20, 5], [0x20, undefined], [0x20, 70], [0x28, 5], [0x20, undefined], [0x20, 70], [0x28, 5], [0x20, 5]];
  const pattern = seq.map(([sid, pasid]) => {
    const s = snap(p);
    const r = p.translateOne(rd(sid, 0x7000_0000n, pasid));
    assert.is(r.status, "ok");
    assert.is(r.pa, pasid === undefined ? 0x4_0000_0000n : 0x3_0000_0000n);
    return cacheDelta(s, snap(p), "pasidCache").hits ? "H" : "M";
  });
  assert.is(pattern.join(""), "MHMMMHHHH");
  const b = snap(p);
  assert.equal(cacheDelta(a, b, "pasidCache"), { lookups: 9, hits: 5, misses: 4, fills: 4, evictions: 0, invalidations: 0 });
  assert.is(counterDelta(a, b, "pasidDirReads"), 4);
  assert.is(counterDelta(a, b, "pasidTableReads"), 4);
  assert.equal(cacheDelta(a, b, "contextCache"), { lookups: 9, hits: 7, misses: 2, fills: 2, evictions: 0, invalidations: 0 });
});

// ---- paging-structure caches ------------------------------------------------------------------------

/**
 * Accesses, IOTLB off so that every request walks, 4-level tables:
 *   A 0x0010_0000            cold: every level misses, 4 entries read; PML4E, PDPE, PDE cached
 *   B 0x0010_1000            same 2 MiB as A: PDE hit, 1 read (PTE)
 *   C 0x0060_0000            same 1 GiB, other 2 MiB: PDE miss, PDPE hit, 2 reads
 *   D 0x4000_0000            same 512 GiB, other 1 GiB: PDE, PDPE miss, PML4E hit, 3 reads
 *   E 0x80_0000_0000         other 512 GiB: everything misses, 4 reads
 *   F 0x4000_1000            same 2 MiB as D: PDE hit, 1 read
 */
const PWC_VAS = [0x10_0000n, 0x10_1000n, 0x60_0000n, G1, G512, G1 + K4];
const PWC_READS = [4, 1, 2, 3, 4, 1];
// level that hit per access (0: none): PDE = 1, PDPE = 2, PML4E = 3
const PWC_HIT_LEVEL = [0, 1, 2, 3, 0, 1];

function pwcRun(p: VtdPlatform, stage: "fs" | "ss", reqs: Request[]) {
  const names = stage === "fs" ? (["pwcFsPde", "pwcFsPdpe", "pwcFsPml4e"] as const) : (["pwcSsPde", "pwcSsPdpe", "pwcSsPml4e"] as const);
  const out: { reads: number; hitLevel: number; lookups: number[]; walk: ReturnType<typeof walkDelta> }[] = [];
  for (const r of reqs) {
    const a = snap(p);
    const res = p.translateOne(r);
    assert.is(res.status, "ok", `${r.addr.toString(16)}: ${res.fault?.name}`);
    const b = snap(p);
    const hits = names.map((n) => cacheDelta(a, b, n).hits);
    assert.ok(hits.filter((h) => h).length <= 1, "at most one level hits: the deepest cached entry");
    assert.is(countedReads(a, b), res.reads);
    const walk = walkDelta(a, b);
    out.push({ reads: walk[stage].reduce((x, y) => x + y, 0), hitLevel: hits.indexOf(1) + 1, lookups: names.map((n) => cacheDelta(a, b, n).lookups), walk });
  }
  return out;
}

test("second-stage paging-structure caches: the deepest cached level hits, exact walk reads", () => {
  const p = new VtdPlatform({ build: "debug", caches: { iotlb: { enable: false } } });
  const d = p.builder.createDomain({ id: 1, type: "ss", levels: 4 });
  for (const va of PWC_VAS) p.builder.map(d, va, 0x2_0000_0000n + va, K4);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const out = pwcRun(p, "ss", PWC_VAS.map((va) => rd(0x10, va)));
  assert.equal(out.map((o) => o.reads), PWC_READS);
  assert.equal(out.map((o) => o.hitLevel), PWC_HIT_LEVEL);
  // Lookups stop at the first (deepest) hit: PDE only on a PDE hit; PDE+PDPE on a PDPE hit; ...
  assert.equal(out.map((o) => o.lookups), [[1, 1, 1], [1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1], [1, 0, 0]]);
  // Walk reads by level (spec numbering: ss[0] = level 1 = PTE): a PDPE hit reads the PDE and PTE.
  assert.equal(out[2]!.walk.ss, [1, 1, 0, 0, 0]);
  assert.equal(out[3]!.walk.ss, [1, 1, 1, 0, 0]);
  assert.equal(out[3]!.walk.fs, [0, 0, 0, 0, 0]);
  const s = p.core.cacheStats();
  // Fills: A fills 3 levels, C the PDE, D the PDPE and PDE, E all 3: PML4E 2, PDPE 3, PDE 4.
  assert.equal([s.pwcSsPml4e.fills, s.pwcSsPdpe.fills, s.pwcSsPde.fills], [2n, 3n, 4n]);
  assert.equal([s.pwcFsPde.lookups, s.pwcFsPdpe.lookups, s.pwcFsPml4e.lookups], [0n, 0n, 0n]);
});

test("second stage, 5 levels: a PML5E hit leaves 4 reads", () => {
  const p = new VtdPlatform({ build: "debug", caches: { iotlb: { enable: false } } });
  const d = p.builder.createDomain({ id: 1, type: "ss", levels: 5 });
  const G256T = 1n << 48n;
  for (const va of [0n, G512, G256T]) p.builder.map(d, va, 0x2_0000_0000n + (va & 0xff_ffffn), K4);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const r = [0n, G512, G256T].map((va) => p.translateOne(rd(0x10, va)));
  assert.equal(r.map((x) => x.reads), [4 + 5, 4, 5]); // other 512G: PML5E hit; other 256T: nothing
  const s = p.core.cacheStats();
  assert.equal([s.pwcSsPml5e.hits, s.pwcSsPml5e.misses], [1n, 2n]);
});

test("first-stage paging-structure caches: same regions, same read counts", () => {
  const p = new VtdPlatform({ build: "debug", caches: { iotlb: { enable: false } } });
  const d = p.builder.createDomain({ id: 2, type: "fs", levels: 4 });
  for (const va of PWC_VAS) p.builder.map(d, va, 0x2_0000_0000n + va, K4);
  p.builder.attach({ sid: 0x20, pasid: 3, domain: 2 });
  p.enable();
  const out = pwcRun(p, "fs", PWC_VAS.map((va) => rd(0x20, va, 3)));
  assert.equal(out.map((o) => o.reads), PWC_READS);
  assert.equal(out.map((o) => o.hitLevel), PWC_HIT_LEVEL);
  assert.equal(out[1]!.walk.fs, [1, 0, 0, 0, 0]);
  assert.equal(out[1]!.walk.ss, [0, 0, 0, 0, 0]);
  const s = p.core.cacheStats();
  assert.equal([s.pwcFsPml4e.fills, s.pwcFsPdpe.fills, s.pwcFsPde.fills], [2n, 3n, 4n]);
  assert.equal([s.pwcSsPde.lookups, s.pwcSsPdpe.lookups, s.pwcSsPml4e.lookups], [0n, 0n, 0n]);
});

test("the PWC is per domain: the same IOVA in another domain misses", () => {
  const p = new VtdPlatform({ build: "debug", caches: { iotlb: { enable: false } } });
  const d1 = p.builder.createDomain({ id: 1, type: "ss" });
  const d2 = p.builder.createDomain({ id: 2, type: "ss" });
  p.builder.map(d1, 0x10_0000n, 0x2_0000_0000n, 2n * K4);
  p.builder.map(d2, 0x10_0000n, 0x3_0000_0000n, 2n * K4);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.builder.attach({ sid: 0x18, domain: 2 });
  p.enable();
  const r = [rd(0x10, 0x10_0000n), rd(0x18, 0x10_1000n), rd(0x10, 0x10_1000n), rd(0x18, 0x10_0000n)].map((q) => p.translateOne(q));
  assert.equal(r.map((x) => x.reads), [8, 8, 1, 1]);
  assert.equal(r.map((x) => x.pa), [0x2_0000_0000n, 0x3_0000_1000n, 0x2_0000_1000n, 0x3_0000_0000n]);
});

/**
 * A walk cache's repeated hit on the same entry (uarch/caches.ts takes it from its last-hit record
 * without a scan) is the lookup's own answer only while that cache is unchanged: after an eviction
 * or an invalidation the next lookup misses. SS 4-level, IOTLB and PDE cache off, a 1-entry PDPE
 * cache, PML4E cache on. Accesses and reads (4 KiB pages, all in the first 512 GiB):
 *   0x0000_0000  cold: 4 structure reads (root, context, PASID directory and table) + 4 walk reads;
 *                PML4E and PDPE (1st GiB) filled
 *   0x0020_0000  1st GiB, other 2 MiB: PDPE hit, 2 reads (PDE, PTE)
 *   0x0040_0000  the same PDPE again: hit, 2 reads
 *   0x4000_0000  2nd GiB: PDPE miss, PML4E hit, 3 reads; its PDPE evicts the 1st GiB's
 *   0x0060_0000  1st GiB: PDPE miss (evicted), PML4E hit, 3 reads; evicts the 2nd GiB's
 *   0x0080_0000  1st GiB: PDPE hit, 2 reads
 *   global IOTLB invalidation (empties the paging-structure caches too)
 *   0x00a0_0000  1st GiB: everything misses, 4 reads
 *   0x00c0_0000  1st GiB: PDPE hit, 2 reads
 * PDPE: 8 lookups, hits 4 (2nd, 3rd, 6th, 8th), misses 4, fills 4 (accesses 1, 4, 5, 7),
 * evictions 2 (accesses 4 and 5), invalidations 1 (the entry of access 5, valid at the flush).
 */
test("a repeated walk-cache hit ends with an eviction or an invalidation of its entry", () => {
  const p = new VtdPlatform({ build: "debug", caches: { iotlb: { enable: false }, pwcSsPde: { enable: false }, pwcSsPdpe: { entries: 1, assoc: 0 } } });
  const d = p.builder.createDomain({ id: 1, type: "ss", levels: 4 });
  const vas = [0n, 2n * M2, 4n * M2, G1, 6n * M2, 8n * M2, 10n * M2, 12n * M2];
  for (const va of vas) p.builder.map(d, va, 0x2_0000_0000n + va, K4);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const q = new InvalidationQueue(p.core, p.alloc);
  const reads: number[] = [];
  for (const [i, va] of vas.entries()) {
    if (i === 6) {
      q.submit([desc.iotlb(1), desc.wait()]);
      assert.is(q.error, undefined);
    }
    const r = p.translateOne(rd(0x10, va + 8n));
    assert.is(r.pa, 0x2_0000_0008n + va);
    reads.push(r.reads);
  }
  assert.equal(reads, [8, 2, 2, 3, 3, 2, 4, 2]);
  const s = p.core.cacheStats().pwcSsPdpe;
  assert.equal([s.lookups, s.hits, s.misses, s.fills, s.evictions, s.invalidations], [8n, 4n, 4n, 4n, 2n, 1n]);
});

test("nested: the second-stage PWC serves the stage-2 walks of first-stage table pointers", () => {
  // Parent (DID 4): maps GPA 0x4000_0000.. -> HPA 0x5_0000_0000; the builder also maps every
  // first-stage table page of the nested domain at GPA = PA (all in one 2 MiB region at 0x1000_0000).
  const mk = (caches: PlatformOptions["caches"]) => {
    const p = new VtdPlatform({ build: "debug", caches });
    const parent = p.builder.createDomain({ id: 4, type: "ss" });
    const n = p.builder.createDomain({ id: 3, type: "nested", parent: 4 });
    p.builder.map(parent, G1, 0x5_0000_0000n, 16n * K4);
    p.builder.map(n, 0x10_0000n, G1, 2n * K4);
    p.builder.map(n, 0x60_0000n, G1 + 2n * K4, K4);
    p.builder.attach({ sid: 0x20, pasid: 9, domain: 3 });
    p.enable();
    return p;
  };
  const reqs = [rd(0x20, 0x10_0000n, 9), rd(0x20, 0x10_1000n, 9), rd(0x20, 0x60_0000n, 9)];
  const off = mk("off");
  const offR = reqs.map((r) => off.translateOne(r));
  // Without caches, every time: 4 structures + 4 x (4 stage-2 reads + 1 first-stage read) + 4 for the final GPA.
  assert.equal(offR.map((r) => r.reads), [28, 28, 28]);

  const p = mk({ iotlb: { enable: false } });
  const a = snap(p);
  const r0 = p.translateOne(reqs[0]!);
  const b = snap(p);
  // Cold: structures 4; FS root: stage-2 walk 4 (cold) + 1; PDPT, PD, PT: stage-2 PDE hit 1 + 1 each;
  // final GPA 0x4000_0000: other 1 GiB than the tables, same 512 GiB: SS PML4E hit, 3 reads. 4+5+2+2+2+3 = 18.
  assert.is(r0.reads, 18);
  assert.equal(walkDelta(a, b).fs, [1, 1, 1, 1, 0]);
  assert.equal(walkDelta(a, b).ss, [5, 2, 2, 1, 0]); // PTE: 4 table pointers + final; PD, PDPT: cold + final; PML4: cold
  assert.equal(cacheDelta(a, b, "pwcSsPde"), { lookups: 5, hits: 3, misses: 2, fills: 2, evictions: 0, invalidations: 0 });
  assert.is(cacheDelta(a, b, "pwcSsPml4e").hits, 1);
  // Same 2 MiB of IOVA and of GPA: FS PDE hit (the cached PT address is already host-physical, no
  // stage-2 walk for it), 1 FS read; the final GPA walk hits the SS PDE cache, 1 read.
  const r1 = p.translateOne(reqs[1]!);
  assert.is(r1.reads, 2);
  // Other 2 MiB of IOVA, same 1 GiB: FS PDPE hit; the PD entry (1), the PT pointer's stage-2 walk
  // (SS PDE hit, 1) and its entry (1); the final GPA (same 2 MiB as before: 1). 4 reads.
  const r2 = p.translateOne(reqs[2]!);
  assert.is(r2.reads, 4);
  for (const [i, r] of [r0, r1, r2].entries()) {
    assert.is(r.status, "ok");
    assert.is(r.pa, offR[i]!.pa);
  }
  assert.equal([r0.pa, r1.pa, r2.pa], [0x5_0000_0000n, 0x5_0000_1000n, 0x5_0000_2000n]);
});

// ---- IOTLB page sizes -----------------------------------------------------------------------------

test("4 KiB, 2 MiB and 1 GiB IOTLB entries coexist; a lookup finds any of them", () => {
  for (const type of ["ss", "fs"] as const) {
    const p = new VtdPlatform({ build: "debug", caches: { iotlb: { entries: 4, assoc: 0, policy: "lru" } } });
    const d = p.builder.createDomain({ id: 1, type });
    p.builder.map(d, 0x1000n, 0x7_0000_1000n, K4);
    p.builder.map(d, M2, 0x8_0000_0000n, M2, { pageSize: M2 });
    p.builder.map(d, G1, 0x9_0000_0000n, G1, { pageSize: G1 });
    const pasid = type === "fs" ? 1 : undefined;
    p.builder.attach({ sid: 0x10, domain: 1, ...(pasid ? { pasid } : {}) });
    p.enable();
    const vas = [0x1234n, M2 + 0x1_2345n, G1 + 0x1234_5678n, 0x1ff8n, M2 + 0x1f_fff0n, G1 + 0x3fff_fff0n, M2, G1 + 0x20_0000n];
    const a = snap(p);
    const r = vas.map((va) => p.translateOne(rd(0x10, va, pasid)));
    const b = snap(p);
    assert.equal(r.map((x) => x.pageLg2), [12, 21, 30, 12, 21, 30, 21, 30], type);
    assert.equal(r.map((x) => x.pa), [0x7_0000_1234n, 0x8_0001_2345n, 0x9_1234_5678n, 0x7_0000_1ff8n, 0x8_001f_fff0n, 0x9_3fff_fff0n, 0x8_0000_0000n, 0x9_0020_0000n]);
    assert.equal(r.slice(3).map((x) => x.reads), [0, 0, 0, 0, 0], `${type}: every later access hits`);
    assert.equal(cacheDelta(a, b, "iotlb"), { lookups: 8, hits: 5, misses: 3, fills: 3, evictions: 0, invalidations: 0 }, type);
  }
});

test("IOTLB entries are tagged by domain: the same IOVA through two DIDs gives two entries", () => {
  const p = new VtdPlatform({ build: "debug" });
  const d1 = p.builder.createDomain({ id: 1, type: "ss" });
  const d2 = p.builder.createDomain({ id: 2, type: "ss" });
  p.builder.map(d1, 0x10_0000n, 0x2_0000_0000n, K4);
  p.builder.map(d2, 0x10_0000n, 0x3_0000_0000n, K4);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.builder.attach({ sid: 0x11, domain: 1 }); // shares DID 1: its first request hits the IOTLB
  p.builder.attach({ sid: 0x18, domain: 2 });
  p.enable();
  assert.is(hitPattern(p, [rd(0x10, 0x10_0000n), rd(0x18, 0x10_0000n), rd(0x11, 0x10_0000n), rd(0x18, 0x10_0008n)]), "MMHH");
  assert.is(p.translateOne(rd(0x11, 0x10_0010n)).pa, 0x2_0000_0010n);
  assert.is(p.translateOne(rd(0x18, 0x10_0010n)).pa, 0x3_0000_0010n);
});

// ---- caches off == caches on --------------------------------------------------------------------

/** Every Result field except `reads`. */
/** Caches change which reads happen and so the timing, never the translation. */
function strip(r: Result): Omit<Result, "reads" | "issue" | "latency"> {
  const { reads: _reads, issue: _issue, latency: _latency, ...rest } = r;
  return rest;
}

/** A platform with every kind of domain, deterministic random mappings, and the request pool. */
function richPlatform(caches: PlatformOptions["caches"], build: "debug" | "release" = "release") {
  const p = new VtdPlatform({ build, caches });
  const b = p.builder;
  const g = new Prng(42);
  const ss4 = b.createDomain({ id: 1, type: "ss", levels: 4, forceSnoop: true });
  const ss5 = b.createDomain({ id: 2, type: "ss", levels: 5 });
  const fs4 = b.createDomain({ id: 3, type: "fs", levels: 4 });
  const fs5 = b.createDomain({ id: 4, type: "fs", levels: 5, presetAccessed: false });
  const parent = b.createDomain({ id: 5, type: "ss" });
  const nested = b.createDomain({ id: 6, type: "nested", parent: 5 });
  b.createDomain({ id: 7, type: "pt" });
  // Regions: 4 KiB pages in two 2 MiB regions and two 1 GiB regions, 2 MiB and 1 GiB pages.
  const regions4k = [0x10_0000n, 0x60_0000n, 0x4000_0000n, 0x80_0000_0000n];
  const doms = [ss4, ss5, fs4, fs5];
  for (const [i, d] of doms.entries()) {
    for (const base of regions4k)
      for (let k = 0n; k < 8n; k++) {
        if (g.int(4) === 0) continue; // holes
        const isFs = d.type === "fs";
        const write = g.int(3) !== 0;
        b.map(d, base + k * K4, 0x10_0000_0000n * BigInt(i + 1) + base + k * K4, K4, {
          read: isFs || !write || g.int(5) !== 0, write, user: g.int(4) !== 0, global: g.int(3) === 0, exec: g.int(2) === 0, snp: g.int(2) === 0,
        });
      }
    b.map(d, 0x100_0000n, 0x10_0000_0000n * BigInt(i + 1) + 0x1_0000_0000n, 2n * M2, { pageSize: M2, write: g.int(2) === 0 });
    b.map(d, 0x1_0000_0000n, 0x10_0000_0000n * BigInt(i + 1) + 0x8000_0000n, G1, { pageSize: G1 });
  }
  b.map(parent, 0x8000_0000n, 0x60_0000_0000n, 64n * K4);
  b.map(parent, 0x8020_0000n, 0x61_0000_0000n, M2, { pageSize: M2 });
  for (let k = 0n; k < 16n; k++) if (g.int(4)) b.map(nested, 0x7000_0000n + k * K4, 0x8000_0000n + ((k * 5n) % 64n) * K4, K4, { write: g.int(3) !== 0 });
  b.map(nested, 0x20_0000n, 0x8020_0000n, M2, { pageSize: M2 });
  b.map(nested, 0x40_0000n, 0x9000_0000n, K4); // GPA not mapped in the parent: stage-2 fault
  b.attach({ sid: 0x10, domain: 1, ats: true });
  b.attach({ sid: 0x10, pasid: 1, domain: 3 });
  b.attach({ sid: 0x10, pasid: 2, domain: 4, sre: true });
  b.attach({ sid: 0x18, domain: 2 });
  b.attach({ sid: 0x18, pasid: 7, domain: 6, ats: true });
  b.attach({ sid: 0x118, domain: 7 });
  b.attach({ sid: 0x118, pasid: 3, domain: 3, sre: true, wpe: true });
  p.enable();
  // The request pool: (sid, pasid, domain's region bases).
  const targets: { sid: number; pasid?: number; bases: bigint[] }[] = [
    { sid: 0x10, bases: [...regions4k, 0x100_0000n, 0x1_0000_0000n] },
    { sid: 0x10, pasid: 1, bases: [...regions4k, 0x100_0000n, 0x1_0000_0000n] },
    { sid: 0x10, pasid: 2, bases: [...regions4k, 0x100_0000n, 0x1_0000_0000n] },
    { sid: 0x18, bases: [...regions4k, 0x100_0000n, 0x1_0000_0000n] },
    { sid: 0x18, pasid: 7, bases: [0x7000_0000n, 0x20_0000n, 0x40_0000n] },
    { sid: 0x118, bases: [0x1234_5000n, 0xfee0_0000n] },
    { sid: 0x118, pasid: 3, bases: [...regions4k] },
    { sid: 0x120, bases: [0n] }, // not attached: root present, context not present
  ];
  return { p, targets };
}

function randomTrace(seed: number, n: number, targets: ReturnType<typeof richPlatform>["targets"]): Request[] {
  const g = new Prng(seed);
  const reqs: Request[] = [];
  for (let i = 0; i < n; i++) {
    const t = g.pick(targets);
    const base = g.pick(t.bases);
    const addr = base + BigInt(g.int(10)) * K4 + BigInt(g.int(512)) * 8n;
    const op = g.pick(["MRd", "MRd", "MWr", "MWr", "ATS"] as const);
    const r: Request = { op, sid: t.sid, addr };
    if (t.pasid !== undefined) r.pasid = t.pasid;
    if (g.int(4) === 0) r.priv = true;
    if (g.int(6) === 0) r.exe = true;
    if (g.int(3) === 0 && op !== "ATS") r.ns = true;
    if (op === "ATS" && g.int(3) === 0) r.nw = true;
    reqs.push(r);
  }
  return reqs;
}

test('caches "off" and the default caches give identical results on a random trace (reads aside)', () => {
  const off = richPlatform("off");
  const on = richPlatform(undefined);
  const trace = randomTrace(7, 4000, off.targets);
  const a = off.p.translate(trace);
  const b = on.p.translate(trace);
  let ok = 0, faults = 0;
  for (let i = 0; i < trace.length; i++) {
    assert.equal(strip(b[i]!), strip(a[i]!), `request ${i}: ${JSON.stringify(trace[i], (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v))}`);
    assert.not.ok(b[i]!.stale);
    if (a[i]!.status === "ok") ok++;
    if (a[i]!.status === "fault") faults++;
  }
  assert.ok(ok > 1000 && faults > 200, `a mixed trace (${ok} ok, ${faults} faults)`);
  // The caches did their work: fewer reads in total, and hits in every cache the trace can reach.
  const readsOff = a.reduce((s, r) => s + r.reads, 0), readsOn = b.reduce((s, r) => s + r.reads, 0);
  assert.ok(readsOn * 3 < readsOff, `reads ${readsOn} with caches, ${readsOff} without`);
  const s = on.p.core.cacheStats();
  for (const n of ["iotlb", "contextCache", "pasidCache", "pwcFsPde", "pwcFsPdpe", "pwcFsPml4e", "pwcFsPml5e", "pwcSsPde", "pwcSsPdpe", "pwcSsPml4e", "pwcSsPml5e"] as const)
    assert.ok(s[n].hits > 0n, `${n} hits`);
  assert.is(on.p.core.counters().staleIotlbUses, 0n);
  // Same memory afterwards: A/D write-backs agree.
  assert.is(on.p.core.counters().adWrites, off.p.core.counters().adWrites);
});

test("with caches on every table read is counted: per request, reads == structure + walk read counters", () => {
  const on = richPlatform(undefined, "debug");
  const trace = randomTrace(11, 1500, on.targets);
  for (const [i, r] of trace.entries()) {
    const a = snap(on.p);
    const res = on.p.translateOne(r);
    const b = snap(on.p);
    assert.is(countedReads(a, b), res.reads, `request ${i}`);
  }
  // And the same identity holds without caches.
  const off = richPlatform("off", "debug");
  for (const r of trace.slice(0, 300)) {
    const a = snap(off.p);
    const res = off.p.translateOne(r);
    assert.is(countedReads(a, snap(off.p)), res.reads);
  }
});

// ---- caching mode ---------------------------------------------------------------------------------

function cmPlatform(cm: boolean, type: "ss" | "fs", mode: "scalable" | "legacy" = "scalable") {
  const p = new VtdPlatform({ build: "debug", cap: cm ? DEFAULT_CAP | CM : DEFAULT_CAP & ~CM, mode });
  const d = p.builder.createDomain({ id: 1, type });
  p.builder.map(d, 0x10_0000n, 0x2_0000_0000n, K4);
  const pasid = type === "fs" ? 4 : undefined;
  p.builder.attach({ sid: 0x10, domain: 1, ...(pasid ? { pasid } : {}) });
  p.enable();
  const q = mode === "scalable" ? new InvalidationQueue(p.core, p.alloc) : new InvalidationQueue(p.core, p.alloc, false);
  return { p, d, q, pasid };
}

test("caching mode CAP.CM=1: a not-present translation is cached until software invalidates", () => {
  // Second-stage and legacy structures only: first-stage translation follows x86 rules and never
  // caches a not-present entry (spec 6.1; the first-stage case is the next test).
  for (const [type, mode, code] of [["ss", "scalable", "SSS.2"], ["ss", "legacy", "LGN.3"]] as const) {
    const { p, d, q, pasid } = cmPlatform(true, type, mode);
    const va = 0x10_1000n;
    const first = p.translateOne(rd(0x10, va, pasid));
    assert.is(first.fault?.name, code, `${type}/${mode}`);
    assert.is(p.core.cacheStats().iotlb.fills, 1n, "the not-present outcome is cached");
    p.builder.map(d, va, 0x2_0000_1000n, K4); // no invalidation
    const a = snap(p);
    const again = p.translateOne(rd(0x10, va, pasid));
    assert.is(again.fault?.name, code, `${type}/${mode}: still faults from the cached entry`);
    assert.is(again.reads, 0);
    assert.equal(cacheDelta(a, snap(p), "iotlb").hits, 1);
    q.submit([desc.iotlb(3, 1, va, 0), desc.wait()]);
    assert.is(q.error, undefined);
    const now = p.translateOne(rd(0x10, va + 8n, pasid));
    assert.is(now.status, "ok", `${type}/${mode}`);
    assert.is(now.pa, 0x2_0000_1008n);
    assert.not.ok(now.stale);
  }
});

test("caching mode CAP.CM=1: a first-stage not-present outcome is not cached (x86 rules, spec 6.1)", () => {
  const { p, d, pasid } = cmPlatform(true, "fs", "scalable");
  const va = 0x10_1000n;
  assert.is(p.translateOne(rd(0x10, va, pasid)).fault?.name, "SFS.2");
  assert.is(p.core.cacheStats().iotlb.fills, 0n, "nothing cached");
  p.builder.map(d, va, 0x2_0000_1000n, K4); // no invalidation, as Linux does for first-stage maps
  const now = p.translateOne(rd(0x10, va + 8n, pasid));
  assert.is(now.status, "ok");
  assert.is(now.pa, 0x2_0000_1008n);
});

test("caching mode: a fault served from a cached not-present entry is the walk's fault (code and level)", () => {
  // Caches change which reads happen, never what a request gets: the second request must report
  // the same fault as the first, including the level at which the walk found the entry not present.
  // (First-stage not-present outcomes are never cached: second stage and legacy only.)
  for (const [type, mode] of [["ss", "scalable"], ["ss", "legacy"]] as const) {
    const { p, pasid } = cmPlatform(true, type, mode);
    const far = 0x80_0000_0000n; // other 512 GiB: not present at the top level
    for (const va of [0x10_1000n, far]) {
      const first = p.translateOne(rd(0x10, va, pasid));
      const again = p.translateOne(rd(0x10, va, pasid));
      assert.is(again.reads, 0, "from the IOTLB");
      assert.equal(again.fault, first.fault, `${type}/${mode} 0x${va.toString(16)}`);
    }
  }
});

test("caching mode CAP.CM=0: not-present translations are not cached; a later map translates at once", () => {
  for (const [type, mode, code] of [["ss", "scalable", "SSS.2"], ["fs", "scalable", "SFS.2"], ["ss", "legacy", "LGN.3"]] as const) {
    const { p, d, pasid } = cmPlatform(false, type, mode);
    const va = 0x10_1000n;
    assert.is(p.translateOne(rd(0x10, va, pasid)).fault?.name, code);
    assert.is(p.core.cacheStats().iotlb.fills, 0n);
    p.builder.map(d, va, 0x2_0000_1000n, K4);
    const r = p.translateOne(rd(0x10, va, pasid));
    assert.is(r.status, "ok", `${type}/${mode}`);
    assert.is(r.pa, 0x2_0000_1000n);
  }
});

test("caching mode: a not-present context entry is cached until a context-cache invalidation", () => {
  for (const cm of [true, false]) {
    const p = new VtdPlatform({ build: "debug", cap: cm ? DEFAULT_CAP | CM : DEFAULT_CAP });
    const d = p.builder.createDomain({ id: 1, type: "ss" });
    p.builder.map(d, 0x10_0000n, 0x2_0000_0000n, K4);
    p.builder.attach({ sid: 0x10, domain: 1 }); // the root entry of bus 0 is present
    p.enable();
    const q = new InvalidationQueue(p.core, p.alloc);
    assert.is(p.translateOne(rd(0x11, 0x10_0000n)).fault?.name, "SCT.2");
    p.builder.attach({ sid: 0x11, domain: 1 });
    const r = p.translateOne(rd(0x11, 0x10_0000n));
    if (cm) {
      assert.is(r.fault?.name, "SCT.2", "CM=1: the cached not-present context entry is used");
      q.submit([desc.context(3, 0, 0x11, 0), desc.pasidCache(3), desc.iotlb(1), desc.wait()]);
      assert.is(p.translateOne(rd(0x11, 0x10_0000n)).status, "ok");
    } else {
      assert.is(r.status, "ok", "CM=0: nothing was cached");
    }
  }
});

test.run();
