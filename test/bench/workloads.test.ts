/**
 * Benchmark workloads added for issue 9 (bench/workloads.ts), on short traces (one ring of 4096
 * records): fs4-walk, ss4-walk-nopwc, ss4-walk-nopde, text-replay and large-window each prepare,
 * run a cold and a warm pass that pass their own counter checks and translate the sampled requests
 * to their expected addresses; fs4-walk's checks catch a first-stage read too many and any
 * second-stage activity, ss4-walk-nopwc's a paging-structure-cache lookup, ss4-walk-nopde's a PDE
 * lookup and a PDPE hit too few.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { RING_RECORDS } from "../../src/core/abi.ts";
import { WINDOW_IOVA, WINDOW_PA } from "../../src/gen/random-window.ts";
import { workloads, snapshot, deltas, REQ_WORDS, type Deltas, type Prepared } from "../../bench/workloads.ts";

const N = RING_RECORDS;

function find(name: string) {
  const w = workloads.find((x) => x.name === name);
  if (!w) throw new Error(`no workload ${name}`);
  return w;
}

/** One pass as the runner makes it: the ingest pass, else the trace copied into the ring and run. */
function pass(w: Prepared): Deltas[] {
  const core = w.platform.core;
  const out: Deltas[] = [];
  for (const warm of [false, true]) {
    const s0 = snapshot(core);
    if (w.ingest) w.ingest.pass();
    else {
      core.requestWords().set(w.requests.subarray(0, N * REQ_WORDS));
      core.run(N);
    }
    out.push(deltas(s0, snapshot(core), w.records, warm));
  }
  return out;
}

/** The output addresses of the last ring of the pass (the result ring) against `w.pa`. */
function wrongAddresses(w: Prepared): string[] {
  const bad: string[] = [];
  for (let i = 0; i < N; i += 37) {
    const r = w.platform.core.decode(i);
    if (r.status !== "ok" || r.pa !== w.pa(w.records - N + i)) bad.push(`${i}: ${r.status} 0x${r.pa.toString(16)}`);
  }
  return bad;
}

/** Case `name` prepared, its cold and warm passes run, each passing its checks, with every sampled output address right. */
function checkedPasses(name: string): { w: Prepared; cold: Deltas; warm: Deltas } {
  const w = find(name).prepare(N);
  const [cold, warm] = pass(w);
  assert.equal(w.check(cold!), []);
  assert.equal(w.check(warm!), []);
  assert.equal(wrongAddresses(w), []);
  return { w, cold: cold!, warm: warm! };
}

test("the new cases are listed, each once", () => {
  const names = workloads.map((w) => w.name);
  for (const n of ["fs4-walk", "text-replay", "large-window", "large-window-timed", "ss4-walk", "ss4-walk-nopwc", "ss4-walk-nopde", "nested-walk"]) assert.is(names.filter((x) => x === n).length, 1, n);
  assert.is(find("large-window").goal?.min, 10e6);
  assert.is(find("large-window").records, 256 * RING_RECORDS);
  assert.is(find("text-replay").unit, undefined); // TLPs/s
});

test("fs4-walk: first-stage walks only, every identity holds", () => {
  const w = find("fs4-walk").prepare(N);
  const [cold, warm] = pass(w);
  assert.equal(w.check(cold!), []);
  assert.equal(w.check(warm!), []);
  assert.equal(wrongAddresses(w), []);
  // cold: nothing cached; every request walks all 4 first-stage levels or resumes from the PWC
  assert.is(cold!.ssReads, 0n);
  assert.is(cold!.counters.contextReads, 1n);
  assert.ok(cold!.fsReads >= BigInt(N) && cold!.fsReads <= 4n * BigInt(N));
  // one level-1 read too many, and one second-stage read, are each caught
  const extra = { ...warm!, fs: warm!.fs.map((v, i) => (i === 0 ? v + 1n : v)), fsReads: warm!.fsReads + 1n };
  const p = w.check(extra);
  assert.is(p.length, 2);
  assert.is(p[0], `fs reads at level 1: ${warm!.fs[0]! + 1n}, expected ${warm!.fs[0]!}`);
  assert.ok(p[1]!.startsWith(`fsReads (4*walks - 3*pwcFsPde.hits - 2*pwcFsPdpe.hits - pwcFsPml4e.hits, walks=${warm!.fs[0]!}): ${warm!.fsReads + 1n}, expected ${warm!.fsReads}`), p[1]);
  const ss = w.check({ ...warm!, ss: warm!.ss.map((v, i) => (i === 3 ? v + 1n : v)), ssReads: 1n });
  assert.equal(ss, ["ss reads at level 4: 1, expected 0", "ssReads (4*walks - 3*pwcSsPde.hits - 2*pwcSsPdpe.hits - pwcSsPml4e.hits, walks=0): 1, expected 0"]);
});

test("ss4-walk-nopwc: IOTLB, context and PASID caches on, paging-structure caches off: 4 reads per walk", () => {
  const { w, cold, warm } = checkedPasses("ss4-walk-nopwc");
  // every walk reads all 4 levels (no PWC to resume from): ssReads = 4 x (requests - IOTLB hits)
  const walks = warm.n - warm.caches.iotlb.hits;
  assert.is(warm.ssReads, 4n * walks);
  assert.is(warm.caches.iotlb.lookups, BigInt(N));
  for (const c of ["pwcSsPde", "pwcSsPdpe", "pwcSsPml4e", "pwcSsPml5e"] as const) assert.is(warm.caches[c].lookups + warm.caches[c].fills, 0n, c);
  // context and PASID entries cached: read once in the cold pass, never when warm
  assert.is(cold.counters.contextReads, 1n);
  assert.is(warm.counters.contextReads + warm.counters.pasidTableReads, 0n);
  // one PDE-cache miss is caught (this case expects no lookup): the lookup itself, the PDPE lookup
  // that should have followed it (0 - 1) and the fill that should have followed it (0 - 1)
  const pde = { ...warm.caches.pwcSsPde, lookups: 1n, misses: 1n };
  assert.equal(w.check({ ...warm, caches: { ...warm.caches, pwcSsPde: pde } }), [
    "pwcSsPde.lookups: 1, expected 0",
    "pwcSsPdpe.lookups - pwcSsPde.misses: -1, expected 0",
    "pwcSsPde.fills - misses: -1, expected 0",
  ]);
});

test("ss4-walk-nopde: the PDE cache off, the PDPE cache hit by every warm walk: 2 reads per walk", () => {
  const { w, warm } = checkedPasses("ss4-walk-nopde");
  const walks = warm.n - warm.caches.iotlb.hits;
  const { pwcSsPde: pde, pwcSsPdpe: pdpe, pwcSsPml4e: pml4e } = warm.caches;
  assert.is(pde.lookups + pde.fills, 0n);
  // the 1 GiB is one PDPE, cached in the cold pass: every warm walk resumes at the PDE table
  assert.is(pdpe.lookups, walks);
  assert.is(pdpe.hits, walks);
  assert.is(pml4e.lookups, 0n);
  assert.equal(warm.ss.slice(0, 4), [walks, walks, 0n, 0n]);
  assert.is(warm.ssReads, 2n * walks);
  // a PDE lookup is caught (this case expects none); so is a PDPE hit too few, with the PDPE and
  // PML4E reads it should have made
  assert.equal(w.check({ ...warm, caches: { ...warm.caches, pwcSsPde: { ...pde, lookups: 1n, misses: 1n, fills: 1n } } }), ["pwcSsPde.lookups: 1, expected 0"]);
  assert.equal(w.check({ ...warm, caches: { ...warm.caches, pwcSsPdpe: { ...pdpe, lookups: walks - 1n, hits: walks - 1n } } }), [
    `ss reads at level 3: 0, expected 1`,
    `ss reads at level 4: 0, expected 1`,
    `ssReads (4*walks - 3*pwcSsPde.hits - 2*pwcSsPdpe.hits - pwcSsPml4e.hits, walks=${walks}): ${2n * walks}, expected ${2n * walks + 2n}`,
    `pwcSsPdpe.lookups: ${walks - 1n}, expected ${walks}`,
  ]);
});

test("text-replay: the text trace replayed end to end translates every TLP", () => {
  const w = find("text-replay").prepare(N);
  assert.ok(w.ingest);
  const [cold, warm] = pass(w);
  assert.equal(w.check(cold!), []);
  assert.equal(w.check(warm!), []);
  assert.is(warm!.counters.requests, BigInt(N));
  assert.is(warm!.caches.iotlb.hits, BigInt(N)); // 32 pages: all cached after the cold pass
  assert.equal(wrongAddresses(w), []);
});

for (const name of ["large-window", "large-window-timed"]) {
  test(`${name}: the generated 4 GiB window, converted and replayed from the binary file`, () => {
    const w = find(name).prepare(N);
    const [cold, warm] = pass(w);
    assert.equal(w.check(cold!), []);
    assert.equal(w.check(warm!), []);
    assert.is(cold!.counters.requests, BigInt(N));
    assert.is(cold!.timing?.timed, name === "large-window" ? undefined : BigInt(N));
    assert.equal(wrongAddresses(w), []);
    // every request inside the window, mapped 1:1 from WINDOW_IOVA to WINDOW_PA
    const o = 5 * REQ_WORDS;
    const addr = (BigInt(w.requests[o + 1]!) << 32n) | BigInt(w.requests[o]!);
    assert.ok(addr >= WINDOW_IOVA && addr < WINDOW_IOVA + (4n << 30n), addr.toString(16));
    assert.is(w.pa(5), WINDOW_PA + (addr - WINDOW_IOVA));
  });
}

test.run();
