/**
 * The benchmarks' native baseline (bench/native.ts): its output line parsed and refused exactly,
 * the compiler looked up on PATH, and a build-and-run of small C programs standing in for the
 * baseline (figures read; a compile error, a failing program and bad output each reported).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NATIVE_COUNTERPART, onPath, parseNativeOutput, runNativeBaseline } from "../../bench/native.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-native-test-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const LINE = '{"iotlb-hit": 187530258, "streaming": 146958457, "ss4-walk": 76079380, "nested-walk": 16521172}';

test("the baseline's JSON line: the four figures", () => {
  assert.equal(parseNativeOutput(`${LINE}\n`), { "iotlb-hit": 187530258, streaming: 146958457, "ss4-walk": 76079380, "nested-walk": 16521172 });
  // other keys are ignored
  assert.equal(parseNativeOutput('{"nested-walk": 2, "x": "y", "ss4-walk": 1.5, "streaming": 3, "iotlb-hit": 4}'), { "iotlb-hit": 4, streaming: 3, "ss4-walk": 1.5, "nested-walk": 2 });
});

test("bad baseline output is refused, saying what is wrong", () => {
  const err = (s: string) => {
    try {
      parseNativeOutput(s);
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  };
  assert.is(err(""), "expected one line of JSON, got 0 lines");
  assert.is(err(`${LINE}\n${LINE}\n`), "expected one line of JSON, got 2 lines");
  assert.is(err("hello"), 'expected a JSON object, got "hello"');
  assert.is(err("[1, 2]"), "expected a JSON object, got [1, 2]");
  assert.is(err('{"iotlb-hit": 1, "streaming": 2, "ss4-walk": 3}'), '"nested-walk": expected a positive number of translations/s, got undefined');
  assert.is(err('{"iotlb-hit": 1, "streaming": 0, "ss4-walk": 3, "nested-walk": 4}'), '"streaming": expected a positive number of translations/s, got 0');
  assert.is(err('{"iotlb-hit": "9", "streaming": 2, "ss4-walk": 3, "nested-walk": 4}'), '"iotlb-hit": expected a positive number of translations/s, got "9"');
});

test("the cases compared with the baseline", () => {
  assert.equal(NATIVE_COUNTERPART, { "iotlb-hit": "iotlb-hit", streaming: "streaming", "ss4-walk": "ss4-walk", "nested-walk": "nested-walk" });
});

test("onPath: an executable file in a PATH folder", () => {
  const bin = join(dir, "bin");
  rmSync(bin, { recursive: true, force: true });
  mkdirSync(bin);
  writeFileSync(join(bin, "cc"), "#!/bin/sh\n");
  chmodSync(join(bin, "cc"), 0o755);
  writeFileSync(join(bin, "cx"), "");
  chmodSync(join(bin, "cx"), 0o644);
  assert.is(onPath("cc", `/nonexistent-folder:${bin}`), true);
  assert.is(onPath("cx", bin), false);
  assert.is(onPath("cc", "/nonexistent-folder"), false);
  assert.is(onPath("cc", ""), false);
});

test("runNativeBaseline without cc on PATH says so", () => {
  const saved = process.env.PATH;
  process.env.PATH = join(dir, "empty");
  try {
    assert.equal(runNativeBaseline(), { error: "no C compiler (cc) on PATH" });
  } finally {
    process.env.PATH = saved;
  }
});

// The remaining tests build C programs: they need the compiler the runner uses.
const haveCc = onPath("cc");

function source(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

test("runNativeBaseline: builds, runs once and reads the figures", () => {
  if (!haveCc) return void console.log("  (skipped: no cc on PATH)");
  const src = source("ok.c", `#include <stdio.h>\nint main(void) { puts("{\\"iotlb-hit\\": 10, \\"streaming\\": 20, \\"ss4-walk\\": 30, \\"nested-walk\\": 40}"); return 0; }\n`);
  assert.equal(runNativeBaseline(src), { figures: { "iotlb-hit": 10, streaming: 20, "ss4-walk": 30, "nested-walk": 40 } });
});

test("runNativeBaseline: a compile error, a failing program and bad output are reported", () => {
  if (!haveCc) return void console.log("  (skipped: no cc on PATH)");
  const bad = runNativeBaseline(source("bad.c", "int main(void) { return }\n"));
  assert.ok("error" in bad && bad.error.startsWith("cc -O3 -march=native failed: "), JSON.stringify(bad));
  assert.ok("error" in bad && bad.error.includes("bad.c"), JSON.stringify(bad));
  const fails = runNativeBaseline(source("fails.c", `#include <stdio.h>\nint main(void) { fprintf(stderr, "baseline workload faulted (3)\\n"); return 1; }\n`));
  assert.equal(fails, { error: "the native baseline failed: baseline workload faulted (3)" });
  const noise = runNativeBaseline(source("noise.c", `#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n`));
  assert.equal(noise, { error: `the native baseline's output: expected a JSON object, got "hello"` });
});

test.run();
