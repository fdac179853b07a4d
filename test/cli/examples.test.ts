/**
 * src/cli/examples.ts: `iommu-emu examples` and `run example:NAME` (README "Install").
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { examplesDir, firstSentence, formatExamples, listExamples, resolveScenarioArg } from "../../src/cli/examples.ts";
import { InputError } from "../../src/errors.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, "bin/iommu-emu.mjs"), ...args], { cwd: root, encoding: "utf8" });
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-examples-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("the bundled examples: examples/NAME/scenario.json, each with a description", () => {
  assert.is(examplesDir, join(root, "examples/"));
  const list = listExamples();
  assert.equal(
    list.map((e) => [e.name, e.path]),
    [
      ["arm-msi", join(root, "examples/arm-msi/scenario.json")],
      ["gpu-nosnoop", join(root, "examples/gpu-nosnoop/scenario.json")],
      ["mdev", join(root, "examples/mdev/scenario.json")],
      ["nic-vfio", join(root, "examples/nic-vfio/scenario.json")],
      ["pasid-quota", join(root, "examples/pasid-quota/scenario.json")],
      ["smmuv3", join(root, "examples/smmuv3/scenario.json")],
      ["vtd-sm", join(root, "examples/vtd-sm/scenario.json")],
    ],
  );
  for (const e of list) assert.ok(e.description.length > 0, `${e.name} has a description`);
  assert.is(firstSentence(list[0]!.description), "SMMUv3 reserved regions: MSIs through the SW_MSI window, a fixed doorbell, a p2p window (README \"PASIDs and reserved regions\").");
  assert.is(firstSentence(list[1]!.description), "A vfio GPU's No-Snoop DMA under VT-d with and without snoop control and SMMUv3 with and without CANWBS (README \"Cache coherency\").");
  assert.is(firstSentence(list[2]!.description), "A mediated device sharing its parent's non-singleton group with two VMs (README \"VMs, PASID allocation and mediated devices\").");
  assert.is(firstSentence(list[4]!.description), "A VM that allocates PASIDs past its quota (README \"VMs, PASID allocation and mediated devices\").");
  assert.is(firstSentence(list[3]!.description), "The dual-function NIC of the /dev/ioasid thread moved from a kernel driver to vfio one function at a time (README \"Driver side\").");
  assert.is(firstSentence(list[5]!.description), "Arm SMMUv3.2 (the default profile) as Linux's arm-smmu-v3 driver programs it, CANWBS off.");
  assert.is(firstSentence(list[6]!.description), "Scalable-mode DMAR unit (Sapphire Rapids capabilities with PASID/PRS on).");
});

test("firstSentence: up to the first full stop before a space, on one line", () => {
  assert.is(firstSentence("One. Two."), "One.");
  assert.is(firstSentence("  A line\n  broken  in two.\nNext."), "A line broken in two.");
  assert.is(firstSentence("version 1.5 of it"), "version 1.5 of it");
  assert.is(firstSentence(""), "");
});

test("a folder's examples: folders without scenario.json left out, no description shown as -, sorted by name", () => {
  const ex = join(dir, "examples");
  for (const [name, scenario] of [
    ["zeta", { arch: "vtd", description: "Last one. More text." }],
    ["alpha", { arch: "vtd" }],
  ] as const) {
    mkdirSync(join(ex, name), { recursive: true });
    writeFileSync(join(ex, name, "scenario.json"), JSON.stringify(scenario));
  }
  mkdirSync(join(ex, "no-scenario"));
  writeFileSync(join(ex, "README.md"), "not an example");
  const list = listExamples(ex);
  assert.equal(
    list.map((e) => [e.name, e.description]),
    [
      ["alpha", ""],
      ["zeta", "Last one. More text."],
    ],
  );
  // Outside the working folder, paths are shown whole.
  assert.is(
    formatExamples(list),
    [
      "name   description  scenario",
      `alpha  -            ${join(ex, "alpha/scenario.json")}`,
      `zeta   Last one.    ${join(ex, "zeta/scenario.json")}`,
      "",
      "run one with: iommu-emu run example:NAME",
    ].join("\n"),
  );
  assert.is(resolveScenarioArg("example:zeta", ex), join(ex, "zeta/scenario.json"));
});

test("example:NAME resolves to the bundled scenario (relative to the working folder inside it); other arguments are paths", () => {
  assert.is(process.cwd(), root.replace(/\/$/, ""));
  assert.is(resolveScenarioArg("example:vtd-sm"), "examples/vtd-sm/scenario.json");
  assert.is(resolveScenarioArg("examples/vtd-sm/scenario.json"), "examples/vtd-sm/scenario.json");
  assert.is(resolveScenarioArg("my-example:x.json"), "my-example:x.json");
  for (const [arg, name] of [
    ["example:nope", "nope"],
    ["example:../vtd-sm", "../vtd-sm"],
    ["example:", ""],
  ]) {
    try {
      resolveScenarioArg(arg!);
      assert.unreachable(arg);
    } catch (e) {
      assert.instance(e, InputError);
      assert.is((e as Error).message, `"${arg}": no bundled example is named "${name}"; expected one of: arm-msi, gpu-nosnoop, mdev, nic-vfio, pasid-quota, smmuv3, vtd-sm (iommu-emu examples lists them)`);
    }
  }
});

test("iommu-emu examples and run example:NAME from the command line", () => {
  const list = cli("examples");
  assert.is(list.status, 0, list.stderr);
  assert.is(
    list.stdout,
    [
      "name         description                                                                                                                         scenario",
      "arm-msi      SMMUv3 reserved regions: MSIs through the SW_MSI window, a fixed doorbell, a p2p window (README \"PASIDs and reserved regions\").     examples/arm-msi/scenario.json",
      "gpu-nosnoop  A vfio GPU's No-Snoop DMA under VT-d with and without snoop control and SMMUv3 with and without CANWBS (README \"Cache coherency\").  examples/gpu-nosnoop/scenario.json",
      "mdev         A mediated device sharing its parent's non-singleton group with two VMs (README \"VMs, PASID allocation and mediated devices\").      examples/mdev/scenario.json",
      "nic-vfio     The dual-function NIC of the /dev/ioasid thread moved from a kernel driver to vfio one function at a time (README \"Driver side\").   examples/nic-vfio/scenario.json",
      "pasid-quota  A VM that allocates PASIDs past its quota (README \"VMs, PASID allocation and mediated devices\").                                    examples/pasid-quota/scenario.json",
      "smmuv3       Arm SMMUv3.2 (the default profile) as Linux's arm-smmu-v3 driver programs it, CANWBS off.                                           examples/smmuv3/scenario.json",
      "vtd-sm       Scalable-mode DMAR unit (Sapphire Rapids capabilities with PASID/PRS on).                                                           examples/vtd-sm/scenario.json",
      "",
      "run one with: iommu-emu run example:NAME",
      "",
    ].join("\n"),
  );
  const r = cli("run", "example:vtd-sm", "--functional");
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.split("\n")[0], "iommu-emu run: examples/vtd-sm/scenario.json with examples/vtd-sm/dma.trace (release core)");
  assert.match(r.stdout, /^ {2}TLPs {2,}3280$/m);
  const bad = cli("run", "example:vtd", "--functional");
  assert.is(bad.status, 2);
  assert.is(bad.stdout, "");
  assert.is(bad.stderr, `iommu-emu: "example:vtd": no bundled example is named "vtd"; expected one of: arm-msi, gpu-nosnoop, mdev, nic-vfio, pasid-quota, smmuv3, vtd-sm (iommu-emu examples lists them)\n`);
});

test.run();
