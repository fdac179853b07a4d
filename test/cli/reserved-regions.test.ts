/**
 * Reserved regions wired into scenarios and the driver side (src/iommu/regions.ts; README "PASIDs
 * and reserved regions"), through `run --results --refusals results`: maps and attaches over a
 * region refused with their reasons (VT-d's implicit interrupt window, SMMUv3's SW_MSI window for
 * user space, a p2p window), DIRECT regions identity-mapped and keeping their device from vfio,
 * and the scenario keys' errors at their key.
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
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-regions-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a scenario object; the result lines as [status, pa or reason]. */
function run(name: string, scn: unknown): [unknown, unknown][] {
  const f = join(dir, `${name}.json`);
  writeFileSync(f, JSON.stringify(scn, null, 2));
  const out = join(dir, `${name}.jsonl`);
  const r = cli("run", f, "--results", out, "--refusals", "results");
  assert.is(r.status, 0, r.stderr);
  return readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>).map((l) => [l.status, l.pa ?? l.reason]);
}

/** Runs scenario text that must fail to load; its one stderr line. */
function error(name: string, text: string): string {
  const f = join(dir, `${name}.json`);
  writeFileSync(f, text);
  const r = cli("run", f);
  assert.is(r.status, 2, r.stdout);
  return r.stderr.trim().replace(f, "F");
}

const MSI_REASON = "a hardware MSI window: interrupt writes, never translated";

test("vtd: the interrupt window 0xfee00000-0xfeefffff of every device: a map there refused while the domain has a device, an attach over such a mapping refused", () => {
  const lines = run("vtd-msi", {
    arch: "vtd",
    build: {
      domains: [
        { id: 1, type: "ss", mappings: [{ iova: "0x100000", pa: "0x81000000", size: "0x1000" }] },
        { id: 2, type: "ss" },
      ],
      devices: [{ bdf: "00:02.0", domain: 1 }],
    },
    trace: [
      "map 1 0xfee00000 0x90000000 0x1000", // domain 1 has 00:02.0: refused
      "map 2 0xfee00000 0x90000000 0x1000", // domain 2 has no device yet: mapped
      "replace 00:02.0 domain=2", // 00:02.0's MSI region over that mapping: refused
      "MRd 00:02.0 addr=0x100000", // still domain 1
      "detach 00:02.0",
      "attach 00:02.0 domain=2", // refused as well
      "unmap 2 0xfee00000 0x1000",
      "attach 00:02.0 domain=2", // nothing in the window now
      "map 2 0x200000 0x92000000 0x1000",
      "MRd 00:02.0 addr=0x200000",
    ],
  });
  assert.equal(lines, [
    ["refused", `map 0xfee00000+0x1000 in domain "1": it overlaps the MSI region 0xfee00000-0xfeefffff of 00:02.0, ${MSI_REASON}`],
    ["refused", 'replace 00:02.0 domain=2: attach 00:02.0 to domain "2": its MSI region 0xfee00000-0xfeefffff overlaps the mapping 0xfee00000-0xfee00fff already in the domain'],
    ["ok", "0x81000000"],
    ["refused", 'attach 00:02.0 to domain "2": its MSI region 0xfee00000-0xfeefffff overlaps the mapping 0xfee00000-0xfee00fff already in the domain'],
    ["ok", "0x92000000"],
  ]);
});

test("smmuv3: the SW_MSI window (config.smmu.swMsi 0x10000000 + 1 MiB) kept out of a user (vfio) domain, not of a kernel one; a p2p window kept out of both", () => {
  const lines = run("smmu-swmsi", {
    arch: "smmuv3",
    topology: [
      { bdf: "00:1c.0", type: "root-port" },
      { bdf: "01:00.0", type: "endpoint", parent: "00:1c.0" },
    ],
    drivers: [{ bdf: "01:00.0", driver: "vfio" }],
    reservedRegions: [{ device: "00:03.0", type: "RESERVED", base: "0x40000000", length: "0x10000" }],
    domainAlloc: [{ id: 5, kind: "paging", format: "s1" }],
    build: {
      // The kernel's domain of 00:03.0 maps the SW_MSI window's first page: dma-iommu manages that window itself.
      domains: [{ id: 1, type: "s1", mappings: [{ iova: "0x10000000", pa: "0x81000000", size: "0x1000" }] }],
      devices: [{ bdf: "00:03.0", domain: 1 }],
    },
    config: { smmu: { swMsi: { base: "0x10000000", length: "0x100000" } } },
    trace: [
      "MRd 00:03.0 addr=0x10000000",
      "map 1 0x4000f000 0x90000000 0x1000", // the last page of 00:03.0's p2p window
      "attach 01:00.0 domain=5",
      "map 5 0x100ff000 0x90000000 0x1000", // the window's last page, in user space's domain
      "map 5 0x8000000 0x91000000 0x1000", // the default window's place: an ordinary IOVA here
      "MRd 01:00.0 addr=0x8000000",
    ],
  });
  assert.equal(lines, [
    ["ok", "0x81000000"],
    ["refused", 'map 0x4000f000+0x1000 in domain "1": it overlaps the RESERVED region 0x40000000-0x4000ffff of 00:03.0, a peer-to-peer window the root complex routes before the IOMMU'],
    // The group's every requester ID joins domain 5 (README "Driver side"): its root port 00:1c.0 too, whose window merges with 01:00.0's.
    ["refused", 'map 0x100ff000+0x1000 in domain "5": it overlaps the SW_MSI region 0x10000000-0x100fffff of 00:1c.0, 01:00.0, the software MSI window, where the MSI doorbell mappings go'],
    ["ok", "0x91000000"],
  ]);
});

/** A scenario of `arch` whose device 00:02.0 (domain 1) has a DIRECT region 0x7c000000-0x7c001fff (an RMRR or RMR). */
const direct = (arch: "vtd" | "smmuv3", trace: string[]) => ({
  arch,
  reservedRegions: [{ device: "00:02.0", type: "DIRECT", base: "0x7c000000", length: "0x2000" }],
  build: {
    domains: [{ id: 1, type: arch === "vtd" ? "ss" : "s1", mappings: [{ iova: "0x100000", pa: "0x81000000", size: "0x1000" }] }],
    devices: [{ bdf: "00:02.0", domain: 1 }],
  },
  trace,
});

for (const arch of ["vtd", "smmuv3"] as const) {
  test(`${arch}: a DIRECT region identity-mapped in the device's kernel domain, never mapped by a map, and the device never given to vfio`, () => {
    const lines = run(`direct-${arch}`, direct(arch, ["MRd 00:02.0 addr=0x7c001008", "MWr 00:02.0 addr=0x7c000000", "map 1 0x7c001000 0x90000000 0x1000", "bind 00:02.0 vfio", "MRd 00:02.0 addr=0x100000"]));
    assert.equal(lines, [
      ["ok", "0x7c001008"], // identity, read and write
      ["ok", "0x7c000000"],
      ["refused", 'map 0x7c001000+0x1000 in domain "1": it overlaps the DIRECT region 0x7c000000-0x7c001fff of 00:02.0, identity-mapped for the device at all times (RMRR/RMR)'],
      ["refused", "bind 00:02.0 vfio: 00:02.0 has the DIRECT region 0x7c000000-0x7c001fff (RMRR/RMR): firmware needs it identity-mapped at all times, so the device cannot be blocked or given to user space"],
      ["ok", "0x81000000"], // still the kernel's
    ]);
  });
}

for (const arch of ["vtd", "smmuv3"] as const) {
  test(`${arch}: a DIRECT region identity-mapped in a paging domain domain-alloc made as the device joins it (replace), and kept from maps there`, () => {
    const scn = { ...direct(arch, ["replace 00:02.0 domain=5", "MRd 00:02.0 addr=0x7c000010", "map 5 0x7c000000 0x90000000 0x1000", "map 5 0x100000 0x85000000 0x1000", "MRd 00:02.0 addr=0x100000"]), domainAlloc: [{ id: 5, kind: "paging", format: arch === "vtd" ? "ss" : "s1" }] };
    assert.equal(run(`direct-alloc-${arch}`, scn), [
      ["ok", "0x7c000010"], // domain 5 had nothing at 0x7c000000: the identity mapping came with the replace
      ["refused", 'map 0x7c000000+0x1000 in domain "5": it overlaps the DIRECT region 0x7c000000-0x7c001fff of 00:02.0, identity-mapped for the device at all times (RMRR/RMR)'],
      ["ok", "0x85000000"],
    ]);
  });
}

test("errors at their key: a build mapping over a region, a vfio driver of a device with a DIRECT region, SW_MSI on VT-d, a misaligned region and swMsi", () => {
  // Each text is JSON.stringify(…, null, 2): the key's line and column follow from its nesting (2 spaces a level).
  const text = (o: unknown) => JSON.stringify(o, null, 2);
  const vtd = direct("vtd", []);
  // build.domains[0].mappings[1] is the object on line 22 at column 11 (5 levels of 2 spaces): arch on 2,
  // reservedRegions 3-10 (its entry's 4 keys on 5-8), build 11, domains 12, { 13, id 14, type 15, mappings 16, mappings[0] 17-21.
  vtd.build.domains[0]!.mappings.push({ iova: "0xfeeff000", pa: "0x90000000", size: "0x2000" });
  assert.is(error("e1", text(vtd)), `iommu-emu: F:22:11: build.domains[0].mappings[1]: map 0xfeeff000+0x2000 in domain "1": it overlaps the MSI region 0xfee00000-0xfeefffff of 00:02.0, ${MSI_REASON}`);
  // drivers[0].driver: line 6 (arch on 2, "drivers": [ on 3, { on 4, "bdf" on 5), column 17 (6 spaces and "driver": ).
  assert.is(
    error("e2", text({ arch: "smmuv3", drivers: [{ bdf: "00:02.0", driver: "vfio" }], reservedRegions: direct("smmuv3", []).reservedRegions })),
    "iommu-emu: F:6:17: drivers[0].driver: bind 00:02.0 vfio: 00:02.0 has the DIRECT region 0x7c000000-0x7c001fff (RMRR/RMR): firmware needs it identity-mapped at all times, so the device cannot be blocked or given to user space",
  );
  // reservedRegions[0].type: line 6 (arch 2, "reservedRegions": [ 3, { 4, device 5), column 15 (6 spaces and "type": ); base on line 7.
  assert.is(
    error("e3", text({ arch: "vtd", reservedRegions: [{ device: "00:02.0", type: "SW_MSI", base: "0x8000000", length: "0x100000" }] })),
    "iommu-emu: F:6:15: reservedRegions[0].type: VT-d has no software MSI window: its interrupt window 0xfee00000-0xfeefffff is fixed (type MSI, every device has it)",
  );
  assert.is(
    error("e4", text({ arch: "vtd", reservedRegions: [{ device: "00:02.0", type: "RESERVED", base: "0x40000800", length: "0x1000" }] })),
    "iommu-emu: F:7:15: reservedRegions[0].base: expected a base aligned to 4 KiB (0x1000), got 0x40000800",
  );
  // config.smmu.swMsi.length: arch on 2, config on 3, smmu on 4, swMsi on 5, base on 6, length on 7 at column 19 (8 spaces and "length": ).
  assert.is(
    error("e5", text({ arch: "smmuv3", config: { smmu: { swMsi: { base: "0x8000000", length: "0x800" } } } })),
    "iommu-emu: F:7:19: config.smmu.swMsi.length: expected a length of whole 4 KiB pages (a multiple of 0x1000, at least 0x1000), got 0x800",
  );
});


for (const arch of ["vtd", "smmuv3"] as const) {
  test(`${arch}: a TLP of 00:02.0 into its p2p window 0x40000000-0x4000ffff is routed by the root complex, untranslated and untimed (status p2p, counted); another requester's is translated`, () => {
    const type = arch === "vtd" ? "ss" : "s1";
    const f = join(dir, `p2p-${arch}.json`);
    writeFileSync(
      f,
      JSON.stringify({
        arch,
        reservedRegions: [{ device: "00:02.0", type: "RESERVED", base: "0x40000000", length: "0x10000" }],
        build: {
          domains: [
            { id: 1, type, mappings: [{ iova: "0x100000", pa: "0x81000000", size: "0x1000" }] },
            { id: 2, type, mappings: [{ iova: "0x40000000", pa: "0x83000000", size: "0x1000" }] },
          ],
          devices: [{ bdf: "00:02.0", domain: 1 }, { bdf: "00:03.0", domain: 2 }],
        },
        trace: ["MRd 00:02.0 addr=0x40000008", "MRd 00:03.0 addr=0x40000008", "MRd 00:02.0 addr=0x100000", "MWr 00:02.0 addr=0x4000fffc", "MRd 00:02.0 addr=0x100010"],
      }),
    );
    const out = join(dir, `p2p-${arch}.jsonl`);
    const r = cli("run", f, "--results", out);
    assert.is(r.status, 0, r.stderr);
    const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.every((l) => l.status !== "p2p" || (l.pa === undefined && l.streamId === undefined)));
    assert.equal(
      lines.map((l) => [l.bdf, l.status, l.pa ?? l.addr, typeof l.latency]),
      [
        ["00:02.0", "p2p", "0x40000008", "undefined"], // to the peer at its bus address (addr, no pa): no translation, no timing
        ["00:03.0", "ok", "0x83000008", "number"], // 00:03.0 has no window: its domain 2 translates it
        ["00:02.0", "ok", "0x81000000", "number"],
        ["00:02.0", "p2p", "0x4000fffc", "undefined"], // the window's last dword
        ["00:02.0", "ok", "0x81000010", "number"],
      ],
    );
    // 5 TLPs: 2 routed peer-to-peer, 3 translated.
    assert.match(r.stdout, /\n\s+TLPs\s+5\n/);
    assert.match(r.stdout, /\n\s+translated\s+3 /);
    assert.match(r.stdout, /\n\s+peer-to-peer\s+2\s+\(a p2p window: routed by the root complex, not translated\)\n/);
  });
}


test("smmuv3: MSI writes: through the SW_MSI window to a doorbell behind the SMMU (config.smmu.msiDoorbells), and to a fixed doorbell before it (an MSI region); both interrupts, counted", () => {
  const f = join(dir, "msi.json");
  writeFileSync(
    f,
    JSON.stringify({
      arch: "smmuv3",
      // 00:04.0's platform takes writes to 0x3000000-0x3000fff to its interrupt controller before the SMMU.
      reservedRegions: [{ device: "00:04.0", type: "MSI", base: "0x3000000", length: "0x1000" }],
      build: {
        domains: [{ id: 1, type: "s1", mappings: [{ iova: "0x100000", pa: "0x81000000", size: "0x1000" }] }],
        devices: [{ bdf: "00:02.0", domain: 1 }, { bdf: "00:04.0", domain: 1 }],
      },
      // Two ITS doorbells (GITS_TRANSLATER at ITS base + 0x10040): pages 0x8090000 and 0x80b0000,
      // mapped at the SW_MSI window's pages 0x8000000 and 0x8001000 (Linux MSI_IOVA_BASE).
      config: { smmu: { msiDoorbells: ["0x8090040", "0x80b0040"] } },
      // The last line repeats the first (a TLB hit, on the fast paths): an interrupt all the same.
      trace: ["MWr 00:02.0 addr=0x8000040", "MWr 00:02.0 addr=0x8001040", "MRd 00:02.0 addr=0x8000040", "MWr 00:04.0 addr=0x3000040", "MWr 00:02.0 addr=0x100000", "MWr 00:02.0 addr=0x3000040", "MWr 00:02.0 addr=0x8000040"],
    }),
  );
  const out = join(dir, "msi.jsonl");
  const r = cli("run", f, "--results", out);
  assert.is(r.status, 0, r.stderr);
  const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(
    lines.map((l) => [l.bdf, l.status, l.doorbell ?? l.pa ?? l.fault]),
    [
      ["00:02.0", "interrupt", "0x8090040"], // window page 0 -> the first doorbell's page, offset 0x40
      ["00:02.0", "interrupt", "0x80b0040"], // window page 1 -> the second
      // A read of the window is no MSI: translated as a read of the doorbell page. The mapping is IOMMU_WRITE
      // only, but a VMSA descriptor has no write-only AP (Linux arm_lpae_prot_to_pte sets AP read-only only for read without write).
      ["00:02.0", "ok", "0x8090040"],
      ["00:04.0", "interrupt", "0x3000040"], // a fixed doorbell: never reaches the SMMU
      ["00:02.0", "ok", "0x81000000"],
      ["00:02.0", "fault", { code: 0x10, name: "F_TRANSLATION", recorded: true, stage: 1 }], // 0x3000000 is 00:04.0's doorbell only: 00:02.0's write is translated, and unmapped
      ["00:02.0", "interrupt", "0x8090040"],
    ],
  );
  // 7 TLPs: 4 interrupts (3 translated through the window, 1 before the SMMU); translated 5: the 3 MSI writes, the read and the DMA write.
  assert.match(r.stdout, /\n\s+TLPs\s+7\n/);
  assert.match(r.stdout, /\n\s+interrupt requests\s+4\n/);
  assert.match(r.stdout, /\n\s+translated\s+5 /);
});


test("examples/arm-msi: the p2p window routed and refused to maps, MSIs through the SW_MSI window and to the fixed doorbell, per requester", () => {
  const out = join(dir, "arm-msi.jsonl");
  const r = cli("run", "examples/arm-msi/scenario.json", "--results", out, "--refusals", "results");
  assert.is(r.status, 0, r.stderr);
  const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  // The trace starts on the scenario's line 20.
  assert.equal(
    lines.map((l) => [l.line, l.bdf ?? l.event, l.status, l.pa ?? l.doorbell ?? l.reason ?? (l.fault as { name: string } | undefined)?.name ?? l.addr, typeof l.latency]),
    [
      [20, "01:00.0", "ok", "0x81000000", "number"],
      [21, "01:00.0", "p2p", "0x40000100", "undefined"], // the accelerator's BAR: to the peer, untranslated, untimed
      [22, "01:00.0", "interrupt", "0x8090040", "number"], // SW_MSI page 0 -> the ITS doorbell page, translated by the SMMU
      [23, "map", "refused", 'map 0x40000000+0x1000 in domain "1": it overlaps the RESERVED region 0x40000000-0x400fffff of 01:00.0, a peer-to-peer window the root complex routes before the IOMMU', "undefined"],
      [24, "02:00.0", "interrupt", "0x3000040", "undefined"], // the fixed doorbell: taken before the SMMU, untimed
      [25, "02:00.0", "interrupt", "0x8090040", "number"], // domain 2 has the same doorbell mapping
      [26, "02:00.0", "ok", "0x82000000", "number"],
      [27, "02:00.0", "fault", "F_TRANSLATION", "number"], // 02:00.0 has no p2p window: translated, and 0x40000100 is not mapped in domain 2
    ],
  );
  // 7 TLPs: translated 4 (2 ok, 2 doorbell writes through the window), 1 fault, 3 interrupts (2 + the fixed doorbell), 1 p2p.
  assert.match(r.stdout, /\n\s+TLPs\s+7\n\s+translated\s+4\s+\(57\.1%\)\n\s+faulted\s+1\s+\(14\.3%\), 1 recorded\n\s+interrupt requests\s+3\n\s+peer-to-peer\s+1\s+/);
  assert.match(r.stdout, /\n\s+refused driver events\s+1\n/);
});

test.run();
