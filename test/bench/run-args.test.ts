/**
 * bench/run.ts refuses bad option combinations before it prepares anything (exit status 2, one
 * line naming the option and what was expected): --paired needs two cases, --rounds goes only with
 * --paired and is a whole number from 1 to 1000, --against goes only with --paired and needs a
 * case and a readable WebAssembly file with the release core's exports. No case runs, so nothing is
 * written. One paired run with --against (one round of iotlb-hit, written to a directory of its
 * own) shows the other core instantiated in place of the release core and both checked.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bench = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts", ...args], { cwd: root, encoding: "utf8" });

test("--paired with one case is refused: it needs a reference and a case to compare", () => {
  const r = bench("--paired", "--case", "iotlb-hit");
  assert.is(r.status, 2);
  assert.match(r.stderr, /^bench: --paired needs two cases or more \(--case A --case B \.\.\.\): the first is the one the others are compared with/);
});

test("the same case twice counts once, so it is refused as one case", () => {
  const r = bench("--paired", "--case", "iotlb-hit", "--case", "iotlb-hit");
  assert.is(r.status, 2);
  assert.match(r.stderr, /--paired needs two cases or more/);
});

test("--rounds without --paired, and rounds out of range, are refused", () => {
  const a = bench("--rounds", "3", "--case", "iotlb-hit");
  assert.is(a.status, 2);
  assert.match(a.stderr, /^bench: --rounds goes with --paired/);
  for (const bad of ["0", "1.5", "1001", "x"]) {
    const b = bench("--paired", "--rounds", bad, "--case", "iotlb-hit", "--case", "streaming");
    assert.is(b.status, 2, bad);
    assert.ok(b.stderr.startsWith(`bench: --rounds ${bad}: expected an integer from 1 to 1000`), b.stderr);
  }
});

test("--paired with --native is refused (no native baseline in paired mode)", () => {
  const r = bench("--paired", "--native", "--case", "iotlb-hit", "--case", "streaming");
  assert.is(r.status, 2);
  assert.match(r.stderr, /^bench: --paired runs no native baseline; drop --native/);
  // with --against as well (one case is then enough)
  const a = bench("--paired", "--native", "--against", "build/release.wasm", "--case", "iotlb-hit");
  assert.is(a.status, 2);
  assert.match(a.stderr, /^bench: --paired runs no native baseline; drop --native/);
});

test("--against without --paired, without a case, with a missing, non-wasm or non-core file, is refused", () => {
  const a = bench("--against", "build/release.wasm", "--case", "iotlb-hit");
  assert.is(a.status, 2);
  assert.match(a.stderr, /^bench: --against goes with --paired/);
  const b = bench("--paired", "--against", "build/release.wasm");
  assert.is(b.status, 2);
  assert.match(b.stderr, /^bench: --against needs --case: which cases to run on both cores/);
  const dir = mkdtempSync(join(tmpdir(), "iommu-emu-against-"));
  try {
    const missing = join(dir, "missing.wasm");
    const c = bench("--paired", "--against", missing, "--case", "iotlb-hit");
    assert.is(c.status, 2);
    assert.ok(c.stderr.startsWith(`bench: --against ${missing}: cannot read it (ENOENT)`), c.stderr);
    const text = join(dir, "core.wasm");
    writeFileSync(text, "not a core\n");
    const d = bench("--paired", "--against", text, "--case", "iotlb-hit");
    assert.is(d.status, 2);
    assert.ok(d.stderr.startsWith(`bench: --against ${text}: expected a WebAssembly core: `), d.stderr);
    // a module that is not a core (the walk harness): refused by its exports, before anything runs
    const e = bench("--paired", "--against", "build/walk-harness.wasm", "--case", "iotlb-hit");
    assert.is(e.status, 2);
    assert.match(e.stderr, /^bench: --against build\/walk-harness\.wasm: expected a core with build\/release\.wasm's exports; it lacks configure, /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--paired --against runs each case on both cores: the other core instantiated in place of the release one, both checked", () => {
  const dir = mkdtempSync(join(tmpdir(), "iommu-emu-against-"));
  try {
    const r = spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts", "--paired", "--quick", "--rounds", "1", "--against", "build/debug.wasm", "--case", "iotlb-hit"], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, IOMMU_EMU_BENCH_RESULTS: dir },
    });
    assert.is(r.status, 0, r.stderr);
    // the debug core passed the same correctness pass, under its own label
    assert.match(r.stdout, /^iotlb-hit \(against\): iotlb 100\.00% hit/m);
    assert.match(r.stdout, /^against: build\/debug\.wasm, instantiated 1 times in place of build\/release\.wasm$/m);
    const out = JSON.parse(readFileSync(join(dir, "paired.json"), "utf8"));
    assert.is(out.against, "build/debug.wasm");
    assert.is(out.substituted, 1);
    assert.equal(out.cases.map((c: { name: string }) => c.name), ["iotlb-hit", "iotlb-hit (against)"]);
    assert.is(out.cases[0].ratio.to, "iotlb-hit (against)");
    assert.is(out.cases[1].ratio, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
