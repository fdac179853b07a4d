/**
 * True LRU (assembly/uarch/cache/replacement/lru.ts): the victim is the way whose last fill or hit
 * is oldest. One property per test, after gem5's lru_rp.test.cc, driven through SetAssoc: a
 * fully associative cache of 4 ways is one set, filled A B C D into ways 0-3.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { newHarness, type Cache } from "../harness.ts";
import { Prng } from "../../../src/util/prng.ts";

const h = newHarness();
const A = 0xa, B = 0xb, C = 0xc, D = 0xd;

/** One 4-way set holding A B C D in ways 0-3 (filled in that order). */
function abcd(): Cache {
  const c = h.cache({ entries: 4, assoc: 0, policy: "lru" });
  [A, B, C, D].forEach((k) => c.fill(0, k));
  return c;
}

test("with no hits, the victim is the way filled first", () => {
  const c = abcd();
  assert.is(c.fill(0, 0x100), 0); // A
});

test("the victim is the least recently touched way", () => {
  const c = abcd();
  // Touch order C A D B: C is now least recent.
  for (const k of [C, A, D, B]) c.lookup(0, k);
  assert.is(c.fill(0, 0x100), 2);
});

test("a touch makes a way the most recent: it is evicted last", () => {
  const c = abcd();
  c.lookup(0, A);
  const evicted = [0x100, 0x101, 0x102, 0x103].map((k) => c.fill(0, k));
  assert.equal(evicted, [1, 2, 3, 0]); // B C D, then A
});

test("a refill of a present key makes it the most recent", () => {
  const c = abcd();
  c.fill(0, A);
  assert.is(c.fill(0, 0x100), 1); // B, not A
});

test("misses do not change recency", () => {
  const c = abcd();
  for (let k = 0x200; k < 0x210; k++) c.lookup(0, k);
  assert.is(c.fill(0, 0x100), 0);
});

test("invalidated ways are filled first, whatever their recency", () => {
  const c = abcd();
  c.lookup(0, A);
  c.lookup(0, B);
  c.invalidate(3); // D, the most recent fill
  assert.is(c.fill(0, 0x100), 3);
  assert.is(c.counters().evictions, 0);
  assert.is(c.fill(0, 0x101), 2); // then C, the least recent
});

test("an invalidated way is older than every used way (victim() asked directly)", () => {
  const c = abcd();
  c.invalidate(2);
  assert.is(c.victim(), 2);
});

test("ties (ways never used, or invalidated) go to the lowest way", () => {
  const empty = h.cache({ entries: 4, assoc: 0, policy: "lru" });
  assert.is(empty.victim(), 0);
  const c = abcd();
  c.invalidate(3);
  c.invalidate(1);
  assert.is(c.victim(), 1);
});

test("8 ways: the oldest way in either half, the lowest of two invalidated ways", () => {
  const c = h.cache({ entries: 8, assoc: 0, policy: "lru" });
  for (let k = 0; k < 8; k++) c.fill(0, 0x10 + k);
  assert.is(c.victim(), 0); // filled first
  for (let k = 0; k < 5; k++) c.lookup(0, 0x10 + k); // ways 0-4 used again: way 5 is now the oldest
  assert.is(c.victim(), 5);
  c.invalidate(6);
  c.invalidate(2);
  assert.is(c.victim(), 2); // both invalid (stamp 0): the lower way
  c.invalidate(0); // way 0 too: lower still
  assert.is(c.victim(), 0);
});

test("each set keeps its own recency", () => {
  const c = h.cache({ entries: 8, assoc: 4, policy: "lru" });
  for (const set of [0, 1]) for (let w = 0; w < 4; w++) c.fill(set, 16 * set + w);
  c.lookup(0, 0); // set 0: way 0 most recent; set 1 unchanged
  assert.is(c.fill(1, 0x100), 4); // set 1 way 0
  assert.is(c.fill(0, 0x100), 1); // set 0 way 1
});

test("matches a reference LRU on random traces (8 sets of 4 ways; 4 sets of 8 ways; 16 ways fully associative)", () => {
  for (const [entries, assoc] of [[32, 4], [32, 8], [16, 0]] as const) {
    const c = h.cache({ entries, assoc, policy: "lru" });
    const sets = c.setCount, ways = c.waysPerSet;
    const model: number[][] = Array.from({ length: sets }, () => []); // least recent first
    const r = new Prng(entries);
    for (let i = 0; i < 20_000; i++) {
      const k = r.int(3 * entries), set = k & (sets - 1), m = model[set]!;
      const at = m.indexOf(k);
      assert.is(c.access(set, k), at >= 0, `access ${i}: hit`);
      if (at >= 0) m.splice(at, 1);
      else if (m.length === ways) m.shift();
      m.push(k);
      const held = [];
      for (let w = 0; w < ways; w++) if (c.isValid(set * ways + w)) held.push(Number(c.key0(set * ways + w)));
      assert.equal(held.sort((x, y) => x - y), [...m].sort((x, y) => x - y), `access ${i}: contents`);
    }
  }
});

test.run();
