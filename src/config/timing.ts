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
   * SMMUv3: one crossing of the link between the device interface (micro-TLB, main TLB) and the
   * SMMU, paid there and back by a transaction that misses both TLBs (gem5 ifc_smmu_lat and
   * smmu_ifc_lat); not used on VT-d.
   */
  linkLatencyCycles: number;
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
  linkLatencyCycles: 0,
  arrival: "trace",
  injectionRate: 0,
};

export const presetNames = ["vtd-default", "gem5-smmuv3", "hypersio"] as const;
export type PresetName = (typeof presetNames)[number];

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
      "gem5 SMMUv3 (src/dev/arm/SMMUv3.py, v24.0.0.1; shared/spec/smmuv3.md 1a) mapped onto the VT-d structures that correspond: " +
      "micro-TLB (utlb_entries 32, utlb_assoc 0 = fully associative, rr; utlb_lat 1, utlb_slots 1; utlb_enable True) -> microTlb; " +
      "interface main TLB (tlb_entries 2048, tlb_assoc 4, rr; tlb_lat 3, tlb_slots 3) -> IOTLB; " +
      "config cache (cfg_entries 64, 4-way rr, cfg_lat 3, cfg_slots 3) -> context and PASID caches (SMMUv3: the STE and CD caches); " +
      "walk cache partitions walk_S1L0..L2 4/28/348 and walk_S2L0..L2 4/28/92 entries (walk_assoc 4, rr, walk_lat 4, walk_slots 4) -> PML4E/PDPE/PDE caches, " +
      "leaves never cached (wc_s1_levels = wc_s2_levels = 7); gem5 has no 5th level, so the PML5E caches take the L0 size (4). " +
      "SMMU xlate_slots 64 -> translationSlots, ptw_slots 16 -> walkerSlots, ifc_smmu_lat 8 and smmu_ifc_lat 8 -> linkLatencyCycles (a pure delay: gem5's 1 serialising cycle per crossing is not modelled). The 1 GHz clock and the 100-cycle reads are this model's stand-ins " +
      "(gem5 walks go through its memory system); gem5's maintainers say these defaults represent no real SMMU",
    timing: { walkerSlots: 16, translationSlots: 64, clockMHz: 1000, linkLatencyCycles: 8 },
    caches: {
      microTlb: { entries: 32, assoc: 0, policy: "round-robin", enable: true, latencyCycles: 1, ports: 1 },
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
      "HyperTRIO/HyperSIO (Lavrov and Wentzlaff, ISCA'20; PrincetonUniversity/hypersio, sioperf): latencies in ns from src/sioperf/include/defines.h " +
      "(SIM_LAT_IOTLB_HIT 2, SIM_LAT_CC_HIT 1, SIM_LAT_PCACHE_HIT 5, SIM_LAT_DDR 50 per memory access), cycles at 1 GHz; " +
      "IOTLB 64 entries 8-way LRU (src/lib/config.py DEFAULT_IOTLB_SIZE/ASSOC); context cache 1536 entries, L2PAGE (PDE) cache 512 and " +
      "L3PAGE (PDPE) cache 1024 entries 16-way (src/lib/sioperf_config.py GenIOTLBConfigList), no PML4E/PML5E caches. " +
      "A context-cache miss reads 2 entries (MEM_ACC_PER_CE 2: root and context, 50 each). " +
      "This model's choices: 16 ways for the context cache (HyperSIO's is fully associative) and a PASID cache like it, one lookup port, " +
      "the same caches for both stages (HyperSIO models second-stage tables only), 50-cycle A/D writes and invalidation fetches and waits, " +
      "and no PCIe link latency (SIM_LAT_PCIE 450: its translation agent sits across the link; a VT-d unit is in the root complex)",
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
      pwcFsPde: { entries: 512, assoc: 16, policy: "lru", latencyCycles: 5, ports: 1 },
      pwcFsPdpe: { entries: 1024, assoc: 16, policy: "lru", latencyCycles: 5, ports: 1 },
      pwcSsPde: { entries: 512, assoc: 16, policy: "lru", latencyCycles: 5, ports: 1 },
      pwcSsPdpe: { entries: 1024, assoc: 16, policy: "lru", latencyCycles: 5, ports: 1 },
    },
  },
};

export function resolveTiming(partial: Partial<TimingConfig> = {}): TimingConfig {
  const t = { ...defaultTiming, ...partial };
  const lat = typeof t.readLatencyCycles === "number" ? [t.readLatencyCycles] : t.readLatencyCycles;
  if (typeof t.readLatencyCycles !== "number" && (!Array.isArray(lat) || lat.length !== 5)) throw new RangeError("timing.readLatencyCycles must be one number of cycles or 5 of them (spec levels 1..5)");
  const ints: [string, number][] = [
    ["walkerSlots", t.walkerSlots],
    ["translationSlots", t.translationSlots],
    ["structureReadLatencyCycles", t.structureReadLatencyCycles],
    ["adWriteLatencyCycles", t.adWriteLatencyCycles],
    ["invDescriptorFetchCycles", t.invDescriptorFetchCycles],
    ["invPerEntryCycles", t.invPerEntryCycles],
    ["invWaitCycles", t.invWaitCycles],
    ["linkLatencyCycles", t.linkLatencyCycles],
    ...lat.map((v, i) => [typeof t.readLatencyCycles === "number" ? "readLatencyCycles" : `readLatencyCycles[${i}]`, v] as [string, number]),
  ];
  for (const [k, v] of ints) if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`timing.${k} must be an integer 0..4294967295`);
  if (t.walkerSlots < 1 || t.walkerSlots > 4096) throw new RangeError("timing.walkerSlots must be 1..4096");
  if (t.translationSlots < 1 || t.translationSlots > 4096) throw new RangeError("timing.translationSlots must be 1..4096");
  if (!(t.clockMHz > 0)) throw new RangeError("timing.clockMHz must be positive");
  if (!(t.clockMHz <= 1e6)) throw new RangeError("timing.clockMHz must be at most 1000000 (1 THz)");
  if (!(t.injectionRate >= 0) || !Number.isFinite(t.injectionRate)) throw new RangeError("timing.injectionRate must be >= 0 (TLPs per cycle; 0: off)");
  if (t.completionOrder !== "in-order" && t.completionOrder !== "out-of-order") throw new RangeError('timing.completionOrder must be "in-order" or "out-of-order"');
  if (t.arrival !== "trace" && t.arrival !== "back-to-back") throw new RangeError('timing.arrival must be "trace" or "back-to-back"');
  return t;
}
