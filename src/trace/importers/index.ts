/**
 * Trace importers (`iommu-emu convert --from NAME`): each reads a text format other tools produce
 * (Linux tracepoints, QEMU trace logs, kernel logs, analyzer CSV exports) and yields trace events
 * (the same TraceEvent values the text format v1 parser produces), which `convert` writes as text
 * v1 or binary. A line an importer cannot use is an InputError naming file, line and why, unless
 * `skipBad` is set: then it is counted in `skipped` and left out.
 */
import type { TraceEvent } from "../text.ts";

export interface ImportOptions {
  /** Count and skip lines that cannot be used instead of stopping at the first. */
  skipBad: boolean;
  /** Column mapping for CSV exports, e.g. { addr: "Address", rid: "Requester" }. */
  map?: Record<string, string>;
}

export interface ImportResult {
  events: TraceEvent[];
  skipped: { line: number; reason: string }[];
}

export interface Importer {
  name: string;
  description: string;
  import(text: string, file: string, opts: ImportOptions): ImportResult;
}

/** The importers by `--from` name (filled in by the importer modules). */
export const importers: Record<string, Importer> = {};
