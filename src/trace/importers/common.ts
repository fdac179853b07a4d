/**
 * What every importer shares: the sink that takes each source line's events (checking that they
 * can be written as trace text v1 and that times do not decrease, and counting or throwing a line
 * it cannot use), seconds-to-@TIME conversion, BDF and number parsing, and `--map` option checks.
 */
import { InputError } from "../../errors.ts";
import { DEFAULT_LEN, formatEvent, formatTime, parseTraceEvent, type Invalidation, type InvEvent, type MapEvent, type TimeStamp, type TraceEvent, type TraceTlp, type UnmapEvent } from "../text.ts";
import type { ImportOptions, ImportResult } from "./index.ts";

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

  constructor(
    readonly file: string,
    readonly skipBad: boolean,
  ) {}

  /** A LineError for source line `line` (throw it). */
  err(reason: string, line: number, column?: number): LineError {
    return new LineError(reason, this.file, line, column);
  }

  /**
   * Runs the work of one source line. `time` is the line's timestamp (given to every event it
   * makes); the work returns the events (each without `time`) or nothing.
   */
  line(lineNo: number, time: SourceTime | undefined, work: () => TraceEvent[] | TraceEvent | null | undefined): void {
    try {
      const made = work();
      const list = made === null || made === undefined ? [] : Array.isArray(made) ? made : [made];
      if (list.length === 0) return;
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
    } catch (x) {
      if (x instanceof LineError && this.skipBad) {
        this.skipped.push({ line: x.line ?? lineNo, reason: x.reason });
        return;
      }
      throw x;
    }
  }

  /**
   * A line the importer cannot use, found outside `line()` (a timestamp it cannot read, a record
   * cut short, reported at the record's first line): thrown, or counted with `skipBad`.
   */
  fail(reason: string, lineNo: number, column?: number): void {
    const x = this.err(reason, lineNo, column);
    if (!this.skipBad) throw x;
    this.skipped.push({ line: lineNo, reason });
  }

  result(): ImportResult {
    this.skipped.sort((a, b) => a.line - b.line);
    return { events: this.events, skipped: this.skipped };
  }
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
  const m = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/.exec(name);
  if (m === null) return undefined;
  const device = parseInt(m[3]!, 16);
  if (device > 0x1f) return undefined;
  const segment = m[1] === undefined ? 0 : parseInt(m[1], 16);
  return segment * 0x10000 + ((parseInt(m[2]!, 16) << 8) | (device << 3) | Number(m[4]));
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

/** A TLP with every optional field at its default. */
export function makeTlp(line: number, f: Pick<TraceTlp, "op" | "sid" | "addr"> & Partial<TraceTlp>): TraceTlp {
  return { line, priv: false, exe: false, len: DEFAULT_LEN, ns: false, ro: false, ido: false, translated: false, nw: false, ...f };
}

/** A `map` driver event with 4 KiB pages and the defaults of the text format (user, not global, no snp). */
export function makeMap(line: number, column: number, domain: number, iova: bigint, pa: bigint, size: bigint, perm: string, user = true): MapEvent {
  return { line, column, op: "map", domain, iova, pa, size, perm, page: "4K", snp: false, user, global: false };
}

export function makeUnmap(line: number, column: number, domain: number, iova: bigint, size: bigint): UnmapEvent {
  return { line, column, op: "unmap", domain, iova, size };
}

export function makeInv(line: number, column: number, inv: Invalidation): InvEvent {
  return { line, column, op: "inv", inv };
}
