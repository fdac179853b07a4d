// NOT A MODEL OF ANY HARDWARE: a simulator fast path, invisible in results and counters.
//
// The resolved device context of a requester (VT-d scalable mode: what its context and PASID entries
// decided, arch/vtd/translate.ts SmContext), kept per (source ID, PASID, PRIV, EXE) together with
// the context-cache and PASID-cache slots it was served from and their generations. While both
// slots still hold what they held (uarch SetAssoc.generation) and the registers are unchanged
// (regs.epoch), a later request of the same requester is translated with the kept context: the two
// cache hits it would have made are replayed (counted, the replacement policy touched, the lookup
// events emitted) and the context restored, instead of reading and checking both entries again.
// Recorded only when both lookups hit (a context served from memory is not kept).
//
// Entry (128 bytes, direct-mapped, 2^DC_LG2 of them):
//   0 sid   4 key flags | DC_VALID   8 pasid   12 regs epoch
//   16 ctx slot  20 ctx set  24 ctx generation  28 PASID slot  32 PASID set  36 PASID generation
//   40 context: pasid   44 did   48 pgtt | fpd << 8 | priv << 9 | exe << 10   64 p0   72 p1   80 p2
//   96 the context slot's LRU stamp address (0: not LRU); 100 the PASID slot's (u32 each): as in the
//      replay memo (engine/replay-memo.ts), hits on LRU caches are touched by their stamps' addresses
// The caches' generations restart when they are rebuilt: deviceContextClear() on every configure.
// (Unlike the memo's, these generations are compared every time: the requests that take this path
// fill a cache almost every time, so a shortcut while no cache changed would rarely be taken.)
import { REQ_ADDR, REQ_SID, REQ_PASID, REQ_FLAGS, RQF_PASID, RQF_PRIV, RQF_EXE, CACHE_CONTEXT_CACHE, CACHE_PASID_CACHE } from "../abi";
import { vtdTranslate, smContextReusable, smResolved, smCtx } from "../arch/vtd/translate";
import * as regs from "../arch/vtd/regs";
import { replayHitAt, keepLruStamp, slotGeneration, hitCtxSlot, hitCtxSet, hitPasidSlot, hitPasidSet } from "../uarch/caches";

const DC_LG2: u32 = 9;
const ENTRY_LG2: u32 = 7;
const KEY_FLAGS: u32 = RQF_PASID | RQF_PRIV | RQF_EXE;
const DC_VALID: u32 = 1 << 31;

let table: usize = 0;
let enabled: bool = false;

export function deviceContextInit(): void {
  const bytes = (<usize>1 << DC_LG2) << ENTRY_LG2;
  table = heap.alloc(bytes);
  memory.fill(table, 0, bytes);
}

/** Turns the kept contexts on or off (off: every request resolves its context). */
export function deviceContextEnable(on: bool): void {
  enabled = on;
}

/** Forgets every kept context (the caches were rebuilt). */
export function deviceContextClear(): void {
  memory.fill(table, 0, (<usize>1 << DC_LG2) << ENTRY_LG2);
}

// @ts-ignore: decorator
@inline function entryFor(sid: u32, pasid: u32, keyFlags: u32): usize {
  const h = ((<u64>sid << 24) ^ (<u64>pasid << 3) ^ <u64>(keyFlags >> 3)) * 0x9e3779b97f4a7c15;
  return table + (<usize>(h >>> (64 - DC_LG2)) << ENTRY_LG2);
}

/** vtdTranslate of request `req` into `res`, with the requester's kept context where it is valid. */
export function translateKeepingContext(req: usize, res: usize): void {
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  // e: the request's entry (0: no context may be kept for it); kept: its context was restored
  let e: usize = 0, kept = false;
  let sid: u32 = 0, keyFlags: u32 = 0, pasid: u32 = 0;
  if (enabled && smContextReusable(load<u64>(req, REQ_ADDR), flags)) {
    sid = load<u32>(req, REQ_SID);
    keyFlags = (flags & KEY_FLAGS) | DC_VALID;
    pasid = (flags & RQF_PASID) != 0 ? load<u32>(req, REQ_PASID) : 0;
    e = entryFor(sid, pasid, keyFlags);
    if (
      load<u32>(e, 0) == sid && load<u32>(e, 4) == keyFlags && load<u32>(e, 8) == pasid && load<u32>(e, 12) == regs.epoch &&
      slotGeneration(CACHE_CONTEXT_CACHE, load<i32>(e, 16)) == load<u32>(e, 24) &&
      slotGeneration(CACHE_PASID_CACHE, load<i32>(e, 28)) == load<u32>(e, 36)
    ) {
      replayHitAt(CACHE_CONTEXT_CACHE, load<i32>(e, 16), load<u32>(e, 20), <usize>load<u32>(e, 96));
      replayHitAt(CACHE_PASID_CACHE, load<i32>(e, 28), load<u32>(e, 32), <usize>load<u32>(e, 100));
      const c = smCtx;
      c.pasid = load<u32>(e, 40);
      c.did = load<u32>(e, 44);
      const b = load<u32>(e, 48);
      c.pgtt = b & 0xff;
      c.fpd = (b & 0x100) != 0;
      c.priv = (b & 0x200) != 0;
      c.exe = (b & 0x400) != 0;
      c.p0 = load<u64>(e, 64);
      c.p1 = load<u64>(e, 72);
      c.p2 = load<u64>(e, 80);
      kept = true;
    }
  }
  // (one call site, whichever way the context comes)
  vtdTranslate(req, res, kept);
  if (e == 0 || kept || !smResolved || hitCtxSlot < 0 || hitPasidSlot < 0) return;
  store<u32>(e, sid, 0);
  store<u32>(e, keyFlags, 4);
  store<u32>(e, pasid, 8);
  store<u32>(e, regs.epoch, 12);
  store<i32>(e, hitCtxSlot, 16);
  store<u32>(e, hitCtxSet, 20);
  store<u32>(e, slotGeneration(CACHE_CONTEXT_CACHE, hitCtxSlot), 24);
  store<i32>(e, hitPasidSlot, 28);
  store<u32>(e, hitPasidSet, 32);
  store<u32>(e, slotGeneration(CACHE_PASID_CACHE, hitPasidSlot), 36);
  const c = smCtx;
  store<u32>(e, c.pasid, 40);
  store<u32>(e, c.did, 44);
  store<u32>(e, c.pgtt | (c.fpd ? 0x100 : 0) | (c.priv ? 0x200 : 0) | (c.exe ? 0x400 : 0), 48);
  store<u64>(e, c.p0, 64);
  store<u64>(e, c.p1, 72);
  store<u64>(e, c.p2, 80);
  keepLruStamp(e + 96, CACHE_CONTEXT_CACHE, hitCtxSlot);
  keepLruStamp(e + 100, CACHE_PASID_CACHE, hitPasidSlot);
}
