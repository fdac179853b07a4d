/**
 * The core target: every case runs on the release core and on the debug core (assertions on; a
 * trap is an exception from the `abort` import or a WebAssembly RuntimeError). The contract:
 * - neither build throws (no trap, no exception);
 * - both give the same outcomes, request by request, and do the same other work;
 * - every outcome is one the architecture allows (ok or a spec fault: ArchGenerator.validate);
 * - table and structure reads stay within the architecture's bound per request, and other work
 *   (invalidation descriptors) within the case's bound;
 * - no batch takes longer than `batchMs` (a hang; run.ts bounds the whole case too).
 */
import * as fc from "fast-check";
import { FuzzProblem, stringifyBig, type FuzzTarget } from "./target.ts";
import type { ArchGenerator, Execution } from "./arch/types.ts";
import { vtdGenerator } from "./arch/vtd.ts";
import type { CoreBuild } from "../../src/core/core.ts";

/** One generator per architecture; SMMUv3 joins here. */
export const generators: readonly ArchGenerator<unknown>[] = [vtdGenerator as ArchGenerator<unknown>];

export interface CoreCase {
  arch: string;
  c: unknown;
}

function run(g: ArchGenerator<unknown>, c: unknown, build: CoreBuild): Execution {
  try {
    return g.execute(c, build);
  } catch (e) {
    const what = e instanceof Error && (e.name === "RuntimeError" || e.message.startsWith("core assertion failed")) ? "trapped" : "threw";
    throw new FuzzProblem(`the ${build} core ${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
}

/** Checks one architecture's case; returns how many requests it checked. */
export function checkCore(g: ArchGenerator<unknown>, c: unknown, batchMs = 5000): number {
  const release = run(g, c, "release");
  const debug = run(g, c, "debug");
  if (release.outcomes.length !== debug.outcomes.length) throw new FuzzProblem(`release made ${release.outcomes.length} results, debug ${debug.outcomes.length}`);
  release.outcomes.forEach((o, i) => {
    const a = stringifyBig(o), b = stringifyBig(debug.outcomes[i]);
    if (a !== b) throw new FuzzProblem(`request ${i}: release and debug differ:\n  release ${a}\n  debug   ${b}`);
    const bad = g.validate(o);
    if (bad) throw new FuzzProblem(`request ${i}: ${bad}: ${a}`);
    if (o.reads > g.maxReadsPerRequest) throw new FuzzProblem(`request ${i}: ${o.reads} reads, more than the bound ${g.maxReadsPerRequest}`);
  });
  for (const [name, x] of [["release", release], ["debug", debug]] as const) {
    x.batches.forEach((b, i) => {
      if (b.reads > b.requests * g.maxReadsPerRequest) throw new FuzzProblem(`${name} batch ${i}: ${b.reads} reads for ${b.requests} requests, more than ${g.maxReadsPerRequest} each`);
      if (b.ms > batchMs) throw new FuzzProblem(`${name} batch ${i} of ${b.requests} requests took ${b.ms.toFixed(0)} ms (a hang: bound ${batchMs} ms)`);
    });
  }
  if (stringifyBig(release.work) !== stringifyBig(debug.work)) throw new FuzzProblem(`release and debug did different work: ${stringifyBig(release.work)} vs ${stringifyBig(debug.work)}`);
  const bound = g.workBound(c);
  for (const [k, v] of Object.entries(release.work)) if (bound[k] !== undefined && v > bound[k]!) throw new FuzzProblem(`${k}: ${v}, more than the bound ${bound[k]}`);
  return release.outcomes.length;
}

export function coreTarget(archs: readonly ArchGenerator<unknown>[] = generators): FuzzTarget<CoreCase> {
  const byArch = new Map(archs.map((g) => [g.arch, g]));
  return {
    name: "core",
    arbitrary: fc.oneof(...archs.map((g) => g.arbitrary.map((c) => ({ arch: g.arch, c })))),
    check: (k) => checkCore(byArch.get(k.arch)!, k.c),
  };
}
