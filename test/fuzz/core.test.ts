/**
 * The core fuzzer's CI subset (a fixed seed, 40 cases of the VT-d generator on both builds), and
 * the checks that make a case fail: builds that differ, outcomes the architecture does not allow,
 * reads beyond the bound, a trap.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkCore, coreTarget } from "../../scripts/fuzz/core.ts";
import { vtdGenerator, validateVtd, VTD_MAX_READS, type VtdCase } from "../../scripts/fuzz/arch/vtd.ts";
import type { ArchGenerator, Execution, Outcome } from "../../scripts/fuzz/arch/types.ts";
import { FuzzProblem } from "../../scripts/fuzz/target.ts";
import { ciRun } from "./helpers.ts";

test("CI subset: 40 VT-d cases, release and debug core alike, every outcome ok or a spec fault, reads bounded", () => {
  const r = ciRun(coreTarget(), 40);
  assert.ok(r.cases >= 40, `at least one request per case, got ${r.cases}`);
});

test("the VT-d rules: statuses and fault codes", () => {
  const o = (status: string, code?: number): Outcome => ({ status, reads: 0, detail: {}, ...(code === undefined ? {} : { code }) });
  assert.is(validateVtd(o("ok")), undefined);
  assert.is(validateVtd(o("fault", 0x79)), undefined); // SSS.2 is listed
  assert.is(validateVtd(o("fault", 0x20)), "fault code 0x20 is not a VT-d fault reason the model lists (abi vtdFaults)");
  assert.is(validateVtd(o("abort")), "status abort is not ok, fault, interrupt or blocked");
  assert.is(validateVtd(o("ok", 0x79)), "status ok with a fault code");
  // nested 5-level stages: 5 FS reads + 6 SS walks of 5 + 4 structure reads, twice for an ATC miss
  assert.is(VTD_MAX_READS, 78);
});

/** A generator whose two builds give what `exec` says. */
function fake(exec: (build: string) => Partial<Execution>): ArchGenerator<unknown> {
  return {
    arch: "fake",
    arbitrary: vtdGenerator.arbitrary as never,
    execute: (_c, build) => ({ outcomes: [], batches: [], work: {}, ...exec(build) }),
    validate: validateVtd,
    maxReadsPerRequest: 10,
    workBound: () => ({ invDescriptors: 3 }),
  };
}
const problem = (g: ArchGenerator<unknown>): string => {
  try {
    checkCore(g, {});
  } catch (e) {
    assert.instance(e, FuzzProblem);
    return (e as Error).message;
  }
  return "no problem";
};
const ok: Outcome = { status: "ok", reads: 3, detail: { pa: 0x1000n } };

test("a case fails when the builds differ, an outcome is not allowed, reads or work exceed their bounds, or a build traps", () => {
  assert.is(problem(fake(() => ({ outcomes: [ok], batches: [{ requests: 1, reads: 3, ms: 1 }] }))), "no problem");
  assert.is(
    problem(fake((b) => ({ outcomes: [b === "debug" ? { ...ok, detail: { pa: 0x2000n } } : ok] }))),
    'request 0: release and debug differ:\n  release {"status":"ok","reads":3,"detail":{"pa":"0x1000n"}}\n  debug   {"status":"ok","reads":3,"detail":{"pa":"0x2000n"}}',
  );
  assert.is(problem(fake(() => ({ outcomes: [{ status: "fault", code: 0x20, reads: 1, detail: {} }] }))), 'request 0: fault code 0x20 is not a VT-d fault reason the model lists (abi vtdFaults): {"status":"fault","code":32,"reads":1,"detail":{}}');
  assert.is(problem(fake(() => ({ outcomes: [{ ...ok, reads: 11 }] }))), "request 0: 11 reads, more than the bound 10");
  assert.is(problem(fake(() => ({ outcomes: [ok], batches: [{ requests: 1, reads: 11, ms: 1 }] }))), "release batch 0: 11 reads for 1 requests, more than 10 each");
  assert.is(problem(fake(() => ({ outcomes: [ok], batches: [{ requests: 1, reads: 1, ms: 6000 }] }))), "release batch 0 of 1 requests took 6000 ms (a hang: bound 5000 ms)");
  assert.is(problem(fake(() => ({ work: { invDescriptors: 4 } }))), "invDescriptors: 4, more than the bound 3");
  assert.is(problem(fake((b) => ({ work: { invDescriptors: b === "debug" ? 1 : 2 } }))), 'release and debug did different work: {"invDescriptors":2} vs {"invDescriptors":1}');
  const trap = fake((b) => {
    if (b === "debug") throw new Error("core assertion failed: x at assembly/a.ts:1:2");
    return {};
  });
  assert.is(problem(trap), "the debug core trapped: Error: core assertion failed: x at assembly/a.ts:1:2");
  assert.is(problem(fake(() => { throw new RangeError("boom"); })), "the release core threw: RangeError: boom");
});

test("a VT-d case runs the same on both builds: a request to the mapped page translates", () => {
  const c: VtdCase = {
    base: { mode: "scalable", type: "ss", levels: 4, page: 0, caches: false, timing: false, ats: false, pasid: false, qi: false, physAddrBits: 52 },
    steps: [{ kind: "dma", reqs: [{ op: "MRd", sid: -1, addr: { near: 0, offset: 0x40n }, len: 4, flags: 0, gap: 0 }] }],
  };
  const release = vtdGenerator.execute(c, "release");
  const debug = vtdGenerator.execute(c, "debug");
  assert.is(release.outcomes.length, 1);
  assert.is(release.outcomes[0]!.status, "ok");
  assert.is((release.outcomes[0]!.detail as { pa: bigint }).pa, 0x8000_0040n); // IOVA 0x40000040 -> PA 0x80000040
  // root, context, PASID directory, PASID entry, then 4 second-stage levels; caches off
  assert.is(release.outcomes[0]!.reads, 8);
  assert.equal(release.batches.map((b) => [b.requests, b.reads]), [[1, 8]]);
  assert.equal(debug.outcomes, release.outcomes);
});

test.run();
