// Coherency of one access: does it snoop CPU caches, and what decided it (abi SmmuSnoopBy)?
// (spec 13 "Attribute transformation", Arm ARM B2.8 / D8.5 memory types and the stage-2 combining
// rules, shared/spec/smmuv3.md §2.8.) The decision, in this order:
//
//   1. CANWBS (abi Opt.CANWBS, the firmware's flag for the root port): the platform keeps the
//      device's accesses to Normal memory coherent whatever their attributes, No-Snoop included.
//   2. A No-Snoop TLP does not snoop (by "tlp"): the root complex issues it non-coherent, and no SMMU
//      attribute makes it coherent (S2FWB included: Linux's own words). VT-d's snoop control does;
//      this asymmetry is why Linux needs CANWBS on Arm.
//   3. IDR0.COHACC = 0: the system is not IO-coherent (Linux takes "coherent TCU implies coherent
//      TBUs"), nothing snoops (by "cohacc").
//   4. The memory type and shareability, starting from the incoming attributes of a snooped TLP
//      (Normal Write-Back, Inner Shareable, as a root complex presents coherent traffic), then:
//      - stage 1 bypassed (STE bypass, S1DSS bypass, stage-2 only; SMMUEN = 0 with GBPA): the
//        overrides replace them where IDR1.ATTR_TYPES_OVR = 1 (GBPA for global bypass): MTCFG = 1
//        takes MemAttr; SHCFG 0 non-shareable, 1 incoming, 2 outer, 3 inner;
//      - stage 1 translating: MAIR[AttrIndx] and the leaf's SH replace them;
//      - stage 2 translating: without S2FWB the stronger (less cacheable) of the two types wins and
//        the more shareable SH wins; with S2FWB (IDR3.FWB) MemAttr[2] = 0 forces Device,
//        0b101 gives Normal Non-cacheable unless stage 1 gave Device (which stays, and decides:
//        Arm ARM FEAT_S2FWB combining, as QEMU target/arm/ptw.c combined_attrs_fwb reads it),
//        0b110 forces Normal Write-Back, 0b111 keeps the stage-1 type (0b100, reserved, is taken
//        as 0b101). test/arch/smmuv3/coherency-reference.test.ts checks all of this against an
//        independent reference over every combination of the inputs.
//      The access snoops when the result is Normal, inner and outer Write-Back, and shareable
//      (inner or outer). "What decided" is the source of the final memory type when it is
//      Write-Back or the reason it is not, or the source of a non-shareable SH.
//
// Memory types are ordered from the strongest: Device < Normal NC < Normal WT < Normal WB.
import { bump } from "../../common/counters";
import {
  SNOOP_SMMU_TLP, SNOOP_SMMU_CANWBS, SNOOP_SMMU_S2_FWB, SNOOP_SMMU_STAGE1_ATTR, SNOOP_SMMU_STAGE2_ATTR, SNOOP_SMMU_COHACC,
  C_NO_SNOOP_TLPS, C_SNOOPED, C_NON_SNOOPED, C_NO_SNOOP_FORCED,
} from "../../abi";
import { canwbs, idr0, idr1 } from "./regs";
import { IDR0_COHACC, IDR1_ATTR_TYPES_OVR } from "./fields";

const MT_DEVICE: u32 = 0;
const MT_NC: u32 = 1;
const MT_WT: u32 = 2;
const MT_WB: u32 = 3;
const SH_NSH: u32 = 0;
const SH_OSH: u32 = 2;
const SH_ISH: u32 = 3;

let mt: u32 = MT_WB;
let mtBy: u8 = SNOOP_SMMU_TLP;
let sh: u32 = SH_ISH;
let shBy: u8 = SNOOP_SMMU_TLP;
/** Decided before the attributes (steps 1-3): the outcome and its decider, else 0xff. */
let early: u8 = 0xff;
let earlySnoop: bool = false;

/** A 4-bit cacheability nibble (MAIR inner/outer: 0b0100 NC, 0b00RW WT, 0b01RW WB, 0b10RW WT, 0b11RW WB). */
// @ts-ignore: decorator
@inline function mairNibble(n: u32): u32 {
  if (n == 0b0100) return MT_NC;
  if (n == 0) return MT_NC; // UNPREDICTABLE for Normal memory: taken as Non-cacheable
  const hi = n >> 2;
  return hi == 0 || hi == 2 ? MT_WT : MT_WB;
}

/** The type of a MAIR attribute byte (Arm ARM D8.5.2): outer nibble 0 is Device. */
export function mairType(attr: u32): u32 {
  const outer = (attr >> 4) & 0xf;
  if (outer == 0) return MT_DEVICE;
  const o = mairNibble(outer), i = mairNibble(attr & 0xf);
  return o < i ? o : i;
}

/** The type of a stage-2 style MemAttr[3:0] (STE.MemAttr, GBPA.MEMATTR, stage-2 leaves without FWB). */
export function s2MemAttrType(m: u32): u32 {
  const outer = (m >> 2) & 3, inner = m & 3;
  if (outer == 0) return MT_DEVICE;
  // 01 NC, 10 WT, 11 WB; inner 00 with Normal outer is reserved: Non-cacheable
  const o = outer, i = inner == 0 ? MT_NC : inner;
  return o < i ? o : i;
}

/** The more shareable wins: outer > inner > non-shareable. */
// @ts-ignore: decorator
@inline function shRank(x: u32): u32 {
  return x == SH_OSH ? 2 : x == SH_ISH ? 1 : 0;
}

/** Starts the decision for a transaction (steps 1-3 and the incoming attributes). */
export function cohBegin(ns: bool): void {
  mt = MT_WB;
  mtBy = SNOOP_SMMU_TLP;
  sh = SH_ISH;
  shBy = SNOOP_SMMU_TLP;
  early = 0xff;
  if (canwbs) {
    early = SNOOP_SMMU_CANWBS;
    earlySnoop = true;
  } else if (ns) {
    early = SNOOP_SMMU_TLP;
    earlySnoop = false;
  } else if (!IDR0_COHACC(idr0)) {
    early = SNOOP_SMMU_COHACC;
    earlySnoop = false;
  }
}

/**
 * Stage 1 bypassed: the overrides `mtcfg`/`memAttr`/`shcfg` (STE or GBPA fields) replace the
 * incoming attributes where IDR1.ATTR_TYPES_OVR allows; `by` names their source.
 */
export function cohOverride(mtcfg: bool, memAttr: u32, shcfg: u32, by: u8): void {
  if (!IDR1_ATTR_TYPES_OVR(idr1)) return;
  if (mtcfg) {
    mt = s2MemAttrType(memAttr);
    mtBy = by;
  }
  if (shcfg != 1) {
    sh = shcfg == 0 ? SH_NSH : shcfg == 2 ? SH_OSH : SH_ISH;
    shBy = by;
  }
}

/** Stage 1 translated: the MAIR attribute `attr` the leaf's AttrIndx selected, and its SH. */
export function cohStage1(attr: u32, leafSh: u32): void {
  mt = mairType(attr);
  mtBy = SNOOP_SMMU_STAGE1_ATTR;
  sh = leafSh == 1 ? SH_NSH : leafSh; // SH 0b01 is reserved: non-shareable
  shBy = SNOOP_SMMU_STAGE1_ATTR;
}

/** Stage 2 translated: the leaf's MemAttr and SH, combined (or forced with S2FWB). */
export function cohStage2(memAttr: u32, leafSh: u32, fwb: bool): void {
  if (fwb) {
    if ((memAttr & 4) == 0) {
      mt = MT_DEVICE;
      mtBy = SNOOP_SMMU_S2_FWB;
    } else if ((memAttr & 3) == 2) {
      mt = MT_WB;
      mtBy = SNOOP_SMMU_S2_FWB;
    } else if ((memAttr & 3) != 3 && mt != MT_DEVICE) {
      mt = MT_NC;
      mtBy = SNOOP_SMMU_S2_FWB;
    }
  } else {
    const t = s2MemAttrType(memAttr);
    if (t < mt) {
      mt = t;
      mtBy = SNOOP_SMMU_STAGE2_ATTR;
    }
  }
  const s = leafSh == 1 ? SH_NSH : leafSh;
  if (shRank(s) > shRank(sh)) {
    sh = s;
    shBy = SNOOP_SMMU_STAGE2_ATTR;
  }
}

/** The outcome: whether the access snoops; `cohBy` is set to what decided it. */
export let cohBy: u8 = SNOOP_SMMU_TLP;

export function cohSnoops(): bool {
  if (early != 0xff) {
    cohBy = early;
    return earlySnoop;
  }
  if (mt != MT_WB) {
    cohBy = mtBy;
    return false;
  }
  if (sh == SH_NSH) {
    cohBy = shBy;
    return false;
  }
  cohBy = mtBy;
  return true;
}

/** Counts the outcome of a memory transaction (not for ATS translation requests). */
export function cohCount(ns: bool, snoop: bool): void {
  if (ns) bump(C_NO_SNOOP_TLPS);
  bump(snoop ? C_SNOOPED : C_NON_SNOOPED);
  if (ns && snoop) bump(C_NO_SNOOP_FORCED);
}
