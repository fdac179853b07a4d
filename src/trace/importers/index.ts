/**
 * Trace importers (`iommu-emu convert --from NAME`): each reads a text format other tools produce
 * (Linux tracepoints, QEMU trace logs, kernel logs, analyzer CSV exports) and yields trace events
 * (the same TraceEvent values the text format v1 parser produces), which `convert` writes as text
 * v1 or binary. A line an importer cannot use is an InputError naming file, line and why, unless
 * `skipBad` is set: then it is counted in `skipped` and left out. Every import ends with a summary
 * (lines read, used, ignored by reason, bad; events by kind); importTrace() refuses an import that
 * used no line of a non-empty input, saying what the input looks like (detect.ts).
 */
import { InputError } from "../../errors.ts";
import { IGNORE_REASONS, type ImportSummary } from "./common.ts";
import { describeInput } from "./detect.ts";
import { csvImporter } from "./csv.ts";
import { ftraceImporter } from "./ftrace.ts";
import { kernelImporter } from "./kernel.ts";
import { qemuImporter } from "./qemu.ts";

export type { ImportOptions, ImportResult, Importer } from "./types.ts";
import type { Importer, ImportOptions, ImportResult } from "./types.ts";

/**
 * The importers by `--from` name; each module's header says what it reads, what it makes of it,
 * which lines it ignores and which `--map` options it takes:
 * - `ftrace`: Linux tracepoints (ftrace, trace-cmd report, perf script): iommu:map/unmap/
 *   io_page_fault/attach_device_to_domain (and the group events, into the summary), dma:*
 *   mappings, intel_iommu:qi_submit (ftrace.ts)
 * - `qemu`: QEMU intel-iommu and SMMUv3 trace events, log backend or simpletrace text (qemu.ts)
 * - `kernel`: kernel logs: AER TLP headers, DMAR faults, arm-smmu-v3 event records (kernel.ts)
 * - `csv`: analyzer CSV exports through a column mapping (csv.ts)
 * Every importer's events can be written as trace text v1 (lines whose events cannot are errors),
 * and their times never decrease (a line whose time goes back is an error).
 */
export const importers: Record<string, Importer> = {};

for (const importer of [ftraceImporter, qemuImporter, kernelImporter, csvImporter]) importers[importer.name] = importer;

/**
 * Imports `data` (the input's bytes) with importer `name`. An input with a line that is not blank
 * (or a comment) of which the importer used none is an InputError that says how many lines were
 * ignored and why, and what the input looks like instead (detect.ts): another format, or data no
 * importer reads.
 */
export function importTrace(name: string, data: Uint8Array, file: string, opts: ImportOptions): ImportResult {
  const importer = importers[name];
  if (importer === undefined) throw new Error(`no importer ${name}`);
  const r = importer.import(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8"), file, opts);
  const s = r.summary;
  if (s.used === 0 && s.lines > s.ignored.blank) {
    const why = [...IGNORE_REASONS.filter(([k]) => s.ignored[k] > 0).map(([k, words]) => `${s.ignored[k]} ${words}`), ...(s.skipped ? [`${s.skipped} bad (skipped)`] : [])];
    const lines = `${s.lines} line${s.lines === 1 ? "" : "s"}`;
    throw new InputError(`the ${name} importer used no line of the input (${lines}: ${why.join(", ")}): ${describeInput(data, name, Object.values(importers))}`, file);
  }
  return r;
}
