/**
 * `config.timing` and the cache timing keys in a scenario: strict keys, ranges checked by
 * resolveTiming with the error at the key's path, line and column; the preset's values apply under
 * the scenario's own keys; --preset replaces the scenario's preset; the catalogue covers every knob.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadScenario, parseScenario } from "../../src/scenario.ts";
import { InputError } from "../../src/errors.ts";
import { parameterCatalogue } from "../../src/config/schema.ts";
import { defaultTiming, presets, presetNames, type TimingConfig } from "../../src/config/timing.ts";
import { defaultCaches } from "../../src/config/caches.ts";
import { cacheNames } from "../../src/core/abi.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-timing-cfg-"));
let n = 0;
function file(obj: unknown): string {
  const f = join(dir, `s${n++}.json`);
  writeFileSync(f, JSON.stringify(obj, null, 2));
  return f;
}

/** The InputError message for `config` (pretty-printed, so every key has its own line). */
function errorOf(config: unknown, opts: Parameters<typeof parseScenario>[2] = {}): string {
  const text = JSON.stringify({ arch: "vtd", config }, null, 2);
  try {
    parseScenario(text, "t.json", opts);
  } catch (e) {
    if (e instanceof InputError) return e.message;
    throw e;
  }
  return "no error";
}

/** Line (1-based) and column of the first occurrence of `needle` in the pretty-printed scenario. */
function where(config: unknown, needle: string): string {
  const lines = JSON.stringify({ arch: "vtd", config }, null, 2).split("\n");
  const i = lines.findIndex((l) => l.includes(needle));
  return `${i + 1}:${lines[i]!.indexOf(needle) + 1}`;
}

test("timing ranges are checked by resolveTiming and reported at the key's path, line and column", () => {
  const c1 = { timing: { walkerSlots: 0 } };
  assert.is(errorOf(c1), `t.json:${where(c1, "0")}: config.timing.walkerSlots: must be 1..4096`);
  const c2 = { timing: { clockMHz: 0 } };
  assert.is(errorOf(c2), `t.json:${where(c2, "0")}: config.timing.clockMHz: must be positive`);
  assert.match(errorOf({ timing: { translationSlots: 5000 } }), /config\.timing\.translationSlots: must be 1\.\.4096$/);
  assert.match(errorOf({ timing: { structureReadLatencyCycles: 1.5 } }), /config\.timing\.structureReadLatencyCycles: must be an integer 0\.\.4294967295$/);
  assert.match(errorOf({ timing: { injectionRate: -1 } }), /config\.timing\.injectionRate: must be >= 0/);
  assert.match(errorOf({ timing: { readLatencyCycles: -5 } }), /config\.timing\.readLatencyCycles: must be an integer 0\.\.4294967295$/);
  // an element of the per-level array: the path names the index, the position is the element's
  const c3 = { timing: { readLatencyCycles: [100, 100, -1, 100, 100] } };
  assert.is(errorOf(c3), `t.json:${where(c3, "-1")}: config.timing.readLatencyCycles[2]: must be an integer 0..4294967295`);
  assert.match(errorOf({ timing: { readLatencyCycles: [1, 2, 3] } }), /config\.timing\.readLatencyCycles: must be one number of cycles or 5 of them/);
  assert.match(errorOf({ timing: { readLatencyCycles: "100" } }), /config\.timing\.readLatencyCycles: expected a number of cycles, or an array of 5/);
});

test("timing keys are strict: unknown keys, wrong types and unknown presets name their path", () => {
  const c = { timing: { walkers: 4 } };
  assert.is(errorOf(c), `t.json:${where(c, '"walkers"')}: config.timing.walkers: unknown key "walkers"`);
  assert.match(errorOf({ timing: { arrival: "poisson" } }), /config\.timing\.arrival: /);
  assert.match(errorOf({ timing: { completionOrder: "fifo" } }), /config\.timing\.completionOrder: /);
  assert.match(errorOf({ timing: { coalesce: 1 } }), /config\.timing\.coalesce: /);
  assert.match(errorOf({ timing: { clockMHz: "1GHz" } }), /config\.timing\.clockMHz: /);
  assert.match(errorOf({ timing: { preset: "gem6" } }), /config\.timing\.preset: expected one of "vtd-default" \| "gem5-smmuv3" \| "hypersio"/);
});

test("cache latencyCycles and ports are validated per cache key", () => {
  const c = { iotlb: { ports: 0 } };
  assert.match(errorOf(c), new RegExp(`^t\\.json:${where(c, "0")}: config\\.iotlb\\.ports: `));
  assert.match(errorOf({ pwcSsPde: { ports: 17 } }), /config\.pwcSsPde\.ports: /);
  assert.match(errorOf({ contextCache: { latencyCycles: -1 } }), /config\.contextCache\.latencyCycles: /);
  assert.match(errorOf({ deviceTlb: { latencyCycles: 2.5 } }), /config\.deviceTlb\.latencyCycles: /);
  assert.is(errorOf({ iotlb: { latencyCycles: 0, ports: 16 } }), "no error");
});

test("every scenario key is accepted and reaches the platform", () => {
  const timing: Partial<TimingConfig> = {
    enable: true,
    clockMHz: 1500,
    walkerSlots: 2,
    translationSlots: 8,
    coalesce: false,
    completionOrder: "out-of-order",
    structureReadLatencyCycles: 31,
    readLatencyCycles: [1, 2, 3, 4, 5],
    adWriteLatencyCycles: 7,
    invDescriptorFetchCycles: 11,
    invPerEntryCycles: 2,
    invWaitCycles: 13,
    linkLatencyCycles: 17,
    arrival: "back-to-back",
    injectionRate: 0.25,
  };
  assert.equal(Object.keys(timing).sort(), Object.keys(defaultTiming).sort(), "the test names every TimingConfig key");
  const s = loadScenario(file({ arch: "vtd", config: { timing, iotlb: { latencyCycles: 9, ports: 4 } } }));
  assert.equal(s.platform.timing, { ...defaultTiming, ...timing });
  assert.is(s.platform.preset, "vtd-default");
  assert.equal(s.platform.caches.iotlb, { ...defaultCaches.iotlb, latencyCycles: 9, ports: 4 });
});

test("a preset's cache and timing values apply under the scenario's own keys", () => {
  const g = loadScenario(file({ arch: "vtd", config: { timing: { preset: "gem5-smmuv3", walkerSlots: 2 }, iotlb: { latencyCycles: 9 }, pwcSsPde: { entries: 96 } } }));
  assert.is(g.platform.preset, "gem5-smmuv3");
  assert.equal(g.platform.caches.iotlb, { entries: 2048, assoc: 4, policy: "round-robin", enable: true, latencyCycles: 9, ports: 3 });
  assert.equal(g.platform.caches.pwcSsPde, { entries: 96, assoc: 4, policy: "round-robin", enable: true, latencyCycles: 4, ports: 4 });
  assert.is(g.platform.timing.walkerSlots, 2, "the scenario's key wins");
  assert.is(g.platform.timing.translationSlots, 64, "the preset's value");
  const h = loadScenario(file({ arch: "vtd", config: { timing: { preset: "hypersio" } } }));
  assert.is(h.platform.timing.readLatencyCycles, 50);
  assert.equal(h.platform.caches.contextCache, { entries: 1536, assoc: 16, policy: "lru", enable: true, latencyCycles: 1, ports: 1 });
});

test("cache geometry is checked with the preset in force, and --preset replaces the scenario's", () => {
  // 512 ways: more than the default IOTLB's 128 entries, a quarter of gem5's 2048
  assert.match(errorOf({ iotlb: { assoc: 512 } }), /config\.iotlb: entries \(128\) must be a multiple of assoc \(512\)$/);
  const withGem5 = { timing: { preset: "gem5-smmuv3" }, iotlb: { assoc: 512 } };
  assert.is(errorOf(withGem5), "no error");
  assert.match(errorOf(withGem5, { preset: "hypersio" }), /config\.iotlb: entries \(64\) must be a multiple of assoc \(512\) \(with --preset hypersio\)$/);
  const s = loadScenario(file({ arch: "vtd", config: { timing: { preset: "gem5-smmuv3", clockMHz: 2000 } } }), { preset: "hypersio" });
  assert.is(s.platform.preset, "hypersio");
  assert.is(s.platform.caches.iotlb.entries, 64);
  assert.is(s.platform.timing.clockMHz, 2000, "the scenario's own timing keys still apply over the replacing preset");
});

test("functional: --functional or timing.enable false turn the model off, keeping the clock and arrival mode", () => {
  const f = file({ arch: "vtd", config: { timing: { clockMHz: 500, arrival: "back-to-back" } } });
  const s = loadScenario(f, { functional: true });
  assert.is(s.platform.timing.enable, false);
  assert.is(s.platform.timing.clockMHz, 500);
  assert.is(s.platform.timing.arrival, "back-to-back");
  assert.is(s.platform.core.timingStats(), undefined);
  const off = loadScenario(file({ arch: "vtd", config: { timing: { enable: false } } }));
  assert.is(off.platform.timing.enable, false);
  assert.ok(loadScenario(f).platform.timing.enable);
});

test("the catalogue has a documented row for every timing key, the preset and each cache's latency and ports", () => {
  for (const k of [...Object.keys(defaultTiming), "preset"]) assert.ok(parameterCatalogue[`timing.${k}`], `timing.${k}`);
  for (const [k, v] of Object.entries(defaultTiming)) assert.equal(parameterCatalogue[`timing.${k}`]!.default, v, `timing.${k} default`);
  for (const name of cacheNames) {
    assert.is(parameterCatalogue[`${name}.latencyCycles`]!.default, defaultCaches[name].latencyCycles);
    assert.is(parameterCatalogue[`${name}.ports`]!.default, defaultCaches[name].ports);
  }
  for (const [k, p] of Object.entries(parameterCatalogue)) {
    assert.ok(p.type && p.doc, k);
    assert.not.match(p.doc, /\n/, `${k}: one line`);
  }
  for (const name of presetNames) assert.ok(parameterCatalogue["timing.preset"]!.type.includes(`"${name}"`));
  for (const p of Object.values(presets)) assert.ok(p.doc.length > 0);
});

test.run();
