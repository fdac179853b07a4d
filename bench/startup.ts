/**
 * The `cli-startup` case: how long `iommu-emu --help` takes from the compiled package, measured as
 * a user runs it, one process after another (README "Benchmarks"; issue 12 sets a floor of 150 ms).
 *
 *   npm run bench:startup            builds dist/ (npm run build:dist), then 3 warm-up and 30 timed runs
 *   npm run bench:startup -- --runs 100
 *
 * Each run spawns `node bin/iommu-emu.mjs --help` with IOMMU_EMU_DIST=1, so that the bin runs
 * dist/ as in the installed package even in a clone, and waits for it to exit; the figure is the
 * wall time from spawn to exit. `node -e 0` is timed the same way, interleaved, as the floor that
 * Node itself sets on this machine; `--version` too. Writes bench/results/startup.json.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const FLOOR_MS = 150;
const root = fileURLToPath(new URL("../", import.meta.url));
const bin = fileURLToPath(new URL("../bin/iommu-emu.mjs", import.meta.url));

function die(message: string): never {
  console.error(`bench:startup: ${message}`);
  process.exit(2);
}

let runs = 30;
try {
  const { values } = parseArgs({ options: { runs: { type: "string" } }, strict: true });
  if (values.runs !== undefined) {
    runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1) die(`--runs: expected a positive integer, got "${values.runs}"`);
  }
} catch (e) {
  die(`${(e as Error).message}\nusage: npm run bench:startup -- [--runs N]`);
}
if (!existsSync(new URL("../dist/cli.js", import.meta.url))) die("dist/ is not built: run npm run build:dist (npm run bench:startup does)");

const env = { ...process.env, IOMMU_EMU_DIST: "1" };
const cases = [
  { name: "cli-startup", what: "iommu-emu --help (dist/)", args: [bin, "--help"], floor: FLOOR_MS },
  { name: "cli-version", what: "iommu-emu --version (dist/)", args: [bin, "--version"] },
  { name: "node-baseline", what: "node -e 0 (Node's own start-up)", args: ["-e", "0"] },
] as const;

/** Wall milliseconds of one run; fails the benchmark if the command does. */
function once(args: readonly string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: root, env, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) die(`node ${args.join(" ")} exited ${r.status ?? r.signal}: ${r.stderr}`);
  return ms;
}

const loadAtStart = loadavg()[0]!;
for (let i = 0; i < 3; i++) for (const c of cases) once(c.args);
const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
for (let i = 0; i < runs; i++) for (const c of cases) samples.get(c.name)!.push(once(c.args));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const results = cases.map((c) => {
  const xs = samples.get(c.name)!;
  return { name: c.name, what: c.what, unit: "ms", median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs };
});

console.log(`node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} CPUs, load ${loadAtStart.toFixed(2)} at start, ${runs} runs each`);
if (loadAtStart > Math.max(1, cpus().length - 0.5)) console.log(`note: the machine was busy before the run (1-minute load ${loadAtStart.toFixed(2)}); figures may be high`);
const width = Math.max(...results.map((r) => r.name.length));
for (const r of results) console.log(`${r.name.padEnd(width)}  median ${r.median.toFixed(1)} ms  min ${r.min.toFixed(1)}  max ${r.max.toFixed(1)}  ${r.what}`);
const startup = results[0]!;
const node = results[2]!;
console.log(`goal cli-startup: median ${startup.median.toFixed(1)} ms ${startup.median <= FLOOR_MS ? "meets" : "is above"} the floor of ${FLOOR_MS} ms (issue 12); ${(startup.median - node.median).toFixed(1)} ms over node -e 0`);

const dir = fileURLToPath(new URL("./results/", import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}startup.json`, `${JSON.stringify({ node: process.version, cpu: cpus()[0]?.model ?? "unknown", load: loadAtStart, cases: results }, null, 2)}\n`);
console.log(`wrote ${dir}startup.json`);
