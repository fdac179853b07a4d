/** SMMUv3's own platform options (src/arch/smmuv3/module.ts applies them to the core). */
import type { IdRegisters } from "./registers.ts";
import type { StreamMap } from "./iort.ts";

export interface SmmuPlatformOptions {
  /** The identification registers (default: the profile in registers.ts). */
  idr?: Partial<IdRegisters>;
  /**
   * The firmware's CANWBS flag (IORT root-complex memory access flags bit 2): the platform keeps
   * device accesses to Normal memory coherent, No-Snoop included. One flag for the whole platform
   * (the core has one option bit). Default false. Not with `streamMap`, whose root complexes have
   * their own.
   */
  canwbs?: boolean;
  /**
   * TLB conflicts (spec 7.3.17; detection is IMPLEMENTATION DEFINED): "ignore" (default) serves a
   * lookup that matches more than one TLB entry from the first match; "event" ends it with
   * F_TLB_CONFLICT (core Opt.TLB_CONFLICT).
   */
  tlbConflict?: "ignore" | "event";
  /**
   * The root complexes' RID-to-StreamID map and CANWBS flags (IORT, iort.ts streamMapOf). Absent:
   * StreamID = the request's SID (the identity) and `canwbs` for every transaction.
   */
  streamMap?: StreamMap;
}
