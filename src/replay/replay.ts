/**
 * Replays TLPs through the core: records are encoded straight into the request ring, one call
 * translates a ring's worth, and results are decoded only when someone asks for them.
 */
import type { VtdPlatform } from "../platform.ts";
import type { Request, Result } from "../core/core.ts";
import { RING_RECORDS } from "../core/abi.ts";
import type { TraceTlp, TimeStamp } from "../trace/text.ts";

export type ResultSink = (seq: number, tlp: TraceTlp, result: Result) => void;

/**
 * Arrival time in cycles. Times in ns/us are converted at 1 GHz (1 cycle per ns) until the timing
 * model brings the configured IOMMU clock.
 */
export function timeToCycles(t: TimeStamp | undefined): bigint {
  if (!t) return 0n;
  const scale = t.unit === "us" ? 1000 : 1;
  return BigInt(Math.round(t.value * scale));
}

export function tlpToRequest(t: TraceTlp): Request {
  const r: Request = {
    op: t.op,
    sid: t.sid,
    addr: t.addr,
    len: t.len,
    priv: t.priv,
    exe: t.exe,
    ns: t.ns,
    ro: t.ro,
    ido: t.ido,
    translated: t.translated,
    nw: t.nw,
    time: timeToCycles(t.time),
  };
  if (t.pasid !== undefined) r.pasid = t.pasid;
  return r;
}

export interface ReplayStats {
  tlps: number;
  hostSeconds: number;
}

/** Replays `tlps` in order; `sink` (optional) receives every result in trace order. */
export function replay(platform: VtdPlatform, tlps: readonly TraceTlp[], sink?: ResultSink): ReplayStats {
  const core = platform.core;
  const start = process.hrtime.bigint();
  for (let at = 0; at < tlps.length; at += RING_RECORDS) {
    const n = Math.min(RING_RECORDS, tlps.length - at);
    core.requestWords(); // refresh views
    for (let i = 0; i < n; i++) core.encode(i, tlpToRequest(tlps[at + i]!));
    core.run(n);
    if (sink) for (let i = 0; i < n; i++) sink(at + i, tlps[at + i]!, core.decode(i));
  }
  return { tlps: tlps.length, hostSeconds: Number(process.hrtime.bigint() - start) / 1e9 };
}
