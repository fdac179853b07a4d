/**
 * The driver side in the HTML report (issue 11; README "HTML report"): driver events and refusals,
 * VMs, cache coherency (wbinvd per VM), the deferred-invalidation window and peer-to-peer routing.
 * Each section is drawn from the run summary exactly as `--report` writes it (no figure recomputed
 * here) and only when the run has something for it, so a plain trace replay's report is unchanged.
 * Plain sortable tables, every run-derived text escaped by html-parts.
 */
import type { ArchReport, RunSummaryBase } from "./arch/types.ts";
import type { WbinvdVm } from "../iommu/wbinvd.ts";
import { REFUSALS_KEPT } from "../replay/driver-events.ts";
import { escapeHtml, fmt, table, figures, type CellLike, type Column } from "./html-parts.ts";

/** A section of the page: its id and title (for the navigation) and its HTML. */
export interface HtmlSection {
  id: string;
  title: string;
  html: string;
}

const yes = (b: boolean) => (b ? "yes" : "no");
const note = (text: string) => `<p class="note">${escapeHtml(text)}</p>`;

function driverEventsSection(s: RunSummaryBase): HtmlSection | undefined {
  const d = s.driverEvents;
  if (!d) return undefined;
  const done = d.kinds.reduce((n, k) => n + k.done, 0);
  const kinds = table(
    "driver-events-table",
    [{ label: "event" }, { label: "carried out", num: true }, { label: "refused", num: true }],
    d.kinds.map((k) => ({ attrs: { "data-event": k.event }, cells: [k.event, k.done, k.refused] })),
  );
  const left = d.refused - d.refusals.length;
  const refusals = d.refusals.length
    ? table(
        "refusals-table",
        [{ label: "line", num: true }, { label: "seq", num: true, title: "TLPs before it (its --results line comes after that of TLP seq - 1)" }, { label: "event" }, { label: "reason" }],
        d.refusals.map((r) => ({ attrs: { "data-line": String(r.line) }, cells: [r.line, r.seq, r.event, r.reason] })),
      )
    : "";
  const notes = [
    "Driver events of the trace by kind: carried out, and refused (with --refusals results a refused event is a result line of status refused; otherwise it stops the run).",
    d.refused === 0
      ? "No driver event was refused."
      : left > 0
        ? `The table lists the first ${fmt(d.refusals.length)} refused events (at most ${fmt(REFUSALS_KEPT)}) in trace order; ${fmt(left)} more were refused and are left out.`
        : "Every refused event is listed, in trace order; line and seq are those of the trace and of --results.",
  ];
  return {
    id: "driver-events",
    title: "Driver events",
    html: `${figures([
      ["driver events carried out", fmt(done)],
      ["refused driver events", fmt(d.refused)],
    ])}${note(notes.join(" "))}${kinds}${refusals ? `<h3>Refused driver events</h3>${refusals}` : ""}`,
  };
}

function vmsSection(s: RunSummaryBase, w: ArchReport["words"]): HtmlSection | undefined {
  const vms = s.vms;
  if (!vms) return undefined;
  const p = `${w.pasid}s`;
  const cols: Column[] = [
    { label: "VM" },
    { label: "devices", title: "assigned whole (bind vfio vm=, the scenario's vms[].devices), at the end of the run" },
    { label: "mediated devices", title: "per parent device, at the end of the run" },
    { label: `${p} allocated`, num: true, title: "pasid-alloc carried out" },
    { label: `${p} freed`, num: true },
    { label: `${p} held`, num: true, title: "live at the end of the run" },
    { label: "quota", num: true },
    { label: "refused over quota", num: true },
    { label: "refused space exhausted", num: true },
    { label: "frees refused", num: true },
  ];
  const rows = vms.map((v) => ({
    attrs: { "data-vm": v.vm },
    cells: [
      v.vm,
      v.devices.join(", ") || "-",
      v.mdevs.map((m) => `${m.parent} x${m.count}`).join(", ") || "-",
      v.allocations,
      v.frees,
      v.allocated,
      v.quota,
      v.refusedQuota,
      v.refusedExhausted,
      v.refusedFree,
    ] as CellLike[],
  }));
  return { id: "vms", title: "VMs", html: `${note(`Per VM (the scenario's vms): the devices it owns, its mediated devices, and its ${p} as the summary counts them.`)}${table("vms-table", cols, rows)}` };
}

/** The wbinvd decision per VM (src/iommu/wbinvd.ts): each condition, whether it held, and the TLPs and leaf entries that made it hold. */
function coherencySection(vms: readonly WbinvdVm[] | undefined): HtmlSection | undefined {
  if (!vms) return undefined;
  const cols: Column[] = [
    { label: "VM" },
    { label: "devices" },
    { label: "No-Snoop issued", title: "a device of the VM issued No-Snoop TLPs" },
    { label: "No-Snoop TLPs", num: true },
    { label: "let through", title: "the IOMMU let at least one through unsnooped" },
    { label: "TLPs let through", num: true },
    { label: "platform honours No-Snoop", title: "config.platform.honoursNoSnoop" },
    { label: "wbinvd" },
  ];
  const rows = vms.map((v) => ({
    attrs: { "data-vm": v.vm, class: v.wbinvd ? "through" : "forced" },
    cells: [v.vm, v.devices.join(", "), yes(v.noSnoopIssued.held), v.noSnoopIssued.tlps, yes(v.letThrough.held), v.letThrough.tlps, yes(v.platformHonoursNoSnoop), v.wbinvd ? "needed" : "not needed"] as CellLike[],
  }));
  const dash = "-";
  const tlps = vms.flatMap((v) => [
    ...v.noSnoopIssued.first.map((seq) => ({ attrs: { "data-vm": v.vm }, cells: [v.vm, "No-Snoop issued", seq, dash, dash, dash, dash, dash] as CellLike[] })),
    ...v.letThrough.first.map((t) => ({
      attrs: { "data-vm": v.vm },
      cells: [v.vm, "let through", t.seq, t.bdf, { text: t.addr, cls: "mono" }, t.leafPa ? { text: t.leafPa, cls: "mono" } : dash, t.leafPte ? { text: t.leafPte, cls: "mono" } : dash, t.snoopBy] as CellLike[],
    })),
  ]);
  const tlpTable = tlps.length
    ? `<h3>TLPs that made a condition hold</h3>${note("The first 4 TLPs of each condition per VM (seq as in --results), and for those let through the leaf entry (address and value) that translated them.")}${table("wbinvd-tlps-table", [{ label: "VM" }, { label: "condition" }, { label: "seq", num: true }, { label: "device" }, { label: "address" }, { label: "leaf entry" }, { label: "entry value" }, { label: "snoop decided by" }], tlps)}`
    : "";
  const text =
    "wbinvd: the guest must be allowed its cache-invalidation instructions exactly when a device of the VM issued No-Snoop TLPs, the IOMMU let one through unsnooped and the platform honours No-Snoop.";
  return {
    id: "coherency",
    title: "Cache coherency",
    html: `<h3>wbinvd per VM</h3>${note(text)}${vms.length ? table("wbinvd-table", cols, rows) : note("No VM's device issued a TLP.")}${tlpTable}`,
  };
}

function windowSection(s: RunSummaryBase, report: ArchReport): HtmlSection | undefined {
  const w = s.invalidationWindow;
  const d = report.driverOf(s);
  // A strict run whose unmaps left nothing stale has nothing to show (a plain trace replay).
  if (d.mode !== "lazy" && !d.flushes && !(w && (w.staleTlps || w.unattributed))) return undefined;
  const longest = w ? w.devices.reduce((m, x) => Math.max(m, x.longestWindowCycles), 0) : 0;
  const head = figures([
    ["invalidation mode", d.mode],
    ["unmaps", fmt(w?.unmaps ?? 0), d.deferredUnmaps ? `${fmt(d.deferredUnmaps)} deferred` : undefined],
    ["TLPs after their unmap", fmt(w?.staleTlps ?? 0), w?.unattributed ? `${fmt(w.unattributed)} more stale, after no unmap` : undefined],
    ["longest window", `${fmt(longest)} cycles`],
    ["flushes", fmt(d.flushes)],
  ]);
  const devices = w?.devices.length
    ? table(
        "inval-window-table",
        [{ label: "device" }, { label: "TLPs after their unmap", num: true }, { label: "longest window (cycles)", num: true }],
        w.devices.map((x) => ({ attrs: { "data-bdf": x.device }, cells: [x.device, x.staleTlps, x.longestWindowCycles] })),
      )
    : note("No TLP used a translation after its unmap had returned.");
  const reasons = table(
    "flushes-table",
    [{ label: "flush reason" }, { label: "flushes", num: true }],
    Object.entries(d.flushReasons).map(([k, v]) => ({ attrs: { "data-reason": k }, cells: [k, v] })),
  );
  const text =
    "Per device, the TLPs translated through a mapping after the unmap that removed it had returned (stale IOTLB or device-TLB entries of a lazy domain), and the longest such window in cycles: the last stale use minus the unmap's time. The flushes of the lazy queue by what caused them.";
  return { id: "inval-window", title: "Deferred-invalidation window", html: `${head}${note(text)}${devices}<h3>Flushes by reason</h3>${reasons}` };
}

function p2pSection(s: RunSummaryBase): HtmlSection | undefined {
  const p = s.peerToPeer;
  if (!p) return undefined;
  const rows = p.map((x) => ({
    attrs: { "data-bdf": x.device },
    cells: [x.device, { text: `${x.base} .. ${x.last}`, sort: x.base.slice(2).padStart(16, "0"), cls: "mono" }, x.tlps] as CellLike[],
  }));
  const text = "TLPs the root complex routed to a peer through a p2p window (a RESERVED reserved region) before the IOMMU: not translated, untimed (status p2p), per requester and window.";
  return {
    id: "p2p",
    title: "Peer-to-peer",
    html: `${figures([["TLPs routed peer-to-peer", fmt(s.p2p ?? 0)]])}${note(text)}${table("p2p-table", [{ label: "requester" }, { label: "window" }, { label: "TLPs", num: true }], rows)}`,
  };
}

/** The driver side's sections the run has something for, in page order. */
export function driverSections(s: RunSummaryBase, report: ArchReport): HtmlSection[] {
  return [driverEventsSection(s), vmsSection(s, report.words), coherencySection(s.wbinvd), windowSection(s, report), p2pSection(s)].filter((x): x is HtmlSection => x !== undefined);
}
