/**
 * Properties of src/iommu/pasid.ts and reserved-regions.ts on random inputs, each against a model
 * that works point by point in a small space (so overlaps, touching regions, exhaustion and quota
 * changes happen often): merging keeps exactly the points of each type and leaves regions of a
 * type apart; usable ranges and checkMap agree with the kept-out regions at every address; the
 * allocator hands out what a plain map of PASIDs to VMs says it must. Fixed seeds: a failure
 * reproduces.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { excludes, mergeRegions, regionTypes, ReservedRegions, type DomainUsage, type MergedRegion } from "../../src/iommu/reserved-regions.ts";
import { PasidAllocator } from "../../src/iommu/pasid.ts";
import { smmuReservedRegions } from "../../src/arch/smmuv3/regions.ts";

const SPACE = 48; // addresses 0..47
const arbRegion = fc.record({
  type: fc.constantFrom(...regionTypes),
  base: fc.integer({ min: 0, max: SPACE - 8 }),
  length: fc.integer({ min: 1, max: 8 }),
  device: fc.constantFrom(0x300, 0x301, 0x302),
});
const toMerged = (r: { type: MergedRegion["type"]; base: number; length: number; device: number }): MergedRegion => ({
  type: r.type,
  base: BigInt(r.base),
  length: BigInt(r.length),
  devices: [r.device],
});
const lastOf = (r: { base: bigint; length: bigint }) => r.base + r.length - 1n;

test("merging: each type covers exactly its regions' addresses, regions of a type stay apart, the list is sorted by start then type, devices follow", () => {
  fc.assert(
    fc.property(fc.array(arbRegion, { maxLength: 12 }), (input) => {
      const regions = input.map(toMerged);
      const merged = mergeRegions(regions);
      for (const type of regionTypes) {
        const mine = merged.filter((r) => r.type === type);
        for (let p = 0n; p < BigInt(SPACE); p++) {
          const want = regions.some((r) => r.type === type && r.base <= p && p <= lastOf(r));
          const got = mine.filter((r) => r.base <= p && p <= lastOf(r)).length;
          assert.is(got, want ? 1 : 0, `${type} at ${p}`);
        }
        for (let i = 1; i < mine.length; i++) assert.ok(mine[i]!.base > lastOf(mine[i - 1]!) + 1n, `${type} regions ${i - 1} and ${i} touch`);
        for (const m of mine) {
          const inside = regions.filter((r) => r.type === type && r.base >= m.base && lastOf(r) <= lastOf(m));
          assert.equal(m.devices, [...new Set(inside.map((r) => r.devices[0]!))].sort((a, b) => a - b));
        }
      }
      for (let i = 1; i < merged.length; i++) {
        const a = merged[i - 1]!, b = merged[i]!;
        assert.ok(a.base < b.base || (a.base === b.base && regionTypes.indexOf(a.type) < regionTypes.indexOf(b.type)), `order at ${i}`);
      }
    }),
    { numRuns: 300, seed: 11 },
  );
});

test("usable ranges and checkMap agree with the kept-out regions at every address of the aperture", () => {
  fc.assert(
    fc.property(
      fc.array(arbRegion, { maxLength: 8 }),
      fc.constantFrom<DomainUsage>("dma-api", "user"),
      fc.integer({ min: 0, max: 10 }),
      fc.integer({ min: 30, max: SPACE - 1 }),
      (input, usage, first, last) => {
        const rr = new ReservedRegions(smmuReservedRegions({ swMsi: { base: 40n, length: 4n } }));
        for (const r of input) rr.add(r.device, [{ type: r.type, base: BigInt(r.base), length: BigInt(r.length) }]);
        const devices = [...new Set(input.map((r) => r.device))];
        const domain = { name: "d", devices: devices.length ? devices : [0x300], usage, aperture: { first: BigInt(first), last: BigInt(last) } };
        const usable = rr.usableRanges(domain);
        // every device's regions, including the SW_MSI window of a device without its own
        const kept = domain.devices.flatMap((d) => rr.regionsOf(d)).filter((r) => excludes(usage, r.type));
        for (let i = 1; i < usable.length; i++) assert.ok(usable[i]!.first > usable[i - 1]!.last + 1n, "usable ranges apart and ascending");
        for (let p = BigInt(first); p <= BigInt(last); p++) {
          const inUsable = usable.some((u) => u.first <= p && p <= u.last);
          const inKept = kept.some((r) => r.base <= p && p <= lastOf(r));
          assert.is(inUsable, !inKept, `address ${p}`);
          assert.is(rr.checkMap(domain, p, 1n) === undefined, inUsable, `checkMap at ${p}`);
        }
        for (const u of usable) assert.ok(u.first >= BigInt(first) && u.last <= BigInt(last), "inside the aperture");
      },
    ),
    { numRuns: 200, seed: 12 },
  );
});

type Op = { op: "alloc"; vm: number } | { op: "free"; vm: number; pasid: number } | { op: "quota"; vm: number; quota: number };

test("the allocator against a plain model: lowest free PASID, quotas (changed at run time), exhaustion, owner checks, counts", () => {
  const VMS = ["a", "b", "c"];
  const arbOp: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant("alloc" as const), vm: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ op: fc.constant("alloc" as const), vm: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ op: fc.constant("free" as const), vm: fc.integer({ min: 0, max: 2 }), pasid: fc.integer({ min: 0, max: 16 }) }),
    fc.record({ op: fc.constant("quota" as const), vm: fc.integer({ min: 0, max: 2 }), quota: fc.integer({ min: 0, max: 8 }) }),
  );
  fc.assert(
    fc.property(fc.array(arbOp, { maxLength: 60 }), (ops) => {
      const a = new PasidAllocator({ bits: 4, ridPasid: 9, defaultQuota: 6, vms: VMS.map((name) => ({ name })) });
      const owner = new Map<number, string>(); // the model: PASID -> VM
      const quota = new Map(VMS.map((v) => [v, 6]));
      const held = (vm: string) => [...owner.values()].filter((v) => v === vm).length;
      for (const o of ops) {
        const vm = VMS[o.vm]!;
        if (o.op === "quota") {
          assert.equal(a.setQuota(vm, o.quota), { ok: true, over: Math.max(0, held(vm) - o.quota) });
          quota.set(vm, o.quota);
        } else if (o.op === "alloc") {
          const r = a.allocate(vm);
          let free = 1;
          while (free < 16 && (owner.has(free) || free === 9)) free++;
          if (held(vm) >= quota.get(vm)!) assert.is(r.ok ? "ok" : r.kind, "quota");
          else if (free === 16) assert.is(r.ok ? "ok" : r.kind, "exhausted");
          else {
            assert.equal(r, { ok: true, pasid: free });
            owner.set(free, vm);
          }
        } else {
          const r = a.free(vm, o.pasid);
          const want = o.pasid > 15 || o.pasid === 0 || o.pasid === 9 || !owner.has(o.pasid) ? "not-allocated" : owner.get(o.pasid) !== vm ? "not-owner" : "ok";
          assert.is(r.ok ? "ok" : r.kind, want);
          if (want === "ok") owner.delete(o.pasid);
        }
      }
      for (let p = 0; p < 16; p++) assert.is(a.ownerOf(p), owner.get(p));
      for (const vm of VMS) assert.is(a.countsOf(vm)!.allocated, held(vm));
    }),
    { numRuns: 300, seed: 13 },
  );
});

test.run();
