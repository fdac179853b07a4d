/**
 * The AER "TLP Header:" decoder, with every value computed by hand from the bit layout in
 * src/trace/importers/tlp-header.ts (shared/notes/ecosystem.md §1c):
 *   DW0 31:29 Fmt, 28:24 Type, 23 T9, 22:20 TC, 19 T8, 18 IDO, 16 TH, 15 TD, 14 EP, 13 RO,
 *       12 NS, 11:10 AT, 9:0 Length;  DW1 31:16 RID, 15:8 Tag, 7:4 Last BE, 3:0 First BE;
 *   3DW: DW2 Addr[31:2];  4DW: DW2 Addr[63:32], DW3 Addr[31:2];
 *   PASID prefix: 0x91 in bits 31:24, PMR bit 23, ER bit 22, PASID 19:0.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeTlpHeader, NoDmaTlp, TlpHeaderError, tlpName } from "../../../src/trace/importers/tlp-header.ts";

const base = { priv: false, exe: false, ns: false, ro: false, ido: false, translated: false, nw: false };

function fails(dws: number[], prefixes: number[], message: string, dword: number): void {
  try {
    decodeTlpHeader(dws, prefixes);
  } catch (e) {
    assert.instance(e, TlpHeaderError);
    assert.is((e as TlpHeaderError).message, message);
    assert.is((e as TlpHeaderError).dword, dword);
    return;
  }
  assert.unreachable(message);
}

test("3DW MWr32, 1 DW (the example in ecosystem.md §1c)", () => {
  // DW0 0x40000001: Fmt = 0x40 >> 5 = 010b (3DW with data), Type 00000b -> MWr32; Length 1.
  // DW1 0x0000000f: RID 0000 (00:00.0), Tag 0, Last BE 0, First BE 1111b -> bytes 0..3.
  // DW2 0x90028090: address 0x90028090 (bits 1:0 are 0).
  const d = decodeTlpHeader([0x40000001, 0x0000000f, 0x90028090, 0x00000000]);
  assert.equal(d.tlp, { ...base, op: "MWr", sid: 0, addr: 0x90028090n, len: 4 });
  assert.equal(d.fields, {
    fmt: 2, type: 0, name: "MWr32", tc: 0, tag: 0, th: false, td: false, ep: false, at: 0,
    lengthDw: 1, requesterId: 0, firstBe: 0xf, lastBe: 0, address: 0x90028090n,
  });
});

test("3DW MRd32: TH with PH in the address bits, AT=10 (translated), First BE 1100b", () => {
  // DW0 0x00010801: Fmt 000 Type 0 -> MRd32; bit 16 (0x00010000) TH=1; bits 11:10 = 0x800 >> 10
  // = 10b -> translated; Length 1.
  // DW1 0x0300000c: RID 0x0300 = bus 3, device 0, function 0; First BE 1100b -> bytes 2 and 3.
  // DW2 0xfee01003: bits 1:0 = 11b are PH (TH=1), address 0xfee01000; + first byte 2.
  const d = decodeTlpHeader([0x00010801, 0x0300000c, 0xfee01003, 0]);
  assert.equal(d.tlp, { ...base, op: "MRd", sid: 0x0300, addr: 0xfee01002n, len: 2, translated: true });
  assert.is(d.fields.th, true);
  assert.is(d.fields.address, 0xfee01000n);
});

test("4DW MRd64 with IDO, RO, No Snoop, 16 DW, First BE 1110b", () => {
  // DW0 0x20043010: Fmt 001 (4DW, no data) Type 0 -> MRd64; 0x00040000 = bit 18 IDO;
  // 0x3000 = bits 13 (RO) and 12 (NS); Length 0x010 = 16 DW.
  // DW1 0x020034fe: RID 0x0200 (02:00.0), Tag 0x34, Last BE 0xf, First BE 0xe (bytes 1..3).
  // DW2:DW3 = 0x00000001:0x23456780 -> 0x1_2345_6780; + 1 (first enabled byte) = 0x1_2345_6781.
  // len = 15 full DWs after the first (60) + the first DW's bytes 1..3 (3) = 63.
  const d = decodeTlpHeader([0x20043010, 0x020034fe, 0x00000001, 0x23456780]);
  assert.equal(d.tlp, { ...base, op: "MRd", sid: 0x0200, addr: 0x123456781n, len: 63, ns: true, ro: true, ido: true });
  assert.is(d.fields.name, "MRd64");
  assert.is(d.fields.tag, 0x34);
  assert.is(d.fields.lengthDw, 16);
});

test("4DW MRd64 with a PASID prefix: PMR and ER set, PASID 5; other E-E prefixes are left out", () => {
  // Prefix 0x91c00005: byte 0 = 0x91 (PASID); 0x00c00000 = bits 23 (PMR) and 22 (ER); PASID 0x00005.
  // 0x90000001 is a TPH prefix (E-E type 0000b): not used.
  const d = decodeTlpHeader([0x20043010, 0x020034fe, 0x00000001, 0x23456780], [0x90000001, 0x91c00005]);
  assert.equal(d.tlp, { ...base, op: "MRd", sid: 0x0200, addr: 0x123456781n, len: 63, ns: true, ro: true, ido: true, pasid: 5, priv: true, exe: true });
});

test("3DW MWr32 with a PASID prefix: PASID 0xfffff, neither PMR nor ER", () => {
  // Prefix 0x910fffff: PASID = 0xfffff (the largest), bits 23 and 22 clear.
  // DW0 0x40000002: MWr32, 2 DW. DW1 0x01230fff: RID 0x0123 = bus 1, device 4 (0x23 >> 3),
  // function 3; Tag 0x0f; Last BE 0xf, First BE 0xf: 8 bytes at 0x1000.
  const d = decodeTlpHeader([0x40000002, 0x01230fff, 0x00001000], [0x910fffff]);
  assert.equal(d.tlp, { ...base, op: "MWr", sid: 0x0123, addr: 0x1000n, len: 8, pasid: 0xfffff });
});

test("ATS translation request: 4DW MRd with AT=01, NW in bit 0 of the last address dword", () => {
  // DW0 0x20000402: Fmt 001 MRd64; 0x400 >> 10 = 01b -> translation request; Length 2 (one translation).
  // DW3 0xdead0001: Address[31:12] = 0xdead0, bit 0 = NW; the untranslated address is 0xdead0000.
  const d = decodeTlpHeader([0x20000402, 0x030001ff, 0x00000000, 0xdead0001], [0x91000007]);
  assert.equal(d.tlp, { ...base, op: "ATS", sid: 0x0300, addr: 0xdead0000n, len: 4, nw: true, pasid: 7 });
});

test("Length 0 means 1024 DW: a 4096-byte MWr32 at a page", () => {
  // DW0 0x40000000: MWr32, Length field 0 -> 1024 DW = 4096 bytes; DW1 BEs 0xff.
  const d = decodeTlpHeader([0x40000000, 0x000000ff, 0x00042000]);
  assert.is(d.fields.lengthDw, 1024);
  assert.equal(d.tlp, { ...base, op: "MWr", sid: 0, addr: 0x42000n, len: 4096 });
});

test("zero-length read (Length 1, First BE 0): the DW address, len 4", () => {
  const d = decodeTlpHeader([0x00000001, 0x00100000, 0x00002004]);
  assert.equal(d.tlp, { ...base, op: "MRd", sid: 0x0010, addr: 0x2004n, len: 4 });
});

test("MRdLk is read as an MRd; the 10-bit tag takes T9 (DW0 bit 23) and T8 (bit 19)", () => {
  // DW0 0x01880001: Fmt 000 Type 00001 -> MRdLk32; 0x00800000 = T9, 0x00080000 = T8; Length 1.
  // DW1 0x0000ff0f: Tag[7:0] = 0xff -> tag = 0xff | 1 << 8 | 1 << 9 = 0x3ff.
  const d = decodeTlpHeader([0x01880001, 0x0000ff0f, 0x00003000]);
  assert.is(d.fields.name, "MRdLk32");
  assert.is(d.fields.tag, 0x3ff);
  assert.equal(d.tlp, { ...base, op: "MRd", sid: 0, addr: 0x3000n, len: 4 });
});

test("a 2-DW request with First BE 0001b and Last BE 0011b spans bytes 0 to 5", () => {
  // First DW: byte 0 enabled (0001b); last DW: its bytes 0 and 1 (0011b), i.e. bytes 4 and 5.
  // The range runs from the first enabled byte (0) to the last (5): len 6.
  const d = decodeTlpHeader([0x40000002, 0x00000031, 0x00005000]);
  assert.equal(d.tlp, { ...base, op: "MWr", sid: 0, addr: 0x5000n, len: 6 });
});

test("names of the Fmt/Type combinations", () => {
  assert.is(tlpName(0, 0), "MRd32");
  assert.is(tlpName(1, 0), "MRd64");
  assert.is(tlpName(2, 0), "MWr32");
  assert.is(tlpName(3, 0), "MWr64");
  assert.is(tlpName(0, 0x0a), "Cpl");
  assert.is(tlpName(2, 0x0a), "CplD");
  assert.is(tlpName(0, 0x04), "CfgRd0");
  assert.is(tlpName(1, 0x10), "Msg");
  assert.is(tlpName(2, 0x0c), "FetchAdd AtomicOp");
});

test("valid TLPs that are no DMA: completions, configuration and I/O requests, messages (an ACS violation's header)", () => {
  const noDma = (dws: number[], name: string, message: string) => {
    try {
      decodeTlpHeader(dws);
    } catch (e) {
      assert.instance(e, NoDmaTlp);
      assert.is((e as NoDmaTlp).tlpName, name);
      assert.is((e as NoDmaTlp).message, message);
      return;
    }
    assert.unreachable(message);
  };
  noDma([0x4a000001, 0x01000004, 0x00000000, 0], "CplD", "the TLP is a CplD (Fmt 010b Type 01010b): no DMA");
  noDma([0x0a000000, 0x01000004, 0x00000000], "Cpl", "the TLP is a Cpl (Fmt 000b Type 01010b): no DMA");
  noDma([0x04000001, 0x0000000f, 0x01000000, 0], "CfgRd0", "the TLP is a CfgRd0 (Fmt 000b Type 00100b): no DMA");
  noDma([0x45000001, 0x0000000f, 0x01000000], "CfgWr1", "the TLP is a CfgWr1 (Fmt 010b Type 00101b): no DMA");
  noDma([0x42000001, 0x0000000f, 0x00000cf8], "IOWr", "the TLP is a IOWr (Fmt 010b Type 00010b): no DMA");
  // 0x34: Fmt 001b (4DW, no data), Type 10100b: a Message routed locally, as an ACS violation logs it
  noDma([0x34000000, 0x01000010, 0x00000000, 0x88458845], "Msg", "the TLP is a Msg (Fmt 001b Type 10100b): no DMA");
  noDma([0x70000001, 0x0100007f, 0, 0], "MsgD", "the TLP is a MsgD (Fmt 011b Type 10000b): no DMA");
});

test("errors: AtomicOps, reserved types, prefixes, AT, malformed byte enables, 4 KiB crossing, short logs", () => {
  fails([0x5d000001, 0x0000000f, 0x1000, 0], [], "Fmt 010b Type 11101b is a reserved TLP type: malformed", 0);
  fails([0x4c000001, 0x0000000f, 0x1000, 0], [], "the TLP is a FetchAdd AtomicOp (Fmt 010b Type 01100b), not a memory read or write; only MRd and MWr are trace TLPs", 0);
  fails([0x91000002, 0, 0, 0], [], "DW0 0x91000002 has Fmt 100b (a TLP prefix), not a TLP header", 0);
  fails([0x00000c01, 0x0000000f, 0x1000], [], "AT is 11b (reserved) in DW0 0x00000c01", 0);
  fails([0x40000401, 0x0000000f, 0x1000], [], "AT is 01b (translation request) on a MWr32; translation requests are reads", 0);
  fails([0x00000001, 0x000000ff, 0x1000], [], "Last DW BE is 0xf in a 1-DW request (must be 0): malformed", 1);
  fails([0x00000002, 0x000000f0, 0x1000], [], "First DW BE is 0 in a 2-DW request: malformed", 1);
  fails([0x00000002, 0x0000000f, 0x1000], [], "Last DW BE is 0 in a 2-DW request: malformed", 1);
  // 0xffc + 2 DW = 0x1004: past the page.
  fails([0x00000002, 0x000000ff, 0x00000ffc], [], "malformed TLP: the 2-DW request at DW address 0xffc crosses a 4 KiB boundary (PCIe Base 2.2.7 forbids it)", 2);
  fails([0x20000001, 0x0000000f, 0x00000001], [], "a 4DW header (MRd64) needs 4 dwords, got 3", 2);
  fails([0x00000001, 0x0000000f, 0x1000, 0], [0x81000002], "E-E prefix 0x81000002 is not an End-End TLP prefix (byte 0 must be 0x9X: Fmt 100b, E-E)", 4);
  fails([0x00000001, 0x0000000f, 0x1000, 0], [0x91000002, 0x91000003], "a second PASID prefix 0x91000003", 5);
});

test.run();
