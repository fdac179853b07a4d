/**
 * VT-d's member of the scenario schema's union on `arch` (src/config/scenario-schema.ts) and how
 * the loader (src/scenario.ts) sets a VT-d platform up from it: `registers` (CAP and ECAP as values
 * or named fields over the default profile, RTADDR, GCMD), `build` (mode, tableBase, domains with
 * their mappings, devices) and `config.snoop`. Every problem is an InputError at the scenario key
 * that causes it.
 */
import { z } from "zod";
import { bdf, commonScenarioShape, configShape, mappingShape, pageSize, register, u64 } from "../../config/schema.ts";
import type { ArchScenario, SetupProgress } from "../types.ts";
import { formatBdf } from "../../trace/events.ts";
import { DEFAULT_CAP, DEFAULT_ECAP, capFields, ecapFields } from "./registers.ts";
import { registerValue } from "../fields.ts";
import { attachBudgetProblem, levelsProblem, mapBudgetProblem, rangeProblem } from "./checks.ts";
import type { VtdBuilder } from "./builder.ts";
import type { VtdPlatformOptions } from "./options.ts";

/** A mapping; `perm` x clears XD (first stage). */
const mapping = z.strictObject({
  ...mappingShape,
  pageSize: pageSize.optional(),
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
  /** Unmap invalidation of this domain (absent: config.driver.invalidation). */
  invalidation: z.enum(["strict", "lazy"], { message: 'expected "strict" or "lazy"' }).optional(),
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

const snoop = z
  .strictObject({
    nestedSsLeafSnp: z.boolean().optional(),
    passThroughPgsnp: z.boolean().optional(),
    snpReservedWithoutSc: z.boolean().optional(),
    pgsnpWithoutSc: z.enum(["reserved", "ignored", "honoured"]).optional(),
  })
  .optional();

export const vtdScenarioSchema = z.strictObject({
  arch: z.literal("vtd"),
  ...commonScenarioShape,
  registers: z
    .strictObject({
      CAP: register(capFields).optional(),
      ECAP: register(ecapFields).optional(),
      RTADDR: u64.optional(),
      GCMD: u64.optional(),
    })
    .optional(),
  build: z
    .strictObject({
      mode: z.enum(["scalable", "legacy"]).optional(),
      tableBase: u64.optional(),
      domains: z.array(domain).optional(),
      devices: z.array(device).optional(),
    })
    .optional(),
  config: z.strictObject({ ...configShape, snoop }).optional(),
});

export type VtdScenario = z.output<typeof vtdScenarioSchema>;

const PAGE_4K = 1n << 12n;

export const vtdScenario: ArchScenario<VtdBuilder, VtdPlatformOptions, typeof vtdScenarioSchema> = {
  schema: vtdScenarioSchema,

  // The interrupt window is fixed hardware: no software MSI window, no doorbells to map.
  msiOptions: () => ({}),

  platformOptions(scenario, ctx) {
    const regs = scenario.registers ?? {};
    let cap = DEFAULT_CAP, ecap = DEFAULT_ECAP;
    try {
      cap = registerValue(DEFAULT_CAP, regs.CAP, capFields, "CAP");
      ecap = registerValue(DEFAULT_ECAP, regs.ECAP, ecapFields, "ECAP");
    } catch (e) {
      ctx.fail("registers", e);
    }
    const build = scenario.build ?? {};
    if (build.tableBase !== undefined) {
      if (build.tableBase & 0xfffn) throw ctx.problemAt("build.tableBase", `0x${build.tableBase.toString(16)} is not 4 KiB aligned (tables are 4 KiB pages)`);
      if (build.tableBase >> BigInt(ctx.physAddrBits) !== 0n)
        throw ctx.problemAt("build.tableBase", `0x${build.tableBase.toString(16)} is not below 2^${ctx.physAddrBits}, the host address width (config.platform.physAddrBits)`);
    }
    // Domains the unit cannot walk: their levels against CAP.SAGAW / CAP.FS5LP.
    (build.domains ?? []).forEach((d, i) => {
      const problem = levelsProblem(d.type, d.levels ?? 4, cap);
      if (problem) throw ctx.problemAt(d.levels !== undefined ? `build.domains[${i}].levels` : `build.domains[${i}]`, d.levels !== undefined ? problem : `levels 4 (the default): ${problem}`);
    });
    return { cap, ecap, mode: build.mode, tableBase: build.tableBase, snoop: scenario.config?.snoop };
  },

  *build(platform, scenario, ctx): Generator<SetupProgress, void, void> {
    const { core, builder: b } = platform;
    const { problemAt, fail, limits } = ctx;
    const build = scenario.build ?? {};
    const cap = core.getRegister("CAP");
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
      if (d.invalidation !== undefined) {
        if (dom.type === "pt") throw problemAt(`build.domains[${i}].invalidation`, `domain ${d.id} is pass-through: it has no mappings to unmap, so no invalidation policy`);
        dom.invalidation = d.invalidation;
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

    // Translation on: RTADDR given, or the builder's root table when something was built.
    const regs = scenario.registers ?? {};
    const built = domains.length > 0 || devices.length > 0;
    try {
      if (regs.RTADDR !== undefined) core.setRegister("RTADDR", regs.RTADDR);
      else if (built) core.setRegister("RTADDR", b.rtaddr());
    } catch (e) {
      fail("build", e);
    }
    const te = regs.GCMD !== undefined ? (regs.GCMD >> 31n) & 1n : regs.RTADDR !== undefined || built ? 1n : 0n;
    core.setGsts(Number(te) << 31);
  },
};
