/**
 * The driver side through the CLI (README "Driver side"): the bundled example examples/nic-vfio
 * (the /dev/ioasid thread's dual-function NIC) replayed by `run --results --refusals results`, and
 * the scenario key `drivers` validated with located errors.
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
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-driver-side-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const GROUP = "group 2 (02:01.0, 03:00.0, 03:00.1)";

test("examples/nic-vfio: which step is refused and why, which TLPs are blocked, which domain the others reach", () => {
  const out = join(dir, "nic.jsonl");
  const r = cli("run", "examples/nic-vfio/scenario.json", "--results", out, "--refusals", "results");
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /refused driver events\s+2\n/);
  const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  // Trace lines count from the scenario's line 26 ("trace" starts on line 25).
  assert.equal(
    lines.map((l) => [l.line, l.bdf ?? l.event, l.status, l.pa ?? l.reason]),
    [
      [26, "03:00.1", "ok", "0x81000000"], // kernel-bound: the kernel's domain 1
      [28, "bind", "refused", `bind 03:00.1 vfio: ${GROUP} is not viable for user space: 03:00.0 is bound to kernel:e1000e (iommu_device_claim_dma_owner: -EBUSY); unbind it first`],
      [32, "03:00.0", "blocked", undefined], // both vfio-bound, nothing attached
      [33, "03:00.1", "blocked", undefined],
      [37, "03:00.0", "ok", "0x82000000"], // attach 03:00.0 domain=2: the group's domain
      [38, "03:00.1", "ok", "0x82000000"],
      [40, "03:00.1", "blocked", undefined], // the last attached device detached
      [42, "bind", "refused", `bind 03:00.0 kernel:e1000e: ${GROUP} is owned by user space (03:00.1 is bound to vfio): a kernel driver cannot DMA in it (iommu_device_use_default_domain: -EBUSY; the BUG_ON of the /dev/ioasid thread)`],
      [45, "03:00.0", "ok", "0x81000000"], // released: the default domain is back
      [46, "03:00.1", "ok", "0x81000000"],
    ],
  );
});

const scenario = (drivers: unknown) =>
  `{\n  "arch": "vtd",\n  "topology": [\n    { "bdf": "00:1c.0", "type": "root-port" },\n    { "bdf": "01:00.0", "type": "endpoint", "parent": "00:1c.0" },\n    { "bdf": "01:00.1", "type": "endpoint", "parent": "00:1c.0" }\n  ],\n  "drivers": [\n${(drivers as unknown[]).map((d) => `    ${JSON.stringify(d)}`).join(",\n")}\n  ],\n  "trace": []\n}\n`;

test("drivers: a binding the ownership rules refuse is an error at its driver key; a bad driver name too", () => {
  const f = join(dir, "bad.json");
  writeFileSync(f, scenario([{ bdf: "01:00.0", driver: "kernel:ixgbe" }, { bdf: "01:00.1", driver: "vfio" }]));
  let r = cli("run", f);
  assert.is(r.status, 2);
  // Line 10 is drivers[1] (line 9 drivers[0]); its "driver" value starts at column 31 (4 spaces and {"bdf":"01:00.1","driver": before it).
  assert.is(
    r.stderr.trim(),
    `iommu-emu: ${f}:10:31: drivers[1].driver: bind 01:00.1 vfio: group 0 (00:1c.0, 01:00.0, 01:00.1) is not viable for user space: 01:00.0 is bound to kernel:ixgbe (iommu_device_claim_dma_owner: -EBUSY); unbind it first`,
  );
  writeFileSync(f, scenario([{ bdf: "01:00.0", driver: "e1000e" }]));
  r = cli("run", f);
  assert.is(r.status, 2);
  assert.is(r.stderr.trim(), `iommu-emu: ${f}:9:31: drivers[0].driver: expected "vfio" or "kernel:NAME" (NAME of letters, digits, _ - ., at most 17 characters), got "e1000e"`);
});

test.run();
