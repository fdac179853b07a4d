/**
 * src/iommu/regions.ts without the CLI: the guard's record of what a domain maps (unmaps cut
 * ranges), the windows the core gets (p2p and fixed doorbells, by requester), the driver's DIRECT
 * and MSI doorbell mappings per build domain. Every figure is the scenario's, worked out by hand.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { directMappings, doorbellPages, doorbellsProblem, msiMappings, p2pWindowsOf, RegionGuard, scenarioRegions, type RegionsScenario } from "../../src/iommu/regions.ts";
import { vtdReservedRegions } from "../../src/arch/vtd/regions.ts";
import { smmuReservedRegions } from "../../src/arch/smmuv3/regions.ts";

const dev = (b: number, d: number, f: number) => (b << 8) | (d << 3) | f;
const A = dev(1, 0, 0), B = dev(2, 0, 0);

test("noteUnmap cuts the unmapped range out of the domain's ranges, splitting one that straddles it", () => {
  const g = new RegionGuard(scenarioRegions({}, vtdReservedRegions()), [], [[1, { first: 0x1000n, last: 0x4fffn }]]);
  g.noteMap(1, 0x10000n, 0x1000n);
  g.noteUnmap(1, 0x2000n, 0x2000n); // 0x2000-0x3fff out of 0x1000-0x4fff
  assert.equal(g.mappedOf(1), [{ first: 0x1000n, last: 0x1fffn }, { first: 0x4000n, last: 0x4fffn }, { first: 0x10000n, last: 0x10fffn }]);
  g.noteUnmap(1, 0x0n, 0x5000n);
  assert.equal(g.mappedOf(1), [{ first: 0x10000n, last: 0x10fffn }]);
  assert.equal(g.mappedOf(2), []);
});

test("attachProblem and mapProblem follow the devices attached now; a device joining is checked against what is mapped", () => {
  const table = scenarioRegions({ reservedRegions: [{ device: A, type: "RESERVED", base: 0x4000_0000n, length: 0x1000n }] }, smmuReservedRegions());
  const attached = new Map<number, number>();
  const peers = { attachedDomain: (s: number) => attached.get(s), userOwned: () => false };
  const g = new RegionGuard(table, [A, B]);
  g.noteMap(7, 0x4000_0000n, 0x1000n);
  assert.is(g.mapProblem(7, 0x4000_0000n, 0x1000n, peers), undefined); // no device yet
  assert.is(g.attachProblem(7, [B], peers), undefined); // B has no window
  attached.set(B, 7);
  assert.is(g.attachProblem(7, [A], peers), 'attach 01:00.0 to domain "7": its RESERVED region 0x40000000-0x40000fff overlaps the mapping 0x40000000-0x40000fff already in the domain');
  g.noteUnmap(7, 0x4000_0000n, 0x1000n);
  assert.is(g.attachProblem(7, [A], peers), undefined);
  attached.set(A, 7);
  // A kernel (DMA API) domain keeps the SW_MSI window usable; the p2p window is out.
  assert.is(g.mapProblem(7, 0x800_0000n, 0x1000n, peers), undefined);
  assert.match(g.mapProblem(7, 0x4000_0800n, 0x1000n, peers)!, /^map 0x40000800\+0x1000 in domain "7": it overlaps the RESERVED region 0x40000000-0x40000fff of 01:00.0, /);
});

const scn: RegionsScenario = {
  reservedRegions: [
    { device: B, type: "MSI", base: 0x300_0000n, length: 0x1000n },
    { device: A, type: "RESERVED", base: 0x4000_0000n, length: 0x1000n },
    { device: A, type: "RESERVED", base: 0x4000_1000n, length: 0x1000n }, // touches the first: merged
    { device: A, type: "DIRECT", base: 0x7c00_0000n, length: 0x2000n },
  ],
  drivers: [{ bdf: B, driver: "vfio" }],
  build: {
    domains: [
      { id: 1, type: "s1" },
      { id: 2, type: "s1" },
      { id: 3, type: "identity" },
    ],
    devices: [{ bdf: A, domain: 1 }, { bdf: B, domain: 2 }, { bdf: A, domain: 2, ssid: 1 }],
  },
};

test("p2pWindowsOf: RESERVED regions merged per requester, and the MSI regions the scenario lists as doorbells, ascending SID", () => {
  assert.equal(p2pWindowsOf(scn, scenarioRegions(scn, smmuReservedRegions())), [
    { sid: A, base: 0x4000_0000n, last: 0x4000_1fffn },
    { sid: B, base: 0x300_0000n, last: 0x300_0fffn, doorbell: true },
  ]);
});

test("directMappings: a DIRECT region identity-mapped in its device's kernel paging domain only (not a vfio one, not by a substream)", () => {
  assert.equal([...directMappings(scn, scenarioRegions(scn, smmuReservedRegions()))], [[0, [{ first: 0x7c00_0000n, last: 0x7c00_1fffn }]]]);
});

test("msiMappings: doorbell k's page at the SW_MSI window's page k, in every stage-1 domain with a device; doorbellsProblem when the window is too small", () => {
  const table = scenarioRegions(scn, smmuReservedRegions({ swMsi: { base: 0x1000_0000n, length: 0x2000n } }));
  assert.equal([...msiMappings(scn, table, [0x809_0040n, 0x80b_0040n])], [
    [0, [{ iova: 0x1000_0000n, pa: 0x809_0000n }, { iova: 0x1000_1000n, pa: 0x80b_0000n }]],
    [1, [{ iova: 0x1000_0000n, pa: 0x809_0000n }, { iova: 0x1000_1000n, pa: 0x80b_0000n }]],
  ]);
  assert.is(doorbellsProblem(table, [1n, 2n]), undefined);
  assert.is(doorbellsProblem(table, [1n, 2n, 3n]), "3 doorbells need 0x3000 bytes of the SW_MSI window 0x10000000+0x2000 (one 4 KiB page each)");
});

test("doorbellPages and the guard's doorbell record: a device's own SW_MSI window moves its pages; a page noted is not needed again until an unmap takes it; a page over a mapping is a problem", () => {
  // Doorbells at 0x8090040 and 0x80b0040: pages 0x8090000 and 0x80b0000. A's window is the platform's 0x8000000; B has its own at 0x20000000.
  const table = scenarioRegions({ reservedRegions: [{ device: B, type: "SW_MSI", base: 0x2000_0000n, length: 0x10_0000n }] }, smmuReservedRegions(), [0x809_0040n, 0x80b_0040n]);
  assert.equal(doorbellPages(table, A), [{ iova: 0x800_0000n, pa: 0x809_0000n }, { iova: 0x800_1000n, pa: 0x80b_0000n }]);
  assert.equal(doorbellPages(table, B), [{ iova: 0x2000_0000n, pa: 0x809_0000n }, { iova: 0x2000_1000n, pa: 0x80b_0000n }]);
  // VT-d: no software MSI window, so no pages whatever the doorbells.
  assert.equal(doorbellPages(scenarioRegions({}, vtdReservedRegions(), [0x809_0040n]), A), []);
  const g = new RegionGuard(table, [A, B]);
  g.noteMsi(5, 0x800_0000n);
  assert.equal(g.msiNeeds(5, A), [{ iova: 0x800_1000n, pa: 0x80b_0000n }]); // page 0 is there already
  g.noteUnmap(5, 0x800_0000n, 0x1000n);
  assert.is(g.msiNeeds(5, A).length, 2); // the unmap took page 0 away
  g.noteMap(6, 0x800_1000n, 0x2000n);
  assert.is(g.msiProblem(6, A, g.msiNeeds(6, A)), "attach 01:00.0: its MSI doorbell page goes at 0x8001000 in the software MSI window of domain 6, which maps 0x8001000-0x8002fff there already");
  assert.is(g.msiProblem(6, B, g.msiNeeds(6, B)), undefined); // B's pages go at 0x20000000
});

test.run();
