/**
 * Binary trace format (`.itb` or `.bin`; versions 1 and 2): the text format v1's events
 * (src/trace/text.ts) in fixed-size little-endian records, for speed. `iommu-emu convert` goes both
 * ways without loss: every TLP field (time value and unit, op, sid with its segment, pasid presence
 * and value, priv, exe, addr, len, ns, ro, ido, at=translated, nw, expect) and every driver event field (map, unmap, flush,
 * attach, detach, and each architecture's commands, e.g. every VT-d `inv` form with all its operands,
 * raw descriptor qwords included) has a place here.
 *
 * A file is a 32-byte header, then 32-byte records. A TLP record holds the fields of the core's
 * request record (src/core/abi.ts `Req`, 24 bytes) with room to spare: the trace's own time in TIME
 * (64 bits) and its unit in FLAGS bits 13:12, the expected fault in FLAGS bits 23:14. The replay
 * reads records in blocks of up to 512 without objects: a run of plain TLP records (a cycle time or
 * none, no expected fault) is checked in one loop and converted into the request ring in another
 * (src/replay/request-writer.ts putBlock: the arrival cycle, the delta from the batch's base); any
 * other record goes through the per-record path, which raises the located errors.
 *
 * Header (all fields little-endian):
 * ```
 *  byte  0  u8[8]  magic        89 49 54 42 0D 0A 1A 0A  ("\x89ITB\r\n\x1A\n": not text; catches
 *                                                         CRLF/LF mangling and 7-bit transfers)
 *  byte  8  u16    version      2, or 1 when no record uses what version 2 added (the writer
 *                               writes the lowest version that holds the trace; a reader refuses a
 *                               newer version)
 *  byte 10  u16    headerBytes  32 (records start here; a reader skips header fields it does not know)
 *  byte 12  u16    recordBytes  32
 *  byte 14  u16    flags        bit 0 COUNTS: `records` and `tlps` are valid (the writer always sets
 *                               it; without it a reader takes the record count from the file size)
 *  byte 16  u64    records      records after the header, extension records included
 *  byte 24  u64    tlps         TLP records among them
 * ```
 *
 * TLP record (KIND 0 MRd, 1 MWr, 2 ATS):
 * ```
 *  byte  0  u64  ADDR    address (IOVA, GVA or translated address)
 *  byte  8  u64  TIME    UNIT 0: 0 (no time); 1 cycles: an integer <= 2^53 - 1;
 *                        2 ns, 3 us: the IEEE-754 binary64 bits of the value (finite, >= +0)
 *  byte 16  u32  SID     segment<<16 | bus<<8 | device<<3 | function
 *  byte 20  u32  PASID   0..0xFFFFF when P is set, else 0
 *  byte 24  u32  LEN     bytes, 1..4096 (4 on ATS); (ADDR mod 4096) + LEN <= 4096 on MRd/MWr
 *                        (PCIe Base 2.2.7: a request must not cross a 4 KiB boundary)
 *  byte 28  u32  FLAGS
 *
 *    31    24 23      16  15   14  13  12 11  10   9    8    7    6    5    4    3   2    0
 *   +--------+----------+----+----+------+---+----+----+----+----+----+----+----+---+------+
 *   |   0    |  REASON  |SMMU| X  | UNIT | 0 | NW | TR |IDO | RO | NS |EXE |PRIV| P | KIND |
 *   +--------+----------+----+----+------+---+----+----+----+----+----+----+----+---+------+
 *   P pasid present; PRIV, EXE need P; TR at=translated; NS, RO, IDO, TR only on MRd/MWr; NW only on ATS.
 *   Version 2: X an expected fault (`expect=`): REASON is a VT-d fault reason, or with SMMU an SMMUv3
 *   event type (one with a name); REASON and SMMU are 0 without X. Version 1: bits 31:14 are 0.
 * ```
 *
 * Driver-event record (KIND 4), followed by EXT extension records (KIND 5):
 * ```
 *  byte  0  u64  A       first 64-bit operand (table below)
 *  byte  8  u64  TIME    as in a TLP record
 *  byte 16  u32  B       \
 *  byte 20  u32  C        } operands (table below); unused operands are 0
 *  byte 24  u32  D       /
 *  byte 28  u32  FLAGS
 *
 *    31    28 27    24 23          16 15 14 13  12 11                  3 2    0
 *   +--------+--------+--------------+-----+------+---------------------+------+
 *   |   0    |  EXT   |      OP      |  0  | UNIT |          0          |  4   |
 *   +--------+--------+--------------+-----+------+---------------------+------+
 *
 *  extension record: byte 0 u64 Q0, byte 8 u64 Q1, byte 16 u64 Q2, byte 24 u32 0, byte 28 u32 FLAGS = 5
 * ```
 *
 * | OP | event (text form)            | A      | B       | C     | D                                                     | EXT: Q0 Q1 Q2 |
 * |----|------------------------------|--------|---------|-------|-------------------------------------------------------|---------------|
 * |  1 | map DOMAIN IOVA PA SIZE      | IOVA   | DOMAIN  | 0     | perm r 0, w 1, x 2; page 5:4 (0 4K, 1 2M, 2 1G); snp 8; sup 9; global 10 | 1: PA SIZE 0 |
 * |  2 | unmap DOMAIN IOVA SIZE       | IOVA   | DOMAIN  | 0     | 0                                                     | 1: SIZE 0 0   |
 * |  3 | flush [D]                    | D      | 0       | 0     | D given 0                                             | 0             |
 * |  4 | attach BDF [pasid=N] domain=D | D     | sid     | pasid | P 0; ats 1; pri 2; pgsnp 3; fpd 4; sre 5; ere 6       | 0             |
 * |  5 | detach BDF [pasid=N]         | 0      | sid     | pasid | P 0                                                   | 0             |
 * |  6 | replace BDF [pasid=N] domain=D | D    | sid     | pasid | P 0                                                   | 0             |
 * | 4, 5, 6 | attach / detach / replace group=N [domain=D] | D (detach 0) | N | 0 | G 7 (B is a group number, not a sid; every other D bit 0) | 0 |
 * |  7 | bind BDF DRIVER              | 0      | sid     | 0     | 0                                                     | 1: DRIVER's ASCII bytes, little-endian, 0-padded (24 at most) |
 * |  8 | unbind BDF                   | 0      | sid     | 0     | 0                                                     | 0             |
 * |  9 | domain-alloc D KIND [format=F] [parent=P] [invalidation=I] | D | KIND (0 paging, 1 nested, 2 identity, 3 blocking) | P | parent 0; format 7:4 (0 none, 1 ss, 2 fs, 3 s1, 4 s2); invalidation 9:8 (0 none, 1 strict, 2 lazy) | 0 |
 * | 10 | pasid-alloc VM [BDF]         | 0      | sid     | 0     | P 0 (BDF given)                                       | 1: VM's ASCII bytes as bind's DRIVER |
 * | 11 | pasid-free VM PASID [BDF]    | 0      | sid     | PASID | P 0 (BDF given)                                       | 1: VM as for 10 |
 * | 12 | quota VM N                   | N      | 0       | 0     | 0                                                     | 1: VM as for 10 |
 * | 13 | enforce-coherency D          | D      | 0       | 0     | 0                                                     | 0             |
 * | 14 | mdev BDF vm=VM               | 0      | sid     | 0     | 0                                                     | 1: VM as for 10 |
 * | 14 | mdev-remove BDF vm=VM        | 0      | sid     | 0     | R 0 (remove)                                          | 1: VM as for 10 |
 * (bind with vm=NAME: EXT 2, the second extension record holds NAME as the first holds DRIVER)
 * | 16..255 | an architecture's driver command (VT-d `inv`: OP 16..24) | its trace-commands module's table (src/arch/vtd/trace-commands.ts) | | | | |
 *
 * Every bit not named is 0 and a reader refuses a record where it is not: a file has one encoding
 * of a trace, so binary -> text -> binary gives the same bytes. A record is valid exactly when its
 * event is (the same ranges and alignments as the text parser checks; driver events are checked by
 * formatting them as text and parsing that). Record numbers in messages count from 1 after the
 * header (record N is at byte 32 * N); `line` in TLP objects and per-TLP results from a binary
 * trace is the record number.
 */
import { InputError } from "../errors.ts";
import { openInput, type ByteSource } from "../io/input.ts";
import { OutputFile } from "../io/output.ts";
import { exactDecimal } from "../util/decimal.ts";
import { formatEvent, parseTraceEvent } from "./text.ts";
import {
  isTlp,
  ATTACH_FLAGS,
  DOMAIN_FORMATS,
  DOMAIN_KINDS,
  INVALIDATION_MODES,
  DEFAULT_LEN,
  MAX_LEN,
  MAX_PASID,
  isGroupEvent,
  type DriverEvent,
  type DriverEventBase,
  type GroupEvent,
  type PageSizeName,
  type TimeStamp,
  type TraceEvent,
  type TraceTlp,
  crossesPage,
  smmuEventName,
} from "./events.ts";
import { formatTime } from "./syntax.ts";
import { commandFor, commandForOp } from "./commands.ts";
import { u32Operand, type EventOperands } from "./command.ts";
import { readTlpsInto, type TlpSink, type TraceReader } from "./reader.ts";

export type { TlpSink, TraceReader } from "./reader.ts";

export const MAGIC = Uint8Array.of(0x89, 0x49, 0x54, 0x42, 0x0d, 0x0a, 0x1a, 0x0a);
/** The newest version this code reads and writes; version 1 files are read too. */
export const VERSION = 2;
export const HEADER_BYTES = 32;
export const RECORD_BYTES = 32;
/** 32-bit words per record. */
export const RECORD_WORDS = RECORD_BYTES / 4;
export const HeaderFlag = { COUNTS: 1 } as const;

/** Record kinds (FLAGS bits 2:0); 0..2 are the request kinds of src/core/abi.ts ReqKind. */
export const RecKind = { MRD: 0, MWR: 1, ATS: 2, EVENT: 4, EXT: 5 } as const;
/** TLP flag bits: the same as the request record's (abi ReqFlag). */
export const RecFlag = {
  KIND_MASK: 0x7,
  PASID: 1 << 3,
  PRIV: 1 << 4,
  EXE: 1 << 5,
  NS: 1 << 6,
  RO: 1 << 7,
  IDO: 1 << 8,
  TRANSLATED: 1 << 9,
  NW: 1 << 10,
  UNIT_SHIFT: 12,
  UNIT_MASK: 3 << 12,
  /** Version 2: an expected fault; its REASON in bits 23:16, an SMMUv3 event type with EXPECT_SMMU. */
  EXPECT: 1 << 14,
  EXPECT_SMMU: 1 << 15,
  EXPECT_SHIFT: 16,
  EXPECT_REASON: 0xff << 16,
} as const;
/** Time units in FLAGS bits 13:12. */
export const TimeUnit = { NONE: 0, CYCLES: 1, NS: 2, US: 3 } as const;
/** Bits of a TLP record's FLAGS the request ring keeps (everything else is this format's own). */
export const REQ_FLAGS_MASK = 0x7ff;
const TLP_FLAGS_VALID = REQ_FLAGS_MASK | RecFlag.UNIT_MASK;
/** FLAGS bits a version 1 TLP record must not have (bit 11 and 31:14); the scan's fast path leaves them to checkTlpRecord. */
const TLP_FLAGS_BAD = ~TLP_FLAGS_VALID | 0;
/** FLAGS bits a version 2 TLP record must not have (bit 11 and 31:24). */
const TLP_FLAGS_BAD_V2 = ~(TLP_FLAGS_VALID | RecFlag.EXPECT | RecFlag.EXPECT_SMMU | RecFlag.EXPECT_REASON) | 0;
/** FLAGS bits that take a record off the scan's fast path: KIND bit 1 (ATS, or not a TLP), P, PRIV, EXE, NW, ns/us (bit 13), reserved. */
const SLOW_FLAGS = TLP_FLAGS_BAD | 0x2 | 0x4 | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 10) | (1 << 13);
/**
 * Opcodes of the neutral driver events (FLAGS bits 23:16 of a KIND 4 record); 16..255 are the
 * architectures' commands' (src/trace/commands.ts).
 */
export const EventOp = {
  MAP: 1,
  UNMAP: 2,
  FLUSH: 3,
  ATTACH: 4,
  DETACH: 5,
  REPLACE: 6,
  BIND: 7,
  UNBIND: 8,
  DOMAIN_ALLOC: 9,
  PASID_ALLOC: 10,
  PASID_FREE: 11,
  QUOTA: 12,
  ENFORCE_COHERENCY: 13,
  MDEV: 14,
} as const;

/** D bit 7 of OP 4-6: operand B is an IOMMU group's number (`attach group=N ...`), not a sid. */
const GROUP_BIT = 1 << 7;

/** A bind's driver name as the extension record's three qwords: its ASCII bytes, little-endian, zero-padded (at most 24). */
function packName(name: string): bigint[] {
  if (name.length > 24 || !/^[\x21-\x7e]*$/.test(name)) throw new RangeError(`name "${name}" is not 1 to 24 printable ASCII characters`);
  const q = [0n, 0n, 0n];
  for (let i = 0; i < name.length; i++) q[i >> 3]! |= BigInt(name.charCodeAt(i)) << BigInt(8 * (i & 7));
  return q;
}

/** The driver name of a bind's extension record; bytes after the first 0 must be 0 too (checked by the round trip). */
function unpackName(q: readonly bigint[]): string {
  let out = "";
  for (let i = 0; i < 24; i++) {
    const c = Number((q[i >> 3]! >> BigInt(8 * (i & 7))) & 0xffn);
    if (c === 0) break;
    out += String.fromCharCode(c);
  }
  return out;
}

const TWO32 = 4294967296;
const MASK32 = 0xffffffffn;
// Module-local copies for the hot loops: imported bindings may compile to getter calls (tsx).
const MAX_PASID_ = MAX_PASID;
const MAX_LEN_ = MAX_LEN;
const DEFAULT_LEN_ = DEFAULT_LEN;
const F_PASID = 1 << 3, F_PRIV = 1 << 4, F_EXE = 1 << 5, F_NS = 1 << 6, F_RO = 1 << 7, F_IDO = 1 << 8, F_TR = 1 << 9, F_NW = 1 << 10;
const opKinds = ["MRd", "MWr", "ATS"] as const;
const unitNames = [undefined, "cycles", "ns", "us"] as const;

// ---- errors ---------------------------------------------------------------------------------------

/** A bad record of a binary trace: `file:record N: message` (record N is at byte 32 * N). */
export class RecordError extends InputError {
  constructor(
    detail: string,
    readonly traceFile: string,
    readonly record: number,
  ) {
    super(detail, traceFile);
    this.message = `${traceFile}:record ${record}: ${detail}`;
  }
}

// ---- time order (the text parser's rule, for the streaming readers and the writer) ---------------

/** a - b in sign, exactly, for two wall-clock times (ns or us). */
function compareWall(aValue: number, aUnit: number, bValue: number, bUnit: number): number {
  if (aUnit === bUnit) return aValue < bValue ? -1 : aValue > bValue ? 1 : 0;
  const a = exactDecimal(aValue), b = exactDecimal(bValue);
  // value in ns = digits / 10^scale x (1000 for us)
  const an = a.digits * (aUnit === TimeUnit.US ? 1000n : 1n) * 10n ** BigInt(b.scale);
  const bn = b.digits * (bUnit === TimeUnit.US ? 1000n : 1n) * 10n ** BigInt(a.scale);
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/**
 * Times must not decrease from one event to the next: cycle times among themselves, ns and us
 * times among themselves (text.ts parseTraceLines; the same rule and message).
 */
export class TimeOrder {
  // The latest time of each clock domain and where it was (line or record); the record scanners
  // (ingestTlpRecords, the text fast path) read and write them directly.
  cycles = -1;
  cyclesAt = 0;
  /** 0 when no ns/us time was seen yet. */
  wallUnit = 0;
  wallValue = 0;
  wallAt = 0;

  /** `where` is "on line" (text) or "at record" (binary). */
  constructor(private readonly where: string) {}

  /** Last cycle time seen (-1: none): a fast path may compare with it and then call `cyclesSeen`. */
  get lastCycles(): number {
    return this.cycles;
  }

  cyclesSeen(value: number, at: number): void {
    this.cycles = value;
    this.cyclesAt = at;
  }

  /** Checks and records a time at line/record `at`; the message when it goes backwards. */
  check(unit: number, value: number, at: number): string | undefined {
    if (unit === TimeUnit.NONE) return undefined;
    if (unit === TimeUnit.CYCLES) {
      if (value < this.cycles) return this.message(value, unit, this.cycles, TimeUnit.CYCLES, this.cyclesAt);
      this.cycles = value;
      this.cyclesAt = at;
      return undefined;
    }
    if (this.wallUnit !== 0 && compareWall(value, unit, this.wallValue, this.wallUnit) < 0)
      return this.message(value, unit, this.wallValue, this.wallUnit, this.wallAt);
    this.wallUnit = unit;
    this.wallValue = value;
    this.wallAt = at;
    return undefined;
  }

  private message(value: number, unit: number, prev: number, prevUnit: number, prevAt: number): string {
    const t = (v: number, u: number) => formatTime({ value: v, unit: unitNames[u]! });
    return `timestamp ${t(value, unit)} is earlier than ${t(prev, prevUnit)} ${this.where} ${prevAt}; timestamps must not decrease`;
  }
}

// ---- record codecs --------------------------------------------------------------------------------

const f64 = new Float64Array(1);
const f64w = new Uint32Array(f64.buffer);

function unitOf(t: TimeStamp | undefined): number {
  return t === undefined ? TimeUnit.NONE : t.unit === "cycles" ? TimeUnit.CYCLES : t.unit === "ns" ? TimeUnit.NS : TimeUnit.US;
}

/** Writes a time into words o+2, o+3 of `w`; returns the unit. Throws RangeError when it cannot be expressed. */
function putTime(w: Uint32Array, o: number, t: TimeStamp | undefined): number {
  const unit = unitOf(t);
  if (t === undefined) {
    w[o + 2] = 0;
    w[o + 3] = 0;
  } else if (unit === TimeUnit.CYCLES) {
    if (!Number.isSafeInteger(t.value) || t.value < 0) throw new RangeError(`bad time ${t.value} cycles`);
    w[o + 2] = t.value >>> 0;
    w[o + 3] = Math.floor(t.value / TWO32);
  } else {
    if (!Number.isFinite(t.value) || t.value < 0) throw new RangeError(`bad time ${t.value} ${t.unit}`);
    f64[0] = t.value === 0 ? 0 : t.value; // +0 for -0
    w[o + 2] = f64w[0]!;
    w[o + 3] = f64w[1]!;
  }
  return unit;
}

/** The time in words o+2, o+3 with `unit`, or a message why it is not a valid time. */
function getTime(w: Uint32Array, o: number, unit: number): number | string {
  const lo = w[o + 2]!, hi = w[o + 3]!;
  if (unit === TimeUnit.NONE) return lo === 0 && hi === 0 ? 0 : "TIME is not 0 in a record without a time";
  if (unit === TimeUnit.CYCLES) return hi < 0x200000 ? hi * TWO32 + lo : "cycle TIME is above 2^53 - 1";
  if (hi >= 0x7ff00000) return "TIME is not a finite non-negative number (sign bit, infinity or NaN)";
  f64w[0] = lo;
  f64w[1] = hi;
  return f64[0]!;
}

/**
 * Encodes a TLP as the record at word `o` of `w` (time raw, unit in FLAGS). Throws a RangeError
 * for a TLP the format cannot express (the same cases as formatTlp).
 */
export function encodeTlpRecord(w: Uint32Array, o: number, t: TraceTlp): void {
  const bad = (what: string): never => {
    throw new RangeError(`cannot encode the TLP from line ${t.line}: ${what}`);
  };
  const kind = t.op === "MRd" ? RecKind.MRD : t.op === "MWr" ? RecKind.MWR : t.op === "ATS" ? RecKind.ATS : bad(`bad op ${String(t.op)}`);
  if (!Number.isInteger(t.sid) || t.sid < 0 || t.sid > 0xffffffff) bad(`sid ${t.sid} out of range`);
  if (typeof t.addr !== "bigint" || t.addr < 0n || t.addr > 0xffffffffffffffffn) bad(`addr ${String(t.addr)} out of range`);
  let f: number = kind;
  if (t.pasid !== undefined) {
    if (!Number.isInteger(t.pasid) || t.pasid < 0 || t.pasid > MAX_PASID) bad(`pasid ${t.pasid} out of range`);
    f |= RecFlag.PASID;
    if (t.priv) f |= RecFlag.PRIV;
    if (t.exe) f |= RecFlag.EXE;
  } else if (t.priv || t.exe) bad("priv/exe need a pasid");
  if (kind === RecKind.ATS) {
    if (t.len !== DEFAULT_LEN) bad(`len ${t.len} on an ATS request`);
    if (t.ns || t.ro || t.ido || t.translated) bad("ns/ro/ido/at=translated on an ATS request");
    if (t.nw) f |= RecFlag.NW;
  } else {
    if (!Number.isInteger(t.len) || t.len < 1 || t.len > MAX_LEN) bad(`len ${t.len} out of range`);
    if (t.nw) bad(`nw on ${t.op}`);
    if (t.ns) f |= RecFlag.NS;
    if (t.ro) f |= RecFlag.RO;
    if (t.ido) f |= RecFlag.IDO;
    if (t.translated) f |= RecFlag.TRANSLATED;
    const crossing = crossesPage(t.addr, t.len);
    if (crossing !== undefined) bad(crossing);
  }
  if (t.expect !== undefined) {
    const { arch, code } = t.expect;
    if (arch === "smmuv3" ? smmuEventName(code) === undefined : !Number.isInteger(code) || code < 0 || code > 0xff)
      bad(`expect ${arch} 0x${code.toString(16)} cannot be written`);
    f |= RecFlag.EXPECT | (arch === "smmuv3" ? RecFlag.EXPECT_SMMU : 0) | (code << RecFlag.EXPECT_SHIFT);
  }
  let unit: number;
  try {
    unit = putTime(w, o, t.time);
  } catch (e) {
    return bad((e as Error).message);
  }
  w[o] = Number(t.addr & MASK32);
  w[o + 1] = Number(t.addr >> 32n);
  w[o + 4] = t.sid >>> 0;
  w[o + 5] = t.pasid ?? 0;
  w[o + 6] = t.len;
  w[o + 7] = f | (unit << RecFlag.UNIT_SHIFT);
}

/**
 * Why the TLP record at word `o` of a file of `version` is not valid, or undefined when it is (its
 * kind must be 0..2). Time order is checked separately (TimeOrder).
 */
export function checkTlpRecord(w: Uint32Array, o: number, version = VERSION): string | undefined {
  const f = w[o + 7]!;
  const kind = f & RecFlag.KIND_MASK;
  if ((f & (version >= 2 ? TLP_FLAGS_BAD_V2 : TLP_FLAGS_BAD)) !== 0) return `reserved FLAGS bits set (0x${(f >>> 0).toString(16)})`;
  if (f & RecFlag.EXPECT) {
    const reason = (f & RecFlag.EXPECT_REASON) >>> RecFlag.EXPECT_SHIFT;
    if (f & RecFlag.EXPECT_SMMU && smmuEventName(reason) === undefined) return `expected SMMUv3 event type 0x${reason.toString(16)} has no name`;
  } else if (f & (RecFlag.EXPECT_SMMU | RecFlag.EXPECT_REASON)) return "SMMU or REASON set without X (no expected fault)";
  if (f & RecFlag.PASID) {
    if (w[o + 5]! > MAX_PASID) return `PASID 0x${w[o + 5]!.toString(16)} is out of range (max 0xfffff)`;
  } else {
    if (f & (RecFlag.PRIV | RecFlag.EXE)) return "PRIV or EXE without a PASID (P clear)";
    if (w[o + 5] !== 0) return "PASID is not 0 with P clear";
  }
  const len = w[o + 6]!;
  if (kind === RecKind.ATS) {
    if (len !== DEFAULT_LEN) return `LEN ${len} on an ATS request (must be 4)`;
    if (f & (RecFlag.NS | RecFlag.RO | RecFlag.IDO | RecFlag.TRANSLATED)) return "NS, RO, IDO or TR on an ATS request";
  } else {
    if (len < 1 || len > MAX_LEN) return `LEN ${len} is out of range (1 to ${MAX_LEN})`;
    if (f & RecFlag.NW) return `NW on ${opKinds[kind]}`;
    const crossing = crossesPage((BigInt(w[o + 1]!) << 32n) | BigInt(w[o]!), len);
    if (crossing !== undefined) return crossing;
  }
  const t = getTime(w, o, (f & RecFlag.UNIT_MASK) >>> RecFlag.UNIT_SHIFT);
  return typeof t === "string" ? t : undefined;
}

/** The TLP of the (valid) record at word `o`; `line` is its line or record number. */
export function decodeTlpRecord(w: Uint32Array, o: number, line: number): TraceTlp {
  const f = w[o + 7]!;
  const unit = (f & RecFlag.UNIT_MASK) >>> RecFlag.UNIT_SHIFT;
  const t: TraceTlp = { line, op: opKinds[f & RecFlag.KIND_MASK]!, sid: w[o + 4]!, priv: false, exe: false, addr: (BigInt(w[o + 1]!) << 32n) | BigInt(w[o]!), len: w[o + 6]!, ns: false, ro: false, ido: false, translated: false, nw: false };
  if (unit !== TimeUnit.NONE) t.time = { value: getTime(w, o, unit) as number, unit: unitNames[unit]! };
  if (f & RecFlag.PASID) t.pasid = w[o + 5]!;
  if (f & RecFlag.PRIV) t.priv = true;
  if (f & RecFlag.EXE) t.exe = true;
  if (f & RecFlag.NS) t.ns = true;
  if (f & RecFlag.RO) t.ro = true;
  if (f & RecFlag.IDO) t.ido = true;
  if (f & RecFlag.TRANSLATED) t.translated = true;
  if (f & RecFlag.NW) t.nw = true;
  if (f & RecFlag.EXPECT) t.expect = { arch: f & RecFlag.EXPECT_SMMU ? "smmuv3" : "vtd", code: (f & RecFlag.EXPECT_REASON) >>> RecFlag.EXPECT_SHIFT };
  return t;
}

const pageCodes: Record<PageSizeName, number> = { "4K": 0, "2M": 1, "1G": 2 };
const pageNames: PageSizeName[] = ["4K", "2M", "1G"];

function put64(w: Uint32Array, o: number, v: bigint): void {
  w[o] = Number(v & MASK32);
  w[o + 1] = Number((v >> 32n) & MASK32);
}

function get64(w: Uint32Array, o: number): bigint {
  return (BigInt(w[o + 1]!) << 32n) | BigInt(w[o]!);
}

/**
 * The records of a driver event (one, or two with an extension record). Throws a RangeError for an
 * event the format cannot express; the caller checks that the event is valid (encodeDriverEvent).
 */
function eventRecords(e: DriverEvent): Uint32Array {
  let op = 0, a = 0n, b = 0, c = 0, d = 0;
  let ext: bigint[] | undefined;
  const u32 = u32Operand;
  switch (e.op) {
    case "map":
      op = EventOp.MAP;
      a = e.iova;
      b = u32(e.domain, "domain");
      if (!/^(?=.)r?w?x?$/.test(e.perm)) throw new RangeError(`bad perm "${e.perm}"`);
      if (pageCodes[e.page] === undefined) throw new RangeError(`bad page size ${String(e.page)}`);
      d = (e.perm.includes("r") ? 1 : 0) | (e.perm.includes("w") ? 2 : 0) | (e.perm.includes("x") ? 4 : 0) | (pageCodes[e.page] << 4);
      d |= (e.snp ? 1 << 8 : 0) | (e.user ? 0 : 1 << 9) | (e.global ? 1 << 10 : 0);
      ext = [e.pa, e.size, 0n];
      break;
    case "unmap":
      op = EventOp.UNMAP;
      a = e.iova;
      b = u32(e.domain, "domain");
      ext = [e.size, 0n, 0n];
      break;
    case "flush":
      op = EventOp.FLUSH;
      if (e.domain !== undefined) (a = BigInt(u32(e.domain, "domain"))), (d = 1);
      break;
    case "attach":
    case "detach":
    case "replace":
      if (isGroupEvent(e)) {
        op = e.op === "attach" ? EventOp.ATTACH : e.op === "detach" ? EventOp.DETACH : EventOp.REPLACE;
        b = u32(e.group, "group");
        d = GROUP_BIT;
        if (e.op !== "detach") a = BigInt(u32(e.domain, "domain"));
        break;
      }
      if (e.op === "replace") {
        op = EventOp.REPLACE;
        a = BigInt(u32(e.domain, "domain"));
        b = u32(e.sid, "sid");
        if (e.pasid !== undefined) (c = u32(e.pasid, "pasid")), (d = 1);
        break;
      }
      op = e.op === "attach" ? EventOp.ATTACH : EventOp.DETACH;
      b = u32(e.sid, "sid");
      if (e.pasid !== undefined) (c = u32(e.pasid, "pasid")), (d = 1);
      if (e.op === "attach") {
        a = BigInt(u32(e.domain, "domain"));
        ATTACH_FLAGS.forEach((f, i) => {
          if (e[f]) d |= 2 << i;
        });
      }
      break;
    case "bind":
      op = EventOp.BIND;
      b = u32(e.sid, "sid");
      ext = packName(e.driver);
      if (e.vm !== undefined) ext.push(...packName(e.vm));
      break;
    case "mdev":
    case "mdev-remove":
      op = EventOp.MDEV;
      b = u32(e.sid, "sid");
      d = e.op === "mdev-remove" ? 1 : 0;
      ext = packName(e.vm);
      break;
    case "pasid-alloc":
    case "pasid-free":
    case "quota":
      op = e.op === "pasid-alloc" ? EventOp.PASID_ALLOC : e.op === "pasid-free" ? EventOp.PASID_FREE : EventOp.QUOTA;
      ext = packName(e.vm);
      if (e.op === "quota") a = BigInt(u32(e.quota, "quota"));
      else {
        if (e.sid !== undefined) (b = u32(e.sid, "sid")), (d = 1);
        if (e.op === "pasid-free") c = u32(e.pasid, "pasid");
      }
      break;
    case "unbind":
      op = EventOp.UNBIND;
      b = u32(e.sid, "sid");
      break;
    case "domain-alloc":
      op = EventOp.DOMAIN_ALLOC;
      a = BigInt(u32(e.domain, "domain"));
      b = DOMAIN_KINDS.indexOf(e.kind);
      if (e.parent !== undefined) (c = u32(e.parent, "parent")), (d = 1);
      if (e.format !== undefined) d |= (DOMAIN_FORMATS.indexOf(e.format) + 1) << 4;
      if (e.invalidation !== undefined) d |= (INVALIDATION_MODES.indexOf(e.invalidation) + 1) << 8;
      break;
    case "enforce-coherency":
      op = EventOp.ENFORCE_COHERENCY;
      a = BigInt(u32(e.domain, "domain"));
      break;
    default: {
      const command = commandFor(e.op);
      if (command === undefined) throw new RangeError(`unknown driver event ${String((e as { op: unknown }).op)}`);
      const x: EventOperands = command.encode(e);
      ({ op, a, b, c, d } = x);
      ext = x.ext ? [...x.ext] : undefined;
    }
  }
  const n = 1 + (ext ? ext.length / 3 : 0);
  const w = new Uint32Array(n * RECORD_WORDS);
  for (const v of [a, ...(ext ?? [])]) if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`0x${v.toString(16)} is out of range`);
  put64(w, 0, a);
  const unit = putTime(w, 0, e.time);
  w[4] = b;
  w[5] = c;
  w[6] = d;
  w[7] = RecKind.EVENT | (unit << RecFlag.UNIT_SHIFT) | (op << 16) | ((n - 1) << 24);
  for (let k = 0; ext && k < ext.length / 3; k++) {
    const x = (k + 1) * RECORD_WORDS;
    put64(w, x, ext[3 * k]!);
    put64(w, x + 2, ext[3 * k + 1]!);
    put64(w, x + 4, ext[3 * k + 2]!);
    w[x + 7] = RecKind.EXT;
  }
  return w;
}

/**
 * The records of a valid driver event. Throws a RangeError naming what is wrong for an event the
 * text format would not accept (so that every file the writer makes can be read back).
 */
export function encodeDriverEvent(e: DriverEvent): Uint32Array {
  const text = formatEvent(e); // RangeError for what the format cannot express
  try {
    parseTraceEvent(text, "event", 1);
  } catch (err) {
    if (err instanceof InputError) throw new RangeError(`cannot encode the ${e.op} event from line ${e.line}: ${stripWhere(err)}`);
    throw err;
  }
  return eventRecords(e);
}

/** An InputError's message without its "file:line:col: " prefix. */
function stripWhere(err: InputError): string {
  const prefix = InputError.format("", err.file, err.line, err.column);
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}

/** Number of extension records a driver-event record says follow it. */
export function extensionCount(flags: number): number {
  return (flags >>> 24) & 0xf;
}

/**
 * The driver event in the records at word `o` of `w` (the event record and its extension
 * records), or a message saying why they are not a valid event. `line` is its record number.
 */
export function decodeDriverEvent(w: Uint32Array, o: number, line: number): DriverEvent | string {
  const f = w[o + 7]!;
  const op = (f >>> 16) & 0xff;
  const n = extensionCount(f);
  const unit = (f & RecFlag.UNIT_MASK) >>> RecFlag.UNIT_SHIFT;
  if ((f & 0xf000cff8) !== 0) return `reserved FLAGS bits set in a driver-event record (0x${(f >>> 0).toString(16)})`;
  for (let k = 1; k <= n; k++) {
    const x = o + k * RECORD_WORDS;
    if (w[x + 7] !== RecKind.EXT) return `record ${line + k} should be extension record ${k} of ${n} of this driver event (FLAGS 0x5), FLAGS is 0x${w[x + 7]!.toString(16)}`;
  }
  const time = getTime(w, o, unit);
  if (typeof time === "string") return time;
  const a = get64(w, o), b = w[o + 4]!, c = w[o + 5]!, d = w[o + 6]!;
  const q = (k: number) => (n >= 1 + Math.floor(k / 3) ? get64(w, o + RECORD_WORDS * (1 + Math.floor(k / 3)) + 2 * (k % 3)) : 0n);
  const base: DriverEventBase = { line, column: 0, ...(unit !== TimeUnit.NONE ? { time: { value: time, unit: unitNames[unit]! } } : {}) };
  let e: DriverEvent;
  switch (op) {
    case EventOp.MAP:
      e = {
        ...base,
        op: "map",
        domain: b,
        iova: a,
        pa: q(0),
        size: q(1),
        perm: (d & 1 ? "r" : "") + (d & 2 ? "w" : "") + (d & 4 ? "x" : ""),
        page: pageNames[(d >>> 4) & 3] ?? ("?" as PageSizeName),
        snp: (d & (1 << 8)) !== 0,
        user: (d & (1 << 9)) === 0,
        global: (d & (1 << 10)) !== 0,
      };
      break;
    case EventOp.UNMAP:
      e = { ...base, op: "unmap", domain: b, iova: a, size: q(0) };
      break;
    case EventOp.FLUSH:
      if (a > 0xffffn) return `flush of domain ${a} (max 65535)`;
      e = { ...base, op: "flush", ...(d & 1 ? { domain: Number(a) } : {}) };
      break;
    case EventOp.ATTACH:
    case EventOp.DETACH:
    case EventOp.REPLACE:
      if (d & GROUP_BIT) {
        // Every other bit of D and C is 0 (checked by the re-encoding below).
        if (a > 0xffffn) return `${op === EventOp.DETACH ? "detach" : op === EventOp.ATTACH ? "attach" : "replace"} group with domain ${a} (max 65535)`;
        e = op === EventOp.DETACH ? { ...base, op: "detach", group: b } : ({ ...base, op: op === EventOp.ATTACH ? "attach" : "replace", group: b, domain: Number(a) } as GroupEvent);
        break;
      }
      if (op === EventOp.REPLACE) {
        if (a > 0xffffn) return `replace with domain ${a} (max 65535)`;
        e = { ...base, op: "replace", sid: b, ...(d & 1 ? { pasid: c } : {}), domain: Number(a) };
        break;
      }
    {
      const dev = { sid: b, ...(d & 1 ? { pasid: c } : {}) };
      if (op === EventOp.DETACH) {
        e = { ...base, op: "detach", ...dev };
        break;
      }
      if (a > 0xffffn) return `attach with domain ${a} (max 65535)`;
      const flags = Object.fromEntries(ATTACH_FLAGS.map((f, i) => [f, (d & (2 << i)) !== 0])) as Record<(typeof ATTACH_FLAGS)[number], boolean>;
      e = { ...base, op: "attach", ...dev, domain: Number(a), ...flags };
      break;
    }
    case EventOp.BIND:
      e = { ...base, op: "bind", sid: b, driver: unpackName([q(0), q(1), q(2)]), ...(n >= 2 ? { vm: unpackName([q(3), q(4), q(5)]) } : {}) };
      break;
    case EventOp.MDEV:
      e = { ...base, op: d & 1 ? "mdev-remove" : "mdev", sid: b, vm: unpackName([q(0), q(1), q(2)]) };
      break;
    case EventOp.PASID_ALLOC:
    case EventOp.PASID_FREE:
    case EventOp.QUOTA: {
      const vm = unpackName([q(0), q(1), q(2)]);
      const dev = d & 1 ? { sid: b } : {};
      if (op === EventOp.QUOTA) {
        if (a > 0x100000n) return `quota ${a} (max 1048576)`;
        e = { ...base, op: "quota", vm, quota: Number(a) };
      } else e = op === EventOp.PASID_ALLOC ? { ...base, op: "pasid-alloc", vm, ...dev } : { ...base, op: "pasid-free", vm, pasid: c, ...dev };
      break;
    }
    case EventOp.UNBIND:
      e = { ...base, op: "unbind", sid: b };
      break;
    case EventOp.DOMAIN_ALLOC: {
      const kind = DOMAIN_KINDS[b];
      if (kind === undefined) return `domain-alloc with kind ${b} (0 paging, 1 nested, 2 identity, 3 blocking)`;
      if (a > 0xffffn) return `domain-alloc of domain ${a} (max 65535)`;
      const fi = (d >>> 4) & 0xf;
      const format = fi === 0 ? undefined : DOMAIN_FORMATS[fi - 1];
      if (fi !== 0 && format === undefined) return `domain-alloc with format ${fi} (1 ss, 2 fs, 3 s1, 4 s2)`;
      const ii = (d >>> 8) & 3;
      const invalidation = ii === 0 ? undefined : INVALIDATION_MODES[ii - 1];
      if (ii !== 0 && invalidation === undefined) return `domain-alloc with invalidation ${ii} (1 strict, 2 lazy)`;
      e = {
        ...base,
        op: "domain-alloc",
        domain: Number(a),
        kind,
        ...(format !== undefined ? { format } : {}),
        ...(d & 1 ? { parent: c } : {}),
        ...(invalidation !== undefined ? { invalidation } : {}),
      };
      break;
    }
    case EventOp.ENFORCE_COHERENCY:
      if (a > 0xffffn) return `enforce-coherency of domain ${a} (max 65535)`;
      e = { ...base, op: "enforce-coherency", domain: Number(a) };
      break;
    default: {
      const command = commandForOp(op);
      if (command === undefined) return `unknown driver-event OP ${op}`;
      const x = command.decode({ op, a, b, c, d, ext: [q(0), q(1), q(2)] }, base);
      if (typeof x === "string") return x;
      e = x;
    }
  }
  // Valid as text, and this is its only encoding (every unused bit and operand 0).
  let text: string;
  let parsed: TraceEvent | null;
  try {
    text = formatEvent(e);
    parsed = parseTraceEvent(text, "", line);
  } catch (err) {
    if (err instanceof InputError) return `the ${e.op} event is not valid: ${stripWhere(err)}`;
    if (err instanceof RangeError) return err.message.replace(/^cannot format the ([\w-]+) event from line \d+: /, "the $1 event is not valid: ");
    throw err;
  }
  if (parsed === null || isTlp(parsed)) return "not a driver event";
  const again = eventRecords(e);
  for (let k = 0; k < again.length; k++) {
    if (again[k] !== w[o + k]) return `the ${e.op} event has non-zero bits in unused fields (${text} is encoded otherwise)`;
  }
  return { ...parsed, column: 0 };
}

// ---- header ---------------------------------------------------------------------------------------

export interface BinaryHeader {
  version: number;
  headerBytes: number;
  recordBytes: number;
  flags: number;
  /** Records after the header (from the header when COUNTS is set). */
  records?: number;
  tlps?: number;
}

/** True when `bytes` starts with the binary format's magic. */
export function hasMagic(bytes: Uint8Array): boolean {
  if (bytes.length < MAGIC.length) return false;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return false;
  return true;
}

export function encodeHeader(records: number, tlps: number, version = VERSION): Uint8Array {
  const h = new Uint8Array(HEADER_BYTES);
  const v = new DataView(h.buffer);
  h.set(MAGIC, 0);
  v.setUint16(8, version, true);
  v.setUint16(10, HEADER_BYTES, true);
  v.setUint16(12, RECORD_BYTES, true);
  v.setUint16(14, HeaderFlag.COUNTS, true);
  v.setBigUint64(16, BigInt(records), true);
  v.setBigUint64(24, BigInt(tlps), true);
  return h;
}

/** Reads and checks a header; throws an InputError naming the file. */
export function decodeHeader(h: Uint8Array, file: string): BinaryHeader {
  const fail = (m: string): never => {
    throw new InputError(m, file);
  };
  if (h.length < 16 || !hasMagic(h)) fail(`not a binary trace (no "\\x89ITB\\r\\n\\x1a\\n" magic at the start); text traces end in .trace or .txt`);
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const version = v.getUint16(8, true);
  const headerBytes = v.getUint16(10, true);
  const recordBytes = v.getUint16(12, true);
  const flags = v.getUint16(14, true);
  if (version === 0 || version > VERSION) fail(`binary trace version ${version} is not supported (this reader knows versions 1 to ${VERSION})`);
  if (headerBytes < HEADER_BYTES || headerBytes % 8 !== 0) fail(`bad header size ${headerBytes} (at least ${HEADER_BYTES}, a multiple of 8)`);
  if (recordBytes !== RECORD_BYTES) fail(`bad record size ${recordBytes} (version ${version} records are ${RECORD_BYTES} bytes)`);
  if (flags & ~HeaderFlag.COUNTS) fail(`unknown header flags 0x${flags.toString(16)}`);
  if (h.length < HEADER_BYTES) fail(`the header is truncated (${h.length} of ${HEADER_BYTES} bytes)`);
  const out: BinaryHeader = { version, headerBytes, recordBytes, flags };
  if (flags & HeaderFlag.COUNTS) {
    const records = v.getBigUint64(16, true), tlps = v.getBigUint64(24, true);
    if (records > BigInt(Number.MAX_SAFE_INTEGER) || tlps > records) fail(`bad record counts in the header (${records} records, ${tlps} TLPs)`);
    out.records = Number(records);
    out.tlps = Number(tlps);
  }
  return out;
}

// ---- reader ---------------------------------------------------------------------------------------

/** Set by ingestTlpRecords: it stopped because the sink refused a record. */
let refused = false;

/**
 * Whether the record at word `o` of `w` (FLAGS `f`) is a TLP whose fields are valid exactly as
 * checkTlpRecord says, its time aside (the callers check TIME by unit). Small, for the hot loops.
 */
function tlpFieldsValid(w: Uint32Array, o: number, f: number): boolean {
  // MRd or MWr without PASID or NW, no time or a cycle time: the common case
  if ((f & SLOW_FLAGS) === 0) return w[o + 5] === 0 && w[o + 6]! - 1 >>> 0 < MAX_LEN_ && (w[o]! & 0xfff) + w[o + 6]! <= 0x1000;
  const kind = f & 7;
  if (kind > 2 || (f & TLP_FLAGS_BAD) !== 0) return false;
  if (f & F_PASID) {
    if (w[o + 5]! > MAX_PASID_) return false;
  } else if (w[o + 5] !== 0 || (f & (F_PRIV | F_EXE)) !== 0) return false;
  const len = w[o + 6]!;
  if (kind === 2) return len === DEFAULT_LEN_ && (f & (F_NS | F_RO | F_IDO | F_TR)) === 0;
  return len !== 0 && len <= MAX_LEN_ && (f & F_NW) === 0 && (w[o]! & 0xfff) + len <= 0x1000;
}

/**
 * The per-record loop of the binary reader: checks TLP records k, k+1, ... < lim of `w` (`d` is a
 * Float64Array over the same buffer, at offset 0) exactly as checkTlpRecord does, and their times
 * against `order`, which it updates (`base` is the record number of record 0), and offers each
 * valid one to `sink` as soon as it is checked: one pass over each record. Returns the index of the
 * first record it does not take (or lim): the sink refused it (`refused` is then set), or it is not
 * a TLP, not valid, a time going backwards, or the first ns/us time after none or after the other
 * unit (the caller checks those with checkTlpRecord and TimeOrder.check, exactly).
 */
function ingestTlpRecords(w: Uint32Array, d: Float64Array, k: number, lim: number, order: TimeOrder, base: number, sink: TlpSink): number {
  let cycles = order.cycles, cyclesAt = -1;
  const wallUnit = order.wallUnit;
  let wall = order.wallValue, wallAt = -1;
  refused = false;
  for (; k < lim; k++) {
    const o = k << 3;
    const f = w[o + 7]!;
    if (!tlpFieldsValid(w, o, f)) break;
    let v = -1;
    const unit = (f >>> 12) & 3;
    if (unit === 1) {
      const hi = w[o + 3]!;
      if (hi >= 0x200000) break;
      v = hi * TWO32 + w[o + 2]!;
      if (v < cycles) break;
    } else if (unit === 0) {
      if ((w[o + 2]! | w[o + 3]!) !== 0) break;
    } else {
      if (unit !== wallUnit || w[o + 3]! >= 0x7ff00000) break;
      const x = d[(o >>> 1) + 1]!;
      if (x < wall) break;
      if (!sink.put(w, o, base + k)) {
        refused = true;
        break;
      }
      wall = x;
      wallAt = k;
      continue;
    }
    if (!sink.put(w, o, base + k)) {
      refused = true;
      break;
    }
    if (v >= 0) {
      cycles = v;
      cyclesAt = k;
    }
  }
  if (cyclesAt >= 0) {
    order.cycles = cycles;
    order.cyclesAt = base + cyclesAt;
  }
  if (wallAt >= 0) {
    order.wallValue = wall;
    order.wallAt = base + wallAt;
  }
  return k;
}

/** Set by scanTlpRecords: the last cycle time of the records it took and its record index (-1: none had one). */
let scanCycles = 0;
let scanCyclesAt = -1;

/**
 * The check of the bulk path (TlpSink.putBlock): how many TLP records from k (< lim) of `w` are
 * valid exactly as checkTlpRecord says, with a cycle time not before `cycles` and the one before
 * it, or no time, and no expected fault. Returns the index of the first that is not (or lim);
 * writes nothing. That record goes to the per-record path (ingestTlpRecords), which takes it if it
 * is valid (an ns/us time, an expected fault) and otherwise stops with checkTlpRecord's message.
 */
function scanTlpRecords(w: Uint32Array, k: number, lim: number, cycles: number): number {
  let at = -1;
  for (; k < lim; k++) {
    const o = k << 3;
    const f = w[o + 7]!;
    // An ns/us time (bit 13) or an expected fault (a bit TLP_FLAGS_BAD holds) ends the run.
    if ((f & 0x2000) !== 0 || !tlpFieldsValid(w, o, f)) break;
    if (f & 0x1000) {
      const hi = w[o + 3]!;
      if (hi >= 0x200000) break;
      const v = hi * TWO32 + w[o + 2]!;
      if (v < cycles) break;
      cycles = v;
      at = k;
    } else if ((w[o + 2]! | w[o + 3]!) !== 0) break;
  }
  scanCycles = cycles;
  scanCyclesAt = at;
  return k;
}

/** Records per run of the bulk path: 16 KiB, checked and converted while they are in the CPU's L1 cache. */
const BLOCK_RECORDS = 512;

/** Records per read: 1 MiB. */
const CHUNK_RECORDS = 32768;

export interface BinaryReaderOptions {
  /** Skip bad records (a driver event with its extension records) instead of stopping. */
  skipBad?: boolean;
  /** Records per read (tests). */
  chunkRecords?: number;
}

/**
 * Streams a binary trace in 1 MiB chunks of a byte source (src/io/input.ts: a file, standard input,
 * gzip or zstd decompressed); each TLP record is checked and handed to the caller's sink (the
 * replay's request-ring writer) in the same pass, never made into an object. Memory stays flat.
 *
 * A file read as it is has a known size: a truncated file and counts that disagree with it are
 * refused before the first record. A stream (standard input, a pipe, compressed data) is checked
 * the same way when it ends.
 */
export class BinaryTraceReader implements TraceReader {
  readonly format = "binary";
  readonly header: BinaryHeader;
  /** The file name for messages ("standard input" for `-`). */
  readonly file: string;
  /** Records after the header: known from the start for a file read as it is, else once the input has ended. */
  records: number | undefined;
  readonly skipped: { line: number; reason: string }[] = [];
  private readonly src: ByteSource;
  private readonly buf: Uint8Array;
  private readonly w: Uint32Array;
  private readonly d: Float64Array;
  /** Records in `buf` and the next one to use. */
  private avail = 0;
  private pos = 0;
  /** Record number (1-based) of buf's first record. */
  private base = 1;
  /** Records read from the input so far, and whether it has ended. */
  private fetched = 0;
  private ended = false;
  private readonly order = new TimeOrder("at record");
  private readonly skipBad: boolean;
  private closed = false;

  /** `file`: a path or `-` (opened with src/io/input.ts openInput), or a byte source. */
  constructor(file: string | ByteSource, opts: BinaryReaderOptions = {}) {
    this.skipBad = opts.skipBad ?? false;
    this.src = typeof file === "string" ? openInput(file, "a trace file") : file;
    this.file = this.src.name;
    try {
      const head = new Uint8Array(HEADER_BYTES);
      const got = this.readFully(head, 0, HEADER_BYTES);
      this.header = decodeHeader(head.subarray(0, got), this.file);
      // Header fields this reader does not know are skipped.
      for (let skip = this.header.headerBytes - HEADER_BYTES; skip > 0; ) {
        const n = this.readFully(new Uint8Array(Math.min(skip, 1 << 16)), 0, Math.min(skip, 1 << 16));
        if (n === 0) throw new InputError(`the file is truncated: no room for the header`, this.file);
        skip -= n;
      }
      const size = this.src.size;
      if (size !== undefined) {
        const body = size - this.header.headerBytes;
        if (body < 0 || body % RECORD_BYTES !== 0) this.truncated(body);
        this.records = body / RECORD_BYTES;
        this.checkCount(this.records);
      }
      const chunk = opts.chunkRecords ?? CHUNK_RECORDS;
      this.buf = new Uint8Array(new ArrayBuffer((chunk + 16) * RECORD_BYTES));
      this.w = new Uint32Array(this.buf.buffer);
      this.d = new Float64Array(this.buf.buffer);
    } catch (e) {
      this.src.close();
      throw e;
    }
  }

  private truncated(body: number): never {
    throw new InputError(`the file is truncated: ${body < 0 ? "no room for the header" : `${body % RECORD_BYTES} bytes after record ${Math.floor(body / RECORD_BYTES)} do not make a whole record`}`, this.file);
  }

  private checkCount(records: number): void {
    if (this.header.records !== undefined && this.header.records !== records)
      throw new InputError(`the header says ${this.header.records} records, the file holds ${records} (truncated or appended to)`, this.file);
  }

  /** Reads until `bytes` bytes are in `buf` at `at` or the input ends; how many were read. */
  private readFully(buf: Uint8Array, at: number, bytes: number): number {
    let got = 0;
    while (got < bytes) {
      const n = this.src.read(buf, at + got, bytes - got);
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  get done(): boolean {
    return this.pos === this.avail && (this.fetched === this.records || this.ended);
  }

  get progress(): { done: number; total: number } {
    if (this.src.size === undefined) return this.src.progress;
    return { done: this.header.headerBytes + (this.base - 1 + this.pos) * RECORD_BYTES, total: this.src.size };
  }

  errorAt(message: string, line: number): InputError {
    return new RecordError(message, this.file, line);
  }

  /** Makes at least `need` records available from `pos` (fewer at the end of the input); false when none are. */
  private fill(need: number): boolean {
    if (this.avail - this.pos >= need) return true;
    if (this.fetched === this.records || this.ended) return this.pos < this.avail;
    // Keep what is left at the front, then read as much as fits.
    const left = this.avail - this.pos;
    if (left > 0) this.buf.copyWithin(0, this.pos * RECORD_BYTES, this.avail * RECORD_BYTES);
    this.base += this.pos;
    this.pos = 0;
    this.avail = left;
    const room = Math.min(this.buf.length / RECORD_BYTES - left, (this.records ?? Infinity) - this.fetched);
    const want = room * RECORD_BYTES;
    const got = this.readFully(this.buf, left * RECORD_BYTES, want);
    if (got < want) {
      if (this.records !== undefined) throw new InputError("the file ended early (it shrank while being read)", this.file);
      // The end of a stream: whole records only, as many as the header says.
      this.ended = true;
      const records = this.fetched + Math.floor(got / RECORD_BYTES);
      if (got % RECORD_BYTES !== 0) this.truncated(records * RECORD_BYTES + (got % RECORD_BYTES));
      this.checkCount(records);
      this.records = records;
    }
    const n = Math.floor(got / RECORD_BYTES);
    this.avail += n;
    this.fetched += n;
    return this.avail - this.pos > 0;
  }

  private bad(record: number, message: string): void {
    if (!this.skipBad) throw new RecordError(message, this.file, record);
    this.skipped.push({ line: record, reason: message });
  }

  readRequests(sink: TlpSink): number {
    const w = this.w;
    const block = sink.putBlock !== undefined;
    let n = 0;
    while (this.fill(1)) {
      const start = this.pos;
      let lim = this.avail;
      if (block) {
        // The bulk path: a run of plain TLP records checked in one loop, then converted by the
        // sink in one loop. The record that ends the run goes through the per-record path below.
        const m = scanTlpRecords(w, start, Math.min(lim, start + BLOCK_RECORDS), this.order.cycles);
        if (m > start) {
          const took = sink.putBlock!(w, start, m, this.base + start);
          this.cyclesTaken(start, start + took, m);
          n += took;
          this.pos = start + took;
          if (took < m - start) break; // the sink refused one: it stays the next record
          continue;
        }
        lim = start + 1;
      }
      // Valid TLPs in time order, each checked and put in one go; the loop stops at anything else
      // (a driver event, a bad record, a time going backwards, the first ns/us time) and we look at
      // that record here, or where the sink refused one.
      const k = ingestTlpRecords(w, this.d, start, lim, this.order, this.base, sink);
      n += k - start;
      this.pos = k;
      if (refused) break;
      if (k === lim) continue;
      const o = k * RECORD_WORDS;
      if ((w[o + 7]! & RecFlag.KIND_MASK) > 2) break; // a driver event is next
      const bad = checkTlpRecord(w, o, this.header.version) ?? this.timeProblem(o, this.base + k);
      if (bad !== undefined) {
        // stop at it, or skip it and go on
        this.pos = k + 1;
        this.bad(this.base + k, bad);
        continue;
      }
      // Its time is recorded already: offered again after a refusal, it checks the same.
      if (!sink.put(w, o, this.base + k)) break;
      this.pos = k + 1;
      n++;
    }
    return n;
  }

  /**
   * Time order after the sink took records start..end-1 of a run start..m-1 that scanTlpRecords
   * checked: the last cycle time among them (the run's, when it took them all).
   */
  private cyclesTaken(start: number, end: number, m: number): void {
    let at = -1, cycles = 0;
    if (end === m) (at = scanCyclesAt), (cycles = scanCycles);
    else {
      const w = this.w;
      for (let k = end - 1; k >= start; k--) {
        const o = k << 3;
        if (w[o + 7]! & 0x1000) {
          at = k;
          cycles = w[o + 3]! * TWO32 + w[o + 2]!;
          break;
        }
      }
    }
    if (at >= 0) this.order.cyclesSeen(cycles, this.base + at);
  }

  readTlps(dst: Uint32Array, lines: Float64Array, max: number): number {
    return readTlpsInto(this, dst, lines, max);
  }

  /** Checks (and records) the time of the TLP record at word o; the message when it goes backwards. */
  private timeProblem(o: number, at: number): string | undefined {
    const unit = (this.w[o + 7]! & RecFlag.UNIT_MASK) >>> RecFlag.UNIT_SHIFT;
    return this.order.check(unit, getTime(this.w, o, unit) as number, at);
  }

  readDriverEvent(): DriverEvent | undefined {
    for (;;) {
      if (!this.fill(1)) return undefined;
      const o = this.pos * RECORD_WORDS;
      const f = this.w[o + 7]!;
      const kind = f & RecFlag.KIND_MASK;
      if (kind <= 2) return undefined;
      const at = this.base + this.pos;
      if (kind !== RecKind.EVENT) {
        this.pos++;
        this.bad(at, kind === RecKind.EXT ? "an extension record without a driver-event record before it" : `unknown record kind ${kind} (FLAGS 0x${f.toString(16)})`);
        continue;
      }
      const ext = extensionCount(f);
      this.fill(1 + ext);
      const o2 = this.pos * RECORD_WORDS;
      if (this.avail - this.pos < 1 + ext) {
        this.pos = this.avail;
        this.bad(at, `the driver event needs ${ext} extension records; the file ends first`);
        continue;
      }
      const e = decodeDriverEvent(this.w, o2, at);
      if (typeof e === "string") {
        // skipped with its extension records (when they are there)
        let k = 1;
        while (k <= ext && (this.w[o2 + k * RECORD_WORDS + 7]! & RecFlag.KIND_MASK) === RecKind.EXT) k++;
        this.pos += k > ext ? 1 + ext : 1;
        this.bad(at, e);
        continue;
      }
      const why = e.time ? this.order.check(unitOf(e.time), e.time.value, at) : undefined;
      this.pos += 1 + ext;
      if (why !== undefined) {
        this.bad(at, why);
        continue;
      }
      return e;
    }
  }

  close(): void {
    if (!this.closed) this.src.close();
    this.closed = true;
  }
}

// ---- writer ---------------------------------------------------------------------------------------

/**
 * Writes a binary trace through src/io/output.ts: to a temporary file renamed over the target only
 * on commit() (abort() removes it), with the header's counts written last; or, to a pipe, a device
 * or standard output (`-`), straight through, with a header that has no counts (flags 0: a reader
 * then counts the records itself), since nothing written there can be rewritten.
 */
export class BinaryTraceWriter {
  private readonly out: OutputFile;
  private readonly buf = new Uint32Array(CHUNK_RECORDS * RECORD_WORDS);
  private readonly bytes = new Uint8Array(this.buf.buffer);
  private used = 0; // records in buf
  private records = 0;
  tlps = 0;
  driverEvents = 0;
  /** The header's version: 1 until a record needs version 2 (an expected fault). */
  private version = 1;
  private readonly order = new TimeOrder("on record");
  private done = false;

  /** `to`: a path (or `-`), or an output already opened. */
  constructor(to: string | OutputFile) {
    this.out = typeof to === "string" ? OutputFile.openSync(to) : to;
    // A header that cannot be rewritten at the end (a pipe, a device, standard output) has no counts
    // and says version 2, which every record may need (an expected fault); a file's is rewritten.
    if (!this.out.seekable) this.version = 2;
    const header = encodeHeader(0, 0, this.version);
    if (!this.out.seekable) new DataView(header.buffer).setUint16(14, 0, true); // no counts
    this.out.write(header);
  }

  get path(): string {
    return this.out.path;
  }

  private room(n: number): void {
    if (this.used + n > CHUNK_RECORDS) this.flush();
  }

  private flush(): void {
    if (this.used === 0) return;
    this.out.write(this.bytes.slice(0, this.used * RECORD_BYTES));
    this.used = 0;
  }

  private checkTime(t: TimeStamp | undefined, what: string): void {
    if (t === undefined) return;
    const why = this.order.check(unitOf(t), t.value, this.records + 1);
    if (why !== undefined) throw new RangeError(`${what}: ${why}`);
  }

  /** Appends a TLP or a driver event; a RangeError for one the format cannot express (or out of time order). */
  write(e: TraceEvent): void {
    if (isTlp(e)) {
      this.room(1);
      encodeTlpRecord(this.buf, this.used * RECORD_WORDS, e);
      this.checkTime(e.time, `the TLP from line ${e.line}`);
      if (e.expect !== undefined) this.version = 2;
      this.used++;
      this.records++;
      this.tlps++;
      return;
    }
    const r = encodeDriverEvent(e);
    this.checkTime(e.time, `the ${e.op} event from line ${e.line}`);
    const n = r.length / RECORD_WORDS;
    this.room(n);
    this.buf.set(r, this.used * RECORD_WORDS);
    this.used += n;
    this.records += n;
    this.driverEvents++;
  }

  /**
   * Appends `n` TLP records from `src` (RECORD_WORDS words each, from a TraceReader: valid and in
   * time order).
   */
  writeTlpRecords(src: Uint32Array, n: number): void {
    for (let at = 0; at < n; ) {
      this.room(1);
      const k = Math.min(n - at, CHUNK_RECORDS - this.used);
      this.buf.set(src.subarray(at * RECORD_WORDS, (at + k) * RECORD_WORDS), this.used * RECORD_WORDS);
      // Keep the writer's own time-order state current (the next event is checked against it).
      for (let j = 0; j < k; j++) {
        const o = (this.used + j) * RECORD_WORDS;
        if (this.buf[o + 7]! & RecFlag.EXPECT) this.version = 2;
        const unit = (this.buf[o + 7]! & RecFlag.UNIT_MASK) >>> RecFlag.UNIT_SHIFT;
        if (unit !== TimeUnit.NONE) this.order.check(unit, getTime(this.buf, o, unit) as number, this.records + j + 1);
      }
      this.used += k;
      this.records += k;
      this.tlps += k;
      at += k;
    }
  }

  /** Writes the counts into the header (when the output can be rewritten) and makes the file visible under its final name. */
  commit(): void {
    if (this.done) return;
    this.flush();
    if (this.out.seekable) this.out.writeAt(encodeHeader(this.records, this.tlps, this.version), 0);
    this.out.commit();
    this.done = true;
  }

  /** Removes the temporary file; the target is left as it was. */
  abort(): void {
    if (this.done) return;
    this.out.abort();
    this.done = true;
  }
}
