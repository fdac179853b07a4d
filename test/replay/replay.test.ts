/**
 * The replay loop: events in trace order, TLPs batched into the request ring up to the next driver
 * event (one core call per batch of up to 4096), the lazy flush timer splitting a batch, result
 * lines only for TLPs (with `stale` and `atc`), and the TLP count apart from the core's requests.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../src/platform.ts";
import { VtdDriver } from "../../src/arch/vtd/driver.ts";
import { parseTraceText } from "../../src/trace/text.ts";
import { replay } from "../../src/replay/replay.ts";
import { resultRecord } from "../../src/report/results.ts";
import { RING_RECORDS } from "../../src/core/abi.ts";

function platform(): { p: VtdPlatform; runs: number[] } {
  const p = new VtdPlatform({ build: "release" });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, 0x100000n, 0x80000000n, 0x100000n);
  p.builder.attach({ sid: 0x10, domain: 1, ats: true });
  p.enable();
  const runs: number[] = [];
  const run = p.core.run.bind(p.core);
  p.core.run = (n: number) => {
    runs.push(n);
    run(n);
  };
  return { p, runs };
}

const tlp = (i: number) => `MRd 00:02.0 addr=0x${(0x100000 + (i % 256) * 0x1000).toString(16)}`;

test("TLPs go to the core in batches up to the next driver event and the ring's 4096 records", () => {
  const { p, runs } = platform();
  const lines = Array.from({ length: 5000 }, (_, i) => tlp(i));
  lines.splice(10, 0, "map 1 0x800000 0x90000000 0x1000");
  lines.splice(20, 0, "inv iotlb global", "inv wait");
  const seqs: number[] = [];
  const lineNos: number[] = [];
  const stats = replay(p, parseTraceText(lines.join("\n"), "t"), (seq, t) => (seqs.push(seq), lineNos.push(t.line)));
  assert.equal(runs, [10, 9, RING_RECORDS, 5000 - 19 - RING_RECORDS]);
  assert.is(stats.tlps, 5000);
  assert.is(stats.driverEvents, 3);
  assert.equal(seqs, Array.from({ length: 5000 }, (_, i) => i), "one result per TLP, in trace order");
  assert.is(lineNos[10], 12, "the TLP after the map is on line 12");
  assert.is(lineNos[19], 23);
  assert.is(stats.driver.maps, 1);
  assert.is(stats.driver.invs, 2);
});

test("the lazy flush timer ends a batch: TLPs at or after the deadline see the flushed caches", () => {
  const { p, runs } = platform();
  const driver = new VtdDriver(p, { invalidation: "lazy", lazyTimeoutCycles: 100 });
  const text = ["@0 MRd 00:02.0 addr=0x100000", "@10 unmap 1 0x100000 0x1000", ...Array.from({ length: 10 }, (_, i) => `@${100 + i * 5} MRd 00:02.0 addr=0x100000`)].join("\n");
  const status: string[] = [];
  replay(p, parseTraceText(text, "t"), (_, __, r) => status.push(r.stale ? "stale" : r.status), { driver });
  assert.equal(runs, [1, 2, 8], "@100 and @105 before the deadline 110, the rest after");
  assert.equal(status, ["ok", "stale", "stale", ...Array(8).fill("fault")]);
  assert.is(driver.stats.flushReasons.timeout, 1);
});

test("result records carry stale and atc; the TLP count is not the core's request count", () => {
  const { p } = platform();
  const driver = new VtdDriver(p, { invalidation: "lazy" });
  const recs: Record<string, unknown>[] = [];
  const text = ["MRd 00:02.0 addr=0x100000 at=translated", "MRd 00:02.0 addr=0x101000", "unmap 1 0x100000 0x2000", "MRd 00:02.0 addr=0x100000 at=translated", "MRd 00:02.0 addr=0x101000"].join("\n");
  const stats = replay(p, parseTraceText(text, "t"), (seq, t, r) => recs.push(resultRecord(seq, t, r)), { driver });
  // Until the deferred flush, the device keeps using its device-TLB entry and the IOMMU its IOTLB
  // entry: both translations were removed by software, both are flagged.
  assert.equal(recs.map((r) => [r.seq, r.atc, r.stale]), [[0, true, undefined], [1, undefined, undefined], [2, true, true], [3, undefined, true]]);
  assert.is(stats.tlps, 4);
  assert.is(p.core.counters().requests, 5n, "the device sent one ATS translation request on its device-TLB miss");
  assert.is(p.core.counters().atcMisses, 1n);
});

test("without a driver given, replay runs driver events through a strict one", () => {
  const { p } = platform();
  const st: string[] = [];
  const stats = replay(p, parseTraceText("MRd 00:02.0 addr=0x100000\nunmap 1 0x100000 0x1000\nMRd 00:02.0 addr=0x100000", "t"), (_, __, r) => st.push(r.status));
  assert.equal(st, ["ok", "fault"]);
  assert.is(p.core.counters().invDescriptors, 3n);
  assert.is(stats.driver.unmaps, 1);
});

test.run();
