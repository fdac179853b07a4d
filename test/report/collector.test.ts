/**
 * The report collector (src/report/collector.ts) on hand-made results: counts per device and per
 * PASID, the fault report (first records, by reason, device, PASID and page, the caps), the
 * No-Snoop audit (entries per leaf, forced by PGSNP or SNP, let through, no-leaf TLPs, moved pages,
 * the cap and what it drops).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ReportCollector } from "../../src/report/collector.ts";
import type { Result } from "../../src/core/core.ts";
import type { TraceTlp } from "../../src/trace/text.ts";

const tlp = (o: Partial<TraceTlp> = {}): TraceTlp => ({ line: 1, op: "MRd", sid: 0x10, addr: 0x1000n, len: 4, priv: false, exe: false, ns: false, ro: false, ido: false, translated: false, nw: false, ...o });

function res(o: Partial<Result> = {}): Result {
  return {
    status: "ok", pa: 0x8000_0000n, leafPa: 0x1000_3000n, leafPte: 0n, s2LeafPa: 0n, pageLg2: 12, reads: 0, snoop: false, snoopBy: "tlp",
    perms: { r: true, w: true, x: false, u: false }, priv: false, global: false, nsAllowed: true, passthrough: false, atc: false, stale: false,
    domain: 1, issue: 0n, latency: 0, kind: 2, ...o,
  };
}
const fault = (code: number, name: string): Partial<Result> => ({ status: "fault", fault: { code, name, recorded: true, level: 0 }, leafPa: 0n, pa: 0n });

test("counts per device and per PASID, statuses, latencies; requests without PASID first, by key", () => {
  const c = new ReportCollector();
  c.add(tlp({ sid: 0x18, pasid: 3 }), res({ latency: 40 }));
  c.add(tlp({ sid: 0x10 }), res({ latency: 100 }));
  c.add(tlp({ sid: 0x10 }), res({ ...fault(0x79, "SSS.2"), latency: 7 }));
  c.add(tlp({ sid: 0x10 }), res({ status: "interrupt" }));
  c.add(tlp({ sid: 0x18, pasid: 3 }), res({ status: "blocked" }));
  const r = c.result();
  assert.equal(r.devices.map((d) => [d.bdf, d.sid, d.tlps, d.translated, d.faulted, d.interrupts, d.blocked, d.latencySum, d.latencyMax]), [
    ["00:02.0", 0x10, 3, 1, 1, 1, 0, 107, 100],
    ["00:03.0", 0x18, 2, 1, 0, 0, 1, 40, 40],
  ]);
  assert.equal(r.devices[0]!.faults, [{ code: 0x79, name: "SSS.2", count: 1 }]);
  assert.equal(r.pasids.map((p) => [p.pasid, p.tlps]), [[null, 3], [3, 2]]);
});

test("faults: the first records in trace order, by reason, device, PASID and 4 KiB page (most first)", () => {
  const c = new ReportCollector({ maxFaultRecords: 2 });
  c.add(tlp({ sid: 0x10, addr: 0x5008n, line: 3 }), res(fault(0x79, "SSS.2")));
  c.add(tlp({ sid: 0x10, addr: 0x7000n, pasid: 9, op: "MWr", line: 4 }), res(fault(0x71, "SFS.2")));
  c.add(tlp({ sid: 0x20, addr: 0x5ff0n, line: 5 }), res(fault(0x79, "SSS.2")));
  c.add(tlp({ sid: 0x20, addr: 0x9000n, line: 6 }), res());
  const f = c.result().faults;
  assert.is(f.total, 3);
  assert.equal(f.first, [
    { seq: 0, line: 3, op: "MRd", bdf: "00:02.0", addr: 0x5008n, code: 0x79, name: "SSS.2", recorded: true },
    { seq: 1, line: 4, op: "MWr", bdf: "00:02.0", pasid: 9, addr: 0x7000n, code: 0x71, name: "SFS.2", recorded: true },
  ]);
  assert.equal(f.byReason, [{ code: 0x71, name: "SFS.2", count: 1 }, { code: 0x79, name: "SSS.2", count: 2 }]);
  assert.equal(f.byDevice.map((d) => [d.bdf, d.count]), [["00:02.0", 2], ["00:04.0", 1]]);
  assert.equal(f.byPasid.map((p) => [p.pasid, p.count]), [[null, 2], [9, 1]]);
  assert.equal(f.byPage, [
    { page: 0x5000n, count: 2, devices: ["00:02.0", "00:04.0"], moreDevices: false, reasons: [{ code: 0x79, name: "SSS.2", count: 2 }] },
    { page: 0x7000n, count: 1, devices: ["00:02.0"], moreDevices: false, reasons: [{ code: 0x71, name: "SFS.2", count: 1 }] },
  ]);
});

test("groups beyond maxGroups are summed into one \"other\" row; totals stay exact", () => {
  const c = new ReportCollector({ maxGroups: 2 });
  for (const sid of [0x10, 0x18, 0x20, 0x28]) c.add(tlp({ sid, addr: BigInt(sid) << 12n }), res(fault(0x79, "SSS.2")));
  const r = c.result();
  assert.equal(r.devices.map((d) => [d.bdf, d.sid, d.tlps]), [["00:02.0", 0x10, 1], ["00:03.0", 0x18, 1], ["other", null, 2]]);
  assert.equal(r.faults.byPage.map((p) => [p.page, p.count]), [[0x10000n, 1], [0x18000n, 1], [null, 2]]);
  assert.is(r.faults.total, 4);
});

test("No-Snoop audit: one row per leaf entry, forced by PGSNP or by the SS leaf's SNP, let through; no-leaf TLPs apart", () => {
  const c = new ReportCollector();
  const SNP = 1n << 11n;
  c.add(tlp({ ns: true, addr: 0x1010n }), res({ snoop: true, snoopBy: "pte", leafPte: SNP | 0x8000_0003n }));
  c.add(tlp({ ns: true, addr: 0x1020n, sid: 0x18 }), res({ snoop: false, snoopBy: "tlp" }));
  c.add(tlp({ ns: true, addr: 0x2000n }), res({ leafPa: 0x1000_3008n, pa: 0x9000_0000n, snoop: true, snoopBy: "pgsnp", kind: 1, addressSpace: 5, domain: 2 }));
  c.add(tlp({ ns: true }), res({ leafPa: 0n, snoop: false, passthrough: true }));
  c.add(tlp({ ns: true, op: "ATS" }), res()); // ATS requests are not DMA
  c.add(tlp({ ns: false }), res()); // snooped TLPs are not audited
  const a = c.result().noSnoop;
  assert.equal([a.tlps, a.forced, a.through], [4, 2, 2]);
  assert.equal(a.noLeaf, { tlps: 1, forced: 0, through: 1 });
  assert.equal(a.entries.map((e) => [e.leafPa, e.stage, e.nsTlps, e.forcedBySnp, e.forcedByPgsnp, e.through, e.snp, e.pgsnp, e.devices, e.dids, e.pasids]), [
    [0x1000_3000n, "second-stage", 2, 1, 0, 1, "0/1", "0", ["00:02.0", "00:03.0"], [1], []],
    [0x1000_3008n, "first-stage", 1, 0, 1, 0, "n/a", "1", ["00:02.0"], [2], [5]],
  ]);
  assert.equal([a.entries[0]!.iovaLo, a.entries[0]!.iovaHi, a.entries[0]!.paLo, a.entries[0]!.paHi, a.entries[0]!.movedPages], [0x1000n, 0x2000n, 0x8000_0000n, 0x8000_1000n, false]);
  assert.equal([a.capped, a.dropped], [false, { entries: 0, tlps: 0 }]);
});

test("No-Snoop audit: a leaf entry reused for another page is marked moved, its range widened", () => {
  const c = new ReportCollector();
  c.add(tlp({ ns: true, addr: 0x1000n }), res({ pa: 0x8000_0000n }));
  c.add(tlp({ ns: true, addr: 0x3000n }), res({ pa: 0x8000_5000n }));
  const e = c.result().noSnoop.entries[0]!;
  assert.equal([e.iovaLo, e.iovaHi, e.paLo, e.paHi, e.movedPages, e.nsTlps], [0x1000n, 0x4000n, 0x8000_0000n, 0x8000_6000n, true, 2]);
});

test("No-Snoop audit cap: twice maxAuditEntries while running, the busiest kept; later entries not exact", () => {
  const c = new ReportCollector({ maxAuditEntries: 1 });
  const at = (leaf: number, times: number) => {
    for (let i = 0; i < times; i++) c.add(tlp({ ns: true }), res({ leafPa: BigInt(leaf) }));
  };
  at(0x100, 3);
  at(0x200, 1);
  at(0x300, 2); // the table holds 2: 0x200 (fewest) is dropped first
  const a = c.result().noSnoop;
  assert.equal(a.entries.map((e) => [e.leafPa, e.nsTlps, e.exact]), [[0x100n, 3, true]]);
  // dropped: 0x200 while running (1 TLP), 0x300 at the end (beyond maxAuditEntries, 2 TLPs)
  assert.equal([a.dropped, a.capped, a.tlps], [{ entries: 2, tlps: 3 }, true, 6]);
});

test.run();
