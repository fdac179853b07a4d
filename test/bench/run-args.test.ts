/**
 * bench/run.ts refuses bad option combinations before it prepares anything (exit status 2, one
 * line naming the option and what was expected): --paired needs two cases, --rounds goes only with
 * --paired and is a whole number from 1 to 1000. No case runs, so nothing is written.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
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
});

test.run();
