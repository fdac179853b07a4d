/**
 * Trace text format v1: one event per line, TLPs and driver events interleaved in time order.
 *
 *   [@TIME] MRd|MWr BDF [pasid=N[,priv][,exe]] addr=ADDR [len=BYTES] [ns] [ro] [ido] [at=translated] [expect=FAULT]
 *   [@TIME] ATS     BDF [pasid=N[,priv][,exe]] addr=ADDR [nw] [expect=FAULT]
 *   [@TIME] map DOMAIN IOVA PA SIZE [perm=rwx] [page=4K|2M|1G] [snp] [user|sup] [global]
 *   [@TIME] unmap DOMAIN IOVA SIZE
 *   [@TIME] flush [D]
 *   [@TIME] inv ...                 (VT-d; src/arch/vtd/trace-commands.ts)
 *   [@TIME] attach BDF [pasid=N] domain=D [ats] [pri] [pgsnp] [fpd] [sre] [ere]
 *   [@TIME] detach BDF [pasid=N]
 *   [@TIME] replace BDF [pasid=N] domain=D
 *   [@TIME] attach group=N domain=D | detach group=N | replace group=N domain=D
 *   [@TIME] bind BDF vfio|kernel:NAME
 *   [@TIME] unbind BDF
 *   [@TIME] domain-alloc D paging|nested|identity|blocking [format=ss|fs|s1|s2] [parent=P] [invalidation=strict|lazy]
 *   [@TIME] enforce-coherency D
 *   [@TIME] bind BDF vfio vm=VM
 *   [@TIME] pasid-alloc VM [BDF]
 *   [@TIME] pasid-free VM PASID [BDF]
 *   [@TIME] quota VM N
 *   [@TIME] mdev BDF vm=VM
 *   [@TIME] mdev-remove BDF vm=VM
 *
 * `#` starts a comment that runs to the end of the line; blank lines are ignored; CRLF is accepted.
 *
 * - TIME is `@` and a whole number of cycles (`@1500`), or a decimal with a unit (`@12ns`, `@3.5us`).
 *   The value is kept in the unit it was written in. Times must not decrease from one line to the
 *   next (cycle times are checked against cycle times, ns/us times against ns/us times).
 * - BDF is `BB:DD.F` or `SSSS:BB:DD.F` in hex; it becomes `sid = segment<<16 | bus<<8 | device<<3 | function`.
 * - pasid N is decimal or 0x-hex, below 2^20; `,priv` and `,exe` may follow in either order.
 * - addr, IOVA and PA are hex (the `0x` is optional), below 2^64.
 * - len is decimal or 0x-hex bytes, 1 to 4096; 4 when omitted (and always 4 on ATS lines). A memory
 *   request must not cross a 4 KiB boundary: (addr mod 4096) + len <= 4096 (PCIe Base 2.2.7,
 *   "Memory, I/O, and Configuration Request Rules"); a line that does is malformed.
 * - expect=FAULT is the fault a log recorded for this request (trace importers write it, `run
 *   --expect-faults` compares it with the model's): a VT-d fault reason, decimal or 0x-hex below 256
 *   (spec 7.1.3; written 0x06), or an SMMUv3 event type by name (F_TRANSLATION, spec 7.3).
 *   SIZE is decimal or 0x-hex; DOMAIN is the scenario's domain id (decimal).
 * - The tokens after the fixed positions may come in any order, each at most once.
 * - bind, unbind, domain-alloc and replace are the driver side's (src/iommu; README "Driver side").
 * - attach/detach BDFs name a device of this unit: no segment (or segment 0000). D is decimal.
 * - group=N (decimal, at most 65535) in the BDF's place names IOMMU group N as `iommu-emu groups`
 *   numbers it: the whole group attaches, detaches or is replaced (no pasid=, no flags).
 *
 * An architecture's own driver commands (VT-d `inv`) are parsed and written by its trace-commands
 * module, looked up by keyword in src/trace/commands.ts. The events are the objects of
 * src/trace/events.ts; the driver of the platform's architecture carries the driver events out
 * (README "Trace text format v1").
 */
import { InputError, quote } from "../errors.ts";
import {
  ATTACH_FLAGS,
  DEFAULT_LEN,
  DOMAIN_FORMATS,
  INVALIDATION_MODES,
  DOMAIN_KINDS,
  DRIVER_NAME,
  MAX_QUOTA,
  MAX_GROUP,
  VM_NAME,
  isGroupEvent,
  MAX_ADDR,
  MAX_LEN,
  MAX_PASID,
  PAGE_BYTES,
  crossesPage,
  formatBdf,
  formatExpectation,
  isTlp,
  SMMU_EVENTS,
  type DriverEvent,
  type DriverEventBase,
  type FaultExpectation,
  type GroupEvent,
  type NeutralDriverEvent,
  type PageSizeName,
  type TimeStamp,
  type TraceEvent,
  type TraceTlp,
} from "./events.ts";
import { Args, BDF_HINT, formatTime, parseAddr, parseBdf, parseHex, parsePasidValue, parseUint, plainDecimal, tokenize, valueOf, type MakeError, type Token } from "./syntax.ts";
import { commandFor, traceCommands } from "./commands.ts";

// The event model and the shared syntax, for the callers that read and write text.
export * from "./events.ts";
export { formatTime, plainDecimal } from "./syntax.ts";

const TIME_HINT = "a timestamp like @1500, @12ns or @3.5us";
/** The neutral driver events' keywords. */
const NEUTRAL_EVENTS: readonly NeutralDriverEvent["op"][] = ["map", "unmap", "flush", "attach", "detach", "replace", "bind", "unbind", "domain-alloc", "pasid-alloc", "pasid-free", "quota", "mdev", "mdev-remove", "enforce-coherency"];
/** Every event keyword, for messages: the TLPs, map and unmap, the architectures' commands, then the rest. */
const EVENT_HINT = orList(["MRd", "MWr", "ATS", "map", "unmap", ...traceCommands.map((c) => c.keyword), "flush", "attach", "detach", "replace", "bind", "unbind", "domain-alloc", "pasid-alloc", "pasid-free", "quota", "mdev", "mdev-remove", "enforce-coherency"]);
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
      if (e.domain !== undefined) parts.push(domain(e.domain));
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
    case "attach":
    case "detach":
    case "replace":
      if (isGroupEvent(e)) {
        check(Number.isInteger(e.group) && e.group >= 0 && e.group <= MAX_GROUP, `group ${e.group} out of range (0 to ${MAX_GROUP})`);
        parts.push(e.op, `group=${e.group}`);
        if (e.op !== "detach") parts.push(`domain=${domain(e.domain)}`);
        break;
      }
      if (e.op === "replace") {
        check(Number.isInteger(e.sid) && e.sid >= 0 && e.sid <= 0xffff, `sid ${e.sid} is not a 16-bit source ID`);
        parts.push("replace", formatBdf(e.sid));
        if (e.pasid !== undefined) {
          check(Number.isInteger(e.pasid) && e.pasid >= 0 && e.pasid <= MAX_PASID, `pasid ${e.pasid} out of range`);
          parts.push(`pasid=${e.pasid}`);
        }
        parts.push(`domain=${domain(e.domain)}`);
        break;
      }
    {
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
    case "bind":
    case "unbind":
      check(Number.isInteger(e.sid) && e.sid >= 0 && e.sid <= 0xffff, `sid ${e.sid} is not a 16-bit source ID`);
      parts.push(e.op, formatBdf(e.sid));
      if (e.op === "bind") {
        check(DRIVER_NAME.test(e.driver), `driver ${quote(e.driver)} is not vfio or kernel:NAME`);
        parts.push(e.driver);
        if (e.vm !== undefined) {
          check(e.driver === "vfio" && VM_NAME.test(e.vm), `vm=${e.vm}: a VM name (1 to 24 letters, digits, _ . : -) on a vfio bind`);
          parts.push(`vm=${e.vm}`);
        }
      }
      break;
    case "mdev":
    case "mdev-remove":
      check(Number.isInteger(e.sid) && e.sid >= 0 && e.sid <= 0xffff, `sid ${e.sid} is not a 16-bit source ID`);
      check(VM_NAME.test(e.vm), `VM name ${quote(e.vm)} is not 1 to 24 letters, digits, _ . : -`);
      parts.push(e.op, formatBdf(e.sid), `vm=${e.vm}`);
      break;
    case "pasid-alloc":
    case "pasid-free":
    case "quota":
      check(VM_NAME.test(e.vm), `VM name ${quote(e.vm)} is not 1 to 24 letters, digits, _ . : -`);
      parts.push(e.op, e.vm);
      if (e.op === "quota") {
        check(Number.isInteger(e.quota) && e.quota >= 0 && e.quota <= MAX_QUOTA, `quota ${e.quota} out of range`);
        parts.push(String(e.quota));
        break;
      }
      if (e.op === "pasid-free") {
        check(Number.isInteger(e.pasid) && e.pasid >= 0 && e.pasid <= MAX_PASID, `pasid ${e.pasid} out of range`);
        parts.push(String(e.pasid));
      }
      if (e.sid !== undefined) {
        check(Number.isInteger(e.sid) && e.sid >= 0 && e.sid <= 0xffff, `sid ${e.sid} is not a 16-bit source ID`);
        parts.push(formatBdf(e.sid));
      }
      break;
    case "domain-alloc":
      check(DOMAIN_KINDS.includes(e.kind), `bad domain kind ${quote(String(e.kind))}`);
      check((e.format !== undefined) === (e.kind === "paging" && e.format !== undefined) && (e.format === undefined || DOMAIN_FORMATS.includes(e.format)), `format= is for paging domains (ss, fs, s1, s2)`);
      check((e.parent !== undefined) === (e.kind === "nested"), "parent= is needed by nested domains, and only by them");
      parts.push("domain-alloc", domain(e.domain), e.kind);
      if (e.format !== undefined) parts.push(`format=${e.format}`);
      if (e.parent !== undefined) parts.push(`parent=${domain(e.parent)}`);
      check(e.invalidation === undefined || ((e.kind === "paging" || e.kind === "nested") && INVALIDATION_MODES.includes(e.invalidation)), "invalidation= is strict or lazy, for paging and nested domains");
      if (e.invalidation !== undefined) parts.push(`invalidation=${e.invalidation}`);
      break;
    case "enforce-coherency":
      parts.push("enforce-coherency", domain(e.domain));
      break;
    default: {
      const c = commandFor(e.op);
      check(c !== undefined, "no architecture has this command");
      parts.push(e.op, ...c!.format(e, check, hex));
    }
  }
  return parts.join(" ");
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
  const neutral = (NEUTRAL_EVENTS as readonly string[]).includes(opTok.text) ? (opTok.text as NeutralDriverEvent["op"]) : undefined;
  const command = neutral === undefined ? commandFor(opTok.text) : undefined;
  if (neutral !== undefined || command !== undefined) {
    const args = new Args(tokens.slice(next), opTok, endColumn, err);
    const base = { line: lineNo, column: opTok.column, ...(time !== undefined ? { time } : {}) };
    return { event: neutral !== undefined ? parseDriverEvent(neutral, args, base) : command!.parse(args, base), timeColumn: first.column };
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


function parseDriverEvent(op: NeutralDriverEvent["op"], a: Args, base: DriverEventBase): NeutralDriverEvent {
  const err = a.err;
  switch (op) {
    case "attach":
    case "detach":
    case "replace": {
      const devTok = a.next(`${BDF_HINT} or group=N after ${quote(op)}`);
      if (devTok.text.startsWith("group=")) {
        const group = parseGroup(devTok, err);
        const form = `${op} group=N`;
        const o = op === "detach" ? a.options(form, [], [], a.keyword) : groupOptions(a, form);
        if (op === "detach") return { ...base, op, group };
        return { ...base, op, group, domain: parseDomain(valueOf(o.need("domain=")), err) } as GroupEvent;
      }
      const sid = parseDeviceBdf(devTok, op, err);
      if (op === "replace") {
        const o = a.options("replace BDF", ["pasid=", "domain="], [], a.keyword);
        const pasidTok = o.get("pasid=");
        const domain = parseDomain(valueOf(o.need("domain=")), err);
        return { ...base, op, sid, ...(pasidTok !== undefined ? { pasid: parsePasidValue(pasidTok, err) } : {}), domain };
      }
      const o = op === "attach" ? a.options("attach BDF", ["pasid=", "domain="], ATTACH_FLAGS, a.keyword) : a.options("detach BDF", ["pasid="], [], a.keyword);
      const pasidTok = o.get("pasid=");
      const dev = { sid, ...(pasidTok !== undefined ? { pasid: parsePasidValue(pasidTok, err) } : {}) };
      if (op === "detach") return { ...base, op, ...dev };
      const domain = parseDomain(valueOf(o.need("domain=")), err);
      const flags = Object.fromEntries(ATTACH_FLAGS.map((f) => [f, o.has(f)])) as Record<(typeof ATTACH_FLAGS)[number], boolean>;
      return { ...base, op, ...dev, domain, ...flags };
    }
    case "bind": {
      const sid = parseDeviceBdf(a.next(`${BDF_HINT} after "bind"`), op, err);
      const tok = a.next(`a driver after the BDF: vfio or kernel:NAME`);
      if (!DRIVER_NAME.test(tok.text))
        throw err(`expected a driver: vfio or kernel:NAME (NAME of letters, digits, _ - ., at most 17 characters), got ${quote(tok.text)}`, tok.column);
      const vmTok = a.options("bind BDF DRIVER", ["vm="], [], a.keyword).get("vm=");
      if (vmTok === undefined) return { ...base, op, sid, driver: tok.text };
      if (tok.text !== "vfio") throw err(`vm= is for vfio binds (a VM owns a user-space device), not ${quote(tok.text)}`, vmTok.column);
      return { ...base, op, sid, driver: tok.text, vm: parseVm(valueOf(vmTok), err) };
    }
    case "pasid-alloc":
    case "pasid-free": {
      const vm = parseVm(a.next(`a VM name after ${quote(op)}`), err);
      let pasid = 0;
      if (op === "pasid-free") {
        const t = a.next("the PASID to free (decimal or 0x-hex) after the VM");
        const n = parseUint(t.text);
        if (n === undefined || n > BigInt(MAX_PASID)) throw err(`expected a PASID 0..${MAX_PASID} (decimal or 0x-hex), got ${quote(t.text)}`, t.column);
        pasid = Number(n);
      }
      const rest = a.rest();
      if (rest.length > 1) throw err(`unexpected token ${quote(rest[1]!.text)}; ${op} takes VM${op === "pasid-free" ? " PASID" : ""} and an optional BDF`, rest[1]!.column);
      const dev = rest.length ? { sid: parseDeviceBdf(rest[0]!, op, err) } : {};
      return op === "pasid-alloc" ? { ...base, op, vm, ...dev } : { ...base, op, vm, pasid, ...dev };
    }
    case "mdev":
    case "mdev-remove": {
      const sid = parseDeviceBdf(a.next(`${BDF_HINT} (the parent device) after ${quote(op)}`), op, err);
      const vm = parseVm(valueOf(a.options(`${op} BDF`, ["vm="], [], a.keyword).need("vm=")), err);
      return { ...base, op, sid, vm };
    }
    case "quota": {
      const vm = parseVm(a.next(`a VM name after "quota"`), err);
      const t = a.next("the quota N (decimal) after the VM");
      if (!/^[0-9]+$/.test(t.text) || Number(t.text) > MAX_QUOTA) throw err(`expected a quota 0..${MAX_QUOTA} (decimal), got ${quote(t.text)}`, t.column);
      a.options("quota VM N", [], [], a.keyword);
      return { ...base, op, vm, quota: Number(t.text) };
    }
    case "unbind": {
      const sid = parseDeviceBdf(a.next(`${BDF_HINT} after "unbind"`), op, err);
      a.options("unbind BDF", [], [], a.keyword);
      return { ...base, op, sid };
    }
    case "domain-alloc": {
      const domain = parseDomain(a.next(`a domain id (decimal) after "domain-alloc"`), err);
      const kindTok = a.next(`a domain kind after the id: ${orList([...DOMAIN_KINDS])}`);
      const kind = DOMAIN_KINDS.find((k) => k === kindTok.text);
      if (kind === undefined) throw err(`expected a domain kind, ${orList([...DOMAIN_KINDS])}, got ${quote(kindTok.text)}`, kindTok.column);
      const o = a.options("domain-alloc D KIND", ["format=", "parent=", "invalidation="], [], a.keyword);
      const formatTok = o.get("format=");
      const parentTok = o.get("parent=");
      const invTok = o.get("invalidation=");
      let format: (typeof DOMAIN_FORMATS)[number] | undefined;
      if (formatTok !== undefined) {
        if (kind !== "paging") throw err(`format= is for paging domains, not ${kind} ones`, formatTok.column);
        format = DOMAIN_FORMATS.find((f) => f === valueOf(formatTok).text);
        if (format === undefined) throw err(`expected format=ss or format=fs (VT-d), format=s1 or format=s2 (SMMUv3), got ${quote(formatTok.text)}`, formatTok.column);
      }
      if (kind === "nested" && parentTok === undefined) throw err(`a nested domain needs parent=P, the paging domain it nests over`, kindTok.column);
      if (kind !== "nested" && parentTok !== undefined) throw err(`parent= is for nested domains, not ${kind} ones`, parentTok.column);
      const parent = parentTok !== undefined ? parseDomain(valueOf(parentTok), err) : undefined;
      let invalidation: (typeof INVALIDATION_MODES)[number] | undefined;
      if (invTok !== undefined) {
        // Only domains with page tables unmap anything (src/driver/flush-queue.ts).
        if (kind !== "paging" && kind !== "nested") throw err(`invalidation= is for paging and nested domains, not ${kind} ones (they have no mappings to unmap)`, invTok.column);
        invalidation = INVALIDATION_MODES.find((m) => m === valueOf(invTok).text);
        if (invalidation === undefined) throw err(`expected invalidation=strict or invalidation=lazy, got ${quote(invTok.text)}`, invTok.column);
      }
      return { ...base, op, domain, kind, ...(format !== undefined ? { format } : {}), ...(parent !== undefined ? { parent } : {}), ...(invalidation !== undefined ? { invalidation } : {}) };
    }
    case "enforce-coherency": {
      const domain = parseDomain(a.next(`a domain id (decimal) after "enforce-coherency"`), err);
      a.options("enforce-coherency D", [], [], a.keyword);
      return { ...base, op, domain };
    }
    case "flush": {
      // flush D: that domain's flush queue only (Linux fq_flush_iotlb of its cookie); flush: every domain's.
      const rest = a.rest();
      if (rest.length > 1) throw err(`unexpected token ${quote(rest[1]!.text)}; flush takes an optional domain id`, rest[1]!.column);
      return { ...base, op: "flush", ...(rest.length ? { domain: parseDomain(rest[0]!, err) } : {}) };
    }
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
  }
}

function parseDomain(tok: Token, err: MakeError): number {
  if (!/^[0-9]+$/.test(tok.text)) throw err(`expected a domain id (decimal, as in the scenario's build.domains), got ${quote(tok.text)}`, tok.column);
  const n = Number(tok.text);
  if (n > 0xffff) throw err(`domain id ${tok.text} is out of range (max 65535)`, tok.column);
  return n;
}

/** group=N: an IOMMU group's number (decimal), as `iommu-emu groups` gives it. */
function parseGroup(tok: Token, err: MakeError): number {
  const v = valueOf(tok);
  if (!/^[0-9]+$/.test(v.text)) throw err(`expected group=N with N a group number (decimal, as iommu-emu groups prints it), got ${quote(tok.text)}`, tok.column);
  if (Number(v.text) > MAX_GROUP) throw err(`group ${v.text} is out of range (max ${MAX_GROUP})`, tok.column);
  return Number(v.text);
}

/** The options of `attach|replace group=N`: domain= only; pasid= and the attach flags are per device, named as such. */
function groupOptions(a: Args, form: string) {
  const perDevice = ["pasid=", ...ATTACH_FLAGS];
  const toks = a.rest();
  for (const t of toks) {
    const key = t.text.includes("=") ? t.text.slice(0, t.text.indexOf("=") + 1) : t.text;
    if (perDevice.includes(key)) throw a.err(`${quote(key)} is per device; ${form} takes domain= only (a group attaches its devices' requests without PASID)`, t.column);
  }
  return new Args(toks, a.keyword, 0, a.err).options(form, ["domain="], [], a.keyword);
}

function parseSize(tok: Token, err: MakeError): bigint {
  const n = parseUint(tok.text);
  if (n === undefined) throw err(`expected SIZE in bytes (decimal or 0x-hex), got ${quote(tok.text)}`, tok.column);
  if (n === 0n || n > MAX_ADDR) throw err(`SIZE ${tok.text} is out of range (1 to 2^64 - 1 bytes)`, tok.column);
  return n;
}

/** A VM name (an owner token, src/iommu/pasid.ts). */
function parseVm(tok: Token, err: MakeError): string {
  if (!VM_NAME.test(tok.text)) throw err(`expected a VM name (1 to 24 letters, digits, _ . : or -, not starting with . : or -), got ${quote(tok.text)}`, tok.column);
  return tok.text;
}

/** The BDF of an attach/detach: a device of this DMAR unit, so segment 0. */
function parseDeviceBdf(tok: Token, op: string, err: MakeError): number {
  const sid = parseBdf(tok, err);
  if (sid > 0xffff) throw err(`${quote(op)} names a device of this unit's segment 0, got ${quote(tok.text)}`, tok.column);
  return sid;
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


function parseLen(tok: Token, value: string, err: MakeError): number {
  const n = parseUint(value);
  if (n === undefined) throw err(`expected len=BYTES with BYTES decimal or 0x-hex, got ${quote(tok.text)}`, tok.column);
  if (n < 1n || n > BigInt(MAX_LEN)) throw err(`len ${value} is out of range (expected 1 to ${MAX_LEN} bytes)`, tok.column);
  return Number(n);
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

/** "a, b or c". */
function orList(words: readonly string[]): string {
  return words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
}
