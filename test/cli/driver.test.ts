/**
 * End to end through `iommu-emu run`: a scenario whose inline trace interleaves TLPs with driver
 * events, config.driver and per-cache config, the results JSONL, the --report JSON and the printed
 * summary (caches, pcm-iio events, invalidation, stale translations); scenario and trace errors.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadScenario } from "../../src/scenario.ts";
import { InputError } from "../../src/errors.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-drv-"));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8" });
let n = 0;
function scenarioFile(s: unknown): string {
  const f = join(dir, `s${n++}.json`);
  writeFileSync(f, JSON.stringify(s, null, 2));
  return f;
}

const base = {
  arch: "vtd",
  build: {
    domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x100000", pa: "0x80000000", size: "0x4000" }] }],
    devices: [{ bdf: "00:02.0", domain: 1, ats: true }],
  },
};

const trace = [
  "@100 MRd 00:02.0 addr=0x100000",
  "@110 MRd 00:02.0 addr=0x101000 at=translated",
  "@200 unmap 1 0x100000 0x2000",
  "@300 MRd 00:02.0 addr=0x100000",
  "@310 MRd 00:02.0 addr=0x101000 at=translated",
  "@400 flush",
  "@500 MRd 00:02.0 addr=0x100000",
  "@510 map 1 0x100000 0x90000000 0x1000",
  "@600 MRd 00:02.0 addr=0x100000",
];

test("lazy mode end to end: stale results before the flush, faults after, and every new summary section", () => {
  const f = scenarioFile({ ...base, trace, config: { driver: { invalidation: "lazy", lazyBatch: 8 }, iotlb: { entries: 64, assoc: 4, policy: "fifo" }, pwcSsPml5e: { enable: false } } });
  const out = join(dir, "lazy.jsonl"), rep = join(dir, "lazy.json");
  const r = cli("run", f, "--results", out, "--report", rep);
  assert.is(r.status, 0, r.stderr);
  const rows = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.is(rows.length, 6, "one line per TLP, none for driver events");
  assert.equal(rows.map((x) => [x.seq, x.status, x.stale, x.atc]), [
    [0, "ok", undefined, undefined],
    [1, "ok", undefined, true],
    [2, "ok", true, undefined],
    [3, "ok", true, true], // the device's own device-TLB entry: removed by software, not invalidated yet
    [4, "fault", undefined, undefined],
    [5, "ok", undefined, undefined],
  ]);
  assert.is(rows[5].pa, "0x90000000");
  const s = JSON.parse(readFileSync(rep, "utf8"));
  assert.is(s.version, 2);
  assert.is(s.tlps, 6);
  assert.is(s.requests, 7, "plus the ATS request the device sent on its device-TLB miss");
  assert.equal(s.invalidation, {
    descriptors: 3,
    registerInvalidations: 0,
    waitWrites: 1,
    queueErrors: 0,
    driver: { mode: "lazy", maps: 1, unmaps: 1, invs: 0, flushes: 1, flushReasons: { batch: 0, timeout: 0, explicit: 1, end: 0 }, deferredUnmaps: 1 },
  });
  assert.equal(s.stale, { staleIotlbUses: 1, staleAtcUses: 1, atcMisses: 1 });
  const iotlb = s.caches.find((c: { name: string }) => c.name === "iotlb");
  assert.equal([iotlb.entries, iotlb.assoc, iotlb.policy], [64, 4, "fifo"]);
  assert.is(iotlb.lookups, iotlb.hits + iotlb.misses);
  assert.not.ok(s.caches.some((c: { name: string }) => c.name === "pwcSsPml5e"), "disabled caches are left out");
  assert.is(s.pcmIio["IOTLB Lookup"], iotlb.lookups);
  assert.is(s.pcmIio["IOTLB Miss"], iotlb.misses);
  assert.is(s.pcmIio["Ctxt Cache Hit"], s.caches.find((c: { name: string }) => c.name === "contextCache").hits);
  assert.is(s.pcmIio["IOMMU Mem Access"], s.walkReads.total + s.adWrites + s.invalidation.waitWrites + s.invalidation.descriptors);
  for (const name of ["256T Cache Hit", "512G Cache Hit", "1G Cache Hit", "2M Cache Hit"]) assert.type(s.pcmIio[name], "number");
  for (const h of ["Caches", "VT-d PMU events (pcm-iio names)", "IOTLB Lookup", "IOMMU Mem Access", "Invalidation (lazy mode)", "Stale translations"]) assert.ok(r.stdout.includes(h), h);
  assert.match(r.stdout, /stale IOTLB uses\s+1/);
  assert.match(r.stdout, /flushes\s+1\s+\(explicit 1\)/);
  assert.match(r.stdout, /TLPs\s+6/);
});

test("strict mode (the default) end to end: the TLP after the unmap faults", () => {
  const f = scenarioFile({ ...base, trace });
  const rep = join(dir, "strict.json");
  const r = cli("run", f, "--report", rep);
  assert.is(r.status, 0, r.stderr);
  const s = JSON.parse(readFileSync(rep, "utf8"));
  assert.is(s.invalidation.descriptors, 3, "IOTLB PSI + device-TLB + wait");
  assert.is(s.invalidation.waitWrites, 1);
  assert.equal(s.stale, { staleIotlbUses: 0, staleAtcUses: 0, atcMisses: 2 });
  assert.is(s.faults[0].name, "SSS.2");
  assert.is(s.faulted, 2);
});

test("--trace file with driver events; a driver event that cannot run exits 2 naming file:line:column", () => {
  const f = scenarioFile(base);
  const t = join(dir, "bad.trace");
  writeFileSync(t, "MRd 00:02.0 addr=0x100000\n# unmap from a domain the scenario does not define\n@5   unmap 3 0x100000 0x1000\n");
  const out = join(dir, "bad.jsonl");
  const r = cli("run", f, "--trace", t, "--results", out);
  assert.is(r.status, 2);
  assert.match(r.stderr, /bad\.trace:3:6: unmap: no domain 3; the scenario defines 1/);
  assert.not.ok(existsSync(out));
  const bad = join(dir, "bad2.trace");
  writeFileSync(bad, "inv iotlb psi did=1 addr=0x1000 am=1\n");
  const r2 = cli("run", f, "--trace", bad);
  assert.is(r2.status, 2);
  assert.match(r2.stderr, /bad2\.trace:1:21: addr 0x1000 is not aligned to 2\^1 pages \(0x2000 bytes\)/);
});

test("inline traces are checked for time order like files", () => {
  const f = scenarioFile({ ...base, trace: ["@10 MRd 00:02.0 addr=0x100000", "@5 flush"] });
  const r = cli("run", f);
  assert.is(r.status, 2);
  assert.match(r.stderr, /timestamp @5 is earlier than @10/);
});

test("scenario config: driver and cache keys are validated with their path", () => {
  const errorOf = (config: unknown) => {
    try {
      loadScenario(scenarioFile({ arch: "vtd", config }));
    } catch (e) {
      if (e instanceof InputError) return e.message;
      throw e;
    }
    return "no error";
  };
  assert.match(errorOf({ driver: { invalidation: "eager" } }), /config\.driver\.invalidation: /);
  assert.match(errorOf({ driver: { lazyBatch: 0 } }), /config\.driver\.lazyBatch: /);
  assert.match(errorOf({ driver: { lazyTimeout: 5 } }), /config\.driver\.lazyTimeout: unknown key "lazyTimeout"/);
  assert.match(errorOf({ iotlb: { entries: 100, assoc: 8 } }), /:\d+:\d+: config\.iotlb: entries \(100\) must be a multiple of assoc \(8\)/);
  assert.match(errorOf({ contextCache: { assoc: 3, policy: "plru", entries: 12 } }), /config\.contextCache: tree pseudo-LRU needs a power-of-two number of ways, not 3$/);
  assert.match(errorOf({ iotlb: { ways: 4 } }), /config\.iotlb\.ways: unknown key "ways"/);
  assert.match(errorOf({ deviceTlb: { policy: "mru" } }), /config\.deviceTlb\.policy: /);
  const s = loadScenario(scenarioFile({ arch: "vtd", config: { driver: { invalidation: "lazy", lazyTimeoutCycles: 0 }, iotlb: { entries: 16, assoc: 0, policy: "plru" }, pasidCache: { enable: false } } }));
  assert.equal(s.driver, { invalidation: "lazy", lazyBatch: 256, lazyTimeoutCycles: 0 });
  assert.equal(s.platform.caches.iotlb, { entries: 16, assoc: 0, policy: "plru", enable: true, latencyCycles: 2, ports: 2 });
  assert.is(s.platform.caches.pasidCache.enable, false);
  assert.equal(s.platform.caches.contextCache, { entries: 64, assoc: 4, policy: "lru", enable: true, latencyCycles: 2, ports: 1 });
});

test.run();
