/**
 * Streaming trace readers: a trace is read in chunks, TLPs go as records (src/trace/binary.ts layout)
 * to the caller's sink (the replay's request-ring writer) and driver events come out as objects, so
 * memory stays flat whatever the trace's size.
 *
 * - TextTraceReader: 1 MiB chunks of a byte source (src/io/input.ts: a file, standard input, or
 *   gzip/zstd decompressed on the fly), split at '\n'; a line longer than 64 KiB is refused.
 *   Each line first goes through a byte-level parser for the common TLP lines (`[@TIME]
 *   MRd|MWr|ATS BDF key=value...` in ASCII, cycle or ns/us times, within a 4 KiB page, no
 *   expect=); it writes the record without strings or objects. Any line it is not sure
 *   about (driver events, odd whitespace, anything out of range, duplicates, non-ASCII...) goes to
 *   the full parser of src/trace/text.ts, which gives the same events and the same errors (file,
 *   line, column) as parsing the whole file with parseTraceText.
 * - BinaryTraceReader (binary.ts): 1 MiB chunks of records, each checked and handed on in one pass.
 * - EventsReader: an in-memory event array (a scenario's inline trace, tests).
 *
 * openTraceReader() opens a path or `-` (standard input) through src/io/input.ts (gzip and zstd
 * decompressed), picks text or binary by the first bytes (the binary magic), refuses a `.bin`/`.itb`
 * file without it, and refuses binary data that is neither (a NUL byte or bytes that are not UTF-8
 * near the start).
 */
import { extname } from "node:path";
import { InputError } from "../errors.ts";
import { firstNonText, notTextError, openInput, type ByteSource, type PeekSource } from "../io/input.ts";
import { isTlp, parseTraceEvent, type DriverEvent, type TraceEvent, type TraceTlp } from "./text.ts";
import {
  BinaryTraceReader,
  RECORD_WORDS,
  RecFlag,
  TimeOrder,
  TimeUnit,
  decodeTlpRecord,
  encodeTlpRecord,
  hasMagic,
  MAGIC,
  type TlpSink,
  type TraceReader,
} from "./binary.ts";
import { readTlpsInto } from "./reader.ts";

export type { TraceReader } from "./binary.ts";

// ---- the byte-level TLP line parser ---------------------------------------------------------------

const BLANK = 0;
const TLP = 1;
const SLOW = 2;

const TWO32 = 4294967296;
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) (HEX[65 + i] = 10 + i), (HEX[97 + i] = 10 + i);
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const f64 = new Float64Array(1);
const f64w = new Uint32Array(f64.buffer);

// Module-local copies for the hot loop: imported bindings may compile to getter calls (tsx).
const UNIT_SHIFT = RecFlag.UNIT_SHIFT;
const F_PASID = RecFlag.PASID, F_PRIV = RecFlag.PRIV, F_EXE = RecFlag.EXE, F_NS = RecFlag.NS, F_RO = RecFlag.RO, F_IDO = RecFlag.IDO, F_TR = RecFlag.TRANSLATED, F_NW = RecFlag.NW;
const U_NONE = TimeUnit.NONE, U_CYCLES = TimeUnit.CYCLES, U_NS = TimeUnit.NS, U_US = TimeUnit.US;

// Option bits, to refuse duplicates.
const S_ADDR = 1, S_PASID = 2, S_LEN = 4, S_NS = 8, S_RO = 16, S_IDO = 32, S_AT = 64, S_NW = 128;
/** Readable bytes kept after the text buffer's sentinel '\n' (fastLine reads a BDF at fixed offsets). */
const SPARE = 17;
const AT_TRANSLATED = [97, 116, 61, 116, 114, 97, 110, 115, 108, 97, 116, 101, 100]; // "at=translated"

/** Out of fastLine: the index of the line's '\n' when it got there, else -1 (a comment, or SLOW). */
let lineEnd = -1;

/** True for the bytes that end a token: space, tab, CR, '\n' and '#'. */

/** readNumber's result: the value, and the index just past its last digit. */
let numValue = 0;
let numEnd = 0;

/**
 * Reads a decimal (at most 15 digits) or 0x-hex (at most 12 digits) number at b[p] into
 * numValue/numEnd; false when there is no digit or too many (the caller falls back to the full
 * parser).
 */
function readNumber(b: Uint8Array, p: number): boolean {
  let c = b[p]!;
  let v = 0, nd = 0;
  if (c === 48 && (b[p + 1]! | 32) === 120) {
    c = b[(p += 2)]!;
    for (;;) {
      const d = HEX[c]!;
      if (d < 0) break;
      if (++nd > 12) return false;
      v = v * 16 + d;
      c = b[++p]!;
    }
  } else {
    while (c >= 48 && c <= 57) {
      if (++nd > 15) return false;
      v = v * 10 + (c - 48);
      c = b[++p]!;
    }
  }
  if (nd === 0) return false;
  numValue = v;
  numEnd = p;
  return true;
}

function ends(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10 || c === 35;
}

/**
 * Parses the line starting at b[p] when it is a TLP line this parser is sure about, writing its
 * request record at word `o` of `w` (time raw, unit in FLAGS bits 13:12), in one pass over its
 * bytes. The buffer must hold a '\n' at or after the line's end (the reader keeps one past its
 * data) and 16 readable bytes after that. Returns BLANK (whitespace or a comment), TLP, or SLOW:
 * anything else, for the full parser to decide. Sets `lineEnd`.
 */
function fastLine(b: Uint8Array, p: number, w: Uint32Array, o: number): number {
  lineEnd = -1;
  let c = b[p]!;
  while (c === 32 || c === 9 || c === 13) c = b[++p]!;
  if (c === 10) {
    lineEnd = p;
    return BLANK;
  }
  if (c === 35) return BLANK;
  let unit = 0, tlo = 0, thi = 0;
  if (c === 64) {
    // @TIME: digits [. digits] [ns|us]
    let m = 0, digits = 0, frac = -1;
    c = b[++p]!;
    for (;;) {
      if (c >= 48 && c <= 57) {
        m = m * 10 + (c - 48);
        digits++;
        if (frac >= 0) frac++;
      } else if (c === 46 && frac < 0 && digits > 0) frac = 0;
      else break;
      c = b[++p]!;
    }
    if (digits === 0 || digits > 15 || frac === 0) return SLOW;
    if ((c === 110 || c === 117) && b[p + 1] === 115) {
      unit = c === 110 ? U_NS : U_US;
      // m < 10^15 and 10^frac are exact doubles: the quotient is the correctly rounded decimal, as Number() gives.
      f64[0] = frac > 0 ? m / POW10[frac]! : m;
      tlo = f64w[0]!;
      thi = f64w[1]!;
      p += 2;
      c = b[p]!;
    } else {
      if (frac >= 0) return SLOW; // fractional cycles: an error
      unit = U_CYCLES;
      tlo = m >>> 0;
      thi = (m - tlo) / TWO32;
    }
    if (c !== 32 && c !== 9 && c !== 13) return SLOW;
    do c = b[++p]!;
    while (c === 32 || c === 9 || c === 13);
  }
  // MRd | MWr | ATS, then whitespace
  const c1 = b[p + 1]!, c2 = b[p + 2]!;
  let kind: number;
  if (c === 77 && c1 === 82 && c2 === 100) kind = 0;
  else if (c === 77 && c1 === 87 && c2 === 114) kind = 1;
  else if (c === 65 && c1 === 84 && c2 === 83) kind = 2;
  else return SLOW;
  p += 3;
  c = b[p]!;
  if (c !== 32 && c !== 9 && c !== 13) return SLOW;
  do c = b[++p]!;
  while (c === 32 || c === 9 || c === 13);
  // BDF: [SSSS:]BB:DD.F (a '\n' inside fails one of the fixed positions)
  let seg = 0;
  let h0 = HEX[c]!, h1 = HEX[b[p + 1]!]!;
  if ((h0 | h1) < 0) return SLOW;
  if (b[p + 2] !== 58) {
    const h2 = HEX[b[p + 2]!]!, h3 = HEX[b[p + 3]!]!;
    if ((h2 | h3) < 0 || b[p + 4] !== 58) return SLOW;
    seg = (h0 << 12) | (h1 << 8) | (h2 << 4) | h3;
    p += 5;
    h0 = HEX[b[p]!]!;
    h1 = HEX[b[p + 1]!]!;
    if ((h0 | h1) < 0 || b[p + 2] !== 58) return SLOW;
  }
  const d0 = HEX[b[p + 3]!]!, d1 = HEX[b[p + 4]!]!, fn = HEX[b[p + 6]!]!;
  if ((d0 | d1 | fn) < 0 || b[p + 5] !== 46) return SLOW;
  const dev = (d0 << 4) | d1;
  if (dev > 0x1f || fn > 7) return SLOW;
  const sid = seg * 0x10000 + (((h0 << 4) | h1) << 8) + (dev << 3) + fn;
  p += 7;
  c = b[p]!;
  if (!ends(c)) return SLOW;
  // options, in any order, each once; c is the byte after a token
  let seen = 0, lo = 0, hi = 0, len = 4, pasid = 0;
  let flags = kind | (unit << UNIT_SHIFT);
  for (;;) {
    while (c === 32 || c === 9 || c === 13) c = b[++p]!;
    if (c === 10) {
      lineEnd = p;
      break;
    }
    if (c === 35) break;
    if (c === 97) {
      if (b[p + 1] === 100 && b[p + 2] === 100 && b[p + 3] === 114 && b[p + 4] === 61) {
        // addr=HEX, 0x optional, below 2^64
        if (seen & S_ADDR) return SLOW;
        seen |= S_ADDR;
        p += 5;
        c = b[p]!;
        if (c === 48 && (b[p + 1]! | 32) === 120) c = b[(p += 2)]!;
        const first = p;
        while (c === 48) c = b[++p]!;
        const sig = p;
        lo = 0;
        hi = 0;
        for (;;) {
          const d = HEX[c]!;
          if (d < 0) break;
          hi = ((hi << 4) | (lo >>> 28)) >>> 0;
          lo = ((lo << 4) | d) >>> 0;
          c = b[++p]!;
        }
        if (p === first || p - sig > 16 || !ends(c)) return SLOW;
      } else if (b[p + 1] === 116 && b[p + 2] === 61) {
        for (let i = 3; i < 13; i++) if (b[p + i] !== AT_TRANSLATED[i]) return SLOW;
        p += 13;
        c = b[p]!;
        if (!ends(c) || kind === 2 || seen & S_AT) return SLOW;
        seen |= S_AT;
        flags |= F_TR;
      } else return SLOW;
    } else if (c === 112) {
      // pasid=N[,priv][,exe], N decimal or 0x-hex
      if (b[p + 1] !== 97 || b[p + 2] !== 115 || b[p + 3] !== 105 || b[p + 4] !== 100 || b[p + 5] !== 61 || seen & S_PASID) return SLOW;
      seen |= S_PASID;
      if (!readNumber(b, p + 6) || numValue > 0xfffff) return SLOW;
      pasid = numValue;
      p = numEnd;
      c = b[p]!;
      flags |= F_PASID;
      while (c === 44) {
        if (b[p + 1] === 112 && b[p + 2] === 114 && b[p + 3] === 105 && b[p + 4] === 118) {
          if (flags & F_PRIV) return SLOW;
          flags |= F_PRIV;
          p += 5;
        } else if (b[p + 1] === 101 && b[p + 2] === 120 && b[p + 3] === 101) {
          if (flags & F_EXE) return SLOW;
          flags |= F_EXE;
          p += 4;
        } else return SLOW;
        c = b[p]!;
      }
      if (!ends(c)) return SLOW;
    } else if (c === 108) {
      // len=N, 1..4096, decimal or 0x-hex; not on ATS
      if (b[p + 1] !== 101 || b[p + 2] !== 110 || b[p + 3] !== 61 || kind === 2 || seen & S_LEN) return SLOW;
      seen |= S_LEN;
      if (!readNumber(b, p + 4)) return SLOW;
      p = numEnd;
      c = b[p]!;
      if (numValue < 1 || numValue > 4096 || !ends(c)) return SLOW;
      len = numValue;
    } else {
      // flags: ns, nw, ro, ido
      const x = b[p + 1]!;
      let bit: number, s: number, size = 2;
      if (c === 110 && x === 115) (bit = F_NS), (s = S_NS);
      else if (c === 110 && x === 119) (bit = F_NW), (s = S_NW);
      else if (c === 114 && x === 111) (bit = F_RO), (s = S_RO);
      else if (c === 105 && x === 100 && b[p + 2] === 111) (bit = F_IDO), (s = S_IDO), (size = 3);
      else return SLOW;
      p += size;
      c = b[p]!;
      if (!ends(c) || seen & s || (kind === 2) !== (s === S_NW)) return SLOW;
      seen |= s;
      flags |= bit;
    }
  }
  if ((seen & S_ADDR) === 0) return SLOW;
  // a memory request crossing a 4 KiB boundary is malformed (PCIe Base 2.2.7): the full parser says so
  if (kind !== 2 && (lo & 0xfff) + len > 0x1000) return SLOW;
  w[o] = lo;
  w[o + 1] = hi;
  w[o + 2] = tlo;
  w[o + 3] = thi;
  w[o + 4] = sid;
  w[o + 5] = pasid;
  w[o + 6] = len;
  w[o + 7] = flags;
  return TLP;
}

/** The byte-level parser alone (tests): "blank", "tlp" (record written) or "slow". */
export function parseTlpLineFast(line: Uint8Array, w: Uint32Array, o = 0): "blank" | "tlp" | "slow" {
  const b = new Uint8Array(line.length + 17);
  b.set(line);
  b[line.length] = 10;
  const r = fastLine(b, 0, w, o);
  return r === BLANK ? "blank" : r === TLP ? "tlp" : "slow";
}

// ---- text reader ----------------------------------------------------------------------------------

export interface TextReaderOptions {
  /** Skip lines that are errors (counted in `skipped`) instead of stopping at the first. */
  skipBad?: boolean;
  /** Bytes per read (tests; default 1 MiB). Lines longer than this still work. */
  chunkBytes?: number;
  /** Only the full parser (tests: the fast path must change nothing). */
  slowOnly?: boolean;
}

/** The longest line a text trace may have (a longer one is not text: a token of megabytes, binary data). */
export const MAX_LINE_BYTES = 64 * 1024;

/** Streams a text trace (format v1); see the top of this file. */
export class TextTraceReader implements TraceReader {
  readonly format = "text";
  readonly skipped: { line: number; reason: string }[] = [];
  /** The file name for messages ("standard input" for `-`). */
  readonly file: string;
  private readonly src: ByteSource;
  private buf: Buffer;
  private start = 0;
  private end = 0;
  private eof = false;
  /** Input offset of buf[0]. */
  private offset = 0;
  /** Line number of the line last taken, and its bytes. */
  private lineNo = 0;
  private ls = 0;
  private le = 0;
  private lineEndsWithNewline = false;
  private pending: DriverEvent | undefined;
  /** The record of the line being read, and whether it is a TLP the sink refused (offered again first). */
  private readonly rec = new Uint32Array(RECORD_WORDS);
  private held = false;
  private heldLine = 0;
  private finished = false;
  private readonly order = new TimeOrder("on line");
  private readonly skipBad: boolean;
  private readonly slowOnly: boolean;
  private closed = false;

  /** `file`: a path or `-` (opened with src/io/input.ts openInput: gzip and zstd decompressed), or a byte source. */
  constructor(file: string | ByteSource, opts: TextReaderOptions = {}) {
    this.skipBad = opts.skipBad ?? false;
    this.slowOnly = opts.slowOnly ?? false;
    this.src = typeof file === "string" ? openInput(file, "a trace file") : file;
    this.file = this.src.name;
    this.buf = Buffer.allocUnsafeSlow(Math.max(opts.chunkBytes ?? 1 << 20, 1) + SPARE);
    try {
      // at least the 3 bytes a byte-order mark takes (a pipe may deliver fewer in one read)
      do this.refill();
      while (this.end < 3 && !this.eof);
    } catch (e) {
      this.close();
      throw e;
    }
    // A UTF-8 byte-order mark is not part of the first line.
    if (this.end >= 3 && this.buf[0] === 0xef && this.buf[1] === 0xbb && this.buf[2] === 0xbf) this.start = 3;
  }

  get done(): boolean {
    return this.finished && this.pending === undefined && !this.held;
  }

  get progress(): { done: number; total: number } {
    // A file read as it is: the bytes parsed; compressed or piped input: what the source has consumed.
    return this.src.size !== undefined ? { done: this.offset + this.start, total: this.src.size } : this.src.progress;
  }

  errorAt(message: string, line: number, column?: number): InputError {
    return new InputError(message, this.file, line, column);
  }

  /**
   * Reads more after what is left of the buffer (moved to the front; the buffer grows for a long
   * line). The byte after the data is always a '\n' (a sentinel that ends every scan), and 16 more
   * bytes are readable after it.
   */
  private refill(): void {
    const left = this.end - this.start;
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.offset += this.start;
      this.start = 0;
      this.end = left;
    }
    if (this.end + SPARE >= this.buf.length) {
      const bigger = Buffer.allocUnsafeSlow(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.end);
      this.buf = bigger;
    }
    const n = this.src.read(this.buf, this.end, this.buf.length - this.end - SPARE);
    if (n === 0) this.eof = true;
    this.end += n;
    this.buf[this.end] = 10;
  }

  /**
   * Takes the line at `start` whose '\n' is at `nl` (-1: not known yet); with the sentinel the
   * '\n' may be the one at `end`. False when the line may go on beyond the data read so far (then
   * more has been read: parse it again).
   */
  private take(nl: number): boolean {
    if (nl < 0) nl = this.buf.indexOf(10, this.start);
    if (nl - this.start > MAX_LINE_BYTES) this.tooLong();
    if (nl >= this.end && !this.eof) {
      this.refill();
      return false;
    }
    this.ls = this.start;
    this.le = nl;
    this.lineNo++;
    this.lineEndsWithNewline = nl < this.end;
    this.start = nl < this.end ? nl + 1 : this.end;
    return true;
  }

  /** A line longer than MAX_LINE_BYTES: not a text trace (not skipped by skipBad: where would the next line start?). */
  private tooLong(): never {
    throw new InputError(`the line is longer than ${MAX_LINE_BYTES} bytes: not a text trace (binary data, or line breaks missing)`, this.file, this.lineNo + 1);
  }

  /** The current line through the full parser; undefined when it is blank or was skipped. */
  private slowLine(): TraceEvent | undefined {
    let le = this.le;
    // split(/\r?\n/) drops one \r before the \n
    if (this.lineEndsWithNewline && le > this.ls && this.buf[le - 1] === 13) le--;
    const line = this.buf.toString("utf8", this.ls, le);
    try {
      const e = parseTraceEvent(line, this.file, this.lineNo);
      if (e === null) return undefined;
      if (e.time !== undefined) {
        const unit = e.time.unit === "cycles" ? TimeUnit.CYCLES : e.time.unit === "ns" ? TimeUnit.NS : TimeUnit.US;
        const why = this.order.check(unit, e.time.value, this.lineNo);
        if (why !== undefined) throw new InputError(why, this.file, this.lineNo, /\S/.exec(line)!.index + 1);
      }
      return e;
    } catch (err) {
      if (!(err instanceof InputError) || !this.skipBad) throw err;
      this.skipped.push({ line: this.lineNo, reason: err.message });
      return undefined;
    }
  }

  readRequests(sink: TlpSink): number {
    const rec = this.rec;
    let n = 0;
    if (this.held) {
      // the TLP the sink refused last time
      if (!sink.put(rec, 0, this.heldLine)) return 0;
      this.held = false;
      n++;
    }
    if (this.pending !== undefined || this.finished) return n;
    const order = this.order;
    const slowOnly = this.slowOnly;
    for (;;) {
      if (this.start >= this.end) {
        if (this.eof) {
          this.finished = true;
          break;
        }
        this.refill();
        continue;
      }
      const r = slowOnly ? SLOW : fastLine(this.buf, this.start, rec, 0);
      if (!this.take(r === SLOW ? -1 : lineEnd)) continue;
      if (r === BLANK) continue;
      let ok = false;
      if (r === TLP) {
        const unit = (rec[7]! >>> 12) & 3;
        if (unit === U_CYCLES) {
          const v = rec[3]! * TWO32 + rec[2]!;
          if (v >= order.cycles) {
            order.cycles = v;
            order.cyclesAt = this.lineNo;
            ok = true;
          }
        } else if (unit === U_NONE) ok = true;
        else {
          f64w[0] = rec[2]!;
          f64w[1] = rec[3]!;
          ok = order.check(unit, f64[0]!, this.lineNo) === undefined;
        }
        // else a time going backwards: the full parser says so (and skipBad applies)
      }
      if (!ok) {
        const e = this.slowLine();
        if (e === undefined) continue;
        if (!isTlp(e)) {
          this.pending = e;
          break;
        }
        encodeTlpRecord(rec, 0, e);
      }
      if (!sink.put(rec, 0, this.lineNo)) {
        this.held = true;
        this.heldLine = this.lineNo;
        break;
      }
      n++;
    }
    return n;
  }

  readTlps(dst: Uint32Array, lines: Float64Array, max: number): number {
    return readTlpsInto(this, dst, lines, max);
  }

  readDriverEvent(): DriverEvent | undefined {
    const e = this.pending;
    this.pending = undefined;
    return e;
  }

  close(): void {
    if (!this.closed) this.src.close();
    this.closed = true;
  }
}

// ---- in-memory events -----------------------------------------------------------------------------

/** Events already parsed (a scenario's inline trace, tests), read through the same interface. */
export class EventsReader implements TraceReader {
  readonly format = "events";
  readonly skipped: { line: number; reason: string }[] = [];
  private i = 0;
  private readonly rec = new Uint32Array(RECORD_WORDS);

  constructor(
    private readonly events: readonly TraceEvent[],
    readonly file: string = "trace",
  ) {}

  get done(): boolean {
    return this.i >= this.events.length;
  }

  get progress(): { done: number; total: number } {
    return { done: this.i, total: this.events.length };
  }

  errorAt(message: string, line: number, column?: number): InputError {
    return new InputError(message, this.file, line, column);
  }

  readRequests(sink: TlpSink): number {
    const ev = this.events, rec = this.rec;
    let n = 0;
    while (this.i < ev.length) {
      const e = ev[this.i]!;
      if (!isTlp(e)) break;
      encodeTlpRecord(rec, 0, e);
      if (!sink.put(rec, 0, e.line)) break;
      n++;
      this.i++;
    }
    return n;
  }

  readTlps(dst: Uint32Array, lines: Float64Array, max: number): number {
    return readTlpsInto(this, dst, lines, max);
  }

  readDriverEvent(): DriverEvent | undefined {
    const e = this.events[this.i];
    if (e === undefined || isTlp(e)) return undefined;
    this.i++;
    return e;
  }

  /** The next event, whatever it is; undefined at the end. */
  next(): TraceEvent | undefined {
    return this.events[this.i++];
  }

  close(): void {}
}

// ---- choosing a reader ----------------------------------------------------------------------------

export type TraceFormat = "text" | "binary";

/** The format a file name says: .trace/.txt text, .bin/.itb binary; undefined otherwise. */
export function formatFromExtension(file: string): TraceFormat | undefined {
  const ext = extname(file).toLowerCase();
  if (ext === ".trace" || ext === ".txt") return "text";
  if (ext === ".bin" || ext === ".itb") return "binary";
  return undefined;
}

/** True when the file (or `-`, standard input: then it is not read) starts with the binary format's magic. */
export function sniffBinary(file: string): boolean {
  if (file === "-") return false;
  const src = openInput(file, "a trace file");
  try {
    return hasMagic(src.peek(MAGIC.length));
  } finally {
    src.close();
  }
}

export interface OpenOptions {
  /** Force a format instead of sniffing the file's first bytes. */
  format?: TraceFormat;
  skipBad?: boolean;
}

/** Bytes looked at for binary data (a NUL byte or bytes that are not UTF-8) before a text trace is read. */
const TEXT_CHECK_BYTES = 4096;

/**
 * A reader for a trace: a path or `-` (standard input, streamed), gzip or zstd decompressed, then
 * binary when it starts with the binary magic (or `format` says so), text otherwise. A `.bin`/`.itb`
 * name without the magic is an error, and so is binary data that is neither (NUL bytes or bytes
 * that are not UTF-8 in its first 4 KiB).
 */
export function openTraceReader(file: string | PeekSource, opts: OpenOptions = {}): TraceReader {
  const skip = opts.skipBad ? { skipBad: true } : {};
  const src = typeof file === "string" ? openInput(file, "a trace file") : file;
  try {
    return readerFor(src, src.name, opts.format, skip);
  } catch (e) {
    src.close();
    throw e;
  }
}

function readerFor(src: PeekSource, file: string, forced: TraceFormat | undefined, skip: { skipBad?: boolean }): TraceReader {
  const head = src.peek(TEXT_CHECK_BYTES);
  const binary = forced ? forced === "binary" : hasMagic(head) || formatFromExtension(file) === "binary";
  if (binary) return new BinaryTraceReader(src, skip);
  const bad = firstNonText(head, head.length === TEXT_CHECK_BYTES);
  if (bad >= 0) {
    const compressed = src.compression ? ` once ${src.compression}-decompressed` : "";
    throw notTextError(head, bad, src.name, `a trace (text format v1, or binary with its magic)${compressed}`);
  }
  return new TextTraceReader(src, skip);
}

/** Every event of a reader as objects (TLPs decoded from their records), in order. */
export function* readEvents(reader: TraceReader): Generator<TraceEvent> {
  const RING = 4096;
  const words = new Uint32Array(RING * RECORD_WORDS);
  const lines = new Float64Array(RING);
  while (!reader.done) {
    const n = reader.readTlps(words, lines, RING);
    for (let k = 0; k < n; k++) yield decodeTlpRecord(words, k * RECORD_WORDS, lines[k]!);
    const e = reader.readDriverEvent();
    if (e !== undefined) yield e;
    else if (n === 0 && reader.done) break;
  }
}

/** Reads a whole trace file into events (small traces, tests). */
export function readTraceFile(file: string, opts: OpenOptions = {}): TraceEvent[] {
  const r = openTraceReader(file, opts);
  try {
    return [...readEvents(r)];
  } finally {
    r.close();
  }
}

export type { TraceTlp };
