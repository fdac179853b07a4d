// The SMMUv3 TLB and walk caches (spec 16.2 "Caching", 4.4 "TLB invalidation"; shared/spec/smmuv3.md
// §2.7), reached through the cache ports (arch/ports.ts). A unit is one architecture, so the SMMU
// uses the cache slots VT-d names for the same roles (as config-cache.ts does for STEs and CDs):
//
//   TLB             CACHE_IOTLB: final translations by owner and page (any VMSA page size)
//   stage-1 walks   CACHE_PWC_FS_*: table descriptors by level, owner VMID << 16 | ASID
//   stage-2 walks   CACHE_PWC_SS_*: table descriptors by level, owner 1 << 63 | VMID (arch/smmuv3/ste.ts)
//
// TLB owner tag (k1): ASID 15:0 (0 for global and stage-2 entries), VMID 31:16, the granule 33:32
// (0 4K, 1 16K, 2 64K), GLOBAL 34 (stage-1 leaf with nG = 0: matches every ASID of its VMID), S2ONLY
// 35 (a stage-2-only translation: the page is an IPA page). Stage-1 and nested (combined) entries
// have S2ONLY clear. A lookup of a stage-1 address probes its ASID's entries, then (on a miss) the
// VMID's global entries: two lookups in the counters.
//
// Payload (TLB_* offsets): the page's output address, the leaf descriptor's address and value and,
// nested, the stage-2 leaf that mapped the output (for stale detection, arch/pagetable/walker.ts
// leafUnchanged), the rights, the page size, the stage-1 (or stage-2-only) leaf size for TTL, and
// the attributes coherency needs (stage-1 AttrIndx and SH, stage-2 MemAttr and SH).
//
// Invalidation scopes (commands.ts calls these):
//   TLBI_NH_ALL     stage-1 and nested TLB entries of the VMID; its stage-1 walk caches
//   TLBI_NH_ASID    the same of (VMID, ASID), global entries kept
//   TLBI_NH_VA      entries of (VMID, ASID) and the VMID's global entries over the address range;
//                   stage-1 walk-cache entries over it unless Leaf
//   TLBI_NH_VAA     as NH_VA for every ASID of the VMID
//   TLBI_EL2_*      as the NH forms with the VMID ignored (no E2H stream world is modelled: EL2
//                   streams are tagged like any other; invalidating more is always allowed)
//   TLBI_S12_VMALL  every TLB entry of the VMID (both kinds) and both stages' walk caches of it
//   TLBI_S2_IPA     stage-2-only TLB entries of the VMID over the IPA range; stage-2 walk-cache
//                   entries over it unless Leaf. Combined (nested) entries are kept: the spec
//                   requires software to follow with TLBI_NH_ALL / S12_VMALL for them, as Linux does
//   TLBI_NSNH_ALL   everything in the TLB and both walk caches
// Address ranges: TG = 0 (or IDR3.RIL = 0: TG, NUM, SCALE and TTL ignored) is the one address; else
// (NUM + 1) << SCALE pages of granule TG (1 4K, 2 16K, 3 64K) from Addr, and TTL != 0 narrows the
// TLB entries to leaves at level TTL of that granule (walk caches hold no leaves).
import { CACHE_IOTLB, CACHE_PWC_FS_PDE, CACHE_PWC_SS_PDE } from "../../abi";
import { cacheInvalidate, Predicate, PAGE_NUMBER_MASK, pageOverlaps } from "../ports";
import { WC_SPAN_LG2 } from "../pagetable/walk-state";

export const TLB_PA: u32 = 0;
export const TLB_LEAF_PA: u32 = 8;
export const TLB_LEAF_PTE: u32 = 16;
export const TLB_S2_LEAF_PA: u32 = 24;
export const TLB_FLAGS: u32 = 32; // u32 TF_*
export const TLB_PAGE_LG2: u32 = 36; // u32
export const TLB_LEAF_LG2: u32 = 40; // u8: the stage-1 leaf's size (stage-2-only: the stage-2 leaf's)
export const TLB_ATTR_INDX: u32 = 41; // u8
export const TLB_SH1: u32 = 42; // u8
export const TLB_MEM_ATTR: u32 = 43; // u8
export const TLB_SH2: u32 = 44; // u8

export const TF_R: u32 = 1;
export const TF_W: u32 = 2;
export const TF_X: u32 = 4;
export const TF_U: u32 = 8;
export const TF_PX: u32 = 16;
/** A write needs no walk: no leaf still has to be dirtied (HD with DBM). */
export const TF_DIRTY: u32 = 32;
export const TF_NESTED: u32 = 64;
/** Nested: stage 2 does not allow instruction fetches from the page (XN). */
export const TF_NO_X2: u32 = 128;

export const OWN_GLOBAL: u64 = <u64>1 << 34;
export const OWN_S2ONLY: u64 = <u64>1 << 35;
const OWN_VMID_SHIFT: u64 = 16;

/** The TLB owner tag of a stage-1 (or nested) entry of (vmid, asid) with `granuleLg2`; asid ignored when global. */
// @ts-ignore: decorator
@inline export function s1Owner(vmid: u32, asid: u32, granuleLg2: u32, global: bool): u64 {
  return (global ? OWN_GLOBAL : <u64>(asid & 0xffff)) | (<u64>vmid << OWN_VMID_SHIFT) | (<u64>((granuleLg2 - 12) >> 1) << 32);
}

/** The TLB owner tag of a stage-2-only entry of `vmid` with `granuleLg2`. */
// @ts-ignore: decorator
@inline export function s2Owner(vmid: u32, granuleLg2: u32): u64 {
  return OWN_S2ONLY | (<u64>vmid << OWN_VMID_SHIFT) | (<u64>((granuleLg2 - 12) >> 1) << 32);
}

// ---- invalidation ------------------------------------------------------------------------------------

// The command's parameters, read by the predicates (no closures in AssemblyScript).
let iVmid: u64 = 0;
let iAsid: u64 = 0;
let iAnyVmid: bool = false;
let iAnyAsid: bool = false;
let iLo: u64 = 0;
let iHi: u64 = 0;
/** log2 of the leaf size TTL names, or 0 (any). */
let iLeafLg2: u32 = 0;

const WALK_KEY_MASK: u64 = 0xffffffffffff; // uarch/caches.ts walk-cache keys: va >> span, 48 bits

// @ts-ignore: decorator
@inline function vmidOf(k1: u64): u64 {
  return (k1 >>> OWN_VMID_SHIFT) & 0xffff;
}
// @ts-ignore: decorator
@inline function vmidOk(k1: u64): bool {
  return iAnyVmid || vmidOf(k1) == iVmid;
}
// @ts-ignore: decorator
@inline function inRange(k0: u64, payload: usize): bool {
  if (iLeafLg2 != 0 && <u32>load<u8>(payload, TLB_LEAF_LG2) != iLeafLg2) return false;
  return pageOverlaps(k0 & PAGE_NUMBER_MASK, load<u32>(payload, TLB_PAGE_LG2), iLo, iHi);
}
// @ts-ignore: decorator
@inline function walkInRange(k0: u64, payload: usize): bool {
  const span = load<u32>(payload, WC_SPAN_LG2);
  return k0 >= ((iLo >>> span) & WALK_KEY_MASK) && k0 <= ((iHi >>> span) & WALK_KEY_MASK);
}

function tlbS1OfVmid(k0: u64, k1: u64, payload: usize): bool {
  return (k1 & OWN_S2ONLY) == 0 && vmidOk(k1);
}
function tlbOfVmid(k0: u64, k1: u64, payload: usize): bool {
  return vmidOk(k1);
}
function tlbOfAsid(k0: u64, k1: u64, payload: usize): bool {
  return (k1 & (OWN_S2ONLY | OWN_GLOBAL)) == 0 && vmidOk(k1) && (k1 & 0xffff) == iAsid;
}
function tlbS1Va(k0: u64, k1: u64, payload: usize): bool {
  if ((k1 & OWN_S2ONLY) != 0 || !vmidOk(k1)) return false;
  if (!iAnyAsid && (k1 & OWN_GLOBAL) == 0 && (k1 & 0xffff) != iAsid) return false;
  return inRange(k0, payload);
}
function tlbS2Ipa(k0: u64, k1: u64, payload: usize): bool {
  return (k1 & OWN_S2ONLY) != 0 && vmidOk(k1) && inRange(k0, payload);
}
function walkS1OfVmid(k0: u64, k1: u64, payload: usize): bool {
  return iAnyVmid || (k1 >>> 16) == iVmid;
}
function walkS1OfAsid(k0: u64, k1: u64, payload: usize): bool {
  return walkS1OfVmid(k0, k1, payload) && (k1 & 0xffff) == iAsid;
}
function walkS1Va(k0: u64, k1: u64, payload: usize): bool {
  return walkS1OfVmid(k0, k1, payload) && (iAnyAsid || (k1 & 0xffff) == iAsid) && walkInRange(k0, payload);
}
function walkS2OfVmid(k0: u64, k1: u64, payload: usize): bool {
  return (k1 & 0xffff) == iVmid;
}
function walkS2Ipa(k0: u64, k1: u64, payload: usize): bool {
  return (k1 & 0xffff) == iVmid && walkInRange(k0, payload);
}

/** Runs `pred` over the walk caches of `stage` (0 stage 1, 1 stage 2), every level. */
function walkCachesInvalidate(stage: u32, pred: Predicate | null): void {
  const first = stage == 0 ? CACHE_PWC_FS_PDE : CACHE_PWC_SS_PDE;
  for (let l: u32 = 0; l < 4; l++) cacheInvalidate(first + l, pred);
}

/**
 * Sets the address range of a TLBI_*_VA / S2_IPA command: `addr` with granule code `tg`, NUM,
 * SCALE and TTL (see the header); `ril`: the unit supports range invalidation.
 */
export function tlbiRange(addr: u64, tg: u32, num: u32, scale: u32, ttl: u32, ril: bool): void {
  iLeafLg2 = 0;
  if (!ril || tg == 0) {
    iLo = addr;
    iHi = addr;
    return;
  }
  const g: u32 = 10 + 2 * tg; // TG 1 4K (12), 2 16K (14), 3 64K (16)
  iLo = addr & ~((<u64>1 << g) - 1);
  iHi = iLo + ((<u64>(num + 1) << scale) << g) - 1;
  if (ttl != 0) iLeafLg2 = g + (g - 3) * (3 - ttl);
}

/** TLBI_NH_ALL (anyVmid: TLBI_EL2_ALL). */
export function tlbiNhAll(vmid: u32, anyVmid: bool): void {
  iVmid = vmid;
  iAnyVmid = anyVmid;
  cacheInvalidate(CACHE_IOTLB, tlbS1OfVmid);
  walkCachesInvalidate(0, walkS1OfVmid);
}

/** TLBI_NH_ASID (anyVmid: TLBI_EL2_ASID). */
export function tlbiNhAsid(vmid: u32, asid: u32, anyVmid: bool): void {
  iVmid = vmid;
  iAsid = asid;
  iAnyVmid = anyVmid;
  cacheInvalidate(CACHE_IOTLB, tlbOfAsid);
  walkCachesInvalidate(0, walkS1OfAsid);
}

/** TLBI_NH_VA / NH_VAA (anyAsid) and the EL2 forms (anyVmid), over the range tlbiRange() set. */
export function tlbiNhVa(vmid: u32, asid: u32, anyAsid: bool, anyVmid: bool, leaf: bool): void {
  iVmid = vmid;
  iAsid = asid;
  iAnyAsid = anyAsid;
  iAnyVmid = anyVmid;
  cacheInvalidate(CACHE_IOTLB, tlbS1Va);
  if (!leaf) walkCachesInvalidate(0, walkS1Va);
}

/** TLBI_S2_IPA over the range tlbiRange() set. */
export function tlbiS2Ipa(vmid: u32, leaf: bool): void {
  iVmid = vmid;
  iAnyVmid = false;
  cacheInvalidate(CACHE_IOTLB, tlbS2Ipa);
  if (!leaf) walkCachesInvalidate(1, walkS2Ipa);
}

/** TLBI_S12_VMALL. */
export function tlbiS12Vmall(vmid: u32): void {
  iVmid = vmid;
  iAnyVmid = false;
  cacheInvalidate(CACHE_IOTLB, tlbOfVmid);
  walkCachesInvalidate(0, walkS1OfVmid);
  walkCachesInvalidate(1, walkS2OfVmid);
}

/** TLBI_NSNH_ALL. */
export function tlbiNsnhAll(): void {
  cacheInvalidate(CACHE_IOTLB, null);
  walkCachesInvalidate(0, null);
  walkCachesInvalidate(1, null);
}
