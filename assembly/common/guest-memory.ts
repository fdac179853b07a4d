// Guest physical memory: sparse and page-granular, any physical address below 2^52.
//
// A 4 KiB guest page is allocated in linear memory the first time anything writes to it and found
// again through an open-addressing hash table keyed by the page frame number. A read of a page that
// nobody wrote finds no page (gmPage returns 0); the caller turns that into the access-error fault
// the spec defines for the structure it was reading (SRT.1, SCT.1, SPD.1, SPT.1, SFS.1, SSS.1 ...).
//
//   slot (16 bytes) = { key: u64 = pfn + 1 (0 = empty), page: u32 = linear-memory address,
//                       writes: u32 = writes to the page through gmPageForWrite }
//
// Key and page share a slot so a lookup touches one cache line. The table doubles when half full,
// so a probe sequence is short and always ends at an empty slot. A slot stays where it is until the
// table doubles (nothing is ever removed): a fast path may watch a page by its slot's address and
// write count (gmWatch, gmWatchedWrites) as long as gmLayout() is unchanged.
import { DEBUG } from "./debug";

export const GUEST_PAGE_LG2: u32 = 12;
export const GUEST_PA_BITS: u32 = 52;

const SLOT_LG2: u32 = 4;
let slots: usize = 0;
let capLg2: u32 = 0;
let used: u32 = 0;

// @ts-ignore: decorator
@inline function slotOf(pfn: u64, lg2: u32): u32 {
  return <u32>((pfn * 0x9e3779b97f4a7c15) >>> (64 - lg2));
}

function allocTable(lg2: u32): void {
  const bytes = (<usize>1 << lg2) << SLOT_LG2;
  slots = heap.alloc(bytes);
  memory.fill(slots, 0, bytes);
  capLg2 = lg2;
}

export function gmInit(): void {
  allocTable(12);
  used = 0;
}

/** The slot of the page holding `pa` (for gmWatchedWrites while gmLayout() is unchanged), or 0 if no one wrote it. */
// @ts-ignore: decorator
@inline export function gmWatch(pa: u64): usize {
  const key = (pa >>> GUEST_PAGE_LG2) + 1;
  const m: u32 = (1 << capLg2) - 1;
  let i = slotOf(key, capLg2);
  while (true) {
    const slot = slots + (<usize>i << SLOT_LG2);
    const k = load<u64>(slot);
    if (k == key) return slot;
    if (k == 0) return 0;
    i = (i + 1) & m;
  }
}

/** The linear-memory address of the page holding `pa`, or 0 if no one wrote that page. */
// @ts-ignore: decorator
@inline export function gmPage(pa: u64): usize {
  const slot = gmWatch(pa);
  return slot != 0 ? <usize>load<u32>(slot, 8) : 0;
}

function insert(key: u64, page: usize): void {
  const m: u32 = (1 << capLg2) - 1;
  let i = slotOf(key, capLg2);
  while (load<u64>(slots + (<usize>i << SLOT_LG2)) != 0) i = (i + 1) & m;
  store<u64>(slots + (<usize>i << SLOT_LG2), key);
  store<u32>(slots + (<usize>i << SLOT_LG2), <u32>page, 8);
}

/** Bumped whenever the table doubles (every slot moves): watched slots must be found again. */
let layout: u32 = 1;

// @ts-ignore: decorator
@inline export function gmLayout(): u32 {
  return layout;
}

/** Writes so far to the page whose slot gmWatch() returned (gmPageForWrite counts them, the walker's A/D updates are not). */
// @ts-ignore: decorator
@inline export function gmWatchedWrites(slot: usize): u32 {
  return load<u32>(slot, 12);
}

function grow(): void {
  layout++;
  const old = slots, oldCap = <usize>1 << capLg2;
  allocTable(capLg2 + 1);
  for (let i: usize = 0; i < oldCap; i++) {
    const k = load<u64>(old + (i << SLOT_LG2));
    if (k != 0) insert(k, <usize>load<u32>(old + (i << SLOT_LG2), 8));
  }
  // The stub runtime never frees: the old table stays behind, which is bounded by the final size.
}

/**
 * The page holding `pa`, allocated (zero-filled) if new, for a write: the host's (memWrite) or the
 * model's own records in guest memory (SMMUv3 event records and CMD_SYNC MSIs, VT-d
 * invalidation-wait status writes), each counted in the page's write count (gmWatchedWrites). The
 * walker's A/D-flag updates do not come here: they never change a translation. Callers check
 * pa < 2^52 first.
 */
export function gmPageForWrite(pa: u64): usize {
  if (DEBUG) assert(pa >>> GUEST_PA_BITS == 0);
  const slot = gmWatch(pa);
  if (slot != 0) {
    store<u32>(slot, load<u32>(slot, 12) + 1, 12);
    return <usize>load<u32>(slot, 8);
  }
  if ((used + 1) << 1 > (<u32>1 << capLg2)) grow();
  const page = heap.alloc(1 << GUEST_PAGE_LG2);
  memory.fill(page, 0, 1 << GUEST_PAGE_LG2);
  insert((pa >>> GUEST_PAGE_LG2) + 1, page);
  used++;
  return page;
}

/** Number of guest pages written so far. */
export function gmPageCount(): u32 {
  return used;
}

/**
 * Counts host (driver) writes to guest memory. Caches remember the generation they were filled in;
 * an entry filled before the latest write may be stale and is re-checked against memory.
 * The model's own A/D-flag updates do not count: they never make a translation stale.
 */
let writeGeneration: u32 = 1;

// @ts-ignore: decorator
@inline export function gmWriteGeneration(): u32 {
  return writeGeneration;
}

export function gmNoteHostWrite(): void {
  writeGeneration++;
}
