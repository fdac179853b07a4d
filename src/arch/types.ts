/**
 * What an architecture is to the host (README "Adding an architecture"): the module that
 * src/platform.ts assembles a Platform from. Everything shared (scenario loading, replay, trace
 * formats, reports, sweeps, gen) asks the platform's module rather than branching on its name.
 */
import type { ArchName, CacheName, FaultInfo } from "../core/abi.ts";
import type { Core, CoreBuild } from "../core/core.ts";
import type { PageAllocator } from "../guest/allocator.ts";
import type { CacheConfig } from "../config/caches.ts";
import type { PresetName, TimingConfig } from "../config/timing.ts";
import type { TraceCommand } from "../trace/command.ts";
import type { ArchDriver, DriverOptions } from "../driver/driver.ts";
import type { Limits } from "../config/limits.ts";
import type { InputError } from "../errors.ts";
import type { z } from "zod";
import type { Result } from "../core/core.ts";
import type { MsiWindow, PlatformRegions } from "../iommu/reserved-regions.ts";

/** Every architecture's name in messages and reports, modelled or not. */
export const archTitles: Readonly<Record<ArchName, string>> = { vtd: "VT-d", smmuv3: "SMMUv3" };

/** An architecture's tags in a per-TLP result line, given the result and whether the TLP had a PASID. */
export type ResultTags = (r: Result, hasPasid: boolean) => Record<string, unknown>;

/** The parts of a platform an architecture's builder and driver work with. */
export interface PlatformParts<B> {
  readonly core: Core;
  /** Where the driver side allocates guest pages for its structures. */
  readonly alloc: PageAllocator;
  /** The architecture's builder: it writes the translation structures as the OS driver would. */
  readonly builder: B;
  /** The cache configuration in effect (catalogue defaults filled in). */
  readonly caches: Record<CacheName, CacheConfig>;
  readonly timing: TimingConfig;
}

/** A register's named fields: bit ranges [high, low]. */
export type RegisterFields = Readonly<Record<string, readonly [number, number]>>;

/** The registers a scenario may set (its `registers` key), with their defaults and named fields. */
export interface RegisterCatalogue {
  /** Every register the `registers` key takes, with its fields (empty: a value only). */
  readonly fields: Readonly<Record<string, RegisterFields>>;
  /** The value of each identification register before the scenario changes it (VT-d: CAP, ECAP). */
  readonly defaults: Readonly<Record<string, bigint>>;
}

/** The platform options every architecture has (src/platform.ts). */
export interface CommonPlatformOptions {
  /** The core's build: "release" (default) or "debug". */
  build?: CoreBuild;
  /** Where the driver side allocates table pages (guest-physical). Default 0x1000_0000. */
  tableBase?: bigint;
  /** Host address width: output address bits from here up are reserved. Default 52. */
  physAddrBits?: number;
  /**
   * Cache geometry and policy per cache (catalogue defaults for what is not given), or "off": no
   * caches at all, every request reads every structure (the architecture alone).
   */
  caches?: Partial<Record<CacheName, Partial<CacheConfig>>> | "off";
  /** Seed of the random replacement policy. */
  seed?: number;
  /**
   * Timing model parameters over the preset's (default: on, the architecture's default preset), or
   * false for a functional-only run.
   */
  timing?: Partial<TimingConfig> | false;
  /** A named set of cache and timing parameters (config/timing.ts); `caches`/`timing` override it. */
  preset?: PresetName;
  /**
   * Simulation only: replay requests served entirely by cache hits from a memo (default true).
   * Results and counters are identical either way (test/engine/replay-memo.test.ts).
   */
  replayMemo?: boolean;
  /**
   * Simulation only: look-ahead group K of the core (abi Opt.LOOKAHEAD_SHIFT), 0..15, 0 = off
   * (default DEFAULT_LOOKAHEAD, src/platform.ts): after a walk, the leaf entries of the next
   * requests are loaded K or so at a time. Results and counters are identical whatever K
   * (test/engine/look-ahead.test.ts).
   */
  lookAhead?: number;
}

/** How far a scenario's set-up is: leaf entries written and devices attached, of the total. */
export interface SetupProgress {
  done: number;
  total: number;
  /** The scenario key being set up (e.g. build.domains[0].mappings[1]). */
  key: string;
}

/** What the scenario loader gives an architecture to report problems at scenario keys. */
export interface ScenarioContext {
  file: string;
  /** The budgets in force (config/limits.ts). */
  limits: Limits;
  /** The host address width in force (config.platform.physAddrBits). */
  physAddrBits: number;
  /** An InputError at scenario key `path` (e.g. "build.domains[0]"), at its line and column. */
  problemAt(path: string, message: string): InputError;
  /** Throws `e` as an InputError at `path` (an allocation error names the memory that holds the page). */
  fail(path: string, e: unknown): never;
}

/**
 * An architecture's part of the scenario format: its member of the schema's union on `arch`, and
 * how a scenario of that member sets a platform up.
 */
export interface ArchScenario<B, O, Z extends z.ZodObject> {
  /** A strict zod object with `arch` the architecture's name (z.literal) and the common keys. */
  readonly schema: Z;
  /** The platform options the scenario's own keys give (registers, modes); problems are InputErrors. */
  platformOptions(scenario: z.output<Z>, ctx: ScenarioContext): O & { tableBase?: bigint };
  /**
   * Writes the scenario's structures with the builder (after the raw memory), yielding progress
   * after each run of leaf entries and each device, then turns translation on as the scenario says.
   */
  build(platform: PlatformParts<B>, scenario: z.output<Z>, ctx: ScenarioContext): Generator<SetupProgress, void, void>;
  /**
   * The MSI set-up the scenario's own keys give (SMMUv3: config.smmu.swMsi and msiDoorbells; VT-d:
   * none, its interrupt window is fixed): for defaultReservedRegions and the doorbell mappings.
   */
  msiOptions(scenario: z.output<Z>): MsiOptions;
}

/** A platform's MSI set-up (ArchScenario.msiOptions). */
export interface MsiOptions {
  /** The software MSI window of every device, where the platform has one (default: the architecture's). */
  swMsi?: MsiWindow;
  /** The MSI doorbells behind the IOMMU (their pages are mapped into the software MSI window). */
  doorbells?: readonly bigint[];
  /** The scenario key that lists the doorbells, for problems with them. */
  doorbellsKey?: string;
}

/**
 * An architecture module. `B` is its builder, `O` its own platform options (VT-d: mode, CAP,
 * ECAP, snoop choices), `Z` its member of the scenario schema's union on `arch`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface ArchitectureModule<B = unknown, O extends object = object, Z extends z.ZodObject = any> {
  readonly name: ArchName;
  /** Its name in messages and reports ("VT-d"). */
  readonly title: string;
  /** The preset a platform starts from when none is named. */
  readonly defaultPreset: PresetName;
  /**
   * The PASID space when the scenario's `pasidSpace.policy` does not say (src/iommu/pasid.ts):
   * "system" (VT-d: one 20-bit space, as Linux's global allocator) or "per-device" (SMMUv3: each
   * stream's substreams).
   */
  readonly pasidPolicy: "system" | "per-device";
  /**
   * The reserved regions every device of the platform has (src/iommu/reserved-regions.ts; Linux:
   * the vendor driver's get_resv_regions) and the region types a scenario may not add, given the
   * software MSI window where the platform has one (SMMUv3: config.smmu.swMsi); a RangeError for a
   * window it cannot have (VT-d: its interrupt window is fixed).
   */
  defaultReservedRegions(options?: { swMsi?: MsiWindow }): PlatformRegions;
  readonly registers: RegisterCatalogue;
  /**
   * Writes the unit's identification registers and model options into a new core (`base`: the
   * host address width and the architecture-neutral option bits, abi Opt), before its caches and
   * timing are configured; a RangeError for options it cannot have.
   */
  setUp(core: Core, options: O, base: { physAddrBits: number; options: number }): void;
  /** The builder of a new platform (the core is configured, nothing is built yet). */
  createBuilder(core: Core, alloc: PageAllocator, options: O): B;
  /** Turns translation on over what the builder wrote (VT-d: RTADDR and GSTS.TES). */
  enable(platform: PlatformParts<B>): void;
  /** A driver that carries out a trace's driver events on this platform. */
  createDriver(platform: PlatformParts<B>, options?: Partial<DriverOptions>): ArchDriver;
  /** The faults the core reports for this architecture, by code (core/abi.ts faultCatalogues). */
  readonly faults: ReadonlyMap<number, FaultInfo>;
  /** The run counters the core keeps for this architecture (core/abi.ts counterCatalogues). */
  readonly counterNames: readonly string[];
  /** Its tags in a per-TLP result line (VT-d `did`, `ridPasid`; SMMUv3 `vmid`): src/report/results.ts. */
  readonly resultTags: ResultTags;
  /** Its driver commands in the trace formats (VT-d `inv`), registered with the codecs. */
  readonly traceCommands: readonly TraceCommand[];
  /** Its part of the scenario format. */
  readonly scenario: ArchScenario<B, O, Z>;
}

/** A module whose builder and option types are not known here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyArchitectureModule = ArchitectureModule<any, any, any>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type BuilderOf<M> = M extends ArchitectureModule<infer B, any, any> ? B : never;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OptionsOf<M> = M extends ArchitectureModule<any, infer O, any> ? O : never;

/** A fault's spec name (VT-d "SSL.1"), or its code in hex when the catalogue has none. */
export function faultName(m: Pick<ArchitectureModule, "faults">, code: number): string {
  return m.faults.get(code)?.id ?? `0x${code.toString(16)}`;
}
