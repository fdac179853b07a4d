/**
 * The gem5-smmuv3 timing preset (src/config/timing.ts) against gem5's SMMUv3.py defaults as the
 * fact sheet lists them (shared/spec/smmuv3.md §1a "Every timing / sizing parameter and default",
 * [verified]; the line of each figure is cited), and a timed SMMUv3 stage-2 run under the preset
 * with its latencies computed by hand.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { presets, resolveTiming } from "../../src/config/timing.ts";
import { platformCaches } from "../../src/platform.ts";
import { builds, rd } from "../arch/smmuv3/helpers.ts";
import { tlbUnit, lhm, command } from "../arch/smmuv3/tlb-unit.ts";

const rr = "round-robin";

const test = suite("gem5-smmuv3 preset values");

test("the micro-TLB: utlb_entries 32, utlb_assoc 0 (fully associative), rr; utlb_enable True, utlb_lat 1, utlb_slots 1 (smmuv3.md lines 77-78)", () => {
  assert.equal(platformCaches("gem5-smmuv3").microTlb, { entries: 32, assoc: 0, policy: rr, enable: true, latencyCycles: 1, ports: 1 });
  // off by default (an option): the other presets have no micro-TLB
  assert.is(platformCaches("vtd-default").microTlb.enable, false);
  assert.is(platformCaches("hypersio").microTlb.enable, false);
});

test("the main TLB: tlb_entries 2048, tlb_assoc 4, rr; tlb_lat 3, tlb_slots 3 (lines 79-80)", () => {
  assert.equal(platformCaches("gem5-smmuv3").iotlb, { entries: 2048, assoc: 4, policy: rr, enable: true, latencyCycles: 3, ports: 3 });
});

test("the config cache: cfg_entries 64, 4-way rr, cfg_lat 3, cfg_slots 3 (lines 94-95), as the STE and CD caches", () => {
  const c = platformCaches("gem5-smmuv3");
  for (const name of ["contextCache", "pasidCache"] as const) {
    assert.equal(c[name], { entries: 64, assoc: 4, policy: rr, enable: true, latencyCycles: 3, ports: 3 }, name);
  }
});

test("the walk cache: S1L0..L2 4/28/348, S2L0..L2 4/28/92 entries, walk_assoc 4 rr, walk_lat 4, walk_slots 4 (lines 98-100, 104); leaves not cached (line 103)", () => {
  const c = platformCaches("gem5-smmuv3");
  const sizes = { pwcFsPml4e: 4, pwcFsPdpe: 28, pwcFsPde: 348, pwcSsPml4e: 4, pwcSsPdpe: 28, pwcSsPde: 92, pwcFsPml5e: 4, pwcSsPml5e: 4 } as const;
  for (const [name, entries] of Object.entries(sizes)) {
    assert.equal(c[name as keyof typeof sizes], { entries, assoc: 4, policy: rr, enable: true, latencyCycles: 4, ports: 4 }, name);
  }
});

test("slots and links: xlate_slots 64, ptw_slots 16 (lines 89-90), ifc_smmu_lat / smmu_ifc_lat 8 (line 88)", () => {
  const t = resolveTiming(presets["gem5-smmuv3"].timing);
  assert.equal([t.translationSlots, t.walkerSlots, t.linkLatencyCycles, t.clockMHz], [64, 16, 8, 1000]);
  // the other presets have no link
  assert.is(resolveTiming(presets["vtd-default"].timing).linkLatencyCycles, 0);
  assert.is(resolveTiming(presets.hypersio.timing).linkLatencyCycles, 0);
});

test.run();

for (const build of builds) {
  const t = suite(`gem5-smmuv3 preset: a timed stage-2 run [${build}]`);

  t("stage 2 (3 levels from level 1): cold, then a micro-TLB hit, then a main-TLB hit after the micro-TLB is emptied", () => {
    const core = tlbUnit(build, true);
    const r = core.translate([rd(3, 0x1234_5010n, { time: 0n }), rd(3, 0x1234_5020n, { time: 2000n })]);
    assert.equal(r.map((x) => [x.status, x.pa]), [["ok", 0x7654_3010n], ["ok", 0x7654_3020n]]);
    // STE: miss 3 + read 100; micro-TLB miss 1; TLB miss 3 (one owner: stage 2 only); link 2 x 8;
    // walk caches at levels 2 and 1 missed (2 x 4); 3 descriptor reads (levels 1, 2, 3) x 100
    assert.equal([r[0]!.issue, r[0]!.latency], [0n, 3 + 100 + 1 + 3 + 16 + 2 * 4 + 3 * 100]);
    // STE hit 3, micro-TLB hit 1
    assert.equal([r[1]!.issue, r[1]!.latency], [2000n, 3 + 1]);
    assert.equal(lhm(core, "microTlb"), [2n, 1n, 1n]);
    assert.equal(lhm(core, "iotlb"), [1n, 0n, 1n]);
    // CFGI_STE of another StreamID (99) empties the micro-TLB (every CFGI and TLBI does), not the main TLB
    command(core, 0x03n | (99n << 32n), 1n);
    const h = core.translateOne(rd(3, 0x1234_5030n, { time: 4000n }));
    // STE hit 3, micro-TLB miss 1, main-TLB hit 3
    assert.equal([h.pa, h.latency], [0x7654_3030n, 3 + 1 + 3]);
    assert.equal(lhm(core, "microTlb"), [3n, 1n, 2n]);
    assert.equal(lhm(core, "iotlb"), [2n, 1n, 1n]);
    // the main-TLB hit filled the micro-TLB again
    assert.is(core.translateOne(rd(3, 0x1234_5040n, { time: 6000n })).latency, 3 + 1);
  });

  t.run();
}
