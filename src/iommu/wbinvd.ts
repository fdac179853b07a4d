/**
 * The wbinvd report (issue 11, "Cache coherency enforcement"; README "Cache coherency"): per VM, the
 * three conditions under which a hypervisor must let the guest's cache-invalidation instructions
 * (x86 WBINVD/INVD, which KVM otherwise ignores while no non-coherent DMA is assigned:
 * kvm_arch_has_noncoherent_dma) reach the hardware, each as it held on the replayed trace:
 *   1. a device of the VM actually issued No-Snoop TLPs;
 *   2. the IOMMU let at least one of them through unsnooped (the core's result: `snoop` false on a
 *      translated TLP; VT-d SNP/PGSNP and SMMUv3 CANWBS make it true);
 *   3. the platform honours No-Snoop (config.platform.honoursNoSnoop, default true: a root complex
 *      that snoops every access regardless makes the first two harmless).
 * The guest needs wbinvd exactly when all three held. Each condition names the TLPs that made it
 * hold (their 0-based index among the trace's TLPs, the first few) and, for the second, the leaf
 * entries those TLPs went through. A VM is the owner the driver side gives a device
 * (IommuLayer.wbinvdOwner). Host-side bookkeeping only: every decision is the core's result.
 */
import type { Result } from "../core/core.ts";
import { formatBdf, type TraceTlp } from "../trace/events.ts";

/** How many TLPs each condition names. */
export const WBINVD_FIRST = 4;

export interface WbinvdThrough {
  /** The TLP's index among the trace's TLPs (the results' `seq`). */
  seq: number;
  bdf: string;
  addr: string;
  /** The leaf entry that translated it (physical address and value, hex); absent without one (pass-through). */
  leafPa?: string;
  leafPte?: string;
  /** What decided the snoop outcome (the result's snoopBy: tlp when nothing forced it). */
  snoopBy: string;
}

export interface WbinvdVm {
  vm: string;
  /** Devices of the VM that issued TLPs, in order of their first one. */
  devices: string[];
  noSnoopIssued: { held: boolean; tlps: number; first: number[] };
  letThrough: { held: boolean; tlps: number; first: WbinvdThrough[] };
  platformHonoursNoSnoop: boolean;
  /** All three held: the guest must be allowed to use wbinvd. */
  wbinvd: boolean;
}

interface VmState {
  devices: number[];
  ns: number;
  nsFirst: number[];
  through: number;
  throughFirst: WbinvdThrough[];
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

export class WbinvdAudit {
  private readonly vms = new Map<string, VmState>();

  constructor(
    /** The VM (owner) of a requester, and of its PASID when the TLP has one, at the TLP's time; undefined: the host's. */
    private readonly ownerOf: (sid: number, pasid?: number) => string | undefined,
    private readonly honoursNoSnoop: boolean,
  ) {}

  add(seq: number, tlp: TraceTlp, r: Result): void {
    const vm = this.ownerOf(tlp.sid, tlp.pasid);
    if (vm === undefined) return;
    let s = this.vms.get(vm);
    if (s === undefined) this.vms.set(vm, (s = { devices: [], ns: 0, nsFirst: [], through: 0, throughFirst: [] }));
    if (!s.devices.includes(tlp.sid)) s.devices.push(tlp.sid);
    if (!tlp.ns) return;
    s.ns++;
    if (s.nsFirst.length < WBINVD_FIRST) s.nsFirst.push(seq);
    if (r.status !== "ok" || r.snoop) return;
    s.through++;
    if (s.throughFirst.length < WBINVD_FIRST)
      s.throughFirst.push({ seq, bdf: formatBdf(tlp.sid), addr: hex(tlp.addr), ...(r.leafPa !== 0n ? { leafPa: hex(r.leafPa), leafPte: hex(r.leafPte) } : {}), snoopBy: r.snoopBy });
  }

  report(): WbinvdVm[] {
    return [...this.vms].map(([vm, s]) => ({
      vm,
      devices: s.devices.map(formatBdf),
      noSnoopIssued: { held: s.ns > 0, tlps: s.ns, first: s.nsFirst },
      letThrough: { held: s.through > 0, tlps: s.through, first: s.throughFirst },
      platformHonoursNoSnoop: this.honoursNoSnoop,
      wbinvd: s.ns > 0 && s.through > 0 && this.honoursNoSnoop,
    }));
  }
}

/** The report as summary text lines (`run`'s printed summary). */
export function formatWbinvd(vms: readonly WbinvdVm[]): string[] {
  const out = ["wbinvd (per VM: No-Snoop issued, let through unsnooped, honoured by the platform)"];
  if (vms.length === 0) out.push("  no VM's device issued a TLP");
  const yes = (b: boolean) => (b ? "yes" : "no");
  const seqs = (n: number, first: readonly number[]) => (n ? ` (TLPs ${first.join(", ")}${n > first.length ? ", ..." : ""})` : "");
  for (const v of vms) {
    out.push(`  ${v.vm}: wbinvd ${v.wbinvd ? "needed" : "not needed"} [${v.devices.join(", ")}]`);
    out.push(`    No-Snoop TLPs issued: ${yes(v.noSnoopIssued.held)}, ${v.noSnoopIssued.tlps}${seqs(v.noSnoopIssued.tlps, v.noSnoopIssued.first)}`);
    out.push(`    let through unsnooped: ${yes(v.letThrough.held)}, ${v.letThrough.tlps}${seqs(v.letThrough.tlps, v.letThrough.first.map((t) => t.seq))}`);
    for (const t of v.letThrough.first) out.push(`      TLP ${t.seq} ${t.bdf} ${t.addr}: ${t.leafPa ? `leaf ${t.leafPa} = ${t.leafPte}` : "no leaf entry"}`);
    out.push(`    platform honours No-Snoop: ${yes(v.platformHonoursNoSnoop)}`);
  }
  return out;
}
