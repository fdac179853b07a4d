/**
 * What every architecture's driver is to the replay: it carries out a trace's driver events (the
 * neutral map, unmap, flush, attach, detach and the architecture's own commands) at trace time, and
 * keeps Linux's lazy flush queue (flush-queue.ts) whose timer the replay fires between TLPs.
 */
import type { DriverEvent } from "../trace/events.ts";
import { defaultLimits, type Limits } from "../config/limits.ts";
import { defaultFlushQueueOptions, type EventOrigin, type FlushQueueOptions, type FlushQueueStats } from "./flush-queue.ts";

export type { EventOrigin, FlushReason, InvalidationMode } from "./flush-queue.ts";

export interface DriverOptions extends FlushQueueOptions {
  /** Budgets for map (tablePages) and attach (devices, pasids, cacheEntries): config/limits.ts. */
  limits: Limits;
}

export const defaultDriverOptions: DriverOptions = { ...defaultFlushQueueOptions, limits: defaultLimits };

/** A driver event that cannot be carried out (unknown domain, overlapping mapping, ...): a refusal. */
export class DriverError extends Error {
  override name = "DriverError";
}

export interface DriverStats extends FlushQueueStats {
  maps: number;
  unmaps: number;
  attaches: number;
  detaches: number;
  /** The architecture's own commands (VT-d `inv` events). */
  invs: number;
  /** Commands written to the unit's queue (VT-d: invalidation descriptors, waits included; not the replacements after a queue error). */
  queuedDescriptors: number;
  /** Register-based invalidations (VT-d CCMD, IOTLB_REG); the core counts them in invDescriptors too. */
  registerInvalidations: number;
}

export interface ArchDriver {
  readonly options: DriverOptions;
  readonly stats: DriverStats;
  /** Carries out a trace's driver event at trace time `now` (cycles); a DriverError when it cannot. */
  apply(e: DriverEvent, now: bigint): void;
  /** Trace time moves to `t`: the flush queue's timer may fire. */
  advanceTo(t: bigint): void;
  /** When the flush queue's timer fires next (cycles); undefined when nothing is deferred. */
  readonly deadline: bigint | undefined;
  /** Where the oldest deferred unmap is in the trace. */
  readonly firstDeferred: EventOrigin | undefined;
  /** End of the trace: nothing stays deferred. */
  finish(): void;
}
