/**
 * `csv`: PCIe analyzer exports (Teledyne LeCroy, Keysight, or any tool) saved as CSV. There is no
 * common schema (shared/notes/ecosystem.md §1d), so the user maps the columns:
 *
 *   --map addr=Address,rid=Requester,op=Type,len=Length,pasid=PASID,time=Time,ns=NoSnoop
 *
 * Column keys (the value is the column's header name, matched exactly, else case-insensitively):
 *   addr   required  the address, hex (0x or a trailing h optional; spaces and _ are dropped)
 *   rid    or bdf    the requester: BB:DD.F or SSSS:BB:DD.F (hex; BB:DD:F also), or a 16-bit
 *                    requester ID in hex (0100, 0x0100). One of rid and bdf is required.
 *   op               MRd/MWr, Read/Write, MemRd/MemWr (also MRd32/MRd64/MWr32/MWr64, Mem Read,
 *                    any case). Rows whose op is another packet (CplD, Cfg, Msg, DLLPs...) or
 *                    empty are ignored. Without an op column every row is an MRd.
 *   len              the length, in bytes unless the cell says DW ("4 DW") or `lenunit=dw` is
 *                    given; 1 to 4096 bytes. Without it: 4 bytes.
 *   pasid            decimal or 0x-hex; empty, "-", "none" or "n/a" for none
 *   time             a number and a unit (s, ms, us, µs, ns, ps; "0.000 012 340 s" with digit
 *                    groups is read too); a unitless number takes `timeunit=`. Rounded down to
 *                    whole ns. Becomes @TIME (us, or ns when not a whole us).
 *   ns, ro, ido      attribute flags: 1/0, true/false, yes/no, y/n, on/off, set, x, the
 *                    attribute's own name (NS, RO, IDO, No Snoop...) for set; empty, "-" for clear
 * Options: lenunit=bytes|dw, timeunit=s|ms|us|ns|ps.
 *
 * The first non-blank line is the header row (required). Fields are separated by commas, or by
 * semicolons or tabs when the header has more of those; a field may be quoted ("..."), with ""
 * for a quote; quoted fields do not span lines. Blank lines are ignored. The summary counts the
 * header row and rows of other packets as lines without DMA.
 * A mapped column missing from the header, a map key not listed above, and a row without the
 * mapped columns or with a value that cannot be read are errors naming the column.
 */
import { InputError } from "../../errors.ts";
import { MAX_LEN, type TraceEvent } from "../text.ts";
import { checkOptionKeys, makeTlp, MAX_U64, Sink, splitLines, timeFromNs, type SourceTime } from "./common.ts";
import type { ImportOptions, ImportResult, Importer } from "./types.ts";

const COLUMN_KEYS = ["addr", "rid", "bdf", "op", "len", "pasid", "time", "ns", "ro", "ido"] as const;
type ColumnKey = (typeof COLUMN_KEYS)[number];
const OPTION_KEYS = ["lenunit", "timeunit"] as const;

const READS = new Set(["mrd", "mrd32", "mrd64", "memrd", "memrd32", "memrd64", "memread", "mread", "read", "rd"]);
const WRITES = new Set(["mwr", "mwr32", "mwr64", "memwr", "memwr32", "memwr64", "memwrite", "mwrite", "write", "wr"]);
const TRUE = new Set(["1", "true", "yes", "y", "on", "set", "x", "✓"]);
const FALSE = new Set(["0", "false", "no", "n", "off", "", "-"]);
const FLAG_NAMES: Record<"ns" | "ro" | "ido", string[]> = {
  ns: ["ns", "nosnoop", "snoopnot"],
  ro: ["ro", "relaxedordering", "relaxed"],
  ido: ["ido", "idbasedordering"],
};
/** ns per unit as a power of ten. */
const TIME_UNITS: Record<string, number> = { s: 9, ms: 6, us: 3, "µs": 3, "μs": 3, ns: 0, ps: -3 };

interface Cell {
  text: string;
  column: number;
}

/** Splits one CSV line; throws { message, column } on a broken quote. */
function splitCsv(line: string, delim: string): Cell[] {
  const cells: Cell[] = [];
  let i = 0;
  for (;;) {
    while (i < line.length && (line[i] === " " || (line[i] === "\t" && delim !== "\t"))) i++;
    const column = i + 1;
    if (line[i] === '"') {
      let text = "";
      i++;
      for (;;) {
        if (i >= line.length) throw { message: "unterminated quoted field (quoted fields cannot span lines)", column };
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            text += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += line[i];
        i++;
      }
      while (i < line.length && line[i] !== delim && /\s/.test(line[i]!)) i++;
      if (i < line.length && line[i] !== delim) throw { message: `unexpected "${line[i]}" after a quoted field`, column: i + 1 };
      cells.push({ text, column });
    } else {
      const end = line.indexOf(delim, i);
      const raw = end < 0 ? line.slice(i) : line.slice(i, end);
      cells.push({ text: raw.trim(), column });
      i = end < 0 ? line.length : end;
    }
    if (i >= line.length) break;
    i++; // the delimiter
    if (i >= line.length) {
      cells.push({ text: "", column: i + 1 });
      break;
    }
  }
  return cells;
}

function detectDelimiter(header: string): string {
  let best = ",";
  let bestCount = count(header, ",");
  for (const d of [";", "\t"]) {
    const c = count(header, d);
    if (c > bestCount) {
      best = d;
      bestCount = c;
    }
  }
  return best;
}

function count(s: string, ch: string): number {
  let n = 0;
  let quoted = false;
  for (const c of s) {
    if (c === '"') quoted = !quoted;
    else if (c === ch && !quoted) n++;
  }
  return n;
}

function importCsv(text: string, file: string, opts: ImportOptions): ImportResult {
  const map = checkOptionKeys("csv", opts, [...COLUMN_KEYS, ...OPTION_KEYS]);
  if (map["addr"] === undefined) throw new InputError("the csv importer needs --map addr=COLUMN (the address column)");
  if (map["rid"] === undefined && map["bdf"] === undefined) throw new InputError("the csv importer needs --map rid=COLUMN or bdf=COLUMN (the requester column)");
  if (map["rid"] !== undefined && map["bdf"] !== undefined) throw new InputError("give --map rid= or bdf=, not both: both name the requester");
  const lenUnit = map["lenunit"] ?? "bytes";
  if (lenUnit !== "bytes" && lenUnit !== "dw") throw new InputError(`--map lenunit=${lenUnit} for the csv importer: expected lenunit=bytes or lenunit=dw`);
  const timeUnit = map["timeunit"];
  if (timeUnit !== undefined && TIME_UNITS[timeUnit] === undefined) {
    throw new InputError(`--map timeunit=${timeUnit} for the csv importer: expected s, ms, us, ns or ps`);
  }

  const lines = splitLines(text);
  const sink = new Sink("csv", file, opts.skipBad, lines);
  const headerIndex = lines.findIndex((l) => l.trim() !== "");
  if (headerIndex < 0) throw new InputError("the CSV export is empty: a header row naming the columns is required", file);
  const headerLine = lines[headerIndex]!;
  const headerNo = headerIndex + 1;
  sink.ignore(headerNo, "noDma");
  const delim = detectDelimiter(headerLine);
  let header: Cell[];
  try {
    header = splitCsv(headerLine, delim);
  } catch (x) {
    const e = x as { message: string; column: number };
    throw new InputError(`header row: ${e.message}`, file, headerNo, e.column);
  }
  const names = header.map((c) => c.text);

  // Each mapped key's field index.
  const index = new Map<ColumnKey, number>();
  for (const key of COLUMN_KEYS) {
    const want = map[key];
    if (want === undefined) continue;
    let at = names.indexOf(want);
    if (at >= 0 && names.indexOf(want, at + 1) >= 0) {
      throw new InputError(`--map ${key}=${want}: the header has more than one column "${want}"`, file, headerNo);
    }
    if (at < 0) {
      const ci = names.flatMap((n, k) => (n.toLowerCase() === want.toLowerCase() ? [k] : []));
      if (ci.length > 1) throw new InputError(`--map ${key}=${want}: the header has more than one column named "${want}" (ignoring case)`, file, headerNo);
      at = ci[0] ?? -1;
    }
    if (at < 0) {
      throw new InputError(`--map ${key}=${want}: no column "${want}" in the header (columns: ${names.map((n) => `"${n}"`).join(", ")})`, file, headerNo);
    }
    index.set(key, at);
  }

  for (let i = headerIndex + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    const lineNo = i + 1;
    let cells: Cell[];
    try {
      cells = splitCsv(line, delim);
    } catch (x) {
      const e = x as { message: string; column: number };
      sink.fail(e.message, lineNo, e.column);
      continue;
    }
    const missing = (key: ColumnKey, k: number) =>
      `the row has ${cells.length} fields; column "${names[k]}" (--map ${key}) is field ${k + 1}`;
    const cell = (key: ColumnKey): Cell | undefined => {
      const k = index.get(key);
      if (k === undefined) return undefined;
      const c = cells[k];
      if (c === undefined) throw sink.err(missing(key, k), lineNo, line.length + 1);
      return c;
    };
    // Rows of other packets are left out before anything else is read.
    const opIndex = index.get("op");
    let op: "MRd" | "MWr" = "MRd";
    if (opIndex !== undefined) {
      const c = cells[opIndex];
      const v = (c?.text ?? "").toLowerCase().replace(/[\s_-]/g, "");
      if (READS.has(v)) op = "MRd";
      else if (WRITES.has(v)) op = "MWr";
      else {
        sink.ignore(lineNo, "noDma");
        continue;
      }
    }
    let time: SourceTime | undefined;
    const timeIndex = index.get("time");
    if (timeIndex !== undefined) {
      const c = cells[timeIndex];
      if (c === undefined) {
        sink.fail(missing("time", timeIndex), lineNo, line.length + 1);
        continue;
      }
      const t = parseTime(c.text, timeUnit);
      if (typeof t === "string") {
        sink.fail(`column "${names[timeIndex]}": ${t}`, lineNo, c.column);
        continue;
      }
      time = timeFromNs(t, c.column);
    }
    sink.line(lineNo, time, () => row(sink, lineNo, op, cell, (key) => names[index.get(key)!]!, lenUnit));
  }
  return sink.result();
}

function row(
  sink: Sink,
  lineNo: number,
  op: "MRd" | "MWr",
  cell: (key: ColumnKey) => Cell | undefined,
  columnName: (key: ColumnKey) => string,
  lenUnit: string,
): TraceEvent {
  const bad = (key: ColumnKey, c: Cell, why: string) => sink.err(`column "${columnName(key)}": ${why}`, lineNo, c.column);

  const addrCell = cell("addr")!;
  const a = /^(?:0x)?([0-9a-f]+)h?$/i.exec(addrCell.text.replace(/[\s_]/g, ""));
  if (a === null) throw bad("addr", addrCell, `expected a hex address, got "${addrCell.text}"`);
  const addr = BigInt("0x" + a[1]!);
  if (addr > MAX_U64) throw bad("addr", addrCell, `address ${addrCell.text} is beyond 64 bits`);

  const ridKey: ColumnKey = cell("rid") !== undefined ? "rid" : "bdf";
  const ridCell = cell(ridKey)!;
  const sid = parseRequester(ridCell.text);
  if (typeof sid === "string") throw bad(ridKey, ridCell, sid);

  let len = 4;
  const lenCell = cell("len");
  if (lenCell !== undefined && lenCell.text !== "") {
    const m = /^(0x[0-9a-f]+|\d+)\s*(dw|dwords?|b|bytes?)?$/i.exec(lenCell.text);
    if (m === null) throw bad("len", lenCell, `expected a length (bytes, or N DW), got "${lenCell.text}"`);
    const unit = m[2]?.toLowerCase();
    const n = Number(BigInt(m[1]!)) * ((unit === undefined ? lenUnit === "dw" : unit.startsWith("dw")) ? 4 : 1);
    if (!(n >= 1 && n <= MAX_LEN)) throw bad("len", lenCell, `length ${lenCell.text} is out of range (1 to ${MAX_LEN} bytes)`);
    len = n;
  }

  let pasid: number | undefined;
  const pasidCell = cell("pasid");
  if (pasidCell !== undefined && !["", "-", "none", "n/a", "na"].includes(pasidCell.text.toLowerCase())) {
    if (!/^(?:0x[0-9a-f]+|\d+)$/i.test(pasidCell.text)) throw bad("pasid", pasidCell, `expected a PASID (decimal or 0x-hex), got "${pasidCell.text}"`);
    const p = BigInt(pasidCell.text);
    if (p > 0xfffffn) throw bad("pasid", pasidCell, `PASID ${pasidCell.text} is out of range (max 0xfffff)`);
    pasid = Number(p);
  }

  const flag = (key: "ns" | "ro" | "ido"): boolean => {
    const c = cell(key);
    if (c === undefined) return false;
    const v = c.text.toLowerCase().replace(/[\s_-]/g, "");
    if (TRUE.has(v) || FLAG_NAMES[key].includes(v)) return true;
    if (FALSE.has(v)) return false;
    throw bad(key, c, `expected a flag (1/0, yes/no, true/false, ${key.toUpperCase()}), got "${c.text}"`);
  };

  return makeTlp(lineNo, { op, sid, addr, len, ns: flag("ns"), ro: flag("ro"), ido: flag("ido"), ...(pasid !== undefined ? { pasid } : {}) });
}

/** A requester: a BDF (hex parts) or a 16-bit requester ID in hex. Returns the source ID or why not. */
function parseRequester(text: string): number | string {
  const t = text.trim();
  const bdf = /^(?:([0-9a-f]{4}):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})[.:]([0-7])$/i.exec(t);
  if (bdf !== null) {
    const device = parseInt(bdf[3]!, 16);
    if (device > 0x1f) return `device 0x${bdf[3]} in "${t}" is out of range (max 0x1f)`;
    const segment = bdf[1] === undefined ? 0 : parseInt(bdf[1], 16);
    return segment * 0x10000 + ((parseInt(bdf[2]!, 16) << 8) | (device << 3) | Number(bdf[4]));
  }
  const rid = /^(?:0x)?([0-9a-f]{1,4})h?$/i.exec(t);
  if (rid !== null) return parseInt(rid[1]!, 16);
  return `expected a requester as BB:DD.F, SSSS:BB:DD.F or a 16-bit hex requester ID, got "${text}"`;
}

/** A time cell as ns (rounded down), or why it cannot be read. */
function parseTime(text: string, defaultUnit: string | undefined): bigint | string {
  const m = /^([0-9][0-9 ,_']*)(?:\.([0-9 ]*))?\s*([a-zµμ]+)?$/i.exec(text.trim());
  if (m === null) return `expected a time (a number and a unit: s, ms, us, ns, ps), got "${text}"`;
  const int = m[1]!.replace(/[ ,_']/g, "");
  const frac = (m[2] ?? "").replace(/ /g, "");
  const unit = m[3] ?? defaultUnit;
  if (unit === undefined) return `the time "${text}" has no unit; write one (s, ms, us, ns, ps) or give --map timeunit=`;
  const exp = TIME_UNITS[unit.toLowerCase() === "µs" ? "us" : unit === "μs" ? "us" : unit.toLowerCase()];
  if (exp === undefined) return `unknown time unit "${unit}" in "${text}" (expected s, ms, us, ns or ps)`;
  // value = (int.frac) * 10^exp ns, rounded down.
  const digits = BigInt(int + frac);
  const shift = exp - frac.length;
  return shift >= 0 ? digits * 10n ** BigInt(shift) : digits / 10n ** BigInt(-shift);
}

/**
 * CSV: a header row of at least two fields, and rows with as many fields as it has: the share of
 * the sample's lines that are such rows (the header included), 0 when the header has one field.
 */
function detectCsv(sample: readonly string[]): number {
  const header = sample[0];
  if (header === undefined) return 0;
  const delim = detectDelimiter(header);
  const fields = (l: string) => {
    try {
      return splitCsv(l, delim).length;
    } catch {
      return -1;
    }
  };
  const n = fields(header);
  if (n < 2) return 0;
  return sample.filter((l) => fields(l) === n).length / sample.length;
}

export const csvImporter: Importer = {
  name: "csv",
  description: "PCIe analyzer CSV exports, through a column mapping (--map addr=COL,rid=COL,op=COL,...)",
  looksLike: "a CSV table (an analyzer export: --from csv with --map)",
  import: importCsv,
  detect: detectCsv,
};
