/**
 * src/iommu/groups.ts: IOMMU groups as Linux 6.12's pci_device_group makes them (no quirks). Every
 * expected group and why below is worked out by hand from the kernel's steps, in its probe order
 * (each bus's devices in devfn order, then each bridge's secondary bus).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { computeGroups } from "../../src/iommu/groups.ts";
import { topologySchema } from "../../src/iommu/topology.ts";
import { formatBdf } from "../../src/trace/events.ts";
import { issueExample, issueExampleGroups } from "./topology-fixtures.ts";

/** The groups of a topology as written in a scenario, with BDFs as text. */
const groups = (entries: readonly unknown[]) => computeGroups(topologySchema.parse(entries)).map((g) => ({ id: g.id, devices: g.devices.map(formatBdf), why: g.why }));
const alone = (bdf: string) => `${bdf} is alone: no other device shares its requester ID or reaches it without ACS isolation`;
const FULL = ["SV", "RR", "CR", "UF"];

test("the issue's example: 02:01.0 (ACS capability, nothing enabled) takes 03:00.x; root port 00:1d.0 (no ACS) takes the PCIe-to-PCI bridge and its device", () => {
  // Probe order 00:02.0, 00:1c.0, 00:1d.0, 01:00.0, 02:01.0, 03:00.0, 03:00.1, 04:00.0, 05:01.0.
  // 01:00.0: bus 01's bridge 00:1c.0 has SV RR CR UF on a root bus -> isolated, new group.
  // 02:01.0: bus 02's bridge 01:00.0 is a single-function upstream port (needs no ACS) below 00:1c.0 -> new group.
  // 03:00.0, 03:00.1: bus 03's bridge 02:01.0 lacks the flags -> 02:01.0's group (before the function rule).
  // 04:00.0: bus 04's bridge 00:1d.0 has no ACS -> 00:1d.0's group.
  // 05:01.0: its DMA alias walk meets PCIe-to-PCI bridge 04:00.0 (requester ID 05:00.0), grouped -> that group.
  assert.equal(groups(issueExample), issueExampleGroups);
});

const switchWith = (dpAcs: string[] | undefined, rpAcs: string[] | null = FULL) => [
  { bdf: "00:1c.0", type: "root-port", ...(rpAcs ? { acs: rpAcs } : {}) },
  { bdf: "01:00.0", type: "upstream-port", parent: "00:1c.0" },
  { bdf: "02:00.0", type: "downstream-port", parent: "01:00.0", ...(dpAcs ? { acs: dpAcs } : {}) },
  { bdf: "02:01.0", type: "downstream-port", parent: "01:00.0", acs: FULL },
  { bdf: "03:00.0", type: "endpoint", parent: "02:00.0" },
  { bdf: "04:00.0", type: "endpoint", parent: "02:01.0" },
];

test("a switch: a downstream port with SV RR CR UF isolates its endpoint; without them (or with some) it shares its group", () => {
  assert.equal(
    groups(switchWith(FULL)),
    ["00:1c.0", "01:00.0", "02:00.0", "02:01.0", "03:00.0", "04:00.0"].map((d, id) => ({ id, devices: [d], why: alone(d) })),
  );
  const without = [
    { id: 0, devices: ["00:1c.0"], why: alone("00:1c.0") },
    { id: 1, devices: ["01:00.0"], why: alone("01:00.0") },
    { id: 2, devices: ["02:00.0", "03:00.0"], why: "02:00.0 has no ACS: everything below it is one group" },
    { id: 3, devices: ["02:01.0"], why: alone("02:01.0") },
    { id: 4, devices: ["04:00.0"], why: alone("04:00.0") },
  ];
  assert.equal(groups(switchWith(undefined)), without);
  // TB is not a required control: SV RR TB leaves CR and UF missing.
  assert.equal(groups(switchWith(["SV", "RR", "TB"])), without.map((g) => (g.id === 2 ? { ...g, why: "02:00.0 lacks ACS CR and UF: everything below it is one group" } : g)));
  // Full ACS plus TB is full ACS.
  assert.equal(groups(switchWith([...FULL, "TB"])).length, 6);
});

test("a root port without ACS above a switch: the whole switch is its group, whatever the downstream ports enable", () => {
  assert.equal(groups(switchWith(FULL, null)), [
    { id: 0, devices: ["00:1c.0", "01:00.0", "02:00.0", "02:01.0", "03:00.0", "04:00.0"], why: "00:1c.0 has no ACS: everything below it is one group" },
  ]);
});

const multifunction = (acs: (string[] | undefined)[]) => [
  { bdf: "00:1c.0", type: "root-port", acs: FULL },
  ...acs.map((a, f) => ({ bdf: `01:00.${f}`, type: "endpoint", parent: "00:1c.0", ...(a ? { acs: a } : {}) })),
];

test("a multifunction endpoint: functions without ACS share a group, functions with it are alone", () => {
  assert.equal(groups(multifunction([undefined, undefined])), [
    { id: 0, devices: ["00:1c.0"], why: alone("00:1c.0") },
    { id: 1, devices: ["01:00.0", "01:00.1"], why: "01:00.0 and 01:00.1: functions of one multifunction device without ACS" },
  ]);
  assert.equal(
    groups(multifunction([FULL, FULL])),
    ["00:1c.0", "01:00.0", "01:00.1"].map((d, id) => ({ id, devices: [d], why: alone(d) })),
  );
  // 01:00.1 finds 01:00.0 isolated (skipped) and 01:00.2 not yet grouped: a new group, which 01:00.2 joins.
  assert.equal(groups(multifunction([FULL, undefined, []])), [
    { id: 0, devices: ["00:1c.0"], why: alone("00:1c.0") },
    { id: 1, devices: ["01:00.0"], why: alone("01:00.0") },
    { id: 2, devices: ["01:00.1", "01:00.2"], why: "01:00.1 and 01:00.2: functions of one multifunction device without ACS" },
  ]);
  // A single-function endpoint needs no ACS (pci_acs_enabled is true for it).
  assert.equal(groups(multifunction([undefined])).length, 2);
});

test("a PCIe-to-PCI bridge with two conventional devices: one group with the bridge, by the requester ID of its secondary bus", () => {
  assert.equal(
    groups([
      { bdf: "00:1c.0", type: "root-port", acs: FULL },
      { bdf: "01:00.0", type: "pci-bridge", parent: "00:1c.0" },
      { bdf: "02:01.0", type: "pci-endpoint", parent: "01:00.0" },
      { bdf: "02:02.0", type: "pci-endpoint", parent: "01:00.0" },
    ]),
    [
      { id: 0, devices: ["00:1c.0"], why: alone("00:1c.0") },
      { id: 1, devices: ["01:00.0", "02:01.0", "02:02.0"], why: "02:01.0 and 02:02.0 share requester ID 02:00.0 behind PCIe-to-PCI bridge 01:00.0" },
    ],
  );
});

test("root-complex integrated endpoints: alone when single-function; a multifunction one's functions without ACS share a group", () => {
  assert.equal(groups([{ bdf: "00:02.0", type: "rc-integrated" }]), [{ id: 0, devices: ["00:02.0"], why: alone("00:02.0") }]);
  assert.equal(
    groups([
      { bdf: "00:02.0", type: "rc-integrated" },
      { bdf: "00:1f.0", type: "rc-integrated" },
      { bdf: "00:1f.3", type: "rc-integrated" },
      { bdf: "00:1f.4", type: "rc-integrated", acs: FULL },
    ]),
    [
      { id: 0, devices: ["00:02.0"], why: alone("00:02.0") },
      { id: 1, devices: ["00:1f.0", "00:1f.3"], why: "00:1f.0 and 00:1f.3: functions of one multifunction device without ACS" },
      { id: 2, devices: ["00:1f.4"], why: alone("00:1f.4") },
    ],
  );
});

test("two functions of one root port without ACS: one group with everything below both, each reason in the why", () => {
  assert.equal(
    groups([
      { bdf: "00:1c.0", type: "root-port" },
      { bdf: "00:1c.4", type: "root-port" },
      { bdf: "01:00.0", type: "endpoint", parent: "00:1c.0" },
      { bdf: "02:00.0", type: "endpoint", parent: "00:1c.4" },
    ]),
    [
      {
        id: 0,
        devices: ["00:1c.0", "00:1c.4", "01:00.0", "02:00.0"],
        why: "00:1c.0 and 00:1c.4: functions of one multifunction device without ACS; 00:1c.0 has no ACS: everything below it is one group; 00:1c.4 has no ACS: everything below it is one group",
      },
    ],
  );
});

test("segments: groups in BDF order with the segment first", () => {
  assert.equal(
    groups([
      { bdf: "0001:00:01.0", type: "root-port", acs: FULL },
      { bdf: "0001:01:00.0", type: "endpoint", parent: "0001:00:01.0" },
      { bdf: "00:01.0", type: "root-port" },
    ]).map((g) => g.devices),
    [["00:01.0"], ["0001:00:01.0"], ["0001:01:00.0"]],
  );
});

test.run();
