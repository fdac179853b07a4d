// NOT A MODEL OF ANY HARDWARE: the SMMUv3 stream context kept between transactions (a simulator fast
// path, invisible in results and counters), as engine/device-context.ts keeps VT-d's.
//
// A transaction whose STE (and CD, when it looked one up) came from configuration-cache hits and
// passed their checks leaves its stream context loaded (arch/smmuv3/translate.ts: the STE and CD
// dwords, what was derived from them, the stage-1 and stage-2 walk configuration). The next
// transaction of the same StreamID, SubstreamID (or none) and VA half (bit 55: which of TTB0/TTB1
// the CD configured the walk for) uses it as it is (smmuTranslateKept) - its two hits replayed here
// (counted, replacement policy touched, lookup events emitted, hits traced), exactly as the lookups
// would have found them - as long as no transaction loaded another STE or CD since
// (translate.ts ctxLoads), both cache slots are unchanged (SetAssoc generations: CMD_CFGI_* or an
// eviction changes them) and so are the registers (arch/smmuv3/regs.ts epoch). One context is kept
// (the loaded one): streams that interleave take the full path.
import { REQ_ADDR, REQ_SID, REQ_PASID, REQ_FLAGS, RQF_PASID, RQF_TRANSLATED, RQF_KIND_MASK, KIND_ATS, CACHE_CONTEXT_CACHE, CACHE_PASID_CACHE } from "../abi";
import { smmuTranslate, smmuTranslateKept, ctxLoads, steKeepable, cdLooked, cdKeepable } from "../arch/smmuv3/translate";
import { epoch } from "../arch/smmuv3/regs";
import { replayHit, slotGeneration, hitCtxSlot, hitCtxSet, hitPasidSlot, hitPasidSet } from "../uarch/caches";

/** The kept context's key: StreamID, SubstreamID | SSV << 31 | upper VA half << 30. */
let keptSid: u32 = 0;
let keptSub: u32 = 0;
let keptValid: bool = false;
let keptEpoch: u32 = 0;
let keptLoads: u32 = 0;
let steSlot: i32 = -1;
let steSet: u32 = 0;
let steGen: u32 = 0;
/** -1: the context has no CD (its transactions do not look one up). */
let cdSlot: i32 = -1;
let cdSet: u32 = 0;
let cdGen: u32 = 0;

const SUB_SSV: u32 = 1 << 31;
const SUB_UPPER: u32 = 1 << 30;

/** Transactions that used the kept context since the caches were configured (a diagnostic for tests, the core's keptContextUses). */
export let keptUses: u32 = 0;

/** Forgets the kept context (the caches were rebuilt). */
export function smmuContextClear(): void {
  keptValid = false;
  keptUses = 0;
}

/** smmuTranslate() of `req`, with the kept stream context where it is valid (`keep`: the fast path is on). */
export function smmuTranslateKeeping(req: usize, res: usize, keep: bool): void {
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  if (!keep || (flags & RQF_KIND_MASK) == KIND_ATS || (flags & RQF_TRANSLATED) != 0) return smmuTranslate(req, res);
  const sid = load<u32>(req, REQ_SID);
  const sub = ((flags & RQF_PASID) != 0 ? load<u32>(req, REQ_PASID) | SUB_SSV : 0) | (((load<u64>(req, REQ_ADDR) >>> 55) & 1) != 0 ? SUB_UPPER : 0);
  if (
    keptValid && keptSid == sid && keptSub == sub && keptEpoch == epoch && keptLoads == ctxLoads &&
    slotGeneration(CACHE_CONTEXT_CACHE, steSlot) == steGen && (cdSlot < 0 || slotGeneration(CACHE_PASID_CACHE, cdSlot) == cdGen)
  ) {
    keptUses++;
    replayHit(CACHE_CONTEXT_CACHE, steSlot, steSet);
    if (cdSlot >= 0) replayHit(CACHE_PASID_CACHE, cdSlot, cdSet);
    return smmuTranslateKept(req, res, cdSlot >= 0);
  }
  smmuTranslate(req, res);
  keptValid = false;
  if (!steKeepable || hitCtxSlot < 0 || (cdLooked && (!cdKeepable || hitPasidSlot < 0))) return;
  keptValid = true;
  keptSid = sid;
  keptSub = sub;
  keptEpoch = epoch;
  keptLoads = ctxLoads;
  steSlot = hitCtxSlot;
  steSet = hitCtxSet;
  steGen = slotGeneration(CACHE_CONTEXT_CACHE, hitCtxSlot);
  cdSlot = cdLooked ? hitPasidSlot : -1;
  cdSet = hitPasidSet;
  cdGen = cdLooked ? slotGeneration(CACHE_PASID_CACHE, hitPasidSlot) : 0;
}
