/**
 * Ctrl-C during `iommu-emu run` (SIGINT to a child process): the replay stops after the current
 * batch; the summary, the --report JSON (`"partial": true`) and the --results file cover exactly
 * the TLPs replayed; the exit code is 130; no temporary file is left. Without a terminal there is
 * no progress bar on stderr; on one (a pseudo-terminal from util-linux `script`) there is.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BinaryTraceWriter, RECORD_WORDS } from "../../src/trace/binary.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-sigint-"));

const TLPS = 1536 * 1024;

// the trace is 48 MiB: do not leave it behind
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("SIGINT stops the replay after a batch, with a partial summary, report and results; exit 130", async () => {
  // 16 MiB mapped with 4 KiB pages; random 64-byte reads over it (mostly IOTLB misses: slow enough).
  writeFileSync(
    join(dir, "s.json"),
    JSON.stringify({
      arch: "vtd",
      build: { domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x0", pa: "0x100000000", size: "0x1000000" }] }], devices: [{ bdf: "00:02.0", domain: 1, paside: false }] },
    }),
  );
  const trace = join(dir, "t.itb");
  const w = new BinaryTraceWriter(trace);
  const block = new Uint32Array(4096 * RECORD_WORDS);
  let x = 1;
  for (let at = 0; at < TLPS; at += 4096) {
    for (let i = 0; i < 4096; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      block.set([(x & 0xfffc0) | ((x >>> 20) << 12), 0, 0, 0, 0x10, 0, 64, 0], i * RECORD_WORDS);
    }
    w.writeTlpRecords(block, 4096);
  }
  w.commit();

  const results = join(dir, "r.jsonl");
  const report = join(dir, "rep.json");
  const child = spawn(process.execPath, [bin, "run", join(dir, "s.json"), "--trace", trace, "--results", results, "--report", report, "--functional"], { cwd: root });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));

  // Interrupt once the replay is under way: the results' temporary file has its first 1 MiB.
  const started = Date.now();
  for (;;) {
    const tmp = readdirSync(dir).find((f) => f.startsWith(".r.jsonl."));
    if (tmp && statSync(join(dir, tmp)).size > 0) break;
    if (Date.now() - started > 60_000) throw new Error(`the replay did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill("SIGINT");
  const code = await exited;

  assert.is(code, 130, stderr);
  assert.is(stderr, "", "no progress bar without a terminal, no error");
  const m = /Partial: interrupted after (\d+) TLPs \((\d+\.\d)% of the trace\); the summary and outputs cover only those/.exec(stdout);
  assert.ok(m, stdout);
  const n = Number(m![1]);
  assert.ok(n > 0 && n < TLPS, `${n} TLPs replayed`);
  assert.match(stdout, new RegExp(`TLPs\\s+${n}\\b`));
  const rep = JSON.parse(readFileSync(report, "utf8"));
  assert.is(rep.partial, true);
  assert.is(rep.tlps, n);
  assert.is(rep.requests, n);
  const rows = readFileSync(results, "utf8").trim().split("\n");
  assert.is(rows.length, n, "one result per TLP replayed, all of them written");
  assert.is(JSON.parse(rows[n - 1]!).seq, n - 1);
  assert.is(JSON.parse(rows[n - 1]!).line, n, "binary: line is the record number");
  assert.equal(readdirSync(dir).filter((f) => f.endsWith(".tmp")), []);
});

test("on a terminal a long replay draws a progress bar with TLPs/s and the ETA; the summary is the same", () => {
  if (!existsSync("/usr/bin/script")) {
    console.log("  (skipped: no /usr/bin/script for a pseudo-terminal)");
    return;
  }
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, bin, "run", join(dir, "s.json"), "--trace", join(dir, "t.itb"), "--results", join(dir, "tty.jsonl"), "--functional"].map(quote).join(" ");
  // script gives the child a terminal on stdin/stdout/stderr and copies what it writes
  const r = spawnSync("/usr/bin/script", ["-qec", cmd, "/dev/null"], { cwd: root, encoding: "utf8", timeout: 120_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /replaying .*\d+% \| [\d,]+ TLPs \| [\d.]+ [kM] TLPs\/s \| ETA \w+/);
  assert.match(r.stdout, new RegExp(`TLPs\\s+${TLPS}\\b`));
  assert.not.match(r.stdout, /Partial/);
});

test.run();
