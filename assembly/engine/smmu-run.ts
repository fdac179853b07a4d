// The SMMUv3 batch loop: request ring in, result ring out (arch/smmuv3/translate.ts does each
// transaction), timed like VT-d's (engine/run.ts vtdBatch): the events a transaction emitted (cache
// lookups, structure and descriptor reads, the start of a walk) go to the timing model, which
// writes its issue cycle and latency. No replay memo or device context: every transaction goes
// through its caches and, on a miss, walks its tables in guest memory. Translated requests of a
// device with a device-TLB go through it first (engine/atc.ts, as for VT-d); ATS completions fill it.
//
// With a RID-to-StreamID map (arch/smmuv3/iort.ts, the IORT root complexes) each request is first
// routed: its requester's StreamID replaces the SID in a scratch copy of the request (the ring is
// left as the host wrote it) and its root complex's CANWBS becomes the coherency flag; a requester
// no mapping covers never reaches the SMMU (status unrouted, counted in `unrouted` only, untimed).
// Everything after that, the device-TLB included, sees the StreamID, as CMD_ATC_INV names it.
import { REQ_BASE, REQ_SIZE, REQ_SID, RES_BASE, RES_SIZE, RES_STATUS, REQ_FLAGS, RQF_TRANSLATED, RQF_KIND_MASK, KIND_ATS, ST_UNROUTED, C_UNROUTED } from "../abi";
import { bump } from "../common/counters";
import { clearEvents } from "../common/events";
import { resultBegin } from "../common/result-record";
import { smmuSyncRegs, setRootComplexCanwbs } from "../arch/smmuv3/regs";
import { smmuInit, smmuTranslate } from "../arch/smmuv3/translate";
import { iortRanges, iortStreamId, iortRc, iortCanwbs, NO_STREAM } from "../arch/smmuv3/iort";
import { cachesSyncStats, clearHitTrace, hitIotlbSlot, fillIotlbSlot } from "../uarch/caches";
import { timingEnabled, timeRequest } from "../timing/model";
import { devTlbEnabled } from "../uarch/device-tlb";
import { atcTranslated, atcFillFromCompletion } from "./atc";

/** The routed copy of the current request (its SID replaced by the StreamID). */
let routed: usize = 0;

export function smmuBatch(n: u32): u32 {
  smmuInit();
  smmuSyncRegs();
  if (routed == 0) routed = heap.alloc(REQ_SIZE);
  const timed = timingEnabled();
  const atc = devTlbEnabled();
  const ranges = iortRanges();
  let req: usize = REQ_BASE, res: usize = RES_BASE;
  for (let i: u32 = 0; i < n; i++, req += REQ_SIZE, res += RES_SIZE) {
    clearEvents();
    clearHitTrace();
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
    if (atc && (flags & RQF_TRANSLATED) != 0) atcTranslated(r, res, smmuTranslate);
    else {
      smmuTranslate(r, res);
      if (atc && (flags & RQF_KIND_MASK) == KIND_ATS) atcFillFromCompletion(r, res);
    }
    if (timed) timeRequest(r, res, hitIotlbSlot, fillIotlbSlot);
  }
  cachesSyncStats();
  return n;
}
