/**
 * SMMUv3 in the core, without stage 1: global bypass and abort (GBPA), every STE Config that does
 * not use a CD, the stream table (linear and 2-level) with its events, stage-2 translation with
 * each fault it raises, the records those faults leave in the event queue, and the queue's
 * overflow. Every value is hand-computed from the tables in helpers.ts.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { builds, smmu, writeSte, event, rd, wr, writeS2Tables, s2Dword, STRTAB, EVENTQ, S2_L1, S2_L3 } from "./helpers.ts";

// STE dword 0: V | Config << 1
const V_S2 = 0xdn; // Config 0b110
const V_BYPASS = 0x9n; // Config 0b100
/** An event queue of two records. */
const EVENTQ_2 = EVENTQ | 1n;

for (const build of builds) {
  const test = suite(`smmuv3 stage 2 [${build}]`);

  test("SMMUEN = 0: GBPA.ABORT aborts without an event; otherwise the transaction bypasses", () => {
    const core = smmu(build, { CR0: 0x4n, GBPA: 1n << 20n });
    const a = core.translateOne(rd(3, 0x1234n));
    assert.is(a.status, "abort");
    assert.is(a.fault, undefined);
    assert.is(a.kind, 0);
    core.setRegister("GBPA", 0n);
    const b = core.translateOne(wr(3, 0xdead_beefn));
    assert.is(b.status, "ok");
    assert.is(b.pa, 0xdead_beefn);
    assert.is(b.kind, 4);
    assert.ok(b.passthrough);
    assert.is(b.snoopBy, "tlp");
    assert.ok(b.snoop);
    const c = core.archCounters();
    assert.is(c.requests, 2n);
    assert.is(c.transaction, 2n);
    assert.is(c.blocked, 1n);
    assert.is(c.bypassed, 1n);
    assert.is(c.config_cache_miss, 0n);
    assert.is(core.getRegister("EVENTQ_PROD"), 0n);
    assert.is(core.getRegister("CR0ACK"), 0x4n);
  });

  test("Config abort and the reserved 0b001-0b011 abort with no event; bypass passes the input address", () => {
    const core = smmu(build);
    for (const [sid, cfg] of [[1, 0n], [2, 1n], [3, 2n], [4, 3n]] as const) writeSte(core, sid, [1n | (cfg << 1n)]);
    writeSte(core, 5, [V_BYPASS, 0xffff_ffff_0000_0000n, 0xffffn, 0xfffn]); // unused dwords are not read
    const r = core.translate([rd(1, 0x1000n), rd(2, 0x1000n), rd(3, 0x1000n), rd(4, 0x1000n), wr(5, 0xabc_d123n)]);
    assert.equal(r.slice(0, 4).map((x) => [x.status, x.kind, x.reads]), [["abort", 0, 1], ["abort", 1, 1], ["abort", 2, 1], ["abort", 3, 1]]);
    assert.is(r[4]!.status, "ok");
    assert.is(r[4]!.pa, 0xabc_d123n);
    assert.is(r[4]!.kind, 4);
    assert.is(r[4]!.domain, 0);
    assert.is(r[4]!.reads, 1);
    assert.is(core.getRegister("EVENTQ_PROD"), 0n);
    const c = core.archCounters();
    assert.is(c.blocked, 4n);
    assert.is(c.config_struct_access, 5n);
    assert.is(c.eventsRecorded, 0n);
  });

  test("stage 2 translates: PA, leaf descriptor, page size, reads, VMID, snoop", () => {
    const core = smmu(build);
    writeS2Tables(core);
    writeSte(core, 3, [V_S2, 0n, s2Dword(), S2_L1]);
    const r = core.translateOne(rd(3, 0x1234_5678n));
    assert.is(r.status, "ok");
    assert.is(r.pa, 0x7654_3678n);
    assert.is(r.leafPa, S2_L3 + 0x145n * 8n);
    assert.is(r.leafPte, 0x765437ffn);
    assert.is(r.s2LeafPa, S2_L3 + 0x145n * 8n);
    assert.is(r.pageLg2, 12);
    assert.is(r.reads, 4); // STE + levels 1, 2, 3
    assert.is(r.domain, 5);
    assert.is(r.kind, 6);
    assert.is(r.addressSpace, undefined);
    assert.ok(r.snoop);
    assert.is(r.snoopBy, "tlp"); // Normal WB inner-shareable at stage 2 changes nothing
    assert.equal(r.perms, { r: true, w: true, x: true, u: true });
    const c = core.archCounters();
    assert.is(c.translated, 1n);
    assert.is(c.tlb_miss, 1n);
    assert.is(c.trans_table_walk_access, 3n);
    assert.is(c.config_struct_access, 1n);
    assert.is(c.snooped, 1n);
    assert.equal(core.walkReads().ss, [1n, 1n, 1n, 0n, 0n]);
  });

  test("stage-2 faults: the result and the exact event records", () => {
    const core = smmu(build);
    writeS2Tables(core);
    writeSte(core, 3, [V_S2, 0n, s2Dword(), S2_L1]);
    writeSte(core, 4, [V_S2, 0n, s2Dword({ S2PS: 2 }), S2_L1]); // 40-bit output
    const r = core.translate([
      rd(3, 0x1234_6000n), // invalid leaf
      rd(4, 0x1234_7010n), // output 2^40
      rd(3, 0x1234_8000n), // AF = 0
      wr(3, 0x1234_9008n, { priv: true }), // read-only
      rd(3, 0x1240_0000n, { exe: true }), // level-3 table in unwritten memory
      rd(3, 0x1_0000_0000n), // beyond the 32-bit IPA
    ]);
    const faults = r.map((x) => [x.status, x.fault?.name, x.fault?.stage, x.fault?.class, x.fault?.recorded, x.fault?.level]);
    assert.equal(faults, [
      ["fault", "F_TRANSLATION", 2, "IN", true, 1],
      ["fault", "F_ADDR_SIZE", 2, "IN", true, 1],
      ["fault", "F_ACCESS", 2, "IN", true, 1],
      ["fault", "F_PERMISSION", 2, "IN", true, 1],
      ["fault", "F_WALK_EABT", 2, "IN", true, 1],
      ["fault", "F_TRANSLATION", 2, "IN", true, 3],
    ]);
    assert.equal(r.map((x) => x.fault?.code), [0x10, 0x11, 0x12, 0x13, 0x0b, 0x10]);
    // dword 1: RnW 35, S2 39, CLASS IN (2) at 41:40; PnU 33; InD 34
    const S2_IN = (1n << 39n) | (2n << 40n);
    const RNW = 1n << 35n;
    assert.equal(event(core, 0), [0x3_0000_0010n, S2_IN | RNW, 0x1234_6000n, 0x1234_6000n]);
    assert.equal(event(core, 1), [0x4_0000_0011n, S2_IN | RNW, 0x1234_7010n, 0x1234_7000n]);
    assert.equal(event(core, 2), [0x3_0000_0012n, S2_IN | RNW, 0x1234_8000n, 0x1234_8000n]);
    assert.equal(event(core, 3), [0x3_0000_0013n, S2_IN | (1n << 33n), 0x1234_9008n, 0x1234_9000n]);
    // F_WALK_EABT: InD (an instruction read), the descriptor's address as FetchAddr
    assert.equal(event(core, 4), [0x3_0000_000bn, S2_IN | RNW | (1n << 34n), 0x1240_0000n, 0x20_0000n]);
    assert.equal(event(core, 5), [0x3_0000_0010n, S2_IN | RNW, 0x1_0000_0000n, 0x1_0000_0000n]);
    assert.is(core.getRegister("EVENTQ_PROD"), 6n);
    const c = core.archCounters();
    assert.is(c.faulted, 6n);
    assert.is(c.faultsRecorded, 6n);
    assert.is(c.eventsRecorded, 6n);
    assert.equal([...core.faultCounts()], [[0x0b, 1n], [0x10, 2n], [0x11, 1n], [0x12, 1n], [0x13, 1n]]);
  });

  test("STE.S2R = 0: stage-2 faults are not recorded; F_WALK_EABT still is", () => {
    const core = smmu(build);
    writeS2Tables(core);
    writeSte(core, 3, [V_S2, 0n, s2Dword({ S2R: 0 }), S2_L1]);
    const r = core.translate([rd(3, 0x1234_6000n), rd(3, 0x1240_0000n)]);
    assert.is(r[0]!.fault?.name, "F_TRANSLATION");
    assert.is(r[0]!.fault?.recorded, false);
    assert.is(r[1]!.fault?.name, "F_WALK_EABT");
    assert.is(r[1]!.fault?.recorded, true);
    assert.is(core.getRegister("EVENTQ_PROD"), 1n);
    assert.is(event(core, 0)[0], 0x3_0000_000bn);
    assert.is(core.archCounters().eventsLost, 0n);
  });

  test("stream table: C_BAD_STREAMID beyond LOG2SIZE and SIDSIZE, F_STE_FETCH, C_BAD_STE for V = 0", () => {
    const core = smmu(build);
    const r = core.translate([rd(256, 0n), rd(100, 0n), rd(6, 0n, { pasid: 9 })]);
    assert.equal(r.map((x) => x.fault?.name), ["C_BAD_STREAMID", "F_STE_FETCH", "C_BAD_STE"]);
    assert.equal(r.map((x) => x.fault?.stage), [undefined, undefined, undefined]);
    assert.equal(r.map((x) => x.reads), [0, 0, 1]);
    assert.equal(event(core, 0), [0x100_0000_0002n, 0n, 0n, 0n]);
    assert.equal(event(core, 1), [0x64_0000_0003n, 0n, 0n, STRTAB + 100n * 64n]);
    // SSV and SubstreamID 9 at 31:12
    assert.equal(event(core, 2), [0x6_0000_9804n, 0n, 0n, 0n]);
    assert.is(r[2]!.addressSpace, 9);
    // LOG2SIZE beyond IDR1.SIDSIZE is capped: with SIDSIZE 6, StreamID 64 is out of range
    const small = smmu(build, { IDR1: 6n | (20n << 6n) | (19n << 16n) });
    assert.is(small.translateOne(rd(64, 0n)).fault?.name, "C_BAD_STREAMID");
  });

  test("2-level stream table: SPLIT 8, Span, invalid level-1 descriptors and unreadable level-2 tables", () => {
    // FMT 1, SPLIT 8, LOG2SIZE 16; level-1 table at STRTAB
    const core = smmu(build, { STRTAB_BASE_CFG: (1n << 16n) | (8n << 6n) | 16n });
    writeS2Tables(core);
    core.write64(STRTAB + 0x12n * 8n, 0x48000n | 9n); // 256 STEs
    core.write64(STRTAB + 0x14n * 8n, 0x49000n | 2n); // 2 STEs
    core.write64(STRTAB + 0x15n * 8n, 0x4a000n | 9n); // level-2 table nobody wrote
    core.zeroPage(0x48000n);
    core.zeroPage(0x49000n);
    core.writeQwords(0x48000n + 3n * 64n, [V_S2, 0n, s2Dword(), S2_L1]);
    const r = core.translate([rd(0x1203, 0x1234_5000n), rd(0x1303, 0n), rd(0x1403, 0n), rd(0x1401, 0n), rd(0x1507, 0n)]);
    assert.is(r[0]!.status, "ok");
    assert.is(r[0]!.pa, 0x7654_3000n);
    assert.is(r[0]!.reads, 5); // L1STD, STE, 3 levels
    assert.equal(r.slice(1).map((x) => x.fault?.name), ["C_BAD_STREAMID", "C_BAD_STREAMID", "C_BAD_STE", "F_STE_FETCH"]);
    assert.equal(event(core, 3), [0x1507_0000_0003n, 0n, 0n, 0x4a000n + 7n * 64n]);
    assert.is(core.archCounters().config_struct_access, 1n + 1n + 1n + 1n + 2n + 1n);
    // SPLIT 7 is not a valid split: every StreamID is C_BAD_STREAMID
    core.setRegister("STRTAB_BASE_CFG", (1n << 16n) | (7n << 6n) | 16n);
    assert.is(core.translateOne(rd(0x1203, 0n)).fault?.name, "C_BAD_STREAMID");
  });

  test("C_BAD_STE: each illegal stage-2 combination; fields of other Configs are not read", () => {
    const core = smmu(build);
    writeS2Tables(core);
    const bad: bigint[][] = [
      [V_S2, 0n, s2Dword({ S2AA64: 0 }), S2_L1],
      [V_S2, 0n, s2Dword({ S2ENDI: 1 }), S2_L1],
      [V_S2, 0n, s2Dword({ S2TG: 3 }), S2_L1],
      [V_S2, 0n, s2Dword({ S2SL0: 2 }), S2_L1], // level 0 resolves no bit of a 32-bit IPA
      [V_S2, 0n, s2Dword({ S2T0SZ: 12 }), S2_L1],
      [V_S2, 0n, s2Dword({ S2PS: 2 }), 1n << 40n], // S2TTB beyond S2PS
      [V_S2, 0n, s2Dword({ S2S: 1 }), S2_L1], // stall with a terminate-only model
      [V_S2, 3n << 28n, s2Dword(), S2_L1], // EATS 3
      [V_S2, 2n << 28n, s2Dword(), S2_L1], // EATS split-stage outside nested
    ];
    bad.forEach((d, i) => writeSte(core, 10 + i, d));
    const r = core.translate(bad.map((_, i) => rd(10 + i, 0x1234_5000n)));
    assert.equal(r.map((x) => x.fault?.name), bad.map(() => "C_BAD_STE"));
    // S2PS beyond the OAS is capped, not an error
    writeSte(core, 30, [V_S2, 0n, s2Dword({ S2PS: 6 }), S2_L1]);
    assert.is(core.translateOne(rd(30, 0x1234_5000n)).pa, 0x7654_3000n);
  });

  test("a SubstreamID on a stage-2-only stream is C_BAD_SUBSTREAMID", () => {
    const core = smmu(build);
    writeS2Tables(core);
    writeSte(core, 3, [V_S2, 0n, s2Dword(), S2_L1]);
    const r = core.translateOne(rd(3, 0x1234_5000n, { pasid: 0x12345 }));
    assert.is(r.fault?.name, "C_BAD_SUBSTREAMID");
    assert.is(r.addressSpace, 0x12345);
    assert.equal(event(core, 0), [0x3_1234_5808n, 0n, 0n, 0n]);
  });

  test("event queue: disabled loses events; full toggles PROD.OVFLG once and loses them; never stops", () => {
    const off = smmu(build, { CR0: 0x1n });
    off.zeroPage(0x1000n);
    const a = off.translateOne(rd(7, 0n));
    assert.is(a.fault?.name, "C_BAD_STE");
    assert.is(a.fault?.recorded, false);
    assert.is(off.archCounters().eventsLost, 1n);
    assert.is(off.archCounters().faultsRecorded, 0n);

    const core = smmu(build, { EVENTQ_BASE: EVENTQ_2 });
    const r = core.translate([rd(7, 0n), rd(8, 0n), rd(9, 0n), rd(10, 0n)]);
    assert.equal(r.map((x) => x.fault?.recorded), [true, true, false, false]);
    // two records: index 0, wrap bit 1; overflow flag set
    assert.is(core.getRegister("EVENTQ_PROD"), 0x8000_0002n);
    assert.equal(event(core, 0)[0], 0x7_0000_0004n);
    assert.equal(event(core, 1)[0], 0x8_0000_0004n);
    assert.is(core.archCounters().eventsLost, 2n);
    // software consumes both and acknowledges the overflow: recording resumes at index 0
    core.setRegister("EVENTQ_CONS", 0x8000_0002n);
    assert.is(core.translateOne(rd(11, 0n)).fault?.recorded, true);
    assert.is(core.getRegister("EVENTQ_PROD"), 0x8000_0003n);
    assert.equal(event(core, 0)[0], 0xb_0000_0004n);
  });

  test("the event queue's LOG2SIZE is capped at IDR1.EVENTQS", () => {
    const core = smmu(build, { IDR1: 16n | (20n << 6n) | (1n << 16n), EVENTQ_BASE: EVENTQ | 5n });
    const r = core.translate([rd(7, 0n), rd(8, 0n), rd(9, 0n)]);
    assert.equal(r.map((x) => x.fault?.recorded), [true, true, false]);
  });

  test.run();
}

