/**
 * The importer registry, and what `convert` relies on: every importer's events, written with
 * formatEvent, are a valid trace text v1 (times in order included) that parses back to the same
 * events.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import analyzer from "../../fixtures/importers/analyzer-csv.ts";
import dmaEarly from "../../fixtures/importers/dma-early.ts";
import dmaRecent from "../../fixtures/importers/dma-recent.ts";
import ftraceOld from "../../fixtures/importers/ftrace-old.ts";
import ftraceTrace from "../../fixtures/importers/ftrace-trace.ts";
import kernelOld from "../../fixtures/importers/kernel-old.ts";
import kernelRecent from "../../fixtures/importers/kernel-recent.ts";
import perfScript from "../../fixtures/importers/perf-script.ts";
import simple from "../../fixtures/importers/qemu-simpletrace.ts";
import smmuOld from "../../fixtures/importers/qemu-smmu-old.ts";
import smmuRecent from "../../fixtures/importers/qemu-smmu-recent.ts";
import vtdOld from "../../fixtures/importers/qemu-vtd-old.ts";
import vtdRecent from "../../fixtures/importers/qemu-vtd-recent.ts";
import { importers } from "../../../src/trace/importers/index.ts";
import { formatEvent, parseTraceText, type TraceEvent } from "../../../src/trace/text.ts";

test("the registry: ftrace, qemu, kernel, csv, each under its own name with a description", () => {
  assert.equal(Object.keys(importers).sort(), ["csv", "ftrace", "kernel", "qemu"]);
  for (const [name, importer] of Object.entries(importers)) {
    assert.is(importer.name, name);
    assert.ok(importer.description.length > 20, name);
  }
});

const CSV_MAP = { addr: "Address", rid: "Requester ID", op: "TLP Type", len: "Length", pasid: "PASID", time: "Time Stamp", ns: "Attr NS", ro: "Attr RO", ido: "Attr IDO" };

const CASES: [string, string, string, Record<string, string>?][] = [
  ["ftrace", "ftrace-trace", ftraceTrace],
  ["ftrace", "ftrace-old", ftraceOld],
  ["ftrace", "perf-script", perfScript],
  ["ftrace", "dma-early", dmaEarly, { "0000:01:00.0": "5" }],
  ["ftrace", "dma-recent", dmaRecent],
  ["qemu", "qemu-vtd-old", vtdOld],
  ["qemu", "qemu-vtd-recent", vtdRecent],
  ["qemu", "qemu-smmu-old", smmuOld],
  ["qemu", "qemu-smmu-recent", smmuRecent],
  ["qemu", "qemu-simpletrace", simple],
  ["kernel", "kernel-recent", kernelRecent],
  ["kernel", "kernel-old", kernelOld],
  ["csv", "analyzer-csv", analyzer, CSV_MAP],
];

/** An event without its source position (line, column), for comparing with the parsed text. */
function unplaced(e: TraceEvent): object {
  const { line: _line, ...rest } = e as TraceEvent & { column?: number };
  delete (rest as { column?: number }).column;
  return rest;
}

for (const [name, fixture, text, map] of CASES) {
  test(`${name} ${fixture}: the events write as trace text v1 and read back unchanged`, () => {
    const r = importers[name]!.import(text, fixture, { skipBad: false, ...(map ? { map } : {}) });
    assert.equal(r.skipped, []);
    assert.ok(r.events.length > 0);
    const written = r.events.map(formatEvent).join("\n") + "\n";
    const back = parseTraceText(written, `${fixture}.trace`);
    assert.equal(back.map(unplaced), r.events.map(unplaced));
  });
}

test.run();
