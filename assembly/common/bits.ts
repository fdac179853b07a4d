// Bit-field helpers used by every structure decoder. Bits are numbered from 0 (LSB) as in the specs.

/** Mask with bits hi..lo set (inclusive). */
// @ts-ignore: decorator
@inline export function mask64(hi: u32, lo: u32): u64 {
  return ((<u64>-1) >>> (63 - hi)) & ((<u64>-1) << lo);
}

/** Bits hi..lo of x, shifted down. */
// @ts-ignore: decorator
@inline export function field(x: u64, hi: u32, lo: u32): u64 {
  return (x >>> lo) & ((<u64>-1) >>> (63 - (hi - lo)));
}

/** Bit n of x. */
// @ts-ignore: decorator
@inline export function bit(x: u64, n: u32): bool {
  return ((x >>> n) & 1) != 0;
}
