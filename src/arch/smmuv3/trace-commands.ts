/**
 * SMMUv3's driver command in the trace formats: `cmd`, one 16-byte command written to the command
 * queue as given (the SMMU form of VT-d's `inv qi`), carried out by the SMMUv3 driver (driver.ts:
 * written at CMDQ_PROD, which then advances).
 *
 *   [@TIME] cmd QW0 QW1
 *
 * QW0 and QW1 are the command's two 64-bit words in hex (the `0x` is optional), as Linux's
 * arm-smmu-v3 "skipping command in error state" message prints them: `cmd 0x46 0x0` is a CMD_SYNC.
 *
 * In the binary format (src/trace/binary.ts) a `cmd` is one driver-event record with OP 32:
 * A = QW0, B = C = D = 0, and an extension record with Q0 = QW1 (Q1 = Q2 = 0).
 */
import type { DriverEventBase } from "../../trace/events.ts";
import type { TraceCommand } from "../../trace/command.ts";
import { parseHex } from "../../trace/syntax.ts";

declare module "../../trace/events.ts" {
  interface ArchCommands {
    /** SMMUv3: `cmd QW0 QW1` (src/arch/smmuv3/trace-commands.ts). */
    cmd: { qwords: [bigint, bigint] };
  }
}

/** `cmd QW0 QW1`: the driver writes one command to the queue. */
export interface CmdEvent extends DriverEventBase {
  op: "cmd";
  qwords: [bigint, bigint];
}

/** The binary opcode of `cmd` (FLAGS bits 23:16 of the driver-event record). */
export const CMD_OP = 32;

/** SMMUv3's `cmd`, registered in src/trace/commands.ts. */
export const cmdCommand: TraceCommand<CmdEvent> = {
  arch: "smmuv3",
  keyword: "cmd",
  ops: [CMD_OP],
  parse(a, base) {
    const err = a.err;
    const toks = a.rest();
    const qwords = toks.slice(0, 2).map((t) => parseHex(t, "a command qword", err));
    if (toks.length !== 2) {
      const at = toks.length > 2 ? toks[2]!.column : toks.length === 1 ? toks[0]!.column : base.column;
      throw err(`expected 2 command qwords in hex after "cmd" (QW0 QW1), got ${toks.length}`, at);
    }
    return { ...base, op: "cmd", qwords: [qwords[0]!, qwords[1]!] };
  },
  format: (e, check, hex) => {
    check(e.qwords.length === 2, `${e.qwords.length} qwords`);
    return e.qwords.map(hex);
  },
  encode: (e) => ({ op: CMD_OP, a: e.qwords[0], b: 0, c: 0, d: 0, ext: [e.qwords[1], 0n, 0n] }),
  decode: (x, base) => {
    if (x.op !== CMD_OP) return `unknown driver-event OP ${x.op}`;
    if (x.b !== 0 || x.c !== 0 || x.d !== 0 || x.ext[1] !== 0n || x.ext[2] !== 0n) return "cmd with non-zero B, C, D, Q1 or Q2";
    return { ...base, op: "cmd", qwords: [x.a, x.ext[0]] };
  },
};

/** SMMUv3's driver commands in the trace formats. */
export const smmuTraceCommands: readonly TraceCommand[] = [cmdCommand];
