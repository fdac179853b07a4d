/**
 * Nested domains made at run time (trace `domain-alloc D nested parent=P`) on SMMUv3, through the
 * driver side (src/iommu) over the SMMUv3 driver: a stream whose CD table was allocated for a
 * stage-1 domain (the harness's build-time attach of 00:02.0 to domain 1, StreamID 0x10, 16
 * substreams) moves into a nested domain and back. Under nesting the STE's S1ContextPtr is an IPA
 * (Linux arm-smmu-v3-iommufd.c, arm_smmu_make_nested_cd_table_ste: the guest's vSTE gives it), so
 * the builder makes the CD table reachable at IPA = PA through the parent, or refuses the attach
 * when the parent maps that IPA to other memory. Event records: SMMUv3 spec 7.3.12 (F_TRANSLATION,
 * 0x10): dword 0 StreamID << 32 | type, dword 1 RnW (35), S2 (39), CLASS (41:40), dword 2 InputAddr,
 * dword 3 the IPA (bits 51:12) of a stage-2 fault.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GPU, paOf, setup } from "../../iommu/harness.ts";
import { parseTraceText } from "../../../src/trace/text.ts";
import { replay, type Refusal } from "../../../src/replay/replay.ts";
import type { Result } from "../../../src/core/core.ts";
import type { SmmuBuilder } from "../../../src/arch/smmuv3/builder.ts";
import { getField } from "../../../src/arch/fields.ts";
import { queueBaseFields } from "../../../src/arch/smmuv3/fields.ts";
import { event } from "./helpers.ts";

const RNW = 1n << 35n, S2 = 1n << 39n, CLASS_IN = 2n << 40n;
const F_TRANSLATION = 0x10n;

/** 00:02.0 bound to vfio (blocked, its CD table kept), the trace replayed; every TLP's result and every refusal. */
function run(lines: string[]) {
  const s = setup("smmuv3", [[GPU, "vfio"]]);
  const results: Result[] = [];
  const refusals: string[] = [];
  replay(s.p, parseTraceText(lines.join("\n"), "t.trace"), (_, _t, r) => results.push(r), {
    driver: s.layer,
    refusals: "results",
    onRefusal: (x: Refusal) => refusals.push(`${x.line}: ${x.reason}`),
  });
  const core = s.p.core;
  const eventq = getField(core.getRegister("EVENTQ_BASE"), queueBaseFields.ADDR) << 5n;
  return { s, results, refusals, events: (i: number) => event(core, i, eventq), eventCount: () => core.getRegister("EVENTQ_PROD") };
}

const b = (x: ReturnType<typeof setup>) => x.p.builder as SmmuBuilder;

// Guest RAM: parent 5 maps IPA 0x40000000-0x40001fff to PA 0x86000000-0x86001fff. Domain 6 (the
// guest's stage 1) maps VA 0x200000 -> IPA 0x40000000, VA 0x201000 -> IPA 0x40001000 and VA
// 0x202000 -> IPA 0x50000000, which 5 does not map.
const GUEST = [
  "domain-alloc 5 paging format=s2", //   1
  "domain-alloc 6 nested parent=5", //    2
  "map 5 0x40000000 0x86000000 0x2000", // 3
  "map 6 0x200000 0x40000000 0x2000", //  4
  "map 6 0x202000 0x50000000 0x1000", //  5
];

test("a stream with a stage-1 CD table replaced into a run-time nested domain, the stage-1 and stage-2 faults, back to stage 1, detached", () => {
  const r = run([
    ...GUEST,
    "attach 00:02.0 domain=2", //          6: stage 1, CD 0 in the CD table the build allocated
    "MRd 00:02.0 addr=0x100000", //        T0: domain 2: paOf(2)
    "replace 00:02.0 domain=6", //         7: nested (the case that could not move before)
    "MRd 00:02.0 addr=0x200010", //        T1: VA 0x200010 -> IPA 0x40000010 -> PA 0x86000010
    "MWr 00:02.0 addr=0x201ff8", //        T2: VA 0x201ff8 -> IPA 0x40001ff8 -> PA 0x86001ff8
    "MRd 00:02.0 addr=0x300000", //        T3: no stage-1 leaf: stage-1 F_TRANSLATION
    "MRd 00:02.0 addr=0x202040", //        T4: IPA 0x50000040 unmapped in 5: stage-2 F_TRANSLATION, CLASS IN
    "MRd 00:02.0 addr=0x100000", //        T5: domain 6 does not map what domain 2 did: stage 1 faults
    "replace 00:02.0 domain=2", //         8: back to stage 1
    "MRd 00:02.0 addr=0x100000", //        T6: paOf(2) again
    "MRd 00:02.0 addr=0x200010", //        T7: domain 2 does not map VA 0x200000: stage-1 F_TRANSLATION
    "detach 00:02.0", //                   9: blocked (abort STE while vfio owns it)
    "MRd 00:02.0 addr=0x100000", //        T8
  ]);
  assert.equal(r.refusals, []);
  const outs = r.results.map((x) => [x.status, x.status === "ok" ? x.pa : x.fault?.name, x.fault?.stage, x.fault?.class]);
  assert.equal(outs, [
    ["ok", paOf(2), undefined, undefined],
    ["ok", 0x8600_0010n, undefined, undefined],
    ["ok", 0x8600_1ff8n, undefined, undefined],
    ["fault", "F_TRANSLATION", 1, undefined],
    ["fault", "F_TRANSLATION", 2, "IN"],
    ["fault", "F_TRANSLATION", 1, undefined],
    ["ok", paOf(2), undefined, undefined],
    ["fault", "F_TRANSLATION", 1, undefined],
    ["blocked", undefined, undefined, undefined], // the abort STE, as the driver side reports it while vfio owns the device
  ]);
  // StreamID 0x10 (00:02.0). Stage-1 faults: S2 = 0, CLASS IN, no IPA; the stage-2 one names the IPA page.
  assert.equal(r.events(0), [(0x10n << 32n) | F_TRANSLATION, RNW | CLASS_IN, 0x30_0000n, 0n]);
  assert.equal(r.events(1), [(0x10n << 32n) | F_TRANSLATION, RNW | S2 | CLASS_IN, 0x20_2040n, 0x5000_0000n]);
  assert.equal(r.events(2), [(0x10n << 32n) | F_TRANSLATION, RNW | CLASS_IN, 0x10_0000n, 0n]);
  assert.equal(r.events(3), [(0x10n << 32n) | F_TRANSLATION, RNW | CLASS_IN, 0x20_0010n, 0n]);
  assert.is(r.eventCount(), 4n); // the abort STE records nothing
  assert.is(r.s.layer.attachedDomain(GPU), undefined);
  // The stream kept the CD table the build allocated for domain 1 (reached through 5 at IPA = PA, not re-placed).
  assert.is(b(r.s).streams.get(GPU)!.cdTable!.ptr, b(setup("smmuv3")).streams.get(GPU)!.cdTable!.ptr);
});

test("the attach is refused, naming the IPA, when the parent maps the CD table's IPA to other memory; nothing changes", () => {
  const probe = setup("smmuv3");
  const ptr = b(probe).streams.get(GPU)!.cdTable!.ptr; // the same build gives the same CD table address
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  const r = run([
    ...GUEST,
    "attach 00:02.0 domain=2", //                       6
    `map 5 ${hex(ptr)} 0x87000000 0x1000`, //           7: the VMM puts other guest RAM at that IPA
    "replace 00:02.0 domain=6", //                      8: refused
    "MRd 00:02.0 addr=0x100000", //                     T0: still domain 2
  ]);
  assert.equal(r.refusals, [
    `8: attach of StreamID 0x10 (00:02.0): its CD table (PA ${hex(ptr)}) cannot be reached through domain 5, its stage-2 parent: IPA ${hex(ptr)} maps PA 0x87000000 there (the builder places nested stage-1 structures at IPA = PA)`,
  ]);
  assert.equal(r.results.map((x) => [x.status, x.pa]), [["ok", paOf(2)]]);
  assert.is(r.s.layer.attachedDomain(GPU), 2);
});

test("a nested substream of a stream with a stage-1 CD table; stage 1 and nested never share one stream's CD table", () => {
  const SHARE = "(an STE is nested over one parent or not at all: every CD of the stream is read through it)";
  const r = run([
    ...GUEST,
    "attach 00:02.0 pasid=1 domain=6", //     6: CD 1 nested; the RID stays blocked (S1DSS terminate)
    "MRd 00:02.0 pasid=1 addr=0x200010", //   7: VA 0x200010 -> IPA 0x40000010 -> PA 0x86000010
    "attach 00:02.0 domain=2", //             8: refused (CD 0 would be stage 1 under a nested STE)
    "attach 00:02.0 pasid=2 domain=3", //     9: refused likewise
    "detach 00:02.0 pasid=1", //              10
    "attach 00:02.0 domain=2", //             11
    "MRd 00:02.0 addr=0x100000", //           12: paOf(2)
    "attach 00:02.0 pasid=1 domain=6", //     13: refused: CD 0 is stage 1 now
    "MRd 00:02.0 pasid=1 addr=0x200010", //   14: CD 1 stays as the detach left it, V = 0: C_BAD_CD (spec 5.4; fact sheet smmuv3.md 2.4)
  ]);
  assert.equal(r.refusals, [
    `8: attach of StreamID 0x10 (00:02.0): stage-1 domain 2 cannot share the stream's CD table with nested domain 6 (over domain 5) ${SHARE}`,
    `9: attach of StreamID 0x10 (00:02.0) SubstreamID 2: stage-1 domain 3 cannot share the stream's CD table with nested domain 6 (over domain 5) ${SHARE}`,
    `13: attach of StreamID 0x10 (00:02.0) SubstreamID 1: nested domain 6 (over domain 5) cannot share the stream's CD table with stage-1 domain 2 ${SHARE}`,
  ]);
  assert.equal(r.results.map((x) => [x.status, x.status === "ok" ? x.pa : x.fault?.name]), [["ok", 0x8600_0010n], ["ok", paOf(2)], ["fault", "C_BAD_CD"]]);
});

test.run();
