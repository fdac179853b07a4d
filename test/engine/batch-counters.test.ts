// The VT-d run counters are tallied per batch (arch/vtd/result.ts: the full path and the replay
// memo add to one set of tallies, the engine writes them once at the end of the batch). These tests
// read the counters after batches that mix IOTLB hits and misses, faults, interrupt-range requests,
// ATS and memo replays, and check each value against a count by hand; then the same requests split
// over several batches (by arrival times, by the ring's size, by a trace error) must count the same.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../src/platform.ts";
import { parseTraceText } from "../../src/trace/text.ts";
import { replayReader } from "../../src/replay/replay.ts";
import { BinaryTraceReader, BinaryTraceWriter, HEADER_BYTES, RECORD_BYTES } from "../../src/trace/binary.ts";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RING_RECORDS } from "../../src/core/abi.ts";
import type { Request } from "../../src/core/core.ts";

function build(replayMemo: boolean) {
  const p = new VtdPlatform({ replayMemo, mode: "scalable" });
  const b = p.builder;
  const ss = b.createDomain({ id: 1, type: "ss" });
  b.map(ss, 0x10_0000n, 0x8000_0000n, 64n * 4096n);
  b.map(ss, 0x4000_0000n, 0x1_0000_0000n, 0x20_0000n, { pageSize: 0x20_0000n, snp: true });
  const ro = b.createDomain({ id: 2, type: "ss" });
  b.map(ro, 0x10_0000n, 0x9000_0000n, 16n * 4096n, { write: false });
  const fs = b.createDomain({ id: 3, type: "fs" });
  b.map(fs, 0x7f00_0000_0000n, 0xa000_0000n, 32n * 4096n);
  b.attach({ sid: 0x100, domain: 1 });
  b.attach({ sid: 0x108, domain: 2 });
  b.attach({ sid: 0x108, pasid: 9, domain: 3, pgsnp: true });
  b.attach({ sid: 0x118, domain: 1, ats: true });
  p.enable();
  return p;
}

// One batch. The comment of each says how the full path or the memo counts it (scalable mode, ECAP.SC=1:
// the SS leaf's SNP and PGSNP force snooping, spec 3.9). Memo replays need an all-hit request of the
// same (SID, PASID, flags, 4 KiB page) recorded earlier in the batch.
const batch: Request[] = [
  { op: "MRd", sid: 0x100, addr: 0x10_0040n }, //  0 IOTLB miss, walk: ok, snooped (NS=0)
  { op: "MRd", sid: 0x100, addr: 0x10_0080n }, //  1 all hits, full path (memo records): ok, snooped
  { op: "MRd", sid: 0x100, addr: 0x10_00c0n, ns: true }, //  2 hits, other flags (NS): full path, ok, NS, not snooped
  { op: "MRd", sid: 0x100, addr: 0x10_0100n, ns: true }, //  3 memo replay of 2: ok, NS, not snooped
  { op: "MRd", sid: 0x100, addr: 0x10_0000n }, //  4 memo replay of 1: ok, snooped
  { op: "MRd", sid: 0x100, addr: 0x4000_1000n, ns: true }, //  5 IOTLB miss, 2 MiB leaf SNP=1: ok, NS, forced by PTE
  { op: "MRd", sid: 0x100, addr: 0x4000_2000n, ns: true }, //  6 hits, full path: ok, NS, forced by PTE
  { op: "MRd", sid: 0x100, addr: 0x4000_2040n, ns: true }, //  7 memo replay of 6: ok, NS, forced by PTE
  { op: "MWr", sid: 0x108, addr: 0x10_0000n }, //  8 IOTLB miss, read-only leaf: fault SGN.6 (write denied), recorded
  { op: "MWr", sid: 0x108, addr: 0x10_0000n }, //  9 IOTLB hit, the same fault (a fault is never memoised)
  { op: "MRd", sid: 0x108, pasid: 9, addr: 0x7f00_0000_0000n, ns: true }, // 10 FS miss, PGSNP: ok, NS, forced by PGSNP
  { op: "MRd", sid: 0x108, pasid: 9, addr: 0x7f00_0000_0040n, ns: true }, // 11 hits, full path: the same
  { op: "MRd", sid: 0x108, pasid: 9, addr: 0x7f00_0000_0080n, ns: true }, // 12 memo replay of 11: the same
  { op: "MWr", sid: 0x110, addr: 0x1000n }, // 13 01:02.0 has no context entry: fault SCT.2, recorded
  { op: "MWr", sid: 0x100, addr: 0xfee0_0000n }, // 14 interrupt range, write: an interrupt
  { op: "MRd", sid: 0x100, addr: 0xfee0_1000n }, // 15 interrupt range, read: blocked
  { op: "ATS", sid: 0x118, addr: 0x10_3000n }, // 16 ATS translation request: translated (no snoop counters)
];

// By hand from the comments above:
//   requests 17; translated 0-7, 10-12, 16 = 12; faulted and recorded 8, 9, 13 = 3; interrupts 1; blocked 1;
//   NS among the DMA successes 2, 3, 5, 6, 7, 10, 11, 12 = 8; snooped 0, 1, 4 (NS=0) + 5, 6, 7 + 10, 11, 12 = 9;
//   not snooped 2, 3 = 2; forced 6 = PGSNP 3 (10-12) + PTE 3 (5-7); ATS requests 1.
const once = {
  requests: 17n,
  translated: 12n,
  faulted: 3n,
  faultsRecorded: 3n,
  interrupts: 1n,
  blocked: 1n,
  noSnoopTlps: 8n,
  snooped: 9n,
  nonSnooped: 2n,
  noSnoopForced: 6n,
  noSnoopForcedPgsnp: 3n,
  noSnoopForcedPte: 3n,
  atsRequests: 1n,
  staleIotlbUses: 0n,
};

function pick(c: Record<string, bigint>, times = 1n): Record<string, bigint> {
  return Object.fromEntries(Object.keys(once).map((k) => [k, c[k]! / times]));
}

function counted(p: VtdPlatform) {
  const runs: number[] = [];
  const run = p.core.run.bind(p.core);
  p.core.run = (n: number, unread?: boolean) => {
    runs.push(n);
    run(n, unread);
  };
  return runs;
}

test("one batch of hits, misses, faults, interrupts, ATS and memo replays: every run counter by hand", () => {
  for (const memo of [true, false]) {
    const p = build(memo);
    const runs = counted(p);
    const r = p.translate(batch);
    assert.equal(runs, [17], "one batch");
    assert.equal(
      r.map((x) => x.status),
      ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "fault", "fault", "ok", "ok", "ok", "fault", "interrupt", "blocked", "ok"],
    );
    assert.equal(pick(p.core.counters()), once, `memo ${memo}`);
    // IOTLB by hand: requests 0-12 and 16 look it up (13 stops at the context, 14-15 before it).
    // Misses: 0, 5, 8, 10 (first use of each page and domain) and 16 (domain 1's page 0x10_3000,
    // not used before) = 5. Hits: 1, 2, 3, 4, 6, 7, 9, 11, 12 = 9 (3, 4, 7, 12 counted by the memo's tally).
    const iotlb = p.core.cacheStats().iotlb;
    assert.is(iotlb.hits, 9n, `memo ${memo}`);
    assert.is(iotlb.misses, 5n, `memo ${memo}`);
    // The faults by code: two write faults on the read-only leaf (SGN.6 = 0x85), one missing context entry (SCT.2 = 0x41).
    const codes = [...p.core.faultCounts()].filter(([, n]) => n !== 0n);
    assert.equal(codes, [[0x41, 1n], [0x85, 2n]]);
  }
});

test("the same requests split by arrival time over batches: the counters add up exactly", () => {
  const p = build(true);
  const runs = counted(p);
  // Arrivals more than 2^32 - 1 cycles apart cannot share a batch (abi Req.TIME is a u32 delta).
  const timed = batch.map((r, i) => ({ ...r, time: i < 5 ? 0n : i < 11 ? 1n << 33n : 1n << 34n }));
  p.translate(timed);
  assert.equal(runs, [5, 6, 6], "three batches");
  assert.equal(pick(p.core.counters()), once);
});

test("the ring's size splits a long run: 300 rounds of the batch count 300 times its counters", () => {
  const p = build(true);
  const runs = counted(p);
  const reqs = Array.from({ length: 300 }, () => batch).flat();
  p.translate(reqs);
  assert.equal(runs, [RING_RECORDS, 300 * 17 - RING_RECORDS]);
  // Every outcome above depends on the tables only, not on what the caches hold: each round counts the same.
  const c = p.core.counters();
  for (const k of Object.keys(once) as (keyof typeof once)[]) assert.is(c[k], once[k] * 300n, k);
});

test("a bad record ends the replay between batches: the batches run before it are counted in full", () => {
  const p = build(true);
  const runs = counted(p);
  // 01:00.0 is SID 0x100. Three TLPs, a map (it ends the batch), two more TLPs, then a bad record.
  // The binary reader checks records as it reads them, so the first batch runs before the bad one is seen.
  const text = [
    "MRd 01:00.0 addr=0x100040",
    "MRd 01:00.0 addr=0x100080",
    "MRd 01:00.0 addr=0xfee00000",
    "map 1 0x800000 0x90000000 0x1000",
    "MRd 01:00.0 addr=0x800000",
    "MWr 01:00.0 addr=0xfee00000",
    "MRd 01:00.0 addr=0x800000",
  ].join("\n");
  const file = join(mkdtempSync(join(tmpdir(), "iommu-emu-counters-")), "t.itb");
  const w = new BinaryTraceWriter(file);
  for (const e of parseTraceText(text, "t.trace")) w.write(e);
  w.commit();
  // Record 8 (the map takes records 4 and 5): LEN 0, which the reader refuses.
  const bytes = readFileSync(file);
  bytes.writeUInt32LE(0, HEADER_BYTES + 7 * RECORD_BYTES + 24);
  writeFileSync(file, bytes);
  const reader = new BinaryTraceReader(file);
  try {
    assert.throws(() => replayReader(p, reader), (e: Error) => e.message === `${file}:record 8: LEN 0 is out of range (1 to 4096)`);
  } finally {
    reader.close();
  }
  // The first batch ran (3 TLPs). The bad record is read in the second batch, whose two TLPs never
  // reach the core: the counters are exactly the first batch's (2 translated, 1 read of the interrupt range blocked).
  assert.equal(runs, [3]);
  const c = p.core.counters();
  assert.equal([c.requests, c.translated, c.blocked, c.interrupts], [3n, 2n, 1n, 0n]);
  // Nothing was left pending: the next batch adds its own counts only (one interrupt).
  p.translate([{ op: "MWr", sid: 0x100, addr: 0xfee0_0000n }]);
  const d = p.core.counters();
  assert.equal([d.requests, d.translated, d.blocked, d.interrupts], [4n, 2n, 1n, 1n]);
});

test.run();
