/**
 * Nested domains made at run time on VT-d scalable mode (trace `domain-alloc D nested parent=P`,
 * README "Driver side"), through the driver side over the VT-d driver: 00:02.0 (attached at build
 * time to second-stage domain 1, then bound to vfio and blocked) is attached to second-stage domain
 * 2, replaced into nested domain 6 (a PASID entry with PGTT 011: first stage 6 over second stage 5)
 * and back, then detached. The PASID table is the host's (the scalable-mode PASID entry, fact sheet
 * /work/shared/spec/vtd.md 2.8: PGTT 011 nested, FSPTPTR a GPA, SSPTPTR the parent's root); the
 * nested domain's first-stage table pages are placed at GPA = PA and mapped in the second stage
 * (src/arch/vtd/builder.ts tablePage), so nothing of it has to move. Fault reasons (fact sheet
 * 2.10): SFS.2 0x71 first-stage entry not present, SSS.2 0x79 the second stage's not-present case
 * (R = W = 0) as the core reports it, SPT.2 0x59 PASID entry not present (the blocked form).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GPU, paOf, setup } from "../../iommu/harness.ts";
import { parseTraceText } from "../../../src/trace/text.ts";
import { replay, type Refusal } from "../../../src/replay/replay.ts";

test("vtd scalable: a run-time nested domain (PGTT 011) over a run-time second-stage parent: exact PAs, a first-stage and a second-stage fault, replace in and out, detach", () => {
  const s = setup("vtd", [[GPU, "vfio"]]);
  const outs: unknown[][] = [];
  const refusals: string[] = [];
  const trace = [
    "domain-alloc 5 paging format=ss", //      guest RAM: GPA 0x40000000-0x40001fff -> PA 0x86000000-0x86001fff
    "domain-alloc 6 nested parent=5",
    "map 5 0x40000000 0x86000000 0x2000",
    "map 6 0x200000 0x40000000 0x2000", //     the guest's first stage: VA 0x200000-0x201fff -> GPA 0x40000000-0x40001fff
    "map 6 0x202000 0x50000000 0x1000", //     VA 0x202000 -> GPA 0x50000000, which 5 does not map
    "attach 00:02.0 domain=2",
    "MRd 00:02.0 addr=0x100000", //            T0: second stage 2 (PGTT 010): paOf(2)
    "replace 00:02.0 domain=6",
    "MRd 00:02.0 addr=0x200010", //            T1: 0x40000010 -> 0x86000010
    "MWr 00:02.0 addr=0x201ff8", //            T2: 0x40001ff8 -> 0x86001ff8
    "MRd 00:02.0 addr=0x300000", //            T3: the PT of VA 0x200000-0x3fffff has no entry 0x100: SFS.2 at level 1
    "MRd 00:02.0 addr=0x202040", //            T4: GPA 0x50000040: 5's PDPT[1] is present, its PD[0x80] not: SSS.2 at level 2
    "replace 00:02.0 domain=2",
    "MRd 00:02.0 addr=0x100000", //            T5: paOf(2)
    "MRd 00:02.0 addr=0x200010", //            T6: domain 2 maps only 0x100000 (PD[0]); PD[1] not present: SSS.2 at level 2
    "detach 00:02.0",
    "MRd 00:02.0 addr=0x100000", //            T7: blocked (the RID_PASID entry not present)
  ];
  replay(s.p, parseTraceText(trace.join("\n"), "t.trace"), (_, _t, r) => outs.push([r.status, r.pa, r.fault?.name, r.fault?.code, r.fault?.level, r.kind, r.domain]), {
    driver: s.layer,
    refusals: "results",
    onRefusal: (x: Refusal) => refusals.push(`${x.line}: ${x.reason}`),
  });
  assert.equal(refusals, []);
  // [status, PA, fault, code, level, PGTT (2 second stage, 3 nested), DID]
  assert.equal(outs, [
    ["ok", paOf(2), undefined, undefined, undefined, 2, 2],
    ["ok", 0x8600_0010n, undefined, undefined, undefined, 3, 6],
    ["ok", 0x8600_1ff8n, undefined, undefined, undefined, 3, 6],
    ["fault", 0n, "SFS.2", 0x71, 1, 3, 6],
    ["fault", 0n, "SSS.2", 0x79, 2, 3, 6],
    ["ok", paOf(2), undefined, undefined, undefined, 2, 2],
    ["fault", 0n, "SSS.2", 0x79, 2, 2, 2],
    ["blocked", 0n, "SPT.2", 0x59, 0, 0, 0],
  ]);
  assert.is(s.layer.attachedDomain(GPU), undefined);
});

test.run();
