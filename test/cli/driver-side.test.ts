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

/** A VT-d scenario with domain 1 (second stage, 0x100000 -> 0x81000000) on 00:02.0, `domainAlloc` one entry per line from line 12, and an inline trace. */
const withAllocs = (allocs: unknown[], trace: string[]) =>
  `{
  "arch": "vtd",
  "build": {
    "domains": [
      { "id": 1, "type": "ss", "mappings": [{ "iova": "0x100000", "pa": "0x81000000", "size": "0x1000", "perm": "rw" }] }
    ],
    "devices": [{ "bdf": "00:02.0", "domain": 1 }]
  },
  "drivers": [{ "bdf": "00:02.0", "driver": "kernel:i915" }],
  "trace": ${JSON.stringify(trace)},
  "domainAlloc": [
${allocs.map((a) => `    ${JSON.stringify(a)}`).join(",\n")}
  ]
}
`;

test("run uses the scenario's groupRule: under pcie-switch-groups-v3 an asymmetric switch is one group, so vfio beside a kernel driver is refused", () => {
  // The asymmetric switch of the series' patch 03 (test/iommu/group-rule.test.ts): 6.12 gives
  // 03:00.0 and 04:00.0 separate groups; v3 group 2 is 02:00.0, 02:03.0, 03:00.0, 04:00.0.
  const FULL = ["SV", "RR", "CR", "UF"];
  const text = (rule: string) => `{
  "arch": "vtd",${rule}
  "topology": ${JSON.stringify([
    { bdf: "00:00.0", type: "root-port", acs: FULL },
    { bdf: "01:00.0", type: "upstream-port", parent: "00:00.0" },
    { bdf: "02:00.0", type: "downstream-port", parent: "01:00.0", acs: FULL },
    { bdf: "02:03.0", type: "downstream-port", parent: "01:00.0", acs: [] },
    { bdf: "03:00.0", type: "endpoint", parent: "02:00.0" },
    { bdf: "04:00.0", type: "endpoint", parent: "02:03.0" },
  ])},
  "trace": ["bind 03:00.0 kernel:nvme", "bind 04:00.0 vfio"]
}
`;
  const refusals = (rule: string) => {
    const f = join(dir, "rule.json");
    const out = join(dir, "rule.jsonl");
    writeFileSync(f, text(rule));
    const r = cli("run", f, "--results", out, "--refusals", "results");
    assert.is(r.status, 0, r.stderr);
    return readFileSync(out, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.status === "refused").map((l) => l.reason);
  };
  assert.equal(refusals(""), []);
  assert.equal(refusals('\n  "groupRule": "pcie-switch-groups-v3",'), [
    "bind 04:00.0 vfio: group 2 (02:00.0, 02:03.0, 03:00.0, 04:00.0) is not viable for user space: 03:00.0 is bound to kernel:nvme (iommu_device_claim_dma_owner: -EBUSY); unbind it first",
  ]);
});

test("domainAlloc: domains allocated before the trace (a first-stage paging domain and a blocking one), used by the trace", () => {
  const f = join(dir, "allocs.json");
  writeFileSync(f, withAllocs([{ id: 5, kind: "paging", format: "fs" }, { id: 8, kind: "blocking" }], ["map 5 0x100000 0x85000000 0x1000", "replace 00:02.0 domain=5", "MRd 00:02.0 addr=0x100000", "attach 00:02.0 domain=8", "MRd 00:02.0 addr=0x100000", "map 8 0x0 0x0 0x1000"]));
  const out = join(dir, "allocs.jsonl");
  const r = cli("run", f, "--results", out, "--refusals", "results");
  assert.is(r.status, 0, r.stderr);
  const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(
    lines.map((l) => [l.status, l.pa ?? l.reason]),
    [
      ["ok", "0x85000000"], // domain 5 (first stage, PGTT 1 after the replace)
      ["blocked", undefined], // the blocking domain 8 attached
      ["refused", "map 8: domain 8 is a blocking domain: it has no page tables"],
    ],
  );
});

test("domainAlloc: errors at the entry's key, with line and column", () => {
  const f = join(dir, "allocs-bad.json");
  // Line 13 is domainAlloc[1]; its id value is at column 11 (4 spaces and {"id": before it).
  writeFileSync(f, withAllocs([{ id: 5, kind: "paging" }, { id: 1, kind: "blocking" }], []));
  let r = cli("run", f);
  assert.is(r.status, 2);
  assert.is(r.stderr.trim(), `iommu-emu: ${f}:13:11: domainAlloc[1].id: domain 1 exists already`);
  // Line 12 is domainAlloc[0]; its format value is at column 40 (4 spaces and {"id":5,"kind":"identity","format": before it).
  writeFileSync(f, withAllocs([{ id: 5, kind: "identity", format: "fs" }], []));
  r = cli("run", f);
  assert.is(r.status, 2);
  assert.is(r.stderr.trim(), `iommu-emu: ${f}:12:40: domainAlloc[0].format: format is for paging domains, not identity ones`);
});

/** Writes scenario object `scn` as NAME.json, runs it with `--results NAME.jsonl --refusals results` (exit 0), and returns the result lines. */
function runResults(name: string, scn: unknown): Record<string, unknown>[] {
  const f = join(dir, `${name}.json`);
  const out = join(dir, `${name}.jsonl`);
  writeFileSync(f, JSON.stringify(scn, null, 2));
  const r = cli("run", f, "--results", out, "--refusals", "results");
  assert.is(r.status, 0, r.stderr);
  return readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
}

test("smmuv3 behind an IORT map (RID 03:00.x -> StreamID 0x40 + x): the driver side blocks, attaches and restores the streams of the RIDs it names", () => {
  const scn = {
    arch: "smmuv3",
    topology: [
      { bdf: "00:1c.0", type: "root-port", acs: ["SV", "RR", "CR", "UF"] },
      { bdf: "01:00.0", type: "upstream-port", parent: "00:1c.0" },
      { bdf: "02:01.0", type: "downstream-port", parent: "01:00.0", acs: [] },
      { bdf: "03:00.0", type: "endpoint", parent: "02:01.0" },
      { bdf: "03:00.1", type: "endpoint", parent: "02:01.0", acs: [] },
    ],
    // 02:01.0 has no StreamID (no mapping covers it): there is no stream to block.
    drivers: [{ bdf: "03:00.0", driver: "vfio" }, { bdf: "03:00.1", driver: "vfio" }],
    build: {
      domains: [
        { id: 1, type: "s1", mappings: [{ iova: "0x100000", pa: "0x81000000", size: "0x1000" }] },
        { id: 2, type: "s1", mappings: [{ iova: "0x100000", pa: "0x82000000", size: "0x1000" }] },
      ],
      devices: [{ bdf: "03:00.0", domain: 1 }, { bdf: "03:00.1", domain: 1 }],
    },
    config: { smmu: { rootComplexes: [{ segment: 0, idMappings: [{ rid: "03:00.0", count: 8, streamId: "0x40" }] }] } },
    trace: ["MRd 03:00.1 addr=0x100000", "attach 03:00.0 domain=2", "MRd 03:00.0 addr=0x100000", "MRd 03:00.1 addr=0x100000", "detach 03:00.0", "MRd 03:00.1 addr=0x100000", "unbind 03:00.0", "unbind 03:00.1", "MRd 03:00.0 addr=0x100000"],
  };
  const lines = runResults("smmu-iort", scn);
  assert.equal(
    lines.map((l) => [l.bdf, l.status, l.pa]),
    [
      ["03:00.1", "blocked", undefined], // both vfio-bound from the start: StreamID 0x41's abort STE
      ["03:00.0", "ok", "0x82000000"], // the group's domain 2, on StreamIDs 0x40 and 0x41
      ["03:00.1", "ok", "0x82000000"],
      ["03:00.1", "blocked", undefined], // the last attached device detached
      ["03:00.0", "ok", "0x81000000"], // released: the default domain 1
    ],
  );
});

test("smmuv3: a scenario's domainAlloc nested domain over a build stage-2 parent, filled and attached by the trace (a stream with no CD table yet)", () => {
  const scn = {
    arch: "smmuv3",
    topology: [
      { bdf: "00:1c.0", type: "root-port", acs: ["SV", "RR", "CR", "UF"] },
      { bdf: "01:00.0", type: "endpoint", parent: "00:1c.0" },
    ],
    drivers: [{ bdf: "01:00.0", driver: "vfio" }],
    // Guest RAM: IPA 0x40000000-0x40001fff -> PA 0x86000000-0x86001fff in the stage-2 parent.
    build: { domains: [{ id: 5, type: "s2", mappings: [{ iova: "0x40000000", pa: "0x86000000", size: "0x2000" }] }] },
    domainAlloc: [{ id: 6, kind: "nested", parent: 5 }],
    trace: [
      "map 6 0x200000 0x40000000 0x2000", // the guest's stage 1: VA 0x200000-0x201fff -> IPA 0x40000000-0x40001fff
      "map 6 0x202000 0x48000000 0x1000", // VA 0x202000 -> IPA 0x48000000, which 5 does not map
      "attach 01:00.0 domain=6", // StreamID 0x100: its CD table allocated now, at IPA = PA in 5
      "MRd 01:00.0 addr=0x201008", // -> IPA 0x40001008 -> PA 0x86001008
      "MRd 01:00.0 addr=0x203000", // no stage-1 leaf: F_TRANSLATION, stage 1
      "MRd 01:00.0 addr=0x202010", // IPA 0x48000010 unmapped in 5: F_TRANSLATION, stage 2, CLASS IN
      "detach 01:00.0",
      "MRd 01:00.0 addr=0x201008", // blocked again (abort STE)
    ],
  };
  const lines = runResults("smmu-nested", scn);
  assert.equal(
    lines.map((l) => [l.status, l.pa, l.fault]),
    [
      ["ok", "0x86001008", undefined],
      ["fault", undefined, { code: 0x10, name: "F_TRANSLATION", recorded: true, stage: 1 }],
      ["fault", undefined, { code: 0x10, name: "F_TRANSLATION", recorded: true, stage: 2, class: "IN" }],
      ["blocked", undefined, undefined],
    ],
  );
});

test.run();
