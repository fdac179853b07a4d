/**
 * The pieces of trace text format v1 every codec of a line shares: tokens with their columns, the
 * operands after an event's keyword (fixed positions, then options in any order), and the value
 * parsers (BDF, hex, bounded numbers, PASID, address, time). The text codec (text.ts) and each
 * architecture's driver commands (src/arch/NAME/trace-commands.ts) parse with them, so a command's
 * errors name the line and column as every other token's do.
 */
import { InputError, quote } from "../errors.ts";
import { MAX_ADDR, MAX_PASID, type TimeStamp } from "./events.ts";

export const BDF_HINT = "a BDF like 00:02.0 or 0000:00:02.0";

export interface Token {
  text: string;
  /** 1-based column of the first character. */
  column: number;
}

export type MakeError = (message: string, column: number) => InputError;

/** Splits a line into whitespace-separated tokens, dropping any `#` comment. */
export function tokenize(line: string): Token[] {
  const hash = line.indexOf("#");
  const body = hash < 0 ? line : line.slice(0, hash);
  const tokens: Token[] = [];
  const re = /\S+/g;
  for (let m = re.exec(body); m !== null; m = re.exec(body)) tokens.push({ text: m[0], column: m.index + 1 });
  return tokens;
}

/** The tokens after a driver event's keyword: fixed positions first, then options in any order. */
export class Args {
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

/** The options Args.options() found, by key. */
export class Options {
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
export function valueOf(tok: Token): Token {
  const eq = tok.text.indexOf("=");
  return { text: tok.text.slice(eq + 1), column: tok.column + eq + 1 };
}

/** A hex value below 2^64, 0x optional (IOVA, PA, descriptor qwords). */
export function parseHex(tok: Token, what: string, err: MakeError): bigint {
  const m = /^(?:0[xX])?([0-9a-fA-F]+)$/.exec(tok.text);
  if (m === null) throw err(`expected ${what} in hex (0x optional), got ${quote(tok.text)}`, tok.column);
  const v = BigInt("0x" + m[1]!);
  if (v > MAX_ADDR) throw err(`${what} ${tok.text} is out of range (max 0xffffffffffffffff)`, tok.column);
  return v;
}

/** key=N with N decimal or 0x-hex, at most `max`. */
export function parseBounded(tok: Token, name: string, max: bigint, err: MakeError): bigint {
  const v = valueOf(tok);
  const n = parseUint(v.text);
  if (n === undefined) throw err(`expected ${name}=N with N decimal or 0x-hex, got ${quote(tok.text)}`, tok.column);
  if (n > max) throw err(`${name} ${v.text} is out of range (max ${max <= 64n ? String(max) : "0x" + max.toString(16)})`, tok.column);
  return n;
}

export function parseSmall(tok: Token, name: string, max: number, err: MakeError): number {
  return Number(parseBounded(tok, name, BigInt(max), err));
}

export function parsePasidValue(tok: Token, err: MakeError): number {
  return Number(parseBounded(tok, "pasid", BigInt(MAX_PASID), err));
}

export function parseBdf(tok: Token, err: MakeError): number {
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
export function parseUint(text: string): bigint | undefined {
  return /^(?:0[xX][0-9a-fA-F]+|[0-9]+)$/.test(text) ? BigInt(text) : undefined;
}

export function parseAddr(tok: Token, value: string, err: MakeError): bigint {
  const m = /^(?:0[xX])?([0-9a-fA-F]+)$/.exec(value);
  if (m === null) throw err(`expected addr=ADDR with ADDR in hex (0x optional), got ${quote(tok.text)}`, tok.column);
  const addr = BigInt("0x" + m[1]!);
  if (addr > MAX_ADDR) throw err(`addr ${value} is out of range (max 0xffffffffffffffff)`, tok.column);
  return addr;
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
