/**
 * Linux's IOVA flush queues (drivers/iommu/dma-iommu.c, "lazy" mode, iommu.strict=0), whatever the
 * unit: an unmap clears its leaves at once and defers its invalidation to its domain's queue. As in
 * Linux, every lazy domain has its own queue (dma-iommu.c: the domain's iommu_dma_cookie holds its
 * iova_fq, its fq_timer and fq_domain; fq_flush_iotlb() calls flush_iotlb_all of that domain only),
 * with its own batch and timer: a domain's deferred unmaps are flushed together when its queue
 * holds `lazyBatch` of them (IOVA_FQ_SIZE, per queue), when the trace time reaches
 * `lazyTimeoutCycles` after its oldest deferred one (IOVA_FQ_TIMEOUT, per queue: the cookie's
 * fq_timer), at a trace's `flush D` event naming it, and, with every other domain's, at a `flush`
 * event without a domain and at the end of the trace. A flush invalidates that one domain; how is
 * the architecture driver's business.
 *
 * Which unmaps go through a queue is per domain (scenario `build.domains[i].invalidation`,
 * `domainAlloc[i].invalidation`, `domain-alloc ... invalidation=`, else `config.driver.invalidation`):
 * a strict domain's unmaps invalidate at once, a lazy one's are deferred here.
 *
 * Simplifications: Linux has a queue per CPU within the cookie (one trace is one CPU here) and
 * flushes a full queue when the next entry would not fit (the model: when the entry that fills it
 * comes); its timer starts at the first entry queued while it is off, the model's at the oldest
 * entry still deferred.
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

/** One domain's queue: how many unmaps it defers, and when and where the oldest of them came. */
interface DomainQueue<T> {
  domain: T;
  count: number;
  /** Trace time of the oldest deferred unmap (its timer's start). */
  oldest: bigint;
  /** Where the oldest deferred unmap is in the trace (when it was given one). */
  origin?: EventOrigin;
  /** Order of the oldest deferred unmap among all queues' (ties of `oldest` go by it). */
  seq: number;
}

/**
 * The flush queues of deferred unmaps, one per domain (`T` is what the architecture driver needs to
 * invalidate one domain: its domain object). Each queue counts its own batch and runs its own
 * timer; `flush` receives the one domain a queue flush invalidates.
 */
export class FlushQueue<T> {
  /** Trace time in cycles (only moves forward). */
  private now = 0n;
  private seq = 0;
  /** The domains with deferred unmaps (a domain whose queue is flushed leaves the map). */
  private readonly queues = new Map<T, DomainQueue<T>>();

  constructor(
    readonly options: FlushQueueOptions,
    private readonly flush: (domain: T) => void,
    /** Where it counts its flushes and deferred unmaps (the driver's statistics, over every domain's queue). */
    readonly stats: FlushQueueStats = newFlushQueueStats(),
  ) {
    checkFlushQueueOptions(options);
  }

  /** True in lazy mode: unmaps are deferred rather than invalidated at once. */
  get lazy(): boolean {
    return this.options.invalidation === "lazy";
  }

  /**
   * Defers the invalidation of one unmap of `domain` (at the current time) to the domain's queue,
   * which is flushed when it holds `lazyBatch` unmaps.
   */
  defer(domain: T, origin?: EventOrigin): void {
    let q = this.queues.get(domain);
    if (q === undefined) this.queues.set(domain, (q = { domain, count: 0, oldest: this.now, seq: this.seq++, ...(origin ? { origin } : {}) }));
    q.count++;
    this.stats.deferredUnmaps++;
    if (q.count >= this.options.lazyBatch) this.flushDomain(domain, "batch");
  }

  /** The queue whose oldest deferred unmap came first (undefined when nothing is deferred). */
  private oldestQueue(): DomainQueue<T> | undefined {
    let first: DomainQueue<T> | undefined;
    for (const q of this.queues.values()) if (first === undefined || q.oldest < first.oldest || (q.oldest === first.oldest && q.seq < first.seq)) first = q;
    return first;
  }

  /**
   * Which queue holds `domain`'s deferred unmaps: a number no earlier queue of any domain had (the
   * next deferral after a flush starts a new one); undefined when the domain defers nothing.
   */
  queueOf(domain: T): number | undefined {
    return this.queues.get(domain)?.seq;
  }

  /** Where the oldest deferred unmap (of any domain) is in the trace (when it was given one). */
  get firstDeferred(): EventOrigin | undefined {
    return this.oldestQueue()?.origin;
  }

  /** When the next timer fires (cycles): the earliest of the domains' deadlines; undefined when nothing is deferred. */
  get deadline(): bigint | undefined {
    const q = this.oldestQueue();
    return q === undefined ? undefined : q.oldest + BigInt(this.options.lazyTimeoutCycles);
  }

  /** Trace time moves to `t`: each domain's queue is flushed once `t` reaches its deadline, earliest first. */
  advanceTo(t: bigint): void {
    if (t > this.now) this.now = t;
    for (let d = this.deadline; d !== undefined && this.now >= d; d = this.deadline) this.flushOldest("timeout");
  }

  /** Flushes every domain's queue, the one with the oldest deferred unmap first (nothing when none is deferred). */
  flushNow(reason: FlushReason): void {
    while (this.queues.size > 0) this.flushOldest(reason);
  }

  /** Flushes one domain's queue (nothing when it defers nothing). */
  flushDomain(domain: T, reason: FlushReason): void {
    if (!this.queues.delete(domain)) return;
    this.flush(domain);
    this.stats.flushes++;
    this.stats.flushReasons[reason]++;
  }

  private flushOldest(reason: FlushReason): void {
    this.flushDomain(this.oldestQueue()!.domain, reason);
  }
}

/**
 * What an architecture's driver answers through its lazy flush queue (the ArchDriver members
 * deadline, firstDeferred, advanceTo and finish), for both architectures' drivers to extend.
 */
export abstract class FlushQueueDriver<T extends { id: number; invalidation?: InvalidationMode }> {
  /** Linux's flush queues (lazy mode): one per domain with deferred unmaps. */
  protected abstract readonly fq: FlushQueue<T>;

  /** The unit's domains with their own policy (scenario, domain-alloc), for domainModes(). */
  protected abstract policyDomains(): Iterable<T>;

  /** Where the oldest deferred unmap is in the trace (when it came through apply()). */
  get firstDeferred(): EventOrigin | undefined {
    return this.fq.firstDeferred;
  }

  /** When the lazy mode's next timer fires (cycles); undefined when nothing is deferred. */
  get deadline(): bigint | undefined {
    return this.fq.deadline;
  }

  /**
   * Whether an unmap in `domain` defers its invalidation: the domain's own policy (scenario
   * `build.domains[i].invalidation`, `domainAlloc[i].invalidation`, `domain-alloc ...
   * invalidation=`), else the platform's (`config.driver.invalidation`).
   */
  protected lazyFor(domain: { invalidation?: InvalidationMode }): boolean {
    return domain.invalidation === undefined ? this.fq.lazy : domain.invalidation === "lazy";
  }

  /** A trace's `flush` (every domain's queue) or `flush D` (that domain's; nothing when it defers nothing). */
  protected flushEvent(domain: T | undefined): void {
    if (domain === undefined) this.fq.flushNow("explicit");
    else this.fq.flushDomain(domain, "explicit");
  }

  /**
   * Which flush queue holds domain `id`'s deferred unmaps (FlushQueue.queueOf): a different number
   * after the domain was flushed; undefined when it defers nothing (or there is no such domain).
   */
  flushQueueOf(id: number): number | undefined {
    for (const d of this.policyDomains()) if (d.id === id) return this.fq.queueOf(d);
    return undefined;
  }

  /** The domains whose policy is not the platform's, by that policy, ids in ascending order (DomainModes). */
  domainModes(): DomainModes {
    const platform = this.options.invalidation;
    const ids = [...this.policyDomains()].filter((d) => d.invalidation !== undefined && d.invalidation !== platform).map((d) => d.id);
    return ids.length === 0 ? {} : { [platform === "lazy" ? "strict" : "lazy"]: ids.sort((a, b) => a - b) };
  }

  abstract readonly options: FlushQueueOptions;

  /** Trace time moves to `t`: each domain's deferred unmaps are flushed once `t` reaches its deadline. */
  advanceTo(t: bigint): void {
    this.fq.advanceTo(t);
  }

  /** End of the trace: nothing stays deferred. */
  finish(): void {
    this.fq.flushNow("end");
  }
}

/** The domains whose invalidation policy differs from the platform's, under that policy (empty when none does). */
export type DomainModes = Partial<Record<InvalidationMode, number[]>>;
