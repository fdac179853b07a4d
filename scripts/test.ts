/**
 * `npm test`: every uvu suite under test/, run by several uvu processes at once (one per core by
 * default), each on a share of the files. uvu runs the files of one process one after another; on
 * the 2-core CI machine one process left a core idle for most of the 11 minutes the suites took.
 *
 *   npm test [-- [PATTERN] [--jobs N] [--record]]
 *
 * PATTERN: a regular expression (case-insensitive, as uvu's) over the file's path below test/;
 * default `\.test\.ts$`. --jobs N: processes at once (default: os.availableParallelism()).
 * --record: after a run of every file that passed, writes each file's measured seconds to
 * test/durations.json, which orders the next runs.
 *
 * Scheduling (scripts/test-plan.ts planQueue): the files are taken longest first by
 * test/durations.json (a file it does not know counts as long, so that it starts early), and light
 * files share a process, so that the second a process takes to start (Node, tsx, the cores) is paid
 * less often. A process that ends takes the next share of the queue.
 *
 * Each process's output is printed whole when it ends (no interleaving), then the run's totals in
 * uvu's own form (Total / Passed / Skipped / Duration), which .ci/run reads. A process that fails
 * without uvu's totals (it crashed, or threw on import) counts as one failed test, and so does one
 * that exits non-zero with every test passed (an error after the tests). The processes get a TMPDIR
 * of the run's own, removed at the end (or on Ctrl-C): what a suite leaves in temporary folders does
 * not pile up in the machine's /tmp.
 */
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { availableParallelism, tmpdir, userInfo } from "node:os";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { exactly, parseDurations, planQueue, uvuTotals } from "./test-plan.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TEST = join(ROOT, "test");
const DURATIONS = join(TEST, "durations.json");
const usage = "usage: npm test [-- [PATTERN] [--jobs N] [--record]]";

function die(message: string): never {
  console.error(`npm test: ${message}\n${usage}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({ options: { jobs: { type: "string" }, record: { type: "boolean", default: false } }, allowPositionals: true, strict: true });
} catch (e) {
  die((e as Error).message);
}
const { values, positionals } = parsed;
if (positionals.length > 1) die(`expected at most one PATTERN, got ${positionals.length}: ${positionals.join(" ")}`);
let pattern: RegExp;
try {
  pattern = new RegExp(positionals[0] ?? "\\.test\\.ts$", "i");
} catch (e) {
  die(`PATTERN ${positionals[0]}: ${(e as Error).message}`);
}
const jobs = values.jobs === undefined ? availableParallelism() : Number(values.jobs);
if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) die(`--jobs ${values.jobs}: expected an integer from 1 to 64`);

/** Test files below test/ (paths with '/', relative to test/), as uvu finds them: node_modules and .git skipped. */
function findFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".git")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findFiles(path, out);
    else {
      const rel = relative(TEST, path).split(sep).join("/");
      if (pattern.test(rel)) out.push(rel);
    }
  }
  return out;
}

const files = findFiles(TEST).sort();
if (files.length === 0) die(`no file below test/ matches ${pattern}`);

let known: Record<string, number> = {};
if (existsSync(DURATIONS)) {
  try {
    known = parseDurations(readFileSync(DURATIONS, "utf8"), relative(ROOT, DURATIONS));
  } catch (e) {
    die(`${(e as Error).message}; or delete it to run in name order`);
  }
}
const items = planQueue(files, known);

// The suites' TMPDIR: like /tmp (suites that run the CLI as an unprivileged user, io/preflight, reach
// and write it), except that tsx's compile cache (tmpdir()/tsx-UID) is the machine's own, so that
// each process does not compile the sources again.
const scratch = mkdtempSync(join(tmpdir(), "iommu-emu-test-"));
chmodSync(scratch, 0o1777);
const uid = process.geteuid?.() ?? userInfo().username;
const tsxCache = join(tmpdir(), `tsx-${uid}`);
mkdirSync(tsxCache, { recursive: true, mode: 0o700 });
symlinkSync(tsxCache, join(scratch, `tsx-${uid}`));
process.on("SIGINT", () => {
  // the processes, in the same process group, have had the Ctrl-C too
  rmSync(scratch, { recursive: true, force: true });
  process.exit(130);
});
const measured: Record<string, number> = {};
const failedItems: string[] = [];
let total = 0, passed = 0, skipped = 0;
const t0 = performance.now();

interface Outcome { output: string; code: number | null; signal: NodeJS.Signals | null; seconds: number }

function runItem(item: { files: string[] }): Promise<Outcome> {
  const args = ["--import", "tsx", join(ROOT, "node_modules", "uvu", "bin.js"), "--no-color", "test", exactly(item.files)];
  const start = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, TMPDIR: scratch }, stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => chunks.push(b));
    child.stderr.on("data", (b: Buffer) => chunks.push(b));
    child.on("close", (code, signal) => resolve({ output: Buffer.concat(chunks).toString("utf8"), code, signal, seconds: (performance.now() - start) / 1000 }));
  });
}

let next = 0;
async function worker(): Promise<void> {
  while (next < items.length) {
    const index = next++;
    const item = items[index]!;
    const r = await runItem(item);
    const names = item.files.join(", ");
    process.stdout.write(`\n── ${names} (${r.seconds.toFixed(1)} s)\n${r.output.trimEnd()}\n`);
    const t = uvuTotals(r.output);
    const clean = r.code === 0 && r.signal === null;
    if (t === null) {
      total += 1;
      failedItems.push(`${names}: exited with ${r.signal ?? `code ${r.code}`} before uvu's totals`);
      continue;
    }
    total += t.total;
    passed += t.passed;
    skipped += t.skipped;
    if (!clean && t.passed === t.total) {
      total += 1;
      failedItems.push(`${names}: every test passed, but the process exited with ${r.signal ?? `code ${r.code}`}`);
    } else if (t.passed !== t.total) failedItems.push(`${names}: ${t.total - t.passed} failed`);
    // one file alone: its own time; files sharing a process (all of them known): the time shared
    // in proportion to what each was expected to take
    const expected = (f: string) => (item.files.length === 1 ? 1 : known[f]!);
    const sum = item.files.reduce((s, f) => s + expected(f), 0);
    for (const f of item.files) measured[f] = Math.round(((r.seconds * expected(f)) / sum) * 100) / 100;
  }
}

try {
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const failed = total - passed;
if (failedItems.length) process.stdout.write(`\nFailed:\n${failedItems.map((s) => `  ${s}`).join("\n")}\n`);
const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : what.endsWith("s") ? "es" : "s"}`;
process.stdout.write(`\n${plural(files.length, "file")}, ${plural(items.length, "process")}, ${Math.min(jobs, items.length)} at once\n`);
process.stdout.write(`\n  Total:     ${total}\n  Passed:    ${passed}\n  Skipped:   ${skipped}\n  Duration:  ${(performance.now() - t0).toFixed(2)}ms\n\n`);

if (values.record) {
  if (failed !== 0 || positionals.length !== 0) console.error(`npm test: --record: not written (${failed !== 0 ? "a test failed" : "only some files ran"})`);
  else {
    const sorted = Object.fromEntries(Object.keys(measured).sort().map((f) => [f, measured[f]!]));
    writeFileSync(DURATIONS, JSON.stringify(sorted, null, 2) + "\n");
    console.error(`npm test: wrote ${relative(ROOT, DURATIONS)} (${Object.keys(sorted).length} files)`);
  }
}
process.exitCode = failed === 0 ? 0 : 1;
