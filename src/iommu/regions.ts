/**
 * Reserved regions wired into scenarios and the driver side (issue 11; README "PASIDs and reserved
 * regions"): the architecture's default regions (its module's defaultReservedRegions, with the
 * software MSI window its scenario keys give) and the scenario's `reservedRegions` make the platform's
 * ReservedRegions (reserved-regions.ts); the loader checks the scenario's own mappings, devices and
 * drivers against them (scenarioRegionsProblem) and the driver side refuses trace events that
 * break them (RegionGuard, used by IommuLayer):
 * - a map over a region its domain's devices keep out (iommufd iopt_map_pages over
 *   iopt_reserved, dma-iommu's reserved IOVAs);
 * - an attach whose device has such a region where the domain already maps something
 *   (iopt_table_enforce_dev_resv_regions: -EADDRINUSE);
 * - a vfio bind of a device with a DIRECT region (iommu.c: require_direct refuses blocking).
 * Devices' DIRECT and DIRECT_RELAXABLE regions are identity-mapped in their kernel (DMA API)
 * domains as the scenario is built (iommu.c iommu_create_device_direct_mappings): directMappings.
 */
import { formatBdf } from "../trace/events.ts";
import { ReservedRegions, type DomainUsage, type DomainView, type IovaRange, type PlatformRegions } from "./reserved-regions.ts";
import type { DeviceRegion } from "./scenario-keys.ts";

const PAGE = 0x1000n;
const hex = (v: bigint) => `0x${v.toString(16)}`;
/** The aperture the guard checks against: the architecture's builder checks the domain's own input size. */
const WHOLE: IovaRange = { first: 0n, last: (1n << 64n) - 1n };

/** What of a scenario this module reads (every architecture's member has it). */
export interface RegionsScenario {
  readonly reservedRegions?: readonly DeviceRegion[];
  readonly drivers?: readonly { bdf: number; driver: string }[];
  readonly domainAlloc?: readonly { id: number; kind: string }[];
  readonly build?: {
    readonly domains?: readonly { id: number; type: string; mappings?: readonly { iova: bigint; size: bigint }[] }[];
    readonly devices?: readonly { bdf: number; domain: number; pasid?: number; ssid?: number }[];
  };
}

/** The reserved regions of a scenario's devices: the platform's (its architecture's defaultReservedRegions), then the scenario's `reservedRegions`. */
export function scenarioRegions(s: RegionsScenario, platform: PlatformRegions, doorbells: readonly bigint[] = []): ReservedRegions {
  const table = new ReservedRegions(platform, { doorbells });
  for (const r of s.reservedRegions ?? []) table.add(r.device, [{ type: r.type, base: r.base, length: r.length }]);
  return table;
}

/**
 * The windows the core routes before the IOMMU (abi P2pMap), by requester SID, ascending: each
 * device's RESERVED regions (peer-to-peer) and the MSI regions (fixed doorbells) the scenario lists.
 */
export function p2pWindowsOf(s: RegionsScenario, table: ReservedRegions): { sid: number; base: bigint; last: bigint; doorbell?: boolean }[] {
  const devices = [...new Set((s.reservedRegions ?? []).filter((r) => r.type === "RESERVED" || r.type === "MSI").map((r) => r.device))].sort((a, b) => a - b);
  const listed = (sid: number, base: bigint) => (s.reservedRegions ?? []).some((r) => r.device === sid && r.type === "MSI" && r.base <= base && base < r.base + r.length);
  return devices.flatMap((sid) =>
    table
      .regionsOf(sid)
      // RESERVED: a peer; MSI: a fixed doorbell the scenario lists (VT-d's own interrupt window is the unit's: its translation reports it)
      .filter((r) => r.type === "RESERVED" || (r.type === "MSI" && listed(sid, r.base)))
      .map((r) => ({ sid, base: r.base, last: r.base + r.length - 1n, ...(r.type === "MSI" ? { doorbell: true } : {}) })),
  );
}

/**
 * The MSI doorbell mappings the driver places in the SW_MSI window of each build paging domain with
 * devices, per build domain index: doorbell k's page at the window base + k * 4 KiB (Linux
 * iommu_dma_get_msi_page: one page per doorbell, IOMMU_WRITE | IOMMU_MMIO), the window being the
 * domain's first device's. A device's MSI write to that IOVA reaches the doorbell: an interrupt.
 */
export function msiMappings(s: RegionsScenario, table: ReservedRegions, doorbells: readonly bigint[]): Map<number, { iova: bigint; pa: bigint }[]> {
  const out = new Map<number, { iova: bigint; pa: bigint }[]>();
  if (!doorbells.length) return out;
  (s.build?.domains ?? []).forEach((d, i) => {
    const devices = buildDevicesOf(s, d.id);
    if (!paging(d.type) || d.type === "s2" || !devices.length) return;
    const pages = doorbellPages(table, devices[0]!, doorbells);
    if (pages.length) out.set(i, pages);
  });
  return out;
}

/**
 * Where a device's MSI doorbells are mapped: doorbell k's 4 KiB page at the device's SW_MSI window
 * base + k * 4 KiB (Linux: iommu_dma_get_msi_page and iommufd_sw_msi_get_map hand out the window's
 * pages in turn, one per doorbell page); none without a software MSI window.
 */
export function doorbellPages(table: ReservedRegions, device: number, doorbells: readonly bigint[] = table.doorbells): { iova: bigint; pa: bigint }[] {
  const window = doorbells.length ? table.regionsOf(device).find((r) => r.type === "SW_MSI") : undefined;
  return window ? doorbells.map((pa, k) => ({ iova: window.base + BigInt(k) * PAGE, pa: pa & ~(PAGE - 1n) })) : [];
}

/** Why the doorbells do not fit the SW_MSI window (one page each), or undefined. */
export function doorbellsProblem(table: ReservedRegions, doorbells: readonly bigint[]): string | undefined {
  const need = BigInt(doorbells.length) * PAGE;
  const w = table.swMsi;
  if (!need) return undefined;
  if (!w) return `${doorbells.length} doorbells need a software MSI window to be mapped in, and the platform has none`;
  return need > w.length ? `${doorbells.length} doorbells need ${hex(need)} bytes of the SW_MSI window ${hex(w.base)}+${hex(w.length)} (one 4 KiB page each)` : undefined;
}

/** The build's devices attached without a PASID or SubstreamID to domain `id`: those whose regions bind it. */
function buildDevicesOf(s: RegionsScenario, id: number): number[] {
  return (s.build?.devices ?? []).filter((d) => d.domain === id && d.pasid === undefined && d.ssid === undefined).map((d) => d.bdf);
}

const vfio = (s: RegionsScenario, bdf: number) => (s.drivers ?? []).some((b) => b.bdf === bdf && b.driver === "vfio");

/** A domain of the build with its devices: user space's when one of them is bound to vfio. */
function buildView(s: RegionsScenario, id: number): DomainView {
  const devices = buildDevicesOf(s, id);
  return { name: String(id), devices, usage: devices.some((d) => vfio(s, d)) ? "user" : "dma-api", aperture: WHOLE };
}

/** Paging domains a driver writes mappings into (not identity, pass-through or blocking ones). */
const paging = (type: string) => type !== "identity" && type !== "pt" && type !== "blocking";

/**
 * The identity mappings of DIRECT and DIRECT_RELAXABLE regions the kernel creates in a device's
 * DMA-API paging domain at attach (iommu_create_device_direct_mappings; not in user space's
 * domains, which iommufd fills itself), per build domain index, each region once per domain.
 */
export function directMappings(s: RegionsScenario, table: ReservedRegions): Map<number, IovaRange[]> {
  const out = new Map<number, IovaRange[]>();
  (s.build?.domains ?? []).forEach((d, i) => {
    const view = buildView(s, d.id);
    if (!paging(d.type) || view.usage !== "dma-api") return;
    const ranges = table
      .regionsOfDevices(view.devices)
      .filter((r) => r.type === "DIRECT" || r.type === "DIRECT_RELAXABLE")
      .map((r) => ({ first: r.base, last: r.base + r.length - 1n }));
    if (ranges.length) out.set(i, ranges);
  });
  return out;
}

/**
 * The first problem of a scenario's keys with its regions, at the key that causes it: a region of a
 * type the platform refuses (VT-d: SW_MSI, its interrupt window is fixed hardware); a vfio driver for a
 * device with a DIRECT region; a build mapping over a region its domain's devices keep out.
 */
export function scenarioRegionsProblem(s: RegionsScenario, table: ReservedRegions): { path: string; message: string } | undefined {
  for (const [i, r] of (s.reservedRegions ?? []).entries()) {
    const refused = table.refusal(r.type);
    if (refused) return { path: `reservedRegions[${i}].type`, message: refused };
  }
  for (const [i, b] of (s.drivers ?? []).entries()) {
    if (b.driver !== "vfio") continue;
    const may = table.mayGoToUser(b.bdf);
    if (!may.ok) return { path: `drivers[${i}].driver`, message: `bind ${formatBdf(b.bdf)} vfio: ${may.reason}` };
  }
  for (const [i, d] of (s.build?.domains ?? []).entries()) {
    const view = buildView(s, d.id);
    for (const [j, m] of (d.mappings ?? []).entries()) {
      const why = view.devices.length ? table.checkMap(view, m.iova, m.size) : undefined;
      if (why) return { path: `build.domains[${i}].mappings[${j}]`, message: why };
    }
  }
  return undefined;
}

/** What the guard asks the driver side: a device's domain (without PASID) and whether its group is user space's. */
export interface RegionPeers {
  attachedDomain(sid: number): number | undefined;
  userOwned(sid: number): boolean;
}

/**
 * The driver side's reserved-region rules for trace events. It knows the devices that may be
 * attached (the scenario's and every device an event names) and what each domain maps (the build's
 * mappings, then the trace's maps less its unmaps), as iommufd's io_pagetable does.
 */
export class RegionGuard {
  private readonly known = new Set<number>();
  private readonly mapped = new Map<number, IovaRange[]>();
  /** Paging domains the scenario's `domainAlloc` made (the driver side does not list them itself). */
  readonly allocatedPaging = new Set<number>();
  /**
   * Per paging domain, the SW_MSI window IOVAs whose doorbell page is mapped in it (the build's,
   * then the driver side's at attach): kept apart from `mapped`, as Linux keeps them apart from the
   * IOAS's own mappings (iommufd's present_sw_msi bitmap per hwpt_paging).
   */
  private readonly msiMapped = new Map<number, Set<bigint>>();

  constructor(
    readonly table: ReservedRegions,
    devices: Iterable<number> = [],
    mappings: Iterable<readonly [number, IovaRange]> = [],
  ) {
    for (const d of devices) this.known.add(d);
    for (const [domain, r] of mappings) this.noteMap(domain, r.first, r.last - r.first + 1n);
  }

  /** A scenario's guard: its devices (topology, build, regions, drivers) and its build mappings (with the DIRECT identity ones). */
  static ofScenario(s: RegionsScenario & { topology?: readonly { bdf: number }[] }, table: ReservedRegions): RegionGuard {
    const devices = [...(s.topology ?? []).map((n) => n.bdf), ...(s.build?.devices ?? []).map((d) => d.bdf), ...(s.reservedRegions ?? []).map((r) => r.device), ...(s.drivers ?? []).map((b) => b.bdf)];
    const mappings: [number, IovaRange][] = [];
    const direct = directMappings(s, table);
    (s.build?.domains ?? []).forEach((d, i) => {
      for (const m of d.mappings ?? []) mappings.push([d.id, { first: m.iova, last: m.iova + m.size - 1n }]);
      for (const r of direct.get(i) ?? []) mappings.push([d.id, r]);
    });
    const guard = new RegionGuard(table, devices, mappings);
    for (const a of s.domainAlloc ?? []) if (a.kind === "paging") guard.allocatedPaging.add(a.id);
    for (const [i, list] of msiMappings(s, table, table.doorbells)) for (const m of list) guard.noteMsi(s.build!.domains![i]!.id, m.iova);
    return guard;
  }

  /** The doorbell pages `sid` needs in the paging domain `domain` that it does not have yet (doorbellPages). */
  msiNeeds(domain: number, sid: number): { iova: bigint; pa: bigint }[] {
    const have = this.msiMapped.get(domain);
    return doorbellPages(this.table, sid).filter((m) => !have?.has(m.iova));
  }

  /** Why the doorbell pages cannot go into `domain`: one overlaps a mapping already there (iommu_map would fail, -EEXIST); undefined when they can. */
  msiProblem(domain: number, sid: number, pages: readonly { iova: bigint }[]): string | undefined {
    const mapped = this.mapped.get(domain) ?? [];
    for (const p of pages) {
      const m = mapped.find((r) => r.first <= p.iova + PAGE - 1n && r.last >= p.iova);
      if (m) return `attach ${formatBdf(sid)}: its MSI doorbell page goes at ${hex(p.iova)} in the software MSI window of domain ${domain}, which maps ${hex(m.first)}-${hex(m.last)} there already`;
    }
    return undefined;
  }

  /** A doorbell page mapped at `iova` in `domain`. */
  noteMsi(domain: number, iova: bigint): void {
    this.msiMapped.set(domain, (this.msiMapped.get(domain) ?? new Set()).add(iova));
  }


  /** A device an event names: from now on it counts among the devices a domain may have. */
  see(sid: number): void {
    this.known.add(sid);
  }

  /** A domain's devices (without PASID) now, and who uses it: user space when any of their groups is user-owned. */
  view(domain: number, peers: RegionPeers, plus: readonly number[] = []): DomainView {
    const devices = [...new Set([...[...this.known].filter((d) => peers.attachedDomain(d) === domain), ...plus])];
    const usage: DomainUsage = devices.some((d) => peers.userOwned(d)) ? "user" : "dma-api";
    return { name: String(domain), devices, usage, aperture: WHOLE };
  }

  /** Why a map of [iova, iova + size) in `domain` is refused (a region of its devices), or undefined. */
  mapProblem(domain: number, iova: bigint, size: bigint, peers: RegionPeers): string | undefined {
    const view = this.view(domain, peers);
    return view.devices.length ? this.table.checkMap(view, iova, size) : undefined;
  }

  /** Why `sids` (a device and the requester IDs that go with it) may not join `domain`, or undefined. */
  attachProblem(domain: number, sids: readonly number[], peers: RegionPeers): string | undefined {
    const view = this.view(domain, peers, sids);
    const mapped = this.mapped.get(domain) ?? [];
    for (const sid of sids) {
      this.see(sid);
      if (peers.attachedDomain(sid) === domain) continue;
      const why = this.table.checkAttach(view, sid, mapped);
      if (why) return why;
    }
    return undefined;
  }

  /** Why `sid` may not be bound to `driver` (vfio of a device with a DIRECT region), or undefined. */
  bindProblem(sid: number, driver: string): string | undefined {
    this.see(sid);
    if (driver !== "vfio") return undefined;
    const may = this.table.mayGoToUser(sid);
    return may.ok ? undefined : `bind ${formatBdf(sid)} vfio: ${may.reason}`;
  }

  noteMap(domain: number, iova: bigint, size: bigint): void {
    const list = this.mapped.get(domain) ?? [];
    list.push({ first: iova, last: iova + size - 1n });
    this.mapped.set(domain, list);
  }

  /** [iova, iova + size) no longer mapped in `domain`: cut out of its ranges. */
  noteUnmap(domain: number, iova: bigint, size: bigint): void {
    const last = iova + size - 1n;
    // A doorbell page the unmap takes away: mapped again when a device next joins the domain.
    for (const p of this.msiMapped.get(domain) ?? []) if (p <= last && p + PAGE - 1n >= iova) this.msiMapped.get(domain)!.delete(p);
    const out: IovaRange[] = [];
    for (const r of this.mapped.get(domain) ?? []) {
      if (r.last < iova || r.first > last) out.push(r);
      else {
        if (r.first < iova) out.push({ first: r.first, last: iova - 1n });
        if (r.last > last) out.push({ first: last + 1n, last: r.last });
      }
    }
    this.mapped.set(domain, out);
  }

  /** Whether [iova, iova + size) lies inside one range `domain` maps. */
  covered(domain: number, iova: bigint, size: bigint): boolean {
    return (this.mapped.get(domain) ?? []).some((r) => r.first <= iova && iova + size - 1n <= r.last);
  }

  /** What `domain` maps as the guard knows it, ascending. */
  mappedOf(domain: number): IovaRange[] {
    return [...(this.mapped.get(domain) ?? [])].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  }
}
