/**
 * JSON with positions (src/config/json-locate.ts): the line and column of every value and key, by
 * path, through nesting, escapes and whitespace; syntax errors at their exact place; the nesting
 * limit; pathString.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseJsonLocated, pathString, MAX_DEPTH } from "../../src/config/json-locate.ts";
import { InputError } from "../../src/errors.ts";

const at = (text: string) => Object.fromEntries([...parseJsonLocated(text, "f.json").at].map(([k, v]) => [k, `${v.line}:${v.column}`]));

function error(text: string): string {
  try {
    parseJsonLocated(text, "f.json");
  } catch (e) {
    assert.instance(e, InputError);
    return (e as Error).message;
  }
  return "no error";
}

test("positions of values and keys, 1-based, by path", () => {
  assert.equal(at('{"a": 1,\n  "b": [true, {"c": null}]\n}'), {
    "": "1:1",
    "a#key": "1:2",
    a: "1:7",
    "b#key": "2:3",
    b: "2:8",
    "b[0]": "2:9",
    "b[1]": "2:15",
    "b[1].c#key": "2:16",
    "b[1].c": "2:21",
  });
});

test("escapes count as the characters written; tabs and CR are one column; CRLF lines", () => {
  // "a\"b" is 6 characters wide, "\u00e9" 8; the value after them is where it is written
  assert.equal(at('{"a\\"b": "\\u00e9", "x":\t2}'), { "": "1:1", 'a"b#key': "1:2", 'a"b': "1:10", "x#key": "1:20", x: "1:25" });
  assert.equal(at('[\r\n 1,\r\n\t2]'), { "": "1:1", "[0]": "2:2", "[1]": "3:2" });
  assert.equal(parseJsonLocated('{"k": "\\u00e9\\n"}', "f.json").value, { k: "é\n" });
});

test("errors at their place, naming what was expected", () => {
  assert.is(error('{"a": 1,\n "b" 2}'), 'f.json:2:6: expected ":" after key "b", got "2"');
  assert.is(error("[1, 2"), 'f.json:1:6: expected "," or "]", got end of file');
  assert.is(error('{"a": "x\ny"}'), "f.json:1:9: line break inside a string");
  assert.is(error('{"a": "\\q"}'), "f.json:1:7: invalid string escape");
  assert.is(error('{"a": "\x01"}'), 'f.json:1:8: control character "\\x01" inside a string; write it escaped (\\u0001)');
  assert.is(error('{"a": 1}\n x'), 'f.json:2:2: unexpected "x" after the JSON value');
  assert.is(error('{"a": 1, "b": 2, "a": 3}'), 'f.json:1:18: duplicate key "a"');
  assert.is(error("{a: 1}"), 'f.json:1:2: expected a quoted key, got "a"');
  assert.is(error("[01]"), 'f.json:1:3: expected "," or "]", got "1"');
  assert.is(error(""), "f.json:1:1: expected a JSON value, got end of file");
});

test(`nesting: ${MAX_DEPTH} levels are read, one more is an error at the bracket that goes too deep`, () => {
  const ok = "[".repeat(MAX_DEPTH) + "]".repeat(MAX_DEPTH);
  assert.equal(parseJsonLocated(ok, "f.json").at.size, MAX_DEPTH);
  assert.is(error("[".repeat(MAX_DEPTH + 1)), `f.json:1:${MAX_DEPTH + 1}: objects and arrays nested deeper than ${MAX_DEPTH} levels`);
  assert.is(error("[".repeat(100_000)), `f.json:1:${MAX_DEPTH + 1}: objects and arrays nested deeper than ${MAX_DEPTH} levels`);
});

test("pathString: the paths the parser stores", () => {
  assert.is(pathString([]), "");
  assert.is(pathString(["build", "domains", 0, "mappings", 12, "size"]), "build.domains[0].mappings[12].size");
  assert.is(pathString([3, "a"]), "[3].a");
});

test.run();
