/**
 * src/arch/vtd/pasid-teardown.ts: the steps VT-d's driver takes for a freed PASID still attached
 * (Linux intel_pasid_tear_down_entry), and that they are the trace's own `inv` driver events.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { vtdTeardownSteps, type VtdTeardownStep } from "../../../src/arch/vtd/pasid-teardown.ts";
import { formatEvent } from "../../../src/trace/text.ts";

const sync: VtdTeardownStep = { op: "sync" };

test("VT-d teardown: entry, PASID cache, PASID-based IOTLB (first-stage, pass-through) or domain IOTLB (second-stage, nested), device-TLB with ATS; a wait after each", () => {
  // First-stage and pass-through: PASID-based IOTLB of the PASID. Segment 1 (0x10300): the device-TLB descriptor's SID has no segment.
  for (const [device, did, domainType] of [[0x300, 7, "fs"], [0x10300, 11, "pt"]] as const)
    assert.equal(vtdTeardownSteps(5, { device, did, domainType, ats: true }), [
      { op: "clear-pasid-entry", device, pasid: 5 },
      { op: "inv", inv: { kind: "pc", gran: "pasid", did, pasid: 5 } },
      sync,
      { op: "inv", inv: { kind: "piotlb", did, pasid: 5 } },
      sync,
      { op: "inv", inv: { kind: "pdevtlb", sid: 0x300, pasid: 5, addr: 0n, pagesLg2: 52, all: false } },
      sync,
    ]);
  // Second-stage and nested: their IOTLB entries are tagged by DID, so the whole domain's go.
  for (const [device, did, domainType] of [[0x301, 9, "ss"], [0x302, 10, "nested"]] as const)
    assert.equal(vtdTeardownSteps(5, { device, did, domainType, ats: false }), [
      { op: "clear-pasid-entry", device, pasid: 5 },
      { op: "inv", inv: { kind: "pc", gran: "pasid", did, pasid: 5 } },
      sync,
      { op: "inv", inv: { kind: "iotlb", reg: false, gran: "dsi", did } },
      sync,
    ]);
});

test("the steps are the trace's own driver events: `inv` lines, which the driver carries out", () => {
  const text = vtdTeardownSteps(5, { device: 0x300, did: 7, domainType: "fs", ats: true }).map((s) => (s.op === "inv" ? formatEvent({ line: 1, column: 1, op: "inv", inv: s.inv }) : s.op));
  // pages = 2^52 = 4503599627370496
  assert.equal(text, ["clear-pasid-entry", "inv pc pasid did=7 pasid=5", "sync", "inv piotlb did=7 pasid=5", "sync", "inv pdevtlb 03:00.0 pasid=5 addr=0x0 pages=4503599627370496", "sync"]);
});

test.run();
