// Random replacement (gem5 src/mem/cache/replacement_policies/random_rp.cc), deterministic: one
// xorshift32 generator (Marsaglia 2003, shifts 13/17/5) per cache, seeded at configuration time, so
// a run is reproducible from its seed. Fills, hits and invalidations leave no state.
//
//   state:  +0  x: u32    generator state, never 0
//
// The seed goes through murmur3's fmix32 (a bijection) first so that nearby seeds (1, 2, 3 ...)
// start unrelated sequences; the one seed that mixes to 0 uses 1 instead. A victim maps the next
// 32-bit draw to [0, ways) by multiply-and-shift ((x * ways) >> 32): no division, and a bias below
// ways / 2^32, far under anything a simulation can observe.
import { DEBUG } from "../../../common/debug";

export function randomStateBytes(sets: u32, ways: u32): usize {
  return 8;
}

export function randomInit(st: usize, sets: u32, ways: u32, seed: u32): void {
  let x = seed;
  x ^= x >>> 16;
  x *= 0x85ebca6b;
  x ^= x >>> 13;
  x *= 0xc2b2ae35;
  x ^= x >>> 16;
  store<u32>(st, x != 0 ? x : 1);
  store<u32>(st, 0, 4);
}

/** A fill: no state. */
// @ts-ignore: decorator
@inline export function randomReset(st: usize, set: u32, way: u32, ways: u32): void {}

/** A hit: no state. */
// @ts-ignore: decorator
@inline export function randomTouch(st: usize, set: u32, way: u32, ways: u32): void {}

/** An invalidation: no state. */
// @ts-ignore: decorator
@inline export function randomInvalidate(st: usize, set: u32, way: u32, ways: u32): void {}

/** A way drawn uniformly from [0, ways); advances the generator. */
export function randomVictim(st: usize, set: u32, ways: u32): u32 {
  if (DEBUG) assert(ways != 0);
  let x = load<u32>(st);
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  store<u32>(st, x);
  return <u32>((<u64>x * ways) >>> 32);
}
