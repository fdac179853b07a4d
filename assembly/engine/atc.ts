// The device side of ATS, shared by both batch loops (engine/run.ts for VT-d, engine/smmu-run.ts
// for SMMUv3): a translated request (AT=10b, RQF_TRANSLATED) of a device with a device-TLB looks
// the address up in the device's own translation cache; on a miss the device first sends an ATS
// translation request (KIND_ATS) for it, which the IOMMU translates and whose completion fills the
// cache; then the device issues the translated request with the physical address, which the IOMMU
// checks (VT-d: the DTE; SMMUv3: CR0.ATSCHK and STE.EATS) and passes through. An ATS request sent
// by the trace itself also fills the device-TLB (atcFillFromCompletion). The translation of each
// request is the architecture's (the `translate` argument), so nothing here knows an architecture.
import { bump } from "../common/counters";
import {
  REQ_SIZE, REQ_ADDR, REQ_SID, REQ_PASID, REQ_FLAGS, RES_STATUS, RES_FLAGS, RES_PA, RES_PAGE_LG2, RES_DOMAIN, RES_LEAF_PA,
  RES_LEAF_PTE, RES_S2_LEAF_PA, RQF_KIND_MASK, RQF_TRANSLATED, RQF_PASID, RQF_NS, KIND_ATS, KIND_MWR, ST_OK, ST_BLOCKED,
  RSF_R, RSF_W, RSF_X, RSF_U, RSF_NS_ALLOWED, RSF_ATC, RSF_STALE, C_STALE_ATC_USES, C_ATC_MISSES,
} from "../abi";
import { devTlbLookup, devTlbFill, devTlbStale } from "../uarch/device-tlb";
import { ATCF_R, ATCF_W, ATCF_X, ATCF_U, ATCF_N, ATCF_STALE, ATC_PA, ATC_FLAGS, ATC_PAGE_LG2 } from "../arch/ats";

/** An architecture's translation of request record `req` into result record `res`. */
export type Translate = (req: usize, res: usize) => void;

/** Scratch request record for the device's own ATS request and translated request. */
let scratchReq: usize = 0;

export function atcInit(): void {
  if (scratchReq == 0) scratchReq = heap.alloc(REQ_SIZE);
}

/** Caches an ATS completion in the requesting device's device-TLB; returns the entry, or 0. */
export function atcFillFromCompletion(req: usize, res: usize): usize {
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
  if ((rf & RSF_STALE) != 0) f |= ATCF_STALE; // the completion itself came from a stale IOMMU TLB entry
  return devTlbFill(load<u32>(req, REQ_SID), (flags & RQF_PASID) != 0, load<u32>(req, REQ_PASID), load<u64>(req, REQ_ADDR),
    load<u8>(res, RES_PAGE_LG2), load<u64>(res, RES_PA), f, load<u32>(res, RES_DOMAIN),
    load<u64>(res, RES_LEAF_PA), load<u64>(res, RES_LEAF_PTE), load<u64>(res, RES_S2_LEAF_PA));
}

/** A translated request of a device with a device-TLB: look up, send an ATS request if needed, then issue. */
export function atcTranslated(req: usize, res: usize, translate: Translate): void {
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  const va = load<u64>(req, REQ_ADDR);
  let p = devTlbLookup(load<u32>(req, REQ_SID), (flags & RQF_PASID) != 0, load<u32>(req, REQ_PASID), va);
  if (p == 0) {
    bump(C_ATC_MISSES);
    memory.copy(scratchReq, req, REQ_SIZE);
    store<u16>(scratchReq, <u16>((flags & ~(RQF_KIND_MASK | RQF_TRANSLATED | RQF_NS)) | KIND_ATS), REQ_FLAGS);
    translate(scratchReq, res);
    if (load<u8>(res, RES_STATUS) != ST_OK) return; // the translation request itself failed
    p = atcFillFromCompletion(scratchReq, res);
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
  translate(scratchReq, res);
  let rf = load<u32>(res, RES_FLAGS) | RSF_ATC;
  if (stale) rf |= RSF_STALE;
  store<u32>(res, rf, RES_FLAGS);
  store<u8>(res, <u8>lg2, RES_PAGE_LG2);
}
