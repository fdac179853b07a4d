/**
 * The cache catalogue: every cache of the model is {entries, assoc, policy, enable} (DESIGN §4),
 * with its default, unit and meaning here. The README parameter table is generated from it.
 * Sizes are this model's defaults: vendors do not publish IOTLB or paging-structure-cache geometry
 * (shared/notes/performance.md R1-R2); calibrate them against pcm-iio counters.
 */
import { cacheNames, policyNames, type CacheName } from "../core/abi.ts";

export type PolicyName = (typeof policyNames)[number];
export interface CacheConfig {
  entries: number;
  /** Ways per set; 0 = fully associative. */
  assoc: number;
  policy: PolicyName;
  enable: boolean;
  /** Timing model: cycles from lookup to result. */
  latencyCycles: number;
  /** Timing model: lookups the cache accepts per cycle. */
  ports: number;
}

export const cacheDocs: Record<CacheName, string> = {
  iotlb: "IOTLB: final translations (4 KiB, 2 MiB and 1 GiB entries together), tagged by DID, PASID and page",
  contextCache: "context cache: root and context entries by source ID",
  pasidCache: "PASID cache: PASID-table entries by source ID and PASID (DID kept for invalidation)",
  pwcFsPde: "first-stage paging-structure cache, PDE level (2M Cache Hit)",
  pwcFsPdpe: "first-stage paging-structure cache, PDPE level (1G Cache Hit)",
  pwcFsPml4e: "first-stage paging-structure cache, PML4E level (512G Cache Hit)",
  pwcFsPml5e: "first-stage paging-structure cache, PML5E level (256T Cache Hit)",
  pwcSsPde: "second-stage paging-structure cache, SS-PDE level",
  pwcSsPdpe: "second-stage paging-structure cache, SS-PDPE level",
  pwcSsPml4e: "second-stage paging-structure cache, SS-PML4E level",
  pwcSsPml5e: "second-stage paging-structure cache, SS-PML5E level",
  deviceTlb: "device-TLB (ATS address translation cache), one per device",
  microTlb: "SMMUv3 micro-TLB (gem5's uTLB): a small TLB in front of the main TLB, tagged by StreamID and SubstreamID",
};

export const defaultCaches: Record<CacheName, CacheConfig> = {
  iotlb: { entries: 128, assoc: 8, policy: "lru", enable: true, latencyCycles: 2, ports: 2 },
  contextCache: { entries: 64, assoc: 4, policy: "lru", enable: true, latencyCycles: 2, ports: 1 },
  pasidCache: { entries: 128, assoc: 4, policy: "lru", enable: true, latencyCycles: 2, ports: 1 },
  pwcFsPde: { entries: 32, assoc: 4, policy: "lru", enable: true, latencyCycles: 2, ports: 1 },
  pwcFsPdpe: { entries: 16, assoc: 4, policy: "lru", enable: true, latencyCycles: 2, ports: 1 },
  pwcFsPml4e: { entries: 8, assoc: 0, policy: "lru", enable: true, latencyCycles: 2, ports: 1 },
  pwcFsPml5e: { entries: 4, assoc: 0, policy: "lru", enable: true, latencyCycles: 2, ports: 1 },
  pwcSsPde: { entries: 32, assoc: 4, policy: "lru", enable: true, latencyCycles: 2, ports: 1 },
  pwcSsPdpe: { entries: 16, assoc: 4, policy: "lru", enable: true, latencyCycles: 2, ports: 1 },
  pwcSsPml4e: { entries: 8, assoc: 0, policy: "lru", enable: true, latencyCycles: 2, ports: 1 },
  pwcSsPml5e: { entries: 4, assoc: 0, policy: "lru", enable: true, latencyCycles: 2, ports: 1 },
  deviceTlb: { entries: 64, assoc: 4, policy: "lru", enable: true, latencyCycles: 2, ports: 1 },
  microTlb: { entries: 32, assoc: 0, policy: "round-robin", enable: false, latencyCycles: 1, ports: 1 },
};

/** Checks a cache geometry; returns a message saying what is wrong, or undefined. */
export function cacheGeometryError(c: CacheConfig): string | undefined {
  if (!Number.isInteger(c.entries) || c.entries < 0 || c.entries > 1 << 20) return `entries must be an integer 0..${1 << 20}`;
  if (!Number.isInteger(c.assoc) || c.assoc < 0) return "assoc must be a non-negative integer (0 = fully associative)";
  if (!Number.isInteger(c.latencyCycles) || c.latencyCycles < 0 || c.latencyCycles > 1_000_000) return "latencyCycles must be an integer 0..1000000";
  if (!Number.isInteger(c.ports) || c.ports < 1 || c.ports > 16) return "ports must be an integer 1..16";
  if (c.entries === 0) return undefined;
  const ways = c.assoc === 0 ? c.entries : c.assoc;
  if (ways > c.entries || c.entries % ways !== 0) return `entries (${c.entries}) must be a multiple of assoc (${c.assoc})`;
  if (c.policy === "plru" && (ways & (ways - 1)) !== 0) return `tree pseudo-LRU needs a power-of-two number of ways, not ${ways}`;
  return undefined;
}

export function resolveCaches(partial: Partial<Record<CacheName, Partial<CacheConfig>>> = {}): Record<CacheName, CacheConfig> {
  const out = {} as Record<CacheName, CacheConfig>;
  for (const name of cacheNames) {
    const c = { ...defaultCaches[name], ...partial[name] };
    const err = cacheGeometryError(c);
    if (err) throw new RangeError(`${name}: ${err}`);
    out[name] = c;
  }
  return out;
}
