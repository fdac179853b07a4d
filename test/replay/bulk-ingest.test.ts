/**
 * The binary reader's bulk path: runs of plain TLP records (a cycle time or none, no expected
 * fault) are checked in one loop (src/trace/binary.ts scanTlpRecords, BLOCK_RECORDS = 512) and
 * converted into the request ring in one loop (RequestWriter.putBlock); every other record, and the
 * record that ends a run, goes through the per-record path. Whatever the records, the ring, the
 * record numbers, the batches, the skipped records and the errors must be exactly those of the
 * per-record path (a sink without putBlock), also where a bad record, a driver event, a refusal or
 * a chunk boundary falls at or next to a block boundary.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RING_RECORDS } from "../../src/core/abi.ts";
import { BinaryTraceReader, RECORD_WORDS, checkTlpRecord, encodeTlpRecord, encodeDriverEvent, encodeHeader } from "../../src/trace/binary.ts";
import type { TraceTlp } from "../../src/trace/text.ts";
import type { TlpSink } from "../../src/trace/reader.ts";
import { ArrivalClock } from "../../src/replay/replay.ts";
import { RequestWriter, REQ_WORDS } from "../../src/replay/request-writer.ts";
import { Prng } from "../../src/util/prng.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-bulk-"));
let fileNo = 0;
const TWO32 = 4294967296;

function tlp(over: Partial<TraceTlp>): TraceTlp {
  return { line: 1, op: "MRd", sid: 0x10, priv: false, exe: false, addr: 0x100000n, len: 4, ns: false, ro: false, ido: false, translated: false, nw: false, ...over };
}

/** A binary trace file of raw records (no check: bad records stay bad). */
function file(records: Uint32Array[]): string {
  const f = join(dir, `t${fileNo++}.itb`);
  const n = records.reduce((s, r) => s + r.length / RECORD_WORDS, 0);
  const body = new Uint32Array(n * RECORD_WORDS);
  let at = 0;
  for (const r of records) body.set(r, at), (at += r.length);
  writeFileSync(f, Buffer.concat([encodeHeader(n, 0), Buffer.from(body.buffer)]));
  return f;
}

function rec(t: TraceTlp): Uint32Array {
  const w = new Uint32Array(RECORD_WORDS);
  encodeTlpRecord(w, 0, t);
  return w;
}

const mapEvent = () => encodeDriverEvent({ op: "map", line: 0, column: 0, domain: 1, iova: 0x800000n, pa: 0x90000000n, size: 0x1000n, perm: "rw", page: "4K", snp: false, user: true, global: false });

interface Outcome {
  batches: { base: number; ring: number[]; lines: number[] }[];
  events: number;
  skipped: { line: number; reason: string }[];
  error?: string;
  /** TLPs the writer had taken into the batch the error ended (the replay never runs that batch). */
  pending?: number;
}

/** Replays the reader's side of `iommu-emu run` without a core: batches, driver events, skipped records, the error. */
function drain(f: string, bulk: boolean, opts: { skipBad?: boolean; chunkRecords?: number; deadline?: number } = {}): Outcome {
  const r = new BinaryTraceReader(f, { skipBad: opts.skipBad, chunkRecords: opts.chunkRecords });
  const w = new RequestWriter(new ArrivalClock({ clockMHz: 1000, arrival: "trace", injectionRate: 0 }), (m, line) => new Error(`record ${line}: ${m}`));
  // The per-record path: a sink that has only put.
  const sink: TlpSink = bulk ? w : { put: (x, o, line) => w.put(x, o, line) };
  assert.is(typeof (sink as RequestWriter).putBlock === "function", bulk);
  const ring = new Uint32Array(RING_RECORDS * REQ_WORDS);
  const out: Outcome = { batches: [], events: 0, skipped: r.skipped };
  let seq = 0;
  try {
    for (let guard = 0; guard < 100000; guard++) {
      if (r.readDriverEvent() !== undefined) {
        out.events++;
        continue;
      }
      w.begin(ring, seq, opts.deadline ?? Infinity);
      try {
        r.readRequests(sink);
      } finally {
        w.end();
      }
      if (w.n === 0) {
        if (r.done) break;
        continue;
      }
      out.batches.push({ base: w.base, ring: [...ring.subarray(0, w.n * REQ_WORDS)], lines: [...w.lines.subarray(0, w.n)] });
      seq += w.n;
    }
  } catch (e) {
    out.error = (e as Error).message;
    out.pending = w.n;
  } finally {
    r.close();
  }
  return out;
}

function same(f: string, opts: { skipBad?: boolean; chunkRecords?: number; deadline?: number } = {}): Outcome {
  const a = drain(f, true, opts), b = drain(f, false, opts);
  assert.equal(a, b);
  return a;
}

/** `n` plain MRd records, cycle times from `t0` one apart, addresses by index. */
function plain(n: number, t0 = 0): Uint32Array[] {
  return Array.from({ length: n }, (_, i) => rec(tlp({ addr: 0x100000n + BigInt(i % 4096) * 64n, time: { value: t0 + i, unit: "cycles" } })));
}

function badLen(): Uint32Array {
  const r = rec(tlp({}));
  r[6] = 0; // LEN 0
  return r;
}

test("a bad record at the end, start or middle of a 512-record block: the same error, every record before it taken", () => {
  // Records are numbered from 1; the first block holds records 1..512, the second 513..1024.
  for (const at of [1, 511, 512, 513, 514, 1024, 1025]) {
    const records = [...plain(at - 1), badLen(), ...plain(40, at)];
    const f = file(records);
    const o = same(f);
    assert.is(o.error, `${f}:record ${at}: LEN 0 is out of range (1 to 4096)`, `bad record ${at}`);
    // Every record before the bad one was checked and taken into the ring (the batch the error ends is not run).
    assert.equal(o.batches, []);
    assert.is(o.pending, at - 1, `records before ${at}`);
    // skipBad: the bad record is left out and reported; the 40 after it are taken.
    const s = same(f, { skipBad: true });
    assert.equal(s.skipped, [{ line: at, reason: "LEN 0 is out of range (1 to 4096)" }]);
    assert.is(s.batches.flatMap((b) => b.lines).length, at - 1 + 40);
  }
});

test("a time going backwards right after a block boundary names the record before it", () => {
  const records = [...plain(512, 1000), rec(tlp({ time: { value: 1000, unit: "cycles" } }))];
  const f = file(records);
  const o = same(f);
  // Record 512 has cycle 1511; record 513 goes back to 1000.
  assert.is(o.error, `${f}:record 513: timestamp @1000 is earlier than @1511 at record 512; timestamps must not decrease`);
});

test("records the bulk path leaves to the per-record path, inside and across blocks: the same ring", () => {
  // ATS with PASID, an ns time (an arrival the clock converts), an expected fault (version 2), a
  // driver event: each ends a run; the runs on either side go in bulk.
  const records = [
    ...plain(300),
    rec(tlp({ op: "ATS", pasid: 5, priv: true, time: { value: 300, unit: "cycles" } })),
    ...plain(211, 301), // record 512 is the last of the first block
    rec(tlp({ time: { value: 2000, unit: "ns" } })), // 2000 cycles at 1000 MHz
    ...plain(100, 600),
    rec(tlp({ expect: { arch: "vtd", code: 0x85 }, time: { value: 700, unit: "cycles" } })),
    mapEvent(),
    ...plain(700, 800),
  ];
  const o = same(file(records));
  assert.is(o.events, 1);
  assert.is(o.error, undefined);
  // 300 + 1 + 211 + 1 + 100 + 1 TLPs before the map (the map ends the batch), 700 after it.
  assert.equal(
    o.batches.map((b) => b.lines.length),
    [614, 700],
  );
  // The ATS record (record 301): ATS (2) | PASID (8) | PRIV (16) = 0x1a, LEN 4, arriving at cycle 300 of the base 0.
  assert.equal(o.batches[0]!.ring.slice(300 * REQ_WORDS, 301 * REQ_WORDS), [0x100000, 0, 0x10, 5, 300, 0x4001a]);
});

test("refusals inside a block: a full ring, an arrival 2^32 cycles after the base, the lazy flush deadline", () => {
  // The map (records 101 and 102, its extension) shifts the blocks off the ring's 4096 boundary.
  const full = file([...plain(100), mapEvent(), ...plain(5000, 100)]);
  const o = same(full);
  assert.equal(
    o.batches.map((b) => b.lines.length),
    [100, RING_RECORDS, 5000 - RING_RECORDS],
  );
  // The second batch is records 103..4198; the record the full ring refused starts the third.
  assert.is(o.batches[2]!.lines[0], 100 + 2 + RING_RECORDS + 1, "the refused record starts the next batch");
  // An arrival that does not fit the batch's u32 deltas, in the middle of a block; the time order
  // after the refusal is the last taken record's (records after it go on from there).
  const far = file([...plain(300), ...plain(300, TWO32 + 500)]);
  const f = same(far);
  assert.equal(
    f.batches.map((b) => [b.base, b.lines.length]),
    [
      [0, 300],
      [TWO32 + 500, 300],
    ],
  );
  // The lazy flush deadline at cycle 250: the TLP arriving at 250 starts the next batch.
  const d = same(file(plain(600)), { deadline: 250 });
  assert.equal(
    d.batches.map((b) => b.lines.length),
    [250, 350],
  );
});

test("random traces, chunk sizes and bad records: the bulk path equals the per-record path", () => {
  const r = new Prng(9);
  for (let round = 0; round < 12; round++) {
    const records: Uint32Array[] = [];
    let t = 0;
    const n = 1500 + r.int(2000);
    for (let i = 0; i < n; i++) {
      const x = r.int(100);
      if (x < 2) records.push(mapEvent());
      else if (x < 4) records.push(badLen());
      else if (x < 5) records.push(rec(tlp({ time: { value: Math.max(0, t - 5), unit: "cycles" } }))); // may go backwards
      else if (x < 8) records.push(rec(tlp({ op: "ATS", pasid: r.int(16), time: { value: t, unit: "cycles" } })));
      else if (x < 9) records.push(rec(tlp({ addr: 0x1000n, expect: { arch: "vtd", code: 6 } })));
      else if (x < 10) t += TWO32; // the next arrival does not fit the batch
      else records.push(rec(tlp({ op: r.int(2) ? "MRd" : "MWr", addr: 0x200000n + BigInt(r.int(1000)) * 64n, len: 64, time: r.int(4) ? { value: (t += r.int(3)), unit: "cycles" } : undefined })));
    }
    const f = file(records);
    for (const chunkRecords of [100, 511, 4096]) {
      same(f, { skipBad: true, chunkRecords });
      same(f, { chunkRecords, deadline: 2000 });
    }
  }
});

test("the run checks accept exactly the records checkTlpRecord accepts (mutated fields, both paths)", () => {
  const r = new Prng(23);
  const interesting = [0, 1, 3, 4, 63, 64, 4095, 4096, 4097, 0xfff, 0x1000, 0xfffff, 0x100000, 0xffffffff];
  const records: Uint32Array[] = [];
  for (let i = 0; i < 6000; i++) {
    const op = (["MRd", "MWr", "ATS"] as const)[r.int(3)]!;
    const pasid = r.int(2) ? r.int(0x100000) : undefined;
    const x = rec(tlp({ op, pasid, priv: pasid !== undefined && r.int(2) === 1, addr: BigInt(r.int(0x100000)) * 64n, len: op === "ATS" ? 4 : 64 }));
    // Time 0 in any unit (never backwards, so only a record's own fields decide).
    x[7] = (x[7]! & ~0x3000) | (r.int(4) << 12);
    const m = r.int(4);
    if (m === 0) x[0] = r.int(2) ? 0xfc0 + r.int(64) : r.int(0x10000); // ADDR near a 4 KiB boundary
    else if (m === 1) x[5] = interesting[r.int(interesting.length)]!; // PASID
    else if (m === 2) x[6] = interesting[r.int(interesting.length)]!; // LEN
    else x[7]! ^= 1 << (3 + r.int(29)); // a FLAGS bit, the kind (bits 2:0) aside
    records.push(x);
  }
  const f = file(records);
  const expected = records.flatMap((x, i) => {
    const why = checkTlpRecord(x, 0);
    return why === undefined ? [] : [{ line: i + 1, reason: why }];
  });
  assert.ok(expected.length > 1000 && expected.length < 5000, `a mix of valid and bad records (${expected.length} bad)`);
  const o = same(f, { skipBad: true });
  assert.equal(o.skipped, expected);
  assert.is(o.batches.flatMap((b) => b.lines).length, 6000 - expected.length);
});

test.run();
