/**
 * Intel VT-d as an architecture module (src/arch/types.ts): the unit's CAP and ECAP and model
 * options into the core, the builder that writes root, context, PASID and page tables as Linux's
 * intel-iommu driver does, the driver for a trace's driver events, the fault and counter
 * catalogues, and the `inv` trace command.
 */
import { Opt, PgsnpNoSc, counterCatalogues, faultCatalogues } from "../../core/abi.ts";
import type { ArchitectureModule } from "../types.ts";
import { DEFAULT_CAP, DEFAULT_ECAP, capFields, ecapFields } from "./registers.ts";
import { VtdBuilder } from "./builder.ts";
import { VtdDriver } from "./driver.ts";
import { vtdTraceCommands } from "./trace-commands.ts";
import { vtdScenario, vtdScenarioSchema } from "./scenario.ts";
import { defaultSnoopOptions, type VtdPlatformOptions } from "./options.ts";
import { vtdReservedRegions } from "./regions.ts";

export { defaultSnoopOptions, type SnoopOptions, type VtdPlatformOptions } from "./options.ts";

export const vtd: ArchitectureModule<VtdBuilder, VtdPlatformOptions, typeof vtdScenarioSchema> = {
  name: "vtd",
  title: "VT-d",
  defaultPreset: "vtd-default",
  pasidPolicy: "system",
  defaultReservedRegions: vtdReservedRegions,
  registers: {
    fields: { CAP: capFields, ECAP: ecapFields, RTADDR: {}, GCMD: {} },
    defaults: { CAP: DEFAULT_CAP, ECAP: DEFAULT_ECAP },
  },
  setUp(core, o, base) {
    core.setRegister("CAP", o.cap ?? DEFAULT_CAP);
    core.setRegister("ECAP", o.ecap ?? DEFAULT_ECAP);
    const snoop = { ...defaultSnoopOptions, ...o.snoop };
    let options = base.options;
    if (snoop.nestedSsLeafSnp) options |= Opt.NESTED_SS_SNP;
    if (snoop.passThroughPgsnp) options |= Opt.PT_PGSNP;
    if (snoop.snpReservedWithoutSc) options |= Opt.SNP_RSVD_NO_SC;
    const pgsnpNoSc = { reserved: PgsnpNoSc.RESERVED, ignored: PgsnpNoSc.IGNORED, honoured: PgsnpNoSc.HONOURED }[snoop.pgsnpWithoutSc];
    core.setOptions({ physAddrBits: base.physAddrBits, options, pgsnpNoSc });
  },
  createBuilder: (core, alloc, o) => new VtdBuilder(core, alloc, o.mode ?? "scalable", o.cap ?? DEFAULT_CAP, o.ecap ?? DEFAULT_ECAP),
  enable(p) {
    p.core.setRegister("RTADDR", p.builder.rtaddr());
    p.core.setGsts(1 << 31);
  },
  createDriver: (p, options) => new VtdDriver(p, options),
  faults: faultCatalogues.vtd,
  counterNames: counterCatalogues.vtd,
  // The domain ID, and the RID_PASID a request without PASID was translated through.
  resultTags(r, hasPasid) {
    const o: Record<string, unknown> = {};
    if (r.addressSpace !== undefined && !hasPasid && r.status !== "interrupt") o.ridPasid = r.addressSpace;
    if (r.status === "ok" || r.status === "fault") o.did = r.domain;
    return o;
  },
  traceCommands: vtdTraceCommands,
  scenario: vtdScenario,
};

export type VtdModule = typeof vtd;
