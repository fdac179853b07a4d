/**
 * The SMMUv3 driver at run time: what Linux's arm-smmu-v3 driver and dma-iommu do when a trace
 * says `map`, `unmap`, `flush`, `attach`, `detach` or `cmd` (drivers/iommu/arm/arm-smmu-v3/
 * arm-smmu-v3.c; function names cited below). Tables change through the builder; every cache the
 * SMMU may hold is invalidated through the command queue the builder allocated (CMDQ_BASE), whose
 * commands the core carries out when CMDQ_PROD moves.
 *
 * - map (arm_smmu_map_pages): io-pgtable-arm leaves; no command (new mappings need none).
 * - unmap, strict (arm_smmu_iotlb_sync -> arm_smmu_tlb_inv_range_domain): the leaves are cleared,
 *   then per run of equal-size contiguous leaves (the IOTLB gather) TLBI_NH_VA (stage 1 and nested:
 *   ASID; nested with its parent's VMID) or TLBI_S2_IPA (stage 2: VMID), Leaf, with the range
 *   encoding of __arm_smmu_tlb_inv_range when IDR3.RIL (TG the granule, TTL the leaves' level,
 *   NUM/SCALE 5 bits of the page count at a time) or one command per leaf without it, in batches
 *   of 64 (CMDQ_BATCH_ENTRIES) closed by CMD_SYNC; a nesting parent then gets TLBI_NH_ALL of its
 *   VMID and a CMD_SYNC; then CMD_ATC_INV for every ATS stream (and substream) the domain serves,
 *   and a CMD_SYNC (arm_smmu_atc_inv_domain).
 * - unmap, lazy: the leaves are cleared, the invalidation deferred to the flush queue
 *   (src/driver/flush-queue.ts); a flush runs arm_smmu_tlb_inv_context per domain: TLBI_NH_ASID
 *   (stage 1, nested) or TLBI_S12_VMALL (stage 2) and a CMD_SYNC, then CMD_ATC_INV of every address
 *   for its ATS streams and a CMD_SYNC.
 * - attach / detach (arm_smmu_attach_dev, arm_smmu_set_pasid, arm_smmu_remove_dev_pasid): the
 *   builder says which STE and CD change; each is written as arm_smmu_write_entry does, comparing
 *   the bits the SMMU uses (commands.ts steUsed/cdUsed): when one qword's used bits change, a
 *   hitless update (the unused bits, then that qword, then the rest); when more, V=0 first, then
 *   qwords 1-7, then qword 0; each step that writes is followed by CFGI_STE (or CFGI_CD) and a
 *   CMD_SYNC; an STE write ends with CMD_PREFETCH_CONFIG (arm_smmu_write_ste). Then the ATC of an
 *   ATS stream is invalidated (arm_smmu_attach_commit, arm_smmu_enable_ats).
 * - cmd QW0 QW1: one command as written, CMDQ_PROD advanced; an error it causes stays until the
 *   driver's next own submission acknowledges it as Linux's GERROR handler does.
 * - CMD_SYNC: CS=IRQ with MSIAddr its own slot when IDR0.MSI and IDR0.COHACC (Linux's MSI
 *   polling), else CS=SEV.
 * - A command error (GERROR.CMDQ_ERR) is handled as arm_smmu_cmdq_skip_err does (CERROR_ILL: the
 *   command is overwritten with a CMD_SYNC; then GERRORN acknowledges) and, when the driver's own
 *   command caused it, reported as a DriverError naming the command.
 */
import { alignmentProblem } from "../../driver/range.ts";
import type { PlatformParts } from "../types.ts";
import type { Core } from "../../core/core.ts";
import { AllocationError } from "../../guest/allocator.ts";
import { getField } from "../fields.ts";
import { bytesText, overBudget } from "../../config/limits.ts";
import { PAGE_BYTES, SMMU_EVENTS, formatBdf, isGroupEvent, type AttachEvent, type DriverEvent, type MapEvent } from "../../trace/events.ts";
import { FlushQueueDriver, FlushQueue, newFlushQueueStats, type EventOrigin, type FlushReason } from "../../driver/flush-queue.ts";
import { DriverError, defaultDriverOptions, type ArchDriver, type DomainAllocSpec, type DriverOptions, type DriverStats } from "../../driver/driver.ts";
import type { Result } from "../../core/core.ts";
import type { ClearedLeaf, EntryRef, SmmuBuilder, SmmuDomain } from "./builder.ts";
import type { Qwords8 } from "./ste.ts";
import { smmuTeardownSteps, type SmmuPasidAttachment, type SmmuTeardownStep } from "./pasid-teardown.ts";
import { cmdqConsFields, idr0Fields, idr1Fields, queueBaseFields } from "./fields.ts";
import {
  atcInv, cdUsed, cfgiCd, cfgiSte, cmdSync, commandName, prefetchConfig, steUsed, tlbiNhAll, tlbiNhAsid, tlbiNhVa, tlbiS12Vmall, tlbiS2Ipa,
  type Command, type TlbiRange,
} from "./commands.ts";

export { DriverError } from "../../driver/driver.ts";

/** Linux CMDQ_BATCH_ENTRIES (BITS_PER_LONG): a batch is issued when it holds this many. */
const BATCH = 64;
/** Linux CMDQ_TLBI_RANGE_NUM_MAX. */
const RANGE_NUM_MAX = 31n;
const CERROR_NAMES = ["CERROR_NONE", "CERROR_ILL", "CERROR_ABT", "CERROR_ATC_INV_SYNC"];
const hex = (v: bigint) => `0x${v.toString(16)}`;
/** The id of the driver's own blocking domain (no trace or scenario domain id is negative). */
const BLOCKING_ID = -1;

/** What the driver wrote to the queue, in order (for tests and debugging). */
export interface IssuedCommand extends Command {
  /** Its slot in the queue (index without the wrap bit). */
  index: number;
}

export class SmmuDriver extends FlushQueueDriver<SmmuDomain> implements ArchDriver {
  readonly options: DriverOptions;
  readonly stats: DriverStats;
  /** Every command written to the queue, in order. */
  readonly issued: IssuedCommand[] = [];
  /**
   * Called after each step of an STE or CD update (after its CFGI and CMD_SYNC): a test may send
   * DMA between the steps, as a live device would.
   */
  onEntryStep?: (ref: EntryRef) => void;
  protected readonly fq: FlushQueue<SmmuDomain>;
  private origin?: EventOrigin;
  private readonly core: Core;
  private readonly b: SmmuBuilder;

  constructor(
    readonly platform: PlatformParts<SmmuBuilder>,
    options: Partial<DriverOptions> = {},
  ) {
    super();
    this.options = { ...defaultDriverOptions, ...options };
    const { flushes, flushReasons, deferredUnmaps } = newFlushQueueStats();
    this.stats = { maps: 0, unmaps: 0, attaches: 0, detaches: 0, invs: 0, flushes, flushReasons, deferredUnmaps, queuedDescriptors: 0, registerInvalidations: 0 };
    // A domain's queue flush invalidates that domain's context (arm_smmu_tlb_inv_context).
    this.fq = new FlushQueue<SmmuDomain>(this.options, (d) => this.invalidateContext(d), this.stats);
    this.core = platform.core;
    this.b = platform.builder;
  }

  // ---- events ---------------------------------------------------------------------------------------

  apply(e: DriverEvent, now: bigint): void {
    this.origin = { line: e.line, column: e.column };
    this.advanceTo(now);
    if (isGroupEvent(e)) throw new DriverError(`${e.op} group=${e.group} is the driver side's event (src/iommu/iommu.ts IommuLayer, over this driver), not the SMMUv3 driver's`);
    switch (e.op) {
      case "map":
        return this.map(e);
      case "unmap":
        return this.unmap(e.domain, e.iova, e.size);
      case "flush":
        return this.flushEvent(e.domain === undefined ? undefined : this.domain(e.domain));
      case "attach":
        return this.attach(e);
      case "detach":
        return this.detach(this.b.streamIdOf(e.sid), e.pasid);
      case "cmd":
        return this.raw({ name: commandName(e.qwords[0]), q0: e.qwords[0], q1: e.qwords[1] });
      case "bind":
      case "unbind":
      case "domain-alloc":
      case "enforce-coherency":
      case "replace":
        throw new DriverError(`${e.op} is the driver side's event (src/iommu/iommu.ts IommuLayer, over this driver), not the SMMUv3 driver's`);
      default:
        throw new DriverError(`${e.op} is another architecture's driver command, not SMMUv3's`);
    }
  }


  /** Flushes the lazy mode's queues (every domain's, the oldest deferral first). */
  flushDeferred(reason: FlushReason): void {
    this.fq.flushNow(reason);
  }

  protected policyDomains(): Iterable<SmmuDomain> {
    return this.b.domains.values();
  }

  private domain(id: number): SmmuDomain {
    const d = this.b.domains.get(id);
    if (d === undefined) {
      const ids = [...this.b.domains.keys()].filter((i) => i !== BLOCKING_ID);
      throw new DriverError(`no domain ${id}; ${ids.length ? `the scenario defines ${ids.join(", ")}` : "the scenario defines no domains"}`);
    }
    if (!d.pgtable) throw new DriverError(`domain ${id} is ${d.type}: it has no page tables`);
    return d;
  }

  /** arm_smmu_map_pages through io-pgtable-arm: no invalidation. */
  map(e: MapEvent): void {
    const d = this.domain(e.domain);
    const t = d.pgtable!;
    if (e.global) throw new DriverError("global: io-pgtable-arm's stage-1 leaves are always non-global (nG=1)");
    if (e.snp) throw new DriverError("snp is a VT-d second-stage bit; SMMUv3 coherency follows IOMMU_CACHE (README \"SMMUv3 driver events\")");
    // page=4K (the default) is the domain's granule page; 2M and 1G name a block size.
    const pageSize = e.page === "4K" ? 1n << BigInt(d.granuleLg2) : PAGE_BYTES[e.page];
    const problem = rangeProblem(d, e.iova, e.size, pageSize, e.pa);
    if (problem) throw new DriverError(problem);
    const perTable = 1n << BigInt(d.granuleLg2 - 3);
    const leaves = e.size / pageSize;
    const tablePages = (leaves + perTable - 1n) / perTable + BigInt(t.shape.topLevel);
    if (tablePages > BigInt(this.options.limits.tablePages))
      throw new DriverError(overBudget("tablePages", this.options.limits, `mapping ${bytesText(e.size)} with ${bytesText(pageSize)} pages writes about ${leaves} leaf entries in ${tablePages} table pages`));
    try {
      this.b.map(d, { iova: e.iova, pa: e.pa, size: e.size, pageSize, read: e.perm.includes("r"), write: e.perm.includes("w"), exec: e.perm.includes("x"), priv: !e.user, ...(e.mmio ? { mmio: true } : {}) });
    } catch (err) {
      throw driverError(err);
    }
    this.stats.maps++;
  }

  /** iommu_unmap: clears the leaves, then invalidates at once (strict) or defers it (lazy). */
  unmap(domainId: number, iova: bigint, size: bigint): void {
    const d = this.domain(domainId);
    const problem = rangeProblem(d, iova, size, 1n << BigInt(d.granuleLg2));
    if (problem) throw new DriverError(problem);
    let leaves: ClearedLeaf[];
    try {
      leaves = this.b.unmapRange(d, iova, size);
    } catch (err) {
      throw driverError(err);
    }
    this.stats.unmaps++;
    if (leaves.length === 0) return;
    if (this.lazyFor(d)) return this.fq.defer(d, this.origin);
    // The IOTLB gather: a run of contiguous leaves of one size is one range invalidation.
    const runs: { iova: bigint; size: bigint; granule: bigint }[] = [];
    for (const l of leaves) {
      const last = runs[runs.length - 1];
      if (last && last.granule === l.bytes && last.iova + last.size === l.iova) last.size += l.bytes;
      else runs.push({ iova: l.iova, size: l.bytes, granule: l.bytes });
    }
    // Each run is one iommu_iotlb_sync: the TLB range, then the ATC range.
    for (const r of runs) {
      this.invalidateRange(d, r.iova, r.size, r.granule);
      this.atcInvDomain(d, r.iova, r.size);
    }
  }

  /** Attaches a domain to a stream or substream (replacing what it had), writing STE and CD hitlessly. */
  attach(e: AttachEvent): void {
    if (!this.b.domains.has(e.domain)) this.domain(e.domain);
    const sid = this.b.streamIdOf(e.sid);
    const existing = this.b.streams.get(sid);
    const ssidBits = existing ? undefined : e.pasid !== undefined ? this.b.profile.ssidBits : 0;
    this.withEntryWriter(() => this.b.attach({ sid, domain: e.domain, ssid: e.pasid, ssidBits, ats: e.ats, replace: true }));
    this.stats.attaches++;
    const s = this.b.streams.get(sid)!;
    // arm_smmu_attach_commit: ATS on (arm_smmu_enable_ats flushes the whole ATC first) or a changed translation.
    if (s.ats) this.submit([atcInv(s.sid, existing ? e.pasid : undefined, 0n, 0n)]);
  }

  /** Detaches a stream (the blocking domain replaces it) or a substream (its CD is cleared). */
  detach(sid: number, ssid?: number): void {
    const r = this.withEntryWriter(() => this.b.detach(sid, ssid));
    this.stats.detaches++;
    if (r.stream.ats) this.submit([atcInv(sid, ssid, 0n, 0n)]);
  }

  // ---- the driver side's domain operations (src/iommu) ------------------------------------------------

  /** iommufd IOMMU_HWPT_ALLOC: paging is stage 1 ("s1", default) or stage 2 ("s2"); nested over a stage 2. */
  allocDomain(spec: DomainAllocSpec): void {
    const type = spec.kind === "identity" ? "identity" : spec.kind === "nested" ? "nested" : (spec.format ?? "s1");
    if (type !== "s1" && type !== "s2" && type !== "identity" && type !== "nested")
      throw new DriverError(`domain-alloc ${spec.id}: SMMUv3 paging formats are s1 and s2, not "${spec.format}"`);
    if (spec.id < 0 || this.b.domains.has(spec.id)) throw new DriverError(`domain-alloc ${spec.id}: domain ${spec.id} exists already`);
    if (spec.invalidation !== undefined && type === "identity") throw new DriverError(`domain-alloc ${spec.id}: an identity domain has no mappings to unmap, so no invalidation policy`);
    try {
      const d = this.b.createDomain({ id: spec.id, type, ...(spec.parent !== undefined ? { parent: spec.parent } : {}) });
      if (spec.invalidation !== undefined) d.invalidation = spec.invalidation;
    } catch (err) {
      throw driverError(err);
    }
  }

  /**
   * arm_smmu_attach_dev_blocked (the device by its RID, its stream by the firmware's map): every
   * substream's CD cleared, then the STE of the blocking domain (Config abort: the SMMU terminates
   * every transaction without an event). The blocking domain is the driver's own (Linux's static
   * arm_smmu_blocked_domain), id BLOCKING_ID, not a trace's.
   */
  block(rid: number): void {
    const sid = this.streamOf(rid);
    if (sid === undefined) return; // no StreamID: its requests never reach a stream to block
    const s = this.b.streams.get(sid);
    for (const ssid of [...(s?.substreams.keys() ?? [])]) this.detach(sid, ssid);
    if (!this.b.domains.has(BLOCKING_ID)) this.b.createDomain({ id: BLOCKING_ID, type: "blocking" });
    if (s?.rid?.id === BLOCKING_ID) return;
    this.withEntryWriter(() => this.b.attach({ sid, domain: BLOCKING_ID, ssidBits: s ? undefined : this.b.profile.ssidBits, replace: true }));
    if (s?.ats) this.submit([atcInv(sid, undefined, 0n, 0n)]);
  }

  /**
   * arm_smmu_attach_dev / arm_smmu_set_pasid on a live stream: the hitless STE/CD update attach
   * does. A RID no mapping gives a StreamID has no stream: nothing changes (its TLPs are unrouted).
   */
  replace(rid: number, pasid: number | undefined, domain: number): void {
    const sid = this.streamOf(rid);
    if (sid === undefined) return; // no StreamID: its requests never reach the SMMU (unrouted), nothing to attach
    const s = this.b.streams.get(sid);
    this.attach({ op: "attach", line: this.origin?.line ?? 0, column: this.origin?.column ?? 0, sid: rid, domain, ...(pasid !== undefined ? { pasid } : {}), ats: s?.ats ?? false, pri: false, pgsnp: false, fpd: false, sre: false, ere: false });
  }

  /** The StreamID of a requester (the firmware's map, builder.streamIdOf); undefined when no mapping covers it. */
  private streamOf(rid: number): number | undefined {
    try {
      return this.b.streamIdOf(rid);
    } catch (err) {
      if (err instanceof RangeError) return undefined;
      throw err;
    }
  }

  /**
   * arm_smmu_enforce_cache_coherency (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c, checked against the source, the version with CANWBS):
   * true only when every device attached to the domain has CANWBS (arm_smmu_master_canwbs: IORT's
   * root-complex memory access flags), whatever the domain has mapped; nothing is written (the root
   * complex itself keeps No-Snoop coherent), and later attaches must have CANWBS too
   * (arm_smmu_attach_prepare). Identity and nested domains have no such operation (iommufd
   * enforces on the paging parent).
   */
  enforceCoherency(id: number): string | undefined {
    const d = this.domain(id);
    if (d.enforceCoherency) return undefined;
    if (d.type === "nested") return `domain ${id} is nested: enforce coherency on its parent, domain ${d.parent!.id} (iommufd enforces it on the paging parent)`;
    const uses = (x?: SmmuDomain) => x !== undefined && (x === d || x.parent === d);
    for (const s of this.b.streams.values()) {
      if (!uses(s.rid) && ![...s.substreams.values()].some(uses)) continue;
      if (!this.b.canwbsOf(s.sid)) return `${formatBdf(this.b.ridOf(s.sid))} is attached to domain ${id} and ${this.canwbsProblem}`;
    }
    d.enforceCoherency = true;
    return undefined;
  }

  private readonly canwbsProblem = "its root complex has no CANWBS (IORT memory access flags): No-Snoop stays non-coherent";

  coherencyEnforced(id: number): boolean {
    return this.b.domains.get(id)?.enforceCoherency === true;
  }

  coherencyProblem(rid: number): string | undefined {
    const s = this.streamOf(rid);
    return s === undefined || this.b.canwbsOf(s) ? undefined : this.canwbsProblem;
  }

  hasDomain(id: number): boolean {
    return id !== BLOCKING_ID && this.b.domains.has(id);
  }

  /**
   * The paging domain whose page tables hold the MSI doorbell pages of a device attached to `id`:
   * a stage-1 or stage-2 domain itself, a nested domain's stage-2 parent (the IPA the guest's stage 1
   * points its MSIs at: iommufd's find_hwpt_paging gives the parent, and iommufd_group_setup_msi
   * maps into it); none for identity and blocking domains (no translation to map through).
   */
  msiDomain(id: number): number | undefined {
    const d = id === BLOCKING_ID ? undefined : this.b.domains.get(id);
    if (d?.type === "nested") return d.parent!.id;
    return d?.type === "s1" || d?.type === "s2" ? id : undefined;
  }

  attachedDomain(rid: number, pasid?: number): number | undefined {
    const sid = this.streamOf(rid);
    const s = sid === undefined ? undefined : this.b.streams.get(sid);
    const d = pasid === undefined ? s?.rid : s?.substreams.get(pasid);
    return d === undefined || d.id === BLOCKING_ID ? undefined : d.id;
  }

  /**
   * An abort STE terminates the transaction without an event (spec 5.2, Config 0b000): status
   * abort; with substreams attached the blocked stream's STE keeps its CD table with S1DSS
   * terminate, and a request without a SubstreamID ends with F_STREAM_DISABLED (spec 5.2, S1DSS 0b00).
   */
  isBlockedForm(r: Result): boolean {
    return r.status === "abort" || (r.status === "fault" && r.fault!.code === SMMU_EVENTS.F_STREAM_DISABLED);
  }

  /** The stream's SubstreamID bits (its CD table's size, STE.S1CDMax); a stream not made yet gets the unit's (IDR1.SSIDSIZE) when a substream makes it. */
  pasidBits(rid: number): number {
    const sid = this.streamOf(rid);
    const s = sid === undefined ? undefined : this.b.streams.get(sid);
    return s ? s.ssidBits : this.b.profile.ssidBits;
  }

  /** The substream attached at `pasid` of the device's stream. */
  private pasidAttachment(rid: number, pasid: number): SmmuPasidAttachment | undefined {
    const sid = this.streamOf(rid);
    const s = sid === undefined ? undefined : this.b.streams.get(sid);
    const d = s?.substreams.get(pasid);
    return s && d && d.id !== BLOCKING_ID ? { device: rid, streamIds: [s.sid], asid: d.asid ?? 0, vmid: this.s1Vmid(d), ats: s.ats } : undefined;
  }

  /**
   * A freed PASID's teardown (pasid-teardown.ts: arm_smmu_clear_cd, arm_smmu_tlb_inv_asid,
   * arm_smmu_atc_inv_master): `clear-cd` writes V=0 into the CD (the STE, when what is left changes
   * it, through the hitless writer with its CFGI_STE); each group of commands goes to the queue
   * with its CMD_SYNC at the `sync` that ends it.
   */
  tearDownPasid(rid: number, pasid: number): SmmuTeardownStep[] | undefined {
    const a = this.pasidAttachment(rid, pasid);
    if (!a) return undefined;
    const steps = smmuTeardownSteps(pasid, a);
    let pending: Command[] = [];
    for (const st of steps) {
      if (st.op === "clear-cd") {
        const sid = this.b.streamIdOf(st.device);
        const saved = this.b.entryWriter;
        // The CD raw (the steps' CFGI_CD follows); the STE, only when what is left changes it, hitlessly.
        this.b.entryWriter = (ref, addr, q) => {
          if (ref.kind === "cd") return saved(ref, addr, q);
          if (q.some((v, i) => this.core.read64(addr + BigInt(8 * i)) !== v)) this.writeEntry(ref, addr, q);
        };
        try {
          this.b.detach(sid, st.ssid);
        } catch (err) {
          throw driverError(err);
        } finally {
          this.b.entryWriter = saved;
        }
        this.stats.detaches++;
      } else if (st.op === "cmd") pending.push(st.cmd);
      else {
        this.submit(pending);
        pending = [];
      }
    }
    if (pending.length) this.submit(pending);
    return steps;
  }

  private withEntryWriter<T>(f: () => T): T {
    const saved = this.b.entryWriter;
    this.b.entryWriter = (ref, addr, target) => this.writeEntry(ref, addr, target);
    try {
      return f();
    } catch (err) {
      throw driverError(err);
    } finally {
      this.b.entryWriter = saved;
    }
  }

  // ---- Linux's hitless STE/CD update -----------------------------------------------------------------

  /** arm_smmu_write_entry (then, for an STE, arm_smmu_write_ste's CMD_PREFETCH_CONFIG). */
  private writeEntry(ref: EntryRef, addr: bigint, target: Qwords8): void {
    const entry = Array.from({ length: 8 }, (_, i) => this.core.read64(addr + BigInt(i * 8)) ?? 0n) as Qwords8;
    const used = ref.kind === "ste" ? steUsed : cdUsed;
    const curUsed = used(entry), targetUsed = used(target);
    const unused = entry.map((q, i) => (q & curUsed[i]!) | (target[i]! & ~curUsed[i]!)) as Qwords8;
    const diff = unused.flatMap((q, i) => ((q & targetUsed[i]!) !== target[i] ? [i] : []));
    const set = (values: Qwords8, start: number, len: number) => {
      let changed = false;
      for (let i = start; i < start + len; i++) {
        if (entry[i] === values[i]) continue;
        entry[i] = values[i]!;
        this.core.write64(addr + BigInt(i * 8), values[i]!);
        changed = true;
      }
      if (!changed) return;
      this.submit([ref.kind === "ste" ? cfgiSte(ref.sid) : cfgiCd(ref.sid, ref.ssid)]);
      this.onEntryStep?.(ref);
    };
    if (diff.length === 1) {
      const critical = diff[0]!;
      unused[critical] = entry[critical]!;
      set(unused, 0, 8);
      set(target, critical, 1);
      set(target, 0, 8);
    } else if (diff.length > 1) {
      unused[0] = 0n;
      set(unused, 0, 1);
      set(target, 1, 7);
      set(target, 0, 1);
    } else set(target, 0, 8);
    if (ref.kind === "ste") this.submit([prefetchConfig(ref.sid)], false);
  }

  // ---- invalidation ----------------------------------------------------------------------------------

  /** The VMID a stage-1 TLBI names: a nested domain's parent's; 0 for a stage-1 domain (Linux). */
  private s1Vmid(d: SmmuDomain): number {
    return d.type === "nested" ? d.parent!.vmid! : 0;
  }

  /** arm_smmu_tlb_inv_range_domain without its ATC part: [iova, iova+size) of leaves of `granule` bytes. */
  private invalidateRange(d: SmmuDomain, iova: bigint, size: bigint, granule: bigint): void {
    const make = (r: TlbiRange) => (d.type === "s2" ? tlbiS2Ipa(d.vmid!, r) : tlbiNhVa(d.asid!, this.s1Vmid(d), r));
    const cmds: Command[] = [];
    const end = iova + size;
    if (this.ril) {
      // __arm_smmu_tlb_inv_range: TG the leaf page size, TTL the level of `granule`.
      const tgLg2 = BigInt(d.granuleLg2);
      const tg = (d.granuleLg2 - 10) / 2;
      const ttl = 4 - Math.floor((granule.toString(2).length - 1 - 3) / (d.granuleLg2 - 3));
      let pages = size >> tgLg2;
      while (iova < end) {
        const scale = trailingZeros(pages);
        const num = (pages >> BigInt(scale)) & RANGE_NUM_MAX;
        cmds.push(make({ addr: iova, leaf: true, num: Number(num) - 1, scale, tg, ttl }));
        iova += num << BigInt(scale + d.granuleLg2);
        pages -= num << BigInt(scale);
      }
    } else {
      for (; iova < end; iova += granule) cmds.push(make({ addr: iova, leaf: true, num: 0, scale: 0, tg: 0, ttl: 0 }));
    }
    this.submit(cmds);
    // A nesting parent's change reaches every nested stage 1 of its VMID.
    if (d.type === "s2" && this.nestParent(d)) this.submit([tlbiNhAll(d.vmid!)]);
  }

  /** arm_smmu_tlb_inv_context: all of the domain's TLB entries, then its ATC entries. */
  private invalidateContext(d: SmmuDomain): void {
    this.submit([d.type === "s2" ? tlbiS12Vmall(d.vmid!) : tlbiNhAsid(d.asid!, this.s1Vmid(d))]);
    this.atcInvDomain(d, 0n, 0n);
  }

  private nestParent(d: SmmuDomain): boolean {
    return [...this.b.domains.values()].some((x) => x.type === "nested" && x.parent === d);
  }

  /**
   * arm_smmu_atc_inv_domain: CMD_ATC_INV over [iova, iova+size) (size 0: everything) for each ATS
   * stream and substream the domain serves, every address for streams nested behind it; a CMD_SYNC.
   */
  private atcInvDomain(d: SmmuDomain, iova: bigint, size: bigint): void {
    if (!this.b.profile.ats) return;
    const cmds: Command[] = [];
    for (const s of this.b.streams.values()) {
      if (!s.ats) continue;
      if (s.rid === d) cmds.push(atcInv(s.sid, undefined, iova, size));
      else if (s.rid?.parent === d) cmds.push(atcInv(s.sid, undefined, 0n, 0n));
      for (const [ssid, x] of s.substreams) {
        if (x === d) cmds.push(atcInv(s.sid, ssid, iova, size));
        else if (x.parent === d) cmds.push(atcInv(s.sid, undefined, 0n, 0n));
      }
    }
    if (cmds.length) this.submit(cmds);
  }

  private get ril(): boolean {
    return this.b.profile.ril;
  }

  // ---- the command queue -----------------------------------------------------------------------------

  /** The queue as CMDQ_BASE names it: its address and log2 of its entries (capped at IDR1.CMDQS). */
  private queue(): { base: bigint; lg2: number } {
    const reg = this.core.getRegister("CMDQ_BASE");
    const lg2 = Math.min(Number(getField(reg, queueBaseFields.LOG2SIZE)), Number(getField(this.core.getRegister("IDR1"), idr1Fields.CMDQS)));
    return { base: getField(reg, queueBaseFields.ADDR) << 5n, lg2 };
  }

  /** Linux ARM_SMMU_OPT_MSIPOLL: IDR0.MSI on a coherent SMMU. */
  private get msiPoll(): boolean {
    const idr0 = this.core.getRegister("IDR0");
    return getField(idr0, idr0Fields.MSI) === 1n && getField(idr0, idr0Fields.COHACC) === 1n;
  }

  private errorActive(): boolean {
    return ((this.core.getRegister("GERROR") ^ this.core.getRegister("GERRORN")) & 1n) !== 0n;
  }

  /**
   * arm_smmu_cmdq_issue_cmdlist: `cmds` in batches of 64, each followed by a CMD_SYNC when `sync`;
   * an error active from an earlier `cmd` is acknowledged first (the GERROR handler).
   */
  private submit(cmds: Command[], sync = true): void {
    this.acknowledge();
    let i = 0;
    for (; cmds.length - i > BATCH; i += BATCH) this.write(cmds.slice(i, i + BATCH), false, false);
    this.write(cmds.slice(i), sync, false);
  }

  /** A raw `cmd`: written as given; an error it causes stays for the trace to see. */
  private raw(c: Command): void {
    this.stats.invs++;
    this.write([c], false, true);
  }

  /**
   * Writes commands (and a CMD_SYNC) at PROD and moves PROD; the core consumes them. A command
   * error the driver's own commands cause is recovered from and reported (raw: left as it is).
   */
  private write(cmds: Command[], sync: boolean, raw: boolean): void {
    const { base, lg2 } = this.queue();
    const entries = 1 << lg2, mask = (entries << 1) - 1;
    let prod = Number(this.core.getRegister("CMDQ_PROD")) & mask;
    const slots: IssuedCommand[] = [];
    const all = sync ? [...cmds, undefined] : cmds;
    for (const c0 of all) {
      const cons = Number(this.core.getRegister("CMDQ_CONS")) & mask;
      if (((prod - cons) & mask) >= entries) {
        this.core.writeRegister("CMDQ_PROD", BigInt(prod));
        if (((prod - (Number(this.core.getRegister("CMDQ_CONS")) & mask)) & mask) >= entries) throw this.stalled(c0?.name ?? "CMD_SYNC", raw);
      }
      const index = prod & (entries - 1);
      const slot = base + BigInt(index * 16);
      const c = c0 ?? cmdSync(this.msiPoll ? slot : undefined);
      this.core.writeQwords(slot, [c.q0, c.q1]);
      slots.push({ ...c, index });
      this.issued.push({ ...c, index });
      this.stats.queuedDescriptors++;
      prod = (prod + 1) & mask;
    }
    this.core.writeRegister("CMDQ_PROD", BigInt(prod));
    if (raw || !this.errorActive()) {
      if (!raw && (Number(this.core.getRegister("CMDQ_CONS")) & mask) !== prod) throw this.stalled(slots[0]!.name, raw);
      return;
    }
    const consReg = this.core.getRegister("CMDQ_CONS");
    const at = Number(consReg) & (entries - 1);
    const err = Number(getField(consReg, cmdqConsFields.ERR));
    const culprit = slots.find((s) => s.index === at)?.name ?? commandName(this.core.read64(base + BigInt(at * 16)) ?? 0n);
    this.acknowledge();
    throw new DriverError(`${culprit}: the SMMU stopped its command queue with ${CERROR_NAMES[err] ?? `error ${err}`} (CMDQ_CONS.ERR ${err}, GERROR.CMDQ_ERR) at index ${at}; the driver replaced it with a CMD_SYNC and acknowledged it (GERRORN), as Linux's arm_smmu_cmdq_skip_err does`);
  }

  /** Why commands cannot go in or do not complete: the queue is off, or stopped by an error. */
  private stalled(name: string, raw: boolean): DriverError {
    if (getField(this.core.getRegister("CR0"), [3, 3]) === 0n) return new DriverError(`${name}: the command queue is off (CR0.CMDQEN=0): the command does not complete (Linux: CMD_SYNC timeout)`);
    const cons = this.core.getRegister("CMDQ_CONS");
    return new DriverError(`${name}: the command queue is full${raw ? "" : " and does not drain"}: commands wait behind the one at index ${Number(cons) & ((1 << this.queue().lg2) - 1)} that stopped the queue (CMDQ_CONS.ERR ${getField(cons, cmdqConsFields.ERR)}) until GERRORN acknowledges it`);
  }

  /**
   * The GERROR handler (arm_smmu_gerror_handler -> arm_smmu_cmdq_skip_err): while a command error
   * is active, a CERROR_ILL command is overwritten with a CMD_SYNC (CS=SEV), then GERRORN is set to
   * GERROR, which lets the queue go on.
   */
  private acknowledge(): void {
    for (let guard = 0; this.errorActive() && guard <= 1 << this.queue().lg2; guard++) {
      const consReg = this.core.getRegister("CMDQ_CONS");
      const { base, lg2 } = this.queue();
      if (getField(consReg, cmdqConsFields.ERR) === 1n) {
        const c = cmdSync();
        this.core.writeQwords(base + BigInt((Number(consReg) & ((1 << lg2) - 1)) * 16), [c.q0, c.q1]);
      }
      this.core.writeRegister("GERRORN", this.core.getRegister("GERROR"));
    }
  }
}

/** Trailing zero bits of a positive bigint (Linux __ffs). */
function trailingZeros(v: bigint): number {
  let n = 0;
  while (((v >> BigInt(n)) & 1n) === 0n) n++;
  return n;
}

/** What is wrong with a map or unmap of [iova, iova+size) in `d` with leaves of `pageSize` bytes, in VT-d's words. */
export function rangeProblem(d: SmmuDomain, iova: bigint, size: bigint, pageSize: bigint, pa?: bigint): string | undefined {
  const t = d.pgtable!;
  const page = bytesText(pageSize);
  if (!t.pageSizesLg2.some((l) => 1n << BigInt(l) === pageSize))
    return `page size ${page} is not a page or block size of domain ${d.id} (${t.pageSizesLg2.map((l) => bytesText(1n << BigInt(l))).join(", ")})`;
  const bad = alignmentProblem(iova, size, pageSize, page, pa);
  if (bad !== undefined) return bad;
  const last = iova + size - 1n;
  const ias = t.cfg.ias;
  const stage = d.type === "s2" ? "stage 2" : d.type === "nested" ? "nested stage 1" : "stage 1";
  if (last >> BigInt(ias) !== 0n)
    return `IOVA range ${hex(iova)}-${hex(last)} is beyond the ${ias}-bit input width of domain ${d.id} (${stage}, ${bytesText(1n << BigInt(d.granuleLg2))} granule: below ${hex(1n << BigInt(ias))})`;
  if (pa !== undefined && (pa + size - 1n) >> BigInt(t.cfg.oas) !== 0n) return `PA range ${hex(pa)}-${hex(pa + size - 1n)} is beyond the ${t.cfg.oas}-bit output size of domain ${d.id}`;
  return undefined;
}

/** A builder error as the driver reports it (an AllocationError stays one: the replay names the scenario key). */
function driverError(e: unknown): Error {
  return e instanceof AllocationError || e instanceof DriverError ? e : new DriverError((e as Error).message);
}
