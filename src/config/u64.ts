/**
 * The scenario's 64-bit values, in a module of their own so that the scenario keys of any layer
 * (src/iommu/*) can use them without importing the whole schema (which imports those keys).
 */
import { z } from "zod";
import { quote } from "../errors.ts";

/**
 * A 64-bit value: a "0x…" hex string, or a non-negative safe integer as a plain JSON number
 * (decimal). A string of digits without 0x is refused, not read as decimal: "1000" written for
 * 0x1000 would otherwise be 4096 times off.
 */
export const u64 = z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === "number") {
    if (Number.isSafeInteger(v) && v >= 0) return BigInt(v);
    ctx.addIssue({ code: "custom", message: `expected a non-negative integer or a "0x…" string, got ${v}` });
    return z.NEVER;
  }
  if (/^0x[0-9a-fA-F]{1,16}$/.test(v)) return BigInt(v);
  ctx.addIssue({ code: "custom", message: `expected 0x-prefixed hex or a JSON number, got ${quote(v)}` });
  return z.NEVER;
});
