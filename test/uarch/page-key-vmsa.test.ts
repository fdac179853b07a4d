/**
 * Page keys (assembly/uarch/cache/page-key.ts) with the SMMUv3 size list (every VMSAv8-64 leaf of
 * every granule, fmt/vmsa.ts VMSA_PAGE_SIZES_LG2): an entry for a 16 KiB or 64 KiB page, or a 32 MiB
 * or 512 MiB block, hits for every address in it and for none outside; pages of different sizes
 * over the same addresses are different keys; the VT-d list has no such sizes.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { newHarness } from "./harness.ts";
import { Arch } from "../../src/core/abi.ts";

const K = 1024n, M = 1024n * K;
const SMMU = Arch.SMMUV3;

for (const [name, lg2, base, step] of [
  ["16 KiB page", 14, 0x7_1234_c000n, 4n * K],
  ["64 KiB page", 16, 0x1234_0000n, 4n * K],
  ["32 MiB block", 25, 0x5_4200_0000n, 64n * K],
  ["512 MiB block", 29, 0x6000_0000n, 64n * K],
] as const)
  test(`a ${name} entry hits for every address in it and not outside`, () => {
    const c = newHarness().cache({ entries: 64, assoc: 0, policy: "lru" });
    const size = 1n << BigInt(lg2);
    assert.is(base & (size - 1n), 0n, "the test's base is aligned");
    const slot = c.pageFill(SMMU, 7, base + size / 2n, lg2);
    let lookups = 0;
    for (let a = base; a < base + size; a += step) {
      assert.is(c.pageLookup(SMMU, 7, a), slot, `0x${a.toString(16)}`);
      assert.is(c.pageLookup(SMMU, 7, a + step - 1n), slot, `0x${(a + step - 1n).toString(16)}`);
      lookups += 2;
    }
    assert.is(c.pageLookup(SMMU, 7, base - 1n), -1, "the byte below");
    assert.is(c.pageLookup(SMMU, 7, base + size), -1, "the byte above");
    assert.is(c.pageLookup(SMMU, 8, base), -1, "another owner");
    const n = c.counters();
    assert.equal([n.lookups, n.hits, n.misses, n.fills], [lookups + 3, lookups, 3, 1]);
  });

test("4 KiB, 64 KiB and 512 MiB entries over the same addresses are three keys; the smallest is probed first", () => {
  const c = newHarness().cache({ entries: 64, assoc: 0, policy: "lru" });
  const big = c.pageFill(SMMU, 1, 0x2000_0000n, 29);
  const mid = c.pageFill(SMMU, 1, 0x2000_0000n, 16);
  const small = c.pageFill(SMMU, 1, 0x2000_0000n, 12);
  assert.is(new Set([big, mid, small]).size, 3);
  assert.is(c.pageLookup(SMMU, 1, 0x2000_0ff8n), small);
  assert.is(c.pageLookup(SMMU, 1, 0x2000_1000n), mid);
  assert.is(c.pageLookup(SMMU, 1, 0x2001_0000n), big);
  assert.is(c.pageLookup(SMMU, 1, 0x4000_0000n), -1);
});

test("the VT-d size list holds no 64 KiB page (the architecture's list decides)", () => {
  const c = newHarness().cache({ entries: 8, assoc: 0, policy: "lru" });
  assert.throws(() => c.pageFill(Arch.VTD, 1, 0x1_0000n, 16), /page size not in the cache's size list/);
});

test.run();
