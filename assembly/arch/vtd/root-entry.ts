// Root entries (spec 9.1 legacy, 9.2 scalable mode). The root table is one 4 KiB page of 256
// 128-bit entries indexed by bus number.
//
// Legacy root entry:
//   127                          64 63                   12 11        1   0
//  +------------------------------+-----------------------+-----------+---+
//  |           Reserved           |          CTP          | Reserved  | P |
//  +------------------------------+-----------------------+-----------+---+
//
// Scalable-mode root entry (UCTP serves devfn 0x80-0xff, LCTP devfn 0x00-0x7f):
//   127              76 75     65  64  63              12 11        1   0
//  +------------------+----------+----+------------------+-----------+----+
//  |       UCTP       | Reserved | UP |       LCTP       | Reserved  | LP |
//  +------------------+----------+----+------------------+-----------+----+
import { mask64 } from "../../common/bits";

export const ROOT_ENTRY_BYTES: u32 = 16;
export const ROOT_P: u64 = 1;
export const ROOT_CTP_MASK: u64 = mask64(63, 12);
export const ROOT_RSVD_LO: u64 = mask64(11, 1);
/** Legacy: the whole upper qword is reserved. Scalable: each half has bits 11:1 reserved. */
export const ROOT_LEGACY_RSVD_HI: u64 = <u64>-1;
