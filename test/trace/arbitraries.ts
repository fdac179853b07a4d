/**
 * fast-check arbitraries for trace events: TLPs with every field, every driver-event form (map,
 * unmap, flush, attach and detach with every flag, each inv kind and granularity, raw qwords), and whole traces whose times never go
 * backwards (cycles, ns and us mixed), as the text and binary formats require.
 */
import fc from "fast-check";
import { SMMU_EVENTS, type DriverEvent, type FaultExpectation, type TimeStamp, type TraceEvent, type TraceTlp } from "../../src/trace/events.ts";
import type { Invalidation } from "../../src/arch/vtd/trace-commands.ts";

/** fc.record builds null-prototype objects; uvu's deep equality compares constructors. */
export function plain<T>(x: T): T {
  return JSON.parse(JSON.stringify(x, (_, v) => (typeof v === "bigint" ? `${v}n` : v)), (_, v) => (typeof v === "string" && /^\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v)) as T;
}

export const u64 = fc.oneof(fc.constantFrom(0n, 1n, 0xffffffffn, 0x100000000n, (1n << 64n) - 1n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
const did = fc.integer({ min: 0, max: 0xffff });
const sid16 = fc.integer({ min: 0, max: 0xffff });
const pasid = fc.integer({ min: 0, max: 0xfffff });

/** An expected fault: a VT-d fault reason (0 to 0xff) or a named SMMUv3 event type. */
export const arbExpect: fc.Arbitrary<FaultExpectation> = fc.oneof(
  fc.integer({ min: 0, max: 0xff }).map((code): FaultExpectation => ({ arch: "vtd", code })),
  fc.constantFrom(...Object.values(SMMU_EVENTS)).map((code): FaultExpectation => ({ arch: "smmuv3", code })),
);

export const arbTlp: fc.Arbitrary<TraceTlp> = fc
  .record({
    op: fc.constantFrom("MRd" as const, "MWr" as const, "ATS" as const),
    sid: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff })),
    pasid: fc.option(pasid, { nil: undefined }),
    priv: fc.boolean(),
    exe: fc.boolean(),
    addr: u64,
    len: fc.oneof(fc.constant(4), fc.constantFrom(1, 4096), fc.integer({ min: 1, max: 4096 })),
    ns: fc.boolean(),
    ro: fc.boolean(),
    ido: fc.boolean(),
    translated: fc.boolean(),
    nw: fc.boolean(),
    expect: fc.option(arbExpect, { nil: undefined, freq: 4 }),
  })
  .map(({ pasid: p, expect, ...r }): TraceTlp => {
    const ats = r.op === "ATS";
    // A memory request must not cross a 4 KiB boundary (PCIe Base 2.2.7): one that would is moved
    // down so that it ends at the page's end.
    const over = ats ? 0n : (r.addr & 0xfffn) + BigInt(r.len) - 0x1000n;
    return {
      line: 0,
      op: r.op,
      sid: r.sid,
      ...(p !== undefined ? { pasid: p } : {}),
      priv: p !== undefined && r.priv,
      exe: p !== undefined && r.exe,
      addr: over > 0n ? r.addr - over : r.addr,
      len: ats ? 4 : r.len,
      ns: !ats && r.ns,
      ro: !ats && r.ro,
      ido: !ats && r.ido,
      translated: !ats && r.translated,
      nw: ats && r.nw,
      ...(expect !== undefined ? { expect: { ...expect } } : {}),
    };
  });

const aligned = (lg2: number) => u64.map((v) => (v >> BigInt(12 + lg2)) << BigInt(12 + lg2));
const addrAm = fc.integer({ min: 0, max: 63 }).chain((am) => fc.record({ addr: aligned(am), am: fc.constant(am), ih: fc.boolean() }));
const addrPages = fc.integer({ min: 0, max: 52 }).chain((pagesLg2) => fc.record({ addr: aligned(pagesLg2), pagesLg2: fc.constant(pagesLg2) }));

export const arbInv: fc.Arbitrary<Invalidation> = fc.oneof(
  fc.oneof(fc.array(u64, { minLength: 2, maxLength: 2 }), fc.array(u64, { minLength: 4, maxLength: 4 })).map((qwords): Invalidation => ({ kind: "qi", qwords })),
  fc.boolean().chain((reg) =>
    fc.oneof(
      fc.constant<Invalidation>({ kind: "cc", reg, gran: "global" }),
      did.map((d): Invalidation => ({ kind: "cc", reg, gran: "domain", did: d })),
      fc.record({ sid: sid16, fm: fc.integer({ min: 0, max: 3 }) }).map((x): Invalidation => ({ kind: "cc", reg, gran: "device", sid: x.sid, fm: x.fm })),
      fc.constant<Invalidation>({ kind: "iotlb", reg, gran: "global" }),
      did.map((d): Invalidation => ({ kind: "iotlb", reg, gran: "dsi", did: d })),
      fc.record({ did, a: addrAm }).map(({ did: d, a }): Invalidation => ({ kind: "iotlb", reg, gran: "psi", did: d, addr: a.addr, am: a.am, ih: a.ih })),
    ),
  ),
  fc.record({ sid: sid16, p: addrPages }).map(({ sid: s, p }): Invalidation => ({ kind: "devtlb", sid: s, addr: p.addr, pagesLg2: p.pagesLg2 })),
  fc.record({ did, pasid, psi: fc.option(addrAm, { nil: undefined }) }).map(({ did: d, pasid: p, psi }): Invalidation =>
    psi === undefined ? { kind: "piotlb", did: d, pasid: p } : { kind: "piotlb", did: d, pasid: p, psi: { addr: psi.addr, am: psi.am, ih: psi.ih } },
  ),
  fc.constant<Invalidation>({ kind: "pc", gran: "global" }),
  did.map((d): Invalidation => ({ kind: "pc", gran: "dsi", did: d })),
  fc.record({ did, pasid }).map((x): Invalidation => ({ kind: "pc", gran: "pasid", did: x.did, pasid: x.pasid })),
  fc.record({ sid: sid16, pasid, p: addrPages, all: fc.boolean() }).map((x): Invalidation => ({ kind: "pdevtlb", sid: x.sid, pasid: x.pasid, addr: x.p.addr, pagesLg2: x.p.pagesLg2, all: x.all })),
  fc.constant<Invalidation>({ kind: "iec" }),
  fc.option(fc.record({ addr: u64.map((v) => v & ~3n), data: fc.integer({ min: 0, max: 0xffffffff }) }), { nil: undefined }).map((status): Invalidation =>
    status === undefined ? { kind: "wait" } : { kind: "wait", status: { addr: status.addr, data: status.data } },
  ),
);

const pageLg2 = { "4K": 0, "2M": 9, "1G": 18 } as const;

export const arbDriverEvent: fc.Arbitrary<DriverEvent> = fc
  .oneof(
    fc
      .record({
        domain: did,
        page: fc.constantFrom("4K" as const, "2M" as const, "1G" as const),
        perm: fc.constantFrom("r", "w", "x", "rw", "rx", "wx", "rwx"),
        snp: fc.boolean(),
        user: fc.boolean(),
        global: fc.boolean(),
        iovaPages: fc.bigInt({ min: 0n, max: (1n << 30n) - 1n }),
        paPages: fc.bigInt({ min: 0n, max: (1n << 30n) - 1n }),
        pages: fc.bigInt({ min: 1n, max: 1n << 20n }),
      })
      .map((m): DriverEvent => {
        const shift = BigInt(12 + pageLg2[m.page]);
        return { line: 0, column: 0, op: "map", domain: m.domain, iova: m.iovaPages << shift, pa: m.paPages << shift, size: m.pages << shift, perm: m.perm, page: m.page, snp: m.snp, user: m.user, global: m.global };
      }),
    fc.record({ domain: did, iova: fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }), pages: fc.bigInt({ min: 1n, max: 1n << 20n }) }).map(
      (u): DriverEvent => ({ line: 0, column: 0, op: "unmap", domain: u.domain, iova: u.iova << 12n, size: u.pages << 12n }),
    ),
    fc.constant<DriverEvent>({ line: 0, column: 0, op: "flush" }),
    arbInv.map((inv): DriverEvent => ({ line: 0, column: 0, op: "inv", inv })),
    fc
      .record({ sid: sid16, pasid: fc.option(pasid, { nil: undefined }), domain: did, ats: fc.boolean(), pri: fc.boolean(), pgsnp: fc.boolean(), fpd: fc.boolean(), sre: fc.boolean(), ere: fc.boolean() })
      .map(({ pasid: p, ...r }): DriverEvent => ({ line: 0, column: 0, op: "attach", ...r, ...(p !== undefined ? { pasid: p } : {}) })),
    fc
      .record({ sid: sid16, pasid: fc.option(pasid, { nil: undefined }) })
      .map(({ sid, pasid: p }): DriverEvent => ({ line: 0, column: 0, op: "detach", sid, ...(p !== undefined ? { pasid: p } : {}) })),
  )
  .map((e) => plain(e));

/** What time (if any) an event gets: none, or cycles / ns / us advancing by some amount. */
const arbStep = fc.record({
  kind: fc.constantFrom("none", "none", "cycles", "ns", "us"),
  cycles: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 2 ** 40 })),
  /** picoseconds to add to the wall clock */
  ps: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10_000_000 })),
});

/**
 * A trace of TLPs and driver events whose times never go backwards (cycle times among themselves,
 * ns/us times among themselves); `line` numbers 1, 2, 3... and `column` 0 on driver events.
 */
export function arbTrace(opts: { maxLength?: number; eventShare?: number } = {}): fc.Arbitrary<TraceEvent[]> {
  const item = fc.oneof({ weight: 4, arbitrary: arbTlp as fc.Arbitrary<TraceEvent> }, { weight: opts.eventShare ?? 1, arbitrary: arbDriverEvent as fc.Arbitrary<TraceEvent> });
  return fc.array(fc.tuple(item, arbStep), { maxLength: opts.maxLength ?? 40 }).map((items) => {
    let cycles = 0;
    let ps = 0;
    return items.map(([e, step], i) => {
      let time: TimeStamp | undefined;
      if (step.kind === "cycles") {
        cycles = Math.min(cycles + step.cycles, Number.MAX_SAFE_INTEGER);
        time = { value: cycles, unit: "cycles" };
      } else if (step.kind === "ns" || step.kind === "us") {
        ps += step.ps;
        time = { value: step.kind === "ns" ? ps / 1000 : ps / 1e6, unit: step.kind };
      }
      const { time: _t, ...rest } = e;
      const out = { ...rest, line: i + 1 } as TraceEvent;
      if (time === undefined) return out;
      return { ...out, time } as TraceEvent;
    });
  });
}
