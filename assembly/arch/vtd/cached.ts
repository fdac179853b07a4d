// What the VT-d translation path keeps in each cache it uses (through arch/ports.ts): the keys it
// tags entries with and the payload records. The caches (uarch/) store both opaquely; what a
// cache is and how it replaces entries is the implementation's choice, what an entry says is
// decided here. Every record holds raw entry contents, so every check runs the same on a hit as on
// a read.
//
//   context cache  key (sid, 0)                     payload c0, c1, flags, check memo
//   PASID cache    key (sid | pasid << 32, 0)       payload p0, p1, p2, flags, check memo (DID = p1[15:0])
//   IOTLB          owner did | tag << 16, page      payload pa, leafPa, leafPte, s2LeafPa, flags, pageLg2, gen
//   walk caches    owner did | tag << 16            (arch/pagetable/walk-state.ts WalkCacheEntry)
//
// `tag` is the PASID for first-stage/nested entries and TAG_NO_PASID for second-stage-only and
// legacy entries (second-stage tables belong to the domain, not to a PASID).

import { vtdLevelShift } from "../pagetable/fmt/vtd-ss";

export const TAG_NO_PASID: u32 = 1 << 20;

/** The page sizes VT-d translations have (4 KiB, 2 MiB, 1 GiB), smallest first: what a TLB holds. */
export const VTD_PAGE_SIZES_LG2: StaticArray<u32> = [vtdLevelShift(0), vtdLevelShift(1), vtdLevelShift(2)];

/** The owner tag of IOTLB and walk-cache entries of domain `did` and `tag`. */
// @ts-ignore: decorator
@inline export function ownerTag(did: u32, tag: u32): u64 {
  return <u64>did | (<u64>tag << 16);
}

// ---- context cache -------------------------------------------------------------------------------
export const CTX_C0: u32 = 0;
export const CTX_C1: u32 = 8;
export const CTX_FLAGS: u32 = 16;
/** The entry's own check result and the register epoch it was computed in (see checkMemo). */
export const CTX_CHECK: u32 = 24;
export const CTX_PAYLOAD_BYTES: u32 = 32;
/** Context flag: the entry's upper 128 bits (scalable mode) were not all zero. */
export const CTXF_RSVD_HIGH: u64 = 1;

// ---- PASID cache ---------------------------------------------------------------------------------
export const PC_P0: u32 = 0;
export const PC_P1: u32 = 8;
export const PC_P2: u32 = 16;
export const PC_FLAGS: u32 = 24;
export const PASID_CHECK: u32 = 32;
export const PASID_PAYLOAD_BYTES: u32 = 40;
/** PASID-cache flags: the directory entry's FPD; the entry's qwords 3..7 were not all zero. */
export const PCF_DIR_FPD: u64 = 1;
export const PCF_RSVD_HIGH: u64 = 2;

// ---- IOTLB ---------------------------------------------------------------------------------------
export const IOTLB_PA: u32 = 0;
export const IOTLB_LEAF_PA: u32 = 8;
export const IOTLB_LEAF_PTE: u32 = 16;
export const IOTLB_S2_LEAF_PA: u32 = 24;
export const IOTLB_FLAGS: u32 = 32;
export const IOTLB_PAGE_LG2: u32 = 36;
export const IOTLB_GEN: u32 = 40; // guest-memory write generation when filled (stale detection)
export const IOTLB_PAYLOAD_BYTES: u32 = 48;
/** IOTLB flags: first-stage rights (PERM_* in bits 3:0), second-stage R/W, and what else a hit needs. */
export const ITF_SS_R: u32 = 1 << 4;
export const ITF_SS_W: u32 = 1 << 5;
export const ITF_GLOBAL: u32 = 1 << 6; // first-stage G: survives non-global PASID-based invalidation
export const ITF_SNP: u32 = 1 << 7; // the SS leaf's SNP
export const ITF_DIRTY: u32 = 1 << 8; // the leaf's D flag(s) are already set: a write needs no walk
export const ITF_FS: u32 = 1 << 9; // first-stage or nested entry (PASID-based invalidation drops it)
export const ITF_NEGATIVE: u32 = 1 << 10; // caching mode: a cached "not present" outcome
