/**
 * The timing model's parameters (assembly/timing/model.ts) and the presets, each with where its
 * numbers come from. Cache geometry and per-cache latency/ports are in caches.ts; a preset sets
 * both.
 */
import type { CacheName } from "../core/abi.ts";
import type { CacheConfig } from "./caches.ts";

export interface TimingConfig {
  /** Off: a functional run (no events, no cycles; identical translations and counters). */
  enable: boolean;
  /** IOMMU clock, for results in ns and translations per second. */
  clockMHz: number;
  /** Page walks in flight at once. */
  walkerSlots: number;
  /** Translations outstanding in the IOMMU at once; requests beyond wait (stall cycles). */
  translationSlots: number;
  /** A miss to a page whose walk is in flight waits for that walk instead of walking again. */
  coalesce: boolean;
  /** Completions in order per requester (source ID), or out of order (hits may pass misses). */
  completionOrder: "in-order" | "out-of-order";
  /** Read of a root, context, PASID-directory or PASID-table entry. */
  structureReadLatencyCycles: number;
  /** Paging-entry read latency: one value, or one per spec level 1..5 (4 KiB table first). */
  readLatencyCycles: number | [number, number, number, number, number];
  /** Accessed/dirty flag write-back. */
  adWriteLatencyCycles: number;
  /** Invalidation work: per descriptor fetched, per cache entry removed, per wait completed. */
  invDescriptorFetchCycles: number;
  invPerEntryCycles: number;
  invWaitCycles: number;
  /**
   * When requests arrive: the trace's own times (a TLP without a time arrives with the previous
   * one), all at once ("back-to-back": the translation slots pace them), or at a fixed rate.
   */
  arrival: "trace" | "back-to-back";
  /** TLPs per cycle when set (> 0): arrivals at i / rate, overriding `arrival`. */
  injectionRate: number;
}

/**
 * The default VT-d profile (this model's choice; vendors publish no IOMMU timing): a 1 GHz IOMMU
 * clock, 2-cycle cache lookups, 4 concurrent walks, 32 outstanding translations, and 100-cycle
 * memory reads (a DRAM access from the IOMMU at 1 GHz).
 */
export const defaultTiming: TimingConfig = {
  enable: true,
  clockMHz: 1000,
  walkerSlots: 4,
  translationSlots: 32,
  coalesce: true,
  completionOrder: "in-order",
  structureReadLatencyCycles: 100,
  readLatencyCycles: 100,
  adWriteLatencyCycles: 100,
  invDescriptorFetchCycles: 100,
  invPerEntryCycles: 1,
  invWaitCycles: 100,
  arrival: "trace",
  injectionRate: 0,
};

export type PresetName = "vtd-default" | "gem5-smmuv3" | "hypersio";

export interface Preset {
  doc: string;
  timing: Partial<TimingConfig>;
  caches: Partial<Record<CacheName, Partial<CacheConfig>>>;
}

const allPwc = (c: Partial<CacheConfig>) => ({
  pwcFsPde: c,
  pwcFsPdpe: c,
  pwcFsPml4e: c,
  pwcFsPml5e: c,
  pwcSsPde: c,
  pwcSsPdpe: c,
  pwcSsPml4e: c,
  pwcSsPml5e: c,
});

export const presets: Record<PresetName, Preset> = {
  "vtd-default": {
    doc: "this model's defaults (caches.ts, defaultTiming): no vendor publishes IOMMU timing",
    timing: {},
    caches: {},
  },
  "gem5-smmuv3": {
    doc:
      "gem5 SMMUv3 (SMMUv3.py, v24.0.0.1; shared/spec/smmuv3.md 1a) mapped onto the VT-d structures that correspond: " +
      "main TLB 2048 entries 4-way round-robin, 3-cycle lookups, 3 ports -> IOTLB; config cache 64 4-way rr, 3 cycles, 3 ports -> context and PASID caches; " +
      "walk cache partitions S1 L0..L2 4/28/348 and S2 L0..L2 4/28/92 entries, 4-way rr, 4 cycles, 4 ports -> PML4E/PDPE/PDE caches (L3/leaves never cached, as wc_s*_levels=7); " +
      "xlate_slots 64, ptw_slots 16. gem5 walks go through its memory system, so the 100-cycle read latency is this model's stand-in; " +
      "its maintainers say the defaults represent no real SMMU",
    timing: { walkerSlots: 16, translationSlots: 64, clockMHz: 1000 },
    caches: {
      iotlb: { entries: 2048, assoc: 4, policy: "round-robin", latencyCycles: 3, ports: 3 },
      contextCache: { entries: 64, assoc: 4, policy: "round-robin", latencyCycles: 3, ports: 3 },
      pasidCache: { entries: 64, assoc: 4, policy: "round-robin", latencyCycles: 3, ports: 3 },
      ...allPwc({ assoc: 4, policy: "round-robin", latencyCycles: 4, ports: 4 }),
      pwcFsPml5e: { entries: 4, assoc: 4, policy: "round-robin", latencyCycles: 4, ports: 4 },
      pwcFsPml4e: { entries: 4, assoc: 4, policy: "round-robin", latencyCycles: 4, ports: 4 },
      pwcFsPdpe: { entries: 28, assoc: 4, policy: "round-robin", latencyCycles: 4, ports: 4 },
      pwcFsPde: { entries: 348, assoc: 4, policy: "round-robin", latencyCycles: 4, ports: 4 },
      pwcSsPml5e: { entries: 4, assoc: 4, policy: "round-robin", latencyCycles: 4, ports: 4 },
      pwcSsPml4e: { entries: 4, assoc: 4, policy: "round-robin", latencyCycles: 4, ports: 4 },
      pwcSsPdpe: { entries: 28, assoc: 4, policy: "round-robin", latencyCycles: 4, ports: 4 },
      pwcSsPde: { entries: 92, assoc: 4, policy: "round-robin", latencyCycles: 4, ports: 4 },
    },
  },
  hypersio: {
    doc:
      "HyperTRIO/HyperSIO (Lavrov and Wentzlaff, ISCA'20; PrincetonUniversity/hypersio): 64-entry 8-way LRU IOTLB with 2 ns hits, " +
      "1536-entry context cache with 1 ns hits, 512-entry and 1024-entry 16-way paging-structure caches (PDPE and PDE levels here) with 5 ns hits, " +
      "50 ns per memory access; at 1 GHz a cycle is a nanosecond. The 16-way context cache and the single lookup port are this model's choice",
    timing: {
      clockMHz: 1000,
      structureReadLatencyCycles: 50,
      readLatencyCycles: 50,
      adWriteLatencyCycles: 50,
      invDescriptorFetchCycles: 50,
      invWaitCycles: 50,
    },
    caches: {
      iotlb: { entries: 64, assoc: 8, policy: "lru", latencyCycles: 2, ports: 1 },
      contextCache: { entries: 1536, assoc: 16, policy: "lru", latencyCycles: 1, ports: 1 },
      pasidCache: { entries: 1536, assoc: 16, policy: "lru", latencyCycles: 1, ports: 1 },
      ...allPwc({ entries: 0, latencyCycles: 5, ports: 1 }),
      pwcFsPde: { entries: 1024, assoc: 16, policy: "lru", latencyCycles: 5, ports: 1 },
      pwcFsPdpe: { entries: 512, assoc: 16, policy: "lru", latencyCycles: 5, ports: 1 },
      pwcSsPde: { entries: 1024, assoc: 16, policy: "lru", latencyCycles: 5, ports: 1 },
      pwcSsPdpe: { entries: 512, assoc: 16, policy: "lru", latencyCycles: 5, ports: 1 },
    },
  },
};

export function resolveTiming(partial: Partial<TimingConfig> = {}): TimingConfig {
  const t = { ...defaultTiming, ...partial };
  const lat = typeof t.readLatencyCycles === "number" ? [t.readLatencyCycles] : t.readLatencyCycles;
  const ints: [string, number][] = [
    ["walkerSlots", t.walkerSlots],
    ["translationSlots", t.translationSlots],
    ["structureReadLatencyCycles", t.structureReadLatencyCycles],
    ["adWriteLatencyCycles", t.adWriteLatencyCycles],
    ["invDescriptorFetchCycles", t.invDescriptorFetchCycles],
    ["invPerEntryCycles", t.invPerEntryCycles],
    ["invWaitCycles", t.invWaitCycles],
    ...lat.map((v, i) => [`readLatencyCycles[${i}]`, v] as [string, number]),
  ];
  for (const [k, v] of ints) if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`timing.${k} must be a non-negative integer`);
  if (t.walkerSlots < 1 || t.walkerSlots > 4096) throw new RangeError("timing.walkerSlots must be 1..4096");
  if (t.translationSlots < 1 || t.translationSlots > 4096) throw new RangeError("timing.translationSlots must be 1..4096");
  if (!(t.clockMHz > 0)) throw new RangeError("timing.clockMHz must be positive");
  if (!(t.injectionRate >= 0)) throw new RangeError("timing.injectionRate must be >= 0 (TLPs per cycle)");
  return t;
}
