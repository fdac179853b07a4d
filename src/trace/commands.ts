/**
 * The table of the architectures' driver commands (src/trace/command.ts), in which the text and
 * binary codecs look up a keyword or a binary opcode that is not a neutral event's: every
 * architecture module's `traceCommands` (src/arch/index.ts). A new architecture's command comes
 * with its module; no codec changes.
 */
import type { TraceCommand } from "./command.ts";
import { architectures } from "../arch/index.ts";

export const traceCommands: readonly TraceCommand[] = Object.values(architectures).flatMap((m) => m.traceCommands);

const byKeyword = new Map<string, TraceCommand>();
const byOp = new Map<number, TraceCommand>();
for (const c of traceCommands) {
  if (byKeyword.has(c.keyword)) throw new Error(`two trace commands use the keyword "${c.keyword}"`);
  byKeyword.set(c.keyword, c);
  for (const op of c.ops) {
    if (!Number.isInteger(op) || op < 16 || op > 255) throw new Error(`trace command "${c.keyword}": opcode ${op} is not in 16..255`);
    if (byOp.has(op)) throw new Error(`trace commands "${byOp.get(op)!.keyword}" and "${c.keyword}" both use opcode ${op}`);
    byOp.set(op, c);
  }
}

/** The command with this text keyword, if an architecture has one. */
export function commandFor(keyword: string): TraceCommand | undefined {
  return byKeyword.get(keyword);
}

/** The command a binary driver-event record's opcode belongs to, if any. */
export function commandForOp(op: number): TraceCommand | undefined {
  return byOp.get(op);
}
