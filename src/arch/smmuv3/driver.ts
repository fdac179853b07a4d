/**
 * The SMMUv3 driver for a trace's driver events. Linux carries out every map, unmap, flush,
 * attach and detach on an SMMUv3 through its command queue (CFGI_* and TLBI_* with CMD_SYNC), and
 * the core does not model the command queue yet: so every driver event is refused with that reason
 * rather than writing tables the SMMU's caches would never be told about.
 */
import type { ArchDriver, DriverOptions, DriverStats } from "../../driver/driver.ts";
import { DriverError, defaultDriverOptions } from "../../driver/driver.ts";
import { newFlushQueueStats } from "../../driver/flush-queue.ts";
import type { DriverEvent } from "../../trace/events.ts";

export const SMMU_DRIVER_REFUSAL = "SMMUv3 driver events need the command queue, not modelled yet";

export class SmmuDriver implements ArchDriver {
  readonly options: DriverOptions;
  readonly stats: DriverStats = { maps: 0, unmaps: 0, attaches: 0, detaches: 0, invs: 0, queuedDescriptors: 0, registerInvalidations: 0, ...newFlushQueueStats() };
  readonly deadline = undefined;
  readonly firstDeferred = undefined;

  constructor(options: Partial<DriverOptions> = {}) {
    this.options = { ...defaultDriverOptions, ...options };
  }

  apply(e: DriverEvent, _now: bigint): void {
    throw new DriverError(`${e.op}: ${SMMU_DRIVER_REFUSAL}`);
  }

  advanceTo(_t: bigint): void {}

  finish(): void {}
}
