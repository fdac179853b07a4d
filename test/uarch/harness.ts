/**
 * Loads build/cache-harness.wasm (assembly/testing/cache-harness.ts, built by
 * `npm run asbuild:harness`) and wraps its handle-based exports in a small `Cache` class whose keys
 * are numbers or bigints (split into u32 halves here: no 64-bit value crosses the boundary).
 *
 * Every `newHarness()` is a fresh instance (fresh linear memory, handles from 0), so test files do
 * not share state. The debug build runs with assertions on: a broken invariant throws "abort".
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const POLICY = { lru: 0, plru: 1, fifo: 2, random: 3, roundRobin: 4 } as const;
export type PolicyName = keyof typeof POLICY;
export const POLICY_NAMES = Object.keys(POLICY) as PolicyName[];

interface Exports {
  create(entries: number, assoc: number, policy: number, payloadBytes: number, seed: number): number;
  policySupports(policy: number, ways: number): number;
  slots(h: number): number;
  setCount(h: number): number;
  setMask(h: number): number;
  waysPerSet(h: number): number;
  active(h: number): number;
  setOf(h: number, slot: number): number;
  wayOf(h: number, slot: number): number;
  lookup(h: number, set: number, k0lo: number, k0hi: number, k1lo: number, k1hi: number): number;
  probe(h: number, set: number, k0lo: number, k0hi: number, k1lo: number, k1hi: number): number;
  fill(h: number, set: number, k0lo: number, k0hi: number, k1lo: number, k1hi: number): number;
  touch(h: number, slot: number): void;
  invalidate(h: number, slot: number): void;
  invalidateAll(h: number): void;
  invalidateMatching(
    h: number, m0lo: number, m0hi: number, v0lo: number, v0hi: number,
    m1lo: number, m1hi: number, v1lo: number, v1hi: number,
  ): number;
  victim(h: number, set: number): number;
  isValid(h: number, slot: number): number;
  key0lo(h: number, slot: number): number;
  key0hi(h: number, slot: number): number;
  key1lo(h: number, slot: number): number;
  key1hi(h: number, slot: number): number;
  payloadRead32(h: number, slot: number, offset: number): number;
  payloadWrite32(h: number, slot: number, offset: number, value: number): void;
  payloadAddress(h: number, slot: number): number;
  lookups(h: number): number;
  hits(h: number): number;
  misses(h: number): number;
  fills(h: number): number;
  evictions(h: number): number;
  invalidations(h: number): number;
  resetCounters(h: number): void;
  pageLookup(h: number, arch: number, k1lo: number, k1hi: number, valo: number, vahi: number): number;
  pageFill(h: number, arch: number, k1lo: number, k1hi: number, valo: number, vahi: number, pageLg2: number): number;
}

let module: WebAssembly.Module | undefined;

function harnessModule(): WebAssembly.Module {
  if (!module) {
    const path = fileURLToPath(new URL("../../build/cache-harness.wasm", import.meta.url));
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new Error(`${path} is missing: run \`npm run asbuild:harness\` first`);
    }
    module = new WebAssembly.Module(bytes);
  }
  return module;
}

export type Key = number | bigint;

const M32 = 0xffff_ffffn;
function lo(k: Key): number {
  return typeof k === "number" ? k >>> 0 : Number(BigInt.asUintN(64, k) & M32);
}
function hi(k: Key): number {
  return typeof k === "number" ? Math.floor(k / 2 ** 32) >>> 0 : Number(BigInt.asUintN(64, k) >> 32n);
}

export interface Counters {
  lookups: number;
  hits: number;
  misses: number;
  fills: number;
  evictions: number;
  invalidations: number;
}

export interface Geometry {
  entries: number;
  /** Ways per set; 0 = fully associative. */
  assoc: number;
  policy: PolicyName;
  payloadBytes?: number;
  seed?: number;
}

/** One SetAssoc in the harness. */
export class Cache {
  constructor(private readonly x: Exports, readonly h: number) {}

  get slots(): number { return this.x.slots(this.h); }
  get setCount(): number { return this.x.setCount(this.h); }
  get setMask(): number { return this.x.setMask(this.h); }
  get waysPerSet(): number { return this.x.waysPerSet(this.h); }
  get active(): boolean { return this.x.active(this.h) !== 0; }
  setOf(slot: number): number { return this.x.setOf(this.h, slot); }
  wayOf(slot: number): number { return this.x.wayOf(this.h, slot); }

  lookup(set: number, k0: Key, k1: Key = 0): number {
    return this.x.lookup(this.h, set, lo(k0), hi(k0), lo(k1), hi(k1));
  }
  probe(set: number, k0: Key, k1: Key = 0): number {
    return this.x.probe(this.h, set, lo(k0), hi(k0), lo(k1), hi(k1));
  }
  fill(set: number, k0: Key, k1: Key = 0): number {
    return this.x.fill(this.h, set, lo(k0), hi(k0), lo(k1), hi(k1));
  }
  /** lookup(), then fill() on a miss (the access pattern of every cache); true on a hit. */
  access(set: number, k0: Key, k1: Key = 0): boolean {
    if (this.lookup(set, k0, k1) >= 0) return true;
    this.fill(set, k0, k1);
    return false;
  }
  /** The policy's touch for a valid slot (what a lookup hit does), without counting. */
  touch(slot: number): void { this.x.touch(this.h, slot); }
  invalidate(slot: number): void { this.x.invalidate(this.h, slot); }
  invalidateAll(): void { this.x.invalidateAll(this.h); }
  invalidateMatching(m0: Key, v0: Key, m1: Key, v1: Key): number {
    return this.x.invalidateMatching(this.h, lo(m0), hi(m0), lo(v0), hi(v0), lo(m1), hi(m1), lo(v1), hi(v1));
  }
  /** Page keys (uarch/cache/page-key.ts) with the page sizes of architecture `arch` (abi Arch): the slot hit or -1. */
  pageLookup(arch: number, owner: Key, va: Key): number {
    return this.x.pageLookup(this.h, arch, lo(owner), hi(owner), lo(va), hi(va));
  }
  /** Makes the 2^pageLg2-byte page of `va` valid for `owner`; returns its slot. */
  pageFill(arch: number, owner: Key, va: Key, pageLg2: number): number {
    return this.x.pageFill(this.h, arch, lo(owner), hi(owner), lo(va), hi(va), pageLg2);
  }
  /** The policy's victim for `set` now (with its side effects), without filling. */
  victim(set = 0): number { return this.x.victim(this.h, set); }

  isValid(slot: number): boolean { return this.x.isValid(this.h, slot) !== 0; }
  key0(slot: number): bigint {
    return (BigInt(this.x.key0hi(this.h, slot) >>> 0) << 32n) | BigInt(this.x.key0lo(this.h, slot) >>> 0);
  }
  key1(slot: number): bigint {
    return (BigInt(this.x.key1hi(this.h, slot) >>> 0) << 32n) | BigInt(this.x.key1lo(this.h, slot) >>> 0);
  }
  payloadRead32(slot: number, offset: number): number { return this.x.payloadRead32(this.h, slot, offset) >>> 0; }
  payloadWrite32(slot: number, offset: number, value: number): void {
    this.x.payloadWrite32(this.h, slot, offset, value);
  }
  payloadAddress(slot: number): number { return this.x.payloadAddress(this.h, slot) >>> 0; }

  /** Valid slots' key0 values by slot (undefined for invalid slots), for whole-state assertions. */
  contents(): (bigint | undefined)[] {
    const out: (bigint | undefined)[] = [];
    for (let s = 0; s < this.slots; s++) out.push(this.isValid(s) ? this.key0(s) : undefined);
    return out;
  }

  counters(): Counters {
    const x = this.x, h = this.h;
    return {
      lookups: x.lookups(h) >>> 0,
      hits: x.hits(h) >>> 0,
      misses: x.misses(h) >>> 0,
      fills: x.fills(h) >>> 0,
      evictions: x.evictions(h) >>> 0,
      invalidations: x.invalidations(h) >>> 0,
    };
  }
  resetCounters(): void { this.x.resetCounters(this.h); }
}

export interface Harness {
  /** A new cache in this instance. */
  cache(g: Geometry): Cache;
  policySupports(policy: PolicyName, ways: number): boolean;
}

/** A fresh harness instance. */
export function newHarness(): Harness {
  let memory: WebAssembly.Memory | undefined;
  /** An AssemblyScript string: UTF-16LE, its byte length in the u32 before it. */
  const str = (ptr: number): string => {
    if (!memory || ptr === 0) return "";
    const len = new Uint32Array(memory.buffer, ptr - 4, 1)[0]!;
    return Buffer.from(memory.buffer, ptr, len).toString("utf16le");
  };
  const instance = new WebAssembly.Instance(harnessModule(), {
    env: {
      abort(msg: number, file: number, line: number, col: number): never {
        throw new Error(`abort: ${str(msg) || "assertion failed"} at ${str(file)}:${line}:${col}`);
      },
    },
  });
  memory = instance.exports["memory"] as WebAssembly.Memory;
  const x = instance.exports as unknown as Exports;
  return {
    cache: (g) => new Cache(x, x.create(g.entries, g.assoc, POLICY[g.policy], g.payloadBytes ?? 0, g.seed ?? 0)),
    policySupports: (p, ways) => x.policySupports(POLICY[p], ways) !== 0,
  };
}
