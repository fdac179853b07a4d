/**
 * SetAssoc (assembly/uarch/cache/set-assoc.ts), the one set-associative array of every cache, driven
 * through build/cache-harness.wasm (debug build: assertions and bounds checks on).
 *
 * One property per test, gem5 lru_rp.test.cc style: exact counters for hand-worked sequences, the
 * geometry of every shape (set-associative, fully associative, direct-mapped, disabled), set
 * isolation, refills without duplicates, invalidation by slot, all, and by masked key. The
 * policy-independent properties run over every replacement policy; each policy's own behaviour is
 * in test/uarch/replacement/.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { newHarness, POLICY_NAMES, type Cache, type Counters } from "./harness.ts";
import { Prng } from "../../src/util/prng.ts";

const h = newHarness();

const A = 0xa, B = 0xb, C = 0xc, D = 0xd, E = 0xe, F = 0xf;

function counters(c: Cache, want: Partial<Counters>): void {
  const got = c.counters();
  const sub = Object.fromEntries(Object.keys(want).map((k) => [k, got[k as keyof Counters]]));
  assert.equal(sub, want);
}

// ---- a hand-worked sequence ----------------------------------------------------------------------

test("a 4-entry fully associative LRU cache on A B C D A E B A F C D E: hits 2, misses 10, evictions 6", () => {
  // Each access is lookup, then fill on a miss. LRU order is written least recent first.
  //   #  access  result  victim      ways w0 w1 w2 w3   LRU order
  //   1  A       miss    (w0 free)        A  -  -  -    A
  //   2  B       miss    (w1 free)        A  B  -  -    A B
  //   3  C       miss    (w2 free)        A  B  C  -    A B C
  //   4  D       miss    (w3 free)        A  B  C  D    A B C D
  //   5  A       hit                      A  B  C  D    B C D A
  //   6  E       miss    B (w1)  ev 1     A  E  C  D    C D A E
  //   7  B       miss    C (w2)  ev 2     A  E  B  D    D A E B
  //   8  A       hit                      A  E  B  D    D E B A
  //   9  F       miss    D (w3)  ev 3     A  E  B  F    E B A F
  //  10  C       miss    E (w1)  ev 4     A  C  B  F    B A F C
  //  11  D       miss    B (w2)  ev 5     A  C  D  F    A F C D
  //  12  E       miss    A (w0)  ev 6     E  C  D  F    F C D E
  // lookups 12 = hits 2 (#5, #8) + misses 10; fills 10 (one per miss); evictions 6 (#6, #7, #9-#12).
  const c = h.cache({ entries: 4, assoc: 0, policy: "lru" });
  const hitsAt: number[] = [];
  [A, B, C, D, A, E, B, A, F, C, D, E].forEach((k, i) => {
    if (c.access(0, k)) hitsAt.push(i + 1);
  });
  assert.equal(hitsAt, [5, 8]);
  counters(c, { lookups: 12, hits: 2, misses: 10, fills: 10, evictions: 6, invalidations: 0 });
  assert.equal(c.contents(), [BigInt(E), BigInt(C), BigInt(D), BigInt(F)]);
});

test("counters: lookups = hits + misses, fills counted per fill, resetCounters zeroes all six", () => {
  const c = h.cache({ entries: 8, assoc: 2, policy: "lru" });
  c.lookup(0, A); // miss
  c.fill(0, A);
  c.lookup(0, A); // hit
  c.lookup(1, A); // miss: another set
  c.fill(0, A); // refill: a fill, not an eviction
  c.invalidate(c.probe(0, A));
  counters(c, { lookups: 3, hits: 1, misses: 2, fills: 2, evictions: 0, invalidations: 1 });
  c.resetCounters();
  counters(c, { lookups: 0, hits: 0, misses: 0, fills: 0, evictions: 0, invalidations: 0 });
});

// ---- geometry ------------------------------------------------------------------------------------

test("geometry: 64 entries 4-way = 16 sets of 4 ways; slot = set * 4 + way", () => {
  const c = h.cache({ entries: 64, assoc: 4, policy: "lru" });
  assert.equal([c.slots, c.setCount, c.setMask, c.waysPerSet, c.active], [64, 16, 15, 4, true]);
  for (let set = 0; set < 16; set++) {
    const slot = c.fill(set, 0x1000 + set);
    assert.is(slot, set * 4); // first free way of the set
    assert.is(c.setOf(slot), set);
    assert.is(c.wayOf(slot), 0);
  }
  assert.is(c.setOf(63), 15);
  assert.is(c.wayOf(63), 3);
});

test("fully associative (assoc 0): one set of `entries` ways, any keys, no eviction until full", () => {
  for (const policy of POLICY_NAMES) {
    const c = h.cache({ entries: 16, assoc: 0, policy });
    assert.equal([c.slots, c.setCount, c.setMask, c.waysPerSet], [16, 1, 0, 16], policy);
    const slots = new Set<number>();
    for (let k = 0; k < 16; k++) slots.add(c.fill(0, 0x100 * k + 7));
    assert.is(slots.size, 16, policy);
    assert.is(c.counters().evictions, 0, policy);
    for (let k = 0; k < 16; k++) assert.ok(c.lookup(0, 0x100 * k + 7) >= 0, policy);
    c.fill(0, 0xdead);
    assert.is(c.counters().evictions, 1, policy);
  }
});

test("direct-mapped (assoc 1): slot = set, and two keys of one set evict each other every time", () => {
  for (const policy of POLICY_NAMES) {
    const c = h.cache({ entries: 8, assoc: 1, policy });
    assert.equal([c.slots, c.setCount, c.waysPerSet], [8, 8, 1], policy);
    for (let i = 0; i < 10; i++) {
      assert.is(c.access(3, i % 2 === 0 ? A : B), false, policy);
      assert.is(c.probe(3, i % 2 === 0 ? A : B), 3, policy);
      assert.is(c.probe(3, i % 2 === 0 ? B : A), -1, policy);
    }
    counters(c, { lookups: 10, hits: 0, misses: 10, fills: 10, evictions: 9 });
    assert.equal(c.contents().filter((k) => k !== undefined).length, 1, policy);
  }
});

test("entries = 0: disabled; every lookup misses and is counted; fill asserts in the debug build", () => {
  for (const policy of POLICY_NAMES) {
    const c = h.cache({ entries: 0, assoc: 0, policy, payloadBytes: 16 });
    assert.equal([c.slots, c.setCount, c.setMask, c.waysPerSet, c.active], [0, 1, 0, 0, false], policy);
    assert.is(c.lookup(0, A), -1);
    assert.is(c.lookup(0, B, 5), -1);
    assert.is(c.probe(0, A), -1);
    counters(c, { lookups: 2, hits: 0, misses: 2, fills: 0, evictions: 0, invalidations: 0 });
    assert.throws(() => c.fill(0, A), /abort/);
    c.invalidateAll();
    assert.is(c.invalidateMatching(0, 0, 0, 0), 0);
    counters(c, { invalidations: 0 });
  }
  // Same with an explicit associativity.
  const c = h.cache({ entries: 0, assoc: 4, policy: "plru" });
  assert.equal([c.slots, c.setCount, c.waysPerSet, c.active], [0, 1, 0, false]);
});

test("geometry checks assert in the debug build: partial sets, PLRU ways; any number of sets is fine", () => {
  // Set counts need not be powers of two (gem5's walk-cache partitions: 348 entries, 4 ways = 87 sets).
  const three = h.cache({ entries: 12, assoc: 4, policy: "lru" });
  assert.is(three.setCount, 3);
  assert.throws(() => h.cache({ entries: 10, assoc: 4, policy: "lru" }), /abort/); // 2.5 sets
  assert.throws(() => h.cache({ entries: 4, assoc: 8, policy: "lru" }), /abort/); // assoc > entries
  assert.throws(() => h.cache({ entries: 24, assoc: 0, policy: "plru" }), /abort/); // 24 ways
  assert.throws(() => h.cache({ entries: 8, assoc: 2, policy: "lru", payloadBytes: 12 }), /abort/);
  // Non-power-of-two ways are fine for every other policy, and for PLRU only powers of two.
  h.cache({ entries: 24, assoc: 0, policy: "lru" });
  h.cache({ entries: 48, assoc: 12, policy: "random" });
  assert.equal(POLICY_NAMES.map((p) => h.policySupports(p, 12)), [true, false, true, true, true]);
  assert.equal(POLICY_NAMES.map((p) => h.policySupports(p, 16)), [true, true, true, true, true]);
});

// ---- lookup and probe ----------------------------------------------------------------------------

test("lookup: the slot of the valid way with exactly that key (both words, all 64 bits), else -1", () => {
  const c = h.cache({ entries: 16, assoc: 4, policy: "lru" });
  const k = 0x1234_5678_9abc_def0n;
  const s1 = c.fill(2, k, 1);
  const s2 = c.fill(2, k, 2);
  const s3 = c.fill(2, k ^ (1n << 63n), 1);
  const s4 = c.fill(2, 0x9abc_def0n, 1); // same low word as k
  assert.equal(new Set([s1, s2, s3, s4]).size, 4);
  assert.is(c.lookup(2, k, 1), s1);
  assert.is(c.lookup(2, k, 2), s2);
  assert.is(c.lookup(2, k ^ (1n << 63n), 1), s3);
  assert.is(c.lookup(2, 0x9abc_def0n, 1), s4);
  assert.is(c.lookup(2, k, 3), -1);
  assert.is(c.lookup(2, k, 1n << 32n | 1n), -1);
  assert.is(c.lookup(1, k, 1), -1); // same key, another set
  assert.equal([c.key0(s3), c.key1(s3)], [k ^ (1n << 63n), 1n]);
  assert.equal([c.key0(s2), c.key1(s2)], [k, 2n]);
});

test("probe: finds like lookup, but counts nothing and does not touch the policy", () => {
  for (const touching of [false, true]) {
    const c = h.cache({ entries: 4, assoc: 0, policy: "lru" });
    [A, B, C, D].forEach((k) => c.fill(0, k));
    const before = c.counters();
    const slot = touching ? c.lookup(0, A) : c.probe(0, A);
    assert.is(slot, 0);
    assert.is(c.probe(0, E), -1);
    if (!touching) assert.equal(c.counters(), before);
    // A probed stays least recent and is evicted; A looked up is not.
    c.fill(0, E);
    assert.is(c.probe(0, A), touching ? 0 : -1);
    assert.is(c.probe(0, B), touching ? -1 : 1);
  }
});

test("probe + touch(slot) = a lookup hit for the policy, with nothing counted", () => {
  for (const policy of POLICY_NAMES) {
    const viaLookup = h.cache({ entries: 8, assoc: 0, policy, seed: 9 });
    const viaTouch = h.cache({ entries: 8, assoc: 0, policy, seed: 9 });
    for (const c of [viaLookup, viaTouch]) for (let k = 0; k < 8; k++) c.fill(0, k);
    const r = new Prng(3);
    for (let i = 0; i < 200; i++) {
      const k = r.int(12);
      if (viaLookup.lookup(0, k) < 0) viaLookup.fill(0, k);
      const slot = viaTouch.probe(0, k);
      if (slot >= 0) viaTouch.touch(slot);
      else viaTouch.fill(0, k);
    }
    assert.equal(viaTouch.contents(), viaLookup.contents(), policy);
    counters(viaTouch, { lookups: 0, hits: 0, misses: 0 });
  }
  const c = h.cache({ entries: 4, assoc: 0, policy: "lru" });
  assert.throws(() => c.touch(0), /abort/); // not valid
});

// ---- fill ----------------------------------------------------------------------------------------

test("fill of a key already present reuses its way: no duplicate, no eviction, a fill counted", () => {
  for (const policy of POLICY_NAMES) {
    const c = h.cache({ entries: 4, assoc: 0, policy });
    const slots = [A, B, C, D].map((k) => c.fill(0, k));
    assert.equal(slots, [0, 1, 2, 3], policy);
    assert.is(c.fill(0, C), 2, policy);
    assert.is(c.fill(0, C), 2, policy);
    counters(c, { fills: 6, evictions: 0 });
    assert.equal(c.contents(), [A, B, C, D].map(BigInt), policy);
    // After an invalidation earlier in the set, the refill still finds the key, not the hole.
    c.invalidate(0);
    assert.is(c.fill(0, D), 3, policy);
    assert.is(c.contents().filter((k) => k === BigInt(D)).length, 1, policy);
  }
});

test("fill takes the first invalid way of the set, in way order", () => {
  const c = h.cache({ entries: 8, assoc: 0, policy: "lru" });
  for (let k = 0; k < 8; k++) assert.is(c.fill(0, 100 + k), k);
  c.invalidate(5);
  c.invalidate(2);
  assert.is(c.fill(0, 200), 2);
  assert.is(c.fill(0, 201), 5);
  counters(c, { fills: 10, evictions: 0, invalidations: 2 });
});

test("set isolation: fills into one set never evict another set's ways (every policy)", () => {
  for (const policy of POLICY_NAMES) {
    const c = h.cache({ entries: 16, assoc: 4, policy, seed: 7 });
    for (let w = 0; w < 4; w++) c.fill(1, 0x100 + w);
    for (let w = 0; w < 2; w++) c.fill(3, 0x300 + w);
    const before = c.contents();
    for (let k = 0; k < 200; k++) {
      const slot = c.fill(2, 0x200 + k);
      assert.is(c.setOf(slot), 2, policy);
      if (k % 3 === 0) c.lookup(2, 0x200 + k - 1);
    }
    for (let s = 0; s < 16; s++) if (c.setOf(s) !== 2) assert.is(c.contents()[s], before[s], `${policy} slot ${s}`);
    counters(c, { evictions: 196 });
  }
});

test("payload: payloadBytes per slot, 8-aligned, distinct per slot, written by the caller after fill", () => {
  const c = h.cache({ entries: 16, assoc: 4, policy: "fifo", payloadBytes: 24 });
  const addr = [...Array(16).keys()].map((s) => c.payloadAddress(s));
  for (let s = 0; s < 16; s++) {
    assert.is(addr[s]! % 8, 0);
    if (s > 0) assert.is(addr[s]! - addr[s - 1]!, 24);
  }
  const slot = c.fill(1, A);
  c.payloadWrite32(slot, 0, 0x11111111);
  c.payloadWrite32(slot, 20, 0x22222222);
  const other = c.fill(1, B);
  c.payloadWrite32(other, 0, 0x33333333);
  assert.equal([c.payloadRead32(slot, 0), c.payloadRead32(slot, 20), c.payloadRead32(other, 0)],
    [0x11111111, 0x22222222, 0x33333333]);
  assert.throws(() => c.payloadRead32(slot, 24), /abort/); // beyond the payload (harness check)
  const none = h.cache({ entries: 8, assoc: 2, policy: "lru", payloadBytes: 0 });
  assert.is(none.fill(0, A), 0);
  assert.is(none.lookup(0, A), 0);
});

// ---- invalidation --------------------------------------------------------------------------------

test("invalidate: the way stops hitting, is counted once, and an invalid slot is not counted", () => {
  const c = h.cache({ entries: 8, assoc: 2, policy: "lru" });
  const a = c.fill(3, A);
  const b = c.fill(3, B);
  c.invalidate(a);
  assert.is(c.isValid(a), false);
  assert.is(c.isValid(b), true);
  assert.is(c.lookup(3, A), -1);
  assert.is(c.lookup(3, B), b);
  c.invalidate(a); // already invalid
  c.invalidate(0); // never filled
  counters(c, { invalidations: 1 });
  // The key words stay readable; only the valid flag changed.
  assert.is(c.key0(a), BigInt(A));
});

test("invalidateAll: every valid way, each counted; the cache then fills from way 0 again", () => {
  const c = h.cache({ entries: 8, assoc: 4, policy: "roundRobin" });
  c.fill(0, A);
  c.fill(0, B);
  c.fill(1, C);
  c.invalidateAll();
  counters(c, { invalidations: 3 });
  assert.equal(c.contents(), Array(8).fill(undefined));
  assert.is(c.fill(1, D), 4);
});

test("invalidateMatching: masks on both key words; returns and counts the ways it removed", () => {
  // k0 = domain << 48 | page number, k1 = pasid: the shape of an IOTLB tag.
  const c = h.cache({ entries: 64, assoc: 8, policy: "lru" });
  const tag = (dom: number, page: number) => (BigInt(dom) << 48n) | BigInt(page);
  const entries: [bigint, number][] = [];
  for (let dom = 1; dom <= 3; dom++) {
    for (let page = 0; page < 6; page++) {
      for (const pasid of [0, 5]) {
        const k0 = tag(dom, page);
        c.fill(page & 7, k0, pasid);
        entries.push([k0, pasid]);
      }
    }
  }
  const present = () => entries.filter(([k0, k1]) => c.probe(Number(k0 & 7n), k0, k1) >= 0);
  const DOM = 0xffffn << 48n;
  // Domain 2, any page, any PASID: 12 ways.
  assert.is(c.invalidateMatching(DOM, 2n << 48n, 0, 0), 12);
  assert.ok(present().every(([k0]) => k0 >> 48n !== 2n));
  // Domain 3, PASID 5 (both words): 6 ways.
  assert.is(c.invalidateMatching(DOM, 3n << 48n, 0xffff_ffff_ffff_ffffn, 5), 6);
  assert.ok(present().every(([k0, k1]) => !(k0 >> 48n === 3n && k1 === 5)));
  // A value with bits outside its mask matches nothing.
  assert.is(c.invalidateMatching(DOM, (1n << 48n) | 1n, 0, 0), 0);
  // Pages 0-1 of domain 1 (a range as a mask on the low bits).
  assert.is(c.invalidateMatching(DOM | 0xfffffffffffen, 1n << 48n, 0, 0), 4);
  assert.is(present().length, 36 - 12 - 6 - 4);
  counters(c, { invalidations: 22 });
  // Mask 0, value 0: everything left.
  assert.is(c.invalidateMatching(0, 0, 0, 0), 14);
  assert.is(present().length, 0);
  assert.is(c.invalidateMatching(0, 0, 0, 0), 0);
});

test("invalidated ways are filled before any valid way is evicted (every policy)", () => {
  for (const policy of POLICY_NAMES) {
    const c = h.cache({ entries: 8, assoc: 0, policy, seed: 3 });
    for (let k = 0; k < 8; k++) c.fill(0, k);
    c.invalidate(6);
    c.invalidate(1);
    assert.is(c.fill(0, 100), 1, policy);
    assert.is(c.fill(0, 101), 6, policy);
    counters(c, { evictions: 0 });
    c.fill(0, 102);
    counters(c, { evictions: 1 });
  }
});

// ---- invariants over random operation sequences ---------------------------------------------------

test("random operations (every policy, several geometries): counter identities, no duplicate keys", () => {
  const geometries = [
    { entries: 16, assoc: 4 },
    { entries: 8, assoc: 0 },
    { entries: 32, assoc: 1 },
    { entries: 64, assoc: 8 },
  ];
  for (const policy of POLICY_NAMES) {
    for (const g of geometries) {
      const r = new Prng(0x5e7a550c);
      const c = h.cache({ ...g, policy, seed: 11 });
      let valid = 0, invalidated = 0, refills = 0;
      const where = `${policy} ${g.entries}/${g.assoc}`;
      for (let i = 0; i < 3000; i++) {
        const k0 = r.int(24), k1 = r.int(2), set = k0 & c.setMask;
        const op = r.int(20);
        if (op === 0) {
          const slot = r.int(c.slots);
          if (c.isValid(slot)) invalidated++;
          c.invalidate(slot);
        } else if (op === 1) {
          if (c.probe(set, k0, k1) >= 0) refills++;
          c.fill(set, k0, k1);
        } else {
          const slot = c.lookup(set, k0, k1);
          if (slot >= 0) assert.equal([c.key0(slot), c.key1(slot), c.setOf(slot)], [BigInt(k0), BigInt(k1), set]);
          else c.fill(set, k0, k1);
        }
      }
      const n = c.counters();
      const contents = [...Array(c.slots).keys()].filter((s) => c.isValid(s)).map((s) => `${c.key0(s)}/${c.key1(s)}`);
      valid = contents.length;
      assert.is(new Set(contents).size, valid, where); // no key twice
      assert.is(n.hits + n.misses, n.lookups, where);
      assert.is(n.invalidations, invalidated, where);
      // Every fill either refilled a present key, took a free way, or evicted; ways are conserved.
      assert.is(valid, n.fills - refills - n.evictions - n.invalidations, where);
    }
  }
});

test.run();
