// Test entry point for the page-table formats and the one walker (compiled on its own to
// build/walk-harness.wasm by `npm run asbuild:harness`; not part of the core's exports). A test
// writes tables into guest memory, configures one walk of a format and reads what the walker found,
// with no platform, no caches and no architecture around it (test/arch/formats.test.ts).
//
// Every u64 crosses the boundary as two u32 halves (lo, hi).
import { gmInit, gmPageForWrite } from "../common/guest-memory";
import { WalkState } from "../arch/pagetable/walk-state";
import { walk, walkSetDirty } from "../arch/pagetable/walker";
import { vmsaS1Configure, vmsaS2Configure } from "../arch/pagetable/fmt/vmsa";
import { FMT_VTD_SS, FMT_VTD_FS, FMT_VMSA_S2, FMT_VMSA_S1 } from "../abi";

// @ts-ignore: decorator
@inline function u64of(lo: u32, hi: u32): u64 {
  return (<u64>hi << 32) | <u64>lo;
}

let ws: WalkState = changetype<WalkState>(0);

export function init(): void {
  gmInit();
  ws = new WalkState();
}

/** Writes qword `lo:hi` at guest physical address `alo:ahi` (8-aligned). */
export function write64(alo: u32, ahi: u32, lo: u32, hi: u32): void {
  const pa = u64of(alo, ahi);
  store<u64>(gmPageForWrite(pa) + <usize>(pa & 0xfff), u64of(lo, hi));
}

/**
 * Configures a VT-d walk: `fmt` FMT_VTD_SS or FMT_VTD_FS, `levels`, the leaf levels allowed (bit n:
 * normalised level n), the input width, and the accessed-flag updates (SS: SSADE; FS: always).
 */
export function configureVtd(fmt: u32, rootLo: u32, rootHi: u32, levels: u32, leafLevels: u32, inputBits: u32, setAD: bool): void {
  ws.fmt = fmt;
  ws.stage = fmt == FMT_VTD_SS ? 1 : 0;
  ws.root = u64of(rootLo, rootHi);
  ws.levels = levels;
  ws.leafLevels = leafLevels;
  ws.inputBits = inputBits;
  ws.rsvdAddr = 0;
  ws.snpReserved = false;
  ws.nxe = true;
  ws.eafe = false;
  ws.setAD = setAD;
  ws.walkSnooped = true;
  ws.s2 = null;
  ws.resumeLevel = -1;
}

/**
 * Configures a VMSAv8-64 stage-2 walk (granule 2^granuleLg2, S2T0SZ, S2SL0, S2PS bits; S2AFFD,
 * S2HA, S2HD; the implemented PA size). Returns false for a combination the architecture does not allow.
 */
export function configureVmsaS2(rootLo: u32, rootHi: u32, granuleLg2: u32, t0sz: u32, sl0: u32, oaBits: u32, affd: bool, ha: bool, hd: bool, paBits: u32): bool {
  ws.fmt = FMT_VMSA_S2;
  ws.stage = 1;
  ws.root = u64of(rootLo, rootHi);
  ws.s2 = null;
  ws.resumeLevel = -1;
  ws.walkSnooped = true;
  ws.accessFaultOff = affd;
  ws.setAD = ha;
  ws.dirtyByDbm = hd;
  return vmsaS2Configure(ws, granuleLg2, t0sz, sl0, oaBits, paBits);
}

/**
 * Configures a VMSAv8-64 stage-1 walk (granule, TxSZ, IPS bits, TTB1 range, TBI, HAD, AFFD, HA,
 * HD, WXN, UWXN: vmsaS1Configure). Returns false for a combination the architecture forbids.
 */
export function configureVmsaS1(
  rootLo: u32, rootHi: u32, granuleLg2: u32, tsz: u32, oaBits: u32, upper: bool, tbi: bool,
  had: bool, affd: bool, ha: bool, hd: bool, wxn: bool, uwxn: bool,
): bool {
  ws.fmt = FMT_VMSA_S1;
  ws.stage = 0;
  ws.root = u64of(rootLo, rootHi);
  ws.s2 = null;
  ws.resumeLevel = -1;
  ws.walkSnooped = true;
  return vmsaS1Configure(ws, granuleLg2, tsz, oaBits, upper, tbi, had, affd, ha, hd, wxn, uwxn);
}

/** Levels the configured walk reads at most (the start level's normalised number + 1). */
export function levels(): u32 {
  return ws.levels;
}

/** Walks `va`; returns the W_* outcome (abi-free numbers of arch/pagetable/walk-state.ts). */
export function walkVa(lo: u32, hi: u32): u32 {
  ws.va = u64of(lo, hi);
  return walk(ws);
}

export function oaLo(): u32 { return <u32>ws.oa; }
export function oaHi(): u32 { return <u32>(ws.oa >>> 32); }
export function pageLg2(): u32 { return ws.pageLg2; }
export function leafLevel(): u32 { return ws.leafLevel; }
export function faultLevel(): u32 { return ws.faultLevel; }
export function reads(): u32 { return ws.reads; }
/** PERM_* bits of the outcome: R 1, W 2, U 4, X 8, PX 16 (VMSA stage 1 privileged execute). */
export function perms(): u32 {
  return (ws.permR ? 1 : 0) | (ws.permW ? 2 : 0) | (ws.permU ? 4 : 0) | (ws.permX ? 8 : 0) | (ws.permPX ? 16 : 0);
}
/** The leaf's attributes: bit 0 global, bit 1 contiguous; SH in 3:2; AttrIndx in 6:4; MemAttr in 11:8. */
export function attributes(): u32 {
  return (ws.global ? 1 : 0) | (ws.contiguous ? 2 : 0) | (ws.sh << 2) | (ws.attrIndx << 4) | (ws.memAttr << 8);
}
/** Marks the leaf of the last walk dirty (after a granted write); returns the W_* outcome. */
export function setDirty(): u32 {
  return walkSetDirty(ws);
}
/** The entry read at normalised `level`: its guest physical address and its value (after updates). */
export function entryPaLo(level: u32): u32 { return <u32>unchecked(ws.entryPa[level]); }
export function entryPaHi(level: u32): u32 { return <u32>(unchecked(ws.entryPa[level]) >>> 32); }
export function entryLo(level: u32): u32 { return <u32>unchecked(ws.entry[level]); }
export function entryHi(level: u32): u32 { return <u32>(unchecked(ws.entry[level]) >>> 32); }


