/**
 * The SMMUv3 default profile (src/arch/smmuv3/registers.ts): each identification register decoded
 * field by field against the values the issue names, and what the builder reads from them.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeFields } from "../../../src/arch/fields.ts";
import { idr0Fields, idr1Fields, idr3Fields, idr5Fields } from "../../../src/arch/smmuv3/fields.ts";
import { DEFAULT_AIDR, DEFAULT_IDR0, DEFAULT_IDR1, DEFAULT_IDR3, DEFAULT_IDR5, defaultIdRegisters, profileOf } from "../../../src/arch/smmuv3/registers.ts";

const num = (r: Record<string, bigint>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)]));

test("IDR0: S1P, S2P, AArch64 tables, COHACC, HTTU=2, ATS, ASID16, MSI, PRI, VMID16, CD2L, LE, terminate model, 2-level stream tables", () => {
  assert.is(DEFAULT_IDR0, 0x0d4d349bn);
  assert.equal(num(decodeFields(DEFAULT_IDR0, idr0Fields)), {
    S2P: 1, S1P: 1, TTF: 2, COHACC: 1, BTM: 0, HTTU: 2, DORMHINT: 0, HYP: 0, ATS: 1, NS1ATS: 0, ASID16: 1, MSI: 1, SEV: 0, ATOS: 0,
    PRI: 1, VMW: 0, VMID16: 1, CD2L: 1, VATOS: 0, TTENDIAN: 2, ATSRECERR: 0, STALL_MODEL: 1, TERM_MODEL: 1, ST_LEVEL: 1, RME_IMPL: 0,
  });
});

test("IDR1: SIDSIZE 16, SSIDSIZE 20, queues of 2^7 events and 2^8 commands, ATTR_TYPES_OVR", () => {
  assert.is(DEFAULT_IDR1, 0x09073d10n);
  assert.equal(num(decodeFields(DEFAULT_IDR1, idr1Fields)), {
    SIDSIZE: 16, SSIDSIZE: 20, PRIQS: 7, EVENTQS: 7, CMDQS: 8, ATTR_PERMS_OVR: 0, ATTR_TYPES_OVR: 1, REL: 0, QUEUES_PRESET: 0, TABLES_PRESET: 0, ECMDQ: 0,
  });
});

test("IDR3: FWB and RIL; IDR5: OAS 48 bits, every granule; AIDR v3.2", () => {
  assert.equal(num(decodeFields(DEFAULT_IDR3, idr3Fields)), { HAD: 0, PBHA: 0, XNX: 0, PPS: 0, MPAM: 0, FWB: 1, STT: 0, RIL: 1, BBML: 0, E0PD: 0, PTWNNC: 0, DPT: 0 });
  assert.equal(num(decodeFields(DEFAULT_IDR5, idr5Fields)), { OAS: 5, GRAN4K: 1, GRAN16K: 1, GRAN64K: 1, VAX: 0, STALL_MAX: 0 });
  assert.is(DEFAULT_AIDR, 2n);
});

test("the profile the builder reads from the defaults, and from a small SMMU", () => {
  assert.equal(profileOf(defaultIdRegisters), {
    s1: true, s2: true, twoLevelStreamTable: true, twoLevelCdTable: true, ats: true, pri: true, stalls: false, coherent: true, httu: 2,
    asidBits: 16, vmidBits: 16, sidBits: 16, ssidBits: 20, eventqLog2: 7, cmdqLog2: 8, attrTypesOvr: true, fwb: true, ril: true, oas: 48, granules: [12, 14, 16],
  });
  // stage 1 only, linear tables, stall model 0b00, 8-bit IDs, SIDSIZE 6, OAS 40, 4K and 64K granules
  const small = profileOf({ IDR0: 0b10n | (2n << 2n), IDR1: 6n, IDR3: 0n, IDR5: 2n | (1n << 4n) | (1n << 6n) });
  assert.equal([small.s1, small.s2, small.twoLevelStreamTable, small.twoLevelCdTable, small.stalls, small.asidBits, small.vmidBits, small.sidBits, small.oas, small.granules], [
    true, false, false, false, true, 8, 8, 6, 40, [12, 16],
  ]);
});

test.run();
