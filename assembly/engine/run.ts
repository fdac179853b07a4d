// The batch loop: request ring in, result ring out. One call translates `n` records; nothing
// crosses the JS/WASM boundary per request.
import { DEBUG } from "../common/debug";
import { REQ_BASE, REQ_SIZE, RES_BASE, RES_SIZE, RING_RECORDS } from "../abi";
import { vtdSyncRegs } from "../arch/vtd/regs";
import { vtdTranslate } from "../arch/vtd/translate";
import { cachesSyncStats } from "../uarch/vtd-caches";

export function runBatch(n: u32): u32 {
  if (DEBUG) assert(n <= RING_RECORDS);
  if (n > RING_RECORDS) n = RING_RECORDS;
  vtdSyncRegs();
  let req: usize = REQ_BASE, res: usize = RES_BASE;
  for (let i: u32 = 0; i < n; i++) {
    vtdTranslate(req, res);
    req += REQ_SIZE;
    res += RES_SIZE;
  }
  cachesSyncStats();
  return n;
}
