/**
 * Synthetic workloads (`iommu-emu gen <workload> [options] -o FILE`, README "Generators"): each
 * writes a scenario (FILE) and its trace beside it (FILE + ".trace", referenced from the scenario),
 * deterministically: the same workload, options and --seed give byte-identical files. Both files
 * go through src/io/output.ts (a temporary file renamed at the end): on any error neither appears.
 * The CLI (src/cli/gen.ts) plans here, opens the outputs, and writes in a worker thread
 * (`writeToDescriptors`, worker.mjs) so that Ctrl-C is handled while a long trace is written.
 */
import { basename } from "node:path";
import { InputError } from "../errors.ts";
import { scenarioSchema } from "../config/scenario-schema.ts";
import { OutputFile, abortAll, writeAll } from "../io/output.ts";
import { Prng } from "../util/prng.ts";
import { canonicalCommand, camel, helpOf, optionError, parseOptions, type OptionSpec, type RawOptions } from "./options.ts";
import { TraceOut, type TraceCounts } from "./trace-out.ts";
import type { Plan, Workload } from "./workload.ts";
import { randomWindow } from "./random-window.ts";
import { stream } from "./stream.ts";
import { nicRings } from "./nic-rings.ts";
import { tenants } from "./tenants.ts";
import { sva } from "./sva.ts";
import { archOption, smmuParts } from "./arch.ts";

export type { Workload } from "./workload.ts";
export type { OptionSpec, RawOptions } from "./options.ts";

export const workloads: readonly Workload[] = [randomWindow, stream, nicRings, tenants, sva];

/** Options every workload takes. */
export const commonOptions: readonly OptionSpec[] = [
  { flag: "tlps", arg: "n", kind: "int", min: 1, max: 100_000_000, default: 10_000, doc: "TLPs in the trace (MSIs included), exactly" },
  { flag: "seed", arg: "n", kind: "int", min: 0, max: 0xffff_ffff, default: 1, doc: "PRNG seed (mulberry32): the same seed and options give byte-identical files" },
  { flag: "gap", kind: "ns", max: 1_000_000, default: "0", doc: "ns between TLPs, written as trace times (TLP k at k x gap); 0: no times, every TLP arrives at cycle 0" },
  archOption,
];

export const workloadNames = () => workloads.map((w) => w.name);

export function findWorkload(name: string): Workload {
  const w = workloads.find((x) => x.name === name);
  if (!w) throw new InputError(`gen: unknown workload "${name}"; expected one of ${workloadNames().join(", ")}`);
  return w;
}

/** The trace beside the scenario: `w/nic.json` -> `w/nic.trace` (any other name gets `.trace` added). */
export const traceFileFor = (out: string) => (out.endsWith(".json") ? out.slice(0, -5) : out) + ".trace";

export interface GenResult extends TraceCounts {
  scenario: string;
  trace: string;
  /** The command line that reproduces the files (options in canonical form, without -o). */
  command: string;
}

/** A generation planned: options checked, scenario laid out; nothing written yet. */
export interface GenJob {
  name: string;
  out: string;
  traceFile: string;
  command: string;
  scenario: Record<string, unknown>;
  plan: Plan;
  tlps: number;
  gapPs: number;
}

/**
 * Plans workload `name` with options `raw` (CLI strings, or numbers and booleans; missing ones
 * take their defaults) into scenario file `out` and trace file `out` + ".trace". Option errors
 * are InputErrors naming the option.
 */
export function planGeneration(name: string, raw: RawOptions, out: string | undefined): GenJob {
  const w = findWorkload(name);
  if (out === undefined || out === "") throw new InputError(`gen ${name}: -o FILE is required (the scenario to write; the trace goes to FILE.trace)`);
  if (out === "-") throw new InputError(`gen ${name}: -o needs a file name: gen writes two files (the scenario, and its trace beside it), which standard output (-) cannot hold`);
  const specs = [...w.options, ...commonOptions];
  const o = parseOptions(name, specs, raw);
  const tlps = o.tlps as number, gapPs = o.gap as number;
  if (tlps * gapPs > Number.MAX_SAFE_INTEGER)
    throw optionError(name, "gap", `${tlps} TLPs ${o.gap as number / 1000} ns apart would need times beyond ${Math.floor(Number.MAX_SAFE_INTEGER / 1e3)} ns; use a smaller gap or fewer TLPs`);
  const command = canonicalCommand(name, specs, o);
  const plan = w.plan({
    o,
    prng: new Prng(o.seed as number),
    bad: (flag, message) => {
      throw optionError(name, flag, message);
    },
    command,
  });
  const traceFile = traceFileFor(out);
  const scenario = o.arch === "smmuv3" ? { arch: "smmuv3", ...smmuParts(plan.scenario), trace: basename(traceFile) } : { arch: "vtd", ...plan.scenario, trace: basename(traceFile) };
  const check = scenarioSchema.safeParse(scenario);
  if (!check.success) throw new Error(`gen ${name} built an invalid scenario: ${check.error.issues[0]?.message} at ${check.error.issues[0]?.path.join(".")}`);
  return { name, out, traceFile, command, scenario, plan, tlps, gapPs };
}

/** Writes a planned generation: the trace's text to `trace`, then the scenario's to `scenario`. */
export function writeGeneration(job: GenJob, trace: (text: string) => void, scenario: (text: string) => void): GenResult {
  const t = new TraceOut(trace, job.tlps, job.gapPs);
  t.comment(`iommu-emu trace text format v1 (README "Trace text format v1"), for the scenario ${basename(job.out)}\ngenerated by: ${job.command}\n${job.plan.about}`);
  job.plan.trace(t);
  if (t.tlps !== job.tlps) throw new Error(`gen ${job.name} wrote ${t.tlps} TLPs, not ${job.tlps}`);
  scenario(formatJson(job.scenario) + "\n");
  return { scenario: job.out, trace: job.traceFile, command: job.command, tlps: t.tlps, maps: t.maps, unmaps: t.unmaps };
}

/**
 * Generates workload `name` with options `raw` into scenario file `out` and trace file `out` +
 * ".trace" (planGeneration, writeGeneration). Option errors are InputErrors naming the option,
 * raised before any file is opened.
 */
export function generate(name: string, raw: RawOptions, out: string | undefined): GenResult {
  const job = planGeneration(name, raw, out);
  const files: OutputFile[] = [];
  try {
    const traceOut = OutputFile.openSync(job.traceFile);
    files.push(traceOut);
    const scenarioOut = OutputFile.openSync(job.out);
    files.push(scenarioOut);
    const r = writeGeneration(job, (s) => traceOut.write(s), (s) => scenarioOut.write(s));
    traceOut.commit();
    scenarioOut.commit();
    return r;
  } catch (e) {
    abortAll(files);
    throw e;
  }
}

/**
 * The worker thread's part of `iommu-emu gen` (worker.mjs): plans again (deterministic) and writes
 * the trace and the scenario to file descriptors the main thread opened, which commits them.
 */
export function writeToDescriptors(name: string, raw: RawOptions, out: string, traceFd: number, scenarioFd: number): GenResult {
  const job = planGeneration(name, raw, out);
  const buffered = (fd: number, what: string) => {
    let parts: string[] = [];
    let size = 0;
    const flush = () => {
      writeAll(fd, Buffer.from(parts.join(""), "utf8"), what);
      parts = [];
      size = 0;
    };
    return {
      write: (text: string) => {
        parts.push(text);
        size += text.length;
        if (size > 1 << 20) flush();
      },
      flush,
    };
  };
  const trace = buffered(traceFd, job.traceFile), scenario = buffered(scenarioFd, job.out);
  const r = writeGeneration(job, trace.write, scenario.write);
  trace.flush();
  scenario.flush();
  return r;
}

/**
 * JSON indented by two spaces, except that an object or array whose compact form fits in `width`
 * characters stays on one line (a mapping, a device): large generated scenarios stay readable.
 */
export function formatJson(value: unknown, indent = "", width = 160): string {
  const compact = JSON.stringify(value);
  if (value === null || typeof value !== "object" || compact.length + indent.length <= width) return compact;
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => inner + formatJson(v, inner, width)).join(",\n")}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner, width)}`).join(",\n")}\n${indent}}`;
}

/** The line `iommu-emu gen` prints. */
export function describeGen(r: GenResult): string {
  return `wrote ${r.scenario} and ${r.trace}: ${r.tlps} TLPs, ${r.maps} maps, ${r.unmaps} unmaps (${r.command})`;
}

/** Every workload with its options, for `gen --help` (and the same text as README "Generators"). */
export function workloadHelp(): string {
  const lines: string[] = [];
  const width = Math.max(...[...workloads.flatMap((w) => w.options), ...commonOptions].map((s) => helpOf(s).flags.length)) + 2;
  const row = (s: OptionSpec) => {
    const h = helpOf(s);
    return `    ${h.flags.padEnd(width)}${h.text}`;
  };
  lines.push("Workloads and their options:");
  for (const w of workloads) {
    lines.push("", `  ${w.name}: ${w.summary}`);
    for (const s of w.options) lines.push(row(s));
  }
  lines.push("", "  every workload also takes:");
  lines.push(`    ${"-o, --out <file>".padEnd(width)}the scenario to write (required); the trace goes beside it as <file>.trace`);
  for (const s of commonOptions) lines.push(row(s));
  return lines.join("\n");
}

export { camel, helpOf };
