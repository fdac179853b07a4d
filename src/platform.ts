/**
 * A VT-d platform: one core instance (the DMAR unit and its guest memory) plus the driver-side
 * builder that writes its translation structures. The scenario loader, the CLI, the tests and the
 * benchmarks all assemble the emulator through this class.
 */
import { Core, type CoreBuild, type Request, type Result } from "./core/core.ts";
import { Opt, PgsnpNoSc } from "./core/abi.ts";
import { DEFAULT_CAP, DEFAULT_ECAP } from "./arch/vtd/registers.ts";
import { PageAllocator, VtdBuilder } from "./arch/vtd/builder.ts";
import { resolveCaches, type CacheConfig } from "./config/caches.ts";
import { resolveTiming, presets, type TimingConfig, type PresetName } from "./config/timing.ts";
import type { CacheName } from "./core/abi.ts";

/** The points of snoop behaviour the spec leaves open (README "Snoop decision"). */
export interface SnoopOptions {
  /** Nested (PGTT=011): the SNP of the SS leaf that maps the final GPA forces snooping (ECAP.SC=1). */
  nestedSsLeafSnp: boolean;
  /** Pass-through (PGTT=100): PGSNP=1 forces snooping. */
  passThroughPgsnp: boolean;
  /** With ECAP.SC=0, SS-leaf SNP (bit 11) is a reserved bit (fault) rather than ignored. */
  snpReservedWithoutSc: boolean;
  /** With ECAP.SC=0, PGSNP=1 is a reserved-bit fault (SPT.3), ignored, or honoured. */
  pgsnpWithoutSc: "reserved" | "ignored" | "honoured";
}

export const defaultSnoopOptions: SnoopOptions = {
  nestedSsLeafSnp: false,
  passThroughPgsnp: true,
  snpReservedWithoutSc: false,
  pgsnpWithoutSc: "reserved",
};

export interface PlatformOptions {
  build?: CoreBuild;
  mode?: "scalable" | "legacy";
  cap?: bigint;
  ecap?: bigint;
  /** Where the builder allocates table pages (guest-physical). Default 0x1000_0000. */
  tableBase?: bigint;
  /** Host address width (HAW): entry address bits from here to 51 are reserved. Default 52. */
  physAddrBits?: number;
  snoop?: Partial<SnoopOptions>;
  /**
   * Cache geometry and policy per cache (catalogue defaults for what is not given), or "off": no
   * caches at all, every request reads every structure (the architecture alone).
   */
  caches?: Partial<Record<CacheName, Partial<CacheConfig>>> | "off";
  /** Seed of the random replacement policy. */
  seed?: number;
  /**
   * Timing model parameters over the preset's (default: on, the default VT-d profile), or false
   * for a functional-only run.
   */
  timing?: Partial<TimingConfig> | false;
  /** A named set of cache and timing parameters (config/timing.ts); `caches`/`timing` override it. */
  preset?: PresetName;
  /**
   * Simulation only: replay requests served entirely by cache hits from a memo (default true).
   * Results and counters are identical either way (test/engine/replay-memo.test.ts).
   */
  replayMemo?: boolean;
}

/** Every cache disabled. */
export function cachesOff(): Record<CacheName, Partial<CacheConfig>> {
  return Object.fromEntries(Object.keys(resolveCaches()).map((n) => [n, { enable: false }])) as Record<CacheName, Partial<CacheConfig>>;
}

/**
 * The cache configuration a platform gets: the catalogue defaults, then the preset's, then
 * `caches` (or every cache off). Known before the core is configured, so its size can be checked.
 */
export function platformCaches(preset: PresetName = "vtd-default", caches: PlatformOptions["caches"] = {}): Record<CacheName, CacheConfig> {
  const p = presets[preset];
  const parts = caches === "off" ? cachesOff() : caches;
  const merged = Object.fromEntries(
    Object.keys(resolveCaches()).map((n) => [n, { ...p.caches[n as CacheName], ...parts[n as CacheName] }]),
  ) as Partial<Record<CacheName, Partial<CacheConfig>>>;
  return resolveCaches(merged);
}

export class VtdPlatform {
  readonly core: Core;
  readonly alloc: PageAllocator;
  readonly builder: VtdBuilder;
  readonly snoop: SnoopOptions;
  readonly timing: TimingConfig;
  /** The preset the cache and timing parameters start from. */
  readonly preset: PresetName;
  /** The cache configuration in effect (catalogue defaults filled in). */
  readonly caches: Record<CacheName, CacheConfig>;

  constructor(o: PlatformOptions = {}) {
    this.core = new Core(o.build ?? "release");
    const cap = o.cap ?? DEFAULT_CAP;
    const ecap = o.ecap ?? DEFAULT_ECAP;
    this.core.setRegister("CAP", cap);
    this.core.setRegister("ECAP", ecap);
    this.snoop = { ...defaultSnoopOptions, ...o.snoop };
    let options = 0;
    if (this.snoop.nestedSsLeafSnp) options |= Opt.NESTED_SS_SNP;
    if (this.snoop.passThroughPgsnp) options |= Opt.PT_PGSNP;
    if (this.snoop.snpReservedWithoutSc) options |= Opt.SNP_RSVD_NO_SC;
    if (o.replayMemo === false) options |= Opt.NO_REPLAY_MEMO;
    const pgsnpNoSc = { reserved: PgsnpNoSc.RESERVED, ignored: PgsnpNoSc.IGNORED, honoured: PgsnpNoSc.HONOURED }[this.snoop.pgsnpWithoutSc];
    const physAddrBits = o.physAddrBits ?? 52;
    if (!Number.isInteger(physAddrBits) || physAddrBits < 32 || physAddrBits > 52) throw new RangeError(`physAddrBits ${physAddrBits} must be 32..52`);
    this.core.setOptions({ physAddrBits, options, pgsnpNoSc });
    this.preset = o.preset ?? "vtd-default";
    const preset = presets[this.preset];
    this.caches = platformCaches(this.preset, o.caches);
    this.timing = resolveTiming(o.timing === false ? { ...preset.timing, enable: false } : { ...preset.timing, ...o.timing });
    this.core.configure(this.caches, this.timing, o.seed ?? 1);
    // Table pages stay below the host address width: above it their addresses are reserved bits.
    const tableBase = o.tableBase ?? 0x1000_0000n;
    const top = 1n << BigInt(physAddrBits);
    this.alloc = new PageAllocator(this.core, tableBase, tableBase + (1n << 32n) < top ? tableBase + (1n << 32n) : top);
    this.builder = new VtdBuilder(this.core, this.alloc, o.mode ?? "scalable", cap, ecap);
  }

  /** Points RTADDR at the builder's root table (TTM from the mode) and sets GSTS.TES. */
  enable(): void {
    this.core.setRegister("RTADDR", this.builder.rtaddr());
    this.core.setGsts(1 << 31);
  }

  translate(reqs: readonly Request[]): Result[] {
    return this.core.translate(reqs);
  }

  translateOne(req: Request): Result {
    return this.core.translateOne(req);
  }
}
