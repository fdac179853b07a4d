/**
 * examples/gpu-nosnoop end to end (README "Cache coherency"): one trace (gpu.trace: the vfio GPU
 * 01:00.0 attaches to domain 2, enforce-coherency 2, domain 2 maps IOVA 0x100000-0x101fff to
 * 0x90000000, then TLP 0 a snooped read and TLPs 1 and 2 No-Snoop writes of the two pages) under
 * four IOMMU configurations; each run's refusal, each TLP's snoop decision, and the wbinvd decision
 * of the VM (group 1, the GPU's user-owned group) in --report, the printed summary and --html.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, "bin/iommu-emu.mjs"), ...args], { cwd: root, encoding: "utf8" });
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-gpu-nosnoop-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

interface Line {
  seq: number;
  status: string;
  event?: string;
  reason?: string;
  snoop?: boolean;
  snoopBy?: string;
  pte?: string;
  pa?: string;
}

function run(file: string, ...extra: string[]) {
  const name = file.replace(/\W/g, "_");
  const results = join(dir, `${name}.jsonl`), report = join(dir, `${name}.json`);
  const r = cli("run", file, "--results", results, "--report", report, ...extra);
  assert.is(r.status, 0, r.stderr);
  const lines = readFileSync(results, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Line);
  return { stdout: r.stdout, refusals: lines.filter((l) => l.status === "refused").map((l) => l.reason), tlps: lines.filter((l) => l.event === undefined), report: JSON.parse(readFileSync(report, "utf8")) };
}

const issued = { held: true, tlps: 2, first: [1, 2] };

/** The let-through entries the report names must be the leaf entries the results name for the same TLPs. */
function through(tlps: Line[], addrs: string[], ptes: string[]) {
  return tlps.slice(1).map((t, i) => ({ seq: t.seq, bdf: "01:00.0", addr: addrs[i], leafPa: t.pte, leafPte: ptes[i], snoopBy: "tlp" }));
}

test("VT-d with ECAP.SC: enforced, the No-Snoop writes snooped by their leaf PTE (SNP, snoopBy pte): no wbinvd", () => {
  const r = run("examples/gpu-nosnoop/scenario.json");
  assert.equal(r.refusals, []);
  assert.equal(r.tlps.map((t) => [t.seq, t.status, t.pa, t.snoop, t.snoopBy]), [
    [0, "ok", "0x90000000", true, "pte"],
    [1, "ok", "0x90000000", true, "pte"],
    [2, "ok", "0x90001000", true, "pte"],
  ]);
  assert.equal(r.report.wbinvd, [{ vm: "group 1 (01:00.0)", devices: ["01:00.0"], noSnoopIssued: issued, letThrough: { held: false, tlps: 0, first: [] }, platformHonoursNoSnoop: true, wbinvd: false }]);
  assert.match(r.stdout, "group 1 (01:00.0): wbinvd not needed [01:00.0]");
});

test("VT-d without ECAP.SC: refused, leaves without SNP (R|W = 0x3), both writes let through: wbinvd", () => {
  const r = run("examples/gpu-nosnoop/vtd-no-sc.json");
  assert.equal(r.refusals, ["enforce-coherency 2: 01:00.0 is attached to domain 2 and the VT-d unit has no snoop control (ECAP.SC=0)"]);
  assert.equal(r.tlps.map((t) => [t.seq, t.snoop, t.snoopBy]), [[0, true, "tlp"], [1, false, "tlp"], [2, false, "tlp"]]);
  const [w] = r.report.wbinvd;
  // The second page's leaf is the next entry of the same leaf table: IOVA index 0x101 after 0x100.
  assert.is(BigInt(r.tlps[2]!.pte!) - BigInt(r.tlps[1]!.pte!), 8n);
  assert.equal(w, { vm: "group 1 (01:00.0)", devices: ["01:00.0"], noSnoopIssued: issued, letThrough: { held: true, tlps: 2, first: through(r.tlps, ["0x100000", "0x101000"], ["0x90000003", "0x90001003"]) }, platformHonoursNoSnoop: true, wbinvd: true });
  assert.match(r.stdout, "group 1 (01:00.0): wbinvd needed [01:00.0]");
  assert.match(r.stdout, `TLP 1 01:00.0 0x100000: leaf ${r.tlps[1]!.pte} = 0x90000003`);
});

test("SMMUv3 with CANWBS: enforced (nothing written), the writes made coherent by CANWBS: no wbinvd", () => {
  const r = run("examples/gpu-nosnoop/smmu-canwbs.json");
  assert.equal(r.refusals, []);
  assert.equal(r.tlps.map((t) => [t.seq, t.snoop, t.snoopBy]), [[0, true, "canwbs"], [1, true, "canwbs"], [2, true, "canwbs"]]);
  assert.equal(r.report.wbinvd, [{ vm: "group 1 (01:00.0)", devices: ["01:00.0"], noSnoopIssued: issued, letThrough: { held: false, tlps: 0, first: [] }, platformHonoursNoSnoop: true, wbinvd: false }]);
});

test("SMMUv3 without CANWBS: refused, both writes let through: wbinvd (and not when the platform ignores No-Snoop)", () => {
  const r = run("examples/gpu-nosnoop/smmu-no-canwbs.json", "--html", join(dir, "smmu.html"));
  assert.equal(r.refusals, ["enforce-coherency 2: 01:00.0 is attached to domain 2 and its root complex has no CANWBS (IORT memory access flags): No-Snoop stays non-coherent"]);
  assert.equal(r.tlps.map((t) => [t.seq, t.snoop, t.snoopBy]), [[0, true, "stage1-attr"], [1, false, "tlp"], [2, false, "tlp"]]);
  // io-pgtable-arm stage-1 page: valid|page (0x3), AttrIndx 1 (0x4), AP[1] (0x40), SH inner (0x300), AF (0x400), nG (0x800); PXN|UXN (bits 53, 54).
  const pte = (pa: bigint) => "0x" + ((3n << 53n) | pa | 0xf47n).toString(16);
  const w = { vm: "group 1 (01:00.0)", devices: ["01:00.0"], noSnoopIssued: issued, letThrough: { held: true, tlps: 2, first: through(r.tlps, ["0x100000", "0x101000"], [pte(0x90000000n), pte(0x90001000n)]) }, platformHonoursNoSnoop: true, wbinvd: true };
  assert.equal(r.report.wbinvd, [w]);
  const html = readFileSync(join(dir, "smmu.html"), "utf8");
  assert.match(html, `<tr data-vm="group 1 (01:00.0)" class="through">`);
  assert.match(html, "<h3>wbinvd per VM</h3>");

  // The same platform with a root complex that snoops every access: the third condition fails.
  const scenario = JSON.parse(readFileSync(join(root, "examples/gpu-nosnoop/smmu-no-canwbs.json"), "utf8"));
  scenario.config.platform = { honoursNoSnoop: false };
  scenario.trace = join(root, "examples/gpu-nosnoop/gpu.trace");
  const f = join(dir, "ignores.json");
  writeFileSync(f, JSON.stringify(scenario));
  const q = run(f);
  assert.equal(q.report.wbinvd, [{ ...w, letThrough: { ...w.letThrough, first: through(q.tlps, ["0x100000", "0x101000"], [pte(0x90000000n), pte(0x90001000n)]) }, platformHonoursNoSnoop: false, wbinvd: false }]);
});

test.run();
