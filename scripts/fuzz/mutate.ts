/**
 * Mutations of real input lines: an arbitrary picks lines of a corpus and a list of edits, applied
 * deterministically (so fast-check shrinks a failure to the fewest lines and edits). Edits insert,
 * delete, replace and duplicate characters and tokens, splice in tokens of other corpus lines,
 * boundary numbers and bytes that inputs should not hold (control characters, separators, bidi
 * overrides, lone surrogates), and truncate.
 */
import * as fc from "fast-check";

export type Edit =
  | { op: "insert"; at: number; text: string }
  | { op: "delete"; at: number; count: number }
  | { op: "replace"; at: number; text: string }
  | { op: "token"; at: number; from: number; token: number }
  | { op: "swap"; a: number; b: number }
  | { op: "truncate"; at: number };

export interface Mutated {
  lines: number[];
  edits: { line: number; edit: Edit }[];
}

/** Text that parsers meet at their edges. */
const SPECIAL = [
  "0", "1", "-1", "0x", "0x0", "0xffffffffffffffff", "0x10000000000000000", "18446744073709551616", "9007199254740993",
  "1e309", "NaN", "-0", "1.5", ".", ",", ":", ";", "=", "==", "#", "@", "@1ns", "@-1", "[", "]", "{", "}", "(", ")", '"', "'", "\\",
  " ", "  ", "\t", "\r", "\n", "\0", "\x1b[31m", "\x7f", "\u0085", "\u2028", "\u202e", "\ud800", "\ufeff", "é", "𝟘",
  "ns", "us", "ms", "s", "pasid=", "addr=", "len=", "domain=", "priv", "exe", "ro", "ido", "at=translated", "expect=",
  "ffff:ff:1f.7", "00:00.0", "MRd", "MWr", "ATS", "map", "unmap", "inv", "qi", "null", "true", "__proto__", '"__proto__"', '"constructor"', "9".repeat(80), "0." + "5".repeat(70),
];

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...SPECIAL), fc.string({ maxLength: 4 }), fc.string({ unit: "binary", maxLength: 3 })) }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant("replace" as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...SPECIAL), fc.string({ maxLength: 2 })) }),
  fc.record({ op: fc.constant("token" as const), at: fc.nat(), from: fc.nat(), token: fc.nat() }),
  fc.record({ op: fc.constant("swap" as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
);

export function mutatedArb(maxLines: number, maxEdits = 6): fc.Arbitrary<Mutated> {
  return fc.record({
    lines: fc.array(fc.nat(), { minLength: 1, maxLength: maxLines }),
    edits: fc.array(fc.record({ line: fc.nat(), edit: editArb }), { maxLength: maxEdits }),
  });
}

const tokensOf = (line: string) => line.split(/(\s+|=|,)/).filter((t) => t !== "");

function applyEdit(line: string, e: Edit, corpus: readonly string[]): string {
  const at = (n: number) => (line.length === 0 ? 0 : n % (line.length + 1));
  switch (e.op) {
    case "insert":
      return line.slice(0, at(e.at)) + e.text + line.slice(at(e.at));
    case "delete":
      return line.slice(0, at(e.at)) + line.slice(at(e.at) + e.count);
    case "replace":
      return line.slice(0, at(e.at)) + e.text + line.slice(at(e.at) + e.text.length);
    case "token": {
      const toks = tokensOf(corpus[e.from % corpus.length]!);
      const t = toks.length ? toks[e.token % toks.length]! : "";
      return line.slice(0, at(e.at)) + t + line.slice(at(e.at));
    }
    case "swap": {
      const toks = tokensOf(line);
      if (toks.length < 2) return line;
      const a = e.a % toks.length, b = e.b % toks.length;
      [toks[a], toks[b]] = [toks[b]!, toks[a]!];
      return toks.join("");
    }
    case "truncate":
      return line.slice(0, at(e.at));
  }
}

/** The lines a Mutated case stands for. */
export function mutatedLines(m: Mutated, corpus: readonly string[]): string[] {
  const lines = m.lines.map((i) => corpus[i % corpus.length]!);
  for (const { line, edit } of m.edits) {
    const i = line % lines.length;
    lines[i] = applyEdit(lines[i]!, edit, corpus);
  }
  return lines;
}

/** Control characters a message must not carry raw (src/errors.ts escapeControls). */
// eslint-disable-next-line no-control-regex
export const RAW_CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
