/**
 * A small deterministic PRNG (mulberry32) for generated traces, examples, benchmarks and tests:
 * the same seed gives the same sequence on every machine and in every build.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Convenience draws over one mulberry32 stream. */
export class Prng {
  readonly u32: () => number;
  constructor(seed: number) {
    this.u32 = mulberry32(seed);
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 2 ** 32;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  /** Uniform value of `bits` bits (bits <= 64). */
  bits(bits: number): bigint {
    return this.u64() & ((1n << BigInt(bits)) - 1n);
  }
}
