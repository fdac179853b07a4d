/**
 * `iommu-emu convert <in> <out> [--from FORMAT] [--to FORMAT] [--skip-bad] [--map k=Col,...]`:
 * converts a trace between text format v1 and the binary format (src/trace/binary.ts), both ways
 * without loss, or imports another tool's format (src/trace/importers) into either.
 *
 * - The input is a path or `-` (standard input, streamed); gzip and zstd are decompressed
 *   (src/io/input.ts). Its format is --from (text, binary, an importer's name, or auto), else the
 *   extension (.trace text; .bin and .itb binary, which must have the magic), else its first bytes
 *   (decompressed): the binary magic, else what its first lines look like (importers/detect.ts),
 *   else text. `--from auto` detects among all formats and refuses an input it cannot tell. The
 *   output format is --to, else the extension; `-` (standard output) without --to is text.
 * - An import prints its summary on standard error (lines read, used, ignored by reason, bad;
 *   events by kind); one that used no line of a non-empty input is an input error that says what
 *   the input looks like.
 * - Text and binary stream (memory stays flat); an importer gets the whole (decompressed) input.
 * - Text output is canonical (text.ts formatEvent: one event per line, no comments), so text ->
 *   binary -> text gives back canonical text unchanged, and binary -> text -> binary the same bytes.
 * - --skip-bad leaves out, and counts, lines (text, importers) or records (binary) that are errors;
 *   without it the first one stops the conversion (exit 2, with file:line:column or file:record).
 * - --map passes a column mapping to an importer (CSV exports).
 * - The output goes through src/io/output.ts (checked first by src/io/preflight.ts): a file is
 *   written to a temporary file renamed at the end, so a failed or interrupted conversion leaves
 *   nothing behind; a FIFO, a device or `-` is written through.
 */
import { extname } from "node:path";
import type { Command } from "commander";
import { InputError, quote } from "../errors.ts";
import { formatEvent, formatTlp, isTlp, type TraceEvent } from "../trace/text.ts";
import { BinaryTraceWriter, RECORD_WORDS, decodeTlpRecord, hasMagic, type TraceReader } from "../trace/binary.ts";
import { EventsReader, formatFromExtension, openTraceReader, type TraceFormat } from "../trace/stream.ts";
import { importers, importTrace } from "../trace/importers/index.ts";
import { formatImportSummary, type ImportSummary } from "../trace/importers/common.ts";
import { describeInput, detectFormat } from "../trace/importers/detect.ts";
import { OutputFile, isStandardOutput } from "../io/output.ts";
import { openInput, openInputAsync, readAllBytes, STDIN_NAME, type PeekSource } from "../io/input.ts";
import { preflight } from "../io/preflight.ts";
import { pause, runInterruptible } from "../io/interrupt.ts";

export interface ConvertOptions {
  from?: string;
  to?: string;
  skipBad?: boolean;
  /** Importer column mapping, "key=Column,key=Column". */
  map?: string;
}

export interface ConvertResult {
  from: string;
  /** The input format was detected from its first lines (no --from, no telling extension or magic). */
  detected: boolean;
  to: TraceFormat;
  tlps: number;
  driverEvents: number;
  /** Lines or records left out (--skip-bad). */
  skipped: { line: number; reason: string }[];
  /** An import's summary (importers only). */
  summary?: ImportSummary;
}

const BATCH = 4096;
/** Bytes of the input that format detection looks at. */
const DETECT_BYTES = 64 * 1024;

function formatList(): string {
  const names = Object.keys(importers).sort();
  return `text, binary${names.length ? `, or an importer: ${names.join(", ")}` : " (no importers are registered)"}, or auto`;
}

/** "k=Col,k2=Col 2" as a mapping; an InputError for anything else. */
export function parseMap(spec: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    const key = part.slice(0, eq).trim();
    const col = part.slice(eq + 1).trim();
    if (eq < 0 || key === "" || col === "") throw new InputError(`--map: expected key=Column pairs separated by commas (e.g. addr=Address,rid=Requester), got "${part}"`);
    if (key in out) throw new InputError(`--map: "${key}" is mapped twice`);
    out[key] = col;
  }
  return out;
}

/** The --from value checked: a format, "auto", or undefined (decided by the input: decideFormat). */
function inputFormat(from: string | undefined): string | undefined {
  if (from === undefined || from === "auto" || from === "text" || from === "binary" || Object.hasOwn(importers, from)) return from;
  throw new InputError(`--from: unknown format ${quote(from)}; expected ${formatList()}`);
}

/**
 * The input's format (and whether it was detected from its first lines): --from, else the
 * extension (.trace text, .bin/.itb binary), else the first bytes (the binary magic), else what
 * the first lines look like, else text (whose parser then says what is wrong).
 */
function decideFormat(source: PeekSource, input: string, forced: string | undefined): { format: string; detected: boolean } {
  const registry = Object.values(importers);
  if (forced === "auto") {
    const head = source.peek(DETECT_BYTES);
    const d = detectFormat(head, registry);
    if (d === undefined) throw new InputError(`--from auto: cannot tell the format from the first lines: ${describeInput(head, "auto", registry)}; give --from ${formatList().replace(/, or auto$/, "")}`, source.name);
    return { format: d.format, detected: true };
  }
  if (forced !== undefined) return { format: forced, detected: false };
  if (input !== "-") {
    if (formatFromExtension(input) === "binary") return { format: "binary", detected: false };
    if (extname(input).toLowerCase() === ".trace") return { format: "text", detected: false };
  }
  const head = source.peek(DETECT_BYTES);
  if (hasMagic(head)) return { format: "binary", detected: false };
  const d = detectFormat(head, registry);
  return d === undefined || d.format === "text" ? { format: "text", detected: false } : { format: d.format, detected: true };
}

function outputFormat(output: string, to: string | undefined): TraceFormat {
  if (to !== undefined) {
    if (to === "text" || to === "binary") return to;
    throw new InputError(`--to: unknown format "${to}"; expected text or binary${Object.hasOwn(importers, to) ? ` (importers only read: "${to}" is an input format)` : ""}`);
  }
  if (output === "-") return "text";
  const f = formatFromExtension(output);
  if (f === undefined) throw new InputError(`cannot tell the output format from the name "${output}"; use --to text or --to binary (or name it .trace/.txt or .bin/.itb)`);
  return f;
}

/** Writes events to text or binary; conversion problems become InputErrors at the event's position. */
interface Sink {
  records(words: Uint32Array, lines: Float64Array, n: number, reader: TraceReader): void;
  event(e: TraceEvent, reader: TraceReader): void;
  commit(): void;
  abort(): void;
}

function textSink(f: OutputFile): Sink {
  const parts: string[] = [];
  return {
    records(words, lines, n, reader) {
      for (let k = 0; k < n; k++) {
        const t = decodeTlpRecord(words, k * RECORD_WORDS, lines[k]!);
        try {
          parts.push(formatTlp(t));
        } catch (e) {
          if (e instanceof RangeError) throw reader.errorAt(`cannot write this TLP as text: ${e.message}`, t.line);
          throw e;
        }
      }
      if (parts.length) f.write(parts.join("\n") + "\n");
      parts.length = 0;
    },
    event(e, reader) {
      try {
        f.write(formatEvent(e) + "\n");
      } catch (err) {
        if (err instanceof RangeError) throw reader.errorAt(`cannot write this ${isTlp(e) ? "TLP" : "event"} as text: ${err.message}`, e.line, isTlp(e) ? undefined : e.column || undefined);
        throw err;
      }
    },
    commit: () => f.commit(),
    abort: () => f.abort(),
  };
}

function binarySink(out: OutputFile): Sink {
  const w = new BinaryTraceWriter(out);
  return {
    records(words, _lines, n) {
      w.writeTlpRecords(words, n);
    },
    event(e, reader) {
      try {
        w.write(e);
      } catch (err) {
        if (err instanceof RangeError) throw reader.errorAt(`cannot write this ${isTlp(e) ? "TLP" : "event"} as binary: ${err.message}`, e.line, isTlp(e) ? undefined : e.column || undefined);
        throw err;
      }
    },
    commit: () => w.commit(),
    abort: () => w.abort(),
  };
}

/** A conversion checked and its input open: `output` is opened next, then `steps` runs it. */
interface Conversion {
  from: string;
  detected: boolean;
  to: TraceFormat;
  reader: TraceReader;
  importerSkipped: { line: number; reason: string }[];
  summary?: ImportSummary;
}

/** Checks the options and the output path (nothing is read or written yet); the input's forced format and the output's. */
function check(input: string, output: string, o: ConvertOptions): { forced: string | undefined; to: TraceFormat; map: Record<string, string> | undefined } {
  const forced = inputFormat(o.from);
  const to = outputFormat(output, o.to);
  const map = o.map !== undefined ? parseMap(o.map) : undefined;
  if (map && (forced === "text" || forced === "binary")) throw new InputError(`--map applies to importers (e.g. --from csv), not to ${forced} input`);
  preflight({ outputs: [{ path: output, what: "the output" }], inputs: [{ path: input, what: "the input" }] });
  return { forced, to, map };
}

/**
 * Checks (`check`), opens the input (`source`: already opened by the CLI) and decides its format;
 * text and binary stream, an importer reads the whole (decompressed) input. Nothing is written yet.
 */
function prepare(input: string, output: string, o: ConvertOptions, source?: PeekSource): Conversion {
  const { forced, to, map } = check(input, output, o);
  const src = source ?? openInput(input, "a trace file");
  try {
    const { format, detected } = decideFormat(src, input, forced);
    if (format === "text" || format === "binary") {
      if (map) throw new InputError(`--map applies to importers (e.g. --from csv), not to ${format} input`);
      const reader = openTraceReader(src, { format, skipBad: o.skipBad === true });
      return { from: reader.format, detected, to, reader, importerSkipped: [] };
    }
    const name = input === "-" ? STDIN_NAME : input;
    let data = readAllBytes(src);
    if (data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) data = data.subarray(3); // a UTF-8 BOM
    src.close();
    const r = importTrace(format, data, name, { skipBad: o.skipBad === true, ...(map ? { map } : {}) });
    return { from: format, detected, to, reader: new EventsReader(r.events, name), importerSkipped: r.skipped, summary: r.summary };
  } catch (e) {
    src.close();
    throw e;
  }
}

/**
 * Converts into `out`, yielding after every batch (the CLI lets the event loop run there); commits
 * at the end, aborts the output on any error. Returns what it did.
 */
function* steps(c: Conversion, out: OutputFile): Generator<void, ConvertResult> {
  const { reader } = c;
  const sink = c.to === "text" ? textSink(out) : binarySink(out);
  try {
    let tlps = 0;
    let driverEvents = 0;
    if (reader instanceof EventsReader) {
      // Importer events: each one checked as it is written (ranges, time order).
      for (let k = 1; ; k++) {
        const e = reader.next();
        if (e === undefined) break;
        sink.event(e, reader);
        if (isTlp(e)) tlps++;
        else driverEvents++;
        if (k % BATCH === 0) yield;
      }
    } else {
      const words = new Uint32Array(BATCH * RECORD_WORDS);
      const lines = new Float64Array(BATCH);
      while (!reader.done) {
        const n = reader.readTlps(words, lines, BATCH);
        if (n > 0) sink.records(words, lines, n, reader);
        tlps += n;
        const e = reader.readDriverEvent();
        if (e !== undefined) {
          sink.event(e, reader);
          driverEvents++;
        }
        yield;
      }
    }
    sink.commit();
    const file = reader.file;
    const located = c.importerSkipped.map((s) => (s.reason.startsWith(`${file}:`) ? s : { line: s.line, reason: `${file}:${s.line}: ${s.reason}` }));
    return { from: c.from, detected: c.detected, to: c.to, tlps, driverEvents, skipped: [...located, ...reader.skipped], ...(c.summary ? { summary: c.summary } : {}) };
  } catch (e) {
    sink.abort();
    throw e;
  } finally {
    reader.close();
  }
}

/** `iommu-emu convert`: converts `input` to `output`; returns what it did. */
export function convertCommand(input: string, output: string, o: ConvertOptions = {}): ConvertResult {
  const c = prepare(input, output, o);
  let out: OutputFile;
  try {
    out = OutputFile.openSync(output, "the output");
  } catch (e) {
    c.reader.close();
    throw e;
  }
  const run = steps(c, out);
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
  }
}

/**
 * `iommu-emu convert` from the command line: the same steps, with the event loop let run every
 * 50 ms or so, so that Ctrl-C (`signal`) stops it; the output is then removed (Interrupted).
 */
export async function convertInteractive(input: string, output: string, o: ConvertOptions, signal: AbortSignal): Promise<ConvertResult> {
  check(input, output, o);
  const source = await openInputAsync(input, "a trace file", signal);
  let c: Conversion;
  try {
    c = prepare(input, output, o, source);
  } catch (e) {
    source?.close();
    throw e;
  }
  let out: OutputFile;
  try {
    out = await OutputFile.open(output, "the output", signal);
  } catch (e) {
    c.reader.close();
    throw e;
  }
  const run = steps(c, out);
  try {
    for (let until = performance.now() + 50; ; ) {
      const r = run.next();
      if (r.done) return r.value;
      if (performance.now() >= until) {
        await pause(signal);
        until = performance.now() + 50;
      }
    }
  } catch (e) {
    run.return(undefined as never); // closes the input (the generator's finally) if it was still running
    out.abort();
    throw e;
  }
}

export function registerConvert(program: Command): void {
  program
    .command("convert")
    .argument("<in>", "input trace, or - for standard input (gzip and zstd are decompressed)")
    .argument("<out>", "output trace (.trace/.txt text, .bin/.itb binary, or --to), or - for standard output (text unless --to)")
    .option("--from <format>", "input format: text, binary, an importer, or auto (default: by extension, else by content)")
    .option("--to <format>", "output format: text or binary (default: by extension)")
    .option("--skip-bad", "leave out (and count) lines or records that are errors instead of stopping")
    .option("--map <k=Col,...>", "column mapping for an importer (CSV exports)")
    .addHelpText("after", () => `\nformats: ${formatList()}`)
    .action((input: string, output: string, opts: ConvertOptions) =>
      runInterruptible(async (signal) => {
        const r = await convertInteractive(input, output, opts, signal);
        const skipped = r.skipped.length ? `; skipped ${r.skipped.length} bad ${r.from === "binary" ? "records" : "lines"}` : "";
        const name = (f: string, std: string) => (f === "-" ? std : f);
        if (r.detected) process.stderr.write(`iommu-emu: input format: ${r.from} (detected from its first lines)\n`);
        if (r.summary) for (const l of formatImportSummary(r.summary, name(input, STDIN_NAME))) process.stderr.write(`iommu-emu: ${l}\n`);
        // With the output on standard output, the line saying what was done goes to standard error.
        (isStandardOutput(output) ? process.stderr : process.stdout).write(
          `converted ${name(input, "standard input")} (${r.from}) to ${name(output, "standard output")} (${r.to}): ${r.tlps} TLPs, ${r.driverEvents} driver events${skipped}\n`,
        );
        for (const s of r.skipped.slice(0, 5)) process.stderr.write(`iommu-emu: skipped: ${s.reason}\n`);
        if (r.skipped.length > 5) process.stderr.write(`iommu-emu: ... and ${r.skipped.length - 5} more\n`);
      }),
    );
}
