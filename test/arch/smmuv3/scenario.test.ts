/**
 * SMMUv3 scenarios (src/arch/smmuv3/scenario.ts, module.ts): what loading one writes into the core
 * (identification registers over the default profile, the registers Linux's reset programs, STEs),
 * problems reported at their scenario key with line and column, and the SMMUv3 fields of per-TLP
 * result lines (src/report/results.ts through the module's resultTags).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadScenario } from "../../../src/scenario.ts";
import { scenarioFiles } from "./scenario-files.ts";
import { resultRecord } from "../../../src/report/results.ts";
import { smmuv3 } from "../../../src/arch/smmuv3/module.ts";
import { abortSte, bypassSte } from "../../../src/arch/smmuv3/ste.ts";
import { Core, type Result } from "../../../src/core/core.ts";
import { Opt } from "../../../src/core/abi.ts";
import type { TraceTlp } from "../../../src/trace/text.ts";

const { scenario, loadError } = scenarioFiles("iommu-emu-smmu-", test.after);

test("a built scenario: IDRs (one field overridden), Linux's reset registers, STEs of identity and blocking streams", () => {
  const file = scenario({
    arch: "smmuv3",
    registers: { IDR1: { EVENTQS: 5 } },
    build: { domains: [{ id: 1, type: "identity" }, { id: 2, type: "blocking" }], devices: [{ bdf: "00:03.0", domain: 1 }, { bdf: "00:04.0", domain: 2 }] },
  });
  const { platform } = loadScenario(file);
  const core = platform.core;
  assert.is(core.getRegister("IDR0"), 0x0d4d349bn);
  assert.is(core.getRegister("IDR1"), 0x0905_3d10n); // EVENTQS 7 -> 5
  // level-1 stream table at the table base 0x1000_0000, the level-2 table of SIDs 0..255 (16 KiB) at
  // 0x1000_4000 on the first attach; then the command queue 0x1000_8000 and the event queue 0x1000_9000 (32 events)
  assert.is(core.getRegister("STRTAB_BASE"), 0x4000_0000_1000_0000n);
  assert.is(core.getRegister("STRTAB_BASE_CFG"), 0x1_0210n);
  assert.is(core.getRegister("CMDQ_BASE"), 0x4000_0000_1000_8008n);
  assert.is(core.getRegister("EVENTQ_BASE"), 0x4000_0000_1000_9005n);
  assert.is(core.getRegister("CR1"), 0xd75n);
  assert.is(core.getRegister("CR2"), 0x6n);
  assert.is(core.getRegister("CR0"), 0x1dn);
  // 00:03.0 is SID 0x18, 00:04.0 SID 0x20
  const read8 = (pa: bigint) => Array.from({ length: 8 }, (_, i) => core.read64(pa + BigInt(i * 8)));
  assert.equal(read8(0x1000_4000n + 0x18n * 64n), bypassSte({ attrTypesOvr: true, stalls: false }));
  assert.equal(read8(0x1000_4000n + 0x20n * 64n), abortSte());
});

test("nothing built: the SMMU stays disabled (CR0 = 0: GBPA decides) with the scenario's GBPA", () => {
  const { platform } = loadScenario(scenario({ arch: "smmuv3", registers: { GBPA: { ABORT: 1 } } }));
  assert.is(platform.core.getRegister("CR0"), 0n);
  assert.is(platform.core.getRegister("GBPA"), 0x10_0000n);
  assert.is(platform.core.getRegister("STRTAB_BASE"), 0n);
});

test("problems at their scenario keys", () => {
  const bad1 = scenario({ arch: "smmuv3", registers: { IDR1: { SIDSIZE: 64 } } });
  assert.is(loadError(bad1), `${bad1}:5:18: registers.IDR1.SIDSIZE: 64 does not fit the 6-bit field`);
  const bad2 = scenario({ arch: "smmuv3", build: { domains: [{ id: 1, type: "nested", parent: 5 }] } });
  assert.is(loadError(bad2), `${bad2}:5:7: build.domains[0]: domain 1: a nested domain needs "parent", the id of a stage-2 domain defined before it`);
  const bad3 = scenario({ arch: "smmuv3", build: { domains: [{ id: 1, type: "s1", mappings: [{ iova: "0x1000", pa: "0x2000", size: "0x1000", pageSize: "16K" }] }] } });
  assert.is(loadError(bad3), `${bad3}:9:11: build.domains[0].mappings[0]: pageSize 0x4000 is not a page or block size of domain 1 (4K, 2M, 1G)`);
  const bad4 = scenario({ arch: "smmuv3", build: { domains: [{ id: 1, type: "s2" }], devices: [{ bdf: "00:02.0", domain: 1, ssid: 4 }] } });
  assert.is(loadError(bad4), `${bad4}:11:7: build.devices[0]: attach of StreamID 0x10 (00:02.0) SubstreamID 4: only stage-1 and nested domains serve substreams, not s2`);
  const bad5 = scenario({ arch: "smmuv3", build: { domains: [{ id: 1, type: "s1", granule: "8K" }] } });
  assert.is(loadError(bad5), `${bad5}:8:20: build.domains[0].granule: expected a granule of "4K", "16K" or "64K"`);
});

test("config.smmu.tlbConflict: \"event\" sets the core's Opt.TLB_CONFLICT; \"ignore\" and the default leave it clear; other values are refused", () => {
  // the options the platform last gave the core while loading each scenario
  const orig = Core.prototype.setOptions;
  let last = -1;
  Core.prototype.setOptions = function (o) {
    last = o.options;
    orig.call(this, o);
  };
  const optionOf = (config: unknown) => {
    last = -1;
    loadScenario(scenario({ arch: "smmuv3", ...(config === undefined ? {} : { config }) }));
    return (last & Opt.TLB_CONFLICT) !== 0;
  };
  try {
    assert.equal([optionOf({ smmu: { tlbConflict: "event" } }), optionOf({ smmu: { tlbConflict: "ignore" } }), optionOf(undefined)], [true, false, false]);
  } finally {
    Core.prototype.setOptions = orig;
  }
  const bad = scenario({ arch: "smmuv3", config: { smmu: { tlbConflict: "warn" } } });
  assert.is(loadError(bad), `${bad}:5:22: config.smmu.tlbConflict: Invalid option: expected one of "ignore"|"event"`);
});

const tlp: TraceTlp = { op: "MRd", sid: 0x10, addr: 0x7000n, line: 3 } as TraceTlp;
const base = { pa: 0n, leafPa: 0n, leafPte: 0n, s2LeafPa: 0n, pageLg2: 12, reads: 6, snoop: true, snoopBy: "tlp", perms: { r: true, w: true, x: false, u: true }, priv: false, global: false, nsAllowed: false, passthrough: false, atc: false, stale: false, issue: 0n, latency: 0 };

test("result lines: a stage-2 fault with its CLASS and the VMID; an abort without tags", () => {
  const fault = { ...base, status: "fault", domain: 3, fault: { code: 0x10, name: "F_TRANSLATION", recorded: true, level: 2, stage: 2, class: "TT" } } as Result;
  assert.equal(resultRecord(0, tlp, fault, undefined, smmuv3.resultTags), {
    seq: 0, line: 3, op: "MRd", bdf: "00:02.0", addr: "0x7000", status: "fault",
    fault: { code: 16, name: "F_TRANSLATION", recorded: true, stage: 2, class: "TT" }, vmid: 3, reads: 6,
  });
  const abort = { ...base, status: "abort", domain: 0 } as Result;
  assert.equal(resultRecord(1, tlp, abort, undefined, smmuv3.resultTags), { seq: 1, line: 3, op: "MRd", bdf: "00:02.0", addr: "0x7000", status: "abort", reads: 6 });
});

test("a loaded SMMUv3 scenario's driver refuses a map into a domain it does not define, in VT-d's words", () => {
  const { platform } = loadScenario(scenario({ arch: "smmuv3" }));
  const d = platform.createDriver();
  const map = { op: "map", line: 1, column: 1, domain: 7, iova: 0x1000n, pa: 0x2000n, size: 0x1000n, perm: "rw", page: "4K", snp: false, user: true, global: false } as const;
  assert.throws(() => d.apply(map, 0n), (e: Error) => e.name === "DriverError" && e.message === "no domain 7; the scenario defines no domains");
});

test.run();
