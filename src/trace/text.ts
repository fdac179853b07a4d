/**
 * Trace text format v1: one TLP per line.
 *
 *   [@TIME] MRd|MWr BDF [pasid=N[,priv][,exe]] addr=ADDR [len=BYTES] [ns] [ro] [ido] [at=translated]
 *   [@TIME] ATS     BDF [pasid=N[,priv][,exe]] addr=ADDR [nw]
 *
 * `#` starts a comment that runs to the end of the line; blank lines are ignored; CRLF is accepted.
 *
 * - TIME is `@` and a whole number of cycles (`@1500`), or a decimal with a unit (`@12ns`, `@3.5us`).
 *   The value is kept in the unit it was written in. Times must not decrease from one line to the
 *   next (cycle times are checked against cycle times, ns/us times against ns/us times).
 * - BDF is `BB:DD.F` or `SSSS:BB:DD.F` in hex; it becomes `sid = segment<<16 | bus<<8 | device<<3 | function`.
 * - pasid N is decimal or 0x-hex, below 2^20; `,priv` and `,exe` may follow in either order.
 * - addr is hex (the `0x` is optional), below 2^64.
 * - len is decimal or 0x-hex bytes, 1 to 4096; 4 when omitted (and always 4 on ATS lines).
 * - The tokens after the BDF may come in any order, each at most once; `addr=` is required.
 *
 * Driver events (map, unmap, attach, detach, inv) are reserved and rejected for now.
 */
import { InputError } from "../errors.ts";

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
}

export const MAX_PASID = 0xfffff;
export const MAX_LEN = 4096;
export const DEFAULT_LEN = 4;
const MAX_ADDR = (1n << 64n) - 1n;

const BDF_HINT = "a BDF like 00:02.0 or 0000:00:02.0";
const TIME_HINT = "a timestamp like @1500, @12ns or @3.5us";
const DRIVER_EVENTS = new Set(["map", "unmap", "attach", "detach", "inv"]);
const EXPECTED_MEM = "pasid=, addr=, len=, ns, ro, ido, at=translated";
const EXPECTED_ATS = "pasid=, addr=, nw";

/** Parses a whole trace. `firstLine` is the line number of the first line of `text`. */
export function parseTraceText(text: string, file: string, firstLine = 1): TraceTlp[] {
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const out: TraceTlp[] = [];
  // The last timestamp seen in each clock domain; cycles and ns/us cannot be compared without a clock.
  const last = new Map<"cycles" | "wall", { time: TimeStamp; line: number }>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = firstLine + i;
    const parsed = parseLine(lines[i] ?? "", file, lineNo);
    if (parsed === null) continue;
    const { tlp, timeColumn } = parsed;
    if (tlp.time !== undefined) {
      const domain = tlp.time.unit === "cycles" ? "cycles" : "wall";
      const prev = last.get(domain);
      if (prev !== undefined && compareTimes(tlp.time, prev.time) < 0) {
        throw new InputError(
          `timestamp ${formatTime(tlp.time)} is earlier than ${formatTime(prev.time)} on line ${prev.line}; ` +
            "timestamps must not decrease",
          file,
          lineNo,
          timeColumn,
        );
      }
      last.set(domain, { time: tlp.time, line: lineNo });
    }
    out.push(tlp);
  }
  return out;
}

/** Parses one line; null when it is blank or only a comment. */
export function parseTraceLine(line: string, file: string, lineNo: number): TraceTlp | null {
  return parseLine(line, file, lineNo)?.tlp ?? null;
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
    if (t.len !== DEFAULT_LEN) parts.push(`len=${t.len}`);
    if (t.ns) parts.push("ns");
    if (t.ro) parts.push("ro");
    if (t.ido) parts.push("ido");
    if (t.translated) parts.push("at=translated");
  }
  return parts.join(" ");
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

function parseLine(line: string, file: string, lineNo: number): { tlp: TraceTlp; timeColumn: number } | null {
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
  if (opTok === undefined) throw err("expected an opcode (MRd, MWr or ATS) after the timestamp", endColumn);
  if (DRIVER_EVENTS.has(opTok.text)) {
    throw err("driver events (map, unmap, attach, detach, inv) are not supported yet", opTok.column);
  }
  if (opTok.text !== "MRd" && opTok.text !== "MWr" && opTok.text !== "ATS") {
    throw err(`unknown opcode "${opTok.text}"; expected MRd, MWr or ATS (case-sensitive)`, opTok.column);
  }
  const op = opTok.text;
  const ats = op === "ATS";

  const bdfTok = tokens[next++];
  if (bdfTok === undefined) throw err(`expected ${BDF_HINT} after "${op}"`, endColumn);
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
  const seen = new Set<string>();

  for (const tok of tokens.slice(next)) {
    const eq = tok.text.indexOf("=");
    // "pasid=", "addr=", "len=", "at=" for key=value tokens; the whole text for flags.
    const key = eq < 0 ? tok.text : tok.text.slice(0, eq + 1);
    const value = eq < 0 ? "" : tok.text.slice(eq + 1);
    switch (key) {
      case "pasid=":
      case "addr=":
        break;
      case "len=":
      case "ns":
      case "ro":
      case "ido":
      case "at=":
        if (ats) throw err(`"${key === "at=" ? tok.text : key}" is not allowed on ATS lines (only on MRd and MWr)`, tok.column);
        break;
      case "nw":
        if (!ats) throw err(`"nw" is only allowed on ATS lines`, tok.column);
        break;
      default:
        throw err(unknownToken(tok.text, ats), tok.column);
    }
    if (seen.has(key)) throw err(`duplicate token "${key}"`, tok.column);
    seen.add(key);

    switch (key) {
      case "pasid=":
        ({ pasid, priv, exe } = parsePasid(tok, value, err));
        break;
      case "addr=":
        addr = parseAddr(tok, value, err);
        break;
      case "len=":
        len = parseLen(tok, value, err);
        break;
      case "at=":
        if (value !== "translated") throw err(`expected at=translated, got "${tok.text}"`, tok.column);
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
  };
  return { tlp, timeColumn: first.column };
}

function unknownToken(text: string, ats: boolean): string {
  if (text === "priv" || text === "exe") return `"${text}" must follow the pasid, as in pasid=1,${text}`;
  if (text.startsWith("@")) return `a timestamp must be the first token on the line, got "${text}"`;
  return `unknown token "${text}"; expected ${ats ? EXPECTED_ATS : EXPECTED_MEM}`;
}

function parseTime(tok: Token, err: MakeError): TimeStamp {
  const m = /^@(\d+(?:\.\d+)?)(ns|us)?$/.exec(tok.text);
  if (m === null) throw err(`expected ${TIME_HINT}, got "${tok.text}"`, tok.column);
  const digits = m[1]!;
  const unit = m[2] as "ns" | "us" | undefined;
  const value = Number(digits);
  if (unit === undefined) {
    if (digits.includes(".")) {
      throw err(`cycle timestamps must be whole numbers, got "${tok.text}"; add ns or us for a fractional time`, tok.column);
    }
    if (!Number.isSafeInteger(value)) {
      throw err(`timestamp "${tok.text}" is too large (max @${Number.MAX_SAFE_INTEGER} cycles)`, tok.column);
    }
    return { value, unit: "cycles" };
  }
  if (!Number.isFinite(value)) throw err(`timestamp "${tok.text}" is too large`, tok.column);
  return { value, unit };
}

function parseBdf(tok: Token, err: MakeError): number {
  const m = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-9a-fA-F])$/.exec(tok.text);
  if (m === null) throw err(`expected ${BDF_HINT}, got "${tok.text}"`, tok.column);
  const segment = m[1] === undefined ? 0 : parseInt(m[1], 16);
  const bus = parseInt(m[2]!, 16);
  const device = parseInt(m[3]!, 16);
  const fn = parseInt(m[4]!, 16);
  if (device > 0x1f) throw err(`device 0x${m[3]} in BDF "${tok.text}" is out of range (max 0x1f)`, tok.column);
  if (fn > 7) throw err(`function ${m[4]} in BDF "${tok.text}" is out of range (max 7)`, tok.column);
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
  if (n === undefined) throw err(`expected pasid=N with N decimal or 0x-hex, got "${tok.text}"`, tok.column);
  if (n > BigInt(MAX_PASID)) throw err(`pasid ${num} is out of range (max 0xfffff)`, tok.column);
  let priv = false;
  let exe = false;
  for (const flag of flags) {
    if (flag !== "priv" && flag !== "exe") {
      const what = flag === "" ? `an empty pasid flag in "${tok.text}"` : `unknown pasid flag "${flag}"`;
      throw err(`${what}; expected priv or exe after the comma`, tok.column);
    }
    if ((flag === "priv" && priv) || (flag === "exe" && exe)) throw err(`duplicate pasid flag "${flag}"`, tok.column);
    if (flag === "priv") priv = true;
    else exe = true;
  }
  return { pasid: Number(n), priv, exe };
}

function parseAddr(tok: Token, value: string, err: MakeError): bigint {
  const m = /^(?:0[xX])?([0-9a-fA-F]+)$/.exec(value);
  if (m === null) throw err(`expected addr=ADDR with ADDR in hex (0x optional), got "${tok.text}"`, tok.column);
  const addr = BigInt("0x" + m[1]!);
  if (addr > MAX_ADDR) throw err(`addr ${value} is out of range (max 0xffffffffffffffff)`, tok.column);
  return addr;
}

function parseLen(tok: Token, value: string, err: MakeError): number {
  const n = parseUint(value);
  if (n === undefined) throw err(`expected len=BYTES with BYTES decimal or 0x-hex, got "${tok.text}"`, tok.column);
  if (n < 1n || n > BigInt(MAX_LEN)) throw err(`len ${value} is out of range (expected 1 to ${MAX_LEN} bytes)`, tok.column);
  return Number(n);
}

function formatTime(t: TimeStamp): string {
  return `@${plainDecimal(t.value)}${t.unit === "cycles" ? "" : t.unit}`;
}

/** `String(n)` without exponent notation (1e21 -> "1000000000000000000000"); parses back to n. */
function plainDecimal(n: number): string {
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
