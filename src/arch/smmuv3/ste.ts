/**
 * Stream Table Entries and level-1 stream table descriptors as Linux's arm-smmu-v3 driver writes
 * them (spec 5.1, 5.2; shared/spec/smmuv3.md §2.2-2.3). Each encoder is the counterpart of one
 * Linux function, named in its comment: the same fields with the same values, so the golden tests
 * (test/arch/smmuv3/ste.test.ts) compare its qwords with hand-encoded ones. Every qword is built
 * from the field table (fields.ts), never with hand-written shifts.
 *
 *   dword 0  V[0] Config[3:1] S1Fmt[5:4] S1ContextPtr[51:6] S1CDMax[63:59]
 *   dword 1  S1DSS[1:0] S1CIR/S1COR/S1CSH[7:2] MEV[19] S2FWB[25] S1STALLD[27] EATS[29:28]
 *            STRW[31:30] SHCFG[45:44]
 *   dword 2  S2VMID[15:0] S2T0SZ[37:32] S2SL0[39:38] S2IR0/S2OR0/S2SH0[45:40] S2TG[47:46]
 *            S2PS[50:48] S2AA64[51] S2PTW[54] S2S[57] S2R[58]
 *   dword 3  S2TTB[51:4]
 *   dwords 4-7: secure stage 2 and MPAM, zero for a non-secure stream
 */
import { encodeFields } from "../fields.ts";
import { SteConfig, l1stdFields, steFields } from "./fields.ts";

/** The eight qwords of an STE or a CD (64 bytes). */
export type Qwords8 = [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];

const zero8 = (): Qwords8 => [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];

/** STE.S1DSS: what a transaction without a SubstreamID gets when S1CDMax > 0. */
export const S1Dss = { terminate: 0, bypass: 1, ssid0: 2 } as const;
export type S1DssName = keyof typeof S1Dss;

/** S1CIR/S1COR and CR1 cache encodings, S1CSH shareability (Linux CR1_CACHE_WB, ARM_SMMU_SH_ISH). */
const CACHE_WBRA = 1;
const SH_ISH = 3;
/** STE.SHCFG "use incoming" (STRTAB_STE_1_SHCFG_INCOMING). */
const SHCFG_INCOMING = 1;
/** STE.EATS "full ATS" (STRTAB_STE_1_EATS_TRANS). */
const EATS_TRANS = 1;
/** STE.STRW NS-EL1 (STRTAB_STE_1_STRW_NSEL1). */
const STRW_NSEL1 = 0;

/** What of the SMMU's features the STE encoders depend on (Linux smmu->features). */
export interface SteFeatures {
  /** IDR1.ATTR_TYPES_OVR: SHCFG is honoured, so Linux writes "incoming" where stage 1 is bypassed. */
  attrTypesOvr: boolean;
  /** The SMMU can stall (IDR0.STALL_MODEL 0b00): Linux sets S1STALLD for masters that do not stall. */
  stalls: boolean;
}

/** A CD table as an STE names it (Linux struct arm_smmu_ctx_desc_cfg). */
export interface CdTableRef {
  /** Its address: the linear table, or the level-1 table (an IPA under nesting). */
  ptr: bigint;
  /** STE.S1Fmt: 0 linear, 1 2-level with 4 KiB leaves, 2 2-level with 64 KiB leaves. */
  s1fmt: 0 | 1 | 2;
  /** STE.S1CDMax: log2 of the number of CDs (0: one CD, no substreams). */
  s1cdmax: number;
}

/** The per-stream choices of a CD-table STE (arm_smmu_make_cdtable_ste's arguments). */
export interface CdTableSteOptions {
  cdTable: CdTableRef;
  s1dss: S1DssName;
  /** ATS enabled for the master: EATS full. */
  ats?: boolean;
  /** The master stalls on faults (Linux master->stall_enabled). */
  stallEnabled?: boolean;
}

/** A stage-2 configuration: the VMID and the VTCR-like facts of its io-pgtable-arm S2 table. */
export interface S2Config {
  vmid: number;
  /** S2T0SZ = 64 - IPA bits. */
  tsz: number;
  /** S2SL0 (the VTCR SL0 encoding for the granule). */
  sl0: number;
  irgn: number;
  orgn: number;
  sh: number;
  /** S2TG: 0 4 KiB, 1 64 KiB, 2 16 KiB. */
  tg: number;
  /** S2PS: output size, OAS encoding. */
  ps: number;
  /** S2TTB: the stage-2 root (the first of the concatenated tables). */
  ttb: bigint;
  /** IO_PGTABLE_QUIRK_ARM_S2FWB (a nesting parent on an SMMU with IDR3.FWB): STE.S2FWB. */
  fwb?: boolean;
}

/** The abort STE every unused stream gets (Linux arm_smmu_make_abort_ste): V, Config abort. */
export function abortSte(): Qwords8 {
  const q = zero8();
  q[0] = encodeFields(steFields[0], { V: 1, CONFIG: SteConfig.ABORT });
  return q;
}

/** The identity STE (Linux arm_smmu_make_bypass_ste): V, Config bypass, SHCFG incoming with ATTR_TYPES_OVR. */
export function bypassSte(f: SteFeatures): Qwords8 {
  const q = zero8();
  q[0] = encodeFields(steFields[0], { V: 1, CONFIG: SteConfig.BYPASS });
  if (f.attrTypesOvr) q[1] = encodeFields(steFields[1], { SHCFG: SHCFG_INCOMING });
  return q;
}

/** Dwords 0 and 1 of a stage-1 STE pointing at a CD table, as arm_smmu_make_cdtable_ste writes them. */
function cdTableDwords(f: SteFeatures, o: CdTableSteOptions, config: number): [bigint, bigint] {
  const { cdTable: t } = o;
  if (t.ptr & 0x3fn) throw new RangeError(`CD table address 0x${t.ptr.toString(16)} is not 64-byte aligned`);
  const dw0 = encodeFields(steFields[0], { V: 1, CONFIG: config, S1FMT: t.s1fmt, S1CONTEXTPTR: t.ptr >> 6n, S1CDMAX: t.s1cdmax });
  const s1dss = S1Dss[o.s1dss];
  const dw1 = encodeFields(steFields[1], {
    S1DSS: s1dss,
    S1CIR: CACHE_WBRA,
    S1COR: CACHE_WBRA,
    S1CSH: SH_ISH,
    S1STALLD: f.stalls && !o.stallEnabled,
    EATS: o.ats ? EATS_TRANS : 0,
    SHCFG: f.attrTypesOvr && s1dss === S1Dss.bypass ? SHCFG_INCOMING : 0,
    STRW: STRW_NSEL1,
  });
  return [dw0, dw1];
}

/**
 * A stage-1 STE with a CD table (Linux arm_smmu_make_cdtable_ste, without E2H): S1Fmt,
 * S1ContextPtr, S1CDMax; S1DSS; CD fetches WBRA inner and outer, inner shareable; S1STALLD for a
 * master that does not stall on an SMMU that can; EATS full with ATS; SHCFG incoming when S1DSS
 * bypasses; STRW NS-EL1 and S2VMID 0 (VMID 0 is reserved for these STEs).
 */
export function cdTableSte(f: SteFeatures, o: CdTableSteOptions): Qwords8 {
  const q = zero8();
  [q[0], q[1]] = cdTableDwords(f, o, SteConfig.S1);
  q[2] = encodeFields(steFields[2], { S2VMID: 0 });
  return q;
}

/**
 * A stage-2 STE (Linux arm_smmu_make_s2_domain_ste): EATS full with ATS, S2FWB for a nesting
 * parent, SHCFG incoming with ATTR_TYPES_OVR; S2VMID and the VTCR fields (S2T0SZ, S2SL0, S2IR0,
 * S2OR0, S2SH0, S2TG, S2PS), S2AA64, S2PTW, S2S for a stalling master, S2R; S2TTB.
 */
export function s2Ste(f: SteFeatures, s2: S2Config, o: { ats?: boolean; stallEnabled?: boolean } = {}): Qwords8 {
  if (s2.ttb & 0xfn) throw new RangeError(`S2TTB 0x${s2.ttb.toString(16)} is not 16-byte aligned`);
  const q = zero8();
  q[0] = encodeFields(steFields[0], { V: 1, CONFIG: SteConfig.S2 });
  q[1] = encodeFields(steFields[1], { EATS: o.ats ? EATS_TRANS : 0, S2FWB: s2.fwb ?? false, SHCFG: f.attrTypesOvr ? SHCFG_INCOMING : 0 });
  q[2] = encodeFields(steFields[2], {
    S2VMID: s2.vmid,
    S2T0SZ: s2.tsz,
    S2SL0: s2.sl0,
    S2IR0: s2.irgn,
    S2OR0: s2.orgn,
    S2SH0: s2.sh,
    S2TG: s2.tg,
    S2PS: s2.ps,
    S2AA64: 1,
    S2PTW: 1,
    S2S: o.stallEnabled ?? false,
    S2R: 1,
  });
  q[3] = encodeFields(steFields[3], { S2TTB: s2.ttb >> 4n });
  return q;
}

/**
 * A nested STE (Linux arm_smmu_make_nested_cd_table_ste, arm-smmu-v3-iommufd.c): the stage-2 STE
 * of the parent, then dword 0 replaced by V, Config nested and the guest's CD-table fields, the
 * guest's dword-1 fields (S1DSS, S1CIR/COR/CSH, S1STALLD, EATS) or-ed in, and MEV (merge events).
 */
export function nestedSte(f: SteFeatures, s2: S2Config, o: CdTableSteOptions): Qwords8 {
  const q = s2Ste(f, s2, { ats: o.ats, stallEnabled: o.stallEnabled });
  const [dw0, dw1] = cdTableDwords({ ...f, attrTypesOvr: false }, o, SteConfig.NESTED);
  q[0] = dw0;
  q[1] |= dw1 | encodeFields(steFields[1], { MEV: 1 });
  return q;
}

/**
 * A level-1 stream table descriptor (Linux arm_smmu_write_strtab_l1_desc): Span = SPLIT + 1 (the
 * level-2 table holds 2^(Span-1) = 2^SPLIT STEs) and L2Ptr.
 */
export function l1std(l2ptr: bigint, split: number): bigint {
  if (l2ptr & 0x3fn) throw new RangeError(`level-2 stream table address 0x${l2ptr.toString(16)} is not 64-byte aligned`);
  return encodeFields(l1stdFields, { SPAN: split + 1, L2PTR: l2ptr >> 6n });
}
