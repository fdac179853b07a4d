/**
 * Guest memory as the driver side sees it, and the allocator of the pages it puts its structures in
 * (tables, queues): zeroed 4 KiB guest-physical pages from a region, never one that holds memory
 * written before. Every architecture's builder and driver allocate through it.
 */
import { InputError } from "../errors.ts";

export interface GuestMemory {
  read64(pa: bigint): bigint | undefined;
  write64(pa: bigint, value: bigint): void;
  writeQwords(pa: bigint, words: ArrayLike<bigint>): void;
  zeroPage(pa: bigint): void;
}

/** Who wrote a guest page the allocator must not hand out: a scenario's `memory[i]`, and where. */
export interface MemoryOwner {
  key: string;
  file?: string;
  line?: number;
  column?: number;
}

/**
 * A page the driver side needs cannot be had: it holds memory written before (`owner`, when the
 * scenario's raw `memory` wrote it), or the table region is full.
 */
export class AllocationError extends RangeError {
  override name = "AllocationError";
  constructor(
    message: string,
    readonly page: bigint,
    /** What the page was for: "a page-table page", "the invalidation queue", ... */
    readonly purpose: string,
    readonly base: bigint,
    readonly owner?: MemoryOwner,
  ) {
    super(message);
  }

  /**
   * The error as the user sees it when the page is the scenario's raw memory: at the key that
   * wrote it, naming what needed the page (`needer`: a scenario key, or a trace event and where).
   * Undefined when no scenario key wrote the page.
   */
  located(needer: string): InputError | undefined {
    const o = this.owner;
    if (o?.file === undefined) return undefined;
    return new InputError(
      `${o.key}: page 0x${this.page.toString(16)} is written here, and ${needer} needs it for ${this.purpose} (the driver side allocates from build.tableBase 0x${this.base.toString(16)} upwards); move build.tableBase or this memory`,
      o.file,
      o.line,
      o.column,
    );
  }
}

/**
 * Hands out zeroed 4 KiB guest-physical pages from a region, never one that holds memory written
 * before (the scenario's raw `memory` reserves its pages with their key, so a collision names it).
 */
export class PageAllocator {
  private next: bigint;
  readonly limit: bigint;
  private readonly reserved = new Map<bigint, MemoryOwner>();
  constructor(
    private readonly mem: GuestMemory,
    readonly base: bigint,
    limit: bigint = base + (1n << 32n),
  ) {
    if (base & 0xfffn) throw new RangeError(`table region base 0x${base.toString(16)} is not 4 KiB aligned`);
    this.limit = limit < 1n << 52n ? limit : 1n << 52n;
    this.next = base;
  }

  /** Marks the pages of [pa, pa+bytes) as written by `owner`: never handed out. */
  reserve(pa: bigint, bytes: bigint, owner: MemoryOwner): void {
    if (bytes <= 0n) return;
    for (let p = pa >> 12n, last = (pa + bytes - 1n) >> 12n; p <= last; p++) if (!this.reserved.has(p)) this.reserved.set(p, owner);
  }

  /** `pages` contiguous zeroed pages for `purpose` (named in errors). */
  alloc(pages = 1, purpose = "a page-table page"): bigint {
    const pa = this.next;
    const end = pa + BigInt(pages) * 4096n;
    if (end > this.limit)
      throw new AllocationError(`the table region 0x${this.base.toString(16)}-0x${(this.limit - 1n).toString(16)} is full: no room for ${purpose}`, pa, purpose, this.base);
    for (let p = pa; p < end; p += 4096n) {
      const owner = this.reserved.get(p >> 12n);
      if (owner) throw new AllocationError(`page 0x${p.toString(16)} for ${purpose} was written by ${owner.key} (move build.tableBase)`, p, purpose, this.base, owner);
      if (this.mem.read64(p) !== undefined)
        throw new AllocationError(`page 0x${p.toString(16)} for ${purpose} would overwrite guest memory written before (move build.tableBase)`, p, purpose, this.base);
    }
    for (let p = pa; p < end; p += 4096n) this.mem.zeroPage(p);
    this.next = end;
    return pa;
  }
  /** Bytes handed out so far. */
  get used(): bigint {
    return this.next - this.base;
  }
}
