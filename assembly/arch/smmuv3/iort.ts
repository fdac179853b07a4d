// The root complexes' RID-to-StreamID map (abi IortMap), what firmware's IORT describes: each root
// complex node's "ID mappings" (input base, number of IDs, output base into the SMMU's StreamID
// space; IORT spec DEN0049, "ID mappings") and its "memory access properties" CANWBS flag. The
// host writes the ranges once at set-up (src/arch/smmuv3/iort.ts validates them), sorted by input
// base and disjoint; the batch loop (engine/smmu-run.ts) looks each transaction's requester up
// here before the SMMU sees it. Without ranges the SMMU takes the request's SID as its StreamID
// (the identity, firmware's usual `iommu-map` for one root complex) and Opt.CANWBS is the flag.
import { CTRL_BASE, CTRL_IORT, IORT_RANGES, IORT_CANWBS, IORT_ENTRIES, IORT_ENTRY_SIZE, IORTE_IN_BASE, IORTE_COUNT, IORTE_OUT_BASE, IORTE_RC } from "../../abi";

const MAP: usize = CTRL_BASE + CTRL_IORT;

/** StreamID of a SID no mapping covers. */
export const NO_STREAM: u32 = 0xffffffff;

/** Ranges in the map (0: no map, the identity). */
export function iortRanges(): u32 {
  return load<u32>(MAP, IORT_RANGES);
}

/** The root complex of the last routed lookup. */
export let iortRc: u32 = 0;

/**
 * The StreamID of request SID `sid` (segment<<16 | RID) through the map of `n` ranges, or NO_STREAM
 * when no range covers it; sets iortRc. A binary search over the sorted ranges, no allocation.
 */
export function iortStreamId(sid: u32, n: u32): u32 {
  let lo: u32 = 0, hi: u32 = n; // the range holding sid, if any, is the last with IN_BASE <= sid
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (load<u32>(MAP + IORT_ENTRIES + <usize>mid * IORT_ENTRY_SIZE, IORTE_IN_BASE) <= sid) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return NO_STREAM;
  const e = MAP + IORT_ENTRIES + <usize>(lo - 1) * IORT_ENTRY_SIZE;
  const off = sid - load<u32>(e, IORTE_IN_BASE);
  if (off >= load<u32>(e, IORTE_COUNT)) return NO_STREAM;
  iortRc = load<u32>(e, IORTE_RC);
  return load<u32>(e, IORTE_OUT_BASE) + off;
}

/** The CANWBS flag of root complex `rc`. */
// @ts-ignore: decorator
@inline export function iortCanwbs(rc: u32): bool {
  return ((load<u32>(MAP, IORT_CANWBS) >>> rc) & 1) != 0;
}
