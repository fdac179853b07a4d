/**
 * Per-domain invalidation policy (scenario build.domains[i].invalidation) and the deferred-
 * invalidation window (src/replay/inval-window.ts) on both architectures, with hand-computed
 * figures: every TLP time is given in cycles (`@N`), so a stale TLP's window is its `@` minus the
 * unmap's `@`.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { summarize, formatSummary } from "../../src/report/summary.ts";
import { InvalidationWindow } from "../../src/replay/inval-window.ts";
import { file, loadError, run, tmpPath } from "./window-harness.ts";

const rw = (iova: string, pa: string, size = "0x10000") => ({ iova, pa, size, perm: "rw" });

/** VT-d: domain 1 (00:02.0, 00:03.0) and domain 2 (00:04.0), 64 KiB each; `inv1`/`inv2` their policies. */
function vtd(platform: "strict" | "lazy", inv1?: "strict" | "lazy", inv2?: "strict" | "lazy") {
  return {
    arch: "vtd",
    build: {
      domains: [
        { id: 1, type: "ss", ...(inv1 ? { invalidation: inv1 } : {}), mappings: [rw("0x100000", "0x80000000")] },
        { id: 2, type: "ss", ...(inv2 ? { invalidation: inv2 } : {}), mappings: [rw("0x200000", "0x90000000")] },
      ],
      devices: [
        { bdf: "00:02.0", domain: 1 },
        { bdf: "00:03.0", domain: 1 },
        { bdf: "00:04.0", domain: 2 },
      ],
    },
    config: { driver: { invalidation: platform } },
  };
}

/** SMMUv3: stage-1 domains 1 (00:02.0, 00:03.0) and 2 (00:04.0), 64 KiB each. */
function smmu(platform: "strict" | "lazy", inv1?: "strict" | "lazy", inv2?: "strict" | "lazy") {
  const s = vtd(platform, inv1, inv2);
  for (const d of s.build.domains) d.type = "s1";
  return { ...s, arch: "smmuv3" };
}

// Both devices of domain 1 read 0x100000 (filling the IOTLB entry of domain 1, tagged by DID/ASID,
// not by device); domain 1's page 0x100000 is unmapped at @200; 00:02.0 reads it at @250 and @700
// (windows 50 and 500), 00:03.0 at @400 (window 200); the flush at @800 ends the window: the read
// at @900 faults. Domain 2: 00:04.0 reads 0x200000, it is unmapped at @300, read again at @450.
const TRACE = [
  "@100 MRd 00:02.0 addr=0x100000",
  "@110 MRd 00:03.0 addr=0x100000",
  "@120 MRd 00:04.0 addr=0x200000",
  "@200 unmap 1 0x100000 0x1000",
  "@250 MRd 00:02.0 addr=0x100000",
  "@300 unmap 2 0x200000 0x1000",
  "@400 MRd 00:03.0 addr=0x100000",
  "@450 MRd 00:04.0 addr=0x200000",
  "@700 MRd 00:02.0 addr=0x100008",
  "@800 flush",
  "@900 MRd 00:02.0 addr=0x100000",
].join("\n");

for (const [arch, scenario] of [
  ["vtd", vtd],
  ["smmuv3", smmu],
] as const) {
  test(`${arch}: domain 1 lazy, domain 2 strict (per domain over a lazy platform): the window counts domain 1's stale TLPs`, () => {
    const r = run(scenario("lazy", undefined, "strict"), TRACE);
    const st = r.results.map((x) => x.stale);
    // TLPs 3, 4 and 6 (0-based) hit domain 1's unmapped page before the flush; domain 2 is strict: TLP 5 faults.
    assert.equal(st, [false, false, false, true, true, false, true, false]);
    // After the unmap returned, a TLP the IOMMU does not serve from a stale entry faults.
    assert.equal(r.results.map((x) => x.status === "ok"), [true, true, true, true, true, false, true, false]);
    assert.is(r.stats.driver.deferredUnmaps, 1); // domain 1's only
    assert.equal(r.stats.invalidationWindow, {
      unmaps: 2,
      staleTlps: 3,
      unattributed: 0,
      devices: [
        { device: "00:02.0", staleTlps: 2, longestWindowCycles: 500 }, // @700 - @200
        { device: "00:03.0", staleTlps: 1, longestWindowCycles: 200 }, // @400 - @200
      ],
    });
    assert.is(Number(r.counters.staleIotlbUses + r.counters.staleAtcUses), 3);
  });

  test(`${arch}: the platform strict, domain 2 lazy: only 00:04.0 has a window (@450 - @300 = 150)`, () => {
    const r = run(scenario("strict", undefined, "lazy"), TRACE);
    assert.equal(r.results.map((x) => x.stale), [false, false, false, false, false, true, false, false]);
    assert.is(r.stats.driver.deferredUnmaps, 1);
    assert.equal(r.stats.invalidationWindow.devices, [{ device: "00:04.0", staleTlps: 1, longestWindowCycles: 150 }]);
    assert.is(r.stats.invalidationWindow.staleTlps, 1);
  });

  test(`${arch}: every domain strict: no TLP after an unmap reaches the page, the window is empty`, () => {
    const r = run(scenario("lazy", "strict", "strict"), TRACE);
    for (const i of [3, 4, 5, 6, 7]) assert.not.equal(r.results[i]!.status, "ok", `TLP ${i}`);
    assert.equal(r.stats.invalidationWindow, { unmaps: 2, staleTlps: 0, unattributed: 0, devices: [] });
    assert.is(r.stats.driver.deferredUnmaps, 0);
  });

  test(`${arch}: the summary has invalidationWindow (before host) once the trace unmaps, and prints it`, () => {
    const r = run(scenario("lazy"), TRACE);
    // Both domains lazy: domain 2's read at @450 is stale too (window 150).
    assert.equal(r.stats.invalidationWindow.devices.map((d) => [d.device, d.staleTlps, d.longestWindowCycles]), [
      ["00:02.0", 2, 500],
      ["00:03.0", 1, 200],
      ["00:04.0", 1, 150],
    ]);
    const s = summarize(r.loaded.platform, { scenario: "s", hostSeconds: 0, invalidationWindow: r.stats.invalidationWindow });
    const keys = Object.keys(s);
    assert.equal(keys.slice(-2), ["invalidationWindow", "host"]);
    const text = formatSummary(s);
    assert.match(text, /Deferred-invalidation window\n\s+TLPs after their unmap\s+4\s+longest window 500 cycles/);
    assert.match(text, /00:04\.0\s+1\s+longest window 150 cycles/);
    const none = run(scenario("lazy"), "@1 MRd 00:02.0 addr=0x100000");
    assert.not.ok("invalidationWindow" in summarize(none.loaded.platform, { scenario: "s", hostSeconds: 0, invalidationWindow: none.stats.invalidationWindow }));
  });

  test(`${arch}: a bad per-domain policy is an error at its key`, () => {
    assert.match(domainError(scenario("strict"), (d) => (d[1]!.invalidation = "deferred")), /:\d+:\d+: build\.domains\[1\]\.invalidation: expected "strict" or "lazy"$/);
  });
}

// One device, two address spaces over the same IOVA: requests without PASID in domain 1, PASID 1
// (VT-d scalable mode; SMMUv3 SubstreamID 1) in domain 2. Domain 1's page is unmapped at @200,
// domain 2's at @300; the reads at @400 (no PASID) and @450 (PASID 1) are windows 200 and 150. Were
// the PASID ignored, both would count from domain 1's unmap (longest 250).
for (const [arch, fsType] of [
  ["vtd", "fs"],
  ["smmuv3", "s1"],
] as const) {
  test(`${arch}: a stale TLP with a PASID counts from its PASID's domain's unmap`, () => {
    const pasidKey = arch === "vtd" ? { pasid: 1 } : { ssid: 1 };
    const r = run(
      {
        arch,
        build: {
          domains: [
            { id: 1, type: arch === "vtd" ? "ss" : "s1", mappings: [rw("0x100000", "0x80000000")] },
            { id: 2, type: fsType, mappings: [rw("0x100000", "0x90000000")] },
          ],
          devices: [
            { bdf: "00:04.0", domain: 1 },
            { bdf: "00:04.0", domain: 2, ...pasidKey },
          ],
        },
        config: { driver: { invalidation: "lazy" } },
      },
      [
        "@100 MRd 00:04.0 addr=0x100000",
        "@110 MRd 00:04.0 addr=0x100000 pasid=1",
        "@200 unmap 1 0x100000 0x1000",
        "@300 unmap 2 0x100000 0x1000",
        "@400 MRd 00:04.0 addr=0x100000",
        "@450 MRd 00:04.0 addr=0x100000 pasid=1",
      ].join("\n"),
    );
    assert.equal(r.results.map((x) => [x.status, x.stale, x.pa]), [
      ["ok", false, 0x80000000n],
      ["ok", false, 0x90000000n],
      ["ok", true, 0x80000000n],
      ["ok", true, 0x90000000n],
    ]);
    assert.equal(r.stats.invalidationWindow.devices, [{ device: "00:04.0", staleTlps: 2, longestWindowCycles: 200 }]);
    assert.is(r.stats.invalidationWindow.unattributed, 0);
  });
}

/** The InputError of loading `s` after `change` to its domains. */
function domainError(s: object, change: (domains: Record<string, unknown>[]) => unknown): string {
  change((s as { build: { domains: Record<string, unknown>[] } }).build.domains);
  return loadError(s);
}

test("a policy on a domain without page tables is refused at its key (VT-d pass-through, SMMUv3 identity)", () => {
  assert.match(
    domainError(vtd("strict"), (d) => d.push({ id: 3, type: "pt", invalidation: "lazy" })),
    /:\d+:\d+: build\.domains\[2\]\.invalidation: domain 3 is pass-through: it has no mappings to unmap, so no invalidation policy$/,
  );
  assert.match(
    domainError(smmu("strict"), (d) => d.push({ id: 3, type: "identity", invalidation: "strict" })),
    /:\d+:\d+: build\.domains\[2\]\.invalidation: domain 3 is identity: it has no mappings to unmap, so no invalidation policy$/,
  );
});

test("InvalidationWindow: the latest covering unmap of the device's domain explains a stale TLP; others are unattributed", () => {
  const w = new InvalidationWindow();
  w.unmapped(1, 0x1000n, 0x2000n, 100n); // 0x1000-0x2fff
  w.unmapped(1, 0x2000n, 0x1000n, 300n); // 0x2000-0x2fff again, later
  w.unmapped(2, 0x1000n, 0x1000n, 50n);
  assert.is(w.staleUse(0x10, 1, 0x2abcn, 350n), 50n); // the @300 unmap, not the @100 one
  assert.is(w.staleUse(0x10, 1, 0x1fffn, 350n), 250n); // only the @100 unmap covers 0x1fff
  assert.is(w.staleUse(0x18, 2, 0x1000n, 60n), 10n);
  assert.is(w.staleUse(0x18, 2, 0x2000n, 60n), undefined); // outside domain 2's range
  assert.is(w.staleUse(0x18, undefined, 0x1000n, 60n), undefined); // not attached
  assert.is(w.staleUse(0x10, 1, 0x1000n, 90n), undefined); // before any unmap of it
  assert.equal(w.summary(), {
    unmaps: 3,
    staleTlps: 3,
    unattributed: 3,
    devices: [
      { device: "00:02.0", staleTlps: 2, longestWindowCycles: 250 },
      { device: "00:03.0", staleTlps: 1, longestWindowCycles: 10 },
    ],
  });
});

test("run --report: the JSON's invalidationWindow and the printed lines, with a device-TLB use in the window", () => {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const f = file({
    arch: "vtd",
    build: { domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x100000", pa: "0x80000000", size: "0x4000" }] }], devices: [{ bdf: "00:02.0", domain: 1, ats: true }] },
    config: { driver: { invalidation: "lazy" } },
    trace: [
      "@100 MRd 00:02.0 addr=0x100000",
      "@110 MRd 00:02.0 addr=0x101000 at=translated", // fills the device-TLB (an ATS request first)
      "@200 unmap 1 0x100000 0x2000",
      "@300 MRd 00:02.0 addr=0x100000", // stale IOTLB entry: window 100
      "@310 MRd 00:02.0 addr=0x101000 at=translated", // stale device-TLB entry: window 110
      "@400 flush",
      "@500 MRd 00:02.0 addr=0x100000", // faults
    ],
  });
  const rep = tmpPath(".json");
  const r = spawnSync(process.execPath, [join(root, "bin/iommu-emu.mjs"), "run", f, "--report", rep, "--functional"], { cwd: root, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const report = JSON.parse(readFileSync(rep, "utf8"));
  assert.equal(report.invalidationWindow, { unmaps: 1, staleTlps: 2, unattributed: 0, devices: [{ device: "00:02.0", staleTlps: 2, longestWindowCycles: 110 }] });
  // The core's counters agree: one stale IOTLB use, one stale device-TLB use.
  assert.equal([report.stale.staleIotlbUses, report.stale.staleAtcUses], [1, 1]);
  assert.match(r.stdout, /Deferred-invalidation window\n\s+TLPs after their unmap\s+2\s+longest window 110 cycles/);
  assert.match(r.stdout, /\n\s+00:02\.0\s+2\s+longest window 110 cycles/);
});

test.run();
