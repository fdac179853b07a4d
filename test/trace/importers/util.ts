/**
 * Helpers for the importer suites (not a suite itself: uvu's "importers" pattern imports it and
 * finds no tests).
 */
import * as assert from "uvu/assert";
import { InputError } from "../../../src/errors.ts";
import { importers, type ImportResult } from "../../../src/trace/importers/index.ts";
import type { ImportSummary } from "../../../src/trace/importers/common.ts";
import type { AttachEvent, DetachEvent, MapEvent, TimeStamp, TraceTlp, UnmapEvent } from "../../../src/trace/events.ts";
import type { Invalidation, InvEvent } from "../../../src/arch/vtd/trace-commands.ts";

/** A TLP with every optional field at its default; `over` sets the rest. */
export function tlp(line: number, over: Pick<TraceTlp, "op" | "sid" | "addr"> & Partial<TraceTlp>): TraceTlp {
  return { line, priv: false, exe: false, len: 4, ns: false, ro: false, ido: false, translated: false, nw: false, ...over };
}

export function us(value: number): TimeStamp {
  return { value, unit: "us" };
}

export function ns(value: number): TimeStamp {
  return { value, unit: "ns" };
}

export function map(
  line: number,
  column: number,
  domain: number,
  iova: bigint,
  pa: bigint,
  size: bigint,
  over: Partial<MapEvent> = {},
): MapEvent {
  return { line, column, op: "map", domain, iova, pa, size, perm: "rw", page: "4K", snp: false, user: true, global: false, ...over };
}

export function unmap(line: number, column: number, domain: number, iova: bigint, size: bigint, over: Partial<UnmapEvent> = {}): UnmapEvent {
  return { line, column, op: "unmap", domain, iova, size, ...over };
}

/** An `attach BDF domain=D` without flags, as the ftrace importer makes it. */
export function attach(line: number, column: number, sid: number, domain: number, over: Partial<AttachEvent> = {}): AttachEvent {
  return { line, column, op: "attach", sid, domain, ats: false, pri: false, pgsnp: false, fpd: false, sre: false, ere: false, ...over };
}

export function detach(line: number, column: number, sid: number, over: Partial<DetachEvent> = {}): DetachEvent {
  return { line, column, op: "detach", sid, ...over };
}

export function inv(line: number, column: number, i: Invalidation, over: Partial<InvEvent> = {}): InvEvent {
  return { line, column, op: "inv", inv: i, ...over };
}

/** 1-based column of `token` in line `lineNo` (1-based) of `text`. */
export function col(text: string, lineNo: number, token: string): number {
  const line = text.split("\n")[lineNo - 1];
  if (line === undefined) throw new Error(`no line ${lineNo}`);
  const at = line.indexOf(token);
  if (at < 0) throw new Error(`no "${token}" in line ${lineNo}: ${line}`);
  return at + 1;
}

export function run(name: string, text: string, file: string, opts: { map?: Record<string, string>; skipBad?: boolean } = {}): ImportResult {
  const importer = importers[name];
  if (importer === undefined) throw new Error(`no importer ${name}`);
  return importer.import(text, file, { skipBad: opts.skipBad ?? false, ...(opts.map ? { map: opts.map } : {}) });
}

/** The message of the InputError `fn` throws ("no error" when it throws none). */
export function inputError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e.message;
    throw e;
  }
  return "no error";
}

/** Asserts that `fn` throws an InputError whose message is exactly `message`. */
export function throwsInput(fn: () => unknown, message: string): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    assert.is(e.message, message);
    return;
  }
  assert.unreachable(`expected InputError: ${message}`);
}

/**
 * An import summary with every count 0 but those given: `ignored` and `events` name only their
 * non-zero counts.
 */
export function summary(
  importer: string,
  o: { lines: number; used: number; ignored?: Partial<ImportSummary["ignored"]>; skipped?: number; events?: Partial<ImportSummary["events"]>; expected?: number; notes?: ImportSummary["notes"] },
): ImportSummary {
  return {
    importer,
    lines: o.lines,
    used: o.used,
    ignored: { unrecognised: 0, noDma: 0, repeat: 0, superseded: 0, blank: 0, ...o.ignored },
    skipped: o.skipped ?? 0,
    events: { MRd: 0, MWr: 0, ATS: 0, map: 0, unmap: 0, flush: 0, inv: 0, attach: 0, detach: 0, ...o.events },
    expected: o.expected ?? 0,
    notes: o.notes ?? [],
  };
}
