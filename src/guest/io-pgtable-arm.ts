/**
 * VMSAv8-64 translation tables written the way Linux's io-pgtable-arm.c writes them
 * (drivers/iommu/io-pgtable-arm.c, formats ARM_64_LPAE_S1 and ARM_64_LPAE_S2): descriptors from
 * IOMMU_* prot flags, block mappings where size and alignment allow, and the TCR/VTCR facts a CD
 * or STE needs (TxSZ, TG, SL0, IPS/PS, walk attributes, MAIR). Where each entry goes is decided by
 * src/core/formats.ts (mapPage with this file's EntryEncoder); nothing here walks for translation.
 *
 * Facts from io-pgtable-arm.c (cited by its names):
 *   descriptor  VALID 1 | TYPE_TABLE/PAGE 0b11, TYPE_BLOCK 0b01 | AF bit 10 (always set)
 *               SH_IS 3 << 8 with IOMMU_CACHE, else SH_OS 2 << 8 | XN 3 << 53 (UXN and PXN) for NOEXEC
 *   stage 1     nG bit 11 (always) | AP_RDONLY bit 7 (READ without WRITE) | AP_UNPRIV bit 6 (unless
 *               IOMMU_PRIV) | DBM bit 51 on writable pages with IO_PGTABLE_QUIRK_ARM_HD |
 *               AttrIndx (4:2): MMIO -> 2 (DEV), CACHE -> 1 (CACHE), else 0 (NC)
 *   MAIR        idx 0 NC 0x44, 1 CACHE 0xff (WBRWA), 2 DEV 0x04 (nGnRE), 3 INC_OCACHE 0xf4 -> 0xf404ff44
 *   stage 2     HAP_READ bit 6, HAP_WRITE bit 7 | MemAttr (5:2): MMIO 0x1 (DEV), CACHE 0xf (OIWB) or
 *               0x6 with S2FWB (FWB_WB), else 0x5 (NC)
 *   geometry    levels = ceil((ias - granule) / bitsPerLevel), start level = 4 - levels; stage 2
 *               concatenates instead of starting at level 0 when level 0 has at most 16 entries
 *   page sizes  4K: 4K, 2M, 1G; 16K: 16K, 32M; 64K: 64K, 512M (arm_lpae_restrict_pgsizes)
 *   TCR         TG0 4K 0, 64K 1, 16K 2; TG1 16K 1, 4K 2, 64K 3; IPS 32/36/40/42/44/48 -> 0..5;
 *               coherent walk: SH IS (3), IRGN/ORGN WBWA (1), else SH OS (2), NC (0); TxSZ = 64 - ias
 *   VTCR        SL0 = ~startLevel & 3 (4K: ~(startLevel + 1) & 3)
 */
import { vmsa, levelShift, mapPage, entryAddress, tableBytes, type EntryEncoder, type TableMemory, type TableShape } from "../core/formats.ts";
import type { GuestMemory, PageAllocator } from "./allocator.ts";

/** Linux's IOMMU_* prot flags (include/linux/iommu.h). */
export const IOMMU_READ = 1 << 0;
export const IOMMU_WRITE = 1 << 1;
export const IOMMU_CACHE = 1 << 2;
export const IOMMU_NOEXEC = 1 << 3;
export const IOMMU_MMIO = 1 << 4;
export const IOMMU_PRIV = 1 << 5;

const bit = (n: number) => 1n << BigInt(n);
export const PTE = {
  VALID: 1n,
  TABLE: 3n,
  PAGE: 3n,
  BLOCK: 1n,
  AP_UNPRIV: bit(6),
  AP_RDONLY: bit(7),
  HAP_READ: bit(6),
  HAP_WRITE: bit(7),
  SH_OS: 2n << 8n,
  SH_IS: 3n << 8n,
  AF: bit(10),
  NG: bit(11),
  DBM: bit(51),
  XN: 3n << 53n,
} as const;

/** MAIR attribute indices and the MAIR value Linux programs (ARM_LPAE_MAIR_ATTR_*). */
export const MAIR_IDX = { NC: 0, CACHE: 1, DEV: 2, INC_OCACHE: 3 } as const;
export const LINUX_MAIR = 0x44n | (0xffn << 8n) | (0x04n << 16n) | (0xf4n << 24n);
/** Stage-2 MemAttr values (ARM_LPAE_PTE_MEMATTR_*). */
export const S2_MEMATTR = { DEV: 0x1n, NC: 0x5n, OIWB: 0xfn, FWB_WB: 0x6n } as const;

export type LpaeFormat = "ARM_64_LPAE_S1" | "ARM_64_LPAE_S2";
export type GranuleLg2 = 12 | 14 | 16;

export interface IoPgtableArmConfig {
  fmt: LpaeFormat;
  granuleLg2: GranuleLg2;
  /** Input (IOVA or IPA) bits, at most 48. */
  ias: number;
  /** Output bits: 32, 36, 40, 42, 44 or 48. */
  oas: number;
  /** The walk snoops (IO_PGTABLE cfg.coherent_walk): TCR SH/IRGN/ORGN. Default true. */
  coherentWalk?: boolean;
  /** IO_PGTABLE_QUIRK_ARM_S2FWB: stage-2 cacheable mappings use the FWB encoding. */
  s2fwb?: boolean;
  /** IO_PGTABLE_QUIRK_ARM_HD: writable stage-1 pages carry DBM (hardware dirty tracking). */
  hd?: boolean;
  /** IO_PGTABLE_QUIRK_ARM_TTBR1: the table serves the upper range (TTB1, TG1 encoding). */
  ttbr1?: boolean;
}

/** What the CD (stage 1) or STE (stage 2) needs to use the tables, as Linux's cfg returns it. */
export interface LpaeTcr {
  /** TxSZ (T0SZ/T1SZ, S2T0SZ) = 64 - ias. */
  tsz: number;
  /** TG0 (or TG1 with ttbr1) / S2TG encoding. */
  tg: number;
  /** IPS / S2PS encoding of oas. */
  ips: number;
  irgn: number;
  orgn: number;
  sh: number;
  /** Stage 2: S2SL0. Stage 1: undefined (the start level follows from TxSZ). */
  sl0?: number;
  /** Spec start level and the number of concatenated start tables (stage 2; 1 otherwise). */
  startLevel: number;
  concatenated: number;
  /** Stage 1: MAIR (CD dword 3). */
  mair?: bigint;
}

const IPS: Record<number, number> = { 32: 0, 36: 1, 40: 2, 42: 3, 44: 4, 48: 5 };
const TG0: Record<GranuleLg2, number> = { 12: 0, 14: 2, 16: 1 };
const TG1: Record<GranuleLg2, number> = { 12: 2, 14: 1, 16: 3 };
/** Leaf levels (normalised) Linux maps at per granule (arm_lpae_restrict_pgsizes). */
const LEAF_LEVELS: Record<GranuleLg2, number[]> = { 12: [0, 1, 2], 14: [0, 1], 16: [0, 1] };

/** A TableMemory over guest memory whose tables come from `alloc`, each aligned to its size. */
export function allocatorTables(mem: GuestMemory, alloc: PageAllocator): TableMemory {
  return {
    read64: (pa) => mem.read64(pa),
    write64: (pa, v) => mem.write64(pa, v),
    allocTable: (bytes) => {
      const pages = Number((bytes + 0xfffn) >> 12n);
      const align = bytes > 0x1000n ? bytes : 0x1000n;
      const pad = (align - ((alloc.base + alloc.used) % align)) % align;
      if (pad) alloc.alloc(Number(pad >> 12n), "alignment of a page-table page");
      return alloc.alloc(pages, "a page-table page");
    },
  };
}

/** One io-pgtable-arm page table: its root, its TCR facts, and map/unmap. */
export class IoPgtableArm {
  readonly root: bigint;
  readonly tcr: LpaeTcr;
  readonly shape: TableShape;
  /** Page and block sizes this table maps (cfg->pgsize_bitmap), smallest first, as log2. */
  readonly pageSizesLg2: number[];
  private readonly s1: boolean;
  private readonly enc: EntryEncoder;

  constructor(
    private readonly mem: TableMemory,
    readonly cfg: IoPgtableArmConfig,
  ) {
    const g = cfg.granuleLg2;
    if (g !== 12 && g !== 14 && g !== 16) throw new RangeError(`io-pgtable-arm: granule 2^${g} is not 4K, 16K or 64K`);
    if (!Number.isInteger(cfg.ias) || cfg.ias < 25 || cfg.ias > 48) throw new RangeError(`io-pgtable-arm: ias ${cfg.ias} is outside 25..48 bits`);
    if (IPS[cfg.oas] === undefined) throw new RangeError(`io-pgtable-arm: oas ${cfg.oas} is not one of 32, 36, 40, 42, 44, 48`);
    this.s1 = cfg.fmt === "ARM_64_LPAE_S1";
    if (!this.s1 && cfg.ttbr1) throw new RangeError("io-pgtable-arm: the TTBR1 quirk is for stage 1 only");
    const geometry = vmsa(g);
    const bits = g - 3;
    let levels = Math.ceil((cfg.ias - g) / bits);
    let topBits = cfg.ias - g - bits * (levels - 1);
    // Stage 2: concatenate at level 1 rather than start at level 0 when level 0 would have <= 16 entries.
    if (!this.s1 && levels === 4 && topBits <= 4) {
      levels = 3;
      topBits += bits;
    }
    const startLevel = 4 - levels;
    this.shape = { geometry, topLevel: levels - 1, topBits };
    this.pageSizesLg2 = LEAF_LEVELS[g].filter((l) => l < levels).map((l) => levelShift(geometry, l));
    const coherent = cfg.coherentWalk ?? true;
    this.tcr = {
      tsz: 64 - cfg.ias,
      tg: cfg.ttbr1 ? TG1[g] : TG0[g],
      ips: IPS[cfg.oas]!,
      irgn: coherent ? 1 : 0,
      orgn: coherent ? 1 : 0,
      sh: coherent ? 3 : 2,
      startLevel,
      concatenated: topBits > bits ? 2 ** (topBits - bits) : 1,
      ...(this.s1 ? { mair: LINUX_MAIR } : { sl0: ~(g === 12 ? startLevel + 1 : startLevel) & 3 }),
    };
    this.enc = {
      table: (next) => next | PTE.TABLE,
      leaf: () => 0n, // map() writes leaves itself (prot decides them)
      present: (e, level) => level > 0 && (e & 3n) === PTE.TABLE,
      next: (e) => e & ((1n << 48n) - 1n) & ~((1n << BigInt(g)) - 1n),
    };
    this.root = mem.allocTable(tableBytes(this.shape, this.shape.topLevel));
  }

  /** The leaf descriptor Linux writes for `prot` (arm_lpae_prot_to_pte), without type and address. */
  protToPte(prot: number): bigint {
    let pte: bigint;
    if (this.s1) {
      pte = PTE.NG;
      if (!(prot & IOMMU_WRITE) && prot & IOMMU_READ) pte |= PTE.AP_RDONLY;
      else if (this.cfg.hd) pte |= PTE.DBM;
      if (!(prot & IOMMU_PRIV)) pte |= PTE.AP_UNPRIV;
      if (prot & IOMMU_MMIO) pte |= BigInt(MAIR_IDX.DEV) << 2n;
      else if (prot & IOMMU_CACHE) pte |= BigInt(MAIR_IDX.CACHE) << 2n;
    } else {
      pte = 0n;
      if (prot & IOMMU_READ) pte |= PTE.HAP_READ;
      if (prot & IOMMU_WRITE) pte |= PTE.HAP_WRITE;
      const memAttr = prot & IOMMU_MMIO ? S2_MEMATTR.DEV : prot & IOMMU_CACHE ? (this.cfg.s2fwb ? S2_MEMATTR.FWB_WB : S2_MEMATTR.OIWB) : S2_MEMATTR.NC;
      pte |= memAttr << 2n;
    }
    pte |= prot & IOMMU_CACHE ? PTE.SH_IS : PTE.SH_OS;
    if (prot & IOMMU_NOEXEC) pte |= PTE.XN;
    return pte | PTE.AF;
  }

  private checkIova(iova: bigint, size: bigint, what: string): void {
    const ias = BigInt(this.cfg.ias);
    const upper = this.cfg.ttbr1 ?? false;
    const ext = upper ? ~iova & ((1n << 64n) - 1n) : iova;
    const last = upper ? ext - (size - 1n) : iova + size - 1n;
    if (ext >> ias !== 0n || last < 0n || last >> ias !== 0n)
      throw new RangeError(`io-pgtable-arm: ${what} 0x${iova.toString(16)}+0x${size.toString(16)} is outside the ${this.cfg.ias}-bit ${upper ? "upper " : ""}input range`);
    const g = 1n << BigInt(this.cfg.granuleLg2);
    if ((iova | size) & (g - 1n) || size === 0n) throw new RangeError(`io-pgtable-arm: ${what} 0x${iova.toString(16)}+0x${size.toString(16)} is not a non-empty multiple of the ${g / 1024n} KiB granule`);
  }

  /**
   * Maps [iova, iova+size) to [paddr, ...) with `prot`, choosing the largest page or block size
   * that alignment and the remaining size allow (the IOMMU core's iommu_pgsize()). Returns the
   * bytes mapped: 0 when prot grants neither read nor write (Linux maps nothing). Throws when a
   * page is already mapped (-EEXIST) or an address is out of range (-ERANGE).
   */
  map(iova: bigint, paddr: bigint, size: bigint, prot: number): bigint {
    this.checkIova(iova, size, "map of IOVA");
    if (paddr & ((1n << BigInt(this.cfg.granuleLg2)) - 1n)) throw new RangeError(`io-pgtable-arm: physical address 0x${paddr.toString(16)} is not granule-aligned`);
    if ((paddr + size - 1n) >> BigInt(this.cfg.oas) !== 0n) throw new RangeError(`io-pgtable-arm: physical range 0x${paddr.toString(16)}+0x${size.toString(16)} is beyond the ${this.cfg.oas}-bit output size`);
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return 0n;
    const attrs = this.protToPte(prot);
    const geometry = this.shape.geometry;
    let done = 0n;
    while (done < size) {
      const va = iova + done, pa = paddr + done;
      const level = [...LEAF_LEVELS[this.cfg.granuleLg2]].reverse().find((l) => {
        if (l > this.shape.topLevel) return false;
        const bytes = 1n << BigInt(levelShift(geometry, l));
        return ((va | pa) & (bytes - 1n)) === 0n && size - done >= bytes;
      })!;
      this.mapOne(va & ((1n << 64n) - 1n), pa, level, attrs);
      done += 1n << BigInt(levelShift(geometry, level));
    }
    return done;
  }

  private mapOne(va: bigint, pa: bigint, level: number, attrs: bigint): void {
    // An existing leaf on the way or at the target is -EEXIST; a table at the target is replaced.
    let table = this.root;
    for (let l = this.shape.topLevel; l >= level; l--) {
      const e = this.mem.read64(entryAddress(this.shape, table, va, l)) ?? 0n;
      if ((e & PTE.VALID) === 0n) break;
      const isTable = l > 0 && (e & 3n) === PTE.TABLE;
      if (!isTable) throw new RangeError(`io-pgtable-arm: IOVA 0x${va.toString(16)} is already mapped (a ${2n ** BigInt(levelShift(this.shape.geometry, l) - 10)} KiB ${l === 0 ? "page" : "block"})`);
      if (l === level) break;
      table = this.enc.next(e, l);
    }
    const leafEnc: EntryEncoder = { ...this.enc, leaf: (p, l) => p | (l === 0 ? PTE.PAGE : PTE.BLOCK) | attrs };
    mapPage(this.mem, this.shape, leafEnc, this.root, va, pa, level);
  }

  /**
   * Unmaps [iova, iova+size): every leaf in it, and every table whose whole span it covers, is
   * cleared. Returns the bytes unmapped (a hole counts as unmapped, as Linux's unmap of an absent
   * entry returns 0 for it and the caller stops: here it stops there too). A block larger than
   * the rest of the range is not split (Linux no longer splits blocks): unmapping stops before it.
   */
  unmap(iova: bigint, size: bigint): bigint {
    this.checkIova(iova, size, "unmap of IOVA");
    const geometry = this.shape.geometry;
    let done = 0n;
    outer: while (done < size) {
      const va = iova + done;
      let table = this.root;
      for (let l = this.shape.topLevel; l >= 0; l--) {
        const at = entryAddress(this.shape, table, va, l);
        const e = this.mem.read64(at) ?? 0n;
        const span = 1n << BigInt(levelShift(geometry, l));
        if ((e & PTE.VALID) === 0n) break outer;
        const isTable = l > 0 && (e & 3n) === PTE.TABLE;
        if ((va & (span - 1n)) === 0n && size - done >= span) {
          this.mem.write64(at, 0n);
          done += span;
          continue outer;
        }
        if (!isTable) break outer; // a block reaching beyond the range
        table = this.enc.next(e, l);
      }
      break;
    }
    return done;
  }
}
