/**
 * Property tests (fast-check) of per-domain invalidation and the deferred-invalidation window, on
 * both architectures, over random traces of map, unmap, flush and DMA (MRd/MWr) events with
 * strictly increasing `@` times in cycles. Two paging domains share the IOVAs 0x100000-0x102fff
 * (3 pages each; domain 1 serves 00:02.0 and 00:03.0, domain 2 serves 00:04.0), each with a random
 * policy (strict, lazy, or the platform's), under a random platform policy, lazyBatch 1-8 and
 * lazyTimeoutCycles 50-20000 (times advance 1-200 cycles per event). The test keeps its own model of which pages are mapped where and
 * when each was last unmapped, and checks every TLP against it:
 *
 * - strict domain: a TLP to a page after its unmap returned faults, and is never stale;
 * - lazy domain: such a TLP faults or is stale (served by the cached translation); after a `flush`
 *   that follows the unmap it faults;
 * - a TLP to a mapped page that is not stale reaches the page's current PA plus its offset;
 * - the window: its stale TLPs equal the TLPs the core flagged stale and the core's stale counters
 *   (no ATS here, so one count per TLP); none is unattributed; per device, the count and the
 *   longest window equal the model's (each stale TLP's time minus its page's latest unmap).
 *
 * A failing run prints fast-check's seed and path; rerun with FC_SEED=<seed> FC_PATH=<path>.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadScenario } from "../../src/scenario.ts";
import { parseTraceText } from "../../src/trace/text.ts";
import { replay } from "../../src/replay/replay.ts";
import type { Result } from "../../src/core/core.ts";

const seedOpts: fc.Parameters<unknown> = {
  includeErrorInReport: true,
  ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
  ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
};

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-iwp-"));
let files = 0;

type Mode = "strict" | "lazy";
const IOVA = 0x100000n;
const PAGES = 3;
const DEVICES = [
  { bdf: "00:02.0", sid: 0x10, domain: 1 },
  { bdf: "00:03.0", sid: 0x18, domain: 1 },
  { bdf: "00:04.0", sid: 0x20, domain: 2 },
] as const;
/** Physical page of domain d's page i in mapping generation g (0: the scenario's). */
const paOf = (d: number, i: number, g: number) => 0x80000000n + BigInt(d) * 0x1000000n + BigInt(g) * 0x10000n + BigInt(i) * 0x1000n;
const hex = (v: bigint) => `0x${v.toString(16)}`;

const op = fc.record({
  // Flushes rare, so that lazy windows stay open across several TLPs.
  kind: fc.oneof({ arbitrary: fc.constant("dma"), weight: 12 }, { arbitrary: fc.constant("unmap"), weight: 3 }, { arbitrary: fc.constant("map"), weight: 2 }, { arbitrary: fc.constant("flush"), weight: 1 }),
  domain: fc.constantFrom(1, 2),
  page: fc.integer({ min: 0, max: PAGES - 1 }),
  device: fc.integer({ min: 0, max: DEVICES.length - 1 }),
  write: fc.boolean(),
  offset: fc.integer({ min: 0, max: 0x3ff }).map((x) => x * 4),
  dt: fc.integer({ min: 1, max: 200 }),
});

const setup = fc.record({
  platform: fc.constantFrom<Mode>("strict", "lazy"),
  own: fc.tuple(fc.constantFrom<Mode | undefined>("strict", "lazy", undefined), fc.constantFrom<Mode | undefined>("strict", "lazy", undefined)),
  lazyBatch: fc.integer({ min: 1, max: 8 }),
  lazyTimeoutCycles: fc.integer({ min: 50, max: 20000 }),
  ops: fc.array(op, { minLength: 1, maxLength: 80, size: "max" }),
});

interface Tlp {
  time: number;
  device: number;
  domain: number;
  page: number;
  offset: number;
  /** The page's PA when mapped, else undefined. */
  pa?: bigint;
  /** Time of the page's latest unmap (undefined: never unmapped). */
  lastUnmap?: number;
  /** The page was unmapped (and is still) and a `flush` came after that unmap. */
  flushedSince: boolean;
}

type Setup = typeof setup extends fc.Arbitrary<infer T> ? T : never;

function check(arch: "vtd" | "smmuv3", s: Setup) {
  const scenario = {
    arch,
    build: {
      domains: [1, 2].map((d) => ({
        id: d,
        type: arch === "vtd" ? "ss" : "s1",
        ...(s.own[d - 1] ? { invalidation: s.own[d - 1] } : {}),
        mappings: Array.from({ length: PAGES }, (_, i) => ({ iova: hex(IOVA + BigInt(i) * 0x1000n), pa: hex(paOf(d, i, 0)), size: "0x1000", perm: "rw" })),
      })),
      devices: DEVICES.map((x) => ({ bdf: x.bdf, domain: x.domain })),
    },
    config: { driver: { invalidation: s.platform, lazyBatch: s.lazyBatch, lazyTimeoutCycles: s.lazyTimeoutCycles } },
  };
  const f = join(dir, `s${files++}.json`);
  writeFileSync(f, JSON.stringify(scenario));
  const loaded = loadScenario(f);
  const modeOf = (d: number): Mode => s.own[d - 1] ?? s.platform;

  // The model: per domain and page, the PA (undefined: unmapped), its generation, its latest unmap.
  const pa = [1, 2].map((d) => Array.from({ length: PAGES }, (_, i): bigint | undefined => paOf(d, i, 0)));
  const gen = [1, 2].map(() => Array(PAGES).fill(0) as number[]);
  const lastUnmap = [1, 2].map(() => Array(PAGES).fill(undefined) as (number | undefined)[]);
  const flushedSince = [1, 2].map(() => Array(PAGES).fill(false) as boolean[]);
  const lines: string[] = [];
  const tlps: Tlp[] = [];
  let t = 0;
  for (const o of s.ops) {
    t += o.dt;
    const di = o.domain - 1;
    const iova = IOVA + BigInt(o.page) * 0x1000n;
    if (o.kind === "unmap" && pa[di]![o.page] !== undefined) {
      lines.push(`@${t} unmap ${o.domain} ${hex(iova)} 0x1000`);
      pa[di]![o.page] = undefined;
      lastUnmap[di]![o.page] = t;
      flushedSince[di]![o.page] = false;
    } else if (o.kind === "map" && pa[di]![o.page] === undefined) {
      const g = ++gen[di]![o.page]!;
      pa[di]![o.page] = paOf(o.domain, o.page, g);
      lines.push(`@${t} map ${o.domain} ${hex(iova)} ${hex(pa[di]![o.page]!)} 0x1000`);
    } else if (o.kind === "flush") {
      lines.push(`@${t} flush`);
      for (const row of flushedSince) row.fill(true);
    } else {
      const dev = DEVICES[o.device]!;
      const dd = dev.domain - 1;
      lines.push(`@${t} ${o.write ? "MWr" : "MRd"} ${dev.bdf} addr=${hex(iova + BigInt(o.offset))}`);
      tlps.push({ time: t, device: o.device, domain: dev.domain, page: o.page, offset: o.offset, pa: pa[dd]![o.page], lastUnmap: lastUnmap[dd]![o.page], flushedSince: flushedSince[dd]![o.page]! });
    }
  }
  const results: Result[] = [];
  const driver = loaded.platform.createDriver({ ...loaded.driver, limits: loaded.limits });
  const stats = replay(loaded.platform, parseTraceText(lines.join("\n"), "p.trace"), (_q, _t, r) => results.push(r), { driver, file: "p.trace" });
  assert.is(results.length, tlps.length);

  const expected = new Map<number, { staleTlps: number; longest: number }>();
  tlps.forEach((x, i) => {
    const r = results[i]!;
    const where = `TLP ${i} (@${x.time}, ${DEVICES[x.device]!.bdf} page ${x.page}, domain ${x.domain} ${modeOf(x.domain)}): ${r.status}${r.stale ? " stale" : ""}`;
    if (x.pa === undefined) {
      // Unmapped (and its unmap has returned).
      if (modeOf(x.domain) === "strict" || x.flushedSince) {
        assert.is(r.status, "fault", where);
        assert.not.ok(r.stale, where);
      } else assert.ok(r.status === "fault" || r.stale, where);
    } else if (!r.stale) {
      assert.is(r.status, "ok", where);
      assert.is(r.pa, x.pa + BigInt(x.offset), where);
    }
    if (r.stale) {
      // Only a translation removed by an unmap can be stale here; its window counts from the latest unmap.
      assert.ok(x.lastUnmap !== undefined, where);
      assert.is(modeOf(x.domain), "lazy", where);
      const w = x.time - x.lastUnmap!;
      const e = expected.get(x.device);
      if (e === undefined) expected.set(x.device, { staleTlps: 1, longest: w });
      else {
        e.staleTlps++;
        e.longest = Math.max(e.longest, w);
      }
    }
  });
  const staleResults = results.filter((r) => r.stale).length;
  const c = loaded.platform.core.counters();
  const win = stats.invalidationWindow;
  assert.is(win.staleTlps, staleResults);
  assert.is(win.staleTlps, Number(c.staleIotlbUses + c.staleAtcUses));
  assert.is(win.unattributed, 0);
  assert.equal(
    win.devices,
    [...expected].sort(([a], [b]) => a - b).map(([d, e]) => ({ device: DEVICES[d]!.bdf, staleTlps: e.staleTlps, longestWindowCycles: e.longest })),
  );
  return staleResults;
}

for (const arch of ["vtd", "smmuv3"] as const) {
  test(`${arch}: strict domains never let a TLP reach a page after its unmap; lazy ones' window equals the core's stale TLPs`, () => {
    let stale = 0, runs = 0;
    fc.assert(
      fc.property(setup, (s) => {
        stale += check(arch, s);
        runs++;
      }),
      { numRuns: 100, ...seedOpts },
    );
    // The generator does produce stale TLPs (the lazy half of the property is exercised): 144 (VT-d)
    // and 111 (SMMUv3) in 100 runs when this was written.
    assert.ok(stale > 0, `no stale TLP in ${runs} runs`);
  });
}

test.run();
