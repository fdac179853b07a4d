/** VT-d's own platform options (src/arch/vtd/module.ts applies them to the core). */

/** The points of snoop behaviour the spec leaves open (README "Snoop decision"). */
export interface SnoopOptions {
  /** Nested (PGTT=011): the SNP of the SS leaf that maps the final GPA forces snooping (ECAP.SC=1). */
  nestedSsLeafSnp: boolean;
  /** Pass-through (PGTT=100): PGSNP=1 forces snooping. */
  passThroughPgsnp: boolean;
  /** With ECAP.SC=0, SS-leaf SNP (bit 11) is a reserved bit (fault) rather than ignored. */
  snpReservedWithoutSc: boolean;
  /** With ECAP.SC=0, PGSNP=1 is a reserved-bit fault (SPT.3), ignored, or honoured. */
  pgsnpWithoutSc: "reserved" | "ignored" | "honoured";
}

export const defaultSnoopOptions: SnoopOptions = {
  nestedSsLeafSnp: false,
  passThroughPgsnp: true,
  snpReservedWithoutSc: false,
  pgsnpWithoutSc: "reserved",
};

/** VT-d's own platform options. */
export interface VtdPlatformOptions {
  /** Translation table mode (RTADDR.TTM): scalable (default) or legacy. */
  mode?: "scalable" | "legacy";
  cap?: bigint;
  ecap?: bigint;
  snoop?: Partial<SnoopOptions>;
}

