// True LRU replacement (gem5 src/mem/cache/replacement_policies/lru_rp.cc): every way carries the
// time of its last use from one clock per cache; the victim is the way used longest ago.
//
//   state:  +0  clock: u64                 advanced by every reset and touch
//           +8  stamp: u64[sets * ways]    clock value at the way's last fill or hit (0 = none)
//
// A fill (reset) and a hit (touch) both make the way the most recent. Stamps are unique once set,
// so the only ties are between stamps of 0 (ways invalidated, or never used); the lowest such way
// wins, as in gem5's GetVictimTouchTwoLRU tie-break. The clock does not wrap in practice (2^64 uses).
import { DEBUG } from "../../../common/debug";

// @ts-ignore: decorator
@inline const STAMPS: usize = 8;

export function lruStateBytes(sets: u32, ways: u32): usize {
  return STAMPS + ((<usize>sets * ways) << 3);
}

export function lruInit(st: usize, sets: u32, ways: u32, seed: u32): void {
  memory.fill(st, 0, lruStateBytes(sets, ways));
}

// @ts-ignore: decorator
@inline function use(st: usize, set: u32, way: u32, ways: u32): void {
  const now = load<u64>(st) + 1;
  store<u64>(st, now);
  store<u64>(st + ((<usize>(set * ways + way)) << 3), now, STAMPS);
}

/** A fill: the way becomes the most recently used. */
// @ts-ignore: decorator
@inline export function lruReset(st: usize, set: u32, way: u32, ways: u32): void {
  use(st, set, way, ways);
}

/** A hit: the way becomes the most recently used. */
// @ts-ignore: decorator
@inline export function lruTouch(st: usize, set: u32, way: u32, ways: u32): void {
  use(st, set, way, ways);
}

/** The way is forgotten (stamp 0: older than any used way). */
// @ts-ignore: decorator
@inline export function lruInvalidate(st: usize, set: u32, way: u32, ways: u32): void {
  store<u64>(st + ((<usize>(set * ways + way)) << 3), 0, STAMPS);
}

/** The way with the smallest stamp (the lowest such way on a tie). */
export function lruVictim(st: usize, set: u32, ways: u32): u32 {
  if (DEBUG) assert(ways != 0);
  let p = st + ((<usize>(set * ways)) << 3);
  let best: u32 = 0;
  let oldest = load<u64>(p, STAMPS);
  for (let w: u32 = 1; w < ways; w++) {
    p += 8;
    const s = load<u64>(p, STAMPS);
    if (s < oldest) {
      oldest = s;
      best = w;
    }
  }
  return best;
}
