/**
 * Timed SMMUv3 runs: the gem5-smmuv3 preset (STE and CD caches 3 cycles, structure and table reads
 * 100 cycles, micro-TLB 1 cycle, TLB 3 cycles, link 8 cycles each way, walk caches 4 cycles, 16
 * walkers, 64 translation slots), latencies computed by hand from the events of each
 * transaction; the command queue's cost (per command fetched, entry removed and CMD_SYNC).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { builds, rd } from "./helpers.ts";
import { tlbUnit, command } from "./tlb-unit.ts";

for (const build of builds) {
  const test = suite(`smmuv3 timing [${build}]`);

  test("a 4-level stage-1 walk: config lookups and fetches, micro-TLB, TLB, link and walk-cache lookups, 4 reads; then a micro-TLB hit", () => {
    const core = tlbUnit(build, true);
    const r = core.translate([rd(8, 0x4020_1234n, { time: 0n }), rd(8, 0x4020_1238n, { time: 1000n })]);
    assert.equal(r.map((x) => [x.status, x.pa, x.reads]), [["ok", 0x5555_5234n, 6], ["ok", 0x5555_5238n, 0]]);
    // STE: cache miss 3 + read 100; CD: miss 3 + read 100; micro-TLB miss 1; TLB misses (the ASID's, the
    // global entries: 2 x 3); the link there and back (2 x 8); walk caches L2, L1, L0 missed (3 x 4); L0..L3: 4 x 100
    assert.equal([r[0]!.issue, r[0]!.latency], [0n, 3 + 100 + 3 + 100 + 1 + 6 + 16 + 12 + 400]);
    // STE and CD hits (3 each), the micro-TLB hit (1)
    assert.equal([r[1]!.issue, r[1]!.latency], [1000n, 3 + 3 + 1]);
    const t = core.timingStats()!;
    assert.equal([t.timed, t.classes.fullWalk.count, t.classes.fullWalk.sum, t.classes.iotlbHit.sum, t.lastCompletion], [2n, 1n, 641n, 7n, 1007n]);
  });

  test("a fault is timed in its class; commands cost fetch, removed entries and CMD_SYNC", () => {
    const core = tlbUnit(build, true);
    const r = core.translateOne(rd(8, 0x4030_0000n, { time: 0n })); // L2[1] -> L3[0x100]: invalid
    assert.equal([r.fault?.name, r.latency], ["F_TRANSLATION", 3 + 100 + 3 + 100 + 1 + 6 + 16 + 12 + 400]);
    assert.is(core.timingStats()!.classes.fault.count, 1n);
    command(core, 0x03n | (8n << 32n), 1n); // CFGI_STE 8: its STE and CD (2 entries)
    command(core, 0x46n); // CMD_SYNC
    // 2 fetches x 100 + 2 entries x 1 + 1 sync x 100 (the default invalidation costs)
    assert.is(core.timingStats()!.invalidationCycles, 302n);
  });

  test.run();
}
