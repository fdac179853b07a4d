/**
 * `iommu-emu run`: replay a scenario's trace and print (and write) its results.
 *
 * The trace streams (src/replay/replay.ts Replayer over a src/trace/stream.ts reader: text or
 * binary, by the file's first bytes), so memory stays flat whatever its length. From the command
 * line the replay runs in slices of about 50 ms with the event loop in between, so that on a
 * terminal a progress bar (TLPs/s, ETA) can be drawn, and Ctrl-C (SIGINT) stops after the current
 * batch: the summary, --report and --html then cover what was replayed (marked partial) and the
 * --results file holds its results; the exit code is 130. A second Ctrl-C stops at once, leaving
 * no output files. The scenario's set-up (large mappings) runs in slices the same way, with its
 * own progress bar; Ctrl-C during it stops with exit code 130 before anything is replayed or
 * written.
 *
 * Outputs (src/io/output.ts) are checked before the scenario is loaded (src/io/preflight.ts), and
 * again against the scenario's own trace once it is known; any of them may be `-` (standard
 * output; then the summary goes to standard error). `--trace -` reads the trace from standard input.
 */
import { IommuLayer } from "../iommu/iommu.ts";
import { RegionGuard, p2pWindowsOf } from "../iommu/regions.ts";
import { P2pAudit } from "../iommu/p2p-audit.ts";
import { archReports } from "../report/arch/index.ts";
import { relative } from "node:path";
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { InputError } from "../errors.ts";
import { loadScenario, loadScenarioSteps, type LoadedScenario, type LoadOptions } from "../scenario.ts";
import { limitNames, parseLimitOptions, type Limits } from "../config/limits.ts";
import { parseTraceLines } from "../trace/text.ts";
import { EventsReader, openTraceReader } from "../trace/stream.ts";
import type { TraceReader } from "../trace/binary.ts";
import { Replayer, type DriverResult, type Refusal, type Refusals, type ResultSink } from "../replay/replay.ts";
import { summarize, formatSummary, type RunSummary, type SummaryInfo } from "../report/summary.ts";
import { driverResultLine, refusalLine, resultLine } from "../report/results.ts";
import { formatVmCounts } from "../iommu/pasid.ts";
import { OutputFile, abortAll, isStandardOutput, openOutputs } from "../io/output.ts";
import { preflight, type InputSpec, type OutputSpec } from "../io/preflight.ts";
import { openInputAsync, type PeekSource } from "../io/input.ts";
import { EXIT_INTERRUPTED, runInterruptible, setExitCode } from "../io/interrupt.ts";
import { ReportCollector } from "../report/collector.ts";
import { renderHtmlReport } from "../report/html.ts";
import type { CoreBuild } from "../core/core.ts";
import { presetNames, type PresetName } from "../config/timing.ts";
import { ExpectedFaults } from "../replay/expected-faults.ts";
import { resolveScenarioArg } from "./examples.ts";
import { WbinvdAudit } from "../iommu/wbinvd.ts";

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
  /** Compares each TLP's expected fault (expect=) with the model's (src/replay/expected-faults.ts). */
  expectFaults?: boolean;
  /** A refused driver event: an input error, or a `refused` result; replaces config.driver.refusals. */
  refusals?: string;
  /** How the summary, --report and --html name the scenario and the trace (default: their files; sweeps name them as sweep.json does). */
  names?: { scenario: string; trace?: string };
  /** Budgets over the scenario's config.limits (--limit NAME=N). */
  limits?: Partial<Limits>;
}

/** How `run` loads the scenario (the --preset value was checked by checkRunOptions). */
function loadOptions(o: RunOptions): LoadOptions {
  return {
    build: o.core ?? "release",
    functional: o.functional === true,
    ...(o.preset !== undefined ? { preset: o.preset as PresetName } : {}),
    ...(o.limits !== undefined ? { limits: o.limits } : {}),
  };
}

export { EXIT_INTERRUPTED };

/** The output files of a run, opened. */
export interface RunOutputs {
  results?: OutputFile | undefined;
  report?: OutputFile | undefined;
  html?: OutputFile | undefined;
}

/** The outputs a run writes, for preflight (src/io/preflight.ts). */
function outputSpecs(o: RunOptions): OutputSpec[] {
  const out: OutputSpec[] = [];
  if (o.results !== undefined) out.push({ path: o.results, what: "--results" });
  if (o.report !== undefined) out.push({ path: o.report, what: "--report" });
  if (o.html !== undefined) out.push({ path: o.html, what: "--html" });
  return out;
}

/** The inputs known before the scenario is loaded: it, and --trace. */
function inputSpecs(scenarioFile: string, o: RunOptions): InputSpec[] {
  const inputs: InputSpec[] = [{ path: scenarioFile, what: "the scenario" }];
  if (o.trace !== undefined) inputs.push({ path: o.trace, what: "--trace" });
  return inputs;
}

/** Checks the options and the output paths before anything is loaded (the CLI; RunSession checks again with the scenario's trace). */
export function checkRunOptions(scenarioFile: string, o: RunOptions): void {
  if (scenarioFile === "-") throw new InputError(`the scenario cannot be standard input (-): its trace and paths are relative to its folder; give its file (--trace - reads the trace from standard input)`);
  if (o.preset !== undefined && !(presetNames as readonly string[]).includes(o.preset))
    throw new InputError(`--preset: expected one of ${presetNames.map((p) => `"${p}"`).join(", ")}, got "${o.preset}"`);
  if (o.refusals !== undefined && o.refusals !== "error" && o.refusals !== "results") throw new InputError(`--refusals: expected "error" or "results", got "${o.refusals}"`);
  preflight({ outputs: outputSpecs(o), inputs: inputSpecs(scenarioFile, o) });
}

/**
 * Opens the outputs of `o` (a FIFO's open waits for its reader off the main thread, and gives up
 * when `signal` is aborted); on a failure none stays open.
 */
export async function openRunOutputs(o: RunOptions, signal?: AbortSignal): Promise<RunOutputs> {
  const [results, report, html] = await openOutputs(
    [
      [o.results, "--results"],
      [o.report, "--report"],
      [o.html, "--html"],
    ],
    signal,
  );
  return { results, report, html };
}

/** `sink` (if any), then `add`, for each TLP's result. */
function chainSink(sink: ResultSink | undefined, add: ResultSink): ResultSink {
  return sink
    ? (seq, t, r) => {
        sink(seq, t, r);
        add(seq, t, r);
      }
    : add;
}

/** A run in progress: scenario loaded, trace open, output files started (not yet visible). */
export class RunSession {
  readonly replayer: Replayer;
  private readonly reader: TraceReader;
  private readonly out: RunOutputs;
  private readonly collector: ReportCollector | undefined;
  private readonly loaded: LoadedScenario;
  private readonly traceName: string | undefined;
  private readonly expected: ExpectedFaults | undefined;
  /** The wbinvd report's bookkeeping (src/iommu/wbinvd.ts): the scenario has a topology or drivers. */
  private wbinvd: WbinvdAudit | undefined;
  /** Peer-to-peer TLPs per requester and window: the scenario has p2p windows. */
  private p2p: P2pAudit | undefined;
  /** What a refused driver event is in this run (--refusals, else config.driver.refusals). */
  private readonly refusals: Refusals;
  /** The driver side of this run (its VMs' PASID counts go into the summary). */
  private layer!: IommuLayer;
  private closed = false;

  /**
   * Loads the scenario (unless `loaded` is given: the CLI loads it in slices), checks the outputs
   * against every input (the scenario's own trace too) and opens the trace; `outputs` are the
   * outputs already opened (the CLI), else they are opened here.
   */
  constructor(
    readonly scenarioFile: string,
    private readonly o: RunOptions = {},
    outputs?: RunOutputs,
    /** --trace already opened (the CLI: a FIFO's open waits off the main thread). */
    traceSource?: PeekSource,
    loaded?: LoadedScenario,
  ) {
    this.out = outputs ?? {};
    try {
      checkRunOptions(scenarioFile, o);
      loaded = this.loaded = loaded ?? loadScenario(scenarioFile, loadOptions(o));
      if (o.trace === undefined && loaded.trace && !("lines" in loaded.trace))
        preflight({ outputs: outputSpecs(o), inputs: [{ path: loaded.trace.file, what: "the scenario's trace" }] });
      if (o.trace) {
        this.reader = openTraceReader(traceSource ?? o.trace);
        this.traceName = this.reader.file;
      } else if (loaded.trace && "lines" in loaded.trace) {
        const { file, lines, lineNumbers } = loaded.trace;
        this.reader = new EventsReader(parseTraceLines(lines, file, (i) => lineNumbers[i]!), file);
        this.traceName = "inline trace";
      } else if (loaded.trace) {
        this.reader = openTraceReader(loaded.trace.file);
        this.traceName = relative(process.cwd(), loaded.trace.file) || loaded.trace.file;
      } else this.reader = new EventsReader([]);
    } catch (e) {
      abortAll([this.out.results, this.out.report, this.out.html]);
      throw e;
    }
    try {
      if (!outputs) {
        if (o.results !== undefined) this.out.results = OutputFile.openSync(o.results, "--results");
        if (o.report !== undefined) this.out.report = OutputFile.openSync(o.report, "--report");
        if (o.html !== undefined) this.out.html = OutputFile.openSync(o.html, "--html");
      }
      const loaded = this.loaded;
      const results = this.out.results;
      const timing = loaded.platform.timing.enable ? { clockMHz: loaded.platform.timing.clockMHz } : undefined;
      let sink: ResultSink | undefined = results ? (seq, t, r) => results.write(resultLine(seq, t, r, timing, loaded.platform.module.resultTags)) : undefined;
      const collector = (this.collector = this.out.html ? new ReportCollector({ faults: loaded.platform.module.faults, auditStage: archReports[loaded.platform.module.name].auditStage }) : undefined);
      if (collector) sink = chainSink(sink, (_seq, t, r) => collector.add(t, r));
      // The driver side above the unit's driver (src/iommu): ownership, bind/unbind, domain-alloc, replace.
      const { topology, drivers, domainAlloc, vms, pasidSpace, groupRule } = loaded.scenario;
      const blocking = (domainAlloc ?? []).filter((a) => a.kind === "blocking").map((a) => a.id);
      // PASIDs: the architecture's space (module.pasidPolicy) unless pasidSpace.policy says.
      const space = { ...pasidSpace, policy: pasidSpace?.policy ?? loaded.platform.module.pasidPolicy };
      const driver = (this.layer = new IommuLayer(loaded.platform.createDriver({ ...loaded.driver, limits: loaded.limits }), topology, (drivers ?? []).map((b) => [b.bdf, b.driver] as const), blocking, {
        ...(vms ? { vms } : {}),
        ...(groupRule ? { groupRule } : {}),
        pasidSpace: space,
      }, RegionGuard.ofScenario(loaded.scenario, loaded.regions)));
      // The wbinvd report (src/iommu/wbinvd.ts) when the scenario has the driver side's devices.
      if (topology !== undefined || drivers !== undefined) {
        const audit = (this.wbinvd = new WbinvdAudit((sid, pasid) => driver.wbinvdOwner(sid, pasid), loaded.scenario.config?.platform?.honoursNoSnoop ?? true));
        sink = chainSink(sink, (seq, t, r) => audit.add(seq, t, r));
      }
      // Peer-to-peer TLPs per requester and window (src/iommu/p2p-audit.ts) when the scenario has p2p windows.
      const p2p = new P2pAudit(p2pWindowsOf(loaded.scenario, loaded.regions));
      if (p2p.any) {
        this.p2p = p2p;
        sink = chainSink(sink, (_seq, t, r) => p2p.add(t, r));
      }
      const expected = (this.expected = o.expectFaults ? new ExpectedFaults(loaded.platform.module.name, this.reader.format === "binary" ? "record" : "line") : undefined);
      const refusals = (this.refusals = (o.refusals as Refusals | undefined) ?? loaded.refusals);
      this.replayer = new Replayer(loaded.platform, this.reader, sink, {
        driver,
        refusals,
        ...(results ? { onRefusal: (r: Refusal) => results.write(refusalLine(r)), onNote: (n: DriverResult) => results.write(driverResultLine(n)) } : {}),
        ...(expected ? { onExpectation: (seq, t, r) => expected.add(seq, t, r) } : {}),
      });
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
        scenario: this.o.names?.scenario ?? this.scenarioFile,
        hostSeconds: stats.hostSeconds,
        tlps: stats.tlps,
        driver: { mode: this.loaded.driver.invalidation, stats: stats.driver, ...(this.refusals === "results" ? { refused: stats.refusedEvents } : {}), domainModes: this.layer.domainModes() },
        invalidationWindow: stats.invalidationWindow,
      };
      const trace = this.o.names ? this.o.names.trace : this.traceName;
      if (trace) info.trace = trace;
      const summary: RunSummary & { partial?: true; expectedFaults?: ReturnType<ExpectedFaults["report"]> } = summarize(this.loaded.platform, info);
      if (partial) summary.partial = true;
      if (this.wbinvd) summary.wbinvd = this.wbinvd.report();
      if (this.expected) summary.expectedFaults = this.expected.report();
      if (this.loaded.scenario.vms) summary.vms = this.layer.vms.report();
      // The driver events when the run has a driver side (its scenario's keys or events) or refused one.
      const { driverSide, ...events } = stats.driverEventLog;
      const { topology, drivers, vms, domainAlloc } = this.loaded.scenario;
      if (driverSide || events.refused || [topology, drivers, vms, domainAlloc].some((k) => k !== undefined)) summary.driverEvents = events;
      if (this.p2p) summary.peerToPeer = this.p2p.report();
      const { results, report, html } = this.out;
      report?.write(JSON.stringify(summary, null, 2) + "\n");
      if (html && this.collector) html.write(renderHtmlReport(summary, this.collector.result()));
      for (const f of [results, report, html]) f?.commit();
      this.close();
      let text = formatSummary(summary);
      if (summary.vms) text += "\n" + formatVmCounts(summary.vms);
      if (this.expected) text += "\n" + this.expected.format();
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
    abortAll([this.out.results, this.out.report, this.out.html]);
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
  /** Aborted (the first Ctrl-C) to stop after the current batch. */
  signal: AbortSignal;
  /** Draw a progress bar on stderr (a terminal) once the replay has run for a second. */
  progress: boolean;
  /** Called with the session once it is open (the CLI's second Ctrl-C aborts it). */
  onSession?: (s: RunSession) => void;
}

/**
 * `iommu-emu run` from the command line: the outputs opened (FIFOs wait for their reader without
 * blocking Ctrl-C), the set-up (loadScenarioSteps) and then the replay in slices of about 50 ms,
 * yielding to the event loop in between (progress bars, SIGINT); stops early once `signal` is
 * aborted. A Ctrl-C that comes as the input ends (the producer of a pipe stopped by the same
 * Ctrl-C) still makes the run partial. Stopped during the set-up, nothing has been replayed or
 * written: `setupInterrupted` says so.
 */
export async function runInteractive(
  scenarioFile: string,
  o: RunOptions,
  opts: InteractiveOptions,
): Promise<{ text: string; partial: boolean; setupInterrupted?: true }> {
  checkRunOptions(scenarioFile, o);
  const outputs = await openRunOutputs(o, opts.signal);
  let source: PeekSource | undefined;
  let loaded: LoadedScenario | undefined;
  try {
    if (o.trace !== undefined) source = await openInputAsync(o.trace, "a trace file", opts.signal);
    loaded = await setUp(scenarioFile, o, opts);
  } catch (e) {
    source?.close();
    abortAll([outputs.results, outputs.report, outputs.html]);
    throw e;
  }
  if (loaded === undefined) {
    source?.close();
    abortAll([outputs.results, outputs.report, outputs.html]);
    return { text: "", partial: true, setupInterrupted: true };
  }
  const s = new RunSession(scenarioFile, o, outputs, source, loaded);
  opts.onSession?.(s);
  let bar: cliProgress.SingleBar | undefined;
  const started = performance.now();
  try {
    for (;;) {
      const ended = s.advance(50);
      if (!ended && opts.progress) bar = updateBar(bar, s, started);
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (ended || opts.signal.aborted) break;
    }
  } catch (e) {
    bar?.stop();
    s.abort();
    throw e;
  }
  bar?.stop();
  const partial = opts.signal.aborted;
  return { text: s.finish(partial), partial };
}

/**
 * Loads the scenario in slices of about 50 ms, yielding to the event loop in between: on a
 * terminal a progress bar once the set-up has taken a second (large mappings); undefined when
 * `signal` is aborted (Ctrl-C) before it ends.
 */
async function setUp(scenarioFile: string, o: RunOptions, opts: InteractiveOptions): Promise<LoadedScenario | undefined> {
  const steps = loadScenarioSteps(scenarioFile, loadOptions(o));
  const started = performance.now();
  let bar: cliProgress.SingleBar | undefined;
  try {
    for (;;) {
      const until = performance.now() + 50;
      let r = steps.next();
      while (!r.done && performance.now() < until) r = steps.next();
      if (r.done) return r.value;
      if (opts.progress && (bar || performance.now() - started >= 1000)) {
        const { done, total, key } = r.value;
        if (!bar) {
          bar = progressBar("setting up {bar} {percentage}% | {key} | ETA {eta_formatted}");
          bar.start(Math.max(total, 1), done, { key });
        } else bar.update(done, { key });
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (opts.signal.aborted) return undefined;
    }
  } finally {
    bar?.stop();
  }
}

/** A progress bar on stderr in `format` (the replay's and the set-up's). */
function progressBar(format: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: true, fps: 5, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
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
    bar = progressBar("replaying {bar} {percentage}% | {tlps} TLPs | {rate} TLPs/s | ETA {eta_formatted}");
    bar.start(Math.max(p.total, 1), p.done, payload);
  } else bar.update(p.done, payload);
  return bar;
}

/** The asynchronous part of the action (Ctrl-C and failures: src/io/interrupt.ts). */
async function runFromCli(scenario: string, opts: RunOptions): Promise<void> {
  let session: RunSession | undefined;
  await runInterruptible(
    async (signal) => {
      const { text, partial, setupInterrupted } = await runInteractive(scenario, opts, {
        signal,
        progress: process.stderr.isTTY === true,
        onSession: (s) => (session = s),
      });
      if (setupInterrupted) {
        process.stderr.write(`iommu-emu: interrupted while setting up ${scenario}: nothing was replayed or written\n`);
        setExitCode(EXIT_INTERRUPTED);
        return;
      }
      // With an output on standard output, the summary goes to standard error.
      const toStdout = ![opts.results, opts.report, opts.html].some(isStandardOutput);
      (toStdout ? process.stdout : process.stderr).write(text + "\n");
      if (partial) setExitCode(EXIT_INTERRUPTED);
    },
    () => session?.abort(),
  );
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .argument("<scenario>", "scenario JSON file, or example:NAME for a bundled example (iommu-emu examples)")
    .option("--trace <file>", "trace file, text format v1 or binary (by its first bytes); overrides the scenario's trace")
    .option("--results <out.jsonl>", "write per-TLP results as JSON Lines")
    .option("--report <out.json>", "write the run summary as JSON")
    .option("--html <out.html>", "write a self-contained HTML report (charts, per-device and per-PASID counts, No-Snoop audit)")
    .option("--core <build>", "core build: release or debug (assertions on)", "release")
    .option("--functional", "no timing model: the same translations, faults and counters, no latencies")
    .option("--preset <name>", `cache and timing preset, replacing the scenario's (${presetNames.join(", ")})`)
    .option("--expect-faults", "compare each TLP's logged fault (expect=, from the importers) with the model's: match, different reason or no fault")
    .option("--refusals <mode>", 'a driver event the driver refuses: "error" (exit 2, the default) or "results" (a refused result line, counted in the summary); replaces config.driver.refusals')
    .option("--limit <NAME=N>", `set a budget, over the scenario's config.limits (repeatable; README "Budgets"): ${limitNames.join(", ")}`, (v: string, all: string[]) => [...all, v], [] as string[])
    .action((scenario: string, opts: RunOptions & { limit: string[] }) => {
      if (opts.core !== "release" && opts.core !== "debug") throw new InputError(`--core: expected "release" or "debug", got "${opts.core}"`);
      const { limit, ...rest } = opts;
      return runFromCli(resolveScenarioArg(scenario), limit.length ? { ...rest, limits: parseLimitOptions(limit) } : rest);
    });
}
