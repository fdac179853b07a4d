/**
 * What every importer shares: the sink that takes each source line's events (checking that they
 * can be written as trace text v1 and that times do not decrease, and counting or throwing a line
 * it cannot use) and accounts for every line (the import summary), seconds-to-@TIME conversion,
 * BDF and number parsing, and `--map` option checks.
 */
import { InputError } from "../../errors.ts";
import { parseBdf } from "../events.ts";
import {
  crossesPage,
  DEFAULT_LEN,
  formatEvent,
  formatTime,
  isTlp,
  parseTraceEvent,
  type AttachEvent,
  type DetachEvent,
  type MapEvent,
  type TimeStamp,
  type TraceEvent,
  type TraceTlp,
  type UnmapEvent,
} from "../text.ts";
import type { Invalidation, InvEvent } from "../../arch/vtd/trace-commands.ts";
import type { ImportOptions, ImportResult, IgnoreReason, ImportSummary } from "./types.ts";
export type { IgnoreReason, ImportSummary } from "./types.ts";

/**
 * Why a source line made no event. Every line of an import is exactly one of: used (it made events,
 * alone or with the lines of its record), ignored for one of these reasons, or bad (an error, left
 * out with --skip-bad).
 */
/** The reasons in the order summaries list them, with their words. */
export const IGNORE_REASONS: readonly (readonly [IgnoreReason, string])[] = [
  ["unrecognised", "not a line of this format"],
  ["noDma", "no DMA"],
  ["repeat", "repeating another line"],
  ["superseded", "superseded by other events"],
  ["blank", "blank or comment"],
];

// Line classes, in the order a later mark may replace an earlier one (bad and used win).
const NONE = 0;
const CLASS: Record<IgnoreReason | "used" | "bad", number> = { blank: 1, unrecognised: 2, noDma: 3, repeat: 4, superseded: 5, used: 6, bad: 7 };

/** A source line the importer cannot use: an InputError that also keeps the bare reason. */
export class LineError extends InputError {
  constructor(
    readonly reason: string,
    file: string,
    line: number,
    column?: number,
  ) {
    super(reason, file, line, column);
  }
}

/** A time read from a source line. */
export interface SourceTime {
  time: TimeStamp;
  /** The same time exactly, in ns (times are compared exactly, whatever unit they are written in). */
  ns: bigint;
  /** 1-based column of the timestamp in the source line, for errors. */
  column: number;
}

/**
 * Collects the events of one import. `line(n, work)` runs the work for source line n: the events it
 * returns are kept only when all of them can be written as trace text v1 and the line's time is not
 * earlier than the previous timed line's; otherwise (or when `work` throws a LineError) the line is
 * an error, or with `skipBad` a skipped line with its reason.
 */
export class Sink {
  readonly events: TraceEvent[] = [];
  readonly skipped: { line: number; reason: string }[] = [];
  private last: { ns: bigint; time: TimeStamp; line: number } | undefined;
  /** The class of each line (index = line number - 1). */
  private readonly classes: Uint8Array;
  private readonly notes = new Map<string, number>();
  private groups: ImportSummary["groups"];

  /** `lines` are the input's lines (splitLines). */
  constructor(
    readonly importer: string,
    readonly file: string,
    readonly skipBad: boolean,
    private readonly lines: readonly string[],
  ) {
    this.classes = new Uint8Array(lines.length);
  }

  private mark(lineNo: number, cls: number): void {
    const i = lineNo - 1;
    if (i >= 0 && i < this.classes.length && this.classes[i]! < cls) this.classes[i] = cls;
  }

  /** Line `lineNo` is ignored for `reason` (unless it is used or bad). */
  ignore(lineNo: number, reason: IgnoreReason): void {
    this.mark(lineNo, CLASS[reason]);
  }

  /**
   * Line `lineNo` is used although it makes no event: it gives something else the import reports
   * (the kernel's IOMMU groups, `setGroups`).
   */
  use(lineNo: number): void {
    this.mark(lineNo, CLASS.used);
  }

  /** The kernel's IOMMU groups for the summary (absent from it unless set). */
  setGroups(groups: NonNullable<ImportSummary["groups"]>): void {
    this.groups = groups;
  }

  /** Counts one occurrence of `what` for the summary's notes. */
  note(what: string): void {
    this.notes.set(what, (this.notes.get(what) ?? 0) + 1);
  }

  /** A LineError for source line `line` (throw it). */
  err(reason: string, line: number, column?: number): LineError {
    return new LineError(reason, this.file, line, column);
  }

  /**
   * Runs the work of one source line. `time` is the line's timestamp (given to every event it
   * makes); the work returns the events (each without `time`) or nothing (a line without DMA, unless
   * the work marked it otherwise). `also` are more lines of the same record (filled in by the work,
   * if it likes): they share the line's outcome (used, no DMA or bad).
   */
  line(lineNo: number, time: SourceTime | undefined, work: () => TraceEvent[] | TraceEvent | null | undefined, also: readonly number[] = []): void {
    try {
      const made = work();
      const list = made === null || made === undefined ? [] : Array.isArray(made) ? made : [made];
      if (list.length === 0) {
        for (const l of [lineNo, ...also]) if (this.classes[l - 1] === NONE) this.mark(l, CLASS.noDma);
        return;
      }
      if (time !== undefined) {
        if (this.last !== undefined && time.ns < this.last.ns) {
          throw this.err(
            `timestamp ${formatTime(time.time)} is earlier than ${formatTime(this.last.time)} on line ${this.last.line}; ` +
              "trace times must not decrease",
            lineNo,
            time.column,
          );
        }
        for (const e of list) e.time = time.time;
      }
      // Every event must be writable as trace text v1 and read back: formatEvent throws a
      // RangeError for what the format cannot express, the parser rejects the rest (a map past 2^64).
      for (const e of list) {
        // PCIe Base 2.2.7: a malformed request, whatever the source says.
        const crossing = isTlp(e) && e.op !== "ATS" ? crossesPage(e.addr, e.len) : undefined;
        if (crossing !== undefined) throw this.err(crossing, lineNo);
        let why: string | undefined;
        try {
          parseTraceEvent(formatEvent(e), "-", 1);
        } catch (x) {
          if (x instanceof RangeError) why = x.message.replace(/^cannot format [^:]*: /, "");
          else if (x instanceof InputError) why = x.message.replace(/^-:1(?::\d+)?: /, "");
          else throw x;
        }
        if (why !== undefined) throw this.err(`cannot be written as a trace event: ${why}`, lineNo, "column" in e ? e.column : undefined);
      }
      if (time !== undefined) this.last = { ns: time.ns, time: time.time, line: lineNo };
      this.events.push(...list);
      for (const l of [lineNo, ...also]) this.mark(l, CLASS.used);
    } catch (x) {
      if (x instanceof LineError && this.skipBad) {
        this.skipped.push({ line: x.line ?? lineNo, reason: x.reason });
        for (const l of [lineNo, ...also]) this.mark(l, CLASS.bad);
        return;
      }
      throw x;
    }
  }

  /**
   * A line the importer cannot use, found outside `line()` (a timestamp it cannot read, a record
   * cut short, reported at the record's first line): thrown, or counted with `skipBad`.
   */
  fail(reason: string, lineNo: number, column?: number, also: readonly number[] = []): void {
    const x = this.err(reason, lineNo, column);
    if (!this.skipBad) throw x;
    this.skipped.push({ line: lineNo, reason });
    for (const l of [lineNo, ...also]) this.mark(l, CLASS.bad);
  }

  result(): ImportResult {
    this.skipped.sort((a, b) => a.line - b.line);
    return { events: this.events, skipped: this.skipped, summary: this.summary() };
  }

  private summary(): ImportSummary {
    // A text ending in a newline splits into one more, empty, piece: not a line.
    const n = this.lines.length > 0 && this.lines[this.lines.length - 1] === "" ? this.lines.length - 1 : this.lines.length;
    const ignored: Record<IgnoreReason, number> = { unrecognised: 0, noDma: 0, repeat: 0, superseded: 0, blank: 0 };
    let used = 0;
    let bad = 0;
    for (let i = 0; i < n; i++) {
      let c = this.classes[i]!;
      if (c === NONE) c = this.lines[i]!.trim() === "" ? CLASS.blank : CLASS.unrecognised;
      if (c === CLASS.used) used++;
      else if (c === CLASS.bad) bad++;
      else for (const [reason] of IGNORE_REASONS) if (CLASS[reason] === c) ignored[reason]++;
    }
    const events = { MRd: 0, MWr: 0, ATS: 0, map: 0, unmap: 0, flush: 0, inv: 0, attach: 0, detach: 0 };
    let expected = 0;
    for (const e of this.events) {
      if (e.op in events) events[e.op as keyof typeof events]++; // no importer makes SMMUv3 `cmd` events
      if (isTlp(e) && e.expect !== undefined) expected++;
    }
    return {
      importer: this.importer,
      lines: n,
      used,
      ignored,
      skipped: bad,
      events,
      expected,
      notes: [...this.notes].map(([what, count]) => ({ what, count })),
      ...(this.groups !== undefined ? { groups: this.groups } : {}),
    };
  }
}

/** The summary as `convert` prints it on standard error (lines without a final newline). */
export function formatImportSummary(s: ImportSummary, file: string): string[] {
  const ignored = IGNORE_REASONS.filter(([r]) => s.ignored[r] > 0).map(([r, words]) => `${s.ignored[r]} ${words}`);
  const total = Object.values(s.ignored).reduce((a, b) => a + b, 0);
  const e = s.events;
  const tlps = e.MRd + e.MWr + e.ATS;
  const kinds = (names: readonly (keyof ImportSummary["events"])[]) =>
    names
      .filter((k) => e[k] > 0)
      .map((k) => `${e[k]} ${k}`)
      .join(", ");
  const driver = e.map + e.unmap + e.flush + e.inv + e.attach + e.detach;
  const tlpKinds = [kinds(["MRd", "MWr", "ATS"]), ...(s.expected ? [`${s.expected} with an expected fault`] : [])].filter(Boolean).join("; ");
  const out = [
    `${s.importer} import of ${file}: ${s.lines} lines: ${s.used} used, ${total} ignored${ignored.length ? ` (${ignored.join(", ")})` : ""}, ${s.skipped} bad (skipped)`,
    `made ${tlps} TLPs${tlpKinds ? ` (${tlpKinds})` : ""} and ${driver} driver events${driver ? ` (${kinds(["map", "unmap", "flush", "inv", "attach", "detach"])})` : ""}`,
  ];
  for (const n of s.notes) out.push(`note: ${n.count} ${n.what}`);
  if (s.groups !== undefined) {
    const n = s.groups.length;
    out.push(`the kernel's IOMMU groups (iommu:add_device_to_group): ${n} group${n === 1 ? "" : "s"}; compare with \`iommu-emu groups SCENARIO\``);
    for (const g of s.groups) out.push(`  group ${g.id}: ${g.devices.join(" ")}`);
  }
  return out;
}

/** The lines of a text: a leading BOM dropped, LF or CRLF line ends. */
export function splitLines(text: string): string[] {
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  return text.split(/\r?\n/);
}

const NS_PER_S = 1_000_000_000n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * `@TIME` for an exact time in ns: whole microseconds when the time is a multiple of 1000 ns
 * (`@438308478us`), else whole ns (`@50126420123ns`); a time too large for either as a whole
 * number (wall-clock times in ns) in us with a fraction, rounded to what a double holds.
 */
export function timeFromNs(ns: bigint, column: number): SourceTime {
  if (ns % 1000n === 0n && ns / 1000n <= MAX_SAFE) return { time: { value: Number(ns / 1000n), unit: "us" }, ns, column };
  if (ns <= MAX_SAFE) return { time: { value: Number(ns), unit: "ns" }, ns, column };
  return { time: { value: Number(ns / 1000n) + Number(ns % 1000n) / 1000, unit: "us" }, ns, column };
}

/**
 * A time given as seconds and a decimal fraction ("438", "308478"). Fractions beyond ns are an
 * error the caller reports (returns undefined).
 */
export function timeFromSeconds(seconds: string, fraction: string, column: number): SourceTime | undefined {
  if (!/^\d+$/.test(seconds) || !/^\d*$/.test(fraction) || fraction.length > 9) return undefined;
  const ns = BigInt(seconds) * NS_PER_S + BigInt((fraction + "000000000").slice(0, 9));
  return timeFromNs(ns, column);
}

/**
 * A PCI device name as Linux prints it (`0000:c2:00.0`, or `c2:00.0`) as a source ID:
 * segment<<16 | bus<<8 | device<<3 | function. Undefined when `name` is not one.
 */
export function pciNameToSid(name: string): number | undefined {
  return parseBdf(name);
}

/** A hex number (0x optional) as a bigint; undefined when it is not one. */
export function hexValue(text: string): bigint | undefined {
  const m = /^(?:0[xX])?([0-9a-fA-F]+)$/.exec(text);
  return m === null ? undefined : BigInt("0x" + m[1]!);
}

/** A C-printed integer: `0x` hex or decimal; undefined when it is neither. */
export function cValue(text: string): bigint | undefined {
  return /^(?:0[xX][0-9a-fA-F]+|\d+)$/.test(text) ? BigInt(text) : undefined;
}

export const PAGE = 0x1000n;
export const MAX_U64 = (1n << 64n) - 1n;

export function pageDown(a: bigint): bigint {
  return a & ~(PAGE - 1n);
}

export function pageUp(a: bigint): bigint {
  return (a + PAGE - 1n) & ~(PAGE - 1n);
}

/**
 * Checks the `--map key=value` options an importer was given: every key must be one it takes
 * (`known`, or a key `extra` accepts). Throws an InputError naming the first unknown key.
 */
export function checkOptionKeys(
  importer: string,
  opts: ImportOptions,
  known: readonly string[],
  extra?: { accepts: (key: string) => boolean; what: string },
): Record<string, string> {
  const map = opts.map ?? {};
  for (const key of Object.keys(map)) {
    if (known.includes(key) || extra?.accepts(key)) continue;
    const takes = [...known.map((k) => `${k}=`), ...(extra ? [extra.what] : [])];
    throw new InputError(
      `unknown --map key "${key}" for the ${importer} importer; it takes ${takes.length ? takes.join(", ") : "no --map options"}`,
    );
  }
  return map;
}

/** A domain id option value (decimal, 0 to 65535), as in the scenario's build.domains. */
export function domainOption(importer: string, key: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 0xffff) {
    throw new InputError(`--map ${key}=${value} for the ${importer} importer: expected a domain id (decimal, 0 to 65535)`);
  }
  return Number(value);
}

/** The default direction for TLPs whose source does not record it: `--map op=MRd|MWr`. */
export function opOption(importer: string, map: Record<string, string>): "MRd" | "MWr" {
  const v = map["op"];
  if (v === undefined) return "MRd";
  if (v === "MRd" || v === "MWr") return v;
  throw new InputError(`--map op=${v} for the ${importer} importer: expected op=MRd or op=MWr`);
}

/**
 * A TLP with every optional field at its default. A memory request whose source gives no length
 * gets 4 bytes, fewer at the end of a page (down to 1 at its last byte), so that it never crosses
 * a 4 KiB boundary (PCIe Base 2.2.7).
 */
export function makeTlp(line: number, f: Pick<TraceTlp, "op" | "sid" | "addr"> & Partial<TraceTlp>): TraceTlp {
  const len = f.len ?? (f.op === "ATS" ? DEFAULT_LEN : Math.min(DEFAULT_LEN, 0x1000 - Number(f.addr & 0xfffn)));
  return { line, priv: false, exe: false, ns: false, ro: false, ido: false, translated: false, nw: false, ...f, len };
}

/** A `map` driver event with 4 KiB pages and the defaults of the text format (user, not global, no snp). */
export function makeMap(line: number, column: number, domain: number, iova: bigint, pa: bigint, size: bigint, perm: string, user = true): MapEvent {
  return { line, column, op: "map", domain, iova, pa, size, perm, page: "4K", snp: false, user, global: false };
}

export function makeUnmap(line: number, column: number, domain: number, iova: bigint, size: bigint): UnmapEvent {
  return { line, column, op: "unmap", domain, iova, size };
}

/** An `attach BDF domain=D` without flags (a tracepoint gives none of them). */
export function makeAttach(line: number, column: number, sid: number, domain: number): AttachEvent {
  return { line, column, op: "attach", sid, domain, ats: false, pri: false, pgsnp: false, fpd: false, sre: false, ere: false };
}

export function makeDetach(line: number, column: number, sid: number): DetachEvent {
  return { line, column, op: "detach", sid };
}

export function makeInv(line: number, column: number, inv: Invalidation): InvEvent {
  return { line, column, op: "inv", inv };
}
