/**
 * VT-d's teardown of a freed PASID that is still attached (issue 11 "PASID allocation"; the driver
 * side's free is src/iommu/pasid.ts, which names no architecture): the steps Linux's
 * intel_pasid_tear_down_entry (drivers/iommu/intel/pasid.c) takes, each invalidation submitted with
 * its own wait (qi_submit_sync). The unit's driver (driver.ts tearDownPasid) carries them out.
 */
import type { DomainType } from "./domain.ts";
import { MAX_PAGES_LG2, type Invalidation } from "./trace-commands.ts";

/** What is attached at the PASID being freed on one device. */
export interface VtdPasidAttachment {
  device: number;
  /** The domain ID in the PASID entry. */
  did: number;
  /** The domain's PGTT: first-stage, second-stage, nested or pass-through. */
  domainType: DomainType;
  /** The device has ATS on (a device-TLB to invalidate). */
  ats: boolean;
}

/** One step, in list order; `sync` is the invalidation wait descriptor that ends a submission. */
export type VtdTeardownStep = { op: "clear-pasid-entry"; device: number; pasid: number } | { op: "inv"; inv: Invalidation } | { op: "sync" };

/**
 * Clear the PASID-table entry; PASID-cache PASID-selective invalidation (old DID); PASID-based IOTLB
 * of the whole PASID for first-stage and pass-through domains, domain-selective IOTLB for
 * second-stage and nested ones (their entries are tagged by DID); with ATS, a PASID-based
 * device-TLB invalidation of every address (VT-d spec 6.5.2.6-6.5.2.8). A wait after each.
 */
export function vtdTeardownSteps(pasid: number, a: VtdPasidAttachment): VtdTeardownStep[] {
  const steps: VtdTeardownStep[] = [{ op: "clear-pasid-entry", device: a.device, pasid }];
  const inv = (i: Invalidation) => steps.push({ op: "inv", inv: i }, { op: "sync" });
  inv({ kind: "pc", gran: "pasid", did: a.did, pasid });
  if (a.domainType === "fs" || a.domainType === "pt") inv({ kind: "piotlb", did: a.did, pasid });
  else inv({ kind: "iotlb", reg: false, gran: "dsi", did: a.did });
  if (a.ats) inv({ kind: "pdevtlb", sid: a.device & 0xffff, pasid, addr: 0n, pagesLg2: MAX_PAGES_LG2, all: false });
  return steps;
}
