/**
 * `iommu-emu run`: replay a scenario's trace and print (and write) its results.
 *
 * The trace streams (src/replay/replay.ts Replayer over a src/trace/stream.ts reader: text or
 * binary, by the file's first bytes), so memory stays flat whatever its length. From the command
 * line the replay runs in slices of about 50 ms with the event loop in between, so that on a
 * terminal a progress bar (TLPs/s, ETA) can be drawn, and Ctrl-C (SIGINT) stops after the current
 * batch: the summary, --report and --html then cover what was replayed (marked partial) and the
 * --results file holds its results; the exit code is 130. A second Ctrl-C stops at once, leaving
 * no output files.
 */
import { relative } from "node:path";
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { InputError } from "../errors.ts";
import { loadScenario } from "../scenario.ts";
import { parseTraceLines } from "../trace/text.ts";
import { EventsReader, openTraceReader } from "../trace/stream.ts";
import type { TraceReader } from "../trace/binary.ts";
import { VtdDriver } from "../guest/vtd-driver.ts";
import { Replayer, type ResultSink } from "../replay/replay.ts";
import { summarize, formatSummary, type RunSummary, type SummaryInfo } from "../report/summary.ts";
import { resultLine } from "../report/results.ts";
import { OutputFile } from "../io/output.ts";
import { ReportCollector } from "../report/collector.ts";
import { renderHtmlReport } from "../report/html.ts";
import type { CoreBuild } from "../core/core.ts";
import { presetNames, type PresetName } from "../config/timing.ts";

export interface RunOptions {
  trace?: string;
  results?: string;
  report?: string;
  /** Writes a self-contained HTML report (charts, per-device/PASID counts, No-Snoop audit). */
  html?: string;
  core?: CoreBuild;
  quiet?: boolean;
  /** No timing model: identical translations, faults and counters; no latency, no Timing section. */
  functional?: boolean;
  /** Replaces the scenario's config.timing.preset. */
  preset?: string;
}

/** The exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130;

/** A run in progress: scenario loaded, trace open, output files started (not yet visible). */
export class RunSession {
  readonly replayer: Replayer;
  private readonly reader: TraceReader;
  private readonly outputs: OutputFile[] = [];
  private readonly collector: ReportCollector | undefined;
  private readonly loaded: ReturnType<typeof loadScenario>;
  private readonly traceName: string | undefined;
  private closed = false;

  constructor(
    readonly scenarioFile: string,
    private readonly o: RunOptions = {},
  ) {
    if (o.preset !== undefined && !(presetNames as readonly string[]).includes(o.preset))
      throw new InputError(`--preset: expected one of ${presetNames.map((p) => `"${p}"`).join(", ")}, got "${o.preset}"`);
    const loaded = (this.loaded = loadScenario(scenarioFile, {
      build: o.core ?? "release",
      functional: o.functional === true,
      ...(o.preset !== undefined ? { preset: o.preset as PresetName } : {}),
    }));
    if (o.trace) {
      this.reader = openTraceReader(o.trace);
      this.traceName = o.trace;
    } else if (loaded.trace && "lines" in loaded.trace) {
      const { file, lines, lineNumbers } = loaded.trace;
      this.reader = new EventsReader(parseTraceLines(lines, file, (i) => lineNumbers[i]!), file);
      this.traceName = "inline trace";
    } else if (loaded.trace) {
      this.reader = openTraceReader(loaded.trace.file);
      this.traceName = relative(process.cwd(), loaded.trace.file) || loaded.trace.file;
    } else this.reader = new EventsReader([]);
    try {
      const results = o.results ? OutputFile.openSync(o.results) : undefined;
      if (results) this.outputs.push(results);
      const timing = loaded.platform.timing.enable ? { clockMHz: loaded.platform.timing.clockMHz } : undefined;
      let sink: ResultSink | undefined = results ? (seq, t, r) => results.write(resultLine(seq, t, r, timing)) : undefined;
      const collector = (this.collector = o.html ? new ReportCollector() : undefined);
      if (collector) {
        const inner = sink;
        sink = inner
          ? (seq, t, r) => {
              inner(seq, t, r);
              collector.add(t, r);
            }
          : (_seq, t, r) => collector.add(t, r);
      }
      const driver = new VtdDriver(loaded.platform, loaded.driver);
      this.replayer = new Replayer(loaded.platform, this.reader, sink, { driver });
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /** Replays batches for about `ms` milliseconds (Infinity: to the end); true once the trace has ended. */
  advance(ms: number): boolean {
    const r = this.replayer;
    if (ms === Infinity) {
      while (r.step());
      return true;
    }
    const until = performance.now() + ms;
    for (let i = 1; ; i++) {
      if (!r.step()) return true;
      if ((i & 7) === 0 && performance.now() >= until) return false;
    }
  }

  /** How far the replay is: TLPs replayed, and input consumed of its total (bytes, or events inline). */
  progress(): { tlps: number; done: number; total: number } {
    return { tlps: this.replayer.seq, ...this.reader.progress };
  }

  /**
   * Ends the run: the summary of what was replayed, the outputs written and made visible. With
   * `partial` (stopped early) the report says `"partial": true` and the summary text says so.
   */
  finish(partial = false): string {
    try {
      const stats = this.replayer.finish();
      const info: SummaryInfo = {
        scenario: this.scenarioFile,
        hostSeconds: stats.hostSeconds,
        tlps: stats.tlps,
        driver: { mode: this.loaded.driver.invalidation, stats: stats.driver },
      };
      if (this.traceName) info.trace = this.traceName;
      const summary: RunSummary & { partial?: true } = summarize(this.loaded.platform, info);
      if (partial) summary.partial = true;
      if (this.o.report) {
        const report = OutputFile.openSync(this.o.report);
        this.outputs.push(report);
        report.write(JSON.stringify(summary, null, 2) + "\n");
      }
      if (this.o.html && this.collector) {
        const html = OutputFile.openSync(this.o.html);
        this.outputs.push(html);
        html.write(renderHtmlReport(summary, this.collector.result()));
      }
      for (const f of this.outputs) f.commit();
      this.close();
      let text = formatSummary(summary);
      if (partial) {
        const p = this.reader.progress;
        const pct = p.total > 0 ? ` (${((100 * p.done) / p.total).toFixed(1)}% of the trace)` : "";
        text += `\nPartial: interrupted after ${stats.tlps} TLPs${pct}; the summary and outputs cover only those`;
      }
      return text;
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /** Removes the output files' temporary files and closes the trace; nothing is left behind. */
  abort(): void {
    for (const f of this.outputs) f.abort();
    this.close();
  }

  private close(): void {
    if (!this.closed) this.reader?.close();
    this.closed = true;
  }
}

/** `iommu-emu run`: replays the whole trace and returns the text it prints. */
export function runCommand(scenarioFile: string, o: RunOptions = {}): string {
  const s = new RunSession(scenarioFile, o);
  try {
    s.advance(Infinity);
  } catch (e) {
    s.abort();
    throw e;
  }
  return s.finish(false);
}

export interface InteractiveOptions {
  /** Set `requested` (from a SIGINT handler) to stop after the current batch. */
  stop: { requested: boolean };
  /** Draw a progress bar on stderr (a terminal) once the replay has run for a second. */
  progress: boolean;
  /** Called with the session once it is open (the CLI's second Ctrl-C aborts it). */
  onSession?: (s: RunSession) => void;
}

/**
 * `iommu-emu run` from the command line: the replay in slices of about 50 ms, yielding to the event
 * loop in between (progress bar, SIGINT); stops early when `stop.requested` is set.
 */
export async function runInteractive(scenarioFile: string, o: RunOptions, opts: InteractiveOptions): Promise<{ text: string; partial: boolean }> {
  const s = new RunSession(scenarioFile, o);
  opts.onSession?.(s);
  let bar: cliProgress.SingleBar | undefined;
  const started = performance.now();
  let partial = false;
  try {
    for (;;) {
      if (s.advance(50)) break;
      if (opts.progress) bar = updateBar(bar, s, started);
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (opts.stop.requested) {
        partial = !s.replayer.done;
        break;
      }
    }
  } catch (e) {
    bar?.stop();
    s.abort();
    throw e;
  }
  bar?.stop();
  return { text: s.finish(partial), partial };
}

/** Starts (after a second of replay) or updates the progress bar: input consumed, TLPs, TLPs/s, ETA. */
function updateBar(bar: cliProgress.SingleBar | undefined, s: RunSession, started: number): cliProgress.SingleBar | undefined {
  const now = performance.now();
  if (!bar && now - started < 1000) return undefined;
  const p = s.progress();
  const seconds = (now - started) / 1000;
  const rate = p.tlps / seconds;
  const payload = { tlps: p.tlps.toLocaleString("en-US"), rate: rate >= 1e6 ? `${(rate / 1e6).toFixed(2)} M` : `${(rate / 1e3).toFixed(1)} k` };
  if (!bar) {
    bar = new cliProgress.SingleBar(
      {
        format: "replaying {bar} {percentage}% | {tlps} TLPs | {rate} TLPs/s | ETA {eta_formatted}",
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
        fps: 5,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(p.total, 1), p.done, payload);
  } else bar.update(p.done, payload);
  return bar;
}

/**
 * The exit code of the command (bin/iommu-emu.mjs sets process.exitCode from main() before this
 * asynchronous action ends; the 'exit' listener makes this one win either way).
 */
function setExitCode(code: number): void {
  process.exitCode = code;
  process.once("exit", () => {
    process.exitCode = code;
  });
}

/** The asynchronous part of the action: errors are reported here, as main() reports them. */
async function runFromCli(scenario: string, opts: RunOptions): Promise<void> {
  await Promise.resolve(); // main() returns (and its caller sets the exit code) before anything here
  const stop = { requested: false };
  let session: RunSession | undefined;
  const onSigint = () => {
    if (stop.requested) {
      session?.abort();
      process.stderr.write("\niommu-emu: interrupted twice: stopped without writing any output\n");
      process.exit(EXIT_INTERRUPTED);
    }
    stop.requested = true;
  };
  process.on("SIGINT", onSigint);
  try {
    const { text, partial } = await runInteractive(scenario, opts, {
      stop,
      progress: process.stderr.isTTY === true,
      onSession: (s) => (session = s),
    });
    process.stdout.write(text + "\n");
    if (partial) setExitCode(EXIT_INTERRUPTED);
  } catch (e) {
    if (e instanceof InputError) {
      process.stderr.write(`iommu-emu: ${e.message}\n`);
      setExitCode(2);
    } else {
      process.stderr.write(`iommu-emu: internal error: ${(e as Error).stack ?? String(e)}\n`);
      setExitCode(1);
    }
  } finally {
    process.off("SIGINT", onSigint);
  }
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("replay a scenario's trace (or --trace FILE) and print a summary; Ctrl-C stops early with a partial summary")
    .argument("<scenario>", "scenario JSON file")
    .option("--trace <file>", "trace file, text format v1 or binary (by its first bytes); overrides the scenario's trace")
    .option("--results <out.jsonl>", "write per-TLP results as JSON Lines")
    .option("--report <out.json>", "write the run summary as JSON")
    .option("--html <out.html>", "write a self-contained HTML report (charts, per-device and per-PASID counts, No-Snoop audit)")
    .option("--core <build>", "core build: release or debug (assertions on)", "release")
    .option("--functional", "no timing model: the same translations, faults and counters, no latencies")
    .option("--preset <name>", `cache and timing preset, replacing the scenario's (${presetNames.join(", ")})`)
    .action((scenario: string, opts: RunOptions) => {
      if (opts.core !== "release" && opts.core !== "debug") throw new InputError(`--core: expected "release" or "debug", got "${opts.core}"`);
      return runFromCli(scenario, opts);
    });
}
