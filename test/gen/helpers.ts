/** Shared by the generator suites: generate into a temporary folder, read the trace back, run it. */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate, type RawOptions } from "../../src/gen/index.ts";
import { runCommand } from "../../src/cli/run.ts";
import { isTlp, parseTraceText, type TraceEvent, type TraceTlp } from "../../src/trace/text.ts";
import type { VtdRunSummary as RunSummary } from "../../src/report/summary.ts";

export const dir = mkdtempSync(join(tmpdir(), "iommu-emu-gen-"));
let n = 0;

/** Generates into a fresh sub-folder (or `name` in `dir`); returns the result and the files' paths. */
export function gen(workload: string, raw: RawOptions = {}, file = join(mkdtempSync(join(dir, "g")), `${workload}-${n++}.json`)) {
  const r = generate(workload, raw, file);
  return { ...r, file };
}

export function events(traceFile: string): TraceEvent[] {
  return parseTraceText(readFileSync(traceFile, "utf8"), traceFile);
}

export const tlps = (ev: TraceEvent[]) => ev.filter(isTlp) as TraceTlp[];

/** Runs the scenario through `iommu-emu run` (functional) and returns its --report JSON. */
export function run(scenario: string, o: { functional?: boolean } = {}): RunSummary {
  const report = scenario + ".report.json";
  runCommand(scenario, { report, functional: o.functional ?? true });
  return JSON.parse(readFileSync(report, "utf8")) as RunSummary;
}

/** The message of the InputError `f` throws (or "no error"). */
export function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if ((e as Error).name === "InputError") return (e as Error).message;
    throw e;
  }
  return "no error";
}
