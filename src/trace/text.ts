/**
 * Trace text format v1: one event per line, TLPs and driver events interleaved in time order.
 *
 *   [@TIME] MRd|MWr BDF [pasid=N[,priv][,exe]] addr=ADDR [len=BYTES] [ns] [ro] [ido] [at=translated] [expect=FAULT]
 *   [@TIME] ATS     BDF [pasid=N[,priv][,exe]] addr=ADDR [nw] [expect=FAULT]
 *   [@TIME] map DOMAIN IOVA PA SIZE [perm=rwx] [page=4K|2M|1G] [snp] [user|sup] [global]
 *   [@TIME] unmap DOMAIN IOVA SIZE
 *   [@TIME] flush
 *   [@TIME] inv qi QW0 QW1 [QW2 QW3]
 *   [@TIME] inv [reg] cc global | domain did=N | device sid=BDF [fm=N]
 *   [@TIME] inv [reg] iotlb global | dsi did=N | psi did=N addr=A am=N [ih]
 *   [@TIME] inv devtlb BDF addr=A [pages=N]
 *   [@TIME] inv piotlb did=N pasid=N [psi addr=A am=N [ih]]
 *   [@TIME] inv pc global | dsi did=N | pasid did=N pasid=N
 *   [@TIME] inv pdevtlb BDF pasid=N addr=A [pages=N] [all]
 *   [@TIME] inv iec
 *   [@TIME] inv wait [addr=A [data=N]]
 *   [@TIME] attach BDF [pasid=N] domain=D [ats] [pri] [pgsnp] [fpd] [sre] [ere]
 *   [@TIME] detach BDF [pasid=N]
 *
 * `#` starts a comment that runs to the end of the line; blank lines are ignored; CRLF is accepted.
 *
 * - TIME is `@` and a whole number of cycles (`@1500`), or a decimal with a unit (`@12ns`, `@3.5us`).
 *   The value is kept in the unit it was written in. Times must not decrease from one line to the
 *   next (cycle times are checked against cycle times, ns/us times against ns/us times).
 * - BDF is `BB:DD.F` or `SSSS:BB:DD.F` in hex; it becomes `sid = segment<<16 | bus<<8 | device<<3 | function`.
 *   Invalidation descriptors carry a 16-bit source ID, so their BDFs have no segment.
 * - pasid N is decimal or 0x-hex, below 2^20; `,priv` and `,exe` may follow in either order.
 * - addr, IOVA, PA and the qwords of `inv qi` are hex (the `0x` is optional), below 2^64.
 * - len is decimal or 0x-hex bytes, 1 to 4096; 4 when omitted (and always 4 on ATS lines). A memory
 *   request must not cross a 4 KiB boundary: (addr mod 4096) + len <= 4096 (PCIe Base 2.2.7,
 *   "Memory, I/O, and Configuration Request Rules"); a line that does is malformed.
 * - expect=FAULT is the fault a log recorded for this request (trace importers write it, `run
 *   --expect-faults` compares it with the model's): a VT-d fault reason, decimal or 0x-hex below 256
 *   (spec 7.1.3; written 0x06), or an SMMUv3 event type by name (F_TRANSLATION, spec 7.3).
 *   SIZE, did, am, fm, pages and data are decimal or 0x-hex; DOMAIN is the scenario's domain id (decimal).
 * - The tokens after the fixed positions may come in any order, each at most once.
 * - attach/detach BDFs name a device of this unit: no segment (or segment 0000). D is decimal.
 *
 * The driver events are carried out by src/arch/vtd/driver.ts (README "Trace text format v1").
 */
import { InputError, quote } from "../errors.ts";

export type TimeStamp = { value: number; unit: "cycles" | "ns" | "us" };

export interface TraceTlp {
  /** 1-based line number in the source. */
  line: number;
  time?: TimeStamp;
  op: "MRd" | "MWr" | "ATS";
  /** segment<<16 | bus<<8 | device<<3 | function (never negative). */
  sid: number;
  /** Present only when `pasid=` was given. */
  pasid?: number;
  priv: boolean;
  exe: boolean;
  addr: bigint;
  len: number;
  /** No-Snoop. */
  ns: boolean;
  /** Relaxed Ordering. */
  ro: boolean;
  /** ID-based Ordering. */
  ido: boolean;
  /** at=translated. */
  translated: boolean;
  /** ATS no-write (request a read-only translation). */
  nw: boolean;
  /** Present only when `expect=` was given: the fault a log recorded for this request. */
  expect?: FaultExpectation;
}

/**
 * The fault a log recorded for a request: a VT-d fault reason (the kernel's `[fault reason 0x06]`,
 * the model's `fault.code`) or an SMMUv3 event type (arm-smmu-v3 event records).
 */
export type FaultExpectation = { arch: "vtd"; code: number } | { arch: "smmuv3"; code: number };

/**
 * SMMUv3 event types by name (Arm IHI 0070, 7.3 "Event records"; shared/spec/smmuv3.md 2.6), the
 * names `expect=` takes for SMMUv3 faults.
 */
export const SMMU_EVENTS: Readonly<Record<string, number>> = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
  F_VMS_FETCH: 0x25,
};
const SMMU_EVENT_NAMES = new Map(Object.entries(SMMU_EVENTS).map(([name, id]) => [id, name]));

/** The name of an SMMUv3 event type; undefined for an id with no name. */
export function smmuEventName(id: number): string | undefined {
  return SMMU_EVENT_NAMES.get(id);
}

/** An expectation as `expect=` writes it: `0x06` (VT-d) or `F_TRANSLATION` (SMMUv3). */
export function formatExpectation(x: FaultExpectation): string {
  if (x.arch === "smmuv3") {
    const name = smmuEventName(x.code);
    if (name === undefined) throw new RangeError(`SMMUv3 event type 0x${x.code.toString(16)} has no name`);
    return name;
  }
  if (!Number.isInteger(x.code) || x.code < 0 || x.code > 0xff) throw new RangeError(`VT-d fault reason ${x.code} out of range (0 to 0xff)`);
  return "0x" + x.code.toString(16).padStart(2, "0");
}

/**
 * Why a memory request of `len` bytes at `addr` is malformed by crossing a 4 KiB boundary (PCIe
 * Base 2.2.7: "a Request must not specify an Address/Length combination which causes a Memory Space
 * access to cross a 4-KB boundary"); undefined when it does not cross.
 */
export function crossesPage(addr: bigint, len: number): string | undefined {
  if (Number(addr & 0xfffn) + len <= 0x1000) return undefined;
  return `malformed TLP: addr=0x${addr.toString(16)} len=${len} crosses a 4 KiB boundary (PCIe Base 2.2.7 forbids it)`;
}

/** Page sizes a `map` event may use. */
export type PageSizeName = "4K" | "2M" | "1G";
export const PAGE_BYTES: Record<PageSizeName, bigint> = { "4K": 1n << 12n, "2M": 1n << 21n, "1G": 1n << 30n };

interface DriverEventBase {
  /** 1-based line number in the source. */
  line: number;
  /** 1-based column of the event keyword (map, unmap, flush, inv), for errors found when it runs. */
  column: number;
  time?: TimeStamp;
}

/** `map DOMAIN IOVA PA SIZE ...`: the driver maps [iova, iova+size) in the domain (VtdBuilder.map). */
export interface MapEvent extends DriverEventBase {
  op: "map";
  domain: number;
  iova: bigint;
  pa: bigint;
  size: bigint;
  /** Letters of r, w, x in that order; "rw" by default. */
  perm: string;
  page: PageSizeName;
  /** Second stage: SNP in the leaf (without it: the domain's forceSnoop). */
  snp: boolean;
  /** First stage: U/S (`sup` clears it); true by default. */
  user: boolean;
  /** First stage: G. */
  global: boolean;
}

/** `unmap DOMAIN IOVA SIZE`: the driver clears the leaves and invalidates as Linux does. */
export interface UnmapEvent extends DriverEventBase {
  op: "unmap";
  domain: number;
  iova: bigint;
  size: bigint;
}

/** `flush`: a flush point of the lazy mode's flush queue. */
export interface FlushEvent extends DriverEventBase {
  op: "flush";
}

/** One invalidation, as written after `inv` (see the grammar at the top of this file). */
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

/**
 * `attach BDF [pasid=N] domain=D ...`: the driver attaches the device (request-with-PASID `pasid`,
 * or the request-without-PASID entry) to domain D (VtdBuilder.attach). The flags are AttachSpec's;
 * `ats` and `pri` go to the context entry, so they count only when the device has none yet.
 */
export interface AttachEvent extends DriverEventBase {
  op: "attach";
  /** bus<<8 | device<<3 | function (segment 0). */
  sid: number;
  pasid?: number;
  domain: number;
  ats: boolean;
  pri: boolean;
  pgsnp: boolean;
  fpd: boolean;
  sre: boolean;
  ere: boolean;
}

/** `detach BDF [pasid=N]`: the driver clears the attachment's entry and invalidates as Linux does. */
export interface DetachEvent extends DriverEventBase {
  op: "detach";
  sid: number;
  pasid?: number;
}

export type DriverEvent = MapEvent | UnmapEvent | FlushEvent | InvEvent | AttachEvent | DetachEvent;
export type TraceEvent = TraceTlp | DriverEvent;

export function isTlp(e: TraceEvent): e is TraceTlp {
  return e.op === "MRd" || e.op === "MWr" || e.op === "ATS";
}

export const MAX_PASID = 0xfffff;
export const MAX_LEN = 4096;
export const DEFAULT_LEN = 4;
const MAX_ADDR = (1n << 64n) - 1n;
/** The widest device-TLB invalidation: 2^52 pages (Linux MAX_AGAW_PFN_WIDTH), every address. */
export const MAX_PAGES_LG2 = 52;

const BDF_HINT = "a BDF like 00:02.0 or 0000:00:02.0";
const TIME_HINT = "a timestamp like @1500, @12ns or @3.5us";
const EVENT_HINT = "MRd, MWr, ATS, map, unmap, inv, flush, attach or detach";
/** The flags of an `attach` event, in the order formatEvent writes them. */
export const ATTACH_FLAGS = ["ats", "pri", "pgsnp", "fpd", "sre", "ere"] as const;
const EXPECTED_MEM = "pasid=, addr=, len=, ns, ro, ido, at=translated, expect=";
const EXPECTED_ATS = "pasid=, addr=, nw, expect=";

/** Parses a whole trace. `firstLine` is the line number of the first line of `text`. */
export function parseTraceText(text: string, file: string, firstLine = 1): TraceEvent[] {
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const lines = text.split(/\r?\n/);
  return parseTraceLines(lines, file, (i) => firstLine + i);
}

/**
 * Parses trace lines (e.g. a scenario's inline trace) with the same checks as parseTraceText,
 * time order included; `lineNumber(i)` is the line number of `lines[i]`.
 */
export function parseTraceLines(lines: readonly string[], file: string, lineNumber: (i: number) => number): TraceEvent[] {
  const out: TraceEvent[] = [];
  // The last timestamp seen in each clock domain; cycles and ns/us cannot be compared without a clock.
  const last = new Map<"cycles" | "wall", { time: TimeStamp; line: number }>();
  for (let i = 0; i < lines.length; i++) {
    const lineNo = lineNumber(i);
    const parsed = parseLine(lines[i] ?? "", file, lineNo);
    if (parsed === null) continue;
    const { event, timeColumn } = parsed;
    if (event.time !== undefined) {
      const domain = event.time.unit === "cycles" ? "cycles" : "wall";
      const prev = last.get(domain);
      if (prev !== undefined && compareTimes(event.time, prev.time) < 0) {
        throw new InputError(
          `timestamp ${formatTime(event.time)} is earlier than ${formatTime(prev.time)} on line ${prev.line}; ` +
            "timestamps must not decrease",
          file,
          lineNo,
          timeColumn,
        );
      }
      last.set(domain, { time: event.time, line: lineNo });
    }
    out.push(event);
  }
  return out;
}

/** Parses one line holding a TLP; null when it is blank or only a comment. A driver event is an error. */
export function parseTraceLine(line: string, file: string, lineNo: number): TraceTlp | null {
  const parsed = parseLine(line, file, lineNo);
  if (parsed === null) return null;
  const e = parsed.event;
  if (!isTlp(e)) throw new InputError(`expected a TLP (MRd, MWr or ATS), got the driver event ${quote(e.op)}`, file, lineNo, e.column);
  return e;
}

/** Parses one line: a TLP or a driver event; null when it is blank or only a comment. */
export function parseTraceEvent(line: string, file: string, lineNo: number): TraceEvent | null {
  return parseLine(line, file, lineNo)?.event ?? null;
}

/** "BB:DD.F" in lower-case hex, with a "SSSS:" prefix only when the segment is not 0. */
export function formatBdf(sid: number): string {
  if (!Number.isInteger(sid) || sid < 0 || sid > 0xffffffff) throw new RangeError(`sid ${sid} is not a 32-bit unsigned integer`);
  const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
  const segment = Math.floor(sid / 0x10000);
  const bdf = `${hex((sid >>> 8) & 0xff, 2)}:${hex((sid >>> 3) & 0x1f, 2)}.${sid & 7}`;
  return segment === 0 ? bdf : `${hex(segment, 4)}:${bdf}`;
}

/**
 * The canonical text of a TLP: tokens in the order of the format line, numbers in lower-case hex
 * (except len), defaults omitted. Parses back to an equal TraceTlp apart from `line`. Throws a
 * RangeError for a TLP the format cannot express (e.g. `priv` without a pasid, `nw` on MRd).
 */
export function formatTlp(t: TraceTlp): string {
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new RangeError(`cannot format TLP from line ${t.line}: ${what}`);
  };
  const parts: string[] = [];
  if (t.time !== undefined) {
    const { value, unit } = t.time;
    check(unit === "cycles" ? Number.isSafeInteger(value) && value >= 0 : Number.isFinite(value) && value >= 0,
      `bad time ${value} ${unit}`);
    parts.push(formatTime(t.time));
  }
  check(t.op === "MRd" || t.op === "MWr" || t.op === "ATS", `bad op ${String(t.op)}`);
  parts.push(t.op, formatBdf(t.sid));
  if (t.pasid !== undefined) {
    check(Number.isInteger(t.pasid) && t.pasid >= 0 && t.pasid <= MAX_PASID, `pasid ${t.pasid} out of range`);
    parts.push(`pasid=0x${t.pasid.toString(16)}${t.priv ? ",priv" : ""}${t.exe ? ",exe" : ""}`);
  } else {
    check(!t.priv && !t.exe, "priv/exe need a pasid");
  }
  check(t.addr >= 0n && t.addr <= MAX_ADDR, `addr ${t.addr} out of range`);
  parts.push(`addr=0x${t.addr.toString(16)}`);
  if (t.op === "ATS") {
    check(t.len === DEFAULT_LEN, `len ${t.len} on an ATS request`);
    check(!t.ns && !t.ro && !t.ido && !t.translated, "ns/ro/ido/at=translated on an ATS request");
    if (t.nw) parts.push("nw");
  } else {
    check(Number.isInteger(t.len) && t.len >= 1 && t.len <= MAX_LEN, `len ${t.len} out of range`);
    check(!t.nw, `nw on ${t.op}`);
    const crossing = crossesPage(t.addr, t.len);
    check(crossing === undefined, crossing!);
    if (t.len !== DEFAULT_LEN) parts.push(`len=${t.len}`);
    if (t.ns) parts.push("ns");
    if (t.ro) parts.push("ro");
    if (t.ido) parts.push("ido");
    if (t.translated) parts.push("at=translated");
  }
  if (t.expect !== undefined) {
    try {
      parts.push(`expect=${formatExpectation(t.expect)}`);
    } catch (e) {
      check(false, (e as Error).message);
    }
  }
  return parts.join(" ");
}

/**
 * The canonical text of any event: formatTlp for TLPs; for driver events the tokens in the order
 * of the grammar, addresses and qwords in lower-case hex, SIZE in hex, ids and counts in decimal,
 * defaults omitted. Parses back to an equal event apart from `line` and `column`. Throws a
 * RangeError for an event the format cannot express.
 */
export function formatEvent(e: TraceEvent): string {
  if (isTlp(e)) return formatTlp(e);
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new RangeError(`cannot format the ${e.op} event from line ${e.line}: ${what}`);
  };
  const hex = (v: bigint) => {
    check(v >= 0n && v <= MAX_ADDR, `0x${v.toString(16)} is out of range`);
    return "0x" + v.toString(16);
  };
  const parts: string[] = [];
  if (e.time !== undefined) {
    const { value, unit } = e.time;
    check(unit === "cycles" ? Number.isSafeInteger(value) && value >= 0 : Number.isFinite(value) && value >= 0, `bad time ${value} ${unit}`);
    parts.push(formatTime(e.time));
  }
  const domain = (d: number) => {
    check(Number.isInteger(d) && d >= 0 && d <= 0xffff, `domain ${d} out of range`);
    return String(d);
  };
  switch (e.op) {
    case "flush":
      parts.push("flush");
      break;
    case "unmap":
      check(e.size > 0n && ((e.iova | e.size) & 0xfffn) === 0n, "IOVA and SIZE must be 4 KiB multiples");
      parts.push("unmap", domain(e.domain), hex(e.iova), hex(e.size));
      break;
    case "map": {
      const bytes = PAGE_BYTES[e.page];
      check(bytes !== undefined, `bad page size ${String(e.page)}`);
      check(e.size > 0n && ((e.iova | e.pa | e.size) & (bytes - 1n)) === 0n, `IOVA, PA and SIZE must be multiples of ${e.page}`);
      check(/^(?=.)r?w?x?$/.test(e.perm), `bad perm ${quote(e.perm)}`);
      parts.push("map", domain(e.domain), hex(e.iova), hex(e.pa), hex(e.size));
      if (e.perm !== "rw") parts.push(`perm=${e.perm}`);
      if (e.page !== "4K") parts.push(`page=${e.page}`);
      if (e.snp) parts.push("snp");
      if (!e.user) parts.push("sup");
      if (e.global) parts.push("global");
      break;
    }
    case "inv":
      parts.push("inv", ...formatInvalidation(e.inv, check, hex));
      break;
    case "attach":
    case "detach": {
      check(Number.isInteger(e.sid) && e.sid >= 0 && e.sid <= 0xffff, `sid ${e.sid} is not a 16-bit source ID`);
      parts.push(e.op, formatBdf(e.sid));
      if (e.pasid !== undefined) {
        check(Number.isInteger(e.pasid) && e.pasid >= 0 && e.pasid <= MAX_PASID, `pasid ${e.pasid} out of range`);
        parts.push(`pasid=${e.pasid}`);
      }
      if (e.op === "attach") {
        parts.push(`domain=${domain(e.domain)}`);
        for (const f of ATTACH_FLAGS) {
          check(typeof e[f] === "boolean", `flag ${f} is not a boolean`);
          if (e[f]) parts.push(f);
        }
      }
      break;
    }
  }
  return parts.join(" ");
}

function formatInvalidation(inv: Invalidation, check: (ok: boolean, what: string) => void, hex: (v: bigint) => string): string[] {
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

// ---------------------------------------------------------------------------------------------

interface Token {
  text: string;
  /** 1-based column of the first character. */
  column: number;
}

type MakeError = (message: string, column: number) => InputError;

/** Splits a line into whitespace-separated tokens, dropping any `#` comment. */
function tokenize(line: string): Token[] {
  const hash = line.indexOf("#");
  const body = hash < 0 ? line : line.slice(0, hash);
  const tokens: Token[] = [];
  const re = /\S+/g;
  for (let m = re.exec(body); m !== null; m = re.exec(body)) tokens.push({ text: m[0], column: m.index + 1 });
  return tokens;
}

function parseLine(line: string, file: string, lineNo: number): { event: TraceEvent; timeColumn: number } | null {
  const tokens = tokenize(line);
  if (tokens.length === 0) return null;
  const err: MakeError = (message, column) => new InputError(message, file, lineNo, column);
  const last = tokens[tokens.length - 1]!;
  const endColumn = last.column + last.text.length;

  let next = 0;
  let time: TimeStamp | undefined;
  const first = tokens[0]!;
  if (first.text.startsWith("@")) {
    time = parseTime(first, err);
    next++;
  }

  const opTok = tokens[next++];
  if (opTok === undefined) throw err(`expected an event (${EVENT_HINT}) after the timestamp`, endColumn);
  if (opTok.text === "map" || opTok.text === "unmap" || opTok.text === "flush" || opTok.text === "inv" || opTok.text === "attach" || opTok.text === "detach") {
    const args = new Args(tokens.slice(next), opTok, endColumn, err);
    const base = { line: lineNo, column: opTok.column, ...(time !== undefined ? { time } : {}) };
    return { event: parseDriverEvent(opTok.text, args, base), timeColumn: first.column };
  }
  if (opTok.text !== "MRd" && opTok.text !== "MWr" && opTok.text !== "ATS") {
    throw err(`unknown event ${quote(opTok.text)}; expected ${EVENT_HINT} (case-sensitive)`, opTok.column);
  }
  const op = opTok.text;
  const ats = op === "ATS";

  const bdfTok = tokens[next++];
  if (bdfTok === undefined) throw err(`expected ${BDF_HINT} after ${quote(op)}`, endColumn);
  const sid = parseBdf(bdfTok, err);

  let pasid: number | undefined;
  let priv = false;
  let exe = false;
  let addr: bigint | undefined;
  let len = DEFAULT_LEN;
  let ns = false;
  let ro = false;
  let ido = false;
  let translated = false;
  let nw = false;
  let expect: FaultExpectation | undefined;
  let addrTok: Token | undefined;
  const seen = new Set<string>();

  for (const tok of tokens.slice(next)) {
    const eq = tok.text.indexOf("=");
    // "pasid=", "addr=", "len=", "at=" for key=value tokens; the whole text for flags.
    const key = eq < 0 ? tok.text : tok.text.slice(0, eq + 1);
    const value = eq < 0 ? "" : tok.text.slice(eq + 1);
    switch (key) {
      case "pasid=":
      case "addr=":
      case "expect=":
        break;
      case "len=":
      case "ns":
      case "ro":
      case "ido":
      case "at=":
        if (ats) throw err(`${quote(key === "at=" ? tok.text : key)} is not allowed on ATS lines (only on MRd and MWr)`, tok.column);
        break;
      case "nw":
        if (!ats) throw err(`"nw" is only allowed on ATS lines`, tok.column);
        break;
      default:
        throw err(unknownToken(tok.text, ats), tok.column);
    }
    if (seen.has(key)) throw err(`duplicate token ${quote(key)}`, tok.column);
    seen.add(key);

    switch (key) {
      case "pasid=":
        ({ pasid, priv, exe } = parsePasid(tok, value, err));
        break;
      case "addr=":
        addr = parseAddr(tok, value, err);
        addrTok = tok;
        break;
      case "expect=":
        expect = parseExpectation(tok, value, err);
        break;
      case "len=":
        len = parseLen(tok, value, err);
        break;
      case "at=":
        if (value !== "translated") throw err(`expected at=translated, got ${quote(tok.text)}`, tok.column);
        translated = true;
        break;
      case "ns":
        ns = true;
        break;
      case "ro":
        ro = true;
        break;
      case "ido":
        ido = true;
        break;
      case "nw":
        nw = true;
        break;
    }
  }
  if (addr === undefined) throw err("addr= is required", opTok.column);
  if (!ats) {
    const crossing = crossesPage(addr, len);
    if (crossing !== undefined) throw err(crossing, addrTok!.column);
  }

  const tlp: TraceTlp = {
    line: lineNo,
    ...(time !== undefined ? { time } : {}),
    op,
    sid,
    ...(pasid !== undefined ? { pasid } : {}),
    priv,
    exe,
    addr,
    len,
    ns,
    ro,
    ido,
    translated,
    nw,
    ...(expect !== undefined ? { expect } : {}),
  };
  return { event: tlp, timeColumn: first.column };
}

// ---- driver events ------------------------------------------------------------------------------

/** The tokens after a driver event's keyword: fixed positions first, then options in any order. */
class Args {
  private at = 0;
  constructor(
    private readonly toks: Token[],
    readonly keyword: Token,
    private readonly endColumn: number,
    readonly err: MakeError,
  ) {}

  /** The next token, which must exist; `what` says what was expected when it does not. */
  next(what: string): Token {
    const t = this.toks[this.at];
    if (t === undefined) throw this.err(`expected ${what}`, this.endColumn);
    this.at++;
    return t;
  }

  /** The rest of the tokens, taken one by one (for `inv qi`). */
  rest(): Token[] {
    const r = this.toks.slice(this.at);
    this.at = this.toks.length;
    return r;
  }

  /**
   * The remaining tokens as options of `form`: `keys` (ending in "=") and `flags`, in any order,
   * each at most once. `at` is the token a missing required option is reported at.
   */
  options(form: string, keys: readonly string[], flags: readonly string[], at: Token): Options {
    const found = new Map<string, Token>();
    for (const tok of this.rest()) {
      const eq = tok.text.indexOf("=");
      const key = eq < 0 ? tok.text : tok.text.slice(0, eq + 1);
      if (!(eq < 0 ? flags.includes(key) : keys.includes(key))) {
        const all = [...keys, ...flags];
        throw this.err(
          all.length === 0 ? `unexpected token ${quote(tok.text)}; ${form} takes nothing more` : `unknown token ${quote(tok.text)}; ${form} takes ${all.join(", ")}`,
          tok.column,
        );
      }
      if (found.has(key)) throw this.err(`duplicate token ${quote(key)}`, tok.column);
      found.set(key, tok);
    }
    return new Options(found, form, at, this.err);
  }
}

class Options {
  constructor(
    private readonly found: Map<string, Token>,
    private readonly form: string,
    private readonly at: Token,
    readonly err: MakeError,
  ) {}
  has(key: string): boolean {
    return this.found.has(key);
  }
  get(key: string): Token | undefined {
    return this.found.get(key);
  }
  /** The token of a required option. */
  need(key: string): Token {
    const t = this.found.get(key);
    if (t === undefined) throw this.err(`${this.form} needs ${key}`, this.at.column);
    return t;
  }
  /** The token of an option that `form` does not allow without `needed`; undefined when absent. */
  only(key: string, needed: string): Token | undefined {
    const t = this.found.get(key);
    if (t !== undefined && !this.found.has(needed)) throw this.err(`${quote(key)} needs ${needed}`, t.column);
    return t;
  }
}

/** The value of a key=value token (after the first "="), with its own column for errors. */
function valueOf(tok: Token): Token {
  const eq = tok.text.indexOf("=");
  return { text: tok.text.slice(eq + 1), column: tok.column + eq + 1 };
}

const INV_KINDS = "qi, cc, iotlb, devtlb, piotlb, pc, pdevtlb, iec, wait or reg";

function parseDriverEvent(op: DriverEvent["op"], a: Args, base: { line: number; column: number; time?: TimeStamp }): DriverEvent {
  const err = a.err;
  switch (op) {
    case "attach":
    case "detach": {
      const sid = parseDeviceBdf(a.next(`${BDF_HINT} after ${quote(op)}`), op, err);
      const o = op === "attach" ? a.options("attach BDF", ["pasid=", "domain="], ATTACH_FLAGS, a.keyword) : a.options("detach BDF", ["pasid="], [], a.keyword);
      const pasidTok = o.get("pasid=");
      const dev = { sid, ...(pasidTok !== undefined ? { pasid: parsePasidValue(pasidTok, err) } : {}) };
      if (op === "detach") return { ...base, op, ...dev };
      const domain = parseDomain(valueOf(o.need("domain=")), err);
      const flags = Object.fromEntries(ATTACH_FLAGS.map((f) => [f, o.has(f)])) as Record<(typeof ATTACH_FLAGS)[number], boolean>;
      return { ...base, op, ...dev, domain, ...flags };
    }
    case "flush":
      a.options("flush", [], [], a.keyword);
      return { ...base, op: "flush" };
    case "unmap": {
      const domain = parseDomain(a.next(`a domain id (decimal) after "unmap"`), err);
      const iovaTok = a.next("IOVA (hex) after the domain id");
      const iova = parseHex(iovaTok, "IOVA", err);
      const sizeTok = a.next("SIZE (bytes) after the IOVA");
      const size = parseSize(sizeTok, err);
      a.options("unmap DOMAIN IOVA SIZE", [], [], a.keyword);
      if (iova & 0xfffn) throw err(`IOVA 0x${iova.toString(16)} is not 4 KiB aligned`, iovaTok.column);
      if (size & 0xfffn) throw err(`SIZE 0x${size.toString(16)} is not a multiple of 4 KiB`, sizeTok.column);
      if (iova + size - 1n > MAX_ADDR) throw err("IOVA + SIZE is beyond 2^64", sizeTok.column);
      return { ...base, op: "unmap", domain, iova, size };
    }
    case "map": {
      const domain = parseDomain(a.next(`a domain id (decimal) after "map"`), err);
      const iovaTok = a.next("IOVA (hex) after the domain id");
      const iova = parseHex(iovaTok, "IOVA", err);
      const paTok = a.next("PA (hex) after the IOVA");
      const pa = parseHex(paTok, "PA", err);
      const sizeTok = a.next("SIZE (bytes) after the PA");
      const size = parseSize(sizeTok, err);
      const o = a.options("map", ["perm=", "page="], ["snp", "user", "sup", "global"], a.keyword);
      let perm = "rw";
      const permTok = o.get("perm=");
      if (permTok !== undefined) {
        perm = valueOf(permTok).text;
        if (!/^(?=.)r?w?x?$/.test(perm)) throw err(`expected perm= with letters of r, w, x in that order (e.g. perm=rw or perm=r), got ${quote(permTok.text)}`, permTok.column);
      }
      let page: PageSizeName = "4K";
      const pageTok = o.get("page=");
      if (pageTok !== undefined) {
        const v = valueOf(pageTok).text;
        if (v !== "4K" && v !== "2M" && v !== "1G") throw err(`expected page=4K, page=2M or page=1G, got ${quote(pageTok.text)}`, pageTok.column);
        page = v;
      }
      if (o.has("user") && o.has("sup")) throw err(`"user" and "sup" contradict each other`, Math.max(o.get("user")!.column, o.get("sup")!.column));
      const bytes = PAGE_BYTES[page];
      if (iova & (bytes - 1n)) throw err(`IOVA 0x${iova.toString(16)} is not aligned to the ${page} page size`, iovaTok.column);
      if (pa & (bytes - 1n)) throw err(`PA 0x${pa.toString(16)} is not aligned to the ${page} page size`, paTok.column);
      if (size & (bytes - 1n)) throw err(`SIZE 0x${size.toString(16)} is not a multiple of the ${page} page size`, sizeTok.column);
      if (iova + size - 1n > MAX_ADDR || pa + size - 1n > MAX_ADDR) throw err("the range is beyond 2^64", sizeTok.column);
      return { ...base, op: "map", domain, iova, pa, size, perm, page, snp: o.has("snp"), user: !o.has("sup"), global: o.has("global") };
    }
    case "inv":
      return { ...base, op: "inv", inv: parseInvalidation(a) };
  }
}

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

function parseDomain(tok: Token, err: MakeError): number {
  if (!/^[0-9]+$/.test(tok.text)) throw err(`expected a domain id (decimal, as in the scenario's build.domains), got ${quote(tok.text)}`, tok.column);
  const n = Number(tok.text);
  if (n > 0xffff) throw err(`domain id ${tok.text} is out of range (max 65535)`, tok.column);
  return n;
}

/** A hex value below 2^64, 0x optional (IOVA, PA, descriptor qwords). */
function parseHex(tok: Token, what: string, err: MakeError): bigint {
  const m = /^(?:0[xX])?([0-9a-fA-F]+)$/.exec(tok.text);
  if (m === null) throw err(`expected ${what} in hex (0x optional), got ${quote(tok.text)}`, tok.column);
  const v = BigInt("0x" + m[1]!);
  if (v > MAX_ADDR) throw err(`${what} ${tok.text} is out of range (max 0xffffffffffffffff)`, tok.column);
  return v;
}

function parseSize(tok: Token, err: MakeError): bigint {
  const n = parseUint(tok.text);
  if (n === undefined) throw err(`expected SIZE in bytes (decimal or 0x-hex), got ${quote(tok.text)}`, tok.column);
  if (n === 0n || n > MAX_ADDR) throw err(`SIZE ${tok.text} is out of range (1 to 2^64 - 1 bytes)`, tok.column);
  return n;
}

/** key=N with N decimal or 0x-hex, at most `max`. */
function parseBounded(tok: Token, name: string, max: bigint, err: MakeError): bigint {
  const v = valueOf(tok);
  const n = parseUint(v.text);
  if (n === undefined) throw err(`expected ${name}=N with N decimal or 0x-hex, got ${quote(tok.text)}`, tok.column);
  if (n > max) throw err(`${name} ${v.text} is out of range (max ${max <= 64n ? String(max) : "0x" + max.toString(16)})`, tok.column);
  return n;
}

function parseSmall(tok: Token, name: string, max: number, err: MakeError): number {
  return Number(parseBounded(tok, name, BigInt(max), err));
}

function parseDid(tok: Token, err: MakeError): number {
  return Number(parseBounded(tok, "did", 0xffffn, err));
}

function parsePasidValue(tok: Token, err: MakeError): number {
  return Number(parseBounded(tok, "pasid", BigInt(MAX_PASID), err));
}

/** The BDF of an attach/detach: a device of this DMAR unit, so segment 0. */
function parseDeviceBdf(tok: Token, op: string, err: MakeError): number {
  const sid = parseBdf(tok, err);
  if (sid > 0xffff) throw err(`${quote(op)} names a device of this unit's segment 0, got ${quote(tok.text)}`, tok.column);
  return sid;
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

function unknownToken(text: string, ats: boolean): string {
  if (text === "priv" || text === "exe") return `${quote(text)} must follow the pasid, as in pasid=1,${text}`;
  if (text.startsWith("@")) return `a timestamp must be the first token on the line, got ${quote(text)}`;
  return `unknown token ${quote(text)}; expected ${ats ? EXPECTED_ATS : EXPECTED_MEM}`;
}

function parseTime(tok: Token, err: MakeError): TimeStamp {
  const m = /^@(\d+(?:\.\d+)?)(ns|us)?$/.exec(tok.text);
  if (m === null) throw err(`expected ${TIME_HINT}, got ${quote(tok.text)}`, tok.column);
  const digits = m[1]!;
  const unit = m[2] as "ns" | "us" | undefined;
  const value = Number(digits);
  if (unit === undefined) {
    if (digits.includes(".")) {
      throw err(`cycle timestamps must be whole numbers, got ${quote(tok.text)}; add ns or us for a fractional time`, tok.column);
    }
    if (!Number.isSafeInteger(value)) {
      throw err(`timestamp ${quote(tok.text)} is too large (max @${Number.MAX_SAFE_INTEGER} cycles)`, tok.column);
    }
    return { value, unit: "cycles" };
  }
  if (!Number.isFinite(value)) throw err(`timestamp ${quote(tok.text)} is too large`, tok.column);
  return { value, unit };
}

function parseBdf(tok: Token, err: MakeError): number {
  const m = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-9a-fA-F])$/.exec(tok.text);
  if (m === null) throw err(`expected ${BDF_HINT}, got ${quote(tok.text)}`, tok.column);
  const segment = m[1] === undefined ? 0 : parseInt(m[1], 16);
  const bus = parseInt(m[2]!, 16);
  const device = parseInt(m[3]!, 16);
  const fn = parseInt(m[4]!, 16);
  if (device > 0x1f) throw err(`device 0x${m[3]} in BDF ${quote(tok.text)} is out of range (max 0x1f)`, tok.column);
  if (fn > 7) throw err(`function ${m[4]} in BDF ${quote(tok.text)} is out of range (max 7)`, tok.column);
  // Multiply rather than shift: segment << 16 would go negative for segments 0x8000 and up.
  return segment * 0x10000 + ((bus << 8) | (device << 3) | fn);
}

/** A decimal or 0x-hex unsigned integer, or undefined when `text` is neither. */
function parseUint(text: string): bigint | undefined {
  return /^(?:0[xX][0-9a-fA-F]+|[0-9]+)$/.test(text) ? BigInt(text) : undefined;
}

function parsePasid(tok: Token, value: string, err: MakeError): { pasid: number; priv: boolean; exe: boolean } {
  const [num = "", ...flags] = value.split(",");
  const n = parseUint(num);
  if (n === undefined) throw err(`expected pasid=N with N decimal or 0x-hex, got ${quote(tok.text)}`, tok.column);
  if (n > BigInt(MAX_PASID)) throw err(`pasid ${num} is out of range (max 0xfffff)`, tok.column);
  let priv = false;
  let exe = false;
  for (const flag of flags) {
    if (flag !== "priv" && flag !== "exe") {
      const what = flag === "" ? `an empty pasid flag in ${quote(tok.text)}` : `unknown pasid flag ${quote(flag)}`;
      throw err(`${what}; expected priv or exe after the comma`, tok.column);
    }
    if ((flag === "priv" && priv) || (flag === "exe" && exe)) throw err(`duplicate pasid flag ${quote(flag)}`, tok.column);
    if (flag === "priv") priv = true;
    else exe = true;
  }
  return { pasid: Number(n), priv, exe };
}

/** expect=N (a VT-d fault reason, decimal or 0x-hex, below 256) or expect=NAME (an SMMUv3 event type). */
function parseExpectation(tok: Token, value: string, err: MakeError): FaultExpectation {
  const n = parseUint(value);
  if (n !== undefined) {
    if (n > 0xffn) throw err(`expect=${value}: a VT-d fault reason is 0 to 0xff`, tok.column);
    return { arch: "vtd", code: Number(n) };
  }
  const id = Object.hasOwn(SMMU_EVENTS, value) ? SMMU_EVENTS[value] : undefined;
  if (id === undefined) {
    throw err(`expected expect= with a VT-d fault reason (e.g. expect=0x06) or an SMMUv3 event name (e.g. expect=F_TRANSLATION), got "${tok.text}"`, tok.column);
  }
  return { arch: "smmuv3", code: id };
}

function parseAddr(tok: Token, value: string, err: MakeError): bigint {
  const m = /^(?:0[xX])?([0-9a-fA-F]+)$/.exec(value);
  if (m === null) throw err(`expected addr=ADDR with ADDR in hex (0x optional), got ${quote(tok.text)}`, tok.column);
  const addr = BigInt("0x" + m[1]!);
  if (addr > MAX_ADDR) throw err(`addr ${value} is out of range (max 0xffffffffffffffff)`, tok.column);
  return addr;
}

function parseLen(tok: Token, value: string, err: MakeError): number {
  const n = parseUint(value);
  if (n === undefined) throw err(`expected len=BYTES with BYTES decimal or 0x-hex, got ${quote(tok.text)}`, tok.column);
  if (n < 1n || n > BigInt(MAX_LEN)) throw err(`len ${value} is out of range (expected 1 to ${MAX_LEN} bytes)`, tok.column);
  return Number(n);
}

/** A trace time as the text format writes it (`@1500`, `@12ns`, `@3.5us`). */
export function formatTime(t: TimeStamp): string {
  return `@${plainDecimal(t.value)}${t.unit === "cycles" ? "" : t.unit}`;
}

/** `String(n)` without exponent notation (1e21 -> "1000000000000000000000"); parses back to n. */
export function plainDecimal(n: number): string {
  const s = String(n);
  const m = /^(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (m === null) return s;
  const digits = m[1]! + (m[2] ?? "");
  const point = m[1]!.length + Number(m[3]);
  if (point <= 0) return "0." + "0".repeat(-point) + digits;
  if (point >= digits.length) return digits + "0".repeat(point - digits.length);
  return digits.slice(0, point) + "." + digits.slice(point);
}

/**
 * Compares two times of the same clock domain exactly (no floating-point rounding when comparing
 * ns with us): negative, zero or positive like a sort comparator.
 */
function compareTimes(a: TimeStamp, b: TimeStamp): number {
  // Each time as digits / 10^scale, in cycles or ns.
  const exact = (t: TimeStamp) => {
    const [int = "0", frac = ""] = plainDecimal(t.value).split(".");
    let digits = BigInt(int + frac);
    let scale = frac.length - (t.unit === "us" ? 3 : 0);
    if (scale < 0) {
      digits *= 10n ** BigInt(-scale);
      scale = 0;
    }
    return { digits, scale };
  };
  const x = exact(a);
  const y = exact(b);
  const scale = Math.max(x.scale, y.scale);
  const xd = x.digits * 10n ** BigInt(scale - x.scale);
  const yd = y.digits * 10n ** BigInt(scale - y.scale);
  return xd < yd ? -1 : xd > yd ? 1 : 0;
}
