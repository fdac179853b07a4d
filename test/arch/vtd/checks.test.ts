/**
 * What the driver side refuses, in one place (src/arch/vtd/checks.ts): ranges against each
 * domain format (second-stage width, first-stage canonical form for 4 and 5 levels, wrap-around,
 * alignment, output width), page sizes against CAP.SSLPS / CAP.FS1GP, levels against CAP.SAGAW /
 * CAP.FS5LP, and the cost estimates the budgets compare (table pages of a map, cache entries).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { attachBudgetProblem, cacheEntries, levelsProblem, mapBudgetProblem, mapEstimate, rangeProblem, type DeviceCounts } from "../../../src/arch/vtd/checks.ts";
import { DEFAULT_CAP, capFields, setField } from "../../../src/arch/vtd/registers.ts";
import { resolveLimits } from "../../../src/config/limits.ts";
import { platformCaches } from "../../../src/platform.ts";

const K4 = 1n << 12n, M2 = 1n << 21n, G1 = 1n << 30n;
const ss4 = { id: 1, type: "ss" as const, levels: 4 };
const fs4 = { id: 2, type: "fs" as const, levels: 4 };
const fs5 = { id: 3, type: "fs" as const, levels: 5 };
const cap = (fields: Partial<Record<keyof typeof capFields, bigint>>) =>
  Object.entries(fields).reduce((c, [k, v]) => setField(c, capFields[k as keyof typeof capFields], v!), DEFAULT_CAP);

test("alignment, size and page size: the first value at fault, named", () => {
  assert.is(rangeProblem(ss4, { iova: 0x1800n, size: K4, pageSize: K4 }), "IOVA 0x1800 is not aligned to the 4K page size");
  assert.is(rangeProblem(ss4, { iova: M2, pa: 0x1000n, size: M2, pageSize: M2 }), "PA 0x1000 is not aligned to the 2M page size");
  assert.is(rangeProblem(ss4, { iova: M2, pa: M2, size: K4, pageSize: M2 }), "SIZE 0x1000 is not a multiple of the 2M page size");
  assert.is(rangeProblem(ss4, { iova: 0n, size: 0n, pageSize: K4 }), "SIZE must be positive");
  assert.is(rangeProblem(ss4, { iova: 0n, size: K4, pageSize: 0x3000n }), "page size 0x3000 is not 4K, 2M or 1G");
  assert.is(rangeProblem(ss4, { iova: G1, pa: 2n * G1, size: G1, pageSize: G1 }), undefined);
});

test("wrap-around past 2^64 is refused before any width check", () => {
  assert.is(rangeProblem(ss4, { iova: 0xfffffffffffff000n, size: 0x2000n, pageSize: K4 }), "IOVA 0xfffffffffffff000 + SIZE 0x2000 wraps past 2^64");
  assert.is(rangeProblem(fs4, { iova: 0xfffffffffffff000n, size: 0x2000n, pageSize: K4 }), "IOVA 0xfffffffffffff000 + SIZE 0x2000 wraps past 2^64");
});

test("second stage: the range stays below 2^(12 + 9 x levels)", () => {
  // issue 13's hang: valid trace input, the whole 64-bit space
  assert.is(
    rangeProblem(ss4, { iova: 0n, size: 0xfffffffffffff000n, pageSize: K4 }),
    "IOVA range 0x0-0xffffffffffffefff is beyond the 48-bit input width of domain 1 (4-level second stage: below 0x1000000000000)",
  );
  assert.is(
    rangeProblem(ss4, { iova: 0xffffffff0000n, size: 0x20000n, pageSize: K4 }),
    "IOVA range 0xffffffff0000-0x100000000ffff is beyond the 48-bit input width of domain 1 (4-level second stage: below 0x1000000000000)",
  );
  assert.is(rangeProblem(ss4, { iova: 0n, size: 1n << 48n, pageSize: K4 }), undefined, "the whole width");
  assert.is(
    rangeProblem({ id: 7, type: "ss", levels: 3 }, { iova: 0x7ffffff000n, size: 0x2000n, pageSize: K4 }),
    "IOVA range 0x7ffffff000-0x8000000fff is beyond the 39-bit input width of domain 7 (3-level second stage: below 0x8000000000)",
  );
  assert.is(rangeProblem({ id: 7, type: "ss", levels: 5 }, { iova: 1n << 56n, size: K4, pageSize: K4 }), undefined);
});

test("first stage: canonical for 4 and 5 levels, never across the hole", () => {
  assert.is(
    rangeProblem(fs4, { iova: 0x7ffffffff000n, size: 0x2000n, pageSize: K4 }),
    "IOVA range 0x7ffffffff000-0x800000000fff is not canonical for domain 2 (4-level first stage: below 0x800000000000 or from 0xffff800000000000)",
  );
  assert.is(
    rangeProblem(fs4, { iova: 0xffff7ffffffff000n, size: K4, pageSize: K4 }),
    "IOVA range 0xffff7ffffffff000-0xffff7fffffffffff is not canonical for domain 2 (4-level first stage: below 0x800000000000 or from 0xffff800000000000)",
  );
  assert.is(rangeProblem(fs4, { iova: 0xffff800000000000n, size: 1n << 47n, pageSize: K4 }), undefined, "the whole upper half");
  assert.is(rangeProblem(fs5, { iova: 0x800000000000n, size: K4, pageSize: K4 }), undefined, "canonical with 5 levels");
  assert.is(
    rangeProblem(fs5, { iova: 0x100000000000000n, size: K4, pageSize: K4 }),
    "IOVA range 0x100000000000000-0x100000000000fff is not canonical for domain 3 (5-level first stage: below 0x100000000000000 or from 0xff00000000000000)",
  );
  assert.is(
    rangeProblem({ id: 4, type: "nested", levels: 4 }, { iova: 0x800000000000n, size: K4, pageSize: K4 }),
    "IOVA range 0x800000000000-0x800000000fff is not canonical for domain 4 (4-level nested first stage: below 0x800000000000 or from 0xffff800000000000)",
  );
});

test("output addresses stay below 2^52", () => {
  assert.is(
    rangeProblem(ss4, { iova: 0n, pa: 0xffffffffff000n, size: 0x2000n, pageSize: K4 }),
    "PA range 0xffffffffff000-0x10000000000fff is beyond 52-bit physical addresses",
  );
  assert.is(rangeProblem(ss4, { iova: 0n, pa: 0xffffffffff000n, size: K4, pageSize: K4 }), undefined);
});

test("page sizes the unit supports, only when CAP is given (the builder alone may write any)", () => {
  const m = (d: typeof ss4 | typeof fs4, size: bigint, c: bigint) => rangeProblem(d, { iova: size, pa: size, size, pageSize: size }, c);
  assert.is(m(ss4, G1, cap({ SSLPS: 1n })), "domain 1: 1G second-stage pages need CAP.SSLPS bit 1; this unit's SSLPS=0x1 allows 4K and 2M pages");
  assert.is(m(ss4, M2, cap({ SSLPS: 0n })), "domain 1: 2M second-stage pages need CAP.SSLPS bit 0; this unit's SSLPS=0x0 allows 4K pages");
  assert.is(m(ss4, M2, cap({ SSLPS: 2n })), "domain 1: 2M second-stage pages need CAP.SSLPS bit 0; this unit's SSLPS=0x2 allows 4K and 1G pages");
  assert.is(m(ss4, G1, cap({ SSLPS: 3n })), undefined);
  assert.is(m(fs4, G1, cap({ FS1GP: 0n })), "domain 2: 1G first-stage pages need CAP.FS1GP=1; this unit's FS1GP=0 allows 4K and 2M pages");
  assert.is(m(fs4, M2, cap({ FS1GP: 0n, SSLPS: 0n })), undefined, "2M first-stage pages need no capability");
  assert.is(rangeProblem(ss4, { iova: G1, pa: G1, size: G1, pageSize: G1 }), undefined, "no CAP: format checks only");
});

test("levels against CAP.SAGAW (second stage) and CAP.FS5LP (5-level first stage)", () => {
  // the default profile: SAGAW=0xc (4 and 5 levels), FS5LP=1
  assert.is(levelsProblem("ss", 3, DEFAULT_CAP), "3-level second-stage tables (39-bit AGAW) need CAP.SAGAW bit 1; this unit's SAGAW=0xc supports 4, 5 levels");
  assert.is(levelsProblem("ss", 4, DEFAULT_CAP), undefined);
  assert.is(levelsProblem("ss", 5, cap({ SAGAW: 0x2n })), "5-level second-stage tables (57-bit AGAW) need CAP.SAGAW bit 3; this unit's SAGAW=0x2 supports 3 levels");
  assert.is(levelsProblem("ss", 4, cap({ SAGAW: 0n })), "4-level second-stage tables (48-bit AGAW) need CAP.SAGAW bit 2; this unit's SAGAW=0x0 supports no second-stage table depth");
  assert.is(levelsProblem("fs", 5, cap({ FS5LP: 0n })), "5-level first-stage paging needs CAP.FS5LP=1; this unit's FS5LP=0 supports 4 levels");
  assert.is(levelsProblem("nested", 5, cap({ FS5LP: 0n })), "5-level first-stage paging needs CAP.FS5LP=1; this unit's FS5LP=0 supports 4 levels");
  assert.is(levelsProblem("fs", 4, cap({ FS5LP: 0n, SAGAW: 0n })), undefined);
  assert.is(levelsProblem("pt", 4, cap({ SAGAW: 0n })), undefined);
});

test("map estimates: leaves and the table pages of every level below the root, from the range alone", () => {
  // 16 TiB at 0 with 4 KiB pages, 4 levels: 2^32 leaves in 2^23 + 2^14 + 32 tables
  assert.equal(mapEstimate(4, 0n, 1n << 44n, K4), { leaves: 4294967296n, tablePages: 8388608n + 16384n + 32n });
  // two pages across a 2 MiB boundary: two leaf tables, one of each level above
  assert.equal(mapEstimate(4, 0x1ff000n, 0x2000n, K4), { leaves: 2n, tablePages: 4n });
  assert.equal(mapEstimate(5, 0x1ff000n, 0x2000n, K4), { leaves: 2n, tablePages: 5n });
  // 1 TiB of 1 GiB pages: 1024 leaves in the two PDPT pages 0-512 GiB and 512 GiB-1 TiB
  assert.equal(mapEstimate(4, 0n, 1n << 40n, G1), { leaves: 1024n, tablePages: 2n });
  assert.equal(mapEstimate(3, 0n, 1n << 30n, G1), { leaves: 1n, tablePages: 0n }, "a 1 GiB leaf in a 3-level root");
});

test("the map budget message: the input's size, the estimate and how to raise it", () => {
  const limits = resolveLimits();
  assert.is(
    mapBudgetProblem(4, 0n, 1n << 44n, K4, limits),
    "mapping 16 TiB with 4 KiB pages writes about 4294967296 leaf entries in 8405024 table pages (32.1 GiB of tables), over the budget of 16384 table pages; raise it with config.limits.tablePages or --limit tablePages=N",
  );
  // 16 GiB with 4 KiB pages (2^22 pages): 8192 + 16 + 1 table pages fit the default
  assert.is(mapBudgetProblem(4, 0n, 1n << 34n, K4, limits), undefined);
  assert.is(
    mapBudgetProblem(4, 0n, 1n << 34n, K4, resolveLimits({ tablePages: 8208 })),
    "mapping 16 GiB with 4 KiB pages writes about 4194304 leaf entries in 8209 table pages (32.1 MiB of tables), over the budget of 8208 table pages; raise it with config.limits.tablePages or --limit tablePages=N",
  );
  assert.is(mapBudgetProblem(4, 0n, 1n << 34n, K4, resolveLimits({ tablePages: 8209 })), undefined);
});

test("cache entries: every enabled cache once, the device-TLB once per ATS device", () => {
  const caches = platformCaches();
  // catalogue defaults: 128 + 64 + 128 + 32 + 16 + 8 + 4 + 32 + 16 + 8 + 4 = 440, device-TLB 64 each
  assert.is(cacheEntries(caches, 0).total, 440);
  const two = cacheEntries(caches, 2);
  assert.is(two.total, 568);
  assert.is(two.parts.at(-1), "deviceTlb 64 x 2 devices");
  assert.is(cacheEntries(platformCaches("vtd-default", { iotlb: { enable: false }, pasidCache: { entries: 0 } }), 0).total, 440 - 128 - 128);
});

test("attach budgets: a new device, a new PASID of a device, a new device-TLB", () => {
  const counts = (devices: Map<number, { ats: boolean; pasids: Set<number> }>): DeviceCounts => ({
    devices: devices.size,
    pasidsOf: (sid) => devices.get(sid)?.pasids,
    atsDevices: [...devices.values()].filter((d) => d.ats).length,
    device: (sid) => devices.get(sid),
  });
  const known = counts(new Map([[0x10, { ats: true, pasids: new Set([0, 1]) }]]));
  const caches = platformCaches();
  const limits = resolveLimits({ devices: 1, pasids: 2, cacheEntries: 504 });
  assert.is(
    attachBudgetProblem(known, { sid: 0x18, bdf: "00:03.0", pasidEntry: 0, ats: false }, caches, limits),
    "attaching 00:03.0 makes 2 devices, over the budget of 1 devices; raise it with config.limits.devices or --limit devices=N",
  );
  assert.is(
    attachBudgetProblem(known, { sid: 0x10, bdf: "00:02.0", pasidEntry: 5, ats: true }, caches, limits),
    "attaching 00:02.0 PASID 5 gives it 3 PASIDs, over the budget of 2 PASIDs per device; raise it with config.limits.pasids or --limit pasids=N",
  );
  assert.is(attachBudgetProblem(known, { sid: 0x10, bdf: "00:02.0", pasidEntry: 1, ats: true }, caches, limits), undefined, "an entry it has");
  assert.is(
    attachBudgetProblem(known, { sid: 0x18, bdf: "00:03.0", pasidEntry: 0, ats: true }, caches, resolveLimits({ cacheEntries: 567 })),
    "with 00:03.0 attached with ATS, the caches hold 568 entries (iotlb 128, contextCache 64, pasidCache 128, pwcFsPde 32, pwcFsPdpe 16, pwcFsPml4e 8, pwcFsPml5e 4, pwcSsPde 32, pwcSsPdpe 16, pwcSsPml4e 8, pwcSsPml5e 4, deviceTlb 64 x 2 devices), over the budget of 567 cache entries; raise it with config.limits.cacheEntries or --limit cacheEntries=N",
  );
  assert.is(attachBudgetProblem(known, { sid: 0x18, bdf: "00:03.0", pasidEntry: 0, ats: true }, caches, resolveLimits({ cacheEntries: 568 })), undefined);
});

test.run();
