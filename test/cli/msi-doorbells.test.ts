/**
 * MSI doorbell mappings in domains the driver side makes or moves devices into at run time
 * (src/iommu/iommu.ts msiMap; README "PASIDs and reserved regions"), through `run --results
 * --refusals results`: on SMMUv3 a device that attaches to (or is replaced into) a paging domain
 * lacking its doorbell pages gets them mapped at the SW_MSI window's pages (doorbell k at
 * 0x8000000 + k * 0x1000, Linux MSI_IOVA_BASE), once per domain, into a nested domain's stage-2
 * parent (iommufd find_hwpt_paging + iommufd_group_setup_msi); on VT-d nothing is mapped (its
 * interrupt window is untranslated). Every PA and count below follows from that layout.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-msi-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a scenario object; each result line as [trace line, status, doorbell, PA, fault name or refusal reason], and the summary. */
function run(name: string, scn: unknown): { lines: unknown[][]; raw: Record<string, unknown>[]; stdout: string } {
  const f = join(dir, `${name}.json`);
  writeFileSync(f, JSON.stringify(scn));
  const out = join(dir, `${name}.jsonl`);
  const r = spawnSync(process.execPath, [join(root, "bin/iommu-emu.mjs"), "run", f, "--results", out, "--refusals", "results"], { cwd: root, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines: lines.map((l) => [l.line, l.status, l.doorbell, l.pa, (l.fault as { name: string } | undefined)?.name ?? l.reason]), raw: lines, stdout: r.stdout };
}

// The scenario is written on one line (JSON.stringify without indent): every trace line is line 1.
const L = 1;
const U = undefined;
/** The two doorbells (GITS_TRANSLATER at ITS base + 0x10040): pages 0x8090000 and 0x80b0000. */
const DOORBELLS = { smmu: { msiDoorbells: ["0x8090040", "0x80b0040"] } };
const SW_MSI_REFUSAL = "the software MSI window, where the MSI doorbell mappings go";

test("smmuv3, domain-alloc: a vfio device's MSI faults before it is configured, is blocked once its group is user-owned, and reaches the doorbells once it is attached; a map over the doorbell page is refused", () => {
  const { lines, stdout } = run("user", {
    arch: "smmuv3",
    topology: [
      { bdf: "00:1c.0", type: "root-port" },
      { bdf: "01:00.0", type: "endpoint", parent: "00:1c.0" },
      { bdf: "00:1d.0", type: "root-port" },
      { bdf: "02:00.0", type: "endpoint", parent: "00:1d.0" },
    ],
    // A kernel device in a build domain so that the SMMU is on (its domain has the doorbells from the load).
    build: { domains: [{ id: 1, type: "s1" }], devices: [{ bdf: "00:03.0", domain: 1 }] },
    domainAlloc: [{ id: 5, kind: "paging" }],
    config: DOORBELLS,
    trace: [
      "MWr 01:00.0 addr=0x8000040",
      "bind 01:00.0 vfio",
      "MWr 01:00.0 addr=0x8000040",
      "attach 01:00.0 domain=5",
      "MWr 01:00.0 addr=0x8000040",
      "MWr 01:00.0 addr=0x8001040",
      "MRd 01:00.0 addr=0x8000040",
      "map 5 0x8000000 0x90000000 0x1000",
      "attach 02:00.0 domain=5",
      "MWr 02:00.0 addr=0x8001040",
    ],
  });
  assert.equal(lines, [
    [L, "fault", U, U, "C_BAD_STREAMID"], // never attached: no STE for the stream, as before this change
    [L, "blocked", U, U, U], // the vfio bind put the group in the blocking domain
    [L, "interrupt", "0x8090040", U, U], // window page 0 -> doorbell 0's page 0x8090000, offset 0x40
    [L, "interrupt", "0x80b0040", U, U], // window page 1 -> doorbell 1's page 0x80b0000
    [L, "ok", U, "0x8090040", U], // iommufd maps the page IOMMU_READ | IOMMU_WRITE | IOMMU_MMIO: a read is translated
    // The root port 00:1c.0 is the group's other requester ID: its window merges with 01:00.0's.
    [L, "refused", U, U, `map 0x8000000+0x1000 in domain "5": it overlaps the SW_MSI region 0x8000000-0x80fffff of 00:1c.0, 01:00.0, ${SW_MSI_REFUSAL}`],
    [L, "interrupt", "0x80b0040", U, U], // the second device finds the pages in place
  ]);
  // Once per domain: 2 pages for domain 5 at the first attach, none at the second; no trace map succeeded.
  assert.match(stdout, /\n\s+driver maps \/ unmaps\s+2 \/ 0\n/);
  assert.match(stdout, /\n\s+interrupt requests\s+3\n/);
});

test("smmuv3, nested: the doorbell page goes into the stage-2 parent at IPA 0x8000000, where the guest's stage 1 points its MSIs; the nested stage 1 gets none", () => {
  const { lines, stdout } = run("nested", {
    arch: "smmuv3",
    build: { domains: [{ id: 1, type: "s1" }, { id: 7, type: "s2" }, { id: 8, type: "nested", parent: 7 }], devices: [{ bdf: "00:03.0", domain: 1 }] },
    config: { smmu: { msiDoorbells: ["0x8090040"] } },
    trace: [
      "attach 02:00.0 domain=8", // domain 8 had no device at load: no doorbell anywhere for it yet
      "map 8 0x9000000 0x8000000 0x1000", // the guest's stage 1: IOVA 0x9000000 -> IPA 0x8000000 (the window)
      "MWr 02:00.0 addr=0x9000040",
      "MWr 02:00.0 addr=0x8000040",
      "map 7 0x8000000 0x90000000 0x1000",
    ],
  });
  assert.equal(lines, [
    [L, "interrupt", "0x8090040", U, U], // stage 1 to IPA 0x8000040, stage 2 to the doorbell page 0x8090000
    [L, "fault", U, U, "F_TRANSLATION"], // IOVA 0x8000000 is nothing in the guest's stage 1
    [L, "refused", U, U, "io-pgtable-arm: IOVA 0x8000000 is already mapped (a 4 KiB page)"], // the parent holds the doorbell page
  ]);
  // The doorbell page in domain 7 and the trace's stage-1 map.
  assert.match(stdout, /\n\s+driver maps \/ unmaps\s+2 \/ 0\n/);
});

test("smmuv3, replace: the new domain gets the doorbell page, a domain that has it (the build's) gets nothing again; an attach whose doorbell page would land on a mapping is refused", () => {
  const { lines, stdout } = run("replace", {
    arch: "smmuv3",
    build: { domains: [{ id: 1, type: "s1" }], devices: [{ bdf: "00:03.0", domain: 1 }] },
    domainAlloc: [{ id: 5, kind: "paging" }, { id: 6, kind: "paging" }],
    config: { smmu: { msiDoorbells: ["0x8090040"] } },
    trace: [
      "MWr 00:03.0 addr=0x8000040",
      "replace 00:03.0 domain=5",
      "MWr 00:03.0 addr=0x8000040",
      "map 6 0x8000000 0x90000000 0x1000", // a kernel domain without devices: the window is an ordinary IOVA for now
      "attach 02:00.0 domain=6",
      "MWr 02:00.0 addr=0x8000040",
      "replace 00:03.0 domain=1",
      "MWr 00:03.0 addr=0x8000040",
    ],
  });
  assert.equal(lines, [
    [L, "interrupt", "0x8090040", U, U], // the build's doorbell mapping in domain 1
    [L, "interrupt", "0x8090040", U, U], // domain 5's, mapped at the replace (before this change: F_TRANSLATION)
    [L, "refused", U, U, "attach 02:00.0: its MSI doorbell page goes at 0x8000000 in the software MSI window of domain 6, which maps 0x8000000-0x8000fff there already"],
    [L, "fault", U, U, "C_BAD_STREAMID"], // the refused attach configured nothing
    [L, "interrupt", "0x8090040", U, U], // back in domain 1, whose page is the build's
  ]);
  // Domain 5's doorbell page and the trace's map in domain 6; nothing for domain 1 again.
  assert.match(stdout, /\n\s+driver maps \/ unmaps\s+2 \/ 0\n/);
});

test("vtd: nothing is mapped at attach; the interrupt window 0xfee00000 is an interrupt before and after, untranslated, and the Arm window's address is an ordinary IOVA", () => {
  const { lines, raw, stdout } = run("vtd", {
    arch: "vtd",
    build: { domains: [{ id: 1, type: "ss" }], devices: [{ bdf: "00:03.0", domain: 1 }] },
    domainAlloc: [{ id: 5, kind: "paging" }],
    trace: ["MWr 02:00.0 addr=0xfee00040", "attach 02:00.0 domain=5", "MWr 02:00.0 addr=0xfee00040", "map 5 0x8000000 0x90000000 0x1000", "MWr 02:00.0 addr=0x8000040"],
  });
  assert.equal(lines, [
    [L, "interrupt", U, U, U],
    [L, "interrupt", U, U, U],
    [L, "ok", U, "0x90000040", U],
  ]);
  // The interrupts read no structure (the unit takes the window before translation); the DMA write reads 8:
  // root, context, PASID directory and PASID entry (scalable mode), then the 4 second-stage levels.
  assert.equal(raw.map((l) => l.reads), [0, 0, 8]);
  // Only the trace's own map: the attach mapped nothing.
  assert.match(stdout, /\n\s+driver maps \/ unmaps\s+1 \/ 0\n/);
});

test.run();
