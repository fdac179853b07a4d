// Simulation only: overlapping the host's cache misses on leaf entries (issue 9, "overlap
// independent misses").
//
// A walk over a large table spends most of its time waiting for one load: its leaf entry, which is
// in no host cache. The native model hides that wait by running several translations' loads at
// once; a wasm translation is too long (about 2,000 instructions) for the host CPU to reach the
// next one's load while it waits. So the batch loop loads the leaf entries of the next few
// requests together, in a loop short enough that their misses overlap (prefetchGroup), and the
// walks that follow find them in the host's caches.
//
// Where a leaf entry is comes from a hint table filled by the walks already made (hintRecord):
// direct-mapped, indexed by the request address's region (the input range whose leaf entries share
// one 4 KiB guest page of the leaf table), holding the linear-memory address of that page. A hint
// is only a guess: a stale or foreign one loads some other valid memory. Under nesting, the next
// group also loads the second-stage leaves of the last group's outputs. Nothing here changes
// what the model computes: no counter, cache, event or guest-memory state is touched, and the
// loads' values go only to `sink` (so that no optimiser drops them).
import { WalkState } from "../arch/pagetable/walk-state";
import { REQ_BASE, REQ_ADDR, REQ_SIZE } from "../abi";

/** log2 of the hint table's entries; 16 bytes each: region + 1 (0: none), page, leaf shift. */
const HINT_LG2: u32 = 12;
const HINT_MASK: u64 = (<u64>1 << HINT_LG2) - 1;
/** Leaf entries of 8 bytes per 4 KiB guest page of a table. */
const ENTRIES_LG2: u32 = 9;

const hints: usize = heap.alloc(<usize>16 << HINT_LG2);
/**
 * Nested translation (some outermost walk has had a second stage; never reset but by
 * prefetchInit): the first-stage leaf entries the last group loaded. The next group reads their
 * output addresses (guest-physical; in the host's caches by then) and loads the second-stage leaf
 * entries the hints give for them: the final stage-2 walks record hints too. At most 2 x 15.
 */
const MAX_GROUP: u32 = 32;
const lastLeaves: usize = heap.alloc(<usize>MAX_GROUP << 2);
let lastCount: u32 = 0;
let nested = false;
/** The output-address field of a leaf entry, as a guess that fits every format (bits 51:12). */
const OUTPUT_MASK: u64 = 0x000f_ffff_ffff_f000;
/** log2 of a region, from the last walk recorded: its leaf size + ENTRIES_LG2. */
let regionShift: u32 = 12 + ENTRIES_LG2;
let sink: u64 = 0;

export function prefetchInit(): void {
  memory.fill(hints, 0, <usize>16 << HINT_LG2);
  regionShift = 12 + ENTRIES_LG2;
  lastCount = 0;
  nested = false;
}

/**
 * After a walk of a request's address succeeded: where its leaf entry's table page lies in linear
 * memory, for the requests that follow in the same region.
 */
export function hintRecord(ws: WalkState): void {
  const shift = ws.pageLg2;
  const region = ws.va >>> (shift + ENTRIES_LG2);
  const h = hints + (<usize>(region & HINT_MASK) << 4);
  store<u64>(h, region + 1);
  store<u32>(h, <u32>ws.leafPage, 8);
  store<u32>(h, shift, 12);
  regionShift = shift + ENTRIES_LG2;
  if (ws.s2 !== null) nested = true;
}

/** Loads the leaf entries the hints give for `count` request records from `req`. */
export function prefetchGroup(req: usize, count: u32): void {
  const rs = regionShift;
  let acc = sink;
  // Nested: the second-stage leaves of the last group's outputs.
  for (let i: u32 = 0; i < lastCount; i++) {
    const out = load<u64>(<usize>load<u32>(lastLeaves + (<usize>i << 2))) & OUTPUT_MASK;
    acc ^= leafAt(out, rs);
  }
  let kept: u32 = 0;
  for (let i: u32 = 0; i < count; i++, req += REQ_SIZE) {
    const va = load<u64>(req, REQ_ADDR);
    const x = leafAddress(va, rs);
    if (x != 0) {
      acc ^= load<u64>(x);
      if (nested && kept < MAX_GROUP) {
        store<u32>(lastLeaves + (<usize>kept << 2), <u32>x);
        kept++;
      }
    }
  }
  lastCount = kept;
  sink = acc;
}

/** Where the hints say the leaf entry of `va` is, or 0. */
// @ts-ignore: decorator
@inline function leafAddress(va: u64, rs: u32): usize {
  const region = va >>> rs;
  const h = hints + (<usize>(region & HINT_MASK) << 4);
  if (load<u64>(h) != region + 1) return 0;
  return <usize>load<u32>(h, 8) + ((<usize>(va >>> load<u32>(h, 12)) & ((1 << ENTRIES_LG2) - 1)) << 3);
}

/** The leaf entry of `va` if the hints know it, else 0. */
// @ts-ignore: decorator
@inline function leafAt(va: u64, rs: u32): u64 {
  const x = leafAddress(va, rs);
  return x != 0 ? load<u64>(x) : 0;
}

/**
 * After request `i` of a batch of `n` took the full path (no replay: it may have walked): when
 * fewer than `group` requests ahead have had their leaf entries loaded (`prefetched`: the requests
 * before it have), loads those of the requests up to 2 x `group` ahead. Returns the new
 * `prefetched`. A run of replays calls nothing.
 */
// @ts-ignore: decorator
@inline export function prefetchAhead(i: u32, n: u32, prefetched: u32, group: u32): u32 {
  if (prefetched > i + group) return prefetched;
  const from = max(prefetched, i + 1), to = min(i + 1 + 2 * group, n);
  if (from < to) prefetchGroup(<usize>REQ_BASE + <usize>from * <usize>REQ_SIZE, to - from);
  return max(prefetched, to);
}
