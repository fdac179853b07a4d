// True LRU replacement (gem5 src/mem/cache/replacement_policies/lru_rp.cc): every way carries the
// time of its last use (fill or hit) from one clock per cache; the victim is the way used longest
// ago. The stamp bookkeeping is shared with FIFO (stamps.ts); LRU stamps on hits as well.
import { stampStateBytes, stampInit, stamp, unstamp, oldestStamp } from "./stamps";

export function lruStateBytes(sets: u32, ways: u32): usize {
  return stampStateBytes(sets, ways);
}

export function lruInit(st: usize, sets: u32, ways: u32, seed: u32): void {
  stampInit(st, sets, ways);
}

/** A fill: the way becomes the most recently used. */
// @ts-ignore: decorator
@inline export function lruReset(st: usize, set: u32, way: u32, ways: u32): void {
  stamp(st, set, way, ways);
}

/** A hit: the way becomes the most recently used. */
// @ts-ignore: decorator
@inline export function lruTouch(st: usize, set: u32, way: u32, ways: u32): void {
  stamp(st, set, way, ways);
}

/** The way is forgotten (older than any used way). */
// @ts-ignore: decorator
@inline export function lruInvalidate(st: usize, set: u32, way: u32, ways: u32): void {
  unstamp(st, set, way, ways);
}

/** The way used longest ago (the lowest such way on a tie). */
export function lruVictim(st: usize, set: u32, ways: u32): u32 {
  return oldestStamp(st, set, ways);
}
