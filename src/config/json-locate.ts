/**
 * JSON with positions: parses a JSON text and records the line and column of every value and
 * object key, by path, so schema errors can name the exact place in the user's file.
 * Paths look like `build.domains[0].mappings[2].size`; a key's own position is stored under
 * `path#key`. Syntax errors become InputError with line and column; so does nesting deeper than
 * MAX_DEPTH (the parser recurses: a file of 100000 "[" must not overflow the stack). Quotations of
 * the input in messages are short and escaped (src/errors.ts quote).
 */
import { InputError, quote } from "../errors.ts";

/** The deepest nesting of objects and arrays accepted (a scenario needs about 6). */
export const MAX_DEPTH = 256;

export interface Located {
  value: unknown;
  /** Line/column (1-based) of each value by path ("" is the root). */
  at: Map<string, { line: number; column: number }>;
}

export function parseJsonLocated(text: string, file: string): Located {
  const at = new Map<string, { line: number; column: number }>();
  let i = 0;
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  const pos = () => ({ line, column: i - lineStart + 1 });
  const fail = (msg: string): never => {
    const p = pos();
    throw new InputError(msg, file, p.line, p.column);
  };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 10) {
        line++;
        lineStart = ++i;
      } else if (c === 32 || c === 9 || c === 13) i++;
      else return;
    }
  };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text[i];
      if (c === '"') break;
      if (c === "\n") fail("line break inside a string");
      if (c! < " ") fail(`control character ${quote(c!)} inside a string; write it escaped (\\u${c!.charCodeAt(0).toString(16).padStart(4, "0")})`);
      i += c === "\\" ? 2 : 1;
    }
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      i = start;
      return fail("invalid string escape");
    }
  };
  const child = (path: string, key: string | number) =>
    typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`;
  const value = (path: string): unknown => {
    ws();
    at.set(path, pos());
    const c = text[i];
    if ((c === "{" || c === "[") && depth === MAX_DEPTH) fail(`objects and arrays nested deeper than ${MAX_DEPTH} levels`);
    if (c === "{") {
      depth++;
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === "}") {
        i++;
        depth--;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a quoted key, got ${describe(text[i])}`);
        const keyPos = pos();
        const key = str();
        at.set(`${child(path, key)}#key`, keyPos);
        ws();
        if (text[i] !== ":") fail(`expected ":" after key ${quote(key)}, got ${describe(text[i])}`);
        i++;
        if (Object.prototype.hasOwnProperty.call(obj, key)) {
          line = keyPos.line;
          i = lineStart + keyPos.column - 1;
          fail(`duplicate key ${quote(key)}`);
        }
        // an own property, as JSON.parse makes it: assigning "__proto__" would set the prototype
        Object.defineProperty(obj, key, { value: value(child(path, key)), writable: true, enumerable: true, configurable: true });
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          depth--;
          return obj;
        }
        fail(`expected "," or "}", got ${describe(text[i])}`);
      }
    }
    if (c === "[") {
      depth++;
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        depth--;
        return arr;
      }
      for (;;) {
        arr.push(value(child(path, arr.length)));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          depth--;
          return arr;
        }
        fail(`expected "," or "]", got ${describe(text[i])}`);
      }
    }
    if (c === '"') return str();
    SCALAR.lastIndex = i;
    const m = SCALAR.exec(text);
    if (!m) fail(`expected a JSON value, got ${describe(c)}`);
    i += m![0].length;
    return JSON.parse(m![0]);
  };
  const v = value("");
  ws();
  if (i < text.length) fail(`unexpected ${describe(text[i])} after the JSON value`);
  return { value: v, at };
}

/** A number, true, false or null, matched where the parser is (sticky: numbers of any length). */
const SCALAR = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

function describe(c: string | undefined): string {
  return c === undefined ? "end of file" : quote(c);
}

/** Formats a zod-style path (array of keys and indices) the way parseJsonLocated stores it. */
export function pathString(path: readonly PropertyKey[]): string {
  let s = "";
  for (const k of path) s = typeof k === "number" ? `${s}[${k}]` : s === "" ? String(k) : `${s}.${String(k)}`;
  return s;
}
