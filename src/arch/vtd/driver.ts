/**
 * The VT-d driver at run time: what Linux's intel-iommu driver does when a trace says `map`,
 * `unmap`, `flush` or `inv` (trace text format v1). It changes the tables through the builder and
 * invalidates through an invalidation queue it creates in guest memory, in Linux's order
 * (drivers/iommu/intel/cache.c, dmar.c qi_submit_sync(), drivers/iommu/dma-iommu.c flush queue).
 *
 * Linux's bookkeeping, as modelled here:
 * - Cache tags (cache.c cache_tag_assign_domain): every attachment of a device (and PASID) to a
 *   domain gives the domain an IOTLB tag (DID, PASID) and, when the device uses ATS, a DEVTLB tag
 *   (device, PASID); attaching to a nested domain also gives its second-stage parent a
 *   NESTING_IOTLB tag with the nested domain's DID and a NESTING_DEVTLB tag. Equal tags are shared
 *   (reference counted); the list keeps assignment order.
 * - Unmap, strict (iommu.strict=1; cache_tag_flush_range with IH=1, since the tables stay): for each
 *   tag in order, IOTLB tags give a page-selective IOTLB invalidation (type 2, DR/DW as CAP.DRD/DWD)
 *   of the smallest naturally aligned 2^AM-page range covering the unmapped leaves, or a domain-
 *   selective one when CAP.PSI=0 or AM > CAP.MAMV; on a first-stage domain a PASID-based one
 *   (type 6) for the tag's PASID instead. DEVTLB tags give a device-TLB invalidation of the same
 *   range (type 3 without PASID, type 8 with), NESTING_DEVTLB tags one of every address. Every 16
 *   descriptors (QI_MAX_BATCHED_DESC_COUNT) and at the end, the batch is submitted with a wait
 *   descriptor that writes QI_DONE (2) to the status slot of its queue index (qi_submit_sync).
 * - Unmap, lazy (Linux's flush queue): the leaves are cleared at once, the invalidation is
 *   deferred; the queue is flushed (cache_tag_flush_all of each domain with deferred unmaps:
 *   domain-selective IOTLB invalidation, PASID-based all-in-PASID on a first-stage domain,
 *   device-TLB invalidation of every address, then a wait, per domain) when it holds `lazyBatch`
 *   unmaps, when the trace time reaches `lazyTimeoutCycles` after the oldest deferred unmap, at a
 *   `flush` event and at the end of the trace.
 * - Map with CAP.CM=1 (cache_tag_flush_range_np): the same IOTLB invalidations as an unmap (IH=0),
 *   no device-TLB ones, for second-stage and nested domains (spec 6.1: first-stage mappings need
 *   none); a nested domain's new table pages, mapped into its parent, are invalidated there.
 * - A descriptor that stops the queue (FSTS.IQE) is replaced by the batch's wait descriptor (a bare
 *   wait when there is none) and the queue resumes, as qi_check_fault() does.
 * - Attach (a not-present to present change of the context entry, if the device had none, and of
 *   the PASID-table entry): with CAP.CM=1 the unit may cache not-present entries, in domain 0, so
 *   the driver invalidates them there, as Linux's context setup does: context cache device-selective
 *   (DID 0, only when the context entry is new), PASID cache PASID-selective (DID 0; scalable mode),
 *   IOTLB domain-selective DID 0, then a wait. With CAP.CM=0 nothing (spec 6.1).
 * - Detach (intel_pasid_tear_down_entry(); legacy domain_context_clear_one() ->
 *   intel_context_flush_no_pasid()): the entry is cleared, then PASID cache PASID-selective with the
 *   old DID, PASID-based IOTLB all-in-PASID (first-stage and pass-through) or domain-selective IOTLB
 *   (second-stage and nested), device-TLB of every address (ATS), a wait; legacy: context cache
 *   device-selective (old DID), domain-selective IOTLB, device-TLB, a wait. Linux submits each of
 *   these with its own wait; the model batches them with one (one wait per attach/detach).
 * - Without ECAP.QI the IOTLB invalidations go through IOTLB_REG/IVA (__iommu_flush_iotlb) and there
 *   are no queued ones (device-TLB and PASID-based invalidations need the queue).
 */
import type { PlatformParts } from "../types.ts";
import { AllocationError, type AttachSpec, type Attachment, type Domain, type MapOptions, type VtdBuilder } from "./builder.ts";
import { desc, InvalidationQueue, type Descriptor } from "./invalidation.ts";
import { capFields, ecapFields, getField } from "./registers.ts";
import { formatBdf, PAGE_BYTES, isGroupEvent, type AttachEvent, type DriverEvent, type MapEvent } from "../../trace/events.ts";
import type { Invalidation } from "./trace-commands.ts";
import { vtdTeardownSteps, type VtdPasidAttachment, type VtdTeardownStep } from "./pasid-teardown.ts";
import { attachBudgetProblem, levelsProblem, mapBudgetProblem, rangeProblem } from "./checks.ts";
import { FlushQueueDriver, FlushQueue, newFlushQueueStats, type EventOrigin, type FlushReason } from "../../driver/flush-queue.ts";
import { DriverError, defaultDriverOptions, type ArchDriver, type DomainAllocSpec, type DriverOptions, type DriverStats } from "../../driver/driver.ts";
import type { Result } from "../../core/core.ts";
import { vtdFaults } from "../../core/abi.ts";

export { DriverError, defaultDriverOptions, type DriverOptions, type DriverStats } from "../../driver/driver.ts";
export type { EventOrigin, FlushReason, InvalidationMode } from "../../driver/flush-queue.ts";

/** Linux QI_MAX_BATCHED_DESC_COUNT: a batch is submitted (with its wait) when it holds this many. */
const QI_BATCH = 16;
/** Linux QI_DONE: what the wait descriptor writes to its status slot. */
const QI_DONE = 2;
/** Linux MAX_AGAW_PFN_WIDTH: a device-TLB invalidation of 2^52 pages covers every address. */
const ALL_PAGES_LG2 = 52;

/** The fault reasons of a request whose root, context, PASID-directory or PASID-table entry is not present. */
const NOT_PRESENT: ReadonlySet<number> = new Set(vtdFaults.filter((f) => ["LRT.2", "LCT.2", "SRT.2", "SCT.2", "SPD.2", "SPT.2"].includes(f.id)).map((f) => f.code));

type TagType = "iotlb" | "devtlb" | "nestingIotlb" | "nestingDevtlb";

/** A Linux cache tag (cache.c struct cache_tag). */
interface CacheTag {
  type: TagType;
  did: number;
  /** The attachment's PASID; undefined for the request-without-PASID entry (IOMMU_NO_PASID). */
  pasid: number | undefined;
  /** The PASID-table entry the IOTLB entries are tagged with (RID_PASID for requests without PASID). */
  pasidEntry: number;
  sid: number;
  users: number;
}

/**
 * Linux calculate_psi_aligned_address(): the smallest naturally aligned range of 2^mask 4 KiB pages
 * that covers [start, end] (inclusive).
 */
export function psiRange(start: bigint, end: bigint): { addr: bigint; mask: number } {
  const s = start >> 12n, e = end >> 12n;
  let mask = 0;
  while (mask < ALL_PAGES_LG2 && s >> BigInt(mask) !== e >> BigInt(mask)) mask++;
  return { addr: (start >> BigInt(12 + mask)) << BigInt(12 + mask), mask };
}

export class VtdDriver extends FlushQueueDriver<Domain> implements ArchDriver {
  readonly options: DriverOptions;
  readonly stats: DriverStats;
  private q?: InvalidationQueue;
  /** Guest-physical page of the wait descriptors' status slots (Linux qi->desc_status), 4 bytes per queue index. */
  private statusPage = 0n;
  private batch: Descriptor[] = [];
  /** Linux's flush queues (lazy mode), one per domain; a queue's flush invalidates its domain. */
  protected readonly fq: FlushQueue<Domain>;
  /** The trace event apply() is carrying out. */
  private origin?: EventOrigin;

  private readonly cap: bigint;
  private readonly ecap: bigint;

  constructor(
    readonly platform: PlatformParts<VtdBuilder>,
    options: Partial<DriverOptions> = {},
  ) {
    super();
    this.options = { ...defaultDriverOptions, ...options };
    const { flushes, flushReasons, deferredUnmaps } = newFlushQueueStats();
    this.stats = { maps: 0, unmaps: 0, attaches: 0, detaches: 0, invs: 0, flushes, flushReasons, deferredUnmaps, queuedDescriptors: 0, registerInvalidations: 0 };
    // A domain's queue flush invalidates everything of that domain (cache_tag_flush_all).
    this.fq = new FlushQueue<Domain>(this.options, (d) => this.flushAll(d), this.stats);
    this.cap = platform.core.getRegister("CAP");
    this.ecap = platform.core.getRegister("ECAP");
  }

  protected policyDomains(): Iterable<Domain> {
    return this.platform.builder.domains.values();
  }

  private capField(name: keyof typeof capFields): number {
    return Number(getField(this.cap, capFields[name]));
  }
  private ecapField(name: keyof typeof ecapFields): number {
    return Number(getField(this.ecap, ecapFields[name]));
  }

  /** Queued invalidation is available (ECAP.QI). */
  get queued(): boolean {
    return this.ecapField("QI") === 1;
  }

  /** 256-bit descriptors: scalable mode on a unit with ECAP.SMTS (Linux sm_supported()). */
  get wide(): boolean {
    return this.platform.builder.mode === "scalable" && this.ecapField("SMTS") === 1;
  }

  // ---- events ---------------------------------------------------------------------------------

  /** Carries out a trace's driver event at trace time `now` (cycles). */
  apply(e: DriverEvent, now: bigint): void {
    this.origin = { line: e.line, column: e.column };
    this.advanceTo(now);
    if (isGroupEvent(e)) throw new DriverError(`${e.op} group=${e.group} is the driver side's event (src/iommu/iommu.ts IommuLayer, over this driver), not the VT-d driver's`);
    switch (e.op) {
      case "map":
        return this.map(e.domain, e.iova, e.pa, e.size, mapOptions(e));
      case "unmap":
        return this.unmap(e.domain, e.iova, e.size);
      case "flush":
        return this.flushEvent(e.domain === undefined ? undefined : this.domain(e.domain));
      case "inv":
        return this.invalidate(e.inv);
      case "attach":
        return this.attach(attachSpec(e));
      case "detach":
        return this.detach(e.sid, e.pasid);
      case "bind":
      case "unbind":
      case "domain-alloc":
      case "enforce-coherency":
      case "replace":
        throw new DriverError(`${e.op} is the driver side's event (src/iommu/iommu.ts IommuLayer, over this driver), not the VT-d driver's`);
      default:
        throw new DriverError(`${e.op} is another architecture's driver command, not VT-d's`);
    }
  }


  private domain(id: number): Domain {
    const d = this.platform.builder.domains.get(id);
    if (d === undefined) {
      const ids = [...this.platform.builder.domains.keys()];
      throw new DriverError(`no domain ${id}; ${ids.length ? `the scenario defines ${ids.join(", ")}` : "the scenario defines no domains"}`);
    }
    if (d.type === "pt") throw new DriverError(`domain ${id} is pass-through: it has no page tables`);
    return d;
  }

  /** iommu_map(): writes the leaves; with CAP.CM=1 invalidates the not-present entries it replaced. */
  map(domainId: number, iova: bigint, pa: bigint, size: bigint, opts: MapOptions = {}): void {
    const d = this.domain(domainId);
    const b = this.platform.builder;
    const pageSize = opts.pageSize ?? PAGE_BYTES["4K"];
    const problem = rangeProblem(d, { iova, size, pa, pageSize }, this.cap) ?? mapBudgetProblem(d.levels, iova, size, pageSize, this.options.limits);
    if (problem) throw new DriverError(problem);
    const cm = this.capField("CM") === 1;
    const parentMaps: { parent: Domain; gpa: bigint; size: bigint }[] = [];
    if (cm) b.onParentMap = (parent, gpa, bytes) => parentMaps.push({ parent, gpa, size: bytes });
    try {
      b.map(d, iova, pa, size, opts);
    } catch (e) {
      throw driverError(e);
    } finally {
      b.onParentMap = undefined;
    }
    this.stats.maps++;
    if (!cm) return;
    for (const m of parentMaps) this.flushRangeNp(m.parent, m.gpa, m.gpa + m.size - 1n);
    this.flushRangeNp(d, iova, iova + size - 1n);
  }

  /** iommu_unmap(): clears the leaves, then invalidates at once (strict) or defers it (lazy). */
  unmap(domainId: number, iova: bigint, size: bigint): void {
    const d = this.domain(domainId);
    const problem = rangeProblem(d, { iova, size, pageSize: PAGE_BYTES["4K"] }, this.cap);
    if (problem) throw new DriverError(problem);
    let r: { start?: bigint; end?: bigint };
    try {
      r = this.platform.builder.unmapRange(d, iova, size);
    } catch (e) {
      throw driverError(e);
    }
    this.stats.unmaps++;
    if (r.start === undefined || r.end === undefined) return; // nothing was mapped: nothing to invalidate
    if (this.lazyFor(d)) this.fq.defer(d, this.origin);
    else this.flushRange(d, r.start, r.end, true);
  }

  /**
   * Attaches a device (and PASID) to a domain at run time: the builder writes the entries; with
   * CAP.CM=1 the not-present entries the unit may have cached (in domain 0) are invalidated.
   */
  attach(spec: AttachSpec): void {
    const b = this.platform.builder;
    const what = `${formatBdf(spec.sid)}${spec.pasid !== undefined ? ` PASID ${spec.pasid}` : ""}`;
    if (!b.domains.has(spec.domain)) {
      const ids = [...b.domains.keys()];
      throw new DriverError(`no domain ${spec.domain}; ${ids.length ? `the scenario defines ${ids.join(", ")}` : "the scenario defines no domains"}`);
    }
    const d = b.domains.get(spec.domain)!;
    const levels = levelsProblem(d.type, d.levels, this.cap);
    if (levels) throw new DriverError(`domain ${d.id}: ${levels}`);
    const parentLevels = d.parent && levelsProblem(d.parent.type, d.parent.levels, this.cap);
    if (parentLevels) throw new DriverError(`domain ${d.id}'s parent, domain ${d.parent!.id}: ${parentLevels}`);
    if (b.entryOf(spec.sid, spec.pasid)?.present)
      throw new DriverError(`${what} is already attached; detach it first, or replace its domain (replace)`);
    const budget = attachBudgetProblem(b.counts, { sid: spec.sid, bdf: formatBdf(spec.sid), ...b.attachTarget(spec) }, this.platform.caches, this.options.limits);
    if (budget) throw new DriverError(budget);
    let r: { attachment: Attachment; newContext: boolean };
    try {
      r = b.attach(spec);
    } catch (e) {
      throw driverError(e);
    }
    this.stats.attaches++;
    if (this.capField("CM") !== 1) return;
    const sid = spec.sid & 0xffff;
    if (r.newContext) this.flushContextDevice(0, sid);
    if (b.mode === "scalable" && this.queued) this.add(desc.pasidCache(1, 0, r.attachment.pasidEntry ?? 0));
    this.flushIotlbDomain(0);
    this.batchFlush();
  }

  /** Detaches a device (and PASID): the builder clears the entry, then Linux's teardown invalidations. */
  detach(sid: number, pasid?: number): void {
    let a: Attachment;
    try {
      a = this.platform.builder.detach(sid, pasid);
    } catch (e) {
      throw driverError(e);
    }
    this.stats.detaches++;
    const did = a.domain.id;
    const devtlb: CacheTag = { type: "devtlb", did, pasid: a.pasid, pasidEntry: a.pasidEntry ?? 0, sid: a.sid & 0xffff, users: 1 };
    if (a.pasidEntry === undefined) {
      // legacy: intel_context_flush_no_pasid()
      this.flushContextDevice(did, a.sid & 0xffff);
      this.flushIotlbDomain(did);
    } else {
      // intel_pasid_tear_down_entry()
      if (this.queued) this.add(desc.pasidCache(1, did, a.pasidEntry));
      if (a.domain.type === "fs" || a.domain.type === "pt") {
        if (this.queued) this.add(desc.pasidIotlb(2, did, a.pasidEntry));
      } else this.flushIotlbDomain(did);
    }
    if (a.ats) this.flushDevtlb(devtlb, 0n, ALL_PAGES_LG2);
    this.batchFlush();
  }

  // ---- the driver side's domain operations (src/iommu) ------------------------------------------

  /** intel_iommu_domain_alloc_paging_flags: paging is second stage ("ss", default) or first stage ("fs"); nested over a second stage. */
  allocDomain(spec: DomainAllocSpec): void {
    const type = spec.kind === "identity" ? "pt" : spec.kind === "nested" ? "nested" : (spec.format ?? "ss");
    if (type !== "ss" && type !== "fs" && type !== "pt" && type !== "nested")
      throw new DriverError(`domain-alloc ${spec.id}: VT-d paging formats are ss and fs, not "${spec.format}"`);
    if (this.platform.builder.domains.has(spec.id)) throw new DriverError(`domain-alloc ${spec.id}: domain ${spec.id} exists already`);
    if (spec.invalidation !== undefined && type === "pt") throw new DriverError(`domain-alloc ${spec.id}: an identity domain has no mappings to unmap, so no invalidation policy`);
    try {
      const d = this.platform.builder.createDomain({ id: spec.id, type, ...(spec.parent !== undefined ? { parent: spec.parent } : {}) });
      if (spec.invalidation !== undefined) d.invalidation = spec.invalidation;
    } catch (e) {
      throw driverError(e);
    }
  }

  /**
   * blocking_domain_attach_dev -> device_block_translation: every PASID entry of the device torn
   * down (intel_pasid_tear_down_entry), then its RID_PASID entry (scalable) or its context entry
   * (legacy, domain_context_clear_one); each with the detach invalidations. A request of the
   * device then finds a not-present entry (isBlockedForm).
   */
  block(sid: number): void {
    const b = this.platform.builder;
    const entries = new Set(b.attachments.filter((a) => a.sid === sid).map((a) => a.pasid));
    for (const pasid of entries) if (pasid !== undefined && b.entryOf(sid, pasid)?.present) this.detach(sid, pasid);
    if (b.entryOf(sid)?.present && b.attachments.some((a) => a.sid === sid)) this.detach(sid);
  }

  /**
   * Replaces the domain of a live attachment. Scalable mode (Linux's intel_pasid_replace_* in
   * drivers/iommu/intel/pasid.c; the order checked against the source of intel_pasid_flush_present): the new PASID-table entry is
   * written over the present one, then intel_pasid_flush_present with the old DID, which follows
   * the spec's guidance for a present PASID entry that changes (6.5.3.3): PASID-cache
   * PASID-selective-within-domain, PASID-based IOTLB of the whole PASID, then (ATS) device-TLB of
   * every address, each its own qi_submit_sync (descriptor and wait). Legacy mode: the context entry is cleared with its
   * invalidations (device_block_translation), then the new domain attached.
   */
  replace(sid: number, pasid: number | undefined, domain: number): void {
    const b = this.platform.builder;
    const old = this.liveAttachment(sid, pasid);
    if (old === undefined) return this.attach({ sid, domain, ...(pasid !== undefined ? { pasid } : {}) });
    if (old.domain.id === domain) return;
    if (!b.domains.has(domain)) this.domain(domain);
    if (b.mode === "legacy") {
      this.detach(sid);
      this.onEntryStep?.("blocked");
      return this.attach({ sid, domain, ...(old.ats ? { ats: true } : {}) });
    }
    b.attachments.splice(b.attachments.indexOf(old), 1);
    try {
      b.attach({ sid, domain, ...(pasid !== undefined ? { pasid } : {}) });
    } catch (err) {
      b.attachments.push(old);
      throw driverError(err);
    }
    this.stats.attaches++;
    this.onEntryStep?.("entry");
    this.flushPresent(old);
  }

  /** intel_pasid_flush_present: a present PASID-table entry of `a` changed (its DID is the one it had). */
  private flushPresent(a: Attachment): void {
    const did = a.domain.id, pe = a.pasidEntry!;
    if (!this.queued) return; // PASID-cache and PASID-based invalidations need the queue
    this.add(desc.pasidCache(1, did, pe));
    this.batchFlush();
    this.onEntryStep?.("pasid-cache");
    this.add(desc.pasidIotlb(2, did, pe));
    this.batchFlush();
    this.onEntryStep?.("piotlb");
    if (a.ats) {
      this.flushDevtlb({ type: "devtlb", did, pasid: a.pasid, pasidEntry: pe, sid: a.sid & 0xffff, users: 1 }, 0n, ALL_PAGES_LG2);
      this.batchFlush();
      this.onEntryStep?.("devtlb");
    }
  }

  /**
   * intel_iommu_enforce_cache_coherency (drivers/iommu/intel/iommu.c, checked against the source, the version with has_mappings): refused when a
   * device attached to the domain sits behind a unit without snoop control
   * (domain_support_force_snooping: ECAP.SC), or when a second-stage domain has mappings already
   * (their leaves have no SNP; Linux does not rewrite them). Then domain_set_force_snooping: a
   * second-stage domain sets SNP in every later leaf (builder leafEntry: forceSnoop); a first-stage
   * domain gets PGSNP in the RID_PASID entry of each attached device
   * (intel_pasid_setup_page_snoop_control, then intel_pasid_flush_present), and in every PASID
   * entry written later (builder pasidEntry). Nested domains take PGSNP from their parent.
   */
  enforceCoherency(id: number): string | undefined {
    const b = this.platform.builder;
    const d = this.domain(id);
    if (d.forceSnoop) return undefined;
    if (d.type === "nested") return `domain ${id} is nested: enforce coherency on its parent, domain ${d.parent!.id} (iommufd enforces it on the paging parent)`;
    const attached = b.attachments.filter((a) => a.domain === d || a.domain.parent === d);
    const problem = attached.length > 0 ? this.coherencyProblem(attached[0]!.sid) : undefined;
    if (problem) return `${formatBdf(attached[0]!.sid)} is attached to domain ${id} and ${problem}`;
    if (d.type === "ss" && d.hasMappings) return `domain ${id} is second-stage and has mappings already: their leaves have no SNP (Linux refuses rather than rewrite them)`;
    d.forceSnoop = true;
    if (d.type === "fs") for (const a of attached) if (a.domain === d && a.pasid === undefined && b.entryOf(a.sid)?.present) {
      b.setPgsnp(a);
      this.flushPresent(a);
    }
    return undefined;
  }

  coherencyEnforced(id: number): boolean {
    return this.platform.builder.domains.get(id)?.forceSnoop === true;
  }

  /** Every device behind this unit: it can force snooping only with snoop control (ECAP.SC; Linux ecap_sc_support). */
  coherencyProblem(_sid: number): string | undefined {
    return this.ecapField("SC") === 1 ? undefined : "the VT-d unit has no snoop control (ECAP.SC=0)";
  }

  hasDomain(id: number): boolean {
    return this.platform.builder.domains.has(id);
  }

  attachedDomain(sid: number, pasid?: number): number | undefined {
    return this.liveAttachment(sid, pasid)?.domain.id;
  }

  /** The PASID attachment of `sid` at `pasid` (scalable mode; legacy mode has no PASIDs). */
  private pasidAttachment(sid: number, pasid: number): VtdPasidAttachment | undefined {
    if (this.platform.builder.mode === "legacy") return undefined;
    const a = this.liveAttachment(sid, pasid);
    if (!a || a.pasid !== pasid) return undefined;
    // ATS is the device's (the scalable-mode context entry's DTE): set by whichever attach created the context entry.
    const ats = a.ats || (this.liveAttachment(sid)?.ats ?? false);
    return { device: sid, did: a.domain.id, domainType: a.domain.type, ats };
  }

  /**
   * A freed PASID's teardown (pasid-teardown.ts, Linux intel_pasid_tear_down_entry): the builder
   * clears the PASID-table entry; each invalidation is queued and each `sync` ends the batch with
   * its wait descriptor (qi_submit_sync per invalidation).
   */
  tearDownPasid(sid: number, pasid: number): VtdTeardownStep[] | undefined {
    const a = this.pasidAttachment(sid, pasid);
    if (!a) return undefined;
    const steps = vtdTeardownSteps(pasid, a);
    for (const st of steps) {
      if (st.op === "clear-pasid-entry") {
        try {
          this.platform.builder.detach(st.device, st.pasid);
        } catch (e) {
          throw driverError(e);
        }
        this.stats.detaches++;
      } else if (st.op === "inv") this.add(descriptorOf(st.inv));
      else this.batchFlush();
    }
    this.batchFlush();
    return steps;
  }

  /** The attachment whose entry (context entry, or PASID-table entry) a request of `sid` (with `pasid`) finds present. */
  private liveAttachment(sid: number, pasid?: number): Attachment | undefined {
    const b = this.platform.builder;
    const e = b.entryOf(sid, pasid);
    if (!e?.present) return undefined;
    return [...b.attachments].reverse().find((a) => a.sid === sid && (b.mode === "legacy" || a.pasidEntry === e.pasidEntry));
  }

  /** A not-present root, context, PASID-directory or PASID-table entry (spec 7.1.3: LRT.2, LCT.2, SRT.2, SCT.2, SPD.2, SPT.2). */
  isBlockedForm(r: Result): boolean {
    return r.status === "fault" && NOT_PRESENT.has(r.fault!.code);
  }

  /** Called after each step of a replace (a test may send DMA between them, as a live device would). */
  onEntryStep?: (step: string) => void;

  /** Context-cache device-selective invalidation (queued, or CCMD), FM 0 (DMA_CCMD_MASK_NOBIT). */
  private flushContextDevice(did: number, sid: number): void {
    if (this.queued) this.add(desc.context(3, did, sid, 0));
    else this.writeCcmd(3, did, sid, 0);
  }

  /** Domain-selective IOTLB invalidation (queued with DR/DW as CAP.DRD/DWD, or IOTLB_REG). */
  private flushIotlbDomain(did: number): void {
    if (this.queued) this.add(desc.iotlb(2, did, 0n, 0, false, { read: this.capField("DRD") === 1, write: this.capField("DWD") === 1 }));
    else this.writeIotlbReg(2, did, 0n, 0, false, true);
  }

  /** Flushes the lazy mode's queues: every domain with deferred unmaps, the oldest deferral first. */
  flushDeferred(reason: FlushReason): void {
    this.fq.flushNow(reason);
  }

  /** An explicit invalidation from the trace: queued as written, or through the registers. */
  invalidate(inv: Invalidation): void {
    this.stats.invs++;
    if ((inv.kind === "cc" || inv.kind === "iotlb") && inv.reg) {
      if (inv.kind === "cc") {
        const g = { global: 1, domain: 2, device: 3 }[inv.gran];
        this.writeCcmd(g, inv.gran === "domain" ? inv.did : 0, inv.gran === "device" ? inv.sid : 0, inv.gran === "device" ? inv.fm : 0);
      } else if (inv.gran === "psi") this.writeIotlbReg(3, inv.did, inv.addr, inv.am, inv.ih, false);
      else this.writeIotlbReg(inv.gran === "global" ? 1 : 2, inv.gran === "dsi" ? inv.did : 0, 0n, 0, false, false);
      return;
    }
    const d = descriptorOf(inv);
    if (d.length === 4 && !this.wide && (d[2] | d[3]) !== 0n)
      throw new DriverError("this unit uses 128-bit descriptors (legacy mode or ECAP.SMTS=0): QW2 and QW3 must be 0");
    this.submit([d], undefined);
  }

  // ---- Linux cache tags and flushes ---------------------------------------------------------------

  /** The cache tags of domain `d`, in list order (cache_tag_assign_domain for every attachment). */
  private tagsOf(d: Domain): CacheTag[] {
    const tags: CacheTag[] = [];
    const assign = (type: TagType, did: number, a: { sid: number; pasid?: number; pasidEntry?: number }) => {
      const dev = type === "devtlb" || type === "nestingDevtlb";
      const same = tags.find((t) => t.type === type && t.did === did && t.pasid === a.pasid && (!dev || t.sid === a.sid));
      if (same) same.users++;
      else tags.push({ type, did, pasid: a.pasid, pasidEntry: a.pasidEntry ?? 0, sid: a.sid, users: 1 });
    };
    for (const a of this.platform.builder.attachments) {
      if (a.domain === d) {
        assign("iotlb", d.id, a);
        if (a.ats) assign("devtlb", d.id, a);
      } else if (a.domain.type === "nested" && a.domain.parent === d) {
        assign("nestingIotlb", a.domain.id, a);
        if (a.ats) assign("nestingDevtlb", a.domain.id, a);
      }
    }
    return tags;
  }

  /** cache_tag_flush_range(): after an unmap of [start, end]. */
  private flushRange(d: Domain, start: bigint, end: bigint, ih: boolean): void {
    const { addr, mask } = psiRange(start, end);
    for (const tag of this.tagsOf(d)) {
      if (tag.type === "iotlb" || tag.type === "nestingIotlb") this.flushIotlb(d, tag, addr, mask, ih, false);
      else if (tag.type === "nestingDevtlb") this.flushDevtlb(tag, 0n, ALL_PAGES_LG2);
      else this.flushDevtlb(tag, addr, mask);
    }
    this.batchFlush();
  }

  /** cache_tag_flush_all(): everything of the domain (the lazy mode's flush). */
  private flushAll(d: Domain): void {
    for (const tag of this.tagsOf(d)) {
      if (tag.type === "iotlb" || tag.type === "nestingIotlb") this.flushIotlb(d, tag, 0n, 0, false, true);
      else this.flushDevtlb(tag, 0n, ALL_PAGES_LG2);
    }
    this.batchFlush();
  }

  /** cache_tag_flush_range_np(): after a map, with CAP.CM=1, for domains that are not first-stage. */
  private flushRangeNp(d: Domain, start: bigint, end: bigint): void {
    if (d.type === "fs") return; // spec 6.1: first-stage mapping changes need no invalidation in caching mode
    const { addr, mask } = psiRange(start, end);
    for (const tag of this.tagsOf(d)) if (tag.type === "iotlb" || tag.type === "nestingIotlb") this.flushIotlb(d, tag, addr, mask, false, false);
    this.batchFlush();
  }

  /** cache_tag_flush_iotlb(): one IOTLB invalidation for `tag` (`all`: the whole domain or PASID). */
  private flushIotlb(d: Domain, tag: CacheTag, addr: bigint, mask: number, ih: boolean, all: boolean): void {
    const mamv = this.capField("MAMV");
    if (d.type === "fs") {
      if (!this.queued) return; // PASID-based invalidation needs the queue
      // Page-selective within the PASID; all of the PASID for a flush, or (a model choice, where
      // Linux would hit a queue error) when AM exceeds CAP.MAMV.
      if (all || mask > mamv) this.add(desc.pasidIotlb(2, tag.did, tag.pasidEntry));
      else this.add(desc.pasidIotlb(3, tag.did, tag.pasidEntry, addr, mask, ih));
      return;
    }
    let g: 2 | 3 = 3;
    if (all || this.capField("PSI") === 0 || mask > mamv) {
      g = 2;
      addr = 0n;
      mask = 0;
      ih = false;
    }
    if (this.queued) this.add(desc.iotlb(g, tag.did, addr, mask, ih, { read: this.capField("DRD") === 1, write: this.capField("DWD") === 1 }));
    else this.writeIotlbReg(g, tag.did, addr, mask, ih, true);
  }

  /** cache_tag_flush_devtlb_psi() / _all(): a device-TLB invalidation for `tag`. */
  private flushDevtlb(tag: CacheTag, addr: bigint, mask: number): void {
    if (!this.queued) return; // device-TLB invalidation needs the queue
    if ((this.platform.core.readRegister("GSTS") & (1n << 31n)) === 0n) return; // not while translation is off
    const pfsid = this.ecapField("DIT") === 1 ? tag.sid : 0;
    if (tag.pasid === undefined) this.add(desc.deviceTlb(tag.sid, addr, mask, pfsid));
    else this.add(desc.pasidDeviceTlb(tag.sid, tag.pasid, addr, mask, false, pfsid));
  }

  // ---- the queue ------------------------------------------------------------------------------------

  private add(d: Descriptor): void {
    this.batch.push(d);
    if (this.batch.length === QI_BATCH) this.batchFlush();
  }

  /** qi_batch_flush_descs() -> qi_submit_sync(): the batch and a wait descriptor writing QI_DONE. */
  private batchFlush(): void {
    if (this.batch.length === 0) return;
    const descs = this.batch;
    this.batch = [];
    const q = this.queue();
    const waitIndex = (q.tailIndex + descs.length) % q.entries;
    const wait = desc.wait(this.statusPage + BigInt(4 * waitIndex), QI_DONE);
    this.submit([...descs, wait], wait);
  }

  /** The invalidation queue, created on first use: 256 descriptors as Linux's (QI_LENGTH). */
  private queue(): InvalidationQueue {
    if (this.q === undefined) {
      if (!this.queued) throw new DriverError("ECAP.QI=0: this unit has no invalidation queue (use inv reg cc or inv reg iotlb)");
      const { core, alloc } = this.platform;
      this.q = new InvalidationQueue(core, alloc, this.wide, this.wide ? 1 : 0);
      this.statusPage = alloc.alloc(1, "the status page of its wait descriptors");
    }
    return this.q;
  }

  /** Submits descriptors; a queue error is recovered from as Linux's qi_check_fault() does. */
  private submit(descs: Descriptor[], replacement: Descriptor | undefined): void {
    const q = this.queue();
    q.submit(descs);
    this.stats.queuedDescriptors += descs.length;
    for (let guard = 0; q.error !== undefined && guard <= descs.length; guard++) q.replaceHeadAndResume(replacement ?? desc.wait());
  }

  /** Context-command register (CCMD): ICC, CIRG = g, FM, SID, DID. */
  private writeCcmd(g: number, did: number, sid: number, fm: number): void {
    this.platform.core.writeRegister("CCMD", (1n << 63n) | (BigInt(g) << 61n) | (BigInt(fm) << 32n) | (BigInt(sid) << 16n) | BigInt(did));
    this.stats.registerInvalidations++;
  }

  /** IVA then IOTLB_REG: IVT, IIRG = g, DID (and DR/DW as Linux's __iommu_flush_iotlb sets them). */
  private writeIotlbReg(g: number, did: number, addr: bigint, am: number, ih: boolean, drain: boolean): void {
    const core = this.platform.core;
    if (g === 3) core.writeRegister("IVA", addr | (ih ? 1n << 6n : 0n) | BigInt(am));
    let v = (1n << 63n) | (BigInt(g) << 60n) | (BigInt(did) << 32n);
    if (drain && this.capField("DRD") === 1) v |= 1n << 49n;
    if (drain && this.capField("DWD") === 1) v |= 1n << 48n;
    core.writeRegister("IOTLB_REG", v);
    this.stats.registerInvalidations++;
  }
}

/**
 * A builder error as the driver reports it; a page the allocator could not hand out stays an
 * AllocationError, so that the replay can name the scenario key that holds the page.
 */
function driverError(e: unknown): Error {
  return e instanceof AllocationError ? e : new DriverError((e as Error).message);
}

/** The builder's attach for an `attach` event (flags absent: the builder's defaults). */
export function attachSpec(e: AttachEvent): AttachSpec {
  const a: AttachSpec = { sid: e.sid, domain: e.domain };
  if (e.pasid !== undefined) a.pasid = e.pasid;
  for (const f of ["ats", "pri", "pgsnp", "fpd", "sre", "ere"] as const) if (e[f]) a[f] = true;
  return a;
}

/** The builder's options for a `map` event. */
export function mapOptions(e: MapEvent): MapOptions {
  const o: MapOptions = {
    read: e.perm.includes("r"),
    write: e.perm.includes("w"),
    exec: e.perm.includes("x"),
    user: e.user,
    global: e.global,
    pageSize: PAGE_BYTES[e.page],
  };
  if (e.snp) o.snp = true;
  return o;
}

/** The queued descriptor an `inv` event (other than `inv reg`) stands for. */
export function descriptorOf(inv: Invalidation): Descriptor {
  switch (inv.kind) {
    case "qi": {
      const [q0 = 0n, q1 = 0n, q2, q3] = inv.qwords;
      return q2 === undefined || q3 === undefined ? [q0, q1] : [q0, q1, q2, q3];
    }
    case "cc":
      if (inv.gran === "global") return desc.context(1);
      if (inv.gran === "domain") return desc.context(2, inv.did);
      return desc.context(3, 0, inv.sid, inv.fm);
    case "iotlb":
      if (inv.gran === "global") return desc.iotlb(1);
      if (inv.gran === "dsi") return desc.iotlb(2, inv.did);
      return desc.iotlb(3, inv.did, inv.addr, inv.am, inv.ih);
    case "devtlb":
      return desc.deviceTlb(inv.sid, inv.addr, inv.pagesLg2);
    case "piotlb":
      return inv.psi ? desc.pasidIotlb(3, inv.did, inv.pasid, inv.psi.addr, inv.psi.am, inv.psi.ih) : desc.pasidIotlb(2, inv.did, inv.pasid);
    case "pc":
      if (inv.gran === "global") return desc.pasidCache(3);
      if (inv.gran === "dsi") return desc.pasidCache(0, inv.did);
      return desc.pasidCache(1, inv.did, inv.pasid);
    case "pdevtlb":
      return desc.pasidDeviceTlb(inv.sid, inv.pasid, inv.addr, inv.pagesLg2, inv.all);
    case "iec":
      return desc.iec();
    case "wait":
      return inv.status ? desc.wait(inv.status.addr, inv.status.data) : desc.wait();
  }
}
