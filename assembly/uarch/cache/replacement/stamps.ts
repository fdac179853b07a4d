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
  // 4 and 8 ways (the usual geometries): pairs, then pairs of pairs; each step keeps the lower
  // way on a tie, as the loop below does
  if (ways == 4) return oldestOf4(p, 0);
  if (ways == 8) {
    const a = oldestOf4(p, 0);
    const b = oldestOf4(p, 4);
    return select<u32>(b, a, load<u64>(p + (<usize>b << 3)) < load<u64>(p + (<usize>a << 3)));
  }
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

/** The way among ways first .. first + 3 of the stamps at `p` with the smallest stamp (the lowest on a tie). */
// @ts-ignore: decorator
@inline function oldestOf4(p: usize, first: u32): u32 {
  const q = p + (<usize>first << 3);
  const s0 = load<u64>(q), s1 = load<u64>(q, 8), s2 = load<u64>(q, 16), s3 = load<u64>(q, 24);
  const lo = s1 < s0, hi = s3 < s2;
  const a = select<u32>(first + 1, first, lo), sa = select<u64>(s1, s0, lo);
  const b = select<u32>(first + 3, first + 2, hi), sb = select<u64>(s3, s2, hi);
  return select<u32>(b, a, sb < sa);
}
