/**
 * `npm run coverage [-- --tests REGEX] [--uncovered FOLDER]`: line coverage of src/ and assembly/
 * from one run of the test suite (README "Coverage"). Not part of CI.
 * - src/: Node's built-in V8 coverage, reported by c8 (text table per file, summary).
 * - assembly/: V8 does not see inside WebAssembly, so instrument.ts builds build/coverage.wasm with a
 *   marker before every statement; IOMMU_EMU_CORE=coverage makes src/core/core.ts load it (for both
 *   builds' names), hook.mjs records the markers, and this script reports the lines with a statement
 *   and how many of them ran, per folder (arch/, uarch/, engine/, timing/, common/) and per file.
 *   `--uncovered arch` lists the lines of a folder that never ran.
 * Tests that fail under the coverage core are reported by the runner; coverage is reported anyway.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildCoverageCore, type CoveragePoint } from "./instrument.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const { values: args } = parseArgs({ options: { tests: { type: "string" }, uncovered: { type: "string" } }, strict: true });
const tests = args.tests ?? "\\.test\\.ts$";

process.stdout.write("coverage: building build/coverage.wasm (every statement of assembly/ marked)\n");
const points = await buildCoverageCore();
// A test runs the CLI as an unprivileged user: the marks and V8's coverage files of that process
// go to folders anyone may write to.
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-cov-hits-"));
const v8dir = mkdtempSync(join(tmpdir(), "iommu-emu-cov-v8-"));
for (const d of [dir, v8dir]) chmodSync(d, 0o1777);
const c8 = join(ROOT, "node_modules", "c8", "bin", "c8.js");
const run = spawnSync(
  process.execPath,
  [c8, "--reporter=text", "--reporter=text-summary", "--include=src/**", "--exclude=src/types/**", "--report-dir=coverage", `--temp-directory=${v8dir}`, "--clean=false", process.execPath, "--import", "tsx", "node_modules/uvu/bin.js", "test", tests],
  {
    cwd: ROOT,
    stdio: "inherit",
    // the hook in every Node process of the run: the test runner, its workers, the CLI processes tests start
    env: { ...process.env, IOMMU_EMU_CORE: "coverage", IOMMU_EMU_COVERAGE_DIR: dir, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import=${new URL("./hook.mjs", import.meta.url).href}`.trim() },
  },
);

const hits = new Uint8Array(points.length);
for (const f of readdirSync(dir)) {
  const b = readFileSync(join(dir, f));
  for (let i = 0; i < hits.length; i++) hits[i]! |= b[i]!;
}
for (const d of [dir, v8dir]) rmSync(d, { recursive: true, force: true });

export interface LineCoverage {
  lines: number;
  covered: number;
}

/** Lines with a statement, and those of them that ran, per file. */
export function lineCoverage(pts: readonly CoveragePoint[], hit: Uint8Array): Map<string, { lines: Set<number>; covered: Set<number> }> {
  const files = new Map<string, { lines: Set<number>; covered: Set<number> }>();
  pts.forEach((p, i) => {
    let f = files.get(p.file);
    if (!f) files.set(p.file, (f = { lines: new Set(), covered: new Set() }));
    f.lines.add(p.line);
    if (hit[i]) f.covered.add(p.line);
  });
  return files;
}

const files = lineCoverage(points, hits);
const folderOf = (file: string) => (file.split("/").length > 2 ? file.split("/")[1]! : "(top)");
const pct = (c: LineCoverage) => (c.lines ? (100 * c.covered) / c.lines : 100).toFixed(1).padStart(6);
const folders = new Map<string, LineCoverage>();
const rows: string[] = [];
for (const [file, f] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
  const c = { lines: f.lines.size, covered: f.covered.size };
  const k = folderOf(file);
  const t = folders.get(k) ?? { lines: 0, covered: 0 };
  folders.set(k, { lines: t.lines + c.lines, covered: t.covered + c.covered });
  rows.push(`  ${file.padEnd(48)} ${pct(c)} %  ${String(c.covered).padStart(5)} / ${c.lines}`);
}
const total = [...folders.values()].reduce((a, c) => ({ lines: a.lines + c.lines, covered: a.covered + c.covered }), { lines: 0, covered: 0 });
process.stdout.write(`\nassembly/ line coverage (lines with a statement that ran, through build/coverage.wasm)\n`);
for (const [k, c] of [...folders].sort()) process.stdout.write(`  ${`${k}/`.padEnd(48)} ${pct(c)} %  ${String(c.covered).padStart(5)} / ${c.lines}\n`);
process.stdout.write(`  ${"all".padEnd(48)} ${pct(total)} %  ${String(total.covered).padStart(5)} / ${total.lines}\n\nper file:\n${rows.join("\n")}\n`);
if (args.uncovered) {
  process.stdout.write(`\nlines of assembly/${args.uncovered}/ that never ran:\n`);
  for (const [file, f] of files)
    if (folderOf(file) === args.uncovered) {
      const missed = [...f.lines].filter((l) => !f.covered.has(l)).sort((a, b) => a - b);
      if (missed.length) process.stdout.write(`  ${file}: ${missed.join(", ")}\n`);
    }
}
mkdirSync(join(ROOT, "coverage"), { recursive: true });
writeFileSync(
  join(ROOT, "coverage", "assembly.json"),
  JSON.stringify({ folders: Object.fromEntries(folders), files: Object.fromEntries([...files].map(([k, f]) => [k, { lines: f.lines.size, covered: f.covered.size, uncovered: [...f.lines].filter((l) => !f.covered.has(l)) }])) }, null, 1) + "\n",
);
process.stdout.write(`\nwritten: coverage/assembly.json (assembly/), c8's report above (src/)\n`);
process.exitCode = run.status === 0 ? 0 : 1;
