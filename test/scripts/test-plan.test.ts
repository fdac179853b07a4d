// npm test's planning (scripts/test-plan.ts): which files share a process, in which order, how
// test/durations.json is read, and how a process's uvu totals are read back.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BATCH, LIGHT, exactly, parseDurations, planQueue, uvuTotals } from "../../scripts/test-plan.ts";

test("heavy files run alone, light ones share processes of at most BATCH seconds, longest first", () => {
  assert.is(LIGHT, 4);
  assert.is(BATCH, 8);
  const known = { "a.test.ts": 30, "b.test.ts": 4, "c.test.ts": 3, "d.test.ts": 3, "e.test.ts": 3, "f.test.ts": 0.5, "g.test.ts": 0.2 };
  const items = planQueue(Object.keys(known), known);
  // c, d, e (3 s each): c + d = 6, e would make 9 > 8, so e starts a share, f and g join it (3.7)
  assert.equal(items, [
    { files: ["a.test.ts"], weight: 30 },
    { files: ["c.test.ts", "d.test.ts"], weight: 6 },
    { files: ["b.test.ts"], weight: 4 },
    { files: ["e.test.ts", "f.test.ts", "g.test.ts"], weight: 3.7 },
  ]);
});

test("a file durations.json does not know counts as the longest known one and starts first", () => {
  const items = planQueue(["new.test.ts", "old.test.ts", "tiny.test.ts"], { "old.test.ts": 20, "tiny.test.ts": 1 });
  assert.equal(items.map((i) => i.files), [["new.test.ts"], ["old.test.ts"], ["tiny.test.ts"]]);
  assert.is(items[0]!.weight, 20);
  // with nothing known, every file is its own process, at BATCH seconds
  assert.equal(planQueue(["y.test.ts", "x.test.ts"], {}), [{ files: ["x.test.ts"], weight: BATCH }, { files: ["y.test.ts"], weight: BATCH }]);
});

test("durations.json: an object of non-negative seconds, or an error naming the file and the entry", () => {
  assert.equal(parseDurations(`{"a/b.test.ts": 1.5, "c.test.ts": 0}`, "test/durations.json"), { "a/b.test.ts": 1.5, "c.test.ts": 0 });
  const refused = (text: string, message: string | RegExp) =>
    assert.throws(() => parseDurations(text, "test/durations.json"), (e: Error) => (typeof message === "string" ? e.message === message : message.test(e.message)));
  const expected = `expected an object {"path/below/test/x.test.ts": seconds, ...} (npm test -- --record writes it)`;
  refused(`[1, 2]`, `test/durations.json: ${expected}`);
  refused(`null`, `test/durations.json: ${expected}`);
  refused(`{"x.test.ts": "5"}`, `test/durations.json: "x.test.ts": "5" is not a number of seconds; ${expected}`);
  refused(`{"x.test.ts": -1}`, `test/durations.json: "x.test.ts": -1 is not a number of seconds; ${expected}`);
  refused(`{"x.test.ts": 1,}`, /^test\/durations\.json: .*; expected an object/);
});

test("uvu's totals are read from a process's output, colours or not; none: null", () => {
  const out = "arch/x.test.ts\n• • ✘   (2 / 3)\n\n   FAIL  \"Total: 99\"\n\n  Total:     3\n  Passed:    2\n  Skipped:   0\n  Duration:  1.00ms\n";
  assert.equal(uvuTotals(out), { total: 3, passed: 2, skipped: 0 });
  assert.equal(uvuTotals("\x1b[2m  Total:     \x1b[22m7\n  Passed:    \x1b[32m7\x1b[39m\n"), { total: 7, passed: 7, skipped: 0 });
  assert.is(uvuTotals("SyntaxError: Unexpected token\n"), null);
});

test("a process's pattern matches exactly its files", () => {
  const re = new RegExp(exactly(["arch/vtd.test.ts", "a+b/c.test.ts"]), "i");
  assert.ok(re.test("arch/vtd.test.ts"));
  assert.ok(re.test("a+b/c.test.ts"));
  assert.not.ok(re.test("arch/vtdxtest.ts"));
  assert.not.ok(re.test("x/arch/vtd.test.ts"));
  assert.not.ok(re.test("arch/vtd.test.ts.bak"));
});

test.run();
