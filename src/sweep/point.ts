/**
 * One sweep point, as a worker runs it: the point's scenario is written to its folder and run by
 * `runCommand`, exactly what `iommu-emu run <scenario> --report report.json [--html report.html]`
 * does (loadScenario, the trace reader, the driver, replay, summarize), with the scenario and trace
 * named as the sweep names them (as written in sweep.json); the summary is returned. Each point gets
 * a fresh core instance (the compiled module is shared by the worker's points), so a point's figures
 * do not depend on which worker ran it or what ran before.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../errors.ts";
import { runCommand, type RunOptions } from "../cli/run.ts";
import type { RunSummary } from "../report/summary.ts";
import { OutputFile } from "../io/output.ts";
import type { CoreBuild } from "../core/core.ts";
import type { Limits } from "../config/limits.ts";
import { stripLocation } from "./definition.ts";

export interface PointTask {
  index: number;
  /** Absolute folder for the point's scenario.json and report.json (created if missing). */
  dir: string;
  scenarioText: string;
  /** The scenario as the summary names it (as written in sweep.json). */
  scenarioName: string;
  /** The trace as the summary names it. */
  traceName?: string;
  core?: CoreBuild;
  /** Also write the point's HTML report (report.html). */
  html?: boolean;
  /** Budgets over the scenario's config.limits (sweep --limit). */
  limits?: Partial<Limits>;
}

export type PointOutcome =
  | { ok: true; index: number; summary: RunSummary }
  | { ok: false; index: number; kind: "input" | "internal"; message: string };

/** Runs one point; never throws (a problem is an outcome, so the pool can report it precisely). */
export function runPoint(task: PointTask): PointOutcome {
  const scenarioFile = join(task.dir, "scenario.json");
  const reportFile = join(task.dir, "report.json");
  try {
    mkdirSync(task.dir, { recursive: true });
    const sf = OutputFile.openSync(scenarioFile);
    try {
      sf.write(task.scenarioText);
      sf.commit();
    } catch (e) {
      sf.abort();
      throw e;
    }
    const o: RunOptions = {
      report: reportFile,
      core: task.core ?? "release",
      quiet: true,
      names: { scenario: task.scenarioName, ...(task.traceName !== undefined ? { trace: task.traceName } : {}) },
      ...(task.limits ? { limits: task.limits } : {}),
    };
    if (task.html) o.html = join(task.dir, "report.html");
    runCommand(scenarioFile, o);
    const summary = JSON.parse(readFileSync(reportFile, "utf8")) as RunSummary;
    return { ok: true, index: task.index, summary };
  } catch (e) {
    if (e instanceof InputError) {
      // Positions in the point's own scenario.json mean nothing to the user: keep the key path only.
      const message = e.file === scenarioFile ? stripLocation(e) : e.message;
      return { ok: false, index: task.index, kind: "input", message };
    }
    return { ok: false, index: task.index, kind: "internal", message: (e as Error).stack ?? String(e) };
  }
}
