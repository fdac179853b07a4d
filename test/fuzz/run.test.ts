/**
 * The fuzz runner (scripts/fuzz/run.ts): counts, failures shrunk and recorded, the run going on
 * after a failure, slow cases as failures, and the regeneration of a case from its seed and run
 * index that the hang watchdog relies on.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fc from "fast-check";
import { regenerate, runTarget } from "../../scripts/fuzz/run.ts";
import { FuzzProblem, canonical, type FuzzTarget } from "../../scripts/fuzz/target.ts";

const numbers = (check: (n: number) => number): FuzzTarget<number> => ({ name: "numbers", arbitrary: fc.integer({ min: 0, max: 1000 }), check });

test("every run counted with its elementary checks; no failure", () => {
  const r = runTarget(numbers(() => 3), { runs: 50, seed: 1 });
  assert.equal([r.target, r.runs, r.cases, r.failures], ["numbers", 50, 150, []]);
});

test("a failure is shrunk to the smallest failing case, recorded, and the run goes on with the next seed", () => {
  const r = runTarget(
    numbers((n) => {
      if (n >= 100) throw new FuzzProblem(`${n} is too big`);
      return 1;
    }),
    { runs: 200, seed: 1, maxFailures: 3 },
  );
  assert.ok(r.failures.length >= 1 && r.failures.length <= 3);
  assert.equal(r.failures[0]!.error, "FuzzProblem: 100 is too big");
  assert.is(r.failures[0]!.counterexample, "100");
  assert.is(r.failures[0]!.seed, 1);
  assert.is(r.failures[1]?.seed ?? (1 + 0x9e3779b9) | 0, (1 + 0x9e3779b9) | 0);
});

test("a case slower than the bound is a failure (Hang)", () => {
  const r = runTarget(
    numbers(() => {
      const until = performance.now() + 30;
      while (performance.now() < until);
      return 1;
    }),
    { runs: 1, seed: 1, hangMs: 10, maxFailures: 1 },
  );
  assert.match(r.failures[0]!.error, /^Hang: one case took \d+ ms \(bound 10 ms\)$/);
});

test("regenerate gives the case of a seed's run index (what the watchdog writes for a hang)", () => {
  const seen: number[] = [];
  runTarget(numbers((n) => (seen.push(n), 1)), { runs: 20, seed: 77 });
  assert.is(seen.length, 20);
  for (const i of [0, 7, 19]) assert.is(regenerate(numbers(() => 1), 77, i), seen[i]);
});

test("canonical: equal values print the same whatever their key order; bigints as hex", () => {
  assert.is(canonical({ b: 1n, a: [{ d: 2, c: 0x10n }] }), '{"a":[{"c":"0x10n","d":2}],"b":"0x1n"}');
  assert.is(canonical({ a: [{ c: 0x10n, d: 2 }], b: 1n }), canonical({ b: 1n, a: [{ d: 2, c: 0x10n }] }));
});

test.run();
