/** Per-TLP results as JSON Lines (shared/DESIGN.md §3), in trace order. */
import type { Result } from "../core/core.ts";
import { formatBdf, type TraceTlp } from "../trace/text.ts";
import type { DriverResult, Refusal } from "../replay/replay.ts";
import type { ResultTags } from "../arch/types.ts";

const hex = (v: bigint) => "0x" + v.toString(16);

/** With timing on: the clock, to give each result its latency in ns too. */
export interface ResultTiming {
  clockMHz: number;
}

/**
 * One TLP's result line. With `timing` (a timed run): `issue` (arrival cycle at the IOMMU),
 * `complete` (cycle the translation completed), `latency` (complete - issue, cycles) and
 * `latencyNs` (latency at the clock, rounded to the picosecond); not for an `unrouted` TLP.
 */
export function resultRecord(seq: number, t: TraceTlp, r: Result, timing?: ResultTiming, tags?: ResultTags): Record<string, unknown> {
  const o: Record<string, unknown> = { seq, line: t.line, op: t.op, bdf: formatBdf(t.sid) };
  if (t.pasid !== undefined) o.pasid = t.pasid;
  o.addr = hex(t.addr);
  if (t.ns) o.ns = true;
  o.status = r.status;
  if (r.status === "ok") {
    o.pa = hex(r.pa);
    if (r.leafPa) {
      o.pageSize = 2 ** r.pageLg2;
      o.pte = hex(r.leafPa);
      if (r.s2LeafPa && r.s2LeafPa !== r.leafPa) o.s2Pte = hex(r.s2LeafPa);
    }
    o.snoop = r.snoop;
    o.snoopBy = r.snoopBy;
    if (r.atc) o.atc = true;
    if (r.stale) o.stale = true;
    if (t.op === "ATS") {
      // The translation completion (PCIe ATS): R, W, Exe, U as letters, Priv, Global and N.
      o.perm = (r.perms.r ? "r" : "") + (r.perms.w ? "w" : "") + (r.perms.x ? "x" : "") + (r.perms.u ? "u" : "");
      o.priv = r.priv;
      o.global = r.global;
      o.n = r.nsAllowed;
    }
  } else if (r.status === "fault") {
    const f = r.fault!;
    o.fault = { code: f.code, name: f.name, recorded: f.recorded, ...(f.stage !== undefined ? { stage: f.stage } : {}), ...(f.class !== undefined ? { class: f.class } : {}) };
  }
  if (tags) Object.assign(o, tags(r, t.pasid !== undefined));
  else {
    // without a module: VT-d's tags (the default before architecture modules)
    if (r.addressSpace !== undefined && t.pasid === undefined && r.status !== "interrupt") o.ridPasid = r.addressSpace;
    if (r.status === "ok" || r.status === "fault") o.did = r.domain;
  }
  o.reads = r.reads;
  // an unrouted TLP (SMMUv3 with a RID-to-StreamID map) never reached the IOMMU: nothing to time
  // nor a TLP the root complex routed before it (a p2p window, a fixed doorbell)
  if (timing && r.status !== "unrouted" && !r.routed) {
    o.issue = Number(r.issue);
    o.complete = Number(r.issue + BigInt(r.latency));
    o.latency = r.latency;
    o.latencyNs = Math.round((r.latency * 1e6) / timing.clockMHz) / 1000;
  }
  return o;
}

/**
 * A refused driver event's line (refusals as results): `seq` is the number of TLPs before it, so it
 * comes after the result of TLP seq - 1 and before that of TLP seq; `line` is its trace line (its
 * record in the binary format).
 */
export function refusalLine(r: Refusal): string {
  return JSON.stringify({ seq: r.seq, event: r.event, line: r.line, status: "refused", reason: r.reason }) + "\n";
}

/** A carried-out driver event that gives a result back (pasid-alloc: `{ vm, pasid }`): an `ok` result line. */
export function driverResultLine(n: DriverResult): string {
  return JSON.stringify({ seq: n.seq, event: n.event, line: n.line, status: "ok", ...n.note }) + "\n";
}

export function resultLine(seq: number, t: TraceTlp, r: Result, timing?: ResultTiming, tags?: ResultTags): string {
  return JSON.stringify(resultRecord(seq, t, r, timing, tags)) + "\n";
}
