/**
 * Trace importers (`iommu-emu convert --from NAME`): each reads a text format other tools produce
 * (Linux tracepoints, QEMU trace logs, kernel logs, analyzer CSV exports) and yields trace events
 * (the same TraceEvent values the text format v1 parser produces), which `convert` writes as text
 * v1 or binary. A line an importer cannot use is an InputError naming file, line and why, unless
 * `skipBad` is set: then it is counted in `skipped` and left out.
 */
import type { TraceEvent } from "../text.ts";
import { csvImporter } from "./csv.ts";
import { ftraceImporter } from "./ftrace.ts";
import { kernelImporter } from "./kernel.ts";
import { qemuImporter } from "./qemu.ts";

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
}

export interface Importer {
  name: string;
  description: string;
  import(text: string, file: string, opts: ImportOptions): ImportResult;
}

/**
 * The importers by `--from` name; each module's header says what it reads, what it makes of it,
 * which lines it ignores and which `--map` options it takes:
 * - `ftrace`: Linux tracepoints (ftrace, trace-cmd report, perf script): iommu:map/unmap/
 *   io_page_fault, dma:* mappings, intel_iommu:qi_submit (ftrace.ts)
 * - `qemu`: QEMU intel-iommu and SMMUv3 trace events, log backend or simpletrace text (qemu.ts)
 * - `kernel`: kernel logs: AER TLP headers, DMAR faults, arm-smmu-v3 event records (kernel.ts)
 * - `csv`: analyzer CSV exports through a column mapping (csv.ts)
 * Every importer's events can be written as trace text v1 (lines whose events cannot are errors),
 * and their times never decrease (a line whose time goes back is an error).
 */
export const importers: Record<string, Importer> = {};

for (const importer of [ftraceImporter, qemuImporter, kernelImporter, csvImporter]) importers[importer.name] = importer;
