/**
 * The run summary's "Timing" section, from the timing model's statistics (Core.timingStats()):
 * total cycles, simulated throughput at the IOMMU clock, latency percentiles computed exactly from
 * the 1-cycle histograms, per latency class, and how busy the walkers and translation slots were.
 */
import { HIST_BINS, latencyClassNames } from "../core/abi.ts";
import type { TimingStats } from "../core/core.ts";
import type { PresetName, TimingConfig } from "../config/timing.ts";

export type LatencyClass = (typeof latencyClassNames)[number];

/** How each latency class is printed. */
export const latencyClassLabels: Record<LatencyClass, string> = {
  iotlbHit: "IOTLB hit",
  pdeHit: "PDE-cache hit",
  pdpeHit: "PDPE-cache hit",
  pml4eHit: "PML4E-cache hit",
  pml5eHit: "PML5E-cache hit",
  fullWalk: "full walk",
  fault: "fault",
  other: "other",
};

export const percentileNames = ["p50", "p90", "p99"] as const;
export type PercentileName = (typeof percentileNames)[number];

/** Latencies of one class (or of all translations), in cycles. */
export interface LatencyStats {
  count: number;
  /** Sum / count, overflowed latencies included (0 without translations). */
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Latencies of HIST_BINS cycles or more: counted (and in the mean and max), not binned. */
  overflow: number;
  /**
   * Percentiles whose rank falls among the overflowed latencies: their value is the lower bound
   * HIST_BINS (the exact max when the rank is the last one). Absent when every percentile is exact.
   */
  inOverflow?: PercentileName[];
}

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
  /** Histogram bin width (cycles) and bins; latencies from histogramBins on are in `overflow`. */
  histogramBinCycles: 1;
  histogramBins: number;
  /** Per class, sparse: [latency in cycles, count] for every non-empty bin, by latency. */
  histograms: Record<LatencyClass, [number, number][]>;
}

/**
 * Nearest-rank percentiles of the latencies in `histogram` (bin i = latency i cycles) plus
 * `overflow` latencies of histogram.length cycles or more, the largest of all being `max`: the
 * p-th percentile is the smallest latency L such that at least ceil(p/100 x N) latencies are <= L.
 */
export function latencyStats(histogram: ArrayLike<number>, overflow: number, max: number, sum: number): LatencyStats {
  let binned = 0;
  for (let i = 0; i < histogram.length; i++) binned += histogram[i]!;
  const count = binned + overflow;
  const s: LatencyStats = { count, mean: count ? sum / count : 0, p50: 0, p90: 0, p99: 0, max: count ? max : 0, overflow };
  if (count === 0) return s;
  const wanted = percentileNames.map((name) => ({ name, rank: Math.max(1, Math.ceil((Number(name.slice(1)) / 100) * count)) }));
  let cum = 0;
  let w = 0;
  for (let i = 0; i < histogram.length && w < wanted.length; i++) {
    cum += histogram[i]!;
    while (w < wanted.length && cum >= wanted[w]!.rank) s[wanted[w++]!.name] = i;
  }
  for (; w < wanted.length; w++) {
    const { name, rank } = wanted[w]!;
    if (rank === count) s[name] = max; // the last rank is the maximum, known exactly
    else {
      s[name] = histogram.length;
      (s.inOverflow ??= []).push(name);
    }
  }
  return s;
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
  const all = new Float64Array(HIST_BINS);
  let overflow = 0, max = 0, sum = 0;
  for (const name of latencyClassNames) {
    const c = stats.classes[name];
    classes[name] = latencyStats(c.histogram, n(c.overflow), n(c.max), n(c.sum));
    const pairs: [number, number][] = [];
    c.histogram.forEach((v, i) => {
      if (v) {
        pairs.push([i, v]);
        all[i]! += v;
      }
    });
    histograms[name] = pairs;
    overflow += n(c.overflow);
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
    latency: latencyStats(all, overflow, max, sum),
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
    histogramBinCycles: 1,
    histogramBins: HIST_BINS,
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

const row = (label: string, value: string | number, note = "") => `  ${label.padEnd(26)}${String(value).padStart(10)}${note}`;

/** The printed Timing section. */
export function formatTiming(t: TimingSummary): string[] {
  const out: string[] = [];
  const arrival = t.arrival === "injection-rate" ? `${t.injectionRate} TLPs/cycle` : t.arrival === "trace" ? "trace times" : "back-to-back";
  out.push(`Timing (preset ${t.preset}, ${t.clockMHz} MHz, arrivals: ${arrival})`);
  out.push(row("total cycles", t.totalCycles, `  (${t.firstArrival} to ${t.lastCompletion}; ${fmtNs(t.totalNs)} at ${t.clockMHz} MHz)`));
  out.push(row("translations per cycle", t.translationsPerCycle.toFixed(4), `  (${si(t.translationsPerSecond)} translations/s simulated, not host speed)`));
  const cols = ["count", "mean", "p50", "p90", "p99", "max", "overflow"];
  out.push(`  ${"latency (cycles)".padEnd(24)}${cols.map((h) => h.padStart(9)).join("")}`);
  const line = (label: string, s: LatencyStats) => {
    const p = (name: PercentileName) => (s.inOverflow?.includes(name) ? `>=${s[name]}` : String(s[name]));
    const cells = [s.count, s.mean.toFixed(1), p("p50"), p("p90"), p("p99"), s.max, s.overflow];
    out.push(`    ${label.padEnd(22)}${cells.map((v) => String(v).padStart(9)).join("")}`);
  };
  line("all", t.latency);
  for (const name of latencyClassNames) if (t.classes[name].count) line(latencyClassLabels[name], t.classes[name]);
  const over = [t.latency, ...Object.values(t.classes)].some((s) => s.inOverflow?.length);
  if (over) out.push(`    (>=${t.histogramBins}: the percentile falls among latencies of ${t.histogramBins} cycles or more, counted in overflow)`);
  out.push(row("walker occupancy", `${(100 * t.walkerOccupancy).toFixed(1)}%`, `  (${t.walkerBusyCycles} busy cycles over ${t.walkerSlots} walkers)`));
  out.push(row("stall cycles", t.stallCycles, `  (waiting for one of ${t.translationSlots} translation slots)`));
  out.push(row("peak outstanding", t.peakOutstanding));
  out.push(row("invalidation cycles", t.invalidationCycles));
  out.push(row("coalesced / re-walked hits", `${t.coalescedHits} / ${t.rewalks}`));
  return out;
}

function fmtNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toPrecision(4)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toPrecision(4)} us`;
  return `${ns.toPrecision(4)} ns`;
}
