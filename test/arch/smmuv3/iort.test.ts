/**
 * IORT root complexes in front of an SMMUv3 (config.smmu.rootComplexes; src/arch/smmuv3/iort.ts,
 * assembly/arch/smmuv3/iort.ts, engine/smmu-run.ts): the StreamID of each requester through its
 * root complex's ID mappings (output base + RID - input base), the edge RIDs of every range, the
 * requesters no mapping covers (status unrouted, counted in `unrouted` only), CANWBS per root
 * complex deciding the snoop of No-Snoop TLPs, ATS through the mapped StreamID, and every problem
 * of the key at its path. Each test runs on the debug and the release core and both must agree.
 */
import { suite, test as plain } from "uvu";
import * as assert from "uvu/assert";
import { loadScenario } from "../../../src/scenario.ts";
import { scenarioFiles } from "./scenario-files.ts";
import type { Core, Request, Result } from "../../../src/core/core.ts";
import { builds, rd, wr, writeSte } from "./helpers.ts";
import { tlbUnit, command, lhm, CD_AT } from "./tlb-unit.ts";
import { createPlatform } from "../../../src/platform.ts";
import { SmmuDriver } from "../../../src/arch/smmuv3/driver.ts";
import { parseTraceText } from "../../../src/trace/text.ts";
import { replay } from "../../../src/replay/replay.ts";
import { streamIdOf, type StreamMap } from "../../../src/arch/smmuv3/iort.ts";

const { scenario, loadError } = scenarioFiles("iommu-emu-iort-", plain.after);

/**
 * Segment 0 (CANWBS clear): bus 00 (RIDs 0x000-0x0ff) -> StreamIDs 0x1000-0x10ff, and 03:00.0-03:00.7
 * (RIDs 0x300-0x307) -> 0x40-0x47. Segment 2 (CANWBS set): RIDs 0x200-0x20f (02:00.0-02:01.7) ->
 * 0x48-0x57. Every edge RID is attached to an identity (bypass) domain, so a routed TLP is `ok`
 * with PA = its address.
 */
const mapped = {
  arch: "smmuv3",
  build: {
    domains: [{ id: 1, type: "identity" }],
    devices: ["00:00.0", "00:1f.7", "03:00.0", "03:00.7", "0002:02:00.0", "0002:02:01.7"].map((bdf) => ({ bdf, domain: 1 })),
  },
  config: {
    smmu: {
      rootComplexes: [
        { segment: 0, idMappings: [{ rid: "00:00.0", count: 256, streamId: "0x1000" }, { rid: "03:00.0", count: 8, streamId: 0x40 }] },
        { segment: 2, canwbs: true, idMappings: [{ rid: 0x200, count: 16, streamId: "0x48" }] },
      ],
    },
  },
};
const sidOf = (segment: number, rid: number) => segment * 0x10000 + rid;

for (const build of builds) {
  const test = suite(`smmuv3 IORT root complexes [${build}]`);

  test("StreamIDs at the edges of every range: output base + (RID - input base); the STEs are written there", () => {
    const { platform } = loadScenario(scenario(mapped), { build, functional: true });
    const reqs: [number, number][] = [
      [sidOf(0, 0x000), 0x1000], // first RID of bus 00: 0x1000 + 0
      [sidOf(0, 0x0ff), 0x10ff], // last: 0x1000 + 0xff
      [sidOf(0, 0x300), 0x40], // 03:00.0: 0x40 + 0
      [sidOf(0, 0x307), 0x47], // 03:00.7: 0x40 + 7
      [sidOf(2, 0x200), 0x48], // 0002:02:00.0: 0x48 + 0
      [sidOf(2, 0x20f), 0x57], // 0002:02:01.7: 0x48 + 0xf
    ];
    const r = platform.core.translate(reqs.map(([sid], i) => rd(sid, 0x7000n + BigInt(i) * 0x1000n)));
    assert.equal(r.map((x) => [x.status, x.streamId, x.pa]), reqs.map(([, s], i) => ["ok", s, 0x7000n + BigInt(i) * 0x1000n]));
    // a routed StreamID nothing is attached to: its (abort) STE is read, and the result names it
    const a = platform.core.translateOne(rd(sidOf(0, 0x010), 0x1000n)); // 00:02.0 -> 0x1010
    assert.equal([a.status, a.streamId], ["abort", 0x1010]);
  });

  test("RIDs no mapping covers are unrouted: no StreamID, no SMMU counter, only `unrouted`", () => {
    const { platform } = loadScenario(scenario(mapped), { build, functional: true });
    const core = platform.core;
    const outside = [
      sidOf(0, 0x100), // 01:00.0: one past bus 00's range
      sidOf(0, 0x2ff), // 02:1f.7: one before 03:00.0
      sidOf(0, 0x308), // 03:01.0: one past 03:00.7
      sidOf(2, 0x1ff), // segment 2, one before its range
      sidOf(2, 0x210), // segment 2, one past it
      sidOf(1, 0x000), // segment 1: no root complex
    ];
    const r = core.translate(outside.map((sid) => wr(sid, 0x1000n, { ns: true })));
    assert.equal(r.map((x) => [x.status, x.streamId, x.pa, x.reads, x.snoop]), outside.map(() => ["unrouted", undefined, 0n, 0, false]));
    const a = core.archCounters();
    assert.equal([a.unrouted, a.transaction, a.requests, a.noSnoopTlps, a.nonSnooped, a.config_struct_access], [6n, 0n, 0n, 0n, 0n, 0n]);
    // one routed TLP among them: counted as a transaction, the unrouted count unchanged
    core.translate([rd(sidOf(0, 0x100), 0n), rd(sidOf(0, 0x0ff), 0n), rd(sidOf(0, 0x100), 0n)]);
    assert.equal([core.archCounters().unrouted, core.archCounters().transaction], [8n, 1n]);
  });

  test("CANWBS per root complex: the same No-Snoop writes snoop through segment 2 (canwbs), not through segment 0 (tlp)", () => {
    const { platform } = loadScenario(scenario(mapped), { build, functional: true });
    const core = platform.core;
    // interleaved in one batch, so the flag must follow each TLP's root complex
    const sids = [sidOf(2, 0x200), sidOf(0, 0x000), sidOf(2, 0x20f), sidOf(0, 0x307), sidOf(2, 0x200)];
    const r = core.translate(sids.map((sid) => wr(sid, 0x9000n, { ns: true })));
    assert.equal(r.map((x) => [x.streamId, x.snoop, x.snoopBy]), [
      [0x48, true, "canwbs"],
      [0x1000, false, "tlp"],
      [0x57, true, "canwbs"],
      [0x47, false, "tlp"],
      [0x48, true, "canwbs"],
    ]);
    // 5 No-Snoop TLPs, the 3 of segment 2 made coherent
    const c = core.counters();
    assert.equal([c.noSnoopTlps, c.noSnoopForced, c.snooped, c.nonSnooped], [5n, 3n, 3n, 2n]);
  });

  test("ATS: the translation request and the translated request use the mapped StreamID; CMD_ATC_INV names the StreamID", () => {
    // tlb-unit.ts: StreamID 8 translates VA 0x40201000 -> 0x55555000 (stage 1); give it EATS = 1 and
    // route RID 01:01.0 (0x108) of segment 0 to it, nothing else
    const core: Core = tlbUnit(build);
    core.setRegister("CR0", 0xdn | (1n << 4n)); // SMMUEN, EVENTQEN, CMDQEN, ATSCHK
    writeSte(core, 8, [CD_AT | 0xbn, 1n << 28n]);
    core.setStreamMap([{ inBase: 0x108, count: 1, outBase: 8, rc: 0 }], [false]);
    const t: Request = rd(0x108, 0x4020_1234n, { translated: true });
    const first = core.translateOne(t);
    assert.equal([first.status, first.pa, first.atc, first.streamId], ["ok", 0x5555_5234n, true, 8]);
    assert.equal(lhm(core, "deviceTlb"), [1n, 0n, 1n]); // missed, filled by the ATS request to StreamID 8
    const atcInv = (sid: number) => command(core, 0x40n | (BigInt(sid) << 32n), 0x4020_1000n); // one 4 KiB page
    atcInv(0x108); // the RID is not a StreamID of this SMMU's ATC entries: nothing goes
    assert.equal(core.translateOne(t).pa, 0x5555_5234n);
    assert.equal(lhm(core, "deviceTlb"), [2n, 1n, 1n]);
    atcInv(8);
    assert.equal(core.translateOne(t).atc, true);
    assert.equal(lhm(core, "deviceTlb"), [3n, 1n, 2n]); // missed again: the entry was StreamID 8's
    // an ATS request of a RID no mapping covers never reaches the SMMU
    const u: Result = core.translateOne({ op: "ATS", sid: 0x109, addr: 0x4020_1000n });
    assert.equal([u.status, core.archCounters().pcie_ats_trans_rq, core.archCounters().unrouted], ["unrouted", 2n, 1n]);
  });

  test("64 ranges (the most the core holds): the core's binary search agrees with a linear search at every edge and gap", () => {
    // range k: 5 + k % 7 RIDs of segment k % 3 from RID 0x400 * k + 0x10, to StreamIDs 0x100 * k + 3 (disjoint, unsorted when written)
    const map: StreamMap = { ranges: [], canwbs: [false, true, false] };
    for (let k = 63; k >= 0; k--) map.ranges.push({ inBase: (k % 3) * 0x10000 + 0x400 * k + 0x10, count: 5 + (k % 7), outBase: 0x100 * k + 3, rc: k % 3 });
    const core: Core = tlbUnit(build);
    core.setStreamMap(map.ranges, map.canwbs);
    const sids = map.ranges.flatMap((r) => [r.inBase - 1, r.inBase, r.inBase + r.count - 1, r.inBase + r.count]);
    const r = core.translate(sids.map((sid) => rd(sid, 0n)));
    const want = sids.map((sid) => streamIdOf(map, sid));
    assert.equal(r.map((x) => x.streamId), want);
    // every range's first and last RID are routed (2 x 64), the RIDs around them are not
    assert.is(want.filter((x) => x !== undefined).length, 128);
    assert.is(r.filter((x) => x.status === "unrouted").length, 128);
    // range 10: 5 + 3 = 8 RIDs from 0x10000 + 0x2810 (segment 1) -> 0xa03..0xa0a
    assert.equal([streamIdOf(map, 0x1_2810), streamIdOf(map, 0x1_2817)], [0xa03, 0xa0a]);
  });

  test("the driver side: a trace's attach and detach of 00:02.0 write and invalidate StreamID 0x110, not 0x10", () => {
    // segment 0, bus 00 -> StreamIDs 0x100 + RID (00:02.0 = RID 0x10 -> 0x110)
    const p = createPlatform("smmuv3", { build, streamMap: { ranges: [{ inBase: 0, count: 256, outBase: 0x100, rc: 0 }], canwbs: [false] } });
    p.builder.createDomain({ id: 1, type: "s1" });
    p.enable();
    const driver = p.createDriver({}) as SmmuDriver;
    const results: Result[] = [];
    const text = ["map 1 0x100000 0x80000000 0x1000", "attach 00:02.0 domain=1", "MRd 00:02.0 addr=0x100040", "detach 00:02.0", "MRd 00:02.0 addr=0x100040"].join("\n");
    replay(p, parseTraceText(text, "iort.trace"), (_, _t, r) => results.push(r), { driver, file: "iort.trace" });
    assert.equal(results.map((r) => [r.status, r.streamId, r.pa]), [["ok", 0x110, 0x8000_0040n], ["abort", 0x110, 0n]]);
    // every CMD_CFGI_STE names StreamID 0x110 (dword 0 bits 63:32), none the RID 0x10
    const steSids = driver.issued.filter((c) => c.name === "CMD_CFGI_STE").map((c) => Number(c.q0 >> 32n));
    assert.ok(steSids.length > 0);
    assert.equal([...new Set(steSids)], [0x110]);
    // a device no mapping covers has no StreamID to attach
    assert.throws(() => p.builder.streamIdOf(0x1_0010), /no ID mapping of the root complexes \(config\.smmu\.rootComplexes\) covers 0001:00:02\.0: it has no StreamID/);
  });

  test.run();
}

const errors = suite("smmuv3 IORT root complexes: problems at their keys");

errors("overlaps, counts, SIDSIZE, segments, canwbs with rootComplexes, devices outside the map", () => {
  const rcs = (rootComplexes: unknown, { smmu, ...more }: Record<string, unknown> = {}) => scenario({ arch: "smmuv3", ...more, config: { smmu: { rootComplexes, ...(smmu as object) } } });
  const cases: [string, RegExp][] = [
    [rcs([{ idMappings: [{ rid: "00:00.0", count: 16, streamId: 0 }, { rid: "00:01.0", count: 16, streamId: 0x100 }] }]), /config\.smmu\.rootComplexes\[0\]\.idMappings\[1\]\.rid: RIDs 00:01\.0\.\.00:02\.7 overlap config\.smmu\.rootComplexes\[0\]\.idMappings\[0\] \(00:00\.0\.\.00:01\.7\)$/],
    [rcs([{ idMappings: [{ rid: "00:00.0", count: 16, streamId: 0 }] }, { segment: 1, idMappings: [{ rid: "00:00.0", count: 16, streamId: 8 }] }]), /config\.smmu\.rootComplexes\[1\]\.idMappings\[0\]\.streamId: StreamIDs 0x8\.\.0x17 overlap config\.smmu\.rootComplexes\[0\]\.idMappings\[0\]'s 0x0\.\.0xf \(a StreamID names one requester\)$/],
    [rcs([{ idMappings: [{ rid: "ff:00.0", count: 512, streamId: 0 }] }]), /config\.smmu\.rootComplexes\[0\]\.idMappings\[0\]\.count: 512 IDs from RID 0xff00 \(ff:00\.0\) reach beyond RID 0xffff$/],
    [rcs([{ idMappings: [{ rid: 0, count: 0, streamId: 0 }] }]), /idMappings\[0\]\.count: expected at least 1 ID$/],
    // IDR1.SIDSIZE 8: StreamIDs 0..0xff; 0xf8 + 16 - 1 = 0x107
    [rcs([{ idMappings: [{ rid: 0, count: 16, streamId: "0xf8" }] }], { registers: { IDR1: { SIDSIZE: 8 } } }), /idMappings\[0\]\.streamId: StreamIDs 0xf8\.\.0x107 reach beyond IDR1\.SIDSIZE 8 \(StreamIDs 0\.\.0xff\)$/],
    [rcs([{ idMappings: [{ rid: 0, count: 1, streamId: 0 }] }, { idMappings: [{ rid: 1, count: 1, streamId: 1 }] }]), /config\.smmu\.rootComplexes\[1\]\.segment: segment 0x0 is already config\.smmu\.rootComplexes\[0\]'s/],
    [rcs([{ idMappings: [] }]), /config\.smmu\.rootComplexes\[0\]\.idMappings: expected at least one ID mapping/],
    [rcs([{ idMappings: [{ rid: "0001:00:00.0", count: 1, streamId: 0 }] }]), /idMappings\[0\]\.rid: expected a requester ID "bb:dd\.f" .* got "0001:00:00\.0" \(the segment is the root complex's `segment`, not part of `rid`\)$/],
    [rcs([{ idMappings: [{ rid: 0, count: 1, streamId: 0 }] }], { smmu: { canwbs: true } }), /config\.smmu\.canwbs: not with config\.smmu\.rootComplexes: give each root complex its own `canwbs`$/],
    [rcs([{ idMappings: [{ rid: 0, count: 8, streamId: 0 }] }], { build: { domains: [{ id: 1, type: "identity" }], devices: [{ bdf: "00:01.0", domain: 1 }] } }), /build\.devices\[0\]\.bdf: no ID mapping of the root complexes \(config\.smmu\.rootComplexes\) covers 00:01\.0: it has no StreamID$/],
  ];
  for (const [file, want] of cases) assert.match(loadError(file), want);
  // without rootComplexes a device of another segment has no StreamID either
  const noMap = scenario({ arch: "smmuv3", build: { domains: [{ id: 1, type: "identity" }], devices: [{ bdf: "0001:00:02.0", domain: 1 }] } });
  assert.match(loadError(noMap), /build\.devices\[0\]\.bdf: 0001:00:02\.0 is not in segment 0: a segment needs config\.smmu\.rootComplexes naming it$/);
  // VT-d's scenario devices are its DMAR unit's, segment 0: another segment is refused, not dropped
  const vtd = scenario({ arch: "vtd", build: { domains: [{ id: 1, type: "pt" }], devices: [{ bdf: "0001:00:02.0", domain: 1 }] } });
  assert.match(loadError(vtd), /build\.devices\[0\]\.bdf: segment 0001 in "0001:00:02\.0": this unit's devices are in segment 0000 \(write "00:02\.0"\)$/);
});

errors("without rootComplexes: the identity, and no streamId in the results", () => {
  const { platform } = loadScenario(scenario({ arch: "smmuv3", build: { domains: [{ id: 1, type: "identity" }], devices: [{ bdf: "00:02.0", domain: 1 }] } }), { functional: true });
  const r = platform.core.translateOne(rd(0x10, 0x5000n));
  assert.equal([r.status, r.pa, r.streamId], ["ok", 0x5000n, undefined]);
  assert.is(platform.core.archCounters().unrouted, 0n);
});

errors.run();
