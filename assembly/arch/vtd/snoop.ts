// Snoop outcome of the final-page access (spec 3.9 "Snoop Behavior", 9.6 PGSNP, 9.8 SNP; the
// decision table is in shared/spec/vtd.md 2.12.2 and the README). Returns what decided it:
// SNOOP_BY_PGSNP or SNOOP_BY_PTE force snooping; SNOOP_BY_TLP means the TLP's No-Snoop attribute
// decides (snoop = !NS).
import { SNOOP_BY_TLP, SNOOP_BY_PGSNP, SNOOP_BY_PTE, OPT_NESTED_SS_SNP, OPT_PT_PGSNP, PGSNP_NO_SC_HONOURED } from "../../abi";
import { ecapSc, options, pgsnpNoSc } from "./regs";
import { PGTT_SS, PGTT_NESTED, PGTT_PT } from "./pasid";
import { TT_PT } from "./context-entry";

/** Legacy mode: SC=1 and the leaf SS entry's SNP force snooping (pass-through never does). */
export function snoopLegacy(tt: u32, leafSnp: bool): u8 {
  if (tt != TT_PT && ecapSc && leafSnp) return SNOOP_BY_PTE;
  return SNOOP_BY_TLP;
}

/**
 * Scalable mode. PGSNP=1 forces snooping for every access through the PASID entry (with ECAP.SC=0
 * only under the "honoured" policy; the "reserved" policy already faulted, "ignored" drops it).
 * The SS leaf's SNP forces snooping for second-stage-only translation when ECAP.SC=1, and for
 * nested translation only under the nestedSsSnp option. Pass-through honours PGSNP under ptPgsnp.
 */
export function snoopScalable(pgtt: u32, pgsnp: bool, ssLeafSnp: bool): u8 {
  const pgsnpOn = pgsnp && (ecapSc || pgsnpNoSc == PGSNP_NO_SC_HONOURED);
  if (pgtt == PGTT_PT) return pgsnpOn && (options & OPT_PT_PGSNP) != 0 ? SNOOP_BY_PGSNP : SNOOP_BY_TLP;
  if (pgsnpOn) return SNOOP_BY_PGSNP;
  if (pgtt == PGTT_SS && ecapSc && ssLeafSnp) return SNOOP_BY_PTE;
  if (pgtt == PGTT_NESTED && ecapSc && ssLeafSnp && (options & OPT_NESTED_SS_SNP) != 0) return SNOOP_BY_PTE;
  return SNOOP_BY_TLP;
}
