// Stamp bookkeeping shared by the LRU and FIFO policies: one 64-bit clock per cache and a stamp per
// way; a way's stamp is the clock value at the event the policy cares about (LRU: last fill or hit;
// FIFO: fill). The victim is the way with the smallest stamp.
//
//   state:  +0  clock: u64                 advanced by every stamp()
//           +8  stamp: u64[sets * ways]    0 = invalidated / never stamped
//
// Stamps are unique once set, so the only ties are between stamps of 0 (ways invalidated, or never
// used); the lowest such way wins, as in gem5's tie-breaks. The clock does not wrap in practice.
import { DEBUG } from "../../../common/debug";

// @ts-ignore: decorator
@inline const STAMPS: usize = 8;

export function stampStateBytes(sets: u32, ways: u32): usize {
  return STAMPS + ((<usize>sets * ways) << 3);
}

export function stampInit(st: usize, sets: u32, ways: u32): void {
  memory.fill(st, 0, stampStateBytes(sets, ways));
}

/** The way's stamp becomes the newest. */
// @ts-ignore: decorator
@inline export function stamp(st: usize, set: u32, way: u32, ways: u32): void {
  const now = load<u64>(st) + 1;
  store<u64>(st, now);
  store<u64>(st + ((<usize>(set * ways + way)) << 3), now, STAMPS);
}

/** The address of the stamp of `slot` (set * ways + way): stampAt() stamps it as stamp() would. */
// @ts-ignore: decorator
@inline export function stampAddress(st: usize, slot: u32): usize {
  return st + STAMPS + (<usize>slot << 3);
}

/** stamp() of the way whose stamp is at `at` (stampAddress): it becomes the newest. */
// @ts-ignore: decorator
@inline export function stampAt(st: usize, at: usize): void {
  const now = load<u64>(st) + 1;
  store<u64>(st, now);
  store<u64>(at, now);
}

/** The way is forgotten: older than any stamped way. */
// @ts-ignore: decorator
@inline export function unstamp(st: usize, set: u32, way: u32, ways: u32): void {
  store<u64>(st + ((<usize>(set * ways + way)) << 3), 0, STAMPS);
}

/** The way with the smallest stamp (the lowest such way on a tie). */
export function oldestStamp(st: usize, set: u32, ways: u32): u32 {
  if (DEBUG) assert(ways != 0);
  let p = st + ((<usize>(set * ways)) << 3);
  let best: u32 = 0;
  let oldest = load<u64>(p, STAMPS);
  for (let w: u32 = 1; w < ways; w++) {
    p += 8;
    const s = load<u64>(p, STAMPS);
    // branch-free: which way is oldest is data, and a mispredicted branch per way costs more
    const older = s < oldest;
    best = select<u32>(w, best, older);
    oldest = select<u64>(s, oldest, older);
  }
  return best;
}
