/**
 * What a generator writes through: TLPs and driver events in trace text format v1 (formatted by
 * src/trace/text.ts), counted, with exactly `--tlps` TLPs. TLP number k (from 0) carries the time
 * k x `--gap` ns; with a gap of 0 no times are written (every TLP arrives at cycle 0, README
 * "Arrival times"). Driver events carry no time: they happen with the line before them.
 */
import { formatEvent, formatTlp, DEFAULT_LEN, type TraceTlp, type MapEvent, type UnmapEvent, type PageSizeName } from "../trace/text.ts";

/** Thrown by TraceOut.tlp once the trace holds all its TLPs; a generator catches it to finish. */
export class TraceFull extends Error {
  constructor() {
    super("the trace holds --tlps TLPs");
  }
}

export interface TlpSpec {
  op: "MRd" | "MWr";
  sid: number;
  addr: bigint;
  len: number;
  pasid?: number;
  ns?: boolean;
}

export interface TraceCounts {
  tlps: number;
  maps: number;
  unmaps: number;
}

export class TraceOut implements TraceCounts {
  tlps = 0;
  maps = 0;
  unmaps = 0;

  constructor(
    private readonly write: (line: string) => void,
    /** TLPs the trace must hold. */
    readonly limit: number,
    /** Picoseconds between TLPs; 0: no times. */
    private readonly gapPs: number,
  ) {}

  /** True once the trace holds `limit` TLPs. */
  get full(): boolean {
    return this.tlps >= this.limit;
  }

  comment(text: string): void {
    for (const l of text.split("\n")) this.write(`# ${l}\n`);
  }

  /** Writes one TLP; throws TraceFull when the trace already holds `limit` of them. */
  tlp(t: TlpSpec): void {
    if (this.tlps >= this.limit) throw new TraceFull();
    const tlp: TraceTlp = {
      line: 0,
      op: t.op,
      sid: t.sid,
      priv: false,
      exe: false,
      addr: t.addr,
      len: t.len ?? DEFAULT_LEN,
      ns: t.ns ?? false,
      ro: false,
      ido: false,
      translated: false,
      nw: false,
    };
    if (t.pasid !== undefined) tlp.pasid = t.pasid;
    if (this.gapPs > 0) tlp.time = { value: (this.tlps * this.gapPs) / 1000, unit: "ns" };
    this.write(formatTlp(tlp) + "\n");
    this.tlps++;
  }

  map(domain: number, iova: bigint, pa: bigint, size: bigint, o: { perm?: string; page?: PageSizeName } = {}): void {
    const e: MapEvent = { line: 0, column: 0, op: "map", domain, iova, pa, size, perm: o.perm ?? "rw", page: o.page ?? "4K", snp: false, user: true, global: false };
    this.write(formatEvent(e) + "\n");
    this.maps++;
  }

  unmap(domain: number, iova: bigint, size: bigint): void {
    const e: UnmapEvent = { line: 0, column: 0, op: "unmap", domain, iova, size };
    this.write(formatEvent(e) + "\n");
    this.unmaps++;
  }
}
