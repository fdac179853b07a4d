// Event records and the event queue (spec 7.2-7.4, shared/spec/smmuv3.md §2.6): a recorded fault
// becomes a 32-byte record at EVENTQ_BASE.ADDR + PROD.index * 32 in guest memory, and PROD
// advances (index and wrap bit, the queue holding 2^LOG2SIZE records, LOG2SIZE capped at
// IDR1.EVENTQS). With CR0.EVENTQEN = 0 the event is lost. A full queue (PROD and CONS at the same
// index with different wrap bits) loses the event and raises the overflow condition: PROD.OVFLG
// is toggled when it equals CONS.OVACKFLG (spec 7.4: an overflow already reported and not yet
// acknowledged is not reported again). The model never stops for either.
//
//   dword 0: 7:0 EventType | 11 SSV | 31:12 SubstreamID | 63:32 StreamID
//   dword 1: 33 PnU | 34 InD | 35 RnW (with InputAddr) | 39 S2 | 41:40 CLASS (translation faults, F_WALK_EABT)
//   dword 2: InputAddr (translation faults, F_WALK_EABT, F_UUT, F_BAD_ATS_TREQ, F_TRANSL_FORBIDDEN, F_TLB_CONFLICT)
//   dword 3: 51:12 IPA (stage-2 faults) or 51:3 FetchAddr (F_STE_FETCH, F_CD_FETCH, F_WALK_EABT)
import { gmPageForWrite } from "../../common/guest-memory";
import { bump } from "../../common/counters";
import { SMMU_EVENTQ_BASE, SMMU_EVENTQ_PROD, SMMU_EVENTQ_CONS, C_EVENTS_RECORDED, C_EVENTS_LOST } from "../../abi";
import { REGS, eventqEnabled, idr1 } from "./regs";
import { EVENTQ_BASE_LOG2SIZE, EVENTQ_BASE_ADDR_AT, EVENTQ_BASE_ADDR, IDR1_EVENTQS } from "./fields";

const OVFLG: u32 = 1 << 31;
const EVENT_BYTES: u64 = 32;

/**
 * Writes one event record (four dwords) into the event queue. Returns true if it was written;
 * false if the queue is disabled or full (the event is lost and counted).
 */
export function recordEvent(d0: u64, d1: u64, d2: u64, d3: u64): bool {
  if (!eventqEnabled) {
    bump(C_EVENTS_LOST);
    return false;
  }
  const base = load<u64>(REGS, SMMU_EVENTQ_BASE);
  let lg2 = EVENTQ_BASE_LOG2SIZE(base);
  const maxLg2 = IDR1_EVENTQS(idr1);
  if (lg2 > maxLg2) lg2 = maxLg2;
  const prod = load<u32>(REGS, SMMU_EVENTQ_PROD);
  const cons = load<u32>(REGS, SMMU_EVENTQ_CONS);
  const idxMask: u32 = (<u32>1 << lg2) - 1;
  const wrap: u32 = <u32>1 << lg2;
  if ((prod & idxMask) == (cons & idxMask) && (prod & wrap) != (cons & wrap)) {
    if ((prod & OVFLG) == (cons & OVFLG)) store<u32>(REGS, prod ^ OVFLG, SMMU_EVENTQ_PROD);
    bump(C_EVENTS_LOST);
    return false;
  }
  const at = EVENTQ_BASE_ADDR_AT(EVENTQ_BASE_ADDR(base)) + <u64>(prod & idxMask) * EVENT_BYTES;
  // A record is 32 bytes at a 32-byte aligned address: within one guest page.
  const p = gmPageForWrite(at) + <usize>(at & 0xfff);
  store<u64>(p, d0);
  store<u64>(p, d1, 8);
  store<u64>(p, d2, 16);
  store<u64>(p, d3, 24);
  // index + 1, carrying into the wrap bit; OVFLG kept
  const next = ((prod & (idxMask | wrap)) + 1) & (idxMask | wrap);
  store<u32>(REGS, (prod & OVFLG) | next, SMMU_EVENTQ_PROD);
  bump(C_EVENTS_RECORDED);
  return true;
}
