/**
 * A platform: one core instance (the unit and its guest memory) plus the driver side that writes
 * its translation structures, assembled from an architecture module (src/arch/types.ts). The
 * scenario loader, the CLI, the tests and the benchmarks all assemble the emulator through here;
 * `createPlatform` is the one place that picks the module by name (src/arch/index.ts).
 */
import { Core, type Request, type Result } from "./core/core.ts";
import { Opt, type CacheName } from "./core/abi.ts";
import { PageAllocator } from "./guest/allocator.ts";
import { resolveCaches, type CacheConfig } from "./config/caches.ts";
import { resolveTiming, presets, type TimingConfig, type PresetName } from "./config/timing.ts";
import type { AnyArchitectureModule, BuilderOf, CommonPlatformOptions, OptionsOf, PlatformParts } from "./arch/types.ts";
import type { ArchDriver, DriverOptions } from "./driver/driver.ts";
import { architecture, type ArchModuleOf, type ModelledArch } from "./arch/index.ts";
import { vtd, type VtdModule } from "./arch/vtd/module.ts";

export { defaultSnoopOptions, type SnoopOptions } from "./arch/vtd/module.ts";

/** The options of a platform of module `M`: the common ones and the architecture's own. */
export type PlatformOptions<M extends AnyArchitectureModule = VtdModule> = CommonPlatformOptions & OptionsOf<M>;

/** Every cache disabled. */
export function cachesOff(): Record<CacheName, Partial<CacheConfig>> {
  return Object.fromEntries(Object.keys(resolveCaches()).map((n) => [n, { enable: false }])) as Record<CacheName, Partial<CacheConfig>>;
}

/**
 * The cache configuration a platform gets: the catalogue defaults, then the preset's, then
 * `caches` (or every cache off). Known before the core is configured, so its size can be checked.
 */
export function platformCaches(preset: PresetName = "vtd-default", caches: CommonPlatformOptions["caches"] = {}): Record<CacheName, CacheConfig> {
  const p = presets[preset];
  const parts = caches === "off" ? cachesOff() : caches;
  const merged = Object.fromEntries(
    Object.keys(resolveCaches()).map((n) => [n, { ...p.caches[n as CacheName], ...parts[n as CacheName] }]),
  ) as Partial<Record<CacheName, Partial<CacheConfig>>>;
  return resolveCaches(merged);
}

/**
 * The core's look-ahead group unless a platform says otherwise (PlatformOptions.lookAhead): 8, the
 * fastest of 4, 8 and 16 on ss4-walk and large-window (README "Benchmarks", "Stop 23").
 */
export const DEFAULT_LOOKAHEAD = 8;

export class Platform<M extends AnyArchitectureModule = AnyArchitectureModule> implements PlatformParts<BuilderOf<M>> {
  readonly core: Core;
  readonly alloc: PageAllocator;
  readonly builder: BuilderOf<M>;
  readonly timing: TimingConfig;
  /** The preset the cache and timing parameters start from. */
  readonly preset: PresetName;
  /** The cache configuration in effect (catalogue defaults filled in). */
  readonly caches: Record<CacheName, CacheConfig>;

  constructor(
    /** The architecture this platform is. */
    readonly module: M,
    o: PlatformOptions<M> = {} as PlatformOptions<M>,
  ) {
    this.core = new Core(o.build ?? "release", module.name);
    const physAddrBits = o.physAddrBits ?? 52;
    if (!Number.isInteger(physAddrBits) || physAddrBits < 32 || physAddrBits > 52) throw new RangeError(`physAddrBits ${physAddrBits} must be 32..52`);
    const lookAhead = o.lookAhead ?? DEFAULT_LOOKAHEAD;
    if (!Number.isInteger(lookAhead) || lookAhead < 0 || lookAhead > 15) throw new RangeError(`lookAhead ${lookAhead} must be 0..15`);
    const options = (o.replayMemo === false ? Opt.NO_REPLAY_MEMO : 0) | (lookAhead << Opt.LOOKAHEAD_SHIFT);
    module.setUp(this.core, o, { physAddrBits, options });
    this.preset = o.preset ?? module.defaultPreset;
    const preset = presets[this.preset];
    this.caches = platformCaches(this.preset, o.caches);
    this.timing = resolveTiming(o.timing === false ? { ...preset.timing, enable: false } : { ...preset.timing, ...o.timing });
    this.core.configure(this.caches, this.timing, o.seed ?? 1);
    // Table pages stay below the host address width: above it their addresses are reserved bits.
    const tableBase = o.tableBase ?? 0x1000_0000n;
    const top = 1n << BigInt(physAddrBits);
    this.alloc = new PageAllocator(this.core, tableBase, tableBase + (1n << 32n) < top ? tableBase + (1n << 32n) : top);
    this.builder = module.createBuilder(this.core, this.alloc, o) as BuilderOf<M>;
  }

  /** Turns translation on over what the builder wrote (VT-d: RTADDR from the builder's root table, GSTS.TES). */
  enable(): void {
    this.module.enable(this);
  }

  /** A driver that carries out a trace's driver events on this platform. */
  createDriver(options?: Partial<DriverOptions>): ArchDriver {
    return this.module.createDriver(this, options);
  }

  translate(reqs: readonly Request[]): Result[] {
    return this.core.translate(reqs);
  }

  translateOne(req: Request): Result {
    return this.core.translateOne(req);
  }
}

/** A platform of any modelled architecture: narrow it on `platform.module.name`. */
export type AnyPlatform = { [N in ModelledArch]: Platform<ArchModuleOf<N>> }[ModelledArch];

/** The platform of the architecture named `name` (a RangeError when it is not modelled yet). */
export function createPlatform<N extends ModelledArch>(name: N, options: PlatformOptions<ArchModuleOf<N>> = {} as PlatformOptions<ArchModuleOf<N>>): Platform<ArchModuleOf<N>> {
  return new Platform(architecture(name), options);
}

/**
 * The VT-d platform as releases before the architecture modules had it: `new VtdPlatform(options)`
 * is `new Platform(vtd, options)`.
 * @deprecated Use `createPlatform("vtd", options)` or `new Platform(vtd, options)`.
 */
export const VtdPlatform: new (options?: PlatformOptions<VtdModule>) => Platform<VtdModule> = class extends Platform<VtdModule> {
  constructor(options: PlatformOptions<VtdModule> = {}) {
    super(vtd, options);
  }
};
export type VtdPlatform = Platform<VtdModule>;
