/**
 * The importer registry, and what `convert` relies on: every importer's events, written with
 * formatEvent, are a valid trace text v1 (times in order included) that parses back to the same
 * events; every line of every fixture is accounted for in the summary; detection (`--from auto`)
 * takes every fixture for its importer; an import that used no line says what the input looks like.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import kernelAcs from "../../fixtures/importers/kernel-acs.ts";
import kernelOld from "../../fixtures/importers/kernel-old.ts";
import perfScript from "../../fixtures/importers/perf-script.ts";
import { importers, importTrace } from "../../../src/trace/importers/index.ts";
import { formatImportSummary } from "../../../src/trace/importers/common.ts";
import { describeInput, detectFormat, detectFormats, looksBinary, sampleLines } from "../../../src/trace/importers/detect.ts";
import { encodeHeader } from "../../../src/trace/binary.ts";
import { formatEvent, parseTraceText, type TraceEvent } from "../../../src/trace/text.ts";
import { FIXTURES } from "./fixtures.ts";
import { inputError, summary } from "./util.ts";

test("the registry: ftrace, qemu, kernel, csv, each under its own name with a description", () => {
  assert.equal(Object.keys(importers).sort(), ["csv", "ftrace", "kernel", "qemu"]);
  for (const [name, importer] of Object.entries(importers)) {
    assert.is(importer.name, name);
    assert.ok(importer.description.length > 20, name);
  }
});


/** An event without its source position (line, column), for comparing with the parsed text. */
function unplaced(e: TraceEvent): object {
  const { line: _line, ...rest } = e as TraceEvent & { column?: number };
  delete (rest as { column?: number }).column;
  return rest;
}

for (const [name, fixture, text, map] of FIXTURES) {
  test(`${name} ${fixture}: the events write as trace text v1 and read back unchanged`, () => {
    const r = importers[name]!.import(text, fixture, { skipBad: false, ...(map ? { map } : {}) });
    assert.equal(r.skipped, []);
    assert.ok(r.events.length > 0);
    const written = r.events.map(formatEvent).join("\n") + "\n";
    const back = parseTraceText(written, `${fixture}.trace`);
    assert.equal(back.map(unplaced), r.events.map(unplaced));
  });

  test(`${name} ${fixture}: every line is used, ignored for one reason or bad, once; the events by kind`, () => {
    const r = importers[name]!.import(text, fixture, { skipBad: false, ...(map ? { map } : {}) });
    const s = r.summary;
    assert.is(s.importer, name);
    assert.is(s.lines, text.split("\n").length - 1, "each fixture ends with a newline");
    assert.is(s.used + Object.values(s.ignored).reduce((a, b) => a + b, 0) + s.skipped, s.lines);
    assert.is(Object.values(s.events).reduce((a, b) => a + b, 0), r.events.length);
    assert.is(s.expected, r.events.filter((e) => "expect" in e && e.expect !== undefined).length);
  });

  test(`${name} ${fixture}: detected as ${name} (--from auto)`, () => {
    const d = detectFormat(Buffer.from(text), Object.values(importers));
    assert.is(d?.format, name);
    assert.ok(d!.score >= 0.9, `${d!.score}`);
  });
}

test("the summary's text: lines by outcome, events by kind, expected faults, notes", () => {
  assert.equal(formatImportSummary(summary("kernel", { lines: 33, used: 16, ignored: { noDma: 11, repeat: 5, unrecognised: 1 }, events: { MRd: 4, MWr: 3, ATS: 1 }, expected: 4 }), "dmesg"), [
    "kernel import of dmesg: 33 lines: 16 used, 17 ignored (1 not a line of this format, 11 no DMA, 5 repeating another line), 0 bad (skipped)",
    "made 8 TLPs (4 MRd, 3 MWr, 1 ATS; 4 with an expected fault) and 0 driver events",
  ]);
  assert.equal(
    formatImportSummary(summary("ftrace", { lines: 13, used: 9, ignored: { superseded: 2, blank: 2 }, skipped: 1, events: { map: 4, unmap: 1 }, notes: [{ what: "maps with PA = IOVA", count: 1 }] }), "t"),
    ["ftrace import of t: 13 lines: 9 used, 4 ignored (2 superseded by other events, 2 blank or comment), 1 bad (skipped)", "made 0 TLPs and 5 driver events (4 map, 1 unmap)", "note: 1 maps with PA = IOVA"],
  );
  assert.equal(formatImportSummary(summary("csv", { lines: 0, used: 0 }), "e.csv"), ["csv import of e.csv: 0 lines: 0 used, 0 ignored, 0 bad (skipped)", "made 0 TLPs and 0 driver events"]);
});

const bytes = (text: string) => Buffer.from(text, "utf8");

test("an import that used no line of a non-empty input is an input error that says what the input looks like", () => {
  const textTrace = "# a trace\n@10 MRd 00:02.0 addr=0x1000\nmap 1 0x0 0x0 0x1000\n";
  assert.is(
    inputError(() => importTrace("ftrace", bytes(textTrace), "t.trace", { skipBad: false })),
    "t.trace: the ftrace importer used no line of the input (3 lines: 2 not a line of this format, 1 blank or comment): it looks like an iommu-emu text trace (format v1) (try --from text)",
  );
  assert.is(
    inputError(() => importTrace("qemu", bytes(kernelOld), "kern.log", { skipBad: false })),
    "kern.log: the qemu importer used no line of the input (19 lines: 19 not a line of this format): it looks like a kernel log (dmesg, journalctl -k, kern.log) (try --from kernel)",
  );
  assert.is(
    inputError(() => importTrace("kernel", bytes(perfScript), "perf.txt", { skipBad: false })),
    "perf.txt: the kernel importer used no line of the input (5 lines: 5 not a line of this format): it looks like Linux tracepoint output (ftrace, trace-cmd report, perf script) (try --from ftrace)",
  );
  // random bytes (every byte value but a line feed): one line
  const random = Uint8Array.from({ length: 255 }, (_, i) => (i < 10 ? i : i + 1));
  assert.is(inputError(() => importTrace("kernel", random, "r.bin", { skipBad: false })), "r.bin: the kernel importer used no line of the input (1 line: 1 not a line of this format): it looks like binary data, not text");
  // an iommu-emu binary trace: its header and one TLP record
  const binary = Buffer.concat([encodeHeader(1, 1), Buffer.from(Uint32Array.of(0x1000, 0, 0, 0, 0x10, 0, 4, 0).buffer)]);
  assert.match(inputError(() => importTrace("qemu", binary, "t.itb", { skipBad: false })), /: it is an iommu-emu binary trace \(use --from binary\)$/);
  // the right format, but nothing in it is DMA
  assert.is(
    inputError(() => importTrace("kernel", bytes("[    1.0] DMAR: DRHD: handling fault status reg 3\n[    1.1] usb 1-1: new device\n"), "dmesg", { skipBad: false })),
    "dmesg: the kernel importer used no line of the input (2 lines: 1 not a line of this format, 1 no DMA): it looks like a kernel log (dmesg, journalctl -k, kern.log), but none of its lines is a DMA access, mapping or invalidation the kernel importer reads",
  );
  // text no importer reads
  assert.is(
    inputError(() => importTrace("qemu", bytes("hello\nworld\n"), "x", { skipBad: false })),
    'x: the qemu importer used no line of the input (2 lines: 2 not a line of this format): it looks like text no importer reads (first line: "hello")',
  );
  // every line bad (skipped) also used none
  assert.is(
    inputError(() => importTrace("kernel", bytes("DMAR: [DMA Read NO_PASID] Request device [00:20.0] fault addr 0x1000\n"), "d", { skipBad: true })),
    "d: the kernel importer used no line of the input (1 line: 1 bad (skipped)): it looks like a kernel log (dmesg, journalctl -k, kern.log), but none of its lines is a DMA access, mapping or invalidation the kernel importer reads",
  );
});

test("an empty or blank input imports to an empty trace; a used line is enough", () => {
  assert.equal(importTrace("kernel", bytes(""), "e", { skipBad: false }).events, []);
  assert.equal(importTrace("ftrace", bytes("# tracer: nop\n#\n\n"), "e", { skipBad: false }).summary, summary("ftrace", { lines: 3, used: 0, ignored: { blank: 3 } }));
  assert.is(importTrace("kernel", bytes(kernelAcs), "dmesg", { skipBad: false }).events.length, 5);
});

test("detection: text v1 and binary traces; the sample leaves out blank and # lines; binary data; below half no format", () => {
  const registry = Object.values(importers);
  assert.equal(detectFormat(bytes("# iommu-emu trace\n\n@1 MRd 00:02.0 addr=0x0\nflush\n"), registry), { format: "text", score: 1, looksLike: "an iommu-emu text trace (format v1)" });
  assert.equal(detectFormat(encodeHeader(0, 0), registry), { format: "binary", score: 1, looksLike: "an iommu-emu binary trace" });
  assert.equal(sampleLines(bytes("\uFEFF# c\n  \nx\r\n  # d\ny")), ["x", "y"]);
  assert.ok(looksBinary(Uint8Array.of(0x41, 0x00, 0x42)));
  assert.ok(looksBinary(Uint8Array.of(0xff, 0xfe, 0x41)), "not UTF-8");
  assert.not.ok(looksBinary(bytes("caf\u00e9\tbar\r\n")));
  assert.equal(detectFormats(Uint8Array.of(1, 2, 3, 0), registry), []);
  // one line in three is a kernel line: a third, below the threshold
  const third = "[    1.0] DMAR: x\nfoo\nbar\n";
  assert.equal(detectFormats(bytes(third), registry).map((d) => [d.format, d.score]), [["kernel", 1 / 3]]);
  assert.is(detectFormat(bytes(third), registry), undefined);
  // equal scores go by the fixed order: text before csv (a text line with a comma is a CSV row too)
  const both = "MRd 00:02.0 pasid=1,priv addr=0x0\nMWr 00:02.0 pasid=2,exe addr=0x0\n";
  assert.equal(detectFormats(bytes(both), registry).map((d) => [d.format, d.score]), [["text", 1], ["csv", 1]]);
  assert.is(describeInput(bytes(both), "csv", registry), "it looks like an iommu-emu text trace (format v1) (try --from text)");
});

test.run();
