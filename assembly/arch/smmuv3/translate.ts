// SMMUv3 translation of one transaction (spec 3 "Operation", 5 "Data structure formats", 7
// "Events"): from the StreamID to the STE, the SubstreamID to the CD, then stage 1, stage 2 or
// both (nested) over VMSAv8-64 tables (arch/pagetable/fmt/vmsa.ts), the coherency outcome
// (coherency.ts), and for a fault its event type, stage and CLASS, recorded in the event queue when
// its recording is enabled (events.ts).
//
// Result record (abi Res): DOMAIN = S2VMID (0 without an STE or for bypass), ADDR_SPACE = the
// SubstreamID when the transaction carries one (else 0xffffffff), KIND = STE.Config (GBPA: 0b100
// when global bypass lets the transaction through, 0 when it aborts), PAGE_LG2 and LEAF_PA/LEAF_PTE
// of the final leaf (the stage-1 leaf under nesting, whose stage-2 leaf is S2_LEAF_PA; the
// stage-2 leaf for stage-2 only, in both), READS every table read (configuration structures and
// descriptors of both stages), FAULT = the event type, FAULT_LEVEL = the normalised level + 1 of a
// walk fault, FAULT_STAGE = the stage and CLASS (abi FaultStage).
//
// Requests: StreamID = REQ_SID (32 bits); a SubstreamID when RQF_PASID (SSV = 1); PnU = RQF_PRIV;
// InD = RQF_EXE (reads only); RnW = not a write. Stage-1 rights (fmt/vmsa.ts): privileged requests
// need permR / permW / permPX, unprivileged ones permU and permR / permW / permX. Stage-2 rights:
// S2AP read or write, and for instruction reads also XN clear. A granted write dirties the leaf
// (HD/S2HD with DBM).
//
// Which faults are recorded: the translation faults (F_TRANSLATION, F_ADDR_SIZE, F_ACCESS,
// F_PERMISSION) of stage 1 when CD.R = 1, of stage 2 when STE.S2R = 1; every other event always.
// `recorded` in the result says a record was written (not when the queue is disabled or full).
// F_WALK_EABT carries the stage and CLASS like a translation fault and the descriptor's address.
//
// A transaction with a SubstreamID where stage 1 is not translating (stage-2 only) is
// C_BAD_SUBSTREAMID; a bypass STE ignores the SubstreamID (a choice: the spec text available does
// not settle it).
//
// F_UUT (spec 7.3.2, Unsupported Upstream Transaction): of the transaction types and attributes a
// request can carry here (read, write, ATS translation request, translated, SubstreamID, PnU, InD),
// the ones a unit can lack support for are the ATS ones: with IDR0.ATS = 0 (and CR0.SMMUEN = 1) an
// ATS translation request or a translated transaction is F_UUT, raised before the STE is looked up
// and always recorded, with StreamID, SSV/SubstreamID, InputAddr, RnW, PnU and InD (the record's
// fields for F_UUT, as QEMU's smmuv3_record_event fills them). SubstreamIDs beyond IDR1.SSIDSIZE stay
// C_BAD_SUBSTREAMID (spec 5.4 S1CDMax), and InD on a write is taken as a data access.
//
// F_TLB_CONFLICT (spec 7.3.17; detection IMPLEMENTATION DEFINED, abi Opt.TLB_CONFLICT, off by
// default): a TLB or micro-TLB hit is checked for a second matching entry (tlbConflict); two
// matches (a page and an overlapping block both cached after a break-before-make violation, or an
// nG = 1 and an nG = 0 entry of the same address) end the transaction with the event, recorded with
// StreamID, SSV/SubstreamID, InputAddr, RnW, PnU, InD. Without the option the first match serves it
// (the smallest page, the ASID's entry before the global one), as before.
//
// ATS (spec 3.9; shared/spec/smmuv3.md 2.3 EATS): a translation request (KIND_ATS) on a unit with
// IDR0.ATS and an STE with EATS = 0 (or an abort or bypass STE) is F_BAD_ATS_TREQ; otherwise it is
// translated as a read and its result (rights R/W/X/U, page size, PA) is the completion the device
// caches (engine/atc.ts). EATS = 1 translates through every stage the STE enables; EATS = 2
// (split-stage, nested STEs only) through stage 1 alone, so the completion holds the IPA, without
// using or filling the TLB (its entries are keyed as full translations). A translated request
// (RQF_TRANSLATED) with CR0.ATSCHK = 0 is passed untranslated without reading the STE; with
// ATSCHK = 1 the STE is read and the request is F_TRANSL_FORBIDDEN unless it enables ATS (EATS != 0),
// passed untranslated with EATS = 1 and translated by stage 2 (the STE's, as a stage-2-only
// transaction) with EATS = 2. pcie_ats_trans_passed counts the translated requests let through.
import { resultBegin } from "../../common/result-record";
import { mask64 } from "../../common/bits";
import { DEBUG } from "../../common/debug";
import { bump, bumpBy } from "../../common/counters";
import {
  REQ_ADDR, REQ_SID, REQ_PASID, REQ_FLAGS, RQF_KIND_MASK, RQF_PASID, RQF_PRIV, RQF_EXE, RQF_NS, RQF_TRANSLATED, KIND_MWR, KIND_ATS,
  RES_PA, RES_LEAF_PA, RES_LEAF_PTE, RES_S2_LEAF_PA, RES_STATUS, RES_FAULT, RES_PAGE_LG2, RES_READS, RES_FLAGS, RES_DOMAIN,
  RES_ADDR_SPACE, RES_KIND, RES_FAULT_LEVEL, RES_SNOOP_BY, RES_FAULT_STAGE, ST_OK, ST_FAULT, ST_ABORT, RSF_SNOOP, RSF_RECORDED,
  RSF_PASSTHROUGH, RSF_R, RSF_W, RSF_X, RSF_U, FMT_VMSA_S1, FMT_VMSA_S2, FAULT_COUNTS_BASE, FCLASS_CD, FCLASS_TT, FCLASS_IN,
  FSTAGE_CLASS_SHIFT, SNOOP_SMMU_GBPA, SNOOP_SMMU_STE_OVERRIDE,
  C_REQUESTS, C_TRANSLATED, C_FAULTED, C_FAULTS_RECORDED, C_BLOCKED, C_ATS_REQUESTS, C_TRANSACTION, C_TLB_MISS,
  C_CONFIG_CACHE_MISS, C_STALE_IOTLB_USES, RSF_STALE, CACHE_IOTLB, CACHE_MICRO_TLB, C_TRANS_TABLE_WALK_ACCESS, C_PCIE_ATS_TRANS_RQ, C_PCIE_ATS_TRANS_PASSED, C_BYPASSED,
  EVENT_C_BAD_STE, EVENT_C_BAD_SUBSTREAMID, EVENT_F_STREAM_DISABLED, EVENT_F_CD_FETCH, EVENT_C_BAD_CD, EVENT_F_WALK_EABT,
  EVENT_F_TRANSLATION, EVENT_F_ADDR_SIZE, EVENT_F_ACCESS, EVENT_F_PERMISSION, EVENT_F_BAD_ATS_TREQ, EVENT_F_TRANSL_FORBIDDEN,
  EVENT_F_UUT, EVENT_F_TLB_CONFLICT,
} from "../../abi";
import { WalkState, W_OK, W_ACCESS, W_NOT_PRESENT, W_INPUT, W_S2, W_S2_READ, W_S2_WRITE, W_ACCESS_FLAG, W_ADDR_SIZE } from "../pagetable/walk-state";
import { walk, walkSetDirty, walkLeafPa, walkLeafPte } from "../pagetable/walker";
import { vmsaNext } from "../pagetable/fmt/vmsa";
import { smmuEnabled, gbpa, idr0, cr0, ssidBits, tlbConflictEvent } from "./regs";
import {
  GBPA_ABORT, GBPA_MTCFG, GBPA_MEMATTR, GBPA_SHCFG, STE0_S1CDMAX, STE1_S1DSS, STE1_EATS, STE1_MTCFG, STE1_MEMATTR, STE1_SHCFG,
  STE2_S2R, CD0_R, IDR0_ATS, CR0_ATSCHK, EVT0_TYPE_AT, EVT0_SSV_AT, EVT0_SSID_AT, EVT0_SID_AT, EVT1_PNU_AT, EVT1_IND_AT, EVT1_RNW_AT,
  EVT1_S2_AT, EVT1_CLASS_AT, EVT3_IPA_AT, EVT3_FETCH_ADDR_AT,
} from "./fields";
import { locateSte, stFault, stFetchAddr } from "./stream-table";
import { steLoad, steCheck, vmid, s2fwb, ste0, ste1, ste2, ste3, config, CFG_ACTIVE, CFG_S1, CFG_S2 } from "./ste";
import { l1cdAddress, l1cdValid, cdAddress, cdLoad, cdCheck, cdUpper, cdHalfDisabled, cdMair, cd0, cd1, cd2, cd3 } from "./cd";
import { fetchStruct, reads, readsReset, readsAdd } from "./fetch";
import { steCached, cdCached, configKeep, STE_CACHE, CD_CACHE } from "./config-cache";
import { recordEvent } from "./events";
import { cachedWalk as portWalk, pageLookup, pageMiss, pageFill, pageMatches } from "../ports";
import { leafUnchanged, VMSA_UPDATED_BITS } from "../pagetable/walker";
import { VMSA_AP_RDONLY } from "../pagetable/fmt/vmsa";
import {
  s1Owner, s2Owner, TF_R, TF_W, TF_X, TF_U, TF_PX, TF_DIRTY, TF_NESTED, TF_NO_X2, TLB_PA, TLB_LEAF_PA, TLB_LEAF_PTE,
  TLB_S2_LEAF_PA, TLB_FLAGS, TLB_PAGE_LG2, TLB_LEAF_LG2, TLB_ATTR_INDX, TLB_SH1, TLB_MEM_ATTR, TLB_SH2,
} from "./tlb";
import { emit, EV_WALK, EV_LINK } from "../../common/events";
import { cohBegin, cohOverride, cohStage1, cohStage2, cohSnoops, cohCount, cohBy } from "./coherency";

/** The micro-TLB tag of a transaction that does not use the micro-TLB. */
const NO_MICRO: u64 = <u64>-1;
/** Bytes of a TLB entry (tlb.ts), copied into the micro-TLB. */
const TLB_RECORD_BYTES: usize = 48;
const CONFIG_BYPASS: u8 = 4;
/** STE.EATS = 0b10: split-stage ATS. */
const EATS_SPLIT: u32 = 2;

let s1: WalkState = changetype<WalkState>(0);
let s2: WalkState = changetype<WalkState>(0);

export function smmuInit(): void {
  if (changetype<usize>(s1) != 0) return;
  s1 = new WalkState();
  s1.fmt = FMT_VMSA_S1;
  s1.stage = 0;
  s2 = new WalkState();
  s2.fmt = FMT_VMSA_S2;
  s2.stage = 1;
}

// ---- the transaction being translated -------------------------------------------------------------

let sid: u32 = 0;
let ssv: bool = false;
let ssid: u32 = 0;
let flags: u32 = 0;
let addr: u64 = 0;
let write: bool = false;
/**
 * The micro-TLB tag (StreamID << 21 | SubstreamID, 2^20 without one), or NO_MICRO: translated
 * requests (their address is an IPA under split-stage ATS) and split-stage ATS requests skip it.
 */
let microTag: u64 = 0;

// ---- a fault: what the event record and the result carry ------------------------------------------

let fStage: u32 = 0; // 0, 1 or 2
let fClass: u32 = 0;
let fIpa: u64 = 0;
let fFetch: u64 = 0;
let fLevel: u32 = 0;

/** Notes a fault's stage, CLASS, IPA (stage 2) or fetch address, and walk level. */
// @ts-ignore: decorator
@inline function note(stage: u32, cls: u32, ipa: u64, fetch: u64, level: u32): void {
  fStage = stage;
  fClass = cls;
  fIpa = ipa;
  fFetch = fetch;
  fLevel = level;
}

// @ts-ignore: decorator
@inline function isTranslationFault(code: u8): bool {
  return code >= EVENT_F_TRANSLATION && code <= EVENT_F_PERMISSION;
}

/** Ends the transaction with event `code` (note() gave its details); `record`: its recording is enabled. */
function fault(res: usize, code: u8, record: bool): void {
  store<u8>(res, ST_FAULT, RES_STATUS);
  store<u8>(res, code, RES_FAULT);
  store<u8>(res, <u8>(fLevel), RES_FAULT_LEVEL);
  store<u8>(res, <u8>(fStage | (fStage == 2 ? fClass << FSTAGE_CLASS_SHIFT : 0)), RES_FAULT_STAGE);
  store<u8>(res, <u8>min(reads, 255), RES_READS);
  bump(C_FAULTED);
  const at = FAULT_COUNTS_BASE + (<u32>code << 3);
  store<u64>(at, load<u64>(at) + 1);
  if (!record) return;
  const d0 = EVT0_TYPE_AT(code) | EVT0_SSV_AT(ssv ? 1 : 0) | EVT0_SSID_AT(ssv ? ssid : 0) | EVT0_SID_AT(sid);
  let d1: u64 = 0, d2: u64 = 0, d3: u64 = 0;
  const walkFault = isTranslationFault(code) || code == EVENT_F_WALK_EABT;
  if (walkFault || code == EVENT_F_BAD_ATS_TREQ || code == EVENT_F_TRANSL_FORBIDDEN || code == EVENT_F_UUT || code == EVENT_F_TLB_CONFLICT) {
    d1 = EVT1_PNU_AT((flags & RQF_PRIV) != 0 ? 1 : 0) | EVT1_IND_AT((flags & RQF_EXE) != 0 && !write ? 1 : 0) | EVT1_RNW_AT(write ? 0 : 1);
    d2 = addr;
  }
  if (walkFault) {
    // stage-1 faults are on the input address: CLASS IN
    d1 |= EVT1_S2_AT(fStage == 2 ? 1 : 0) | EVT1_CLASS_AT(fStage == 2 ? fClass : FCLASS_IN);
    if (fStage == 2 && code != EVENT_F_WALK_EABT) d3 = EVT3_IPA_AT(fIpa >>> 12);
  }
  if (fFetch != 0 || code == EVENT_F_WALK_EABT) d3 = EVT3_FETCH_ADDR_AT(fFetch >>> 3);
  if (recordEvent(d0, d1, d2, d3)) {
    store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_RECORDED, RES_FLAGS);
    bump(C_FAULTS_RECORDED);
  }
}

/** Some configuration structure of the current transaction was not in the configuration cache. */
export let configMissed: bool = false;

/** A transaction terminated without an event. */
function abort(res: usize): void {
  store<u8>(res, ST_ABORT, RES_STATUS);
  store<u8>(res, <u8>min(reads, 255), RES_READS);
  bump(C_BLOCKED);
}

/** Ends the transaction successfully at `pa` with the coherency outcome decided so far. */
function success(res: usize, pa: u64): void {
  const ns = (flags & RQF_NS) != 0;
  const snoop = cohSnoops();
  if (snoop) store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_SNOOP, RES_FLAGS);
  store<u8>(res, cohBy, RES_SNOOP_BY);
  store<u64>(res, pa, RES_PA);
  store<u8>(res, ST_OK, RES_STATUS);
  store<u8>(res, <u8>min(reads, 255), RES_READS);
  bump(C_TRANSLATED);
  if ((flags & RQF_KIND_MASK) != KIND_ATS) cohCount(ns, snoop);
}

/** Passes the transaction untranslated (bypass); `by` names the attribute overrides' source. */
function bypass(res: usize, mtcfg: bool, memAttr: u32, shcfg: u32, by: u8): void {
  cohOverride(mtcfg, memAttr, shcfg, by);
  store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_PASSTHROUGH, RES_FLAGS);
  bump(C_BYPASSED);
  success(res, addr);
}

/** A walk through the walk caches (the engine's cached-walk port; a plain walk until it is installed). */
function cachedWalk(ws: WalkState): u32 {
  ws.resumeLevel = -1;
  const viaCaches = portWalk;
  return viaCaches === null ? walk(ws) : viaCaches(ws);
}

// ---- walk outcomes to events ------------------------------------------------------------------------

function walkEvent(w: u32): u8 {
  if (w == W_ADDR_SIZE) return EVENT_F_ADDR_SIZE;
  if (w == W_ACCESS_FLAG) return EVENT_F_ACCESS;
  if (w == W_ACCESS) return EVENT_F_WALK_EABT;
  if (w == W_S2_READ || w == W_S2_WRITE) return EVENT_F_PERMISSION;
  if (DEBUG) assert(w == W_NOT_PRESENT || w == W_INPUT);
  return EVENT_F_TRANSLATION;
}

/** The physical address of the descriptor a walk could not read (W_ACCESS): the FetchAddr. */
function unreadDescriptor(ws: WalkState): u64 {
  if (ws.s2 !== null) return (<WalkState>ws.s2).oa; // nested: where stage 2 put the table entry
  const level = ws.faultLevel;
  const top = level == ws.levels - 1;
  const bits = top ? ws.topIndexBits : ws.levelBits;
  const table = top ? ws.root : vmsaNext(ws, unchecked(ws.entry[level + 1]));
  return table + (((ws.va >>> (ws.granuleLg2 + ws.levelBits * level)) & ((<u64>1 << bits) - 1)) << 3);
}

/**
 * Notes the fault of a failed stage-2 walk of `ipa` done for CLASS `cls`, and returns its event.
 */
function s2Fault(w: u32, ipa: u64, cls: u32): u8 {
  note(2, cls, ipa, w == W_ACCESS ? unreadDescriptor(s2) : 0, s2.faultLevel + 1);
  return walkEvent(w);
}

/** Translates `ipa` through stage 2 for reading a structure of CLASS `cls` (CD or TT); 0 on success. */
function s2Fetch(ipa: u64, cls: u32): u8 {
  emit(EV_WALK, 0, 0);
  s2.va = ipa;
  s2.dryRun = false;
  const w = cachedWalk(s2);
  bumpBy(C_TRANS_TABLE_WALK_ACCESS, s2.reads);
  readsAdd(s2.reads);
  if (w != W_OK) return s2Fault(w, ipa, cls);
  if (!s2.permR) return s2Fault(W_S2_READ, ipa, cls);
  return 0;
}

/**
 * Reads an L1CD or CD at `at` (an IPA when `st2`: translated by stage 2, its faults with CLASS CD).
 * Returns it in linear memory, or 0 once the transaction has ended with the fault.
 */
function fetchCdStruct(res: usize, at: u64, st2: bool): usize {
  if (st2) {
    const e = s2Fetch(at, FCLASS_CD);
    if (e != 0) {
      fault(res, e, !isTranslationFault(e) || STE2_S2R(ste2));
      return 0;
    }
    at = s2.oa;
  }
  const q = fetchStruct(at);
  if (q == 0) {
    note(0, 0, 0, at, 0);
    fault(res, EVENT_F_CD_FETCH, true);
  }
  return q;
}

// ---- the entry point ----------------------------------------------------------------------------------

/**
 * Translates request record `req` into result record `res`; counts a configuration-cache miss
 * (PMCG config_cache_miss) once for a transaction whose STE or CD was not cached.
 */
export function smmuTranslate(req: usize, res: usize): void {
  translateWith(req, res, false, false);
}

// ---- the stream context (engine/smmu-context.ts keeps it) -------------------------------------------
//
// The STE and CD in ste.ts / cd.ts (ste0..3, cd0..3 and what was derived from them) and the walk
// states `s1` and `s2` as steCheck() and cdCheck() configured them are the transaction's stream
// context. When it came from configuration-cache hits, the engine may keep it for the next
// transaction of the same (StreamID, SubstreamID, VA half) and let smmuTranslateKept() use it as it
// is, after replaying the two hits itself: valid while ctxLoads is unchanged (no transaction loaded
// another STE or CD since), the two cache slots are unchanged and the registers too.

/** Bumped by every STE or CD load (the stream context in ste.ts, cd.ts, s1 and s2 changed). */
export let ctxLoads: u32 = 0;
/** The last transaction's STE came from an STE-cache hit and passed its checks. */
export let steKeepable: bool = false;
/** The last transaction looked its CD up; it came from a CD-cache hit and passed its checks. */
export let cdLooked: bool = false;
export let cdKeepable: bool = false;
/** This transaction uses the loaded stream context (smmuTranslateKept). */
let kept: bool = false;
/** ... and the loaded CD with it. */
let keptCd: bool = false;

/**
 * smmuTranslate() of `req` with the stream context loaded by an earlier transaction of the same
 * StreamID, SubstreamID and VA half (see above), its STE-cache hit (and CD-cache hit when `withCd`)
 * replayed by the caller: neither is looked up, loaded or checked again.
 */
export function smmuTranslateKept(req: usize, res: usize, withCd: bool): void {
  translateWith(req, res, true, withCd);
}

// @ts-ignore: decorator
@inline function translateWith(req: usize, res: usize, useKept: bool, useKeptCd: bool): void {
  configMissed = false;
  kept = useKept;
  keptCd = useKeptCd;
  steKeepable = false;
  cdLooked = false;
  cdKeepable = false;
  translate(req, res);
  if (configMissed) bump(C_CONFIG_CACHE_MISS);
}

function translate(req: usize, res: usize): void {
  resultBegin(res);
  readsReset();
  note(0, 0, 0, 0, 0);
  addr = load<u64>(req, REQ_ADDR);
  flags = <u32>load<u16>(req, REQ_FLAGS);
  sid = load<u32>(req, REQ_SID);
  ssv = (flags & RQF_PASID) != 0;
  ssid = ssv ? load<u32>(req, REQ_PASID) : 0;
  const kind = flags & RQF_KIND_MASK;
  write = kind == KIND_MWR;
  microTag = (flags & RQF_TRANSLATED) != 0 ? NO_MICRO : (<u64>sid << 21) | (ssv ? <u64>ssid : <u64>1 << 20);
  bump(C_REQUESTS);
  bump(C_TRANSACTION);
  if (kind == KIND_ATS) {
    bump(C_ATS_REQUESTS);
    bump(C_PCIE_ATS_TRANS_RQ);
  }
  if (ssv) store<u32>(res, ssid, RES_ADDR_SPACE);
  cohBegin((flags & RQF_NS) != 0);

  // CR0.SMMUEN = 0: GBPA decides (spec 6.3.14).
  if (!smmuEnabled) {
    if (GBPA_ABORT(gbpa)) return abort(res);
    store<u8>(res, CONFIG_BYPASS, RES_KIND);
    return bypass(res, GBPA_MTCFG(gbpa), GBPA_MEMATTR(gbpa), GBPA_SHCFG(gbpa), SNOOP_SMMU_GBPA);
  }
  // A unit without ATS supports neither ATS translation requests nor translated transactions: F_UUT
  // before any configuration lookup (see the header).
  if (!IDR0_ATS(idr0) && (kind == KIND_ATS || (flags & RQF_TRANSLATED) != 0)) return fault(res, EVENT_F_UUT, true);
  // CR0.ATSCHK = 0: translated requests pass without an STE lookup.
  if ((flags & RQF_TRANSLATED) != 0 && !CR0_ATSCHK(cr0)) return passTranslated(res);
  // The STE: kept, from the configuration cache, or read (and kept once it passes its checks).
  let cfg: u32;
  if (kept) {
    cfg = config;
    store<u8>(res, <u8>cfg, RES_KIND);
  } else {
    let p = steCached(sid);
    const steHit = p != 0;
    configMissed = !steHit;
    if (!steHit) {
      p = locateSte(sid);
      if (p == 0) {
        note(0, 0, 0, stFetchAddr, 0);
        return fault(res, stFault, true);
      }
    }
    ctxLoads++;
    cfg = steLoad(p);
    store<u8>(res, <u8>cfg, RES_KIND);
    const steOk = steCheck(s2);
    if (!steHit && steOk) configKeep(STE_CACHE, sid, 0, ste0, ste1, ste2, ste3);
    if (!steOk) return fault(res, EVENT_C_BAD_STE, true);
    steKeepable = steHit;
  }
  if ((cfg & CFG_ACTIVE) == 0) return abort(res);
  if ((cfg & (CFG_S1 | CFG_S2)) != 0) store<u32>(res, vmid, RES_DOMAIN);
  const eats = (cfg & (CFG_S1 | CFG_S2)) != 0 ? STE1_EATS(ste1) : 0;
  if (kind == KIND_ATS && eats == 0) return fault(res, EVENT_F_BAD_ATS_TREQ, true);
  if ((flags & RQF_TRANSLATED) != 0) {
    if (eats == 0) return fault(res, EVENT_F_TRANSL_FORBIDDEN, true);
    if (eats == EATS_SPLIT) {
      // split-stage: the device holds an IPA; stage 2 translates the translated request
      bump(C_PCIE_ATS_TRANS_PASSED);
      cohOverride(STE1_MTCFG(ste1), STE1_MEMATTR(ste1), STE1_SHCFG(ste1), SNOOP_SMMU_STE_OVERRIDE);
      return stage2Only(res, addr);
    }
    return passTranslated(res);
  }
  if (cfg == CFG_ACTIVE) return bypass(res, STE1_MTCFG(ste1), STE1_MEMATTR(ste1), STE1_SHCFG(ste1), SNOOP_SMMU_STE_OVERRIDE);
  // An EATS = 2 ATS request: stage 1 only (see the header).
  const splitAts = kind == KIND_ATS && eats == EATS_SPLIT;
  const st2 = (cfg & CFG_S2) != 0 && !splitAts;
  const nestedTables = (cfg & CFG_S2) != 0;
  if ((cfg & CFG_S1) == 0) {
    if (ssv) return fault(res, EVENT_C_BAD_SUBSTREAMID, true);
    cohOverride(STE1_MTCFG(ste1), STE1_MEMATTR(ste1), STE1_SHCFG(ste1), SNOOP_SMMU_STE_OVERRIDE);
    return stage2Only(res, addr);
  }
  // Stage 1: which CD (spec 5.2 S1CDMax, S1DSS).
  const cdMax = STE0_S1CDMAX(ste0);
  let cdIndex: u32 = 0;
  if (ssv) {
    if (cdMax == 0 || (<u64>ssid >>> cdMax) != 0 || (<u64>ssid >>> ssidBits) != 0) return fault(res, EVENT_C_BAD_SUBSTREAMID, true);
    cdIndex = ssid;
  } else if (cdMax > 0) {
    const dss = STE1_S1DSS(ste1);
    if (dss == 0) return fault(res, EVENT_F_STREAM_DISABLED, true);
    if (dss == 1) {
      // stage 1 bypassed; stage 2 (nested STE) still translates
      cohOverride(STE1_MTCFG(ste1), STE1_MEMATTR(ste1), STE1_SHCFG(ste1), SNOOP_SMMU_STE_OVERRIDE);
      if (st2) return stage2Only(res, addr);
      return bypass(res, false, 0, 1, SNOOP_SMMU_STE_OVERRIDE);
    }
  }
  const s2r = STE2_S2R(ste2);
  // The CD: kept, from the configuration cache, or read (through stage 2 when nested) and kept once valid.
  if (!(kept && keptCd)) {
    cdLooked = true;
    let q = cdCached(sid, cdIndex);
    const cdHit = q != 0;
    if (!cdHit) configMissed = true;
    if (!cdHit) {
      const l1 = l1cdAddress(cdIndex);
      let d: u64 = 0;
      if (l1 != 0) {
        const p1 = fetchCdStruct(res, l1, nestedTables);
        if (p1 == 0) return;
        d = load<u64>(p1);
        if (!l1cdValid(d)) return fault(res, EVENT_C_BAD_SUBSTREAMID, true);
      }
      q = fetchCdStruct(res, cdAddress(cdIndex, d), nestedTables);
      if (q == 0) return;
    }
    ctxLoads++;
    cdLoad(q);
    if (!cdCheck(s1, addr)) return fault(res, EVENT_C_BAD_CD, true);
    if (!cdHit) configKeep(CD_CACHE, sid, cdIndex, cd0, cd1, cd2, cd3);
    cdKeepable = cdHit;
  }
  const r = CD0_R(cd0);
  if (cdHalfDisabled(cdUpper(addr))) {
    note(1, FCLASS_IN, 0, 0, 0);
    return fault(res, EVENT_F_TRANSLATION, r);
  }

  // The TLB: the ASID's entries, then the VMID's global ones.
  const asid = <u32>(cd0 >>> 48);
  const priv = (flags & RQF_PRIV) != 0;
  const exe = (flags & RQF_EXE) != 0 && !write;
  const g = s1.granuleLg2;
  s1NgOwner = s1Owner(vmid, asid, g, false);
  s1GOwner = s1Owner(vmid, asid, g, true);
  if (splitAts) microTag = NO_MICRO;
  else if (tlbServes(res, CACHE_MICRO_TLB, microTag, false, addr, priv, exe, st2)
    || tlbServes(res, CACHE_IOTLB, s1NgOwner, false, addr, priv, exe, st2)
    || globalServes(res, s1GOwner, addr, priv, exe, st2)) return;
  // The stage-1 walk (nested: every table address through stage 2, CLASS TT).
  bump(C_TLB_MISS);
  crossLink();
  emit(EV_WALK, 0, 0);
  s1.va = addr;
  s1.s2 = nestedTables ? s2 : null;
  s1.dryRun = false;
  s1.cacheOwner = <u64>vmid << 16 | <u64>(cd0 >>> 48);
  let w = cachedWalk(s1);
  bumpBy(C_TRANS_TABLE_WALK_ACCESS, s1.reads);
  readsAdd(s1.reads);
  if (w == W_S2) {
    // a stage-2 fault on a stage-1 table address (s2.va)
    const e = s2Fault(s2.fault, s2.va, FCLASS_TT);
    return fault(res, e, !isTranslationFault(e) || s2r);
  }
  if (w == W_S2_READ || w == W_S2_WRITE) {
    note(2, FCLASS_TT, s2.va, 0, s1.faultLevel + 1);
    return fault(res, EVENT_F_PERMISSION, s2r);
  }
  if (w != W_OK) {
    const e = walkEvent(w);
    note(1, FCLASS_IN, 0, w == W_ACCESS ? unreadDescriptor(s1) : 0, s1.faultLevel + 1);
    return fault(res, e, e == EVENT_F_WALK_EABT || r);
  }
  const allowed = priv ? (write ? s1.permW : exe ? s1.permPX : s1.permR) : s1.permU && (write ? s1.permW : exe ? s1.permX : s1.permR);
  if (!allowed) {
    note(1, FCLASS_IN, 0, 0, s1.leafLevel + 1);
    return fault(res, EVENT_F_PERMISSION, r);
  }
  if (write && s1.dirtyByDbm) {
    w = walkSetDirty(s1);
    if (w != W_OK) {
      note(2, FCLASS_TT, s2.va, 0, s1.leafLevel + 1);
      return fault(res, EVENT_F_PERMISSION, s2r);
    }
  }
  store<u64>(res, walkLeafPa(s1), RES_LEAF_PA);
  store<u64>(res, walkLeafPte(s1), RES_LEAF_PTE);
  store<u8>(res, <u8>s1.pageLg2, RES_PAGE_LG2);
  setRights(res, s1.permR, s1.permW, priv ? s1.permPX : s1.permX, s1.permU);
  cohStage1(cdMair(s1.attrIndx), s1.sh);
  const owner = s1Owner(vmid, asid, g, s1.global);
  if (s1.global) globalsWalked = true;
  const s1Rights = (s1.permR ? TF_R : 0) | (s1.permW ? TF_W : 0) | (s1.permX ? TF_X : 0) | (s1.permU ? TF_U : 0) | (s1.permPX ? TF_PX : 0);
  const s1Dirty = !s1.dirtyByDbm || (walkLeafPte(s1) & VMSA_AP_RDONLY) == 0;
  if (splitAts) return success(res, s1.oa);
  if (!st2) {
    tlbKeep(owner, addr, s1.oa, s1.pageLg2, s1.pageLg2, walkLeafPa(s1), walkLeafPte(s1), 0, s1Rights | (s1Dirty ? TF_DIRTY : 0), s1.attrIndx, s1.sh, 0, 0);
    return success(res, s1.oa);
  }
  // Nested: the output IPA through stage 2 (CLASS IN).
  const s1Lg2 = s1.pageLg2;
  if (!stage2(res, s1.oa)) return;
  const lg2 = s2.pageLg2 < s1Lg2 ? s2.pageLg2 : s1Lg2;
  store<u8>(res, <u8>lg2, RES_PAGE_LG2);
  store<u64>(res, walkLeafPa(s2), RES_S2_LEAF_PA);
  const pa = s2.oa | (addr & mask64(11, 0));
  // The combined entry: stage-1 rights, and stage 2's (checked for this access) only as R/W/X.
  const s2Rights = (s2.permR ? TF_R | TF_X | TF_PX | TF_U : 0) | (s2.permW ? TF_W : 0);
  const dirty = s1Dirty && s2Dirty();
  tlbKeep(owner, addr, pa, lg2, s1Lg2, walkLeafPa(s1), walkLeafPte(s1), walkLeafPa(s2), (s1Rights & s2Rights) | TF_NESTED | (dirty ? TF_DIRTY : 0) | (s2.permX ? 0 : TF_NO_X2), s1.attrIndx, s1.sh, s2.memAttr, s2.sh);
  success(res, pa);
}

/** A translated request let through untranslated (pcie_ats_trans_passed). */
function passTranslated(res: usize): void {
  bump(C_PCIE_ATS_TRANS_PASSED);
  store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_PASSTHROUGH, RES_FLAGS);
  success(res, addr);
}

/**
 * Timing: a transaction that missed both TLBs (micro and main, in the device interface) crosses the
 * link to the SMMU and back (EV_LINK twice; timing linkLatencyCycles, gem5 ifc_smmu_lat and
 * smmu_ifc_lat).
 */
function crossLink(): void {
  emit(EV_LINK, 0, 0);
  emit(EV_LINK, 0, 0);
}

/** Stage 2's leaf needs no dirtying for a write (no HD with DBM, or S2AP write already set). */
function s2Dirty(): bool {
  return !s2.dirtyByDbm || (walkLeafPte(s2) & VMSA_AP_RDONLY) != 0;
}

/** Caches a translation of `va` (the page of 2^lg2 bytes at `pa`'s page) in the TLB (tlb.ts payload). */
function tlbKeep(owner: u64, va: u64, pa: u64, lg2: u32, leafLg2: u32, leafPa: u64, leafPte: u64, s2LeafPa: u64, tf: u32, attrIndx: u32, sh1: u32, memAttr: u32, sh2: u32): void {
  const p = pageFill(CACHE_IOTLB, owner, va, lg2);
  store<u64>(p, pa & ~mask64(lg2 - 1, 0), TLB_PA);
  store<u64>(p, leafPa, TLB_LEAF_PA);
  store<u64>(p, leafPte, TLB_LEAF_PTE);
  store<u64>(p, s2LeafPa, TLB_S2_LEAF_PA);
  store<u32>(p, tf, TLB_FLAGS);
  store<u32>(p, lg2, TLB_PAGE_LG2);
  store<u8>(p, <u8>leafLg2, TLB_LEAF_LG2);
  store<u8>(p, <u8>attrIndx, TLB_ATTR_INDX);
  store<u8>(p, <u8>sh1, TLB_SH1);
  store<u8>(p, <u8>memAttr, TLB_MEM_ATTR);
  store<u8>(p, <u8>sh2, TLB_SH2);
  microKeep(va, p);
}

/** Copies the main-TLB entry at `p` (translating `va`) into the micro-TLB under the transaction's tag. */
function microKeep(va: u64, p: usize): void {
  if (microTag == NO_MICRO) return;
  const q = pageFill(CACHE_MICRO_TLB, microTag, va, load<u32>(p, TLB_PAGE_LG2));
  memory.copy(q, p, TLB_RECORD_BYTES);
}

/** The stage-1 TLB owners of the transaction: its ASID's entries and its VMID's global ones. */
let s1NgOwner: u64 = 0;
let s1GOwner: u64 = 0;

/**
 * A stage-1 walk has ended at a global leaf (nG = 0) since the core started. Until then the TLB
 * holds no global entry (only those walks fill one), so the lookup of the VMID's global entries
 * must miss: it is counted and timed as a miss without searching (Linux's io-pgtable writes nG = 1
 * in every stage-1 leaf, so this is the usual case). A simulation shortcut, never reset: a TLB
 * emptied since only makes the lookup search again.
 */
let globalsWalked = false;

/** tlbServes() for the VMID's global stage-1 entries (`owner`) of the main TLB. */
function globalServes(res: usize, owner: u64, va: u64, priv: bool, exe: bool, st2: bool): bool {
  if (!globalsWalked) {
    pageMiss(CACHE_IOTLB);
    return false;
  }
  return tlbServes(res, CACHE_IOTLB, owner, false, va, priv, exe, st2);
}

/**
 * TLB conflict detection (Opt.TLB_CONFLICT; spec 7.3.17): cache `id` holds more than one entry that
 * translates `va` for this transaction. A stage-1 lookup of the main TLB matches the ASID's entries
 * and the VMID's global ones alike, at every page size; the micro-TLB and stage-2-only lookups
 * match their one owner at every size.
 */
function tlbConflict(id: u32, owner: u64, s2only: bool, va: u64): bool {
  let n = pageMatches(id, owner, va);
  if (id == CACHE_IOTLB && !s2only) n += pageMatches(id, owner == s1NgOwner ? s1GOwner : s1NgOwner, va);
  return n > 1;
}

/**
 * A TLB hit for `va` under `owner` that allows this access ends the transaction (true). A hit
 * that does not allow it (or a write that must still dirty a leaf) walks instead, so a fault is
 * reported by the walk with its stage and level. A hit whose leaf descriptor changed since is
 * used all the same, flagged stale (README "Stale translations").
 */
function tlbServes(res: usize, id: u32, owner: u64, s2only: bool, va: u64, priv: bool, exe: bool, st2: bool): bool {
  if (owner == NO_MICRO) return false;
  const p = pageLookup(id, owner, va);
  if (p == 0) return false;
  if (tlbConflictEvent && tlbConflict(id, owner, s2only, va)) {
    // the transaction ends with the event (always recorded; Reason, IMPLEMENTATION DEFINED, is 0)
    note(0, 0, 0, 0, 0);
    fault(res, EVENT_F_TLB_CONFLICT, true);
    return true;
  }
  const tf = load<u32>(p, TLB_FLAGS);
  let ok: bool;
  if (s2only) ok = write ? (tf & TF_W) != 0 : (tf & TF_R) != 0 && (!exe || (tf & TF_X) != 0);
  else {
    ok = priv ? (write ? (tf & TF_W) != 0 : exe ? (tf & TF_PX) != 0 : (tf & TF_R) != 0)
      : (tf & TF_U) != 0 && (write ? (tf & TF_W) != 0 : exe ? (tf & TF_X) != 0 : (tf & TF_R) != 0);
    if (exe && (tf & TF_NO_X2) != 0) ok = false;
  }
  if (!ok || (write && (tf & TF_DIRTY) == 0)) return false;
  const leafPa = load<u64>(p, TLB_LEAF_PA);
  const s2LeafPa = load<u64>(p, TLB_S2_LEAF_PA);
  if (!leafUnchanged(leafPa, load<u64>(p, TLB_LEAF_PTE), s2LeafPa, VMSA_UPDATED_BITS)) {
    bump(C_STALE_IOTLB_USES);
    store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_STALE, RES_FLAGS);
  }
  const lg2 = load<u32>(p, TLB_PAGE_LG2);
  store<u64>(res, leafPa, RES_LEAF_PA);
  store<u64>(res, load<u64>(p, TLB_LEAF_PTE), RES_LEAF_PTE);
  store<u64>(res, s2only ? leafPa : s2LeafPa, RES_S2_LEAF_PA);
  store<u8>(res, <u8>lg2, RES_PAGE_LG2);
  if (s2only) setRights(res, (tf & TF_R) != 0, (tf & TF_W) != 0, (tf & TF_X) != 0, true);
  else {
    setRights(res, (tf & TF_R) != 0, (tf & TF_W) != 0, priv ? (tf & TF_PX) != 0 : (tf & TF_X) != 0, (tf & TF_U) != 0);
    cohStage1(cdMair(load<u8>(p, TLB_ATTR_INDX)), load<u8>(p, TLB_SH1));
  }
  if (st2) cohStage2(load<u8>(p, TLB_MEM_ATTR), load<u8>(p, TLB_SH2), s2fwb);
  if (id == CACHE_IOTLB) microKeep(va, p);
  success(res, load<u64>(p, TLB_PA) | (va & mask64(lg2 - 1, 0)));
  return true;
}

/** The rights a successful translation grants (result flags). */
function setRights(res: usize, r: bool, w: bool, x: bool, u: bool): void {
  let rf = load<u32>(res, RES_FLAGS) & ~(RSF_R | RSF_W | RSF_X | RSF_U);
  if (r) rf |= RSF_R;
  if (w) rf |= RSF_W;
  if (x) rf |= RSF_X;
  if (u) rf |= RSF_U;
  store<u32>(res, rf, RES_FLAGS);
}

/** Stage 2 of the input address `ipa` (the access itself, CLASS IN); false after a fault. */
function stage2(res: usize, ipa: u64): bool {
  const s2r = STE2_S2R(ste2);
  s2.va = ipa;
  s2.dryRun = false;
  let w = cachedWalk(s2);
  bumpBy(C_TRANS_TABLE_WALK_ACCESS, s2.reads);
  readsAdd(s2.reads);
  if (w != W_OK) {
    const e = s2Fault(w, ipa, FCLASS_IN);
    fault(res, e, e == EVENT_F_WALK_EABT || s2r);
    return false;
  }
  const exe = (flags & RQF_EXE) != 0 && !write;
  if (!(write ? s2.permW : s2.permR && (!exe || s2.permX))) {
    note(2, FCLASS_IN, ipa, 0, s2.leafLevel + 1);
    fault(res, EVENT_F_PERMISSION, s2r);
    return false;
  }
  if (write && s2.dirtyByDbm) {
    w = walkSetDirty(s2);
    if (DEBUG) assert(w == W_OK);
  }
  cohStage2(s2.memAttr, s2.sh, s2fwb);
  return true;
}

/** Stage-2-only translation (or nested with stage 1 bypassed by S1DSS). */
function stage2Only(res: usize, ipa: u64): void {
  const exe = (flags & RQF_EXE) != 0 && !write;
  const owner = s2Owner(vmid, s2.granuleLg2);
  if (tlbServes(res, CACHE_MICRO_TLB, microTag, true, ipa, false, exe, true) || tlbServes(res, CACHE_IOTLB, owner, true, ipa, false, exe, true)) return;
  bump(C_TLB_MISS);
  crossLink();
  emit(EV_WALK, 0, 0);
  if (!stage2(res, ipa)) return;
  const rights = (s2.permR ? TF_R : 0) | (s2.permW ? TF_W : 0) | (s2.permX ? TF_X : 0);
  tlbKeep(owner, ipa, s2.oa, s2.pageLg2, s2.pageLg2, walkLeafPa(s2), walkLeafPte(s2), 0, rights | (s2Dirty() ? TF_DIRTY : 0), 0, 0, s2.memAttr, s2.sh);
  store<u64>(res, walkLeafPa(s2), RES_LEAF_PA);
  store<u64>(res, walkLeafPte(s2), RES_LEAF_PTE);
  store<u64>(res, walkLeafPa(s2), RES_S2_LEAF_PA);
  store<u8>(res, <u8>s2.pageLg2, RES_PAGE_LG2);
  setRights(res, s2.permR, s2.permW, s2.permX, true);
  success(res, s2.oa);
}
