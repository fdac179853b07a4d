/**
 * Round-robin (assembly/uarch/cache/replacement/round-robin.ts): each set has a pointer; the victim
 * is the way it names, and each victim selection advances it. Fills into invalid ways, hits and
 * invalidations leave it where it is.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { newHarness, type Cache } from "../harness.ts";

const h = newHarness();

function full(ways: number, assoc = 0, entries = ways): Cache {
  const c = h.cache({ entries, assoc, policy: "roundRobin" });
  for (let set = 0; set < c.setCount; set++) for (let w = 0; w < ways; w++) c.fill(set, 0x1000 * set + w);
  return c;
}

test("victims cycle 0, 1, 2, ..., ways - 1, 0, ...", () => {
  const c = full(4);
  const victims = [...Array(10).keys()].map((i) => c.fill(0, 0x100 + i));
  assert.equal(victims, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
});

test("a non-power-of-two way count wraps at ways (3 and 6 ways)", () => {
  for (const ways of [3, 6]) {
    const c = full(ways);
    const victims = [...Array(2 * ways + 1).keys()].map((i) => c.fill(0, 0x100 + i));
    assert.equal(victims, [...Array(2 * ways + 1).keys()].map((i) => i % ways), `${ways} ways`);
  }
});

test("hits do not move the pointer", () => {
  const c = full(4);
  c.fill(0, 0x100); // evicts w0, pointer -> 1
  for (let i = 0; i < 9; i++) c.lookup(0, 1);
  assert.is(c.fill(0, 0x101), 1);
});

test("invalidations, and fills into invalid ways, do not move the pointer", () => {
  const c = full(4);
  c.fill(0, 0x100); // evicts w0, pointer -> 1
  c.invalidate(3);
  assert.is(c.fill(0, 0x101), 3); // the free way
  assert.is(c.fill(0, 0x102), 1); // the pointer
  assert.is(c.fill(0, 0x103), 2);
});

test("refills of a present key do not move the pointer", () => {
  const c = full(4);
  c.fill(0, 2);
  c.fill(0, 2);
  assert.is(c.fill(0, 0x100), 0);
});

test("each set has its own pointer", () => {
  const c = full(4, 4, 16); // 4 sets of 4
  assert.equal([c.fill(2, 0x100), c.fill(2, 0x101), c.fill(0, 0x100), c.fill(3, 0x100)], [8, 9, 0, 12]);
  assert.is(c.fill(2, 0x102), 10);
});

test("victim() asked directly advances the pointer as a fill's would", () => {
  const c = full(4);
  assert.equal([c.victim(), c.victim(), c.victim()], [0, 1, 2]);
  assert.is(c.fill(0, 0x100), 3);
});

test.run();
