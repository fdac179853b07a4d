/**
 * VMs on the driver side (src/iommu/vms.ts, iommu.ts; README "VMs, PASID allocation and mediated
 * devices"): PASID allocation per VM with quotas in the system space (VT-d) and in per-device
 * substream spaces (SMMUv3), `quota` at run time, `pasid-free` of an attached PASID tearing its
 * entry down through the unit's driver in the driver's order (the exact commands), the fault a
 * request with the freed PASID gets, and mediated devices in a non-singleton group.
 *
 * The harness topology: 03:00.0 and 03:00.1 (NIC0, NIC1) share group 4 with port 02:01.0;
 * 00:02.0 (GPU) is alone in group 0. Domain d maps IOVA 0x100000 to PA paOf(d).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createPlatform } from "../../src/platform.ts";
import { IommuLayer } from "../../src/iommu/iommu.ts";
import { replay, type DriverResult, type Refusal } from "../../src/replay/replay.ts";
import { parseTraceText } from "../../src/trace/text.ts";
import { setup, GPU, NIC0, NIC1, IOVA, paOf, outcome } from "./harness.ts";
import type { SmmuDriver } from "../../src/arch/smmuv3/driver.ts";

const rd = (bdf: string, pasid?: number) => `MRd ${bdf}${pasid !== undefined ? ` pasid=${pasid}` : ""} addr=0x100000`;

/** Replays `text` on the layer; the ok result lines' notes and the refusals, in trace order. */
function run(p: Parameters<typeof replay>[0], layer: IommuLayer, text: string) {
  const lines: string[] = [];
  const outcomes: string[] = [];
  replay(p, parseTraceText(text, "t.trace"), (_, _t, r) => outcomes.push(outcome(layer.outcome(_t, r))), {
    driver: layer,
    refusals: "results",
    onRefusal: (x: Refusal) => lines.push(`${x.line}: refused: ${x.reason}`),
    onNote: (n: DriverResult) => lines.push(`${n.line}: ${JSON.stringify(n.note)}`),
  });
  return { lines, outcomes };
}

test("vtd (system space): PASIDs 1, 2 for a VM of quota 2, the third refused; quota raised at run time; lowest free first; two VMs share the space", () => {
  const s = setup("vtd", [], { vms: [{ name: "vmA", quota: 2 }, { name: "vmB" }], pasidSpace: { policy: "system" } });
  const r = run(s.p, s.layer, ["pasid-alloc vmA", "pasid-alloc vmA", "pasid-alloc vmA", "pasid-alloc vmB", "quota vmA 3", "pasid-alloc vmA", "pasid-free vmA 2", "pasid-alloc vmB", "pasid-free vmB 1", "pasid-alloc vmC"].join("\n"));
  assert.equal(r.lines, [
    '1: {"vm":"vmA","pasid":1}', // PASID 0 is reserved (requests without a PASID): the lowest free is 1
    '2: {"vm":"vmA","pasid":2}',
    '3: refused: pasid-alloc vmA: VM "vmA" holds 2 PASIDs and its quota is 2: it allocates again after freeing one',
    '4: {"vm":"vmB","pasid":3}', // one system space: vmB gets the next free number
    '5: {"vm":"vmA","quota":3,"over":0}',
    '6: {"vm":"vmA","pasid":4}',
    '7: {"vm":"vmA","pasid":2,"torndown":0}', // not attached anywhere: nothing to tear down
    '8: {"vm":"vmB","pasid":2}', // 2 is the lowest free again
    '9: refused: pasid-free vmB 1: PASID 1 belongs to VM "vmA", not to VM "vmB"',
    '10: refused: pasid-alloc vmC: no VM "vmC" (VMs: "vmA", "vmB")',
  ]);
  // vmA: 3 allocations (1, 2, 4), 1 refused by its quota, 1 freed, 2 held; vmB: 2 allocated, 1 refused free.
  assert.equal(
    s.layer.vms.counts().map((c) => [c.vm, c.allocations, c.refusedQuota, c.frees, c.allocated, c.refusedFree]),
    [
      ["vmA", 3, 1, 1, 2, 0],
      ["vmB", 2, 0, 0, 2, 1],
    ],
  );
});

test("smmuv3 (per-device substreams): the quota counts over the VM's devices' SSIDs together; the same SSID on two devices", () => {
  const s = setup("smmuv3", [], { vms: [{ name: "vmA", quota: 3, devices: [GPU, NIC0] }, { name: "vmB" }], pasidSpace: { policy: "per-device" } });
  const r = run(s.p, s.layer, ["pasid-alloc vmA 00:02.0", "pasid-alloc vmA 03:00.0", "pasid-alloc vmA 00:02.0", "pasid-alloc vmA 03:00.0", "pasid-alloc vmA", "pasid-alloc vmB 00:02.0", "pasid-free vmA 1 03:00.0", "pasid-alloc vmA 03:00.0"].join("\n"));
  assert.equal(r.lines, [
    '1: {"vm":"vmA","pasid":1}',
    '2: {"vm":"vmA","pasid":1}', // 03:00.0's own space: SSID 1 again
    '3: {"vm":"vmA","pasid":2}',
    '4: refused: pasid-alloc vmA 03:00.0: VM "vmA" holds 3 PASIDs and its quota is 3: it allocates again after freeing one', // 2 + 1 over two devices
    '5: refused: pasid-alloc vmA: PASIDs are per device (pasidSpace.policy "per-device": SMMUv3 substreams): name the device whose SubstreamID to allocate',
    '6: refused: pasid-alloc vmB 00:02.0: 00:02.0 does not serve VM "vmB" (it serves VM "vmA")',
    '7: {"vm":"vmA","pasid":1,"torndown":0}',
    '8: {"vm":"vmA","pasid":1}',
  ]);
});

/** VT-d descriptor type (spec 6.5.2: qw0 bits 3:0 and 11:9). */
const typeOf = (qw0: bigint) => Number((qw0 & 0xfn) | (((qw0 >> 9n) & 7n) << 4n));

test("vtd: freeing an attached PASID clears its PASID-table entry, then PASID cache, IOTLB (second stage: domain-selective), device-TLB, each with its wait; the PASID then faults SPT.2", () => {
  const p = createPlatform("vtd", { build: "debug" });
  const b = p.builder;
  for (const d of [1, 2]) b.map(b.createDomain({ id: d, type: "ss" }), IOVA, paOf(d), 0x1000n);
  b.attach({ sid: GPU, domain: 1, ats: true }); // ATS on in its context entry (DTE)
  p.enable();
  // 00:02.0 assigned to vmA (bound to vfio: blocked), then attached again.
  const layer = new IommuLayer(p.createDriver(), [], [], [], { vms: [{ name: "vmA", devices: [GPU] }], pasidSpace: { policy: "system" } });
  const first = run(p, layer, ["attach 00:02.0 domain=1", "pasid-alloc vmA", "attach 00:02.0 pasid=1 domain=2", rd("00:02.0", 1)].join("\n"));
  assert.equal(first.outcomes, ["ok 2"]);
  const iqa = p.core.readRegister("IQA");
  const base = iqa & ~0xfffn;
  const step = iqa & (1n << 11n) ? 32n : 16n;
  const tail0 = p.core.readRegister("IQT");
  const r = run(p, layer, ["pasid-free vmA 1", rd("00:02.0", 1), rd("00:02.0")].join("\n"));
  assert.equal(r.lines, ['1: {"vm":"vmA","pasid":1,"torndown":1}']);
  const types: number[] = [];
  for (let at = tail0; at !== p.core.readRegister("IQT"); at += step) types.push(typeOf(p.core.read64(base + at)!));
  // 7 PASID-cache, 5 wait, 2 IOTLB (domain 2 is second stage: its entries are tagged by DID), 5, 8 PASID-based device-TLB (ATS on), 5.
  assert.equal(types, [7, 5, 2, 5, 8, 5]);
  // SPT.2 (0x59, VT-d spec 7.1.3: PASID-table entry not present); without a PASID: still domain 1.
  assert.equal(r.outcomes, ["fault SPT.2", "ok 1"]);
  assert.is(layer.attachedDomain(GPU, 1), undefined);
});

test("smmuv3: freeing an attached PASID clears its CD, then CFGI_CD + SYNC, TLBI_NH_ASID + SYNC, ATC_INV + SYNC; the SSID then faults C_BAD_CD", () => {
  const p = createPlatform("smmuv3", { build: "debug" });
  const b = p.builder;
  for (const d of [1, 2]) b.map(b.createDomain({ id: d, type: "s1" }), { iova: IOVA, pa: paOf(d), size: 0x1000n });
  b.attach({ sid: GPU, domain: 1, ssidBits: 4, ats: true }); // the stream's ATS (STE.EATS) is set when the stream is made
  p.enable();
  const driver = p.createDriver() as SmmuDriver;
  // 00:02.0 assigned to vmA (bound to vfio: blocked), then attached again; per-device SSIDs.
  const layer = new IommuLayer(driver, [], [], [], { vms: [{ name: "vmA", devices: [GPU] }], pasidSpace: { policy: "per-device" } });
  const first = run(p, layer, ["attach 00:02.0 domain=1 ats", "pasid-alloc vmA 00:02.0", "attach 00:02.0 pasid=1 domain=2", rd("00:02.0", 1)].join("\n"));
  assert.equal(first.outcomes, ["ok 2"]);
  const seen = driver.issued.length;
  const asid = b.domains.get(2)!.asid!;
  const r = run(p, layer, ["pasid-free vmA 1 00:02.0", rd("00:02.0", 1), rd("00:02.0")].join("\n"));
  assert.equal(r.lines, ['1: {"vm":"vmA","pasid":1,"torndown":1}']);
  const cmds = driver.issued.slice(seen).map((c) => c.name);
  assert.equal(cmds, ["CMD_CFGI_CD", "CMD_SYNC", "CMD_TLBI_NH_ASID", "CMD_SYNC", "CMD_ATC_INV", "CMD_SYNC"]);
  // TLBI_NH_ASID names domain 2's ASID (q0 bits 63:48, spec 4.4.2); CFGI_CD names SSID 1 (q0 bits 31:12, spec 4.3.2).
  const issued = driver.issued.slice(seen);
  assert.is(Number(issued[2]!.q0 >> 48n), asid);
  assert.is(Number((issued[0]!.q0 >> 12n) & 0xfffffn), 1);
  // C_BAD_CD (0x0a, SMMUv3 spec 7.3.11: the CD's V is 0); the stream's own domain is untouched.
  assert.equal(r.outcomes, ["fault C_BAD_CD", "ok 1"]);
});

test("smmuv3 (per-device): a device's space is its stream's SubstreamIDs: 4 bits (STE.S1CDMax 4) hold 15 allocatable SSIDs", () => {
  // The harness makes the streams with ssidBits 4: SSIDs 0..15, 0 reserved.
  const s = setup("smmuv3", [], { vms: [{ name: "vmA", devices: [GPU] }], pasidSpace: { policy: "per-device" } });
  const r = run(s.p, s.layer, Array.from({ length: 16 }, () => "pasid-alloc vmA 00:02.0").join("\n"));
  assert.equal(r.lines.slice(0, 15), Array.from({ length: 15 }, (_, i) => `${i + 1}: {"vm":"vmA","pasid":${i + 1}}`));
  assert.equal(r.lines.slice(15), ["16: refused: pasid-alloc vmA 00:02.0: the substream space of 00:02.0 is exhausted: all 15 allocatable SSIDs are allocated (4-bit space; SSID 0 reserved)"]);
  assert.is(s.layer.vms.counts()[0]!.refusedExhausted, 1);
});

for (const unit of ["vtd", "smmuv3"] as const) {
  test(`${unit}: a PASID is attached only on a device that serves its VM`, () => {
    const s = setup(unit, [], { vms: [{ name: "vmA", devices: [GPU] }, { name: "vmB", devices: [NIC0] }], pasidSpace: { policy: "system" } });
    const r = run(s.p, s.layer, ["pasid-alloc vmA", "attach 03:00.0 pasid=1 domain=2", "attach 00:02.0 pasid=1 domain=2", rd("00:02.0", 1)].join("\n"));
    assert.equal(r.lines, ['1: {"vm":"vmA","pasid":1}', '2: refused: attach 03:00.0 pasid=1 domain=2: PASID 1 belongs to VM "vmA" and 03:00.0 does not serve it (it serves VM "vmB")']);
    assert.equal(r.outcomes, ["ok 2"]);
    assert.is(s.layer.vmOf(GPU), "vmA");
    assert.is(s.layer.vmOf(NIC0), "vmB");
    assert.is(s.layer.vmOf(NIC1), undefined);
  });

  test(`${unit}: mediated devices of a parent in a non-singleton group: refused for a second VM, allowed when the whole group goes to one VM`, () => {
    const s = setup(unit, [], { vms: [{ name: "vmA" }, { name: "vmB" }], pasidSpace: { policy: "system" } });
    const r = run(
      s.p,
      s.layer,
      [
        "bind 03:00.0 vfio", //                 the parent, in user space (vfio-mdev-pci), no VM of its own
        "mdev 03:00.0 vm=vmA",
        "mdev 03:00.0 vm=vmA", //               a second mediated device for vmA
        "mdev 03:00.0 vm=vmB", //               its own group would serve two VMs
        "bind 03:00.1 vfio vm=vmB", //          the other function for vmB: refused the same way
        "bind 03:00.1 vfio vm=vmA", //          the whole group to vmA: allowed
        "pasid-alloc vmA 03:00.0",
        "attach 03:00.0 pasid=1 domain=2", //   the mediated device's address space, PASID-granular
        "pasid-alloc vmA",
        "attach 03:00.0 pasid=2 domain=3", //   a second mediated address space on the same device
        rd("03:00.0", 1),
        rd("03:00.0", 2),
        "mdev 00:02.0 vm=vmB", //               00:02.0 is bound to nothing
        "unbind 03:00.1",
        "unbind 03:00.0", //                    the parent goes: its mediated devices with it
        "bind 03:00.1 vfio vm=vmB", //          the group serves no VM any more
      ].join("\n"),
    );
    assert.equal(r.lines, [
      '2: {"vm":"vmA","mdevs":1}',
      '3: {"vm":"vmA","mdevs":2}',
      '4: refused: mdev 03:00.0 vm=vmB: group 4 (02:01.0, 03:00.0, 03:00.1) has 03:00.0, which serves VM "vmA" through a mediated device; the devices of a group share one domain, so the whole group goes to one VM',
      '5: refused: bind 03:00.1 vfio vm=vmB: group 4 (02:01.0, 03:00.0, 03:00.1) has 03:00.0, which serves VM "vmA" through a mediated device; the devices of a group share one domain, so the whole group goes to one VM',
      '7: {"vm":"vmA","pasid":1}',
      '9: {"vm":"vmA","pasid":2}',
      "13: refused: mdev 00:02.0 vm=vmB: the parent 00:02.0 is not bound; bind it to vfio (without vm=) to serve mediated devices",
    ]);
    assert.equal(r.outcomes, ["ok 2", "ok 3"]);
    assert.is(s.layer.vmOf(NIC1), "vmB");
  });
}

for (const unit of ["vtd", "smmuv3"] as const) {
  test(`${unit}: mdev-remove: one mediated device at a time; with vmA's last one gone its PASID on the parent is detached (the allocation stays vmA's) and vmB may take the group`, () => {
    const s = setup(unit, [], { vms: [{ name: "vmA" }, { name: "vmB" }], pasidSpace: { policy: "system" } });
    const r = run(
      s.p,
      s.layer,
      [
        "bind 03:00.0 vfio", //                  1: the parent (vfio-mdev-pci)
        "mdev 03:00.0 vm=vmA", //                2
        "mdev 03:00.0 vm=vmA", //                3
        "mdev 03:00.0 vm=vmB", //                4: refused, the group serves vmA
        "pasid-alloc vmA", //                    5: PASID 1
        "attach 03:00.0 pasid=1 domain=2", //    6: a mediated device's address space
        rd("03:00.0", 1), //                     TLP 1: domain 2
        "mdev-remove 03:00.0 vm=vmB", //         8: refused, no mediated device of vmB
        "mdev-remove 03:00.0 vm=vmA", //         9: one of vmA's two goes: 03:00.0 still serves vmA
        rd("03:00.0", 1), //                     TLP 2: domain 2 still
        "mdev 03:00.0 vm=vmB", //                11: still refused
        "mdev-remove 03:00.0 vm=vmA", //         12: vmA's last: its PASID 1 on 03:00.0 detached
        rd("03:00.0", 1), //                     TLP 3: the PASID's entry is gone
        "mdev 03:00.0 vm=vmB", //                14: allowed now
        "bind 03:00.1 vfio vm=vmB", //           15: the whole group serves vmB
        "mdev-remove 03:00.0 vm=vmA", //         16: refused, vmA has none left
        "mdev-remove 03:00.0 vm=vmC", //         17: refused, no such VM
        "pasid-free vmA 1", //                   18: vmA still holds PASID 1; nothing attached to tear down
      ].join("\n"),
    );
    const group4 = "group 4 (02:01.0, 03:00.0, 03:00.1) has 03:00.0, which serves VM \"vmA\" through a mediated device; the devices of a group share one domain, so the whole group goes to one VM";
    assert.equal(r.lines, [
      '2: {"vm":"vmA","mdevs":1}',
      '3: {"vm":"vmA","mdevs":2}',
      `4: refused: mdev 03:00.0 vm=vmB: ${group4}`,
      '5: {"vm":"vmA","pasid":1}',
      '8: refused: mdev-remove 03:00.0 vm=vmB: 03:00.0 has no mediated device of VM "vmB" (it has 2 of VM "vmA")',
      '9: {"vm":"vmA","mdevs":1,"detached":0}',
      `11: refused: mdev 03:00.0 vm=vmB: ${group4}`,
      '12: {"vm":"vmA","mdevs":0,"detached":1}',
      '14: {"vm":"vmB","mdevs":1}',
      '16: refused: mdev-remove 03:00.0 vm=vmA: 03:00.0 has no mediated device of VM "vmA" (it has 1 of VM "vmB")',
      '17: refused: mdev-remove 03:00.0 vm=vmC: no VM "vmC" (VMs: "vmA", "vmB")',
      '18: {"vm":"vmA","pasid":1,"torndown":0}',
    ]);
    // TLP 3: the group has no domain of its own (user-owned, blocked), so the core's result, the
    // unit's blocking form, is reported `blocked`: VT-d SPT.2 (0x59, the PASID-table entry not
    // present); SMMUv3 the abort STE (the blocked stream's last substream gone, its CD table with it).
    assert.equal(r.outcomes, ["ok 2", "ok 2", "blocked"]);
    assert.is(outcome(s.p.translateOne({ op: "MRd", sid: NIC0, pasid: 1, addr: IOVA })), unit === "vtd" ? "fault SPT.2" : "abort");
    assert.equal(s.layer.vms.vmsOf(NIC0), ["vmB"]);
    assert.is(s.layer.vmOf(NIC1), "vmB");
  });

  test(`${unit}: a system-space PASID attached on two devices of its VM: one free tears both down`, () => {
    const s = setup(unit, [], { vms: [{ name: "vmA", devices: [GPU, NIC0] }], pasidSpace: { policy: "system" } });
    const r = run(
      s.p,
      s.layer,
      ["attach 00:02.0 domain=1", "attach 03:00.0 domain=1", "pasid-alloc vmA", "attach 00:02.0 pasid=1 domain=2", "attach 03:00.0 pasid=1 domain=3", rd("00:02.0", 1), rd("03:00.0", 1), "pasid-free vmA 1", rd("00:02.0", 1), rd("03:00.0", 1), rd("03:00.0")].join("\n"),
    );
    assert.equal(r.lines, ['3: {"vm":"vmA","pasid":1}', '8: {"vm":"vmA","pasid":1,"torndown":2}']);
    // VT-d: SPT.2 (0x59, PASID-table entry not present); SMMUv3: C_BAD_CD (0x0a, CD.V=0). Without a PASID: domain 1.
    const gone = unit === "vtd" ? "fault SPT.2" : "fault C_BAD_CD";
    assert.equal(r.outcomes, ["ok 2", "ok 3", gone, gone, "ok 1"]);
  });
}

test("a quota lowered below the count keeps every PASID and refuses until the count is below it", () => {
  const s = setup("vtd", [], { vms: [{ name: "vmA" }], pasidSpace: { policy: "system" } });
  const r = run(s.p, s.layer, ["pasid-alloc vmA", "pasid-alloc vmA", "pasid-alloc vmA", "quota vmA 1", "pasid-alloc vmA", "pasid-free vmA 3", "pasid-free vmA 2", "pasid-alloc vmA", "quota vmB 1"].join("\n"));
  assert.equal(r.lines, [
    '1: {"vm":"vmA","pasid":1}',
    '2: {"vm":"vmA","pasid":2}',
    '3: {"vm":"vmA","pasid":3}',
    '4: {"vm":"vmA","quota":1,"over":2}', // holds 3, quota 1: 2 over
    '5: refused: pasid-alloc vmA: VM "vmA" holds 3 PASIDs and its quota is 1 (lowered below its count at run time; the PASIDs it holds are kept): it allocates again after freeing 3',
    '6: {"vm":"vmA","pasid":3,"torndown":0}',
    '7: {"vm":"vmA","pasid":2,"torndown":0}',
    '8: refused: pasid-alloc vmA: VM "vmA" holds 1 PASID and its quota is 1: it allocates again after freeing one',
    '9: refused: quota vmB 1: no VM "vmB" (VMs: "vmA")',
  ]);
});

test.run();
