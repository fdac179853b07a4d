/**
 * Generator options: one table per workload (flag, kind, default, one-line doc) from which the
 * command line, `gen --help`, the canonical command written into the generated files and the
 * validation all come. Values arrive as the CLI gives them (strings, `true` for flags) or as
 * numbers from the library; every value is checked, with a message naming the option and what
 * was expected.
 */
import { InputError } from "../errors.ts";

export type OptionKind =
  | { kind: "int"; min: number; max: number }
  | { kind: "size"; min: bigint; max: bigint }
  | { kind: "fraction" }
  | { kind: "choice"; values: readonly string[] }
  | { kind: "flag" }
  | { kind: "bdf" }
  | { kind: "ns"; max: number };

export type OptionSpec = OptionKind & {
  /** The long flag without dashes, e.g. "tlp-size"; its value is under the camel-case key ("tlpSize"). */
  flag: string;
  /** Placeholder in the help, e.g. "bytes". */
  arg?: string;
  default: number | bigint | string | boolean;
  doc: string;
  /** Left out of the canonical command when it has its default (an option added after files were generated with that default). */
  quietDefault?: boolean;
};

export type OptionValue = number | bigint | string | boolean;
export type RawOptions = Record<string, string | number | bigint | boolean | undefined>;

export const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Sizes accept these suffixes (binary multiples; "KiB"/"KB"/"K" alike). */
const SUFFIX: Record<string, bigint> = { "": 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n };

/** "4096", "0x1000", "64K", "2M", "1G", "1T" (also "64KiB", "64KB"); undefined when it is none of them. */
export function parseSize(text: string): bigint | undefined {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return BigInt(t);
  const m = /^([0-9]+)\s*([kmgt]?)(?:i?b)?$/i.exec(t);
  if (!m) return undefined;
  return BigInt(m[1]!) * SUFFIX[m[2]!.toUpperCase()]!;
}

/** The shortest of "NT", "NG", "NM", "NK" or the plain byte count. */
export function formatSize(n: bigint): string {
  for (const s of ["T", "G", "M", "K"] as const) if (n >= SUFFIX[s]! && n % SUFFIX[s]! === 0n) return `${n / SUFFIX[s]!}${s}`;
  return String(n);
}

/** The error of an option: `gen WORKLOAD: --flag: message`. */
export function optionError(workload: string, flag: string, message: string): InputError {
  return new InputError(`gen ${workload}: --${flag}: ${message}`);
}

/** Parses "BB:DD.F" (hex) to a 16-bit source ID. */
function parseBdf(text: string): number | undefined {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(text);
  if (!m || parseInt(m[2]!, 16) > 0x1f) return undefined;
  return (parseInt(m[1]!, 16) << 8) | (parseInt(m[2]!, 16) << 3) | parseInt(m[3]!, 10);
}

/** Picoseconds of a time in ns given as a decimal with at most 3 fraction digits. */
function parseNs(text: string): number | undefined {
  const m = /^([0-9]{1,12})(?:\.([0-9]{1,3}))?$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * 1000 + Number((m[2] ?? "").padEnd(3, "0"));
}

/** The default of an option, in the form its value takes after parsing. */
function defaultOf(spec: OptionSpec): OptionValue {
  if (spec.kind === "bdf") return parseBdf(spec.default as string)!;
  if (spec.kind === "ns") return parseNs(String(spec.default))!;
  return spec.default;
}

/**
 * Parses and checks every option of `specs` from `raw` (missing: the default); an unknown key is
 * an error naming the options the workload has. Sizes become bigints, BDFs source IDs, `ns`
 * options picoseconds.
 */
export function parseOptions(workload: string, specs: readonly OptionSpec[], raw: RawOptions): Record<string, OptionValue> {
  const byKey = new Map(specs.map((s) => [camel(s.flag), s]));
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (!byKey.has(k)) {
      const flag = k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
      throw new InputError(`gen ${workload}: unknown option --${flag}; ${workload} takes ${specs.map((s) => "--" + s.flag).join(", ")}`);
    }
  }
  const out: Record<string, OptionValue> = {};
  for (const [key, spec] of byKey) {
    const v = raw[key];
    out[key] = v === undefined ? defaultOf(spec) : parseOne(workload, spec, v);
  }
  return out;
}

function parseOne(workload: string, spec: OptionSpec, v: string | number | bigint | boolean): OptionValue {
  const fail = (what: string): never => {
    throw optionError(workload, spec.flag, `${what}, got ${typeof v === "string" ? JSON.stringify(v) : String(v)}`);
  };
  switch (spec.kind) {
    case "flag":
      if (typeof v !== "boolean") fail("is a flag (no value)");
      return v;
    case "int": {
      const n = typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : /^(?:0x[0-9a-f]+|[0-9]+)$/i.test(v.toString().trim()) ? Number(v) : NaN;
      if (typeof v === "boolean" || !Number.isSafeInteger(n)) fail(`expected a whole number from ${spec.min} to ${spec.max}`);
      if (n < spec.min || n > spec.max) fail(`expected a whole number from ${spec.min} to ${spec.max}`);
      return n;
    }
    case "size": {
      const n = typeof v === "bigint" ? v : typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : typeof v === "string" ? parseSize(v) : undefined;
      const range = `from ${formatSize(spec.min)} to ${formatSize(spec.max)}`;
      if (n === undefined) return fail(`expected a size in bytes like 4096, 64K, 2M or 1G (${range})`);
      if (n < spec.min || n > spec.max) fail(`expected a size ${range}`);
      return n;
    }
    case "fraction": {
      const n = typeof v === "number" ? v : typeof v === "string" && /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/.test(v.trim()) ? Number(v) : NaN;
      if (!(n >= 0 && n <= 1)) fail("expected a fraction from 0 to 1, e.g. 0.25");
      return n;
    }
    case "choice":
      if (typeof v !== "string" || !spec.values.includes(v)) fail(`expected one of ${spec.values.join(", ")}`);
      return v as string;
    case "bdf": {
      const sid = typeof v === "string" ? parseBdf(v) : undefined;
      if (sid === undefined) fail("expected a BDF like 00:02.0 (bus:device.function in hex, device up to 1f)");
      return sid!;
    }
    case "ns": {
      const ps = typeof v === "number" ? (Number.isFinite(v) ? parseNs(String(v)) : undefined) : typeof v === "string" ? parseNs(v) : undefined;
      if (ps === undefined || ps > spec.max * 1000) fail(`expected a time in ns from 0 to ${spec.max}, with at most 3 decimals, e.g. 2.5`);
      return ps!;
    }
  }
}

/** How an option's value is written back on a command line (the canonical command). */
export function formatValue(spec: OptionSpec, v: OptionValue): string {
  switch (spec.kind) {
    case "size":
      return formatSize(v as bigint);
    case "bdf": {
      const sid = v as number;
      const hex = (n: number) => n.toString(16).padStart(2, "0");
      return `${hex(sid >> 8)}:${hex((sid >> 3) & 0x1f)}.${sid & 7}`;
    }
    case "ns": {
      const ps = v as number;
      const frac = String(ps % 1000).padStart(3, "0").replace(/0+$/, "");
      return `${Math.floor(ps / 1000)}${frac ? "." + frac : ""}`;
    }
    default:
      return String(v);
  }
}

/** The command line that gives these values (every option, flags only when set). */
export function canonicalCommand(workload: string, specs: readonly OptionSpec[], values: Record<string, OptionValue>): string {
  const parts = ["iommu-emu gen", workload];
  for (const spec of specs) {
    const v = values[camel(spec.flag)]!;
    if (spec.kind === "flag") {
      if (v) parts.push("--" + spec.flag);
    } else if (spec.quietDefault && v === defaultOf(spec)) continue;
    else parts.push(`--${spec.flag} ${formatValue(spec, v)}`);
  }
  return parts.join(" ");
}

/** The option's placeholder and help line, with its default and allowed values. */
export function helpOf(spec: OptionSpec): { flags: string; text: string } {
  const arg = spec.kind === "flag" ? "" : ` <${spec.arg ?? (spec.kind === "choice" ? spec.values.join("|") : spec.kind === "size" ? "size" : spec.kind === "fraction" ? "fraction" : spec.kind === "bdf" ? "bdf" : spec.kind === "ns" ? "ns" : "n")}>`;
  let range = "";
  if (spec.kind === "int") range = ` (${spec.min}..${spec.max})`;
  else if (spec.kind === "size") range = ` (${formatSize(spec.min)}..${formatSize(spec.max)})`;
  else if (spec.kind === "fraction") range = " (0..1)";
  const dflt = spec.kind === "flag" ? "" : `; default ${spec.kind === "size" ? formatSize(spec.default as bigint) : String(spec.default)}`;
  return { flags: `--${spec.flag}${arg}`, text: `${spec.doc}${range}${dflt}` };
}
