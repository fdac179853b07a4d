// NOT ARCHITECTURAL: the latency histogram of one latency class, log-linear ("HDR"-style, after Gil
// Tene's HdrHistogram): fixed size, no allocation, O(1) record, every u64 latency counted.
//
//   latency v                      bucket                                    bucket width
//   0 .. 2^12 - 1                  v (exact)                                 1 cycle
//   2^e .. 2^(e+1) - 1, e >= 12    2^12 + (e - 12) * 2^8 + (v >> (e - 8)) - 2^8   2^(e - 8) cycles
//
// e = 63 - clz(v). A bucket [lo, lo + 2^(e-8) - 1] with lo >= 2^e is narrower than 2^-8 of any
// latency in it, so the upper bound the host reports for a percentile exceeds the true value by less
// than 2^-8 (0.39%) of it; below 4096 cycles the percentiles are exact. 17408 buckets of u64 counts
// (136 KiB) per class; the layout constants are in abi.ts (LatencyHist, HIST_BUCKETS), which the host
// mirrors in src/core/histogram.ts.
import { HIST_EXACT_LG2, HIST_SUB_LG2, HIST_BUCKETS } from "../abi";
import { DEBUG } from "../common/debug";

const EXACT: u64 = 1 << HIST_EXACT_LG2;
const SUB: u32 = 1 << HIST_SUB_LG2;

/** The bucket of latency `v` (0 .. HIST_BUCKETS - 1). */
// @ts-ignore: decorator
@inline export function histBucket(v: u64): u32 {
  if (v < EXACT) return <u32>v;
  const e = 63 - <u32>clz(v);
  const sub = <u32>(v >> (e - HIST_SUB_LG2)) - SUB; // 0 .. SUB - 1: the top bit of v dropped
  return <u32>EXACT + (e - HIST_EXACT_LG2) * SUB + sub;
}

/** Counts latency `v` in the histogram at `base` (HIST_BUCKETS u64 counts). */
// @ts-ignore: decorator
@inline export function histRecord(base: usize, v: u64): void {
  const b = histBucket(v);
  if (DEBUG) assert(b < HIST_BUCKETS);
  const at = base + (<usize>b << 3);
  store<u64>(at, load<u64>(at) + 1);
}
