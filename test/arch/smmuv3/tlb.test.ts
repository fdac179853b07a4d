/**
 * The SMMUv3 TLB through its hit/miss counters (the iotlb slot): stage-1 entries by (VMID, ASID,
 * page), global (nG = 0) entries for every ASID, stage-2-only entries by (VMID, IPA page), stale
 * use flagged, and the TLBI scopes, with a range TLBI computed by hand. Tables: tlb-unit.ts
 * (VA 0x40201000 nG = 1, VA 0x40202000 global; ASID 7, VMID 0; stage-2 StreamID 3, VMID 5).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { builds, rd } from "./helpers.ts";
import { tlbUnit, command, lhm, writeS1Tables, CD_AT } from "./tlb-unit.ts";

const A = 0x4020_1234n, G = 0x4020_2234n;

for (const build of builds) {
  const test = suite(`smmuv3 TLB [${build}]`);

  test("a hit skips the walk; a rewritten leaf is used stale until TLBI_NH_VA", () => {
    const core = tlbUnit(build);
    const r = core.translate([rd(8, A), rd(8, A)]);
    assert.equal(r.map((x) => [x.pa, x.reads, x.stale]), [[0x5555_5234n, 6, false], [0x5555_5234n, 0, false]]);
    // a miss probes the ASID's entries and the global ones: 2 lookups, 2 misses; then 1 hit
    assert.equal(lhm(core, "iotlb"), [3n, 1n, 2n]);
    assert.is(core.archCounters().tlb_miss, 1n);
    core.write64(0x32008n, 0x66666f47n); // remap without invalidating
    const s = core.translateOne(rd(8, A));
    assert.equal([s.pa, s.stale, core.counters().staleIotlbUses], [0x5555_5234n, true, 1n]);
    command(core, 0x12n | (7n << 48n), A & ~0xfffn); // NH_VA ASID 7
    assert.equal([core.translateOne(rd(8, A)).pa, core.archCounters().tlb_miss], [0x6666_6234n, 2n]);
  });

  test("global entries match any ASID and survive TLBI_NH_ASID, not NH_VA or NH_ALL", () => {
    const core = tlbUnit(build);
    core.translate([rd(8, A), rd(8, G)]);
    writeS1Tables(core, 9n); // the CD now says ASID 9
    command(core, 0x05n | (8n << 32n)); // CFGI_CD: the new ASID is used
    const r = core.translate([rd(8, A), rd(8, G)]);
    assert.equal(r.map((x) => x.reads), [5, 0], "ASID 9 misses the nG entry (CD + 4 levels), hits the global one");
    command(core, 0x11n | (9n << 48n)); // NH_ASID 9: global entries kept
    assert.is(core.translateOne(rd(8, G)).reads, 0);
    command(core, 0x12n | (9n << 48n), G & ~0xfffn); // NH_VA ASID 9 removes the global entry at G
    assert.is(core.translateOne(rd(8, G)).reads, 4, "and its walk-cache entries (Leaf = 0): 4 levels read, the CD cached");
    command(core, 0x10n); // NH_ALL VMID 0
    assert.is(core.translateOne(rd(8, G)).reads, 4, "TLB and walk caches of VMID 0 gone; the CD stays cached");
    assert.is((core.read64(CD_AT) ?? 0n) >> 48n, 9n);
  });

  test("range TLBI: (NUM + 1) << SCALE pages of TG from Addr; without IDR3.RIL the one address", () => {
    const core = tlbUnit(build);
    core.translate([rd(8, A), rd(8, G)]);
    const before = core.cacheStats().iotlb.invalidations;
    // NUM 0, SCALE 0, TG 4K: the one page 0x40202000 (G), Leaf
    command(core, 0x12n | (7n << 48n), 0x4020_2000n | (1n << 10n) | 1n);
    assert.is(core.cacheStats().iotlb.invalidations - before, 1n);
    core.translateOne(rd(8, G));
    // NUM 1, SCALE 1: (1 + 1) << 1 = 4 pages from 0x40200000: 0x40200000-0x40203fff covers both
    command(core, 0x12n | (1n << 12n) | (1n << 20n) | (7n << 48n), 0x4020_0000n | (1n << 10n) | 1n);
    assert.is(core.cacheStats().iotlb.invalidations - before, 3n);
    core.translate([rd(8, A), rd(8, G)]);
    // TTL 2 (2 MiB leaves): these 4 KiB entries are kept
    command(core, 0x12n | (1n << 12n) | (1n << 20n) | (7n << 48n), 0x4020_0000n | (2n << 8n) | (1n << 10n) | 1n);
    assert.is(core.cacheStats().iotlb.invalidations - before, 3n);
    command(core, 0x12n | (1n << 12n) | (1n << 20n) | (7n << 48n), 0x4020_0000n | (3n << 8n) | (1n << 10n) | 1n); // TTL 3
    assert.is(core.cacheStats().iotlb.invalidations - before, 5n);
  });

  test("stage-2-only entries by (VMID, IPA): TLBI_S2_IPA, S12_VMALL; NH_ALL leaves them", () => {
    const core = tlbUnit(build);
    const ipa = 0x1234_5678n;
    assert.equal([core.translateOne(rd(3, ipa)).reads, core.translateOne(rd(3, ipa)).reads], [4, 0]);
    command(core, 0x10n | (5n << 32n)); // NH_ALL VMID 5: stage-1 entries only
    command(core, 0x2an | (4n << 32n), 0x1234_5000n); // S2_IPA VMID 4
    command(core, 0x2an | (5n << 32n), 0x1234_6000n | 1n); // S2_IPA another page, Leaf
    assert.is(core.translateOne(rd(3, ipa)).reads, 0);
    command(core, 0x2an | (5n << 32n), 0x1234_5000n | 1n); // S2_IPA VMID 5, Leaf
    assert.is(core.translateOne(rd(3, ipa)).reads, 1, "walk caches kept: L3 only");
    command(core, 0x28n | (5n << 32n)); // S12_VMALL
    assert.is(core.translateOne(rd(3, ipa)).reads, 3);
    command(core, 0x30n); // NSNH_ALL
    assert.is(core.translateOne(rd(3, ipa)).reads, 3);
  });

  test.run();
}
