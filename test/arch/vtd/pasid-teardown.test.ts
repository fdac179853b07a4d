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
  assert.equal(vtdTeardownSteps(5, { device: 0x300, did: 7, domainType: "fs", ats: true }), [
    { op: "clear-pasid-entry", device: 0x300, pasid: 5 },
    { op: "inv", inv: { kind: "pc", gran: "pasid", did: 7, pasid: 5 } },
    sync,
    { op: "inv", inv: { kind: "piotlb", did: 7, pasid: 5 } },
    sync,
    { op: "inv", inv: { kind: "pdevtlb", sid: 0x300, pasid: 5, addr: 0n, pagesLg2: 52, all: false } },
    sync,
  ]);
  assert.equal(vtdTeardownSteps(5, { device: 0x301, did: 9, domainType: "ss", ats: false }), [
    { op: "clear-pasid-entry", device: 0x301, pasid: 5 },
    { op: "inv", inv: { kind: "pc", gran: "pasid", did: 9, pasid: 5 } },
    sync,
    { op: "inv", inv: { kind: "iotlb", reg: false, gran: "dsi", did: 9 } },
    sync,
  ]);
  assert.equal(vtdTeardownSteps(5, { device: 0x302, did: 10, domainType: "nested", ats: false }), [
    { op: "clear-pasid-entry", device: 0x302, pasid: 5 },
    { op: "inv", inv: { kind: "pc", gran: "pasid", did: 10, pasid: 5 } },
    sync,
    { op: "inv", inv: { kind: "iotlb", reg: false, gran: "dsi", did: 10 } },
    sync,
  ]);
  // segment 1: the descriptor's SID has no segment
  assert.equal(vtdTeardownSteps(5, { device: 0x10300, did: 11, domainType: "pt", ats: true }), [
    { op: "clear-pasid-entry", device: 0x10300, pasid: 5 },
    { op: "inv", inv: { kind: "pc", gran: "pasid", did: 11, pasid: 5 } },
    sync,
    { op: "inv", inv: { kind: "piotlb", did: 11, pasid: 5 } },
    sync,
    { op: "inv", inv: { kind: "pdevtlb", sid: 0x300, pasid: 5, addr: 0n, pagesLg2: 52, all: false } },
    sync,
  ]);
});

test("the steps are the trace's own driver events: `inv` lines, which the driver carries out", () => {
  const text = vtdTeardownSteps(5, { device: 0x300, did: 7, domainType: "fs", ats: true }).map((s) => (s.op === "inv" ? formatEvent({ line: 1, column: 1, op: "inv", inv: s.inv }) : s.op));
  // pages = 2^52 = 4503599627370496
  assert.equal(text, ["clear-pasid-entry", "inv pc pasid did=7 pasid=5", "sync", "inv piotlb did=7 pasid=5", "sync", "inv pdevtlb 03:00.0 pasid=5 addr=0x0 pages=4503599627370496", "sync"]);
});

test.run();
