/**
 * The SMMUv3 driver at run time (src/arch/smmuv3/driver.ts): the commands each trace driver event
 * writes to the command queue, qword by qword (hand-encoded), and what the SMMU then does with the
 * TLPs that follow: strict and lazy unmaps, the hitless STE/CD updates of attach with DMA between
 * their steps, raw `cmd` and command errors, refusals.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createPlatform, type Platform } from "../../../src/platform.ts";
import type { SmmuModule } from "../../../src/arch/smmuv3/module.ts";
import { SmmuDriver } from "../../../src/arch/smmuv3/driver.ts";
import type { DriverOptions } from "../../../src/driver/driver.ts";
import type { SmmuPlatformOptions } from "../../../src/arch/smmuv3/options.ts";
import { parseTraceText } from "../../../src/trace/text.ts";
import { replay } from "../../../src/replay/replay.ts";
import type { Result } from "../../../src/core/core.ts";
import { atcInv, cfgiCd, cfgiSte, cmdSync, prefetchConfig, tlbiNhAll, tlbiNhAsid, tlbiNhVa, tlbiS12Vmall, tlbiS2Ipa } from "../../../src/arch/smmuv3/commands.ts";

const FILE = "t.trace";
const SID = 0x10; // 00:02.0
/** IDR3 without RIL [10] (FWB [8] only). */
const IDR3_NO_RIL = 0x100n;

interface Setup {
  p: Platform<SmmuModule>;
  driver: SmmuDriver;
  run(text: string): Result[];
  /** The commands written since the last call: [name, qw0, qw1] each. */
  newCommands(): [string, bigint, bigint][];
  /** The command queue's address. */
  cmdq: bigint;
}

/**
 * Stage-1 domain 1 (4K granule) and 2 (another ASID), stage-2 domain 3 (VMID 1), identity domain
 * 4; 00:02.0 attached to `rid` (default 1) with ATS. No mappings: traces map.
 */
function setup(o: { idr?: SmmuPlatformOptions["idr"]; driver?: Partial<DriverOptions>; rid?: number; ats?: boolean } = {}): Setup {
  const p = createPlatform("smmuv3", { build: "debug", ...(o.idr ? { idr: o.idr } : {}) });
  const b = p.builder;
  b.createDomain({ id: 1, type: "s1" });
  b.createDomain({ id: 2, type: "s1" });
  b.createDomain({ id: 3, type: "s2" });
  b.createDomain({ id: 4, type: "identity" });
  b.attach({ sid: SID, domain: o.rid ?? 1, ats: o.ats ?? true });
  p.enable();
  const driver = p.createDriver(o.driver) as SmmuDriver;
  let seen = 0;
  return {
    p,
    driver,
    cmdq: (p.core.getRegister("CMDQ_BASE") & ((1n << 52n) - 1n)) & ~0x1fn,
    run(text) {
      const results: Result[] = [];
      replay(p, parseTraceText(text, FILE), (_, _t, r) => results.push(r), { driver, file: FILE });
      return results;
    },
    newCommands() {
      const out = driver.issued.slice(seen).map((c) => [c.name, c.q0, c.q1] as [string, bigint, bigint]);
      seen = driver.issued.length;
      return out;
    },
  };
}

const ok = (r: Result) => (r.status === "ok" ? `ok 0x${r.pa.toString(16)}` : r.status === "fault" ? `fault ${r.fault?.name}` : r.status);
/** A CMD_SYNC with MSI polling at queue slot `i` of a queue at `q` (CS=IRQ, MSH ISH, MSIAttr OIWB). */
const sync = (q: bigint, i: number): [string, bigint, bigint] => ["CMD_SYNC", 0x0fc0_1046n, q + BigInt(i * 16)];

// ---------------------------------------------------------------------------------------- encodings

test("golden command qwords, hand-encoded from spec 4 / arm_smmu_cmdq_build_cmd", () => {
  const q = (c: { q0: bigint; q1: bigint; name: string }) => [c.name, c.q0, c.q1];
  // CFGI_STE 0x03, SID [63:32]; Leaf dw1[0]
  assert.equal(q(cfgiSte(0x10)), ["CMD_CFGI_STE", 0x0000_0010_0000_0003n, 1n]);
  // CFGI_CD 0x05, SSID [31:12] = 5, SID 0x10
  assert.equal(q(cfgiCd(0x10, 5)), ["CMD_CFGI_CD", 0x0000_0010_0000_5005n, 1n]);
  assert.equal(q(prefetchConfig(0x10)), ["CMD_PREFETCH_CONFIG", 0x0000_0010_0000_0001n, 0n]);
  // TLBI_NH_VA 0x12: NUM [16:12] 3, ASID [63:48] 1; dw1 Leaf, TTL [9:8] 3, TG [11:10] 1, Addr
  assert.equal(q(tlbiNhVa(1, 0, { addr: 0x100000n, leaf: true, num: 3, scale: 0, tg: 1, ttl: 3 })), ["CMD_TLBI_NH_VA", 0x0001_0000_0000_3012n, 0x0010_0701n]);
  // TLBI_S2_IPA 0x2a: NUM 1, SCALE [24:20] 4, VMID [47:32] 2; dw1 Leaf, TTL 3, TG 3 (64K)
  assert.equal(q(tlbiS2Ipa(2, { addr: 0x4000_0000n, leaf: true, num: 1, scale: 4, tg: 3, ttl: 3 })), ["CMD_TLBI_S2_IPA", 0x0000_0002_0040_102an, 0x4000_0f01n]);
  assert.equal(q(tlbiNhAsid(7, 0)), ["CMD_TLBI_NH_ASID", 0x0007_0000_0000_0011n, 0n]);
  assert.equal(q(tlbiS12Vmall(2)), ["CMD_TLBI_S12_VMALL", 0x0000_0002_0000_0028n, 0n]);
  assert.equal(q(tlbiNhAll(3)), ["CMD_TLBI_NH_ALL", 0x0000_0003_0000_0010n, 0n]);
  // ATC_INV 0x40: pages 0x100-0x103 -> 2^2 pages from 0x100000; with SSV [11] and SSID 5 for 0x101-0x102
  assert.equal(q(atcInv(0x10, undefined, 0x100000n, 0x4000n)), ["CMD_ATC_INV", 0x0000_0010_0000_0040n, 0x10_0002n]);
  assert.equal(q(atcInv(0x10, 5, 0x101000n, 0x2000n)), ["CMD_ATC_INV", 0x0000_0010_0000_5840n, 0x10_0002n]);
  assert.equal(q(atcInv(0x10, undefined, 0n, 0n)), ["CMD_ATC_INV", 0x0000_0010_0000_0040n, 52n]);
  // CMD_SYNC 0x46: CS [13:12] 1 (IRQ) or 2 (SEV), MSH [23:22] 3, MSIAttr [27:24] 0xf; MSIAddr [51:2]
  assert.equal(q(cmdSync(0x1001_1230n)), ["CMD_SYNC", 0x0fc0_1046n, 0x1001_1230n]);
  assert.equal(q(cmdSync()), ["CMD_SYNC", 0x0fc0_2046n, 0n]);
});

// ---------------------------------------------------------------------------------------- strict

test("strict: map issues nothing; unmap clears, TLBI_NH_VA range (RIL) + SYNC, ATC_INV + SYNC; the DMA after it faults", () => {
  const s = setup();
  const r = s.run(["map 1 0x100000 0x80000000 0x4000", "MRd 00:02.0 addr=0x102040", "unmap 1 0x100000 0x4000", "MRd 00:02.0 addr=0x102040"].join("\n"));
  assert.equal(r.map(ok), ["ok 0x80002040", "fault F_TRANSLATION"]);
  assert.is(r[1]!.fault?.stage, 1);
  assert.equal(s.newCommands(), [
    // ASID 1; 4 pages of 4K: SCALE 2, NUM 0 (1 x 2^2); TG 1 (4K), TTL 3 (level-3 leaves), Leaf
    ["CMD_TLBI_NH_VA", 0x0001_0000_0020_0012n, 0x10_0701n],
    sync(s.cmdq, 1),
    ["CMD_ATC_INV", 0x0000_0010_0000_0040n, 0x10_0002n],
    sync(s.cmdq, 3),
  ]);
  assert.equal([s.p.core.getRegister("CMDQ_PROD"), s.p.core.getRegister("CMDQ_CONS")], [4n, 4n]);
  // Linux's MSI polling: the SMMU wrote MSIData 0 over the first word of each CMD_SYNC.
  assert.is(s.p.core.read64(s.cmdq + 0x30n), 0x0fc0_1046n & ~0xffff_ffffn);
  assert.equal([s.driver.stats.maps, s.driver.stats.unmaps, s.driver.stats.queuedDescriptors], [1, 1, 4]);
});

test("strict without IDR3.RIL: one TLBI_NH_VA per leaf (TG 0, TTL 0), 33 pages as 33 commands; with RIL 33 pages are two ranges", () => {
  const s = setup({ idr: { IDR3: IDR3_NO_RIL }, ats: false });
  s.run("map 1 0x100000 0x80000000 0x21000\nunmap 1 0x100000 0x21000");
  const cmds = s.newCommands();
  assert.is(cmds.length, 34);
  assert.equal(cmds[0], ["CMD_TLBI_NH_VA", 0x0001_0000_0000_0012n, 0x10_0001n]);
  assert.equal(cmds[32], ["CMD_TLBI_NH_VA", 0x0001_0000_0000_0012n, 0x12_0001n]);
  assert.equal(cmds[33], sync(s.cmdq, 33));
  const t = setup({ ats: false });
  t.run("map 1 0x100000 0x80000000 0x21000\nunmap 1 0x100000 0x21000");
  // 33 = 0b100001: SCALE 0 NUM 0 (1 page) at 0x100000, then SCALE 5 NUM 0 (32 pages) at 0x101000
  assert.equal(t.newCommands(), [
    ["CMD_TLBI_NH_VA", 0x0001_0000_0000_0012n, 0x10_0701n],
    ["CMD_TLBI_NH_VA", 0x0001_0000_0050_0012n, 0x10_1701n],
    sync(t.cmdq, 2),
  ]);
});

test("strict, stage 2: a 2M block is TLBI_S2_IPA with VMID 1, TTL 2, SCALE 9; no ATS stream, no ATC_INV", () => {
  const s = setup({ rid: 3, ats: false });
  const r = s.run("map 3 0x40000000 0x80000000 0x200000 page=2M\nMRd 00:02.0 addr=0x40012340\nunmap 3 0x40000000 0x200000\nMRd 00:02.0 addr=0x40012340");
  assert.equal(r.map(ok), ["ok 0x80012340", "fault F_TRANSLATION"]);
  assert.is(r[1]!.fault?.stage, 2);
  assert.equal(s.newCommands(), [["CMD_TLBI_S2_IPA", 0x0000_0001_0090_002an, 0x4000_0601n], sync(s.cmdq, 1)]);
});

test("an unmap that clears nothing issues nothing", () => {
  const s = setup();
  s.run("unmap 1 0x100000 0x4000");
  assert.equal(s.newCommands(), []);
  assert.is(s.driver.stats.unmaps, 1);
});

// ---------------------------------------------------------------------------------------- lazy

test("lazy: unmap defers; the DMA before the flush hits the TLB's stale entry; flush: TLBI_NH_ASID + SYNC, ATC_INV all + SYNC; then it faults", () => {
  const s = setup({ driver: { invalidation: "lazy" } });
  const r = s.run(["map 1 0x100000 0x80000000 0x4000", "MRd 00:02.0 addr=0x100040", "unmap 1 0x100000 0x4000", "MRd 00:02.0 addr=0x100040", "flush", "MRd 00:02.0 addr=0x100040"].join("\n"));
  assert.equal(r.map(ok), ["ok 0x80000040", "ok 0x80000040", "fault F_TRANSLATION"]);
  assert.equal(r.map((x) => x.stale === true), [false, true, false]);
  // Only the flush's commands (the unmap issued none; the end of the trace found nothing deferred).
  assert.equal(s.newCommands(), [["CMD_TLBI_NH_ASID", 0x0001_0000_0000_0011n, 0n], sync(s.cmdq, 1), ["CMD_ATC_INV", 0x0000_0010_0000_0040n, 52n], sync(s.cmdq, 3)]);
  assert.equal([s.driver.stats.deferredUnmaps, s.driver.stats.flushes, s.driver.stats.flushReasons.explicit, s.driver.stats.flushReasons.end], [1, 1, 1, 0]);
});

test("lazy, stage 2: the flush is TLBI_S12_VMALL of the VMID", () => {
  const s = setup({ rid: 3, ats: false, driver: { invalidation: "lazy" } });
  s.run("map 3 0x40000000 0x80000000 0x1000\nunmap 3 0x40000000 0x1000\nflush");
  assert.equal(s.newCommands(), [["CMD_TLBI_S12_VMALL", 0x0000_0001_0000_0028n, 0n], sync(s.cmdq, 1)]);
});

// ---------------------------------------------------------------------------------------- attach

test("hitless STE update on a live stream, identity -> stage 1: every DMA between the steps is bypassed or translated, never a fault", () => {
  const s = setup({ rid: 4, ats: false });
  s.run("map 1 0x100000 0x80000000 0x1000");
  const seen: string[] = [];
  s.driver.onEntryStep = (ref) => seen.push(`${ref.kind} ${ok(s.p.translateOne({ op: "MRd", sid: SID, addr: 0x100040n }))}`);
  const r = s.run("MRd 00:02.0 addr=0x100040\nattach 00:02.0 domain=1\nMRd 00:02.0 addr=0x100040");
  assert.equal(r.map(ok), ["ok 0x100040", "ok 0x80000040"]);
  // CD 0 (V=0 -> S1): the fields, then V (2 steps, bypass STE ignores it); the STE (bypass -> CD
  // table): the unused bits, then qword 0 (Config), then SHCFG cleared (3 steps).
  assert.equal(seen, ["cd ok 0x100040", "cd ok 0x100040", "ste ok 0x100040", "ste ok 0x80000040", "ste ok 0x80000040"]);
  const names = s.newCommands().map((c) => c[0]);
  assert.equal(names, ["CMD_CFGI_CD", "CMD_SYNC", "CMD_CFGI_CD", "CMD_SYNC", "CMD_CFGI_STE", "CMD_SYNC", "CMD_CFGI_STE", "CMD_SYNC", "CMD_CFGI_STE", "CMD_SYNC", "CMD_PREFETCH_CONFIG"]);
});

test("stage 1 replaced by stage 1 on a live stream: TLPs see the old or the new domain, never a mix; the CD rewrite in between is Linux's breaking one", () => {
  const s = setup({ ats: false });
  s.run("map 1 0x100000 0x80000000 0x1000\nmap 2 0x100000 0x90000000 0x1000");
  const seen: string[] = [];
  s.driver.onEntryStep = () => seen.push(ok(s.p.translateOne({ op: "MRd", sid: SID, addr: 0x100040n })));
  const r = s.run("MRd 00:02.0 addr=0x100040\nMRd 00:02.0 addr=0x100040\nattach 00:02.0 domain=2\nMRd 00:02.0 addr=0x100040\nMRd 00:02.0 addr=0x100040");
  assert.equal(r.map(ok), ["ok 0x80000040", "ok 0x80000040", "ok 0x90000040", "ok 0x90000040"]);
  // ASID (qword 0) and TTB0 (qword 1) both change: V=0, qwords 1-7, qword 0 (arm_smmu_write_entry).
  assert.equal(seen, ["fault C_BAD_CD", "fault C_BAD_CD", "ok 0x90000040"]);
  assert.equal(s.newCommands(), [
    ["CMD_CFGI_CD", 0x0000_0010_0000_0005n, 1n], sync(s.cmdq, 1),
    ["CMD_CFGI_CD", 0x0000_0010_0000_0005n, 1n], sync(s.cmdq, 3),
    ["CMD_CFGI_CD", 0x0000_0010_0000_0005n, 1n], sync(s.cmdq, 5),
    ["CMD_PREFETCH_CONFIG", 0x0000_0010_0000_0001n, 0n],
  ]);
});

test("detach: the abort STE (2 steps), CD 0 cleared (V=0, then the rest), then ATC_INV of everything for the ATS stream; DMA is then aborted", () => {
  const s = setup();
  const r = s.run("detach 00:02.0\nMRd 00:02.0 addr=0x100040");
  assert.equal(r.map(ok), ["abort"]);
  assert.equal(s.newCommands().map((c) => c[0]), [
    "CMD_CFGI_STE", "CMD_SYNC", "CMD_CFGI_STE", "CMD_SYNC", "CMD_PREFETCH_CONFIG",
    "CMD_CFGI_CD", "CMD_SYNC", "CMD_CFGI_CD", "CMD_SYNC",
    "CMD_ATC_INV", "CMD_SYNC",
  ]);
  assert.equal(s.driver.stats.detaches, 1);
});

// ---------------------------------------------------------------------------------------- cmd and errors

test("cmd with an illegal opcode: CMDQ_CONS.ERR 1 and GERROR.CMDQ_ERR; later commands wait until the driver's next own submission acknowledges it", () => {
  const s = setup({ ats: false });
  s.run("cmd 0x7f 0x0");
  assert.equal([s.p.core.getRegister("GERROR"), s.p.core.getRegister("GERRORN")], [1n, 0n]);
  assert.equal([s.p.core.getRegister("CMDQ_PROD"), s.p.core.getRegister("CMDQ_CONS")], [1n, 0x0100_0000n]);
  s.run("cmd 0x46 0x0\ncmd 0x46 0x0");
  assert.equal([s.p.core.getRegister("CMDQ_PROD"), s.p.core.getRegister("CMDQ_CONS")], [3n, 0x0100_0000n], "they wait");
  s.run("map 1 0x100000 0x80000000 0x1000\nunmap 1 0x100000 0x1000");
  // The handler replaced the illegal command with a CMD_SYNC (CS=SEV) and set GERRORN; then the unmap's two commands.
  assert.is(s.p.core.read64(s.cmdq), 0x0fc0_2046n);
  // CONS at PROD; its ERR field keeps the last error's code (valid only while GERROR.CMDQ_ERR is active).
  assert.equal([s.p.core.getRegister("GERRORN"), s.p.core.getRegister("CMDQ_PROD"), s.p.core.getRegister("CMDQ_CONS")], [1n, 5n, 0x0100_0005n]);
  assert.equal([s.driver.stats.invs, s.p.core.archCounters().cmdqErrors], [3, 1n]);
});

test("a command of the driver's own that the SMMU refuses is a DriverError naming it, after Linux's recovery", () => {
  const s = setup();
  s.run("map 1 0x100000 0x80000000 0x1000");
  s.p.core.setRegister("IDR0", s.p.core.getRegister("IDR0") & ~(1n << 10n)); // the unit now says no ATS
  assert.throws(
    () => s.run("unmap 1 0x100000 0x1000"),
    (e: Error) =>
      e.message ===
      "t.trace:1:1: unmap: CMD_ATC_INV: the SMMU stopped its command queue with CERROR_ILL (CMDQ_CONS.ERR 1, GERROR.CMDQ_ERR) at index 2; the driver replaced it with a CMD_SYNC and acknowledged it (GERRORN), as Linux's arm_smmu_cmdq_skip_err does",
  );
  assert.equal([s.p.core.getRegister("GERROR"), s.p.core.getRegister("GERRORN"), s.p.core.getRegister("CMDQ_CONS")], [1n, 1n, 0x0100_0004n]);
});

test("refusals in VT-d's words: unknown domain, a range beyond the input width, a domain without tables, VT-d's inv", () => {
  const s = setup();
  const msg = (text: string) => {
    try {
      s.run(text);
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  };
  assert.is(msg("unmap 7 0x100000 0x1000"), "t.trace:1:1: unmap: no domain 7; the scenario defines 1, 2, 3, 4");
  assert.is(msg("unmap 1 0xffff00000000 0x10000000000"), "t.trace:1:1: unmap: IOVA range 0xffff00000000-0x100feffffffff is beyond the 48-bit input width of domain 1 (stage 1, 4 KiB granule: below 0x1000000000000)");
  assert.is(msg("map 4 0x100000 0x80000000 0x1000"), "t.trace:1:1: map: domain 4 is identity: it has no page tables");
  assert.is(msg("map 1 0x100000 0x80000000 0x1000\nmap 1 0x100000 0x90000000 0x1000"), "t.trace:2:1: map: io-pgtable-arm: IOVA 0x100000 is already mapped (a 4 KiB page)");
  assert.is(msg("inv iec"), "t.trace:1:1: inv: inv is another architecture's driver command, not SMMUv3's");
  assert.equal(s.newCommands(), []);
});

test.run();
