// VMSAv8-64 translation tables (Arm ARM D8 "The AArch64 Virtual Memory System Architecture";
// SMMUv3 spec 3.4 uses them unchanged for stage 1 and stage 2). This file has the stage-2 format
// with any granule; the SMMUv3 model adds stage 1.
//
// Normalised level -> spec level: with start level S (from S2SL0 at stage 2), the walk reads
// levels S..3; normalised level n is spec level 3 - n (0 = the page table).
//
// Descriptors (64 bits), bits [1:0]: 0bx0 invalid; levels 0-2: 0b01 block, 0b11 table; level 3:
// 0b11 page, 0b01 reserved (invalid). A block is allowed only at the levels the granule allows
// (4 KiB: levels 1 and 2; 16 KiB and 64 KiB: level 2); elsewhere 0b01 is invalid.
//
//   Table:        63 NSTable | 62:61 APTable | 60 XNTable | 59 PXNTable | 47:G next-level table | 1:0 = 11
//   Stage-2 leaf: 54:53 XN | 52 Contiguous | 51 DBM | 47:G(level) output | 10 AF | 9:8 SH | 7:6 S2AP | 5:2 MemAttr | 1:0
//     S2AP: bit 6 read, bit 7 write. AF=0 is an Access flag fault unless S2AFFD=1, or hardware sets
//     it (S2HA). With S2HD and DBM=1, a clean (S2AP[1]=0) page is writable and a write sets S2AP[1].
//     Stage-2 table descriptors carry no hierarchical attributes.
// Output and table addresses at or above the output size (S2PS) are Address size faults.
import { mask64 } from "../../../common/bits";
import { WalkState, PERM_R, PERM_W, PERM_U, PERM_X, W_OK, W_ADDR_SIZE } from "../walk-state";

export const VMSA_VALID: u64 = 1 << 0;
export const VMSA_TABLE: u64 = 1 << 1; // table (levels 0-2) or page (level 3)
export const VMSA_S2AP_R: u64 = 1 << 6;
export const VMSA_S2AP_W: u64 = 1 << 7;
export const VMSA_AF: u64 = 1 << 10;
export const VMSA_DBM: u64 = 1 << 51;
export const VMSA_XN: u64 = 1 << 54;
/** Address bits of a descriptor without FEAT_LPA (47:0, the granule's low bits are attributes). */
const ADDR_HI: u32 = 47;

/** Granule geometry: index bits per level (9, 11, 13 for 4, 16, 64 KiB). */
// @ts-ignore: decorator
@inline export function vmsaLevelBits(granuleLg2: u32): u32 {
  return granuleLg2 - 3;
}

/**
 * Configures `ws` for a stage-2 walk: granule 2^granuleLg2 (12, 14, 16), input size 64 - S2T0SZ,
 * start level from S2SL0 (4 KiB: 0 -> level 2, 1 -> level 1, 2 -> level 0; 16/64 KiB: 0 -> level 3,
 * 1 -> level 2, 2 -> level 1), output size `oaBits` (S2PS). Up to 16 start-level tables may be
 * concatenated when the input has more bits than the start level resolves. Returns false for a
 * combination the architecture does not allow (the STE is then ill-formed).
 */
export function vmsaS2Configure(ws: WalkState, granuleLg2: u32, t0sz: u32, sl0: u32, oaBits: u32): bool {
  if (granuleLg2 != 12 && granuleLg2 != 14 && granuleLg2 != 16) return false;
  if (sl0 > 2 || t0sz < 16 || t0sz > 48) return false;
  const bits = vmsaLevelBits(granuleLg2);
  const startSpec: u32 = granuleLg2 == 12 ? 2 - sl0 : 3 - sl0;
  const start = 3 - startSpec; // normalised
  const inputBits: u32 = 64 - t0sz;
  const startShift = granuleLg2 + bits * start;
  if (inputBits <= startShift) return false; // the start level resolves no input bit
  const topBits = inputBits - startShift;
  if (topBits > bits + 4) return false; // more than 16 concatenated tables
  ws.granuleLg2 = granuleLg2;
  ws.levelBits = bits;
  ws.levels = start + 1;
  ws.topIndexBits = topBits;
  ws.inputBits = inputBits;
  ws.oaBits = oaBits;
  // Blocks: 4 KiB at levels 1 and 2 (normalised 2, 1); 16 and 64 KiB at level 2 (normalised 1).
  ws.leafLevels = granuleLg2 == 12 ? 1 | 2 | 4 : 1 | 2;
  return true;
}

/** The stage-2 format as the walker sees it (arch/pagetable/walker.ts walkFormat). */
@final
export class VmsaS2Format {
  // @ts-ignore: decorator
  @inline shift(ws: WalkState, level: u32): u32 {
    return ws.granuleLg2 + ws.levelBits * level;
  }
  /** The start level's index has topIndexBits bits (more: concatenated tables), the others levelBits. */
  // @ts-ignore: decorator
  @inline index(ws: WalkState, va: u64, level: u32): u64 {
    const bits = level == ws.levels - 1 ? ws.topIndexBits : ws.levelBits;
    return (va >>> this.shift(ws, level)) & ((<u64>1 << bits) - 1);
  }
  // @ts-ignore: decorator
  @inline inputOk(ws: WalkState, va: u64): bool {
    return (va >>> ws.inputBits) == 0;
  }
  /** Valid, and not a reserved encoding (0b01 at level 3, or a block where the granule has none). */
  // @ts-ignore: decorator
  @inline present(ws: WalkState, e: u64, level: u32): bool {
    if ((e & VMSA_VALID) == 0) return false;
    if ((e & VMSA_TABLE) != 0) return true;
    return level != 0 && ((ws.leafLevels >>> level) & 1) != 0;
  }
  // @ts-ignore: decorator
  @inline isLeaf(ws: WalkState, e: u64, level: u32): bool {
    return level == 0 || (e & VMSA_TABLE) == 0;
  }
  /** Address size: the output or next-table address reaches at or above 2^oaBits. */
  // @ts-ignore: decorator
  @inline check(ws: WalkState, e: u64, level: u32, leaf: bool): u32 {
    const addr = e & mask64(ADDR_HI, leaf ? this.shift(ws, level) : ws.granuleLg2);
    return (addr >>> ws.oaBits) != 0 ? W_ADDR_SIZE : W_OK;
  }
  /** S2AP read and write (write also when DBM makes a clean page writable under S2HD), XN. */
  // @ts-ignore: decorator
  @inline perms(ws: WalkState, e: u64, level: u32, leaf: bool): u32 {
    if (!leaf) return PERM_R | PERM_W | PERM_U | PERM_X;
    const w = (e & VMSA_S2AP_W) != 0 || (ws.dirtyByDbm && (e & VMSA_DBM) != 0);
    return PERM_U | ((e & VMSA_S2AP_R) != 0 ? PERM_R : 0) | (w ? PERM_W : 0) | ((e & VMSA_XN) == 0 ? PERM_X : 0);
  }
  /** A leaf without AF faults unless S2AFFD, or the hardware sets AF (S2HA: ws.setAD). */
  // @ts-ignore: decorator
  @inline accessFault(ws: WalkState, e: u64, level: u32, leaf: bool): bool {
    return leaf && (e & VMSA_AF) == 0 && !ws.accessFaultOff && !ws.setAD;
  }
  // @ts-ignore: decorator
  @inline accessed(ws: WalkState, e: u64, level: u32, leaf: bool): u64 {
    return leaf && ws.setAD ? e | VMSA_AF : e;
  }
  /** Dirty state: with S2HD and DBM=1, a write makes the page writable-dirty (S2AP[1] = 1). */
  // @ts-ignore: decorator
  @inline dirty(ws: WalkState, e: u64): u64 {
    return ws.dirtyByDbm && (e & VMSA_DBM) != 0 ? e | VMSA_S2AP_W : e;
  }
  // @ts-ignore: decorator
  @inline next(ws: WalkState, e: u64): u64 {
    return e & mask64(ADDR_HI, ws.granuleLg2);
  }
  // @ts-ignore: decorator
  @inline output(ws: WalkState, e: u64, level: u32, va: u64): u64 {
    const lg2 = this.shift(ws, level);
    return (e & mask64(ADDR_HI, lg2)) | (va & mask64(lg2 - 1, 0));
  }
  // @ts-ignore: decorator
  @inline leafAttributes(ws: WalkState, e: u64, level: u32): void {
    ws.global = false;
    ws.snp = false;
  }
}
