/**
 * The SMMUv3 driver side: allocates and writes the stream table, the command and event queues,
 * CD tables, STEs, CDs and io-pgtable-arm translation tables in guest memory the way Linux's
 * arm-smmu-v3 driver does (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c; function names cited
 * below), and gives the register values its probe and reset program.
 *
 * - Stream table (arm_smmu_init_strtab): 2-level with SPLIT 8 (256 STEs, 16 KiB per level-2 table,
 *   allocated on a stream's first attach and filled with abort STEs, arm_smmu_init_l2_strtab) when
 *   IDR0.ST_LEVEL says so and SIDSIZE > 8; else linear, every STE abort.
 * - CD tables (arm_smmu_alloc_cd_tables): s1cdmax = the stream's SubstreamID bits; linear up to
 *   1024 CDs, else 2-level with 64 KiB leaves (1024 CDs) allocated when a CD in them is written.
 * - Domains: stage 1 (an ASID from 1, ARM_64_LPAE_S1 tables, a CD), stage 2 (a VMID from 1,
 *   ARM_64_LPAE_S2 tables, an S2 STE), nested (stage-1 tables and the CD table in the parent's IPA
 *   space: each of their pages is identity-mapped in the parent, as a VMM maps its guest's memory;
 *   a CD table a stream already had too, when it moves into a nested domain), identity (bypass
 *   STE), blocking (abort STE). A stream's CDs are all stage 1 or all nested over one parent.
 * - A stream's STE follows from what is attached to it (arm_smmu_attach_dev, arm_smmu_set_pasid,
 *   arm_smmu_update_ste): its RID domain, and its substreams' domains; with substreams and an
 *   identity or blocking RID domain the STE has a CD table with S1DSS bypass or terminate.
 */
import { formatBdf } from "../../trace/events.ts";
import type { GuestMemory, PageAllocator } from "../../guest/allocator.ts";
import { entryAddress, levelShift, type TableMemory } from "../../core/formats.ts";
import { encodeFields } from "../fields.ts";
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE, IoPgtableArm, allocatorTables, type GranuleLg2 } from "../../guest/io-pgtable-arm.ts";
import { cr0Fields, cr1Fields, cr2Fields, queueBaseFields, strtabBaseCfgFields, strtabBaseFields } from "./fields.ts";
import { abortSte, bypassSte, cdTableSte, l1std, nestedSte, s2Ste, type CdTableRef, type Qwords8, type S1DssName, type S2Config, type SteFeatures } from "./ste.ts";
import { l1cd, s1Cd, type S1Config } from "./cd.ts";
import type { SmmuProfile } from "./registers.ts";
import type { InvalidationMode } from "../../driver/flush-queue.ts";

export type SmmuDomainType = "s1" | "s2" | "nested" | "identity" | "blocking";

export interface SmmuDomainSpec {
  id: number;
  type: SmmuDomainType;
  /** Translation granule, log2 of its bytes: 12 (default), 14 or 16. */
  granuleLg2?: GranuleLg2;
  /** Input bits: stage 1 the VA size (default 48), stage 2 the IPA size (default the OAS, at most 48). */
  inputBits?: number;
  /** Nested: the stage-2 domain whose IPA space holds this domain's tables and output. */
  parent?: number;
  /** Stage 1 and nested: the ASID (default: the lowest free one from 1). */
  asid?: number;
  /** Stage 2: the VMID (default: the lowest free one from 1; 0 is reserved for stage-1 STEs). */
  vmid?: number;
  /** Stage 2: a nesting parent (IOMMU_HWPT_ALLOC_NEST_PARENT): S2FWB when IDR3.FWB. Default: true when a nested domain names it. */
  nestParent?: boolean;
}

export interface SmmuDomain {
  id: number;
  type: SmmuDomainType;
  granuleLg2: GranuleLg2;
  asid?: number;
  vmid?: number;
  parent?: SmmuDomain;
  /** The io-pgtable-arm tables (stage 1, stage 2, nested stage 1). */
  pgtable?: IoPgtableArm;
  /** How the driver invalidates this domain's unmaps (scenario build.domains[i].invalidation); absent: the platform's. */
  invalidation?: InvalidationMode;
  /** enforce_cache_coherency succeeded (Linux smmu_domain->enforce_cache_coherency): every device attached must have CANWBS. */
  enforceCoherency?: boolean;
}

export interface MapSpec {
  iova: bigint;
  pa: bigint;
  size: bigint;
  read?: boolean; // default true
  write?: boolean; // default true
  exec?: boolean; // default false: IOMMU_NOEXEC
  priv?: boolean; // IOMMU_PRIV (stage 1: AP[1] clear)
  cache?: boolean; // IOMMU_CACHE (default: IDR0.COHACC, as dma-iommu for a coherent device)
  mmio?: boolean; // IOMMU_MMIO
  /** One leaf size for the whole range (bytes); default: the largest alignment and size allow. */
  pageSize?: bigint;
}

export interface SmmuAttachSpec {
  /** StreamID (the RID unless the platform maps it). */
  sid: number;
  domain: number;
  /** SubstreamID (PASID): attach the domain to this substream rather than to the stream. */
  ssid?: number;
  /** SubstreamID bits of the stream (Linux master->ssid_bits): its CD table has 2^ssidBits CDs. Default 0. */
  ssidBits?: number;
  /** ATS enabled: EATS full. */
  ats?: boolean;
  /**
   * Replace what is attached there (Linux's attach_dev and set_dev_pasid replace the domain of a
   * live stream); without it an attached stream or substream is an error (scenario `build`).
   */
  replace?: boolean;
}

/** Which STE or CD an entry write is for. */
export type EntryRef = { kind: "ste"; sid: number } | { kind: "cd"; sid: number; ssid: number };

/** Writes one STE or CD (64 bytes) at `addr` (an IPA = PA under nesting). */
export type EntryWriter = (ref: EntryRef, addr: bigint, target: Qwords8) => void;

/** One leaf an unmap cleared: the IOVA it mapped and its size. */
export interface ClearedLeaf {
  iova: bigint;
  bytes: bigint;
}

/** A stream as the builder keeps it: what is attached, its CD table, where its STE is. */
export interface Stream {
  sid: number;
  ssidBits: number;
  ats: boolean;
  rid?: SmmuDomain;
  substreams: Map<number, SmmuDomain>;
  cdTable?: CdTableRef & { leaves: Map<number, bigint> };
}

const PAGE = 0x1000n;
/** Linux STRTAB_SPLIT and CTXDESC_L2_ENTRIES. */
export const STRTAB_SPLIT = 8;
const CD_L2_ENTRIES = 1024;
/** Linux ARM_SMMU_SH_ISH, CR1_CACHE_WB. */
const SH_ISH = 3, CACHE_WB = 1;

export class SmmuBuilder {
  readonly domains = new Map<number, SmmuDomain>();
  readonly streams = new Map<number, Stream>();
  private readonly tables: TableMemory;
  private strtab?: { base: bigint; cfg: bigint; l1: boolean; l2: Map<number, bigint> };
  private cmdq?: bigint;
  private eventq?: bigint;
  /**
   * How attach and detach write an STE or CD: at once by default (a scenario's `build`, before the
   * SMMU is on); the driver (driver.ts) writes them Linux's hitless way with CFGI and CMD_SYNC.
   */
  entryWriter: EntryWriter = (_ref, addr, q) => this.writeQwords(addr, q);
  /**
   * The StreamID of a device by its SID (segment<<16 | RID), as firmware's map gives it (module.ts
   * with config.smmu.rootComplexes: a RangeError for a device no mapping covers); the identity
   * without a map. The scenario's `build.devices` and the driver's attach/detach go through it.
   */
  streamIdOf: (sid: number) => number = (sid) => sid;
  /**
   * The CANWBS flag of the root complex a StreamID's requests come through (module.ts: each root
   * complex's with config.smmu.rootComplexes, config.smmu.canwbs without), and the requester of a
   * StreamID (the map read backwards; the identity without one), for the driver's messages.
   */
  canwbsOf: (streamId: number) => boolean = () => false;
  ridOf: (streamId: number) => number = (s) => s;

  constructor(
    private readonly mem: GuestMemory,
    private readonly alloc: PageAllocator,
    readonly profile: SmmuProfile,
  ) {
    this.tables = allocatorTables(mem, alloc);
  }

  private get features(): SteFeatures {
    return { attrTypesOvr: this.profile.attrTypesOvr, stalls: this.profile.stalls };
  }

  // ---- stream table, queues, registers ------------------------------------------------------------

  /** Whether the stream table is 2-level (Linux: ST_LEVEL 2-level and more SIDs than one leaf holds). */
  get twoLevel(): boolean {
    return this.profile.twoLevelStreamTable && this.profile.sidBits > STRTAB_SPLIT;
  }

  /** The stream table, allocated on first use (arm_smmu_init_strtab_2lvl / _linear). */
  private streamTable() {
    if (this.strtab) return this.strtab;
    const sidBits = this.profile.sidBits;
    if (this.twoLevel) {
      const l1Entries = 1 << (sidBits - STRTAB_SPLIT);
      const base = this.tables.allocTable(BigInt(l1Entries * 8) > PAGE ? BigInt(l1Entries * 8) : PAGE);
      const cfg = encodeFields(strtabBaseCfgFields, { FMT: 1, LOG2SIZE: sidBits, SPLIT: STRTAB_SPLIT });
      this.strtab = { base, cfg, l1: true, l2: new Map() };
    } else {
      const bytes = 64n << BigInt(sidBits);
      const base = this.tables.allocTable(bytes > PAGE ? bytes : PAGE);
      for (let sid = 0; sid < 1 << sidBits; sid++) this.writeQwords(base + BigInt(sid * 64), abortSte());
      this.strtab = { base, cfg: encodeFields(strtabBaseCfgFields, { FMT: 0, LOG2SIZE: sidBits }), l1: false, l2: new Map() };
    }
    return this.strtab;
  }

  /** The address of `sid`'s STE, allocating its level-2 table (abort STEs) on first use. */
  steAddress(sid: number): bigint {
    if (sid >= 2 ** this.profile.sidBits) throw new RangeError(`StreamID 0x${sid.toString(16)} is beyond IDR1.SIDSIZE ${this.profile.sidBits}`);
    const t = this.streamTable();
    if (!t.l1) return t.base + BigInt(sid * 64);
    const i = sid >> STRTAB_SPLIT;
    let l2 = t.l2.get(i);
    if (l2 === undefined) {
      l2 = this.tables.allocTable(64n << BigInt(STRTAB_SPLIT));
      for (let k = 0; k < 1 << STRTAB_SPLIT; k++) this.writeQwords(l2 + BigInt(k * 64), abortSte());
      this.mem.write64(t.base + BigInt(i * 8), l1std(l2, STRTAB_SPLIT));
      t.l2.set(i, l2);
    }
    return l2 + BigInt((sid & ((1 << STRTAB_SPLIT) - 1)) * 64);
  }

  /**
   * The register values Linux's arm_smmu_device_reset programs before enabling: CR1 (tables and
   * queues inner shareable, write-back), CR2 (PTM, RECINVSID), STRTAB_BASE (RA) and _CFG, the queue
   * bases (RA/WA, LOG2SIZE from IDR1) with PROD = CONS = 0, and CR0 (CMDQEN, EVENTQEN, ATSCHK with
   * ATS, SMMUEN); PRIQEN is not set (the model has no PRI queue).
   */
  registers(): Record<"CR0" | "CR1" | "CR2" | "STRTAB_BASE" | "STRTAB_BASE_CFG" | "CMDQ_BASE" | "CMDQ_PROD" | "CMDQ_CONS" | "EVENTQ_BASE" | "EVENTQ_PROD" | "EVENTQ_CONS", bigint> {
    const t = this.streamTable();
    const { cmdqLog2, eventqLog2 } = this.profile;
    this.cmdq ??= this.tables.allocTable(maxBytes(16n << BigInt(cmdqLog2)));
    this.eventq ??= this.tables.allocTable(maxBytes(32n << BigInt(eventqLog2)));
    return {
      CR1: encodeFields(cr1Fields, { TABLE_SH: SH_ISH, TABLE_OC: CACHE_WB, TABLE_IC: CACHE_WB, QUEUE_SH: SH_ISH, QUEUE_OC: CACHE_WB, QUEUE_IC: CACHE_WB }),
      CR2: encodeFields(cr2Fields, { PTM: 1, RECINVSID: 1 }),
      STRTAB_BASE: encodeFields(strtabBaseFields, { ADDR: t.base >> 6n, RA: 1 }),
      STRTAB_BASE_CFG: t.cfg,
      CMDQ_BASE: encodeFields(queueBaseFields, { ADDR: this.cmdq >> 5n, LOG2SIZE: cmdqLog2, RA: 1 }),
      CMDQ_PROD: 0n,
      CMDQ_CONS: 0n,
      EVENTQ_BASE: encodeFields(queueBaseFields, { ADDR: this.eventq >> 5n, LOG2SIZE: eventqLog2, RA: 1 }),
      EVENTQ_PROD: 0n,
      EVENTQ_CONS: 0n,
      CR0: encodeFields(cr0Fields, { SMMUEN: 1, EVENTQEN: 1, CMDQEN: 1, ATSCHK: this.profile.ats }),
    };
  }

  // ---- domains and mappings --------------------------------------------------------------------------

  createDomain(spec: SmmuDomainSpec): SmmuDomain {
    if (this.domains.has(spec.id)) throw new RangeError(`domain ${spec.id} is defined twice`);
    const granuleLg2 = spec.granuleLg2 ?? 12;
    const d: SmmuDomain = { id: spec.id, type: spec.type, granuleLg2 };
    const p = this.profile;
    const oas = Math.min(p.oas, 48);
    if (spec.type === "s1" || spec.type === "nested" || spec.type === "s2") {
      if (!p.granules.includes(granuleLg2)) throw new RangeError(`domain ${spec.id}: the SMMU has no ${2 ** (granuleLg2 - 10)} KiB granule (IDR5.GRAN*)`);
    }
    if (spec.type === "s1" || spec.type === "nested") {
      if (!p.s1) throw new RangeError(`domain ${spec.id}: the SMMU has no stage 1 (IDR0.S1P = 0)`);
      d.asid = spec.asid ?? this.freeId((x) => x.asid, p.asidBits, "ASID");
      this.checkId(spec.id, "asid", d.asid, p.asidBits);
    }
    if (spec.type === "s2") {
      if (!p.s2) throw new RangeError(`domain ${spec.id}: the SMMU has no stage 2 (IDR0.S2P = 0)`);
      d.vmid = spec.vmid ?? this.freeId((x) => x.vmid, p.vmidBits, "VMID");
      this.checkId(spec.id, "vmid", d.vmid, p.vmidBits);
      d.pgtable = new IoPgtableArm(this.tables, { fmt: "ARM_64_LPAE_S2", granuleLg2, ias: spec.inputBits ?? oas, oas, s2fwb: (spec.nestParent ?? false) && p.fwb });
    } else if (spec.type === "s1") {
      d.pgtable = new IoPgtableArm(this.tables, { fmt: "ARM_64_LPAE_S1", granuleLg2, ias: spec.inputBits ?? 48, oas });
    } else if (spec.type === "nested") {
      const parent = spec.parent === undefined ? undefined : this.domains.get(spec.parent);
      if (!parent || parent.type !== "s2") throw new RangeError(`domain ${spec.id}: a nested domain needs "parent", the id of a stage-2 domain defined before it`);
      d.parent = parent;
      const ipaBits = parent.pgtable!.cfg.ias;
      d.pgtable = new IoPgtableArm(this.ipaTables(parent, spec.id), { fmt: "ARM_64_LPAE_S1", granuleLg2, ias: spec.inputBits ?? 48, oas: ipaBits });
    } else if (spec.asid !== undefined || spec.vmid !== undefined) {
      throw new RangeError(`domain ${spec.id}: an ${spec.type} domain has no ASID or VMID`);
    }
    this.domains.set(spec.id, d);
    return d;
  }

  private checkId(domain: number, what: string, v: number, bits: number): void {
    const min = what === "vmid" ? 1 : 0;
    if (!Number.isInteger(v) || v < min || v >= 2 ** bits) throw new RangeError(`domain ${domain}: ${what} ${v} is not ${min}..${2 ** bits - 1} (${bits}-bit ${what.toUpperCase()}s)`);
    for (const o of this.domains.values())
      if ((what === "asid" ? o.asid : o.vmid) === v) throw new RangeError(`domain ${domain}: ${what} ${v} is already domain ${o.id}'s`);
  }

  private freeId(get: (d: SmmuDomain) => number | undefined, bits: number, what: string): number {
    const used = new Set([...this.domains.values()].map(get));
    for (let i = 1; i < 2 ** bits; i++) if (!used.has(i)) return i;
    throw new RangeError(`no free ${what}: all ${2 ** bits - 1} are in use`);
  }

  /**
   * Table memory in a nesting parent's IPA space: each table is placed at IPA = PA and its granules
   * are mapped read/write, cacheable, in the parent (as the VMM maps the memory of its guest).
   */
  private ipaTables(parent: SmmuDomain, id: number): TableMemory {
    return { ...this.tables, allocTable: (bytes) => this.ipaAlloc(parent, bytes, `a page-table page of nested domain ${id}`) };
  }

  private ipaAlloc(parent: SmmuDomain, bytes: bigint, what: string): bigint {
    const pa = this.tables.allocTable(bytes);
    this.ipaIdentity(parent, [{ pa, bytes }], `${what} (PA 0x${pa.toString(16)})`);
    return pa;
  }

  /**
   * Makes every range reachable at IPA = PA through the nesting parent: a granule of the parent
   * that maps nothing is mapped to itself read/write, cacheable (as the VMM maps its guest's
   * memory); one already mapped to itself stays. A granule the parent maps to another PA cannot be
   * used: a RangeError naming `what`, and nothing is mapped.
   */
  private ipaIdentity(parent: SmmuDomain, ranges: readonly { pa: bigint; bytes: bigint }[], what: string): void {
    const g = 1n << BigInt(parent.granuleLg2);
    const free: bigint[] = [];
    for (const { pa, bytes } of ranges)
      for (let at = pa & ~(g - 1n); at < pa + bytes; at += g) {
        const out = this.leafOutput(parent, at);
        if (out === undefined) {
          if (!free.includes(at)) free.push(at);
        } else if (out !== at)
          throw new RangeError(`${what} cannot be reached through domain ${parent.id}, its stage-2 parent: IPA 0x${at.toString(16)} maps PA 0x${out.toString(16)} there (the builder places nested stage-1 structures at IPA = PA)`);
      }
    for (const at of free) parent.pgtable!.map(at, at, g, IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE);
  }

  /** The output address `iova` translates to through `d`'s tables (the leaf's, as io-pgtable's iova_to_phys walks), or undefined. */
  private leafOutput(d: SmmuDomain, iova: bigint): bigint | undefined {
    const t = d.pgtable!;
    let table = t.root;
    for (let level = t.shape.topLevel; level >= 0; level--) {
      const e = this.tables.read64(entryAddress(t.shape, table, iova, level)) ?? 0n;
      if ((e & 1n) === 0n) return undefined;
      const out = e & ((1n << 48n) - 1n) & ~((1n << BigInt(d.granuleLg2)) - 1n);
      if (level > 0 && (e & 3n) === 3n) {
        table = out;
        continue;
      }
      const span = 1n << BigInt(levelShift(t.shape.geometry, level));
      return (out & ~(span - 1n)) | (iova & (span - 1n));
    }
    return undefined;
  }

  /** The IOMMU_* prot Linux's callers pass for `m` (dma-iommu: CACHE for a coherent device). */
  prot(m: Omit<MapSpec, "iova" | "pa" | "size">): number {
    let prot = 0;
    if (m.read ?? true) prot |= IOMMU_READ;
    if (m.write ?? true) prot |= IOMMU_WRITE;
    if (!(m.exec ?? false)) prot |= IOMMU_NOEXEC;
    if (m.priv) prot |= IOMMU_PRIV;
    if (m.cache ?? this.profile.coherent) prot |= IOMMU_CACHE;
    if (m.mmio) prot |= IOMMU_MMIO;
    return prot;
  }

  /**
   * Maps [iova, iova+size) to [pa, ...) in `d` through io-pgtable-arm, yielding the bytes mapped
   * after each leaf size's run (one call per leaf when `pageSize` fixes the size).
   */
  *mapSteps(d: SmmuDomain, m: MapSpec): Generator<bigint, void, void> {
    const t = d.pgtable;
    if (!t) throw new RangeError(`domain ${d.id} is ${d.type}: it has no page tables to map into`);
    const prot = this.prot(m);
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) throw new RangeError("a mapping needs read or write permission (Linux maps nothing without either)");
    if (m.pageSize === undefined) {
      yield t.map(m.iova, m.pa, m.size, prot);
      return;
    }
    const ps = m.pageSize;
    if (!t.pageSizesLg2.some((lg2) => 1n << BigInt(lg2) === ps))
      throw new RangeError(`pageSize 0x${ps.toString(16)} is not a page or block size of domain ${d.id} (${t.pageSizesLg2.map((l) => sizeName(l)).join(", ")})`);
    if ((m.iova | m.pa | m.size) & (ps - 1n)) throw new RangeError(`iova, pa and size must be multiples of pageSize 0x${ps.toString(16)}`);
    t.map(m.iova, m.pa, m.size, prot); // checks the whole range first; largest sizes, then
    t.unmap(m.iova, m.size); // rewritten with the one size asked for
    for (let off = 0n; off < m.size; off += ps) yield t.map(m.iova + off, m.pa + off, ps, prot);
  }

  map(d: SmmuDomain, m: MapSpec): void {
    for (const _ of this.mapSteps(d, m));
  }

  /**
   * Clears every leaf (page or block) mapping an address in [iova, iova+size) of `d`, a block
   * whole even where it reaches beyond the range, and returns them in address order. Only tables
   * that exist are read, so the cost follows what is mapped; the tables themselves stay.
   */
  unmapRange(d: SmmuDomain, iova: bigint, size: bigint): ClearedLeaf[] {
    const t = d.pgtable;
    if (!t) throw new RangeError(`domain ${d.id} is ${d.type}: it has no page tables to unmap from`);
    const out: ClearedLeaf[] = [];
    const clear = (table: bigint, level: number, start: bigint, end: bigint) => {
      const span = 1n << BigInt(levelShift(t.shape.geometry, level));
      for (let va = start & ~(span - 1n); va < end; va += span) {
        const at = entryAddress(t.shape, table, va, level);
        const e = this.tables.read64(at) ?? 0n;
        if ((e & 1n) === 0n) continue;
        if (level > 0 && (e & 3n) === 3n) {
          const next = e & ((1n << 48n) - 1n) & ~((1n << BigInt(d.granuleLg2)) - 1n);
          clear(next, level - 1, va > start ? va : start, va + span < end ? va + span : end);
        } else {
          this.tables.write64(at, 0n);
          out.push({ iova: va, bytes: span });
        }
      }
    };
    clear(t.root, t.shape.topLevel, iova, iova + size);
    return out;
  }

  // ---- streams, CD tables, STEs --------------------------------------------------------------------

  /**
   * Attaches a domain to a stream (or one of its substreams) and rewrites the stream's STE (and
   * the substream's CD) to match. Returns the STE's address.
   */
  attach(a: SmmuAttachSpec): bigint {
    const d = this.domains.get(a.domain);
    const what = `StreamID 0x${a.sid.toString(16)} (${formatBdf(a.sid)})${a.ssid !== undefined ? ` SubstreamID ${a.ssid}` : ""}`;
    if (!d) throw new RangeError(`attach of ${what}: no domain ${a.domain}`);
    const ste = this.steAddress(a.sid);
    let s = this.streams.get(a.sid);
    if (!s) {
      const ssidBits = a.ssidBits ?? 0;
      if (!Number.isInteger(ssidBits) || ssidBits < 0 || ssidBits > this.profile.ssidBits) throw new RangeError(`attach of ${what}: ssidBits ${ssidBits} is not 0..${this.profile.ssidBits} (IDR1.SSIDSIZE)`);
      s = { sid: a.sid, ssidBits, ats: (a.ats ?? false) && this.profile.ats, substreams: new Map() };
      this.streams.set(a.sid, s);
    }
    const old = a.ssid === undefined ? s.rid : s.substreams.get(a.ssid);
    if (old && !a.replace) throw new RangeError(`${what} is already attached to domain ${old.id}`);
    if (a.ssid === undefined) {
      if (d.type === "s2" && s.substreams.size) throw new RangeError(`attach of ${what}: a stage-2 domain cannot serve a stream with substreams attached`);
      const mix = this.cdTableMix(s, undefined, d);
      if (mix) throw new RangeError(`attach of ${what}: ${mix}`);
      if (d.type === "nested") this.cdTableInIpa(s, d.parent!, what);
      s.rid = d;
      if (d.type === "s1" || d.type === "nested") this.writeCd(s, 0, d);
      else {
        // arm_smmu_attach_dev: the new STE first, then CD 0 of a stage-1 domain it replaced is cleared
        this.entryWriter({ kind: "ste", sid: s.sid }, ste, this.steOf(s));
        if (old && (old.type === "s1" || old.type === "nested")) this.clearCd(s, 0);
        return ste;
      }
    } else {
      if (d.type !== "s1" && d.type !== "nested") throw new RangeError(`attach of ${what}: only stage-1 and nested domains serve substreams, not ${d.type}`);
      if (a.ssid === 0) throw new RangeError(`attach of ${what}: SubstreamID 0 is the stream's own (S1DSS=SSID0); attach without ssid`);
      if (a.ssid >= 2 ** s.ssidBits) throw new RangeError(`attach of ${what}: beyond the stream's ${2 ** s.ssidBits} substreams (ssidBits ${s.ssidBits})`);
      if (s.rid?.type === "s2") throw new RangeError(`attach of ${what}: the stream's own domain ${s.rid.id} is stage 2 (substreams need a CD table)`);
      const mix = this.cdTableMix(s, a.ssid, d);
      if (mix) throw new RangeError(`attach of ${what}: ${mix}`);
      if (d.type === "nested") this.cdTableInIpa(s, d.parent!, what);
      s.substreams.set(a.ssid, d);
      this.writeCd(s, a.ssid, d);
    }
    this.entryWriter({ kind: "ste", sid: s.sid }, ste, this.steOf(s));
    return ste;
  }

  /**
   * Detaches what is attached to a stream (Linux: the blocking domain replaces it) or to one of its
   * substreams (arm_smmu_remove_dev_pasid): the STE becomes what is left calls for (abort when
   * nothing is), and the CD the domain used is cleared. Returns the domain and the stream.
   */
  detach(sid: number, ssid?: number): { domain: SmmuDomain; stream: Stream } {
    const s = this.streams.get(sid);
    const what = `StreamID 0x${sid.toString(16)} (${formatBdf(sid)})${ssid !== undefined ? ` SubstreamID ${ssid}` : ""}`;
    const d = ssid === undefined ? s?.rid : s?.substreams.get(ssid);
    if (!s || !d) throw new RangeError(`${what} is not attached`);
    const ste = this.steAddress(sid);
    if (ssid === undefined) {
      s.rid = undefined;
      this.entryWriter({ kind: "ste", sid }, ste, this.steOf(s));
      if (d.type === "s1" || d.type === "nested") this.clearCd(s, 0);
    } else {
      s.substreams.delete(ssid);
      this.clearCd(s, ssid);
      this.entryWriter({ kind: "ste", sid }, ste, this.steOf(s));
    }
    return { domain: d, stream: s };
  }

  /**
   * Why `d` cannot go to `ssid` (undefined: the stream's own CD 0) given the stream's other CDs: an
   * STE is nested over one parent or not nested at all, and under nesting every CD's tables are read
   * as IPAs, so the CDs of one stream are all stage 1 or all nested over the same parent.
   */
  private cdTableMix(s: Stream, ssid: number | undefined, d: SmmuDomain): string | undefined {
    const users = [...s.substreams].filter(([k]) => k !== ssid).map(([, x]) => x);
    if (ssid !== undefined && s.rid) users.push(s.rid);
    const cds = [d, ...users].filter((x) => x.type === "s1" || x.type === "nested");
    const nested = cds.find((x) => x.type === "nested");
    const odd = nested && cds.find((x) => x.type !== "nested" || x.parent !== nested.parent);
    if (!nested || !odd) return undefined;
    const name = (x: SmmuDomain) => (x.type === "nested" ? `nested domain ${x.id} (over domain ${x.parent!.id})` : `stage-1 domain ${x.id}`);
    return `${name(d)} cannot share the stream's CD table with ${name(odd === d ? nested : odd)} (an STE is nested over one parent or not at all: every CD of the stream is read through it)`;
  }

  /**
   * A stream that becomes nested keeps the CD table it has (allocated for a stage-1 domain, or for
   * nested domains over another parent): its STE's S1ContextPtr is an IPA then, so the table's
   * pages (a 2-level table's L1 and leaves) must be reachable at IPA = PA through `parent`
   * (ipaIdentity maps what is free; a page the parent maps elsewhere refuses the attach, before
   * anything changes). In Linux the guest owns that table and the VMM's stage 2 maps its memory
   * (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3-iommufd.c, arm_smmu_make_nested_cd_table_ste: STE qword 0,
   * S1ContextPtr with it, comes from the guest's vSTE).
   */
  private cdTableInIpa(s: Stream, parent: SmmuDomain, what: string): void {
    const t = s.cdTable;
    if (!t) return; // allocated in the parent's IPA space when the first CD is written (cdAddress)
    const contexts = 2 ** s.ssidBits;
    const l1 = maxBytes(BigInt(t.s1fmt === 0 ? contexts * 64 : Math.ceil(contexts / CD_L2_ENTRIES) * 8));
    const ranges = [{ pa: t.ptr, bytes: l1 }, ...[...t.leaves.values()].map((pa) => ({ pa, bytes: BigInt(CD_L2_ENTRIES * 64) }))];
    this.ipaIdentity(parent, ranges, `attach of ${what}: its CD table (PA 0x${t.ptr.toString(16)})`);
  }

  /** arm_smmu_clear_cd: the CD of `ssid` becomes all zero (V=0), if the stream has a CD table. */
  private clearCd(s: Stream, ssid: number): void {
    if (!s.cdTable) return;
    const nested = s.rid?.type === "nested" ? s.rid : [...s.substreams.values()].find((x) => x.type === "nested");
    this.entryWriter({ kind: "cd", sid: s.sid, ssid }, this.cdAddress(s, ssid, nested?.parent), [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
  }

  /** The STE a stream's attachments call for (arm_smmu_attach_dev / arm_smmu_update_ste). */
  private steOf(s: Stream): Qwords8 {
    const f = this.features;
    const rid = s.rid;
    if (rid?.type === "s2") return s2Ste(f, this.s2Config(rid), { ats: s.ats });
    const cds = s.substreams.size > 0 || rid?.type === "s1" || rid?.type === "nested";
    if (!s.cdTable || !cds) return rid?.type === "identity" ? bypassSte(f) : abortSte();
    const s1dss: S1DssName = rid === undefined || rid.type === "blocking" ? "terminate" : rid.type === "identity" ? "bypass" : "ssid0";
    const nested = rid?.type === "nested" ? rid : [...s.substreams.values()].find((x) => x.type === "nested");
    if (nested) return nestedSte(f, this.s2Config(nested.parent!), { cdTable: s.cdTable, s1dss, ats: s.ats });
    return cdTableSte(f, { cdTable: s.cdTable, s1dss, ats: s.ats });
  }

  /** The VTCR-like facts of a stage-2 domain as its STE carries them. */
  s2Config(d: SmmuDomain): S2Config {
    const t = d.pgtable!;
    return { vmid: d.vmid!, tsz: t.tcr.tsz, sl0: t.tcr.sl0!, irgn: t.tcr.irgn, orgn: t.tcr.orgn, sh: t.tcr.sh, tg: t.tcr.tg, ps: t.tcr.ips, ttb: t.root, fwb: t.cfg.s2fwb ?? false };
  }

  /** The TCR-like facts of a stage-1 (or nested) domain as its CD carries them. */
  s1Config(d: SmmuDomain): S1Config {
    const t = d.pgtable!;
    return { tsz: t.tcr.tsz, tg: t.tcr.tg, irgn: t.tcr.irgn, orgn: t.tcr.orgn, sh: t.tcr.sh, ips: t.tcr.ips, ttb: t.root, mair: t.tcr.mair!, hd: t.cfg.hd };
  }

  /** Writes the CD of `ssid` for domain `d` in the stream's CD table, allocating what it needs. */
  private writeCd(s: Stream, ssid: number, d: SmmuDomain): void {
    const at = this.cdAddress(s, ssid, d.type === "nested" ? d.parent : undefined);
    this.entryWriter({ kind: "cd", sid: s.sid, ssid }, at, s1Cd(this.s1Config(d), { asid: d.asid! }));
  }

  /**
   * The address (an IPA under nesting) of the CD of `ssid`: the stream's CD table is allocated on
   * first use (arm_smmu_alloc_cd_tables), a 64 KiB leaf on the first CD in it (arm_smmu_alloc_cd_ptr).
   */
  private cdAddress(s: Stream, ssid: number, parent?: SmmuDomain): bigint {
    const alloc = (bytes: bigint) => (parent ? this.ipaAlloc(parent, bytes, `the CD table of StreamID 0x${s.sid.toString(16)}`) : this.tables.allocTable(bytes));
    if (!s.cdTable) {
      const contexts = 2 ** s.ssidBits;
      if (!this.profile.twoLevelCdTable || contexts <= CD_L2_ENTRIES) s.cdTable = { ptr: alloc(maxBytes(BigInt(contexts * 64))), s1fmt: 0, s1cdmax: s.ssidBits, leaves: new Map() };
      else s.cdTable = { ptr: alloc(maxBytes(BigInt(Math.ceil(contexts / CD_L2_ENTRIES) * 8))), s1fmt: 2, s1cdmax: s.ssidBits, leaves: new Map() };
    }
    const t = s.cdTable;
    if (t.s1fmt === 0) return t.ptr + BigInt(ssid * 64);
    const i = Math.floor(ssid / CD_L2_ENTRIES);
    let leaf = t.leaves.get(i);
    if (leaf === undefined) {
      leaf = alloc(BigInt(CD_L2_ENTRIES * 64));
      this.mem.write64(t.ptr + BigInt(i * 8), l1cd(leaf));
      t.leaves.set(i, leaf);
    }
    return leaf + BigInt((ssid % CD_L2_ENTRIES) * 64);
  }

  private writeQwords(pa: bigint, q: Qwords8): void {
    this.mem.writeQwords(pa, q);
  }
}

const maxBytes = (b: bigint) => (b > PAGE ? b : PAGE);
const sizeName = (lg2: number) => (lg2 >= 30 ? `${2 ** (lg2 - 30)}G` : lg2 >= 20 ? `${2 ** (lg2 - 20)}M` : `${2 ** (lg2 - 10)}K`);
