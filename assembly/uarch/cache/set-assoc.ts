// The one set-associative array behind every cache of the model: IOTLB, paging-structure (walk)
// caches, context cache, PASID cache, device-TLB (ATC). Each cache is one SetAssoc and differs from
// the others only in what it puts in the two key words and the payload (DESIGN.md §6 items 5, 6;
// the opposite of gem5 smmu_v3_caches.cc's five copies).
//
// Geometry (the catalogue's {entries, assoc, policy}): `entries` ways in all; `assoc` ways per set,
// 0 = fully associative (one set of `entries` ways); setCount = entries / ways. The caller picks a
// set with `hash & setMask` when setCount is a power of two, else `hash % setCount` (page-key.ts). The caller computes the set index, which keeps this
// class free of any cache's tag format. entries = 0 is a disabled cache: one set of no ways, so
// every lookup misses (and is counted) with no special case on the lookup path; see fill().
//
// Slots: slot = set * waysPerSet + way (u32). Every way has two u64 key words, a valid byte and
// `payloadBytes` of payload (a multiple of 8, may be 0). All of it lives in one region of linear
// memory allocated at construction, as parallel arrays, so a lookup scans 16-byte tags only:
//
//   base ──► ┌──────────────────────────────┐
//            │ tags     {k0: u64, k1: u64}  │  slots × 16     compared k0 first, then k1
//            ├──────────────────────────────┤
//            │ payload  payloadBytes each   │  slots × payloadBytes (8-aligned)
//            ├──────────────────────────────┤
//            │ policy state                 │  policyStateBytes(policy, sets, ways), 8-aligned
//            ├──────────────────────────────┤
//            │ generation  u32 per slot     │  slots × 4     bumped whenever the slot changes
//            ├──────────────────────────────┤
//            │ valid    u8: 1 valid, 0 not  │  slots × 1
//            └──────────────────────────────┘
//
// Put the most discriminating word (the page number, say) in k0: it is compared first, and a
// mismatch on it ends the comparison. Invalid ways keep their old keys; the valid byte decides.
//
// Counters: lookups = hits + misses, derived (lookup() and find() count a hit or a miss; probe()
// and touch() count nothing, and a caller composing its own lookup from them counts its hit or
// miss itself); fills counts every fill (fill(), fillAfterMiss() after a probe or lookup that missed,
// fillAbsent() into a set a find() missed in), including a refill of a key already present;
// evictions counts fills that displaced a valid way of another key; invalidations counts ways
// turned from valid to invalid.
//
// Nothing here allocates after the constructor; lookup, probe, fill and invalidate are loops over
// one set with raw loads and stores.
import { DEBUG } from "../../common/debug";
import {
  policySupports, policyStateBytes, policyInit, policyReset, policyTouch, policyInvalidate, policyVictim, POLICY_LRU,
} from "./replacement/policy";
import { stampAddress } from "./replacement/stamps";

// @ts-ignore: decorator
@inline const TAG_LG2: u32 = 4; // 16 bytes of key per way

// @ts-ignore: decorator
@inline function align8(n: usize): usize {
  return (n + 7) & ~(<usize>7);
}

/**
 * Bumped by every fill and invalidation of any cache: whether any cache changed while a request was
 * translated (engine/replay-memo.ts records only requests that changed none), and whether any slot
 * can have changed since a moment it was read at (64 bits: it never wraps). What a slot holds is
 * followed by its own generation (SetAssoc.generation).
 */
export let cacheMutations: u64 = 0;

@final
export class SetAssoc {
  // ---- geometry (fixed at construction) -----------------------------------------------------------
  readonly entries: u32;
  readonly waysPerSet: u32; // 0 when disabled (entries = 0)
  readonly setCount: u32; // 1 when disabled
  readonly setMask: u32; // setCount - 1 (meaningful when setCount is a power of two)
  readonly setsPow2: bool;
  readonly policy: u32;
  readonly payloadBytes: u32;

  // ---- storage (one allocation) --------------------------------------------------------------------
  private tags: usize;
  private payloads: usize;
  private state: usize;
  private gens: usize;
  private valid: usize;

  // ---- the last miss (fillAfterMiss) ----------------------------------------------------------------
  /** Changes of this cache so far (fills and invalidations): a remembered miss is valid while equal. */
  private changes: u32 = 0;
  private missChanges: u32 = 0xffffffff;
  private missSet: u32 = 0;
  private missK0: u64 = 0;
  private missK1: u64 = 0;
  /** The first invalid way of the set at the miss, or -1 (the policy's victim then). */
  private missFree: i32 = -1;
  /**
   * Valid ways in all: while it equals `entries` every set is full, and a miss needs no scan of
   * its set for an invalid way (noteMiss). Kept by every fill and invalidation.
   */
  private validWays: u32 = 0;

  // ---- counters ------------------------------------------------------------------------------------
  hits: u64 = 0;
  misses: u64 = 0;
  fills: u64 = 0;
  evictions: u64 = 0;
  invalidations: u64 = 0;

  /** Lookups counted: every one is a hit or a miss, so the two counts say it (one store less per lookup). */
  // @ts-ignore: decorator
  @inline get lookups(): u64 {
    return this.hits + this.misses;
  }

  /** Configuration time only. The caller validates the geometry (entries divisible by the ways,
   * entries / ways a power of two, assoc <= entries, PLRU ways a power of two); DEBUG asserts it. */
  constructor(entries: u32, assoc: u32, policy: u32, payloadBytes: u32, seed: u32) {
    if (DEBUG) assert((payloadBytes & 7) == 0); // payload is a whole number of u64
    let ways: u32 = assoc == 0 ? entries : assoc;
    let sets: u32 = 1;
    if (entries == 0) {
      ways = 0;
    } else {
      if (DEBUG) assert(ways <= entries && entries % ways == 0); // whole sets
      sets = entries / ways;
      if (DEBUG) assert(policySupports(policy, ways));
    }
    this.entries = entries;
    this.waysPerSet = ways;
    this.setCount = sets;
    this.setMask = sets - 1;
    this.setsPow2 = (sets & (sets - 1)) == 0;
    this.policy = policy;
    this.payloadBytes = payloadBytes;

    // A disabled cache still gets one scratch slot, so payload(0) is harmless (see fill()).
    const n: usize = entries == 0 ? 1 : <usize>entries;
    const tagBytes = n << TAG_LG2;
    const payBytes = align8(n * payloadBytes);
    const stateBytes = align8(entries == 0 ? 0 : policyStateBytes(policy, sets, ways));
    const genBytes = align8(n << 2);
    const total = tagBytes + payBytes + stateBytes + genBytes + n;
    const base = heap.alloc(total);
    memory.fill(base, 0, total);
    this.tags = base;
    this.payloads = base + tagBytes;
    this.state = base + tagBytes + payBytes;
    this.gens = this.state + stateBytes;
    this.valid = this.gens + genBytes;
    if (entries != 0) policyInit(policy, this.state, sets, ways, seed);
  }

  /** Fills and invalidations of this cache so far (wrapping): while it is unchanged, so is every slot. */
  // @ts-ignore: decorator
  @inline get changeCount(): u32 {
    return this.changes;
  }

  /** False for a disabled cache (entries = 0): no slots, every lookup misses, fill must not run. */
  get active(): bool {
    return this.waysPerSet != 0;
  }

  /** Number of slots (= entries). */
  // @ts-ignore: decorator
  @inline slots(): u32 {
    return this.entries;
  }

  /** The set a slot belongs to. */
  setOf(slot: u32): u32 {
    if (DEBUG) assert(slot < this.entries);
    return slot / this.waysPerSet;
  }

  /** The way of a slot within its set. */
  wayOf(slot: u32): u32 {
    if (DEBUG) assert(slot < this.entries);
    return slot % this.waysPerSet;
  }

  // ---- the hot path -----------------------------------------------------------------------------

  /** The slot of the valid way in `set` whose key is exactly (k0, k1), or -1. A hit touches the
   * replacement policy; every call counts one lookup and one hit or miss. A miss is remembered for
   * fillAfterMiss. */
  lookup(set: u32, k0: u64, k1: u64): i32 {
    const slot = this.find(set, k0, k1);
    if (slot < 0) this.noteMiss(set, k0, k1);
    return slot;
  }

  /**
   * lookup() without remembering the miss: for a caller that keeps its own miss state and fills
   * with fillAbsent() (the walk caches, uarch/caches.ts). Same scan, counts and policy touch.
   */
  // @ts-ignore: decorator
  @inline find(set: u32, k0: u64, k1: u64): i32 {
    if (DEBUG) assert(set < this.setCount);
    const ways = this.waysPerSet;
    const first = set * ways;
    // A pointer loop with nested ifs: measured 1.5-2.5x faster in V8 than a way counter with &&.
    const t0 = this.tags + (<usize>first << TAG_LG2);
    const end = t0 + (<usize>ways << TAG_LG2);
    for (let p = t0; p < end; p += 1 << TAG_LG2) {
      if (load<u64>(p) == k0) {
        if (load<u64>(p, 8) == k1) {
          const way = <u32>((p - t0) >>> TAG_LG2);
          if (load<u8>(this.valid + <usize>first + way) != 0) {
            this.hits++;
            policyTouch(this.policy, this.state, set, way, ways);
            return <i32>(first + way);
          }
        }
      }
    }
    this.misses++;
    return -1;
  }

  /** Remembers a miss of (k0, k1) in `set` and the set's first invalid way, for fillAfterMiss. */
  // @ts-ignore: decorator
  @inline private noteMiss(set: u32, k0: u64, k1: u64): void {
    this.missChanges = this.changes;
    this.missSet = set;
    this.missK0 = k0;
    this.missK1 = k1;
    this.missFree = this.firstFree(set);
  }

  /** The first invalid way of `set`, or -1. A full cache (the steady state of a busy one) has no
   * invalid way in any set: no scan. */
  // @ts-ignore: decorator
  @inline private firstFree(set: u32): i32 {
    if (this.validWays != this.entries) {
      const v = this.valid + <usize>(set * this.waysPerSet);
      for (let w: u32 = 0, n = this.waysPerSet; w < n; w++) {
        if (load<u8>(v + w) == 0) return <i32>w;
      }
    }
    return -1;
  }

  /** lookup() without touching the policy or counting. */
  probe(set: u32, k0: u64, k1: u64): i32 {
    if (DEBUG) assert(set < this.setCount);
    const first = set * this.waysPerSet;
    const t0 = this.tags + (<usize>first << TAG_LG2);
    const end = t0 + (<usize>this.waysPerSet << TAG_LG2);
    for (let p = t0; p < end; p += 1 << TAG_LG2) {
      if (load<u64>(p) == k0) {
        if (load<u64>(p, 8) == k1) {
          const slot = first + <u32>((p - t0) >>> TAG_LG2);
          if (load<u8>(this.valid + <usize>slot) != 0) return <i32>slot;
        }
      }
    }
    this.noteMiss(set, k0, k1);
    return -1;
  }

  /** The policy's touch() for a valid slot, as a lookup hit runs it; counts nothing. For callers
   * that search with probe() under several keys (an IOTLB trying each page size) and count the
   * lookup themselves: probe, probe, ..., then touch(slot) on the one that hit. */
  touch(slot: u32): void {
    if (DEBUG) assert(slot < this.entries && load<u8>(this.valid + <usize>slot) != 0); // a valid way
    const ways = this.waysPerSet;
    const set = slot / ways;
    policyTouch(this.policy, this.state, set, slot - set * ways, ways);
  }

  /** touch() for a slot of a known set (saves the division on the hot path). */
  // @ts-ignore: decorator
  @inline touchIn(set: u32, slot: u32): void {
    const ways = this.waysPerSet;
    policyTouch(this.policy, this.state, set, slot - set * ways, ways);
  }

  /**
   * For a fast path that touches a known slot again and again: when a hit's touch is an LRU stamp,
   * the address of the slot's stamp, so that stampAt(address) is touch(slot); 0 for
   * any other policy. Valid for the life of the cache.
   */
  lruStampOf(slot: u32): usize {
    if (DEBUG) assert(slot < this.entries);
    return this.policy == POLICY_LRU ? stampAddress(this.state, slot) : 0;
  }

  /** Makes (k0, k1) valid in `set` and returns its slot; the caller then writes the payload.
   * 1. A valid way already holding the key is reused (no duplicate, no eviction).
   * 2. Else the first invalid way of the set.
   * 3. Else the policy's victim (counted as an eviction).
   * The policy's reset() runs on the way, and one fill is counted, in every case.
   *
   * Must not be called on a disabled cache (`active` false): DEBUG asserts; the release build
   * returns slot 0, a scratch slot that is never valid, and counts nothing. */
  fill(set: u32, k0: u64, k1: u64): u32 {
    if (DEBUG) assert(this.waysPerSet != 0); // fill on a disabled cache: check `active` first
    if (DEBUG) assert(set < this.setCount);
    const ways = this.waysPerSet;
    if (ways == 0) return 0;
    const first = set * ways;
    const t = this.tags + (<usize>first << TAG_LG2);
    const v = this.valid + <usize>first;
    let free = ways;
    for (let w: u32 = 0; w < ways; w++) {
      if (load<u8>(v + w) != 0) {
        const p = t + (<usize>w << TAG_LG2);
        if (load<u64>(p) == k0 && load<u64>(p, 8) == k1) {
          policyReset(this.policy, this.state, set, w, ways);
          this.fills++;
          this.changed(first + w);
          return first + w;
        }
      } else if (free == ways) {
        free = w;
      }
    }
    let way = free;
    if (way == ways) {
      way = policyVictim(this.policy, this.state, set, ways);
      if (DEBUG) assert(way < ways);
      this.evictions++;
    } else this.validWays++;
    const p = t + (<usize>way << TAG_LG2);
    store<u64>(p, k0);
    store<u64>(p, k1, 8);
    store<u8>(v + way, 1);
    policyReset(this.policy, this.state, set, way, ways);
    this.fills++;
    this.changed(first + way);
    return first + way;
  }

  /**
   * fill() right after a lookup or probe of the same key in the same set missed, with nothing
   * changed in this cache since: the key is known to be absent and the first invalid way known, so
   * the set is not scanned again (one scan per cache access). Otherwise exactly fill().
   */
  // @ts-ignore: decorator
  @inline fillAfterMiss(set: u32, k0: u64, k1: u64): u32 {
    if (this.missChanges != this.changes || this.missSet != set || this.missK0 != k0 || this.missK1 != k1) return this.fill(set, k0, k1);
    if (DEBUG) assert(this.waysPerSet != 0 && set < this.setCount && this.probeUncounted(set, k0, k1) < 0);
    return this.place(set, k0, k1, this.missFree);
  }

  /**
   * fill() of a key the caller knows is absent from `set`: it looked the key up there with find()
   * and missed, and nothing has changed this cache since (DEBUG checks the absence). No scan for a
   * duplicate: the set's first invalid way, else the policy's victim. Same decisions and counts as
   * fill().
   */
  // @ts-ignore: decorator
  @inline fillAbsent(set: u32, k0: u64, k1: u64): u32 {
    if (DEBUG) assert(this.waysPerSet != 0 && set < this.setCount && this.probeUncounted(set, k0, k1) < 0);
    return this.place(set, k0, k1, this.firstFree(set));
  }

  /** Puts (k0, k1), absent from `set`, in way `free` (an invalid way) or, if -1, the policy's victim. */
  // @ts-ignore: decorator
  @inline private place(set: u32, k0: u64, k1: u64, free: i32): u32 {
    const ways = this.waysPerSet;
    const first = set * ways;
    let way: u32;
    if (free >= 0) {
      way = <u32>free;
      this.validWays++;
    } else {
      way = policyVictim(this.policy, this.state, set, ways);
      if (DEBUG) assert(way < ways);
      this.evictions++;
    }
    const p = this.tags + (<usize>(first + way) << TAG_LG2);
    store<u64>(p, k0);
    store<u64>(p, k1, 8);
    store<u8>(this.valid + <usize>(first + way), 1);
    policyReset(this.policy, this.state, set, way, ways);
    this.fills++;
    this.changed(first + way);
    return first + way;
  }

  /** probe() without remembering a miss (DEBUG checks). */
  private probeUncounted(set: u32, k0: u64, k1: u64): i32 {
    const first = set * this.waysPerSet;
    for (let w: u32 = 0; w < this.waysPerSet; w++) {
      const p = this.tags + (<usize>(first + w) << TAG_LG2);
      if (load<u8>(this.valid + <usize>(first + w)) != 0 && load<u64>(p) == k0 && load<u64>(p, 8) == k1) return <i32>(first + w);
    }
    return -1;
  }

  /** The way the policy would evict from `set` now, as fill() asks for it, including the policy's
   * side effects (round-robin advances, random draws); nothing is filled or counted. For policy
   * tests and diagnostics, not the model's paths. */
  victim(set: u32): u32 {
    if (DEBUG) assert(this.waysPerSet != 0 && set < this.setCount);
    return policyVictim(this.policy, this.state, set, this.waysPerSet);
  }

  // ---- per-slot access --------------------------------------------------------------------------

  /**
   * The slot's generation: changes whenever the slot is filled (a refill of its key included) or
   * invalidated, so a record of "this slot served that request" stays valid while it is unchanged.
   */
  // @ts-ignore: decorator
  @inline generation(slot: u32): u32 {
    return load<u32>(this.gens + (<usize>slot << 2));
  }

  // @ts-ignore: decorator
  @inline private changed(slot: u32): void {
    const g = this.gens + (<usize>slot << 2);
    store<u32>(g, load<u32>(g) + 1);
    this.changes++;
    cacheMutations++;
  }

  /** Address of the slot's payload (payloadBytes bytes, 8-aligned). */
  // @ts-ignore: decorator
  @inline payload(slot: u32): usize {
    if (DEBUG) assert(slot < this.entries || slot == 0);
    return this.payloads + <usize>slot * this.payloadBytes;
  }

  // @ts-ignore: decorator
  @inline key0(slot: u32): u64 {
    if (DEBUG) assert(slot < this.entries);
    return load<u64>(this.tags + (<usize>slot << TAG_LG2));
  }

  // @ts-ignore: decorator
  @inline key1(slot: u32): u64 {
    if (DEBUG) assert(slot < this.entries);
    return load<u64>(this.tags + (<usize>slot << TAG_LG2), 8);
  }

  // @ts-ignore: decorator
  @inline isValid(slot: u32): bool {
    if (DEBUG) assert(slot < this.entries);
    return load<u8>(this.valid + <usize>slot) != 0;
  }

  // ---- invalidation -----------------------------------------------------------------------------

  /** Invalidates the slot if it is valid (policy invalidate(), one invalidation counted). */
  invalidate(slot: u32): void {
    if (DEBUG) assert(slot < this.entries);
    const v = this.valid + <usize>slot;
    if (load<u8>(v) == 0) return;
    store<u8>(v, 0);
    this.validWays--;
    const ways = this.waysPerSet;
    const set = slot / ways;
    policyInvalidate(this.policy, this.state, set, slot - set * ways, ways);
    this.invalidations++;
    this.changed(slot);
  }

  /** Invalidates every valid way (each one counted). */
  invalidateAll(): void {
    const n = this.entries;
    for (let s: u32 = 0; s < n; s++) this.invalidate(s);
  }

  /** Invalidates every valid way whose key has (k0 & m0) == v0 and (k1 & m1) == v1; returns how many
   * (each counted). Scans all slots: a bulk operation (invalidation by domain, PASID, range ...). */
  invalidateMatching(m0: u64, v0: u64, m1: u64, v1: u64): u32 {
    const n = this.entries;
    let count: u32 = 0;
    for (let s: u32 = 0; s < n; s++) {
      if (load<u8>(this.valid + <usize>s) == 0) continue;
      const p = this.tags + (<usize>s << TAG_LG2);
      if ((load<u64>(p) & m0) == v0 && (load<u64>(p, 8) & m1) == v1) {
        this.invalidate(s);
        count++;
      }
    }
    return count;
  }

  resetCounters(): void {
    this.hits = 0;
    this.misses = 0;
    this.fills = 0;
    this.evictions = 0;
    this.invalidations = 0;
  }
}
