// The command queue (spec 4 "Commands", 6.3.26-6.3.28 CMDQ_BASE/PROD/CONS, 7.1 command errors;
// shared/spec/smmuv3.md §2.7). Processed when software moves CMDQ_PROD (or acknowledges an error
// through GERRORN, or sets CR0.CMDQEN): while CR0.CMDQEN = 1, no command error is active
// (GERROR.CMDQ_ERR == GERRORN.CMDQ_ERR) and CONS != PROD, the 16-byte command at
// CMDQ_BASE.ADDR + CONS.index * 16 is read and carried out, and CONS advances (index and wrap bit,
// 2^LOG2SIZE entries, LOG2SIZE capped at IDR1.CMDQS).
//
// An error leaves CONS at the command, sets CMDQ_CONS.ERR (1 CERROR_ILL: an opcode the model does
// not know, or one the unit's IDRs do not support, SSec = 1 on the non-secure queue; 2 CERROR_ABT: the command lies in memory nobody wrote)
// and toggles GERROR.CMDQ_ERR, which stops the queue until software writes GERRORN to match
// (Linux then has replaced the command with a CMD_SYNC).
//
// What commands do: CMD_CFGI_* invalidate the configuration cache (config-cache.ts), CMD_TLBI_* the
// TLB and walk caches in their scopes (tlb.ts; without IDR3.RIL a range form's TG, NUM, SCALE and TTL
// are ignored: the one address). CMD_ATC_INV removes from StreamID SID's device-TLB (the device's
// ATC, uarch/device-tlb.ts) every entry overlapping the 2^Size 4 KiB pages at Addr aligned down to
// that span (Size >= 52: every address); with SSV = 1 only the entries of SubstreamID SSID, without
// SSV also the SubstreamID-tagged ones (Linux arm-smmu-v3.c: "ATC invalidation without SSV also
// invalidates all PASID-tagged entries in range"). Global (for PASID entries of global pages) removes
// nothing more here: every entry is tagged by one SubstreamID or none. CMD_PREFETCH_* are accepted
// and complete with no further effect.
//
// CMD_PRI_RESP, CMD_RESUME and CMD_STALL_TERM (spec 4.7 "PRI and stall commands"): their fields are
// checked, then they complete with no effect, because the model holds nothing they act on: no page
// request group is outstanding (the PRI queue is not modelled: no PRIQ registers) and no transaction
// is ever stalled (faults terminate; the model has no stall tag). CMD_PRI_RESP is CERROR_ILL without
// IDR0.PRI or with Resp = 0b11 (reserved; 0 Deny, 1 Fail, 2 Success); CMD_RESUME is CERROR_ILL with
// Action = 0b11 (reserved; 0 Terminate, 1 Retry, 2 Abort, Linux CMDQ_RESUME_0_RESP_*). A response
// that matches no outstanding group or stalled transaction is ignored, as the spec requires. Every CMD_CFGI_*
// and CMD_TLBI_* also empties the micro-TLB (translate.ts; tagged by StreamID and SubstreamID, not by
// VMID or ASID, so no narrower scope can be told apart: more than the command asks, which the
// architecture allows for any cache). CMD_SYNC completes at once; with
// CS = 1 (IRQ) and an MSIAddr it writes MSIData (32 bits) at MSIAddr, as Linux's MSI-polled sync
// expects; CS = 2 (SEV) has no visible effect in memory.
import { gmPage, gmPageForWrite } from "../../common/guest-memory";
import { bump } from "../../common/counters";
import {
  SMMU_CMDQ_BASE, SMMU_CMDQ_PROD, SMMU_CMDQ_CONS, SMMU_GERROR, SMMU_GERRORN, C_COMMANDS, C_CMD_SYNCS, C_CMDQ_ERRORS, CACHE_MICRO_TLB,
} from "../../abi";
import { REGS, cr0, idr0, idr1, idr3 } from "./regs";
import {
  CMDQ_BASE_LOG2SIZE, CMDQ_BASE_ADDR, CMDQ_BASE_ADDR_AT, IDR1_CMDQS, CR0_CMDQEN, IDR0_S1P, IDR0_S2P, IDR0_HYP, IDR0_ATS, IDR0_PRI,
  IDR3_RIL, CMD_TLBI1_TG, CMD_TLBI1_TTL, CMD_TLBI1_LEAF, CMD_TLBI1_ADDR, CMD_TLBI1_ADDR_AT, CMD_TLBI0_VMID, CMD_TLBI0_ASID,
  CMD_TLBI0_NUM, CMD_TLBI0_SCALE, CMD_SYNC0_CS, CMD_SYNC1_MSIADDR, CMD_SYNC1_MSIADDR_AT, CMD_SYNC0_MSIDATA,
  CMD_PREFETCH_CONFIG, CMD_PREFETCH_ADDR, CMD_CFGI_STE, CMD_CFGI_STE_RANGE, CMD_CFGI_CD, CMD_CFGI_CD_ALL, CMD_TLBI_NH_ALL,
  CMD_TLBI_NH_ASID, CMD_TLBI_NH_VA, CMD_TLBI_NH_VAA, CMD_TLBI_EL2_ALL, CMD_TLBI_EL2_ASID, CMD_TLBI_EL2_VA, CMD_TLBI_EL2_VAA,
  CMD_TLBI_S12_VMALL, CMD_TLBI_S2_IPA, CMD_TLBI_NSNH_ALL, CMD_ATC_INV, CMD_PRI_RESP, CMD_RESUME, CMD_STALL_TERM, CMD_SYNC,
  CMDQ_CONS_ERR_AT, CMD_CONFIG0_SID, CMD_CONFIG0_SSID, CMD_CONFIG1_RANGE, CMD_ATC_INV0_SSV, CMD_ATC_INV0_SSID, CMD_ATC_INV0_SID,
  CMD_ATC_INV1_SIZE, CMD_ATC_INV1_ADDR, CMD_ATC_INV1_ADDR_AT, CMD_PRI_RESP1_RESP, CMD_RESUME0_ACTION,
} from "./fields";
import { deviceTlbInvalidate, cacheInvalidate, PAGE_NUMBER_MASK, pageOverlaps } from "../ports";
import { ATC_PAGE_LG2 } from "../ats";
import { configInvalidateSids, configInvalidateCds } from "./config-cache";
import { tlbiRange, tlbiNhAll, tlbiNhAsid, tlbiNhVa, tlbiS2Ipa, tlbiS12Vmall, tlbiNsnhAll } from "./tlb";

export const CERROR_NONE: u32 = 0;
export const CERROR_ILL: u32 = 1;
export const CERROR_ABT: u32 = 2;
const GERROR_CMDQ_ERR: u32 = 1;
const CMD_SSEC: u64 = 1 << 10;
const CMD_BYTES: u64 = 16;
const ERR_MASK: u32 = 0x7f << 24;

/** The reserved encoding of CMD_PRI_RESP.Resp and CMD_RESUME.Action. */
const RESERVED_RESPONSE: u32 = 3;

/** CERROR_NONE, or the error command `d0`/`d1` raises on this unit. */
function check(d0: u64, d1: u64): u32 {
  if ((d0 & CMD_SSEC) != 0) return CERROR_ILL;
  const op = <u32>(d0 & 0xff);
  if (op == CMD_PREFETCH_CONFIG || op == CMD_PREFETCH_ADDR || op == CMD_CFGI_STE || op == CMD_CFGI_STE_RANGE || op == CMD_CFGI_CD
    || op == CMD_CFGI_CD_ALL || op == CMD_TLBI_NSNH_ALL || op == CMD_SYNC || op == CMD_STALL_TERM) return CERROR_NONE;
  if (op == CMD_RESUME) return CMD_RESUME0_ACTION(d0) == RESERVED_RESPONSE ? CERROR_ILL : CERROR_NONE;
  if (op == CMD_TLBI_NH_ALL || op == CMD_TLBI_NH_ASID || op == CMD_TLBI_NH_VA || op == CMD_TLBI_NH_VAA) return IDR0_S1P(idr0) ? CERROR_NONE : CERROR_ILL;
  if (op >= CMD_TLBI_EL2_ALL && op <= CMD_TLBI_EL2_VAA) return IDR0_HYP(idr0) ? CERROR_NONE : CERROR_ILL;
  if (op == CMD_TLBI_S12_VMALL || op == CMD_TLBI_S2_IPA) return IDR0_S2P(idr0) ? CERROR_NONE : CERROR_ILL;
  if (op == CMD_ATC_INV) return IDR0_ATS(idr0) ? CERROR_NONE : CERROR_ILL;
  if (op == CMD_PRI_RESP) return IDR0_PRI(idr0) && CMD_PRI_RESP1_RESP(d1) != RESERVED_RESPONSE ? CERROR_NONE : CERROR_ILL;
  return CERROR_ILL; // EL3 commands (no secure state), unknown opcodes
}

/** Carries out an accepted command (see the header). */
function execute(d0: u64, d1: u64): void {
  const op = <u32>(d0 & 0xff);
  const sid = CMD_CONFIG0_SID(d0);
  // The micro-TLB (an option, off by default) is emptied by every CFGI and TLBI: its entries are
  // tagged by StreamID and SubstreamID only (see the header).
  if (op >= CMD_CFGI_STE && op <= CMD_TLBI_NSNH_ALL) cacheInvalidate(CACHE_MICRO_TLB, null);
  if (op == CMD_CFGI_STE) return configInvalidateSids(sid, sid);
  if (op == CMD_CFGI_STE_RANGE) {
    const range = CMD_CONFIG1_RANGE(d1);
    if (range >= 31) return configInvalidateSids(0, 0xffffffff);
    const span = (<u64>2 << range) - 1;
    const lo = <u64>sid & ~span;
    return configInvalidateSids(lo, lo + span);
  }
  if (op == CMD_CFGI_CD) return configInvalidateCds(sid, CMD_CONFIG0_SSID(d0), false);
  if (op == CMD_CFGI_CD_ALL) return configInvalidateCds(sid, 0, true);
  if (op >= CMD_TLBI_NH_ALL && op <= CMD_TLBI_NSNH_ALL) return tlbi(op, d0, d1);
  if (op == CMD_ATC_INV) return atcInv(d0, d1);
  if (op != CMD_SYNC) return;
  bump(C_CMD_SYNCS);
  cmdSyncsDone++;
  const msiAddr = CMD_SYNC1_MSIADDR_AT(CMD_SYNC1_MSIADDR(d1));
  if (CMD_SYNC0_CS(d0) == 1 && msiAddr != 0) store<u32>(gmPageForWrite(msiAddr) + <usize>(msiAddr & 0xfff), CMD_SYNC0_MSIDATA(d0));
}

/** The CMD_ATC_INV being carried out: its range and SubstreamID selection. */
let atcLo: u64 = 0;
let atcHi: u64 = 0;
let atcSsv: bool = false;
let atcSsid: u32 = 0;

/** A device-TLB entry the current CMD_ATC_INV reaches. */
function atcInRange(k0: u64, k1: u64, p: usize): bool {
  if (atcSsv && k1 != <u64>atcSsid) return false;
  return pageOverlaps(k0 & PAGE_NUMBER_MASK, load<u32>(p, ATC_PAGE_LG2), atcLo, atcHi);
}

/** CMD_ATC_INV (see the header). */
function atcInv(d0: u64, d1: u64): void {
  const size = CMD_ATC_INV1_SIZE(d1);
  if (size >= 52) {
    atcLo = 0;
    atcHi = <u64>-1;
  } else {
    const span = <u64>1 << (12 + size);
    atcLo = CMD_ATC_INV1_ADDR_AT(CMD_ATC_INV1_ADDR(d1)) & ~(span - 1);
    atcHi = atcLo + span - 1;
  }
  atcSsv = CMD_ATC_INV0_SSV(d0);
  atcSsid = CMD_ATC_INV0_SSID(d0);
  deviceTlbInvalidate(CMD_ATC_INV0_SID(d0), atcInRange);
}

/** Commands read from the queue and CMD_SYNCs completed by the last smmuProcessCommands (timing). */
export let cmdFetched: u64 = 0;
export let cmdSyncsDone: u64 = 0;

/** Carries out a CMD_TLBI_* (scopes: tlb.ts). */
function tlbi(op: u32, d0: u64, d1: u64): void {
  const vmid = CMD_TLBI0_VMID(d0), asid = CMD_TLBI0_ASID(d0);
  const el2 = op >= CMD_TLBI_EL2_ALL && op <= CMD_TLBI_EL2_VAA;
  const base = el2 ? op - CMD_TLBI_EL2_ALL + CMD_TLBI_NH_ALL : op;
  if (base == CMD_TLBI_NH_VA || base == CMD_TLBI_NH_VAA || op == CMD_TLBI_S2_IPA) {
    tlbiRange(CMD_TLBI1_ADDR_AT(CMD_TLBI1_ADDR(d1)), CMD_TLBI1_TG(d1), CMD_TLBI0_NUM(d0), CMD_TLBI0_SCALE(d0), CMD_TLBI1_TTL(d1), IDR3_RIL(idr3));
  }
  if (op == CMD_TLBI_S2_IPA) return tlbiS2Ipa(vmid, CMD_TLBI1_LEAF(d1));
  if (op == CMD_TLBI_S12_VMALL) return tlbiS12Vmall(vmid);
  if (op == CMD_TLBI_NSNH_ALL) return tlbiNsnhAll();
  if (base == CMD_TLBI_NH_ALL) return tlbiNhAll(vmid, el2);
  if (base == CMD_TLBI_NH_ASID) return tlbiNhAsid(vmid, asid, el2);
  if (base == CMD_TLBI_NH_VA || base == CMD_TLBI_NH_VAA) return tlbiNhVa(vmid, asid, base == CMD_TLBI_NH_VAA, el2, CMD_TLBI1_LEAF(d1));
  // EL3 forms are refused by check()
}

/** Processes the command queue as far as it can (see the header). */
export function smmuProcessCommands(): void {
  cmdFetched = 0;
  cmdSyncsDone = 0;
  if (!CR0_CMDQEN(cr0)) return;
  const base = load<u64>(REGS, SMMU_CMDQ_BASE);
  let lg2 = CMDQ_BASE_LOG2SIZE(base);
  const maxLg2 = IDR1_CMDQS(idr1);
  if (lg2 > maxLg2) lg2 = maxLg2;
  const mask: u32 = (<u32>2 << lg2) - 1; // index and wrap bit
  const addr = CMDQ_BASE_ADDR_AT(CMDQ_BASE_ADDR(base));
  const prod = load<u32>(REGS, SMMU_CMDQ_PROD) & mask;
  let cons = load<u32>(REGS, SMMU_CMDQ_CONS);
  while (((load<u32>(REGS, SMMU_GERROR) ^ load<u32>(REGS, SMMU_GERRORN)) & GERROR_CMDQ_ERR) == 0 && (cons & mask) != prod) {
    const at = addr + <u64>(cons & (mask >> 1)) * CMD_BYTES;
    const page = gmPage(at);
    let err = CERROR_ABT;
    if (page != 0) {
      const d0 = load<u64>(page + <usize>(at & 0xfff));
      const d1 = load<u64>(page + <usize>(at & 0xfff), 8);
      cmdFetched++;
      err = check(d0, d1);
      if (err == CERROR_NONE) {
        execute(d0, d1);
        bump(C_COMMANDS);
        cons = (cons & ~mask) | (((cons & mask) + 1) & mask);
        continue;
      }
    }
    cons = (cons & ~ERR_MASK) | <u32>CMDQ_CONS_ERR_AT(err);
    store<u32>(REGS, load<u32>(REGS, SMMU_GERROR) ^ GERROR_CMDQ_ERR, SMMU_GERROR);
    bump(C_CMDQ_ERRORS);
  }
  store<u32>(REGS, cons, SMMU_CMDQ_CONS);
}
