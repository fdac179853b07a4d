/**
 * src/iommu/pasid.ts: the PASID space (system-wide or per device), per-VM quotas changed at run
 * time, the exact refusals and their counts. Every expected PASID follows from lowest-free
 * allocation (ida_alloc_range) over the PASIDs the test has taken so far. The teardown of a freed
 * PASID that is still attached is each architecture's: test/arch/vtd and test/arch/smmuv3
 * pasid-teardown.test.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PasidAllocator } from "../../src/iommu/pasid.ts";

/** The PASID of an allocation that must succeed. */
function pasidOf(r: ReturnType<PasidAllocator["allocate"]>): number {
  if (!r.ok) throw new Error(`refused: ${r.reason}`);
  return r.pasid;
}

test("system space: lowest free PASID from 1, shared by the VMs; a freed PASID is the next one handed out", () => {
  const a = new PasidAllocator({ vms: [{ name: "vm1", quota: 3 }, { name: "vm2" }] });
  assert.equal([1, 2, 3].map(() => pasidOf(a.allocate("vm1"))), [1, 2, 3]);
  assert.is(pasidOf(a.allocate("vm2")), 4); // 1-3 are vm1's
  assert.equal(a.free("vm1", 2), { ok: true });
  assert.is(pasidOf(a.allocate("vm2")), 2); // the lowest free again
  assert.is(a.ownerOf(2), "vm2");
  assert.is(a.ownerOf(3), "vm1");
  assert.is(a.ownerOf(5), undefined);
  assert.is(a.countsOf("vm2")!.quota, 1000); // the default quota
});

test("quota exceeded: refused with the VM, its quota and its count, and counted per VM", () => {
  const a = new PasidAllocator({ vms: [{ name: "vm1", quota: 3 }, { name: "vm2", quota: 1 }] });
  for (let i = 0; i < 3; i++) a.allocate("vm1");
  assert.equal(a.allocate("vm1"), { ok: false, kind: "quota", reason: 'VM "vm1" holds 3 PASIDs and its quota is 3: it allocates again after freeing one' });
  assert.equal(a.allocate("vm1"), { ok: false, kind: "quota", reason: 'VM "vm1" holds 3 PASIDs and its quota is 3: it allocates again after freeing one' });
  assert.is(pasidOf(a.allocate("vm2")), 4);
  assert.equal(a.allocate("vm2"), { ok: false, kind: "quota", reason: 'VM "vm2" holds 1 PASID and its quota is 1: it allocates again after freeing one' });
  // a quota of 0: the VM may hold none
  a.addVm("vm3", 0);
  assert.equal(a.allocate("vm3"), { ok: false, kind: "quota", reason: 'VM "vm3" holds 0 PASIDs and its quota is 0: it allocates again after freeing one' });
  assert.equal(a.counts(), [
    { vm: "vm1", quota: 3, allocated: 3, allocations: 3, frees: 0, refusedQuota: 2, refusedExhausted: 0, refusedFree: 0 },
    { vm: "vm2", quota: 1, allocated: 1, allocations: 1, frees: 0, refusedQuota: 1, refusedExhausted: 0, refusedFree: 0 },
    { vm: "vm3", quota: 0, allocated: 0, allocations: 0, frees: 0, refusedQuota: 1, refusedExhausted: 0, refusedFree: 0 },
  ]);
});

test("quota changed at run time: lowered below the count keeps every PASID and refuses until the count is below it", () => {
  const a = new PasidAllocator({ vms: [{ name: "a", quota: 5 }] });
  for (let i = 0; i < 5; i++) a.allocate("a"); // PASIDs 1-5
  assert.equal(a.setQuota("a", 2), { ok: true, over: 3 }); // holds 5, quota 2: 3 beyond it
  assert.equal([1, 2, 3, 4, 5].map((p) => a.ownerOf(p)), ["a", "a", "a", "a", "a"]); // nothing revoked
  // 5 held, quota 2: it must free 5 - 2 + 1 = 4 before it may allocate
  assert.equal(a.allocate("a"), {
    ok: false,
    kind: "quota",
    reason: 'VM "a" holds 5 PASIDs and its quota is 2 (lowered below its count at run time; the PASIDs it holds are kept): it allocates again after freeing 4',
  });
  for (const p of [1, 2, 3]) assert.ok(a.free("a", p).ok);
  // 2 held, quota 2: at the quota, not over it
  assert.equal(a.allocate("a"), { ok: false, kind: "quota", reason: 'VM "a" holds 2 PASIDs and its quota is 2: it allocates again after freeing one' });
  assert.ok(a.free("a", 4).ok);
  assert.is(pasidOf(a.allocate("a")), 1); // 1 held (PASID 5), quota 2: allowed, lowest free is 1
  assert.equal(a.setQuota("a", 10), { ok: true, over: 0 });
  assert.is(pasidOf(a.allocate("a")), 2);
  assert.equal(a.countsOf("a"), { vm: "a", quota: 10, allocated: 3, allocations: 7, frees: 4, refusedQuota: 2, refusedExhausted: 0, refusedFree: 0 });
  assert.equal(a.setQuota("b", 1), { ok: false, kind: "unknown-vm", reason: 'no VM "b" (VMs: "a")' });
});

test("free refusals: another VM's PASID, one not allocated, PASID 0, out of range, an unknown VM; each counted for the VM", () => {
  const a = new PasidAllocator({ vms: [{ name: "vm1" }, { name: "vm2" }] });
  assert.is(pasidOf(a.allocate("vm1")), 1);
  assert.equal(a.free("vm2", 1), { ok: false, kind: "not-owner", reason: 'PASID 1 belongs to VM "vm1", not to VM "vm2"' });
  assert.equal(a.free("vm2", 2), { ok: false, kind: "not-allocated", reason: "PASID 2 is not allocated" });
  assert.equal(a.free("vm2", 0), { ok: false, kind: "not-allocated", reason: "PASID 0 is reserved (requests without a PASID use it): it is never allocated" });
  assert.equal(a.free("vm2", 0x100000), { ok: false, kind: "not-allocated", reason: "PASID 1048576 is out of range: the 20-bit space holds 0..1048575" });
  assert.equal(a.free("vm9", 1), { ok: false, kind: "unknown-vm", reason: 'no VM "vm9" (VMs: "vm1", "vm2")' });
  assert.equal(a.allocate("vm9"), { ok: false, kind: "unknown-vm", reason: 'no VM "vm9" (VMs: "vm1", "vm2")' });
  assert.is(a.ownerOf(1), "vm1"); // the refused free left it alone
  assert.is(a.countsOf("vm2")!.refusedFree, 4);
  assert.is(a.countsOf("vm1")!.refusedFree, 0);
  assert.equal(new PasidAllocator().allocate("x"), { ok: false, kind: "unknown-vm", reason: 'no VM "x" (no VMs are defined)' });
});

test("space exhausted: a 3-bit space has 7 allocatable PASIDs (0 reserved), 6 with RID_PASID 5 reserved too", () => {
  const a = new PasidAllocator({ bits: 3, vms: [{ name: "v" }] });
  assert.equal([1, 2, 3, 4, 5, 6, 7].map(() => pasidOf(a.allocate("v"))), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(a.allocate("v"), { ok: false, kind: "exhausted", reason: "the system PASID space is exhausted: all 7 allocatable PASIDs are allocated (3-bit space; PASID 0 reserved)" });
  assert.ok(a.free("v", 6).ok);
  assert.is(pasidOf(a.allocate("v")), 6);

  const r = new PasidAllocator({ bits: 3, ridPasid: 5, vms: [{ name: "v" }] });
  assert.equal([1, 2, 3, 4, 5, 6].map(() => pasidOf(r.allocate("v"))), [1, 2, 3, 4, 6, 7]); // 5 is skipped
  assert.equal(r.allocate("v"), {
    ok: false,
    kind: "exhausted",
    reason: "the system PASID space is exhausted: all 6 allocatable PASIDs are allocated (3-bit space; PASID 0 and RID_PASID 5 reserved)",
  });
  assert.equal(r.free("v", 5), { ok: false, kind: "not-allocated", reason: "PASID 5 is reserved (the RID_PASID): it is never allocated" });
  assert.equal(r.countsOf("v"), { vm: "v", quota: 1000, allocated: 6, allocations: 6, frees: 0, refusedQuota: 0, refusedExhausted: 1, refusedFree: 1 });
});

test("the full 20-bit space: 2^20 - 1 = 1048575 PASIDs, the last 0xfffff, then exhausted", () => {
  const a = new PasidAllocator({ vms: [{ name: "big", quota: 1 << 20 }] });
  let last = 0;
  for (let i = 0; i < 0xfffff; i++) last = pasidOf(a.allocate("big"));
  assert.is(last, 0xfffff);
  assert.equal(a.allocate("big"), { ok: false, kind: "exhausted", reason: "the system PASID space is exhausted: all 1048575 allocatable PASIDs are allocated (20-bit space; PASID 0 reserved)" });
});

test("per-device policy: each device's substreams are a space of their own; the quota counts a VM's substreams over all its devices", () => {
  const A = 0x300, B = 0x400; // 03:00.0 with SSIDSIZE 2 (SSIDs 0-3), 04:00.0 with the default 20 bits
  const a = new PasidAllocator({ policy: "per-device", deviceBits: new Map([[A, 2]]), vms: [{ name: "vm1", quota: 3 }, { name: "vm2" }] });
  assert.is(pasidOf(a.allocate("vm1", A)), 1);
  assert.is(pasidOf(a.allocate("vm1", B)), 1); // the same number on another device
  assert.is(pasidOf(a.allocate("vm1", A)), 2);
  // 2 on A + 1 on B = 3 = the quota
  assert.equal(a.allocate("vm1", B), { ok: false, kind: "quota", reason: 'VM "vm1" holds 3 PASIDs and its quota is 3: it allocates again after freeing one' });
  assert.is(pasidOf(a.allocate("vm2", A)), 3); // the last SSID of A's 2-bit space
  assert.equal(a.allocate("vm2", A), { ok: false, kind: "exhausted", reason: "the substream space of 03:00.0 is exhausted: all 3 allocatable SSIDs are allocated (2-bit space; SSID 0 reserved)" });
  assert.is(pasidOf(a.allocate("vm2", B)), 2); // B still has room
  assert.equal(a.free("vm2", 1, { device: A }), { ok: false, kind: "not-owner", reason: 'SSID 1 of 03:00.0 belongs to VM "vm1", not to VM "vm2"' });
  assert.equal(a.free("vm2", 4, { device: A }), { ok: false, kind: "not-allocated", reason: "SSID 4 of 03:00.0 is out of range: the 2-bit space holds 0..3" });
  assert.ok(a.free("vm1", 1, { device: B }).ok);
  assert.is(a.ownerOf(1, B), undefined);
  assert.is(a.ownerOf(1, A), "vm1"); // A's SSID 1 is another PASID
  assert.throws(() => a.allocate("vm1"), /per-device PASIDs: allocate needs the device whose substream space it is/);
  assert.throws(() => new PasidAllocator({ policy: "per-device", ridPasid: 2 }), /ridPasid is VT-d's, for the system space only/);
});

test("free frees the number only: what is still attached is the unit driver's to tear down (test/arch/*/pasid-teardown.test.ts)", () => {
  const a = new PasidAllocator({ policy: "per-device", vms: [{ name: "vm1" }] });
  const ssid = pasidOf(a.allocate("vm1", 0x300));
  assert.equal(a.free("vm1", ssid, { device: 0x300 }), { ok: true });
  assert.is(a.ownerOf(1, 0x300), undefined);
  assert.is(pasidOf(a.allocate("vm1", 0x300)), 1); // lowest free again
});

test.run();
