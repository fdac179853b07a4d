// FIFO replacement (gem5 src/mem/cache/replacement_policies/fifo_rp.cc): every way carries the time
// it was filled, from one clock per cache; the victim is the way filled longest ago. Hits do not
// change the order.
//
//   state:  +0  clock: u64                 advanced by every reset (fill)
//           +8  stamp: u64[sets * ways]    clock value at the way's fill (0 = invalidated / never)
//
// Stamps are unique once set; ties between stamps of 0 go to the lowest way.
import { DEBUG } from "../../../common/debug";

// @ts-ignore: decorator
@inline const STAMPS: usize = 8;

export function fifoStateBytes(sets: u32, ways: u32): usize {
  return STAMPS + ((<usize>sets * ways) << 3);
}

export function fifoInit(st: usize, sets: u32, ways: u32, seed: u32): void {
  memory.fill(st, 0, fifoStateBytes(sets, ways));
}

/** A fill: the way becomes the newest. */
// @ts-ignore: decorator
@inline export function fifoReset(st: usize, set: u32, way: u32, ways: u32): void {
  const now = load<u64>(st) + 1;
  store<u64>(st, now);
  store<u64>(st + ((<usize>(set * ways + way)) << 3), now, STAMPS);
}

/** A hit: no change (FIFO order is fill order). */
// @ts-ignore: decorator
@inline export function fifoTouch(st: usize, set: u32, way: u32, ways: u32): void {}

/** The way is forgotten (stamp 0: older than any filled way). */
// @ts-ignore: decorator
@inline export function fifoInvalidate(st: usize, set: u32, way: u32, ways: u32): void {
  store<u64>(st + ((<usize>(set * ways + way)) << 3), 0, STAMPS);
}

/** The way with the oldest fill (the lowest such way on a tie). */
export function fifoVictim(st: usize, set: u32, ways: u32): u32 {
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
