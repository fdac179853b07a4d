/**
 * The set-up through the command line: `--limit NAME=N` for run (over the scenario's
 * config.limits; bad values exit 2) and passed through by sweep to every point; what used to end
 * in a stack trace with exit 1 is a located exit-2 error; Ctrl-C during a long set-up (a large
 * mapping) stops it with exit 130 and nothing written, after a progress bar on a terminal.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../../src/errors.ts";
import { runSweep } from "../../src/sweep/sweep.ts";
import { makeFixture } from "../sweep/fixture.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-setup-cli-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8" });

function scenarioFile(name: string, s: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(s));
  return f;
}

/** 64 MiB mapped with 4 KiB pages: 32 PTs, a PD and a PDPT (34 table pages); the scenario allows 33. */
const m64 = () =>
  scenarioFile("m64.json", {
    arch: "vtd",
    build: { domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x0", pa: "0x0", size: "0x4000000" }] }], devices: [{ bdf: "00:02.0", domain: 1 }] },
    trace: ["MRd 00:02.0 addr=0x3fff000"],
    config: { limits: { tablePages: 33 } },
  });

test("run --limit: over the scenario's config.limits; bad values exit 2 naming the option", () => {
  const f = m64();
  const refused = cli("run", f, "--functional");
  assert.is(refused.status, 2);
  assert.is(
    refused.stderr,
    `iommu-emu: ${f}:1:67: build.domains[0].mappings[0]: mapping 64 MiB with 4 KiB pages writes about 16384 leaf entries in 34 table pages (136 KiB of tables), over the budget of 33 table pages; raise it with config.limits.tablePages or --limit tablePages=N\n`,
  );
  const ok = cli("run", f, "--functional", "--limit", "tablePages=34", "--limit", "devices=1");
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /translated\s+1\s+\(100\.0%\)/);
  const zero = cli("run", f, "--limit", "tablePages=0");
  assert.equal([zero.status, zero.stderr], [2, "iommu-emu: --limit tablePages: expected a positive integer up to 9007199254740991, got 0\n"]);
  const unknown = cli("run", f, "--limit", "pages=5");
  assert.equal([unknown.status, unknown.stderr], [2, 'iommu-emu: --limit: unknown budget "pages"; expected one of tablePages, cacheEntries, devices, pasids, traceLines\n']);
});

test("what was a stack trace with exit 1 is a located exit-2 error", () => {
  const f = scenarioFile("tb.json", { arch: "vtd", build: { tableBase: "0x10000800", domains: [{ id: 1, type: "ss" }] } });
  const r = cli("run", f);
  assert.equal([r.status, r.stderr], [2, `iommu-emu: ${f}:1:36: build.tableBase: 0x10000800 is not 4 KiB aligned (tables are 4 KiB pages)\n`]);
  const m = scenarioFile("root.json", { arch: "vtd", memory: [{ addr: "0x10001000", u64: ["0x1"] }], build: { domains: [{ id: 1, type: "ss" }] } });
  const rm = cli("run", m);
  assert.is(rm.status, 2);
  assert.is(
    rm.stderr,
    `iommu-emu: ${m}:1:25: memory[0]: page 0x10001000 is written here, and build needs it for the root table (the driver side allocates from build.tableBase 0x10000000 upwards); move build.tableBase or this memory\n`,
  );
});

test("sweep passes --limit to every point", async () => {
  // the fixture maps 6 MiB at 0 with 4 KiB pages: 3 PTs, a PD and a PDPT
  const f = makeFixture({ traces: undefined, parameters: { "config.iotlb.entries": [16] } });
  let err: unknown;
  try {
    await runSweep(f.sweepFile, { out: join(f.dir, "refused"), workers: 1, limits: { tablePages: 4 } });
  } catch (e) {
    err = e;
  }
  assert.instance(err, InputError);
  assert.match((err as Error).message, /point 0 p0000 \(.*\): build\.domains\[0\]\.mappings\[0\]: mapping 6 MiB with 4 KiB pages writes about 1536 leaf entries in 5 table pages \(20 KiB of tables\), over the budget of 4 table pages; raise it with config\.limits\.tablePages or --limit tablePages=N$/);
  const run = await runSweep(f.sweepFile, { out: join(f.dir, "ok"), workers: 1, limits: { tablePages: 5 } });
  assert.is(run.results.points.length, 1);
  const bad = cli("sweep", f.sweepFile, "-o", join(f.dir, "x"), "--limit", "tablePages=-1");
  assert.equal([bad.status, bad.stderr], [2, 'iommu-emu: --limit: expected NAME=N with N a positive integer, got "tablePages=-1"\n']);
  rmSync(f.dir, { recursive: true, force: true });
});

test("Ctrl-C during a long set-up: a progress bar on the terminal, then exit 130 with nothing replayed or written", async () => {
  if (!existsSync("/usr/bin/script")) {
    console.log("  (skipped: no /usr/bin/script for a pseudo-terminal)");
    return;
  }
  // 256 GiB with 4 KiB pages: about 2^17 table pages, a minute of set-up; stopped after about a second
  const f = scenarioFile("big.json", {
    arch: "vtd",
    build: { domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x0", pa: "0x0", size: "0x4000000000" }] }] },
    trace: ["MRd 00:02.0 addr=0x0"],
  });
  const results = join(dir, "big.jsonl");
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, bin, "run", f, "--limit", "tablePages=200000", "--results", results].map(quote).join(" ");
  // script gives the run a terminal; Ctrl-C typed on it (0x03) is SIGINT to the run
  const child = spawn("/usr/bin/script", ["-qec", cmd, "/dev/null"], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let typed = false;
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    if (!typed && /setting up .*\d+% \| build\.domains\[0\]\.mappings\[0\]/.test(out)) {
      typed = true;
      child.stdin.write("\x03");
    }
  });
  const started = Date.now();
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  assert.ok(typed, `no set-up progress bar: ${JSON.stringify(out)}`);
  assert.is(code, 130, out);
  assert.match(out, new RegExp(`iommu-emu: interrupted while setting up ${f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: nothing was replayed or written`));
  assert.not.match(out, /TLPs\s+\d/, "no summary");
  assert.ok(Date.now() - started < 45_000, "stopped long before the set-up would have ended");
  assert.equal(readdirSync(dir).filter((n) => n.includes("big.jsonl")), [], "no results file, not even a temporary one");
});

test.run();
