/**
 * src/iommu/reserved-regions.ts: merging as Linux's iommu_insert_resv_region (same type merges
 * when overlapping or touching, different types never merge, equal starts sort by enum order),
 * the usable IOVA ranges of a domain for the DMA API and for user space, checkMap's refusals,
 * route's fates and mayGoToUser. Every range below is the aperture cut at the reserved regions,
 * worked out by hand: a region [b, b + len - 1] leaves [.., b - 1] and [b + len, ..].
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { insertRegion, mergeRegions, ReservedRegions, type DomainView, type MergedRegion, type RegionType } from "../../src/iommu/reserved-regions.ts";
import { vtdReservedRegions } from "../../src/arch/vtd/regions.ts";
import { smmuReservedRegions } from "../../src/arch/smmuv3/regions.ts";

const R = (type: RegionType, base: bigint, length: bigint, devices: number[] = [0x300]): MergedRegion => ({ type, base, length, devices });
const D0 = 0x300, D1 = 0x301; // 03:00.0, 03:00.1

test("same type: adjacent regions merge (start = previous end + 1), a one-byte gap does not", () => {
  assert.equal(mergeRegions([R("RESERVED", 0x1000n, 0x1000n), R("RESERVED", 0x2000n, 0x1000n)]), [R("RESERVED", 0x1000n, 0x2000n)]);
  assert.equal(mergeRegions([R("RESERVED", 0x1000n, 0x1000n), R("RESERVED", 0x2001n, 0x1000n)]), [R("RESERVED", 0x1000n, 0x1000n), R("RESERVED", 0x2001n, 0x1000n)]);
  // inserted before: the list stays sorted by start and still merges
  assert.equal(mergeRegions([R("DIRECT", 0x2000n, 0x1000n), R("DIRECT", 0x1000n, 0x1000n)]), [R("DIRECT", 0x1000n, 0x2000n)]);
});

test("same type: overlapping and contained regions merge into their union", () => {
  // [0x1000, 0x2fff] and [0x2000, 0x3fff] -> [0x1000, 0x3fff]
  assert.equal(mergeRegions([R("MSI", 0x1000n, 0x2000n), R("MSI", 0x2000n, 0x2000n)]), [R("MSI", 0x1000n, 0x3000n)]);
  // [0x1000, 0x3fff] contains [0x2000, 0x2fff]
  assert.equal(mergeRegions([R("MSI", 0x1000n, 0x3000n), R("MSI", 0x2000n, 0x1000n)]), [R("MSI", 0x1000n, 0x3000n)]);
  // the same region twice is one
  assert.equal(mergeRegions([R("SW_MSI", 0x800_0000n, 0x10_0000n), R("SW_MSI", 0x800_0000n, 0x10_0000n)]), [R("SW_MSI", 0x800_0000n, 0x10_0000n)]);
  // a region bridging two: [0x1000, 0x1fff] + [0x3000, 0x3fff], then [0x2000, 0x2fff] -> [0x1000, 0x3fff]
  const two = mergeRegions([R("RESERVED", 0x1000n, 0x1000n), R("RESERVED", 0x3000n, 0x1000n)]);
  assert.is(two.length, 2);
  assert.equal(insertRegion(two, R("RESERVED", 0x2000n, 0x1000n)), [R("RESERVED", 0x1000n, 0x3000n)]);
});

test("different types never merge: overlapping ones stay apart, equal starts sort by Linux's enum order", () => {
  // RESERVED (rank 2) sorts before MSI (rank 3) at the same start, whichever came first
  const msi = R("MSI", 0xfee0_0000n, 0x10_0000n), p2p = R("RESERVED", 0xfee0_0000n, 0x1000n);
  assert.equal(mergeRegions([msi, p2p]), [p2p, msi]);
  assert.equal(mergeRegions([p2p, msi]), [p2p, msi]);
  // DIRECT [0x1000, 0x1fff], RESERVED [0x1800, 0x27ff], DIRECT [0x2000, 0x2fff]: the DIRECTs merge across the RESERVED
  assert.equal(mergeRegions([R("DIRECT", 0x1000n, 0x1000n), R("RESERVED", 0x1800n, 0x1000n), R("DIRECT", 0x2000n, 0x1000n)]), [
    R("DIRECT", 0x1000n, 0x2000n),
    R("RESERVED", 0x1800n, 0x1000n),
  ]);
  // DIRECT and DIRECT_RELAXABLE are different types too
  assert.equal(mergeRegions([R("DIRECT_RELAXABLE", 0x1000n, 0x1000n), R("DIRECT", 0x1000n, 0x1000n)]), [R("DIRECT", 0x1000n, 0x1000n), R("DIRECT_RELAXABLE", 0x1000n, 0x1000n)]);
});

test("a merge unites the devices of the regions", () => {
  assert.equal(mergeRegions([R("MSI", 0xfee0_0000n, 0x10_0000n, [D1]), R("MSI", 0xfee0_0000n, 0x10_0000n, [D0])]), [R("MSI", 0xfee0_0000n, 0x10_0000n, [D0, D1])]);
});

/** VT-d: 03:00.0 has an RMRR, 03:00.1 a p2p window and an ISA-style relaxable RMRR; both have the interrupt window. */
function vtdPlatform(): ReservedRegions {
  const rr = new ReservedRegions(vtdReservedRegions());
  rr.add(D0, [{ type: "DIRECT", base: 0x7c00_0000n, length: 0x10_0000n }]);
  rr.add(D1, [
    { type: "RESERVED", base: 0xe000_0000n, length: 0x1000_0000n },
    { type: "DIRECT_RELAXABLE", base: 0n, length: 0x100_0000n },
  ]);
  return rr;
}
const hexRanges = (rs: { first: bigint; last: bigint }[]) => rs.map((r) => `0x${r.first.toString(16)}-0x${r.last.toString(16)}`);

test("a device's regions: the platform's and its own, merged; a domain's: over its devices", () => {
  const rr = vtdPlatform();
  assert.equal(rr.regionsOf(D0), [R("DIRECT", 0x7c00_0000n, 0x10_0000n), R("MSI", 0xfee0_0000n, 0x10_0000n)]);
  assert.equal(rr.regionsOfDevices([D1, D0]), [
    R("DIRECT_RELAXABLE", 0n, 0x100_0000n, [D1]),
    R("DIRECT", 0x7c00_0000n, 0x10_0000n, [D0]),
    R("RESERVED", 0xe000_0000n, 0x1000_0000n, [D1]),
    R("MSI", 0xfee0_0000n, 0x10_0000n, [D0, D1]),
  ]);
});

test("usable IOVA ranges: user space keeps DIRECT_RELAXABLE usable, the DMA API reserves it; both cut DIRECT, RESERVED and MSI", () => {
  const rr = vtdPlatform();
  const user: DomainView = { name: "u", devices: [D0, D1], usage: "user" };
  // cuts: DIRECT 0x7c000000-0x7c0fffff, RESERVED 0xe0000000-0xefffffff, MSI 0xfee00000-0xfeefffff; aperture 0-0xffffffffffff
  assert.equal(hexRanges(rr.usableRanges(user)), ["0x0-0x7bffffff", "0x7c100000-0xdfffffff", "0xf0000000-0xfedfffff", "0xfef00000-0xffffffffffff"]);
  // and DIRECT_RELAXABLE 0x0-0xffffff
  assert.equal(hexRanges(rr.usableRanges({ ...user, usage: "dma-api" })), ["0x1000000-0x7bffffff", "0x7c100000-0xdfffffff", "0xf0000000-0xfedfffff", "0xfef00000-0xffffffffffff"]);
  // only 03:00.0: no p2p window; a 32-bit aperture ends at 0xffffffff
  assert.equal(hexRanges(rr.usableRanges({ name: "k", devices: [D0], usage: "dma-api", aperture: { first: 0n, last: 0xffff_ffffn } })), [
    "0x0-0x7bffffff",
    "0x7c100000-0xfedfffff",
    "0xfef00000-0xffffffff",
  ]);
  // an aperture starting inside a region, and one ending inside one
  assert.equal(hexRanges(rr.usableRanges({ name: "a", devices: [D1], usage: "dma-api", aperture: { first: 0x80_0000n, last: 0xe800_0000n } })), ["0x1000000-0xdfffffff"]);
  // an aperture wholly inside a region: nothing usable
  assert.equal(rr.usableRanges({ name: "z", devices: [D1], usage: "user", aperture: { first: 0xe000_0000n, last: 0xe000_ffffn } }), []);
});

test("SMMUv3: every device has the SW_MSI window (default 0x8000000 + 1 MiB or configured); user space reserves it, the DMA API does not", () => {
  const rr = new ReservedRegions(smmuReservedRegions());
  const d: DomainView = { name: "d", devices: [D0], usage: "user", aperture: { first: 0n, last: 0xffff_ffffn } };
  assert.equal(hexRanges(rr.usableRanges(d)), ["0x0-0x7ffffff", "0x8100000-0xffffffff"]);
  assert.equal(hexRanges(rr.usableRanges({ ...d, usage: "dma-api" })), ["0x0-0xffffffff"]);
  const moved = new ReservedRegions(smmuReservedRegions({ swMsi: { base: 0x1000_0000n, length: 0x20_0000n } }));
  assert.equal(hexRanges(moved.usableRanges(d)), ["0x0-0xfffffff", "0x10200000-0xffffffff"]);
  // a device's own SW_MSI region replaces the platform's window for that device only
  moved.add(D1, [{ type: "SW_MSI", base: 0x4000_0000n, length: 0x10_0000n }]);
  assert.equal(moved.regionsOf(D1), [R("SW_MSI", 0x4000_0000n, 0x10_0000n, [D1])]);
  assert.equal(hexRanges(moved.usableRanges({ ...d, devices: [D0, D1] })), ["0x0-0xfffffff", "0x10200000-0x3fffffff", "0x40100000-0xffffffff"]);
  assert.throws(() => vtdReservedRegions({ swMsi: { base: 0n, length: 0x1000n } }), /swMsi is the SMMUv3 platform's software MSI window/);
});

test("checkMap: a map over a region the domain keeps out is refused with the region, its devices and what it is", () => {
  const rr = vtdPlatform();
  const user: DomainView = { name: "vm1-ioas", devices: [D0, D1], usage: "user" };
  assert.is(
    rr.checkMap(user, 0xfee0_0000n, 0x1000n),
    'map 0xfee00000+0x1000 in domain "vm1-ioas": it overlaps the MSI region 0xfee00000-0xfeefffff of 03:00.0, 03:00.1, a hardware MSI window: interrupt writes, never translated',
  );
  assert.is(rr.checkMap(user, 0xfedf_f000n, 0x1000n), undefined); // the page below the window
  assert.is(rr.checkMap(user, 0xfef0_0000n, 0x1000n), undefined); // the page above it
  // one byte into the window: 0xfedff000 + 0x1001 ends at 0xfee00000
  assert.match(rr.checkMap(user, 0xfedf_f000n, 0x1001n)!, /^map 0xfedff000\+0x1001 in domain "vm1-ioas": it overlaps the MSI region 0xfee00000-0xfeefffff/);
  assert.is(
    rr.checkMap(user, 0x7bff_f000n, 0x2000n),
    'map 0x7bfff000+0x2000 in domain "vm1-ioas": it overlaps the DIRECT region 0x7c000000-0x7c0fffff of 03:00.0, identity-mapped for the device at all times (RMRR/RMR)',
  );
  assert.is(
    rr.checkMap(user, 0xe800_0000n, 0x1000n),
    'map 0xe8000000+0x1000 in domain "vm1-ioas": it overlaps the RESERVED region 0xe0000000-0xefffffff of 03:00.1, a peer-to-peer window the root complex routes before the IOMMU',
  );
  // DIRECT_RELAXABLE: user space may map it, the DMA API may not
  assert.is(rr.checkMap(user, 0x10_0000n, 0x1000n), undefined);
  assert.is(
    rr.checkMap({ ...user, name: "k", usage: "dma-api" }, 0x10_0000n, 0x1000n),
    'map 0x100000+0x1000 in domain "k": it overlaps the DIRECT_RELAXABLE region 0x0-0xffffff of 03:00.1, identity-mapped for the kernel\'s use of the device (relaxable RMRR/RMR)',
  );
  // a map spanning two regions names the first by start
  assert.match(rr.checkMap(user, 0x7c00_0000n, 0x8300_0000n)!, /it overlaps the DIRECT region 0x7c000000-0x7c0fffff/);
  assert.is(
    rr.checkMap(user, 0x1_0000_0000_0000n, 0x1000n),
    'map 0x1000000000000+0x1000 in domain "vm1-ioas": 0x1000000000000-0x1000000000fff is outside the domain\'s aperture 0x0-0xffffffffffff',
  );
  assert.is(rr.checkMap(user, 0x1000n, 0n), 'map 0x1000+0x0 in domain "vm1-ioas": the size must be at least 1');
  // SMMU SW_MSI: refused for user space (iommufd maps the doorbell there), allowed for the DMA API
  const arm = new ReservedRegions(smmuReservedRegions());
  assert.is(
    arm.checkMap({ name: "u", devices: [D0], usage: "user" }, 0x800_0000n, 0x1000n),
    'map 0x8000000+0x1000 in domain "u": it overlaps the SW_MSI region 0x8000000-0x80fffff of 03:00.0, the software MSI window, where the MSI doorbell mappings go',
  );
  assert.is(arm.checkMap({ name: "k", devices: [D0], usage: "dma-api" }, 0x800_0000n, 0x1000n), undefined);
});

test("route: p2p windows go peer-to-peer, MSI windows are interrupts, DIRECT regions identity, the rest (SW_MSI too) is translated", () => {
  const rr = new ReservedRegions(smmuReservedRegions());
  rr.add(D0, [
    { type: "RESERVED", base: 0x4000_0000n, length: 0x1000_0000n }, // a peer's BAR behind the same switch
    { type: "MSI", base: 0x2800_0000n, length: 0x1_0000n }, // a fixed hardware doorbell
    { type: "DIRECT", base: 0x9000_0000n, length: 0x10_0000n },
    { type: "RESERVED", base: 0x2800_0000n, length: 0x1000n }, // a p2p window over the doorbell's first page
  ]);
  assert.equal(rr.route(D0, 0x4800_0000n), {
    fate: "p2p",
    region: R("RESERVED", 0x4000_0000n, 0x1000_0000n),
    why: "0x48000000 from 03:00.0 is in the RESERVED region 0x40000000-0x4fffffff: routed peer-to-peer, not translated",
  });
  assert.equal(rr.route(D0, 0x2800_1040n), {
    fate: "interrupt",
    region: R("MSI", 0x2800_0000n, 0x1_0000n),
    why: "0x28001040 from 03:00.0 is in the MSI region 0x28000000-0x2800ffff: an interrupt, not translated",
  });
  assert.is(rr.route(D0, 0x2800_0040n).fate, "p2p"); // RESERVED decides before MSI where they overlap
  assert.equal(rr.route(D0, 0x9000_0000n), {
    fate: "direct",
    region: R("DIRECT", 0x9000_0000n, 0x10_0000n),
    why: "0x90000000 from 03:00.0 is in the DIRECT region 0x90000000-0x900fffff: identity-mapped",
  });
  assert.equal(rr.route(D0, 0x800_0040n), {
    fate: "translate",
    region: R("SW_MSI", 0x800_0000n, 0x10_0000n),
    why: "0x8000040 from 03:00.0 is in the SW_MSI region 0x8000000-0x80fffff: translated through the MSI doorbell mapping",
  });
  assert.equal(rr.route(D0, 0x5000_0000n), { fate: "translate", why: "0x50000000 from 03:00.0 is in no reserved region: translated" }); // one past the p2p window
  assert.is(rr.route(D1, 0x4800_0000n).fate, "translate"); // another device has no such window
  assert.equal(new ReservedRegions(vtdReservedRegions()).route(D1, 0xfeef_fffcn).fate, "interrupt"); // the x86 window's last dword
});

test("mayGoToUser: refused with a DIRECT region, allowed with DIRECT_RELAXABLE only", () => {
  const rr = vtdPlatform();
  assert.equal(rr.mayGoToUser(D0), {
    ok: false,
    reason: "03:00.0 has the DIRECT region 0x7c000000-0x7c0fffff (RMRR/RMR): firmware needs it identity-mapped at all times, so the device cannot be blocked or given to user space",
  });
  assert.equal(rr.mayGoToUser(D1), { ok: true });
  assert.equal(rr.mayGoToUser(0x400), { ok: true });
});

test("checkAttach: a device whose kept-out region overlaps a mapping already in the domain is refused; user space refuses MSI with SW_MSI", () => {
  const rr = vtdPlatform();
  const user: DomainView = { name: "u", devices: [D0], usage: "user" };
  const mapped = [{ first: 0xe000_0000n, last: 0xe000_0fffn }];
  assert.is(rr.checkAttach(user, D1, mapped), 'attach 03:00.1 to domain "u": its RESERVED region 0xe0000000-0xefffffff overlaps the mapping 0xe0000000-0xe0000fff already in the domain');
  assert.is(rr.checkAttach(user, D1, [{ first: 0xdfff_f000n, last: 0xdfff_ffffn }]), undefined); // the page below the window
  // 03:00.1's DIRECT_RELAXABLE 0x0-0xffffff: no matter for user space, refused for the DMA API
  const low = [{ first: 0x1000n, last: 0x1fffn }];
  assert.is(rr.checkAttach(user, D1, low), undefined);
  assert.is(
    rr.checkAttach({ ...user, usage: "dma-api" }, D1, low),
    'attach 03:00.1 to domain "u": its DIRECT_RELAXABLE region 0x0-0xffffff overlaps the mapping 0x1000-0x1fff already in the domain',
  );
  const arm = new ReservedRegions(smmuReservedRegions());
  arm.add(D0, [{ type: "MSI", base: 0x2800_0000n, length: 0x1_0000n }]);
  assert.is(
    arm.checkAttach(user, D0, []),
    'attach 03:00.0 to domain "u": the device has both a hardware MSI region (0x28000000-0x2800ffff) and a software MSI window (0x8000000-0x80fffff); iommufd accepts one kind',
  );
  assert.is(arm.checkAttach({ ...user, usage: "dma-api" }, D0, []), undefined);
  arm.add(D1, [
    { type: "SW_MSI", base: 0x800_0000n, length: 0x1_0000n },
    { type: "SW_MSI", base: 0x900_0000n, length: 0x1_0000n },
  ]);
  assert.is(arm.checkAttach(user, D1, []), 'attach 03:00.1 to domain "u": the device has 2 software MSI windows (0x8000000-0x800ffff, 0x9000000-0x900ffff); iommufd accepts one');
});

test("bad regions are refused by the library with what was expected", () => {
  const rr = new ReservedRegions(vtdReservedRegions());
  assert.throws(() => rr.add(D0, [{ type: "DIRECT", base: 0x1000n, length: 0n }]), /03:00\.0: a DIRECT region needs 0 <= base, 1 <= length and base \+ length <= 2\^64, got base 0x1000 length 0x0/);
  assert.throws(() => rr.add(D0, [{ type: "MSI", base: 0xffff_ffff_ffff_f000n, length: 0x2000n }]), /base 0xfffffffffffff000 length 0x2000/);
  assert.throws(() => rr.add(D0, [{ type: "BOGUS" as RegionType, base: 0n, length: 1n }]), /unknown region type "BOGUS"/);
});

test.run();
