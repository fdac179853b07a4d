// VT-d DMA-remapping translation of one request (spec 3.4 "Mapping Devices to Domains": 3.4.2
// legacy mode, 3.4.3 scalable mode; 3.6-3.8 first-stage, second-stage and nested translation;
// 3.14 requests to the interrupt address range; chapter 7 fault conditions).
//
// Structures are read from guest memory unless a cache (uarch/vtd-caches, reached through its
// lookup/fill calls) holds them. A cache holds raw entry contents, so every check below runs the
// same on a hit as on a read: caches change which reads happen, never what a request gets, until
// software changes memory without invalidating (then, as on silicon, the stale copy is used).
// Caching mode (CAP.CM) also caches entries that are not present or invalid.
import { resultBegin } from "../../common/result-record";
import { mask64, field } from "../../common/bits";
import * as abi from "../../abi";
import {
  REQ_ADDR, REQ_SID, REQ_PASID, REQ_FLAGS, RES_PA, RES_S2_LEAF_PA, RES_STATUS, RES_LEAF_PTE, RES_FLAGS, RES_DOMAIN,
  RES_ADDR_SPACE, RES_KIND, RES_PAGE_LG2, KIND_MWR, KIND_ATS, RQF_KIND_MASK, RQF_PASID, RQF_PRIV, RQF_EXE, RQF_TRANSLATED, RQF_NW,
  ST_INTERRUPT, ST_BLOCKED, RSF_R, RSF_W, RSF_X, RSF_U, RSF_PRIV, RSF_GLOBAL, RSF_PASSTHROUGH, SNOOP_BY_TLP,
  FMT_VTD_SS, FMT_VTD_FS, OPT_SNP_RSVD_NO_SC, PGSNP_NO_SC_RESERVED,
  C_ROOT_READS, C_CONTEXT_READS, C_PASID_DIR_READS, C_PASID_TABLE_READS,
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
import { countRequest, countInterrupt, countBlocked, setStale, readStruct, fault, success, setPermFlags, recordLeaf, atsComplete, atsNoAccess, inInterruptRange, resetReads } from "./result";
import { ssTranslate, fsTranslate, nestedFinal, trFill, trLeafLevel, TAG_NO_PASID, trPa, trLeafPa, trLeafPte, trS2LeafPa, trPageLg2, trFlags, trFromIotlb } from "./stages";
import * as tr from "./stages";
import { WalkState, W_OK, W_ACCESS, W_NOT_PRESENT, W_RESERVED, W_INPUT, W_S2, W_S2_READ, PERM_W, PERM_U, PERM_X } from "../pagetable/walk-state";
import { walkSetDirty, walkLeafPte, W_AD_NOSNOOP } from "../pagetable/walker";
import { vtdInputBits } from "../pagetable/fmt/vtd-ss";
import { fsInputBits } from "../pagetable/fmt/vtd-fs";
import {
  CTXF_RSVD_HIGH, CTX_C0, CTX_C1, CTX_FLAGS, CTX_CHECK, PC_P0, PC_P1, PC_P2, PC_FLAGS, PASID_CHECK, PCF_DIR_FPD, PCF_RSVD_HIGH,
  ITF_SS_R, ITF_SS_W, ITF_GLOBAL, ITF_SNP, ITF_DIRTY, ownerTag,
} from "./cached";
import { cacheLookup, cacheFill } from "../ports";
import { CACHE_CONTEXT_CACHE, CACHE_PASID_CACHE } from "../../abi";


/** First-stage and second-stage walk states, allocated once (vtdInit). */
let fsWs: WalkState = changetype<WalkState>(0);
let ssWs: WalkState = changetype<WalkState>(0);

export function vtdInit(): void {
  smCtx = new SmContext();
  fsWs = new WalkState();
  fsWs.fmt = FMT_VTD_FS;
  fsWs.stage = 0;
  ssWs = new WalkState();
  ssWs.fmt = FMT_VTD_SS;
  ssWs.stage = 1;
}

// ---- the entry point -----------------------------------------------------------------------------

/** Translates request record `req` into result record `res` (both already addressed by the engine). */
export function vtdTranslate(req: usize, res: usize, resolved: bool = false): void {
  const addr = load<u64>(req, REQ_ADDR);
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  const kind = flags & RQF_KIND_MASK;
  resultBegin(res);
  resetReads();
  setStale(false);
  countRequest(kind == KIND_ATS);
  smResolved = false;
  // resolved: the engine kept this request's context (smContextReusable held;
  // engine/device-context.ts), and smTranslate below is all that remains. (One call site of
  // smTranslate, so that the optimizer inlines it here.)
  if (!resolved) {
    if (!translateUnresolved(req, res, addr, flags, kind)) return;
    smResolved = true;
  }
  smTranslate(res, addr, flags, kind);
}

/**
 * vtdTranslate of a request without a kept context: the interrupt range, translation off, legacy
 * and abort-DMA modes end the request; in scalable mode steps 1-5 (smResolve) run, and the result
 * says whether smCtx now holds the context for step 6 (smTranslate).
 */
// @ts-ignore: decorator
@inline function translateUnresolved(req: usize, res: usize, addr: u64, flags: u32, kind: u32): bool {
  // Spec 3.14: a request without PASID to 0xFEEx_xxxx is an interrupt request, never DMA-remapped.
  // Writes are interrupt messages; reads to the range are blocked (unsupported request).
  if ((flags & RQF_PASID) == 0 && kind != KIND_ATS && inInterruptRange(addr)) {
    if (kind == KIND_MWR) {
      store<u8>(res, ST_INTERRUPT, RES_STATUS);
      countInterrupt();
    } else {
      store<u8>(res, ST_BLOCKED, RES_STATUS);
      countBlocked();
    }
    store<u64>(res, addr, RES_PA);
    return false;
  }
  // GSTS.TES=0: DMA remapping is off and requests pass untranslated (spec 10.4.4).
  if (!regs.translationEnabled) {
    store<u32>(res, RSF_PASSTHROUGH, RES_FLAGS);
    success(res, addr, flags, SNOOP_BY_TLP);
    return false;
  }
  // Scalable mode (spec 3.4.3): the context, then (the caller) the translation by PGTT.
  if (regs.ttm == 1 && regs.ecapSmts) return smResolve(req, res, addr, flags, kind);
  if (regs.ttm == 0) translateLegacy(req, res, addr, flags, kind);
  else if (regs.ttm == 3 && regs.ecapAdms) {
    // Abort-DMA mode (TTM=11, ECAP.ADMS): every DMA request is blocked; no fault is recorded.
    store<u8>(res, ST_BLOCKED, RES_STATUS);
    countBlocked();
  } else fault(res, abi.FR_RTA_1, false, 0);
  return false;
}

/** AW (levels - 2) is 1, 2 or 3 and advertised in CAP.SAGAW; other encodings are reserved. */
// @ts-ignore: decorator
@inline function awSupported(aw: u32): bool {
  return aw >= 1 && aw <= 3 && ((regs.capSagaw >> aw) & 1) != 0;
}

/**
 * What the second-stage walk state was last configured from (configureSs): the table root, and
 * AW | SSADE << 3 | walk snooped << 4 | DID << 8 | register epoch << 32 (every register and option
 * configureSs reads is covered by the epoch, arch/vtd/regs.ts vtdSyncRegs). Bits 5-7 are 0 in a
 * real key, so the initial value matches none.
 */
let ssConfRoot: u64 = 0;
let ssConfKey: u64 = 0xffffffffffffffff;

/**
 * Second-stage walk configuration shared by legacy, SS-only and nested translation. `ws` is always
 * ssWs, whose configured fields nothing else writes: when the request's domain configuration is the
 * last one's (the common case: one domain, request after request) the fields already hold it.
 */
function configureSs(ws: WalkState, root: u64, aw: u32, setAD: bool, walkSnooped: bool, did: u32): void {
  const key = <u64>aw | (<u64>setAD << 3) | (<u64>walkSnooped << 4) | (<u64>did << 8) | (<u64>regs.epoch << 32);
  if (root == ssConfRoot && key == ssConfKey) return;
  ssConfRoot = root;
  ssConfKey = key;
  ws.root = root;
  ws.levels = aw + 2;
  ws.inputBits = min(regs.capMgawBits, vtdInputBits(ws.levels));
  ws.leafLevels = 1 | ((regs.capSslps & 3) << 1);
  ws.rsvdAddr = regs.rsvdAddr;
  ws.snpReserved = !regs.ecapSc && (regs.options & OPT_SNP_RSVD_NO_SC) != 0;
  ws.setAD = setAD;
  ws.walkSnooped = walkSnooped;
  ws.s2 = null;
  ws.cacheOwner = ownerTag(did, TAG_NO_PASID);
}

// ---- legacy mode (spec 3.4.2) --------------------------------------------------------------------

/**
 * A cached entry's own checks depend only on its contents and the registers, so their result is
 * kept with it (in the payload) together with the register epoch; a hit re-checks only after the
 * registers changed.
 */
// @ts-ignore: decorator
@inline function checkMemo(code: u8): u64 {
  return (<u64>regs.epoch << 32) | code;
}

/** The legacy root+context entry for `sid` (from the context cache, or read); 0 or a fault code. */
let lc0: u64 = 0;
let lc1: u64 = 0;

/** Caches a context entry (c0, c1, flags) with the result of its own checks. */
function ctxFill(sid: u32, c0: u64, c1: u64, flags: u64, check: u64): void {
  const p = cacheFill(CACHE_CONTEXT_CACHE, sid, 0);
  store<u64>(p, c0, CTX_C0);
  store<u64>(p, c1, CTX_C1);
  store<u64>(p, flags, CTX_FLAGS);
  store<u64>(p, check, CTX_CHECK);
}

function legacyContext(sid: u32): u8 {
  const p = cacheLookup(CACHE_CONTEXT_CACHE, sid, 0);
  if (p != 0) {
    lc0 = load<u64>(p, CTX_C0);
    lc1 = load<u64>(p, CTX_C1);
    const memo = load<u64>(p, CTX_CHECK);
    if (<u32>(memo >>> 32) == regs.epoch) return <u8>memo;
    const code = legacyContextCheck(lc0, lc1);
    store<u64>(p, checkMemo(code), CTX_CHECK);
    return code;
  }
  const bus = (sid >> 8) & 0xff, devfn = sid & 0xff;
  // 1. Root entry, indexed by bus.
  const root = readStruct(regs.rta + <u64>(bus * ROOT_ENTRY_BYTES), C_ROOT_READS);
  if (root == 0) return abi.FR_LRT_1;
  const r0 = load<u64>(root), r1 = load<u64>(root, 8);
  if ((r0 & ROOT_P) == 0) return abi.FR_LRT_2;
  if ((r0 & (ROOT_RSVD_LO | regs.rsvdAddr)) != 0 || (r1 & ROOT_LEGACY_RSVD_HI) != 0) return abi.FR_LRT_3;
  // 2. Context entry, indexed by devfn.
  const ctx = readStruct((r0 & ROOT_CTP_MASK) + <u64>(devfn * CTX_LEGACY_BYTES), C_CONTEXT_READS);
  if (ctx == 0) return abi.FR_LCT_1;
  lc0 = load<u64>(ctx);
  lc1 = load<u64>(ctx, 8);
  const code = legacyContextCheck(lc0, lc1);
  if (code == 0 || regs.capCm) ctxFill(sid, lc0, lc1, 0, checkMemo(code));
  return code;
}

function legacyContextCheck(c0: u64, c1: u64): u8 {
  if ((c0 & CTX_P) == 0) return abi.FR_LCT_2;
  if ((c0 & (CTX_LEGACY_RSVD_LO | regs.rsvdAddr)) != 0 || (c1 & CTX_LEGACY_RSVD_HI) != 0) return abi.FR_LCT_3;
  const tt = <u32>field(c0, 3, CTX_TT_SHIFT);
  if (tt == 3 || (tt == TT_SS_DT && !regs.ecapDt) || (tt == TT_PT && !regs.ecapPt)) return abi.FR_LCT_4;
  if (tt != TT_PT && !awSupported(<u32>field(c1, 2, 0))) return abi.FR_LCT_4;
  return 0;
}

function translateLegacy(req: usize, res: usize, addr: u64, flags: u32, kind: u32): void {
  store<u8>(res, 0x10, RES_KIND);
  if ((flags & RQF_PASID) != 0) return fault(res, abi.FR_RTA_2, false, 0);
  const code = legacyContext(load<u32>(req, REQ_SID));
  const c0 = lc0, c1 = lc1;
  const fpd = (c0 & CTX_FPD) != 0;
  if (code == abi.FR_LCT_2 || code == abi.FR_LCT_3 || code == abi.FR_LCT_4) {
    if (code == abi.FR_LCT_4) {
      store<u32>(res, <u32>field(c1, 23, 8), RES_DOMAIN);
      store<u8>(res, <u8>(0x10 | <u32>field(c0, 3, CTX_TT_SHIFT)), RES_KIND);
    }
    return fault(res, code, fpd, 0);
  }
  if (code != 0) return fault(res, code, false, 0);
  const tt = <u32>field(c0, 3, CTX_TT_SHIFT);
  const aw = <u32>field(c1, 2, 0);
  const did = <u32>field(c1, 23, 8);
  store<u32>(res, did, RES_DOMAIN);
  store<u8>(res, <u8>(0x10 | tt), RES_KIND);

  // 3. Translation requests and translated requests need TT=01.
  if ((kind == KIND_ATS || (flags & RQF_TRANSLATED) != 0) && tt != TT_SS_DT) return fault(res, abi.FR_LCT_5, fpd, 0);
  if ((flags & RQF_TRANSLATED) != 0 || tt == TT_PT) {
    store<u32>(res, RSF_PASSTHROUGH | RSF_R | RSF_W, RES_FLAGS);
    return success(res, addr, flags, SNOOP_BY_TLP);
  }

  // 4. Second-stage translation with the legacy fault codes.
  const ws = ssWs;
  configureSs(ws, c0 & mask64(63, 12), aw, false, true, did);
  const write = kind == KIND_MWR;
  const f = ssTranslate(ws, did, addr, false, false);
  if (f != W_OK) {
    if (kind == KIND_ATS && f == W_NOT_PRESENT) return atsNoAccess(res, flags);
    let fc: u8;
    // The table SSPTPTR points at cannot be read: invalid context programming (LCT.4).
    if (f == W_ACCESS) fc = ws.faultLevel == ws.levels - 1 ? abi.FR_LCT_4 : abi.FR_LSL_1;
    else if (f == W_RESERVED) fc = abi.FR_LSL_2;
    else if (f == W_INPUT) fc = abi.FR_LGN_1;
    else fc = write ? abi.FR_LGN_2 : abi.FR_LGN_3; // not present: R=W=0
    return fault(res, fc, fpd, trFromIotlb ? tr.trNegativeLevel() : ws.faultLevel + 1);
  }
  if (!trFromIotlb) trFill(did, TAG_NO_PASID, addr);
  recordLeaf(res, trLeafPa, trLeafPte, trPageLg2);
  const r = (trFlags & ITF_SS_R) != 0, w = (trFlags & ITF_SS_W) != 0;
  const by = snoopLegacy(tt, (trFlags & ITF_SNP) != 0);
  if (kind == KIND_ATS) return atsComplete(res, flags, trPa, r, w, false, true, false, by);
  if (write && !w) return fault(res, abi.FR_LGN_2, fpd, trLeafLevel());
  if (!write && !r) return fault(res, abi.FR_LGN_3, fpd, trLeafLevel());
  if (inInterruptRange(trPa)) return fault(res, abi.FR_LGN_4, fpd, 0);
  setPermFlags(res, r, w, false, true);
  success(res, trPa, flags, by);
}

// ---- scalable mode (spec 3.4.3) ------------------------------------------------------------------

/** The scalable-mode context entry for `sid` (cached or read): qwords 0-1 and whether 2-3 were 0. */
let sc0: u64 = 0;
let sc1: u64 = 0;
let scRsvdHigh: bool = false;

/** Fault code of the context entry's own checks (P, reserved, programming), 0 if none. */
function smContextCheck(c0: u64, c1: u64, rsvdHigh: bool): u8 {
  if ((c0 & CTX_P) == 0) return abi.FR_SCT_2;
  let rsvd1 = CTX_SM_RSVD_Q1;
  if (!regs.ecapRps) rsvd1 |= CTX_SM_RID_PASID_MASK;
  if (!regs.ecapRprivs) rsvd1 |= CTX_SM_RID_PRIV;
  if ((c0 & (CTX_SM_RSVD_Q0 | regs.rsvdAddr)) != 0 || (c1 & rsvd1) != 0 || rsvdHigh) return abi.FR_SCT_3;
  if (((c0 & CTX_DTE) != 0 && !regs.ecapDt) || ((c0 & CTX_PASIDE) != 0 && !regs.ecapPasid) || ((c0 & CTX_PRE) != 0 && !regs.ecapPrs))
    return abi.FR_SCT_4;
  return 0;
}

function smContext(sid: u32): u8 {
  const p = cacheLookup(CACHE_CONTEXT_CACHE, sid, 0);
  if (p != 0) {
    sc0 = load<u64>(p, CTX_C0);
    sc1 = load<u64>(p, CTX_C1);
    scRsvdHigh = (load<u64>(p, CTX_FLAGS) & CTXF_RSVD_HIGH) != 0;
    const memo = load<u64>(p, CTX_CHECK);
    if (<u32>(memo >>> 32) == regs.epoch) return <u8>memo;
    const code = smContextCheck(sc0, sc1, scRsvdHigh);
    store<u64>(p, checkMemo(code), CTX_CHECK);
    return code;
  }
  const bus = (sid >> 8) & 0xff, devfn = sid & 0xff;
  // 1. Scalable-mode root entry: devfn[7] selects the lower or upper context-table pointer.
  const root = readStruct(regs.rta + <u64>(bus * ROOT_ENTRY_BYTES), C_ROOT_READS);
  if (root == 0) return abi.FR_SRT_1;
  const rq = load<u64>(root + (devfn >= 0x80 ? 8 : 0));
  if ((rq & ROOT_P) == 0) return abi.FR_SRT_2;
  if ((rq & (ROOT_RSVD_LO | regs.rsvdAddr)) != 0) return abi.FR_SRT_3;
  // 2. Scalable-mode context entry, indexed by devfn[6:0].
  const ctx = readStruct((rq & ROOT_CTP_MASK) + <u64>((devfn & 0x7f) * CTX_SM_BYTES), C_CONTEXT_READS);
  if (ctx == 0) return abi.FR_SCT_1;
  sc0 = load<u64>(ctx);
  sc1 = load<u64>(ctx, 8);
  scRsvdHigh = (load<u64>(ctx, 16) | load<u64>(ctx, 24)) != 0;
  const code = smContextCheck(sc0, sc1, scRsvdHigh);
  if (code == 0 || regs.capCm) ctxFill(sid, sc0, sc1, scRsvdHigh ? CTXF_RSVD_HIGH : 0, checkMemo(code));
  return code;
}

/** The PASID-table entry (cached or read): qwords 0-2, the directory FPD, whether 3-7 were 0. */
let pq0: u64 = 0;
let pq1: u64 = 0;
let pq2: u64 = 0;
let pDirFpd: bool = false;
let pRsvdHigh: bool = false;

/** Fault code of the PASID entry's own checks (P, reserved, programming), 0 if none. */
function pasidEntryCheck(p0: u64, p1: u64, p2: u64, rsvdHigh: bool): u8 {
  if ((p0 & PE_P) == 0) return abi.FR_SPT_2;
  let rsvd1 = PE_RSVD_Q1;
  if (!regs.ecapSc && regs.pgsnpNoSc == PGSNP_NO_SC_RESERVED) rsvd1 |= PE_PGSNP;
  if ((p0 & (PE_RSVD_Q0 | regs.rsvdAddr)) != 0 || (p1 & rsvd1) != 0 || (p2 & (PE_RSVD_Q2 | regs.rsvdAddr)) != 0 || rsvdHigh)
    return abi.FR_SPT_3;
  const pgtt = <u32>field(p0, 8, 6);
  const fspm = <u32>field(p2, 3, 2);
  const usesSs = pgtt == PGTT_SS || pgtt == PGTT_NESTED;
  const usesFs = pgtt == PGTT_FS || pgtt == PGTT_NESTED;
  if (
    pgtt == 0 || pgtt > PGTT_PT ||
    (pgtt == PGTT_FS && !regs.ecapFsts) || (pgtt == PGTT_SS && !regs.ecapSsts) ||
    (pgtt == PGTT_NESTED && !(regs.ecapNest && regs.ecapFsts && regs.ecapSsts)) || (pgtt == PGTT_PT && !regs.ecapPt) ||
    (usesSs && !awSupported(<u32>field(p0, 4, 2))) ||
    (usesFs && (fspm > 1 || (fspm == 1 && !regs.capFs5lp))) ||
    ((p0 & PE_SSADE) != 0 && !regs.ecapSsads)
  ) return abi.FR_SPT_4;
  return 0;
}

/**
 * Finds the PASID-table entry for (sid, pasid) through the PASID directory at `dirBase`; returns 0
 * or a fault code. The directory-entry faults are reported with `ctxFpd` or the entry's own FPD.
 */
function smPasidEntry(sid: u32, pasid: u32, dirBase: u64): u8 {
  const key = <u64>sid | (<u64>pasid << 32);
  const p = cacheLookup(CACHE_PASID_CACHE, key, 0);
  if (p != 0) {
    pq0 = load<u64>(p, PC_P0);
    pq1 = load<u64>(p, PC_P1);
    pq2 = load<u64>(p, PC_P2);
    const f = load<u64>(p, PC_FLAGS);
    pDirFpd = (f & PCF_DIR_FPD) != 0;
    pRsvdHigh = (f & PCF_RSVD_HIGH) != 0;
    const memo = load<u64>(p, PASID_CHECK);
    if (<u32>(memo >>> 32) == regs.epoch) return <u8>memo;
    const code = pasidEntryCheck(pq0, pq1, pq2, pRsvdHigh);
    store<u64>(p, checkMemo(code), PASID_CHECK);
    return code;
  }
  // 4. PASID-directory entry, indexed by PASID[19:6].
  const pde = readStruct(dirBase + <u64>((pasid >> 6) * PASID_DIR_ENTRY_BYTES), C_PASID_DIR_READS);
  if (pde == 0) return abi.FR_SPD_1;
  const d = load<u64>(pde);
  pDirFpd = (d & PDE_FPD) != 0;
  if ((d & PDE_P) == 0) return abi.FR_SPD_2;
  if ((d & (PDE_RSVD | regs.rsvdAddr)) != 0) return abi.FR_SPD_3;
  // 5. PASID-table entry, indexed by PASID[5:0].
  const pe = readStruct((d & mask64(63, 12)) + <u64>((pasid & 0x3f) * PASID_ENTRY_BYTES), C_PASID_TABLE_READS);
  if (pe == 0) return abi.FR_SPT_1;
  pq0 = load<u64>(pe);
  pq1 = load<u64>(pe, 8);
  pq2 = load<u64>(pe, 16);
  let upper: u64 = 0;
  for (let q: usize = 24; q < 64; q += 8) upper |= load<u64>(pe + q);
  pRsvdHigh = upper != 0;
  const code = pasidEntryCheck(pq0, pq1, pq2, pRsvdHigh);
  if (code == 0 || regs.capCm) {
    const c = cacheFill(CACHE_PASID_CACHE, key, 0);
    store<u64>(c, pq0, PC_P0);
    store<u64>(c, pq1, PC_P1);
    store<u64>(c, pq2, PC_P2);
    store<u64>(c, (pDirFpd ? PCF_DIR_FPD : 0) | (pRsvdHigh ? PCF_RSVD_HIGH : 0), PC_FLAGS);
    store<u64>(c, checkMemo(code), PASID_CHECK);
  }
  return code;
}

/**
 * What the context and PASID entries decided for a request (steps 1-5 of scalable-mode translation, smResolve): the
 * PASID used, the PASID entry's PGTT and DID, the fault-processing disable in force, the effective
 * privilege and execute requests, and the PASID entry itself. A simulator may keep it per
 * (requester, PASID, PRIV, EXE) and hand it back to vtdTranslate while the cached entries it came
 * from are unchanged (engine/device-context.ts); nothing here depends on the address.
 */
@final
export class SmContext {
  pasid: u32 = 0;
  pgtt: u32 = 0;
  did: u32 = 0;
  fpd: bool = false;
  priv: bool = false;
  exe: bool = false;
  p0: u64 = 0;
  p1: u64 = 0;
  p2: u64 = 0;
}

/** The resolved context of the current request (smResolve fills it, or the engine restores it). */
export let smCtx: SmContext = changetype<SmContext>(0);

/** Ends the request with a fault (result.ts fault) and says that nothing follows. */
// @ts-ignore: decorator
@inline function failed(res: usize, code: u8, fpd: bool, level: u32): bool {
  fault(res, code, fpd, level);
  return false;
}

/**
 * Steps 1-5: the root, context, PASID-directory and PASID-table entries of the request. Returns
 * true with smCtx filled when translation by PGTT follows; otherwise the request has ended (a fault,
 * or a translated request passed through).
 */
function smResolve(req: usize, res: usize, addr: u64, flags: u32, kind: u32): bool {
  const sid = load<u32>(req, REQ_SID);
  const hasPasid = (flags & RQF_PASID) != 0;
  const translated = (flags & RQF_TRANSLATED) != 0;

  // 1-2. Root and context entries.
  const ccode = smContext(sid);
  const c0 = sc0, c1 = sc1;
  let fpd = (c0 & CTX_FPD) != 0;
  if (ccode == abi.FR_SCT_2 || ccode == abi.FR_SCT_4) return failed(res, ccode, fpd, 0);
  if (ccode != 0) return failed(res, ccode, false, 0);
  const dte = (c0 & CTX_DTE) != 0;
  if ((kind == KIND_ATS || translated) && !dte) return failed(res, abi.FR_SCT_5, fpd, 0);
  if (hasPasid && (c0 & CTX_PASIDE) == 0) return failed(res, abi.FR_SCT_6, fpd, 0);

  // 3. The PASID: the request's, or RID_PASID (ECAP.RPS) / 0 for requests without one.
  let pasid: u32 = 0;
  let priv = (flags & RQF_PRIV) != 0 && regs.ecapSrs;
  const exe = (flags & RQF_EXE) != 0 && regs.ecapErs;
  if (hasPasid) pasid = load<u32>(req, REQ_PASID) & 0xfffff;
  else {
    if (regs.ecapRps) pasid = <u32>(c1 & CTX_SM_RID_PASID_MASK);
    priv = regs.ecapRprivs && (c1 & CTX_SM_RID_PRIV) != 0;
  }
  store<u32>(res, pasid, RES_ADDR_SPACE);
  const pdts = <u32>field(c0, 11, 9);
  if ((pasid >> 6) >= (<u32>1 << (pdts + 7))) return failed(res, abi.FR_SCT_7, fpd, 0);
  if (translated) {
    // Translated request (AT=10b) with DTE=1: the address is already a host physical address.
    store<u32>(res, RSF_PASSTHROUGH | RSF_R | RSF_W, RES_FLAGS);
    success(res, addr, flags, SNOOP_BY_TLP);
    return false;
  }

  // 4-5. PASID-directory and PASID-table entries.
  const pcode = smPasidEntry(sid, pasid, c0 & mask64(63, 12));
  if (pcode == abi.FR_SPD_1 || pcode == abi.FR_SPT_1) return failed(res, pcode, false, 0);
  if (pcode == abi.FR_SPD_3) return failed(res, pcode, fpd, 0);
  if (pcode == abi.FR_SPD_2) return failed(res, pcode, fpd || pDirFpd, 0);
  fpd = fpd || pDirFpd;
  const p0 = pq0, p1 = pq1, p2 = pq2;
  if (pcode == abi.FR_SPT_2) return failed(res, pcode, fpd || (p0 & PE_FPD) != 0, 0);
  if (pcode == abi.FR_SPT_3) return failed(res, pcode, fpd, 0);
  fpd = fpd || (p0 & PE_FPD) != 0;
  const pgtt = <u32>field(p0, 8, 6);
  const did = <u32>(p1 & 0xffff);
  if (pcode != 0 || (priv && (p2 & PE_SRE) == 0) || (exe && (p2 & PE_ERE) == 0)) {
    store<u8>(res, <u8>pgtt, RES_KIND);
    store<u32>(res, did, RES_DOMAIN);
    if (pcode != 0) return failed(res, pcode, fpd, 0);
    if (priv && (p2 & PE_SRE) == 0) return failed(res, abi.FR_SPT_6, fpd, 0);
    return failed(res, abi.FR_SPT_5, fpd, 0);
  }
  const c = smCtx;
  c.pasid = pasid;
  c.pgtt = pgtt;
  c.did = did;
  c.fpd = fpd;
  c.priv = priv;
  c.exe = exe;
  c.p0 = p0;
  c.p1 = p1;
  c.p2 = p2;
  return true;
}

/** Step 6: the translation by PGTT of a request whose context is in smCtx (smResolve, or the engine). */
function smTranslate(res: usize, addr: u64, flags: u32, kind: u32): void {
  const c = smCtx;
  const pgtt = c.pgtt, did = c.did, fpd = c.fpd, priv = c.priv, exe = c.exe;
  const p0 = c.p0, p1 = c.p1, p2 = c.p2;
  store<u32>(res, c.pasid, RES_ADDR_SPACE);
  store<u8>(res, <u8>pgtt, RES_KIND);
  store<u32>(res, did, RES_DOMAIN);
  if (priv) store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_PRIV, RES_FLAGS);
  const pgsnp = (p1 & PE_PGSNP) != 0;
  // Paging-structure accesses snoop when PWSNP=1 and the hardware honours it (ECAP.SMPWCS).
  const walkSnooped = regs.ecapSmpwcs && (p1 & PE_PWSNP) != 0;
  const aw = <u32>field(p0, 4, 2);
  const ssade = (p0 & PE_SSADE) != 0;
  if (pgtt == PGTT_PT) {
    store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_PASSTHROUGH | RSF_R | RSF_W | RSF_X | RSF_U, RES_FLAGS);
    if (kind != KIND_ATS && inInterruptRange(addr)) return fault(res, abi.FR_SGN_8, fpd, 0);
    return success(res, addr, flags, snoopScalable(pgtt, pgsnp, false));
  }
  const ss = ssWs;
  configureSs(ss, p0 & mask64(63, 12), aw, ssade, walkSnooped, did);
  if (pgtt == PGTT_SS) return secondStageOnly(res, addr, flags, kind, exe, fpd, did, ssade, pgsnp);
  return firstStage(res, addr, flags, kind, priv, exe, fpd, p2, did, c.pasid, ssade, walkSnooped, pgsnp, pgtt == PGTT_NESTED);
}

/** The last vtdTranslate resolved a scalable-mode context into smCtx (and translated by PGTT). */
export let smResolved: bool = false;

/**
 * May a request with these flags and this address be translated with a context kept from an
 * earlier request of the same requester, PASID, PRIV and EXE (vtdTranslate's `resolved`)? Yes when
 * translation is on in scalable mode and the request is neither an interrupt request nor an ATS
 * or translated request (whose context checks differ).
 */
export function smContextReusable(addr: u64, flags: u32): bool {
  const kind = flags & RQF_KIND_MASK;
  if (!regs.translationEnabled || regs.ttm != 1 || !regs.ecapSmts) return false;
  if (kind == KIND_ATS || (flags & RQF_TRANSLATED) != 0) return false;
  return (flags & RQF_PASID) != 0 || !inInterruptRange(addr);
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

function secondStageOnly(res: usize, addr: u64, flags: u32, kind: u32, exe: bool, fpd: bool, did: u32, ssade: bool, pgsnp: bool): void {
  const ws = ssWs;
  const ats = kind == KIND_ATS;
  const write = kind == KIND_MWR;
  const needDirty = write || (ats && (flags & RQF_NW) == 0);
  const f = ssTranslate(ws, did, addr, needDirty, ssade);
  if (f != W_OK) {
    if (ats && f == W_NOT_PRESENT) return atsNoAccess(res, flags);
    return fault(res, ssFaultCode(ws, f, true), fpd, trFromIotlb ? tr.trNegativeLevel() : ws.faultLevel + 1);
  }
  if (!trFromIotlb) trFill(did, TAG_NO_PASID, addr);
  recordLeaf(res, trLeafPa, trLeafPte, trPageLg2);
  store<u64>(res, trS2LeafPa, RES_S2_LEAF_PA);
  const r = (trFlags & ITF_SS_R) != 0, w = (trFlags & ITF_SS_W) != 0;
  const by = snoopScalable(PGTT_SS, pgsnp, (trFlags & ITF_SNP) != 0);
  // An execute request needs read permission here (the SS X bit is not modelled; see README).
  if (!ats) {
    if (write && !w) return fault(res, abi.FR_SGN_6, fpd, trLeafLevel());
    if (!write && !r) return fault(res, abi.FR_SGN_7, fpd, trLeafLevel());
    if (inInterruptRange(trPa)) return fault(res, abi.FR_SGN_8, fpd, 0);
  }
  // Dirty: a granted DMA write, or an ATS completion that grants write (NW=0).
  if (ssade && w && needDirty && (trFlags & ITF_DIRTY) == 0) {
    const d = walkSetDirty(ws);
    if (d != W_OK) return fault(res, ssFaultCode(ws, d, true), fpd, ws.leafLevel + 1);
    tr.setLeafPte(walkLeafPte(ws), ITF_DIRTY);
    trFill(did, TAG_NO_PASID, addr);
    store<u64>(res, trLeafPte, RES_LEAF_PTE);
  }
  if (ats) return atsComplete(res, flags, trPa, r, w, r, true, false, by);
  setPermFlags(res, r, w, exe && r, true);
  success(res, trPa, flags, by);
}

function firstStage(
  res: usize, addr: u64, flags: u32, kind: u32, priv: bool, exe: bool, fpd: bool,
  p2: u64, did: u32, pasid: u32, ssade: bool, walkSnooped: bool, pgsnp: bool, nested: bool,
): void {
  const fs = fsWs;
  const ss = ssWs;
  const fspm = <u32>field(p2, 3, 2);
  fs.root = p2 & mask64(63, 12);
  fs.levels = 4 + fspm;
  fs.inputBits = fsInputBits(fs.levels);
  fs.leafLevels = 1 | 2 | (regs.capFs1gp ? 4 : 0);
  fs.rsvdAddr = regs.rsvdAddr;
  fs.nxe = (p2 & PE_NXE) != 0;
  fs.eafe = (p2 & PE_EAFE) != 0;
  fs.setAD = true;
  fs.walkSnooped = walkSnooped;
  fs.s2 = nested ? ss : null;
  fs.cacheOwner = ownerTag(did, pasid);
  const ats = kind == KIND_ATS;
  const write = kind == KIND_MWR;
  const user = !priv;
  const wpe = (p2 & PE_WPE) != 0;
  const smep = (p2 & PE_SMEP) != 0;
  const wantsWrite = write || (ats && (flags & RQF_NW) == 0);
  const top = fs.levels - 1;
  const f = fsTranslate(fs, nested, did, pasid, addr, wantsWrite);
  if (f != W_OK) {
    if (f == W_S2) return fault(res, ssFaultCode(ss, ss.fault, false), fpd, ss.faultLevel + 1);
    if (ats && f == W_NOT_PRESENT) return atsNoAccess(res, flags);
    let code: u8;
    if (f == W_ACCESS) code = fs.faultLevel == top ? abi.FR_SFS_4 : abi.FR_SFS_1;
    else if (f == W_NOT_PRESENT) code = abi.FR_SFS_2;
    else if (f == W_RESERVED) code = abi.FR_SFS_3;
    else if (f == W_INPUT) code = abi.FR_SGN_1;
    else if (f == W_AD_NOSNOOP) code = abi.FR_SFS_9;
    else if (f == W_S2_READ) code = fs.faultLevel == top ? abi.FR_SFS_6 : abi.FR_SFS_7;
    else code = abi.FR_SFS_8; // W_S2_WRITE
    return fault(res, code, fpd, trFromIotlb ? tr.trNegativeLevel() : fs.faultLevel + 1);
  }
  const fromIotlb = trFromIotlb;
  // Effective first-stage rights (x86 semantics, spec 3.6.2): user accesses need U/S=1 at every
  // level; writes need R/W=1 at every level for user requests, and for supervisor ones when WPE=1;
  // execute needs XD=0 at every level (with NXE), and SMEP forbids supervisor execute of user pages.
  const fsU = (trFlags & PERM_U) != 0;
  const canWrite = (trFlags & PERM_W) != 0 || (!user && !wpe);
  const canExec = (trFlags & PERM_X) != 0 && !(!user && smep && fsU);
  recordLeaf(res, trLeafPa, trLeafPte, trPageLg2); // known even if the access faults
  if (!ats) {
    if (user && !fsU) return fault(res, abi.FR_SGN_2, fpd, trLeafLevel());
    if (write && !canWrite) return fault(res, abi.FR_SGN_6, fpd, trLeafLevel());
    if (exe && !canExec) return fault(res, abi.FR_SGN_3, fpd, trLeafLevel());
  }
  if (nested && !fromIotlb) {
    const f2 = nestedFinal(ss, did);
    if (f2 != W_OK) {
      if (ats && f2 == W_NOT_PRESENT) return atsNoAccess(res, flags);
      return fault(res, ssFaultCode(ss, f2, true), fpd, ss.faultLevel + 1);
    }
  }
  if (!fromIotlb) trFill(did, pasid, addr);
  store<u8>(res, <u8>trPageLg2, RES_PAGE_LG2);
  if (nested) store<u64>(res, trS2LeafPa, RES_S2_LEAF_PA);
  const ssR = (trFlags & ITF_SS_R) != 0, ssW = (trFlags & ITF_SS_W) != 0;
  if (!ats) {
    if (write && !ssW) return fault(res, abi.FR_SGN_6, fpd, trLeafLevel());
    if (!write && !ssR) return fault(res, abi.FR_SGN_7, fpd, trLeafLevel());
  }
  const by = snoopScalable(nested ? PGTT_NESTED : PGTT_FS, pgsnp, (trFlags & ITF_SNP) != 0);
  // An ATS completion reports the rights of the privilege the device asked for: none for a user
  // request to a supervisor page (no fault: the device sees R=W=0).
  const allowed = !(user && !fsU);
  const w = allowed && canWrite && ssW;
  if (!ats && inInterruptRange(trPa)) return fault(res, abi.FR_SGN_8, fpd, 0);
  if ((write || (ats && w && (flags & RQF_NW) == 0)) && (trFlags & ITF_DIRTY) == 0) {
    // Dirty flags: the first-stage leaf (under nesting its page needs stage-2 write, SFS.8), then
    // (nested, SSADE) the second-stage leaf of the GPA. Only after a walk: a cached entry without
    // ITF_DIRTY made fsTranslate walk.
    const d = walkSetDirty(fs);
    if (d != W_OK) return fault(res, d == W_AD_NOSNOOP ? abi.FR_SFS_9 : abi.FR_SFS_8, fpd, fs.leafLevel + 1);
    if (nested && ssade) {
      const d2 = walkSetDirty(ss);
      if (d2 != W_OK) return fault(res, ssFaultCode(ss, d2, true), fpd, ss.leafLevel + 1);
    }
    tr.setLeafPte(walkLeafPte(fs), ITF_DIRTY);
    trFill(did, pasid, addr);
    store<u64>(res, trLeafPte, RES_LEAF_PTE);
  }
  if ((trFlags & ITF_GLOBAL) != 0) store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_GLOBAL, RES_FLAGS);
  if (ats) return atsComplete(res, flags, trPa, allowed && ssR, w, allowed && canExec && ssR, fsU, (trFlags & ITF_GLOBAL) != 0, by);
  setPermFlags(res, ssR, w, canExec && ssR, fsU);
  success(res, trPa, flags, by);
}
