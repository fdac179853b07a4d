// The batch loop: request ring in, result ring out. One call translates `n` records; nothing
// crosses the JS/WASM boundary per request.
//
// Translated requests (AT=10b) of a device that has a device-TLB go through it first (engine/atc.ts,
// shared with the SMMUv3 loop); ATS completions fill the device-TLB.
import { DEBUG } from "../common/debug";
import {
  CTRL_BASE, CTRL_ARCH, ARCH_SMMUV3, REQ_BASE, REQ_SIZE, RES_BASE, RES_SIZE, RING_RECORDS, REQ_FLAGS, RQF_KIND_MASK, RQF_TRANSLATED, KIND_ATS,
  OPT_NO_REPLAY_MEMO, OPT_RESULTS_UNREAD, OPT_LOOKAHEAD_SHIFT, OPT_LOOKAHEAD_MASK,
} from "../abi";
import { vtdSyncRegs } from "../arch/vtd/regs";
import { vtdTranslate } from "../arch/vtd/translate";
import { vtdCountersFlush } from "../arch/vtd/result";
import { smmuBatch } from "./smmu-run";
import { cachesSyncStats, clearHitTrace, hitIotlbSlot, fillIotlbSlot } from "../uarch/caches";
import { wirePorts } from "./wiring";
import { clearEvents } from "../common/events";
import { markStaleRequest } from "../common/result-record";
import { timingEnabled, timeRequest } from "../timing/model";
import { cacheMutations } from "../uarch/cache/set-assoc";
import { memoInit, memoReplay, memoRecord, memoTally, memoCountReplay } from "./replay-memo";
import { deviceContextInit, deviceContextEnable, translateKeepingContext } from "./device-context";
import * as regs from "../arch/vtd/regs";
import { devTlbEnabled } from "../uarch/device-tlb";
import { atcInit, atcTranslated, atcFillFromCompletion } from "./atc";
import { gmWriteGeneration } from "../common/guest-memory";
import { p2pWindows, p2pRoute } from "./p2p";
import { prefetchInit, prefetchAhead } from "./prefetch";

/** The one result record of a batch whose results nobody reads (OPT_RESULTS_UNREAD). */
let unreadRes: usize = 0;

export function engineInit(): void {
  atcInit();
  unreadRes = heap.alloc(RES_SIZE);
  memoInit();
  deviceContextInit();
  prefetchInit();
  wirePorts();
}

/** VT-d's translation of one request, as the device-TLB path calls it. */
function vtdTranslateOne(req: usize, res: usize): void {
  vtdTranslate(req, res);
}

/** Translates `n` request records of the ring: the architecture of the unit (CTRL_ARCH) decides how. */
export function runBatch(n: u32): u32 {
  if (DEBUG) assert(n <= RING_RECORDS);
  if (n > RING_RECORDS) n = RING_RECORDS;
  const arch = load<u32>(CTRL_BASE + CTRL_ARCH);
  if (arch == ARCH_SMMUV3) return smmuBatch(n, unreadRes);
  return vtdBatch(n);
}

function vtdBatch(n: u32): u32 {
  vtdSyncRegs();
  const atc = devTlbEnabled();
  const useMemo = (regs.options & OPT_NO_REPLAY_MEMO) == 0 && regs.translationEnabled;
  const legacy = regs.ttm == 0;
  const timed = timingEnabled();
  deviceContextEnable(useMemo);
  // Results nobody reads go to one scratch record (the timing model and the fills still read it).
  const unread = (regs.options & OPT_RESULTS_UNREAD) != 0;
  const resStep: usize = unread ? 0 : RES_SIZE;
  let req: usize = REQ_BASE, res: usize = unread ? unreadRes : RES_BASE;
  // Look-ahead (abi Opt.LOOKAHEAD): after a full-path request, the next requests' leaf entries.
  const ahead = (regs.options & OPT_LOOKAHEAD_MASK) >>> OPT_LOOKAHEAD_SHIFT;
  let prefetched: u32 = 0;
  const p2p = p2pWindows(); // the root complex's peer-to-peer windows (engine/p2p.ts), before the IOMMU
  for (let i: u32 = 0; i < n; i++) {
    if (p2p != 0 && p2pRoute(req, res, p2p)) {
      req += REQ_SIZE;
      res += resStep;
      continue;
    }
    const flags = <u32>load<u16>(req, REQ_FLAGS);
    clearEvents();
    // The IOTLB slot this request filled (-1: none), for the timing model.
    let filled: i32 = -1;
    if (atc && (flags & RQF_TRANSLATED) != 0) {
      clearHitTrace();
      atcTranslated(req, res, vtdTranslateOne);
      markStaleRequest(req, res);
      filled = fillIotlbSlot;
    } else {
      const r = useMemo ? memoReplay(req, res, unread, regs.epoch, gmWriteGeneration(), timed) : 0;
      if (r != 0) {
        // (a replay fills nothing; timed, it traces its IOTLB hit for timeRequest)
        memoCountReplay(r); // counted at the end of the batch (memoTally)
      } else {
        clearHitTrace();
        const before = cacheMutations;
        translateKeepingContext(req, res);
        if (ahead != 0) prefetched = prefetchAhead(i, n, prefetched, ahead);
        if (atc && (flags & RQF_KIND_MASK) == KIND_ATS) atcFillFromCompletion(req, res);
        else if (useMemo) memoRecord(req, res, before, legacy);
        markStaleRequest(req, res);
        filled = fillIotlbSlot;
      }
    }
    if (timed) timeRequest(req, res, hitIotlbSlot, filled);
    req += REQ_SIZE;
    res += resStep;
  }
  // The run counters, tallied over the batch by the full path and the memo, written once.
  memoTally();
  vtdCountersFlush();
  cachesSyncStats();
  return n;
}
