/**
 * A sweep's results: results.json (every point with its parameters, figures and run summary),
 * results.csv (one row per point) and, from html.ts, sweep.html. `sweep` and `merge` build them
 * with the same functions, so merged shards are byte for byte the unsharded sweep apart from the
 * `host` fields (wall time, workers, shards).
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { InputError } from "../errors.ts";
import { parseJsonLocated, pathString } from "../config/json-locate.ts";
import type { RunSummary } from "../report/summary.ts";
import { metricNames, type MetricName, type Metrics } from "./metrics.ts";
import { displayPath, type Shard } from "./definition.ts";

export const RESULTS_FORMAT = "iommu-emu-sweep";

/** What identifies the sweep; equal in every shard's results.json. */
export interface SweepInfo {
  /** sha256 of the definition and the contents of its scenario and trace files. */
  hash: string;
  /** Points in the whole sweep (every shard). */
  points: number;
  scenarios: string[];
  traces: string[] | null;
  parameters: { path: string; values: unknown[] }[];
  metrics: MetricName[];
  chart: { x?: string; y?: MetricName[] };
}

/** A point's summary in results.json: the run summary without the latency histograms (in points/<id>/report.json). */
export type PointSummary = RunSummary;

export interface PointRecord {
  index: number;
  id: string;
  scenario: string;
  trace: string | null;
  parameters: Record<string, unknown>;
  metrics: Metrics;
  summary: PointSummary;
}

export interface HostInfo {
  /** Wall time of the sweep (or of each shard, merged). */
  seconds?: number;
  workers?: number;
  shards?: { shard: Shard | null; file: string; seconds: number | null; workers: number | null }[];
}

export interface SweepResults {
  format: typeof RESULTS_FORMAT;
  version: 1;
  sweep: SweepInfo;
  /** Which slice this file holds; absent when it holds every point. */
  shard?: Shard;
  points: PointRecord[];
  host: HostInfo;
}

/** The summary as results.json keeps it: histograms dropped (percentiles and counts stay). */
export function slimSummary(s: RunSummary): PointSummary {
  if (!s.timing) return s;
  const { histograms: _h, ...timing } = s.timing;
  return { ...s, timing: timing as RunSummary["timing"] & object };
}

export function buildResults(sweep: SweepInfo, points: PointRecord[], host: HostInfo, shard?: Shard): SweepResults {
  const sorted = [...points].sort((a, b) => a.index - b.index);
  const complete = sorted.length === sweep.points;
  const r: SweepResults = { format: RESULTS_FORMAT, version: 1, sweep, ...(shard && !complete ? { shard } : {}), points: sorted, host };
  return r;
}

export function resultsJson(r: SweepResults): string {
  return JSON.stringify(r, null, 2) + "\n";
}

const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return "";
  const s = typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** The CSV columns: index, id, scenario, trace, each parameter path, each metric. */
export function csvColumns(r: SweepResults): string[] {
  return ["index", "id", "scenario", "trace", ...r.sweep.parameters.map((p) => p.path), ...r.sweep.metrics];
}

/** One row per point (RFC 4180: CRLF line ends not used, "\n"; empty cell = no value). */
export function resultsCsv(r: SweepResults): string {
  const lines = [csvColumns(r).map(csvCell).join(",")];
  for (const p of r.points) {
    const cells: unknown[] = [p.index, p.id, p.scenario, p.trace, ...r.sweep.parameters.map((q) => p.parameters[q.path]), ...r.sweep.metrics.map((m) => p.metrics[m])];
    lines.push(cells.map(csvCell).join(","));
  }
  return lines.join("\n") + "\n";
}

// Reading results.json back (merge): the structure merge relies on, checked; summaries are kept as they are.
const shardSchema = z.strictObject({ index: z.number().int().min(1), count: z.number().int().min(1) });
const resultsSchema = z.looseObject({
  format: z.literal(RESULTS_FORMAT, { message: `expected "${RESULTS_FORMAT}" (not a sweep's results.json)` }),
  version: z.literal(1, { message: "expected version 1" }),
  sweep: z.looseObject({
    hash: z.string(),
    points: z.number().int().min(0),
    scenarios: z.array(z.string()),
    traces: z.array(z.string()).nullable(),
    parameters: z.array(z.strictObject({ path: z.string(), values: z.array(z.unknown()) })),
    metrics: z.array(z.enum(metricNames)),
    chart: z.strictObject({ x: z.string().optional(), y: z.array(z.enum(metricNames)).optional() }),
  }),
  shard: shardSchema.optional(),
  points: z.array(
    z.looseObject({
      index: z.number().int().min(0),
      id: z.string(),
      scenario: z.string(),
      trace: z.string().nullable(),
      parameters: z.record(z.string(), z.unknown()),
      metrics: z.record(z.string(), z.number().nullable()),
      // VT-d run summaries are version 2, SMMUv3 ones version 3 (README "Run summary")
      summary: z.looseObject({ version: z.literal([2, 3], { message: "expected version 2 or 3 (the run summaries of this iommu-emu: run the sweep or shard again)" }) }),
    }),
  ),
  host: z.looseObject({}),
});

/** `DIR` (its results.json) or a results file itself. */
export function resultsFileOf(input: string): string {
  try {
    return statSync(input).isDirectory() ? join(input, "results.json") : input;
  } catch {
    return /\.json$/i.test(input) ? input : join(input, "results.json"); // reported when read
  }
}

export function readResults(input: string): { file: string; results: SweepResults } {
  const file = resultsFileOf(input);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new InputError(`cannot read the sweep results (${code})${code === "ENOENT" ? "; did that sweep or shard finish?" : ""}`, file);
  }
  const located = parseJsonLocated(text, file);
  const r = resultsSchema.safeParse(located.value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0]!] : issue.path;
    const at = located.at.get(pathString(path));
    const msg = issue.code === "unrecognized_keys" ? `unknown key "${issue.keys[0]}"` : issue.message;
    throw new InputError(`${displayPath(path)}: ${msg}`, file, at?.line, at?.column);
  }
  return { file, results: r.data as unknown as SweepResults };
}
