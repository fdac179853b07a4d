/**
 * Loads build/walk-harness.wasm (assembly/testing/walk-harness.ts, built by `npm run
 * asbuild:harness`): one walk of one format over tables in a modelled guest memory, with no
 * platform, caches or architecture around it. `fresh()` gives a new instance and a host-side
 * mirror of the memory written into it (src/core/formats.ts TableMemory), so table writers and
 * tests read back what they wrote. Every u64 crosses the boundary as two u32 halves.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { TableMemory } from "../../src/core/formats.ts";

/** Walk outcomes (assembly/arch/pagetable/walk-state.ts). */
export const W = { OK: 0, ACCESS: 1, NOT_PRESENT: 2, RESERVED: 3, INPUT: 4, ACCESS_FLAG: 9, ADDR_SIZE: 10 } as const;
/** Rights after a walk (harness perms()): PX is VMSA stage 1's privileged execute. */
export const PERM = { R: 1, W: 2, U: 4, X: 8, PX: 16 } as const;

export interface Harness {
  init(): void;
  write64(alo: number, ahi: number, lo: number, hi: number): void;
  configureVtd(fmt: number, rlo: number, rhi: number, levels: number, leafLevels: number, inputBits: number, setAD: number): void;
  configureVmsaS2(rlo: number, rhi: number, granuleLg2: number, t0sz: number, sl0: number, oaBits: number, affd: number, ha: number, hd: number, paBits: number): number;
  configureVmsaS1(rlo: number, rhi: number, granuleLg2: number, tsz: number, oaBits: number, upper: number, tbi: number, had: number, affd: number, ha: number, hd: number, wxn: number, uwxn: number): number;
  levels(): number;
  walkVa(lo: number, hi: number): number;
  oaLo(): number;
  oaHi(): number;
  pageLg2(): number;
  leafLevel(): number;
  faultLevel(): number;
  reads(): number;
  perms(): number;
  /** bit 0 global, bit 1 contiguous, SH 3:2, AttrIndx 6:4, MemAttr 11:8 */
  attributes(): number;
  setDirty(): number;
  entryPaLo(level: number): number;
  entryPaHi(level: number): number;
  entryLo(level: number): number;
  entryHi(level: number): number;
}

const wasm = new WebAssembly.Module(readFileSync(fileURLToPath(new URL("../../build/walk-harness.wasm", import.meta.url))));
export const lo = (v: bigint) => Number(v & 0xffff_ffffn);
export const hi = (v: bigint) => Number((v >> 32n) & 0xffff_ffffn);
export const u64 = (l: number, h: number) => (BigInt(h >>> 0) << 32n) | BigInt(l >>> 0);

/** A fresh core harness and a host-side mirror of the memory written into it (tables from 0x1000_0000). */
export function fresh(): { h: Harness; mem: TableMemory } {
  const inst = new WebAssembly.Instance(wasm, {
    env: {
      abort: (_m: number, _f: number, line: number, col: number) => {
        throw new Error(`walk harness assertion failed at ${line}:${col}`);
      },
    },
  });
  const h = inst.exports as unknown as Harness;
  h.init();
  const shadow = new Map<bigint, bigint>();
  let next = 0x1000_0000n;
  const mem: TableMemory = {
    read64: (pa) => shadow.get(pa),
    write64: (pa, v) => {
      shadow.set(pa, v);
      h.write64(lo(pa), hi(pa), lo(v), hi(v));
    },
    allocTable: (bytes) => {
      next = (next + bytes - 1n) & ~(bytes - 1n); // aligned to its size (concatenated tables too)
      const at = next;
      next += bytes;
      for (let a = at; a < at + bytes; a += 0x1000n) h.write64(lo(a), hi(a), 0, 0); // the table exists (reads are not access errors)
      return at;
    },
  };
  return { h, mem };
}

/** The entry the last walk read at normalised `level`: its address and its value. */
export const entryPa = (h: Harness, level: number) => u64(h.entryPaLo(level), h.entryPaHi(level));
export const entryAt = (h: Harness, level: number) => u64(h.entryLo(level), h.entryHi(level));
export const outputAddress = (h: Harness) => u64(h.oaLo(), h.oaHi());
