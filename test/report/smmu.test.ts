/**
 * The reports of an SMMUv3 run (README "Run summary", "HTML report", "Sweeps"): the printed summary
 * line by line, the --report JSON (version 3), the HTML report's SMMU sections, and a sweep over an
 * SMMU scenario. The fixture (test/fixtures/smmu-report/scenario.json) has ten TLPs:
 *   00:02.0 stage 1 (4 levels, 4K): 0x100040 ok; SSID 5 0x1ff000 No-Snoop write ok; SSID 6 C_BAD_CD
 *     (no CD 6); 0x900000 F_TRANSLATION at level 2 (only 0x100000..0x300000 is mapped);
 *   00:03.0 stage 2, read-only: read ok; write F_PERMISSION; 0x50000000 F_TRANSLATION at level 2;
 *   00:04.0 identity (bypass STE): ok, bypassed; 00:05.0 blocking and 00:06.0 (no device): aborted.
 * Descriptor reads per stage: two full walks (4 each) and one stopped at level 2 (3): L0 3, L1 3,
 * L2 3, L3 2. Four events recorded in a 128-record queue: PROD 4, CONS 0.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runCommand } from "../../src/cli/run.ts";
import { runSweep } from "../../src/sweep/sweep.ts";
import type { SmmuRunSummary } from "../../src/report/summary.ts";

const fixture = "test/fixtures/smmu-report/scenario.json";
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-smmu-report-"));
const reportFile = join(dir, "r.json"), htmlFile = join(dir, "r.html");
const text = runCommand(fixture, { functional: true, report: reportFile, html: htmlFile });
const report = JSON.parse(readFileSync(reportFile, "utf8")) as SmmuRunSummary;
const html = readFileSync(htmlFile, "utf8");

test("summary text of an SMMUv3 run: every line", () => {
  const lines = text.split("\n");
  assert.match(lines.pop()!, /^Host: replay \d+\.\d{3} s, \d+\.\d{2} M TLPs\/s \(trace reading and parsing included\)$/);
  assert.equal(lines, [
    `iommu-emu run: ${fixture} with inline trace (release core)`,
    "  TLPs                      10",
    "  translated                4                 (40.0%)",
    "  faulted                   4                 (40.0%), 4 recorded",
    "  aborted (no event)        2",
    "  bypassed                  1                 (translated: passed untranslated)",
    "Events by type",
    "  0x0a  C_BAD_CD       1  CD not valid, or an illegal combination of its fields",
    "  0x10  F_TRANSLATION  2  translation fault: invalid descriptor, or input outside the table's range",
    "  0x13  F_PERMISSION   1  permission fault: AP/S2AP/XN deny the access",
    "Snoop",
    "  snooped accesses          3",
    "  non-snooped accesses      1",
    "  No-Snoop TLPs translated  1",
    "    made coherent (canwbs)  0",
    "    left non-snooped (tlp)  1",
    "Table reads",
    "  config structures         16                (STE, CD, L1 descriptors)",
    "  stage 1                   6                 L0 1  L1 1  L2 2  L3 2",
    "  stage 2                   6                 L0 1  L1 1  L2 2  L3 2",
    "  total                     28                (2.80 per TLP)",
    "Caches                lookups  hits  misses  hit rate  fills  evictions  invalidated",
    "  micro-TLB                 6     1       5     16.7%      3          0            0",
    "  TLB                       9     1       8     11.1%      3          0            0",
    "  config cache (STE)       10     5       5     50.0%      5          0            0",
    "  config cache (CD)         4     1       3     25.0%      2          0            0",
    "  S1 walk cache L2          3     1       2     33.3%      1          0            0",
    "  S1 walk cache L1          2     1       1     50.0%      1          0            0",
    "  S1 walk cache L0          1     0       1      0.0%      1          0            0",
    "  S2 walk cache L2          3     1       2     33.3%      1          0            0",
    "  S2 walk cache L1          2     1       1     50.0%      1          0            0",
    "  S2 walk cache L0          1     0       1      0.0%      1          0            0",
    "  ATC (device TLBs)         0     0       0         -      0          0            0",
    "SMMUv3 PMU events (PMCG names)",
    "  transaction               10",
    "  tlb_miss                  6",
    "  config_cache_miss         7",
    "  trans_table_walk_access   12",
    "  config_struct_access      16",
    "  pcie_ats_trans_rq         0",
    "  pcie_ats_trans_passed     0",
    "Event queue",
    "  events recorded / lost    4 / 0",
    "  state                     4 pending of 128  (PROD 4 (wrap 0) / CONS 0 (wrap 0))",
    "Commands (strict mode)",
    "  commands / CMD_SYNCs      0 / 0",
    "  command queue errors      0",
    "  driver maps / unmaps      0 / 0",
  ]);
  for (const vtdOnly of ["pcm-iio", "PGSNP", "root / context", "queued descriptors", "pwcFs", "contextCache", "pasidCache", "Stale"]) assert.not.ok(text.includes(vtdOnly), vtdOnly);
});

test("--report JSON of an SMMUv3 run: version 3, the SMMU sections", () => {
  const { host, caches, ...rest } = report;
  assert.ok(host.seconds > 0);
  assert.equal(rest, {
    version: 3,
    arch: "smmuv3",
    scenario: fixture,
    core: "release",
    tlps: 10,
    requests: 10,
    translated: 4,
    faulted: 4,
    faultsRecorded: 4,
    blocked: 2,
    atsRequests: 0,
    faults: [
      { code: 0x0a, name: "C_BAD_CD", text: "CD not valid, or an illegal combination of its fields", count: 1 },
      { code: 0x10, name: "F_TRANSLATION", text: "translation fault: invalid descriptor, or input outside the table's range", count: 2 },
      { code: 0x13, name: "F_PERMISSION", text: "permission fault: AP/S2AP/XN deny the access", count: 1 },
    ],
    snoop: { snooped: 3, nonSnooped: 1, noSnoopTlps: 1, noSnoopForced: 0, noSnoopDecidedBy: { canwbs: 0, tlp: 1 } },
    walkReads: { configStructures: 16, stage1: [1, 1, 2, 2], stage2: [1, 1, 2, 2], total: 28 },
    hardwareUpdates: 0,
    pmcg: { transaction: 10, tlb_miss: 6, config_cache_miss: 7, trans_table_walk_access: 12, config_struct_access: 16, pcie_ats_trans_rq: 0, pcie_ats_trans_passed: 0 },
    counters: { bypassed: 1, eventsRecorded: 4, eventsLost: 0, commands: 0, cmdSyncs: 0, cmdqErrors: 0 },
    eventQueue: { enabled: true, log2Size: 7, prod: 4, prodWrap: 0, cons: 0, consWrap: 0, pending: 4, overflow: false },
    driver: { mode: "strict", maps: 0, unmaps: 0, cmds: 0, flushes: 0, flushReasons: { batch: 0, timeout: 0, explicit: 0, end: 0 }, deferredUnmaps: 0 },
    trace: "inline trace",
  });
  assert.equal(
    caches.map((c) => [c.name, c.title]),
    [
      ["microTlb", "micro-TLB"], ["iotlb", "TLB"], ["contextCache", "config cache (STE)"], ["pasidCache", "config cache (CD)"],
      ["pwcFsPde", "S1 walk cache L2"], ["pwcFsPdpe", "S1 walk cache L1"], ["pwcFsPml4e", "S1 walk cache L0"],
      ["pwcSsPde", "S2 walk cache L2"], ["pwcSsPdpe", "S2 walk cache L1"], ["pwcSsPml4e", "S2 walk cache L0"], ["deviceTlb", "ATC (device TLBs)"],
    ],
    "no PML5E-level cache: VMSAv8-64 has no such level here",
  );
  const ste = caches.find((c) => c.name === "contextCache")!;
  assert.equal([ste.lookups, ste.hits, ste.misses, ste.fills], [10, 5, 5, 5]);
  assert.equal(Object.keys(report).slice(0, 3), ["version", "arch", "scenario"]);
  assert.not.ok("interrupts" in report, "no interrupt window on an SMMU");
});

test("HTML report of an SMMUv3 run: SMMU section titles, counts, the No-Snoop audit per leaf descriptor", () => {
  for (const h of ["<h2>Translations and events per device</h2>", "<h2>Translations and events per SSID</h2>", "<h2>Events</h2>", "<h3>By type</h3>", "<h2>Table reads, PMU events, queues</h2>", "<h3>SMMUv3 PMU events (PMCG names)</h3>", "<h3>Event and command queues</h3>", "<h2>No-Snoop audit</h2>"])
    assert.ok(html.includes(h), h);
  assert.ok(html.includes("<dt>aborted (no event)</dt><dd>2</dd>"));
  assert.ok(html.includes("<dt>events recorded / lost</dt><dd>4 / 0</dd>"));
  assert.ok(html.includes("<dt>event queue</dt><dd>4 pending of 128 <small>PROD 4 (wrap 0) / CONS 0 (wrap 0)</small></dd>"));
  assert.ok(html.includes("<dt>config structures</dt><dd>16 <small>STE, CD, L1 descriptors</small></dd>"));
  assert.ok(html.includes("<dt>stage 1</dt><dd>6 <small>L0 1, L1 1, L2 2, L3 2</small></dd>"));
  assert.ok(html.includes('<tr><td>trans_table_walk_access</td><td data-v="12">12</td></tr>'));
  assert.ok(html.includes('<tr><td>config_cache_miss</td><td data-v="7">7</td></tr>'));
  assert.ok(html.includes('<tr data-cache="contextCache"><td>config cache (STE)</td>'));
  // the one No-Snoop TLP: SSID 5's write through the stage-1 leaf descriptor of 0x1ff000, left non-snooped by the TLP
  const row = html.match(/<tr data-leaf="(0x[0-9a-f]+)" class="through">(.*?)<\/tr>/s);
  assert.ok(row, "one audit row");
  const cells = [...row![2]!.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);
  assert.equal(cells.slice(1), ["stage 1", "0x1ff000 .. 0x200000", "0x80ff000 .. 0x8100000", "4K", "0", "5", "1", "0", "1", "00:02.0", ""]);
  assert.ok(html.includes('<th data-type="num" title="No-Snoop TLPs made coherent by the root port&#39;s CANWBS">coherent (canwbs)</th>'));
  for (const vtdOnly of ["pcm-iio", "PGSNP", "root / context", "RID_PASID", "FS PDE cache", "PML5E"]) assert.not.ok(html.includes(vtdOnly), vtdOnly);
});

test("a sweep over an SMMUv3 scenario: every point runs, figures from its summary", async () => {
  const sd = join(dir, "sweep");
  mkdirSync(sd);
  writeFileSync(join(sd, "s.json"), readFileSync(fixture, "utf8"));
  writeFileSync(join(sd, "sweep.json"), JSON.stringify({ scenarios: ["s.json"], parameters: { "config.contextCache.enable": [false, true] }, metrics: ["tlps", "translated", "faulted", "walkReadsPerTlp"] }));
  // STE cache off: every transaction misses the configuration cache (10), and the 5 STE hits of the
  // cached run read their level-1 descriptor and STE again (2-level stream table): 28 + 10 = 38 reads.
  const run = await runSweep(join(sd, "sweep.json"), { out: join(sd, "out"), workers: 1 });
  assert.equal(run.results.points.map((p) => [p.parameters["config.contextCache.enable"], p.metrics]), [
    [false, { tlps: 10, translated: 4, faulted: 4, walkReadsPerTlp: 3.8 }],
    [true, { tlps: 10, translated: 4, faulted: 4, walkReadsPerTlp: 2.8 }],
  ]);
  const s = run.results.points.map((p) => p.summary as SmmuRunSummary);
  assert.equal(s.map((x) => [x.arch, x.version, x.pmcg.config_cache_miss]), [["smmuv3", 3, 10], ["smmuv3", 3, 7]]);
  assert.ok(readFileSync(resolve(run.files.html), "utf8").includes("s.json"));
});

test.run();
