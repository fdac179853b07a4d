/**
 * The debug build (assertions and bounds checks on, no optimisation) and the release build
 * (-O3, no assertions) must be the same model: the same platform, driven by the same few thousand
 * pseudo-random requests, gives deep-equal results, counters, per-level read counts, fault counts
 * and guest memory (A/D write-back) on both.
 *
 * Scalable mode: SS 4/5-level, FS 4/5-level, nested (with and without SSADE), pass-through,
 * PGSNP / SNP / PWSNP=0 variants, supervisor and execute requests, FPD, a small PASID directory,
 * devices without ATS, unattached devices, interrupt-range requests, NS TLPs, ATS with and without
 * NW, translated requests. Legacy mode: SS 4/5-level with and without ATS (TT=00/01), PT (TT=10).
 * Then both copies of guest memory get the same random bit flips in their tables and the requests
 * run again, so the fault paths of corrupted structures are compared too.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../src/platform.ts";
import type { CoreBuild, Request, Result } from "../../src/core/core.ts";
import type { Domain, MapOptions } from "../../src/arch/vtd/builder.ts";
import { DEFAULT_CAP, DEFAULT_ECAP } from "../../src/arch/vtd/registers.ts";
import { Prng } from "../../src/util/prng.ts";

/** Deterministic draws (src/util/prng.ts): the same sequence for both builds. */
function prng(seed: number) {
  const r = new Prng(seed);
  const u32 = r.u32;
  const f = () => r.float();
  const int = (n: number) => r.int(n);
  const big = (bits: number) => r.bits(bits);
  const pick = <T>(xs: readonly T[]): T => r.pick(xs);
  return { u32, f, int, big, pick };
}
type Rng = ReturnType<typeof prng>;

const K4 = 1n << 12n, M2 = 1n << 21n, G1 = 1n << 30n;

interface Mapped {
  iova: bigint;
  size: bigint;
}

/** A request target: a device (and PASID) and the mappings of the domain it reaches. */
interface Target {
  sid: number;
  pasid?: number;
  maps: Mapped[];
  width: number; // input width of the domain (canonical for FS)
  fs: boolean;
}

interface Setup {
  p: VtdPlatform;
  targets: Target[];
}

/** Random non-overlapping mappings in `d` (every call with the same rng state makes the same ones). */
function mapRandom(p: VtdPlatform, d: Domain, g: Rng, n: number, width: number, fs: boolean, extra: (g: Rng) => MapOptions): Mapped[] {
  const out: Mapped[] = [];
  for (let i = 0; i < n; i++) {
    const pageSize = g.pick([K4, K4, K4, M2, M2, G1]);
    const pages = BigInt(1 + g.int(pageSize === G1 ? 1 : 3));
    const size = pageSize * pages;
    // cluster most IOVAs in a few regions so that walks share tables; some anywhere in the width
    const region = g.f() < 0.7 ? BigInt(g.int(4)) << 39n : g.big(width - 1);
    const idx = (region + g.big(32)) & ~(pageSize - 1n) & ((1n << BigInt(fs ? width - 1 : width)) - 1n);
    const iova = fs && g.f() < 0.3 ? idx | ~((1n << BigInt(width - 1)) - 1n) & ((1n << 64n) - 1n) : idx;
    if (out.some((m) => iova < m.iova + m.size && m.iova < iova + size)) continue;
    if (iova < 0xff00_0000n && iova + size > 0xfee0_0000n) continue; // keep clear of the interrupt range
    const opts = { pageSize, ...extra(g) };
    const pa = g.f() < 0.03 ? 0xfee0_0000n & ~(pageSize - 1n) : (g.big(44) & ~(pageSize - 1n)) + (1n << 44n);
    try {
      if (d.type === "nested") {
        // the guest-physical range, mapped in the parent with pages no smaller than 1/512 of the FS page
        const gpa = (g.big(43) & ~(pageSize - 1n)) + (1n << 43n);
        p.builder.map(d, iova, gpa, size, opts);
        const ssPage = pageSize === G1 ? g.pick([M2, G1]) : pageSize === M2 ? g.pick([K4, M2]) : K4;
        const read = g.f() < 0.9;
        p.builder.map(d.parent!, gpa, pa & ~(ssPage - 1n), size, { pageSize: ssPage, read, write: !read || g.f() < 0.8 });
      } else p.builder.map(d, iova, pa, size, opts);
    } catch (e) {
      if (e instanceof RangeError && /already mapped/.test(e.message)) continue; // a rare GPA clash
      throw e;
    }
    out.push({ iova, size });
  }
  return out;
}

const ssPerms = (g: Rng): MapOptions => {
  const read = g.f() < 0.85;
  return { read, write: !read || g.f() < 0.7, snp: g.f() < 0.2 };
};
const fsPerms = (g: Rng): MapOptions => ({ write: g.f() < 0.7, user: g.f() < 0.85, global: g.f() < 0.2, exec: g.f() < 0.3 });

function scalableSetup(build: CoreBuild): Setup {
  const g = prng(0x5ca1ab1e);
  const p = new VtdPlatform({ build, tableBase: 0x1000_0000n });
  const b = p.builder;
  const ss4 = b.createDomain({ id: 1, type: "ss", levels: 4 });
  const ss5 = b.createDomain({ id: 2, type: "ss", levels: 5, forceSnoop: true });
  const fs4 = b.createDomain({ id: 3, type: "fs", levels: 4, presetAccessed: false });
  const fs5 = b.createDomain({ id: 4, type: "fs", levels: 5 });
  const parent = b.createDomain({ id: 5, type: "ss", levels: 4 });
  const nested = b.createDomain({ id: 6, type: "nested", parent: 5, levels: 4, presetAccessed: false });
  const parent5 = b.createDomain({ id: 7, type: "ss", levels: 5 });
  const nested5 = b.createDomain({ id: 8, type: "nested", parent: 7, levels: 5 });
  b.createDomain({ id: 9, type: "pt" });
  const m = {
    ss4: mapRandom(p, ss4, g, 40, 48, false, ssPerms),
    ss5: mapRandom(p, ss5, g, 30, 57, false, ssPerms),
    fs4: mapRandom(p, fs4, g, 40, 48, true, fsPerms),
    fs5: mapRandom(p, fs5, g, 30, 57, true, fsPerms),
    nested: mapRandom(p, nested, g, 30, 48, true, fsPerms),
    nested5: mapRandom(p, nested5, g, 20, 57, true, fsPerms),
  };
  const targets: Target[] = [];
  const at = (sid: number, pasid: number | undefined, maps: Mapped[], width: number, fs: boolean) =>
    targets.push(pasid === undefined ? { sid, maps, width, fs } : { sid, pasid, maps, width, fs });
  // device 00:02.0: SS without PASID, FS, nested (SSADE), PT and SS-with-SSADE PASIDs
  b.attach({ sid: 0x0010, domain: 1, ats: true, sre: true });
  at(0x0010, undefined, m.ss4, 48, false);
  b.attach({ sid: 0x0010, pasid: 1, domain: 3, sre: true, eafe: true });
  at(0x0010, 1, m.fs4, 48, true);
  b.attach({ sid: 0x0010, pasid: 2, domain: 6, ssade: true, sre: true });
  at(0x0010, 2, m.nested, 48, true);
  b.attach({ sid: 0x0010, pasid: 3, domain: 9, pgsnp: true });
  at(0x0010, 3, [], 64, false);
  b.attach({ sid: 0x0010, pasid: 4, domain: 2, ssade: true });
  at(0x0010, 4, m.ss5, 57, false);
  at(0x0010, 0x77, [], 48, false); // PASID entry not present
  // device 01:00.1: FS 5-level without PASID (RID_PASID), nested 5-level, SS without SSADE
  b.attach({ sid: 0x0101, domain: 4, ats: true, pgsnp: true, wpe: true, smep: true });
  at(0x0101, undefined, m.fs5, 57, true);
  b.attach({ sid: 0x0101, pasid: 9, domain: 8, ere: true, sre: true });
  at(0x0101, 9, m.nested5, 57, true);
  b.attach({ sid: 0x0101, pasid: 10, domain: 1 });
  at(0x0101, 10, m.ss4, 48, false);
  // device 02:10.0 (devfn >= 0x80, upper context table): FPD, no ATS, small PASID directory
  b.attach({ sid: 0x0280, domain: 1, fpd: true, pasidBits: 6 });
  at(0x0280, undefined, m.ss4, 48, false);
  b.attach({ sid: 0x0280, pasid: 33, domain: 3, fpd: true });
  at(0x0280, 33, m.fs4, 48, true);
  at(0x0280, 0x4_0000, m.fs4, 48, true); // beyond the 128-entry PASID directory: SCT.7
  // device 03:00.0: nested without SSADE and a non-snooped walk (A/D updates fault)
  b.attach({ sid: 0x0300, domain: 6, ats: true, pwsnp: false });
  at(0x0300, undefined, m.nested, 48, true);
  b.attach({ sid: 0x0300, pasid: 5, domain: 3, pwsnp: false });
  at(0x0300, 5, m.fs4, 48, true);
  // unattached devices: root entry not present, context entry not present
  at(0x0700, undefined, m.ss4, 48, false);
  at(0x0011, undefined, m.ss4, 48, false);
  p.enable();
  return { p, targets };
}

function legacySetup(build: CoreBuild): Setup {
  const g = prng(0x1e9ac7);
  const p = new VtdPlatform({ build, mode: "legacy", cap: DEFAULT_CAP, ecap: DEFAULT_ECAP, tableBase: 0x2000_0000n });
  const b = p.builder;
  const ss4 = b.createDomain({ id: 1, type: "ss", levels: 4, forceSnoop: true });
  const ss5 = b.createDomain({ id: 2, type: "ss", levels: 5 });
  b.createDomain({ id: 3, type: "pt" });
  const m4 = mapRandom(p, ss4, g, 40, 48, false, ssPerms);
  const m5 = mapRandom(p, ss5, g, 40, 57, false, ssPerms);
  const targets: Target[] = [];
  b.attach({ sid: 0x0008, domain: 1, ats: true });
  targets.push({ sid: 0x0008, maps: m4, width: 48, fs: false });
  b.attach({ sid: 0x0009, domain: 2 });
  targets.push({ sid: 0x0009, maps: m5, width: 57, fs: false });
  b.attach({ sid: 0x0110, domain: 3 });
  targets.push({ sid: 0x0110, maps: [], width: 64, fs: false });
  b.attach({ sid: 0x0111, domain: 1, fpd: true });
  targets.push({ sid: 0x0111, maps: m4, width: 48, fs: false });
  targets.push({ sid: 0x0500, maps: m4, width: 48, fs: false }); // root entry not present
  targets.push({ sid: 0x0112, maps: m4, width: 48, fs: false }); // context entry not present
  p.enable();
  return { p, targets };
}

/** `n` requests over the targets: mostly inside mappings, then near them, the interrupt range, anywhere. */
function requests(targets: Target[], seed: number, n: number): Request[] {
  const g = prng(seed);
  const out: Request[] = [];
  for (let i = 0; i < n; i++) {
    const t = g.pick(targets);
    const x = g.f();
    let addr: bigint;
    if (x < 0.6 && t.maps.length) {
      const m = g.pick(t.maps);
      addr = m.iova + (g.big(31) % m.size);
    } else if (x < 0.75 && t.maps.length) {
      addr = g.pick(t.maps).iova + BigInt(g.int(1 << 22)) - (1n << 21n);
    } else if (x < 0.85) addr = 0xfee0_0000n + BigInt(g.int(0x10_0000));
    else if (x < 0.95) addr = g.big(t.width);
    else addr = g.big(64);
    addr = BigInt.asUintN(64, addr);
    const op = g.pick(["MRd", "MRd", "MWr", "MWr", "ATS"] as const);
    const r: Request = { op, sid: t.sid, addr, len: 1 + g.int(256) };
    if (t.pasid !== undefined) r.pasid = t.pasid;
    if (g.f() < 0.25) r.ns = true;
    if (g.f() < 0.2) r.priv = true;
    if (g.f() < 0.1) r.exe = true;
    if (op === "ATS" && g.f() < 0.4) r.nw = true;
    if (g.f() < 0.03) r.translated = true;
    if (g.f() < 0.1) r.ro = true;
    out.push(r);
  }
  return out;
}

/** Every qword of the builder's table region (where A/D updates land). */
function tableMemory(p: VtdPlatform): bigint[] {
  const out: bigint[] = [];
  for (let pa = p.alloc.base; pa < p.alloc.base + p.alloc.used; pa += 8n) out.push(p.core.read64(pa) ?? -1n);
  return out;
}

/**
 * Flips `n` random bits in the same qwords of every platform: mostly in structure entries that
 * point into the table region (root, context, PASID and non-leaf entries) or in leaf entries that
 * `hot` requests used, so that the flips land where requests walk.
 */
function corrupt(ps: VtdPlatform[], seed: number, n: number, hot: Result[]): void {
  const g = prng(seed);
  const p0 = ps[0]!;
  const base = p0.alloc.base, end = p0.alloc.base + p0.alloc.used;
  const mem = tableMemory(p0);
  const pointers = mem.flatMap((v, i) => {
    const to = v & 0x000f_ffff_ffff_f000n;
    return v !== -1n && to >= base && to < end ? [base + BigInt(i) * 8n] : [];
  });
  const leaves = [...new Set(hot.flatMap((r) => [r.leafPa, r.s2LeafPa]).filter((pa) => pa >= base && pa < end))].sort();
  for (let i = 0; i < n; i++) {
    const x = g.f();
    const pa = x < 0.5 ? g.pick(pointers) : x < 0.9 && leaves.length ? g.pick(leaves) : base + BigInt(g.int(mem.length)) * 8n;
    const flip = 1n << BigInt(g.f() < 0.6 ? g.int(12) : g.int(64));
    for (const p of ps) p.core.write64(pa, p.core.read64(pa)! ^ flip);
  }
}

interface Snapshot {
  results: Result[];
  counters: Record<string, bigint>;
  walkReads: { fs: bigint[]; ss: bigint[] };
  faultCounts: [number, bigint][];
}

function snapshot(p: VtdPlatform, reqs: Request[]): Snapshot {
  const results = p.translate(reqs);
  return { results, counters: p.core.counters(), walkReads: p.core.walkReads(), faultCounts: [...p.core.faultCounts()] };
}

/** Compares two runs field by field, reporting the first differing request precisely. */
function same(a: Snapshot, b: Snapshot, reqs: Request[], what: string): void {
  assert.is(a.results.length, b.results.length);
  for (let i = 0; i < a.results.length; i++) {
    const ra = a.results[i]!, rb = b.results[i]!;
    assert.equal(rb, ra, `${what}: request ${i} ${JSON.stringify(reqs[i], (_, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v))}: release differs from debug`);
  }
  assert.equal(b.counters, a.counters, `${what}: counters`);
  assert.equal(b.walkReads, a.walkReads, `${what}: walk reads by level`);
  assert.equal(b.faultCounts, a.faultCounts, `${what}: fault counts`);
}

/** The suite must exercise what it claims to: successes, faults, interrupts, A/D writes, ATS, NS. */
function coverage(s: Snapshot, what: string, legacy: boolean): void {
  const status = (x: string) => s.results.filter((r) => r.status === x).length;
  assert.ok(status("ok") > 500, `${what}: successes ${status("ok")}`);
  assert.ok(status("fault") > 300, `${what}: faults ${status("fault")}`);
  assert.ok(status("interrupt") > 20 && status("blocked") > 20, `${what}: interrupt-range requests`);
  const codes = new Set(s.results.filter((r) => r.fault).map((r) => r.fault!.code));
  assert.ok(codes.size >= (legacy ? 6 : 15), `${what}: only ${codes.size} distinct fault codes: ${[...codes].map((c) => c.toString(16))}`);
  if (!legacy) {
    const pgtts = new Set(s.results.filter((r) => r.status === "ok").map((r) => r.kind));
    for (const pgtt of [1, 2, 3, 4]) assert.ok(pgtts.has(pgtt), `${what}: no successful translation with PGTT ${pgtt}`);
    assert.ok(s.counters.adWrites! > 50n, `${what}: A/D writes ${s.counters.adWrites}`);
  }
  assert.ok(s.counters.atsRequests! > 300n && s.counters.noSnoopTlps! > 100n && s.counters.noSnoopForced! > 10n, `${what}: ATS / NS coverage`);
  assert.ok(s.results.some((r) => r.fault && !r.fault.recorded), `${what}: FPD-suppressed faults`);
}

const N = 4000;

for (const [mode, setup] of [["scalable", scalableSetup], ["legacy", legacySetup]] as const) {
  test(`${mode} mode: debug and release give identical results, counters and guest memory`, () => {
    const dbg = setup("debug"), rel = setup("release");
    assert.equal(tableMemory(rel.p), tableMemory(dbg.p), "the builder wrote the same tables");
    const reqs = requests(dbg.targets, mode === "scalable" ? 0xc0ffee : 0xbadcab, N);
    const a = snapshot(dbg.p, reqs);
    const b = snapshot(rel.p, reqs);
    same(a, b, reqs, mode);
    coverage(a, mode, mode === "legacy");
    assert.equal(tableMemory(rel.p), tableMemory(dbg.p), `${mode}: A/D write-back`);

    // The same requests again (A/D now set, so different paths), then with corrupted tables.
    const again = requests(dbg.targets, 0x5eed, N / 2);
    let last = snapshot(dbg.p, again);
    same(last, snapshot(rel.p, again), again, `${mode} second pass`);
    for (let round = 0; round < 4; round++) {
      corrupt([dbg.p, rel.p], 0xf00d + round, 40, last.results);
      const reqsC = requests(dbg.targets, 0xabc + round, N / 4);
      last = snapshot(dbg.p, reqsC);
      same(last, snapshot(rel.p, reqsC), reqsC, `${mode} corrupted tables, round ${round}`);
      assert.equal(tableMemory(rel.p), tableMemory(dbg.p), `${mode} corrupted tables, round ${round}: guest memory`);
    }
  });
}

test("both builds agree with translation disabled, in abort-DMA mode and with a reserved TTM", () => {
  const reqs = requests(scalableSetup("debug").targets, 0x7777, 500);
  const runs = (["debug", "release"] as const).map((build) => {
    const { p } = scalableSetup(build);
    const out: Snapshot[] = [];
    p.core.setGsts(0);
    out.push(snapshot(p, reqs));
    p.core.setGsts(1 << 31);
    for (const ttm of [2n, 3n]) {
      p.core.setRegister("RTADDR", (p.builder.rtaddr() & ~0xc00n) | (ttm << 10n));
      out.push(snapshot(p, reqs));
    }
    p.core.setRegister("ECAP", DEFAULT_ECAP | (1n << 52n)); // ADMS: TTM=11 blocks everything
    out.push(snapshot(p, reqs));
    return out;
  });
  runs[0]!.forEach((s, i) => same(s, runs[1]![i]!, reqs, `variant ${i}`));
});

test.run();
