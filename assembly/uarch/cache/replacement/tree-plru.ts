// Tree pseudo-LRU replacement (gem5 src/mem/cache/replacement_policies/tree_plru_rp.cc): a binary
// tree over the ways of a set, ways - 1 bits per set, `ways` a power of two (1 included: no bits).
//
// Nodes are numbered as a heap: node 1 is the root, node n has children 2n (left, lower ways) and
// 2n + 1 (right, higher ways), and way w is leaf ways + w. Each internal node holds one bit that
// points toward the pseudo-LRU side:
//
//   bit(n) = 0: the victim is in the left subtree      bit(n) = 1: the victim is in the right subtree
//
//   4 ways:            node 1                 8 ways:                 node 1
//                     /      \                              /                      \
//                node 2      node 3                    node 2                      node 3
//                /    \      /    \                   /      \                    /      \
//             way 0 way 1 way 2 way 3             node 4    node 5            node 6    node 7
//                                                 /   \     /   \             /   \     /   \
//                                                w0   w1   w2   w3           w4   w5   w6   w7
//
// - reset (fill) and touch (hit): every node on the way's path points away from it.
// - victim: from the root, follow the bits down to a leaf.
// - invalidate: every node on the way's path points toward it, so the way is the next victim (what
//   gem5 does). Through SetAssoc this is never observable: an invalid way is always refilled (and
//   reset, which rewrites its whole path) before victim() is next called for the set, since victim
//   runs only when every way is valid. It matters only to a caller that asks for a victim directly.
//
//   state, ways <= 32:  +0          path: {mask: u32, away: u32}[ways]   shared by all sets
//                       +8 * ways   bits: u32[sets]                      node n = bit n (bit 0 unused)
//   state, ways > 32:   +0          bits: u32[sets * ways / 32]          node n = bit n & 31 of word n >> 5
//
// With at most 32 ways (every IOTLB and walk-cache shape) a set's tree is one u32 and an update is
// one read-modify-write: `path` holds, per way, the mask of the nodes on its path and the values
// that point them away from it (toward it is mask & ~away), computed once by init. Wider sets (a
// large fully associative cache) walk the path bit by bit. All bits start at 0: the first victim is
// way 0.
import { DEBUG } from "../../../common/debug";

// @ts-ignore: decorator
@inline const PATH_WAYS: u32 = 32; // up to this many ways: one u32 of bits per set, path table

// @ts-ignore: decorator
@inline function setBytesLg2(ways: u32): u32 {
  // ways <= 32: one u32 per set (nodes 1..31); above, ways / 32 words = ways / 8 bytes.
  return ways <= PATH_WAYS ? 2 : 31 - clz(ways) - 3;
}

// @ts-ignore: decorator
@inline function bitsBase(st: usize, ways: u32): usize {
  return ways <= PATH_WAYS ? st + (<usize>ways << 3) : st;
}

export function treePlruStateBytes(sets: u32, ways: u32): usize {
  return (bitsBase(0, ways)) + (<usize>sets << setBytesLg2(ways));
}

export function treePlruInit(st: usize, sets: u32, ways: u32, seed: u32): void {
  if (DEBUG) assert(ways != 0 && (ways & (ways - 1)) == 0); // tree PLRU needs a power-of-two ways
  memory.fill(st, 0, treePlruStateBytes(sets, ways));
  if (ways > PATH_WAYS) return;
  for (let way: u32 = 0; way < ways; way++) {
    let mask: u32 = 0, away: u32 = 0;
    for (let n = ways + way; n > 1; n >>>= 1) {
      // n odd: n is a right child; its parent points away from it with 0, toward it with 1.
      mask |= 1 << (n >>> 1);
      if ((n & 1) == 0) away |= 1 << (n >>> 1);
    }
    store<u32>(st + (<usize>way << 3), mask);
    store<u32>(st + (<usize>way << 3), away, 4);
  }
}

/** Wide sets: sets every node on the path from leaf `way` to the root to point away from
 * (toward = false) or toward (toward = true) that way. */
function pointPathWide(st: usize, set: u32, way: u32, ways: u32, toward: bool): void {
  const base = st + (<usize>set << setBytesLg2(ways));
  let n = ways + way;
  while (n > 1) {
    const right = n & 1;
    const bit: u32 = toward ? right : right ^ 1;
    n >>>= 1;
    const p = base + (<usize>(n >>> 5) << 2);
    const m: u32 = 1 << (n & 31);
    const word = load<u32>(p);
    store<u32>(p, bit != 0 ? word | m : word & ~m);
  }
}

// @ts-ignore: decorator
@inline function pointPath(st: usize, set: u32, way: u32, ways: u32, toward: bool): void {
  if (ways <= PATH_WAYS) {
    const e = st + (<usize>way << 3);
    const mask = load<u32>(e);
    const away = load<u32>(e, 4);
    const p = st + (<usize>ways << 3) + (<usize>set << 2);
    store<u32>(p, (load<u32>(p) & ~mask) | (toward ? mask & ~away : away));
  } else {
    pointPathWide(st, set, way, ways, toward);
  }
}

/** A fill: the path points away from the way (it becomes the most recent). */
// @ts-ignore: decorator
@inline export function treePlruReset(st: usize, set: u32, way: u32, ways: u32): void {
  pointPath(st, set, way, ways, false);
}

/** A hit: the path points away from the way. */
// @ts-ignore: decorator
@inline export function treePlruTouch(st: usize, set: u32, way: u32, ways: u32): void {
  pointPath(st, set, way, ways, false);
}

/** An invalidation: the path points toward the way (it becomes the next victim). */
// @ts-ignore: decorator
@inline export function treePlruInvalidate(st: usize, set: u32, way: u32, ways: u32): void {
  pointPath(st, set, way, ways, true);
}

/** The leaf the bits lead to from the root. */
export function treePlruVictim(st: usize, set: u32, ways: u32): u32 {
  if (DEBUG) assert(ways != 0 && (ways & (ways - 1)) == 0);
  const base = bitsBase(st, ways) + (<usize>set << setBytesLg2(ways));
  let n: u32 = 1;
  while (n < ways) {
    const bit = (load<u32>(base + (<usize>(n >>> 5) << 2)) >>> (n & 31)) & 1;
    n = (n << 1) | bit;
  }
  return n - ways;
}
