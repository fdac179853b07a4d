/**
 * Accessed/dirty flags written back to guest memory (VT-d spec 3.6.2 first-stage A/D/EA, 3.7.2
 * second-stage A/D with SSADE, 3.8 nested; shared/spec/vtd.md 2.8, 2.9).
 *
 * Every test snapshots all table pages the builder allocated, runs requests, and compares every
 * qword of those pages with a shadow copy to which the test applied exactly the flag updates the
 * spec requires, in walk order. Each update that changes an entry is one hardware write, so the
 * `adWrites` counter must equal the number of shadow updates that changed something.
 *
 * Model flow (assembly/arch/pagetable/walker.ts): accessed flags are set as entries are used
 * during the walk (before permissions are checked); the leaf's dirty flag is set only once a write
 * has been granted. First-stage A/D always; EA (bit 10) with EAFE; second-stage A (bit 8) / D
 * (bit 9) only with SSADE; under nesting, every write into a first-stage table page also dirties
 * the second-stage leaf that maps that page (SSADE).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../src/platform.ts";
import type { Core, Request, Result } from "../../src/core/core.ts";
import type { Domain } from "../../src/arch/vtd/builder.ts";
import { DEFAULT_CAP, DEFAULT_ECAP } from "../../src/arch/vtd/registers.ts";

const BUILD = "debug" as const;
const bit = (n: number) => 1n << BigInt(n);
const FS_A = bit(5), FS_D = bit(6), FS_EA = bit(10), FS_RW = bit(1);
const SS_A = bit(8), SS_D = bit(9), SS_W = bit(1);
const PS = bit(7);
const ADDR = ((1n << 52n) - 1n) & ~0xfffn;

const SID = 0x0310;
const PASID = 0x2a;
const K4 = 1n << 12n, M2 = 1n << 21n, G1 = 1n << 30n;
const hex = (v: bigint | undefined) => (v === undefined ? "unwritten" : `0x${v.toString(16)}`);

interface PathEntry {
  level: number; // spec level: 1 = 4 KiB table
  pa: bigint;
  value: bigint;
}

/** The entries a walk of `va` reads, top level first (table pointers are PAs: builder GPA == PA). */
function path(core: Core, root: bigint, levels: number, va: bigint, fs: boolean): PathEntry[] {
  const index = fs ? va & ((1n << BigInt(12 + 9 * levels)) - 1n) : va;
  const out: PathEntry[] = [];
  let table = root;
  for (let l = levels - 1; l >= 0; l--) {
    const pa = table + ((index >> BigInt(12 + 9 * l)) & 511n) * 8n;
    const value = core.read64(pa);
    if (value === undefined) throw new Error(`path: unwritten entry at ${hex(pa)}`);
    out.push({ level: l + 1, pa, value });
    const present = fs ? (value & 1n) !== 0n : (value & 3n) !== 0n;
    if (!present || l === 0 || value & PS) break;
    table = value & ADDR;
  }
  return out;
}

/** All qwords of the builder's table region, and the shadow model of the expected A/D updates. */
class Shadow {
  readonly mem = new Map<bigint, bigint>();
  writes = 0;
  private readonly adBefore: bigint;
  constructor(private readonly p: VtdPlatform) {
    for (let pa = p.alloc.base; pa < p.alloc.base + p.alloc.used; pa += 8n) this.mem.set(pa, p.core.read64(pa)!);
    this.adBefore = p.core.counters().adWrites;
  }
  get(pa: bigint): bigint {
    const v = this.mem.get(pa);
    if (v === undefined) throw new Error(`shadow: ${hex(pa)} is not a table qword`);
    return v;
  }
  /** The hardware sets `bits` in the entry at `pa` (one write if any of them was clear). */
  set(pa: bigint, bits: bigint): void {
    const v = this.get(pa);
    if ((v & bits) === bits) return;
    this.mem.set(pa, v | bits);
    this.writes++;
  }
  /** Asserts guest memory equals the shadow everywhere and adWrites moved by the shadow's count. */
  check(what: string): void {
    const bad: string[] = [];
    for (const [pa, v] of this.mem) {
      const got = this.p.core.read64(pa);
      if (got !== v) bad.push(`${hex(pa)}: expected ${hex(v)} got ${hex(got)}`);
    }
    assert.equal(bad, [], `${what}: table memory differs from the spec's A/D updates`);
    assert.is(this.p.core.counters().adWrites - this.adBefore, BigInt(this.writes), `${what}: adWrites`);
  }
}

function expectOk(r: Result, what: string): void {
  assert.is(r.status, "ok", `${what}: status (fault ${r.fault?.name})`);
}

function expectFault(r: Result, code: number, what: string): void {
  assert.is(r.status, "fault", `${what}: status`);
  assert.is(r.fault?.code, code, `${what}: fault code (got ${r.fault?.name})`);
}

function clear(core: Core, entries: PathEntry[], bits: bigint): void {
  for (const e of entries) core.write64(e.pa, e.value & ~bits);
}

// ---- first stage -----------------------------------------------------------------------------------

interface FsSetup {
  p: VtdPlatform;
  d: Domain;
  iova: bigint;
  pa: bigint;
  levels: number;
}

function fsPlatform(o: {
  levels?: number;
  pageSize?: bigint;
  write?: boolean;
  user?: boolean;
  pa?: bigint;
  eafe?: boolean;
  pwsnp?: boolean;
  presetAccessed?: boolean;
  clearUpperA?: boolean;
  sre?: boolean;
}): FsSetup {
  const p = new VtdPlatform({ caches: "off", build: BUILD });
  const b = p.builder;
  const levels = o.levels ?? 4;
  const pageSize = o.pageSize ?? K4;
  const d = b.createDomain({ id: 3, type: "fs", levels, presetAccessed: o.presetAccessed ?? false });
  const iova = levels === 5 ? 0x00ab_cdef_4000_0000n + 0x4000_0000n : 0x0000_7654_8000_0000n;
  const pa = o.pa ?? 0x0000_0012_4000_0000n;
  b.map(d, iova, pa, pageSize, { pageSize, write: o.write ?? true, user: o.user ?? true });
  b.attach({ sid: SID, pasid: PASID, domain: 3, ats: true, eafe: o.eafe ?? false, pwsnp: o.pwsnp, sre: o.sre ?? false });
  p.enable();
  // The builder installs non-leaf entries with A already set; clear it so the walk must set it.
  if (o.clearUpperA ?? true) clear(p.core, path(p.core, d.root, levels, iova, true).slice(0, -1), FS_A);
  return { p, d, iova, pa, levels };
}

for (const levels of [4, 5]) {
  for (const [pageSize, name] of [[K4, "4K"], [M2, "2M"], [G1, "1G"]] as const) {
    test(`FS ${levels}-level ${name}: a read sets A at every level walked and no D; a write then sets D at the leaf only`, () => {
      const { p, d, iova, pa } = fsPlatform({ levels, pageSize });
      const walked = path(p.core, d.root, levels, iova, true);
      assert.is(walked.length, levels - (pageSize === K4 ? 0 : pageSize === M2 ? 1 : 2));
      const leaf = walked.at(-1)!;
      const s = new Shadow(p);
      const off = pageSize - 0x18n;
      const r = p.translateOne({ op: "MRd", sid: SID, pasid: PASID, addr: iova + off });
      expectOk(r, "read");
      assert.is(r.pa, pa + off);
      for (const e of walked) s.set(e.pa, FS_A);
      s.check("after the read");
      assert.is(r.leafPa, leaf.pa);
      assert.is(r.leafPte, s.get(leaf.pa), "result leafPte is the leaf after A/D updates");
      assert.is(s.get(leaf.pa) & FS_D, 0n, "a read does not set D");

      const s2 = new Shadow(p);
      const r2 = p.translateOne({ op: "MRd", sid: SID, pasid: PASID, addr: iova });
      expectOk(r2, "second read");
      s2.check("a second read writes nothing");

      const s3 = new Shadow(p);
      const w = p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: iova + 8n });
      expectOk(w, "write");
      s3.set(leaf.pa, FS_D);
      s3.check("after the write");
      assert.is(w.leafPte, s3.get(leaf.pa));

      const s4 = new Shadow(p);
      expectOk(p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: iova }), "second write");
      s4.check("a second write writes nothing");
    });
  }

  test(`FS ${levels}-level: a first write sets A at every level and D at the leaf (levels + 1 writes)`, () => {
    const { p, d, iova } = fsPlatform({ levels });
    const walked = path(p.core, d.root, levels, iova, true);
    const s = new Shadow(p);
    expectOk(p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: iova }), "write");
    for (const e of walked) s.set(e.pa, FS_A);
    s.set(walked.at(-1)!.pa, FS_D);
    assert.is(s.writes, levels + 1);
    s.check("after the write");
  });

  test(`FS ${levels}-level EAFE: A and EA (bit 10) at every level walked, including entries that already had A`, () => {
    // presetAccessed: the builder's entries all have A (and D in the writable leaf), none has EA.
    const { p, d, iova } = fsPlatform({ levels, eafe: true, presetAccessed: true, clearUpperA: false });
    const walked = path(p.core, d.root, levels, iova, true);
    for (const e of walked) assert.is(e.value & (FS_A | FS_EA), FS_A, "precondition: A preset, EA clear");
    const s = new Shadow(p);
    expectOk(p.translateOne({ op: "MRd", sid: SID, pasid: PASID, addr: iova }), "read");
    for (const e of walked) s.set(e.pa, FS_A | FS_EA);
    assert.is(s.writes, levels);
    s.check("after the read");
  });

  test(`FS ${levels}-level without EAFE: bit 10 is never written`, () => {
    const { p, d, iova } = fsPlatform({ levels, eafe: false });
    const walked = path(p.core, d.root, levels, iova, true);
    const s = new Shadow(p);
    expectOk(p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: iova }), "write");
    for (const e of walked) s.set(e.pa, FS_A);
    s.set(walked.at(-1)!.pa, FS_D);
    s.check("after the write");
    for (const e of walked) assert.is(p.core.read64(e.pa)! & FS_EA, 0n);
  });
}

test("FS: a write without write permission (SGN.6) sets A while walking but no D", () => {
  const { p, d, iova } = fsPlatform({ write: false });
  const walked = path(p.core, d.root, 4, iova, true);
  const s = new Shadow(p);
  expectFault(p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: iova }), 0x85, "write to a read-only page");
  for (const e of walked) s.set(e.pa, FS_A);
  s.check("after the faulting write");
});

test("FS: a user write to a supervisor page (SGN.2) sets no D", () => {
  const { p, d, iova } = fsPlatform({ user: false });
  const walked = path(p.core, d.root, 4, iova, true);
  const s = new Shadow(p);
  expectFault(p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: iova }), 0x81, "user write");
  for (const e of walked) s.set(e.pa, FS_A);
  s.check("after the faulting write");
});

test("FS: a supervisor write (SRE, WPE=0) to a read-only page is granted and sets D", () => {
  const { p, d, iova } = fsPlatform({ write: false, sre: true });
  const walked = path(p.core, d.root, 4, iova, true);
  const s = new Shadow(p);
  const r = p.translateOne({ op: "MWr", sid: SID, pasid: PASID, priv: true, addr: iova });
  expectOk(r, "supervisor write");
  assert.ok(r.priv);
  for (const e of walked) s.set(e.pa, FS_A);
  s.set(walked.at(-1)!.pa, FS_D);
  s.check("after the supervisor write");
});

test("FS: a write whose output is in the interrupt range (SGN.8) is blocked and sets no D", () => {
  const { p, d, iova } = fsPlatform({ pa: 0xfee0_0000n });
  const walked = path(p.core, d.root, 4, iova, true);
  const s = new Shadow(p);
  expectFault(p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: iova }), 0x87, "write to the interrupt range");
  for (const e of walked) s.set(e.pa, FS_A);
  s.check("after the faulting write");
});

test("FS: a read of an unmapped address (SFS.2) sets A in the present entries only", () => {
  const { p, d, iova } = fsPlatform({});
  const other = iova + 0x1000n; // same leaf table, empty slot
  const walked = path(p.core, d.root, 4, other, true);
  assert.is(walked.length, 4);
  assert.is(walked.at(-1)!.value, 0n);
  const s = new Shadow(p);
  const r = p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: other });
  expectFault(r, 0x71, "unmapped");
  assert.is(r.fault!.level, 1);
  for (const e of walked.slice(0, -1)) s.set(e.pa, FS_A);
  s.check("after the fault");
});

test("FS non-snooped walk (PWSNP=0): an A update that is needed faults SFS.9 and writes nothing", () => {
  const { p, iova } = fsPlatform({ pwsnp: false });
  const s = new Shadow(p);
  const r = p.translateOne({ op: "MRd", sid: SID, pasid: PASID, addr: iova });
  expectFault(r, 0x90, "A needed");
  assert.is(r.fault!.level, 4, "the first entry that needs A is the top one");
  s.check("after SFS.9");
});

test("FS non-snooped walk (PWSNP=0): with A/D preset nothing is written; a D update that is needed faults SFS.9", () => {
  const { p, d, iova } = fsPlatform({ pwsnp: false, presetAccessed: true, clearUpperA: false });
  const s = new Shadow(p);
  expectOk(p.translateOne({ op: "MRd", sid: SID, pasid: PASID, addr: iova }), "read");
  expectOk(p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: iova }), "write (D preset)");
  s.check("preset A/D");
  const leaf = path(p.core, d.root, 4, iova, true).at(-1)!;
  p.core.write64(leaf.pa, leaf.value & ~FS_D);
  const s2 = new Shadow(p);
  expectOk(p.translateOne({ op: "MRd", sid: SID, pasid: PASID, addr: iova }), "read without D");
  expectFault(p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: iova }), 0x90, "D needed");
  s2.check("after SFS.9");
});

test("FS ATS: NW=0 on a writable page sets D (W granted); NW=1 and read-only pages set A only", () => {
  {
    const { p, d, iova } = fsPlatform({});
    const walked = path(p.core, d.root, 4, iova, true);
    const s = new Shadow(p);
    const r = p.translateOne({ op: "ATS", sid: SID, pasid: PASID, addr: iova, nw: true });
    expectOk(r, "ATS NW=1");
    assert.equal([r.perms.r, r.perms.w], [true, false]);
    for (const e of walked) s.set(e.pa, FS_A);
    s.check("ATS NW=1");
    const s2 = new Shadow(p);
    const r2 = p.translateOne({ op: "ATS", sid: SID, pasid: PASID, addr: iova });
    expectOk(r2, "ATS NW=0");
    assert.equal([r2.perms.r, r2.perms.w], [true, true]);
    s2.set(walked.at(-1)!.pa, FS_D);
    s2.check("ATS NW=0");
    assert.is(r2.leafPte, s2.get(walked.at(-1)!.pa));
  }
  {
    const { p, d, iova } = fsPlatform({ write: false });
    const walked = path(p.core, d.root, 4, iova, true);
    const s = new Shadow(p);
    const r = p.translateOne({ op: "ATS", sid: SID, pasid: PASID, addr: iova });
    expectOk(r, "ATS on a read-only page");
    assert.equal([r.perms.r, r.perms.w], [true, false]);
    for (const e of walked) s.set(e.pa, FS_A);
    s.check("ATS read-only");
  }
});

// ---- second stage ----------------------------------------------------------------------------------

function ssPlatform(o: {
  levels?: number;
  pageSize?: bigint;
  read?: boolean;
  write?: boolean;
  pa?: bigint;
  ssade?: boolean;
  pwsnp?: boolean;
  legacy?: boolean;
  ecap?: bigint;
}) {
  const legacy = o.legacy ?? false;
  // SAGAW bit 9 (3-level) added to the default profile, which has 4- and 5-level only.
  const p = new VtdPlatform({ caches: "off", build: BUILD, mode: legacy ? "legacy" : "scalable", ecap: o.ecap, cap: DEFAULT_CAP | bit(9) });
  const b = p.builder;
  const levels = o.levels ?? 4;
  const pageSize = o.pageSize ?? K4;
  const d = b.createDomain({ id: 9, type: "ss", levels });
  const iova = levels === 5 ? 0x0155_5555_4000_0000n : levels === 4 ? 0x0000_5555_4000_0000n : 0x0000_0055_4000_0000n;
  const pa = o.pa ?? 0x0000_0033_0000_0000n;
  b.map(d, iova, pa, pageSize, { pageSize, read: o.read ?? true, write: o.write ?? true });
  if (legacy) b.attach({ sid: SID, domain: 9, ats: true });
  else b.attach({ sid: SID, pasid: PASID, domain: 9, ats: true, ssade: o.ssade ?? true, pwsnp: o.pwsnp });
  p.enable();
  return { p, d, iova, pa, levels, pasid: legacy ? undefined : PASID };
}

for (const levels of [3, 4, 5]) {
  for (const [pageSize, name] of [[K4, "4K"], [M2, "2M"], [G1, "1G"]] as const) {
    test(`SS ${levels}-level ${name} SSADE: A (bit 8) at every level on a read, D (bit 9) at the leaf on a write`, () => {
      const { p, d, iova, pa, pasid } = ssPlatform({ levels, pageSize });
      const walked = path(p.core, d.root, levels, iova, false);
      for (const e of walked) assert.is(e.value & (SS_A | SS_D), 0n, "precondition: no A/D in builder entries");
      const leaf = walked.at(-1)!;
      const s = new Shadow(p);
      const r = p.translateOne({ op: "MRd", sid: SID, pasid, addr: iova + 0x123n });
      expectOk(r, "read");
      assert.is(r.pa, pa + 0x123n);
      for (const e of walked) s.set(e.pa, SS_A);
      s.check("after the read");
      assert.is(r.leafPte, s.get(leaf.pa));
      const s2 = new Shadow(p);
      const w = p.translateOne({ op: "MWr", sid: SID, pasid, addr: iova });
      expectOk(w, "write");
      s2.set(leaf.pa, SS_D);
      s2.check("after the write");
      assert.is(w.leafPte, s2.get(leaf.pa));
      const s3 = new Shadow(p);
      expectOk(p.translateOne({ op: "MWr", sid: SID, pasid, addr: iova + 8n }), "second write");
      expectOk(p.translateOne({ op: "MRd", sid: SID, pasid, addr: iova + 8n }), "another read");
      s3.check("nothing more to update");
    });
  }
}

test("SS without SSADE: no A or D is ever written", () => {
  const { p, pasid, iova } = ssPlatform({ ssade: false });
  const s = new Shadow(p);
  expectOk(p.translateOne({ op: "MRd", sid: SID, pasid, addr: iova }), "read");
  expectOk(p.translateOne({ op: "MWr", sid: SID, pasid, addr: iova }), "write");
  expectOk(p.translateOne({ op: "ATS", sid: SID, pasid, addr: iova }), "ATS");
  s.check("no SSADE");
});

test("SS without SSADE, request without PASID (RID_PASID): no A or D", () => {
  const p = new VtdPlatform({ caches: "off", build: BUILD });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, 0x10000n, 0x8000_0000n, 0x1000n);
  p.builder.attach({ sid: SID, domain: 1 });
  p.enable();
  const s = new Shadow(p);
  expectOk(p.translateOne({ op: "MWr", sid: SID, addr: 0x10000n }), "write");
  s.check("no SSADE");
});

test("legacy mode: second-stage walks never write A/D", () => {
  const { p, iova } = ssPlatform({ legacy: true });
  const s = new Shadow(p);
  expectOk(p.translateOne({ op: "MRd", sid: SID, addr: iova }), "read");
  expectOk(p.translateOne({ op: "MWr", sid: SID, addr: iova }), "write");
  expectOk(p.translateOne({ op: "ATS", sid: SID, addr: iova }), "ATS");
  s.check("legacy");
});

test("SS SSADE: a write without write permission (SGN.6) sets A but no D", () => {
  const { p, d, iova, pasid } = ssPlatform({ write: false });
  const walked = path(p.core, d.root, 4, iova, false);
  const s = new Shadow(p);
  expectFault(p.translateOne({ op: "MWr", sid: SID, pasid, addr: iova }), 0x85, "write to read-only");
  for (const e of walked) s.set(e.pa, SS_A);
  s.check("after SGN.6");
});

test("SS SSADE: a read of a write-only page (SGN.7) sets A but no D", () => {
  const { p, d, iova, pasid } = ssPlatform({ read: false });
  const walked = path(p.core, d.root, 4, iova, false);
  const s = new Shadow(p);
  expectFault(p.translateOne({ op: "MRd", sid: SID, pasid, addr: iova }), 0x86, "read of write-only");
  for (const e of walked) s.set(e.pa, SS_A);
  s.check("after SGN.7");
});

test("SS SSADE: a write whose output is in the interrupt range (SGN.8) is blocked and sets no D", () => {
  const { p, d, iova, pasid } = ssPlatform({ pa: 0xfee0_0000n });
  const walked = path(p.core, d.root, 4, iova, false);
  const s = new Shadow(p);
  expectFault(p.translateOne({ op: "MWr", sid: SID, pasid, addr: iova }), 0x87, "write to the interrupt range");
  for (const e of walked) s.set(e.pa, SS_A);
  s.check("after SGN.8");
});

test("SS SSADE: a not-present leaf (SSS.2) gets no A; the entries above it do", () => {
  const { p, d, iova, pasid } = ssPlatform({});
  const other = iova + 0x1000n;
  const walked = path(p.core, d.root, 4, other, false);
  assert.is(walked.at(-1)!.value, 0n);
  const s = new Shadow(p);
  expectFault(p.translateOne({ op: "MRd", sid: SID, pasid, addr: other }), 0x79, "not present");
  for (const e of walked.slice(0, -1)) s.set(e.pa, SS_A);
  s.check("after SSS.2");
});

test("SS SSADE with a non-snooped walk (PWSNP=0): SSS.5 and nothing written", () => {
  const { p, iova, pasid } = ssPlatform({ pwsnp: false });
  const s = new Shadow(p);
  const r = p.translateOne({ op: "MRd", sid: SID, pasid, addr: iova });
  expectFault(r, 0x7c, "A needed, walk not snooped");
  s.check("after SSS.5");
});

test("SS SSADE without ECAP.SSADS: the PASID entry is invalid (SPT.4) and nothing is written", () => {
  const { p, iova, pasid } = ssPlatform({ ecap: DEFAULT_ECAP & ~bit(45) });
  const s = new Shadow(p);
  expectFault(p.translateOne({ op: "MWr", sid: SID, pasid, addr: iova }), 0x5b, "SSADE without SSADS");
  s.check("after SPT.4");
});

test("SS SSADE ATS: NW=0 on a writable page sets D and the result's leafPte shows it; NW=1 sets A only", () => {
  const { p, d, iova, pasid } = ssPlatform({});
  const walked = path(p.core, d.root, 4, iova, false);
  const leaf = walked.at(-1)!;
  const s = new Shadow(p);
  const r = p.translateOne({ op: "ATS", sid: SID, pasid, addr: iova, nw: true });
  expectOk(r, "ATS NW=1");
  assert.equal([r.perms.r, r.perms.w], [true, false]);
  for (const e of walked) s.set(e.pa, SS_A);
  s.check("ATS NW=1");
  const s2 = new Shadow(p);
  const r2 = p.translateOne({ op: "ATS", sid: SID, pasid, addr: iova });
  expectOk(r2, "ATS NW=0");
  assert.equal([r2.perms.r, r2.perms.w], [true, true]);
  s2.set(leaf.pa, SS_D);
  s2.check("ATS NW=0");
  assert.is(r2.leafPte, s2.get(leaf.pa), "result leafPte is the leaf after A/D updates (Result.leafPte contract)");
});

test("SS SSADE ATS with a non-snooped walk: write permission is never granted without setting D", () => {
  // A preset at every level so the walk itself needs no update; D clear in the leaf. A write
  // request faults SSS.5 (D update needed, walk not snooped). An ATS request with NW=0 must not
  // hand the device W=1 while the leaf stays clean (a later translated write would never set D):
  // either it faults SSS.5 like the write (and like SFS.9 on the first-stage ATS path), or W=0.
  const { p, d, iova, pasid } = ssPlatform({ pwsnp: false });
  const walked = path(p.core, d.root, 4, iova, false);
  for (const e of walked) p.core.write64(e.pa, e.value | SS_A);
  const leaf = walked.at(-1)!;
  const s = new Shadow(p);
  expectFault(p.translateOne({ op: "MWr", sid: SID, pasid, addr: iova }), 0x7c, "write: D needed, walk not snooped");
  const r = p.translateOne({ op: "ATS", sid: SID, pasid, addr: iova });
  s.check("nothing can be written");
  const dirty = (p.core.read64(leaf.pa)! & SS_D) !== 0n;
  if (r.status === "ok") assert.ok(!r.perms.w || dirty, "ATS granted W=1 but the SS leaf has no D (and no SSS.5 was reported)");
  else expectFault(r, 0x7c, "ATS: D needed, walk not snooped");
});

// ---- nested --------------------------------------------------------------------------------------

function nestedPlatform(o: { ssade: boolean; fsLevels?: number; ssLevels?: number; ssWrite?: boolean; presetAccessed?: boolean }) {
  const p = new VtdPlatform({ caches: "off", build: BUILD });
  const b = p.builder;
  const fsLevels = o.fsLevels ?? 4, ssLevels = o.ssLevels ?? 4;
  const parent = b.createDomain({ id: 20, type: "ss", levels: ssLevels });
  const d = b.createDomain({ id: 21, type: "nested", parent: 20, levels: fsLevels, presetAccessed: o.presetAccessed ?? false });
  const iova = 0x0000_4321_0000_0000n;
  const gpa = 0x0000_7000_0000_0000n; // a different SS PML4 slot from the table pages
  const pa = 0x0000_0044_0000_0000n;
  b.map(d, iova, gpa, K4);
  b.map(parent, gpa, pa, K4, { write: o.ssWrite ?? true });
  b.attach({ sid: SID, pasid: PASID, domain: 21, ssade: o.ssade });
  p.enable();
  const core = p.core;
  // Clear A in the first-stage non-leaf entries (the builder presets it).
  clear(core, path(core, d.root, fsLevels, iova, true).slice(0, -1), FS_A);
  const fsWalk = path(core, d.root, fsLevels, iova, true);
  /** SS entries that translate the GPA of each first-stage entry, in walk order. */
  const ssOf = (g: bigint) => path(core, parent.root, ssLevels, g, false);
  return { p, d, parent, iova, gpa, pa, fsWalk, ssOf, fsLevels, ssLevels };
}

/**
 * The spec's nested walk for a request to `iova`: for each first-stage entry, the SS walk of its
 * GPA (A at each SS level with SSADE), then the FS entry's A (a write into the FS table page,
 * which with SSADE dirties the SS leaf mapping that page first); then the SS walk of the final GPA;
 * on a granted write, D in the FS leaf (again dirtying the SS leaf of its table page) and D in the
 * SS leaf of the final GPA.
 */
function nestedExpect(s: Shadow, n: ReturnType<typeof nestedPlatform>, ssade: boolean, write: boolean): void {
  const touchFsEntry = (e: PathEntry, bits: bigint) => {
    if ((s.get(e.pa) & bits) === bits) return;
    if (ssade) s.set(n.ssOf(e.pa).at(-1)!.pa, SS_A | SS_D);
    s.set(e.pa, bits);
  };
  for (const e of n.fsWalk) {
    if (ssade) for (const se of n.ssOf(e.pa)) s.set(se.pa, SS_A);
    touchFsEntry(e, FS_A);
  }
  const final = n.ssOf(n.gpa);
  if (ssade) for (const se of final) s.set(se.pa, SS_A);
  if (write) {
    touchFsEntry(n.fsWalk.at(-1)!, FS_D);
    if (ssade) s.set(final.at(-1)!.pa, SS_D);
  }
}

for (const ssade of [false, true]) {
  for (const [fsLevels, ssLevels] of [[4, 4], [5, 4], [4, 5], [5, 5]]) {
    test(`nested FS ${fsLevels}-level over SS ${ssLevels}-level, SSADE=${ssade}: read then write`, () => {
      const n = nestedPlatform({ ssade, fsLevels, ssLevels });
      const { p } = n;
      const s = new Shadow(p);
      const r = p.translateOne({ op: "MRd", sid: SID, pasid: PASID, addr: n.iova + 0x40n });
      expectOk(r, "read");
      assert.is(r.pa, n.pa + 0x40n);
      assert.is(r.s2LeafPa, n.ssOf(n.gpa).at(-1)!.pa);
      nestedExpect(s, n, ssade, false);
      if (ssade && fsLevels === 4 && ssLevels === 4) {
        // Table pages share one 2 MiB SS region: the first FS entry's SS walk sets A at 4 SS levels,
        // the next three set A in their own SS leaf only; each FS A write also dirties the SS leaf
        // of its page (4 + 3x1 + 4x2); the final GPA's SS walk sets A at 4 SS levels.
        assert.is(s.writes, 4 + 3 + 4 * 2 + 4);
      }
      if (!ssade) assert.is(s.writes, fsLevels);
      s.check("after the read");
      assert.is(r.leafPte, s.get(n.fsWalk.at(-1)!.pa));

      const s2 = new Shadow(p);
      const w = p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: n.iova });
      expectOk(w, "write");
      nestedExpect(s2, n, ssade, true);
      assert.is(s2.writes, ssade ? 2 : 1, "FS leaf D (its table page's SS leaf is already dirty) and the final SS leaf D");
      s2.check("after the write");
      assert.is(w.leafPte, s2.get(n.fsWalk.at(-1)!.pa));

      const s3 = new Shadow(p);
      expectOk(p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: n.iova + 8n }), "second write");
      s3.check("nothing more to update");
    });
  }

  test(`nested SSADE=${ssade}: a first write sets every A and both D flags`, () => {
    const n = nestedPlatform({ ssade });
    const s = new Shadow(n.p);
    expectOk(n.p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: n.iova }), "write");
    nestedExpect(s, n, ssade, true);
    s.check("after the write");
  });

  test(`nested SSADE=${ssade}: a write denied by the second stage (SGN.6) sets no D anywhere`, () => {
    const n = nestedPlatform({ ssade, ssWrite: false });
    const s = new Shadow(n.p);
    expectFault(n.p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: n.iova }), 0x85, "SS read-only");
    nestedExpect(s, n, ssade, false);
    s.check("after SGN.6");
  });
}

test("nested: the SS leaf of a first-stage table page without write permission makes the FS A update fail (SFS.8)", () => {
  const n = nestedPlatform({ ssade: true });
  const { p } = n;
  const fsLeaf = n.fsWalk.at(-1)!;
  const ssLeafOfTable = n.ssOf(fsLeaf.pa).at(-1)!;
  p.core.write64(ssLeafOfTable.pa, ssLeafOfTable.value & ~SS_W);
  const s = new Shadow(p);
  const r = p.translateOne({ op: "MRd", sid: SID, pasid: PASID, addr: n.iova });
  expectFault(r, 0x77, "FS leaf A needs an SS write");
  // Everything above the leaf is updated as usual; the leaf's SS walk sets A; the FS leaf is untouched.
  for (const e of n.fsWalk.slice(0, -1)) {
    for (const se of n.ssOf(e.pa)) s.set(se.pa, SS_A);
    s.set(n.ssOf(e.pa).at(-1)!.pa, SS_D);
    s.set(e.pa, FS_A);
  }
  for (const se of n.ssOf(fsLeaf.pa)) s.set(se.pa, SS_A);
  s.check("after SFS.8");
  assert.is(p.core.read64(fsLeaf.pa), fsLeaf.value);
});

test("nested SSADE: a DMA write into the page holding its own FS leaf counts each A/D update once", () => {
  // The FS leaf maps the IOVA onto the GPA of the FS leaf table page itself, so the SS leaf that
  // maps that page is both the table page's SS leaf and the final GPA's SS leaf. With A preset and
  // D clear in the FS leaf, the write sets D in that SS leaf (for the FS D update) and D in the FS
  // leaf: two updates. Setting an already-set D again is not an A/D update.
  const p = new VtdPlatform({ caches: "off", build: BUILD });
  const b = p.builder;
  const parent = b.createDomain({ id: 20, type: "ss" });
  const d = b.createDomain({ id: 21, type: "nested", parent: 20 });
  const iova = 0x0000_4321_0000_0000n;
  b.map(d, iova, 0x5000_0000n, K4); // placeholder target, replaced below
  b.attach({ sid: SID, pasid: PASID, domain: 21, ssade: true });
  p.enable();
  const core = p.core;
  const fsWalk = path(core, d.root, 4, iova, true);
  const fsLeaf = fsWalk.at(-1)!;
  const tablePage = fsLeaf.pa & ~0xfffn;
  core.write64(fsLeaf.pa, ((fsLeaf.value & ~ADDR) | tablePage) & ~FS_D);
  // Preset A on every SS entry involved so that only the dirty updates remain.
  for (const e of fsWalk) for (const se of path(core, parent.root, 4, e.pa, false)) core.write64(se.pa, core.read64(se.pa)! | SS_A);
  const ssLeaf = path(core, parent.root, 4, tablePage, false).at(-1)!;
  assert.is(ssLeaf.value & SS_D, 0n);
  const s = new Shadow(p);
  const r = p.translateOne({ op: "MWr", sid: SID, pasid: PASID, addr: iova + 0x800n });
  expectOk(r, "write");
  assert.is(r.pa, tablePage + 0x800n);
  s.set(ssLeaf.pa, SS_D);
  s.set(fsLeaf.pa, FS_D);
  assert.is(s.writes, 2);
  s.check("self-mapping write");
});

test("second-stage requests: D is only set after the request is granted (counter sanity over a batch)", () => {
  // Many requests in one batch: reads never dirty; A is set once per entry; the counter is exact.
  const { p, d, iova, pasid } = ssPlatform({ pageSize: M2 });
  const walked = path(p.core, d.root, 4, iova, false);
  const s = new Shadow(p);
  const reqs: Request[] = [];
  for (let i = 0n; i < 64n; i++) reqs.push({ op: "MRd", sid: SID, pasid, addr: iova + i * 0x8000n });
  const rs = p.translate(reqs);
  for (const r of rs) expectOk(r, "read");
  for (const e of walked) s.set(e.pa, SS_A);
  s.check("64 reads");
  const s2 = new Shadow(p);
  const ws = p.translate(reqs.map((q) => ({ ...q, op: "MWr" as const })));
  for (const r of ws) expectOk(r, "write");
  s2.set(walked.at(-1)!.pa, SS_D);
  s2.check("64 writes");
});

test.run();
