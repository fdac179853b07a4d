/**
 * The scenario's `topology` (issue 11; README "Scenario format"): a flat list of PCI functions and
 * ports with parent links, as one would copy it from `lspci -t`, validated as a whole and parsed
 * into PciNode[]. Every problem is a zod issue at the entry's key, so the scenario loader reports it
 * with the file, line and column (src/scenario.ts parseScenario).
 */
import { z } from "zod";
import { quote } from "../errors.ts";
import { formatBdf, parseBdf } from "../trace/events.ts";
import type { AcsControl, PciNode, PciNodeType } from "./types.ts";

export const pciNodeTypes = ["root-port", "upstream-port", "downstream-port", "endpoint", "pci-bridge", "pci-endpoint", "rc-integrated"] as const satisfies readonly PciNodeType[];
export const acsControls = ["SV", "RR", "CR", "UF", "TB"] as const satisfies readonly AcsControl[];

/**
 * The types each type may sit below (PCIe Base 6.0 §1.3: a switch's upstream port below a root or
 * downstream port, its downstream ports below it; conventional PCI only behind a PCIe-to-PCI
 * bridge). Root ports and root-complex integrated endpoints sit on a root bus and have no parent.
 */
const allowedParents: Readonly<Record<PciNodeType, readonly PciNodeType[]>> = {
  "root-port": [],
  "rc-integrated": [],
  "upstream-port": ["root-port", "downstream-port"],
  "downstream-port": ["upstream-port"],
  endpoint: ["root-port", "downstream-port"],
  "pci-bridge": ["root-port", "downstream-port"],
  "pci-endpoint": ["pci-bridge"],
};

const or = (words: readonly string[]): string => (words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`);
const quoted = (words: readonly string[]) => words.map((w) => JSON.stringify(w));
/** "a pci-bridge", "an endpoint", "an rc-integrated" (said "ar-cee"). */
const a = (type: string): string => `${/^([aeiou]|rc-)/.test(type) ? "an" : "a"} ${type}`;

/** The bus a function sits on: segment << 8 | bus (the BDF without device and function). */
export const busOf = (bdf: number): number => Math.floor(bdf / 256);
/** The bus as a message shows it: "03", or "0001:03" off segment 0. */
export const formatBus = (bus: number): string => formatBdf(bus * 256).replace(/:00\.0$/, "");
/** The device (slot) a function belongs to: every bit of the BDF but the function number. */
export const slotOf = (bdf: number): number => bdf - (bdf % 8);

/**
 * A BDF with an optional PCI segment: "03:00.1" or "0001:03:00.1" (hex; device 00-1f, function
 * 0-7), as lspci prints it, to segment << 16 | bus << 8 | device << 3 | function.
 */
export const topologyBdf = z.string().transform((v, ctx) => {
  const sid = parseBdf(v);
  if (sid === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a BDF like "03:00.1" or "0001:03:00.1" (hex bus:device.function, device 00-1f, function 0-7), got ${quote(v)}` });
    return z.NEVER;
  }
  return sid;
});

const entrySchema = z.strictObject({
  bdf: topologyBdf,
  type: z.enum(pciNodeTypes, { message: `expected one of ${or(quoted(pciNodeTypes))}` }),
  parent: topologyBdf.optional(),
  acs: z.array(z.enum(acsControls, { message: `expected an ACS control: ${or(quoted(acsControls))}` })).optional(),
});

type Entry = z.output<typeof entrySchema>;
type Issue = { path: (string | number)[]; message: string };

/**
 * The first problem of a list of well-formed entries, at its path inside the list, checked in this
 * order: a control listed twice; a BDF listed twice; a parent that is not an entry; a root port or
 * rc-integrated endpoint with a parent, or anything else without one; a cycle of parents; a type
 * below a parent type it cannot sit below; the buses (the entries below one port or bridge share its
 * secondary bus, which is no other's and no root bus, in its segment).
 */
export function topologyProblem(entries: readonly Entry[]): Issue | undefined {
  const index = new Map<number, number>();
  for (const [i, e] of entries.entries()) {
    const twice = e.acs?.findIndex((c, k) => e.acs!.indexOf(c) !== k) ?? -1;
    if (twice >= 0) return { path: [i, "acs", twice], message: `${JSON.stringify(e.acs![twice])} is listed twice` };
    const first = index.get(e.bdf);
    if (first !== undefined) return { path: [i, "bdf"], message: `${formatBdf(e.bdf)} is already topology[${first}] (each BDF once)` };
    index.set(e.bdf, i);
  }
  for (const [i, e] of entries.entries()) {
    const onRoot = allowedParents[e.type].length === 0;
    if (e.parent === undefined) {
      if (!onRoot) return { path: [i], message: `missing key "parent": ${a(e.type)} sits below ${or(allowedParents[e.type].map(a))} (only a root-port or rc-integrated sits on a root bus)` };
      continue;
    }
    if (onRoot) return { path: [i, "parent"], message: `${a(e.type)} has no parent: it sits on a root bus` };
    if (!index.has(e.parent)) return { path: [i, "parent"], message: `no entry has BDF ${formatBdf(e.parent)} (expected the BDF of a port or bridge of this topology)` };
  }
  for (const [i, e] of entries.entries()) {
    const chain = [e.bdf];
    for (let p = e.parent; p !== undefined; p = entries[index.get(p)!]!.parent) {
      if (p === e.bdf) return { path: [i, "parent"], message: `a cycle of parents: ${[...chain, p].map(formatBdf).join(" -> ")} (expected a chain that ends at a root port)` };
      if (chain.includes(p)) break; // a cycle above this entry: reported at an entry on it
      chain.push(p);
    }
  }
  for (const [i, e] of entries.entries()) {
    if (e.parent === undefined) continue;
    const parent = entries[index.get(e.parent)!]!;
    const allowed = allowedParents[e.type];
    if (!allowed.includes(parent.type))
      return { path: [i, "type"], message: `${a(e.type)} cannot sit below ${formatBdf(parent.bdf)}, ${a(parent.type)} (expected a parent of type ${or(quoted(allowed))})` };
  }
  // Buses: each parent's secondary bus, and the root buses.
  const secondary = new Map<number, number>(); // parent bdf -> its secondary bus
  const owner = new Map<number, number | undefined>(); // bus -> the parent whose secondary bus it is (undefined: a root bus)
  for (const e of entries) if (e.parent === undefined) owner.set(busOf(e.bdf), undefined);
  for (const [i, e] of entries.entries()) {
    if (e.parent === undefined) continue;
    const bus = busOf(e.bdf);
    const at = { path: [i, "bdf"] };
    if (Math.floor(e.bdf / 0x10000) !== Math.floor(e.parent / 0x10000))
      return { ...at, message: `${formatBdf(e.bdf)} is not in the PCI segment of its parent ${formatBdf(e.parent)} (expected segment ${Math.floor(e.parent / 0x10000).toString(16).padStart(4, "0")})` };
    const mine = secondary.get(e.parent);
    if (mine !== undefined && mine !== bus)
      return { ...at, message: `${formatBdf(e.bdf)} is on bus ${formatBus(bus)}, but the other entries below ${formatBdf(e.parent)} are on bus ${formatBus(mine)} (expected its one secondary bus)` };
    if (owner.has(bus) && owner.get(bus) !== e.parent) {
      const other = owner.get(bus);
      return { ...at, message: `bus ${formatBus(bus)} is ${other === undefined ? "a root bus" : `the secondary bus of ${formatBdf(other)}`} (expected a bus of its own below ${formatBdf(e.parent)})` };
    }
    secondary.set(e.parent, bus);
    owner.set(bus, e.parent);
  }
  return undefined;
}

/** The scenario key `topology`: its entries, checked as a whole (topologyProblem), as PciNode[] in the order given. */
export const topologySchema = z.array(entrySchema).transform((entries, ctx): PciNode[] => {
  const problem = topologyProblem(entries);
  if (problem) {
    ctx.addIssue({ code: "custom", ...problem });
    return z.NEVER;
  }
  return entries.map((e) => ({ bdf: e.bdf, type: e.type, ...(e.parent !== undefined ? { parent: e.parent } : {}), ...(e.acs ? { acs: e.acs } : {}) }));
});
