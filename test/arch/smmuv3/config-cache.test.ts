/**
 * The SMMUv3 configuration cache in the core: STEs by StreamID and CDs by (StreamID, SubstreamID)
 * (the cache slots CACHE_CONTEXT_CACHE and CACHE_PASID_CACHE), hits and misses in the counters,
 * stale use until CMD_CFGI_*, and each CFGI command's scope.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { defaultCaches } from "../../../src/config/caches.ts";
import { defaultTiming } from "../../../src/config/timing.ts";
import type { Core } from "../../../src/core/core.ts";
import type { CacheName } from "../../../src/core/abi.ts";
import { builds, smmu, writeSte, rd, writeS2Tables, s2Dword, S2_L1 } from "./helpers.ts";

const CMDQ = 0x90000n;
const CD0 = 0x0007_6205_c000_0019n;

/** A unit with only the configuration caches on, a command queue of 16, S2 and S1 STEs. */
function unit(build: (typeof builds)[number]): Core {
  const core = smmu(build, { CR0: 0xdn });
  const caches = Object.fromEntries(Object.entries(defaultCaches).map(([n, c]) => [n, { ...c, enable: n === "contextCache" || n === "pasidCache" }])) as Record<CacheName, (typeof defaultCaches)[CacheName]>;
  core.configure(caches, { ...defaultTiming, enable: false });
  core.zeroPage(CMDQ);
  core.setRegister("CMDQ_BASE", CMDQ | 4n);
  writeS2Tables(core);
  writeSte(core, 3, [0xdn, 0n, s2Dword(), S2_L1]);
  for (const p of [0x30000n, 0x31000n, 0x32000n, 0x20000n]) core.zeroPage(p);
  core.write64(0x30008n, 0x31003n);
  core.write64(0x31008n, 0x32003n);
  core.write64(0x32008n, 0x55555747n);
  core.writeQwords(0x20000n, [CD0, 0x30000n, 0n, 0xffn]);
  writeSte(core, 8, [0x20000n | 0xbn]);
  return core;
}

let prod = 0n;
function command(core: Core, d0: bigint, d1 = 0n): void {
  core.writeQwords(CMDQ + (prod & 15n) * 16n, [d0, d1]);
  prod = (prod + 1n) & 31n;
  core.writeRegister("CMDQ_PROD", prod);
}

for (const build of builds) {
  const test = suite(`smmuv3 configuration cache [${build}]`);
  test.before.each(() => {
    prod = 0n;
  });

  test("an STE is read once, then hit; counters", () => {
    const core = unit(build);
    const r = core.translate([rd(3, 0x1234_5000n), rd(3, 0x1234_5008n)]);
    assert.equal(r.map((x) => [x.status, x.reads]), [["ok", 4], ["ok", 3]]);
    const c = core.archCounters();
    assert.equal([c.config_struct_access, c.config_cache_miss], [1n, 1n]);
    const s = core.cacheStats().contextCache;
    assert.equal([s.lookups, s.hits, s.misses, s.fills], [2n, 1n, 1n, 1n]);
  });

  test("a rewritten STE is used stale until CMD_CFGI_STE; an invalid STE is never cached", () => {
    const core = unit(build);
    core.translateOne(rd(3, 0x1234_5000n));
    writeSte(core, 3, [0x1n]); // Config abort
    assert.is(core.translateOne(rd(3, 0x1234_5000n)).status, "ok");
    command(core, 0x03n | (3n << 32n), 1n); // CFGI_STE 3, Leaf
    assert.is(core.cacheStats().contextCache.invalidations, 1n);
    assert.is(core.translateOne(rd(3, 0x1234_5000n)).status, "abort");
    const bad = core.translate([rd(5, 0n), rd(5, 0n)]);
    assert.equal(bad.map((x) => [x.fault?.name, x.reads]), [["C_BAD_STE", 1], ["C_BAD_STE", 1]]);
    assert.is(core.archCounters().config_cache_miss, 4n); // first, after CFGI (the abort STE), twice SID 5
  });

  test("CDs by (StreamID, SubstreamID): CFGI_CD, CFGI_CD_ALL, CFGI_STE_RANGE and CFGI_ALL", () => {
    const core = unit(build);
    const tr = () => core.translateOne(rd(8, 0x4020_1234n));
    assert.equal([tr().reads, tr().reads], [5, 3]); // STE, CD, 3 levels; then the walk only
    const badCd = () => core.writeQwords(0x20000n, [CD0 & ~(1n << 31n)]); // V = 0
    const goodCd = () => core.writeQwords(0x20000n, [CD0]);
    badCd();
    assert.is(tr().status, "ok", "the cached CD is used");
    command(core, 0x05n | (8n << 32n) | (1n << 12n)); // CFGI_CD SSID 1: not this CD
    assert.is(tr().status, "ok");
    command(core, 0x05n | (8n << 32n)); // CFGI_CD SSID 0
    assert.is(tr().fault?.name, "C_BAD_CD");
    goodCd();
    assert.is(tr().status, "ok");
    badCd();
    command(core, 0x06n | (8n << 32n)); // CFGI_CD_ALL
    assert.is(tr().fault?.name, "C_BAD_CD");
    goodCd();
    tr();
    badCd();
    command(core, 0x04n | (12n << 32n), 1n); // CFGI_STE_RANGE Range 1: StreamIDs 12-15
    assert.is(tr().status, "ok");
    command(core, 0x04n | (10n << 32n), 1n); // StreamIDs 8-11: the STE and its CDs
    assert.is(tr().fault?.name, "C_BAD_CD");
    goodCd();
    tr();
    badCd();
    command(core, 0x04n, 31n); // CFGI_ALL
    assert.is(tr().fault?.name, "C_BAD_CD");
    assert.is(core.archCounters().cmdqErrors, 0n);
  });

  test.run();
}
