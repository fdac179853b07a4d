/**
 * Random SMMUv3 units for property tests (fast-check): STE, CD and descriptor memory, mostly
 * well-formed, pointers aimed at a few pages (some unwritten), requests of every kind. Used by
 * random.test.ts (never traps, debug = release) and test/engine/smmu-memo.test.ts (fast paths on
 * = off).
 */
import fc from "fast-check";
import type { Request } from "../../../src/core/core.ts";
import { encodeFields } from "../../../src/arch/fields.ts";
import { steFields, cdFields } from "../../../src/arch/smmuv3/fields.ts";

/** Pages the random memory is written in; pointers in it aim at them. */
/** An unsigned n-bit bigint. */
const bits = (n: number) => fc.bigInt({ min: 0n, max: (1n << BigInt(n)) - 1n });
export const PAGES = [0x10000n, 0x20000n, 0x30000n, 0x31000n, 0x32000n, 0x100000n, 0x101000n];
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
export const unitCase = fc.record({
  memory: fc.array(fc.tuple(fc.constantFrom(...PAGES), fc.integer({ min: 0, max: 63 }), qword), { minLength: 20, maxLength: 120 }),
  stes: fc.array(ste, { minLength: 6, maxLength: 6 }),
  cds: fc.array(cd, { minLength: 4, maxLength: 4 }),
  cr0: fc.constantFrom(0x5n, 0x5n, 0x5n, 0x1n, 0x4n),
  gbpa: fc.constantFrom(0n, 1n << 20n),
  requests: fc.array(request, { minLength: 1, maxLength: 12 }),
});
