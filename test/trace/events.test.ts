/**
 * Trace text format v1, driver events: map, unmap, flush, inv (every form), attach and detach, with every error
 * message and its column, and the round trip formatEvent -> parseTraceEvent.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { InputError } from "../../src/errors.ts";
import { arbDriverEvent as arbAnyDriverEvent, u64 } from "./arbitraries.ts";
import {
  formatEvent,
  parseTraceEvent,
  parseTraceText,
  type DriverEvent,
  type MapEvent,
  type TraceEvent,
  type TraceTlp,
} from "../../src/trace/text.ts";
import type { Invalidation } from "../../src/arch/vtd/trace-commands.ts";

const FILE = "e.trace";

function parse1(line: string): TraceEvent {
  const e = parseTraceEvent(line, FILE, 1);
  if (e === null) throw new Error(`no event in ${JSON.stringify(line)}`);
  return e;
}

function inv(line: string): Invalidation {
  const e = parse1(line);
  if (e.op !== "inv") throw new Error(`not an inv line: ${line}`);
  return e.inv;
}

/** Asserts that parsing `line` (line 1 of e.trace) throws `e.trace:1:column: message`. */
function fails(line: string, column: number, message: string): void {
  try {
    parseTraceEvent(line, FILE, 1);
  } catch (e) {
    assert.instance(e, InputError);
    assert.is((e as InputError).message, `${FILE}:1:${column}: ${message}`, line);
    return;
  }
  assert.unreachable(`expected an InputError for ${JSON.stringify(line)}: ${message}`);
}

function map(over: Partial<MapEvent>): MapEvent {
  return { line: 1, column: 1, op: "map", domain: 1, iova: 0x100000n, pa: 0x80000000n, size: 0x4000n, perm: "rw", page: "4K", snp: false, user: true, global: false, ...over };
}

// ------------------------------------------------------------------------------------------ parsing

test("attach and detach: defaults, pasid, every flag in any order; errors", () => {
  const noFlags = { ats: false, pri: false, pgsnp: false, fpd: false, sre: false, ere: false };
  assert.equal(parse1("attach 00:02.0 domain=1"), { line: 1, column: 1, op: "attach", sid: 0x10, domain: 1, ...noFlags });
  assert.equal(
    parse1("@7ns  attach 0000:3a:1f.7 ere sre fpd pgsnp pri ats domain=65535 pasid=0x10"),
    { line: 1, column: 7, time: { value: 7, unit: "ns" }, op: "attach", sid: 0x3aff, pasid: 16, domain: 65535, ats: true, pri: true, pgsnp: true, fpd: true, sre: true, ere: true },
  );
  assert.equal(parse1("detach 00:02.0"), { line: 1, column: 1, op: "detach", sid: 0x10 });
  assert.equal(parse1("@3 detach 01:00.1 pasid=1048575 # bye"), { line: 1, column: 4, time: { value: 3, unit: "cycles" }, op: "detach", sid: 0x101, pasid: 0xfffff });
  fails("attach", 7, `expected a BDF like 00:02.0 or 0000:00:02.0 or group=N after "attach"`);
  fails("detach  2.0", 9, `expected a BDF like 00:02.0 or 0000:00:02.0, got "2.0"`);
  fails("attach 0001:00:02.0 domain=1", 8, `"attach" names a device of this unit's segment 0, got "0001:00:02.0"`);
  fails("attach 00:02.0", 1, "attach BDF needs domain=");
  fails("attach 00:02.0 pasid=1 ats", 1, "attach BDF needs domain=");
  fails("attach 00:02.0 domain=0x1", 23, `expected a domain id (decimal, as in the scenario's build.domains), got "0x1"`);
  fails("attach 00:02.0 domain=65536", 23, "domain id 65536 is out of range (max 65535)");
  fails("attach 00:02.0 domain=1 pasid=0x100000", 25, "pasid 0x100000 is out of range (max 0xfffff)");
  fails("attach 00:02.0 domain=1 ats ats", 29, `duplicate token "ats"`);
  fails("attach 00:02.0 domain=1 nxe", 25, `unknown token "nxe"; attach BDF takes pasid=, domain=, ats, pri, pgsnp, fpd, sre, ere`);
  fails("detach 00:02.0 domain=1", 16, `unknown token "domain=1"; detach BDF takes pasid=`);
  fails("detach 00:02.0 pasid=x", 16, `expected pasid=N with N decimal or 0x-hex, got "pasid=x"`);
});

test("map: defaults, then every option in any order", () => {
  assert.equal(parse1("map 1 0x100000 0x80000000 0x4000"), map({}));
  assert.equal(parse1("map 1 100000 80000000 16384"), map({}), "IOVA and PA are hex with or without 0x; SIZE is decimal or 0x-hex");
  assert.equal(
    parse1("@5 map 2 7f0000000000 0x600000000 2097152 global sup page=2M perm=rx snp"),
    map({ column: 4, time: { value: 5, unit: "cycles" }, domain: 2, iova: 0x7f0000000000n, pa: 0x600000000n, size: 0x200000n, perm: "rx", page: "2M", snp: true, user: false, global: true }),
  );
  assert.equal(parse1("map 3 0 0 0x40000000 page=1G perm=r user"), map({ domain: 3, iova: 0n, pa: 0n, size: 1n << 30n, perm: "r", page: "1G" }));
  assert.equal(parse1("map 0 0 0 0x1000 perm=x"), map({ domain: 0, iova: 0n, pa: 0n, size: 0x1000n, perm: "x" }));
});

test("unmap and flush", () => {
  assert.equal(parse1("@1.5us unmap 1 0x100000 0x4000"), { line: 1, column: 8, time: { value: 1.5, unit: "us" }, op: "unmap", domain: 1, iova: 0x100000n, size: 0x4000n });
  assert.equal(parse1("  unmap 65535 ffff000 4096 # comment"), { line: 1, column: 3, op: "unmap", domain: 65535, iova: 0xffff000n, size: 4096n });
  assert.equal(parse1("flush"), { line: 1, column: 1, op: "flush" });
  // flush D: domain D's flush queue only
  assert.equal(parse1("@5 flush 2"), { line: 1, column: 4, time: { value: 5, unit: "cycles" }, op: "flush", domain: 2 });
  assert.equal(parse1("@9 flush # the flush queue's timer"), { line: 1, column: 4, time: { value: 9, unit: "cycles" }, op: "flush" });
});

test("inv qi: the raw qwords of an intel_iommu:qi_submit line (2 or 4)", () => {
  // qi_submit: iotlb_inv dmar1: 0x100e2 0x0 0x0 0x0
  assert.equal(inv("inv qi 0x100e2 0x0 0x0 0x0"), { kind: "qi", qwords: [0x100e2n, 0n, 0n, 0n] });
  assert.equal(inv("inv qi 100e2 0"), { kind: "qi", qwords: [0x100e2n, 0n] });
  assert.equal(inv("inv qi 0xFFFFFFFFFFFFFFFF 0x1 0x2 0x3"), { kind: "qi", qwords: [(1n << 64n) - 1n, 1n, 2n, 3n] });
});

test("inv cc and inv reg cc", () => {
  assert.equal(inv("inv cc global"), { kind: "cc", reg: false, gran: "global" });
  assert.equal(inv("inv cc domain did=5"), { kind: "cc", reg: false, gran: "domain", did: 5 });
  assert.equal(inv("inv cc device sid=00:02.0"), { kind: "cc", reg: false, gran: "device", sid: 0x10, fm: 0 });
  assert.equal(inv("inv cc device fm=3 sid=ab:1f.7"), { kind: "cc", reg: false, gran: "device", sid: 0xabff, fm: 3 });
  assert.equal(inv("inv reg cc domain did=0xffff"), { kind: "cc", reg: true, gran: "domain", did: 0xffff });
});

test("inv iotlb and inv reg iotlb", () => {
  assert.equal(inv("inv iotlb global"), { kind: "iotlb", reg: false, gran: "global" });
  assert.equal(inv("inv iotlb dsi did=1"), { kind: "iotlb", reg: false, gran: "dsi", did: 1 });
  assert.equal(inv("inv iotlb psi did=1 addr=0x100000 am=2"), { kind: "iotlb", reg: false, gran: "psi", did: 1, addr: 0x100000n, am: 2, ih: false });
  assert.equal(inv("inv reg iotlb psi ih am=0 addr=1000 did=7"), { kind: "iotlb", reg: true, gran: "psi", did: 7, addr: 0x1000n, am: 0, ih: true });
});

test("inv devtlb, piotlb, pc, pdevtlb, iec, wait", () => {
  assert.equal(inv("inv devtlb 00:02.0 addr=0x4000"), { kind: "devtlb", sid: 0x10, addr: 0x4000n, pagesLg2: 0 });
  assert.equal(inv("inv devtlb 00:02.0 addr=0x4000 pages=4"), { kind: "devtlb", sid: 0x10, addr: 0x4000n, pagesLg2: 2 });
  assert.equal(inv("inv devtlb 00:02.0 addr=0 pages=0x10000000000000"), { kind: "devtlb", sid: 0x10, addr: 0n, pagesLg2: 52 });
  assert.equal(inv("inv piotlb did=1 pasid=5"), { kind: "piotlb", did: 1, pasid: 5 });
  assert.equal(inv("inv piotlb pasid=0x5 did=1 psi addr=0x7f0000000000 am=3 ih"), { kind: "piotlb", did: 1, pasid: 5, psi: { addr: 0x7f0000000000n, am: 3, ih: true } });
  assert.equal(inv("inv pc global"), { kind: "pc", gran: "global" });
  assert.equal(inv("inv pc dsi did=3"), { kind: "pc", gran: "dsi", did: 3 });
  assert.equal(inv("inv pc pasid did=3 pasid=1048575"), { kind: "pc", gran: "pasid", did: 3, pasid: 0xfffff });
  assert.equal(inv("inv pdevtlb 00:04.0 pasid=2 addr=0"), { kind: "pdevtlb", sid: 0x20, pasid: 2, addr: 0n, pagesLg2: 0, all: false });
  assert.equal(inv("inv pdevtlb 00:04.0 all pages=2 addr=0x2000 pasid=2"), { kind: "pdevtlb", sid: 0x20, pasid: 2, addr: 0x2000n, pagesLg2: 1, all: true });
  assert.equal(inv("inv iec"), { kind: "iec" });
  assert.equal(inv("inv wait"), { kind: "wait" });
  assert.equal(inv("inv wait addr=0x1000"), { kind: "wait", status: { addr: 0x1000n, data: 1 } });
  assert.equal(inv("inv wait data=0xffffffff addr=0x1004"), { kind: "wait", status: { addr: 0x1004n, data: 0xffffffff } });
});

test("driver events and TLPs interleave in one trace, times ordered across both", () => {
  const text = ["@1 MRd 00:02.0 addr=0x100000", "unmap 1 0x100000 0x1000", "@3 inv wait", "MRd 00:02.0 addr=0x100000", "@7 flush"].join("\n");
  const ev = parseTraceText(text, FILE);
  assert.equal(ev.map((e) => [e.line, e.op]), [[1, "MRd"], [2, "unmap"], [3, "inv"], [4, "MRd"], [5, "flush"]]);
  try {
    parseTraceText("@10 MRd 00:02.0 addr=0\n@5 unmap 1 0 0x1000", FILE);
    assert.unreachable("time went backwards");
  } catch (e) {
    assert.is((e as InputError).message, `${FILE}:2:1: timestamp @5 is earlier than @10 on line 1; timestamps must not decrease`);
  }
});

// ------------------------------------------------------------------------------------------- errors

test("errors: map", () => {
  fails("map", 4, `expected a domain id (decimal) after "map"`);
  fails("map x 0 0 4096", 5, `expected a domain id (decimal, as in the scenario's build.domains), got "x"`);
  fails("map 0x1 0 0 4096", 5, `expected a domain id (decimal, as in the scenario's build.domains), got "0x1"`);
  fails("map 70000 0 0 4096", 5, "domain id 70000 is out of range (max 65535)");
  fails("map 1", 6, "expected IOVA (hex) after the domain id");
  fails("map 1 0xzz 0 1000", 7, `expected IOVA in hex (0x optional), got "0xzz"`);
  fails("map 1 0x10000000000000000 0 1000", 7, "IOVA 0x10000000000000000 is out of range (max 0xffffffffffffffff)");
  fails("map 1 0", 8, "expected PA (hex) after the IOVA");
  fails("map 1 0 pa", 9, `expected PA in hex (0x optional), got "pa"`);
  fails("map 1 0 0", 10, "expected SIZE (bytes) after the PA");
  fails("map 1 0 0 4k", 11, `expected SIZE in bytes (decimal or 0x-hex), got "4k"`);
  fails("map 1 0 0 0", 11, "SIZE 0 is out of range (1 to 2^64 - 1 bytes)");
  fails("map 1 0 0 4096 bogus", 16, `unknown token "bogus"; map takes perm=, page=, snp, user, sup, global`);
  fails("map 1 0 0 4096 prot=rw", 16, `unknown token "prot=rw"; map takes perm=, page=, snp, user, sup, global`);
  fails("map 1 0 0 4096 perm=wr", 16, `expected perm= with letters of r, w, x in that order (e.g. perm=rw or perm=r), got "perm=wr"`);
  fails("map 1 0 0 4096 perm=", 16, `expected perm= with letters of r, w, x in that order (e.g. perm=rw or perm=r), got "perm="`);
  fails("map 1 0 0 4096 page=4k", 16, `expected page=4K, page=2M or page=1G, got "page=4k"`);
  fails("map 1 0 0 4096 snp snp", 20, `duplicate token "snp"`);
  fails("map 1 0 0 4096 sup perm=r user", 27, `"user" and "sup" contradict each other`);
  fails("map 1 0x1800 0 0x1000", 7, "IOVA 0x1800 is not aligned to the 4K page size");
  fails("map 1 0 0x1800 0x1000", 9, "PA 0x1800 is not aligned to the 4K page size");
  fails("map 1 0 0 0x1800", 11, "SIZE 0x1800 is not a multiple of the 4K page size");
  fails("map 1 0x1000 0 0x200000 page=2M", 7, "IOVA 0x1000 is not aligned to the 2M page size");
  fails("map 1 0xfffffffffffff000 0 0x2000", 28, "the range is beyond 2^64");
});

test("errors: unmap and flush", () => {
  fails("unmap", 6, `expected a domain id (decimal) after "unmap"`);
  fails("unmap 1 0x1000", 15, "expected SIZE (bytes) after the IOVA");
  fails("unmap 1 0x1000 0x1000 now", 23, `unexpected token "now"; unmap DOMAIN IOVA SIZE takes nothing more`);
  fails("unmap 1 0x1800 0x1000", 9, "IOVA 0x1800 is not 4 KiB aligned");
  fails("unmap 1 0x1000 100", 16, "SIZE 0x64 is not a multiple of 4 KiB");
  fails("unmap 1 0xfffffffffffff000 0x2000", 28, "IOVA + SIZE is beyond 2^64");
  fails("flush all", 7, `expected a domain id (decimal, as in the scenario's build.domains), got "all"`);
  fails("flush 1 2", 9, `unexpected token "2"; flush takes an optional domain id`);
  fails("flush 65536", 7, "domain id 65536 is out of range (max 65535)");
});

test("errors: inv kinds and inv qi", () => {
  const kinds = "qi, cc, iotlb, devtlb, piotlb, pc, pdevtlb, iec, wait or reg";
  fails("inv", 4, `expected an invalidation after "inv" (${kinds})`);
  fails("@1us inv all", 10, `unknown invalidation "all"; expected ${kinds}`);
  fails("inv reg", 8, `expected cc or iotlb after "inv reg"`);
  fails("inv reg devtlb 00:02.0 addr=0", 9, `register-based invalidation is "cc" (CCMD) or "iotlb" (IOTLB_REG), got "devtlb"`);
  const qwords = (n: number) => `expected 2 or 4 descriptor qwords in hex after "inv qi" (as the intel_iommu:qi_submit tracepoint prints them), got ${n}`;
  fails("inv qi", 5, qwords(0));
  fails("inv qi 0x1", 8, qwords(1));
  fails("inv qi 0x1 0x2 0x3", 16, qwords(3));
  fails("inv qi 1 2 3 4 5", 16, qwords(5));
  fails("inv qi 0x1 zz", 12, `expected a descriptor qword in hex (0x optional), got "zz"`);
  fails("inv qi 0x1 0x10000000000000000", 12, "a descriptor qword 0x10000000000000000 is out of range (max 0xffffffffffffffff)");
});

test("errors: inv cc and inv iotlb", () => {
  fails("inv cc", 7, `expected global, domain or device after "inv cc"`);
  fails("inv cc all", 8, `expected global, domain or device after "inv cc", got "all"`);
  fails("inv reg cc everything", 12, `expected global, domain or device after "inv reg cc", got "everything"`);
  fails("inv cc domain", 8, "inv cc domain needs did=");
  fails("inv reg cc domain", 12, "inv reg cc domain needs did=");
  fails("inv cc domain did=0x10000", 15, "did 0x10000 is out of range (max 0xffff)");
  fails("inv cc domain did=x", 15, `expected did=N with N decimal or 0x-hex, got "did=x"`);
  fails("inv cc global did=1", 15, `unexpected token "did=1"; inv cc global takes nothing more`);
  fails("inv cc device", 8, "inv cc device needs sid=");
  fails("inv cc device sid=0:2.0", 19, `expected a BDF like 00:02.0 or 0000:00:02.0, got "0:2.0"`);
  fails("inv cc device sid=0001:00:02.0", 19, `invalidation descriptors carry a 16-bit source ID: no segment, got "0001:00:02.0"`);
  fails("inv cc device sid=00:02.0 fm=4", 27, "fm 4 is out of range (max 3)");
  fails("inv iotlb", 10, `expected global, dsi or psi after "inv iotlb"`);
  fails("inv iotlb page did=1", 11, `expected global, dsi or psi after "inv iotlb", got "page"`);
  fails("inv iotlb dsi", 11, "inv iotlb dsi needs did=");
  fails("inv iotlb dsi did=1 ih", 21, `unknown token "ih"; inv iotlb dsi takes did=`);
  fails("inv iotlb psi did=1 am=0", 11, "inv iotlb psi needs addr=");
  fails("inv iotlb psi did=1 addr=0", 11, "inv iotlb psi needs am=");
  fails("inv iotlb psi did=1 did=2 addr=0 am=0", 21, `duplicate token "did="`);
  fails("inv iotlb psi did=1 addr=0x1001 am=0", 21, "addr 0x1001 is not aligned to 4 KiB");
  fails("inv iotlb psi did=1 addr=0x1000 am=1", 21, "addr 0x1000 is not aligned to 2^1 pages (0x2000 bytes)");
  fails("inv iotlb psi did=1 addr=0 am=64", 28, "am 64 is out of range (max 63)");
  fails("inv iotlb psi did=1 addr=xyz am=0", 21, `expected addr=ADDR with ADDR in hex (0x optional), got "addr=xyz"`);
});

test("errors: inv devtlb, piotlb, pc, pdevtlb, iec, wait", () => {
  fails("inv devtlb", 11, `expected a BDF like 00:02.0 or 0000:00:02.0 after "inv devtlb"`);
  fails("inv devtlb addr=0", 12, `expected a BDF like 00:02.0 or 0000:00:02.0, got "addr=0"`);
  fails("inv devtlb 00:02.0", 5, "inv devtlb needs addr=");
  fails("inv devtlb 00:02.0 addr=0 pages=3", 27, "pages 3 is not a power of two (1, 2, 4, ... 2^52)");
  fails("inv devtlb 00:02.0 addr=0 pages=0", 27, "pages 0 is not a power of two (1, 2, 4, ... 2^52)");
  fails("inv devtlb 00:02.0 addr=0 pages=0x20000000000000", 27, "pages 0x20000000000000 is out of range (max 0x10000000000000)");
  fails("inv devtlb 00:02.0 addr=0x1000 pages=2", 20, "addr 0x1000 is not aligned to pages=2 (0x2000 bytes)");
  fails("inv devtlb 0001:00:02.0 addr=0", 12, `invalidation descriptors carry a 16-bit source ID: no segment, got "0001:00:02.0"`);
  fails("inv piotlb pasid=1", 5, "inv piotlb needs did=");
  fails("inv piotlb did=1", 5, "inv piotlb needs pasid=");
  fails("inv piotlb did=1 pasid=0x100000", 18, "pasid 0x100000 is out of range (max 0xfffff)");
  fails("inv piotlb did=1 pasid=1 addr=0", 26, `"addr=" needs psi`);
  fails("inv piotlb did=1 pasid=1 am=0", 26, `"am=" needs psi`);
  fails("inv piotlb did=1 pasid=1 ih", 26, `"ih" needs psi`);
  fails("inv piotlb did=1 pasid=1 psi am=0", 26, "inv piotlb psi needs addr=");
  fails("inv piotlb did=1 pasid=1 psi addr=0", 26, "inv piotlb psi needs am=");
  fails("inv piotlb did=1 pasid=1 all", 26, `unknown token "all"; inv piotlb takes did=, pasid=, addr=, am=, psi, ih`);
  fails("inv pc", 7, `expected global, dsi or pasid after "inv pc"`);
  fails("inv pc device", 8, `expected global, dsi or pasid after "inv pc", got "device"`);
  fails("inv pc pasid did=1", 8, "inv pc pasid needs pasid=");
  fails("inv pc dsi did=1 pasid=1", 18, `unknown token "pasid=1"; inv pc dsi takes did=`);
  fails("inv pdevtlb 00:02.0 addr=0", 5, "inv pdevtlb needs pasid=");
  fails("inv pdevtlb 00:02.0 pasid=1", 5, "inv pdevtlb needs addr=");
  fails("inv pdevtlb 00:02.0 pasid=1,priv addr=0", 21, `expected pasid=N with N decimal or 0x-hex, got "pasid=1,priv"`);
  fails("inv iec 1", 9, `unexpected token "1"; inv iec takes nothing more`);
  fails("inv wait data=1", 10, `"data=" needs addr=`);
  fails("inv wait addr=0x1002", 10, "the status address 0x1002 is not 4-byte aligned");
  fails("inv wait addr=0x1000 data=0x100000000", 22, "data 0x100000000 is out of range (max 0xffffffff)");
  fails("inv wait addr=0x1000 sw", 22, `unknown token "sw"; inv wait takes addr=, data=`);
});

test("errors carry the file's line numbers", () => {
  try {
    parseTraceText("# header\nMRd 00:02.0 addr=0\n\n@5 unmap 1 0x1000 0x10", "dma.trace");
    assert.unreachable();
  } catch (e) {
    assert.equal([(e as InputError).file, (e as InputError).line, (e as InputError).column], ["dma.trace", 4, 19]);
  }
});

// --------------------------------------------------------------------------------------- formatting

test("formatEvent: canonical form", () => {
  const canon = (line: string) => formatEvent(parse1(line));
  assert.is(canon("@5 map 2 7f0000000000 0x600000000 2097152 global sup page=2M perm=rx snp"), "@5 map 2 0x7f0000000000 0x600000000 0x200000 perm=rx page=2M snp sup global");
  assert.is(canon("map 1 100000 80000000 16384 user perm=rw page=4K"), "map 1 0x100000 0x80000000 0x4000");
  assert.is(canon("@2ns unmap 1 0x100000 16384"), "@2ns unmap 1 0x100000 0x4000");
  assert.is(canon("flush"), "flush");
  assert.is(canon("flush  07"), "flush 7");
  assert.is(canon("inv qi 100E2 0 0 0"), "inv qi 0x100e2 0x0 0x0 0x0");
  assert.is(canon("inv reg cc device fm=0 sid=00:02.0"), "inv reg cc device sid=00:02.0");
  assert.is(canon("inv iotlb psi ih am=2 addr=0x4000 did=0x10"), "inv iotlb psi did=16 addr=0x4000 am=2 ih");
  assert.is(canon("inv devtlb 00:02.0 pages=1 addr=0"), "inv devtlb 00:02.0 addr=0x0");
  assert.is(canon("inv piotlb pasid=0x5 did=1 psi addr=0x8000 am=3"), "inv piotlb did=1 pasid=5 psi addr=0x8000 am=3");
  assert.is(canon("inv pdevtlb 00:04.0 all pages=0x4 addr=0x4000 pasid=2"), "inv pdevtlb 00:04.0 pasid=2 addr=0x4000 pages=4 all");
  assert.is(canon("inv wait addr=1000"), "inv wait addr=0x1000 data=1");
});

test("formatEvent rejects events the format cannot express", () => {
  assert.throws(() => formatEvent(map({ perm: "wr" })), RangeError);
  assert.throws(() => formatEvent(map({ perm: "" })), RangeError);
  assert.throws(() => formatEvent(map({ iova: 0x1800n })), RangeError);
  assert.throws(() => formatEvent(map({ page: "2M" })), RangeError);
  assert.throws(() => formatEvent(map({ domain: 0x10000 })), RangeError);
  assert.throws(() => formatEvent({ line: 1, column: 1, op: "unmap", domain: 1, iova: 0n, size: 0n }), RangeError);
  assert.throws(() => formatEvent({ line: 1, column: 1, op: "inv", inv: { kind: "qi", qwords: [1n, 2n, 3n] } }), RangeError);
  assert.throws(() => formatEvent({ line: 1, column: 1, op: "inv", inv: { kind: "devtlb", sid: 0x10000, addr: 0n, pagesLg2: 0 } }), RangeError);
  assert.throws(() => formatEvent({ line: 1, column: 1, op: "inv", inv: { kind: "iotlb", reg: false, gran: "psi", did: 1, addr: 0x1000n, am: 1, ih: false } }), RangeError);
  assert.throws(() => formatEvent({ line: 1, column: 1, op: "inv", inv: { kind: "wait", status: { addr: 2n, data: 1 } } }), RangeError);
  assert.throws(() => formatEvent({ line: 1, column: 1, op: "flush", time: { value: 1.5, unit: "cycles" } }), RangeError);
});

// --------------------------------------------------------------------------------------- round trip

const time = fc.option(
  fc.oneof(
    fc.record({ value: fc.maxSafeNat(), unit: fc.constant("cycles" as const) }),
    fc.record({ value: fc.integer({ min: 0, max: 1_000_000 }).map((n) => n / 1000), unit: fc.constantFrom("ns" as const, "us" as const) }),
  ),
  { nil: undefined },
);
/** Every driver-event form (test/trace/arbitraries.ts), with or without a trace time. */
const arbDriverEvent: fc.Arbitrary<DriverEvent> = fc
  .record({ time, e: arbAnyDriverEvent })
  .map(({ time: t, e }): DriverEvent => ({ ...e, line: 1, column: 1, ...(t !== undefined ? { time: { value: t.value, unit: t.unit } } : {}) }));

test("round trip: parseTraceEvent(formatEvent(e)) equals e (line and column aside)", () => {
  fc.assert(
    fc.property(arbDriverEvent, (e) => {
      const text = formatEvent(e);
      const back = parseTraceEvent(text, FILE, e.line)!;
      assert.equal({ ...back, column: 1 }, e, text);
      assert.is(formatEvent(back), text, "canonical text is a fixed point");
    }),
    { numRuns: 1000 },
  );
});

test("round trip: a trace of TLPs and driver events", () => {
  const tlp = (addr: bigint): TraceTlp => ({ line: 0, op: "MRd", sid: 0x10, priv: false, exe: false, addr, len: 4, ns: false, ro: false, ido: false, translated: false, nw: false });
  fc.assert(
    fc.property(fc.array(fc.oneof(arbDriverEvent, u64.map((a) => tlp(a & ~3n))), { maxLength: 30 }), (events) => {
      const plain = events.map(({ time: _t, ...e }, i) => ({ ...e, line: i + 2 }) as TraceEvent);
      const text = "# mixed\n" + plain.map(formatEvent).join("\n") + "\n";
      const back = parseTraceText(text, FILE).map((e) => ("column" in e ? { ...e, column: 1 } : e));
      assert.equal(back, plain.map((e) => ("column" in e ? { ...e, column: 1 } : e)));
    }),
    { numRuns: 100 },
  );
});

test.run();
