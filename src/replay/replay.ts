/**
 * Replays a trace through the core, events in order: TLPs are encoded straight into the request
 * ring and translated with one core call per batch (up to the next driver event, the ring's 4096
 * records, or the moment the lazy flush queue's timer fires); driver events run between batches
 * through the driver (src/guest/vtd-driver.ts). Results are decoded only when someone asks.
 */
import type { VtdPlatform } from "../platform.ts";
import type { Request, Result } from "../core/core.ts";
import { RING_RECORDS } from "../core/abi.ts";
import { isTlp, type DriverEvent, type TraceEvent, type TraceTlp, type TimeStamp } from "../trace/text.ts";
import { VtdDriver, DriverError, type DriverStats } from "../guest/vtd-driver.ts";
import { InputError } from "../errors.ts";

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

/** The request record of a TLP; `time` (cycles) when already converted from `t.time`. */
export function tlpToRequest(t: TraceTlp, time: bigint = timeToCycles(t.time)): Request {
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
    time,
  };
  if (t.pasid !== undefined) r.pasid = t.pasid;
  return r;
}

export interface ReplayStats {
  /** TLPs in the trace (the core's `requests` also counts the ATS requests devices send on device-TLB misses). */
  tlps: number;
  driverEvents: number;
  hostSeconds: number;
  driver: DriverStats;
}

export interface ReplayOptions {
  /** The driver side that carries out driver events (default: a strict-mode driver for `platform`). */
  driver?: VtdDriver;
  /** The trace's file name, for errors of driver events. */
  file?: string;
}

/**
 * Replays `events` in order; `sink` (optional) receives every TLP's result in trace order, `seq`
 * counting TLPs only. At the end the driver flushes whatever it still defers.
 */
export function replay(platform: VtdPlatform, events: readonly TraceEvent[], sink?: ResultSink, opts: ReplayOptions = {}): ReplayStats {
  const core = platform.core;
  const driver = opts.driver ?? new VtdDriver(platform);
  const start = process.hrtime.bigint();
  let seq = 0;
  let driverEvents = 0;
  /** Trace time in cycles: the latest time seen; lines without a time keep it. */
  let now = 0n;
  const timeOf = (e: TraceEvent) => {
    if (e.time === undefined) return now;
    const t = timeToCycles(e.time);
    return t > now ? t : now;
  };
  for (let i = 0; i < events.length; ) {
    const e = events[i]!;
    if (!isTlp(e)) {
      now = timeOf(e);
      try {
        driver.apply(e, now);
      } catch (err) {
        throw eventError(err, e, opts.file);
      }
      driverEvents++;
      i++;
      continue;
    }
    now = timeOf(e);
    driver.advanceTo(now); // the lazy queue's timer may fire before this TLP
    const deadline = driver.deadline;
    const at = i;
    let n = 0;
    core.requestWords(); // refresh views
    while (i < events.length && n < RING_RECORDS) {
      const t = events[i]!;
      if (!isTlp(t)) break;
      const own = t.time === undefined ? 0n : timeToCycles(t.time);
      const tt = own > now ? own : now;
      if (n > 0 && deadline !== undefined && tt >= deadline) break;
      now = tt;
      core.encode(n++, tlpToRequest(t, own));
      i++;
    }
    core.run(n);
    if (sink) for (let k = 0; k < n; k++) sink(seq + k, events[at + k] as TraceTlp, core.decode(k));
    seq += n;
  }
  driver.finish();
  return { tlps: seq, driverEvents, hostSeconds: Number(process.hrtime.bigint() - start) / 1e9, driver: driver.stats };
}

/** A driver event that could not be carried out, as an input error at its line and column. */
function eventError(err: unknown, e: DriverEvent, file: string | undefined): unknown {
  if (!(err instanceof DriverError || err instanceof RangeError)) return err;
  return new InputError(`${e.op}: ${err.message}`, file ?? "trace", e.line, e.column);
}
