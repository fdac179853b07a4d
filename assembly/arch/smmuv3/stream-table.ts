// The stream table (spec 5.1, 5.2; shared/spec/smmuv3.md §2.2): from a StreamID to its STE.
//
// Linear (STRTAB_BASE_CFG.FMT = 0): STE at STRTAB_BASE.ADDR + SID * 64.
// 2-level (FMT = 1, needs IDR0.ST_LEVEL = 1): the level-1 descriptor at ADDR + (SID >> SPLIT) * 8,
//   SPLIT 6, 8 or 10 (level-2 tables of 4, 16 or 64 KiB); L1STD = 4:0 Span | 51:6 L2Ptr. Span 0 is
//   an invalid descriptor; otherwise the level-2 table holds 2^(Span - 1) STEs (Span above SPLIT + 1
//   is taken as SPLIT + 1) and the STE is at L2Ptr + (SID & (2^SPLIT - 1)) * 64.
// C_BAD_STREAMID: SID >= 2^LOG2SIZE (LOG2SIZE capped at IDR1.SIDSIZE), Span 0, or an index beyond
//   the span. Choices where the spec leaves the behaviour open (CONSTRAINED UNPREDICTABLE), so that
//   a misprogrammed table gives an event rather than a guess: a SPLIT other than 6, 8, 10, an FMT
//   other than 0 and 1, or FMT = 1 without IDR0.ST_LEVEL, make every StreamID C_BAD_STREAMID.
// F_STE_FETCH: the L1STD or STE lies in memory nobody wrote (its address is the FetchAddr).
import { mask64 } from "../../common/bits";
import { EVENT_C_BAD_STREAMID, EVENT_F_STE_FETCH } from "../../abi";
import { strtabBase, strtabCfg, sidBits, idr0 } from "./regs";
import { STRTAB_BASE_CFG_LOG2SIZE, STRTAB_BASE_CFG_SPLIT, STRTAB_BASE_CFG_FMT, L1STD_SPAN, IDR0_ST_LEVEL } from "./fields";
import { fetchStruct } from "./fetch";

export const STE_BYTES: u64 = 64;

/** Why locateSte failed (an event type), and the address it could not read (F_STE_FETCH). */
export let stFault: u8 = 0;
export let stFetchAddr: u64 = 0;

/** The STE of `sid` in linear memory, or 0 with stFault (and stFetchAddr) set. */
export function locateSte(sid: u32): usize {
  let lg2 = STRTAB_BASE_CFG_LOG2SIZE(strtabCfg);
  if (lg2 > sidBits) lg2 = sidBits;
  if (lg2 < 32 && (<u64>sid >>> lg2) != 0) return bad(EVENT_C_BAD_STREAMID, 0);
  const base = strtabBase & mask64(51, 6);
  const fmt = STRTAB_BASE_CFG_FMT(strtabCfg);
  let ste: u64;
  if (fmt == 0) ste = base + <u64>sid * STE_BYTES;
  else {
    const split = STRTAB_BASE_CFG_SPLIT(strtabCfg);
    if (fmt != 1 || IDR0_ST_LEVEL(idr0) != 1 || (split != 6 && split != 8 && split != 10)) return bad(EVENT_C_BAD_STREAMID, 0);
    const l1Addr = base + (<u64>(sid >>> split) << 3);
    const l1 = fetchStruct(l1Addr);
    if (l1 == 0) return bad(EVENT_F_STE_FETCH, l1Addr);
    const d = load<u64>(l1);
    let span = L1STD_SPAN(d);
    if (span == 0) return bad(EVENT_C_BAD_STREAMID, 0);
    if (span > split + 1) span = split + 1;
    const index = sid & ((<u32>1 << split) - 1);
    if ((<u64>index >>> (span - 1)) != 0) return bad(EVENT_C_BAD_STREAMID, 0);
    ste = (d & mask64(51, 6)) + <u64>index * STE_BYTES;
  }
  const p = fetchStruct(ste);
  if (p == 0) return bad(EVENT_F_STE_FETCH, ste);
  return p;
}

function bad(code: u8, fetchAddr: u64): usize {
  stFault = code;
  stFetchAddr = fetchAddr;
  return 0;
}
