/**
 * The SMMUv3 builder (src/arch/smmuv3/builder.ts) over a plain guest memory: the registers Linux's
 * reset programs, the stream table (2-level with SPLIT 8, or linear), CD tables (linear, 2-level
 * with 64 KiB leaves, in IPA space under nesting) and the STE each kind of attachment gets. Table
 * addresses follow from the allocator's order, worked out by hand in each test.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PageAllocator, type GuestMemory } from "../../../src/guest/allocator.ts";
import { SmmuBuilder } from "../../../src/arch/smmuv3/builder.ts";
import { defaultIdRegisters, profileOf } from "../../../src/arch/smmuv3/registers.ts";
import { abortSte, bypassSte, cdTableSte, nestedSte, s2Ste } from "../../../src/arch/smmuv3/ste.ts";

function memory(): GuestMemory & { words: Map<bigint, bigint> } {
  const words = new Map<bigint, bigint>();
  return {
    words,
    read64: (pa) => words.get(pa),
    write64: (pa, v) => void words.set(pa, v),
    writeQwords: (pa, ws) => {
      for (let i = 0; i < ws.length; i++) words.set(pa + BigInt(i * 8), ws[i]!);
    },
    zeroPage: (pa) => {
      for (let o = 0n; o < 4096n; o += 8n) words.set(pa + o, 0n);
    },
  };
}

const BASE = 0x1000_0000n;
const profile = profileOf(defaultIdRegisters);
const features = { attrTypesOvr: true, stalls: false };

function setup(p = profile) {
  const mem = memory();
  const b = new SmmuBuilder(mem, new PageAllocator(mem, BASE), p);
  const read8 = (pa: bigint) => Array.from({ length: 8 }, (_, i) => mem.read64(pa + BigInt(i * 8)));
  return { mem, b, read8 };
}

test("registers as arm_smmu_device_reset programs them: 2-level stream table with SPLIT 8 over 16 SID bits", () => {
  const { b } = setup();
  assert.equal(b.registers(), {
    // TABLE_SH 3 [11:10] | TABLE_OC 1 [9:8] | TABLE_IC 1 [7:6] | QUEUE_SH 3 [5:4] | QUEUE_OC 1 [3:2] | QUEUE_IC 1 [1:0]
    CR1: 0xd75n,
    CR2: 0x6n, // PTM [2] | RECINVSID [1]
    STRTAB_BASE: 0x4000_0000_1000_0000n, // RA [62] | ADDR: the level-1 table, the first page
    STRTAB_BASE_CFG: 0x1_0210n, // FMT [17:16] 1 | SPLIT [10:6] 8 | LOG2SIZE [5:0] 16
    CMDQ_BASE: 0x4000_0000_1000_1008n, // RA | the next page | LOG2SIZE 8
    CMDQ_PROD: 0n,
    CMDQ_CONS: 0n,
    EVENTQ_BASE: 0x4000_0000_1000_2007n, // WA | the page after | LOG2SIZE 7
    EVENTQ_PROD: 0n,
    EVENTQ_CONS: 0n,
    CR0: 0x1dn, // SMMUEN [0] | EVENTQEN [2] | CMDQEN [3] | ATSCHK [4]
  });
});

test("a linear stream table when the SIDs fit one level-2 table: every STE abort", () => {
  const { b, read8 } = setup({ ...profile, sidBits: 6, ats: false });
  const r = b.registers();
  assert.is(r.STRTAB_BASE_CFG, 0x6n); // FMT 0, LOG2SIZE 6
  assert.is(r.CR0, 0xdn);
  assert.equal(read8(BASE + 63n * 64n), abortSte());
  assert.is(b.steAddress(5), BASE + 5n * 64n);
  assert.throws(() => b.steAddress(64), /StreamID 0x40 is beyond IDR1.SIDSIZE 6/);
});

test("stage-1 attach: level-2 stream table on demand, a one-CD linear CD table, S1DSS=SSID0", () => {
  const { b, mem, read8 } = setup();
  b.registers(); // level-1 table 0x1000_0000, queues 0x1000_1000 and 0x1000_2000
  const d = b.createDomain({ id: 1, type: "s1" }); // ASID 1, 4-level root table 0x1000_3000
  assert.equal([d.asid, d.pgtable!.root], [1, 0x1000_3000n]);
  const ste = b.attach({ sid: 0x10, domain: 1 }); // 00:02.0
  // level-2 table: 16 KiB at 0x1000_4000 (16 KiB aligned); the STE of SID 0x10 at +0x400
  assert.is(ste, 0x1000_4400n);
  assert.is(mem.read64(BASE), 0x1000_4009n); // L1STD: Span 9 | L2Ptr
  assert.equal(read8(0x1000_4000n), abortSte()); // the other STEs of the leaf abort
  // CD table: one CD (page 0x1000_8000)
  assert.equal(read8(ste), cdTableSte(features, { cdTable: { ptr: 0x1000_8000n, s1fmt: 0, s1cdmax: 0 }, s1dss: "ssid0" }));
  assert.equal(read8(ste), [0x1000_800bn, 0xd6n, 0n, 0n, 0n, 0n, 0n, 0n]);
  // CD 0: T0SZ 16, TG0 4K, IR0/OR0 WBWA, SH0 ISH, EPD1, V, IPS 48-bit, AA64, R, A, ASET, ASID 1; TTB0; MAIR
  assert.equal(read8(0x1000_8000n), [0x0001_e205_c000_3510n, 0x1000_3000n, 0n, 0xf404_ff44n, 0n, 0n, 0n, 0n]);
});

test("substreams behind an identity stream: 2-level CD table with 64 KiB leaves, S1DSS=bypass", () => {
  const { b, mem, read8 } = setup();
  b.registers();
  b.createDomain({ id: 1, type: "identity" });
  b.createDomain({ id: 2, type: "s1", granuleLg2: 16 }); // 64K granule, 48-bit VA: 3 levels, a 512-byte root (64 entries) in page 0x1000_3000
  b.attach({ sid: 0x10, domain: 1, ssidBits: 20 }); // level-2 stream table 0x1000_4000
  assert.equal(read8(0x1000_4400n), bypassSte(features));
  b.attach({ sid: 0x10, ssid: 1025, domain: 2 });
  // CD level-1 table: 1024 descriptors (8 KiB, 8 KiB aligned) at 0x1000_8000; the 64 KiB leaf of SSIDs 1024..2047 at 0x1001_0000
  assert.equal(read8(0x1000_4400n), cdTableSte(features, { cdTable: { ptr: 0x1000_8000n, s1fmt: 2, s1cdmax: 20 }, s1dss: "bypass" }));
  assert.is(mem.read64(0x1000_8008n), 0x1001_0001n); // L1CD 1: V | L2Ptr
  assert.is(mem.read64(0x1000_8000n), 0n); // L1CD 0 not valid
  const cd = read8(0x1001_0000n + 64n); // SSID 1025 = leaf 1, index 1
  assert.is(cd[0]! & 0xffn, 0x50n); // T0SZ 16 | TG0 1 (64K) << 6
  assert.is(cd[1], 0x1000_3000n);
  assert.throws(() => b.attach({ sid: 0x10, ssid: 1 << 20, domain: 2 }), /beyond the stream's 1048576 substreams/);
  assert.throws(() => b.attach({ sid: 0x10, ssid: 1025, domain: 2 }), /SubstreamID 1025 is already attached to domain 2/);
});

test("substreams on a stream with no domain of its own: S1DSS=terminate", () => {
  const { b, read8 } = setup();
  b.registers();
  b.createDomain({ id: 2, type: "s1" }); // root 0x1000_3000
  b.attach({ sid: 0x18, ssid: 3, domain: 2, ssidBits: 4 }); // leaf 0x1000_4000; 16 CDs linear at 0x1000_8000
  assert.equal(read8(0x1000_4000n + 0x18n * 64n), cdTableSte(features, { cdTable: { ptr: 0x1000_8000n, s1fmt: 0, s1cdmax: 4 }, s1dss: "terminate" }));
  assert.is(read8(0x1000_8000n + 3n * 64n)[1], 0x1000_3000n);
});

test("stage-2, identity and blocking streams; VMIDs from 1", () => {
  const { b, read8 } = setup();
  b.registers();
  const s2 = b.createDomain({ id: 3, type: "s2" }); // VMID 1; 48-bit IPA: level 0 has 2^9 entries -> 4 levels, root 0x1000_3000
  b.createDomain({ id: 4, type: "identity" });
  b.createDomain({ id: 5, type: "blocking" });
  assert.is(s2.vmid, 1);
  b.attach({ sid: 0x20, domain: 3, ats: true });
  b.attach({ sid: 0x21, domain: 4 });
  b.attach({ sid: 0x22, domain: 5 });
  const l2 = 0x1000_4000n;
  const expectS2 = s2Ste(features, { vmid: 1, tsz: 16, sl0: 2, irgn: 1, orgn: 1, sh: 3, tg: 0, ps: 5, ttb: 0x1000_3000n }, { ats: true });
  assert.equal(read8(l2 + 0x20n * 64n), expectS2);
  assert.equal(read8(l2 + 0x21n * 64n), bypassSte(features));
  assert.equal(read8(l2 + 0x22n * 64n), abortSte());
  assert.throws(() => b.attach({ sid: 0x20, ssid: 1, domain: 3 }), /only stage-1 and nested domains serve substreams, not s2/);
  assert.throws(() => b.attach({ sid: 0x21, domain: 3 }), /StreamID 0x21 \(00:04.1\) is already attached to domain 4/);
});

test("nested: the parent's S2 (with S2FWB) under a CD table that lives in its IPA space", () => {
  const { b, read8 } = setup();
  b.registers();
  b.createDomain({ id: 3, type: "s2", nestParent: true }); // VMID 1, S2 root 0x1000_3000
  const n = b.createDomain({ id: 6, type: "nested", parent: 3 }); // ASID 1; its root at IPA = PA 0x1000_4000, mapped in the parent
  assert.is(n.pgtable!.root, 0x1000_4000n);
  b.attach({ sid: 0x30, domain: 6 });
  // the parent's tables for IPA 0x1000_4000 took 0x1000_5000..0x1000_7000; level-2 stream table at 0x1000_8000;
  // the CD table at 0x1000_c000 (identity-mapped in the parent too)
  const parentCfg = b.s2Config(b.domains.get(3)!);
  assert.is(parentCfg.fwb, true);
  assert.equal(read8(0x1000_8000n + 0x30n * 64n), nestedSte(features, parentCfg, { cdTable: { ptr: 0x1000_c000n, s1fmt: 0, s1cdmax: 0 }, s1dss: "ssid0" }));
  assert.is(read8(0x1000_c000n)[1], 0x1000_4000n); // TTB0 is an IPA
  assert.throws(() => b.createDomain({ id: 7, type: "nested", parent: 6 }), /a nested domain needs "parent", the id of a stage-2 domain defined before it/);
});

test("nested: a table page whose IPA the parent maps to other memory is refused, naming both addresses", () => {
  const { b } = setup();
  b.registers(); // stream table, command and event queues: 0x1000_0000..0x1000_2000
  const parent = b.createDomain({ id: 3, type: "s2" }); // 4 levels (48-bit IPA, 4 KiB): root 0x1000_3000
  // Guest RAM at IPA 0x1000_7000: the parent's L1, L2, L3 for it take 0x1000_4000..0x1000_6000, so
  // 0x1000_7000 is the next page the allocator hands out.
  b.map(parent, { iova: 0x1000_7000n, pa: 0x9000_0000n, size: 0x1000n });
  const why = (what: string, pa: string, out: string) =>
    `${what} (PA ${pa}) cannot be reached through domain 3, its stage-2 parent: IPA ${pa} maps PA ${out} there (the builder places nested stage-1 structures at IPA = PA)`;
  assert.throws(() => b.createDomain({ id: 6, type: "nested", parent: 3 }), (e: Error) => e.message === why("a page-table page of nested domain 6", "0x10007000", "0x90000000"));
  assert.is(b.domains.has(6), false);
  // The next nested domain's root is 0x1000_8000 (0x1000_7000 stays used), free in the parent: mapped to
  // itself. Its first map needs L1 0x1000_9000 (free) and L2 0x1000_a000, which the parent maps to
  // 0x9000_1000 (more guest RAM, mapped now).
  const n = b.createDomain({ id: 7, type: "nested", parent: 3 });
  assert.is(n.pgtable!.root, 0x1000_8000n);
  b.map(parent, { iova: 0x1000_a000n, pa: 0x9000_1000n, size: 0x1000n });
  assert.throws(() => b.map(n, { iova: 0n, pa: 0x4000_0000n, size: 0x1000n }), (e: Error) => e.message === why("a page-table page of nested domain 7", "0x1000a000", "0x90001000"));
});

test("domain checks: granules the SMMU lacks, ASID clashes, mapping without permission", () => {
  const { b } = setup({ ...profile, granules: [12] });
  assert.throws(() => b.createDomain({ id: 1, type: "s1", granuleLg2: 14 }), /domain 1: the SMMU has no 16 KiB granule/);
  b.createDomain({ id: 1, type: "s1", asid: 9 });
  assert.throws(() => b.createDomain({ id: 2, type: "s1", asid: 9 }), /domain 2: asid 9 is already domain 1's/);
  assert.throws(() => b.createDomain({ id: 3, type: "s2", vmid: 0 }), /domain 3: vmid 0 is not 1..65535/);
  assert.throws(() => b.map(b.domains.get(1)!, { iova: 0n, pa: 0n, size: 0x1000n, read: false, write: false }), /needs read or write permission/);
  assert.throws(() => b.map(b.domains.get(1)!, { iova: 0n, pa: 0n, size: 0x1000n, pageSize: 0x4000n }), /pageSize 0x4000 is not a page or block size of domain 1 \(4K, 2M, 1G\)/);
});

test.run();
