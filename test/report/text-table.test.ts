/**
 * The CLI's one text-table layout (src/report/text-table.ts): exact layout of a small table, numbers
 * right-aligned and text left-aligned, verbatim lines, and the printed run summary with a saturated
 * run's 12-digit values, where no two cells may touch.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { textTable, isNumberCell } from "../../src/report/text-table.ts";
import { formatSummary, type VtdRunSummary as RunSummary } from "../../src/report/summary.ts";
import { runCommand } from "../../src/cli/run.ts";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

test("a small table: widths from the widest cell, two spaces apart, numbers right, text left, no trailing spaces", () => {
  const lines = textTable(
    [
      ["cache", "lookups", "hit rate", "policy"],
      ["iotlb", 12, "50.0%", "lru"],
      ["pwcSsPde", 1234567, "-", "round-robin"],
      "a verbatim line that is longer than any row and takes no part in the widths",
      ["ctx", 0, "100.0%", "fifo"],
    ],
    { header: true, indent: 2 },
  );
  assert.equal(lines, [
    "  cache     lookups  hit rate  policy",
    "  iotlb          12     50.0%  lru",
    "  pwcSsPde  1234567         -  round-robin",
    "a verbatim line that is longer than any row and takes no part in the widths",
    "  ctx             0    100.0%  fifo",
  ]);
});

test("number cells: integers, decimals, percentages, ratios, exponents; text and hex are not", () => {
  for (const c of [0, 12, "1,234", "-3.5", "50.0%", "446954 / 0", "1.23e+21", ">=4096"]) assert.ok(isNumberCell(c), String(c));
  for (const c of ["0x45", "SCT.6", "lru", "12 cycles", "", "-"]) assert.not.ok(isNumberCell(c), String(c));
  // a column of "-" and numbers is numeric; an explicit alignment wins
  assert.equal(textTable([["a", "-"], ["bb", 7]]), ["a   -", "bb  7"]);
  assert.equal(textTable([["a", 1], ["bb", 22]], { align: ["right", "left"] }), [" a  1", "bb  22"]);
  // a wider gap on request, never less than two spaces
  assert.equal(textTable([["x", 1]], { gap: 4 }), ["x    1"]);
  assert.equal(textTable([["x", 1]], { gap: 1 }), ["x  1"]);
});

test("the run summary with a saturated run's numbers: labels, values and notes never touch", () => {
  const dir = mkdtempSync(join(tmpdir(), "iommu-emu-text-table-"));
  const report = join(dir, "r.json");
  runCommand("examples/vtd-sm/scenario.json", { report, quiet: true });
  const s = JSON.parse(readFileSync(report, "utf8")) as RunSummary;
  const big = 500001115842;
  s.tlps = s.translated = s.requests = big;
  s.snoop.snooped = big * 10;
  s.caches[0]!.lookups = s.caches[0]!.hits = big;
  s.invalidation.descriptors = big;
  s.timing!.coalescedHits = 446954;
  s.timing!.totalCycles = big;
  s.timing!.latency = { count: big, mean: big, p50: big, p90: big, p99: big, max: big };
  const text = formatSummary(s);
  const lines = text.split("\n");
  const line = (start: string) => lines.find((l) => l.startsWith(start))!;
  // one label column for every section before Timing, as wide as its widest label ("No-Snoop TLPs translated", 24)
  assert.match(line("  TLPs "), /^ {2}TLPs {20} {2} *500001115842$/);
  assert.match(line("  snooped accesses"), /^ {2}snooped accesses {2,}5000011158420$/);
  assert.is(line("  TLPs ").length, line("  snooped accesses").length, "values right-aligned in one column");
  assert.match(line("  coalesced / re-walked hits"), /hits {2,}446954 \/ 0$/);
  assert.match(line("    all "), /^ {4}all {2,}500001115842 {2,}500001115842\.0 {2,}500001115842 {2,}500001115842 {2,}500001115842 {2,}500001115842$/);
  const cache = line("  iotlb");
  assert.match(cache, /^ {2}iotlb {2,}500001115842 {2,}500001115842 {2,}\d+ {2,}/);
  // nowhere do a letter and a digit of two cells run together
  for (const l of lines) assert.not.match(l, /[a-z]\d{6,}/, l);
});

test.run();
