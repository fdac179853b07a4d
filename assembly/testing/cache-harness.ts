// Test entry point for the set-associative array and its replacement policies (compiled on its own
// to build/cache-harness.wasm by `npm run asbuild:harness`; not part of the core's exports).
//
// JS drives SetAssoc instances through handles (indices into a fixed table) with i32/u32 arguments
// only: every u64 crosses the boundary as two u32 halves (lo, hi), and counters come back as their
// low 32 bits. Each test file instantiates its own module, so handles start at 0 there.
import { SetAssoc } from "../uarch/cache/set-assoc";
import { policySupports as supports } from "../uarch/cache/replacement/policy";
import { lookupPage, fillPage, archPageSizes, lastFillSlot } from "../uarch/cache/page-key";

const MAX_CACHES: u32 = 1024;
const caches = new StaticArray<SetAssoc | null>(MAX_CACHES);
let count: u32 = 0;

// @ts-ignore: decorator
@inline function u64of(lo: u32, hi: u32): u64 {
  return (<u64>hi << 32) | <u64>lo;
}

function get(h: u32): SetAssoc {
  assert(h < count, "bad cache handle");
  return changetype<SetAssoc>(unchecked(caches[h]));
}

/** A new cache; returns its handle. */
export function create(entries: u32, assoc: u32, policy: u32, payloadBytes: u32, seed: u32): u32 {
  assert(count < MAX_CACHES, "too many caches");
  const h = count++;
  unchecked((caches[h] = new SetAssoc(entries, assoc, policy, payloadBytes, seed)));
  return h;
}

export function policySupports(policy: u32, ways: u32): bool {
  return supports(policy, ways);
}

// ---- geometry --------------------------------------------------------------------------------------

export function slots(h: u32): u32 { return get(h).slots(); }
export function setCount(h: u32): u32 { return get(h).setCount; }
export function setMask(h: u32): u32 { return get(h).setMask; }
export function waysPerSet(h: u32): u32 { return get(h).waysPerSet; }
export function active(h: u32): bool { return get(h).active; }
export function setOf(h: u32, slot: u32): u32 { return get(h).setOf(slot); }
export function wayOf(h: u32, slot: u32): u32 { return get(h).wayOf(slot); }

// ---- operations ------------------------------------------------------------------------------------

export function lookup(h: u32, set: u32, k0lo: u32, k0hi: u32, k1lo: u32, k1hi: u32): i32 {
  return get(h).lookup(set, u64of(k0lo, k0hi), u64of(k1lo, k1hi));
}

export function probe(h: u32, set: u32, k0lo: u32, k0hi: u32, k1lo: u32, k1hi: u32): i32 {
  return get(h).probe(set, u64of(k0lo, k0hi), u64of(k1lo, k1hi));
}

export function fill(h: u32, set: u32, k0lo: u32, k0hi: u32, k1lo: u32, k1hi: u32): u32 {
  return get(h).fill(set, u64of(k0lo, k0hi), u64of(k1lo, k1hi));
}

export function touch(h: u32, slot: u32): void {
  get(h).touch(slot);
}

export function invalidate(h: u32, slot: u32): void {
  get(h).invalidate(slot);
}

export function invalidateAll(h: u32): void {
  get(h).invalidateAll();
}

export function invalidateMatching(
  h: u32, m0lo: u32, m0hi: u32, v0lo: u32, v0hi: u32, m1lo: u32, m1hi: u32, v1lo: u32, v1hi: u32,
): u32 {
  return get(h).invalidateMatching(u64of(m0lo, m0hi), u64of(v0lo, v0hi), u64of(m1lo, m1hi), u64of(v1lo, v1hi));
}

/** The policy's victim for `set`, as fill() would ask for it (with its side effects: round-robin
 * advances, random draws), without filling anything. For policy tests. */
export function victim(h: u32, set: u32): u32 {
  const c = get(h);
  assert(c.active && set < c.setCount);
  return c.victim(set);
}

// ---- slots -----------------------------------------------------------------------------------------

export function isValid(h: u32, slot: u32): bool { return get(h).isValid(slot); }
export function key0lo(h: u32, slot: u32): u32 { return <u32>get(h).key0(slot); }
export function key0hi(h: u32, slot: u32): u32 { return <u32>(get(h).key0(slot) >>> 32); }
export function key1lo(h: u32, slot: u32): u32 { return <u32>get(h).key1(slot); }
export function key1hi(h: u32, slot: u32): u32 { return <u32>(get(h).key1(slot) >>> 32); }

/** Reads / writes the u32 at byte `offset` of the slot's payload. */
export function payloadRead32(h: u32, slot: u32, offset: u32): u32 {
  const c = get(h);
  assert(offset + 4 <= c.payloadBytes);
  return load<u32>(c.payload(slot) + offset);
}
export function payloadWrite32(h: u32, slot: u32, offset: u32, value: u32): void {
  const c = get(h);
  assert(offset + 4 <= c.payloadBytes);
  store<u32>(c.payload(slot) + offset, value);
}
export function payloadAddress(h: u32, slot: u32): usize { return get(h).payload(slot); }

// ---- counters (low 32 bits) ------------------------------------------------------------------------

export function lookups(h: u32): u32 { return <u32>get(h).lookups; }
export function hits(h: u32): u32 { return <u32>get(h).hits; }
export function misses(h: u32): u32 { return <u32>get(h).misses; }
export function fills(h: u32): u32 { return <u32>get(h).fills; }
export function evictions(h: u32): u32 { return <u32>get(h).evictions; }
export function invalidations(h: u32): u32 { return <u32>get(h).invalidations; }
export function resetCounters(h: u32): void { get(h).resetCounters(); }

// ---- page keys (uarch/cache/page-key.ts) with an architecture's page sizes (abi ARCH_*) ----------

/** lookupPage over every size of `arch` for owner k1 and address va: the slot hit, or -1. */
export function pageLookup(h: u32, arch: u32, k1lo: u32, k1hi: u32, valo: u32, vahi: u32): i32 {
  return lookupPage(get(h), archPageSizes(arch), u64of(k1lo, k1hi), u64of(valo, vahi), 0xffffffff);
}
/** fillPage: makes the 2^pageLg2-byte page of va valid for owner k1; returns its slot. */
export function pageFill(h: u32, arch: u32, k1lo: u32, k1hi: u32, valo: u32, vahi: u32, pageLg2: u32): u32 {
  fillPage(get(h), archPageSizes(arch), u64of(k1lo, k1hi), u64of(valo, vahi), pageLg2);
  return lastFillSlot;
}
