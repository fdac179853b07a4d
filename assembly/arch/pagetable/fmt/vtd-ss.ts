// VT-d second-stage paging entries (VT-d spec 3.7 "Second-Stage Translation", 9.8 "Second-Stage
// Paging Entries"). A format answers questions about one entry; the walk itself is walker.ts.
//
// Normalised level -> spec name: 0 SS-PTE (4 KiB leaf), 1 SS-PDE (2 MiB leaf with PS),
// 2 SS-PDPE (1 GiB leaf with PS), 3 SS-PML4E, 4 SS-PML5E.
//
//   63   62   61:52  51:HAW  HAW-1:12   11   10   9   8   7    6:2     1   0
//  +----+----+------+-------+----------+----+----+---+---+----+-------+---+---+
//  |Ign | TM |  Ign | Rsvd  |   ADDR   |SNP |Ign | D | A | PS |X/EMT..| W | R |
//  +----+----+------+-------+----------+----+----+---+---+----+-------+---+---+
//
// There is no present bit: an entry is present when R or W is set. TM (bit 62) is reserved since
// spec 3.2. SNP is meaningful only in leaves and is reserved in non-leaf entries. PS is reserved in
// SS-PML4E and SS-PML5E, and in SS-PDE/SS-PDPE when CAP.SSLPS does not allow that page size.
// Bits 6:2 (X, EMT, IPAT) are not interpreted by this model.
import { mask64 } from "../../../common/bits";

export const SS_R: u64 = 1 << 0;
export const SS_W: u64 = 1 << 1;
export const SS_PS: u64 = 1 << 7;
export const SS_A: u64 = 1 << 8;
export const SS_D: u64 = 1 << 9;
export const SS_SNP: u64 = 1 << 11;
export const SS_TM: u64 = 1 << 62;

// @ts-ignore: decorator
@inline export function ssPresent(e: u64): bool {
  return (e & (SS_R | SS_W)) != 0;
}

// @ts-ignore: decorator
@inline export function ssIsLeaf(e: u64, level: u32): bool {
  return level == 0 || (e & SS_PS) != 0;
}

/** Reserved bits that are set in entry `e` at `level` (0 if none). */
// @ts-ignore: decorator
@inline export function ssReserved(e: u64, level: u32, leaf: bool, leafLevels: u32, rsvdAddr: u64, snpReserved: bool): u64 {
  let m = rsvdAddr;
  if (leaf) {
    if (level > 0 && ((leafLevels >>> level) & 1) == 0) m |= SS_PS; // large page not supported here
    m |= SS_TM;
    if (snpReserved) m |= SS_SNP;
    if (level > 0) m |= mask64(12 + 9 * level - 1, 12); // large-page frame low bits
  } else {
    m |= SS_SNP;
  }
  return e & m;
}

/** Output address of leaf `e` at `level`: the page frame plus the offset of `va` in the page. */
// @ts-ignore: decorator
@inline export function ssOutput(e: u64, level: u32, va: u64): u64 {
  const pageMask = mask64(12 + 9 * level - 1, 0);
  return (e & mask64(51, 12) & ~pageMask) | (va & pageMask);
}
