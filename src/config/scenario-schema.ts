/**
 * The scenario schema (shared/DESIGN.md §3): a union discriminated on `arch`, one member per
 * modelled architecture (its module's `scenario.schema`: src/arch/NAME/scenario.ts), each strict
 * everywhere so unknown keys are errors with their path. The neutral pieces (64-bit values, the
 * common keys, `config`) are in schema.ts.
 */
import { z } from "zod";
import { architectures, isModelled, type ModelledArch } from "../arch/index.ts";
import { archTitles } from "../arch/types.ts";
import type { ArchName } from "../core/abi.ts";

const members = Object.values(architectures).map((m) => m.scenario.schema);
const modelled = Object.keys(architectures) as ModelledArch[];
const notYet = (Object.keys(archTitles) as ArchName[]).filter((a) => !isModelled(a)).map((a) => archTitles[a]);
/** What `arch` may be, for messages: `expected "vtd" (SMMUv3 is not modelled yet)`. */
export const ARCH_EXPECTED = `expected ${modelled.map((a) => JSON.stringify(a)).join(" or ")}${notYet.length ? ` (${notYet.join(", ")} ${notYet.length > 1 ? "are" : "is"} not modelled yet)` : ""}`;

export const scenarioSchema = z.discriminatedUnion("arch", members as [(typeof members)[number], ...(typeof members)[number][]], {
  error: (issue) => {
    if (issue.code !== "invalid_union") return undefined;
    const arch = (issue.input as { arch?: unknown } | undefined)?.arch;
    if (typeof arch === "string" && Object.hasOwn(archTitles, arch) && !isModelled(arch)) return `${archTitles[arch as ArchName]} is not modelled yet`;
    return ARCH_EXPECTED;
  },
});

export type Scenario = z.output<typeof scenarioSchema>;
