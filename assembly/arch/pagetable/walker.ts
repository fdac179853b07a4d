// The one page walker. Formats (fmt/*.ts) answer the questions: how many index bits at which
// level, is an entry present, a leaf, malformed, what does it allow, which accessed bits does a walk
// set, where does it point. The loop, permission accumulation, accessed-flag updates, read counting
// and nested second-stage translation of table pointers live here once (walkFormat), instantiated
// for each format; walk() picks the instantiation by ws.fmt. Adding a format adds a class in fmt/
// and a case below, never a change to the loop.
//
// Accessed flags follow x86 practice: an entry's A flag (FS bit 5, SS bit 8 with SSADE) is set when
// the walk uses it, before the request's permissions are checked; the leaf's D flag is set by
// walkSetDirty() only once a write has been granted. A flag update that is needed while the walk is
// not snooped (PWSNP=0) is not performed and ends the walk (SFS.9 / SSS.5).
import { DEBUG } from "../../common/debug";
import { gmPage } from "../../common/guest-memory";
import { FMT_VTD_FS, FMT_VTD_SS, FMT_VMSA_S2, FMT_VMSA_S1, STATS_BASE, READS_BY_LEVEL, C_AD_WRITES } from "../../abi";
import { cachedWalk } from "../ports";
import { emit, EV_READ, EV_WRITE } from "../../common/events";
import { WalkState, W_OK, W_ACCESS, W_NOT_PRESENT, W_INPUT, W_S2, W_S2_READ, W_ACCESS_FLAG, W_AD_NOSNOOP, W_S2_WRITE, MAX_LEVELS, PERM_R, PERM_W, PERM_U, PERM_X, PERM_WALK_START } from "./walk-state";
import { VtdSsFormat, SS_R, SS_W } from "./fmt/vtd-ss";
import { VtdFsFormat } from "./fmt/vtd-fs";
import { VmsaS1Format, VmsaS2Format, vmsaNext, VMSA_AF, VMSA_AP_RDONLY } from "./fmt/vmsa";

export { W_AD_NOSNOOP, W_S2_WRITE } from "./walk-state";

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

const VTD_SS = new VtdSsFormat();
const VTD_FS = new VtdFsFormat();
const VMSA_S2 = new VmsaS2Format();
const VMSA_S1 = new VmsaS1Format();

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
        const d = dirtied(s2, e);
        if (d != e) {
          store<u64>(p, d);
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
  const fmt = ws.fmt;
  if (fmt == FMT_VTD_SS) return walkFormat<VtdSsFormat>(VTD_SS, ws);
  if (fmt == FMT_VTD_FS) return walkFormat<VtdFsFormat>(VTD_FS, ws);
  if (fmt == FMT_VMSA_S1) return walkFormat<VmsaS1Format>(VMSA_S1, ws);
  if (DEBUG) assert(fmt == FMT_VMSA_S2);
  return walkFormat<VmsaS2Format>(VMSA_S2, ws);
}

/**
 * The walk loop, for format F (compiled once per format: every question F answers is inlined).
 * The walk's configuration and running state live in locals; `ws` is written per level only with
 * what later steps read (each entry's address, value, rights, stage-2 bookkeeping) and at the end
 * with the outcome.
 */
// @ts-ignore: decorator
@inline function walkFormat<F>(f: F, ws: WalkState): u32 {
  const va = ws.va;
  let reads: u32 = 0;
  let level = ws.levels - 1;
  if (!f.inputOk(ws, va)) return walkEnd(ws, W_INPUT, level, reads);
  if (DEBUG) assert(ws.levels >= 1 && ws.levels <= MAX_LEVELS);
  let perms = PERM_WALK_START;
  let table = ws.root;
  const s2 = ws.s2;
  const dryRun = ws.dryRun;
  const stage = ws.stage;
  // A resumed walk's first table is already host-physical (cached with its stage-2 rights).
  let resumed = false;
  if (ws.resumeLevel >= 0) {
    if (DEBUG) assert(<u32>ws.resumeLevel < level);
    level = <u32>ws.resumeLevel;
    table = ws.resumeTable;
    perms = ws.resumePerms;
    resumed = true;
  }
  ws.firstLevel = level;
  const entryPa = ws.entryPa;
  const entry = ws.entry;
  const entryPerms = ws.entryPerms;
  while (true) {
    let at = table + (f.index(ws, va, level) << 3);
    if (resumed) {
      resumed = false;
      // the stage-2 bookkeeping of the resume table (read by writeEntry only under nesting)
      if (s2 !== null) {
        unchecked((ws.entryS2W[level] = ws.resumeS2W));
        unchecked((ws.entryS2Leaf[level] = ws.resumeS2Leaf));
      }
    } else if (s2 !== null) {
      // Nested: the table pointer is a guest-physical address; translate it through stage 2
      // (through the stage-2 walk caches, a port the engine installs; a dry run changes no cache)
      s2.va = at;
      s2.dryRun = dryRun;
      const viaCaches = cachedWalk;
      const r = dryRun || viaCaches === null ? walk(s2) : viaCaches(s2);
      reads += s2.reads;
      if (r != W_OK) return walkEnd(ws, W_S2, level, reads);
      if (!s2.permR) return walkEnd(ws, W_S2_READ, level, reads);
      unchecked((ws.entryS2W[level] = s2.permW));
      unchecked((ws.entryS2Leaf[level] = unchecked(s2.entryPa[s2.leafLevel])));
      at = s2.oa;
    }
    const page = gmPage(at);
    if (page == 0) return walkEnd(ws, W_ACCESS, level, reads);
    const e = load<u64>(page + <usize>(at & 0xfff));
    reads++;
    if (!dryRun) {
      countRead(stage, level);
      emit(EV_READ, stage, level + 1);
    }
    unchecked((entryPa[level] = at));
    unchecked((entry[level] = e));

    if (!f.present(ws, e, level)) return walkEnd(ws, W_NOT_PRESENT, level, reads);
    const leaf = f.isLeaf(ws, e, level);
    const bad = f.check(ws, e, level, leaf);
    if (bad != W_OK) return walkEnd(ws, bad, level, reads);
    perms &= f.perms(ws, e, level, leaf);
    if (f.accessFault(ws, e, level, leaf)) return walkEnd(ws, W_ACCESS_FLAG, level, reads);
    const a = f.accessed(ws, e, level, leaf);
    if (a != e) {
      const r = writeEntry(ws, level, a);
      if (r != W_OK) return walkEnd(ws, r, level, reads);
    }
    unchecked((entryPerms[level] = perms));
    if (leaf) {
      ws.leafLevel = level;
      ws.leafPage = page;
      ws.pageLg2 = f.shift(ws, level);
      ws.oa = f.output(ws, e, level, va);
      ws.permR = (perms & PERM_R) != 0;
      ws.permW = (perms & PERM_W) != 0;
      ws.permU = (perms & PERM_U) != 0;
      ws.permX = (perms & PERM_X) != 0;
      f.leafAttributes(ws, e, level);
      return walkEnd(ws, W_OK, level, reads);
    }
    table = f.next(ws, e);
    level--;
  }
}

/** Leaves the outcome of a walk in `ws` (the level it ended at, the entries it read) and returns it. */
// @ts-ignore: decorator
@inline function walkEnd(ws: WalkState, outcome: u32, level: u32, reads: u32): u32 {
  ws.faultLevel = level;
  ws.reads = reads;
  ws.fault = outcome;
  return outcome;
}

/** log2 of the bytes one entry at normalised `level` maps in the walk's format (walk-cache spans). */
export function walkLevelShift(ws: WalkState, level: u32): u32 {
  const fmt = ws.fmt;
  if (fmt == FMT_VTD_SS) return VTD_SS.shift(ws, level);
  if (fmt == FMT_VTD_FS) return VTD_FS.shift(ws, level);
  return fmt == FMT_VMSA_S1 ? VMSA_S1.shift(ws, level) : VMSA_S2.shift(ws, level);
}

/** The next-level table a table entry `e` of walk `ws` points at, as the format reads it (walk caches). */
export function walkNextTable(ws: WalkState, e: u64): u64 {
  const fmt = ws.fmt;
  if (fmt == FMT_VTD_SS) return VTD_SS.next(ws, e);
  if (fmt == FMT_VTD_FS) return VTD_FS.next(ws, e);
  return vmsaNext(ws, e);
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
  const fmt = ws.fmt;
  const d = fmt == FMT_VTD_FS ? VTD_FS.dirty(ws, e) : fmt == FMT_VTD_SS ? VTD_SS.dirty(ws, e) : fmt == FMT_VMSA_S1 ? VMSA_S1.dirty(ws, e) : VMSA_S2.dirty(ws, e);
  if (d == e) return W_OK;
  return writeEntry(ws, level, d);
}

/**
 * The leaf `e` of walk `ws` once a write has dirtied it (with its accessed flag), or `e` itself if
 * it is dirty already.
 */
function dirtied(ws: WalkState, e: u64): u64 {
  const fmt = ws.fmt;
  const level = ws.leafLevel;
  if (fmt == FMT_VTD_SS) {
    const d = VTD_SS.dirty(ws, e);
    return d == e ? e : VTD_SS.accessed(ws, d, level, true);
  }
  if (fmt == FMT_VTD_FS) {
    const d = VTD_FS.dirty(ws, e);
    return d == e ? e : VTD_FS.accessed(ws, d, level, true);
  }
  if (fmt == FMT_VMSA_S1) {
    const d = VMSA_S1.dirty(ws, e);
    return d == e ? e : VMSA_S1.accessed(ws, d, level, true);
  }
  const d = VMSA_S2.dirty(ws, e);
  return d == e ? e : VMSA_S2.accessed(ws, d, level, true);
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
 * The VMSAv8-64 bits hardware updates (fmt/vmsa.ts): AF (10) with HA, and bit 7 with HD (stage 1
 * AP[2] cleared, stage 2 S2AP[1] set, on a DBM page): pass as `updatedBits` for VMSA leaves.
 */
export const VMSA_UPDATED_BITS: u64 = VMSA_AF | VMSA_AP_RDONLY;

/**
 * Does the leaf a cached translation came from still say the same (bits hardware updates aside:
 * VT-d's A/D by default, VMSA_UPDATED_BITS for VMSA leaves), and is the
 * second-stage leaf that mapped its final address (nested, 0 if none) still present?
 */
export function leafUnchanged(leafPa: u64, leafPte: u64, s2LeafPa: u64, updatedBits: u64 = AD_BITS): bool {
  const page = gmPage(leafPa);
  if (page == 0 || ((load<u64>(page + <usize>(leafPa & 0xfff)) ^ leafPte) & ~updatedBits) != 0) return false;
  if (s2LeafPa == 0 || s2LeafPa == leafPa) return true;
  const p2 = gmPage(s2LeafPa);
  return p2 != 0 && (load<u64>(p2 + <usize>(s2LeafPa & 0xfff)) & (SS_R | SS_W)) != 0;
}
