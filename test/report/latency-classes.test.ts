/**
 * The timing model's latency classes in each architecture's words (ArchReport.latencyClasses,
 * README "Timing model"): the printed Timing section and the HTML report's latency table and chart
 * name them as the architecture does, and the --report JSON keeps the same class keys for both.
 *
 * The workload: `gen random-window --window 8K --page 4K --tlps 20` (two 4K pages, one domain,
 * 4-level tables), timed. The first TLP to one page walks in full (no cache holds anything); the
 * first TLP to the other page finds the level-2 table descriptor (VT-d: the PDE) in the walk cache
 * filled by that walk, so it reads only the leaf; every other TLP hits the TLB: 1 full walk, 1
 * walk-cache hit at level 2 (PDE), 18 TLB hits, on either architecture.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { runCommand } from "../../src/cli/run.ts";
import { gen } from "../gen/helpers.ts";
import { latencyClassNames } from "../../src/core/abi.ts";

function timedRun(arch: "vtd" | "smmuv3") {
  const g = gen("random-window", { arch, window: "8K", page: "4K", tlps: 20, seed: 7 });
  const report = g.file + ".report.json", html = g.file + ".html";
  const text = runCommand(g.file, { report, html, quiet: true });
  const json = JSON.parse(readFileSync(report, "utf8")) as { timing: { classes: Record<string, { count: number }> } };
  // the latency table of the Timing section: "    LABEL   count mean p50 p90 p99 max"
  const start = text.split("\n").findIndex((l) => l.includes("latency (cycles)"));
  const rows = text.split("\n").slice(start + 2).filter((l) => /^ {4}\S/.test(l)).map((l) => {
    const m = /^ {4}(.+?) {2,}(\d+) /.exec(l)!;
    return [m[1]!, Number(m[2])] as [string, number];
  });
  return { json, rows, html: readFileSync(html, "utf8") };
}

test("SMMUv3: TLB hit, walk-cache hit L2, full walk; the same JSON class keys as VT-d", () => {
  const { json, rows, html } = timedRun("smmuv3");
  assert.equal(rows, [["TLB hit", 18], ["walk-cache hit L2", 1], ["full walk", 1]]);
  assert.equal(Object.keys(json.timing.classes), [...latencyClassNames]);
  assert.equal(Object.fromEntries(Object.entries(json.timing.classes).map(([k, v]) => [k, v.count])), {
    iotlbHit: 18, pdeHit: 1, pdpeHit: 0, pml4eHit: 0, pml5eHit: 0, fullWalk: 1, fault: 0, other: 0,
  });
  // HTML: the latency table's rows and the chart's series carry the SMMU labels, not VT-d's
  for (const label of ["TLB hit", "walk-cache hit L2", "full walk"]) {
    assert.ok(html.includes(`<td>${label}</td>`), `latency table row ${label}`);
    assert.ok(html.includes(`"label":"${label}"`), `chart series ${label}`);
  }
  assert.not.ok(html.includes("PDE-cache hit"));
  assert.not.ok(html.includes("IOTLB hit"));
});

test("VT-d: IOTLB hit, PDE-cache hit, full walk (unchanged)", () => {
  const { json, rows, html } = timedRun("vtd");
  assert.equal(rows, [["IOTLB hit", 18], ["PDE-cache hit", 1], ["full walk", 1]]);
  assert.equal(Object.keys(json.timing.classes), [...latencyClassNames]);
  assert.is(json.timing.classes.pdeHit!.count, 1);
  for (const label of ["IOTLB hit", "PDE-cache hit", "full walk"]) {
    assert.ok(html.includes(`<td>${label}</td>`), `latency table row ${label}`);
    assert.ok(html.includes(`"label":"${label}"`), `chart series ${label}`);
  }
  assert.not.ok(html.includes("walk-cache hit L2"));
});

test("SMMUv3: events and aborts/bypasses are their own classes (test/fixtures/smmu-report)", () => {
  // The fixture's ten TLPs (test/report/smmu.test.ts): stage-1 0x100040 and stage-2 read walk in
  // full; the SSID 5 TLP reuses the stage-1 L2 descriptor; four end in events; the bypassed and
  // the two aborted ones are the rest.
  const text = runCommand("test/fixtures/smmu-report/scenario.json", { quiet: true });
  const lines = text.split("\n");
  const at = lines.findIndex((l) => l.includes("latency (cycles)"));
  assert.equal(
    lines.slice(at + 2, at + 6).map((l) => /^ {4}(.+?) {2,}(\d+) /.exec(l)!.slice(1, 3).join(" = ")),
    ["walk-cache hit L2 = 1", "full walk = 2", "event = 4", "bypass, abort, other = 3"],
  );
});

test.run();
