/**
 * Random STE, CD and descriptor memory (fast-check): the SMMUv3 core never traps or hangs, gives
 * `ok`, `abort` or a fault whose code is an event type of the catalogue, bounds its reads, and the
 * debug and release builds give identical results and event queues.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { smmuv3EventByCode } from "../../../src/core/abi.ts";
import type { Request } from "../../../src/core/core.ts";
import { encodeFields } from "../../../src/arch/fields.ts";
import { steFields, cdFields } from "../../../src/arch/smmuv3/fields.ts";
import { smmu, event } from "./helpers.ts";

/** Pages the random memory is written in; pointers in it aim at them. */
/** An unsigned n-bit bigint. */
const bits = (n: number) => fc.bigInt({ min: 0n, max: (1n << BigInt(n)) - 1n });
const PAGES = [0x10000n, 0x20000n, 0x30000n, 0x31000n, 0x32000n, 0x100000n, 0x101000n];
const pointer = fc
  .tuple(fc.constantFrom(...PAGES), bits(12), bits(12), bits(1))
  .map(([page, low, high, missing]) => (missing ? page + 0x100_0000n : page) | low | (high << 52n));
const qword = fc.oneof(bits(64), pointer, pointer.map((p) => p & ~0xff0_0000_0000_0000n));
/** STEs mostly well-formed: any Config, small CD tables, a plausible stage-2 configuration. */
const ste = fc.oneof(
  fc.array(qword, { minLength: 4, maxLength: 4 }),
  fc
    .record({
      cfg: fc.oneof({ arbitrary: fc.integer({ min: 4, max: 7 }), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 3 }), weight: 1 }), fmt: fc.integer({ min: 0, max: 2 }), cdMax: fc.integer({ min: 0, max: 3 }), ctx: fc.constantFrom(...PAGES),
      dss: fc.integer({ min: 0, max: 2 }), eats: fc.integer({ min: 0, max: 1 }), attrs: bits(16),
      dw2: fc.record({
        S2VMID: bits(16), S2T0SZ: fc.constantFrom(25n, 32n, 40n), S2SL0: bits(2), S2TG: fc.constantFrom(0n, 1n, 2n), S2PS: fc.bigInt({ min: 0n, max: 6n }),
        S2AA64: fc.constant(1n), S2AFFD: bits(1), S2HD: bits(1), S2HA: bits(1), S2R: bits(1),
      }),
      ttb: pointer,
    })
    .map((x) => [
      1n | (BigInt(x.cfg) << 1n) | (BigInt(x.fmt) << 4n) | x.ctx | (BigInt(x.cdMax) << 59n),
      BigInt(x.dss) | (BigInt(x.eats) << 28n) | (x.attrs << 32n),
      encodeFields(steFields[2], x.dw2),
      x.ttb & ~0xfn,
    ]),
);
/** CDs mostly well-formed: either range, any granule and IPS, hardware updates and R at random. */
const cd = fc
  .record({
    dw0: fc.record({
      T0SZ: fc.constantFrom(16n, 25n, 33n, 39n), TG0: fc.bigInt({ min: 0n, max: 2n }), EPD0: bits(1), T1SZ: fc.constant(25n), TG1: fc.constant(2n),
      EPD1: bits(1), V: fc.constant(1n), IPS: fc.bigInt({ min: 0n, max: 6n }), AFFD: bits(1), WXN: bits(1), TBI0: bits(1), AA64: fc.constant(1n),
      HD: bits(1), HA: bits(1), R: bits(1), A: fc.constant(1n), ASID: bits(16),
    }),
    ttb0: pointer, ttb1: pointer, mair: bits(64),
  })
  .map((x) => [encodeFields(cdFields[0], x.dw0), x.ttb0 & ~0xfn, x.ttb1 & ~0xfn, x.mair]);
const request: fc.Arbitrary<Request> = fc.record({
  op: fc.constantFrom("MRd" as const, "MWr" as const, "ATS" as const),
  sid: fc.integer({ min: 0, max: 5 }),
  addr: fc.oneof(bits(64), bits(40), fc.constantFrom(0x4020_1234n, 0x1234_5678n)),
  pasid: fc.option(fc.integer({ min: 0, max: 70 }), { nil: undefined }),
  priv: fc.boolean(),
  exe: fc.boolean(),
  ns: fc.boolean(),
  translated: fc.constantFrom(false, false, false, true),
});
const unitCase = fc.record({
  memory: fc.array(fc.tuple(fc.constantFrom(...PAGES), fc.integer({ min: 0, max: 63 }), qword), { minLength: 20, maxLength: 120 }),
  stes: fc.array(ste, { minLength: 6, maxLength: 6 }),
  cds: fc.array(cd, { minLength: 4, maxLength: 4 }),
  cr0: fc.constantFrom(0x5n, 0x5n, 0x5n, 0x1n, 0x4n),
  gbpa: fc.constantFrom(0n, 1n << 20n),
  requests: fc.array(request, { minLength: 1, maxLength: 12 }),
});

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
