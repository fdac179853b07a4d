/**
 * The SMMUv3 part of the core's ABI: the register block inside Ctrl.SMMU, the counter and
 * snoop-decider catalogues, and the host's access to the registers by their spec names.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as abi from "../../../src/core/abi.ts";
import { Core } from "../../../src/core/core.ts";

test("each register sits at its spec offset within its page, inside the 256-byte block, without overlap", () => {
  // spec 6.3 (page 0) and page 1's EVENTQ_PROD/CONS at 0x100A8/0x100AC
  const spec: Record<abi.SmmuRegName, number> = {
    IDR0: 0x0, IDR1: 0x4, IDR3: 0xc, IDR5: 0x14, CR0: 0x20, CR0ACK: 0x24, CR1: 0x28, CR2: 0x2c, GBPA: 0x44, GERROR: 0x60,
    GERRORN: 0x64, STRTAB_BASE: 0x80, STRTAB_BASE_CFG: 0x88, CMDQ_BASE: 0x90, CMDQ_PROD: 0x98, CMDQ_CONS: 0x9c,
    EVENTQ_BASE: 0xa0, EVENTQ_PROD: 0x100a8, EVENTQ_CONS: 0x100ac,
  };
  const used = new Set<number>();
  for (const [name, off] of Object.entries(abi.SmmuReg) as [abi.SmmuRegName, number][]) {
    assert.is(off, spec[name] & 0xffff, name);
    const bytes = abi.smmuRegBytes[name];
    assert.is(off % bytes, 0, `${name} aligned`);
    assert.ok(off + bytes <= 0x100, `${name} inside the block`);
    for (let b = off; b < off + bytes; b++) {
      assert.not.ok(used.has(b), `${name} overlaps`);
      used.add(b);
    }
  }
  assert.is(abi.Ctrl.TIMING - abi.Ctrl.SMMU, 0x100);
});

test("the SMMUv3 counter catalogue keeps the shared counters at VT-d's indices and adds its own after the read table", () => {
  const c = abi.counterCatalogues.smmuv3;
  for (const n of ["requests", "translated", "faulted", "faultsRecorded", "blocked", "noSnoopTlps", "snooped", "nonSnooped", "noSnoopForced", "atsRequests", "adWrites", "interrupts", "p2p"])
    assert.is(c.indexOf(n), abi.counterNames.indexOf(n as (typeof abi.counterNames)[number]), n);
  assert.is(c.indexOf("transaction"), 48);
  assert.equal(c.slice(48), [
    "transaction", "tlb_miss", "config_cache_miss", "trans_table_walk_access", "config_struct_access",
    "pcie_ats_trans_rq", "pcie_ats_trans_passed", "eventsRecorded", "eventsLost", "bypassed", "commands", "cmdSyncs", "cmdqErrors",
    "unrouted",
  ]);
  // VT-d-only indices and the per-level read table are unnamed (4, interrupts, is shared: MSI doorbells, README "Reserved regions in scenarios")
  assert.is(c[13], "");
  for (let i = abi.READS_BY_LEVEL; i < abi.SMMU_COUNTERS; i++) assert.is(c[i], "");
  assert.ok(abi.SMMU_COUNTERS >= abi.READS_BY_LEVEL + 16);
});

test("snoop deciders and fault classes", () => {
  assert.equal(abi.snoopByCatalogues.smmuv3, ["tlp", "canwbs", "s2fwb", "stage1-attr", "stage2-attr", "ste-override", "cohacc", "gbpa"]);
  assert.is(abi.snoopByCatalogues.smmuv3[abi.SnoopBy.TLP], "tlp");
  // the free byte of the result record
  assert.is(abi.Res.FAULT_STAGE, abi.Res.SNOOP_BY + 1);
  assert.is(abi.Res.LATENCY, abi.Res.FAULT_STAGE + 1);
  assert.is(abi.statusNames[abi.ResStatus.ABORT], "abort");
  assert.is(abi.statusNames[abi.ResStatus.UNROUTED], "unrouted");
  assert.is(abi.faultClassNames[abi.FaultClass.TT], "TT");
});

test("SMMU registers are set and read by name; 64-bit ones keep all bits, 32-bit ones the low 32", () => {
  const core = new Core("debug", "smmuv3");
  core.setRegister("STRTAB_BASE", 0x4000_1234_5678_9ac0n);
  core.setRegister("IDR0", 0x1_0000_0003n);
  core.setRegister("EVENTQ_PROD", 0x8000_0005n);
  assert.is(core.getRegister("STRTAB_BASE"), 0x4000_1234_5678_9ac0n);
  assert.is(core.getRegister("IDR0"), 3n);
  assert.is(core.getRegister("EVENTQ_PROD"), 0x8000_0005n);
  assert.is(core.getRegister("EVENTQ_CONS"), 0n);
  assert.throws(() => core.setRegister("RTADDR", 1n), /RTADDR is not a register of this smmuv3 unit/);
  const vtd = new Core("debug", "vtd");
  assert.throws(() => vtd.setRegister("CR0", 1n), /CR0 is not a register of this vtd unit/);
  vtd.setRegister("RTADDR", 0x5000n);
  assert.is(vtd.getRegister("RTADDR"), 0x5000n);
});

test.run();
