/**
 * enforce-coherency (issue 11, "Cache coherency enforcement"; src/iommu/iommu.ts, the drivers'
 * enforceCoherency): which unit refuses it and why, and what later No-Snoop TLPs then show (the
 * core's snoop/snoopBy, never re-decided here). VT-d: ECAP.SC (bit 7) is on in the default profile;
 * the "no SC" unit clears it. SMMUv3: CANWBS from config (one flag) or per root complex (IORT).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createPlatform, type AnyPlatform } from "../../src/platform.ts";
import { IommuLayer } from "../../src/iommu/iommu.ts";
import { formatEvent, parseTraceText, type DriverEvent } from "../../src/trace/text.ts";
import { decodeDriverEvent, encodeDriverEvent } from "../../src/trace/binary.ts";
import { replay, type Refusal } from "../../src/replay/replay.ts";
import type { Result } from "../../src/core/core.ts";
import { DEFAULT_ECAP } from "../../src/arch/vtd/registers.ts";
import { streamMapOf } from "../../src/arch/smmuv3/iort.ts";

const SNP = 1n << 11n; // SS leaf SNP (VT-d spec 9.8)

function vtd(sc: boolean): AnyPlatform {
  const p = createPlatform("vtd", { build: "debug", ecap: sc ? DEFAULT_ECAP : DEFAULT_ECAP & ~(1n << 7n) });
  p.enable();
  return p;
}

function smmu(o: { canwbs?: boolean; twoRootComplexes?: boolean }): AnyPlatform {
  // Two root complexes (segments 0 and 1), RIDs 0..0x7fff of each to StreamIDs 0x0000.. and 0x8000..; only segment 0 has CANWBS.
  const streamMap = o.twoRootComplexes
    ? streamMapOf(
        [
          { segment: 0, canwbs: true, idMappings: [{ rid: 0, count: 0x8000, streamId: 0n }] },
          { segment: 1, canwbs: false, idMappings: [{ rid: 0, count: 0x8000, streamId: 0x8000n }] },
        ],
        16,
        "rootComplexes",
        (_k, m) => new Error(m),
      )
    : undefined;
  const p = createPlatform("smmuv3", { build: "debug", ...(o.canwbs ? { canwbs: true } : {}), ...(streamMap ? { streamMap } : {}) });
  p.enable();
  return p;
}

function run(p: AnyPlatform, text: string): { results: Result[]; refusals: string[] } {
  const results: Result[] = [];
  const refusals: string[] = [];
  const layer = new IommuLayer(p.createDriver());
  replay(p, parseTraceText(text, "t.trace"), (_, _t, r) => results.push(r), {
    driver: layer,
    refusals: "results",
    onRefusal: (x: Refusal) => refusals.push(`${x.line}: ${x.reason}`),
  });
  return { results, refusals };
}

test("trace: enforce-coherency D in text (canonical, located errors) and binary (OP 13, A = D), both ways", () => {
  const e = parseTraceText("@5 enforce-coherency 12", "t.trace")[0] as DriverEvent;
  assert.equal(e, { line: 1, column: 4, time: { value: 5, unit: "cycles" }, op: "enforce-coherency", domain: 12 });
  assert.is(formatEvent(e), "@5 enforce-coherency 12");
  assert.throws(() => parseTraceText("enforce-coherency", "t.trace"), /t\.trace:1:\d+: .*a domain id \(decimal\) after "enforce-coherency"/);
  assert.throws(() => parseTraceText("enforce-coherency 5 now", "t.trace"), /t\.trace:1:21: unexpected token "now"; enforce-coherency D takes nothing more/);
  // Words: A lo, A hi, time lo, time hi, B, C, D, FLAGS = KIND 4 | OP 13 << 16.
  const w = encodeDriverEvent(parseTraceText("enforce-coherency 12", "t.trace")[0] as DriverEvent);
  assert.equal([...w], [12, 0, 0, 0, 0, 0, 0, 0x4 | (13 << 16)]);
  const back = decodeDriverEvent(w, 0, 1);
  assert.is(typeof back === "string" ? back : formatEvent(back), "enforce-coherency 12");
  w[0] = 0x10000;
  assert.is(decodeDriverEvent(w, 0, 1), "enforce-coherency of domain 65536 (max 65535)");
  w[0] = 12;
  w[4] = 1; // B must be 0
  assert.type(decodeDriverEvent(w, 0, 1), "string");
});

const dma = "MWr 03:00.0 addr=0x100000 ns\n";

test("VT-d, second stage: enforced before mapping, the later leaf has SNP and the No-Snoop TLP is snooped by it", () => {
  const r = run(vtd(true), "domain-alloc 5 paging\nenforce-coherency 5\nmap 5 0x100000 0x80000000 0x1000\nattach 03:00.0 domain=5\n" + dma);
  assert.equal(r.refusals, []);
  assert.equal(r.results[0]!.status, "ok");
  assert.equal(r.results[0]!.pa, 0x80000000n);
  assert.equal([r.results[0]!.snoop, r.results[0]!.snoopBy], [true, "pte"]);
  assert.equal(r.results[0]!.leafPte & SNP, SNP);
});

test("VT-d, second stage with a mapping already: refused, and the No-Snoop TLP goes through unsnooped", () => {
  const r = run(vtd(true), "domain-alloc 5 paging\nmap 5 0x100000 0x80000000 0x1000\nenforce-coherency 5\nattach 03:00.0 domain=5\n" + dma);
  assert.equal(r.refusals, ["3: enforce-coherency 5: domain 5 is second-stage and has mappings already: their leaves have no SNP (Linux refuses rather than rewrite them)"]);
  assert.equal([r.results[0]!.status, r.results[0]!.snoop, r.results[0]!.snoopBy], ["ok", false, "tlp"]);
  assert.equal(r.results[0]!.leafPte & SNP, 0n);
});

test("VT-d, first stage with a mapping and a device attached: enforced, PGSNP written into the live PASID entry forces the snoop", () => {
  const r = run(vtd(true), "domain-alloc 6 paging format=fs\nmap 6 0x100000 0x80000000 0x1000\nattach 03:00.0 domain=6\n" + dma + "enforce-coherency 6\n" + dma);
  assert.equal(r.refusals, []);
  assert.equal([r.results[0]!.snoop, r.results[0]!.snoopBy], [false, "tlp"]);
  assert.equal([r.results[1]!.status, r.results[1]!.snoop, r.results[1]!.snoopBy], ["ok", true, "pgsnp"]);
});

test("VT-d without ECAP.SC: refused with a device attached; with none it succeeds, then the attach is refused", () => {
  const a = run(vtd(false), "domain-alloc 5 paging\nattach 03:00.0 domain=5\nenforce-coherency 5\n");
  assert.equal(a.refusals, ["3: enforce-coherency 5: 03:00.0 is attached to domain 5 and the VT-d unit has no snoop control (ECAP.SC=0)"]);
  const b = run(vtd(false), "domain-alloc 5 paging\nenforce-coherency 5\nmap 5 0x100000 0x80000000 0x1000\nattach 03:00.0 domain=5\n" + dma);
  assert.equal(b.refusals, ["4: attach 03:00.0 domain=5: domain 5 enforces cache coherency and 03:00.0: the VT-d unit has no snoop control (ECAP.SC=0)"]);
  // Never attached: the request finds no context entry (not-present, LCT/SCT).
  assert.equal(b.results[0]!.status, "fault");
});

test("VT-d: nested, identity, blocking and unknown domains are refused with their reason", () => {
  const r = run(vtd(true), "domain-alloc 5 paging\ndomain-alloc 6 nested parent=5\ndomain-alloc 7 identity\ndomain-alloc 8 blocking\nenforce-coherency 6\nenforce-coherency 7\nenforce-coherency 8\nenforce-coherency 9\n");
  assert.equal(r.refusals, [
    "5: enforce-coherency 6: domain 6 is nested: enforce coherency on its parent, domain 5 (iommufd enforces it on the paging parent)",
    "6: domain 7 is pass-through: it has no page tables",
    "7: enforce-coherency 8: domain 8 is a blocking domain: it has no page tables",
    "8: enforce-coherency 9: domain 9 does not exist",
  ]);
});

test("SMMUv3 without CANWBS: refused with a device attached; the No-Snoop TLP is not snooped", () => {
  const r = run(smmu({}), "domain-alloc 5 paging\nattach 03:00.0 domain=5\nmap 5 0x100000 0x80000000 0x1000\nenforce-coherency 5\n" + dma);
  assert.equal(r.refusals, ["4: enforce-coherency 5: 03:00.0 is attached to domain 5 and its root complex has no CANWBS (IORT memory access flags): No-Snoop stays non-coherent"]);
  assert.equal([r.results[0]!.status, r.results[0]!.snoop], ["ok", false]);
});

test("SMMUv3 with CANWBS: enforced even with mappings (no mapping rule), the TLP is snooped by CANWBS", () => {
  const r = run(smmu({ canwbs: true }), "domain-alloc 5 paging\nattach 03:00.0 domain=5\nmap 5 0x100000 0x80000000 0x1000\nenforce-coherency 5\n" + dma);
  assert.equal(r.refusals, []);
  assert.equal([r.results[0]!.status, r.results[0]!.snoop, r.results[0]!.snoopBy], ["ok", true, "canwbs"]);
});

test("SMMUv3, CANWBS per root complex: the device of the root complex without it cannot join an enforced domain", () => {
  // Trace driver events name segment 0 only: the segment-1 device's events are applied directly.
  const p = smmu({ twoRootComplexes: true });
  const layer = new IommuLayer(p.createDriver());
  const ev = { line: 1, column: 1, ats: false, pri: false, pgsnp: false, fpd: false, sre: false, ere: false };
  layer.apply({ ...ev, op: "domain-alloc", domain: 5, kind: "paging" }, 0n);
  layer.apply({ ...ev, op: "attach", sid: 0x300, domain: 5 }, 0n);
  layer.apply({ ...ev, op: "enforce-coherency", domain: 5 }, 0n);
  const reason = "domain 5 enforces cache coherency and 0001:03:00.0: its root complex has no CANWBS (IORT memory access flags): No-Snoop stays non-coherent";
  assert.throws(() => layer.apply({ ...ev, op: "attach", sid: 0x10300, domain: 5 }, 0n), (e: Error) => e.message === `attach 0001:03:00.0 domain=5: ${reason}`);
  assert.throws(() => layer.apply({ ...ev, op: "replace", sid: 0x10300, domain: 5 }, 0n), (e: Error) => e.message === `replace 0001:03:00.0 domain=5: ${reason}`);
  assert.equal(layer.attachedDomain(0x10300), undefined);
  // The other way round: with the segment-1 device attached first, enforce is refused.
  layer.apply({ ...ev, op: "domain-alloc", domain: 6, kind: "paging" }, 0n);
  layer.apply({ ...ev, op: "attach", sid: 0x10300, domain: 6 }, 0n);
  assert.throws(() => layer.apply({ ...ev, op: "enforce-coherency", domain: 6 }, 0n), (e: Error) => e.message === "enforce-coherency 6: 0001:03:00.0 is attached to domain 6 and its root complex has no CANWBS (IORT memory access flags): No-Snoop stays non-coherent");
});

test.run();
