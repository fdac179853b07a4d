/**
 * VT-d page-walk matrix, in the style of Linux generic_pt's kunit_fmt_cfgs: one parameterised suite
 * over every (translation type x level count x page size) the model supports.
 *
 *   scalable mode  PGTT=010 second stage only   3/4/5 levels  x 4K/2M/1G
 *                  PGTT=001 first stage only    4/5 levels    x 4K/2M/1G
 *                  PGTT=011 nested              FS 4/5 x FS page 4K/2M/1G x SS 3/4/5 x SS page 4K/2M/1G
 *                  PGTT=100 pass-through
 *   legacy mode    TT=00 second stage           3/4/5 levels  x 4K/2M/1G
 *                  TT=10 pass-through
 *
 * Every expectation is computed by hand in this file (page base + offset, read counts from the
 * spec's walk structure); the leaf-entry address is found by an independent software walk over
 * the tables the builder wrote (core.read64, index = (va >> (12 + 9*level)) & 511), never by
 * asking the core.
 *
 * Spec references: shared/spec/vtd.md 2.5-2.9 (structures and walks), 2.10 (fault codes).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../src/platform.ts";
import type { Core, CoreBuild, Request, Result } from "../../src/core/core.ts";
import { DEFAULT_CAP, DEFAULT_ECAP, setField, capFields } from "../../src/arch/vtd/registers.ts";

const BUILDS: CoreBuild[] = ["release", "debug"];

/** CAP with 3-, 4- and 5-level SS (SAGAW=0xE), SS 2M+1G (SSLPS=3), FS 1G (FS1GP) and FS 5-level (FS5LP). */
function matrixCap(over: Partial<Record<keyof typeof capFields, bigint>> = {}): bigint {
  let cap = DEFAULT_CAP;
  cap = setField(cap, capFields.SAGAW, 0xen);
  cap = setField(cap, capFields.MGAW, 56n); // 57-bit guest address width, needed by 5-level SS
  cap = setField(cap, capFields.SSLPS, 3n);
  cap = setField(cap, capFields.FS1GP, 1n);
  cap = setField(cap, capFields.FS5LP, 1n);
  for (const [k, v] of Object.entries(over)) cap = setField(cap, capFields[k as keyof typeof capFields], v!);
  return cap;
}

// ---- sizes, address patterns -------------------------------------------------------------------

type PageName = "4K" | "2M" | "1G";
const PAGE_LG2: Record<PageName, number> = { "4K": 12, "2M": 21, "1G": 30 };
const PAGES: PageName[] = ["4K", "2M", "1G"];
const size = (p: PageName) => 1n << BigInt(PAGE_LG2[p]);
const leafLevelOf = (p: PageName) => (PAGE_LG2[p] - 12) / 9; // normalised: 0 = 4K table

const M64 = (1n << 64n) - 1n;
const ADDR = ((1n << 52n) - 1n) & ~0xfffn;

/** 9-bit table indices for levels 1..5 (index 0 = level 1, the 4 KiB table): distinct and non-zero. */
const PAT = {
  D: [0x123, 0x0ab, 0x1cd, 0x0ef, 0x157], // "distinct": every level has its own non-zero index
  R: [0x0b2, 0x1d4, 0x0e6, 0x098, 0x1aa], // read-only mapping
  S: [0x171, 0x062, 0x143, 0x034, 0x025], // nested: read-only in the second stage
  TOP: [0x1ff, 0x1ff, 0x1ff, 0x1ff, 0x1ff], // the top of the address width
};
/** Second-stage-side (GPA) patterns for nested, different from the GVA ones. */
const GPAT = {
  D: [0x0f1, 0x1e2, 0x0d3, 0x1c4, 0x0b5],
  TN: [0x1ff, 0x1ff, 0x1ff, 0x1ff, 0x1ff],
  TP: [0x155, 0x0aa, 0x133, 0x0cc, 0x1ee],
  R: [0x0a7, 0x19b, 0x0e5, 0x16d, 0x03c],
  S: [0x1b9, 0x04d, 0x172, 0x0c8, 0x1e4],
};

/** Address built from per-level indices for `levels` levels plus a 12-bit page offset. */
function fromIndices(idx: number[], levels: number, low: bigint): bigint {
  let a = low;
  for (let l = 0; l < levels; l++) a |= BigInt(idx[l]!) << BigInt(12 + 9 * l);
  return a;
}
/** Sign-extends `a` from bit width-1 (first-stage canonical form, 64-bit unsigned). */
function canonical(a: bigint, width: number): bigint {
  return (a >> BigInt(width - 1)) & 1n ? (a | (M64 << BigInt(width))) & M64 : a;
}
const hex = (v: bigint) => "0x" + v.toString(16);

/** Physical page for a mapping of size `p`, inside the 1 GiB region at `base`. */
function paPage(base: bigint, p: PageName): bigint {
  return base + (0x2b6d_5000n & ~(size(p) - 1n));
}
const PA_BASE = {
  D: 0x000a_bcde_c000_0000n,
  T: 0x000f_ffff_c000_0000n, // top GiB below 2^52 (the host address width)
  TP: 0x0007_6543_0000_0000n,
  R: 0x0001_2345_4000_0000n,
  S: 0x0003_3333_0000_0000n,
};
/** Highest page in the region: with PA_BASE.T it is the last page below 2^52. */
function paTopPage(base: bigint, p: PageName): bigint {
  return base + (0x3fff_f000n & ~(size(p) - 1n));
}

// ---- independent software walk -----------------------------------------------------------------

interface SwLeaf {
  slot: bigint; // PA of the leaf entry
  entry: bigint;
  level: number; // normalised
  pa: bigint; // output address
}

/**
 * Walks tables in guest memory exactly as laid out by spec 3.6/3.7: index = (va >> (12+9*level)) & 511.
 * `s2`: nested, table addresses are GPAs translated by this second-stage table.
 */
function swWalk(core: Core, fmt: "ss" | "fs", root: bigint, levels: number, va: bigint, s2?: { root: bigint; levels: number }): SwLeaf {
  let table = root;
  for (let level = levels - 1; level >= 0; level--) {
    const index = (va >> BigInt(12 + 9 * level)) & 511n;
    let slot = table + index * 8n;
    if (s2) slot = swWalk(core, "ss", s2.root, s2.levels, slot).pa;
    const e = core.read64(slot);
    if (e === undefined) throw new Error(`sw walk: unwritten memory at ${hex(slot)}`);
    const present = fmt === "fs" ? (e & 1n) !== 0n : (e & 3n) !== 0n;
    if (!present) throw new Error(`sw walk: not present at level ${level + 1} (${hex(slot)}) for ${hex(va)}`);
    if (level === 0 || (e & (1n << 7n)) !== 0n) {
      const mask = (1n << BigInt(12 + 9 * level)) - 1n;
      return { slot, entry: e, level, pa: (e & ADDR & ~mask) | (va & mask) };
    }
    table = e & ADDR;
  }
  throw new Error("unreachable");
}

// ---- the configurations ----------------------------------------------------------------------

type Cfg =
  | { kind: "sm-ss"; levels: number; page: PageName }
  | { kind: "sm-fs"; levels: number; page: PageName }
  | { kind: "sm-nested"; fsLevels: number; fsPage: PageName; ssLevels: number; ssPage: PageName }
  | { kind: "sm-pt" }
  | { kind: "legacy-ss"; levels: number; page: PageName }
  | { kind: "legacy-pt" };

function cfgName(c: Cfg): string {
  switch (c.kind) {
    case "sm-ss":
      return `SM PGTT=010 SS ${c.levels}-level ${c.page}`;
    case "sm-fs":
      return `SM PGTT=001 FS ${c.levels}-level ${c.page}`;
    case "sm-nested":
      return `SM PGTT=011 nested FS ${c.fsLevels}-level ${c.fsPage} x SS ${c.ssLevels}-level ${c.ssPage}`;
    case "sm-pt":
      return "SM PGTT=100 pass-through";
    case "legacy-ss":
      return `legacy TT=00 SS ${c.levels}-level ${c.page}`;
    case "legacy-pt":
      return "legacy TT=10 pass-through";
  }
}

const CFGS: Cfg[] = [];
for (const levels of [3, 4, 5]) for (const page of PAGES) CFGS.push({ kind: "sm-ss", levels, page });
for (const levels of [4, 5]) for (const page of PAGES) CFGS.push({ kind: "sm-fs", levels, page });
for (const fsLevels of [4, 5])
  for (const fsPage of PAGES)
    for (const ssLevels of [3, 4, 5]) for (const ssPage of PAGES) CFGS.push({ kind: "sm-nested", fsLevels, fsPage, ssLevels, ssPage });
CFGS.push({ kind: "sm-pt" });
for (const levels of [3, 4, 5]) for (const page of PAGES) CFGS.push({ kind: "legacy-ss", levels, page });
CFGS.push({ kind: "legacy-pt" });

/** One address to translate, with everything expected of it. */
interface Probe {
  name: string;
  addr: bigint;
  pa: bigint;
  pageLg2: number;
  reads: number;
  leafPa: bigint; // 0n: none (pass-through)
  s2LeafPa?: bigint;
  writable: boolean;
}

const SID = 0x03a5; // bus 3, devfn 0xA5: scalable mode uses the upper context-table pointer (UCTP)
const PASID = 0x2a7;
const SM_STRUCT_READS = 4; // root + context + PASID directory + PASID table
const LEGACY_STRUCT_READS = 2; // root + context

/** Builds the tables for `c` and returns the platform and probes (expected results by hand). */
function setup(c: Cfg, build: CoreBuild): { p: VtdPlatform; probes: Probe[]; req: (addr: bigint, op: "MRd" | "MWr") => Request; roFault: string } {
  const legacy = c.kind === "legacy-ss" || c.kind === "legacy-pt";
  const p = new VtdPlatform({ caches: "off", build, mode: legacy ? "legacy" : "scalable", cap: matrixCap(), ecap: DEFAULT_ECAP });
  const b = p.builder;
  const core = p.core;
  const probes: Probe[] = [];
  const req = (addr: bigint, op: "MRd" | "MWr"): Request => (legacy ? { op, sid: SID, addr, len: 4 } : { op, sid: SID, pasid: PASID, addr, len: 4 });
  const attach = (domain: number) => (legacy ? b.attach({ sid: SID, domain }) : b.attach({ sid: SID, pasid: PASID, domain, pasidBits: 10 }));
  const structReads = legacy ? LEGACY_STRUCT_READS : SM_STRUCT_READS;

  switch (c.kind) {
    case "sm-ss":
    case "legacy-ss": {
      const d = b.createDomain({ id: 7, type: "ss", levels: c.levels });
      const width = 12 + 9 * c.levels;
      const cases = [
        { name: "distinct indices", addr: fromIndices(PAT.D, c.levels, 0xabcn), pa: paPage(PA_BASE.D, c.page), writable: true },
        { name: "top of width", addr: (1n << BigInt(width)) - 0x10n, pa: paTopPage(PA_BASE.T, c.page), writable: true },
        { name: "read-only", addr: fromIndices(PAT.R, c.levels, 0x5a8n), pa: paPage(PA_BASE.R, c.page), writable: false },
      ];
      for (const k of cases) {
        const pg = k.addr & ~(size(c.page) - 1n);
        b.map(d, pg, k.pa, size(c.page), { pageSize: size(c.page), write: k.writable });
        const leaf = swWalk(core, "ss", d.root, c.levels, k.addr);
        const pa = k.pa + (k.addr & (size(c.page) - 1n));
        assert.is(leaf.pa, pa, "software walk agrees with the hand-computed address");
        assert.is(leaf.level, leafLevelOf(c.page));
        probes.push({
          name: k.name,
          addr: k.addr,
          pa,
          pageLg2: PAGE_LG2[c.page],
          reads: structReads + c.levels - leafLevelOf(c.page),
          leafPa: leaf.slot,
          s2LeafPa: legacy ? undefined : leaf.slot,
          writable: k.writable,
        });
      }
      attach(d.id);
      break;
    }
    case "sm-fs": {
      const d = b.createDomain({ id: 7, type: "fs", levels: c.levels });
      const width = 12 + 9 * c.levels; // 48 or 57, canonical
      const cases = [
        { name: "distinct indices", addr: canonical(fromIndices(PAT.D, c.levels, 0xabcn), width), pa: paPage(PA_BASE.D, c.page), writable: true },
        { name: "top of width (negative canonical)", addr: M64 - 0xfn, pa: paTopPage(PA_BASE.T, c.page), writable: true },
        { name: "top of lower half (positive canonical)", addr: (1n << BigInt(width - 1)) - 0x10n, pa: paTopPage(PA_BASE.TP, c.page), writable: true },
        { name: "read-only", addr: canonical(fromIndices(PAT.R, c.levels, 0x5a8n), width), pa: paPage(PA_BASE.R, c.page), writable: false },
      ];
      for (const k of cases) {
        const pg = k.addr & ~(size(c.page) - 1n);
        b.map(d, pg, k.pa, size(c.page), { pageSize: size(c.page), write: k.writable });
        const leaf = swWalk(core, "fs", d.root, c.levels, k.addr);
        const pa = k.pa + (k.addr & (size(c.page) - 1n));
        assert.is(leaf.pa, pa, "software walk agrees with the hand-computed address");
        probes.push({
          name: k.name,
          addr: k.addr,
          pa,
          pageLg2: PAGE_LG2[c.page],
          reads: SM_STRUCT_READS + c.levels - leafLevelOf(c.page),
          leafPa: leaf.slot,
          writable: k.writable,
        });
      }
      attach(d.id);
      break;
    }
    case "sm-nested": {
      const s2 = b.createDomain({ id: 3, type: "ss", levels: c.ssLevels });
      const d = b.createDomain({ id: 7, type: "nested", levels: c.fsLevels, parent: 3 });
      const fsWidth = 12 + 9 * c.fsLevels;
      const ssWidth = 12 + 9 * c.ssLevels;
      const fsS = size(c.fsPage), ssS = size(c.ssPage);
      const cases = [
        { name: "distinct indices", gva: canonical(fromIndices(PAT.D, c.fsLevels, 0xabcn), fsWidth), gpat: GPAT.D, paBase: PA_BASE.D, fsW: true, ssW: true },
        { name: "top of width (negative canonical)", gva: M64 - 0xfn, gpat: GPAT.TN, paBase: PA_BASE.T, fsW: true, ssW: true },
        { name: "top of lower half", gva: (1n << BigInt(fsWidth - 1)) - 0x10n, gpat: GPAT.TP, paBase: PA_BASE.TP, fsW: true, ssW: true },
        { name: "read-only in FS", gva: canonical(fromIndices(PAT.R, c.fsLevels, 0x5a8n), fsWidth), gpat: GPAT.R, paBase: PA_BASE.R, fsW: false, ssW: true },
        { name: "read-only in SS", gva: canonical(fromIndices(PAT.S, c.fsLevels, 0x7f0n), fsWidth), gpat: GPAT.S, paBase: PA_BASE.S, fsW: true, ssW: false },
      ];
      for (const k of cases) {
        // FS: GVA page -> GPA page (the GPA pattern, at the SS width, aligned to the FS page size).
        // A first-stage leaf outputs GPA bits 51:12 only, so with a 5-level SS the GPA keeps just
        // bits 51:48 of its level-5 index (still distinct and non-zero across cases).
        const gpaPattern = fromIndices(k.gpat, c.ssLevels, 0n) & ((1n << 52n) - 1n);
        assert.ok(gpaPattern < 1n << BigInt(Math.min(ssWidth, 52)));
        const gpaPage = gpaPattern & ~(fsS - 1n);
        b.map(d, k.gva & ~(fsS - 1n), gpaPage, fsS, { pageSize: fsS, write: k.fsW });
        const finalGpa = gpaPage + (k.gva & (fsS - 1n));
        // SS: the page of the final GPA -> PA.
        const pa0 = k.gpat === GPAT.TN ? paTopPage(k.paBase, c.ssPage) : paPage(k.paBase, c.ssPage);
        b.map(s2, finalGpa & ~(ssS - 1n), pa0, ssS, { pageSize: ssS, write: k.ssW });
        const pa = pa0 + (finalGpa & (ssS - 1n));
        const fsLeaf = swWalk(core, "fs", d.root, c.fsLevels, k.gva, { root: s2.root, levels: c.ssLevels });
        assert.is(fsLeaf.pa, finalGpa, "software FS walk gives the hand-computed GPA");
        const ssLeaf = swWalk(core, "ss", s2.root, c.ssLevels, finalGpa);
        assert.is(ssLeaf.pa, pa, "software SS walk gives the hand-computed PA");
        // Each FS level: the SS walk of the FS table pointer (table pages are 4K-mapped: ssLevels
        // reads) plus the FS entry itself; then the SS walk of the final GPA.
        const fsWalked = c.fsLevels - leafLevelOf(c.fsPage);
        const ssFinal = c.ssLevels - leafLevelOf(c.ssPage);
        probes.push({
          name: k.name,
          addr: k.gva,
          pa,
          pageLg2: Math.min(PAGE_LG2[c.fsPage], PAGE_LG2[c.ssPage]),
          reads: SM_STRUCT_READS + fsWalked * (c.ssLevels + 1) + ssFinal,
          leafPa: fsLeaf.slot,
          s2LeafPa: ssLeaf.slot,
          writable: k.fsW && k.ssW,
        });
      }
      attach(d.id);
      break;
    }
    case "sm-pt":
    case "legacy-pt": {
      const d = b.createDomain({ id: 7, type: "pt" });
      for (const [name, addr] of [
        ["distinct indices", fromIndices(PAT.D, 4, 0xabcn)],
        ["top of 48 bits", (1n << 48n) - 0x10n],
      ] as const)
        probes.push({ name, addr, pa: addr, pageLg2: 12, reads: structReads, leafPa: 0n, writable: true });
      attach(d.id);
      break;
    }
  }
  p.enable();
  return { p, probes, req, roFault: legacy ? "LGN.2" : "SGN.6" };
}

function expectOk(r: Result, what: string): void {
  if (r.status !== "ok") assert.unreachable(`${what}: ${r.status} ${r.fault?.name ?? ""} (level ${r.fault?.level ?? "-"})`);
}

// ---- the suite --------------------------------------------------------------------------------

const Walk = suite("vtd walk matrix");

let combos = 0;
for (const c of CFGS) {
  for (const build of BUILDS) {
    Walk(`${cfgName(c)} [${build}]`, () => {
      const { p, probes, req, roFault } = setup(c, build);
      const pt = c.kind === "sm-pt" || c.kind === "legacy-pt";
      for (const pr of probes) {
        const what = `${cfgName(c)} ${pr.name} ${hex(pr.addr)}`;
        for (const op of ["MRd", "MWr"] as const) {
          const r = p.translateOne(req(pr.addr, op));
          if (op === "MWr" && !pr.writable) {
            assert.is(r.status, "fault", `${what} MWr to a read-only mapping`);
            assert.is(r.fault!.name, roFault, `${what} MWr fault`);
            continue;
          }
          expectOk(r, `${what} ${op}`);
          assert.is(r.pa, pr.pa, `${what} ${op} pa`);
          assert.is(r.reads, pr.reads, `${what} ${op} reads`);
          if (pt) {
            assert.ok(r.passthrough, `${what} pass-through flag`);
            assert.is(r.leafPa, 0n, `${what}: no leaf entry`);
            continue;
          }
          assert.is(r.pageLg2, pr.pageLg2, `${what} ${op} pageLg2`);
          assert.is(r.leafPa, pr.leafPa, `${what} ${op} leafPa`);
          assert.is(r.leafPte, p.core.read64(pr.leafPa), `${what} ${op} leafPte is the entry in memory`);
          if (pr.s2LeafPa !== undefined) assert.is(r.s2LeafPa, pr.s2LeafPa, `${what} ${op} s2LeafPa`);
          assert.is(r.perms.r, true, `${what} ${op} perms.r`);
          assert.is(r.perms.w, pr.writable, `${what} ${op} perms.w`);
        }
      }
    });
    combos++;
  }
}

// ---- per-level read counters, by hand ----------------------------------------------------------

function walkReadsDelta(p: VtdPlatform, r: Request): { res: Result; fs: bigint[]; ss: bigint[] } {
  const before = p.core.walkReads();
  const res = p.translateOne(r);
  const after = p.core.walkReads();
  return { res, fs: after.fs.map((v, i) => v - before.fs[i]!), ss: after.ss.map((v, i) => v - before.ss[i]!) };
}

for (const build of BUILDS) {
  Walk(`walkReads: nested FS 4-level 4K x SS 4-level 4K, by level [${build}]`, () => {
    const { p, probes, req } = setup({ kind: "sm-nested", fsLevels: 4, fsPage: "4K", ssLevels: 4, ssPage: "4K" }, build);
    const { res, fs, ss } = walkReadsDelta(p, req(probes[0]!.addr, "MRd"));
    expectOk(res, "nested walk");
    // FS reads one entry at each of L4..L1.
    assert.equal(fs, [1n, 1n, 1n, 1n, 0n]);
    // SS: 4 FS table pointers, each a full 4-level walk to a 4K leaf (L4..L1), plus the final GPA walk.
    assert.equal(ss, [5n, 5n, 5n, 5n, 0n]);
    assert.is(res.reads, 4 + 4 * 5 + 4);
  });
  Walk(`walkReads: nested FS 5-level 2M x SS 3-level 1G, by level [${build}]`, () => {
    const { p, probes, req } = setup({ kind: "sm-nested", fsLevels: 5, fsPage: "2M", ssLevels: 3, ssPage: "1G" }, build);
    const { res, fs, ss } = walkReadsDelta(p, req(probes[0]!.addr, "MWr"));
    expectOk(res, "nested walk");
    // FS reads L5, L4, L3 and the 2M leaf at L2.
    assert.equal(fs, [0n, 1n, 1n, 1n, 1n]);
    // SS: 4 FS table pointers x (L3, L2, L1) for the 4K-mapped table pages, plus the final GPA's 1G leaf at L3.
    assert.equal(ss, [4n, 4n, 5n, 0n, 0n]);
    assert.is(res.reads, 4 + 4 * 4 + 1);
    assert.is(res.pageLg2, 21);
  });
  Walk(`walkReads: SS-only 5-level 4K and FS-only 5-level 1G [${build}]`, () => {
    const ss = setup({ kind: "sm-ss", levels: 5, page: "4K" }, build);
    let d = walkReadsDelta(ss.p, ss.req(ss.probes[0]!.addr, "MRd"));
    assert.equal(d.fs, [0n, 0n, 0n, 0n, 0n]);
    assert.equal(d.ss, [1n, 1n, 1n, 1n, 1n]);
    const fs = setup({ kind: "sm-fs", levels: 5, page: "1G" }, build);
    d = walkReadsDelta(fs.p, fs.req(fs.probes[0]!.addr, "MRd"));
    assert.equal(d.fs, [0n, 0n, 1n, 1n, 1n]);
    assert.equal(d.ss, [0n, 0n, 0n, 0n, 0n]);
  });
}

// ---- large pages the CAP does not allow --------------------------------------------------------

const FS_P = 1n, FS_RW = 2n, FS_US = 4n, FS_A = 1n << 5n, FS_D = 1n << 6n, FS_PS = 1n << 7n;

/** An SS-only (or legacy) device whose domain maps one page of `page` at `iova` (builder writes any PS leaf). */
function ssLargePage(build: CoreBuild, mode: "scalable" | "legacy", sslps: bigint, levels: number, page: PageName) {
  const p = new VtdPlatform({ caches: "off", build, mode, cap: matrixCap({ SSLPS: sslps }) });
  const d = p.builder.createDomain({ id: 9, type: "ss", levels });
  const iova = fromIndices(PAT.D, levels, 0xabcn);
  const pa = paPage(PA_BASE.D, page);
  p.builder.map(d, iova & ~(size(page) - 1n), pa, size(page), { pageSize: size(page) });
  if (mode === "legacy") p.builder.attach({ sid: SID, domain: 9 });
  else p.builder.attach({ sid: SID, pasid: PASID, domain: 9, pasidBits: 10 });
  p.enable();
  const r = p.translateOne(mode === "legacy" ? { op: "MRd", sid: SID, addr: iova } : { op: "MRd", sid: SID, pasid: PASID, addr: iova });
  return { r, pa: pa + (iova & (size(page) - 1n)) };
}

for (const build of BUILDS) {
  Walk(`SSLPS=0: a 2M SS leaf is a reserved PS bit (SSS.3; legacy LSL.2), SSLPS=1 accepts it [${build}]`, () => {
    for (const levels of [3, 4, 5]) {
      let t = ssLargePage(build, "scalable", 0n, levels, "2M");
      assert.is(t.r.status, "fault");
      assert.is(t.r.fault!.name, "SSS.3");
      assert.is(t.r.fault!.level, 2);
      t = ssLargePage(build, "legacy", 0n, levels, "2M");
      assert.is(t.r.status, "fault");
      assert.is(t.r.fault!.name, "LSL.2");
      assert.is(t.r.fault!.level, 2);
      t = ssLargePage(build, "scalable", 1n, levels, "2M");
      expectOk(t.r, "2M with SSLPS=1");
      assert.is(t.r.pa, t.pa);
      t = ssLargePage(build, "legacy", 1n, levels, "2M");
      expectOk(t.r, "legacy 2M with SSLPS=1");
      assert.is(t.r.pa, t.pa);
    }
  });
  Walk(`SSLPS=1 (2M only): a 1G SS leaf is refused (SSS.3 / LSL.2), SSLPS=3 accepts it [${build}]`, () => {
    for (const levels of [3, 4, 5]) {
      let t = ssLargePage(build, "scalable", 1n, levels, "1G");
      assert.is(t.r.status, "fault");
      assert.is(t.r.fault!.name, "SSS.3");
      assert.is(t.r.fault!.level, 3);
      t = ssLargePage(build, "legacy", 1n, levels, "1G");
      assert.is(t.r.status, "fault");
      assert.is(t.r.fault!.name, "LSL.2");
      t = ssLargePage(build, "scalable", 3n, levels, "1G");
      expectOk(t.r, "1G with SSLPS=3");
      assert.is(t.r.pa, t.pa);
    }
  });
  Walk(`SSLPS=0 under nesting: the final GPA's 2M SS leaf is refused (SSS.3) [${build}]`, () => {
    const p = new VtdPlatform({ caches: "off", build, cap: matrixCap({ SSLPS: 0n }) });
    const b = p.builder;
    const s2 = b.createDomain({ id: 3, type: "ss", levels: 4 });
    const d = b.createDomain({ id: 7, type: "nested", levels: 4, parent: 3 });
    const gva = fromIndices(PAT.D, 4, 0xabcn);
    const gpa = fromIndices(GPAT.D, 4, 0n);
    b.map(d, gva & ~0xfffn, gpa, 0x1000n);
    b.map(s2, gpa & ~(size("2M") - 1n), paPage(PA_BASE.D, "2M"), size("2M"), { pageSize: size("2M") });
    b.attach({ sid: SID, pasid: PASID, domain: 7, pasidBits: 10 });
    p.enable();
    const r = p.translateOne({ op: "MRd", sid: SID, pasid: PASID, addr: gva });
    assert.is(r.status, "fault");
    assert.is(r.fault!.name, "SSS.3");
  });
  Walk(`FS1GP=0: a hand-written 1G FS leaf is a reserved PS bit (SFS.3); FS1GP=1 accepts it; 2M needs no CAP [${build}]`, () => {
    for (const levels of [4, 5]) {
      for (const fs1gp of [0n, 1n]) {
        const p = new VtdPlatform({ caches: "off", build, cap: matrixCap({ FS1GP: fs1gp }) });
        const d = p.builder.createDomain({ id: 7, type: "fs", levels });
        const width = 12 + 9 * levels;
        const gva = canonical(fromIndices(PAT.D, levels, 0xabcn), width);
        const gva2 = canonical(fromIndices(PAT.R, levels, 0x123n), width);
        // Build the upper levels with a 4K mapping, then overwrite the PDPE (level 3) with a 1G leaf.
        p.builder.map(d, gva & ~0xfffn, 0x5000_0000n, 0x1000n);
        const l3Index = (gva >> 30n) & 511n;
        let table = d.root;
        for (let level = levels - 1; level > 2; level--) table = p.core.read64(table + ((gva >> BigInt(12 + 9 * level)) & 511n) * 8n)! & ADDR;
        const pdpe = table + l3Index * 8n;
        const pa1g = PA_BASE.D;
        p.core.write64(pdpe, pa1g | FS_P | FS_RW | FS_US | FS_A | FS_D | FS_PS);
        // A 2M leaf elsewhere is always allowed.
        p.builder.map(d, gva2 & ~(size("2M") - 1n), paPage(PA_BASE.R, "2M"), size("2M"), { pageSize: size("2M") });
        p.builder.attach({ sid: SID, pasid: PASID, domain: 7, pasidBits: 10 });
        p.enable();
        const r = p.translateOne({ op: "MRd", sid: SID, pasid: PASID, addr: gva });
        if (fs1gp === 0n) {
          assert.is(r.status, "fault", `${levels}-level FS1GP=0`);
          assert.is(r.fault!.name, "SFS.3");
          assert.is(r.fault!.level, 3);
        } else {
          expectOk(r, `${levels}-level FS1GP=1`);
          assert.is(r.pa, pa1g + (gva & (size("1G") - 1n)));
          assert.is(r.pageLg2, 30);
          assert.is(r.leafPa, pdpe);
          assert.is(r.reads, 4 + levels - 2);
        }
        const r2 = p.translateOne({ op: "MRd", sid: SID, pasid: PASID, addr: gva2 });
        expectOk(r2, `${levels}-level 2M FS leaf, FS1GP=${fs1gp}`);
        assert.is(r2.pa, paPage(PA_BASE.R, "2M") + (gva2 & (size("2M") - 1n)));
        assert.is(r2.pageLg2, 21);
      }
    }
  });
}

Walk("matrix size", () => {
  // SS 3x3 + FS 2x3 + nested (2x3)x(3x3) + SM PT + legacy 3x3 + legacy PT = 9 + 6 + 54 + 1 + 9 + 1
  assert.is(CFGS.length, 80);
  assert.is(combos, 80 * BUILDS.length);
});

Walk.run();
