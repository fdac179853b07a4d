/**
 * src/arch/smmuv3/pasid-teardown.ts: the steps SMMUv3's driver takes for a freed SubstreamID still
 * attached (Linux arm_smmu_clear_cd, arm_smmu_tlb_inv_asid, arm_smmu_atc_inv_master); every command
 * qword is worked out below from the command layouts (spec 4.3.2 CFGI_CD, 4.4.2 TLBI_NH_ASID,
 * 4.5.1 ATC_INV).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { smmuTeardownSteps, type SmmuTeardownStep } from "../../../src/arch/smmuv3/pasid-teardown.ts";
import { formatEvent } from "../../../src/trace/text.ts";

const sync: SmmuTeardownStep = { op: "sync" };
const cmd = (name: string, q0: bigint, q1: bigint): SmmuTeardownStep => ({ op: "cmd", cmd: { name, q0, q1 } });

test("SMMUv3 teardown: CD cleared, CFGI_CD per StreamID, SYNC, TLBI_NH_ASID, SYNC, ATC_INV per StreamID with ATS, SYNC", () => {
  // CFGI_CD: opcode 0x05 in [7:0], SSID [31:12], SID [63:32]; Leaf is qword 1 bit 0.
  //   SID 0x300, SSID 2: 0x05 | 2 << 12 | 0x300 << 32 = 0x0000_0300_0000_2005.
  // TLBI_NH_ASID: opcode 0x11, VMID [47:32], ASID [63:48]: ASID 3, VMID 5: 0x0003_0005_0000_0011.
  // ATC_INV: opcode 0x40, SSV bit 11, SSID [31:12], SID [63:32]; qword 1 Size [5:0] = 52 (every address), Address 0:
  //   SID 0x300, SSID 2: 0x40 | 1 << 11 | 2 << 12 | 0x300 << 32 = 0x0000_0300_0000_2840, qword 1 0x34.
  assert.equal(smmuTeardownSteps(2, { device: 0x300, streamIds: [0x300, 0x301], asid: 3, vmid: 5, ats: true }), [
    { op: "clear-cd", device: 0x300, ssid: 2 },
    cmd("CMD_CFGI_CD", 0x0000_0300_0000_2005n, 1n),
    cmd("CMD_CFGI_CD", 0x0000_0301_0000_2005n, 1n),
    sync,
    cmd("CMD_TLBI_NH_ASID", 0x0003_0005_0000_0011n, 0n),
    sync,
    cmd("CMD_ATC_INV", 0x0000_0300_0000_2840n, 0x34n),
    cmd("CMD_ATC_INV", 0x0000_0301_0000_2840n, 0x34n),
    sync,
  ]);
  // Without ATS there is no ATC to invalidate; StreamIDs default to the device's RID. ASID 1, VMID 0: 0x0001_0000_0000_0011.
  assert.equal(smmuTeardownSteps(7, { device: 0x400, asid: 1, vmid: 0, ats: false }), [
    { op: "clear-cd", device: 0x400, ssid: 7 },
    cmd("CMD_CFGI_CD", 0x0000_0400_0000_7005n, 1n),
    sync,
    cmd("CMD_TLBI_NH_ASID", 0x0001_0000_0000_0011n, 0n),
    sync,
  ]);
});

test("the steps are the trace's own driver events: `cmd` lines, which the driver carries out", () => {
  const text = smmuTeardownSteps(5, { device: 0x300, asid: 3, vmid: 5, ats: true }).map((s) => (s.op === "cmd" ? formatEvent({ line: 1, column: 1, op: "cmd", qwords: [s.cmd.q0, s.cmd.q1] }) : s.op));
  // CFGI_CD SID 0x300 SSID 5: 0x05 | 5 << 12 | 0x300 << 32; TLBI_NH_ASID ASID 3 VMID 5; ATC_INV adds SSV (bit 11) and opcode 0x40
  assert.equal(text, ["clear-cd", "cmd 0x30000005005 0x1", "sync", "cmd 0x3000500000011 0x0", "sync", "cmd 0x30000005840 0x34", "sync"]);
});

test.run();
