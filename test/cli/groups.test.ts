/**
 * src/cli/groups.ts: `iommu-emu groups <scenario> [--json]` (README "Groups"): exact text and JSON,
 * exit codes and messages as the rest of the CLI (2 for bad input).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { issueExample, issueExampleGroups, scenarioText } from "../iommu/topology-fixtures.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, "bin/iommu-emu.mjs"), ...args], { cwd: root, encoding: "utf8" });
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-groups-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

const ALONE = "is alone: no other device shares its requester ID or reaches it without ACS isolation";

test("text: one block per group (id and devices, then why), groups by their first device", () => {
  const r = cli("groups", file("issue.json", scenarioText(issueExample)));
  assert.is(r.stderr, "");
  assert.is(r.status, 0);
  assert.is(
    r.stdout,
    `group 0: 00:02.0
  why: 00:02.0 ${ALONE}

group 1: 00:1c.0
  why: 00:1c.0 ${ALONE}

group 2: 00:1d.0 04:00.0 05:01.0
  why: 00:1d.0 has no ACS: everything below it is one group; 05:01.0 uses requester ID 05:00.0 behind PCIe-to-PCI bridge 04:00.0

group 3: 01:00.0
  why: 01:00.0 ${ALONE}

group 4: 02:01.0 03:00.0 03:00.1
  why: 02:01.0 has no ACS: everything below it is one group
`,
  );
});

test("--json: { groups: [ { id, devices (BDF text, ascending), why } ] }, indented by two spaces", () => {
  const r = cli("groups", file("issue.json", scenarioText(issueExample)), "--json");
  assert.is(r.stderr, "");
  assert.is(r.status, 0);
  assert.equal(JSON.parse(r.stdout), { groups: issueExampleGroups });
  assert.is(
    r.stdout.split("\n").slice(0, 9).join("\n"),
    `{
  "groups": [
    {
      "id": 0,
      "devices": [
        "00:02.0"
      ],
      "why": "00:02.0 ${ALONE}"
    },`,
  );
});

test("a scenario without topology, a bad topology, a missing file: exit 2 with the file (and line and column)", () => {
  const none = file("none.json", '{\n  "arch": "smmuv3"\n}\n');
  const r = cli("groups", none);
  assert.is(r.status, 2);
  assert.is(r.stdout, "");
  assert.is(r.stderr, `iommu-emu: ${none}:1:1: (top level): no "topology" key: groups are computed from the scenario's PCI topology (README "Scenario format")\n`);

  const bad = file("bad.json", scenarioText([...issueExample, { bdf: "06:00.0", type: "endpoint", parent: "05:01.0" }]));
  const b = cli("groups", bad, "--json");
  assert.is(b.status, 2);
  assert.is(b.stdout, "");
  assert.is(b.stderr, `iommu-emu: ${bad}:13:29: topology[9].type: an endpoint cannot sit below 05:01.0, a pci-endpoint (expected a parent of type "root-port" or "downstream-port")\n`);

  const missing = join(dir, "missing.json");
  const m = cli("groups", missing);
  assert.is(m.status, 2);
  assert.is(m.stderr, `iommu-emu: ${missing}: cannot read the file (ENOENT)\n`);
});

test("--rule pcie-switch-groups-v3, or the scenario's groupRule: the series' groups and reasons; --rule wins over the key; a bad --rule is exit 2", () => {
  // Issue 11's example under v3 (test/iommu/group-rule.test.ts works it out): root port 00:1d.0
  // has no ACS capability, so it isolates; the PCIe-to-PCI bridge 04:00.0 and 05:01.0 part.
  const v3 = `group 0: 00:02.0
  why: 00:02.0 ${ALONE}

group 1: 00:1c.0
  why: 00:1c.0 ${ALONE}

group 2: 00:1d.0
  why: 00:1d.0 ${ALONE}

group 3: 01:00.0
  why: 01:00.0 ${ALONE}

group 4: 02:01.0 03:00.0 03:00.1
  why: downstream port 02:01.0 lacks ACS SV, RR, CR and UF: what enters switch 01:00.0 through it can go back down any of the switch's downstream ports (ACS only controls where a port sends), so 02:01.0 and everything below it are one group

group 5: 04:00.0
  why: 04:00.0 ${ALONE}

group 6: 05:01.0
  why: 05:01.0 ${ALONE}
`;
  const plain = file("issue.json", scenarioText(issueExample));
  const r = cli("groups", plain, "--rule", "pcie-switch-groups-v3");
  assert.is(r.stderr, "");
  assert.is(r.status, 0);
  assert.is(r.stdout, v3);
  const keyed = file("keyed.json", scenarioText(issueExample).replace('"arch": "vtd",', '"arch": "vtd",\n  "groupRule": "pcie-switch-groups-v3",'));
  assert.is(cli("groups", keyed).stdout, v3);
  // --rule linux-6.12 over the key: the 6.12 groups (5 of them, the first test's).
  const over = cli("groups", keyed, "--rule", "linux-6.12", "--json");
  assert.is(over.status, 0, over.stderr);
  assert.equal(JSON.parse(over.stdout), { groups: issueExampleGroups });

  const bad = cli("groups", plain, "--rule", "linux-6.17");
  assert.is(bad.status, 2);
  assert.is(bad.stdout, "");
  assert.is(bad.stderr, `iommu-emu: --rule: expected "linux-6.12" or "pcie-switch-groups-v3" (the kernel rule that makes the IOMMU groups), got "linux-6.17"\n`);
});

test.run();
