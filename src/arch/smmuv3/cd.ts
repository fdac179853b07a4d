/**
 * Context Descriptors and level-1 CD descriptors as Linux's arm-smmu-v3 driver writes them (spec
 * 5.3, 5.4; shared/spec/smmuv3.md §2.4), built from the field table (fields.ts).
 *
 *   dword 0  T0SZ[5:0] TG0[7:6] IR0[9:8] OR0[11:10] SH0[13:12] EPD1[30] V[31] IPS[34:32] AA64[41]
 *            HD[42] HA[43] S[44] R[45] A[46] ASET[47] ASID[63:48]
 *   dword 1  TTB0[51:4]
 *   dword 3  MAIR (MAIR0 in [31:0], MAIR1 in [63:32])
 *   dwords 2, 4-7: TTB1 (unused: EPD1), AMAIR, implementation defined; zero
 *
 * L1CD (8 bytes): V[0] L2Ptr[51:12].
 */
import { encodeFields } from "../fields.ts";
import { cdFields, l1cdFields } from "./fields.ts";
import type { Qwords8 } from "./ste.ts";

/** A stage-1 configuration: the TCR-like facts of an io-pgtable-arm S1 table and its root. */
export interface S1Config {
  /** T0SZ = 64 - input bits. */
  tsz: number;
  /** TG0: 0 4 KiB, 1 64 KiB, 2 16 KiB. */
  tg: number;
  irgn: number;
  orgn: number;
  sh: number;
  /** IPS: output size, OAS encoding. */
  ips: number;
  /** TTB0: the table's root. */
  ttb: bigint;
  /** MAIR: eight attribute bytes indexed by a leaf's AttrIndx. */
  mair: bigint;
  /** IO_PGTABLE_QUIRK_ARM_HD: hardware access-flag and dirty-state updates (CD.HA, CD.HD). */
  hd?: boolean;
}

/**
 * A stage-1 CD (Linux arm_smmu_make_s1_cd): T0SZ, TG0, IR0, OR0, SH0 and IPS from the table's TCR,
 * EPD1 (no TTB1 walks), V, AA64, S for a stalling master, R (record faults), A (abort faulting
 * transactions), ASET (a private ASID), the ASID; HA and HD with the HD quirk; TTB0; MAIR.
 */
export function s1Cd(s1: S1Config, o: { asid: number; stallEnabled?: boolean }): Qwords8 {
  if (s1.ttb & 0xfn) throw new RangeError(`TTB0 0x${s1.ttb.toString(16)} is not 16-byte aligned`);
  const q: Qwords8 = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  q[0] = encodeFields(cdFields[0], {
    T0SZ: s1.tsz,
    TG0: s1.tg,
    IR0: s1.irgn,
    OR0: s1.orgn,
    SH0: s1.sh,
    EPD1: 1,
    V: 1,
    IPS: s1.ips,
    AA64: 1,
    S: o.stallEnabled ?? false,
    R: 1,
    A: 1,
    ASET: 1,
    ASID: o.asid,
    HA: s1.hd ?? false,
    HD: s1.hd ?? false,
  });
  q[1] = encodeFields(cdFields[1], { TTB0: s1.ttb >> 4n });
  q[3] = encodeFields(cdFields[3], { MAIR: s1.mair });
  return q;
}

/** A level-1 CD descriptor (Linux arm_smmu_write_cd_l1_desc): V and L2Ptr. */
export function l1cd(l2ptr: bigint): bigint {
  if (l2ptr & 0xfffn) throw new RangeError(`level-2 CD table address 0x${l2ptr.toString(16)} is not 4 KiB aligned`);
  return encodeFields(l1cdFields, { V: 1, L2PTR: l2ptr >> 12n });
}
