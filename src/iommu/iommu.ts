/**
 * The driver side above the architectures (issue 11; README "Driver side"), where Linux's
 * drivers/iommu/iommu.c and iommufd sit above the vendor drivers: it carries out `bind`, `unbind`,
 * `domain-alloc`, `attach`, `replace` and `detach` by the ownership rules (ownership.ts) with the
 * architecture's driver (ArchDriver: VT-d or SMMUv3), and passes map, unmap, flush and the
 * architecture's own commands through unchanged. It never translates: a TLP's result is the core's,
 * and `blocked` is the core's own blocking form (ArchDriver.isBlockedForm) of a device the owner
 * keeps blocked.
 *
 * - A group becomes user-owned (its first vfio bind): every device of the group is first put in the
 *   blocking domain (__iommu_take_dma_ownership -> __iommu_group_set_domain(blocking_domain)); what
 *   each had on its requester ID is remembered as its default domain.
 * - What the group gets, every requester ID of it gets: its devices' and their DMA aliases (the
 *   secondary bus, devfn 0, of a PCIe-to-PCI bridge above a conventional device).
 * - In a user-owned group the requester-ID domain is the group's (iommufd: igroup->hwpt; Linux
 *   attaches a domain to every device of a group, so devices sharing a requester ID behind a
 *   PCIe-to-PCI bridge attach as one): attach of a vfio device sets it on every device of the group,
 *   or joins the domain the group has (a different one is refused: replace it instead); detach of
 *   the last attached device puts the whole group back in the blocking domain, where it stays
 *   until ownership is released; replace moves the whole group.
 * - Ownership released (the last vfio unbind): every device of the group goes back to its default
 *   domain (iommu_release_dma_owner), or stays blocked when it had none.
 * - Outside user-owned groups attach, replace and detach act on the one device as before.
 */
import type { Result } from "../core/core.ts";
import type { ArchDriver, DriverOptions, DriverStats } from "../driver/driver.ts";
import { formatBdf, type AttachEvent, type DriverEvent, type TraceTlp } from "../trace/events.ts";
import type { EventOrigin } from "../driver/flush-queue.ts";
import type { PciNode } from "./types.ts";
import { Ownership, RefusedError } from "./ownership.ts";
import { Domains } from "./domains.ts";
import type { RegionGuard, RegionPeers } from "./regions.ts";

/** Per user-owned group (keyed by its first device): the group's requester-ID domain and the devices attached to it. */
interface UserGroup {
  domain?: number;
  attached: Set<number>;
  /** Each member's requester-ID domain when the group was claimed (undefined: none). */
  defaults: Map<number, number | undefined>;
}

export class IommuLayer implements ArchDriver {
  readonly ownership: Ownership;
  readonly domains: Domains;
  private readonly users = new Map<number, UserGroup>();
  /** The PASIDs each vfio device attached (user space's: they go when its driver unbinds). */
  private readonly userPasids = new Map<number, Set<number>>();
  /** Devices outside user-owned groups that a blocking domain was attached to. */
  private readonly blockedDevices = new Set<number>();

  constructor(
    readonly arch: ArchDriver,
    topology: readonly PciNode[] = [],
    /** The scenario's `drivers`: bound in this order before the trace starts. */
    bindings: readonly (readonly [number, string])[] = [],
    /** The blocking domains of the scenario's `domainAlloc` (its other domains are the unit's already). */
    blocking: readonly number[] = [],
    /** The platform's reserved regions (regions.ts): maps, attaches and vfio binds that break them are refused. */
    readonly regions?: RegionGuard,
  ) {
    this.ownership = new Ownership(topology);
    this.domains = new Domains(arch);
    for (const id of blocking) this.domains.declareBlocking(id);
    for (const [sid, driver] of bindings) this.bind(sid, driver);
  }

  get options(): DriverOptions {
    return this.arch.options;
  }
  get stats(): DriverStats {
    return this.arch.stats;
  }
  get deadline(): bigint | undefined {
    return this.arch.deadline;
  }
  get firstDeferred(): EventOrigin | undefined {
    return this.arch.firstDeferred;
  }
  advanceTo(t: bigint): void {
    this.arch.advanceTo(t);
  }
  finish(): void {
    this.arch.finish();
  }

  apply(e: DriverEvent, now: bigint): void {
    switch (e.op) {
      case "bind":
        this.arch.advanceTo(now);
        return this.bind(e.sid, e.driver);
      case "unbind":
        this.arch.advanceTo(now);
        return this.unbind(e.sid, e, now);
      case "domain-alloc":
        this.arch.advanceTo(now);
        return this.domains.alloc(e);
      case "attach":
        return this.attach(e, now);
      case "replace":
        return this.replaceEvent(e.sid, e.pasid, e.domain, now, e);
      case "detach":
        return this.detach(e, now);
      case "map":
      case "unmap": {
        if (this.domains.isBlocking(e.domain)) throw new RefusedError(`${e.op} ${e.domain}: domain ${e.domain} is a blocking domain: it has no page tables`);
        const why = e.op === "map" ? this.regions?.mapProblem(e.domain, e.iova, e.size, this.peers) : undefined;
        if (why) throw new RefusedError(why);
        this.arch.apply(e, now);
        if (e.op === "map") this.regions?.noteMap(e.domain, e.iova, e.size);
        else this.regions?.noteUnmap(e.domain, e.iova, e.size);
        return;
      }
      default:
        return this.arch.apply(e, now);
    }
  }

  // ---- ownership --------------------------------------------------------------------------------

  private key(sid: number): number {
    return this.ownership.groupOf(sid).devices[0]!;
  }

  private userGroup(sid: number): UserGroup | undefined {
    return this.ownership.userOwned(sid) ? this.users.get(this.key(sid)) : undefined;
  }

  /** What the region guard asks of the driver side. */
  private readonly peers: RegionPeers = { attachedDomain: (sid) => this.arch.attachedDomain(sid), userOwned: (sid) => this.ownership.userOwned(sid) };

  /** A device (and the requester IDs that go with it in a user-owned group) joining `domain` without a PASID: refused over a reserved region. */
  private checkRegions(sid: number, domain: number, what?: string): void {
    const sids = this.userGroup(sid) ? this.ownership.requesterIds(sid) : [sid];
    const why = this.regions?.attachProblem(domain, sids, this.peers);
    if (why) throw new RefusedError(what ? `${what}: ${why}` : why);
  }

  /**
   * A kernel device's DIRECT and DIRECT_RELAXABLE regions identity-mapped (read/write) in the paging
   * domain domain-alloc made that it joins, where not mapped yet (Linux
   * iommu_create_device_direct_mappings); the scenario's `build` domains got theirs at load.
   */
  private directMap(sid: number, domain: number, at: { line: number; column: number }, now: bigint): void {
    const guard = this.regions;
    if (!guard || (this.domains.kindOf(domain) !== "paging" && !guard.allocatedPaging.has(domain))) return;
    for (const r of guard.table.regionsOf(sid)) {
      if ((r.type !== "DIRECT" && r.type !== "DIRECT_RELAXABLE") || guard.covered(domain, r.base, r.length)) continue;
      this.arch.apply({ op: "map", domain, iova: r.base, pa: r.base, size: r.length, perm: "rw", page: "4K", snp: false, user: true, global: false, line: at.line, column: at.column }, now);
      guard.noteMap(domain, r.base, r.length);
    }
  }

  private bind(sid: number, driver: string): void {
    const why = this.regions?.bindProblem(sid, driver);
    if (why) throw new RefusedError(why);
    if (this.ownership.bind(sid, driver) !== "claim") return;
    const g: UserGroup = { attached: new Set(), defaults: new Map() };
    for (const m of this.ownership.requesterIds(sid)) {
      g.defaults.set(m, this.blockedDevices.has(m) ? undefined : this.arch.attachedDomain(m));
      this.blockedDevices.delete(m);
      this.arch.block(m);
    }
    this.users.set(this.key(sid), g);
  }

  private unbind(sid: number, at: { line: number; column: number }, now: bigint): void {
    const g = this.users.get(this.key(sid));
    const wasVfio = this.ownership.driverOf(sid) === "vfio";
    const change = this.ownership.unbind(sid);
    // iommufd closes the device: the PASIDs it attached are detached (their entries torn down).
    if (wasVfio) for (const pasid of this.userPasids.get(sid) ?? []) if (this.arch.attachedDomain(sid, pasid) !== undefined) this.arch.apply({ op: "detach", sid, pasid, line: at.line, column: at.column }, now);
    this.userPasids.delete(sid);
    if (change !== "release") {
      // A vfio device leaving a group that stays user-owned: it is no longer attached.
      if (g && g.attached.delete(sid) && g.attached.size === 0) this.blockGroup(sid, g);
      return;
    }
    this.users.delete(this.key(sid));
    for (const m of this.ownership.requesterIds(sid)) {
      this.arch.block(m); // PASID attachments of user space go with it
      const d = g?.defaults.get(m);
      if (d !== undefined) this.arch.replace(m, undefined, d);
    }
  }

  private blockGroup(sid: number, g: UserGroup): void {
    g.domain = undefined;
    g.attached.clear();
    for (const m of this.ownership.requesterIds(sid)) this.arch.block(m);
  }

  /** A user-owned group's device that is not vfio's: refused. */
  private checkUser(op: string, sid: number): void {
    if (this.ownership.driverOf(sid) !== "vfio")
      throw new RefusedError(`${op} ${formatBdf(sid)}: ${this.ownership.groupName(sid)} is owned by user space and ${formatBdf(sid)} is not bound to vfio`);
  }

  // ---- attachment --------------------------------------------------------------------------------

  private attach(e: AttachEvent, now: bigint): void {
    const g = this.userGroup(e.sid);
    const what = `attach ${formatBdf(e.sid)}${e.pasid !== undefined ? ` pasid=${e.pasid}` : ""} domain=${e.domain}`;
    if (e.pasid === undefined && !this.domains.isBlocking(e.domain)) this.checkRegions(e.sid, e.domain);
    if (g === undefined) {
      if (!this.domains.isBlocking(e.domain)) {
        this.arch.apply(e, now);
        this.blockedDevices.delete(e.sid);
        if (e.pasid === undefined) this.directMap(e.sid, e.domain, e, now);
        return;
      }
      if (e.pasid !== undefined) throw new RefusedError(`${what}: a blocking domain is attached to a device, not to a PASID (detach the PASID instead)`);
      this.arch.advanceTo(now);
      this.arch.block(e.sid);
      this.blockedDevices.add(e.sid);
      return;
    }
    this.checkUser("attach", e.sid);
    this.arch.advanceTo(now);
    if (e.pasid !== undefined) {
      if (this.domains.isBlocking(e.domain)) throw new RefusedError(`${what}: a blocking domain is attached to a device, not to a PASID (detach the PASID instead)`);
      this.arch.apply(e, now);
      this.userPasids.set(e.sid, (this.userPasids.get(e.sid) ?? new Set()).add(e.pasid));
      return;
    }
    if (this.domains.isBlocking(e.domain)) {
      if (g.attached.has(e.sid)) this.detachUser(e.sid, g);
      return;
    }
    if (g.domain !== undefined && g.domain !== e.domain) {
      const by = [...g.attached].map(formatBdf).join(", ");
      throw new RefusedError(`${what}: ${this.ownership.groupName(e.sid)} is attached to domain ${g.domain} (by ${by}); the devices of a group share one domain: replace it instead`);
    }
    if (g.domain === undefined) this.setGroupDomain(e.sid, e.domain, e, now);
    g.domain = e.domain;
    g.attached.add(e.sid);
  }

  /**
   * Every requester ID of the group to `domain`, the named device first (a refusal leaves the others
   * as they were); an `attach` of a device with nothing attached is carried out as written, so its
   * flags (ats, pri, ...) reach the unit.
   */
  private setGroupDomain(sid: number, domain: number, e?: AttachEvent, now = 0n): void {
    if (!this.arch.hasDomain(domain)) throw new RefusedError(`domain ${domain} does not exist`);
    const previous = this.userGroup(sid)?.domain;
    const done: number[] = [];
    try {
      if (e !== undefined && this.arch.attachedDomain(sid) === undefined) this.arch.apply(e, now);
      else this.arch.replace(sid, undefined, domain);
      done.push(sid);
      for (const m of this.ownership.requesterIds(sid)) {
        if (m === sid) continue;
        this.arch.replace(m, undefined, domain);
        done.push(m);
      }
    } catch (err) {
      // One domain for the whole group or none: what was changed goes back to what the group had.
      for (const m of done) {
        if (previous === undefined) this.arch.block(m);
        else this.arch.replace(m, undefined, previous);
      }
      throw err;
    }
  }

  private replaceEvent(sid: number, pasid: number | undefined, domain: number, now: bigint, at: { line: number; column: number }): void {
    this.arch.advanceTo(now);
    const what = `replace ${formatBdf(sid)}${pasid !== undefined ? ` pasid=${pasid}` : ""} domain=${domain}`;
    if (this.domains.isBlocking(domain)) throw new RefusedError(`${what}: domain ${domain} is a blocking domain: detach instead`);
    if (pasid === undefined) this.checkRegions(sid, domain, what);
    const g = this.userGroup(sid);
    if (g === undefined) {
      this.arch.replace(sid, pasid, domain);
      this.blockedDevices.delete(sid);
      if (pasid === undefined) this.directMap(sid, domain, at, now);
      return;
    }
    this.checkUser("replace", sid);
    if (pasid !== undefined) {
      if (this.arch.attachedDomain(sid, pasid) === undefined) throw new RefusedError(`${what}: PASID ${pasid} of ${formatBdf(sid)} is not attached; attach it first`);
      return this.arch.replace(sid, pasid, domain);
    }
    if (!g.attached.has(sid)) throw new RefusedError(`${what}: ${formatBdf(sid)} is not attached; attach it first (iommufd_device_replace)`);
    this.setGroupDomain(sid, domain);
    g.domain = domain;
  }

  private detach(e: DriverEvent & { op: "detach" }, now: bigint): void {
    const g = this.userGroup(e.sid);
    if (g === undefined) {
      this.arch.apply(e, now);
      return;
    }
    this.checkUser("detach", e.sid);
    if (e.pasid !== undefined) return this.arch.apply(e, now);
    this.arch.advanceTo(now);
    if (!g.attached.has(e.sid)) throw new RefusedError(`detach ${formatBdf(e.sid)}: ${formatBdf(e.sid)} is not attached`);
    this.detachUser(e.sid, g);
  }

  private detachUser(sid: number, g: UserGroup): void {
    g.attached.delete(sid);
    if (g.attached.size === 0) this.blockGroup(sid, g);
  }

  // ---- what the TLPs show -----------------------------------------------------------------------

  /** Whether the owner keeps the device blocked: its group user-owned and not attached, or a blocking domain attached. */
  blocked(sid: number): boolean {
    const g = this.userGroup(sid);
    return g !== undefined ? g.domain === undefined : this.blockedDevices.has(sid);
  }

  outcome(tlp: TraceTlp, r: Result): Result {
    return this.blocked(tlp.sid) && this.arch.isBlockedForm(r) ? { ...r, status: "blocked" } : r;
  }

  // ---- the ArchDriver contract, for a layer over a layer ----------------------------------------

  allocDomain(spec: Parameters<ArchDriver["allocDomain"]>[0]): void {
    this.arch.allocDomain(spec);
  }
  hasDomain(id: number): boolean {
    return this.arch.hasDomain(id);
  }
  block(sid: number): void {
    this.arch.block(sid);
  }
  replace(sid: number, pasid: number | undefined, domain: number): void {
    this.arch.replace(sid, pasid, domain);
  }
  attachedDomain(sid: number, pasid?: number): number | undefined {
    return this.arch.attachedDomain(sid, pasid);
  }
  isBlockedForm(r: Result): boolean {
    return this.arch.isBlockedForm(r);
  }
}
