/**
 * The driver side of VT-d invalidation: descriptor encoders (spec 6.5.2, the layouts of
 * assembly/arch/vtd/invalidation.ts) and a queued-invalidation ring in guest memory that a driver
 * fills and hands to the hardware by moving IQT, as Linux's qi_submit_sync() does.
 */
import type { Core } from "../core/core.ts";
import type { PageAllocator } from "./vtd-builder.ts";

/** One descriptor: qw0, qw1 (qw2 and qw3 are zero for every type modelled). */
export type Descriptor = readonly [bigint, bigint];

const typeBits = (t: number) => BigInt(t & 0xf) | (BigInt(t >> 4) << 9n);
const addrAm = (addr: bigint, am: number, ih: boolean) => (addr & ~0xfffn) | (ih ? 1n << 6n : 0n) | BigInt(am);

export const desc = {
  /** Type 1: context-cache invalidate; granularity 1 global, 2 domain, 3 device (SID, function mask). */
  context(g: 1 | 2 | 3, did = 0, sid = 0, fm = 0): Descriptor {
    return [typeBits(1) | (BigInt(g) << 4n) | (BigInt(did) << 16n) | (BigInt(sid) << 32n) | (BigInt(fm) << 48n), 0n];
  },
  /** Type 2: IOTLB invalidate; 1 global, 2 domain, 3 page-selective (ADDR, AM, IH). */
  iotlb(g: 1 | 2 | 3, did = 0, addr = 0n, am = 0, ih = false): Descriptor {
    return [typeBits(2) | (BigInt(g) << 4n) | (BigInt(did) << 16n), g === 3 ? addrAm(addr, am, ih) : 0n];
  },
  /** Type 3: device-TLB invalidate of `sid`; size 2^k pages as ATS encodes it (S bit and trailing 1s). */
  deviceTlb(sid: number, addr: bigint, pagesLg2 = 0): Descriptor {
    return [typeBits(3) | (BigInt(sid) << 32n), atsAddr(addr, pagesLg2)];
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
  pasidDeviceTlb(sid: number, pasid: number, addr: bigint, pagesLg2 = 0, allPasids = false): Descriptor {
    const a = atsAddr(addr, pagesLg2);
    return [typeBits(8) | (BigInt(sid) << 16n) | (BigInt(pasid) << 32n), (a & ~1n) | ((a & 1n) << 11n) | (allPasids ? 1n : 0n)];
  },
};

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
    this.base = alloc.alloc(1 << sizeLg2Pages);
    this.bytes = 4096 << sizeLg2Pages;
    this.step = wide ? 32 : 16;
    core.writeRegister("IQA", this.base | (wide ? 1n << 11n : 0n) | BigInt(sizeLg2Pages));
    const gsts = core.readRegister("GSTS");
    core.writeRegister("GCMD", gsts | (1n << 26n)); // QIE
  }

  /** Writes the descriptors at the tail and moves IQT: the hardware processes them at once. */
  submit(descs: readonly Descriptor[]): void {
    for (const [q0, q1] of descs) {
      const at = this.base + BigInt(this.tail);
      this.core.writeQwords(at, this.wide ? [q0, q1, 0n, 0n] : [q0, q1]);
      this.tail = (this.tail + this.step) % this.bytes;
    }
    this.core.writeRegister("IQT", BigInt(this.tail));
  }

  /** FSTS.IQE is set: the queue stopped at IQH (reason in IQERCD). */
  get error(): { reason: number; head: number } | undefined {
    if (!(this.core.readRegister("FSTS") & (1n << 4n))) return undefined;
    return { reason: Number(this.core.readRegister("IQERCD") & 0xfn), head: Number(this.core.readRegister("IQH")) };
  }
}
