/**
 * The driver events of a replay, for the reports (README "Run summary", `driverEvents`; the HTML
 * report's "Driver events" section): how many of each kind were carried out and how many refused,
 * and the first REFUSALS_KEPT refusals whole (trace line, event, reason), so that memory stays
 * bounded however many a trace refuses. Bookkeeping per driver event only, never per TLP.
 */
import type { DriverEvent } from "../trace/events.ts";

/** Refusals the report lists (the rest are counted). */
export const REFUSALS_KEPT = 100;

/**
 * Driver events of the driver side above the units' drivers (src/iommu, README "Driver side"): a
 * run with one of these has a driver side to report even when its scenario has no `topology`.
 */
export const DRIVER_SIDE_EVENTS: ReadonlySet<DriverEvent["op"]> = new Set(["bind", "unbind", "domain-alloc", "replace", "enforce-coherency", "pasid-alloc", "pasid-free", "quota", "mdev", "mdev-remove"]);

export interface DriverEventKind {
  event: DriverEvent["op"];
  /** Carried out. */
  done: number;
  /** Refused as results (refusals "results"). */
  refused: number;
}

export interface RefusedEvent {
  /** TLPs before it (as its --results line). */
  seq: number;
  /** Its trace line (record in the binary format). */
  line: number;
  event: DriverEvent["op"];
  reason: string;
}

export interface DriverEventsSummary {
  /** Per kind that occurred, by kind name. */
  kinds: DriverEventKind[];
  /** Refused events (all, counted). */
  refused: number;
  /** The first REFUSALS_KEPT refused events, in trace order. */
  refusals: RefusedEvent[];
  /** Whether a driver-side event (DRIVER_SIDE_EVENTS) occurred, carried out or refused. */
  driverSide: boolean;
}

export class DriverEventLog {
  private readonly kinds = new Map<DriverEvent["op"], DriverEventKind>();
  private readonly kept: RefusedEvent[] = [];
  private refusedCount = 0;

  private kind(op: DriverEvent["op"]): DriverEventKind {
    let k = this.kinds.get(op);
    if (k === undefined) this.kinds.set(op, (k = { event: op, done: 0, refused: 0 }));
    return k;
  }

  done(op: DriverEvent["op"]): void {
    this.kind(op).done++;
  }

  refused(r: RefusedEvent): void {
    this.kind(r.event).refused++;
    this.refusedCount++;
    if (this.kept.length < REFUSALS_KEPT) this.kept.push({ seq: r.seq, line: r.line, event: r.event, reason: r.reason });
  }

  summary(): DriverEventsSummary {
    const kinds = [...this.kinds.values()].sort((a, b) => (a.event < b.event ? -1 : a.event > b.event ? 1 : 0)).map((k) => ({ ...k }));
    return { kinds, refused: this.refusedCount, refusals: [...this.kept], driverSide: kinds.some((k) => DRIVER_SIDE_EVENTS.has(k.event)) };
  }
}
