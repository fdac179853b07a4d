/**
 * The format suite: every page-table format the walker knows, over every configuration that
 * matters (levels or start level, granule, concatenated start tables, page size), walked through
 * build/walk-harness.wasm with no platform, caches or architecture around it (DESIGN §4 "tests
 * multiply"; Linux generic_pt's kunit_fmt_cfgs). Tables are written by src/core/formats.ts with
 * each format's own entry encoding (below, from the specs); every expected value (output address,
 * page size, leaf level, the address of every entry read, reads) is computed here from the spec
 * geometry, independently of the core.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { VTD, vmsa, levelShift, mapPage, tableBytes, type EntryEncoder, type Geometry, type TableShape } from "../../src/core/formats.ts";
import { Fmt } from "../../src/core/abi.ts";
import { W, PERM, fresh, lo, hi, u64, type Harness } from "./walk-harness.ts";

// ---- the formats' entry encodings (spec bit positions) ----------------------------------------------

/** VT-d second stage (spec 9.8): R=bit 0, W=bit 1, PS=bit 7, address 51:12. */
const vtdSs: EntryEncoder = {
  table: (next) => next | 3n,
  leaf: (pa, level) => pa | 3n | (level > 0 ? 1n << 7n : 0n),
  present: (e) => (e & 3n) !== 0n,
  next: (e) => e & 0x000f_ffff_ffff_f000n,
};
/** VT-d first stage (spec 9.7): P, R/W, U/S, A (bit 5, preset so the walk writes nothing), D, PS. */
const vtdFs: EntryEncoder = {
  table: (next) => next | 0x27n,
  leaf: (pa, level) => pa | 0x67n | (level > 0 ? 1n << 7n : 0n),
  present: (e) => (e & 1n) !== 0n,
  next: (e) => e & 0x000f_ffff_ffff_f000n,
};
/** VMSAv8-64 stage 2 (Arm ARM D8.3): table 0b11, block 0b01, page 0b11, S2AP RW (7:6), AF (10), MemAttr WB. */
const S2_LEAF_ATTRS = (3n << 6n) | (1n << 10n) | (0xfn << 2n);
const vmsaS2: EntryEncoder = {
  table: (next) => next | 3n,
  leaf: (pa, level) => pa | (level === 0 ? 3n : 1n) | S2_LEAF_ATTRS,
  present: (e) => (e & 1n) !== 0n,
  next: (e) => e & 0x0000_ffff_ffff_f000n,
};

// ---- configurations -------------------------------------------------------------------------------

interface Config {
  name: string;
  geometry: Geometry;
  enc: EntryEncoder;
  /** Normalised top level, its index bits and the input width. */
  topLevel: number;
  topBits: number;
  inputBits: number;
  /** Leaf levels to map at. */
  leafLevels: number[];
  /** Configures the harness for a walk from `root`; false if refused. */
  configure(h: Harness, root: bigint): boolean;
  /** Rights a mapping of this encoder grants. */
  perms: number;
}

const configs: Config[] = [];
for (const levels of [3, 4, 5]) {
  configs.push({
    name: `vtd-ss ${levels}-level`,
    geometry: VTD,
    enc: vtdSs,
    topLevel: levels - 1,
    topBits: 9,
    inputBits: levelShift(VTD, levels),
    leafLevels: [0, 1, 2],
    configure: (h, root) => (h.configureVtd(Fmt.VTD_SS, lo(root), hi(root), levels, 7, levelShift(VTD, levels), 0), true),
    perms: PERM.R | PERM.W | PERM.U | PERM.X,
  });
}
for (const levels of [4, 5]) {
  configs.push({
    name: `vtd-fs ${levels}-level`,
    geometry: VTD,
    enc: vtdFs,
    topLevel: levels - 1,
    topBits: 9,
    inputBits: levelShift(VTD, levels),
    leafLevels: [0, 1, 2],
    configure: (h, root) => (h.configureVtd(Fmt.VTD_FS, lo(root), hi(root), levels, 7, levelShift(VTD, levels), 1), true),
    perms: PERM.R | PERM.W | PERM.U | PERM.X,
  });
}
// VMSAv8-64 stage 2, 4 KiB granule: S2SL0 0 -> start level 2, 1 -> level 1, 2 -> level 0 (normalised
// 1, 2, 3); the input size 64 - S2T0SZ decides the start level's index bits (over 9: concatenated).
const G4K = vmsa(12);
for (const [t0sz, sl0] of [[34, 0], [30, 0], [25, 1], [24, 1], [21, 1], [16, 2], [20, 2]] as const) {
  const top = sl0 + 1;
  const inputBits = 64 - t0sz;
  const topBits = inputBits - levelShift(G4K, top);
  configs.push({
    name: `vmsa-s2 4K S2T0SZ=${t0sz} S2SL0=${sl0} (start level ${3 - top}, ${topBits} index bits${topBits > 9 ? `: ${2 ** (topBits - 9)} concatenated tables` : ""})`,
    geometry: G4K,
    enc: vmsaS2,
    topLevel: top,
    topBits,
    inputBits,
    leafLevels: [0, 1, 2].filter((l) => l <= top && l < 3),
    configure: (h, root) => h.configureVmsaS2(lo(root), hi(root), 12, t0sz, sl0, 48, 0, 0, 0, 48) === 1,
    perms: PERM.R | PERM.W | PERM.U | PERM.X,
  });
}

/** A deterministic input address with every index bit of the input width exercised. */
function addressFor(inputBits: number, salt: number, canonical: boolean): bigint {
  let va = 0n;
  let x = 0x9e3779b9 ^ salt;
  for (let b = 0; b < inputBits; b += 16) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    va |= BigInt(x & 0xffff) << BigInt(b);
  }
  va &= (1n << BigInt(inputBits)) - 1n;
  va |= 1n << BigInt(inputBits - 1); // the top index bit set: the last entry region of the top table
  // First stage: sign-extend bit inputBits-1 (canonical).
  return canonical ? BigInt.asUintN(64, BigInt.asIntN(inputBits, va)) : va;
}

const s = suite("formats");

for (const c of configs) {
  for (const leaf of c.leafLevels) {
    const pageLg2 = levelShift(c.geometry, leaf);
    s(`${c.name}: a ${2 ** (pageLg2 - 10)} KiB leaf at level ${leaf}: exact PA, leaf, entry addresses and reads`, () => {
      const { h, mem } = fresh();
      const shape: TableShape = { geometry: c.geometry, topLevel: c.topLevel, topBits: c.topBits };
      const root = mem.allocTable(tableBytes(shape, c.topLevel));
      assert.ok(c.configure(h, root), "configuration accepted");
      assert.is(h.levels(), c.topLevel + 1, "levels");
      const va = addressFor(c.inputBits, leaf * 7 + c.topLevel, c.enc === vtdFs);
      const pageMask = (1n << BigInt(pageLg2)) - 1n;
      const pa = (0x0000_0123_4000_0000n + 0x5_4321_0000n) & ~pageMask;
      const path = mapPage(mem, shape, c.enc, root, va, pa, leaf);
      assert.is(h.walkVa(lo(va), hi(va)), W.OK, "outcome");
      assert.is(u64(h.oaLo(), h.oaHi()), pa | (va & pageMask), "output address");
      assert.is(h.pageLg2(), pageLg2, "page size");
      assert.is(h.leafLevel(), leaf, "leaf level");
      assert.is(h.reads(), c.topLevel - leaf + 1, "reads: one per level from the top to the leaf");
      path.forEach((at, i) => assert.is(u64(h.entryPaLo(c.topLevel - i), h.entryPaHi(c.topLevel - i)), at, `entry address at level ${c.topLevel - i}`));
      assert.is(h.perms(), c.perms, "rights");
    });
  }

  s(`${c.name}: an entry missing at each level is not present there`, () => {
    for (let missing = c.topLevel; missing >= 0; missing--) {
      const { h, mem } = fresh();
      const shape: TableShape = { geometry: c.geometry, topLevel: c.topLevel, topBits: c.topBits };
      const root = mem.allocTable(tableBytes(shape, c.topLevel));
      c.configure(h, root);
      const va = addressFor(c.inputBits, missing, c.enc === vtdFs);
      const path = mapPage(mem, shape, c.enc, root, va, 0x2_0000_0000n, 0);
      mem.write64(path[c.topLevel - missing]!, 0n);
      assert.is(h.walkVa(lo(va), hi(va)), W.NOT_PRESENT, `outcome with level ${missing} cleared`);
      assert.is(h.faultLevel(), missing, "fault level");
      assert.is(h.reads(), c.topLevel - missing + 1, "reads up to the missing entry");
    }
  });

  s(`${c.name}: an input beyond the input range is refused before any read`, () => {
    const { h, mem } = fresh();
    const root = mem.allocTable(tableBytes({ geometry: c.geometry, topLevel: c.topLevel, topBits: c.topBits }, c.topLevel));
    c.configure(h, root);
    const va = c.enc === vtdFs ? 1n << BigInt(c.inputBits - 1) : 1n << BigInt(c.inputBits); // non-canonical / too wide
    assert.is(h.walkVa(lo(va), hi(va)), W.INPUT);
    assert.is(h.reads(), 0);
  });
}

// ---- VMSA stage-2 specifics ---------------------------------------------------------------------------

/** A 4K-granule, S2T0SZ=25 (39-bit IPA), S2SL0=1 (start level 1) tree mapping one page. */
function s2Tree(opts: { affd?: boolean; ha?: boolean; hd?: boolean; oaBits?: number } = {}) {
  const { h, mem } = fresh();
  const shape: TableShape = { geometry: G4K, topLevel: 2, topBits: 9 };
  const root = mem.allocTable(tableBytes(shape, 2));
  assert.ok(h.configureVmsaS2(lo(root), hi(root), 12, 25, 1, opts.oaBits ?? 48, opts.affd ? 1 : 0, opts.ha ? 1 : 0, opts.hd ? 1 : 0, 48) === 1);
  const va = 0x40_1234_5000n;
  const path = mapPage(mem, shape, vmsaS2, root, va, 0x8_7654_3000n, 0);
  return { h, mem, va, leaf: path[2]! };
}

s("vmsa-s2: a page without AF is an Access flag fault (no S2AFFD, no S2HA)", () => {
  const { h, mem, va, leaf } = s2Tree();
  mem.write64(leaf, mem.read64(leaf)! & ~(1n << 10n));
  assert.is(h.walkVa(lo(va), hi(va)), W.ACCESS_FLAG);
  assert.is(h.faultLevel(), 0);
});

s("vmsa-s2: S2AFFD: a page without AF translates and AF stays clear", () => {
  const { h, mem, va, leaf } = s2Tree({ affd: true });
  const e = mem.read64(leaf)! & ~(1n << 10n);
  mem.write64(leaf, e);
  assert.is(h.walkVa(lo(va), hi(va)), W.OK);
  assert.is(u64(h.entryLo(0), h.entryHi(0)), e);
});

s("vmsa-s2: S2HA: the walk sets AF in the page descriptor", () => {
  const { h, mem, va, leaf } = s2Tree({ ha: true });
  const e = mem.read64(leaf)! & ~(1n << 10n);
  mem.write64(leaf, e);
  assert.is(h.walkVa(lo(va), hi(va)), W.OK);
  assert.is(u64(h.entryLo(0), h.entryHi(0)), e | (1n << 10n));
});

s("vmsa-s2: S2AP decides read and write; XN removes execute", () => {
  for (const [ap, perms] of [[0n, PERM.U | PERM.X], [1n, PERM.R | PERM.U | PERM.X], [2n, PERM.W | PERM.U | PERM.X], [3n, PERM.R | PERM.W | PERM.U | PERM.X]] as const) {
    const { h, mem, va, leaf } = s2Tree();
    mem.write64(leaf, (mem.read64(leaf)! & ~(3n << 6n)) | (ap << 6n));
    assert.is(h.walkVa(lo(va), hi(va)), W.OK);
    assert.is(h.perms(), perms, `S2AP=${ap}`);
  }
  const { h, mem, va, leaf } = s2Tree();
  mem.write64(leaf, mem.read64(leaf)! | (1n << 54n));
  h.walkVa(lo(va), hi(va));
  assert.is(h.perms(), PERM.R | PERM.W | PERM.U);
});

s("vmsa-s2: S2HD with DBM: a clean page (S2AP[1]=0) is writable", () => {
  const { h, mem, va, leaf } = s2Tree({ hd: true });
  mem.write64(leaf, (mem.read64(leaf)! & ~(1n << 7n)) | (1n << 51n));
  h.walkVa(lo(va), hi(va));
  assert.is(h.perms() & PERM.W, PERM.W);
});

s("vmsa-s2: an output address beyond S2PS is an Address size fault at that level", () => {
  const { h, va } = s2Tree({ oaBits: 32 }); // the page is at 0x8_7654_3000: above 4 GiB
  assert.is(h.walkVa(lo(va), hi(va)), W.ADDR_SIZE);
  assert.is(h.faultLevel(), 0);
});

s("vmsa-s2: 0b01 at level 3 and a block at level 0 are invalid (translation fault)", () => {
  const a = s2Tree();
  a.mem.write64(a.leaf, a.mem.read64(a.leaf)! & ~2n);
  assert.is(a.h.walkVa(lo(a.va), hi(a.va)), W.NOT_PRESENT);
  const { h, mem } = fresh();
  const shape: TableShape = { geometry: G4K, topLevel: 3, topBits: 9 };
  const root = mem.allocTable(tableBytes(shape, 3));
  assert.ok(h.configureVmsaS2(lo(root), hi(root), 12, 16, 2, 48, 0, 0, 0, 48) === 1);
  const va = 0x8000_0000_0000n;
  mem.write64(root + (va >> 39n) * 8n, 0x4000_0000_0000n | 1n | S2_LEAF_ATTRS); // a 512 GiB "block" at level 0
  assert.is(h.walkVa(lo(va), hi(va)), W.NOT_PRESENT);
  assert.is(h.faultLevel(), 3);
});

s("vmsa-s2: S2SL0/S2T0SZ combinations the architecture does not allow are refused", () => {
  const { h } = fresh();
  assert.is(h.configureVmsaS2(0, 0, 12, 20, 0, 48, 0, 0, 0, 48), 0, "44-bit IPA from level 2 needs 8M entries (more than 16 tables)");
  assert.is(h.configureVmsaS2(0, 0, 12, 44, 1, 48, 0, 0, 0, 48), 0, "a 20-bit IPA starting at level 1 resolves nothing there");
  assert.is(h.configureVmsaS2(0, 0, 12, 25, 3, 48, 0, 0, 0, 48), 0, "S2SL0=3 is reserved without FEAT_TTST");
  assert.is(h.configureVmsaS2(0, 0, 13, 25, 1, 48, 0, 0, 0, 48), 0, "no 8 KiB granule");
});

s.run();
