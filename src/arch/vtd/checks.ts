/**
 * What the driver side refuses, in one place: every scenario mapping and every trace `map` and
 * `unmap` is checked here against the domain it names before anything is changed (Linux refuses
 * the same in iommu_map()/iommu_unmap() against the domain's aperture and page-size bitmap), and
 * the cost of a map, of an attach and of the caches is estimated here against the budgets of
 * config/limits.ts before the work starts.
 *
 * Address formats (spec 3.6, 3.7, 9.7, 9.8):
 * - second stage (and legacy): input addresses below 2^(12 + 9 x levels) (39/48/57 bits: the
 *   AGAW of 3, 4 or 5 levels);
 * - first stage (and a nested domain's first stage): canonical for 4- or 5-level paging, i.e. bits
 *   63:47 (63:56) all equal, so a range lies wholly below 2^47 (2^56) or wholly at or above
 *   2^64 - 2^47 (2^64 - 2^56);
 * - a range never wraps past 2^64, is aligned to its page size, and its output stays below 2^52;
 * - page sizes the unit supports: 4 KiB always; second-stage 2 MiB with CAP.SSLPS bit 0 and 1 GiB
 *   with bit 1; first-stage 2 MiB always and 1 GiB with CAP.FS1GP (spec 11.4.2).
 * The builder checks the format on every map and unmap (a range outside it would index the
 * tables with its low bits and hit a different, live mapping); the capability checks are the
 * driver's policy, made by the scenario loader and the run-time driver, so that tests can still
 * build, through the builder alone, the unsupported leaves whose faults the core must report.
 */
import { alignmentProblem, TOP } from "../../driver/range.ts";
import type { Domain, DomainType } from "./domain.ts";
import { capFields, getField } from "./registers.ts";
import { bytesText, cacheBudgetProblem, limitCatalogue, overBudget, raiseHint, type Limits } from "../../config/limits.ts";

export { cacheBudgetProblem, cacheEntries } from "../../config/limits.ts";
import type { CacheConfig } from "../../config/caches.ts";
import type { CacheName } from "../../core/abi.ts";

const PAGE_4K = 1n << 12n;
const PAGE_2M = 1n << 21n;
const PAGE_1G = 1n << 30n;

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** "4K", "2M", "1G" for the three page sizes; the hex value otherwise. */
export function pageName(bytes: bigint): string {
  return bytes === PAGE_4K ? "4K" : bytes === PAGE_2M ? "2M" : bytes === PAGE_1G ? "1G" : hex(bytes);
}

/** The table level a page size is a leaf at (0: 4 KiB, 1: 2 MiB, 2: 1 GiB); undefined for other sizes. */
export function leafLevelOf(pageSize: bigint): number | undefined {
  return pageSize === PAGE_4K ? 0 : pageSize === PAGE_2M ? 1 : pageSize === PAGE_1G ? 2 : undefined;
}

/** Whether the domain's tables are in the first-stage format (first-stage and nested domains). */
export function isFirstStage(type: DomainType): boolean {
  return type === "fs" || type === "nested";
}

/** Input address bits a domain's tables translate: 12 + 9 per level. */
export function inputBits(levels: number): number {
  return 12 + 9 * levels;
}

function formatName(d: Pick<Domain, "type" | "levels">): string {
  return d.type === "nested" ? `${d.levels}-level nested first stage` : isFirstStage(d.type) ? `${d.levels}-level first stage` : `${d.levels}-level second stage`;
}

/** A map (with `pa`) or an unmap (4 KiB pages) of [iova, iova+size). */
export interface RangeRequest {
  iova: bigint;
  size: bigint;
  /** Bytes per page: 4 KiB, 2 MiB or 1 GiB (an unmap: 4 KiB). */
  pageSize: bigint;
  /** Output address (map). */
  pa?: bigint;
}

/**
 * What is wrong with mapping or unmapping `r` in domain `d`, or undefined when nothing is. With
 * `cap`, the page size must also be one the unit supports (CAP.SSLPS / CAP.FS1GP).
 */
export function rangeProblem(d: Pick<Domain, "id" | "type" | "levels">, r: RangeRequest, cap?: bigint): string | undefined {
  const { iova, size, pageSize, pa } = r;
  const leafLevel = leafLevelOf(pageSize);
  if (leafLevel === undefined) return `page size ${hex(pageSize)} is not 4K, 2M or 1G`;
  const page = pageName(pageSize);
  const bad = alignmentProblem(iova, size, pageSize, page, pa);
  if (bad !== undefined) return bad;
  const last = iova + size - 1n;
  const w = BigInt(inputBits(d.levels));
  if (isFirstStage(d.type)) {
    const half = 1n << (w - 1n);
    if (!(last < half || iova >= TOP - half))
      return `IOVA range ${hex(iova)}-${hex(last)} is not canonical for domain ${d.id} (${formatName(d)}: below ${hex(half)} or from ${hex(TOP - half)})`;
  } else if (last >> w !== 0n) {
    return `IOVA range ${hex(iova)}-${hex(last)} is beyond the ${w}-bit input width of domain ${d.id} (${formatName(d)}: below ${hex(1n << w)})`;
  }
  if (pa !== undefined && (pa < 0n || pa + size > 1n << 52n)) return `PA range ${hex(pa)}-${hex(pa + size - 1n)} is beyond 52-bit physical addresses`;
  if (cap !== undefined && leafLevel > 0) {
    if (isFirstStage(d.type)) {
      if (leafLevel === 2 && getField(cap, capFields.FS1GP) === 0n)
        return `domain ${d.id}: 1G first-stage pages need CAP.FS1GP=1; this unit's FS1GP=0 allows 4K and 2M pages`;
    } else {
      const sslps = getField(cap, capFields.SSLPS);
      if (((sslps >> BigInt(leafLevel - 1)) & 1n) === 0n) {
        const allowed = ["4K", ...(sslps & 1n ? ["2M"] : []), ...(sslps & 2n ? ["1G"] : [])];
        return `domain ${d.id}: ${page} second-stage pages need CAP.SSLPS bit ${leafLevel - 1}; this unit's SSLPS=${hex(sslps)} allows ${allowed.join(" and ")} pages`;
      }
    }
  }
  return undefined;
}

/**
 * What is wrong with a domain of `levels` levels on a unit with `cap`: second-stage tables need
 * the AGAW in CAP.SAGAW (bit levels - 2: 39-, 48- or 57-bit), 5-level first-stage paging needs
 * CAP.FS5LP (spec 11.4.2). Undefined when the unit supports it (pass-through: always).
 */
export function levelsProblem(type: DomainType, levels: number, cap: bigint): string | undefined {
  if (type === "pt") return undefined;
  if (isFirstStage(type)) {
    if (levels === 5 && getField(cap, capFields.FS5LP) === 0n) return "5-level first-stage paging needs CAP.FS5LP=1; this unit's FS5LP=0 supports 4 levels";
    return undefined;
  }
  const sagaw = getField(cap, capFields.SAGAW);
  if (((sagaw >> BigInt(levels - 2)) & 1n) === 0n) {
    const supported = [3, 4, 5].filter((l) => (sagaw >> BigInt(l - 2)) & 1n);
    const which = supported.length ? `supports ${supported.join(", ")} levels` : "supports no second-stage table depth";
    return `${levels}-level second-stage tables (${inputBits(levels)}-bit AGAW) need CAP.SAGAW bit ${levels - 2}; this unit's SAGAW=${hex(sagaw)} ${which}`;
  }
  return undefined;
}

/**
 * The work of mapping [iova, iova+size) with pages of `pageSize` in tables of `levels` levels,
 * computed from the range alone: leaf entries written, and the table pages that hold them plus
 * those above them (at most one per naturally aligned block each level covers), the root excepted.
 */
export function mapEstimate(levels: number, iova: bigint, size: bigint, pageSize: bigint): { leaves: bigint; tablePages: bigint } {
  const leafLevel = leafLevelOf(pageSize) ?? 0;
  const last = iova + size - 1n;
  let tablePages = 0n;
  for (let level = leafLevel; level <= levels - 2; level++) {
    const covered = BigInt(12 + 9 * (level + 1)); // a table at `level` covers 2^covered bytes
    tablePages += (last >> covered) - (iova >> covered) + 1n;
  }
  return { leaves: size / pageSize, tablePages };
}

/** The budget message of a map over `limits.tablePages`, or undefined when it fits. */
export function mapBudgetProblem(levels: number, iova: bigint, size: bigint, pageSize: bigint, limits: Limits): string | undefined {
  const { leaves, tablePages } = mapEstimate(levels, iova, size, pageSize);
  if (tablePages <= BigInt(limits.tablePages)) return undefined;
  return overBudget(
    "tablePages",
    limits,
    `mapping ${bytesText(size)} with ${bytesText(pageSize)} pages writes about ${leaves} leaf entries in ${tablePages} table pages (${bytesText(tablePages * PAGE_4K)} of tables)`,
  );
}

/** The devices the builder has written context entries for, as the budgets count them. */
export interface DeviceCounts {
  /** Devices with a context entry. */
  devices: number;
  /** PASID-table entries written for the device, by entry number (scalable mode). */
  pasidsOf(sid: number): ReadonlySet<number> | undefined;
  /** Devices whose context entry allows ATS (each may hold a device-TLB). */
  atsDevices: number;
  /** Whether the device already has a context entry (and whether it allows ATS). */
  device(sid: number): { ats: boolean } | undefined;
}

/**
 * The budget message of attaching `sid` (PASID-table entry `pasidEntry`, scalable mode) with
 * `ats`: a new device over `limits.devices`, a new PASID over `limits.pasids`, or a new device-TLB
 * over `limits.cacheEntries`. `bdf` names the device.
 */
export function attachBudgetProblem(
  counts: DeviceCounts,
  a: { sid: number; bdf: string; pasidEntry?: number; ats: boolean },
  caches: Record<CacheName, CacheConfig>,
  limits: Limits,
): string | undefined {
  const known = counts.device(a.sid);
  if (!known && counts.devices + 1 > limits.devices) return overBudget("devices", limits, `attaching ${a.bdf} makes ${counts.devices + 1} devices`);
  if (a.pasidEntry !== undefined) {
    const set = counts.pasidsOf(a.sid);
    const n = set?.size ?? 0;
    if (!set?.has(a.pasidEntry) && n + 1 > limits.pasids)
      return `attaching ${a.bdf} PASID ${a.pasidEntry} gives it ${n + 1} PASIDs, over the budget of ${limits.pasids} ${limitCatalogue.pasids.unit}; ${raiseHint("pasids")}`;
  }
  if (!known && a.ats) return cacheBudgetProblem(caches, counts.atsDevices + 1, limits, `with ${a.bdf} attached with ATS, `);
  return undefined;
}
