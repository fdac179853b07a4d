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
export const W_AD_NOSNOOP: u32 = 7; // an A/D update was needed but the walk is not snooped
export const W_S2_WRITE: u32 = 8; // nested: stage 2 does not grant write for an A/D update
export const W_ACCESS_FLAG: u32 = 9; // a leaf without its access flag, and no hardware update of it (VMSA AF)
export const W_ADDR_SIZE: u32 = 10; // a table or output address beyond the output size (VMSA PS)

/** Accumulated-permission bits (ANDed over the levels walked so far). */
export const PERM_R: u32 = 1;
export const PERM_W: u32 = 2;
export const PERM_U: u32 = 4;
export const PERM_X: u32 = 8;
export const PERM_ALL: u32 = 15;
/**
 * Privileged execute (VMSA stage 1: not PXN/PXNTable, not writable at EL0, not WXN-writable). Kept
 * apart from PERM_ALL, whose four bits VT-d packs beside its own flags; a walk starts from
 * PERM_WALK_START and formats without the notion never grant it.
 */
export const PERM_PX: u32 = 16;
export const PERM_WALK_START: u32 = PERM_ALL | PERM_PX;

/**
 * A walk-cache entry (a non-leaf entry a walk read, kept so a later walk can resume below it),
 * keyed by the walk's cacheOwner and `va >> span` at its level:
 *   0 next table (host-physical, even under nesting)   8 nested: the SS leaf mapping that table
 *   16 u32 PERM_* accumulated down to it, | WC_S2W when stage 2 allows writing the next table
 *   20 u32 span: log2 of the bytes of input address space the entry covers
 */
export const WC_NEXT: u32 = 0;
export const WC_S2_LEAF: u32 = 8;
export const WC_PERMS: u32 = 16;
export const WC_SPAN_LG2: u32 = 20;
export const WC_PAYLOAD_BYTES: u32 = 24;
export const WC_S2W: u32 = 0x100;

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
  /**
   * Geometry of formats with configurable granules (VMSA): log2 of the granule, index bits per
   * level, index bits of the top (start) level (more with concatenated tables, fewer for a short
   * input), and the output-address size in bits (addresses at or above fault).
   */
  granuleLg2: u32 = 12;
  levelBits: u32 = 9;
  topIndexBits: u32 = 9;
  oaBits: u32 = 48;
  /** VMSA: a missing access flag does not fault (AFFD); hardware dirty state through DBM (HD). */
  accessFaultOff: bool = false;
  dirtyByDbm: bool = false;
  /**
   * VMSA stage 1: the input is in the upper (TTB1) range; the top byte is ignored (TBI); the
   * table descriptors' hierarchical attributes are disabled (HAD); write implies execute-never (WXN).
   */
  upper: bool = false;
  tbi: bool = false;
  hierarchyOff: bool = false;
  wxn: bool = false;
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
  /** The walk caches' tag for this walk's address space (chosen by the architecture). */
  cacheOwner: u64 = 0;

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
  global: bool = false; // FS leaf G; VMSA stage 1: nG == 0
  snp: bool = false; // SS leaf SNP
  /** VMSA stage 1: privileged execute (see fmt/vmsa.ts); permX is then unprivileged execute. */
  permPX: bool = false;
  /** VMSA leaf attributes: the Contiguous hint (52), SH (9:8), stage-1 AttrIndx (4:2), stage-2 MemAttr (5:2). */
  contiguous: bool = false;
  sh: u32 = 0;
  attrIndx: u32 = 0;
  memAttr: u32 = 0;
  reads: u32 = 0; // entries read by this walk, including the second-stage reads it caused
  /**
   * Where the leaf entry lies in the simulator's own memory: the linear-memory address of the guest
   * page holding it. Simulation bookkeeping, not state of the model (engine/prefetch.ts).
   */
  leafPage: usize = 0;
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
