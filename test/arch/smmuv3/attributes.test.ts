/**
 * SMMUv3 in the core: the coherency decision over the STE overrides, GBPA, stage-2 MemAttr and
 * S2FWB, No-Snoop and CANWBS (arch/smmuv3/coherency.ts); ATS checks (F_BAD_ATS_TREQ,
 * F_TRANSL_FORBIDDEN); the stage-1 access flag with AFFD and hardware update (HA).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Opt } from "../../../src/core/abi.ts";
import { platformCaches } from "../../../src/platform.ts";
import { defaultTiming } from "../../../src/config/timing.ts";
import { builds, smmu, writeSte, event, rd, wr, writeS2Tables, s2Dword, S2_L1, S2_L3, IDR0, IDR1 } from "./helpers.ts";

const V_S2 = 0xdn;
const V_BYPASS = 0x9n;
const ATTR_TYPES_OVR = 1n << 27n;
const S2FWB = 1n << 25n;
const MTCFG = 1n << 36n;
const memAttr = (m: bigint) => m << 32n;
const shcfg = (s: bigint) => s << 44n;

for (const build of builds) {
  const test = suite(`smmuv3 attributes [${build}]`);

  function unit(ovr = true) {
    const core = smmu(build, { IDR1: ovr ? IDR1 | ATTR_TYPES_OVR : IDR1 });
    writeS2Tables(core);
    // [0x14a] Normal NC (MemAttr 0x5), [0x14b] MemAttr 0x6 (S2FWB: force Write-Back)
    core.write64(S2_L3 + 0x14an * 8n, 0x7654a7d7n);
    core.write64(S2_L3 + 0x14bn * 8n, 0x7654b7dbn);
    return core;
  }
  const snoopOf = (core: ReturnType<typeof unit>, sid: number, addr: bigint, ns = false) => {
    const r = core.translateOne(rd(sid, addr, { ns }));
    assert.is(r.status, "ok", `sid ${sid} ${addr.toString(16)}`);
    return [r.snoop, r.snoopBy];
  };

  test("stage-2 only: STE SHCFG and MTCFG/MemAttr override the incoming attributes where IDR1.ATTR_TYPES_OVR allows", () => {
    const core = unit();
    writeSte(core, 1, [V_S2, shcfg(1n), s2Dword(), S2_L1]); // incoming
    writeSte(core, 2, [V_S2, shcfg(0n), s2Dword(), S2_L1]); // non-shareable
    writeSte(core, 3, [V_S2, shcfg(1n) | MTCFG | memAttr(5n), s2Dword(), S2_L1]); // Normal NC
    writeSte(core, 4, [V_S2, shcfg(3n) | MTCFG | memAttr(0xfn), s2Dword(), S2_L1]); // Normal WB, inner
    assert.equal(snoopOf(core, 1, 0x1234_5000n), [true, "tlp"]);
    // combined with stage 2's Inner Shareable the more shareable wins: still coherent
    assert.equal(snoopOf(core, 2, 0x1234_5000n), [true, "tlp"]);
    assert.equal(snoopOf(core, 3, 0x1234_5000n), [false, "ste-override"]);
    assert.equal(snoopOf(core, 4, 0x1234_5000n), [true, "ste-override"]);
    // stage 2's own Normal NC is stronger than the incoming Write-Back
    assert.equal(snoopOf(core, 1, 0x1234_a000n), [false, "stage2-attr"]);
    // without ATTR_TYPES_OVR the overrides are ignored
    const plain = unit(false);
    writeSte(plain, 2, [V_S2, shcfg(0n) | MTCFG | memAttr(5n), s2Dword(), S2_L1]);
    assert.equal(snoopOf(plain, 2, 0x1234_5000n), [true, "tlp"]);
  });

  test("S2FWB forces stage 2's type, but never makes a No-Snoop TLP coherent; CANWBS does", () => {
    const core = unit();
    writeSte(core, 5, [V_S2, shcfg(1n) | MTCFG | memAttr(5n) | S2FWB, s2Dword(), S2_L1]);
    writeSte(core, 6, [V_S2, shcfg(1n) | MTCFG | memAttr(5n), s2Dword(), S2_L1]);
    assert.equal(snoopOf(core, 5, 0x1234_b000n), [true, "s2fwb"]); // 0b110: forced Write-Back over an NC override
    assert.equal(snoopOf(core, 6, 0x1234_b000n), [false, "ste-override"]); // without S2FWB 0x6 is outer NC
    assert.equal(snoopOf(core, 5, 0x1234_a000n), [false, "s2fwb"]); // 0b101: forced Non-cacheable
    assert.equal(snoopOf(core, 5, 0x1234_5000n), [false, "ste-override"]); // 0b111: keeps the incoming NC
    assert.equal(snoopOf(core, 5, 0x1234_b000n, true), [false, "tlp"]);
    // S2FWB needs IDR3.FWB
    core.setRegister("IDR3", 0n);
    assert.equal(snoopOf(core, 5, 0x1234_b000n), [false, "ste-override"]);
    core.setOptions({ physAddrBits: 48, options: Opt.CANWBS, pgsnpNoSc: 0 });
    assert.equal(snoopOf(core, 6, 0x1234_a000n, true), [true, "canwbs"]);
    const c = core.archCounters();
    assert.equal([c.noSnoopTlps, c.noSnoopForced], [2n, 1n]);
  });

  test("bypass STEs and global bypass apply SHCFG/MTCFG or GBPA's attributes", () => {
    const core = unit();
    writeSte(core, 7, [V_BYPASS, shcfg(0n)]);
    writeSte(core, 8, [V_BYPASS, shcfg(1n)]);
    assert.equal(snoopOf(core, 7, 0x1000n), [false, "ste-override"]);
    assert.equal(snoopOf(core, 8, 0x1000n), [true, "tlp"]);
    core.setRegister("CR0", 0n);
    core.setRegister("GBPA", (1n << 4n) | 0n); // MTCFG, MemAttr Device-nGnRnE
    assert.equal(snoopOf(core, 7, 0x1000n), [false, "gbpa"]);
  });

  test("ATS (CR0.ATSCHK = 1, a device without a device-TLB): F_BAD_ATS_TREQ without EATS, F_TRANSL_FORBIDDEN for translated requests, pass-through with EATS", () => {
    const core = unit();
    core.configure(platformCaches("vtd-default", { deviceTlb: { enable: false } }), { ...defaultTiming, enable: false });
    core.setRegister("CR0", 0x15n); // SMMUEN | EVENTQEN | ATSCHK
    writeSte(core, 3, [V_S2, 0n, s2Dword(), S2_L1]);
    writeSte(core, 4, [V_S2, 1n << 28n, s2Dword(), S2_L1]); // EATS full ATS
    const r = core.translate([
      { op: "ATS", sid: 3, addr: 0x1234_5000n },
      rd(3, 0x7654_3000n, { translated: true }),
      { op: "ATS", sid: 4, addr: 0x1234_5000n },
      wr(4, 0x7654_3010n, { translated: true }),
    ]);
    assert.equal(r.map((x) => x.fault?.name ?? x.pa), ["F_BAD_ATS_TREQ", "F_TRANSL_FORBIDDEN", 0x7654_3000n, 0x7654_3010n]);
    assert.ok(r[3]!.passthrough);
    assert.equal(event(core, 0), [0x3_0000_0005n, 1n << 35n, 0x1234_5000n, 0n]);
    assert.equal(event(core, 1), [0x3_0000_0007n, 1n << 35n, 0x7654_3000n, 0n]);
    const c = core.archCounters();
    assert.equal([c.atsRequests, c.pcie_ats_trans_rq, c.pcie_ats_trans_passed, c.transaction], [2n, 2n, 1n, 4n]);
    // EATS needs IDR0.ATS
    core.setRegister("IDR0", IDR0 & ~(1n << 10n));
    assert.is(core.translateOne(rd(4, 0x1234_5000n)).fault?.name, "C_BAD_STE");
  });

  test("C_BAD_STE: stage 2 needs IDR0.S2P; the granule needs its IDR5 bit", () => {
    const core = unit();
    writeSte(core, 3, [V_S2, 0n, s2Dword({ S2TG: 2 }), S2_L1]);
    assert.is(core.translateOne(rd(3, 0n)).status, "fault"); // 16 KiB tables: valid, but nothing mapped
    core.setRegister("IDR5", 0x55n); // no 16 KiB granule
    assert.is(core.translateOne(rd(3, 0n)).fault?.name, "C_BAD_STE");
    writeSte(core, 4, [V_S2, 0n, s2Dword(), S2_L1]);
    assert.is(core.translateOne(rd(4, 0x1234_5000n)).status, "ok");
    core.setRegister("IDR0", IDR0 & ~1n);
    assert.is(core.translateOne(rd(4, 0x1234_5000n)).fault?.name, "C_BAD_STE");
  });

  test("stage-1 access flag: F_ACCESS, ignored with AFFD, set in memory with HA", () => {
    const core = smmu(build);
    for (const p of [0x30000n, 0x31000n, 0x32000n, 0x20000n]) core.zeroPage(p);
    core.write64(0x30008n, 0x31003n);
    core.write64(0x31008n, 0x32003n);
    core.write64(0x32028n, 0x55559347n); // [5] AF = 0
    const cd0 = 0x0007_6205_c000_0019n;
    const writeCd = (d: bigint) => core.writeQwords(0x20000n, [d, 0x30000n, 0n, 0xffn]);
    writeSte(core, 8, [0x20000n | 0xbn]);
    writeCd(cd0);
    const a = core.translateOne(rd(8, 0x4020_5000n));
    assert.equal([a.fault?.name, a.fault?.stage, a.fault?.level], ["F_ACCESS", 1, 1]);
    writeCd(cd0 | (1n << 35n)); // AFFD
    assert.is(core.translateOne(rd(8, 0x4020_5000n)).pa, 0x5555_9000n);
    assert.is(core.read64(0x32028n), 0x55559347n);
    writeCd(cd0 | (1n << 43n)); // HA
    const b = core.translateOne(rd(8, 0x4020_5000n));
    assert.equal([b.status, b.leafPte], ["ok", 0x55559747n]);
    assert.is(core.read64(0x32028n), 0x55559747n);
    assert.is(core.archCounters().adWrites, 1n);
  });

  test.run();
}
