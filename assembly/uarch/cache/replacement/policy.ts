// Replacement policies: the ids the configuration uses, and one dispatcher over the five modules.
//
// The interface is gem5's (src/mem/cache/replacement_policies/base.hh) without instantiateEntry:
// a policy keeps its state in one flat region of linear memory that SetAssoc allocates for it once,
// sized and initialised by the policy, and answers four calls about a (set, way):
//
//   stateBytes(sets, ways)            bytes of state for a cache of that geometry
//   init(st, sets, ways, seed)        initialise the state at st (seed: only random uses it)
//   reset(st, set, way, ways)         the way was just filled (a new entry, or a refill of its key)
//   touch(st, set, way, ways)         the way was just hit by a lookup
//   invalidate(st, set, way, ways)    the way was just invalidated
//   victim(st, set, ways): way        the way to evict; called only when every way of the set is
//                                     valid, since SetAssoc fills invalid ways first. It may update
//                                     state (round-robin advances, random draws).
//
// AssemblyScript has no closures or function-typed fields worth calling on a hot path, so each
// policy is a module of plain functions over its own region (lru.ts, tree-plru.ts, fifo.ts,
// random.ts, round-robin.ts), and the functions below switch on the policy id. reset, touch and
// invalidate are @inline, so a hit's touch compiles to a branch and a store or two in lookup().
//
// Adding a policy: a new module with the six functions, an id below, one case in each switch,
// and a test file in test/uarch/replacement/.
import { DEBUG } from "../../../common/debug";
import { lruStateBytes, lruInit, lruReset, lruTouch, lruInvalidate, lruVictim } from "./lru";
import {
  treePlruStateBytes, treePlruInit, treePlruReset, treePlruTouch, treePlruInvalidate, treePlruVictim,
} from "./tree-plru";
import { fifoStateBytes, fifoInit, fifoReset, fifoTouch, fifoInvalidate, fifoVictim } from "./fifo";
import {
  randomStateBytes, randomInit, randomReset, randomTouch, randomInvalidate, randomVictim,
} from "./random";
import {
  roundRobinStateBytes, roundRobinInit, roundRobinReset, roundRobinTouch, roundRobinInvalidate,
  roundRobinVictim,
} from "./round-robin";

export const POLICY_LRU: u32 = 0;
export const POLICY_PLRU: u32 = 1; // tree pseudo-LRU: ways must be a power of two
export const POLICY_FIFO: u32 = 2;
export const POLICY_RANDOM: u32 = 3;
export const POLICY_ROUND_ROBIN: u32 = 4;
export const POLICY_COUNT: u32 = 5;

/** Whether `policy` is a known id and works with `ways` ways per set (tree PLRU: a power of two).
 * The host validates configurations with the same rule; SetAssoc asserts it in DEBUG. */
export function policySupports(policy: u32, ways: u32): bool {
  if (policy >= POLICY_COUNT) return false;
  if (policy == POLICY_PLRU) return ways != 0 && (ways & (ways - 1)) == 0;
  return true;
}

export function policyStateBytes(policy: u32, sets: u32, ways: u32): usize {
  switch (policy) {
    case POLICY_LRU: return lruStateBytes(sets, ways);
    case POLICY_PLRU: return treePlruStateBytes(sets, ways);
    case POLICY_FIFO: return fifoStateBytes(sets, ways);
    case POLICY_RANDOM: return randomStateBytes(sets, ways);
    default: return roundRobinStateBytes(sets, ways);
  }
}

export function policyInit(policy: u32, st: usize, sets: u32, ways: u32, seed: u32): void {
  if (DEBUG) assert(policySupports(policy, ways));
  switch (policy) {
    case POLICY_LRU: lruInit(st, sets, ways, seed); break;
    case POLICY_PLRU: treePlruInit(st, sets, ways, seed); break;
    case POLICY_FIFO: fifoInit(st, sets, ways, seed); break;
    case POLICY_RANDOM: randomInit(st, sets, ways, seed); break;
    default: roundRobinInit(st, sets, ways, seed);
  }
}

// @ts-ignore: decorator
@inline export function policyReset(policy: u32, st: usize, set: u32, way: u32, ways: u32): void {
  switch (policy) {
    case POLICY_LRU: lruReset(st, set, way, ways); break;
    case POLICY_PLRU: treePlruReset(st, set, way, ways); break;
    case POLICY_FIFO: fifoReset(st, set, way, ways); break;
    case POLICY_RANDOM: randomReset(st, set, way, ways); break;
    default: roundRobinReset(st, set, way, ways);
  }
}

// @ts-ignore: decorator
@inline export function policyTouch(policy: u32, st: usize, set: u32, way: u32, ways: u32): void {
  switch (policy) {
    case POLICY_LRU: lruTouch(st, set, way, ways); break;
    case POLICY_PLRU: treePlruTouch(st, set, way, ways); break;
    case POLICY_FIFO: fifoTouch(st, set, way, ways); break;
    case POLICY_RANDOM: randomTouch(st, set, way, ways); break;
    default: roundRobinTouch(st, set, way, ways);
  }
}

// @ts-ignore: decorator
@inline export function policyInvalidate(policy: u32, st: usize, set: u32, way: u32, ways: u32): void {
  switch (policy) {
    case POLICY_LRU: lruInvalidate(st, set, way, ways); break;
    case POLICY_PLRU: treePlruInvalidate(st, set, way, ways); break;
    case POLICY_FIFO: fifoInvalidate(st, set, way, ways); break;
    case POLICY_RANDOM: randomInvalidate(st, set, way, ways); break;
    default: roundRobinInvalidate(st, set, way, ways);
  }
}

export function policyVictim(policy: u32, st: usize, set: u32, ways: u32): u32 {
  switch (policy) {
    case POLICY_LRU: return lruVictim(st, set, ways);
    case POLICY_PLRU: return treePlruVictim(st, set, ways);
    case POLICY_FIFO: return fifoVictim(st, set, ways);
    case POLICY_RANDOM: return randomVictim(st, set, ways);
    default: return roundRobinVictim(st, set, ways);
  }
}
