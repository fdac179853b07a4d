// The configuration cache (spec 16.2 "Caching"; gem5's ConfigCache, QEMU's per-device config
// cache): STEs by StreamID and CDs by (StreamID, SubstreamID), each the structure's first four
// dwords as read from memory, reached through the cache ports (arch/ports.ts). The STE cache is the
// cache with abi id CACHE_CONTEXT_CACHE, the CD cache CACHE_PASID_CACHE (the slots VT-d uses for
// its context and PASID caches: a unit is one architecture, and the payloads fit).
//
// Only structures that passed their checks are cached (a C_BAD_STE or C_BAD_CD is found again on
// every transaction until software fixes it), and the checks run again on a hit (they are cheap and
// depend on the IDRs; the engine's kept stream context, engine/smmu-context.ts, skips them only
// while the slots and registers are the same, so the outcome is too), so a hit changes which reads
// happen, never what a transaction gets, until
// software changes an STE or CD without CMD_CFGI_*: then, as on hardware, the cached copy is used.
// Under nesting a CD is cached as its contents, not its address: stage 2 is not consulted again.
//
// Invalidation (commands.ts): CMD_CFGI_STE removes the StreamID's STE and every CD cached under it
// (they were found through it); CMD_CFGI_STE_RANGE does so for 2^(Range+1) aligned StreamIDs
// (Range 31: all, CMD_CFGI_ALL); CMD_CFGI_CD one (StreamID, SubstreamID); CMD_CFGI_CD_ALL every CD
// of the StreamID. The Leaf hint is not needed: level-1 descriptors are not cached.
import { CACHE_CONTEXT_CACHE, CACHE_PASID_CACHE } from "../../abi";
import { cacheLookup, cacheFill, cacheInvalidate } from "../ports";

export const STE_CACHE: u32 = CACHE_CONTEXT_CACHE;
export const CD_CACHE: u32 = CACHE_PASID_CACHE;

/** The cached STE of `sid` (four dwords), or 0. */
// @ts-ignore: decorator
@inline export function steCached(sid: u32): usize {
  return cacheLookup(STE_CACHE, sid, 0);
}

/** The cached CD `cdIndex` of `sid`, or 0. */
// @ts-ignore: decorator
@inline export function cdCached(sid: u32, cdIndex: u32): usize {
  return cacheLookup(CD_CACHE, sid, cdIndex);
}

/** Caches the four dwords at `p` as entry (k0, k1) of cache `id`. */
export function configKeep(id: u32, k0: u64, k1: u64, d0: u64, d1: u64, d2: u64, d3: u64): void {
  const q = cacheFill(id, k0, k1);
  store<u64>(q, d0);
  store<u64>(q, d1, 8);
  store<u64>(q, d2, 16);
  store<u64>(q, d3, 24);
}

// The invalidation's parameters, read by the predicates (no closures in AssemblyScript).
let sidLo: u64 = 0;
let sidHi: u64 = 0;
let ssidMatch: u64 = 0;

function bySid(k0: u64, k1: u64, payload: usize): bool {
  return k0 >= sidLo && k0 <= sidHi;
}
function bySidSsid(k0: u64, k1: u64, payload: usize): bool {
  return k0 == sidLo && k1 == ssidMatch;
}

/** CMD_CFGI_STE / CFGI_STE_RANGE / CFGI_ALL: StreamIDs lo..hi, their STEs and CDs. */
export function configInvalidateSids(lo: u64, hi: u64): void {
  sidLo = lo;
  sidHi = hi;
  cacheInvalidate(STE_CACHE, bySid);
  cacheInvalidate(CD_CACHE, bySid);
}

/** CMD_CFGI_CD (one SubstreamID) and CMD_CFGI_CD_ALL (all = true). */
export function configInvalidateCds(sid: u32, ssid: u32, all: bool): void {
  sidLo = sid;
  sidHi = sid;
  ssidMatch = ssid;
  cacheInvalidate(CD_CACHE, all ? bySid : bySidSsid);
}
