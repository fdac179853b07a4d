/**
 * One lazy flush queue per domain (src/driver/flush-queue.ts; Linux dma-iommu.c: each DMA domain's
 * cookie has its own iova_fq and fq_timer, and fq_flush_iotlb() flushes that domain only), on both
 * architectures, with two lazy domains: a domain reaching lazyBatch, or its own timer, flushes that
 * domain only; the other's stale translations stay usable until its own batch, timer or `flush D`.
 * Every TLP time is in cycles (`@N`), so a stale TLP's window is its `@` minus its unmap's `@`.
 *
 * Also the policy of run-time domains: `domain-alloc ... invalidation=` and the scenario's
 * `domainAlloc[i].invalidation`.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../../src/errors.ts";
import type { Result } from "../../src/core/core.ts";
import type { ArchDriver } from "../../src/driver/driver.ts";
import type { SmmuDriver } from "../../src/arch/smmuv3/driver.ts";
import { summarize, formatSummary } from "../../src/report/summary.ts";
import { file, loadError, run as replayOn, tmpPath } from "./window-harness.ts";

/** Replays `trace` on `scenario` through the driver side (IommuLayer) over its unit's driver. */
const run = (scenario: object, trace: string) => replayOn(scenario, trace, { layer: true });

const ARCHS = [
  // VT-d scalable mode (the builder's default), second-stage domains.
  { arch: "vtd", type: "ss" },
  { arch: "smmuv3", type: "s1" },
] as const;

/**
 * Domain 1 (00:02.0) maps 0x100000, domain 2 (00:04.0) maps 0x200000, 64 KiB each; every domain
 * lazy (the platform's policy), `lazyBatch` and `lazyTimeoutCycles` as given.
 */
function twoLazy(arch: string, type: string, lazyBatch: number, lazyTimeoutCycles: number) {
  const rw = (iova: string, pa: string) => ({ iova, pa, size: "0x10000", perm: "rw" });
  return {
    arch,
    build: {
      domains: [
        { id: 1, type, mappings: [rw("0x100000", "0x80000000")] },
        { id: 2, type, mappings: [rw("0x200000", "0x90000000")] },
      ],
      devices: [
        { bdf: "00:02.0", domain: 1 },
        { bdf: "00:04.0", domain: 2 },
      ],
    },
    config: { driver: { invalidation: "lazy", lazyBatch, lazyTimeoutCycles } },
  };
}

/**
 * The fault a TLP after its domain's flush gets: a cleared (R=W=0) second-stage leaf, VT-d scalable
 * mode SSS.2 (0x79; /work/shared/spec/vtd.md fault table); SMMUv3 F_TRANSLATION (0x10).
 */
function assertUnmappedFault(arch: string, r: Result, what: string): void {
  assert.is(r.status, "fault", what);
  if (arch === "smmuv3") assert.equal([r.fault?.code, r.fault?.name], [0x10, "F_TRANSLATION"], what);
  else assert.equal([r.fault?.code, r.fault?.name], [0x79, "SSS.2"], what);
}

/** The SMMUv3 driver's invalidation commands of the lazy flushes: name and ASID (CMD_TLBI_NH_ASID dword 0 bits 63:48). */
function smmuFlushCommands(arch: ArchDriver): [string, number][] {
  return (arch as SmmuDriver).issued.filter((c) => c.name === "CMD_TLBI_NH_ASID").map((c) => [c.name, Number(c.q0 >> 48n)]);
}

for (const { arch, type } of ARCHS) {
  test(`${arch}: domain 1 reaching lazyBatch flushes domain 1 only; domain 2 stays stale until its own timer`, () => {
    // lazyBatch 2, timeout 10000 cycles. Domain 2's unmap at @200 (its queue: 1 of 2, deadline
    // 10200); domain 1's at @300 (1 of 2) and @400 (2 of 2: batch flush of domain 1 only). One shared
    // queue would have held 2 at @300 and flushed both domains there.
    const r = run(
      twoLazy(arch, type, 2, 10_000),
      [
        "@100 MRd 00:02.0 addr=0x100000",
        "@105 MRd 00:02.0 addr=0x101000",
        "@110 MRd 00:04.0 addr=0x200000",
        "@200 unmap 2 0x200000 0x1000",
        "@300 unmap 1 0x100000 0x1000",
        "@350 MRd 00:02.0 addr=0x100000", // stale: window 350 - 300 = 50
        "@400 unmap 1 0x101000 0x1000", // domain 1's queue full: flushed
        "@450 MRd 00:02.0 addr=0x100000", // faults
        "@460 MRd 00:02.0 addr=0x101000", // faults
        "@500 MRd 00:04.0 addr=0x200000", // stale: window 500 - 200 = 300
        "@2000 MRd 00:04.0 addr=0x200008", // stale: window 1800
        "@10200 MRd 00:04.0 addr=0x200000", // domain 2's timer fired at 10200: faults
      ].join("\n"),
    );
    assert.equal(r.results.map((x) => x.stale), [false, false, false, true, false, false, true, true, false]);
    assert.equal(r.results.map((x) => x.status === "ok"), [true, true, true, true, false, false, true, true, false]);
    for (const i of [4, 5, 8]) assertUnmappedFault(arch, r.results[i]!, `TLP ${i}`);
    assert.equal(r.results[6]!.pa, 0x90000000n); // domain 2's stale entry still translates
    assert.equal(r.stats.driver.flushReasons, { batch: 1, timeout: 1, explicit: 0, end: 0 });
    assert.is(r.stats.driver.flushes, 2);
    assert.is(r.stats.driver.deferredUnmaps, 3);
    assert.equal(r.stats.invalidationWindow, {
      unmaps: 3,
      staleTlps: 3,
      unattributed: 0,
      devices: [
        { device: "00:02.0", staleTlps: 1, longestWindowCycles: 50 },
        { device: "00:04.0", staleTlps: 2, longestWindowCycles: 1800 },
      ],
    });
    assert.is(Number(r.counters.staleIotlbUses), 3);
    // Each flush invalidates its one domain: VT-d a domain-selective IOTLB invalidation and a wait
    // (2 descriptors, 4 for the two flushes); SMMUv3 TLBI_NH_ASID of domain 1's ASID (1), then of domain 2's (2).
    if (arch === "vtd") assert.is(r.stats.driver.queuedDescriptors, 4);
    else assert.equal(smmuFlushCommands(r.arch), [["CMD_TLBI_NH_ASID", 1], ["CMD_TLBI_NH_ASID", 2]]);
  });

  test(`${arch}: each domain's own timer, and flush D flushes domain D only`, () => {
    // lazyBatch 256, timeout 1000. Domain 1 deferred at @200 (deadline 1200), domain 2 at @700
    // (deadline 1700). One shared queue would have flushed domain 2 with domain 1 at 1200.
    const r = run(
      twoLazy(arch, type, 256, 1000),
      [
        "@100 MRd 00:02.0 addr=0x100000",
        "@110 MRd 00:04.0 addr=0x200000",
        "@200 unmap 1 0x100000 0x1000",
        "@700 unmap 2 0x200000 0x1000",
        "@1100 MRd 00:02.0 addr=0x100000", // stale: window 900
        "@1150 MRd 00:04.0 addr=0x200000", // stale: window 450
        "@1200 MRd 00:02.0 addr=0x100000", // domain 1's timer fired at 1200: faults
        "@1250 MRd 00:04.0 addr=0x200000", // domain 2 still deferred: stale, window 550
        "@1260 flush 1", // nothing deferred in domain 1 any more: no flush
        "@1300 flush 2", // domain 2's queue flushed
        "@1350 MRd 00:04.0 addr=0x200000", // faults
      ].join("\n"),
    );
    assert.equal(r.results.map((x) => x.stale), [false, false, true, true, false, true, false]);
    assertUnmappedFault(arch, r.results[4]!, "TLP 4");
    assertUnmappedFault(arch, r.results[6]!, "TLP 6");
    assert.equal(r.stats.driver.flushReasons, { batch: 0, timeout: 1, explicit: 1, end: 0 });
    assert.equal(r.stats.invalidationWindow.devices, [
      { device: "00:02.0", staleTlps: 1, longestWindowCycles: 900 },
      { device: "00:04.0", staleTlps: 2, longestWindowCycles: 550 },
    ]);
    if (arch === "smmuv3") assert.equal(smmuFlushCommands(r.arch), [["CMD_TLBI_NH_ASID", 1], ["CMD_TLBI_NH_ASID", 2]]);
  });

  test(`${arch}: flush without a domain and the end of the trace flush every domain's queue, oldest first`, () => {
    const r = run(
      twoLazy(arch, type, 256, 1_000_000),
      [
        "@100 MRd 00:02.0 addr=0x100000",
        "@110 MRd 00:04.0 addr=0x200000",
        "@200 unmap 2 0x200000 0x1000",
        "@210 unmap 1 0x100000 0x1000",
        "@300 flush", // both: domain 2's (deferred first), then domain 1's
        "@400 MRd 00:02.0 addr=0x100000",
        "@410 MRd 00:04.0 addr=0x200000",
        "@500 unmap 1 0x101000 0x1000", // left for the end of the trace
      ].join("\n"),
    );
    assert.equal(r.results.map((x) => x.status), ["ok", "ok", "fault", "fault"]);
    assert.equal(r.stats.driver.flushReasons, { batch: 0, timeout: 0, explicit: 2, end: 1 });
    if (arch === "smmuv3") assert.equal(smmuFlushCommands(r.arch), [["CMD_TLBI_NH_ASID", 2], ["CMD_TLBI_NH_ASID", 1], ["CMD_TLBI_NH_ASID", 1]]);
  });

  test(`${arch}: flush D of an unknown or a blocking domain is refused; of a domain deferring nothing, no flush`, () => {
    assert.throws(() => run(twoLazy(arch, type, 256, 1000), "@1 flush 9"), (e: Error) => e instanceof InputError && /t\.trace:1:4: flush: no domain 9; the scenario defines 1, 2$/.test(e.message));
    assert.throws(
      () => run(twoLazy(arch, type, 256, 1000), "@1 domain-alloc 8 blocking\n@2 flush 8"),
      (e: Error) => e instanceof InputError && /t\.trace:2:4: flush: flush 8: domain 8 is a blocking domain: it has no flush queue$/.test(e.message),
    );
    const r = run(twoLazy(arch, type, 256, 1000), "@1 MRd 00:02.0 addr=0x100000\n@2 flush 1\n@3 flush");
    assert.equal([r.stats.driver.flushes, r.stats.driverEvents], [0, 2]);
  });

  test(`${arch}: a run-time domain's policy (domain-alloc invalidation=lazy) over a strict platform`, () => {
    const s = twoLazy(arch, type, 256, 1000);
    s.config.driver.invalidation = "strict";
    const r = run(
      s,
      [
        `@10 domain-alloc 5 paging format=${type} invalidation=lazy`,
        "@20 replace 00:04.0 domain=5",
        "@30 map 5 0x300000 0xa0000000 0x1000",
        "@100 MRd 00:04.0 addr=0x300000",
        "@110 MRd 00:02.0 addr=0x100000",
        "@200 unmap 5 0x300000 0x1000", // lazy: deferred (deadline 1200)
        "@210 unmap 1 0x100000 0x1000", // strict (the platform's): invalidated at once
        "@300 MRd 00:04.0 addr=0x300000", // stale: window 100
        "@310 MRd 00:02.0 addr=0x100000", // faults
        "@1200 MRd 00:04.0 addr=0x300000", // domain 5's timer fired: faults
      ].join("\n"),
    );
    assert.equal(r.results.map((x) => [x.status, x.stale]), [
      ["ok", false],
      ["ok", false],
      ["ok", true],
      ["fault", false],
      ["fault", false],
    ]);
    assert.equal(r.stats.invalidationWindow.devices, [{ device: "00:04.0", staleTlps: 1, longestWindowCycles: 100 }]);
    assert.equal(r.stats.driver.flushReasons, { batch: 0, timeout: 1, explicit: 0, end: 0 });
    assert.is(r.stats.driver.deferredUnmaps, 1);
    assert.equal(r.arch.domainModes(), { lazy: [5] });
  });

  test(`${arch}: the scenario's domainAlloc[i].invalidation, and strict over a lazy platform`, () => {
    const s = { ...twoLazy(arch, type, 256, 1000), domainAlloc: [{ id: 5, kind: "paging", format: type, invalidation: "strict" }] };
    const r = run(
      s,
      [
        "@20 replace 00:04.0 domain=5",
        "@30 map 5 0x300000 0xa0000000 0x1000",
        "@100 MRd 00:04.0 addr=0x300000",
        "@110 MRd 00:02.0 addr=0x100000",
        "@200 unmap 5 0x300000 0x1000", // strict: at once
        "@210 unmap 1 0x100000 0x1000", // lazy (the platform's): deferred
        "@300 MRd 00:04.0 addr=0x300000", // faults
        "@320 MRd 00:02.0 addr=0x100000", // stale: window 110
      ].join("\n"),
    );
    assert.equal(r.results.map((x) => [x.status, x.stale]), [
      ["ok", false],
      ["ok", false],
      ["fault", false],
      ["ok", true],
    ]);
    assert.equal(r.stats.invalidationWindow.devices, [{ device: "00:02.0", staleTlps: 1, longestWindowCycles: 110 }]);
    assert.equal(r.arch.domainModes(), { strict: [5] });
  });
}

for (const { arch, type } of ARCHS) {
  test(`${arch}: the summary heading and the report's domainModes name the domains whose policy is not the platform's`, () => {
    // Platform strict; domain 2 lazy (build.domains), run-time domain 5 lazy (domainAlloc): "strict mode; lazy: domains 2, 5".
    const s = twoLazy(arch, type, 256, 1000);
    s.config.driver.invalidation = "strict";
    (s.build.domains[1] as { invalidation?: string }).invalidation = "lazy";
    const r = run({ ...s, domainAlloc: [{ id: 5, kind: "paging", format: type, invalidation: "lazy" }] }, "@100 MRd 00:04.0 addr=0x200000\n@200 unmap 2 0x200000 0x1000");
    const summary = (mode: "strict" | "lazy") => summarize(r.loaded.platform, { scenario: "s", hostSeconds: 0, driver: { mode, stats: r.stats.driver, domainModes: r.arch.domainModes() } }) as never as Record<string, { driver: object }>;
    const driverOf = (x: Record<string, { driver: object }>) => (arch === "vtd" ? x.invalidation!.driver : x.driver) as Record<string, unknown>;
    const heading = arch === "vtd" ? "Invalidation" : "Commands";
    const out = summary("strict");
    assert.equal(driverOf(out).domainModes, { lazy: [2, 5] });
    assert.equal(Object.keys(driverOf(out)).slice(0, 2), ["mode", "domainModes"]);
    const text = formatSummary(out as never);
    assert.ok(text.includes(`\n${heading} (strict mode; lazy: domains 2, 5)\n`), text);
    // The lazy domain's flush (at the end of the trace) is printed under it.
    assert.match(text, /flushes\s+1\s+\(end 1\)\n\s+deferred unmaps\s+1\n/);
    // No domain differs from the platform: no domainModes, the heading as before.
    const plain = run(twoLazy(arch, type, 256, 1000), "@1 MRd 00:02.0 addr=0x100000");
    const p = summarize(plain.loaded.platform, { scenario: "s", hostSeconds: 0, driver: { mode: "lazy", stats: plain.stats.driver, domainModes: plain.arch.domainModes() } }) as never as Record<string, { driver: object }>;
    assert.not.ok("domainModes" in driverOf(p));
    assert.ok(formatSummary(p as never).includes(`\n${heading} (lazy mode)\n`));
  });
}

test("run --report: the CLI passes the driver side's domainModes to the report and the printed heading (SMMUv3, a lazy platform)", () => {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const s = twoLazy("smmuv3", "s1", 256, 1000);
  const f = file({ ...s, trace: ["@10 domain-alloc 7 paging invalidation=strict", "@10 domain-alloc 6 paging invalidation=strict", "@20 MRd 00:02.0 addr=0x100000"] });
  const rep = tmpPath(".json");
  const r = spawnSync(process.execPath, [join(root, "bin/iommu-emu.mjs"), "run", f, "--report", rep, "--functional"], { cwd: root, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const report = JSON.parse(readFileSync(rep, "utf8"));
  assert.equal([report.version, report.driver.mode, report.driver.domainModes], [3, "lazy", { strict: [6, 7] }]);
  assert.match(r.stdout, /\nCommands \(lazy mode; strict: domains 6, 7\)\n/);
});

test("domainAlloc[i].invalidation: bad values are errors at the key", () => {
  const base = twoLazy("vtd", "ss", 256, 1000);
  assert.match(loadError({ ...base, domainAlloc: [{ id: 5, kind: "paging", invalidation: "eager" }] }), /:\d+:\d+: domainAlloc\[0\]\.invalidation: expected "strict" or "lazy"$/);
  assert.match(
    loadError({ ...base, domainAlloc: [{ id: 5, kind: "paging" }, { id: 6, kind: "blocking", invalidation: "lazy" }] }),
    /:\d+:\d+: domainAlloc\[1\]\.invalidation: invalidation is for paging and nested domains, not blocking ones \(they have no mappings to unmap\)$/,
  );
  assert.match(
    loadError({ ...base, domainAlloc: [{ id: 6, kind: "identity", invalidation: "strict" }] }),
    /:\d+:\d+: domainAlloc\[0\]\.invalidation: invalidation is for paging and nested domains, not identity ones \(they have no mappings to unmap\)$/,
  );
});

test.run();
