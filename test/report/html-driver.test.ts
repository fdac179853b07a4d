/**
 * The driver side in the HTML report (src/report/html-driver.ts): the bundled examples replayed by
 * `run --refusals results --report --html`, each section's table cells checked against the
 * `--report` of the same run and against the outcome the example's README section gives (refused
 * trace lines, PASID counts, the wbinvd decision, the p2p TLP), plus the deferred-invalidation
 * window of a lazy domain (figures as test/replay/inval-window.test.ts computes them by hand), the
 * cap on listed refusals, a plain replay without any of the sections, and the escaping of a hostile
 * VM name. The tables are read from the static HTML (no browser: they are plain HTML).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { existsSync, rmSync } from "node:fs";
import { renderHtmlReport } from "../../src/report/html.ts";
import { ReportCollector } from "../../src/report/collector.ts";
import { DriverEventLog, REFUSALS_KEPT } from "../../src/replay/driver-events.ts";
import type { RunSummary } from "../../src/report/summary.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-html-driver-"));
let runs = 0;

/** `run SCENARIO --refusals results --report --html [...extra]`: the report JSON, the HTML and its file. */
function run(scenario: string, ...extra: string[]): { report: RunSummary; html: string; file: string } {
  const k = runs++;
  const report = join(dir, `r${k}.json`), html = join(dir, `r${k}.html`);
  const r = spawnSync(process.execPath, [bin, "run", scenario, "--refusals", "results", "--report", report, "--html", html, ...extra], { cwd: root, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  return { report: JSON.parse(readFileSync(report, "utf8")) as RunSummary, html: readFileSync(html, "utf8"), file: html };
}

const unescape = (s: string) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");

/** The body rows of table `id` as cell texts (undefined: no such table). */
function rows(html: string, id: string): string[][] | undefined {
  const m = new RegExp(`<table id="${id}"[^>]*>([\\s\\S]*?)</table>`).exec(html);
  if (!m) return undefined;
  const body = m[1]!.split("<tbody>")[1]!;
  return [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((tr) => [...tr[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((td) => unescape(td[1]!)));
}
/** The column heads of table `id`. */
const heads = (html: string, id: string) => [...new RegExp(`<table id="${id}"[^>]*><thead><tr>([\\s\\S]*?)</tr>`).exec(html)![1]!.matchAll(/<th[^>]*>([\s\S]*?)<\/th>/g)].map((t) => unescape(t[1]!));
/** The figures (dt -> dd text) of section `id`. */
function figuresOf(html: string, id: string): Record<string, string> {
  const sec = new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`).exec(html)![1]!;
  return Object.fromEntries([...sec.matchAll(/<dt>([\s\S]*?)<\/dt><dd>([\s\S]*?)<\/dd>/g)].map((m) => [unescape(m[1]!), unescape(m[2]!.replace(/ <small>[\s\S]*<\/small>/, ""))]));
}
const has = (html: string, id: string) => html.includes(`<section id="${id}">`);
const navOf = (html: string) => [.../<nav>([\s\S]*?)<\/nav>/.exec(html)![1]!.matchAll(/href="#([^"]+)"/g)].map((m) => m[1]);
const DRIVER_SECTIONS = ["driver-events", "vms", "coherency", "inval-window", "p2p"];

test("examples/nic-vfio: driver events by kind, the refusals at lines 28 and 42 with their reasons, the group's wbinvd row; no VM, window or p2p section", () => {
  const { report, html } = run("examples/nic-vfio/scenario.json");
  const d = report.driverEvents!;
  // Hand count over the trace (README "Driver side"): bind at 28 (refused), 30, 31, 42 (refused), 44;
  // unbind at 27, 29, 41, 43; one domain-alloc, map, attach, detach.
  assert.equal(rows(html, "driver-events-table"), [
    ["attach", "1", "0"],
    ["bind", "3", "2"],
    ["detach", "1", "0"],
    ["domain-alloc", "1", "0"],
    ["map", "1", "0"],
    ["unbind", "4", "0"],
  ]);
  assert.equal(rows(html, "driver-events-table"), d.kinds.map((k) => [k.event, String(k.done), String(k.refused)]), "the --report's figures");
  // seq: TLPs before the event (line 28: the read at 26; line 42: those at 26, 32, 33, 37, 38, 40)
  const refused = rows(html, "refusals-table")!;
  assert.equal(refused.map((r) => r.slice(0, 3)), [["28", "1", "bind"], ["42", "6", "bind"]]);
  assert.match(refused[0]![3]!, /^bind 03:00\.1 vfio: group 2 \(02:01\.0, 03:00\.0, 03:00\.1\) is not viable for user space: 03:00\.0 is bound to kernel:e1000e/);
  assert.match(refused[1]![3]!, /^bind 03:00\.0 kernel:e1000e: group 2 \(02:01\.0, 03:00\.0, 03:00\.1\) is owned by user space \(03:00\.1 is bound to vfio\)/);
  assert.equal(refused, d.refusals.map((r) => [String(r.line), String(r.seq), r.event, r.reason]));
  assert.equal(figuresOf(html, "driver-events"), { "driver events carried out": "11", "refused driver events": "2" });
  assert.match(html, /Every refused event is listed, in trace order/);
  // The group is the VM (no vms key): no No-Snoop TLP, nothing let through, no wbinvd.
  assert.equal(rows(html, "wbinvd-table"), [["group 2 (02:01.0, 03:00.0, 03:00.1)", "03:00.0, 03:00.1", "no", "0", "no", "0", "yes", "not needed"]]);
  assert.is(rows(html, "wbinvd-tlps-table"), undefined, "no TLP made a condition hold");
  assert.ok(!has(html, "vms") && !has(html, "inval-window") && !has(html, "p2p"));
  assert.equal(navOf(html).filter((id) => DRIVER_SECTIONS.includes(id!)), ["driver-events", "coherency"]);
  // the wbinvd table left the No-Snoop audit for its own section
  assert.not.match(/<section id="nosnoop">[\s\S]*?<\/section>/.exec(html)![0], "wbinvd");
});

test("examples/pasid-quota: vm1's row (5 allocated, 1 freed, 4 held, quota 5, 1 over quota) and the refusal at line 25", () => {
  const { report, html } = run("examples/pasid-quota/scenario.json");
  assert.equal(heads(html, "vms-table"), ["VM", "devices", "mediated devices", "PASIDs allocated", "PASIDs freed", "PASIDs held", "quota", "refused over quota", "refused space exhausted", "frees refused"]);
  // README: "vm1: 5 allocated, 1 refused (1 over quota), 1 freed, 4 held, quota 5"; 00:02.0 is vm1's (vms[0].devices)
  assert.equal(rows(html, "vms-table"), [["vm1", "00:02.0", "-", "5", "1", "4", "5", "1", "0", "0"]]);
  const v = report.vms![0]!;
  assert.equal(rows(html, "vms-table")![0]!.slice(3), [v.allocations, v.frees, v.allocated, v.quota, v.refusedQuota, v.refusedExhausted, v.refusedFree].map(String), "the --report's figures");
  // pasid-alloc at 22, 23, 24, 31, 33 carried out, 25 refused
  assert.equal(rows(html, "driver-events-table"), [["attach", "2", "0"], ["pasid-alloc", "5", "1"], ["pasid-free", "1", "0"], ["quota", "1", "0"]]);
  assert.equal(rows(html, "refusals-table"), [["25", "0", "pasid-alloc", 'pasid-alloc vm1: VM "vm1" holds 3 PASIDs and its quota is 3: it allocates again after freeing one']]);
  assert.equal(rows(html, "wbinvd-table"), [["vm1", "00:02.0", "no", "0", "no", "0", "yes", "not needed"]]);
});

test("examples/mdev (SMMUv3): vmA refused to vmB at lines 31, 32 and 37; at the end vmA has given up 03:00.1 and its mediated devices, vmB has one", () => {
  const { report, html } = run("examples/mdev/scenario.json");
  assert.equal(heads(html, "vms-table").slice(3, 6), ["SSIDs allocated", "SSIDs freed", "SSIDs held"], "the SMMU's word");
  assert.equal(rows(html, "vms-table"), [
    // SSIDs 1, 2 (25, 26) still held; 03:00.1 (bound for vmA at 33) unbound at 35, its mediated devices (23, 24) removed at 36, 38
    ["vmA", "-", "-", "2", "0", "2", "1,000", "0", "0", "0"],
    ["vmB", "-", "03:00.0 x1", "0", "0", "0", "1,000", "0", "0", "0"], // mdev at 40
  ]);
  assert.equal(report.vms!.map((v) => [v.devices, v.mdevs]), [[[], []], [[], [{ parent: "03:00.0", count: 1 }]]]);
  const why = 'group 2 (02:01.0, 03:00.0, 03:00.1) has 03:00.0, which serves VM "vmA" through a mediated device; the devices of a group share one domain, so the whole group goes to one VM';
  assert.equal(rows(html, "refusals-table"), [
    ["31", "2", "bind", `bind 03:00.1 vfio vm=vmB: ${why}`],
    ["32", "2", "mdev", `mdev 03:00.0 vm=vmB: ${why}`],
    ["37", "3", "mdev", `mdev 03:00.0 vm=vmB: ${why}`], // one of vmA's still there
  ]);
  assert.equal(rows(html, "driver-events-table"), [["attach", "2", "0"], ["bind", "2", "1"], ["mdev", "3", "2"], ["mdev-remove", "2", "0"], ["pasid-alloc", "2", "0"], ["unbind", "1", "0"]]);
});

test("examples/gpu-nosnoop without ECAP.SC: enforce-coherency refused at line 6; wbinvd needed, TLPs 1 and 2 let through with their leaves", () => {
  const { report, html } = run("examples/gpu-nosnoop/vtd-no-sc.json");
  assert.equal(rows(html, "refusals-table"), [["6", "0", "enforce-coherency", "enforce-coherency 2: 01:00.0 is attached to domain 2 and the VT-d unit has no snoop control (ECAP.SC=0)"]]);
  // README "Cache coherency": TLPs 1 and 2 No-Snoop, let through, leaves 0x90000003 and 0x90001003 (R|W, no SNP)
  assert.equal(rows(html, "wbinvd-table"), [["group 1 (01:00.0)", "01:00.0", "yes", "2", "yes", "2", "yes", "needed"]]);
  assert.match(html, '<tr data-vm="group 1 (01:00.0)" class="through">');
  const through = report.wbinvd![0]!.letThrough.first;
  // the two pages' leaves are neighbours in one table: 8 bytes apart
  assert.is(BigInt(through[1]!.leafPa!) - BigInt(through[0]!.leafPa!), 8n);
  assert.equal(rows(html, "wbinvd-tlps-table"), [
    ["group 1 (01:00.0)", "No-Snoop issued", "1", "-", "-", "-", "-", "-"],
    ["group 1 (01:00.0)", "No-Snoop issued", "2", "-", "-", "-", "-", "-"],
    ["group 1 (01:00.0)", "let through", "1", "01:00.0", "0x100000", through[0]!.leafPa!, "0x90000003", "tlp"],
    ["group 1 (01:00.0)", "let through", "2", "01:00.0", "0x101000", through[1]!.leafPa!, "0x90001003", "tlp"],
  ]);
  // with ECAP.SC (scenario.json): enforced, nothing let through, no refusal
  const sc = run("examples/gpu-nosnoop/scenario.json");
  assert.equal(rows(sc.html, "wbinvd-table"), [["group 1 (01:00.0)", "01:00.0", "yes", "2", "no", "0", "yes", "not needed"]]);
  assert.is(rows(sc.html, "refusals-table"), undefined);
  assert.match(sc.html, /No driver event was refused\./);
});

test("examples/arm-msi: one TLP routed peer-to-peer through 01:00.0's window 0x40000000-0x400fffff; the map over it refused (line 23)", () => {
  const { report, html } = run("examples/arm-msi/scenario.json");
  // TLP at line 21 (MWr 01:00.0 0x40000100) is in 01:00.0's window; 02:00.0's read of the same address (line 27) is translated (no window of its own)
  assert.equal(rows(html, "p2p-table"), [["01:00.0", "0x40000000 .. 0x400fffff", "1"]]);
  assert.equal(report.peerToPeer, [{ device: "01:00.0", base: "0x40000000", last: "0x400fffff", tlps: 1 }]);
  assert.is(report.peerToPeer!.reduce((n, w) => n + w.tlps, 0), report.p2p, "the windows sum to the summary's peer-to-peer count");
  assert.equal(figuresOf(html, "p2p"), { "TLPs routed peer-to-peer": "1" });
  assert.is(figuresOf(html, "summary")["peer-to-peer"], "1");
  assert.equal(rows(html, "refusals-table")!.map((r) => r.slice(0, 3)), [["23", "3", "map"]]);
  assert.match(rows(html, "refusals-table")![0]![3]!, /it overlaps the RESERVED region 0x40000000-0x400fffff of 01:00\.0, a peer-to-peer window/);
  assert.equal(rows(html, "driver-events-table"), [["map", "0", "1"]]);
  assert.ok(!has(html, "coherency") && !has(html, "vms"), "no topology, drivers or vms: no wbinvd, no VMs");
});

test("a lazy domain's deferred-invalidation window per device, and the flushes by reason", () => {
  // test/replay/inval-window.test.ts's VT-d case: domain 1 lazy (00:02.0, 00:03.0), domain 2 strict;
  // domain 1's page unmapped at @200, read stale by 00:02.0 at @250 and @700 (window 500) and by
  // 00:03.0 at @400 (window 200); the explicit flush at @800 ends it.
  const rw = (iova: string, pa: string) => ({ iova, pa, size: "0x10000", perm: "rw" });
  const f = join(dir, "lazy.json");
  writeFileSync(
    f,
    JSON.stringify({
      arch: "vtd",
      build: {
        domains: [
          { id: 1, type: "ss", mappings: [rw("0x100000", "0x80000000")] },
          { id: 2, type: "ss", invalidation: "strict", mappings: [rw("0x200000", "0x90000000")] },
        ],
        devices: [{ bdf: "00:02.0", domain: 1 }, { bdf: "00:03.0", domain: 1 }, { bdf: "00:04.0", domain: 2 }],
      },
      config: { driver: { invalidation: "lazy" } },
      trace: [
        "@100 MRd 00:02.0 addr=0x100000", "@110 MRd 00:03.0 addr=0x100000", "@120 MRd 00:04.0 addr=0x200000", "@200 unmap 1 0x100000 0x1000",
        "@250 MRd 00:02.0 addr=0x100000", "@300 unmap 2 0x200000 0x1000", "@400 MRd 00:03.0 addr=0x100000", "@450 MRd 00:04.0 addr=0x200000",
        "@700 MRd 00:02.0 addr=0x100008", "@800 flush", "@900 MRd 00:02.0 addr=0x100000",
      ],
    }),
  );
  const { report, html } = run(f);
  assert.equal(rows(html, "inval-window-table"), [["00:02.0", "2", "500"], ["00:03.0", "1", "200"]]);
  assert.equal(rows(html, "inval-window-table"), report.invalidationWindow!.devices.map((d) => [d.device, String(d.staleTlps), String(d.longestWindowCycles)]));
  const d = (report as { invalidation: { driver: { flushReasons: Record<string, number> } } }).invalidation.driver;
  // the one flush is the trace's @800 (explicit); nothing was left deferred at the end
  assert.equal(rows(html, "flushes-table"), [["batch", "0"], ["timeout", "0"], ["explicit", "1"], ["end", "0"]]);
  assert.equal(rows(html, "flushes-table"), Object.entries(d.flushReasons).map(([k, v]) => [k, String(v)]));
  assert.equal(figuresOf(html, "inval-window"), { "invalidation mode": "lazy", unmaps: "2", "TLPs after their unmap": "3", "longest window": "500 cycles", flushes: "1" });
  // unmap and flush are the unit's events: no driver side, nothing refused: no driver-events section
  assert.is(report.driverEvents, undefined);
  assert.ok(!has(html, "driver-events"));
});

test("refusals beyond the first 100 are counted, not listed, and the report says how many were left out", () => {
  const f = join(dir, "many.json"), t = join(dir, "many.trace");
  writeFileSync(f, JSON.stringify({ arch: "vtd", build: { domains: [{ id: 1, type: "ss", mappings: [] }], devices: [{ bdf: "00:02.0", domain: 1 }] } }));
  // line 1 allocates domain 5; lines 2..104 (103 events) allocate it again: refused
  writeFileSync(t, ["domain-alloc 5 paging", ...Array.from({ length: 103 }, () => "domain-alloc 5 paging")].join("\n") + "\n");
  const { report, html } = run(f, "--trace", t);
  assert.is(REFUSALS_KEPT, 100);
  assert.equal([report.driverEvents!.refused, report.driverEvents!.refusals.length], [103, 100]);
  const listed = rows(html, "refusals-table")!;
  assert.equal([listed.length, listed[0]![0], listed[99]![0]], [100, "2", "101"]);
  assert.is(listed[0]![3], "domain-alloc 5: domain 5 exists already");
  assert.equal(rows(html, "driver-events-table"), [["domain-alloc", "1", "103"]]);
  assert.match(html, /The table lists the first 100 refused events \(at most 100\) in trace order; 3 more were refused and are left out\./);
});

test("DriverEventLog: counts per kind, the first REFUSALS_KEPT refusals kept, driverSide for events above the units", () => {
  const log = new DriverEventLog();
  log.done("map");
  log.done("map");
  for (let i = 0; i < REFUSALS_KEPT + 2; i++) log.refused({ seq: i, line: i + 1, event: "unmap", reason: `r${i}` });
  let s = log.summary();
  assert.equal(s.kinds, [{ event: "map", done: 2, refused: 0 }, { event: "unmap", done: 0, refused: REFUSALS_KEPT + 2 }]);
  assert.equal([s.refused, s.refusals.length, s.refusals.at(-1)!.line, s.driverSide], [REFUSALS_KEPT + 2, REFUSALS_KEPT, REFUSALS_KEPT, false]);
  log.done("bind");
  s = log.summary();
  assert.is(s.driverSide, true);
});

test("a plain VT-d trace replay (examples/vtd-sm, strict unmaps): none of the driver side's sections", () => {
  const { report, html } = run("examples/vtd-sm/scenario.json");
  assert.ok(report.invalidationWindow!.unmaps > 0 && report.invalidationWindow!.staleTlps === 0, "unmaps, nothing stale");
  for (const id of DRIVER_SECTIONS) assert.ok(!has(html, id), id);
  assert.equal(navOf(html), ["summary", "latency", "caches", "devices", "pasids", "nosnoop", "faults", "details"]);
  assert.equal([report.driverEvents, report.peerToPeer, report.vms], [undefined, undefined, undefined]);
});

test("a hostile VM name and refusal reason are escaped in every section (cells and attributes), never markup", () => {
  const { report } = run("examples/pasid-quota/scenario.json");
  const evil = `<img src=x onerror="alert(1)">&`;
  const s = structuredClone(report);
  s.vms![0] = { ...s.vms![0]!, vm: evil, devices: [evil] };
  s.wbinvd![0]!.vm = evil;
  s.driverEvents!.refusals[0]!.reason = `</script><script>alert(2)</script>`;
  const html = renderHtmlReport(s, new ReportCollector().result());
  assert.not.match(html, "<img");
  assert.not.match(html, "<script>alert(2)");
  const esc = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;";
  assert.match(html, `<tr data-vm="${esc}"><td>${esc}</td><td>${esc}</td>`);
  assert.match(html, `<tr data-vm="${esc}" class="forced"><td>${esc}</td>`);
  assert.match(html, "<td>&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;</td>");
  assert.equal(rows(html, "vms-table")![0]!.slice(0, 2), [evil, evil]);
});

/** Debian's Chromium, as test/report/html.test.ts uses it (skipped without it unless IOMMU_EMU_REQUIRE_BROWSER=1). */
const CHROMIUM = process.env.IOMMU_EMU_CHROMIUM ?? "/usr/bin/chromium";

test("in headless Chromium: the new tables sort by a clicked column, no page error, no request", async () => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.IOMMU_EMU_REQUIRE_BROWSER === "1") assert.unreachable(`${CHROMIUM} not found, and IOMMU_EMU_REQUIRE_BROWSER=1`);
    console.log(`\n  SKIPPED: ${CHROMIUM} not found: the browser check of the driver side's sections is skipped`);
    return;
  }
  const { file } = run("examples/nic-vfio/scenario.json");
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "iommu-emu-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("request", (r) => {
      if (!r.url().startsWith("file:")) requests.push(r.url());
    });
    await page.goto(pathToFileURL(file).href);
    assert.is(await page.getAttribute("html", "data-rendered"), "1");
    const col = (id: string, i: number) => page.$$eval(`#${id} tbody tr`, (trs: any[], k: number) => trs.map((t) => t.cells[k].textContent), i);
    // "carried out" descending (a number column's first click), ties in their order: unbind 4, bind 3, then the ones
    await page.click("#driver-events-table th:has-text('carried out')");
    assert.equal(await col("driver-events-table", 0), ["unbind", "bind", "attach", "detach", "domain-alloc", "map"]);
    await page.click("#refusals-table th:has-text('line')");
    assert.equal(await col("refusals-table", 0), ["42", "28"]);
    assert.equal([errors, requests], [[], []]);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test.run();
