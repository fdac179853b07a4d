/**
 * The stage of a VT-d leaf entry in the No-Snoop audit, from the result's `kind` (PGTT in scalable
 * mode, TT | 0x10 in legacy mode): VT-d's ArchReport.auditStage, and the collector's default.
 */
const PGTT_FS = 1, PGTT_NESTED = 3;

export function vtdAuditStage(kind: number): string {
  if (kind & 0x10) return "legacy";
  return kind === PGTT_FS ? "first-stage" : kind === PGTT_NESTED ? "nested" : "second-stage";
}
