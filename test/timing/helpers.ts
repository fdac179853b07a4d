/**
 * Shared parameters for the timing-model tests (assembly/timing/model.ts).
 *
 * Every cache and every memory level gets its own latency, and no two are equal, so a latency sum
 * that counts a term twice or leaves one out is not equal to the expected number by chance:
 *
 *   context cache  3     PASID cache  5     IOTLB  7
 *   SS PWC  PDE 11, PDPE 13, PML4E 17, PML5E 41
 *   FS PWC  PDE 19, PDPE 23, PML4E 29, PML5E 43
 *   structure read (root, context, PASID directory, PASID table)  31
 *   paging-entry read by spec level  L1 101, L2 202, L3 303, L4 404, L5 505
 *   A/D write  37
 *
 * Derived sums the tests use again and again:
 *   4-level walk reads   404 + 303 + 202 + 101 = 1010
 *   5-level walk reads   505 + 1010            = 1515
 *   SS probes, 4 levels (PDE, PDPE, PML4E all miss)  11 + 13 + 17 = 41
 *   FS probes, 4 levels                              19 + 23 + 29 = 71
 *   scalable cold front (ctx miss, root, context, PASID miss, PASID dir, PASID table, IOTLB miss)
 *                        3 + 31 + 31 + 5 + 31 + 31 + 7 = 139
 *   scalable warm front (ctx hit, PASID hit, IOTLB lookup)  3 + 5 + 7 = 15
 */
import { VtdPlatform, type PlatformOptions } from "../../src/platform.ts";
import type { CacheConfig } from "../../src/config/caches.ts";
import type { TimingConfig } from "../../src/config/timing.ts";
import type { CacheName } from "../../src/core/abi.ts";
import type { Result } from "../../src/core/core.ts";

export const LAT = {
  ctx: 3,
  pasid: 5,
  iotlb: 7,
  ssPde: 11,
  ssPdpe: 13,
  ssPml4e: 17,
  ssPml5e: 41,
  fsPde: 19,
  fsPdpe: 23,
  fsPml4e: 29,
  fsPml5e: 43,
  struct: 31,
  read: [101, 202, 303, 404, 505] as [number, number, number, number, number],
  ad: 37,
} as const;

/** Read latency of spec level `l` (1 = 4 KiB table). */
export const rd = (l: number) => LAT.read[l - 1]!;

export const distinctCaches: Partial<Record<CacheName, Partial<CacheConfig>>> = {
  contextCache: { latencyCycles: LAT.ctx, ports: 1 },
  pasidCache: { latencyCycles: LAT.pasid, ports: 1 },
  iotlb: { latencyCycles: LAT.iotlb, ports: 1 },
  pwcSsPde: { latencyCycles: LAT.ssPde, ports: 1 },
  pwcSsPdpe: { latencyCycles: LAT.ssPdpe, ports: 1 },
  pwcSsPml4e: { latencyCycles: LAT.ssPml4e, ports: 1 },
  pwcSsPml5e: { latencyCycles: LAT.ssPml5e, ports: 1 },
  pwcFsPde: { latencyCycles: LAT.fsPde, ports: 1 },
  pwcFsPdpe: { latencyCycles: LAT.fsPdpe, ports: 1 },
  pwcFsPml4e: { latencyCycles: LAT.fsPml4e, ports: 1 },
  pwcFsPml5e: { latencyCycles: LAT.fsPml5e, ports: 1 },
};

export const distinctTiming: Partial<TimingConfig> = {
  structureReadLatencyCycles: LAT.struct,
  readLatencyCycles: LAT.read,
  adWriteLatencyCycles: LAT.ad,
};

/** The distinct-latency caches with every paging-structure cache disabled (no probe events). */
export function withoutPwc(c = distinctCaches): Partial<Record<CacheName, Partial<CacheConfig>>> {
  const out = { ...c };
  for (const n of ["pwcSsPde", "pwcSsPdpe", "pwcSsPml4e", "pwcSsPml5e", "pwcFsPde", "pwcFsPdpe", "pwcFsPml4e", "pwcFsPml5e"] as const)
    out[n] = { ...out[n], enable: false };
  return out;
}

/** A platform with the distinct latencies (overridable). */
export function platform(o: PlatformOptions = {}): VtdPlatform {
  return new VtdPlatform({
    build: "release",
    ...o,
    caches: o.caches === "off" ? "off" : { ...distinctCaches, ...o.caches },
    timing: o.timing === false ? false : { ...distinctTiming, ...o.timing },
  });
}

/** Every Result field except the timing ones. */
export function functional(r: Result): Omit<Result, "issue" | "latency"> {
  const { issue: _i, latency: _l, ...rest } = r;
  return rest;
}

export const hex = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `0x${x.toString(16)}` : x));

export const K4 = 0x1000n;
export const M2 = 0x20_0000n;
export const G1 = 0x4000_0000n;
export const G512 = 0x80_0000_0000n;
