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
 * - `enforce-coherency D` (iommufd's enforce_cache_coherency): the unit's driver decides
 *   (ArchDriver.enforceCoherency); once enforced, attaching or replacing to D a device whose IOMMU
 *   cannot keep its No-Snoop DMA coherent is refused (VT-d: ECAP.SC; SMMUv3: CANWBS).
 */
import type { Result } from "../core/core.ts";
import { DriverError, type ArchDriver, type DomainModes, type DriverOptions, type DriverStats } from "../driver/driver.ts";
import { formatBdf, isGroupEvent, type AttachEvent, type DetachEvent, type DriverEvent, type GroupEvent, type TraceTlp } from "../trace/events.ts";
import type { EventOrigin } from "../driver/flush-queue.ts";
import type { GroupRule, PciNode } from "./types.ts";
import { Ownership, RefusedError } from "./ownership.ts";
import { Domains } from "./domains.ts";
import { Vms, type VmSpec } from "./vms.ts";
import type { PasidSpaceOptions } from "./pasid.ts";
import type { DriverNote } from "../driver/driver.ts";
import type { RegionGuard, RegionPeers } from "./regions.ts";

/** Per user-owned group (keyed by its first device): the group's requester-ID domain and the devices attached to it. */
interface UserGroup {
  domain?: number;
  /** The vfio devices attached to the group's domain (a group attach: all of them). */
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
  /** The VMs: device assignment, mediated devices, PASID allocation (vms.ts). */
  readonly vms: Vms;
  /** Per-device spaces: each device's width, from its unit when it first allocates (pasidBits). */
  private readonly deviceBits = new Map<number, number>();
  /** Per PASID, the devices an attach named it on (where a free looks for its attachments). */
  private readonly pasidDevices = new Map<number, Set<number>>();
  private note: DriverNote | undefined;

  constructor(
    readonly arch: ArchDriver,
    topology: readonly PciNode[] = [],
    /** The scenario's `drivers`: bound in this order before the trace starts. */
    bindings: readonly (readonly [number, string])[] = [],
    /** The blocking domains of the scenario's `domainAlloc` (its other domains are the unit's already). */
    blocking: readonly number[] = [],
    /** The scenario's `vms` (their devices bound to vfio for them after `bindings`) and `pasidSpace`. */
    opts: { vms?: readonly VmSpec[]; pasidSpace?: Omit<PasidSpaceOptions, "vms">; groupRule?: GroupRule } = {},
    /** The platform's reserved regions (regions.ts): maps, attaches and vfio binds that break them are refused. */
    readonly regions?: RegionGuard,
  ) {
    this.ownership = new Ownership(topology, opts.groupRule);
    this.domains = new Domains(arch);
    this.vms = new Vms(this.ownership, opts.vms, { ...opts.pasidSpace, deviceBits: this.deviceBits });
    for (const id of blocking) this.domains.declareBlocking(id);
    for (const [sid, driver] of bindings) this.bind(sid, driver);
    for (const v of opts.vms ?? []) for (const sid of v.devices ?? []) this.bind(sid, "vfio", v.name);
  }

  /** The VM the device is assigned to whole (`bind DEV vfio vm=NAME`, `vms[].devices`). */
  vmOf(sid: number): string | undefined {
    return this.vms.vmOf(sid);
  }

  takeNote(): DriverNote | undefined {
    const n = this.note;
    this.note = undefined;
    return n;
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
  domainModes(): DomainModes {
    return this.arch.domainModes();
  }

  apply(e: DriverEvent, now: bigint): void {
    switch (e.op) {
      case "bind":
        this.arch.advanceTo(now);
        return this.bind(e.sid, e.driver, e.vm);
      case "unbind":
        this.arch.advanceTo(now);
        this.unbind(e.sid, e, now);
        return this.vms.release(e.sid);
      case "pasid-alloc":
        return this.pasidAlloc(e.vm, e.sid);
      case "pasid-free":
        this.arch.advanceTo(now);
        return this.pasidFree(e.vm, e.pasid, e.sid);
      case "quota": {
        const r = this.vms.pasids.setQuota(e.vm, e.quota);
        if (!r.ok) throw new RefusedError(`quota ${e.vm} ${e.quota}: ${r.reason}`);
        this.note = { vm: e.vm, quota: e.quota, over: r.over };
        return;
      }
      case "mdev":
        this.note = { vm: e.vm, mdevs: this.vms.createMdev(e.sid, e.vm) };
        return;
      case "mdev-remove":
        this.arch.advanceTo(now);
        return this.mdevRemove(e.sid, e.vm, e, now);
      case "domain-alloc":
        this.arch.advanceTo(now);
        return this.domains.alloc(e);
      case "attach":
        if (isGroupEvent(e)) return this.groupEvent(e, now);
        this.checkCoherency("attach", e.sid, e.pasid, e.domain);
        return this.attach(e, now);
      case "replace":
        if (isGroupEvent(e)) return this.groupEvent(e, now);
        this.checkCoherency("replace", e.sid, e.pasid, e.domain);
        return this.replaceEvent(e.sid, e.pasid, e.domain, now, e);
      case "enforce-coherency":
        this.arch.advanceTo(now);
        return this.enforce(e.domain);
      case "detach":
        if (isGroupEvent(e)) return this.groupEvent(e, now);
        return this.detach(e, now);
      case "flush":
        if (e.domain !== undefined && this.domains.isBlocking(e.domain)) throw new RefusedError(`flush ${e.domain}: domain ${e.domain} is a blocking domain: it has no flush queue`);
        return this.arch.apply(e, now);
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

  /**
   * The MSI doorbell pages a device joining `domain` (without a PASID) needs there and lacks, on a
   * platform with a software MSI window and doorbells behind the IOMMU (SMMUv3), and the paging
   * domain they go in (ArchDriver.msiDomain: a nested domain's parent); undefined when none.
   */
  private msiPages(sid: number, domain: number): { target: number; pages: { iova: bigint; pa: bigint }[] } | undefined {
    const guard = this.regions;
    if (!guard || !guard.table.doorbells.length || this.domains.isBlocking(domain) || !this.arch.hasDomain(domain)) return undefined;
    const target = this.arch.msiDomain ? this.arch.msiDomain(domain) : domain;
    const pages = target === undefined ? [] : guard.msiNeeds(target, sid);
    return pages.length ? { target: target!, pages } : undefined;
  }

  /** Refused before the attach when a doorbell page would land on a mapping already in the domain (iommu_map fails, and with it the attach). */
  private checkMsi(sid: number, domain: number, what?: string): void {
    const need = this.msiPages(sid, domain);
    const why = need && this.regions!.msiProblem(need.target, sid, need.pages);
    if (why) throw new RefusedError(what ? `${what}: ${why}` : why);
  }

  /**
   * The doorbell pages mapped once per domain after a device joined it, read/write device memory
   * (IOMMU_READ | IOMMU_WRITE | IOMMU_MMIO), as iommufd does at attach and replace
   * (drivers/iommu/iommufd/device.c iommufd_group_setup_msi -> driver.c iommufd_sw_msi_install,
   * into find_hwpt_paging's domain: a nested domain's parent); the build's domains got theirs at load.
   */
  private msiMap(sid: number, domain: number, at: { line: number; column: number }, now: bigint): void {
    const need = this.msiPages(sid, domain);
    if (!need) return;
    for (const p of need.pages) {
      this.arch.apply({ op: "map", domain: need.target, iova: p.iova, pa: p.pa, size: 0x1000n, perm: "rw", page: "4K", snp: false, user: true, global: false, mmio: true, line: at.line, column: at.column }, now);
      this.regions!.noteMsi(need.target, p.iova);
    }
  }

  /** A device joining `domain` without a PASID: refused over a reserved region or where its doorbell pages would go. */
  private checkJoin(sid: number, domain: number, what?: string): void {
    this.checkRegions(sid, domain, what);
    this.checkMsi(sid, domain, what);
  }

  /** A kernel-owned device has joined `domain` without a PASID: its DIRECT regions and doorbell pages mapped there where missing. */
  private joined(sid: number, domain: number, at: { line: number; column: number }, now: bigint): void {
    this.directMap(sid, domain, at, now);
    this.msiMap(sid, domain, at, now);
  }

  private bind(sid: number, driver: string, vm?: string): void {
    const why = this.regions?.bindProblem(sid, driver);
    if (why) throw new RefusedError(why);
    if (vm !== undefined) this.vms.checkAssign(sid, vm);
    const change = this.ownership.bind(sid, driver);
    if (vm !== undefined) this.vms.assign(sid, vm);
    if (change !== "claim") return;
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
    if (e.pasid !== undefined) {
      const owner = this.pasidOwner(e.pasid, e.sid);
      if (owner !== undefined && !this.vms.serves(e.sid, owner))
        throw new RefusedError(`${what}: PASID ${e.pasid} belongs to VM "${owner}" and ${formatBdf(e.sid)} does not serve it (${this.vmsText(e.sid)})`);
      this.pasidDevices.set(e.pasid, (this.pasidDevices.get(e.pasid) ?? new Set()).add(e.sid));
    }
    if (e.pasid === undefined && !this.domains.isBlocking(e.domain)) this.checkJoin(e.sid, e.domain);
    if (g === undefined) {
      if (!this.domains.isBlocking(e.domain)) {
        this.arch.apply(e, now);
        this.blockedDevices.delete(e.sid);
        if (e.pasid === undefined) this.joined(e.sid, e.domain, e, now);
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
    if (g.domain === undefined) {
      this.setGroupDomain(e.sid, e.domain, e, now);
      this.msiMap(e.sid, e.domain, e, now);
    }
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
    if (pasid === undefined) this.checkJoin(sid, domain, what);
    const g = this.userGroup(sid);
    if (g === undefined) {
      this.arch.replace(sid, pasid, domain);
      this.blockedDevices.delete(sid);
      if (pasid === undefined) this.joined(sid, domain, at, now);
      return;
    }
    this.checkUser("replace", sid);
    if (pasid !== undefined) {
      if (this.arch.attachedDomain(sid, pasid) === undefined) throw new RefusedError(`${what}: PASID ${pasid} of ${formatBdf(sid)} is not attached; attach it first`);
      return this.arch.replace(sid, pasid, domain);
    }
    if (!g.attached.has(sid)) throw new RefusedError(`${what}: ${formatBdf(sid)} is not attached; attach it first (iommufd_device_replace)`);
    this.setGroupDomain(sid, domain);
    this.msiMap(sid, domain, at, now);
    g.domain = domain;
  }

  private detach(e: DetachEvent, now: bigint): void {
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

  /**
   * `attach group=N domain=D`, `replace group=N domain=D`, `detach group=N`: vfio's legacy container
   * path, which attaches a whole group (Linux drivers/iommu/iommu.c iommu_attach_group,
   * iommu_group_replace_domain, iommu_detach_group, each through __iommu_group_set_domain). The group
   * must be owned by user space (iommu_group_claim_dma_owner; a kernel-bound member makes that
   * impossible, a member with no driver does not); the checks of a device attach (reserved regions,
   * MSI doorbell pages, coherency) apply to every requester ID of it; then every requester ID moves
   * in group order, each with the unit's own entry update and invalidations, and a refusal of any
   * puts back what had changed (__iommu_group_set_domain reverts); the doorbell pages go into the
   * domain after (iommufd_group_setup_msi). Attach needs a group without a domain (the kernel's
   * -EBUSY), replace one with a domain; after an attach every vfio device of the group counts as
   * attached, so a device's `detach` leaves the group's domain to the others.
   */
  private groupEvent(e: GroupEvent, now: bigint): void {
    const grp = this.ownership.groupById(e.group);
    const first = grp.devices[0]!;
    const name = this.ownership.groupName(first);
    const what = `${e.op} group=${e.group}${e.op !== "detach" ? ` domain=${e.domain}` : ""}`;
    this.arch.advanceTo(now);
    const g = this.userGroup(first);
    if (g === undefined) {
      const kernel = grp.devices.find((d) => this.ownership.driverOf(d)?.startsWith("kernel:"));
      const why = kernel !== undefined ? `${formatBdf(kernel)} is bound to ${this.ownership.driverOf(kernel)}, not to vfio` : "none of its devices is bound to vfio";
      throw new RefusedError(`${what}: ${name} is not owned by user space: ${why} (a group is attached through vfio only once vfio owns it: iommu_group_claim_dma_owner)`);
    }
    const note = (domain: number) => {
      this.note = { group: e.group, devices: grp.devices.map(formatBdf), domain };
    };
    if (e.op === "detach" || this.domains.isBlocking(e.domain)) {
      if (e.op === "replace") throw new RefusedError(`${what}: domain ${e.domain} is a blocking domain: detach instead`);
      if (g.domain === undefined && e.op === "detach") throw new RefusedError(`${what}: ${name} is not attached to a domain`);
      const old = g.domain;
      this.blockGroup(first, g);
      return note(e.op === "detach" ? old! : e.domain);
    }
    if (e.op === "attach" && g.domain !== undefined) throw new RefusedError(`${what}: ${name} is attached to domain ${g.domain} already (iommu_attach_group: -EBUSY); replace it instead`);
    if (e.op === "replace" && g.domain === undefined) throw new RefusedError(`${what}: ${name} is not attached; attach it first (iommu_group_replace_domain)`);
    this.checkRegions(first, e.domain, what);
    for (const d of grp.devices) this.checkMsi(d, e.domain, what);
    this.checkCoherency(e.op, first, undefined, e.domain, e.group);
    try {
      this.setGroupDomain(first, e.domain);
    } catch (err) {
      if (err instanceof DriverError) throw new RefusedError(`${what}: ${err.message}`);
      throw err;
    }
    for (const d of grp.devices) this.msiMap(d, e.domain, e, now);
    g.domain = e.domain;
    if (e.op === "attach") g.attached = new Set(this.ownership.userDevices(first));
    note(e.domain);
  }

  // ---- cache coherency ----------------------------------------------------------------------------

  /** enforce_cache_coherency: a blocking or unknown domain is refused here, the rest by the unit's driver. */
  private enforce(domain: number): void {
    const what = `enforce-coherency ${domain}`;
    if (this.domains.isBlocking(domain)) throw new RefusedError(`${what}: domain ${domain} is a blocking domain: it has no page tables`);
    if (!this.arch.hasDomain(domain)) throw new RefusedError(`${what}: domain ${domain} does not exist`);
    const refused = this.arch.enforceCoherency(domain);
    if (refused !== undefined) throw new RefusedError(`${what}: ${refused}`);
  }

  /**
   * A domain that enforces coherency takes no device its IOMMU cannot keep coherent (Linux: VT-d
   * paging_domain_compatible, SMMUv3 arm_smmu_attach_prepare, both -EINVAL); in a user-owned group
   * every requester ID the group moves with is checked.
   */
  private checkCoherency(op: string, sid: number, pasid: number | undefined, domain: number, group?: number): void {
    if (this.domains.isBlocking(domain) || !this.arch.hasDomain(domain) || !this.arch.coherencyEnforced(domain)) return;
    const members = this.userGroup(sid) !== undefined && pasid === undefined ? this.ownership.requesterIds(sid) : [sid];
    for (const m of members) {
      const problem = this.arch.coherencyProblem(m);
      if (problem === undefined) continue;
      const who = m === sid || group !== undefined ? formatBdf(m) : `${formatBdf(m)} (of ${formatBdf(sid)}'s group)`;
      const named = group !== undefined ? `group=${group}` : `${formatBdf(sid)}${pasid !== undefined ? ` pasid=${pasid}` : ""}`;
      throw new RefusedError(`${op} ${named} domain=${domain}: domain ${domain} enforces cache coherency and ${who}: ${problem}`);
    }
  }

  /**
   * The VM a TLP belongs to in the wbinvd report (wbinvd.ts): with a PASID, the VM that allocated
   * it (a mediated device's DMA: its parent serves no VM of its own); else the VM the device is
   * assigned to (`vms[].devices`, `bind ... vm=`); else its user-owned group's name.
   */
  wbinvdOwner(sid: number, pasid?: number): string | undefined {
    const byPasid = pasid !== undefined ? this.pasidOwner(pasid, sid) : undefined;
    return byPasid ?? this.vmOf(sid) ?? (this.ownership.userOwned(sid) ? this.ownership.groupName(sid) : undefined);
  }

  // ---- VMs and their PASIDs (vms.ts, pasid.ts) ------------------------------------------------------

  private pasidOwner(pasid: number, sid: number): string | undefined {
    const per = this.vms.pasids.policy === "per-device";
    return pasid <= 0xfffff && (per || pasid < 2 ** this.vms.pasids.bits) ? this.vms.pasids.ownerOf(pasid, per ? sid : undefined) : undefined;
  }

  private vmsText(sid: number): string {
    const v = this.vms.vmsOf(sid);
    return v.length ? `it serves ${v.map((n) => `VM "${n}"`).join(", ")}` : "it serves no VM";
  }

  /** A per-device space's width, from the unit before the device's space is first used (SMMUv3: the stream's SubstreamID bits). */
  private learnBits(what: string, sid: number): void {
    if (this.deviceBits.has(sid) || !this.arch.pasidBits) return;
    const bits = this.arch.pasidBits(sid);
    if (bits < 1) throw new RefusedError(`${what}: the stream of ${formatBdf(sid)} has no substreams (SubstreamID bits 0, STE.S1CDMax 0)`);
    this.deviceBits.set(sid, Math.min(bits, this.vms.pasids.bits));
  }

  /** `pasid-alloc VM [DEV]`: per-device spaces need the device; a named device must serve the VM. */
  private pasidAlloc(vm: string, sid: number | undefined): void {
    const what = `pasid-alloc ${vm}${sid !== undefined ? ` ${formatBdf(sid)}` : ""}`;
    if (!this.vms.has(vm)) throw new RefusedError(`${what}: ${this.vms.unknown(vm)}`);
    const per = this.vms.pasids.policy === "per-device";
    if (per && sid === undefined) throw new RefusedError(`${what}: PASIDs are per device (pasidSpace.policy "per-device": SMMUv3 substreams): name the device whose SubstreamID to allocate`);
    if (sid !== undefined && !this.vms.serves(sid, vm)) throw new RefusedError(`${what}: ${formatBdf(sid)} does not serve VM "${vm}" (${this.vmsText(sid)})`);
    if (per) this.learnBits(what, sid!);
    const r = this.vms.pasids.allocate(vm, per ? sid : undefined);
    if (!r.ok) throw new RefusedError(`${what}: ${r.reason}`);
    this.note = { vm, pasid: r.pasid };
  }

  /**
   * `pasid-free VM PASID [DEV]`: where the PASID is still attached its entries are torn down by the
   * architecture's driver in its Linux driver's order (ArchDriver.tearDownPasid), device by device
   * in ascending BDF, as iommufd detaches a PASID whose allocation goes.
   */
  private pasidFree(vm: string, pasid: number, sid: number | undefined): void {
    const what = `pasid-free ${vm} ${pasid}${sid !== undefined ? ` ${formatBdf(sid)}` : ""}`;
    if (!this.vms.has(vm)) throw new RefusedError(`${what}: ${this.vms.unknown(vm)}`);
    const per = this.vms.pasids.policy === "per-device";
    if (per && sid === undefined) throw new RefusedError(`${what}: PASIDs are per device (pasidSpace.policy "per-device": SMMUv3 substreams): name the device whose SubstreamID to free`);
    if (per) this.learnBits(what, sid!);
    const devices = per ? [sid!] : [...(this.pasidDevices.get(pasid) ?? [])].sort((a, b) => a - b);
    const r = this.vms.pasids.free(vm, pasid, per ? { device: sid } : {});
    if (!r.ok) throw new RefusedError(`${what}: ${r.reason}`);
    let torndown = 0;
    for (const d of devices) if (this.arch.tearDownPasid?.(d, pasid)) torndown++;
    for (const d of devices) this.userPasids.get(d)?.delete(pasid);
    if (!per) this.pasidDevices.delete(pasid);
    else this.pasidDevices.get(pasid)?.delete(sid!);
    this.note = { vm, pasid, torndown };
  }

  /**
   * `mdev-remove DEV vm=NAME` (mdev_device_remove): one of NAME's mediated devices on DEV goes. PASIDs
   * are allocated to the VM, not to one of its mediated devices (pasid.ts), so the allocations stay;
   * but with NAME's last mediated device on DEV gone, DEV serves NAME no more, so NAME's PASIDs still
   * attached on DEV (attached through those mediated devices) are detached by the unit's driver, as
   * closing a mediated device's vfio device detaches what it attached. The result counts them.
   */
  private mdevRemove(sid: number, vm: string, at: { line: number; column: number }, now: bigint): void {
    const left = this.vms.removeMdev(sid, vm);
    let detached = 0;
    if (left === 0) {
      const pasids = [...this.pasidDevices].filter(([p, devs]) => devs.has(sid) && this.pasidOwner(p, sid) === vm).map(([p]) => p);
      for (const pasid of pasids.sort((a, b) => a - b)) {
        if (this.arch.attachedDomain(sid, pasid) !== undefined) {
          this.arch.apply({ op: "detach", sid, pasid, line: at.line, column: at.column }, now);
          detached++;
        }
        this.pasidDevices.get(pasid)!.delete(sid);
        this.userPasids.get(sid)?.delete(pasid);
      }
    }
    this.note = { vm, mdevs: left, detached };
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
  msiDomain(domain: number): number | undefined {
    return this.arch.msiDomain ? this.arch.msiDomain(domain) : domain;
  }
  isBlockedForm(r: Result): boolean {
    return this.arch.isBlockedForm(r);
  }
  enforceCoherency(domain: number): string | undefined {
    return this.arch.enforceCoherency(domain);
  }
  coherencyEnforced(domain: number): boolean {
    return this.arch.coherencyEnforced(domain);
  }
  coherencyProblem(sid: number): string | undefined {
    return this.arch.coherencyProblem(sid);
  }
  tearDownPasid(sid: number, pasid: number) {
    return this.arch.tearDownPasid?.(sid, pasid);
  }
}
