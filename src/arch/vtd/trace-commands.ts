/**
 * VT-d's driver command in the trace formats: `inv`, one invalidation as a driver submits it
 * (spec 6.5.2 descriptors, 11.4.8 CCMD, 11.4.8.1 IOTLB_REG), carried out by the VT-d driver
 * (driver.ts: queued as written, or through the registers with `reg`).
 *
 *   [@TIME] inv qi QW0 QW1 [QW2 QW3]
 *   [@TIME] inv [reg] cc global | domain did=N | device sid=BDF [fm=N]
 *   [@TIME] inv [reg] iotlb global | dsi did=N | psi did=N addr=A am=N [ih]
 *   [@TIME] inv devtlb BDF addr=A [pages=N]
 *   [@TIME] inv piotlb did=N pasid=N [psi addr=A am=N [ih]]
 *   [@TIME] inv pc global | dsi did=N | pasid did=N pasid=N
 *   [@TIME] inv pdevtlb BDF pasid=N addr=A [pages=N] [all]
 *   [@TIME] inv iec
 *   [@TIME] inv wait [addr=A [data=N]]
 *
 * Invalidation descriptors carry a 16-bit source ID, so their BDFs have no segment; the qwords of
 * `inv qi` are hex (the `0x` is optional); did, am, fm, pages and data are decimal or 0x-hex.
 *
 * In the binary format (src/trace/binary.ts) an `inv` is one driver-event record, OP 16..24:
 *
 * | OP | event (text form)            | A      | B       | C     | D                                                     | EXT: Q0 Q1 Q2 |
 * |----|------------------------------|--------|---------|-------|-------------------------------------------------------|---------------|
 * | 16 | inv qi QW0 QW1 [QW2 QW3]     | QW0    | 0       | 0     | number of qwords (2 or 4)                             | 1: QW1 QW2 QW3 (0 when 2) |
 * | 17 | inv [reg] cc ...             | 0      | did/sid | 0     | gran 1:0 (0 global, 1 domain, 2 device); reg 8; fm 17:16 | 0          |
 * | 18 | inv [reg] iotlb ...          | addr   | did     | 0     | gran 1:0 (0 global, 1 dsi, 2 psi); reg 8; ih 9; am 21:16 | 0          |
 * | 19 | inv devtlb BDF ...           | addr   | sid     | 0     | log2 pages 21:16                                      | 0             |
 * | 20 | inv piotlb ...               | addr   | did     | pasid | ih 9; psi 10; am 21:16                                | 0             |
 * | 21 | inv pc ...                   | 0      | did     | pasid | gran 1:0 (0 global, 1 dsi, 2 pasid)                   | 0             |
 * | 22 | inv pdevtlb BDF ...          | addr   | sid     | pasid | all 11; log2 pages 21:16                              | 0             |
 * | 23 | inv iec                      | 0      | 0       | 0     | 0                                                     | 0             |
 * | 24 | inv wait [addr=A [data=N]]   | addr   | 0       | data  | status write 12                                       | 0             |
 */
import { quote } from "../../errors.ts";
import { formatBdf, MAX_PASID, type DriverEventBase } from "../../trace/events.ts";
import { u32Operand, type EventOperands, type FormatCheck, type TraceCommand } from "../../trace/command.ts";
import { BDF_HINT, parseAddr, parseBdf, parseBounded, parseHex, parsePasidValue, parseSmall, valueOf, type Args, type MakeError, type Token } from "../../trace/syntax.ts";

declare module "../../trace/events.ts" {
  interface ArchCommands {
    /** VT-d: `inv ...` (src/arch/vtd/trace-commands.ts). */
    inv: { inv: Invalidation };
  }
}

/** One invalidation, as written after `inv` (the grammar above). */
export type Invalidation =
  | { kind: "qi"; qwords: bigint[] }
  | { kind: "cc"; reg: boolean; gran: "global" }
  | { kind: "cc"; reg: boolean; gran: "domain"; did: number }
  | { kind: "cc"; reg: boolean; gran: "device"; sid: number; fm: number }
  | { kind: "iotlb"; reg: boolean; gran: "global" }
  | { kind: "iotlb"; reg: boolean; gran: "dsi"; did: number }
  | { kind: "iotlb"; reg: boolean; gran: "psi"; did: number; addr: bigint; am: number; ih: boolean }
  | { kind: "devtlb"; sid: number; addr: bigint; pagesLg2: number }
  | { kind: "piotlb"; did: number; pasid: number; psi?: { addr: bigint; am: number; ih: boolean } }
  | { kind: "pc"; gran: "global" }
  | { kind: "pc"; gran: "dsi"; did: number }
  | { kind: "pc"; gran: "pasid"; did: number; pasid: number }
  | { kind: "pdevtlb"; sid: number; pasid: number; addr: bigint; pagesLg2: number; all: boolean }
  | { kind: "iec" }
  | { kind: "wait"; status?: { addr: bigint; data: number } };

/** `inv ...`: the driver submits the invalidation (queued, or through the registers with `reg`). */
export interface InvEvent extends DriverEventBase {
  op: "inv";
  inv: Invalidation;
}

/** The widest device-TLB invalidation: 2^52 pages (Linux MAX_AGAW_PFN_WIDTH), every address. */
export const MAX_PAGES_LG2 = 52;

function formatInvalidation(inv: Invalidation, check: FormatCheck, hex: (v: bigint) => string): string[] {
  const num = (name: string, v: number, max: number) => {
    check(Number.isInteger(v) && v >= 0 && v <= max, `${name} ${v} out of range`);
    return `${name}=${v}`;
  };
  const sid = (v: number) => {
    check(Number.isInteger(v) && v >= 0 && v <= 0xffff, `sid ${v} is not a 16-bit source ID`);
    return formatBdf(v);
  };
  const addrAm = (addr: bigint, am: number, ih: boolean) => {
    check(Number.isInteger(am) && am >= 0 && am <= 63 && (addr & ((1n << BigInt(12 + am)) - 1n)) === 0n, `addr 0x${addr.toString(16)} with am ${am}`);
    return [`addr=${hex(addr)}`, `am=${am}`, ...(ih ? ["ih"] : [])];
  };
  const addrPages = (addr: bigint, pagesLg2: number) => {
    check(Number.isInteger(pagesLg2) && pagesLg2 >= 0 && pagesLg2 <= MAX_PAGES_LG2 && (addr & ((1n << BigInt(12 + pagesLg2)) - 1n)) === 0n,
      `addr 0x${addr.toString(16)} with 2^${pagesLg2} pages`);
    return [`addr=${hex(addr)}`, ...(pagesLg2 ? [`pages=${1n << BigInt(pagesLg2)}`] : [])];
  };
  const reg = (r: boolean) => (r ? ["reg"] : []);
  switch (inv.kind) {
    case "qi":
      check(inv.qwords.length === 2 || inv.qwords.length === 4, `${inv.qwords.length} qwords`);
      return ["qi", ...inv.qwords.map(hex)];
    case "cc":
      if (inv.gran === "global") return [...reg(inv.reg), "cc", "global"];
      if (inv.gran === "domain") return [...reg(inv.reg), "cc", "domain", num("did", inv.did, 0xffff)];
      return [...reg(inv.reg), "cc", "device", `sid=${sid(inv.sid)}`, ...(inv.fm ? [num("fm", inv.fm, 3)] : [])];
    case "iotlb":
      if (inv.gran === "global") return [...reg(inv.reg), "iotlb", "global"];
      if (inv.gran === "dsi") return [...reg(inv.reg), "iotlb", "dsi", num("did", inv.did, 0xffff)];
      return [...reg(inv.reg), "iotlb", "psi", num("did", inv.did, 0xffff), ...addrAm(inv.addr, inv.am, inv.ih)];
    case "devtlb":
      return ["devtlb", sid(inv.sid), ...addrPages(inv.addr, inv.pagesLg2)];
    case "piotlb":
      return ["piotlb", num("did", inv.did, 0xffff), num("pasid", inv.pasid, MAX_PASID), ...(inv.psi ? ["psi", ...addrAm(inv.psi.addr, inv.psi.am, inv.psi.ih)] : [])];
    case "pc":
      if (inv.gran === "global") return ["pc", "global"];
      if (inv.gran === "dsi") return ["pc", "dsi", num("did", inv.did, 0xffff)];
      return ["pc", "pasid", num("did", inv.did, 0xffff), num("pasid", inv.pasid, MAX_PASID)];
    case "pdevtlb":
      return ["pdevtlb", sid(inv.sid), num("pasid", inv.pasid, MAX_PASID), ...addrPages(inv.addr, inv.pagesLg2), ...(inv.all ? ["all"] : [])];
    case "iec":
      return ["iec"];
    case "wait":
      if (inv.status === undefined) return ["wait"];
      check((inv.status.addr & 3n) === 0n, "status address not 4-byte aligned");
      return ["wait", `addr=${hex(inv.status.addr)}`, num("data", inv.status.data, 0xffffffff)];
  }
}

const INV_KINDS = "qi, cc, iotlb, devtlb, piotlb, pc, pdevtlb, iec, wait or reg";

function parseInvalidation(a: Args): Invalidation {
  const err = a.err;
  let kindTok = a.next(`an invalidation after "inv" (${INV_KINDS})`);
  let reg = false;
  if (kindTok.text === "reg") {
    reg = true;
    kindTok = a.next(`cc or iotlb after "inv reg"`);
    if (kindTok.text !== "cc" && kindTok.text !== "iotlb")
      throw err(`register-based invalidation is "cc" (CCMD) or "iotlb" (IOTLB_REG), got ${quote(kindTok.text)}`, kindTok.column);
  }
  const form = `inv ${reg ? "reg " : ""}${kindTok.text}`;
  switch (kindTok.text) {
    case "qi": {
      const toks = a.rest();
      const qwords = toks.map((t) => parseHex(t, "a descriptor qword", err));
      if (qwords.length !== 2 && qwords.length !== 4) {
        const at = toks.length > 4 ? toks[4]!.column : toks.length === 3 ? toks[2]!.column : toks.length > 0 ? toks[toks.length - 1]!.column : kindTok.column;
        throw err(`expected 2 or 4 descriptor qwords in hex after "inv qi" (as the intel_iommu:qi_submit tracepoint prints them), got ${qwords.length}`, at);
      }
      return { kind: "qi", qwords };
    }
    case "cc": {
      const g = a.next(`global, domain or device after ${quote(form)}`);
      const f = `${form} ${g.text}`;
      switch (g.text) {
        case "global":
          a.options(f, [], [], g);
          return { kind: "cc", reg, gran: "global" };
        case "domain":
          return { kind: "cc", reg, gran: "domain", did: parseDid(a.options(f, ["did="], [], g).need("did="), err) };
        case "device": {
          const o = a.options(f, ["sid=", "fm="], [], g);
          const fmTok = o.get("fm=");
          return { kind: "cc", reg, gran: "device", sid: parseSid(valueOf(o.need("sid=")), err), fm: fmTok ? parseSmall(fmTok, "fm", 3, err) : 0 };
        }
        default:
          throw err(`expected global, domain or device after ${quote(form)}, got ${quote(g.text)}`, g.column);
      }
    }
    case "iotlb": {
      const g = a.next(`global, dsi or psi after ${quote(form)}`);
      const f = `${form} ${g.text}`;
      switch (g.text) {
        case "global":
          a.options(f, [], [], g);
          return { kind: "iotlb", reg, gran: "global" };
        case "dsi":
          return { kind: "iotlb", reg, gran: "dsi", did: parseDid(a.options(f, ["did="], [], g).need("did="), err) };
        case "psi": {
          const o = a.options(f, ["did=", "addr=", "am="], ["ih"], g);
          const did = parseDid(o.need("did="), err);
          const { addr, am } = parseAddrAm(o.need("addr="), o.need("am="), err);
          return { kind: "iotlb", reg, gran: "psi", did, addr, am, ih: o.has("ih") };
        }
        default:
          throw err(`expected global, dsi or psi after ${quote(form)}, got ${quote(g.text)}`, g.column);
      }
    }
    case "devtlb": {
      const sid = parseSid(a.next(`${BDF_HINT} after ${quote(form)}`), err);
      const o = a.options(form, ["addr=", "pages="], [], kindTok);
      const { addr, pagesLg2 } = parseAddrPages(o.need("addr="), o.get("pages="), err);
      return { kind: "devtlb", sid, addr, pagesLg2 };
    }
    case "piotlb": {
      const o = a.options(form, ["did=", "pasid=", "addr=", "am="], ["psi", "ih"], kindTok);
      const did = parseDid(o.need("did="), err);
      const pasid = parsePasidValue(o.need("pasid="), err);
      const addrTok = o.only("addr=", "psi"), amTok = o.only("am=", "psi");
      o.only("ih", "psi");
      if (!o.has("psi")) return { kind: "piotlb", did, pasid };
      if (addrTok === undefined || amTok === undefined) throw err(`${form} psi needs ${addrTok ? "am=" : "addr="}`, o.get("psi")!.column);
      return { kind: "piotlb", did, pasid, psi: { ...parseAddrAm(addrTok, amTok, err), ih: o.has("ih") } };
    }
    case "pc": {
      const g = a.next(`global, dsi or pasid after ${quote(form)}`);
      const f = `${form} ${g.text}`;
      switch (g.text) {
        case "global":
          a.options(f, [], [], g);
          return { kind: "pc", gran: "global" };
        case "dsi":
          return { kind: "pc", gran: "dsi", did: parseDid(a.options(f, ["did="], [], g).need("did="), err) };
        case "pasid": {
          const o = a.options(f, ["did=", "pasid="], [], g);
          return { kind: "pc", gran: "pasid", did: parseDid(o.need("did="), err), pasid: parsePasidValue(o.need("pasid="), err) };
        }
        default:
          throw err(`expected global, dsi or pasid after ${quote(form)}, got ${quote(g.text)}`, g.column);
      }
    }
    case "pdevtlb": {
      const sid = parseSid(a.next(`${BDF_HINT} after ${quote(form)}`), err);
      const o = a.options(form, ["pasid=", "addr=", "pages="], ["all"], kindTok);
      const pasid = parsePasidValue(o.need("pasid="), err);
      const { addr, pagesLg2 } = parseAddrPages(o.need("addr="), o.get("pages="), err);
      return { kind: "pdevtlb", sid, pasid, addr, pagesLg2, all: o.has("all") };
    }
    case "iec":
      a.options(form, [], [], kindTok);
      return { kind: "iec" };
    case "wait": {
      const o = a.options(form, ["addr=", "data="], [], kindTok);
      const dataTok = o.only("data=", "addr=");
      const addrTok = o.get("addr=");
      if (addrTok === undefined) return { kind: "wait" };
      const addr = parseAddr(addrTok, valueOf(addrTok).text, err);
      if (addr & 3n) throw err(`the status address 0x${addr.toString(16)} is not 4-byte aligned`, addrTok.column);
      return { kind: "wait", status: { addr, data: dataTok ? Number(parseBounded(dataTok, "data", 0xffffffffn, err)) : 1 } };
    }
    default:
      throw err(`unknown invalidation ${quote(kindTok.text)}; expected ${INV_KINDS}`, kindTok.column);
  }
}

function parseDid(tok: Token, err: MakeError): number {
  return Number(parseBounded(tok, "did", 0xffffn, err));
}
/** A BDF naming a descriptor's 16-bit source ID (no segment). */

function parseSid(tok: Token, err: MakeError): number {
  const sid = parseBdf(tok, err);
  if (sid > 0xffff) throw err(`invalidation descriptors carry a 16-bit source ID: no segment, got ${quote(tok.text)}`, tok.column);
  return sid;
}

/** addr= and am= of a page-selective IOTLB invalidation: 2^am pages, naturally aligned. */

function parseAddrAm(addrTok: Token, amTok: Token, err: MakeError): { addr: bigint; am: number } {
  const addr = parseAddr(addrTok, valueOf(addrTok).text, err);
  const am = parseSmall(amTok, "am", 63, err);
  const bytes = 1n << BigInt(12 + am);
  if (addr & (bytes - 1n)) {
    throw err(`addr 0x${addr.toString(16)} is not aligned to ${am === 0 ? "4 KiB" : `2^${am} pages (0x${bytes.toString(16)} bytes)`}`, addrTok.column);
  }
  return { addr, am };
}

/** addr= and pages= of a device-TLB invalidation: a power-of-two number of pages, naturally aligned. */

function parseAddrPages(addrTok: Token, pagesTok: Token | undefined, err: MakeError): { addr: bigint; pagesLg2: number } {
  const addr = parseAddr(addrTok, valueOf(addrTok).text, err);
  let pagesLg2 = 0;
  if (pagesTok !== undefined) {
    const n = parseBounded(pagesTok, "pages", 1n << BigInt(MAX_PAGES_LG2), err);
    if (n === 0n || (n & (n - 1n)) !== 0n) throw err(`pages ${valueOf(pagesTok).text} is not a power of two (1, 2, 4, ... 2^52)`, pagesTok.column);
    pagesLg2 = n.toString(2).length - 1;
  }
  const bytes = 1n << BigInt(12 + pagesLg2);
  if (addr & (bytes - 1n)) {
    throw err(`addr 0x${addr.toString(16)} is not aligned to ${pagesLg2 === 0 ? "4 KiB" : `pages=${1n << BigInt(pagesLg2)} (0x${bytes.toString(16)} bytes)`}`, addrTok.column);
  }
  return { addr, pagesLg2 };
}


/** Binary opcodes of the `inv` forms (FLAGS bits 23:16 of the driver-event record). */
export const InvOp = { QI: 16, CC: 17, IOTLB: 18, DEVTLB: 19, PIOTLB: 20, PC: 21, PDEVTLB: 22, IEC: 23, WAIT: 24 } as const;

/** The driver-event record of an `inv` (the table above); a RangeError for what it cannot hold. */
function encodeInvalidation(inv: Invalidation): EventOperands {
  const u32 = u32Operand;
  const small = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 0 || v > 63) throw new RangeError(`${what} ${v} out of range`);
    return v << 16;
  };
  const x = { op: 0, a: 0n, b: 0, c: 0, d: 0 };
  switch (inv.kind) {
    case "qi":
      if (inv.qwords.length !== 2 && inv.qwords.length !== 4) throw new RangeError(`${inv.qwords.length} qwords`);
      return { ...x, op: InvOp.QI, a: inv.qwords[0]!, d: inv.qwords.length, ext: [inv.qwords[1]!, inv.qwords[2] ?? 0n, inv.qwords[3] ?? 0n] };
    case "cc": {
      const reg = inv.reg ? 1 << 8 : 0;
      if (inv.gran === "domain") return { ...x, op: InvOp.CC, b: u32(inv.did, "did"), d: reg | 1 };
      if (inv.gran === "device") return { ...x, op: InvOp.CC, b: u32(inv.sid, "sid"), d: reg | 2 | small(inv.fm, "fm") };
      return { ...x, op: InvOp.CC, d: reg };
    }
    case "iotlb": {
      const reg = inv.reg ? 1 << 8 : 0;
      if (inv.gran === "dsi") return { ...x, op: InvOp.IOTLB, b: u32(inv.did, "did"), d: reg | 1 };
      if (inv.gran === "psi") return { ...x, op: InvOp.IOTLB, a: inv.addr, b: u32(inv.did, "did"), d: reg | 2 | (inv.ih ? 1 << 9 : 0) | small(inv.am, "am") };
      return { ...x, op: InvOp.IOTLB, d: reg };
    }
    case "devtlb":
      return { ...x, op: InvOp.DEVTLB, a: inv.addr, b: u32(inv.sid, "sid"), d: small(inv.pagesLg2, "pages") };
    case "piotlb": {
      const y = { ...x, op: InvOp.PIOTLB, b: u32(inv.did, "did"), c: u32(inv.pasid, "pasid") };
      return inv.psi ? { ...y, a: inv.psi.addr, d: (1 << 10) | (inv.psi.ih ? 1 << 9 : 0) | small(inv.psi.am, "am") } : y;
    }
    case "pc":
      if (inv.gran === "dsi") return { ...x, op: InvOp.PC, b: u32(inv.did, "did"), d: 1 };
      if (inv.gran === "pasid") return { ...x, op: InvOp.PC, b: u32(inv.did, "did"), c: u32(inv.pasid, "pasid"), d: 2 };
      return { ...x, op: InvOp.PC };
    case "pdevtlb":
      return { ...x, op: InvOp.PDEVTLB, a: inv.addr, b: u32(inv.sid, "sid"), c: u32(inv.pasid, "pasid"), d: small(inv.pagesLg2, "pages") | (inv.all ? 1 << 11 : 0) };
    case "iec":
      return { ...x, op: InvOp.IEC };
    case "wait":
      return inv.status ? { ...x, op: InvOp.WAIT, a: inv.status.addr, c: u32(inv.status.data, "data"), d: 1 << 12 } : { ...x, op: InvOp.WAIT };
    default:
      throw new RangeError(`unknown invalidation ${String((inv as { kind: unknown }).kind)}`);
  }
}

/** The invalidation of an `inv` record, or why it is not one (binary.ts checks the rest). */
function decodeInvalidation({ op, a, b, c, d, ext }: Required<EventOperands>): Invalidation | string {
  const gran = d & 3;
  const sm = (d >>> 16) & 0x3f;
  switch (op) {
    case InvOp.QI:
      if (d !== 2 && d !== 4) return `inv qi with ${d} qwords (2 or 4)`;
      return { kind: "qi", qwords: d === 2 ? [a, ext[0]] : [a, ext[0], ext[1], ext[2]] };
    case InvOp.CC: {
      const reg = (d & (1 << 8)) !== 0;
      if (gran === 3) return "inv cc with granularity 3";
      return gran === 0 ? { kind: "cc", reg, gran: "global" } : gran === 1 ? { kind: "cc", reg, gran: "domain", did: b } : { kind: "cc", reg, gran: "device", sid: b, fm: sm };
    }
    case InvOp.IOTLB: {
      const reg = (d & (1 << 8)) !== 0;
      if (gran === 3) return "inv iotlb with granularity 3";
      return gran === 0 ? { kind: "iotlb", reg, gran: "global" } : gran === 1 ? { kind: "iotlb", reg, gran: "dsi", did: b } : { kind: "iotlb", reg, gran: "psi", did: b, addr: a, am: sm, ih: (d & (1 << 9)) !== 0 };
    }
    case InvOp.DEVTLB:
      return { kind: "devtlb", sid: b, addr: a, pagesLg2: sm };
    case InvOp.PIOTLB:
      return d & (1 << 10) ? { kind: "piotlb", did: b, pasid: c, psi: { addr: a, am: sm, ih: (d & (1 << 9)) !== 0 } } : { kind: "piotlb", did: b, pasid: c };
    case InvOp.PC:
      if (gran === 3) return "inv pc with granularity 3";
      return gran === 0 ? { kind: "pc", gran: "global" } : gran === 1 ? { kind: "pc", gran: "dsi", did: b } : { kind: "pc", gran: "pasid", did: b, pasid: c };
    case InvOp.PDEVTLB:
      return { kind: "pdevtlb", sid: b, pasid: c, addr: a, pagesLg2: sm, all: (d & (1 << 11)) !== 0 };
    case InvOp.IEC:
      return { kind: "iec" };
    case InvOp.WAIT:
      return d & (1 << 12) ? { kind: "wait", status: { addr: a, data: c } } : { kind: "wait" };
    default:
      return `unknown driver-event OP ${op}`;
  }
}

/** VT-d's `inv`, registered in src/trace/commands.ts. */
export const invCommand: TraceCommand<InvEvent> = {
  arch: "vtd",
  keyword: "inv",
  ops: Object.values(InvOp),
  parse: (a, base) => ({ ...base, op: "inv", inv: parseInvalidation(a) }),
  format: (e, check, hex) => formatInvalidation(e.inv, check, hex),
  encode: (e) => encodeInvalidation(e.inv),
  decode: (x, base) => {
    const inv = decodeInvalidation(x);
    return typeof inv === "string" ? inv : { ...base, op: "inv", inv };
  },
};

/** VT-d's driver commands in the trace formats. */
export const vtdTraceCommands: readonly TraceCommand[] = [invCommand];
