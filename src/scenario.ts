/**
 * Loads a scenario file: validates it against the schema (a union on `arch`; errors name file,
 * line, column and what was expected), builds the platform of its architecture (the module's
 * registers and options, raw memory, then the module's builder writes the structures) and
 * resolves the trace.
 */
import { dirname, resolve } from "node:path";
import { InputError } from "./errors.ts";
import { readTextFile } from "./io/input.ts";
import { parseJsonLocated, pathString, type Located } from "./config/json-locate.ts";
import { checkConfig, presetOf, timingOf, cachesOf } from "./config/schema.ts";
import { scenarioSchema, type Scenario } from "./config/scenario-schema.ts";
import { cacheBudgetProblem, overBudget, resolveLimits, type Limits } from "./config/limits.ts";
import type { PresetName } from "./config/timing.ts";
import { Platform, platformCaches, type AnyPlatform } from "./platform.ts";
import { architecture } from "./arch/index.ts";
import type { AnyArchitectureModule, ScenarioContext, SetupProgress } from "./arch/types.ts";
import { AllocationError } from "./guest/allocator.ts";
import type { CoreBuild } from "./core/core.ts";
import type { Refusals } from "./replay/replay.ts";
import { defaultDriverOptions, type DriverOptions } from "./driver/driver.ts";
import { bindingsProblem } from "./iommu/drivers.ts";
import { vmsProblem } from "./iommu/vms.ts";
import { directMappings, doorbellsProblem, msiMappings, p2pWindowsOf, scenarioRegions, scenarioRegionsProblem } from "./iommu/regions.ts";
import type { ReservedRegions } from "./iommu/reserved-regions.ts";

export type { SetupProgress } from "./arch/types.ts";

export interface LoadedScenario {
  file: string;
  scenario: Scenario;
  platform: AnyPlatform;
  /** How the driver side carries out the trace's driver events (config.driver, defaults filled in). */
  driver: Omit<DriverOptions, "limits">;
  /** What a refused driver event is (config.driver.refusals): an input error, or a `refused` result. */
  refusals: Refusals;
  /**
   * The budgets in force (config/limits.ts): the catalogue's, the scenario's, then
   * LoadOptions.limits. A driver for the trace gets them with `driver`:
   * `platform.createDriver({ ...driver, limits })`.
   */
  limits: Limits;
  /** The devices' reserved regions (src/iommu/regions.ts): the platform's and the scenario's `reservedRegions`. */
  regions: ReservedRegions;
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
    } else if (issue.code === "invalid_union" && issue.errors.length > 0 && issue.path.length && typeof located.at.get(path) === "object") {
      message = unionMessage(issue);
    }
    where ??= nearest(located, issue.path as (string | number)[]);
    throw new InputError(`${path || "(top level)"}: ${message}`, file, where?.line, where?.column);
  }
  const problem = checkConfig(r.data.config, opts.preset, architecture(r.data.arch).defaultPreset);
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

export interface LoadOptions extends ScenarioOptions {
  build?: CoreBuild;
  /** A functional run: no timing model, whatever config.timing says (CLI --functional). */
  functional?: boolean;
  /** Budgets over the scenario's `config.limits` (CLI --limit NAME=N). */
  limits?: Partial<Limits>;
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

/**
 * Loads a scenario step by step: yields its progress after each run of leaf entries a mapping
 * writes (at most one leaf table) and after each device, so a caller can show progress and stop
 * between steps (the CLI does, on Ctrl-C); returns the loaded scenario. Everything is checked
 * before it is built (VT-d: every mapping against its domain's format and the unit's page sizes,
 * every domain's levels against CAP), every cost against the budgets (config/limits.ts); a problem is an
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
  const bindings = scenario.drivers && bindingsProblem(scenario.topology, scenario.drivers, scenario.groupRule);
  if (bindings) throw problemAt(`drivers[${bindings.index}].driver`, bindings.message);
  const assigned = scenario.vms && vmsProblem(scenario.topology, scenario.drivers ?? [], scenario.vms, scenario.groupRule);
  if (assigned) throw problemAt(assigned.path, assigned.message);
  // The scenario member and the module share `arch`: the module takes its own member.
  const module: AnyArchitectureModule = architecture(scenario.arch);
  // The platform's reserved regions and MSI doorbells are the architecture's (SMMUv3 config.smmu.swMsi, msiDoorbells).
  const msi = module.scenario.msiOptions(scenario);
  const regions = scenarioRegions(scenario, module.defaultReservedRegions(msi.swMsi ? { swMsi: msi.swMsi } : {}), msi.doorbells ?? []);
  const regionsProblem = scenarioRegionsProblem(scenario, regions);
  if (regionsProblem) throw problemAt(regionsProblem.path, regionsProblem.message);
  const limits = resolveLimits(scenario.config?.limits, opts.limits);
  if (Array.isArray(scenario.trace) && scenario.trace.length > limits.traceLines)
    throw problemAt("trace", overBudget("traceLines", limits, `the inline trace has ${scenario.trace.length} lines`) + ", or put the trace in a file (it streams)");
  const physAddrBits = scenario.config?.platform?.physAddrBits ?? 52;
  const ctx: ScenarioContext = { file, limits, physAddrBits, problemAt, fail };
  // The architecture's own keys (registers, build modes), checked before anything is built.
  const archOptions = module.scenario.platformOptions(scenario, ctx);
  const preset = presetOf(scenario.config, opts.preset, module.defaultPreset);
  const caches = cachesOf(scenario.config);
  // The IOMMU's caches (device-TLBs are counted as devices attach with ATS).
  const cacheProblem = cacheBudgetProblem(platformCaches(preset, caches), 0, limits);
  if (cacheProblem) {
    const where = nearest(located, ["config"]);
    throw new InputError(`config: ${cacheProblem}`, file, where?.line, where?.column);
  }
  const timing = timingOf(scenario.config);
  const platform = new Platform(module, {
    ...archOptions,
    caches,
    preset,
    // Functional: no cycles, but the same clock and arrival mode, so trace times (and with them the
    // lazy flush timer) convert exactly as in a timed run: identical translations.
    timing: opts.functional ? { ...timing, enable: false } : timing,
    build: opts.build,
    physAddrBits,
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

  // 2. The architecture's structures (VT-d: domains with their mappings, then devices), then
  //    translation on as the scenario says.
  // DIRECT regions are identity-mapped in their devices' kernel domains as they attach, and SMMUv3's
  // MSI doorbells mapped into the SW_MSI window (after the scenario's own mappings).
  const doorbells = msi.doorbells ?? [];
  const bellsProblem = doorbellsProblem(regions, doorbells);
  if (bellsProblem) throw problemAt(msi.doorbellsKey ?? "", bellsProblem);
  const extra = new Map<number, DriverMapping[]>();
  for (const [i, list] of directMappings(scenario, regions)) extra.set(i, list.map((r) => ({ iova: r.first, pa: r.first, size: r.last - r.first + 1n, perm: "rw" })));
  for (const [i, list] of msiMappings(scenario, regions, doorbells)) extra.set(i, [...(extra.get(i) ?? []), ...list.map((m) => ({ iova: m.iova, pa: m.pa, size: 0x1000n, perm: "w" as const, mmio: true }))]);
  const built = extra.size === 0 ? scenario : withDriverMappings(scenario, extra);
  yield* module.scenario.build(platform, built, ctx);
  // The root complex's peer-to-peer windows (RESERVED regions): the core routes requests into them before the IOMMU.
  const windows = p2pWindowsOf(scenario, regions);
  try {
    if (windows.length) core.setP2pWindows(windows);
  } catch (e) {
    fail("reservedRegions", e);
  }
  if (doorbells.length) core.setDoorbells(doorbells);

  // 3. The driver side's domains (domainAlloc), through the unit's driver as domain-alloc would; blocking ones are the driver side's own.
  const blocking = new Set<number>();
  if (scenario.domainAlloc) {
    const unit = platform.createDriver();
    scenario.domainAlloc.forEach((a, i) => {
      if (unit.hasDomain(a.id) || blocking.has(a.id)) throw problemAt(`domainAlloc[${i}].id`, `domain ${a.id} exists already`);
      if (a.kind === "blocking") return void blocking.add(a.id);
      if (a.parent !== undefined && blocking.has(a.parent)) throw problemAt(`domainAlloc[${i}].parent`, `domain ${a.parent} is a blocking domain, not a paging one`);
      try {
        unit.allocDomain({
          id: a.id,
          kind: a.kind,
          ...(a.format !== undefined ? { format: a.format } : {}),
          ...(a.parent !== undefined ? { parent: a.parent } : {}),
          ...(a.invalidation !== undefined ? { invalidation: a.invalidation } : {}),
        });
      } catch (e) {
        fail(`domainAlloc[${i}]`, e);
      }
      const refused = a.enforceCoherency ? unit.enforceCoherency(a.id) : undefined;
      if (refused !== undefined) throw problemAt(`domainAlloc[${i}].enforceCoherency`, refused);
    });
  }

  const d = scenario.config?.driver ?? {};
  const driver: LoadedScenario["driver"] = {
    invalidation: d.invalidation ?? defaultDriverOptions.invalidation,
    lazyBatch: d.lazyBatch ?? defaultDriverOptions.lazyBatch,
    lazyTimeoutCycles: d.lazyTimeoutCycles ?? defaultDriverOptions.lazyTimeoutCycles,
  };
  const result: LoadedScenario = { file, scenario, platform, driver, refusals: d.refusals ?? "error", limits, regions };
  if (typeof scenario.trace === "string") result.trace = { file: resolve(dirname(file), scenario.trace) };
  else if (scenario.trace)
    result.trace = { file, lines: scenario.trace, lineNumbers: scenario.trace.map((_, i) => at(`trace[${i}]`)?.line ?? 0) };
  return result;
}

/** A mapping the driver side adds to a build domain. */
interface DriverMapping {
  iova: bigint;
  pa: bigint;
  size: bigint;
  perm: "rw" | "w";
  mmio?: boolean;
}

/** The scenario with the driver's own mappings appended to their build domains' mappings (by domain index). */
function withDriverMappings<S extends Scenario>(scenario: S, extra: ReadonlyMap<number, readonly DriverMapping[]>): S {
  const domains = (scenario.build?.domains ?? []).map((d, i) => {
    const more = extra.get(i) ?? [];
    return more.length ? { ...d, mappings: [...(d.mappings ?? []), ...more] } : d;
  });
  return { ...scenario, build: { ...scenario.build, domains } } as S;
}
