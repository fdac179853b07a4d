/**
 * The request writer: each TLP record a reader hands over becomes a 24-byte request record in the
 * ring (ADDR, SID, PASID, TIME as a delta from the batch's base, FLAGS | LEN << 16) in one step;
 * it ends the batch before a TLP whose arrival does not fit the u32 delta, reaches the lazy flush
 * deadline, or finds the ring full; every reader offers a refused TLP again.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as abi from "../../src/core/abi.ts";
import { VtdPlatform } from "../../src/platform.ts";
import { BinaryTraceWriter, encodeTlpRecord, RECORD_WORDS, BinaryTraceReader } from "../../src/trace/binary.ts";
import { TextTraceReader, EventsReader } from "../../src/trace/stream.ts";
import { parseTraceText, type TraceTlp } from "../../src/trace/text.ts";
import type { TlpSink, TraceReader } from "../../src/trace/reader.ts";
import { ArrivalClock, replay } from "../../src/replay/replay.ts";
import { RequestWriter, REQ_WORDS, decodeRequest, requestRecord } from "../../src/replay/request-writer.ts";

const TWO32 = 4294967296;

function tlp(over: Partial<TraceTlp>): TraceTlp {
  return { line: 1, op: "MRd", sid: 0x10, priv: false, exe: false, addr: 0x100000n, len: 4, ns: false, ro: false, ido: false, translated: false, nw: false, ...over };
}

function record(t: TraceTlp): Uint32Array {
  const w = new Uint32Array(RECORD_WORDS);
  encodeTlpRecord(w, 0, t);
  return w;
}

function writer(arrival: "trace" | "back-to-back" = "trace"): { w: RequestWriter; ring: Uint32Array } {
  const w = new RequestWriter(new ArrivalClock({ clockMHz: 1000, arrival, injectionRate: 0 }), (m, line) => new Error(`line ${line}: ${m}`));
  const ring = new Uint32Array(abi.RING_RECORDS * REQ_WORDS);
  return { w, ring };
}

test("a TLP record becomes the 24-byte request record: ADDR, SID, PASID, TIME delta, FLAGS | LEN << 16", () => {
  assert.is(REQ_WORDS, 6);
  const { w, ring } = writer();
  w.begin(ring, 0, Infinity);
  const t = tlp({ op: "MWr", sid: 0x0210, pasid: 5, priv: true, addr: 0x7f0000001040n, len: 64, time: { value: 1000, unit: "cycles" }, line: 7 });
  assert.ok(w.put(record(t), 0, 7));
  // MWr (1) | PASID (8) | PRIV (16) = 0x19, LEN 64 in bits 31:16
  assert.equal([...ring.subarray(0, 6)], [0x1040, 0x7f00, 0x210, 5, 0, 0x400019]);
  assert.is(w.base, 1000);
  assert.ok(w.put(record(tlp({ op: "ATS", nw: true, time: { value: 1250, unit: "cycles" } })), 0, 9));
  // ATS (2) | NW (0x400), LEN 4; 250 cycles after the base
  assert.equal([...ring.subarray(6, 12)], [0x100000, 0, 0x10, 0, 250, 0x40402]);
  assert.equal([...w.lines.subarray(0, 2)], [7, 9]);
  assert.is(w.n, 2);
  // the ring's record decodes to the TLP without its time
  const { time: _time, ...untimed } = t;
  assert.equal(decodeRequest(ring, 0, 7), untimed);
  const back = new Uint32Array(RECORD_WORDS);
  requestRecord(ring, 0, back, 0);
  assert.equal([...back], [0x1040, 0x7f00, 0, 0, 0x210, 5, 64, 0x19]);
});

test("an arrival 2^32 cycles or more after the batch's first ends the batch before it; the clock stays", () => {
  const { w, ring } = writer();
  w.begin(ring, 0, Infinity);
  const at = (c: number) => record(tlp({ time: { value: c, unit: "cycles" } }));
  assert.ok(w.put(at(1000), 0, 1));
  assert.ok(w.put(at(1000 + TWO32 - 1), 0, 2));
  assert.is(ring[6 + 4], 0xffffffff);
  assert.not.ok(w.put(at(1000 + TWO32), 0, 3));
  assert.is(w.n, 2);
  w.end();
  assert.is(w.clock.now, 1000 + TWO32 - 1);
  // the next batch starts at it
  w.begin(ring, 2, Infinity);
  assert.ok(w.put(at(1000 + TWO32), 0, 3));
  assert.is(w.base, 1000 + TWO32);
  assert.is(ring[4], 0);
});

test("the lazy flush deadline ends the batch before a later TLP that reaches it, never before the first", () => {
  const { w, ring } = writer();
  const at = (c: number) => record(tlp({ time: { value: c, unit: "cycles" } }));
  w.begin(ring, 0, 5000);
  assert.ok(w.put(at(100), 0, 1));
  assert.ok(w.put(at(4999), 0, 2));
  assert.not.ok(w.put(at(5000), 0, 3));
  w.end();
  assert.is(w.clock.now, 4999);
  // the first TLP of a batch at the deadline fires the flush before the batch: no deadline after it
  w.begin(ring, 2, 5000);
  assert.ok(w.put(at(5000), 0, 3));
  assert.ok(w.put(at(9000), 0, 4));
  assert.is(w.n, 2);
});

test("a full ring refuses the next TLP; back-to-back arrivals are all at delta 0", () => {
  const { w, ring } = writer("back-to-back");
  w.begin(ring, 0, Infinity);
  const r = record(tlp({ time: { value: 77, unit: "cycles" } }));
  for (let i = 0; i < abi.RING_RECORDS; i++) assert.ok(w.put(r, 0, i + 1));
  assert.not.ok(w.put(r, 0, abi.RING_RECORDS + 1));
  assert.is(w.n, abi.RING_RECORDS);
  assert.is(w.base, 0);
  assert.is(ring[(abi.RING_RECORDS - 1) * REQ_WORDS + 4], 0);
});

/** A sink that takes `take` TLPs per call, noting their addresses and line numbers. */
class Taker implements TlpSink {
  got: string[] = [];
  left = 0;
  put(w: Uint32Array, o: number, line: number): boolean {
    if (this.left === 0) return false;
    this.left--;
    this.got.push(`${line}:${w[o]!.toString(16)}`);
    return true;
  }
}

const lines = ["@1 MRd 00:02.0 addr=0x1000", "@2 MRd 00:02.0 addr=0x2000", "# c", "@3 MRd 00:02.0 addr=0x3000", "@4 MWr 00:02.0 addr=0x4000 len=8"];

function readers(): [string, () => TraceReader][] {
  const dir = mkdtempSync(join(tmpdir(), "iommu-emu-writer-"));
  const text = join(dir, "t.trace");
  writeFileSync(text, lines.join("\n") + "\n");
  const bin = join(dir, "t.itb");
  const bw = new BinaryTraceWriter(bin);
  for (const e of parseTraceText(lines.join("\n"), "t")) bw.write(e);
  bw.commit();
  return [
    ["text", () => new TextTraceReader(text)],
    ["binary", () => new BinaryTraceReader(bin)],
    ["events", () => new EventsReader(parseTraceText(lines.join("\n"), "t"), "t")],
  ];
}

test("every reader offers a refused TLP again, first, on the next call", () => {
  for (const [name, open] of readers()) {
    const r = open();
    const s = new Taker();
    s.left = 1;
    assert.is(r.readRequests(s), 1, name);
    s.left = 2;
    assert.is(r.readRequests(s), 2, name);
    assert.not.ok(r.done, name);
    s.left = 5;
    assert.is(r.readRequests(s), 1, name);
    assert.ok(r.done, name);
    // text: line numbers; binary: record numbers (the comment is not a record)
    const want = name === "binary" ? ["1:1000", "2:2000", "3:3000", "4:4000"] : ["1:1000", "2:2000", "4:3000", "5:4000"];
    assert.equal(s.got, want, name);
    r.close();
  }
});

/** A timed platform where device 00:02.0 reads and writes 1 MiB at IOVA 0x100000. */
function mappedPlatform(): VtdPlatform {
  const p = new VtdPlatform({ build: "release" });
  p.builder.map(p.builder.createDomain({ id: 1, type: "ss" }), 0x100000n, 0x80000000n, 0x100000n);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  return p;
}

test("the replay splits a batch where an arrival does not fit the delta; the core adds the base back", () => {
  const p = mappedPlatform();
  const batches: number[] = [];
  const run = p.core.run.bind(p.core);
  p.core.run = (n: number, unread?: boolean) => {
    batches.push(n);
    run(n, unread);
  };
  const t = ["@10 MRd 00:02.0 addr=0x100000", "@20 MRd 00:02.0 addr=0x101000", `@${10 + TWO32} MRd 00:02.0 addr=0x102000`, `@${20 + TWO32} MRd 00:02.0 addr=0x103000`];
  const issue: bigint[] = [];
  replay(p, parseTraceText(t.join("\n"), "t"), (_, __, r) => issue.push(r.issue));
  assert.equal(batches, [2, 2]);
  assert.equal(issue, [10n, 20n, 10n + BigInt(TWO32), 20n + BigInt(TWO32)]);
});

test("Core.translate: times more than 2^32 - 1 cycles apart go in separate batches; encode refuses a delta that does not fit", () => {
  const p = mappedPlatform();
  const big = BigInt(TWO32) + 5n;
  const rs = p.translate([0n, 7n, big].map((time, i) => ({ op: "MRd" as const, sid: 0x10, addr: 0x100000n + BigInt(i * 0x1000), time })));
  assert.equal(rs.map((r) => r.issue), [0n, 7n, big]);
  assert.throws(() => p.core.encode(0, { op: "MRd", sid: 0x10, addr: 0n, time: 3n }, 4n), (e: unknown) => e instanceof RangeError && e.message === "arrival 3 is not within 2^32 - 1 cycles after the batch's base 4");
  assert.throws(() => p.core.encode(0, { op: "MRd", sid: 0x10, addr: 0n, time: big }), (e: unknown) => e instanceof RangeError && e.message === "arrival 4294967301 is not within 2^32 - 1 cycles after the batch's base 0");
});

test.run();
