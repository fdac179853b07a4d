// The one page walker. Formats (fmt/*.ts) only answer questions about an entry: present? leaf?
// reserved bits? output address? The loop, permission accumulation, accessed-flag updates, read
// counting and nested second-stage translation of table pointers live here once.
//
// Accessed flags follow x86 practice: an entry's A flag (FS bit 5, SS bit 8 with SSADE) is set when
// the walk uses it, before the request's permissions are checked; the leaf's D flag is set by
// walkSetDirty() only once a write has been granted. A flag update that is needed while the walk is
// not snooped (PWSNP=0) is not performed and ends the walk (SFS.9 / SSS.5).
import { DEBUG } from "../../common/debug";
import { mask64 } from "../../common/bits";
import { gmPage } from "../../common/guest-memory";
import { FMT_VTD_FS, STATS_BASE, READS_BY_LEVEL, C_AD_WRITES } from "../../abi";
import { walkThroughCaches } from "../../uarch/vtd-caches";
import { emit, EV_READ, EV_WRITE } from "../../timing/events";
import { WalkState, W_OK, W_ACCESS, W_NOT_PRESENT, W_RESERVED, W_INPUT, W_S2, W_S2_READ, MAX_LEVELS, PERM_R, PERM_W, PERM_U, PERM_X } from "./walk-state";
import { ssPresent, ssIsLeaf, ssReserved, ssOutput, SS_R, SS_W, SS_SNP, SS_A, SS_D } from "./fmt/vtd-ss";
import { fsPresent, fsIsLeaf, fsReserved, fsOutput, FS_RW, FS_US, FS_XD, FS_G, FS_A, FS_EA, FS_D } from "./fmt/vtd-fs";

export const W_AD_NOSNOOP: u32 = 7; // an A/D update was needed but the walk is not snooped
export const W_S2_WRITE: u32 = 8; // nested: stage 2 does not grant write for an A/D update

// @ts-ignore: decorator
@inline function countRead(stage: u32, level: u32): void {
  const at = STATS_BASE + ((READS_BY_LEVEL + (stage << 3) + level + 1) << 3);
  store<u64>(at, load<u64>(at) + 1);
}

// @ts-ignore: decorator
@inline function countAdWrite(): void {
  const at = STATS_BASE + (C_AD_WRITES << 3);
  store<u64>(at, load<u64>(at) + 1);
}

/** Is `va` inside the input width: canonical for the first stage, below 2^inputBits otherwise? */
// @ts-ignore: decorator
@inline function inputOk(ws: WalkState, va: u64): bool {
  if (ws.fmt == FMT_VTD_FS) {
    const shift = 64 - ws.inputBits; // bits 63:inputBits-1 must all equal bit inputBits-1
    return <u64>((<i64>(va << shift)) >> shift) == va;
  }
  return (va >>> ws.inputBits) == 0;
}

/** Stage-2 bookkeeping for the page that holds a first-stage entry; false if A/D is impossible. */
function writeEntry(ws: WalkState, level: u32, value: u64): u32 {
  if (ws.dryRun) return W_OK;
  if (!ws.walkSnooped) return W_AD_NOSNOOP;
  const s2 = ws.s2;
  if (s2 !== null) {
    if (!unchecked(ws.entryS2W[level])) return W_S2_WRITE;
    // The write into the first-stage table page dirties the SS leaf that maps it (SSADE).
    if (s2.setAD) {
      const leafPa = unchecked(ws.entryS2Leaf[level]);
      const page = gmPage(leafPa);
      if (page != 0) {
        const p = page + <usize>(leafPa & 0xfff);
        const e = load<u64>(p);
        if ((e & SS_D) == 0) {
          store<u64>(p, e | SS_D | SS_A);
          countAdWrite();
          emit(EV_WRITE, 0, 0);
        }
      }
    }
  }
  const pa = unchecked(ws.entryPa[level]);
  const page = gmPage(pa);
  if (DEBUG) assert(page != 0);
  store<u64>(page + <usize>(pa & 0xfff), value);
  unchecked((ws.entry[level] = value));
  countAdWrite();
  emit(EV_WRITE, 0, 0);
  return W_OK;
}

/**
 * Walks `ws.va` from `ws.root`. Returns a W_* outcome (also left in ws.fault) and fills the result
 * fields of `ws`. Never traps: every memory read goes through gmPage.
 */
export function walk(ws: WalkState): u32 {
  const va = ws.va;
  const fs = ws.fmt == FMT_VTD_FS;
  ws.reads = 0;
  ws.faultLevel = 0;
  if (!inputOk(ws, va)) {
    ws.faultLevel = ws.levels - 1;
    return (ws.fault = W_INPUT);
  }
  let permR = true, permW = true, permU = true, permX = true;
  let table = ws.root;
  if (DEBUG) assert(ws.levels >= 2 && ws.levels <= MAX_LEVELS);
  let level = ws.levels - 1;
  // A resumed walk's first table is already host-physical (cached with its stage-2 rights).
  let resumed = false;
  if (ws.resumeLevel >= 0) {
    if (DEBUG) assert(<u32>ws.resumeLevel < level);
    level = <u32>ws.resumeLevel;
    table = ws.resumeTable;
    const p = ws.resumePerms;
    permR = (p & PERM_R) != 0;
    permW = (p & PERM_W) != 0;
    permU = (p & PERM_U) != 0;
    permX = (p & PERM_X) != 0;
    resumed = true;
  }
  ws.firstLevel = level;
  while (true) {
    let entryPa = table + (((va >>> (12 + 9 * level)) & 511) << 3);
    const s2 = ws.s2;
    if (resumed) {
      resumed = false;
      unchecked((ws.entryS2W[level] = ws.resumeS2W));
      unchecked((ws.entryS2Leaf[level] = ws.resumeS2Leaf));
    } else if (s2 !== null) {
      // Nested: the table pointer is a guest-physical address; translate it through stage 2
      // (which may itself resume from the second-stage paging-structure caches).
      s2.va = entryPa;
      s2.dryRun = ws.dryRun;
      const f = ws.dryRun ? walk(s2) : walkThroughCaches(s2, s2.cacheDid, s2.cacheTag);
      ws.reads += s2.reads;
      ws.faultLevel = level;
      if (f != W_OK) return (ws.fault = W_S2);
      if (!s2.permR) return (ws.fault = W_S2_READ);
      unchecked((ws.entryS2W[level] = s2.permW));
      unchecked((ws.entryS2Leaf[level] = unchecked(s2.entryPa[s2.leafLevel])));
      entryPa = s2.oa;
    }
    const page = gmPage(entryPa);
    ws.faultLevel = level;
    if (page == 0) return (ws.fault = W_ACCESS);
    const e = load<u64>(page + <usize>(entryPa & 0xfff));
    ws.reads++;
    if (!ws.dryRun) {
      countRead(ws.stage, level);
      emit(EV_READ, ws.stage, level + 1);
    }
    unchecked((ws.entryPa[level] = entryPa));
    unchecked((ws.entry[level] = e));

    let leaf: bool;
    if (fs) {
      if (!fsPresent(e)) return (ws.fault = W_NOT_PRESENT);
      leaf = fsIsLeaf(e, level);
      if (fsReserved(e, level, leaf, ws.leafLevels, ws.rsvdAddr, ws.nxe) != 0) return (ws.fault = W_RESERVED);
      permW = permW && (e & FS_RW) != 0;
      permU = permU && (e & FS_US) != 0;
      permX = permX && (e & FS_XD) == 0;
      const a = ws.eafe ? FS_A | FS_EA : FS_A;
      if ((e & a) != a) {
        const f = writeEntry(ws, level, e | a);
        if (f != W_OK) return (ws.fault = f);
      }
    } else {
      if (!ssPresent(e)) return (ws.fault = W_NOT_PRESENT);
      leaf = ssIsLeaf(e, level);
      if (ssReserved(e, level, leaf, ws.leafLevels, ws.rsvdAddr, ws.snpReserved) != 0) return (ws.fault = W_RESERVED);
      permR = permR && (e & SS_R) != 0;
      permW = permW && (e & SS_W) != 0;
      if (ws.setAD && (e & SS_A) == 0) {
        const f = writeEntry(ws, level, e | SS_A);
        if (f != W_OK) return (ws.fault = f);
      }
    }
    unchecked((ws.entryPerms[level] = (permR ? PERM_R : 0) | (permW ? PERM_W : 0) | (permU ? PERM_U : 0) | (permX ? PERM_X : 0)));
    if (leaf) {
      ws.leafLevel = level;
      ws.pageLg2 = 12 + 9 * level;
      ws.oa = fs ? fsOutput(e, level, va) : ssOutput(e, level, va);
      ws.permR = permR;
      ws.permW = permW;
      ws.permU = permU;
      ws.permX = permX;
      ws.global = fs && (e & FS_G) != 0;
      ws.snp = !fs && (e & SS_SNP) != 0;
      return (ws.fault = W_OK);
    }
    table = e & mask64(51, 12);
    level--;
  }
}

/** Sets the leaf's dirty flag after a write was granted. Returns W_OK or the reason it could not. */
export function walkSetDirty(ws: WalkState): u32 {
  const level = ws.leafLevel;
  // Re-read the leaf: an A/D write made since the walk (e.g. into the page holding this very
  // table) may already have changed it.
  const pa = unchecked(ws.entryPa[level]);
  const page = gmPage(pa);
  if (DEBUG) assert(page != 0);
  const e = load<u64>(page + <usize>(pa & 0xfff));
  unchecked((ws.entry[level] = e));
  const d = ws.fmt == FMT_VTD_FS ? FS_D : SS_D;
  if ((e & d) != 0) return W_OK;
  return writeEntry(ws, level, e | d);
}

/** The leaf entry's current value (after any A/D update) and address. */
// @ts-ignore: decorator
@inline export function walkLeafPte(ws: WalkState): u64 {
  return unchecked(ws.entry[ws.leafLevel]);
}
// @ts-ignore: decorator
@inline export function walkLeafPa(ws: WalkState): u64 {
  return unchecked(ws.entryPa[ws.leafLevel]);
}

// Bits a translation does not depend on: accessed/dirty flags (first stage A 5, D 6, EA 10;
// second stage A 8, D 9). A leaf that differs from a cached copy only in these still translates
// the same.
const AD_BITS: u64 = (1 << 5) | (1 << 6) | (1 << 8) | (1 << 9) | (1 << 10);

/**
 * Does the leaf a cached translation came from still say the same (A/D aside), and is the
 * second-stage leaf that mapped its final address (nested, 0 if none) still present?
 */
export function leafUnchanged(leafPa: u64, leafPte: u64, s2LeafPa: u64): bool {
  const page = gmPage(leafPa);
  if (page == 0 || ((load<u64>(page + <usize>(leafPa & 0xfff)) ^ leafPte) & ~AD_BITS) != 0) return false;
  if (s2LeafPa == 0 || s2LeafPa == leafPa) return true;
  const p2 = gmPage(s2LeafPa);
  return p2 != 0 && (load<u64>(p2 + <usize>(s2LeafPa & 0xfff)) & (SS_R | SS_W)) != 0;
}
