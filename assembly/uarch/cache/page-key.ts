// NOT ARCHITECTURAL: how the translation caches (IOTLB, device-TLB) key an entry that may map a
// page of any of several sizes, and how every cache picks its set.
//
//   k0 = (va >> pageLg2) | sizeCode << 60     sizeCode = index of pageLg2 in the cache's size list
//   k1 = the owner tag (domain, PASID, ...), chosen by the architecture
//
// The size list comes from the architecture (the page sizes its formats produce, smallest first:
// VT-d 4 KiB, 2 MiB, 1 GiB; SMMUv3 every VMSAv8-64 leaf of every granule: 4, 16, 64 KiB, 2, 32,
// 512 MiB, 1 GiB; archPageSizes). A lookup probes each size the cache may hold, smallest first, and
// counts one lookup. The page number sits in bits 59:0 (arch/ports.ts PAGE_NUMBER_MASK).
import { SetAssoc } from "./set-assoc";
import { ARCH_SMMUV3 } from "../../abi";
import { VTD_PAGE_SIZES_LG2 } from "../../arch/vtd/cached";
import { VMSA_PAGE_SIZES_LG2 } from "../../arch/pagetable/fmt/vmsa";

/** Set index of key (k0, k1): a multiplicative hash folded to the cache's set mask. */
// @ts-ignore: decorator
@inline export function setFor(c: SetAssoc, k0: u64, k1: u64): u32 {
  return setForHashed(c, k0, ownerHash(k1));
}

/** The part of setFor() that depends on k1 only: computed once for several keys of one owner. */
// @ts-ignore: decorator
@inline export function ownerHash(k1: u64): u64 {
  return k1 * 0x9e3779b97f4a7c15;
}

/** setFor(c, k0, k1) given ownerHash(k1). */
// @ts-ignore: decorator
@inline export function setForHashed(c: SetAssoc, k0: u64, k1Hash: u64): u32 {
  const h = k0 ^ (k0 >>> 17) ^ k1Hash;
  const f = <u32>(h ^ (h >>> 32));
  return c.setsPow2 ? f & c.setMask : f % c.setCount;
}

/** The page sizes a page cache holds: log2 of each, smallest first (at most 15). */
@final
export class PageSizes {
  readonly lg2: StaticArray<u32>;
  /** Every size's code: bit i set for i < the number of sizes. */
  readonly all: u32;
  /** The code of each log2 size (index pageLg2 < 64), 0xff for a size not in the list. */
  private readonly codes: StaticArray<u8> = new StaticArray<u8>(64);
  constructor(sizes: StaticArray<u32>) {
    this.lg2 = sizes;
    const n = <u32>sizes.length;
    this.all = (<u32>1 << n) - 1;
    for (let i: i32 = 0; i < 64; i++) unchecked((this.codes[i] = 0xff));
    for (let i: u32 = 0; i < n; i++) unchecked((this.codes[unchecked(sizes[i])] = <u8>i));
  }
  /** The size code of a page of 2^pageLg2 bytes (its index in the list). */
  // @ts-ignore: decorator
  @inline codeOf(pageLg2: u32): u32 {
    const code = <u32>unchecked(this.codes[pageLg2 & 63]);
    if (code == 0xff || pageLg2 >= 64) assert(false, "page size not in the cache's size list");
    return code;
  }
}

const VTD_SIZES = new PageSizes(VTD_PAGE_SIZES_LG2);
const VMSA_SIZES = new PageSizes(VMSA_PAGE_SIZES_LG2);

/** The page sizes the page caches of architecture `arch` (abi ARCH_*) hold. */
export function archPageSizes(arch: u32): PageSizes {
  return arch == ARCH_SMMUV3 ? VMSA_SIZES : VTD_SIZES;
}

/** The set of the last lookupPage() hit. */
export let lastPageSet: u32 = 0;

/** The slot of the last fillPage(). */
export let lastFillSlot: u32 = 0;

/**
 * The slot of an entry translating `va` for owner `k1` at any size whose code is set in `seen`, or
 * -1 (the smallest size is always probed).
 */
export function lookupPage(c: SetAssoc, sizes: PageSizes, k1: u64, va: u64, seen: u32): i32 {
  // the sizes probed, smallest first: the smallest always, the others once seen
  let probe = (seen | 1) & sizes.all;
  while (probe != 0) {
    const i = <u32>ctz(probe);
    probe &= probe - 1;
    const k0 = (va >>> unchecked(sizes.lg2[i])) | (<u64>i << 60);
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

/**
 * How many entries translate `va` for owner `k1` at the sizes whose code is set in `seen` (the
 * smallest always): more than one is a TLB conflict. Counts nothing and touches no replacement state.
 */
export function countPageMatches(c: SetAssoc, sizes: PageSizes, k1: u64, va: u64, seen: u32): u32 {
  let n: u32 = 0;
  const sizeCount = <u32>sizes.lg2.length;
  for (let i: u32 = 0; i < sizeCount; i++) {
    if (i > 0 && (seen & (<u32>1 << i)) == 0) continue;
    const k0 = (va >>> unchecked(sizes.lg2[i])) | (<u64>i << 60);
    if (c.probe(setFor(c, k0, k1), k0, k1) >= 0) n++;
  }
  return n;
}

/** Makes the entry for `va` at `pageLg2` valid for owner `k1`; returns its payload address. */
// @ts-ignore: decorator
@inline export function fillPage(c: SetAssoc, sizes: PageSizes, k1: u64, va: u64, pageLg2: u32): usize {
  const k0 = (va >>> pageLg2) | (<u64>sizes.codeOf(pageLg2) << 60);
  lastFillSlot = c.fillAfterMiss(setFor(c, k0, k1), k0, k1);
  return c.payload(lastFillSlot);
}
