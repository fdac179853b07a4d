/**
 * Runs a fuzz target with fast-check: `runs` generated cases from `seed`, each checked, timed and
 * counted. A failing case is shrunk by fast-check to a minimal one and recorded; the run then goes
 * on from the next seed until `runs` cases have been tried (at most `maxFailures` failures).
 *
 * A case that takes longer than `hangMs` is a failure too (a bound on the work per case). A case
 * that never returns (a loop in the core) cannot be stopped from the same thread: main.ts runs
 * targets in worker threads and watches `progress` (the seed and the run index of the case in
 * hand), so it can end the thread and regenerate that case from its seed and index.
 */
import * as fc from "fast-check";
import { FuzzProblem, stringifyBig, type FuzzTarget } from "./target.ts";

export interface RunOptions {
  runs: number;
  seed: number;
  /** A case slower than this is a failure (default 10 s). */
  hangMs?: number;
  maxFailures?: number;
  /** [seed, run index, cases checked (low 31 bits)], updated before every case; for the watchdog. */
  progress?: Int32Array;
  /** Called with each failure as it is found. */
  onFailure?: (f: Failure) => void;
}

export interface Failure {
  target: string;
  seed: number;
  /** fast-check's replay path of the shrunk case. */
  path: string;
  /** The error of the shrunk case. */
  error: string;
  /** The shrunk case (fc.stringify: a JavaScript expression) and as JSON (bigints as "0x…n"). */
  counterexample: string;
  json: string;
}

export interface RunReport {
  target: string;
  runs: number;
  /** Elementary cases checked (target.check's counts, shrinking not included). */
  cases: number;
  failures: Failure[];
  seconds: number;
}

export class Hang extends FuzzProblem {
  override name = "Hang";
}

/** The value fast-check generates for run `index` of `seed` (what main.ts writes for a hang). */
export function regenerate<T>(target: FuzzTarget<T>, seed: number, index: number): T {
  return fc.sample(target.arbitrary, { seed, numRuns: index + 1 })[index]!;
}

export function runTarget<T>(target: FuzzTarget<T>, o: RunOptions): RunReport {
  const hangMs = o.hangMs ?? 10_000;
  const maxFailures = o.maxFailures ?? 10;
  const started = performance.now();
  const failures: Failure[] = [];
  let done = 0;
  let cases = 0;
  let seed = o.seed;
  while (done < o.runs && failures.length < maxFailures) {
    let index = 0;
    let shrinking = false;
    const thisSeed = seed;
    const property = fc.property(target.arbitrary, (c) => {
      if (!shrinking) {
        if (o.progress) {
          Atomics.store(o.progress, 0, thisSeed);
          Atomics.store(o.progress, 1, index);
          Atomics.store(o.progress, 2, cases & 0x7fffffff);
        }
        index++;
      }
      const t0 = performance.now();
      try {
        const n = target.check(c);
        const ms = performance.now() - t0;
        if (ms > hangMs) throw new Hang(`one case took ${ms.toFixed(0)} ms (bound ${hangMs} ms)`);
        if (!shrinking) cases += n;
      } catch (e) {
        shrinking = true; // fast-check now shrinks: those runs are not counted
        throw e;
      }
    });
    const out = fc.check(property, { seed: thisSeed, numRuns: o.runs - done, endOnFailure: false, markInterruptAsFailure: false, verbose: 0 });
    if (!out.failed) {
      done += out.numRuns;
      break;
    }
    done += index;
    const value = out.counterexample?.[0] as T;
    const err = out.errorInstance;
    const f: Failure = {
      target: target.name,
      seed: thisSeed,
      path: out.counterexamplePath ?? "",
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      counterexample: fc.stringify(value),
      json: stringifyBig(value),
    };
    failures.push(f);
    o.onFailure?.(f);
    seed = (seed + 0x9e3779b9) | 0;
  }
  return { target: target.name, runs: done, cases, failures, seconds: (performance.now() - started) / 1000 };
}
