// The SMMUv3 batch loop: request ring in, result ring out (arch/smmuv3/translate.ts does each
// transaction), timed like VT-d's (engine/run.ts vtdBatch): the events a transaction emitted (cache
// lookups, structure and descriptor reads, the start of a walk) go to the timing model, which
// writes its issue cycle and latency. A transaction served by hits alone is remembered and its
// repeats replayed from the replay memo (engine/smmu-memo.ts; not with Opt.TLB_CONFLICT, whose
// detection looks at every entry of a hit's address); every other one goes through its caches and,
// on a miss, walks its tables in guest memory, with the stream context of the transaction before
// it where that is still valid (engine/smmu-context.ts). Both fast paths are off with abi
// Opt.NO_REPLAY_MEMO.
// Translated requests of a device with a device-TLB go through it first (engine/atc.ts, as for
// VT-d); ATS completions fill it. Results nobody reads (abi Opt.RESULTS_UNREAD) go to one scratch
// record, as in VT-d's loop.
//
// With a RID-to-StreamID map (arch/smmuv3/iort.ts, the IORT root complexes) each request is first
// routed: its requester's StreamID replaces the SID in a scratch copy of the request (the ring is
// left as the host wrote it) and its root complex's CANWBS becomes the coherency flag; a requester
// no mapping covers never reaches the SMMU (status unrouted, counted in `unrouted` only, untimed).
// Everything after that, the device-TLB included, sees the StreamID, as CMD_ATC_INV names it. The
// memo is keyed by the request as the host wrote it (its requester ID), which decides both the
// StreamID and the root complex's CANWBS (the map is written once at set-up).
// Before all of it, a request into one of its requester's peer-to-peer windows (engine/p2p.ts) is
// routed to the peer by the root complex: status p2p, untimed.
import {
  REQ_BASE, REQ_SIZE, REQ_SID, RES_BASE, RES_SIZE, RES_STATUS, REQ_FLAGS, RQF_TRANSLATED, RQF_KIND_MASK, KIND_ATS, ST_UNROUTED, C_UNROUTED,
  CTRL_BASE, CTRL_OPTIONS, OPT_NO_REPLAY_MEMO, OPT_RESULTS_UNREAD, OPT_LOOKAHEAD_SHIFT, OPT_LOOKAHEAD_MASK,
} from "../abi";
import { bump } from "../common/counters";
import { clearEvents } from "../common/events";
import { markStaleRequest, resultBegin } from "../common/result-record";
import { smmuSyncRegs, setRootComplexCanwbs, smmuEnabled, tlbConflictEvent } from "../arch/smmuv3/regs";
import { smmuInit, smmuTranslate } from "../arch/smmuv3/translate";
import { iortRanges, iortStreamId, iortRc, iortCanwbs, NO_STREAM } from "../arch/smmuv3/iort";
import { cachesSyncStats, clearHitTrace, hitIotlbSlot, fillIotlbSlot } from "../uarch/caches";
import { cacheMutations } from "../uarch/cache/set-assoc";
import { timingEnabled, timeRequest } from "../timing/model";
import { devTlbEnabled } from "../uarch/device-tlb";
import { atcTranslated, atcFillFromCompletion } from "./atc";
import { smmuMemoReplay, smmuMemoRecord, smmuMemoTally } from "./smmu-memo";
import { smmuTranslateKeeping } from "./smmu-context";
import { memoCountReplay, MR_MICRO } from "./replay-memo";
import { p2pWindows, p2pRoute, doorbells, doorbellCheck } from "./p2p";
import { prefetchAhead } from "./prefetch";

/** The routed copy of the current request (its SID replaced by the StreamID). */
let routed: usize = 0;

/** `unreadRes`: the one result record of a batch whose results nobody reads (engine/run.ts). */
export function smmuBatch(n: u32, unreadRes: usize): u32 {
  smmuInit();
  smmuSyncRegs();
  if (routed == 0) routed = heap.alloc(REQ_SIZE);
  const timed = timingEnabled();
  const atc = devTlbEnabled();
  const ranges = iortRanges();
  const p2p = p2pWindows(); // the root complex's peer-to-peer windows (engine/p2p.ts), by requester ID before the IORT map
  const bells = doorbells(); // MSI doorbells behind the SMMU: a write translated into one is an interrupt
  const options = load<u32>(CTRL_BASE + CTRL_OPTIONS);
  const useContext = (options & OPT_NO_REPLAY_MEMO) == 0 && smmuEnabled;
  const useMemo = useContext && !tlbConflictEvent;
  const unread = (options & OPT_RESULTS_UNREAD) != 0;
  const resStep: usize = unread ? 0 : RES_SIZE;
  let req: usize = REQ_BASE, res: usize = unread ? unreadRes : RES_BASE;
  // Look-ahead (abi Opt.LOOKAHEAD): after a full-path transaction, the next ones' leaf entries.
  const ahead = (options & OPT_LOOKAHEAD_MASK) >>> OPT_LOOKAHEAD_SHIFT;
  let prefetched: u32 = 0;
  for (let i: u32 = 0; i < n; i++, req += REQ_SIZE, res += resStep) {
    clearEvents();
    if (p2p != 0 && p2pRoute(req, res, p2p)) continue;
    let r = req;
    if (ranges != 0) {
      const sid = iortStreamId(load<u32>(req, REQ_SID), ranges);
      if (sid == NO_STREAM) {
        resultBegin(res);
        store<u8>(res, ST_UNROUTED, RES_STATUS);
        bump(C_UNROUTED);
        continue;
      }
      memory.copy(routed, req, REQ_SIZE);
      store<u32>(routed, sid, REQ_SID);
      setRootComplexCanwbs(iortCanwbs(iortRc));
      r = routed;
    }
    const flags = <u32>load<u16>(r, REQ_FLAGS);
    // The main-TLB slot this transaction hit and the one it filled (-1: none), for the timing model.
    let hit: i32 = -1, filled: i32 = -1;
    if (atc && (flags & RQF_TRANSLATED) != 0) {
      clearHitTrace();
      atcTranslated(r, res, smmuTranslate);
      markStaleRequest(req, res);
      hit = hitIotlbSlot;
      filled = fillIotlbSlot;
    } else {
      const m = useMemo ? smmuMemoReplay(req, res, unread, timed) : 0;
      if (m != 0) {
        memoCountReplay(m); // counted at the end of the batch (smmuMemoTally)
        // (a replay fills nothing; timed, it traces its TLB hit for timeRequest: a micro-TLB hit is
        // no main-TLB hit; untimed, `hit` goes unread)
        if ((m & MR_MICRO) == 0) hit = hitIotlbSlot;
      } else {
        clearHitTrace();
        const before = cacheMutations;
        smmuTranslateKeeping(r, res, useContext);
        if (ahead != 0) prefetched = prefetchAhead(i, n, prefetched, ahead);
        if (atc && (flags & RQF_KIND_MASK) == KIND_ATS) atcFillFromCompletion(r, res);
        else if (useMemo) smmuMemoRecord(req, res, before);
        markStaleRequest(req, res);
        hit = hitIotlbSlot;
        filled = fillIotlbSlot;
      }
    }
    if (bells != 0) doorbellCheck(r, res, bells);
    if (timed) timeRequest(r, res, hit, filled);
  }
  smmuMemoTally();
  cachesSyncStats();
  return n;
}
