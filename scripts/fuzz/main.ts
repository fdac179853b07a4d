/**
 * `npm run fuzz -- [--target core|parsers|driver|scenario|all|NAME] [--cases N] [--seed S]
 * [--out DIR] [--hang SECONDS]`: runs fuzz campaigns (README "Fuzzing"). Each target runs in a
 * worker thread, one after the other; a watchdog ends a worker whose case makes no progress for
 * --hang seconds (a loop in the core) and regenerates that case from its seed and run index.
 * Prints the runs, elementary cases and seconds of each target, and every failure; writes each
 * failure (shrunk by fast-check) as a JSON file to --out (never over an existing file). Exits 1
 * when a target failed, 2 on bad options.
 */
import { Worker } from "node:worker_threads";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { groups, makeTarget, targetNames } from "./targets.ts";
import { regenerate, type Failure, type RunReport } from "./run.ts";
import { stringifyBig } from "./target.ts";
import type { WorkerJob } from "./worker-main.ts";

function usage(problem: string): never {
  process.stderr.write(`fuzz: ${problem}\nusage: npm run fuzz -- [--target ${Object.keys(groups).join("|")}|NAME] [--cases N] [--seed S] [--out DIR] [--hang SECONDS]\n  targets: ${targetNames.join(", ")}\n`);
  process.exit(2);
}

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) usage(`--${name} ${v}: expected a positive integer`);
  return Number(v);
}

let args;
try {
  args = parseArgs({ options: { target: { type: "string" }, cases: { type: "string" }, seed: { type: "string" }, out: { type: "string" }, hang: { type: "string" } }, strict: true }).values;
} catch (e) {
  usage((e as Error).message);
}
const which = args.target ?? "all";
const names = groups[which] ?? (targetNames.includes(which) ? [which] : usage(`no target ${which}`));
const cases = positiveInt("cases", args.cases, 1000);
const seed = args.seed === undefined ? Date.now() % 2 ** 31 : /^\d+$/.test(args.seed) ? Number(args.seed) | 0 : usage(`--seed ${args.seed}: expected a non-negative integer`);
const hangMs = positiveInt("hang", args.hang, 30) * 1000;
const out = args.out ?? "fuzz-failures";

let written = 0;
function save(f: Failure): string {
  mkdirSync(out, { recursive: true });
  for (let i = 0; ; i++) {
    const file = join(out, `${f.target}-${f.seed >>> 0}${i ? `-${i}` : ""}.json`);
    try {
      writeFileSync(file, JSON.stringify({ ...f, counterexample: f.counterexample, case: JSON.parse(f.json) }, null, 2) + "\n", { flag: "wx" });
      written++;
      return file;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
}

function report(f: Failure): void {
  const file = save(f);
  process.stdout.write(`  FAIL ${f.target} (seed ${f.seed}, path ${f.path || "-"}): ${f.error.split("\n")[0]}\n       case written to ${file}\n`);
}

/** Runs `runs` cases of one target in a worker; on a hang, records it and goes on with a new seed. */
async function runOne(name: string, runs: number, s: number): Promise<RunReport> {
  const total: RunReport = { target: name, runs: 0, cases: 0, failures: [], seconds: 0 };
  let next = s;
  while (total.runs < runs) {
    const progress = new SharedArrayBuffer(12);
    const p = new Int32Array(progress);
    const job: WorkerJob = { target: name, runs: runs - total.runs, seed: next, hangMs, progress };
    const worker = new Worker(new URL("./worker.mjs", import.meta.url), { workerData: job });
    const started = performance.now();
    const r = await new Promise<RunReport | "hang">((resolve, reject) => {
      let last = [-1, -1];
      let since = performance.now();
      let told = performance.now();
      const timer = setInterval(() => {
        if (performance.now() - told > 60_000) {
          told = performance.now();
          process.stdout.write(`  ${name}: ${total.runs + Atomics.load(p, 1)} runs, ${total.cases + Atomics.load(p, 2)} checks so far\n`);
        }
        const now = [Atomics.load(p, 0), Atomics.load(p, 1)];
        if (now[0] !== last[0] || now[1] !== last[1]) {
          last = now;
          since = performance.now();
        } else if (performance.now() - since > hangMs) {
          clearInterval(timer);
          void worker.terminate().then(() => resolve("hang"));
        }
      }, 250);
      worker.on("message", (m: { failure?: Failure; report?: RunReport }) => {
        if (m.failure) {
          total.failures.push(m.failure);
          report(m.failure);
        }
        if (m.report) {
          clearInterval(timer);
          resolve(m.report);
        }
      });
      worker.on("error", (e) => {
        clearInterval(timer);
        reject(e);
      });
    });
    if (r !== "hang") {
      total.runs += r.runs;
      total.cases += r.cases;
      total.seconds += r.seconds;
      break;
    }
    const [hs, index] = [Atomics.load(p, 0), Atomics.load(p, 1)];
    const value = regenerate(makeTarget(name), hs, index);
    const f: Failure = { target: name, seed: hs, path: String(index), error: `Hang: no progress for ${hangMs / 1000} s (run ${index} of seed ${hs}; not shrunk)`, counterexample: stringifyBig(value), json: stringifyBig(value) };
    total.failures.push(f);
    report(f);
    total.runs += index + 1;
    total.cases += Atomics.load(p, 2);
    total.seconds += (performance.now() - started) / 1000;
    next = (hs + 0x9e3779b9) | 0;
  }
  return total;
}

process.stdout.write(`fuzz: ${names.join(", ")}; ${cases} cases each, seed ${seed}, failures to ${out}/\n`);
let failed = 0;
for (const name of names) {
  const r = await runOne(name, cases, seed);
  failed += r.failures.length;
  process.stdout.write(`${name.padEnd(14)} ${String(r.runs).padStart(9)} runs ${String(r.cases).padStart(11)} checks ${r.seconds.toFixed(1).padStart(8)} s  ${r.failures.length} failure${r.failures.length === 1 ? "" : "s"}\n`);
}
process.stdout.write(failed ? `${failed} failure(s); ${written} case file(s) in ${out}/\n` : "no failures\n");
process.exitCode = failed ? 1 : 0;
