/**
 * Sweeps end to end: every point's figures equal an `iommu-emu run` (runCommand) of the same
 * scenario with the point's parameters applied by hand; 2 shards + merge give the unsharded
 * results byte for byte (apart from the host fields); the CLI; sweep.html in headless Chromium.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runCommand } from "../../src/cli/run.ts";
import { runSweep, mergeResults } from "../../src/sweep/sweep.ts";
import { pointMetrics, metricNames } from "../../src/sweep/metrics.ts";
import { slimSummary, type SweepResults } from "../../src/sweep/results.ts";
import { chartSpecs, seriesStyle, sweepHtml } from "../../src/sweep/html.ts";
import type { RunSummary } from "../../src/report/summary.ts";
import { makeFixture, scenario, withoutHost } from "./fixture.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8" });
const CHROMIUM = "/usr/bin/chromium";

const fx = makeFixture();
const full = join(fx.dir, "full");
let fullRun: Awaited<ReturnType<typeof runSweep>>;

const readJson = <T>(f: string) => JSON.parse(readFileSync(f, "utf8")) as T;
const withoutNames = (s: RunSummary) => {
  const { scenario: _s, trace: _t, host: _h, ...rest } = s;
  return rest;
};

test("a sweep runs every point of the product, in order, on 2 workers", async () => {
  fullRun = await runSweep(fx.sweepFile, { out: full, workers: 2 });
  const r = readJson<SweepResults>(join(full, "results.json"));
  assert.is(r.sweep.points, 16);
  assert.is(r.points.length, 16);
  assert.is(r.shard, undefined);
  assert.equal(r.points.map((p) => p.index), [...Array(16).keys()]);
  assert.equal(r.points.map((p) => p.id).slice(0, 3), ["p0000", "p0001", "p0002"]);
  // traces outermost (one scenario), then the parameters in the order written, the last fastest
  assert.equal(r.points[0]!.parameters, { "config.iotlb.entries": 16, "config.iotlb.policy": "lru", "build.domains[0].mappings[*].pageSize": "4K" });
  assert.equal(r.points[1]!.parameters, { "config.iotlb.entries": 16, "config.iotlb.policy": "lru", "build.domains[0].mappings[*].pageSize": "2M" });
  assert.equal(r.points[2]!.parameters["config.iotlb.policy"], "fifo");
  assert.is(r.points[7]!.trace, "traces/a.trace");
  assert.is(r.points[8]!.trace, "traces/b.trace");
  assert.equal(r.points[8]!.parameters, r.points[0]!.parameters);
  assert.is(r.host.workers, 2);
  assert.ok(r.sweep.hash.startsWith("sha256:"));
  assert.equal(readdirSync(join(full, "points")).sort(), r.points.map((p) => p.id));
  assert.equal(readdirSync(full).sort(), ["points", "results.csv", "results.json", "sweep.html"], "no temporary files left");
});

test("each point's figures equal `iommu-emu run` of the scenario with the parameters applied", () => {
  const r = readJson<SweepResults>(join(full, "results.json"));
  const work = mkdtempSync(join(tmpdir(), "iommu-emu-sweep-direct-"));
  for (const p of r.points) {
    // The scenario as a user would write it for this point, by hand (not through src/sweep).
    const s = structuredClone(scenario) as typeof scenario & { config: { iotlb: Record<string, unknown> } };
    s.config.iotlb.entries = p.parameters["config.iotlb.entries"] as number;
    s.config.iotlb.policy = p.parameters["config.iotlb.policy"];
    for (const m of s.build.domains[0]!.mappings as Record<string, unknown>[]) m.pageSize = p.parameters["build.domains[0].mappings[*].pageSize"];
    const file = join(work, `${p.id}.json`);
    writeFileSync(file, JSON.stringify(s));
    const report = join(work, `${p.id}.report.json`);
    runCommand(file, { trace: resolve(fx.dir, p.trace!), report });
    const direct = readJson<RunSummary>(report);
    const mine = readJson<RunSummary>(join(full, "points", p.id, "report.json"));
    assert.equal(withoutNames(mine), withoutNames(direct), `${p.id}: report.json = run --report`);
    assert.equal(withoutNames(p.summary), withoutNames(slimSummary(direct)), `${p.id}: results.json summary`);
    assert.equal(p.metrics, pointMetrics(direct), `${p.id}: figures`);
    assert.is(mine.scenario, "scn/s.json");
    assert.is(mine.trace, p.trace!);
  }
  // The figures are real: TLPs from the traces, faults on the unmapped page, caches that matter.
  const a = r.points[0]!.metrics, b = r.points[8]!.metrics;
  assert.is(a.tlps, 600);
  assert.is(b.tlps, 401, "b.trace: 400 TLPs and one between its driver events");
  assert.ok(a.faulted! > 0 && a.translated! + a.faulted! === a.tlps);
  assert.ok(r.points[2]!.metrics.iotlbHitRate! < r.points[6]!.metrics.iotlbHitRate!, "64 entries hit more than 16 (4K pages)");
  assert.ok(r.points[1]!.metrics.iotlbHitRate! > r.points[0]!.metrics.iotlbHitRate!, "2M pages hit more than 4K pages");
  for (const p of r.points) for (const m of ["totalCycles", "cyclesPerTranslation", "latencyP50", "latencyP99"] as const) assert.type(p.metrics[m], "number");
  assert.is(r.points[0]!.metrics.pwcSsPml5eHitRate, null, "no lookups: null, not 0");
});

test("a point's scenario.json reproduces it with `iommu-emu run`", () => {
  const r = readJson<SweepResults>(join(full, "results.json"));
  const p = r.points[13]!;
  const report = join(fx.dir, "again.json");
  runCommand(join(full, "points", p.id, "scenario.json"), { report });
  assert.equal(withoutNames(readJson<RunSummary>(report)), withoutNames(readJson<RunSummary>(join(full, "points", p.id, "report.json"))));
});

test("results.csv: one row per point, the parameters then every figure", () => {
  const r = readJson<SweepResults>(join(full, "results.json"));
  const lines = readFileSync(join(full, "results.csv"), "utf8").trimEnd().split("\n");
  assert.is(lines.length, 17);
  assert.is(lines[0], ["index", "id", "scenario", "trace", "config.iotlb.entries", "config.iotlb.policy", "build.domains[0].mappings[*].pageSize", ...metricNames].join(","));
  const row = lines[4]!.split(",");
  const p = r.points[3]!;
  assert.equal(row.slice(0, 7), ["3", "p0003", "scn/s.json", "traces/a.trace", "16", "fifo", "2M"]);
  metricNames.forEach((m, i) => assert.is(row[7 + i], p.metrics[m] === null ? "" : String(p.metrics[m]), m));
});

test("2 shards + merge = the unsharded sweep (byte-identical apart from host fields)", async () => {
  const s1 = join(fx.dir, "shard1"), s2 = join(fx.dir, "shard2");
  const one = await runSweep(fx.sweepFile, { out: s1, workers: 1, shard: { index: 1, count: 2 } });
  const two = await runSweep(fx.sweepFile, { out: s2, workers: 2, shard: { index: 2, count: 2 } });
  assert.equal(one.results.points.map((p) => p.index), [0, 2, 4, 6, 8, 10, 12, 14], "round-robin: index % 2 == 0");
  assert.equal(two.results.points.map((p) => p.index), [1, 3, 5, 7, 9, 11, 13, 15]);
  assert.equal(one.results.shard, { index: 1, count: 2 });
  const merged = join(fx.dir, "merged", "all.json");
  mkdirSync(join(fx.dir, "merged")); // merge, like every command, creates no folders
  const m = mergeResults([s2, s1], merged);
  assert.is(m.results.points.length, 16);
  const strip = (f: string) => JSON.stringify(withoutHost(readJson(f)), null, 2);
  assert.is(strip(merged), strip(join(full, "results.json")));
  // and literally byte for byte, once the host blocks (the top-level one, last, and each summary's) are cut out
  const bytes = (f: string) => {
    const t = readFileSync(f, "utf8");
    return t.slice(0, t.lastIndexOf(',\n  "host": ')).replace(/"host": \{[^{}]*\}/g, '"host": {}');
  };
  assert.ok(bytes(merged).length > 10000);
  assert.is(bytes(merged), bytes(join(full, "results.json")));
  assert.is(readFileSync(join(fx.dir, "merged", "all.csv"), "utf8"), readFileSync(join(full, "results.csv"), "utf8"));
  // the HTML too, but for where its links lead: each point's report in its shard's folder
  const mergedHtml = readFileSync(join(fx.dir, "merged", "all.html"), "utf8");
  const hrefs = [...mergedHtml.matchAll(/<a href="([^"]+)">/g)].map((m) => m[1]!);
  assert.is(hrefs.length, 16);
  assert.ok(hrefs.includes("../shard1/points/p0000/report.json") && hrefs.includes("../shard2/points/p0001/report.json"), hrefs.join(" "));
  for (const h of hrefs) assert.ok(existsSync(join(fx.dir, "merged", h)), `${h} exists`);
  const local = (t: string) => t.replace(/<a href="[^"]*?(points\/p\d+\/report\.json)">/g, '<a href="$1">');
  assert.is(local(mergedHtml), readFileSync(join(full, "sweep.html"), "utf8"));
  const host = readJson<SweepResults>(merged).host;
  assert.equal(host.shards!.map((s) => s.shard), [{ index: 2, count: 2 }, { index: 1, count: 2 }]);
});

test("a shard with no points writes empty results that merge accepts", async () => {
  const f = makeFixture({ traces: undefined, parameters: { "config.iotlb.policy": ["lru", "fifo"] } });
  const outs = [1, 2, 3].map((i) => join(f.dir, `s${i}`));
  for (let i = 0; i < 3; i++) await runSweep(f.sweepFile, { out: outs[i]!, shard: { index: i + 1, count: 3 } });
  assert.is(readJson<SweepResults>(join(outs[2]!, "results.json")).points.length, 0);
  const m = mergeResults(outs, join(f.dir, "m.json"));
  assert.equal(m.results.points.map((p) => p.trace), ["scn/own.trace", "scn/own.trace"], "the scenario's own trace, named from the sweep's folder");
  assert.is(m.results.points[0]!.metrics.tlps, 300);
});

test("CLI: sweep and merge exit 0 and print where the outputs are", () => {
  const f = makeFixture({ traces: ["traces/a.trace"], parameters: { "config.iotlb.entries": [16, 32, 64] } });
  const out = join(f.dir, "cli");
  const r = cli("sweep", f.sweepFile, "--workers", "2", "--shard", "1/2", "-o", out);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /shard 1\/2: 2 of 3 points on 2 workers/);
  const r2 = cli("sweep", f.sweepFile, "--shard", "2/2", "-o", join(f.dir, "cli2"));
  assert.is(r2.status, 0, r2.stderr);
  const m = cli("merge", out, join(f.dir, "cli2"), "-o", join(f.dir, "cli-merged.json"));
  assert.is(m.status, 0, m.stderr);
  assert.match(m.stdout, /3 points from 2 inputs/);
  assert.ok(existsSync(join(f.dir, "cli-merged.csv")) && existsSync(join(f.dir, "cli-merged.html")));
});

test("sweep.html is self-contained and draws its charts (headless Chromium)", async () => {
  const html = readFileSync(join(full, "sweep.html"), "utf8");
  assert.not.match(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!github\.com\/leeoniya)/, "no external resources");
  assert.match(html, /uPlot/);
  if (!existsSync(CHROMIUM)) {
    const msg = `${CHROMIUM} not found: the browser check of sweep.html is skipped`;
    if (process.env.IOMMU_EMU_REQUIRE_BROWSER === "1") assert.unreachable(msg);
    console.log(`\n  SKIPPED: ${msg}`);
    return;
  }
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("request", (q) => {
      if (!q.url().startsWith("file:")) problems.push(`request: ${q.url()}`);
    });
    const r16 = readJson<SweepResults>(join(full, "results.json")).points;
    await page.goto(`file://${join(full, "sweep.html")}`);
    // the scripts are inline: they have run by the load event goto waits for
    const charts = await page.$$eval(".chart-block", (els: any[]) =>
      els.map((el) => {
        const c = el.querySelector("canvas");
        const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        // opaque coloured pixels (grid, axes and text are grey): the series lines were drawn
        let coloured = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i + 3] === 255 && (Math.abs(px[i] - px[i + 1]) > 40 || Math.abs(px[i + 1] - px[i + 2]) > 40)) coloured++;
        return {
          w: c.width,
          h: c.height,
          coloured,
          title: el.querySelector(".u-title")?.textContent ?? "",
          legend: [...el.querySelectorAll("ul.legend li")].map((l: any) => l.textContent.trim()),
          styles: [...el.querySelectorAll("ul.legend li")].map((l: any) => `${l.getAttribute("data-dash")}|${l.getAttribute("data-marker")}`),
          svgs: [...el.querySelectorAll("ul.legend li svg")].map((v: any) => v.getBoundingClientRect().width),
        };
      }),
    );
    const rows = await page.locator("#points tbody tr").count();
    assert.equal(problems, []);
    assert.is(charts.length, 2);
    for (const c of charts) {
      assert.ok(c.w > 100 && c.h > 100, `canvas ${c.w}x${c.h}`);
      assert.ok(c.coloured > 100, `${c.title}: lines drawn (${c.coloured} coloured pixels)`);
    }
    assert.match(charts[0]!.title, /^iotlbHitRate/);
    assert.match(charts[1]!.title, /^cyclesPerTranslation/);
    // x: IOTLB entries; a series per combination of the other dimensions (trace, policy, page size)
    // the legend is static markup: a line in the series' dash pattern with its marker, and its name
    const legend = charts[0]!.legend;
    assert.is(legend.length, 8);
    assert.ok(legend.includes("traces/a.trace, policy=lru, pageSize=4K"), JSON.stringify(legend));
    assert.is(new Set(charts[0]!.styles).size, 8, `every series has its own dash and marker: ${charts[0]!.styles.join(", ")}`);
    assert.equal(charts[0]!.styles.slice(0, 3), ["|circle", "8 4|square", "2 3|triangle"]);
    assert.ok(charts[0]!.svgs.every((w: number) => w === 36), "each legend entry shows its picture");
    assert.is(rows, 16);

    // sorting: by iotlbHitRate (numbers), ascending then descending; ties keep the points' order
    const heads = await page.$$eval("#points thead th", (ths: any[]) => ths.map((t) => t.textContent));
    const hit = heads.indexOf("iotlbHitRate");
    const values = () => page.$$eval("#points tbody tr", (trs: any[], n: number) => trs.map((t) => Number(t.cells[n].getAttribute("data-v"))), hit);
    const ids = () => page.$$eval("#points tbody tr", (trs: any[]) => trs.map((t) => t.getAttribute("data-id")));
    const before = await ids();
    assert.equal(before, r16.map((p) => p.id));
    await page.click(`#points thead th:nth-child(${hit + 1})`);
    const up = await values();
    assert.equal(up, [...up].sort((a, b) => a - b));
    assert.not.equal(await ids(), before, "the order changed");
    assert.is(await page.getAttribute(`#points thead th:nth-child(${hit + 1})`, "aria-sort"), "ascending");
    await page.click(`#points thead th:nth-child(${hit + 1})`);
    const down = await values();
    assert.equal(down, [...up].reverse().sort((a, b) => b - a));
    await page.click("#points thead th:nth-child(2)"); // id, as text
    assert.equal(await ids(), before);
    // every row links its point's report.json, which exists
    const links = await page.$$eval("#points tbody tr td.report a", (as: any[]) => as.map((a) => a.getAttribute("href")));
    assert.equal(links, r16.map((p) => `points/${p.id}/report.json`));
    for (const l of links) assert.ok(existsSync(join(full, l)), l);
    assert.equal(problems, []);
  } finally {
    await browser.close();
  }
});

test("the CSV's latency percentiles are real values beyond 4096 cycles (no clipping)", async () => {
  const f = makeFixture({ traces: ["traces/a.trace"], parameters: { "config.timing.readLatencyCycles": [3000] } });
  const out = join(f.dir, "slow");
  await runSweep(f.sweepFile, { out, workers: 1 });
  const report = readJson<RunSummary>(join(out, "points", "p0000", "report.json"));
  const lines = readFileSync(join(out, "results.csv"), "utf8").trimEnd().split("\n");
  const head = lines[0]!.split(","), row = lines[1]!.split(",");
  const p50 = Number(row[head.indexOf("latencyP50")]), p99 = Number(row[head.indexOf("latencyP99")]);
  // a 4-level walk reads 4 x 3000 cycles: every miss takes more than 12000 cycles
  assert.equal([p50, p99], [report.timing!.latency.p50, report.timing!.latency.p99]);
  assert.ok(p99 > 12000 && p99 <= report.timing!.latency.max, `p99 ${p99}`);
});

test("sweep --point-html: each point's HTML report, named as sweep.json names it, linked from sweep.html", () => {
  const f = makeFixture({ traces: ["traces/a.trace"], parameters: { "config.iotlb.entries": [16, 32] } });
  const out = join(f.dir, "with-html");
  const r = cli("sweep", f.sweepFile, "--workers", "1", "--point-html", "-o", out);
  assert.is(r.status, 0, r.stderr);
  assert.equal(readdirSync(join(out, "points", "p0001")).sort(), ["report.html", "report.json", "scenario.json"]);
  const page = readFileSync(join(out, "points", "p0001", "report.html"), "utf8");
  assert.match(page, /<title>iommu-emu report: scn\/s\.json<\/title>/, "the scenario as sweep.json names it, not the staging folder");
  assert.match(page, /trace traces\/a\.trace/);
  const report = readJson<RunSummary>(join(out, "points", "p0001", "report.json"));
  assert.equal([report.scenario, report.trace], ["scn/s.json", "traces/a.trace"]);
  const hrefs = [...readFileSync(join(out, "sweep.html"), "utf8").matchAll(/<a href="([^"]+)">/g)].map((m) => m[1]);
  assert.equal(hrefs, ["points/p0000/report.html", "points/p0001/report.html"]);
});

test("sweep.html names the series whose values coincide", () => {
  const r = readJson<SweepResults>(join(full, "results.json"));
  // In this sweep LRU and FIFO give the same IOTLB hit rates (the traces' reuse distances fit or
  // miss both alike): the four lru/fifo pairs coincide, and the chart says so.
  const pairs = [["a", "4K"], ["a", "2M"], ["b", "4K"], ["b", "2M"]].map(([t, ps]) => [`traces/${t}.trace, policy=lru, pageSize=${ps}`, `traces/${t}.trace, policy=fifo, pageSize=${ps}`]);
  assert.equal(chartSpecs(r)[0]!.identical, pairs);
  for (const p of r.points) {
    const twin = r.points.find((q) => q.trace === p.trace && q.parameters["config.iotlb.entries"] === p.parameters["config.iotlb.entries"] && q.parameters["build.domains[0].mappings[*].pageSize"] === p.parameters["build.domains[0].mappings[*].pageSize"] && q !== p)!;
    assert.is(p.metrics.iotlbHitRate, twin.metrics.iotlbHitRate, `${p.id} and ${twin.id}`);
  }
  const html = sweepHtml(r);
  assert.ok(html.includes("Identical values: &quot;traces/a.trace, policy=lru, pageSize=4K&quot; and &quot;traces/a.trace, policy=fifo, pageSize=4K&quot; coincide at every config.iotlb.entries"));
  // one value apart is not identical
  r.points.find((p) => p.id === "p0000")!.metrics.iotlbHitRate = 0.125;
  assert.equal(chartSpecs(r)[0]!.identical, pairs.slice(1));
  // series 0 and 2 of the chart (lru and fifo of a.trace, 4K) differ in colour, dash and marker
  assert.equal([seriesStyle(0), seriesStyle(2)], [{ color: "#1f77b4", dash: [], marker: "circle" }, { color: "#2ca02c", dash: [2, 3], marker: "triangle" }]);
});

test.run();
