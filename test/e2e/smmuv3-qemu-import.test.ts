/**
 * A QEMU SMMUv3 log (test/fixtures/smmuv3/qemu-log.txt: `-d guest_errors,trace:smmuv3_*,trace:smmu_*`
 * in QEMU 9.x's formats, hw/arm/trace-events and hw/arm/smmuv3.c smmuv3_translate) imported with
 * `convert --from qemu` and replayed on the bundled SMMUv3 example with `--expect-faults`:
 * successful translations (direction from perm=), QEMU's "translation failed" guest errors with the
 * smmuv3_record_event after them (StreamID from it, `expect=` the event type), one failed
 * translation whose StreamID comes from another line naming its memory region, one QEMU did not
 * record (no `expect=`), a bypassed and an aborted stream. The example's scenario decides each
 * result: 00:02.0 (StreamID 0x10) maps 0x100000-0x103fff read-write and 0x200000 read-only at stage
 * 1; 00:05.0 bypasses; 00:06.0 aborts; bus 05 has no stream table entry.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { convertCommand } from "../../src/cli/convert.ts";
import { runCommand } from "../../src/cli/run.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-qemu-smmu-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = fileURLToPath(new URL("../fixtures/smmuv3/qemu-log.txt", import.meta.url));
const scenario = fileURLToPath(new URL("../../examples/smmuv3/scenario.json", import.meta.url));

test("QEMU smmuv3 log -> trace: directions, StreamIDs, expect= from the failed translations", () => {
  const out = join(dir, "q.trace");
  const r = convertCommand(fixture, out, { from: "qemu" });
  assert.is(r.from, "qemu");
  assert.is(
    readFileSync(out, "utf8"),
    [
      "MRd 00:02.0 addr=0x100040", // perm=0x3: the mapping's permission, the default direction
      "MRd 00:02.0 addr=0x200010", // perm=0x1: a read-only mapping, so the access was a read
      "MWr 00:02.0 addr=0x200040 expect=F_PERMISSION", // QEMU's stage-1 permission faults are writes
      "MRd 00:02.0 addr=0x900000 expect=F_TRANSLATION",
      "MRd 00:02.0 addr=0x101000 expect=F_TRANSLATION", // no record_event: StreamID from line 4's region name
      "MRd 00:02.0 addr=0x300000", // "no recorded event": no expect=
      "MRd 00:05.0 addr=0x88000000",
      "MRd 00:06.0 addr=0x1000",
      "MRd 05:00.0 addr=0x1000 expect=C_BAD_STREAMID", // StreamID 0x500 from its record_event
      "",
    ].join("\n"),
  );
});

test("replay on examples/smmuv3 with --expect-faults: 3 of 4 logged events match, every result as the scenario says", () => {
  const trace = join(dir, "q2.trace");
  convertCommand(fixture, trace, { from: "qemu" });
  const report = join(dir, "r.json"), results = join(dir, "r.jsonl");
  runCommand(scenario, { trace, expectFaults: true, functional: true, quiet: true, report, results });
  const rep = JSON.parse(readFileSync(report, "utf8"));
  assert.equal({ ...rep.expectedFaults, tlps: undefined }, { total: 4, match: 3, different: 0, noFault: 1, notCompared: 0, tlps: undefined });
  assert.equal(
    rep.expectedFaults.tlps.map((t: { line: number; outcome: string }) => [t.line, t.outcome]),
    // 0x101000 is mapped in the example (QEMU's guest had not mapped it): no fault
    [[3, "match"], [4, "match"], [5, "noFault"], [9, "match"]],
  );
  const rs = readFileSync(results, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { status: string; pa?: string; fault?: { name: string } });
  assert.equal(
    rs.map((x) => x.status + (x.pa ? ` ${x.pa}` : "") + (x.fault ? ` ${x.fault.name}` : "")),
    [
      "ok 0x80000040", // QEMU translated it to 0x80000040 too
      "ok 0x80100010", // and this one to 0x80100010
      "fault F_PERMISSION",
      "fault F_TRANSLATION",
      "ok 0x80001000",
      "fault F_TRANSLATION", // the one QEMU did not record: the model's CD has R=1
      "ok 0x88000000", // bypass: PA = the address
      "abort", // STE.Config abort: no event
      "fault C_BAD_STREAMID",
    ],
  );
  assert.equal([rep.tlps, rep.translated, rep.faulted, rep.blocked], [9, 4, 4, 1]);
});

test.run();
