/** Shared by the fuzz suites: runs a target for the CI subset (fixed seed, few runs). */
import * as assert from "uvu/assert";
import type { FuzzTarget } from "../../scripts/fuzz/target.ts";
import { runTarget, type RunReport } from "../../scripts/fuzz/run.ts";

/** The seed of every CI subset: the same cases on every run. */
export const CI_SEED = 20240601;

/** Runs `runs` cases of `target` from CI_SEED; asserts that every run was made and none failed. */
export function ciRun<T>(target: FuzzTarget<T>, runs: number): RunReport {
  const r = runTarget(target, { runs, seed: CI_SEED, maxFailures: 1 });
  assert.equal(r.failures.map((f) => `${f.error}\n  case: ${f.counterexample}`), [], `${target.name}: no failure`);
  assert.is(r.runs, runs);
  return r;
}
