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
import { platformCaches } from "../../../src/platform.ts";
import { defaultTiming } from "../../../src/config/timing.ts";
import { builds, smmu, writeSte, event, rd, wr, writeS2Tables, s2Dword, S2_L1, IDR0, EVENTQ } from "./helpers.ts";
import { tlbUnit, command, lhm, S1_L2 } from "./tlb-unit.ts";

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

  /**
   * A break-before-make violation on tlb-unit's stage-1 tables (StreamID 8, ASID 7, VMID 0): VA
   * 0x40201000 is cached as a 4 KiB page (-> 0x55555000); software then rewrites L2[1] (VA
   * 0x40200000-0x403fffff) as a 2 MiB block at 0x66600000 and invalidates only VA 0x40202000
   * (TLBI_NH_VA, Leaf = 0: the walk-cache entries above it go, the 4 KiB entry does not cover it), so
   * VA 0x40202000 walks to the block and caches a 2 MiB entry. VA 0x40201000 now matches two entries.
   */
  function conflicted(event: boolean) {
    const core = tlbUnit(build);
    if (event) core.setOptions({ physAddrBits: 48, options: Opt.TLB_CONFLICT, pgsnpNoSc: 0 });
    assert.is(core.translateOne(rd(8, 0x4020_1000n)).pa, 0x5555_5000n);
    // block: the page descriptor's attributes (AttrIndx 1, AP unprivileged RW, SH inner, AF, nG) with bit 1 clear
    core.write64(S1_L2 + 8n, 0x6660_0f45n);
    command(core, 0x12n | (7n << 48n), 0x4020_2000n); // TLBI_NH_VA, ASID 7, VMID 0, Addr 0x40202000, Leaf 0
    const b = core.translateOne(rd(8, 0x4020_2000n));
    assert.equal([b.status, b.pa, b.pageLg2], ["ok", 0x6660_2000n, 21]);
    return core;
  }

  test("F_TLB_CONFLICT (Opt.TLB_CONFLICT): a page and a block both cached for one address end the transaction with the event", () => {
    const core = conflicted(true);
    const r = core.translate([rd(8, 0x4020_1000n, { priv: true }), wr(8, 0x4020_3008n)]);
    assert.equal([r[0]!.status, r[0]!.fault?.code, r[0]!.fault?.name, r[0]!.fault?.recorded], ["fault", 0x20, "F_TLB_CONFLICT", true]);
    // VA 0x40203008 is in the block only (no 4 KiB entry): one match, served from the block
    assert.equal([r[1]!.status, r[1]!.pa], ["ok", 0x6660_3008n]);
    // type 0x20, StreamID 8; PnU and RnW; InputAddr
    assert.equal(event(core, 0), [0x8_0000_0020n, PNU | RNW, 0x4020_1000n, 0n]);
    assert.is(core.getRegister("EVENTQ_PROD"), 1n);
    assert.equal(core.faultCounts().get(0x20), 1n);
    // TLB lookups (a miss probes the ASID's entries, then the global ones: two lookups, two misses):
    // 0x40201000 and 0x40202000 miss (4 lookups, 4 misses), the conflict and 0x40203008 hit the
    // ASID's entries (2 lookups, 2 hits); the conflict check itself counts no lookup
    assert.equal(lhm(core, "iotlb"), [6n, 2n, 4n]);
  });

  test("F_TLB_CONFLICT off (default, \"ignore\"): the same lookup is served by the first match, the stale 4 KiB page", () => {
    const core = conflicted(false);
    const r = core.translateOne(rd(8, 0x4020_1000n, { priv: true }));
    assert.equal([r.status, r.pa, r.pageLg2], ["ok", 0x5555_5000n, 12]);
    assert.is(core.getRegister("EVENTQ_PROD"), 0n);
    // two misses (2 lookups each) and this hit
    assert.equal(lhm(core, "iotlb"), [5n, 1n, 4n]);
  });

  test("F_TLB_CONFLICT in the micro-TLB: a page and a block copied into it for one address", () => {
    const core = tlbUnit(build);
    // micro-TLB on; no stage-1 walk caches, so the rewritten L2 entry is read without any TLBI
    // (a TLBI would empty the micro-TLB)
    const off = { enable: false };
    core.configure(platformCaches("vtd-default", { microTlb: { enable: true }, pwcFsPde: off, pwcFsPdpe: off, pwcFsPml4e: off, pwcFsPml5e: off }), { ...defaultTiming, enable: false });
    core.setOptions({ physAddrBits: 48, options: Opt.TLB_CONFLICT, pgsnpNoSc: 0 });
    assert.is(core.translateOne(rd(8, 0x4020_1000n)).pa, 0x5555_5000n); // the 4 KiB page into the TLB and the micro-TLB
    core.write64(S1_L2 + 8n, 0x6660_0f45n); // the 2 MiB block, no TLBI
    assert.is(core.translateOne(rd(8, 0x4020_2000n)).pa, 0x6660_2000n); // misses both, walks, copies the block in
    const m = core.translateOne(rd(8, 0x4020_1000n));
    assert.equal([m.status, m.fault?.name], ["fault", "F_TLB_CONFLICT"]);
    // micro-TLB: 0x40201000 miss, 0x40202000 miss, then the conflicting hit; the main TLB saw only
    // the two misses (two lookups each: the ASID's entries, then the global ones), so the conflict
    // was found in the micro-TLB
    assert.equal(lhm(core, "microTlb"), [3n, 1n, 2n]);
    assert.equal(lhm(core, "iotlb"), [4n, 0n, 4n]);
    assert.equal(event(core, 0), [0x8_0000_0020n, RNW, 0x4020_1000n, 0n]);
  });

  test("F_TLB_CONFLICT: an nG = 1 and an nG = 0 entry of one address conflict; after TLBI_NH_ASID the global entry alone serves it", () => {
    const core = tlbUnit(build);
    core.setOptions({ physAddrBits: 48, options: Opt.TLB_CONFLICT, pgsnpNoSc: 0 });
    const L3 = 0x32000n; // tlb-unit's S1_L3; [1] maps VA 0x40201000 with nG = 1
    assert.is(core.translateOne(rd(8, 0x4020_1000n)).pa, 0x5555_5000n);
    // the leaf rewritten with nG = 0 (0xf47 & ~0x800) without a TLBI; a second ASID (8, StreamID 9,
    // its CD a copy with ASID 8) misses both its ASID's and the global entries, walks and caches the
    // leaf as a global entry: VA 0x40201000 of ASID 7 now matches its nG = 1 entry and the global one
    core.write64(L3 + 8n, 0x5555_5747n);
    core.writeQwords(0x21000n, [core.read64(0x20000n)! & ~(0xffffn << 48n) | (8n << 48n), core.read64(0x20008n)!, 0n, core.read64(0x20018n)!]);
    writeSte(core, 9, [0x21000n | 0xbn]);
    assert.equal(core.translateOne(rd(9, 0x4020_1000n)).pa, 0x5555_5000n);
    const r = core.translateOne(rd(8, 0x4020_1000n));
    assert.equal([r.status, r.fault?.name], ["fault", "F_TLB_CONFLICT"]);
    assert.equal(event(core, 0), [0x8_0000_0020n, RNW, 0x4020_1000n, 0n]);
    command(core, 0x11n | (7n << 48n)); // TLBI_NH_ASID 7: the nG = 1 entry goes, the global one stays
    const after = core.translateOne(rd(8, 0x4020_1000n));
    assert.equal([after.status, after.pa], ["ok", 0x5555_5000n]);
    assert.is(core.getRegister("EVENTQ_PROD"), 1n);
  });

  test.run();
}
