/**
 * What every fuzz target is (README "Fuzzing"): an arbitrary that generates cases and a check that
 * runs one case and throws on anything other than an expected outcome. The runner (run.ts) drives
 * targets with fast-check, counts, times and shrinks; the CI subset (test/fuzz/) runs the same
 * targets with a fixed seed.
 */
import type * as fc from "fast-check";

export interface FuzzTarget<T> {
  readonly name: string;
  readonly arbitrary: fc.Arbitrary<T>;
  /**
   * Runs one case; throws a FuzzProblem (or any other error, which is then the problem) when the
   * outcome is not one the contract allows. Returns how many elementary cases it checked (core
   * requests, parsed lines, driver events, scenarios).
   */
  check(c: T): number;
}

/** A case whose outcome breaks the contract; the message says which rule and how. */
export class FuzzProblem extends Error {
  override name = "FuzzProblem";
}

/** JSON with bigints as "0x…n" strings (failure files, outcome comparison). */
export function stringifyBig(v: unknown, space?: number, sorted = false): string {
  return JSON.stringify(
    v,
    (_, x) => {
      if (typeof x === "bigint") return `0x${x.toString(16)}n`;
      if (sorted && x !== null && typeof x === "object" && !Array.isArray(x)) return Object.fromEntries(Object.entries(x as object).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      return x;
    },
    space,
  );
}

/** stringifyBig with object keys sorted: equal values give equal strings whatever the key order. */
export function canonical(v: unknown): string {
  return stringifyBig(v, undefined, true);
}
