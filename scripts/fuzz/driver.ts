/**
 * Driver-event fuzzing against a shadow model. A case is a sequence of map, unmap, flush, inv,
 * attach and detach events with random and boundary arguments (page-aligned and not, at the top
 * of the input width, wrapping past 2^64, huge, zero) carried out by the VT-d driver
 * (src/arch/vtd/driver.ts, strict or lazy invalidation) on a scalable-mode platform with caches.
 * An independent model keeps which ranges each domain maps (to which PA, with which rights) and
 * which device (and PASID) is attached where. After every event, DMA probes of the attached
 * devices at the pages the event touched, the live pages and random ones are compared with it:
 * - a mapped page translates to its PA when the rights allow the access, else faults;
 * - an unmapped page faults, except in lazy mode inside the deferred window, where the old
 *   translation may still be used and must then be flagged stale (result.stale);
 * - a device that is not attached faults; a pass-through domain gives PA = IOVA.
 * A refused event (DriverError or RangeError, which the replay turns into an InputError at the
 * event) changes neither the model nor any guest memory that existed before it; any other
 * exception is a bug.
 */
import * as fc from "fast-check";
import { createPlatform, type VtdPlatform } from "../../src/platform.ts";
import { VtdDriver, DriverError, type InvalidationMode } from "../../src/arch/vtd/driver.ts";
import { AllocationError } from "../../src/arch/vtd/builder.ts";
import type { Request, Result } from "../../src/core/core.ts";
import type { DriverEvent } from "../../src/trace/events.ts";
import type { Invalidation } from "../../src/arch/vtd/trace-commands.ts";
import { arbInv } from "../../test/trace/arbitraries.ts";
import { FuzzProblem, stringifyBig, type FuzzTarget } from "./target.ts";
import { validateVtd } from "./arch/vtd.ts";

const PAGE = 0x1000n;
const M2 = 0x20_0000n;
const WINDOW = 0x4000_0000n; // IOVAs of the probe window: 64 pages of 4 KiB, or 2 MiB pages above
const PA_BASE = 0x8000_0000n;
const DOMAINS = { 1: "ss", 2: "fs", 3: "ss5", 9: "pt" } as const;
const SIDS = [0x10, 0x18, 0x120] as const;
const PASIDS = [undefined, 1, 2] as const;

/** IOVAs at the edges of the address space and of the domains' widths. */
const EDGE_IOVAS = [0n, PAGE, (1n << 39n) - PAGE, (1n << 47n) - PAGE, 1n << 47n, (1n << 48n) - PAGE, 1n << 48n, (1n << 57n) - PAGE, (1n << 64n) - PAGE, (1n << 64n) - 1n, 0xffff_8000_0000_0000n];
const EDGE_SIZES = [0n, 1n, PAGE - 1n, PAGE + 1n, 1n << 40n, (1n << 64n) - 1n, 1n << 64n, 2n * M2];

export type Arg = { page: number } | { edge: number } | { raw: bigint };

export type Ev =
  | { op: "map"; domain: number; iova: Arg; pa: Arg; pages: Arg; perm: string; big: boolean }
  | { op: "unmap"; domain: number; iova: Arg; pages: Arg }
  | { op: "flush" }
  | { op: "inv"; inv: Invalidation }
  | { op: "attach"; sid: number; pasid: number; domain: number; ats: boolean }
  | { op: "detach"; sid: number; pasid: number }
  | { op: "wait"; cycles: number };

export interface DriverCase {
  events: Ev[];
  lazyBatch: number;
  probes: number[];
}

const arg = (maxPage: number): fc.Arbitrary<Arg> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.record({ page: fc.nat({ max: maxPage }) }) },
    { weight: 1, arbitrary: fc.record({ edge: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ raw: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }) },
  );
const domainId = fc.constantFrom(1, 1, 2, 2, 3, 9, 4);

/** Invalidations that only remove cached entries: no raw qwords, no wait writing guest memory anywhere. */
const safeInv = arbInv.filter((i) => i.kind !== "qi" && !(i.kind === "wait" && i.status !== undefined));

const ev: fc.Arbitrary<Ev> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("map" as const), domain: domainId, iova: arg(63), pa: arg(255), pages: arg(7), perm: fc.constantFrom("r", "w", "rw", "rw", "rwx", "x", ""), big: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("unmap" as const), domain: domainId, iova: arg(63), pages: arg(7) }) },
  { weight: 1, arbitrary: fc.constant({ op: "flush" as const }) },
  { weight: 1, arbitrary: safeInv.map((inv) => ({ op: "inv" as const, inv })) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("attach" as const), sid: fc.nat({ max: SIDS.length - 1 }), pasid: fc.nat({ max: PASIDS.length - 1 }), domain: domainId, ats: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("detach" as const), sid: fc.nat({ max: SIDS.length - 1 }), pasid: fc.nat({ max: PASIDS.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("wait" as const), cycles: fc.nat({ max: 3000 }) }) },
);

export const driverCase: fc.Arbitrary<DriverCase> = fc.record({
  events: fc.array(ev, { minLength: 1, maxLength: 40, size: "medium" }),
  lazyBatch: fc.integer({ min: 1, max: 6 }),
  probes: fc.array(fc.nat({ max: 63 }), { minLength: 2, maxLength: 2 }),
});

// ---- the shadow model -----------------------------------------------------------------------------

interface Range {
  start: bigint;
  end: bigint; // exclusive
  pa: bigint;
  leaf: bigint;
  r: boolean;
  w: boolean;
}

class Shadow {
  readonly maps = new Map<number, Range[]>([[1, []], [2, []], [3, []]]);
  readonly attached = new Map<string, number>();
  /** Lazy mode: pages unmapped whose invalidation is deferred, with the PA they had. */
  deferred = new Map<string, bigint>();

  lookup(domain: number, va: bigint): Range | undefined {
    return this.maps.get(domain)?.find((r) => va >= r.start && va < r.end);
  }
  overlaps(domain: number, start: bigint, end: bigint): boolean {
    return this.maps.get(domain)!.some((r) => start < r.end && r.start < end);
  }
  /** Removes the leaves that meet [start, end) (a large leaf goes whole); returns the pages removed and their PAs. */
  unmap(domain: number, start: bigint, end: bigint): Map<bigint, bigint> {
    const removed = new Map<bigint, bigint>();
    const keep: Range[] = [];
    for (const r of this.maps.get(domain)!) {
      const c0 = (start > r.start ? start : r.start) / r.leaf * r.leaf;
      const hiRaw = end < r.end ? end : r.end;
      const c1 = ((hiRaw + r.leaf - 1n) / r.leaf) * r.leaf;
      if (c0 >= c1 || c1 <= r.start || c0 >= r.end) {
        keep.push(r);
        continue;
      }
      for (let p = c0; p < c1 && p - c0 < 1n << 24n; p += PAGE) removed.set(p, r.pa + (p - r.start));
      if (r.start < c0) keep.push({ ...r, end: c0 });
      if (c1 < r.end) keep.push({ ...r, start: c1, pa: r.pa + (c1 - r.start) });
    }
    this.maps.set(domain, keep);
    return removed;
  }
}

const key = (sid: number, pasid: number | undefined) => `${sid}/${pasid ?? "-"}`;
const pageKey = (domain: number, page: bigint) => `${domain}:${page.toString(16)}`;

function value(a: Arg, unit: bigint, base: bigint, edges: readonly bigint[]): bigint {
  if ("page" in a) return base + BigInt(a.page) * unit;
  if ("edge" in a) return edges[a.edge % edges.length]!;
  return a.raw;
}

// ---- running a case -------------------------------------------------------------------------------

interface Write {
  pa: bigint;
  old: bigint | undefined;
  now: bigint;
}

/** What the probes saw (the CI subset checks that the cases reach every outcome). */
export interface DriverFuzzStats {
  events: number;
  refused: number;
  probes: number;
  translated: number;
  stale: number;
}

export function newDriverStats(): DriverFuzzStats {
  return { events: 0, refused: 0, probes: 0, translated: 0, stale: 0 };
}

export function checkDriver(c: DriverCase, mode: InvalidationMode, stats: DriverFuzzStats = newDriverStats()): number {
  const p = createPlatform("vtd", { build: "release", timing: false });
  const b = p.builder;
  b.createDomain({ id: 1, type: "ss", levels: 4 });
  b.createDomain({ id: 2, type: "fs", levels: 4 });
  b.createDomain({ id: 3, type: "ss", levels: 5 });
  b.createDomain({ id: 9, type: "pt" });
  p.enable();
  const driver = new VtdDriver(p, { invalidation: mode, lazyBatch: c.lazyBatch, lazyTimeoutCycles: 2000 });
  const shadow = new Shadow();
  // every guest-memory write an event makes, with the value it replaced
  const writes: Write[] = [];
  const core = p.core;
  const writeQwords = core.writeQwords.bind(core);
  core.writeQwords = (pa: bigint, words: ArrayLike<bigint>) => {
    for (let i = 0; i < words.length; i++) writes.push({ pa: pa + 8n * BigInt(i), old: core.read64(pa + 8n * BigInt(i)), now: BigInt.asUintN(64, words[i]!) });
    writeQwords(pa, words);
  };
  let now = 0n;
  let checked = 0;
  c.events.forEach((e, i) => {
    writes.length = 0;
    const allocated = p.alloc.used;
    // Each domain's flush queue before the event (a domain whose queue changed was flushed during it).
    const queuesBefore = new Map(Object.keys(DOMAINS).map((id) => [Number(id), driver.flushQueueOf(Number(id))]));
    const touched: bigint[] = [];
    const added = new Map<string, bigint>();
    let accepted: () => void = () => {};
    let event: DriverEvent | undefined;
    switch (e.op) {
      case "map": {
        const unit = e.big ? M2 : PAGE;
        const iova = value(e.iova, unit, WINDOW, EDGE_IOVAS);
        const pa = value(e.pa, unit, PA_BASE, EDGE_IOVAS);
        const size = "page" in e.pages ? BigInt(e.pages.page + 1) * unit : value(e.pages, unit, 0n, EDGE_SIZES);
        event = { line: i + 1, column: 1, op: "map", domain: e.domain, iova, pa, size, perm: e.perm, page: e.big ? "2M" : "4K", snp: false, user: true, global: false };
        for (let k = 0n; k < 4n; k++) touched.push(iova + k * PAGE);
        accepted = () => {
          const d = DOMAINS[e.domain as keyof typeof DOMAINS];
          if (d === undefined || d === "pt") throw new FuzzProblem(`event ${i}: map in domain ${e.domain} (${d ?? "none"}) accepted`);
          if (shadow.overlaps(e.domain, iova, iova + size)) throw new FuzzProblem(`event ${i}: map of ${hex(iova)}+${hex(size)} overlaps a live mapping, yet was accepted`);
          const fs = d === "fs";
          shadow.maps.get(e.domain)!.push({ start: iova, end: iova + size, pa, leaf: unit, r: fs || e.perm.includes("r"), w: e.perm.includes("w") });
        };
        break;
      }
      case "unmap": {
        const iova = value(e.iova, PAGE, WINDOW, EDGE_IOVAS);
        const size = "page" in e.pages ? BigInt(e.pages.page + 1) * PAGE : value(e.pages, PAGE, 0n, EDGE_SIZES);
        event = { line: i + 1, column: 1, op: "unmap", domain: e.domain, iova, size };
        for (let k = 0n; k < 4n; k++) touched.push(iova + k * PAGE);
        accepted = () => {
          const d = DOMAINS[e.domain as keyof typeof DOMAINS];
          if (d === undefined || d === "pt") throw new FuzzProblem(`event ${i}: unmap in domain ${e.domain} (${d ?? "none"}) accepted`);
          const removed = shadow.unmap(e.domain, iova, iova + size);
          if (mode === "lazy")
            for (const [page, pa] of removed) {
              shadow.deferred.set(pageKey(e.domain, page), pa);
              added.set(pageKey(e.domain, page), pa);
            }
        };
        break;
      }
      case "flush":
        event = { line: i + 1, column: 1, op: "flush" };
        break;
      case "inv":
        event = { line: i + 1, column: 1, op: "inv", inv: e.inv };
        break;
      case "attach": {
        const sid = SIDS[e.sid]!, pasid = PASIDS[e.pasid];
        event = { line: i + 1, column: 1, op: "attach", sid, domain: e.domain, ats: e.ats, pri: false, pgsnp: false, fpd: false, sre: false, ere: false, ...(pasid !== undefined ? { pasid } : {}) };
        accepted = () => {
          if (shadow.attached.has(key(sid, pasid))) throw new FuzzProblem(`event ${i}: attach of an attached ${key(sid, pasid)} accepted`);
          if (DOMAINS[e.domain as keyof typeof DOMAINS] === undefined) throw new FuzzProblem(`event ${i}: attach to domain ${e.domain}, which does not exist, accepted`);
          shadow.attached.set(key(sid, pasid), e.domain);
        };
        break;
      }
      case "detach": {
        const sid = SIDS[e.sid]!, pasid = PASIDS[e.pasid];
        event = { line: i + 1, column: 1, op: "detach", sid, ...(pasid !== undefined ? { pasid } : {}) };
        accepted = () => {
          if (!shadow.attached.delete(key(sid, pasid))) throw new FuzzProblem(`event ${i}: detach of ${key(sid, pasid)}, which is not attached, accepted`);
        };
        break;
      }
      case "wait":
        now += BigInt(e.cycles);
        break;
    }
    if (event) {
      let refused: unknown;
      try {
        driver.apply(event, now);
      } catch (err) {
        if (!(err instanceof DriverError || err instanceof RangeError || err instanceof AllocationError)) throw new FuzzProblem(`event ${i} (${stringifyBig(event)}) threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
        refused = err;
      }
      stats.events++;
      if (refused === undefined) accepted();
      else {
        stats.refused++;
        const firstNew = p.alloc.base + allocated;
        const changed = writes.find((w) => w.pa < firstNew && w.old !== w.now && !(w.old === undefined && w.now === 0n));
        if (changed) throw new FuzzProblem(`event ${i} (${stringifyBig(event)}) was refused (${(refused as Error).message}) but changed guest memory at ${hex(changed.pa)}: ${hex(changed.old ?? 0n)} -> ${hex(changed.now)}`);
      }
    } else driver.advanceTo(now);
    // the lazy queues, one per domain (src/driver/flush-queue.ts): a domain's flush ends its pages'
    // window; one its timer fired before this event's own unmap leaves that unmap's pages deferred
    for (const [id, before] of queuesBefore) {
      const after = driver.flushQueueOf(id);
      if (after !== undefined && after === before) continue; // not flushed (perhaps deferred more)
      for (const k of [...shadow.deferred.keys()]) if (k.startsWith(`${id}:`) && (after === undefined || !added.has(k))) shadow.deferred.delete(k);
    }
    probe(p, shadow, mode, i, [...touched, ...c.probes.map((n) => WINDOW + BigInt(n) * PAGE)], stats);
    checked++;
  });
  driver.finish();
  shadow.deferred.clear();
  probe(p, shadow, mode, c.events.length, c.probes.map((n) => WINDOW + BigInt(n) * PAGE), stats);
  return checked;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** DMA from every device (and PASID) of the model to `vas` and to every live page; compares. */
function probe(p: VtdPlatform, shadow: Shadow, mode: InvalidationMode, at: number, vas: bigint[], stats: DriverFuzzStats): void {
  const live: bigint[] = [];
  for (const ranges of shadow.maps.values()) for (const r of ranges) for (let va = r.start; va < r.end && live.length < 32; va += PAGE) live.push(va);
  const pages = [...new Set([...vas, ...live].map((v) => BigInt.asUintN(64, v) & ~0xfffn))].slice(0, 48);
  const reqs: Request[] = [];
  const who: { k: string; domain: number | undefined; va: bigint }[] = [];
  for (const sid of SIDS)
    for (const pasid of PASIDS) {
      const k = key(sid, pasid);
      const domain = shadow.attached.get(k);
      if (domain === undefined && pasid !== undefined) continue;
      for (const va of pages)
        for (const op of ["MRd", "MWr"] as const) {
          reqs.push({ op, sid, addr: va + 0x40n, ...(pasid !== undefined ? { pasid } : {}) });
          who.push({ k, domain, va });
        }
    }
  const results = p.translate(reqs);
  results.forEach((r, j) => {
    const q = reqs[j]!, w = who[j]!;
    const bad = validateVtd({ status: r.status, ...(r.fault ? { code: r.fault.code } : {}), reads: r.reads, detail: r });
    if (bad) throw new FuzzProblem(`after event ${at}: ${q.op} ${w.k} ${hex(q.addr)}: ${bad}`);
    const want = expected(shadow, w.domain, q, w.va);
    stats.probes++;
    // lazy mode: inside the deferred window the old translation may still be used (even after the
    // page was mapped again), flagged stale
    const old = w.domain === undefined ? undefined : shadow.deferred.get(pageKey(w.domain, w.va));
    if (mode === "lazy" && r.status === "ok" && r.stale && old !== undefined && r.pa === old + 0x40n) {
      stats.stale++;
      return;
    }
    if (want === "fault") {
      if (r.status === "fault") return;
      throw new FuzzProblem(`after event ${at}: ${q.op} ${w.k} ${hex(q.addr)} should fault, got ${describe(r)}${old !== undefined ? ` (deferred, old PA ${hex(old)})` : ""}`);
    }
    if (r.status !== "ok" || r.pa !== want) throw new FuzzProblem(`after event ${at}: ${q.op} ${w.k} ${hex(q.addr)} should translate to ${hex(want)}, got ${describe(r)}`);
    stats.translated++;
  });
}

function describe(r: Result): string {
  return r.status === "ok" ? `ok ${hex(r.pa)}${r.stale ? " (stale)" : ""}` : r.status === "fault" ? `fault 0x${r.fault!.code.toString(16)} ${r.fault!.name}` : r.status;
}

function expected(shadow: Shadow, domain: number | undefined, q: Request, va: bigint): bigint | "fault" {
  if (domain === undefined) return "fault";
  const type = DOMAINS[domain as keyof typeof DOMAINS];
  if (type === "pt") return q.addr;
  const r = shadow.lookup(domain, va);
  if (!r) return "fault";
  if (q.op === "MRd" ? !r.r : !r.w) return "fault";
  return r.pa + (q.addr - r.start);
}

export function driverTarget(mode: InvalidationMode, stats?: DriverFuzzStats): FuzzTarget<DriverCase> {
  return { name: `driver-${mode}`, arbitrary: driverCase, check: (c) => checkDriver(c, mode, stats) };
}
