/**
 * VMs through the CLI (README "VMs, PASID allocation and mediated devices"): the bundled examples
 * examples/pasid-quota (VT-d, system PASID space) and examples/mdev (SMMUv3, a parent in a
 * non-singleton group) replayed by `run --results --refusals results --report`, and the scenario
 * keys `vms` and `pasidSpace` validated with located errors.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, "bin/iommu-emu.mjs"), ...args], { cwd: root, encoding: "utf8" });
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-vm-pasid-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const replayed = (example: string) => {
  const out = join(dir, `${example}.jsonl`);
  const report = join(dir, `${example}.json`);
  const r = cli("run", `examples/${example}/scenario.json`, "--results", out, "--report", report, "--refusals", "results");
  assert.is(r.status, 0, r.stderr);
  const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stdout: r.stdout, lines, report: JSON.parse(readFileSync(report, "utf8")) as { vms?: Record<string, unknown>[]; wbinvd?: { vm: string; devices: string[] }[] } };
};

test("examples/pasid-quota: PASIDs 1-3, the fourth refused by the quota, the freed PASID's TLP faults SPT.2, quota raised at run time", () => {
  const { stdout, lines, report } = replayed("pasid-quota");
  // The trace starts on line 21 of the scenario ("trace": [ is line 20).
  assert.equal(
    lines.map((l) => [l.line, l.event ?? l.bdf, l.status, l.pasid ?? l.pa ?? l.reason ?? l.quota]),
    [
      [22, "pasid-alloc", "ok", 1], // PASID 0 is reserved (requests without a PASID): 1 is the lowest
      [23, "pasid-alloc", "ok", 2],
      [24, "pasid-alloc", "ok", 3],
      [25, "pasid-alloc", "refused", 'pasid-alloc vm1: VM "vm1" holds 3 PASIDs and its quota is 3: it allocates again after freeing one'],
      [27, "00:02.0", "ok", 1], // pasid 1 (domain 2 -> 0x82000000); the pasid field comes first
      [28, "pasid-free", "ok", 1],
      [29, "00:02.0", "fault", 1],
      [30, "00:02.0", "ok", "0x81000000"], // without a PASID: domain 1
      [31, "pasid-alloc", "ok", 1], // the lowest free again
      [32, "quota", "ok", 5],
      [33, "pasid-alloc", "ok", 4],
    ],
  );
  assert.is(lines[4]!.pa, "0x82000000");
  assert.equal(lines[5]!.torndown, 1);
  assert.equal(lines[6]!.fault, { code: 0x59, name: "SPT.2", recorded: true }); // VT-d spec 7.1.3: PASID-table entry not present
  // Teardown: PASID cache + wait, domain-selective IOTLB (second stage) + wait = 4 descriptors; the
  // vfio claim's blocking (context-cache and IOTLB, one wait) 3 more: 7 in all.
  assert.match(stdout, /queued descriptors\s+7\n/);
  // vm1: allocated 1, 2, 3, 1, 4 (5), refused 1 (quota), freed 1, holds 4, quota 5 at the end.
  assert.match(stdout, /PASIDs per VM:\n {2}vm1: 5 allocated, 1 refused \(1 over quota\), 1 freed, 4 held, quota 5\n/);
  // vm1 owns 00:02.0 whole (the scenario's vms[0].devices) and has no mediated device.
  assert.equal(report.vms, [{ vm: "vm1", quota: 5, allocated: 4, allocations: 5, frees: 1, refusedQuota: 1, refusedExhausted: 0, refusedFree: 0, devices: ["00:02.0"], mdevs: [] }]);
});

const GROUP = "group 2 (02:01.0, 03:00.0, 03:00.1)";

test("examples/mdev: two mediated devices of vmA on SubstreamIDs 1 and 2; vmB refused twice; the whole group to vmA; vmA's mediated devices removed, then vmB's allowed", () => {
  const { lines, report } = replayed("mdev");
  const why = `${GROUP} has 03:00.0, which serves VM "vmA" through a mediated device; the devices of a group share one domain, so the whole group goes to one VM`;
  assert.equal(
    lines.map((l) => [l.line, l.event ?? l.bdf, l.status, l.pa ?? l.reason ?? l.pasid ?? l.mdevs]),
    [
      [23, "mdev", "ok", 1],
      [24, "mdev", "ok", 2],
      [25, "pasid-alloc", "ok", 1], // 03:00.0's substream space
      [26, "pasid-alloc", "ok", 2],
      [29, "03:00.0", "ok", "0x81000000"], // SubstreamID 1: domain 1
      [30, "03:00.0", "ok", "0x82000000"], // SubstreamID 2: domain 2
      [31, "bind", "refused", `bind 03:00.1 vfio vm=vmB: ${why}`],
      [32, "mdev", "refused", `mdev 03:00.0 vm=vmB: ${why}`],
      [34, "03:00.0", "blocked", undefined], // nothing attached to the device itself
      [36, "mdev-remove", "ok", 1], // after unbind 03:00.1 (35): one of vmA's two left
      [37, "mdev", "refused", `mdev 03:00.0 vm=vmB: ${why}`],
      [38, "mdev-remove", "ok", 0], // vmA's last: SubstreamIDs 1 and 2 detached
      [39, "03:00.0", "blocked", 1], // SubstreamID 1 (the pasid field): its CD is gone, the stream itself is blocked
      [40, "mdev", "ok", 1], // the group serves no VM: vmB's first mediated device
    ],
  );
  assert.equal([lines[9]!.detached, lines[11]!.detached], [0, 2]);
  assert.equal(
    report.vms!.map((v) => [v.vm, v.allocations, v.allocated, v.devices, v.mdevs]),
    [
      // vmA: 03:00.1 (bound at 33) unbound at 35, its two mediated devices (23, 24) removed at 36 and 38,
      // its SSIDs 1 and 2 still allocated; vmB: the mediated device of line 40
      ["vmA", 2, 2, [], []],
      ["vmB", 0, 0, [], [{ parent: "03:00.0", count: 1 }]],
    ],
  );
  // The wbinvd report goes by VM: the TLPs of lines 29 and 30 carry vmA's SubstreamIDs (a mediated
  // device's DMA) and count for vmA; line 34's, without one, for the vfio-owned group of the
  // parent, which serves no VM of its own; line 39's SubstreamID 1 is still vmA's.
  assert.equal(
    report.wbinvd!.map((v) => [v.vm, v.devices]),
    [
      ["vmA", ["03:00.0"]],
      [GROUP, ["03:00.0"]],
    ],
  );
});

const scenario = (vms: unknown, extra = "") =>
  `{\n  "arch": "vtd",\n  "topology": [\n    { "bdf": "00:1c.0", "type": "root-port" },\n    { "bdf": "01:00.0", "type": "endpoint", "parent": "00:1c.0" },\n    { "bdf": "01:00.1", "type": "endpoint", "parent": "00:1c.0" }\n  ],\n  "vms": [\n${(vms as unknown[]).map((d) => `    ${JSON.stringify(d)}`).join(",\n")}\n  ],${extra}\n  "trace": []\n}\n`;

test("vms: two VMs in one group, a device twice, a bad quota, a bad pasidSpace: errors at the key", () => {
  const f = join(dir, "bad.json");
  writeFileSync(f, scenario([{ name: "a", devices: ["01:00.0"] }, { name: "b", devices: ["01:00.1"] }]));
  let r = cli("run", f);
  assert.is(r.status, 2);
  // Line 10 is vms[1]; its devices[0] value starts at column 28 (4 spaces and the 23 characters {"name":"b","devices":[ before it).
  assert.is(
    r.stderr.trim(),
    `iommu-emu: ${f}:10:28: vms[1].devices[0]: bind 01:00.1 vfio vm=b: group 0 (00:1c.0, 01:00.0, 01:00.1) has 01:00.0, which is assigned to VM "a"; the devices of a group share one domain, so the whole group goes to one VM`,
  );
  writeFileSync(f, scenario([{ name: "a", devices: ["01:00.0"] }, { name: "b", devices: ["01:00.0"] }]));
  r = cli("run", f);
  assert.is(r.stderr.trim(), `iommu-emu: ${f}:10:28: vms[1].devices[0]: 01:00.0 is already a device of VM "a" (vms[0])`);
  writeFileSync(f, scenario([{ name: "a", quota: -1 }]));
  r = cli("run", f);
  // 4 spaces and the 20 characters {"name":"a","quota": -> column 25.
  assert.is(r.stderr.trim(), `iommu-emu: ${f}:9:25: vms[0].quota: expected a quota (PASIDs the VM may hold at once): an integer 0..1048576`);
  writeFileSync(f, scenario([{ name: "a" }], '\n  "pasidSpace": { "policy": "global" },'));
  r = cli("run", f);
  // 2 spaces and the 26 characters "pasidSpace": { "policy":  -> column 29.
  assert.is(r.stderr.trim(), `iommu-emu: ${f}:11:29: pasidSpace.policy: expected "system", "per-device"`);
});

test.run();
