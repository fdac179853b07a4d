// VT-d invalidation interfaces (spec 6.5): queued invalidation (6.5.2: IQA, IQH, IQT, FSTS.IQE,
// IQERCD; descriptor types 1-8) and register-based invalidation (6.5.1: CCMD, IOTLB_REG/IVA).
// The descriptor formats are architectural; what each invalidation does to the caches is
// uarch/vtd-caches.ts (inv* functions).
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
  CTRL_BASE, CTRL_GSTS, CTRL_FSTS, CTRL_IQA, CTRL_IQH, CTRL_IQT, CTRL_IQERCD, CTRL_ICS, CTRL_CCMD, CTRL_IOTLB_REG, CTRL_IVA,
  REG_GCMD, REG_IQA, REG_IQT, REG_FSTS, REG_ICS, REG_CCMD, REG_IOTLB_REG, REG_IVA, IQEI_NONE, IQEI_INVALID_TAIL,
  IQEI_FETCH_ERROR, IQEI_INVALID_TYPE, IQEI_RESERVED_FIELD, IQEI_INVALID_WIDTH, IQEI_TAIL_MISALIGNED,
  C_INV_DESCRIPTORS, C_INV_WAIT_WRITES, C_INV_QUEUE_ERRORS,
} from "../../abi";
import * as regs from "./regs";
import { bump } from "./result";
import { invAll, invContext, invIotlb, invPasidIotlb, invPasidCache, totalInvalidations, cachesSyncStats } from "../../uarch/vtd-caches";
import { timeInvalidation } from "../../timing/model";
import { devTlbInvalidate } from "../../uarch/device-tlb";

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

/** A software write of `value` to register `id` (abi RegId), with the register's side effects. */
export function vtdRegWrite(id: u32, value: u64): void {
  regWrite(id, value);
  cachesSyncStats(); // invalidations show in the cache counters at once
}

function regWrite(id: u32, value: u64): void {
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
      if (bit(load<u64>(CTRL_BASE), 63)) invAll(); // CAP.ESRTPS
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
  const removedBefore = totalInvalidations();
  let fetched: u64 = 0;
  let waits: u64 = 0;
  while (head != tail) {
    const at = base + head;
    const page = gmPage(at);
    if (page == 0) {
      w64(CTRL_IQH, head);
      return queueError(IQEI_FETCH_ERROR);
    }
    const p = page + <usize>(at & 0xfff);
    const q0 = load<u64>(p), q1 = load<u64>(p, 8);
    const upper = wide ? load<u64>(p, 16) | load<u64>(p, 24) : 0;
    fetched++;
    const reason = upper != 0 ? IQEI_RESERVED_FIELD : runDescriptor(q0, q1);
    if (reason != IQEI_NONE) {
      w64(CTRL_IQH, head);
      timeInvalidation(fetched, totalInvalidations() - removedBefore, waits);
      return queueError(reason);
    }
    if ((q0 & 0xf) == 5 && (q0 & 0xe00) == 0) waits++;
    bump(C_INV_DESCRIPTORS);
    head = (head + step) % size;
  }
  w64(CTRL_IQH, head);
  timeInvalidation(fetched, totalInvalidations() - removedBefore, waits);
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
      devTlbInvalidate(<u32>field(q0, 47, 32), false, 0, q1);
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
      devTlbInvalidate(<u32>field(q0, 31, 16), !bit(q1, 0), pasid, (q1 & mask64(63, 12)) | (bit(q1, 11) ? 1 : 0));
      return IQEI_NONE;
    default:
      return IQEI_INVALID_TYPE;
  }
}
