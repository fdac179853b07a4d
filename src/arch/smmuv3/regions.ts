/**
 * SMMUv3's reserved regions (issue 11 "Reserved regions"; src/iommu/reserved-regions.ts is the
 * architecture-neutral part): every device has the software MSI window, where the driver maps the
 * MSI doorbells (config.smmu.swMsi, config.smmu.msiDoorbells).
 */
import { z } from "zod";
import { u64 } from "../../config/u64.ts";
import { checkRegion, type MsiWindow, type PlatformRegions } from "../../iommu/reserved-regions.ts";

const PAGE = 0x1000n;
const hex = (v: bigint) => `0x${v.toString(16)}`;

/** Linux arm-smmu-v3's software MSI window: MSI_IOVA_BASE, MSI_IOVA_LENGTH (arm_smmu_get_resv_regions). */
export const ARM_SW_MSI_WINDOW = { base: 0x800_0000n, length: 0x10_0000n } as const;

/** Every device's regions, as arm_smmu_get_resv_regions gives them: the SW_MSI window (default ARM_SW_MSI_WINDOW). */
export function smmuReservedRegions(options: { swMsi?: MsiWindow } = {}): PlatformRegions {
  const window = options.swMsi ?? ARM_SW_MSI_WINDOW;
  checkRegion({ type: "SW_MSI", ...window }, "swMsi");
  return { regions: [{ type: "SW_MSI", base: window.base, length: window.length }] };
}

/** `config.smmu.swMsi`: the software MSI window of every device (default 0x800_0000 + 1 MiB), whole 4 KiB pages. */
export const swMsiSchema = z.strictObject({ base: u64, length: u64 }).superRefine((w, ctx) => {
  if (w.base % PAGE) ctx.addIssue({ code: "custom", path: ["base"], message: `expected a base aligned to 4 KiB (0x1000), got ${hex(w.base)}` });
  else if (w.length === 0n || w.length % PAGE) ctx.addIssue({ code: "custom", path: ["length"], message: `expected a length of whole 4 KiB pages (a multiple of 0x1000, at least 0x1000), got ${hex(w.length)}` });
  else if (w.base + w.length > 1n << 64n) ctx.addIssue({ code: "custom", path: ["length"], message: `the window ${hex(w.base)}+${hex(w.length)} ends beyond 2^64` });
});

/** At most this many doorbells (abi DOORBELL_MAX). */
export const MAX_DOORBELLS = 8;

/**
 * `config.smmu.msiDoorbells`: the MSI doorbells behind the SMMU (a GICv3 ITS's GITS_TRANSLATER), each
 * an address; the driver side maps each one's 4 KiB page into the SW_MSI window (src/iommu/regions.ts msiMappings).
 */
export const msiDoorbellsSchema = z.array(u64).max(MAX_DOORBELLS, { message: `expected at most ${MAX_DOORBELLS} MSI doorbells` });
