/**
 * Tree pseudo-LRU (assembly/uarch/cache/replacement/tree-plru.ts): ways - 1 bits per set in a heap-
 * numbered tree (node 1 the root, children 2n and 2n + 1, way w = leaf ways + w). bit(n) = 0 sends
 * the victim left, 1 right. A fill or hit points every node on the way's path away from it; the
 * victim follows the bits from the root; an invalidation points the path toward the way.
 *
 * The victim sequences below are worked out by hand, bit by bit, in the comments.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { newHarness, type Cache } from "../harness.ts";
import { Prng } from "../../../src/util/prng.ts";

const h = newHarness();

function filled(ways: number, keys: number[]): Cache {
  const c = h.cache({ entries: ways, assoc: 0, policy: "plru" });
  keys.forEach((k, w) => assert.is(c.fill(0, k), w));
  return c;
}

test("4-way: hand-worked victim sequence (and where it departs from true LRU)", () => {
  // Nodes: 1 (root), 2 (ways 0-1), 3 (ways 2-3). Bits written n1 n2 n3; all start at 0.
  //   fill A -> w0   leaf 4 is left of 2: n2=1; 2 is left of 1: n1=1          1 1 0
  //   fill B -> w1   leaf 5 is right of 2: n2=0; n1=1                          1 0 0
  //   fill C -> w2   leaf 6 is left of 3: n3=1; 3 is right of 1: n1=0         0 0 1
  //   fill D -> w3   leaf 7 is right of 3: n3=0; n1=0                          0 0 0
  //   hit  A (w0)    n2=1, n1=1                                                1 1 0
  //   victim: n1=1 -> node 3; n3=0 -> w2 (C). True LRU would take B (w1).
  //   fill E -> w2   n3=1, n1=0                                                0 1 1
  //   victim: n1=0 -> node 2; n2=1 -> w1 (B)
  //   fill F -> w1   n2=0, n1=1                                                1 0 1
  //   victim: n1=1 -> node 3; n3=1 -> w3 (D)
  //   fill G -> w3   n3=0, n1=0                                                0 0 0
  //   victim: w0 (A)
  //   fill H -> w0   n2=1, n1=1                                                1 1 0
  //   hit  E (w2)    n3=1, n1=0                                                0 1 1
  //   victim: n1=0 -> node 2; n2=1 -> w1 (F)
  //   fill I -> w1
  const c = filled(4, [0xa, 0xb, 0xc, 0xd]);
  c.lookup(0, 0xa);
  const victims: number[] = [];
  for (const k of [0xe, 0xf, 0x10, 0x11]) victims.push(c.fill(0, k)); // E F G H
  c.lookup(0, 0xe);
  victims.push(c.fill(0, 0x12)); // I
  assert.equal(victims, [2, 1, 3, 0, 1]);
  assert.equal(c.contents(), [0x11n, 0x12n, 0xen, 0x10n]); // H I E G
});

test("8-way: hand-worked victim sequence", () => {
  // Nodes 1-7: 1 root; 2 (w0-3), 3 (w4-7); 4 (w0-1), 5 (w2-3), 6 (w4-5), 7 (w6-7); way w = leaf 8 + w.
  // Bits written n1 n2 n3 n4 n5 n6 n7. Filling K0..K7 into w0..w7 in order leaves every bit 0
  // (the last write to each node comes from its right subtree).
  //   hit  K0 (w0)  leaf 8 left of 4: n4=1; 4 left of 2: n2=1; 2 left of 1: n1=1   1 1 0 1 0 0 0
  //                 victim: n1=1 -> 3; n3=0 -> 6; n6=0 -> w4
  //   hit  K4 (w4)  leaf 12 left of 6: n6=1; 6 left of 3: n3=1; 3 right of 1: n1=0  0 1 1 1 0 1 0
  //                 victim: n1=0 -> 2; n2=1 -> 5; n5=0 -> w2
  //   hit  K2 (w2)  leaf 10 left of 5: n5=1; 5 right of 2: n2=0; n1=1              1 0 1 1 1 1 0
  //                 victim: n1=1 -> 3; n3=1 -> 7; n7=0 -> w6
  //   fill K8  -> w6   leaf 14 left of 7: n7=1; 7 right of 3: n3=0; n1=0           0 0 0 1 1 1 1
  //                 victim: n1=0 -> 2; n2=0 -> 4; n4=1 -> w1
  //   fill K9  -> w1   leaf 9 right of 4: n4=0; n2=1; n1=1                         1 1 0 0 1 1 1
  //                 victim: n1=1 -> 3; n3=0 -> 6; n6=1 -> w5
  //   fill K10 -> w5   leaf 13 right of 6: n6=0; 6 left of 3: n3=1; n1=0           0 1 1 0 1 0 1
  //                 victim: n1=0 -> 2; n2=1 -> 5; n5=1 -> w3
  //   fill K11 -> w3   leaf 11 right of 5: n5=0; 5 right of 2: n2=0; n1=1          1 0 1 0 0 0 1
  //                 victim: n1=1 -> 3; n3=1 -> 7; n7=1 -> w7
  //   fill K12 -> w7   n7=0, n3=0, n1=0                                             0 0 0 0 0 0 0
  //                 victim: w0
  //   fill K13 -> w0   (K0, hit at the start, is evicted by now)
  const keys = [...Array(14).keys()].map((i) => 0x100 + i); // K0..K13
  const c = filled(8, keys.slice(0, 8));
  for (const i of [0, 4, 2]) assert.ok(c.lookup(0, keys[i]!) >= 0);
  const victims = keys.slice(8).map((k) => c.fill(0, k));
  assert.equal(victims, [6, 1, 5, 3, 7, 0]);
  // K13 K9 K2 K11 K4 K10 K8 K12
  assert.equal(c.contents(), [13, 9, 2, 11, 4, 10, 8, 12].map((i) => BigInt(keys[i]!)));
});

test("a way just touched is never the next victim", () => {
  for (const ways of [2, 4, 8, 16, 64]) {
    const c = filled(ways, [...Array(ways).keys()]);
    const r = new Prng(ways);
    for (let i = 0; i < 500; i++) {
      const w = r.int(ways);
      c.lookup(0, w);
      assert.is.not(c.victim(), w, `${ways} ways, touch ${w}`);
    }
  }
});

test("invalidate points the path at the way: it is the next victim (victim() asked directly)", () => {
  for (const ways of [2, 4, 8, 64]) {
    for (let w = 0; w < ways; w++) {
      const c = filled(ways, [...Array(ways).keys()]);
      c.lookup(0, (w + 1) % ways);
      c.invalidate(w);
      assert.is(c.victim(), w, `${ways} ways, invalidate ${w}`);
    }
  }
});

test("through SetAssoc an invalidated way is refilled before anything is evicted", () => {
  const c = filled(8, [...Array(8).keys()]);
  c.invalidate(5);
  c.invalidate(2);
  assert.equal([c.fill(0, 100), c.fill(0, 101)], [2, 5]);
  assert.is(c.counters().evictions, 0);
});

test("1 way per set: no bits, the victim is way 0", () => {
  const c = h.cache({ entries: 4, assoc: 1, policy: "plru" });
  c.fill(2, 1);
  assert.is(c.fill(2, 2), 2);
  assert.is(c.victim(2), 0);
});

test("each set has its own tree", () => {
  const c = h.cache({ entries: 8, assoc: 4, policy: "plru" });
  for (const set of [0, 1]) for (let w = 0; w < 4; w++) c.fill(set, 16 * set + w);
  c.lookup(1, 16); // set 1: w0 touched -> victim w2; set 0 keeps victim w0
  assert.equal([c.victim(0), c.victim(1)], [0, 2]);
});

/** Reference tree PLRU over one set, written independently of the AS code (bit array per node). */
class RefPlru {
  bits: number[];
  constructor(readonly ways: number) {
    this.bits = Array(ways).fill(0);
  }
  use(w: number): void {
    for (let n = this.ways + w; n > 1; n >>= 1) this.bits[n >> 1] = n & 1 ? 0 : 1;
  }
  victim(): number {
    let n = 1;
    while (n < this.ways) n = 2 * n + this.bits[n]!;
    return n - this.ways;
  }
}

test("matches a reference tree PLRU on random traces, up to 256 ways (multi-word state)", () => {
  for (const [entries, assoc] of [[64, 8], [32, 32], [64, 0], [256, 0], [512, 128]] as const) {
    const c = h.cache({ entries, assoc, policy: "plru" });
    const sets = c.setCount, ways = c.waysPerSet;
    const ref = Array.from({ length: sets }, () => new RefPlru(ways));
    const held: number[][] = Array.from({ length: sets }, () => []); // key by way
    const r = new Prng(entries + assoc);
    for (let i = 0; i < 6000; i++) {
      const k = r.int(2 * entries), set = k % sets, m = held[set]!;
      const way = m.indexOf(k);
      const slot = c.lookup(set, k);
      assert.is(slot >= 0 ? slot - set * ways : -1, way, `${entries}/${assoc} access ${i}`);
      if (way >= 0) {
        ref[set]!.use(way);
        continue;
      }
      const expect = m.length < ways ? m.length : ref[set]!.victim();
      assert.is(c.fill(set, k) - set * ways, expect, `${entries}/${assoc} fill ${i}`);
      m[expect] = k;
      ref[set]!.use(expect);
    }
  }
});

test.run();
