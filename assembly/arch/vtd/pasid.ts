// PASID directory and PASID-table entries (spec 9.5, 9.6). A 20-bit PASID selects directory entry
// PASID[19:6] and PASID-table entry PASID[5:0]: one 4 KiB PASID table holds 64 entries of 512 bits.
//
// PASID-directory entry (64 bits):
//   63                  12 11         2   1    0
//  +----------------------+-----------+-----+---+
//  |      SMPTBLPTR       | Reserved  | FPD | P |
//  +----------------------+-----------+-----+---+
//
// PASID-table entry (512 bits), the fields this model interprets:
//   qword 0:  63:12 SSPTPTR | 11:10 Rsvd | 9 SSADE | 8:6 PGTT | 5 SLEE | 4:2 AW | 1 FPD | 0 P
//   qword 1:  63:32 PAT | 31 PCD | 30 PWT | 29:27 EMT | 26 EMTE | 25 CD | 24 PGSNP | 23 PWSNP
//             22:16 Rsvd | 15:0 DID
//   qword 2:  63:12 FSPTPTR | 11:8 Rsvd | 7 EAFE | 6 SMEP | 5 NXE | 4 WPE | 3:2 FSPM | 1 ERE | 0 SRE
//   qwords 3..7: reserved
//  PGTT: 001 first-stage, 010 second-stage, 011 nested, 100 pass-through; others reserved.
//  FSPM: 00 4-level, 01 5-level (needs CAP.FS5LP); others reserved.
import { mask64 } from "../../common/bits";

export const PASID_DIR_ENTRY_BYTES: u32 = 8;
export const PASID_ENTRY_BYTES: u32 = 64;

export const PDE_P: u64 = 1 << 0;
export const PDE_FPD: u64 = 1 << 1;
export const PDE_RSVD: u64 = mask64(11, 2);

export const PE_P: u64 = 1 << 0;
export const PE_FPD: u64 = 1 << 1;
export const PE_SSADE: u64 = 1 << 9;
export const PE_RSVD_Q0: u64 = mask64(11, 10);
export const PE_PGSNP: u64 = 1 << 24;
export const PE_PWSNP: u64 = 1 << 23;
export const PE_RSVD_Q1: u64 = mask64(22, 16);
export const PE_SRE: u64 = 1 << 0;
export const PE_ERE: u64 = 1 << 1;
export const PE_WPE: u64 = 1 << 4;
export const PE_NXE: u64 = 1 << 5;
export const PE_SMEP: u64 = 1 << 6;
export const PE_EAFE: u64 = 1 << 7;
export const PE_RSVD_Q2: u64 = mask64(11, 8);

export const PGTT_FS: u32 = 1;
export const PGTT_SS: u32 = 2;
export const PGTT_NESTED: u32 = 3;
export const PGTT_PT: u32 = 4;
