/**
 * The summary's Timing section from hand-made statistics: nearest-rank percentiles from the
 * log-linear histograms (exact below 4096 cycles, the top of the bucket above, never above the max),
 * the overall distribution as the sum of the classes, sparse histograms, throughput and walker
 * occupancy, and the printed layout (columns never touch, even with 12-digit values).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { latencyStats, timingSummary, formatTiming } from "../../src/report/timing.ts";
import { vtdReport } from "../../src/report/arch/vtd.ts";
import { defaultTiming } from "../../src/config/timing.ts";
import { latencyClassNames } from "../../src/core/abi.ts";
import { bucketLow, bucketOf, bucketHigh, HIST_RELATIVE_ERROR } from "../../src/core/histogram.ts";
import type { TimingStats } from "../../src/core/core.ts";

/** A sparse histogram ([bucket low, count] by latency) from {latency: count}, as the core fills it. */
function hist(latencies: Record<number, number>): [number, number][] {
  const m = new Map<number, number>();
  for (const [k, v] of Object.entries(latencies)) {
    const low = bucketLow(bucketOf(Number(k)));
    m.set(low, (m.get(low) ?? 0) + v);
  }
  return [...m].sort((a, b) => a[0] - b[0]);
}
const sumOf = (bins: Record<number, number>) => Object.entries(bins).reduce((a, [k, v]) => a + Number(k) * v, 0);

test("histogram layout: exact below 4096, 256 buckets per power of two above, up to 2^64", () => {
  for (const v of [0, 1, 4095]) assert.equal([bucketOf(v), bucketLow(v), bucketHigh(v)], [v, v, v]);
  // 4096..8191: 16-cycle buckets; 8192..16383: 32-cycle buckets
  assert.equal([bucketOf(4096), bucketOf(4111), bucketOf(4112), bucketOf(8191), bucketOf(8192)], [4096, 4096, 4097, 4096 + 255, 4096 + 256]);
  assert.equal([bucketLow(4097), bucketHigh(4097)], [4112, 4127]);
  assert.equal([bucketLow(4096 + 256), bucketHigh(4096 + 256)], [8192, 8223]);
  // 2^34 + 176 (test/timing): the first bucket of the power of two 2^34, 2^26 cycles wide
  assert.is(bucketOf(2 ** 34 + 176), 4096 + 22 * 256);
  assert.equal([bucketLow(4096 + 22 * 256), bucketHigh(4096 + 22 * 256)], [2 ** 34, 2 ** 34 + 2 ** 26 - 1]);
  // the last bucket: 2^63 + 255 x 2^55 .. 2^64 - 1
  assert.is(bucketOf(2 ** 64 - 2 ** 55), 17407);
  assert.is(bucketLow(17407), 2 ** 63 + 255 * 2 ** 55);
  assert.throws(() => bucketLow(17408), /no latency bucket 17408/);
  // every bucket is narrower than 2^-8 of its smallest latency; buckets tile the range
  assert.is(HIST_RELATIVE_ERROR, 1 / 256);
  for (let i = 4096; i < 17407; i += 97) {
    assert.ok(bucketHigh(i) - bucketLow(i) + 1 <= bucketLow(i) * HIST_RELATIVE_ERROR, `bucket ${i}`);
    if (bucketHigh(i) < 2 ** 53) assert.is(bucketLow(i + 1), bucketHigh(i) + 1);
  }
});

test("percentiles are the nearest rank: the smallest latency with at least p% at or below it", () => {
  // 100 latencies: 10 x 1, 80 x 5, 9 x 20, 1 x 100
  const b = { 1: 10, 5: 80, 20: 9, 100: 1 };
  const s = latencyStats(hist(b), 100, sumOf(b));
  assert.equal(s, { count: 100, mean: (10 + 400 + 180 + 100) / 100, p50: 5, p90: 5, p99: 20, max: 100 });
  // rank ceil(0.9 x 101) = 91 moves p90 to the next bin
  const b2 = { 1: 10, 5: 80, 20: 10, 100: 1 };
  const s2 = latencyStats(hist(b2), 100, sumOf(b2));
  assert.is(s2.p90, 20);
  assert.is(s2.p99, 20);
  // a single latency is every percentile; latency 0 is a real bin
  assert.equal(latencyStats(hist({ 0: 1 }), 0, 0), { count: 1, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 });
  // nothing timed: zeros
  assert.equal(latencyStats([], 0, 0), { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 });
});

test("percentiles beyond 4096 cycles are real: the top of their bucket, within 2^-8, never above the max", () => {
  // 90 x 10 cycles, 5 x 4095, 4 x 5000 (bucket 4992..5007), 1 x 9000 (bucket 8992..9023)
  const b = { 10: 90, 4095: 5, 5000: 4, 9000: 1 };
  const s = latencyStats(hist(b), 9000, sumOf(b));
  assert.equal(s, { count: 100, mean: (900 + 5 * 4095 + 20000 + 9000) / 100, p50: 10, p90: 10, p99: 5007, max: 9000 });
  assert.ok(s.p99 - 5000 < 5000 / 256, "within 2^-8 of the true 5000");
  // the last rank is in the max's bucket: the max itself, not the bucket's top (9023)
  const last = latencyStats(hist({ 10: 9, 9000: 1 }), 9000, 9090);
  assert.equal([last.p50, last.p90, last.p99], [10, 10, 9000]);
  // a saturated run: every latency between 5e11 and 6e11 cycles; p50 of 2 x 5e11 + 1 x 6e11
  const big = { 500000000000: 2, 600000000000: 1 };
  const sb = latencyStats(hist(big), 6e11, sumOf(big));
  const top = bucketHigh(bucketOf(5e11));
  assert.is(top, 500000000000 + 1073741824 - 1 - (500000000000 % 1073741824), "2^30-cycle buckets from 2^38");
  assert.equal([sb.p50, sb.p90, sb.p99, sb.max], [top, 6e11, 6e11, 6e11]);
  assert.ok((sb.p50 - 5e11) / 5e11 < 1 / 256);
});

function stats(classes: Partial<Record<(typeof latencyClassNames)[number], { bins: Record<number, number>; sum?: number }>>): TimingStats {
  const c = {} as TimingStats["classes"];
  for (const name of latencyClassNames) {
    const x = classes[name] ?? { bins: {} };
    const count = Object.values(x.bins).reduce((a, v) => a + v, 0);
    const max = Math.max(0, ...Object.keys(x.bins).map(Number));
    c[name] = { count: BigInt(count), sum: BigInt(x.sum ?? sumOf(x.bins)), max: BigInt(max), histogram: hist(x.bins) };
  }
  return {
    firstArrival: 100n,
    lastCompletion: 1100n,
    stallCycles: 42n,
    peakOutstanding: 7n,
    walkerBusyCycles: 2000n,
    timed: 32n,
    invalidationCycles: 300n,
    coalesced: 3n,
    rewalks: 0n,
    classes: c,
  };
}

test("the Timing section: overall distribution over the classes, sparse histograms, throughput, occupancy", () => {
  const st = stats({
    iotlbHit: { bins: { 4: 18, 6: 2 } },
    fullWalk: { bins: { 400: 7, 812: 1, 5000: 1, 6000: 1 } },
    fault: { bins: { 120: 2 } },
  });
  const t = timingSummary(st, { ...defaultTiming, clockMHz: 500, walkerSlots: 4 }, "hypersio")!;
  assert.is(t.preset, "hypersio");
  assert.is(t.clockMHz, 500);
  assert.is(t.arrival, "trace");
  assert.is(t.translations, 32);
  assert.is(t.totalCycles, 1000, "last completion - first arrival");
  assert.is(t.totalNs, 2000, "1000 cycles at 500 MHz");
  assert.is(t.translationsPerCycle, 0.032);
  assert.is(t.translationsPerSecond, 0.032 * 500e6);
  assert.is(t.walkerOccupancy, 2000 / (4 * 1000));
  assert.equal([t.stallCycles, t.peakOutstanding, t.invalidationCycles, t.coalescedHits, t.rewalks], [42, 7, 300, 3, 0]);
  assert.equal(t.histograms.iotlbHit, [[4, 18], [6, 2]]);
  // 5000 is in bucket 4992..5007 (16-cycle buckets from 4096), 6000 in 6000..6015
  assert.equal(t.histograms.fullWalk, [[400, 7], [812, 1], [4992, 1], [6000, 1]]);
  assert.equal(t.histograms.pdeHit, []);
  assert.equal(t.histogram, { exactBelowCycles: 4096, bucketsPerOctave: 256, buckets: 17408, relativeError: 1 / 256 });
  assert.equal(t.classes.iotlbHit, { count: 20, mean: (72 + 12) / 20, p50: 4, p90: 4, p99: 6, max: 6 });
  // 10 walks: rank 5 is 400, rank 9 the 5000 (its bucket's top 5007), rank 10 the max
  assert.equal(t.classes.fullWalk, { count: 10, mean: (2800 + 812 + 11000) / 10, p50: 400, p90: 5007, p99: 6000, max: 6000 });
  // all 32: 18 x 4, 2 x 6, 2 x 120, 7 x 400, 1 x 812, 5000, 6000
  assert.equal(t.latency, { count: 32, mean: (72 + 12 + 240 + 2800 + 812 + 11000) / 32, p50: 4, p90: 400, p99: 6000, max: 6000 });
  const text = formatTiming(t, vtdReport.latencyClasses).join("\n");
  assert.match(text, /^Timing \(preset hypersio, 500 MHz, arrivals: trace times\)/);
  assert.match(text, /total cycles\s+1000\s+\(100 to 1100; 2\.000 us at 500 MHz\)/);
  assert.match(text, /16\.0 M translations\/s simulated/);
  assert.match(text, /full walk\s+10\s+1461\.2\s+400\s+5007\s+6000\s+6000\n/);
  assert.match(text, /a percentile of 4096 cycles or more is the top of its histogram bucket: less than 0\.39% above the true value/);
  assert.match(text, /walker occupancy\s+50\.0%/);
  assert.not.match(text, /PDE-cache hit/, "classes without translations are not printed");
});

test("the printed Timing section: exact layout, and columns never touch with 12-digit values", () => {
  const small = timingSummary(stats({ iotlbHit: { bins: { 4: 3, 6: 1 } } }), { ...defaultTiming, clockMHz: 1000 }, "vtd-default")!;
  assert.equal(formatTiming(small, vtdReport.latencyClasses), [
    "Timing (preset vtd-default, 1000 MHz, arrivals: trace times)",
    "  total cycles                  1000  (100 to 1100; 1.000 us at 1000 MHz)",
    "  translations per cycle      0.0320  (32.0 M translations/s simulated, not host speed)",
    "  latency (cycles)  count  mean  p50  p90  p99  max",
    "    all                 4   4.5    4    6    6    6",
    "    IOTLB hit           4   4.5    4    6    6    6",
    "  walker occupancy             50.0%  (2000 busy cycles over 4 walkers)",
    "  stall cycles                    42  (waiting for one of 32 translation slots)",
    "  peak outstanding                 7",
    "  invalidation cycles            300",
    "  coalesced / re-walked hits   3 / 0",
  ]);
  // a saturated run: 446954 coalesced hits, latencies of 5e11 cycles
  const sat = { ...stats({ fullWalk: { bins: { 500001115842: 3 } } }), coalesced: 446954n, lastCompletion: 900000000100n };
  const lines = formatTiming(timingSummary(sat, defaultTiming, "vtd-default")!, vtdReport.latencyClasses);
  assert.ok(lines.includes("  total cycles                900000000000  (100 to 900000000100; 900.0 s at 1000 MHz)"), lines.join("\n"));
  assert.ok(lines.includes("  coalesced / re-walked hits    446954 / 0"), lines.join("\n"));
  const all = lines.find((l) => l.startsWith("    all"))!;
  assert.equal(all.trim().split(/\s{2,}/), ["all", "3", "500001115842.0", "500001115842", "500001115842", "500001115842", "500001115842"]);
  // every column of the latency table starts where its header does or further right, 2+ spaces apart
  const head = lines.find((l) => l.includes("latency (cycles)"))!;
  assert.is(head.length, all.length, "right-aligned numbers end under their headers");
});

test("no Timing section in a functional run; an injection rate is reported as such", () => {
  assert.is(timingSummary(undefined, defaultTiming, "vtd-default"), undefined);
  assert.is(timingSummary(stats({}), { ...defaultTiming, enable: false }, "vtd-default"), undefined);
  const t = timingSummary(stats({ iotlbHit: { bins: { 2: 1 } } }), { ...defaultTiming, injectionRate: 0.5 }, "vtd-default")!;
  assert.is(t.arrival, "injection-rate");
  assert.is(t.injectionRate, 0.5);
  const empty = timingSummary({ ...stats({}), timed: 0n, firstArrival: 2n ** 64n - 1n, lastCompletion: 0n }, defaultTiming, "vtd-default")!;
  assert.equal([empty.totalCycles, empty.firstArrival, empty.translationsPerCycle, empty.walkerOccupancy], [0, 0, 0, 0]);
});

test.run();
