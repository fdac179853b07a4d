/**
 * The interface every trace reader gives the replay and `convert`, whatever the encoding: the text
 * reader and the binary reader (src/trace/stream.ts, binary.ts) and the in-memory one. TLPs come as
 * records in the binary format's layout (binary.ts: straight into the request ring), driver events
 * as the objects of events.ts.
 */
import type { InputError } from "../errors.ts";
import type { DriverEvent } from "./events.ts";

/**
 * A trace being read in order, TLPs in this format's record layout (straight into the request ring
 * when the replay reads), driver events as objects. The replay and `convert` use only this.
 */
export interface TraceReader {
  /** The file name for messages ("inline trace" for a scenario's inline lines). */
  readonly file: string;
  readonly format: "text" | "binary" | "events";
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
