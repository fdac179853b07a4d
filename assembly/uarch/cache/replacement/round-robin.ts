// Round-robin replacement (gem5 src/dev/arm/smmu_v3_caches.cc "rr"): each set has a pointer; the
// victim is the way it points at, and every victim selection advances it (wrapping at `ways`).
// Fills into invalid ways, hits and invalidations leave it alone, so victims cycle 0, 1, 2, ...
// whatever else happens in the set.
//
//   state:  +0  next: u32[sets]    the next victim of each set
import { DEBUG } from "../../../common/debug";

export function roundRobinStateBytes(sets: u32, ways: u32): usize {
  return <usize>sets << 2;
}

export function roundRobinInit(st: usize, sets: u32, ways: u32, seed: u32): void {
  memory.fill(st, 0, roundRobinStateBytes(sets, ways));
}

/** A fill: no change. */
// @ts-ignore: decorator
@inline export function roundRobinReset(st: usize, set: u32, way: u32, ways: u32): void {}

/** A hit: no change. */
// @ts-ignore: decorator
@inline export function roundRobinTouch(st: usize, set: u32, way: u32, ways: u32): void {}

/** An invalidation: no change. */
// @ts-ignore: decorator
@inline export function roundRobinInvalidate(st: usize, set: u32, way: u32, ways: u32): void {}

/** The way the set's pointer names; the pointer moves on to the next way. */
export function roundRobinVictim(st: usize, set: u32, ways: u32): u32 {
  if (DEBUG) assert(ways != 0);
  const p = st + (<usize>set << 2);
  const way = load<u32>(p);
  if (DEBUG) assert(way < ways);
  const next = way + 1;
  store<u32>(p, next == ways ? 0 : next);
  return way;
}
