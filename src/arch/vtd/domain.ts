/** A VT-d domain as the builder keeps it (types only: the builder, the checks and the driver share them). */
import type { InvalidationMode } from "../../driver/flush-queue.ts";

export type DomainType = "ss" | "fs" | "nested" | "pt";

export interface DomainSpec {
  id: number; // domain ID (DID)
  type: DomainType;
  /** Paging levels: SS 3/4/5 (AW = levels - 2), FS 4/5 (FSPM). Default 4. */
  levels?: number;
  /** Nested: the second-stage domain that translates this domain's guest-physical addresses. */
  parent?: number;
  /** Linux enforce_cache_coherency: SNP in every SS leaf; PGSNP in FS/nested PASID entries. */
  forceSnoop?: boolean;
  /** First stage: preset A (and D for writable leaves) as Linux's generic_pt does. Default true. */
  presetAccessed?: boolean;
}

export interface Domain extends Required<Omit<DomainSpec, "parent">> {
  parent?: Domain;
  /** Root table: SSPTPTR for "ss", FSPTPTR for "fs"/"nested" (a GPA for nested). */
  root: bigint;
  /** How the driver invalidates this domain's unmaps (scenario build.domains[i].invalidation); absent: the platform's. */
  invalidation?: InvalidationMode;
  /** Something was ever mapped in it (Linux dmar_domain->has_mappings: set by a map, never cleared). */
  hasMappings?: boolean;
}

