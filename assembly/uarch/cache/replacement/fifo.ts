// FIFO replacement (gem5 src/mem/cache/replacement_policies/fifo_rp.cc): every way carries the time
// it was filled, from one clock per cache; the victim is the way filled longest ago. Hits do not
// change the order. The stamp bookkeeping is shared with LRU (stamps.ts); FIFO stamps on fills only.
import { stampStateBytes, stampInit, stamp, unstamp, oldestStamp } from "./stamps";

export function fifoStateBytes(sets: u32, ways: u32): usize {
  return stampStateBytes(sets, ways);
}

export function fifoInit(st: usize, sets: u32, ways: u32, seed: u32): void {
  stampInit(st, sets, ways);
}

/** A fill: the way becomes the newest. */
// @ts-ignore: decorator
@inline export function fifoReset(st: usize, set: u32, way: u32, ways: u32): void {
  stamp(st, set, way, ways);
}

/** A hit: no change (FIFO order is fill order). */
// @ts-ignore: decorator
@inline export function fifoTouch(st: usize, set: u32, way: u32, ways: u32): void {}

/** The way is forgotten (older than any filled way). */
// @ts-ignore: decorator
@inline export function fifoInvalidate(st: usize, set: u32, way: u32, ways: u32): void {
  unstamp(st, set, way, ways);
}

/** The way filled longest ago (the lowest such way on a tie). */
export function fifoVictim(st: usize, set: u32, ways: u32): u32 {
  return oldestStamp(st, set, ways);
}
