/**
 * Failures the fuzz campaigns found (README "Fuzzing"), each minimized and kept as a test of the
 * fixed behaviour. Core failures are tests marked skip with the reason until the core is fixed.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseJsonLocated } from "../../src/config/json-locate.ts";
import { parseScenario } from "../../src/scenario.ts";
import { InputError } from "../../src/errors.ts";
import { TextTraceReader, readEvents } from "../../src/trace/stream.ts";
import { parseTraceText } from "../../src/trace/text.ts";
import { MemorySource } from "../../scripts/fuzz/parsers.ts";

function inputError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e.message;
    throw e;
  }
  return "no error";
}

// json target, seed 3: {"jsonEdits":[{"op":"add","node":0,"key":..."__proto__"...}]}
test("json: a \"__proto__\" key is an own key, as JSON.parse makes it, not the object's prototype", () => {
  const v = parseJsonLocated('{"__proto__": {"a": 1}}', "f.json").value as Record<string, unknown>;
  assert.equal(Object.keys(v), ["__proto__"]);
  assert.is(Object.getPrototypeOf(v), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(v, "__proto__")?.value, { a: 1 });
  assert.is(inputError(() => parseJsonLocated('{"__proto__": 1,\n "__proto__": 2}', "f.json")), 'f.json:2:2: duplicate key "__proto__"');
});

test("json: a scenario with a \"__proto__\" key is refused as an unknown key at that key", () => {
  assert.is(inputError(() => parseScenario('{\n  "arch": "vtd",\n  "__proto__": {"arch": "smmuv3"}\n}', "s.json")), 's.json:3:3: __proto__: unknown key "__proto__"');
});

// json target: a number of more than 64 characters (valid JSON) was cut at 64 and refused
test("json: numbers of any length are read whole", () => {
  const long = "9".repeat(80);
  assert.is((parseJsonLocated(`{"a": ${long}}`, "f.json").value as { a: number }).a, 1e80);
  assert.is((parseJsonLocated(`[0.${"5".repeat(70)}e2]`, "f.json").value as number[])[0], 55.55555555555556);
});

// scenario target, seed 1: {"doc":0,"edits":[{"op":"remove","node":396331775}]} removed a mapping's "iova"
test("scenario: a missing required key is named, at the object that lacks it", () => {
  const text = ['{', '  "arch": "vtd",', '  "build": {', '    "domains": [', '      { "id": 1, "type": "ss", "mappings": [', '        { "pa": "0x1000", "size": "0x1000" }', "      ] }", "    ]", "  }", "}"].join("\n");
  assert.is(inputError(() => parseScenario(text, "s.json")), 's.json:6:9: build.domains[0].mappings[0].iova: missing key "iova"');
  // a required key with its own message keeps it, now with a position
  assert.is(inputError(() => parseScenario('{ "build": {} }', "s.json")), 's.json:1:1: arch: expected "vtd" or "smmuv3"');
});

// stream target, seed 20240601 (campaign): {"m":{"lines":[0],"edits":[{"line":0,"edit":{"op":"replace","at":0,"text":"\ufeff"}}]},"chunk":1,...}
test("stream: a byte-order mark that arrives in reads shorter than 3 bytes is still not part of the first line", () => {
  const text = "\ufeffMRd 00:02.0 addr=0x1000 bad";
  const full = inputError(() => parseTraceText(text, "f.trace"));
  assert.is(full, 'f.trace:1:25: unknown token "bad"; expected pasid=, addr=, len=, ns, ro, ido, at=translated, expect=');
  for (const [chunk, step] of [[1, 1], [2, 1], [1 << 20, 1], [1 << 20, 2], [1 << 20, 64]] as const)
    assert.is(inputError(() => [...readEvents(new TextTraceReader(new MemorySource("f.trace", Buffer.from(text, "utf8"), step), { chunkBytes: chunk }))]), full, `chunk ${chunk}, reads of ${step} bytes`);
});

test.run();
