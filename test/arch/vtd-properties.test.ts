/**
 * Property-based tests of the VT-d translation core (fast-check).
 *
 * 1. Round trip: random sets of non-overlapping mappings written by the builder (4 KiB / 2 MiB /
 *    1 GiB pages, IOVAs across the whole input width, output addresses below 2^46, random
 *    permissions) translate back exactly: pa + offset, the page size, the permissions; and
 *    addresses outside every mapping give the stage's not-present fault.
 * 2. Robustness: random guest memory (root, context, PASID structures, table pages), random
 *    registers and random requests never trap, and every result is a success or a fault whose
 *    code is one the model documents (abi vtdFaults). Run on the debug build (assertions and
 *    bounds checks on) and on the release build.
 *
 * A failing run prints fast-check's seed and path; rerun with FC_SEED=<seed> FC_PATH=<path>.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { VtdPlatform } from "../../src/platform.ts";
import { Core, type CoreBuild, type Request, type Result } from "../../src/core/core.ts";
import { vtdFaults } from "../../src/core/abi.ts";
import { DEFAULT_CAP, DEFAULT_ECAP } from "../../src/arch/vtd/registers.ts";
import { Prng } from "../../src/util/prng.ts";

// includeErrorInReport: show the failed assertion or the core's trap message in the report.
const seedOpts: fc.Parameters<unknown> = {
  includeErrorInReport: true,
  ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
  ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
};

const FAULT_CODES = new Set<number>(vtdFaults.map((f) => f.code));
const STATUSES = new Set(["ok", "fault", "interrupt", "blocked"]);
const bit = (n: number) => 1n << BigInt(n);
const hex = (v: bigint) => `0x${v.toString(16)}`;
const PAGE_LG2 = [12, 21, 30] as const;
const INT_LO = 0xfee0_0000n, INT_HI = 0xfeef_ffffn;
const PA_BITS = 46n;
const TABLE_BASE = 1n << 47n; // above every generated PA and GPA

// ---- 1. round trip -----------------------------------------------------------------------------

type Kind = "ss4" | "ss5" | "fs4" | "fs5" | "nested" | "legacy4" | "legacy5";

interface RawMap {
  sizeSel: number;
  pages: number;
  iova: bigint;
  pa: bigint;
  r: boolean;
  w: boolean;
  user: boolean;
  global: boolean;
  // nested: the second-stage mapping of the guest-physical range
  gpa: bigint;
  ssSizeSel: number;
  ssR: boolean;
  ssW: boolean;
}

interface Mapping {
  idx: bigint; // IOVA with the canonical sign extension removed (FS) or the IOVA itself
  iova: bigint;
  size: bigint;
  lg2: number;
  pa: bigint; // final output address of the first byte
  r: boolean;
  w: boolean;
  user: boolean;
  global: boolean;
  gpa: bigint;
  ssLg2: number;
  ssR: boolean;
  ssW: boolean;
}

const rawMap: fc.Arbitrary<RawMap> = fc.record({
  sizeSel: fc.constantFrom(0, 0, 1, 1, 2),
  pages: fc.integer({ min: 1, max: 3 }),
  iova: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  pa: fc.bigInt({ min: 0n, max: (1n << PA_BITS) - 1n }),
  r: fc.boolean(),
  w: fc.boolean(),
  user: fc.boolean(),
  global: fc.boolean(),
  gpa: fc.bigInt({ min: 0n, max: (1n << PA_BITS) - 1n }),
  ssSizeSel: fc.constantFrom(0, 1, 2),
  ssR: fc.boolean(),
  ssW: fc.boolean(),
});

interface Probe {
  inside: boolean;
  which: number;
  off: bigint;
  addr: bigint;
  op: "MRd" | "MWr" | "ATS";
  withPasid: boolean;
  priv: boolean;
  nw: boolean;
  ns: boolean;
}

const probe: fc.Arbitrary<Probe> = fc.record({
  inside: fc.boolean(),
  which: fc.nat(),
  off: fc.bigInt({ min: 0n, max: (1n << 30n) - 1n }),
  addr: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  op: fc.constantFrom("MRd" as const, "MWr" as const, "ATS" as const),
  withPasid: fc.boolean(),
  priv: fc.boolean(),
  nw: fc.boolean(),
  ns: fc.boolean(),
});

const overlaps = (a: bigint, asz: bigint, b: bigint, bsz: bigint) => a < b + bsz && b < a + asz;
const hitsInterruptRange = (a: bigint, size: bigint) => overlaps(a, size, INT_LO, INT_HI - INT_LO + 1n);

interface KindInfo {
  fs: boolean;
  nested: boolean;
  legacy: boolean;
  width: number; // input width in bits
}

function kindInfo(kind: Kind, fsLevels: number): KindInfo {
  switch (kind) {
    case "ss4":
      return { fs: false, nested: false, legacy: false, width: 48 };
    case "ss5":
      return { fs: false, nested: false, legacy: false, width: 57 };
    case "fs4":
      return { fs: true, nested: false, legacy: false, width: 48 };
    case "fs5":
      return { fs: true, nested: false, legacy: false, width: 57 };
    case "nested":
      return { fs: true, nested: true, legacy: false, width: 12 + 9 * fsLevels };
    case "legacy4":
      return { fs: false, nested: false, legacy: true, width: 48 };
    case "legacy5":
      return { fs: false, nested: false, legacy: true, width: 57 };
  }
}

/** Canonical address for index `idx` of a `width`-bit first-stage space (sign extension). */
function canonical(idx: bigint, width: number): bigint {
  const w = BigInt(width);
  return (idx >> (w - 1n)) & 1n ? idx | (((1n << (64n - w)) - 1n) << w) : idx;
}

/** Turns raw draws into valid, non-overlapping mappings for the kind (drops the ones that clash). */
function normalise(raws: RawMap[], info: KindInfo): Mapping[] {
  const out: Mapping[] = [];
  const space = 1n << BigInt(info.width);
  for (const m of raws) {
    const lg2 = PAGE_LG2[m.sizeSel]!;
    const page = 1n << BigInt(lg2);
    const size = page * BigInt(m.pages);
    let idx = (m.iova % space) & ~(page - 1n);
    // stay inside one canonical half (FS) or inside the width (SS)
    const half = info.fs ? space >> 1n : space;
    const limit = idx < half ? half : space;
    if (idx + size > limit) idx = limit - size;
    const iova = info.fs ? canonical(idx, info.width) : idx;
    // a second-stage leaf needs R or W (R=W=0 is "not present"); the raw draw is not modified
    let { r, w, ssR } = m;
    const ssW = m.ssW;
    if (!info.fs && !(r || w)) {
      if (info.legacy) w = true;
      else r = true;
    }
    // output ranges stay below 2^46, aligned to the page size that maps them
    const place = (raw: bigint, align: bigint) => (raw % ((1n << PA_BITS) - size + 1n)) & ~(align - 1n);
    let pa = place(m.pa, page);
    let gpa = 0n, ssLg2: number = lg2;
    if (info.nested) {
      // the FS output is a GPA; the parent second stage maps it onto `pa` with pages <= the FS page
      gpa = place(m.gpa, page);
      // at most 512 SS pages per FS page (a 1 GiB FS page over 4 KiB SS pages is 2^18 writes)
      ssLg2 = Math.max(lg2 - 9, Math.min(lg2, PAGE_LG2[m.ssSizeSel]!));
      pa = place(m.pa, 1n << BigInt(ssLg2));
      if (!(ssR || ssW)) ssR = true;
    }
    if (hitsInterruptRange(iova, size) || hitsInterruptRange(pa, size)) continue;
    if (out.some((o) => overlaps(o.idx, o.size, idx, size))) continue;
    if (info.nested && out.some((o) => overlaps(o.gpa, o.size, gpa, size))) continue;
    out.push({ idx, iova, size, lg2, pa, r, w, user: m.user, global: m.global, gpa, ssLg2, ssR, ssW });
  }
  return out;
}

const SID_RID = 0x2a10; // bus 0x2a devfn 0x10
const PASID = 0x1d3;

function buildPlatform(kind: Kind, maps: Mapping[], fsLevels: number, ssLevels: number, build: CoreBuild): VtdPlatform {
  const info = kindInfo(kind, fsLevels);
  const p = new VtdPlatform({ caches: "off", build, mode: info.legacy ? "legacy" : "scalable", tableBase: TABLE_BASE });
  const b = p.builder;
  let dom;
  if (info.nested) {
    const parent = b.createDomain({ id: 1, type: "ss", levels: ssLevels });
    dom = b.createDomain({ id: 2, type: "nested", parent: 1, levels: fsLevels });
    for (const m of maps) {
      b.map(dom, m.iova, m.gpa, m.size, { pageSize: 1n << BigInt(m.lg2), write: m.w, user: m.user, global: m.global });
      b.map(parent, m.gpa, m.pa, m.size, { pageSize: 1n << BigInt(m.ssLg2), read: m.ssR, write: m.ssW });
    }
  } else {
    const levels = kind.endsWith("5") ? 5 : 4;
    dom = b.createDomain({ id: 2, type: info.fs ? "fs" : "ss", levels });
    for (const m of maps) {
      const pageSize = 1n << BigInt(m.lg2);
      if (info.fs) b.map(dom, m.iova, m.pa, m.size, { pageSize, write: m.w, user: m.user, global: m.global });
      else b.map(dom, m.iova, m.pa, m.size, { pageSize, read: m.r, write: m.w });
    }
  }
  if (info.legacy) b.attach({ sid: SID_RID, domain: dom.id, ats: true });
  else {
    b.attach({ sid: SID_RID, domain: dom.id, ats: true, sre: true });
    b.attach({ sid: SID_RID, pasid: PASID, domain: dom.id, ats: true, sre: true });
  }
  p.enable();
  return p;
}

interface Expected {
  status: Result["status"];
  code?: number;
  pa?: bigint;
  pageLg2?: number;
  perms?: Partial<Result["perms"]>;
  global?: boolean;
}

/** What the spec says request `q` (address `addr`) must give. */
function expected(info: KindInfo, maps: Mapping[], q: Probe, addr: bigint): Expected {
  const hasPasid = q.withPasid && !info.legacy;
  if (!hasPasid && q.op !== "ATS" && addr >= INT_LO && addr <= INT_HI)
    return { status: q.op === "MWr" ? "interrupt" : "blocked" }; // spec 3.14: not DMA-remapped
  const idx = info.fs ? addr & ((1n << BigInt(info.width)) - 1n) : addr;
  const m = maps.find((o) => idx >= o.idx && idx < o.idx + o.size);
  const write = q.op === "MWr";
  if (!m) {
    if (q.op === "ATS") return { status: "ok", pa: 0n, perms: { r: false, w: false } };
    if (info.legacy) return { status: "fault", code: write ? 0x5 : 0x6 }; // LGN.2 / LGN.3
    return { status: "fault", code: info.fs ? 0x71 : 0x79 }; // SFS.2 / SSS.2
  }
  const pa = m.pa + (idx - m.idx);
  if (!info.fs) {
    const pageLg2 = m.lg2;
    if (q.op === "ATS") return { status: "ok", pa, pageLg2, perms: { r: m.r, w: m.w && !q.nw } };
    if (write && !m.w) return { status: "fault", code: info.legacy ? 0x5 : 0x85 };
    if (!write && !m.r) return { status: "fault", code: info.legacy ? 0x6 : 0x86 };
    return { status: "ok", pa, pageLg2, perms: { r: m.r, w: m.w } };
  }
  // first stage (x86 rights): supervisor requests only with a PASID (and SRE, set by the attach)
  const user = !(hasPasid && q.priv);
  const canWrite = m.w || !user; // WPE=0: supervisor writes ignore R/W
  const ssR = info.nested ? m.ssR : true, ssW = info.nested ? m.ssW : true;
  const pageLg2 = info.nested ? Math.min(m.lg2, m.ssLg2) : m.lg2;
  if (q.op === "ATS") {
    // A user-mode translation request for a supervisor-only page: the R/W the completion should
    // carry is not asserted here (the model grants R and W with U=0; an x86-style reading of the
    // spec gives R=W=0 for PR=0 requests to U/S=0 pages). Everything else is.
    if (user && !m.user) return { status: "ok", pa, pageLg2, perms: { u: false }, global: m.global };
    return { status: "ok", pa, pageLg2, perms: { r: ssR, w: canWrite && ssW && !q.nw, u: m.user }, global: m.global };
  }
  if (user && !m.user) return { status: "fault", code: 0x81 };
  if (write && !canWrite) return { status: "fault", code: 0x85 };
  if (write && !ssW) return { status: "fault", code: 0x85 };
  if (!write && !ssR) return { status: "fault", code: 0x86 };
  return { status: "ok", pa, pageLg2, perms: { r: ssR, w: canWrite && ssW, u: m.user }, global: m.global };
}

function describe(q: Request, r: Result): string {
  return `${q.op} sid=${q.sid.toString(16)} pasid=${q.pasid} priv=${!!q.priv} nw=${!!q.nw} addr=${hex(q.addr)} -> ${r.status} ${r.fault?.name ?? ""} pa=${hex(r.pa)} lg2=${r.pageLg2}`;
}

function checkRoundTrip(kind: Kind, raws: RawMap[], probes: Probe[], fsLevels: number, ssLevels: number): void {
  const info = kindInfo(kind, fsLevels);
  const maps = normalise(raws, info);
  if (maps.length === 0) return;
  const p = buildPlatform(kind, maps, fsLevels, ssLevels, "debug");
  const space = 1n << BigInt(info.width);
  const reqs: Request[] = [];
  const exps: Expected[] = [];
  for (const q of probes) {
    let addr: bigint;
    if (q.inside) {
      const m = maps[q.which % maps.length]!;
      const idx = m.idx + (q.off % m.size);
      addr = info.fs ? canonical(idx, info.width) : idx;
    } else {
      const idx = q.addr % space;
      addr = info.fs ? canonical(idx, info.width) : idx;
    }
    const hasPasid = q.withPasid && !info.legacy;
    const req: Request = { op: q.op, sid: SID_RID, addr, ns: q.ns };
    if (hasPasid) req.pasid = PASID;
    if (q.priv && hasPasid) req.priv = true;
    if (q.nw && q.op === "ATS") req.nw = true;
    reqs.push(req);
    exps.push(expected(info, maps, { ...q, nw: q.nw && q.op === "ATS" }, addr));
  }
  const results = p.translate(reqs);
  results.forEach((r, i) => {
    const e = exps[i]!;
    const what = `${kind}: ${describe(reqs[i]!, r)}`;
    assert.is(r.status, e.status, `${what}: status`);
    if (e.code !== undefined) assert.is(r.fault?.code, e.code, `${what}: fault code`);
    if (e.pa !== undefined) assert.is(r.pa, e.pa, `${what}: output address`);
    if (e.pageLg2 !== undefined) assert.is(r.pageLg2, e.pageLg2, `${what}: page size`);
    if (e.global !== undefined) assert.is(r.global, e.global, `${what}: global`);
    if (e.perms) for (const [k, v] of Object.entries(e.perms)) assert.is(r.perms[k as keyof Result["perms"]], v, `${what}: perms.${k}`);
  });
}

const RUNS = 100;
const mapsArb = fc.array(rawMap, { minLength: 1, maxLength: 8 });
const probesArb = fc.array(probe, { minLength: 1, maxLength: 40 });

for (const kind of ["ss4", "ss5", "fs4", "fs5", "legacy4", "legacy5"] as const) {
  test(`round trip: random ${kind} mappings translate back exactly; other addresses are not present`, () => {
    fc.assert(
      fc.property(mapsArb, probesArb, (raws, probes) => checkRoundTrip(kind, raws, probes, 4, 4)),
      { numRuns: RUNS, ...seedOpts },
    );
  });
}

test("round trip: random nested mappings (FS 4/5-level over SS 4/5-level) translate back exactly", () => {
  fc.assert(
    fc.property(mapsArb, probesArb, fc.constantFrom(4, 5), fc.constantFrom(4, 5), (raws, probes, fsLevels, ssLevels) =>
      checkRoundTrip("nested", raws, probes, fsLevels, ssLevels),
    ),
    { numRuns: RUNS, ...seedOpts },
  );
});

// ---- 2. robustness on random memory -------------------------------------------------------------

/** Draws over one deterministic stream (src/util/prng.ts); the bulk memory contents come from one drawn seed. */
function prng(seed: number) {
  const r = new Prng(seed);
  const u32 = r.u32;
  const f = () => r.float();
  const u64 = () => r.u64();
  const int = (n: number) => r.int(n);
  const pick = <T>(xs: readonly T[]): T => r.pick(xs);
  /** 12 low bits, sparse (each bit set with probability 1/4). */
  const sparse12 = () => BigInt(u32() & u32() & 0xfff);
  return { u32, f, u64, int, pick, sparse12 };
}

interface FuzzParams {
  seed: number;
  noise: number; // probability of each injected error (reserved bits, P clear, wild pointers...)
  tables: number; // table pages besides root, context, PASID directory and PASID table
  capMode: number; // 0 default profile, 1 default with a few bits flipped, 2 fully random
  ecapMode: number;
  rtMode: number; // 0 the root table, 1 an unwritten page, 2 random
  ttm: number;
  tes: boolean;
  physAddrBits: number;
  options: number;
  pgsnpNoSc: number;
  requests: number;
}

const fuzzArb: fc.Arbitrary<FuzzParams> = fc.record({
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
  noise: fc.constantFrom(0.001, 0.003, 0.01, 0.01, 0.03, 0.1, 0.3),
  tables: fc.integer({ min: 1, max: 6 }),
  capMode: fc.constantFrom(0, 0, 0, 1, 1, 2),
  ecapMode: fc.constantFrom(0, 0, 0, 1, 1, 2),
  rtMode: fc.constantFrom(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2),
  ttm: fc.constantFrom(1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 3),
  tes: fc.constantFrom(true, true, true, true, true, true, true, true, true, false),
  physAddrBits: fc.oneof({ arbitrary: fc.constant(52), weight: 3 }, { arbitrary: fc.integer({ min: 32, max: 52 }), weight: 1 }),
  options: fc.integer({ min: 0, max: 7 }),
  pgsnpNoSc: fc.integer({ min: 0, max: 2 }),
  requests: fc.integer({ min: 1, max: 64 }),
});

type Role = "root" | "context" | "pasidDir" | "pasidTable" | "table";

// CAP/ECAP bits the translation path reads (SAGAW, MGAW, SSLPS, FS1GP, FS5LP; C, DT, PT, SC, NEST,
// PRS, ERS, SRS, EAFS, PASID, SSADS, SSTS, FSTS, SMPWCS, RPS, ADMS, RPRIVS).
const CAP_BITS = [8, 9, 10, 11, 12, 16, 17, 18, 19, 20, 21, 34, 35, 36, 37, 56, 60];
const ECAP_BITS = [0, 2, 6, 7, 26, 29, 30, 31, 33, 34, 40, 43, 45, 46, 47, 48, 49, 52, 53];

/**
 * Random guest memory and registers, then random requests. Structures are "plausible": each
 * field is drawn from the values that matter, and errors are injected with probability `noise`,
 * so that walks reach every stage while every check still fails now and then.
 */
function fuzzRun(build: CoreBuild, fp: FuzzParams): { reqs: Request[]; results: Result[]; core: Core } {
  const g = prng(fp.seed);
  const core = new Core(build);
  const chance = (p: number) => (g.f() < p ? 1n : 0n);
  // Pages at random frames: low memory, below the HAW, and (rarely) up to 2^52, beyond small HAWs.
  const frame = () => {
    const x = g.f();
    const bits = x < 0.45 ? 32 : x < 0.95 ? Math.min(46, fp.physAddrBits) : 52;
    return (g.u64() & ((1n << BigInt(bits)) - 1n)) & ~0xfffn;
  };
  const pages: { pa: bigint; role: Role }[] = [
    { pa: frame(), role: "root" },
    { pa: frame(), role: "context" },
    { pa: frame(), role: "pasidDir" },
    { pa: frame(), role: "pasidTable" },
  ];
  for (let i = 0; i < fp.tables; i++) pages.push({ pa: frame(), role: "table" });
  const byRole = (r: Role) => pages.filter((x) => x.role === r).map((x) => x.pa);
  /** A pointer to a page of role `want` (mostly), any page, or (probably) unwritten memory. */
  const target = (want: Role): bigint => {
    const x = g.f();
    return x < 0.96 ? g.pick(byRole(want)) : x < 0.98 ? g.pick(pages).pa : frame();
  };
  /** With probability `noise`, one error: a flipped low or any bit, a high bit, a wild pointer, junk. */
  const corrupt = (v: bigint): bigint => {
    if (g.f() >= fp.noise) return v;
    switch (g.int(5)) {
      case 0:
        return v ^ bit(g.int(12));
      case 1:
        return v ^ bit(g.int(64));
      case 2:
        return v | bit(52 + g.int(12));
      case 3:
        return (v & 0xfffn) | frame();
      default:
        return g.u64();
    }
  };
  const legacy = fp.ttm === 0;
  const clean = (role: Role, i: number): bigint => {
    switch (role) {
      case "root":
        if (legacy && i % 2 === 1) return 0n; // legacy: the upper qword is reserved
        return target("context") | 1n;
      case "context": {
        if (legacy) {
          if (i % 2 === 0) {
            const tt = BigInt(g.pick([0, 0, 1, 1, 2, 3]));
            return target("table") | 1n | (chance(0.1) << 1n) | (tt << 2n);
          }
          const aw = BigInt(g.pick([2, 2, 2, 3, 3, 3, 1, 0, 4, 7]));
          return aw | (BigInt(g.u32() & 0x78) * chance(0.2)) | (BigInt(g.u32() & 0xffff) << 8n);
        }
        const q = i % 4;
        if (q >= 2) return 0n;
        if (q === 0) {
          const pdts = BigInt(g.int(8));
          const flags = (chance(0.1) << 1n) | (chance(0.6) << 2n) | (chance(0.8) << 3n) | (chance(0.2) << 4n);
          return target("pasidDir") | 1n | flags | (pdts << 9n);
        }
        const ridPasid = g.f() < 0.6 ? 0n : BigInt(g.int(g.f() < 0.5 ? 64 : 1 << 20));
        return ridPasid | (chance(0.05) << 20n);
      }
      case "pasidDir":
        return target("pasidTable") | 1n | (chance(0.1) << 1n);
      case "pasidTable": {
        const q = i % 8;
        if (q >= 3) return 0n;
        if (q === 0) {
          const aw = BigInt(g.pick([2, 2, 2, 3, 3, 3, 1, 0, 4, 7]));
          const pgtt = BigInt(g.pick([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 0, 5, 7]));
          const flags = (chance(0.1) << 1n) | (chance(0.05) << 5n) | (chance(0.3) << 9n);
          return target("table") | 1n | flags | (aw << 2n) | (pgtt << 6n);
        }
        if (q === 1) {
          const flags = (chance(0.8) << 23n) | (chance(0.3) << 24n) | (g.f() < 0.2 ? BigInt(g.u32()) << 25n : 0n);
          return BigInt(g.u32() & 0xffff) | flags;
        }
        const fspm = BigInt(g.pick([0, 0, 0, 0, 0, 1, 1, 2]));
        return target("table") | (BigInt(g.u32() & 0xf3) & BigInt(g.u32() | 0x31)) | (fspm << 2n);
      }
      case "table": {
        if (g.f() < 0.1) return 0n;
        // FS: P RW US PWT PCD A D PS G EA, XD 63. SS: R W X EMT.. PS A D SNP, TM 62.
        const ps = g.f() < 0.2;
        const low = (g.f() < 0.92 ? 1n : 0n) | (chance(0.7) << 1n) | (chance(0.85) << 2n) | (chance(0.5) << 5n) | (chance(0.3) << 6n) |
          (ps ? bit(7) : 0n) | (chance(0.3) << 8n) | (chance(0.3) << 9n) | (chance(0.2) << 10n) | (chance(0.05) << 11n) | (chance(0.2) << 63n);
        // a large leaf points at a 1 GiB-aligned frame (valid for 2 MiB and 1 GiB pages)
        return (ps && g.f() < 0.7 ? frame() & ~((1n << 30n) - 1n) : target("table")) | low;
      }
    }
  };
  const qword = (role: Role, i: number) => corrupt(clean(role, i));
  for (const { pa, role } of pages) {
    const words = new Array<bigint>(512);
    for (let i = 0; i < 512; i++) words[i] = qword(role, i);
    core.writeQwords(pa, words);
  }
  const flip = (v: bigint, interesting: number[]) => {
    let x = v;
    for (let i = 1 + g.int(4); i > 0; i--) x ^= bit(g.f() < 0.8 ? g.pick(interesting) : g.int(64));
    return x;
  };
  const reg = (mode: number, dflt: bigint, interesting: number[]) => (mode === 0 ? dflt : mode === 1 ? flip(dflt, interesting) : g.u64());
  let cap = reg(fp.capMode, DEFAULT_CAP, CAP_BITS);
  if (fp.capMode === 1 && g.f() < 0.3) cap = (cap & ~(0x1fn << 8n)) | (BigInt(g.int(32)) << 8n); // any SAGAW
  core.setRegister("CAP", cap);
  core.setRegister("ECAP", reg(fp.ecapMode, DEFAULT_ECAP, ECAP_BITS));
  const rt = fp.rtMode === 0 ? byRole("root")[0]! : fp.rtMode === 1 ? frame() : g.u64() & ~0xc00n;
  core.setRegister("RTADDR", rt | (BigInt(fp.ttm) << 10n) | (g.f() < 0.05 ? BigInt(g.u32() & 0x3ff) : 0n));
  core.setGsts(fp.tes ? 1 << 31 : 0);
  core.setOptions({ physAddrBits: fp.physAddrBits, options: fp.options, pgsnpNoSc: fp.pgsnpNoSc });

  // Requests: buses 0-3 mostly (so the root entries above are used), addresses of every shape.
  const reqs: Request[] = [];
  for (let i = 0; i < fp.requests; i++) {
    const sid = g.f() < 0.9 ? (g.int(4) << 8) | g.int(256) : g.u32() & 0xffff;
    const x = g.f();
    const addr =
      x < 0.15 ? g.u64() :
      x < 0.5 ? g.u64() & ((1n << 48n) - 1n) :
      x < 0.6 ? 0xfee0_0000n + BigInt(g.int(0x10_0000)) :
      x < 0.75 ? BigInt(g.u32()) :
      x < 0.85 ? canonical(g.u64() & ((1n << 48n) - 1n), 48) :
      g.u64() & ((1n << 57n) - 1n);
    const req: Request = { op: g.pick(["MRd", "MRd", "MWr", "MWr", "ATS"] as const), sid, addr, len: 1 + g.int(4096) };
    if (g.f() < (legacy ? 0.05 : 0.5)) req.pasid = g.f() < 0.9 ? g.int(1 << 15) : g.u32() & 0xfffff;
    if (g.f() < 0.3) req.priv = true;
    if (g.f() < 0.2) req.exe = true;
    if (g.f() < 0.3) req.ns = true;
    if (g.f() < 0.05) req.translated = true;
    if (g.f() < 0.3) req.nw = true;
    if (g.f() < 0.2) req.ro = true;
    if (g.f() < 0.2) req.ido = true;
    reqs.push(req);
  }
  const results = core.translate(reqs);
  return { reqs, results, core };
}

function checkFuzz(build: CoreBuild, fp: FuzzParams): void {
  const { reqs, results, core } = fuzzRun(build, fp);
  results.forEach((r, i) => {
    const what = `${build} seed ${fp.seed}: ${describe(reqs[i]!, r)}`;
    assert.ok(STATUSES.has(r.status), `${what}: status`);
    if (r.status === "fault") assert.ok(FAULT_CODES.has(r.fault!.code), `${what}: fault code 0x${r.fault!.code.toString(16)} is not in vtdFaults`);
    else assert.is(r.fault, undefined);
  });
  const c = core.counters();
  const n = BigInt(reqs.length);
  assert.is(c.requests, n, "requests counter");
  assert.is(c.atsRequests, BigInt(reqs.filter((q) => q.op === "ATS").length), "atsRequests counter");
  assert.is(c.translated + c.faulted + c.interrupts + c.blocked, n, "every request ends exactly once");
  const count = (s: Result["status"]) => BigInt(results.filter((r) => r.status === s).length);
  assert.equal([c.translated, c.faulted, c.interrupts, c.blocked], [count("ok"), count("fault"), count("interrupt"), count("blocked")]);
  let byCode = 0n;
  for (const [code, v] of core.faultCounts()) {
    assert.ok(FAULT_CODES.has(code), `fault count for undocumented code 0x${code.toString(16)}`);
    byCode += v;
  }
  assert.is(byCode, c.faulted, "fault counts by code add up to faulted");
  assert.ok(c.faultsRecorded <= c.faulted);
}

test("random memory, registers and requests: the debug build never traps and only reports documented fault codes", () => {
  fc.assert(fc.property(fuzzArb, (fp) => checkFuzz("debug", fp)), { numRuns: 400, ...seedOpts });
});

test("random memory, registers and requests: the release build only reports documented fault codes", () => {
  fc.assert(fc.property(fuzzArb, (fp) => checkFuzz("release", fp)), { numRuns: 400, ...seedOpts });
});

// ---- 3. fixed cases the random search should also find ---------------------------------------------

for (const mode of ["legacy", "scalable"] as const) {
  for (const build of ["debug", "release"] as const) {
    test(`${mode} ${build}: an address width field the unit does not support (AW=4 with CAP.SAGAW bit 12 set, a reserved bit) is invalid programming, not a 6-level walk`, () => {
      // CAP.SAGAW bit 4 (CAP bit 12) is reserved: there is no 6-level table. AW values above 3 in a
      // context entry (legacy) or PASID entry (scalable) are invalid programming: LCT.4 / SPT.4.
      const p = new VtdPlatform({ caches: "off", build, mode, cap: DEFAULT_CAP | bit(12) });
      const d = p.builder.createDomain({ id: 1, type: "ss", levels: 4 });
      p.builder.map(d, 0x1000n, 0x2000_0000n, 0x1000n);
      p.builder.attach({ sid: 0x100, domain: 1 });
      p.enable();
      const root = p.builder.root();
      if (mode === "legacy") {
        const ctx = (p.core.read64(root + 16n)! & ~0xfffn) + 0n; // bus 1, devfn 0
        p.core.write64(ctx + 8n, (p.core.read64(ctx + 8n)! & ~7n) | 4n);
      } else {
        const ctx = p.core.read64(root + 16n)! & ~0xfffn;
        const dir = p.core.read64(ctx)! & ~0xfffn;
        const pe = p.core.read64(dir)! & ~0xfffn; // PASID 0
        p.core.write64(pe, (p.core.read64(pe)! & ~(7n << 2n)) | (4n << 2n));
      }
      let r: Result | undefined;
      assert.not.throws(() => {
        r = p.translateOne({ op: "MRd", sid: 0x100, addr: 0x1000n });
      }, "the core trapped");
      assert.is(r!.status, "fault");
      assert.is(r!.fault!.code, mode === "legacy" ? 0x3 : 0x5b, `fault ${r!.fault!.name} at level ${r!.fault!.level}`);
    });
  }
}

test.run();
