/**
 * The io-pgtable-arm writer (src/guest/io-pgtable-arm.ts): golden descriptor qwords for each prot
 * combination, encoded here by hand from io-pgtable-arm.c's bit definitions; the TCR/VTCR facts;
 * block selection, -EEXIST and unmap; and a round trip in which tables it wrote are walked by the
 * core's walker (build/walk-harness.wasm) to the mapped physical addresses.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  IoPgtableArm, allocatorTables, LINUX_MAIR, IOMMU_READ as R, IOMMU_WRITE as Wr, IOMMU_CACHE as C, IOMMU_NOEXEC as NX, IOMMU_MMIO as IO, IOMMU_PRIV as P,
  type IoPgtableArmConfig,
} from "../../src/guest/io-pgtable-arm.ts";
import { PageAllocator, type GuestMemory } from "../../src/guest/allocator.ts";
import { fresh, lo, hi, W, PERM, outputAddress } from "../arch/walk-harness.ts";
import type { TableMemory } from "../../src/core/formats.ts";

/** A host-only table memory (tables from 0x4000_0000, aligned to their size). */
function plainMemory(): TableMemory & { words: Map<bigint, bigint> } {
  const words = new Map<bigint, bigint>();
  let next = 0x4000_0000n;
  return {
    words,
    read64: (pa) => words.get(pa),
    write64: (pa, v) => void words.set(pa, v),
    allocTable: (bytes) => {
      next = (next + bytes - 1n) & ~(bytes - 1n);
      const at = next;
      next += bytes;
      return at;
    },
  };
}
const table = (cfg: IoPgtableArmConfig) => new IoPgtableArm(plainMemory(), cfg);
const S1 = (more: Partial<IoPgtableArmConfig> = {}) => table({ fmt: "ARM_64_LPAE_S1", granuleLg2: 12, ias: 48, oas: 48, ...more });
const S2 = (more: Partial<IoPgtableArmConfig> = {}) => table({ fmt: "ARM_64_LPAE_S2", granuleLg2: 12, ias: 48, oas: 48, ...more });
const XN = 3n << 53n;

test("stage-1 descriptors per prot (nG 0x800, AP_UNPRIV 0x40, AP_RDONLY 0x80, AttrIndx << 2, SH, AF 0x400, XN 3 << 53, DBM 1 << 51)", () => {
  const t = S1(), hd = S1({ hd: true });
  const cases: [string, IoPgtableArm, number, bigint][] = [
    ["READ|WRITE", t, R | Wr, 0xe40n], // nG | UNPRIV | SH_OS | AF, AttrIndx 0 (NC)
    ["READ", t, R, 0xec0n],
    ["WRITE (no read-only without READ)", t, Wr, 0xe40n],
    ["READ|WRITE|CACHE", t, R | Wr | C, 0xf44n], // AttrIndx 1, SH_IS
    ["READ|WRITE|MMIO", t, R | Wr | IO, 0xe48n], // AttrIndx 2
    ["READ|CACHE|MMIO", t, R | C | IO, 0xfc8n], // MMIO index, SH_IS from CACHE
    ["READ|WRITE|PRIV", t, R | Wr | P, 0xe00n],
    ["READ|WRITE|NOEXEC", t, R | Wr | NX, 0xe40n | XN],
    ["READ|WRITE with HD: DBM", hd, R | Wr, 0xe40n | (1n << 51n)],
    ["READ with HD: read-only, no DBM", hd, R, 0xec0n],
  ];
  for (const [name, pt, prot, want] of cases) assert.is(pt.protToPte(prot), want, name);
});

test("stage-2 descriptors per prot (HAP_READ 0x40, HAP_WRITE 0x80, MemAttr << 2, SH, AF)", () => {
  const t = S2(), fwb = S2({ s2fwb: true });
  const cases: [string, IoPgtableArm, number, bigint][] = [
    ["READ|WRITE", t, R | Wr, 0x6d4n], // MemAttr NC 0x5, SH_OS
    ["READ", t, R, 0x654n],
    ["WRITE", t, Wr, 0x694n],
    ["READ|WRITE|CACHE", t, R | Wr | C, 0x7fcn], // OIWB 0xf, SH_IS
    ["READ|WRITE|CACHE with S2FWB", fwb, R | Wr | C, 0x7d8n], // FWB_WB 0x6
    ["READ|WRITE|MMIO", t, R | Wr | IO, 0x6c4n], // DEV 0x1
    ["READ|WRITE|MMIO with S2FWB", fwb, R | Wr | IO, 0x6c4n],
    ["READ|WRITE|NOEXEC", t, R | Wr | NX, 0x6d4n | XN],
    ["READ|WRITE|PRIV (no meaning at stage 2)", t, R | Wr | P, 0x6d4n],
  ];
  for (const [name, pt, prot, want] of cases) assert.is(pt.protToPte(prot), want, name);
});

test("the TCR/VTCR facts a CD or STE needs", () => {
  assert.is(LINUX_MAIR, 0xf404ff44n);
  assert.equal(S1().tcr, { tsz: 16, tg: 0, ips: 5, irgn: 1, orgn: 1, sh: 3, startLevel: 0, concatenated: 1, mair: 0xf404ff44n });
  assert.equal(S1({ granuleLg2: 14, ias: 39, oas: 40 }).tcr, { tsz: 25, tg: 2, ips: 2, irgn: 1, orgn: 1, sh: 3, startLevel: 1, concatenated: 1, mair: 0xf404ff44n });
  assert.equal(S1({ granuleLg2: 16, oas: 44, ttbr1: true, coherentWalk: false }).tcr, { tsz: 16, tg: 3, ips: 4, irgn: 0, orgn: 0, sh: 2, startLevel: 1, concatenated: 1, mair: 0xf404ff44n });
  assert.equal(S2({ ias: 40 }).tcr, { tsz: 24, tg: 0, ips: 5, irgn: 1, orgn: 1, sh: 3, startLevel: 1, concatenated: 2, sl0: 1 });
  assert.equal(S2().tcr, { tsz: 16, tg: 0, ips: 5, irgn: 1, orgn: 1, sh: 3, startLevel: 0, concatenated: 1, sl0: 2 });
  assert.equal(S2({ granuleLg2: 14 }).tcr, { tsz: 16, tg: 2, ips: 5, irgn: 1, orgn: 1, sh: 3, startLevel: 1, concatenated: 2, sl0: 2 });
  assert.equal(S2({ granuleLg2: 16, ias: 42, oas: 42 }).tcr, { tsz: 22, tg: 1, ips: 3, irgn: 1, orgn: 1, sh: 3, startLevel: 2, concatenated: 1, sl0: 1 });
  assert.equal(S2({ granuleLg2: 16 }).pageSizesLg2, [16, 29]);
  assert.equal(S1({ granuleLg2: 14 }).pageSizesLg2, [14, 25]);
  assert.equal(S1().pageSizesLg2, [12, 21, 30]);
});

test("configurations Linux refuses", () => {
  assert.throws(() => S1({ oas: 41 }), /oas 41 is not one of 32, 36, 40, 42, 44, 48/);
  assert.throws(() => S1({ ias: 49 }), /ias 49 is outside 25\.\.48 bits/);
  assert.throws(() => S1({ granuleLg2: 13 as 12 }), /granule 2\^13 is not 4K, 16K or 64K/);
  assert.throws(() => S2({ ttbr1: true }), /the TTBR1 quirk is for stage 1 only/);
});

test("map: largest size alignment allows, -EEXIST, no read/write maps nothing; unmap by whole entries", () => {
  const mem = plainMemory();
  const t = new IoPgtableArm(mem, { fmt: "ARM_64_LPAE_S1", granuleLg2: 12, ias: 39, oas: 40 });
  // 2 MiB + 8 KiB at a 2 MiB-aligned IOVA and PA: one block and two pages
  assert.is(t.map(0x4000_0000n, 0x8000_0000n, 0x20_2000n, R | Wr), 0x20_2000n);
  const l1 = mem.read64(t.root + 1n * 8n)!; // level 1 index of 0x4000_0000 = 1
  assert.is(l1 & 3n, 3n, "a table at level 1");
  const l2 = l1 & 0xffff_ffff_f000n;
  assert.is(mem.read64(l2)!, 0x8000_0000n | 0xe41n, "a 2 MiB block at level 2 (type 0b01)");
  const l3 = mem.read64(l2 + 8n)! & 0xffff_ffff_f000n;
  assert.is(mem.read64(l3)!, 0x8020_0000n | 0xe43n, "first page");
  assert.is(mem.read64(l3 + 8n)!, 0x8020_1000n | 0xe43n, "second page");
  assert.throws(() => t.map(0x4000_1000n, 0x9000_0000n, 0x1000n, R), /IOVA 0x40001000 is already mapped \(a 2048 KiB block\)/);
  assert.throws(() => t.map(0x4020_0000n, 0x9000_0000n, 0x1000n, R), /IOVA 0x40200000 is already mapped \(a 4 KiB page\)/);
  assert.throws(() => t.map(0x80_0000_0000n, 0n, 0x1000n, R), /map of IOVA 0x8000000000\+0x1000 is outside the 39-bit input range/);
  assert.throws(() => t.map(0x1000n, 0x100_0000_0000n, 0x1000n, R), /beyond the 40-bit output size/);
  assert.is(t.map(0x1000n, 0x1000n, 0x1000n, C), 0n);
  assert.is(t.unmap(0x4000_1000n, 0x1000n), 0n, "a block larger than the range is not split");
  assert.is(t.unmap(0x4000_0000n, 0x20_1000n), 0x20_1000n);
  assert.is(mem.read64(l2)!, 0n);
  assert.is(mem.read64(l3)!, 0n);
  assert.is(mem.read64(l3 + 8n)!, 0x8020_1000n | 0xe43n, "the page after the range stays");
  assert.is(t.map(0x4000_0000n, 0xa000_0000n, 0x1000n, R), 0x1000n, "the block's place takes a page again");
});

test("allocatorTables: 64 KiB tables aligned to their size in the guest page allocator", () => {
  const words = new Map<bigint, bigint>();
  const gm: GuestMemory = {
    read64: (pa) => words.get(pa),
    write64: (pa, v) => void words.set(pa, v),
    writeQwords: (pa, ws) => Array.from(ws).forEach((v, i) => words.set(pa + BigInt(i) * 8n, v)),
    zeroPage: (pa) => words.set(pa, 0n),
  };
  const alloc = new PageAllocator(gm, 0x10_1000n);
  const t = new IoPgtableArm(allocatorTables(gm, alloc), { fmt: "ARM_64_LPAE_S2", granuleLg2: 16, ias: 40, oas: 48 });
  const mem = (pa: bigint) => words.get(pa) ?? 0n;
  // the root indexes 40 - 29 = 11 bits: 16 KiB, after 3 pages of padding
  assert.is(t.root, 0x10_4000n);
  t.map(0x1_0000n, 0x2_0000n, 0x1_0000n, R);
  // the 64 KiB page table after 8 pages of padding: 0x11_0000..0x12_0000
  assert.is(mem(0x10_4000n) & 0xffff_ffff_f000n, 0x11_0000n);
  assert.is(alloc.used, 0x12_0000n - 0x10_1000n);
});

// ---- round trip through the core's walker ------------------------------------------------------------

const GRANULES = [12, 14, 16] as const;
for (const g of GRANULES)
  for (const fmt of ["ARM_64_LPAE_S1", "ARM_64_LPAE_S2"] as const)
    for (const ttbr1 of fmt === "ARM_64_LPAE_S1" ? [false, true] : [false])
      test(`round trip ${fmt} ${2 ** (g - 10)}K${ttbr1 ? " TTBR1" : ""}: every page size, walked by the core, gives the mapped PA`, () => {
        const { h, mem } = fresh();
        const ias = 48, oas = 48;
        const t = new IoPgtableArm(mem, { fmt, granuleLg2: g, ias, oas, ttbr1 });
        const tcr = t.tcr;
        const ok = fmt === "ARM_64_LPAE_S1"
          ? h.configureVmsaS1(lo(t.root), hi(t.root), g, tcr.tsz, oas, ttbr1 ? 1 : 0, 0, 0, 0, 0, 0, 0, 0)
          : h.configureVmsaS2(lo(t.root), hi(t.root), g, tcr.tsz, tcr.sl0!, oas, 0, 0, 0, oas);
        assert.is(ok, 1, "the walker accepts the TCR facts");
        const base = ttbr1 ? 0xffff_8000_0000_0000n : 0n;
        let at = 0x1_0000_0000n; // IOVA offset; PA = 0x40_0000_0000 + the same offset
        for (const lg2 of t.pageSizesLg2) {
          const bytes = 1n << BigInt(lg2);
          at = (at + bytes - 1n) & ~(bytes - 1n);
          const iova = base + at;
          assert.is(t.map(iova, 0x40_0000_0000n + at, bytes, R | Wr | C), bytes);
          const va = iova + bytes - 8n;
          assert.is(h.walkVa(lo(va), hi(va)), W.OK, `walk of 2^${lg2}`);
          assert.is(outputAddress(h), 0x40_0000_0000n + at + bytes - 8n, `PA of 2^${lg2}`);
          assert.is(h.pageLg2(), lg2);
          const perms = h.perms();
          if (fmt === "ARM_64_LPAE_S1") assert.is(perms, PERM.R | PERM.W | PERM.U | PERM.X, "unprivileged RW: no privileged execute");
          else assert.is(perms, PERM.R | PERM.W | PERM.U | PERM.X);
          at += bytes;
        }
      });

test.run();
