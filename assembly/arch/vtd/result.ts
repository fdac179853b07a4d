// Writing the result record of one request (abi Res) and the run counters: faults with their
// recording rule (spec 7.1.2: FPD suppresses recording of qualified faults only), successful
// accesses with their snoop outcome, ATS completions (spec 4.2.3).
//
// The run counters every request updates (requests, outcomes, snoop decisions) are tallied in
// globals here, not in the STATS block: the engine writes them once at the end of a batch
// (vtdCountersFlush), together with the replay memo's tally (vtdTallyReplays). Counters of rarer
// events (structure and table reads, faults by code) are still written where they happen.
import { gmPage } from "../../common/guest-memory";
import { bump, bumpBy } from "../../common/counters";
import { emit, EV_READ, STAGE_STRUCT } from "../../common/events";
import {
  RES_PA, RES_LEAF_PA, RES_LEAF_PTE, RES_STATUS, RES_FAULT, RES_PAGE_LG2, RES_READS, RES_FLAGS, RES_SNOOP_BY, RES_FAULT_LEVEL,
  RQF_KIND_MASK, RQF_NS, RQF_NW, KIND_ATS, ST_OK, ST_FAULT, RSF_SNOOP, RSF_RECORDED, RSF_R, RSF_W, RSF_X, RSF_U, RSF_GLOBAL,
  RSF_NS_ALLOWED, RSF_STALE, C_STALE_IOTLB_USES, SNOOP_BY_TLP, SNOOP_BY_PGSNP, STATS_BASE, FAULT_COUNTS_BASE, C_TRANSLATED, C_FAULTED, C_FAULTS_RECORDED,
  C_NO_SNOOP_TLPS, C_SNOOPED, C_NON_SNOOPED, C_NO_SNOOP_FORCED, C_NO_SNOOP_FORCED_PGSNP, C_NO_SNOOP_FORCED_PTE,
  QUALIFIED_0, QUALIFIED_1, QUALIFIED_2, QUALIFIED_3, C_REQUESTS, C_ATS_REQUESTS, C_INTERRUPTS, C_BLOCKED,
} from "../../abi";

const INT_RANGE_BASE: u64 = 0xfee00000;
const INT_RANGE_LAST: u64 = 0xfeefffff;

// @ts-ignore: decorator
@inline function qualified(code: u32): bool {
  const w = code >> 6;
  const bits = w == 0 ? QUALIFIED_0 : w == 1 ? QUALIFIED_1 : w == 2 ? QUALIFIED_2 : QUALIFIED_3;
  return ((bits >>> (code & 63)) & 1) != 0;
}

// @ts-ignore: decorator
@inline export function inInterruptRange(a: u64): bool {
  return a >= INT_RANGE_BASE && a <= INT_RANGE_LAST;
}

/**
 * The translation used for the current request came from a cache entry whose source software had
 * already changed or removed (set by the translation stages, reported in the result).
 */
export let trStale: bool = false;

export function setStale(v: bool): void {
  trStale = v;
}

/** Table reads made so far for the current request (structures and paging entries). */
export let reads: u32 = 0;

export function resetReads(): void {
  reads = 0;
}

export function addReads(n: u32): void {
  reads += n;
}

// ---- the batch's tallies (u32: a batch is at most RING_RECORDS requests, two translations each) --

let tRequests: u32 = 0;
let tAtsRequests: u32 = 0;
let tInterrupts: u32 = 0;
let tBlocked: u32 = 0;
let tTranslated: u32 = 0;
let tFaulted: u32 = 0;
let tFaultsRecorded: u32 = 0;
let tStale: u32 = 0;
let tNoSnoopTlps: u32 = 0;
let tSnooped: u32 = 0;
let tNonSnooped: u32 = 0;
let tForcedPgsnp: u32 = 0;
let tForcedPte: u32 = 0;

/** Counts a request (C_REQUESTS; an ATS translation request also C_ATS_REQUESTS). */
// @ts-ignore: decorator
@inline export function countRequest(ats: bool): void {
  tRequests++;
  tAtsRequests += <u32>ats;
}

/** Counts an interrupt request (spec 3.14): C_INTERRUPTS. */
// @ts-ignore: decorator
@inline export function countInterrupt(): void {
  tInterrupts++;
}

/** Counts a blocked request (no fault recorded): C_BLOCKED. */
// @ts-ignore: decorator
@inline export function countBlocked(): void {
  tBlocked++;
}

/**
 * Counts `n` successful DMA requests that the replay memo served (engine/replay-memo.ts), as success()
 * would have counted each: `ns` with No-Snoop set, `snoop` snooped, and of those with No-Snoop set
 * but snooped, `forcedPgsnp` forced by PGSNP and `forcedPte` by the leaf's SNP.
 */
export function vtdTallyReplays(n: u32, ns: u32, snoop: u32, forcedPgsnp: u32, forcedPte: u32): void {
  tRequests += n;
  tTranslated += n;
  tNoSnoopTlps += ns;
  tSnooped += snoop;
  tNonSnooped += n - snoop;
  tForcedPgsnp += forcedPgsnp;
  tForcedPte += forcedPte;
}

/** Adds the batch's tallies to the run counters (STATS) and starts the next batch's at zero. */
export function vtdCountersFlush(): void {
  if (tRequests == 0) return; // every tallied counter counts requests: none, nothing to add
  bumpBy(C_REQUESTS, tRequests);
  bumpBy(C_ATS_REQUESTS, tAtsRequests);
  bumpBy(C_INTERRUPTS, tInterrupts);
  bumpBy(C_BLOCKED, tBlocked);
  bumpBy(C_TRANSLATED, tTranslated);
  bumpBy(C_FAULTED, tFaulted);
  bumpBy(C_FAULTS_RECORDED, tFaultsRecorded);
  bumpBy(C_STALE_IOTLB_USES, tStale);
  bumpBy(C_NO_SNOOP_TLPS, tNoSnoopTlps);
  bumpBy(C_SNOOPED, tSnooped);
  bumpBy(C_NON_SNOOPED, tNonSnooped);
  bumpBy(C_NO_SNOOP_FORCED, tForcedPgsnp + tForcedPte);
  bumpBy(C_NO_SNOOP_FORCED_PGSNP, tForcedPgsnp);
  bumpBy(C_NO_SNOOP_FORCED_PTE, tForcedPte);
  tRequests = 0;
  tAtsRequests = 0;
  tInterrupts = 0;
  tBlocked = 0;
  tTranslated = 0;
  tFaulted = 0;
  tFaultsRecorded = 0;
  tStale = 0;
  tNoSnoopTlps = 0;
  tSnooped = 0;
  tNonSnooped = 0;
  tForcedPgsnp = 0;
  tForcedPte = 0;
}

/** Reads a translation structure at `pa`: its address in linear memory, or 0 (access error). */
// @ts-ignore: decorator
@inline export function readStruct(pa: u64, counter: u32): usize {
  const page = gmPage(pa);
  if (page == 0) return 0;
  reads++;
  bump(counter);
  emit(EV_READ, STAGE_STRUCT, 0);
  return page + <usize>(pa & 0xfff);
}

/**
 * Ends the request with fault `code`. `fpd` says whether a fault-processing-disable bit that
 * applies to this fault is set; FPD suppresses the recording of qualified faults only, the
 * request is blocked either way.
 */
export function fault(res: usize, code: u8, fpd: bool, level: u32): void {
  store<u8>(res, ST_FAULT, RES_STATUS);
  store<u8>(res, code, RES_FAULT);
  store<u8>(res, <u8>level, RES_FAULT_LEVEL);
  store<u8>(res, <u8>min(reads, 255), RES_READS);
  tFaulted++;
  if (trStale) {
    // The fault comes from a cached translation that software had already changed.
    store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_STALE, RES_FLAGS);
    tStale++;
  }
  if (!(fpd && qualified(code))) {
    store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_RECORDED, RES_FLAGS);
    tFaultsRecorded++;
  }
  const at = FAULT_COUNTS_BASE + (<u32>code << 3);
  store<u64>(at, load<u64>(at) + 1);
}

/** Ends the request successfully with output `pa`; `by` is what decided the snoop outcome. */
export function success(res: usize, pa: u64, flags: u32, by: u8): void {
  const ns = (flags & RQF_NS) != 0;
  const snoop = by != SNOOP_BY_TLP || !ns;
  let rf = load<u32>(res, RES_FLAGS);
  if (trStale) {
    rf |= RSF_STALE;
    tStale++;
  }
  if (snoop) rf |= RSF_SNOOP;
  if (by == SNOOP_BY_TLP) rf |= RSF_NS_ALLOWED;
  store<u32>(res, rf, RES_FLAGS);
  store<u64>(res, pa, RES_PA);
  store<u8>(res, ST_OK, RES_STATUS);
  store<u8>(res, by, RES_SNOOP_BY);
  store<u8>(res, <u8>min(reads, 255), RES_READS);
  tTranslated++;
  if ((flags & RQF_KIND_MASK) == KIND_ATS) return;
  tNoSnoopTlps += <u32>ns;
  tSnooped += <u32>snoop;
  tNonSnooped += <u32>!snoop;
  if (ns && snoop) {
    if (by == SNOOP_BY_PGSNP) tForcedPgsnp++;
    else tForcedPte++;
  }
}

export function setPermFlags(res: usize, r: bool, w: bool, x: bool, u: bool): void {
  let rf = load<u32>(res, RES_FLAGS);
  if (r) rf |= RSF_R;
  if (w) rf |= RSF_W;
  if (x) rf |= RSF_X;
  if (u) rf |= RSF_U;
  store<u32>(res, rf, RES_FLAGS);
}

export function recordLeaf(res: usize, leafPa: u64, leafPte: u64, pageLg2: u32): void {
  store<u64>(res, leafPa, RES_LEAF_PA);
  store<u64>(res, leafPte, RES_LEAF_PTE);
  store<u8>(res, <u8>pageLg2, RES_PAGE_LG2);
}

/** ATS translation completion for a present translation (spec 4.2.3); N follows the snoop decision. */
export function atsComplete(res: usize, flags: u32, pa: u64, r: bool, w: bool, x: bool, u: bool, global: bool, by: u8): void {
  setPermFlags(res, r, w && (flags & RQF_NW) == 0, x, u);
  if (global) store<u32>(res, load<u32>(res, RES_FLAGS) | RSF_GLOBAL, RES_FLAGS);
  success(res, pa, flags, by);
}

/** ATS translation request for an address with no mapping: a completion with R=W=0, no fault. */
export function atsNoAccess(res: usize, flags: u32): void {
  success(res, 0, flags, SNOOP_BY_TLP);
}
