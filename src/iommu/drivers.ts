/**
 * The scenario key `drivers` (README "Driver side"): the drivers bound before the trace starts, in
 * order, each as a trace's `bind` would bind it (ownership.ts rules), so a vfio entry makes its group
 * user-owned (blocked) from the start:
 *   "drivers": [ { "bdf": "03:00.0", "driver": "kernel:e1000e" }, { "bdf": "00:02.0", "driver": "vfio" } ]
 */
import { z } from "zod";
import { quote } from "../errors.ts";
import { DRIVER_NAME } from "../trace/events.ts";
import { topologyBdf } from "./topology.ts";
import { Ownership, RefusedError } from "./ownership.ts";
import type { GroupRule, PciNode } from "./types.ts";

export const driversSchema = z.array(
  z.strictObject({
    bdf: topologyBdf,
    driver: z.string().superRefine((v, ctx) => {
      if (!DRIVER_NAME.test(v)) ctx.addIssue({ code: "custom", message: `expected "vfio" or "kernel:NAME" (NAME of letters, digits, _ - ., at most 17 characters), got ${quote(v)}` });
    }),
  }),
);

export type DriverBinding = z.output<typeof driversSchema>[number];

/** The first binding the ownership rules refuse (its index and why), over the scenario's topology. */
export function bindingsProblem(topology: readonly PciNode[] | undefined, bindings: readonly DriverBinding[], groupRule?: GroupRule): { index: number; message: string } | undefined {
  const o = new Ownership(topology ?? [], groupRule);
  for (const [index, b] of bindings.entries()) {
    if (b.bdf > 0xffff) return { index, message: `${quote(b.driver)} for a device of segment ${Math.floor(b.bdf / 0x10000)}: the unit serves segment 0` };
    try {
      o.bind(b.bdf, b.driver);
    } catch (e) {
      if (e instanceof RefusedError) return { index, message: e.message };
      throw e;
    }
  }
  return undefined;
}
