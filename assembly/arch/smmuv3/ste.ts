// The Stream Table Entry (spec 5.2; shared/spec/smmuv3.md §2.3): its checks, and the stage-2 walk
// it configures.
//
//   dword 0: 0 V | 3:1 Config | 5:4 S1Fmt | 51:6 S1ContextPtr | 63:59 S1CDMax
//   dword 1: 1:0 S1DSS | 25 S2FWB | 27 S1STALLD | 29:28 EATS | 31:30 STRW | 35:32 MemAttr | 36 MTCFG | 45:44 SHCFG
//   dword 2: 15:0 S2VMID | 37:32 S2T0SZ | 39:38 S2SL0 | 47:46 S2TG | 50:48 S2PS | 51 S2AA64 | 52 S2ENDI
//            | 53 S2AFFD | 54 S2PTW | 55 S2HD | 56 S2HA | 57 S2S | 58 S2R
//   dword 3: 51:4 S2TTB
//
// Config: 0b000 abort; 0b001-0b011 reserved, treated as abort (no event; shared/spec/smmuv3.md
// §3 marks the spec's wording uncertain, QEMU does the same); 0b100 bypass; 0b101 stage 1; 0b110
// stage 2; 0b111 nested. Only the fields the Config uses are read, following Linux's
// arm_smmu_get_ste_used() (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c, exercised by the KUnit
// test arm-smmu-v3-test.c): abort reads none, bypass only the attribute overrides (SHCFG,
// MTCFG/MemAttr), stage 1 the S1 fields, EATS, STRW and S2VMID, stage 2 the S2 fields, EATS and
// S2VMID; so a half-written STE whose unused dwords hold anything translates as its Config says.
//
// C_BAD_STE (steCheck): V = 0; a Config whose stage IDR0 lacks (S1P, S2P); stage 1 with S1CDMax
// beyond IDR1.SSIDSIZE, S1Fmt = 3 or a 2-level CD table without IDR0.CD2L (S1Fmt is ignored when
// S1CDMax = 0), S1DSS = 3 (when S1CDMax > 0), S1ContextPtr beyond the OAS (stage 1 only: nested,
// it is an IPA that stage 2 checks), STRW other than NS-EL1 (0) or EL2 (2, needs IDR0.HYP);
// stage 2 with S2AA64 = 0 (AArch32 tables are not modelled), S2ENDI = 1 (big-endian tables are not
// modelled), S2TG = 3 or a granule IDR5 lacks, an S2T0SZ/S2SL0 pair that is not a valid walk
// (vmsaS2Configure), S2TTB beyond S2PS, S2S = 1 when IDR0.STALL_MODEL says stalls are not supported;
// EATS = 3, EATS != 0 without IDR0.ATS, EATS = 2 (split-stage) outside nested. S2PS beyond the OAS
// is capped at the OAS (not an error). S2HA/S2HD count only as far as IDR0.HTTU allows, S2FWB only
// with IDR3.FWB (otherwise they are RES0 and ignored).
import { mask64 } from "../../common/bits";
import { WalkState } from "../pagetable/walk-state";
import { vmsaS2Configure } from "../pagetable/fmt/vmsa";
import { idr0, idr3, idr5, oasBits, ssidBits, paBitsOf } from "./regs";
import {
  STE0_V, STE0_CONFIG, STE0_S1FMT, STE0_S1CDMAX, STE1_S1DSS, STE1_EATS, STE1_STRW, STE1_S2FWB, STE2_S2VMID, STE2_S2T0SZ,
  STE2_S2SL0, STE2_S2TG, STE2_S2PS, STE2_S2AA64, STE2_S2ENDI, STE2_S2AFFD, STE2_S2HD, STE2_S2HA, STE2_S2S,
  IDR0_S1P, IDR0_S2P, IDR0_CD2L, IDR0_ATS, IDR0_HYP, IDR0_HTTU, IDR0_STALL_MODEL, IDR0_VMID16, IDR3_FWB, IDR5_GRAN4K, IDR5_GRAN16K, IDR5_GRAN64K,
} from "./fields";

/** STE.Config bits: bit 2 set = the STE translates or bypasses; bit 0 stage 1, bit 1 stage 2. */
export const CFG_ACTIVE: u32 = 4;
export const CFG_S1: u32 = 1;
export const CFG_S2: u32 = 2;

/** The STE being used (its first four dwords) and what was derived from it. */
export let ste0: u64 = 0;
export let ste1: u64 = 0;
export let ste2: u64 = 0;
export let ste3: u64 = 0;
export let config: u32 = 0;
/** Stage 2's VMID (8 bits without IDR0.VMID16). */
export let vmid: u32 = 0;
/** S2FWB in force (IDR3.FWB). */
export let s2fwb: bool = false;

/** Loads the STE at `p` (linear memory); returns its Config. */
export function steLoad(p: usize): u32 {
  ste0 = load<u64>(p);
  ste1 = load<u64>(p, 8);
  ste2 = load<u64>(p, 16);
  ste3 = load<u64>(p, 24);
  config = STE0_CONFIG(ste0);
  return config;
}

/** The STE's checks for its Config (see the header); false: C_BAD_STE. Configures `s2` for stage 2. */
export function steCheck(s2: WalkState): bool {
  if (!STE0_V(ste0)) return false;
  if ((config & CFG_ACTIVE) == 0 || config == CFG_ACTIVE) return true; // abort (incl. reserved) and bypass read nothing more
  const s1 = (config & CFG_S1) != 0, st2 = (config & CFG_S2) != 0;
  if ((s1 && !IDR0_S1P(idr0)) || (st2 && !IDR0_S2P(idr0))) return false;
  const eats = STE1_EATS(ste1);
  if (eats == 3 || (eats != 0 && !IDR0_ATS(idr0)) || (eats == 2 && !(s1 && st2))) return false;
  vmid = STE2_S2VMID(ste2) & (IDR0_VMID16(idr0) ? 0xffff : 0xff);
  s2fwb = false;
  if (s1) {
    const cdMax = STE0_S1CDMAX(ste0);
    if (cdMax > ssidBits) return false;
    if (cdMax > 0) {
      const fmt = STE0_S1FMT(ste0);
      if (fmt == 3 || (fmt != 0 && !IDR0_CD2L(idr0))) return false;
      if (STE1_S1DSS(ste1) == 3) return false;
    }
    if (!st2 && ((ste0 & mask64(51, 6)) >>> oasBits) != 0) return false;
    const strw = STE1_STRW(ste1);
    if (strw != 0 && (strw != 2 || !IDR0_HYP(idr0) || st2)) return false;
  }
  if (st2) {
    if (!STE2_S2AA64(ste2) || STE2_S2ENDI(ste2)) return false;
    if (STE2_S2S(ste2) && IDR0_STALL_MODEL(idr0) == 1) return false;
    const tg = STE2_S2TG(ste2);
    const g: u32 = tg == 0 ? 12 : tg == 1 ? 16 : tg == 2 ? 14 : 0;
    if (g == 0 || (g == 12 && !IDR5_GRAN4K(idr5)) || (g == 14 && !IDR5_GRAN16K(idr5)) || (g == 16 && !IDR5_GRAN64K(idr5))) return false;
    let ps = paBitsOf(STE2_S2PS(ste2));
    if (ps > oasBits) ps = oasBits;
    if (!vmsaS2Configure(s2, g, STE2_S2T0SZ(ste2), STE2_S2SL0(ste2), ps, oasBits)) return false;
    const ttb = ste3 & mask64(51, 4);
    if ((ttb >>> ps) != 0) return false;
    // The (concatenated) start table is aligned to its size: the bits below are taken as zero.
    s2.root = ttb & ~((<u64>1 << (s2.topIndexBits + 3)) - 1);
    const httu = IDR0_HTTU(idr0);
    s2.accessFaultOff = STE2_S2AFFD(ste2);
    s2.setAD = STE2_S2HA(ste2) && httu >= 1;
    s2.dirtyByDbm = s2.setAD && STE2_S2HD(ste2) && httu == 2;
    s2.s2 = null;
    s2.cacheOwner = (<u64>1 << 63) | vmid;
    s2fwb = STE1_S2FWB(ste1) && IDR3_FWB(idr3);
  }
  return true;
}
