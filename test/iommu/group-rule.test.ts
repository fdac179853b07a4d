/**
 * src/iommu/groups.ts, the rule "pcie-switch-groups-v3" (Jason Gunthorpe's "Fix incorrect
 * iommu_groups with PCIe ACS", v3, 5 Sep 2025) beside Linux 6.12's. The topologies are the series'
 * own examples (cover letter, commit messages of patches 03 and 06); each expected group and why is
 * worked out by hand from the rule's steps in the kernel's probe order (each bus's devices in devfn
 * order, then each bridge's secondary bus): the group of the bridge above when that group is shared
 * by everything below it, else by the isolation of the device's bus.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { computeGroups } from "../../src/iommu/groups.ts";
import { topologySchema } from "../../src/iommu/topology.ts";
import type { GroupRule } from "../../src/iommu/types.ts";
import { InputError } from "../../src/errors.ts";
import { loadScenario, parseScenario } from "../../src/scenario.ts";
import { formatBdf } from "../../src/trace/events.ts";
import { issueExample, scenarioText } from "./topology-fixtures.ts";
import { setup } from "./harness.ts";

const groups = (entries: readonly unknown[], rule: GroupRule) =>
  computeGroups(topologySchema.parse(entries), rule).map((g) => ({ id: g.id, devices: g.devices.map(formatBdf), why: g.why }));
const V3 = "pcie-switch-groups-v3";
const L612 = "linux-6.12";
const alone = (bdf: string) => `${bdf} is alone: no other device shares its requester ID or reaches it without ACS isolation`;
const singletons = (bdfs: string[]) => bdfs.map((d, id) => ({ id, devices: [d], why: alone(d) }));
const FULL = ["SV", "RR", "CR", "UF"];
const NONE = "lacks ACS SV, RR, CR and UF";

/** The cover letter's switch: Root 00:00.0 -> USP 01:00.0 -> DSP 02:00.0 -> A (03:00.0), DSP 02:03.0 -> B (04:00.0). */
const coverSwitch = (dsp0: string[] | undefined, dsp3: string[] | undefined, root: string[] | null = FULL) => [
  { bdf: "00:00.0", type: "root-port", ...(root ? { acs: root } : {}) },
  { bdf: "01:00.0", type: "upstream-port", parent: "00:00.0" },
  { bdf: "02:00.0", type: "downstream-port", parent: "01:00.0", ...(dsp0 ? { acs: dsp0 } : {}) },
  { bdf: "02:03.0", type: "downstream-port", parent: "01:00.0", ...(dsp3 ? { acs: dsp3 } : {}) },
  { bdf: "03:00.0", type: "endpoint", parent: "02:00.0" },
  { bdf: "04:00.0", type: "endpoint", parent: "02:03.0" },
];
const switchWhy = (dsp: string) =>
  `downstream port ${dsp} ${NONE}: what enters switch 01:00.0 through it can go back down any of the switch's downstream ports (ACS only controls where a port sends), so 02:00.0, 02:03.0 and everything below them are one group`;

test("switch, ACS off on both downstream ports (patch 03): 6.12 gives each port its endpoint; v3 puts both ports, A and B in one group", () => {
  // 6.12: 02:00.0's walk starts at bus 02, whose bridge 01:00.0 (single-function USP, counts as
  // isolated) has an isolated path to the root: a group of its own; A's bus 03 has bridge 02:00.0
  // without ACS: 02:00.0's group. Same for 02:03.0 and B.
  for (const off of [undefined, []]) {
    assert.equal(groups(coverSwitch(off, off), L612), [
      ...singletons(["00:00.0", "01:00.0"]),
      { id: 2, devices: ["02:00.0", "03:00.0"], why: "02:00.0 has no ACS: everything below it is one group" },
      { id: 3, devices: ["02:03.0", "04:00.0"], why: "02:03.0 has no ACS: everything below it is one group" },
    ]);
    // v3: 00:00.0 on the root bus: alone. 01:00.0: bus 01 below a root port with SV RR CR UF is
    // isolated: alone. 02:00.0: bus 02 is the switch's internal bus, its first downstream port
    // 02:00.0 lacks the controls (with or without an ACS capability: pci_acs_enabled is false for a
    // port without one): a new group everything below shares; 02:03.0 on the same bus joins it;
    // 03:00.0 and 04:00.0 join their bridge's shared group.
    assert.equal(groups(coverSwitch(off, off), V3), [...singletons(["00:00.0", "01:00.0"]), { id: 2, devices: ["02:00.0", "02:03.0", "03:00.0", "04:00.0"], why: switchWhy("02:00.0") }]);
  }
});

test("switch, asymmetric ACS (02:00.0 isolates, 02:03.0 does not): 6.12 leaves A alone though B can reach it; v3 groups A and B", () => {
  assert.equal(groups(coverSwitch(FULL, []), L612), [
    ...singletons(["00:00.0", "01:00.0", "02:00.0"]),
    { id: 3, devices: ["02:03.0", "04:00.0"], why: "02:03.0 has no ACS: everything below it is one group" },
    { id: 4, devices: ["03:00.0"], why: alone("03:00.0") },
  ]);
  // v3: the first downstream port lacking the controls is 02:03.0 (02:00.0 has them); 02:00.0 is
  // probed first and makes the shared group, 02:03.0 joins it.
  assert.equal(groups(coverSwitch(FULL, []), V3), [...singletons(["00:00.0", "01:00.0"]), { id: 2, devices: ["02:00.0", "02:03.0", "03:00.0", "04:00.0"], why: switchWhy("02:03.0") }]);
});

test("switch with full ACS everywhere: the two rules agree, every device alone", () => {
  const all = singletons(["00:00.0", "01:00.0", "02:00.0", "02:03.0", "03:00.0", "04:00.0"]);
  assert.equal(groups(coverSwitch(FULL, FULL), L612), all);
  assert.equal(groups(coverSwitch([...FULL, "TB"], FULL), V3), all); // TB is not required by either rule
});

test("root port above the switch: without an ACS capability 6.12 groups everything below it, v3 isolates; with one that enables nothing, both group everything", () => {
  const six = ["00:00.0", "01:00.0", "02:00.0", "02:03.0", "03:00.0", "04:00.0"];
  assert.equal(groups(coverSwitch(FULL, FULL, null), L612), [{ id: 0, devices: six, why: "00:00.0 has no ACS: everything below it is one group" }]);
  // v3: a root port without the capability is taken to have no loopback: bus 01 is isolated.
  assert.equal(groups(coverSwitch(FULL, FULL, null), V3), singletons(six));
  // acs: [] -> 6.12 as above; v3: 01:00.0 finds bus 01 below a root port whose capability lacks the
  // controls, joins 00:00.0's group and makes it shared; everything later joins it from above.
  assert.equal(groups(coverSwitch(FULL, FULL, []), L612), [{ id: 0, devices: six, why: "00:00.0 has no ACS: everything below it is one group" }]);
  assert.equal(groups(coverSwitch(FULL, FULL, []), V3), [
    { id: 0, devices: six, why: `root port 00:00.0 ${NONE}: its ACS does not keep what comes up its link from going back down it, so it and everything below it are one group` },
  ]);
  // A capability with SV and RR only: v3 names the two it lacks.
  assert.equal(groups(coverSwitch(FULL, FULL, ["SV", "RR"]), V3)[0]!.why, "root port 00:00.0 lacks ACS CR and UF: its ACS does not keep what comes up its link from going back down it, so it and everything below it are one group");
});

test("the cover letter's root port without ACS above a two-function device, beside 00:17.0: 6.12 one group of three; v3 every device alone", () => {
  const topo = [
    { bdf: "00:01.0", type: "root-port" },
    { bdf: "00:17.0", type: "rc-integrated" },
    { bdf: "01:00.0", type: "endpoint", parent: "00:01.0" },
    { bdf: "01:00.1", type: "endpoint", parent: "00:01.0" },
  ];
  // 6.12: 01:00.0's walk meets root port 00:01.0 without ACS: its group; 01:00.1 too (the walk comes first).
  assert.equal(groups(topo, L612), [
    { id: 0, devices: ["00:01.0", "01:00.0", "01:00.1"], why: "00:01.0 has no ACS: everything below it is one group" },
    { id: 1, devices: ["00:17.0"], why: alone("00:17.0") },
  ]);
  // v3: bus 01 is isolated (no capability on the root port); neither function has an ACS
  // capability, so neither is taken to loop back to the other.
  assert.equal(groups(topo, V3), singletons(["00:01.0", "00:17.0", "01:00.0", "01:00.1"]));
});

const mfd = (acs: (string[] | undefined)[]) =>
  ["00:1f.0", "00:1f.2", "00:1f.6"].map((bdf, i) => ({ bdf, type: "rc-integrated", ...(acs[i] ? { acs: acs[i] } : {}) }));

test("multifunction device with asymmetric ACS (patch 06): 6.12 [1f.0, 1f.2] and 1f.6 alone; v3 one group of the three", () => {
  const asym = mfd([[], ["SV", "RR"], FULL]);
  assert.equal(groups(asym, L612), [
    { id: 0, devices: ["00:1f.0", "00:1f.2"], why: "00:1f.0 and 00:1f.2: functions of one multifunction device without ACS" },
    { id: 1, devices: ["00:1f.6"], why: alone("00:1f.6") },
  ]);
  // v3: 00:1f.0 has a capability without the controls: every function of the device reaches it, so
  // the reachable set of each is all three; 1f.0 makes the group, 1f.2 and 1f.6 join it.
  assert.equal(groups(asym, V3), [
    { id: 0, devices: ["00:1f.0", "00:1f.2", "00:1f.6"], why: `function 00:1f.0 ${NONE}: it can reach the other functions of its multifunction device, so 00:1f.0, 00:1f.2 and 00:1f.6 are one group` },
  ]);
  // The cover letter of v3: 1f.0 and 1f.2 without an ACS capability, 1f.6 with full ACS: 6.12 still
  // groups 1f.0 and 1f.2; v3 takes no capability as no loopback: three groups.
  const noCap = mfd([undefined, undefined, FULL]);
  assert.equal(groups(noCap, L612), [
    { id: 0, devices: ["00:1f.0", "00:1f.2"], why: "00:1f.0 and 00:1f.2: functions of one multifunction device without ACS" },
    { id: 1, devices: ["00:1f.6"], why: alone("00:1f.6") },
  ]);
  assert.equal(groups(noCap, V3), singletons(["00:1f.0", "00:1f.2", "00:1f.6"]));
  // Full ACS on every function: both rules, three groups.
  assert.equal(groups(mfd([FULL, FULL, FULL]), L612), singletons(["00:1f.0", "00:1f.2", "00:1f.6"]));
  assert.equal(groups(mfd([FULL, FULL, FULL]), V3), singletons(["00:1f.0", "00:1f.2", "00:1f.6"]));
});

test("a multifunction device whose function 1f.2 is a root port (patch 06): v3 puts what is below the port in the device's group, 6.12 does not", () => {
  const topo = [
    { bdf: "00:1f.0", type: "rc-integrated", acs: [] },
    { bdf: "00:1f.2", type: "root-port", acs: FULL },
    { bdf: "00:1f.6", type: "rc-integrated" },
    { bdf: "01:01.0", type: "endpoint", parent: "00:1f.2" },
  ];
  // 6.12: 1f.0 (no controls) finds no grouped function without ACS: new group; 1f.2 has full ACS:
  // a group of its own; 1f.6 (no ACS, multifunction) joins 1f.0's; 01:01.0's walk finds 1f.2 and
  // its path isolated: a group of its own.
  assert.equal(groups(topo, L612), [
    { id: 0, devices: ["00:1f.0", "00:1f.6"], why: "00:1f.0 and 00:1f.6: functions of one multifunction device without ACS" },
    { id: 1, devices: ["00:1f.2"], why: alone("00:1f.2") },
    { id: 2, devices: ["01:01.0"], why: alone("01:01.0") },
  ]);
  // v3: 1f.0's capability lacks the controls: the three functions are one shared group; 01:01.0's
  // bridge 1f.2 is in it: it joins.
  assert.equal(groups(topo, V3), [
    {
      id: 0,
      devices: ["00:1f.0", "00:1f.2", "00:1f.6", "01:01.0"],
      why: `function 00:1f.0 ${NONE}: it can reach the other functions of its multifunction device, so 00:1f.0, 00:1f.2, 00:1f.6 and everything below them are one group`,
    },
  ]);
});

test("a PCIe-to-PCI bridge (cover letter: its groups shrink to leave the bridge out): 6.12 bridge and devices one group; v3 the devices without the bridge", () => {
  const topo = [
    { bdf: "00:1c.0", type: "root-port", acs: FULL },
    { bdf: "01:00.0", type: "pci-bridge", parent: "00:1c.0" },
    { bdf: "02:01.0", type: "pci-endpoint", parent: "01:00.0" },
    { bdf: "02:02.0", type: "pci-endpoint", parent: "01:00.0" },
  ];
  assert.equal(groups(topo, L612), [
    { id: 0, devices: ["00:1c.0"], why: alone("00:1c.0") },
    { id: 1, devices: ["01:00.0", "02:01.0", "02:02.0"], why: "02:01.0 and 02:02.0 share requester ID 02:00.0 behind PCIe-to-PCI bridge 01:00.0" },
  ]);
  // v3: 01:00.0 sits on bus 01 below an isolating root port: alone. Bus 02 is conventional PCI
  // (PCI_BUS_NON_ISOLATED, the bridge without MMIO): 02:01.0 makes a shared group, 02:02.0 joins.
  assert.equal(groups(topo, V3), [
    { id: 0, devices: ["00:1c.0"], why: alone("00:1c.0") },
    { id: 1, devices: ["01:00.0"], why: alone("01:00.0") },
    {
      id: 2,
      devices: ["02:01.0", "02:02.0"],
      why: "02:01.0 and 02:02.0: conventional PCI bus 02 behind PCIe-to-PCI bridge 01:00.0 cannot isolate its devices, so they are one group, without the bridge (its requester ID is not their 02:00.0)",
    },
  ]);
});

test("issue 11's example under v3: 00:1d.0 (no capability) isolates, the bridge and its device part; the switch port takes both functions", () => {
  // 02:01.0 is the only downstream port of switch 01:00.0 and lacks the controls: the shared group;
  // 03:00.0 and 03:00.1 join it from above. 04:00.0 is alone on bus 04 (root port 00:1d.0 has no
  // capability); 05:01.0 makes the group of conventional bus 05 and is its only device.
  assert.equal(groups(issueExample, V3), [
    ...singletons(["00:02.0", "00:1c.0", "00:1d.0", "01:00.0"]),
    {
      id: 4,
      devices: ["02:01.0", "03:00.0", "03:00.1"],
      why: `downstream port 02:01.0 ${NONE}: what enters switch 01:00.0 through it can go back down any of the switch's downstream ports (ACS only controls where a port sends), so 02:01.0 and everything below it are one group`,
    },
    ...singletons(["04:00.0", "05:01.0"]).map((g, i) => ({ ...g, id: 5 + i })),
  ]);
});

/** A scenario with the asymmetric switch, the given groupRule key (line 3) and drivers (line 3, or 4 after groupRule). */
const scenario = (rule: string | undefined, drivers: { bdf: string; driver: string }[]) =>
  scenarioText(coverSwitch(FULL, [])).replace('"arch": "vtd",\n', `"arch": "vtd",\n${rule === undefined ? "" : `  "groupRule": ${JSON.stringify(rule)},\n`}  "drivers": ${JSON.stringify(drivers)},\n`);
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-group-rule-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
/** loadScenario's error for the scenario text, or "" when it loads. */
const loadError = (text: string): string => {
  const f = join(dir, "s.json");
  writeFileSync(f, text);
  try {
    loadScenario(f);
    return "";
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return e.message.replace(f, "s.json");
  }
};

test("scenario key groupRule: the driver side's ownership uses the rule (v3 refuses vfio for B while A has a kernel driver; 6.12 allows it)", () => {
  const drivers = [
    { bdf: "03:00.0", driver: "kernel:nvme" },
    { bdf: "04:00.0", driver: "vfio" },
  ];
  // 6.12 (default and named): A (03:00.0) and B (04:00.0) are in different groups.
  assert.is(parseScenario(scenario(undefined, drivers), "s.json").scenario.groupRule, undefined);
  assert.is(loadError(scenario(undefined, drivers)), "");
  assert.is(loadError(scenario(L612, drivers)), "");
  // v3: group 2 is 02:00.0, 02:03.0, 03:00.0, 04:00.0 (the asymmetric switch above). Line 4 is
  // `  "drivers": [{"bdf":"03:00.0","driver":"kernel:nvme"},{"bdf":"04:00.0","driver":"vfio"}],`:
  // 13 characters before `[` (col 14), the first entry cols 15-54, `,` 55, `{` 56,
  // `"bdf":"04:00.0",` 57-72, `"driver":` 73-81: the value at column 82.
  assert.is(
    loadError(scenario(V3, drivers)),
    "s.json:4:82: drivers[1].driver: bind 04:00.0 vfio: group 2 (02:00.0, 02:03.0, 03:00.0, 04:00.0) is not viable for user space: 03:00.0 is bound to kernel:nvme (iommu_device_claim_dma_owner: -EBUSY); unbind it first",
  );
});

test("scenario key groupRule: vms are checked by the rule's groups too (v3: 04:00.0 cannot go to a VM while 03:00.0 has a kernel driver)", () => {
  const withVm = (rule: string | undefined) =>
    scenario(rule, [{ bdf: "03:00.0", driver: "kernel:nvme" }]).replace(/(  "drivers": .*\n)/, '$1  "vms": [{"name":"vm1","devices":["04:00.0"]}],\n');
  assert.is(loadError(withVm(undefined)), "");
  // Line 5 is `  "vms": [{"name":"vm1","devices":["04:00.0"]}],`: 9 characters before `[` (col 10),
  // `{` 11, `"name":"vm1",` 12-24, `"devices":` 25-34, `[` 35: the device at column 36.
  assert.is(
    loadError(withVm(V3)),
    "s.json:5:36: vms[0].devices[0]: bind 04:00.0 vfio: group 2 (02:00.0, 02:03.0, 03:00.0, 04:00.0) is not viable for user space: 03:00.0 is bound to kernel:nvme (iommu_device_claim_dma_owner: -EBUSY); unbind it first",
  );
});

test("scenario key groupRule: an unknown rule is a located error naming the choices", () => {
  // line 3 is `  "groupRule": "linux-6.17",`: the value starts at column 16.
  assert.is(loadError(scenario("linux-6.17", [])), 's.json:3:16: groupRule: expected one of "linux-6.12" | "pcie-switch-groups-v3" (the kernel rule that makes the IOMMU groups)');
});

test("the driver side at run time (IommuLayer, opts.groupRule): v3 gives 05:01.0 a group without its PCIe-to-PCI bridge, so vfio is no longer refused", () => {
  // Issue 11's example: 6.12 group 2 is 00:1d.0, 04:00.0, 05:01.0 (the first test of
  // groups.test.ts); v3 group 6 is 05:01.0 alone (above). The bridge has a kernel driver.
  const bridge: [number, string][] = [[0x400, "kernel:pcieport"]];
  assert.equal(setup("vtd", bridge).run("bind 05:01.0 vfio").refusals, [
    "1: bind 05:01.0 vfio: group 2 (00:1d.0, 04:00.0, 05:01.0) is not viable for user space: 04:00.0 is bound to kernel:pcieport (iommu_device_claim_dma_owner: -EBUSY); unbind it first",
  ]);
  const v3 = setup("vtd", bridge, { groupRule: V3 });
  assert.equal(v3.run("bind 05:01.0 vfio").refusals, []);
  assert.is(v3.layer.ownership.groupName(0x508 /* 05:01.0: 5 << 8 | 1 << 3 */), "group 6 (05:01.0)");
});

test.run();
