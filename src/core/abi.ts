/**
 * The core's binary interface: fixed regions of linear memory, record layouts, enumerations and
 * the VT-d fault-reason table. This file is the single source of truth; `scripts/gen-abi.ts`
 * writes `assembly/abi.ts` from it (a test checks the generated file is current).
 *
 * Everything the host and the core share lives at fixed offsets below `HEAP_BASE`; the core's own
 * static data and heap (guest-memory pages, walk state) start at `HEAP_BASE` (asc `memoryBase`).
 *
 * ```
 * 0x00000  CTRL    control block: registers, options, cache geometry (4 KiB)
 * 0x01000  STATS   counters, u64 each (4 KiB), then fault counts by reason code (256 x u64)
 * 0x02800  CSTATS  per-cache counters (CACHE_COUNT x 8 x u64)
 * 0x03000  STAGE   staging buffer for host<->guest-memory copies (64 KiB = 8192 qwords)
 * 0x13000  REQ     request ring  (RING_RECORDS x REQ_SIZE = 24 bytes)
 * ...      RES     result ring   (RING_RECORDS x RES_SIZE)
 * HEAP_BASE        core static data and heap
 * ```
 */

export const RING_RECORDS = 4096;

export const CTRL_BASE = 0x0;
export const STATS_BASE = 0x1000;
export const FAULT_COUNTS_BASE = 0x2000; // 256 x u64, indexed by fault reason code
export const CACHE_STATS_BASE = 0x2800; // CACHE_COUNT x CACHE_STATS_SIZE bytes
export const STAGE_BASE = 0x3000;
export const STAGE_QWORDS = 8192;
export const REQ_BASE = STAGE_BASE + STAGE_QWORDS * 8;
export const REQ_SIZE = 24;
export const RES_BASE = REQ_BASE + RING_RECORDS * REQ_SIZE;
export const RES_SIZE = 64;
export const HEAP_BASE = RES_BASE + RING_RECORDS * RES_SIZE;

/** Control block: u64 registers and u32 options, byte offsets from CTRL_BASE. */
export const Ctrl = {
  CAP: 0x00, // u64, VT-d CAP_REG (spec 11.4.2)
  ECAP: 0x08, // u64, VT-d ECAP_REG (spec 11.4.3)
  RTADDR: 0x10, // u64, VT-d RTADDR_REG (spec 11.4.5): RTA 63:12, TTM 11:10
  GSTS: 0x18, // u32, VT-d GSTS_REG (spec 11.4.4.2): TES bit 31
  PHYS_ADDR_BITS: 0x1c, // u32, host physical address width (HAW), 39..52
  OPTIONS: 0x20, // u32, OPT_* bits below
  PGSNP_NO_SC: 0x24, // u32, PGSNP_NO_SC_* policy below
  SEED: 0x28, // u32, seed of the random replacement policy
  // Invalidation registers (spec 11.4.7-11.4.9, 11.4.4.1, 11.4.6); written through regWrite()
  FSTS: 0x2c, // u32 fault status: 4 IQE (RW1C)
  IQA: 0x30, // u64 63:12 IQ base, 11 DW (256-bit descriptors), 2:0 QS (4 KiB x 2^QS)
  IQH: 0x38, // u64 queue head (byte offset), advanced by the hardware
  IQT: 0x40, // u64 queue tail (byte offset), written by software: processing starts
  IQERCD: 0x48, // u64 3:0 IQEI, the reason of the last invalidation-queue error
  ICS: 0x50, // u32 0 IWC: invalidation wait descriptor complete (RW1C)
  CCMD: 0x58, // u64 context command: 63 ICC, 62:61 CIRG, 60:59 CAIG, 33:32 FM, 31:16 SID, 15:0 DID
  IOTLB_REG: 0x60, // u64 IOTLB invalidate: 63 IVT, 61:60 IIRG, 58:57 IAIG, 47:32 DID
  IVA: 0x68, // u64 invalidate address: 63:12 ADDR, 6 IH, 5:0 AM
  ARCH: 0x70, // u32 the architecture of this unit (Arch): the core dispatches every call on it
  REQ_TIME_BASE: 0x78, // u64 arrival cycle the request records' TIME counts from (the host sets it per batch)
  CACHES: 0x100, // CACHE_COUNT x CACHE_CFG_SIZE: { entries, assoc (0 = fully), policy, enabled, latency, ports } u32 each
  SMMU: 0x300, // the SMMUv3 register block (256 bytes; its layout is the architecture's own)
  TIMING: 0x400, // the timing parameters (TimingCfg)
  IORT: 0x800, // SMMUv3: the root complexes' RID-to-StreamID map (IortMap)
  PEER_WINDOWS: 0xc40, // the root complex's peer-to-peer windows per requester (P2pMap)
  DOORBELLS: 0xf60, // the interrupt controller's MSI doorbell pages (DoorbellMap)
} as const;

/**
 * SMMUv3: what firmware's IORT root-complex nodes describe (IORT "ID mappings", "Memory access
 * properties"), at CTRL_BASE + Ctrl.IORT. RANGES = 0: no map (StreamID = the request's SID, the
 * identity, and Opt.CANWBS is the platform's flag). Otherwise RANGES ranges of IORT_ENTRY_SIZE bytes
 * at ENTRIES, sorted by IN_BASE and disjoint: a request whose SID (segment<<16 | RID) is in
 * [IN_BASE, IN_BASE + COUNT) gets StreamID OUT_BASE + (SID - IN_BASE) and belongs to root complex
 * RC; bit RC of CANWBS is that root complex's CANWBS flag. A SID no range covers is not routed to
 * the SMMU (ResStatus.UNROUTED). The host writes it once at set-up (Core.setStreamMap).
 */
export const IortMap = { RANGES: 0, CANWBS: 4, ENTRIES: 16 } as const;
export const IortEntry = { IN_BASE: 0, COUNT: 4, OUT_BASE: 8, RC: 12 } as const;
export const IORT_ENTRY_SIZE = 16;
export const IORT_MAX_RANGES = 64;
export const IORT_MAX_ROOT_COMPLEXES = 32;

/**
 * The peer-to-peer windows the root complex (or a switch without ACS redirection) routes to a peer
 * before the IOMMU sees the request (reserved regions of type RESERVED, src/iommu/regions.ts), at
 * CTRL_BASE + Ctrl.PEER_WINDOWS: RANGES windows of P2P_ENTRY_SIZE bytes at ENTRIES, each a requester SID
 * (segment<<16 | RID, as the request carries it), a KIND and an inclusive address range [BASE, LAST].
 * A request whose SID and untranslated address fall in one is not translated: KIND 0 (PeerKind.P2P)
 * is routed to the peer (ResStatus.PEER, named "p2p"; counted in `p2p` only), KIND 1
 * (PeerKind.DOORBELL) is a hardware MSI doorbell the interrupt controller takes before the IOMMU
 * (ResStatus.INTERRUPT, counted in `interrupts` only); untimed. The host writes it once at set-up
 * (Core.setP2pWindows).
 */
export const P2pMap = { RANGES: 0, ENTRIES: 16 } as const;
export const P2pEntry = { SID: 0, KIND: 4, BASE: 8, LAST: 16 } as const;
export const PeerKind = { P2P: 0, DOORBELL: 1 } as const;
export const P2P_ENTRY_SIZE = 24;
export const P2P_MAX_RANGES = 32;

/**
 * SMMUv3's MSI doorbells reached through translation (the SW_MSI window: the driver maps each
 * doorbell's page there, Linux iommu_dma_get_msi_page), at CTRL_BASE + Ctrl.DOORBELLS: COUNT 4 KiB
 * page addresses (u64) at PAGES. A write whose translation ends in one is an interrupt: its status
 * becomes ResStatus.INTERRUPT and it counts in `interrupts` as well as `translated`.
 */
export const DoorbellMap = { COUNT: 0, PAGES: 8 } as const;
export const DOORBELL_MAX = 8;

/**
 * The architectures a core instance can be (Ctrl.ARCH). The register block above (CAP ... IVA) is
 * VT-d's; another architecture's registers get a block of their own.
 */
export const Arch = { VTD: 0, SMMUV3: 1 } as const;
export type ArchName = "vtd" | "smmuv3";
export const archIds: Record<ArchName, number> = { vtd: Arch.VTD, smmuv3: Arch.SMMUV3 };

/** The caches of the model (uarch/), by index into the CACHES configuration and CSTATS blocks. */
export const cacheNames = [
  "iotlb",
  "contextCache",
  "pasidCache",
  "pwcFsPde",
  "pwcFsPdpe",
  "pwcFsPml4e",
  "pwcFsPml5e",
  "pwcSsPde",
  "pwcSsPdpe",
  "pwcSsPml4e",
  "pwcSsPml5e",
  "deviceTlb",
  "microTlb",
] as const;
export type CacheName = (typeof cacheNames)[number];
export const CacheId = Object.fromEntries(cacheNames.map((n, i) => [n, i])) as { [K in CacheName]: number };
export const CACHE_COUNT = 16;
export const CACHE_CFG_SIZE = 32;
export const CacheCfg = { ENTRIES: 0, ASSOC: 4, POLICY: 8, ENABLED: 12, LATENCY: 16, PORTS: 20 } as const;

/** Timing parameters (u32 each) at CTRL_BASE + Ctrl.TIMING; cycles unless stated. */
export const TimingCfg = {
  ENABLED: 0, // 0: functional only (no events, no cycles)
  WALKER_SLOTS: 4, // page walks in flight at once
  XLATE_SLOTS: 8, // translations outstanding in the IOMMU at once
  COALESCE: 12, // 1: a miss to a page whose walk is in flight waits for it
  IN_ORDER: 16, // 1: completions in order per requester (source ID)
  STRUCT_READ_LAT: 20, // read of a root/context/PASID-directory/PASID-table entry
  READ_LAT: 24, // 5 x u32: paging-entry read latency by spec level 1..5
  AD_WRITE_LAT: 44, // accessed/dirty flag write
  INV_FETCH: 48, // invalidation descriptor fetch
  INV_PER_ENTRY: 52, // processing per cache entry an invalidation removes
  INV_WAIT: 56, // invalidation-wait completion (status write)
  LINK_LAT: 60, // SMMUv3: one crossing of the device-interface <-> SMMU link
} as const;

/** Latency classes of the timing statistics (what served the translation). */
export const latencyClassNames = ["iotlbHit", "pdeHit", "pdpeHit", "pml4eHit", "pml5eHit", "fullWalk", "fault", "other"] as const;
/**
 * The latency histogram of each class (assembly/timing/histogram.ts): log-linear ("HDR") buckets of
 * u64 counts over the whole u64 latency range, fixed size, no clipping. Latencies below
 * 2^EXACT_LG2 cycles have a bucket each (exact); from there each power-of-two range [2^e, 2^(e+1))
 * is split into 2^SUB_LG2 equal buckets of 2^(e - SUB_LG2) cycles, so a bucket is narrower than
 * 2^-SUB_LG2 of any latency in it (relative error < 2^-8 = 0.39%).
 *
 * ```
 * bucket(v) = v                                                      v < 2^12
 *           = 2^12 + (e - 12) * 2^8 + (v >> (e - 8)) - 2^8            e = floor(log2 v) >= 12
 * ```
 */
export const LatencyHist = {
  EXACT_LG2: 12, // exact 1-cycle buckets below 4096 cycles
  SUB_LG2: 8, // 256 buckets per power of two from 4096 on
} as const;
export const HIST_BUCKETS = (1 << LatencyHist.EXACT_LG2) + (64 - LatencyHist.EXACT_LG2) * (1 << LatencyHist.SUB_LG2); // 17408
/** Bytes of one class's histogram (u64 counts). */
export const HIST_CLASS_BYTES = HIST_BUCKETS * 8;
/** Timing statistics block (address from the core's timingStats()): u64 fields, then per class. */
export const TimingStat = {
  FIRST_ARRIVAL: 0,
  LAST_COMPLETION: 8,
  STALL_CYCLES: 16, // waiting for a translation slot (back-pressure)
  PEAK_OUTSTANDING: 24,
  WALKER_BUSY: 32, // walker-slot cycles in use, summed over slots
  TIMED: 40, // translations timed
  INV_CYCLES: 48, // invalidation work (descriptor fetches, entries removed, waits)
  COALESCED: 56, // hits on an IOTLB entry whose walk was still in flight, that waited for it
  REWALKS: 64, // such hits that walked again (coalescing off)
  CLASSES: 128, // per class: count, sum, max latency (u64 each), TIMING_CLASS_SIZE bytes
  HIST: 512, // per class: HIST_CLASS_BYTES (HIST_BUCKETS x u64)
} as const;
export const TIMING_CLASS_SIZE = 24;
export const TIMING_STATS_BYTES = TimingStat.HIST + 8 * HIST_CLASS_BYTES;
/** Per-cache counters (u64) at CACHE_STATS_BASE + id * CACHE_STATS_SIZE. */
export const cacheCounterNames = ["lookups", "hits", "misses", "fills", "evictions", "invalidations"] as const;
export const CACHE_STATS_SIZE = 64;
export const policyNames = ["lru", "plru", "fifo", "random", "round-robin"] as const;
export const Policy = { LRU: 0, PLRU: 1, FIFO: 2, RANDOM: 3, ROUND_ROBIN: 4 } as const;

/**
 * Registers the host writes through regWrite(id, lo, hi), so the core can act on the write. VT-d:
 * these ids; SMMUv3: the register's offset in its block (SmmuReg), e.g. CMDQ_PROD processes the
 * command queue.
 */
export const RegId = { GCMD: 0, IQA: 1, IQT: 2, FSTS: 3, ICS: 4, CCMD: 5, IOTLB_REG: 6, IVA: 7 } as const;

/** Invalidation-queue error reasons in IQERCD.IQEI (spec 11.4.8.x). */
export const Iqei = { NONE: 0, INVALID_TAIL: 1, FETCH_ERROR: 2, INVALID_TYPE: 3, RESERVED_FIELD: 4, INVALID_WIDTH: 5, TAIL_MISALIGNED: 6 } as const;

/** Option bits in Ctrl.OPTIONS (the spec points the fact sheet marks UNSURE). */
export const Opt = {
  /** SS-leaf SNP forces snoop under nested translation (PGTT=011) when ECAP.SC=1. */
  NESTED_SS_SNP: 1 << 0,
  /** PGSNP forces snoop for pass-through (PGTT=100) entries. */
  PT_PGSNP: 1 << 1,
  /** SS-PTE SNP (bit 11) is a reserved bit when ECAP.SC=0 (else ignored). */
  SNP_RSVD_NO_SC: 1 << 2,
  /** Simulation only: turn off the replay memo of all-hit requests (engine/replay-memo.ts). */
  NO_REPLAY_MEMO: 1 << 3,
  /**
   * Simulation only, set by the host per run() call (Core.run): nothing reads this batch's result
   * records (a replay with only the summary). The core then translates into one scratch record it
   * reuses instead of the result ring, and a replayed request (engine/replay-memo.ts) copies none of
   * its memoised record; what the core reads itself (the timing model, the device-TLB fill, the
   * memo) reads the scratch record. Counters and timing statistics are the same either way. Not
   * part of the register epoch (changing it forgets no memoised check).
   */
  RESULTS_UNREAD: 1 << 4,
  /**
   * Simulation only, bits 11:8: look-ahead group K (0 = off). After request i of a batch took the
   * full path (the replay memo did not serve it), when fewer than K requests ahead have been looked
   * at, the core loads the leaf entries of the requests up to i+2K, K or so at a time, where the
   * walks already made say they are (engine/prefetch.ts): the host's cache misses on them overlap,
   * and the walks find them in its caches. Changes no state (no counter, cache, event, A/D flag).
   * VT-d and SMMUv3 alike.
   */
  LOOKAHEAD_SHIFT: 8,
  LOOKAHEAD_MASK: 0xf << 8,
  /**
   * SMMUv3: the firmware's CANWBS flag for the root port (IORT memory access flags bit 2): the
   * platform keeps this device's accesses to Normal memory coherent whatever their attributes,
   * No-Snoop included (shared/spec/smmuv3.md §2.8).
   */
  CANWBS: 1 << 5,
  /**
   * SMMUv3: detect TLB conflicts (spec 7.3.17 F_TLB_CONFLICT; whether a conflict is detected is
   * IMPLEMENTATION DEFINED). Set: a TLB or micro-TLB lookup that matches more than one entry (an
   * overlapping block and page both cached after a break-before-make violation) ends the transaction
   * with F_TLB_CONFLICT. Clear (default): the first match is used (the smallest page size).
   */
  TLB_CONFLICT: 1 << 6,
} as const;

/**
 * The SMMUv3 register block at Ctrl.SMMU (256 bytes): each register at its byte offset within its
 * 64 KiB register page (spec 6.3; EVENTQ_PROD and EVENTQ_CONS are in page 1, at 0x100A8 and
 * 0x100AC, the others in page 0), so the offsets are the spec's modulo 0x10000 and no two collide.
 * The host writes them; the core reads them at the start of each batch. CR0ACK follows CR0 (the
 * core copies it), EVENTQ_PROD is advanced by the core as it writes event records.
 */
export const SmmuReg = {
  IDR0: 0x00,
  IDR1: 0x04,
  IDR3: 0x0c,
  IDR5: 0x14,
  CR0: 0x20,
  CR0ACK: 0x24,
  CR1: 0x28,
  CR2: 0x2c,
  GBPA: 0x44,
  GERROR: 0x60,
  GERRORN: 0x64,
  STRTAB_BASE: 0x80,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0,
  EVENTQ_PROD: 0xa8,
  EVENTQ_CONS: 0xac,
} as const;
export type SmmuRegName = keyof typeof SmmuReg;
/** Width in bytes of each SMMUv3 register (the 64-bit ones: the table and queue bases). */
export const smmuRegBytes: Record<SmmuRegName, 4 | 8> = {
  IDR0: 4, IDR1: 4, IDR3: 4, IDR5: 4, CR0: 4, CR0ACK: 4, CR1: 4, CR2: 4, GBPA: 4, GERROR: 4, GERRORN: 4,
  STRTAB_BASE: 8, STRTAB_BASE_CFG: 4, CMDQ_BASE: 8, CMDQ_PROD: 4, CMDQ_CONS: 4, EVENTQ_BASE: 8, EVENTQ_PROD: 4, EVENTQ_CONS: 4,
};

/** What PGSNP=1 means when ECAP.SC=0 (vtd.md 2.12.1 item 5). */
export const PgsnpNoSc = { RESERVED: 0, IGNORED: 1, HONOURED: 2 } as const;

/**
 * Request record (REQ_SIZE = 24 bytes), written by the host. The arrival time is a u32 delta from
 * the batch's base cycle (Ctrl.REQ_TIME_BASE): the host starts a new batch where a later arrival
 * does not fit. FLAGS and LEN share one 32-bit word, so a u32 load at FLAGS gives the flags in bits
 * 10:0 (masks with ReqFlag work either way) and LEN in bits 31:16. The core sets ReqFlag.STALE_USED
 * in a record it has translated through a stale translation (the result's ResFlag.STALE), so the
 * host finds a batch's stale requests without the result ring (Opt.RESULTS_UNREAD).
 *
 * ```
 *  byte  0  u64  ADDR    input address (IOVA, GVA, or translated address)
 *  byte  8  u32  SID     requester: segment<<16 | bus<<8 | devfn (VT-d); the 32-bit StreamID (SMMUv3)
 *  byte 12  u32  PASID   PASID or SubstreamID (20 bits), valid when ReqFlag.PASID
 *  byte 16  u32  TIME    arrival cycle - Ctrl.REQ_TIME_BASE (timing model; 0 = at the base)
 *  byte 20  u16  FLAGS   kind in bits 2:0, ReqFlag bits 10:3; bit 11 the core's STALE_USED; bits 15:12 are 0
 *  byte 22  u16  LEN     length in bytes, 1..4096
 * ```
 */
export const Req = {
  ADDR: 0, // u64 input address (IOVA, GVA, or translated address)
  SID: 8, // u32 segment<<16 | bus<<8 | devfn; SMMUv3 StreamID (32 bits)
  PASID: 12, // u32 PASID (20 bits), valid when ReqFlag.PASID
  TIME: 16, // u32 arrival cycle minus Ctrl.REQ_TIME_BASE (timing model)
  FLAGS: 20, // u16 kind in bits 2:0, ReqFlag bits above
  LEN: 22, // u16 length in bytes (1..4096)
} as const;
/** The largest arrival delta a request record holds (Req.TIME is a u32). */
export const REQ_TIME_MAX = 0xffffffff;

export const ReqKind = { MRD: 0, MWR: 1, ATS: 2 } as const;
export const ReqFlag = {
  KIND_MASK: 0x7,
  PASID: 1 << 3, // request carries a PASID prefix
  PRIV: 1 << 4, // privileged-mode-requested (PASID prefix PMR)
  EXE: 1 << 5, // execute-requested (PASID prefix ER)
  NS: 1 << 6, // TLP attribute No-Snoop
  RO: 1 << 7, // TLP attribute Relaxed Ordering
  IDO: 1 << 8, // TLP attribute ID-based Ordering
  TRANSLATED: 1 << 9, // AT=10b, address already translated (device-TLB hit)
  NW: 1 << 10, // ATS translation request with No-Write
  STALE_USED: 1 << 11, // written by the core after the request: its result is stale (the host writes 0)
} as const;

/** Result record (RES_SIZE bytes), written by the core. */
export const Res = {
  PA: 0, // u64 output address (ATS: translated address)
  LEAF_PA: 8, // u64 physical address of the leaf entry used (0: none)
  LEAF_PTE: 16, // u64 value of that leaf entry (after A/D updates)
  S2_LEAF_PA: 24, // u64 nested: PA of the SS leaf that mapped the final GPA
  STATUS: 32, // u8 ResStatus
  FAULT: 33, // u8 fault reason code (0 when none)
  PAGE_LG2: 34, // u8 log2 of the page size that mapped the address
  READS: 35, // u8 table reads this translation made (root..leaf, all stages)
  FLAGS: 36, // u32 ResFlag bits
  DOMAIN: 40, // u32 the domain tag the translation used: VT-d DID (context or PASID entry); SMMUv3 VMID
  ADDR_SPACE: 44, // u32 the address-space tag: VT-d PASID used (RID_PASID for requests without one); SMMUv3 SSID; 0xffffffff: none
  KIND: 48, // u8 translation kind: VT-d PGTT in scalable mode, TT|0x10 in legacy mode; SMMUv3 STE.Config
  FAULT_LEVEL: 49, // u8 paging level (1 = 4K table) at which a walk fault was found
  SNOOP_BY: 50, // u8 SnoopBy (VT-d) or SmmuSnoopBy
  FAULT_STAGE: 51, // u8 SMMUv3: a fault's stage and CLASS (FaultStage); 0 for VT-d and for faults of no stage
  LATENCY: 52, // u32 cycles from arrival to completion (timing model; 0 when functional)
  ISSUE: 56, // u64 arrival cycle of the request at the IOMMU (timing model)
} as const;

/**
 * ABORT (SMMUv3): the transaction was terminated without any event (STE.Config abort, GBPA.ABORT).
 * UNROUTED (SMMUv3 with a RID-to-StreamID map, IortMap): no ID mapping of the root complexes covers
 * the requester, so the transaction never reaches the SMMU: no StreamID, no event, no SMMU counter.
 */
export const ResStatus = { OK: 0, FAULT: 1, INTERRUPT: 2, BLOCKED: 3, ABORT: 4, UNROUTED: 5, PEER: 6 } as const;
export const statusNames = ["ok", "fault", "interrupt", "blocked", "abort", "unrouted", "p2p"] as const;
/**
 * Res.FAULT_STAGE: bits 1:0 the stage whose translation faulted (1, 2; 0: the fault is not a
 * translation-stage fault, e.g. C_BAD_STE), bits 3:2 the event record's CLASS (FaultClass) when the
 * stage is 2: what stage 2 was translating (the CD address, a stage-1 table address, or the input).
 */
export const FaultStage = { STAGE_MASK: 0x3, CLASS_SHIFT: 2 } as const;
export const FaultClass = { CD: 0, TT: 1, IN: 2 } as const;
export const faultClassNames = ["CD", "TT", "IN"] as const;
export const ResFlag = {
  SNOOP: 1 << 0, // the access snoops CPU caches
  RECORDED: 1 << 1, // a fault that is recorded (not suppressed by FPD)
  R: 1 << 2, // effective read permission (ATS completion)
  W: 1 << 3, // effective write permission
  X: 1 << 4, // effective execute permission
  U: 1 << 5, // user-accessible
  PRIV: 1 << 6, // privileged request was granted supervisor access
  GLOBAL: 1 << 7, // first-stage G bit in the leaf
  NS_ALLOWED: 1 << 8, // ATS completion N bit: no-snoop may be used
  PASSTHROUGH: 1 << 9, // no table walk was needed (PT or translated request)
  ATC: 1 << 10, // translated request: the device's own translation cache supplied the address
  STALE: 1 << 11, // the translation used is one software had already removed (see README)
  ROUTED: 1 << 12, // the root complex routed it before the IOMMU (a p2p window or a fixed doorbell: P2pMap): untimed
} as const;

/** What decided the snoop outcome (Res.SNOOP_BY), VT-d's codes: the TLP, PGSNP, the SS leaf's SNP. */
export const SnoopBy = { TLP: 0, PGSNP: 1, PTE: 2, NONE: 3 } as const;
export const snoopByNames = ["tlp", "pgsnp", "pte", "none"] as const;
/** Per architecture: the name of each SNOOP_BY code (an architecture's own codes start after TLP). */
export const snoopByCatalogues: Record<ArchName, readonly string[]> = { vtd: snoopByNames, smmuv3: [] as string[] };
/**
 * SMMUv3's codes (arch/smmuv3/coherency.ts decides, in this order): CANWBS (the platform keeps
 * the device coherent), the TLP (No-Snoop, which nothing in the SMMU overrides; or a snooped TLP
 * whose attributes nothing changed), IDR0.COHACC=0 (the system is not IO-coherent), then the
 * attribute that set the final memory type or shareability: GBPA or the STE overrides (MTCFG/MemAttr,
 * SHCFG) of the incoming attributes, stage 1 (MAIR[AttrIndx], SH), stage 2 (MemAttr, SH), or a
 * stage-2 MemAttr forced by S2FWB.
 */
export const SmmuSnoopBy = { TLP: 0, CANWBS: 1, S2FWB: 2, STAGE1_ATTR: 3, STAGE2_ATTR: 4, STE_OVERRIDE: 5, COHACC: 6, GBPA: 7 } as const;
export const smmuSnoopByNames = ["tlp", "canwbs", "s2fwb", "stage1-attr", "stage2-attr", "ste-override", "cohacc", "gbpa"] as const;
snoopByCatalogues.smmuv3 = smmuSnoopByNames;

/** Counters (u64) at STATS_BASE + 8 * index. */
export const counterNames = [
  "requests",
  "translated",
  "faulted",
  "faultsRecorded",
  "interrupts",
  "blocked",
  "noSnoopTlps",
  "snooped",
  "nonSnooped",
  "noSnoopForced", // NS TLPs that were forced to snoop
  "noSnoopForcedPgsnp", // ... by PGSNP
  "noSnoopForcedPte", // ... by the SS leaf's SNP
  "atsRequests",
  "rootReads",
  "contextReads",
  "pasidDirReads",
  "pasidTableReads",
  "adWrites",
  "invDescriptors", // invalidation descriptors processed (queued and register-based)
  "invWaitWrites", // invalidation-wait status writes to guest memory
  "invQueueErrors", // descriptors that stopped the queue with FSTS.IQE
  "staleIotlbUses", // requests translated by an IOTLB entry whose leaf memory no longer matches
  "staleAtcUses", // translated requests that used a device-TLB entry the IOMMU had invalidated
  "atcMisses", // translated requests whose device had no translation (an ATS request was sent first)
  "p2p", // requests routed peer-to-peer before the IOMMU (P2pMap; status p2p; counted in no other counter)
  // table reads per stage and paging level: index = READS_BY_LEVEL + stage*8 + level (1..5)
] as const;
export const Counter = Object.fromEntries(counterNames.map((n, i) => [n, i])) as {
  [K in (typeof counterNames)[number]]: number;
};
/** First counter of the per-(stage, level) read table: stage 0 = first stage, 1 = second stage. */
export const READS_BY_LEVEL = 32;

/** Walk formats (arch/pagetable/fmt). */
export const Fmt = { VTD_SS: 0, VTD_FS: 1, VMSA_S2: 2, VMSA_S1: 3 } as const;

/**
 * VT-d fault reasons (spec 7.1.3 legacy, 7.2.3 scalable mode). `id` is the spec's condition ID,
 * `qualified` whether FPD may suppress its recording (spec 7.1.2 / 7.2.2; see README).
 * Only the codes the model emits are listed; a test exists for each.
 */
export const vtdFaults = [
  // legacy mode (RTADDR.TTM = 00)
  { code: 0x1, id: "LRT.2", qualified: false, text: "root entry not present" },
  { code: 0x2, id: "LCT.2", qualified: true, text: "context entry not present" },
  { code: 0x3, id: "LCT.4", qualified: true, text: "invalid context entry programming (incl. an unreadable SSPTPTR table)" },
  { code: 0x4, id: "LGN.1", qualified: true, text: "input address beyond the address width" },
  { code: 0x5, id: "LGN.2", qualified: true, text: "write request without write permission" },
  { code: 0x6, id: "LGN.3", qualified: true, text: "read request without read permission" },
  { code: 0x7, id: "LSL.1", qualified: true, text: "error accessing a second-stage paging entry" },
  { code: 0x8, id: "LRT.1", qualified: false, text: "error accessing the root entry" },
  { code: 0x9, id: "LCT.1", qualified: false, text: "error accessing the context entry" },
  { code: 0xa, id: "LRT.3", qualified: false, text: "reserved bit set in the root entry" },
  { code: 0xb, id: "LCT.3", qualified: false, text: "reserved bit set in the context entry" },
  { code: 0xc, id: "LSL.2", qualified: true, text: "reserved bit set in a second-stage paging entry" },
  { code: 0xd, id: "LCT.5", qualified: true, text: "translation type blocks a translation or translated request" },
  { code: 0xe, id: "LGN.4", qualified: true, text: "output address in the interrupt range" },
  // scalable mode (RTADDR.TTM = 01) and RTADDR itself
  { code: 0x30, id: "RTA.1", qualified: false, text: "reserved or unsupported translation table mode in RTADDR" },
  { code: 0x31, id: "RTA.2", qualified: false, text: "legacy mode (TTM=00) but the request carries a PASID" },
  { code: 0x38, id: "SRT.1", qualified: false, text: "error accessing the scalable-mode root entry" },
  { code: 0x39, id: "SRT.2", qualified: false, text: "root entry LP/UP (present) clear" },
  { code: 0x3a, id: "SRT.3", qualified: false, text: "reserved bit set in the root entry" },
  { code: 0x40, id: "SCT.1", qualified: false, text: "error accessing the scalable-mode context entry" },
  { code: 0x41, id: "SCT.2", qualified: true, text: "context entry not present" },
  { code: 0x42, id: "SCT.3", qualified: false, text: "reserved bit set in the context entry" },
  { code: 0x43, id: "SCT.4", qualified: true, text: "invalid context entry programming" },
  { code: 0x44, id: "SCT.5", qualified: true, text: "DTE=0 but a translation or translated request" },
  { code: 0x45, id: "SCT.6", qualified: true, text: "PASIDE=0 but a request with PASID" },
  { code: 0x46, id: "SCT.7", qualified: true, text: "PASID beyond the PASID-directory size (PDTS)" },
  { code: 0x50, id: "SPD.1", qualified: false, text: "error accessing the PASID-directory entry" },
  { code: 0x51, id: "SPD.2", qualified: true, text: "PASID-directory entry not present" },
  { code: 0x52, id: "SPD.3", qualified: true, text: "reserved bit set in the PASID-directory entry" },
  { code: 0x58, id: "SPT.1", qualified: false, text: "error accessing the PASID-table entry" },
  { code: 0x59, id: "SPT.2", qualified: true, text: "PASID-table entry not present" },
  { code: 0x5a, id: "SPT.3", qualified: true, text: "reserved bit set in the PASID-table entry" },
  { code: 0x5b, id: "SPT.4", qualified: true, text: "invalid PASID-table entry programming" },
  { code: 0x5c, id: "SPT.5", qualified: true, text: "ERE=0 but an execute request" },
  { code: 0x5d, id: "SPT.6", qualified: true, text: "SRE=0 but a supervisor request" },
  { code: 0x70, id: "SFS.1", qualified: true, text: "error accessing a first-stage paging entry" },
  { code: 0x71, id: "SFS.2", qualified: true, text: "first-stage paging entry not present" },
  { code: 0x72, id: "SFS.3", qualified: true, text: "reserved bit set in a first-stage paging entry" },
  { code: 0x73, id: "SFS.4", qualified: true, text: "error accessing the first-stage top-level entry (FSPTPTR)" },
  { code: 0x74, id: "SFS.5", qualified: true, text: "nested: first-stage entry address beyond the guest address width" },
  { code: 0x75, id: "SFS.6", qualified: true, text: "nested: second stage denies reading the first-stage top-level entry" },
  { code: 0x76, id: "SFS.7", qualified: true, text: "nested: second stage denies reading a first-stage entry" },
  { code: 0x77, id: "SFS.8", qualified: true, text: "nested: second stage denies the first-stage A/D update" },
  { code: 0x78, id: "SSS.1", qualified: true, text: "error accessing a second-stage paging entry" },
  { code: 0x79, id: "SSS.2", qualified: true, text: "second-stage paging entry not present (R=W=0)" },
  { code: 0x7a, id: "SSS.3", qualified: true, text: "reserved bit set in a second-stage paging entry" },
  { code: 0x7b, id: "SSS.4", qualified: true, text: "invalid second-stage table pointer (SSPTPTR table unreadable)" },
  { code: 0x7c, id: "SSS.5", qualified: true, text: "second-stage A/D update needed in a non-snooped walk (PWSNP=0)" },
  { code: 0x80, id: "SGN.1", qualified: true, text: "non-canonical first-stage input address" },
  { code: 0x81, id: "SGN.2", qualified: true, text: "user request to a supervisor page (U/S=0)" },
  { code: 0x82, id: "SGN.3", qualified: true, text: "execute request without execute permission" },
  { code: 0x83, id: "SGN.4", qualified: true, text: "input address beyond the address width" },
  { code: 0x85, id: "SGN.6", qualified: true, text: "write request without write permission" },
  { code: 0x86, id: "SGN.7", qualified: true, text: "read request without read permission" },
  { code: 0x87, id: "SGN.8", qualified: true, text: "output address in the interrupt range" },
  { code: 0x90, id: "SFS.9", qualified: true, text: "first-stage A/D update needed in a non-snooped walk (PWSNP=0)" },
] as const;

export type VtdFault = (typeof vtdFaults)[number];
export const vtdFaultByCode: ReadonlyMap<number, VtdFault> = new Map(vtdFaults.map((f) => [f.code, f]));

/** A fault an architecture reports: its number (Res.FAULT), its spec name, whether FPD-like bits may suppress its recording. */
export interface FaultInfo {
  code: number;
  id: string;
  qualified: boolean;
  text: string;
}
/**
 * SMMUv3 event types (spec 7.3, shared/spec/smmuv3.md §2.6): `code` is the EventType a record
 * carries and the result's Res.FAULT. `qualified`: CD.R (stage 1) or STE.S2R (stage 2) decides
 * whether it is recorded (the translation-related faults, spec 5.4 R and 5.2 S2R).
 */
export const smmuv3Events = [
  { code: 0x01, id: "F_UUT", qualified: false, text: "unsupported upstream transaction" },
  { code: 0x02, id: "C_BAD_STREAMID", qualified: false, text: "StreamID out of range, or an invalid level-1 stream table descriptor" },
  { code: 0x03, id: "F_STE_FETCH", qualified: false, text: "external abort fetching an STE or level-1 descriptor" },
  { code: 0x04, id: "C_BAD_STE", qualified: false, text: "STE not valid, or an illegal combination of its fields" },
  { code: 0x05, id: "F_BAD_ATS_TREQ", qualified: false, text: "ATS translation request not allowed (STE.EATS)" },
  { code: 0x06, id: "F_STREAM_DISABLED", qualified: false, text: "transaction without SubstreamID where STE.S1DSS terminates it" },
  { code: 0x07, id: "F_TRANSL_FORBIDDEN", qualified: false, text: "translated (ATS) transaction not allowed on this stream" },
  { code: 0x08, id: "C_BAD_SUBSTREAMID", qualified: false, text: "SubstreamID beyond STE.S1CDMax, or given where substreams are off" },
  { code: 0x09, id: "F_CD_FETCH", qualified: false, text: "external abort fetching a CD or level-1 CD descriptor" },
  { code: 0x0a, id: "C_BAD_CD", qualified: false, text: "CD not valid, or an illegal combination of its fields" },
  { code: 0x0b, id: "F_WALK_EABT", qualified: false, text: "external abort on a translation table walk access" },
  { code: 0x10, id: "F_TRANSLATION", qualified: true, text: "translation fault: invalid descriptor, or input outside the table's range" },
  { code: 0x11, id: "F_ADDR_SIZE", qualified: true, text: "address size fault: output or table address beyond IPS/S2PS" },
  { code: 0x12, id: "F_ACCESS", qualified: true, text: "access flag fault: AF=0 without AFFD or hardware update" },
  { code: 0x13, id: "F_PERMISSION", qualified: true, text: "permission fault: AP/S2AP/XN deny the access" },
  { code: 0x20, id: "F_TLB_CONFLICT", qualified: false, text: "TLB conflict: overlapping translations" },
  { code: 0x21, id: "F_CFG_CONFLICT", qualified: false, text: "configuration cache conflict" },
  // named for traces imported from hardware; the model raises neither
  { code: 0x24, id: "E_PAGE_REQUEST", qualified: false, text: "page request hint (not a fault)" },
  { code: 0x25, id: "F_VMS_FETCH", qualified: false, text: "external abort fetching a virtual machine structure" },
] as const;
export const smmuv3EventByCode: ReadonlyMap<number, FaultInfo> = new Map(smmuv3Events.map((f) => [f.code, f]));

/** Per architecture: its faults by code (VT-d fault reasons; SMMUv3 event types). */
export const faultCatalogues: Record<ArchName, ReadonlyMap<number, FaultInfo>> = { vtd: vtdFaultByCode, smmuv3: smmuv3EventByCode };
/** Per architecture: the names of the run counters (STATS block indices). */
export const counterCatalogues: Record<ArchName, readonly string[]> = { vtd: counterNames, smmuv3: [] as string[] };

/**
 * SMMUv3's run counters by STATS index. The architecture-neutral ones keep VT-d's indices (the
 * shared engine, walker and host read them by those: requests, translated, faulted, faultsRecorded,
 * blocked = transactions terminated without an event (status abort), the No-Snoop and snoop counts,
 * noSnoopForced = No-Snoop TLPs made coherent (by CANWBS), atsRequests, adWrites = hardware
 * access-flag and dirty-state updates); SMMUv3's own start at SMMU_COUNTERS, after the per-level
 * read table. The PMCG-named ones are the architected SMMUv3 PMU events as Linux's perf driver
 * (arm_smmuv3_pmu.c) names them: `transaction` (every transaction and ATS translation request),
 * `tlb_miss` (a translation that walked: it missed the TLB, or its TLB entry did not allow the access),
 * `config_cache_miss` (a transaction whose STE or CD was not in the configuration cache),
 * `trans_table_walk_access` (translation-table descriptor reads, both stages),
 * `config_struct_access` (L1STD, STE, L1CD and CD reads), `pcie_ats_trans_rq` (ATS translation
 * requests), `pcie_ats_trans_passed` (transactions that arrived already translated and were passed).
 * `eventsRecorded`: event records written to the event queue; `eventsLost`: events that were to be
 * recorded but the queue was full or disabled (CR0.EVENTQEN=0).
 */
export const SMMU_COUNTERS = 48;
export const smmuCounters = {
  requests: Counter.requests,
  translated: Counter.translated,
  faulted: Counter.faulted,
  faultsRecorded: Counter.faultsRecorded,
  blocked: Counter.blocked,
  noSnoopTlps: Counter.noSnoopTlps,
  snooped: Counter.snooped,
  nonSnooped: Counter.nonSnooped,
  noSnoopForced: Counter.noSnoopForced,
  atsRequests: Counter.atsRequests,
  adWrites: Counter.adWrites,
  p2p: Counter.p2p,
  interrupts: Counter.interrupts,
  transaction: SMMU_COUNTERS,
  tlb_miss: SMMU_COUNTERS + 1,
  config_cache_miss: SMMU_COUNTERS + 2,
  trans_table_walk_access: SMMU_COUNTERS + 3,
  config_struct_access: SMMU_COUNTERS + 4,
  pcie_ats_trans_rq: SMMU_COUNTERS + 5,
  pcie_ats_trans_passed: SMMU_COUNTERS + 6,
  eventsRecorded: SMMU_COUNTERS + 7,
  eventsLost: SMMU_COUNTERS + 8,
  bypassed: SMMU_COUNTERS + 9, // transactions passed untranslated (GBPA, STE bypass, S1DSS bypass with stage 2 off)
  commands: SMMU_COUNTERS + 10, // commands the command queue carried out
  cmdSyncs: SMMU_COUNTERS + 11, // of which CMD_SYNC
  cmdqErrors: SMMU_COUNTERS + 12, // command errors (CMDQ_CONS.ERR set, GERROR.CMDQ_ERR toggled)
  unrouted: SMMU_COUNTERS + 13, // transactions no IORT ID mapping routes to the SMMU (status unrouted; counted in no other counter)
} as const;
/** A catalogue by STATS index: "" where the architecture keeps no counter. */
function byIndex(entries: Record<string, number>): string[] {
  const out: string[] = [];
  for (const [name, i] of Object.entries(entries)) {
    while (out.length <= i) out.push("");
    out[i] = name;
  }
  return out;
}
counterCatalogues.smmuv3 = byIndex(smmuCounters);
