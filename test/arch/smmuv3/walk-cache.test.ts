/**
 * The SMMUv3 walk caches (stage 1 in the pwcFs* slots by VMID and ASID, stage 2 in the pwcSs* slots
 * by VMID): a nested walk's stage-2 table walks resume below the cached descriptors until
 * TLBI_S2_IPA (Leaf = 0) or TLBI_S12_VMALL removes them; a stage-1 walk resumes until
 * TLBI_NH_ASID / NH_VA (Leaf = 0) of its ASID.
 *
 * Nested StreamID 20 (S2VMID 5, the stage-2 tables of helpers.ts): the CD and every stage-1 table are
 * in the one IPA page 0x12345000 (stage-2 L3[0x145] -> 0x76543000): the CD at 0x12345800, L1[1] ->
 * 0x12345000, L2[2] -> 0x12345000, L3[3] -> IPA 0x12345000 (T0SZ 25, 3 levels), so VA 0x40403abc ->
 * IPA 0x12345abc -> PA 0x76543abc. The hypervisor then moves the page: a new stage-2 L3 table at
 * NEW_L3 with [0x145] -> 0x88888000 (a copy of the page), S2 L2[0x91] -> NEW_L3.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Core } from "../../../src/core/core.ts";
import { builds, rd, writeSte, s2Dword, S2_L1, S2_L2 } from "./helpers.ts";
import { tlbUnit, command, lhm } from "./tlb-unit.ts";

const OLD = 0x76543000n, NEW = 0x88888000n, NEW_L3 = 0x103000n;
const CD0_39 = 0x0007_6205_c000_0019n; // T0SZ 25, ASID 7

function writePage(core: Core, at: bigint): void {
  core.zeroPage(at);
  core.writeQwords(at + 8n, [0x1234_5003n, 0x1234_5003n, 0x1234_5747n]); // L1[1], L2[2], L3[3]
  core.writeQwords(at + 0x800n, [CD0_39, 0x1234_5000n, 0n, 0x04ff44n]);
}

function nested(build: (typeof builds)[number]): Core {
  const core = tlbUnit(build);
  writePage(core, OLD);
  writePage(core, NEW);
  writeSte(core, 20, [0x1234_5800n | 0xfn, 0n, s2Dword(), S2_L1]);
  return core;
}

function move(core: Core): void {
  core.zeroPage(NEW_L3);
  core.write64(NEW_L3 + 0x145n * 8n, NEW | 0x7ffn);
  core.write64(S2_L2 + 0x91n * 8n, NEW_L3 | 3n);
}

for (const build of builds) {
  const test = suite(`smmuv3 walk caches [${build}]`);

  test("hazard: a nested walk after TLBI_S2_IPA + CMD_SYNC reads the new stage-2 tables", () => {
    const core = nested(build);
    const tr = () => core.translateOne(rd(20, 0x4040_3abcn));
    const first = tr();
    assert.equal([first.status, first.pa, first.reads], ["ok", OLD | 0xabcn, 12]);
    // STE, CD (stage 2: 3 levels, then the CD), 3 x (stage 2 resumed at its L3 + the descriptor), output (L3)
    move(core);
    const cached = tr();
    assert.equal([cached.pa, cached.stale], [OLD | 0xabcn, false]);
    const ss = core.cacheStats().pwcSsPde;
    assert.ok(ss.hits > 0n, "stage-2 table walks resumed from the walk cache");
    // The combined TLB entry goes with TLBI_NH_ALL (TLBI_S2_IPA keeps it, as the spec allows), but
    // the stage-2 walk caches stay until TLBI_S2_IPA without Leaf.
    const nhAll = () => command(core, 0x10n | (5n << 32n));
    nhAll();
    command(core, 0x46n);
    assert.is(tr().pa, OLD | 0xabcn);
    command(core, 0x2an | (5n << 32n), 0x1234_5000n | 1n); // TLBI_S2_IPA VMID 5, Leaf: walk caches kept
    nhAll();
    assert.is(tr().pa, OLD | 0xabcn);
    command(core, 0x2an | (6n << 32n), 0x1234_5000n); // another VMID
    nhAll();
    assert.is(tr().pa, OLD | 0xabcn);
    command(core, 0x2an | (5n << 32n), 0x1234_5000n); // TLBI_S2_IPA VMID 5, IPA 0x12345000
    nhAll();
    command(core, 0x46n);
    const after = tr();
    assert.equal([after.status, after.pa], ["ok", NEW | 0xabcn]);
  });

  test("TLBI_S12_VMALL and TLBI_NSNH_ALL remove the stage-2 walk caches too", () => {
    for (const cmd of [0x28n | (5n << 32n), 0x30n]) {
      const core = nested(build);
      core.translateOne(rd(20, 0x4040_3abcn));
      move(core);
      command(core, cmd);
      assert.is(core.translateOne(rd(20, 0x4040_3abcn)).pa, NEW | 0xabcn);
    }
  });

  test("stage 1: a walk resumes at L3 (one read) until TLBI_NH_ASID / NH_VA of its ASID", () => {
    const core = tlbUnit(build, false, false); // no TLB: every transaction walks
    const reads = () => core.translateOne(rd(8, 0x4020_1234n)).reads;
    assert.equal([reads(), reads()], [6, 1]); // STE, CD, 4 levels; then L3 only
    command(core, 0x11n | (7n << 48n) | (1n << 32n)); // NH_ASID VMID 1: not this VMID
    assert.is(reads(), 1);
    command(core, 0x11n | (8n << 48n)); // NH_ASID 8
    assert.is(reads(), 1);
    command(core, 0x11n | (7n << 48n)); // NH_ASID 7
    assert.is(reads(), 4);
    command(core, 0x12n | (7n << 48n), 0x4020_1000n | 1n); // NH_VA Leaf: walk caches kept
    assert.is(reads(), 1);
    command(core, 0x12n | (7n << 48n), 0x4060_0000n); // NH_VA in the same 1 GiB: L0, L1 entries go, the L2 entry serves
    assert.is(reads(), 1);
    command(core, 0x12n | (7n << 48n), 0x4020_0000n); // NH_VA in the 2 MiB region: every level goes
    assert.is(reads(), 4);
    command(core, 0x13n, 0x4020_0000n); // NH_VAA VMID 0: any ASID
    assert.is(reads(), 4);
    assert.equal(lhm(core, "pwcFsPde"), [9n, 5n, 4n]); // misses: the first walk and after each full removal
  });

  test.run();
}
