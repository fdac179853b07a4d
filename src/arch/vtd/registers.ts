/**
 * VT-d capability registers by field (spec 11.4.2 CAP_REG, 11.4.3 ECAP_REG), the default profile,
 * and the helpers that let a scenario override any field by name.
 */

/** [hi, lo] bit ranges, inclusive. */
export const capFields = {
  ND: [2, 0],
  AFL: [3, 3],
  RWBF: [4, 4],
  PLMR: [5, 5],
  PHMR: [6, 6],
  CM: [7, 7],
  SAGAW: [12, 8],
  MGAW: [21, 16],
  ZLR: [22, 22],
  FRO: [33, 24],
  SSLPS: [37, 34],
  PSI: [39, 39],
  NFR: [47, 40],
  MAMV: [53, 48],
  DWD: [54, 54],
  DRD: [55, 55],
  FS1GP: [56, 56],
  PI: [59, 59],
  FS5LP: [60, 60],
  ECMDS: [61, 61],
  ESIRTPS: [62, 62],
  ESRTPS: [63, 63],
} as const satisfies Record<string, readonly [number, number]>;

export const ecapFields = {
  C: [0, 0],
  QI: [1, 1],
  DT: [2, 2],
  IR: [3, 3],
  EIM: [4, 4],
  PT: [6, 6],
  SC: [7, 7],
  IRO: [17, 8],
  MHMV: [23, 20],
  MTS: [25, 25],
  NEST: [26, 26],
  PRS: [29, 29],
  ERS: [30, 30],
  SRS: [31, 31],
  NWFS: [33, 33],
  EAFS: [34, 34],
  PSS: [39, 35],
  PASID: [40, 40],
  DIT: [41, 41],
  PDS: [42, 42],
  SMTS: [43, 43],
  VCS: [44, 44],
  SSADS: [45, 45],
  SSTS: [46, 46],
  FSTS: [47, 47],
  SMPWCS: [48, 48],
  RPS: [49, 49],
  PMS: [51, 51],
  ADMS: [52, 52],
  RPRIVS: [53, 53],
} as const satisfies Record<string, readonly [number, number]>;

export type CapField = keyof typeof capFields;
export type EcapField = keyof typeof ecapFields;

/**
 * Default profile: a Sapphire Rapids DMAR unit as its kernel log reports it
 * (`cap 19ed008c40780c66 ecap 3ee9e86f050df`, shared/spec/vtd.md 2.3), with ECAP.PASID and
 * ECAP.PRS turned on (that platform's firmware had left them off).
 */
export const DEFAULT_CAP = 0x19ed008c40780c66n;
export const DEFAULT_ECAP = 0x3ee9e86f050dfn | (1n << 40n) | (1n << 29n);

export { getField, setField, fieldMax, decodeFields } from "../fields.ts";
