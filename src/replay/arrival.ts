/**
 * Arrival times: when each TLP and driver event of a replayed trace happens, in cycles at the
 * IOMMU clock (README "Arrival times"). The replay's request writer (request-writer.ts) turns each
 * record's trace time into its arrival with this clock as it writes the record.
 */
import type { DriverEvent, TraceTlp, TimeStamp } from "../trace/text.ts";
import { TimeUnit } from "../trace/binary.ts";
import { exactDecimal, floorMulDiv, type Decimal } from "../util/decimal.ts";
import type { TimingConfig } from "../config/timing.ts";

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
// Module-local copies: imported bindings may compile to getter calls (tsx).
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
