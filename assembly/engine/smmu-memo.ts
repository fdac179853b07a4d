// NOT A MODEL OF ANY HARDWARE: the SMMUv3 side of the replay memo (engine/replay-memo.ts), a
// simulator fast path invisible in results and counters.
//
// A transaction is remembered when its STE came from the STE cache, its CD (stage 1 or nested) from
// the CD cache, and its translation from the first TLB probe that could serve it (the micro-TLB, or
// the main TLB's entries of its ASID or stage-2-only VMID): no configuration-cache miss, no TLB miss
// (a hit on a global entry after the ASID's probe missed is not remembered), nothing filled or
// invalidated, not stale, not an ATS or translated request. A replay then stands for exactly what
// the full path did (arch/smmuv3/translate.ts translate() down to tlbServes()): one hit in the STE
// cache, one in the CD cache when it was looked up, one in the TLB that served it, each touching
// the same slot's replacement state and emitting the same lookup event; the counters `transaction`
// (C_TRANSACTION), requests, translated and the No-Snoop tallies of success() / cohCount(); the
// result record with the request's own page offset.
//
// It is valid while the three slots are unchanged (so CMD_CFGI_* and CMD_TLBI_* drop exactly the
// memo entries whose STE, CD or TLB slots they emptied), the SMMU register epoch is the same
// (arch/smmuv3/regs.ts epoch: IDRs, CR0, GBPA, STRTAB_BASE(_CFG), options) and nothing wrote the
// guest pages the TLB hit's stale check reads (tlbServes -> leafUnchanged: the page of the leaf
// descriptor and, nested, of the stage-2 leaf), watched by their guest-memory slots: a write
// anywhere else (a command written to the queue, an event record, a table the translation does not
// use) leaves it valid.
import { REQ_FLAGS, RES_FLAGS, RES_STATUS, RES_LEAF_PA, RES_S2_LEAF_PA, RQF_KIND_MASK, RQF_TRANSLATED, RQF_NS, KIND_ATS, ST_OK, RSF_STALE, RSF_SNOOP,
  CACHE_CONTEXT_CACHE, CACHE_PASID_CACHE, CACHE_IOTLB, CACHE_MICRO_TLB, C_REQUESTS, C_TRANSACTION, C_TRANSLATED,
  C_NO_SNOOP_TLPS, C_SNOOPED, C_NON_SNOOPED, C_NO_SNOOP_FORCED,
} from "../abi";
import { cacheMutations } from "../uarch/cache/set-assoc";
import { countHits, hitCtxSlot, hitPasidSlot, hitIotlbSlot, hitIotlbSet, hitMicroSlot, hitMicroSet, pageMissed } from "../uarch/caches";
import { gmLayout, gmWatch } from "../common/guest-memory";
import { bumpBy } from "../common/counters";
import { configMissed } from "../arch/smmuv3/translate";
import { epoch } from "../arch/smmuv3/regs";
import { memoReplayWatched, memoKeep, memoCountReplays, memoTallied, memoTalliedWith, MR_PASID, MR_MICRO, MR_CB_SHIFT, CB_NS, CB_SNOOP, CB_FORCED } from "./replay-memo";

/** memoReplayWatched() for an SMMUv3 request: MR_* bits for smmuMemoTally, or 0 (take the full path). */
// @ts-ignore: decorator
@inline export function smmuMemoReplay(req: usize, res: usize, unread: bool, timed: bool): u32 {
  return memoReplayWatched(req, res, unread, epoch, gmLayout(), timed);
}

/**
 * After the full path (arch/smmuv3/translate.ts smmuTranslate): remembers request `req` if it was
 * served by hits alone (see the header); `mutationsBefore`: cacheMutations before it.
 */
export function smmuMemoRecord(req: usize, res: usize, mutationsBefore: u64): void {
  if (cacheMutations != mutationsBefore || configMissed || pageMissed || hitCtxSlot < 0) return;
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  if ((flags & RQF_KIND_MASK) == KIND_ATS || (flags & RQF_TRANSLATED) != 0) return;
  const rf = load<u32>(res, RES_FLAGS);
  if (load<u8>(res, RES_STATUS) != ST_OK || (rf & RSF_STALE) != 0) return;
  const ns = (flags & RQF_NS) != 0;
  const snoop = (rf & RSF_SNOOP) != 0;
  const cb: u32 = (ns ? CB_NS : 0) | (snoop ? CB_SNOOP : 0) | (ns && snoop ? CB_FORCED : 0);
  // the pages leafUnchanged() reads: the leaf's, and a stage-2 leaf's other than it
  const leafPa = load<u64>(res, RES_LEAF_PA), s2LeafPa = load<u64>(res, RES_S2_LEAF_PA);
  const w1 = gmWatch(leafPa);
  const w2 = s2LeafPa != 0 && s2LeafPa != leafPa ? gmWatch(s2LeafPa) : 0;
  if (w1 == 0 || (s2LeafPa != 0 && s2LeafPa != leafPa && w2 == 0)) return; // (a hit that is not stale read both)
  if (hitMicroSlot >= 0) memoKeep(req, res, hitPasidSlot, CACHE_MICRO_TLB, hitMicroSlot, hitMicroSet, epoch, gmLayout(), w1, w2, cb);
  else if (hitIotlbSlot >= 0) memoKeep(req, res, hitPasidSlot, CACHE_IOTLB, hitIotlbSlot, hitIotlbSet, epoch, gmLayout(), w1, w2, cb);
}

/**
 * Counts the batch's replays (memoCountReplay) as the full path would have counted each: an
 * STE-cache hit each, a CD-cache hit for those with MR_PASID, a micro-TLB hit for those with
 * MR_MICRO and a main-TLB hit for the others; requests, `transaction` and translated one each; the
 * No-Snoop tallies from their counter bits (cohCount).
 */
export function smmuMemoTally(): void {
  const n = memoTallied();
  if (n == 0) return;
  const microHits = memoTalliedWith(MR_MICRO);
  const cdHits = memoTalliedWith(MR_PASID);
  const snoop = memoTalliedWith(CB_SNOOP << MR_CB_SHIFT);
  memoCountReplays(n);
  countHits(CACHE_CONTEXT_CACHE, n);
  if (cdHits != 0) countHits(CACHE_PASID_CACHE, cdHits);
  if (microHits != 0) countHits(CACHE_MICRO_TLB, microHits);
  if (n != microHits) countHits(CACHE_IOTLB, n - microHits);
  bumpBy(C_REQUESTS, n);
  bumpBy(C_TRANSACTION, n);
  bumpBy(C_TRANSLATED, n);
  bumpBy(C_NO_SNOOP_TLPS, memoTalliedWith(CB_NS << MR_CB_SHIFT));
  bumpBy(C_SNOOPED, snoop);
  bumpBy(C_NON_SNOOPED, n - snoop);
  bumpBy(C_NO_SNOOP_FORCED, memoTalliedWith(CB_FORCED << MR_CB_SHIFT));
}
