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
import { overBudget, resolveLimits, type Limits } from "./config/limits.ts";
import type { PresetName } from "./config/timing.ts";
import { DEFAULT_CAP, DEFAULT_ECAP, capFields, ecapFields, setField, fieldMax } from "./arch/vtd/registers.ts";
import { VtdPlatform, platformCaches } from "./platform.ts";
import { AllocationError } from "./arch/vtd/builder.ts";
import { attachBudgetProblem, cacheBudgetProblem, levelsProblem, mapBudgetProblem, rangeProblem } from "./arch/vtd/checks.ts";
import { formatBdf } from "./trace/text.ts";
import type { CoreBuild } from "./core/core.ts";
import { defaultDriverOptions, type DriverOptions } from "./arch/vtd/driver.ts";

export interface LoadedScenario {
  file: string;
  scenario: Scenario;
  platform: VtdPlatform;
  /** How the driver side carries out the trace's driver events (config.driver, defaults filled in). */
  driver: Omit<DriverOptions, "limits">;
  /**
   * The budgets in force (config/limits.ts): the catalogue's, the scenario's, then
   * LoadOptions.limits. A driver for the trace gets them with `driver`:
   * `new VtdDriver(platform, { ...driver, limits })`.
   */
  limits: Limits;
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
  // A UTF-8 byte order mark (editors on Windows write one) is not part of the JSON; lines and
  // columns count from after it, as editors show them.
  const located = parseJsonLocated(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, file);
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
    } else if (where === undefined && typeof issue.path.at(-1) === "string") {
      // a required key the file does not have: at the object that lacks it
      if (message.startsWith("Invalid input")) message = `missing key "${String(issue.path.at(-1))}"`;
      where = nearest(located, issue.path.slice(0, -1) as (string | number)[]);
    } else if (issue.code === "invalid_union" && issue.path.length && typeof located.at.get(path) === "object") {
      message = unionMessage(issue);
    }
    where ??= nearest(located, issue.path as (string | number)[]);
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
  /** Budgets over the scenario's `config.limits` (CLI --limit NAME=N). */
  limits?: Partial<Limits>;
}

/** How far the set-up is: leaf entries of the scenario's mappings written and device entries attached. */
export interface SetupProgress {
  done: number;
  total: number;
  /** The scenario key being set up (e.g. build.domains[0].mappings[1]). */
  key: string;
}

/**
 * Loads a scenario at once: validates it, builds the platform and resolves the trace (the
 * synchronous form of loadScenarioSteps, for the library, tests and sweep workers).
 */
export function loadScenario(file: string, opts: LoadOptions = {}): LoadedScenario {
  const steps = loadScenarioSteps(file, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

const PAGE_4K = 1n << 12n;

/**
 * Loads a scenario step by step: yields its progress after each run of leaf entries a mapping
 * writes (at most one leaf table) and after each device, so a caller can show progress and stop
 * between steps (the CLI does, on Ctrl-C); returns the loaded scenario. Everything is checked
 * before it is built: every mapping against its domain's format and the unit's page sizes, every
 * domain's levels against CAP, every cost against the budgets (config/limits.ts); a problem is an
 * InputError at the scenario key that causes it, and a page the driver side needs that the
 * scenario's raw `memory` holds is one at that memory's key.
 */
export function* loadScenarioSteps(file: string, opts: LoadOptions = {}): Generator<SetupProgress, LoadedScenario, void> {
  const { scenario, located } = parseScenario(readText(file), file, opts);
  const at = (path: string) => located.at.get(path);
  const problemAt = (path: string, message: string): InputError => {
    const where = at(path);
    return new InputError(`${path}: ${message}`, file, where?.line, where?.column);
  };
  const fail = (path: string, e: unknown): never => {
    if (e instanceof AllocationError) throw e.located(path) ?? problemAt(path, e.message);
    if (e instanceof InputError) throw e;
    throw problemAt(path, (e as Error).message);
  };
  const limits = resolveLimits(scenario.config?.limits, opts.limits);
  if (Array.isArray(scenario.trace) && scenario.trace.length > limits.traceLines)
    throw problemAt("trace", overBudget("traceLines", limits, `the inline trace has ${scenario.trace.length} lines`) + ", or put the trace in a file (it streams)");
  const regs = scenario.registers ?? {};
  let cap = DEFAULT_CAP, ecap = DEFAULT_ECAP;
  try {
    cap = registerValue(DEFAULT_CAP, regs.CAP, capFields, "CAP");
    ecap = registerValue(DEFAULT_ECAP, regs.ECAP, ecapFields, "ECAP");
  } catch (e) {
    fail("registers", e);
  }
  const build = scenario.build ?? {};
  const physAddrBits = scenario.config?.platform?.physAddrBits ?? 52;
  if (build.tableBase !== undefined) {
    if (build.tableBase & 0xfffn) throw problemAt("build.tableBase", `0x${build.tableBase.toString(16)} is not 4 KiB aligned (tables are 4 KiB pages)`);
    if (build.tableBase >> BigInt(physAddrBits) !== 0n)
      throw problemAt("build.tableBase", `0x${build.tableBase.toString(16)} is not below 2^${physAddrBits}, the host address width (config.platform.physAddrBits)`);
  }
  // Domains the unit cannot walk: their levels against CAP.SAGAW / CAP.FS5LP.
  (build.domains ?? []).forEach((d, i) => {
    const problem = levelsProblem(d.type, d.levels ?? 4, cap);
    if (problem) throw problemAt(d.levels !== undefined ? `build.domains[${i}].levels` : `build.domains[${i}]`, d.levels !== undefined ? problem : `levels 4 (the default): ${problem}`);
  });
  const preset = presetOf(scenario.config, opts.preset);
  const caches = cachesOf(scenario.config);
  // The IOMMU's caches (device-TLBs are counted as devices attach with ATS).
  const cacheProblem = cacheBudgetProblem(platformCaches(preset, caches), 0, limits);
  if (cacheProblem) {
    const where = nearest(located, ["config"]);
    throw new InputError(`config: ${cacheProblem}`, file, where?.line, where?.column);
  }
  const timing = timingOf(scenario.config);
  const platform = new VtdPlatform({
    caches,
    preset,
    // Functional: no cycles, but the same clock and arrival mode, so trace times (and with them the
    // lazy flush timer) convert exactly as in a timed run: identical translations.
    timing: opts.functional ? { ...timing, enable: false } : timing,
    build: opts.build,
    cap,
    ecap,
    mode: build.mode,
    tableBase: build.tableBase,
    physAddrBits,
    snoop: scenario.config?.snoop,
  });
  const core = platform.core;

  // 1. Raw memory first: any structure, including a malformed one, can be hand-made. Its pages are
  //    reserved: the driver side never places a structure over them.
  (scenario.memory ?? []).forEach((m, i) => {
    const key = `memory[${i}]`;
    try {
      core.writeQwords(m.addr, m.u64);
    } catch (e) {
      fail(key, e);
    }
    const where = at(key);
    platform.alloc.reserve(m.addr, BigInt(m.u64.length) * 8n, { key, file, ...(where ? { line: where.line, column: where.column } : {}) });
  });

  // 2. The builder: domains with their mappings, then device attachments.
  const b = platform.builder;
  const domains = build.domains ?? [];
  const devices = build.devices ?? [];
  let total = devices.length;
  for (const d of domains) for (const m of d.mappings ?? []) total += Number(m.size / (m.pageSize ?? PAGE_4K));
  let done = 0;
  for (let i = 0; i < domains.length; i++) {
    const d = domains[i]!;
    let dom;
    try {
      dom = b.createDomain({ id: d.id, type: d.type, levels: d.levels, parent: d.parent, forceSnoop: d.forceSnoop, presetAccessed: d.presetAccessed });
    } catch (e) {
      return fail(`build.domains[${i}]`, e);
    }
    const mappings = d.mappings ?? [];
    for (let j = 0; j < mappings.length; j++) {
      const m = mappings[j]!;
      const key = `build.domains[${i}].mappings[${j}]`;
      const pageSize = m.pageSize ?? PAGE_4K;
      if (dom.type === "pt") fail(key, new Error(`domain ${dom.id} is pass-through: it has no page tables to map into`));
      const issue = rangeProblem(dom, { iova: m.iova, size: m.size, pa: m.pa, pageSize }, cap);
      if (issue) throw problemAt(key, issue);
      const budget = mapBudgetProblem(dom.levels, m.iova, m.size, pageSize, limits);
      if (budget) throw problemAt(key, budget);
      const perm = m.perm ?? "rw";
      try {
        for (const n of b.mapSteps(dom, m.iova, m.pa, m.size, {
          read: perm.includes("r"),
          write: perm.includes("w"),
          exec: perm.includes("x"),
          user: m.user,
          global: m.global,
          snp: m.snp,
          pageSize,
        })) {
          done += n;
          yield { done, total, key };
        }
      } catch (e) {
        fail(key, e);
      }
    }
  }
  const firstEntry = new Map<string, number>();
  for (let i = 0; i < devices.length; i++) {
    const key = `build.devices[${i}]`;
    const { bdf: sid, ...rest } = devices[i]!;
    const spec = { ...rest, sid };
    const bdf = formatBdf(sid);
    const target = b.attachTarget(spec);
    const entry = `${sid}:${target.pasidEntry ?? ""}`;
    const first = firstEntry.get(entry);
    if (first !== undefined) {
      const what = spec.pasid !== undefined ? `${bdf} PASID ${spec.pasid}` : b.mode === "legacy" ? bdf : `${bdf} (requests without PASID: PASID-table entry ${target.pasidEntry})`;
      throw problemAt(key, `${what} is already attached by build.devices[${first}] (one entry per device and PASID)`);
    }
    firstEntry.set(entry, i);
    const budget = b.domains.has(spec.domain) ? attachBudgetProblem(b.counts, { sid, bdf, ...target }, platform.caches, limits) : undefined;
    if (budget) throw problemAt(key, budget);
    try {
      b.attach(spec);
    } catch (e) {
      fail(key, e);
    }
    done++;
    yield { done, total, key };
  }

  // 3. Translation on: RTADDR given, or the builder's root table when something was built.
  const built = domains.length > 0 || devices.length > 0;
  try {
    if (regs.RTADDR !== undefined) core.setRegister("RTADDR", regs.RTADDR);
    else if (built) core.setRegister("RTADDR", b.rtaddr());
  } catch (e) {
    fail("build", e);
  }
  const te = regs.GCMD !== undefined ? (regs.GCMD >> 31n) & 1n : regs.RTADDR !== undefined || built ? 1n : 0n;
  core.setGsts(Number(te) << 31);

  const d = scenario.config?.driver ?? {};
  const driver: LoadedScenario["driver"] = {
    invalidation: d.invalidation ?? defaultDriverOptions.invalidation,
    lazyBatch: d.lazyBatch ?? defaultDriverOptions.lazyBatch,
    lazyTimeoutCycles: d.lazyTimeoutCycles ?? defaultDriverOptions.lazyTimeoutCycles,
  };
  const result: LoadedScenario = { file, scenario, platform, driver, limits };
  if (typeof scenario.trace === "string") result.trace = { file: resolve(dirname(file), scenario.trace) };
  else if (scenario.trace)
    result.trace = { file, lines: scenario.trace, lineNumbers: scenario.trace.map((_, i) => at(`trace[${i}]`)?.line ?? 0) };
  return result;
}
