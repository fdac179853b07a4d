// The translation of an address through the paging structures of a domain: second-stage only
// (legacy TT=00/01, scalable PGTT=010), first-stage only (PGTT=001) and nested (PGTT=011), spec
// 3.6-3.8. The IOTLB and the paging-structure caches are consulted through uarch/vtd-caches; what
// a hit returns is exactly what the walk returned when the entry was filled.
//
// The outcome is left in the tr* globals below, whichever way it was found, so the permission,
// A/D and snoop logic that follows is written once.
import { mask64 } from "../../common/bits";
import { gmPage, gmWriteGeneration } from "../../common/guest-memory";
import { WalkState, W_OK, W_NOT_PRESENT, PERM_R, PERM_W, PERM_U, PERM_X, PERM_ALL } from "../pagetable/walk-state";
import { walk, walkLeafPa, walkLeafPte, leafUnchanged } from "../pagetable/walker";
import {
  TAG_NO_PASID, IOTLB_PA, IOTLB_LEAF_PA, IOTLB_LEAF_PTE, IOTLB_S2_LEAF_PA, IOTLB_FLAGS, IOTLB_PAGE_LG2, IOTLB_GEN,
  ITF_SS_R, ITF_SS_W, ITF_GLOBAL, ITF_SNP, ITF_DIRTY, ITF_FS, ITF_NEGATIVE, ownerTag,
} from "./cached";
import { pageLookup, pageFill, cachedWalk } from "../ports";
import { CACHE_IOTLB } from "../../abi";
import { SS_D } from "../pagetable/fmt/vtd-ss";
import { FS_D } from "../pagetable/fmt/vtd-fs";
import { vtdLevelOfPage } from "../pagetable/fmt/vtd-ss";
import * as regs from "./regs";
import { addReads, setStale } from "./result";
import { emit, EV_WALK } from "../../common/events";

export { TAG_NO_PASID };

/** The translation found: output address, leaf entries, page size, and ITF_* flags with FS rights. */
export let trPa: u64 = 0;
export let trLeafPa: u64 = 0;
export let trLeafPte: u64 = 0;
export let trS2LeafPa: u64 = 0;
export let trPageLg2: u32 = 12;
export let trFlags: u32 = 0;
/** True when the IOTLB supplied the translation (no walk state behind it). */
export let trFromIotlb: bool = false;
/** Nested: the failing walk was the final second-stage walk of the GPA (not the first stage). */
export let trFinalS2: bool = false;


/**
 * Stale check of an IOTLB entry, cheap on the common path: only when the host has written guest
 * memory since the entry was filled is its leaf re-read (walker.ts leafUnchanged); a changed
 * leaf makes the translation stale, otherwise the entry is brought up to the current generation.
 * A cached "not present" (caching mode) is stale once that entry has changed at all.
 */
function checkStale(p: usize, ws: WalkState, va: u64): void {
  const gen = gmWriteGeneration();
  if (load<u32>(p, IOTLB_GEN) == gen) return;
  let fresh: bool;
  if ((trFlags & ITF_NEGATIVE) != 0) {
    // A cached "not present": still right if the entry that was not present is unchanged, or a
    // look at the tables as they are now (no counters, no A/D) still finds nothing there.
    const page = gmPage(trLeafPa);
    fresh = page != 0 && load<u64>(page + <usize>(trLeafPa & 0xfff)) == trLeafPte;
    if (!fresh) {
      ws.dryRun = true;
      ws.resumeLevel = -1;
      ws.va = va;
      fresh = walk(ws) == W_NOT_PRESENT;
      ws.dryRun = false;
      const s2 = ws.s2;
      if (s2 !== null) s2.dryRun = false;
      if (fresh) {
        // Still not present, now found at this entry: the cached outcome stands, its record follows.
        const level = ws.faultLevel;
        trLeafPa = unchecked(ws.entryPa[level]);
        trLeafPte = unchecked(ws.entry[level]);
        trFlags = (trFlags & ~(7 << NEG_LEVEL_SHIFT)) | ((level + 1) << NEG_LEVEL_SHIFT);
        store<u64>(p, trLeafPa, IOTLB_LEAF_PA);
        store<u64>(p, trLeafPte, IOTLB_LEAF_PTE);
        store<u32>(p, trFlags, IOTLB_FLAGS);
      }
    }
  } else fresh = leafUnchanged(trLeafPa, trLeafPte, trS2LeafPa);
  if (fresh) store<u32>(p, gen, IOTLB_GEN);
  else setStale(true);
}

/** A walk through the walk caches (the engine's port), or a plain walk before it is installed. */
// @ts-ignore: decorator
@inline function walkCached(ws: WalkState): u32 {
  const viaCaches = cachedWalk;
  return viaCaches === null ? walk(ws) : viaCaches(ws);
}

/** Caches a translation in the IOTLB for (did, tag); `va` selects the page. */
function iotlbFill(did: u32, tag: u32, va: u64, pageLg2: u32, pa: u64, leafPa: u64, leafPte: u64, s2LeafPa: u64, flags: u32): void {
  const p = pageFill(CACHE_IOTLB, ownerTag(did, tag), va, pageLg2);
  store<u64>(p, pa & ~((<u64>1 << pageLg2) - 1), IOTLB_PA);
  store<u64>(p, leafPa, IOTLB_LEAF_PA);
  store<u64>(p, leafPte, IOTLB_LEAF_PTE);
  store<u64>(p, s2LeafPa, IOTLB_S2_LEAF_PA);
  store<u32>(p, flags, IOTLB_FLAGS);
  store<u32>(p, pageLg2, IOTLB_PAGE_LG2);
  store<u32>(p, gmWriteGeneration(), IOTLB_GEN);
}

// @ts-ignore: decorator
@inline function fromIotlb(p: usize, va: u64, ws: WalkState): void {
  trPageLg2 = load<u32>(p, IOTLB_PAGE_LG2);
  trPa = load<u64>(p, IOTLB_PA) | (va & mask64(trPageLg2 - 1, 0));
  trLeafPa = load<u64>(p, IOTLB_LEAF_PA);
  trLeafPte = load<u64>(p, IOTLB_LEAF_PTE);
  trS2LeafPa = load<u64>(p, IOTLB_S2_LEAF_PA);
  trFlags = load<u32>(p, IOTLB_FLAGS);
  trFromIotlb = true;
  checkStale(p, ws, va);
}

/** After a D-flag update: the leaf's new value and the flags it earned. */
export function setLeafPte(pte: u64, addFlags: u32): void {
  trLeafPte = pte;
  trFlags |= addFlags;
}

/** Spec-style paging level (1 = 4 KiB table) of the leaf that mapped the translation. */
// @ts-ignore: decorator
@inline export function trLeafLevel(): u32 {
  return vtdLevelOfPage(trPageLg2);
}

/** Caches the translation now in tr* for (did, tag); `va` selects the page. */
export function trFill(did: u32, tag: u32, va: u64): void {
  iotlbFill(did, tag, va, trPageLg2, trPa, trLeafPa, trLeafPte, trS2LeafPa, trFlags);
}

/**
 * Caching mode (CAP.CM): remember that `va` had no translation, until software invalidates. The
 * entry keeps the not-present entry's address and value (for stale detection) and the level.
 */
function fillNegative(ws: WalkState, did: u32, tag: u32, va: u64, fsEntry: bool): void {
  // Caching mode covers second-stage (and legacy) structures only: first-stage translation follows
  // x86 rules, where a not-present entry is never cached (spec 6.1; Linux never invalidates after
  // a first-stage map).
  if (!regs.capCm || fsEntry) return;
  const level = ws.faultLevel;
  iotlbFill(did, tag, va, 12, 0, unchecked(ws.entryPa[level]), unchecked(ws.entry[level]), 0, ITF_NEGATIVE | (fsEntry ? ITF_FS : 0) | ((level + 1) << NEG_LEVEL_SHIFT));
}

/** Negative (caching-mode) IOTLB entries keep the spec level of the not-present entry here. */
const NEG_LEVEL_SHIFT: u32 = 24;

/** The spec level at which the cached or walked translation found its fault (negative entries). */
export function trNegativeLevel(): u32 {
  return (trFlags >>> NEG_LEVEL_SHIFT) & 7;
}

/**
 * Second-stage translation of `va` in domain `did` (ws configured by the caller). A cached entry
 * serves unless the request writes and the leaf's D flag still has to be set (SSADE).
 */
// @ts-ignore: decorator
@inline export function ssTranslate(ws: WalkState, did: u32, va: u64, write: bool, ssade: bool): u32 {
  trFinalS2 = false;
  setStale(false);
  const p = pageLookup(CACHE_IOTLB, ownerTag(did, TAG_NO_PASID), va);
  if (p != 0) {
    fromIotlb(p, va, ws);
    if ((trFlags & ITF_NEGATIVE) != 0) return W_NOT_PRESENT;
    if (!(write && ssade && (trFlags & ITF_DIRTY) == 0)) return W_OK;
  }
  trFromIotlb = false;
  emit(EV_WALK, 0, 0);
  ws.va = va;
  const f = walkCached(ws);
  addReads(ws.reads);
  if (f == W_NOT_PRESENT) fillNegative(ws, did, TAG_NO_PASID, va, false);
  if (f != W_OK) return f;
  trPa = ws.oa;
  trLeafPa = walkLeafPa(ws);
  trLeafPte = walkLeafPte(ws);
  trS2LeafPa = trLeafPa;
  trPageLg2 = ws.pageLg2;
  trFlags = PERM_ALL | (ws.permR ? ITF_SS_R : 0) | (ws.permW ? ITF_SS_W : 0) | (ws.snp ? ITF_SNP : 0);
  if (!ssade || (trLeafPte & SS_D) != 0) trFlags |= ITF_DIRTY;
  return W_OK;
}

/**
 * First-stage translation of `va` for (did, pasid). A cached entry (first-stage or nested: both
 * stages combined) serves unless the request writes and a D flag still has to be set. After a
 * walk under nesting trPa is the GPA: the caller checks first-stage rights, then nestedFinal().
 */
export function fsTranslate(fs: WalkState, nested: bool, did: u32, pasid: u32, va: u64, write: bool): u32 {
  trFinalS2 = false;
  setStale(false);
  const p = pageLookup(CACHE_IOTLB, ownerTag(did, pasid), va);
  if (p != 0) {
    fromIotlb(p, va, fs);
    if ((trFlags & ITF_NEGATIVE) != 0) return W_NOT_PRESENT;
    if (!(write && (trFlags & ITF_DIRTY) == 0)) return W_OK;
  }
  trFromIotlb = false;
  emit(EV_WALK, 0, 0);
  fs.va = va;
  const f = walkCached(fs);
  addReads(fs.reads);
  if (f == W_NOT_PRESENT) fillNegative(fs, did, pasid, va, true);
  if (f != W_OK) return f;
  trLeafPa = walkLeafPa(fs);
  trLeafPte = walkLeafPte(fs);
  trFlags = ITF_FS | (fs.permR ? PERM_R : 0) | (fs.permW ? PERM_W : 0) | (fs.permU ? PERM_U : 0) | (fs.permX ? PERM_X : 0);
  if (fs.global) trFlags |= ITF_GLOBAL;
  if (!nested) trFlags |= ITF_SS_R | ITF_SS_W;
  trPa = fs.oa;
  trPageLg2 = fs.pageLg2;
  trS2LeafPa = 0;
  if ((trLeafPte & FS_D) != 0) trFlags |= ITF_DIRTY;
  return W_OK;
}

/**
 * Nested: the final GPA (trPa after fsTranslate walked) through the second stage (spec 3.8);
 * combines both stages into tr*. Only called when the first stage was walked, not cached.
 */
export function nestedFinal(ss: WalkState, did: u32): u32 {
  ss.va = trPa;
  const f = walkCached(ss);
  addReads(ss.reads);
  if (f != W_OK) {
    trFinalS2 = true;
    return f;
  }
  trPa = ss.oa;
  trPageLg2 = min(trPageLg2, ss.pageLg2);
  trS2LeafPa = walkLeafPa(ss);
  trFlags |= (ss.permR ? ITF_SS_R : 0) | (ss.permW ? ITF_SS_W : 0) | (ss.snp ? ITF_SNP : 0);
  if (ss.setAD && (walkLeafPte(ss) & SS_D) == 0) trFlags &= ~ITF_DIRTY;
  return W_OK;
}
