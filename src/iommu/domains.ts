/**
 * Domains the driver side allocates (issue 11; README "Driver side"), as iommufd's IOMMU_HWPT_ALLOC
 * and the core's IOMMU_DOMAIN_BLOCKED: paging domains of the unit's formats, nested domains over a
 * paging parent and identity domains are the architecture's (ArchDriver.allocDomain writes them
 * through its builder); a blocking domain is the driver side's own: attaching it puts the device in
 * the unit's blocking form (ArchDriver.block), and it has no page tables to map.
 */
import type { DomainAllocEvent, DomainKind } from "../trace/events.ts";
import type { ArchDriver } from "../driver/driver.ts";
import { RefusedError } from "./ownership.ts";

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
      this.arch.allocDomain({ id: e.domain, kind: e.kind, ...(e.format !== undefined ? { format: e.format } : {}), ...(e.parent !== undefined ? { parent: e.parent } : {}) });
    }
    this.kinds.set(e.domain, e.kind);
  }

  isBlocking(id: number): boolean {
    return this.kinds.get(id) === "blocking";
  }

}
