// NOT ARCHITECTURAL: how the translation caches (IOTLB, device-TLB) key an entry that may map
// 4 KiB, 2 MiB or 1 GiB, and how every cache picks its set.
//
//   k0 = (va >> pageLg2) | sizeCode << 60     sizeCode 0: 4 KiB, 1: 2 MiB, 2: 1 GiB
//   k1 = the owner tag (domain, PASID, ...), chosen by each cache
//
// A lookup probes each size the cache may hold, smallest first, and counts one lookup.
import { SetAssoc } from "./set-assoc";

/** Set index of key (k0, k1): a multiplicative hash folded to the cache's set mask. */
// @ts-ignore: decorator
@inline export function setFor(c: SetAssoc, k0: u64, k1: u64): u32 {
  const h = k0 ^ (k0 >>> 17) ^ (k1 * 0x9e3779b97f4a7c15);
  const f = <u32>(h ^ (h >>> 32));
  return c.setsPow2 ? f & c.setMask : f % c.setCount;
}

// @ts-ignore: decorator
@inline export function sizeCodeOf(pageLg2: u32): u64 {
  return pageLg2 == 12 ? 0 : pageLg2 == 21 ? 1 : 2;
}

/** The slot of an entry translating `va` for owner `k1` at any size in `sizes` (bit per code), or -1. */
export function lookupPage(c: SetAssoc, k1: u64, va: u64, sizes: u32): i32 {
  c.lookups++;
  for (let i: u32 = 0; i < 3; i++) {
    if (i > 0 && (sizes & (<u32>1 << i)) == 0) continue;
    const k0 = (va >>> (12 + 9 * i)) | (<u64>i << 60);
    const set = setFor(c, k0, k1);
    const slot = c.probe(set, k0, k1);
    if (slot >= 0) {
      c.hits++;
      c.touchIn(set, <u32>slot);
      lastPageSet = set;
      return slot;
    }
  }
  c.misses++;
  return -1;
}

/** The set of the last lookupPage() hit. */
export let lastPageSet: u32 = 0;

/** The slot of the last fillPage(). */
export let lastFillSlot: u32 = 0;

/** Makes the entry for `va` at `pageLg2` valid for owner `k1`; returns its payload address. */
export function fillPage(c: SetAssoc, k1: u64, va: u64, pageLg2: u32): usize {
  const k0 = (va >>> pageLg2) | (sizeCodeOf(pageLg2) << 60);
  lastFillSlot = c.fill(setFor(c, k0, k1), k0, k1);
  return c.payload(lastFillSlot);
}

/** Does the page of key `k0` overlap [lo, hi]? */
// @ts-ignore: decorator
@inline export function pageOverlaps(k0: u64, lo: u64, hi: u64): bool {
  const lg2 = 12 + 9 * <u32>(k0 >>> 60);
  const base = (k0 & 0xfffffffffffffff) << lg2;
  return base <= hi && base + ((<u64>1 << lg2) - 1) >= lo;
}
