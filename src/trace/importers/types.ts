/** The interface every importer implements (index.ts lists them; README "Importers"). */
import type { TraceEvent } from "../text.ts";

/** Why a line made no event (each counted in the summary; bad lines are errors, or counted and left
 * out with --skip-bad). */
export type IgnoreReason = "blank" | "unrecognised" | "noDma" | "repeat" | "superseded";

/** What an import read and made (printed by `convert` on standard error). */
export interface ImportSummary {
  importer: string;
  /** Lines of the input (a last line ending in a newline is not followed by an empty one). */
  lines: number;
  /** Lines that made events (a record's lines all count). */
  used: number;
  ignored: Record<IgnoreReason, number>;
  /** Bad lines left out (--skip-bad). */
  skipped: number;
  /** Events made, by kind: TLPs by op, then driver events. */
  events: { MRd: number; MWr: number; ATS: number; map: number; unmap: number; flush: number; inv: number; attach: number; detach: number };
  /** TLPs that carry an expected fault (expect=). */
  expected: number;
  /** Importer-specific counts worth knowing (e.g. maps whose physical address the trace does not give). */
  notes: { what: string; count: number }[];
  /**
   * The IOMMU groups the traced kernel formed (ftrace iommu:add_device_to_group and
   * remove_device_from_group), present only when the input has such lines: the kernel's group
   * number and its devices (PCI ones as `iommu-emu groups` prints them), for comparing with the
   * groups computed from a scenario's topology.
   */
  groups?: { id: number; devices: string[] }[];
}

export interface ImportOptions {
  /** Count and skip lines that cannot be used instead of stopping at the first. */
  skipBad: boolean;
  /**
   * `--map key=value` options; each importer says which keys it takes and rejects others:
   * csv the column mapping ({ addr: "Address", rid: "Requester", ... }), ftrace the domain ids
   * ({ domain: "1", "0000:c2:00.0": "2" }), qemu the default direction ({ op: "MWr" }).
   */
  map?: Record<string, string>;
}

export interface ImportResult {
  events: TraceEvent[];
  skipped: { line: number; reason: string }[];
  summary: ImportSummary;
}

export interface Importer {
  name: string;
  description: string;
  /** What an input of this format is, for "the input looks like ..." (e.g. "a kernel log (dmesg)"). */
  looksLike: string;
  import(text: string, file: string, opts: ImportOptions): ImportResult;
  /**
   * How much the first lines of an input (blank lines and `#` comments left out) look like this
   * format: the share of them it recognises, 0 to 1 (`--from auto`, detect.ts).
   */
  detect(sample: readonly string[]): number;
}

