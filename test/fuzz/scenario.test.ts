/**
 * The scenario fuzzer's CI subset: a fixed seed and 60 scenarios (the bundled example and every
 * gen workload's) with keys, values and types mutated; each loads or is an InputError at
 * file:line:column.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { scenarioTarget } from "../../scripts/fuzz/scenario.ts";
import { ciRun } from "./helpers.ts";

test("CI subset: 60 mutated scenarios, each loaded or refused at file:line:column", () => {
  const t = scenarioTarget();
  assert.is(t.check({ doc: 0, edits: [{ op: "dup", node: 0 }], indent: 2 }), 1, "the example (no array at the root: unchanged) loads");
  ciRun(t, 60);
});

test.run();
