/**
 * The driver side at run time (src/arch/vtd/driver.ts): what each trace driver event writes to
 * the tables and to the invalidation queue, descriptor by descriptor, and what the hardware then
 * does with the TLPs that follow. Strict and lazy unmaps, the lazy flush points, caching mode,
 * raw qi_submit qwords, symbolic and register-based invalidations, queue-error recovery, errors.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform, type PlatformOptions } from "../../../src/platform.ts";
import { VtdDriver, psiRange, type DriverOptions } from "../../../src/arch/vtd/driver.ts";
import { parseTraceText, type TraceTlp } from "../../../src/trace/text.ts";
import { replay } from "../../../src/replay/replay.ts";
import type { Result } from "../../../src/core/core.ts";
import type { AttachSpec } from "../../../src/arch/vtd/builder.ts";
import { InputError } from "../../../src/errors.ts";
import { DEFAULT_CAP, DEFAULT_ECAP, capFields, ecapFields, setField } from "../../../src/arch/vtd/registers.ts";

const FILE = "t.trace";
const SSS_2 = 0x79, SFS_2 = 0x71;

interface Setup {
  p: VtdPlatform;
  driver: VtdDriver;
  /** Replays trace text; returns each TLP's result and the core counters' change. */
  run(text: string): { results: Result[]; tlps: TraceTlp[]; delta: Record<string, bigint> };
  /** Descriptors written to the queue since the last call: [qw0, qw1] each. */
  newDescriptors(): bigint[][];
}

/**
 * A platform with SS domain 1 (0x100000+64 KiB -> 0x80000000), FS domain 2 (0x7f0000000000+64 KiB
 * -> 0x60000000) and a pass-through domain 9, attachments `attach`, built by the builder.
 */
function setup(o: { plat?: PlatformOptions; driver?: Partial<DriverOptions>; attach?: (Partial<AttachSpec> & { sid: number })[]; extra?: (p: VtdPlatform) => void } = {}): Setup {
  const p = new VtdPlatform({ build: "debug", ...o.plat });
  const b = p.builder;
  const ss = b.createDomain({ id: 1, type: "ss" });
  b.map(ss, 0x100000n, 0x80000000n, 0x10000n);
  const fs = b.createDomain({ id: 2, type: "fs" });
  b.map(fs, 0x7f0000000000n, 0x60000000n, 0x10000n);
  b.createDomain({ id: 9, type: "pt" });
  o.extra?.(p);
  for (const a of o.attach ?? [{ sid: 0x10, domain: 1, ats: true }]) b.attach({ domain: 1, ...a } as AttachSpec);
  p.enable();
  const driver = new VtdDriver(p, o.driver);
  let seenTail = 0;
  return {
    p,
    driver,
    run(text) {
      const before = p.core.counters();
      const results: Result[] = [];
      const tlps: TraceTlp[] = [];
      replay(p, parseTraceText(text, FILE), (_, t, r) => (results.push(r), tlps.push(t)), { driver, file: FILE });
      const after = p.core.counters();
      const delta = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
      return { results, tlps, delta };
    },
    newDescriptors() {
      const iqa = p.core.readRegister("IQA");
      const base = iqa & ~0xfffn;
      const step = iqa & (1n << 11n) ? 32 : 16;
      const bytes = 4096 << Number(iqa & 7n);
      const tail = Number(p.core.readRegister("IQT"));
      const out: bigint[][] = [];
      for (let at = seenTail; at !== tail; at = (at + step) % bytes) {
        const pa = base + BigInt(at);
        out.push([p.core.read64(pa)!, p.core.read64(pa + 8n)!]);
      }
      seenTail = tail;
      return out;
    },
  };
}

const typeOf = (qw0: bigint) => Number((qw0 & 0xfn) | (((qw0 >> 9n) & 7n) << 4n));
/** Granularity (qw0 bits 5:4) of the types that have one; 0 for a wait (whose bit 5 is SW). */
const gran = (qw0: bigint) => (typeOf(qw0) === 5 ? 0 : Number((qw0 >> 4n) & 3n));

// ---------------------------------------------------------------------------------------- strict

test("strict unmap, SS domain with one ATS device: IOTLB PSI, device-TLB, wait, exactly as Linux writes them", () => {
  const s = setup();
  const { results, delta } = s.run(
    [
      "MRd 00:02.0 addr=0x100000", // IOTLB fill
      "MRd 00:02.0 addr=0x103000",
      "MRd 00:02.0 addr=0x104000 at=translated", // device-TLB fill (ATS) outside the unmapped range
      "unmap 1 0x100000 0x4000",
      "MRd 00:02.0 addr=0x100000",
      "MRd 00:02.0 addr=0x103000",
      "MRd 00:02.0 addr=0x104000", // still mapped
    ].join("\n"),
  );
  assert.is(delta.invDescriptors, 3n, "IOTLB PSI + device-TLB + wait");
  assert.is(delta.invWaitWrites, 1n);
  assert.is(delta.invQueueErrors, 0n);
  assert.equal(results.map((r) => r.status), ["ok", "ok", "ok", "fault", "fault", "ok"]);
  assert.is(results[3]!.fault!.code, SSS_2);
  assert.is(results[4]!.fault!.code, SSS_2);
  assert.not.ok(results[3]!.stale);
  const d = s.newDescriptors();
  assert.is(d.length, 3);
  // type 2, G=11 (page-selective), DR and DW (CAP.DRD/DWD), DID 1; ADDR 0x100000, IH=1 (no table freed), AM=2 (4 pages)
  assert.equal(d[0], [0x100f2n, 0x100000n | (1n << 6n) | 2n]);
  // type 3, SID 00:02.0, PFSID = SID (ECAP.DIT); S=1 with one trailing 1 above bit 12: 4 pages at 0x100000
  assert.equal(d[1], [3n | (0x10n << 32n) | (1n << 52n), 0x101001n]);
  // type 5 with SW, status data QI_DONE (2), to the status slot of its queue index (2)
  assert.is(d[2]![0], 5n | (1n << 5n) | (2n << 32n));
  const status = d[2]![1]!;
  assert.is((status & 0xfffn) / 4n, 2n, "status slot = queue index of the wait descriptor");
  assert.is((s.p.core.read64(status & ~7n)! >> (8n * (status & 4n))) & 0xffffffffn, 2n, "QI_DONE written");
  assert.is(s.driver.stats.unmaps, 1);
  assert.is(s.driver.stats.queuedDescriptors, 3);
});

test("strict unmap, FS domain on two PASIDs (one device with ATS): PASID-based IOTLB per PASID and PASID device-TLB, in cache-tag order", () => {
  const s = setup({
    attach: [
      { sid: 0x20, pasid: 1, domain: 2 },
      { sid: 0x28, domain: 1, ats: true }, // 00:05.0's context entry gets DTE
      { sid: 0x28, pasid: 2, domain: 2 },
    ],
  });
  const { results, delta } = s.run(
    ["MRd 00:04.0 pasid=1 addr=0x7f0000001000", "unmap 2 0x7f0000001000 0x2000", "MRd 00:04.0 pasid=1 addr=0x7f0000001000", "MRd 00:05.0 pasid=2 addr=0x7f0000002000"].join("\n"),
  );
  assert.equal(results.map((r) => r.fault?.code), [undefined, SFS_2, SFS_2]);
  assert.is(delta.invDescriptors, 4n);
  const d = s.newDescriptors();
  assert.equal(d.map(([q0]) => typeOf(q0!)), [6, 6, 8, 5], "IOTLB tag (PASID 1), IOTLB tag (PASID 2), DEVTLB tag (00:05.0, PASID 2), wait");
  // 0x7f0000001000..0x7f0000002fff: the smallest aligned power-of-two range is 4 pages at 0x7f0000000000
  assert.equal(d[0], [6n | (3n << 4n) | (2n << 16n) | (1n << 32n), 0x7f0000000000n | (1n << 6n) | 2n]);
  assert.equal(d[1], [6n | (3n << 4n) | (2n << 16n) | (2n << 32n), 0x7f0000000000n | (1n << 6n) | 2n]);
  // type 8: SID 00:05.0 at 31:16, PASID 2, PFSID; qw1: S at bit 11, one trailing 1 above bit 12 (4 pages), G=0
  assert.equal(d[2], [8n | (0x28n << 16n) | (2n << 32n) | (0x8n << 12n) | (0x2n << 52n), 0x7f0000001000n | (1n << 11n)]);
});

test("strict unmap: a range that needs AM > CAP.MAMV, or CAP.PSI=0, becomes domain-selective", () => {
  const cap = setField(DEFAULT_CAP, capFields.MAMV, 1n);
  const s = setup({ plat: { cap }, attach: [{ sid: 0x10, domain: 1 }] });
  s.run("unmap 1 0x100000 0x2000\nunmap 1 0x104000 0x4000");
  const d = s.newDescriptors();
  assert.equal(d.map(([q0, q1]) => [typeOf(q0!), gran(q0!), q1]), [
    [2, 3, 0x100000n | (1n << 6n) | 1n],
    [5, 0, d[1]![1]],
    [2, 2, 0n], // AM would be 2 > MAMV=1
    [5, 0, d[3]![1]],
  ]);
  const noPsi = setup({ plat: { cap: setField(DEFAULT_CAP, capFields.PSI, 0n) }, attach: [{ sid: 0x10, domain: 1 }] });
  noPsi.run("unmap 1 0x100000 0x1000");
  assert.equal(noPsi.newDescriptors().map(([q0]) => [typeOf(q0!), gran(q0!)]), [[2, 2], [5, 0]]);
});

test("strict unmap of nothing mapped, or of a domain nobody is attached to, issues nothing", () => {
  const s = setup();
  const { delta } = s.run("unmap 1 0x800000 0x1000\nunmap 2 0x7f0000000000 0x1000");
  assert.is(delta.invDescriptors, 0n);
  assert.is(s.driver.stats.unmaps, 2);
});

test("a nested domain's parent: unmap there invalidates the nested DID and the whole device-TLB of its ATS devices", () => {
  const s = setup({
    extra: (p) => {
      const parent = p.builder.createDomain({ id: 4, type: "ss" });
      p.builder.map(parent, 0n, 0x800000000n, 0x400000n, { pageSize: 1n << 21n });
      const nested = p.builder.createDomain({ id: 5, type: "nested", parent: 4 });
      p.builder.map(nested, 0x200000n, 0x100000n, 0x4000n);
    },
    attach: [{ sid: 0x20, domain: 1, ats: true }, { sid: 0x20, pasid: 2, domain: 5 }],
  });
  s.run("unmap 4 0x0 0x200000");
  const d = s.newDescriptors();
  // parent 4 has no attachment of its own: NESTING_IOTLB (DID 5, PSI of the 2 MiB page: AM 9), NESTING_DEVTLB (everything), wait
  assert.equal(d.map(([q0]) => typeOf(q0!)), [2, 8, 5]);
  assert.equal(d[0], [0xf2n | (5n << 16n), (1n << 6n) | 9n]);
  assert.is(d[1]![1], 0x7ffffffffffff000n | (1n << 11n), "type 8 of every address (2^52 pages)");
  // unmap in the nested domain itself: type 2 with its DID (not first-stage paging in Linux's sense)
  s.run("unmap 5 0x200000 0x1000");
  assert.equal(s.newDescriptors().map(([q0]) => [typeOf(q0!), gran(q0!), Number((q0! >> 16n) & 0xffffn)]), [[2, 3, 5], [8, 0, 0x20], [5, 0, 0]]);
});

test("Linux batches 16 descriptors per submission: an unmap with 20 ATS devices gives two waits", () => {
  const attach = Array.from({ length: 20 }, (_, i) => ({ sid: 0x100 + i * 8, domain: 1, ats: true }));
  const s = setup({ attach });
  const { delta } = s.run("unmap 1 0x100000 0x1000");
  assert.is(delta.invDescriptors, 23n, "1 IOTLB + 20 device-TLB + 2 waits");
  assert.is(delta.invWaitWrites, 2n);
  const types = s.newDescriptors().map(([q0]) => typeOf(q0!));
  assert.equal(types, [2, ...Array(15).fill(3), 5, ...Array(5).fill(3), 5]);
});

test("psiRange is Linux's calculate_psi_aligned_address", () => {
  assert.equal(psiRange(0x100000n, 0x103fffn), { addr: 0x100000n, mask: 2 });
  assert.equal(psiRange(0x1000n, 0x2fffn), { addr: 0n, mask: 2 }, "pfn 1..2 needs 4 pages at 0");
  assert.equal(psiRange(0x3000n, 0x4fffn), { addr: 0n, mask: 3 });
  assert.equal(psiRange(0x5000n, 0x6fffn), { addr: 0x4000n, mask: 2 });
  assert.equal(psiRange(0x7000n, 0x7fffn), { addr: 0x7000n, mask: 0 });
  assert.equal(psiRange(0n, (1n << 64n) - 1n), { addr: 0n, mask: 52 });
});

// ------------------------------------------------------------------------------------------ lazy

test("lazy unmap: TLPs before the flush still translate, flagged stale; after the flush they fault", () => {
  const s = setup({ driver: { invalidation: "lazy" }, attach: [{ sid: 0x10, domain: 1 }] });
  const { results, delta } = s.run(
    ["MRd 00:02.0 addr=0x100000", "unmap 1 0x100000 0x1000", "MRd 00:02.0 addr=0x100040", "MWr 00:02.0 addr=0x100080", "flush", "MRd 00:02.0 addr=0x100000"].join("\n"),
  );
  assert.equal(results.map((r) => r.status), ["ok", "ok", "ok", "fault"]);
  assert.equal(results.map((r) => r.stale), [false, true, true, false]);
  assert.is(results[1]!.pa, 0x80000040n, "the stale translation still reaches the old page");
  assert.is(results[3]!.fault!.code, SSS_2);
  assert.is(delta.staleIotlbUses, 2n);
  assert.is(delta.invDescriptors, 2n, "one domain-selective IOTLB invalidation and its wait");
  assert.equal(s.newDescriptors().map(([q0, q1]) => [typeOf(q0!), gran(q0!), typeOf(q0!) === 2 ? q1 : 0n]), [[2, 2, 0n], [5, 0, 0n]]);
  assert.equal(s.driver.stats.flushReasons, { batch: 0, timeout: 0, explicit: 1, end: 0 });
  assert.is(s.driver.stats.deferredUnmaps, 1);
});

test("lazy flush: domain-selective IOTLB, PASID-based all-in-PASID for FS, device-TLB of every address, a wait per domain", () => {
  const s = setup({ driver: { invalidation: "lazy" }, attach: [{ sid: 0x10, domain: 1, ats: true }, { sid: 0x10, pasid: 3, domain: 2 }] });
  s.run("unmap 2 0x7f0000000000 0x1000\nunmap 1 0x100000 0x1000\nunmap 2 0x7f0000001000 0x1000\nflush");
  const d = s.newDescriptors();
  assert.equal(d.map(([q0]) => [typeOf(q0!), gran(q0!)]), [
    [6, 2], [8, 0], [5, 0], // domain 2 first (first deferred): PIOTLB all of PASID 3, device-TLB (00:02.0 PASID 3) everything, wait
    [2, 2], [3, 0], [5, 0], // domain 1: DSI, device-TLB everything, wait
  ]);
  assert.equal(d[0], [6n | (2n << 4n) | (2n << 16n) | (3n << 32n), 0n]);
  assert.equal(d[3], [0xe2n | (1n << 16n), 0n], "DSI with DR/DW, as the sample qi_submit line 0x100e2");
  assert.is(d[4]![1], 0x7ffffffffffff001n);
});

test("lazyBatch: the unmap that fills the queue flushes it at once", () => {
  const s = setup({ driver: { invalidation: "lazy", lazyBatch: 3 }, attach: [{ sid: 0x10, domain: 1 }] });
  const fill = ["MRd 00:02.0 addr=0x100000", "MRd 00:02.0 addr=0x101000", "MRd 00:02.0 addr=0x102000"];
  const { results, delta } = s.run(
    [...fill, "unmap 1 0x100000 0x1000", "unmap 1 0x101000 0x1000", "MRd 00:02.0 addr=0x100000", "unmap 1 0x102000 0x1000", "MRd 00:02.0 addr=0x100000", "MRd 00:02.0 addr=0x101000"].join("\n"),
  );
  assert.equal(results.slice(3).map((r) => [r.status, r.stale]), [["ok", true], ["fault", false], ["fault", false]]);
  assert.is(delta.invDescriptors, 2n);
  assert.equal(s.driver.stats.flushReasons, { batch: 1, timeout: 0, explicit: 0, end: 0 });
});

test("lazyTimeoutCycles: the flush happens when trace time reaches the oldest deferred unmap + timeout, inside a TLP batch too", () => {
  const s = setup({ driver: { invalidation: "lazy", lazyTimeoutCycles: 1000 }, attach: [{ sid: 0x10, domain: 1 }] });
  const { results } = s.run(
    [
      "@100 MRd 00:02.0 addr=0x100000",
      "MRd 00:02.0 addr=0x101000",
      "@200 unmap 1 0x100000 0x1000",
      "@700 unmap 1 0x101000 0x1000", // the deadline stays 200 + 1000
      "@1199 MRd 00:02.0 addr=0x100000",
      "MRd 00:02.0 addr=0x101000", // no time: still 1199
      "@1200 MRd 00:02.0 addr=0x100000",
      "@1201 MRd 00:02.0 addr=0x101000",
    ].join("\n"),
  );
  assert.equal(results.slice(2).map((r) => [r.status, r.stale]), [["ok", true], ["ok", true], ["fault", false], ["fault", false]]);
  assert.equal(s.driver.stats.flushReasons, { batch: 0, timeout: 1, explicit: 0, end: 0 });
  assert.is(s.driver.stats.flushes, 1);
});

test("lazyTimeoutCycles with ns and us times (1 cycle per ns), and the untimed unmap takes the last time seen", () => {
  const s = setup({ driver: { invalidation: "lazy", lazyTimeoutCycles: 10_000_000 }, attach: [{ sid: 0x10, domain: 1 }] });
  const { results } = s.run(
    ["@1us MRd 00:02.0 addr=0x100000", "unmap 1 0x100000 0x1000", "@10000.999us MRd 00:02.0 addr=0x100000", "@10001000ns MRd 00:02.0 addr=0x100000"].join("\n"),
  );
  assert.equal(results.map((r) => [r.status, r.stale]), [["ok", false], ["ok", true], ["fault", false]]);
  assert.is(s.driver.stats.flushReasons.timeout, 1);
});

test("lazy: what is still deferred at the end of the trace is flushed", () => {
  const s = setup({ driver: { invalidation: "lazy" }, attach: [{ sid: 0x10, domain: 1 }] });
  const { delta } = s.run("MRd 00:02.0 addr=0x100000\nunmap 1 0x100000 0x1000\nMRd 00:02.0 addr=0x100000");
  assert.is(delta.invDescriptors, 2n);
  assert.is(delta.staleIotlbUses, 1n);
  assert.equal(s.driver.stats.flushReasons, { batch: 0, timeout: 0, explicit: 0, end: 1 });
  // a flush with nothing deferred does nothing
  s.run("flush");
  assert.is(s.driver.stats.flushes, 1);
});

// ---------------------------------------------------------------------------------- caching mode

test("CAP.CM=1: a map after a fault on that address invalidates the cached not-present entry (PSI + wait)", () => {
  const cap = setField(DEFAULT_CAP, capFields.CM, 1n);
  const s = setup({ plat: { cap }, attach: [{ sid: 0x10, domain: 1 }] });
  const { results, delta } = s.run(["MRd 00:02.0 addr=0x200000", "map 1 0x200000 0x90000000 0x2000", "MRd 00:02.0 addr=0x201000"].join("\n"));
  assert.equal(results.map((r) => r.status), ["fault", "ok"]);
  assert.is(results[1]!.pa, 0x90001000n);
  assert.is(delta.invDescriptors, 2n);
  assert.equal(s.newDescriptors().map(([q0, q1]) => [typeOf(q0!), gran(q0!), q1]).slice(0, 1), [[2, 3, 0x200000n | 1n]], "PSI of 2 pages, IH=0");
  assert.is(s.driver.stats.maps, 1);

  // Without the driver's invalidation the negative entry stays and the TLP keeps faulting.
  const raw = setup({ plat: { cap }, attach: [{ sid: 0x10, domain: 1 }] });
  raw.run("MRd 00:02.0 addr=0x200000");
  raw.p.builder.map(raw.p.builder.domains.get(1)!, 0x200000n, 0x90000000n, 0x1000n);
  assert.is(raw.run("MRd 00:02.0 addr=0x200000").results[0]!.status, "fault");

  // CM=0: a map issues nothing
  const plain = setup({ attach: [{ sid: 0x10, domain: 1 }] });
  assert.is(plain.run("map 1 0x200000 0x90000000 0x1000").delta.invDescriptors, 0n);
});

test("CAP.CM=1: a first-stage map needs no invalidation (spec 6.1, Linux cache_tag_flush_range_np)", () => {
  const cap = setField(DEFAULT_CAP, capFields.CM, 1n);
  const s = setup({ plat: { cap }, attach: [{ sid: 0x20, pasid: 1, domain: 2 }] });
  assert.is(s.run("map 2 0x7f0000100000 0x90000000 0x1000 perm=r").delta.invDescriptors, 0n);
});

// ------------------------------------------------------------------------------- explicit inv

test("inv qi: the raw qwords of real intel_iommu:qi_submit lines", () => {
  const s = setup({ attach: [{ sid: 0x10, domain: 1 }] });
  // qi_submit: iotlb_inv dmar1: 0x100e2 0x0 0x0 0x0   (domain-selective, DID 1, DR/DW)
  // qi_submit: inv_wait dmar1: 0x200000025 0x7000008 0x0 0x0
  const { results, delta } = s.run(
    ["MRd 00:02.0 addr=0x100000", "MRd 00:02.0 addr=0x100000", "inv qi 0x100e2 0x0 0x0 0x0", "inv qi 0x200000025 0x7000008 0x0 0x0", "MRd 00:02.0 addr=0x100000"].join("\n"),
  );
  assert.equal(results.map((r) => r.status), ["ok", "ok", "ok"]);
  assert.is(delta.invDescriptors, 2n);
  assert.is(delta.invWaitWrites, 1n);
  assert.is(s.p.core.read64(0x7000008n)! & 0xffffffffn, 2n, "the wait wrote its status data");
  const iotlb = s.p.core.cacheStats().iotlb;
  assert.is(iotlb.misses, 2n, "the first TLP and the one after the invalidation missed");
  assert.ok(iotlb.invalidations >= 1n);
  assert.equal(s.newDescriptors(), [[0x100e2n, 0n], [0x200000025n, 0x7000008n]]);
  assert.is(s.driver.stats.invs, 2);
});

test("inv qi: a descriptor that stops the queue is counted, replaced, and the queue goes on", () => {
  const s = setup({ attach: [{ sid: 0x10, domain: 1 }] });
  // type 0 is not a descriptor type; then a non-zero qw3 in a 256-bit descriptor (reserved)
  const { delta } = s.run(["inv qi 0x0 0x0", "inv qi 0x4 0x0 0x0 0x1", "inv iotlb global", "unmap 1 0x100000 0x1000"].join("\n"));
  assert.is(delta.invQueueErrors, 2n);
  assert.is(delta.invDescriptors, 2n + 1n + 2n, "each bad descriptor ran as a bare wait; then the global IOTLB, PSI and wait");
  assert.is(s.p.core.readRegister("FSTS") & (1n << 4n), 0n, "FSTS.IQE cleared");
});

test("inv qi: a legacy (128-bit) queue refuses qw2/qw3", () => {
  const p = new VtdPlatform({ build: "debug", mode: "legacy" });
  p.builder.createDomain({ id: 1, type: "ss" });
  p.enable();
  const driver = new VtdDriver(p);
  try {
    replay(p, parseTraceText("MRd 00:02.0 addr=0\n  inv qi 0x4 0x0 0x0 0x1", FILE), undefined, { driver, file: FILE });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, InputError);
    assert.is((e as InputError).message, `${FILE}:2:3: inv: this unit uses 128-bit descriptors (legacy mode or ECAP.SMTS=0): QW2 and QW3 must be 0`);
  }
  replay(p, parseTraceText("inv qi 0x4 0x0 0x0 0x0\nunmap 1 0x0 0x1000", FILE), undefined, { driver });
  assert.is(p.core.readRegister("IQA") & (1n << 11n), 0n, "IQA.DW=0");
  assert.is(p.core.counters().invDescriptors, 1n);
});

test("symbolic inv: each form is a valid descriptor with the effect its name says", () => {
  const s = setup({ attach: [{ sid: 0x10, domain: 1, ats: true }, { sid: 0x10, pasid: 1, domain: 2 }] });
  const lines = [
    "inv cc global",
    "inv cc domain did=1",
    "inv cc device sid=00:02.0 fm=3",
    "inv iotlb global",
    "inv iotlb dsi did=1",
    "inv iotlb psi did=1 addr=0x100000 am=4 ih",
    "inv devtlb 00:02.0 addr=0x100000 pages=16",
    "inv piotlb did=2 pasid=1",
    "inv piotlb did=2 pasid=1 psi addr=0x7f0000000000 am=4",
    "inv pc global",
    "inv pc dsi did=2",
    "inv pc pasid did=2 pasid=1",
    "inv pdevtlb 00:02.0 pasid=1 addr=0 pages=0x10000000000000 all",
    "inv iec",
    "inv wait",
    "inv wait addr=0x7000000 data=7",
  ];
  const { delta } = s.run(lines.join("\n"));
  assert.is(delta.invDescriptors, BigInt(lines.length));
  assert.is(delta.invQueueErrors, 0n);
  assert.is(delta.invWaitWrites, 1n);
  assert.is(s.p.core.read64(0x7000000n)! & 0xffffffffn, 7n);
  assert.equal(s.newDescriptors().map(([q0]) => typeOf(q0!)), [1, 1, 1, 2, 2, 2, 3, 6, 6, 7, 7, 7, 8, 4, 5, 5]);

  // the device-TLB invalidation reaches the device: its next translated request misses
  const t = s.run("MRd 00:02.0 addr=0x100000 at=translated\nMRd 00:02.0 addr=0x100000 at=translated\ninv devtlb 00:02.0 addr=0x100000\nMRd 00:02.0 addr=0x100000 at=translated");
  assert.is(t.delta.atcMisses, 2n);
  assert.equal(t.results.map((r) => r.atc), [true, true, true]);
});

test("inv reg: CCMD and IOTLB_REG/IVA", () => {
  const s = setup({ attach: [{ sid: 0x10, domain: 1 }] });
  const { delta } = s.run(["MRd 00:02.0 addr=0x100000", "inv reg iotlb psi did=1 addr=0x100000 am=0", "inv reg cc global", "MRd 00:02.0 addr=0x100000"].join("\n"));
  assert.is(delta.invDescriptors, 2n, "the core counts register-based invalidations as descriptors");
  assert.is(s.driver.stats.registerInvalidations, 2);
  assert.is(s.driver.stats.queuedDescriptors, 0);
  assert.is(s.p.core.readRegister("IVA"), 0x100000n);
  assert.is((s.p.core.readRegister("IOTLB_REG") >> 57n) & 3n, 3n, "IAIG: page-selective performed");
  assert.is(s.p.core.cacheStats().iotlb.misses, 2n);
  assert.is(s.p.core.cacheStats().contextCache.misses, 2n);
});

test("without ECAP.QI the driver invalidates through IOTLB_REG, and queued inv lines are errors", () => {
  const ecap = setField(DEFAULT_ECAP, ecapFields.QI, 0n);
  const s = setup({ plat: { ecap }, attach: [{ sid: 0x10, domain: 1, ats: true }] });
  const { results, delta } = s.run("MRd 00:02.0 addr=0x100000\nunmap 1 0x100000 0x1000\nMRd 00:02.0 addr=0x100000");
  assert.is(results[1]!.fault!.code, SSS_2);
  assert.is(delta.invDescriptors, 1n);
  assert.is(delta.invWaitWrites, 0n);
  assert.is(s.driver.stats.registerInvalidations, 1);
  assert.is((s.p.core.readRegister("IOTLB_REG") >> 48n) & 3n, 3n, "DR and DW as Linux sets them");
  try {
    s.run("\ninv iec");
    assert.unreachable();
  } catch (e) {
    assert.is((e as InputError).message, `${FILE}:2:1: inv: ECAP.QI=0: this unit has no invalidation queue (use inv reg cc or inv reg iotlb)`);
  }
});

// ------------------------------------------------------------------------------------------ errors

test("driver events that cannot be carried out are input errors at their line and column", () => {
  const s = setup();
  const fails = (text: string, message: string) => {
    try {
      s.run(text);
    } catch (e) {
      assert.instance(e, InputError);
      assert.is((e as InputError).message, message);
      return;
    }
    assert.unreachable(message);
  };
  fails("MRd 00:02.0 addr=0\n\n  unmap 7 0x0 0x1000", `${FILE}:3:3: unmap: no domain 7; the scenario defines 1, 2, 9`);
  fails("@5 map 9 0x0 0x0 0x1000", `${FILE}:1:4: map: domain 9 is pass-through: it has no page tables`);
  fails("map 1 0x100000 0x0 0x1000", `${FILE}:1:1: map: IOVA 0x100000 is already mapped in domain 1`);
  fails(
    "map 1 0x1000000000000 0x0 0x1000",
    `${FILE}:1:1: map: IOVA range 0x1000000000000-0x1000000000fff is beyond the 48-bit input width of domain 1 (4-level second stage: below 0x1000000000000)`,
  );
});

test("map events write what the builder writes: permissions, page size, snoop, user/supervisor", () => {
  const s = setup({ attach: [{ sid: 0x10, domain: 1 }, { sid: 0x20, pasid: 1, domain: 2 }] });
  const { results } = s.run(
    [
      "map 1 0x40000000 0x40000000 0x200000 page=2M perm=r snp",
      "MRd 00:02.0 addr=0x40012340 ns",
      "MWr 00:02.0 addr=0x40012340",
      "map 2 0x7f0000200000 0x70000000 0x1000 sup",
      "MRd 00:04.0 pasid=1 addr=0x7f0000200000",
      "MRd 00:04.0 pasid=1,priv addr=0x7f0000200000",
    ].join("\n"),
  );
  assert.is(results[0]!.pa, 0x40012340n);
  assert.is(results[0]!.pageLg2, 21);
  assert.is(results[0]!.snoopBy, "pte");
  assert.is(results[1]!.fault?.name, "SGN.6");
  assert.is(results[2]!.fault?.name, "SGN.2", "user request to a supervisor page");
  assert.is(s.driver.stats.maps, 2);
});


// ---------------------------------------------------------------------------------- attach/detach

const SCT_2 = 0x41, SPT_2 = 0x59, LCT_2 = 0x2;
const DRAIN = (1n << 7n) | (1n << 6n); // DR, DW: CAP.DRD/DWD in the default profile

test("attach at run time (CM=0: no invalidation); detach of an SS request-without-PASID attachment: PASID cache, DSI IOTLB, device-TLB, wait; then SPT.2", () => {
  const s = setup();
  const { results, delta } = s.run(
    [
      "MRd 00:03.0 addr=0x100000", // no context entry yet
      "@100 attach 00:03.0 domain=1 ats",
      "MRd 00:03.0 addr=0x100000",
      "MRd 00:03.0 addr=0x101000 at=translated",
      "@200 detach 00:03.0",
      "MRd 00:03.0 addr=0x100000",
      "MRd 00:03.0 addr=0x101000",
      "MRd 00:02.0 addr=0x100000", // the other device of domain 1 still translates
    ].join("\n"),
  );
  assert.equal(results.map((r) => r.fault?.code), [SCT_2, undefined, undefined, SPT_2, SPT_2, undefined]);
  assert.is(results[1]!.pa, 0x80000000n);
  assert.ok(results.every((r) => !r.stale));
  assert.is(delta.invDescriptors, 4n, "PASID cache + IOTLB DSI + device-TLB + wait (the attach issued none)");
  assert.is(delta.invWaitWrites, 1n);
  assert.is(delta.invQueueErrors, 0n);
  const d = s.newDescriptors();
  assert.equal(d[0], [7n | (1n << 4n) | (1n << 16n) | (0n << 32n), 0n], "PASID cache, PASID-selective, DID 1, PASID 0 (RID_PASID)");
  assert.equal(d[1], [2n | (2n << 4n) | DRAIN | (1n << 16n), 0n], "IOTLB domain-selective DID 1 (second stage)");
  // type 3 (no PASID: the RID_PASID entry), SID 00:03.0, PFSID = SID, every address (2^52 pages)
  assert.equal(d[2]![0], 3n | (0x18n << 32n) | (0x8n << 12n) | (0x1n << 52n));
  assert.is(d[2]![1], ((1n << 63n) - 1n) & ~0xffen | 1n, "S=1 with every address bit set");
  assert.is(typeOf(d[3]![0]!), 5);
  assert.is(s.driver.stats.attaches, 1);
  assert.is(s.driver.stats.detaches, 1);
  assert.equal(s.p.builder.attachments.map((a) => a.sid), [0x10], "the detached attachment is gone from the cache tags");
});

test("detach of a first-stage PASID attachment: PASID cache, PASID-based IOTLB all-in-PASID, PASID device-TLB, wait; then SPT.2", () => {
  const s = setup({ attach: [{ sid: 0x20, domain: 1, ats: true }] });
  const { results, delta } = s.run(
    [
      "attach 00:04.0 pasid=5 domain=2",
      "MRd 00:04.0 pasid=5 addr=0x7f0000001000",
      "MRd 00:04.0 pasid=5 addr=0x7f0000002000 at=translated",
      "detach 00:04.0 pasid=5",
      "MRd 00:04.0 pasid=5 addr=0x7f0000001000",
      "MRd 00:04.0 addr=0x100000", // the request-without-PASID attachment is untouched
    ].join("\n"),
  );
  assert.equal(results.map((r) => r.fault?.code), [undefined, undefined, SPT_2, undefined]);
  assert.is(results[0]!.pa, 0x60001000n);
  assert.is(delta.invDescriptors, 4n);
  assert.is(delta.invWaitWrites, 1n);
  const d = s.newDescriptors();
  assert.equal(d.map(([q0]) => typeOf(q0!)), [7, 6, 8, 5]);
  assert.equal(d[0], [7n | (1n << 4n) | (2n << 16n) | (5n << 32n), 0n], "PASID cache, PASID-selective, old DID 2, PASID 5");
  assert.equal(d[1], [6n | (2n << 4n) | (2n << 16n) | (5n << 32n), 0n], "PASID-based IOTLB, all of (DID 2, PASID 5)");
  assert.equal(d[2]![0], 8n | (0x20n << 16n) | (5n << 32n) | (0x0n << 12n) | (0x2n << 52n), "PASID device-TLB of 00:04.0 PASID 5");
  assert.is(d[2]![1]! & 1n, 0n, "G=0: that PASID only");
});

test("detach, pass-through PASID (PIOTLB) and no ATS; nested (DSI with the nested DID)", () => {
  const s = setup({
    attach: [],
    extra: (p) => p.builder.createDomain({ id: 3, type: "nested", parent: 1 }),
  });
  s.run(["attach 00:02.0 domain=1", "attach 00:02.0 pasid=1 domain=9", "attach 00:02.0 pasid=2 domain=3"].join("\n"));
  s.newDescriptors();
  assert.is(s.run("detach 00:02.0 pasid=1").delta.invDescriptors, 3n);
  assert.equal(s.newDescriptors().map(([q0]) => [typeOf(q0!), gran(q0!), Number((q0! >> 16n) & 0xffffn)]), [[7, 1, 9], [6, 2, 9], [5, 0, 0]]);
  assert.is(s.run("detach 00:02.0 pasid=2").delta.invDescriptors, 3n);
  assert.equal(s.newDescriptors().map(([q0]) => [typeOf(q0!), gran(q0!), Number((q0! >> 16n) & 0xffffn)]), [[7, 1, 3], [2, 2, 3], [5, 0, 0]]);
});

test("legacy mode: attach, translate, detach (context cache device-selective, DSI IOTLB, device-TLB, wait), then LCT.2", () => {
  const p = new VtdPlatform({ build: "debug", mode: "legacy" });
  const ss = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(ss, 0x100000n, 0x80000000n, 0x10000n);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const driver = new VtdDriver(p);
  const results: Result[] = [];
  const before = p.core.counters();
  replay(
    p,
    parseTraceText(["attach 00:03.0 domain=1 ats", "MRd 00:03.0 addr=0x100000", "MRd 00:03.0 addr=0x101000 at=translated", "detach 00:03.0", "MRd 00:03.0 addr=0x100000"].join("\n"), FILE),
    (_, _t, r) => results.push(r),
    { driver, file: FILE },
  );
  const after = p.core.counters();
  assert.equal(results.map((r) => r.fault?.code), [undefined, undefined, LCT_2]);
  assert.is(after.invDescriptors - before.invDescriptors, 4n);
  assert.is(after.invWaitWrites - before.invWaitWrites, 1n);
  const base = p.core.readRegister("IQA") & ~0xfffn;
  const q = [0, 1, 2, 3].map((i) => [p.core.read64(base + BigInt(16 * i))!, p.core.read64(base + BigInt(16 * i + 8))!]);
  assert.equal(q[0], [1n | (3n << 4n) | (1n << 16n) | (0x18n << 32n), 0n], "context cache, device-selective, old DID 1, SID 00:03.0, FM 0");
  assert.equal(q[1], [2n | (2n << 4n) | DRAIN | (1n << 16n), 0n], "IOTLB DSI DID 1");
  assert.is(typeOf(q[2]![0]!), 3);
  assert.is(typeOf(q[3]![0]!), 5);
  assert.equal(p.core.read64(p.builder.root() + 0n)! & 1n, 1n, "the root entry stays");
});

test("CAP.CM=1: attach invalidates the not-present entries cached in domain 0 (cc device, PASID cache, IOTLB DSI, wait)", () => {
  const cap = setField(DEFAULT_CAP, capFields.CM, 1n);
  const s = setup({ plat: { cap } });
  const { results, delta } = s.run(["MRd 00:03.0 addr=0x100000", "attach 00:03.0 domain=1", "MRd 00:03.0 addr=0x100000"].join("\n"));
  assert.equal(results.map((r) => r.fault?.code), [SCT_2, undefined]);
  assert.is(delta.invDescriptors, 4n);
  assert.is(delta.invWaitWrites, 1n);
  const d = s.newDescriptors();
  assert.equal(d[0], [1n | (3n << 4n) | (0x18n << 32n), 0n], "context cache device-selective, DID 0, SID 00:03.0");
  assert.equal(d[1], [7n | (1n << 4n), 0n], "PASID cache PASID-selective, DID 0, PASID 0");
  assert.equal(d[2], [2n | (2n << 4n) | DRAIN, 0n], "IOTLB DSI DID 0");
  assert.is(typeOf(d[3]![0]!), 5);
  // A second PASID of a device that has a context entry: no context-cache invalidation.
  const r2 = s.run("attach 00:03.0 pasid=7 domain=2");
  assert.is(r2.delta.invDescriptors, 3n);
  assert.equal(s.newDescriptors().map(([q0]) => [typeOf(q0!), Number((q0! >> 16n) & 0xffffn), typeOf(q0!) === 7 ? Number((q0! >> 32n) & 0xfffffn) : 0]), [[7, 0, 7], [2, 0, 0], [5, 0, 0]]);

  // Without those invalidations the not-present context entry cached by the first TLP stays.
  const raw = setup({ plat: { cap } });
  raw.run("MRd 00:03.0 addr=0x100000");
  raw.p.builder.attach({ sid: 0x18, domain: 1 });
  assert.is(raw.run("MRd 00:03.0 addr=0x100000").results[0]!.fault?.code, SCT_2);

  // CM=0: an attach issues nothing.
  assert.is(setup().run("attach 00:03.0 domain=1").delta.invDescriptors, 0n);
});

test("attach/detach errors are input errors at the event's line and column", () => {
  const s = setup();
  const fails = (text: string, msg: string) => {
    try {
      s.run(text);
      assert.unreachable("should have failed");
    } catch (e) {
      assert.instance(e, InputError);
      assert.is((e as InputError).message, msg);
    }
  };
  fails("\n  attach 00:03.0 domain=4", `${FILE}:2:3: attach: no domain 4; the scenario defines 1, 2, 9`);
  fails("attach 00:02.0 domain=2", `${FILE}:1:1: attach: 00:02.0 is already attached; detach it first, or replace its domain (replace)`);
  fails("@5 detach 00:05.0", `${FILE}:1:4: detach: 00:05.0 is not attached`);
  fails("detach 00:02.0 pasid=3", `${FILE}:1:1: detach: 00:02.0 PASID 3 is not attached`);
});

test.run();
