/**
 * The run summary's "Timing" section, from the timing model's statistics (Core.timingStats()):
 * total cycles, simulated throughput at the IOMMU clock, latency percentiles from the log-linear
 * histograms (exact below 4096 cycles, within 2^-8 above), per latency class, and how busy the
 * walkers and translation slots were.
 */
import { HIST_BUCKETS, LatencyHist, latencyClassNames } from "../core/abi.ts";
import { HIST_EXACT, HIST_RELATIVE_ERROR, bucketHighOf } from "../core/histogram.ts";
import type { TimingStats } from "../core/core.ts";
import type { PresetName, TimingConfig } from "../config/timing.ts";
import { textTable, type TextRow } from "./text-table.ts";

export type LatencyClass = (typeof latencyClassNames)[number];

/**
 * How each latency class is printed: each architecture names them in its own words
 * (ArchReport.latencyClasses, src/report/arch/); the JSON keys stay the class names.
 */
export type LatencyClassLabels = Readonly<Record<LatencyClass, string>>;

export const percentileNames = ["p50", "p90", "p99"] as const;
export type PercentileName = (typeof percentileNames)[number];

/** Latencies of one class (or of all translations), in cycles. */
export interface LatencyStats {
  count: number;
  /** Sum / count, exact (0 without translations). */
  mean: number;
  /** Nearest-rank percentiles: exact below 4096 cycles; above, the upper end of the latency's bucket (at most 2^-8 above the true value) and never above `max`. */
  p50: number;
  p90: number;
  p99: number;
  /** Exact. */
  max: number;
}

/** What the histograms' buckets are (README "Run summary"). */
export interface HistogramLayout {
  /** Latencies below this have a bucket each (1 cycle wide). */
  exactBelowCycles: number;
  /** From there, each power-of-two range [2^e, 2^(e+1)) is split into this many buckets of 2^e / bucketsPerOctave cycles. */
  bucketsPerOctave: number;
  /** Buckets in all (fixed memory per latency class). */
  buckets: number;
  /** A bucket is narrower than this fraction of any latency in it: the bound of a percentile's error. */
  relativeError: number;
}

export const histogramLayout: HistogramLayout = {
  exactBelowCycles: HIST_EXACT,
  bucketsPerOctave: 2 ** LatencyHist.SUB_LG2,
  buckets: HIST_BUCKETS,
  relativeError: HIST_RELATIVE_ERROR,
};

export interface TimingSummary {
  preset: PresetName;
  clockMHz: number;
  /** How arrival times were set: the trace's times, all at cycle 0, or a fixed injection rate. */
  arrival: "trace" | "back-to-back" | "injection-rate";
  /** TLPs per cycle, when `arrival` is "injection-rate". */
  injectionRate?: number;
  /** Translations the model timed (one per TLP). */
  translations: number;
  firstArrival: number;
  lastCompletion: number;
  /** lastCompletion - firstArrival (0 without translations). */
  totalCycles: number;
  /** totalCycles at the clock. */
  totalNs: number;
  /** Simulated throughput: translations / totalCycles, and per second at the clock (not host speed). */
  translationsPerCycle: number;
  translationsPerSecond: number;
  latency: LatencyStats;
  classes: Record<LatencyClass, LatencyStats>;
  walkerSlots: number;
  translationSlots: number;
  walkerBusyCycles: number;
  /** walkerBusyCycles / (walkerSlots x totalCycles). */
  walkerOccupancy: number;
  /** Cycles requests waited for a free translation slot (back-pressure), summed. */
  stallCycles: number;
  peakOutstanding: number;
  /** Invalidation work in cycles (fetches, entries removed, waits); it does not delay translations. */
  invalidationCycles: number;
  /** IOTLB hits on an entry whose walk was still in flight: waited for it (coalesce) ... */
  coalescedHits: number;
  /** ... or walked again (coalesce off). */
  rewalks: number;
  /** What a histogram bucket holds. */
  histogram: HistogramLayout;
  /**
   * Per class, sparse: [smallest latency of the bucket, count] for every non-empty bucket, by latency.
   * Below 4096 cycles a bucket is one latency; above, it holds the latencies up to
   * bucketHighOf(low) (src/core/histogram.ts).
   */
  histograms: Record<LatencyClass, [number, number][]>;
}

/**
 * Nearest-rank percentiles of the latencies in `histogram` ([smallest latency of a bucket, count]
 * pairs, by latency), the largest being `max` and their sum `sum`: the p-th percentile is the
 * smallest latency L such that at least ceil(p/100 x N) latencies are <= L. A bucket wider than one
 * cycle gives its largest latency (the true percentile is in the bucket, at most 2^-8 below it),
 * never more than `max`.
 */
export function latencyStats(histogram: readonly (readonly [number, number])[], max: number, sum: number): LatencyStats {
  let count = 0;
  for (const [, c] of histogram) count += c;
  const s: LatencyStats = { count, mean: count ? sum / count : 0, p50: 0, p90: 0, p99: 0, max: count ? max : 0 };
  if (count === 0) return s;
  const wanted = percentileNames.map((name) => ({ name, rank: Math.max(1, Math.ceil((Number(name.slice(1)) / 100) * count)) }));
  let cum = 0;
  let w = 0;
  for (let i = 0; i < histogram.length && w < wanted.length; i++) {
    const [low, c] = histogram[i]!;
    cum += c;
    while (w < wanted.length && cum >= wanted[w]!.rank) s[wanted[w++]!.name] = Math.min(bucketHighOf(low), max);
  }
  return s;
}

/** The sum of sparse histograms, by latency. */
function mergeHistograms(hs: readonly (readonly [number, number])[][]): [number, number][] {
  const m = new Map<number, number>();
  for (const h of hs) for (const [low, c] of h) m.set(low, (m.get(low) ?? 0) + c);
  return [...m].sort((a, b) => a[0] - b[0]);
}

/** The Timing section; undefined for a functional run. */
export function timingSummary(stats: TimingStats | undefined, timing: TimingConfig, preset: PresetName): TimingSummary | undefined {
  if (!stats || !timing.enable) return undefined;
  const n = Number;
  const translations = n(stats.timed);
  const first = translations ? stats.firstArrival : 0n;
  const last = translations ? stats.lastCompletion : 0n;
  const totalCycles = n(last - first);
  const classes = {} as Record<LatencyClass, LatencyStats>;
  const histograms = {} as Record<LatencyClass, [number, number][]>;
  let max = 0, sum = 0;
  for (const name of latencyClassNames) {
    const c = stats.classes[name];
    classes[name] = latencyStats(c.histogram, n(c.max), n(c.sum));
    histograms[name] = c.histogram.map(([low, count]) => [low, count]);
    sum += n(c.sum);
    if (n(c.max) > max) max = n(c.max);
  }
  const perCycle = totalCycles ? translations / totalCycles : 0;
  const s: TimingSummary = {
    preset,
    clockMHz: timing.clockMHz,
    arrival: timing.injectionRate > 0 ? "injection-rate" : timing.arrival,
    translations,
    firstArrival: n(first),
    lastCompletion: n(last),
    totalCycles,
    totalNs: (totalCycles * 1000) / timing.clockMHz,
    translationsPerCycle: perCycle,
    translationsPerSecond: perCycle * timing.clockMHz * 1e6,
    latency: latencyStats(mergeHistograms(Object.values(histograms)), max, sum),
    classes,
    walkerSlots: timing.walkerSlots,
    translationSlots: timing.translationSlots,
    walkerBusyCycles: n(stats.walkerBusyCycles),
    walkerOccupancy: totalCycles ? n(stats.walkerBusyCycles) / (timing.walkerSlots * totalCycles) : 0,
    stallCycles: n(stats.stallCycles),
    peakOutstanding: n(stats.peakOutstanding),
    invalidationCycles: n(stats.invalidationCycles),
    coalescedHits: n(stats.coalesced),
    rewalks: n(stats.rewalks),
    histogram: histogramLayout,
    histograms,
  };
  if (s.arrival === "injection-rate") s.injectionRate = timing.injectionRate;
  return s;
}

/** Engineering notation for rates: 1234567 -> "1.23 M". */
function si(v: number): string {
  const units: [number, string][] = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [f, u] of units) if (v >= f) return `${(v / f).toPrecision(3)} ${u}`;
  return v.toPrecision(3);
}

/**
 * The printed Timing section: a heading and label / value / note rows, the latency table laid out
 * on its own.
 */
function timingRows(t: TimingSummary, labels: LatencyClassLabels): TextRow[] {
  const out: TextRow[] = [];
  const arrival = t.arrival === "injection-rate" ? `${t.injectionRate} TLPs/cycle` : t.arrival === "trace" ? "trace times" : "back-to-back";
  out.push(`Timing (preset ${t.preset}, ${t.clockMHz} MHz, arrivals: ${arrival})`);
  out.push(["total cycles", t.totalCycles, `(${t.firstArrival} to ${t.lastCompletion}; ${fmtNs(t.totalNs)} at ${t.clockMHz} MHz)`]);
  out.push(["translations per cycle", t.translationsPerCycle.toFixed(4), `(${si(t.translationsPerSecond)} translations/s simulated, not host speed)`]);
  const latency: TextRow[] = [["latency (cycles)", "count", "mean", "p50", "p90", "p99", "max"]];
  const line = (label: string, s: LatencyStats) => latency.push([label, s.count, s.mean.toFixed(1), s.p50, s.p90, s.p99, s.max]);
  line("  all", t.latency);
  for (const name of latencyClassNames) if (t.classes[name].count) line(`  ${labels[name]}`, t.classes[name]);
  out.push(...textTable(latency, { indent: 2, header: true }));
  if ([t.latency, ...Object.values(t.classes)].some((s) => percentileNames.some((p) => s[p] >= t.histogram.exactBelowCycles)))
    out.push(`    (a percentile of ${t.histogram.exactBelowCycles} cycles or more is the top of its histogram bucket: less than ${(100 * t.histogram.relativeError).toFixed(2)}% above the true value)`);
  out.push(["walker occupancy", `${(100 * t.walkerOccupancy).toFixed(1)}%`, `(${t.walkerBusyCycles} busy cycles over ${t.walkerSlots} walkers)`]);
  out.push(["stall cycles", t.stallCycles, `(waiting for one of ${t.translationSlots} translation slots)`]);
  out.push(["peak outstanding", t.peakOutstanding]);
  out.push(["invalidation cycles", t.invalidationCycles]);
  out.push(["coalesced / re-walked hits", `${t.coalescedHits} / ${t.rewalks}`]);
  return out;
}

/** The printed Timing section on its own (lines), the latency classes named by `labels` (the architecture's). */
export function formatTiming(t: TimingSummary, labels: LatencyClassLabels): string[] {
  return textTable(timingRows(t, labels), { indent: 2 });
}

/** A duration for people: 1.234 us, 51.46 ms, 900.0 s. */
export function fmtNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toPrecision(4)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toPrecision(4)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toPrecision(4)} us`;
  return `${ns.toPrecision(4)} ns`;
}
