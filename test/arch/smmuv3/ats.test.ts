/**
 * SMMUv3 ATS through the device-TLB (engine/atc.ts, shared with VT-d): a translated request of a
 * device with a device-TLB misses, the device sends an ATS translation request whose completion
 * fills its cache, then the translated request is checked (CR0.ATSCHK, STE.EATS) and issued;
 * CMD_ATC_INV removes exactly its range; a stale use after an unmap without CMD_ATC_INV is flagged.
 *
 * The unit is tlb-unit.ts's (StreamID 8: stage 1, VA 0x40201000 -> 0x55555000 and 0x40202000 ->
 * 0x55556000, 4 KiB pages; StreamID 3: stage 2, IPA 0x12345000 -> 0x76543000) with the default
 * device-TLB (64 entries, 4 ways), CR0 = SMMUEN | EVENTQEN | CMDQEN | ATSCHK, and EATS = 1 on both.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { builds, rd, wr, writeSte, s2Dword, S2_L1, event } from "./helpers.ts";
import { tlbUnit, command, lhm, CD_AT, S1_L3 } from "./tlb-unit.ts";
import type { Core } from "../../../src/core/core.ts";

const EATS1 = 1n << 28n;
const EATS2 = 2n << 28n;
const CR0_ATSCHK = 1n << 4n;

function atsUnit(build: (typeof builds)[number], atschk = true): Core {
  const core = tlbUnit(build);
  core.setRegister("CR0", 0xdn | (atschk ? CR0_ATSCHK : 0n));
  writeSte(core, 8, [CD_AT | 0xbn, EATS1]);
  writeSte(core, 3, [0xdn, EATS1, s2Dword(), S2_L1]);
  return core;
}

/** CMD_ATC_INV: SID, SSV/SSID, Size (log2 of 4 KiB pages), Addr (spec 2.7 of the fact sheet). */
function atcInv(core: Core, sid: number, addr: bigint, size: number, ssid?: number): void {
  const d0 = 0x40n | (ssid !== undefined ? (1n << 11n) | (BigInt(ssid) << 12n) : 0n) | (BigInt(sid) << 32n);
  command(core, d0, addr | BigInt(size));
}

const counts = (core: Core) => {
  const a = core.archCounters();
  const c = core.counters();
  return [a.transaction, a.pcie_ats_trans_rq, a.pcie_ats_trans_passed, c.atcMisses, c.staleAtcUses];
};

for (const build of builds) {
  const test = suite(`smmuv3 ATS [${build}]`);

  test("a translated request misses the device-TLB, sends an ATS request, then hits", () => {
    const core = atsUnit(build);
    const r = core.translate([rd(8, 0x4020_1234n, { translated: true }), wr(8, 0x4020_1238n, { translated: true })]);
    assert.equal(r.map((x) => [x.status, x.pa, x.atc, x.passthrough, x.stale, x.pageLg2]), [
      ["ok", 0x5555_5234n, true, true, false, 12],
      ["ok", 0x5555_5238n, true, true, false, 12],
    ]);
    // the ATS request and two translated requests; one device-TLB miss
    assert.equal(counts(core), [3n, 1n, 2n, 1n, 0n]);
    assert.equal(lhm(core, "deviceTlb"), [2n, 1n, 1n]);
    // the ATS request walked (one TLB miss); the translated requests read the STE from the config cache
    assert.is(core.archCounters().tlb_miss, 1n);
    assert.equal(lhm(core, "iotlb"), [2n, 0n, 2n]); // the ASID's entries, then the global ones
  });

  test("CR0.ATSCHK = 1: a translated request of an STE without EATS is F_TRANSL_FORBIDDEN; ATSCHK = 0 passes it", () => {
    const core = atsUnit(build);
    writeSte(core, 8, [CD_AT | 0xbn, 0n]); // EATS = 0
    // the ATS request itself is refused first (F_BAD_ATS_TREQ)
    assert.equal(core.translateOne(rd(8, 0x4020_1000n, { translated: true })).fault?.name, "F_BAD_ATS_TREQ");
    // fill the device-TLB from an EATS = 1 STE, then take ATS away: the translated request is checked
    writeSte(core, 8, [CD_AT | 0xbn, EATS1]);
    command(core, 0x03n | (8n << 32n), 1n); // CFGI_STE 8
    assert.is(core.translateOne({ op: "ATS", sid: 8, addr: 0x4020_1000n }).pa, 0x5555_5000n);
    writeSte(core, 8, [CD_AT | 0xbn, 0n]);
    command(core, 0x03n | (8n << 32n), 1n);
    const t = core.translateOne(wr(8, 0x4020_1010n, { translated: true }));
    assert.equal([t.status, t.fault?.name, t.atc], ["fault", "F_TRANSL_FORBIDDEN", true]);
    // the event: StreamID 8, InputAddr = the translated address, RnW = 0
    assert.equal(event(core, 1), [0x8_0000_0007n, 0n, 0x5555_5010n, 0n]);
    core.setRegister("CR0", 0xdn); // ATSCHK = 0: no STE check
    const p = core.translateOne(wr(8, 0x4020_1010n, { translated: true }));
    assert.equal([p.status, p.pa, p.passthrough], ["ok", 0x5555_5010n, true]);
    assert.equal(counts(core), [4n, 2n, 1n, 1n, 0n]);
  });

  test("CMD_ATC_INV removes exactly its range (Size 1: two 4 KiB pages), in that StreamID only", () => {
    const core = atsUnit(build);
    // StreamID 8: pages 0x40201000 and 0x40202000; StreamID 3: page 0x12345000
    core.translate([
      { op: "ATS", sid: 8, addr: 0x4020_1000n },
      { op: "ATS", sid: 8, addr: 0x4020_2000n },
      { op: "ATS", sid: 3, addr: 0x1234_5000n },
    ]);
    assert.equal(lhm(core, "deviceTlb"), [0n, 0n, 0n]);
    assert.is(core.cacheStats().deviceTlb.fills, 3n);
    // Size 1 at 0x40202000: 2 pages aligned down to 8 KiB: 0x40202000-0x40203fff (not 0x40201000)
    atcInv(core, 8, 0x4020_2000n, 1);
    // Size 1 at 0x40200000 on StreamID 9: nothing of StreamID 8 goes
    atcInv(core, 9, 0x4020_0000n, 1);
    assert.is(core.cacheStats().deviceTlb.invalidations, 1n);
    const r = core.translate([rd(8, 0x4020_1000n, { translated: true }), rd(8, 0x4020_2000n, { translated: true }), rd(3, 0x1234_5000n, { translated: true })]);
    assert.equal(r.map((x) => x.pa), [0x5555_5000n, 0x5555_6000n, 0x7654_3000n]);
    assert.equal(lhm(core, "deviceTlb"), [3n, 2n, 1n]); // only 0x40202000 missed
    // Size 2 at 0x40201000: 16 KiB aligned down: 0x40200000-0x40203fff, both pages of StreamID 8
    atcInv(core, 8, 0x4020_1000n, 2);
    assert.is(core.cacheStats().deviceTlb.invalidations, 3n);
    // Size 52: every address of StreamID 3
    atcInv(core, 3, 0n, 52);
    assert.is(core.cacheStats().deviceTlb.invalidations, 4n);
    assert.is(core.counters().atcMisses, 1n);
  });

  test("CMD_ATC_INV with SSV removes only its SubstreamID's entries; without SSV also the SubstreamID-tagged ones", () => {
    const core = atsUnit(build);
    writeSte(core, 8, [CD_AT | 0xbn | (1n << 59n), EATS1 | 2n]); // S1CDMax 1 (linear CD table of 2), S1DSS = 2 (CD 0 without SSID)
    core.writeQwords(CD_AT + 64n, [0, 1, 2, 3].map((i) => core.read64(CD_AT + BigInt(i) * 8n)!)); // CD 1 = CD 0
    core.translate([
      { op: "ATS", sid: 8, addr: 0x4020_1000n },
      { op: "ATS", sid: 8, pasid: 1, addr: 0x4020_1000n },
    ]);
    assert.is(core.cacheStats().deviceTlb.fills, 2n);
    atcInv(core, 8, 0x4020_1000n, 0, 0); // SSID 0: neither entry (one has none, one has SSID 1)
    assert.is(core.cacheStats().deviceTlb.invalidations, 0n);
    atcInv(core, 8, 0x4020_1000n, 0, 1); // SSID 1 only
    assert.is(core.cacheStats().deviceTlb.invalidations, 1n);
    core.translate([{ op: "ATS", sid: 8, pasid: 1, addr: 0x4020_1000n }]);
    atcInv(core, 8, 0x4020_1000n, 0); // no SSV: both
    assert.is(core.cacheStats().deviceTlb.invalidations, 3n);
  });

  test("a stale use: unmapped and TLB-invalidated without CMD_ATC_INV, the device still uses its entry, flagged", () => {
    const core = atsUnit(build);
    assert.is(core.translateOne(rd(8, 0x4020_1000n, { translated: true })).pa, 0x5555_5000n);
    core.write64(S1_L3 + 8n, 0n); // unmap VA 0x40201000
    command(core, 0x12n | (7n << 48n), 0x4020_1000n); // TLBI_NH_VA ASID 7
    command(core, 0x46n); // CMD_SYNC
    const s = core.translateOne(rd(8, 0x4020_1008n, { translated: true }));
    assert.equal([s.status, s.pa, s.atc, s.stale], ["ok", 0x5555_5008n, true, true]);
    assert.equal(counts(core), [3n, 1n, 2n, 1n, 1n]);
    // with CMD_ATC_INV the device asks again and the ATS request faults
    atcInv(core, 8, 0x4020_1000n, 0);
    const f = core.translateOne(rd(8, 0x4020_1008n, { translated: true }));
    assert.equal([f.status, f.fault?.name, f.stale], ["fault", "F_TRANSLATION", false]);
    assert.equal(counts(core), [4n, 2n, 2n, 2n, 1n]);
  });

  test("EATS = 2 (split-stage, nested): the ATS request gives the stage-1 output; stage 2 translates the translated request", () => {
    const core = atsUnit(build);
    // StreamID 9, nested: stage 1 of StreamID 8 (CD and tables in the first GiB), stage 2 at S2_ID: 1 GiB blocks,
    // IPA 0-0x3fffffff identity and IPA 0x40000000-0x7fffffff -> PA 0x80000000 (S2AP RW, AF, MemAttr 0xF, SH inner)
    const S2_ID = 0x110000n;
    core.zeroPage(S2_ID);
    core.writeQwords(S2_ID, [0x7fdn, 0x8000_0000n | 0x7fdn]);
    writeSte(core, 9, [CD_AT | 0xfn, EATS2, s2Dword(), S2_ID]);
    const a = core.translateOne({ op: "ATS", sid: 9, addr: 0x4020_1000n });
    assert.equal([a.status, a.pa, a.perms], ["ok", 0x5555_5000n, { r: true, w: true, x: true, u: true }]); // the IPA
    const t = core.translateOne(rd(9, 0x4020_1234n, { translated: true }));
    assert.equal([t.status, t.pa, t.atc, t.passthrough], ["ok", 0x9555_5234n, true, false]);
    assert.equal(counts(core), [2n, 1n, 1n, 0n, 0n]);
    // the split ATS request neither used nor filled the TLB; the translated request filled a stage-2 entry
    assert.equal(lhm(core, "iotlb"), [1n, 0n, 1n]);
    // EATS = 1 (after CFGI_STE and CMD_ATC_INV): the completion is the full translation, passed untranslated
    writeSte(core, 9, [CD_AT | 0xfn, EATS1, s2Dword(), S2_ID]);
    command(core, 0x03n | (9n << 32n), 1n);
    atcInv(core, 9, 0n, 52);
    const f = core.translateOne(rd(9, 0x4020_1234n, { translated: true }));
    assert.equal([f.status, f.pa, f.atc, f.passthrough], ["ok", 0x9555_5234n, true, true]);
    assert.equal(counts(core), [4n, 2n, 2n, 1n, 0n]);
  });

  test.run();
}
