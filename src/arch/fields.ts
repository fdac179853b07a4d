/**
 * Bit fields of registers and in-memory structures, for every architecture: a field is an inclusive
 * [high, low] bit range of a 64-bit value. The tables themselves live with each architecture
 * (src/arch/vtd/registers.ts, src/arch/smmuv3/fields.ts); scripts/gen-abi.ts turns them into the
 * core's accessors, so the host and the core read the same facts.
 */

/** [hi, lo] bit range, inclusive. */
export type Field = readonly [number, number];
/** A register's or a structure dword's named fields. */
export type FieldTable = Readonly<Record<string, Field>>;

export function getField(value: bigint, [hi, lo]: Field): bigint {
  return (value >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

export function setField(value: bigint, [hi, lo]: Field, v: bigint): bigint {
  const width = BigInt(hi - lo + 1);
  const mask = ((1n << width) - 1n) << BigInt(lo);
  return (value & ~mask) | ((v << BigInt(lo)) & mask);
}

export function fieldMax([hi, lo]: Field): bigint {
  return (1n << BigInt(hi - lo + 1)) - 1n;
}

/** Decodes a value into {FIELD: value} for display. */
export function decodeFields(value: bigint, fields: FieldTable): Record<string, bigint> {
  return Object.fromEntries(Object.entries(fields).map(([k, r]) => [k, getField(value, r)]));
}

/**
 * Encodes {FIELD: value} over `base` (default 0). A value wider than its field is a RangeError
 * naming the field, so a builder never writes a truncated value silently.
 */
export function encodeFields<T extends FieldTable>(fields: T, values: Partial<Record<keyof T & string, bigint | number | boolean>>, base = 0n): bigint {
  let v = base;
  for (const [name, raw] of Object.entries(values) as [keyof T & string, bigint | number | boolean | undefined][]) {
    if (raw === undefined) continue;
    const f = fields[name];
    if (f === undefined) throw new RangeError(`unknown field ${name}`);
    const x = typeof raw === "boolean" ? (raw ? 1n : 0n) : BigInt(raw);
    if (x < 0n || x > fieldMax(f)) throw new RangeError(`${name} = ${x} does not fit in bits [${f[0]}:${f[1]}]`);
    v = setField(v, f, x);
  }
  return v;
}

/**
 * A register a scenario gives as a full value, or as named fields over `base` (undefined: `base`).
 * A field value wider than its field is a RangeError naming `registers.NAME.FIELD`.
 */
export function registerValue(base: bigint, v: bigint | Readonly<Record<string, bigint | undefined>> | undefined, fields: FieldTable, name: string): bigint {
  if (v === undefined) return base;
  if (typeof v === "bigint") return v;
  let out = base;
  for (const [k, fv] of Object.entries(v)) {
    if (fv === undefined) continue;
    const range = fields[k]!;
    if (fv > fieldMax(range)) throw new RangeError(`registers.${name}.${k}: ${fv} does not fit the ${range[0] - range[1] + 1}-bit field`);
    out = setField(out, range, fv);
  }
  return out;
}
