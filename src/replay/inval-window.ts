/**
 * The deferred-invalidation window (README "Deferred-invalidation window"): per device, how many
 * TLPs were translated through a mapping after the unmap that removed it had returned, and for how
 * long after that unmap the device could still use it.
 *
 * Host bookkeeping from what the replay sees, nothing re-translated: each unmap the driver carried
 * out (domain, IOVA range, trace time), and each TLP the core flagged `stale` (its device, PASID,
 * address and arrival cycle). A stale TLP is attributed to the latest unmap, at or before it, of
 * the domain its device (and PASID) is attached to whose range holds the TLP's address; its window
 * is its arrival minus that unmap's time. Per device: `staleTlps` counts the attributed TLPs,
 * `longestWindowCycles` is the largest window (over unmapped ranges, the last stale use of the
 * range minus the unmap's time). A stale TLP no unmap explains (its device is not attached, its
 * address was changed by a raw memory write, a nested domain's parent was unmapped) is counted in
 * `unattributed` and in no device.
 */
import { formatBdf } from "../trace/events.ts";

/** One device's window (`device` the BDF as results print it). */
export interface WindowDevice {
  device: string;
  staleTlps: number;
  longestWindowCycles: number;
}

export interface InvalidationWindowSummary {
  /** Unmap events carried out. */
  unmaps: number;
  /** Stale TLPs attributed to an unmap (the sum over devices). */
  staleTlps: number;
  /** Stale TLPs no unmap explains. */
  unattributed: number;
  /** Devices with at least one attributed stale TLP, by requester ID (segment first). */
  devices: WindowDevice[];
}

interface Unmapped {
  start: bigint;
  /** Last byte. */
  end: bigint;
  time: bigint;
}

export class InvalidationWindow {
  /** Per domain, its unmaps in trace order. */
  private readonly ranges = new Map<number, Unmapped[]>();
  private readonly devices = new Map<number, { staleTlps: number; longest: bigint }>();
  unmaps = 0;
  unattributed = 0;

  /** True once an unmap was seen: only then can a TLP use a translation after its unmap. */
  get active(): boolean {
    return this.unmaps > 0;
  }

  /** The driver unmapped `size` bytes at `iova` of `domain` at trace time `time` (cycles). */
  unmapped(domain: number, iova: bigint, size: bigint, time: bigint): void {
    let list = this.ranges.get(domain);
    if (list === undefined) this.ranges.set(domain, (list = []));
    list.push({ start: iova, end: iova + size - 1n, time });
    this.unmaps++;
  }

  /**
   * A TLP of device `sid` the core flagged stale, at address `addr`, arriving at `time`, its
   * device attached to `domain` (undefined: to none). Returns its window in cycles, or undefined
   * when no unmap explains it.
   */
  staleUse(sid: number, domain: number | undefined, addr: bigint, time: bigint): bigint | undefined {
    const list = domain === undefined ? undefined : this.ranges.get(domain);
    if (list !== undefined) {
      for (let i = list.length - 1; i >= 0; i--) {
        const u = list[i]!;
        if (u.time > time || addr < u.start || addr > u.end) continue;
        const window = time - u.time;
        const d = this.devices.get(sid);
        if (d === undefined) this.devices.set(sid, { staleTlps: 1, longest: window });
        else {
          d.staleTlps++;
          if (window > d.longest) d.longest = window;
        }
        return window;
      }
    }
    this.unattributed++;
    return undefined;
  }

  summary(): InvalidationWindowSummary {
    const devices = [...this.devices]
      .sort(([a], [b]) => a - b)
      .map(([sid, d]) => ({ device: formatBdf(sid), staleTlps: d.staleTlps, longestWindowCycles: Number(d.longest) }));
    return { unmaps: this.unmaps, staleTlps: devices.reduce((n, d) => n + d.staleTlps, 0), unattributed: this.unattributed, devices };
  }
}
