// The SMMUv3 batch loop: request ring in, result ring out (arch/smmuv3/translate.ts does each
// transaction). The configuration cache is the only cache yet (arch/smmuv3/config-cache.ts); no
// TLB, replay memo, device context or timing: every transaction walks its tables in guest memory.
import { REQ_BASE, REQ_SIZE, RES_BASE, RES_SIZE } from "../abi";
import { clearEvents } from "../common/events";
import { smmuSyncRegs } from "../arch/smmuv3/regs";
import { smmuInit, smmuTranslate } from "../arch/smmuv3/translate";
import { cachesSyncStats } from "../uarch/caches";

export function smmuBatch(n: u32): u32 {
  smmuInit();
  smmuSyncRegs();
  let req: usize = REQ_BASE, res: usize = RES_BASE;
  for (let i: u32 = 0; i < n; i++) {
    clearEvents();
    smmuTranslate(req, res);
    req += REQ_SIZE;
    res += RES_SIZE;
  }
  cachesSyncStats();
  return n;
}
