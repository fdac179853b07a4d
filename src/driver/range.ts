/**
 * The checks a map or unmap of [iova, iova + size) with leaves of `pageSize` bytes must pass on any
 * architecture (each driver adds its own: page sizes the unit has, the domain's input range).
 */

export const TOP = 1n << 64n;
const hex = (v: bigint) => `0x${v.toString(16)}`;

/**
 * What is wrong with the range's size, its place in the 64-bit space and its alignment (`page`: the
 * page size as the messages name it), or undefined when nothing is.
 */
export function alignmentProblem(iova: bigint, size: bigint, pageSize: bigint, page: string, pa?: bigint): string | undefined {
  if (size <= 0n) return "SIZE must be positive";
  if (iova < 0n || iova >= TOP) return `IOVA ${hex(iova)} is not a 64-bit address`;
  if (iova & (pageSize - 1n)) return `IOVA ${hex(iova)} is not aligned to the ${page} page size`;
  if (pa !== undefined && pa & (pageSize - 1n)) return `PA ${hex(pa)} is not aligned to the ${page} page size`;
  if (size & (pageSize - 1n)) return `SIZE ${hex(size)} is not a multiple of the ${page} page size`;
  if (iova + size - 1n >= TOP) return `IOVA ${hex(iova)} + SIZE ${hex(size)} wraps past 2^64`;
  return undefined;
}
