/** `iommu-emu run`: replay a scenario's trace and print (and write) its results. */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import type { Command } from "commander";
import { InputError } from "../errors.ts";
import { loadScenario } from "../scenario.ts";
import { parseTraceText, parseTraceLines, type TraceEvent } from "../trace/text.ts";
import { VtdDriver } from "../guest/vtd-driver.ts";
import { replay, type ResultSink } from "../replay/replay.ts";
import { summarize, formatSummary, type SummaryInfo } from "../report/summary.ts";
import { resultLine } from "../report/results.ts";
import { AtomicFile } from "../report/atomic.ts";
import type { CoreBuild } from "../core/core.ts";
import { presetNames, type PresetName } from "../config/timing.ts";

export interface RunOptions {
  trace?: string;
  results?: string;
  report?: string;
  core?: CoreBuild;
  quiet?: boolean;
  /** No timing model: identical translations, faults and counters; no latency, no Timing section. */
  functional?: boolean;
  /** Replaces the scenario's config.timing.preset. */
  preset?: string;
}

function readTrace(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new InputError(`cannot read the trace (${(e as NodeJS.ErrnoException).code ?? String(e)})`, file);
  }
}

/** `iommu-emu run`: returns the text it prints. */
export function runCommand(scenarioFile: string, o: RunOptions = {}): string {
  if (o.preset !== undefined && !(presetNames as readonly string[]).includes(o.preset))
    throw new InputError(`--preset: expected one of ${presetNames.map((p) => `"${p}"`).join(", ")}, got "${o.preset}"`);
  const loaded = loadScenario(scenarioFile, {
    build: o.core ?? "release",
    functional: o.functional === true,
    ...(o.preset !== undefined ? { preset: o.preset as PresetName } : {}),
  });
  let events: TraceEvent[] = [];
  let traceName: string | undefined;
  let traceFile: string | undefined;
  if (o.trace) {
    events = parseTraceText(readTrace(o.trace), o.trace);
    traceName = traceFile = o.trace;
  } else if (loaded.trace && "lines" in loaded.trace) {
    const { file, lines, lineNumbers } = loaded.trace;
    events = parseTraceLines(lines, file, (i) => lineNumbers[i]!);
    traceName = "inline trace";
    traceFile = file;
  } else if (loaded.trace) {
    events = parseTraceText(readTrace(loaded.trace.file), loaded.trace.file);
    traceFile = loaded.trace.file;
    traceName = relative(process.cwd(), loaded.trace.file) || loaded.trace.file;
  }
  const outputs: AtomicFile[] = [];
  try {
    const results = o.results ? new AtomicFile(o.results) : undefined;
    if (results) outputs.push(results);
    const driver = new VtdDriver(loaded.platform, loaded.driver);
    const timing = loaded.platform.timing.enable ? { clockMHz: loaded.platform.timing.clockMHz } : undefined;
    const sink: ResultSink | undefined = results ? (seq, t, r) => results.write(resultLine(seq, t, r, timing)) : undefined;
    const stats = replay(loaded.platform, events, sink, { driver, ...(traceFile !== undefined ? { file: traceFile } : {}) });
    const info: SummaryInfo = {
      scenario: scenarioFile,
      hostSeconds: stats.hostSeconds,
      tlps: stats.tlps,
      driver: { mode: loaded.driver.invalidation, stats: stats.driver },
    };
    if (traceName) info.trace = traceName;
    const summary = summarize(loaded.platform, info);
    if (o.report) {
      const report = new AtomicFile(o.report);
      outputs.push(report);
      report.write(JSON.stringify(summary, null, 2) + "\n");
    }
    for (const f of outputs) f.commit();
    return formatSummary(summary);
  } catch (e) {
    for (const f of outputs) f.abort();
    throw e;
  }
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("replay a scenario's trace (or --trace FILE) and print a summary")
    .argument("<scenario>", "scenario JSON file")
    .option("--trace <file>", "trace file (text format v1); overrides the scenario's trace")
    .option("--results <out.jsonl>", "write per-TLP results as JSON Lines")
    .option("--report <out.json>", "write the run summary as JSON")
    .option("--core <build>", "core build: release or debug (assertions on)", "release")
    .option("--functional", "no timing model: the same translations, faults and counters, no latencies")
    .option("--preset <name>", `cache and timing preset, replacing the scenario's (${presetNames.join(", ")})`)
    .action((scenario: string, opts: RunOptions) => {
      if (opts.core !== "release" && opts.core !== "debug") throw new InputError(`--core: expected "release" or "debug", got "${opts.core}"`);
      process.stdout.write(runCommand(scenario, opts) + "\n");
    });
}
