/**
 * Inputs from anywhere (src/io/input.ts), through the real CLI: `-` is standard input, streamed
 * (pipes and redirected files; a terminal is refused), for `run --trace -` and `convert - OUT`;
 * gzip (multi-member) and zstd (multi-frame) are recognised by their first bytes whatever the name
 * and decompressed transparently by run, convert and the importers; truncated or corrupt data,
 * and compressed formats that are not read, are clear exit-2 messages.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { TRACE, bin, cli, emu, removeDir, sh, tempDir, writeScenario } from "./helpers.ts";

const dir = tempDir("inputs");
test.after(() => removeDir(dir));
const at = (n: string) => join(dir, n);
writeScenario(dir);
writeFileSync(at("t.trace"), TRACE);
const hasZstd = spawnSync("zstd", ["--version"]).status === 0;

/** `run --functional --results -` of the scenario with `trace`: the results (stdout). */
const results = (args: string[], input?: Buffer) => {
  const r = cli(["run", "s.json", "--functional", "--results", "-", ...args], input ? { cwd: dir, input } : { cwd: dir });
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
};

test("run --trace -: a pipe, a redirected file and a socket all give the same results as the file", () => {
  const want = results(["--trace", "t.trace"]);
  assert.is(want.trim().split("\n").length, 3);
  for (const cmd of [`cat t.trace | ${emu} run s.json --functional --trace - --results -`, `${emu} run s.json --functional --trace - --results - < t.trace`]) {
    const r = sh(cmd, dir);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, want, cmd);
    assert.match(r.stderr, /^iommu-emu run: s\.json with standard input \(release core\)/);
  }
  assert.is(results(["--trace", "-"], Buffer.from(TRACE)), want, "spawn's stdin (a socket pair)");
  // /dev/stdin names the same stream: a socket behind /proc/self/fd/0 cannot be opened again (ENXIO)
  assert.is(results(["--trace", "/dev/stdin"], Buffer.from(TRACE)), want, "/dev/stdin, a socket pair");
  const piped = sh(`cat t.trace | ${emu} run s.json --functional --trace /dev/stdin --results -`, dir);
  assert.is(piped.stdout, want, "/dev/stdin, a pipe");
});

test("convert - OUT: text or binary by the first bytes; errors name standard input", () => {
  let r = sh(`cat t.trace | ${emu} convert - a.itb`, dir);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, "converted standard input (text) to a.itb (binary): 3 TLPs, 0 driver events\n");
  r = sh(`cat a.itb | ${emu} convert - -`, dir);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, TRACE);
  assert.is(r.stderr, "converted standard input (binary) to standard output (text): 3 TLPs, 0 driver events\n");
  r = sh(`printf 'MRd 00:02.0 addr=0x1000\\nMRd 00:02.0 adr=0x1\\n' | ${emu} convert - x.trace`, dir);
  assert.is(r.status, 2);
  assert.match(r.stderr, /^iommu-emu: standard input:2:13: unknown token "adr=0x1"/);
  assert.not.ok(existsSync(at("x.trace")));
});

test("standard input that is a terminal is refused (a pseudo-terminal from util-linux script)", () => {
  if (!existsSync("/usr/bin/script")) {
    console.log("  (skipped: no /usr/bin/script for a pseudo-terminal)");
    return;
  }
  const cmd = `'${process.execPath}' '${bin}' convert - out.trace`;
  const r = spawnSync("/usr/bin/script", ["-qec", cmd, "/dev/null"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
  assert.match(r.stdout, /iommu-emu: standard input: is a terminal; pipe the input into it \(e\.g\. zcat t\.trace\.gz \| iommu-emu \.\.\. -\) or give a file name/);
  assert.not.ok(existsSync(at("out.trace")));
});

test("gzip (two members) and zstd (two frames), named anything: run and convert read them as the plain trace", () => {
  const want = results(["--trace", "t.trace"]);
  const half = TRACE.indexOf("MWr");
  // two gzip members, as `cat a.gz b.gz` or pigz make
  writeFileSync(at("two.gz"), Buffer.concat([gzipSync(TRACE.slice(0, half)), gzipSync(TRACE.slice(half))]));
  writeFileSync(at("gz.trace"), readFileSync(at("two.gz")));
  assert.is(results(["--trace", "two.gz"]), want);
  assert.is(results(["--trace", "gz.trace"]), want, "by the bytes, not the name");
  assert.is(results(["--trace", "-"], readFileSync(at("two.gz"))), want, "through standard input");
  const c = cli(["convert", "two.gz", "-"], { cwd: dir });
  assert.is(c.status, 0, c.stderr);
  assert.is(c.stdout, TRACE);
  // a binary trace, compressed
  assert.is(cli(["convert", "t.trace", "b.itb"], { cwd: dir }).status, 0);
  writeFileSync(at("b.itb.gz"), gzipSync(readFileSync(at("b.itb"))));
  assert.is(results(["--trace", "b.itb.gz"]).replace(/"line":\d+,/g, ""), want.replace(/"line":\d+,/g, ""), "binary lines are record numbers");
  if (!hasZstd) {
    console.log("  (zstd part skipped: no zstd command to make the data)");
    return;
  }
  const z = sh(`head -c ${half} t.trace | zstd -q -c > two.zst && tail -c +${half + 1} t.trace | zstd -q -c >> two.zst && zstd -q -c b.itb > b.zst`, dir);
  assert.is(z.status, 0, z.stderr);
  assert.is(results(["--trace", "two.zst"]), want);
  const cz = cli(["convert", "b.zst", "-"], { cwd: dir });
  assert.is(cz.stdout, TRACE);
});

test("importers read compressed input too (convert --from)", () => {
  // the CSV importer (an analyzer export): the same TLPs from the plain and the gzipped file
  const csvFile = at("in.csv");
  writeFileSync(csvFile, "Type,Requester,Address,Length\nMRd,00:02.0,0x1040,4\nMWr,00:02.0,0x1080,8\n");
  const map = ["--from", "csv", "--map", "op=Type,bdf=Requester,addr=Address,len=Length"];
  const plain = cli(["convert", "in.csv", "-", ...map], { cwd: dir });
  assert.is(plain.status, 0, plain.stderr);
  assert.is(plain.stdout, "MRd 00:02.0 addr=0x1040\nMWr 00:02.0 addr=0x1080 len=8\n");
  writeFileSync(at("in.csv.gz"), gzipSync(readFileSync(csvFile)));
  const packed = cli(["convert", "in.csv.gz", "-", ...map], { cwd: dir });
  assert.is(packed.status, 0, packed.stderr);
  assert.is(packed.stdout, plain.stdout);
});

test("truncated and corrupt compressed data, and formats not read here: one clear line each, exit 2", () => {
  const gz = gzipSync(TRACE.repeat(50));
  writeFileSync(at("cut.gz"), gz.subarray(0, gz.length - 20));
  let r = cli(["run", "s.json", "--trace", "cut.gz"], { cwd: dir });
  assert.is(r.stderr, "iommu-emu: cut.gz: the gzip data ends early (truncated)\n");
  assert.is(r.status, 2);
  const bad = Buffer.from(gz);
  bad.fill(0xff, 12, 40);
  writeFileSync(at("bad.gz"), bad);
  r = cli(["convert", "bad.gz", "x.trace"], { cwd: dir });
  assert.is(r.status, 2);
  assert.match(r.stderr, /^iommu-emu: bad\.gz: the gzip data is corrupt \([^\n]*\)\n$/);
  const formats: [string, number[], string][] = [
    ["t.xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], "xz-compressed data is not read here (gzip and zstd are); decompress it first (xz -d) or recompress it with gzip or zstd"],
    ["t.bz2", [0x42, 0x5a, 0x68, 0x39], "bzip2-compressed data is not read here (gzip and zstd are); decompress it first (bunzip2) or recompress it with gzip or zstd"],
    ["t.zip", [0x50, 0x4b, 0x03, 0x04], "zip-compressed data is not read here (gzip and zstd are); decompress it first (unzip) or recompress it with gzip or zstd"],
  ];
  for (const [name, magic, message] of formats) {
    writeFileSync(at(name), Buffer.from([...magic, 1, 2, 3, 4, 5, 6, 7, 8]));
    r = cli(["run", "s.json", "--trace", name], { cwd: dir });
    assert.is(r.stderr, `iommu-emu: ${name}: ${message}\n`);
    assert.is(r.status, 2);
  }
});

test.run();
