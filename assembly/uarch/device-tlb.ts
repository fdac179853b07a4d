// NOT ARCHITECTURAL for the IOMMU: the device side of ATS (PCIe ATS 1.x; VT-d spec 4 "Support For
// Device-TLBs"). Each device (source ID) that receives translation completions gets its own
// address translation cache, a SetAssoc with the `deviceTlb` geometry, created on first use.
//
// Entries are the records of arch/ats.ts. Devices are found by their 32-bit source/stream ID
// in an open-addressing table.
//
// Device-TLB invalidations (descriptor types 3 and 8) remove entries. An IOTLB invalidation on the
// IOMMU side does not reach the device: matching device entries are only marked STALE, so a
// translated request that still uses one is flagged (the window a missing device-TLB
// invalidation leaves open). An entry whose leaf has changed in memory since (the host wrote
// guest memory) is stale as well, invalidation or not.
import { SetAssoc } from "./cache/set-assoc";
import { lookupPage, fillPage, PageSizes, archPageSizes } from "./cache/page-key";
import { emit, EV_LOOKUP } from "../common/events";
import { CTRL_BASE, CTRL_CACHES, CTRL_SEED, CTRL_ARCH, ARCH_VTD, CACHE_CFG_SIZE, CCFG_ENTRIES, CCFG_ASSOC, CCFG_POLICY, CCFG_ENABLED, CACHE_DEVICE_TLB, CACHE_STATS_BASE, CACHE_STATS_SIZE } from "../abi";
import { gmWriteGeneration } from "../common/guest-memory";
import { leafUnchanged } from "../arch/pagetable/walker";
import { Predicate } from "../arch/ports";
import {
  ATC_NO_PASID, ATC_PA, ATC_FLAGS, ATC_PAGE_LG2, ATC_DOMAIN, ATC_GEN, ATC_LEAF_PA, ATC_LEAF_PTE, ATC_S2_LEAF_PA, ATC_PAYLOAD_BYTES, ATCF_STALE,
} from "../arch/ats";

/** Devices with a device-TLB, in creation order (their source IDs and caches). */
const MAX_DEVICES: i32 = 65536;
const activeSid = new StaticArray<u32>(MAX_DEVICES);
const activeCache = new StaticArray<SetAssoc | null>(MAX_DEVICES);
let activeCount: i32 = 0;
/** Open-addressing index: source ID + 1 (0 = empty) -> position in the active list. */
const INDEX_LG2: u32 = 17;
const indexKey = new StaticArray<u64>(1 << INDEX_LG2);
const indexPos = new StaticArray<i32>(1 << INDEX_LG2);
let enabled: bool = false;
/** The sizes of the pages translation completions carry (those the architecture's formats produce). */
let sizes: PageSizes = archPageSizes(ARCH_VTD);
let entries: u32 = 0;
let assoc: u32 = 0;
let policy: u32 = 0;
let seed: u32 = 0;
/** Lookups by devices that have no cache yet (all misses): counted in the deviceTlb sums. */
let cachelessMisses: u64 = 0;

function cfg(off: u32): u32 {
  return load<u32>(CTRL_BASE + CTRL_CACHES + CACHE_DEVICE_TLB * CACHE_CFG_SIZE + off);
}

export function devTlbConfigure(): void {
  sizes = archPageSizes(load<u32>(CTRL_BASE + CTRL_ARCH));
  entries = cfg(CCFG_ENTRIES);
  assoc = cfg(CCFG_ASSOC);
  policy = cfg(CCFG_POLICY);
  seed = load<u32>(CTRL_BASE + CTRL_SEED);
  enabled = cfg(CCFG_ENABLED) != 0 && entries != 0;
  for (let i = 0; i < activeCount; i++) unchecked((activeCache[i] = null));
  for (let i = 0; i < indexKey.length; i++) unchecked((indexKey[i] = 0));
  activeCount = 0;
  cachelessMisses = 0;
}

// @ts-ignore: decorator
@inline export function devTlbEnabled(): bool {
  return enabled;
}

// @ts-ignore: decorator
@inline function slotOf(sid: u32): u32 {
  return (sid * 0x9e3779b1) >>> (32 - INDEX_LG2);
}

/** The device's cache, or null if it has none yet. */
function deviceCache(sid: u32): SetAssoc | null {
  const m: u32 = (1 << INDEX_LG2) - 1;
  let i = slotOf(sid);
  while (true) {
    const k = unchecked(indexKey[i]);
    if (k == <u64>sid + 1) return unchecked(activeCache[unchecked(indexPos[i])]);
    if (k == 0) return null;
    i = (i + 1) & m;
  }
}

function addDevice(sid: u32): SetAssoc {
  const c = new SetAssoc(entries, assoc, policy, ATC_PAYLOAD_BYTES, seed + sid);
  const m: u32 = (1 << INDEX_LG2) - 1;
  let i = slotOf(sid);
  while (unchecked(indexKey[i]) != 0) i = (i + 1) & m;
  unchecked((indexKey[i] = <u64>sid + 1));
  unchecked((indexPos[i] = activeCount));
  unchecked((activeSid[activeCount] = sid));
  unchecked((activeCache[activeCount] = c));
  activeCount++;
  return c;
}

// @ts-ignore: decorator
@inline function tagOf(hasPasid: bool, pasid: u32): u64 {
  return hasPasid ? <u64>pasid : ATC_NO_PASID;
}

/** The payload of the entry translating `va` for the device, or 0; counts one lookup. */
export function devTlbLookup(sid: u32, hasPasid: bool, pasid: u32, va: u64): usize {
  const c = deviceCache(sid);
  if (c === null) {
    cachelessMisses++; // no cache yet: the device looks up and misses
    emit(EV_LOOKUP, CACHE_DEVICE_TLB, 0);
    return 0;
  }
  const slot = lookupPage(c, sizes, tagOf(hasPasid, pasid), va, 0xffffffff);
  emit(EV_LOOKUP, CACHE_DEVICE_TLB, slot >= 0 ? 1 : 0);
  return slot >= 0 ? c.payload(<u32>slot) : 0;
}

/**
 * Caches a translation completion (pa page, rights ATCF_*, page size, domain tag) in the device's
 * ATC; returns its payload, or 0 when device-TLBs are off.
 */
export function devTlbFill(sid: u32, hasPasid: bool, pasid: u32, va: u64, pageLg2: u32, pa: u64, flags: u32, domain: u32, leafPa: u64, leafPte: u64, s2LeafPa: u64): usize {
  if (!enabled) return 0;
  if (activeCount >= MAX_DEVICES) return 0; // more devices than the model tracks: not cached
  let c = deviceCache(sid);
  if (c === null) c = addDevice(sid);
  const p = fillPage(c, sizes, tagOf(hasPasid, pasid), va, pageLg2);
  store<u64>(p, pa & ~((<u64>1 << pageLg2) - 1), ATC_PA);
  store<u32>(p, flags, ATC_FLAGS);
  store<u32>(p, pageLg2, ATC_PAGE_LG2);
  store<u32>(p, domain, ATC_DOMAIN);
  store<u32>(p, gmWriteGeneration(), ATC_GEN);
  store<u64>(p, leafPa, ATC_LEAF_PA);
  store<u64>(p, leafPte, ATC_LEAF_PTE);
  store<u64>(p, s2LeafPa, ATC_S2_LEAF_PA);
  return p;
}

/**
 * Is the device-TLB entry at payload `p` stale: marked by an IOMMU invalidation, or its leaf
 * changed in guest memory since (checked only when the host has written memory since the fill)?
 */
export function devTlbStale(p: usize): bool {
  let f = load<u32>(p, ATC_FLAGS);
  if ((f & ATCF_STALE) != 0) return true;
  const gen = gmWriteGeneration();
  if (load<u32>(p, ATC_GEN) == gen) return false;
  if (leafUnchanged(load<u64>(p, ATC_LEAF_PA), load<u64>(p, ATC_LEAF_PTE), load<u64>(p, ATC_S2_LEAF_PA))) {
    store<u32>(p, gen, ATC_GEN);
    return false;
  }
  store<u32>(p, f | ATCF_STALE, ATC_FLAGS);
  return true;
}

/** Device-TLB invalidation: removes the entries of device `sid` for which `pred` holds. */
export function devTlbInvalidate(sid: u32, pred: Predicate): void {
  const c = deviceCache(sid);
  if (c === null) return;
  for (let s: u32 = 0, n = c.slots(); s < n; s++) {
    if (c.isValid(s) && pred(c.key0(s), c.key1(s), c.payload(s))) c.invalidate(s);
  }
}

/**
 * The IOMMU invalidated translations: device entries made from them (those `pred` selects) are now
 * stale; the devices keep them until a device-TLB invalidation reaches them.
 */
export function devTlbMarkStale(pred: Predicate): void {
  if (!enabled) return;
  for (let d = 0; d < activeCount; d++) {
    const c = changetype<SetAssoc>(unchecked(activeCache[d]));
    for (let s: u32 = 0, n = c.slots(); s < n; s++) {
      if (!c.isValid(s)) continue;
      const p = c.payload(s);
      if (pred(c.key0(s), c.key1(s), p)) store<u32>(p, load<u32>(p, ATC_FLAGS) | ATCF_STALE, ATC_FLAGS);
    }
  }
}

/** Sums every device's counters into the deviceTlb statistics block. */
export function devTlbSyncStats(): void {
  let l: u64 = cachelessMisses, h: u64 = 0, m: u64 = cachelessMisses, f: u64 = 0, e: u64 = 0, iv: u64 = 0;
  for (let d = 0; d < activeCount; d++) {
    const c = changetype<SetAssoc>(unchecked(activeCache[d]));
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
