/**
 * `iommu-emu run` with the timing model: per-TLP issue/complete/latency/latencyNs, the Timing
 * section of the summary and of --report (with sparse histograms), --functional (identical
 * translations, faults and counters; no latency fields, no Timing section) and --preset.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { latencyClassNames } from "../../src/core/abi.ts";
import { latencyStats } from "../../src/report/timing.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-timing-cli-"));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8" });

const timingFields = ["issue", "complete", "latency", "latencyNs"];

const trace: string[] = [];
for (let i = 0; i < 64; i++) {
  trace.push(`@${i * 4}ns MWr 00:02.0 addr=0x${(0x100000 + (i % 16) * 0x1000 + (i % 4) * 0x40).toString(16)} len=64`);
  if (i % 8 === 3) trace.push(`MRd 00:03.0 pasid=5 addr=0x${(0x7f0000001000 + (i % 2) * 0x1000).toString(16)}`); // no time: with the line before
  if (i % 16 === 5) trace.push("MRd 00:02.0 addr=0x900000"); // unmapped: a fault
  if (i === 40) trace.push("unmap 1 0x100000 0x1000");
}
const scenario = {
  arch: "vtd",
  build: {
    domains: [
      { id: 1, type: "ss", mappings: [{ iova: "0x100000", pa: "0x80000000", size: "0x10000" }] },
      { id: 2, type: "fs", mappings: [{ iova: "0x7f0000001000", pa: "0x1a2b3c000", size: "0x2000" }] },
    ],
    devices: [
      { bdf: "00:02.0", domain: 1, paside: false },
      { bdf: "00:03.0", pasid: 5, domain: 2 },
    ],
  },
  trace,
  config: { timing: { preset: "gem5-smmuv3", clockMHz: 500 } },
};
const scnFile = join(dir, "s.json");
writeFileSync(scnFile, JSON.stringify(scenario, null, 2));

const rows = (f: string) => readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

function runBoth() {
  const timed = { results: join(dir, "t.jsonl"), report: join(dir, "t.json") };
  const functional = { results: join(dir, "f.jsonl"), report: join(dir, "f.json") };
  const t = cli("run", scnFile, "--results", timed.results, "--report", timed.report);
  const f = cli("run", scnFile, "--functional", "--results", functional.results, "--report", functional.report);
  assert.is(t.status, 0, t.stderr);
  assert.is(f.status, 0, f.stderr);
  return { t, f, timed, functional };
}
const both = runBoth();

test("timed results carry issue, complete, latency and latencyNs at the clock", () => {
  const r = rows(both.timed.results);
  assert.is(r.length, 64 + 8 + 4);
  for (const x of r) {
    for (const k of timingFields) assert.type(x[k], "number", `${k} in seq ${x.seq}`);
    assert.is(x.complete, (x.issue as number) + (x.latency as number));
    assert.is(x.latencyNs, (x.latency as number) * 2, "500 MHz: 2 ns per cycle");
    assert.ok((x.latency as number) > 0);
  }
  // @i*4 ns at 500 MHz: cycle 2i; the untimed MRd after TLP i arrives with it
  assert.equal(r.slice(0, 6).map((x) => x.issue), [0, 2, 4, 6, 6, 8]);
  assert.is(r[4]!.op, "MRd");
  for (let i = 1; i < r.length; i++) assert.ok((r[i]!.issue as number) >= (r[i - 1]!.issue as number), "arrivals never decrease");
  assert.equal(Object.keys(r[0]!).slice(-5), ["reads", ...timingFields], "the timing fields come last");
});

test("--functional gives identical translations, faults and counters, without timing fields or Timing section", () => {
  const t = rows(both.timed.results), f = rows(both.functional.results);
  const strip = (x: Record<string, unknown>) => Object.fromEntries(Object.entries(x).filter(([k]) => !timingFields.includes(k)));
  assert.equal(f, t.map(strip));
  for (const x of f) for (const k of timingFields) assert.not.ok(k in x);
  const tr = JSON.parse(readFileSync(both.timed.report, "utf8")), fr = JSON.parse(readFileSync(both.functional.report, "utf8"));
  assert.ok(tr.timing);
  assert.not.ok("timing" in fr);
  const { timing: _, host: __, ...tRest } = tr;
  const { host: ___, ...fRest } = fr;
  assert.equal(fRest, tRest);
  assert.is(fr.version, 2);
  assert.is(tr.version, 2);
  assert.match(both.t.stdout, /\nTiming \(preset gem5-smmuv3, 500 MHz, arrivals: trace times\)\n/);
  assert.not.match(both.f.stdout, /Timing/);
  const body = (s: string) => s.split("\n").filter((l) => !/^Host:|^iommu-emu run/.test(l));
  assert.equal(body(both.f.stdout), body(both.t.stdout.replace(/\nTiming [\s\S]*?(?=\nHost:)/, "")));
});

test("the report's Timing section agrees with the results and its histograms", () => {
  const t = JSON.parse(readFileSync(both.timed.report, "utf8")).timing;
  const r = rows(both.timed.results);
  assert.is(t.preset, "gem5-smmuv3");
  assert.is(t.clockMHz, 500);
  assert.is(t.arrival, "trace");
  assert.is(t.translations, r.length);
  const first = Math.min(...r.map((x) => x.issue as number)), last = Math.max(...r.map((x) => x.complete as number));
  assert.equal([t.firstArrival, t.lastCompletion, t.totalCycles], [first, last, last - first]);
  assert.is(t.totalNs, (last - first) * 2);
  assert.is(t.translationsPerCycle, r.length / (last - first));
  assert.is(t.translationsPerSecond, (r.length / (last - first)) * 500e6);
  assert.is(t.walkerSlots, 16, "gem5's ptw_slots");
  assert.is(t.walkerOccupancy, t.walkerBusyCycles / (16 * t.totalCycles));
  // sparse histograms: sorted [latency, count] pairs, the class counts, and the latencies of the results
  const all = new Map<number, number>();
  for (const name of latencyClassNames) {
    const pairs = t.histograms[name] as [number, number][];
    assert.is(pairs.reduce((a, [, c]) => a + c, 0), t.classes[name].count, name);
    for (let i = 1; i < pairs.length; i++) assert.ok(pairs[i]![0] > pairs[i - 1]![0]);
    for (const [l, c] of pairs) all.set(l, (all.get(l) ?? 0) + c);
  }
  const fromResults = new Map<number, number>();
  for (const x of r) fromResults.set(x.latency as number, (fromResults.get(x.latency as number) ?? 0) + 1);
  assert.equal([...all].sort((a, b) => a[0] - b[0]), [...fromResults].sort((a, b) => a[0] - b[0]));
  // the percentiles, from the results' own latencies (nearest rank)
  const sorted = r.map((x) => x.latency as number).sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.ceil((p / 100) * sorted.length) - 1];
  assert.equal([t.latency.p50, t.latency.p90, t.latency.p99, t.latency.max], [rank(50), rank(90), rank(99), sorted.at(-1)]);
  assert.is(t.latency.count, r.length);
  assert.is(t.classes.fault.count, r.filter((x) => x.status === "fault").length);
  assert.equal(latencyStats(t.histograms.iotlbHit, t.classes.iotlbHit.max, t.classes.iotlbHit.mean * t.classes.iotlbHit.count), t.classes.iotlbHit);
});

test("--preset replaces the scenario's preset; an unknown one is an input error", () => {
  const out = join(dir, "h.json");
  const r = cli("run", scnFile, "--preset", "hypersio", "--report", out);
  assert.is(r.status, 0, r.stderr);
  const t = JSON.parse(readFileSync(out, "utf8")).timing;
  assert.is(t.preset, "hypersio");
  assert.is(t.clockMHz, 500, "the scenario's own clock still applies");
  assert.is(t.walkerSlots, 4);
  const caches = JSON.parse(readFileSync(out, "utf8")).caches as { name: string; entries: number }[];
  assert.is(caches.find((c) => c.name === "iotlb")!.entries, 64);
  const bad = cli("run", scnFile, "--preset", "skylake", "--report", join(dir, "bad.json"));
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--preset: expected one of "vtd-default", "gem5-smmuv3", "hypersio", got "skylake"/);
  assert.not.ok(existsSync(join(dir, "bad.json")));
});

test("a bad timing key is an input error at its line and column", () => {
  const f = join(dir, "bad-timing.json");
  writeFileSync(f, JSON.stringify({ ...scenario, config: { timing: { walkerSlots: 0 } } }, null, 2));
  const r = cli("run", f);
  assert.is(r.status, 2);
  const lines = readFileSync(f, "utf8").split("\n");
  const line = lines.findIndex((l) => l.includes('"walkerSlots"')) + 1;
  const col = lines[line - 1]!.indexOf("0") + 1;
  assert.match(r.stderr, new RegExp(`bad-timing\\.json:${line}:${col}: config\\.timing\\.walkerSlots: must be 1\\.\\.4096`));
});

test("back-to-back and injectionRate arrivals reach the results", () => {
  const f = join(dir, "rate.json");
  writeFileSync(f, JSON.stringify({ ...scenario, config: { timing: { injectionRate: 0.5 } } }, null, 2));
  const out = join(dir, "rate.jsonl");
  assert.is(cli("run", f, "--results", out).status, 0);
  assert.equal(rows(out).slice(0, 5).map((x) => x.issue), [0, 2, 4, 6, 8]);
  writeFileSync(f, JSON.stringify({ ...scenario, config: { timing: { arrival: "back-to-back" } } }, null, 2));
  const r = cli("run", f, "--results", out);
  assert.is(r.status, 0);
  assert.ok(rows(out).every((x) => x.issue === 0));
  assert.match(r.stdout, /arrivals: back-to-back/);
});

test("npm start's example shows a Timing section", () => {
  const r = cli("run", "examples/vtd-sm/scenario.json");
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /\nTiming \(preset vtd-default, 1000 MHz, arrivals: trace times\)\n/);
  assert.match(r.stdout, /latency \(cycles\)\s+count\s+mean\s+p50\s+p90\s+p99\s+max\n/);
  assert.match(r.stdout, /walker occupancy\s+\d+\.\d%/);
});

test.run();
