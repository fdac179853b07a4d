/**
 * The shape of a workload generator and the options several of them share. A workload first
 * checks its options and lays out its scenario (domains, mappings, devices: the builder's keys of
 * README "Scenario format"), then writes its trace through a TraceOut.
 */
import type { Prng } from "../util/prng.ts";
import { PAGE_BYTES, type PageSizeName } from "../trace/text.ts";
import type { OptionSpec, OptionValue } from "./options.ts";
import type { TraceOut } from "./trace-out.ts";
import { formatSize } from "./options.ts";

/** The scenario keys a workload fills, in VT-d's builder keys (arch and trace are added by the caller; src/gen/arch.ts turns them into SMMUv3's). */
export interface ScenarioParts {
  description: string;
  build: {
    mode: "scalable";
    domains: Record<string, unknown>[];
    devices: Record<string, unknown>[];
  };
  config?: Record<string, unknown>;
}

export interface Plan {
  scenario: ScenarioParts;
  /** Writes the trace: exactly `out.limit` TLPs (and the driver events around them). */
  trace(out: TraceOut): void;
  /** Lines of `#` comments for the top of the trace (what it holds, address layout). */
  about: string;
}

export interface GenContext {
  /** Parsed option values by camel-case key (workload options and the common ones). */
  o: Record<string, OptionValue>;
  prng: Prng;
  /** The option error of `--flag`, with `message` saying what is wrong and what would do. */
  bad(flag: string, message: string): never;
  /** The canonical command line that reproduces this output. */
  command: string;
}

export interface Workload {
  name: string;
  /** One line for `gen --help`. */
  summary: string;
  options: readonly OptionSpec[];
  plan(ctx: GenContext): Plan;
}

/**
 * Most pages a generated scenario maps (about a second of table building at 4 KiB pages); one
 * mapping of that many 4 KiB pages needs about 2053 table pages, within the default tablePages
 * budget (README "Budgets").
 */
export const MAX_MAPPED_PAGES = 1n << 20n;

export const hex = (v: bigint | number) => "0x" + v.toString(16);

export const pageBytes = (name: string) => PAGE_BYTES[name as PageSizeName];

export const pageOption = (doc = "page size of the mappings"): OptionSpec => ({ flag: "page", kind: "choice", values: ["4K", "2M", "1G"], default: "4K", doc });

export const tlpSizeOption = (dflt: number, doc = "bytes per TLP (a power of two, so no TLP crosses a 4 KiB boundary)"): OptionSpec => ({
  flag: "tlp-size",
  arg: "bytes",
  kind: "int",
  min: 1,
  max: 4096,
  default: dflt,
  doc,
});

export const readsOption = (dflt = 0.5): OptionSpec => ({ flag: "reads", kind: "fraction", default: dflt, doc: "fraction of TLPs that are reads (MRd); the rest are writes (MWr)" });

export const nsOption = (doc = "fraction of TLPs with the No-Snoop attribute"): OptionSpec => ({ flag: "ns", kind: "fraction", default: 0, doc });

export const domainOption = (doc = "domain type: second stage (ss) or first stage (fs)"): OptionSpec => ({ flag: "domain", kind: "choice", values: ["ss", "fs"], default: "ss", doc });

export const levelsOption = (): OptionSpec => ({ flag: "levels", kind: "int", min: 4, max: 5, default: 4, doc: "paging levels of the domains" });

export const bdfOption = (dflt: string): OptionSpec => ({ flag: "bdf", kind: "bdf", default: dflt, doc: "the device (bus:device.function, hex)" });

/** The fewest bits (at least 1) that hold every number up to `n`: a PASID directory just large enough. */
export function bitsFor(n: number): number {
  let b = 1;
  while (2 ** b <= n) b++;
  return b;
}

export const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** Checks --tlp-size is a power of two. */
export function checkTlpSize(ctx: GenContext): number {
  const n = ctx.o.tlpSize as number;
  if (!isPow2(n)) ctx.bad("tlp-size", `expected a power of two from 1 to 4096 (a TLP must not cross a 4 KiB boundary), got ${n}`);
  return n;
}

/** Checks --window against --page (a whole number of pages, at most MAX_MAPPED_PAGES of them); returns both. */
export function checkWindow(ctx: GenContext): { window: bigint; page: bigint } {
  const { o } = ctx;
  const window = o.window as bigint;
  const page = pageBytes(o.page as string);
  if (window % page !== 0n) ctx.bad("window", `${formatSize(window)} is not a multiple of the ${o.page} page size`);
  if (window / page > MAX_MAPPED_PAGES)
    ctx.bad("window", `${formatSize(window)} is ${window / page} pages of ${o.page}; at most ${MAX_MAPPED_PAGES} pages are mapped (use a larger --page or a smaller window)`);
  return { window, page };
}

/** A uniform integer in [0, n) for n up to 2^52 (Prng.int draws only 32 bits). */
export function uniform(prng: Prng, n: bigint): bigint {
  return n <= 1n << 32n ? BigInt(prng.int(Number(n))) : prng.u64() % n;
}

/** The PRNG's next draw below `p`: a Bernoulli trial (always drawn, so the sequence does not depend on p). */
export const chance = (prng: Prng, p: number) => prng.float() < p;
