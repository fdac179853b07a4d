/**
 * arm-smmu-v3 kernel event records imported (`convert --from kernel`) and replayed end to end on
 * the bundled SMMUv3 example with `--expect-faults`: StreamID 0x10 becomes 00:02.0, SubstreamID 1
 * `pasid=0x1`, RnW the direction, the event type `expect=`; the model agrees on the three accesses
 * the example does not map (or maps read-only) and reports no fault where the log's address is mapped.
 * The C_BAD_STREAMID record (no input address) makes no TLP.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { convertCommand } from "../../src/cli/convert.ts";
import { runCommand } from "../../src/cli/run.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-smmu-import-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = fileURLToPath(new URL("../fixtures/smmuv3/dmesg.txt", import.meta.url));
const scenario = fileURLToPath(new URL("../../examples/smmuv3/scenario.json", import.meta.url));

test("kernel arm-smmu-v3 records -> trace -> replay on examples/smmuv3 with --expect-faults", () => {
  const out = join(dir, "k.trace");
  const r = convertCommand(fixture, out, { from: "kernel" });
  assert.is(r.from, "kernel");
  assert.is(
    readFileSync(out, "utf8"),
    [
      "@101000104us MRd 00:02.0 addr=0x900000 expect=F_TRANSLATION",
      "@101000204us MWr 00:02.0 addr=0x200040 expect=F_PERMISSION",
      "@101000304us MRd 00:02.0 pasid=0x1 addr=0x7f0000005000 expect=F_TRANSLATION",
      "@101000404us MRd 00:02.0 addr=0x100000 expect=F_TRANSLATION",
      "",
    ].join("\n"),
  );
  const report = join(dir, "r.json");
  runCommand(scenario, { trace: out, expectFaults: true, functional: true, quiet: true, report });
  const rep = JSON.parse(readFileSync(report, "utf8"));
  assert.equal({ ...rep.expectedFaults, tlps: undefined }, { total: 4, match: 3, different: 0, noFault: 1, notCompared: 0, tlps: undefined });
  assert.equal(
    rep.expectedFaults.tlps.map((t: { line: number; outcome: string }) => [t.line, t.outcome]),
    [
      [1, "match"],
      [2, "match"],
      [3, "match"],
      [4, "noFault"],
    ],
  );
  assert.is(rep.faulted, 3);
});

test.run();
