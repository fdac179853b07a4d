/**
 * Loads a scenario file: validates it against the schema (errors name file, line, column and what
 * was expected), builds the platform (registers, raw memory, then the builder's structures) and
 * resolves the trace.
 */
import { dirname, resolve } from "node:path";
import { InputError } from "./errors.ts";
import { readTextFile } from "./io/input.ts";
import { parseJsonLocated, pathString, type Located } from "./config/json-locate.ts";
import { scenarioSchema, checkConfig, presetOf, timingOf, cachesOf, type Scenario } from "./config/schema.ts";
import type { PresetName } from "./config/timing.ts";
import { DEFAULT_CAP, DEFAULT_ECAP, capFields, ecapFields, setField, fieldMax } from "./config/vtd-regs.ts";
import { VtdPlatform } from "./platform.ts";
import type { CoreBuild } from "./core/core.ts";
import { defaultDriverOptions, type DriverOptions } from "./guest/vtd-driver.ts";

export interface LoadedScenario {
  file: string;
  scenario: Scenario;
  platform: VtdPlatform;
  /** How the driver side carries out the trace's driver events (config.driver, defaults filled in). */
  driver: DriverOptions;
  /** The trace: a file path (resolved against the scenario's folder) or inline lines. */
  trace?: { file: string } | { file: string; lines: string[]; lineNumbers: number[] };
}

/** The scenario's text (src/io/input.ts: a directory, binary data or an unreadable file is an InputError). */
function readText(file: string): string {
  return readTextFile(file, "a scenario (JSON)");
}

export interface ScenarioOptions {
  /** Replaces the scenario's `config.timing.preset` (CLI --preset). */
  preset?: PresetName;
}

/** The position of `path`, or of its nearest ancestor the file has. */
function nearest(located: Located, path: (string | number)[]): { line: number; column: number } | undefined {
  for (let n = path.length; n >= 0; n--) {
    const at = located.at.get(pathString(path.slice(0, n)));
    if (at) return at;
  }
  return undefined;
}

/**
 * Validates scenario text; throws InputError at the offending key or value. The configuration is
 * checked as a whole with the preset in force (`opts.preset`, else the scenario's own).
 */
export function parseScenario(text: string, file: string, opts: ScenarioOptions = {}): { scenario: Scenario; located: Located } {
  const located = parseJsonLocated(text, file);
  const r = scenarioSchema.safeParse(located.value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    let path = pathString(issue.path);
    let message = issue.message;
    let where = located.at.get(path);
    if (issue.code === "unrecognized_keys") {
      const key = issue.keys[0]!;
      const keyPath = path === "" ? key : `${path}.${key}`;
      where = located.at.get(`${keyPath}#key`) ?? where;
      message = `unknown key "${key}"`;
      path = keyPath;
    } else if (issue.code === "invalid_union" && issue.path.length && typeof located.at.get(path) === "object") {
      message = unionMessage(issue);
    }
    throw new InputError(`${path || "(top level)"}: ${message}`, file, where?.line, where?.column);
  }
  const problem = checkConfig(r.data.config, opts.preset);
  if (problem) {
    const where = nearest(located, problem.path);
    const why = opts.preset && opts.preset !== r.data.config?.timing?.preset ? ` (with --preset ${opts.preset})` : "";
    throw new InputError(`${pathString(problem.path)}: ${problem.message}${why}`, file, where?.line, where?.column);
  }
  return { scenario: r.data, located };
}

/** The most useful message from a union issue (e.g. a register given as neither value nor fields). */
function unionMessage(issue: { errors?: { message: string; code: string; keys?: string[] }[][] }): string {
  for (const branch of issue.errors ?? []) {
    const e = branch[0];
    if (!e) continue;
    if (e.code === "unrecognized_keys") return `unknown field "${e.keys?.[0]}"`;
    if (e.code === "custom") return e.message;
  }
  return "expected a value or an object of named fields";
}

function registerValue(base: bigint, v: bigint | Record<string, bigint | undefined> | undefined, fields: Record<string, readonly [number, number]>, name: string): bigint {
  if (v === undefined) return base;
  if (typeof v === "bigint") return v;
  let out = base;
  for (const [k, fv] of Object.entries(v)) {
    if (fv === undefined) continue;
    const range = fields[k]!;
    if (fv > fieldMax(range)) throw new RangeError(`registers.${name}.${k}: ${fv} does not fit the ${range[0] - range[1] + 1}-bit field`);
    out = setField(out, range, fv);
  }
  return out;
}

export interface LoadOptions extends ScenarioOptions {
  build?: CoreBuild;
  /** A functional run: no timing model, whatever config.timing says (CLI --functional). */
  functional?: boolean;
}

export function loadScenario(file: string, opts: LoadOptions = {}): LoadedScenario {
  const { scenario, located } = parseScenario(readText(file), file, opts);
  const at = (path: string) => located.at.get(path);
  const fail = (path: string, e: unknown): never => {
    const where = at(path);
    throw new InputError(`${path}: ${(e as Error).message}`, file, where?.line, where?.column);
  };
  const regs = scenario.registers ?? {};
  let cap = DEFAULT_CAP, ecap = DEFAULT_ECAP;
  try {
    cap = registerValue(DEFAULT_CAP, regs.CAP, capFields, "CAP");
    ecap = registerValue(DEFAULT_ECAP, regs.ECAP, ecapFields, "ECAP");
  } catch (e) {
    fail("registers", e);
  }
  const build = scenario.build ?? {};
  const timing = timingOf(scenario.config);
  const platform = new VtdPlatform({
    caches: cachesOf(scenario.config),
    preset: presetOf(scenario.config, opts.preset),
    // Functional: no cycles, but the same clock and arrival mode, so trace times (and with them the
    // lazy flush timer) convert exactly as in a timed run: identical translations.
    timing: opts.functional ? { ...timing, enable: false } : timing,
    build: opts.build,
    cap,
    ecap,
    mode: build.mode,
    tableBase: build.tableBase,
    physAddrBits: scenario.config?.platform?.physAddrBits,
    snoop: scenario.config?.snoop,
  });
  const core = platform.core;

  // 1. Raw memory first: any structure, including a malformed one, can be hand-made.
  (scenario.memory ?? []).forEach((m, i) => {
    try {
      core.writeQwords(m.addr, m.u64);
    } catch (e) {
      fail(`memory[${i}]`, e);
    }
  });

  // 2. The builder: domains with their mappings, then device attachments.
  const b = platform.builder;
  (build.domains ?? []).forEach((d, i) => {
    let dom;
    try {
      dom = b.createDomain({ id: d.id, type: d.type, levels: d.levels, parent: d.parent, forceSnoop: d.forceSnoop, presetAccessed: d.presetAccessed });
    } catch (e) {
      return fail(`build.domains[${i}]`, e);
    }
    (d.mappings ?? []).forEach((m, j) => {
      const perm = m.perm ?? "rw";
      try {
        b.map(dom, m.iova, m.pa, m.size, {
          read: perm.includes("r"),
          write: perm.includes("w"),
          exec: perm.includes("x"),
          user: m.user,
          global: m.global,
          snp: m.snp,
          pageSize: m.pageSize,
        });
      } catch (e) {
        fail(`build.domains[${i}].mappings[${j}]`, e);
      }
    });
  });
  (build.devices ?? []).forEach((dev, i) => {
    try {
      const { bdf: sid, ...rest } = dev;
      b.attach({ ...rest, sid });
    } catch (e) {
      fail(`build.devices[${i}]`, e);
    }
  });

  // 3. Translation on: RTADDR given, or the builder's root table when something was built.
  const built = (build.domains?.length ?? 0) > 0 || (build.devices?.length ?? 0) > 0;
  if (regs.RTADDR !== undefined) core.setRegister("RTADDR", regs.RTADDR);
  else if (built) core.setRegister("RTADDR", b.rtaddr());
  const te = regs.GCMD !== undefined ? (regs.GCMD >> 31n) & 1n : regs.RTADDR !== undefined || built ? 1n : 0n;
  core.setGsts(Number(te) << 31);

  const d = scenario.config?.driver ?? {};
  const driver: DriverOptions = {
    invalidation: d.invalidation ?? defaultDriverOptions.invalidation,
    lazyBatch: d.lazyBatch ?? defaultDriverOptions.lazyBatch,
    lazyTimeoutCycles: d.lazyTimeoutCycles ?? defaultDriverOptions.lazyTimeoutCycles,
  };
  const result: LoadedScenario = { file, scenario, platform, driver };
  if (typeof scenario.trace === "string") result.trace = { file: resolve(dirname(file), scenario.trace) };
  else if (scenario.trace)
    result.trace = { file, lines: scenario.trace, lineNumbers: scenario.trace.map((_, i) => at(`trace[${i}]`)?.line ?? 0) };
  return result;
}
