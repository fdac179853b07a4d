/**
 * `ftrace` importer: the ftrace, trace-cmd report and perf script line shapes, iommu:map/unmap in
 * the newer (` - 0x<end>`) and older forms, io_page_fault, intel_iommu:qi_submit, dma:* in the
 * 6.12 and later forms, --map domains, every error with its line and column, skipBad.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import dmaEarly from "../../fixtures/importers/dma-early.ts";
import dmaRecent from "../../fixtures/importers/dma-recent.ts";
import ftraceOld from "../../fixtures/importers/ftrace-old.ts";
import ftraceTrace from "../../fixtures/importers/ftrace-trace.ts";
import perfScript from "../../fixtures/importers/perf-script.ts";
import iommuDevices from "../../fixtures/importers/ftrace-iommu-devices.ts";
import dmaPaddr from "../../fixtures/importers/dma-paddr.ts";
import { attach, col, detach, inv, map, run, summary, throwsInput, tlp, unmap, us, ns } from "./util.ts";
import { formatImportSummary } from "../../../src/trace/importers/common.ts";

const ftrace = (text: string, opts: { map?: Record<string, string>; skipBad?: boolean } = {}) => run("ftrace", text, "t.trace", opts);

test("ftrace trace file (recent kernel): map/unmap with the range, attach, io_page_fault, qi_submit; other lines ignored", () => {
  const t = ftraceTrace;
  // --map domain=1: the domain of the attach (the tracepoint names none) and of map/unmap (1 anyway).
  const r = run("ftrace", t, "trace", { map: { domain: "1" } });
  assert.equal(r.skipped, []);
  assert.equal(r.events, [
    // iova 0x3fffffc00000, paddr 0x1b9400000, size 4194304 = 0x400000; perm rw (no prot in the tracepoint).
    map(13, col(t, 13, "map:"), 1, 0x3fffffc00000n, 0x1b9400000n, 0x400000n, { time: us(50126420) }),
    // device=0000:00:02.0 -> sid 0x10 (bus 0, device 2 << 3, function 0), domain 1 from --map domain=1.
    attach(14, col(t, 14, "attach_device_to_domain:"), 0x10, 1, { time: us(50126431) }),
    unmap(15, col(t, 15, "unmap:"), 1, 0x0n, 0x1000n, { time: us(438308478) }),
    // size 4096 at 0x201000 but unmapped_size 2 MiB: the large page around it, from 0x200000.
    unmap(16, col(t, 16, "unmap:"), 1, 0x200000n, 0x200000n, { time: us(438308490) }),
    // line 17: unmapped_size=0, nothing was unmapped: no event.
    // flags 0x0001 = IOMMU_FAULT_WRITE; 0000:c2:00.0 -> sid 0xc200.
    tlp(18, { op: "MWr", sid: 0xc200, addr: 0xfe980000n, time: us(527753942) }),
    // flags 0; segment 1: 0001:c2:00.1 -> 0x1_c201.
    tlp(19, { op: "MRd", sid: 0x1c201, addr: 0xfe981000n, time: us(527753950) }),
    inv(21, col(t, 21, "qi_submit:"), { kind: "qi", qwords: [0x100e2n, 0n, 0n, 0n] }, { time: us(600000001) }),
    inv(22, col(t, 22, "qi_submit:"), { kind: "qi", qwords: [0x200000025n, 0x1e4c1f00n, 0n, 0n] }, { time: us(600000002) }),
  ]);
  // 12 header lines; no DMA: unmapped_size=0 (17), the lost-events marker (20), prq_report (23),
  // cache_tag_flush_range (24).
  assert.equal(
    r.summary,
    summary("ftrace", {
      lines: 24,
      used: 8,
      ignored: { noDma: 4, blank: 12 },
      events: { MRd: 1, MWr: 1, map: 1, unmap: 2, inv: 2, attach: 1 },
      notes: [{ what: "lost-events markers: the tracer dropped events, the trace is incomplete", count: 1 }],
    }),
  );
});

test("older kernels: map/unmap without the range; trace-cmd report (no flags, padded names) and the tgid column", () => {
  const t = ftraceOld;
  const r = run("ftrace", t, "old", { map: { domain: "7" } });
  assert.equal(r.events, [
    map(3, col(t, 3, "map:"), 7, 0xfee00000n, 0xfee00000n, 0x1000n, { time: us(812104511) }),
    unmap(4, col(t, 4, "unmap:"), 7, 0xfee00000n, 0x1000n, { time: us(812104530) }),
    tlp(5, { op: "MRd", sid: 0x0300, addr: 0x1000n, time: us(812200000) }),
    map(7, col(t, 7, "map:"), 7, 0x100000n, 0x80000000n, 0x2000n, { time: us(900000100) }),
  ]);
  // no DMA: trace-cmd's version and cpus lines, sched_switch
  assert.equal(r.summary, summary("ftrace", { lines: 7, used: 4, ignored: { noDma: 3 }, events: { MRd: 1, map: 2, unmap: 1 } }));
});

test("perf script: SYSTEM:EVENT names, PID/TID, a --ns time in ns", () => {
  const t = perfScript;
  const r = run("ftrace", t, "perf");
  assert.equal(r.events, [
    map(1, col(t, 1, "iommu:map:"), 1, 0x10000n, 0x123456000n, 0x2000n, { time: us(438308478) }),
    unmap(2, col(t, 2, "iommu:unmap:"), 1, 0x10000n, 0x2000n, { time: us(438308600) }),
    tlp(3, { op: "MWr", sid: 0xc200, addr: 0xfe980000n, time: us(527753942) }),
    inv(4, col(t, 4, "intel_iommu:qi_submit:"), { kind: "qi", qwords: [0x100e2n, 0n, 0n, 0n] }, { time: ns(600000001123) }),
  ]);
  assert.equal(r.summary, summary("ftrace", { lines: 5, used: 4, ignored: { noDma: 1 }, events: { MWr: 1, map: 1, unmap: 1, inv: 1 } }));
});

test("dma:* (6.12 form): pages of dma_addr/phys_addr, dir -> perm, sg pairs, alloc at the iommu:map's paddr, PRIVILEGED -> sup", () => {
  const t = dmaEarly;
  const r = run("ftrace", t, "dma", { map: { "0000:01:00.0": "5", domain: "2" } });
  assert.equal(r.skipped, []);
  assert.equal(r.events, [
    // dma_alloc with a hashed virt_addr and no dir: bidirectional, 512 KiB, at the physical
    // address of the iommu:map of line 2 (0xfe980000 - 0xfea00000 -> paddr 0x10ab00000), which
    // makes no event of its own.
    map(1, col(t, 1, "dma_alloc:"), 2, 0xfe980000n, 0x10ab00000n, 0x80000n, { time: us(4878079) }),
    // 1500 bytes at 0xffffe234 (offset 0x234 in phys too): one page; TO_DEVICE -> r.
    map(3, col(t, 3, "dma_map_page:"), 2, 0xffffe000n, 0x10c35a000n, 0x1000n, { perm: "r", time: us(10000100) }),
    // line 4: dma_sync_single_for_cpu is ignored.
    unmap(5, col(t, 5, "dma_unmap_page:"), 2, 0xffffe000n, 0x1000n, { time: us(10000200) }),
    // 2 entries, 2 segments: entry k <-> segment k; FROM_DEVICE -> w; device 0000:01:00.0 -> domain 5.
    map(6, col(t, 6, "dma_map_sg:"), 5, 0xfff80000n, 0x1a0000000n, 0x1000n, { perm: "w", time: us(10000300) }),
    map(6, col(t, 6, "dma_map_sg:"), 5, 0xfff90000n, 0x1a0002000n, 0x2000n, { perm: "w", time: us(10000300) }),
    unmap(7, col(t, 7, "dma_unmap_sg:"), 5, 0xfff80000n, 0x1000n, { time: us(10000400) }),
    unmap(7, col(t, 7, "dma_unmap_sg:"), 5, 0xfff90000n, 0x2000n, { time: us(10000400) }),
    map(8, col(t, 8, "dma_map_page:"), 5, 0xfffa0000n, 0x1a0008000n, 0x1000n, { user: false, time: us(10000500) }),
    unmap(9, col(t, 9, "dma_free:"), 2, 0xfe980000n, 0x80000n, { time: us(11000000) }),
  ]);
  // every line used (line 2 with line 1) but the dma_sync line
  assert.equal(r.summary, summary("ftrace", { lines: 9, used: 8, ignored: { noDma: 1 }, events: { map: 5, unmap: 4 } }));
});

test("dma_alloc without a physical address: the pages of the nearest unused iommu:map lines, before or after it; PA = IOVA only without one", () => {
  const t = dmaPaddr;
  const r = run("ftrace", t, "paddr");
  assert.equal(r.skipped, []);
  assert.equal(r.events, [
    // line 3's iommu:map (one line before) maps the 16 KiB at 0x234560000
    map(4, col(t, 4, "dma_alloc:"), 1, 0xfff00000n, 0x234560000n, 0x4000n, { time: us(300000020) }),
    // two iommu:map lines after it, one page each, contiguous in both spaces: one map
    map(5, col(t, 5, "dma_alloc:"), 1, 0xffe00000n, 0x300000000n, 0x2000n, { time: us(300000100) }),
    unmap(8, col(t, 8, "dma_free:"), 1, 0xfff00000n, 0x4000n, { time: us(300000200) }),
    // the same IOVA again: line 3's iommu:map is taken, line 10's gives the new page
    map(11, col(t, 11, "dma_alloc:"), 1, 0xfff00000n, 0x255550000n, 0x1000n, { perm: "w", time: us(300000310) }),
    // no iommu:map maps 0xffd00000: PA = IOVA, and a note says so
    map(12, col(t, 12, "dma_alloc:"), 1, 0xffd00000n, 0xffd00000n, 0x1000n, { perm: "r", time: us(300000400) }),
  ]);
  assert.equal(
    r.summary,
    summary("ftrace", {
      lines: 13,
      // the dma:* lines and the iommu:map lines that gave addresses (3, 6, 7, 10)
      used: 9,
      // the iommu:unmap (9) and the VFIO iommu:map no dma:* line covers (13)
      ignored: { superseded: 2, blank: 2 },
      events: { map: 4, unmap: 1 },
      notes: [
        { what: "maps with PA = IOVA: a dma:* mapping without a physical address whose pages no iommu:map line maps", count: 1 },
        { what: "iommu:map lines whose pages no dma:* mapping maps: mappings made without the DMA API (e.g. by VFIO), left out", count: 1 },
      ],
    }),
  );
});

test("dma:* (later form): dma_map_phys, merged sg segments paired page by page, unmap_sg by its physical addresses", () => {
  const t = dmaRecent;
  const r = run("ftrace", t, "dma2");
  assert.equal(r.skipped, []);
  assert.equal(r.events, [
    map(1, col(t, 1, "dma_map_phys:"), 1, 0xfffff000n, 0x2d3e4f000n, 0x1000n, { perm: "w", time: us(120000010) }),
    unmap(2, col(t, 2, "dma_unmap_phys:"), 1, 0xfffff000n, 0x1000n, { time: us(120000020) }),
    // 3 entries merged into one 12 KiB segment = 3 pages: page k <-> entry k; pages 0 and 1 are
    // contiguous in both spaces and make one map.
    map(3, col(t, 3, "dma_map_sg:"), 1, 0xffe00000n, 0x11000n, 0x2000n, { perm: "r", time: us(120000100) }),
    map(3, col(t, 3, "dma_map_sg:"), 1, 0xffe02000n, 0x40000n, 0x1000n, { perm: "r", time: us(120000100) }),
    unmap(4, col(t, 4, "dma_unmap_sg:"), 1, 0xffe00000n, 0x3000n, { time: us(120000200) }),
    // no physical address, and no iommu:map line in this trace: PA = IOVA
    map(5, col(t, 5, "dma_alloc:"), 1, 0xfffc0000n, 0xfffc0000n, 0x4000n, { time: us(121000000) }),
    // line 6: dma_alloc_sgt_err is ignored.
    unmap(7, col(t, 7, "dma_free:"), 1, 0xfffc0000n, 0x4000n, { time: us(121500000) }),
  ]);
  assert.equal(
    r.summary,
    summary("ftrace", {
      lines: 7,
      used: 6,
      ignored: { noDma: 1 },
      events: { map: 4, unmap: 3 },
      notes: [{ what: "maps with PA = IOVA: a dma:* mapping without a physical address whose pages no iommu:map line maps", count: 1 }],
    }),
  );
});

test("iommu:map lines under dma:* mappings are superseded; a note counts only those no dma:* mapping covers", () => {
  const r = ftrace(
    P + "map: IOMMU: iova=0x0000000000200000 - 0x0000000000202000 paddr=0x0000000000900000 size=8192\n" + // covered by line 3
      P + "map: IOMMU: iova=0x0000000000300000 - 0x0000000000301000 paddr=0x0000000000a00000 size=4096\n" + // covered by line 4
      P + "dma_map_page: 0000:00:04.0 dir=TO_DEVICE dma_addr=200010 size=5000 phys_addr=900010 attrs=\n" +
      P + "dma_map_page: 0000:00:04.0 dir=FROM_DEVICE dma_addr=2ff000 size=8192 phys_addr=9ff000 attrs=\n" +
      P + "map: IOMMU: iova=0x0000000000301000 - 0x0000000000303000 paddr=0x0000000000b00000 size=8192\n" + // half covered
      P + "map: IOMMU: iova=0x0000000000100000 - 0x0000000000101000 paddr=0x0000000000c00000 size=4096\n", // not covered
  );
  assert.equal(r.events, [
    map(3, 32, 1, 0x200000n, 0x900000n, 0x2000n, { perm: "r", time: us(7000001) }),
    map(4, 32, 1, 0x2ff000n, 0x9ff000n, 0x2000n, { perm: "w", time: us(7000001) }),
  ]);
  assert.equal(
    r.summary,
    summary("ftrace", {
      lines: 6,
      used: 2,
      ignored: { superseded: 4 },
      events: { map: 2 },
      notes: [{ what: "iommu:map lines whose pages no dma:* mapping maps: mappings made without the DMA API (e.g. by VFIO), left out", count: 2 }],
    }),
  );
});

test("dma_alloc in the very first form (phys_addr=) maps to that physical address; dma_alloc_sgt page by page", () => {
  const r = ftrace(
    " kworker-1 [000] ..... 1.000000: dma_alloc: 0000:00:04.0 dma_addr=ffff0000 size=8192 phys_addr=3000000 flags=GFP_KERNEL attrs=\n" +
      " kworker-1 [000] ..... 1.000001: dma_alloc_sgt: 0000:00:04.0 dir=TO_DEVICE dma_addr=fffe0000 size=8192 phys_addrs={0x7000,0x9000} flags=GFP_KERNEL attrs=\n",
  );
  assert.equal(r.events, [
    map(1, 34, 1, 0xffff0000n, 0x3000000n, 0x2000n, { time: us(1000000) }),
    map(2, 34, 1, 0xfffe0000n, 0x7000n, 0x1000n, { perm: "r", time: us(1000001) }),
    map(2, 34, 1, 0xfffe1000n, 0x9000n, 0x1000n, { perm: "r", time: us(1000001) }),
  ]);
});

test("iommu:map and iommu:unmap are used when the trace has no dma:* mappings, and go to --map domain", () => {
  const r = ftrace("  a-1 [000] ..... 1.5: map: IOMMU: iova=0x0000000000002000 paddr=0x0000000000005000 size=4096\n", { map: { domain: "65535" } });
  assert.equal(r.events, [map(1, 24, 65535, 0x2000n, 0x5000n, 0x1000n, { time: us(1500000) })]);
});

test("--map errors: domain ids must be decimal 0 to 65535", () => {
  throwsInput(() => ftrace("", { map: { domain: "x" } }), "--map domain=x for the ftrace importer: expected a domain id (decimal, 0 to 65535)");
  throwsInput(() => ftrace("", { map: { "0000:01:00.0": "65536" } }), "--map 0000:01:00.0=65536 for the ftrace importer: expected a domain id (decimal, 0 to 65535)");
});

/** `line` (line 1 of t.trace) is an error `t.trace:1:column: message`. */
function fails(line: string, column: number, message: string): void {
  throwsInput(() => ftrace(line), `t.trace:1:${column}: ${message}`);
}

const P = "  dev-12 [001] ..... 7.000001: "; // 31 characters: bodies start at column 32 + the event name

test("errors: bodies of the events used", () => {
  fails(P + "map: IOMMU: iova=0x1000 size=4096", 37, "expected `IOMMU: iova=0x... [- 0x...] paddr=0x... size=N` (iommu:map)");
  fails(P + "map: IOMMU: iova=0x1000 paddr=0x2000 size=100", 37, "iova 0x1000, paddr 0x2000 and size 100 must be 4 KiB multiples");
  fails(P + "map: IOMMU: iova=0x1000 - 0x3000 paddr=0x2000 size=4096", 37, "the range end 0x3000 is not iova + size (0x2000)");
  fails(P + "unmap: IOMMU: iova=0x1000 size=4096", 39, "expected `IOMMU: iova=0x... [- 0x...] size=N unmapped_size=N` (iommu:unmap)");
  fails(P + "unmap: IOMMU: iova=0x1000 size=4096 unmapped_size=12288", 39, "unmapped_size 12288 is larger than size 4096 and not a power of two");
  fails(P + "io_page_fault: IOMMU:arm-smmu-v3 ff100000.vpu iova=0x0000000000001000 flags=0x0000", 47, 'device "ff100000.vpu" is not a PCI device name (SSSS:BB:DD.F); a TLP needs a requester ID');
  fails(P + "io_page_fault: IOMMU:x 0000:00:01.0 flags=0x0000", 47, "expected `IOMMU:DRIVER DEVICE iova=0x... flags=0x...` (iommu:io_page_fault)");
  // Past 2^64: the text format cannot carry it (checked by writing and reading each event back).
  fails(P + "map: IOMMU: iova=0xfffffffffffff000 paddr=0x0 size=8192", 32, "cannot be written as a trace event: the range is beyond 2^64");
  fails(P + "qi_submit: iotlb_inv dmar1: 0x100e2 0x0 0x0", 43, "expected `TYPE IOMMU: 0xQW0 0xQW1 0xQW2 0xQW3` (intel_iommu:qi_submit)");
});

test("errors: dma:* events", () => {
  const D = P + "dma_map_phys: "; // body at column 46
  fails(D + "0000:00:04.0 dir=NONE dma_addr=1000 size=4096 phys_addr=2000 attrs=", 46, "dma_map_phys: dir=NONE gives no access (expected TO_DEVICE, FROM_DEVICE or BIDIRECTIONAL)");
  fails(D + "0000:00:04.0 dir=TO_DEVICE dma_addr=1010 size=16 phys_addr=2020 attrs=", 46, "dma_map_phys: dma_addr 0x1010 and phys_addr 0x2020 differ in their offset within the page; not an IOMMU page mapping");
  fails(D + "0000:00:04.0 dir=TO_DEVICE dma_addr=1000 size=0 phys_addr=2000 attrs=", 46, "dma_map_phys: size=0 is not a size in bytes above 0");
  fails(D + "0000:00:04.0 dir=TO_DEVICE dma_addr=zz size=16 phys_addr=2000 attrs=", 46, "dma_map_phys: dma_addr=zz is not a 64-bit hex address");
  fails(D + "0000:00:04.0 dir=TO_DEVICE size=16 phys_addr=2000 attrs=", 46, "dma_map_phys without dma_addr=");
  const S = P + "dma_map_sg: "; // body at column 44
  fails(S + "0000:00:04.0 dir=TO_DEVICE nents=200/128 ents=200/128 [TRUNCATED] dma_addrs={0x1000} sizes={4096} phys_addrs={0x2000} attrs=", 44, "dma_map_sg: the kernel truncated the arrays at 128 entries ([TRUNCATED]); the mapping is incomplete");
  fails(S + "0000:00:04.0 dir=TO_DEVICE dma_addrs={0x1000} sizes={8192} phys_addrs={0x2000,0x5000,0x9000} attrs=", 44, "dma_map_sg: 3 entries merged into 1 DMA segments of 2 pages; the trace does not give each entry's length, so which page holds which entry is unknown");
  fails(S + "0000:00:04.0 dir=TO_DEVICE dma_addrs={0x1000,0x3000} sizes={4096} phys_addrs={0x2000,0x5000} attrs=", 44, "dma_map_sg: 2 dma_addrs but 1 sizes");
  fails(S + "0000:00:04.0 dir=TO_DEVICE dma_addrs=0x1000 sizes={4096} phys_addrs={0x2000} attrs=", 44, "dma_map_sg: dma_addrs=0x1000 is not an array {...}");
  fails(P + "dma_unmap_sg: 0000:00:04.0 dir=TO_DEVICE phys_addrs={0x2000} attrs=", 46, "dma_unmap_sg prints only physical addresses, and no earlier dma_map_sg of 0000:00:04.0 has these entries: its DMA addresses are unknown");
  fails(P + "dma_alloc_sgt: 0000:00:04.0 dir=TO_DEVICE dma_addr=fffe0000 size=12288 phys_addrs={0x7000} flags=GFP_KERNEL attrs=", 47, "dma_alloc_sgt: 1 physical addresses for 3 pages; the pairing is unknown");
});

test("iommu device and group events: attach with the device's or the default --map domain, repeats, detach, groups", () => {
  const t = iommuDevices;
  const r = run("ftrace", t, "dev.trace", { map: { domain: "2", "0000:03:00.0": "4" } });
  assert.equal(r.skipped, []);
  assert.equal(r.events, [
    // 0000:03:00.0 -> sid 0x300 (bus 3 << 8), domain 4 from --map 0000:03:00.0=4.
    attach(7, col(t, 7, "attach_device_to_domain:"), 0x300, 4, { time: us(50000000) }),
    // perf script form; 0000:00:1f.3 -> 0xfb (device 0x1f << 3 | function 3), no --map of its own: domain=2.
    attach(8, col(t, 8, "iommu:attach_device_to_domain:"), 0xfb, 2, { time: us(50000100) }),
    // line 9: 03:00.0 attached again without a detach: left out (repeating), with a note.
    detach(10, col(t, 10, "detach_device_from_domain:"), 0x300, { time: us(60000000) }),
    // detached on line 10, so this attach is made again.
    attach(11, col(t, 11, "attach_device_to_domain:"), 0x300, 4, { time: us(60000100) }),
    // line 12: a platform device, no requester ID: no event, a note.
  ]);
  assert.equal(
    r.summary,
    {
      ...summary("ftrace", {
        lines: 12,
        // used: the 6 group lines and the 4 attach/detach lines that made events (7, 8, 10, 11);
        // line 9 repeating, line 12 no DMA.
        used: 10,
        ignored: { repeat: 1, noDma: 1 },
        events: { attach: 3, detach: 1 }, // attaches on lines 7, 8, 11
        notes: [
          { what: "attaches of a device already attached (a domain switch; its domain comes from --map, so it stays), left out", count: 1 },
          { what: "attach/detach of devices without a PCI name (no requester ID), left out", count: 1 },
        ],
      }),
      // PCI devices in BDF order (00:1f.3 = 0xfb before 03:00.0 = 0x300), then the platform device;
      // 03:00.1 removed from group 12 (line 5) and added to 13 (line 6).
      groups: [
        { id: 2, devices: ["00:1f.3"] },
        { id: 12, devices: ["03:00.0"] },
        { id: 13, devices: ["03:00.1"] },
        { id: 5, devices: ["ff3c0000.vop"] },
      ],
    },
  );
  assert.equal(formatImportSummary(r.summary, "dev.trace").slice(2), [
    "note: 1 attaches of a device already attached (a domain switch; its domain comes from --map, so it stays), left out",
    "note: 1 attach/detach of devices without a PCI name (no requester ID), left out",
    "the kernel's IOMMU groups (iommu:add_device_to_group): 4 groups; compare with `iommu-emu groups SCENARIO`",
    "  group 2: 00:1f.3",
    "  group 12: 03:00.0",
    "  group 13: 03:00.1",
    "  group 5: ff3c0000.vop",
  ]);
});

test("iommu group events: a device added to a group moves out of its previous one; a group emptied is left out; segments named", () => {
  const r = ftrace(
    P + "add_device_to_group: IOMMU: groupID=1 device=0001:02:00.0\n" +
      P + "add_device_to_group: IOMMU: groupID=1 device=0000:02:00.0\n" +
      P + "add_device_to_group: IOMMU: groupID=3 device=0000:02:00.0\n" + // moved to group 3: group 1 keeps 0001:02:00.0
      P + "remove_device_from_group: IOMMU: groupID=1 device=0001:02:00.0\n" + // group 1 emptied
      P + "remove_device_from_group: IOMMU: groupID=9 device=0000:05:00.0\n", // added before the trace began: nothing to remove
  );
  assert.equal(r.events, []);
  assert.equal(r.summary.used, 5);
  assert.equal(r.summary.groups, [{ id: 3, devices: ["02:00.0"] }]);
  // No group lines: no groups in the summary (not an empty list).
  assert.is("groups" in ftrace(P + "map: IOMMU: iova=0x1000 paddr=0x2000 size=4096\n").summary, false);
  // Only removals: the groups list is there, empty.
  assert.equal(ftrace(P + "remove_device_from_group: IOMMU: groupID=9 device=0000:05:00.0\n").summary.groups, []);
});

test("errors: attach without a domain, outside segment 0, malformed device and group bodies", () => {
  // P is 31 characters: the body of attach_device_to_domain starts at 31 + 26 ("attach_device_to_domain: ") + 1 = 57.
  fails(
    P + "attach_device_to_domain: IOMMU: device=0000:03:00.0",
    57,
    "iommu:attach_device_to_domain does not say which domain 0000:03:00.0 was attached to; give it with --map 0000:03:00.0=N (this device) or --map domain=N (every device)",
  );
  // Another device's --map does not decide this one's.
  throwsInput(
    () => ftrace(P + "attach_device_to_domain: IOMMU: device=0000:03:00.1", { map: { "0000:03:00.0": "4" } }),
    "t.trace:1:57: iommu:attach_device_to_domain does not say which domain 0000:03:00.1 was attached to; give it with --map 0000:03:00.1=N (this device) or --map domain=N (every device)",
  );
  throwsInput(
    () => ftrace(P + "attach_device_to_domain: IOMMU: device=0001:03:00.0", { map: { domain: "1" } }),
    "t.trace:1:57: 0001:03:00.0 is in PCI segment 0001; attach and detach events name a device of the unit (segment 0000)",
  );
  fails(P + "attach_device_to_domain: IOMMU: dev=0000:03:00.0", 57, "expected `IOMMU: device=DEV` (iommu:attach_device_to_domain)");
  fails(P + "detach_device_from_domain: IOMMU: device=", 59, "expected `IOMMU: device=DEV` (iommu:detach_device_from_domain)");
  fails(P + "add_device_to_group: IOMMU: groupID=x device=0000:03:00.0", 53, "expected `IOMMU: groupID=N device=DEV` (iommu:add_device_to_group)");
  fails(P + "remove_device_from_group: IOMMU: groupID=1", 58, "expected `IOMMU: groupID=N device=DEV` (iommu:remove_device_from_group)");
  // A line naming the event without the tracepoint line shape is an error, not an ignored line.
  fails("attach_device_to_domain: IOMMU: device=0000:03:00.0", 1, "not a tracepoint line: expected COMM-PID [CPU] [FLAGS] SECONDS: EVENT: BODY (ftrace, trace-cmd) or COMM PID [CPU] SECONDS: SYSTEM:EVENT: BODY (perf script)");
  // skipBad: the attach without a domain is counted as bad, the map after it still made.
  const r = ftrace(P + "attach_device_to_domain: IOMMU: device=0000:03:00.0\n  dev-12 [001] ..... 7.000002: map: IOMMU: iova=0x1000 paddr=0x2000 size=4096\n", { skipBad: true });
  assert.equal(r.events.map((e) => e.op), ["map"]);
  assert.equal(r.skipped.map((s) => s.line), [1]);
});

test("errors: timestamps, line shapes, times going back", () => {
  fails("  dev-12 [001] ..... 7: map: IOMMU: iova=0x1000 paddr=0x2000 size=4096", 22, 'timestamp "7" is not in seconds (a counter or TSC trace clock?); record with a clock in seconds (local, global, mono, boot)');
  fails("  dev-12 [001] ..... 7.1234567891: map: IOMMU: iova=0x1000 paddr=0x2000 size=4096", 22, 'timestamp "7.1234567891" has more than 9 decimals');
  fails("  dev-12 [001 ..... 7.000001: map: IOMMU: iova=0x1000 paddr=0x2000 size=4096", 1, "not a tracepoint line: expected COMM-PID [CPU] [FLAGS] SECONDS: EVENT: BODY (ftrace, trace-cmd) or COMM PID [CPU] SECONDS: SYSTEM:EVENT: BODY (perf script)");
  throwsInput(
    () => ftrace(P + "map: IOMMU: iova=0x1000 paddr=0x2000 size=4096\n  dev-12 [001] ..... 6.999999: unmap: IOMMU: iova=0x1000 size=4096 unmapped_size=4096\n"),
    "t.trace:2:22: timestamp @6999999us is earlier than @7000001us on line 1; trace times must not decrease",
  );
});

test("ignored: other events, other subsystems' map events, headers, lost-event markers, plain text", () => {
  const r = ftrace(
    "# tracer: nop\n" +
      "cpus=4\n" +
      "CPU:0 [LOST 3 EVENTS]\n" +
      P + "map: foo=1\n" + // a `map` event of another subsystem: its body is not `IOMMU:`
      P + "xen:map: IOMMU: anything\n" + // another system's event named map
      P + "dma_sync_sg_for_device: 0000:00:04.0 dir=TO_DEVICE dma_addrs={0x1000} sizes={4096}\n" +
      P + "attach_device_to_domain: foo=1\n" + // an attach_device_to_domain whose body is not `IOMMU:`
      "plain text, not a tracepoint line\n" +
      "\n",
  );
  assert.equal(r.events, []);
  assert.equal(r.skipped, []);
  assert.equal(
    r.summary,
    summary("ftrace", {
      lines: 9,
      used: 0,
      ignored: { unrecognised: 1, noDma: 6, blank: 2 },
      notes: [{ what: "lost-events markers: the tracer dropped events, the trace is incomplete", count: 1 }],
    }),
  );
});

test("skipBad: bad lines are counted with their reasons, the rest kept", () => {
  const r = ftrace(
    P + "map: IOMMU: iova=0x1000 paddr=0x2000 size=4096\n" +
      P + "map: IOMMU: iova=0x1000 paddr=0x2000 size=10\n" +
      "  dev-12 [001] ..... 1.000000: unmap: IOMMU: iova=0x1000 size=4096 unmapped_size=4096\n" +
      P + "io_page_fault: IOMMU:x platform-dev iova=0x0000000000001000 flags=0x0000\n" +
      P + "unmap: IOMMU: iova=0x1000 size=4096 unmapped_size=4096\n",
    { skipBad: true },
  );
  assert.equal(r.events, [
    map(1, 32, 1, 0x1000n, 0x2000n, 0x1000n, { time: us(7000001) }),
    unmap(5, 32, 1, 0x1000n, 0x1000n, { time: us(7000001) }),
  ]);
  assert.equal(r.skipped, [
    { line: 2, reason: "iova 0x1000, paddr 0x2000 and size 10 must be 4 KiB multiples" },
    { line: 3, reason: "timestamp @1000000us is earlier than @7000001us on line 1; trace times must not decrease" },
    { line: 4, reason: 'device "platform-dev" is not a PCI device name (SSSS:BB:DD.F); a TLP needs a requester ID' },
  ]);
  assert.equal(r.summary, summary("ftrace", { lines: 5, used: 2, skipped: 3, events: { map: 1, unmap: 1 } }));
});

test.run();
