/**
 * The bundled SMMUv3 example (examples/smmuv3): `example:smmuv3` replayed end to end (functional),
 * its summary's exact counts (per event type, the abort, the No-Snoop outcome) and exact result
 * lines for each kind of stream; and canwbs.json, the same platform with CANWBS on, where the same
 * No-Snoop writes become coherent (`snoopBy: "canwbs"`) and nothing else changes.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "../../src/cli/run.ts";
import { resolveScenarioArg } from "../../src/cli/examples.ts";
import type { RunSummary } from "../../src/report/summary.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-smmu-example-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function replay(scenario: string, tag: string): { s: RunSummary; lines: Record<string, unknown>[] } {
  const report = join(dir, `${tag}.json`), results = join(dir, `${tag}.jsonl`);
  runCommand(scenario, { report, results, functional: true, quiet: true });
  const lines = readFileSync(results, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  return { s: JSON.parse(readFileSync(report, "utf8")) as RunSummary, lines };
}

/** The result line of trace line `line`, without what the functional run leaves at zero. */
function at(lines: Record<string, unknown>[], line: number): Record<string, unknown> {
  const r = lines.find((x) => x.line === line);
  if (!r) throw new Error(`no result for line ${line}`);
  const { issue: _i, complete: _c, latency: _l, latencyNs: _n, ...rest } = r;
  return rest;
}

test("example:smmuv3: exact counts by event type, one abort, No-Snoop left non-coherent without CANWBS", () => {
  assert.is(resolveScenarioArg("example:smmuv3"), "examples/smmuv3/scenario.json");
  const { s, lines } = replay(resolveScenarioArg("example:smmuv3"), "off");
  assert.is(s.tlps, 21);
  assert.is(lines.length, 21);
  assert.is(s.translated, 13);
  assert.is(s.faulted, 7);
  assert.is(s.faultsRecorded, 7);
  assert.is(s.blocked, 1);
  assert.equal(
    s.faults.map((f) => [f.code, f.name, f.count]),
    [
      [0x02, "C_BAD_STREAMID", 1],
      [0x08, "C_BAD_SUBSTREAMID", 2],
      [0x0a, "C_BAD_CD", 1],
      [0x10, "F_TRANSLATION", 2],
      [0x13, "F_PERMISSION", 1],
    ],
  );
  assert.equal({ snooped: s.snoop.snooped, nonSnooped: s.snoop.nonSnooped, noSnoopTlps: s.snoop.noSnoopTlps }, { snooped: 10, nonSnooped: 3, noSnoopTlps: 3 });
  assert.equal(lines.map((l) => l.status).filter((x) => x === "abort"), ["abort"]);

  // stage 1, CD 0: 0x100000 -> 0x80000000 (7 reads: L1STD, STE, CD, 4 levels); a No-Snoop write
  // decided by the TLP (0 reads: the TLB entry line 7 filled); the read-only page written (the TLB hit
  // does not allow it, so the walk runs again from the walk cache: 1 read, the leaf)
  assert.equal(at(lines, 5), { seq: 0, line: 5, op: "MRd", bdf: "00:02.0", addr: "0x100000", status: "ok", pa: "0x80000000", pageSize: 4096, pte: "0x10003800", snoop: true, snoopBy: "stage1-attr", vmid: 0, reads: 7 });
  assert.equal(at(lines, 8), { seq: 3, line: 8, op: "MWr", bdf: "00:02.0", addr: "0x101100", ns: true, status: "ok", pa: "0x80001100", pageSize: 4096, pte: "0x10003808", snoop: false, snoopBy: "tlp", vmid: 0, reads: 0 });
  assert.equal(at(lines, 12), { seq: 6, line: 12, op: "MWr", bdf: "00:02.0", addr: "0x200040", status: "fault", fault: { code: 19, name: "F_PERMISSION", recorded: true, stage: 1 }, vmid: 0, reads: 1 });
  // substreams: SubstreamID 1 translates; 2 has no valid CD; 5 is beyond the 4 CDs
  assert.equal(at(lines, 16).pa, "0x81000000");
  assert.equal(at(lines, 18).fault, { code: 10, name: "C_BAD_CD", recorded: true });
  assert.equal(at(lines, 19).fault, { code: 8, name: "C_BAD_SUBSTREAMID", recorded: true });
  // stage 2 (VMID 1), a SubstreamID on its S2 STE
  assert.equal([at(lines, 21).pa, at(lines, 21).vmid], ["0x90000000", 1]);
  assert.equal(at(lines, 23).fault, { code: 8, name: "C_BAD_SUBSTREAMID", recorded: true });
  // nested: 0x10000 -> IPA 0x50000000 -> PA 0xa0000000; an IPA the parent does not map faults at stage 2, class IN
  assert.equal(at(lines, 25), { seq: 15, line: 25, op: "MRd", bdf: "00:04.0", addr: "0x10000", status: "ok", pa: "0xa0000000", pageSize: 4096, pte: "0x10016080", s2Pte: "0x10010000", snoop: true, snoopBy: "s2fwb", vmid: 2, reads: 18 });
  assert.equal(at(lines, 27).fault, { code: 16, name: "F_TRANSLATION", recorded: true, stage: 2, class: "IN" });
  // bypass, abort, no stream table entry
  assert.equal([at(lines, 29).status, at(lines, 29).pa], ["ok", "0x88000000"]);
  assert.equal(at(lines, 30), { seq: 19, line: 30, op: "MRd", bdf: "00:06.0", addr: "0x1000", status: "abort", reads: 2 });
  assert.equal(at(lines, 31).fault, { code: 2, name: "C_BAD_STREAMID", recorded: true });
});

test("canwbs.json: the same run, but every translated access (the 3 No-Snoop writes included) snoops because of CANWBS", () => {
  const off = replay("examples/smmuv3/scenario.json", "off2");
  const on = replay("examples/smmuv3/canwbs.json", "on");
  assert.equal({ snooped: on.s.snoop.snooped, nonSnooped: on.s.snoop.nonSnooped, noSnoopTlps: on.s.snoop.noSnoopTlps }, { snooped: 13, nonSnooped: 0, noSnoopTlps: 3 });
  // CANWBS decides first: every translated access snoops because of it; nothing else in a line changes
  const ok = on.lines.filter((l) => l.status === "ok");
  assert.is(ok.length, 13);
  assert.ok(ok.every((l) => l.snoop === true && l.snoopBy === "canwbs"));
  const strip = (l: Record<string, unknown>) => ({ ...l, snoop: undefined, snoopBy: undefined });
  assert.equal(on.lines.map(strip), off.lines.map(strip));
  assert.equal(off.lines.filter((l) => l.snoop === false).map((l) => [l.line, l.snoopBy]), [
    [8, "tlp"],
    [9, "tlp"],
    [22, "tlp"],
  ]);
  assert.equal(on.s.faults, off.s.faults);
});

test.run();
