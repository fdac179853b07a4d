/**
 * The trace event model, apart from any encoding: the TLPs (MRd, MWr, ATS) and the driver events a
 * trace interleaves with them in time order. The driver events are the architecture-neutral ones
 * (map, unmap, flush, attach, detach: what Linux's IOMMU API does, whatever the unit) and each
 * architecture's own commands (VT-d `inv`), which its trace-commands module declares (interface
 * ArchCommands below) and registers (src/trace/commands.ts). The text codec (text.ts) and the
 * binary codec (binary.ts) read and write these objects; the replay and the drivers act on them.
 */
import { smmuv3Events } from "../core/abi.ts";

export type TimeStamp = { value: number; unit: "cycles" | "ns" | "us" };

export interface TraceTlp {
  /** 1-based line number in the source. */
  line: number;
  time?: TimeStamp;
  op: "MRd" | "MWr" | "ATS";
  /** segment<<16 | bus<<8 | device<<3 | function (never negative). */
  sid: number;
  /** Present only when `pasid=` was given. */
  pasid?: number;
  priv: boolean;
  exe: boolean;
  addr: bigint;
  len: number;
  /** No-Snoop. */
  ns: boolean;
  /** Relaxed Ordering. */
  ro: boolean;
  /** ID-based Ordering. */
  ido: boolean;
  /** at=translated. */
  translated: boolean;
  /** ATS no-write (request a read-only translation). */
  nw: boolean;
  /** Present only when `expect=` was given: the fault a log recorded for this request. */
  expect?: FaultExpectation;
}

/**
 * The fault a log recorded for a request: a VT-d fault reason (the kernel's `[fault reason 0x06]`,
 * the model's `fault.code`) or an SMMUv3 event type (arm-smmu-v3 event records).
 */
export type FaultExpectation = { arch: "vtd"; code: number } | { arch: "smmuv3"; code: number };

/**
 * SMMUv3 event types by name (the catalogue in core/abi.ts, spec 7.3), the names `expect=` takes for
 * SMMUv3 faults.
 */
export const SMMU_EVENTS: Readonly<Record<string, number>> = Object.fromEntries(smmuv3Events.map((e) => [e.id, e.code]));
const SMMU_EVENT_NAMES: ReadonlyMap<number, string> = new Map(smmuv3Events.map((e) => [e.code, e.id]));

/** The name of an SMMUv3 event type; undefined for an id with no name. */
export function smmuEventName(id: number): string | undefined {
  return SMMU_EVENT_NAMES.get(id);
}

/** An expectation as `expect=` writes it: `0x06` (VT-d) or `F_TRANSLATION` (SMMUv3). */
export function formatExpectation(x: FaultExpectation): string {
  if (x.arch === "smmuv3") {
    const name = smmuEventName(x.code);
    if (name === undefined) throw new RangeError(`SMMUv3 event type 0x${x.code.toString(16)} has no name`);
    return name;
  }
  if (!Number.isInteger(x.code) || x.code < 0 || x.code > 0xff) throw new RangeError(`VT-d fault reason ${x.code} out of range (0 to 0xff)`);
  return "0x" + x.code.toString(16).padStart(2, "0");
}

/**
 * Why a memory request of `len` bytes at `addr` is malformed by crossing a 4 KiB boundary (PCIe
 * Base 2.2.7: "a Request must not specify an Address/Length combination which causes a Memory Space
 * access to cross a 4-KB boundary"); undefined when it does not cross.
 */
export function crossesPage(addr: bigint, len: number): string | undefined {
  if (Number(addr & 0xfffn) + len <= 0x1000) return undefined;
  return `malformed TLP: addr=0x${addr.toString(16)} len=${len} crosses a 4 KiB boundary (PCIe Base 2.2.7 forbids it)`;
}

/** Page sizes a `map` event may use. */
export type PageSizeName = "4K" | "2M" | "1G";
export const PAGE_BYTES: Record<PageSizeName, bigint> = { "4K": 1n << 12n, "2M": 1n << 21n, "1G": 1n << 30n };

/** Where every driver event is in its trace, and when it happens. */
export interface DriverEventBase {
  /** 1-based line number in the source. */
  line: number;
  /** 1-based column of the event keyword (map, unmap, flush, inv), for errors found when it runs. */
  column: number;
  time?: TimeStamp;
}

/** `map DOMAIN IOVA PA SIZE ...`: the driver maps [iova, iova+size) in the domain (the architecture's builder). */
export interface MapEvent extends DriverEventBase {
  op: "map";
  domain: number;
  iova: bigint;
  pa: bigint;
  size: bigint;
  /** Letters of r, w, x in that order; "rw" by default. */
  perm: string;
  page: PageSizeName;
  /** Second stage: SNP in the leaf (without it: the domain's forceSnoop). */
  snp: boolean;
  /** First stage: U/S (`sup` clears it); true by default. */
  user: boolean;
  /** First stage: G. */
  global: boolean;
  /** IOMMU_MMIO: device memory (an MSI doorbell page the driver side maps); never from a trace line. */
  mmio?: boolean;
}

/** `unmap DOMAIN IOVA SIZE`: the driver clears the leaves and invalidates as Linux does. */
export interface UnmapEvent extends DriverEventBase {
  op: "unmap";
  domain: number;
  iova: bigint;
  size: bigint;
}

/**
 * `flush [D]`: a flush point of the lazy mode's flush queues: every domain's, or domain D's only
 * (Linux fq_flush_iotlb() of D's cookie, as its timer would; src/driver/flush-queue.ts).
 */
export interface FlushEvent extends DriverEventBase {
  op: "flush";
  domain?: number;
}

/**
 * `attach BDF [pasid=N] domain=D ...`: the driver attaches the device (request-with-PASID `pasid`,
 * or the request-without-PASID entry) to domain D (the architecture's builder). The flags are VT-d's
 * AttachSpec's (`ats` and `pri` go to the context entry, so they count only when the device has
 * none yet); another architecture reads the ones it has.
 */
export interface AttachEvent extends DriverEventBase {
  op: "attach";
  /** bus<<8 | device<<3 | function (segment 0). */
  sid: number;
  pasid?: number;
  domain: number;
  ats: boolean;
  pri: boolean;
  pgsnp: boolean;
  fpd: boolean;
  sre: boolean;
  ere: boolean;
}

/**
 * `attach group=N domain=D`, `detach group=N`, `replace group=N domain=D`: the whole IOMMU group N
 * (the number `iommu-emu groups` gives it) at once, as vfio's legacy container path attaches a
 * group (Linux drivers/iommu/iommu.c iommu_attach_group, __iommu_group_set_domain): every device of
 * the group moves, each with its own entry update, or none does. No PASID form: a group is attached
 * on its devices' requests without PASID. The driver side carries them out (src/iommu/iommu.ts).
 */
export interface GroupAttachEvent extends DriverEventBase {
  op: "attach";
  group: number;
  domain: number;
}
export interface GroupDetachEvent extends DriverEventBase {
  op: "detach";
  group: number;
}
export interface GroupReplaceEvent extends DriverEventBase {
  op: "replace";
  group: number;
  domain: number;
}
export type GroupEvent = GroupAttachEvent | GroupDetachEvent | GroupReplaceEvent;
/** The largest group number a trace names. */
export const MAX_GROUP = 0xffff;

/** Whether a driver event names an IOMMU group (`attach group=N ...`) rather than a device. */
export function isGroupEvent(e: DriverEvent): e is GroupEvent {
  return "group" in e;
}

/** `detach BDF [pasid=N]`: the driver clears the attachment's entry and invalidates as Linux does. */
export interface DetachEvent extends DriverEventBase {
  op: "detach";
  sid: number;
  pasid?: number;
}

/**
 * `bind BDF DRIVER`: a driver binds to the device (src/iommu/ownership.ts): `vfio` (user space owns
 * the device's group: DMA ownership) or `kernel:NAME` (a kernel driver, DMA through the default domain).
 */
export interface BindEvent extends DriverEventBase {
  op: "bind";
  sid: number;
  /** "vfio" or "kernel:NAME" (NAME: letters, digits, `_`, `-`, `.`; 1 to 24 characters in all). */
  driver: string;
  /** vfio only (`vm=NAME`): the VM the device is assigned to (the owner token of src/iommu/pasid.ts). */
  vm?: string;
}

/** `unbind BDF`: the device's driver unbinds (a group's user ownership ends with its last vfio device). */
export interface UnbindEvent extends DriverEventBase {
  op: "unbind";
  sid: number;
}

/** Kinds of domain `domain-alloc` creates (iommufd IOMMU_HWPT_ALLOC; blocking: IOMMU_DOMAIN_BLOCKED). */
export const DOMAIN_KINDS = ["paging", "nested", "identity", "blocking"] as const;
export type DomainKind = (typeof DOMAIN_KINDS)[number];

/** `domain-alloc D KIND [format=F] [parent=P] [invalidation=strict|lazy]`: a domain allocated at run time (src/iommu/domains.ts). */
export interface DomainAllocEvent extends DriverEventBase {
  op: "domain-alloc";
  domain: number;
  kind: DomainKind;
  /** paging: the architecture's format (VT-d ss, fs; SMMUv3 s1, s2); absent: its default. */
  format?: "ss" | "fs" | "s1" | "s2";
  /** nested: the paging domain it nests over. */
  parent?: number;
  /** paging and nested: its unmaps' invalidation policy (src/driver/flush-queue.ts); absent: the platform's. */
  invalidation?: (typeof INVALIDATION_MODES)[number];
}

/** `replace BDF [pasid=N] domain=D`: the attachment moves to domain D the way the unit's driver rewrites a live entry. */
export interface ReplaceEvent extends DriverEventBase {
  op: "replace";
  sid: number;
  pasid?: number;
  domain: number;
}

/** `enforce-coherency D`: iommufd's enforce_cache_coherency on domain D (src/iommu/coherency.ts). */
export interface EnforceCoherencyEvent extends DriverEventBase {
  op: "enforce-coherency";
  domain: number;
}

/** `pasid-alloc VM [BDF]`: the VM allocates a PASID (per-device space: of the device BDF); its result line says which, or why not. */
export interface PasidAllocEvent extends DriverEventBase {
  op: "pasid-alloc";
  vm: string;
  sid?: number;
}

/** `pasid-free VM PASID [BDF]`: the VM frees a PASID it holds; where it is still attached, its entries are torn down. */
export interface PasidFreeEvent extends DriverEventBase {
  op: "pasid-free";
  vm: string;
  pasid: number;
  sid?: number;
}

/** `quota VM N`: the VM's PASID quota changes at run time. */
export interface QuotaEvent extends DriverEventBase {
  op: "quota";
  vm: string;
  quota: number;
}

/** `mdev BDF vm=NAME`: a mediated device of the parent BDF (bound to vfio) is created for the VM (src/iommu/vms.ts). */
export interface MdevEvent extends DriverEventBase {
  op: "mdev";
  sid: number;
  vm: string;
}

/**
 * `mdev-remove BDF vm=NAME`: one mediated device of the parent BDF that serves the VM is removed
 * (Linux: writing 1 to the mdev's sysfs `remove`, drivers/vfio/mdev/mdev_core.c mdev_device_remove).
 */
export interface MdevRemoveEvent extends DriverEventBase {
  op: "mdev-remove";
  sid: number;
  vm: string;
}

/** A VM's name in a trace: 1 to 24 letters, digits, _ . : or - (not starting with . : or -), so a binary extension record holds it. */
export const VM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,23}$/;
/** The largest quota: every PASID of the 20-bit space. */
export const MAX_QUOTA = 0x100000;

/** Invalidation policies `domain-alloc ... invalidation=` takes (src/driver/flush-queue.ts InvalidationMode). */
export const INVALIDATION_MODES = ["strict", "lazy"] as const;

/** Page-table formats `domain-alloc ... format=` takes. */
export const DOMAIN_FORMATS = ["ss", "fs", "s1", "s2"] as const;
/** A driver name `bind` takes: vfio or kernel:NAME. */
export const DRIVER_NAME = /^(vfio|kernel:[A-Za-z0-9_.-]{1,17})$/;

/**
 * The architectures' own driver commands, by keyword: each architecture's trace-commands module
 * adds its command's fields here (TypeScript declaration merging: `declare module
 * "../../trace/events.ts" { interface ArchCommands { inv: { inv: Invalidation } } }`), so that a
 * new architecture adds its command without editing this file.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ArchCommands {}

/** An architecture's driver command (VT-d `inv ...`): its keyword in `op`, its fields as the module declares them. */
export type ArchCommandEvent = { [K in keyof ArchCommands]: DriverEventBase & { op: K } & ArchCommands[K] }[keyof ArchCommands];

/** The architecture-neutral driver events. */
export type NeutralDriverEvent = MapEvent | UnmapEvent | FlushEvent | AttachEvent | DetachEvent | BindEvent | UnbindEvent | DomainAllocEvent | ReplaceEvent | PasidAllocEvent | PasidFreeEvent | QuotaEvent | MdevEvent | MdevRemoveEvent | EnforceCoherencyEvent | GroupEvent;
export type DriverEvent = NeutralDriverEvent | ArchCommandEvent;
export type TraceEvent = TraceTlp | DriverEvent;

export function isTlp(e: TraceEvent): e is TraceTlp {
  return e.op === "MRd" || e.op === "MWr" || e.op === "ATS";
}

export const MAX_PASID = 0xfffff;
export const MAX_LEN = 4096;
export const DEFAULT_LEN = 4;
export const MAX_ADDR = (1n << 64n) - 1n;
/** The flags of an `attach` event, in the order formatEvent writes them. */
export const ATTACH_FLAGS = ["ats", "pri", "pgsnp", "fpd", "sre", "ere"] as const;

/** "BB:DD.F" in lower-case hex, with a "SSSS:" prefix only when the segment is not 0. */
export function formatBdf(sid: number): string {
  if (!Number.isInteger(sid) || sid < 0 || sid > 0xffffffff) throw new RangeError(`sid ${sid} is not a 32-bit unsigned integer`);
  const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
  const segment = Math.floor(sid / 0x10000);
  const bdf = `${hex((sid >>> 8) & 0xff, 2)}:${hex((sid >>> 3) & 0x1f, 2)}.${sid & 7}`;
  return segment === 0 ? bdf : `${hex(segment, 4)}:${bdf}`;
}

/**
 * formatBdf's inverse: "bb:dd.f" or "ssss:bb:dd.f" (hex, as lspci and the kernel print it; device
 * 00-1f, function 0-7) as segment<<16 | bus<<8 | device<<3 | function; undefined when it is not one.
 */
export function parseBdf(text: string): number | undefined {
  const m = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/.exec(text);
  if (m === null) return undefined;
  const device = parseInt(m[3]!, 16);
  if (device > 0x1f) return undefined;
  const segment = m[1] === undefined ? 0 : parseInt(m[1], 16);
  return segment * 0x10000 + ((parseInt(m[2]!, 16) << 8) | (device << 3) | Number(m[4]));
}
