// The SMMUv3 batch loop: request ring in, result ring out (arch/smmuv3/translate.ts does each
// transaction), timed like VT-d's (engine/run.ts vtdBatch): the events a transaction emitted (cache
// lookups, structure and descriptor reads, the start of a walk) go to the timing model, which
// writes its issue cycle and latency. No replay memo or device context: every transaction goes
// through its caches and, on a miss, walks its tables in guest memory.
import { REQ_BASE, REQ_SIZE, RES_BASE, RES_SIZE } from "../abi";
import { clearEvents } from "../common/events";
import { smmuSyncRegs } from "../arch/smmuv3/regs";
import { smmuInit, smmuTranslate } from "../arch/smmuv3/translate";
import { cachesSyncStats, clearHitTrace, hitIotlbSlot, fillIotlbSlot } from "../uarch/caches";
import { timingEnabled, timeRequest } from "../timing/model";

export function smmuBatch(n: u32): u32 {
  smmuInit();
  smmuSyncRegs();
  const timed = timingEnabled();
  let req: usize = REQ_BASE, res: usize = RES_BASE;
  for (let i: u32 = 0; i < n; i++) {
    clearEvents();
    clearHitTrace();
    smmuTranslate(req, res);
    if (timed) timeRequest(req, res, hitIotlbSlot, fillIotlbSlot);
    req += REQ_SIZE;
    res += RES_SIZE;
  }
  cachesSyncStats();
  return n;
}
