/**
 * Streaming replay: a trace replayed from a text file, from a binary file (read in tiny chunks)
 * and from parsed events gives the same results, the same core batches and the same counters;
 * driver events and the lazy flush timer cut batches as before; the replay can stop between
 * batches; errors of driver events name the line (text) or the record (binary).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VtdPlatform } from "../../src/platform.ts";
import { VtdDriver } from "../../src/arch/vtd/driver.ts";
import { parseTraceText } from "../../src/trace/text.ts";
import { BinaryTraceReader, BinaryTraceWriter } from "../../src/trace/binary.ts";
import { TextTraceReader, EventsReader } from "../../src/trace/stream.ts";
import type { TraceReader } from "../../src/trace/binary.ts";
import { replay, replayReader, Replayer } from "../../src/replay/replay.ts";
import { resultRecord } from "../../src/report/results.ts";
import type { TimingConfig } from "../../src/config/timing.ts";
import { InputError } from "../../src/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-replay-stream-"));
let n = 0;

function platform(timing: Partial<TimingConfig> = {}) {
  const p = new VtdPlatform({ build: "release", timing });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, 0x100000n, 0x80000000n, 0x100000n);
  const f = p.builder.createDomain({ id: 2, type: "fs" });
  p.builder.map(f, 0x7f0000000000n, 0x90000000n, 0x40000n);
  p.builder.attach({ sid: 0x10, domain: 1, ats: true });
  p.builder.attach({ sid: 0x18, pasid: 3, domain: 2 });
  p.enable();
  const runs: number[] = [];
  const run = p.core.run.bind(p.core);
  p.core.run = (k: number) => {
    runs.push(k);
    run(k);
  };
  return { p, runs };
}

function files(text: string): { text: string; bin: string } {
  const t = join(dir, `t${n++}.trace`);
  writeFileSync(t, text);
  const b = join(dir, `b${n++}.itb`);
  const w = new BinaryTraceWriter(b);
  for (const e of parseTraceText(text, t)) w.write(e);
  w.commit();
  return { text: t, bin: b };
}

/** Replays through `reader` on a fresh platform; results without `line` (line vs record numbers). */
function outcome(make: () => TraceReader, timing: Partial<TimingConfig>, lazy: boolean) {
  const { p, runs } = platform(timing);
  const driver = new VtdDriver(p, { invalidation: lazy ? "lazy" : "strict", lazyTimeoutCycles: 50, lazyBatch: 3 });
  const results: unknown[] = [];
  const clock = p.timing.enable ? { clockMHz: p.timing.clockMHz } : undefined;
  const reader = make();
  const stats = replayReader(p, reader, (seq, t, r) => {
    const { line: _l, ...rec } = resultRecord(seq, t, r, clock);
    results.push(rec);
  }, { driver });
  reader.close();
  return { results, runs, counters: p.core.counters(), stats: { ...stats, hostSeconds: 0 } };
}

const pages = ["0x100000", "0x101000", "0x102000", "0x1ff000", "0x200000"];
const arbLine = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constantFrom("MRd", "MWr"), page: fc.constantFrom(...pages), off: fc.integer({ min: 0, max: 63 }), ns: fc.boolean(), tr: fc.boolean() }).map((x) => `${x.op} 00:02.0 addr=${x.page.slice(0, -2)}${(x.off * 4).toString(16).padStart(2, "0")}${x.ns ? " ns" : ""}${x.tr ? " at=translated" : ""}`) },
  { weight: 2, arbitrary: fc.constantFrom("MWr 00:03.0 pasid=3 addr=0x7f0000001040", "ATS 00:02.0 addr=0x101000 nw", "MRd 00:02.0 addr=0xfee00000") },
  { weight: 1, arbitrary: fc.constantFrom(...pages.slice(0, 4)).map((pg) => `unmap 1 ${pg} 0x1000`) },
  { weight: 1, arbitrary: fc.constantFrom(...pages.slice(0, 4)).map((pg) => `map 1 ${pg} 0xa${pg.slice(2)} 0x1000`) },
  { weight: 1, arbitrary: fc.constantFrom("flush", "inv iotlb global", "inv wait", "inv qi 0x100e2 0x0 0x0 0x0") },
);

test("text file, binary file (tiny chunks) and events give the same results, batches and counters (fast-check)", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(arbLine, fc.integer({ min: 0, max: 30 })), { minLength: 1, maxLength: 60 }), fc.boolean(), fc.boolean(), (items, lazy, timed) => {
      // times in ns, advancing: the lazy timer (50 cycles) fires in the middle of batches
      let t = 0;
      const lines = items.map(([l, dt]) => `@${(t += dt)}ns ${l}`);
      // a map over a mapping is an error: keep maps only where an unmap came before
      const mapped = new Set(pages.slice(0, 4));
      const ok = lines.filter((l) => {
        const m = / (map|unmap) 1 (0x[0-9a-f]+)/.exec(l);
        if (!m) return true;
        if (m[1] === "map") return !mapped.has(m[2]!) && (mapped.add(m[2]!), true);
        return mapped.has(m[2]!) && (mapped.delete(m[2]!), true);
      });
      const text = ok.join("\n") + "\n";
      const f = files(text);
      const timing = timed ? { clockMHz: 1000 } : { clockMHz: 1000, enable: false };
      const fromEvents = outcome(() => new EventsReader(parseTraceText(text, f.text), f.text), timing, lazy);
      const fromText = outcome(() => new TextTraceReader(f.text, { chunkBytes: 16 }), timing, lazy);
      const fromBinary = outcome(() => new BinaryTraceReader(f.bin, { chunkRecords: 2 }), timing, lazy);
      assert.equal(fromText, fromEvents);
      assert.equal(fromBinary, fromEvents);
    }),
    { numRuns: 60 },
  );
});

test("the lazy flush timer still cuts a batch read from a file (records kept for the next batch)", () => {
  const text = ["@0 MRd 00:02.0 addr=0x100000", "@10 unmap 1 0x100000 0x1000", ...Array.from({ length: 10 }, (_, i) => `@${100 + i * 5} MRd 00:02.0 addr=0x100000`)].join("\n");
  const f = files(text);
  for (const make of [() => new TextTraceReader(f.text), () => new BinaryTraceReader(f.bin)]) {
    const { p, runs } = platform();
    const driver = new VtdDriver(p, { invalidation: "lazy", lazyTimeoutCycles: 100 });
    const status: string[] = [];
    replayReader(p, make(), (_, __, r) => status.push(r.stale ? "stale" : r.status), { driver });
    assert.equal(runs, [1, 2, 8], "@100 and @105 before the deadline 110, the rest after");
    assert.equal(status, ["ok", "stale", "stale", ...Array(8).fill("fault")]);
  }
});

test("results carry the TLP's line (text) or record number (binary)", () => {
  const text = "# c\nMRd 00:02.0 addr=0x100000\n\nmap 1 0x800000 0x90000000 0x1000\nMWr 00:02.0 addr=0x100040\n";
  const f = files(text);
  const lines = (make: () => TraceReader) => {
    const { p } = platform();
    const out: number[] = [];
    replayReader(p, make(), (_, t) => out.push(t.line));
    return out;
  };
  assert.equal(lines(() => new TextTraceReader(f.text)), [2, 5]);
  assert.equal(lines(() => new BinaryTraceReader(f.bin)), [1, 4], "the map takes records 2 and 3");
});

test("a driver event that cannot be carried out: file:line:column (text) or file:record N (binary)", () => {
  const f = files("MRd 00:02.0 addr=0x100000\n  map 9 0x0 0x0 0x1000\n");
  const fail = (make: () => TraceReader, message: string) => {
    const { p } = platform();
    assert.throws(() => replayReader(p, make()), (e: unknown) => e instanceof InputError && e.message === message);
  };
  fail(() => new TextTraceReader(f.text), `${f.text}:2:3: map: no domain 9; the scenario defines 1, 2`);
  fail(() => new BinaryTraceReader(f.bin), `${f.bin}:record 2: map: no domain 9; the scenario defines 1, 2`);
  const { p } = platform();
  assert.throws(() => replay(p, parseTraceText("map 9 0x0 0x0 0x1000", "x.trace")), /^trace:1:1: map: no domain 9/, "events without a file name");
});

test("Replayer.step replays one batch or one driver event at a time; stopping early keeps what ran", () => {
  const lines = Array.from({ length: 10000 }, (_, i) => `MRd 00:02.0 addr=0x${(0x100000 + (i % 64) * 0x1000).toString(16)}`);
  lines.splice(5000, 0, "flush");
  const f = files(lines.join("\n"));
  const { p, runs } = platform();
  const seqs: number[] = [];
  const r = new Replayer(p, new BinaryTraceReader(f.bin), (seq) => seqs.push(seq));
  assert.ok(r.step());
  assert.equal(runs, [4096]);
  assert.is(r.seq, 4096);
  r.step();
  r.step(); // the flush
  assert.is(r.driverEvents, 1);
  assert.is(r.seq, 5000);
  const stats = r.finish();
  assert.is(stats.tlps, 5000);
  assert.equal(seqs, Array.from({ length: 5000 }, (_, i) => i));
  assert.is(p.core.counters().requests, 5000n);
});

test("memory stays flat: 2 M TLPs from a binary file do not grow the heap", () => {
  const f = join(dir, "big.itb");
  const w = new BinaryTraceWriter(f);
  const block = new Uint32Array(4096 * 8);
  for (let i = 0; i < 4096; i++) block.set([0x100000 + (i % 64) * 0x1000, 0, 0, 0, 0x10, 0, 4, 0], i * 8);
  for (let k = 0; k < 512; k++) w.writeTlpRecords(block, 4096);
  w.commit();
  const { p } = platform({ enable: false });
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const r = new Replayer(p, new BinaryTraceReader(f));
  for (let i = 0; r.step(); i++) if ((i & 63) === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
  assert.is(r.finish().tlps, 2 * 1024 * 1024);
  assert.ok(peak - before < 32 * 1024 * 1024, `heap grew by ${((peak - before) / 1048576).toFixed(1)} MiB`);
});

test.run();

