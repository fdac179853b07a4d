/**
 * `iommu-emu run --expect-faults`: each TLP with an expected fault (expect=) compared with the
 * model's result (match, different reason, no fault, not compared), printed after the summary and
 * written to --report as `expectedFaults`; exit code 0 whatever the outcome; text and binary
 * traces; a kernel log imported by `convert` and replayed.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCommand } from "../../src/cli/run.ts";
import { convertCommand } from "../../src/cli/convert.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-expect-"));
const at = (name: string) => join(dir, name);

// Scalable mode (the builder's default), one second-stage domain with one read-only page at 0x1000.
const build = {
  domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x1000", pa: "0x80000000", size: "0x1000", perm: "r" }] }],
  devices: [{ bdf: "00:02.0", domain: 1, paside: false }],
};
const trace = [
  // a write to the read-only page: the model faults with SGN.6 (0x85), as logged
  "@10 MWr 00:02.0 addr=0x1040 expect=0x85",
  // nothing mapped at 0x5000: the model faults with SSS.2 (0x79), the log said 0x06 (LGN.3)
  "@20 MRd 00:02.0 addr=0x5000 expect=0x06",
  // a read of the mapped page translates: no fault
  "@30 MRd 00:02.0 addr=0x1000 len=8 expect=0x06",
  // an SMMUv3 event type: the model is VT-d
  "@40 MRd 00:02.0 addr=0x1000 expect=F_TRANSLATION",
  // no expectation: not listed
  "@50 MRd 00:02.0 addr=0x1080",
];
writeFileSync(at("s.json"), JSON.stringify({ arch: "vtd", build, trace: "t.trace" }));
writeFileSync(at("t.trace"), trace.join("\n") + "\n");

const block = (pos: "line" | "record") => [
  "Expected faults (expect= in the trace, compared with the model's)",
  `  ${pos} 1: MWr 00:02.0 addr=0x1040: logged 0x85 SGN.6, model 0x85 SGN.6: match`,
  `  ${pos} 2: MRd 00:02.0 addr=0x5000: logged 0x06 LGN.3, model 0x79 SSS.2: different reason`,
  `  ${pos} 3: MRd 00:02.0 addr=0x1000: logged 0x06 LGN.3, model ok: no fault`,
  `  ${pos} 4: MRd 00:02.0 addr=0x1000: logged F_TRANSLATION (SMMUv3 event 0x10), model ok: not compared (the model is VT-d)`,
  "  4 expected faults: 1 match, 1 different reason, 1 no fault, 1 not compared",
].join("\n");

const row = (seq: number, op: string, addr: string, expected: object, model: object, outcome: string) => ({ seq, line: seq + 1, op, bdf: "00:02.0", addr, expected, model, outcome });
const report = {
  total: 4,
  match: 1,
  different: 1,
  noFault: 1,
  notCompared: 1,
  tlps: [
    row(0, "MWr", "0x1040", { arch: "vtd", code: 0x85, name: "SGN.6" }, { status: "fault", code: 0x85, name: "SGN.6" }, "match"),
    row(1, "MRd", "0x5000", { arch: "vtd", code: 0x06, name: "LGN.3" }, { status: "fault", code: 0x79, name: "SSS.2" }, "different"),
    row(2, "MRd", "0x1000", { arch: "vtd", code: 0x06, name: "LGN.3" }, { status: "ok" }, "noFault"),
    row(3, "MRd", "0x1000", { arch: "smmuv3", code: 0x10, name: "F_TRANSLATION" }, { status: "ok" }, "notCompared"),
  ],
};

test("text trace: one row per expected fault, the counts, the report's section", () => {
  const text = runCommand(at("s.json"), { expectFaults: true, functional: true, report: at("r.json") });
  assert.ok(text.endsWith("\n" + block("line")), text);
  const rep = JSON.parse(readFileSync(at("r.json"), "utf8"));
  assert.equal(rep.expectedFaults, report);
  assert.is(rep.faulted, 2);
});

test("binary trace: the same outcomes, at their record numbers (the trace's expect= survives convert)", () => {
  convertCommand(at("t.trace"), at("t.itb"));
  assert.is(readFileSync(at("t.itb")).readUInt16LE(8), 2, "version 2: the file holds expected faults");
  const text = runCommand(at("s.json"), { trace: at("t.itb"), expectFaults: true, report: at("rb.json") });
  assert.ok(text.endsWith("\n" + block("record")), text);
  assert.equal(JSON.parse(readFileSync(at("rb.json"), "utf8")).expectedFaults, report);
});

test("without --expect-faults: no rows, no section; a trace without expectations says so", () => {
  const text = runCommand(at("s.json"), { functional: true, report: at("n.json") });
  assert.not.match(text, "Expected faults");
  assert.is(JSON.parse(readFileSync(at("n.json"), "utf8")).expectedFaults, undefined);
  writeFileSync(at("plain.trace"), "MRd 00:02.0 addr=0x1000\n");
  const none = runCommand(at("s.json"), { trace: at("plain.trace"), expectFaults: true, functional: true, report: at("p.json") });
  assert.ok(
    none.endsWith(
      "\nExpected faults (expect= in the trace, compared with the model's)\n  no TLP of the trace carries an expected fault (importers write them from kernel DMAR and arm-smmu-v3 logs and QEMU vtd_dmar_fault)",
    ),
  );
  assert.equal(JSON.parse(readFileSync(at("p.json"), "utf8")).expectedFaults, { total: 0, match: 0, different: 0, noFault: 0, notCompared: 0, tlps: [] });
});

test("a batch cut by the lazy flush timer: the TLP after the flush is compared once, with its own result", () => {
  const lazy = {
    arch: "vtd",
    build: { domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x1000", pa: "0x80000000", size: "0x1000" }] }], devices: [{ bdf: "00:02.0", domain: 1, paside: false }] },
    config: { driver: { invalidation: "lazy", lazyTimeoutCycles: 1000 } },
    trace: [
      "@0 MRd 00:02.0 addr=0x1000",
      "@1 unmap 1 0x1000 0x1000",
      // still translated by the IOTLB entry the lazy unmap left (stale): no fault
      "@2 MRd 00:02.0 addr=0x1000 expect=0x79",
      // at cycle 5000 the timer (1 + 1000) has flushed the IOTLB: the page is gone
      "@5000 MRd 00:02.0 addr=0x1000 expect=0x79",
    ],
  };
  writeFileSync(at("lazy.json"), JSON.stringify(lazy));
  runCommand(at("lazy.json"), { expectFaults: true, functional: true, report: at("lazy-r.json") });
  const e = JSON.parse(readFileSync(at("lazy-r.json"), "utf8")).expectedFaults;
  assert.equal(
    e.tlps.map((r: { seq: number; model: object; outcome: string }) => [r.seq, r.model, r.outcome]),
    [
      [1, { status: "ok" }, "noFault"],
      [2, { status: "fault", code: 0x79, name: "SSS.2" }, "match"],
    ],
  );
});

test("CLI: a kernel log's DMAR faults, imported and replayed; a different reason still exits 0", () => {
  writeFileSync(
    at("dmesg.log"),
    "[   10.000001] DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x85] SM: Write permission error\n" +
      "[   10.000002] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x5000 [fault reason 0x79] SM: Read/Write permission error in second-level paging entry\n" +
      "[   10.000003] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7000 [fault reason 0x06] PTE Read access is not set\n",
  );
  let r = spawnSync(process.execPath, [bin, "convert", at("dmesg.log"), at("dmesg.trace"), "--from", "kernel"], { cwd: root, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  assert.is(
    readFileSync(at("dmesg.trace"), "utf8"),
    "@10000001us MWr 00:02.0 addr=0x1000 expect=0x85\n@10000002us MRd 00:02.0 addr=0x5000 expect=0x79\n@10000003us MRd 00:02.0 addr=0x7000 expect=0x06\n",
  );
  r = spawnSync(process.execPath, [bin, "run", at("s.json"), "--trace", at("dmesg.trace"), "--expect-faults"], { cwd: root, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  assert.ok(
    r.stdout.endsWith(
      [
        "Expected faults (expect= in the trace, compared with the model's)",
        "  line 1: MWr 00:02.0 addr=0x1000: logged 0x85 SGN.6, model 0x85 SGN.6: match",
        "  line 2: MRd 00:02.0 addr=0x5000: logged 0x79 SSS.2, model 0x79 SSS.2: match",
        "  line 3: MRd 00:02.0 addr=0x7000: logged 0x06 LGN.3, model 0x79 SSS.2: different reason",
        "  3 expected faults: 2 match, 1 different reason, 0 no fault",
        "",
      ].join("\n"),
    ),
    r.stdout,
  );
});

test.run();
