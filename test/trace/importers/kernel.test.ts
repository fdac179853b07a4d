/**
 * `kernel` importer: AER TLP headers in the 0x-prefixed (6.15+) and %08x forms with E-E prefixes,
 * Intel DMAR fault lines of every kernel generation, arm-smmu-v3 raw event records with and
 * without the decoded lines; errors with line and column; skipBad.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import kernelAcs from "../../fixtures/importers/kernel-acs.ts";
import kernelOld from "../../fixtures/importers/kernel-old.ts";
import kernelRecent from "../../fixtures/importers/kernel-recent.ts";
import { run, summary, throwsInput, tlp, us } from "./util.ts";

const vtd = (code: number) => ({ arch: "vtd" as const, code });
const smmu = (code: number) => ({ arch: "smmuv3" as const, code });

const kernel = (text: string, opts: { skipBad?: boolean } = {}) => run("kernel", text, "dmesg", opts);

test("recent kernel: AER (AER: prefix, 0x dwords, E-E prefixes), DMAR NO_PASID/PASID, arm-smmu-v3 records", () => {
  const r = run("kernel", kernelRecent, "dmesg");
  assert.equal(r.skipped, []);
  assert.equal(r.events, [
    // 0x60000010: Fmt 011 -> MWr64, 16 DW; 0x020012ff: RID 02:00.0, BEs 0xf/0xf; address
    // 0x00000001_23456780 -> 64 bytes at 0x123456780. Segment 0000 from "nvme 0000:02:00.0:".
    tlp(5, { op: "MWr", sid: 0x0200, addr: 0x123456780n, len: 64, time: us(101234573) }),
    // 0x20043010: MRd64, IDO (bit 18), RO (13), NS (12), 16 DW; First BE 0xe -> from byte 1, 63
    // bytes; prefix 0x91c00005: PASID 5 with PMR (bit 23) and ER (bit 22).
    tlp(6, { op: "MRd", sid: 0x0200, addr: 0x123456781n, len: 63, ns: true, ro: true, ido: true, pasid: 5, priv: true, exe: true, time: us(102000000) }),
    // 0x00010801: MRd32 with TH (bit 16) and AT=10 (translated); PH 11b in the address bits; First BE 1100b.
    tlp(7, { op: "MRd", sid: 0x0300, addr: 0xfee01002n, len: 2, translated: true, time: us(102500000) }),
    // 0x20000402: MRd64 with AT=01: an ATS translation request of 0xdead0000, NW (bit 0 of 0xdead0001);
    // prefixes: TPH 0x90000001 (left out), PASID 0x91000007.
    tlp(8, { op: "ATS", sid: 0x0300, addr: 0xdead0000n, nw: true, pasid: 7, time: us(103000000) }),
    // the fault reasons become the expected faults: 0x06 (LGN.3), 0x71 (SFS.2)
    tlp(10, { op: "MRd", sid: 0x0010, addr: 0xfffff000n, expect: vtd(0x06), time: us(110000001) }),
    tlp(11, { op: "MWr", sid: 0x3b00, addr: 0x7f00000n, pasid: 2, expect: vtd(0x71), time: us(110000002) }),
    // line 12 is an interrupt-remapping fault: ignored.
    // Record at line 13: dw0 0x0000010000000010 -> F_TRANSLATION, StreamID 0x100, SSV 0;
    // dw1 0x0000020800000000 -> RnW (bit 35) = read, CLASS 2; dw2 = InputAddr. Time of its last dword.
    tlp(13, { op: "MRd", sid: 0x100, addr: 0xdeadb000n, expect: smmu(0x10), time: us(120000002) }),
    // Record at line 20 (an nvme line in between): dw0 0x0000010000005813 -> F_PERMISSION, SSV
    // (bit 11), SubstreamID 5 (bits 31:12 = 0x5000 >> 12); dw1 0x0000020200000000 -> PnU (bit 33),
    // RnW 0 = write.
    tlp(20, { op: "MWr", sid: 0x100, addr: 0x7fff00001000n, pasid: 5, priv: true, expect: smmu(0x13), time: us(121000002) }),
    // Record at line 28: C_BAD_STE (0x04) has no input address: ignored, and so is its decoded line.
  ]);
  assert.equal(
    r.summary,
    summary("kernel", {
      lines: 33,
      // TLP headers 5-8, DMAR faults 10-11, the records' header and dword lines (13-17, 20-22, 24-25)
      used: 16,
      // the AER summary lines 1-4, DRHD (9), INTR-REMAP (12), the C_BAD_STE record (28-32)
      // no DMA; the decoded lines 18-19, 26-27, 33 repeat their records; the nvme line (23)
      ignored: { noDma: 11, repeat: 5, unrecognised: 1 },
      events: { MRd: 4, MWr: 3, ATS: 1 },
      expected: 4,
    }),
  );
});

test("older kernels: AER %08x (with GHES and journalctl lines), DMAR 3.x/4.x/5.x forms, a raw-only SMMU record", () => {
  const r = run("kernel", kernelOld, "kern.log");
  assert.equal(r.skipped, []);
  assert.equal(r.events, [
    // 40000001 0300000f 90028090: MWr32, RID 03:00.0, 4 bytes at 0x90028090.
    tlp(5, { op: "MWr", sid: 0x0300, addr: 0x90028090n, time: us(55123463) }),
    // {1}[Hardware Error] (CPER): 00000001 -> MRd32.
    tlp(6, { op: "MRd", sid: 0x0300, addr: 0xfed40000n, time: us(56000000) }),
    // journalctl without a printk time: no @TIME; segment 0002 from the reporting port's name;
    // 60000001: MWr64, address 0x00000002_00001000.
    tlp(7, { op: "MWr", sid: 0x20400, addr: 0x200001000n }),
    // 3.x: "DMAR:[DMA Read] ... fault addr 7ff00000 " with the reason on the next line (hex 06).
    tlp(9, { op: "MRd", sid: 0x0010, addr: 0x7ff00000n, expect: vtd(0x06), time: us(60000001) }),
    tlp(11, { op: "MWr", sid: 0x00fa, addr: 0xfffff000n, expect: vtd(0x05), time: us(61000000) }),
    // 5.x: PASID ffffffff = none; PASID 1 (hex, no 0x) -> pasid 1; reasons in hex without 0x.
    tlp(12, { op: "MRd", sid: 0x0010, addr: 0xfffff000n, expect: vtd(0x06), time: us(62000000) }),
    tlp(13, { op: "MRd", sid: 0x0010, addr: 0x7f000000n, pasid: 1, expect: vtd(0x89), time: us(63000000) }),
    // 5.10-5.13: [0x00:0x1e.3] -> 00:1e.3 = 0x00f3.
    tlp(14, { op: "MRd", sid: 0x00f3, addr: 0xffffa000n, expect: vtd(0x06), time: us(64000000) }),
    // StreamID 8 (00:01.0), RnW read, InputAddr 0x4000, F_TRANSLATION.
    tlp(15, { op: "MRd", sid: 0x8, addr: 0x4000n, expect: smmu(0x10), time: us(70000004) }),
  ]);
  // line 10, the 3.x reason line, is used with the fault before it; no DMA: the AER summary lines
  // (1-4) and "dmar: DRHD: handling fault status" (8)
  assert.equal(r.summary, summary("kernel", { lines: 19, used: 14, ignored: { noDma: 5 }, events: { MRd: 6, MWr: 3 }, expected: 6 }));
});

test("AER logs of TLPs that are no DMA (an ACS violation's Message, a completion) are lines without DMA; DMAR fault reasons", () => {
  const r = run("kernel", kernelAcs, "dmesg");
  assert.equal(r.skipped, []);
  assert.equal(r.events, [
    // 0x40000001 0x0100000f 0xfed00040: MWr32 by 01:00.0, 4 bytes
    tlp(10, { op: "MWr", sid: 0x0100, addr: 0xfed00040n, time: us(201500000) }),
    tlp(12, { op: "MRd", sid: 0x0010, addr: 0x7ff00000n, expect: vtd(0x06), time: us(210000001) }),
    tlp(13, { op: "MWr", sid: 0x0010, addr: 0x7ff01000n, expect: vtd(0x05), time: us(210000002) }),
    tlp(14, { op: "MRd", sid: 0x0018, addr: 0x40000000n, pasid: 3, expect: vtd(0x59), time: us(210000003) }),
    tlp(15, { op: "MWr", sid: 0x0018, addr: 0x10000n, expect: vtd(0x85), time: us(210000004) }),
  ]);
  assert.equal(
    r.summary,
    summary("kernel", {
      lines: 17,
      used: 5,
      // DMAR boot lines (1-3), the ACS violation's AER lines (4-7) and its Message header (8), the
      // completion header (9), DRHD (11), INTR-REMAP (16); the e1000e line (17) is not a line of this format
      ignored: { noDma: 11, unrecognised: 1 },
      events: { MRd: 2, MWr: 3 },
      expected: 4,
    }),
  );
});

test("arm-smmu-v3 records that become TLPs of other kinds: F_TRANSL_FORBIDDEN (translated), F_BAD_ATS_TREQ (ATS), F_UUT", () => {
  const rec = (id: string, dw0: string, dw1: string, dw2: string) =>
    `arm-smmu-v3 smmu0: event ${id} received:\narm-smmu-v3 smmu0: \t0x${dw0}\narm-smmu-v3 smmu0: \t0x${dw1}\narm-smmu-v3 smmu0: \t0x${dw2}\narm-smmu-v3 smmu0: \t0x0000000000000000\n`;
  const r = kernel(
    rec("0x07", "0000002000000007", "0000000000000000", "0000000012345678") + // write (RnW 0)
      rec("0x05", "0000002000003805", "0000000800000000", "0000000012345678") + // SSV, SSID 3
      rec("0x01", "0000002000000001", "0000000c00000000", "0000000000001000"), // read, InD (no SSV: no exe)
  );
  assert.equal(r.events, [
    tlp(1, { op: "MWr", sid: 0x20, addr: 0x12345678n, translated: true, expect: smmu(0x07) }),
    tlp(6, { op: "ATS", sid: 0x20, addr: 0x12345000n, pasid: 3, expect: smmu(0x05) }),
    tlp(11, { op: "MRd", sid: 0x20, addr: 0x1000n, expect: smmu(0x01) }),
  ]);
});

function fails(text: string, where: string, message: string): void {
  throwsInput(() => kernel(text), `dmesg:${where}: ${message}`);
}

test("errors: AER headers that are not memory requests, malformed, Flit, bad dwords", () => {
  const L = "[    1.000000] pcieport 0000:00:1c.0: AER:   TLP Header: ";
  // L is 57 characters ("TLP Header" at 46): the first dword is at column 58, the next at 69, 80, 91.
  fails(L + "0x4c000001 0x0100000f 0x00001000 0x00000000", "1:58", "the TLP is a FetchAdd AtomicOp (Fmt 010b Type 01100b), not a memory read or write; only MRd and MWr are trace TLPs");
  fails(L + "0x00000002 0x000000ff 0x00000ffc 0x00000000", "1:80", "malformed TLP: the 2-DW request at DW address 0xffc crosses a 4 KiB boundary (PCIe Base 2.2.7 forbids it)");
  fails(L + "0x00000001 0x000000ff 0x00001000 0x00000000", "1:69", "Last DW BE is 0xf in a 1-DW request (must be 0): malformed");
  fails(L + "0x40000001 0x0000000f 0x90028090 0x00000000 E-E Prefixes: 0x81000001", "1:116", "E-E prefix 0x81000001 is not an End-End TLP prefix (byte 0 must be 0x9X: Fmt 100b, E-E)");
  fails(L + "0x40000001 0x0000000f 0x9002809g 0x00000000", "1:80", 'expected a TLP header dword in hex (0x optional), got "0x9002809g"');
  fails(L + "0x20000001 0x0000000f 0x00000001", "1:80", "a 4DW header (MRd64) needs 4 dwords, got 3");
  fails(L, "1:46", 'no dwords after "TLP Header:"');
  fails("[    1.000000] pcieport 0000:00:1c.0: AER:   TLP Header (Flit): 0x00000001 0x00000000 0x00000000 0x00000000", "1:46", "Flit-mode TLP header logs (`TLP Header (Flit):`) are not decoded: their OHC layout differs from non-Flit headers");
});

test("errors: DMAR lines, arm-smmu-v3 records cut short or inconsistent, orphan decoded lines", () => {
  fails("[    1.000000] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault address 0x1000", "1:16", "unrecognised DMAR fault line: expected `[DMA Read|Write ...] Request device [BB:DD.F] ... fault addr ADDR`");
  fails("DMAR: [DMA Read PASID 0x100000] Request device [00:02.0] fault addr 0x1000 [fault reason 0x59] x", "1:1", "PASID 0x100000 is out of range (max 0xfffff)");
  fails("DMAR: [DMA Read NO_PASID] Request device [00:20.0] fault addr 0x1000", "1:1", 'device 0x20 in "Request device" is out of range (max 0x1f)');
  fails("DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x100] x", "1:1", "fault reason 0x100 is out of range (max 0xff)");
  const S = "arm-smmu-v3 smmu0: ";
  fails(`${S}event 0x10 received:\n${S}\t0x0000000800000010\n${S}unexpected message\n`, "1:20", "arm-smmu-v3 event record cut short: 1 of its 4 dwords before line 3");
  fails(`${S}event 0x10 received:\n${S}\t0x0000000800000010\n`, "1:20", "arm-smmu-v3 event record cut short: 1 of its 4 dwords before the end of the log");
  fails(
    `${S}event 0x11 received:\n${S}\t0x0000000800000010\n${S}\t0x0\n${S}\t0x0000000000000000\n${S}\t0x0000000000000000\n${S}\t0x0000000000000000\n`,
    "1:20",
    "arm-smmu-v3 event record cut short: 1 of its 4 dwords before line 3",
  );
  fails(`${S}event 0x11 received:\n${S}\t0x0000000800000010\n${S}\t0x0000000000000000\n${S}\t0x0000000000000000\n${S}\t0x0000000000000000\n`, "1:20", "arm-smmu-v3 event record: the header says event 0x11, dword 0 says 0x10");
  fails(`${S}event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0x1000 ipa: 0x0\n`, "1:20", "arm-smmu-v3 decoded event line without its raw record before it (`event 0x.. received:` and 4 dwords); the importer reads the raw record (the decoded ssid cannot tell whether SSV was set)");
});

test("errors: printk times going back", () => {
  throwsInput(
    () => kernel("[    2.000000] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000\n[    1.500000] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x2000\n"),
    "dmesg:2:6: timestamp @1500000us is earlier than @2000000us on line 1; trace times must not decrease",
  );
});

test("ignored: INTR-REMAP faults, DRHD status, reason-only lines, other SMMU messages, unrelated lines", () => {
  const r = kernel(
    "[    1.0] DMAR: [INTR-REMAP] Request device [f0:1f.0] fault index 0x1f [fault reason 0x22] Present field in the IRTE entry is clear\n" +
      "[    1.1] DMAR: DRHD: handling fault status reg 3\n" +
      "[    1.2] DMAR:[fault reason 06] PTE Read access is not set\n" +
      "[    1.3] arm-smmu-v3 arm-smmu-v3.0.auto: option mask 0x2\n" +
      "[    1.4] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000001000\n" +
      "[    1.5] pcieport 0000:00:1c.0: AER: Corrected error message received from 0000:00:1c.0\n" +
      "[    1.6] usb 1-1: new high-speed USB device number 2 using xhci_hcd\n",
  );
  assert.equal(r.events, []);
  assert.equal(r.skipped, []);
  // every line but the usb one is an IOMMU or AER line without DMA
  assert.equal(r.summary, summary("kernel", { lines: 7, used: 0, ignored: { noDma: 6, unrecognised: 1 } }));
});

test("skipBad: bad lines and cut records counted with their reasons", () => {
  const S = "arm-smmu-v3 smmu0: ";
  const r = kernel(
    "pcieport 0000:00:1c.0:   TLP Header: 4c000001 0100000f 00001000 00000000\n" +
      "pcieport 0000:00:1c.0:   TLP Header: 40000001 0300000f 90028090 00000000\n" +
      `${S}event 0x10 received:\n${S}\t0x0000000800000010\n` +
      "DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0x3000 [fault reason 0x05] PTE Write access is not set\n",
    { skipBad: true },
  );
  assert.equal(r.events, [tlp(2, { op: "MWr", sid: 0x0300, addr: 0x90028090n }), tlp(5, { op: "MWr", sid: 0x10, addr: 0x3000n, expect: vtd(0x05) })]);
  assert.equal(r.skipped, [
    { line: 1, reason: "the TLP is a FetchAdd AtomicOp (Fmt 010b Type 01100b), not a memory read or write; only MRd and MWr are trace TLPs" },
    { line: 3, reason: "arm-smmu-v3 event record cut short: 1 of its 4 dwords before the end of the log" },
  ]);
  // the cut record's two lines are bad
  assert.equal(r.summary, summary("kernel", { lines: 5, used: 2, skipped: 3, events: { MWr: 2 }, expected: 1 }));
});

test("the kernel importer takes no --map options", () => {
  throwsInput(() => run("kernel", "", "dmesg", { map: { domain: "1" } }), 'unknown --map key "domain" for the kernel importer; it takes no --map options');
});

test.run();
