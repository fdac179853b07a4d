/**
 * Throughput benchmarks of the core (DESIGN.md §3 "Benchmarks"): translations/s per workload.
 *
 *   npm run bench                      all cases, full timing budget
 *   npm run bench -- --quick           short budget (under a minute in all)
 *   npm run bench -- --case ss4-walk   one case (repeatable)
 *   npm run bench -- --no-native       without the native baseline
 *   npm run bench -- --paired --case A --case B [--rounds N]
 *                                      the cases interleaved, round by round, and each one's
 *                                      figure as a ratio to A's in the same rounds
 *   npm run bench -- --paired --against FILE --case A [--case B ...] [--rounds N]
 *                                      every case on build/release.wasm and on the core FILE,
 *                                      interleaved, each as a ratio to itself on FILE
 *
 * Method (shared/notes/performance.md §1, §5): each workload pre-encodes a large trace in the
 * request-ring layout once; one tinybench iteration copies it ring by ring into the request ring
 * and calls run(RING_RECORDS) for each ring, so an iteration is `records` translations and lasts
 * well over 1 ms. Translations/s = records / latency p50; min and max come from the latency max
 * and min. Timestamps come from process.hrtime (tinybench 'hrtimeNow'); tinybench's warm-up lets
 * V8 tier the core up from Liftoff before samples are taken. Before timing, a cold and a warm pass
 * are checked by the workload's check(d) against the counter deltas they produced (exact
 * identities between walk reads, structure reads and cache hits; see workloads.ts), and a sample
 * of output addresses against the mapping; a one-line counter summary of the warm pass is printed
 * (plus a line of latency classes and simulated cycles for a timed case).
 *
 * Every case is functional-only except timed-walk (the timing model on); below the table the runner
 * prints its median over that of timed-walk-functional, the same workload untimed (the cost of
 * timing), and whether it meets its goal. Those lines are printed only, not written to the JSON.
 *
 * The ingest cases (binary-ingest, text-parse) read a trace file on disk in each iteration instead
 * of copying pre-encoded records: their figure is bytes of that file per second, with `"unit":
 * "bytes/s"` in the JSON (median/min/max in bytes/s, `records` = TLPs per pass); the table shows
 * them in MB/s and a line below gives the same medians as records (translations, or parsed TLPs)
 * per second. binary-ingest is checked like iotlb-hit (counters and output addresses); text-parse
 * compares every parsed record with the binary encoding of the same requests.
 *
 * Native baseline (bench/native.ts): unless --no-native (default: on when `cc` is on PATH), the
 * runner builds bench/native/baseline.c with `cc -O3 -march=native` and runs it once before the JS
 * cases; the table's "x native" column and the JSON's `ratioToNative` give a case's median over its
 * native counterpart's figure (NATIVE_COUNTERPART), and the JSON's `native` the figures. If cc is
 * missing or fails, one line says so and the run goes on without them.
 *
 * The large-window and text-replay cases replay a trace file end to end like binary-ingest, but
 * their figure is TLPs per second (unit translations/s).
 *
 * Paired mode (--paired, two cases or more): on a shared machine a median moves 2x from one run to
 * the next, so two cases timed one after the other cannot be compared. Paired mode prepares and
 * checks every case as above, warms each with three passes, then runs --rounds rounds (default 15,
 * 5 with --quick); a round times one pass of every case, the order rotating from round to round.
 * Each case gets the median, min and max of its passes, and each case after the first the median,
 * min and max of its per-round ratio to the first case: both passes of a ratio ran seconds apart,
 * under the same load. No native baseline. Prints a table and writes bench/results/paired.json.
 *
 * With --against FILE (a core built from another commit, say, with the same ABI), every case is
 * prepared and checked twice, once on build/release.wasm and once on FILE, and the two run in the
 * same rounds: each case's ratio is its pass on build/release.wasm over its pass on FILE, so a
 * change to the core is measured in one process, under one load (one case is then enough). FILE is
 * substituted for the release core by instantiating it in place of whatever module the host asks
 * for while that side's cases are prepared (the cores are instantiated only then); the runner says
 * how many instances it substituted, and a core that fails the checks stops the run.
 *
 * Prints a table and writes bench/results/latest.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Bench } from "tinybench";
import { RING_RECORDS, latencyClassNames } from "../src/core/abi.ts";
import { NATIVE_COUNTERPART, runNativeBaseline, type NativeFigures } from "./native.ts";
import { workloads, snapshot, deltas, REQ_WORDS, type Deltas, type Prepared, type Workload } from "./workloads.ts";
import { instantiatingFrom } from "./named-core.ts";

/**
 * Where the results go: bench/results/, or the directory IOMMU_EMU_BENCH_RESULTS names (the tests'
 * runs write to a directory of their own, not over the user's results).
 */
const resultsDir = process.env.IOMMU_EMU_BENCH_RESULTS ?? fileURLToPath(new URL("./results/", import.meta.url));

/** Requests per trace unless the workload says otherwise: 64 rings (256 Ki records). */
const RECORDS = 64 * RING_RECORDS;

function die(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

const usage = "usage: npm run bench -- [--quick] [--case NAME]... [--native | --no-native] [--paired [--rounds N] [--against FILE]]";
let parsed;
try {
  parsed = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      case: { type: "string", multiple: true },
      native: { type: "boolean" },
      "no-native": { type: "boolean" },
      paired: { type: "boolean", default: false },
      rounds: { type: "string" },
      against: { type: "string" },
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
  console.log(`${usage}\ncases:\n${workloads.map((w) => `  ${w.name.padEnd(20)} ${w.description}`).join("\n")}`);
  process.exit(0);
}

if (args.native && args["no-native"]) die(`--native and --no-native contradict each other\n${usage}`);

let selected: readonly Workload[] = workloads;
if (args.case?.length) {
  const unknown = args.case.filter((n) => !workloads.some((w) => w.name === n));
  if (unknown.length) die(`unknown case ${unknown.join(", ")}; cases: ${workloads.map((w) => w.name).join(", ")}`);
  // in the order given: the first is the reference of --paired
  selected = [...new Set(args.case)].map((n) => workloads.find((w) => w.name === n)!);
}

if (args.rounds !== undefined && !args.paired) die(`--rounds goes with --paired\n${usage}`);
const rounds = args.rounds === undefined ? (args.quick ? 5 : 15) : Number(args.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 1000) die(`--rounds ${args.rounds}: expected an integer from 1 to 1000`);
if (args.against !== undefined && !args.paired) die(`--against goes with --paired\n${usage}`);
/** --against: the other core, compiled (an unreadable or invalid file stops the run here). */
let againstModule: WebAssembly.Module | null = null;
if (args.against !== undefined) {
  let bytes: Buffer;
  try {
    bytes = readFileSync(args.against);
  } catch (e) {
    die(`--against ${args.against}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    againstModule = new WebAssembly.Module(bytes);
  } catch (e) {
    die(`--against ${args.against}: expected a WebAssembly core: ${(e as Error).message}`);
  }
  // the same ABI as the release core: at least its exports (what the host calls)
  const release = new WebAssembly.Module(readFileSync(fileURLToPath(new URL("../build/release.wasm", import.meta.url))));
  // (WebAssembly.Module.exports is standard; this project's type library lacks it)
  const exportNames = (m: WebAssembly.Module) => (WebAssembly.Module as unknown as { exports(m: WebAssembly.Module): { name: string }[] }).exports(m).map((e) => e.name);
  const has = new Set(exportNames(againstModule));
  const missing = exportNames(release).filter((n) => !has.has(n));
  if (missing.length) die(`--against ${args.against}: expected a core with build/release.wasm's exports; it lacks ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}`);
  if (!args.case?.length) die(`--against needs --case: which cases to run on both cores\n${usage}`);
}
if (args.paired && againstModule === null && new Set(args.case).size < 2) die(`--paired needs two cases or more (--case A --case B ...): the first is the one the others are compared with\n${usage}`);
if (args.paired && args.native) die(`--paired runs no native baseline; drop --native\n${usage}`);

const timing = args.quick
  ? { time: 500, iterations: 8, warmupTime: 200, warmupIterations: 4 }
  : { time: 4000, iterations: 64, warmupTime: 1000, warmupIterations: 16 };

/** One pass over the trace: each ring copied into the request ring, then translated (or the ingest case's own pass). */
function makePass(w: Prepared): () => void {
  if (w.ingest) return w.ingest.pass;
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

/**
 * The correctness passes: a cold pass (caches empty) and a warm one, each checked by the workload
 * against the counters it moved; then a sample of the warm pass's output addresses (the result
 * ring holds the last ring's results) against the mapping. Throws on any problem. Returns the
 * warm pass's deltas for the counter summary.
 */
function check(name: string, w: Prepared, pass: () => void): Deltas | undefined {
  const core = w.platform.core;
  const problems: string[] = [];
  const parseOnly = w.ingest?.check;
  if (parseOnly) {
    // a parse-only case: what the pass produced, no counters
    for (const p of parseOnly()) problems.push(p);
    if (problems.length) throw new Error(`${name}: the correctness pass failed:\n  ${problems.slice(0, 40).join("\n  ")}`);
    return undefined;
  }
  let warm!: Deltas;
  for (const isWarm of [false, true]) {
    const s0 = snapshot(core);
    pass();
    const d = deltas(s0, snapshot(core), w.records, isWarm);
    for (const p of w.check(d)) problems.push(`${isWarm ? "warm" : "cold"} pass: ${p}`);
    warm = d;
  }
  const first = w.records - RING_RECORDS;
  for (let i = 0, bad = 0; i < RING_RECORDS && bad < 8; i += 61) {
    const r = core.decode(i);
    const want = w.pa(first + i);
    if (r.status !== "ok" || r.pa !== want) {
      bad++;
      problems.push(`request ${first + i}: ${r.status}${r.fault ? ` ${r.fault.name}` : ""} pa 0x${r.pa.toString(16)}, expected 0x${want.toString(16)}`);
    }
  }
  if (problems.length) throw new Error(`${name}: the correctness pass failed:\n  ${problems.slice(0, 40).join("\n  ")}${problems.length > 40 ? `\n  ... ${problems.length - 40} more` : ""}`);
  return warm;
}

/** One line of what the warm pass did: hit rates and reads per translation. */
function summary(d: Deltas): string {
  const n = Number(d.n);
  const pct = (c: { hits: bigint; lookups: bigint }) => (c.lookups === 0n ? "-" : `${((Number(c.hits) / Number(c.lookups)) * 100).toFixed(2)}%`);
  const per = (x: bigint) => (Number(x) / n).toFixed(3);
  const k = d.caches;
  const c = d.counters;
  const struct = c.rootReads + c.contextReads + c.pasidDirReads + c.pasidTableReads;
  const pwc = (pre: "pwcFs" | "pwcSs") => `${pct(k[`${pre}Pde`])}/${pct(k[`${pre}Pdpe`])}/${pct(k[`${pre}Pml4e`])}`;
  const line = `iotlb ${pct(k.iotlb)} hit (${k.iotlb.misses} misses); reads/translation fs ${per(d.fsReads)} ss ${per(d.ssReads)} structures ${per(struct)}; PWC hit PDE/PDPE/PML4E fs ${pwc("pwcFs")} ss ${pwc("pwcSs")}`;
  const t = d.timing;
  if (!t) return line;
  // Timed: each latency class's share of the pass, simulated cycles per translation (arrivals back to
  // back, so the translation and walker slots pace the pass) and hits that waited for a walk in flight.
  const classes = latencyClassNames
    .filter((c) => t.count[c] !== 0n)
    .map((c) => `${c} ${((Number(t.count[c]) / n) * 100).toFixed(1)}%`)
    .join(" ");
  return `${line}\n  timed ${t.timed}: ${classes}; ${(Number(t.cycles) / n).toFixed(1)} simulated cycles/translation, ${t.coalesced} coalesced`;
}

interface CaseResult {
  name: string;
  unit: "translations/s" | "bytes/s";
  median: number;
  min: number;
  max: number;
  records: number;
}

/** 1-minute load average before any work: another busy process skews every figure on a 2-vCPU VM. */
const loadAtStart = loadavg()[0]!;

if (args.paired) {
  await paired();
  process.exit(0);
}

// The native baseline, before any JS case (so that its figures are taken on the same quiet machine).
let native: NativeFigures | undefined;
if (!args["no-native"]) {
  const t0 = performance.now();
  const r = runNativeBaseline();
  if ("error" in r) console.log(`native baseline: skipped (${r.error}); no "x native" column`);
  else {
    native = r.figures;
    const list = Object.entries(native).map(([k, v]) => `${k} ${(v / 1e6).toFixed(2)} M/s`).join(", ");
    console.log(`native baseline (cc -O3 -march=native, ${((performance.now() - t0) / 1000).toFixed(1)} s): ${list}`);
  }
}
/** A case's median over its native counterpart's figure, when it has one and the baseline ran. */
const ratioToNative = (r: CaseResult): number | undefined => {
  const c = NATIVE_COUNTERPART[r.name];
  return native && c ? r.median / native[c] : undefined;
};

const results: CaseResult[] = [];
const ran: Workload[] = [];
const extra: { rme: number; samples: number; setupS: number; bytes: number }[] = [];

for (const wl of selected) {
  const t0 = performance.now();
  const prepared = wl.prepare(wl.records ?? RECORDS);
  const pass = makePass(prepared);
  const warm = check(wl.name, prepared, pass);
  const setupS = (performance.now() - t0) / 1000;
  console.log(`${wl.name}: ${warm ? summary(warm) : `parsed ${prepared.records} records, each as expected`}`);

  const bench = new Bench({ name: wl.name, timestampProvider: "hrtimeNow", throws: true, ...timing });
  bench.add(wl.name, pass);
  await bench.run();
  const task = bench.getTask(wl.name)!;
  const res = task.result;
  if (res.state !== "completed") throw new Error(`${wl.name}: benchmark ${res.state}${"error" in res ? `: ${String(res.error)}` : ""}`);
  const { p50, min, max, rme, samplesCount } = res.latency; // ms per pass
  // bytes/s cases count bytes of input per pass; every other case (replays included) TLPs
  const perPass = perPassOf(wl, prepared);
  const rate = (ms: number) => Math.round(perPass / (ms / 1000));
  results.push({ name: wl.name, unit: wl.unit ?? "translations/s", median: rate(p50), min: rate(max), max: rate(min), records: prepared.records });
  extra.push({ rme, samples: samplesCount, setupS, bytes: perPass });
  ran.push(wl);
}

// ---- report --------------------------------------------------------------------------------------

/** Per-pass figure of a case: records (or bytes of input) per second. */
function perPassOf(wl: Workload, prepared: Prepared): number {
  return wl.unit === "bytes/s" ? prepared.ingest!.bytes : prepared.records;
}

function med(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Prints a table with its first row as the header, columns after the first right-aligned. */
function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  console.log(line(rows[0]!));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows.slice(1)) console.log(line(row));
}

function machineLine(): void {
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} CPUs, load ${loadAtStart.toFixed(2)} at start${args.quick ? ", --quick" : ""}`);
  if (loadAtStart > Math.max(1, cpus().length - 0.5)) console.log(`note: the machine was busy before the run (1-minute load ${loadAtStart.toFixed(2)}); figures may be low`);
}

/** --paired: the selected cases interleaved round by round (see the header). */
async function paired(): Promise<void> {
  const prepare = (wl: Workload, label: string) => {
    const prepared = wl.prepare(wl.records ?? RECORDS);
    const pass = makePass(prepared);
    const warm = check(label, prepared, pass);
    console.log(`${label}: ${warm ? summary(warm) : `parsed ${prepared.records} records, each as expected`}`);
    for (let i = 0; i < 3; i++) pass();
    return { wl, label, pass, perPass: perPassOf(wl, prepared), rates: [] as number[], ref: -1 };
  };
  const cases: ReturnType<typeof prepare>[] = [];
  let substituted = 0;
  for (const wl of selected) {
    if (againstModule === null) {
      cases.push({ ...prepare(wl, wl.name), ref: cases.length === 0 ? -1 : 0 });
      continue;
    }
    const other = instantiatingFrom(againstModule, () => prepare(wl, `${wl.name} (against)`));
    substituted += other.instances;
    cases.push({ ...prepare(wl, wl.name), ref: cases.length + 1 }, other.value);
  }
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(r + k) % cases.length]!;
      const t0 = process.hrtime.bigint();
      c.pass();
      c.rates.push(c.perPass / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
  }
  const out = cases.map((c) => {
    const ref = c.ref >= 0 ? cases[c.ref]! : null;
    const ratios = ref ? c.rates.map((x, i) => x / ref.rates[i]!) : [];
    return {
      name: c.label,
      unit: c.wl.unit ?? "translations/s",
      median: Math.round(med(c.rates)),
      min: Math.round(Math.min(...c.rates)),
      max: Math.round(Math.max(...c.rates)),
      ratio: ref ? { to: ref.label, median: Number(med(ratios).toFixed(4)), min: Number(Math.min(...ratios).toFixed(4)), max: Number(Math.max(...ratios).toFixed(4)) } : undefined,
    };
  });
  machineLine();
  const reference = againstModule !== null ? `the same case on ${args.against} (against)` : cases[0]!.label;
  if (againstModule !== null) console.log(`against: ${args.against}, instantiated ${substituted} times in place of build/release.wasm`);
  console.log(`paired: ${rounds} rounds, each one pass of every case (the order rotating); ratios are per round, to ${reference}`);
  const unit = (u: string) => (u === "bytes/s" ? "MB/s" : "M/s");
  printTable([
    ["case", "median", "min", "max", "unit", "ratio: median", "min", "max"],
    ...out.map((r) => [r.name, m(r.median), m(r.min), m(r.max), unit(r.unit), r.ratio ? r.ratio.median.toFixed(3) : "1", r.ratio ? r.ratio.min.toFixed(3) : "-", r.ratio ? r.ratio.max.toFixed(3) : "-"]),
  ]);
  mkdirSync(resultsDir, { recursive: true });
  const against = againstModule !== null ? { against: args.against, substituted } : {};
  writeFileSync(join(resultsDir, "paired.json"), `${JSON.stringify({ node: process.version, cpu: cpus()[0]?.model ?? "unknown", load: Number(loadAtStart.toFixed(2)), rounds, reference, ...against, cases: out }, null, 2)}\n`);
  console.log(`wrote ${join(resultsDir, "paired.json")}`);
}

function m(x: number): string {
  return (x / 1e6).toFixed(2);
}
const unitOf = (r: CaseResult) => (r.unit === "bytes/s" ? "MB/s" : "M/s");
const nativeCell = (r: CaseResult) => {
  const x = ratioToNative(r);
  return x === undefined ? "-" : x.toFixed(3);
};
const rows = [
  ["case", "median", "min", "max", "unit", ...(native ? ["x native"] : []), "records", "rme %", "samples", "setup s"],
  ...results.map((r, i) => [r.name, m(r.median), m(r.min), m(r.max), unitOf(r), ...(native ? [nativeCell(r)] : []), String(r.records), extra[i]!.rme.toFixed(1), String(extra[i]!.samples), extra[i]!.setupS.toFixed(1)]),
];
machineLine();
printTable(rows);
// Ratios (a case over its reference case, both medians) and goals: printed, not written to the JSON.
for (const [i, wl] of ran.entries()) {
  const r = results[i]!;
  const ref = wl.relativeTo === undefined ? undefined : results.find((x) => x.name === wl.relativeTo);
  if (ref) console.log(`ratio ${r.name} / ${ref.name} (medians): ${(r.median / ref.median).toFixed(3)} (${m(r.median)} / ${m(ref.median)} M/s)`);
  if (r.unit === "bytes/s") {
    const perRecord = extra[i]!.bytes / r.records; // bytes of input per TLP
    const what = r.name === "text-parse" ? "TLP lines parsed" : "translations";
    console.log(`${r.name}: median ${(r.median / 1e9).toFixed(3)} GB/s = ${m(r.median / perRecord)} M ${what}/s (${perRecord.toFixed(1)} bytes per TLP)`);
  }
  if (wl.goal) console.log(`goal ${r.name}: median ${m(r.median)} ${unitOf(r)} ${r.median >= wl.goal.min ? "meets" : "is below"} the floor of ${m(wl.goal.min)} ${unitOf(r)} (${wl.goal.source})`);
}

mkdirSync(resultsDir, { recursive: true });
const out = {
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  ...(native ? { native } : {}),
  cases: results.map((r) => {
    const x = ratioToNative(r);
    return x === undefined ? r : { ...r, ratioToNative: Number(x.toFixed(4)) };
  }),
};
writeFileSync(join(resultsDir, "latest.json"), `${JSON.stringify(out, null, 2)}\n`);
console.log(`wrote ${join(resultsDir, "latest.json")}`);
