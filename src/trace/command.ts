/**
 * An architecture's driver command in the trace formats (VT-d `inv`; SMMUv3's `cmd` will be one
 * more): how its text after the keyword is parsed and written, and how it is packed into a
 * driver-event record of the binary format. Each architecture's trace-commands module
 * (src/arch/NAME/trace-commands.ts) provides them; src/trace/commands.ts holds the table the text
 * and binary codecs look them up in.
 */
import type { ArchName } from "../core/abi.ts";
import type { ArchCommandEvent, DriverEventBase } from "./events.ts";
import type { Args } from "./syntax.ts";

/**
 * The operands of a driver-event record (binary.ts): OP (FLAGS bits 23:16), A (u64), B, C, D (u32),
 * and, when the event needs one, the extension record's Q0, Q1, Q2 (u64).
 */
export interface EventOperands {
  op: number;
  a: bigint;
  b: number;
  c: number;
  d: number;
  ext?: readonly [bigint, bigint, bigint];
}

/** Throws a RangeError saying `what` when `ok` is false (an event the format cannot express). */
export type FormatCheck = (ok: boolean, what: string) => void;

export interface TraceCommand<E extends ArchCommandEvent = ArchCommandEvent> {
  /** The architecture whose driver carries the command out. */
  readonly arch: ArchName;
  /** Its keyword in the text format (the event's `op`). */
  readonly keyword: E["op"];
  /**
   * The binary opcodes it uses: each in 16..255 (1..15 are the neutral events'), no two commands
   * sharing one.
   */
  readonly ops: readonly number[];
  /** Parses the tokens after the keyword; errors are `a.err(message, column)`. */
  parse(a: Args, base: DriverEventBase): E;
  /** The tokens after the keyword, canonical (parse gives the event back); `check` refuses what the format cannot express. */
  format(e: E, check: FormatCheck, hex: (v: bigint) => string): string[];
  /** The record's operands; a RangeError for an event the format cannot express. */
  encode(e: E): EventOperands;
  /**
   * The event of a record with one of `ops` (the extension record's qwords are 0 when it has none),
   * or why it is not a valid one. binary.ts then checks it is valid text and the only encoding.
   */
  decode(x: Required<EventOperands>, base: DriverEventBase): E | string;
}

/** A u32 operand (B, C or D), or a RangeError naming `what`. */
export function u32Operand(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${what} ${v} out of range`);
  return v;
}
