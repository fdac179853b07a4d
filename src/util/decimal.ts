/**
 * Exact decimal arithmetic for the few places where a user's decimal number must become a whole
 * number of cycles without floating-point rounding surprises (0.3 us at 1000 MHz is 300 cycles,
 * not 299): a JavaScript number is taken as the shortest decimal that prints it, digits / 10^scale.
 */

export interface Decimal {
  /** The decimal digits as an integer. */
  digits: bigint;
  /** Value = digits / 10^scale (scale >= 0). */
  scale: number;
}

/** `n` (finite, non-negative) as digits / 10^scale, from its shortest decimal form. */
export function exactDecimal(n: number): Decimal {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`expected a finite non-negative number, got ${n}`);
  const s = String(n);
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(s);
  if (m === null) throw new RangeError(`cannot read ${s} as a decimal`);
  const int = m[1]!, frac = m[2] ?? "", exp = Number(m[3] ?? 0);
  let digits = BigInt(int + frac);
  let scale = frac.length - exp;
  if (scale < 0) {
    digits *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { digits, scale };
}

/** floor(a * b / c) for non-negative decimals a, b and c > 0, exactly. */
export function floorMulDiv(a: Decimal, b: Decimal, c: Decimal): bigint {
  // a*b/c = (ad*bd / 10^(as+bs)) / (cd / 10^cs) = ad*bd*10^cs / (cd*10^(as+bs))
  return (a.digits * b.digits * 10n ** BigInt(c.scale)) / (c.digits * 10n ** BigInt(a.scale + b.scale));
}
