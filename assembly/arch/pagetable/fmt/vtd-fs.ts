// VT-d first-stage paging entries: the x86-64 (IA-32e) format (VT-d spec 3.6 "First-Stage
// Translation", 9.7 "First-Stage Paging Entries"). A format answers questions about one entry.
//
// Normalised level -> spec name: 0 PTE (4 KiB), 1 PDE (2 MiB leaf with PS), 2 PDPE (1 GiB leaf with
// PS, only with CAP.FS1GP), 3 PML4E, 4 PML5E (FSPM = 01, 5-level paging).
//
//   63  62:52  51:HAW  HAW-1:12   11   10   9   8   7    6   5   4    3    2    1   0
//  +---+------+-------+----------+----+----+---+---+----+---+---+----+----+----+---+---+
//  |XD | Ign  | Rsvd  |   ADDR   |Ign | EA |Ign| G |PS/ | D | A |PCD |PWT |U/S |R/W| P |
//  |   |      |       |          |    |    |   |   |PAT |   |   |    |    |    |   |   |
//  +---+------+-------+----------+----+----+---+---+----+---+---+----+----+----+---+---+
//
// XD is reserved unless the PASID entry sets NXE. PS is reserved in PML4E/PML5E. In a 2 MiB or
// 1 GiB leaf bit 12 is PAT and bits 20:13 / 29:13 are reserved. D and G are ignored in non-leaves.
import { mask64 } from "../../../common/bits";
import { WalkState, PERM_R, PERM_W, PERM_U, PERM_X, W_OK, W_RESERVED } from "../walk-state";
import { vtdLevelShift, VTD_LEVEL_BITS } from "./vtd-ss";

export const FS_P: u64 = 1 << 0;
export const FS_RW: u64 = 1 << 1;
export const FS_US: u64 = 1 << 2;
export const FS_A: u64 = 1 << 5;
export const FS_D: u64 = 1 << 6;
export const FS_PS: u64 = 1 << 7;
export const FS_G: u64 = 1 << 8;
export const FS_EA: u64 = 1 << 10;
export const FS_XD: u64 = 1 << 63;

// @ts-ignore: decorator
@inline export function fsPresent(e: u64): bool {
  return (e & FS_P) != 0;
}

// @ts-ignore: decorator
@inline export function fsIsLeaf(e: u64, level: u32): bool {
  return level == 0 || (e & FS_PS) != 0;
}

/** Reserved bits that are set in entry `e` at `level` (0 if none). */
// @ts-ignore: decorator
@inline export function fsReserved(e: u64, level: u32, leaf: bool, leafLevels: u32, rsvdAddr: u64, nxe: bool): u64 {
  let m = rsvdAddr;
  if (!nxe) m |= FS_XD;
  if (leaf && level > 0) {
    if (((leafLevels >>> level) & 1) == 0) m |= FS_PS; // PML4E/PML5E, or 1 GiB without FS1GP
    m |= mask64(vtdLevelShift(level) - 1, 13); // large-page frame low bits (bit 12 is PAT)
  }
  return e & m;
}

/** Output address of leaf `e` at `level`. */
// @ts-ignore: decorator
@inline export function fsOutput(e: u64, level: u32, va: u64): u64 {
  const pageMask = mask64(vtdLevelShift(level) - 1, 0);
  return (e & mask64(51, 12) & ~pageMask) | (va & pageMask);
}

/** The first-stage input width: 48 bits (4-level) or 57 bits (5-level, FSPM = 01). */
// @ts-ignore: decorator
@inline export function fsInputBits(levels: u32): u32 {
  return vtdLevelShift(levels);
}

/** The first-stage format as the walker sees it (arch/pagetable/walker.ts walkFormat). */
@final
export class VtdFsFormat {
  // @ts-ignore: decorator
  @inline shift(ws: WalkState, level: u32): u32 {
    return vtdLevelShift(level);
  }
  // @ts-ignore: decorator
  @inline index(ws: WalkState, va: u64, level: u32): u64 {
    return (va >>> vtdLevelShift(level)) & ((1 << VTD_LEVEL_BITS) - 1);
  }
  /** Canonical: bits 63:inputBits-1 all equal bit inputBits-1 (spec 3.6.1). */
  // @ts-ignore: decorator
  @inline inputOk(ws: WalkState, va: u64): bool {
    const shift = 64 - ws.inputBits;
    return <u64>((<i64>(va << shift)) >> shift) == va;
  }
  // @ts-ignore: decorator
  @inline present(ws: WalkState, e: u64, level: u32): bool {
    return fsPresent(e);
  }
  // @ts-ignore: decorator
  @inline isLeaf(ws: WalkState, e: u64, level: u32): bool {
    return fsIsLeaf(e, level);
  }
  // @ts-ignore: decorator
  @inline check(ws: WalkState, e: u64, level: u32, leaf: bool): u32 {
    return fsReserved(e, level, leaf, ws.leafLevels, ws.rsvdAddr, ws.nxe) != 0 ? W_RESERVED : W_OK;
  }
  /** Rights this entry allows (ANDed over the walk): R always, W with R/W, U with U/S, X without XD. */
  // @ts-ignore: decorator
  @inline perms(ws: WalkState, e: u64, level: u32, leaf: bool): u32 {
    return PERM_R | ((e & FS_RW) != 0 ? PERM_W : 0) | ((e & FS_US) != 0 ? PERM_U : 0) | ((e & FS_XD) == 0 ? PERM_X : 0);
  }
  // @ts-ignore: decorator
  @inline accessFault(ws: WalkState, e: u64, level: u32, leaf: bool): bool {
    return false;
  }
  /** The entry with A (and EA with EAFE) set, as x86 paging sets them on every entry used. */
  // @ts-ignore: decorator
  @inline accessed(ws: WalkState, e: u64, level: u32, leaf: bool): u64 {
    return e | (ws.eafe ? FS_A | FS_EA : FS_A);
  }
  // @ts-ignore: decorator
  @inline dirty(ws: WalkState, e: u64): u64 {
    return e | FS_D;
  }
  // @ts-ignore: decorator
  @inline next(ws: WalkState, e: u64): u64 {
    return e & mask64(51, 12);
  }
  // @ts-ignore: decorator
  @inline output(ws: WalkState, e: u64, level: u32, va: u64): u64 {
    return fsOutput(e, level, va);
  }
  // @ts-ignore: decorator
  @inline leafAttributes(ws: WalkState, e: u64, level: u32): void {
    ws.global = (e & FS_G) != 0;
    ws.snp = false;
  }
}
