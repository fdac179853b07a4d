// Guest physical memory: sparse and page-granular, any physical address below 2^52.
//
// A 4 KiB guest page is allocated in linear memory the first time anything writes to it and found
// again through an open-addressing hash table keyed by the page frame number. A read of a page that
// nobody wrote finds no page (gmPage returns 0); the caller turns that into the access-error fault
// the spec defines for the structure it was reading (SRT.1, SCT.1, SPD.1, SPT.1, SFS.1, SSS.1 ...).
//
//   key table  u64[cap]  pfn + 1, 0 = empty slot
//   page table u32[cap]  linear-memory address of the 4 KiB page
//
// The table doubles when half full, so a probe sequence is short and always ends at an empty slot.
import { DEBUG } from "./debug";

export const GUEST_PAGE_LG2: u32 = 12;
export const GUEST_PA_BITS: u32 = 52;

let keys: usize = 0;
let pages: usize = 0;
let capLg2: u32 = 0;
let used: u32 = 0;

// @ts-ignore: decorator
@inline function slotOf(pfn: u64, lg2: u32): u32 {
  return <u32>((pfn * 0x9e3779b97f4a7c15) >>> (64 - lg2));
}

function allocTable(lg2: u32): void {
  const cap = <usize>1 << lg2;
  keys = heap.alloc(cap << 3);
  pages = heap.alloc(cap << 2);
  memory.fill(keys, 0, cap << 3);
  memory.fill(pages, 0, cap << 2);
  capLg2 = lg2;
}

export function gmInit(): void {
  allocTable(12);
  used = 0;
}

/** The linear-memory address of the page holding `pa`, or 0 if no one wrote that page. */
// @ts-ignore: decorator
@inline export function gmPage(pa: u64): usize {
  const key = (pa >>> GUEST_PAGE_LG2) + 1;
  const m: u32 = (1 << capLg2) - 1;
  let i = slotOf(key, capLg2);
  while (true) {
    const k = load<u64>(keys + (<usize>i << 3));
    if (k == key) return <usize>load<u32>(pages + (<usize>i << 2));
    if (k == 0) return 0;
    i = (i + 1) & m;
  }
}

function insert(key: u64, page: usize): void {
  const m: u32 = (1 << capLg2) - 1;
  let i = slotOf(key, capLg2);
  while (load<u64>(keys + (<usize>i << 3)) != 0) i = (i + 1) & m;
  store<u64>(keys + (<usize>i << 3), key);
  store<u32>(pages + (<usize>i << 2), <u32>page);
}

function grow(): void {
  const oldKeys = keys, oldPages = pages, oldCap = <usize>1 << capLg2;
  allocTable(capLg2 + 1);
  for (let i: usize = 0; i < oldCap; i++) {
    const k = load<u64>(oldKeys + (i << 3));
    if (k != 0) insert(k, <usize>load<u32>(oldPages + (i << 2)));
  }
  // The stub runtime never frees: the old table stays behind, which is bounded by the final size.
}

/** The page holding `pa`, allocated (zero-filled) if new. Callers check pa < 2^52 first. */
export function gmPageForWrite(pa: u64): usize {
  if (DEBUG) assert(pa >>> GUEST_PA_BITS == 0);
  const found = gmPage(pa);
  if (found != 0) return found;
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
