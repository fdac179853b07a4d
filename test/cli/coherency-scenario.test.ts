/**
 * The coherency scenario forms and the wbinvd report per VM through `run` (README "Cache
 * coherency"): domainAlloc's `enforceCoherency` (validated at its key; then attach refused on a unit
 * that cannot enforce), and two VMs (two vfio-owned groups) beside a kernel-bound device, each
 * judged on its own TLPs.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "../../src/cli/run.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-coherency-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

// Three endpoints, each below its own root port with ACS: six singleton groups, the root ports 0-2, the endpoints 3-5.
const topology = [
  { bdf: "00:01.0", type: "root-port", acs: ["SV", "RR", "CR", "UF"] },
  { bdf: "01:00.0", type: "endpoint", parent: "00:01.0" },
  { bdf: "00:02.0", type: "root-port", acs: ["SV", "RR", "CR", "UF"] },
  { bdf: "02:00.0", type: "endpoint", parent: "00:02.0" },
  { bdf: "00:03.0", type: "root-port", acs: ["SV", "RR", "CR", "UF"] },
  { bdf: "03:00.0", type: "endpoint", parent: "00:03.0" },
];

function write(name: string, scenario: object): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(scenario, null, 2));
  return f;
}

function run(name: string, scenario: object) {
  const f = write(name, scenario);
  const results = join(dir, `${name}.jsonl`), report = join(dir, `${name}.report.json`);
  runCommand(f, { results, report, refusals: "results", functional: true });
  const lines = readFileSync(results, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  return { lines, report: JSON.parse(readFileSync(report, "utf8")) };
}

test("domainAlloc enforceCoherency: only on paging domains (error at the key); on VT-d without ECAP.SC the later attach is refused", () => {
  const bad = write("bad.json", { arch: "vtd", domainAlloc: [{ id: 5, kind: "identity", enforceCoherency: true }] });
  assert.throws(() => runCommand(bad, { functional: true }), (e: Error) => /domainAlloc\[0\]\.enforceCoherency: enforceCoherency is for paging domains, not identity ones/.test(e.message));
  const r = run("nosc.json", {
    arch: "vtd",
    registers: { ECAP: { SC: 0 } },
    topology,
    drivers: [{ bdf: "01:00.0", driver: "vfio" }],
    build: { mode: "scalable", domains: [{ id: 1, type: "ss" }], devices: [{ bdf: "01:00.0", domain: 1 }] },
    domainAlloc: [{ id: 5, kind: "paging", enforceCoherency: true }],
    trace: ["attach 01:00.0 domain=5"],
  });
  assert.equal(r.lines, [{ seq: 0, event: "attach", line: r.lines[0].line, status: "refused", reason: "attach 01:00.0 domain=5: domain 5 enforces cache coherency and 01:00.0: the VT-d unit has no snoop control (ECAP.SC=0)" }]);
});

test("wbinvd per VM: the VM whose domain enforces coherency needs none, the other does; the kernel's device is in no VM", () => {
  const r = run("two-vms.json", {
    arch: "vtd",
    topology,
    drivers: [
      { bdf: "01:00.0", driver: "vfio" },
      { bdf: "02:00.0", driver: "vfio" },
      { bdf: "03:00.0", driver: "kernel:nic" },
    ],
    build: {
      mode: "scalable",
      domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x100000", pa: "0x80000000", size: "0x1000", perm: "rw" }] }],
      devices: [{ bdf: "01:00.0", domain: 1 }, { bdf: "02:00.0", domain: 1 }, { bdf: "03:00.0", domain: 1 }],
    },
    domainAlloc: [{ id: 5, kind: "paging", enforceCoherency: true }, { id: 6, kind: "paging" }],
    trace: [
      "map 5 0x100000 0x90000000 0x1000",
      "map 6 0x100000 0xa0000000 0x1000",
      "attach 01:00.0 domain=5",
      "attach 02:00.0 domain=6",
      "MWr 01:00.0 addr=0x100000 ns", // TLP 0: snooped by SNP
      "MWr 02:00.0 addr=0x100000", // TLP 1: no No-Snoop
      "MWr 03:00.0 addr=0x100000 ns", // TLP 2: the host's, let through, in no VM
      "MWr 02:00.0 addr=0x100000 ns", // TLP 3: let through
      "MWr 02:00.0 addr=0x100004 len=4 ns", // TLP 4: let through, same leaf
    ],
  });
  assert.equal(r.lines.map((l) => [l.seq, l.snoop, l.snoopBy]), [[0, true, "pte"], [1, true, "tlp"], [2, false, "tlp"], [3, false, "tlp"], [4, false, "tlp"]]);
  const leaf = r.lines[3].pte;
  assert.is(r.lines[4].pte, leaf);
  assert.equal(r.report.wbinvd, [
    { vm: "group 3 (01:00.0)", devices: ["01:00.0"], noSnoopIssued: { held: true, tlps: 1, first: [0] }, letThrough: { held: false, tlps: 0, first: [] }, platformHonoursNoSnoop: true, wbinvd: false },
    {
      vm: "group 4 (02:00.0)",
      devices: ["02:00.0"],
      noSnoopIssued: { held: true, tlps: 2, first: [3, 4] },
      // SS leaf of 0xa0000000 rw: R|W = 0x3, no SNP (domain 6 never enforced).
      letThrough: { held: true, tlps: 2, first: [3, 4].map((seq, i) => ({ seq, bdf: "02:00.0", addr: ["0x100000", "0x100004"][i], leafPa: leaf, leafPte: "0xa0000003", snoopBy: "tlp" })) },
      platformHonoursNoSnoop: true,
      wbinvd: true,
    },
  ]);
});

test.run();
