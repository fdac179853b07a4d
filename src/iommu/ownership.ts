/**
 * Drivers and DMA ownership (issue 11; README "Driver side"): which driver each device has bound
 * (`kernel:NAME`, `vfio`, or none) and whether its IOMMU group is owned by user space. The rules
 * are Linux's (drivers/iommu/iommu.c iommu_device_claim_dma_owner / iommu_device_use_default_domain,
 * as the /dev/ioasid thread describes them):
 * - a group is user-owned while any of its devices is bound to vfio;
 * - binding vfio is refused while another device of the group is bound to a kernel driver
 *   (the group is not viable: that driver DMAs through the default domain user space would share);
 * - binding a kernel driver is refused while the group is user-owned (where the early vfio hit a
 *   BUG_ON; since Linux 5.19 iommu_device_use_default_domain returns -EBUSY);
 * - a device has one driver at a time: bind after bind is refused, unbind of an unbound device too.
 * This module only decides; src/iommu/iommu.ts carries the decisions out on the unit.
 */
import { formatBdf } from "../trace/events.ts";
import { DriverError, EventInputError } from "../driver/driver.ts";
import { computeGroups, dmaAliases } from "./groups.ts";
import type { GroupRule, IommuGroup, PciNode } from "./types.ts";

/** A driver event the driver side refuses: a `refused` result line when refusals are results (README "Driver side"). */
export class RefusedError extends DriverError {
  override name = "RefusedError";
}

/** What a bind or unbind does to the device's group. */
export type OwnershipChange = "claim" | "release" | "none";

export class Ownership {
  private readonly groups: IommuGroup[];
  private readonly groupIndex = new Map<number, IommuGroup>();
  private readonly drivers = new Map<number, string>();

  /** Per group (its first device): the requester IDs its devices' requests reach the IOMMU with (theirs and their DMA aliases). */
  private readonly rids = new Map<number, number[]>();

  constructor(topology: readonly PciNode[] = [], groupRule?: GroupRule) {
    this.groups = computeGroups(topology, groupRule);
    const aliases = dmaAliases(topology);
    for (const g of this.groups) {
      const rids = new Set(g.devices);
      for (const d of g.devices) for (const a of aliases.get(d) ?? []) rids.add(a);
      this.rids.set(g.devices[0]!, [...rids].sort((a, b) => a - b));
      for (const r of rids) this.groupIndex.set(r, g);
    }
  }

  /**
   * Every requester ID of the device's group: its devices' and their DMA aliases (a conventional
   * device behind a PCIe-to-PCI bridge reaches the IOMMU as the bridge's secondary bus, devfn 0), so
   * that what the group gets, each of them gets (Linux programs every alias, pci_for_each_dma_alias).
   */
  requesterIds(sid: number): readonly number[] {
    const g = this.groupIndex.get(sid);
    return g === undefined ? [sid] : this.rids.get(g.devices[0]!)!;
  }

  /** The device's group (a DMA alias: the group of the devices it stands for); a device the topology does not list is alone in a group of its own (no id). */
  groupOf(sid: number): { id?: number; devices: readonly number[] } {
    return this.groupIndex.get(sid) ?? { devices: [sid] };
  }

  /** "group 0 (03:00.0, 03:00.1)", or "the group of 00:02.0 (not in the topology)". */
  groupName(sid: number): string {
    const g = this.groupOf(sid);
    return g.id === undefined ? `the group of ${formatBdf(sid)} (not in the topology)` : `group ${g.id} (${g.devices.map(formatBdf).join(", ")})`;
  }

  /**
   * Group `id` as `iommu-emu groups` numbers it; an EventInputError listing the topology's groups
   * when there is none (the trace names a group the scenario does not have: an input error, not a
   * refusal).
   */
  groupById(id: number): IommuGroup {
    const g = this.groups.find((x) => x.id === id);
    if (g !== undefined) return g;
    const list = this.groups.map((x) => `${x.id} (${x.devices.map(formatBdf).join(", ")})`).join(", ");
    throw new EventInputError(this.groups.length ? `there is no group ${id}; the topology's groups are ${list}` : `there is no group ${id}: the scenario has no topology, so no IOMMU groups`);
  }

  driverOf(sid: number): string | undefined {
    return this.drivers.get(sid);
  }

  /** The group is owned by user space: one of its devices is bound to vfio. */
  userOwned(sid: number): boolean {
    return this.groupOf(sid).devices.some((d) => this.drivers.get(d) === "vfio");
  }

  /** The group's devices bound to vfio. */
  userDevices(sid: number): number[] {
    return this.groupOf(sid).devices.filter((d) => this.drivers.get(d) === "vfio");
  }

  /** Binds `driver` (vfio or kernel:NAME); a RefusedError saying why not. "claim": the group becomes user-owned. */
  bind(sid: number, driver: string): OwnershipChange {
    const dev = formatBdf(sid);
    const had = this.drivers.get(sid);
    if (had !== undefined) throw new RefusedError(`bind ${dev} ${driver}: ${dev} is already bound to ${had}; unbind it first`);
    const members = this.groupOf(sid).devices;
    if (driver === "vfio") {
      const kernel = members.find((d) => d !== sid && this.drivers.get(d)?.startsWith("kernel:"));
      if (kernel !== undefined)
        throw new RefusedError(
          `bind ${dev} vfio: ${this.groupName(sid)} is not viable for user space: ${formatBdf(kernel)} is bound to ${this.drivers.get(kernel)} (iommu_device_claim_dma_owner: -EBUSY); unbind it first`,
        );
      const claim = !this.userOwned(sid);
      this.drivers.set(sid, driver);
      return claim ? "claim" : "none";
    }
    const user = members.find((d) => this.drivers.get(d) === "vfio");
    if (user !== undefined)
      throw new RefusedError(
        `bind ${dev} ${driver}: ${this.groupName(sid)} is owned by user space (${formatBdf(user)} is bound to vfio): a kernel driver cannot DMA in it (iommu_device_use_default_domain: -EBUSY; the BUG_ON of the /dev/ioasid thread)`,
      );
    this.drivers.set(sid, driver);
    return "none";
  }

  /** Unbinds the device's driver; "release": it was the group's last vfio device. */
  unbind(sid: number): OwnershipChange {
    const had = this.drivers.get(sid);
    if (had === undefined) throw new RefusedError(`unbind ${formatBdf(sid)}: no driver is bound to it`);
    this.drivers.delete(sid);
    return had === "vfio" && !this.userOwned(sid) ? "release" : "none";
  }
}
