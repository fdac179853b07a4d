/**
 * What an input looks like, from its first lines: iommu-emu's binary trace (its magic), text
 * format v1 (lines the parser accepts) and each importer's `detect` (lines of its shape). Used by
 * `convert --from auto`, by `convert` without --from when the extension does not decide, and by
 * the message of an import that used no line ("... it looks like a kernel log").
 *
 * The sample is the input's first 200 lines within its first 64 KiB, blank lines and `#` comment
 * lines left out (ftrace headers and text v1 comments say nothing either way). A format's score is
 * the share of the sample it recognises; the input is taken for the format with the highest score,
 * when that is at least one half. Equal scores go by a fixed order: binary, text, then the
 * importers in their registry order (ftrace, qemu, kernel, csv).
 */
import { hasMagic } from "../binary.ts";
import { parseTraceEvent } from "../text.ts";
import type { Importer } from "./types.ts";

const SAMPLE_BYTES = 64 * 1024;
const SAMPLE_LINES = 200;
/** A format is taken only when it recognises at least this share of the sample. */
export const DETECT_THRESHOLD = 0.5;

export interface Detection {
  /** `binary`, `text` or an importer's name. */
  format: string;
  /** Share of the sample's lines the format recognises (0 to 1). */
  score: number;
  /** What an input of that format is, for messages. */
  looksLike: string;
}

export const TEXT_LOOKS_LIKE = "an iommu-emu text trace (format v1)";
export const BINARY_LOOKS_LIKE = "an iommu-emu binary trace";

/** The sample's lines: the first SAMPLE_LINES lines of the first SAMPLE_BYTES, without blank and `#` lines. */
export function sampleLines(data: Uint8Array): string[] {
  const cut = data.length > SAMPLE_BYTES;
  let text = Buffer.from(data.buffer, data.byteOffset, Math.min(data.length, SAMPLE_BYTES)).toString("utf8");
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const lines = text.split(/\r?\n/);
  if (cut) lines.pop(); // the last line is cut short
  return lines.slice(0, SAMPLE_LINES).filter((l) => l.trim() !== "" && !l.trimStart().startsWith("#"));
}

/**
 * True when the data is not text: a NUL byte, bytes that are not UTF-8, or more than one in ten
 * characters a control character other than tab, line ends and form feed, in its first 4 KiB.
 */
export function looksBinary(data: Uint8Array): boolean {
  const head = data.subarray(0, 4096);
  if (head.includes(0)) return true;
  let text: string;
  try {
    // a multi-byte character cut at the end of the 4 KiB is not an error
    text = new TextDecoder("utf-8", { fatal: true }).decode(head.length === data.length ? head : head.subarray(0, lastCharStart(head)));
  } catch {
    return true;
  }
  let control = 0;
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    if ((c < 32 && c !== 9 && c !== 10 && c !== 12 && c !== 13) || c === 127) control++;
  }
  return control * 10 > text.length;
}

/** Where the last (possibly cut) UTF-8 character of `b` starts. */
function lastCharStart(b: Uint8Array): number {
  let i = b.length;
  while (i > 0 && i > b.length - 4 && (b[i - 1]! & 0xc0) === 0x80) i--;
  return i > 0 && b[i - 1]! >= 0xc0 ? i - 1 : b.length;
}

/** Every format's score for `data`, best first (equal scores in the fixed order). */
export function detectFormats(data: Uint8Array, registry: readonly Importer[]): Detection[] {
  if (hasMagic(data)) return [{ format: "binary", score: 1, looksLike: BINARY_LOOKS_LIKE }];
  if (looksBinary(data)) return [];
  const sample = sampleLines(data);
  if (sample.length === 0) return [];
  const textScore = sample.filter((l) => {
    try {
      return parseTraceEvent(l, "-", 1) !== null;
    } catch {
      return false;
    }
  }).length / sample.length;
  const all: Detection[] = [
    { format: "text", score: textScore, looksLike: TEXT_LOOKS_LIKE },
    ...registry.map((i) => ({ format: i.name, score: i.detect(sample), looksLike: i.looksLike })),
  ];
  // a stable sort keeps the fixed order among equal scores
  return all.filter((d) => d.score > 0).sort((a, b) => b.score - a.score);
}

/** The format `data` is taken for, or undefined when none recognises at least half its sample. */
export function detectFormat(data: Uint8Array, registry: readonly Importer[]): Detection | undefined {
  const best = detectFormats(data, registry)[0];
  return best !== undefined && best.score >= DETECT_THRESHOLD ? best : undefined;
}

/**
 * What the input looks like, for the message of an import by `tried` that used none of its lines:
 * "it is an iommu-emu binary trace (use --from binary)", "it looks like a kernel log (...) (try
 * --from kernel)", "it looks like binary data, not text", or what its first line is.
 */
export function describeInput(data: Uint8Array, tried: string, registry: readonly Importer[]): string {
  if (hasMagic(data)) return `it is ${BINARY_LOOKS_LIKE} (use --from binary)`;
  if (looksBinary(data)) return "it looks like binary data, not text";
  const best = detectFormat(data, registry);
  if (best !== undefined && best.format !== tried) return `it looks like ${best.looksLike} (try --from ${best.format})`;
  if (best !== undefined) return `it looks like ${best.looksLike}, but none of its lines is a DMA access, mapping or invalidation the ${tried} importer reads`;
  const first = sampleLines(data)[0] ?? "";
  return `it looks like text no importer reads (first line: "${first.length > 60 ? first.slice(0, 57) + "..." : first}")`;
}
