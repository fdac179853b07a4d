/**
 * The architecture a generated scenario is for (`gen ... --arch vtd|smmuv3`, README "Generators").
 * A workload lays its scenario out in VT-d's builder keys (domains `ss`/`fs` with `levels`,
 * devices with `pasid`/`pasidBits`); for `--arch smmuv3` this module turns that layout into the
 * SMMUv3 builder's keys (README "SMMUv3 scenarios"): a second-stage domain becomes a stage-2 domain
 * (an S2 STE), a first-stage one a stage-1 domain (a CD), a PASID a SubstreamID (`ssid`, its CD
 * table `ssidBits` large). The trace is the same for both: `pasid=N` is the SubstreamID on SMMUv3.
 * This is the one place the generators branch on the architecture.
 */
import type { OptionSpec } from "./options.ts";
import type { GenContext, ScenarioParts } from "./workload.ts";

export type GenArch = "vtd" | "smmuv3";

/** `--arch`: written into the canonical command only when it is not the default (vtd output stays as it was). */
export const archOption: OptionSpec = {
  flag: "arch",
  kind: "choice",
  values: ["vtd", "smmuv3"],
  default: "vtd",
  quietDefault: true,
  doc: "the scenario's architecture: vtd (Intel VT-d, scalable mode) or smmuv3 (Arm SMMUv3: ss is stage 2, fs stage 1, PASIDs SubstreamIDs)",
};

export const archOf = (ctx: GenContext): GenArch => (ctx.o.arch as GenArch | undefined) ?? "vtd";

/** What a TLP to a never-mapped address faults with, for descriptions. */
export const notMappedFault = (arch: GenArch) => (arch === "smmuv3" ? "F_TRANSLATION" : "SFS.2");

/** Domain words for descriptions: "second-stage" (VT-d) or "stage-2" (SMMUv3). */
export const stageWord = (arch: GenArch, type: unknown) => (arch === "smmuv3" ? (type === "fs" ? "stage-1" : "stage-2") : type === "fs" ? "first-stage" : "second-stage");

/**
 * Checks the option an SMMUv3 scenario cannot take: more than 4 levels (this model's stage-1 VAs
 * and stage-2 IPAs have at most 48 bits: 4 levels with the 4K granule). Driver events (`map`,
 * `unmap`) replay on SMMUv3 through its driver (src/arch/smmuv3/driver.ts, README "SMMUv3 driver
 * events"), so nic-rings and sva --remap-every take --arch smmuv3.
 */
export function checkArch(ctx: GenContext): void {
  if (archOf(ctx) !== "smmuv3") return;
  if (ctx.o.levels !== undefined && ctx.o.levels !== 4)
    ctx.bad("levels", `--arch smmuv3 takes 4 levels only (48-bit input addresses with the 4K granule), got ${String(ctx.o.levels)}; 5 levels need --arch vtd`);
}

/** The SMMUv3 builder's name for a generator's domain type. */
const SMMU_DOMAIN: Record<string, string> = { ss: "s2", fs: "s1" };

/** `parts` (VT-d builder keys) in the SMMUv3 builder's keys; the description and config stay. */
export function smmuParts(parts: ScenarioParts): Record<string, unknown> {
  const domains = parts.build.domains.map((d) => {
    const type = SMMU_DOMAIN[d.type as string];
    if (!type) throw new Error(`gen: no SMMUv3 domain for a ${String(d.type)} domain`);
    const mappings = (d.mappings as Record<string, unknown>[] | undefined)?.map(({ user: _user, ...m }) => m);
    return { id: d.id, type, ...(mappings ? { mappings } : {}) };
  });
  const devices = parts.build.devices.map((d) => ({
    bdf: d.bdf,
    ...(d.pasid !== undefined ? { ssid: d.pasid } : {}),
    domain: d.domain,
    ...(d.pasidBits !== undefined ? { ssidBits: d.pasidBits } : {}),
  }));
  return { description: parts.description, build: { domains, devices }, ...(parts.config ? { config: parts.config } : {}) };
}
