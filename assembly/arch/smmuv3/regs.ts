// The SMMUv3 registers the translation path reads (spec 6.3), copied from the register block
// (abi SmmuReg, at Ctrl.SMMU) at the start of each batch, with the values derived from them.
// CR0ACK follows CR0 (spec 6.3.10: the SMMU acknowledges each update; the model does so at once).
import {
  CTRL_BASE, CTRL_SMMU, CTRL_OPTIONS, SMMU_IDR0, SMMU_IDR1, SMMU_IDR3, SMMU_IDR5, SMMU_CR0, SMMU_CR0_ACK, SMMU_GBPA,
  SMMU_STRTAB_BASE, SMMU_STRTAB_BASE_CFG, OPT_CANWBS, OPT_TLB_CONFLICT, OPT_RESULTS_UNREAD,
} from "../../abi";
import { IDR1_SIDSIZE, IDR1_SSIDSIZE, IDR5_OAS, CR0_SMMUEN, CR0_EVENTQEN } from "./fields";

export const REGS: usize = CTRL_BASE + CTRL_SMMU;

export let idr0: u64 = 0;
export let idr1: u64 = 0;
export let idr3: u64 = 0;
export let idr5: u64 = 0;
export let cr0: u64 = 0;
export let gbpa: u64 = 0;
export let strtabBase: u64 = 0;
export let strtabCfg: u64 = 0;
/** CR0.SMMUEN and CR0.EVENTQEN. */
export let smmuEnabled: bool = false;
export let eventqEnabled: bool = false;
/** IDR5.OAS in bits (the output size every stage's IPS/S2PS is capped at). */
export let oasBits: u32 = 48;
/** IDR1.SIDSIZE and IDR1.SSIDSIZE. */
export let sidBits: u32 = 0;
export let ssidBits: u32 = 0;
/**
 * CANWBS of the transaction's root complex: the platform's flag (abi Opt.CANWBS), or with a
 * RID-to-StreamID map (iort.ts) the flag of the root complex the batch loop routed it from.
 */
export let canwbs: bool = false;
/** TLB conflicts are detected and raise F_TLB_CONFLICT (abi Opt.TLB_CONFLICT). */
export let tlbConflictEvent: bool = false;

/** The batch loop's per-transaction CANWBS under a RID-to-StreamID map (engine/smmu-run.ts). */
export function setRootComplexCanwbs(v: bool): void {
  canwbs = v;
}

/**
 * Bumped whenever a register the translation path reads (IDR0/1/3/5, CR0, GBPA, STRTAB_BASE and
 * its CFG) or an option changes: a fast path that remembers a translation (engine/smmu-memo.ts) is
 * valid only in the epoch it was made in. The queue registers are not part of it (faults and
 * commands are never remembered). OPT_RESULTS_UNREAD says where results go: not part of it either.
 */
export let epoch: u32 = 1;
let lastIdr: u64 = 0;
let lastIdr35: u64 = 0;
let lastCr0Gbpa: u64 = 0;
let lastStrtab: u64 = 0;
let lastStrtabCfg: u64 = 0;
let lastOptions: u32 = 0;

/** Physical address sizes by the OAS/IPS/S2PS encoding (spec 6.3.6); reserved encodings: 48 bits. */
export function paBitsOf(enc: u32): u32 {
  if (enc == 0) return 32;
  if (enc == 1) return 36;
  if (enc == 2) return 40;
  if (enc == 3) return 42;
  if (enc == 4) return 44;
  if (enc == 6) return 52;
  return 48;
}

export function smmuSyncRegs(): void {
  idr0 = <u64>load<u32>(REGS, SMMU_IDR0);
  idr1 = <u64>load<u32>(REGS, SMMU_IDR1);
  idr3 = <u64>load<u32>(REGS, SMMU_IDR3);
  idr5 = <u64>load<u32>(REGS, SMMU_IDR5);
  cr0 = <u64>load<u32>(REGS, SMMU_CR0);
  store<u32>(REGS, <u32>cr0, SMMU_CR0_ACK);
  gbpa = <u64>load<u32>(REGS, SMMU_GBPA);
  strtabBase = load<u64>(REGS, SMMU_STRTAB_BASE);
  strtabCfg = <u64>load<u32>(REGS, SMMU_STRTAB_BASE_CFG);
  smmuEnabled = CR0_SMMUEN(cr0);
  eventqEnabled = CR0_EVENTQEN(cr0);
  oasBits = paBitsOf(IDR5_OAS(idr5));
  sidBits = IDR1_SIDSIZE(idr1);
  ssidBits = IDR1_SSIDSIZE(idr1);
  const options = load<u32>(CTRL_BASE + CTRL_OPTIONS);
  canwbs = (options & OPT_CANWBS) != 0;
  tlbConflictEvent = (options & OPT_TLB_CONFLICT) != 0;
  const idr = idr0 | (idr1 << 32);
  const idr35 = idr3 | (idr5 << 32);
  const cr0Gbpa = cr0 | (gbpa << 32);
  const opts = options & ~OPT_RESULTS_UNREAD;
  if (idr != lastIdr || idr35 != lastIdr35 || cr0Gbpa != lastCr0Gbpa || strtabBase != lastStrtab || strtabCfg != lastStrtabCfg || opts != lastOptions) {
    epoch++;
    lastIdr = idr;
    lastIdr35 = idr35;
    lastCr0Gbpa = cr0Gbpa;
    lastStrtab = strtabBase;
    lastStrtabCfg = strtabCfg;
    lastOptions = opts;
  }
}
