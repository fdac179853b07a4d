/**
 * A bare SMMUv3 core for the tests of test/arch/smmuv3: registers set by name, hand-encoded STE, CD
 * and descriptor qwords written into guest memory, the event queue read back.
 *
 * The unit: IDR0 = S2P, S1P, TTF AArch64, COHACC, HTTU access+dirty, ATS, ASID16, VMID16, CD2L,
 * STALL_MODEL 1 (terminate only), ST_LEVEL 2-level; IDR1 = SIDSIZE 16, SSIDSIZE 20, EVENTQS 19;
 * IDR3 = HAD, FWB, RIL; IDR1.CMDQS 19; IDR5 = OAS 48 bits, 4K/16K/64K granules. Linear stream table at
 * STRTAB (256 StreamIDs), event queue at EVENTQ with 8 records, CR0 = SMMUEN | EVENTQEN.
 */
import { Core, type CoreBuild, type Request } from "../../../src/core/core.ts";
import { encodeFields } from "../../../src/arch/fields.ts";
import * as f from "../../../src/arch/smmuv3/fields.ts";

export const builds = ["debug", "release"] as const satisfies readonly CoreBuild[];

export const STRTAB = 0x10000n;
export const EVENTQ = 0x80000n;

export const IDR0 = encodeFields(f.idr0Fields, {
  S2P: 1, S1P: 1, TTF: 2, COHACC: 1, HTTU: 2, ATS: 1, ASID16: 1, VMID16: 1, CD2L: 1, STALL_MODEL: 1, ST_LEVEL: 1,
});
export const IDR1 = encodeFields(f.idr1Fields, { SIDSIZE: 16, SSIDSIZE: 20, EVENTQS: 19, CMDQS: 19 });
export const IDR3 = encodeFields(f.idr3Fields, { HAD: 1, FWB: 1, RIL: 1 });
export const IDR5 = encodeFields(f.idr5Fields, { OAS: 5, GRAN4K: 1, GRAN16K: 1, GRAN64K: 1 });

export function smmu(build: CoreBuild, regs: Partial<Record<"IDR0" | "IDR1" | "IDR3" | "IDR5" | "CR0" | "GBPA" | "STRTAB_BASE_CFG" | "EVENTQ_BASE", bigint>> = {}): Core {
  const core = new Core(build, "smmuv3");
  core.setRegister("IDR0", regs.IDR0 ?? IDR0);
  core.setRegister("IDR1", regs.IDR1 ?? IDR1);
  core.setRegister("IDR3", regs.IDR3 ?? IDR3);
  core.setRegister("IDR5", regs.IDR5 ?? IDR5);
  core.setRegister("STRTAB_BASE", STRTAB);
  core.setRegister("STRTAB_BASE_CFG", regs.STRTAB_BASE_CFG ?? 8n); // linear, LOG2SIZE 8
  core.setRegister("EVENTQ_BASE", regs.EVENTQ_BASE ?? EVENTQ | 3n); // 8 records
  core.setRegister("GBPA", regs.GBPA ?? 0n);
  core.setRegister("CR0", regs.CR0 ?? 0x5n); // SMMUEN | EVENTQEN
  core.zeroPage(STRTAB); // StreamIDs 0-63 readable (V = 0)
  core.zeroPage(EVENTQ);
  return core;
}

/** Writes an STE (four dwords; the other four zero) for `sid` in the linear table. */
export function writeSte(core: Core, sid: number, d: readonly bigint[], base = STRTAB): void {
  core.writeQwords(base + BigInt(sid) * 64n, [...d, 0n, 0n, 0n, 0n].slice(0, 8));
}

/** Event record `i` of the queue (four dwords). */
export function event(core: Core, i: number, base = EVENTQ): bigint[] {
  return [0, 1, 2, 3].map((q) => core.read64(base + BigInt(i) * 32n + BigInt(q) * 8n)!);
}

export const rd = (sid: number, addr: bigint, more: Partial<Request> = {}): Request => ({ op: "MRd", sid, addr, ...more });
export const wr = (sid: number, addr: bigint, more: Partial<Request> = {}): Request => ({ op: "MWr", sid, addr, ...more });

/**
 * Stage-2 tables, 4 KiB granule, S2T0SZ 32, S2SL0 1 (start at level 1, 4 entries): L1 at S2_L1,
 * L1[0] -> L2 at S2_L2, L2[0x91] -> L3 at S2_L3 (IPA 0x12200000-0x123fffff), L2[0x92] -> an
 * unwritten table at 0x200000 (F_WALK_EABT). L3 leaves (MemAttr 0xF, SH inner, AF unless said):
 *   [0x145] IPA 0x12345000 -> 0x76543000 RW        [0x146] invalid
 *   [0x147] -> 2^40 (beyond a 40-bit S2PS) RW      [0x148] -> 0x76548000 RW, AF = 0
 *   [0x149] -> 0x76549000 read-only
 */
export const S2_L1 = 0x100000n;
export const S2_L2 = 0x101000n;
export const S2_L3 = 0x102000n;
export function writeS2Tables(core: Core): void {
  core.zeroPage(S2_L1);
  core.zeroPage(S2_L2);
  core.zeroPage(S2_L3);
  core.write64(S2_L1, S2_L2 | 3n);
  core.write64(S2_L2 + 0x91n * 8n, S2_L3 | 3n);
  core.write64(S2_L2 + 0x92n * 8n, 0x200003n);
  core.write64(S2_L3 + 0x145n * 8n, 0x765437ffn);
  core.write64(S2_L3 + 0x147n * 8n, 0x100_0000_07ffn);
  core.write64(S2_L3 + 0x148n * 8n, 0x765483ffn);
  core.write64(S2_L3 + 0x149n * 8n, 0x7654977fn);
}

/**
 * STE dword 2 of a stage-2 STE: S2VMID 5, S2T0SZ 32, S2SL0 1, S2TG 4K, S2PS 48 bits, S2AA64, S2R
 * (0x040d_0060_0000_0005), with fields replaced by `over`.
 */
export function s2Dword(over: Partial<Record<keyof (typeof f.steFields)[2], number | bigint>> = {}): bigint {
  return encodeFields(f.steFields[2], { S2VMID: 5, S2T0SZ: 32, S2SL0: 1, S2TG: 0, S2PS: 5, S2AA64: 1, S2R: 1, ...over });
}
