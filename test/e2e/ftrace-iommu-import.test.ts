/**
 * A Linux ftrace of the iommu tracepoints (test/fixtures/ftrace/iommu-tracepoints.txt, in the
 * TP_printk formats of include/trace/events/iommu.h: add_device_to_group, attach_device_to_domain,
 * map and unmap with the ` - 0x<end>` range, io_page_fault) imported with `convert --from ftrace`
 * and replayed on the bundled VT-d example (examples/vtd-sm: domain 1 maps 0x80000 read-only and
 * nothing at 0x200000-0x203fff; 00:02.0 is attached to domain 1, 00:05.0 to nothing). The trace
 * attaches 00:05.0 (its domain from --map 0000:00:05.0=1), maps 0x200000-0x201fff to 0x300000000,
 * unmaps the first page; each logged fault replays as the model decides it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { convertCommand } from "../../src/cli/convert.ts";
import { runCommand } from "../../src/cli/run.ts";
import { formatImportSummary } from "../../src/trace/importers/common.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-ftrace-iommu-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = fileURLToPath(new URL("../fixtures/ftrace/iommu-tracepoints.txt", import.meta.url));
const scenario = fileURLToPath(new URL("../../examples/vtd-sm/scenario.json", import.meta.url));
const MAP = "domain=1,0000:00:05.0=1";

test("ftrace iommu tracepoints -> trace: attach with its --map domain, map/unmap, faults as TLPs; the kernel's groups in the summary", () => {
  const out = join(dir, "t.trace");
  const r = convertCommand(fixture, out, { from: "ftrace", map: MAP });
  assert.is(
    readFileSync(out, "utf8"),
    [
      "@12000100us MWr 00:02.0 addr=0x80010", // flags=0x0001: IOMMU_FAULT_WRITE
      "@12000200us MRd 00:05.0 addr=0x200000", // flags=0x0000: a read
      "@20000000us attach 00:05.0 domain=1", // the domain from --map 0000:00:05.0=1
      "@20000010us map 1 0x200000 0x300000000 0x2000", // size=8192; perm rw (the tracepoint has no prot)
      "@20000300us MWr 00:05.0 addr=0x202000",
      "@20000400us unmap 1 0x200000 0x1000", // unmapped_size=4096
      "@20000500us MRd 00:05.0 addr=0x200040",
      "@20000600us MRd 00:05.0 addr=0x201040",
      "",
    ].join("\n"),
  );
  // 24 lines: 12 header lines; 4 group lines (used: they give the groups), 5 faults, attach, map, unmap.
  assert.equal(formatImportSummary(r.summary!, "ftrace.txt"), [
    "ftrace import of ftrace.txt: 24 lines: 12 used, 12 ignored (12 blank or comment), 0 bad (skipped)",
    "made 5 TLPs (3 MRd, 2 MWr) and 3 driver events (1 map, 1 unmap, 1 attach)",
    "the kernel's IOMMU groups (iommu:add_device_to_group): 4 groups; compare with `iommu-emu groups SCENARIO`",
    "  group 0: 00:02.0",
    "  group 1: 00:03.0",
    "  group 2: 00:04.0",
    "  group 3: 00:05.0",
  ]);
});

test("replay on examples/vtd-sm: faults before the attach, after it, after the unmap; the second page still translates", () => {
  const trace = join(dir, "t2.trace");
  convertCommand(fixture, trace, { from: "ftrace", map: MAP });
  const report = join(dir, "r.json"), results = join(dir, "r.jsonl");
  runCommand(scenario, { trace, functional: true, quiet: true, report, results });
  const rs = readFileSync(results, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { line: number; status: string; pa?: string; fault?: { code: number; name: string } });
  assert.equal(
    rs.map((x) => `${x.line} ${x.status}` + (x.pa ? ` ${x.pa}` : "") + (x.fault ? ` 0x${x.fault.code.toString(16)} ${x.fault.name}` : "")),
    [
      // 0x80000 is read-only in domain 1: a write without write permission (VT-d 7.1.3 SGN.6).
      "1 fault 0x85 SGN.6",
      // 00:05.0 is not attached yet: its scalable-mode context entry is not present (SCT.2).
      "2 fault 0x41 SCT.2",
      // attached now, but 0x202000 is past the 8 KiB the trace mapped: second-stage entry not present (SSS.2).
      "5 fault 0x79 SSS.2",
      // 0x200000's page was unmapped on line 6.
      "7 fault 0x79 SSS.2",
      // 0x201040 is in the page still mapped: 0x300000000 + 0x1000 + 0x40.
      "8 ok 0x300001040",
    ],
  );
  const rep = JSON.parse(readFileSync(report, "utf8"));
  assert.equal([rep.tlps, rep.translated, rep.faulted, rep.blocked], [5, 1, 4, 0]);
});

test.run();
