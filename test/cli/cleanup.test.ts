/**
 * Ctrl-C and errors leave nothing behind, in every command: SIGINT to the real CLI (a child
 * process) while it writes, or while it waits for the reader of a FIFO output, ends it with exit
 * 130 and the folder listing exactly as before (no `.NAME.PID.RANDOM.tmp` file or folder, no
 * half-written output, no sweep folder it created); an error half-way does the same with exit 2.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BinaryTraceWriter, RECORD_WORDS } from "../../src/trace/binary.ts";
import { TRACE, cli, listing, mkfifo, removeDir, start, tempDir, waitFor, writeScenario } from "../io/helpers.ts";

const dir = tempDir("cleanup");
test.after(() => removeDir(dir));
const at = (n: string) => join(dir, n);

const TLPS = 1024 * 1024;
writeScenario(dir);
writeFileSync(at("t.trace"), TRACE);
// A binary trace of 1 Mi random 64-byte reads over the mapped 4 KiB (32 MiB): slow enough to interrupt.
{
  const w = new BinaryTraceWriter(at("big.itb"));
  const block = new Uint32Array(4096 * RECORD_WORDS);
  let x = 1;
  for (let n = 0; n < TLPS; n += 4096) {
    for (let i = 0; i < 4096; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      block.set([0x1000 | (x & 0xfc0), 0, 0, 0, 0x10, 0, 64, 0], i * RECORD_WORDS);
    }
    w.writeTlpRecords(block, 4096);
  }
  w.commit();
}
mkfifo(at("fifo"));

/** A temporary file of ours with data in it, in `folder`. */
const tempWithData = (folder: string, prefix: string) => () =>
  readdirSync(folder).some((f) => f.startsWith(prefix) && f.endsWith(".tmp") && statSync(join(folder, f)).size > 0);
const anyTemp = (prefix: string) => () => readdirSync(dir).some((f) => f.startsWith(prefix) && f.endsWith(".tmp"));

/** Starts the command, waits for `ready`, sends SIGINT; expects exit 130, `stderr`, and the listing as before. */
async function interrupt(args: string[], ready: () => boolean, what: string): Promise<void> {
  const before = listing(dir);
  const p = start(args, dir);
  await waitFor(() => ready() || p.child.exitCode !== null, what);
  assert.is(p.child.exitCode, null, `it ended before it could be interrupted: ${p.err()}`);
  p.child.kill("SIGINT");
  const code = await p.exited;
  assert.is(p.err(), "iommu-emu: interrupted; no output was written\n");
  assert.is(code, 130);
  assert.equal(listing(dir), before, "the folder is as it was");
}

test("convert: Ctrl-C while writing removes the temporary file", async () => {
  await interrupt(["convert", "big.itb", "big.trace"], tempWithData(dir, ".big.trace."), "the conversion to write");
});

test("gen: Ctrl-C while the worker writes removes both temporary files", async () => {
  await interrupt(["gen", "random-window", "--tlps", "50000000", "-o", "g.json"], tempWithData(dir, ".g.trace."), "the trace to be written");
});

test("sweep: Ctrl-C while the points run removes the staging folder and the -o folder it created", async () => {
  writeFileSync(at("sweep.json"), JSON.stringify({ scenarios: ["s.json"], traces: ["big.itb"], parameters: { "config.iotlb.entries": [16, 32, 64, 128] } }));
  await interrupt(["sweep", "sweep.json", "--workers", "1", "--quiet", "-o", "out"], () => {
    try {
      return readdirSync(at("out")).some((f) => f.startsWith(".points."));
    } catch {
      return false;
    }
  }, "the staging folder");
});

test("run and merge: Ctrl-C while an output FIFO waits for its reader removes the other outputs' temporary files", async () => {
  await interrupt(["run", "s.json", "--report", "r.json", "--results", "fifo"], anyTemp(".r.json."), "the report's temporary file");
  // merge: a sweep's results first (one point), then its .json to the FIFO (m/x.json, a link to it)
  mkdirSync(at("m"));
  writeFileSync(at("one.json"), JSON.stringify({ scenarios: ["s.json"] }));
  const s = cli(["sweep", "one.json", "--quiet", "-o", "shard"], { cwd: dir });
  assert.is(s.status, 0, s.stderr);
  symlinkSync(at("fifo"), at("m/x.json"));
  const mTemp = () => readdirSync(at("m")).some((f) => f.startsWith(".x.csv.") && f.endsWith(".tmp"));
  await interrupt(["merge", "shard", "-o", "m/x.json"], mTemp, "merge's temporary files");
});

test("convert and run: an error half-way leaves nothing behind (exit 2)", () => {
  // a bad line after 1 MiB of good ones: the output has been started when it is found
  const good = "MRd 00:02.0 addr=0x1040\n".repeat(50_000);
  writeFileSync(at("late.trace"), good + "MRd 00:02.0 addr=0xZZ\n");
  const before = listing(dir);
  const c = cli(["convert", "late.trace", "late.itb"], { cwd: dir });
  assert.is(c.stderr, `iommu-emu: late.trace:50001:13: expected addr=ADDR with ADDR in hex (0x optional), got "addr=0xZZ"\n`);
  assert.is(c.status, 2);
  const r = cli(["run", "s.json", "--trace", "late.trace", "--results", "late.jsonl", "--report", "late.json", "--html", "late.html"], { cwd: dir });
  assert.is(r.status, 2);
  assert.match(r.stderr, /late\.trace:50001:13: expected addr=ADDR/);
  assert.equal(listing(dir), before);
});

test.run();
