/**
 * SMMUv3's member of the scenario schema's union on `arch` (src/config/scenario-schema.ts) and how
 * the loader sets an SMMUv3 platform up from it: `registers` (IDR0/1/3/5 as values or named
 * fields over the default profile; CR0, CR1, CR2, GBPA, the stream table and queue registers),
 * `build` (tableBase, domains with their mappings, devices and substreams) and `config.smmu`
 * (CANWBS). Every problem is an InputError at the scenario key that causes it.
 */
import { z } from "zod";
import { bdfWithSegment, commonScenarioShape, configShape, mappingShape, pageSizeOf, u64 } from "../../config/schema.ts";
import type { ArchScenario, ScenarioContext, SetupProgress } from "../types.ts";
import { registerValue } from "../fields.ts";
import { formatBdf } from "../../trace/events.ts";
import { registerFields } from "./fields.ts";
import { defaultIdRegisters, profileOf, type IdRegisters, type SmmuRegisterName } from "./registers.ts";
import type { SmmuBuilder } from "./builder.ts";
import type { SmmuPlatformOptions } from "./options.ts";
import { rootComplexSchema, streamMapOf } from "./iort.ts";
import { msiDoorbellsSchema, swMsiSchema } from "./regions.ts";

/** A VMSA page or block size: a name, or its bytes. */
const vmsaPageSize = pageSizeOf(
  { "4K": 1n << 12n, "16K": 1n << 14n, "64K": 1n << 16n, "2M": 1n << 21n, "32M": 1n << 25n, "512M": 1n << 29n, "1G": 1n << 30n },
  'expected a page size of "4K", "16K", "64K", "2M", "32M", "512M" or "1G" (or its bytes as "0x…")',
);

const GRANULES = { "4K": 12, "16K": 14, "64K": 16 } as const;

const mapping = z.strictObject({
  ...mappingShape,
  pageSize: vmsaPageSize.optional(),
  priv: z.boolean().optional(),
  cache: z.boolean().optional(),
  mmio: z.boolean().optional(),
});

const domain = z.strictObject({
  id: z.number().int().min(0),
  type: z.enum(["s1", "s2", "nested", "identity", "blocking"]),
  granule: z.enum(["4K", "16K", "64K"], { message: 'expected a granule of "4K", "16K" or "64K"' }).optional(),
  inputBits: z.number().int().min(25).max(48).optional(),
  parent: z.number().int().optional(),
  asid: z.number().int().min(0).max(0xffff).optional(),
  vmid: z.number().int().min(1).max(0xffff).optional(),
  nestParent: z.boolean().optional(),
  /** Unmap invalidation of this domain (absent: config.driver.invalidation). */
  invalidation: z.enum(["strict", "lazy"], { message: 'expected "strict" or "lazy"' }).optional(),
  mappings: z.array(mapping).optional(),
});

const device = z.strictObject({
  /** segment<<16 | RID: the StreamID through config.smmu.rootComplexes (the identity without it, segment 0 only). */
  bdf: bdfWithSegment,
  domain: z.number().int(),
  /** SubstreamID (PASID): the domain serves this substream of the device. */
  ssid: z.number().int().min(1).max(0xfffff).optional(),
  /** SubstreamID bits of the device's CD table (default: IDR1.SSIDSIZE when it has substreams, else 0). */
  ssidBits: z.number().int().min(0).max(20).optional(),
  ats: z.boolean().optional(),
});

const registerShape = Object.fromEntries(
  (Object.keys(registerFields) as SmmuRegisterName[]).map((n) => {
    const fields = registerFields[n];
    if (Object.keys(fields).length === 0) return [n, u64.optional()];
    const byField = z.strictObject(Object.fromEntries(Object.keys(fields).map((k) => [k, u64.optional()])));
    return [n, z.union([u64, byField]).optional()];
  }),
) as { [K in SmmuRegisterName]: z.ZodOptional<z.ZodType<bigint | Record<string, bigint | undefined>>> };

export const smmuScenarioSchema = z.strictObject({
  arch: z.literal("smmuv3"),
  ...commonScenarioShape,
  registers: z.strictObject(registerShape).optional(),
  build: z
    .strictObject({
      tableBase: u64.optional(),
      domains: z.array(domain).optional(),
      devices: z.array(device).optional(),
    })
    .optional(),
  config: z
    .strictObject({
      ...configShape,
      smmu: z
        .strictObject({ canwbs: z.boolean().optional(), tlbConflict: z.enum(["ignore", "event"]).optional(), rootComplexes: z.array(rootComplexSchema).optional(), swMsi: swMsiSchema.optional(), msiDoorbells: msiDoorbellsSchema.optional() })
        .optional(),
    })
    .optional(),
});

export type SmmuScenario = z.output<typeof smmuScenarioSchema>;

/** The non-identification registers, in the order they are written (CR0 last: it turns things on). */
const programmed = ["CR1", "CR2", "GBPA", "STRTAB_BASE", "STRTAB_BASE_CFG", "CMDQ_BASE", "CMDQ_PROD", "CMDQ_CONS", "EVENTQ_BASE", "EVENTQ_PROD", "EVENTQ_CONS", "CR0"] as const;

/** A register value that does not fit: at the field's key (registerValue names it) or the register's. */
function registerProblem(ctx: ScenarioContext, name: string, e: unknown): never {
  const m = /^(registers\.[A-Z0-9_]+\.[A-Z0-9_]+): (.*)$/s.exec((e as Error).message);
  if (m) throw ctx.problemAt(m[1]!, m[2]!);
  return ctx.fail(`registers.${name}`, e);
}

export const smmuScenario: ArchScenario<SmmuBuilder, SmmuPlatformOptions, typeof smmuScenarioSchema> = {
  schema: smmuScenarioSchema,

  msiOptions(scenario) {
    const smmu = scenario.config?.smmu;
    return { ...(smmu?.swMsi ? { swMsi: smmu.swMsi } : {}), doorbells: smmu?.msiDoorbells ?? [], doorbellsKey: "config.smmu.msiDoorbells" };
  },

  platformOptions(scenario, ctx) {
    const regs = scenario.registers ?? {};
    const idr = { ...defaultIdRegisters } as IdRegisters;
    for (const name of Object.keys(defaultIdRegisters) as (keyof IdRegisters)[]) {
      try {
        idr[name] = registerValue(defaultIdRegisters[name], regs[name], registerFields[name], name);
      } catch (e) {
        registerProblem(ctx, name, e);
      }
      if (idr[name] >> 32n) throw ctx.problemAt(`registers.${name}`, `0x${idr[name].toString(16)} does not fit the 32-bit register`);
    }
    const build = scenario.build ?? {};
    if (build.tableBase !== undefined) {
      if (build.tableBase & 0xfffn) throw ctx.problemAt("build.tableBase", `0x${build.tableBase.toString(16)} is not 4 KiB aligned (tables are 4 KiB pages)`);
      if (build.tableBase >> BigInt(ctx.physAddrBits) !== 0n)
        throw ctx.problemAt("build.tableBase", `0x${build.tableBase.toString(16)} is not below 2^${ctx.physAddrBits}, the host address width (config.platform.physAddrBits)`);
    }
    // CANWBS is one platform flag without a map, each root complex's own with one: not both.
    const smmu = scenario.config?.smmu;
    if (smmu?.rootComplexes !== undefined && smmu.canwbs !== undefined)
      throw ctx.problemAt("config.smmu.canwbs", "not with config.smmu.rootComplexes: give each root complex its own `canwbs`");
    const streamMap = smmu?.rootComplexes && streamMapOf(smmu.rootComplexes, profileOf(idr).sidBits, "config.smmu.rootComplexes", ctx.problemAt);
    return { idr, canwbs: smmu?.canwbs, tlbConflict: smmu?.tlbConflict, streamMap, tableBase: build.tableBase };
  },

  *build(platform, scenario, ctx): Generator<SetupProgress, void, void> {
    const { core, builder: b } = platform;
    const { problemAt, fail } = ctx;
    const build = scenario.build ?? {};
    const domains = build.domains ?? [];
    const devices = build.devices ?? [];
    const total = domains.reduce((n, d) => n + (d.mappings?.length ?? 0), 0) + devices.length;
    let done = 0;
    for (let i = 0; i < domains.length; i++) {
      const d = domains[i]!;
      let dom;
      try {
        dom = b.createDomain({ id: d.id, type: d.type, granuleLg2: d.granule && GRANULES[d.granule], inputBits: d.inputBits, parent: d.parent, asid: d.asid, vmid: d.vmid, nestParent: d.nestParent ?? domains.some((x) => x.type === "nested" && x.parent === d.id) });
      } catch (e) {
        return fail(`build.domains[${i}]`, e);
      }
      if (d.invalidation !== undefined) {
        if (!dom.pgtable) throw problemAt(`build.domains[${i}].invalidation`, `domain ${d.id} is ${dom.type}: it has no mappings to unmap, so no invalidation policy`);
        dom.invalidation = d.invalidation;
      }
      const mappings = d.mappings ?? [];
      for (let j = 0; j < mappings.length; j++) {
        const m = mappings[j]!;
        const key = `build.domains[${i}].mappings[${j}]`;
        const perm = m.perm ?? "rw";
        try {
          for (const _ of b.mapSteps(dom, { iova: m.iova, pa: m.pa, size: m.size, pageSize: m.pageSize, read: perm.includes("r"), write: perm.includes("w"), exec: perm.includes("x"), priv: m.priv, cache: m.cache, mmio: m.mmio }));
        } catch (e) {
          fail(key, e);
        }
        yield { done: ++done, total, key };
      }
    }
    // A device's CD table is sized once, at its first attach: the SubstreamID bits its entries ask
    // for, or IDR1.SSIDSIZE when any entry of it names a substream.
    // Devices by StreamID: firmware's map of their segment and RID (the identity without one).
    const sids = devices.map((d, i) => {
      if (d.bdf > 0xffff && !scenario.config?.smmu?.rootComplexes)
        throw problemAt(`build.devices[${i}].bdf`, `${formatBdf(d.bdf)} is not in segment 0: a segment needs config.smmu.rootComplexes naming it`);
      try {
        return b.streamIdOf(d.bdf);
      } catch (e) {
        return fail(`build.devices[${i}].bdf`, e);
      }
    });
    const ssidBits = new Map<number, number>();
    devices.forEach((d, i) => {
      const want = d.ssidBits ?? (d.ssid !== undefined ? b.profile.ssidBits : 0);
      ssidBits.set(sids[i]!, Math.max(ssidBits.get(sids[i]!) ?? 0, want));
    });
    const seen = new Map<string, number>();
    for (let i = 0; i < devices.length; i++) {
      const key = `build.devices[${i}]`;
      const d = devices[i]!;
      const entry = `${d.bdf}:${d.ssid ?? ""}`;
      const first = seen.get(entry);
      if (first !== undefined) throw problemAt(key, `${formatBdf(d.bdf)}${d.ssid !== undefined ? ` SubstreamID ${d.ssid}` : ""} is already attached by build.devices[${first}]`);
      seen.set(entry, i);
      try {
        b.attach({ sid: sids[i]!, domain: d.domain, ssid: d.ssid, ssidBits: ssidBits.get(sids[i]!), ats: d.ats });
      } catch (e) {
        fail(key, e);
      }
      yield { done: ++done, total, key };
    }

    // Registers: what Linux's reset programs when anything was built or a stream table is named,
    // each overridden by the scenario's own; else only the scenario's (CR0 stays 0: GBPA decides).
    const regs = scenario.registers ?? {};
    const on = domains.length > 0 || devices.length > 0 || regs.STRTAB_BASE !== undefined || regs.CR0 !== undefined;
    let values: Partial<Record<(typeof programmed)[number], bigint>> = {};
    try {
      if (on) values = b.registers();
    } catch (e) {
      fail("build", e);
    }
    for (const name of programmed) {
      let v: bigint;
      try {
        v = registerValue(values[name] ?? 0n, regs[name], registerFields[name], name);
      } catch (e) {
        return registerProblem(ctx, name, e);
      }
      if (regs[name] === undefined && values[name] === undefined) continue;
      const wide = name === "STRTAB_BASE" || name === "CMDQ_BASE" || name === "EVENTQ_BASE";
      if (!wide && v >> 32n) throw problemAt(`registers.${name}`, `0x${v.toString(16)} does not fit the 32-bit register`);
      core.setRegister(name, v);
    }
  },
};
