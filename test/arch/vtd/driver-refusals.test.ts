/**
 * What the run-time driver refuses (src/arch/vtd/driver.ts with src/arch/vtd/checks.ts), each
 * an input error at the trace event's line and column, with nothing changed: an unmap outside the
 * domain's width, wrapping, or not canonical (it used to clear a different, live mapping, whose
 * next DMA was then reported stale); a map over the tablePages budget or with a page size CAP does
 * not allow; an attach to a domain whose levels CAP does not support, or over the devices, pasids
 * or cacheEntries budgets. Devices are named by BDF. An unmap of a whole sparse domain reads only
 * the tables that exist.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform, type PlatformOptions } from "../../../src/platform.ts";
import { DriverError, VtdDriver, type DriverOptions } from "../../../src/arch/vtd/driver.ts";
import { parseTraceText } from "../../../src/trace/text.ts";
import { replay } from "../../../src/replay/replay.ts";
import type { Result } from "../../../src/core/core.ts";
import { InputError } from "../../../src/errors.ts";
import { resolveLimits, type Limits } from "../../../src/config/limits.ts";
import { DEFAULT_CAP, capFields, setField } from "../../../src/arch/vtd/registers.ts";

const FILE = "t.trace";

function setup(o: { plat?: PlatformOptions; limits?: Partial<Limits>; driver?: Partial<DriverOptions> } = {}) {
  const p = new VtdPlatform({ build: "debug", ...o.plat });
  const b = p.builder;
  b.map(b.createDomain({ id: 1, type: "ss" }), 0x100000n, 0x80000000n, 0x10000n);
  b.map(b.createDomain({ id: 2, type: "fs" }), 0x7f0000000000n, 0x60000000n, 0x10000n);
  b.attach({ sid: 0x10, domain: 1 });
  b.attach({ sid: 0x10, pasid: 1, domain: 2 });
  p.enable();
  const driver = new VtdDriver(p, { ...o.driver, limits: resolveLimits(o.limits) });
  const run = (text: string): Result[] => {
    const results: Result[] = [];
    replay(p, parseTraceText(text, FILE), (_, _t, r) => results.push(r), { driver, file: FILE });
    return results;
  };
  const fails = (text: string, message: string) => {
    try {
      run(text);
    } catch (e) {
      assert.instance(e, InputError);
      assert.is((e as InputError).message, message);
      return;
    }
    assert.unreachable(message);
  };
  return { p, b, driver, run, fails };
}

const cap = (fields: Partial<Record<keyof typeof capFields, bigint>>) =>
  Object.entries(fields).reduce((c, [k, v]) => setField(c, capFields[k as keyof typeof capFields], v!), DEFAULT_CAP);

test("an unmap beyond the width is refused; the live mapping with the same low bits still translates, not stale", () => {
  const s = setup();
  const before = s.run("MRd 00:02.0 addr=0x100040")[0]!;
  assert.equal([before.status, before.pa, before.stale], ["ok", 0x80000040n, false]);
  s.fails(
    "\n  unmap 1 0x1000000100000 0x1000",
    `${FILE}:2:3: unmap: IOVA range 0x1000000100000-0x1000000100fff is beyond the 48-bit input width of domain 1 (4-level second stage: below 0x1000000000000)`,
  );
  const after = s.run("MRd 00:02.0 addr=0x100040")[0]!;
  assert.equal([after.status, after.pa, after.stale], ["ok", 0x80000040n, false]);
  assert.equal([s.driver.stats.unmaps, s.driver.stats.queuedDescriptors], [0, 0], "nothing cleared, nothing invalidated");
});

test("a first-stage unmap that is not canonical is refused; the lower-half mapping stays live", () => {
  const s = setup();
  assert.is(s.run("MRd 00:02.0 pasid=1 addr=0x7f0000000080")[0]!.status, "ok");
  s.fails(
    "@7 unmap 2 0xffff7f0000000000 0x1000",
    `${FILE}:1:4: unmap: IOVA range 0xffff7f0000000000-0xffff7f0000000fff is not canonical for domain 2 (4-level first stage: below 0x800000000000 or from 0xffff800000000000)`,
  );
  const after = s.run("MRd 00:02.0 pasid=1 addr=0x7f0000000080")[0]!;
  assert.equal([after.status, after.pa, after.stale], ["ok", 0x60000080n, false]);
});

test("a wrapping unmap is refused (the API; the trace parser already refuses one)", () => {
  const s = setup();
  let err: unknown;
  try {
    s.driver.unmap(1, 0xfffffffffffff000n, 0x2000n);
  } catch (e) {
    err = e;
  }
  assert.instance(err, DriverError);
  assert.is((err as Error).message, "IOVA 0xfffffffffffff000 + SIZE 0x2000 wraps past 2^64");
});

test("issue 13's hang: the whole 64-bit range is refused; the whole width of a sparse domain is walked in 2048 entries", () => {
  const s = setup();
  s.fails(
    "unmap 1 0x0 0xfffffffffffff000",
    `${FILE}:1:1: unmap: IOVA range 0x0-0xffffffffffffefff is beyond the 48-bit input width of domain 1 (4-level second stage: below 0x1000000000000)`,
  );
  const visited = s.b.entriesVisited;
  s.run("unmap 1 0x0 0x1000000000000");
  // one present chain: the root's 512 entries, then a PDPT, a PD and the PT of the 16 pages, 512 each
  assert.is(s.b.entriesVisited - visited, 2048);
  assert.is(s.run("MRd 00:02.0 addr=0x100000")[0]!.status, "fault");
});

test("a map over the tablePages budget is refused before anything is written, with the estimate", () => {
  const s = setup();
  const used = s.p.alloc.used;
  s.fails(
    "map 1 0x100000000 0x100000000 0x10000000000",
    `${FILE}:1:1: map: mapping 1 TiB with 4 KiB pages writes about 268435456 leaf entries in 525315 table pages (2 GiB of tables), over the budget of 16384 table pages; raise it with config.limits.tablePages or --limit tablePages=N`,
  );
  assert.is(s.p.alloc.used, used);
  const raised = setup({ limits: { tablePages: 35 } });
  // 64 MiB at 4 GiB: 32 PTs, one PD, and the PDPT exists
  raised.run("map 1 0x100000000 0x100000000 0x4000000");
  assert.is(raised.run("MRd 00:02.0 addr=0x103fff000")[0]!.pa, 0x103fff000n);
  setup({ limits: { tablePages: 33 } }).fails(
    "map 1 0x100000000 0x100000000 0x4000000",
    `${FILE}:1:1: map: mapping 64 MiB with 4 KiB pages writes about 16384 leaf entries in 34 table pages (136 KiB of tables), over the budget of 33 table pages; raise it with config.limits.tablePages or --limit tablePages=N`,
  );
});

test("a map with a page size CAP does not allow is refused", () => {
  setup({ plat: { cap: cap({ SSLPS: 1n }) } }).fails(
    "map 1 0x40000000 0x40000000 0x40000000 page=1G",
    `${FILE}:1:1: map: domain 1: 1G second-stage pages need CAP.SSLPS bit 1; this unit's SSLPS=0x1 allows 4K and 2M pages`,
  );
  setup({ plat: { cap: cap({ FS1GP: 0n }) } }).fails(
    "map 2 0x40000000 0x40000000 0x40000000 page=1G",
    `${FILE}:1:1: map: domain 2: 1G first-stage pages need CAP.FS1GP=1; this unit's FS1GP=0 allows 4K and 2M pages`,
  );
});

test("attach to a domain whose levels CAP does not support is refused at the attach", () => {
  const s = setup();
  s.b.createDomain({ id: 3, type: "ss", levels: 3 });
  s.fails("attach 00:03.0 domain=3", `${FILE}:1:1: attach: domain 3: 3-level second-stage tables (39-bit AGAW) need CAP.SAGAW bit 1; this unit's SAGAW=0xc supports 4, 5 levels`);
  const n = setup({ plat: { cap: cap({ FS5LP: 0n }) } });
  n.b.createDomain({ id: 4, type: "nested", parent: 1, levels: 5 });
  n.fails("attach 00:03.0 pasid=2 domain=4", `${FILE}:1:1: attach: domain 4: 5-level first-stage paging needs CAP.FS5LP=1; this unit's FS5LP=0 supports 4 levels`);
  const parent = setup();
  parent.b.createDomain({ id: 5, type: "ss", levels: 3 });
  parent.b.createDomain({ id: 6, type: "nested", parent: 5 });
  parent.fails(
    "attach 00:03.0 pasid=2 domain=6",
    `${FILE}:1:1: attach: domain 6's parent, domain 5: 3-level second-stage tables (39-bit AGAW) need CAP.SAGAW bit 1; this unit's SAGAW=0xc supports 4, 5 levels`,
  );
});

test("attach budgets: devices, PASIDs per device, cache entries of a new device-TLB", () => {
  const d = setup({ limits: { devices: 2 } });
  d.run("attach 00:03.0 domain=1");
  d.fails("\nattach 00:04.0 domain=1", `${FILE}:2:1: attach: attaching 00:04.0 makes 3 devices, over the budget of 2 devices; raise it with config.limits.devices or --limit devices=N`);
  // 00:02.0 has its RID_PASID entry (0) and PASID 1
  const p = setup({ limits: { pasids: 3 } });
  p.run("attach 00:02.0 pasid=2 domain=2");
  p.fails(
    "attach 00:02.0 pasid=3 domain=2",
    `${FILE}:1:1: attach: attaching 00:02.0 PASID 3 gives it 4 PASIDs, over the budget of 3 PASIDs per device; raise it with config.limits.pasids or --limit pasids=N`,
  );
  // catalogue caches: 440 entries and 64 per device-TLB; 00:02.0 has no ATS
  const c = setup({ limits: { cacheEntries: 504 } });
  c.run("attach 00:03.0 domain=1 ats");
  c.fails(
    "attach 00:04.0 domain=1 ats",
    `${FILE}:1:1: attach: with 00:04.0 attached with ATS, the caches hold 568 entries (iotlb 128, contextCache 64, pasidCache 128, pwcFsPde 32, pwcFsPdpe 16, pwcFsPml4e 8, pwcFsPml5e 4, pwcSsPde 32, pwcSsPdpe 16, pwcSsPml4e 8, pwcSsPml5e 4, deviceTlb 64 x 2 devices), over the budget of 504 cache entries; raise it with config.limits.cacheEntries or --limit cacheEntries=N`,
  );
  c.run("attach 00:04.0 domain=1"); // without ATS: no device-TLB
});

test("builder errors name devices by BDF", () => {
  const s = setup();
  s.b.attach({ sid: 0x18, domain: 1, pasidBits: 6 });
  const message = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  };
  assert.is(message(() => s.b.attach({ sid: 0x18, pasid: 9000, domain: 1 })), "PASID 9000 is beyond 00:03.0's PASID directory (8192 PASIDs; pasidBits sets its size)");
  assert.is(message(() => s.b.attach({ sid: 0x18, domain: 8 })), "attach of 00:03.0: no domain 8");
  assert.is(message(() => s.b.detach(0x20)), "00:04.0 is not attached");
});

test.run();
