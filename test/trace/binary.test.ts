/**
 * Binary trace format v1: lossless both ways with text v1 (every TLP field, every driver event),
 * text -> binary -> text identical for canonical text, binary -> text -> binary identical bytes,
 * the header, chunked reading, and every kind of bad record refused with file:record N.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError } from "../../src/errors.ts";
import { formatEvent, isTlp, parseTraceText, type TraceEvent, type TraceTlp } from "../../src/trace/text.ts";
import {
  BinaryTraceReader,
  BinaryTraceWriter,
  HEADER_BYTES,
  MAGIC,
  RECORD_BYTES,
  RecordError,
  decodeTlpRecord,
  encodeDriverEvent,
  encodeTlpRecord,
} from "../../src/trace/binary.ts";
import { readEvents, readTraceFile } from "../../src/trace/stream.ts";
import { convertCommand } from "../../src/cli/convert.ts";
import { arbTlp, arbTrace } from "./arbitraries.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-binary-"));
let fileNo = 0;
const tmp = (ext: string) => join(dir, `f${fileNo++}${ext}`);

/** Events without their positions (line/record numbers, columns). */
function strip(events: readonly TraceEvent[]): unknown[] {
  return events.map((e) => {
    const { line: _l, ...rest } = e as TraceEvent & { column?: number };
    delete (rest as { column?: number }).column;
    return rest;
  });
}

function writeBinary(events: readonly TraceEvent[], file = tmp(".itb")): string {
  const w = new BinaryTraceWriter(file);
  for (const e of events) w.write(e);
  w.commit();
  return file;
}

/** Raw records (after the header) of a binary file as 32-bit words. */
function words(file: string): Uint32Array {
  const b = readFileSync(file);
  return new Uint32Array(b.buffer.slice(b.byteOffset + HEADER_BYTES, b.byteOffset + b.length));
}

function withRecords(records: Uint32Array, file = tmp(".itb")): string {
  const w = new BinaryTraceWriter(file);
  w.commit();
  const head = readFileSync(file).subarray(0, HEADER_BYTES);
  const view = new DataView(head.buffer, head.byteOffset, HEADER_BYTES);
  view.setBigUint64(16, BigInt(records.length / 8), true);
  view.setBigUint64(24, 0n, true);
  writeFileSync(file, Buffer.concat([head, Buffer.from(records.buffer, records.byteOffset, records.byteLength)]));
  return file;
}

function throwsAt(fn: () => unknown, message: string | RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, InputError);
    if (typeof message === "string") assert.is((e as Error).message, message);
    else assert.match((e as Error).message, message);
    return;
  }
  assert.unreachable(`expected an InputError: ${message}`);
}

// ------------------------------------------------------------------------------------ round trips

test("every TLP field and every driver event survive text -> binary -> objects (fast-check)", () => {
  fc.assert(
    fc.property(arbTrace({ maxLength: 30 }), (events) => {
      const back = readTraceFile(writeBinary(events));
      assert.equal(strip(back), strip(events));
      // positions in a binary trace are record numbers
      let record = 1;
      back.forEach((e, i) => {
        assert.is(e.line, record, `event ${i}`);
        record += isTlp(e) ? 1 : encodeDriverEvent(e).length / 8;
      });
    }),
    { numRuns: 300 },
  );
});

test("a TLP record decodes to the TLP that made it (every field, fast-check)", () => {
  const w = new Uint32Array(8);
  fc.assert(
    fc.property(arbTlp, fc.option(fc.oneof(fc.record({ value: fc.maxSafeNat(), unit: fc.constant("cycles" as const) }), fc.record({ value: fc.double({ min: 0, max: 1e300, noNaN: true }), unit: fc.constantFrom("ns" as const, "us" as const) })), { nil: undefined }), (t, time) => {
      const tlp: TraceTlp = time === undefined ? t : { ...t, time: { value: time.value === 0 ? 0 : time.value, unit: time.unit } };
      encodeTlpRecord(w, 0, tlp);
      assert.equal(decodeTlpRecord(w, 0, 0), tlp);
    }),
    { numRuns: 1000 },
  );
});

test("text -> binary -> text gives the canonical text back unchanged (convert, fast-check)", () => {
  fc.assert(
    fc.property(arbTrace({ maxLength: 25 }), (events) => {
      const text = events.map(formatEvent).join("\n") + (events.length ? "\n" : "");
      const a = tmp(".trace"), b = tmp(".itb"), c = tmp(".trace");
      writeFileSync(a, text);
      convertCommand(a, b);
      convertCommand(b, c);
      assert.is(readFileSync(c, "utf8"), text);
    }),
    { numRuns: 80 },
  );
});

test("binary -> text -> binary gives the same bytes (convert, fast-check)", () => {
  fc.assert(
    fc.property(arbTrace({ maxLength: 25 }), (events) => {
      const a = writeBinary(events), b = tmp(".trace"), c = tmp(".bin");
      convertCommand(a, b);
      convertCommand(b, c);
      assert.ok(readFileSync(a).equals(readFileSync(c)));
    }),
    { numRuns: 80 },
  );
});

test("each driver event form, written out: map, unmap, flush and every inv line", () => {
  const lines = [
    "@5 map 3 0x200000 0x80000000 0x400000 perm=rx page=2M snp sup global",
    "@5 map 65535 0x0 0x0 0x40000000 perm=w page=1G",
    "@6 unmap 7 0xfffffffffffff000 0x1000",
    "@1.5ns flush",
    "@2us inv qi 0x100e2 0xffffffffffffffff",
    "inv qi 0x1 0x2 0x3 0x4",
    "inv cc global",
    "inv reg cc domain did=65535",
    "inv cc device sid=ff:1f.7 fm=3",
    "inv reg iotlb global",
    "inv iotlb dsi did=1",
    "inv iotlb psi did=2 addr=0x8000000000000000 am=51 ih",
    "inv devtlb 00:04.0 addr=0x0 pages=4503599627370496",
    "inv piotlb did=2 pasid=1048575",
    "inv piotlb did=2 pasid=1 psi addr=0x200000 am=9 ih",
    "inv pc global",
    "inv pc dsi did=3",
    "inv pc pasid did=3 pasid=9",
    "inv pdevtlb 00:04.0 pasid=2 addr=0x4000 pages=4 all",
    "inv iec",
    "inv wait",
    "inv wait addr=0xfffffffffffffffc data=4294967295",
    "@7 attach 00:02.0 domain=1",
    "attach ff:1f.7 pasid=1048575 domain=65535 ats pri pgsnp fpd sre ere",
    "detach 00:02.0",
    "@8 detach ff:1f.7 pasid=0",
  ];
  const text = lines.join("\n") + "\n";
  const events = parseTraceText(text, "t");
  const bin = writeBinary(events);
  assert.equal(strip(readTraceFile(bin)), strip(events));
  const back = tmp(".trace");
  convertCommand(bin, back);
  assert.is(readFileSync(back, "utf8"), text);
  // a map takes two records (the second an extension record), a flush one
  assert.is(encodeDriverEvent(events[0] as never).length / 8, 2);
  assert.is(encodeDriverEvent(events[3] as never).length / 8, 1);
});

test("the header: magic, version 1, 32-byte header and records, counts", () => {
  const events = parseTraceText("MRd 00:02.0 addr=0x1000\nmap 1 0x0 0x0 0x1000\nATS 0001:00:02.0 addr=0x0 nw", "t");
  const f = writeBinary(events);
  const b = readFileSync(f);
  assert.ok(b.subarray(0, 8).equals(Buffer.from(MAGIC)));
  assert.equal([...b.subarray(0, 8)], [0x89, 0x49, 0x54, 0x42, 0x0d, 0x0a, 0x1a, 0x0a]);
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  assert.is(v.getUint16(8, true), 1, "version");
  assert.is(v.getUint16(10, true), HEADER_BYTES);
  assert.is(v.getUint16(12, true), RECORD_BYTES);
  assert.is(v.getUint16(14, true), 1, "COUNTS");
  assert.is(v.getBigUint64(16, true), 4n, "2 TLPs + a map in 2 records");
  assert.is(v.getBigUint64(24, true), 2n);
  assert.is(b.length, HEADER_BYTES + 4 * RECORD_BYTES);
  // the TLP record is the request-ring layout with the time's unit in FLAGS 13:12
  const w = words(f);
  assert.equal([...w.subarray(0, 8)], [0x1000, 0, 0, 0, 0x10, 0, 4, 0]);
  assert.is(w[8 + 7], 4 | (1 << 16) | (1 << 24), "map: KIND 4, OP 1, one extension record");
  assert.is(w[16 + 7], 5, "extension record");
  assert.equal([...w.subarray(24, 32)], [0, 0, 0, 0, 0x10010, 0, 4, 2 | (1 << 10)], "ATS with segment 1 and NW");
});

test("chunked reading: records and driver events across chunk boundaries, any chunk size", () => {
  fc.assert(
    fc.property(arbTrace({ maxLength: 40, eventShare: 3 }), fc.integer({ min: 1, max: 7 }), (events, chunk) => {
      const r = new BinaryTraceReader(writeBinary(events), { chunkRecords: chunk });
      try {
        assert.equal(strip([...readEvents(r)]), strip(events));
        assert.ok(r.done);
        assert.equal(r.progress.done, r.progress.total);
      } finally {
        r.close();
      }
    }),
    { numRuns: 150 },
  );
});

test("the writer refuses what the format cannot express, and times going backwards", () => {
  const t = parseTraceText("MRd 00:02.0 addr=0x1000", "t")[0] as TraceTlp;
  const w = new BinaryTraceWriter(tmp(".itb"));
  try {
    assert.throws(() => w.write({ ...t, len: 0 }), /len 0 out of range/);
    assert.throws(() => w.write({ ...t, priv: true }), /priv\/exe need a pasid/);
    assert.throws(() => w.write({ ...t, op: "ATS", ns: true }), /ATS/);
    assert.throws(() => w.write({ ...t, pasid: 1 << 20 }), /pasid/);
    assert.throws(() => w.write({ line: 3, column: 1, op: "unmap", domain: 1, iova: 0x1001n, size: 0x1000n }), /4 KiB/);
    assert.throws(() => w.write({ line: 3, column: 1, op: "map", domain: 1, iova: (1n << 64n) - 0x1000n, pa: 0n, size: 0x2000n, perm: "rw", page: "4K", snp: false, user: true, global: false }), /beyond 2\^64/);
    w.write({ ...t, time: { value: 10, unit: "cycles" } });
    assert.throws(() => w.write({ ...t, line: 9, time: { value: 9, unit: "cycles" } }), /timestamp @9 is earlier than @10/);
    w.write({ ...t, time: { value: 1, unit: "us" } });
    assert.throws(() => w.write({ ...t, time: { value: 999.5, unit: "ns" } }), /earlier/);
  } finally {
    w.abort();
  }
  assert.equal(readdirSync(dir).filter((f) => f.includes(".tmp")), [], "abort leaves no temporary file");
});

// ----------------------------------------------------------------------------------------- errors

/** The records of a small valid trace: TLP (1), map (2, 3), TLP (4). */
function sample(): Uint32Array {
  return words(writeBinary(parseTraceText("@10 MRd 00:02.0 addr=0x1000\n@20 map 1 0x0 0x80000 0x1000\n@30ns MWr 00:02.0 pasid=3 addr=0x2000 len=64", "t")));
}

function readFails(records: Uint32Array, message: string | RegExp): void {
  const f = withRecords(records);
  throwsAt(() => readTraceFile(f), typeof message === "string" ? `${f}:${message}` : message);
}

test("bad TLP records: file:record N and what is wrong", () => {
  let w = sample();
  w[7] = w[7]! | (1 << 11);
  readFails(w, "record 1: reserved FLAGS bits set (0x1800)");
  w = sample();
  w[7] = w[7]! | (1 << 20);
  readFails(w, /record 1: reserved FLAGS bits set/);
  w = sample();
  w[5] = 7;
  readFails(w, "record 1: PASID is not 0 with P clear");
  w = sample();
  w[7] = w[7]! | (1 << 4);
  readFails(w, "record 1: PRIV or EXE without a PASID (P clear)");
  w = sample();
  w[24 + 5] = 0x100000;
  readFails(w, "record 4: PASID 0x100000 is out of range (max 0xfffff)");
  w = sample();
  w[6] = 0;
  readFails(w, "record 1: LEN 0 is out of range (1 to 4096)");
  w = sample();
  w[6] = 4097;
  readFails(w, "record 1: LEN 4097 is out of range (1 to 4096)");
  w = sample();
  w[7] = (w[7]! & ~7) | 2 | (1 << 6);
  readFails(w, "record 1: NS, RO, IDO or TR on an ATS request");
  w = sample();
  w[7] = (w[7]! & ~7) | 2;
  w[6] = 8;
  readFails(w, "record 1: LEN 8 on an ATS request (must be 4)");
  w = sample();
  w[7] = w[7]! | (1 << 10);
  readFails(w, "record 1: NW on MRd");
  w = sample();
  w[7] = w[7]! & (~(3 << 12));
  readFails(w, "record 1: TIME is not 0 in a record without a time");
  w = sample();
  w[3] = 0x200000;
  readFails(w, "record 1: cycle TIME is above 2^53 - 1");
  w = sample();
  w[24 + 3] = w[24 + 3]! | (0x80000000);
  readFails(w, /record 4: TIME is not a finite non-negative number/);
  w = sample();
  w[24 + 3] = 0x7ff00000;
  w[24 + 2] = 0;
  readFails(w, /record 4: TIME is not a finite non-negative number/);
  w = sample();
  w[7] = (w[7]! & ~7) | 3;
  readFails(w, "record 1: unknown record kind 3 (FLAGS 0x1003)");
  w = sample();
  w[2] = 25;
  readFails(w, "record 2: timestamp @20 is earlier than @25 at record 1; timestamps must not decrease");
});

test("bad driver-event records: missing or stray extension records, unknown OP, unused bits, invalid events", () => {
  let w = sample();
  w[16 + 7] = 0;
  readFails(w, /record 2: record 3 should be extension record 1 of 1 of this driver event/);
  w = sample();
  w[7] = 5;
  w[2] = w[3] = 0;
  readFails(w, "record 1: an extension record without a driver-event record before it");
  w = sample();
  w[8 + 7] = (w[8 + 7]! & ~(0xff << 16)) | (99 << 16);
  readFails(w, "record 2: unknown driver-event OP 99");
  w = sample();
  w[8 + 5] = 1; // C is unused by map
  readFails(w, /record 2: the map event has non-zero bits in unused fields/);
  w = sample();
  w[16 + 5] = 1; // extension Q2 high word
  readFails(w, /record 2: the map event has non-zero bits in unused fields/);
  w = sample();
  w[8] = 0x1001; // IOVA not page-aligned
  readFails(w, /record 2: the map event is not valid: IOVA, PA and SIZE must be multiples of 4K/);
  w = sample();
  w[8 + 6] = 0; // perm empty
  readFails(w, /record 2: the map event is not valid: bad perm ""/);
  w = sample();
  w[8 + 7] = w[8 + 7]! | (1 << 31);
  readFails(w, /record 2: reserved FLAGS bits set in a driver-event record/);
  // a driver event whose extension records the file does not hold
  const full = sample();
  const cut = full.slice(0, 16);
  readFails(cut, "record 2: the driver event needs 1 extension records; the file ends first");
});

test("attach/detach records: one record each (A domain, B sid, C pasid, D P and flags); the reader is strict", () => {
  const events = parseTraceText("@1 attach 00:02.0 pasid=5 domain=3 ats ere\n@2 detach 00:02.0 pasid=5\n@3 detach 00:03.0", "t");
  const w = words(writeBinary(events));
  assert.is(w.length, 3 * 8, "no extension records");
  assert.equal([...w.subarray(0, 8)], [3, 0, 1, 0, 0x10, 5, 1 | 2 | 64, 4 | (1 << 12) | (4 << 16)]);
  assert.equal([...w.subarray(8, 16)], [0, 0, 2, 0, 0x10, 5, 1, 4 | (1 << 12) | (5 << 16)]);
  assert.equal([...w.subarray(16, 24)], [0, 0, 3, 0, 0x18, 0, 0, 4 | (1 << 12) | (5 << 16)]);
  const bad = (patch: (w: Uint32Array) => void, message: RegExp) => {
    const x = w.slice();
    patch(x);
    readFails(x, message);
  };
  bad((x) => (x[5] = 0x100000), /record 1: the attach event is not valid: .*pasid 1048576 out of range/);
  bad((x) => (x[4] = 0x10000), /record 1: the attach event is not valid: .*sid 65536 is not a 16-bit source ID/);
  bad((x) => (x[0] = 0x10000), /record 1: attach with domain 65536 \(max 65535\)/);
  bad((x) => (x[1] = 1), /record 1: attach with domain 4294967299 \(max 65535\)/);
  bad((x) => (x[6] = x[6]! | 128), /record 1: the attach event has non-zero bits in unused fields/);
  bad((x) => (x[8] = 1), /record 2: the detach event has non-zero bits in unused fields/);
  bad((x) => (x[8 + 6] = 0), /record 2: the detach event has non-zero bits in unused fields/); // PASID without P
  bad((x) => (x[16 + 6] = 2), /record 3: the detach event has non-zero bits in unused fields/); // a flag on detach
});

test("bad files: no magic, newer version, other record size, truncated, counts that do not match", () => {
  const f = writeBinary(parseTraceText("MRd 00:02.0 addr=0x1000", "t"));
  const good = readFileSync(f);
  const variant = (edit: (b: Buffer) => Buffer) => {
    const g = tmp(".itb");
    writeFileSync(g, edit(Buffer.from(good)));
    return g;
  };
  let g = variant((b) => ((b[0] = 0x88), b));
  throwsAt(() => new BinaryTraceReader(g), `${g}: not a binary trace (no "\\x89ITB\\r\\n\\x1a\\n" magic at the start); text traces end in .trace or .txt`);
  g = variant((b) => (b.writeUInt16LE(3, 8), b));
  throwsAt(() => new BinaryTraceReader(g), `${g}: binary trace version 3 is not supported (this reader knows versions 1 to 2)`);
  g = variant((b) => (b.writeUInt16LE(16, 12), b));
  throwsAt(() => new BinaryTraceReader(g), `${g}: bad record size 16 (version 1 records are 32 bytes)`);
  g = variant((b) => b.subarray(0, b.length - 5));
  throwsAt(() => new BinaryTraceReader(g), `${g}: the file is truncated: 27 bytes after record 0 do not make a whole record`);
  g = variant((b) => Buffer.concat([b, b.subarray(HEADER_BYTES)]));
  throwsAt(() => new BinaryTraceReader(g), `${g}: the header says 1 records, the file holds 2 (truncated or appended to)`);
  g = variant((b) => (b.writeUInt16LE(0, 14), Buffer.concat([b, b.subarray(HEADER_BYTES)])));
  assert.is(readTraceFile(g).length, 2, "without COUNTS the file size says how many records");
  g = variant((b) => b.subarray(0, 12));
  throwsAt(() => new BinaryTraceReader(g), /not a binary trace|truncated/);
});

test("skipBad leaves out bad records (a driver event with its extension records) and says where", () => {
  const w = sample();
  w[6] = 0; // record 1: bad TLP
  w[8 + 5] = 1; // record 2: bad map (records 2-3)
  const f = withRecords(w);
  const r = new BinaryTraceReader(f, { skipBad: true });
  const events = [...readEvents(r)];
  r.close();
  assert.equal(events.map((e) => e.line), [4], "only the last TLP is left");
  assert.equal(
    r.skipped.map((s) => s.line),
    [1, 2],
  );
  assert.match(r.skipped[0]!.reason, /LEN 0/);
  assert.ok(r.errorAt("x", 7) instanceof RecordError);
  assert.is(r.errorAt("x", 7).message, `${f}:record 7: x`);
});

test("output is atomic: a failed conversion leaves nothing behind", () => {
  const bad = tmp(".trace");
  writeFileSync(bad, "MRd 00:02.0 addr=0x1000\nMRd 00:02.0 addr=0x1000 len=0\n");
  const out = tmp(".itb");
  throwsAt(() => convertCommand(bad, out), `${bad}:2:25: len 0 is out of range (expected 1 to 4096 bytes)`);
  assert.not.ok(existsSync(out));
  assert.equal(readdirSync(dir).filter((f) => f.includes(".tmp")), []);
});

test.run();
