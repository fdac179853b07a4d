/**
 * Outputs never destroy anything (src/io/output.ts), through the real CLI: a regular file is
 * replaced through a temporary file and keeps its mode; a symbolic link's target is written and
 * the link stays a link; a FIFO and a character device (/dev/null) are written through and stay
 * what they were; `-` is standard output (the summary then goes to standard error); a binary trace
 * written to a pipe has no counts in its header and reads back.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, lstatSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { TRACE, cli, emu, listing, mkfifo, removeDir, sh, tempDir, writeScenario } from "./helpers.ts";

const dir = tempDir("output");
test.after(() => removeDir(dir));
const at = (n: string) => join(dir, n);
writeScenario(dir);
writeFileSync(at("t.trace"), TRACE);

/** What a reader of the FIFO `path` (cat, started now) gets until its writer closes it. */
function readFifo(path: string): Promise<string> {
  const reader = spawn("cat", [path]);
  let got = "";
  reader.stdout.on("data", (d) => (got += d));
  return new Promise((resolve) => reader.on("close", () => resolve(got)));
}

/** The three result lines of TRACE, as `run --results` writes them (functional). */
const expectedResults = () => {
  const r = cli(["run", "s.json", "--functional", "--results", "ref.jsonl"], { cwd: dir });
  assert.is(r.status, 0, r.stderr);
  return readFileSync(at("ref.jsonl"), "utf8");
};

test("a regular file is replaced whole, keeps its permission bits, and no temporary file is left", () => {
  const want = expectedResults();
  assert.is(want.split("\n").length, 4, "three lines and the final newline");
  writeFileSync(at("r.jsonl"), "old contents\n");
  chmodSync(at("r.jsonl"), 0o600);
  const r = cli(["run", "s.json", "--functional", "--results", "r.jsonl"], { cwd: dir });
  assert.is(r.status, 0, r.stderr);
  assert.is(readFileSync(at("r.jsonl"), "utf8"), want);
  assert.is(statSync(at("r.jsonl")).mode & 0o777, 0o600);
  assert.equal(listing(dir).filter((f) => f.includes(".tmp")), []);
});

test("a symbolic link to a regular file: the target is written, the link stays a link", () => {
  const want = readFileSync(at("ref.jsonl"), "utf8");
  writeFileSync(at("target.jsonl"), "old\n");
  symlinkSync("target.jsonl", at("link.jsonl"));
  const r = cli(["run", "s.json", "--functional", "--results", "link.jsonl"], { cwd: dir });
  assert.is(r.status, 0, r.stderr);
  assert.ok(lstatSync(at("link.jsonl")).isSymbolicLink());
  assert.is(readlinkSync(at("link.jsonl")), "target.jsonl");
  assert.is(readFileSync(at("target.jsonl"), "utf8"), want);
  // a dangling link: its target is created, the link kept
  symlinkSync("new-target.json", at("dangling.json"));
  const d = cli(["run", "s.json", "--functional", "--report", "dangling.json"], { cwd: dir });
  assert.is(d.status, 0, d.stderr);
  assert.ok(lstatSync(at("dangling.json")).isSymbolicLink());
  assert.is(JSON.parse(readFileSync(at("new-target.json"), "utf8")).tlps, 3);
});

test("/dev/stdout when standard output is a pipe: written through (a magic link no path names), the link untouched", () => {
  // spawnSync gives the child a pipe: /dev/stdout -> /proc/self/fd/1 -> "pipe:[N]"
  const r = cli(["run", "s.json", "--functional", "--report", "/dev/stdout"], { cwd: dir });
  assert.is(r.status, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).tlps, 3, "the report alone on standard output; the summary went to standard error");
  assert.match(r.stderr, /TLPs +3/);
  assert.ok(lstatSync("/dev/stdout").isSymbolicLink());
  const two = cli(["run", "s.json", "--functional", "--report", "/dev/stdout", "--results", "-"], { cwd: dir });
  assert.is(two.status, 2);
  assert.is(two.stderr, "iommu-emu: --results and --report name standard output (- or /dev/stdout); at most one output may be standard output\n");
  const e = cli(["run", "s.json", "--functional", "--results", "/dev/stderr"], { cwd: dir });
  assert.is(e.status, 0, e.stderr);
  assert.is(e.stderr.split("\n").filter((l) => l.startsWith('{"seq":')).length, 3);
  // /dev/null as both standard output and --report: a device like any other, the summary stays on standard output
  const quiet = sh(`${emu} run s.json --functional --report /dev/null > /dev/null`, dir);
  assert.equal([quiet.status, quiet.stderr], [0, ""]);
});

test("a FIFO is written through: its reader gets the results, and it stays a FIFO", async () => {
  const want = readFileSync(at("ref.jsonl"), "utf8");
  mkfifo(at("pipe.jsonl"));
  const got = readFifo(at("pipe.jsonl"));
  const r = cli(["run", "s.json", "--functional", "--results", "pipe.jsonl"], { cwd: dir });
  assert.is(r.status, 0, r.stderr);
  assert.is(await got, want);
  assert.ok(lstatSync(at("pipe.jsonl")).isFIFO());
  // a link to the FIFO: written through the link
  symlinkSync("pipe.jsonl", at("pipe-link"));
  const got2 = readFifo(at("pipe.jsonl"));
  const r2 = cli(["convert", "t.trace", "pipe-link", "--to", "text"], { cwd: dir });
  assert.is(r2.status, 0, r2.stderr);
  assert.is(await got2, TRACE);
  assert.ok(lstatSync(at("pipe-link")).isSymbolicLink());
  assert.ok(lstatSync(at("pipe.jsonl")).isFIFO());
});

test("a character device (/dev/null) is written through and stays a device; nothing is created beside it", () => {
  const before = statSync("/dev/null");
  const r = cli(["run", "s.json", "--functional", "--results", "/dev/null", "--report", "/dev/null", "--html", "/dev/null"], { cwd: dir });
  assert.is(r.status, 0, r.stderr);
  const after = statSync("/dev/null");
  assert.ok(after.isCharacterDevice());
  assert.equal([after.ino, after.rdev], [before.ino, before.rdev]);
  const c = cli(["convert", "t.trace", "/dev/null", "--to", "binary"], { cwd: dir });
  assert.is(c.status, 0, c.stderr);
  assert.is(c.stdout, "converted t.trace (text) to /dev/null (binary): 3 TLPs, 0 driver events\n");
});

test("- is standard output: run's results there, its summary on standard error; one output at most", () => {
  const want = readFileSync(at("ref.jsonl"), "utf8");
  const r = cli(["run", "s.json", "--functional", "--results", "-"], { cwd: dir });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, want);
  assert.match(r.stderr, /^iommu-emu run: s\.json with t\.trace \(release core\)\n  TLPs +3\n/);
  const rep = cli(["run", "s.json", "--functional", "--report", "-"], { cwd: dir });
  assert.is(JSON.parse(rep.stdout).tlps, 3);
  const two = cli(["run", "s.json", "--results", "-", "--html", "-"], { cwd: dir });
  assert.is(two.status, 2);
  assert.is(two.stderr, "iommu-emu: --results and --html name standard output (- or /dev/stdout); at most one output may be standard output\n");
});

test("convert to -: text by default, the status line on standard error; binary through a pipe has no counts and reads back", () => {
  const r = cli(["convert", "t.trace", "-"], { cwd: dir });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, TRACE);
  assert.is(r.stderr, "converted t.trace (text) to standard output (text): 3 TLPs, 0 driver events\n");
  // binary to a pipe: the header's flags are 0 (no counts); reading it back gives the same trace
  const p = sh(`${emu} convert t.trace - --to binary | cat > piped.itb`, dir);
  assert.is(p.status, 0, p.stderr);
  const bytes = readFileSync(at("piped.itb"));
  assert.is(bytes.length, 32 + 3 * 32);
  assert.is(bytes.readUInt16LE(14), 0, "no counts flag");
  assert.is(bytes.readBigUInt64LE(16), 0n);
  const back = cli(["convert", "piped.itb", "back.trace"], { cwd: dir });
  assert.is(back.status, 0, back.stderr);
  assert.is(readFileSync(at("back.trace"), "utf8"), TRACE);
  // to a file the counts are there
  const f = cli(["convert", "t.trace", "f.itb"], { cwd: dir });
  assert.is(f.status, 0, f.stderr);
  const fb = readFileSync(at("f.itb"));
  assert.equal([fb.readUInt16LE(14), fb.readBigUInt64LE(16), fb.readBigUInt64LE(24)], [1, 3n, 3n]);
  assert.ok(fb.subarray(32).equals(bytes.subarray(32)), "the same records");
});

test("gen and merge refuse - with the reason; sweep -o - too", () => {
  const g = cli(["gen", "stream", "--tlps", "10", "-o", "-"], { cwd: dir });
  assert.is(g.status, 2);
  assert.is(g.stderr, "iommu-emu: gen stream: -o needs a file name: gen writes two files (the scenario, and its trace beside it), which standard output (-) cannot hold\n");
  const m = cli(["merge", "somewhere", "-o", "-"], { cwd: dir });
  assert.is(m.status, 2);
  assert.is(m.stderr, "iommu-emu: -o: expected a .json file name: merge writes three files (.json, .csv, .html), which standard output (-) cannot hold\n");
  writeFileSync(at("sweep.json"), JSON.stringify({ scenarios: ["s.json"] }));
  const s = cli(["sweep", "sweep.json", "-o", "-"], { cwd: dir });
  assert.is(s.status, 2);
  assert.is(s.stderr, "iommu-emu: -o: expected a folder; - (standard output) cannot hold several files\n");
});

test.run();
