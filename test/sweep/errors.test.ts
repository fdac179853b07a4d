/**
 * Sweep input errors (sweep.json, options, a point whose scenario cannot be built) and merge errors:
 * exit code 2, a message naming the file, line and column and what is wrong, and no output left.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../../src/errors.ts";
import { loadSweep, parseShard } from "../../src/sweep/definition.ts";
import { planSweep, runSweep, mergeResults } from "../../src/sweep/sweep.ts";
import { makeFixture } from "./fixture.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8" });

/** The InputError `f` throws (fails if it throws nothing or something else). */
function inputError(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  assert.unreachable("expected an InputError");
  throw new Error("unreachable");
}

/** A sweep.json written as `text`, loaded: the error message. */
function sweepError(text: string): string {
  const f = makeFixture();
  writeFileSync(f.sweepFile, text);
  return inputError(() => planSweep(f.sweepFile, { out: join(f.dir, "out") })).message;
}

const base = `{
  "scenarios": ["scn/s.json"],
  "parameters": {
    "config.iotlb.entries": [16, 64]
  }
}`;

test("sweep.json: unknown keys are errors at the key, with the keys expected", () => {
  const m = sweepError(base.replace(`"parameters"`, `"paramters"`));
  assert.match(m, /sweep\.json:3:3: paramters: unknown key "paramters" \(expected "description", "scenarios", "traces", "parameters", "metrics", "chart"\)$/);
  assert.match(sweepError(`{ "scenarios": ["scn/s.json"], "chart": { "x": "a", "z": 1 } }`), /sweep\.json:1:53: chart\.z: unknown key "z" \(expected "x", "y"\)/);
});

test("sweep.json: types, empty lists, duplicates, syntax", () => {
  assert.match(sweepError(`{ "scenarios": "scn/s.json" }`), /sweep\.json:1:16: scenarios: Invalid input: expected array, received string/);
  assert.match(sweepError(`{ "scenarios": [] }`), /sweep\.json:1:16: scenarios: expected at least one scenario file/);
  assert.match(sweepError(`{ "scenarios": ["scn/s.json", "scn/s.json"] }`), /sweep\.json:1:31: scenarios\[1\]: duplicate of scenarios\[0\]/);
  assert.match(sweepError(base.replace("[16, 64]", "[]")), /sweep\.json:4:29: parameters\["config\.iotlb\.entries"\]: expected at least one value/);
  assert.match(sweepError(base.replace("[16, 64]", "[16, 64, 16]")), /sweep\.json:4:38: parameters\["config\.iotlb\.entries"\]\[2\]: duplicate value 16 \(also at \[0\]\)/);
  assert.match(sweepError(`{ "scenarios": ["scn/s.json"], }`), /sweep\.json:1:32: expected a quoted key, got "}"/);
  assert.match(sweepError(`{ "scenarios": ["scn/s.json"], "metrics": ["tlps", "hitrate"] }`), /sweep\.json:1:52: metrics\[1\]: Invalid option: expected one of "tlps"\|/);
});

test("sweep.json: parameter paths", () => {
  assert.match(sweepError(base.replace("config.iotlb.entries", "config..entries")), /sweep\.json:4:5: parameters\["config\.\.entries"\]: expected a key at character 8 of the path, got "\."/);
  assert.match(sweepError(base.replace("config.iotlb.entries", "build.domains[x]")), /parameters\["build\.domains\[x\]"\]: expected "\[N\]" or "\[\*\]" at character 14/);
  assert.match(
    sweepError(base.replace(`"config.iotlb.entries": [16, 64]`, `"config.iotlb": [{}], "config.iotlb.entries": [16]`)),
    /parameters\["config\.iotlb\.entries"\]: overlaps parameter "config\.iotlb"/,
  );
  assert.match(sweepError(base.replace("config.iotlb.entries", "build.domains[3].levels")), /sweep\.json:4:5: parameters\["build\.domains\[3\]\.levels"\]: in scn\/s\.json: build\.domains\[3\] does not exist \(build\.domains has 1 element\)/);
  assert.match(sweepError(base.replace("config.iotlb.entries", "build.domains[*].mapings[*].pageSize")), /matches nothing in the scenario/);
  assert.match(sweepError(base.replace("config.iotlb.entries", "description.x")), /description is a string, not an object/);
  assert.match(
    sweepError(`{ "scenarios": ["scn/s.json"], "traces": ["traces/a.trace"], "parameters": { "trace": ["x.trace"] } }`),
    /parameters\.trace: "traces" already sets each point's trace/,
  );
});

test("sweep.json: a value the scenario schema refuses is an error at that value, naming the point", () => {
  const m = sweepError(base.replace("[16, 64]", "[16, 66]"));
  assert.match(m, /sweep\.json:4:34: point 1 p0001 \(scn\/s\.json, config\.iotlb\.entries=66\): config\.iotlb: entries \(66\) must be a multiple of assoc \(4\)/);
  const k = sweepError(base.replace("config.iotlb.entries", "config.iotlb.entriez"));
  assert.match(k, /sweep\.json:4:30: point 0 p0000 \(scn\/s\.json, config\.iotlb\.entriez=16\): config\.iotlb\.entriez: unknown key "entriez"/);
  const p = sweepError(base.replace(`"config.iotlb.entries": [16, 64]`, `"config.iotlb.entries": [16], "config.iotlb.policy": ["lru", "mru"]`));
  assert.match(p, /sweep\.json:4:66: point 1 p0001 \(scn\/s\.json, config\.iotlb\.entries=16, config\.iotlb\.policy="mru"\): config\.iotlb\.policy: Invalid option/);
});

test("sweep.json: files that cannot be read; the scenarios' own errors keep their place", () => {
  assert.match(sweepError(`{ "scenarios": ["scn/nope.json"] }`), /sweep\.json:1:17: scenarios\[0\]: cannot read the scenario .*scn\/nope\.json \(ENOENT\)/);
  assert.match(sweepError(`{ "scenarios": ["scn/s.json"], "traces": ["t/none.trace"] }`), /sweep\.json:1:43: traces\[0\]: cannot read the trace .*t\/none\.trace \(ENOENT\)/);
  const f = makeFixture();
  writeFileSync(join(f.dir, "scn", "bad.json"), `{\n  "arch": "vtd",\n  "bogus": 1\n}\n`);
  writeFileSync(f.sweepFile, `{ "scenarios": ["scn/bad.json"] }`);
  assert.match(inputError(() => loadSweep(f.sweepFile)).message, /scn\/bad\.json:3:3: bogus: unknown key "bogus"/);
  assert.match(inputError(() => loadSweep(join(f.dir, "missing.json"))).message, /missing\.json: cannot read the sweep file \(ENOENT\)/);
});

test("chart: x must be a parameter, y among the metrics", () => {
  assert.match(sweepError(`{ "scenarios": ["scn/s.json"], "parameters": { "config.iotlb.entries": [16] }, "chart": { "x": "entries" } }`), /chart\.x: expected one of the parameters \("config\.iotlb\.entries"\), got "entries"/);
  assert.match(sweepError(`{ "scenarios": ["scn/s.json"], "metrics": ["tlps"], "chart": { "y": ["latencyP99"] } }`), /chart\.y\[0\]: "latencyP99" is not among "metrics"/);
});

test("--shard and --workers", () => {
  assert.equal(parseShard("2/8"), { index: 2, count: 8 });
  for (const bad of ["0/2", "3/2", "1/0", "a/b", "1", "1/2/3", "-1/2"]) assert.match(inputError(() => parseShard(bad)).message, /--shard: expected I\/N with 1 <= I <= N/);
  const f = makeFixture();
  const r = cli("sweep", f.sweepFile, "--workers", "two", "-o", join(f.dir, "o"));
  assert.is(r.status, 2);
  assert.match(r.stderr, /--workers: expected a positive integer, got "two"/);
  const s = cli("sweep", f.sweepFile, "--shard", "3/2", "-o", join(f.dir, "o"));
  assert.is(s.status, 2);
  assert.not.ok(existsSync(join(f.dir, "o")));
});

test("CLI: bad sweep.json exits 2 before anything is written", () => {
  const f = makeFixture();
  writeFileSync(f.sweepFile, base.replace("[16, 64]", "[16, 66]"));
  const r = cli("sweep", f.sweepFile, "-o", join(f.dir, "out"));
  assert.is(r.status, 2);
  assert.match(r.stderr, /^iommu-emu: .*sweep\.json:4:34: point 1 p0001/);
  assert.not.ok(existsSync(join(f.dir, "out")));
});

test("a point whose platform cannot be built (in a worker) fails the sweep with exit 2 and leaves nothing", async () => {
  // A 2 MiB page over a mapping that is not 2 MiB aligned: valid JSON, refused by the builder.
  const f = makeFixture({ traces: ["traces/a.trace"], parameters: { "config.iotlb.entries": [16, 32], "build.domains[0].mappings[1].iova": ["0x1000000", "0x1001000"], "build.domains[0].mappings[*].pageSize": ["2M"] } });
  const out = join(f.dir, "out");
  let err: unknown;
  try {
    await runSweep(f.sweepFile, { out, workers: 1 });
  } catch (e) {
    err = e;
  }
  assert.instance(err, InputError);
  assert.match((err as Error).message, /sweep\.json:\d+:\d+: point 1 p0001 \(scn\/s\.json, traces\/a\.trace, config\.iotlb\.entries=16, build\.domains\[0\]\.mappings\[1\]\.iova="0x1001000", build\.domains\[0\]\.mappings\[\*\]\.pageSize="2M"\): build\.domains\[0\]\.mappings\[1\]: .*aligned/);
  assert.not.ok(existsSync(out), "the output folder it created is gone");
  // An existing folder keeps what it had, and gets nothing new.
  mkdirSync(out);
  writeFileSync(join(out, "keep.txt"), "x");
  const r = cli("sweep", f.sweepFile, "-o", out);
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /point [13] p000[13] .*is not aligned/, "the first point that failed (1 or 3, whichever a worker finished first)");
  assert.equal(readdirSync(out), ["keep.txt"]);
});

// ---- merge ------------------------------------------------------------------------------------

const fx = makeFixture({ traces: ["traces/a.trace"], parameters: { "config.iotlb.entries": [16, 32, 64], "config.iotlb.policy": ["lru", "fifo"] } });
const shards = [1, 2, 3].map((i) => join(fx.dir, `shard${i}`));
const mergeError = (inputs: string[], out = join(fx.dir, "m", "merged.json")) => inputError(() => mergeResults(inputs, out)).message;

test("merge: setup, 3 shards of 6 points", async () => {
  for (let i = 0; i < 3; i++) await runSweep(fx.sweepFile, { out: shards[i]!, workers: 1, shard: { index: i + 1, count: 3 } });
  assert.is(mergeResults(shards, join(fx.dir, "ok.json")).results.points.length, 6);
});

test("merge: a missing shard names the points and the shard", () => {
  const m = mergeError([shards[0]!, shards[2]!]);
  assert.match(m, /^merge: 2 of the sweep's 6 points are missing: 1, 4; shard 2\/3 missing$/);
  assert.not.ok(existsSync(join(fx.dir, "m")), "nothing written");
  const r = cli("merge", shards[0]!, "-o", join(fx.dir, "x.json"));
  assert.is(r.status, 2);
  assert.match(r.stderr, /4 of the sweep's 6 points are missing: 1-2, 4-5; shards 2\/3, 3\/3 missing/);
});

test("merge: duplicated points (the same shard twice, overlapping shards)", () => {
  assert.match(mergeError([shards[0]!, shards[1]!, shards[0]!]), /merge: .*shard1 is given twice/);
  assert.match(mergeError([shards[0]!, shards[1]!, join(shards[0]!, "results.json")]), /shard1\/results\.json is given twice/);
  // a copy of shard 1 elsewhere, and the unsharded run next to a shard
  const copy = join(fx.dir, "copy");
  mkdirSync(copy, { recursive: true });
  writeFileSync(join(copy, "results.json"), readFileSync(join(shards[0]!, "results.json")));
  assert.match(mergeError([shards[0]!, shards[1]!, shards[2]!, copy]), /copy\/results\.json: point 0 \(p0000\) is also in .*shard1\/results\.json: the same shard given twice, or overlapping shards/);
  assert.match(mergeError([join(fx.dir, "ok.json"), shards[1]!]), /shard2\/results\.json: point 1 \(p0001\) is also in .*ok\.json/);
});

test("merge: shards of different sweeps (definition or input files changed)", async () => {
  const other = makeFixture({ traces: ["traces/a.trace"], parameters: { "config.iotlb.entries": [16, 32, 64], "config.iotlb.policy": ["lru", "plru"] } });
  const o2 = join(other.dir, "s2");
  await runSweep(other.sweepFile, { out: o2, workers: 1, shard: { index: 2, count: 3 } });
  assert.match(mergeError([shards[0]!, o2, shards[2]!]), /s2\/results\.json: belongs to a different sweep than .*shard1\/results\.json \(sweep hash sha256:/);
  // same definition, a trace file edited between the shards
  const same = makeFixture({ traces: ["traces/a.trace"], parameters: { "config.iotlb.entries": [16, 32, 64], "config.iotlb.policy": ["lru", "fifo"] } });
  writeFileSync(join(same.dir, "traces", "a.trace"), readFileSync(join(same.dir, "traces", "a.trace"), "utf8") + "MRd 00:02.0 addr=0x40\n");
  const e2 = join(same.dir, "s2");
  await runSweep(same.sweepFile, { out: e2, workers: 1, shard: { index: 2, count: 3 } });
  assert.match(mergeError([shards[0]!, e2, shards[2]!]), /belongs to a different sweep .*its scenario or trace files changed/);
});

test("merge: inputs that are not sweep results; the output name", () => {
  assert.match(mergeError([join(fx.dir, "nowhere")]), /nowhere\/results\.json: cannot read the sweep results \(ENOENT\); did that sweep or shard finish\?/);
  const bad = join(fx.dir, "bad.json");
  writeFileSync(bad, `{ "format": "something", "version": 1 }`);
  assert.match(mergeError([bad]), /bad\.json:1:13: format: expected "iommu-emu-sweep"/);
  const r = JSON.parse(readFileSync(join(shards[0]!, "results.json"), "utf8"));
  r.points[0].index = "zero";
  writeFileSync(bad, JSON.stringify(r, null, 2));
  assert.match(mergeError([bad]), /bad\.json:\d+:\d+: points\[0\]\.index: Invalid input: expected number/);
  assert.match(mergeError(shards, join(fx.dir, "merged.csv")), /-o: expected a \.json file name/);
  const c = cli("merge", "-o", join(fx.dir, "x.json"));
  assert.is(c.status, 2);
});

test.run();
