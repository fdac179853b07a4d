/**
 * Peer-to-peer routing per requester and window (README "Reserved regions in scenarios"; the
 * summary's `peerToPeer`, the HTML report's "Peer-to-peer" section): how many TLPs the root complex
 * routed to a peer through each of the scenario's p2p windows (reserved regions of type RESERVED,
 * regions.ts p2pWindowsOf: the list the core is given). The core decides the route (status `p2p`,
 * assembly/engine/p2p.ts); this only attributes each such result to the window of its requester
 * that holds its address (a requester's windows are merged regions: disjoint), nothing re-routed.
 * Host-side bookkeeping per TLP: a comparison per window of the requester, no allocation.
 */
import type { Result } from "../core/core.ts";
import { formatBdf, type TraceTlp } from "../trace/events.ts";

export interface P2pWindowCount {
  /** The requester (BDF). */
  device: string;
  /** The window, inclusive (hex). */
  base: string;
  last: string;
  /** TLPs routed through it. */
  tlps: number;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

export class P2pAudit {
  private readonly windows: { sid: number; base: bigint; last: bigint; tlps: number }[];

  /** `windows`: the core's windows (p2pWindowsOf); fixed doorbells (`doorbell`) are not peers and are left out. */
  constructor(windows: readonly { sid: number; base: bigint; last: bigint; doorbell?: boolean }[]) {
    this.windows = windows.filter((w) => !w.doorbell).map((w) => ({ sid: w.sid, base: w.base, last: w.last, tlps: 0 }));
  }

  /** Whether there is a p2p window at all (no window: nothing to report). */
  get any(): boolean {
    return this.windows.length > 0;
  }

  add(tlp: TraceTlp, r: Result): void {
    if (r.status !== "p2p") return;
    for (const w of this.windows)
      if (w.sid === tlp.sid && tlp.addr >= w.base && tlp.addr <= w.last) {
        w.tlps++;
        return;
      }
  }

  /** Every window, by requester then base (as p2pWindowsOf lists them), with its count (0 included). */
  report(): P2pWindowCount[] {
    return this.windows.map((w) => ({ device: formatBdf(w.sid), base: hex(w.base), last: hex(w.last), tlps: w.tlps }));
  }
}
