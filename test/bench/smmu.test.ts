/**
 * The SMMUv3 benchmark cases of issue 10 (bench/workloads.ts: walk formats smmu-s1-4k, smmu-s2-4k,
 * smmu-nested4x4), on the SMMU platform's own caches (the gem5-smmuv3 preset: TLB, stage-1 and
 * stage-2 walk caches, STE/CD cache). Each case prepares, runs a cold and a warm pass that pass its
 * own checks, and translates sampled requests to their expected addresses. The values asserted
 * are derived from the layout of the tables and the trace: smmu-s1-hit's 32 pages under one
 * 2 MiB table and one 1 GiB entry, the walk cases' 1 GiB window under one 1 GiB entry of one
 * 512 GiB entry; the checks catch a read, a walk-cache hit or a TLB lookup too many.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { RING_RECORDS } from "../../src/core/abi.ts";
import { workloads, snapshot, deltas, REQ_WORDS, type Deltas, type Prepared } from "../../bench/workloads.ts";

const N = RING_RECORDS;
const n = BigInt(N);

function prepare(name: string, rings = 1): Prepared {
  const w = workloads.find((x) => x.name === name);
  if (!w) throw new Error(`no workload ${name}`);
  return w.prepare(N * rings);
}

/** A cold and a warm pass over the whole trace, ring by ring, as the runner makes them. */
function passes(w: Prepared): [Deltas, Deltas] {
  const core = w.platform.core;
  const out: Deltas[] = [];
  for (const warm of [false, true]) {
    const s0 = snapshot(core);
    for (let at = 0; at < w.records; at += N) {
      core.requestWords().set(w.requests.subarray(at * REQ_WORDS, (at + N) * REQ_WORDS));
      core.run(N);
    }
    out.push(deltas(s0, snapshot(core), w.records, warm));
  }
  return out as [Deltas, Deltas];
}

/** Sampled requests of the last ring against `w.pa`. */
function wrongAddresses(w: Prepared): string[] {
  const bad: string[] = [];
  for (let i = 0; i < N; i += 37) {
    const r = w.platform.core.decode(i);
    if (r.status !== "ok" || r.pa !== w.pa(w.records - N + i)) bad.push(`${i}: ${r.status} 0x${r.pa.toString(16)}`);
  }
  return bad;
}

/** The distinct 4 KiB pages the trace's requests touch. */
function distinctPages(w: Prepared): number {
  const pages = new Set<bigint>();
  for (let i = 0; i < w.records; i++) {
    const o = i * REQ_WORDS;
    pages.add(((BigInt(w.requests[o + 1]!) << 32n) | BigInt(w.requests[o]!)) >> 12n);
  }
  return pages.size;
}

test("the SMMUv3 cases are listed once each, with issue 10's floors", () => {
  const goal = (name: string) => workloads.filter((w) => w.name === name).map((w) => w.goal?.min ?? null);
  assert.equal(goal("smmu-s1-hit"), [100e6]);
  assert.equal(goal("smmu-s1-walk"), [20e6]);
  assert.equal(goal("smmu-s2-walk"), [20e6]);
  assert.equal(goal("smmu-nested-walk"), [5e6]);
  assert.equal(goal("smmu-timed-walk"), [null]);
});

test("smmu-s1-hit: 32 TLB misses cold, then every translation a TLB hit and no walk", () => {
  const w = prepare("smmu-s1-hit");
  assert.is(distinctPages(w), 32); // 4096 uniform draws over 32 pages touch every one
  const [cold, warm] = passes(w);
  assert.equal(w.check(cold), []);
  assert.equal(w.check(warm), []);
  assert.equal(wrongAddresses(w), []);
  // cold: each page misses once (ASID probe + global probe), walks and fills; every other access hits
  assert.equal(cold.caches.iotlb, { ...cold.caches.iotlb, lookups: n + 32n, hits: n - 32n, misses: 64n, fills: 32n });
  assert.is(cold.arch.tlb_miss, 32n);
  // the 32 pages (128 KiB from 4 GiB) share one 2 MiB table: the first walk reads 4 levels, the
  // other 31 resume from the PDE slot and read the leaf only
  assert.equal(cold.fs, [32n, 1n, 1n, 1n, 0n]);
  assert.equal(cold.ss, [0n, 0n, 0n, 0n, 0n]);
  assert.equal([cold.caches.pwcFsPde.lookups, cold.caches.pwcFsPde.hits], [32n, 31n]);
  assert.equal([cold.caches.pwcFsPdpe.lookups, cold.caches.pwcFsPdpe.hits], [1n, 0n]);
  assert.equal([cold.caches.pwcFsPml4e.lookups, cold.caches.pwcFsPml4e.hits], [1n, 0n]);
  assert.is(cold.arch.trans_table_walk_access, 35n);
  assert.is(cold.arch.config_struct_access, 3n); // L1STD, STE, CD
  // warm: one lookup, one hit per translation; nothing read, no walk cache consulted
  assert.equal(warm.caches.iotlb, { ...warm.caches.iotlb, lookups: n, hits: n, misses: 0n, fills: 0n });
  assert.is(warm.arch.tlb_miss, 0n);
  assert.equal(warm.fs, [0n, 0n, 0n, 0n, 0n]);
  assert.is(warm.caches.pwcFsPde.lookups, 0n);
  assert.is(warm.arch.config_struct_access, 0n);
  assert.is(warm.caches.contextCache.hits, n);
  assert.is(warm.caches.pasidCache.hits, n);
});

// [case, stage walked, whether a CD is used]; 4 rings so that the warm pass is not the cold pass
// again from a TLB that still holds half of it
const walkCases: [string, "fs" | "ss", boolean][] = [
  ["smmu-s1-walk", "fs", true],
  ["smmu-s2-walk", "ss", false],
  ["smmu-timed-walk", "fs", true],
];

for (const [name, stage, cd] of walkCases) {
  test(`${name}: the caches' identities hold, the upper levels read once, expected addresses`, () => {
    const w = prepare(name, 4);
    const records = 4n * n;
    const [cold, warm] = passes(w);
    assert.equal(w.check(cold), []);
    assert.equal(w.check(warm), []);
    assert.equal(wrongAddresses(w), []);
    const other = stage === "fs" ? "ss" : "fs";
    const pre = stage === "fs" ? "pwcFs" : "pwcSs";
    for (const d of [cold, warm]) {
      const walks = d.arch.tlb_miss!;
      const t = d.caches.iotlb;
      assert.is(t.hits, records - walks);
      // a stage-1 miss probes the ASID's entries and the global ones
      assert.is(t.lookups, cd ? records + walks : records);
      assert.is(t.fills, walks);
      assert.ok(walks > (records * 98n) / 100n, `${name}: ${walks} walks of ${records}`); // 2048 TLB entries over 2^18 pages
      assert.is(d[stage][0], walks); // every walk reads its leaf
      assert.is(d[stage][1], d.caches[`${pre}Pde`].misses);
      assert.equal(d[other], [0n, 0n, 0n, 0n, 0n]);
      assert.is(d.timing?.timed, name === "smmu-timed-walk" ? records : undefined);
    }
    // the 1 GiB window is one entry of one 512 GiB entry: the first walk reads them, then the
    // PDPE slot holds it for good
    assert.equal([cold[stage][2], cold[stage][3], cold[stage][4]], [1n, 1n, 0n]);
    assert.equal([warm[stage][2], warm[stage][3], warm[stage][4]], [0n, 0n, 0n]);
    assert.equal([cold.caches[`${pre}Pdpe`].misses, cold.caches[`${pre}Pml4e`].lookups], [1n, 1n]);
    assert.equal([warm.caches[`${pre}Pdpe`].misses, warm.caches[`${pre}Pml4e`].lookups], [0n, 0n]);
    assert.is(cold.arch.config_struct_access, cd ? 3n : 2n);
    assert.is(warm.arch.config_struct_access, 0n);
    if (name === "smmu-timed-walk") {
      // the one full walk is the cold pass's first; every other walk resumed from a walk cache
      assert.is(cold.timing!.count.fullWalk, 1n);
      assert.is(warm.timing!.count.fullWalk, 0n);
      assert.is(warm.timing!.count.pml4eHit, 0n);
      assert.is(warm.timing!.count.pdpeHit + warm.timing!.count.pdeHit, warm.arch.tlb_miss!);
    }
  });
}

test("smmu-nested-walk: stage-2 walks = walks + stage-1 reads - stage-1 walk-cache hits (+ the CD's IPA, cold)", () => {
  const w = prepare("smmu-nested-walk", 4);
  const [cold, warm] = passes(w);
  assert.equal(w.check(cold), []);
  assert.equal(w.check(warm), []);
  assert.equal(wrongAddresses(w), []);
  for (const d of [cold, warm]) {
    const k = d.caches;
    const walks = d.arch.tlb_miss!;
    const fsHits = k.pwcFsPde.hits + k.pwcFsPdpe.hits + k.pwcFsPml4e.hits;
    assert.is(k.pwcSsPde.lookups, walks + d.fsReads - fsHits + (d.warm ? 0n : 1n));
    assert.is(k.iotlb.lookups, 4n * n + walks);
  }
  // the 256 MiB of GVA is one 1 GiB entry of one 512 GiB entry: stage 1 reads them once, cold
  assert.equal([cold.fs[2], cold.fs[3], warm.fs[2], warm.fs[3]], [1n, 1n, 0n, 0n]);
  assert.is(cold.arch.config_struct_access, 3n);
});

test("the checks catch a read, a walk-cache hit and a TLB lookup too many", () => {
  const w = prepare("smmu-s1-walk", 4);
  const [, warm] = passes(w);
  const walks = warm.arch.tlb_miss!;
  const pde = warm.caches.pwcFsPde;
  // a stage-1 leaf read too many
  const extra = w.check({ ...warm, fs: warm.fs.map((v, i) => (i === 0 ? v + 1n : v)), fsReads: warm.fsReads + 1n });
  assert.equal(extra, [
    `trans_table_walk_access (fsReads + ssReads): ${warm.fsReads}, expected ${warm.fsReads + 1n}`,
    `fs reads at level 1: ${walks + 1n}, expected ${walks}`,
    `fsReads (4*walks - 3*pwcFsPde.hits - 2*pwcFsPdpe.hits - pwcFsPml4e.hits, walks=${walks}): ${warm.fsReads + 1n}, expected ${warm.fsReads}`,
  ]);
  // a PDE-cache hit that still read the level-2 table
  const pwc = w.check({ ...warm, caches: { ...warm.caches, pwcFsPde: { ...pde, hits: pde.hits + 1n, misses: pde.misses - 1n, fills: pde.fills - 1n } } });
  assert.equal(pwc, [
    `fs reads at level 2: ${pde.misses}, expected ${pde.misses - 1n}`,
    // warm, every PDE miss hits the PDPE slot: one more PDE hit leaves -1 walks for levels 3 and 4
    "fs reads at level 3: 0, expected -1",
    "fs reads at level 4: 0, expected -1",
    `fsReads (4*walks - 3*pwcFsPde.hits - 2*pwcFsPdpe.hits - pwcFsPml4e.hits, walks=${walks}): ${warm.fsReads}, expected ${warm.fsReads - 3n}`,
    `pwcFsPdpe.lookups - pwcFsPde.misses: 1, expected 0`,
  ]);
  // a TLB miss that did not probe the global entries
  const t = warm.caches.iotlb;
  const tlb = w.check({ ...warm, caches: { ...warm.caches, iotlb: { ...t, lookups: t.lookups - 1n, misses: t.misses - 1n } } });
  assert.equal(tlb, [`iotlb.lookups (requests + 1 per walk, walks=${walks}): ${t.lookups - 1n}, expected ${t.lookups}`, `iotlb.misses (2 per walk): ${t.misses - 1n}, expected ${t.misses}`]);
  // a stage-2 read in a stage-1 format
  const s2 = w.check({ ...warm, ss: [0n, 0n, 0n, 1n, 0n], ssReads: 1n });
  assert.equal(s2, [
    `trans_table_walk_access (fsReads + ssReads): ${warm.fsReads}, expected ${warm.fsReads + 1n}`,
    "ss reads at level 4: 1, expected 0",
    "ssReads (4*walks - 3*pwcSsPde.hits - 2*pwcSsPdpe.hits - pwcSsPml4e.hits, walks=0): 1, expected 0",
  ]);
});

test.run();
