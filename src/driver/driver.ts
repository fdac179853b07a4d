/**
 * What every architecture's driver is to the replay: it carries out a trace's driver events (the
 * neutral map, unmap, flush, attach, detach and the architecture's own commands) at trace time, and
 * keeps Linux's lazy flush queue (flush-queue.ts) whose timer the replay fires between TLPs.
 */
import type { DriverEvent, TraceTlp } from "../trace/events.ts";
import type { Result } from "../core/core.ts";
import { defaultLimits, type Limits } from "../config/limits.ts";
import { defaultFlushQueueOptions, type DomainModes, type EventOrigin, type FlushQueueOptions, type FlushQueueStats, type InvalidationMode } from "./flush-queue.ts";

export type { DomainModes, EventOrigin, FlushReason, InvalidationMode } from "./flush-queue.ts";

export interface DriverOptions extends FlushQueueOptions {
  /** Budgets for map (tablePages) and attach (devices, pasids, cacheEntries): config/limits.ts. */
  limits: Limits;
}

export const defaultDriverOptions: DriverOptions = { ...defaultFlushQueueOptions, limits: defaultLimits };

/** A driver event that cannot be carried out (unknown domain, overlapping mapping, ...): a refusal. */
export class DriverError extends Error {
  override name = "DriverError";
}

/**
 * A driver event that names what the scenario does not have (an IOMMU group number the topology
 * does not give): an input error at the event, never a refusal, whatever `refusals` says.
 */
export class EventInputError extends Error {
  override name = "EventInputError";
}

export interface DriverStats extends FlushQueueStats {
  maps: number;
  unmaps: number;
  attaches: number;
  detaches: number;
  /** The architecture's own commands (VT-d `inv` events). */
  invs: number;
  /** Commands written to the unit's queue (VT-d: invalidation descriptors, waits included; not the replacements after a queue error). */
  queuedDescriptors: number;
  /** Register-based invalidations (VT-d CCMD, IOTLB_REG); the core counts them in invDescriptors too. */
  registerInvalidations: number;
}

export interface ArchDriver {
  readonly options: DriverOptions;
  readonly stats: DriverStats;
  /** Carries out a trace's driver event at trace time `now` (cycles); a DriverError when it cannot. */
  apply(e: DriverEvent, now: bigint): void;
  /** Trace time moves to `t`: the flush queue's timer may fire. */
  advanceTo(t: bigint): void;
  /** When the flush queue's timer fires next (cycles); undefined when nothing is deferred. */
  readonly deadline: bigint | undefined;
  /** Where the oldest deferred unmap is in the trace. */
  readonly firstDeferred: EventOrigin | undefined;
  /** End of the trace: nothing stays deferred. */
  finish(): void;
  /** The domains whose invalidation policy is not the platform's (the summary's heading and `domainModes`). */
  domainModes(): DomainModes;
  /**
   * The domain operations the driver side above the architectures (src/iommu, as Linux's
   * iommu.c over the vendor drivers) uses; a DriverError when the unit cannot do them.
   */
  /** iommu_domain_alloc: a domain the trace allocates at run time (domain-alloc). */
  allocDomain(spec: DomainAllocSpec): void;
  /** Whether the unit has a domain of this id (the scenario's or one allocDomain made). */
  hasDomain(id: number): boolean;
  /** The blocking domain on the device's requester ID: its PASID attachments go, all its DMA is refused. */
  block(sid: number): void;
  /** Replaces the domain of a live attachment the way the architecture's Linux driver does (attach when nothing is attached). */
  replace(sid: number, pasid: number | undefined, domain: number): void;
  /** The domain attached to the device's requester ID (or to `pasid`); undefined when none (blocked or never attached). */
  attachedDomain(sid: number, pasid?: number): number | undefined;
  /**
   * The result of a TLP as the driver side reports it (src/iommu: `blocked` for a request of a
   * device its owner keeps blocked, from the core's isBlockedForm result); absent: as decoded.
   */
  outcome?(tlp: TraceTlp, r: Result): Result;
  /** Whether a result is the form this unit gives a request of a blocked device (the core's report, never a re-translation). */
  isBlockedForm(r: Result): boolean;
  /**
   * enforce_cache_coherency on a domain (src/iommu/iommu.ts `enforce-coherency`): the unit's driver
   * makes later DMA through it ignore No-Snoop (VT-d SNP/PGSNP; SMMUv3 nothing to write, CANWBS),
   * or gives the reason it refuses; a DriverError for a domain without page tables.
   */
  enforceCoherency(domain: number): string | undefined;
  /** enforceCoherency succeeded on the domain (or the scenario built it so: VT-d forceSnoop). */
  coherencyEnforced(domain: number): boolean;
  /** Why the unit cannot keep `sid`'s No-Snoop DMA coherent (VT-d ECAP.SC=0; SMMUv3 no CANWBS); undefined when it can. */
  coherencyProblem(sid: number): string | undefined;
  /**
   * The paging domain whose page tables hold the MSI doorbell pages of a device attached to
   * `domain` (src/iommu: a platform with a software MSI window): the domain itself, or a nested
   * domain's parent; undefined when it has none. Absent: the domain itself.
   */
  msiDomain?(domain: number): number | undefined;
  /** What the last driver event carried out gives back for its result line (pasid-alloc: the PASID); taken once. */
  takeNote?(): DriverNote | undefined;
  /** The width of the device's own PASID space (SMMUv3: its stream's SubstreamID bits, STE.S1CDMax); absent: no per-device width. */
  pasidBits?(sid: number): number;
  /**
   * A freed PASID still attached on the device (src/iommu/iommu.ts `pasid-free`): the unit's driver
   * tears its entry down and issues the invalidations in its Linux driver's order (VT-d
   * intel_pasid_tear_down_entry; SMMUv3 arm_smmu_clear_cd, TLBI by ASID, ATC), and returns the
   * steps it carried out; undefined when nothing is attached at the PASID.
   */
  tearDownPasid?(sid: number, pasid: number): readonly PasidTeardownStep[] | undefined;
}

/** One step of a PASID teardown, as the architecture's driver took it (its `op`: an entry cleared, an invalidation, a barrier). */
export interface PasidTeardownStep {
  readonly op: string;
}

/** The fields a carried-out driver event adds to its `ok` result line (`{ vm, pasid }` of a pasid-alloc). */
export type DriverNote = Readonly<Record<string, string | number | readonly string[]>>;

/** What `domain-alloc` asks for, in neutral terms; `format` is the architecture's page-table format name. */
export interface DomainAllocSpec {
  id: number;
  kind: "paging" | "nested" | "identity";
  /** paging: VT-d "ss" (default) or "fs"; SMMUv3 "s1" (default) or "s2". */
  format?: string;
  /** nested: the paging domain (VT-d second stage, SMMUv3 stage 2) it nests over. */
  parent?: number;
  /** paging and nested: how its unmaps are invalidated; absent: the platform's policy. */
  invalidation?: InvalidationMode;
}
