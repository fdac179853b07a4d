/**
 * A unit for the SMMUv3 TLB, walk-cache and timing tests (tlb, walk-cache, timing *.test.ts):
 * a command queue of 16 at CMDQ, stage-1 tables with 4 levels (4 KiB granule, T0SZ 16), a CD at CD_AT
 * and a stage-1 STE for StreamID 8 (S2VMID 0); the stage-2 tables of helpers.ts with a stage-2 STE for
 * StreamID 3 (S2VMID 5).
 *
 * Stage 1: L0 at S1_L0, [0] -> L1 at S1_L1, [1] -> L2 at S1_L2, [1] -> L3 at S1_L3 (VA 0x40200000-
 * 0x403fffff). L3 leaves: [1] -> 0x55555000 (nG = 1), [2] -> 0x55556000 (nG = 0: global), both AF,
 * AttrIndx 1, unprivileged, writable. CD: T0SZ 16, TG0 4K, EPD1, IPS 48, AA64, R, A, ASID `asid`.
 */
import { CacheId } from "../../../src/core/abi.ts";
import type { Core } from "../../../src/core/core.ts";
import { platformCaches } from "../../../src/platform.ts";
import { presets, resolveTiming, defaultTiming } from "../../../src/config/timing.ts";
import { smmu, writeSte, writeS2Tables, s2Dword, S2_L1, builds } from "./helpers.ts";

export const CMDQ = 0x90000n;
export const CD_AT = 0x20000n;
export const S1_L0 = 0x33000n, S1_L1 = 0x30000n, S1_L2 = 0x31000n, S1_L3 = 0x32000n;
export const MAIR = 0x04ff44n;
export const cd0 = (asid: bigint) => 0x0000_6205_c000_0010n | (asid << 48n);

export function writeS1Tables(core: Core, asid = 7n, at = CD_AT): void {
  for (const p of [S1_L0, S1_L1, S1_L2, S1_L3]) core.zeroPage(p);
  core.write64(S1_L0, S1_L1 | 3n);
  core.write64(S1_L1 + 8n, S1_L2 | 3n);
  core.write64(S1_L2 + 8n, S1_L3 | 3n);
  core.writeQwords(S1_L3 + 8n, [0x55555f47n, 0x55556747n]);
  core.zeroPage(at);
  core.writeQwords(at, [cd0(asid), S1_L0, 0n, MAIR]);
}

/**
 * The unit: the default caches (without the TLB unless `tlb`), or the gem5-smmuv3 preset's with timing on; CR0 = SMMUEN | EVENTQEN | CMDQEN.
 */
export function tlbUnit(build: (typeof builds)[number], timed = false, tlb = true): Core {
  const core = smmu(build, { CR0: 0xdn });
  if (timed) core.configure(platformCaches("gem5-smmuv3"), resolveTiming(presets["gem5-smmuv3"].timing));
  else core.configure(platformCaches("vtd-default", { iotlb: { enable: tlb } }), { ...defaultTiming, enable: false });
  core.zeroPage(CMDQ);
  core.setRegister("CMDQ_BASE", CMDQ | 4n);
  writeS1Tables(core);
  writeSte(core, 8, [CD_AT | 0xbn]);
  writeS2Tables(core);
  writeSte(core, 3, [0xdn, 0n, s2Dword(), S2_L1]);
  return core;
}

/** Issues commands through the queue (PROD follows its own count per core). */
const prods = new WeakMap<Core, bigint>();
export function command(core: Core, d0: bigint, d1 = 0n): void {
  const prod = prods.get(core) ?? 0n;
  core.writeQwords(CMDQ + (prod & 15n) * 16n, [d0, d1]);
  prods.set(core, (prod + 1n) & 31n);
  core.writeRegister("CMDQ_PROD", (prod + 1n) & 31n);
}

/** Lookups, hits and misses of a cache so far. */
export function lhm(core: Core, name: keyof typeof CacheId): [bigint, bigint, bigint] {
  const s = core.cacheStats()[name];
  return [s.lookups, s.hits, s.misses];
}
