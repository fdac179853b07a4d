// NOT ARCHITECTURAL: the caches an implementation of VT-d chooses to have (spec 6.2 describes what
// hardware may cache and how software invalidates it; geometry and policy are ours). The
// architecture code (arch/vtd) reaches them only through the lookup/fill calls below, in the style
// of the RISC-V IOMMU reference model's iommu_atc.h (DESIGN.md §6 item 9).
//
// Every cache is one SetAssoc (uarch/cache/set-assoc.ts) configured from the control block.
// Keys are two u64 words; payloads are small fixed records:
//
//   context cache  key (sid, 0)                            payload c0, c1, flags
//   PASID cache    key (sid | pasid << 32, 0)              payload p0, p1, p2, flags (DID = p1[15:0])
//   IOTLB          key (vpn | size << 60, did | tag << 16)  payload pa, leafPa, leafPte, s2LeafPa, flags, pageLg2
//   PWC (stage, L) key (va >> (12 + 9L), did | tag << 16)  payload next-table HPA, s2 leaf, perms | s2W << 8
//
// `tag` is the PASID for first-stage/nested entries and TAG_NO_PASID for second-stage-only and
// legacy entries (second-stage tables belong to the domain, not to a PASID).
import { SetAssoc } from "./cache/set-assoc";
import { setFor, lookupPage, fillPage, pageOverlaps, sizeCodeOf, lastPageSet, lastFillSlot } from "./cache/page-key";
import { emit, EV_LOOKUP } from "../timing/events";
import { devTlbConfigure, devTlbSyncStats, devTlbMarkStale } from "./device-tlb";
import {
  CTRL_BASE, CTRL_CACHES, CTRL_SEED, CACHE_CFG_SIZE, CCFG_ENTRIES, CCFG_ASSOC, CCFG_POLICY, CCFG_ENABLED,
  CACHE_STATS_BASE, CACHE_STATS_SIZE, CACHE_IOTLB, CACHE_CONTEXT_CACHE, CACHE_PASID_CACHE, CACHE_PWC_FS_PDE, CACHE_COUNT, CACHE_DEVICE_TLB,
} from "../abi";
import { WalkState, W_OK } from "../arch/pagetable/walk-state";
import { gmWriteGeneration } from "../common/guest-memory";
import { walk } from "../arch/pagetable/walker";

export const TAG_NO_PASID: u32 = 1 << 20;

/** The caches by id (abi CacheId); null when disabled or sized 0. */
const caches = new StaticArray<SetAssoc | null>(<i32>CACHE_COUNT);

function cfg(id: u32, off: u32): u32 {
  return load<u32>(CTRL_BASE + CTRL_CACHES + id * CACHE_CFG_SIZE + off);
}

/** (Re)builds every cache from the configuration block. Called by the host after configuring. */
export function cachesConfigure(): void {
  const seed = load<u32>(CTRL_BASE + CTRL_SEED);
  for (let id: u32 = 0; id < CACHE_COUNT; id++) {
    if (id == CACHE_DEVICE_TLB) continue; // one per device: uarch/device-tlb.ts
    const entries = cfg(id, CCFG_ENTRIES);
    const payload = id == CACHE_IOTLB ? IOTLB_PAYLOAD : id == CACHE_CONTEXT_CACHE ? CTX_PAYLOAD : id == CACHE_PASID_CACHE ? PASID_PAYLOAD : PWC_PAYLOAD;
    unchecked((caches[id] = cfg(id, CCFG_ENABLED) != 0 && entries != 0 ? new SetAssoc(entries, cfg(id, CCFG_ASSOC), cfg(id, CCFG_POLICY), payload, seed + id) : null));
  }
  devTlbConfigure();
  iotlbSizesSeen = 1;
}

/** Copies every cache's counters into the CSTATS block for the host. */
export function cachesSyncStats(): void {
  for (let id: u32 = 0; id < CACHE_COUNT; id++) {
    const c = unchecked(caches[id]);
    const at = CACHE_STATS_BASE + id * CACHE_STATS_SIZE;
    if (c === null) continue;
    store<u64>(at, c.lookups, 0);
    store<u64>(at, c.hits, 8);
    store<u64>(at, c.misses, 16);
    store<u64>(at, c.fills, 24);
    store<u64>(at, c.evictions, 32);
    store<u64>(at, c.invalidations, 40);
  }
  devTlbSyncStats();
}

// @ts-ignore: decorator
@inline export function cacheById(id: u32): SetAssoc | null {
  return unchecked(caches[id]);
}

// @ts-ignore: decorator
@inline function setIndex(c: SetAssoc, k0: u64, k1: u64): u32 {
  return setFor(c, k0, k1);
}

// ---- which cache entries served the current request (for engine/replay-memo.ts) ----------------

/** Slot and set of the context-cache, PASID-cache and IOTLB hits of the current request, or -1. */
export let hitCtxSlot: i32 = -1;
export let hitCtxSet: u32 = 0;
export let hitPasidSlot: i32 = -1;
export let hitPasidSet: u32 = 0;
export let hitIotlbSlot: i32 = -1;
export let hitIotlbSet: u32 = 0;
/** The IOTLB slot the current request filled, or -1 (the timing model tracks when it is ready). */
export let fillIotlbSlot: i32 = -1;

export function clearHitTrace(): void {
  hitCtxSlot = -1;
  hitPasidSlot = -1;
  hitIotlbSlot = -1;
  fillIotlbSlot = -1;
}

/** The memo replayed a hit on IOTLB slot `slot` (for the timing model). */
export function noteIotlbHit(slot: i32): void {
  hitIotlbSlot = slot;
}

// ---- context cache -------------------------------------------------------------------------------

const CTX_PAYLOAD: u32 = 32;
/** Context and PASID payloads end with the entry's own check result and the register epoch it was computed in. */
export const CTX_CHECK: u32 = 24;
export const PASID_CHECK: u32 = 32;
/** Context-cache flag: the entry's upper 128 bits (scalable mode) were not all zero. */
export const CTXF_RSVD_HIGH: u64 = 1;

/** Slot of the cached context entry for `sid`, or -1. */
export function ctxLookup(sid: u32): i32 {
  const c = unchecked(caches[CACHE_CONTEXT_CACHE]);
  if (c === null) return -1;
  const set = setIndex(c, sid, 0);
  const slot = c.lookup(set, sid, 0);
  hitCtxSlot = slot;
  hitCtxSet = set;
  emit(EV_LOOKUP, CACHE_CONTEXT_CACHE, slot >= 0 ? 1 : 0);
  return slot;
}

export function ctxFill(sid: u32, c0: u64, c1: u64, flags: u64, check: u64): void {
  const c = unchecked(caches[CACHE_CONTEXT_CACHE]);
  if (c === null) return;
  const p = c.payload(c.fill(setIndex(c, sid, 0), sid, 0));
  store<u64>(p, c0, 0);
  store<u64>(p, c1, 8);
  store<u64>(p, flags, 16);
  store<u64>(p, check, CTX_CHECK);
}

// @ts-ignore: decorator
@inline export function ctxPayload(slot: i32): usize {
  return changetype<SetAssoc>(unchecked(caches[CACHE_CONTEXT_CACHE])).payload(<u32>slot);
}

// ---- PASID cache ---------------------------------------------------------------------------------

const PASID_PAYLOAD: u32 = 40;
/** PASID-cache flags: the directory entry's FPD; the entry's qwords 3..7 were not all zero. */
export const PCF_DIR_FPD: u64 = 1;
export const PCF_RSVD_HIGH: u64 = 2;

export function pasidLookup(sid: u32, pasid: u32): i32 {
  const c = unchecked(caches[CACHE_PASID_CACHE]);
  if (c === null) return -1;
  const k0 = <u64>sid | (<u64>pasid << 32);
  const set = setIndex(c, k0, 0);
  const slot = c.lookup(set, k0, 0);
  hitPasidSlot = slot;
  hitPasidSet = set;
  emit(EV_LOOKUP, CACHE_PASID_CACHE, slot >= 0 ? 1 : 0);
  return slot;
}

export function pasidFill(sid: u32, pasid: u32, p0: u64, p1: u64, p2: u64, flags: u64, check: u64): void {
  const c = unchecked(caches[CACHE_PASID_CACHE]);
  if (c === null) return;
  const k0 = <u64>sid | (<u64>pasid << 32);
  const p = c.payload(c.fill(setIndex(c, k0, 0), k0, 0));
  store<u64>(p, p0, 0);
  store<u64>(p, p1, 8);
  store<u64>(p, p2, 16);
  store<u64>(p, flags, 24);
  store<u64>(p, check, PASID_CHECK);
}

// @ts-ignore: decorator
@inline export function pasidPayload(slot: i32): usize {
  return changetype<SetAssoc>(unchecked(caches[CACHE_PASID_CACHE])).payload(<u32>slot);
}

// ---- IOTLB ---------------------------------------------------------------------------------------

/**
 * Page sizes (bit 0 4 KiB, 1 2 MiB, 2 1 GiB) the IOTLB has held since it was last emptied: lookups
 * skip probing sizes it never held. A simulation shortcut with no effect on what a lookup finds.
 */
let iotlbSizesSeen: u32 = 1;

const IOTLB_PAYLOAD: u32 = 48;
export const IOTLB_PA: u32 = 0;
export const IOTLB_LEAF_PA: u32 = 8;
export const IOTLB_LEAF_PTE: u32 = 16;
export const IOTLB_S2_LEAF_PA: u32 = 24;
export const IOTLB_FLAGS: u32 = 32;
export const IOTLB_PAGE_LG2: u32 = 36;
export const IOTLB_GEN: u32 = 40; // guest-memory write generation when filled (stale detection)
/** IOTLB flags: first-stage rights (PERM_* in bits 3:0), second-stage R/W, and what else a hit needs. */
export const ITF_SS_R: u32 = 1 << 4;
export const ITF_SS_W: u32 = 1 << 5;
export const ITF_GLOBAL: u32 = 1 << 6; // first-stage G: survives non-global PASID-based invalidation
export const ITF_SNP: u32 = 1 << 7; // the SS leaf's SNP
export const ITF_DIRTY: u32 = 1 << 8; // the leaf's D flag(s) are already set: a write needs no walk
export const ITF_FS: u32 = 1 << 9; // first-stage or nested entry (PASID-based invalidation drops it)
export const ITF_NEGATIVE: u32 = 1 << 10; // caching mode: a cached "not present" outcome

/** Slot of an IOTLB entry translating `va` for (did, tag), or -1. One lookup is counted. */
export function iotlbLookup(did: u32, tag: u32, va: u64): i32 {
  const c = unchecked(caches[CACHE_IOTLB]);
  if (c === null) return -1;
  // Large sizes are probed only once an entry of that size has been filled.
  const slot = lookupPage(c, <u64>did | (<u64>tag << 16), va, iotlbSizesSeen);
  if (slot >= 0) {
    hitIotlbSlot = slot;
    hitIotlbSet = lastPageSet;
  }
  emit(EV_LOOKUP, CACHE_IOTLB, slot >= 0 ? 1 : 0);
  return slot;
}

// @ts-ignore: decorator
@inline export function iotlbPayload(slot: i32): usize {
  return changetype<SetAssoc>(unchecked(caches[CACHE_IOTLB])).payload(<u32>slot);
}

export function iotlbFill(did: u32, tag: u32, va: u64, pageLg2: u32, pa: u64, leafPa: u64, leafPte: u64, s2LeafPa: u64, flags: u32): void {
  const c = unchecked(caches[CACHE_IOTLB]);
  if (c === null) return;
  iotlbSizesSeen |= <u32>1 << <u32>sizeCodeOf(pageLg2);
  const p = fillPage(c, <u64>did | (<u64>tag << 16), va, pageLg2);
  fillIotlbSlot = <i32>lastFillSlot;
  store<u64>(p, pa & ~((<u64>1 << pageLg2) - 1), IOTLB_PA);
  store<u64>(p, leafPa, IOTLB_LEAF_PA);
  store<u64>(p, leafPte, IOTLB_LEAF_PTE);
  store<u64>(p, s2LeafPa, IOTLB_S2_LEAF_PA);
  store<u32>(p, flags, IOTLB_FLAGS);
  store<u32>(p, pageLg2, IOTLB_PAGE_LG2);
  store<u32>(p, gmWriteGeneration(), IOTLB_GEN);
}

// ---- paging-structure caches ---------------------------------------------------------------------

const PWC_PAYLOAD: u32 = 24;

// @ts-ignore: decorator
@inline function pwcCache(stage: u32, level: u32): SetAssoc | null {
  return unchecked(caches[CACHE_PWC_FS_PDE + stage * 4 + level - 1]);
}

/**
 * Finds the deepest cached non-leaf entry for `va` (levels 1..topLevel, normalised: 1 = PDE) and,
 * on a hit, sets `ws` to resume the walk below it. Returns the level hit, or -1.
 */
export function pwcResume(ws: WalkState, did: u32, tag: u32, va: u64): i32 {
  ws.resumeLevel = -1;
  const top = ws.levels - 1;
  const k1 = <u64>did | (<u64>tag << 16);
  for (let level: u32 = 1; level <= top; level++) {
    const c = pwcCache(ws.stage, level);
    if (c === null) continue;
    const k0 = (va >>> (12 + 9 * level)) & 0xffffffffffff;
    const slot = c.lookup(setIndex(c, k0, k1), k0, k1);
    emit(EV_LOOKUP, CACHE_PWC_FS_PDE + ws.stage * 4 + level - 1, slot >= 0 ? 1 : 0);
    if (slot < 0) continue;
    const p = c.payload(<u32>slot);
    ws.resumeLevel = <i32>level - 1;
    ws.resumeTable = load<u64>(p, 0);
    ws.resumeS2Leaf = load<u64>(p, 8);
    const f = load<u32>(p, 16);
    ws.resumePerms = f & 0xff;
    ws.resumeS2W = (f & 0x100) != 0;
    return <i32>level;
  }
  return -1;
}

/** After a successful walk of `va`, caches every non-leaf entry it read. */
export function pwcFill(ws: WalkState, did: u32, tag: u32, va: u64): void {
  const k1 = <u64>did | (<u64>tag << 16);
  const nested = ws.s2 !== null;
  for (let level = ws.firstLevel; level > ws.leafLevel; level--) {
    const c = pwcCache(ws.stage, level);
    if (c === null) continue;
    const k0 = (va >>> (12 + 9 * level)) & 0xffffffffffff;
    const p = c.payload(c.fill(setIndex(c, k0, k1), k0, k1));
    // The next table's host-physical address: under nesting, where stage 2 put it.
    const next = nested ? unchecked(ws.entryPa[level - 1]) & ~(<u64>0xfff) : unchecked(ws.entry[level]) & 0xffffffffff000;
    store<u64>(p, next, 0);
    store<u64>(p, unchecked(ws.entryS2Leaf[level - 1]), 8);
    store<u32>(p, unchecked(ws.entryPerms[level]) | (unchecked(ws.entryS2W[level - 1]) ? 0x100 : 0), 16);
  }
}

/**
 * A walk through the paging-structure caches: resume below the deepest cached entry, walk, and
 * cache what the walk read. Without caches it is exactly walk(ws).
 */
export function walkThroughCaches(ws: WalkState, did: u32, tag: u32): u32 {
  const va = ws.va;
  pwcResume(ws, did, tag, va);
  const f = walk(ws);
  ws.resumeLevel = -1;
  if (f == W_OK) pwcFill(ws, did, tag, va);
  return f;
}

// ---- invalidation (what a descriptor or command does to the caches; spec 6.5) ---------------------

/** Entries removed by invalidation so far, over every cache (the timing model charges per entry). */
export function totalInvalidations(): u64 {
  let n: u64 = 0;
  for (let id: u32 = 0; id < CACHE_COUNT; id++) {
    const c = unchecked(caches[id]);
    if (c !== null) n += c.invalidations;
  }
  return n;
}

/** Every cache empty (global invalidations of all kinds; CAP.ESRTPS on SRTP). */
export function invAll(): void {
  for (let id: u32 = 0; id < CACHE_COUNT; id++) {
    const c = unchecked(caches[id]);
    if (c !== null) c.invalidateAll();
  }
  devTlbMarkStale(0xffffffff, false, 0, false, 0, 0);
}

/**
 * Context cache (spec 6.5.2.1 context-cache invalidate, 11.4.4.1 CCMD): granularity 1 global,
 * 2 domain, 3 device (source ID with function mask FM). Scalable-mode context entries carry no
 * DID, so a domain-selective invalidation there drops every entry (README).
 */
export function invContext(gran: u32, did: u32, sid: u32, fm: u32, legacy: bool): void {
  const c = unchecked(caches[CACHE_CONTEXT_CACHE]);
  if (c === null) return;
  if (gran == 1 || (gran == 2 && !legacy)) {
    c.invalidateAll();
    return;
  }
  // FM masks the low bits of the function number: 0 none, 1 bit 2, 2 bits 2:1, 3 bits 2:0.
  const fmMask: u32 = fm == 0 ? 0 : fm == 1 ? 4 : fm == 2 ? 6 : 7;
  for (let s: u32 = 0, n = c.slots(); s < n; s++) {
    if (!c.isValid(s)) continue;
    if (gran == 2) {
      if (<u32>((load<u64>(c.payload(s), 8) >>> 8) & 0xffff) == did) c.invalidate(s);
    } else if (((<u32>c.key0(s) ^ sid) & ~fmMask & 0xffff) == 0) c.invalidate(s);
  }
}

/**
 * PASID cache (spec 6.5.2.4 PASID-cache invalidate): granularity 0 all PASIDs of DID,
 * 1 PASID-selective within DID, 3 global.
 */
export function invPasidCache(gran: u32, did: u32, pasid: u32): void {
  const c = unchecked(caches[CACHE_PASID_CACHE]);
  if (c === null) return;
  if (gran == 3) {
    c.invalidateAll();
    return;
  }
  for (let s: u32 = 0, n = c.slots(); s < n; s++) {
    if (!c.isValid(s)) continue;
    if (<u32>(load<u64>(c.payload(s), 8) & 0xffff) != did) continue;
    if (gran == 1 && <u32>(c.key0(s) >>> 32) != pasid) continue;
    c.invalidate(s);
  }
}

/** Does [base, base + 2^lg2) overlap the invalidation range [lo, hi]? */
// @ts-ignore: decorator
@inline function overlaps(base: u64, lg2: u32, lo: u64, hi: u64): bool {
  return base <= hi && base + ((<u64>1 << lg2) - 1) >= lo;
}

/** Invalidation range of ADDR and AM (2^AM naturally aligned 4 KiB pages). */
let rangeLo: u64 = 0;
let rangeHi: u64 = 0;

function setRange(addr: u64, am: u32): void {
  const size = <u64>1 << (12 + am);
  rangeLo = addr & ~(size - 1);
  rangeHi = rangeLo + size - 1;
}

/**
 * Paging-structure caches: drops the entries of `did` (stage 0 first, 1 second; `tag` a PASID or
 * TAG_ANY) that overlap the range when `ranged`.
 */
const TAG_ANY: u32 = 0xffffffff;
function invPwc(stage: u32, did: u32, tag: u32, ranged: bool): void {
  for (let level: u32 = 1; level <= 4; level++) {
    const c = pwcCache(stage, level);
    if (c === null) continue;
    for (let s: u32 = 0, n = c.slots(); s < n; s++) {
      if (!c.isValid(s)) continue;
      const k1 = c.key1(s);
      if (<u32>(k1 & 0xffff) != did) continue;
      if (tag != TAG_ANY && <u32>(k1 >>> 16) != tag) continue;
      if (ranged && !overlaps(c.key0(s) << (12 + 9 * level), 12 + 9 * level, rangeLo, rangeHi)) continue;
      c.invalidate(s);
    }
  }
}

/**
 * IOTLB invalidate (spec 6.5.2.3 descriptor type 2, 11.4.8 IOTLB_REG): granularity 1 global,
 * 2 domain, 3 page-selective (ADDR, AM; IH=1 keeps the paging-structure caches). A page-selective
 * invalidation also drops every first-stage and nested entry of the domain (as QEMU reads the spec).
 */
export function invIotlb(gran: u32, did: u32, addr: u64, am: u32, ih: bool): void {
  const c = unchecked(caches[CACHE_IOTLB]);
  if (gran == 1) {
    if (c !== null) c.invalidateAll();
    iotlbSizesSeen = 1;
    for (let id = CACHE_PWC_FS_PDE; id < CACHE_PWC_FS_PDE + 8; id++) {
      const p = unchecked(caches[id]);
      if (p !== null) p.invalidateAll();
    }
    devTlbMarkStale(0xffffffff, false, 0, false, 0, 0);
    return;
  }
  const ranged = gran == 3;
  devTlbMarkStale(did, false, 0, ranged, addr, am);
  if (ranged) setRange(addr, am);
  if (c !== null) {
    for (let s: u32 = 0, n = c.slots(); s < n; s++) {
      if (!c.isValid(s)) continue;
      if (<u32>(c.key1(s) & 0xffff) != did) continue;
      if (ranged && (load<u32>(c.payload(s), IOTLB_FLAGS) & ITF_FS) == 0 && !pageOverlaps(c.key0(s), rangeLo, rangeHi)) continue;
      c.invalidate(s);
    }
  }
  if (!(ranged && ih)) {
    invPwc(1, did, TAG_ANY, ranged);
    invPwc(0, did, TAG_ANY, false);
  }
}

/**
 * PASID-based IOTLB invalidate (spec 6.5.2.5, descriptor type 6): granularity 2 every non-global
 * first-stage/nested entry of (DID, PASID); 3 page-selective within (DID, PASID), global entries
 * included (IH=1 keeps the paging-structure caches). Second-stage-only entries are not touched.
 */
export function invPasidIotlb(gran: u32, did: u32, pasid: u32, addr: u64, am: u32, ih: bool): void {
  const c = unchecked(caches[CACHE_IOTLB]);
  const ranged = gran == 3;
  devTlbMarkStale(did, true, pasid, ranged, addr, am);
  if (ranged) setRange(addr, am);
  if (c !== null) {
    for (let s: u32 = 0, n = c.slots(); s < n; s++) {
      if (!c.isValid(s)) continue;
      const k1 = c.key1(s);
      if (<u32>(k1 & 0xffff) != did || <u32>(k1 >>> 16) != pasid) continue;
      const f = load<u32>(c.payload(s), IOTLB_FLAGS);
      if ((f & ITF_FS) == 0) continue;
      if (ranged) {
        if (!pageOverlaps(c.key0(s), rangeLo, rangeHi)) continue;
      } else if ((f & ITF_GLOBAL) != 0) continue;
      c.invalidate(s);
    }
  }
  if (!(ranged && ih)) invPwc(0, did, pasid, ranged);
}
