/**
 * The scenario schema (shared/DESIGN.md §3): one zod schema, strict everywhere so unknown keys are
 * errors with their path. 64-bit values are "0x…" strings; small numbers may be plain numbers.
 * Each option carries its default and a one-line doc in `parameterCatalogue`, from which the
 * README table is generated.
 */
import { z } from "zod";
import { capFields, ecapFields } from "./vtd-regs.ts";
import { cacheNames, policyNames, type CacheName } from "../core/abi.ts";
import { cacheDocs, cacheGeometryError, defaultCaches, type CacheConfig } from "./caches.ts";
import { defaultDriverOptions } from "../guest/vtd-driver.ts";

/** A 64-bit value: "0x…" hex string, or a non-negative safe integer. */
export const u64 = z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === "number") {
    if (Number.isSafeInteger(v) && v >= 0) return BigInt(v);
    ctx.addIssue({ code: "custom", message: `expected a non-negative integer or a "0x…" string, got ${v}` });
    return z.NEVER;
  }
  if (/^0x[0-9a-fA-F]{1,16}$/.test(v)) return BigInt(v);
  if (/^[0-9]{1,20}$/.test(v) && BigInt(v) < 1n << 64n) return BigInt(v);
  ctx.addIssue({ code: "custom", message: `expected a 64-bit value like "0x1000", got ${JSON.stringify(v)}` });
  return z.NEVER;
});

const pageSize = z.union([z.enum(["4K", "2M", "1G"]), u64]).transform((v, ctx) => {
  const size = typeof v === "string" ? { "4K": 1n << 12n, "2M": 1n << 21n, "1G": 1n << 30n }[v] : v;
  if (size === 1n << 12n || size === 1n << 21n || size === 1n << 30n) return size;
  ctx.addIssue({ code: "custom", message: `expected a page size of "4K", "2M" or "1G"` });
  return z.NEVER;
});

const bdf = z.string().transform((v, ctx) => {
  const m = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([01][0-9a-fA-F])\.([0-7])$/.exec(v);
  if (!m || parseInt(m[3]!, 16) > 0x1f) {
    ctx.addIssue({ code: "custom", message: `expected a BDF like "00:02.0", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return (parseInt(m[2]!, 16) << 8) | (parseInt(m[3]!, 16) << 3) | parseInt(m[4]!, 10);
});

/** A capability register: a full value, or named fields overriding the default profile. */
function register<F extends Record<string, readonly [number, number]>>(fields: F) {
  const byField = z.strictObject(Object.fromEntries(Object.keys(fields).map((k) => [k, u64.optional()])) as { [K in keyof F]: z.ZodOptional<typeof u64> });
  return z.union([u64, byField]);
}

const mapping = z.strictObject({
  iova: u64,
  pa: u64,
  size: u64,
  pageSize: pageSize.optional(),
  /** Letters of r, w, x: read, write, execute (first stage: x clears XD). Default "rw". */
  perm: z.string().regex(/^r?w?x?$/, { message: 'expected permission letters in the order "rwx", e.g. "rw" or "r"' }).optional(),
  user: z.boolean().optional(),
  global: z.boolean().optional(),
  snp: z.boolean().optional(),
});

const domain = z.strictObject({
  id: z.number().int().min(0).max(0xffff),
  type: z.enum(["ss", "fs", "nested", "pt"]),
  levels: z.number().int().min(3).max(5).optional(),
  parent: z.number().int().optional(),
  forceSnoop: z.boolean().optional(),
  presetAccessed: z.boolean().optional(),
  mappings: z.array(mapping).optional(),
});

const device = z.strictObject({
  bdf,
  pasid: z.number().int().min(0).max(0xfffff).optional(),
  domain: z.number().int(),
  ats: z.boolean().optional(),
  pri: z.boolean().optional(),
  paside: z.boolean().optional(),
  pasidBits: z.number().int().min(1).max(20).optional(),
  ridPasid: z.number().int().min(0).max(0xfffff).optional(),
  pgsnp: z.boolean().optional(),
  fpd: z.boolean().optional(),
  sre: z.boolean().optional(),
  ere: z.boolean().optional(),
  wpe: z.boolean().optional(),
  smep: z.boolean().optional(),
  nxe: z.boolean().optional(),
  eafe: z.boolean().optional(),
  ssade: z.boolean().optional(),
  pwsnp: z.boolean().optional(),
});

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
    out[`${name}.assoc`] = { type: "integer >= 0", default: d.assoc, unit: "ways", doc: "Ways per set, 0 = fully associative; entries / ways must be a power of two." };
    out[`${name}.policy`] = { type: policyType, default: d.policy, unit: "", doc: "Replacement policy (plru needs a power-of-two number of ways)." };
    out[`${name}.enable`] = { type: "boolean", default: d.enable, unit: "", doc: "false: the model has no such cache (every access reads guest memory)." };
  }
  return out;
}

/** Every tunable option: type, default, unit and one-line doc (README table generated from it). */
export const parameterCatalogue: Record<string, CatalogueEntry> = {
  "platform.physAddrBits": { type: "integer 32..52", default: 52, unit: "bits", doc: "Host address width (HAW): address bits from HAW to 51 in table pointers and entries are reserved." },
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
  "driver.lazyBatch": { type: "integer >= 1", default: defaultDriverOptions.lazyBatch, unit: "unmaps", doc: "Lazy mode: flush when this many unmaps are deferred (Linux IOVA_FQ_SIZE)." },
  "driver.lazyTimeoutCycles": {
    type: "integer >= 0",
    default: defaultDriverOptions.lazyTimeoutCycles,
    unit: "cycles",
    doc: "Lazy mode: flush once the trace time reaches this long after the oldest deferred unmap (Linux IOVA_FQ_TIMEOUT, 10 ms; ns/us trace times count 1 cycle per ns).",
  },
  ...cacheCatalogue(),
};

/** A cache's geometry: every key optional (catalogue defaults), the whole checked with cacheGeometryError. */
function cacheSchema(name: CacheName) {
  return z
    .strictObject({
      entries: z.number().int().min(0).max(1 << 20).optional(),
      assoc: z.number().int().min(0).optional(),
      policy: z.enum(policyNames).optional(),
      enable: z.boolean().optional(),
    })
    .superRefine((c, ctx) => {
      const given = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as Partial<CacheConfig>;
      const err = cacheGeometryError({ ...defaultCaches[name], ...given });
      if (err) ctx.addIssue({ code: "custom", message: err });
    });
}

const cachesConfig = Object.fromEntries(cacheNames.map((n) => [n, cacheSchema(n).optional()])) as {
  [K in CacheName]: z.ZodOptional<ReturnType<typeof cacheSchema>>;
};

const config = z.strictObject({
  platform: z.strictObject({ physAddrBits: z.number().int().min(32).max(52).optional() }).optional(),
  snoop: z
    .strictObject({
      nestedSsLeafSnp: z.boolean().optional(),
      passThroughPgsnp: z.boolean().optional(),
      snpReservedWithoutSc: z.boolean().optional(),
      pgsnpWithoutSc: z.enum(["reserved", "ignored", "honoured"]).optional(),
    })
    .optional(),
  driver: z
    .strictObject({
      invalidation: z.enum(["strict", "lazy"]).optional(),
      lazyBatch: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
      lazyTimeoutCycles: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    })
    .optional(),
  ...cachesConfig,
});

export const scenarioSchema = z.strictObject({
  arch: z.literal("vtd", { message: 'expected "vtd" (SMMUv3 is not modelled yet)' }),
  description: z.string().optional(),
  registers: z
    .strictObject({
      CAP: register(capFields).optional(),
      ECAP: register(ecapFields).optional(),
      RTADDR: u64.optional(),
      GCMD: u64.optional(),
    })
    .optional(),
  memory: z.array(z.strictObject({ addr: u64, u64: z.array(u64) })).optional(),
  build: z
    .strictObject({
      mode: z.enum(["scalable", "legacy"]).optional(),
      tableBase: u64.optional(),
      domains: z.array(domain).optional(),
      devices: z.array(device).optional(),
    })
    .optional(),
  trace: z.union([z.string(), z.array(z.string())]).optional(),
  config: config.optional(),
});

export type Scenario = z.output<typeof scenarioSchema>;
