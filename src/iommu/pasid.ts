/**
 * PASID allocation with per-VM quotas (issue 11; README "PASIDs and reserved regions"): the
 * driver side's PASID space, above both architectures (as Linux's global PASID IDA in
 * drivers/iommu/iommu-sva.c / iommu.c, iommu_alloc_global_pasid, sits above the vendor drivers).
 *
 * - Space. "system" (default): one PASID space for the whole system, `bits` wide (20: PASIDs
 *   0..0xfffff, PCIe Base 6.2.10.1 / VT-d spec 3.4.1), as Linux's global PASID allocator; a PASID
 *   allocated to a VM may be attached to any device. "per-device": every device has its own space
 *   (SMMUv3 substreams: SSIDs 0..2^SSIDSIZE-1 per StreamID, STE.S1CDMax), so a PASID (SSID) is
 *   allocated for one device and two devices may hold the same number.
 * - Reserved. PASID (SSID) 0 is never allocated: it is IOMMU_NO_PASID, the one requests without a
 *   PASID use (Linux IOMMU_FIRST_GLOBAL_PASID = 1; SMMU S1DSS SSID0). In the system space the
 *   RID_PASID (VT-d scalable-mode context entry RID_PASID with ECAP.RPS; 0 unless set) is reserved too.
 * - Allocation takes the lowest free PASID of the space, as ida_alloc_range does.
 * - Quotas. Each VM (an owner token, Linux's ioasid_set) has a quota, default 1000, counted over
 *   every PASID it holds (per-device: over its devices' substreams together). The quota may change
 *   at run time; a quota lowered below the VM's count keeps every PASID it holds (nothing is revoked:
 *   a PASID in use by a guest cannot be taken away under it) and refuses allocations until the count
 *   is below the quota again.
 * - Refusals are results, never exceptions: allocate and free return { ok: false, kind, reason }
 *   and count the refusal for the VM. Exceptions are for programming errors (a bad option value).
 * - Freeing a PASID only frees the number: the driver side (iommu.ts pasidFree) then has each
 *   architecture's driver tear down what is still attached there, in its Linux driver's order
 *   (ArchDriver.tearDownPasid): this module never touches hardware and names no architecture.
 */
import { formatBdf } from "../trace/events.ts";

/** Where PASIDs come from: one system-wide space, or one space per device (SMMU substreams). */
export type PasidPolicy = "system" | "per-device";
export const pasidPolicies = ["system", "per-device"] as const satisfies readonly PasidPolicy[];

/** PCIe PASIDs are 20 bits. */
export const PASID_BITS = 20;
/** A VM's quota when none is given (the issue's default). */
export const DEFAULT_PASID_QUOTA = 1000;

export interface PasidSpaceOptions {
  /** Default "system". */
  policy?: PasidPolicy;
  /** Width of the system space, and of a device's space unless deviceBits says otherwise: 1..20 (default 20). */
  bits?: number;
  /** Per-device: the SSID width of particular devices (STE.S1CDMax, at most IDR1.SSIDSIZE), by BDF. */
  deviceBits?: ReadonlyMap<number, number>;
  /** System space: the VT-d RID_PASID, reserved besides 0 (default 0). */
  ridPasid?: number;
  /** The quota of a VM added without one (default 1000). */
  defaultQuota?: number;
  /** The VMs (allocation sets) there are from the start. */
  vms?: readonly { name: string; quota?: number }[];
}

/** Why an allocate or free was refused. */
export type PasidRefusalKind = "unknown-vm" | "quota" | "exhausted" | "not-allocated" | "not-owner";

export type PasidRefusal = { ok: false; kind: PasidRefusalKind; reason: string };

/** What one VM did, for the report: current count and quota, and every refusal by kind. */
export interface VmPasidCounts {
  readonly vm: string;
  readonly quota: number;
  /** PASIDs it holds now. */
  readonly allocated: number;
  readonly allocations: number;
  readonly frees: number;
  readonly refusedQuota: number;
  readonly refusedExhausted: number;
  /** Frees of a PASID it does not hold (another VM's, or not allocated at all). */
  readonly refusedFree: number;
}

/**
 * One PASID space: which numbers are taken and by whom (a VM's index + 1; 0 free, 4 bytes per
 * PASID), lowest-free allocation from the lowest PASID that may be free.
 */
class Space {
  private readonly owners: Uint32Array;
  private lowest = 1;
  constructor(
    readonly bits: number,
    readonly reserved: readonly number[],
    private readonly names: readonly string[],
  ) {
    this.owners = new Uint32Array(2 ** bits);
  }
  get size(): number {
    return this.owners.length;
  }
  get capacity(): number {
    return this.size - this.reserved.length;
  }
  owner(p: number): string | undefined {
    const id = this.owners[p]!;
    return id ? this.names[id - 1] : undefined;
  }
  take(vmIndex: number): number | undefined {
    for (let p = this.lowest; p < this.size; p++) {
      if (this.owners[p] === 0 && !this.reserved.includes(p)) {
        this.owners[p] = vmIndex + 1;
        this.lowest = p + 1;
        return p;
      }
    }
    this.lowest = this.size;
    return undefined;
  }
  release(p: number): void {
    this.owners[p] = 0;
    if (p < this.lowest) this.lowest = p;
  }
}

interface VmState {
  /** Its place in PasidAllocator.names. */
  index: number;
  quota: number;
  allocated: number;
  allocations: number;
  frees: number;
  refusedQuota: number;
  refusedExhausted: number;
  refusedFree: number;
}

function checkCount(what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} must be an integer 0..${max}, got ${v}`);
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * The PASID space and the VMs' allocation sets. Not a hot path: allocation scans from the lowest
 * PASID that may be free.
 */
export class PasidAllocator {
  readonly policy: PasidPolicy;
  readonly bits: number;
  readonly ridPasid: number;
  readonly defaultQuota: number;
  private readonly deviceBits: ReadonlyMap<number, number>;
  private readonly system: Space | undefined;
  private readonly devices = new Map<number, Space>();
  private readonly vms = new Map<string, VmState>();
  /** The VMs' names by index, as the spaces record their owners. */
  private readonly names: string[] = [];

  constructor(opts: PasidSpaceOptions = {}) {
    this.policy = opts.policy ?? "system";
    if (!pasidPolicies.includes(this.policy)) throw new RangeError(`policy must be "system" or "per-device", got ${JSON.stringify(this.policy)}`);
    this.bits = opts.bits ?? PASID_BITS;
    checkCount("bits", this.bits, PASID_BITS);
    if (this.bits < 1) throw new RangeError("bits must be at least 1");
    this.ridPasid = opts.ridPasid ?? 0;
    checkCount("ridPasid", this.ridPasid, 2 ** this.bits - 1);
    if (this.ridPasid !== 0 && this.policy !== "system") throw new RangeError("ridPasid is VT-d's, for the system space only");
    this.defaultQuota = opts.defaultQuota ?? DEFAULT_PASID_QUOTA;
    checkCount("defaultQuota", this.defaultQuota, 2 ** PASID_BITS);
    this.deviceBits = opts.deviceBits ?? new Map();
    for (const [dev, b] of this.deviceBits) {
      checkCount(`deviceBits of ${formatBdf(dev)}`, b, PASID_BITS);
      if (b < 1) throw new RangeError(`deviceBits of ${formatBdf(dev)} must be at least 1 (a device without substreams has no PASIDs to allocate)`);
    }
    this.system = this.policy === "system" ? new Space(this.bits, this.ridPasid ? [0, this.ridPasid] : [0], this.names) : undefined;
    for (const v of opts.vms ?? []) this.addVm(v.name, v.quota);
  }

  /** A new allocation set; a name already in use is a programming error. */
  addVm(name: string, quota = this.defaultQuota): void {
    if (this.vms.has(name)) throw new Error(`VM ${JSON.stringify(name)} already exists`);
    checkCount(`the quota of VM ${JSON.stringify(name)}`, quota, 2 ** PASID_BITS);
    this.vms.set(name, { index: this.names.push(name) - 1, quota, allocated: 0, allocations: 0, frees: 0, refusedQuota: 0, refusedExhausted: 0, refusedFree: 0 });
  }

  /**
   * Changes a VM's quota at run time (the trace's `quota VM N`). Lowering it below the VM's count
   * revokes nothing; `over` says how many PASIDs the VM holds beyond the new quota.
   */
  setQuota(vm: string, quota: number): { ok: true; over: number } | PasidRefusal {
    const s = this.vms.get(vm);
    if (!s) return this.unknownVm(vm);
    checkCount(`the quota of VM ${JSON.stringify(vm)}`, quota, 2 ** PASID_BITS);
    s.quota = quota;
    return { ok: true, over: Math.max(0, s.allocated - quota) };
  }

  /**
   * Allocates the lowest free PASID for `vm`: in the system space, or (per-device) in `device`'s
   * substream space. Refused when the VM is at or over its quota (checked first, as the quota is
   * the VM's own limit), or when the space has no free PASID.
   */
  allocate(vm: string, device?: number): { ok: true; pasid: number } | PasidRefusal {
    const s = this.vms.get(vm);
    if (!s) return this.unknownVm(vm);
    const space = this.spaceFor(device, "allocate");
    if (s.allocated >= s.quota) {
      s.refusedQuota++;
      const over = s.allocated > s.quota ? ` (lowered below its count at run time; the PASIDs it holds are kept): it allocates again after freeing ${s.allocated - s.quota + 1}` : ": it allocates again after freeing one";
      return { ok: false, kind: "quota", reason: `VM ${JSON.stringify(vm)} holds ${plural(s.allocated, "PASID")} and its quota is ${s.quota}${over}` };
    }
    const pasid = space.take(s.index);
    if (pasid === undefined) {
      s.refusedExhausted++;
      return { ok: false, kind: "exhausted", reason: `${this.spaceName(device)} is exhausted: all ${space.capacity} allocatable ${this.unit(device)}s are allocated (${space.bits}-bit space; ${this.reservedText(device)})` };
    }
    s.allocated++;
    s.allocations++;
    return { ok: true, pasid };
  }

  /**
   * Frees `vm`'s `pasid` (per-device: of `device`). Refused when the PASID is not allocated,
   * reserved or out of range, or held by another VM. What is still attached at it is the driver
   * side's to tear down (ArchDriver.tearDownPasid).
   */
  free(vm: string, pasid: number, opts: { device?: number } = {}): { ok: true } | PasidRefusal {
    const s = this.vms.get(vm);
    if (!s) return this.unknownVm(vm);
    const space = this.spaceFor(opts.device, "free");
    const name = `${this.unit(opts.device)} ${pasid}${opts.device !== undefined && this.policy === "per-device" ? ` of ${formatBdf(opts.device)}` : ""}`;
    const refuse = (reason: string, kind: PasidRefusalKind = "not-allocated"): PasidRefusal => {
      s.refusedFree++;
      return { ok: false, kind, reason };
    };
    if (!Number.isInteger(pasid) || pasid < 0 || pasid >= space.size) return refuse(`${name} is out of range: the ${space.bits}-bit space holds 0..${space.size - 1}`);
    if (space.reserved.includes(pasid)) return refuse(`${name} is reserved (${pasid === 0 ? "requests without a PASID use it" : "the RID_PASID"}): it is never allocated`);
    const owner = space.owner(pasid);
    if (owner === undefined) return refuse(`${name} is not allocated`);
    if (owner !== vm) return refuse(`${name} belongs to VM ${JSON.stringify(owner)}, not to VM ${JSON.stringify(vm)}`, "not-owner");
    space.release(pasid);
    s.allocated--;
    s.frees++;
    return { ok: true };
  }

  /** The VM holding `pasid` (per-device: of `device`), if any. */
  ownerOf(pasid: number, device?: number): string | undefined {
    const space = this.spaceFor(device, "look up");
    return Number.isInteger(pasid) && pasid >= 0 && pasid < space.size ? space.owner(pasid) : undefined;
  }

  /** Per VM, in the order the VMs were added. */
  counts(): VmPasidCounts[] {
    return [...this.vms.keys()].map((vm) => this.countsOf(vm)!);
  }

  countsOf(vm: string): VmPasidCounts | undefined {
    const s = this.vms.get(vm);
    if (!s) return undefined;
    const { index: _, ...counts } = s;
    return { vm, ...counts };
  }

  private spaceFor(device: number | undefined, what: string): Space {
    if (this.system) return this.system;
    if (device === undefined) throw new Error(`per-device PASIDs: ${what} needs the device whose substream space it is`);
    let space = this.devices.get(device);
    if (!space) {
      space = new Space(this.deviceBits.get(device) ?? this.bits, [0], this.names);
      this.devices.set(device, space);
    }
    return space;
  }

  private unit(device: number | undefined): string {
    return this.policy === "system" || device === undefined ? "PASID" : "SSID";
  }

  private spaceName(device: number | undefined): string {
    return this.policy === "system" ? "the system PASID space" : `the substream space of ${formatBdf(device!)}`;
  }

  private reservedText(device: number | undefined): string {
    const u = this.unit(device);
    return this.ridPasid ? `PASID 0 and RID_PASID ${this.ridPasid} reserved` : `${u} 0 reserved`;
  }

  private unknownVm(vm: string): PasidRefusal {
    const known = [...this.vms.keys()].map((n) => JSON.stringify(n));
    return { ok: false, kind: "unknown-vm", reason: `no VM ${JSON.stringify(vm)} (${known.length ? `VMs: ${known.join(", ")}` : "no VMs are defined"})` };
  }
}

/** The per-VM lines of a run summary: allocated, refused (by quota or an exhausted space), freed, held. */
export function formatVmCounts(counts: readonly VmPasidCounts[]): string {
  const lines = counts.map((c) => {
    const refused = c.refusedQuota + c.refusedExhausted;
    const why = refused ? ` (${[c.refusedQuota ? `${c.refusedQuota} over quota` : "", c.refusedExhausted ? `${c.refusedExhausted} space exhausted` : ""].filter(Boolean).join(", ")})` : "";
    return `  ${c.vm}: ${c.allocations} allocated, ${refused} refused${why}, ${c.frees} freed, ${c.allocated} held, quota ${c.quota}${c.refusedFree ? `, ${c.refusedFree} frees refused` : ""}`;
  });
  return ["PASIDs per VM:", ...lines].join("\n");
}
