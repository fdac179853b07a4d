// abi Opt.RESULTS_UNREAD (Core.run(n, true)): the core writes no result record of the batch, and
// nothing else changes: run counters, fault counts, cache counters and timing statistics are those
// of the same batches with results written, and so is every later batch's result (the caches'
// replacement state, the replay memo and the kept device contexts moved the same way).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../src/platform.ts";
import { RES_SIZE, RING_RECORDS } from "../../src/core/abi.ts";
import { Prng } from "../../src/util/prng.ts";
import type { Request } from "../../src/core/core.ts";

function build(timed: boolean) {
  const p = new VtdPlatform({ timing: timed ? { enable: true } : false, caches: { iotlb: { entries: 16, assoc: 4 }, deviceTlb: { entries: 8, assoc: 2 } } });
  const b = p.builder;
  const ss = b.createDomain({ id: 1, type: "ss" });
  b.map(ss, 0x10_0000n, 0x8000_0000n, 48n * 4096n);
  const ro = b.createDomain({ id: 2, type: "ss" });
  b.map(ro, 0x10_0000n, 0x9000_0000n, 16n * 4096n, { write: false });
  const fs = b.createDomain({ id: 3, type: "fs" });
  b.map(fs, 0x7f00_0000_0000n, 0xa000_0000n, 32n * 4096n);
  for (let dev = 0; dev < 4; dev++) b.attach({ sid: 0x100 + dev * 8, domain: dev % 2 ? 2 : 1, ats: dev === 2 });
  b.attach({ sid: 0x100, pasid: 7, domain: 3 });
  p.enable();
  return p;
}

/** Hits, walks, faults (unmapped pages, writes to read-only pages), interrupts, ATS and translated requests. */
function randomRequest(r: Prng, i: number): Request {
  const dev = r.int(4);
  const sid = 0x100 + dev * 8;
  const op = r.int(4) === 0 ? "MWr" : "MRd";
  const time = BigInt(i * 3);
  if (dev === 0 && r.int(3) === 0) return { op, sid, pasid: 7, addr: 0x7f00_0000_0000n + BigInt(r.int(40)) * 4096n, time };
  if (dev === 2 && r.int(3) === 0) return r.int(2) ? { op: "ATS", sid, addr: 0x10_0000n + BigInt(r.int(56)) * 4096n, time } : { op, sid, addr: 0x10_0000n + BigInt(r.int(56)) * 4096n, translated: true, time };
  if (r.int(50) === 0) return { op, sid, addr: 0xfee0_0000n, time };
  return { op, sid, addr: 0x10_0000n + BigInt(r.int(56)) * 4096n + BigInt(r.int(64)) * 64n, ns: r.int(3) === 0, time };
}

function runBatch(p: VtdPlatform, reqs: readonly Request[], unread: boolean): void {
  p.core.requestWords();
  reqs.forEach((q, i) => p.core.encode(i, q));
  p.core.run(reqs.length, unread);
}

for (const timed of [false, true]) {
  test(`${timed ? "timed" : "functional"}: batches with results unread count exactly as with results written`, () => {
    const unread = build(timed), written = build(timed);
    const r = new Prng(5);
    let seq = 0;
    for (let round = 0; round < 6; round++) {
      const reqs = Array.from({ length: 900 }, () => randomRequest(r, seq++));
      const batch = [...reqs, ...reqs.slice(0, 400)]; // repeats: replayed by the memo
      // The result ring of the unread run is filled with a marker that must survive the batch.
      unread.core.resultBytes().fill(0xa5);
      runBatch(unread, batch, true);
      runBatch(written, batch, false);
      const ring = unread.core.resultBytes().subarray(0, batch.length * RES_SIZE);
      assert.ok(ring.every((b) => b === 0xa5), "no result record was written");
      assert.equal(unread.core.counters(), written.core.counters());
      assert.equal(unread.core.faultCounts(), written.core.faultCounts());
      assert.equal(unread.core.cacheStats(), written.core.cacheStats());
      assert.equal(unread.core.timingStats(), written.core.timingStats());
    }
    const c = written.core.counters();
    assert.ok(c.faulted > 100n && c.interrupts > 10n && c.atsRequests > 100n && c.noSnoopTlps > 100n, "the trace exercised faults, interrupts, ATS and NS");
    // A batch with results written after them: the same results on both (same cache state).
    const last = Array.from({ length: RING_RECORDS }, () => randomRequest(r, seq++));
    assert.equal(unread.translate(last), written.translate(last));
  });
}

test("Core.translate and run() without the flag write results after a batch that had it", () => {
  const p = build(false);
  const req: Request = { op: "MRd", sid: 0x100, addr: 0x10_0040n };
  runBatch(p, [req, req], true);
  assert.is(p.translateOne(req).pa, 0x8000_0040n); // replayed from the memo, written
  assert.is(p.translateOne({ op: "MWr", sid: 0x108, addr: 0x10_0000n }).fault?.name, "SGN.6");
});

test.run();
