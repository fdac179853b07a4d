/**
 * IOMMU groups from the PCI topology (issue 11; README "Groups"), computed the way Linux 6.12's
 * pci_device_group (drivers/iommu/iommu.c) computes them, without device quirks (no
 * pci_dev_specific_acs_enabled, no dma_alias_mask, no PCI_DEV_FLAGS_BRIDGE_XLATE_ROOT).
 *
 * Sources: pci_device_group, get_pci_alias_or_group, get_pci_alias_group and
 * get_pci_function_alias_group (drivers/iommu/iommu.c) read at torvalds/linux commit
 * 00208852d351ca6e4a8b9ff0c5376fa3a8ed8eaa, and pci_for_each_dma_alias (drivers/pci/search.c) from
 * stored copies of that file whose commit the index does not name: the repository was too large to
 * fetch whole, so no v6.12 tag could be checked out, and these are taken as unchanged up to v6.12. pci_acs_enabled,
 * pci_acs_flags_enabled and pci_acs_path_enabled (drivers/pci/pci.c) are followed as the kernel
 * has them, not re-read here.
 *
 * Linux assigns groups one device at a time as the IOMMU probes them, in the order the PCI core
 * added them (pci_bus_add_devices: every device of a bus in devfn order, then each bridge's
 * secondary bus in turn), and a device joins the first existing group its search finds. This
 * module replays that: the result depends on the order exactly as the kernel's does.
 *
 * The other rule, "pcie-switch-groups-v3", is Jason Gunthorpe's series "Fix incorrect iommu_groups
 * with PCIe ACS" (v3, 5 Sep 2025, on v6.17-rc4; message 0-v3-8827cc7fc4e0+23f-pcie_switch_groups_jgg@nvidia.com),
 * patches 02 (pci_bus_isolated, drivers/pci/search.c), 03 (pci_device_group, pci_hierarchy_group)
 * and 05/06 (pci_reachable_set, pci_mfds_are_same_group), read from the linux-pci/kvm list
 * archives. Not modelled from it: the ACS Enhanced controls of patches 08-11 (a port without the
 * ACS Enhanced capability is unaffected by them), SR-IOV, pci_real_dma_dev, and a PCIe-to-PCI
 * bridge's own MMIO (taken as none: its bus is PCI_BUS_NON_ISOLATED). Its groups go by bus: ACS
 * is an egress control, so a bus is isolated only when nothing on it can send a request anywhere but
 * up; the first bus on the way down that is not isolated puts everything below it in one group.
 */
import { formatBdf } from "../trace/events.ts";
import type { AcsControl, GroupRule, IommuGroup, PciNode } from "./types.ts";
import { busOf, formatBus, slotOf } from "./topology.ts";

/** REQ_ACS_FLAGS (drivers/iommu/iommu.c): the controls that isolate a port or function. TB is not one of them. */
export const REQ_ACS_FLAGS: readonly AcsControl[] = ["SV", "RR", "CR", "UF"];

/** Why a device joined a group that an earlier device had. */
type Join =
  /** pci_for_each_dma_alias reached PCIe-to-PCI bridge `bridge`, which takes its subordinates' requests as `alias`. */
  | { kind: "alias"; bridge: number; alias: number }
  /** The walk up the buses reached a grouped port or bridge whose path to the root is not isolated by ACS at `lacking`. */
  | { kind: "acs"; lacking: number }
  /** get_pci_function_alias_group: a function of the same multifunction device without ACS, `other`, had the group. */
  | { kind: "function"; other: number }
  // pcie-switch-groups-v3: why a device is in a group whose bus is not isolated (the reason is also
  // recorded for the device that makes such a group).
  /** pci_hierarchy_group: the port or bridge above, `bridge`, is in a group everything below shares. */
  | { kind: "below"; bridge: number }
  /** PCIE_NON_ISOLATED: root port `port` has an ACS capability without the required controls. */
  | { kind: "root-port"; port: number }
  /** PCIE_SWITCH_DSP_NON_ISOLATED: downstream port `dsp` of the switch below upstream port `usp` lacks the required controls. */
  | { kind: "switch"; usp: number; dsp: number }
  /** PCI_BUS_NON_ISOLATED: the conventional PCI bus below PCIe-to-PCI bridge `bridge`. */
  | { kind: "pci-bus"; bridge: number }
  /** pci_mfds_are_same_group: function `culprit` of the multifunction device has an ACS capability without the required controls. */
  | { kind: "mfd"; culprit: number };

/** What one device's search decides: the group it joins (none: a new one), why, and whether that group is one everything below shares. */
type Found = { group?: number; join?: Join; nonIsolated?: boolean };

/** pci_bus_isolated (pcie-switch-groups-v3) without quirks, with the device that spoils the bus. */
type BusIsolation =
  | { kind: "isolated" }
  | { kind: "root-port"; port: PciNode }
  | { kind: "switch"; usp: PciNode; dsp: PciNode }
  | { kind: "pci-bus"; bridge: PciNode };

/** The topology as pci_device_group sees it: buses, their bridges (bus->self) and secondary buses. */
class Buses {
  readonly byBdf = new Map<number, PciNode>();
  /** bus -> the port or bridge whose secondary bus it is (bus->self); a root bus has none. */
  readonly self = new Map<number, PciNode>();
  /** port or bridge bdf -> its secondary bus (dev->subordinate), when something sits below it. */
  readonly secondary = new Map<number, number>();
  /** bus -> its devices in devfn order (bus->devices). */
  readonly devices = new Map<number, PciNode[]>();

  constructor(nodes: readonly PciNode[]) {
    for (const n of [...nodes].sort((a, b) => a.bdf - b.bdf)) {
      this.byBdf.set(n.bdf, n);
      const bus = busOf(n.bdf);
      this.devices.set(bus, [...(this.devices.get(bus) ?? []), n]);
    }
    for (const n of nodes) {
      if (n.parent === undefined) continue;
      const parent = this.byBdf.get(n.parent);
      if (!parent) throw new RangeError(`${formatBdf(n.bdf)}: parent ${formatBdf(n.parent)} is not in the topology`);
      this.self.set(busOf(n.bdf), parent);
      this.secondary.set(parent.bdf, busOf(n.bdf));
    }
  }

  isRoot(bus: number): boolean {
    return !this.self.has(bus);
  }

  /** The bus above `bus` (bus->parent): the one its bridge sits on. */
  parentBus(bus: number): number {
    return busOf(this.self.get(bus)!.bdf);
  }

  /** pdev->multifunction: another function of the same device is in the topology. */
  multifunction(n: PciNode): boolean {
    return (this.devices.get(busOf(n.bdf)) ?? []).some((o) => o !== n && slotOf(o.bdf) === slotOf(n.bdf));
  }

  /** The order the PCI core adds devices, and the IOMMU probes them (pci_bus_add_devices, root buses in order). */
  probeOrder(): PciNode[] {
    const order: PciNode[] = [];
    const add = (bus: number) => {
      const devs = this.devices.get(bus) ?? [];
      order.push(...devs);
      for (const d of devs) {
        const child = this.secondary.get(d.bdf);
        if (child !== undefined) add(child);
      }
    };
    for (const bus of [...this.devices.keys()].sort((a, b) => a - b)) if (this.isRoot(bus)) add(bus);
    return order;
  }

  /**
   * pci_acs_enabled(pdev, REQ_ACS_FLAGS) without quirks: conventional PCI devices and PCIe-to-PCI
   * bridges never (ACS is not applicable to them); root and downstream ports only with every
   * required control enabled; endpoints, upstream ports and root-complex integrated endpoints need
   * them only when part of a multifunction device, else they count as isolated. ACS controls the
   * scenario does not list are taken as implemented and disabled (pci_acs_flags_enabled masks the
   * required flags with the capability register; the scenario models a capability with all five).
   */
  acsEnabled(n: PciNode): boolean {
    switch (n.type) {
      case "pci-endpoint":
      case "pci-bridge":
        return false;
      case "root-port":
      case "downstream-port":
        return missingAcs(n).length === 0;
      case "endpoint":
      case "upstream-port":
      case "rc-integrated":
        return !this.multifunction(n) || missingAcs(n).length === 0;
    }
  }

  /**
   * An ACS capability that does not isolate (`acs` listed, a required control missing): in
   * pcie-switch-groups-v3 only such a root port or function is taken to loop requests back, one
   * without the capability is not (series v3 patch 06, after PCIe 6.12.1.2).
   */
  acsCapNotIsolating(n: PciNode): boolean {
    return n.acs !== undefined && !this.acsEnabled(n);
  }

  /**
   * pci_bus_isolated(bus) of pcie-switch-groups-v3: a root bus is isolated (the kernel trusts the
   * root complex); the link below a root port is not when the port has an ACS capability without
   * the required controls; the link below a downstream port is; a switch's internal bus (below its
   * upstream port) is not when any downstream port on it lacks them (the first, in devfn order); the
   * conventional bus below a PCIe-to-PCI bridge never is (PCI has no ACS).
   */
  busIsolation(bus: number): BusIsolation {
    const self = this.self.get(bus);
    if (self === undefined) return { kind: "isolated" };
    switch (self.type) {
      case "root-port":
        return this.acsCapNotIsolating(self) ? { kind: "root-port", port: self } : { kind: "isolated" };
      case "upstream-port": {
        const dsp = this.devices.get(bus)!.find((d) => !this.acsEnabled(d)); // topology.ts allows only downstream ports here
        return dsp ? { kind: "switch", usp: self, dsp } : { kind: "isolated" };
      }
      case "pci-bridge":
        return { kind: "pci-bus", bridge: self };
      default:
        return { kind: "isolated" }; // a downstream port
    }
  }

  /**
   * The first device on the path from `start` to its root bus whose ACS does not isolate it, or
   * undefined when pci_acs_path_enabled(start, NULL, REQ_ACS_FLAGS) holds (every one does).
   */
  firstUnisolated(start: PciNode): PciNode | undefined {
    for (let pdev = start; ; ) {
      if (!this.acsEnabled(pdev)) return pdev;
      const bus = busOf(pdev.bdf);
      if (this.isRoot(bus)) return undefined;
      pdev = this.self.get(bus)!;
    }
  }
}

/** The required controls `n` does not enable. */
function missingAcs(n: PciNode): AcsControl[] {
  return REQ_ACS_FLAGS.filter((c) => !n.acs?.includes(c));
}

/** The groups of the devices probed so far, and which of them everything below shares (BUS_DATA_PCI_NON_ISOLATED). */
type Probed = { groupOf: ReadonlyMap<number, number>; nonIsolated: ReadonlySet<number> };

/** One device's search for a group (pci_device_group), given the groups of the devices probed before it. */
const rules: Readonly<Record<GroupRule, (t: Buses, dev: PciNode, probed: Probed) => Found>> = {
  "linux-6.12": (t, dev, { groupOf }) => deviceGroup612(t, dev, groupOf) ?? {},
  "pcie-switch-groups-v3": deviceGroupV3,
};

/** Linux 6.12's pci_device_group. */
function deviceGroup612(t: Buses, dev: PciNode, groupOf: ReadonlyMap<number, number>): { group: number; join: Join } | undefined {
  // pci_for_each_dma_alias(dev, get_pci_alias_or_group): the device's own requester ID, then each
  // bridge above it that takes the requests over. Root, upstream and downstream ports pass a
  // requester ID through; a PCIe-to-PCI bridge (PCI_EXP_TYPE_PCI_BRIDGE) forwards its subordinates'
  // requests as its secondary bus number with devfn 0 (PCIe-to-PCI/PCI-X Bridge spec 2.3). The last
  // device it is called for is where the ACS walk starts.
  let pdev = dev;
  for (let bus = busOf(dev.bdf); !t.isRoot(bus); bus = t.parentBus(bus)) {
    const tmp = t.self.get(bus)!;
    if (tmp.type !== "pci-bridge") continue;
    pdev = tmp;
    const group = groupOf.get(tmp.bdf);
    if (group !== undefined) return { group, join: { kind: "alias", bridge: tmp.bdf, alias: t.secondary.get(tmp.bdf)! * 256 } };
  }
  // Up the buses to the first bridge whose path to the root is isolated by ACS; each bridge passed
  // on the way shares the group (pci_acs_path_enabled on bus->self). pcie-switch-groups-v3 has no
  // such walk: it decides by each bus's isolation on the way down (deviceGroupV3).
  for (let bus = busOf(pdev.bdf); !t.isRoot(bus); bus = t.parentBus(bus)) {
    const self = t.self.get(bus)!;
    const lacking = t.firstUnisolated(self);
    if (lacking === undefined) break;
    pdev = self;
    const group = groupOf.get(self.bdf);
    if (group !== undefined) return { group, join: { kind: "acs", lacking: lacking.bdf } };
  }
  // get_pci_alias_group(pdev): its own group, or the group of a device it is a DMA alias of.
  // pdev has no group yet (the device is the one being probed, and a grouped bridge would have been
  // returned above), and aliases between devices of one bus come only from quirks (dma_alias_mask,
  // pci_devs_are_dma_aliases): without quirks it finds nothing, and only marks pdev's devfn tested
  // (`tested` is the kernel's devfns bitmap, by devfn alone).
  const tested = new Set<number>([pdev.bdf % 256]);
  const aliasGroup = (n: PciNode): number | undefined => {
    if (tested.has(n.bdf % 256)) return undefined;
    tested.add(n.bdf % 256);
    return groupOf.get(n.bdf);
  };
  // get_pci_function_alias_group(pdev): a multifunction device's function without ACS shares the
  // group of its other functions without ACS.
  if (t.multifunction(pdev) && !t.acsEnabled(pdev)) {
    for (const tmp of t.devices.get(busOf(pdev.bdf))!) {
      if (tmp === pdev || slotOf(tmp.bdf) !== slotOf(pdev.bdf) || t.acsEnabled(tmp)) continue;
      const group = aliasGroup(tmp);
      if (group !== undefined) return { group, join: { kind: "function", other: tmp.bdf } };
    }
  }
  return undefined; // iommu_group_alloc()
}

/**
 * pcie-switch-groups-v3's pci_device_group: the group of the bridge above when everything below it
 * shares it (pci_hierarchy_group; the bridge was probed first), else by the isolation of the
 * device's bus. Isolated: the functions of its device it can reach or be reached from
 * (pci_get_function_group), else a group of its own. A root port's link that is not isolated: the
 * root port's group, from now on shared by everything below. A switch's internal bus or a
 * conventional PCI bus that is not isolated: one group of the devices on that bus (without the
 * bridge that makes the bus), shared by everything below them.
 */
function deviceGroupV3(t: Buses, dev: PciNode, { groupOf, nonIsolated }: Probed): Found {
  const bus = busOf(dev.bdf);
  const self = t.self.get(bus);
  if (self !== undefined) {
    const group = groupOf.get(self.bdf)!;
    if (nonIsolated.has(group)) return { group, join: { kind: "below", bridge: self.bdf } };
  }
  const iso = t.busIsolation(bus);
  switch (iso.kind) {
    case "isolated": {
      // pci_reachable_set over pci_mfds_are_same_group (no DMA-alias quirks): two functions of one
      // multifunction device reach each other when either has an ACS capability that does not
      // isolate, so one such function puts every function of the device in the set.
      const culprit = t.multifunction(dev) ? t.devices.get(bus)!.find((o) => slotOf(o.bdf) === slotOf(dev.bdf) && t.acsCapNotIsolating(o)) : undefined;
      if (culprit === undefined) return {};
      const join: Join = { kind: "mfd", culprit: culprit.bdf };
      const grouped = t.devices.get(bus)!.find((o) => o !== dev && slotOf(o.bdf) === slotOf(dev.bdf) && groupOf.has(o.bdf));
      return { group: grouped && groupOf.get(grouped.bdf), join, nonIsolated: true };
    }
    case "root-port":
      return { group: groupOf.get(iso.port.bdf)!, join: { kind: "root-port", port: iso.port.bdf }, nonIsolated: true };
    case "switch":
    case "pci-bus": {
      const join: Join = iso.kind === "switch" ? { kind: "switch", usp: iso.usp.bdf, dsp: iso.dsp.bdf } : { kind: "pci-bus", bridge: iso.bridge.bdf };
      const grouped = t.devices.get(bus)!.find((o) => groupOf.has(o.bdf));
      return { group: grouped && groupOf.get(grouped.bdf), join, nonIsolated: true };
    }
  }
}

/** "A", "A and B", "A, B and C" */
function and(words: readonly string[]): string {
  return words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`;
}

/** The devices in BDF order, as `and` words them. */
const list = (bdfs: Iterable<number>): string => and([...new Set(bdfs)].sort((a, b) => a - b).map(formatBdf));

/** One sentence: why the group's devices are together (the reasons its members joined, in the order they joined). */
function why(t: Buses, members: readonly number[], joins: readonly { dev: number; join: Join }[]): string {
  if (members.length === 1) return `${formatBdf(members[0]!)} is alone: no other device shares its requester ID or reaches it without ACS isolation`;
  const clauses = new Map<string, () => string>();
  const byKey = new Map<string, Set<number>>();
  for (const { dev, join } of joins) {
    const key =
      join.kind === "alias" ? `alias ${join.bridge}` : join.kind === "acs" ? `acs ${join.lacking}` : join.kind === "function" || join.kind === "mfd" ? `${join.kind} ${slotOf(dev)}` : `${join.kind} ${busOf(dev)}`;
    const devs = byKey.get(key) ?? new Set<number>();
    byKey.set(key, devs.add(dev));
    if (join.kind === "function") devs.add(join.other);
    if (clauses.has(key)) continue;
    if (join.kind === "alias")
      clauses.set(key, () => `${list(devs)} ${devs.size > 1 ? "share" : "uses"} requester ID ${formatBdf(join.alias)} behind PCIe-to-PCI bridge ${formatBdf(join.bridge)}`);
    else if (join.kind === "function") clauses.set(key, () => `${list(devs)}: functions of one multifunction device without ACS`);
    else if (join.kind !== "acs") {
      const clause = whyV3(t, members, join);
      if (clause !== undefined) clauses.set(key, () => clause);
    } else {
      const missing = missingAcs(t.byBdf.get(join.lacking)!);
      const lacks = missing.length === REQ_ACS_FLAGS.length ? "has no ACS" : `lacks ACS ${and(missing)}`;
      clauses.set(key, () => `${formatBdf(join.lacking)} ${lacks}: everything below it is one group`);
    }
  }
  return [...clauses.values()].map((c) => c()).join("; ");
}

/**
 * The clause of a pcie-switch-groups-v3 reason, naming the group's devices it covers; none for
 * `below` (the clause of the reason that made the group shared by everything below covers them).
 */
function whyV3(t: Buses, members: readonly number[], join: Exclude<Join, { kind: "alias" | "acs" | "function" }>): string | undefined {
  const lacks = (bdf: number) => `lacks ACS ${and(missingAcs(t.byBdf.get(bdf)!))}`;
  const onBus = (bdf: number) => members.filter((m) => busOf(m) === busOf(bdf));
  /** "A, B and everything below them" */
  const andBelow = (bdfs: readonly number[]) => and([...bdfs.map(formatBdf), `everything below ${bdfs.length > 1 ? "them" : "it"}`]);
  switch (join.kind) {
    case "below":
      return undefined;
    case "root-port":
      return `root port ${formatBdf(join.port)} ${lacks(join.port)}: its ACS does not keep what comes up its link from going back down it, so it and everything below it are one group`;
    case "switch":
      return `downstream port ${formatBdf(join.dsp)} ${lacks(join.dsp)}: what enters switch ${formatBdf(join.usp)} through it can go back down any of the switch's downstream ports (ACS only controls where a port sends), so ${andBelow(onBus(join.dsp))} are one group`;
    case "pci-bus": {
      const bus = t.secondary.get(join.bridge)!;
      return `${list(members.filter((m) => busOf(m) === bus))}: conventional PCI bus ${formatBus(bus)} behind PCIe-to-PCI bridge ${formatBdf(join.bridge)} cannot isolate its devices, so they are one group, without the bridge (its requester ID is not their ${formatBdf(bus * 256)})`;
    }
    case "mfd": {
      const functions = members.filter((m) => slotOf(m) === slotOf(join.culprit));
      const text = functions.some((f) => t.secondary.has(f)) ? andBelow(functions) : list(functions);
      return `function ${formatBdf(join.culprit)} ${lacks(join.culprit)}: it can reach the other functions of its multifunction device, so ${text} are one group`;
    }
  }
}

/**
 * Each device's DMA aliases other than its own requester ID (pci_for_each_dma_alias, as
 * deviceGroup walks it): for every PCIe-to-PCI bridge above it, the bridge's secondary bus number
 * with device and function 0, the requester ID the bridge forwards its subordinates' requests as.
 * Devices with none are left out.
 */
export function dmaAliases(nodes: readonly PciNode[]): Map<number, number[]> {
  const t = new Buses(nodes);
  const out = new Map<number, number[]>();
  for (const n of nodes) {
    const aliases: number[] = [];
    for (let bus = busOf(n.bdf); !t.isRoot(bus); bus = t.parentBus(bus)) {
      const bridge = t.self.get(bus)!;
      if (bridge.type === "pci-bridge") aliases.push(t.secondary.get(bridge.bdf)! * 256);
    }
    if (aliases.length) out.set(n.bdf, aliases);
  }
  return out;
}

/** The group rules, the default first (the scenario key `groupRule`, `groups --rule`). */
export const groupRules = ["linux-6.12", "pcie-switch-groups-v3"] as const satisfies readonly GroupRule[];

/**
 * The IOMMU groups of a topology (a valid one: src/iommu/topology.ts) by `rule`: every device, port
 * and bridge in exactly one group; groups ordered by their first device and numbered from 0, devices ascending.
 */
export function computeGroups(nodes: readonly PciNode[], rule: GroupRule = "linux-6.12"): IommuGroup[] {
  const t = new Buses(nodes);
  const groupOf = new Map<number, number>();
  const nonIsolated = new Set<number>();
  const members: number[][] = [];
  const joins: { dev: number; join: Join }[][] = [];
  for (const dev of t.probeOrder()) {
    const found = rules[rule](t, dev, { groupOf, nonIsolated });
    const group = found.group ?? members.push([]) - 1;
    if (found.join) (joins[group] ??= []).push({ dev: dev.bdf, join: found.join });
    if (found.nonIsolated) nonIsolated.add(group);
    members[group]!.push(dev.bdf);
    groupOf.set(dev.bdf, group);
  }
  return members
    .map((m, g) => ({ devices: [...m].sort((a, b) => a - b), why: why(t, m, joins[g] ?? []) }))
    .sort((a, b) => a.devices[0]! - b.devices[0]!)
    .map((g, id) => ({ id, ...g }));
}
