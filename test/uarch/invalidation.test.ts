/**
 * Invalidation (spec 6.5; shared/spec/vtd.md 2.4, 2.11): every descriptor type and granularity
 * through the queued-invalidation interface (256-bit and 128-bit descriptors), the register-based
 * interface (CCMD, IOTLB_REG + IVA), and queue errors (FSTS.IQE, IQERCD.IQEI, IQH).
 *
 * Method: fill the caches with one pass of requests, run one invalidation, then translate the same
 * requests again and read, per request, whether the cache hit ("H") or missed ("M"): the entries
 * that survived are exactly the hits. A second-pass miss refills the entry, so every check starts
 * from a fresh platform.
 *
 * The world (scalable mode):
 *   ss1    DID 1, second stage, 00:02.0 without PASID   pages 0x100000 + k*4K, k = 0..7 (8..15 mapped, not filled)
 *   ss2    DID 2, second stage, 00:03.0 without PASID   pages 0x100000 + k*4K, k = 0..7 (8..15 mapped, not filled)
 *   fs3    DID 3, first stage,  00:04.0 PASID 5         non-global pages 0x100000 + k*4K (k = 0..3), global 0x200000 + k*4K (k = 0..3)
 *   fs3b   DID 3, first stage,  00:04.0 PASID 7         pages 0x100000 + k*4K, k = 0..3
 *   nest4  DID 4, nested over DID 6, 00:04.0 PASID 6    pages 0x100000 + k*4K, k = 0..3
 *   fs5    DID 5, first stage,  00:05.0 PASID 5         pages 0x100000 + k*4K, k = 0..3
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform, type PlatformOptions } from "../../src/platform.ts";
import type { Request } from "../../src/core/core.ts";
import { DEFAULT_ECAP } from "../../src/arch/vtd/registers.ts";
import { InvalidationQueue, desc, type Descriptor } from "../../src/arch/vtd/invalidation.ts";

const K4 = 0x1000n;
const BASE = 0x10_0000n;
const GLOBAL_BASE = 0x20_0000n;
const FSTS_IQE = 1n << 4n;

/** Fully associative caches, large enough that nothing is evicted: every miss is an invalidation. */
const BIG: PlatformOptions["caches"] = {
  iotlb: { entries: 256, assoc: 0 },
  contextCache: { entries: 64, assoc: 0 },
  pasidCache: { entries: 64, assoc: 0 },
  pwcSsPde: { entries: 32, assoc: 0 },
  pwcSsPdpe: { entries: 16, assoc: 0 },
  pwcSsPml4e: { entries: 8, assoc: 0 },
  pwcFsPde: { entries: 32, assoc: 0 },
  pwcFsPdpe: { entries: 16, assoc: 0 },
  pwcFsPml4e: { entries: 8, assoc: 0 },
  deviceTlb: { entries: 64, assoc: 0 },
};

type CacheName = keyof ReturnType<VtdPlatform["core"]["cacheStats"]>;
type CounterName = keyof ReturnType<VtdPlatform["core"]["counters"]>;

const rd = (sid: number, addr: bigint, pasid?: number): Request => (pasid === undefined ? { op: "MRd", sid, addr } : { op: "MRd", sid, addr, pasid });
const pages = (sid: number, n: number, pasid?: number, base = BASE) => Array.from({ length: n }, (_, k) => rd(sid, base + BigInt(k) * K4, pasid));

/** Per request: "H" if `cache` hit, "M" if it missed (exactly one lookup each, or none: "-"). */
function pattern(p: VtdPlatform, reqs: Request[], cache: CacheName = "iotlb"): string {
  let s = "";
  for (const r of reqs) {
    const a = p.core.cacheStats()[cache];
    const res = p.translateOne(r);
    assert.is(res.status, "ok", `0x${r.sid.toString(16)}/${r.pasid} 0x${r.addr.toString(16)}: ${res.fault?.name}`);
    const b = p.core.cacheStats()[cache];
    const hits = Number(b.hits - a.hits), misses = Number(b.misses - a.misses);
    s += hits ? "H" : misses ? "M" : "-";
  }
  return s;
}

function counter(p: VtdPlatform, n: CounterName): number {
  return Number(p.core.counters()[n]);
}

// ---- the scalable-mode world ------------------------------------------------------------------------

const groups = {
  ss1: pages(0x10, 8),
  ss2: pages(0x18, 8),
  fs3: [...pages(0x20, 4, 5), ...pages(0x20, 4, 5, GLOBAL_BASE)],
  fs3b: pages(0x20, 4, 7),
  nest4: pages(0x20, 4, 6),
  fs5: pages(0x28, 4, 5),
};
type Group = keyof typeof groups;

function world(wide = true) {
  const p = new VtdPlatform({ build: "debug", caches: BIG });
  const b = p.builder;
  const d1 = b.createDomain({ id: 1, type: "ss" });
  const d2 = b.createDomain({ id: 2, type: "ss" });
  const d3 = b.createDomain({ id: 3, type: "fs" });
  const d5 = b.createDomain({ id: 5, type: "fs" });
  const d6 = b.createDomain({ id: 6, type: "ss" });
  const d4 = b.createDomain({ id: 4, type: "nested", parent: 6 });
  b.map(d1, BASE, 0x1_0000_0000n, 16n * K4);
  b.map(d2, BASE, 0x2_0000_0000n, 16n * K4);
  b.map(d3, BASE, 0x3_0000_0000n, 8n * K4);
  b.map(d3, GLOBAL_BASE, 0x3_1000_0000n, 4n * K4, { global: true });
  b.map(d5, BASE, 0x5_0000_0000n, 4n * K4);
  b.map(d6, 0x4000_0000n, 0x6_0000_0000n, 4n * K4);
  b.map(d4, BASE, 0x4000_0000n, 4n * K4);
  b.attach({ sid: 0x10, domain: 1 });
  b.attach({ sid: 0x18, domain: 2 });
  b.attach({ sid: 0x20, pasid: 5, domain: 3 });
  b.attach({ sid: 0x20, pasid: 7, domain: 3 });
  b.attach({ sid: 0x20, pasid: 6, domain: 4 });
  b.attach({ sid: 0x28, pasid: 5, domain: 5 });
  p.enable();
  const q = new InvalidationQueue(p.core, p.alloc, wide);
  for (const g of Object.values(groups)) for (const r of g) assert.is(p.translateOne(r).status, "ok");
  return { p, q };
}

/** The IOTLB hit pattern of every group after `descs` ran through the queue. */
function afterInvalidation(descs: Descriptor[], wide: boolean, only: Group[] = Object.keys(groups) as Group[]) {
  const { p, q } = world(wide);
  const before = counter(p, "invDescriptors");
  q.submit(descs);
  assert.is(q.error, undefined);
  assert.is(counter(p, "invDescriptors") - before, descs.length);
  return Object.fromEntries(only.map((g) => [g, pattern(p, groups[g])])) as Record<Group, string>;
}

const ALL_HIT = { ss1: "HHHHHHHH", ss2: "HHHHHHHH", fs3: "HHHHHHHH", fs3b: "HHHH", nest4: "HHHH", fs5: "HHHH" };

for (const wide of [true, false]) {
  const w = wide ? "256-bit" : "128-bit";

  test(`${w}: the fill pass leaves every entry cached (baseline), wait and IEC descriptors change nothing`, () => {
    assert.equal(afterInvalidation([desc.iec(), desc.wait()], wide), ALL_HIT);
  });

  // ---- IOTLB (type 2) ----

  test(`${w}: IOTLB global invalidation drops every IOTLB entry`, () => {
    assert.equal(afterInvalidation([desc.iotlb(1), desc.wait()], wide), { ss1: "MMMMMMMM", ss2: "MMMMMMMM", fs3: "MMMMMMMM", fs3b: "MMMM", nest4: "MMMM", fs5: "MMMM" });
  });

  test(`${w}: IOTLB domain-selective invalidation drops exactly that DID's entries (SS, FS and nested)`, () => {
    assert.equal(afterInvalidation([desc.iotlb(2, 1)], wide), { ...ALL_HIT, ss1: "MMMMMMMM" });
    assert.equal(afterInvalidation([desc.iotlb(2, 3)], wide), { ...ALL_HIT, fs3: "MMMMMMMM", fs3b: "MMMM" });
    assert.equal(afterInvalidation([desc.iotlb(2, 4)], wide), { ...ALL_HIT, nest4: "MMMM" });
    assert.equal(afterInvalidation([desc.iotlb(2, 9)], wide), ALL_HIT, "a DID nobody uses");
  });

  test(`${w}: IOTLB page-selective invalidation with AM drops the naturally aligned 2^AM pages of that DID`, () => {
    // ADDR 0x104000, AM 2: pages 4..7. ADDR 0x105000 AM 2 is aligned down to the same range.
    assert.equal(afterInvalidation([desc.iotlb(3, 1, BASE + 4n * K4, 2)], wide), { ...ALL_HIT, ss1: "HHHHMMMM" });
    assert.equal(afterInvalidation([desc.iotlb(3, 1, BASE + 5n * K4, 2)], wide), { ...ALL_HIT, ss1: "HHHHMMMM" });
    assert.equal(afterInvalidation([desc.iotlb(3, 1, BASE + 2n * K4, 0)], wide), { ...ALL_HIT, ss1: "HHMHHHHH" });
    assert.equal(afterInvalidation([desc.iotlb(3, 1, BASE + 2n * K4, 1)], wide), { ...ALL_HIT, ss1: "HHMMHHHH" });
    assert.equal(afterInvalidation([desc.iotlb(3, 1, BASE, 3)], wide), { ...ALL_HIT, ss1: "MMMMMMMM" });
    // Outside the range, another DID: everything survives.
    assert.equal(afterInvalidation([desc.iotlb(3, 1, BASE + 8n * K4, 3)], wide), ALL_HIT);
    assert.equal(afterInvalidation([desc.iotlb(3, 2, BASE + 4n * K4, 1)], wide), { ...ALL_HIT, ss2: "HHHHMMHH" });
  });

  test(`${w}: a page-selective IOTLB invalidation also drops every first-stage / nested entry of the DID`, () => {
    // The range covers none of fs3's pages, yet every entry of DID 3 goes (both PASIDs); fs5 stays.
    assert.equal(afterInvalidation([desc.iotlb(3, 3, 0x7000_0000n, 0)], wide), { ...ALL_HIT, fs3: "MMMMMMMM", fs3b: "MMMM" });
    assert.equal(afterInvalidation([desc.iotlb(3, 4, 0x7000_0000n, 0)], wide), { ...ALL_HIT, nest4: "MMMM" });
  });

  // ---- PASID-based IOTLB (type 6) ----

  test(`${w}: PASID-based IOTLB, all in PASID (G=10): non-global FS entries of (DID, PASID); global ones survive`, () => {
    assert.equal(afterInvalidation([desc.pasidIotlb(2, 3, 5)], wide), { ...ALL_HIT, fs3: "MMMMHHHH" });
    assert.equal(afterInvalidation([desc.pasidIotlb(2, 3, 7)], wide), { ...ALL_HIT, fs3b: "MMMM" });
    assert.equal(afterInvalidation([desc.pasidIotlb(2, 5, 5)], wide), { ...ALL_HIT, fs5: "MMMM" }, "same PASID, other DID");
    assert.equal(afterInvalidation([desc.pasidIotlb(2, 4, 6)], wide), { ...ALL_HIT, nest4: "MMMM" }, "nested entries");
    assert.equal(afterInvalidation([desc.pasidIotlb(2, 3, 6)], wide), ALL_HIT, "PASID of another DID");
  });

  test(`${w}: PASID-based IOTLB leaves second-stage-only entries alone`, () => {
    // ss1 requests without PASID use RID_PASID 0.
    assert.equal(afterInvalidation([desc.pasidIotlb(2, 1, 0), desc.pasidIotlb(3, 1, 0, BASE, 3)], wide), ALL_HIT);
  });

  test(`${w}: PASID-based IOTLB page-selective (G=11) within (DID, PASID), global entries included`, () => {
    assert.equal(afterInvalidation([desc.pasidIotlb(3, 3, 5, BASE + 2n * K4, 1)], wide), { ...ALL_HIT, fs3: "HHMMHHHH" });
    assert.equal(afterInvalidation([desc.pasidIotlb(3, 3, 5, GLOBAL_BASE + K4, 0)], wide), { ...ALL_HIT, fs3: "HHHHHMHH" });
    assert.equal(afterInvalidation([desc.pasidIotlb(3, 3, 5, 0n, 10)], wide), { ...ALL_HIT, fs3: "MMMMMMMM" }, "4 MiB range covering both");
    assert.equal(afterInvalidation([desc.pasidIotlb(3, 3, 5, 0x7000_0000n, 0)], wide), ALL_HIT, "outside the range");
    assert.equal(afterInvalidation([desc.pasidIotlb(3, 4, 6, BASE + 3n * K4, 0)], wide), { ...ALL_HIT, nest4: "HHHM" });
  });

  // ---- PASID cache (type 7) ----

  test(`${w}: PASID-cache invalidation: domain, PASID-selective, global`, () => {
    const probe = [rd(0x20, BASE, 5), rd(0x20, BASE, 7), rd(0x20, BASE, 6), rd(0x28, BASE, 5), rd(0x10, BASE)];
    const run = (d: Descriptor) => {
      const { p, q } = world(wide);
      q.submit([d, desc.wait()]);
      assert.is(q.error, undefined);
      return pattern(p, probe, "pasidCache");
    };
    assert.is(run(desc.iec()), "HHHHH");
    assert.is(run(desc.pasidCache(0, 3)), "MMHHH", "all PASIDs of DID 3");
    assert.is(run(desc.pasidCache(0, 1)), "HHHHM", "DID 1: the RID_PASID entry of 00:02.0");
    assert.is(run(desc.pasidCache(1, 3, 7)), "HMHHH");
    assert.is(run(desc.pasidCache(1, 5, 5)), "HHHMH", "PASID 5 of DID 5 only, not PASID 5 of DID 3");
    assert.is(run(desc.pasidCache(1, 3, 6)), "HHHHH", "PASID 6 belongs to DID 4");
    assert.is(run(desc.pasidCache(3)), "MMMMM");
  });

  test(`${w}: PASID-cache and IOTLB invalidations leave the context cache alone, and vice versa`, () => {
    const { p, q } = world(wide);
    q.submit([desc.pasidCache(3), desc.iotlb(1), desc.wait()]);
    assert.is(pattern(p, [rd(0x10, BASE), rd(0x20, BASE, 5)], "contextCache"), "HH");
    const w2 = world(wide);
    w2.q.submit([desc.context(1), desc.wait()]);
    assert.is(pattern(w2.p, [rd(0x10, BASE), rd(0x20, BASE, 5)], "pasidCache"), "HH");
    assert.is(pattern(w2.p, [rd(0x18, BASE + K4)], "iotlb"), "H");
  });

  // ---- context cache (type 1) ----

  test(`${w}: scalable mode: context-cache domain-selective invalidation acts as global (no DID in the context entry)`, () => {
    const probe = [rd(0x10, BASE), rd(0x18, BASE), rd(0x20, BASE, 5), rd(0x28, BASE, 5)];
    for (const [d, exp] of [[desc.context(2, 1), "MMMM"], [desc.context(2, 77), "MMMM"], [desc.context(1), "MMMM"], [desc.context(3, 0, 0x18, 0), "HMHH"]] as const) {
      const { p, q } = world(wide);
      q.submit([d]);
      assert.is(pattern(p, probe, "contextCache"), exp);
    }
  });

  // ---- paging-structure caches and IH ----

  test(`${w}: IOTLB PSI: IH=1 keeps the paging-structure caches, IH=0 drops the overlapping ones`, () => {
    for (const [ih, reads] of [[true, 1], [false, 4]] as const) {
      const { p, q } = world(wide);
      q.submit([desc.iotlb(3, 1, BASE + 4n * K4, 2, ih)]);
      const r = p.translateOne(rd(0x10, BASE + 4n * K4));
      assert.is(r.reads, reads, `IH=${ih}: ${reads === 1 ? "PDE-cache hit" : "full walk"}`);
      // Other domains' paging-structure entries survive: ss2's unfilled page 8 resumes below its PDE.
      assert.is(p.translateOne(rd(0x18, BASE + 8n * K4)).reads, 1);
    }
    // A range outside the region the cached PDE covers leaves it.
    const { p, q } = world(wide);
    q.submit([desc.iotlb(3, 1, 0x4000_0000n, 0, false)]);
    assert.is(p.translateOne(rd(0x10, BASE + 8n * K4)).reads, 1);
  });

  test(`${w}: IOTLB domain and global invalidations drop the paging-structure caches (of the DID / all)`, () => {
    {
      const { p, q } = world(wide);
      q.submit([desc.iotlb(2, 1)]);
      assert.is(p.translateOne(rd(0x10, BASE + 8n * K4)).reads, 4);
      assert.is(p.translateOne(rd(0x18, BASE + 8n * K4)).reads, 1);
    }
    {
      const { p, q } = world(wide);
      q.submit([desc.iotlb(1)]);
      assert.is(p.translateOne(rd(0x10, BASE + 8n * K4)).reads, 4);
      assert.is(p.translateOne(rd(0x18, BASE + 8n * K4)).reads, 4);
    }
  });

  test(`${w}: PASID-based IOTLB and the first-stage paging-structure caches`, () => {
    // Fill the FS PWC for (3, 7) with a page not in the IOTLB: unfilled page 4..7 of PASID 7 exist.
    const cases: [Descriptor, number, number][] = [
      [desc.pasidIotlb(2, 3, 5), 4, 1], // all in PASID: the PWC entries of (3, 5) go; (3, 7) keeps its own
      [desc.pasidIotlb(3, 3, 5, BASE, 0, true), 1, 1], // IH=1: kept
      [desc.pasidIotlb(3, 3, 5, BASE, 0, false), 4, 1], // IH=0: the overlapping ones go
    ];
    for (const [d, reads5, reads7] of cases) {
      const { p, q } = world(wide);
      q.submit([d]);
      assert.is(p.translateOne(rd(0x20, BASE + 4n * K4, 5)).reads, reads5);
      assert.is(p.translateOne(rd(0x20, BASE + 5n * K4, 7)).reads, reads7);
    }
  });
}

// ---- context cache in legacy mode (DID in the context entry), queue and register ---------------------

/** Legacy mode: 00:02.0-00:02.7 in DID 1, 00:03.0 in DID 2; the context cache filled for all nine. */
function legacyWorld() {
  const p = new VtdPlatform({ build: "debug", caches: BIG, mode: "legacy" });
  const d1 = p.builder.createDomain({ id: 1, type: "ss" });
  const d2 = p.builder.createDomain({ id: 2, type: "ss" });
  p.builder.map(d1, BASE, 0x1_0000_0000n, 16n * K4);
  p.builder.map(d2, BASE, 0x2_0000_0000n, 16n * K4);
  for (let f = 0; f < 8; f++) p.builder.attach({ sid: 0x10 + f, domain: 1 });
  p.builder.attach({ sid: 0x18, domain: 2 });
  p.enable();
  const probe = Array.from({ length: 9 }, (_, i) => rd(0x10 + i, BASE + BigInt(i) * K4));
  for (const r of probe) assert.is(p.translateOne(r).status, "ok");
  return { p, probe };
}

// [descriptor fields, expected hits for 00:02.0 .. 00:02.7, 00:03.0]
const LEGACY_CONTEXT: [string, 1 | 2 | 3, number, number, number, string][] = [
  ["global", 1, 0, 0, 0, "MMMMMMMMM"],
  ["domain 1", 2, 1, 0, 0, "MMMMMMMMH"],
  ["domain 2", 2, 2, 0, 0, "HHHHHHHHM"],
  ["domain 3 (unused)", 2, 3, 0, 0, "HHHHHHHHH"],
  ["device 00:02.0 FM=0", 3, 0, 0x10, 0, "MHHHHHHHH"],
  ["device 00:02.2 FM=0", 3, 0, 0x12, 0, "HHMHHHHHH"],
  ["device 00:02.0 FM=1 (function bit 2 masked)", 3, 0, 0x10, 1, "MHHHMHHHH"],
  ["device 00:02.1 FM=2 (bits 2:1 masked)", 3, 0, 0x11, 2, "HMHMHMHMH"],
  ["device 00:02.5 FM=3 (bits 2:0 masked)", 3, 0, 0x15, 3, "MMMMMMMMH"],
  ["device 00:03.0 FM=3", 3, 0, 0x18, 3, "HHHHHHHHM"],
];

for (const wide of [false, true]) {
  test(`legacy mode, ${wide ? "256" : "128"}-bit queue: context-cache global / domain / device with every function mask`, () => {
    for (const [name, g, did, sid, fm, exp] of LEGACY_CONTEXT) {
      const { p, probe } = legacyWorld();
      const q = new InvalidationQueue(p.core, p.alloc, wide);
      q.submit([desc.context(g, did, sid, fm), desc.wait()]);
      assert.is(q.error, undefined);
      assert.is(pattern(p, probe, "contextCache"), exp, name);
    }
  });
}

test("register-based CCMD: same granularities; ICC cleared, CAIG = the granularity performed", () => {
  for (const [name, g, did, sid, fm, exp] of LEGACY_CONTEXT) {
    const { p, probe } = legacyWorld();
    const before = counter(p, "invDescriptors");
    const v = (1n << 63n) | (BigInt(g) << 61n) | (BigInt(fm) << 32n) | (BigInt(sid) << 16n) | BigInt(did);
    p.core.writeRegister("CCMD", v);
    const ccmd = p.core.readRegister("CCMD");
    assert.is(ccmd >> 63n, 0n, `${name}: ICC cleared`);
    assert.is((ccmd >> 59n) & 3n, BigInt(g), `${name}: CAIG`);
    assert.is((ccmd >> 61n) & 3n, BigInt(g), `${name}: CIRG as written`);
    assert.is(ccmd & 0x3_ffff_ffffn, v & 0x3_ffff_ffffn, `${name}: FM, SID, DID kept`);
    assert.is(counter(p, "invDescriptors") - before, 1);
    assert.is(pattern(p, probe, "contextCache"), exp, name);
  }
});

test("register-based IOTLB_REG + IVA (legacy mode): global / domain / page-selective; IVT cleared, IAIG = the granularity", () => {
  // legacyWorld: 00:02.f translates page f of DID 1 (f = 0..7), 00:03.0 page 8 of DID 2.
  const cases: [string, 1 | 2 | 3, number, bigint, string][] = [
    ["global", 1, 0, 0n, "MMMMMMMMM"],
    ["domain 2", 2, 2, 0n, "HHHHHHHHM"],
    ["domain 1", 2, 1, 0n, "MMMMMMMMH"],
    ["page 0x104000 AM=2 of DID 1", 3, 1, BASE + 4n * K4 + 2n, "HHHHMMMMH"],
    ["page 0x101000 AM=0 IH=1 of DID 1", 3, 1, BASE + K4 + (1n << 6n), "HMHHHHHHH"],
    ["page 0x108000 AM=0 of DID 1 (DID 2 maps it)", 3, 1, BASE + 8n * K4, "HHHHHHHHH"],
  ];
  for (const [name, g, did, iva, exp] of cases) {
    const { p, probe } = legacyWorld();
    const before = counter(p, "invDescriptors");
    p.core.writeRegister("IVA", iva);
    p.core.writeRegister("IOTLB_REG", (1n << 63n) | (BigInt(g) << 60n) | (BigInt(did) << 32n));
    const reg = p.core.readRegister("IOTLB_REG");
    assert.is(reg >> 63n, 0n, `${name}: IVT cleared`);
    assert.is((reg >> 57n) & 3n, BigInt(g), `${name}: IAIG`);
    assert.is((reg >> 60n) & 3n, BigInt(g), `${name}: IIRG as written`);
    assert.is((reg >> 32n) & 0xffffn, BigInt(did));
    assert.is(p.core.readRegister("IVA"), iva);
    assert.is(counter(p, "invDescriptors") - before, 1);
    assert.is(pattern(p, probe), exp, name);
  }
  // IH=0 drops the paging-structure caches that overlap; IH=1 kept them.
  for (const [ih, reads] of [[false, 4], [true, 1]] as const) {
    const { p } = legacyWorld();
    p.core.writeRegister("IVA", BASE + (ih ? 1n << 6n : 0n));
    p.core.writeRegister("IOTLB_REG", (1n << 63n) | (3n << 60n) | (1n << 32n));
    assert.is(p.translateOne(rd(0x10, BASE)).reads, reads, `IH=${ih}`);
  }
});

// ---- device-TLB (types 3 and 8) ------------------------------------------------------------------

/**
 * Device 00:06.0 with ATS: DID 7 (second stage) without PASID, DID 8 (first stage) on PASIDs 2 and 3,
 * 16 pages each at 0x100000; device 00:07.0 (ATS, DID 7). Every page's ATS completion is in the
 * device-TLBs. A translated request that hits uses it; a miss makes the device send an ATS request
 * first (counter atcMisses).
 */
function atcWorld(wide = true) {
  const p = new VtdPlatform({ build: "debug", caches: BIG });
  const d7 = p.builder.createDomain({ id: 7, type: "ss" });
  const d8 = p.builder.createDomain({ id: 8, type: "fs" });
  p.builder.map(d7, BASE, 0x7_0000_0000n, 16n * K4);
  p.builder.map(d8, BASE, 0x8_0000_0000n, 16n * K4);
  p.builder.attach({ sid: 0x30, domain: 7, ats: true });
  p.builder.attach({ sid: 0x30, pasid: 2, domain: 8 });
  p.builder.attach({ sid: 0x30, pasid: 3, domain: 8 });
  p.builder.attach({ sid: 0x38, domain: 7, ats: true });
  p.enable();
  const q = new InvalidationQueue(p.core, p.alloc, wide);
  for (const [sid, pasid] of [[0x30, undefined], [0x30, 2], [0x30, 3], [0x38, undefined]] as const)
    for (let k = 0n; k < 16n; k++) {
      const r = p.translateOne({ op: "ATS", sid, addr: BASE + k * K4, ...(pasid ? { pasid } : {}) });
      assert.is(r.status, "ok");
    }
  assert.is(p.core.cacheStats().deviceTlb.fills, 64n);
  return { p, q };
}

/** Translated reads of the 16 pages: "H" device-TLB hit, "M" miss (ATS request sent first). */
function atcPattern(p: VtdPlatform, sid: number, pasid?: number): string {
  let s = "";
  for (let k = 0n; k < 16n; k++) {
    const miss = counter(p, "atcMisses"), ats = counter(p, "atsRequests");
    const r = p.translateOne({ op: "MRd", sid, addr: BASE + k * K4 + 0x40n, translated: true, ...(pasid ? { pasid } : {}) });
    assert.is(r.status, "ok");
    assert.ok(r.atc);
    assert.is(r.pa, (pasid ? 0x8_0000_0000n : 0x7_0000_0000n) + k * K4 + 0x40n);
    const m = counter(p, "atcMisses") - miss;
    assert.is(counter(p, "atsRequests") - ats, m, "an ATS request per miss");
    s += m ? "M" : "H";
  }
  return s;
}

test("device-TLB descriptor encoding: S=0 one page; S=1 with trailing ones for 2^k pages", () => {
  assert.equal(desc.deviceTlb(0x30, BASE + 4n * K4), [(3n | (0x30n << 32n)), BASE + 4n * K4]);
  assert.is(desc.deviceTlb(0x30, BASE + 4n * K4, 1)[1], BASE + 4n * K4 + 1n); // xxx0 + S: 8 KiB
  assert.is(desc.deviceTlb(0x30, BASE + 4n * K4, 2)[1], BASE + 4n * K4 + 0x1000n + 1n); // xx01: 16 KiB
  assert.is(desc.deviceTlb(0x30, BASE + 4n * K4, 4)[1], BASE + 0x7000n + 1n); // 0111: 64 KiB
});

for (const wide of [true, false]) {
  const w = wide ? "256-bit" : "128-bit";
  test(`${w}: device-TLB invalidation (type 3) removes a range of 2^k pages of that device, every PASID`, () => {
    const cases: [string, Descriptor, string][] = [
      ["one page (S=0)", desc.deviceTlb(0x30, BASE + 4n * K4), "HHHHMHHHHHHHHHHH"],
      ["2 pages", desc.deviceTlb(0x30, BASE + 4n * K4, 1), "HHHHMMHHHHHHHHHH"],
      ["4 pages", desc.deviceTlb(0x30, BASE + 5n * K4, 2), "HHHHMMMMHHHHHHHH"],
      ["8 pages", desc.deviceTlb(0x30, BASE + 9n * K4, 3), "HHHHHHHHMMMMMMMM"],
      ["16 pages", desc.deviceTlb(0x30, BASE, 4), "MMMMMMMMMMMMMMMM"],
      ["another range", desc.deviceTlb(0x30, 0x4000_0000n, 4), "HHHHHHHHHHHHHHHH"],
      ["everything (S=1, ADDR all ones)", [3n | (0x30n << 32n), 0x7fff_ffff_ffff_f001n], "MMMMMMMMMMMMMMMM"],
    ];
    for (const [name, d, exp] of cases) {
      const { p, q } = atcWorld(wide);
      q.submit([d, desc.wait()]);
      assert.is(q.error, undefined);
      assert.is(atcPattern(p, 0x30), exp, `${name}: no PASID`);
      assert.is(atcPattern(p, 0x30, 2), exp, `${name}: PASID 2`);
      assert.is(atcPattern(p, 0x38), "HHHHHHHHHHHHHHHH", `${name}: another device keeps its entries`);
    }
  });

  test(`${w}: PASID-based device-TLB invalidation (type 8): one PASID, or all PASIDs with G`, () => {
    {
      const { p, q } = atcWorld(wide);
      q.submit([desc.pasidDeviceTlb(0x30, 2, BASE + 4n * K4, 2), desc.wait()]);
      assert.is(q.error, undefined);
      assert.is(atcPattern(p, 0x30, 2), "HHHHMMMMHHHHHHHH");
      assert.is(atcPattern(p, 0x30, 3), "HHHHHHHHHHHHHHHH", "other PASID");
      assert.is(atcPattern(p, 0x30), "HHHHHHHHHHHHHHHH", "requests without PASID");
    }
    {
      const { p, q } = atcWorld(wide);
      q.submit([desc.pasidDeviceTlb(0x30, 2, BASE + 8n * K4, 0)]);
      assert.is(atcPattern(p, 0x30, 2), "HHHHHHHHMHHHHHHH", "S=0: one page");
    }
    {
      const { p, q } = atcWorld(wide);
      q.submit([desc.pasidDeviceTlb(0x30, 2, BASE, 3, true)]);
      assert.is(atcPattern(p, 0x30, 2), "MMMMMMMMHHHHHHHH");
      assert.is(atcPattern(p, 0x30, 3), "MMMMMMMMHHHHHHHH", "G=1: every PASID");
      assert.is(atcPattern(p, 0x38), "HHHHHHHHHHHHHHHH");
    }
    {
      const { p, q } = atcWorld(wide);
      q.submit([desc.pasidDeviceTlb(0x38, 2, BASE, 4)]);
      assert.is(atcPattern(p, 0x30, 2), "HHHHHHHHHHHHHHHH", "another device's SID");
    }
  });

  test(`${w}: IOTLB invalidations do not reach device-TLBs`, () => {
    const { p, q } = atcWorld(wide);
    q.submit([desc.iotlb(1), desc.pasidIotlb(2, 8, 2), desc.wait()]);
    assert.is(atcPattern(p, 0x30), "HHHHHHHHHHHHHHHH");
    assert.is(atcPattern(p, 0x30, 2), "HHHHHHHHHHHHHHHH");
  });
}

// ---- wait descriptors ------------------------------------------------------------------------------

for (const wide of [true, false]) {
  test(`${wide ? "256" : "128"}-bit: invalidation wait: SW writes the 32-bit status data, IF sets ICS.IWC, FN is accepted`, () => {
    const { p, q } = world(wide);
    const status = 0x3000_0000n;
    p.core.write64(status, 0x1111_2222_3333_4444n);
    const w0 = counter(p, "invWaitWrites"), d0 = counter(p, "invDescriptors");
    q.submit([desc.iotlb(1), desc.wait(status, 0xdead_beef)]);
    assert.is(p.core.read64(status), 0x1111_2222_dead_beefn, "low half written, high half untouched");
    q.submit([desc.wait(status + 4n, 0xcafe_f00d)]);
    assert.is(p.core.read64(status), 0xcafe_f00d_dead_beefn);
    assert.is(counter(p, "invWaitWrites") - w0, 2);
    // Status address bits 1:0 are not part of the address.
    const fresh = 0x3000_2000n;
    assert.is(p.core.read64(fresh), undefined);
    q.submit([[desc.wait(fresh, 7)[0], fresh + 3n]]);
    assert.is(p.core.read64(fresh), 7n, "written to memory nobody wrote before (bits 1:0 ignored)");
    // No SW: no write.
    q.submit([desc.wait(undefined, 0x55)]);
    assert.is(counter(p, "invWaitWrites") - w0, 3);
    assert.is(p.core.readRegister("ICS"), 0n);
    // IF: ICS.IWC; software clears it by writing 1.
    q.submit([desc.wait(undefined, 0, true)]);
    assert.is(p.core.readRegister("ICS"), 1n);
    p.core.writeRegister("ICS", 0n);
    assert.is(p.core.readRegister("ICS"), 1n, "writing 0 leaves it");
    p.core.writeRegister("ICS", 1n);
    assert.is(p.core.readRegister("ICS"), 0n);
    // SW and IF together; FN (fence).
    q.submit([desc.wait(status, 0x0bad_cafe, true, true)]);
    assert.is(p.core.read64(status), 0xcafe_f00d_0bad_cafen);
    assert.is(p.core.readRegister("ICS"), 1n);
    assert.is(counter(p, "invWaitWrites") - w0, 4);
    assert.is(counter(p, "invDescriptors") - d0, 7);
    assert.is(counter(p, "invQueueErrors"), 0);
    assert.is(q.error, undefined);
    assert.is(p.core.readRegister("IQH"), p.core.readRegister("IQT"));
  });

  test(`${wide ? "256" : "128"}-bit: the interrupt-entry-cache descriptor is accepted (global and index-selective)`, () => {
    const { p, q } = world(wide);
    const iecIndex: Descriptor = [4n | (1n << 4n) | (3n << 27n) | (0x40n << 32n), 0n]; // G=1, IM=3, IIDX=0x40
    q.submit([desc.iec(), iecIndex, desc.wait()]);
    assert.is(q.error, undefined);
    assert.is(counter(p, "invDescriptors"), 3);
    assert.equal(pattern(p, groups.ss1), "HHHHHHHH");
  });
}

// ---- queue mechanics and errors ------------------------------------------------------------------

/** Descriptor slot offset in the queue (bytes). */
const slot = (q: InvalidationQueue, i: number) => BigInt(i * q.step);
function writeSlot(p: VtdPlatform, q: InvalidationQueue, i: number, d: Descriptor) {
  p.core.writeQwords(q.base + slot(q, i), q.wide ? [d[0], d[1], 0n, 0n] : [d[0], d[1]]);
}
const clearIqe = (p: VtdPlatform) => p.core.writeRegister("FSTS", FSTS_IQE);
const STATUS = 0x3000_0000n;
const STATUS2 = 0x3001_0000n; // another page

for (const wide of [true, false]) {
  const w = wide ? "256-bit" : "128-bit";

  test(`${w}: IQH follows IQT; the queue wraps around its end`, () => {
    const { p, q } = world(wide);
    const per = 4096 / q.step;
    for (let i = 0; i < per - 1; i++) q.submit([desc.iec()]);
    assert.is(p.core.readRegister("IQH"), BigInt((per - 1) * q.step));
    q.submit([desc.iec(), desc.wait(STATUS, 42)]); // the last slot, then slot 0
    assert.is(p.core.readRegister("IQH"), BigInt(q.step));
    assert.is(p.core.read64(STATUS), 42n);
    assert.is(counter(p, "invDescriptors"), per + 1);
  });

  for (const [name, bad, iqei] of [
    ["invalid type (0)", [0n, 0n], 3],
    ["invalid type (0xF)", [0xfn, 0n], 3],
    ["invalid type (0x13: high type bits)", [3n | (1n << 9n), 0n], 3],
    ["reserved granularity: context-cache G=0", [1n, 0n], 4],
    ["reserved granularity: IOTLB G=0", [2n, 0n], 4],
    ["reserved granularity: PASID-based IOTLB G=01", [6n | (1n << 4n) | (3n << 16n) | (5n << 32n), 0n], 4],
    ["reserved granularity: PASID-cache G=10", [7n | (2n << 4n), 0n], 4],
  ] as [string, Descriptor, number][]) {
    test(`${w}: queue error, ${name}: IQEI ${iqei}, IQH at the bad descriptor, nothing after it until FSTS.IQE is cleared`, () => {
      const { p, q } = world(wide);
      q.submit([desc.iotlb(2, 1), bad, desc.iotlb(2, 2), desc.wait(STATUS, 1)]);
      assert.equal(q.error, { reason: iqei, head: q.step });
      assert.is(p.core.readRegister("FSTS") & FSTS_IQE, FSTS_IQE);
      assert.is(p.core.readRegister("IQERCD") & 0xfn, BigInt(iqei));
      assert.is(counter(p, "invDescriptors"), 1);
      assert.is(counter(p, "invQueueErrors"), 1);
      assert.is(p.core.read64(STATUS), undefined, "the wait after the error did not run");
      assert.is(pattern(p, groups.ss2), "HHHHHHHH", "the DSI after the error did not run");
      // More descriptors while the queue is stopped: nothing runs.
      q.submit([desc.wait(STATUS + 8n, 2)]);
      assert.is(p.core.read64(STATUS + 8n), undefined);
      assert.is(p.core.readRegister("IQH"), slot(q, 1));
      // Clearing IQE without fixing the descriptor: the same error again.
      clearIqe(p);
      assert.equal(q.error, { reason: iqei, head: q.step });
      assert.is(counter(p, "invQueueErrors"), 2);
      // Software replaces the bad descriptor (Linux: with its wait descriptor) and clears IQE.
      writeSlot(p, q, 1, desc.iec());
      clearIqe(p);
      assert.is(q.error, undefined);
      assert.is(p.core.readRegister("FSTS") & FSTS_IQE, 0n);
      assert.is(p.core.read64(STATUS), 1n);
      assert.is(p.core.read64(STATUS + 8n), 2n);
      assert.is(p.core.readRegister("IQH"), slot(q, 5));
      assert.is(counter(p, "invDescriptors"), 5); // DSI 1 before the error; then IEC, DSI 2, wait, wait
      assert.is(counter(p, "invQueueErrors"), 2);
      assert.is(counter(p, "invWaitWrites"), 2);
      assert.is(pattern(p, groups.ss2), "MMMMMMMM", "the DSI ran");
    });
  }

  test(`${w}: queue error, invalid tail beyond the queue: IQEI 1, nothing processed, IQH unchanged`, () => {
    const { p, q } = world(wide);
    q.submit([desc.wait(STATUS, 1)]);
    writeSlot(p, q, 1, desc.iotlb(2, 2));
    writeSlot(p, q, 2, desc.wait(STATUS2, 2));
    p.core.writeRegister("IQT", 4096n); // one page queue: offsets 0..4095
    assert.equal(q.error, { reason: 1, head: q.step });
    assert.is(counter(p, "invDescriptors"), 1);
    assert.is(counter(p, "invQueueErrors"), 1);
    assert.is(p.core.read64(STATUS2), undefined);
    // A good tail written while IQE is set is not acted on until IQE is cleared.
    p.core.writeRegister("IQT", slot(q, 3));
    assert.is(p.core.read64(STATUS2), undefined);
    clearIqe(p);
    assert.is(q.error, undefined);
    assert.is(p.core.read64(STATUS2), 2n);
    assert.is(p.core.readRegister("IQH"), slot(q, 3));
    assert.is(counter(p, "invDescriptors"), 3);
    assert.is(pattern(p, groups.ss2), "MMMMMMMM");
  });

  test(`${w}: queue error, fetch error (descriptor in unwritten memory): IQEI 2, IQH at it; resumes once it exists`, () => {
    const { p } = world(wide);
    // A two-page queue at 0x5000_0000 whose second page nobody has written.
    const base = 0x5000_0000n, step = wide ? 32 : 16, per = 4096 / step;
    p.core.writeRegister("IQA", base | (wide ? 1n << 11n : 0n) | 1n);
    const words: bigint[] = [];
    for (let i = 0; i < per; i++) words.push(...(wide ? [desc.iec()[0], 0n, 0n, 0n] : [desc.iec()[0], 0n]));
    p.core.writeQwords(base, words);
    p.core.writeRegister("GCMD", p.core.readRegister("GSTS") | (1n << 26n));
    const tail = BigInt(4096 + 2 * step);
    p.core.writeRegister("IQT", tail);
    assert.is(p.core.readRegister("FSTS") & FSTS_IQE, FSTS_IQE);
    assert.is(p.core.readRegister("IQERCD") & 0xfn, 2n);
    assert.is(p.core.readRegister("IQH"), 4096n);
    assert.is(counter(p, "invDescriptors"), per);
    assert.is(counter(p, "invQueueErrors"), 1);
    const wait = desc.wait(STATUS, 9);
    p.core.writeQwords(base + 4096n, wide ? [desc.iotlb(2, 1)[0], 0n, 0n, 0n, wait[0], wait[1], 0n, 0n] : [desc.iotlb(2, 1)[0], 0n, wait[0], wait[1]]);
    clearIqe(p);
    assert.is(p.core.readRegister("FSTS") & FSTS_IQE, 0n);
    assert.is(p.core.readRegister("IQH"), tail);
    assert.is(p.core.read64(STATUS), 9n);
    assert.is(counter(p, "invDescriptors"), per + 2);
    assert.is(pattern(p, groups.ss1), "MMMMMMMM");
  });
}

test("256-bit: queue error, tail not 256-bit aligned (IQT bit 4 set): IQEI 6, nothing processed", () => {
  const { p, q } = world(true);
  writeSlot(p, q, 0, desc.wait(STATUS, 5));
  p.core.writeRegister("IQT", 0x10n);
  assert.equal(q.error, { reason: 6, head: 0 });
  assert.is(p.core.read64(STATUS), undefined);
  assert.is(counter(p, "invDescriptors"), 0);
  assert.is(counter(p, "invQueueErrors"), 1);
  p.core.writeRegister("IQT", 0x20n);
  clearIqe(p);
  assert.is(q.error, undefined);
  assert.is(p.core.read64(STATUS), 5n);
  assert.is(counter(p, "invDescriptors"), 1);
});

test("128-bit: a tail at an odd 128-bit slot is fine", () => {
  const { p, q } = world(false);
  q.submit([desc.wait(STATUS, 3)]);
  assert.is(p.core.readRegister("IQT"), 0x10n);
  assert.is(q.error, undefined);
  assert.is(p.core.read64(STATUS), 3n);
});

test("256-bit: non-zero qwords 2-3 are reserved (IQEI 4)", () => {
  const { p, q } = world(true);
  p.core.writeQwords(q.base, [...desc.wait(STATUS, 5), 0n, 1n]);
  p.core.writeRegister("IQT", 0x20n);
  assert.equal(q.error, { reason: 4, head: 0 });
  assert.is(p.core.read64(STATUS), undefined);
});

test("256-bit descriptors without ECAP.SMTS: invalid descriptor width (IQEI 5)", () => {
  const p = new VtdPlatform({ build: "debug", mode: "legacy", ecap: DEFAULT_ECAP & ~(1n << 43n) });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, BASE, 0x1_0000_0000n, K4);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const q = new InvalidationQueue(p.core, p.alloc, true);
  q.submit([desc.wait(STATUS, 5)]);
  assert.is(q.error?.reason, 5);
  assert.is(p.core.read64(STATUS), undefined);
  // Software turns queued invalidation off (IQH resets), empties the queue, clears IQE and starts
  // again with 128-bit descriptors.
  p.core.writeRegister("GCMD", p.core.readRegister("GSTS") & ~(1n << 26n));
  assert.is(p.core.readRegister("IQH"), 0n);
  p.core.writeRegister("IQT", 0n);
  clearIqe(p);
  const q2 = new InvalidationQueue(p.core, p.alloc, false);
  q2.submit([desc.wait(STATUS, 6)]);
  assert.is(q2.error, undefined);
  assert.is(p.core.read64(STATUS), 6n);
});

test("PSI beyond CAP.MAMV is a reserved-field error (IQEI 4); AM = MAMV is accepted", () => {
  const { p, q } = world(true);
  const mamv = Number((p.core.getRegister("CAP") >> 48n) & 0x3fn);
  q.submit([desc.iotlb(3, 1, 0n, mamv)]);
  assert.is(q.error, undefined);
  assert.is(pattern(p, groups.ss1), "MMMMMMMM");
  q.submit([desc.iotlb(3, 1, 0n, mamv + 1)]);
  assert.is(q.error?.reason, 4);
});

test.run();
