/**
 * Replays a trace through the core, events in order, streaming: TLP records come from a
 * TraceReader (text, binary or in-memory; src/trace/stream.ts) straight into the request ring, in
 * batches up to the next driver event, the ring's 4096 records, or the moment the lazy flush
 * queue's timer fires; one core call per batch. Driver events run between batches through the
 * platform's driver (its architecture module's; src/driver/driver.ts). Nothing per TLP is allocated unless a result sink is given
 * (then each TLP is decoded from its record for the sink), so memory stays flat whatever the
 * trace's length.
 *
 * Each request record carries its arrival cycle (ArrivalClock, arrival.ts: trace times at the
 * IOMMU clock, back-to-back, or a fixed injection rate), never below the one before it: the reader
 * hands each TLP to the request writer (request-writer.ts) as soon as it has checked it, which
 * converts its time and writes its request record into the ring in the same pass.
 *
 * Once the trace has unmapped something, the replay looks for each batch's stale TLPs whenever the
 * core's stale-use counters moved, to measure the deferred-invalidation window (inval-window.ts):
 * the stale TLPs' devices, addresses and arrival cycles against the unmaps' ranges and times. The
 * core marks a stale TLP in its request record (abi ReqFlag.STALE_USED), so a run whose results
 * nobody reads still skips writing them (Opt.RESULTS_UNREAD).
 */
import type { Platform } from "../platform.ts";
import type { Result } from "../core/core.ts";
import type { DriverEvent, FaultExpectation, TraceEvent, TraceTlp } from "../trace/text.ts";
import type { TraceReader } from "../trace/binary.ts";
import { EventsReader } from "../trace/stream.ts";
import { DriverError, EventInputError, type ArchDriver, type DriverNote, type DriverStats } from "../driver/driver.ts";
import { AllocationError } from "../guest/allocator.ts";
import { InputError } from "../errors.ts";
import { ArrivalClock, ArrivalOverflow } from "./arrival.ts";
import { IommuLayer } from "../iommu/iommu.ts";
import { RequestWriter, decodeRequest, REQ_WORDS } from "./request-writer.ts";
import { InvalidationWindow, type InvalidationWindowSummary } from "./inval-window.ts";
import { DriverEventLog, type DriverEventsSummary } from "./driver-events.ts";
import { Req } from "../core/abi.ts";

/** The request record's arrival word (TIME, cycles after the batch's base). */
const TIME_WORD = Req.TIME >>> 2;

export { ArrivalClock, ArrivalOverflow, timeToCycles } from "./arrival.ts";

export type ResultSink = (seq: number, tlp: TraceTlp, result: Result) => void;

/**
 * What a driver event the driver refuses (a DriverError or RangeError: unknown domain, overlapping
 * map, over a budget ...) is: an input error at the event (exit 2, the default), or a result, for
 * traces written to test refusals: the replay goes on and the refusal goes to `onRefusal`.
 */
export type Refusals = "error" | "results";

/** A refused driver event: `seq` is the number of TLPs before it; `line` and `column` its position. */
export interface Refusal {
  seq: number;
  event: DriverEvent["op"];
  line: number;
  column: number;
  reason: string;
}

/** A carried-out driver event's result: where it is, and what the driver gave back (DriverNote). */
export interface DriverResult {
  seq: number;
  event: DriverEvent["op"];
  line: number;
  column: number;
  note: DriverNote;
}

/** Receives each TLP that carries an expected fault (`expect=`), as the trace wrote it, with its result. */
export type ExpectationSink = (seq: number, tlp: TraceTlp & { expect: FaultExpectation }, result: Result) => void;

export interface ReplayStats {
  /** TLPs in the trace (the core's `requests` also counts the ATS requests devices send on device-TLB misses). */
  tlps: number;
  driverEvents: number;
  /** Driver events refused as results (`refusals: "results"`); they are not in driverEvents. */
  refusedEvents: number;
  hostSeconds: number;
  driver: DriverStats;
  /** The deferred-invalidation window (inval-window.ts). */
  invalidationWindow: InvalidationWindowSummary;
  /** The driver events by kind, carried out and refused, with the first refusals (driver-events.ts). */
  driverEventLog: DriverEventsSummary;
}

export interface ReplayOptions {
  /** The driver side that carries out driver events (default: src/iommu's IommuLayer over a strict-mode driver for `platform`). */
  driver?: ArchDriver;
  /** The trace's file name, for errors of driver events (events arrays; readers know their file). */
  file?: string;
  /** Called for every TLP with an expected fault (`run --expect-faults`). */
  onExpectation?: ExpectationSink;
  /** What a refused driver event is (default "error": an input error at the event). */
  refusals?: Refusals;
  /** Receives each refused driver event when `refusals` is "results". */
  onRefusal?: (r: Refusal) => void;
  /** Receives the result of each carried-out driver event that gives one back (ArchDriver.takeNote: pasid-alloc's PASID). */
  onNote?: (n: DriverResult) => void;
  /** The caller reads the result ring itself after a batch or the replay (default false). */
  resultsRead?: boolean;
}

/**
 * Replays a trace from a reader, batch by batch: `step()` replays one batch or driver event and
 * says whether there is more; `finish()` ends the trace (the driver flushes whatever it still
 * defers). The caller decides when to stop: `replayReader` runs to the end, the CLI yields to the
 * event loop between slices of batches (progress bar, Ctrl-C) and may stop early.
 */
export class Replayer {
  /** TLPs replayed (results delivered). */
  seq = 0;
  driverEvents = 0;
  refusedEvents = 0;
  readonly driver: ArchDriver;
  readonly clock: ArrivalClock;
  /** Unmaps and the stale TLPs after them: the deferred-invalidation window. */
  readonly window = new InvalidationWindow();
  /** The driver events by kind and the first refusals (driver-events.ts). */
  readonly events = new DriverEventLog();
  /** Writes each TLP the reader hands over into the request ring (request-writer.ts). */
  private readonly writer: RequestWriter;
  private readonly start = process.hrtime.bigint();
  private ended = false;
  private elapsed = 0n;
  private readonly onExpectation: ExpectationSink | undefined;
  private readonly onRefusal: ((r: Refusal) => void) | undefined;
  private readonly onNote: ((n: DriverResult) => void) | undefined;
  /**
   * Whether anything reads the per-TLP result records: a result sink (--results, the HTML report's
   * collector), expected faults (--expect-faults) or the caller (`resultsRead`). When nothing does (a run with only the summary,
   * which --report writes from the counters), the core is told so per batch (abi Opt.RESULTS_UNREAD)
   * and skips writing them.
   */
  readonly resultsRead: boolean;

  constructor(
    readonly platform: Platform,
    readonly reader: TraceReader,
    private readonly sink?: ResultSink,
    opts: ReplayOptions = {},
  ) {
    // Default: the driver side (src/iommu) over a strict-mode driver of the platform's unit.
    this.driver = opts.driver ?? new IommuLayer(platform.createDriver());
    this.clock = new ArrivalClock(platform.timing);
    this.onExpectation = opts.onExpectation;
    this.writer = new RequestWriter(this.clock, (message, line) => this.reader.errorAt(message, line), this.onExpectation !== undefined);
    this.resultsRead = sink !== undefined || opts.onExpectation !== undefined || opts.resultsRead === true;
    if (opts.refusals !== undefined && opts.refusals !== "error" && opts.refusals !== "results") throw new RangeError(`refusals must be "error" or "results", not ${String(opts.refusals)}`);
    // Refusals as results: each one to the sink (none: only counted).
    if (opts.refusals === "results") this.onRefusal = opts.onRefusal ?? (() => {});
    this.onNote = opts.onNote;
  }

  /** True once the whole trace has been replayed. */
  get done(): boolean {
    return this.reader.done;
  }

  /**
   * Replays the next batch of TLPs, or the next driver event. Returns false when the trace has
   * ended (nothing was left to do).
   */
  step(): boolean {
    const e = this.reader.readDriverEvent();
    if (e !== undefined) {
      this.applyEvent(e);
      return true;
    }
    const core = this.platform.core;
    const w = this.writer;
    const deadline = this.driver.deadline;
    // The batch: TLPs up to the next driver event, the ring's size, a TLP at or after the lazy
    // flush deadline (it starts the next batch, after the flush), or an arrival 2^32 cycles or
    // more after the first's.
    w.begin(core.requestWords(), this.seq, deadline === undefined ? Infinity : Number(deadline));
    try {
      this.reader.readRequests(w);
    } finally {
      w.end();
    }
    const n = w.n;
    if (n === 0) {
      const e2 = this.reader.readDriverEvent();
      if (e2 !== undefined) {
        this.applyEvent(e2);
        return true;
      }
      return !this.reader.done;
    }
    // The first TLP's arrival may fire the lazy queue's timer, before this batch.
    try {
      this.driver.advanceTo(BigInt(w.base));
    } catch (err) {
      const line = w.lines[0]!;
      throw this.located(err, "lazy flush timer, fired at this TLP: ", `the lazy flush timer (fired at the TLP at ${this.where(line)})`, line);
    }
    core.setTimeBase(w.base);
    // After an unmap the window needs the stale TLPs (only when the counters say some are stale),
    // which the core marks in their request records: the result records stay unwritten when unread.
    const tracking = this.window.active;
    const staleBefore = tracking ? core.staleUses() : 0n;
    core.run(n, !this.resultsRead);
    if (tracking && core.staleUses() !== staleBefore) this.staleUses(n, w);
    if (w.expected) for (const [j, t] of w.expected) this.onExpectation!(this.seq + j, t, core.decode(j));
    if (this.sink) {
      const ring = core.requestWords(); // a flush or run() may have grown memory
      for (let j = 0; j < n; j++) {
        const tlp = decodeRequest(ring, j, w.lines[j]!);
        const r = core.decode(j);
        this.sink(this.seq + j, tlp, this.driver.outcome ? this.driver.outcome(tlp, r) : r);
      }
    }
    this.seq += n;
    return true;
  }

  /** Hands the batch's stale TLPs (device, address, arrival cycle, the device's domain) to the window. */
  private staleUses(n: number, w: RequestWriter): void {
    const core = this.platform.core;
    const ring = core.requestWords();
    for (let j = 0; j < n; j++) {
      if (!core.requestStale(j)) continue;
      const t = decodeRequest(ring, j, w.lines[j]!);
      this.window.staleUse(t.sid, this.driver.attachedDomain(t.sid, t.pasid), t.addr, BigInt(w.base + ring[j * REQ_WORDS + TIME_WORD]!));
    }
  }

  private applyEvent(e: DriverEvent): void {
    let now: number;
    try {
      now = this.clock.eventTime(e.time === undefined ? 0 : e.time.unit === "cycles" ? 1 : e.time.unit === "ns" ? 2 : 3, e.time?.value ?? 0);
    } catch (err) {
      if (err instanceof ArrivalOverflow) throw this.reader.errorAt(err.message, e.line, e.column || undefined);
      throw err;
    }
    try {
      this.driver.apply(e, BigInt(now));
    } catch (err) {
      if (this.onRefusal && (err instanceof DriverError || err instanceof RangeError)) {
        this.refusedEvents++;
        const r = { seq: this.seq, event: e.op, line: e.line, column: e.column, reason: err.message };
        this.events.refused(r);
        this.onRefusal(r);
        return;
      }
      throw this.located(err, `${e.op}: `, `the ${e.op} at ${this.where(e.line, e.column || undefined)}`, e.line, e.column || undefined);
    }
    if (e.op === "unmap") this.window.unmapped(e.domain, e.iova, e.size, BigInt(now));
    this.driverEvents++;
    this.events.done(e.op);
    const note = this.driver.takeNote?.();
    if (note !== undefined && this.onNote) this.onNote({ seq: this.seq, event: e.op, line: e.line, column: e.column, note });
  }

  /**
   * An error of the driver's work for the trace event or TLP at `line` (and `column`) as the user
   * sees it: a page that the scenario's raw memory holds is an error at that memory's key, naming
   * `needer`; any other driver or range error is an input error at the trace position, after
   * `prefix`. Anything else is returned as it is (an internal error).
   */
  private located(err: unknown, prefix: string, needer: string, line: number | undefined, column?: number): Error {
    if (err instanceof AllocationError) {
      const at = err.located(needer);
      if (at) return at;
    }
    if (!(err instanceof DriverError || err instanceof RangeError || err instanceof EventInputError)) return err as Error;
    const message = `${prefix}${(err as Error).message}`;
    return line === undefined ? new InputError(message, this.reader.file) : this.reader.errorAt(message, line, column);
  }

  /** "file:line:column" (or the binary format's "file:record N") of a trace position. */
  private where(line: number, column?: number): string {
    return this.reader.errorAt("", line, column).message.replace(/: $/, "");
  }

  /** Ends the trace: the driver flushes what it defers. Returns the statistics. */
  finish(): ReplayStats {
    if (!this.ended) {
      const first = this.driver.firstDeferred;
      try {
        this.driver.finish();
      } catch (err) {
        const at = first ? this.where(first.line, first.column || undefined) : "an unknown position";
        throw this.located(err, "lazy flush at the end of the trace, of the unmap deferred here: ", `the lazy flush at the end of the trace (first deferred unmap at ${at})`, first?.line, first?.column || undefined);
      }
      this.elapsed = process.hrtime.bigint() - this.start;
      this.ended = true;
    }
    return this.stats();
  }

  stats(): ReplayStats {
    const ns = this.ended ? this.elapsed : process.hrtime.bigint() - this.start;
    return { tlps: this.seq, driverEvents: this.driverEvents, refusedEvents: this.refusedEvents, hostSeconds: Number(ns) / 1e9, driver: this.driver.stats, invalidationWindow: this.window.summary(), driverEventLog: this.events.summary() };
  }
}

/**
 * Replays everything `reader` holds; `sink` (optional) receives every TLP's result in trace order,
 * `seq` counting TLPs only. At the end the driver flushes whatever it still defers.
 */
export function replayReader(platform: Platform, reader: TraceReader, sink?: ResultSink, opts: ReplayOptions = {}): ReplayStats {
  const r = new Replayer(platform, reader, sink, opts);
  while (r.step());
  return r.finish();
}

/**
 * Replays `events` in order; `sink` (optional) receives every TLP's result in trace order, `seq`
 * counting TLPs only. At the end the driver flushes whatever it still defers.
 */
export function replay(platform: Platform, events: readonly TraceEvent[], sink?: ResultSink, opts: ReplayOptions = {}): ReplayStats {
  return replayReader(platform, new EventsReader(events, opts.file ?? "trace"), sink, opts);
}
