/**
 * FIFO (assembly/uarch/cache/replacement/fifo.ts): the victim is the way filled longest ago; hits
 * do not change the order. One property per test, driven through SetAssoc: a fully associative
 * cache of 4 ways is one set, filled A B C D into ways 0-3.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { newHarness, type Cache } from "../harness.ts";
import { Prng } from "../../../src/util/prng.ts";

const h = newHarness();
const A = 0xa, B = 0xb, C = 0xc, D = 0xd, E = 0xe, F = 0xf;

function abcd(): Cache {
  const c = h.cache({ entries: 4, assoc: 0, policy: "fifo" });
  [A, B, C, D].forEach((k) => c.fill(0, k));
  return c;
}

test("the victim is the way filled longest ago; victims then follow fill order", () => {
  const c = abcd();
  const victims = [0x100, 0x101, 0x102, 0x103, 0x104, 0x105].map((k) => c.fill(0, k));
  assert.equal(victims, [0, 1, 2, 3, 0, 1]);
});

test("hits do not change the victim", () => {
  const c = abcd();
  for (let i = 0; i < 10; i++) for (const k of [A, A, B, A]) c.lookup(0, k);
  assert.is(c.fill(0, 0x100), 0); // still A
  assert.is(c.fill(0, 0x101), 1); // then B
});

test("a refill of a present key makes it the newest", () => {
  const c = abcd();
  c.fill(0, A);
  assert.is(c.fill(0, 0x100), 1); // B, not A
});

test("invalidated ways are filled first, and the refilled way is then the newest", () => {
  const c = abcd();
  c.invalidate(0);
  assert.is(c.fill(0, E), 0);
  assert.is(c.counters().evictions, 0);
  assert.equal([c.fill(0, 0x100), c.fill(0, 0x101), c.fill(0, 0x102), c.fill(0, 0x103)], [1, 2, 3, 0]);
});

test("a 4-entry FIFO cache on A B C D A E B A F C D E: hits 2, misses 10, evictions 6", () => {
  // Queue written oldest first; hits leave it alone.
  //   1-4  A B C D   miss x4, ways 0-3                queue A B C D
  //   5    A         hit                              A B C D
  //   6    E         miss, evict A (w0)     ev 1      B C D E
  //   7    B         hit (LRU would have evicted B at #6)
  //   8    A         miss, evict B (w1)     ev 2      C D E A
  //   9    F         miss, evict C (w2)     ev 3      D E A F
  //  10    C         miss, evict D (w3)     ev 4      E A F C
  //  11    D         miss, evict E (w0)     ev 5      A F C D
  //  12    E         miss, evict A (w1)     ev 6      F C D E
  // Ways: w0 D, w1 E, w2 F, w3 C.
  const c = h.cache({ entries: 4, assoc: 0, policy: "fifo" });
  const hitsAt: number[] = [];
  [A, B, C, D, A, E, B, A, F, C, D, E].forEach((k, i) => {
    if (c.access(0, k)) hitsAt.push(i + 1);
  });
  assert.equal(hitsAt, [5, 7]);
  const n = c.counters();
  assert.equal([n.lookups, n.hits, n.misses, n.fills, n.evictions], [12, 2, 10, 10, 6]);
  assert.equal(c.contents(), [D, E, F, C].map(BigInt));
});

test("each set keeps its own order", () => {
  const c = h.cache({ entries: 8, assoc: 4, policy: "fifo" });
  for (let w = 3; w >= 0; w--) c.fill(1, 0x10 + w); // set 1 filled in way order too
  for (let w = 0; w < 4; w++) c.fill(0, w);
  c.invalidate(4);
  c.fill(1, 0x99); // set 1 way 0 refilled: newest of set 1
  assert.equal([c.fill(0, 0x100), c.fill(1, 0x100)], [0, 5]);
});

test("matches a reference FIFO on random traces with invalidations", () => {
  const c = h.cache({ entries: 32, assoc: 8, policy: "fifo" });
  const sets = c.setCount, ways = c.waysPerSet;
  const queue: number[][] = Array.from({ length: sets }, () => []); // ways, oldest fill first
  const r = new Prng(4242);
  for (let i = 0; i < 20_000; i++) {
    const k = r.int(80), set = k & (sets - 1), q = queue[set]!;
    if (r.int(25) === 0 && q.length > 0) {
      const w = q.splice(r.int(q.length), 1)[0]!;
      c.invalidate(set * ways + w);
      continue;
    }
    const slot = c.lookup(set, k);
    if (slot >= 0) continue;
    const free = [...Array(ways).keys()].find((w) => !q.includes(w));
    const expect = free ?? q.shift()!;
    assert.is(c.fill(set, k) - set * ways, expect, `access ${i}`);
    if (free === undefined) q.push(expect);
    else q.push(free);
  }
});

test.run();
