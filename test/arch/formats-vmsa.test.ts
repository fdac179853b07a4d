/**
 * The VMSAv8-64 format suite (Arm ARM D8): stage 1 and stage 2 over every granule (4, 16, 64 KiB),
 * every start level, TTB0 and TTB1, concatenated stage-2 start tables and every block size, walked
 * through build/walk-harness.wasm with nothing around the walker. The start level of each
 * configuration is written here by hand from the spec's tables (not derived from the core's
 * formula); output addresses, entry addresses and reads follow from the spec geometry. Then the
 * stage-1 rules one by one: permissions (a table of cases computed by hand), the access flag,
 * dirty state, address-size faults, the input range and TBI.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { vmsa, levelShift, mapPage, tableBytes, type EntryEncoder, type TableShape } from "../../src/core/formats.ts";
import { W, PERM, fresh, lo, hi, entryPa, entryAt, outputAddress, type Harness } from "./walk-harness.ts";

const bit = (n: number) => 1n << BigInt(n);
const AF = bit(10), NG = bit(11), AP1 = bit(6), AP2 = bit(7), DBM = bit(51), CONT = bit(52), PXN = bit(53), UXN = bit(54);
const PXN_TABLE = bit(59), XN_TABLE = bit(60), APT0 = bit(61), APT1 = bit(62);

/** Stage 1 (D8.3): table 0b11; block 0b01 / page 0b11; AF; AttrIndx 1 (bits 4:2); SH inner (3 << 8). */
const S1_LEAF = AF | (1n << 2n) | (3n << 8n);
const s1Enc = (leafExtra = 0n, tableExtra = 0n): EntryEncoder => ({
  table: (next) => next | 3n | tableExtra,
  leaf: (pa, level) => pa | (level === 0 ? 3n : 1n) | S1_LEAF | leafExtra,
  present: (e) => (e & 1n) !== 0n,
  next: (e) => e & 0x0000_ffff_ffff_f000n,
});
/** Stage 2: S2AP RW (7:6), AF, MemAttr 0xF (Normal WB, 5:2), SH inner. */
const S2_LEAF = (3n << 6n) | AF | (0xfn << 2n) | (3n << 8n);
const s2Enc: EntryEncoder = {
  table: (next) => next | 3n,
  leaf: (pa, level) => pa | (level === 0 ? 3n : 1n) | S2_LEAF,
  present: (e) => (e & 1n) !== 0n,
  next: (e) => e & 0x0000_ffff_ffff_f000n,
};

type G = 12 | 14 | 16;
/** Block levels (normalised) per granule, D8.2 without FEAT_LPA/LPA2: 4K levels 1 and 2, 16K/64K level 2. */
const LEAVES: Record<G, number[]> = { 12: [0, 1, 2], 14: [0, 1], 16: [0, 1] };

interface Cfg {
  name: string;
  g: G;
  /** Spec start level, written by hand. */
  start: number;
  inputBits: number;
  stage: 1 | 2;
  upper?: boolean;
  configure(h: Harness, root: bigint): number;
}

const cfgs: Cfg[] = [];
// Stage 1: [granule, TxSZ, start level] (D8.2: input 64 - TxSZ; the start level indexes the rest).
const S1: [G, number, number][] = [
  [12, 16, 0], [12, 24, 0], [12, 25, 1], [12, 33, 1], [12, 34, 2], [12, 39, 2],
  [14, 16, 0], [14, 17, 1], [14, 27, 1], [14, 28, 2], [14, 38, 2], [14, 39, 3],
  [16, 16, 1], [16, 22, 2], [16, 23, 2], [16, 35, 3], [16, 39, 3],
];
for (const [g, tsz, start] of S1)
  for (const upper of [false, true])
    cfgs.push({
      name: `vmsa-s1 ${2 ** (g - 10)}K T${upper ? 1 : 0}SZ=${tsz} (start level ${start}${upper ? ", TTB1" : ""})`,
      g, start, inputBits: 64 - tsz, stage: 1, upper,
      configure: (h, root) => h.configureVmsaS1(lo(root), hi(root), g, tsz, 48, upper ? 1 : 0, 0, 0, 0, 0, 0, 0, 0),
    });
// Stage 2: [granule, S2T0SZ, S2SL0, start level] (S2SL0 per granule; more top bits: concatenation).
const S2: [G, number, number, number][] = [
  [12, 34, 0, 2], [12, 30, 0, 2], [12, 25, 1, 1], [12, 21, 1, 1], [12, 24, 2, 0], [12, 16, 2, 0],
  [14, 39, 0, 3], [14, 37, 0, 3], [14, 28, 1, 2], [14, 25, 1, 2], [14, 17, 2, 1], [14, 16, 2, 1],
  [16, 35, 0, 3], [16, 33, 0, 3], [16, 22, 1, 2], [16, 18, 1, 2], [16, 16, 2, 1],
];
for (const [g, t0sz, sl0, start] of S2)
  cfgs.push({
    name: `vmsa-s2 ${2 ** (g - 10)}K S2T0SZ=${t0sz} S2SL0=${sl0} (start level ${start})`,
    g, start, inputBits: 64 - t0sz, stage: 2,
    configure: (h, root) => h.configureVmsaS2(lo(root), hi(root), g, t0sz, sl0, 48, 0, 0, 0, 48),
  });

/** An input with every index bit exercised and the top index bit set; TTB1: ones above the range. */
function inputFor(bits: number, salt: number, upper: boolean): bigint {
  let va = 0n;
  let x = (0x9e3779b9 ^ salt) >>> 0;
  for (let b = 0; b < bits; b += 16) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    va |= BigInt(x & 0xffff) << BigInt(b);
  }
  va = (va & (bit(bits) - 1n)) | bit(bits - 1);
  return upper ? va | (((1n << 64n) - 1n) ^ (bit(bits) - 1n)) : va;
}

const s = suite("formats-vmsa");

for (const c of cfgs) {
  const geometry = vmsa(c.g);
  const levelBits = c.g - 3;
  const top = 3 - c.start;
  const topBits = c.inputBits - (c.g + levelBits * top);
  const shape: TableShape = { geometry, topLevel: top, topBits };
  const concat = topBits > levelBits ? `, ${2 ** (topBits - levelBits)} concatenated tables` : "";
  for (const leaf of LEAVES[c.g].filter((l) => l <= top)) {
    const pageLg2 = c.g + levelBits * leaf;
    s(`${c.name}${concat}: a ${pageLg2 >= 20 ? `${2 ** (pageLg2 - 20)} MiB block` : `${2 ** (pageLg2 - 10)} KiB page`} at level ${3 - leaf}`, () => {
      const { h, mem } = fresh();
      const root = mem.allocTable(tableBytes(shape, top));
      assert.is(c.configure(h, root), 1, "configuration accepted");
      assert.is(h.levels(), top + 1, "levels walked from the start level");
      const va = inputFor(c.inputBits, leaf * 5 + top, c.upper ?? false);
      const pa = 0x0000_7654_0000_0000n;
      const path = mapPage(mem, shape, c.stage === 1 ? s1Enc() : s2Enc, root, va, pa, leaf);
      assert.is(h.walkVa(lo(va), hi(va)), W.OK, "outcome");
      assert.is(outputAddress(h), pa | (va & (bit(pageLg2) - 1n)), "output address");
      assert.is(h.pageLg2(), pageLg2, "page size");
      assert.is(h.leafLevel(), leaf, "leaf level");
      assert.is(h.reads(), top - leaf + 1, "one read per level");
      // every entry read, by hand: table base + index * 8, the top index topBits wide
      let table = root;
      for (let level = top; level >= leaf; level--) {
        const shift = BigInt(c.g + levelBits * level);
        const width = BigInt(level === top ? topBits : levelBits);
        const at = table + ((va >> shift) & ((1n << width) - 1n)) * 8n;
        assert.is(entryPa(h, level), at, `entry address at level ${3 - level}`);
        assert.is(at, path[top - level]);
        table = entryAt(h, level) & 0x0000_ffff_ffff_f000n;
      }
      const sh = 3, attr = c.stage === 1 ? 1 | (1 << 4) : 0xf << 8; // stage 1: global (nG = 0), AttrIndx 1
      assert.is(h.attributes(), (sh << 2) | attr, "SH and AttrIndx / MemAttr");
    });
  }
  s(`${c.name}: beyond the input range is W_INPUT before any read`, () => {
    const { h, mem } = fresh();
    const root = mem.allocTable(tableBytes(shape, top));
    c.configure(h, root);
    const va = c.upper ? inputFor(c.inputBits, 1, true) ^ bit(c.inputBits + 2) : bit(c.inputBits);
    assert.is(h.walkVa(lo(va), hi(va)), W.INPUT);
    assert.is(h.reads(), 0);
  });
}

s("stage-1 TxSZ limits (16..39 without FEAT_LVA/TTST) and granules", () => {
  const { h } = fresh();
  for (const g of [12, 14, 16]) {
    assert.is(h.configureVmsaS1(0, 0, g, 15, 48, 0, 0, 0, 0, 0, 0, 0, 0), 0, `${g}: TxSZ 15`);
    assert.is(h.configureVmsaS1(0, 0, g, 40, 48, 0, 0, 0, 0, 0, 0, 0, 0), 0, `${g}: TxSZ 40`);
    assert.is(h.configureVmsaS1(0, 0, g, 39, 48, 0, 0, 0, 0, 0, 0, 0, 0), 1, `${g}: TxSZ 39`);
  }
  assert.is(h.configureVmsaS1(0, 0, 13, 25, 48, 0, 0, 0, 0, 0, 0, 0, 0), 0, "no 8 KiB granule");
});

s("stage-2 start levels the Arm ARM forbids (AArch64.S2InvalidSL, S2InconsistentSL) are refused", () => {
  const { h } = fresh();
  const cfg = (g: number, t0sz: number, sl0: number, pa: number) => h.configureVmsaS2(0, 0, g, t0sz, sl0, 48, 0, 0, 0, pa);
  assert.is(cfg(12, 16, 2, 43), 0, "4K level 0 needs PA >= 44");
  assert.is(cfg(12, 16, 2, 44), 1);
  assert.is(cfg(14, 17, 2, 41), 0, "16K level 1 needs PA >= 42");
  assert.is(cfg(14, 17, 2, 42), 1);
  assert.is(cfg(16, 16, 2, 43), 0, "64K level 1 needs PA >= 44");
  assert.is(cfg(14, 16, 3, 48), 0, "16K S2SL0=3 (level 0) needs FEAT_LPA2");
  assert.is(cfg(16, 17, 1, 48), 0, "64K level 2 with a 47-bit IPA: 18 top bits, 32 tables");
  assert.is(cfg(16, 18, 1, 48), 1, "... 46 bits: 16 tables");
  assert.is(cfg(14, 24, 1, 48), 1, "16K level 2 with 40 bits: 15 top bits, 16 tables");
  assert.is(cfg(14, 23, 1, 48), 0, "... 41 bits: 32 tables");
  assert.is(cfg(16, 36, 0, 48), 1, "64K level 3 with 28 bits: 12 bits");
  assert.is(cfg(16, 36, 1, 48), 0, "64K level 2 with 28 bits resolves nothing");
});

// ---- stage-1 permissions ---------------------------------------------------------------------------

/**
 * Hand-computed rights (Arm ARM D8.4): "rwx/rwx" = privileged read, write, execute / unprivileged
 * read, write, execute ('-' = refused). The leaf's AP[2:1], UXN, PXN; table attributes on the top
 * table descriptor of a 4-level walk (two tables above the leaf's); HAD, WXN, HA+HD with DBM.
 */
const PERM_CASES: { name: string; leaf: bigint; table?: bigint; had?: boolean; wxn?: boolean; hd?: boolean; want: string }[] = [
  { name: "AP=00", leaf: 0n, want: "rwx/--x" },
  { name: "AP=01", leaf: AP1, want: "rw-/rwx" }, // writable at EL0: privileged execute never
  { name: "AP=10", leaf: AP2, want: "r-x/--x" },
  { name: "AP=11", leaf: AP2 | AP1, want: "r-x/r-x" },
  { name: "AP=00 UXN", leaf: UXN, want: "rwx/---" },
  { name: "AP=00 PXN", leaf: PXN, want: "rw-/--x" },
  { name: "AP=11 UXN PXN", leaf: AP2 | AP1 | UXN | PXN, want: "r--/r--" },
  { name: "AP=01 WXN", leaf: AP1, wxn: true, want: "rw-/rw-" },
  { name: "AP=00 WXN", leaf: 0n, wxn: true, want: "rw-/--x" },
  { name: "AP=10 WXN", leaf: AP2, wxn: true, want: "r-x/--x" },
  { name: "AP=11 WXN", leaf: AP2 | AP1, wxn: true, want: "r-x/r-x" },
  { name: "APTable[0] (no EL0) over AP=01", leaf: AP1, table: APT0, want: "rwx/--x" },
  { name: "APTable[1] (read-only) over AP=01", leaf: AP1, table: APT1, want: "r-x/r-x" },
  { name: "APTable=11 over AP=01", leaf: AP1, table: APT1 | APT0, want: "r-x/--x" },
  { name: "UXNTable over AP=00", leaf: 0n, table: XN_TABLE, want: "rwx/---" },
  { name: "PXNTable over AP=00", leaf: 0n, table: PXN_TABLE, want: "rw-/--x" },
  { name: "HAD: APTable=11, UXNTable, PXNTable ignored over AP=01", leaf: AP1, table: APT1 | APT0 | XN_TABLE | PXN_TABLE, had: true, want: "rw-/rwx" },
  { name: "HAD: UXNTable, PXNTable ignored over AP=00", leaf: 0n, table: XN_TABLE | PXN_TABLE, had: true, want: "rwx/--x" },
  { name: "APTable[1] over AP=01 with WXN (nothing writable)", leaf: AP1, table: APT1, wxn: true, want: "r-x/r-x" },
  { name: "APTable[0] over AP=01 with WXN (writable at EL1 only)", leaf: AP1, table: APT0, wxn: true, want: "rw-/--x" },
  { name: "AP=10 DBM with HA+HD: writable-clean", leaf: AP2 | DBM, hd: true, want: "rwx/--x" },
  { name: "AP=11 DBM with HA+HD", leaf: AP2 | AP1 | DBM, hd: true, want: "rwx/rwx" },
  { name: "AP=11 DBM with HA+HD and WXN: not yet writable, still executable", leaf: AP2 | AP1 | DBM, hd: true, wxn: true, want: "rwx/rwx" },
  { name: "AP=10 DBM without HD: read-only", leaf: AP2 | DBM, want: "r-x/--x" },
];

/** The rights string of the harness outcome, decoded as fmt/vmsa.ts documents. */
function rights(p: number): string {
  const f = (b: boolean, ch: string) => (b ? ch : "-");
  const R = (p & PERM.R) !== 0, Wr = (p & PERM.W) !== 0, U = (p & PERM.U) !== 0;
  return `${f(R, "r")}${f(Wr, "w")}${f((p & PERM.PX) !== 0, "x")}/${f(U && R, "r")}${f(U && Wr, "w")}${f((p & PERM.X) !== 0, "x")}`;
}

/** A 4K, TxSZ=16 (4 levels) tree with one page; `top` extra bits on the level-0 table descriptor. */
function s1Tree(o: { leaf?: bigint; top?: bigint; had?: boolean; affd?: boolean; ha?: boolean; hd?: boolean; wxn?: boolean; uwxn?: boolean; oaBits?: number; pa?: bigint } = {}) {
  const { h, mem } = fresh();
  const shape: TableShape = { geometry: vmsa(12), topLevel: 3, topBits: 9 };
  const root = mem.allocTable(tableBytes(shape, 3));
  const ok = h.configureVmsaS1(lo(root), hi(root), 12, 16, o.oaBits ?? 48, 0, 0, o.had ? 1 : 0, o.affd ? 1 : 0, o.ha || o.hd ? 1 : 0, o.hd ? 1 : 0, o.wxn ? 1 : 0, o.uwxn ? 1 : 0);
  assert.is(ok, 1);
  const va = 0x0000_5a5a_1234_5000n;
  const path = mapPage(mem, shape, s1Enc(o.leaf ?? 0n), root, va, o.pa ?? 0x8_7654_3000n, 0);
  if (o.top) mem.write64(path[0]!, mem.read64(path[0]!)! | o.top);
  return { h, mem, va, path, leaf: path[3]! };
}

for (const c of PERM_CASES)
  s(`stage-1 rights: ${c.name} -> ${c.want}`, () => {
    const { h, va } = s1Tree({ leaf: c.leaf, top: c.table, had: c.had, wxn: c.wxn, hd: c.hd });
    assert.is(h.walkVa(lo(va), hi(va)), W.OK);
    assert.is(rights(h.perms()), c.want);
  });

s("stage-1 UWXN changes nothing with AArch64 tables (EL0-writable is always PXN)", () => {
  for (const uwxn of [false, true]) {
    const { h, va } = s1Tree({ leaf: AP1, uwxn });
    h.walkVa(lo(va), hi(va));
    assert.is(rights(h.perms()), "rw-/rwx");
  }
});

s("stage-1 attributes: nG, Contiguous, AttrIndx and SH of the leaf", () => {
  const a = s1Tree({ leaf: 0n });
  a.h.walkVa(lo(a.va), hi(a.va));
  assert.is(a.h.attributes(), 1 | (3 << 2) | (1 << 4), "global, SH=3, AttrIndx=1");
  const b = s1Tree({ leaf: NG | CONT | (6n << 2n) });
  b.h.walkVa(lo(b.va), hi(b.va));
  assert.is(b.h.attributes(), 2 | (3 << 2) | (7 << 4), "nG: not global; contiguous; AttrIndx 1|6 = 7");
});

// ---- access flag and dirty state -------------------------------------------------------------------

s("stage-1 AF=0: Access flag fault at the leaf; AFFD translates and leaves it; HA sets it in memory", () => {
  const a = s1Tree();
  a.mem.write64(a.leaf, a.mem.read64(a.leaf)! & ~AF);
  assert.is(a.h.walkVa(lo(a.va), hi(a.va)), W.ACCESS_FLAG);
  assert.is(a.h.faultLevel(), 0);
  assert.is(a.h.reads(), 4);

  const b = s1Tree({ affd: true });
  const eb = b.mem.read64(b.leaf)! & ~AF;
  b.mem.write64(b.leaf, eb);
  assert.is(b.h.walkVa(lo(b.va), hi(b.va)), W.OK);
  assert.is(entryAt(b.h, 0), eb, "AF stays clear");

  const c = s1Tree({ ha: true });
  const ec = c.mem.read64(c.leaf)! & ~AF;
  c.mem.write64(c.leaf, ec);
  assert.is(c.h.walkVa(lo(c.va), hi(c.va)), W.OK);
  assert.is(entryAt(c.h, 0), ec | AF, "the walk wrote AF back");
  assert.is(entryAt(c.h, 3), c.mem.read64(c.path[0]!)!, "table descriptors are not updated");
});

s("stage-1 HD with DBM: the granted write clears AP[2] (and HA set AF): the exact qword written back", () => {
  const { h, mem, va, leaf } = s1Tree({ leaf: AP2 | DBM, hd: true });
  const before = mem.read64(leaf)! & ~AF;
  mem.write64(leaf, before);
  assert.is(h.walkVa(lo(va), hi(va)), W.OK);
  assert.is(h.setDirty(), W.OK);
  // 0x8_7654_3000 | page 0b11 | AttrIndx 1 << 2 | SH 3 << 8 | AF | DBM, AP[2] cleared
  const want = 0x8_7654_3000n | 3n | (1n << 2n) | (3n << 8n) | AF | DBM;
  assert.is(before, (want & ~AF) | AP2);
  assert.is(entryAt(h, 0), want);
  // a DBM page without HD stays read-only and is never written
  const b = s1Tree({ leaf: AP2 | DBM });
  b.h.walkVa(lo(b.va), hi(b.va));
  assert.is(b.h.setDirty(), W.OK);
  assert.is(entryAt(b.h, 0), b.mem.read64(b.leaf)!);
  assert.is(entryAt(b.h, 0) & AP2, AP2);
});

// ---- address size and input range ------------------------------------------------------------------

s("stage-1 output address at or above 2^IPS: Address size fault at the leaf; below: translates", () => {
  const a = s1Tree({ oaBits: 32 }); // the page is at 0x8_7654_3000
  assert.is(a.h.walkVa(lo(a.va), hi(a.va)), W.ADDR_SIZE);
  assert.is(a.h.faultLevel(), 0);
  const b = s1Tree({ oaBits: 36 });
  assert.is(b.h.walkVa(lo(b.va), hi(b.va)), W.OK);
});

s("stage-1 next-table address at or above 2^IPS: Address size fault at that table descriptor", () => {
  const { h, mem, va, path } = s1Tree({ oaBits: 40 });
  mem.write64(path[1]!, bit(40) | 3n); // level 1 points at a table at 1 TiB
  assert.is(h.walkVa(lo(va), hi(va)), W.ADDR_SIZE);
  assert.is(h.faultLevel(), 2);
  assert.is(h.reads(), 2);
});

s("stage-1 descriptors: 0b01 at level 3 and a block at level 0 (4K) are translation faults", () => {
  const a = s1Tree();
  a.mem.write64(a.leaf, a.mem.read64(a.leaf)! & ~2n);
  assert.is(a.h.walkVa(lo(a.va), hi(a.va)), W.NOT_PRESENT);
  assert.is(a.h.faultLevel(), 0);
  const b = s1Tree();
  b.mem.write64(b.path[0]!, 1n | S1_LEAF); // a 512 GiB "block" at level 0
  assert.is(b.h.walkVa(lo(b.va), hi(b.va)), W.NOT_PRESENT);
  assert.is(b.h.faultLevel(), 3);
});

s("stage-1 16K/64K: a block at level 1 (no 64 GiB / 4 TiB blocks without LPA2/LPA) is a translation fault", () => {
  for (const g of [14, 16] as const) {
    const { h, mem } = fresh();
    const top = g === 14 ? 3 : 2; // TxSZ 16: 16K starts at level 0, 64K at level 1
    const shape: TableShape = { geometry: vmsa(g), topLevel: top, topBits: g === 14 ? 1 : 6 };
    const root = mem.allocTable(tableBytes(shape, top));
    assert.is(h.configureVmsaS1(lo(root), hi(root), g, 16, 48, 0, 0, 0, 0, 0, 0, 0, 0), 1);
    const va = 0x7000_0000_0000n;
    const path = mapPage(mem, shape, s1Enc(), root, va, 0x4000_0000_0000n, 0);
    mem.write64(path[top - 2]!, 0x4000_0000_0000n | 1n | S1_LEAF); // the level-1 entry as a block
    assert.is(h.walkVa(lo(va), hi(va)), W.NOT_PRESENT, `${g}`);
    assert.is(h.faultLevel(), 2);
  }
});

s("stage-1 input range: TTB0 needs zeros above the range, TTB1 ones; TBI ignores bits 63:56", () => {
  const { h } = fresh();
  const check = (upper: boolean, tbi: boolean, va: bigint) => {
    h.configureVmsaS1(0, 0x10, 12, 25, 48, upper ? 1 : 0, tbi ? 1 : 0, 0, 0, 0, 0, 0, 0);
    return h.walkVa(lo(va), hi(va));
  };
  // 39-bit range: bits 63:39 decide. Outcomes other than W_INPUT read the (absent) table: W_ACCESS.
  assert.is(check(false, false, 0x7f_ffff_f000n), W.ACCESS, "TTB0: top of the range");
  assert.is(check(false, false, 0x80_0000_0000n), W.INPUT, "TTB0: bit 39 set");
  assert.is(check(false, false, 0xff00_0000_0000_1000n), W.INPUT, "TTB0: a tag without TBI");
  assert.is(check(false, true, 0xff00_0000_0000_1000n), W.ACCESS, "TTB0: a tag with TBI");
  assert.is(check(false, true, 0xff80_0000_0000_1000n), W.INPUT, "TTB0 with TBI: bit 55 set");
  assert.is(check(true, false, 0xffff_ff80_0000_1000n), W.ACCESS, "TTB1: ones above bit 38");
  assert.is(check(true, false, 0xffff_ff00_0000_1000n), W.INPUT, "TTB1: bit 39 clear");
  assert.is(check(true, false, 0x00ff_ff80_0000_1000n), W.INPUT, "TTB1: a tag without TBI");
  assert.is(check(true, true, 0x00ff_ff80_0000_1000n), W.ACCESS, "TTB1: a tag with TBI");
});

s("stage-1 TTB1 with TBI: a tagged upper address translates like its untagged form", () => {
  const { h, mem } = fresh();
  const shape: TableShape = { geometry: vmsa(16), topLevel: 2, topBits: 3 }; // 64K, T1SZ=19: 45 bits, start level 1 with 3 bits
  const root = mem.allocTable(tableBytes(shape, 2));
  assert.is(h.configureVmsaS1(lo(root), hi(root), 16, 19, 48, 1, 1, 0, 0, 0, 0, 0, 0), 1);
  const va = 0xffff_f123_4567_8abcn;
  mapPage(mem, shape, s1Enc(), root, va, 0x3_0000_0000n, 0);
  const tagged = (va & 0x00ff_ffff_ffff_ffffn) | 0x5a00_0000_0000_0000n;
  assert.is(h.walkVa(lo(tagged), hi(tagged)), W.OK);
  assert.is(outputAddress(h), 0x3_0000_8abcn);
  assert.is(h.pageLg2(), levelShift(vmsa(16), 0));
});

s.run();
