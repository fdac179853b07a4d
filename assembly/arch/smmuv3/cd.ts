// Context descriptors (spec 5.3, 5.4; shared/spec/smmuv3.md §2.4): where a SubstreamID's CD is, its
// checks, and the stage-1 walk it configures.
//
//   L1CD (8 bytes): 0 V | 51:12 L2Ptr
//   CD dword 0: 5:0 T0SZ | 7:6 TG0 | 14 EPD0 | 15 ENDI | 21:16 T1SZ | 23:22 TG1 | 30 EPD1 | 31 V | 34:32 IPS
//               | 35 AFFD | 36 WXN | 37 UWXN | 38 TBI0 | 39 TBI1 | 41 AA64 | 42 HD | 43 HA | 44 S | 45 R | 46 A
//               | 47 ASET | 63:48 ASID
//   dword 1: 1 HAD0 | 51:4 TTB0;  dword 2: 1 HAD1 | 51:4 TTB1;  dword 3: MAIR (8 attribute bytes)
//
// Location (STE.S1Fmt): 0 linear, CD at S1ContextPtr + SSID * 64; 1 and 2 two-level with 4 KiB
// (64 CDs) and 64 KiB (1024 CDs) leaves: L1CD at S1ContextPtr + (SSID >> 6 or >> 10) * 8, CD at
// L2Ptr + (SSID & 63 or 1023) * 64. An L1CD with V = 0 is C_BAD_SUBSTREAMID (the substream has no
// CD table). Under nesting both addresses are IPAs, translated through stage 2 by the caller's
// `throughS2` step (a stage-2 fault there is reported with CLASS CD).
//
// C_BAD_CD (cdCheck): V = 0; AA64 = 0 (AArch32 tables are not modelled); ENDI = 1 (big-endian
// tables are not modelled); S = 1 when IDR0.STALL_MODEL = 1 (terminate only); for each half
// (TTB0, TTB1) that EPDx does not disable: TGx reserved or a granule IDR5 lacks, TxSZ outside
// 16..39 (vmsaS1Configure), TTBx beyond the IPS. IPS beyond the OAS is capped at the OAS. HA/HD
// count as far as IDR0.HTTU allows, HADx only with IDR3.HAD.
//
// The range: VA bit 55 selects TTB1 (upper) or TTB0, as AArch64 does with and without TBI; a half
// disabled by EPDx gives F_TRANSLATION (stage 1). The walk then checks the bits above the range.
//
// CD.R decides whether stage-1 faults are recorded. CD.A (terminate with an abort, or RAZ/WI)
// changes what the device sees on the bus, which this model does not represent: a faulting
// transaction has status "fault" either way.
import { mask64 } from "../../common/bits";
import { WalkState } from "../pagetable/walk-state";
import { vmsaS1Configure } from "../pagetable/fmt/vmsa";
import { idr0, idr3, idr5, oasBits, paBitsOf } from "./regs";
import {
  CD0_V, CD0_AA64, CD0_ENDI, CD0_S, CD0_T0SZ, CD0_TG0, CD0_EPD0, CD0_T1SZ, CD0_TG1, CD0_EPD1, CD0_IPS, CD0_AFFD, CD0_WXN,
  CD0_UWXN, CD0_TBI0, CD0_TBI1, CD0_HA, CD0_HD, CD1_HAD0, CD2_HAD1, IDR0_STALL_MODEL, IDR0_HTTU, IDR3_HAD, IDR5_GRAN4K,
  IDR5_GRAN16K, IDR5_GRAN64K, L1CD_V,
} from "./fields";
import { ste0 } from "./ste";
import { STE0_S1FMT } from "./fields";

export const CD_BYTES: u64 = 64;

export let cd0: u64 = 0;
export let cd1: u64 = 0;
export let cd2: u64 = 0;
export let cd3: u64 = 0;

/** The L1CD address of `ssid`, or 0 for a linear CD table (S1Fmt = 0). */
export function l1cdAddress(ssid: u32): u64 {
  const fmt = STE0_S1FMT(ste0);
  if (fmt == 0) return 0;
  const ptr = ste0 & mask64(51, 6);
  return ptr + (<u64>(ssid >>> (fmt == 1 ? 6 : 10)) << 3);
}

/** Is the L1CD `d` valid? */
// @ts-ignore: decorator
@inline export function l1cdValid(d: u64): bool {
  return L1CD_V(d);
}

/** The CD address of `ssid`: from S1ContextPtr (linear) or from the L1CD `d`. */
export function cdAddress(ssid: u32, d: u64): u64 {
  const fmt = STE0_S1FMT(ste0);
  if (fmt == 0) return (ste0 & mask64(51, 6)) + <u64>ssid * CD_BYTES;
  return (d & mask64(51, 12)) + <u64>(ssid & (fmt == 1 ? 63 : 1023)) * CD_BYTES;
}

export function cdLoad(p: usize): void {
  cd0 = load<u64>(p);
  cd1 = load<u64>(p, 8);
  cd2 = load<u64>(p, 16);
  cd3 = load<u64>(p, 24);
}

/** Granule of TG0 (0 4K, 1 64K, 2 16K) or TG1 (1 16K, 2 4K, 3 64K) as log2, 0 if reserved or not in IDR5. */
function granule(tg: u32, upper: bool): u32 {
  let g: u32 = 0;
  if (upper) g = tg == 1 ? 14 : tg == 2 ? 12 : tg == 3 ? 16 : 0;
  else g = tg == 0 ? 12 : tg == 1 ? 16 : tg == 2 ? 14 : 0;
  if ((g == 12 && !IDR5_GRAN4K(idr5)) || (g == 14 && !IDR5_GRAN16K(idr5)) || (g == 16 && !IDR5_GRAN64K(idr5))) return 0;
  return g;
}

/** Configures `ws` for the half `upper` of the loaded CD; false if that half is ill-formed. */
function configureHalf(ws: WalkState, upper: bool, ips: u32): bool {
  const g = granule(upper ? CD0_TG1(cd0) : CD0_TG0(cd0), upper);
  if (g == 0) return false;
  const httu = IDR0_HTTU(idr0);
  const ha = CD0_HA(cd0) && httu >= 1;
  const hd = CD0_HD(cd0) && httu == 2;
  const had = IDR3_HAD(idr3) && (upper ? CD2_HAD1(cd2) : CD1_HAD0(cd1));
  const ok = vmsaS1Configure(ws, g, upper ? CD0_T1SZ(cd0) : CD0_T0SZ(cd0), ips, upper, upper ? CD0_TBI1(cd0) : CD0_TBI0(cd0),
    had, CD0_AFFD(cd0), ha, hd, CD0_WXN(cd0), CD0_UWXN(cd0));
  if (!ok) return false;
  const ttb = (upper ? cd2 : cd1) & mask64(51, 4);
  if ((ttb >>> ips) != 0) return false;
  // The start table is aligned to its size: the bits below are taken as zero.
  ws.root = ttb & ~((<u64>1 << (ws.topIndexBits + 3)) - 1);
  return true;
}

/** The half of the address space `va` is in: true for TTB1 (VA bit 55). */
// @ts-ignore: decorator
@inline export function cdUpper(va: u64): bool {
  return ((va >>> 55) & 1) != 0;
}

/** Is the half `upper` disabled (EPDx)? */
export function cdHalfDisabled(upper: bool): bool {
  return upper ? CD0_EPD1(cd0) : CD0_EPD0(cd0);
}

/**
 * The CD's checks (see the header); false: C_BAD_CD. Leaves `ws` configured for the half of
 * `va` (when that half is enabled).
 */
export function cdCheck(ws: WalkState, va: u64): bool {
  if (!CD0_V(cd0) || !CD0_AA64(cd0) || CD0_ENDI(cd0)) return false;
  if (CD0_S(cd0) && IDR0_STALL_MODEL(idr0) == 1) return false;
  let ips = paBitsOf(CD0_IPS(cd0));
  if (ips > oasBits) ips = oasBits;
  const upper = cdUpper(va);
  // the other half first, so that `ws` ends configured for the half in use
  if (!cdHalfDisabled(!upper) && !configureHalf(ws, !upper, ips)) return false;
  if (!cdHalfDisabled(upper) && !configureHalf(ws, upper, ips)) return false;
  return true;
}

/** The MAIR attribute byte at AttrIndx `i`. */
// @ts-ignore: decorator
@inline export function cdMair(i: u32): u32 {
  return <u32>((cd3 >>> (i << 3)) & 0xff);
}
