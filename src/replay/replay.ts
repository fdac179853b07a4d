/**
 * Replays a trace through the core, events in order: TLPs are encoded straight into the request
 * ring and translated with one core call per batch (up to the next driver event, the ring's 4096
 * records, or the moment the lazy flush queue's timer fires); driver events run between batches
 * through the driver (src/guest/vtd-driver.ts). Results are decoded only when someone asks.
 * Each request record carries its arrival cycle (ArrivalClock: trace times at the IOMMU clock,
 * back-to-back, or a fixed injection rate), never below the one before it.
 */
import type { VtdPlatform } from "../platform.ts";
import type { Request, Result } from "../core/core.ts";
import { RING_RECORDS } from "../core/abi.ts";
import { isTlp, type DriverEvent, type TraceEvent, type TraceTlp, type TimeStamp } from "../trace/text.ts";
import { VtdDriver, DriverError, type DriverStats } from "../guest/vtd-driver.ts";
import { InputError } from "../errors.ts";
import { exactDecimal, floorMulDiv, type Decimal } from "../util/decimal.ts";
import type { TimingConfig } from "../config/timing.ts";

export type ResultSink = (seq: number, tlp: TraceTlp, result: Result) => void;

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
 */
export class ArrivalClock {
  /** The latest time handed out. */
  now = 0n;
  private readonly mode: "trace" | "back-to-back" | "rate";
  private readonly clock: Decimal;
  /** injectionRate as an exact decimal (rate mode). */
  private readonly rate?: Decimal;
  private rateScale = 1n;

  /** cycles = ns x clockNum / clockDen (clockMHz / 1000 as a fraction of safe integers), when it fits. */
  private readonly clockNum?: number;
  private readonly clockDen: number = 1;

  constructor(timing: Pick<TimingConfig, "clockMHz" | "arrival" | "injectionRate">) {
    this.clock = exactDecimal(timing.clockMHz);
    const den = 10n ** BigInt(this.clock.scale) * 1000n;
    if (this.clock.digits <= BigInt(Number.MAX_SAFE_INTEGER) && den <= BigInt(Number.MAX_SAFE_INTEGER)) {
      this.clockNum = Number(this.clock.digits);
      this.clockDen = Number(den);
    }
    if (timing.injectionRate > 0) {
      this.mode = "rate";
      this.rate = exactDecimal(timing.injectionRate);
      this.rateScale = 10n ** BigInt(this.rate.scale);
    } else this.mode = timing.arrival;
  }

  private cycles(t: TimeStamp): bigint {
    if (t.unit === "cycles") return BigInt(t.value);
    // Fast path in exact integer doubles: value = m / 10^k, cycles = floor(m x clock x unit / 10^k).
    const s = String(t.value);
    if (!s.includes("e") && this.clockNum !== undefined) {
      const dot = s.indexOf(".");
      const m = dot < 0 ? t.value : Number(s.slice(0, dot) + s.slice(dot + 1));
      const num = m * this.clockNum * (t.unit === "us" ? 1000 : 1);
      const den = 10 ** (dot < 0 ? 0 : s.length - dot - 1) * this.clockDen;
      if (num + den <= Number.MAX_SAFE_INTEGER) {
        let q = Math.floor(num / den);
        if (q * den > num) q--;
        else if ((q + 1) * den <= num) q++;
        return BigInt(q);
      }
    }
    return floorMulDiv(exactDecimal(t.value), this.clock, t.unit === "us" ? ONE : THOUSAND);
  }

  private advance(t: bigint): bigint {
    if (t > this.now) this.now = t;
    return this.now;
  }

  /** Arrival cycle of TLP number `seq` (0-based, TLPs only). */
  tlp(seq: number, e: TraceTlp): bigint {
    if (this.mode === "rate") {
      // floor(seq / (digits / 10^scale)) = floor(seq * 10^scale / digits)
      return this.advance((BigInt(seq) * this.rateScale) / this.rate!.digits);
    }
    if (this.mode === "back-to-back") return 0n;
    return e.time === undefined ? this.now : this.advance(this.cycles(e.time));
  }

  /** The time of a driver event. */
  event(e: DriverEvent): bigint {
    return this.mode === "trace" && e.time !== undefined ? this.advance(this.cycles(e.time)) : this.now;
  }
}

/** The request record of a TLP arriving at cycle `time` (ArrivalClock). */
export function tlpToRequest(t: TraceTlp, time: bigint): Request {
  const r: Request = {
    op: t.op,
    sid: t.sid,
    addr: t.addr,
    len: t.len,
    priv: t.priv,
    exe: t.exe,
    ns: t.ns,
    ro: t.ro,
    ido: t.ido,
    translated: t.translated,
    nw: t.nw,
    time,
  };
  if (t.pasid !== undefined) r.pasid = t.pasid;
  return r;
}

export interface ReplayStats {
  /** TLPs in the trace (the core's `requests` also counts the ATS requests devices send on device-TLB misses). */
  tlps: number;
  driverEvents: number;
  hostSeconds: number;
  driver: DriverStats;
}

export interface ReplayOptions {
  /** The driver side that carries out driver events (default: a strict-mode driver for `platform`). */
  driver?: VtdDriver;
  /** The trace's file name, for errors of driver events. */
  file?: string;
}

/**
 * Replays `events` in order; `sink` (optional) receives every TLP's result in trace order, `seq`
 * counting TLPs only. At the end the driver flushes whatever it still defers.
 */
export function replay(platform: VtdPlatform, events: readonly TraceEvent[], sink?: ResultSink, opts: ReplayOptions = {}): ReplayStats {
  const core = platform.core;
  const driver = opts.driver ?? new VtdDriver(platform);
  const start = process.hrtime.bigint();
  let seq = 0;
  let driverEvents = 0;
  const clock = new ArrivalClock(platform.timing);
  for (let i = 0; i < events.length; ) {
    const e = events[i]!;
    if (!isTlp(e)) {
      const now = clock.event(e);
      try {
        driver.apply(e, now);
      } catch (err) {
        throw eventError(err, e, opts.file);
      }
      driverEvents++;
      i++;
      continue;
    }
    let arrival = clock.tlp(seq, e);
    driver.advanceTo(arrival); // the lazy queue's timer may fire before this TLP
    const deadline = driver.deadline;
    const at = i;
    let n = 0;
    core.requestWords(); // refresh views
    for (;;) {
      // The request record carries the arrival cycle (never below the previous one).
      core.encode(n++, tlpToRequest(events[i] as TraceTlp, arrival));
      i++;
      if (i >= events.length || n >= RING_RECORDS) break;
      const t = events[i]!;
      if (!isTlp(t)) break;
      const before = clock.now;
      const next = clock.tlp(seq + n, t);
      if (deadline !== undefined && next >= deadline) {
        // A TLP at or after the lazy flush deadline starts the next batch (after the flush).
        clock.now = before;
        break;
      }
      arrival = next;
    }
    core.run(n);
    if (sink) for (let k = 0; k < n; k++) sink(seq + k, events[at + k] as TraceTlp, core.decode(k));
    seq += n;
  }
  driver.finish();
  return { tlps: seq, driverEvents, hostSeconds: Number(process.hrtime.bigint() - start) / 1e9, driver: driver.stats };
}

/** A driver event that could not be carried out, as an input error at its line and column. */
function eventError(err: unknown, e: DriverEvent, file: string | undefined): unknown {
  if (!(err instanceof DriverError || err instanceof RangeError)) return err;
  return new InputError(`${e.op}: ${err.message}`, file ?? "trace", e.line, e.column);
}
