/**
 * The neutral parts of the scenario schema (shared/DESIGN.md §3): 64-bit values ("0x…" strings;
 * small numbers may be plain numbers), the keys every architecture's scenario has, and `config`,
 * strict everywhere so unknown keys are errors with their path. The union on `arch` of the
 * architectures' members is scenario-schema.ts. Each option carries its default and a one-line doc
 * in `parameterCatalogue`, from which the README table is generated.
 */
import { z } from "zod";
import { cacheNames, policyNames, type CacheName } from "../core/abi.ts";
import { cacheDocs, cacheGeometryError, defaultCaches, type CacheConfig } from "./caches.ts";
import { defaultTiming, presetNames, presets, resolveTiming, type PresetName, type TimingConfig } from "./timing.ts";
import { defaultDriverOptions } from "../driver/driver.ts";
import { limitCatalogue, limitNames, MAX_LIMIT, type LimitName } from "./limits.ts";
import { quote } from "../errors.ts";
import { parseBdf } from "../trace/events.ts";
import { topologySchema } from "../iommu/topology.ts";
import { groupRules } from "../iommu/groups.ts";
import { driversSchema } from "../iommu/drivers.ts";
import { domainAllocSchema } from "../iommu/domains.ts";
import { pasidSpaceSchema, reservedRegionsSchema, vmsSchema } from "../iommu/scenario-keys.ts";

export { u64 } from "./u64.ts";
import { u64 } from "./u64.ts";

/**
 * A page size from `sizes` (its name, or its bytes as a number or "0x…" string); anything else is
 * an issue `${hint}, got …`.
 */
export function pageSizeOf(sizes: Readonly<Record<string, bigint>>, hint: string) {
  const values = Object.values(sizes);
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    let size: bigint | undefined = typeof v === "string" ? sizes[v] : undefined;
    if (size === undefined && typeof v === "number" && Number.isSafeInteger(v)) size = BigInt(v);
    if (size === undefined && typeof v === "string" && /^0x[0-9a-fA-F]{1,16}$/.test(v)) size = BigInt(v);
    if (size !== undefined && values.includes(size)) return size;
    ctx.addIssue({ code: "custom", message: `${hint}, got ${JSON.stringify(v)}` });
    return z.NEVER;
  });
}

export const pageSize = pageSizeOf({ "4K": 1n << 12n, "2M": 1n << 21n, "1G": 1n << 30n }, 'expected a page size of "4K", "2M" or "1G" (or its bytes: "0x1000", "0x200000", "0x40000000")');

/** A mapping's permissions: letters of r, w, x in that order. */
export const permLetters = z.string().regex(/^r?w?x?$/, { message: 'expected permission letters in the order "rwx", e.g. "rw" or "r"' });

/** The keys of a `build` mapping every architecture has (its page size and attributes are its own). */
export const mappingShape = { iova: u64, pa: u64, size: u64, /** Default "rw". */ perm: permLetters.optional() };

/**
 * A device's BDF, "bb:dd.f" or "ssss:bb:dd.f", as segment<<16 | bus<<8 | device<<3 | function (the
 * trace's SID). `segments` false: only segment 0, any other an issue saying so (VT-d: a scenario
 * describes one DMAR unit, of segment 0); true: any segment (SMMUv3: its root complexes' segments).
 */
function bdfOf(segments: boolean) {
  return z.string().transform((v, ctx) => {
    const sid = parseBdf(v);
    if (sid === undefined) {
      ctx.addIssue({ code: "custom", message: `expected a BDF like "00:02.0"${segments ? ' or "0001:00:02.0"' : ""}, got ${quote(v)}` });
      return z.NEVER;
    }
    if (sid >= 0x10000 && !segments) {
      ctx.addIssue({ code: "custom", message: `segment ${v.slice(0, 4)} in ${quote(v)}: this unit's devices are in segment 0000 (write "${v.slice(5)}")` });
      return z.NEVER;
    }
    return sid;
  });
}
/** A device of segment 0 ("0000:" may be written). */
export const bdf = bdfOf(false);
/** A device of any segment. */
export const bdfWithSegment = bdfOf(true);

/** A capability register: a full value, or named fields overriding the default profile. */
export function register<F extends Record<string, readonly [number, number]>>(fields: F) {
  const byField = z.strictObject(Object.fromEntries(Object.keys(fields).map((k) => [k, u64.optional()])) as { [K in keyof F]: z.ZodOptional<typeof u64> });
  return z.union([u64, byField]);
}

export interface CatalogueEntry {
  type: string;
  default: string | number | boolean;
  unit: string;
  doc: string;
}

const policyType = policyNames.map((p) => JSON.stringify(p)).join(" | ");

/** One row per knob of every cache (DESIGN §4: every cache is {entries, assoc, policy, enable}). */
function cacheCatalogue(): Record<string, CatalogueEntry> {
  const out: Record<string, CatalogueEntry> = {};
  for (const name of cacheNames) {
    const d = defaultCaches[name];
    out[`${name}.entries`] = { type: `integer 0..${1 << 20}`, default: d.entries, unit: "entries", doc: `${cacheDocs[name]}. 0: no such cache.` };
    out[`${name}.assoc`] = { type: "integer >= 0", default: d.assoc, unit: "ways", doc: "Ways per set, 0 = fully associative; entries must be a multiple of the ways (any number of sets)." };
    out[`${name}.policy`] = { type: policyType, default: d.policy, unit: "", doc: "Replacement policy (plru needs a power-of-two number of ways)." };
    out[`${name}.enable`] = { type: "boolean", default: d.enable, unit: "", doc: "false: the model has no such cache (every access reads guest memory)." };
    const untimed = name === "deviceTlb" ? " The device's own lookup, timed as part of a translated request." : "";
    out[`${name}.latencyCycles`] = { type: "integer 0..1000000", default: d.latencyCycles, unit: "cycles", doc: `Timing: cycles from a lookup to its hit or miss.${untimed}` };
    out[`${name}.ports`] = { type: "integer 1..16", default: d.ports, unit: "lookups/cycle", doc: `Timing: lookups the cache accepts per cycle (pipelined; more wait for a free port).${untimed}` };
  }
  return out;
}

const presetType = presetNames.map((p) => JSON.stringify(p)).join(" | ");

/** The timing model's knobs (config/timing.ts), with the presets (README "Timing presets"). */
const timingCatalogue: Record<`timing.${keyof TimingConfig | "preset"}`, CatalogueEntry> = {
  "timing.preset": {
    type: presetType,
    default: "vtd-default",
    unit: "",
    doc: "Named cache and timing values (table \"Timing presets\": this model's defaults, gem5's SMMUv3 defaults, HyperSIO's published figures); the scenario's own cache and timing keys override it, `--preset` replaces it.",
  },
  "timing.enable": { type: "boolean", default: defaultTiming.enable, unit: "", doc: "false: a functional run (no cycles, no latency in results; identical translations, faults and counters), as `--functional`." },
  "timing.clockMHz": { type: "number, 0 < MHz <= 1000000", default: defaultTiming.clockMHz, unit: "MHz", doc: "IOMMU clock: converts ns/us trace times to cycles and cycles to ns and translations per second." },
  "timing.walkerSlots": { type: "integer 1..4096", default: defaultTiming.walkerSlots, unit: "walks", doc: "Page walks in flight at once; a walk holds its slot from the IOTLB miss to the end of its request's reads and writes." },
  "timing.translationSlots": { type: "integer 1..4096", default: defaultTiming.translationSlots, unit: "translations", doc: "Translations outstanding at once; a request arriving with none free waits (stall cycles)." },
  "timing.coalesce": { type: "boolean", default: defaultTiming.coalesce, unit: "", doc: "A hit on an IOTLB entry whose filling walk is still in flight waits for that walk (true) or walks again at its cost (false)." },
  "timing.completionOrder": { type: '"in-order" | "out-of-order"', default: defaultTiming.completionOrder, unit: "", doc: "Completions in order per requester (source ID), or out of order (hits may pass misses)." },
  "timing.structureReadLatencyCycles": { type: "integer >= 0", default: defaultTiming.structureReadLatencyCycles, unit: "cycles", doc: "Memory read of a root, context, PASID-directory or PASID-table entry." },
  "timing.readLatencyCycles": { type: "integer >= 0, or 5 of them", default: defaultTiming.readLatencyCycles as number, unit: "cycles", doc: "Memory read of a paging entry: one value, or one per spec level 1..5 (4 KiB table first)." },
  "timing.adWriteLatencyCycles": { type: "integer >= 0", default: defaultTiming.adWriteLatencyCycles, unit: "cycles", doc: "Accessed/dirty flag write-back (in sequence within the request)." },
  "timing.invDescriptorFetchCycles": { type: "integer >= 0", default: defaultTiming.invDescriptorFetchCycles, unit: "cycles", doc: "Invalidation work: per queued descriptor fetched (counted, does not delay translations)." },
  "timing.invPerEntryCycles": { type: "integer >= 0", default: defaultTiming.invPerEntryCycles, unit: "cycles", doc: "Invalidation work: per cache entry removed." },
  "timing.invWaitCycles": { type: "integer >= 0", default: defaultTiming.invWaitCycles, unit: "cycles", doc: "Invalidation work: per wait descriptor completed (status write)." },
  "timing.linkLatencyCycles": { type: "integer >= 0", default: defaultTiming.linkLatencyCycles, unit: "cycles", doc: "SMMUv3: one crossing of the link between the device interface (micro-TLB, main TLB) and the SMMU, paid there and back by a transaction that misses both TLBs (gem5 ifc_smmu_lat, smmu_ifc_lat). Not used on VT-d." },
  "timing.arrival": { type: '"trace" | "back-to-back"', default: defaultTiming.arrival, unit: "", doc: "trace: the trace's times (a TLP without one arrives with the line before it); back-to-back: all at cycle 0, paced by the translation slots." },
  "timing.injectionRate": { type: "number >= 0", default: defaultTiming.injectionRate, unit: "TLPs/cycle", doc: "When > 0: TLP i arrives at cycle floor(i / rate), whatever `arrival` says; 0: off." },
};

/** Every tunable option: type, default, unit and one-line doc (README table generated from it). */
export const parameterCatalogue: Record<string, CatalogueEntry> = {
  "platform.physAddrBits": { type: "integer 32..52", default: 52, unit: "bits", doc: "Host address width (HAW): address bits from HAW to 51 in table pointers and entries are reserved." },
  "platform.honoursNoSnoop": { type: "boolean", default: true, unit: "", doc: "The root complex honours No-Snoop (the wbinvd report's third condition): false when it snoops every access whatever the TLP says." },
  "snoop.nestedSsLeafSnp": { type: "boolean", default: false, unit: "", doc: "Nested translation: the SNP bit of the SS leaf that maps the final GPA forces snooping (with ECAP.SC=1). The spec is unclear; Linux sets PGSNP instead." },
  "snoop.passThroughPgsnp": { type: "boolean", default: true, unit: "", doc: "Pass-through (PGTT=100): PGSNP=1 forces snooping, as spec 3.9 words it for every scalable-mode access." },
  "snoop.snpReservedWithoutSc": { type: "boolean", default: false, unit: "", doc: "With ECAP.SC=0 the SS-leaf SNP bit is reserved (fault) instead of ignored (real hardware ignored it for Linux 5.13-5.18)." },
  "snoop.pgsnpWithoutSc": { type: '"reserved" | "ignored" | "honoured"', default: "reserved", unit: "", doc: "What PGSNP=1 means with ECAP.SC=0: a reserved-bit fault (SPT.3, newer spec), ignored, or honoured (spec 3.2)." },
  "driver.invalidation": {
    type: '"strict" | "lazy"',
    default: defaultDriverOptions.invalidation,
    unit: "",
    doc: "How the driver invalidates after a trace's unmap: strict (at once, page-selective, as iommu.strict=1) or lazy (Linux's flush queue: deferred, then domain-selective).",
  },
  "driver.lazyBatch": { type: "integer >= 1", default: defaultDriverOptions.lazyBatch, unit: "unmaps", doc: "Lazy mode: flush a domain's queue when it holds this many of its unmaps (Linux IOVA_FQ_SIZE, per domain)." },
  "driver.lazyTimeoutCycles": {
    type: "integer >= 0",
    default: defaultDriverOptions.lazyTimeoutCycles,
    unit: "cycles",
    doc: "Lazy mode: flush a domain's queue once the arrival time reaches this long after its oldest deferred unmap (Linux IOVA_FQ_TIMEOUT: 10 ms at 1 GHz; ns/us trace times convert at `timing.clockMHz`).",
  },
  "driver.refusals": {
    type: '"error" | "results"',
    default: "error",
    unit: "",
    doc: "A driver event the driver refuses: an input error (exit 2), or, for traces that test refusals, a `refused` result line (`--results`) counted in the summary, the replay going on; `run --refusals` overrides it.",
  },
  ...timingCatalogue,
  ...cacheCatalogue(),
};

/**
 * A cache's geometry and timing: every key optional (the preset's, then the catalogue's defaults);
 * the whole is checked with cacheGeometryError by checkConfig, once the preset is known.
 */
const cacheSchema = z.strictObject({
  entries: z.number().int().min(0).max(1 << 20).optional(),
  assoc: z.number().int().min(0).optional(),
  policy: z.enum(policyNames).optional(),
  enable: z.boolean().optional(),
  latencyCycles: z.number().int().min(0).max(1_000_000).optional(),
  ports: z.number().int().min(1).max(16).optional(),
});

const cachesConfig = Object.fromEntries(cacheNames.map((n) => [n, cacheSchema.optional()])) as {
  [K in CacheName]: z.ZodOptional<typeof cacheSchema>;
};

/**
 * `config.timing`: every TimingConfig key (types here; ranges by resolveTiming in checkConfig, so
 * they are stated once) and the preset.
 */
const timingKeys = {
  preset: z.enum(presetNames, { message: `expected one of ${presetType}` }).optional(),
  enable: z.boolean().optional(),
  clockMHz: z.number().optional(),
  walkerSlots: z.number().optional(),
  translationSlots: z.number().optional(),
  coalesce: z.boolean().optional(),
  completionOrder: z.enum(["in-order", "out-of-order"]).optional(),
  structureReadLatencyCycles: z.number().optional(),
  readLatencyCycles: z
    .custom<number | number[]>((v) => typeof v === "number" || (Array.isArray(v) && v.every((x) => typeof x === "number")), {
      message: "expected a number of cycles, or an array of 5 (spec levels 1..5)",
    })
    .optional(),
  adWriteLatencyCycles: z.number().optional(),
  invDescriptorFetchCycles: z.number().optional(),
  invPerEntryCycles: z.number().optional(),
  invWaitCycles: z.number().optional(),
  linkLatencyCycles: z.number().optional(),
  arrival: z.enum(["trace", "back-to-back"]).optional(),
  injectionRate: z.number().optional(),
} satisfies Record<keyof TimingConfig | "preset", z.ZodType>;
const timingSchema = z.strictObject(timingKeys);

/**
 * The keys of `config` every architecture has; an architecture adds its own (VT-d: `snoop`) in its
 * member of the scenario union (src/arch/NAME/scenario.ts).
 */
export const configShape = {
  platform: z.strictObject({ physAddrBits: z.number().int().min(32).max(52).optional(), honoursNoSnoop: z.boolean().optional() }).optional(),
  driver: z
    .strictObject({
      invalidation: z.enum(["strict", "lazy"]).optional(),
      lazyBatch: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
      lazyTimeoutCycles: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
      refusals: z.enum(["error", "results"]).optional(),
    })
    .optional(),
  timing: timingSchema.optional(),
  /** Budgets (config/limits.ts): each a positive integer. */
  limits: z
    .strictObject(
      Object.fromEntries(
        limitNames.map((n) => {
          const message = `expected a positive integer (${limitCatalogue[n].unit})`;
          return [n, z.number({ message }).int({ message }).min(1, { message }).max(MAX_LIMIT, { message }).optional()];
        }),
      ) as { [K in LimitName]: z.ZodOptional<z.ZodNumber> },
    )
    .optional(),
  ...cachesConfig,
};

/**
 * The keys of a scenario every architecture has. An architecture's member of the scenario union
 * (src/arch/NAME/scenario.ts) adds `arch` (its literal), its `registers` and `build`, and its
 * `config` (configShape and its own keys).
 */
export const commonScenarioShape = {
  description: z.string().optional(),
  memory: z.array(z.strictObject({ addr: u64, u64: z.array(u64) })).optional(),
  trace: z.union([z.string(), z.array(z.string())]).optional(),
  /** The PCI topology (src/iommu/topology.ts; README "Scenario format"), from which `iommu-emu groups` computes the IOMMU groups. */
  topology: topologySchema.optional(),
  /** Which kernel's rule makes the groups of `topology` (src/iommu/groups.ts; README "Groups"); default "linux-6.12". */
  groupRule: z.enum(groupRules, { message: `expected one of ${groupRules.map((r) => JSON.stringify(r)).join(" | ")} (the kernel rule that makes the IOMMU groups)` }).optional(),
  /** The drivers bound before the trace starts (src/iommu/drivers.ts; README "Driver side"). */
  drivers: driversSchema.optional(),
  /** Domains allocated before the trace starts, as `domain-alloc` (src/iommu/domains.ts; README "Driver side"). */
  domainAlloc: domainAllocSchema.optional(),
  /** The VMs: PASID quotas and devices assigned whole (src/iommu/vms.ts; README "VMs, PASID allocation and mediated devices"). */
  vms: vmsSchema.optional(),
  /** The PASID space: "system" (VT-d default) or "per-device" (SMMUv3 default) (src/iommu/pasid.ts). */
  pasidSpace: pasidSpaceSchema.optional(),
  /** Devices' reserved regions beyond the platform's (src/iommu/regions.ts; README "PASIDs and reserved regions"). */
  reservedRegions: reservedRegionsSchema.optional(),
};

/** What the neutral loader and checkConfig read of any scenario's `config`. */
export type ScenarioConfig = { [K in keyof typeof configShape]?: z.output<(typeof configShape)[K]> };

/** What checkConfig found wrong, at the path of the key (or object) that is wrong. */
export interface ConfigIssue {
  path: (string | number)[];
  message: string;
}

const defined = <T extends object>(o: T | undefined): Partial<T> =>
  Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;

/** The preset in force: the override (CLI --preset), else config.timing.preset, else the architecture's default. */
export function presetOf(config: ScenarioConfig | undefined, override: PresetName | undefined, fallback: PresetName): PresetName {
  return override ?? config?.timing?.preset ?? fallback;
}

/** The scenario's timing keys (without the preset), for the Platform's `timing` over the preset's. */
export function timingOf(config: ScenarioConfig | undefined): Partial<TimingConfig> {
  const { preset: _, ...rest } = defined(config?.timing);
  return rest as Partial<TimingConfig>;
}

/** The scenario's cache keys, for the Platform's `caches` over the preset's. */
export function cachesOf(config: ScenarioConfig | undefined): Partial<Record<CacheName, Partial<CacheConfig>>> {
  const out: Partial<Record<CacheName, Partial<CacheConfig>>> = {};
  for (const name of cacheNames) if (config?.[name]) out[name] = defined(config[name]) as Partial<CacheConfig>;
  return out;
}

/**
 * The checks that need the whole configuration: each cache's geometry (catalogue defaults, then
 * the preset's values, then the scenario's) and the timing parameters through resolveTiming (the
 * preset's, then the scenario's). The first problem, at the path of the key that carries it.
 */
export function checkConfig(config: ScenarioConfig | undefined, presetOverride: PresetName | undefined, defaultPreset: PresetName): ConfigIssue | undefined {
  const preset = presets[presetOf(config, presetOverride, defaultPreset)];
  const caches = cachesOf(config);
  for (const name of cacheNames) {
    const err = cacheGeometryError({ ...defaultCaches[name], ...preset.caches[name], ...caches[name] });
    if (err) return caches[name] ? { path: ["config", name], message: err } : { path: ["config"], message: `${name}: ${err}` };
  }
  try {
    resolveTiming({ ...preset.timing, ...timingOf(config) });
  } catch (e) {
    const m = /^timing\.(\w+)(?:\[(\d+)\])? (.*)$/s.exec((e as Error).message);
    if (!m) return { path: ["config", "timing"], message: (e as Error).message };
    const path: (string | number)[] = ["config", "timing", m[1]!];
    if (m[2] !== undefined) path.push(Number(m[2]));
    return { path, message: m[3]! };
  }
  return undefined;
}
