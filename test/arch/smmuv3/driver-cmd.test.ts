/**
 * SMMUv3's `cmd QW0 QW1` trace command (src/arch/smmuv3/trace-commands.ts) in the text and binary
 * formats: parsed, written back, packed into a driver-event record and its extension, and the
 * errors of a malformed line.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatEvent, parseTraceText } from "../../../src/trace/text.ts";
import { decodeDriverEvent, encodeDriverEvent } from "../../../src/trace/binary.ts";
import { cmdCommand } from "../../../src/arch/smmuv3/trace-commands.ts";
import type { DriverEvent } from "../../../src/trace/events.ts";

const message = (text: string) => {
  try {
    parseTraceText(text, "t.trace");
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
};

test("text: cmd QW0 QW1 in hex, 0x optional; written back canonical", () => {
  const [e] = parseTraceText("@5 cmd 7f 0xFFFFFFFFFFFFFFFF", "t.trace");
  assert.equal(e, { line: 1, column: 4, time: { value: 5, unit: "cycles" }, op: "cmd", qwords: [0x7fn, 0xffff_ffff_ffff_ffffn] });
  assert.is(formatEvent(e!), "@5 cmd 0x7f 0xffffffffffffffff");
});

test("binary: OP 32, A = QW0, the extension's Q0 = QW1; decoded back", () => {
  const e = { line: 4, column: 0, op: "cmd", qwords: [0x0fc0_1046n, 0x1001_1230n] } as DriverEvent;
  assert.equal(cmdCommand.encode(e as never), { op: 32, a: 0x0fc0_1046n, b: 0, c: 0, d: 0, ext: [0x1001_1230n, 0n, 0n] });
  const w = encodeDriverEvent(e);
  assert.is(w.length, 16, "a record and its extension record");
  assert.equal(decodeDriverEvent(w, 0, 4), e);
  assert.is(cmdCommand.decode({ op: 32, a: 1n, b: 0, c: 0, d: 1, ext: [0n, 0n, 0n] }, { line: 1, column: 0 }), "cmd with non-zero B, C, D, Q1 or Q2");
});

test("errors name the line and column: one qword, three qwords, a word that is not hex", () => {
  assert.is(message("cmd 0x46"), "t.trace:1:5: expected 2 command qwords in hex after \"cmd\" (QW0 QW1), got 1");
  assert.is(message("cmd 0x46 0 0"), "t.trace:1:12: expected 2 command qwords in hex after \"cmd\" (QW0 QW1), got 3");
  assert.is(message("cmd 0x46 zz"), "t.trace:1:10: expected a command qword in hex (0x optional), got \"zz\"");
});

test.run();
