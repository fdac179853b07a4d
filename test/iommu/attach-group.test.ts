/**
 * `attach group=N domain=D`, `replace group=N domain=D`, `detach group=N` (src/iommu/iommu.ts
 * groupEvent; vfio's legacy container path: Linux drivers/iommu/iommu.c iommu_attach_group,
 * iommu_group_replace_domain, iommu_detach_group over __iommu_group_set_domain) on VT-d scalable,
 * VT-d legacy and SMMUv3, and their text and binary forms.
 *
 * The harness topology (issue 11's example): group 4 is the downstream port 02:01.0 (PORT) with the
 * two functions 03:00.0 and 03:00.1 (NIC0, NIC1) below it; 00:02.0 (GPU) is group 0 alone. Domain d
 * maps IOVA 0x100000 to PA 0x80000000 + d << 24, so `ok d` names the domain that translated a TLP.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setup, NIC0, NIC1, PORT, UNITS, outcome, type Setup } from "./harness.ts";
import { replay, replayReader, type DriverResult, type Refusal } from "../../src/replay/replay.ts";
import { parseTraceText, formatEvent } from "../../src/trace/text.ts";
import { BinaryTraceReader, BinaryTraceWriter, decodeDriverEvent, encodeDriverEvent } from "../../src/trace/binary.ts";
import { RegionGuard, scenarioRegions } from "../../src/iommu/regions.ts";
import { vtdReservedRegions } from "../../src/arch/vtd/regions.ts";
import { smmuReservedRegions } from "../../src/arch/smmuv3/regions.ts";
import { fails, one, recordsAre } from "./trace-helpers.ts";
import { convertCommand } from "../../src/cli/convert.ts";

const GROUP4 = "group 4 (02:01.0, 03:00.0, 03:00.1)";
const rd = (bdf: string, pasid?: number) => `MRd ${bdf}${pasid !== undefined ? ` pasid=${pasid}` : ""} addr=0x100000`;
/** Group 4's three requester IDs, in group order. */
const G4 = [rd("02:01.0"), rd("03:00.0"), rd("03:00.1")];
/** The ok result line of a group event on group 4. */
const note4 = (domain: number) => JSON.stringify({ group: 4, devices: ["02:01.0", "03:00.0", "03:00.1"], domain });

/** Replays `text` on the setup's layer: each TLP's outcome, and each ok result line's note and refusal by trace line. */
function run(s: Setup, text: string) {
  const lines: string[] = [];
  const outcomes: string[] = [];
  replay(s.p, parseTraceText(text, "t.trace"), (_, t, r) => outcomes.push(outcome(s.layer.outcome(t, r))), {
    driver: s.layer,
    file: "t.trace",
    refusals: "results",
    onRefusal: (x: Refusal) => lines.push(`${x.line}: refused: ${x.reason}`),
    onNote: (n: DriverResult) => lines.push(`${n.line}: ${JSON.stringify(n.note)}`),
  });
  return { lines, outcomes };
}

for (const unit of UNITS) {
  test(`${unit}: attach, replace and detach of group 4 move its three requester IDs together; the per-device rules still hold after`, () => {
    const s = setup(unit, [[NIC0, "vfio"]]); // 03:00.1 has no driver: the group is user-owned all the same
    const r = run(
      s,
      [
        ...G4, //                       1-3: user-owned, nothing attached: blocked
        "attach group=4 domain=2", //   4
        ...G4, //                       5-7: domain 2 for all three
        "attach group=4 domain=3", //   8: refused, the group has a domain (-EBUSY)
        "replace group=4 domain=3", //  9
        ...G4, //                       10-12: domain 3
        "detach group=4", //            13
        ...G4, //                       14-16: blocked again (ownership not released)
        "detach group=4", //            17: refused, nothing attached
        "replace group=4 domain=2", //  18: refused, nothing attached
        "attach group=4 domain=2", //   19
        "detach 03:00.0", //            20: the one vfio device counted as attached: the group is blocked
        ...G4, //                       21-23
      ].join("\n"),
    );
    assert.equal(r.outcomes, ["blocked", "blocked", "blocked", "ok 2", "ok 2", "ok 2", "ok 3", "ok 3", "ok 3", "blocked", "blocked", "blocked", "blocked", "blocked", "blocked"]);
    assert.equal(r.lines, [
      `4: ${note4(2)}`,
      `8: refused: attach group=4 domain=3: ${GROUP4} is attached to domain 2 already (iommu_attach_group: -EBUSY); replace it instead`,
      `9: ${note4(3)}`,
      `13: ${note4(3)}`,
      `17: refused: detach group=4: ${GROUP4} is not attached to a domain`,
      `18: refused: replace group=4 domain=2: ${GROUP4} is not attached; attach it first (iommu_group_replace_domain)`,
      `19: ${note4(2)}`,
    ]);
  });

  test(`${unit}: a group that user space does not own is refused, naming the kernel-bound device; nothing changes`, () => {
    const s = setup(unit, [[NIC1, "kernel:e1000e"]]);
    const r = run(s, ["attach group=4 domain=2", rd("03:00.0"), rd("03:00.1"), "attach group=0 domain=2", rd("00:02.0")].join("\n"));
    assert.equal(r.lines, [
      `1: refused: attach group=4 domain=2: ${GROUP4} is not owned by user space: 03:00.1 is bound to kernel:e1000e, not to vfio (a group is attached through vfio only once vfio owns it: iommu_group_claim_dma_owner)`,
      "4: refused: attach group=0 domain=2: group 0 (00:02.0) is not owned by user space: none of its devices is bound to vfio (a group is attached through vfio only once vfio owns it: iommu_group_claim_dma_owner)",
    ]);
    // The kernel's default domain 1 (the harness's build attaches) for both functions and the GPU.
    assert.equal(r.outcomes, ["ok 1", "ok 1", "ok 1"]);
  });

  test(`${unit}: all or nothing: 03:00.1's reserved region over domain 2's mapping refuses the group; 02:01.0 and 03:00.0 stay blocked`, () => {
    // A RESERVED (peer-to-peer) window of 03:00.1 at 0x100000-0x100fff, which domain 2 maps already.
    const guard = new RegionGuard(scenarioRegions({ reservedRegions: [{ device: NIC1, type: "RESERVED", base: 0x100000n, length: 0x1000n }] }, unit === "smmuv3" ? smmuReservedRegions() : vtdReservedRegions()), [PORT, NIC0, NIC1], [[2, { first: 0x100000n, last: 0x100fffn }]]);
    const s = setup(unit, [[NIC0, "vfio"], [NIC1, "vfio"]], {}, guard);
    const r = run(s, ["attach group=4 domain=2", rd("02:01.0"), rd("03:00.0"), "attach group=4 domain=3", rd("02:01.0"), rd("03:00.0")].join("\n"));
    assert.equal(r.lines, [
      '1: refused: attach group=4 domain=2: attach 03:00.1 to domain "2": its RESERVED region 0x100000-0x100fff overlaps the mapping 0x100000-0x100fff already in the domain',
      `4: ${note4(3)}`,
    ]);
    assert.equal(r.outcomes, ["blocked", "blocked", "ok 3", "ok 3"]);
  });
}

test("smmuv3: all or nothing when the unit refuses the third requester ID: 02:01.0 and 03:00.0, already moved, go back (blocked; then domain 2 for a replace)", () => {
  const s = setup("smmuv3", [[NIC0, "vfio"], [NIC1, "vfio"]]);
  const r = run(
    s,
    [
      "domain-alloc 5 paging format=s2", //  1
      "attach 03:00.1 pasid=1 domain=3", //   2: a substream of 03:00.1
      "attach group=4 domain=5", //           3: 02:01.0 and 03:00.0 take the stage-2 STE; 03:00.1 cannot (its substreams)
      ...G4, //                               4-6: blocked, all three
      rd("03:00.1", 1), //                    7: its substream untouched: domain 3
      "attach group=4 domain=2", //           8
      "replace group=4 domain=5", //          9: the same refusal at 03:00.1: back to domain 2
      ...G4, //                               10-12
    ].join("\n"),
  );
  const why = "attach of StreamID 0x301 (03:00.1): a stage-2 domain cannot serve a stream with substreams attached";
  assert.equal(r.lines, [`3: refused: attach group=4 domain=5: ${why}`, `8: ${note4(2)}`, `9: refused: replace group=4 domain=5: ${why}`]);
  assert.equal(r.outcomes, ["blocked", "blocked", "blocked", "ok 3", "ok 2", "ok 2", "ok 2"]);
});

test("smmuv3: the MSI doorbell page goes into the group's domain once, after the group moved (iommufd_group_setup_msi); one over a mapping in the SW_MSI window refuses the group", () => {
  // One doorbell at 0x8090040 behind the IOMMU: its page goes at the SW_MSI window's first page, 0x8000000.
  const guard = new RegionGuard(scenarioRegions({}, smmuReservedRegions(), [0x809_0040n]), [PORT, NIC0, NIC1]);
  const s = setup("smmuv3", [[NIC0, "vfio"]], {}, guard);
  const msi = (bdf: string) => `MWr ${bdf} addr=0x8000040`;
  const r1 = run(s, ["map 3 0x8000000 0x90000000 0x1000", "attach group=4 domain=3", msi("03:00.1")].join("\n"));
  assert.equal(r1.lines, ['2: refused: attach group=4 domain=3: attach 02:01.0 to domain "3": its SW_MSI region 0x8000000-0x80fffff overlaps the mapping 0x8000000-0x8000fff already in the domain']);
  assert.equal(r1.outcomes, ["blocked"]);
  const maps = s.layer.stats.maps;
  const r2 = run(s, ["attach group=4 domain=2", msi("02:01.0"), msi("03:00.0"), msi("03:00.1"), rd("03:00.0")].join("\n"));
  assert.equal(r2.lines, [`1: ${note4(2)}`]);
  // The three requester IDs reach the doorbell through domain 2's one new page (one driver map); the IOVA page still domain 2's.
  assert.equal(r2.outcomes, ["ok 0x8090040", "ok 0x8090040", "ok 0x8090040", "ok 2"]);
  assert.is(s.layer.stats.maps - maps, 1);
});

test("vtd: replace group rewrites each device's PASID-table entry in group order, each with PASID cache then PASID-based IOTLB; DMA between the steps sees the old or the new domain, per device", () => {
  const s = setup("vtd", [[NIC0, "vfio"]]);
  const attaches = s.layer.stats.attaches;
  run(s, "attach group=4 domain=2");
  // One attach per requester ID (02:01.0, 03:00.0, 03:00.1); not-present to present needs no invalidation (CM=0).
  assert.is(s.layer.stats.attaches - attaches, 3);
  const seen: string[] = [];
  const driver = s.layer.arch as unknown as { onEntryStep?: (step: string) => void };
  for (const sid of [PORT, NIC0, NIC1]) s.dma(sid); // the PASID cache holds domain 2's entries
  driver.onEntryStep = (step) => seen.push(`${step}: ${[PORT, NIC0, NIC1].map((d) => s.dma(d)).join(", ")}`);
  const before = s.layer.stats.queuedDescriptors;
  run(s, "replace group=4 domain=3");
  // Until its PASID-cache invalidation a device's cached entry (domain 2) serves; the later devices keep domain 2 until their turn.
  assert.equal(seen, [
    "entry: ok 2, ok 2, ok 2",
    "pasid-cache: ok 3, ok 2, ok 2",
    "piotlb: ok 3, ok 2, ok 2",
    "entry: ok 3, ok 2, ok 2",
    "pasid-cache: ok 3, ok 3, ok 2",
    "piotlb: ok 3, ok 3, ok 2",
    "entry: ok 3, ok 3, ok 2",
    "pasid-cache: ok 3, ok 3, ok 3",
    "piotlb: ok 3, ok 3, ok 3",
  ]);
  // Per device two qi_submit_sync (PASID cache + wait, PASID-based IOTLB + wait): 3 x 4 descriptors.
  assert.is(s.layer.stats.queuedDescriptors - before, 12);
});

test("smmuv3: a group attach updates each stream's STE in group order (CMD_CFGI_STE of StreamIDs 0x208, 0x300, 0x301)", () => {
  const s = setup("smmuv3", [[NIC0, "vfio"]]);
  const driver = s.layer.arch as unknown as { issued: { name: string; q0: bigint }[] };
  const from = driver.issued.length;
  run(s, "attach group=4 domain=2");
  const sids = driver.issued.slice(from).filter((c) => c.name === "CMD_CFGI_STE").map((c) => Number(c.q0 >> 32n));
  // Consecutive repeats are one stream's hitless update steps: the streams in order are the group's.
  assert.equal(sids.filter((x, i) => i === 0 || sids[i - 1] !== x), [PORT, NIC0, NIC1]);
});

test("a group the topology does not have is an input error at its line (text) or record (binary), listing the groups, even with refusals as results", () => {
  const groups = "the topology's groups are 0 (00:02.0), 1 (00:1c.0), 2 (00:1d.0, 04:00.0, 05:01.0), 3 (01:00.0), 4 (02:01.0, 03:00.0, 03:00.1)";
  const s = setup("vtd", [[NIC0, "vfio"]]);
  assert.throws(() => run(s, `${rd("03:00.0")}\n  replace group=9 domain=2`), (e: Error) => e.message === `t.trace:2:3: replace: there is no group 9; ${groups}`);
  const dir = mkdtempSync(join(tmpdir(), "attach-group-"));
  try {
    const file = join(dir, "g.itb");
    const w = new BinaryTraceWriter(file);
    for (const e of parseTraceText(`${rd("03:00.0")}\nattach group=4 domain=2\ndetach group=5`, "g.trace")) w.write(e);
    w.commit();
    const b = setup("smmuv3", [[NIC0, "vfio"]]);
    const reader = new BinaryTraceReader(file);
    try {
      assert.throws(() => replayReader(b.p, reader, undefined, { driver: b.layer, refusals: "results", onRefusal: () => {} }), (e: Error) => e.message === `${file}:record 3: detach: there is no group 5; ${groups}`);
    } finally {
      reader.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("text: the group forms parse to their fields and format back; errors at the token", () => {
  assert.equal(one("attach group=4 domain=2"), { line: 1, column: 1, op: "attach", group: 4, domain: 2 });
  assert.equal(one("@5 detach group=0"), { line: 1, column: 4, time: { value: 5, unit: "cycles" }, op: "detach", group: 0 });
  assert.equal(one("replace group=65535 domain=7"), { line: 1, column: 1, op: "replace", group: 65535, domain: 7 });
  for (const l of ["attach group=4 domain=2", "detach group=4", "replace group=4 domain=3", "@12ns attach group=0 domain=65535"]) assert.is(formatEvent(one(l)), l);
  fails("attach group=x domain=2", '8: expected group=N with N a group number (decimal, as iommu-emu groups prints it), got "group=x"');
  fails("attach group=65536 domain=2", "8: group 65536 is out of range (max 65535)");
  fails("attach group=4", "1: attach group=N needs domain=");
  fails("attach group=4 domain=2 pasid=1", '25: "pasid=" is per device; attach group=N takes domain= only (a group attaches its devices\' requests without PASID)');
  fails("attach group=4 ats domain=2", '16: "ats" is per device; attach group=N takes domain= only (a group attaches its devices\' requests without PASID)');
  fails("detach group=4 domain=2", '16: unexpected token "domain=2"; detach group=N takes nothing more');
  fails("replace group=4 domain=2 now", '26: unknown token "now"; replace group=N takes domain=');
});

test("binary: OP 4, 5, 6 with D bit 7 (G: B is the group), word by word, and back; a group record with a per-device bit is refused", () => {
  // Words: A lo, A hi, time lo, time hi, B, C, D, FLAGS (KIND 4 | OP << 16).
  recordsAre([
    ["attach group=4 domain=2", [2, 0, 0, 0, 4, 0, 0x80, 0x4 | (4 << 16)]],
    ["detach group=4", [0, 0, 0, 0, 4, 0, 0x80, 0x4 | (5 << 16)]],
    ["replace group=4 domain=3", [3, 0, 0, 0, 4, 0, 0x80, 0x4 | (6 << 16)]],
  ]);
  const w = encodeDriverEvent(one("attach group=4 domain=2"));
  w[6] = 0x80 | 2; // G with ats
  assert.is(decodeDriverEvent(w, 0, 1), "the attach event has non-zero bits in unused fields (attach group=4 domain=2 is encoded otherwise)");
  w[6] = 0x80;
  w[5] = 1; // a PASID operand
  assert.is(decodeDriverEvent(w, 0, 1), "the attach event has non-zero bits in unused fields (attach group=4 domain=2 is encoded otherwise)");
});

test("convert: text -> binary -> text gives the same text, and binary -> text -> binary the same bytes, with the group events and mdev-remove", () => {
  const text = ["@10 attach group=4 domain=2", "MRd 03:00.0 addr=0x100000", "@20 replace group=4 domain=65535", "detach group=0", "@1.5us mdev-remove 03:00.0 vm=vmA", "attach 03:00.0 pasid=1 domain=2 ats", ""].join("\n");
  const dir = mkdtempSync(join(tmpdir(), "attach-group-"));
  try {
    const at = (f: string) => join(dir, f);
    writeFileSync(at("a.trace"), text);
    convertCommand(at("a.trace"), at("a.itb"));
    convertCommand(at("a.itb"), at("b.trace"));
    assert.is(readFileSync(at("b.trace"), "utf8"), text);
    convertCommand(at("b.trace"), at("b.itb"));
    assert.equal(readFileSync(at("b.itb")), readFileSync(at("a.itb")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
