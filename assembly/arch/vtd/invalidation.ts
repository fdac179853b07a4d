// VT-d invalidation interfaces (spec 6.5): queued invalidation (6.5.2: IQA, IQH, IQT, FSTS.IQE,
// IQERCD; descriptor types 1-8) and register-based invalidation (6.5.1: CCMD, IOTLB_REG/IVA).
// The descriptor formats and what each invalidation reaches are architectural (spec 6.5): here each
// one becomes predicates over cache entries (their keys and the records of ./cached.ts and
// ../ats.ts) that the caches run through the ports of ../ports.ts. Which entries exist is the
// implementation's business.
//
// Descriptor type = qw0[3:0] | qw0[11:9] << 4.
//   1 context-cache   qw0: 5:4 G (1 global, 2 domain, 3 device), 31:16 DID, 47:32 SID, 49:48 FM
//   2 IOTLB           qw0: 5:4 G (1 global, 2 domain, 3 page), 31:16 DID; qw1: 63:12 ADDR, 6 IH, 5:0 AM
//   3 device-TLB      qw0: 47:32 SID; qw1: 63:12 ADDR, 0 S
//   4 interrupt-entry-cache (accepted; interrupt remapping is not modelled)
//   5 wait            qw0: 4 IF, 5 SW, 6 FN, 63:32 status data; qw1: 63:2 status address
//   6 PASID IOTLB     qw0: 5:4 G (2 PASID, 3 page in PASID), 31:16 DID, 51:32 PASID; qw1 as type 2
//   7 PASID cache     qw0: 5:4 G (0 domain, 1 PASID in domain, 3 global), 31:16 DID, 51:32 PASID
//   8 PASID device-TLB qw0: 31:16 SID, 51:32 PASID; qw1: 0 G, 11 S, 63:12 ADDR
import { field, bit, mask64 } from "../../common/bits";
import { gmPage, gmPageForWrite, GUEST_PA_BITS } from "../../common/guest-memory";
import {
  CTRL_BASE, CTRL_CAP, CTRL_GSTS, CTRL_FSTS, CTRL_IQA, CTRL_IQH, CTRL_IQT, CTRL_IQERCD, CTRL_ICS, CTRL_CCMD, CTRL_IOTLB_REG, CTRL_IVA,
  REG_GCMD, REG_IQA, REG_IQT, REG_FSTS, REG_ICS, REG_CCMD, REG_IOTLB_REG, REG_IVA, IQEI_NONE, IQEI_INVALID_TAIL,
  IQEI_FETCH_ERROR, IQEI_INVALID_TYPE, IQEI_RESERVED_FIELD, IQEI_INVALID_WIDTH, IQEI_TAIL_MISALIGNED,
  C_INV_DESCRIPTORS, C_INV_WAIT_WRITES, C_INV_QUEUE_ERRORS,
} from "../../abi";
import * as regs from "./regs";
import { CAP_ESRTPS } from "./fields";
import { bump } from "../../common/counters";
import { cacheInvalidate, deviceTlbsMarkStale, deviceTlbInvalidate, PAGE_NUMBER_MASK, pageOverlaps } from "../ports";
import { CACHE_IOTLB, CACHE_CONTEXT_CACHE, CACHE_PASID_CACHE, CACHE_PWC_FS_PDE } from "../../abi";
import { CTX_C1, PC_P1, IOTLB_FLAGS, IOTLB_PAGE_LG2, ITF_FS, ITF_GLOBAL } from "./cached";
import { WC_SPAN_LG2 } from "../pagetable/walk-state";
import { ATC_DOMAIN, ATC_PAGE_LG2 } from "../ats";

const GSTS_TES: u32 = 1 << 31;
const GSTS_RTPS: u32 = 1 << 30;
const GSTS_QIES: u32 = 1 << 26;
const FSTS_IQE: u32 = 1 << 4;
const ICS_IWC: u32 = 1;

// @ts-ignore: decorator
@inline function r64(off: u32): u64 {
  return load<u64>(CTRL_BASE + off);
}
// @ts-ignore: decorator
@inline function w64(off: u32, v: u64): void {
  store<u64>(CTRL_BASE + off, v);
}
// @ts-ignore: decorator
@inline function r32(off: u32): u32 {
  return load<u32>(CTRL_BASE + off);
}
// @ts-ignore: decorator
@inline function w32(off: u32, v: u32): void {
  store<u32>(CTRL_BASE + off, v);
}

/**
 * What the last register write's queue processing did, for the timing model (the engine charges
 * it): whether the queue ran, descriptors fetched (the failing one included) and waits completed.
 */
export let queueRan: bool = false;
export let queueFetched: u64 = 0;
export let queueWaits: u64 = 0;

/** A software write of `value` to register `id` (abi RegId), with the register's side effects. */
export function vtdRegWrite(id: u32, value: u64): void {
  queueRan = false;
  queueFetched = 0;
  queueWaits = 0;
  regs.vtdSyncRegs();
  if (id == REG_GCMD) {
    // GCMD (11.4.4.1): TE and QIE are levels mirrored in GSTS; SRTP latches RTADDR (with
    // CAP.ESRTPS the hardware also invalidates every cache).
    let gsts = r32(CTRL_GSTS);
    const v = <u32>value;
    gsts = (gsts & ~(GSTS_TES | GSTS_QIES)) | (v & (GSTS_TES | GSTS_QIES));
    if ((v & GSTS_QIES) == 0) w64(CTRL_IQH, 0); // disabling queued invalidation resets the head
    if ((v & GSTS_RTPS) != 0) {
      gsts |= GSTS_RTPS;
      if (CAP_ESRTPS(load<u64>(CTRL_BASE + CTRL_CAP))) invAll(); // CAP.ESRTPS
    }
    w32(CTRL_GSTS, gsts);
    regs.vtdSyncRegs();
  } else if (id == REG_IQA) {
    w64(CTRL_IQA, value);
  } else if (id == REG_IQT) {
    w64(CTRL_IQT, value);
    processQueue();
  } else if (id == REG_FSTS) {
    const fsts = r32(CTRL_FSTS) & ~(<u32>value & FSTS_IQE); // RW1C
    w32(CTRL_FSTS, fsts);
    if ((<u32>value & FSTS_IQE) != 0) processQueue();
  } else if (id == REG_ICS) {
    w32(CTRL_ICS, r32(CTRL_ICS) & ~(<u32>value & ICS_IWC));
  } else if (id == REG_CCMD) {
    // CCMD (11.4.4.3): ICC=1 runs the invalidation; CAIG reports the granularity performed.
    if (bit(value, 63)) {
      const g = <u32>field(value, 62, 61);
      if (g != 0) invContext(g, <u32>field(value, 15, 0), <u32>field(value, 31, 16), <u32>field(value, 33, 32), regs.ttm == 0);
      bump(C_INV_DESCRIPTORS);
      value = (value & ~(mask64(63, 63) | mask64(60, 59))) | (<u64>g << 59);
    }
    w64(CTRL_CCMD, value);
  } else if (id == REG_IVA) {
    w64(CTRL_IVA, value);
  } else if (id == REG_IOTLB_REG) {
    // IOTLB_REG (11.4.8.1) with IVA (11.4.8.2): IVT=1 runs the invalidation; IAIG reports it.
    if (bit(value, 63)) {
      const g = <u32>field(value, 61, 60);
      const iva = r64(CTRL_IVA);
      if (g != 0) invIotlb(g, <u32>field(value, 47, 32), iva & mask64(63, 12), <u32>(iva & 0x3f), bit(iva, 6));
      bump(C_INV_DESCRIPTORS);
      value = (value & ~(mask64(63, 63) | mask64(58, 57))) | (<u64>g << 57);
    }
    w64(CTRL_IOTLB_REG, value);
  }
}

/** Stops the queue at the current descriptor: FSTS.IQE and IQERCD.IQEI = reason. */
function queueError(reason: u32): void {
  w32(CTRL_FSTS, r32(CTRL_FSTS) | FSTS_IQE);
  w64(CTRL_IQERCD, (r64(CTRL_IQERCD) & ~(<u64>0xf)) | reason);
  bump(C_INV_QUEUE_ERRORS);
}

/** Fetches and runs descriptors from IQH up to IQT (spec 6.5.2), unless the queue is stopped. */
function processQueue(): void {
  if ((r32(CTRL_GSTS) & GSTS_QIES) == 0 || (r32(CTRL_FSTS) & FSTS_IQE) != 0) return;
  const iqa = r64(CTRL_IQA);
  const base = iqa & mask64(63, 12);
  const wide = bit(iqa, 11); // 256-bit descriptors
  const size: u64 = <u64>4096 << (iqa & 7);
  const step: u64 = wide ? 32 : 16;
  const tail = r64(CTRL_IQT) & mask64(18, 4);
  if (wide && !regs.ecapSmts) return queueError(IQEI_INVALID_WIDTH);
  if (wide && (tail & 0x10) != 0) return queueError(IQEI_TAIL_MISALIGNED);
  if (tail >= size) return queueError(IQEI_INVALID_TAIL);
  let head = r64(CTRL_IQH) & mask64(18, 4);
  queueRan = true;
  let fetched: u64 = 0;
  let waits: u64 = 0;
  while (head != tail) {
    const at = base + head;
    const page = gmPage(at);
    if (page == 0) {
      w64(CTRL_IQH, head);
      queueFetched = fetched;
      queueWaits = waits;
      return queueError(IQEI_FETCH_ERROR);
    }
    const p = page + <usize>(at & 0xfff);
    const q0 = load<u64>(p), q1 = load<u64>(p, 8);
    const upper = wide ? load<u64>(p, 16) | load<u64>(p, 24) : 0;
    fetched++;
    const reason = upper != 0 ? IQEI_RESERVED_FIELD : runDescriptor(q0, q1);
    if (reason != IQEI_NONE) {
      w64(CTRL_IQH, head);
      queueFetched = fetched;
      queueWaits = waits;
      return queueError(reason);
    }
    if ((q0 & 0xf) == 5 && (q0 & 0xe00) == 0) waits++;
    bump(C_INV_DESCRIPTORS);
    head = (head + step) % size;
  }
  w64(CTRL_IQH, head);
  queueFetched = fetched;
  queueWaits = waits;
}

/** Runs one descriptor; returns IQEI_NONE or the queue-error reason. */
function runDescriptor(q0: u64, q1: u64): u32 {
  const type = <u32>((q0 & 0xf) | (field(q0, 11, 9) << 4));
  const g = <u32>field(q0, 5, 4);
  const did = <u32>field(q0, 31, 16);
  const pasid = <u32>field(q0, 51, 32);
  const addr = q1 & mask64(63, 12);
  const am = <u32>(q1 & 0x3f);
  const ih = bit(q1, 6);
  switch (type) {
    case 1: // context-cache invalidate
      if (g == 0) return IQEI_RESERVED_FIELD;
      invContext(g, did, <u32>field(q0, 47, 32), <u32>field(q0, 49, 48), regs.ttm == 0);
      return IQEI_NONE;
    case 2: // IOTLB invalidate
      if (g == 0) return IQEI_RESERVED_FIELD;
      if (g == 3 && (!regs.capPsi || am > regs.capMamv)) return IQEI_RESERVED_FIELD;
      invIotlb(g, did, addr, am, ih);
      return IQEI_NONE;
    case 3: // device-TLB invalidate
      invDeviceTlb(<u32>field(q0, 47, 32), false, 0, q1);
      return IQEI_NONE;
    case 4: // interrupt-entry-cache invalidate: accepted, interrupt remapping is not modelled
      return IQEI_NONE;
    case 5: { // invalidation wait
      if (bit(q0, 5)) {
        const status = q1 & mask64(63, 2);
        if ((status >>> GUEST_PA_BITS) != 0) return IQEI_RESERVED_FIELD;
        store<u32>(gmPageForWrite(status) + <usize>(status & 0xfff), <u32>(q0 >>> 32));
        bump(C_INV_WAIT_WRITES);
      }
      if (bit(q0, 4)) w32(CTRL_ICS, r32(CTRL_ICS) | ICS_IWC);
      return IQEI_NONE;
    }
    case 6: // PASID-based IOTLB invalidate
      if (g < 2) return IQEI_RESERVED_FIELD;
      if (g == 3 && am > regs.capMamv) return IQEI_RESERVED_FIELD;
      invPasidIotlb(g, did, pasid, addr, am, ih);
      return IQEI_NONE;
    case 7: // PASID-cache invalidate
      if (g == 2) return IQEI_RESERVED_FIELD;
      invPasidCache(g, did, pasid);
      return IQEI_NONE;
    case 8: // PASID-based device-TLB invalidate
      invDeviceTlb(<u32>field(q0, 31, 16), !bit(q1, 0), pasid, (q1 & mask64(63, 12)) | (bit(q1, 11) ? 1 : 0));
      return IQEI_NONE;
    default:
      return IQEI_INVALID_TYPE;
  }
}

// ---- what each invalidation reaches (spec 6.5.2.x): predicates over cache entries -------------------

// The invalidation being run: its parameters, read by the predicates below.
let pDid: u32 = 0;
let pPasid: u32 = 0;
let pSid: u32 = 0;
let pFmMask: u32 = 0;
let pRanged: bool = false;
let pLo: u64 = 0;
let pHi: u64 = 0;
let pPasidOnly: bool = false;
const ALL_DOMAINS: u32 = 0xffffffff;

/** The invalidation range of ADDR and AM: 2^AM naturally aligned 4 KiB pages. */
function setRange(addr: u64, am: u32): void {
  const size = <u64>1 << (12 + am);
  pLo = addr & ~(size - 1);
  pHi = pLo + size - 1;
}

/** Every cache empty (global invalidations of all kinds; CAP.ESRTPS on SRTP). */
function invAll(): void {
  for (let id: u32 = 0; id < CACHE_PWC_FS_PDE + 8; id++) cacheInvalidate(id, null);
  pDid = ALL_DOMAINS;
  pPasidOnly = false;
  pRanged = false;
  deviceTlbsMarkStale(atcOfDomain);
}

function ctxOfDomain(k0: u64, k1: u64, p: usize): bool {
  return <u32>((load<u64>(p, CTX_C1) >>> 8) & 0xffff) == pDid;
}
function ctxOfDevice(k0: u64, k1: u64, p: usize): bool {
  return ((<u32>k0 ^ pSid) & ~pFmMask & 0xffff) == 0;
}

/**
 * Context cache (spec 6.5.2.1 context-cache invalidate, 11.4.4.1 CCMD): granularity 1 global,
 * 2 domain, 3 device (source ID with function mask FM). Scalable-mode context entries carry no
 * DID, so a domain-selective invalidation there drops every entry (README).
 */
function invContext(gran: u32, did: u32, sid: u32, fm: u32, legacy: bool): void {
  if (gran == 1 || (gran == 2 && !legacy)) return cacheInvalidate(CACHE_CONTEXT_CACHE, null);
  pDid = did;
  pSid = sid;
  // FM masks the low bits of the function number: 0 none, 1 bit 2, 2 bits 2:1, 3 bits 2:0.
  pFmMask = fm == 0 ? 0 : fm == 1 ? 4 : fm == 2 ? 6 : 7;
  cacheInvalidate(CACHE_CONTEXT_CACHE, gran == 2 ? ctxOfDomain : ctxOfDevice);
}

function pasidEntryOf(k0: u64, k1: u64, p: usize): bool {
  return <u32>(load<u64>(p, PC_P1) & 0xffff) == pDid && (!pPasidOnly || <u32>(k0 >>> 32) == pPasid);
}

/**
 * PASID cache (spec 6.5.2.4 PASID-cache invalidate): granularity 0 all PASIDs of DID,
 * 1 PASID-selective within DID, 3 global.
 */
function invPasidCache(gran: u32, did: u32, pasid: u32): void {
  if (gran == 3) return cacheInvalidate(CACHE_PASID_CACHE, null);
  pDid = did;
  pPasid = pasid;
  pPasidOnly = gran == 1;
  cacheInvalidate(CACHE_PASID_CACHE, pasidEntryOf);
}

/** Walk-cache entries of pDid (and pPasid unless pPasidOnly is off) overlapping the range if pRanged. */
function walkEntryOf(k0: u64, k1: u64, p: usize): bool {
  if (<u32>(k1 & 0xffff) != pDid) return false;
  if (pPasidOnly && <u32>(k1 >>> 16) != pPasid) return false;
  if (!pRanged) return true;
  const span = load<u32>(p, WC_SPAN_LG2);
  return pageOverlaps(k0, span, pLo, pHi);
}

/** Paging-structure caches of `stage` (0 first, 1 second): the entries walkEntryOf selects. */
function invWalkCaches(stage: u32): void {
  for (let level: u32 = 1; level <= 4; level++) cacheInvalidate(CACHE_PWC_FS_PDE + stage * 4 + level - 1, walkEntryOf);
}

function iotlbEntryOfDomain(k0: u64, k1: u64, p: usize): bool {
  if (<u32>(k1 & 0xffff) != pDid) return false;
  if (!pRanged || (load<u32>(p, IOTLB_FLAGS) & ITF_FS) != 0) return true;
  return pageOverlaps(k0 & PAGE_NUMBER_MASK, load<u32>(p, IOTLB_PAGE_LG2), pLo, pHi);
}

/**
 * IOTLB invalidate (spec 6.5.2.3 descriptor type 2, 11.4.8 IOTLB_REG): granularity 1 global,
 * 2 domain, 3 page-selective (ADDR, AM; IH=1 keeps the paging-structure caches). A page-selective
 * invalidation also drops every first-stage and nested entry of the domain (as QEMU reads the spec).
 */
function invIotlb(gran: u32, did: u32, addr: u64, am: u32, ih: bool): void {
  if (gran == 1) {
    cacheInvalidate(CACHE_IOTLB, null);
    for (let id = CACHE_PWC_FS_PDE; id < CACHE_PWC_FS_PDE + 8; id++) cacheInvalidate(id, null);
    pDid = ALL_DOMAINS;
    pPasidOnly = false;
    pRanged = false;
    deviceTlbsMarkStale(atcOfDomain);
    return;
  }
  pDid = did;
  pPasidOnly = false;
  pRanged = gran == 3;
  if (pRanged) setRange(addr, am);
  deviceTlbsMarkStale(atcOfDomain);
  cacheInvalidate(CACHE_IOTLB, iotlbEntryOfDomain);
  if (!(pRanged && ih)) {
    invWalkCaches(1);
    pRanged = false;
    invWalkCaches(0);
  }
}

function iotlbEntryOfPasid(k0: u64, k1: u64, p: usize): bool {
  if (<u32>(k1 & 0xffff) != pDid || <u32>(k1 >>> 16) != pPasid) return false;
  const f = load<u32>(p, IOTLB_FLAGS);
  if ((f & ITF_FS) == 0) return false;
  if (pRanged) return pageOverlaps(k0 & PAGE_NUMBER_MASK, load<u32>(p, IOTLB_PAGE_LG2), pLo, pHi);
  return (f & ITF_GLOBAL) == 0;
}

/**
 * PASID-based IOTLB invalidate (spec 6.5.2.5, descriptor type 6): granularity 2 every non-global
 * first-stage/nested entry of (DID, PASID); 3 page-selective within (DID, PASID), global entries
 * included (IH=1 keeps the paging-structure caches). Second-stage-only entries are not touched.
 */
function invPasidIotlb(gran: u32, did: u32, pasid: u32, addr: u64, am: u32, ih: bool): void {
  pDid = did;
  pPasid = pasid;
  pPasidOnly = true;
  pRanged = gran == 3;
  if (pRanged) setRange(addr, am);
  deviceTlbsMarkStale(atcOfDomain);
  cacheInvalidate(CACHE_IOTLB, iotlbEntryOfPasid);
  if (!(pRanged && ih)) invWalkCaches(0);
}

/** Device-TLB entries made from translations of pDid (all: ALL_DOMAINS), of pPasid if pPasidOnly, in range if pRanged. */
function atcOfDomain(k0: u64, k1: u64, p: usize): bool {
  if (pDid != ALL_DOMAINS && load<u32>(p, ATC_DOMAIN) != pDid) return false;
  if (pPasidOnly && k1 != <u64>pPasid) return false;
  return !pRanged || pageOverlaps(k0 & PAGE_NUMBER_MASK, load<u32>(p, ATC_PAGE_LG2), pLo, pHi);
}

/** Device-TLB entries of pPasid if pPasidOnly, overlapping [pLo, pHi]. */
function atcInRange(k0: u64, k1: u64, p: usize): bool {
  if (pPasidOnly && k1 != <u64>pPasid) return false;
  return pageOverlaps(k0 & PAGE_NUMBER_MASK, load<u32>(p, ATC_PAGE_LG2), pLo, pHi);
}

/**
 * Device-TLB invalidation (types 3 and 8): removes the device's entries in the range of ADDR with
 * its S bit (bit 0 of `addrS`; spec 6.5.2.6: with S=1 the number of trailing 1s in ADDR[63:12]
 * gives the size, t ones -> 2^(t+1) pages); with `pasidSelective`, only those of `pasid`.
 */
function invDeviceTlb(sid: u32, pasidSelective: bool, pasid: u32, addrS: u64): void {
  const addr = addrS & mask64(63, 12);
  if ((addrS & 1) == 0) {
    pLo = addr;
    pHi = addr + 0xfff;
  } else {
    const t = <u32>ctz(~(addr >>> 12));
    if (t >= 51) {
      pLo = 0;
      pHi = <u64>-1;
    } else {
      const size = <u64>1 << (12 + t + 1);
      pLo = addr & ~(size - 1);
      pHi = pLo + size - 1;
    }
  }
  pPasidOnly = pasidSelective;
  pPasid = pasid;
  deviceTlbInvalidate(sid, atcInRange);
}
