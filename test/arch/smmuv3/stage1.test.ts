/**
 * SMMUv3 in the core with stage 1: CDs (linear and 2-level tables), SubstreamIDs and S1DSS, the CD
 * checks, stage-1 rights and ranges (TTB0/TTB1, EPD), coherency from MAIR, and nested translation
 * with stage-2 faults of each CLASS (CD, TT, IN). Values hand-computed from the tables below.
 *
 * Stage 1: 4 KiB granule, T0SZ 25 (39-bit VA, levels 1-3): L1 at S1_L1, [1] -> L2 at S1_L2,
 * [1] -> L3 at S1_L3 (VA 0x40200000-0x403fffff). L3 leaves (AF, SH inner):
 *   [1] -> 0x55555000 AttrIndx 1 (WB), AP[1] (unprivileged), writable      0x55555747
 *   [2] -> 0x55556000 AttrIndx 1, privileged only, writable                0x55556707
 *   [3] -> 0x55557000 AttrIndx 0 (Normal NC), unprivileged, writable       0x55557743
 *   [4] -> 0x55558000 AttrIndx 1, unprivileged, read-only                  0x555587c7
 * MAIR: [0] 0x44 Normal NC, [1] 0xff Normal WB, [2] 0x04 Device.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Opt } from "../../../src/core/abi.ts";
import type { Core } from "../../../src/core/core.ts";
import { builds, smmu, writeSte, event, rd, wr, s2Dword, IDR0 } from "./helpers.ts";

const S1_L1 = 0x30000n, S1_L2 = 0x31000n, S1_L3 = 0x32000n;
const MAIR = 0x04ff44n;
/** CD dword 0: T0SZ 25, TG0 4K, EPD1, V, IPS 48 bits, AA64, R, A, ASID 7. */
const CD0 = 0x0007_6205_c000_0019n;
const R_BIT = 1n << 45n;
const V_S1 = 0xbn; // Config 0b101
const V_NESTED = 0xfn; // Config 0b111
const RNW = 1n << 35n;
const CLASS_IN = 2n << 40n;
const S2 = 1n << 39n;

function writeS1Tables(core: Core): void {
  for (const p of [S1_L1, S1_L2, S1_L3]) core.zeroPage(p);
  core.write64(S1_L1 + 8n, S1_L2 | 3n);
  core.write64(S1_L2 + 8n, S1_L3 | 3n);
  core.writeQwords(S1_L3 + 8n, [0x55555747n, 0x55556707n, 0x55557743n, 0x555587c7n]);
}

function writeCd(core: Core, at: bigint, dw0 = CD0, ttb0 = S1_L1, ttb1 = 0n): void {
  core.writeQwords(at, [dw0, ttb0, ttb1, MAIR, 0n, 0n, 0n, 0n]);
}

/** A unit with the stage-1 tables, a CD at 0x20000 and a stage-1 STE for StreamID 8 using it. */
function s1Unit(build: (typeof builds)[number]): Core {
  const core = smmu(build);
  writeS1Tables(core);
  core.zeroPage(0x20000n);
  writeCd(core, 0x20000n);
  writeSte(core, 8, [0x20000n | V_S1]);
  return core;
}

for (const build of builds) {
  const test = suite(`smmuv3 stage 1 [${build}]`);

  test("stage 1 translates: PA, leaf, reads, kind, snoop from MAIR[AttrIndx]", () => {
    const core = s1Unit(build);
    const r = core.translate([rd(8, 0x4020_1234n), rd(8, 0x4020_3010n), rd(8, 0x4020_1000n, { ns: true })]);
    assert.is(r[0]!.status, "ok");
    assert.is(r[0]!.pa, 0x5555_5234n);
    assert.is(r[0]!.leafPa, S1_L3 + 8n);
    assert.is(r[0]!.leafPte, 0x55555747n);
    assert.is(r[0]!.s2LeafPa, 0n);
    assert.is(r[0]!.pageLg2, 12);
    assert.is(r[0]!.reads, 5); // STE, CD, 3 levels
    assert.is(r[0]!.kind, 5);
    assert.is(r[0]!.domain, 0);
    assert.equal([r[0]!.snoop, r[0]!.snoopBy], [true, "stage1-attr"]);
    assert.equal([r[1]!.status, r[1]!.pa, r[1]!.snoop, r[1]!.snoopBy], ["ok", 0x5555_7010n, false, "stage1-attr"]);
    assert.equal([r[2]!.snoop, r[2]!.snoopBy], [false, "tlp"]);
    const c = core.archCounters();
    assert.equal([c.snooped, c.nonSnooped, c.noSnoopTlps, c.noSnoopForced], [1n, 2n, 1n, 0n]);
    assert.equal([c.config_struct_access, c.trans_table_walk_access, c.tlb_miss], [6n, 9n, 3n]);
    assert.equal(core.walkReads().fs, [3n, 3n, 3n, 0n, 0n]);
  });

  test("CANWBS makes a No-Snoop TLP coherent; IDR0.COHACC = 0 makes nothing snoop", () => {
    const core = s1Unit(build);
    core.setOptions({ physAddrBits: 48, options: Opt.CANWBS, pgsnpNoSc: 0 });
    const r = core.translateOne(rd(8, 0x4020_1000n, { ns: true }));
    assert.equal([r.snoop, r.snoopBy], [true, "canwbs"]);
    assert.is(core.archCounters().noSnoopForced, 1n);
    const nc = s1Unit(build);
    nc.setRegister("IDR0", IDR0 & ~(1n << 4n));
    const q = nc.translateOne(rd(8, 0x4020_1000n));
    assert.equal([q.status, q.snoop, q.snoopBy], ["ok", false, "cohacc"]);
  });

  test("stage-1 rights: PnU against AP[1], writes against AP[2]; the event record of a stage-1 fault", () => {
    const core = s1Unit(build);
    const r = core.translate([
      rd(8, 0x4020_2000n), // unprivileged read of a privileged page
      rd(8, 0x4020_2008n, { priv: true }),
      wr(8, 0x4020_4000n), // read-only page
      wr(8, 0x4020_4000n, { priv: true }),
      rd(8, 0x4020_4000n),
    ]);
    assert.equal(r.map((x) => [x.status, x.fault?.name, x.fault?.stage, x.fault?.class]), [
      ["fault", "F_PERMISSION", 1, undefined],
      ["ok", undefined, undefined, undefined],
      ["fault", "F_PERMISSION", 1, undefined],
      ["fault", "F_PERMISSION", 1, undefined],
      ["ok", undefined, undefined, undefined],
    ]);
    assert.is(r[1]!.pa, 0x5555_6008n);
    // stage 1: S2 = 0, CLASS IN, no IPA
    assert.equal(event(core, 0), [0x8_0000_0013n, RNW | CLASS_IN, 0x4020_2000n, 0n]);
    assert.equal(event(core, 1), [0x8_0000_0013n, CLASS_IN, 0x4020_4000n, 0n]);
    assert.equal(event(core, 2), [0x8_0000_0013n, CLASS_IN | (1n << 33n), 0x4020_4000n, 0n]);
  });

  test("CD.R = 0 suppresses stage-1 fault records", () => {
    const core = s1Unit(build);
    writeCd(core, 0x20000n, CD0 & ~R_BIT);
    const r = core.translate([rd(8, 0x4020_2000n), rd(8, 0x4020_5000n)]);
    assert.equal(r.map((x) => [x.fault?.name, x.fault?.recorded]), [["F_PERMISSION", false], ["F_TRANSLATION", false]]);
    assert.is(core.getRegister("EVENTQ_PROD"), 0n);
  });

  test("ranges: TTB1 by VA bit 55, EPD0/EPD1 give F_TRANSLATION, an address outside both ranges too", () => {
    const core = s1Unit(build);
    // T1SZ 25, TG1 4K (encoding 2), EPD1 = 0; TTB1 = the same tables
    writeCd(core, 0x20000n, 0x0007_6205_8099_0019n, S1_L1, S1_L1);
    const r = core.translate([rd(8, 0xffff_ff80_4020_1234n), rd(8, 0x4020_1234n), rd(8, 0x0080_0000_4020_1234n)]);
    assert.equal([r[0]!.status, r[0]!.pa, r[1]!.pa], ["ok", 0x5555_5234n, 0x5555_5234n]);
    assert.equal([r[2]!.fault?.name, r[2]!.fault?.stage, r[2]!.fault?.level], ["F_TRANSLATION", 1, 3]);
    // the base CD disables TTB1 (EPD1); EPD0 disables TTB0
    writeCd(core, 0x20000n);
    const q = core.translateOne(rd(8, 0xffff_ff80_4020_1234n));
    assert.equal([q.fault?.name, q.fault?.stage, q.reads], ["F_TRANSLATION", 1, 2]);
    writeCd(core, 0x20000n, CD0 | (1n << 14n));
    assert.is(core.translateOne(rd(8, 0x4020_1234n)).fault?.name, "F_TRANSLATION");
  });

  test("S1DSS for transactions without a SubstreamID (S1CDMax > 0); SubstreamIDs select CDs", () => {
    const core = s1Unit(build);
    core.zeroPage(0x21000n);
    writeCd(core, 0x21000n); // CD 0
    writeCd(core, 0x21040n, (CD0 & ~(0xffffn << 48n)) | (8n << 48n)); // CD 1, ASID 8
    const ste0 = 0x21000n | V_S1 | (2n << 59n); // S1CDMax 2: 4 CDs
    writeSte(core, 9, [ste0, 0n]); // terminate
    writeSte(core, 10, [ste0, 1n]); // bypass
    writeSte(core, 11, [ste0, 2n]); // substream 0
    const r = core.translate([
      rd(9, 0x4020_1234n), rd(10, 0x4020_1234n), rd(11, 0x4020_1234n),
      rd(9, 0x4020_1234n, { pasid: 1 }), rd(9, 0x4020_1234n, { pasid: 4 }), rd(9, 0x4020_1234n, { pasid: 3 }),
      rd(8, 0x4020_1234n, { pasid: 0 }),
    ]);
    assert.equal(r.map((x) => [x.status, x.fault?.name ?? x.pa]), [
      ["fault", "F_STREAM_DISABLED"],
      ["ok", 0x4020_1234n],
      ["ok", 0x5555_5234n],
      ["ok", 0x5555_5234n],
      ["fault", "C_BAD_SUBSTREAMID"], // beyond S1CDMax
      ["fault", "C_BAD_CD"], // CD 3 is not valid
      ["fault", "C_BAD_SUBSTREAMID"], // S1CDMax = 0: no substreams
    ]);
    assert.ok(r[1]!.passthrough);
    assert.equal([r[3]!.addressSpace, r[2]!.addressSpace], [1, undefined]);
    assert.equal(event(core, 0), [0x9_0000_0006n, 0n, 0n, 0n]);
    assert.equal(event(core, 1), [0x9_0000_4808n, 0n, 0n, 0n]);
    assert.equal(event(core, 2), [0x9_0000_380an, 0n, 0n, 0n]);
  });

  test("2-level CD tables: 4 KiB and 64 KiB leaves, L1CD.V, F_CD_FETCH with its FetchAddr", () => {
    const core = s1Unit(build);
    for (const p of [0x60000n, 0x61000n, 0x64000n, 0x70000n]) core.zeroPage(p);
    core.write64(0x60008n, 0x61001n); // SSIDs 64-127
    core.write64(0x60018n, 0x62001n); // SSIDs 192-255: a leaf table nobody wrote
    writeCd(core, 0x61000n + 5n * 64n);
    writeSte(core, 12, [0x60000n | (1n << 4n) | V_S1 | (8n << 59n)]);
    core.write64(0x64008n, 0x70001n); // SSIDs 1024-2047
    writeCd(core, 0x70000n + 5n * 64n);
    writeSte(core, 13, [0x64000n | (2n << 4n) | V_S1 | (12n << 59n)]);
    writeSte(core, 14, [0x90000n | V_S1]); // a CD table nobody wrote
    const r = core.translate([
      rd(12, 0x4020_1234n, { pasid: 0x45 }), rd(12, 0x4020_1234n, { pasid: 0x85 }), rd(12, 0x4020_1234n, { pasid: 0xc5 }),
      rd(13, 0x4020_1234n, { pasid: 0x405 }), rd(14, 0x4020_1234n),
    ]);
    assert.equal(r.map((x) => x.fault?.name ?? x.pa), [0x5555_5234n, "C_BAD_SUBSTREAMID", "F_CD_FETCH", 0x5555_5234n, "F_CD_FETCH"]);
    assert.is(r[0]!.reads, 6); // STE, L1CD, CD, 3 levels
    assert.equal(event(core, 1), [0xc_000c_5809n, 0n, 0n, 0x62000n + 5n * 64n]);
    assert.equal(event(core, 2), [0xe_0000_0009n, 0n, 0n, 0x90000n]);
  });

  test("C_BAD_CD and the stage-1 C_BAD_STE combinations", () => {
    const core = s1Unit(build);
    const cds = [
      CD0 & ~(1n << 31n), // V = 0
      CD0 & ~(1n << 41n), // AA64 = 0
      CD0 | (1n << 15n), // big-endian
      (CD0 & ~0x3fn) | 12n, // T0SZ 12
      CD0 | (3n << 6n), // TG0 reserved
      CD0 | (1n << 44n), // stall with a terminate-only model
    ];
    cds.forEach((d, i) => {
      core.zeroPage(0xa0000n + BigInt(i) * 0x1000n);
      writeCd(core, 0xa0000n + BigInt(i) * 0x1000n, d);
      writeSte(core, 20 + i, [(0xa0000n + BigInt(i) * 0x1000n) | V_S1]);
    });
    core.zeroPage(0xb0000n);
    writeCd(core, 0xb0000n, (CD0 & ~(7n << 32n)) | (2n << 32n), 1n << 40n); // TTB0 beyond a 40-bit IPS
    writeSte(core, 26, [0xb0000n | V_S1]);
    const r = core.translate(cds.map((_, i) => rd(20 + i, 0x4020_1234n)).concat([rd(26, 0x4020_1234n)]));
    assert.equal(r.map((x) => x.fault?.name), Array(7).fill("C_BAD_CD"));
    const stes = [
      0x20000n | V_S1 | (21n << 59n), // S1CDMax beyond SSIDSIZE
      0x20000n | V_S1 | (3n << 4n) | (1n << 59n), // S1Fmt 3
      (1n << 48n) | V_S1, // S1ContextPtr beyond the OAS
    ];
    stes.forEach((d, i) => writeSte(core, 30 + i, [d]));
    writeSte(core, 33, [0x20000n | V_S1 | (1n << 59n), 3n]); // S1DSS 3
    writeSte(core, 34, [0x20000n | V_S1, 1n << 30n]); // STRW 1 (secure)
    const q = core.translate([30, 31, 32, 33, 34].map((sid) => rd(sid, 0x4020_1234n)));
    assert.equal(q.map((x) => x.fault?.name), Array(5).fill("C_BAD_STE"));
    // stage 1 needs IDR0.S1P
    core.setRegister("IDR0", IDR0 & ~2n);
    assert.is(core.translateOne(rd(8, 0x4020_1234n)).fault?.name, "C_BAD_STE");
  });

  // ---- nested -------------------------------------------------------------------------------------

  /** Stage-2 level-1 tables of 4 entries (S2T0SZ 32, S2SL0 1) with 1 GiB identity blocks. */
  const ROOT_B = 0x110000n; // IPA 0-2 GiB
  const ROOT_A = 0x111000n; // IPA 0-1 GiB
  const ROOT_C = 0x112000n; // IPA 1-2 GiB
  function nestedUnit(): Core {
    const core = s1Unit(build);
    for (const p of [ROOT_A, ROOT_B, ROOT_C, 0x22000n]) core.zeroPage(p);
    core.writeQwords(ROOT_B, [0x7fdn, 0x4000_07fdn]);
    core.write64(ROOT_A, 0x7fdn);
    core.write64(ROOT_C + 8n, 0x4000_07fdn);
    writeCd(core, 0x22000n, CD0, 0x4003_0000n); // TTB0 at an IPA stage 2 (ROOT_A) does not map
    writeSte(core, 20, [0x20000n | V_NESTED, 0n, s2Dword(), ROOT_B]);
    writeSte(core, 21, [0x20000n | V_NESTED, 0n, s2Dword(), ROOT_C]);
    writeSte(core, 22, [0x22000n | V_NESTED, 0n, s2Dword(), ROOT_A]);
    writeSte(core, 23, [0x20000n | V_NESTED, 0n, s2Dword(), ROOT_A]);
    writeSte(core, 24, [0x20000n | V_NESTED, 0n, s2Dword({ S2R: 0 }), ROOT_A]);
    return core;
  }

  test("nested: the CD, every stage-1 table and the output go through stage 2", () => {
    const core = nestedUnit();
    const r = core.translateOne(rd(20, 0x4020_1234n));
    assert.is(r.status, "ok");
    assert.is(r.pa, 0x5555_5234n);
    assert.is(r.leafPa, S1_L3 + 8n);
    assert.is(r.s2LeafPa, ROOT_B + 8n);
    assert.is(r.pageLg2, 12); // the smaller of 4 KiB and 1 GiB
    assert.is(r.reads, 10); // STE, S2(CD), CD, 3 x (S2 + S1), S2(output)
    assert.equal([r.kind, r.domain, r.snoopBy], [7, 5, "stage1-attr"]);
    // stage 1 reads one descriptor per level; every stage-2 walk reads only its level-1 block
    assert.equal(core.walkReads(), { fs: [1n, 1n, 1n, 0n, 0n], ss: [0n, 0n, 5n, 0n, 0n] });
  });

  test("nested: stage-2 faults with CLASS CD, TT and IN, their IPAs, and S2R", () => {
    const core = nestedUnit();
    const r = core.translate([rd(21, 0x4020_1234n), rd(22, 0x4020_1234n), rd(23, 0x4020_1234n), rd(24, 0x4020_1234n), rd(23, 0x4020_2000n)]);
    assert.equal(r.map((x) => [x.fault?.name, x.fault?.stage, x.fault?.class, x.fault?.recorded]), [
      ["F_TRANSLATION", 2, "CD", true],
      ["F_TRANSLATION", 2, "TT", true],
      ["F_TRANSLATION", 2, "IN", true],
      ["F_TRANSLATION", 2, "IN", false],
      ["F_PERMISSION", 1, undefined, true], // stage 1 checks first
    ]);
    assert.equal(event(core, 0), [0x15_0000_0010n, RNW | S2, 0x4020_1234n, 0x20000n]);
    assert.equal(event(core, 1), [0x16_0000_0010n, RNW | S2 | (1n << 40n), 0x4020_1234n, 0x4003_0000n]);
    assert.equal(event(core, 2), [0x17_0000_0010n, RNW | S2 | CLASS_IN, 0x4020_1234n, 0x5555_5000n]);
    assert.equal(event(core, 3), [0x17_0000_0013n, RNW | CLASS_IN, 0x4020_2000n, 0n]);
    assert.is(core.getRegister("EVENTQ_PROD"), 4n);
  });

  test("nested with S1DSS bypass: stage 2 alone translates the input", () => {
    const core = nestedUnit();
    core.zeroPage(0x23000n);
    writeSte(core, 25, [0x23000n | V_NESTED | (1n << 59n), 1n, s2Dword(), ROOT_B]);
    const r = core.translateOne(rd(25, 0x4020_1234n));
    assert.equal([r.status, r.pa, r.leafPa, r.pageLg2, r.reads], ["ok", 0x4020_1234n, ROOT_B + 8n, 30, 2]);
  });

  test.run();
}
