/**
 * SMMUv3 commands as Linux's arm-smmu-v3 driver builds them (arm_smmu_cmdq_build_cmd,
 * arm_smmu_cmdq_build_sync_cmd; spec 4, shared/spec/smmuv3.md §2.7), each qword built from the
 * field table (fields.ts `cmdFields`), and the "used bits" of STEs and CDs that Linux's hitless
 * update (arm_smmu_write_entry) compares (arm_smmu_get_ste_used, arm_smmu_get_cd_used).
 */
import { encodeFields, fieldMax, getField, type FieldTable } from "../fields.ts";
import { CmdOp, SteConfig, cdFields, cmdFields, steFields } from "./fields.ts";
import type { Qwords8 } from "./ste.ts";

/** One command: its name (CMD_...) for messages, and its two qwords. */
export interface Command {
  name: string;
  q0: bigint;
  q1: bigint;
}

const NAMES = new Map<number, string>(Object.entries(CmdOp).map(([k, v]) => [v, `CMD_${k}`]));

/** The name of the command whose dword 0 is `q0` (CMD_SYNC, ...), or its opcode in hex. */
export function commandName(q0: bigint): string {
  const op = Number(q0 & 0xffn);
  return NAMES.get(op) ?? `opcode 0x${op.toString(16).padStart(2, "0")}`;
}

const cmd = (q0: bigint, q1 = 0n): Command => ({ name: commandName(q0), q0, q1 });
const [config0, config1] = cmdFields.config;
const [tlbi0, tlbi1] = cmdFields.tlbi;
const [atc0, atc1] = cmdFields.atcInv;
const [sync0, sync1] = cmdFields.sync;

/** CMD_CFGI_STE with Leaf (the STE only, not the L1STD): arm_smmu_sync_ste_for_sid. */
export const cfgiSte = (sid: number): Command => cmd(encodeFields(config0, { OPCODE: CmdOp.CFGI_STE, SID: sid }), encodeFields(config1, { LEAF: 1 }));

/** CMD_CFGI_CD with Leaf: arm_smmu_sync_cd. */
export const cfgiCd = (sid: number, ssid: number): Command =>
  cmd(encodeFields(config0, { OPCODE: CmdOp.CFGI_CD, SSID: ssid, SID: sid }), encodeFields(config1, { LEAF: 1 }));

/** CMD_PREFETCH_CONFIG: what arm_smmu_write_ste issues after writing an STE. */
export const prefetchConfig = (sid: number): Command => cmd(encodeFields(config0, { OPCODE: CmdOp.PREFETCH_CONFIG, SID: sid }));

/** The range fields of a TLBI by address (all 0 without IDR3.RIL). */
export interface TlbiRange {
  addr: bigint;
  leaf: boolean;
  num: number;
  scale: number;
  tg: number;
  ttl: number;
}

/** CMD_TLBI_NH_VA (stage 1: ASID, and the VMID of a nested domain's parent; else 0). */
export const tlbiNhVa = (asid: number, vmid: number, r: TlbiRange): Command =>
  cmd(
    encodeFields(tlbi0, { OPCODE: CmdOp.TLBI_NH_VA, NUM: r.num, SCALE: r.scale, VMID: vmid, ASID: asid }),
    encodeFields(tlbi1, { LEAF: r.leaf, TTL: r.ttl, TG: r.tg, ADDR: r.addr >> 12n }),
  );

/** CMD_TLBI_S2_IPA (stage 2: VMID; the IPA is bits 51:12). */
export const tlbiS2Ipa = (vmid: number, r: TlbiRange): Command =>
  cmd(
    encodeFields(tlbi0, { OPCODE: CmdOp.TLBI_S2_IPA, NUM: r.num, SCALE: r.scale, VMID: vmid }),
    encodeFields(tlbi1, { LEAF: r.leaf, TTL: r.ttl, TG: r.tg, ADDR: (r.addr & ((1n << 52n) - 1n)) >> 12n }),
  );

export const tlbiNhAsid = (asid: number, vmid: number): Command => cmd(encodeFields(tlbi0, { OPCODE: CmdOp.TLBI_NH_ASID, VMID: vmid, ASID: asid }));
export const tlbiNhAll = (vmid: number): Command => cmd(encodeFields(tlbi0, { OPCODE: CmdOp.TLBI_NH_ALL, VMID: vmid }));
export const tlbiS12Vmall = (vmid: number): Command => cmd(encodeFields(tlbi0, { OPCODE: CmdOp.TLBI_S12_VMALL, VMID: vmid }));

/** Linux ATC_INV_SIZE_ALL: log2 of 2^52 pages, every address. */
export const ATC_INV_SIZE_ALL = 52;

/**
 * CMD_ATC_INV for a stream (and substream) over [iova, iova+size) as arm_smmu_atc_inv_to_cmd
 * rounds it: the smallest naturally aligned power-of-two run of 4 KiB pages that covers it; size 0
 * is every address (Size 52).
 */
export function atcInv(sid: number, ssid: number | undefined, iova: bigint, size: bigint): Command {
  let addr = 0n, lg2 = ATC_INV_SIZE_ALL;
  if (size !== 0n) {
    const start = iova >> 12n, end = (iova + size - 1n) >> 12n;
    lg2 = (start ^ end).toString(2).length - (start === end ? 1 : 0); // fls_long(start ^ end)
    addr = (start & ~((1n << BigInt(lg2)) - 1n)) << 12n;
  }
  return cmd(encodeFields(atc0, { OPCODE: CmdOp.ATC_INV, SSV: ssid !== undefined, SSID: ssid ?? 0, SID: sid }), encodeFields(atc1, { SIZE: lg2, ADDR: addr >> 12n }));
}

/** Linux ARM_SMMU_SH_ISH and ARM_SMMU_MEMATTR_OIWB, the MSH and MSIAttr of every CMD_SYNC. */
const SH_ISH = 3, MEMATTR_OIWB = 0xf;

/**
 * CMD_SYNC: with MSI polling (IDR0.MSI and a coherent SMMU: Linux ARM_SMMU_OPT_MSIPOLL) CS=IRQ with
 * MSIAddr the sync's own slot and MSIData 0, so completion zeroes the slot's first word; else
 * CS=SEV (and the driver polls CONS). MSH inner shareable, MSIAttr outer and inner write-back.
 */
export function cmdSync(msiAddr?: bigint): Command {
  const q0 = encodeFields(sync0, { OPCODE: CmdOp.SYNC, CS: msiAddr === undefined ? 2 : 1, MSH: SH_ISH, MSIATTR: MEMATTR_OIWB });
  return cmd(q0, msiAddr === undefined ? 0n : encodeFields(sync1, { MSIADDR: msiAddr >> 2n }));
}

// ---- used bits ---------------------------------------------------------------------------------------

function maskOf<T extends FieldTable>(t: T, names: readonly (keyof T & string)[]): bigint {
  let m = 0n;
  for (const n of names) m |= fieldMax(t[n]!) << BigInt(t[n]![1]);
  return m;
}

const [ste0, ste1, ste2, ste3] = steFields;

/** Linux arm_smmu_get_ste_used: the STE bits the SMMU reads for the Config of `e`. */
export function steUsed(e: Qwords8): Qwords8 {
  const u: Qwords8 = [maskOf(ste0, ["V"]), 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  if (getField(e[0], ste0.V) === 0n) return u;
  u[0] |= maskOf(ste0, ["CONFIG"]);
  const cfg = Number(getField(e[0], ste0.CONFIG));
  if (cfg & 1) {
    u[0] |= maskOf(ste0, ["S1FMT", "S1CONTEXTPTR", "S1CDMAX"]);
    u[1] |= maskOf(ste1, ["S1DSS", "S1CIR", "S1COR", "S1CSH", "S1STALLD", "STRW", "EATS"]);
    u[2] |= maskOf(ste2, ["S2VMID"]);
    if (getField(e[1], ste1.S1DSS) === 1n) u[1] |= maskOf(ste1, ["SHCFG"]);
  }
  if (cfg & 2) {
    u[1] |= maskOf(ste1, ["S2FWB", "EATS", "SHCFG", "MEV"]);
    u[2] |= maskOf(ste2, ["S2VMID", "S2T0SZ", "S2SL0", "S2IR0", "S2OR0", "S2SH0", "S2TG", "S2PS", "S2AA64", "S2ENDI", "S2PTW", "S2S", "S2R"]);
    u[3] |= maskOf(ste3, ["S2TTB"]);
  }
  if (cfg === SteConfig.BYPASS) u[1] |= maskOf(ste1, ["SHCFG"]);
  return u;
}

/** Linux arm_smmu_get_cd_used: V alone when V=0, else every bit but the TTB0 walk's when EPD0. */
export function cdUsed(e: Qwords8): Qwords8 {
  const all = (1n << 64n) - 1n;
  const u: Qwords8 = [maskOf(cdFields[0], ["V"]), 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  if (getField(e[0], cdFields[0].V) === 0n) return u;
  u.fill(all);
  if (getField(e[0], cdFields[0].EPD0) !== 0n) {
    u[0] &= ~maskOf(cdFields[0], ["T0SZ", "TG0", "IR0", "OR0", "SH0"]);
    u[1] &= ~maskOf(cdFields[1], ["TTB0"]);
  }
  return u;
}
