// The architecture's ports: how the spec code (arch/) reaches what an implementation chooses
// (caches, uarch/) without importing it (DESIGN §1: dependencies point one way; §6 item 9, the
// RISC-V IOMMU reference model reaching its caches through two calls). The engine installs the
// implementations once (engine/wiring.ts); until then nothing is cached: every lookup misses and
// every fill lands in a scratch record that nothing reads.
//
// Caches are named by their abi CacheId. The architecture chooses what a cache is tagged by (the
// two key words) and what it keeps (the payload record, laid out by the architecture: e.g.
// arch/vtd/cached.ts); the cache stores both opaquely. Invalidation is a predicate over an entry's
// keys and payload, written by the architecture and run by the cache over its valid entries.
import { WalkState } from "./pagetable/walk-state";

/**
 * Page caches (IOTLB, device-TLB) key an entry by the number of its page (va >> pageLg2) in bits
 * 59:0 of k0 (the bits above are the cache's own) and the owner tag in k1; the page size is the
 * payload's business (predicates read it from there).
 */
export const PAGE_NUMBER_MASK: u64 = 0x0fffffffffffffff;

/** Does the 2^lg2-byte page with page number `pageNumber` overlap [lo, hi]? */
// @ts-ignore: decorator
@inline export function pageOverlaps(pageNumber: u64, lg2: u32, lo: u64, hi: u64): bool {
  const base = pageNumber << lg2;
  return base <= hi && base + ((<u64>1 << lg2) - 1) >= lo;
}

/** Payload address of the entry keyed (k0, k1) in cache `id`, or 0 on a miss; counts one lookup. */
export type Lookup = (id: u32, k0: u64, k1: u64) => usize;
/** Makes (k0, k1) valid in cache `id` (reusing, filling or evicting) and returns its payload address. */
export type Fill = (id: u32, k0: u64, k1: u64) => usize;
/** Payload address of a page entry translating `va` for `owner` at any page size held, or 0. */
export type PageLookup = (id: u32, owner: u64, va: u64) => usize;
/**
 * Counts a lookup of page cache `id` that the architecture knows must miss (no entry of its owner
 * can be cached), exactly as a PageLookup that missed counts and times it, without searching.
 */
export type PageMiss = (id: u32) => void;
/** Makes the page entry of `va` at 2^pageLg2 bytes valid for `owner`; returns its payload address. */
export type PageFill = (id: u32, owner: u64, va: u64, pageLg2: u32) => usize;
/** How many entries of a page cache translate `va` for `owner` (TLB conflict detection; no statistics). */
export type PageMatches = (id: u32, owner: u64, va: u64) => u32;
/** A walk of `ws` that resumes below the deepest walk-cache hit and caches what it read. */
export type CachedWalk = (ws: WalkState) => u32;
/** Does the entry with keys (k0, k1) and payload at `payload` match an invalidation? */
export type Predicate = (k0: u64, k1: u64, payload: usize) => bool;
/** Invalidates every valid entry of cache `id` for which `pred` holds (every entry: null). */
export type Invalidate = (id: u32, pred: Predicate | null) => void;
/** Marks every device-TLB entry for which `pred` holds as stale (an IOMMU-side invalidation). */
export type MarkStale = (pred: Predicate) => void;
/** Invalidates the device-TLB entries of device `sid` for which `pred` holds. */
export type InvalidateDevice = (sid: u32, pred: Predicate) => void;

function noLookup(id: u32, k0: u64, k1: u64): usize {
  return 0;
}
function noPageLookup(id: u32, owner: u64, va: u64): usize {
  return 0;
}
let scratch: usize = 0;
function scratchRecord(): usize {
  if (scratch == 0) scratch = heap.alloc(256);
  return scratch;
}
function noFill(id: u32, k0: u64, k1: u64): usize {
  return scratchRecord();
}
function noPageMiss(id: u32): void {}
function noPageFill(id: u32, owner: u64, va: u64, pageLg2: u32): usize {
  return scratchRecord();
}
function noPageMatches(id: u32, owner: u64, va: u64): u32 {
  return 0;
}
function noInvalidate(id: u32, pred: Predicate | null): void {}
function noMarkStale(pred: Predicate): void {}
function noInvalidateDevice(sid: u32, pred: Predicate): void {}

export let cacheLookup: Lookup = noLookup;
export let cacheFill: Fill = noFill;
export let pageLookup: PageLookup = noPageLookup;
export let pageMiss: PageMiss = noPageMiss;
export let pageFill: PageFill = noPageFill;
export let pageMatches: PageMatches = noPageMatches;
export let cacheInvalidate: Invalidate = noInvalidate;
export let deviceTlbsMarkStale: MarkStale = noMarkStale;
export let deviceTlbInvalidate: InvalidateDevice = noInvalidateDevice;
/** Null until installed: callers then walk without caches. */
export let cachedWalk: CachedWalk | null = null;

/** Installs the implementations (engine/wiring.ts, once at init). */
export function installCachePorts(
  lookup: Lookup, fill: Fill, pLookup: PageLookup, pMiss: PageMiss, pFill: PageFill, pMatches: PageMatches, walk: CachedWalk,
  invalidate: Invalidate, markStale: MarkStale, invalidateDevice: InvalidateDevice,
): void {
  cacheLookup = lookup;
  cacheFill = fill;
  pageLookup = pLookup;
  pageMiss = pMiss;
  pageFill = pFill;
  pageMatches = pMatches;
  cachedWalk = walk;
  cacheInvalidate = invalidate;
  deviceTlbsMarkStale = markStale;
  deviceTlbInvalidate = invalidateDevice;
}
