/**
 * Budgets (README "Budgets"): one catalogue of the limits on work whose cost grows with the input.
 * Every operation of that kind estimates its cost before it starts and stops with a message that
 * names the input, the estimate and how to raise the budget, instead of running for minutes or
 * exhausting memory. Each limit is settable in the scenario (`config.limits.NAME`) and on the
 * command line (`--limit NAME=N` for run and sweep; the command line wins).
 */
import { InputError } from "../errors.ts";
import type { CacheName } from "../core/abi.ts";
import type { CacheConfig } from "./caches.ts";

export interface LimitSpec {
  default: number;
  /** What the number counts (plural), as messages name it: "the budget of 16384 table pages". */
  unit: string;
  doc: string;
}

export const limitCatalogue = {
  tablePages: {
    default: 16384,
    unit: "table pages",
    doc: "Page-table pages one map may write (a `build` mapping or a trace `map`), leaf tables included, estimated from the range, the page size and the format before anything is written (16 GiB with 4 KiB pages takes 8209; the default is 64 MiB of tables).",
  },
  cacheEntries: {
    default: 2097152,
    unit: "cache entries",
    doc: "Cache entries in all: the entries of every enabled IOMMU cache plus `deviceTlb.entries` for each device attached with ATS (each has its own device-TLB).",
  },
  devices: {
    default: 4096,
    unit: "devices",
    doc: "Devices (BDFs) the driver side writes a context entry for: `build.devices` and trace `attach` events (each has its own context entry and PASID directory).",
  },
  pasids: {
    default: 4096,
    unit: "PASIDs per device",
    doc: "PASID-table entries attached per device (`build.devices` entries and trace `attach` events with a PASID, and the RID_PASID entry).",
  },
  traceLines: {
    default: 1048576,
    unit: "inline trace lines",
    doc: "Lines of an inline trace (the scenario's `trace` array), parsed and held in memory at once; a trace file streams and is not limited.",
  },
} as const satisfies Record<string, LimitSpec>;

export type LimitName = keyof typeof limitCatalogue;
export type Limits = Record<LimitName, number>;

export const limitNames = Object.keys(limitCatalogue) as LimitName[];

export const defaultLimits: Limits = Object.fromEntries(limitNames.map((n) => [n, limitCatalogue[n].default])) as Limits;

/** The largest value a limit may be set to (counts are compared as doubles). */
export const MAX_LIMIT = Number.MAX_SAFE_INTEGER;

/** The catalogue defaults, then each part in order (later parts win). */
export function resolveLimits(...parts: (Partial<Limits> | undefined)[]): Limits {
  const out = { ...defaultLimits };
  for (const p of parts) for (const n of limitNames) if (p?.[n] !== undefined) out[n] = p[n]!;
  return out;
}

/**
 * `--limit NAME=N` (repeatable): the values given, by name. Throws InputError naming the option
 * and what was expected.
 */
export function parseLimitOptions(texts: readonly string[]): Partial<Limits> {
  const out: Partial<Limits> = {};
  for (const text of texts) {
    const m = /^([A-Za-z]+)=([0-9]+)$/.exec(text.trim());
    if (!m) throw new InputError(`--limit: expected NAME=N with N a positive integer, got "${text}"`);
    const name = m[1]! as LimitName;
    if (!(limitNames as string[]).includes(name)) throw new InputError(`--limit: unknown budget "${m[1]}"; expected one of ${limitNames.join(", ")}`);
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n) || n < 1) throw new InputError(`--limit ${name}: expected a positive integer up to ${MAX_LIMIT}, got ${m[2]}`);
    out[name] = n;
  }
  return out;
}

/** How to raise a budget, as every budget message ends. */
export function raiseHint(name: LimitName): string {
  return `raise it with config.limits.${name} or --limit ${name}=N`;
}

/** "<what>, over the budget of N <unit>; raise it with ...". */
export function overBudget(name: LimitName, limits: Limits, what: string): string {
  return `${what}, over the budget of ${limits[name]} ${limitCatalogue[name].unit}; ${raiseHint(name)}`;
}

/** Thrown by work that would exceed a budget (before it starts). */
export class BudgetError extends RangeError {
  override name = "BudgetError";
}

const BINARY_UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"] as const;

/**
 * A byte count for messages: "16 TiB", "4 KiB", "1.5 GiB" (one decimal where it is not whole,
 * so "about" sizes stay short), "100 bytes".
 */
export function bytesText(n: bigint): string {
  let unit = 0;
  while (unit < BINARY_UNITS.length - 1 && n >= 1n << BigInt(10 * (unit + 1))) unit++;
  if (unit === 0) return `${n} bytes`;
  const scale = 1n << BigInt(10 * unit);
  if (n % scale === 0n) return `${n / scale} ${BINARY_UNITS[unit]}`;
  const tenths = (n * 10n + scale / 2n) / scale;
  return tenths % 10n === 0n ? `${tenths / 10n} ${BINARY_UNITS[unit]}` : `${tenths / 10n}.${tenths % 10n} ${BINARY_UNITS[unit]}`;
}

/** Entries the caches hold: every enabled cache, the device-TLB once per ATS device. */
export function cacheEntries(caches: Record<CacheName, CacheConfig>, atsDevices: number): { total: number; parts: string[] } {
  let total = 0;
  const parts: string[] = [];
  for (const [name, c] of Object.entries(caches) as [CacheName, CacheConfig][]) {
    if (!c.enable || c.entries === 0) continue;
    if (name === "deviceTlb") {
      if (atsDevices === 0) continue;
      total += c.entries * atsDevices;
      parts.push(`deviceTlb ${c.entries} x ${atsDevices} device${atsDevices === 1 ? "" : "s"}`);
    } else {
      total += c.entries;
      parts.push(`${name} ${c.entries}`);
    }
  }
  return { total, parts };
}

/** The budget message of caches over `limits.cacheEntries`, or undefined when they fit. */
export function cacheBudgetProblem(caches: Record<CacheName, CacheConfig>, atsDevices: number, limits: Limits, prefix = ""): string | undefined {
  const { total, parts } = cacheEntries(caches, atsDevices);
  if (total <= limits.cacheEntries) return undefined;
  return overBudget("cacheEntries", limits, `${prefix}the caches hold ${total} entries (${parts.join(", ")})`);
}
