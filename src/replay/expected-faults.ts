/**
 * `iommu-emu run --expect-faults`: for every TLP that carries the fault a log recorded (`expect=`,
 * written by the importers from kernel DMAR fault lines, arm-smmu-v3 event records and QEMU
 * vtd_dmar_fault events), whether the model gave the same fault:
 *
 * - match: the model faulted with the logged fault reason (VT-d: the same reason number, spec
 *   7.1.3; the model's `fault.code`);
 * - different: the model faulted with another reason;
 * - noFault: the model did not fault (the result's status is ok, interrupt, blocked, ...);
 * - notCompared: the logged fault belongs to another architecture (an SMMUv3 event type while the
 *   model is VT-d).
 *
 * A mismatch is a result, not an error: the run's exit code does not change. The rows are printed
 * after the run summary and written to the --report JSON as `expectedFaults`.
 */
import { faultCatalogues } from "../core/abi.ts";
import { archTitles } from "../arch/types.ts";
import type { Result } from "../core/core.ts";
import { formatBdf, type FaultExpectation, type TraceTlp } from "../trace/text.ts";

export type ExpectedFaultOutcome = "match" | "different" | "noFault" | "notCompared";

export interface ExpectedFaultRow {
  /** The TLP's number among the trace's TLPs (0-based, as in --results). */
  seq: number;
  /** Its line (text) or record (binary) number. */
  line: number;
  op: TraceTlp["op"];
  bdf: string;
  pasid?: number;
  addr: string;
  expected: { arch: FaultExpectation["arch"]; code: number; name: string };
  model: { status: Result["status"]; code?: number; name?: string };
  outcome: ExpectedFaultOutcome;
}

/** The `expectedFaults` section of the --report JSON. */
export interface ExpectedFaultsReport {
  total: number;
  match: number;
  different: number;
  noFault: number;
  notCompared: number;
  tlps: ExpectedFaultRow[];
}

const OUTCOME_WORDS: Record<ExpectedFaultOutcome, string> = {
  match: "match",
  different: "different reason",
  noFault: "no fault",
  notCompared: "not compared",
};

/** A fault's name: the VT-d condition ID the model knows (LGN.3), the SMMUv3 event name, or "". */
function faultName(arch: FaultExpectation["arch"], code: number): string {
  return faultCatalogues[arch].get(code)?.id ?? "";
}

const hex2 = (n: number) => "0x" + n.toString(16).padStart(2, "0");

export class ExpectedFaults {
  readonly rows: ExpectedFaultRow[] = [];

  /**
   * `modelArch` is the architecture of the modelled IOMMU; `position` says what a TLP's `line` is
   * (the line of a text trace, the record of a binary one).
   */
  constructor(
    private readonly modelArch: FaultExpectation["arch"],
    private readonly position: "line" | "record",
  ) {}

  /** One TLP with an expected fault and the model's result for it. */
  add(seq: number, tlp: TraceTlp & { expect: FaultExpectation }, result: Result): void {
    const { arch, code } = tlp.expect;
    const fault = result.status === "fault" ? result.fault : undefined;
    const outcome: ExpectedFaultOutcome = arch !== this.modelArch ? "notCompared" : fault === undefined ? "noFault" : fault.code === code ? "match" : "different";
    this.rows.push({
      seq,
      line: tlp.line,
      op: tlp.op,
      bdf: formatBdf(tlp.sid),
      ...(tlp.pasid !== undefined ? { pasid: tlp.pasid } : {}),
      addr: "0x" + tlp.addr.toString(16),
      expected: { arch, code, name: faultName(arch, code) },
      model: { status: result.status, ...(fault !== undefined ? { code: fault.code, name: fault.name } : {}) },
      outcome,
    });
  }

  report(): ExpectedFaultsReport {
    const count = (o: ExpectedFaultOutcome) => this.rows.filter((r) => r.outcome === o).length;
    return { total: this.rows.length, match: count("match"), different: count("different"), noFault: count("noFault"), notCompared: count("notCompared"), tlps: this.rows };
  }

  /** The lines printed after the run summary. */
  format(): string {
    const out = ["Expected faults (expect= in the trace, compared with the model's)"];
    if (this.rows.length === 0) {
      out.push("  no TLP of the trace carries an expected fault (importers write them from kernel DMAR and arm-smmu-v3 logs and QEMU vtd_dmar_fault)");
      return out.join("\n");
    }
    const fault = (arch: FaultExpectation["arch"], code: number, name: string) =>
      arch === "smmuv3" ? `${name} (SMMUv3 event ${hex2(code)})` : `${hex2(code)}${name ? ` ${name}` : ""}`;
    for (const r of this.rows) {
      const tlp = `${r.op} ${r.bdf}${r.pasid !== undefined ? ` pasid=0x${r.pasid.toString(16)}` : ""} addr=${r.addr}`;
      const model = r.model.code !== undefined ? `model ${fault(this.modelArch, r.model.code, r.model.name ?? "")}` : `model ${r.model.status}`;
      const why = r.outcome === "notCompared" ? ` (the model is ${archTitles[this.modelArch]})` : "";
      out.push(`  ${this.position} ${r.line}: ${tlp}: logged ${fault(r.expected.arch, r.expected.code, r.expected.name)}, ${model}: ${OUTCOME_WORDS[r.outcome]}${why}`);
    }
    const c = this.report();
    out.push(`  ${c.total} expected faults: ${c.match} match, ${c.different} different reason, ${c.noFault} no fault${c.notCompared ? `, ${c.notCompared} not compared` : ""}`);
    return out.join("\n");
  }
}
