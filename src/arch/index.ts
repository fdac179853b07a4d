/**
 * The architecture modules the host knows, by name: the one place that lists them. The platform
 * factory (src/platform.ts), the scenario loader and the trace codecs' command table look an
 * architecture up here; adding one is one more entry (README "Adding an architecture").
 */
import type { ArchName } from "../core/abi.ts";
import { archTitles, type AnyArchitectureModule } from "./types.ts";
import { vtd } from "./vtd/module.ts";
import { smmuv3 } from "./smmuv3/module.ts";

export const architectures = { vtd, smmuv3 } as const satisfies { readonly [K in ArchName]?: AnyArchitectureModule };

/** The architectures the host models. */
export type ModelledArch = keyof typeof architectures;
export type ArchModuleOf<N extends ModelledArch> = (typeof architectures)[N];

/** Whether the host models `name`. */
export function isModelled(name: string): name is ModelledArch {
  return Object.hasOwn(architectures, name);
}

/** The module of `name`; a RangeError naming it when it is not modelled yet. */
export function architecture<N extends ModelledArch>(name: N): ArchModuleOf<N>;
export function architecture(name: ArchName): AnyArchitectureModule;
export function architecture(name: ArchName): AnyArchitectureModule {
  if (!isModelled(name)) throw new RangeError(`${archTitles[name] ?? String(name)} is not modelled yet`);
  return architectures[name];
}
