// The SMMUv3 batch loop: request ring in, result ring out (arch/smmuv3/translate.ts does each
// transaction), timed like VT-d's (engine/run.ts vtdBatch): the events a transaction emitted (cache
// lookups, structure and descriptor reads, the start of a walk) go to the timing model, which
// writes its issue cycle and latency. No replay memo or device context: every transaction goes
// through its caches and, on a miss, walks its tables in guest memory. Translated requests of a
// device with a device-TLB go through it first (engine/atc.ts, as for VT-d); ATS completions fill it.
import { REQ_BASE, REQ_SIZE, RES_BASE, RES_SIZE, REQ_FLAGS, RQF_TRANSLATED, RQF_KIND_MASK, KIND_ATS } from "../abi";
import { clearEvents } from "../common/events";
import { smmuSyncRegs } from "../arch/smmuv3/regs";
import { smmuInit, smmuTranslate } from "../arch/smmuv3/translate";
import { cachesSyncStats, clearHitTrace, hitIotlbSlot, fillIotlbSlot } from "../uarch/caches";
import { timingEnabled, timeRequest } from "../timing/model";
import { devTlbEnabled } from "../uarch/device-tlb";
import { atcTranslated, atcFillFromCompletion } from "./atc";

export function smmuBatch(n: u32): u32 {
  smmuInit();
  smmuSyncRegs();
  const timed = timingEnabled();
  const atc = devTlbEnabled();
  let req: usize = REQ_BASE, res: usize = RES_BASE;
  for (let i: u32 = 0; i < n; i++) {
    clearEvents();
    clearHitTrace();
    const flags = <u32>load<u16>(req, REQ_FLAGS);
    if (atc && (flags & RQF_TRANSLATED) != 0) atcTranslated(req, res, smmuTranslate);
    else {
      smmuTranslate(req, res);
      if (atc && (flags & RQF_KIND_MASK) == KIND_ATS) atcFillFromCompletion(req, res);
    }
    if (timed) timeRequest(req, res, hitIotlbSlot, fillIotlbSlot);
    req += REQ_SIZE;
    res += RES_SIZE;
  }
  cachesSyncStats();
  return n;
}
