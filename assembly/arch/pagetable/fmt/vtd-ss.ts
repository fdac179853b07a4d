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
import { WalkState, PERM_R, PERM_W, PERM_U, PERM_X, W_OK, W_RESERVED } from "../walk-state";

/** Levels (normalised 0..4) of the format: 4 KiB granule, 9 index bits per level, 8-byte entries. */
export const VTD_GRANULE_LG2: u32 = 12;
export const VTD_LEVEL_BITS: u32 = 9;
export const VTD_MAX_LEVELS: u32 = 5;

/** log2 of the bytes one entry at normalised `level` maps in either VT-d format (12, 21, 30, 39, 48). */
// @ts-ignore: decorator
@inline export function vtdLevelShift(level: u32): u32 {
  return VTD_GRANULE_LG2 + VTD_LEVEL_BITS * level;
}

/** The spec's paging level (1 = the 4 KiB table) of a VT-d leaf mapping 2^pageLg2 bytes. */
// @ts-ignore: decorator
@inline export function vtdLevelOfPage(pageLg2: u32): u32 {
  return (pageLg2 - VTD_GRANULE_LG2) / VTD_LEVEL_BITS + 1;
}

/** The input width of a second-stage table of `levels` levels (39, 48 or 57 bits). */
// @ts-ignore: decorator
@inline export function vtdInputBits(levels: u32): u32 {
  return vtdLevelShift(levels);
}

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
    if (level > 0) m |= mask64(vtdLevelShift(level) - 1, 12); // large-page frame low bits
  } else {
    m |= SS_SNP;
  }
  return e & m;
}

/** Output address of leaf `e` at `level`: the page frame plus the offset of `va` in the page. */
// @ts-ignore: decorator
@inline export function ssOutput(e: u64, level: u32, va: u64): u64 {
  const pageMask = mask64(vtdLevelShift(level) - 1, 0);
  return (e & mask64(51, 12) & ~pageMask) | (va & pageMask);
}

/**
 * The second-stage format as the walker sees it (arch/pagetable/walker.ts walkFormat): geometry,
 * then the answers about one entry. Normalised levels; `ws` carries the per-walk configuration.
 */
@final
export class VtdSsFormat {
  // @ts-ignore: decorator
  @inline shift(ws: WalkState, level: u32): u32 {
    return vtdLevelShift(level);
  }
  // @ts-ignore: decorator
  @inline index(ws: WalkState, va: u64, level: u32): u64 {
    return (va >>> vtdLevelShift(level)) & ((1 << VTD_LEVEL_BITS) - 1);
  }
  /** Input below 2^inputBits (the address width limit). */
  // @ts-ignore: decorator
  @inline inputOk(ws: WalkState, va: u64): bool {
    return (va >>> ws.inputBits) == 0;
  }
  // @ts-ignore: decorator
  @inline present(ws: WalkState, e: u64, level: u32): bool {
    return ssPresent(e);
  }
  // @ts-ignore: decorator
  @inline isLeaf(ws: WalkState, e: u64, level: u32): bool {
    return ssIsLeaf(e, level);
  }
  /** W_OK, or the outcome of a malformed entry (reserved bits). */
  // @ts-ignore: decorator
  @inline check(ws: WalkState, e: u64, level: u32, leaf: bool): u32 {
    return ssReserved(e, level, leaf, ws.leafLevels, ws.rsvdAddr, ws.snpReserved) != 0 ? W_RESERVED : W_OK;
  }
  /** Rights this entry allows (ANDed over the walk): R and W; the SS format has no U or X here. */
  // @ts-ignore: decorator
  @inline perms(ws: WalkState, e: u64, level: u32, leaf: bool): u32 {
    return PERM_U | PERM_X | ((e & SS_R) != 0 ? PERM_R : 0) | ((e & SS_W) != 0 ? PERM_W : 0);
  }
  /** No access-flag fault in VT-d: A is set by hardware (SSADE) or not kept at all. */
  // @ts-ignore: decorator
  @inline accessFault(ws: WalkState, e: u64, level: u32, leaf: bool): bool {
    return false;
  }
  /** The entry with the accessed flag the walk sets (SS A bit 8 with SSADE), or `e` unchanged. */
  // @ts-ignore: decorator
  @inline accessed(ws: WalkState, e: u64, level: u32, leaf: bool): u64 {
    return ws.setAD ? e | SS_A : e;
  }
  // @ts-ignore: decorator
  @inline dirty(ws: WalkState, e: u64): u64 {
    return e | SS_D;
  }
  // @ts-ignore: decorator
  @inline next(ws: WalkState, e: u64): u64 {
    return e & mask64(51, 12);
  }
  // @ts-ignore: decorator
  @inline output(ws: WalkState, e: u64, level: u32, va: u64): u64 {
    return ssOutput(e, level, va);
  }
  // @ts-ignore: decorator
  @inline leafAttributes(ws: WalkState, e: u64, level: u32): void {
    ws.global = false;
    ws.snp = (e & SS_SNP) != 0;
  }
}
