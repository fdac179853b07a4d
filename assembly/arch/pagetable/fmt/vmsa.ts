// VMSAv8-64 translation tables, stage 1 and stage 2, with 4, 16 and 64 KiB granules (Arm ARM D8
// "The AArch64 Virtual Memory System Architecture"; the SMMUv3 architecture uses them unchanged,
// configured by the CD for stage 1 and the STE for stage 2). Two formats of the one walker.
//
// Glossary: G = granuleLg2 (12, 14, 16); levelBits = G - 3 (9, 11, 13 index bits per table of
// 2^G bytes); a leaf at normalised level n maps 2^(G + levelBits * n) bytes.
//
// Normalised level -> spec level: the walk reads spec levels S..3 from the start level S; normalised
// level n is spec level 3 - n (0 = the page table). Leaves per granule (without FEAT_LPA/LPA2):
//
//   granule  spec level 0        1                 2                3
//   4 KiB    table only          1 GiB block       2 MiB block      4 KiB page
//   16 KiB   table only (1 bit)  table only        32 MiB block     16 KiB page
//   64 KiB   (none)              table only        512 MiB block    64 KiB page
//
// Descriptors (64 bits), bits [1:0]: 0bx0 invalid; levels 0-2: 0b01 block, 0b11 table; level 3:
// 0b11 page, 0b01 reserved (invalid). A block where the granule allows none is invalid. Invalid
// descriptors are translation faults (W_NOT_PRESENT).
//
//   Table:        63 NSTable | 62 APTable[1] | 61 APTable[0] | 60 UXNTable/XNTable | 59 PXNTable | 47:G next table | 1:0 = 11
//   Stage-1 leaf: 54 UXN/XN | 53 PXN | 52 Contiguous | 51 DBM | 47:G(level) output | 11 nG | 10 AF | 9:8 SH | 7 AP[2] | 6 AP[1] | 4:2 AttrIndx | 1:0
//   Stage-2 leaf: 54:53 XN | 52 Contiguous | 51 DBM | 47:G(level) output | 10 AF | 9:8 SH | 7:6 S2AP | 5:2 MemAttr | 1:0
//
// Address bits: descriptors hold output and table addresses in bits 47:G (FEAT_LPA's 52-bit
// addresses, OA[51:48] in bits 15:12 of 64 KiB descriptors, are not modelled: bits below G are
// never address bits). An output or next-table address at or above 2^oaBits (IPS at stage 1, S2PS
// at stage 2) is an Address size fault (W_ADDR_SIZE) at the level of the descriptor holding it.
//
// ---- Stage 1 (vmsaS1Configure; FMT_VMSA_S1) -------------------------------------------------------
// Input size 64 - TxSZ, TxSZ in 16..39 (FEAT_LVA's 12 and FEAT_TTST's larger maxima are not
// modelled); levels = ceil((inputBits - G) / levelBits) (Arm ARM D8.2), so the start level indexes
// the remaining 1..levelBits bits. TTB0 (upper = false) takes inputs whose bits 63:inputBits are all
// zeros, TTB1 (upper = true) those whose bits are all ones; with TBI bits 63:56 are ignored for that
// check (they are also not translated: the output keeps only the page offset). Other inputs: W_INPUT.
//
// Permissions (Arm ARM D8.4, "AArch64.S1DirectBasePermissions"), after the walk, in ws:
//   permR  privileged read: always (a stage-1 descriptor cannot forbid it)
//   permW  privileged write: AP[2] == 0 (or DBM == 1 with HD: writable-clean), no APTable[1] above
//   permU  unprivileged data access: AP[1] == 1, no APTable[0] above (write needs permU && permW)
//   permX  unprivileged execute: UXN == 0, no UXNTable above, and not (WXN and writable at EL0)
//   permPX privileged execute: PXN == 0, no PXNTable above, not writable at EL0 (AArch64 makes
//          "unprivileged-writable" imply PXN unconditionally), and not (WXN and writable at EL1)
// So a request with PnU = 1 (privileged) needs permR/permW/permPX, one with PnU = 0 needs permU and
// permR/permW/permX; InD selects the execute right. HAD (hierarchyOff) ignores APTable, UXNTable and
// PXNTable. "Writable" for WXN is AP[2] == 0 as the descriptor stands: a writable-clean DBM page is
// not yet writable, so WXN does not remove its execute right until a write has dirtied it. CD.UWXN
// is the AArch32 control (SCTLR.UWXN): AArch64 tables always behave as if it were 1, so the
// argument changes nothing. PAN and FEAT_PAN3 are not modelled (a privileged access to an
// unprivileged-accessible page is allowed).
//
// Access flag: a leaf with AF == 0 is W_ACCESS_FLAG unless AFFD (treated as set) or HA (the walk
// sets AF in memory, as the walker's accessed() update). Dirty state with HD (effective only with
// HA, as the Arm ARM requires): a DBM == 1 leaf with AP[2] == 1 is writable-clean; the write that
// is granted clears AP[2] (walkSetDirty). Only leaves are updated (no FEAT_HAFT).
//
// After the walk: ws.global = (nG == 0); ws.contiguous = the Contiguous hint (recorded, not used to
// widen the translation); ws.attrIndx = AttrIndx; ws.sh = SH.
//
// ---- Stage 2 (vmsaS2Configure; FMT_VMSA_S2) -------------------------------------------------------
// Start level from S2SL0 (Arm ARM "AArch64.S2StartLevel", "AArch64.S2InvalidSL"): 4 KiB: 0 -> 2,
// 1 -> 1, 2 -> 0 (only with a PA size of 44 bits or more); 16 and 64 KiB: 0 -> 3, 1 -> 2, 2 -> 1
// (only with PA >= 42 bits for 16 KiB, >= 44 for 64 KiB). S2SL0 = 3 (4 KiB level 3 with FEAT_TTST,
// 16 KiB level 0 with FEAT_LPA2) is refused. The start level must resolve 1..levelBits + 4 input
// bits ("AArch64.S2InconsistentSL"): more than levelBits are concatenated start tables (up to 16),
// the extra top bits selecting the table. S2AP bit 6 read, bit 7 write; XN (bit 54) removes execute
// (FEAT_XNX's 2-bit form not modelled). AF as stage 1 with S2AFFD/S2HA; with S2HD and DBM a clean
// (S2AP[1] = 0) page is writable and the granted write sets S2AP[1]. Table descriptors carry no
// hierarchical attributes. After the walk: ws.memAttr = MemAttr, ws.sh = SH.
import { mask64 } from "../../../common/bits";
import { WalkState, PERM_R, PERM_W, PERM_U, PERM_X, PERM_PX, W_OK, W_ADDR_SIZE } from "../walk-state";

export const VMSA_VALID: u64 = 1 << 0;
export const VMSA_TABLE: u64 = 1 << 1; // table (levels 0-2) or page (level 3)
export const VMSA_AP_UNPRIV: u64 = 1 << 6; // stage 1 AP[1]
export const VMSA_AP_RDONLY: u64 = 1 << 7; // stage 1 AP[2]
export const VMSA_S2AP_R: u64 = 1 << 6;
export const VMSA_S2AP_W: u64 = 1 << 7;
export const VMSA_AF: u64 = 1 << 10;
export const VMSA_NG: u64 = 1 << 11;
export const VMSA_DBM: u64 = 1 << 51;
export const VMSA_CONT: u64 = 1 << 52;
export const VMSA_PXN: u64 = 1 << 53;
export const VMSA_XN: u64 = 1 << 54; // stage 1 UXN/XN, stage 2 XN[1]
export const VMSA_PXN_TABLE: u64 = 1 << 59;
export const VMSA_XN_TABLE: u64 = 1 << 60;
export const VMSA_AP_TABLE_NO_EL0: u64 = 1 << 61;
export const VMSA_AP_TABLE_RDONLY: u64 = 1 << 62;
/** Address bits of a descriptor without FEAT_LPA (47:0, the granule's low bits are attributes). */
const ADDR_HI: u32 = 47;
/** TxSZ limits of stage 1 without FEAT_LVA / FEAT_TTST. */
export const VMSA_S1_TSZ_MIN: u32 = 16;
export const VMSA_S1_TSZ_MAX: u32 = 39;
/** Every leaf size of every granule, smallest first (4K, 16K, 64K, 2M, 32M, 512M, 1G): page caches. */
export const VMSA_PAGE_SIZES_LG2: StaticArray<u32> = [12, 14, 16, 21, 25, 29, 30];

/** Granule geometry: index bits per level (9, 11, 13 for 4, 16, 64 KiB). */
// @ts-ignore: decorator
@inline export function vmsaLevelBits(granuleLg2: u32): u32 {
  return granuleLg2 - 3;
}

// @ts-ignore: decorator
@inline function granuleOk(granuleLg2: u32): bool {
  return granuleLg2 == 12 || granuleLg2 == 14 || granuleLg2 == 16;
}

/** Normalised leaf levels per granule: 4 KiB levels 1 and 2 (normalised 2, 1); 16 and 64 KiB level 2. */
// @ts-ignore: decorator
@inline function leafLevelsOf(granuleLg2: u32): u32 {
  return granuleLg2 == 12 ? 1 | 2 | 4 : 1 | 2;
}

/**
 * Configures `ws` for a stage-1 walk (CD fields): granule 2^granuleLg2 (12, 14, 16), TxSZ `tsz` of
 * the range walked, output size `oaBits` (IPS, at most 48 used), the range (`upper`: TTB1), TBI,
 * HAD, AFFD, HA, HD, WXN, UWXN (see the header for what each does). Returns false for a combination
 * the architecture forbids (the CD is then C_BAD_CD). The caller sets root, stage, s2, cacheOwner.
 */
export function vmsaS1Configure(
  ws: WalkState, granuleLg2: u32, tsz: u32, oaBits: u32, upper: bool, tbi: bool,
  had: bool, affd: bool, ha: bool, hd: bool, wxn: bool, uwxn: bool,
): bool {
  if (!granuleOk(granuleLg2)) return false;
  if (tsz < VMSA_S1_TSZ_MIN || tsz > VMSA_S1_TSZ_MAX) return false;
  if (oaBits < 32) return false;
  const bits = vmsaLevelBits(granuleLg2);
  const inputBits: u32 = 64 - tsz;
  const levels = (inputBits - granuleLg2 + bits - 1) / bits;
  ws.granuleLg2 = granuleLg2;
  ws.levelBits = bits;
  ws.levels = levels;
  ws.topIndexBits = inputBits - (granuleLg2 + bits * (levels - 1));
  ws.inputBits = inputBits;
  ws.oaBits = oaBits > ADDR_HI + 1 ? ADDR_HI + 1 : oaBits;
  ws.leafLevels = leafLevelsOf(granuleLg2);
  ws.upper = upper;
  ws.tbi = tbi;
  ws.hierarchyOff = had;
  ws.accessFaultOff = affd;
  ws.setAD = ha;
  ws.dirtyByDbm = ha && hd;
  ws.wxn = wxn;
  // uwxn: AArch64 tables always treat unprivileged-writable as privileged-execute-never.
  return true;
}

/**
 * Configures `ws` for a stage-2 walk: granule 2^granuleLg2 (12, 14, 16), input size 64 - S2T0SZ,
 * start level from S2SL0, output size `oaBits` (S2PS); `paBits` is the implemented PA size (OAS),
 * which decides whether the highest start levels are allowed. Up to 16 start-level tables may be
 * concatenated. Returns false for a combination the architecture does not allow (the STE is then
 * ill-formed).
 */
export function vmsaS2Configure(ws: WalkState, granuleLg2: u32, t0sz: u32, sl0: u32, oaBits: u32, paBits: u32 = 48): bool {
  if (!granuleOk(granuleLg2)) return false;
  if (sl0 > 2 || t0sz < 16 || t0sz > 48) return false;
  // AArch64.S2InvalidSL: S2SL0 = 2 needs a large enough implemented PA size.
  if (sl0 == 2 && paBits < (granuleLg2 == 14 ? <u32>42 : <u32>44)) return false;
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
  ws.oaBits = oaBits > ADDR_HI + 1 ? ADDR_HI + 1 : oaBits;
  ws.leafLevels = leafLevelsOf(granuleLg2);
  return true;
}

// ---- what both stages share --------------------------------------------------------------------------

// @ts-ignore: decorator
@inline function vmsaShift(ws: WalkState, level: u32): u32 {
  return ws.granuleLg2 + ws.levelBits * level;
}
/** The start level's index has topIndexBits bits (more: concatenated tables), the others levelBits. */
// @ts-ignore: decorator
@inline function vmsaIndex(ws: WalkState, va: u64, level: u32): u64 {
  const bits = level == ws.levels - 1 ? ws.topIndexBits : ws.levelBits;
  return (va >>> vmsaShift(ws, level)) & ((<u64>1 << bits) - 1);
}
/** Valid, and not a reserved encoding (0b01 at level 3, or a block where the granule has none). */
// @ts-ignore: decorator
@inline function vmsaPresent(ws: WalkState, e: u64, level: u32): bool {
  if ((e & VMSA_VALID) == 0) return false;
  if ((e & VMSA_TABLE) != 0) return true;
  return level != 0 && ((ws.leafLevels >>> level) & 1) != 0;
}
// @ts-ignore: decorator
@inline function vmsaIsLeaf(e: u64, level: u32): bool {
  return level == 0 || (e & VMSA_TABLE) == 0;
}
/** Address size: the output or next-table address reaches at or above 2^oaBits. */
// @ts-ignore: decorator
@inline function vmsaCheck(ws: WalkState, e: u64, level: u32, leaf: bool): u32 {
  const addr = e & mask64(ADDR_HI, leaf ? vmsaShift(ws, level) : ws.granuleLg2);
  return (addr >>> ws.oaBits) != 0 ? W_ADDR_SIZE : W_OK;
}
/** A leaf without AF faults unless AFFD, or the hardware sets AF (HA: ws.setAD). */
// @ts-ignore: decorator
@inline function vmsaAccessFault(ws: WalkState, e: u64, leaf: bool): bool {
  return leaf && (e & VMSA_AF) == 0 && !ws.accessFaultOff && !ws.setAD;
}
// @ts-ignore: decorator
@inline function vmsaAccessed(ws: WalkState, e: u64, leaf: bool): u64 {
  return leaf && ws.setAD ? e | VMSA_AF : e;
}
/** The next-level table a table descriptor points at. */
// @ts-ignore: decorator
@inline export function vmsaNext(ws: WalkState, e: u64): u64 {
  return e & mask64(ADDR_HI, ws.granuleLg2);
}
// @ts-ignore: decorator
@inline function vmsaOutput(ws: WalkState, e: u64, level: u32, va: u64): u64 {
  const lg2 = vmsaShift(ws, level);
  return (e & mask64(ADDR_HI, lg2)) | (va & mask64(lg2 - 1, 0));
}

/** The stage-1 format as the walker sees it (arch/pagetable/walker.ts walkFormat). */
@final
export class VmsaS1Format {
  // @ts-ignore: decorator
  @inline shift(ws: WalkState, level: u32): u32 {
    return vmsaShift(ws, level);
  }
  // @ts-ignore: decorator
  @inline index(ws: WalkState, va: u64, level: u32): u64 {
    return vmsaIndex(ws, va, level);
  }
  /** Bits 63:inputBits (55:inputBits with TBI) all zeros (TTB0) or all ones (TTB1). */
  // @ts-ignore: decorator
  @inline inputOk(ws: WalkState, va: u64): bool {
    const hi: u32 = ws.tbi ? 55 : 63;
    const m = mask64(hi, ws.inputBits);
    return (va & m) == (ws.upper ? m : 0);
  }
  // @ts-ignore: decorator
  @inline present(ws: WalkState, e: u64, level: u32): bool {
    return vmsaPresent(ws, e, level);
  }
  // @ts-ignore: decorator
  @inline isLeaf(ws: WalkState, e: u64, level: u32): bool {
    return vmsaIsLeaf(e, level);
  }
  // @ts-ignore: decorator
  @inline check(ws: WalkState, e: u64, level: u32, leaf: bool): u32 {
    return vmsaCheck(ws, e, level, leaf);
  }
  /**
   * Rights this descriptor leaves (ANDed over the walk). A table: APTable[1] removes W, APTable[0]
   * U, UXNTable X, PXNTable PX (none with HAD). A leaf: R; W unless AP[2] (writable-clean with HD
   * and DBM); U with AP[1]; X unless UXN; PX unless PXN. The rules that combine rights (EL0-writable
   * implies PXN, WXN) need the accumulated rights and are applied in leafAttributes.
   */
  // @ts-ignore: decorator
  @inline perms(ws: WalkState, e: u64, level: u32, leaf: bool): u32 {
    if (!leaf) {
      if (ws.hierarchyOff) return PERM_R | PERM_W | PERM_U | PERM_X | PERM_PX;
      return PERM_R
        | ((e & VMSA_AP_TABLE_RDONLY) == 0 ? PERM_W : 0)
        | ((e & VMSA_AP_TABLE_NO_EL0) == 0 ? PERM_U : 0)
        | ((e & VMSA_XN_TABLE) == 0 ? PERM_X : 0)
        | ((e & VMSA_PXN_TABLE) == 0 ? PERM_PX : 0);
    }
    const w = (e & VMSA_AP_RDONLY) == 0 || (ws.dirtyByDbm && (e & VMSA_DBM) != 0);
    return PERM_R
      | (w ? PERM_W : 0)
      | ((e & VMSA_AP_UNPRIV) != 0 ? PERM_U : 0)
      | ((e & VMSA_XN) == 0 ? PERM_X : 0)
      | ((e & VMSA_PXN) == 0 ? PERM_PX : 0);
  }
  // @ts-ignore: decorator
  @inline accessFault(ws: WalkState, e: u64, level: u32, leaf: bool): bool {
    return vmsaAccessFault(ws, e, leaf);
  }
  // @ts-ignore: decorator
  @inline accessed(ws: WalkState, e: u64, level: u32, leaf: bool): u64 {
    return vmsaAccessed(ws, e, leaf);
  }
  /** Dirty state: with HD and DBM = 1, a granted write makes the page writable-dirty (AP[2] = 0). */
  // @ts-ignore: decorator
  @inline dirty(ws: WalkState, e: u64): u64 {
    return ws.dirtyByDbm && (e & VMSA_DBM) != 0 ? e & ~VMSA_AP_RDONLY : e;
  }
  // @ts-ignore: decorator
  @inline next(ws: WalkState, e: u64): u64 {
    return vmsaNext(ws, e);
  }
  // @ts-ignore: decorator
  @inline output(ws: WalkState, e: u64, level: u32, va: u64): u64 {
    return vmsaOutput(ws, e, level, va);
  }
  /**
   * The leaf's attributes, and the execute rights that depend on the accumulated data rights
   * (Arm ARM "AArch64.S1DirectBasePermissions"): writable at EL0 removes privileged execute; with
   * WXN, writable at a privilege removes execute at that privilege ("writable" = AP[2] == 0 and
   * no APTable[1] above, see the header).
   */
  // @ts-ignore: decorator
  @inline leafAttributes(ws: WalkState, e: u64, level: u32): void {
    const acc = unchecked(ws.entryPerms[level]);
    const pw = (acc & PERM_W) != 0 && (e & VMSA_AP_RDONLY) == 0;
    const uw = pw && (acc & PERM_U) != 0;
    ws.permPX = (acc & PERM_PX) != 0 && !uw && !(ws.wxn && pw);
    ws.permX = ws.permX && !(ws.wxn && uw);
    ws.global = (e & VMSA_NG) == 0;
    ws.snp = false;
    ws.contiguous = (e & VMSA_CONT) != 0;
    ws.attrIndx = <u32>(e >>> 2) & 7;
    ws.sh = <u32>(e >>> 8) & 3;
    ws.memAttr = 0;
  }
}

/** The stage-2 format as the walker sees it (arch/pagetable/walker.ts walkFormat). */
@final
export class VmsaS2Format {
  // @ts-ignore: decorator
  @inline shift(ws: WalkState, level: u32): u32 {
    return vmsaShift(ws, level);
  }
  // @ts-ignore: decorator
  @inline index(ws: WalkState, va: u64, level: u32): u64 {
    return vmsaIndex(ws, va, level);
  }
  // @ts-ignore: decorator
  @inline inputOk(ws: WalkState, va: u64): bool {
    return (va >>> ws.inputBits) == 0;
  }
  // @ts-ignore: decorator
  @inline present(ws: WalkState, e: u64, level: u32): bool {
    return vmsaPresent(ws, e, level);
  }
  // @ts-ignore: decorator
  @inline isLeaf(ws: WalkState, e: u64, level: u32): bool {
    return vmsaIsLeaf(e, level);
  }
  // @ts-ignore: decorator
  @inline check(ws: WalkState, e: u64, level: u32, leaf: bool): u32 {
    return vmsaCheck(ws, e, level, leaf);
  }
  /** S2AP read and write (write also when DBM makes a clean page writable under S2HD), XN. */
  // @ts-ignore: decorator
  @inline perms(ws: WalkState, e: u64, level: u32, leaf: bool): u32 {
    if (!leaf) return PERM_R | PERM_W | PERM_U | PERM_X;
    const w = (e & VMSA_S2AP_W) != 0 || (ws.dirtyByDbm && (e & VMSA_DBM) != 0);
    return PERM_U | ((e & VMSA_S2AP_R) != 0 ? PERM_R : 0) | (w ? PERM_W : 0) | ((e & VMSA_XN) == 0 ? PERM_X : 0);
  }
  // @ts-ignore: decorator
  @inline accessFault(ws: WalkState, e: u64, level: u32, leaf: bool): bool {
    return vmsaAccessFault(ws, e, leaf);
  }
  // @ts-ignore: decorator
  @inline accessed(ws: WalkState, e: u64, level: u32, leaf: bool): u64 {
    return vmsaAccessed(ws, e, leaf);
  }
  /** Dirty state: with S2HD and DBM=1, a write makes the page writable-dirty (S2AP[1] = 1). */
  // @ts-ignore: decorator
  @inline dirty(ws: WalkState, e: u64): u64 {
    return ws.dirtyByDbm && (e & VMSA_DBM) != 0 ? e | VMSA_S2AP_W : e;
  }
  // @ts-ignore: decorator
  @inline next(ws: WalkState, e: u64): u64 {
    return vmsaNext(ws, e);
  }
  // @ts-ignore: decorator
  @inline output(ws: WalkState, e: u64, level: u32, va: u64): u64 {
    return vmsaOutput(ws, e, level, va);
  }
  // @ts-ignore: decorator
  @inline leafAttributes(ws: WalkState, e: u64, level: u32): void {
    ws.global = false;
    ws.snp = false;
    ws.permPX = false;
    ws.contiguous = (e & VMSA_CONT) != 0;
    ws.attrIndx = 0;
    ws.memAttr = <u32>(e >>> 2) & 0xf;
    ws.sh = <u32>(e >>> 8) & 3;
  }
}
