/**
 * Decodes a non-Flit PCIe TLP header, as the AER "TLP Header:" log prints it (4 dwords, big-endian
 * bit numbering within each dword), plus its End-End TLP prefixes, into a trace TLP.
 *
 *   DW0  31:29 Fmt   28:24 Type   23 T9   22:20 TC   19 T8   18 Attr[2] (IDO)   17 R   16 TH
 *        15 TD   14 EP   13 Attr[1] (RO)   12 Attr[0] (No Snoop)   11:10 AT   9:0 Length (DW, 0 = 1024)
 *   DW1  31:16 Requester ID (bus 15:8, device 7:3, function 2:0)   15:8 Tag   7:4 Last DW BE   3:0 First DW BE
 *   DW2  3DW: Address[31:2] (1:0 = PH when TH=1)          4DW: Address[63:32]
 *   DW3                                                   4DW: Address[31:2] (1:0 = PH when TH=1)
 *
 *   Fmt 000 3DW no data, 001 4DW no data, 010 3DW with data, 011 4DW with data, 100 TLP prefix.
 *   Type 00000 with Fmt 00x is MRd, with 01x MWr; 00001 with 00x is MRdLk (decoded as MRd).
 *
 *   PASID TLP prefix (End-End, PCIe §6.20.2.1): byte 0 = 0x91 (Fmt 100b, E-E, type 0001b),
 *   bit 23 Privileged Mode Requested, bit 22 Execute Requested, bits 19:0 PASID.
 *
 * Sources: shared/notes/ecosystem.md §1c (PCIe Base 6.3 transaction layer, cocotbext-pcie tlp.py).
 *
 * Mapping to the trace TLP:
 * - address and len: the byte range the byte enables select: the address is the DW address plus
 *   the first enabled byte of First DW BE; len runs to the last enabled byte of Last DW BE (of
 *   First DW BE for a 1-DW request). A zero-length request (Length 1, First DW BE 0) is the DW
 *   address with len 4.
 * - AT 00 untranslated, 10 `at=translated`, 01 an ATS translation request (`ATS`: the address is
 *   Address[63:12], NW is bit 0 of the last address dword; its attributes and length are not
 *   carried by trace ATS lines), 11 reserved (an error).
 * - No-Snoop, Relaxed Ordering and ID-based Ordering from Attr[0], Attr[1], Attr[2].
 * - A PASID prefix gives `pasid=`, with `priv` (PMR) and `exe` (ER). Other End-End prefixes (TPH,
 *   IDE, vendor) are left out.
 * - Valid TLPs that are no DMA access (completions, configuration and I/O requests, messages: the
 *   AER log of an ACS violation holds a Message TLP) throw a NoDmaTlp, which the kernel importer
 *   counts as a line without DMA.
 * - AtomicOps (memory accesses the trace format cannot express), reserved Fmt/Type combinations and
 *   malformed requests (Last DW BE not 0 in a 1-DW request, a zero BE in a longer one, a request
 *   crossing a 4 KiB boundary, PCIe Base 2.2.7) are errors.
 */
import type { TraceTlp } from "../text.ts";

/** Why a header cannot be used; `dword` is the index of the dword at fault (prefixes follow the header). */
export class TlpHeaderError extends Error {
  constructor(
    message: string,
    readonly dword: number,
  ) {
    super(message);
    this.name = "TlpHeaderError";
  }
}

/** A valid TLP that is no DMA access (completion, configuration or I/O request, message). */
export class NoDmaTlp extends TlpHeaderError {
  constructor(readonly tlpName: string, fmt: number, type: number) {
    super(`the TLP is a ${tlpName} (Fmt ${bin(fmt, 3)}b Type ${bin(type, 5)}b): no DMA`, 0);
    this.name = "NoDmaTlp";
  }
}

/** Types of TLPs that are no DMA access: I/O, configuration, completions, messages, TCfg. */
function carriesNoDma(type: number): boolean {
  return type === 0x02 || type === 0x04 || type === 0x05 || type === 0x0a || type === 0x0b || type === 0x1b || (type >= 0x10 && type <= 0x17);
}

/** The header's fields, as decoded (for messages and tests). */
export interface TlpHeaderFields {
  fmt: number;
  type: number;
  /** The TLP's name: MRd32, MWr64, CplD, ... */
  name: string;
  tc: number;
  tag: number;
  th: boolean;
  td: boolean;
  ep: boolean;
  at: number;
  /** Length in DW (1 to 1024). */
  lengthDw: number;
  requesterId: number;
  firstBe: number;
  lastBe: number;
  /** The address field (bits 1:0 cleared). */
  address: bigint;
}

export interface DecodedTlp {
  fields: TlpHeaderFields;
  tlp: Omit<TraceTlp, "line">;
}

/** The name of a Fmt/Type combination, as PCIe and pcileech write them. */
export function tlpName(fmt: number, type: number): string {
  const dw = fmt & 1 ? "64" : "32";
  const data = (fmt & 2) !== 0;
  if (fmt === 4) return "TLP prefix";
  switch (type) {
    case 0x00:
      return (data ? "MWr" : "MRd") + dw;
    case 0x01:
      return data ? `reserved (Fmt ${bin(fmt, 3)}b Type 00001b)` : "MRdLk" + dw;
    case 0x02:
      return data ? "IOWr" : "IORd";
    case 0x04:
      return data ? "CfgWr0" : "CfgRd0";
    case 0x05:
      return data ? "CfgWr1" : "CfgRd1";
    case 0x0a:
      return data ? "CplD" : "Cpl";
    case 0x0b:
      return data ? "CplDLk" : "CplLk";
    case 0x0c:
      return "FetchAdd AtomicOp";
    case 0x0d:
      return "Swap AtomicOp";
    case 0x0e:
      return "CAS AtomicOp";
    case 0x1b:
      return data ? "TCfgWr" : "TCfgRd";
    default:
      if (type >= 0x10 && type <= 0x17) return data ? "MsgD" : "Msg";
      return `reserved (Fmt ${bin(fmt, 3)}b Type ${bin(type, 5)}b)`;
  }
}

function bin(n: number, width: number): string {
  return n.toString(2).padStart(width, "0");
}

function hex32(n: number): string {
  return "0x" + (n >>> 0).toString(16).padStart(8, "0");
}

/**
 * Decodes `dws` (the header log: at least 3 dwords, 4 for a 4DW header; extra dwords are ignored)
 * and `prefixes` (the End-End TLP prefix log). `segment` is the PCI segment of the requester (the
 * header has none). Throws a TlpHeaderError.
 */
export function decodeTlpHeader(dws: readonly number[], prefixes: readonly number[] = [], segment = 0): DecodedTlp {
  const dw0 = dws[0];
  if (dw0 === undefined) throw new TlpHeaderError("no header dwords", 0);
  const fmt = (dw0 >>> 29) & 7;
  const type = (dw0 >>> 24) & 0x1f;
  const name = tlpName(fmt, type);
  if (fmt > 3) {
    throw new TlpHeaderError(`DW0 ${hex32(dw0)} has Fmt ${bin(fmt, 3)}b (${fmt === 4 ? "a TLP prefix" : "reserved"}), not a TLP header`, 0);
  }
  const memory = type === 0 || (type === 1 && fmt < 2);
  if (!memory && carriesNoDma(type)) throw new NoDmaTlp(name, fmt, type);
  if (!memory && name.startsWith("reserved")) throw new TlpHeaderError(`Fmt ${bin(fmt, 3)}b Type ${bin(type, 5)}b is a reserved TLP type: malformed`, 0);
  if (!memory) {
    throw new TlpHeaderError(`the TLP is a ${name} (Fmt ${bin(fmt, 3)}b Type ${bin(type, 5)}b), not a memory read or write; only MRd and MWr are trace TLPs`, 0);
  }
  const fourDw = (fmt & 1) === 1;
  const need = fourDw ? 4 : 3;
  if (dws.length < need) throw new TlpHeaderError(`a ${fourDw ? 4 : 3}DW header (${name}) needs ${need} dwords, got ${dws.length}`, dws.length - 1);
  const write = (fmt & 2) !== 0;
  const dw1 = dws[1]!;
  const dw2 = dws[2]!;
  const lastAddrDw = fourDw ? dws[3]! : dw2;
  const fields: TlpHeaderFields = {
    fmt,
    type,
    name,
    tc: (dw0 >>> 20) & 7,
    tag: ((dw1 >>> 8) & 0xff) | (((dw0 >>> 19) & 1) << 8) | (((dw0 >>> 23) & 1) << 9),
    th: ((dw0 >>> 16) & 1) === 1,
    td: ((dw0 >>> 15) & 1) === 1,
    ep: ((dw0 >>> 14) & 1) === 1,
    at: (dw0 >>> 10) & 3,
    lengthDw: dw0 & 0x3ff || 1024,
    requesterId: dw1 >>> 16,
    firstBe: dw1 & 0xf,
    lastBe: (dw1 >>> 4) & 0xf,
    address: fourDw ? (BigInt(dw2 >>> 0) << 32n) | BigInt((lastAddrDw & ~3) >>> 0) : BigInt((dw2 & ~3) >>> 0),
  };
  const ido = ((dw0 >>> 18) & 1) === 1;
  const ro = ((dw0 >>> 13) & 1) === 1;
  const ns = ((dw0 >>> 12) & 1) === 1;

  // End-End TLP prefixes: the PASID prefix only.
  let pasid: number | undefined;
  let priv = false;
  let exe = false;
  prefixes.forEach((p, i) => {
    const b0 = p >>> 24;
    if ((b0 & 0xf0) !== 0x90) {
      throw new TlpHeaderError(`E-E prefix ${hex32(p)} is not an End-End TLP prefix (byte 0 must be 0x9X: Fmt 100b, E-E)`, dws.length + i);
    }
    if (b0 !== 0x91) return;
    if (pasid !== undefined) throw new TlpHeaderError(`a second PASID prefix ${hex32(p)}`, dws.length + i);
    pasid = p & 0xfffff;
    priv = ((p >>> 23) & 1) === 1;
    exe = ((p >>> 22) & 1) === 1;
  });
  const sid = segment * 0x10000 + fields.requesterId;
  const pasidPart = pasid === undefined ? { priv: false, exe: false } : { pasid, priv, exe };
  const base = { sid, ...pasidPart, ns: false, ro: false, ido: false, translated: false, nw: false, len: 4 };

  if (fields.at === 3) throw new TlpHeaderError(`AT is 11b (reserved) in DW0 ${hex32(dw0)}`, 0);
  if (fields.at === 1) {
    if (write) throw new TlpHeaderError(`AT is 01b (translation request) on a ${name}; translation requests are reads`, 0);
    return { fields, tlp: { ...base, op: "ATS", addr: fields.address & ~0xfffn, nw: (lastAddrDw & 1) === 1 } };
  }

  const { lengthDw, firstBe, lastBe } = fields;
  let offset: number;
  let len: number;
  if (lengthDw === 1) {
    if (lastBe !== 0) throw new TlpHeaderError(`Last DW BE is 0x${lastBe.toString(16)} in a 1-DW request (must be 0): malformed`, 1);
    if (firstBe === 0) {
      offset = 0;
      len = 4;
    } else {
      offset = ctz4(firstBe);
      len = msb4(firstBe) + 1 - offset;
    }
  } else {
    if (firstBe === 0 || lastBe === 0) {
      throw new TlpHeaderError(`${firstBe === 0 ? "First" : "Last"} DW BE is 0 in a ${lengthDw}-DW request: malformed`, 1);
    }
    offset = ctz4(firstBe);
    len = (lengthDw - 1) * 4 + msb4(lastBe) + 1 - offset;
  }
  if ((fields.address & 0xfffn) + BigInt(lengthDw * 4) > 0x1000n) {
    // PCIe Base 2.2.7: a request's Address and Length must not cross a 4 KiB boundary.
    throw new TlpHeaderError(`malformed TLP: the ${lengthDw}-DW request at DW address 0x${fields.address.toString(16)} crosses a 4 KiB boundary (PCIe Base 2.2.7 forbids it)`, fourDw ? 3 : 2);
  }
  return {
    fields,
    tlp: { ...base, op: write ? "MWr" : "MRd", addr: fields.address + BigInt(offset), len, ns, ro, ido, translated: fields.at === 2 },
  };
}

/** Index of the lowest set bit of a nonzero 4-bit value. */
function ctz4(be: number): number {
  return 31 - Math.clz32(be & -be);
}

/** Index of the highest set bit of a nonzero 4-bit value. */
function msb4(be: number): number {
  return 31 - Math.clz32(be);
}
