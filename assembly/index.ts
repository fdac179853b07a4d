// The core's only exports. The host writes registers into the control block and requests into the
// request ring (offsets in abi.ts), then calls run(n); results appear in the result ring and
// counters in the stats block. 64-bit values never cross the boundary as arguments: addresses are
// passed as two u32 halves, and bulk data moves through the staging buffer.
import { STAGE_BASE, STAGE_QWORDS } from "./abi";
import { gmInit, gmPage, gmPageForWrite, gmPageCount, gmNoteHostWrite, GUEST_PA_BITS } from "./common/guest-memory";
import { registerWrite } from "./engine/registers";
import { vtdInit } from "./arch/vtd/translate";
import { runBatch, engineInit } from "./engine/run";
import { deviceContextClear } from "./engine/device-context";
import { smmuContextClear, keptUses } from "./engine/smmu-context";
import { memoClear, replayCount } from "./engine/replay-memo";
import { cachesConfigure } from "./uarch/caches";
import { timingConfigure, timingStatsAddress } from "./timing/model";
import { iortRanges, iortStreamId } from "./arch/smmuv3/iort";
import { CTRL_BASE, CTRL_CACHES, CACHE_IOTLB, CACHE_CFG_SIZE, CCFG_ENTRIES, CCFG_ENABLED } from "./abi";

/** Sets up guest memory and walk state. Call once after instantiation. */
export function init(): void {
  gmInit();
  vtdInit();
  engineInit();
}

/** (Re)builds the caches from the configuration block (empty caches, counters at zero). */
export function configure(): void {
  cachesConfigure();
  deviceContextClear();
  smmuContextClear();
  memoClear();
  const iotlb = CTRL_BASE + CTRL_CACHES + CACHE_IOTLB * CACHE_CFG_SIZE;
  timingConfigure(load<u32>(iotlb, CCFG_ENABLED) != 0 ? load<u32>(iotlb, CCFG_ENTRIES) : 0);
}

/**
 * Requests replayed from the replay memo since the last configure (engine/replay-memo.ts): a
 * diagnostic of the simulator's fast path, for tests; no result or counter depends on it.
 */
export function memoReplays(): u32 {
  return replayCount;
}

/**
 * SMMUv3 transactions translated with the stream context kept from the transaction before them
 * since the last configure (engine/smmu-context.ts): a diagnostic of the fast path, for tests.
 */
export function keptContextUses(): u32 {
  return keptUses;
}

/** Address of the timing statistics block (abi TimingStat). */
export function timingStats(): u32 {
  return <u32>timingStatsAddress();
}

/**
 * SMMUv3: the StreamID the root complexes' map (abi IortMap) gives request SID `sid`, 0xffffffff
 * when no mapping covers it or there is no map. Changes nothing (the host's result lines ask).
 */
export function smmuStreamId(sid: u32): u32 {
  const n = iortRanges();
  return n == 0 ? 0xffffffff : iortStreamId(sid, n);
}

/** Translates `n` request records (n <= RING_RECORDS); returns n. */
export function run(n: u32): u32 {
  return runBatch(n);
}

/**
 * Copies `n` qwords from the staging buffer to guest physical address hi:lo (8-byte aligned).
 * Returns 0, or 1 if the range reaches beyond 2^52 (nothing is written then).
 */
export function memWrite(lo: u32, hi: u32, n: u32): u32 {
  const pa = ((<u64>hi) << 32) | lo;
  if (n > STAGE_QWORDS || (pa & 7) != 0 || ((pa + (<u64>n << 3) - 1) >>> GUEST_PA_BITS) != 0) return 1;
  gmNoteHostWrite();
  for (let i: u32 = 0; i < n; i++) {
    const a = pa + (<u64>i << 3);
    store<u64>(gmPageForWrite(a) + <usize>(a & 0xfff), load<u64>(STAGE_BASE + (i << 3)));
  }
  return 0;
}

/**
 * Copies `n` qwords from guest physical address hi:lo into the staging buffer. Qwords of pages
 * nobody wrote read as 0; returns how many such qwords there were.
 */
export function memRead(lo: u32, hi: u32, n: u32): u32 {
  const pa = ((<u64>hi) << 32) | lo;
  let missing: u32 = 0;
  if (n > STAGE_QWORDS) n = STAGE_QWORDS;
  for (let i: u32 = 0; i < n; i++) {
    const a = pa + (<u64>i << 3);
    const page = gmPage(a);
    let v: u64 = 0;
    if (page == 0) missing++;
    else v = load<u64>(page + <usize>(a & 0xfff));
    store<u64>(STAGE_BASE + (i << 3), v);
  }
  return missing;
}

/**
 * A software write of hi:lo to register `id` (abi RegId: GCMD, IQA, IQT, FSTS, ICS, CCMD,
 * IOTLB_REG, IVA), with its side effects: an IQT write processes the invalidation queue, CCMD.ICC
 * and IOTLB_REG.IVT run register-based invalidations.
 */
export function regWrite(id: u32, lo: u32, hi: u32): void {
  registerWrite(id, ((<u64>hi) << 32) | lo);
}

/** Guest pages allocated so far. */
export function guestPages(): u32 {
  return gmPageCount();
}
