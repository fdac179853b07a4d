// The state of one page walk (the analogue of Linux generic_pt's pt_state): what to walk, and what
// the walk found. One WalkState exists per stage; under nested translation the first-stage state
// points at the second-stage state, which translates every first-stage table pointer.
//
// Levels are normalised: level 0 is the table of 4 KiB leaves, level 1 maps 2 MiB, level 2 maps
// 1 GiB, level 3 and 4 are the upper directories. Each format maps them to spec names
// (fmt/vtd-ss.ts, fmt/vtd-fs.ts). Results report spec-style level numbers (normalised + 1).

export const MAX_LEVELS: u32 = 5;

/** Walk outcomes. The architecture layer (arch/vtd) turns them into spec fault codes. */
export const W_OK: u32 = 0;
export const W_ACCESS: u32 = 1; // reading an entry hit memory nobody wrote
export const W_NOT_PRESENT: u32 = 2; // entry not present (format's present test)
export const W_RESERVED: u32 = 3; // a reserved bit is set (or a large leaf where none is allowed)
export const W_INPUT: u32 = 4; // input address beyond the width (or non-canonical)
export const W_S2: u32 = 5; // nested: the second-stage walk of a table pointer failed (see s2.fault)
export const W_S2_READ: u32 = 6; // nested: the second stage does not grant read on a table page

/** Accumulated-permission bits (ANDed over the levels walked so far). */
export const PERM_R: u32 = 1;
export const PERM_W: u32 = 2;
export const PERM_U: u32 = 4;
export const PERM_X: u32 = 8;
export const PERM_ALL: u32 = 15;

@final
export class WalkState {
  // ---- configuration, set by the caller -------------------------------------------------------
  fmt: u32 = 0; // Fmt (abi)
  stage: u32 = 0; // 0 first stage, 1 second stage (for read counters)
  levels: u32 = 4; // number of levels walked (3, 4 or 5)
  root: u64 = 0; // table base: PA, or GPA when s2 is set
  /** Bit n set: a leaf is allowed at level n (bit 0 always). */
  leafLevels: u32 = 1;
  /** Input width in bits: the format's canonical width, or the address-width limit. */
  inputBits: u32 = 48;
  /** Mask of the output/table-address bits that are reserved (at or above HAW, below 52). */
  rsvdAddr: u64 = 0;
  /** Format flags: SS SNP reserved; FS XD valid (NXE); FS EA updates (EAFE). */
  snpReserved: bool = false;
  nxe: bool = false;
  eafe: bool = false;
  /** Set accessed flags as entries are used (FS always; SS when the PASID entry sets SSADE). */
  setAD: bool = false;
  /** The walk snoops (PWSNP with ECAP.SMPWCS): required for any A/D update. */
  walkSnooped: bool = true;
  /** Second stage for table pointers (nested translation), or null. */
  s2: WalkState | null = null;
  /**
   * Resume point (a paging-structure-cache hit): start reading at `resumeLevel` from table
   * `resumeTable` (a host-physical address even under nesting) with the permissions accumulated
   * above it. -1: start at the top from `root`.
   */
  resumeLevel: i32 = -1;
  resumeTable: u64 = 0;
  resumePerms: u32 = 0; // PERM_* bits
  resumeS2W: bool = false; // nested: stage 2 allows writing the resume table page
  resumeS2Leaf: u64 = 0; // nested: the SS leaf that maps the resume table page
  /**
   * A look at memory, not a walk the hardware makes: no read counters, no A/D updates, no
   * paging-structure caches (stale checks use it). Nested walks pass it on to stage 2.
   */
  dryRun: bool = false;
  /** Cache tags of this walk's domain (DID, and PASID or TAG_NO_PASID) for the walk caches. */
  cacheDid: u32 = 0;
  cacheTag: u32 = 0;

  // ---- the request -----------------------------------------------------------------------------
  va: u64 = 0;

  // ---- results -----------------------------------------------------------------------------------
  fault: u32 = W_OK;
  faultLevel: u32 = 0; // normalised level where the fault was found
  oa: u64 = 0; // output address
  pageLg2: u32 = 12;
  leafLevel: u32 = 0;
  /** Permissions ANDed across levels (FS: R always; X = no XD seen; U = U/S at every level). */
  permR: bool = false;
  permW: bool = false;
  permU: bool = false;
  permX: bool = false;
  global: bool = false; // FS leaf G
  snp: bool = false; // SS leaf SNP
  reads: u32 = 0; // entries read by this walk, including the second-stage reads it caused
  /** Per level: PA of the entry read, its value, and (nested) whether stage 2 allows writing it. */
  entryPa: StaticArray<u64> = new StaticArray<u64>(MAX_LEVELS);
  entry: StaticArray<u64> = new StaticArray<u64>(MAX_LEVELS);
  entryS2W: StaticArray<bool> = new StaticArray<bool>(MAX_LEVELS);
  /** Nested: PA of the SS leaf that mapped each first-stage table page (for SS dirty updates). */
  entryS2Leaf: StaticArray<u64> = new StaticArray<u64>(MAX_LEVELS);
  /** Permissions accumulated down to and including each level's entry (PERM_* bits). */
  entryPerms: StaticArray<u32> = new StaticArray<u32>(MAX_LEVELS);
  /** Level the walk started reading at (the top, or the resume level). */
  firstLevel: u32 = 0;
}
