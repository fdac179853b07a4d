/**
 * SMMUv3's teardown of a freed SubstreamID that is still attached (issue 11 "PASID allocation"; the
 * driver side's free is src/iommu/pasid.ts, which names no architecture): the steps of Linux's
 * arm_smmu_clear_cd + arm_smmu_sync_cd, arm_smmu_tlb_inv_asid and arm_smmu_atc_inv_master
 * (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c). The unit's driver (driver.ts tearDownPasid)
 * carries them out.
 */
import { atcInv, cfgiCd, tlbiNhAsid, type Command } from "./commands.ts";

/** What is attached at the SubstreamID being freed on one device. */
export interface SmmuPasidAttachment {
  device: number;
  /** The device's StreamIDs (default: [device], the identity RID-to-StreamID map). */
  streamIds?: readonly number[];
  /** The ASID of the CD's domain, and the VMID of its nesting parent (0 without one). */
  asid: number;
  vmid: number;
  ats: boolean;
}

/** One step, in list order; `sync` is the CMD_SYNC that ends a batch of commands. */
export type SmmuTeardownStep = { op: "clear-cd"; device: number; ssid: number } | { op: "cmd"; cmd: Command } | { op: "sync" };

/**
 * Clear the CD (V=0), CMD_CFGI_CD (leaf) for each StreamID and a CMD_SYNC, so no new walk can find
 * the CD; CMD_TLBI_NH_ASID for the domain's ASID (and its parent's VMID) and a CMD_SYNC; with ATS,
 * CMD_ATC_INV of every address for each StreamID and the SSID, and a CMD_SYNC (SMMUv3 spec 4.3.2,
 * 4.4.2, 4.5.1, 3.21 on the order: a CD is invalidated before the TLB entries it produced, the TLB
 * before the ATC that was filled from it).
 */
export function smmuTeardownSteps(ssid: number, a: SmmuPasidAttachment): SmmuTeardownStep[] {
  const sids = a.streamIds ?? [a.device];
  const steps: SmmuTeardownStep[] = [{ op: "clear-cd", device: a.device, ssid }];
  const cmds = (list: Command[]) => steps.push(...list.map((cmd): SmmuTeardownStep => ({ op: "cmd", cmd })), { op: "sync" });
  cmds(sids.map((sid) => cfgiCd(sid, ssid)));
  cmds([tlbiNhAsid(a.asid, a.vmid)]);
  if (a.ats) cmds(sids.map((sid) => atcInv(sid, ssid, 0n, 0n)));
  return steps;
}
