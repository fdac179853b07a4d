/**
 * VT-d's reserved regions (issue 11 "Reserved regions"; src/iommu/reserved-regions.ts is the
 * architecture-neutral part): every device has the x86 interrupt window, untranslated.
 */
import type { MsiWindow, PlatformRegions } from "../../iommu/reserved-regions.ts";

/** The x86 interrupt window (VT-d spec 3.14; Linux IOAPIC_RANGE_START/END in intel_iommu_get_resv_regions): MSI type. */
export const X86_MSI_WINDOW = { base: 0xfee0_0000n, length: 0x10_0000n } as const;

/** Every device's regions, as intel_iommu_get_resv_regions gives them (its RMRRs are the scenario's). */
export function vtdReservedRegions(options: { swMsi?: MsiWindow } = {}): PlatformRegions {
  if (options.swMsi) throw new RangeError("swMsi is the SMMUv3 platform's software MSI window; VT-d has the fixed interrupt window");
  return {
    regions: [{ type: "MSI", ...X86_MSI_WINDOW }],
    refused: { SW_MSI: "VT-d has no software MSI window: its interrupt window 0xfee00000-0xfeefffff is fixed (type MSI, every device has it)" },
  };
}
