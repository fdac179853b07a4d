/**
 * Linux's IOVA flush queue (drivers/iommu/dma-iommu.c, "lazy" mode, iommu.strict=0), whatever the
 * unit: an unmap clears its leaves at once and defers its invalidation; the deferred unmaps are
 * flushed together when the queue holds `lazyBatch` of them (IOVA_FQ_SIZE), when the trace time
 * reaches `lazyTimeoutCycles` after the oldest one (IOVA_FQ_TIMEOUT), at a trace's `flush` event
 * and at the end of the trace. What a flush invalidates is the architecture driver's business: the
 * queue hands it the deferred items, oldest first.
 *
 * Which unmaps go through the queue is per domain (scenario `build.domains[i].invalidation`, else
 * `config.driver.invalidation`): a strict domain's unmaps invalidate at once, a lazy one's are
 * deferred here. Linux keeps one flush queue per DMA domain (dma-iommu.c: the domain's
 * iommu_dma_cookie holds its iova_fq, its fq_timer and fq_domain, and fq_flush_iotlb() flushes that
 * domain only). The model keeps ONE queue for the unit, shared by every lazy domain: with one lazy
 * domain this is Linux's queue exactly; with several, the batch size and the timeout count over all
 * of them together and a flush invalidates every domain with deferred unmaps (each in its own
 * way, once), so a domain's invalidation may come earlier than Linux's, never later than the
 * shared queue's timeout after its own oldest deferred unmap.
 */

export type InvalidationMode = "strict" | "lazy";

export type FlushReason = "batch" | "timeout" | "explicit" | "end";

/** Where a trace event is (1-based line and column), for errors found when its deferred work runs. */
export interface EventOrigin {
  line: number;
  column: number;
}

export interface FlushQueueOptions {
  /** strict: invalidate at every unmap; lazy: Linux's flush queue. */
  invalidation: InvalidationMode;
  /** Lazy mode: flush when this many unmaps are deferred (Linux IOVA_FQ_SIZE). */
  lazyBatch: number;
  /** Lazy mode: flush this long after the oldest deferred unmap (Linux IOVA_FQ_TIMEOUT, 10 ms at 1 GHz). */
  lazyTimeoutCycles: number;
}

export const defaultFlushQueueOptions: FlushQueueOptions = { invalidation: "strict", lazyBatch: 256, lazyTimeoutCycles: 10_000_000 };

/** A RangeError for options no queue can have. */
export function checkFlushQueueOptions({ invalidation, lazyBatch, lazyTimeoutCycles }: FlushQueueOptions): void {
  if (invalidation !== "strict" && invalidation !== "lazy") throw new RangeError(`invalidation must be "strict" or "lazy", not ${String(invalidation)}`);
  if (!Number.isSafeInteger(lazyBatch) || lazyBatch < 1) throw new RangeError(`lazyBatch ${lazyBatch} must be a positive integer`);
  if (!Number.isSafeInteger(lazyTimeoutCycles) || lazyTimeoutCycles < 0) throw new RangeError(`lazyTimeoutCycles ${lazyTimeoutCycles} must be a non-negative integer`);
}

export interface FlushQueueStats {
  /** Flushes of the deferred unmaps, and what caused them. */
  flushes: number;
  flushReasons: Record<FlushReason, number>;
  /** Unmaps whose invalidation was deferred. */
  deferredUnmaps: number;
}

export function newFlushQueueStats(): FlushQueueStats {
  return { flushes: 0, flushReasons: { batch: 0, timeout: 0, explicit: 0, end: 0 }, deferredUnmaps: 0 };
}

/**
 * The queue of deferred unmaps. `T` is what the architecture driver needs to invalidate one (VT-d:
 * the domain); `flush` receives the deferred items in the order they came and invalidates for them.
 */
export class FlushQueue<T> {
  /** Trace time in cycles (only moves forward). */
  private now = 0n;
  private deferred: { item: T; time: bigint; origin?: EventOrigin }[] = [];

  constructor(
    readonly options: FlushQueueOptions,
    private readonly flush: (items: T[]) => void,
    /** Where it counts its flushes and deferred unmaps (the driver's statistics). */
    readonly stats: FlushQueueStats = newFlushQueueStats(),
  ) {
    checkFlushQueueOptions(options);
  }

  /** True in lazy mode: unmaps are deferred rather than invalidated at once. */
  get lazy(): boolean {
    return this.options.invalidation === "lazy";
  }

  /** Defers the invalidation of one unmap (at the current time); flushes when the batch is full. */
  defer(item: T, origin?: EventOrigin): void {
    this.deferred.push({ item, time: this.now, ...(origin ? { origin } : {}) });
    this.stats.deferredUnmaps++;
    if (this.deferred.length >= this.options.lazyBatch) this.flushNow("batch");
  }

  /** Where the oldest deferred unmap is in the trace (when it was given one). */
  get firstDeferred(): EventOrigin | undefined {
    return this.deferred[0]?.origin;
  }

  /** When the timer fires next (cycles); undefined when nothing is deferred. */
  get deadline(): bigint | undefined {
    const oldest = this.deferred[0];
    return oldest === undefined ? undefined : oldest.time + BigInt(this.options.lazyTimeoutCycles);
  }

  /** Trace time moves to `t`: the deferred unmaps are flushed once `t` reaches the deadline. */
  advanceTo(t: bigint): void {
    if (t > this.now) this.now = t;
    const d = this.deadline;
    if (d !== undefined && this.now >= d) this.flushNow("timeout");
  }

  /** Flushes every deferred unmap (nothing when none is deferred). */
  flushNow(reason: FlushReason): void {
    if (this.deferred.length === 0) return;
    const items = this.deferred.map((x) => x.item);
    this.deferred = [];
    this.flush(items);
    this.stats.flushes++;
    this.stats.flushReasons[reason]++;
  }
}

/**
 * What an architecture's driver answers through its lazy flush queue (the ArchDriver members
 * deadline, firstDeferred, advanceTo and finish), for both architectures' drivers to extend.
 */
export abstract class FlushQueueDriver<T> {
  /** Linux's flush queue (lazy mode): each deferred unmap with its domain. */
  protected abstract readonly fq: FlushQueue<T>;

  /** Where the oldest deferred unmap is in the trace (when it came through apply()). */
  get firstDeferred(): EventOrigin | undefined {
    return this.fq.firstDeferred;
  }

  /** When the lazy mode's timer fires next (cycles); undefined when nothing is deferred. */
  get deadline(): bigint | undefined {
    return this.fq.deadline;
  }

  /**
   * Whether an unmap in `domain` defers its invalidation: the domain's own policy (scenario
   * `build.domains[i].invalidation`), else the platform's (`config.driver.invalidation`).
   */
  protected lazyFor(domain: { invalidation?: InvalidationMode }): boolean {
    return domain.invalidation === undefined ? this.fq.lazy : domain.invalidation === "lazy";
  }

  /** Trace time moves to `t`: the deferred unmaps are flushed once `t` reaches the deadline. */
  advanceTo(t: bigint): void {
    this.fq.advanceTo(t);
  }

  /** End of the trace: nothing stays deferred. */
  finish(): void {
    this.fq.flushNow("end");
  }
}
