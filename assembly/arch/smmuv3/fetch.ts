// Reads of the configuration structures (level-1 stream table descriptors, STEs, level-1 CD
// descriptors, CDs) and the count of every table read a transaction made (Res.READS). Memory
// nobody wrote is an external abort: the caller raises F_STE_FETCH or F_CD_FETCH.
import { gmPage } from "../../common/guest-memory";
import { bump } from "../../common/counters";
import { emit, EV_READ, STAGE_STRUCT } from "../../common/events";
import { C_CONFIG_STRUCT_ACCESS } from "../../abi";

/** Table reads of the current transaction: configuration structures and descriptors of both stages. */
export let reads: u32 = 0;

export function readsReset(): void {
  reads = 0;
}

export function readsAdd(n: u32): void {
  reads += n;
}

/** The structure at physical address `pa` in linear memory, or 0 if nobody wrote its page. */
export function fetchStruct(pa: u64): usize {
  const page = gmPage(pa);
  if (page == 0) return 0;
  reads++;
  bump(C_CONFIG_STRUCT_ACCESS);
  emit(EV_READ, STAGE_STRUCT, 0);
  return page + <usize>(pa & 0xfff);
}
