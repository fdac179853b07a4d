/**
 * `iommu-emu sweep` and `iommu-emu merge` (README "Sweeps"). A sweep is planned synchronously
 * (the definition, every file it names and every point's scenario validated: bad input fails before
 * anything runs or is written), then its points (all, or a shard's slice) run on a worker pool and
 * the outputs are written:
 *
 *   DIR/points/<id>/scenario.json  the point's scenario (`iommu-emu run` on it reproduces the point)
 *   DIR/points/<id>/report.json    its run summary (the `run --report` format)
 *   DIR/results.csv, DIR/sweep.html, DIR/results.json (last: its presence means the sweep finished)
 *
 * Outputs are atomic: points are written into a temporary folder renamed to DIR/points at the end,
 * the other files through OutputFile; a failed sweep leaves DIR as it was.
 */
import { existsSync, mkdirSync, renameSync, rmdirSync, rmSync } from "node:fs";
import { setMaxListeners } from "node:events";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { InputError } from "../errors.ts";
import { OutputFile } from "../io/output.ts";
import type { CoreBuild } from "../core/core.ts";
import {
  describePoint,
  loadSweep,
  pointAt,
  pointInputError,
  pointParameters,
  pointScenario,
  shardIndices,
  type PointRef,
  type Shard,
  type SweepDefinition,
} from "./definition.ts";
import { pointMetrics } from "./metrics.ts";
import type { PointOutcome, PointTask } from "./point.ts";
import { PointPool } from "./pool.ts";
import { buildResults, readResults, resultsFileOf, resultsCsv, resultsJson, slimSummary, type PointRecord, type SweepInfo, type SweepResults } from "./results.ts";
import { sweepHtml } from "./html.ts";

export interface SweepOptions {
  /** Output folder (created if missing). */
  out: string;
  /** Worker threads (default os.availableParallelism(), at most one per point). */
  workers?: number;
  shard?: Shard;
  core?: CoreBuild;
  /** An existing pool to run on (benchmarks); it is left running. */
  pool?: PointPool;
  /** Called after each finished point. */
  progress?: (done: number, total: number) => void;
}

export interface SweepPlan {
  def: SweepDefinition;
  out: string;
  shard?: Shard;
  /** The points this run computes, by index; each one's scenario already validated. */
  points: PointRef[];
  /** Where the points are written until the sweep succeeds (renamed to DIR/points). */
  staging: string;
  core?: CoreBuild;
}

export interface SweepRun {
  results: SweepResults;
  files: { json: string; csv: string; html: string; points: string };
  seconds: number;
  workers: number;
}

export function sweepInfo(def: SweepDefinition): SweepInfo {
  return {
    hash: def.hash,
    points: def.total,
    scenarios: def.scenarios.map((s) => s.name),
    traces: def.traces ? def.traces.map((t) => t.name) : null,
    parameters: def.parameters.map((p) => ({ path: p.path.text, values: p.values })),
    metrics: def.metrics,
    chart: def.chart,
  };
}

/** Validates everything (the definition, its files, every point's scenario); nothing is written yet. */
export function planSweep(file: string, o: SweepOptions): SweepPlan {
  const def = loadSweep(file);
  const out = resolve(o.out);
  const staging = join(out, `.points-${process.pid}-${Date.now().toString(36)}.tmp`);
  const points = shardIndices(def.total, o.shard).map((i) => pointAt(def, i));
  for (const p of points) pointScenario(def, p, join(out, "points", p.id));
  return { def, out, ...(o.shard ? { shard: o.shard } : {}), points, staging, ...(o.core ? { core: o.core } : {}) };
}

/** A point's task. Its trace path is relative to the point's final folder; the staging folder has the same depth. */
function pointTask(plan: SweepPlan, p: PointRef): PointTask {
  const ps = pointScenario(plan.def, p, join(plan.out, "points", p.id), { validate: false });
  const task: PointTask = { index: p.index, dir: join(plan.staging, p.id), scenarioText: ps.text, scenarioName: plan.def.scenarios[p.scenario]!.name };
  if (ps.traceName !== undefined) task.traceName = ps.traceName;
  if (plan.core) task.core = plan.core;
  return task;
}

/** The error a failed point becomes: input problems exit 2, naming the point. */
function pointFailure(def: SweepDefinition, p: PointRef, r: Extract<PointOutcome, { ok: false }>): Error {
  if (r.kind === "input") return pointInputError(def, p, r.message);
  return new Error(`${describePoint(def, p)}: ${r.message}`);
}

/** Runs the planned points and writes the outputs. */
export async function executeSweep(plan: SweepPlan, o: SweepOptions): Promise<SweepRun> {
  const { def, out, points, staging } = plan;
  const start = performance.now();
  const workers = o.pool ? o.pool.workers : Math.max(1, Math.min(o.workers ?? availableParallelism(), points.length || 1));
  const created = !existsSync(out);
  mkdirSync(out, { recursive: true });
  mkdirSync(staging, { recursive: true });
  let ok = false;
  const outputs: OutputFile[] = [];
  let pool: PointPool | undefined;
  try {
    const records: PointRecord[] = new Array(points.length);
    if (points.length) {
      pool = o.pool ?? new PointPool(workers);
      const running = pool;
      // Tasks are made as they are dispatched, two per worker in flight (one running, one queued),
      // so a large sweep never holds every point's scenario text at once.
      const window = Math.max(2, 2 * running.workers);
      const abort = new AbortController();
      setMaxListeners(0, abort.signal);
      await new Promise<void>((resolveAll, rejectAll) => {
        let next = 0, done = 0, failed = false;
        const fail = (e: unknown) => {
          if (failed) return;
          failed = true;
          abort.abort(); // queued tasks are dropped; the owned pool is destroyed below
          rejectAll(e);
        };
        const launch = () => {
          while (!failed && next < points.length && next - done < window) {
            const k = next++;
            const p = points[k]!;
            let task: PointTask;
            try {
              task = pointTask(plan, p);
            } catch (e) {
              return fail(e);
            }
            running.run(task, abort.signal).then((r) => {
              if (failed) return;
              if (!r.ok) return fail(pointFailure(def, p, r));
              records[k] = {
                index: p.index,
                id: p.id,
                scenario: def.scenarios[p.scenario]!.name,
                trace: task.traceName ?? null,
                parameters: pointParameters(def, p),
                metrics: pointMetrics(r.summary, def.metrics),
                summary: slimSummary(r.summary),
              };
              done++;
              o.progress?.(done, points.length);
              if (done === points.length) resolveAll();
              else launch();
            }, fail);
          }
        };
        launch();
      });
    }
    const seconds = (performance.now() - start) / 1000;
    const results = buildResults(sweepInfo(def), records, { seconds, workers }, plan.shard);
    const files = { json: join(out, "results.json"), csv: join(out, "results.csv"), html: join(out, "sweep.html"), points: join(out, "points") };
    const json = OutputFile.openSync(files.json);
    const csv = OutputFile.openSync(files.csv);
    const html = OutputFile.openSync(files.html);
    outputs.push(json, csv, html);
    json.write(resultsJson(results));
    csv.write(resultsCsv(results));
    html.write(sweepHtml(results));
    // Commit: the points folder first, results.json last.
    rmSync(files.points, { recursive: true, force: true });
    renameSync(staging, files.points);
    csv.commit();
    html.commit();
    json.commit();
    ok = true;
    return { results, files, seconds, workers };
  } catch (e) {
    for (const f of outputs) f.abort();
    throw e;
  } finally {
    // Threads first (after a failure a running point could still write into the staging folder).
    if (pool && !o.pool) await pool.destroy();
    rmSync(staging, { recursive: true, force: true });
    if (!ok && created) {
      try {
        rmdirSync(out); // ours and empty: a failed sweep leaves nothing behind
      } catch {
        /* not empty: leave it */
      }
    }
  }
}

export async function runSweep(file: string, o: SweepOptions): Promise<SweepRun> {
  return executeSweep(planSweep(file, o), o);
}

export interface MergeRun {
  results: SweepResults;
  files: { json: string; csv: string; html: string };
}

const ranges = (ids: number[]): string => {
  const out: string[] = [];
  for (let i = 0; i < ids.length; ) {
    let j = i;
    while (j + 1 < ids.length && ids[j + 1] === ids[j]! + 1) j++;
    out.push(j === i ? String(ids[i]) : `${ids[i]}-${ids[j]}`);
    i = j + 1;
  }
  return out.length > 12 ? `${out.slice(0, 12).join(", ")}, ...` : out.join(", ");
};

/**
 * `iommu-emu merge`: joins the results.json of several shards (folders or files) into one set of
 * results, after checking they come from the same sweep (same hash) and hold every point exactly
 * once. Writes `outFile` (.json) and the .csv and .html beside it.
 */
export function mergeResults(inputs: string[], outFile: string): MergeRun {
  if (!inputs.length) throw new InputError("merge: expected at least one sweep output folder");
  if (!/\.json$/i.test(outFile)) throw new InputError(`-o: expected a .json file name (the .csv and .html are written beside it), got "${outFile}"`);
  const seen = new Map<string, string>();
  for (const input of inputs) {
    const f = resolve(resultsFileOf(input));
    const before = seen.get(f);
    if (before !== undefined) throw new InputError(`merge: ${input} is given twice (also as ${before})`);
    seen.set(f, input);
  }
  const read = inputs.map(readResults);
  const first = read[0]!;
  const firstSweep = JSON.stringify(first.results.sweep);
  const owner = new Map<number, string>();
  const points: PointRecord[] = [];
  for (const { file, results } of read) {
    if (results.sweep.hash !== first.results.sweep.hash)
      throw new InputError(
        `belongs to a different sweep than ${first.file} (sweep hash ${results.sweep.hash.slice(0, 19)}... vs ${first.results.sweep.hash.slice(0, 19)}...): a different sweep.json, or its scenario or trace files changed between the runs`,
        file,
      );
    if (JSON.stringify(results.sweep) !== firstSweep) throw new InputError(`its "sweep" block differs from ${first.file}'s although the hashes agree (edited by hand?)`, file);
    for (const p of results.points) {
      if (p.index >= results.sweep.points) throw new InputError(`point ${p.index} (${p.id}) is beyond the sweep's ${results.sweep.points} points`, file);
      const other = owner.get(p.index);
      if (other !== undefined)
        throw new InputError(other === file ? `point ${p.index} (${p.id}) appears twice in it` : `point ${p.index} (${p.id}) is also in ${other}: the same shard given twice, or overlapping shards`, file);
      owner.set(p.index, file);
      points.push(p);
    }
  }
  const total = first.results.sweep.points;
  if (points.length !== total) {
    const missing: number[] = [];
    for (let i = 0; i < total; i++) if (!owner.has(i)) missing.push(i);
    let hint = "";
    const counts = new Set(read.map((r) => r.results.shard?.count));
    if (counts.size === 1) {
      const n = [...counts][0];
      if (n !== undefined) {
        const have = new Set(read.map((r) => r.results.shard!.index));
        const absent: string[] = [];
        for (let i = 1; i <= n; i++) if (!have.has(i)) absent.push(`${i}/${n}`);
        if (absent.length) hint = `; shard${absent.length > 1 ? "s" : ""} ${absent.join(", ")} missing`;
      }
    }
    throw new InputError(`merge: ${missing.length} of the sweep's ${total} points are missing: ${ranges(missing)}${hint}`);
  }
  const shards = read.map(({ file, results }) => ({
    shard: results.shard ?? null,
    file,
    seconds: typeof results.host.seconds === "number" ? results.host.seconds : null,
    workers: typeof results.host.workers === "number" ? results.host.workers : null,
  }));
  const results = buildResults(first.results.sweep, points, { shards });
  const stem = outFile.replace(/\.json$/i, "");
  const files = { json: outFile, csv: `${stem}.csv`, html: `${stem}.html` };
  if (!existsSync(dirname(resolve(outFile)))) mkdirSync(dirname(resolve(outFile)), { recursive: true });
  const outs = [OutputFile.openSync(files.json), OutputFile.openSync(files.csv), OutputFile.openSync(files.html)];
  try {
    outs[0]!.write(resultsJson(results));
    outs[1]!.write(resultsCsv(results));
    outs[2]!.write(sweepHtml(results));
    outs[1]!.commit();
    outs[2]!.commit();
    outs[0]!.commit();
  } catch (e) {
    for (const f of outs) f.abort();
    throw e;
  }
  return { results, files };
}
