/**
 * Throughput benchmarks of the core (DESIGN.md §3 "Benchmarks"): translations/s per workload.
 *
 *   npm run bench                      all cases, full timing budget
 *   npm run bench -- --quick           short budget (under a minute in all)
 *   npm run bench -- --case ss4-walk   one case (repeatable)
 *
 * Method (shared/notes/performance.md §1, §5): each workload pre-encodes a large trace in the
 * request-ring layout once; one tinybench iteration copies it ring by ring into the request ring
 * and calls run(RING_RECORDS) for each ring, so an iteration is `records` translations and lasts
 * well over 1 ms. Translations/s = records / latency p50; min and max come from the latency max
 * and min. Timestamps come from process.hrtime (tinybench 'hrtimeNow'); tinybench's warm-up lets
 * V8 tier the core up from Liftoff before samples are taken. Before timing, one pass is checked
 * against the workload's expected counters and a sample of output addresses.
 *
 * Prints a table and writes bench/results/latest.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Bench } from "tinybench";
import { RING_RECORDS } from "../src/core/abi.ts";
import { workloads, REQ_WORDS, type Prepared, type Workload } from "./workloads.ts";

/** Requests per trace: 64 rings (256 Ki records). */
const RECORDS = 64 * RING_RECORDS;

function die(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

const usage = "usage: npm run bench -- [--quick] [--case NAME]...";
let parsed;
try {
  parsed = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      case: { type: "string", multiple: true },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
} catch (e) {
  die(`${(e as Error).message}\n${usage}`);
}
const args = parsed.values;

if (args.help) {
  console.log(`${usage}\ncases:\n${workloads.map((w) => `  ${w.name.padEnd(14)} ${w.description}`).join("\n")}`);
  process.exit(0);
}

let selected: readonly Workload[] = workloads;
if (args.case?.length) {
  const unknown = args.case.filter((n) => !workloads.some((w) => w.name === n));
  if (unknown.length) die(`unknown case ${unknown.join(", ")}; cases: ${workloads.map((w) => w.name).join(", ")}`);
  selected = workloads.filter((w) => args.case!.includes(w.name));
}

const timing = args.quick
  ? { time: 500, iterations: 8, warmupTime: 200, warmupIterations: 4 }
  : { time: 4000, iterations: 64, warmupTime: 1000, warmupIterations: 16 };

/** One pass over the trace: each ring copied into the request ring, then translated. */
function makePass(w: Prepared): () => void {
  const core = w.platform.core;
  const chunks: Uint32Array[] = [];
  for (let at = 0; at < w.records; at += RING_RECORDS) chunks.push(w.requests.subarray(at * REQ_WORDS, (at + RING_RECORDS) * REQ_WORDS));
  return () => {
    const ring = core.requestWords();
    for (const chunk of chunks) {
      ring.set(chunk);
      core.run(RING_RECORDS);
    }
  };
}

const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);

/** Runs one pass and checks the counters it moved and a sample of output addresses; throws otherwise. */
function check(name: string, w: Prepared, pass: () => void): void {
  const core = w.platform.core;
  const c0 = core.counters(), r0 = core.walkReads();
  pass();
  const c1 = core.counters(), r1 = core.walkReads();
  const n = BigInt(w.records);
  const delta = (k: keyof typeof c0) => c1[k] - c0[k];
  const fs = sum(r1.fs) - sum(r0.fs), ss = sum(r1.ss) - sum(r0.ss);
  const wantFs = n * BigInt(w.expect.fsReadsPerRequest), wantSs = n * BigInt(w.expect.ssReadsPerRequest);
  const problems: string[] = [];
  if (delta("requests") !== n) problems.push(`requests ${delta("requests")}, expected ${n}`);
  if (delta("translated") !== n) problems.push(`translated ${delta("translated")}, expected ${n}`);
  for (const k of ["faulted", "interrupts", "blocked", "adWrites"] as const) if (delta(k) !== 0n) problems.push(`${k} ${delta(k)}, expected 0`);
  if (fs !== wantFs) problems.push(`first-stage walk reads ${fs}, expected ${wantFs} (${w.expect.fsReadsPerRequest} per request)`);
  if (ss !== wantSs) problems.push(`second-stage walk reads ${ss}, expected ${wantSs} (${w.expect.ssReadsPerRequest} per request)`);
  // The result ring holds the last ring's results: compare a sample with the mapping.
  const first = w.records - RING_RECORDS;
  for (let i = 0; i < RING_RECORDS && problems.length < 8; i += 61) {
    const r = core.decode(i);
    const want = w.expect.pa(first + i);
    if (r.status !== "ok" || r.pa !== want)
      problems.push(`request ${first + i}: ${r.status}${r.fault ? ` ${r.fault.name}` : ""} pa 0x${r.pa.toString(16)}, expected 0x${want.toString(16)}`);
  }
  if (problems.length) throw new Error(`${name}: the correctness pass failed:\n  ${problems.join("\n  ")}`);
}

interface CaseResult {
  name: string;
  unit: "translations/s";
  median: number;
  min: number;
  max: number;
  records: number;
}

/** 1-minute load average before any work: another busy process skews every figure on a 2-vCPU VM. */
const loadAtStart = loadavg()[0]!;

const results: CaseResult[] = [];
const extra: { rme: number; samples: number; setupS: number }[] = [];

for (const wl of selected) {
  const t0 = performance.now();
  const prepared = wl.prepare(RECORDS);
  const pass = makePass(prepared);
  check(wl.name, prepared, pass);
  const setupS = (performance.now() - t0) / 1000;

  const bench = new Bench({ name: wl.name, timestampProvider: "hrtimeNow", throws: true, ...timing });
  bench.add(wl.name, pass);
  await bench.run();
  const task = bench.getTask(wl.name)!;
  const res = task.result;
  if (res.state !== "completed") throw new Error(`${wl.name}: benchmark ${res.state}${"error" in res ? `: ${String(res.error)}` : ""}`);
  const { p50, min, max, rme, samplesCount } = res.latency; // ms per pass
  const rate = (ms: number) => Math.round(prepared.records / (ms / 1000));
  results.push({ name: wl.name, unit: "translations/s", median: rate(p50), min: rate(max), max: rate(min), records: prepared.records });
  extra.push({ rme, samples: samplesCount, setupS });
}

// ---- report --------------------------------------------------------------------------------------

const m = (x: number) => (x / 1e6).toFixed(2);
const rows = [
  ["case", "median M/s", "min M/s", "max M/s", "records", "rme %", "samples", "setup s"],
  ...results.map((r, i) => [r.name, m(r.median), m(r.min), m(r.max), String(r.records), extra[i]!.rme.toFixed(1), String(extra[i]!.samples), extra[i]!.setupS.toFixed(1)]),
];
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
console.log(`node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} CPUs, load ${loadAtStart.toFixed(2)} at start${args.quick ? ", --quick" : ""}`);
if (loadAtStart > Math.max(1, cpus().length - 0.5)) console.log(`note: the machine was busy before the run (1-minute load ${loadAtStart.toFixed(2)}); figures may be low`);
console.log(line(rows[0]!));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const row of rows.slice(1)) console.log(line(row));

const dir = fileURLToPath(new URL("./results/", import.meta.url));
mkdirSync(dir, { recursive: true });
const out = { node: process.version, cpu: cpus()[0]?.model ?? "unknown", cases: results };
writeFileSync(`${dir}latest.json`, `${JSON.stringify(out, null, 2)}\n`);
console.log(`wrote ${fileURLToPath(new URL("./results/latest.json", import.meta.url))}`);
