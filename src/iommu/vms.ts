/**
 * VMs on the driver side (issue 11; README "VMs, PASID allocation and mediated devices"): which VM
 * owns each user-space device (`bind DEV vfio vm=NAME`, the scenario's `vms[].devices`), the
 * mediated devices a parent serves to VMs (`mdev DEV vm=NAME`), and the PASID allocator
 * (pasid.ts) whose allocation sets are the VMs. This module only decides and counts; IommuLayer
 * (iommu.ts) carries the decisions out on the unit.
 *
 * The one rule of groups: the devices of an IOMMU group share one domain on their requester IDs, so
 * DMA of any of them reaches what any of them maps (Linux iommu_group; the vfio-mdev-pci thread).
 * A group therefore serves one VM: assigning a device (whole, or a mediated device of it) to a VM
 * is refused while another member of its group is assigned to a different VM, whole or through a
 * mediated device; it is allowed when every assigned member goes to the same VM.
 */
import { formatBdf } from "../trace/events.ts";
import { PasidAllocator, type PasidSpaceOptions, type VmPasidCounts } from "./pasid.ts";
import { Ownership, RefusedError } from "./ownership.ts";
import type { GroupRule, PciNode } from "./types.ts";

export interface VmSpec {
  name: string;
  quota?: number;
  /** Devices assigned to the VM from the start (each is then bound to vfio for it). */
  devices?: readonly number[];
}

/** A VM's line of the reports (`vms` in --report): its PASID counts, then what it is given at the end of the run. */
export interface VmReport extends VmPasidCounts {
  /** Devices assigned to it whole, in BDF order. */
  readonly devices: string[];
  /** Its mediated devices per parent, in the parent's BDF order. */
  readonly mdevs: { parent: string; count: number }[];
}

export class Vms {
  readonly pasids: PasidAllocator;
  /** Device -> the VM it is assigned to whole. */
  private readonly whole = new Map<number, string>();
  /** Parent device -> the VMs of its mediated devices, with how many each has. */
  private readonly mdevs = new Map<number, Map<string, number>>();

  constructor(
    private readonly ownership: Ownership,
    vms: readonly VmSpec[] = [],
    space: Omit<PasidSpaceOptions, "vms"> = {},
  ) {
    this.pasids = new PasidAllocator({ ...space, vms: vms.map((v) => ({ name: v.name, ...(v.quota !== undefined ? { quota: v.quota } : {}) })) });
  }

  has(vm: string): boolean {
    return this.pasids.countsOf(vm) !== undefined;
  }

  /** The VM a device is assigned to whole (bind vfio vm=NAME); undefined otherwise. */
  vmOf(sid: number): string | undefined {
    return this.whole.get(sid);
  }

  /** Every VM the device serves: whole, or through its mediated devices (in creation order). */
  vmsOf(sid: number): string[] {
    const w = this.whole.get(sid);
    return w !== undefined ? [w] : [...(this.mdevs.get(sid)?.keys() ?? [])];
  }

  /** A RefusedError unless the VM exists and no other member of the device's group serves another VM. */
  private checkGroup(what: string, sid: number, vm: string): void {
    if (!this.has(vm)) throw new RefusedError(`${what}: ${this.unknown(vm)}`);
    for (const m of this.ownership.groupOf(sid).devices) {
      const other = this.vmsOf(m).find((v) => v !== vm);
      if (other === undefined) continue;
      const how = this.whole.has(m) ? `is assigned to VM "${other}"` : `serves VM "${other}" through a mediated device`;
      throw new RefusedError(
        `${what}: ${this.ownership.groupName(sid)} ${m === sid ? `has ${formatBdf(m)}, which` : `has ${formatBdf(m)}, which`} ${how}; the devices of a group share one domain, so the whole group goes to one VM`,
      );
    }
  }

  /** Before a vfio bind with vm=: a RefusedError when the VM does not exist or the group serves another VM. */
  checkAssign(sid: number, vm: string): void {
    this.checkGroup(`bind ${formatBdf(sid)} vfio vm=${vm}`, sid, vm);
  }

  /** After the bind succeeded. */
  assign(sid: number, vm: string): void {
    this.whole.set(sid, vm);
  }

  /**
   * `mdev DEV vm=NAME`: a mediated device of DEV for NAME. The parent must be bound to vfio without
   * a VM of its own (vfio-mdev-pci: the parent's driver in user space serves the mediated devices),
   * and its group must serve no other VM. Returns how many mediated devices the parent has for NAME.
   */
  createMdev(sid: number, vm: string): number {
    const what = `mdev ${formatBdf(sid)} vm=${vm}`;
    const driver = this.ownership.driverOf(sid);
    if (driver !== "vfio") throw new RefusedError(`${what}: the parent ${formatBdf(sid)} is ${driver === undefined ? "not bound" : `bound to ${driver}`}; bind it to vfio (without vm=) to serve mediated devices`);
    const w = this.whole.get(sid);
    if (w !== undefined) throw new RefusedError(`${what}: ${formatBdf(sid)} is assigned to VM "${w}" whole; it cannot also serve mediated devices`);
    this.checkGroup(what, sid, vm);
    const per = this.mdevs.get(sid) ?? new Map<string, number>();
    per.set(vm, (per.get(vm) ?? 0) + 1);
    this.mdevs.set(sid, per);
    return per.get(vm)!;
  }

  /**
   * `mdev-remove DEV vm=NAME`: one of NAME's mediated devices on DEV goes (Linux
   * drivers/vfio/mdev/mdev_core.c mdev_device_remove, the mdev's sysfs `remove`). Returns how many
   * NAME still has on DEV; at 0 DEV no longer serves NAME, so its group may go to another VM.
   */
  removeMdev(sid: number, vm: string): number {
    const what = `mdev-remove ${formatBdf(sid)} vm=${vm}`;
    if (!this.has(vm)) throw new RefusedError(`${what}: ${this.unknown(vm)}`);
    const per = this.mdevs.get(sid);
    const n = per?.get(vm) ?? 0;
    if (n === 0) {
      const has = [...(per ?? [])].map(([v, k]) => `${k} of VM "${v}"`);
      throw new RefusedError(`${what}: ${formatBdf(sid)} has no mediated device of VM "${vm}" (${has.length ? `it has ${has.join(", ")}` : "it has none"})`);
    }
    if (n > 1) per!.set(vm, n - 1);
    else per!.delete(vm);
    if (per!.size === 0) this.mdevs.delete(sid);
    return n - 1;
  }

  /** The device's driver unbound: it is no VM's any more, and its mediated devices go. */
  release(sid: number): void {
    this.whole.delete(sid);
    this.mdevs.delete(sid);
  }

  /** Whether `vm` may use a PASID on `sid`: the device serves it (whole or mediated). */
  serves(sid: number, vm: string): boolean {
    return this.vmsOf(sid).includes(vm);
  }

  counts(): VmPasidCounts[] {
    return this.pasids.counts();
  }

  /** Every VM's counts with its devices and mediated devices as they are now (the end of a run). */
  report(): VmReport[] {
    return this.counts().map((c) => ({
      ...c,
      devices: [...this.whole].filter(([, vm]) => vm === c.vm).map(([sid]) => sid).sort((a, b) => a - b).map(formatBdf),
      mdevs: [...this.mdevs]
        .filter(([, per]) => per.has(c.vm))
        .sort(([a], [b]) => a - b)
        .map(([sid, per]) => ({ parent: formatBdf(sid), count: per.get(c.vm)! })),
    }));
  }

  unknown(vm: string): string {
    const known = this.pasids.counts().map((c) => JSON.stringify(c.vm));
    return `no VM ${JSON.stringify(vm)} (${known.length ? `VMs: ${known.join(", ")}` : "the scenario's vms defines none"})`;
  }
}

/**
 * The first device of the scenario's `vms` that cannot be assigned (after `drivers`, by the
 * ownership rules and the one-VM-per-group rule): its path under `vms` and why; undefined when all can.
 */
export function vmsProblem(
  topology: readonly PciNode[] | undefined,
  drivers: readonly { bdf: number; driver: string }[],
  vms: readonly VmSpec[],
  groupRule?: GroupRule,
): { path: string; message: string } | undefined {
  const o = new Ownership(topology ?? [], groupRule);
  const v = new Vms(o, vms);
  for (const b of drivers) o.bind(b.bdf, b.driver); // checked already (drivers.ts bindingsProblem)
  for (const [i, vm] of vms.entries()) {
    for (const [j, sid] of (vm.devices ?? []).entries()) {
      try {
        if (sid > 0xffff) throw new RefusedError(`${formatBdf(sid)} is a device of segment ${Math.floor(sid / 0x10000)}: the unit serves segment 0`);
        v.checkAssign(sid, vm.name);
        o.bind(sid, "vfio");
        v.assign(sid, vm.name);
      } catch (e) {
        if (e instanceof RefusedError) return { path: `vms[${i}].devices[${j}]`, message: e.message };
        throw e;
      }
    }
  }
  return undefined;
}
