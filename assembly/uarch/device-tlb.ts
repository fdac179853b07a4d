// NOT ARCHITECTURAL for the IOMMU: the device side of ATS (PCIe ATS 1.x; VT-d spec 4 "Support For
// Device-TLBs"). Each device (source ID) that receives translation completions gets its own
// address translation cache, a SetAssoc with the `deviceTlb` geometry, created on first use.
//
//   key     (vpn | size << 60, tag = PASID or NO_PASID)
//   payload pa page (u64), flags (u32: R W X U, N, STALE), pageLg2 (u32), DID (u32), write
//           generation (u32), and the leaf the completion came from (leafPa, leafPte, s2LeafPa)
//
// Device-TLB invalidations (descriptor types 3 and 8) remove entries. An IOTLB invalidation on the
// IOMMU side does not reach the device: matching device entries are only marked STALE, so a
// translated request that still uses one is flagged (the window a missing device-TLB
// invalidation leaves open). An entry whose leaf has changed in memory since (the host wrote
// guest memory) is stale as well, invalidation or not.
import { SetAssoc } from "./cache/set-assoc";
import { lookupPage, fillPage, pageOverlaps, lastFillSlot } from "./cache/page-key";
import { emit, EV_LOOKUP } from "../timing/events";
import { CTRL_BASE, CTRL_CACHES, CTRL_SEED, CACHE_CFG_SIZE, CCFG_ENTRIES, CCFG_ASSOC, CCFG_POLICY, CCFG_ENABLED, CACHE_DEVICE_TLB, CACHE_STATS_BASE, CACHE_STATS_SIZE } from "../abi";
import { mask64 } from "../common/bits";
import { gmWriteGeneration } from "../common/guest-memory";
import { leafUnchanged } from "../arch/pagetable/walker";

export const DTF_R: u32 = 1;
export const DTF_W: u32 = 2;
export const DTF_X: u32 = 4;
export const DTF_U: u32 = 8;
export const DTF_N: u32 = 16; // no-snoop allowed
export const DTF_STALE: u32 = 32; // the IOMMU has invalidated the translation this entry came from

const PAYLOAD: u32 = 48;
const NO_PASID_TAG: u64 = 1 << 20;
const MAX_DEVICES: i32 = 65536;

/** One device-TLB per 16-bit source ID (bus, device, function), created on first fill. */
const devices = new StaticArray<SetAssoc | null>(MAX_DEVICES);
/** Source IDs that have a device-TLB, in creation order. */
const active = new StaticArray<u32>(MAX_DEVICES);
let activeCount: i32 = 0;
let enabled: bool = false;
/** Sum of every device-TLB's counters, kept as the deviceTlb cache's statistics. */
let entries: u32 = 0;
let assoc: u32 = 0;
let policy: u32 = 0;
let seed: u32 = 0;

function cfg(off: u32): u32 {
  return load<u32>(CTRL_BASE + CTRL_CACHES + CACHE_DEVICE_TLB * CACHE_CFG_SIZE + off);
}

export function devTlbConfigure(): void {
  entries = cfg(CCFG_ENTRIES);
  assoc = cfg(CCFG_ASSOC);
  policy = cfg(CCFG_POLICY);
  seed = load<u32>(CTRL_BASE + CTRL_SEED);
  enabled = cfg(CCFG_ENABLED) != 0 && entries != 0;
  for (let i = 0; i < activeCount; i++) unchecked((devices[unchecked(active[i])] = null));
  activeCount = 0;
}

// @ts-ignore: decorator
@inline export function devTlbEnabled(): bool {
  return enabled;
}

// @ts-ignore: decorator
@inline function tagOf(hasPasid: bool, pasid: u32): u64 {
  return hasPasid ? <u64>pasid : NO_PASID_TAG;
}

/** The entry translating `va` for the device, or -1; counts one lookup. */
export function devTlbLookup(sid: u32, hasPasid: bool, pasid: u32, va: u64): i32 {
  const c = unchecked(devices[sid & 0xffff]);
  if (c === null) {
    emit(EV_LOOKUP, CACHE_DEVICE_TLB, 0); // no cache yet: the device misses
    return -1;
  }
  const slot = lookupPage(c, tagOf(hasPasid, pasid), va, 7);
  emit(EV_LOOKUP, CACHE_DEVICE_TLB, slot >= 0 ? 1 : 0);
  return slot;
}

export function devTlbPayload(sid: u32, slot: i32): usize {
  return changetype<SetAssoc>(unchecked(devices[sid & 0xffff])).payload(<u32>slot);
}

/**
 * Caches a translation completion (pa page, rights DTF_*, page size, DID) in the device's ATC;
 * returns its slot, or -1 when device-TLBs are off.
 */
export function devTlbFill(sid: u32, hasPasid: bool, pasid: u32, va: u64, pageLg2: u32, pa: u64, flags: u32, did: u32, leafPa: u64, leafPte: u64, s2LeafPa: u64): i32 {
  if (!enabled) return -1;
  let c = unchecked(devices[sid & 0xffff]);
  if (c === null) {
    c = new SetAssoc(entries, assoc, policy, PAYLOAD, seed + sid);
    unchecked((devices[sid & 0xffff] = c));
    unchecked((active[activeCount++] = sid & 0xffff));
  }
  const p = fillPage(c, tagOf(hasPasid, pasid), va, pageLg2);
  store<u64>(p, pa & ~((<u64>1 << pageLg2) - 1), 0);
  store<u32>(p, flags, 8);
  store<u32>(p, pageLg2, 12);
  store<u32>(p, did, 16);
  store<u32>(p, gmWriteGeneration(), 20);
  store<u64>(p, leafPa, 24);
  store<u64>(p, leafPte, 32);
  store<u64>(p, s2LeafPa, 40);
  return <i32>lastFillSlot;
}

/**
 * Is the device-TLB entry at payload `p` stale: marked by an IOMMU invalidation, or its leaf
 * changed in guest memory since (checked only when the host has written memory since the fill)?
 */
export function devTlbStale(p: usize): bool {
  let f = load<u32>(p, 8);
  if ((f & DTF_STALE) != 0) return true;
  const gen = gmWriteGeneration();
  if (load<u32>(p, 20) == gen) return false;
  if (leafUnchanged(load<u64>(p, 24), load<u64>(p, 32), load<u64>(p, 40))) {
    store<u32>(p, gen, 20);
    return false;
  }
  store<u32>(p, f | DTF_STALE, 8);
  return true;
}

/** Range [lo, hi] of a device-TLB invalidation address (ADDR 63:12 with S in bit 0; spec 6.5.2.6). */
let lo: u64 = 0;
let hi: u64 = 0;
function decodeRange(addrS: u64): void {
  const addr = addrS & mask64(63, 12);
  if ((addrS & 1) == 0) {
    lo = addr;
    hi = addr + 0xfff;
    return;
  }
  // S=1: the number of trailing 1s in ADDR[63:12] gives the size: t ones -> 2^(t+1) pages.
  const t = <u32>ctz(~(addr >>> 12));
  if (t >= 51) {
    lo = 0;
    hi = <u64>-1;
    return;
  }
  const size = <u64>1 << (12 + t + 1);
  lo = addr & ~(size - 1);
  hi = lo + size - 1;
}

/**
 * Device-TLB invalidation (types 3 and 8): removes the device's entries in the range; with
 * `pasidSelective`, only those of `pasid`.
 */
export function devTlbInvalidate(sid: u32, pasidSelective: bool, pasid: u32, addrS: u64): void {
  const c = unchecked(devices[sid & 0xffff]);
  if (c === null) return;
  decodeRange(addrS);
  for (let s: u32 = 0, n = c.slots(); s < n; s++) {
    if (!c.isValid(s)) continue;
    if (pasidSelective && c.key1(s) != <u64>pasid) continue;
    if (pageOverlaps(c.key0(s), lo, hi)) c.invalidate(s);
  }
}

/**
 * The IOMMU invalidated its translations of `did` (optionally only `pasid`, only the range of
 * ADDR/AM): device entries made from them are now stale.
 */
export function devTlbMarkStale(did: u32, pasidOnly: bool, pasid: u32, ranged: bool, addr: u64, am: u32): void {
  if (!enabled) return;
  if (ranged) {
    const size = <u64>1 << (12 + am);
    lo = addr & ~(size - 1);
    hi = lo + size - 1;
  }
  for (let d = 0; d < activeCount; d++) {
    const c = changetype<SetAssoc>(unchecked(devices[unchecked(active[d])]));
    for (let s: u32 = 0, n = c.slots(); s < n; s++) {
      if (!c.isValid(s)) continue;
      const p = c.payload(s);
      if (did != 0xffffffff && load<u32>(p, 16) != did) continue;
      if (pasidOnly && c.key1(s) != <u64>pasid) continue;
      if (ranged && !pageOverlaps(c.key0(s), lo, hi)) continue;
      store<u32>(p, load<u32>(p, 8) | DTF_STALE, 8);
    }
  }
}

/** Sums every device's counters into the deviceTlb statistics block. */
export function devTlbSyncStats(): void {
  let l: u64 = 0, h: u64 = 0, m: u64 = 0, f: u64 = 0, e: u64 = 0, iv: u64 = 0;
  for (let d = 0; d < activeCount; d++) {
    const c = changetype<SetAssoc>(unchecked(devices[unchecked(active[d])]));
    l += c.lookups;
    h += c.hits;
    m += c.misses;
    f += c.fills;
    e += c.evictions;
    iv += c.invalidations;
  }
  const at = CACHE_STATS_BASE + CACHE_DEVICE_TLB * CACHE_STATS_SIZE;
  store<u64>(at, l, 0);
  store<u64>(at, h, 8);
  store<u64>(at, m, 16);
  store<u64>(at, f, 24);
  store<u64>(at, e, 32);
  store<u64>(at, iv, 40);
}
