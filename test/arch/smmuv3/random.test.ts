/**
 * Random STE, CD and descriptor memory (fast-check): the SMMUv3 core never traps or hangs, gives
 * `ok`, `abort` or a fault whose code is an event type of the catalogue, bounds its reads, and the
 * debug and release builds give identical results and event queues.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { smmuv3EventByCode } from "../../../src/core/abi.ts";
import { smmu, event } from "./helpers.ts";
import { PAGES, unitCase } from "./random-structures.ts";

test("random structures: ok, abort or a spec event; bounded reads; debug and release identical", () => {
  fc.assert(
    fc.property(unitCase, (c) => {
      const runs = (["debug", "release"] as const).map((build) => {
        const core = smmu(build, { CR0: c.cr0, GBPA: c.gbpa });
        for (const p of PAGES) core.zeroPage(p);
        c.stes.forEach((d, sid) => core.writeQwords(0x10000n + BigInt(sid) * 64n, d));
        c.cds.forEach((d, i) => core.writeQwords(0x20000n + BigInt(i) * 64n, d));
        for (const [page, slot, v] of c.memory) core.write64(page + BigInt(slot) * 8n, v);
        const results = core.translate(c.requests);
        const queue = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => event(core, i));
        return { results, queue, prod: core.getRegister("EVENTQ_PROD"), counters: core.archCounters() };
      });
      for (const r of runs[0]!.results) {
        assert.ok(r.status === "ok" || r.status === "abort" || r.status === "fault", r.status);
        if (r.status === "fault") assert.ok(smmuv3EventByCode.has(r.fault!.code), `code 0x${r.fault!.code.toString(16)}`);
        // STE, L1CD, CD (each through up to 4 stage-2 reads), 4 stage-1 levels each through 4 + 1, the output's 4
        assert.ok(r.reads <= 1 + 2 * 5 + 4 * 5 + 4, `reads ${r.reads}`);
      }
      assert.equal(runs[0], runs[1]);
    }),
    { numRuns: 80, seed: 20261207 },
  );
});

test.run();
