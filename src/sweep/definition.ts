/**
 * The sweep definition (`sweep.json`, README "Sweeps"): scenarios x traces x parameter values, a
 * cartesian product enumerated in a fixed order (scenarios outermost, then traces, then the
 * parameters in the order written, the last one fastest). Validated strictly, with errors at the
 * file, line and column of the offending key or value; each point's scenario is validated with the
 * scenario schema before anything runs.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { z } from "zod";
import { InputError } from "../errors.ts";
import { parseJsonLocated, pathString, type Located } from "../config/json-locate.ts";
import { parseScenario } from "../scenario.ts";
import { metricNames, type MetricName } from "./metrics.ts";
import { applyParam, parseParamPath, pathsOverlap, type ParamPath } from "./params.ts";

/** More points than this is almost certainly a mistake in the definition. */
export const MAX_POINTS = 1_000_000;

const nonEmpty = z.string().min(1, { message: "expected a non-empty path" });

export const sweepSchema = z.strictObject({
  description: z.string().optional(),
  scenarios: z.array(nonEmpty).min(1, { message: "expected at least one scenario file" }),
  traces: z.array(nonEmpty).min(1, { message: "expected at least one trace file (or leave out \"traces\")" }).optional(),
  parameters: z.record(z.string(), z.array(z.unknown()).min(1, { message: "expected at least one value" })).optional(),
  metrics: z.array(z.enum(metricNames)).min(1, { message: "expected at least one metric" }).optional(),
  chart: z
    .strictObject({
      x: z.string().optional(),
      y: z.array(z.enum(metricNames)).min(1, { message: "expected at least one metric" }).optional(),
    })
    .optional(),
});

export interface SweepParameter {
  path: ParamPath;
  values: unknown[];
}

export interface SweepScenario {
  /** As written in sweep.json (relative to its folder). */
  name: string;
  file: string;
  text: string;
  json: Record<string, unknown>;
}

export interface SweepTrace {
  name: string;
  file: string;
}

export interface SweepDefinition {
  /** The sweep file as given. */
  file: string;
  /** Its folder: scenarios and traces are relative to it. */
  dir: string;
  scenarios: SweepScenario[];
  traces?: SweepTrace[];
  parameters: SweepParameter[];
  metrics: MetricName[];
  chart: { x?: string; y?: MetricName[] };
  /** Points in the whole sweep. */
  total: number;
  /** sha256 of the definition and the contents of every scenario and trace file it uses. */
  hash: string;
  /** Every scenario and trace file it uses (outputs must not replace them: src/io/preflight.ts). */
  inputFiles: string[];
  located: Located;
}

/** A point: its place in the product. */
export interface PointRef {
  index: number;
  id: string;
  scenario: number;
  /** Index into `traces`, when the sweep has them. */
  trace?: number;
  /** One value index per parameter. */
  values: number[];
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A path as a user reads it: `parameters["config.iotlb.entries"][2]`. */
export function displayPath(path: readonly PropertyKey[]): string {
  let s = "";
  for (const k of path) {
    if (typeof k === "number") s += `[${k}]`;
    else if (IDENT.test(String(k))) s += s === "" ? String(k) : `.${String(k)}`;
    else s += `[${JSON.stringify(String(k))}]`;
  }
  return s || "(top level)";
}

function readText(file: string, what: string, blame?: () => InputError): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    if (blame) {
      const b = blame();
      throw new InputError(`${b.message}: cannot read the ${what} ${file} (${code})`);
    }
    throw new InputError(`cannot read the ${what} (${code})`, file);
  }
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/** Reads, validates and expands nothing yet: the definition with every file it names checked. */
export function loadSweep(file: string): SweepDefinition {
  const text = readText(file, "sweep file");
  const located = parseJsonLocated(text, file);
  const where = (path: readonly PropertyKey[], key = false) => {
    const p = pathString(path);
    return (key ? located.at.get(`${p}#key`) : undefined) ?? located.at.get(p);
  };
  const fail = (path: readonly PropertyKey[], message: string, key = false): never => {
    const at = where(path, key);
    throw new InputError(`${displayPath(path)}: ${message}`, file, at?.line, at?.column);
  };

  const r = sweepSchema.safeParse(located.value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    if (issue.code === "unrecognized_keys") {
      const key = issue.keys[0]!;
      fail([...issue.path, key], `unknown key "${key}" (expected ${expectedKeys(issue.path)})`, true);
    }
    fail(issue.path, issue.message);
  }
  const raw = r.data!;
  const dir = dirname(file);

  // Lists: no duplicates.
  const unique = (list: readonly unknown[], path: string) => {
    const seen = new Map<string, number>();
    list.forEach((v, i) => {
      const k = JSON.stringify(v);
      const j = seen.get(k);
      if (j !== undefined) fail([path, i], `duplicate of ${displayPath([path, j])} (${k})`);
      seen.set(k, i);
    });
  };
  unique(raw.scenarios, "scenarios");
  if (raw.traces) unique(raw.traces, "traces");
  if (raw.metrics) unique(raw.metrics, "metrics");
  if (raw.chart?.y) unique(raw.chart.y, "chart.y");

  // Parameters: paths parse, values distinct, no two paths setting the same place.
  const parameters: SweepParameter[] = [];
  for (const [key, values] of Object.entries(raw.parameters ?? {})) {
    let path: ParamPath;
    try {
      path = parseParamPath(key);
    } catch (e) {
      return fail(["parameters", key], (e as Error).message, true);
    }
    const seen = new Map<string, number>();
    values.forEach((v, i) => {
      const k = JSON.stringify(v);
      const j = seen.get(k);
      if (j !== undefined) fail(["parameters", key, i], `duplicate value ${k} (also at [${j}])`);
      seen.set(k, i);
    });
    for (const other of parameters)
      if (pathsOverlap(other.path, path)) fail(["parameters", key], `overlaps parameter "${other.path.text}" (one would overwrite the other)`, true);
    if (raw.traces && path.steps.length === 1 && "key" in path.steps[0]! && path.steps[0].key === "trace")
      fail(["parameters", key], `"traces" already sets each point's trace; leave out one of the two`, true);
    parameters.push({ path, values });
  }

  const metrics = raw.metrics ?? [...metricNames];
  const chart: SweepDefinition["chart"] = {};
  if (raw.chart?.x !== undefined) {
    if (!parameters.some((p) => p.path.text === raw.chart!.x)) {
      const names = parameters.map((p) => `"${p.path.text}"`).join(", ");
      fail(["chart", "x"], parameters.length ? `expected one of the parameters (${names}), got "${raw.chart.x}"` : `the sweep has no parameters to put on the x axis`);
    }
    chart.x = raw.chart.x;
  }
  if (raw.chart?.y) {
    raw.chart.y.forEach((m, i) => {
      if (!metrics.includes(m)) fail(["chart", "y", i], `"${m}" is not among "metrics"`);
    });
    chart.y = raw.chart.y;
  }

  let total = raw.scenarios.length * (raw.traces?.length ?? 1);
  for (const p of parameters) total *= p.values.length;
  if (total > MAX_POINTS) fail(["parameters"], `the sweep has ${total} points; at most ${MAX_POINTS} are allowed`);

  // Files: every scenario valid on its own, every trace readable; their contents go into the hash.
  const inputs: [string, string][] = [];
  const inputFiles: string[] = [];
  const scenarios = raw.scenarios.map((name, i): SweepScenario => {
    const sfile = join(dir, name);
    const stext = readText(sfile, "scenario", () => new InputError(`${displayPath(["scenarios", i])}`, file, where(["scenarios", i])?.line, where(["scenarios", i])?.column));
    parseScenario(stext, sfile);
    inputFiles.push(sfile);
    inputs.push([`scenario:${name}`, sha256(stext)]);
    return { name, file: sfile, text: stext, json: JSON.parse(stext) as Record<string, unknown> };
  });
  const traceBlame = (path: PropertyKey[]) => () => new InputError(displayPath(path), file, where(path)?.line, where(path)?.column);
  const traces = raw.traces?.map((name, i): SweepTrace => {
    const tfile = join(dir, name);
    inputFiles.push(tfile);
    inputs.push([`trace:${name}`, sha256(readBytes(tfile, traceBlame(["traces", i])))]);
    return { name, file: tfile };
  });
  if (!traces) {
    // The scenarios' own trace files (or those a "trace" parameter names).
    const traceParam = parameters.find((p) => p.path.steps.length === 1 && "key" in p.path.steps[0]! && p.path.steps[0].key === "trace");
    for (const s of scenarios) {
      const candidates = traceParam ? traceParam.values.map((v, j) => [v, ["parameters", traceParam.path.text, j]] as const) : [[s.json.trace, ["scenarios", scenarios.indexOf(s)]] as const];
      for (const [v, blame] of candidates)
        if (typeof v === "string") {
          const tfile = resolve(dirname(s.file), v);
          inputFiles.push(tfile);
          inputs.push([`trace:${s.name}:${v}`, sha256(readBytes(tfile, traceBlame([...blame])))]);
        }
    }
  }

  const canonical = {
    format: "iommu-emu-sweep/1",
    scenarios: raw.scenarios,
    traces: raw.traces ?? null,
    parameters: parameters.map((p) => [p.path.text, p.values]),
    metrics,
    chart,
    inputs,
  };
  const hash = `sha256:${sha256(JSON.stringify(canonical))}`;
  return { file, dir, scenarios, ...(traces ? { traces } : {}), parameters, metrics, chart, total, hash, inputFiles, located };
}

function readBytes(file: string, blame: () => InputError): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new InputError(`${blame().message}: cannot read the trace ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

function expectedKeys(path: readonly PropertyKey[]): string {
  const keys = path.length === 0 ? Object.keys(sweepSchema.shape) : path[0] === "chart" ? ["x", "y"] : [];
  return keys.map((k) => `"${k}"`).join(", ") || "no other keys";
}

/** The point at `index` of the product (0 <= index < total). */
export function pointAt(def: SweepDefinition, index: number): PointRef {
  let rest = index;
  const values: number[] = new Array(def.parameters.length);
  for (let k = def.parameters.length - 1; k >= 0; k--) {
    const n = def.parameters[k]!.values.length;
    values[k] = rest % n;
    rest = Math.floor(rest / n);
  }
  const nt = def.traces?.length ?? 1;
  const trace = rest % nt;
  const scenario = Math.floor(rest / nt);
  const ref: PointRef = { index, id: pointId(index, def.total), scenario, values };
  if (def.traces) ref.trace = trace;
  return ref;
}

/** "p0042": the index, zero-padded to the width of the largest index (at least 4 digits). */
export function pointId(index: number, total: number): string {
  return `p${String(index).padStart(Math.max(4, String(Math.max(0, total - 1)).length), "0")}`;
}

/** `--shard I/N` (1 <= I <= N). */
export interface Shard {
  index: number;
  count: number;
}

export function parseShard(text: string): Shard {
  const m = /^([1-9][0-9]{0,8})\/([1-9][0-9]{0,8})$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || index > count) throw new InputError(`--shard: expected I/N with 1 <= I <= N (e.g. 2/8), got "${text}"`);
  return { index, count };
}

/**
 * The indices of the points a shard runs: every point whose index % N == I - 1 (round-robin, so
 * each shard gets an even share of every scenario, trace and parameter value). No shard: all.
 */
export function shardIndices(total: number, shard?: Shard): number[] {
  const out: number[] = [];
  const step = shard?.count ?? 1;
  for (let i = (shard?.index ?? 1) - 1; i < total; i += step) out.push(i);
  return out;
}

/** The parameter values of a point, by path, in the order of the definition. */
export function pointParameters(def: SweepDefinition, p: PointRef): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  def.parameters.forEach((param, k) => (out[param.path.text] = param.values[p.values[k]!]));
  return out;
}

/** "p0003 (a.json, x.trace, config.iotlb.entries=64, config.iotlb.policy="lru")" */
export function describePoint(def: SweepDefinition, p: PointRef): string {
  const parts = [def.scenarios[p.scenario]!.name];
  if (p.trace !== undefined) parts.push(def.traces![p.trace]!.name);
  for (const [k, v] of Object.entries(pointParameters(def, p))) parts.push(`${k}=${JSON.stringify(v)}`);
  return `point ${p.index} ${p.id} (${parts.join(", ")})`;
}

export interface PointScenario {
  /** The scenario JSON with the point's parameters applied and its trace path made relative to `pointDir`. */
  text: string;
  /** The trace as results name it: as written in sweep.json, relative to its folder, or "inline trace". */
  traceName?: string;
}

/**
 * The scenario of one point, to be written into `pointDir`: parameters applied, the trace (the
 * sweep's, or the scenario's own file) pointed to from there. Validated with the scenario schema;
 * a problem is an InputError at the parameter in sweep.json that caused it.
 */
export function pointScenario(def: SweepDefinition, p: PointRef, pointDir: string, opts: { validate?: boolean } = {}): PointScenario {
  const s = def.scenarios[p.scenario]!;
  const json = structuredClone(s.json);
  def.parameters.forEach((param, k) => {
    try {
      applyParam(json, param.path, param.values[p.values[k]!]);
    } catch (e) {
      const at = def.located.at.get(`${pathString(["parameters", param.path.text])}#key`);
      throw new InputError(`${displayPath(["parameters", param.path.text])}: in ${s.name}: ${(e as Error).message}`, def.file, at?.line, at?.column);
    }
  });
  let traceFile: string | undefined;
  let traceName: string | undefined;
  if (p.trace !== undefined) {
    const t = def.traces![p.trace]!;
    traceFile = resolve(t.file);
    traceName = t.name;
  } else if (typeof json.trace === "string") {
    traceFile = resolve(dirname(s.file), json.trace);
    traceName = relative(resolve(def.dir), traceFile) || traceFile;
  } else if (Array.isArray(json.trace)) traceName = "inline trace";
  if (traceFile !== undefined) json.trace = relative(pointDir, traceFile) || traceFile;
  const text = JSON.stringify(json, null, 2) + "\n";
  if (opts.validate !== false) {
    try {
      parseScenario(text, s.file);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      throw pointError(def, p, e);
    }
  }
  return traceName !== undefined ? { text, traceName } : { text };
}

function pointError(def: SweepDefinition, p: PointRef, e: InputError): InputError {
  return pointInputError(def, p, stripLocation(e));
}

/**
 * A scenario problem (`bare`: "path: what") caused by a point's parameters, as an InputError at
 * the value in sweep.json of the parameter it most likely comes from (the one whose path overlaps
 * the problem's).
 */
export function pointInputError(def: SweepDefinition, p: PointRef, bare: string): InputError {
  const errPath = /^([^:]+):/.exec(bare)?.[1] ?? "";
  let errSteps: ParamPath | undefined;
  try {
    errSteps = parseParamPath(errPath);
  } catch {
    errSteps = undefined;
  }
  const param = errSteps ? def.parameters.find((q) => pathsOverlap(q.path, errSteps)) : undefined;
  const valuePath = param ? ["parameters", param.path.text, param.values.indexOf(pointParameters(def, p)[param.path.text])] : ["parameters"];
  const at = def.located.at.get(pathString(valuePath));
  return new InputError(`${describePoint(def, p)}: ${bare}`, def.file, at?.line, at?.column);
}

/** The message of an InputError without its "file:line:column: " prefix. */
export function stripLocation(e: InputError): string {
  const prefix = InputError.format("", e.file, e.line, e.column);
  return e.file !== undefined && e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
}
