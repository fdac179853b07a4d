/**
 * The HTML report (`run --html`): the collector's exact aggregation (per device, per PASID, the
 * No-Snoop audit and its cap), escaping, and the report opened in headless Chromium through
 * playwright-core: charts drawn by uPlot (canvases of non-zero size with coloured bars), the audit
 * table's rows with exact counts, sorting, no page errors and no network requests.
 *
 * Chromium comes from Debian (/usr/bin/chromium; .ci/run installs it). Without it the browser part
 * is skipped with a message, unless IOMMU_EMU_REQUIRE_BROWSER=1 (set by .ci/run), which fails instead.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ReportCollector } from "../../src/report/collector.ts";
import { renderHtmlReport, escapeHtml, jsonForScript, chartData, AUDIT_ROWS_SHOWN } from "../../src/report/html.ts";
import type { Result } from "../../src/core/core.ts";
import type { TraceTlp } from "../../src/trace/text.ts";
import type { RunSummary } from "../../src/report/summary.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-html-"));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8" });
/** Debian's Chromium (IOMMU_EMU_CHROMIUM points elsewhere). */
const CHROMIUM = process.env.IOMMU_EMU_CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

// ---- the collector, on hand-made results ---------------------------------------------------------

function tlp(p: Partial<TraceTlp>): TraceTlp {
  return { line: 1, op: "MRd", sid: 0x10, priv: false, exe: false, addr: 0n, len: 4, ns: false, ro: false, ido: false, translated: false, nw: false, ...p };
}
function res(p: Partial<Result>): Result {
  return {
    status: "ok", pa: 0n, leafPa: 0n, leafPte: 0n, s2LeafPa: 0n, pageLg2: 12, reads: 0, snoop: true, snoopBy: "tlp",
    perms: { r: true, w: true, x: false, u: true }, priv: false, global: false, nsAllowed: true, passthrough: false, atc: false, stale: false,
    domain: 1, issue: 0n, latency: 0, kind: 2, ...p,
  };
}
const fault = (code: number, name: string): Partial<Result> => ({ status: "fault", fault: { code, name, recorded: true, level: 0 } });
const SNP = 1n << 11n;

test("collector: translations, faults (by code and name), No-Snoop and latency per device and per PASID", () => {
  const c = new ReportCollector();
  const A = 0x10, B = 0x18; // 00:02.0, 00:03.0
  c.add(tlp({ sid: A }), res({ latency: 10 }));
  c.add(tlp({ sid: A, ns: true }), res({ snoop: true, snoopBy: "pte", leafPa: 0x1000n, leafPte: SNP, latency: 30 }));
  c.add(tlp({ sid: A, ns: true }), res({ snoop: false, snoopBy: "tlp", leafPa: 0x1008n, latency: 20 }));
  c.add(tlp({ sid: A }), res({ ...fault(0x79, "SSS.2"), latency: 5 }));
  c.add(tlp({ sid: A, pasid: 1 }), res({ ...fault(0x45, "SCT.6"), latency: 7 }));
  c.add(tlp({ sid: A, ns: true }), res({ ...fault(0x79, "SSS.2"), latency: 6 })); // a faulted NS TLP is not audited
  c.add(tlp({ sid: A, op: "MWr", addr: 0xfee00000n }), res({ status: "interrupt", latency: 1 }));
  c.add(tlp({ sid: B, pasid: 5, ns: true }), res({ snoop: true, snoopBy: "pgsnp", leafPa: 0x2000n, kind: 1, latency: 40 }));
  c.add(tlp({ sid: B, pasid: 5, translated: true }), res({ status: "blocked", latency: 0 }));
  c.add(tlp({ sid: B, pasid: 5, op: "ATS", ns: true }), res({ snoop: false, leafPa: 0x2000n, kind: 1, latency: 50 })); // ATS: counted, not audited
  const r = c.result();
  const zero = { interrupts: 0, blocked: 0 };
  assert.equal(r.devices, [
    {
      bdf: "00:02.0", sid: A, tlps: 7, translated: 3, faulted: 3, ...zero, interrupts: 1, noSnoop: 2, noSnoopForced: 1,
      faults: [{ code: 0x45, name: "SCT.6", count: 1 }, { code: 0x79, name: "SSS.2", count: 2 }], latencySum: 79, latencyMax: 30,
    },
    { bdf: "00:03.0", sid: B, tlps: 3, translated: 2, faulted: 0, ...zero, blocked: 1, noSnoop: 1, noSnoopForced: 1, faults: [], latencySum: 90, latencyMax: 50 },
  ]);
  assert.equal(r.pasids.map((p) => [p.pasid, p.tlps, p.translated, p.faulted, p.faults.map((f) => `${f.name}:${f.count}`).join(",")]), [
    [null, 6, 3, 2, "SSS.2:2"],
    [1, 1, 0, 1, "SCT.6:1"],
    [5, 3, 2, 0, ""],
  ]);
  assert.equal([r.noSnoop.tlps, r.noSnoop.forced, r.noSnoop.through], [3, 2, 1]);
  assert.equal(r.noSnoop.entries.map((e) => [e.leafPa, e.nsTlps, e.forced, e.through]), [[0x1000n, 1, 1, 0], [0x1008n, 1, 0, 1], [0x2000n, 1, 1, 0]]);
});

test("collector: the No-Snoop audit per leaf entry: IOVA range, SNP and PGSNP state, forced and let-through counts", () => {
  const c = new ReportCollector();
  // output page 0x80000000; the TLPs of 00:03.0 translate in domain 2, the others in domain 1; RID_PASID 0
  const ss = (addr: bigint, leafPte: bigint, snoop: boolean, sid = 0x10) =>
    c.add(tlp({ sid, addr, ns: true }), res({ leafPa: 0x5000n, leafPte, pageLg2: 12, snoop, snoopBy: snoop ? "pte" : "tlp", pa: 0x8000_0000n | (addr & 0xfffn), domain: sid === 0x18 ? 2 : 1, addressSpace: 0 }));
  ss(0x1234n, 0n, false);
  ss(0x1ff0n, SNP, true, 0x18); // SNP set later (remapped): state "0/1"
  ss(0x1000n, SNP, true, 0x20);
  for (const sid of [0x28, 0x30, 0x38]) ss(0x1008n, SNP, true, sid); // 6 devices: 4 kept, "more"
  // a 2M second-stage leaf, and a TLP of another page through the same entry (a reused table)
  c.add(tlp({ addr: 0x200040n, ns: true }), res({ leafPa: 0x6000n, pageLg2: 21, snoop: false }));
  c.add(tlp({ addr: 0x5ff000n, ns: true }), res({ leafPa: 0x6000n, pageLg2: 21, snoop: false }));
  // first stage: PGSNP forced one, the other PASID let one through
  c.add(tlp({ pasid: 5, addr: 0x7f0000001000n, ns: true }), res({ leafPa: 0x7000n, leafPte: SNP, kind: 1, snoop: true, snoopBy: "pgsnp" }));
  c.add(tlp({ pasid: 6, addr: 0x7f0000001800n, ns: true }), res({ leafPa: 0x7000n, leafPte: SNP, kind: 1, snoop: false, snoopBy: "tlp" }));
  // nested: the first-stage leaf keys the row, the second-stage leaf is kept
  c.add(tlp({ pasid: 9, addr: 0x400000n, ns: true }), res({ leafPa: 0x8000n, s2LeafPa: 0x9008n, kind: 3, snoop: false }));
  // legacy mode (0x10 | TT): SNP applies, PGSNP does not exist
  c.add(tlp({ addr: 0x3000n, ns: true }), res({ leafPa: 0xa000n, leafPte: SNP, kind: 0x10, snoop: true, snoopBy: "pte" }));
  // pass-through: no leaf entry
  c.add(tlp({ sid: 0x40, addr: 0x1000n, ns: true }), res({ leafPa: 0n, passthrough: true, snoop: false }));
  const a = c.result().noSnoop;
  assert.equal([a.tlps, a.forced, a.through], [13, 7, 6]);
  assert.equal(a.noLeaf, { tlps: 1, forced: 0, through: 1 });
  assert.is(a.capped, false);
  assert.equal(a.dropped, { entries: 0, tlps: 0 });
  const rows = a.entries.map((e) => ({ ...e }));
  assert.equal(rows.map((e) => e.leafPa), [0x5000n, 0x6000n, 0x7000n, 0x8000n, 0xa000n], "most NS TLPs first, then by address");
  assert.equal(rows[0], {
    leafPa: 0x5000n, stage: "second-stage", iovaLo: 0x1000n, iovaHi: 0x2000n, paLo: 0x8000_0000n, paHi: 0x8000_1000n, pageSize: 4096, movedPages: false, snp: "0/1", pgsnp: "0",
    nsTlps: 6, forced: 5, forcedByPgsnp: 0, forcedBySnp: 5, through: 1, decidedBy: { tlp: 1, pte: 5 }, devices: ["00:02.0", "00:03.0", "00:04.0", "00:05.0"], moreDevices: true,
    dids: [1, 2], moreDids: false, pasids: [0], morePasids: false, exact: true,
  });
  assert.equal([rows[1]!.iovaLo, rows[1]!.iovaHi, rows[1]!.pageSize, rows[1]!.movedPages, rows[1]!.snp, rows[1]!.through], [0x200000n, 0x600000n, 2 ** 21, true, "0", 2]);
  assert.equal([rows[1]!.paLo, rows[1]!.paHi, rows[1]!.dids, rows[1]!.pasids], [0n, 0x200000n, [1], []], "no PASID in the results: none listed");
  assert.equal([rows[2]!.stage, rows[2]!.snp, rows[2]!.pgsnp, rows[2]!.forcedByPgsnp, rows[2]!.through, rows[2]!.iovaLo, rows[2]!.iovaHi], ["first-stage", "n/a", "0/1", 1, 1, 0x7f0000001000n, 0x7f0000002000n]);
  assert.equal(rows[2]!.decidedBy, { pgsnp: 1, tlp: 1 }, "by the results' snoopBy");
  assert.equal([rows[3]!.stage, rows[3]!.s2LeafPa, rows[3]!.snp, rows[3]!.pgsnp], ["nested", 0x9008n, "n/a", "0"]);
  assert.equal([rows[4]!.stage, rows[4]!.snp, rows[4]!.pgsnp, rows[4]!.forcedBySnp], ["legacy", "1", "n/a", 1]);
});

test("collector: the audit table is capped; what it drops is counted, counts after a drop are marked as lower bounds", () => {
  const c = new ReportCollector({ maxAuditEntries: 2 });
  const hit = (leaf: bigint, n: number) => {
    for (let i = 0; i < n; i++) c.add(tlp({ addr: leaf << 4n, ns: true }), res({ leafPa: leaf, snoop: false }));
  };
  hit(0xa0n, 5);
  hit(0xb0n, 4);
  hit(0xc0n, 3);
  hit(0xd0n, 1); // 4 entries: the running table is full (2 x 2)
  hit(0xe0n, 6); // drops C (3) and D (1), keeps A and B; E may have been seen before: not exact
  hit(0xc0n, 1); // C comes back with 1
  const a = c.result().noSnoop;
  // at the end: E 6, A 5 kept; B 4 and C 1 left out
  assert.equal(a.entries.map((e) => [e.leafPa, e.nsTlps, e.exact]), [[0xe0n, 6, false], [0xa0n, 5, true]]);
  assert.equal(a.dropped, { entries: 4, tlps: 3 + 1 + 4 + 1 });
  assert.is(a.capped, true);
  assert.is(a.maxEntries, 2);
  assert.is(a.tlps, 20);
  assert.is(a.entries.reduce((s, e) => s + e.nsTlps, 0) + a.dropped.tlps + a.noLeaf.tlps, a.tlps, "every NS TLP is in a kept row, a dropped one, or without leaf");
});

test("collector: devices and PASIDs beyond the cap are summed in one 'other' row; totals stay exact", () => {
  const c = new ReportCollector({ maxGroups: 2 });
  for (const sid of [1, 2, 3, 4, 3]) c.add(tlp({ sid, pasid: sid }), res({}));
  const r = c.result();
  assert.equal(r.devices.map((d) => [d.bdf, d.tlps]), [["00:00.1", 1], ["00:00.2", 1], ["other", 3]]);
  assert.equal(r.pasids.map((p) => [p.pasid, p.other ?? false, p.tlps]), [[1, false, 1], [2, false, 1], [null, true, 3]]);
});

test("collector: faulting TLPs: the first N whole, counts by reason, device, PASID and page (capped, 'other' last)", () => {
  const c = new ReportCollector({ maxFaultRecords: 2, maxGroups: 2 });
  const A = 0x10, B = 0x18;
  c.add(tlp({ sid: A, line: 3 }), res({})); // seq 0: translated
  c.add(tlp({ sid: A, line: 4, addr: 0x9040n }), res(fault(0x79, "SSS.2"))); // seq 1
  c.add(tlp({ sid: B, line: 5, pasid: 7, op: "MWr", addr: 0x9ff8n }), res({ ...fault(0x59, "SPT.2"), fault: { code: 0x59, name: "SPT.2", recorded: false, level: 0 } })); // seq 2
  c.add(tlp({ sid: A, line: 6, addr: 0xa000n }), res(fault(0x79, "SSS.2"))); // seq 3: beyond the first 2
  c.add(tlp({ sid: B, line: 7, addr: 0xb000n }), res(fault(0x79, "SSS.2"))); // seq 4: a third page: "other"
  c.add(tlp({ sid: B, line: 8, addr: 0x9000n }), res(fault(0x45, "SCT.6"))); // seq 5
  const f = c.result().faults;
  assert.is(f.total, 5);
  assert.is(f.maxRecords, 2);
  assert.equal(f.first, [
    { seq: 1, line: 4, op: "MRd", bdf: "00:02.0", addr: 0x9040n, code: 0x79, name: "SSS.2", recorded: true },
    { seq: 2, line: 5, op: "MWr", bdf: "00:03.0", pasid: 7, addr: 0x9ff8n, code: 0x59, name: "SPT.2", recorded: false },
  ]);
  assert.equal(f.byReason, [{ code: 0x45, name: "SCT.6", count: 1 }, { code: 0x59, name: "SPT.2", count: 1 }, { code: 0x79, name: "SSS.2", count: 3 }]);
  assert.equal(f.byDevice, [
    { bdf: "00:02.0", count: 2, reasons: [{ code: 0x79, name: "SSS.2", count: 2 }] },
    { bdf: "00:03.0", count: 3, reasons: [{ code: 0x45, name: "SCT.6", count: 1 }, { code: 0x59, name: "SPT.2", count: 1 }, { code: 0x79, name: "SSS.2", count: 1 }] },
  ]);
  assert.equal(f.byPasid.map((p) => [p.pasid, p.count]), [[null, 4], [7, 1]]);
  // page 0x9000: 3 faults (00:02.0, 00:03.0 twice); page 0xa000: 1; page 0xb000 came third: "other"
  assert.equal(f.byPage, [
    { page: 0x9000n, count: 3, devices: ["00:02.0", "00:03.0"], moreDevices: false, reasons: [{ code: 0x45, name: "SCT.6", count: 1 }, { code: 0x59, name: "SPT.2", count: 1 }, { code: 0x79, name: "SSS.2", count: 1 }] },
    { page: 0xa000n, count: 1, devices: ["00:02.0"], moreDevices: false, reasons: [{ code: 0x79, name: "SSS.2", count: 1 }] },
    { page: null, count: 1, devices: ["00:03.0"], moreDevices: false, reasons: [{ code: 0x79, name: "SSS.2", count: 1 }] },
  ]);
  // an explicit seq (a ResultSink's) is kept, and the next TLP follows it
  const d = new ReportCollector();
  d.add(tlp({}), res(fault(0x79, "SSS.2")), 41);
  d.add(tlp({}), res(fault(0x79, "SSS.2")));
  assert.equal(d.result().faults.first.map((x) => x.seq), [41, 42]);
});

test("escaping: HTML text and attributes, and JSON that cannot close its script element", () => {
  assert.is(escapeHtml(`<a href="x">&'</a>`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  const j = jsonForScript({ s: "</script><!-- & \u2028" });
  assert.not.match(j, /<|>|&|\u2028/);
  assert.equal(JSON.parse(j), { s: "</script><!-- & \u2028" });
});

// ---- the CLI and the browser ------------------------------------------------------------------------

// A file name with HTML in it: everything taken from the run must come out escaped.
const scnFile = join(dir, `ns <b>&"'.json`);
const scenario = {
  arch: "vtd",
  build: {
    domains: [
      {
        id: 1, type: "ss", mappings: [
          { iova: "0x1000", pa: "0x80001000", size: "0x1000", snp: true },
          { iova: "0x2000", pa: "0x80002000", size: "0x1000" },
          { iova: "0x200000", pa: "0x40000000", size: "0x200000", pageSize: "2M" },
        ],
      },
      { id: 2, type: "fs", mappings: [{ iova: "0x7f0000001000", pa: "0x1a2b3c000", size: "0x1000" }] },
      { id: 3, type: "pt" },
    ],
    devices: [
      { bdf: "00:02.0", domain: 1, paside: false },
      { bdf: "00:03.0", pasid: 5, domain: 2, pgsnp: true },
      { bdf: "00:03.0", pasid: 6, domain: 2 },
      { bdf: "00:04.0", domain: 1 },
      { bdf: "00:05.0", domain: 3 },
    ],
  },
  trace: [
    "@100 MRd 00:02.0 addr=0x1040 ns", // SS leaf with SNP: forced
    "@110 MWr 00:02.0 addr=0x1080 ns",
    "@115 MRd 00:04.0 addr=0x1100 ns", // the same leaf from another device
    "@120 MRd 00:02.0 addr=0x2000 ns", // SNP clear: let through
    "@130 MRd 00:02.0 addr=0x2ff0 ns len=16",
    "@140 MRd 00:02.0 addr=0x2100", // not No-Snoop
    "@150 MRd 00:02.0 addr=0x200040 ns", // 2M leaf: let through
    "@160 MRd 00:02.0 addr=0x3ff000 ns",
    "@170 MRd 00:03.0 pasid=5 addr=0x7f0000001000 ns", // PGSNP: forced
    "@180 MRd 00:03.0 pasid=6 addr=0x7f0000001800 ns", // same first-stage leaf, no PGSNP: let through
    "@185 MRd 00:03.0 pasid=6 addr=0x7f0000001900",
    "@190 MRd 00:02.0 addr=0x9000 ns", // unmapped: SSS.2
    "@200 MRd 00:02.0 pasid=1 addr=0x1000", // PASIDE=0: SCT.6
    "@205 MRd 00:03.0 pasid=7 addr=0x1000 ns", // no PASID entry: SPT.2
    "@207 MRd 00:05.0 addr=0x5000 ns", // pass-through: no leaf entry
    "@210 MWr 00:02.0 addr=0xfee00000", // interrupt request
  ],
};
writeFileSync(scnFile, JSON.stringify(scenario, null, 2));

/**
 * The expected audit rows, by IOVA page: [NS TLPs, forced, by PGSNP, by SNP, let through, stage, SNP,
 * PGSNP, page, devices, output PA range, DID, PASID]. Domain 1 (DID 1) translates the devices without
 * PASID through RID_PASID 0; domain 2 (DID 2) PASIDs 5 and 6 of 00:03.0.
 */
const expectedAudit: Record<string, [number, number, number, number, number, string, string, string, string, string, string, string, string]> = {
  "0x1000": [3, 3, 0, 3, 0, "second-stage", "1", "0", "4K", "00:02.0 00:04.0", "0x80001000 .. 0x80002000", "1", "0"],
  "0x2000": [2, 0, 0, 0, 2, "second-stage", "0", "0", "4K", "00:02.0", "0x80002000 .. 0x80003000", "1", "0"],
  "0x200000": [2, 0, 0, 0, 2, "second-stage", "0", "0", "2M", "00:02.0", "0x40000000 .. 0x40200000", "1", "0"],
  "0x7f0000001000": [2, 1, 1, 0, 1, "first-stage", "n/a", "0/1", "4K", "00:03.0", "0x1a2b3c000 .. 0x1a2b3d000", "2", "5 6"],
};

interface Row {
  seq: number;
  line: number;
  bdf: string;
  pasid?: number;
  fault?: { code: number; name: string };
  addr: string;
  ns?: boolean;
  status: string;
  pte?: string;
  pageSize?: number;
  snoop?: boolean;
}

function runHtml(name: string, ...extra: string[]) {
  const html = join(dir, `${name}.html`), results = join(dir, `${name}.jsonl`), report = join(dir, `${name}.json`);
  const r = cli("run", scnFile, "--html", html, "--results", results, "--report", report, ...extra);
  assert.is(r.status, 0, r.stderr);
  const rows: Row[] = readFileSync(results, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  return { html, text: readFileSync(html, "utf8"), rows, report: JSON.parse(readFileSync(report, "utf8")) as RunSummary };
}

/** The leaf entry of each audited page, from --results: the audit must agree with the per-TLP results. */
function leafByPage(rows: Row[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of rows) {
    if (!r.ns || r.status !== "ok" || !r.pte) continue;
    const page = (BigInt(r.addr) / BigInt(r.pageSize!)) * BigInt(r.pageSize!);
    m.set("0x" + page.toString(16), r.pte);
  }
  return m;
}

test("run --html writes one self-contained file: uPlot and the data inlined, text escaped, no external reference", () => {
  const { text, report, rows } = runHtml("static");
  assert.ok(text.startsWith("<!DOCTYPE html>"));
  assert.ok(text.includes("uPlot"), "uPlot inlined");
  assert.ok(text.includes(".uplot"), "uPlot CSS inlined");
  assert.not.match(text, /<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!github\.com\/leeoniya)/, "nothing loaded from elsewhere");
  assert.not.ok(text.includes("<b>&"), "the scenario name is escaped");
  assert.ok(text.includes("ns &lt;b&gt;&amp;&quot;&#39;.json"));
  // the embedded summary is the --report summary
  const json = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(text)![1]!;
  assert.equal(JSON.parse(json).summary, report);
  // audit rows agree with the per-TLP results
  const leaves = leafByPage(rows);
  assert.is(leaves.size, Object.keys(expectedAudit).length);
  for (const [page, leaf] of leaves) assert.ok(text.includes(`data-leaf="${leaf}"`), `audit row for page ${page}`);
});

test("run --html: a failed run leaves no HTML file behind", () => {
  const bad = join(dir, "bad.json");
  writeFileSync(bad, JSON.stringify({ ...scenario, trace: ["MRd 00:02.0 adr=0x1000"] }));
  const out = join(dir, "bad.html");
  const before = readdirSync(dir).length;
  assert.is(cli("run", bad, "--html", out).status, 2);
  assert.not.ok(existsSync(out));
  assert.is(readdirSync(dir).length, before);
});

test("chart data: hit rates per cache and per paging-structure level, groups, latency bins", () => {
  const { report } = runHtml("charts");
  const c = new ReportCollector();
  const data = chartData(report, c.result());
  const iotlb = report.caches.find((x) => x.name === "iotlb")!;
  assert.is(data.caches.find((x) => x.name === "iotlb")!.hitRate, (100 * iotlb.hits) / iotlb.lookups);
  assert.ok(data.pwc);
  assert.is(data.pwc!.levels.length, 4);
  const l = data.latency!;
  assert.ok(l, "timed run: a latency histogram");
  const total = l.series.reduce((s, x) => s + x.counts.reduce((a, b) => a + b, 0), 0);
  assert.is(total, report.timing!.latency.count, "every latency is in the histogram");
  assert.is(l.x.length, l.series[0]!.counts.length + 1, "bin edges: one more than bins");
  assert.ok(l.x.every((v, i) => i === 0 || v > l.x[i - 1]!), "edges increase");
});

test("chart data: the latency histogram on a log axis keeps every latency, exact bins for narrow spreads, log-linear ones for wide", () => {
  const { report } = runHtml("charts-log");
  const t = report.timing!;
  const none = Object.fromEntries(Object.keys(t.histograms).map((k) => [k, []])) as unknown as typeof t.histograms;
  const chart = (h: Partial<typeof t.histograms>) => chartData({ ...report, timing: { ...t, histograms: { ...none, ...h } } }, new ReportCollector().result()).latency!;
  // narrow: 1-cycle bins from 10 to 12
  const narrow = chart({ iotlbHit: [[10, 2], [12, 1]] });
  assert.equal([narrow.binsPerOctaveLg2, narrow.x, narrow.series[0]!.counts], [12, [10, 11, 12, 13], [2, 0, 1]]);
  // 0 .. 5000 (bucket 4992..5007) and 2^34: 1 bin per power of two at most 256 bins
  const wide = chart({ iotlbHit: [[0, 1], [3, 1]], fullWalk: [[4992, 2], [2 ** 34, 1]] });
  assert.ok(wide.x.length - 1 <= 256, `${wide.x.length - 1} bins`);
  // d = 3 would need 8 + 31 x 8 + 1 = 257 bins; d = 2: 1-cycle bins below 4, then 4 per power of two
  // (8..15: 2-cycle bins; 4096..8191: 1024-cycle bins; from 2^34: 2^32-cycle bins)
  assert.is(wide.binsPerOctaveLg2, 2);
  assert.equal(wide.x.slice(0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]);
  const at = (v: number) => wide.x.findIndex((e, i) => e <= v && v < wide.x[i + 1]!);
  assert.equal([wide.x[at(4992)], wide.x[at(4992) + 1]], [4096, 5120]);
  assert.equal([wide.x[at(2 ** 34)], wide.x.at(-1)], [2 ** 34, 2 ** 34 + 2 ** 32]);
  assert.is(wide.x.length - 1, 4 + 32 * 4 + 1, "bins 0..3, 4 per power of two from 2^2 to 2^33, and the first from 2^34");
  assert.equal([wide.series[0]!.counts[0], wide.series[0]!.counts[3], wide.series[1]!.counts[at(4992)], wide.series[1]!.counts.at(-1)], [1, 1, 2, 1]);
  assert.is(wide.series.reduce((s, x) => s + x.counts.reduce((a, b) => a + b, 0), 0), 5);
});

async function browserCheck(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.IOMMU_EMU_REQUIRE_BROWSER === "1") assert.unreachable(`${CHROMIUM} not found, and IOMMU_EMU_REQUIRE_BROWSER=1 (CI): the HTML report's browser checks must run (.ci/run installs Debian's chromium)`);
    console.log(`\n  SKIPPED: ${CHROMIUM} not found: the browser checks of the HTML report are skipped (apt-get install chromium; .ci/run installs it)`);
    return;
  }
  const { chromium } = await import("playwright-core");
  const timed = runHtml("timed");
  const functional = runHtml("functional", "--functional");
  const profile = mkdtempSync(join(tmpdir(), "iommu-emu-chromium-")); // a fresh, empty --user-data-dir
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") errors.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("request", (r) => {
      if (!r.url().startsWith("file:")) requests.push(r.url());
    });
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));

    // ---- the timed run
    // the scripts are inline: they have run by the load event goto waits for
    await page.goto(pathToFileURL(timed.html).href);
    assert.equal(errors, [], "no page errors");
    assert.is(await page.getAttribute("html", "data-rendered"), "1", "the page script ran to its end");
    assert.is(await page.title(), `iommu-emu report: ${scnFile}`, "the title holds the file name as text");
    assert.is(await page.locator(".meta b").count(), 0, "no element injected by the file name");

    // charts: latency, caches, paging-structure levels, devices, PASIDs; each a uPlot canvas with coloured bars
    const charts = await page.$$eval(".uplot", (els: any[]) =>
      els.map((u) => {
        const c = u.querySelector("canvas");
        const ctx = c.getContext("2d");
        const px = ctx.getImageData(0, 0, c.width, c.height).data;
        // bar fills: a series colour at alpha 0xcc (outlines are opaque, grid and text grey)
        let coloured = 0;
        for (let i = 0; i < px.length; i += 4) if (Math.abs(px[i + 3] - 0xcc) <= 8 && (Math.abs(px[i] - px[i + 1]) > 40 || Math.abs(px[i + 1] - px[i + 2]) > 40)) coloured++;
        const box = c.getBoundingClientRect();
        return { id: u.parentElement.id, w: c.width, h: c.height, cw: box.width, ch: box.height, coloured, title: u.querySelector(".u-title")?.textContent ?? "" };
      }),
    );
    assert.equal(charts.map((c) => c.id), ["chart-latency", "chart-caches", "chart-pwc", "chart-devices", "chart-pasids"]);
    assert.is(await page.locator(".uplot canvas").count(), 5);
    for (const c of charts) {
      assert.ok(c.w > 0 && c.h > 0 && c.cw > 0 && c.ch > 0, `${c.id}: canvas ${c.w}x${c.h}`);
      assert.ok(c.coloured > 100, `${c.id}: bars drawn (${c.coloured} coloured pixels)`);
    }
    // every chart's legend reads without a cursor: each series' name and a swatch of its colour, no
    // value cells (uPlot's live legend shows values only under the cursor, and "--" otherwise)
    const legends = await page.$$eval(".uplot", (els: any[]) =>
      els.map((u) => ({
        id: u.parentElement.id,
        items: [...u.querySelectorAll(".u-legend .u-series")].map((tr: any) => {
          const m = tr.querySelector(".u-marker");
          const st = (globalThis as any).getComputedStyle(m);
          const box = m.getBoundingClientRect();
          return { label: tr.querySelector(".u-label").textContent, border: st.borderTopColor, background: st.backgroundColor, w: box.width, h: box.height, visible: (globalThis as any).getComputedStyle(tr).display !== "none" };
        }),
        values: [...u.querySelectorAll(".u-legend .u-value")].filter((v: any) => (globalThis as any).getComputedStyle(v).display !== "none").length,
      })),
    );
    const rgb = (hex: string) => `rgb(${parseInt(hex.slice(1, 3), 16)}, ${parseInt(hex.slice(3, 5), 16)}, ${parseInt(hex.slice(5, 7), 16)})`;
    const byId = new Map(legends.map((l) => [l.id, l]));
    assert.equal(byId.get("chart-latency")!.items.map((i) => i.label), ["IOTLB hit", "PDE-cache hit", "PDPE-cache hit", "full walk", "fault", "other"], "the classes that occurred (the 2M page from the PDPE cache), no x series");
    assert.is(byId.get("chart-latency")!.items[0]!.border, rgb("#2563eb"), "IOTLB hit in its colour");
    assert.is(byId.get("chart-latency")!.items[4]!.border, rgb("#dc2626"), "fault in its colour");
    assert.equal(byId.get("chart-devices")!.items.map((i) => [i.label, i.border]), [["translated", rgb("#16a34a")], ["faulted", rgb("#dc2626")]]);
    assert.equal(byId.get("chart-pwc")!.items.map((i) => i.label), ["first stage", "second stage"]);
    for (const l of legends) {
      assert.is(l.values, 0, `${l.id}: no value cells`);
      for (const i of l.items) assert.ok(i.visible && i.w > 4 && i.h > 4 && i.background !== "rgba(0, 0, 0, 0)", `${l.id}: ${i.label} has a visible swatch (${i.background})`);
    }
    // the latency histogram's x axis is logarithmic (base 2): each power of two is as wide as the next
    const axis = await page.evaluate(() => {
      const u = (globalThis as any).iommuEmuCharts.latency;
      return { distr: u.scales.x.distr, log: u.scales.x.log, d1: u.valToPos(2, "x") - u.valToPos(1, "x"), d2: u.valToPos(8, "x") - u.valToPos(4, "x") };
    });
    assert.equal([axis.distr, axis.log], [3, 2]);
    assert.ok(axis.d1 > 0 && Math.abs(axis.d1 - axis.d2) < 0.01, `1..2 is ${axis.d1} px, 4..8 is ${axis.d2} px`);

    // the faults: by reason, device, PASID and page, and the faulting TLPs with the --results seq and line
    const faultRows = timed.rows.filter((r) => r.status === "fault");
    assert.equal(faultRows.map((r) => [r.seq, r.bdf, r.pasid, r.addr, r.fault!.name]), [[11, "00:02.0", undefined, "0x9000", "SSS.2"], [12, "00:02.0", 1, "0x1000", "SCT.6"], [13, "00:03.0", 7, "0x1000", "SPT.2"]]);
    const tlpTable = await page.$$eval("#fault-tlps-table tbody tr", (trs: any[]) => trs.map((t) => [...t.cells].map((c: any) => c.textContent)));
    assert.equal(tlpTable, [
      ["11", String(faultRows[0]!.line), "MRd", "00:02.0", "-", "0x9000", "0x79", "SSS.2", "yes"],
      ["12", String(faultRows[1]!.line), "MRd", "00:02.0", "1", "0x1000", "0x45", "SCT.6", "yes"],
      ["13", String(faultRows[2]!.line), "MRd", "00:03.0", "7", "0x1000", "0x59", "SPT.2", "yes"],
    ]);
    const cellsOf = (id: string) => page.$$eval(`#${id} tbody tr`, (trs: any[]) => trs.map((t) => [...t.cells].map((c: any) => c.textContent)));
    assert.equal(await cellsOf("fault-devices-table"), [["00:02.0", "2", "SCT.6 x1, SSS.2 x1"], ["00:03.0", "1", "SPT.2 x1"]]);
    assert.equal(await cellsOf("fault-pasids-table"), [["no PASID", "1", "SSS.2 x1"], ["PASID 1", "1", "SCT.6 x1"], ["PASID 7", "1", "SPT.2 x1"]]);
    assert.equal(await cellsOf("fault-pages-table"), [["0x1000", "2", "SCT.6 x1, SPT.2 x1", "00:02.0 00:03.0"], ["0x9000", "1", "SSS.2 x1", "00:02.0"]]);
    assert.match(await page.locator("#faults").innerText(), /3 faulting TLPs\. Every faulting TLP is in the table/);

    // the No-Snoop audit: one row per leaf entry, exact counts
    const audit = await page.$$eval("#audit-table tbody tr", (trs: any[]) =>
      trs.map((tr) => {
        // (no named inner functions: tsx would wrap them in a helper the page does not have)
        const cells = [...tr.cells].map((c: any) => c.textContent);
        const counts = ["c-ns", "c-forced", "c-pgsnp", "c-snp", "c-through"].map((cls) => Number(tr.querySelector(`td.${cls}`).textContent));
        const [devices, pa, did, pasid] = ["c-devices", "c-pa", "c-did", "c-pasid"].map((cls) => tr.querySelector(`td.${cls}`).textContent);
        return { leaf: tr.getAttribute("data-leaf"), cls: tr.className, iova: cells[2], page: cells[4], stage: cells[1], snp: cells[7], pgsnp: cells[8], devices, pa, did, pasid, counts };
      }),
    );
    const auditHeads = await page.$$eval("#audit-table thead th", (ths: any[]) => ths.map((t) => t.textContent));
    assert.equal(auditHeads.slice(0, 9), ["leaf entry", "stage", "IOVA range", "output PA", "page", "DID", "PASID", "SNP", "PGSNP"]);
    const leaves = leafByPage(timed.rows);
    assert.is(audit.length, 4);
    for (const row of audit) {
      const page = row.iova.split(" ")[0]!;
      const want = expectedAudit[page];
      assert.ok(want, `unexpected audit row ${row.iova}`);
      const [ns, forced, byPgsnp, bySnp, through, stage, snp, pgsnp, size, devices, pa, did, pasid] = want!;
      assert.equal(row.counts, [ns, forced, byPgsnp, bySnp, through], `counts of ${page}`);
      assert.equal([row.stage, row.snp, row.pgsnp, row.page, row.devices], [stage, snp, pgsnp, size, devices], `state of ${page}`);
      assert.equal([row.pa, row.did, row.pasid], [pa, did, pasid], `output PA, DID, PASID of ${page}`);
      assert.is(row.leaf, leaves.get(page), `leaf entry of ${page} as in --results`);
      assert.is(row.cls, through ? "through" : "forced");
    }
    assert.is(audit[0]!.iova, "0x1000 .. 0x2000", "most No-Snoop TLPs first");
    assert.equal(audit.slice(1).map((r) => r.leaf), [...audit.slice(1).map((r) => r.leaf!)].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)), "ties by leaf address");
    const auditHead = await page.$$eval("#nosnoop .figures dd", (els: any[]) => els.map((e) => e.firstChild.textContent.trim()));
    assert.equal(auditHead.slice(0, 5), ["10", "4", "6", "4", "1"], "NS TLPs, forced, let through, leaf entries, without leaf");
    assert.is(timed.report.snoop.noSnoopTlps, 10);

    // sorting: "let through" descending, then "leaf entry" ascending
    await page.click("#audit-table th:has-text('let through')");
    const byThrough = await page.$$eval("#audit-table tbody td.c-through", (els: any[]) => els.map((e) => Number(e.textContent)));
    assert.equal(byThrough, [2, 2, 1, 0]);
    await page.click("#audit-table th:has-text('leaf entry')");
    const byLeaf = await page.$$eval("#audit-table tbody tr", (trs: any[]) => trs.map((t) => t.getAttribute("data-leaf")));
    assert.equal(byLeaf, [...byLeaf].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)));

    // per device and per PASID
    const dev = await page.$$eval("#devices-table tbody tr", (trs: any[]) => trs.map((t) => [...t.cells].slice(0, 9).map((c: any) => c.textContent)));
    assert.equal(dev, [
      ["00:02.0", "10", "7", "2", "SCT.6 x1, SSS.2 x1", "1", "0", "6", "2"],
      ["00:03.0", "4", "3", "1", "SPT.2 x1", "0", "0", "2", "1"],
      ["00:04.0", "1", "1", "0", "-", "0", "0", "1", "1"],
      ["00:05.0", "1", "1", "0", "-", "0", "0", "1", "0"],
    ]);
    const pas = await page.$$eval("#pasids-table tbody tr", (trs: any[]) => trs.map((t) => [...t.cells].slice(0, 4).map((c: any) => c.textContent)));
    assert.equal(pas, [["no PASID", "11", "9", "1"], ["PASID 1", "1", "0", "1"], ["PASID 5", "1", "1", "0"], ["PASID 6", "2", "2", "0"], ["PASID 7", "1", "0", "1"]]);
    assert.equal(errors, [], "no page errors");

    // ---- the functional run: no latency chart, the rest drawn
    await page.goto(pathToFileURL(functional.html).href);
    assert.equal(errors, [], "no page errors");
    assert.is(await page.getAttribute("html", "data-rendered"), "1");
    assert.is(await page.locator(".uplot canvas").count(), 4);
    assert.match(await page.locator("#latency").innerText(), /Functional run/);
    assert.is(await page.locator("#audit-table tbody tr").count(), 4);
    assert.equal(errors, [], "no page errors");

    // ---- a long audit table: the first AUDIT_ROWS_SHOWN rows until "show all"; sorting covers every row
    const many = new ReportCollector();
    for (let i = 0; i < AUDIT_ROWS_SHOWN + 100; i++)
      for (let k = 0; k <= i % 7; k++) many.add(tlp({ addr: BigInt(i) << 12n, ns: true }), res({ leafPa: 0x100000n + 8n * BigInt(i), snoop: i % 3 === 0, snoopBy: i % 3 === 0 ? "pte" : "tlp", leafPte: i % 3 === 0 ? SNP : 0n }));
    const longFile = join(dir, "long.html");
    writeFileSync(longFile, renderHtmlReport(timed.report, many.result()));
    await page.goto(pathToFileURL(longFile).href);
    assert.equal(errors, [], "no page errors");
    const visible = () => page.locator("#audit-table tbody tr:visible").count();
    assert.is(await page.locator("#audit-table tbody tr").count(), AUDIT_ROWS_SHOWN + 100);
    assert.is(await visible(), AUDIT_ROWS_SHOWN);
    await page.click("#audit-table th:has-text('leaf entry')");
    const firstLeaves = await page.$$eval("#audit-table tbody tr", (trs: any[]) => trs.slice(0, 3).map((t) => t.getAttribute("data-leaf")));
    assert.equal(firstLeaves, ["0x100000", "0x100008", "0x100010"], "sorted over every row, hidden ones included");
    await page.click("button[data-show-all='audit-table']");
    assert.is(await visible(), AUDIT_ROWS_SHOWN + 100);
    assert.equal(errors, [], "no page errors");
    assert.equal(requests, [], "no network requests");
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

test("the report in headless Chromium: charts drawn, audit rows with exact counts, sorting, no page errors", async () => {
  await browserCheck();
});

test("renderHtmlReport on an empty run", () => {
  const empty = JSON.parse(readFileSync(join(dir, "static.json"), "utf8")) as RunSummary;
  const html = renderHtmlReport({ ...empty, caches: [], timing: undefined } as RunSummary, new ReportCollector().result());
  assert.match(html, /No cache is enabled/);
  assert.match(html, /No No-Snoop TLP went through a leaf entry/);
});

test.run();
