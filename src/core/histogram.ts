/**
 * The host's view of the core's latency histogram layout (abi LatencyHist; the core side is
 * assembly/timing/histogram.ts): which latencies a bucket holds. Exact 1-cycle buckets below
 * 2^EXACT_LG2 = 4096 cycles; from there each power-of-two range [2^e, 2^(e+1)) is split into
 * 2^SUB_LG2 = 256 buckets of 2^(e-8) cycles. Latencies are JS numbers: exact up to 2^53 cycles (a
 * bucket bound beyond that is the nearest double).
 */
import { LatencyHist, HIST_BUCKETS } from "./abi.ts";

export const HIST_EXACT = 2 ** LatencyHist.EXACT_LG2;
const SUB = 2 ** LatencyHist.SUB_LG2;
/** A bucket is narrower than this fraction of any latency in it (2^-8). */
export const HIST_RELATIVE_ERROR = 2 ** -LatencyHist.SUB_LG2;

/** floor(log2 v) for v >= 1, exact for every double (Math.log2 may round near powers of two). */
export function log2Floor(v: number): number {
  let e = Math.floor(Math.log2(v));
  if (2 ** e > v) e--;
  else if (2 ** (e + 1) <= v) e++;
  return e;
}

/** The bucket of a latency (cycles, a non-negative integer). */
export function bucketOf(latency: number): number {
  if (latency < HIST_EXACT) return latency;
  const e = log2Floor(latency);
  const sub = Math.floor(latency / 2 ** (e - LatencyHist.SUB_LG2)) - SUB;
  return HIST_EXACT + (e - LatencyHist.EXACT_LG2) * SUB + sub;
}

/** The smallest latency of bucket `i`. */
export function bucketLow(i: number): number {
  if (i < 0 || i >= HIST_BUCKETS || !Number.isInteger(i)) throw new RangeError(`no latency bucket ${i}`);
  if (i < HIST_EXACT) return i;
  const k = i - HIST_EXACT;
  const e = LatencyHist.EXACT_LG2 + Math.floor(k / SUB);
  return (SUB + (k % SUB)) * 2 ** (e - LatencyHist.SUB_LG2);
}

/** The largest latency of bucket `i` (inclusive). */
export function bucketHigh(i: number): number {
  if (i + 1 < HIST_BUCKETS) return bucketLow(i + 1) - 1;
  return 2 ** 64 - 1;
}

/** The largest latency of the bucket whose smallest is `low`. */
export function bucketHighOf(low: number): number {
  return bucketHigh(bucketOf(low));
}
