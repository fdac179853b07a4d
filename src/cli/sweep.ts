/** `iommu-emu sweep` and `iommu-emu merge` (README "Sweeps"; the work is in src/sweep/). */
import type { Command } from "commander";
import { availableParallelism } from "node:os";
import { relative } from "node:path";
import { SingleBar } from "cli-progress";
import { InputError, quote } from "../errors.ts";
import { limitNames, parseLimitOptions } from "../config/limits.ts";
import { runInterruptible } from "../io/interrupt.ts";
import { parseShard, type Shard } from "../sweep/definition.ts";
import { executeSweep, mergeInteractive, planSweep, type SweepOptions, type SweepRun } from "../sweep/sweep.ts";

interface SweepCliOptions {
  out: string;
  workers?: string;
  shard?: string;
  quiet?: boolean;
  pointHtml?: boolean;
  limit: string[];
}

/** The most worker threads a sweep starts (each holds a compiled core and its guest memory). */
export const MAX_WORKERS = 256;

export function parseWorkers(text: string): number {
  if (!/^\s*[0-9]+\s*$/.test(text) || Number(text) < 1) throw new InputError(`--workers: expected a positive integer, got ${quote(text)}`);
  const n = Number(text);
  if (n > MAX_WORKERS) throw new InputError(`--workers: at most ${MAX_WORKERS} worker threads, got ${text.trim()}`);
  return n;
}

const shown = (f: string) => {
  const r = relative(process.cwd(), f);
  return r && !r.startsWith("..") ? r : f;
};

function describeRun(run: SweepRun, shard: Shard | undefined): string {
  const r = run.results;
  const what = shard && r.shard ? `shard ${shard.index}/${shard.count}: ${r.points.length} of ${r.sweep.points} points` : `${r.points.length} points`;
  return `iommu-emu sweep: ${what} on ${run.workers} worker${run.workers === 1 ? "" : "s"} in ${run.seconds.toFixed(2)} s -> ${shown(run.files.json)}, ${shown(run.files.csv)}, ${shown(run.files.html)}, ${shown(run.files.points)}/`;
}

export function registerSweep(program: Command): void {
  program
    .command("sweep")
    .argument("<sweep>", "sweep definition (JSON)")
    .requiredOption("-o, --out <dir>", "output folder: results.json, results.csv, sweep.html, points/")
    .option("--workers <n>", `worker threads, at most ${MAX_WORKERS} (default: available parallelism, here ${availableParallelism()})`)
    .option("--shard <i/n>", "run only the points whose index % n == i - 1 (1 <= i <= n); join shards with merge")
    .option("--quiet", "no progress bar")
    .option("--point-html", "also write each point's HTML report (points/<id>/report.html), linked from sweep.html")
    .option("--limit <NAME=N>", `set a budget for every point, over its scenario's config.limits (repeatable; README "Budgets"): ${limitNames.join(", ")}`, (v: string, all: string[]) => [...all, v], [] as string[])
    .action((file: string, opts: SweepCliOptions) => {
      // Bad input is found here, synchronously (main exits 2); the points then run asynchronously.
      const o: SweepOptions = { out: opts.out };
      if (opts.pointHtml) o.pointHtml = true;
      if (opts.workers !== undefined) o.workers = parseWorkers(opts.workers);
      if (opts.shard !== undefined) o.shard = parseShard(opts.shard);
      if (opts.limit.length) o.limits = parseLimitOptions(opts.limit);
      const plan = planSweep(file, o);
      let bar: SingleBar | undefined;
      if (!opts.quiet && process.stderr.isTTY && plan.points.length > 1) {
        bar = new SingleBar({ stream: process.stderr, format: "sweep [{bar}] {value}/{total} points, ETA {eta}s", hideCursor: true, clearOnComplete: true });
        bar.start(plan.points.length, 0);
        o.progress = (done) => bar!.update(done);
      }
      return runInterruptible(async (signal) => {
        try {
          const run = await executeSweep(plan, { ...o, signal });
          bar?.stop();
          process.stdout.write(describeRun(run, o.shard) + "\n");
        } finally {
          bar?.stop();
        }
      });
    });
}

export function registerMerge(program: Command): void {
  program
    .command("merge")
    .argument("<dirs...>", "sweep output folders (or their results.json)")
    .requiredOption("-o, --out <file>", "merged results (.json; the .csv and .html are written beside it)")
    .action((dirs: string[], opts: { out: string }) =>
      runInterruptible(async (signal) => {
        const m = await mergeInteractive(dirs, opts.out, signal);
        process.stdout.write(`iommu-emu merge: ${m.results.points.length} points from ${dirs.length} input${dirs.length === 1 ? "" : "s"} -> ${shown(m.files.json)}, ${shown(m.files.csv)}, ${shown(m.files.html)}\n`);
      }),
    );
}
