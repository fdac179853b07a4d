/**
 * The driver side above the architectures (issue 11; README "Driver side"): the shapes the
 * topology and groups, DMA ownership and domains, PASID allocation and reserved regions modules
 * (src/iommu/*) share. This layer sits where Linux's drivers/iommu/iommu.c sits: above each
 * architecture's builder and driver (src/arch/NAME), never below them, and it never translates.
 */

/** A PCI function or port as the scenario's `topology` lists it (one entry of `lspci -t`). */
export type PciNodeType =
  | "root-port"
  | "upstream-port"
  | "downstream-port"
  | "endpoint"
  | "pci-bridge"
  | "pci-endpoint"
  | "rc-integrated";

/** ACS controls (PCIe Base 7.7.8.2): Source Validation, P2P Request Redirect, Completion Redirect, Upstream Forwarding, Translation Blocking. */
export type AcsControl = "SV" | "RR" | "CR" | "UF" | "TB";

export interface PciNode {
  /** segment << 16 | bus << 8 | device << 3 | function, as a TLP's requester (src/trace/events.ts formatBdf). */
  readonly bdf: number;
  readonly type: PciNodeType;
  /** The port or bridge it sits below; absent for root ports and root-complex integrated endpoints. */
  readonly parent?: number;
  /** The ACS controls enabled on it; undefined when it has no ACS capability. */
  readonly acs?: readonly AcsControl[];
}

/**
 * Which kernel's pci_device_group makes the groups (src/iommu/groups.ts; README "Groups"):
 * "linux-6.12" (the default), or "pcie-switch-groups-v3", Jason Gunthorpe's series "Fix incorrect
 * iommu_groups with PCIe ACS" as posted in its v3 (5 Sep 2025), which groups per bus by ACS egress.
 */
export type GroupRule = "linux-6.12" | "pcie-switch-groups-v3";

/** An IOMMU group (Linux struct iommu_group): the devices the IOMMU cannot tell apart or isolate. */
export interface IommuGroup {
  /** 0-based, groups ordered by their first device. */
  readonly id: number;
  /** Every member, ascending bdf. */
  readonly devices: readonly number[];
  /** Why these devices are together (or why the device is alone), for `iommu-emu groups`. */
  readonly why: string;
}
