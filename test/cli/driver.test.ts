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
import { replay, type Refusal } from "../../src/replay/replay.ts";
import { parseTraceText } from "../../src/trace/text.ts";

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

// ---------------------------------------------------------------------------------------- refusals
// Refusals as results (README "CLI", --refusals): a driver event the driver refuses is an input
// error by default; with `run --refusals results` or config.driver.refusals "results" it is a
// `refused` result line and a count in the summary, and the replay goes on unchanged.

const refusalBase = {
  arch: "vtd",
  build: {
    domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x100000", pa: "0x80000000", size: "0x4000" }] }],
    devices: [{ bdf: "00:02.0", domain: 1 }],
  },
};
const refusalTrace = [
  "@100 MRd 00:02.0 addr=0x100000",
  "@200 map 7 0x200000 0x90000000 0x1000",
  "@300 map 1 0x100000 0x90000000 0x1000",
  "@400 MRd 00:02.0 addr=0x100040",
  "@500 unmap 1 0x100000 0x1000",
  "@600 MRd 00:02.0 addr=0x100000",
];
// JSON.stringify(.., null, 2) writes arch on line 2, build on lines 3-23, "trace": [ on line 24: the
// trace's lines are lines 25..30 of the scenario file.
const FIRST_LINE = 25;

test("refusals: by default a refused event is an input error at its line and column (exit 2)", () => {
  const r = cli("run", scenarioFile({ ...refusalBase, trace: refusalTrace }), "--functional");
  assert.is(r.status, 2);
  assert.match(r.stderr, new RegExp(`s\\d+\\.json:${FIRST_LINE + 1}:6: map: no domain 7; the scenario defines 1\\n$`));
});

test("refusals: --refusals results: refused lines between the TLPs' results, counted in the summary; the replay goes on", () => {
  const f = scenarioFile({ ...refusalBase, trace: refusalTrace });
  const out = join(dir, "r.jsonl"), rep = join(dir, "r.json");
  const r = cli("run", f, "--refusals", "results", "--results", out, "--report", rep, "--functional");
  assert.is(r.status, 0, r.stderr);
  const rows = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(rows.slice(1, 3), [
    { seq: 1, event: "map", line: FIRST_LINE + 1, status: "refused", reason: "no domain 7; the scenario defines 1" },
    { seq: 1, event: "map", line: FIRST_LINE + 2, status: "refused", reason: "IOVA 0x100000 is already mapped in domain 1" },
  ]);
  // the refused map changed nothing: the page still translates to the old PA; the unmap then works
  assert.equal(rows.map((x) => [x.seq, x.status, x.pa]), [
    [0, "ok", "0x80000000"],
    [1, "refused", undefined],
    [1, "refused", undefined],
    [1, "ok", "0x80000040"],
    [2, "fault", undefined],
  ]);
  const summary = JSON.parse(readFileSync(rep, "utf8"));
  assert.equal([summary.invalidation.driver.refused, summary.invalidation.driver.maps, summary.invalidation.driver.unmaps], [2, 0, 1]);
  assert.match(r.stdout, /\n {2}refused driver events +2\n/);
});

test("refusals: config.driver.refusals is the scenario's say; --refusals replaces it; a bad value is exit 2", () => {
  const f = scenarioFile({ ...refusalBase, trace: refusalTrace, config: { driver: { refusals: "results" } } });
  assert.is(loadScenario(f).refusals, "results");
  const ok = cli("run", f, "--functional");
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /refused driver events +2/);
  const err = cli("run", f, "--functional", "--refusals", "error");
  assert.is(err.status, 2);
  assert.match(err.stderr, /map: no domain 7/);
  const bad = cli("run", f, "--refusals", "skip");
  assert.is(bad.status, 2);
  assert.is(bad.stderr, 'iommu-emu: --refusals: expected "error" or "results", got "skip"\n');
  // without refusals as results the summary has no refused count
  const plain = cli("run", scenarioFile({ ...refusalBase, trace: [refusalTrace[0]] }), "--report", join(dir, "p.json"), "--functional");
  assert.is(plain.status, 0, plain.stderr);
  assert.is(JSON.parse(readFileSync(join(dir, "p.json"), "utf8")).invalidation.driver.refused, undefined);
});

test("refusals: the library's replay: refusals go to onRefusal with the TLP count before them", () => {
  const loaded = loadScenario(scenarioFile({ ...refusalBase }));
  const got: Refusal[] = [];
  const stats = replay(loaded.platform, parseTraceText(refusalTrace.join("\n"), "t.trace"), undefined, { refusals: "results", onRefusal: (r) => got.push(r) });
  assert.equal(got, [
    { seq: 1, event: "map", line: 2, column: 6, reason: "no domain 7; the scenario defines 1" },
    { seq: 1, event: "map", line: 3, column: 6, reason: "IOVA 0x100000 is already mapped in domain 1" },
  ]);
  assert.equal([stats.tlps, stats.driverEvents, stats.refusedEvents], [3, 1, 2]);
  assert.throws(() => replay(loadScenario(scenarioFile({ ...refusalBase })).platform, parseTraceText(refusalTrace.join("\n"), "t.trace"), undefined, { file: "t.trace" }), (e: Error) => e.message === "t.trace:2:6: map: no domain 7; the scenario defines 1");
});


test.run();
