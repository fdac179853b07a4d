/**
 * Reserved IOVA regions (issue 11; README "PASIDs and reserved regions"): per device, the ranges
 * the IOMMU must not map freely, and per domain the usable IOVA ranges left between them, as
 * Linux's drivers/iommu/iommu.c (iommu_get_group_resv_regions, iommu_insert_resv_region),
 * dma-iommu.c (iova_reserve_iommu_regions), iommufd's io_pagetable.c
 * (iopt_table_enforce_dev_resv_regions) and vfio_iommu_type1.c (vfio_iommu_resv_exclude) compute
 * them. Addresses are bigints; ranges are inclusive [first, last], as Linux's IOVA ranges are.
 *
 * Region types (include/linux/iommu.h enum iommu_resv_type, in that order):
 * - DIRECT: identity-mapped at all times (VT-d RMRR, Arm IORT RMR); a device with one cannot be
 *   blocked, so it cannot be given to user space (iommu.c __iommu_device_set_domain, require_direct).
 * - DIRECT_RELAXABLE: identity-mapped for the kernel, relaxable when the device is assigned (RMRRs
 *   of USB and graphics devices, Linux device_rmrr_is_relaxable).
 * - RESERVED: never mapped: here the peer-to-peer windows the root complex (or a switch without
 *   ACS redirection) routes to a peer before the IOMMU sees the request.
 * - MSI: a hardware MSI window, never translated (the x86 interrupt range; a fixed doorbell an
 *   interrupt controller takes before the IOMMU).
 * - SW_MSI: the software-managed MSI window: MSI writes are translated through the doorbell mapping
 *   the kernel places in it.
 * Which regions every device of a platform has is the architecture's (its module's
 * defaultReservedRegions, as each vendor driver's get_resv_regions): this module names none.
 */
import { formatBdf } from "../trace/events.ts";

export type RegionType = "DIRECT" | "DIRECT_RELAXABLE" | "RESERVED" | "MSI" | "SW_MSI";
/** In Linux's enum order: regions at the same start sort by it (iommu_insert_resv_region). */
export const regionTypes = ["DIRECT", "DIRECT_RELAXABLE", "RESERVED", "MSI", "SW_MSI"] as const satisfies readonly RegionType[];

export interface ReservedRegion {
  readonly type: RegionType;
  readonly base: bigint;
  /** Bytes, at least 1. */
  readonly length: bigint;
}

/** A region of a device or a domain after merging: the devices whose regions it covers, ascending. */
export interface MergedRegion extends ReservedRegion {
  readonly devices: readonly number[];
}

/** An inclusive IOVA range. */
export interface IovaRange {
  readonly first: bigint;
  readonly last: bigint;
}

/** The aperture of a domain without one: a 48-bit input space (4-level VT-d, SMMU stage 1 T0SZ 16). */
export const DEFAULT_APERTURE: IovaRange = { first: 0n, last: (1n << 48n) - 1n };

const U64_MAX = (1n << 64n) - 1n;
const hex = (v: bigint) => `0x${v.toString(16)}`;
const lastOf = (r: ReservedRegion) => r.base + r.length - 1n;
const span = (r: ReservedRegion) => `${hex(r.base)}-${hex(lastOf(r))}`;
const devicesText = (devs: readonly number[]) => devs.map(formatBdf).join(", ");
const rank = (t: RegionType) => regionTypes.indexOf(t);

/** What a region of each type is, for refusals. */
const meaning: Record<RegionType, string> = {
  DIRECT: "identity-mapped for the device at all times (RMRR/RMR)",
  DIRECT_RELAXABLE: "identity-mapped for the kernel's use of the device (relaxable RMRR/RMR)",
  RESERVED: "a peer-to-peer window the root complex routes before the IOMMU",
  MSI: "a hardware MSI window: interrupt writes, never translated",
  SW_MSI: "the software MSI window, where the MSI doorbell mappings go",
};

/** A RangeError naming `whose` for a region of an unknown type or outside the 64-bit space. */
export function checkRegion(r: ReservedRegion, whose: string): void {
  if (!regionTypes.includes(r.type)) throw new RangeError(`${whose}: unknown region type ${JSON.stringify(r.type)}`);
  if (r.base < 0n || r.length < 1n || r.base + r.length - 1n > U64_MAX) throw new RangeError(`${whose}: a ${r.type} region needs 0 <= base, 1 <= length and base + length <= 2^64, got base ${hex(r.base)} length ${hex(r.length)}`);
}

/**
 * Inserts `r` into `list` (sorted by start, then type) as Linux's iommu_insert_resv_region does:
 * after placing it, regions of r's type that overlap or touch (start <= previous end + 1) are
 * merged into the first of them; regions of other types are never merged, not even with an equal
 * one, and may overlap. A merge keeps the first region's place and unites the devices. Returns a new
 * list.
 */
export function insertRegion(list: readonly MergedRegion[], r: MergedRegion): MergedRegion[] {
  const at = list.findIndex((it) => r.base < it.base || (r.base === it.base && rank(r.type) <= rank(it.type)));
  const placed = at < 0 ? [...list, r] : [...list.slice(0, at), r, ...list.slice(at)];
  const out: MergedRegion[] = [];
  for (const it of placed) {
    let top = -1;
    if (it.type === r.type) for (let k = out.length - 1; k >= 0 && top < 0; k--) if (out[k]!.type === it.type) top = k;
    const prev = top >= 0 ? out[top]! : undefined;
    if (!prev || it.base > lastOf(prev) + 1n) {
      out.push(it);
      continue;
    }
    const last = lastOf(it) > lastOf(prev) ? lastOf(it) : lastOf(prev);
    const devices = [...new Set([...prev.devices, ...it.devices])].sort((a, b) => a - b);
    out[top] = { type: prev.type, base: prev.base, length: last - prev.base + 1n, devices };
  }
  return out;
}

/** Regions merged one by one in the order given (iommu_get_group_resv_regions over a group's devices). */
export function mergeRegions(regions: readonly MergedRegion[]): MergedRegion[] {
  return regions.reduce<MergedRegion[]>((list, r) => insertRegion(list, r), []);
}

/** Who a domain's reserved ranges are for: the kernel's DMA API, or user space (iommufd, VFIO). */
export type DomainUsage = "dma-api" | "user";

/**
 * A domain as this module needs to see it (the domain layer's object may be passed as it is): its
 * name for messages, its devices, who uses it, its aperture (default DEFAULT_APERTURE).
 */
export interface DomainView {
  readonly name: string;
  readonly devices: readonly number[];
  readonly usage: DomainUsage;
  readonly aperture?: IovaRange;
}

/**
 * Which types a domain keeps out of its usable IOVA space: for the DMA API every type but SW_MSI
 * (dma-iommu manages that window itself: "We ARE the software that manages these"); for user space
 * every type but DIRECT_RELAXABLE (iommufd and VFIO type1 skip it).
 */
export function excludes(usage: DomainUsage, type: RegionType): boolean {
  return usage === "dma-api" ? type !== "SW_MSI" : type !== "DIRECT_RELAXABLE";
}

/** Where a TLP from a device goes before (or instead of) translation. */
export type TlpFate = "p2p" | "interrupt" | "direct" | "translate";

export interface Route {
  readonly fate: TlpFate;
  /** The region that decided it; none for an address in no region. */
  readonly region?: MergedRegion;
  readonly why: string;
}

/**
 * The regions every device of a platform has, as its architecture's module gives them
 * (ArchitectureModule.defaultReservedRegions; Linux: the vendor driver's get_resv_regions).
 */
export interface PlatformRegions {
  /** Every device's regions, before its own (VT-d: the x86 interrupt window, MSI; SMMUv3: the software MSI window, SW_MSI). */
  readonly regions: readonly ReservedRegion[];
  /** The region types a scenario may not give a device, each with why (VT-d: SW_MSI). */
  readonly refused?: Readonly<Partial<Record<RegionType, string>>>;
}

/** The software MSI window a platform's default regions may carry (its SW_MSI region). */
export interface MsiWindow {
  readonly base: bigint;
  readonly length: bigint;
}

/**
 * The reserved regions of a platform's devices. Every device has its platform's regions
 * (PlatformRegions) and those added with `add`; an SW_MSI region added for a device replaces the
 * platform's software MSI window for that device (a window the VMM chooses, as the iommufd
 * IOMMU_OPTION_SW_MSI_START/SIZE series posted in 2025, v2 in October, proposes; not modelled).
 */
export class ReservedRegions {
  /** The platform's software MSI window, if it has one (where the MSI doorbell mappings go). */
  readonly swMsi: MsiWindow | undefined;
  private readonly own = new Map<number, ReservedRegion[]>();

  /** The platform's MSI doorbells (their pages go in the software MSI window: regions.ts doorbellPages). */
  readonly doorbells: readonly bigint[];

  constructor(
    readonly platform: PlatformRegions,
    opts: { doorbells?: readonly bigint[] } = {},
  ) {
    this.doorbells = opts.doorbells ?? [];
    for (const r of platform.regions) checkRegion(r, "the platform's regions");
    const sw = platform.regions.find((r) => r.type === "SW_MSI");
    this.swMsi = sw && { base: sw.base, length: sw.length };
  }

  /** Why a scenario may not give a device a region of this type (the platform's refusal), or undefined. */
  refusal(type: RegionType): string | undefined {
    return this.platform.refused?.[type];
  }

  /** Adds regions to a device (firmware's RMRR/RMR, doorbells, p2p windows). */
  add(device: number, regions: readonly ReservedRegion[]): void {
    for (const r of regions) checkRegion(r, formatBdf(device));
    this.own.set(device, [...(this.own.get(device) ?? []), ...regions]);
  }

  /** A device's regions as Linux's iommu_get_resv_regions lists them, merged: the platform's, then its own. */
  regionsOf(device: number): MergedRegion[] {
    const own = this.own.get(device) ?? [];
    const platform = own.some((r) => r.type === "SW_MSI") ? this.platform.regions.filter((r) => r.type !== "SW_MSI") : this.platform.regions;
    return mergeRegions([...platform, ...own].map((r) => ({ type: r.type, base: r.base, length: r.length, devices: [device] })));
  }

  /** The regions of several devices (a group, or a domain's devices) merged, device by device in ascending BDF. */
  regionsOfDevices(devices: readonly number[]): MergedRegion[] {
    return mergeRegions([...new Set(devices)].sort((a, b) => a - b).flatMap((d) => this.regionsOf(d)));
  }

  /** The regions a domain keeps out of its IOVA space (excludes), merged over its devices. */
  reservedOf(domain: DomainView): MergedRegion[] {
    return this.regionsOfDevices(domain.devices).filter((r) => excludes(domain.usage, r.type));
  }

  /** The IOVA ranges a domain may map: its aperture less every region reservedOf keeps out, ascending. */
  usableRanges(domain: DomainView): IovaRange[] {
    const { first, last } = domain.aperture ?? DEFAULT_APERTURE;
    const out: IovaRange[] = [];
    let next = first;
    const cuts = this.reservedOf(domain).sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
    for (const r of cuts) {
      if (lastOf(r) < next) continue;
      if (r.base > last) break;
      if (r.base > next) out.push({ first: next, last: r.base - 1n });
      next = lastOf(r) + 1n;
      if (next > last) return out;
    }
    out.push({ first: next, last });
    return out;
  }

  /**
   * Why mapping [iova, iova + size) in `domain` is refused, or undefined when it may be mapped: it
   * must lie in the aperture and overlap no region the domain keeps out (the first such, by start).
   */
  checkMap(domain: DomainView, iova: bigint, size: bigint): string | undefined {
    const what = `map ${hex(iova)}+${hex(size)} in domain ${JSON.stringify(domain.name)}`;
    if (size < 1n) return `${what}: the size must be at least 1`;
    const end = iova + size - 1n;
    const ap = domain.aperture ?? DEFAULT_APERTURE;
    if (iova < ap.first || end > ap.last) return `${what}: ${hex(iova)}-${hex(end)} is outside the domain's aperture ${hex(ap.first)}-${hex(ap.last)}`;
    const hit = this.reservedOf(domain).find((r) => r.base <= end && lastOf(r) >= iova);
    if (!hit) return undefined;
    return `${what}: it overlaps the ${hit.type} region ${span(hit)} of ${devicesText(hit.devices)}, ${meaning[hit.type]}`;
  }

  /**
   * Why `device` may not join `domain`, which already maps `mapped`, or undefined when it may, as
   * iommufd's iopt_table_enforce_dev_resv_regions decides on attach: a region of the device the
   * domain keeps out (excludes) must not overlap a mapping already there (-EADDRINUSE); and, for
   * user space, a device may not have both a hardware MSI region and a software MSI window, nor two
   * software MSI windows (counted after merging; "Drivers must offer sane combinations of regions").
   */
  checkAttach(domain: DomainView, device: number, mapped: readonly IovaRange[]): string | undefined {
    const what = `attach ${formatBdf(device)} to domain ${JSON.stringify(domain.name)}`;
    const own = this.regionsOf(device);
    if (domain.usage === "user") {
      const hw = own.filter((r) => r.type === "MSI"), sw = own.filter((r) => r.type === "SW_MSI");
      if (sw.length > 1) return `${what}: the device has ${sw.length} software MSI windows (${sw.map(span).join(", ")}); iommufd accepts one`;
      if (sw.length && hw.length) return `${what}: the device has both a hardware MSI region (${span(hw[0]!)}) and a software MSI window (${span(sw[0]!)}); iommufd accepts one kind`;
    }
    for (const r of own) {
      if (!excludes(domain.usage, r.type)) continue;
      const m = mapped.find((m) => m.first <= lastOf(r) && m.last >= r.base);
      if (m) return `${what}: its ${r.type} region ${span(r)} overlaps the mapping ${hex(m.first)}-${hex(m.last)} already in the domain`;
    }
    return undefined;
  }

  /**
   * What happens to a request from `device` to `addr` (an untranslated address, without PASID):
   * a p2p window (RESERVED) is routed to the peer and never reaches the IOMMU; a hardware MSI
   * window is an interrupt; a DIRECT or DIRECT_RELAXABLE region is identity-mapped; the SW_MSI
   * window and every other address are translated (in the SW_MSI window, through the doorbell
   * mapping, so an MSI write there reaches the interrupt controller). Where regions of different
   * types overlap the first of that order decides.
   */
  route(device: number, addr: bigint): Route {
    const regions = this.regionsOf(device).filter((r) => r.base <= addr && addr <= lastOf(r));
    const find = (...types: RegionType[]) => regions.find((r) => types.includes(r.type));
    const at = `${hex(addr)} from ${formatBdf(device)}`;
    const p2p = find("RESERVED");
    if (p2p) return { fate: "p2p", region: p2p, why: `${at} is in the RESERVED region ${span(p2p)}: routed peer-to-peer, not translated` };
    const msi = find("MSI");
    if (msi) return { fate: "interrupt", region: msi, why: `${at} is in the MSI region ${span(msi)}: an interrupt, not translated` };
    const direct = find("DIRECT", "DIRECT_RELAXABLE");
    if (direct) return { fate: "direct", region: direct, why: `${at} is in the ${direct.type} region ${span(direct)}: identity-mapped` };
    const sw = find("SW_MSI");
    if (sw) return { fate: "translate", region: sw, why: `${at} is in the SW_MSI region ${span(sw)}: translated through the MSI doorbell mapping` };
    return { fate: "translate", why: `${at} is in no reserved region: translated` };
  }

  /**
   * Whether `device` may be owned by user space (VFIO, iommufd): not with a DIRECT region, which
   * firmware needs identity-mapped at all times, as user ownership first blocks the device (Linux
   * __iommu_device_set_domain refuses the blocking domain for require_direct). DIRECT_RELAXABLE
   * regions do not prevent it.
   */
  mayGoToUser(device: number): { ok: true } | { ok: false; reason: string } {
    const direct = this.regionsOf(device).find((r) => r.type === "DIRECT");
    if (!direct) return { ok: true };
    return {
      ok: false,
      reason: `${formatBdf(device)} has the DIRECT region ${span(direct)} (RMRR/RMR): firmware needs it identity-mapped at all times, so the device cannot be blocked or given to user space`,
    };
  }
}
