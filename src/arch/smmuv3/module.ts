/**
 * Arm SMMUv3 as an architecture module (src/arch/types.ts): the identification registers and the
 * CANWBS option into the core, the builder that writes stream tables, CD tables, STEs, CDs and
 * io-pgtable-arm tables as Linux's arm-smmu-v3 driver does, the registers its reset programs, the
 * event and counter catalogues, the driver for a trace's driver events (driver.ts) and the `cmd`
 * trace command (trace-commands.ts).
 */
import { Opt, counterCatalogues, faultCatalogues } from "../../core/abi.ts";
import type { ArchitectureModule } from "../types.ts";
import { SmmuBuilder } from "./builder.ts";
import { SmmuDriver } from "./driver.ts";
import { smmuTraceCommands } from "./trace-commands.ts";
import { defaultIdRegisters, profileOf, registerFields } from "./registers.ts";
import { smmuScenario, smmuScenarioSchema } from "./scenario.ts";
import type { SmmuPlatformOptions } from "./options.ts";
import { smmuReservedRegions } from "./regions.ts";
import { requesterOf, streamIdOf } from "./iort.ts";
import { formatBdf } from "../../trace/events.ts";

export type { SmmuPlatformOptions } from "./options.ts";

const idrOf = (o: SmmuPlatformOptions) => ({ ...defaultIdRegisters, ...o.idr });

export const smmuv3: ArchitectureModule<SmmuBuilder, SmmuPlatformOptions, typeof smmuScenarioSchema> = {
  name: "smmuv3",
  title: "SMMUv3",
  defaultPreset: "gem5-smmuv3",
  pasidPolicy: "per-device",
  defaultReservedRegions: smmuReservedRegions,
  registers: { fields: registerFields, defaults: defaultIdRegisters },
  setUp(core, o, base) {
    for (const [name, v] of Object.entries(idrOf(o))) core.setRegister(name as keyof typeof defaultIdRegisters, v);
    if (o.canwbs && o.streamMap) throw new RangeError("canwbs and a RID-to-StreamID map: give each root complex its own CANWBS instead");
    const options = base.options | (o.canwbs ? Opt.CANWBS : 0) | (o.tlbConflict === "event" ? Opt.TLB_CONFLICT : 0);
    core.setOptions({ physAddrBits: base.physAddrBits, options, pgsnpNoSc: 0 });
    if (o.streamMap) core.setStreamMap(o.streamMap.ranges, o.streamMap.canwbs);
  },
  createBuilder(core, alloc, o) {
    const b = new SmmuBuilder(core, alloc, profileOf(idrOf(o)));
    const map = o.streamMap;
    b.canwbsOf = () => o.canwbs ?? false;
    if (map) {
      b.streamIdOf = (sid) => {
        const s = streamIdOf(map, sid);
        if (s === undefined) throw new RangeError(`no ID mapping of the root complexes (config.smmu.rootComplexes) covers ${formatBdf(sid)}: it has no StreamID`);
        return s;
      };
      b.canwbsOf = (s) => requesterOf(map, s)?.canwbs ?? false;
      b.ridOf = (s) => requesterOf(map, s)?.rid ?? s;
    }
    return b;
  },
  enable(p) {
    const r = p.builder.registers();
    for (const name of ["CR1", "CR2", "STRTAB_BASE", "STRTAB_BASE_CFG", "CMDQ_BASE", "CMDQ_PROD", "CMDQ_CONS", "EVENTQ_BASE", "EVENTQ_PROD", "EVENTQ_CONS", "CR0"] as const) p.core.setRegister(name, r[name]);
  },
  createDriver: (p, options) => new SmmuDriver(p, options),
  faults: faultCatalogues.smmuv3,
  counterNames: counterCatalogues.smmuv3,
  // The VMID the STE gave the translation (0 for stage-1-only STEs, as Linux reserves it); with a
  // RID-to-StreamID map, the StreamID the root complex routed the TLP to (absent when unrouted).
  // An MSI write: the doorbell it reached (through the SW_MSI window's mapping, or a fixed doorbell's address).
  resultTags: (r) => ({
    ...(r.streamId !== undefined ? { streamId: r.streamId } : {}),
    ...(r.status === "ok" || r.status === "fault" ? { vmid: r.domain } : {}),
    ...(r.status === "interrupt" ? { doorbell: `0x${r.pa.toString(16)}` } : {}),
  }),
  traceCommands: smmuTraceCommands,
  scenario: smmuScenario,
};

export type SmmuModule = typeof smmuv3;
