/**
 * The per-point figures of a sweep (one CSV column each), all computed from the point's RunSummary
 * (src/report/summary.ts), so a sweep point and `iommu-emu run --report` of the same scenario agree
 * exactly. A figure that does not exist for a point (a disabled cache, a cache without lookups, a
 * functional run's cycles) is null.
 */
import type { RunSummary } from "../report/summary.ts";
import type { CacheName } from "../core/abi.ts";

export const metricDocs = {
  tlps: "TLPs in the trace",
  translated: "requests translated",
  faulted: "requests that faulted",
  iotlbHitRate: "IOTLB hits / lookups",
  pwcFsPdeHitRate: "first-stage PDE cache (level 2) hits / lookups",
  pwcFsPdpeHitRate: "first-stage PDPE cache (level 3) hits / lookups",
  pwcFsPml4eHitRate: "first-stage PML4E cache (level 4) hits / lookups",
  pwcFsPml5eHitRate: "first-stage PML5E cache (level 5) hits / lookups",
  pwcSsPdeHitRate: "second-stage PDE cache (level 2) hits / lookups",
  pwcSsPdpeHitRate: "second-stage PDPE cache (level 3) hits / lookups",
  pwcSsPml4eHitRate: "second-stage PML4E cache (level 4) hits / lookups",
  pwcSsPml5eHitRate: "second-stage PML5E cache (level 5) hits / lookups",
  walkReadsPerTlp: "table reads (structures and paging entries, both stages) / TLPs",
  totalCycles: "timing: last completion - first arrival, cycles",
  cyclesPerTranslation: "timing: totalCycles / timed translations",
  latencyP50: "timing: median translation latency, cycles (exact below 4096, at most 2^-8 above the true value beyond)",
  latencyP99: "timing: 99th-percentile translation latency, cycles (as latencyP50)",
} as const;

export type MetricName = keyof typeof metricDocs;
export const metricNames = Object.keys(metricDocs) as [MetricName, ...MetricName[]];

export type Metrics = Partial<Record<MetricName, number | null>>;

const hitRate = (s: RunSummary, name: CacheName): number | null => {
  const c = s.caches.find((x) => x.name === name);
  return c && c.lookups > 0 ? c.hits / c.lookups : null;
};

function metric(s: RunSummary, name: MetricName): number | null {
  const t = s.timing;
  switch (name) {
    case "tlps":
      return s.tlps;
    case "translated":
      return s.translated;
    case "faulted":
      return s.faulted;
    case "iotlbHitRate":
      return hitRate(s, "iotlb");
    case "pwcFsPdeHitRate":
      return hitRate(s, "pwcFsPde");
    case "pwcFsPdpeHitRate":
      return hitRate(s, "pwcFsPdpe");
    case "pwcFsPml4eHitRate":
      return hitRate(s, "pwcFsPml4e");
    case "pwcFsPml5eHitRate":
      return hitRate(s, "pwcFsPml5e");
    case "pwcSsPdeHitRate":
      return hitRate(s, "pwcSsPde");
    case "pwcSsPdpeHitRate":
      return hitRate(s, "pwcSsPdpe");
    case "pwcSsPml4eHitRate":
      return hitRate(s, "pwcSsPml4e");
    case "pwcSsPml5eHitRate":
      return hitRate(s, "pwcSsPml5e");
    case "walkReadsPerTlp":
      return s.tlps > 0 ? s.walkReads.total / s.tlps : null;
    case "totalCycles":
      return t ? t.totalCycles : null;
    case "cyclesPerTranslation":
      return t && t.translations > 0 ? t.totalCycles / t.translations : null;
    case "latencyP50":
      return t && t.latency.count > 0 ? t.latency.p50 : null;
    case "latencyP99":
      return t && t.latency.count > 0 ? t.latency.p99 : null;
  }
}

/** The chosen figures of one point, in the order asked. */
export function pointMetrics(s: RunSummary, names: readonly MetricName[] = metricNames): Metrics {
  const out: Metrics = {};
  for (const n of names) out[n] = metric(s, n);
  return out;
}
