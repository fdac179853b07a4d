/**
 * The driver-event fuzzer's CI subset (fixed seed, strict and lazy invalidation) against its
 * shadow model, and what one hand-made case probes.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkDriver, driverTarget, newDriverStats, type DriverCase } from "../../scripts/fuzz/driver.ts";
import { ciRun } from "./helpers.ts";

test("CI subset: 12 event sequences, strict invalidation, every probe as the shadow model says", () => {
  const stats = newDriverStats();
  ciRun(driverTarget("strict", stats), 12);
  assert.ok(stats.translated > 0 && stats.refused > 0, `both outcomes reached: ${JSON.stringify(stats)}`);
  assert.is(stats.stale, 0, "strict: no stale translation");
});

test("CI subset: 12 event sequences, lazy invalidation (stale translations only in the deferred window, flagged)", () => {
  const stats = newDriverStats();
  ciRun(driverTarget("lazy", stats), 12);
  assert.ok(stats.translated > 0 && stats.refused > 0, `both outcomes reached: ${JSON.stringify(stats)}`);
});

test("one case: attach, map one page, a refused map in a pass-through domain; the probes it makes", () => {
  const c: DriverCase = {
    lazyBatch: 4,
    probes: [0, 0],
    events: [
      { op: "attach", sid: 0, pasid: 0, domain: 1, ats: false },
      { op: "map", domain: 1, iova: { page: 0 }, pa: { page: 0 }, pages: { page: 0 }, perm: "rw", big: false },
      { op: "map", domain: 9, iova: { page: 0 }, pa: { page: 0 }, pages: { page: 0 }, perm: "rw", big: false },
    ],
  };
  const stats = newDriverStats();
  assert.is(checkDriver(c, "strict", stats), 3);
  // three devices without PASID (one attached), MRd and MWr each: after the attach 1 page (the
  // probe page); after each map 4 pages (the event's); at the end 1 page: 6 + 24 + 24 + 6
  // probes; the attached device translates the mapped page for both ops after each map and at the end
  assert.equal(stats, { events: 3, refused: 1, probes: 60, translated: 6, stale: 0 });
});

test.run();
