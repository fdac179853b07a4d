/**
 * The SMMUv3 registers a scenario sets by name (spec 6.3; fields in fields.ts), the default
 * profile of the identification registers, and what the driver side reads from them (Linux
 * arm_smmu_device_hw_probe: the features its STEs, CDs, tables and queues depend on).
 *
 * Default profile: an SMMUv3.2 (AIDR 0x02) for a server with PCIe:
 *   IDR0 0x0d4d349b  S2P S1P, TTF AArch64, COHACC, HTTU access+dirty, ATS, ASID16, MSI, PRI, VMID16,
 *                    CD2L, TTENDIAN little, STALL_MODEL terminate only, TERM_MODEL, ST_LEVEL 2-level
 *   IDR1 0x09073d10  SIDSIZE 16, SSIDSIZE 20, PRIQS 7, EVENTQS 7 (128 events, 4 KiB),
 *                    CMDQS 8 (256 commands, 4 KiB), ATTR_TYPES_OVR (SHCFG/MTCFG honoured)
 *   IDR3 0x00000500  FWB, RIL
 *   IDR5 0x00000075  OAS 48 bits, GRAN4K GRAN16K GRAN64K
 * The queue sizes are this model's choice: small enough that a scenario's guest memory stays
 * small, large enough that a trace's events rarely overflow (README "SMMUv3 scenarios").
 */
import { getField } from "../fields.ts";
import { idr0Fields, idr1Fields, idr3Fields, idr5Fields, registerFields } from "./fields.ts";

export { registerFields } from "./fields.ts";
export type SmmuRegisterName = keyof typeof registerFields;

export const DEFAULT_IDR0 = 0x0d4d_349bn;
export const DEFAULT_IDR1 = 0x0907_3d10n;
export const DEFAULT_IDR3 = 0x0000_0500n;
export const DEFAULT_IDR5 = 0x0000_0075n;
/** AIDR: ArchMajorRev 0 (SMMUv3), ArchMinorRev 2 (v3.2). Read-only; not a scenario key. */
export const DEFAULT_AIDR = 0x02n;

/** The identification registers a scenario may override, with the default profile's values. */
export const defaultIdRegisters = { IDR0: DEFAULT_IDR0, IDR1: DEFAULT_IDR1, IDR3: DEFAULT_IDR3, IDR5: DEFAULT_IDR5 } as const;
export type IdRegisters = Record<keyof typeof defaultIdRegisters, bigint>;

/** IDR5.OAS encodings and the address bits they stand for (0b110: 52 bits). */
export const oasBits: readonly number[] = [32, 36, 40, 42, 44, 48, 52];

/** What the driver side reads from the identification registers (Linux smmu->features and sizes). */
export interface SmmuProfile {
  s1: boolean;
  s2: boolean;
  /** IDR0.ST_LEVEL = 0b01: 2-level stream tables. */
  twoLevelStreamTable: boolean;
  /** IDR0.CD2L: 2-level CD tables. */
  twoLevelCdTable: boolean;
  ats: boolean;
  pri: boolean;
  /** IDR0.STALL_MODEL 0b00 (stall and terminate): STEs of non-stalling masters set S1STALLD. */
  stalls: boolean;
  coherent: boolean;
  /** IDR0.HTTU: 0 none, 1 access flag, 2 access flag and dirty state. */
  httu: number;
  asidBits: number;
  vmidBits: number;
  sidBits: number;
  ssidBits: number;
  eventqLog2: number;
  cmdqLog2: number;
  attrTypesOvr: boolean;
  fwb: boolean;
  ril: boolean;
  /** Output address bits (IDR5.OAS). */
  oas: number;
  /** Granules supported, as log2 of their size (12, 14, 16). */
  granules: number[];
}

const flag = (v: bigint, f: readonly [number, number]) => getField(v, f) !== 0n;

/** Decodes the identification registers into what the builder needs. */
export function profileOf(r: IdRegisters): SmmuProfile {
  const { IDR0, IDR1, IDR3, IDR5 } = r;
  const oas = oasBits[Number(getField(IDR5, idr5Fields.OAS))] ?? 52;
  const granules = ([[12, idr5Fields.GRAN4K], [14, idr5Fields.GRAN16K], [16, idr5Fields.GRAN64K]] as const).filter(([, f]) => flag(IDR5, f)).map(([g]) => g);
  return {
    s1: flag(IDR0, idr0Fields.S1P),
    s2: flag(IDR0, idr0Fields.S2P),
    twoLevelStreamTable: getField(IDR0, idr0Fields.ST_LEVEL) === 1n,
    twoLevelCdTable: flag(IDR0, idr0Fields.CD2L),
    ats: flag(IDR0, idr0Fields.ATS),
    pri: flag(IDR0, idr0Fields.PRI),
    stalls: getField(IDR0, idr0Fields.STALL_MODEL) === 0n,
    coherent: flag(IDR0, idr0Fields.COHACC),
    httu: Number(getField(IDR0, idr0Fields.HTTU)),
    asidBits: flag(IDR0, idr0Fields.ASID16) ? 16 : 8,
    vmidBits: flag(IDR0, idr0Fields.VMID16) ? 16 : 8,
    sidBits: Number(getField(IDR1, idr1Fields.SIDSIZE)),
    ssidBits: Number(getField(IDR1, idr1Fields.SSIDSIZE)),
    eventqLog2: Number(getField(IDR1, idr1Fields.EVENTQS)),
    cmdqLog2: Number(getField(IDR1, idr1Fields.CMDQS)),
    attrTypesOvr: flag(IDR1, idr1Fields.ATTR_TYPES_OVR),
    fwb: flag(IDR3, idr3Fields.FWB),
    ril: flag(IDR3, idr3Fields.RIL),
    oas,
    granules,
  };
}
