/**
 * Parser targets: every text parser and importer, fed mutated real lines (mutate.ts). The contract:
 * - the only exception is an InputError (an importer's LineError is one), whose message starts
 *   with the file name (and line, column where there is one) and carries no raw control character;
 * - text v1: whatever parses prints (formatEvent) as a line that parses back to the same event;
 * - the streaming reader (byte-level fast path, any chunk size) gives the full parser's events
 *   and errors exactly;
 * - the binary reader, over a valid file with bytes flipped, set, cut or inserted, reads events
 *   or stops with an InputError;
 * - JSON with positions: the value JSON.parse gives, or an InputError (JSON.parse may accept a
 *   text only where the documented extra rules refuse it: duplicate keys, nesting depth).
 */
import * as fc from "fast-check";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { InputError } from "../../src/errors.ts";
import { formatEvent, parseTraceText, type TraceEvent } from "../../src/trace/text.ts";
import { TextTraceReader, readEvents } from "../../src/trace/stream.ts";
import { BinaryTraceReader, BinaryTraceWriter } from "../../src/trace/binary.ts";
import type { ByteSource } from "../../src/io/input.ts";
import { importTrace } from "../../src/trace/importers/index.ts";
import { parseJsonLocated } from "../../src/config/json-locate.ts";
import { FIXTURES } from "../../test/trace/importers/fixtures.ts";
import { arbTrace } from "../../test/trace/arbitraries.ts";
import { canonical, FuzzProblem, stringifyBig, type FuzzTarget } from "./target.ts";
import { mutatedArb, mutatedLines, RAW_CONTROL, type Mutated } from "./mutate.ts";
import { applyJsonEdits, jsonEditArb, type JsonEdit } from "./mutate-json.ts";

const ROOT = new URL("../../", import.meta.url);
const FILE = "fuzz.trace";

/** Runs `f`; an InputError is an outcome (returned), anything else is a problem. */
export function inputOutcome<T>(what: string, f: () => T, file: string): { value: T } | { error: InputError } {
  try {
    return { value: f() };
  } catch (e) {
    if (!(e instanceof InputError)) throw new FuzzProblem(`${what} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}, not an InputError`);
    checkMessage(e.message, file);
    return { error: e };
  }
}

export function checkMessage(message: string, file: string): void {
  if (RAW_CONTROL.test(message)) throw new FuzzProblem(`message with a raw control character: ${JSON.stringify(message)}`);
  if (!message.startsWith(`${file}:`) && !message.startsWith(`${file} `)) throw new FuzzProblem(`message does not start with the file name ${file}: ${JSON.stringify(message)}`);
}

/** Events without their positions (a reprinted line is line 1). */
const bare = (e: TraceEvent) => {
  const { line: _l, column: _c, ...rest } = e as TraceEvent & { column?: number };
  return canonical(rest);
};

// ---- corpora ----------------------------------------------------------------------------------------

/** Text v1 lines: the bundled example trace and every kind of event the trace arbitraries make. */
function textCorpus(): string[] {
  const example = readFileSync(new URL("examples/vtd-sm/dma.trace", ROOT), "utf8").split("\n").slice(0, 200);
  const made = fc.sample(arbTrace({ maxLength: 20, eventShare: 2 }), { seed: 42, numRuns: 40 }).flat().map(formatEvent);
  return [...example, ...made].filter((l) => l.length > 0);
}

let corpusCache: string[] | undefined;
const corpus = () => (corpusCache ??= textCorpus());

// ---- text v1 ----------------------------------------------------------------------------------------

export function textTarget(): FuzzTarget<Mutated> {
  const lines = corpus();
  return {
    name: "text",
    arbitrary: mutatedArb(8),
    check(m) {
      const ls = mutatedLines(m, lines);
      const text = ls.join("\n");
      const out = inputOutcome("parseTraceText", () => parseTraceText(text, FILE), FILE);
      if ("value" in out)
        for (const e of out.value) {
          const line = formatEvent(e);
          const again = inputOutcome("parseTraceText of a printed event", () => parseTraceText(line, FILE), FILE);
          if ("error" in again) throw new FuzzProblem(`event of line ${e.line} prints as ${JSON.stringify(line)}, which does not parse: ${again.error.message}`);
          if (again.value.length !== 1 || bare(again.value[0]!) !== bare(e)) throw new FuzzProblem(`event of line ${e.line} does not survive printing and parsing: ${bare(e)} -> ${JSON.stringify(line)} -> ${again.value.map(bare).join(" ")}`);
        }
      return ls.length;
    },
  };
}

// ---- streaming reader vs the full parser ------------------------------------------------------------

/** A ByteSource over bytes in memory. */
export class MemorySource implements ByteSource {
  readonly compression = undefined;
  private pos = 0;
  constructor(
    readonly name: string,
    private readonly bytes: Uint8Array,
    /** Bytes per read at most (short reads). */
    private readonly step = bytes.length,
  ) {}
  get size(): number {
    return this.bytes.length;
  }
  get progress() {
    return { done: this.pos, total: this.bytes.length };
  }
  read(buf: Uint8Array, offset: number, length: number): number {
    const n = Math.min(length, this.bytes.length - this.pos, Math.max(1, this.step));
    buf.set(this.bytes.subarray(this.pos, this.pos + n), offset);
    this.pos += n;
    return n;
  }
  close(): void {}
}

function readAll(r: { done: boolean } & Parameters<typeof readEvents>[0], file: string): { events: string[]; error?: string } {
  const events: string[] = [];
  const out = inputOutcome("the reader", () => {
    for (const e of readEvents(r)) events.push(canonical(e));
  }, file);
  r.close();
  return "error" in out ? { events, error: out.error.message } : { events };
}

export function streamTarget(): FuzzTarget<{ m: Mutated; chunk: number; crlf: boolean; finalNewline: boolean }> {
  const lines = corpus();
  return {
    name: "stream",
    arbitrary: fc.record({ m: mutatedArb(12), chunk: fc.integer({ min: 1, max: 300 }), crlf: fc.boolean(), finalNewline: fc.boolean() }),
    check({ m, chunk, crlf, finalNewline }) {
      const ls = mutatedLines(m, lines);
      // what the bytes stand for: a lone surrogate cannot be in UTF-8 (it reads as U+FFFD)
      const text = Buffer.from(ls.join(crlf ? "\r\n" : "\n") + (finalNewline ? "\n" : ""), "utf8").toString("utf8");
      const full = inputOutcome("parseTraceText", () => parseTraceText(text, FILE), FILE);
      const expected = "value" in full ? { events: full.value.map((e) => canonical(e)) } : { error: full.error.message };
      const got = readAll(new TextTraceReader(new MemorySource(FILE, Buffer.from(text, "utf8")), { chunkBytes: chunk }), FILE);
      if (expected.error !== undefined) {
        if (got.error !== expected.error) throw new FuzzProblem(`the full parser stops with ${JSON.stringify(expected.error)}, the streaming reader with ${JSON.stringify(got.error ?? "no error")}`);
      } else {
        if (got.error !== undefined) throw new FuzzProblem(`the full parser reads the text, the streaming reader stops: ${got.error}`);
        if (!isDeepStrictEqual(got.events, expected.events)) throw new FuzzProblem(`events differ:\n  full   ${expected.events.join("\n         ")}\n  stream ${got.events.join("\n         ")}`);
      }
      return ls.length;
    },
  };
}

// ---- binary reader ----------------------------------------------------------------------------------

type ByteEdit = { op: "set"; at: number; byte: number } | { op: "flip"; at: number; bit: number } | { op: "cut"; at: number } | { op: "insert"; at: number; bytes: number[] } | { op: "word"; at: number; value: number };

function binaryCorpus(): Uint8Array[] {
  const dir = mkdtempSync(join(tmpdir(), "iommu-emu-fuzz-"));
  return fc.sample(arbTrace({ maxLength: 12, eventShare: 2 }), { seed: 7, numRuns: 24 }).map((events, i) => {
    const f = join(dir, `c${i}.itb`);
    const w = new BinaryTraceWriter(f);
    for (const e of events) w.write(e);
    w.commit();
    return new Uint8Array(readFileSync(f));
  });
}

export function binaryTarget(): FuzzTarget<{ file: number; edits: ByteEdit[]; chunk: number; skipBad: boolean }> {
  const files = binaryCorpus();
  const edit: fc.Arbitrary<ByteEdit> = fc.oneof(
    fc.record({ op: fc.constant("set" as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
    fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
    fc.record({ op: fc.constant("cut" as const), at: fc.nat() }),
    fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 64 }) }),
    fc.record({ op: fc.constant("word" as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(0, 0xffffffff, 0x7fffffff, 0x80000000, 1), fc.nat()) }),
  );
  return {
    name: "binary",
    arbitrary: fc.record({ file: fc.nat(), edits: fc.array(edit, { minLength: 1, maxLength: 6 }), chunk: fc.integer({ min: 1, max: 64 }), skipBad: fc.boolean() }),
    check({ file, edits, chunk, skipBad }) {
      let b = files[file % files.length]!;
      for (const e of edits) {
        const at = e.at % (b.length + 1);
        if (e.op === "set" && at < b.length) (b = b.slice()), (b[at] = e.byte);
        else if (e.op === "flip" && at < b.length) (b = b.slice()), (b[at]! ^= 1 << e.bit);
        else if (e.op === "cut") b = b.slice(0, at);
        else if (e.op === "insert") b = Uint8Array.from([...b.subarray(0, at), ...e.bytes, ...b.subarray(at)]);
        else if (e.op === "word") {
          const w = (at & ~3) % Math.max(4, b.length - 3);
          if (w + 4 <= b.length) (b = b.slice()), new DataView(b.buffer).setUint32(w, e.value >>> 0, true);
        }
      }
      const name = "fuzz.itb";
      const opened = inputOutcome("BinaryTraceReader", () => new BinaryTraceReader(new MemorySource(name, b, 1 + (b.length % 97)), { chunkRecords: chunk, skipBad }), name);
      if ("value" in opened) readAll(opened.value, name);
      return 1;
    },
  };
}

// ---- importers --------------------------------------------------------------------------------------

export function importerTarget(name: string): FuzzTarget<{ m: Mutated; skipBad: boolean; fixture: number; head: boolean }> {
  const fixtures = FIXTURES.filter(([imp]) => imp === name);
  const corpora = fixtures.map(([, , text]) => text.split("\n").filter((l) => l.length > 0));
  const maps = fixtures.map(([, , , map]) => map);
  return {
    name,
    // lines of one fixture, mutated; `head`: after the fixture's first line as it is (a CSV header)
    arbitrary: fc.record({ m: mutatedArb(10), skipBad: fc.boolean(), fixture: fc.nat(), head: fc.boolean() }),
    check({ m, skipBad, fixture, head }) {
      const corpus = corpora[fixture % corpora.length]!;
      const ls = mutatedLines(m, corpus);
      if (head) ls.unshift(corpus[0]!);
      const text = ls.join("\n");
      const file = `fuzz.${name}`;
      const map = maps[fixture % maps.length];
      const out = inputOutcome(`the ${name} importer`, () => importTrace(name, Buffer.from(text, "utf8"), file, { skipBad, ...(map ? { map } : {}) }), file);
      if ("value" in out)
        for (const e of out.value.events) {
          const line = formatEvent(e);
          const again = inputOutcome("parseTraceText of an imported event", () => parseTraceText(line, FILE), FILE);
          if ("error" in again) throw new FuzzProblem(`the ${name} importer made an event that prints as ${JSON.stringify(line)}, which does not parse: ${again.error.message}`);
        }
      return ls.length;
    },
  };
}

export const IMPORTERS = ["ftrace", "qemu", "kernel", "csv"] as const;

// ---- JSON with positions ----------------------------------------------------------------------------

export type JsonCase = { edits: Mutated["edits"] } | { jsonEdits: JsonEdit[]; indent: number };

export function jsonTarget(): FuzzTarget<JsonCase> {
  const doc = readFileSync(new URL("examples/vtd-sm/scenario.json", ROOT), "utf8");
  const value = JSON.parse(doc) as unknown;
  const lines = doc.split("\n");
  return {
    name: "json",
    // text edits of a document's lines (most cases stay close to valid JSON), or edits of its keys,
    // values and types printed as JSON
    arbitrary: fc.oneof(
      fc.record({ edits: mutatedArb(1, 8).map((m) => m.edits) }),
      fc.record({ jsonEdits: fc.array(jsonEditArb, { minLength: 1, maxLength: 6 }), indent: fc.constantFrom(0, 1, 2, 4) }),
    ),
    check(c) {
      let text: string;
      if ("edits" in c) {
        const ls = lines.slice();
        for (const { line, edit } of c.edits) ls[line % ls.length] = mutatedLines({ lines: [line % ls.length], edits: [{ line: 0, edit }] }, lines)[0]!;
        text = ls.join("\n");
      } else text = JSON.stringify(applyJsonEdits(value, c.jsonEdits), null, c.indent);
      checkJson(text);
      return 1;
    },
  };
}

/** parseJsonLocated against JSON.parse on one text. */
export function checkJson(text: string, file = "fuzz.json"): void {
  let reference: { value: unknown } | undefined;
  try {
    reference = { value: JSON.parse(text) };
  } catch {
    reference = undefined;
  }
  const out = inputOutcome("parseJsonLocated", () => parseJsonLocated(text, file), file);
  if ("value" in out) {
    if (!reference) throw new FuzzProblem("parseJsonLocated accepts a text JSON.parse refuses");
    if (!isDeepStrictEqual(out.value.value, reference.value)) throw new FuzzProblem(`parseJsonLocated's value differs from JSON.parse's: ${stringifyBig(out.value.value).slice(0, 400)}`);
    const lineCount = text.split("\n").length;
    for (const [path, at] of out.value.at) if (at.line < 1 || at.line > lineCount || at.column < 1) throw new FuzzProblem(`position of ${path} is outside the text: ${at.line}:${at.column}`);
  } else if (reference && !/duplicate key|nested deeper than/.test(out.error.message)) {
    throw new FuzzProblem(`parseJsonLocated refuses valid JSON: ${out.error.message}`);
  }
}
