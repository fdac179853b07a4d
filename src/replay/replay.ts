/**
 * Replays a trace through the core, events in order, streaming: TLP records come from a
 * TraceReader (text, binary or in-memory; src/trace/stream.ts) straight into the request ring, in
 * batches up to the next driver event, the ring's 4096 records, or the moment the lazy flush
 * queue's timer fires; one core call per batch. Driver events run between batches through the
 * platform's driver (its architecture module's; src/driver/driver.ts). Nothing per TLP is allocated unless a result sink is given
 * (then each TLP is decoded from its record for the sink), so memory stays flat whatever the
 * trace's length.
 *
 * Each request record carries its arrival cycle (ArrivalClock: trace times at the IOMMU clock,
 * back-to-back, or a fixed injection rate), never below the one before it: the records arrive with
 * the trace's own time (binary.ts layout, unit in FLAGS bits 13:12) and one pass over the batch
 * turns it into the arrival cycle and clears the format's own FLAGS bits.
 */
import type { Platform } from "../platform.ts";
import type { Result } from "../core/core.ts";
import { RING_RECORDS } from "../core/abi.ts";
import type { DriverEvent, FaultExpectation, TraceEvent, TraceTlp, TimeStamp } from "../trace/text.ts";
import { RECORD_WORDS, REQ_FLAGS_MASK, RecFlag, TimeUnit, decodeTlpRecord, type TraceReader } from "../trace/binary.ts";
import { EventsReader } from "../trace/stream.ts";
import { DriverError, type ArchDriver, type DriverStats } from "../driver/driver.ts";
import { AllocationError } from "../guest/allocator.ts";
import { InputError } from "../errors.ts";
import { exactDecimal, floorMulDiv, type Decimal } from "../util/decimal.ts";
import type { TimingConfig } from "../config/timing.ts";

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

/** Receives each TLP that carries an expected fault (`expect=`), as the trace wrote it, with its result. */
export type ExpectationSink = (seq: number, tlp: TraceTlp & { expect: FaultExpectation }, result: Result) => void;

/**
 * A trace time in cycles at `clockMHz` (default 1000): cycles as given; ns and us scaled by the
 * clock and rounded down (the cycle in which the time falls), in exact decimal arithmetic.
 */
export function timeToCycles(t: TimeStamp | undefined, clockMHz = 1000): bigint {
  if (!t) return 0n;
  if (t.unit === "cycles") return BigInt(t.value);
  return floorMulDiv(exactDecimal(t.value), exactDecimal(clockMHz), t.unit === "us" ? ONE : THOUSAND);
}

const ONE = exactDecimal(1);
const THOUSAND = exactDecimal(1000);
const TWO32 = 4294967296;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
// Module-local copies for the hot loop: imported bindings may compile to getter calls (tsx).
const WORDS = RECORD_WORDS;
const FLAGS_MASK = REQ_FLAGS_MASK;
const U_NONE = TimeUnit.NONE, U_CYCLES = TimeUnit.CYCLES, U_NS = TimeUnit.NS, U_US = TimeUnit.US;

/** Arrival times beyond 2^53 - 1 cycles (ns/us times at a fast clock): the replay keeps cycles in doubles. */
export class ArrivalOverflow extends RangeError {}

/**
 * When each event happens, in cycles (README "Arrival times"), by `timing.arrival`,
 * `timing.injectionRate` and `timing.clockMHz`:
 * - trace: the trace's time converted at the clock; an event without a time happens at the time of
 *   the event before it;
 * - back-to-back: every TLP arrives at cycle 0 (the translation slots pace them);
 * - injectionRate > 0: TLP i arrives at floor(i / rate), whatever `arrival` says.
 * Times never decrease: an earlier time (ns and cycle times mixed in one trace) is clamped to the
 * latest one. A driver event happens at the latest arrival time (in trace mode, at its own time).
 * The same timeline drives the lazy flush timer, in functional runs too.
 *
 * Cycles are doubles holding integers (exact up to 2^53 - 1; a time beyond is an ArrivalOverflow),
 * so that the replay converts a record's time without BigInt arithmetic.
 */
export class ArrivalClock {
  /** The latest time handed out (cycles). */
  now = 0;
  /** 0 trace, 1 back-to-back, 2 rate. */
  readonly mode: number;
  private readonly clock: Decimal;
  /** cycles = ns x clockNum / clockDen (clockMHz / 1000 as a fraction of safe integers), when it fits. */
  private readonly clockNum: number = 0;
  private readonly clockDen: number = 1;
  /** injectionRate = rateDigits / rateScale. */
  private readonly rateDigits: number = 1;
  private readonly rateScale: number = 1;
  private readonly rate?: Decimal;
  /** The last ns/us conversion (bursts of TLPs often share a time). */
  private lastValue = -1;
  private lastUnit = -1;
  private lastCycles = 0;

  constructor(timing: Pick<TimingConfig, "clockMHz" | "arrival" | "injectionRate">) {
    this.clock = exactDecimal(timing.clockMHz);
    const den = 10n ** BigInt(this.clock.scale) * 1000n;
    if (this.clock.digits <= BigInt(MAX_SAFE) && den <= BigInt(MAX_SAFE)) {
      this.clockNum = Number(this.clock.digits);
      this.clockDen = Number(den);
    }
    if (timing.injectionRate > 0) {
      this.mode = 2;
      this.rate = exactDecimal(timing.injectionRate);
      this.rateDigits = Number(this.rate.digits);
      this.rateScale = 10 ** this.rate.scale;
    } else this.mode = timing.arrival === "back-to-back" ? 1 : 0;
  }

  /** floor(num / den) for safe integers whose quotient is near a double's rounding. */
  private static floorDiv(num: number, den: number): number {
    let q = Math.floor(num / den);
    if (q * den > num) q--;
    else if ((q + 1) * den <= num) q++;
    return q;
  }

  /** A ns (unit 2) or us (unit 3) time in cycles, exactly (floor); ArrivalOverflow beyond 2^53 - 1. */
  wallCycles(value: number, unit: number): number {
    if (value === this.lastValue && unit === this.lastUnit) return this.lastCycles;
    let cycles = -1;
    if (this.clockNum !== 0) {
      // value = m / 10^k exactly for the smallest such k (the decimal the trace wrote, as a double).
      for (let k = 0; k <= 9; k++) {
        const p = 10 ** k;
        const m = Math.round(value * p);
        if (m > 2 ** 52) break;
        if (m / p === value) {
          const num = m * this.clockNum * (unit === U_US ? 1000 : 1);
          const den = p * this.clockDen;
          if (num + den <= MAX_SAFE) cycles = ArrivalClock.floorDiv(num, den);
          break;
        }
      }
    }
    if (cycles < 0) {
      const exact = floorMulDiv(exactDecimal(value), this.clock, unit === U_US ? ONE : THOUSAND);
      if (exact > BigInt(MAX_SAFE)) throw new ArrivalOverflow(`@${value}${unit === U_US ? "us" : "ns"} at ${this.clockMHz()} MHz is cycle ${exact}, beyond 2^53 - 1`);
      cycles = Number(exact);
    }
    this.lastValue = value;
    this.lastUnit = unit;
    this.lastCycles = cycles;
    return cycles;
  }

  private clockMHz(): string {
    const s = this.clock.digits.toString().padStart(this.clock.scale + 1, "0");
    return this.clock.scale ? `${s.slice(0, -this.clock.scale)}.${s.slice(-this.clock.scale)}` : s;
  }

  /** Arrival of TLP number `seq` (0-based, TLPs only) with time `value` in `unit` (TimeUnit). */
  arrival(seq: number, unit: number, value: number): number {
    if (this.mode === 0) {
      if (unit === U_NONE) return this.now;
      const t = unit === U_CYCLES ? value : this.wallCycles(value, unit);
      if (t > this.now) this.now = t;
      return this.now;
    }
    if (this.mode === 1) return 0;
    // floor(seq / (digits / scale)) = floor(seq * scale / digits)
    const num = seq * this.rateScale;
    const t = num <= MAX_SAFE ? ArrivalClock.floorDiv(num, this.rateDigits) : Number((BigInt(seq) * BigInt(this.rateScale)) / this.rate!.digits);
    if (t > MAX_SAFE) throw new ArrivalOverflow(`TLP ${seq} arrives beyond cycle 2^53 - 1`);
    if (t > this.now) this.now = t;
    return this.now;
  }

  private static unitOf(t: TimeStamp | undefined): number {
    return t === undefined ? U_NONE : t.unit === "cycles" ? U_CYCLES : t.unit === "ns" ? U_NS : U_US;
  }

  /** Arrival cycle of TLP number `seq` (0-based, TLPs only). */
  tlp(seq: number, e: Pick<TraceTlp, "time">): bigint {
    return BigInt(this.arrival(seq, ArrivalClock.unitOf(e.time), e.time?.value ?? 0));
  }

  /** The time of a driver event (cycles). */
  eventTime(unit: number, value: number): number {
    if (this.mode !== 0 || unit === U_NONE) return this.now;
    const t = unit === U_CYCLES ? value : this.wallCycles(value, unit);
    if (t > this.now) this.now = t;
    return this.now;
  }

  /** The time of a driver event. */
  event(e: DriverEvent): bigint {
    return BigInt(this.eventTime(ArrivalClock.unitOf(e.time), e.time?.value ?? 0));
  }
}

export interface ReplayStats {
  /** TLPs in the trace (the core's `requests` also counts the ATS requests devices send on device-TLB misses). */
  tlps: number;
  driverEvents: number;
  /** Driver events refused as results (`refusals: "results"`); they are not in driverEvents. */
  refusedEvents: number;
  hostSeconds: number;
  driver: DriverStats;
}

export interface ReplayOptions {
  /** The driver side that carries out driver events (default: a strict-mode driver for `platform`). */
  driver?: ArchDriver;
  /** The trace's file name, for errors of driver events (events arrays; readers know their file). */
  file?: string;
  /** Called for every TLP with an expected fault (`run --expect-faults`). */
  onExpectation?: ExpectationSink;
  /** What a refused driver event is (default "error": an input error at the event). */
  refusals?: Refusals;
  /** Receives each refused driver event when `refusals` is "results". */
  onRefusal?: (r: Refusal) => void;
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
  private readonly lines = new Float64Array(RING_RECORDS);
  /** Records [pendFrom, pendTo) of the ring are read but not replayed yet (a batch cut by the flush timer). */
  private pendFrom = 0;
  private pendTo = 0;
  private readonly f64 = new Float64Array(1);
  private readonly f64w = new Uint32Array(this.f64.buffer);
  private readonly start = process.hrtime.bigint();
  private ended = false;
  private elapsed = 0n;
  private readonly onExpectation: ExpectationSink | undefined;
  private readonly onRefusal: ((r: Refusal) => void) | undefined;
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
    this.driver = opts.driver ?? platform.createDriver();
    this.clock = new ArrivalClock(platform.timing);
    this.onExpectation = opts.onExpectation;
    this.resultsRead = sink !== undefined || opts.onExpectation !== undefined || opts.resultsRead === true;
    if (opts.refusals !== undefined && opts.refusals !== "error" && opts.refusals !== "results") throw new RangeError(`refusals must be "error" or "results", not ${String(opts.refusals)}`);
    // Refusals as results: each one to the sink (none: only counted).
    if (opts.refusals === "results") this.onRefusal = opts.onRefusal ?? (() => {});
  }

  /** True once the whole trace has been replayed. */
  get done(): boolean {
    return this.pendFrom === this.pendTo && this.reader.done;
  }

  /**
   * Replays the next batch of TLPs, or the next driver event. Returns false when the trace has
   * ended (nothing was left to do).
   */
  step(): boolean {
    const core = this.platform.core;
    let ring = core.requestWords();
    let n: number;
    if (this.pendFrom < this.pendTo) {
      n = this.pendTo - this.pendFrom;
      ring.copyWithin(0, this.pendFrom * RECORD_WORDS, this.pendTo * RECORD_WORDS);
      this.lines.copyWithin(0, this.pendFrom, this.pendTo);
      this.pendFrom = this.pendTo = 0;
    } else {
      const e = this.reader.readDriverEvent();
      if (e !== undefined) {
        this.applyEvent(e);
        return true;
      }
      n = this.reader.readTlps(ring, this.lines, RING_RECORDS);
      if (n === 0) {
        const e2 = this.reader.readDriverEvent();
        if (e2 !== undefined) {
          this.applyEvent(e2);
          return true;
        }
        return !this.reader.done;
      }
    }
    // TLPs with an expected fault, decoded before arrivals() clears the format's own FLAGS bits.
    const expected = this.onExpectation ? this.expectedIn(ring, n) : undefined;
    const k = this.arrivals(ring, n);
    core.run(k, !this.resultsRead);
    if (expected) for (const [j, t] of expected) if (j < k) this.onExpectation!(this.seq + j, t, core.decode(j));
    if (this.sink) {
      ring = core.requestWords(); // run() may have grown memory
      for (let j = 0; j < k; j++) this.sink(this.seq + j, decodeTlpRecord(ring, j * RECORD_WORDS, this.lines[j]!), core.decode(j));
    }
    this.seq += k;
    if (k < n) {
      this.pendFrom = k;
      this.pendTo = n;
    }
    return true;
  }

  /** The records [0, n) of the batch that carry an expected fault, by index, as TLPs. */
  private expectedIn(w: Uint32Array, n: number): [number, TraceTlp & { expect: FaultExpectation }][] {
    const out: [number, TraceTlp & { expect: FaultExpectation }][] = [];
    for (let j = 0; j < n; j++) {
      if ((w[j * WORDS + 7]! & RecFlag.EXPECT) === 0) continue;
      const t = decodeTlpRecord(w, j * WORDS, this.lines[j]!);
      if (t.expect !== undefined) out.push([j, t as TraceTlp & { expect: FaultExpectation }]);
    }
    return out;
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
        this.onRefusal({ seq: this.seq, event: e.op, line: e.line, column: e.column, reason: err.message });
        return;
      }
      throw this.located(err, `${e.op}: `, `the ${e.op} at ${this.where(e.line, e.column || undefined)}`, e.line, e.column || undefined);
    }
    this.driverEvents++;
  }

  /**
   * Turns the raw times of records [0, n) into arrival cycles (and their FLAGS into the request
   * ring's), firing the lazy flush timer before the batch when its first TLP reaches it. Returns
   * how many records make this batch: fewer than n when a later TLP reaches the timer (it starts
   * the next batch, after the flush).
   */
  private arrivals(w: Uint32Array, n: number): number {
    const clock = this.clock;
    // The first TLP: its arrival may fire the lazy queue's timer before this batch.
    const t0 = this.arrival(w, 0);
    try {
      this.driver.advanceTo(BigInt(t0));
    } catch (err) {
      const line = this.lines[0]!;
      throw this.located(err, "lazy flush timer, fired at this TLP: ", `the lazy flush timer (fired at the TLP at ${this.where(line)})`, line);
    }
    const d = this.driver.deadline;
    const deadline = d === undefined ? Infinity : Number(d);
    // A flush writes guest memory, which may grow the core's memory and detach the view.
    if (w.length === 0) w = this.platform.core.requestWords();
    this.setArrival(w, 0, t0);
    const mode = clock.mode;
    for (let j = 1; j < n; j++) {
      const o = j * WORDS;
      const f = w[o + 7]!;
      const before = clock.now;
      let t: number;
      // the common cases inline: trace times in cycles or none, back-to-back
      if (mode === 0 && (f & 0x3000) === 0x1000) {
        t = w[o + 3]! * TWO32 + w[o + 2]!;
        if (t > before) clock.now = t;
        else t = before;
      } else if (mode === 0 && (f & 0x3000) === 0) {
        t = before;
        if (t === 0 && (f & ~FLAGS_MASK) === 0) continue; // TIME 0 already, FLAGS without the format's own bits
      } else if (mode === 1) t = 0;
      else t = this.arrival(w, j);
      if (t >= deadline) {
        // A TLP at or after the lazy flush deadline starts the next batch (after the flush).
        clock.now = before;
        return j;
      }
      w[o + 2] = t >>> 0;
      w[o + 3] = (t - (t >>> 0)) / TWO32;
      w[o + 7] = f & FLAGS_MASK;
    }
    return n;
  }

  /** Arrival cycle of record j of the batch (any mode and unit); advances the clock. */
  private arrival(w: Uint32Array, j: number): number {
    const o = j * WORDS;
    const unit = (w[o + 7]! >>> 12) & 3;
    let value = 0;
    if (unit === U_NS || unit === U_US) {
      this.f64w[0] = w[o + 2]!;
      this.f64w[1] = w[o + 3]!;
      value = this.f64[0]!;
    } else if (unit === U_CYCLES) value = w[o + 3]! * TWO32 + w[o + 2]!;
    try {
      return this.clock.arrival(this.seq + j, unit, value);
    } catch (err) {
      if (err instanceof ArrivalOverflow) throw this.reader.errorAt(err.message, this.lines[j]!);
      throw err;
    }
  }

  /** Writes arrival cycle t into record j and clears the format's own FLAGS bits. */
  private setArrival(w: Uint32Array, j: number, t: number): void {
    const o = j * WORDS;
    w[o + 2] = t >>> 0;
    w[o + 3] = (t - (t >>> 0)) / TWO32;
    w[o + 7] = w[o + 7]! & FLAGS_MASK;
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
    if (!(err instanceof DriverError || err instanceof RangeError)) return err as Error;
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
    return { tlps: this.seq, driverEvents: this.driverEvents, refusedEvents: this.refusedEvents, hostSeconds: Number(ns) / 1e9, driver: this.driver.stats };
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
