/**
 * Golden STEs and level-1 stream table descriptors: each qword is hand-encoded here, field by
 * field (the comments), from the bit positions of spec 5.1/5.2 as Linux's arm-smmu-v3.h names them,
 * and compared with the encoders of src/arch/smmuv3/ste.ts (the counterparts of Linux's
 * arm_smmu_make_*_ste).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { abortSte, bypassSte, cdTableSte, l1std, nestedSte, s2Ste, type S2Config } from "../../../src/arch/smmuv3/ste.ts";

const noOvr = { attrTypesOvr: false, stalls: false };
const ovr = { attrTypesOvr: true, stalls: false };

test("abort STE: V=1, Config=0b000, every other qword zero", () => {
  assert.equal(abortSte(), [0x1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
});

test("bypass STE: V=1, Config=0b100; SHCFG=incoming only with IDR1.ATTR_TYPES_OVR", () => {
  // dw0: V [0] = 1, Config [3:1] = 0b100 -> 0x9
  assert.equal(bypassSte(noOvr), [0x9n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
  // dw1: SHCFG [45:44] = 1 (incoming) -> 0x1000_0000_0000
  assert.equal(bypassSte(ovr), [0x9n, 0x0000_1000_0000_0000n, 0n, 0n, 0n, 0n, 0n, 0n]);
});

test("CD-table STE: 64K-leaf 2-level CD table, S1DSS=SSID0, ATS", () => {
  const ste = cdTableSte(ovr, { cdTable: { ptr: 0x8000_0000n, s1fmt: 2, s1cdmax: 20 }, s1dss: "ssid0", ats: true });
  // dw0: V [0] 1 | Config [3:1] 0b101 (0xa) | S1Fmt [5:4] 2 (0x20) | S1ContextPtr [51:6] 0x8000_0000
  //      | S1CDMax [63:59] 20 = 0b10100 (bits 63 and 61: 0xa000_0000_0000_0000)
  const dw0 = 0xa000_0000_8000_002bn;
  // dw1: S1DSS [1:0] 2 | S1CIR [3:2] 1 WBRA (0x4) | S1COR [5:4] 1 (0x10) | S1CSH [7:6] 3 ISH (0xc0)
  //      | EATS [29:28] 1 (0x1000_0000) | STRW [31:30] 0 NS-EL1 | SHCFG 0 (S1DSS is not bypass)
  const dw1 = 0x1000_00d6n;
  // dw2: S2VMID 0
  assert.equal(ste, [dw0, dw1, 0n, 0n, 0n, 0n, 0n, 0n]);
});

test("CD-table STE: linear single CD, S1DSS=bypass adds SHCFG, S1STALLD on a stalling SMMU", () => {
  const ste = cdTableSte({ attrTypesOvr: true, stalls: true }, { cdTable: { ptr: 0x1234_5640n, s1fmt: 0, s1cdmax: 0 }, s1dss: "bypass" });
  // dw0: V 1 | Config 0b101 (0xa) | S1Fmt 0 | S1ContextPtr 0x1234_5640 | S1CDMax 0
  // dw1: S1DSS 1 | S1CIR 0x4 | S1COR 0x10 | S1CSH 0xc0 | S1STALLD [27] (0x0800_0000) | EATS 0
  //      | SHCFG [45:44] 1 (0x1000_0000_0000)
  assert.equal(ste, [0x1234_564bn, 0x0000_1000_0800_00d5n, 0n, 0n, 0n, 0n, 0n, 0n]);
  // a master that stalls itself gets no S1STALLD
  const stalling = cdTableSte({ attrTypesOvr: false, stalls: true }, { cdTable: { ptr: 0x1000n, s1fmt: 0, s1cdmax: 0 }, s1dss: "bypass", stallEnabled: true });
  assert.is(stalling[1], 0xd5n);
});

const s2: S2Config = { vmid: 7, tsz: 16, sl0: 2, irgn: 1, orgn: 1, sh: 3, tg: 0, ps: 5, ttb: 0x4000_0000n };
// dw2 of `s2`: S2VMID [15:0] 7 | S2T0SZ [37:32] 16 (0x10_0000_0000) | S2SL0 [39:38] 2 (0x80_0000_0000)
//   | S2IR0 [41:40] 1 (0x100_0000_0000) | S2OR0 [43:42] 1 (0x400_0000_0000) | S2SH0 [45:44] 3 (0x3000_0000_0000)
//   | S2TG [47:46] 0 | S2PS [50:48] 5 (0x5_0000_0000_0000) | S2AA64 [51] (0x8_0000_0000_0000)
//   | S2PTW [54] (0x40_0000_0000_0000) | S2R [58] (0x400_0000_0000_0000)
const s2dw2 = 0x044d_3590_0000_0007n;

test("stage-2 STE: 4K granule, 48-bit IPA from level 0, coherent walks, SHCFG incoming", () => {
  // dw0: V 1 | Config 0b110 (0xc) -> 0xd; dw1: SHCFG 1 (0x1000_0000_0000); dw3: S2TTB [51:4] 0x4000_0000
  assert.equal(s2Ste(ovr, s2), [0xdn, 0x0000_1000_0000_0000n, s2dw2, 0x4000_0000n, 0n, 0n, 0n, 0n]);
});

test("stage-2 STE: 64K granule nesting parent with S2FWB, ATS and a stalling master", () => {
  const ste = s2Ste(noOvr, { vmid: 0xffff, tsz: 24, sl0: 1, irgn: 0, orgn: 0, sh: 2, tg: 1, ps: 2, ttb: 0x8_0001_0000n, fwb: true }, { ats: true, stallEnabled: true });
  // dw1: S2FWB [25] (0x0200_0000) | EATS [29:28] 1 (0x1000_0000)
  // dw2: S2VMID 0xffff | S2T0SZ 24 (0x18_0000_0000) | S2SL0 1 (0x40_0000_0000) | S2IR0 0 | S2OR0 0
  //      | S2SH0 2 (0x2000_0000_0000) | S2TG 1 (0x4000_0000_0000) | S2PS 2 (0x2_0000_0000_0000)
  //      | S2AA64 (0x8_0000_0000_0000) | S2PTW (0x40_0000_0000_0000) | S2S [57] (0x200_0000_0000_0000)
  //      | S2R (0x400_0000_0000_0000)
  assert.equal(ste, [0xdn, 0x1200_0000n, 0x064a_6058_0000_ffffn, 0x8_0001_0000n, 0n, 0n, 0n, 0n]);
});

test("nested STE: the parent's stage-2 STE with Config=0b111, the guest's CD table and MEV", () => {
  const ste = nestedSte(ovr, s2, { cdTable: { ptr: 0x9000_0000n, s1fmt: 0, s1cdmax: 0 }, s1dss: "ssid0" });
  // dw0: V 1 | Config 0b111 (0xe) | S1ContextPtr 0x9000_0000
  // dw1: SHCFG 1 from the S2 STE (0x1000_0000_0000) | MEV [19] (0x8_0000) | S1DSS 2 | S1CIR 0x4
  //      | S1COR 0x10 | S1CSH 0xc0
  assert.equal(ste, [0x9000_000fn, 0x0000_1000_0008_00d6n, s2dw2, 0x4000_0000n, 0n, 0n, 0n, 0n]);
});

test("level-1 stream table descriptor: Span = SPLIT + 1, L2Ptr", () => {
  // Span [4:0] 9 | L2Ptr [51:6] 0x2000_4000
  assert.is(l1std(0x2000_4000n, 8), 0x2000_4009n);
  assert.throws(() => l1std(0x2000_4020n, 8), /not 64-byte aligned/);
});

test("misaligned table addresses are refused, not truncated", () => {
  assert.throws(() => cdTableSte(ovr, { cdTable: { ptr: 0x8000_0008n, s1fmt: 0, s1cdmax: 0 }, s1dss: "ssid0" }), /CD table address 0x80000008 is not 64-byte aligned/);
  assert.throws(() => s2Ste(ovr, { ...s2, ttb: 0x4000_0008n }), /S2TTB 0x40000008 is not 16-byte aligned/);
});

test.run();
