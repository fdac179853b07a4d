// Register writes from the host with their side effects (VT-d: invalidation queue, register-based
// invalidation), then what they cost in the timing model and the cache counters they moved.
import { vtdRegWrite, queueRan, queueFetched, queueWaits } from "../arch/vtd/invalidation";
import { totalInvalidations, cachesSyncStats } from "../uarch/caches";
import { timeInvalidation } from "../timing/model";
import { CTRL_BASE, CTRL_ARCH, ARCH_SMMUV3 } from "../abi";
import { smmuRegisterWrite } from "./smmu-registers";

export function registerWrite(id: u32, value: u64): void {
  if (load<u32>(CTRL_BASE + CTRL_ARCH) == ARCH_SMMUV3) return smmuRegisterWrite(id, value);
  const removedBefore = totalInvalidations();
  vtdRegWrite(id, value);
  if (queueRan) timeInvalidation(queueFetched, totalInvalidations() - removedBefore, queueWaits);
  cachesSyncStats(); // invalidations show in the cache counters at once
}
