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
 * the other files through src/io/output.ts; a failed or interrupted (SweepOptions.signal) sweep
 * leaves DIR as it was. `-o DIR` is checked first (src/io/preflight.ts: it may be created, its
 * parent must exist), and again against every file the definition names once it is loaded.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { setMaxListeners } from "node:events";
import { availableParallelism } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { InputError } from "../errors.ts";
import { OutputFile, abortAll, openOutputs, registerTemporary, releaseTemporary, removeTemporary, temporaryName } from "../io/output.ts";
import { preflight, type InputSpec, type OutputSpec } from "../io/preflight.ts";
import type { CoreBuild } from "../core/core.ts";
import type { Limits } from "../config/limits.ts";
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
  /** Also write each point's HTML report (points/<id>/report.html), linked from sweep.html. */
  pointHtml?: boolean;
  /** Budgets every point runs with, over its scenario's config.limits (--limit NAME=N). */
  limits?: Partial<Limits>;
  /** Aborted (Ctrl-C): the sweep stops, removes what it had written and rejects with the signal's reason. */
  signal?: AbortSignal;
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
  pointHtml?: boolean;
  limits?: Partial<Limits>;
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

/** The files a sweep writes into DIR (the points folder is checked as an input's place). */
function sweepOutputs(dir: string): OutputSpec[] {
  return ["results.json", "results.csv", "sweep.html"].map((f) => ({ path: join(dir, f), what: `-o (its ${f})` }));
}

/**
 * Checks `-o DIR` (src/io/preflight.ts), and, with the definition loaded, that nothing the sweep
 * writes or replaces is one of its inputs: the definition, the scenarios, the traces.
 */
export function checkSweepOutput(file: string, out: string, def?: SweepDefinition): void {
  const inputs: InputSpec[] = [{ path: file, what: "the sweep definition" }];
  if (def) for (const f of def.inputFiles) inputs.push({ path: f, what: "a file the sweep reads" });
  preflight({ folder: { path: out, what: "-o" }, outputs: existsSync(out) ? sweepOutputs(out) : [], inputs });
}

/** Validates everything (the definition, its files, every point's scenario); nothing is written yet. */
export function planSweep(file: string, o: SweepOptions): SweepPlan {
  checkSweepOutput(file, o.out);
  const def = loadSweep(file);
  checkSweepOutput(file, o.out, def);
  const out = resolve(o.out);
  const staging = temporaryName(join(out, "points"));
  const points = shardIndices(def.total, o.shard).map((i) => pointAt(def, i));
  for (const p of points) pointScenario(def, p, join(out, "points", p.id));
  return { def, out, ...(o.shard ? { shard: o.shard } : {}), points, staging, ...(o.core ? { core: o.core } : {}), ...(o.pointHtml ? { pointHtml: true } : {}), ...(o.limits ? { limits: o.limits } : {}) };
}

/** A point's task. Its trace path is relative to the point's final folder; the staging folder has the same depth. */
function pointTask(plan: SweepPlan, p: PointRef): PointTask {
  const ps = pointScenario(plan.def, p, join(plan.out, "points", p.id), { validate: false });
  const task: PointTask = { index: p.index, dir: join(plan.staging, p.id), scenarioText: ps.text, scenarioName: plan.def.scenarios[p.scenario]!.name };
  if (ps.traceName !== undefined) task.traceName = ps.traceName;
  if (plan.core) task.core = plan.core;
  if (plan.pointHtml) task.html = true;
  if (plan.limits) task.limits = plan.limits;
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
  if (created) {
    mkdirSync(out); // its parent exists (checkSweepOutput)
    registerTemporary(out, "empty-dir");
  }
  mkdirSync(staging);
  registerTemporary(staging, "dir");
  let ok = false;
  let outputs: (OutputFile | undefined)[] = [];
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
          o.signal?.removeEventListener("abort", interrupted);
          rejectAll(e);
        };
        const interrupted = () => fail(o.signal!.reason);
        if (o.signal?.aborted) return interrupted();
        o.signal?.addEventListener("abort", interrupted, { once: true });
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
              if (done === points.length) {
                o.signal?.removeEventListener("abort", interrupted);
                resolveAll();
              } else launch();
            }, fail);
          }
        };
        launch();
      });
    }
    const seconds = (performance.now() - start) / 1000;
    const results = buildResults(sweepInfo(def), records, { seconds, workers }, plan.shard);
    const files = { json: join(out, "results.json"), csv: join(out, "results.csv"), html: join(out, "sweep.html"), points: join(out, "points") };
    outputs = await openOutputs(
      [
        [files.json, "-o (its results.json)"],
        [files.csv, "-o (its results.csv)"],
        [files.html, "-o (its sweep.html)"],
      ],
      o.signal,
    );
    const [json, csv, html] = outputs as [OutputFile, OutputFile, OutputFile];
    if (o.signal?.aborted) throw o.signal.reason;
    json.write(resultsJson(results));
    csv.write(resultsCsv(results));
    const report = plan.pointHtml ? "report.html" : "report.json";
    html.write(sweepHtml(results, (p) => `points/${p.id}/${report}`));
    // Commit: the points folder first, results.json last.
    rmSync(files.points, { recursive: true, force: true });
    renameSync(staging, files.points);
    releaseTemporary(staging);
    csv.commit();
    html.commit();
    json.commit();
    ok = true;
    return { results, files, seconds, workers };
  } catch (e) {
    abortAll(outputs);
    throw e;
  } finally {
    // Threads first (after a failure a running point could still write into the staging folder).
    if (pool && !o.pool) await pool.destroy();
    removeTemporary(staging);
    // A folder this sweep created is removed after a failure (when still empty), kept after success.
    if (created) (ok ? releaseTemporary(out) : removeTemporary(out));
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

/** The files merge writes: `outFile` (.json) and the .csv and .html beside it. */
function mergeFiles(outFile: string): { json: string; csv: string; html: string } {
  const stem = outFile.replace(/\.json$/i, "");
  return { json: outFile, csv: `${stem}.csv`, html: `${stem}.html` };
}

/**
 * Checks merge's arguments and outputs (src/io/preflight.ts: the folder of `-o` must exist, no
 * output may be one of the inputs' results.json), before anything is read.
 */
export function checkMerge(inputs: string[], outFile: string): void {
  if (!inputs.length) throw new InputError("merge: expected at least one sweep output folder");
  if (outFile === "-") throw new InputError(`-o: expected a .json file name: merge writes three files (.json, .csv, .html), which standard output (-) cannot hold`);
  if (!/\.json$/i.test(outFile)) throw new InputError(`-o: expected a .json file name (the .csv and .html are written beside it), got "${outFile}"`);
  const files = mergeFiles(outFile);
  preflight({
    outputs: [
      { path: files.json, what: "-o" },
      { path: files.csv, what: "-o (its .csv)" },
      { path: files.html, what: "-o (its .html)" },
    ],
    inputs: inputs.map((i) => ({ path: resultsFileOf(i), what: "an input" })),
  });
}

/**
 * Joins the results.json of several shards (folders or files) into one set of results, after
 * checking they come from the same sweep (same hash) and hold every point exactly once.
 */
/** Merged results and the folder of each point's own report (in its shard's output). */
export interface JoinedResults {
  results: SweepResults;
  pointFolders: Map<number, string>;
}

export function joinResults(inputs: string[]): JoinedResults {
  if (!inputs.length) throw new InputError("merge: expected at least one sweep output folder");
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
  // Each point's report stays in its shard's folder: the merged HTML links it from where it is written.
  const pointFolders = new Map<number, string>();
  for (const { file, results: r } of read) for (const p of r.points) pointFolders.set(p.index, join(dirname(resolve(file)), "points", p.id));
  return { results, pointFolders };
}

/** The link from the merged HTML at `htmlFile` to each point's report (its HTML, else its JSON), or null. */
function pointLinks(pointFolders: Map<number, string>, htmlFile: string): (p: PointRecord) => string | null {
  const htmlDir = dirname(resolve(htmlFile));
  return (p) => {
    const folder = pointFolders.get(p.index);
    const report = folder === undefined ? undefined : ["report.html", "report.json"].map((f) => join(folder, f)).find((f) => existsSync(f));
    return report ? relative(htmlDir, report).split(sep).join("/") : null;
  };
}

/** Writes merged results to [json, csv, html] outputs and commits them (the .json last); aborts them on an error. */
function writeMerged(joined: JoinedResults, files: { html: string }, outs: (OutputFile | undefined)[]): void {
  try {
    const [json, csv, html] = outs as [OutputFile, OutputFile, OutputFile];
    json.write(resultsJson(joined.results));
    csv.write(resultsCsv(joined.results));
    html.write(sweepHtml(joined.results, pointLinks(joined.pointFolders, files.html)));
    csv.commit();
    html.commit();
    json.commit();
  } catch (e) {
    abortAll(outs);
    throw e;
  }
}

/**
 * `iommu-emu merge` (library): joins the shards' results (joinResults) and writes `outFile` (.json)
 * and the .csv and .html beside it.
 */
export function mergeResults(inputs: string[], outFile: string): MergeRun {
  const joined = joinResults(inputs);
  checkMerge(inputs, outFile);
  const files = mergeFiles(outFile);
  const outs: OutputFile[] = [];
  try {
    for (const f of [files.json, files.csv, files.html]) outs.push(OutputFile.openSync(f, "-o"));
  } catch (e) {
    abortAll(outs);
    throw e;
  }
  writeMerged(joined, files, outs);
  return { results: joined.results, files };
}

/**
 * `iommu-emu merge` from the command line: the outputs checked first, then the results joined and
 * written; the outputs' opens (a FIFO waits for its reader) give up when `signal` is aborted.
 */
export async function mergeInteractive(inputs: string[], outFile: string, signal: AbortSignal): Promise<MergeRun> {
  checkMerge(inputs, outFile);
  const joined = joinResults(inputs);
  const files = mergeFiles(outFile);
  const outs = await openOutputs(
    [
      [files.json, "-o"],
      [files.csv, "-o (its .csv)"],
      [files.html, "-o (its .html)"],
    ],
    signal,
  );
  writeMerged(joined, files, outs);
  return { results: joined.results, files };
}
