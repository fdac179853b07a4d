// VT-d DMA-remapping translation of one request (spec 3.4 "Mapping Devices to Domains": 3.4.2
// legacy mode, 3.4.3 scalable mode; 3.6-3.8 first-stage, second-stage and nested translation;
// 3.14 requests to the interrupt address range; chapter 7 fault conditions).
//
// This is architecture only: every structure is read from guest memory on every request. Caches
// (uarch/) sit in front of it in later layers; they must not change what this returns.
// The result record is written in place (abi Res); faults are values, never traps.
import { mask64, field, bit } from "../../common/bits";
import { gmPage } from "../../common/guest-memory";
import * as abi from "../../abi";
import {
  REQ_ADDR, REQ_SID, REQ_PASID, REQ_FLAGS, RES_PA, RES_LEAF_PA, RES_LEAF_PTE, RES_S2_LEAF_PA, RES_STATUS, RES_FAULT,
  RES_PAGE_LG2, RES_READS, RES_FLAGS, RES_DID, RES_PASID, RES_PGTT, RES_FAULT_LEVEL, RES_SNOOP_BY,
  KIND_MRD, KIND_MWR, KIND_ATS, RQF_KIND_MASK, RQF_PASID, RQF_PRIV, RQF_EXE, RQF_NS, RQF_TRANSLATED, RQF_NW,
  ST_OK, ST_FAULT, ST_INTERRUPT, ST_BLOCKED, RSF_SNOOP, RSF_RECORDED, RSF_R, RSF_W, RSF_X, RSF_U, RSF_PRIV, RSF_GLOBAL,
  RSF_NS_ALLOWED, RSF_PASSTHROUGH, SNOOP_BY_TLP, SNOOP_BY_PGSNP, FMT_VTD_SS, FMT_VTD_FS, OPT_SNP_RSVD_NO_SC, PGSNP_NO_SC_RESERVED,
  STATS_BASE, FAULT_COUNTS_BASE, C_REQUESTS, C_TRANSLATED, C_FAULTED, C_FAULTS_RECORDED, C_INTERRUPTS, C_BLOCKED,
  C_NO_SNOOP_TLPS, C_SNOOPED, C_NON_SNOOPED, C_NO_SNOOP_FORCED, C_NO_SNOOP_FORCED_PGSNP, C_NO_SNOOP_FORCED_PTE, C_ATS_REQUESTS, C_ROOT_READS, C_CONTEXT_READS,
  C_PASID_DIR_READS, C_PASID_TABLE_READS, QUALIFIED_0, QUALIFIED_1, QUALIFIED_2, QUALIFIED_3,
} from "../../abi";
import * as regs from "./regs";
import { ROOT_ENTRY_BYTES, ROOT_P, ROOT_CTP_MASK, ROOT_RSVD_LO, ROOT_LEGACY_RSVD_HI } from "./root-entry";
import {
  CTX_LEGACY_BYTES, CTX_SM_BYTES, CTX_P, CTX_FPD, CTX_TT_SHIFT, CTX_LEGACY_RSVD_LO, CTX_LEGACY_RSVD_HI, TT_SS_DT, TT_PT,
  CTX_DTE, CTX_PASIDE, CTX_PRE, CTX_SM_RSVD_Q0, CTX_SM_RID_PASID_MASK, CTX_SM_RID_PRIV, CTX_SM_RSVD_Q1,
} from "./context-entry";
import {
  PASID_DIR_ENTRY_BYTES, PASID_ENTRY_BYTES, PDE_P, PDE_FPD, PDE_RSVD, PE_P, PE_FPD, PE_SSADE, PE_RSVD_Q0, PE_PGSNP, PE_PWSNP,
  PE_RSVD_Q1, PE_SRE, PE_ERE, PE_WPE, PE_NXE, PE_SMEP, PE_EAFE, PE_RSVD_Q2, PGTT_FS, PGTT_SS, PGTT_NESTED, PGTT_PT,
} from "./pasid";
import { snoopLegacy, snoopScalable } from "./snoop";
import { WalkState, W_OK, W_ACCESS, W_NOT_PRESENT, W_RESERVED, W_INPUT, W_S2, W_S2_READ } from "../pagetable/walk-state";
import { walk, walkSetDirty, walkLeafPa, walkLeafPte, W_AD_NOSNOOP, W_S2_WRITE } from "../pagetable/walker";

const INT_RANGE_BASE: u64 = 0xfee00000;
const INT_RANGE_LAST: u64 = 0xfeefffff;
const NO_PASID: u32 = 0xffffffff;

/** First-stage and second-stage walk states, allocated once (vtdInit). */
let fsWs: WalkState = changetype<WalkState>(0);
let ssWs: WalkState = changetype<WalkState>(0);

export function vtdInit(): void {
  fsWs = new WalkState();
  fsWs.fmt = FMT_VTD_FS;
  fsWs.stage = 0;
  ssWs = new WalkState();
  ssWs.fmt = FMT_VTD_SS;
  ssWs.stage = 1;
}

// ---- counters and result helpers ---------------------------------------------------------------

// @ts-ignore: decorator
@inline function bump(counter: u32): void {
  const at = STATS_BASE + (counter << 3);
  store<u64>(at, load<u64>(at) + 1);
}

// @ts-ignore: decorator
@inline function qualified(code: u32): bool {
  const w = code >> 6;
  const bits = w == 0 ? QUALIFIED_0 : w == 1 ? QUALIFIED_1 : w == 2 ? QUALIFIED_2 : QUALIFIED_3;
  return ((bits >>> (code & 63)) & 1) != 0;
}

/** Reads so far for this request (structure reads plus walk reads). */
let reads: u32 = 0;

// @ts-ignore: decorator
@inline function readStruct(pa: u64, counter: u32): usize {
  const page = gmPage(pa);
  if (page != 0) {
    reads++;
    bump(counter);
  }
  return page == 0 ? 0 : page + <usize>(pa & 0xfff);
}

/**
 * Ends the request with fault `code`. `fpd` says whether a fault-processing-disable bit that
 * applies to this fault is set; FPD suppresses the recording of qualified faults only (spec 7.1.2),
 * the request is blocked either way.
 */
function fault(res: usize, code: u8, fpd: bool, level: u32): void {
  store<u8>(res, ST_FAULT, RES_STATUS);
  store<u8>(res, code, RES_FAULT);
  store<u8>(res, <u8>level, RES_FAULT_LEVEL);
  store<u8>(res, <u8>min(reads, 255), RES_READS);
  bump(C_FAULTED);
  const recorded = !(fpd && qualified(code));
  if (recorded) {
    store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_RECORDED, RES_FLAGS);
    bump(C_FAULTS_RECORDED);
  }
  const at = FAULT_COUNTS_BASE + (<u32>code << 3);
  store<u64>(at, load<u64>(at) + 1);
}

/** Ends the request successfully with output `pa`; `by` is what decided the snoop outcome. */
function success(res: usize, pa: u64, flags: u32, by: u8): void {
  const ns = (flags & RQF_NS) != 0;
  const snoop = by != SNOOP_BY_TLP || !ns;
  let rf = load<u32>(res, RES_FLAGS);
  if (snoop) rf |= RSF_SNOOP;
  if (by == SNOOP_BY_TLP) rf |= RSF_NS_ALLOWED;
  store<u32>(res, rf, RES_FLAGS);
  store<u64>(res, pa, RES_PA);
  store<u8>(res, ST_OK, RES_STATUS);
  store<u8>(res, by, RES_SNOOP_BY);
  store<u8>(res, <u8>min(reads, 255), RES_READS);
  bump(C_TRANSLATED);
  if ((flags & RQF_KIND_MASK) == KIND_ATS) return;
  if (ns) bump(C_NO_SNOOP_TLPS);
  bump(snoop ? C_SNOOPED : C_NON_SNOOPED);
  if (ns && snoop) {
    bump(C_NO_SNOOP_FORCED);
    bump(by == SNOOP_BY_PGSNP ? C_NO_SNOOP_FORCED_PGSNP : C_NO_SNOOP_FORCED_PTE);
  }
}

// @ts-ignore: decorator
@inline function inInterruptRange(a: u64): bool {
  return a >= INT_RANGE_BASE && a <= INT_RANGE_LAST;
}

/** Records the leaf of walk `ws` (address, value, page size) in the result. */
function recordLeaf(res: usize, ws: WalkState): void {
  store<u64>(res, walkLeafPa(ws), RES_LEAF_PA);
  store<u64>(res, walkLeafPte(ws), RES_LEAF_PTE);
  store<u8>(res, <u8>ws.pageLg2, RES_PAGE_LG2);
}

// ---- the entry point -----------------------------------------------------------------------------

/** Translates request record `req` into result record `res` (both already addressed by the engine). */
export function vtdTranslate(req: usize, res: usize): void {
  const addr = load<u64>(req, REQ_ADDR);
  const flags = load<u32>(req, REQ_FLAGS);
  const kind = flags & RQF_KIND_MASK;
  // Clear the 64-byte record with plain stores (V8 turns memory.fill into an out-of-line call).
  store<u64>(res, 0, 0);
  store<u64>(res, 0, 8);
  store<u64>(res, 0, 16);
  store<u64>(res, 0, 24);
  store<u64>(res, 0, 32);
  store<u64>(res, 0, 40);
  store<u64>(res, 0, 48);
  store<u64>(res, 0, 56);
  store<u32>(res, NO_PASID, RES_PASID);
  store<u8>(res, 12, RES_PAGE_LG2);
  reads = 0;
  bump(C_REQUESTS);
  if (kind == KIND_ATS) bump(C_ATS_REQUESTS);

  // Spec 3.14: a request without PASID to 0xFEEx_xxxx is an interrupt request, never DMA-remapped.
  // Writes are interrupt messages; reads to the range are blocked (unsupported request).
  if ((flags & RQF_PASID) == 0 && kind != KIND_ATS && inInterruptRange(addr)) {
    if (kind == KIND_MWR) {
      store<u8>(res, ST_INTERRUPT, RES_STATUS);
      bump(C_INTERRUPTS);
    } else {
      store<u8>(res, ST_BLOCKED, RES_STATUS);
      bump(C_BLOCKED);
    }
    store<u64>(res, addr, RES_PA);
    return;
  }
  // GSTS.TES=0: DMA remapping is off and requests pass untranslated (spec 10.4.4).
  if (!regs.translationEnabled) {
    store<u32>(res, RSF_PASSTHROUGH, RES_FLAGS);
    success(res, addr, flags, SNOOP_BY_TLP);
    return;
  }
  if (regs.ttm == 0) translateLegacy(req, res, addr, flags, kind);
  else if (regs.ttm == 1 && regs.ecapSmts) translateScalable(req, res, addr, flags, kind);
  else if (regs.ttm == 3 && regs.ecapAdms) {
    // Abort-DMA mode (TTM=11, ECAP.ADMS): every DMA request is blocked; no fault is recorded.
    store<u8>(res, ST_BLOCKED, RES_STATUS);
    bump(C_BLOCKED);
  } else fault(res, abi.FR_RTA_1, false, 0);
}

// ---- legacy mode (spec 3.4.2) --------------------------------------------------------------------

function translateLegacy(req: usize, res: usize, addr: u64, flags: u32, kind: u32): void {
  store<u8>(res, 0x10, RES_PGTT);
  if ((flags & RQF_PASID) != 0) return fault(res, abi.FR_RTA_2, false, 0);
  const sid = load<u32>(req, REQ_SID);
  const bus = (sid >> 8) & 0xff, devfn = sid & 0xff;

  // 1. Root entry, indexed by bus.
  const root = readStruct(regs.rta + <u64>(bus * ROOT_ENTRY_BYTES), C_ROOT_READS);
  if (root == 0) return fault(res, abi.FR_LRT_1, false, 0);
  const r0 = load<u64>(root), r1 = load<u64>(root, 8);
  if ((r0 & ROOT_P) == 0) return fault(res, abi.FR_LRT_2, false, 0);
  if ((r0 & (ROOT_RSVD_LO | regs.rsvdAddr)) != 0 || (r1 & ROOT_LEGACY_RSVD_HI) != 0) return fault(res, abi.FR_LRT_3, false, 0);

  // 2. Context entry, indexed by devfn.
  const ctx = readStruct((r0 & ROOT_CTP_MASK) + <u64>(devfn * CTX_LEGACY_BYTES), C_CONTEXT_READS);
  if (ctx == 0) return fault(res, abi.FR_LCT_1, false, 0);
  const c0 = load<u64>(ctx), c1 = load<u64>(ctx, 8);
  const fpd = (c0 & CTX_FPD) != 0;
  if ((c0 & CTX_P) == 0) return fault(res, abi.FR_LCT_2, fpd, 0);
  if ((c0 & (CTX_LEGACY_RSVD_LO | regs.rsvdAddr)) != 0 || (c1 & CTX_LEGACY_RSVD_HI) != 0) return fault(res, abi.FR_LCT_3, false, 0);
  const tt = <u32>field(c0, 3, CTX_TT_SHIFT);
  const aw = <u32>field(c1, 2, 0);
  store<u32>(res, <u32>field(c1, 23, 8), RES_DID);
  store<u8>(res, <u8>(0x10 | tt), RES_PGTT);
  if (tt == 3 || (tt == TT_SS_DT && !regs.ecapDt) || (tt == TT_PT && !regs.ecapPt)) return fault(res, abi.FR_LCT_4, fpd, 0);
  if (tt != TT_PT && !awSupported(aw)) return fault(res, abi.FR_LCT_4, fpd, 0);

  // 3. Translation requests and translated requests need TT=01.
  if ((kind == KIND_ATS || (flags & RQF_TRANSLATED) != 0) && tt != TT_SS_DT) return fault(res, abi.FR_LCT_5, fpd, 0);
  if ((flags & RQF_TRANSLATED) != 0 || tt == TT_PT) {
    store<u32>(res, RSF_PASSTHROUGH | RSF_R | RSF_W, RES_FLAGS);
    return success(res, addr, flags, SNOOP_BY_TLP);
  }

  // 4. Second-stage walk with the legacy fault codes.
  const ws = ssWs;
  ws.s2 = null;
  configureSs(ws, c0 & mask64(63, 12), aw, false, true);
  ws.va = addr;
  const f = walk(ws);
  reads += ws.reads;
  const write = kind == KIND_MWR;
  if (f != W_OK) {
    let code: u8;
    // The table SSPTPTR points at cannot be read: invalid context programming (LCT.4).
    if (f == W_ACCESS) code = ws.faultLevel == ws.levels - 1 ? abi.FR_LCT_4 : abi.FR_LSL_1;
    else if (f == W_RESERVED) code = abi.FR_LSL_2;
    else if (f == W_INPUT) code = abi.FR_LGN_1;
    else code = write ? abi.FR_LGN_2 : abi.FR_LGN_3; // not present: R=W=0
    if (kind == KIND_ATS && f == W_NOT_PRESENT) return atsNoAccess(res, flags);
    return fault(res, code, fpd, ws.faultLevel + 1);
  }
  recordLeaf(res, ws);
  if (kind == KIND_ATS) return atsComplete(res, flags, ws.oa, ws.permR, ws.permW, false, true, false, snoopLegacy(tt, ws.snp));
  if (write && !ws.permW) return fault(res, abi.FR_LGN_2, fpd, ws.leafLevel + 1);
  if (!write && !ws.permR) return fault(res, abi.FR_LGN_3, fpd, ws.leafLevel + 1);
  if (inInterruptRange(ws.oa)) return fault(res, abi.FR_LGN_4, fpd, 0);
  setPermFlags(res, ws.permR, ws.permW, false, true);
  success(res, ws.oa, flags, snoopLegacy(tt, ws.snp));
}

/** AW (levels - 2) is 1, 2 or 3 and advertised in CAP.SAGAW; other encodings are reserved. */
// @ts-ignore: decorator
@inline function awSupported(aw: u32): bool {
  return aw >= 1 && aw <= 3 && ((regs.capSagaw >> aw) & 1) != 0;
}

/** Second-stage walk configuration shared by legacy, SS-only and nested translation. */
function configureSs(ws: WalkState, root: u64, aw: u32, setAD: bool, walkSnooped: bool): void {
  ws.root = root;
  ws.levels = aw + 2;
  ws.inputBits = min(regs.capMgawBits, 12 + 9 * ws.levels);
  ws.leafLevels = 1 | ((regs.capSslps & 3) << 1);
  ws.rsvdAddr = regs.rsvdAddr;
  ws.snpReserved = !regs.ecapSc && (regs.options & OPT_SNP_RSVD_NO_SC) != 0;
  ws.setAD = setAD;
  ws.walkSnooped = walkSnooped;
}

function setPermFlags(res: usize, r: bool, w: bool, x: bool, u: bool): void {
  let rf = load<u32>(res, RES_FLAGS);
  if (r) rf |= RSF_R;
  if (w) rf |= RSF_W;
  if (x) rf |= RSF_X;
  if (u) rf |= RSF_U;
  store<u32>(res, rf, RES_FLAGS);
}

/** ATS translation completion for a present translation (spec 4.2.3); N follows the snoop decision. */
function atsComplete(res: usize, flags: u32, pa: u64, r: bool, w: bool, x: bool, u: bool, global: bool, by: u8): void {
  setPermFlags(res, r, w && (flags & RQF_NW) == 0, x, u);
  if (global) store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_GLOBAL, RES_FLAGS);
  success(res, pa, flags, by);
}

/** ATS translation request for an address with no mapping: a completion with R=W=0, no fault. */
function atsNoAccess(res: usize, flags: u32): void {
  success(res, 0, flags, SNOOP_BY_TLP);
}

// ---- scalable mode (spec 3.4.3) ------------------------------------------------------------------

function translateScalable(req: usize, res: usize, addr: u64, flags: u32, kind: u32): void {
  const sid = load<u32>(req, REQ_SID);
  const bus = (sid >> 8) & 0xff, devfn = sid & 0xff;
  const hasPasid = (flags & RQF_PASID) != 0;
  const translated = (flags & RQF_TRANSLATED) != 0;

  // 1. Scalable-mode root entry: devfn[7] selects the lower or upper context-table pointer.
  const root = readStruct(regs.rta + <u64>(bus * ROOT_ENTRY_BYTES), C_ROOT_READS);
  if (root == 0) return fault(res, abi.FR_SRT_1, false, 0);
  const rq = load<u64>(root + (devfn >= 0x80 ? 8 : 0));
  if ((rq & ROOT_P) == 0) return fault(res, abi.FR_SRT_2, false, 0);
  if ((rq & (ROOT_RSVD_LO | regs.rsvdAddr)) != 0) return fault(res, abi.FR_SRT_3, false, 0);

  // 2. Scalable-mode context entry, indexed by devfn[6:0].
  const ctx = readStruct((rq & ROOT_CTP_MASK) + <u64>((devfn & 0x7f) * CTX_SM_BYTES), C_CONTEXT_READS);
  if (ctx == 0) return fault(res, abi.FR_SCT_1, false, 0);
  const c0 = load<u64>(ctx), c1 = load<u64>(ctx, 8), c2 = load<u64>(ctx, 16), c3 = load<u64>(ctx, 24);
  let fpd = (c0 & CTX_FPD) != 0;
  if ((c0 & CTX_P) == 0) return fault(res, abi.FR_SCT_2, fpd, 0);
  let rsvd1 = CTX_SM_RSVD_Q1;
  if (!regs.ecapRps) rsvd1 |= CTX_SM_RID_PASID_MASK;
  if (!regs.ecapRprivs) rsvd1 |= CTX_SM_RID_PRIV;
  if ((c0 & (CTX_SM_RSVD_Q0 | regs.rsvdAddr)) != 0 || (c1 & rsvd1) != 0 || c2 != 0 || c3 != 0)
    return fault(res, abi.FR_SCT_3, false, 0);
  const dte = (c0 & CTX_DTE) != 0;
  if ((dte && !regs.ecapDt) || ((c0 & CTX_PASIDE) != 0 && !regs.ecapPasid) || ((c0 & CTX_PRE) != 0 && !regs.ecapPrs))
    return fault(res, abi.FR_SCT_4, fpd, 0);
  if ((kind == KIND_ATS || translated) && !dte) return fault(res, abi.FR_SCT_5, fpd, 0);
  if (hasPasid && (c0 & CTX_PASIDE) == 0) return fault(res, abi.FR_SCT_6, fpd, 0);

  // 3. The PASID: the request's, or RID_PASID (ECAP.RPS) / 0 for requests without one.
  let pasid: u32 = 0;
  let priv = (flags & RQF_PRIV) != 0 && regs.ecapSrs;
  const exe = (flags & RQF_EXE) != 0 && regs.ecapErs;
  if (hasPasid) pasid = load<u32>(req, REQ_PASID) & 0xfffff;
  else {
    if (regs.ecapRps) pasid = <u32>(c1 & CTX_SM_RID_PASID_MASK);
    priv = regs.ecapRprivs && (c1 & CTX_SM_RID_PRIV) != 0;
  }
  store<u32>(res, pasid, RES_PASID);
  const pdts = <u32>field(c0, 11, 9);
  if ((pasid >> 6) >= (<u32>1 << (pdts + 7))) return fault(res, abi.FR_SCT_7, fpd, 0);
  if (translated) {
    // Translated request (AT=10b) with DTE=1: the address is already a host physical address.
    store<u32>(res, RSF_PASSTHROUGH | RSF_R | RSF_W, RES_FLAGS);
    return success(res, addr, flags, SNOOP_BY_TLP);
  }

  // 4. PASID-directory entry, indexed by PASID[19:6].
  const pde = readStruct((c0 & mask64(63, 12)) + <u64>((pasid >> 6) * PASID_DIR_ENTRY_BYTES), C_PASID_DIR_READS);
  if (pde == 0) return fault(res, abi.FR_SPD_1, false, 0);
  const d = load<u64>(pde);
  if ((d & PDE_P) == 0) return fault(res, abi.FR_SPD_2, fpd || (d & PDE_FPD) != 0, 0);
  if ((d & (PDE_RSVD | regs.rsvdAddr)) != 0) return fault(res, abi.FR_SPD_3, fpd, 0);
  fpd = fpd || (d & PDE_FPD) != 0;

  // 5. PASID-table entry, indexed by PASID[5:0].
  const pe = readStruct((d & mask64(63, 12)) + <u64>((pasid & 0x3f) * PASID_ENTRY_BYTES), C_PASID_TABLE_READS);
  if (pe == 0) return fault(res, abi.FR_SPT_1, false, 0);
  const p0 = load<u64>(pe), p1 = load<u64>(pe, 8), p2 = load<u64>(pe, 16);
  if ((p0 & PE_P) == 0) return fault(res, abi.FR_SPT_2, fpd || (p0 & PE_FPD) != 0, 0);
  let rsvd1p = PE_RSVD_Q1;
  if (!regs.ecapSc && regs.pgsnpNoSc == PGSNP_NO_SC_RESERVED) rsvd1p |= PE_PGSNP;
  let upper: u64 = 0;
  for (let q: usize = 24; q < 64; q += 8) upper |= load<u64>(pe + q);
  if ((p0 & (PE_RSVD_Q0 | regs.rsvdAddr)) != 0 || (p1 & rsvd1p) != 0 || (p2 & (PE_RSVD_Q2 | regs.rsvdAddr)) != 0 || upper != 0)
    return fault(res, abi.FR_SPT_3, fpd, 0);
  fpd = fpd || (p0 & PE_FPD) != 0;
  const pgtt = <u32>field(p0, 8, 6);
  const aw = <u32>field(p0, 4, 2);
  const fspm = <u32>field(p2, 3, 2);
  const ssade = (p0 & PE_SSADE) != 0;
  store<u8>(res, <u8>pgtt, RES_PGTT);
  store<u32>(res, <u32>(p1 & 0xffff), RES_DID);
  const usesSs = pgtt == PGTT_SS || pgtt == PGTT_NESTED;
  const usesFs = pgtt == PGTT_FS || pgtt == PGTT_NESTED;
  if (
    pgtt == 0 || pgtt > PGTT_PT ||
    (pgtt == PGTT_FS && !regs.ecapFsts) || (pgtt == PGTT_SS && !regs.ecapSsts) ||
    (pgtt == PGTT_NESTED && !(regs.ecapNest && regs.ecapFsts && regs.ecapSsts)) || (pgtt == PGTT_PT && !regs.ecapPt) ||
    (usesSs && !awSupported(aw)) ||
    (usesFs && (fspm > 1 || (fspm == 1 && !regs.capFs5lp))) ||
    (ssade && !regs.ecapSsads)
  ) return fault(res, abi.FR_SPT_4, fpd, 0);
  if (priv && (p2 & PE_SRE) == 0) return fault(res, abi.FR_SPT_6, fpd, 0);
  if (exe && (p2 & PE_ERE) == 0) return fault(res, abi.FR_SPT_5, fpd, 0);
  if (priv) store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_PRIV, RES_FLAGS);
  const pgsnp = (p1 & PE_PGSNP) != 0;
  // Paging-structure accesses snoop when PWSNP=1 and the hardware honours it (ECAP.SMPWCS).
  const walkSnooped = regs.ecapSmpwcs && (p1 & PE_PWSNP) != 0;

  // 6. Translate by PGTT.
  if (pgtt == PGTT_PT) {
    store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_PASSTHROUGH | RSF_R | RSF_W | RSF_X | RSF_U, RES_FLAGS);
    if (kind != KIND_ATS && inInterruptRange(addr)) return fault(res, abi.FR_SGN_8, fpd, 0);
    return success(res, addr, flags, snoopScalable(pgtt, pgsnp, false));
  }
  if (pgtt == PGTT_SS) return secondStageOnly(res, addr, flags, kind, exe, fpd, p0, aw, ssade, walkSnooped, pgsnp);
  return firstStage(res, addr, flags, kind, priv, exe, fpd, p0, p2, aw, fspm, ssade, walkSnooped, pgsnp, pgtt == PGTT_NESTED);
}

/**
 * Maps the outcome of second-stage walk `ws` to its scalable-mode fault code. An access error on
 * the top-level table (the one SSPTPTR points at) is an invalid SSPTPTR (SSS.4), as SFS.4 is for
 * FSPTPTR.
 */
function ssFaultCode(ws: WalkState, f: u32, finalGpa: bool): u8 {
  if (f == W_ACCESS) return ws.faultLevel == ws.levels - 1 ? abi.FR_SSS_4 : abi.FR_SSS_1;
  if (f == W_NOT_PRESENT) return abi.FR_SSS_2;
  if (f == W_RESERVED) return abi.FR_SSS_3;
  if (f == W_AD_NOSNOOP) return abi.FR_SSS_5;
  // W_INPUT: the input (IOVA or final GPA) is beyond the width; for a first-stage table pointer
  // under nested translation it is the nested code SFS.5.
  return finalGpa ? abi.FR_SGN_4 : abi.FR_SFS_5;
}

function secondStageOnly(
  res: usize, addr: u64, flags: u32, kind: u32, exe: bool, fpd: bool, p0: u64, aw: u32, ssade: bool, walkSnooped: bool, pgsnp: bool,
): void {
  const sspt = p0 & mask64(63, 12);
  const ws = ssWs;
  ws.s2 = null;
  configureSs(ws, sspt, aw, ssade, walkSnooped);
  ws.va = addr;
  const f = walk(ws);
  reads += ws.reads;
  if (f != W_OK) {
    if (kind == KIND_ATS && f == W_NOT_PRESENT) return atsNoAccess(res, flags);
    return fault(res, ssFaultCode(ws, f, true), fpd, ws.faultLevel + 1);
  }
  recordLeaf(res, ws);
  store<u64>(res, walkLeafPa(ws), RES_S2_LEAF_PA);
  const by = snoopScalable(PGTT_SS, pgsnp, ws.snp);
  const ats = kind == KIND_ATS;
  // An execute request needs read permission here (the SS X bit is not modelled; see README).
  const write = kind == KIND_MWR;
  if (!ats) {
    if (write && !ws.permW) return fault(res, abi.FR_SGN_6, fpd, ws.leafLevel + 1);
    if (!write && !ws.permR) return fault(res, abi.FR_SGN_7, fpd, ws.leafLevel + 1);
    if (inInterruptRange(ws.oa)) return fault(res, abi.FR_SGN_8, fpd, 0);
  }
  // Dirty: a granted DMA write, or an ATS completion that grants write (NW=0).
  if (ssade && ws.permW && (write || (ats && (flags & RQF_NW) == 0))) {
    const d = walkSetDirty(ws);
    if (d != W_OK) return fault(res, ssFaultCode(ws, d, true), fpd, ws.leafLevel + 1);
    store<u64>(res, walkLeafPte(ws), RES_LEAF_PTE);
  }
  if (ats) return atsComplete(res, flags, ws.oa, ws.permR, ws.permW, ws.permR, true, false, by);
  setPermFlags(res, ws.permR, ws.permW, exe && ws.permR, true);
  success(res, ws.oa, flags, by);
}

function firstStage(
  res: usize, addr: u64, flags: u32, kind: u32, priv: bool, exe: bool, fpd: bool,
  p0: u64, p2: u64, aw: u32, fspm: u32, ssade: bool, walkSnooped: bool, pgsnp: bool, nested: bool,
): void {
  const fs = fsWs;
  fs.root = p2 & mask64(63, 12);
  fs.levels = 4 + fspm;
  fs.inputBits = fspm == 1 ? 57 : 48;
  fs.leafLevels = 1 | 2 | (regs.capFs1gp ? 4 : 0);
  fs.rsvdAddr = regs.rsvdAddr;
  fs.nxe = (p2 & PE_NXE) != 0;
  fs.eafe = (p2 & PE_EAFE) != 0;
  fs.setAD = true;
  fs.walkSnooped = walkSnooped;
  const ss = ssWs;
  if (nested) {
    ss.s2 = null;
    configureSs(ss, p0 & mask64(63, 12), aw, ssade, walkSnooped);
    fs.s2 = ss;
  } else fs.s2 = null;
  fs.va = addr;
  const f = walk(fs);
  reads += fs.reads;
  const top = fs.levels - 1;
  if (f != W_OK) {
    const level = fs.faultLevel + 1;
    if (f == W_S2) return fault(res, ssFaultCode(ss, ss.fault, false), fpd, ss.faultLevel + 1);
    if (kind == KIND_ATS && f == W_NOT_PRESENT) return atsNoAccess(res, flags);
    let code: u8;
    if (f == W_ACCESS) code = fs.faultLevel == top ? abi.FR_SFS_4 : abi.FR_SFS_1;
    else if (f == W_NOT_PRESENT) code = abi.FR_SFS_2;
    else if (f == W_RESERVED) code = abi.FR_SFS_3;
    else if (f == W_INPUT) code = abi.FR_SGN_1;
    else if (f == W_AD_NOSNOOP) code = abi.FR_SFS_9;
    else if (f == W_S2_READ) code = fs.faultLevel == top ? abi.FR_SFS_6 : abi.FR_SFS_7;
    else code = abi.FR_SFS_8; // W_S2_WRITE
    return fault(res, code, fpd, level);
  }
  recordLeaf(res, fs);
  const write = kind == KIND_MWR;
  const user = !priv;
  // Effective first-stage rights (x86 semantics, spec 3.6.2): user accesses need U/S=1 at every
  // level; writes need R/W=1 at every level for user requests, and for supervisor ones when WPE=1;
  // execute needs XD=0 at every level (with NXE), and SMEP forbids supervisor execute of user pages.
  const wpe = (p2 & PE_WPE) != 0;
  const smep = (p2 & PE_SMEP) != 0;
  const canWrite = fs.permW || (!user && !wpe);
  const canExec = fs.permX && !(!user && smep && fs.permU);
  let pa = fs.oa;
  let pageLg2 = fs.pageLg2;
  let ssSnp = false;
  let ssR = true, ssW = true;
  if (kind != KIND_ATS) {
    if (user && !fs.permU) return fault(res, abi.FR_SGN_2, fpd, fs.leafLevel + 1);
    if (write && !canWrite) return fault(res, abi.FR_SGN_6, fpd, fs.leafLevel + 1);
    if (exe && !canExec) return fault(res, abi.FR_SGN_3, fpd, fs.leafLevel + 1);
  }
  if (nested) {
    // The final GPA through the second stage (spec 3.8).
    ss.va = fs.oa;
    const f2 = walk(ss);
    reads += ss.reads;
    if (f2 != W_OK) {
      if (kind == KIND_ATS && f2 == W_NOT_PRESENT) return atsNoAccess(res, flags);
      return fault(res, ssFaultCode(ss, f2, true), fpd, ss.faultLevel + 1);
    }
    store<u64>(res, walkLeafPa(ss), RES_S2_LEAF_PA);
    ssR = ss.permR;
    ssW = ss.permW;
    if (kind != KIND_ATS) {
      if (write && !ssW) return fault(res, abi.FR_SGN_6, fpd, ss.leafLevel + 1);
      if (!write && !ssR) return fault(res, abi.FR_SGN_7, fpd, ss.leafLevel + 1);
    }
    pa = ss.oa;
    pageLg2 = min(pageLg2, ss.pageLg2);
    ssSnp = ss.snp;
    store<u8>(res, <u8>pageLg2, RES_PAGE_LG2);
  }
  const by = snoopScalable(nested ? PGTT_NESTED : PGTT_FS, pgsnp, ssSnp);
  // An ATS completion reports the rights of the privilege the device asked for: none for a user
  // request to a supervisor page (no fault: the device sees R=W=0).
  const allowed = !(user && !fs.permU);
  const w = allowed && canWrite && ssW;
  if (kind != KIND_ATS && inInterruptRange(pa)) return fault(res, abi.FR_SGN_8, fpd, 0);
  if (write || (kind == KIND_ATS && w && (flags & RQF_NW) == 0)) {
    // Dirty flags: the first-stage leaf, then (nested, SSADE) the second-stage leaf of the GPA.
    // Under nesting the FS leaf's page needs stage-2 write permission (SFS.8).
    const d = walkSetDirty(fs);
    if (d != W_OK) return fault(res, d == W_AD_NOSNOOP ? abi.FR_SFS_9 : abi.FR_SFS_8, fpd, fs.leafLevel + 1);
    if (nested && ssade) {
      const d2 = walkSetDirty(ss);
      if (d2 != W_OK) return fault(res, ssFaultCode(ss, d2, true), fpd, ss.leafLevel + 1);
    }
    store<u64>(res, walkLeafPte(fs), RES_LEAF_PTE);
  }
  if (fs.global) store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_GLOBAL, RES_FLAGS);
  if (kind == KIND_ATS) return atsComplete(res, flags, pa, allowed && ssR, w, allowed && canExec && ssR, fs.permU, fs.global, by);
  setPermFlags(res, ssR, w, canExec && ssR, fs.permU);
  success(res, pa, flags, by);
}
