/** Parameter paths, the enumeration order of points, shard slices and the per-point figures. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyParam, parseParamPath, pathsOverlap } from "../../src/sweep/params.ts";
import { loadSweep, pointAt, pointParameters, pointId, shardIndices } from "../../src/sweep/definition.ts";
import { pointMetrics, metricNames } from "../../src/sweep/metrics.ts";
import type { RunSummary } from "../../src/report/summary.ts";
import { makeFixture } from "./fixture.ts";

test("paths parse into keys, indices and [*]", () => {
  assert.equal(parseParamPath("config.iotlb.entries").steps, [{ key: "config" }, { key: "iotlb" }, { key: "entries" }]);
  assert.equal(parseParamPath("build.domains[0].mappings[*].pageSize").steps, [{ key: "build" }, { key: "domains" }, { index: 0 }, { key: "mappings" }, { every: true }, { key: "pageSize" }]);
  assert.equal(parseParamPath("a[1][2]").steps, [{ key: "a" }, { index: 1 }, { index: 2 }]);
  for (const bad of ["", ".a", "a.", "a..b", "a[", "a[01]", "a[-1]", "a b", "a.[0]", "[0]"]) assert.throws(() => parseParamPath(bad), undefined, bad);
});

test("applying sets values, creates missing objects, follows every element under [*]", () => {
  const s: Record<string, unknown> = { build: { domains: [{ id: 1, mappings: [{ iova: 0 }, { iova: 1 }] }, { id: 2 }, { id: 3, mappings: [{ iova: 2 }] }] } };
  assert.is(applyParam(s, parseParamPath("config.iotlb.entries"), 64), 1);
  assert.equal(s.config, { iotlb: { entries: 64 } });
  assert.is(applyParam(s, parseParamPath("build.domains[*].mappings[*].pageSize"), "2M"), 3, "the domain without mappings is skipped");
  const d = (s.build as { domains: { mappings?: { pageSize?: string }[] }[] }).domains;
  assert.equal(d.map((x) => x.mappings?.map((m) => m.pageSize)), [["2M", "2M"], undefined, ["2M"]]);
  const obj = { a: 1 };
  applyParam(s, parseParamPath("build.domains[1].extra"), obj);
  obj.a = 2;
  assert.equal((d[1] as unknown as { extra: unknown }).extra, { a: 1 }, "values are copied");
  assert.throws(() => applyParam(s, parseParamPath("build.domains[5].id"), 1), /build\.domains\[5\] does not exist \(build\.domains has 3 elements\)/);
  assert.throws(() => applyParam(s, parseParamPath("build.domains[0].id.x"), 1), /build\.domains\[0\]\.id is a number, not an object/);
  assert.throws(() => applyParam(s, parseParamPath("build.nothing[0]"), 1), /build\.nothing does not exist, so it cannot be indexed/);
  assert.throws(() => applyParam(s, parseParamPath("build.domains[*].nothing[*].x"), 1), /matches nothing/);
});

test("overlapping paths", () => {
  const o = (a: string, b: string) => pathsOverlap(parseParamPath(a), parseParamPath(b));
  assert.ok(o("config.iotlb", "config.iotlb.entries"));
  assert.ok(o("a[*].b", "a[3].b"));
  assert.not.ok(o("a[1].b", "a[2].b"));
  assert.not.ok(o("config.iotlb.entries", "config.iotlb.policy"));
});

test("points: scenarios outermost, then traces, then parameters (the last fastest); shards round-robin", () => {
  const f = makeFixture();
  const def = loadSweep(f.sweepFile);
  assert.is(def.total, 16);
  const seen = new Set<string>();
  for (let i = 0; i < def.total; i++) {
    const p = pointAt(def, i);
    seen.add(JSON.stringify([p.trace, p.values]));
    assert.is(p.trace, i < 8 ? 0 : 1);
    assert.equal(p.values, [(i >> 2) & 1, (i >> 1) & 1, i & 1]);
  }
  assert.is(seen.size, 16);
  assert.equal(pointParameters(def, pointAt(def, 5)), { "config.iotlb.entries": 64, "config.iotlb.policy": "lru", "build.domains[0].mappings[*].pageSize": "2M" });
  assert.equal(shardIndices(10, { index: 2, count: 3 }), [1, 4, 7]);
  assert.equal(shardIndices(2, { index: 3, count: 3 }), []);
  const all = [1, 2, 3, 4].flatMap((i) => shardIndices(11, { index: i, count: 4 })).sort((a, b) => a - b);
  assert.equal(all, [...Array(11).keys()], "the shards partition the points");
  assert.is(pointId(7, 16), "p0007");
  assert.is(pointId(12345, 20000), "p12345");
});

test("the hash covers the definition and the input files, not formatting", () => {
  const f = makeFixture();
  const h = loadSweep(f.sweepFile).hash;
  const g = makeFixture(); // identical files elsewhere
  assert.is(loadSweep(g.sweepFile).hash, h);
  const k = makeFixture({ metrics: ["tlps", "iotlbHitRate"] });
  assert.is.not(loadSweep(k.sweepFile).hash, h);
});

test("figures: null where a cache is off, has no lookups, or the run is functional", () => {
  const s = {
    tlps: 10,
    translated: 9,
    faulted: 1,
    walkReads: { total: 25 },
    caches: [
      { name: "iotlb", lookups: 10, hits: 4 },
      { name: "pwcSsPde", lookups: 0, hits: 0 },
    ],
  } as unknown as RunSummary;
  const m = pointMetrics(s);
  assert.equal(Object.keys(m), metricNames);
  assert.is(m.iotlbHitRate, 0.4);
  assert.is(m.pwcSsPdeHitRate, null);
  assert.is(m.pwcSsPdpeHitRate, null);
  assert.is(m.walkReadsPerTlp, 2.5);
  assert.is(m.totalCycles, null);
  assert.is(m.latencyP99, null);
  const t = { ...s, timing: { totalCycles: 300, translations: 10, latency: { count: 10, p50: 20, p99: 90 } } } as unknown as RunSummary;
  assert.equal(pointMetrics(t, ["cyclesPerTranslation", "latencyP50", "latencyP99"]), { cyclesPerTranslation: 30, latencyP50: 20, latencyP99: 90 });
});

test.run();
