/**
 * The SMMUv3 benchmark cases of issue 10 (bench/workloads.ts: walk formats smmu-s1-4k, smmu-s2-4k,
 * smmu-nested4x4), on one ring of 4096 records: each prepares, runs a cold and a warm pass that pass
 * its own checks with exact read counts per level and stage, and translates sampled requests to
 * their expected addresses; the checks catch a read too many.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { RING_RECORDS } from "../../src/core/abi.ts";
import { workloads, snapshot, deltas, REQ_WORDS, type Deltas, type Prepared } from "../../bench/workloads.ts";

const N = RING_RECORDS;
const n = BigInt(N);

function prepare(name: string): Prepared {
  const w = workloads.find((x) => x.name === name);
  if (!w) throw new Error(`no workload ${name}`);
  return w.prepare(N);
}

function passes(w: Prepared): [Deltas, Deltas] {
  const core = w.platform.core;
  const out: Deltas[] = [];
  for (const warm of [false, true]) {
    const s0 = snapshot(core);
    core.requestWords().set(w.requests.subarray(0, N * REQ_WORDS));
    core.run(N);
    out.push(deltas(s0, snapshot(core), w.records, warm));
  }
  return out as [Deltas, Deltas];
}

function wrongAddresses(w: Prepared): string[] {
  const bad: string[] = [];
  for (let i = 0; i < N; i += 37) {
    const r = w.platform.core.decode(i);
    if (r.status !== "ok" || r.pa !== w.pa(i)) bad.push(`${i}: ${r.status} 0x${r.pa.toString(16)}`);
  }
  return bad;
}

test("the SMMUv3 cases are listed once each, with issue 10's floors", () => {
  const goal = (name: string) => workloads.filter((w) => w.name === name).map((w) => w.goal?.min ?? null);
  assert.equal(goal("smmu-s1-hit"), [100e6]);
  assert.equal(goal("smmu-s1-walk"), [20e6]);
  assert.equal(goal("smmu-s2-walk"), [20e6]);
  assert.equal(goal("smmu-nested-walk"), [5e6]);
  assert.equal(goal("smmu-timed-walk"), [null]);
});

// [case, fs reads per level, ss reads per level (warm), structures read on the cold miss (L1STD, STE, CD)]
const cases: [string, bigint, bigint, bigint][] = [
  ["smmu-s1-hit", n, 0n, 3n],
  ["smmu-s1-walk", n, 0n, 3n],
  ["smmu-s2-walk", 0n, n, 2n],
  ["smmu-nested-walk", n, 5n * n, 3n],
  ["smmu-timed-walk", n, 0n, 3n],
];

for (const [name, fs, ss, structs] of cases) {
  test(`${name}: every identity holds, exact reads per level, expected addresses`, () => {
    const w = prepare(name);
    const [cold, warm] = passes(w);
    assert.equal(w.check(cold), []);
    assert.equal(w.check(warm), []);
    assert.equal(wrongAddresses(w), []);
    for (const d of [cold, warm]) {
      assert.is(d.counters.requests, n);
      assert.is(d.counters.translated, n);
      assert.is(d.arch.transaction, n);
      assert.is(d.arch.tlb_miss, n);
      assert.equal(d.fs, [fs, fs, fs, fs, 0n]);
    }
    // nested: the cold pass also walks the CD's IPA through stage 2 once (one read per level)
    const coldSs = name === "smmu-nested-walk" ? ss + 1n : ss;
    assert.equal(cold.ss, [coldSs, coldSs, coldSs, coldSs, 0n]);
    assert.equal(warm.ss, [ss, ss, ss, ss, 0n]);
    assert.is(cold.arch.config_struct_access, structs);
    assert.is(warm.arch.config_struct_access, 0n);
    assert.is(cold.arch.config_cache_miss, 1n);
    assert.is(warm.caches.contextCache.hits, n);
    assert.is(warm.timing?.timed, name === "smmu-timed-walk" ? n : undefined);
  });
}

test("smmu-s1-walk: a stage-1 read too many, or a stage-2 read, is caught", () => {
  const w = prepare("smmu-s1-walk");
  const [, warm] = passes(w);
  const extra = w.check({ ...warm, fs: warm.fs.map((v, i) => (i === 2 ? v + 1n : v)), fsReads: warm.fsReads + 1n });
  assert.equal(extra, [`fs reads at level 3: ${n + 1n}, expected ${n}`, `trans_table_walk_access (fsReads + ssReads): ${4n * n}, expected ${4n * n + 1n}`]);
  const s2 = w.check({ ...warm, ss: [0n, 0n, 0n, 1n, 0n], ssReads: 1n });
  assert.equal(s2, ["ss reads at level 4: 1, expected 0", `trans_table_walk_access (fsReads + ssReads): ${4n * n}, expected ${4n * n + 1n}`]);
});

test.run();
