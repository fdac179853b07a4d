// NOT ARCHITECTURAL: the caches an implementation chooses to have (VT-d spec 6.2 describes what
// hardware may cache and how software invalidates it; geometry and policy are ours). Every cache is
// one SetAssoc (uarch/cache/set-assoc.ts) configured from the control block, by abi CacheId:
//
//   configuration caches  key (k0, k1) chosen by the architecture       (context cache, PASID cache)
//   page caches           owner tag + page of any size held (page-key)   (IOTLB)
//   walk caches           one per (stage, level): owner + va >> span     (paging-structure caches)
//
// The architecture reaches them only through the ports it declares (arch/ports.ts), installed by
// the engine: what a key and a payload say is the architecture's (e.g. arch/vtd/cached.ts); what is
// kept, where and for how long is decided here. The device-TLBs are device-side (device-tlb.ts).
import { DEBUG } from "../common/debug";
import { SetAssoc } from "./cache/set-assoc";
import { stampAt, stampNext } from "./cache/replacement/stamps";
export { stampsBegin, stampsDone } from "./cache/replacement/stamps";
import { setFor, setForHashed, ownerHash, lookupPage, fillPage, countPageMatches, lastPageSet, lastFillSlot, PageSizes, archPageSizes } from "./cache/page-key";
import { emit, EV_LOOKUP, timingOn } from "../common/events";
import { devTlbConfigure, devTlbSyncStats, devTlbMarkStale } from "./device-tlb";
import {
  CTRL_BASE, CTRL_CACHES, CTRL_SEED, CTRL_ARCH, ARCH_VTD, CACHE_CFG_SIZE, CCFG_ENTRIES, CCFG_ASSOC, CCFG_POLICY, CCFG_ENABLED,
  CACHE_STATS_BASE, CACHE_STATS_SIZE, CACHE_IOTLB, CACHE_CONTEXT_CACHE, CACHE_PASID_CACHE, CACHE_PWC_FS_PDE, CACHE_COUNT, CACHE_DEVICE_TLB, CACHE_MICRO_TLB,
} from "../abi";
import { WalkState, WC_NEXT, WC_S2_LEAF, WC_PERMS, WC_SPAN_LG2, WC_PAYLOAD_BYTES, WC_S2W } from "../arch/pagetable/walk-state";
import { Predicate } from "../arch/ports";
import { CTX_PAYLOAD_BYTES, PASID_PAYLOAD_BYTES, IOTLB_PAYLOAD_BYTES } from "../arch/vtd/cached";
import { walkLevelShift, walkNextTable } from "../arch/pagetable/walker";

/** The caches by id (abi CacheId); null when disabled or sized 0. */
const caches = new StaticArray<SetAssoc | null>(<i32>CACHE_COUNT);

/** Walk caches: the first of the (stage, level) caches, 4 levels (normalised 1..4) per stage. */
const WALK_CACHE_FIRST: u32 = CACHE_PWC_FS_PDE;
const WALK_CACHE_LEVELS: u32 = 4;

/**
 * The walk caches present, per stage (0 first, 1 second): bit L-1 set when the cache of normalised
 * level L is enabled (cachesConfigure). A walk visits only these, and none when there are none.
 */
let walkCachesFs: u32 = 0;
let walkCachesSs: u32 = 0;

/**
 * Per stage, the levels whose walk cache the current walk looked up and missed (bit L-1), and the
 * set of each such lookup (index stage * 4 + L - 1): the fill after the walk uses the same key in
 * the same set, so it does not hash it again. Per stage because a nested first-stage walk runs
 * second-stage walks between its lookups and its fills.
 */
const missedSets = new StaticArray<u32>(2 * <i32>WALK_CACHE_LEVELS);
let missedFs: u32 = 0;
let missedSs: u32 = 0;

/**
 * Per walk cache (index stage * 4 + L - 1, 32 bytes each), its last lookup hit: k0 (u64), k1 (u64),
 * the cache's changeCount then (u32), the slot (u32) and its set (u32). While the cache is
 * unchanged the key is still valid in that slot and nowhere else in its set (a fill never makes a
 * duplicate), so a lookup of the same key is that hit again: counted and touched the same, without
 * hashing or scanning (walkCacheResume). Kept for the levels above the lowest only (L >= 2, spans
 * of 1 GiB and more with 4 KiB granules), which consecutive walks share; the lowest level's hits
 * are spread over many entries, and recording each would cost more than it saves (ss4-walk-pwc).
 * A simulation shortcut; the record is void after cachesConfigure (changeCount 0xffffffff, which
 * a new cache reaches only after 2^32 - 1 changes).
 */
const WALK_MEMO_BYTES: u32 = 32;
const walkMemo: usize = heap.alloc(2 * WALK_CACHE_LEVELS * WALK_MEMO_BYTES);

function walkMemoClear(): void {
  for (let i: u32 = 0; i < 2 * WALK_CACHE_LEVELS; i++) store<u32>(walkMemo + i * WALK_MEMO_BYTES, 0xffffffff, 16);
}
walkMemoClear();

function cfg(id: u32, off: u32): u32 {
  return load<u32>(CTRL_BASE + CTRL_CACHES + id * CACHE_CFG_SIZE + off);
}

function payloadBytes(id: u32): u32 {
  if (id == CACHE_IOTLB || id == CACHE_MICRO_TLB) return IOTLB_PAYLOAD_BYTES;
  if (id == CACHE_CONTEXT_CACHE) return CTX_PAYLOAD_BYTES;
  if (id == CACHE_PASID_CACHE) return PASID_PAYLOAD_BYTES;
  return WC_PAYLOAD_BYTES;
}

/** (Re)builds every cache from the configuration block. Called by the host after configuring. */
export function cachesConfigure(): void {
  const seed = load<u32>(CTRL_BASE + CTRL_SEED);
  for (let id: u32 = 0; id < CACHE_COUNT; id++) {
    if (id == CACHE_DEVICE_TLB) continue; // one per device: uarch/device-tlb.ts
    const entries = cfg(id, CCFG_ENTRIES);
    unchecked((caches[id] = cfg(id, CCFG_ENABLED) != 0 && entries != 0 ? new SetAssoc(entries, cfg(id, CCFG_ASSOC), cfg(id, CCFG_POLICY), payloadBytes(id), seed + id) : null));
  }
  walkCachesFs = 0;
  walkCachesSs = 0;
  walkMemoClear();
  for (let l: u32 = 0; l < WALK_CACHE_LEVELS; l++) {
    if (unchecked(caches[WALK_CACHE_FIRST + l]) !== null) walkCachesFs |= 1 << l;
    if (unchecked(caches[WALK_CACHE_FIRST + WALK_CACHE_LEVELS + l]) !== null) walkCachesSs |= 1 << l;
  }
  devTlbConfigure();
  iotlbSizes = archPageSizes(load<u32>(CTRL_BASE + CTRL_ARCH));
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

// ---- which cache entries served the current request (engine/replay-memo.ts, timing) -------------

/** Slot and set of the context-cache, PASID-cache and IOTLB hits of the current request, or -1. */
export let hitCtxSlot: i32 = -1;
export let hitCtxSet: u32 = 0;
export let hitPasidSlot: i32 = -1;
export let hitPasidSet: u32 = 0;
export let hitIotlbSlot: i32 = -1;
export let hitIotlbSet: u32 = 0;
/** The IOTLB slot the current request filled, or -1 (the timing model tracks when it is ready). */
export let fillIotlbSlot: i32 = -1;
/** Slot and set of the current request's micro-TLB hit, or -1 (engine/smmu-memo.ts). */
export let hitMicroSlot: i32 = -1;
export let hitMicroSet: u32 = 0;
/** Some page-cache lookup (IOTLB, micro-TLB) of the current request missed (engine/smmu-memo.ts). */
export let pageMissed: bool = false;

export function clearHitTrace(): void {
  hitCtxSlot = -1;
  hitPasidSlot = -1;
  hitIotlbSlot = -1;
  fillIotlbSlot = -1;
  hitMicroSlot = -1;
  pageMissed = false;
}

/**
 * A hit on `slot` of cache `id` (in `set`) that a simulator fast path knows will happen: counted,
 * the replacement policy touched, the lookup event emitted and the hit traced, exactly as a lookup
 * that found it (engine/smmu-context.ts).
 */
// @ts-ignore: decorator
@inline export function replayHit(id: u32, slot: i32, set: u32): void {
  replayHitAt(id, slot, set, 0);
}

/**
 * For a fast path that replays hits on `slot` of cache `id` (enabled) again and again: writes at
 * `to` the u32 its replays pass to replayHitAt or replayTouchNext as `at`: the address of the
 * slot's LRU stamp (0 if the cache's policy is not LRU).
 */
export function keepLruStamp(to: usize, id: u32, slot: i32): void {
  store<u32>(to, <u32>changetype<SetAssoc>(unchecked(caches[id])).lruStampOf(<u32>slot));
}

/**
 * replayHit() by the slot's stamp: with `at` the slot's stamp address (as keepLruStamp wrote it),
 * an LRU touch is a stamp there, without finding the cache or its policy; with `at` 0, the
 * policy's touch.
 */
// @ts-ignore: decorator
@inline export function replayHitAt(id: u32, slot: i32, set: u32, at: usize): void {
  const c = changetype<SetAssoc>(unchecked(caches[id]));
  c.hits++;
  if (at != 0) stampAt(at);
  else c.touchIn(set, <u32>slot);
  emit(EV_LOOKUP, id, 1);
  traceHit(id, slot, set);
}

/**
 * The policy's touch of a hit replayed by a fast path that does the rest itself (counts the hits
 * in bulk, countHits; emits the lookup event and traces the hit only when the timing model reads
 * them), with the LRU clock in a local (stampsBegin, stampsDone): returns the clock after it. `at`
 * as for replayHitAt; a cache whose policy is not LRU (`at` 0) never reads or advances the clock.
 */
// @ts-ignore: decorator
@inline export function replayTouchNext(id: u32, slot: i32, set: u32, at: usize, now: u64): u64 {
  if (at != 0) return stampNext(at, now);
  const c = changetype<SetAssoc>(unchecked(caches[id]));
  if (DEBUG) assert(c.lruStampOf(<u32>slot) == 0);
  c.touchIn(set, <u32>slot);
  return now;
}

/** Notes the slot (-1: a miss) a lookup of cache `id` found, for the replay memo and the timing model. */
// @ts-ignore: decorator
@inline export function traceHit(id: u32, slot: i32, set: u32): void {
  if (id == CACHE_CONTEXT_CACHE) {
    hitCtxSlot = slot;
    hitCtxSet = set;
  } else if (id == CACHE_PASID_CACHE) {
    hitPasidSlot = slot;
    hitPasidSet = set;
  } else if (id == CACHE_IOTLB) {
    hitIotlbSlot = slot;
    hitIotlbSet = set;
  }
}

/** Counts `n` lookups that hit in cache `id` (enabled), touched earlier by replayTouch(). */
export function countHits(id: u32, n: u32): void {
  const c = changetype<SetAssoc>(unchecked(caches[id]));
  c.hits += n;
}

/** The generation of `slot` of cache `id` (SetAssoc.generation); the cache must be enabled. */
// @ts-ignore: decorator
@inline export function slotGeneration(id: u32, slot: i32): u32 {
  return changetype<SetAssoc>(unchecked(caches[id])).generation(<u32>slot);
}

// ---- configuration caches (exact keys) -----------------------------------------------------------

/** Payload of the entry keyed (k0, k1) in cache `id`, or 0; counts one lookup (arch/ports Lookup). */
export function configLookup(id: u32, k0: u64, k1: u64): usize {
  const c = unchecked(caches[id]);
  if (c === null) return 0;
  const set = setFor(c, k0, k1);
  const slot = c.lookup(set, k0, k1);
  traceHit(id, slot, set);
  emit(EV_LOOKUP, id, slot >= 0 ? 1 : 0);
  return slot >= 0 ? c.payload(<u32>slot) : 0;
}

let scratch: usize = 0;

/** Where a fill of a disabled cache writes: a record nothing reads. */
function scratchPayload(): usize {
  if (scratch == 0) scratch = heap.alloc(64);
  return scratch;
}

/** Makes (k0, k1) valid in cache `id`; returns the payload to write (a scratch record if the cache is off). */
export function configFill(id: u32, k0: u64, k1: u64): usize {
  const c = unchecked(caches[id]);
  if (c === null) return scratchPayload();
  return c.payload(c.fillAfterMiss(setFor(c, k0, k1), k0, k1));
}

// ---- page caches (IOTLB) -------------------------------------------------------------------------

/**
 * Page sizes (bit n: the n-th of iotlbSizes; VT-d bit 0 4 KiB, 1 2 MiB, 2 1 GiB) the IOTLB has held
 * since it was last emptied: lookups skip probing sizes it never held. A simulation shortcut with no
 * effect on what a lookup finds.
 */
let iotlbSizesSeen: u32 = 1;
/** The page sizes the IOTLB holds: those the architecture's formats produce (set by cachesConfigure). */
let iotlbSizes: PageSizes = archPageSizes(ARCH_VTD);

/** Payload of a page entry translating `va` for `owner`, or 0. One lookup is counted. */
export function pageCacheLookup(id: u32, owner: u64, va: u64): usize {
  const c = unchecked(caches[id]);
  if (c === null) return 0;
  // Large sizes are probed only once an entry of that size has been filled.
  const slot = lookupPage(c, iotlbSizes, owner, va, iotlbSizesSeen);
  if (slot < 0) pageMissed = true;
  else if (id == CACHE_IOTLB) {
    hitIotlbSlot = slot;
    hitIotlbSet = lastPageSet;
  } else if (id == CACHE_MICRO_TLB) {
    hitMicroSlot = slot;
    hitMicroSet = lastPageSet;
  }
  emit(EV_LOOKUP, id, slot >= 0 ? 1 : 0);
  return slot >= 0 ? c.payload(<u32>slot) : 0;
}

/**
 * A lookup of page cache `id` that cannot hit, counted and timed as pageCacheLookup() counts and
 * times a miss (arch/ports PageMiss). The cache's remembered miss is left as it was, so the fill
 * after an earlier lookup's miss still needs no second search.
 */
export function pageCacheMiss(id: u32): void {
  const c = unchecked(caches[id]);
  if (c === null) return;
  c.misses++;
  pageMissed = true;
  emit(EV_LOOKUP, id, 0);
}

/** How many entries of page cache `id` translate `va` for `owner` (TLB conflict detection); no statistics. */
export function pageCacheMatches(id: u32, owner: u64, va: u64): u32 {
  const c = unchecked(caches[id]);
  return c === null ? 0 : countPageMatches(c, iotlbSizes, owner, va, iotlbSizesSeen);
}

/** Makes the entry for `va` at 2^pageLg2 bytes valid for `owner`; returns its payload to write. */
export function pageCacheFill(id: u32, owner: u64, va: u64, pageLg2: u32): usize {
  const c = unchecked(caches[id]);
  if (c === null) return scratchPayload();
  iotlbSizesSeen |= <u32>1 << iotlbSizes.codeOf(pageLg2);
  const p = fillPage(c, iotlbSizes, owner, va, pageLg2);
  if (id == CACHE_IOTLB) fillIotlbSlot = <i32>lastFillSlot;
  return p;
}

// ---- walk caches (paging-structure caches) -------------------------------------------------------

/**
 * Finds the deepest cached non-leaf entry for `ws.va` (levels 1..top, normalised: 1 = the level
 * above the leaf table) and, on a hit, sets `ws` to resume the walk below it. Returns the level
 * hit, or -1. Only the stage's enabled walk caches are looked up, deepest first.
 */
export function walkCacheResume(ws: WalkState): i32 {
  ws.resumeLevel = -1;
  const stage = ws.stage;
  // levels 1..top are bits 0..top-1
  let present = (stage == 0 ? walkCachesFs : walkCachesSs) & ((<u32>1 << (ws.levels - 1)) - 1);
  // (no cache of the stage: the fill after the walk finds none either and reads no missed levels)
  if (present != 0) {
    let missed: u32 = 0;
    const k1 = ws.cacheOwner;
    const k1Hash = ownerHash(k1);
    const va = ws.va;
    const first = WALK_CACHE_FIRST + stage * WALK_CACHE_LEVELS;
    const timed = timingOn; // read once per walk, not per lookup
    do {
      const b = ctz(present);
      present &= present - 1;
      const level = b + 1;
      const c = changetype<SetAssoc>(unchecked(caches[first + b]));
      const k0 = (va >>> walkLevelShift(ws, level)) & 0xffffffffffff;
      const m = walkMemo + (stage * WALK_CACHE_LEVELS + b) * WALK_MEMO_BYTES;
      let slot: i32;
      if (b != 0 && load<u64>(m) == k0 && load<u64>(m, 8) == k1 && load<u32>(m, 16) == c.changeCount) {
        // the last hit of this cache again (walkMemo)
        slot = load<i32>(m, 20);
        if (DEBUG) assert(c.isValid(<u32>slot) && c.key0(<u32>slot) == k0 && c.key1(<u32>slot) == k1);
        c.hits++;
        c.touchIn(load<u32>(m, 24), <u32>slot);
      } else {
        const set = setForHashed(c, k0, k1Hash);
        // the miss is kept here (missedSets), not in the cache: the fill after the walk is fillAbsent
        slot = c.find(set, k0, k1);
        if (slot < 0) {
          if (timed) emit(EV_LOOKUP, first + b, 0);
          missed |= <u32>1 << b;
          unchecked((missedSets[stage * WALK_CACHE_LEVELS + b] = set));
          continue;
        }
        if (b != 0) {
          store<u64>(m, k0);
          store<u64>(m, k1, 8);
          store<u32>(m, c.changeCount, 16);
          store<u32>(m, <u32>slot, 20);
          store<u32>(m, set, 24);
        }
      }
      if (timed) emit(EV_LOOKUP, first + b, 1);
      const p = c.payload(<u32>slot);
      ws.resumeLevel = <i32>b;
      ws.resumeTable = load<u64>(p, WC_NEXT);
      const f = load<u32>(p, WC_PERMS);
      ws.resumePerms = f & 0xff;
      // the stage-2 bookkeeping is read by the walk only under nesting (walker.ts)
      if (ws.s2 !== null) {
        ws.resumeS2Leaf = load<u64>(p, WC_S2_LEAF);
        ws.resumeS2W = (f & WC_S2W) != 0;
      }
      setMissed(stage, missed);
      return <i32>level;
    } while (present != 0);
    setMissed(stage, missed);
  }
  return -1;
}

// @ts-ignore: decorator
@inline function setMissed(stage: u32, missed: u32): void {
  if (stage == 0) missedFs = missed;
  else missedSs = missed;
}

/**
 * After a successful walk of `ws.va`, caches every non-leaf entry it read (the stage's enabled walk
 * caches). Each of them was looked up by this walk's walkCacheResume and missed: the walk read the
 * levels below the deepest hit (or all, with none), and the resume looked up every enabled level
 * below that hit. Nothing has changed the stage's walk caches since (the walk fills none; the
 * stage-2 walks of a nested walk use the other stage's), so each fill goes to the set of that
 * lookup with no second scan (SetAssoc.fillAbsent).
 */
export function walkCacheFill(ws: WalkState): void {
  const stage = ws.stage;
  // the levels read above the leaf: leafLevel+1 .. firstLevel, bits leafLevel .. firstLevel-1
  const read = ((<u32>1 << ws.firstLevel) - 1) & ~((<u32>1 << ws.leafLevel) - 1);
  let fill = (stage == 0 ? missedFs : missedSs) & read;
  if (DEBUG) assert(fill == ((stage == 0 ? walkCachesFs : walkCachesSs) & read)); // every one looked up, missed
  if (fill == 0) return;
  const nested = ws.s2 !== null;
  // Nested tables larger than a 4 KiB page (VMSA 16/64 KiB granules) may lie in several stage-2
  // pages: the host-physical address of the one entry read says nothing about the rest of the
  // table, so such walks are not cached (a resumed walk does not translate its table again).
  if (nested && ws.granuleLg2 > 12) return;
  const k1 = ws.cacheOwner;
  const va = ws.va;
  const first = WALK_CACHE_FIRST + stage * WALK_CACHE_LEVELS;
  do {
    const b = 31 - clz(fill); // the highest level first
    fill ^= <u32>1 << b;
    const level = b + 1;
    const c = changetype<SetAssoc>(unchecked(caches[first + b]));
    const span = walkLevelShift(ws, level);
    const k0 = (va >>> span) & 0xffffffffffff;
    const p = c.payload(c.fillAbsent(unchecked(missedSets[stage * WALK_CACHE_LEVELS + b]), k0, k1));
    // The next table's host-physical address: under nesting, where stage 2 put it.
    const next = nested ? unchecked(ws.entryPa[level - 1]) & ~(<u64>0xfff) : walkNextTable(ws, unchecked(ws.entry[level]));
    store<u64>(p, next, WC_NEXT);
    // the stage-2 bookkeeping only under nesting (a non-nested walk has none: 0, no WC_S2W)
    store<u64>(p, nested ? unchecked(ws.entryS2Leaf[level - 1]) : 0, WC_S2_LEAF);
    store<u32>(p, unchecked(ws.entryPerms[level]) | (nested && unchecked(ws.entryS2W[level - 1]) ? WC_S2W : 0), WC_PERMS);
    store<u32>(p, span, WC_SPAN_LG2);
  } while (fill != 0);
}

/** The walk caches of `stage` (0 first, 1 second) as cache ids: WALK_CACHE_FIRST + stage * 4 + level - 1. */
// @ts-ignore: decorator
@inline export function walkCacheId(stage: u32, level: u32): u32 {
  return WALK_CACHE_FIRST + stage * WALK_CACHE_LEVELS + level - 1;
}

// ---- invalidation ----------------------------------------------------------------------------------

/** Entries removed by invalidation so far, over every cache (the timing model charges per entry). */
export function totalInvalidations(): u64 {
  let n: u64 = 0;
  for (let id: u32 = 0; id < CACHE_COUNT; id++) {
    const c = unchecked(caches[id]);
    if (c !== null) n += c.invalidations;
  }
  return n;
}

/**
 * Invalidates every valid entry of cache `id` for which `pred` holds, or every entry when `pred` is
 * null (arch/ports Invalidate).
 */
export function cacheInvalidateWhere(id: u32, pred: Predicate | null): void {
  const c = unchecked(caches[id]);
  if (id == CACHE_IOTLB && pred === null) iotlbSizesSeen = 1;
  if (c === null) return;
  if (pred === null) {
    c.invalidateAll();
    return;
  }
  for (let s: u32 = 0, n = c.slots(); s < n; s++) {
    if (c.isValid(s) && pred(c.key0(s), c.key1(s), c.payload(s))) c.invalidate(s);
  }
}
