/**
 * The summary's Timing section from hand-made statistics: nearest-rank percentiles computed exactly
 * from 1-cycle histograms, percentiles that fall among overflowed latencies, the overall
 * distribution as the sum of the classes, sparse histograms, throughput and walker occupancy.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { latencyStats, timingSummary, formatTiming } from "../../src/report/timing.ts";
import { defaultTiming } from "../../src/config/timing.ts";
import { HIST_BINS, latencyClassNames } from "../../src/core/abi.ts";
import type { TimingStats } from "../../src/core/core.ts";

/** A histogram of HIST_BINS bins from {latency: count}. */
function hist(bins: Record<number, number>): Uint32Array {
  const h = new Uint32Array(HIST_BINS);
  for (const [k, v] of Object.entries(bins)) h[Number(k)] = v;
  return h;
}
const sumOf = (bins: Record<number, number>) => Object.entries(bins).reduce((a, [k, v]) => a + Number(k) * v, 0);

test("percentiles are the nearest rank: the smallest latency with at least p% at or below it", () => {
  // 100 latencies: 10 x 1, 80 x 5, 9 x 20, 1 x 100
  const b = { 1: 10, 5: 80, 20: 9, 100: 1 };
  const s = latencyStats(hist(b), 0, 100, sumOf(b));
  assert.equal(s, { count: 100, mean: (10 + 400 + 180 + 100) / 100, p50: 5, p90: 5, p99: 20, max: 100, overflow: 0 });
  // rank ceil(0.9 x 101) = 91 moves p90 to the next bin
  const b2 = { 1: 10, 5: 80, 20: 10, 100: 1 };
  const s2 = latencyStats(hist(b2), 0, 100, sumOf(b2));
  assert.is(s2.p90, 20);
  assert.is(s2.p99, 20);
  // a single latency is every percentile; latency 0 is a real bin
  assert.equal(latencyStats(hist({ 0: 1 }), 0, 0, 0), { count: 1, mean: 0, p50: 0, p90: 0, p99: 0, max: 0, overflow: 0 });
  // nothing timed: zeros
  assert.equal(latencyStats(hist({}), 0, 0, 0), { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0, overflow: 0 });
});

test("a percentile among the overflowed latencies is the lower bound HIST_BINS, flagged; the last rank is the max", () => {
  // 95 binned latencies, 5 of HIST_BINS cycles or more (the largest 9000)
  const b = { 10: 90, 4095: 5 };
  const s = latencyStats(hist(b), 5, 9000, sumOf(b) + 5 * 5000);
  assert.is(s.count, 100);
  assert.is(s.p50, 10);
  assert.is(s.p90, 10);
  assert.is(s.p99, HIST_BINS, "rank 99 is among the 5 overflowed latencies");
  assert.equal(s.inOverflow, ["p99"]);
  assert.is(s.overflow, 5);
  assert.is(s.max, 9000);
  assert.is(s.mean, (900 + 5 * 4095 + 25000) / 100);
  // one latency only, overflowed: every rank is the last, so every percentile is the max, exactly
  const one = latencyStats(hist({}), 1, 5000, 5000);
  assert.equal(one, { count: 1, mean: 5000, p50: 5000, p90: 5000, p99: 5000, max: 5000, overflow: 1 });
  // everything overflowed: p50 and p90 unknown beyond the bound, p99 of 10 is rank 10 = the max
  const all = latencyStats(hist({}), 10, 7000, 50000);
  assert.equal([all.p50, all.p90, all.p99, all.inOverflow], [HIST_BINS, HIST_BINS, 7000, ["p50", "p90"]]);
});

function stats(classes: Partial<Record<(typeof latencyClassNames)[number], { bins: Record<number, number>; overflow?: number; max?: number; sum?: number }>>): TimingStats {
  const c = {} as TimingStats["classes"];
  for (const name of latencyClassNames) {
    const x = classes[name] ?? { bins: {} };
    const binned = Object.values(x.bins).reduce((a, v) => a + v, 0);
    const maxBin = Math.max(0, ...Object.keys(x.bins).map(Number));
    c[name] = {
      count: BigInt(binned + (x.overflow ?? 0)),
      sum: BigInt(x.sum ?? sumOf(x.bins)),
      max: BigInt(x.max ?? maxBin),
      overflow: BigInt(x.overflow ?? 0),
      histogram: hist(x.bins),
    };
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
    fullWalk: { bins: { 400: 7, 812: 1 }, overflow: 2, max: 6000, sum: 400 * 7 + 812 + 5000 + 6000 },
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
  assert.equal(t.histograms.fullWalk, [[400, 7], [812, 1]], "overflowed latencies are not in the histogram");
  assert.equal(t.histograms.pdeHit, []);
  assert.is(t.histogramBins, HIST_BINS);
  assert.equal(t.classes.iotlbHit, { count: 20, mean: (72 + 12) / 20, p50: 4, p90: 4, p99: 6, max: 6, overflow: 0 });
  // 10 walks: rank 5 is binned, rank 9 among the 2 overflowed, rank 10 the max
  assert.equal(t.classes.fullWalk, { count: 10, mean: (2800 + 812 + 11000) / 10, p50: 400, p90: HIST_BINS, p99: 6000, max: 6000, overflow: 2, inOverflow: ["p90"] });
  // all 32: 18 x 4, 2 x 6, 2 x 120, 7 x 400, 1 x 812, 2 overflowed (5000, 6000)
  assert.equal(t.latency, { count: 32, mean: (72 + 12 + 240 + 2800 + 812 + 11000) / 32, p50: 4, p90: 400, p99: 6000, max: 6000, overflow: 2 });
  const text = formatTiming(t).join("\n");
  assert.match(text, /^Timing \(preset hypersio, 500 MHz, arrivals: trace times\)/);
  assert.match(text, /total cycles\s+1000\s+\(100 to 1100; 2\.000 us at 500 MHz\)/);
  assert.match(text, /16\.0 M translations\/s simulated/);
  assert.match(text, /full walk\s+10\s+1461\.2\s+400\s+>=4096\s+6000\s+6000\s+2\n/);
  assert.match(text, />=4096: the percentile falls among latencies of 4096 cycles or more/);
  assert.match(text, /walker occupancy\s+50\.0%/);
  assert.not.match(text, /PDE-cache hit/, "classes without translations are not printed");
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
