/**
 * Where V8 spends the time of a bench case, per wasm function of the release core, in nanoseconds
 * per translation: the wall-clock counterpart of bench/instructions.ts (whose native counts rank the
 * changes to one path, but do not say how V8 weighs one path against another: a table read that
 * hits in the host's caches costs far less time than its instructions suggest). Not part of CI or
 * of `npm run bench`.
 *
 *   node --import tsx bench/profile.ts [--case NAME]... [--seconds S] [--top K] [--dir DIR]
 *
 * Defaults: the cases ss4-walk and ss4-walk-nopwc, 6 seconds of passes each, the 8 costliest
 * functions, DIR /tmp/iommu-emu-profile. Build the cores first (`npm run build:cores`).
 *
 * How:
 *   1. The release core is rebuilt with function names (bench/named-core.ts: byte-identical code,
 *      checked).
 *   2. For each case, a child node runs under `node --prof` (V8's sampling profiler, one sample
 *      per millisecond) in a folder of its own: it loads the named core in place of
 *      build/release.wasm (same code), prepares the workload of bench/workloads.ts, runs three
 *      warm passes, then passes for S seconds, and says how many translations it made in all.
 *   3. `node --prof-process` turns the log into ticks per function; a function's figure is its
 *      ticks x 1 ms / the translations. The samples cover the whole child, preparation included:
 *      memRead and memWrite are the host building the tables, not the passes.
 * Statistical: two runs of a case differ by 10 to 20 % per function on this machine; compare
 * shares within one run, or cases in one invocation.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildNamedCore, instantiatingFrom } from "./named-core.ts";
import { workloads, REQ_WORDS } from "./workloads.ts";
import { RING_RECORDS } from "../src/core/abi.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEFAULT_CASES = ["ss4-walk", "ss4-walk-nopwc"];
const INTERVAL_US = 1000;
const usage = "usage: node --import tsx bench/profile.ts [--case NAME]... [--seconds S] [--top K] [--dir DIR]";

function die(message: string): never {
  console.error(`bench/profile: ${message}`);
  process.exit(2);
}

function parse() {
  try {
    return parseArgs({
      options: {
        case: { type: "string", multiple: true },
        seconds: { type: "string", default: "6" },
        top: { type: "string", default: "8" },
        dir: { type: "string", default: "/tmp/iommu-emu-profile" },
        child: { type: "string" }, // internal: the profiled child's case
        named: { type: "string" }, // internal: the named core the child loads
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    die(`${(e as Error).message}\n${usage}`);
  }
}
const args = parse();
const seconds = Number(args.seconds);
if (!(seconds >= 1 && seconds <= 600)) die(`--seconds ${args.seconds}: expected a number from 1 to 600`);

if (args.child !== undefined) {
  child(args.child, args.named!, seconds);
} else {
  const cases = args.case?.length ? args.case : DEFAULT_CASES;
  for (const c of cases) if (!workloads.some((w) => w.name === c && !w.records)) die(`--case ${c}: expected a translation case of bench/workloads.ts with the default trace length (${DEFAULT_CASES.join(", ")}, ...)`);
  const top = Number(args.top);
  if (!Number.isInteger(top) || top < 1) die(`--top ${args.top}: expected a whole number from 1`);
  const dir = args.dir!;
  mkdirSync(dir, { recursive: true });
  const named = buildNamedCore(dir, false, die).path;
  for (const name of cases) profile(name, named, dir, top);
}

/** Step 2, in the child: the named core in place of the release one, the passes, the count. */
function child(name: string, named: string, secs: number): void {
  const w = workloads.find((x) => x.name === name)!;
  const p = instantiatingFrom(new WebAssembly.Module(readFileSync(named)), () => w.prepare(64 * RING_RECORDS)).value;
  const core = p.platform.core;
  const pass = () => {
    for (let at = 0; at < p.records; at += RING_RECORDS) {
      core.requestWords().set(p.requests.subarray(at * REQ_WORDS, (at + RING_RECORDS) * REQ_WORDS));
      core.run(RING_RECORDS);
    }
  };
  const WARM = 3;
  for (let i = 0; i < WARM; i++) pass();
  let timed = 0;
  const t0 = performance.now();
  for (; performance.now() - t0 < secs * 1000; timed++) pass();
  // all the translations the samples cover, and those of the timed passes
  console.log(JSON.stringify({ translations: (WARM + timed) * p.records, timed: timed * p.records, seconds: (performance.now() - t0) / 1000 }));
}

/** Steps 2 and 3 for one case, from the parent. */
function profile(name: string, named: string, dir: string, top: number): void {
  const at = join(dir, name);
  rmSync(at, { recursive: true, force: true });
  mkdirSync(at);
  let out: string;
  try {
    out = execFileSync(process.execPath, ["--prof", `--prof-sampling-interval=${INTERVAL_US}`, "--import", import.meta.resolve("tsx"), join(ROOT, "bench/profile.ts"), "--child", name, "--named", named, "--seconds", String(args.seconds)], { cwd: at, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    die(`${name}: the profiled run failed: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
  }
  const { translations, timed, seconds: secs } = JSON.parse(out.trim().split("\n").pop()!) as { translations: number; timed: number; seconds: number };
  // node --import tsx runs the loader in a second isolate: the core's ticks are in the log that names it
  let ticks: Map<string, number> | undefined;
  let total = 0;
  for (const log of readdirSync(at).filter((f) => f.startsWith("isolate-") && f.endsWith(".log"))) {
    const text = execFileSync(process.execPath, ["--prof-process", join(at, log)], { cwd: at, encoding: "utf8", maxBuffer: 256 << 20, stdio: ["ignore", "pipe", "pipe"] });
    const js = text.slice(text.indexOf("[JavaScript]:"), text.indexOf("[C++]:"));
    const found = new Map<string, number>();
    for (const m of js.matchAll(/^\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+JS: [*~^+]?(assembly\/\S+)/gm)) found.set(m[2]!, (found.get(m[2]!) ?? 0) + Number(m[1]));
    if (found.size) {
      ticks = found;
      total = Number(/\((\d+) ticks,/.exec(text)?.[1] ?? 0);
    }
  }
  if (!ticks) die(`${name}: no wasm function of the core in the profile logs of ${at}`);
  const ns = (t: number) => (t * INTERVAL_US * 1000) / translations;
  const rows = [...ticks].sort((a, b) => b[1] - a[1]);
  const wasm = rows.reduce((s, r) => s + r[1], 0);
  console.log(`${name.padEnd(18)} ${((secs * 1e9) / timed).toFixed(0).padStart(5)} ns per translation of the timed passes; ${ns(wasm).toFixed(0)} ns in the core's functions, ${ns(total - wasm).toFixed(0)} elsewhere (samples of the whole child: ${total}; ${translations} translations)`);
  for (const [fn, t] of rows.slice(0, top)) console.log(`    ${ns(t).toFixed(1).padStart(7)} ns  ${((t / wasm) * 100).toFixed(1).padStart(5)} %  ${fn}`);
}
