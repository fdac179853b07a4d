/**
 * `iommu-emu convert <in> <out> [--from FORMAT] [--to FORMAT] [--skip-bad] [--map k=Col,...]`:
 * converts a trace between text format v1 and the binary format (src/trace/binary.ts), both ways
 * without loss, or imports another tool's format (src/trace/importers) into either.
 *
 * - The input format is --from (text, binary or an importer's name), else the extension (.trace
 *   and .txt text, .bin and .itb binary), else the file's first bytes (the binary magic or not).
 *   The output format is --to, else the extension; a name with neither is an error.
 * - Text and binary stream (memory stays flat); an importer gets the whole file.
 * - Text output is canonical (text.ts formatEvent: one event per line, no comments), so text ->
 *   binary -> text gives back canonical text unchanged, and binary -> text -> binary the same bytes.
 * - --skip-bad leaves out, and counts, lines (text, importers) or records (binary) that are errors;
 *   without it the first one stops the conversion (exit 2, with file:line:column or file:record).
 * - --map passes a column mapping to an importer (CSV exports).
 * - The output is written to a temporary file and renamed at the end: a failed conversion leaves
 *   nothing behind.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { InputError } from "../errors.ts";
import { formatEvent, formatTlp, isTlp, type TraceEvent } from "../trace/text.ts";
import { BinaryTraceWriter, RECORD_WORDS, decodeTlpRecord, type TraceReader } from "../trace/binary.ts";
import { EventsReader, formatFromExtension, openTraceReader, sniffBinary, type TraceFormat } from "../trace/stream.ts";
import { importers } from "../trace/importers/index.ts";
import { OutputFile } from "../io/output.ts";

export interface ConvertOptions {
  from?: string;
  to?: string;
  skipBad?: boolean;
  /** Importer column mapping, "key=Column,key=Column". */
  map?: string;
}

export interface ConvertResult {
  from: string;
  to: TraceFormat;
  tlps: number;
  driverEvents: number;
  /** Lines or records left out (--skip-bad). */
  skipped: { line: number; reason: string }[];
}

const BATCH = 4096;

function formatList(): string {
  const names = Object.keys(importers).sort();
  return `text, binary${names.length ? `, or an importer: ${names.join(", ")}` : " (no importers are registered)"}`;
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

/** The input's format: --from, the extension, or the file's first bytes. */
function inputFormat(input: string, from: string | undefined): string {
  if (from !== undefined) {
    if (from === "text" || from === "binary" || Object.hasOwn(importers, from)) return from;
    throw new InputError(`--from: unknown format "${from}"; expected ${formatList()}`);
  }
  return formatFromExtension(input) ?? (sniffBinary(input) ? "binary" : "text");
}

function outputFormat(output: string, to: string | undefined): TraceFormat {
  if (to !== undefined) {
    if (to === "text" || to === "binary") return to;
    throw new InputError(`--to: unknown format "${to}"; expected text or binary${Object.hasOwn(importers, to) ? ` (importers only read: "${to}" is an input format)` : ""}`);
  }
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

function textSink(output: string): Sink {
  const f = OutputFile.openSync(output);
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

function binarySink(output: string): Sink {
  const w = new BinaryTraceWriter(output);
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

/** `iommu-emu convert`: converts `input` to `output`; returns what it did. */
export function convertCommand(input: string, output: string, o: ConvertOptions = {}): ConvertResult {
  const from = inputFormat(input, o.from);
  const to = outputFormat(output, o.to);
  const map = o.map !== undefined ? parseMap(o.map) : undefined;
  if (map && (from === "text" || from === "binary")) throw new InputError(`--map applies to importers (e.g. --from csv), not to ${from} input`);

  let reader: TraceReader;
  let importerSkipped: { line: number; reason: string }[] = [];
  if (from === "text" || from === "binary") reader = openTraceReader(input, { format: from, skipBad: o.skipBad === true });
  else {
    let text: string;
    try {
      text = readFileSync(input, "utf8");
    } catch (e) {
      throw new InputError(`cannot read the input (${(e as NodeJS.ErrnoException).code ?? String(e)})`, input);
    }
    const r = importers[from]!.import(text, input, { skipBad: o.skipBad === true, ...(map ? { map } : {}) });
    importerSkipped = r.skipped;
    reader = new EventsReader(r.events, input);
  }

  let sink: Sink | undefined;
  try {
    sink = to === "text" ? textSink(output) : binarySink(output);
    let tlps = 0;
    let driverEvents = 0;
    if (reader instanceof EventsReader) {
      // Importer events: each one checked as it is written (ranges, time order).
      for (;;) {
        const e = reader.next();
        if (e === undefined) break;
        sink.event(e, reader);
        if (isTlp(e)) tlps++;
        else driverEvents++;
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
      }
    }
    sink.commit();
    const located = importerSkipped.map((s) => (s.reason.startsWith(`${input}:`) ? s : { line: s.line, reason: `${input}:${s.line}: ${s.reason}` }));
    return { from, to, tlps, driverEvents, skipped: [...located, ...reader.skipped] };
  } catch (e) {
    sink?.abort();
    throw e;
  } finally {
    reader.close();
  }
}

export function registerConvert(program: Command): void {
  program
    .command("convert")
    .description("convert a trace between text v1 and binary (lossless both ways), or import another tool's format")
    .argument("<in>", "input trace")
    .argument("<out>", "output trace (.trace/.txt text, .bin/.itb binary, or --to)")
    .option("--from <format>", "input format: text, binary or an importer (default: by extension, else by content)")
    .option("--to <format>", "output format: text or binary (default: by extension)")
    .option("--skip-bad", "leave out (and count) lines or records that are errors instead of stopping")
    .option("--map <k=Col,...>", "column mapping for an importer (CSV exports)")
    .addHelpText("after", () => `\nformats: ${formatList()}`)
    .action((input: string, output: string, opts: ConvertOptions) => {
      const r = convertCommand(input, output, opts);
      const skipped = r.skipped.length ? `; skipped ${r.skipped.length} bad ${r.from === "binary" ? "records" : "lines"}` : "";
      process.stdout.write(`converted ${input} (${r.from}) to ${output} (${r.to}): ${r.tlps} TLPs, ${r.driverEvents} driver events${skipped}\n`);
      for (const s of r.skipped.slice(0, 5)) process.stderr.write(`iommu-emu: skipped: ${s.reason}\n`);
      if (r.skipped.length > 5) process.stderr.write(`iommu-emu: ... and ${r.skipped.length - 5} more\n`);
    });
}
