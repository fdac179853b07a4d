/**
 * Hostile inputs get one clear exit-2 line each, never a stack trace: a trace or scenario that is
 * a directory, binary garbage, a 5 MB token, NUL and escape bytes, JSON nested 100000 deep, a
 * UTF-8 byte-order mark (accepted). Messages quote at most a short excerpt with control
 * characters escaped: property-tested over random bytes through the text parser, the JSON loader
 * and the CLI's option parsing. Also `--version` and `--workers` beyond the limit.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InputError, MAX_MESSAGE, excerpt, quote } from "../../src/errors.ts";
import { parseTraceText } from "../../src/trace/text.ts";
import { parseJsonLocated } from "../../src/config/json-locate.ts";
import { parseScenario } from "../../src/scenario.ts";
import { parseWorkers } from "../../src/cli/sweep.ts";
import { parseShard } from "../../src/sweep/definition.ts";
import { parseMap, convertCommand } from "../../src/cli/convert.ts";
import { checkRunOptions } from "../../src/cli/run.ts";
import { planGeneration } from "../../src/gen/index.ts";
import { TRACE, cli, removeDir, tempDir, writeScenario } from "./helpers.ts";

const dir = tempDir("hostile");
test.after(() => removeDir(dir));
const at = (n: string) => join(dir, n);
writeScenario(dir);
writeFileSync(at("t.trace"), TRACE);
mkdirSync(at("adir"));

/** Runs the CLI in `dir`: exit 2 and exactly `message` on standard error. */
function refused(args: string[], message: string): void {
  const r = cli(args, { cwd: dir });
  assert.is(r.stderr, `iommu-emu: ${message}\n`, args.join(" "));
  assert.is(r.status, 2);
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

test("excerpt and quote: short, control characters escaped, the length said when cut", () => {
  assert.is(excerpt("a\x1b[31mb\0\t\r\n\x7f\x85\u2028"), "a\\x1b[31mb\\0\\t\\r\\n\\x7f\\x85\\u2028");
  assert.is(quote("x".repeat(41)), `"${"x".repeat(40)}..." (41 characters)`);
  assert.is(quote("ok"), `"ok"`);
  assert.is(excerpt("abcdef", 3), "abc... (6 characters)");
  const e = new InputError(`got "${"A".repeat(5_000_000)}"`, "f\x1b.trace", 3);
  assert.ok(e.message.length <= MAX_MESSAGE + 40, `${e.message.length}`);
  assert.ok(e.message.startsWith('f\\x1b.trace:3: got "AAAA'));
  assert.match(e.message, / \.\.\.\(4998\d+ characters cut\)\.\.\. A+"$/);
});

test("a directory given as a trace or a scenario", () => {
  refused(["run", "adir"], "adir: is a directory; expected a scenario (JSON)");
  refused(["run", "s.json", "--trace", "adir"], "adir: is a directory; expected a trace file");
  refused(["convert", "adir", "x.trace"], "adir: is a directory; expected a trace file");
});

test("binary garbage: not the binary magic and not text", () => {
  writeFileSync(at("garbage"), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00]));
  refused(["run", "s.json", "--trace", "garbage"], "garbage:1:8: not a trace (text format v1, or binary with its magic): binary data (a NUL byte at offset 7)");
  refused(["run", "garbage"], "garbage:1:8: not a scenario (JSON): binary data (a NUL byte at offset 7)");
  writeFileSync(at("latin1.trace"), Buffer.from("MRd 00:02.0 addr=0x1000 # caf\xe9\n", "latin1"));
  refused(["convert", "latin1.trace", "x.itb"], "latin1.trace:1:30: not a trace (text format v1, or binary with its magic): binary data (byte 0xe9, not UTF-8, at offset 29)");
});

test("a 5 MB token: the line is refused with its number, the message stays short", () => {
  writeFileSync(at("token.trace"), "MRd 00:02.0 addr=0x1000\n" + "A".repeat(5_000_000) + "\n");
  refused(["run", "s.json", "--trace", "token.trace"], "token.trace:2: the line is longer than 65536 bytes: not a text trace (binary data, or line breaks missing)");
  // in a scenario (JSON): a 5 MB string value, quoted short
  writeFileSync(at("big.json"), JSON.stringify({ arch: "vtd", registers: { CAP: "z".repeat(5_000_000) } }));
  const r = cli(["run", "big.json"], { cwd: dir });
  assert.is(r.status, 2);
  assert.is(r.stderr, `iommu-emu: big.json:1:34: registers.CAP: expected 0x-prefixed hex or a JSON number, got "${"z".repeat(40)}..." (5000000 characters)\n`);
});

test("NUL and escape bytes inside a trace and a scenario are escaped in the message", () => {
  // past the first 4 KiB (which are checked for binary data): the line's own error quotes them escaped
  writeFileSync(at("esc.trace"), "# padding\n".repeat(500) + "MRd 00:02.0 addr=0x1000\x1b[2J\0\n");
  refused(["run", "s.json", "--trace", "esc.trace"], 'esc.trace:501:13: expected addr=ADDR with ADDR in hex (0x optional), got "addr=0x1000\\x1b[2J\\0"');
  writeFileSync(at("esc.json"), '{ "arch": "vtd", "bui\x1bld": 1 }');
  refused(["run", "esc.json"], 'esc.json:1:22: control character "\\x1b" inside a string; write it escaped (\\u001b)');
  writeFileSync(at("esc2.json"), '{ "arch": "vtd", "bui\\u001bld": 1 }');
  refused(["run", "esc2.json"], 'esc2.json:1:18: bui\\x1bld: unknown key "bui\\x1bld"');
});

test("JSON nested 100000 deep: refused at the 257th level, no stack overflow", () => {
  writeFileSync(at("deep.json"), "[".repeat(100_000) + "]".repeat(100_000));
  refused(["run", "deep.json"], "deep.json:1:257: objects and arrays nested deeper than 256 levels");
  const ok = "[".repeat(256) + "]".repeat(256);
  assert.is(parseJsonLocated(ok, "x.json").value instanceof Array, true, "256 levels are fine");
  writeFileSync(at("sweep.json"), `{ "scenarios": ${"[".repeat(300)}"s.json"${"]".repeat(300)} }`);
  refused(["sweep", "sweep.json", "-o", "out"], "sweep.json:1:271: objects and arrays nested deeper than 256 levels");
});

test("a UTF-8 byte-order mark is accepted in a trace and a scenario", () => {
  writeFileSync(at("bom.trace"), "\ufeff" + TRACE);
  writeFileSync(at("bom.json"), "\ufeff" + readFileSync(at("s.json"), "utf8"));
  const plain = cli(["run", "s.json", "--functional", "--results", "-"], { cwd: dir });
  const r = cli(["run", "bom.json", "--functional", "--trace", "bom.trace", "--results", "-"], { cwd: dir });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, plain.stdout);
});

test("--version prints package.json's version; --workers above the limit says the limit", () => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  const v = cli(["--version"]);
  assert.is(v.status, 0);
  assert.is(v.stdout, `${pkg.version}\n`);
  refused(["sweep", "sweep.json", "--workers", "10000", "-o", "out"], "--workers: at most 256 worker threads, got 10000");
  assert.is(parseWorkers("256"), 256);
  assert.throws(() => parseWorkers("257"), /at most 256 worker threads, got 257/);
  assert.throws(() => parseWorkers("0"), /--workers: expected a positive integer, got "0"/);
});

/** Every message of `f`'s InputError: no raw control character, bounded length. */
function clean(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    assert.not.match(e.message, CONTROL, JSON.stringify(e.message));
    assert.ok(e.message.length <= MAX_MESSAGE + 40, `${e.message.length} characters`);
  }
}

const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1"));
const text = fc.oneof(bytes, fc.string({ maxLength: 200 }), fc.string({ unit: "binary", maxLength: 200 }));

test("property: no message of the text parser, the JSON loader or option parsing carries a raw control character", () => {
  fc.assert(
    fc.property(text, (s) => {
      clean(() => parseTraceText(s, "t.trace"));
      clean(() => parseTraceText(`MRd 00:02.0 addr=${s}`, "t.trace"));
      clean(() => parseTraceText(`inv ${s}`, "t.trace"));
      clean(() => parseJsonLocated(s, "s.json"));
      clean(() => parseScenario(`{ "arch": "vtd", ${JSON.stringify(s)}: 1 }`, "s.json"));
      clean(() => parseScenario(`{ "arch": "vtd", "registers": { "CAP": ${JSON.stringify(s)} } }`, "s.json"));
      clean(() => parseWorkers(s));
      clean(() => parseShard(s));
      clean(() => parseMap(s));
      clean(() => checkRunOptions("s.json", { preset: s }));
      clean(() => convertCommand(at("t.trace"), at("o.trace"), { from: s }));
      clean(() => convertCommand(at("t.trace"), at("o.trace"), { to: s }));
      clean(() => convertCommand(at("t.trace"), s));
      clean(() => planGeneration("stream", { tlps: s }, at("g.json")));
      clean(() => planGeneration(s, {}, at("g.json")));
    }),
    { numRuns: 300 },
  );
});

test("property: random bytes as a trace file or a scenario file give InputErrors without control characters", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (b) => {
      writeFileSync(at("rand.trace"), b);
      clean(() => convertCommand(at("rand.trace"), at("rand.itb")));
      clean(() => parseScenario(Buffer.from(b).toString("utf8"), "s.json"));
    }),
    { numRuns: 150 },
  );
});

test.run();
