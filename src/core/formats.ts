/**
 * Page-table formats on the host side: the geometry every format shares with the core's walker
 * (assembly/arch/pagetable/fmt/), and a table writer that derives every index from it. The
 * builders (src/guest) encode entries their own way, as a driver does; where an entry goes is
 * decided here once.
 *
 * Levels are normalised as in the core: level 0 is the table of the smallest pages; an entry at
 * level n maps 2^levelShift(n) bytes. The top (start) level may index more bits than the others
 * (VMSA stage-2 concatenated tables) or fewer (a short input range).
 */

/** The granule and the index bits per level of a format. */
export interface Geometry {
  readonly granuleLg2: number;
  readonly levelBits: number;
}

/** VT-d first- and second-stage tables (spec 3.6, 3.7): 4 KiB tables of 512 entries. */
export const VTD: Geometry = { granuleLg2: 12, levelBits: 9 };
/** VMSAv8-64 with a 4, 16 or 64 KiB granule (Arm ARM D8.2): a table is one granule of 8-byte entries. */
export const vmsa = (granuleLg2: 12 | 14 | 16): Geometry => ({ granuleLg2, levelBits: granuleLg2 - 3 });

/** log2 of the bytes one entry at normalised `level` maps. */
export function levelShift(g: Geometry, level: number): number {
  return g.granuleLg2 + g.levelBits * level;
}

/** The index of `va` at `level`, `bits` wide (the format's level bits unless the level is the top one). */
export function indexAt(g: Geometry, va: bigint, level: number, bits = g.levelBits): bigint {
  return (va >> BigInt(levelShift(g, level))) & ((1n << BigInt(bits)) - 1n);
}

/** The shape of one table tree: its geometry, the top level and the index bits there. */
export interface TableShape {
  geometry: Geometry;
  /** Normalised level of the root table (levels - 1). */
  topLevel: number;
  /** Index bits of the root level (default: the format's level bits). */
  topBits?: number;
}

/** How a format writes the entries of a tree (a builder's encoding). */
export interface EntryEncoder {
  /** A table entry pointing at `next`. */
  table(next: bigint, level: number): bigint;
  /** A leaf at `level` mapping the page at `pa`. */
  leaf(pa: bigint, level: number): bigint;
  /** Is the entry present (a table entry to follow)? */
  present(entry: bigint, level: number): boolean;
  /** The next table a present table entry points at. */
  next(entry: bigint, level: number): bigint;
}

/** Guest memory as a writer needs it. */
export interface TableMemory {
  read64(pa: bigint): bigint | undefined;
  write64(pa: bigint, value: bigint): void;
  /** A new zeroed table of `bytes` (the root's may be larger: concatenated tables), aligned to its size. */
  allocTable(bytes: bigint): bigint;
}

/** Bytes of the table at `level` of a shape (the root's index may be wider). */
export function tableBytes(shape: TableShape, level: number): bigint {
  const bits = level === shape.topLevel ? shape.topBits ?? shape.geometry.levelBits : shape.geometry.levelBits;
  return 8n << BigInt(bits);
}

/** The address of the entry for `va` at `level` in the table at `table`. */
export function entryAddress(shape: TableShape, table: bigint, va: bigint, level: number): bigint {
  const bits = level === shape.topLevel ? shape.topBits ?? shape.geometry.levelBits : shape.geometry.levelBits;
  return table + indexAt(shape.geometry, va, level, bits) * 8n;
}

/**
 * Maps the page of `va` at `leafLevel` to `pa` in the tree at `root`, creating the tables on the
 * way; returns the address of every entry it wrote or went through, top level first.
 */
export function mapPage(mem: TableMemory, shape: TableShape, enc: EntryEncoder, root: bigint, va: bigint, pa: bigint, leafLevel: number): bigint[] {
  const path: bigint[] = [];
  let table = root;
  for (let level = shape.topLevel; level > leafLevel; level--) {
    const at = entryAddress(shape, table, va, level);
    path.push(at);
    const e = mem.read64(at) ?? 0n;
    if (enc.present(e, level)) {
      table = enc.next(e, level);
    } else {
      const next = mem.allocTable(tableBytes(shape, level - 1));
      mem.write64(at, enc.table(next, level));
      table = next;
    }
  }
  const at = entryAddress(shape, table, va, leafLevel);
  path.push(at);
  mem.write64(at, enc.leaf(pa, leafLevel));
  return path;
}
