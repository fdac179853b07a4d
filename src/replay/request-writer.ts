/**
 * The one writer of the core's request ring during a replay. Every trace reader (binary, text,
 * in-memory) hands it each TLP as a record of the binary trace format (src/trace/binary.ts, 32
 * bytes, the trace's own time and its unit in FLAGS) as soon as the record is checked; `put`
 * turns the time into the arrival cycle (ArrivalClock) and writes the 24-byte request record
 * (src/core/abi.ts Req) straight into the ring, a view of the core's memory: one pass per TLP.
 * `putBlock` does the same for a block of records the binary reader has checked, in one loop.
 *
 * A batch's arrival times are deltas from its first TLP's arrival (Req.TIME, a u32; the base goes
 * to Ctrl.REQ_TIME_BASE). `put` refuses a TLP, ending the batch before it, when the ring is full,
 * when its arrival is 2^32 cycles or more after the base, or when it reaches the lazy flush
 * queue's deadline (the flush runs first: src/replay/replay.ts); the first TLP of a batch is never
 * refused. A refused TLP leaves the clock as it was, and the reader offers it again. The
 * clock moves on as the batch is written; end() brings it up to date.
 */
import { RING_RECORDS, REQ_SIZE, REQ_TIME_MAX } from "../core/abi.ts";
import { RecFlag, TimeUnit, decodeTlpRecord, type TlpSink } from "../trace/binary.ts";
import type { FaultExpectation, TraceTlp } from "../trace/text.ts";
import { ArrivalOverflow, type ArrivalClock } from "./arrival.ts";

/** 32-bit words per request record. */
export const REQ_WORDS = REQ_SIZE / 4;

const TWO32 = 4294967296;
// Module-local copies for the hot path: imported bindings may compile to getter calls (tsx).
const WORDS = REQ_WORDS;
const RING = RING_RECORDS;
const TIME_MAX = REQ_TIME_MAX;
const EXPECT = RecFlag.EXPECT;
const U_NS = TimeUnit.NS, U_US = TimeUnit.US, U_CYCLES = TimeUnit.CYCLES;
/** The request record's FLAGS: the binary record's bits 10:0 (kind and ReqFlag bits). */
const FLAGS_MASK = 0x7ff;
const EMPTY: Uint32Array = new Uint32Array(0);
/** decodeRequest's binary record (time 0, no expected fault). */
const scratch = new Uint32Array(8);

export type ExpectedTlp = TraceTlp & { expect: FaultExpectation };

export class RequestWriter implements TlpSink {
  /** The request ring (REQ_WORDS words per record) this batch is written into. */
  private ring = EMPTY;
  /** Line (text) or record (binary) number of each TLP of the batch. */
  readonly lines = new Float64Array(RING_RECORDS);
  /** TLPs written in this batch. */
  n = 0;
  /** The batch's base cycle: the first TLP's arrival. */
  base = 0;
  /** TLPs of the batch that carry an expected fault (`expect=`), by index, as the trace wrote them; when collected. */
  readonly expected: [number, ExpectedTlp][] | undefined;
  private deadline = Infinity;
  /** The first arrival the batch cannot take: the deadline, or 2^32 cycles after the base. */
  private limit = Infinity;
  private seq = 0;
  /** The clock's time during a batch (clock.now is brought up to date by end()). */
  private now = 0;
  /** The clock takes the trace's times (ArrivalClock mode 0): the fast path applies. */
  private readonly traceTimes: boolean;
  private readonly f64 = new Float64Array(1);
  private readonly f64w = new Uint32Array(this.f64.buffer);

  /**
   * `errorAt` makes the input error of an arrival beyond 2^53 - 1 cycles at a TLP's line;
   * `collectExpected`: keep the TLPs with an expected fault (`expected`).
   */
  constructor(
    readonly clock: ArrivalClock,
    private readonly errorAt: (message: string, line: number) => Error,
    collectExpected = false,
  ) {
    this.expected = collectExpected ? [] : undefined;
    this.traceTimes = clock.mode === 0;
  }

  /**
   * Starts a batch in `ring` (a view of the core's request ring); `seq` is the number of TLPs
   * before it, `deadline` the lazy flush queue's (cycles; Infinity: none).
   */
  begin(ring: Uint32Array, seq: number, deadline: number): void {
    this.ring = ring;
    this.seq = seq;
    this.deadline = deadline;
    this.n = 0;
    this.base = 0;
    this.now = this.clock.now;
    if (this.expected) this.expected.length = 0;
  }

  /** Ends the batch: the clock moves to its last arrival. */
  end(): void {
    this.clock.now = this.now;
  }

  put(w: Uint32Array, o: number, line: number): boolean {
    const n = this.n, f = w[o + 7]!;
    // The common case, small enough to inline into the readers' loops: trace times in cycles or
    // none, no expected fault, not the batch's first TLP, room in the ring.
    if (this.traceTimes && (f & (0x2000 | EXPECT)) === 0 && n !== 0 && n < RING) {
      let t = this.now;
      if (f & 0x1000) {
        const c = w[o + 3]! * TWO32 + w[o + 2]!;
        if (c > t) t = c;
      }
      if (t < this.limit) {
        this.now = t;
        this.write(n, w, o, t, line);
        return true;
      }
    }
    return this.putAny(w, o, line);
  }

  /**
   * put for a block of records (TlpSink.putBlock: checked, in time order, a cycle time or none, no
   * expected fault), converted into the ring in one loop with the batch's state in locals: the
   * same records, arrivals and refusals as `put` one at a time. Returns how many it took.
   */
  putBlock(w: Uint32Array, k: number, end: number, line: number): number {
    const k0 = k;
    if (this.n === 0 && k < end) {
      if (!this.putAny(w, k << 3, line)) return 0;
      k++;
    }
    if (!this.traceTimes) {
      for (; k < end; k++) if (!this.putAny(w, k << 3, line + (k - k0))) break;
      return k - k0;
    }
    const ring = this.ring, lines = this.lines, limit = this.limit, base = this.base;
    let n = this.n, now = this.now;
    // The ring's room bounds the block; past that the next batch takes the rest.
    const stop = Math.min(end, k + (RING - n));
    for (; k < stop; k++) {
      const o = k << 3, f = w[o + 7]!;
      // Arrival: the trace's cycle time, never before the previous TLP's (ArrivalClock mode 0).
      let t = now;
      if (f & 0x1000) {
        const c = w[o + 3]! * TWO32 + w[o + 2]!;
        if (c > t) t = c;
      }
      if (t >= limit) break;
      now = t;
      const r = n * WORDS;
      ring[r] = w[o]!;
      ring[r + 1] = w[o + 1]!;
      ring[r + 2] = w[o + 4]!;
      ring[r + 3] = w[o + 5]!;
      ring[r + 4] = t - base;
      ring[r + 5] = (f & FLAGS_MASK) | (w[o + 6]! << 16);
      lines[n] = line + (k - k0);
      n++;
    }
    this.n = n;
    this.now = now;
    return k - k0;
  }

  /** put in any mode, unit and position. */
  private putAny(w: Uint32Array, o: number, line: number): boolean {
    const n = this.n;
    if (n >= RING) return false;
    const f = w[o + 7]!;
    const clock = this.clock;
    const before = this.now;
    const mode = clock.mode;
    clock.now = before;
    let t: number;
    if (mode === 0 && (f & 0x3000) === 0x1000) {
      t = w[o + 3]! * TWO32 + w[o + 2]!;
      if (t < before) t = before;
    } else if (mode === 0 && (f & 0x3000) === 0) t = before;
    else if (mode === 1) t = 0;
    else t = this.arrival(w, o, f, line);
    if (n === 0) {
      this.base = t;
      // The flush queue's timer fires at this TLP, before the batch: nothing is deferred after it.
      if (t >= this.deadline) this.deadline = Infinity;
      this.limit = Math.min(this.deadline, t + TIME_MAX + 1);
    } else if (t >= this.limit) {
      clock.now = before;
      return false;
    }
    if (t > before) this.now = t;
    this.write(n, w, o, t, line);
    if (f & EXPECT && this.expected) this.expected.push([n, decodeTlpRecord(w, o, line) as ExpectedTlp]);
    return true;
  }

  /** Writes record `n` of the ring from the binary record at `o` of `w`, arriving at `t`. */
  private write(n: number, w: Uint32Array, o: number, t: number, line: number): void {
    const ring = this.ring, r = n * WORDS;
    ring[r] = w[o]!;
    ring[r + 1] = w[o + 1]!;
    ring[r + 2] = w[o + 4]!;
    ring[r + 3] = w[o + 5]!;
    ring[r + 4] = t - this.base;
    ring[r + 5] = (w[o + 7]! & FLAGS_MASK) | (w[o + 6]! << 16);
    this.lines[n] = line;
    this.n = n + 1;
  }

  /** The arrival of the TLP in record `o` of `w` in any mode and unit (the clock advances). */
  private arrival(w: Uint32Array, o: number, f: number, line: number): number {
    const unit = (f >>> 12) & 3;
    let value = 0;
    if (unit === U_NS || unit === U_US) {
      this.f64w[0] = w[o + 2]!;
      this.f64w[1] = w[o + 3]!;
      value = this.f64[0]!;
    } else if (unit === U_CYCLES) value = w[o + 3]! * TWO32 + w[o + 2]!;
    try {
      return this.clock.arrival(this.seq + this.n, unit, value);
    } catch (err) {
      if (err instanceof ArrivalOverflow) throw this.errorAt(err.message, line);
      throw err;
    }
  }
}

/**
 * Request record `i` of `ring` (REQ_WORDS words each) as a binary trace record at word `o` of
 * `dst`: its fields, no time, no expected fault.
 */
export function requestRecord(ring: Uint32Array, i: number, dst: Uint32Array, o: number): void {
  const r = i * WORDS;
  const fl = ring[r + 5]!;
  dst[o] = ring[r]!;
  dst[o + 1] = ring[r + 1]!;
  dst[o + 2] = 0;
  dst[o + 3] = 0;
  dst[o + 4] = ring[r + 2]!;
  dst[o + 5] = ring[r + 3]!;
  dst[o + 6] = fl >>> 16;
  dst[o + 7] = fl & FLAGS_MASK;
}

/**
 * The TLP of request record `i` of `ring` (REQ_WORDS words each), `line` its line or record number:
 * what the record holds (no trace time, no expected fault).
 */
export function decodeRequest(ring: Uint32Array, i: number, line: number): TraceTlp {
  requestRecord(ring, i, scratch, 0);
  return decodeTlpRecord(scratch, 0, line);
}
