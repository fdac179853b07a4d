/**
 * The driver side of VT-d invalidation: descriptor encoders (spec 6.5.2, the layouts of
 * assembly/arch/vtd/invalidation.ts) and a queued-invalidation ring in guest memory that a driver
 * fills and hands to the hardware by moving IQT, as Linux's qi_submit_sync() does.
 */
import type { Core } from "../../core/core.ts";
import type { PageAllocator } from "../../guest/allocator.ts";

/**
 * One descriptor: qw0, qw1, and for a 256-bit descriptor optionally qw2 and qw3 (zero when absent;
 * they are reserved in every type modelled, so a non-zero value stops the queue).
 */
export type Descriptor = readonly [bigint, bigint] | readonly [bigint, bigint, bigint, bigint];

const typeBits = (t: number) => BigInt(t & 0xf) | (BigInt(t >> 4) << 9n);
const addrAm = (addr: bigint, am: number, ih: boolean) => (addr & ~0xfffn) | (ih ? 1n << 6n : 0n) | BigInt(am);

export const desc = {
  /** Type 1: context-cache invalidate; granularity 1 global, 2 domain, 3 device (SID, function mask). */
  context(g: 1 | 2 | 3, did = 0, sid = 0, fm = 0): Descriptor {
    return [typeBits(1) | (BigInt(g) << 4n) | (BigInt(did) << 16n) | (BigInt(sid) << 32n) | (BigInt(fm) << 48n), 0n];
  },
  /**
   * Type 2: IOTLB invalidate; 1 global, 2 domain, 3 page-selective (ADDR, AM, IH). `drain` sets
   * DR (bit 7) and DW (bit 6), as Linux does when CAP.DRD / CAP.DWD.
   */
  iotlb(g: 1 | 2 | 3, did = 0, addr = 0n, am = 0, ih = false, drain: { read?: boolean; write?: boolean } = {}): Descriptor {
    const dr = drain.read ? 1n << 7n : 0n, dw = drain.write ? 1n << 6n : 0n;
    return [typeBits(2) | dr | dw | (BigInt(g) << 4n) | (BigInt(did) << 16n), g === 3 ? addrAm(addr, am, ih) : 0n];
  },
  /**
   * Type 3: device-TLB invalidate of `sid`; size 2^k pages as ATS encodes it (S bit and trailing 1s).
   * `pfsid` (the physical function's SID, ECAP.DIT) goes to bits 15:12 and 63:52, `mip` to 20:16.
   */
  deviceTlb(sid: number, addr: bigint, pagesLg2 = 0, pfsid = 0, mip = 0): Descriptor {
    return [typeBits(3) | pfsidBits(pfsid) | (BigInt(mip & 0x1f) << 16n) | (BigInt(sid) << 32n), atsAddr(addr, pagesLg2)];
  },
  /** Type 4: interrupt-entry-cache invalidate (global). */
  iec(): Descriptor {
    return [typeBits(4), 0n];
  },
  /** Type 5: invalidation wait; SW writes `data` to `statusAddr`, IF sets ICS.IWC, FN fences. */
  wait(statusAddr?: bigint, data = 1, intr = false, fence = false): Descriptor {
    let q0 = typeBits(5) | (BigInt(data >>> 0) << 32n);
    if (statusAddr !== undefined) q0 |= 1n << 5n;
    if (intr) q0 |= 1n << 4n;
    if (fence) q0 |= 1n << 6n;
    return [q0, statusAddr ?? 0n];
  },
  /** Type 6: PASID-based IOTLB invalidate; 2 all non-global of (DID, PASID), 3 page-selective. */
  pasidIotlb(g: 2 | 3, did: number, pasid: number, addr = 0n, am = 0, ih = false): Descriptor {
    return [typeBits(6) | (BigInt(g) << 4n) | (BigInt(did) << 16n) | (BigInt(pasid) << 32n), g === 3 ? addrAm(addr, am, ih) : 0n];
  },
  /** Type 7: PASID-cache invalidate; 0 all PASIDs of DID, 1 one PASID of DID, 3 global. */
  pasidCache(g: 0 | 1 | 3, did = 0, pasid = 0): Descriptor {
    return [typeBits(7) | (BigInt(g) << 4n) | (BigInt(did) << 16n) | (BigInt(pasid) << 32n), 0n];
  },
  /** Type 8: PASID-based device-TLB invalidate of (sid, pasid), or all PASIDs of sid (`allPasids`). */
  pasidDeviceTlb(sid: number, pasid: number, addr: bigint, pagesLg2 = 0, allPasids = false, pfsid = 0, mip = 0): Descriptor {
    const a = atsAddr(addr, pagesLg2);
    const q0 = typeBits(8) | pfsidBits(pfsid) | (BigInt(mip & 0x1f) << 4n) | (BigInt(sid) << 16n) | (BigInt(pasid) << 32n);
    return [q0, (a & ~1n) | ((a & 1n) << 11n) | (allPasids ? 1n : 0n)];
  },
};

/** PFSID in a device-TLB descriptor: bits 3:0 at 15:12, bits 15:4 at 63:52 (Linux QI_DEV_IOTLB_PFSID). */
function pfsidBits(pfsid: number): bigint {
  return (BigInt(pfsid & 0xf) << 12n) | (BigInt((pfsid >> 4) & 0xfff) << 52n);
}

/** ATS invalidation address: S=0 for one 4 KiB page; otherwise 2^pagesLg2 pages as trailing 1s. */
function atsAddr(addr: bigint, pagesLg2: number): bigint {
  if (pagesLg2 === 0) return addr & ~0xfffn;
  const size = 1n << BigInt(12 + pagesLg2);
  const base = addr & ~(size - 1n);
  return base | ((size / 2n - 1n) & ~0xfffn) | 1n; // pagesLg2 - 1 trailing ones above bit 12, S=1
}

/** A queued-invalidation ring in guest memory (IQA), enabled through GCMD.QIE. */
export class InvalidationQueue {
  readonly base: bigint;
  readonly bytes: number;
  readonly step: number;
  private tail = 0;

  constructor(
    private readonly core: Core,
    alloc: PageAllocator,
    readonly wide = true,
    readonly sizeLg2Pages = 0,
  ) {
    this.base = alloc.alloc(1 << sizeLg2Pages, "the invalidation queue");
    this.bytes = 4096 << sizeLg2Pages;
    this.step = wide ? 32 : 16;
    core.writeRegister("IQA", this.base | (wide ? 1n << 11n : 0n) | BigInt(sizeLg2Pages));
    const gsts = core.readRegister("GSTS");
    core.writeRegister("GCMD", gsts | (1n << 26n)); // QIE
  }

  /** Descriptors the ring holds. */
  get entries(): number {
    return this.bytes / this.step;
  }

  /** Index of the slot the next descriptor goes to. */
  get tailIndex(): number {
    return this.tail / this.step;
  }

  /**
   * Writes the descriptors at the tail and moves IQT: the hardware processes them at once. At most
   * `entries - 1` descriptors at a time (a full ring would look empty).
   */
  submit(descs: readonly Descriptor[]): void {
    if (descs.length > this.entries - 1) throw new RangeError(`at most ${this.entries - 1} descriptors per submission, not ${descs.length}`);
    for (const d of descs) {
      this.writeAt(this.tail, d);
      this.tail = (this.tail + this.step) % this.bytes;
    }
    this.core.writeRegister("IQT", BigInt(this.tail));
  }

  /**
   * Recovers from FSTS.IQE as Linux's qi_check_fault() does: the descriptor at IQH (the one that
   * stopped the queue) is overwritten with `replacement`, and clearing FSTS.IQE lets the hardware
   * go on from there.
   */
  replaceHeadAndResume(replacement: Descriptor): void {
    this.writeAt(Number(this.core.readRegister("IQH")), replacement);
    this.core.writeRegister("FSTS", 1n << 4n);
  }

  private writeAt(offset: number, d: Descriptor): void {
    const [q0, q1, q2 = 0n, q3 = 0n] = d;
    if (!this.wide && (q2 | q3) !== 0n) throw new RangeError("a 128-bit descriptor queue has no qw2/qw3: they must be 0");
    this.core.writeQwords(this.base + BigInt(offset), this.wide ? [q0, q1, q2, q3] : [q0, q1]);
  }

  /** FSTS.IQE is set: the queue stopped at IQH (reason in IQERCD). */
  get error(): { reason: number; head: number } | undefined {
    if (!(this.core.readRegister("FSTS") & (1n << 4n))) return undefined;
    return { reason: Number(this.core.readRegister("IQERCD") & 0xfn), head: Number(this.core.readRegister("IQH")) };
  }
}
