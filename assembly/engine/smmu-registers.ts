// A software write to an SMMUv3 register (regWrite on an SMMUv3 unit: `id` is the register's
// offset in the register block, abi SmmuReg): the value is stored, and a write that can start the
// command queue (CMDQ_PROD, GERRORN acknowledging an error, CR0 setting CMDQEN) processes it. The
// queue's work costs cycles in the timing model as VT-d's invalidation queue does
// (engine/registers.ts): per command fetched, per cache entry removed, per CMD_SYNC.
import { CTRL_BASE, CTRL_SMMU, SMMU_CMDQ_PROD, SMMU_GERRORN, SMMU_CR0, SMMU_STRTAB_BASE, SMMU_CMDQ_BASE, SMMU_EVENTQ_BASE } from "../abi";
import { smmuSyncRegs } from "../arch/smmuv3/regs";
import { smmuProcessCommands, cmdFetched, cmdSyncsDone } from "../arch/smmuv3/commands";
import { cachesSyncStats, totalInvalidations } from "../uarch/caches";
import { timeInvalidation } from "../timing/model";

export function smmuRegisterWrite(offset: u32, value: u64): void {
  if (offset >= 0x100) return;
  const at = CTRL_BASE + CTRL_SMMU + offset;
  if (offset == SMMU_STRTAB_BASE || offset == SMMU_CMDQ_BASE || offset == SMMU_EVENTQ_BASE) store<u64>(at, value);
  else store<u32>(at, <u32>value);
  smmuSyncRegs();
  if (offset == SMMU_CMDQ_PROD || offset == SMMU_GERRORN || offset == SMMU_CR0) {
    const removedBefore = totalInvalidations();
    smmuProcessCommands();
    if (cmdFetched != 0) timeInvalidation(cmdFetched, totalInvalidations() - removedBefore, cmdSyncsDone);
    cachesSyncStats(); // invalidations show in the cache counters at once
  }
}
