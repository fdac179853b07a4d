/**
 * The driver side above the architectures (src/iommu/iommu.ts, ownership.ts, domains.ts) on VT-d
 * scalable, VT-d legacy and SMMUv3: drivers and DMA ownership (the dual-function NIC of the
 * /dev/ioasid thread), blocking, the group-wide requester-ID domain, replace with DMA between its
 * entry-update steps, domain-alloc, and the refusals with their exact texts. Every TLP reads IOVA
 * 0x100000, which domain d maps to 0x80000000 + d << 24 (harness.ts), so `ok d` names the domain that
 * translated it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GPU, IOVA, NIC0, NIC1, PORT, UNITS, outcome, paOf, setup } from "./harness.ts";
import { createPlatform } from "../../src/platform.ts";
import { IommuLayer } from "../../src/iommu/iommu.ts";

const GROUP4 = "group 4 (02:01.0, 03:00.0, 03:00.1)";
/** The raw blocked form each unit's core reports (ArchDriver.isBlockedForm): VT-d the PASID-table / context entry not present, SMMUv3 an abort STE. */
const RAW_BLOCKED = { vtd: "fault SPT.2", "vtd-legacy": "fault LCT.2", smmuv3: "abort" } as const;
const rd = (bdf: string) => `MRd ${bdf} addr=0x100000`;

for (const unit of UNITS) {
  test(`${unit}: the dual-function NIC moved to vfio one function at a time (the /dev/ioasid thread's steps)`, () => {
    const s = setup(unit, [[NIC0, "kernel:e1000e"], [NIC1, "kernel:e1000e"]]);
    const r = s.run(
      [
        rd("03:00.0"), rd("03:00.1"), // 1-2: both kernel-bound, through the default domain 1
        "unbind 03:00.1", //             3
        "bind 03:00.1 vfio", //          4: refused, 03:00.0 is still kernel-bound in the same group
        rd("03:00.1"), //                5: still the kernel's domain (nothing changed)
        "unbind 03:00.0", //             6
        "bind 03:00.0 vfio", //          7: the group becomes user-owned: all of it blocked
        "bind 03:00.1 vfio", //          8
        rd("03:00.0"), rd("03:00.1"), // 9-10: blocked until attached
        rd("00:02.0"), //                11: another group: untouched
        "attach 03:00.0 domain=2", //    12: the group's domain: both functions
        rd("03:00.0"), rd("03:00.1"), // 13-14
        "attach 03:00.1 domain=3", //    15: refused, the group has domain 2
        "attach 03:00.1 domain=2", //    16: joins it
        "detach 03:00.0", //             17: 03:00.1 still attached: domain 2 stays
        rd("03:00.0"), //                18
        "detach 03:00.1", //             19: the last one: the group is blocked again
        rd("03:00.0"), rd("03:00.1"), // 20-21
        "unbind 03:00.0", //             22: 03:00.1 still vfio: the group stays user-owned
        "bind 03:00.0 kernel:e1000e", // 23: refused (the BUG_ON case)
        rd("03:00.0"), //                24
        "unbind 03:00.1", //             25: ownership released: the default domain comes back
        rd("03:00.0"), rd("03:00.1"), // 26-27
        "bind 03:00.0 kernel:e1000e", // 28: allowed now
      ].join("\n"),
    );
    assert.equal(r.outcomes, ["ok 1", "ok 1", "ok 1", "blocked", "blocked", "ok 1", "ok 2", "ok 2", "ok 2", "blocked", "blocked", "blocked", "ok 1", "ok 1"]);
    assert.equal(r.refusals, [
      `4: bind 03:00.1 vfio: ${GROUP4} is not viable for user space: 03:00.0 is bound to kernel:e1000e (iommu_device_claim_dma_owner: -EBUSY); unbind it first`,
      `15: attach 03:00.1 domain=3: ${GROUP4} is attached to domain 2 (by 03:00.0); the devices of a group share one domain: replace it instead`,
      `23: bind 03:00.0 kernel:e1000e: ${GROUP4} is owned by user space (03:00.1 is bound to vfio): a kernel driver cannot DMA in it (iommu_device_use_default_domain: -EBUSY; the BUG_ON of the /dev/ioasid thread)`,
    ]);
  });

  test(`${unit}: a blocked device's TLPs are the core's own blocking form (${RAW_BLOCKED[unit]}), reported as blocked only while the owner blocks it`, () => {
    const s = setup(unit, [[NIC0, "vfio"]]);
    assert.is(s.dma(NIC0), "blocked");
    // The core's result, not re-translated: what isBlockedForm recognises.
    assert.is(outcome(s.p.translateOne({ op: "MRd", sid: NIC0, addr: 0x100000n })), RAW_BLOCKED[unit]);
    // The port of the group has no driver but is blocked with it (every device of the group).
    assert.is(s.dma(PORT), "blocked");
    assert.is(s.dma(GPU), "ok 1");
  });

  test(`${unit}: refusals of ownership and attachment, with their texts; nothing changes on a refusal`, () => {
    const s = setup(unit, [[NIC0, "vfio"]]);
    const r = s.run(
      [
        "bind 03:00.0 vfio", //                 1: already bound
        "unbind 00:02.0", //                     2: nothing bound
        "attach 03:00.1 domain=2", //            3: user-owned group, 03:00.1 not vfio's
        "replace 03:00.0 domain=2", //           4: not attached yet
        "detach 03:00.0", //                     5: not attached
        "domain-alloc 8 blocking", //            6
        "map 8 0x100000 0x80000000 0x1000", //   7: a blocking domain has no page tables
        "domain-alloc 8 paging", //              8: exists
        "domain-alloc 1 blocking", //            9: the unit's domain 1 exists
        "attach 03:00.0 domain=2", //            10
        "replace 03:00.0 domain=8", //           11: blocking: detach instead
        rd("03:00.0"), rd("03:00.1"), //         12-13: domain 2 for the whole group
      ].join("\n"),
    );
    assert.equal(r.refusals, [
      "1: bind 03:00.0 vfio: 03:00.0 is already bound to vfio; unbind it first",
      "2: unbind 00:02.0: no driver is bound to it",
      `3: attach 03:00.1: ${GROUP4} is owned by user space and 03:00.1 is not bound to vfio`,
      "4: replace 03:00.0 domain=2: 03:00.0 is not attached; attach it first (iommufd_device_replace)",
      "5: detach 03:00.0: 03:00.0 is not attached",
      "7: map 8: domain 8 is a blocking domain: it has no page tables",
      "8: domain-alloc 8: domain 8 exists already",
      "9: domain-alloc 1: domain 1 exists already",
      "11: replace 03:00.0 domain=8: domain 8 is a blocking domain: detach instead",
    ]);
    assert.equal(r.outcomes, ["ok 2", "ok 2"]);
  });

  test(`${unit}: domain-alloc paging, identity and blocking at run time; a blocking domain on a kernel device`, () => {
    const s = setup(unit);
    const r = s.run(
      [
        "domain-alloc 5 paging",
        "map 5 0x100000 0x85000000 0x1000", // paOf(5),
        "domain-alloc 6 identity",
        "domain-alloc 7 blocking",
        "replace 00:02.0 domain=5",
        rd("00:02.0"), //         1: domain 5's PA
        "attach 03:00.0 domain=7",
        rd("03:00.0"), //         2: blocked
        "replace 03:00.0 domain=6",
        rd("03:00.0"), //         3: identity: the IOVA itself
      ].join("\n"),
    );
    assert.equal(r.refusals, []);
    assert.equal(r.outcomes, ["ok 5", "blocked", "ok 0x100000"]);
  });
}

test("vtd: replace rewrites the live PASID-table entry, then PASID cache and PASID-based IOTLB with the old DID, each with its wait; DMA between the steps sees the old or the new domain", () => {
  const s = setup("vtd", [[GPU, "vfio"]]);
  s.run("attach 00:02.0 domain=2");
  const driver = s.layer.arch as unknown as { onEntryStep?: (step: string) => void };
  const seen: string[] = [];
  driver.onEntryStep = (step) => seen.push(`${step} ${s.dma(GPU)}`);
  s.dma(GPU); // the PASID cache holds the entry of domain 2
  const before = s.layer.stats.queuedDescriptors;
  const r = s.run(`replace 00:02.0 domain=3\n${rd("00:02.0")}`);
  // After the entry write the cached entry (domain 2) still serves; after the PASID-cache invalidation the new one.
  assert.equal(seen, ["entry ok 2", "pasid-cache ok 3", "piotlb ok 3"]);
  assert.equal(r.outcomes, ["ok 3"]);
  // Two qi_submit_sync: (PASID cache, wait), (PASID-based IOTLB, wait); no ATS: no device-TLB.
  assert.is(s.layer.stats.queuedDescriptors - before, 4);
});

test("vtd-legacy: replace is block then attach: between them the device's DMA finds no context entry (LCT.2), never another domain", () => {
  const s = setup("vtd-legacy", [[GPU, "vfio"]]);
  s.run("attach 00:02.0 domain=2");
  const seen: string[] = [];
  (s.layer.arch as unknown as { onEntryStep?: (step: string) => void }).onEntryStep = (step) => seen.push(`${step} ${s.dma(GPU)}`);
  const r = s.run(`replace 00:02.0 domain=3\n${rd("00:02.0")}`);
  assert.equal(seen, ["blocked fault LCT.2"]);
  assert.equal(r.outcomes, ["ok 3"]);
});

test("smmuv3: replace is the hitless STE/CD update: between its steps the old domain, the new one or a terminated transaction", () => {
  const s = setup("smmuv3", [[GPU, "vfio"]]);
  s.run("attach 00:02.0 domain=2");
  const seen: string[] = [];
  (s.layer.arch as unknown as { onEntryStep?: (ref: { kind: string }) => void }).onEntryStep = (ref) => seen.push(`${ref.kind} ${s.dma(GPU)}`);
  const r = s.run(`replace 00:02.0 domain=3\n${rd("00:02.0")}`);
  // CD 0 changes ASID (qword 0) and TTB0 (qword 1): V=0, qwords 1-7, qword 0 (arm_smmu_write_entry).
  assert.equal(seen, ["cd fault C_BAD_CD", "cd fault C_BAD_CD", "cd ok 3"]);
  assert.equal(r.outcomes, ["ok 3"]);
});

test("a shared requester ID behind a PCIe-to-PCI bridge: the group (00:1d.0, 04:00.0, 05:01.0) and the alias 05:00.0 attach as one", () => {
  for (const unit of UNITS) {
    const s = setup(unit, [[0x508, "vfio"]]); // 05:01.0: bus 5 << 8 | device 1 << 3
    // 05:00.0 is the requester ID 05:01.0's requests reach the IOMMU with (bridge 04:00.0's secondary bus, devfn 0).
    const r = s.run([rd("05:00.0"), "attach 05:01.0 domain=3", rd("05:01.0"), rd("05:00.0"), rd("04:00.0"), rd("00:1d.0"), "detach 05:01.0", rd("05:01.0"), rd("05:00.0"), rd("04:00.0")].join("\n"));
    assert.equal(r.outcomes, ["blocked", "ok 3", "ok 3", "ok 3", "ok 3", "blocked", "blocked", "blocked"], unit);
  }
});

for (const unit of ["vtd", "smmuv3"] as const) {
  test(`${unit}: a PASID of a vfio device: attach, replace (old or new domain between the steps), detach; the device's own requester ID stays blocked`, () => {
    const s = setup(unit, [[GPU, "vfio"]]);
    const r = s.run(
      [
        "attach 00:02.0 pasid=1 domain=2",
        "MRd 00:02.0 pasid=1 addr=0x100000", // 1: domain 2
        rd("00:02.0"), //                       2: the requester ID is still blocked
        "replace 00:02.0 pasid=1 domain=3",
        "MRd 00:02.0 pasid=1 addr=0x100000", // 3
        "detach 00:02.0 pasid=1",
        "MRd 00:02.0 pasid=1 addr=0x100000", // 4: blocked (the PASID's entry is gone)
        "replace 00:02.0 pasid=1 domain=2", //  refused: not attached
      ].join("\n"),
    );
    assert.equal(r.outcomes, ["ok 2", "blocked", "ok 3", "blocked"]);
    assert.equal(r.refusals, ["8: replace 00:02.0 pasid=1 domain=2: PASID 1 of 00:02.0 is not attached; attach it first"]);
  });
}

test("vtd: domain-alloc of a second-stage parent and a nested domain over it, attached by a vfio device; release gives the default domain back", () => {
  const s = setup("vtd", [[GPU, "vfio"]]);
  const r = s.run(
    [
      "domain-alloc 5 paging format=ss",
      "domain-alloc 6 nested parent=5",
      "map 6 0x100000 0x40000000 0x1000", // first stage: IOVA -> GPA
      "map 5 0x40000000 0x86000000 0x1000", // second stage: GPA -> paOf(6), so that it reads "ok 6"
      "attach 00:02.0 domain=6",
      rd("00:02.0"),
      "unbind 00:02.0",
      rd("00:02.0"),
    ].join("\n"),
  );
  assert.equal(r.refusals, []);
  assert.equal(r.outcomes, ["ok 6", "ok 1"]);
});

for (const unit of ["vtd", "smmuv3"] as const) {
  test(`${unit}: a vfio device's PASIDs go when its driver unbinds, while its group stays user-owned`, () => {
    const s = setup(unit, [[NIC0, "vfio"], [NIC1, "vfio"]]);
    const r = s.run(["attach 03:00.0 pasid=1 domain=2", "MRd 03:00.0 pasid=1 addr=0x100000", "unbind 03:00.0", "MRd 03:00.0 pasid=1 addr=0x100000", rd("03:00.1")].join("\n"));
    assert.equal(r.refusals, []);
    assert.equal(r.outcomes, ["ok 2", "blocked", "blocked"]);
    assert.is(s.layer.attachedDomain(NIC0, 1), undefined);
  });
}

test("vtd: replace of an ATS device: the device-TLB keeps the old domain until the device-TLB invalidation, the last of three qi_submit_sync", () => {
  const p = createPlatform("vtd", { build: "debug" });
  const b = p.builder;
  for (const d of [2, 3]) b.map(b.createDomain({ id: d, type: "ss" }), IOVA, paOf(d), 0x1000n);
  b.attach({ sid: GPU, domain: 2, ats: true });
  p.enable();
  const layer = new IommuLayer(p.createDriver());
  const translated = () => outcome(p.translateOne({ op: "MRd", sid: GPU, addr: IOVA, translated: true }));
  const untranslated = () => outcome(p.translateOne({ op: "MRd", sid: GPU, addr: IOVA }));
  const seen: string[] = [];
  (layer.arch as unknown as { onEntryStep?: (step: string) => void }).onEntryStep = (step) => seen.push(`${step}: translated ${translated()}, untranslated ${untranslated()}`);
  assert.is(translated(), "ok 2"); // fills the device-TLB with domain 2's translation
  const before = layer.stats.queuedDescriptors;
  layer.apply({ op: "replace", sid: GPU, domain: 3, line: 1, column: 1 }, 0n);
  assert.equal(seen, [
    "entry: translated ok 2, untranslated ok 2", // the PASID cache still holds the old entry
    "pasid-cache: translated ok 2, untranslated ok 3", // the device-TLB still holds domain 2's translation
    "piotlb: translated ok 2, untranslated ok 3",
    "devtlb: translated ok 3, untranslated ok 3", // a device-TLB miss: a new ATS request, through domain 3
  ]);
  // (PASID cache, wait), (PASID-based IOTLB, wait), (device-TLB, wait).
  assert.is(layer.stats.queuedDescriptors - before, 6);
});

test("vtd: a vfio device attached for the first time gets its attach flags (ats: the context entry's DTE); without ats its ATS request faults SCT.5", () => {
  for (const [flag, expected] of [["", "fault SCT.5"], [" ats", "ok 3"]] as const) {
    const s = setup("vtd", [[0x508, "vfio"]]); // 05:01.0, never attached before
    const r = s.run(`attach 05:01.0 domain=3${flag}\nATS 05:01.0 addr=0x100000\n${rd("05:01.0")}`);
    assert.equal(r.outcomes, [expected, "ok 3"], flag);
  }
});

test("smmuv3: a group attach the unit refuses for one member leaves the whole group as it was (blocked, or on its domain)", () => {
  const s = setup("smmuv3", [[NIC0, "vfio"], [NIC1, "vfio"]]);
  const r = s.run(
    [
      "attach 03:00.1 pasid=1 domain=2", // 03:00.1 gets a substream (a CD table)
      "domain-alloc 5 paging format=s2",
      "map 5 0x100000 0x85000000 0x1000",
      "attach 03:00.0 domain=5", // 02:01.0 and 03:00.0 take it, 03:00.1 cannot (stage 2 with substreams): refused
      rd("03:00.0"), rd("02:01.0"), //      blocked again
      "attach 03:00.0 domain=3",
      "replace 03:00.0 domain=5", //        refused the same way: the group stays on domain 3
      rd("03:00.0"), rd("03:00.1"),
    ].join("\n"),
  );
  assert.equal(r.refusals, [
    "4: attach of StreamID 0x301 (03:00.1): a stage-2 domain cannot serve a stream with substreams attached",
    "8: attach of StreamID 0x301 (03:00.1): a stage-2 domain cannot serve a stream with substreams attached",
  ]);
  assert.equal(r.outcomes, ["blocked", "blocked", "ok 3", "ok 3"]);
});

test.run();
