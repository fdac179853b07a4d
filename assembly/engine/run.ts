// The batch loop: request ring in, result ring out. One call translates `n` records; nothing
// crosses the JS/WASM boundary per request.
//
// Translated requests (AT=10b) of a device that has a device-TLB go through it first: the device
// looks the address up in its own translation cache (sending an ATS translation request first on a
// miss, as a device must) and issues the translated request with the physical address, which the
// IOMMU then checks (DTE) and passes through. ATS completions fill the device-TLB.
import { DEBUG } from "../common/debug";
import { bump } from "../common/counters";
import {
  CTRL_BASE, CTRL_ARCH, ARCH_SMMUV3, REQ_BASE, REQ_SIZE, RES_BASE, RES_SIZE, RING_RECORDS, REQ_ADDR, REQ_SID, REQ_PASID, REQ_FLAGS, RES_STATUS, RES_FLAGS, RES_PA,
  RES_PAGE_LG2, RES_DOMAIN, RES_LEAF_PA, RES_LEAF_PTE, RES_S2_LEAF_PA, RQF_KIND_MASK, RQF_TRANSLATED, RQF_PASID, RQF_NS, KIND_ATS, KIND_MWR, ST_OK, ST_BLOCKED,
  RSF_R, RSF_W, RSF_X, RSF_U, RSF_NS_ALLOWED, RSF_ATC, RSF_STALE, STATS_BASE, C_STALE_ATC_USES, C_ATC_MISSES, OPT_NO_REPLAY_MEMO, OPT_RESULTS_UNREAD, OPT_LOOKAHEAD_SHIFT, OPT_LOOKAHEAD_MASK,
} from "../abi";
import { vtdSyncRegs } from "../arch/vtd/regs";
import { vtdTranslate, vtdLookAhead } from "../arch/vtd/translate";
import { smmuBatch } from "./smmu-run";
import { cachesSyncStats, clearHitTrace, hitIotlbSlot, fillIotlbSlot } from "../uarch/caches";
import { wirePorts } from "./wiring";
import { clearEvents } from "../common/events";
import { timingEnabled, timeRequest } from "../timing/model";
import { cacheMutations } from "../uarch/cache/set-assoc";
import { memoInit, memoReplay, memoRecord, memoTally, MR_PASID, MR_CB_SHIFT, CB_NS, CB_SNOOP, CB_FORCED_PGSNP, CB_FORCED_PTE } from "./replay-memo";
import { deviceContextInit, deviceContextEnable, translateKeepingContext } from "./device-context";
import * as regs from "../arch/vtd/regs";
import { devTlbEnabled, devTlbLookup, devTlbFill, devTlbStale } from "../uarch/device-tlb";
import { ATCF_R, ATCF_W, ATCF_X, ATCF_U, ATCF_N, ATCF_STALE, ATC_PA, ATC_FLAGS, ATC_PAGE_LG2 } from "../arch/ats";

/** Scratch request and result records for the device's own ATS request and translated request. */
let scratchReq: usize = 0;
let scratchRes: usize = 0;
/** The one result record of a batch whose results nobody reads (OPT_RESULTS_UNREAD). */
let unreadRes: usize = 0;

export function engineInit(): void {
  scratchReq = heap.alloc(REQ_SIZE);
  scratchRes = heap.alloc(RES_SIZE);
  unreadRes = heap.alloc(RES_SIZE);
  memoInit();
  deviceContextInit();
  wirePorts();
}

/** Caches an ATS completion in the requesting device's device-TLB; returns the entry, or 0. */
function fillFromCompletion(req: usize, res: usize): usize {
  if (load<u8>(res, RES_STATUS) != ST_OK) return 0;
  const rf = load<u32>(res, RES_FLAGS);
  if ((rf & (RSF_R | RSF_W)) == 0) return 0;
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  let f: u32 = 0;
  if ((rf & RSF_R) != 0) f |= ATCF_R;
  if ((rf & RSF_W) != 0) f |= ATCF_W;
  if ((rf & RSF_X) != 0) f |= ATCF_X;
  if ((rf & RSF_U) != 0) f |= ATCF_U;
  if ((rf & RSF_NS_ALLOWED) != 0) f |= ATCF_N;
  if ((rf & RSF_STALE) != 0) f |= ATCF_STALE; // the completion itself came from a stale IOTLB entry
  return devTlbFill(load<u32>(req, REQ_SID), (flags & RQF_PASID) != 0, load<u32>(req, REQ_PASID), load<u64>(req, REQ_ADDR),
    load<u8>(res, RES_PAGE_LG2), load<u64>(res, RES_PA), f, load<u32>(res, RES_DOMAIN),
    load<u64>(res, RES_LEAF_PA), load<u64>(res, RES_LEAF_PTE), load<u64>(res, RES_S2_LEAF_PA));
}

/** A translated request of a device with a device-TLB: look up, translate if needed, then issue. */
function translatedThroughAtc(req: usize, res: usize): void {
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  const sid = load<u32>(req, REQ_SID);
  const hasPasid = (flags & RQF_PASID) != 0;
  const pasid = load<u32>(req, REQ_PASID);
  const va = load<u64>(req, REQ_ADDR);
  let p = devTlbLookup(sid, hasPasid, pasid, va);
  if (p == 0) {
    bump(C_ATC_MISSES);
    memory.copy(scratchReq, req, REQ_SIZE);
    store<u16>(scratchReq, <u16>((flags & ~(RQF_KIND_MASK | RQF_TRANSLATED | RQF_NS)) | KIND_ATS), REQ_FLAGS);
    vtdTranslate(scratchReq, res);
    if (load<u8>(res, RES_STATUS) != ST_OK) return; // the translation request itself failed (DTE, faults)
    p = fillFromCompletion(scratchReq, res);
    if (p == 0) {
      // No rights were granted: the device cannot issue the request.
      store<u8>(res, ST_BLOCKED, RES_STATUS);
      return;
    }
  }
  const stale = devTlbStale(p);
  const f = load<u32>(p, ATC_FLAGS);
  const lg2 = load<u32>(p, ATC_PAGE_LG2);
  const write = (flags & RQF_KIND_MASK) == KIND_MWR;
  if (stale) bump(C_STALE_ATC_USES);
  if ((write && (f & ATCF_W) == 0) || (!write && (f & ATCF_R) == 0)) {
    // The cached completion does not allow this access: the device does not issue it.
    store<u8>(res, ST_BLOCKED, RES_STATUS);
    store<u32>(res, RSF_ATC | (stale ? RSF_STALE : 0), RES_FLAGS);
    return;
  }
  memory.copy(scratchReq, req, REQ_SIZE);
  store<u64>(scratchReq, load<u64>(p, ATC_PA) | (va & ((<u64>1 << lg2) - 1)), REQ_ADDR);
  vtdTranslate(scratchReq, res);
  let rf = load<u32>(res, RES_FLAGS) | RSF_ATC;
  if (stale) rf |= RSF_STALE;
  store<u32>(res, rf, RES_FLAGS);
  store<u8>(res, <u8>lg2, RES_PAGE_LG2);
}

/** Translates `n` request records of the ring: the architecture of the unit (CTRL_ARCH) decides how. */
export function runBatch(n: u32): u32 {
  if (DEBUG) assert(n <= RING_RECORDS);
  if (n > RING_RECORDS) n = RING_RECORDS;
  const arch = load<u32>(CTRL_BASE + CTRL_ARCH);
  if (arch == ARCH_SMMUV3) return smmuBatch(n);
  return vtdBatch(n);
}

function vtdBatch(n: u32): u32 {
  vtdSyncRegs();
  const atc = devTlbEnabled();
  const useMemo = (regs.options & OPT_NO_REPLAY_MEMO) == 0 && regs.translationEnabled;
  const legacy = regs.ttm == 0;
  const timed = timingEnabled();
  deviceContextEnable(useMemo);
  // The replays' counts, tallied here and counted once at the end of the batch (memoTally).
  let replays: u32 = 0, pasidHits: u32 = 0, ns: u32 = 0, snoop: u32 = 0, pgsnp: u32 = 0, pte: u32 = 0;
  // Results nobody reads go to one scratch record (the timing model and the fills still read it).
  const unread = (regs.options & OPT_RESULTS_UNREAD) != 0;
  const resStep: usize = unread ? 0 : RES_SIZE;
  let req: usize = REQ_BASE, res: usize = unread ? unreadRes : RES_BASE;
  // Look-ahead (abi Opt.LOOKAHEAD): after request i missed, a dry walk of request i+K.
  const ahead = (regs.options & OPT_LOOKAHEAD_MASK) >>> OPT_LOOKAHEAD_SHIFT;
  const aheadEnd = ahead != 0 ? n - ahead : 0; // requests i < aheadEnd have a request i+K
  const aheadStride: usize = <usize>ahead * REQ_SIZE;
  for (let i: u32 = 0; i < n; i++) {
    const flags = <u32>load<u16>(req, REQ_FLAGS);
    clearEvents();
    clearHitTrace();
    if (atc && (flags & RQF_TRANSLATED) != 0) translatedThroughAtc(req, res);
    else {
      const r = useMemo ? memoReplay(req, res, unread) : 0;
      if (r != 0) {
        replays++;
        const cb = r >>> MR_CB_SHIFT;
        pasidHits += <u32>((r & MR_PASID) != 0);
        ns += <u32>((cb & CB_NS) != 0);
        snoop += <u32>((cb & CB_SNOOP) != 0);
        pgsnp += <u32>((cb & CB_FORCED_PGSNP) != 0);
        pte += <u32>((cb & CB_FORCED_PTE) != 0);
      } else {
        const before = cacheMutations;
        translateKeepingContext(req, res);
        if (i < aheadEnd && cacheMutations != before) vtdLookAhead(req + aheadStride);
        if (atc && (flags & RQF_KIND_MASK) == KIND_ATS) fillFromCompletion(req, res);
        else if (useMemo) memoRecord(req, res, before, legacy);
      }
    }
    if (timed) timeRequest(req, res, hitIotlbSlot, fillIotlbSlot);
    req += REQ_SIZE;
    res += resStep;
  }
  memoTally(replays, pasidHits, ns, snoop, pgsnp, pte);
  cachesSyncStats();
  return n;
}
