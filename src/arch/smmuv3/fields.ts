/**
 * The bit fields of SMMUv3 (Arm IHI 0070): registers (spec 6.3), the Stream Table Entry (5.2) and
 * level-1 stream table descriptor (5.1), the Context Descriptor (5.4) and level-1 CD descriptor
 * (5.3), event records (7.3) and commands (4.1-4.7). The one table of these facts: the host's
 * builder and scenario keys use it, and scripts/gen-abi.ts writes the core's accessors from it
 * (assembly/arch/smmuv3/fields.ts). Positions checked against Linux arm-smmu-v3.h and QEMU
 * smmuv3-internal.h (shared/spec/smmuv3.md §2).
 *
 * Multi-dword structures are one table per 64-bit dword, in dword order.
 */
import type { FieldTable } from "../fields.ts";

// ---- registers (spec 6.3) ----------------------------------------------------------------------

export const idr0Fields = {
  S2P: [0, 0],
  S1P: [1, 1],
  TTF: [3, 2], // 2: AArch64 tables, 3: AArch32 and AArch64
  COHACC: [4, 4],
  BTM: [5, 5],
  HTTU: [7, 6], // 1: access flag, 2: access flag and dirty state
  DORMHINT: [8, 8],
  HYP: [9, 9],
  ATS: [10, 10],
  NS1ATS: [11, 11],
  ASID16: [12, 12],
  MSI: [13, 13],
  SEV: [14, 14],
  ATOS: [15, 15],
  PRI: [16, 16],
  VMW: [17, 17],
  VMID16: [18, 18],
  CD2L: [19, 19],
  VATOS: [20, 20],
  TTENDIAN: [22, 21], // 0 mixed, 2 little, 3 big
  ATSRECERR: [23, 23],
  STALL_MODEL: [25, 24], // 0 stall and terminate, 1 terminate only, 2 stall forced
  TERM_MODEL: [26, 26],
  ST_LEVEL: [28, 27], // 1: 2-level stream tables
  RME_IMPL: [30, 30],
} as const satisfies FieldTable;

export const idr1Fields = {
  SIDSIZE: [5, 0],
  SSIDSIZE: [10, 6],
  PRIQS: [15, 11],
  EVENTQS: [20, 16],
  CMDQS: [25, 21],
  ATTR_PERMS_OVR: [26, 26],
  ATTR_TYPES_OVR: [27, 27],
  REL: [28, 28],
  QUEUES_PRESET: [29, 29],
  TABLES_PRESET: [30, 30],
  ECMDQ: [31, 31],
} as const satisfies FieldTable;

export const idr3Fields = {
  HAD: [2, 2],
  PBHA: [3, 3],
  XNX: [4, 4],
  PPS: [5, 5],
  MPAM: [7, 7],
  FWB: [8, 8],
  STT: [9, 9],
  RIL: [10, 10],
  BBML: [12, 11],
  E0PD: [13, 13],
  PTWNNC: [14, 14],
  DPT: [15, 15],
} as const satisfies FieldTable;

export const idr5Fields = {
  OAS: [2, 0], // 0:32 1:36 2:40 3:42 4:44 5:48 6:52 bits
  GRAN4K: [4, 4],
  GRAN16K: [5, 5],
  GRAN64K: [6, 6],
  VAX: [11, 10],
  STALL_MAX: [31, 16],
} as const satisfies FieldTable;

export const cr0Fields = {
  SMMUEN: [0, 0],
  PRIQEN: [1, 1],
  EVENTQEN: [2, 2],
  CMDQEN: [3, 3],
  ATSCHK: [4, 4],
  VMW: [8, 6],
} as const satisfies FieldTable;

export const cr1Fields = {
  QUEUE_IC: [1, 0],
  QUEUE_OC: [3, 2],
  QUEUE_SH: [5, 4],
  TABLE_IC: [7, 6],
  TABLE_OC: [9, 8],
  TABLE_SH: [11, 10],
} as const satisfies FieldTable;

export const cr2Fields = {
  E2H: [0, 0],
  RECINVSID: [1, 1],
  PTM: [2, 2],
} as const satisfies FieldTable;

/** Global bypass attributes, used while CR0.SMMUEN = 0 (spec 6.3.14). */
export const gbpaFields = {
  MEMATTR: [3, 0],
  MTCFG: [4, 4],
  ALLOCCFG: [11, 8],
  SHCFG: [13, 12],
  NSCFG: [15, 14],
  PRIVCFG: [17, 16],
  INSTCFG: [19, 18],
  ABORT: [20, 20],
  UPDATE: [31, 31],
} as const satisfies FieldTable;

export const gerrorFields = {
  CMDQ_ERR: [0, 0],
  EVTQ_ABT_ERR: [2, 2],
  PRIQ_ABT_ERR: [3, 3],
  MSI_CMDQ_ABT_ERR: [4, 4],
  MSI_EVTQ_ABT_ERR: [5, 5],
  MSI_PRIQ_ABT_ERR: [6, 6],
  MSI_GERROR_ABT_ERR: [7, 7],
  SFM_ERR: [8, 8],
} as const satisfies FieldTable;

export const strtabBaseFields = {
  ADDR: [51, 6],
  RA: [62, 62],
} as const satisfies FieldTable;

export const strtabBaseCfgFields = {
  LOG2SIZE: [5, 0],
  SPLIT: [10, 6], // 6, 8 or 10 (4, 16, 64 KiB level-2 tables)
  FMT: [17, 16], // 0 linear, 1 2-level
} as const satisfies FieldTable;

/** CMDQ_BASE and EVENTQ_BASE (spec 6.3.26, 6.3.29; RA is WA for the event queue). */
export const queueBaseFields = {
  LOG2SIZE: [4, 0],
  ADDR: [51, 5],
  RA: [62, 62],
} as const satisfies FieldTable;

/** CMDQ_CONS's error field (spec 6.3.28): 0 none, 1 illegal command, 2 abort on fetch, 3 ATC_INV sync. */
export const cmdqConsFields = {
  ERR: [30, 24],
} as const satisfies FieldTable;

/** EVENTQ_PROD overflow flag and EVENTQ_CONS's acknowledgement of it (spec 6.3.30, 6.3.31). */
export const eventqProdFields = { OVFLG: [31, 31] } as const satisfies FieldTable;
export const eventqConsFields = { OVACKFLG: [31, 31] } as const satisfies FieldTable;

/** The registers a scenario sets by name, with their fields (empty: a value only). */
export const registerFields = {
  IDR0: idr0Fields,
  IDR1: idr1Fields,
  IDR3: idr3Fields,
  IDR5: idr5Fields,
  CR0: cr0Fields,
  CR1: cr1Fields,
  CR2: cr2Fields,
  GBPA: gbpaFields,
  STRTAB_BASE: strtabBaseFields,
  STRTAB_BASE_CFG: strtabBaseCfgFields,
  CMDQ_BASE: queueBaseFields,
  CMDQ_PROD: {},
  CMDQ_CONS: cmdqConsFields,
  EVENTQ_BASE: queueBaseFields,
  EVENTQ_PROD: eventqProdFields,
  EVENTQ_CONS: eventqConsFields,
} as const satisfies Readonly<Record<string, FieldTable>>;

// ---- stream table (spec 5.1, 5.2) ----------------------------------------------------------------

/** Level-1 stream table descriptor (8 bytes). Span 0: invalid; else the L2 table holds 2^(Span-1) STEs. */
export const l1stdFields = {
  SPAN: [4, 0],
  L2PTR: [51, 6],
} as const satisfies FieldTable;

/** Stream Table Entry, dwords 0-3 (dwords 4-7 are secure-stage-2 and MPAM fields, not modelled). */
export const steFields = [
  {
    V: [0, 0],
    CONFIG: [3, 1], // 0b000 abort, 0b100 bypass, 0b101 S1, 0b110 S2, 0b111 nested; 0b001-0b011 reserved
    S1FMT: [5, 4], // 0 linear, 1 2-level with 4 KiB leaves, 2 2-level with 64 KiB leaves
    S1CONTEXTPTR: [51, 6],
    S1CDMAX: [63, 59],
  },
  {
    S1DSS: [1, 0], // 0 terminate, 1 bypass, 2 substream 0
    S1CIR: [3, 2],
    S1COR: [5, 4],
    S1CSH: [7, 6],
    DRE: [12, 12],
    CONT: [16, 13],
    DCP: [17, 17],
    PPAR: [18, 18],
    MEV: [19, 19],
    S2FWB: [25, 25],
    S1STALLD: [27, 27],
    EATS: [29, 28], // 0 abort ATS, 1 full ATS, 2 split-stage
    STRW: [31, 30], // 0 NS-EL1, 2 EL2
    MEMATTR: [35, 32],
    MTCFG: [36, 36],
    ALLOCCFG: [40, 37],
    SHCFG: [45, 44], // 0 non-shareable, 1 incoming, 2 outer, 3 inner
    NSCFG: [47, 46],
    PRIVCFG: [49, 48],
    INSTCFG: [51, 50],
  },
  {
    S2VMID: [15, 0],
    S2T0SZ: [37, 32],
    S2SL0: [39, 38],
    S2IR0: [41, 40],
    S2OR0: [43, 42],
    S2SH0: [45, 44],
    S2TG: [47, 46], // 0 4 KiB, 1 64 KiB, 2 16 KiB
    S2PS: [50, 48],
    S2AA64: [51, 51],
    S2ENDI: [52, 52],
    S2AFFD: [53, 53],
    S2PTW: [54, 54],
    S2HD: [55, 55],
    S2HA: [56, 56],
    S2S: [57, 57],
    S2R: [58, 58],
  },
  {
    S2TTB: [51, 4],
  },
] as const satisfies readonly FieldTable[];

/** STE.Config encodings (spec 5.2). */
export const SteConfig = { ABORT: 0b000, BYPASS: 0b100, S1: 0b101, S2: 0b110, NESTED: 0b111 } as const;

// ---- context descriptors (spec 5.3, 5.4) ---------------------------------------------------------

/** Level-1 CD descriptor (8 bytes). */
export const l1cdFields = {
  V: [0, 0],
  L2PTR: [51, 12],
} as const satisfies FieldTable;

/** Context Descriptor, dwords 0-3 (dwords 4-7: AMAIR and implementation-defined, not modelled). */
export const cdFields = [
  {
    T0SZ: [5, 0],
    TG0: [7, 6], // 0 4 KiB, 1 64 KiB, 2 16 KiB
    IR0: [9, 8],
    OR0: [11, 10],
    SH0: [13, 12],
    EPD0: [14, 14],
    ENDI: [15, 15],
    T1SZ: [21, 16],
    TG1: [23, 22], // 1 16 KiB, 2 4 KiB, 3 64 KiB
    IR1: [25, 24],
    OR1: [27, 26],
    SH1: [29, 28],
    EPD1: [30, 30],
    V: [31, 31],
    IPS: [34, 32],
    AFFD: [35, 35],
    WXN: [36, 36],
    UWXN: [37, 37],
    TBI0: [38, 38],
    TBI1: [39, 39],
    PAN: [40, 40],
    AA64: [41, 41],
    HD: [42, 42],
    HA: [43, 43],
    S: [44, 44],
    R: [45, 45],
    A: [46, 46],
    ASET: [47, 47],
    ASID: [63, 48],
  },
  {
    NSCFG0: [0, 0],
    HAD0: [1, 1],
    TTB0: [51, 4],
    HWU0: [63, 60],
  },
  {
    NSCFG1: [0, 0],
    HAD1: [1, 1],
    TTB1: [51, 4],
    HWU1: [63, 60],
  },
  {
    MAIR: [63, 0],
  },
] as const satisfies readonly FieldTable[];

// ---- event records (spec 7.3) --------------------------------------------------------------------

export const eventFields = [
  {
    TYPE: [7, 0],
    SSV: [11, 11],
    SSID: [31, 12],
    SID: [63, 32],
  },
  {
    STAG: [15, 0],
    STALL: [31, 31],
    PNU: [33, 33],
    IND: [34, 34],
    RNW: [35, 35],
    NSIPA: [38, 38],
    S2: [39, 39],
    CLASS: [41, 40], // 0 CD fetch, 1 TT (a stage-1 table fetch through stage 2), 2 IN (the input address)
    TTRNW: [44, 44],
  },
  {
    INPUT_ADDR: [63, 0],
  },
  {
    FETCH_ADDR: [51, 3], // fetch aborts
    IPA: [51, 12], // stage-2 faults
  },
] as const satisfies readonly FieldTable[];

// ---- commands (spec 4) ---------------------------------------------------------------------------

/** Command opcodes (dword 0 bits 7:0). */
export const CmdOp = {
  PREFETCH_CONFIG: 0x01,
  PREFETCH_ADDR: 0x02,
  CFGI_STE: 0x03,
  CFGI_STE_RANGE: 0x04, // Range = 31: CFGI_ALL
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_EL3_ALL: 0x18,
  TLBI_EL3_VA: 0x1a,
  TLBI_EL2_ALL: 0x20,
  TLBI_EL2_ASID: 0x21,
  TLBI_EL2_VA: 0x22,
  TLBI_EL2_VAA: 0x23,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40,
  PRI_RESP: 0x41,
  RESUME: 0x44,
  STALL_TERM: 0x45,
  SYNC: 0x46,
} as const;

/** The fields of each command family, dword 0 then dword 1 (OPCODE is common to all). */
export const cmdFields = {
  /** PREFETCH_CONFIG/ADDR, CFGI_STE(_RANGE), CFGI_CD(_ALL), STALL_TERM. */
  config: [
    { OPCODE: [7, 0], SSV: [11, 11], SSID: [31, 12], SID: [63, 32] },
    { LEAF: [0, 0], RANGE: [4, 0], SIZE: [4, 0], ADDR: [63, 12] },
  ],
  /** TLBI_* (NUM/SCALE/TG/TTL: range invalidation with IDR3.RIL). */
  tlbi: [
    { OPCODE: [7, 0], NUM: [16, 12], SCALE: [24, 20], VMID: [47, 32], ASID: [63, 48] },
    { LEAF: [0, 0], TTL: [9, 8], TG: [11, 10], ADDR: [63, 12] },
  ],
  atcInv: [
    { OPCODE: [7, 0], GLOBAL: [9, 9], SSV: [11, 11], SSID: [31, 12], SID: [63, 32] },
    { SIZE: [5, 0], ADDR: [63, 12] },
  ],
  priResp: [
    { OPCODE: [7, 0], SSV: [11, 11], SSID: [31, 12], SID: [63, 32] },
    { GRPID: [8, 0], RESP: [13, 12] },
  ],
  resume: [
    { OPCODE: [7, 0], ACTION: [13, 12], SID: [63, 32] },
    { STAG: [15, 0] },
  ],
  sync: [
    { OPCODE: [7, 0], CS: [13, 12], MSH: [23, 22], MSIATTR: [27, 24], MSIDATA: [63, 32] },
    { MSIADDR: [51, 2] },
  ],
} as const satisfies Readonly<Record<string, readonly [FieldTable, FieldTable]>>;
