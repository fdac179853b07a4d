/**
 * The interface every trace reader gives the replay and `convert`, whatever the encoding: the text
 * reader and the binary reader (src/trace/stream.ts, binary.ts) and the in-memory one. TLPs come as
 * records in the binary format's layout, offered one at a time to a sink (the replay's sink,
 * src/replay/request-writer.ts, converts each into the core's request ring as it comes), driver
 * events as the objects of events.ts.
 */
import type { InputError } from "../errors.ts";
import type { DriverEvent } from "./events.ts";

/** Words per record of the binary format (binary.ts RECORD_WORDS; here so that this module imports nothing). */
const WORDS = 8;

/**
 * Where a reader puts TLPs: `put` takes the record at word `o` of `w` (the binary format's layout:
 * valid, in time order, TIME raw with its unit in FLAGS) with its line (text) or record (binary)
 * number, or refuses it (false: the sink is full, or its batch must end before this TLP). A
 * refused TLP stays the reader's next one.
 */
export interface TlpSink {
  put(w: Uint32Array, o: number, line: number): boolean;
  /**
   * The bulk form of `put` (optional; the binary reader uses it): records k, k+1, ... < end of `w`
   * (RECORD_WORDS words each), the first with line (record) number `line` and the next ones
   * numbered on from it, all checked valid, in time order, with a cycle time or none and no
   * expected fault. Takes them in order until it refuses one; returns how many it took.
   */
  putBlock?(w: Uint32Array, k: number, end: number, line: number): number;
}

/**
 * A trace being read in order, TLPs offered as records of the binary format's layout, driver events
 * as objects. The replay and `convert` use only this.
 */
export interface TraceReader {
  /** The file name for messages ("inline trace" for a scenario's inline lines). */
  readonly file: string;
  readonly format: "text" | "binary" | "events";
  /**
   * Offers TLPs to `sink` in order, each checked and taken in one pass over its bytes, until the
   * sink refuses one, a driver event is next or the trace has ended. Returns how many it took.
   */
  readRequests(sink: TlpSink): number;
  /**
   * Copies up to `max` TLP records into `dst` from word 0 (RECORD_WORDS words each, TIME raw
   * with its unit in FLAGS) and their line (text) or record (binary) numbers into `lines`; stops
   * before a driver event. Returns how many; 0 when a driver event is next or the trace has ended.
   */
  readTlps(dst: Uint32Array, lines: Float64Array, max: number): number;
  /** The next event when it is a driver event (consumed); undefined when a TLP is next or at the end. */
  readDriverEvent(): DriverEvent | undefined;
  /** True once every event has been read. */
  readonly done: boolean;
  /** An input error at an event's position (line and column in text, record in binary). */
  errorAt(message: string, line: number, column?: number): InputError;
  /** Progress through the input (bytes for files, events in memory). */
  readonly progress: { done: number; total: number };
  /** Bad lines or records skipped (skipBad), with their positions. */
  readonly skipped: { line: number; reason: string }[];
  close(): void;
}

/** The sink of readTlps: copies up to `max` records as they are into `dst`, their numbers into `lines`. */
const NO_WORDS: Uint32Array = new Uint32Array(0);
const NO_LINES: Float64Array = new Float64Array(0);

class RecordCopier implements TlpSink {
  dst = NO_WORDS;
  lines = NO_LINES;
  n = 0;
  max = 0;

  put(w: Uint32Array, o: number, line: number): boolean {
    const n = this.n;
    if (n >= this.max) return false;
    const d = this.dst, at = n * WORDS;
    for (let k = 0; k < WORDS; k++) d[at + k] = w[o + k]!;
    this.lines[n] = line;
    this.n = n + 1;
    return true;
  }

  /** The records as they are: one copy. */
  putBlock(w: Uint32Array, k: number, end: number, line: number): number {
    const n = this.n, take = Math.min(end - k, this.max - n);
    if (take <= 0) return 0;
    this.dst.set(w.subarray(k * WORDS, (k + take) * WORDS), n * WORDS);
    const lines = this.lines;
    for (let i = 0; i < take; i++) lines[n + i] = line + i;
    this.n = n + take;
    return take;
  }
}

const copier = new RecordCopier();

/** readTlps through readRequests: `reader`'s next TLPs (up to `max`) copied into `dst` and `lines`. */
export function readTlpsInto(reader: TraceReader, dst: Uint32Array, lines: Float64Array, max: number): number {
  copier.dst = dst;
  copier.lines = lines;
  copier.n = 0;
  copier.max = max;
  try {
    reader.readRequests(copier);
    return copier.n;
  } finally {
    copier.dst = NO_WORDS;
    copier.lines = NO_LINES;
  }
}
