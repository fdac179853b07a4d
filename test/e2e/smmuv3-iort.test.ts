/**
 * The bundled IORT example (examples/smmuv3/iort.json + iort.trace) replayed end to end on both core
 * builds: two root complexes in front of one SMMU, segment 0 with CANWBS clear (bus 00 -> StreamIDs
 * 0x100 + RID) and segment 1 with CANWBS set (bus 01 -> StreamIDs 0x200 + RID - 0x100). Exact
 * StreamID, snoop and snoopBy of every TLP, and the summary's counts; the debug and release runs
 * write identical result lines and summaries.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "../../src/cli/run.ts";
import type { RunSummary } from "../../src/report/summary.ts";
import type { SmmuSections } from "../../src/report/arch/smmuv3.ts";
import type { CoreBuild } from "../../src/core/core.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-iort-example-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function replay(core: CoreBuild, functional = true): { s: RunSummary & SmmuSections; text: string; lines: Record<string, unknown>[] } {
  const report = join(dir, `${core}-${functional}.json`), results = join(dir, `${core}-${functional}.jsonl`);
  runCommand("examples/smmuv3/iort.json", { report, results, functional, quiet: true, core });
  const text = readFileSync(results, "utf8");
  return { s: JSON.parse(readFileSync(report, "utf8")), text, lines: text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test("iort.json: StreamIDs through each root complex, CANWBS deciding No-Snoop per root complex, unrouted TLPs", () => {
  const { s, lines } = replay("release");
  // [line, bdf, status, streamId, snoop, snoopBy]: 00:02.0 is RID 0x10 -> 0x100 + 0x10 = 0x110;
  // 0001:01:00.0 is RID 0x100 -> 0x200 + 0; 0001:01:00.1 RID 0x101 -> 0x201; 00:03.0 RID 0x18 -> 0x118
  const want = [
    [5, "00:02.0", "ok", 0x110, true, "stage1-attr"],
    [6, "00:02.0", "ok", 0x110, false, "tlp"], // No-Snoop, CANWBS clear: the TLP decides
    [7, "00:02.0", "ok", 0x110, true, "stage1-attr"],
    [9, "0001:01:00.0", "ok", 0x200, true, "canwbs"],
    [10, "0001:01:00.0", "ok", 0x200, true, "canwbs"], // the same No-Snoop write, coherent by CANWBS
    [11, "0001:01:00.0", "ok", 0x200, true, "canwbs"],
    [13, "0001:01:00.1", "ok", 0x201, true, "canwbs"],
    [15, "00:03.0", "abort", 0x118, undefined, undefined],
    [17, "0001:02:00.0", "unrouted", undefined, undefined, undefined],
    [18, "0002:00:01.0", "unrouted", undefined, undefined, undefined],
  ];
  assert.equal(lines.map((l) => [l.line, l.bdf, l.status, l.streamId, l.snoop, l.snoopBy]), want);
  // the PAs: domain 1 maps 0x100000 -> 0x80000000, domain 2 the same IOVAs -> 0x84000000, domain 3 (stage 2) 0x40000000 -> 0x90000000
  assert.equal(lines.slice(0, 7).map((l) => l.pa), ["0x80000000", "0x80001000", "0x80002000", "0x84000000", "0x84001000", "0x84002000", "0x90000000"]);
  assert.equal(lines[8], { seq: 8, line: 17, op: "MWr", bdf: "0001:02:00.0", addr: "0x100000", ns: true, status: "unrouted", reads: 0 });
  // 10 TLPs: 7 translated, 1 aborted (no event), 2 unrouted (the SMMU saw 8 transactions)
  assert.equal([s.tlps, s.translated, s.faulted, s.blocked, s.unrouted], [10, 7, 0, 1, 2]);
  // 3 No-Snoop TLPs reached the SMMU (line 17's never did): 2 made coherent by CANWBS, 1 left to the TLP
  assert.equal(s.snoop.noSnoopDecidedBy, { canwbs: 2, tlp: 1 });
  assert.equal([s.snoop.snooped, s.snoop.nonSnooped, s.snoop.noSnoopTlps], [6, 1, 3]);
  assert.is(s.pmcg.transaction, 8);
});

test("iort.json timed: the 8 transactions the SMMU saw are timed, the 2 unrouted TLPs are not (no issue or latency)", () => {
  const { s, lines } = replay("release", false);
  assert.is(s.timing!.translations, 8);
  assert.equal(lines.map((l) => "latency" in l), [true, true, true, true, true, true, true, true, false, false]);
  assert.equal(lines[9], { seq: 9, line: 18, op: "MRd", bdf: "0002:00:01.0", addr: "0x100000", status: "unrouted", reads: 0 });
});

test("iort.json: the debug and release cores write the same results and summary", () => {
  const d = replay("debug"), r = replay("release");
  assert.is(d.text, r.text);
  const strip = (x: RunSummary) => JSON.stringify({ ...x, host: undefined, core: undefined });
  assert.is(strip(d.s), strip(r.s));
});

test.run();
