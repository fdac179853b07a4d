/** Helpers of the driver-event trace tests: parse one line, expect a located error, check binary records word by word. */
import * as assert from "uvu/assert";
import { formatEvent, parseTraceText, type DriverEvent } from "../../src/trace/text.ts";
import { decodeDriverEvent, encodeDriverEvent } from "../../src/trace/binary.ts";

export const one = (line: string) => parseTraceText(line, "t.trace")[0] as DriverEvent;

/** The line is refused with `t.trace:1:` + message (column and text). */
export function fails(line: string, message: string): void {
  try {
    parseTraceText(line, "t.trace");
  } catch (e) {
    return assert.is((e as Error).message, `t.trace:1:${message}`);
  }
  assert.unreachable(`no error for ${line}`);
}

/** Each line encodes to exactly these 32-bit words and decodes back to the same line. */
export function recordsAre(cases: readonly (readonly [string, readonly number[]])[]): void {
  for (const [line, words] of cases) {
    const w = encodeDriverEvent(one(line));
    assert.equal([...w], words.map((x) => x >>> 0), line);
    const back = decodeDriverEvent(w, 0, 1);
    assert.is(typeof back === "string" ? back : formatEvent(back), line);
  }
}
