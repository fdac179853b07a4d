/**
 * The VT-d driver side: allocates and writes root, context, PASID-directory and PASID-table entries
 * and first-/second-stage page tables in guest memory, the way Linux's intel-iommu driver does
 * (drivers/iommu/intel/iommu.c, pasid.c, and the generic_pt vtdss/x86_64 formats).
 *
 * It writes only what a driver writes; the core reads it back bit for bit. Structure layouts are
 * the same as in assembly/arch/vtd (spec chapter 9); their bit numbers are repeated here because
 * the host writes what the core reads, and a test round-trips every field.
 */
import { getField, capFields, ecapFields } from "./registers.ts";
import { formatBdf } from "../../trace/events.ts";
import { inputBits, isFirstStage, leafLevelOf, pageName, rangeProblem, type DeviceCounts } from "./checks.ts";

export { AllocationError, PageAllocator, type GuestMemory, type MemoryOwner } from "../../guest/allocator.ts";
import { type GuestMemory, type PageAllocator } from "../../guest/allocator.ts";

export type { DomainType, DomainSpec, Domain } from "./domain.ts";
import type { DomainType, DomainSpec, Domain } from "./domain.ts";

export interface MapOptions {
  read?: boolean; // default true
  write?: boolean; // default true
  exec?: boolean; // first stage: clear XD (default false)
  user?: boolean; // first stage: U/S (default true)
  global?: boolean; // first stage: G (default false)
  snp?: boolean; // second stage: SNP in the leaf (default: the domain's forceSnoop)
  pageSize?: bigint; // 4 KiB, 2 MiB or 1 GiB (default 4 KiB)
}

export interface AttachSpec {
  sid: number; // bus<<8 | devfn (segment ignored: one DMAR unit)
  pasid?: number; // absent: the request-without-PASID entry (RID_PASID, or PASID 0)
  domain: number;
  ats?: boolean; // context DTE (scalable) or TT=01 (legacy)
  pri?: boolean; // context PRE
  paside?: boolean; // context PASIDE: requests with PASID allowed (default ECAP.PASID)
  /** PASIDs the device may use: the PASID directory covers 2^pasidBits PASIDs. Default 20. */
  pasidBits?: number;
  ridPasid?: number; // RID_PASID written in the context entry when ECAP.RPS (default 0)
  pgsnp?: boolean; // default: the domain's forceSnoop for FS/nested
  fpd?: boolean;
  sre?: boolean; // supervisor requests (kernel SVA)
  ere?: boolean;
  wpe?: boolean;
  smep?: boolean;
  nxe?: boolean; // default true for FS/nested
  eafe?: boolean;
  ssade?: boolean;
  pwsnp?: boolean; // default ECAP.SMPWCS, as Linux
}

/** A device (and PASID) attached to a domain, as the builder wrote it. */
export interface Attachment {
  sid: number;
  /** The PASID given to attach(); undefined for the request-without-PASID entry. */
  pasid?: number;
  /** Scalable mode: the PASID-table entry written (RID_PASID for requests without PASID). Legacy: undefined. */
  pasidEntry?: number;
  domain: Domain;
  /** The device's context entry allows ATS (scalable DTE, legacy TT=01): it may hold a device-TLB. */
  ats: boolean;
}

type PasidEntryQwords = [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];

const PAGE_4K = 1n << 12n;
const ADDR_MASK = ((1n << 52n) - 1n) & ~0xfffn;
const bit = (n: number) => 1n << BigInt(n);

// second-stage entry bits (spec 9.8) and first-stage entry bits (spec 9.7)
const SS = { R: bit(0), W: bit(1), PS: bit(7), SNP: bit(11) };
const FS = { P: bit(0), RW: bit(1), US: bit(2), A: bit(5), D: bit(6), PS: bit(7), G: bit(8), XD: bit(63) };
const PGTT = { fs: 1n, ss: 2n, nested: 3n, pt: 4n } as const;

export class VtdBuilder {
  readonly domains = new Map<number, Domain>();
  /** Every attach() in order (what a driver's device/domain bookkeeping would hold). */
  readonly attachments: Attachment[] = [];
  /**
   * Called when a nested domain's new first-stage table page is mapped into its parent second
   * stage (GPA = PA): a driver that must invalidate after a map (caching mode) hooks this.
   */
  onParentMap?: (parent: Domain, gpa: bigint, size: bigint) => void;
  /** Table entries read by map() and unmap() walks so far (their cost follows what is mapped). */
  entriesVisited = 0;
  /** The devices given a context entry (whether it allows ATS) and their PASID-table entries. */
  private readonly devices = new Map<number, { ats: boolean; pasids: Set<number> }>();
  private rootTable?: bigint;
  /** Per device (sid): its PASID directory and the PASID tables allocated under it. */
  private readonly pasidDirs = new Map<number, { dir: bigint; entries: number }>();

  constructor(
    private readonly mem: GuestMemory,
    private readonly alloc: PageAllocator,
    readonly mode: "scalable" | "legacy",
    readonly cap: bigint,
    readonly ecap: bigint,
  ) {}

  private ecapBit(name: keyof typeof ecapFields): boolean {
    return getField(this.ecap, ecapFields[name]) !== 0n;
  }

  /** The root table address, allocated on first use. */
  root(): bigint {
    this.rootTable ??= this.alloc.alloc(1, "the root table");
    return this.rootTable;
  }

  /** RTADDR_REG for this configuration: root table | TTM (00 legacy, 01 scalable). */
  rtaddr(): bigint {
    return this.root() | (this.mode === "scalable" ? 1n << 10n : 0n);
  }

  private read(pa: bigint): bigint {
    const v = this.mem.read64(pa);
    if (v === undefined) throw new Error(`builder read unwritten guest memory at 0x${pa.toString(16)}`);
    return v;
  }

  // ---- domains and page tables --------------------------------------------------------------------

  createDomain(spec: DomainSpec): Domain {
    if (this.domains.has(spec.id)) throw new RangeError(`domain ${spec.id} is defined twice`);
    const type = spec.type;
    const levels = spec.levels ?? 4;
    if (type === "ss" && (levels < 3 || levels > 5)) throw new RangeError(`domain ${spec.id}: second-stage levels must be 3, 4 or 5`);
    if ((type === "fs" || type === "nested") && levels !== 4 && levels !== 5)
      throw new RangeError(`domain ${spec.id}: first-stage levels must be 4 or 5`);
    if (type === "nested" && this.mode === "legacy") throw new RangeError(`domain ${spec.id}: nested needs scalable mode`);
    if (type === "fs" && this.mode === "legacy") throw new RangeError(`domain ${spec.id}: first stage needs scalable mode`);
    let parent: Domain | undefined;
    if (type === "nested") {
      parent = spec.parent === undefined ? undefined : this.domains.get(spec.parent);
      if (!parent || parent.type !== "ss")
        throw new RangeError(`domain ${spec.id}: a nested domain needs "parent", the id of a second-stage domain defined before it`);
    }
    const d: Domain = {
      id: spec.id,
      type,
      levels,
      forceSnoop: spec.forceSnoop ?? false,
      presetAccessed: spec.presetAccessed ?? true,
      root: 0n,
    };
    if (parent) d.parent = parent;
    if (type !== "pt") d.root = this.tablePage(d);
    this.domains.set(spec.id, d);
    return d;
  }

  /**
   * A new zeroed table page for domain `d`. For a nested domain the page lives in guest-physical
   * space: it is placed at GPA = PA and mapped read/write in the parent second stage, as the host
   * maps the guest memory that holds a guest's first-stage tables.
   */
  private tablePage(d: Domain): bigint {
    const pa = this.alloc.alloc(1, `a page-table page of domain ${d.id}`);
    if (d.type === "nested") {
      this.map(d.parent!, pa, pa, PAGE_4K, { read: true, write: true });
      this.onParentMap?.(d.parent!, pa, PAGE_4K);
    }
    return pa;
  }

  /**
   * Maps [iova, iova+size) to [pa, pa+size) in domain `d` with pages of `opts.pageSize`. The range
   * is checked against the domain's format first and must be unmapped: nothing is written unless
   * the whole mapping can be (a page the allocator cannot hand out excepted).
   */
  map(d: Domain, iova: bigint, pa: bigint, size: bigint, opts: MapOptions = {}): void {
    for (const _ of this.mapSteps(d, iova, pa, size, opts));
  }

  /**
   * map() in steps: yields the number of leaf entries written after each run of them in one leaf
   * table (at most 512), so a caller can show progress and stop between steps.
   */
  *mapSteps(d: Domain, iova: bigint, pa: bigint, size: bigint, opts: MapOptions = {}): Generator<number, void, void> {
    if (d.type === "pt") throw new RangeError(`domain ${d.id} is pass-through: it has no page tables to map into`);
    const pageSize = opts.pageSize ?? PAGE_4K;
    const problem = rangeProblem(d, { iova, size, pa, pageSize });
    if (problem) throw new RangeError(problem);
    const leafLevel = leafLevelOf(pageSize)!;
    const template = this.leafEntry(d, 0n, leafLevel, opts);
    const hi = iova & ~this.indexMask(d);
    const start = iova & this.indexMask(d);
    const busy = this.firstBusy(d, d.root, d.levels - 1, 0n, start, start + size, leafLevel);
    if (busy) {
      const at = `0x${(hi | busy.va).toString(16)}`;
      if (busy.what === "table") throw new RangeError(`IOVA ${at} holds a page table in domain ${d.id} (smaller pages are or were mapped there; tables are kept): a ${pageName(pageSize)} page cannot go there`);
      throw new RangeError(`IOVA ${at} is already mapped${busy.what === "large" ? " by a large page" : ""} in domain ${d.id}`);
    }
    d.hasMappings = true;
    yield* this.fill(d, d.root, d.levels - 1, 0n, start, start + size, pa - start, leafLevel, template);
  }

  /** Table index space of `d`: the input width (first stage: without the canonical upper bits). */
  private indexMask(d: Domain): bigint {
    return (1n << BigInt(inputBits(d.levels))) - 1n;
  }

  /**
   * The first entry in [start, end) of the table at `table` (level `level`, covering from `base`)
   * that a map with leaves at `leafLevel` would overwrite: a leaf there, a large page above, or (at
   * the leaf level of a large page) a table pointer. Reads only tables that exist.
   */
  private firstBusy(d: Domain, table: bigint, level: number, base: bigint, start: bigint, end: bigint, leafLevel: number): { va: bigint; what: "leaf" | "large" | "table" } | undefined {
    const sh = BigInt(12 + 9 * level);
    const i0 = Number((start - base) >> sh), i1 = Number((end - 1n - base) >> sh);
    const ps = isFirstStage(d.type) ? FS.PS : SS.PS;
    for (let i = i0; i <= i1; i++) {
      const e = this.read(table + BigInt(i * 8));
      this.entriesVisited++;
      if (e === 0n) continue;
      const lo = base + (BigInt(i) << sh);
      const va = lo > start ? lo : start;
      if (level === leafLevel) return { va, what: level > 0 && !(e & ps) ? "table" : "leaf" };
      if (e & ps) return { va, what: "large" };
      const hit = this.firstBusy(d, e & ADDR_MASK, level - 1, lo, va, end < lo + (1n << sh) ? end : lo + (1n << sh), leafLevel);
      if (hit) return hit;
    }
    return undefined;
  }

  /**
   * Writes the leaves of [start, end) (index space) below the table at `table` (level `level`,
   * covering from `base`), output address = index + `delta`, allocating the tables on the way:
   * one write per run of leaves in a leaf table, yielding how many it wrote.
   */
  private *fill(d: Domain, table: bigint, level: number, base: bigint, start: bigint, end: bigint, delta: bigint, leafLevel: number, template: bigint): Generator<number, void, void> {
    const sh = BigInt(12 + 9 * level);
    const i0 = Number((start - base) >> sh), i1 = Number((end - 1n - base) >> sh);
    if (level === leafLevel) {
      const leaves = new Array<bigint>(i1 - i0 + 1);
      for (let i = i0; i <= i1; i++) leaves[i - i0] = template | (base + (BigInt(i) << sh) + delta);
      this.mem.writeQwords(table + BigInt(i0 * 8), leaves);
      yield leaves.length;
      return;
    }
    const fs = isFirstStage(d.type);
    for (let i = i0; i <= i1; i++) {
      const slot = table + BigInt(i * 8);
      const e = this.read(slot);
      let next: bigint;
      if (e === 0n) {
        next = this.tablePage(d);
        this.mem.write64(slot, fs ? next | FS.P | FS.RW | FS.US | FS.A : next | SS.R | SS.W);
      } else next = e & ADDR_MASK;
      const lo = base + (BigInt(i) << sh);
      const hi = lo + (1n << sh);
      yield* this.fill(d, next, level - 1, lo, lo > start ? lo : start, hi < end ? hi : end, delta, leafLevel, template);
    }
  }

  private leafEntry(d: Domain, pa: bigint, leafLevel: number, o: MapOptions): bigint {
    const read = o.read ?? true, write = o.write ?? true;
    if (isFirstStage(d.type)) {
      let e = pa | FS.P;
      if (write) e |= FS.RW;
      if (o.user ?? true) e |= FS.US;
      if (o.global) e |= FS.G;
      if (!(o.exec ?? false)) e |= FS.XD;
      if (leafLevel > 0) e |= FS.PS;
      if (d.presetAccessed) e |= FS.A | (write ? FS.D : 0n);
      return e;
    }
    let e = pa;
    if (read) e |= SS.R;
    if (write) e |= SS.W;
    if (o.snp ?? d.forceSnoop) e |= SS.SNP;
    if (leafLevel > 0) e |= SS.PS;
    if (!read && !write) throw new RangeError("a second-stage mapping needs read or write permission (R=W=0 is not present)");
    return e;
  }

  /** Clears the leaf entries of [iova, iova+size) (tables are kept, as Linux keeps them). */
  unmap(d: Domain, iova: bigint, size: bigint): number {
    return this.unmapRange(d, iova, size).cleared;
  }

  /**
   * unmap() that also reports the IOVA range the cleared leaves mapped, [start, end] inclusive (a
   * large page is cleared whole, so the range can exceed the request), undefined when none was,
   * and how many table entries it read. The range is checked against the domain's format first;
   * the walk reads only the tables that exist, so its cost follows what is mapped, not the size.
   */
  unmapRange(d: Domain, iova: bigint, size: bigint): { cleared: number; start?: bigint; end?: bigint; visited: number } {
    if (d.type === "pt") throw new RangeError(`domain ${d.id} is pass-through: it has no page tables to unmap from`);
    const problem = rangeProblem(d, { iova, size, pageSize: PAGE_4K });
    if (problem) throw new RangeError(problem);
    const hi = iova & ~this.indexMask(d);
    const start = iova & this.indexMask(d);
    const before = this.entriesVisited;
    const out: { cleared: number; start?: bigint; end?: bigint } = { cleared: 0 };
    this.clear(d, d.root, d.levels - 1, 0n, start, start + size, out);
    const visited = this.entriesVisited - before;
    return out.start === undefined ? { cleared: out.cleared, visited } : { cleared: out.cleared, start: hi | out.start, end: hi | out.end!, visited };
  }

  /** Clears the present leaves in [start, end) below the table at `table` (level `level`, covering from `base`). */
  private clear(d: Domain, table: bigint, level: number, base: bigint, start: bigint, end: bigint, out: { cleared: number; start?: bigint; end?: bigint }): void {
    const sh = BigInt(12 + 9 * level);
    const i0 = Number((start - base) >> sh), i1 = Number((end - 1n - base) >> sh);
    const fs = isFirstStage(d.type);
    for (let i = i0; i <= i1; i++) {
      const slot = table + BigInt(i * 8);
      const e = this.read(slot);
      this.entriesVisited++;
      if (!(fs ? e & FS.P : e & (SS.R | SS.W))) continue;
      const lo = base + (BigInt(i) << sh);
      const hi = lo + (1n << sh);
      if (level === 0 || e & (fs ? FS.PS : SS.PS)) {
        this.mem.write64(slot, 0n);
        out.cleared++;
        out.start ??= lo;
        out.end = hi - 1n;
      } else this.clear(d, e & ADDR_MASK, level - 1, lo, lo > start ? lo : start, hi < end ? hi : end, out);
    }
  }

  /** The leaf slot mapping `va` in `d` (undefined if none) and its level. */
  findLeaf(d: Domain, va: bigint): { slot?: bigint; level: number } {
    const fs = isFirstStage(d.type);
    const index = va & this.indexMask(d);
    let table = d.root;
    for (let level = d.levels - 1; level >= 0; level--) {
      const slot = table + ((index >> BigInt(12 + 9 * level)) & 511n) * 8n;
      const e = this.read(slot);
      const present = fs ? (e & FS.P) !== 0n : (e & (SS.R | SS.W)) !== 0n;
      if (!present) return { level: 0 };
      if (level === 0 || e & (fs ? FS.PS : SS.PS)) return { slot, level };
      table = e & ADDR_MASK;
    }
    return { level: 0 };
  }

  // ---- attaching devices ----------------------------------------------------------------------------

  /**
   * Attaches a device (and PASID) to a domain: writes the context entry if the device has none yet
   * and (scalable mode) the PASID-table entry. Returns the attachment and whether a context entry
   * was written (a not-present to present change a caching-mode unit must be told about).
   */
  attach(a: AttachSpec): { attachment: Attachment; newContext: boolean } {
    const d = this.domains.get(a.domain);
    if (!d) throw new RangeError(`attach of ${formatBdf(a.sid)}: no domain ${a.domain}`);
    if (this.mode === "legacy") {
      const newContext = this.attachLegacy(a, d);
      const attachment: Attachment = { sid: a.sid, domain: d, ats: !!a.ats && d.type !== "pt" };
      this.attachments.push(attachment);
      this.devices.set(a.sid, { ats: attachment.ats, pasids: new Set() });
      return { attachment, newContext };
    }
    const { ctx, created } = this.smContext(a);
    const pasid = a.pasid ?? this.ridPasid(ctx);
    const slot = this.pasidSlot(a.sid, pasid);
    const pe = this.pasidEntry(a, d);
    for (let q = 0; q < 8; q++) this.mem.write64(slot + BigInt(q * 8), pe[q]!);
    const ats = (this.read(ctx) & bit(2)) !== 0n; // DTE, as the device's first attach wrote it
    const attachment: Attachment = { sid: a.sid, ...(a.pasid !== undefined ? { pasid: a.pasid } : {}), pasidEntry: pasid, domain: d, ats };
    this.attachments.push(attachment);
    const dev = this.devices.get(a.sid) ?? { ats, pasids: new Set<number>() };
    dev.pasids.add(pasid);
    this.devices.set(a.sid, dev);
    return { attachment, newContext: created };
  }

  /**
   * The PASID-table entry attach(a) would write (scalable mode: `a.pasid`, else the device's
   * RID_PASID), and whether its context entry would allow ATS; without writing anything.
   */
  attachTarget(a: Pick<AttachSpec, "sid" | "pasid" | "ridPasid" | "ats">): { pasidEntry?: number; ats: boolean } {
    const known = this.devices.get(a.sid);
    if (this.mode === "legacy") return { ats: !!a.ats };
    const ctx = this.contextOf(a.sid);
    const pasidEntry = a.pasid ?? (ctx !== undefined ? this.ridPasid(ctx) : this.ecapBit("RPS") ? (a.ridPasid ?? 0) : 0);
    return { pasidEntry, ats: known ? known.ats : !!a.ats };
  }

  /** The devices this builder gave context entries, as the budgets count them. */
  readonly counts: DeviceCounts = ((devices) => ({
    get devices() {
      return devices.size;
    },
    pasidsOf: (sid: number) => devices.get(sid)?.pasids,
    get atsDevices() {
      let n = 0;
      for (const dev of devices.values()) if (dev.ats) n++;
      return n;
    },
    device: (sid: number) => devices.get(sid),
  }))(this.devices);

  /** The RID_PASID a scalable-mode context entry names (0 without ECAP.RPS). */
  private ridPasid(ctx: bigint): number {
    return this.ecapBit("RPS") ? Number(this.read(ctx + 8n) & 0xfffffn) : 0;
  }

  /** The context entry of `sid` (its address) when the root and context entries are present. */
  private contextOf(sid: number): bigint | undefined {
    if (this.rootTable === undefined) return undefined;
    const bus = (sid >> 8) & 0xff, devfn = sid & 0xff;
    const sm = this.mode === "scalable";
    const r = this.read(this.rootTable + BigInt(bus * 16 + (sm && devfn >= 0x80 ? 8 : 0)));
    if (!(r & 1n)) return undefined;
    const ctx = (r & ADDR_MASK) + BigInt(sm ? (devfn & 0x7f) * 32 : devfn * 16);
    return this.read(ctx) & 1n ? ctx : undefined;
  }

  /**
   * The PA of the entry a request from `sid` (with `pasid`, or without) is translated through:
   * the PASID-table entry in scalable mode, the context entry in legacy mode; undefined when the
   * structures leading to it are not present. `present` says whether the entry itself is.
   */
  entryOf(sid: number, pasid?: number): { pa: bigint; present: boolean; pasidEntry?: number } | undefined {
    const ctx = this.contextOf(sid);
    if (ctx === undefined) return undefined;
    if (this.mode === "legacy") return { pa: ctx, present: true };
    const pe = pasid ?? this.ridPasid(ctx);
    const pd = this.pasidDirs.get(sid);
    if (pd === undefined || pe >> 6 >= pd.entries) return undefined;
    const dirEntry = this.read(pd.dir + BigInt((pe >> 6) * 8));
    if (!(dirEntry & 1n)) return undefined;
    const pa = (dirEntry & ADDR_MASK) + BigInt((pe & 63) * 64);
    return { pa, present: (this.read(pa) & 1n) !== 0n, pasidEntry: pe };
  }

  /**
   * Detaches a device (and PASID): clears the PASID-table entry (a request-with-PASID attachment,
   * or the RID_PASID entry when `pasid` is undefined) in scalable mode, the context entry in legacy
   * mode, as Linux's intel_pasid_clear_entry() / context_clear_entry() do. Returns the attachment
   * it ended (the last one made through that entry); throws a RangeError when there is none.
   */
  detach(sid: number, pasid?: number): Attachment {
    if (this.mode === "legacy" && pasid !== undefined) throw new RangeError("legacy mode has no PASIDs: detach without pasid");
    const what = `${formatBdf(sid)}${pasid !== undefined ? ` PASID ${pasid}` : ""}`;
    const e = this.entryOf(sid, pasid);
    if (e === undefined || !e.present) throw new RangeError(`${what} is not attached`);
    let i = this.attachments.length - 1;
    while (i >= 0 && !(this.attachments[i]!.sid === sid && this.attachments[i]!.pasidEntry === e.pasidEntry)) i--;
    if (i < 0) throw new RangeError(`${what} was not attached by the builder`);
    const [gone] = this.attachments.splice(i, 1);
    // Every attachment made through this entry ends with it (an explicit pasid=RID_PASID and the RID_PASID entry are one).
    for (let k = this.attachments.length - 1; k >= 0; k--) {
      const x = this.attachments[k]!;
      if (x.sid === sid && x.pasidEntry === e.pasidEntry) this.attachments.splice(k, 1);
    }
    const n = this.mode === "legacy" ? 2 : 8;
    // The first qword (with P) first, as Linux clears it: the entry is not present from then on.
    for (let q = 0; q < n; q++) this.mem.write64(e.pa + BigInt(q * 8), 0n);
    return gone!;
  }

  /**
   * Scalable-mode root and context entries for `a.sid` (spec 9.2, 9.4), written once per device;
   * returns the context entry's address.
   */
  private smContext(a: AttachSpec): { ctx: bigint; created: boolean } {
    const bus = (a.sid >> 8) & 0xff, devfn = a.sid & 0xff;
    const rootEntry = this.root() + BigInt(bus * 16 + (devfn >= 0x80 ? 8 : 0));
    let r = this.read(rootEntry);
    if (!(r & 1n)) {
      r = this.alloc.alloc(1, `the context table of bus ${bus.toString(16).padStart(2, "0")}`) | 1n;
      this.mem.write64(rootEntry, r);
    }
    const ctx = (r & ADDR_MASK) + BigInt((devfn & 0x7f) * 32);
    if (this.read(ctx) & 1n) return { ctx, created: false };
    const pasidBits = a.pasidBits ?? 20;
    if (pasidBits < 1 || pasidBits > 20) throw new RangeError(`pasidBits ${pasidBits} must be 1..20`);
    const entries = Math.max(128, 2 ** Math.max(0, pasidBits - 6)); // 2^(PDTS+7) directory entries
    const pdts = BigInt(Math.log2(entries) - 7);
    const dir = this.alloc.alloc(Math.ceil((entries * 8) / 4096), `the PASID directory of ${formatBdf(a.sid)}`);
    this.pasidDirs.set(a.sid, { dir, entries });
    let c0 = dir | (pdts << 9n) | 1n;
    if (a.paside ?? this.ecapBit("PASID")) c0 |= bit(3); // PASIDE
    if (a.ats) c0 |= bit(2); // DTE
    if (a.pri) c0 |= bit(4); // PRE
    if (a.fpd) c0 |= bit(1);
    const c1 = this.ecapBit("RPS") ? BigInt(a.ridPasid ?? 0) : 0n;
    this.mem.write64(ctx + 8n, c1);
    this.mem.write64(ctx, c0);
    return { ctx, created: true };
  }

  /** PA of the 64-byte PASID-table entry for `pasid`, allocating its PASID table (spec 9.5). */
  private pasidSlot(sid: number, pasid: number): bigint {
    const pd = this.pasidDirs.get(sid)!;
    const index = pasid >> 6;
    if (index >= pd.entries) throw new RangeError(`PASID ${pasid} is beyond ${formatBdf(sid)}'s PASID directory (${pd.entries * 64} PASIDs; pasidBits sets its size)`);
    const dirEntry = pd.dir + BigInt(index * 8);
    let e = this.read(dirEntry);
    if (!(e & 1n)) {
      e = this.alloc.alloc(1, `a PASID table of ${formatBdf(sid)}`) | 1n;
      this.mem.write64(dirEntry, e);
    }
    return (e & ADDR_MASK) + BigInt((pasid & 63) * 64);
  }

  /** The eight qwords of a PASID-table entry for domain `d` (spec 9.6; Linux pasid.c setters). */
  private pasidEntry(a: AttachSpec, d: Domain): PasidEntryQwords {
    const q: PasidEntryQwords = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
    const ssDomain = d.type === "nested" ? d.parent! : d;
    // AW: second-stage levels - 2; Linux also fills it for FS and PT entries (from the unit's AGAW).
    const aw = d.type === "ss" || d.type === "nested" ? BigInt(ssDomain.levels - 2) : this.widestAw();
    q[0] = 1n | (aw << 2n) | (PGTT[d.type] << 6n);
    if (a.fpd) q[0] |= bit(1);
    if (d.type === "ss" || d.type === "nested") q[0] |= ssDomain.root;
    if (a.ssade) q[0] |= bit(9);
    q[1] = BigInt(d.id & 0xffff);
    if (a.pwsnp ?? this.ecapBit("SMPWCS")) q[1] |= bit(23);
    const forceSnoop = d.type === "nested" ? d.parent!.forceSnoop : d.forceSnoop;
    if (a.pgsnp ?? ((d.type === "fs" || d.type === "nested") && forceSnoop)) q[1] |= bit(24);
    if (d.type === "fs" || d.type === "nested") {
      q[2] = d.root | (BigInt(d.levels - 4) << 2n);
      if (a.nxe ?? true) q[2] |= bit(5);
    }
    if (a.sre) q[2] |= bit(0);
    if (a.ere) q[2] |= bit(1);
    if (a.wpe) q[2] |= bit(4);
    if (a.smep) q[2] |= bit(6);
    if (a.eafe) q[2] |= bit(7);
    return q;
  }

  /** Sets PGSNP (bit 88: qword 1 bit 24) in the present PASID-table entry of `a` (Linux pasid_set_pgsnp). */
  setPgsnp(a: Attachment): void {
    const e = this.entryOf(a.sid, a.pasid);
    if (!e?.present || a.pasidEntry === undefined) throw new RangeError(`${formatBdf(a.sid)} has no present PASID-table entry to set PGSNP in`);
    this.mem.write64(e.pa + 8n, this.read(e.pa + 8n) | bit(24));
  }

  private widestAw(): bigint {
    const sagaw = getField(this.cap, capFields.SAGAW);
    for (let aw = 3n; aw >= 1n; aw--) if ((sagaw >> aw) & 1n) return aw;
    return 2n;
  }

  /** Legacy root and 128-bit context entry (spec 9.1, 9.3): one domain per device, no PASIDs. */
  private attachLegacy(a: AttachSpec, d: Domain): boolean {
    if (a.pasid !== undefined) throw new RangeError("legacy mode has no PASIDs: attach without pasid");
    if (d.type !== "ss" && d.type !== "pt") throw new RangeError(`legacy mode supports second-stage and pass-through domains, not "${d.type}"`);
    const bus = (a.sid >> 8) & 0xff, devfn = a.sid & 0xff;
    const rootEntry = this.root() + BigInt(bus * 16);
    let r = this.read(rootEntry);
    if (!(r & 1n)) {
      r = this.alloc.alloc(1, `the context table of bus ${bus.toString(16).padStart(2, "0")}`) | 1n;
      this.mem.write64(rootEntry, r);
    }
    const ctx = (r & ADDR_MASK) + BigInt(devfn * 16);
    const created = (this.read(ctx) & 1n) === 0n;
    const tt = d.type === "pt" ? 2n : a.ats ? 1n : 0n;
    const aw = d.type === "pt" ? this.widestAw() : BigInt(d.levels - 2);
    let c0 = 1n | (tt << 2n) | (d.type === "pt" ? 0n : d.root);
    if (a.fpd) c0 |= bit(1);
    this.mem.write64(ctx + 8n, aw | (BigInt(d.id & 0xffff) << 8n));
    this.mem.write64(ctx, c0);
    return created;
  }
}
