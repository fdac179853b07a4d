/**
 * src/iommu/topology.ts: the scenario key `topology` (README "Scenario format"), parsed into
 * PciNode[] and validated with located errors. Each entry sits on its own line (line 4 + index),
 * so the columns below are counted by hand on the compact JSON of the entry.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseScenario } from "../../src/scenario.ts";
import { InputError } from "../../src/errors.ts";
import { topologyBdf } from "../../src/iommu/topology.ts";
import { issueExample, scenarioText } from "./topology-fixtures.ts";

function errorOf(entries: readonly unknown[]): string {
  try {
    parseScenario(scenarioText(entries), "t.json");
  } catch (e) {
    if (e instanceof InputError) return e.message;
    throw e;
  }
  throw new Error("expected an InputError");
}

const rp = { bdf: "00:1c.0", type: "root-port", acs: ["SV", "RR", "CR", "UF"] };
const ep = (bdf: string, parent: string, more: object = {}) => ({ bdf, type: "endpoint", parent, ...more });
const BDF_EXPECTED = 'expected a BDF like "03:00.1" or "0001:03:00.1" (hex bus:device.function, device 00-1f, function 0-7)';

test("the issue's example parses into PciNode[] in the order given (bdf as segment/bus/device/function bits)", () => {
  const { scenario } = parseScenario(
    scenarioText(issueExample),
    "t.json",
  );
  assert.equal(scenario.topology, [
    { bdf: 0xe0, type: "root-port", acs: ["SV", "RR", "CR", "UF"] },
    { bdf: 0x100, type: "upstream-port", parent: 0xe0 },
    { bdf: 0x208, type: "downstream-port", parent: 0x100, acs: [] },
    { bdf: 0x300, type: "endpoint", parent: 0x208 },
    { bdf: 0x301, type: "endpoint", parent: 0x208, acs: [] },
    { bdf: 0xe8, type: "root-port" },
    { bdf: 0x400, type: "pci-bridge", parent: 0xe8 },
    { bdf: 0x508, type: "pci-endpoint", parent: 0x400 },
    { bdf: 0x10, type: "rc-integrated" },
  ]);
  // A scenario without the key has none.
  assert.is(parseScenario('{ "arch": "smmuv3" }', "s.json").scenario.topology, undefined);
});

test("a BDF may carry a PCI segment; upper-case hex is read too", () => {
  assert.is(topologyBdf.parse("0001:03:1F.7"), 0x10000 + 0x3ff);
  assert.is(topologyBdf.parse("ff:1f.7"), 0xffff);
  const { scenario } = parseScenario(scenarioText([{ bdf: "0002:00:01.0", type: "root-port" }, ep("0002:01:00.0", "0002:00:01.0")]), "t.json");
  assert.equal(scenario.topology, [
    { bdf: 0x20008, type: "root-port" },
    { bdf: 0x20100, type: "endpoint", parent: 0x20008 },
  ]);
});

test("entry errors: bad BDF text, an unknown type, an unknown ACS control, an unknown key", () => {
  assert.is(errorOf([rp, ep("1:00.0", "00:1c.0")]), `t.json:5:12: topology[1].bdf: ${BDF_EXPECTED}, got "1:00.0"`);
  assert.is(errorOf([rp, ep("01:20.0", "00:1c.0")]), `t.json:5:12: topology[1].bdf: ${BDF_EXPECTED}, got "01:20.0"`);
  assert.is(errorOf([rp, ep("01:00.0", "00:1c")]), `t.json:5:49: topology[1].parent: ${BDF_EXPECTED}, got "00:1c"`);
  assert.is(
    errorOf([rp, { bdf: "01:00.0", type: "switch", parent: "00:1c.0" }]),
    't.json:5:29: topology[1].type: expected one of "root-port", "upstream-port", "downstream-port", "endpoint", "pci-bridge", "pci-endpoint" or "rc-integrated"',
  );
  assert.is(errorOf([rp, ep("01:00.0", "00:1c.0", { acs: ["SV", "XX"] })]), 't.json:5:71: topology[1].acs[1]: expected an ACS control: "SV", "RR", "CR", "UF" or "TB"');
  assert.is(errorOf([rp, ep("01:00.0", "00:1c.0", { acs: ["SV", "SV"] })]), 't.json:5:71: topology[1].acs[1]: "SV" is listed twice');
  assert.is(errorOf([rp, ep("01:00.0", "00:1c.0", { acss: [] })]), 't.json:5:59: topology[1].acss: unknown key "acss"');
});

test("a BDF twice, an unknown parent, a missing or forbidden parent", () => {
  assert.is(errorOf([rp, ep("01:00.0", "00:1c.0"), ep("01:00.0", "00:1c.0")]), "t.json:6:12: topology[2].bdf: 01:00.0 is already topology[1] (each BDF once)");
  assert.is(errorOf([rp, ep("01:00.0", "00:1d.0")]), "t.json:5:49: topology[1].parent: no entry has BDF 00:1d.0 (expected the BDF of a port or bridge of this topology)");
  assert.is(errorOf([rp, { bdf: "01:00.0", type: "root-port", parent: "00:1c.0" }]), "t.json:5:50: topology[1].parent: a root-port has no parent: it sits on a root bus");
  assert.is(errorOf([rp, { bdf: "00:02.0", type: "rc-integrated", parent: "00:1c.0" }]), "t.json:5:54: topology[1].parent: an rc-integrated has no parent: it sits on a root bus");
  assert.is(
    errorOf([rp, { bdf: "01:00.0", type: "endpoint" }]),
    't.json:5:5: topology[1]: missing key "parent": an endpoint sits below a root-port or a downstream-port (only a root-port or rc-integrated sits on a root bus)',
  );
});

test("a cycle of parents, at the first entry on it", () => {
  assert.is(
    errorOf([rp, { bdf: "01:00.0", type: "upstream-port", parent: "02:00.0" }, { bdf: "02:00.0", type: "downstream-port", parent: "01:00.0" }]),
    "t.json:5:54: topology[1].parent: a cycle of parents: 01:00.0 -> 02:00.0 -> 01:00.0 (expected a chain that ends at a root port)",
  );
  assert.is(
    errorOf([rp, { bdf: "01:00.0", type: "upstream-port", parent: "01:00.0" }]),
    "t.json:5:54: topology[1].parent: a cycle of parents: 01:00.0 -> 01:00.0 (expected a chain that ends at a root port)",
  );
});

test("a type below a parent type it cannot sit below", () => {
  assert.is(
    errorOf([rp, ep("01:00.0", "00:1c.0"), ep("02:00.0", "01:00.0")]),
    't.json:6:29: topology[2].type: an endpoint cannot sit below 01:00.0, an endpoint (expected a parent of type "root-port" or "downstream-port")',
  );
  assert.is(
    errorOf([rp, ep("01:00.0", "00:1c.0"), { bdf: "02:00.0", type: "upstream-port", parent: "01:00.0" }]),
    't.json:6:29: topology[2].type: an upstream-port cannot sit below 01:00.0, an endpoint (expected a parent of type "root-port" or "downstream-port")',
  );
  assert.is(
    errorOf([rp, { bdf: "01:00.0", type: "pci-endpoint", parent: "00:1c.0" }]),
    't.json:5:29: topology[1].type: a pci-endpoint cannot sit below 00:1c.0, a root-port (expected a parent of type "pci-bridge")',
  );
  assert.is(
    errorOf([rp, { bdf: "01:00.0", type: "downstream-port", parent: "00:1c.0" }]),
    't.json:5:29: topology[1].type: a downstream-port cannot sit below 00:1c.0, a root-port (expected a parent of type "upstream-port")',
  );
});

test("buses: one secondary bus per port or bridge, not a root bus nor another's, in the parent's segment", () => {
  assert.is(
    errorOf([rp, ep("01:00.0", "00:1c.0"), ep("02:00.0", "00:1c.0")]),
    "t.json:6:12: topology[2].bdf: 02:00.0 is on bus 02, but the other entries below 00:1c.0 are on bus 01 (expected its one secondary bus)",
  );
  assert.is(errorOf([rp, ep("00:03.0", "00:1c.0")]), "t.json:5:12: topology[1].bdf: bus 00 is a root bus (expected a bus of its own below 00:1c.0)");
  assert.is(
    errorOf([rp, { bdf: "00:1d.0", type: "root-port" }, ep("01:00.0", "00:1c.0"), ep("01:01.0", "00:1d.0")]),
    "t.json:7:12: topology[3].bdf: bus 01 is the secondary bus of 00:1c.0 (expected a bus of its own below 00:1d.0)",
  );
  assert.is(errorOf([rp, ep("0001:01:00.0", "00:1c.0")]), "t.json:5:12: topology[1].bdf: 0001:01:00.0 is not in the PCI segment of its parent 00:1c.0 (expected segment 0000)");
});

test.run();
