// NOT A MODEL OF ANY HARDWARE: a simulator fast path, invisible in results and counters.
//
// A request that the configuration caches (VT-d: context and PASID caches; SMMUv3: the STE and CD
// caches) and a TLB (the IOTLB, or the SMMUv3 micro-TLB) all served by hits (no fill, no walk, no
// A/D write, nothing stale) is remembered with the cache slots it hit and its exact result record.
// A later request with the same source ID, PASID, translation-relevant flags and 4 KiB page is
// replayed from the memo - the same lookup/hit counts, the same replacement-policy touches on the
// same slots, the same run counters and result (with its own page offset) - as long as nothing
// that could change the outcome has happened since: none of the slots it hit has changed (their
// generations, uarch SetAssoc.generation: a fill or invalidation elsewhere in the caches does not
// matter, so an invalidation drops exactly the memo entries whose slots it emptied), no register or
// option change (the architecture's register epoch), no write to the guest memory the translation
// depends on: VT-d any host write (the write generation its stale detection uses); SMMUv3 a write to
// the page of its leaf descriptor or of its stage-2 leaf (the pages its stale detection reads,
// watched by their guest-memory slots and write counts, common/guest-memory.ts gmWatch; then the
// "write generation" is the slot layout, gmLayout). Anything else takes the full path.
// The architecture's batch loop decides what is worth remembering and counts the replays
// (engine/run.ts for VT-d, engine/smmu-memo.ts for SMMUv3); the memo itself knows no architecture.
//
// Memo entry (256 bytes, direct-mapped, 2^MEMO_LG2 of them):
//   0 sid | flags << 32   8 vpn (va >> 12)   16 pasid   20 regs epoch   24 write generation
//   28 page size lg2 | counter bits << 8
//   32 ctx slot, set, generation   44 PASID slot, set, generation   56 TLB slot, set, generation
//   68 TLB cache id   72 watched page slot, its write count   80 a second watched page slot, count
//   88 cacheMutations when the slots' generations were last seen to match (u64)
//   96 the context slot's LRU stamp address (0: not LRU); 100 the PASID slot's; 104 the TLB slot's
//      (u32 each): a replay touches an LRU slot by its stamp, without finding the cache or its policy
//   128..191 the result record
//
// The slot generations are compared only when some cache has changed since the entry's slots were
// last seen unchanged (offset 88 differs from cacheMutations): in a run of hits, when nothing is
// filled or invalidated anywhere, one comparison stands for all three.
import { DEBUG } from "../common/debug";
import {
  REQ_ADDR, REQ_SID, REQ_PASID, REQ_FLAGS, RES_SIZE, RES_PA, RES_STATUS, RES_FLAGS, RES_SNOOP_BY, RES_PAGE_LG2, RQF_KIND_MASK,
  RQF_PASID, RQF_PRIV, RQF_EXE, RQF_NS, RQF_TRANSLATED, RQF_NW, KIND_ATS, ST_OK, RSF_SNOOP, RSF_STALE, SNOOP_BY_PGSNP,
  CACHE_CONTEXT_CACHE, CACHE_PASID_CACHE, CACHE_IOTLB, CACHE_MICRO_TLB,
} from "../abi";
import { cacheMutations } from "../uarch/cache/set-assoc";
import { replayTouchNext, stampsBegin, stampsDone, traceHit, keepLruStamp, countHits, slotGeneration, hitCtxSlot, hitCtxSet, hitPasidSlot, hitPasidSet, hitIotlbSlot, hitIotlbSet } from "../uarch/caches";
import { gmWriteGeneration, gmWatchedWrites } from "../common/guest-memory";
import { emit, EV_LOOKUP } from "../common/events";
import { vtdTallyReplays } from "../arch/vtd/result";
import * as regs from "../arch/vtd/regs";

const MEMO_LG2: u32 = 10;
const ENTRY_LG2: u32 = 8;
const RESULT: usize = 128;
const KEY_FLAGS: u32 = RQF_KIND_MASK | RQF_PASID | RQF_PRIV | RQF_EXE | RQF_NS | RQF_TRANSLATED | RQF_NW;

// counter bits (what success() counted for the memoised request)
export const CB_NS: u32 = 1;
export const CB_SNOOP: u32 = 2;
export const CB_FORCED_PGSNP: u32 = 4;
export const CB_FORCED_PTE: u32 = 8;
/** SMMUv3: a No-Snoop TLP made coherent (C_NO_SNOOP_FORCED alone). */
export const CB_FORCED: u32 = 16;

let memo: usize = 0;
/**
 * Requests replayed from the memo since the caches were last configured (both architectures'
 * tallies add to it): a diagnostic of the fast path (the core's memoReplays export), in no result.
 */
export let replayCount: u32 = 0;

/** Adds a batch's `n` replays to replayCount (the architecture's tally calls it). */
// @ts-ignore: decorator
@inline export function memoCountReplays(n: u32): void {
  replayCount += n;
}

export function memoInit(): void {
  memo = heap.alloc((<usize>1 << MEMO_LG2) << ENTRY_LG2);
  memoClear();
}

/** Forgets every remembered request (the caches were rebuilt: their slot generations restarted). */
export function memoClear(): void {
  memory.fill(memo, 0, (<usize>1 << MEMO_LG2) << ENTRY_LG2);
  replayCount = 0;
}

// @ts-ignore: decorator
@inline function entryFor(sid: u32, pasid: u32, vpn: u64, flags: u32): usize {
  const h = (vpn ^ (<u64>sid << 20) ^ (<u64>pasid << 36) ^ (<u64>(flags & KEY_FLAGS) << 56)) * 0x9e3779b97f4a7c15;
  return memo + (<usize>(h >>> (64 - MEMO_LG2)) << ENTRY_LG2);
}

// What memoReplay() returns for a replayed request (0: not replayed): MR_REPLAYED, MR_PASID when it
// hit the PASID cache too, and the counter bits (CB_*) at MR_CB_SHIFT. The caller tallies them for
// the batch (memoCountReplay, then memoTallied), so a replay writes no counter.
export const MR_REPLAYED: u32 = 1;
export const MR_PASID: u32 = 2;
/** The TLB slot replayed was the SMMUv3 micro-TLB's, not the IOTLB's. */
export const MR_MICRO: u32 = 4;
export const MR_CB_SHIFT: u32 = 3;

// ---- the batch's tally of replays ------------------------------------------------------------------
//
// A replay's kind is what memoReplay() returned but MR_REPLAYED (r >>> 1: MR_PASID, MR_MICRO and
// the five counter bits, 7 bits). The batch loop counts replays per kind, one increment each, and
// memoTallied() turns the histogram into the counts the architecture adds at the end of the batch:
// how many replays in all, and how many had each bit.
const KIND_BITS: u32 = 7;
const replayKinds = new StaticArray<u32>(1 << KIND_BITS);
const kindBitCounts = new StaticArray<u32>(KIND_BITS);

/** Counts replay `r` (a non-zero memoReplay() result) in the batch's tally. */
// @ts-ignore: decorator
@inline export function memoCountReplay(r: u32): void {
  if (DEBUG) assert((r & MR_REPLAYED) != 0 && (r >>> (KIND_BITS + 1)) == 0);
  const k = <i32>(r >>> 1);
  unchecked((replayKinds[k] = unchecked(replayKinds[k]) + 1));
}

/**
 * The batch's replays in all, counted since the last call; afterwards memoTalliedWith(bit) says how
 * many of them had MR_* bit `bit` (MR_PASID, MR_MICRO, or a CB_* bit shifted by MR_CB_SHIFT). The
 * tally starts again at zero.
 */
export function memoTallied(): u32 {
  let n: u32 = 0;
  for (let b: u32 = 0; b < KIND_BITS; b++) unchecked((kindBitCounts[b] = 0));
  for (let k: u32 = 0; k < (<u32>1 << KIND_BITS); k++) {
    const c = unchecked(replayKinds[k]);
    if (c == 0) continue;
    unchecked((replayKinds[k] = 0));
    n += c;
    for (let bits = k; bits != 0; bits &= bits - 1) {
      const b = ctz(bits);
      unchecked((kindBitCounts[b] = unchecked(kindBitCounts[b]) + c));
    }
  }
  return n;
}

/** After memoTallied(): how many of its replays had MR_* bit `bit` (a single bit above MR_REPLAYED). */
// @ts-ignore: decorator
@inline export function memoTalliedWith(bit: u32): u32 {
  if (DEBUG) assert(bit > MR_REPLAYED && popcnt(bit) == 1 && bit < (<u32>2 << KIND_BITS));
  return unchecked(kindBitCounts[ctz(bit) - 1]);
}

/**
 * Replays request `req` from the memo into `res` if it can: the result record (with `unread`,
 * only its status) and the caches' replacement state, exactly as the full path would leave them.
 * `epoch` and `writeGen` are the architecture's register epoch and guest-memory write generation
 * now; `timed`: the timing model is on (then the replay also emits the lookups' events and traces
 * the TLB hit, which it reads). Returns 0 if it cannot, else MR_* bits for the caller's per-batch
 * tally.
 */
export function memoReplay(req: usize, res: usize, unread: bool, epoch: u32, writeGen: u32, timed: bool): u32 {
  return replayEntry(req, res, unread, epoch, writeGen, timed, false);
}

/**
 * memoReplay() for entries kept with a TLB other than the IOTLB or with watched guest pages
 * (memoKeep's `tlbId`, `watch1`, `watch2`: SMMUv3). VT-d's entries never have them, so its batch
 * loop calls memoReplay(), whose body is this one with those checks folded away at compile time.
 */
export function memoReplayWatched(req: usize, res: usize, unread: bool, epoch: u32, writeGen: u32, timed: bool): u32 {
  return replayEntry(req, res, unread, epoch, writeGen, timed, true);
}

// @ts-ignore: decorator
@inline function replayEntry(req: usize, res: usize, unread: bool, epoch: u32, writeGen: u32, timed: bool, watched: bool): u32 {
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  const sid = load<u32>(req, REQ_SID);
  const pasid = (flags & RQF_PASID) != 0 ? load<u32>(req, REQ_PASID) : 0;
  const va = load<u64>(req, REQ_ADDR);
  const vpn = va >>> 12;
  const m = entryFor(sid, pasid, vpn, flags);
  if (load<u64>(m, 0) != ((<u64>sid) | ((<u64>(flags & KEY_FLAGS)) << 32)) || load<u64>(m, 8) != vpn || load<u32>(m, 16) != pasid) return 0;
  if (load<u32>(m, 20) != epoch || load<u32>(m, 24) != writeGen) return 0;
  const cs = load<i32>(m, 32), ps = load<i32>(m, 44), is = load<i32>(m, 56);
  const tlb = watched ? load<u32>(m, 68) : CACHE_IOTLB;
  const mutations = cacheMutations;
  if (load<u64>(m, 88) != mutations) {
    // some cache changed since: were these slots among what changed?
    if (slotGeneration(CACHE_CONTEXT_CACHE, cs) != load<u32>(m, 40) || slotGeneration(tlb, is) != load<u32>(m, 64)) return 0;
    if (ps >= 0 && slotGeneration(CACHE_PASID_CACHE, ps) != load<u32>(m, 52)) return 0;
    store<u64>(m, mutations, 88);
  }
  if (watched) {
    const w1 = <usize>load<u32>(m, 72), w2 = <usize>load<u32>(m, 80);
    if (w1 != 0 && gmWatchedWrites(w1) != load<u32>(m, 76)) return 0;
    if (w2 != 0 && gmWatchedWrites(w2) != load<u32>(m, 84)) return 0;
  }
  // The policies' touches, with one read and one write of the LRU clock for the three.
  let now = stampsBegin();
  now = replayTouchNext(CACHE_CONTEXT_CACHE, cs, load<u32>(m, 36), <usize>load<u32>(m, 96), now);
  if (ps >= 0) now = replayTouchNext(CACHE_PASID_CACHE, ps, load<u32>(m, 48), <usize>load<u32>(m, 100), now);
  now = replayTouchNext(tlb, is, load<u32>(m, 60), <usize>load<u32>(m, 104), now);
  stampsDone(now);
  if (timed) {
    // what the timing model reads: the three lookups' events, and the TLB hit (the other hit traces
    // are read only by the full path's memoRecord and device-context keeping, which clear them first)
    emit(EV_LOOKUP, CACHE_CONTEXT_CACHE, 1);
    if (ps >= 0) emit(EV_LOOKUP, CACHE_PASID_CACHE, 1);
    emit(EV_LOOKUP, tlb, 1);
    traceHit(tlb, is, load<u32>(m, 60));
  }
  const cb = load<u32>(m, 28) >>> 8;
  const replayed = MR_REPLAYED | (ps >= 0 ? MR_PASID : 0) | (watched && tlb == CACHE_MICRO_TLB ? MR_MICRO : 0) | (cb << MR_CB_SHIFT);
  if (unread) {
    // Nobody reads the record: only its status, which the timing model reads (a memo is of a success).
    store<u8>(res, ST_OK, RES_STATUS);
    return replayed;
  }
  // Eight plain 64-bit copies (V8 turns memory.copy into an out-of-line call).
  store<u64>(res, load<u64>(m, RESULT), 0);
  store<u64>(res, load<u64>(m, RESULT + 8), 8);
  store<u64>(res, load<u64>(m, RESULT + 16), 16);
  store<u64>(res, load<u64>(m, RESULT + 24), 24);
  store<u64>(res, load<u64>(m, RESULT + 32), 32);
  store<u64>(res, load<u64>(m, RESULT + 40), 40);
  store<u64>(res, load<u64>(m, RESULT + 48), 48);
  store<u64>(res, load<u64>(m, RESULT + 56), 56);
  const pageMask = (<u64>1 << (load<u32>(m, 28) & 0xff)) - 1;
  store<u64>(res, (load<u64>(res, RES_PA) & ~pageMask) | (va & pageMask), RES_PA);
  return replayed;
}

/**
 * Counts the batch's VT-d replays (memoCountReplay) at once, as the full path would have counted
 * each: requests translated by hits in the context cache and IOTLB (MR_PASID: in the PASID cache
 * too), and the run counters from their counter bits (added to the batch's tallies of the full
 * path, arch/vtd/result.ts, which the engine writes once with vtdCountersFlush).
 */
export function memoTally(): void {
  const n = memoTallied();
  if (n == 0) return;
  memoCountReplays(n);
  countHits(CACHE_CONTEXT_CACHE, n);
  const pasidHits = memoTalliedWith(MR_PASID);
  if (pasidHits != 0) countHits(CACHE_PASID_CACHE, pasidHits);
  countHits(CACHE_IOTLB, n);
  vtdTallyReplays(n, memoTalliedWith(CB_NS << MR_CB_SHIFT), memoTalliedWith(CB_SNOOP << MR_CB_SHIFT), memoTalliedWith(CB_FORCED_PGSNP << MR_CB_SHIFT), memoTalliedWith(CB_FORCED_PTE << MR_CB_SHIFT));
}

/**
 * After the full path: remembers request `req` if it was served entirely by cache hits (the caller
 * says whether any cache changed during it).
 */
export function memoRecord(req: usize, res: usize, mutationsBefore: u64, legacy: bool): void {
  if (cacheMutations != mutationsBefore) return; // something was filled or invalidated: not all hits
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  if ((flags & RQF_KIND_MASK) == KIND_ATS || (flags & RQF_TRANSLATED) != 0) return;
  if (load<u8>(res, RES_STATUS) != ST_OK || (load<u32>(res, RES_FLAGS) & RSF_STALE) != 0) return;
  if (hitCtxSlot < 0 || hitIotlbSlot < 0 || (!legacy && hitPasidSlot < 0)) return;
  const ns = (flags & RQF_NS) != 0;
  const snoop = (load<u32>(res, RES_FLAGS) & RSF_SNOOP) != 0;
  let cb: u32 = (ns ? CB_NS : 0) | (snoop ? CB_SNOOP : 0);
  if (ns && snoop) cb |= load<u8>(res, RES_SNOOP_BY) == SNOOP_BY_PGSNP ? CB_FORCED_PGSNP : CB_FORCED_PTE;
  memoKeep(req, res, legacy ? -1 : hitPasidSlot, CACHE_IOTLB, hitIotlbSlot, hitIotlbSet, regs.epoch, gmWriteGeneration(), 0, 0, cb);
}

/**
 * Remembers request `req` with its result `res`: served by the context (STE) cache hit the hit
 * trace names, the PASID (CD) cache hit `pasidSlot` (-1: none), and the hit on `tlbSlot` in `tlbSet`
 * of TLB cache `tlbId`, in register epoch `epoch` and guest-memory write generation `writeGen`,
 * depending on the guest pages whose slots are `watch1` and `watch2` (gmWatch; 0: none);
 * `cb`: the counter bits (CB_*) the caller's tally counts for a replay of it.
 */
export function memoKeep(req: usize, res: usize, pasidSlot: i32, tlbId: u32, tlbSlot: i32, tlbSet: u32, epoch: u32, writeGen: u32, watch1: usize, watch2: usize, cb: u32): void {
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  const sid = load<u32>(req, REQ_SID);
  const pasid = (flags & RQF_PASID) != 0 ? load<u32>(req, REQ_PASID) : 0;
  const va = load<u64>(req, REQ_ADDR);
  const m = entryFor(sid, pasid, va >>> 12, flags);
  store<u64>(m, (<u64>sid) | ((<u64>(flags & KEY_FLAGS)) << 32), 0);
  store<u64>(m, va >>> 12, 8);
  store<u32>(m, pasid, 16);
  store<u32>(m, epoch, 20);
  store<u32>(m, writeGen, 24);
  store<i32>(m, hitCtxSlot, 32);
  store<u32>(m, hitCtxSet, 36);
  store<u32>(m, slotGeneration(CACHE_CONTEXT_CACHE, hitCtxSlot), 40);
  store<i32>(m, pasidSlot, 44);
  store<u32>(m, hitPasidSet, 48);
  store<u32>(m, pasidSlot >= 0 ? slotGeneration(CACHE_PASID_CACHE, pasidSlot) : 0, 52);
  store<i32>(m, tlbSlot, 56);
  store<u32>(m, tlbSet, 60);
  store<u32>(m, slotGeneration(tlbId, tlbSlot), 64);
  store<u32>(m, tlbId, 68);
  store<u32>(m, <u32>watch1, 72);
  store<u32>(m, watch1 != 0 ? gmWatchedWrites(watch1) : 0, 76);
  store<u32>(m, <u32>watch2, 80);
  store<u32>(m, watch2 != 0 ? gmWatchedWrites(watch2) : 0, 84);
  store<u64>(m, cacheMutations, 88);
  keepLruStamp(m + 96, CACHE_CONTEXT_CACHE, hitCtxSlot);
  if (pasidSlot >= 0) keepLruStamp(m + 100, CACHE_PASID_CACHE, pasidSlot);
  keepLruStamp(m + 104, tlbId, tlbSlot);
  store<u32>(m, <u32>load<u8>(res, RES_PAGE_LG2) | (cb << 8), 28);
  memory.copy(m + RESULT, res, RES_SIZE);
}
