// Context entries (spec 9.3 legacy, 9.4 scalable mode).
//
// Legacy context entry (128 bits; 256 per 4 KiB table, indexed by devfn):
//   127     88 87     72  71  70:67 66:64   63           12 11    4 3:2  1    0
//  +---------+---------+----+-----+------+----------------+-------+----+-----+---+
//  |Reserved |   DID   |Rsvd| Ign |  AW  |    SSPTPTR     | Rsvd  | TT | FPD | P |
//  +---------+---------+----+-----+------+----------------+-------+----+-----+---+
//  TT: 00 untranslated requests through the second stage; 01 also translation and translated
//  requests (device-TLB, needs ECAP.DT); 10 pass-through (needs ECAP.PT); 11 reserved.
//  AW: levels = AW + 2, must be supported in CAP.SAGAW.
//
// Scalable-mode context entry (256 bits; 128 per 4 KiB table, indexed by devfn[6:0]):
//   255     128 127     85   84      83:64     63            12 11:9  8:5  4    3      2    1    0
//  +-----------+---------+--------+----------+----------------+-----+----+----+------+----+-----+---+
//  | Reserved  |Reserved |RID_PRIV|RID_PASID |  PASIDDIRPTR   |PDTS |Rsvd|PRE |PASIDE| DTE| FPD | P |
//  +-----------+---------+--------+----------+----------------+-----+----+----+------+----+-----+---+
//  PDTS: the PASID directory has 2^(PDTS+7) entries. RID_PASID is used for requests without PASID
//  when ECAP.RPS=1 (otherwise PASID 0); RID_PRIV gives them supervisor privilege (ECAP.RPRIVS).
import { mask64 } from "../../common/bits";

export const CTX_LEGACY_BYTES: u32 = 16;
export const CTX_SM_BYTES: u32 = 32;

export const CTX_P: u64 = 1 << 0;
export const CTX_FPD: u64 = 1 << 1;
// legacy, qword 0
export const CTX_TT_SHIFT: u32 = 2;
export const CTX_LEGACY_RSVD_LO: u64 = mask64(11, 4);
// legacy, qword 1: 2:0 AW, 6:3 Ign, 7 Rsvd, 23:8 DID, 63:24 Rsvd
export const CTX_LEGACY_RSVD_HI: u64 = (1 << 7) | mask64(63, 24);
export const TT_SS: u32 = 0;
export const TT_SS_DT: u32 = 1;
export const TT_PT: u32 = 2;
// scalable, qword 0
export const CTX_DTE: u64 = 1 << 2;
export const CTX_PASIDE: u64 = 1 << 3;
export const CTX_PRE: u64 = 1 << 4;
export const CTX_SM_RSVD_Q0: u64 = mask64(8, 5);
// scalable, qword 1: 19:0 RID_PASID, 20 RID_PRIV, 63:21 Rsvd
export const CTX_SM_RID_PASID_MASK: u64 = mask64(19, 0);
export const CTX_SM_RID_PRIV: u64 = 1 << 20;
export const CTX_SM_RSVD_Q1: u64 = mask64(63, 21);
