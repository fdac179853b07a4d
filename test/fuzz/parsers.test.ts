/**
 * The parser fuzzers' CI subset: a fixed seed and 300 mutated inputs for each of the text v1
 * parser, the streaming reader (against the full parser), the binary reader, JSON with positions
 * and every importer; and the rules a parser outcome is held to.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { binaryTarget, checkJson, checkMessage, importerTarget, IMPORTERS, inputOutcome, jsonTarget, streamTarget, textTarget } from "../../scripts/fuzz/parsers.ts";
import { mutatedLines } from "../../scripts/fuzz/mutate.ts";
import { applyJsonEdits } from "../../scripts/fuzz/mutate-json.ts";
import { FuzzProblem } from "../../scripts/fuzz/target.ts";
import { InputError } from "../../src/errors.ts";
import { ciRun } from "./helpers.ts";

for (const [name, make] of [["text", textTarget], ["stream", streamTarget], ["binary", binaryTarget], ["json", jsonTarget], ...IMPORTERS.map((n) => [n, () => importerTarget(n)] as const)] as const)
  test(`CI subset: 300 mutated inputs of ${name}, no exception but an InputError`, () => {
    ciRun((make as () => Parameters<typeof ciRun>[0])(), 300);
  });

const problem = (f: () => void): string => {
  try {
    f();
  } catch (e) {
    assert.instance(e, FuzzProblem);
    return (e as Error).message;
  }
  return "no problem";
};

test("the rules: only InputError, named after the file, without raw control characters", () => {
  assert.equal(inputOutcome("p", () => 5, "f.trace"), { value: 5 });
  const err = new InputError("bad", "f.trace", 2, 3);
  assert.equal(inputOutcome("p", () => { throw err; }, "f.trace"), { error: err });
  assert.is(problem(() => inputOutcome("p", () => { throw new TypeError("x is undefined"); }, "f.trace")), "p threw TypeError: x is undefined, not an InputError");
  assert.is(problem(() => checkMessage("f.trace:1:1: bad \x1b[2J", "f.trace")), 'message with a raw control character: "f.trace:1:1: bad \\u001b[2J"');
  assert.is(problem(() => checkMessage("g.trace:1:1: bad", "f.trace")), 'message does not start with the file name f.trace: "g.trace:1:1: bad"');
  assert.is(problem(() => checkJson('{"a": 1, "a": 2}')), "no problem"); // duplicate keys: refused on purpose
  assert.is(problem(() => checkJson("[1, 2")), "no problem");
});

test("mutations: edits applied to the chosen lines, in order", () => {
  const corpus = ["MRd 00:02.0 addr=0x1000", "unmap 1 0x1000 0x1000"];
  assert.equal(
    mutatedLines({ lines: [0, 3], edits: [{ line: 0, edit: { op: "insert", at: 3, text: "X" } }, { line: 1, edit: { op: "truncate", at: 5 } }, { line: 0, edit: { op: "delete", at: 0, count: 2 } }] }, corpus),
    ["dX 00:02.0 addr=0x1000", "unmap"],
  );
  assert.equal(mutatedLines({ lines: [0], edits: [{ line: 0, edit: { op: "swap", a: 0, b: 2 } }] }, corpus), ["00:02.0 MRd addr=0x1000"]);
  assert.equal(mutatedLines({ lines: [0], edits: [{ line: 0, edit: { op: "token", at: 0, from: 1, token: 0 } }] }, corpus), ["unmapMRd 00:02.0 addr=0x1000"]);
});

test("JSON mutations: keys renamed (an own \"__proto__\" key), values of other types, arrays grown", () => {
  const doc = { a: 1, b: [1, 2] };
  // depth-first nodes: 0 root.doc, 1 a, 2 b, 3 b[0], 4 b[1]
  const renamed = applyJsonEdits(doc, [{ op: "rename", node: 1, key: 39 }]) as Record<string, unknown>;
  assert.equal(Object.keys(renamed), ["__proto__", "b"]);
  assert.is(JSON.stringify(renamed), '{"__proto__":1,"b":[1,2]}');
  assert.is(JSON.stringify(applyJsonEdits(doc, [{ op: "set", node: 3, value: 0 }, { op: "dup", node: 2 }, { op: "remove", node: 1 }])), '{"b":[null,2,2]}');
  assert.equal(doc, { a: 1, b: [1, 2] }, "the document itself is not changed");
});

test.run();
