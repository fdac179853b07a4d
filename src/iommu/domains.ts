/**
 * Domains the driver side allocates (issue 11; README "Driver side"), as iommufd's IOMMU_HWPT_ALLOC
 * and the core's IOMMU_DOMAIN_BLOCKED: paging domains of the unit's formats, nested domains over a
 * paging parent and identity domains are the architecture's (ArchDriver.allocDomain writes them
 * through its builder); a blocking domain is the driver side's own: attaching it puts the device in
 * the unit's blocking form (ArchDriver.block), and it has no page tables to map.
 */
import { z } from "zod";
import { DOMAIN_FORMATS, DOMAIN_KINDS, INVALIDATION_MODES, type DomainAllocEvent, type DomainKind } from "../trace/events.ts";
import type { ArchDriver } from "../driver/driver.ts";
import { RefusedError } from "./ownership.ts";

const domainId = z.number().int().min(0).max(0xffff, { message: "expected a domain id 0..65535" });

/**
 * The scenario key `domainAlloc` (README "Driver side"): domains allocated before the trace starts,
 * in order, as `domain-alloc` events would allocate them:
 *   "domainAlloc": [ { "id": 5, "kind": "paging", "format": "fs", "invalidation": "lazy" }, { "id": 6, "kind": "nested", "parent": 5 }, { "id": 8, "kind": "blocking" } ]
 * `"invalidation"` on a paging or nested domain: its unmaps' policy, as `domain-alloc ... invalidation=`.
 * `"enforceCoherency": true` on a paging domain: `enforce-coherency` right after it is allocated.
 */
export const domainAllocSchema = z.array(
  z
    .strictObject({
      id: domainId,
      kind: z.enum(DOMAIN_KINDS, { message: `expected a domain kind: "paging", "nested", "identity" or "blocking"` }),
      format: z.enum(DOMAIN_FORMATS, { message: `expected a paging format: "ss" or "fs" (VT-d), "s1" or "s2" (SMMUv3)` }).optional(),
      parent: domainId.optional(),
      /** enforce-coherency at allocation (before any device or mapping): src/iommu/iommu.ts. */
      enforceCoherency: z.boolean().optional(),
      /** Its unmaps' invalidation policy (src/driver/flush-queue.ts); absent: config.driver.invalidation. */
      invalidation: z.enum(INVALIDATION_MODES, { message: `expected "strict" or "lazy"` }).optional(),
    })
    .superRefine((d, ctx) => {
      if (d.format !== undefined && d.kind !== "paging") ctx.addIssue({ code: "custom", path: ["format"], message: `format is for paging domains, not ${d.kind} ones` });
      if (d.kind === "nested" && d.parent === undefined) ctx.addIssue({ code: "custom", path: ["kind"], message: `a nested domain needs "parent", the paging domain it nests over` });
      if (d.kind !== "nested" && d.parent !== undefined) ctx.addIssue({ code: "custom", path: ["parent"], message: `parent is for nested domains, not ${d.kind} ones` });
      if (d.invalidation !== undefined && d.kind !== "paging" && d.kind !== "nested")
        ctx.addIssue({ code: "custom", path: ["invalidation"], message: `invalidation is for paging and nested domains, not ${d.kind} ones (they have no mappings to unmap)` });
      if (d.enforceCoherency && d.kind !== "paging") ctx.addIssue({ code: "custom", path: ["enforceCoherency"], message: `enforceCoherency is for paging domains, not ${d.kind} ones (a nested domain takes its parent's)` });
    }),
);

export type DomainAllocEntry = z.output<typeof domainAllocSchema>[number];

export class Domains {
  /** The kind of each domain domain-alloc made; the scenario's domains are not listed (the architecture knows them). */
  private readonly kinds = new Map<number, DomainKind>();

  constructor(private readonly arch: ArchDriver) {}

  alloc(e: DomainAllocEvent): void {
    if (this.kinds.has(e.domain)) throw new RefusedError(`domain-alloc ${e.domain}: domain ${e.domain} exists already`);
    if (e.kind === "nested" && this.isBlocking(e.parent!)) throw new RefusedError(`domain-alloc ${e.domain}: parent ${e.parent} is a blocking domain, not a paging one`);
    if (e.kind === "blocking") {
      // The id must not name one of the unit's domains either: attach and map would be ambiguous.
      if (this.arch.hasDomain(e.domain)) throw new RefusedError(`domain-alloc ${e.domain}: domain ${e.domain} exists already`);
    } else {
      this.arch.allocDomain({
        id: e.domain,
        kind: e.kind,
        ...(e.format !== undefined ? { format: e.format } : {}),
        ...(e.parent !== undefined ? { parent: e.parent } : {}),
        ...(e.invalidation !== undefined ? { invalidation: e.invalidation } : {}),
      });
    }
    this.kinds.set(e.domain, e.kind);
  }

  /** A blocking domain the scenario's `domainAlloc` declared (the unit's domains it lists were allocated when the scenario was loaded). */
  declareBlocking(id: number): void {
    this.kinds.set(id, "blocking");
  }

  /** The kind of a domain domain-alloc made (undefined for the scenario's `build` domains). */
  kindOf(id: number): DomainKind | undefined {
    return this.kinds.get(id);
  }

  isBlocking(id: number): boolean {
    return this.kinds.get(id) === "blocking";
  }

}
