// Stamp bookkeeping shared by the LRU and FIFO policies: a stamp per way, the value of a 64-bit clock
// at the event the policy cares about (LRU: last fill or hit; FIFO: fill). The victim is the way
// with the smallest stamp.
//
//   state:  +0  stamp: u64[sets * ways]    0 = invalidated / never stamped
//
// One clock (stampClock) serves every cache: a victim depends only on the order of the stamps within
// one set, and a clock shared with other caches gives the ways of a set the same order as a clock of
// their own would (each cache's stamps still grow in the order of its own events). So a fast path
// that touches several caches advances one clock, not one per cache. Stamps are unique once set, so
// the only ties are between stamps of 0 (ways invalidated, or never used); the lowest such way wins,
// as in gem5's tie-breaks. The clock never goes back (cachesConfigure does not reset it) and does
// not wrap in practice.
import { DEBUG } from "../../../common/debug";

/** The clock of every stamp: the last stamp given. */
let stampClock: u64 = 0;

export function stampStateBytes(sets: u32, ways: u32): usize {
  return (<usize>sets * ways) << 3;
}

export function stampInit(st: usize, sets: u32, ways: u32): void {
  memory.fill(st, 0, stampStateBytes(sets, ways));
}

/** The way's stamp becomes the newest. */
// @ts-ignore: decorator
@inline export function stamp(st: usize, set: u32, way: u32, ways: u32): void {
  stampAt(st + ((<usize>(set * ways + way)) << 3));
}

/** The address of the stamp of `slot` (set * ways + way): stampAt() stamps it as stamp() would. */
// @ts-ignore: decorator
@inline export function stampAddress(st: usize, slot: u32): usize {
  return st + (<usize>slot << 3);
}

/** stamp() of the way whose stamp is at `at` (stampAddress): it becomes the newest. */
// @ts-ignore: decorator
@inline export function stampAt(at: usize): void {
  const now = stampClock + 1;
  stampClock = now;
  store<u64>(at, now);
}

/**
 * For a fast path that stamps several ways in a row with the clock in a local: the clock now.
 * Stamp with `now = stampNext(at, now)`, then hand the clock back with stampsDone(now); nothing
 * else may stamp in between.
 */
// @ts-ignore: decorator
@inline export function stampsBegin(): u64 {
  return stampClock;
}

/** stampAt() with the clock in a local (stampsBegin): returns the clock after it. */
// @ts-ignore: decorator
@inline export function stampNext(at: usize, now: u64): u64 {
  store<u64>(at, now + 1);
  return now + 1;
}

/** Ends a run of stampNext(): `now` is the clock again. */
// @ts-ignore: decorator
@inline export function stampsDone(now: u64): void {
  stampClock = now;
}

/** The way is forgotten: older than any stamped way. */
// @ts-ignore: decorator
@inline export function unstamp(st: usize, set: u32, way: u32, ways: u32): void {
  store<u64>(st + ((<usize>(set * ways + way)) << 3), 0);
}

/** The way with the smallest stamp (the lowest such way on a tie). */
export function oldestStamp(st: usize, set: u32, ways: u32): u32 {
  if (DEBUG) assert(ways != 0);
  let p = st + ((<usize>(set * ways)) << 3);
  let best: u32 = 0;
  let oldest = load<u64>(p);
  for (let w: u32 = 1; w < ways; w++) {
    p += 8;
    const s = load<u64>(p);
    // branch-free: which way is oldest is data, and a mispredicted branch per way costs more
    const older = s < oldest;
    best = select<u32>(w, best, older);
    oldest = select<u64>(s, oldest, older);
  }
  return best;
}
