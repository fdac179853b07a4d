/**
 * Benchmark workloads. Each entry of `workloads` builds one platform (page tables written once by
 * the builder, the way a driver would), pre-encodes a request trace in the exact request-ring
 * layout, and says what one pass over that trace must do: `check(d)` receives the counter deltas
 * of one pass (core.counters(), core.walkReads(), core.cacheStats()) and returns the problems it
 * finds, and `pa(i)` gives the output address of request i for spot checks.
 *
 * The checks are exact identities between the counters, which hold whatever the caches hold:
 *
 *   - a translation walks iff it misses the IOTLB (leaf D flags are preset, so a write never
 *     re-walks a cached translation): walks = requests - iotlb.hits, iotlb.fills = iotlb.misses;
 *   - a walk consults the paging-structure caches deepest first (PDE, PDPE, PML4E) and resumes
 *     below the first hit, so a 4-level walk reads level 1 always, level 2 unless the PDE cache
 *     hit, level 3 unless PDE or PDPE hit, level 4 unless any hit; summed:
 *     reads = 4*walks - 3*PDE.hits - 2*PDPE.hits - PML4E.hits;
 *   - nested: each first-stage entry read from a table not reached through a paging-structure-
 *     cache hit is first translated by a second-stage walk, and every walk ends with the
 *     second-stage walk of the final GPA: ssWalks = fsWalks + fsReads - fsPwcHits;
 *   - root and context entries are read only on a context-cache miss, PASID directory and table
 *     entries only on a PASID-cache miss.
 *
 * With `caches: "off"` every hit count is zero and the same identities give the architecture's
 * fixed figures (4 second-stage reads per request; 24 reads per nested request).
 *
 * Every case runs functional-only (`timing: false`: no events, no cycles) and measures translation
 * throughput, except `timed-walk` and `large-window-timed`, which run the cycle-level timing model
 * with its default parameters (config/timing.ts): timed-walk on the ss4-walk workload, next to
 * `timed-walk-functional`, the same workload untimed (the runner prints the ratio of the two). In
 * a timed case every request also gets exactly one latency class (core.timingStats()), which must
 * match what the caches did: an IOTLB hit, a walk resumed from the PDE, PDPE or PML4E cache, or a
 * full walk.
 *
 * The walk cases are parameterised by translation format (`walkFormats`: VT-d second-stage-only
 * 4-level, first-stage-only 4-level, nested 4x4; each with its platform builder and its counter
 * identities), so that another format (SMMUv3's stages) is one more entry there and one more
 * walkCase(...) line in `workloads`. The replay cases (binary-ingest, text-replay, large-window*)
 * read a trace file on disk in each pass and replay it end to end, as `iommu-emu run` does.
 *
 * Adding a case = adding one entry to `workloads`.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPlatform, type AnyPlatform, type VtdPlatform, type PlatformOptions } from "../src/platform.ts";
import type { SmmuModule } from "../src/arch/smmuv3/module.ts";
import type { SmmuDomain } from "../src/arch/smmuv3/builder.ts";
import { VtdDriver } from "../src/arch/vtd/driver.ts";
import { BinaryTraceReader, BinaryTraceWriter, RECORD_WORDS, REQ_FLAGS_MASK } from "../src/trace/binary.ts";
import { TextTraceReader } from "../src/trace/stream.ts";
import { formatTlp } from "../src/trace/text.ts";
import { replayReader, ArrivalClock } from "../src/replay/replay.ts";
import { RequestWriter, REQ_WORDS, decodeRequest, requestRecord } from "../src/replay/request-writer.ts";
import type { Core, Request, TimingStats } from "../src/core/core.ts";
import type { Domain } from "../src/arch/vtd/builder.ts";
import { RING_RECORDS, latencyClassNames, cacheNames, type CacheName } from "../src/core/abi.ts";
import { mulberry32 } from "../src/util/prng.ts";
import { generate } from "../src/gen/index.ts";
import { WINDOW_IOVA, WINDOW_PA } from "../src/gen/random-window.ts";
import { convertCommand } from "../src/cli/convert.ts";
import { loadScenario } from "../src/scenario.ts";

/** 32-bit words per request record. */
export { REQ_WORDS };

const PAGE = 1n << 12n;

export type Counters = ReturnType<Core["counters"]>;
export type CacheStats = ReturnType<Core["cacheStats"]>;
export type CacheCounters = CacheStats[CacheName];
export type LatencyClass = (typeof latencyClassNames)[number];

/**
 * Platform options of a functional-only run: every case but `timed-walk` measures translation
 * throughput without the timing model.
 */
const FUNCTIONAL: PlatformOptions = { timing: false };

/** Default caches but every paging-structure cache (pwcFs*, pwcSs*) disabled: the "-nopwc" cases. */
const NO_PWC: PlatformOptions = { ...FUNCTIONAL, caches: Object.fromEntries(cacheNames.filter((n) => n.startsWith("pwc")).map((n) => [n, { enable: false }])) };
/** Default caches but the PDE caches (pwcFsPde, pwcSsPde) disabled: the "-nopde" case. */
const NO_PDE: PlatformOptions = { ...FUNCTIONAL, caches: { pwcFsPde: { enable: false }, pwcSsPde: { enable: false } } };

/** Which paging-structure caches a walk case has: all (true), none (false), or all but the PDE caches. */
type Pwc = boolean | "no-pde";

/** Counter snapshot of a core (everything a check may look at). */
export interface Snapshot {
  counters: Counters;
  /** The architecture's own counters by name (SMMUv3: the PMCG events `transaction`, `tlb_miss`, ...). */
  arch: Record<string, bigint>;
  walk: { fs: bigint[]; ss: bigint[] };
  caches: CacheStats;
  /** The timing model's statistics; undefined in a functional run. */
  timing: TimingStats | undefined;
}

/** What the timing model did in one pass (differences of cumulative statistics). */
export interface TimingDeltas {
  /** Translations timed. */
  timed: bigint;
  /** Translations per latency class. */
  count: Record<LatencyClass, bigint>;
  /** IOTLB hits on an entry whose walk was still in flight, that waited for it. */
  coalesced: bigint;
  /** Simulated cycles the pass advanced the model's clock (last completion, before and after). */
  cycles: bigint;
}

/** What one pass over the trace moved: differences of two snapshots. */
export interface Deltas {
  /** Requests in the trace (the pass replayed each once). */
  n: bigint;
  /** False for the first pass over the trace (cold caches), true for later passes. */
  warm: boolean;
  counters: Counters;
  arch: Record<string, bigint>;
  /** Walk reads by stage and spec level: index 0 = level 1 (4 KiB table) ... index 4 = level 5. */
  fs: bigint[];
  ss: bigint[];
  fsReads: bigint;
  ssReads: bigint;
  caches: CacheStats;
  /** Timed runs only; undefined in a functional run. */
  timing: TimingDeltas | undefined;
}

export function snapshot(core: Core): Snapshot {
  return { counters: core.counters(), arch: core.archCounters(), walk: core.walkReads(), caches: core.cacheStats(), timing: core.timingStats() };
}

function timingDeltas(a: TimingStats | undefined, b: TimingStats | undefined): TimingDeltas | undefined {
  if (!a || !b) return undefined;
  return {
    timed: b.timed - a.timed,
    count: Object.fromEntries(latencyClassNames.map((c) => [c, b.classes[c].count - a.classes[c].count])) as Record<LatencyClass, bigint>,
    coalesced: b.coalesced - a.coalesced,
    cycles: b.lastCompletion - a.lastCompletion,
  };
}

const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);

export function deltas(a: Snapshot, b: Snapshot, n: number, warm: boolean): Deltas {
  const counters = Object.fromEntries(Object.entries(b.counters).map(([k, v]) => [k, v - a.counters[k as keyof Counters]])) as Counters;
  const caches = Object.fromEntries(
    Object.entries(b.caches).map(([name, s]) => [
      name,
      Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v - a.caches[name as CacheName][k as keyof CacheCounters]])),
    ]),
  ) as CacheStats;
  const arch = Object.fromEntries(Object.entries(b.arch).map(([k, v]) => [k, v - (a.arch[k] ?? 0n)]));
  const fs = b.walk.fs.map((v, i) => v - a.walk.fs[i]!);
  const ss = b.walk.ss.map((v, i) => v - a.walk.ss[i]!);
  return { n: BigInt(n), warm, counters, arch, fs, ss, fsReads: sum(fs), ssReads: sum(ss), caches, timing: timingDeltas(a.timing, b.timing) };
}

export interface Prepared {
  /** The core the pass drives (absent for a case that only parses: see `custom`). */
  platform: AnyPlatform;
  /** `records` request records, REQ_WORDS words each, exactly as the request ring holds them. */
  requests: Uint32Array;
  records: number;
  /** The output address request `i` of the trace must translate to (spot-checked). */
  pa(i: number): bigint;
  /** Problems in the counter deltas of one pass over the trace (empty: as expected). */
  check(d: Deltas): string[];
  /**
   * Ingest cases: the pass reads a trace file instead of copying `requests` into the ring, and the
   * figure is bytes of that file per second. `check()` then checks what the pass produced (no
   * counters when `platform` is not driven).
   */
  ingest?: {
    pass(): void;
    /** Bytes of input one pass reads. */
    bytes: number;
    /** Problems in what the last pass produced (parse-only cases). */
    check?(): string[];
  };
}

export interface Workload {
  name: string;
  description: string;
  /** Trace length in records, if not the runner's default (a multiple of RING_RECORDS). */
  records?: number;
  /** The runner prints this case's median over that case's (when both ran): the timing model's cost. */
  relativeTo?: string;
  /** A floor on the median (in `unit`), and where it comes from (the runner says whether it was met). */
  goal?: { min: number; source: string };
  /** The figure's unit: translations/s (default), or bytes/s for the ingest cases. */
  unit?: "translations/s" | "bytes/s";
  /** Builds the platform and a trace of `records` requests (a multiple of RING_RECORDS). */
  prepare(records: number): Prepared;
}

// ---- helpers ---------------------------------------------------------------------------------------

/**
 * A bijection of [0, 2^bits): x -> (x * mul + add) mod 2^bits with `mul` odd. Used to scatter page
 * numbers so that neither data pages nor (through the mapping order) table pages are sequential.
 */
export function permutation(bits: number, mul: number, add: number): (x: number) => number {
  if ((mul & 1) === 0) throw new RangeError("permutation multiplier must be odd");
  const mask = bits >= 32 ? 0xffffffff : (1 << bits) - 1;
  return (x) => ((Math.imul(x, mul) + add) & mask) >>> 0;
}

/**
 * Encodes `records` requests with the core's own encoder (Core.encode, ring-sized chunks) and
 * copies each chunk out of the ring, so the trace has exactly the ring's record layout.
 */
export function encodeTrace(core: Core, records: number, request: (i: number) => Request): Uint32Array {
  if (records <= 0 || records % RING_RECORDS !== 0) throw new RangeError(`records (${records}) must be a positive multiple of ${RING_RECORDS}`);
  const out = new Uint32Array(records * REQ_WORDS);
  for (let at = 0; at < records; at += RING_RECORDS) {
    for (let i = 0; i < RING_RECORDS; i++) core.encode(i, request(at + i));
    out.set(core.requestWords(), at * REQ_WORDS);
  }
  return out;
}

/** Maps each 4 KiB page `page(v)` of [0, pages) as va -> pa, in the scattered order `order`. */
function mapPages(
  p: VtdPlatform,
  d: Domain,
  pages: number,
  order: (i: number) => number,
  va: (page: number) => bigint,
  pa: (page: number) => bigint,
): void {
  for (let i = 0; i < pages; i++) {
    const v = order(i);
    p.builder.map(d, va(v), pa(v), PAGE);
  }
}

/** Random MRd/MWr of 64 bytes at a 64-byte-aligned offset of a uniformly random page of 2^pagesLg2. */
function randomAccesses(records: number, pagesLg2: number, seed: number) {
  const rand = mulberry32(seed);
  const page = new Uint32Array(records);
  const offset = new Uint16Array(records);
  const write = new Uint8Array(records);
  for (let i = 0; i < records; i++) {
    const r = rand();
    page[i] = pagesLg2 === 0 ? 0 : r >>> (32 - pagesLg2);
    offset[i] = (r & 63) << 6;
    write[i] = (r >>> 6) & 1;
  }
  return { page, offset, write };
}

const SID = 0x0100; // bus 1, device 0, function 0
const DATA_PA = 0x40_0000_0000n; // host-physical data pages (256 GiB up; far from the tables and 0xFEEx_xxxx)
const IOVA = 0x1_0000_0000n; // second-stage input window (1 GiB aligned)

// ---- checks ----------------------------------------------------------------------------------------

/** Collects problems: exact equalities and bounds on counter deltas. */
class Problems {
  readonly list: string[] = [];
  eq(what: string, got: bigint, want: bigint): void {
    if (got !== want) this.list.push(`${what}: ${got}, expected ${want}`);
  }
  /** A ratio (hits / lookups, say) that must lie in [lo, hi]. */
  rate(what: string, num: bigint, den: bigint, lo: number, hi: number): void {
    const r = den === 0n ? NaN : Number(num) / Number(den);
    if (!(r >= lo && r <= hi)) this.list.push(`${what}: ${fmtPct(r)} (${num} / ${den}), expected ${fmtRange(lo, hi)}`);
  }
}

const fmtPct = (r: number) => `${(r * 100).toFixed(3)}%`;
const fmtRange = (lo: number, hi: number) => (lo <= 0 ? `< ${fmtPct(hi)}` : hi >= 1 ? `> ${fmtPct(lo)}` : `${fmtPct(lo)}..${fmtPct(hi)}`);

/** Every request translated, nothing else happened (no faults, interrupts, A/D writes, invalidations). */
function checkClean(p: Problems, d: Deltas): void {
  const c = d.counters;
  p.eq("requests", c.requests, d.n);
  p.eq("translated", c.translated, d.n);
  for (const k of ["faulted", "faultsRecorded", "interrupts", "blocked", "atsRequests", "adWrites"] as const) p.eq(k, c[k], 0n);
  for (const [name, s] of Object.entries(d.caches)) {
    p.eq(`${name}.lookups - hits - misses`, s.lookups - s.hits - s.misses, 0n);
    p.eq(`${name}.invalidations`, s.invalidations, 0n);
  }
}

/** Root/context and PASID-directory/table reads happen exactly on context- and PASID-cache misses. */
function checkStructures(p: Problems, d: Deltas, cached: boolean): void {
  const c = d.counters, cc = d.caches.contextCache, pc = d.caches.pasidCache;
  p.eq("rootReads - contextReads", c.rootReads - c.contextReads, 0n);
  p.eq("contextReads + contextCache.hits", c.contextReads + cc.hits, d.n);
  p.eq("pasidDirReads - pasidTableReads", c.pasidDirReads - c.pasidTableReads, 0n);
  p.eq("pasidTableReads + pasidCache.hits", c.pasidTableReads + pc.hits, d.n);
  p.eq("contextCache.lookups", cc.lookups, cached ? d.n : 0n);
  p.eq("pasidCache.lookups", pc.lookups, cached ? d.n : 0n);
  // One device, one PASID: once warm, nothing is read again.
  if (cached && d.warm) {
    p.eq("contextReads (warm)", c.contextReads, 0n);
    p.eq("pasidTableReads (warm)", c.pasidTableReads, 0n);
  }
}

/** One IOTLB lookup per request; a miss walks and fills. Returns the number of walks. */
function checkIotlb(p: Problems, d: Deltas, cached: boolean): bigint {
  const t = d.caches.iotlb;
  p.eq("iotlb.lookups", t.lookups, cached ? d.n : 0n);
  p.eq("iotlb.fills - misses", t.fills - t.misses, 0n);
  return d.n - t.hits;
}

const pwcLevels = ["Pde", "Pdpe", "Pml4e", "Pml5e"] as const;

/**
 * A 4-level stage made `walks` walks through its paging-structure caches: reads per level and in
 * all from the hit counts, lookups chained deepest first, a fill for every level read above the
 * leaf. Returns the number of walks that resumed from a cache hit.
 */
function checkStageWalks(p: Problems, d: Deltas, stage: "fs" | "ss", walks: bigint, pwc: Pwc): bigint {
  const pre = stage === "fs" ? "pwcFs" : "pwcSs";
  const [pde, pdpe, pml4e, pml5e] = pwcLevels.map((l) => d.caches[`${pre}${l}` as CacheName]) as [CacheCounters, CacheCounters, CacheCounters, CacheCounters];
  const reads = stage === "fs" ? d.fs : d.ss;
  const total = stage === "fs" ? d.fsReads : d.ssReads;
  const want = [walks, walks - pde.hits, walks - pde.hits - pdpe.hits, walks - pde.hits - pdpe.hits - pml4e.hits, 0n];
  for (let l = 0; l < 5; l++) p.eq(`${stage} reads at level ${l + 1}`, reads[l]!, want[l]!);
  p.eq(
    `${stage}Reads (4*walks - 3*${pre}Pde.hits - 2*${pre}Pdpe.hits - ${pre}Pml4e.hits, walks=${walks})`,
    total,
    4n * walks - 3n * pde.hits - 2n * pdpe.hits - pml4e.hits,
  );
  // Lookups chain deepest first: the deepest cache present is looked up by every walk, each one
  // above it by the walks the one below missed; a cache below the deepest present, never. With
  // none present every level is chained all the same (all zero): a stray lookup shows where.
  let below: (typeof pwcLevels)[number] | null = null;
  for (const [l, s] of [["Pde", pde], ["Pdpe", pdpe], ["Pml4e", pml4e]] as const) {
    const present = pwc === true || (pwc === "no-pde" && l !== "Pde");
    if (below === null) p.eq(`${pre}${l}.lookups`, s.lookups, present ? walks : 0n);
    else p.eq(`${pre}${l}.lookups - ${pre}${below}.misses`, s.lookups - d.caches[`${pre}${below}` as CacheName].misses, 0n);
    if (present || pwc === false) below = l;
  }
  p.eq(`${pre}Pml5e.lookups (4-level walks)`, pml5e.lookups, 0n);
  for (const [l, s] of [["Pde", pde], ["Pdpe", pdpe], ["Pml4e", pml4e]] as const) p.eq(`${pre}${l}.fills - misses`, s.fills - s.misses, 0n);
  return pde.hits + pdpe.hits + pml4e.hits;
}

/**
 * Second-stage-only translation (PGTT=010, 4 levels): all identities (`pwc` false: the
 * paging-structure caches are off, the other caches as `cached` says). Returns the walks.
 */
function checkSecondStageOnly(p: Problems, d: Deltas, cached: boolean, pwc: Pwc = cached): bigint {
  checkClean(p, d);
  checkStructures(p, d, cached);
  const walks = checkIotlb(p, d, cached);
  for (let l = 0; l < 5; l++) p.eq(`fs reads at level ${l + 1}`, d.fs[l]!, 0n);
  checkStageWalks(p, d, "ss", walks, pwc);
  return walks;
}

/**
 * First-stage-only translation (PGTT=001, 4 levels): the same identities on the first stage, and
 * the second stage silent (no reads, no paging-structure-cache lookups). Returns the walks.
 */
function checkFirstStageOnly(p: Problems, d: Deltas, cached: boolean, pwc: Pwc = cached): bigint {
  checkClean(p, d);
  checkStructures(p, d, cached);
  const walks = checkIotlb(p, d, cached);
  checkStageWalks(p, d, "fs", walks, pwc);
  checkStageWalks(p, d, "ss", 0n, pwc);
  return walks;
}

/** Nested translation (PGTT=011, 4-level FS over 4-level SS): all identities. Returns the walks. */
function checkNested(p: Problems, d: Deltas, cached: boolean, pwc: Pwc = cached): bigint {
  checkClean(p, d);
  checkStructures(p, d, cached);
  const walks = checkIotlb(p, d, cached);
  const fsHits = checkStageWalks(p, d, "fs", walks, pwc);
  checkStageWalks(p, d, "ss", walks + d.fsReads - fsHits, pwc);
  return walks;
}

/** Without caches: every request reads its 4 context/PASID structures and every cache is silent. */
function checkNoCache(p: Problems, d: Deltas, fsPerRequest: bigint, ssPerRequest: bigint): void {
  const c = d.counters;
  for (const k of ["rootReads", "contextReads", "pasidDirReads", "pasidTableReads"] as const) p.eq(k, c[k], d.n);
  p.eq(`fsReads (${fsPerRequest} per request)`, d.fsReads, fsPerRequest * d.n);
  p.eq(`ssReads (${ssPerRequest} per request)`, d.ssReads, ssPerRequest * d.n);
  for (const [name, s] of Object.entries(d.caches)) p.eq(`${name}.lookups + fills (caches off)`, s.lookups + s.fills, 0n);
}

/** A functional run: the timing model is off and reports nothing. */
function checkFunctional(p: Problems, d: Deltas): void {
  if (d.timing) p.list.push(`timing: the model is on (${d.timing.timed} translations timed), expected a functional-only run`);
}

/**
 * A timed single-stage run without faults (second stage unless `stage` says "fs"): every request
 * timed exactly once, in exactly one latency class, and the class is what the caches did: an IOTLB
 * (SMMUv3: TLB) hit, a walk that resumed from the stage's PDE, PDPE or PML4E cache (one hit at
 * most per walk, deepest first), or a full walk.
 */
function checkTimed(p: Problems, d: Deltas, walks: bigint, stage: "fs" | "ss" = "ss"): void {
  const t = d.timing;
  if (!t) {
    p.list.push("timing: core.timingStats() is undefined, expected a timed run");
    return;
  }
  p.eq("timing.timed (requests)", t.timed, d.n);
  p.eq(`sum of latency-class counts (${latencyClassNames.join(" + ")})`, latencyClassNames.reduce((a, c) => a + t.count[c], 0n), t.timed);
  const k = d.caches;
  const pre = stage === "fs" ? "pwcFs" : "pwcSs";
  const [pde, pdpe, pml4e] = (["Pde", "Pdpe", "Pml4e"] as const).map((l) => k[`${pre}${l}` as CacheName].hits) as [bigint, bigint, bigint];
  p.eq("timing iotlbHit (iotlb.hits)", t.count.iotlbHit, k.iotlb.hits);
  p.eq(`timing pdeHit (${pre}Pde.hits)`, t.count.pdeHit, pde);
  p.eq(`timing pdpeHit (${pre}Pdpe.hits)`, t.count.pdpeHit, pdpe);
  p.eq(`timing pml4eHit (${pre}Pml4e.hits)`, t.count.pml4eHit, pml4e);
  p.eq("timing fullWalk (walks - PWC hits)", t.count.fullWalk, walks - pde - pdpe - pml4e);
  for (const c of ["pml5eHit", "fault", "other"] as const) p.eq(`timing ${c}`, t.count[c], 0n);
}

// ---- workloads -------------------------------------------------------------------------------------

/** A platform built for a walk case: `2^pagesLg2` 4 KiB pages mapped from `base`, attached to SID and enabled. */
interface WalkPlatform {
  p: AnyPlatform;
  /** Input address of page 0 (requests go to base + offset). */
  base: bigint;
  /** Output address of input address base + off. */
  pa(off: bigint): bigint;
}

/**
 * A translation format the walk cases run in: how its platform is built and what its counters
 * must show. Adding a format (an SMMUv3 stage, say) is one more entry in `walkFormats`; every
 * workload built with walkCase or randomWalk can then take it.
 */
interface WalkFormat {
  /** For descriptions: "second-stage-only 4-level", ... */
  about: string;
  build(pagesLg2: number, opts: PlatformOptions): WalkPlatform;
  /**
   * All counter identities of a pass in this format; returns the walks (IOTLB misses). `pwc`
   * (VT-d formats): false, the paging-structure caches were disabled, the others as `cached` says;
   * "no-pde", only the PDE caches were.
   */
  check(p: Problems, d: Deltas, cached: boolean, pwc?: Pwc): bigint;
  /** The identities of a pass with every cache off (fixed reads per request). */
  noCache(p: Problems, d: Deltas): void;
  /** The cache whose hit rate says whether a walk case walks (the IOTLB; SMMUv3's TLB in the same slot). */
  tlb: CacheName;
}

/** Scatters `pages` data pages behind one domain of `type`, mapped from `base` in a scattered order (no data or table page sequential). */
function singleStage(type: "ss" | "fs", pagesLg2: number, opts: PlatformOptions): WalkPlatform {
  const pages = 1 << pagesLg2;
  const dataPage = permutation(pagesLg2, 0x9e3779b1, 0x2545f);
  const order = permutation(pagesLg2, 0x6c8e9cf5, 0x1234);
  const p = createPlatform("vtd", opts);
  const d = p.builder.createDomain({ id: 1, type, levels: 4 });
  mapPages(p, d, pages, order, (v) => IOVA + (BigInt(v) << 12n), (v) => DATA_PA + (BigInt(dataPage(v)) << 12n));
  // No PASID: the request-without-PASID entry (RID_PASID) holds the domain, second or first stage.
  p.builder.attach({ sid: SID, domain: 1 });
  p.enable();
  return { p, base: IOVA, pa: (a) => DATA_PA + (BigInt(dataPage(Number(a >> 12n))) << 12n) + (a & 0xfffn) };
}

// ---- SMMUv3 formats -------------------------------------------------------------------------------

type SmmuPlatform = ReturnType<typeof createPlatform<"smmuv3">>;

/**
 * An SMMUv3 platform for the walk cases, with the preset's caches (`caches: "off"`: none): the
 * configuration cache (STEs in the contextCache slot, CDs in pasidCache), the TLB (iotlb) and the
 * walk caches (pwcFs* stage 1, pwcSs* stage 2) of README "SMMUv3 in the core". The preset's
 * micro-TLB is turned off, so the TLB identities below are the main TLB's, as VT-d's are its IOTLB's.
 */
function smmuPlatform(opts: PlatformOptions): SmmuPlatform {
  const caches = opts.caches === "off" ? "off" : { ...opts.caches, microTlb: { enable: false } };
  return createPlatform("smmuv3", { ...opts, caches } as PlatformOptions<SmmuModule>);
}

function smmuMapPages(p: SmmuPlatform, d: SmmuDomain, pages: number, order: (i: number) => number, va: (page: number) => bigint, pa: (page: number) => bigint): void {
  for (let i = 0; i < pages; i++) {
    const v = order(i);
    p.builder.map(d, { iova: va(v), pa: pa(v), size: PAGE });
  }
}

/** As singleStage, on SMMUv3: a stage-1 (CD 0 of the stream) or stage-2 (S2 STE) domain. */
function smmuSingleStage(type: "s1" | "s2", pagesLg2: number, opts: PlatformOptions): WalkPlatform {
  const pages = 1 << pagesLg2;
  const dataPage = permutation(pagesLg2, 0x9e3779b1, 0x2545f);
  const order = permutation(pagesLg2, 0x6c8e9cf5, 0x1234);
  const p = smmuPlatform(opts);
  const d = p.builder.createDomain({ id: 1, type });
  smmuMapPages(p, d, pages, order, (v) => IOVA + (BigInt(v) << 12n), (v) => DATA_PA + (BigInt(dataPage(v)) << 12n));
  p.builder.attach({ sid: SID, domain: 1 });
  p.enable();
  return { p, base: IOVA, pa: (a) => DATA_PA + (BigInt(dataPage(Number(a >> 12n))) << 12n) + (a & 0xfffn) };
}

/** Reads per request of an SMMUv3 format with every cache off: by stage, whether a CD is used, reads of the CD's IPA walk (nested). */
interface SmmuReads {
  fs: bigint;
  ss: bigint;
  cd: boolean;
  cdWalk?: bigint;
}

/**
 * Every transaction translated and nothing else happened (checkClean, and no SMMU event, bypass
 * or command); the PMCG counters agree: one `transaction` each, `trans_table_walk_access` = every
 * descriptor read.
 */
function checkSmmuClean(p: Problems, d: Deltas): void {
  const a = d.arch;
  checkClean(p, d);
  for (const k of ["eventsRecorded", "eventsLost", "bypassed", "commands"]) p.eq(k, a[k] ?? -1n, 0n);
  p.eq("transaction", a.transaction ?? -1n, d.n);
  p.eq("trans_table_walk_access (fsReads + ssReads)", a.trans_table_walk_access ?? -1n, d.fsReads + d.ssReads);
}

/**
 * One stream, one CD: with the configuration cache, the STE (and CD) are read on its first miss
 * only (a miss reads the L1STD and the STE, and the CD: `config_struct_access` 3, stage 2 only: 2);
 * without it, on every transaction. Returns the transactions that missed (`config_cache_miss`).
 */
function checkSmmuConfig(p: Problems, d: Deltas, cached: boolean, cd: boolean): bigint {
  const ste = d.caches.contextCache, cdc = d.caches.pasidCache;
  const misses = !cached ? d.n : d.warm ? 0n : 1n;
  p.eq("contextCache.lookups (STE)", ste.lookups, cached ? d.n : 0n);
  p.eq("contextCache.misses (STE)", ste.misses, cached ? misses : 0n);
  p.eq("pasidCache.lookups (CD)", cdc.lookups, cached && cd ? d.n : 0n);
  p.eq("pasidCache.misses (CD)", cdc.misses, cached && cd ? misses : 0n);
  p.eq("config_cache_miss", d.arch.config_cache_miss ?? -1n, misses);
  p.eq("config_struct_access", d.arch.config_struct_access ?? -1n, misses * (cd ? 3n : 2n));
  return misses;
}

/**
 * The SMMUv3 TLB (README "SMMUv3 in the core"): a stage-1 or nested lookup probes the ASID's
 * entries, then on a miss the VMID's global ones; io-pgtable-arm's stage-1 leaves are non-global
 * (nG=1), so that second probe never hits here: two lookups and two misses per walk (`probes` 2),
 * a stage-2-only lookup one. A hit ends the transaction; a miss walks (PMCG `tlb_miss`) and fills
 * once. Returns the walks.
 */
function checkSmmuTlb(p: Problems, d: Deltas, cached: boolean, probes: bigint): bigint {
  const t = d.caches.iotlb;
  const walks = d.n - t.hits;
  p.eq(`iotlb.lookups (requests + ${probes - 1n} per walk, walks=${walks})`, t.lookups, cached ? d.n + (probes - 1n) * walks : 0n);
  p.eq(`iotlb.misses (${probes} per walk)`, t.misses, cached ? probes * walks : 0n);
  p.eq("iotlb.fills (one per walk)", t.fills, cached ? walks : 0n);
  p.eq("tlb_miss (walks)", d.arch.tlb_miss ?? -1n, walks);
  return walks;
}

/**
 * All identities of a pass in an SMMUv3 format walking stage 1 (`s1`), stage 2 (`s2`) or both
 * (nested), through the same walker and walk-cache port as VT-d, so with VT-d's identities per
 * stage (checkStageWalks: pwcFs* for stage 1, pwcSs* for stage 2). Nested, as for VT-d, every
 * stage-1 descriptor read from a table not reached through a walk-cache hit is first translated by
 * a stage-2 walk, every walk ends with the stage-2 walk of its output IPA, and a configuration-cache
 * miss also walks the CD's IPA: ssWalks = walks + fsReads - fsWalkCacheHits + config misses.
 * Returns the walks (TLB misses).
 */
function checkSmmu(p: Problems, d: Deltas, cached: boolean, f: { s1: boolean; s2: boolean }): bigint {
  checkSmmuClean(p, d);
  const configMisses = checkSmmuConfig(p, d, cached, f.s1);
  const walks = checkSmmuTlb(p, d, cached, f.s1 ? 2n : 1n);
  const fsHits = checkStageWalks(p, d, "fs", f.s1 ? walks : 0n, cached);
  checkStageWalks(p, d, "ss", !f.s2 ? 0n : !f.s1 ? walks : walks + d.fsReads - fsHits + configMisses, cached);
  return walks;
}

/**
 * Every cache off: every request reads its L1STD, STE (and CD), misses the (absent) TLB and walks
 * in full: exactly `r.fs`/`r.ss` descriptors per request, evenly over 4 levels, and nested the
 * CD's IPA walk (`r.cdWalk` reads).
 */
function checkSmmuNoCache(p: Problems, d: Deltas, r: SmmuReads): void {
  p.eq("config_struct_access (every request)", d.arch.config_struct_access ?? -1n, d.n * (r.cd ? 3n : 2n));
  p.eq("config_cache_miss (every request)", d.arch.config_cache_miss ?? -1n, d.n);
  for (const [name, s] of Object.entries(d.caches)) p.eq(`${name}.lookups + fills (caches off)`, s.lookups + s.fills, 0n);
  checkSmmuClean(p, d);
  p.eq("tlb_miss (caches off: every request)", d.arch.tlb_miss ?? -1n, d.n);
  const fsWant = r.fs / 4n, ssWant = r.ss / 4n;
  for (let l = 0; l < 5; l++) p.eq(`fs reads at level ${l + 1}`, d.fs[l]!, l < 4 ? fsWant * d.n : 0n);
  const cdPer = r.cdWalk ? d.n : 0n;
  for (let l = 0; l < 5; l++) p.eq(`ss reads at level ${l + 1}`, d.ss[l]!, l < 4 ? ssWant * d.n + cdPer : 0n);
}

const walkFormats = {
  /** VT-d second-stage only (PGTT=010), 4 levels. */
  "vtd-ss4": {
    about: "second-stage-only 4-level",
    build: (pagesLg2, opts) => singleStage("ss", pagesLg2, opts),
    check: checkSecondStageOnly,
    noCache: (p, d) => checkNoCache(p, d, 0n, 4n),
    tlb: "iotlb",
  },
  /** VT-d first-stage only (PGTT=001), 4 levels. */
  "vtd-fs4": {
    about: "first-stage-only 4-level",
    build: (pagesLg2, opts) => singleStage("fs", pagesLg2, opts),
    check: checkFirstStageOnly,
    noCache: (p, d) => checkNoCache(p, d, 4n, 0n),
    tlb: "iotlb",
  },
  /**
   * VT-d nested (PGTT=011): a 4-level first stage over a 4-level second-stage parent; GVA pages to
   * GPAs the parent maps with 4 KiB pages. Without caches each translation reads 4 FS entries,
   * each through a 4-read SS walk of its GPA, plus the final 4-read SS walk: 24 reads.
   */
  "vtd-nested4x4": {
    about: "nested 4-level FS over 4-level SS",
    build(pagesLg2, opts) {
      const pages = 1 << pagesLg2;
      const GVA = 0x7f00_0000_0000n; // canonical (bit 47 clear), upper end of the lower half
      const GPA = 0x1_0000_0000n; // guest-physical data window (FS tables sit at GPA = PA near 0x1000_0000)
      const gpaPage = permutation(pagesLg2, 0x9e3779b1, 0x2545f); // FS: GVA page -> GPA page
      const paPage = permutation(pagesLg2, 0x85ebca6b, 0x7f4a); // SS: GPA page -> PA page
      const orderFs = permutation(pagesLg2, 0x6c8e9cf5, 0x1234);
      const orderSs = permutation(pagesLg2, 0xc2b2ae35, 0x0777);
      const p = createPlatform("vtd", opts);
      const parent = p.builder.createDomain({ id: 1, type: "ss", levels: 4 });
      const d = p.builder.createDomain({ id: 2, type: "nested", levels: 4, parent: 1 });
      mapPages(p, parent, pages, orderSs, (g) => GPA + (BigInt(g) << 12n), (g) => DATA_PA + (BigInt(paPage(g)) << 12n));
      mapPages(p, d, pages, orderFs, (v) => GVA + (BigInt(v) << 12n), (v) => GPA + (BigInt(gpaPage(v)) << 12n));
      p.builder.attach({ sid: SID, domain: 2 });
      p.enable();
      return { p, base: GVA, pa: (a) => DATA_PA + (BigInt(paPage(gpaPage(Number(a >> 12n)))) << 12n) + (a & 0xfffn) };
    },
    check: checkNested,
    noCache: (p, d) => checkNoCache(p, d, 4n, 4n * 4n + 4n),
    tlb: "iotlb",
  },
  /** SMMUv3 stage 1 only (an S1 STE, CD 0), 4K granule, 48-bit VA: 4 levels. */
  "smmu-s1-4k": {
    about: "SMMUv3 stage-1 4K-granule 4-level",
    build: (pagesLg2, opts) => smmuSingleStage("s1", pagesLg2, opts),
    check: (p, d, cached) => checkSmmu(p, d, cached, { s1: true, s2: false }),
    noCache: (p, d) => checkSmmuNoCache(p, d, { fs: 4n, ss: 0n, cd: true }),
    tlb: "iotlb",
  },
  /** SMMUv3 stage 2 only (an S2 STE), 4K granule, 48-bit IPA: 4 levels from S2SL0. */
  "smmu-s2-4k": {
    about: "SMMUv3 stage-2 4K-granule 4-level",
    build: (pagesLg2, opts) => smmuSingleStage("s2", pagesLg2, opts),
    check: (p, d, cached) => checkSmmu(p, d, cached, { s1: false, s2: true }),
    noCache: (p, d) => checkSmmuNoCache(p, d, { fs: 0n, ss: 4n, cd: false }),
    tlb: "iotlb",
  },
  /**
   * SMMUv3 nested (STE Config 0b111): 4-level stage 1 over a 4-level stage 2, as vtd-nested4x4;
   * each stage-1 descriptor read goes through a 4-read stage-2 walk of its IPA, then the final IPA:
   * 4 + 4 x 4 + 4 = 24 reads. On a configuration-cache miss the CD's IPA is walked too (4 reads).
   */
  "smmu-nested4x4": {
    about: "SMMUv3 nested stage-1 4-level over stage-2 4-level",
    build(pagesLg2, opts) {
      const pages = 1 << pagesLg2;
      const GVA = 0x7f00_0000_0000n, GPA = 0x1_0000_0000n;
      const gpaPage = permutation(pagesLg2, 0x9e3779b1, 0x2545f);
      const paPage = permutation(pagesLg2, 0x85ebca6b, 0x7f4a);
      const orderFs = permutation(pagesLg2, 0x6c8e9cf5, 0x1234);
      const orderSs = permutation(pagesLg2, 0xc2b2ae35, 0x0777);
      const p = smmuPlatform(opts);
      const parent = p.builder.createDomain({ id: 1, type: "s2" });
      const d = p.builder.createDomain({ id: 2, type: "nested", parent: 1 });
      smmuMapPages(p, parent, pages, orderSs, (g) => GPA + (BigInt(g) << 12n), (g) => DATA_PA + (BigInt(paPage(g)) << 12n));
      smmuMapPages(p, d, pages, orderFs, (v) => GVA + (BigInt(v) << 12n), (v) => GPA + (BigInt(gpaPage(v)) << 12n));
      p.builder.attach({ sid: SID, domain: 2 });
      p.enable();
      return { p, base: GVA, pa: (a) => DATA_PA + (BigInt(paPage(gpaPage(Number(a >> 12n)))) << 12n) + (a & 0xfffn) };
    },
    check: (p, d, cached) => checkSmmu(p, d, cached, { s1: true, s2: true }),
    noCache: (p, d) => checkSmmuNoCache(p, d, { fs: 4n, ss: 20n, cd: true, cdWalk: 4n }),
    tlb: "iotlb",
  },
} satisfies Record<string, WalkFormat>;
type WalkFormatName = keyof typeof walkFormats;

/**
 * Uniformly random 64-byte accesses to the 2^pagesLg2 pages of a `format` platform; each pass is
 * checked with the format's identities, then `more` (given the walks).
 */
function randomWalk(format: WalkFormatName, pagesLg2: number, seed: number, records: number, opts: PlatformOptions, more: (p: Problems, d: Deltas, walks: bigint) => void): Prepared {
  const f: WalkFormat = walkFormats[format];
  const { p, base, pa } = f.build(pagesLg2, opts);
  const cached = opts.caches !== "off";
  // NO_PWC: only the paging-structure caches off; NO_PDE: only the PDE caches
  const pwc: Pwc = !cached || opts.caches === NO_PWC.caches ? false : opts.caches === NO_PDE.caches ? "no-pde" : true;
  const a = randomAccesses(records, pagesLg2, seed);
  const off = (i: number) => (BigInt(a.page[i]!) << 12n) + BigInt(a.offset[i]!);
  const requests = encodeTrace(p.core, records, (i) => ({ op: a.write[i] ? "MWr" : "MRd", sid: SID, addr: base + off(i), len: 64 }));
  return {
    platform: p,
    requests,
    records,
    pa: (i) => pa(off(i)),
    check(d) {
      const problems = new Problems();
      more(problems, d, f.check(problems, d, cached, pwc));
      return problems.list;
    },
  };
}

/**
 * A walk case: random pages over `2^pagesLg2` 4 KiB pages in `format`, functional, with default
 * caches (the IOTLB misses almost always: warm hit rate under `tlbHitMax`, default 1%), with
 * default caches but the paging-structure caches off (`pwc: false`, "-nopwc"; VT-d formats), with
 * default caches but the PDE caches off (`pwc: "no-pde"`, "-nopde"), or without caches ("-nocache":
 * the format's fixed reads per request).
 */
function walkCase(format: WalkFormatName, c: { name: string; size: string; pagesLg2: number; seed: number; cached: boolean; pwc?: false | "no-pde"; tlbHitMax?: number; goal?: Workload["goal"] }): Workload {
  const f: WalkFormat = walkFormats[format];
  const pwc = c.cached && c.pwc !== false;
  const opts = !c.cached ? { ...FUNCTIONAL, caches: "off" as const } : c.pwc === "no-pde" ? NO_PDE : pwc ? FUNCTIONAL : NO_PWC;
  const caches = !c.cached ? "caches off" : c.pwc === "no-pde" ? "default caches but the PDE caches off" : pwc ? "default caches" : "default caches but the paging-structure caches off";
  return {
    name: c.name,
    description: `${f.about} walk, ${c.size} mapped with 4 KiB pages, uniformly random pages, no PASID, ${caches}`,
    ...(c.goal ? { goal: c.goal } : {}),
    prepare(records) {
      return randomWalk(format, c.pagesLg2, c.seed, records, opts, (p, d) => {
        checkFunctional(p, d);
        if (!c.cached) f.noCache(p, d);
        else if (d.warm) p.rate(`${f.tlb} hit rate (warm)`, d.caches[f.tlb].hits, d.caches[f.tlb].lookups, 0, c.tlbHitMax ?? 0.01);
      });
    },
  };
}

/** iotlb-hit: 32 pages, every translation but the first 32 an IOTLB hit. */
const iotlbHit: Workload = {
  name: "iotlb-hit",
  description: "IOTLB hits: second-stage-only 4-level, 32 pages of 4 KiB (fits the IOTLB), random 64-byte accesses",
  goal: { min: 120e6, source: "issue 9" },
  prepare(records) {
    return randomWalk("vtd-ss4", 5, 0x1f1f, records, FUNCTIONAL, (p, d) => {
      checkFunctional(p, d);
      if (d.warm) p.rate("iotlb hit rate (warm)", d.caches.iotlb.hits, d.caches.iotlb.lookups, 0.999, 1);
    });
  },
};

/** ss4-walk-pwc: IOTLB misses whose walks resume from the SS PDE cache (1 read each). */
const ss4WalkPwc: Workload = {
  name: "ss4-walk-pwc",
  description: "second-stage-only 4-level walk, 32 MiB of 4 KiB pages (16 PDEs: fit the PDE cache, not the IOTLB), random pages",
  prepare(records) {
    return randomWalk("vtd-ss4", 13, 0x3c3c, records, FUNCTIONAL, (p, d) => {
      checkFunctional(p, d);
      if (d.warm) {
        p.rate("iotlb hit rate (warm)", d.caches.iotlb.hits, d.caches.iotlb.lookups, 0, 0.02);
        p.rate("pwcSsPde hit rate (warm)", d.caches.pwcSsPde.hits, d.caches.pwcSsPde.lookups, 0.95, 1);
      }
    });
  },
};

/**
 * ss4-walk: random pages over 1 GiB; with caches or without ("-nocache": exactly 4 + 4 reads each).
 * fs4-walk: the same over a first-stage-only domain. The ss4-walk workload, default caches, runs
 * as `timed-walk` with the timing model on (default parameters; requests back to back: every
 * record has time 0, so the translation slots pace them) and as `timed-walk-functional` with it
 * off, side by side for the ratio.
 */
const ss4Walk = (cached: boolean) =>
  walkCase("vtd-ss4", { name: cached ? "ss4-walk" : "ss4-walk-nocache", size: "1 GiB", pagesLg2: 18, seed: 0x55d4, cached, ...(cached ? { goal: { min: 20e6, source: "issue 9" } } : {}) });
/** ss4-walk-nopwc: ss4-walk with the paging-structure caches off (IOTLB, context and PASID caches on): 4 reads per walk. */
const ss4WalkNoPwc = walkCase("vtd-ss4", { name: "ss4-walk-nopwc", size: "1 GiB", pagesLg2: 18, seed: 0x55d4, cached: true, pwc: false });
/**
 * ss4-walk-nopde: ss4-walk with the PDE cache off (PDPE and PML4E caches on): the PDPE cache hits,
 * 2 reads per walk, as ss4-walk's walks that miss the PDE cache (94 %) read. What ss4-walk would
 * cost with a PDE cache that cost nothing to look up and fill: the most the walk caches can gain on
 * this workload over ss4-walk-nopwc.
 */
const ss4WalkNoPde = walkCase("vtd-ss4", { name: "ss4-walk-nopde", size: "1 GiB", pagesLg2: 18, seed: 0x55d4, cached: true, pwc: "no-pde" });
const fs4Walk = walkCase("vtd-fs4", { name: "fs4-walk", size: "1 GiB", pagesLg2: 18, seed: 0x55d4, cached: true });

function timedWalk(timed: boolean): Workload {
  return {
    name: timed ? "timed-walk" : "timed-walk-functional",
    description: `second-stage-only 4-level walk, 1 GiB mapped with 4 KiB pages, uniformly random pages, no PASID, default caches${timed ? ", timing model on (default parameters, back-to-back arrivals)" : ", functional (timed-walk without timing)"}`,
    ...(timed ? { relativeTo: "timed-walk-functional", goal: { min: 12e6, source: "issue 9 (G11 asked 10 M/s)" } } : {}),
    prepare(records) {
      return randomWalk("vtd-ss4", 18, 0x55d4, records, timed ? {} : FUNCTIONAL, (p, d, walks) => {
        if (timed) checkTimed(p, d, walks);
        else checkFunctional(p, d);
        if (d.warm) p.rate("iotlb hit rate (warm)", d.caches.iotlb.hits, d.caches.iotlb.lookups, 0, 0.01);
      });
    },
  };
}

/**
 * streaming: sequential 256-byte DMA writes over 256 MiB of 4 KiB pages, one new page every 16
 * TLPs. The trace covers the whole window once (1 Mi records), so every page misses the IOTLB
 * exactly once per pass, warm or not.
 */
const STREAM_RECORDS = 256 * RING_RECORDS; // 1 Mi x 256 B = 256 MiB
const streaming: Workload = {
  name: "streaming",
  description: "sequential 256-byte DMA writes, second-stage-only 4-level, 256 MiB of 4 KiB pages (one new page every 16 TLPs)",
  records: STREAM_RECORDS,
  goal: { min: 90e6, source: "issue 9" },
  prepare(records) {
    const TLP = 256;
    const perPage = 4096 / TLP;
    const pagesLg2 = 16; // 65536 pages = 256 MiB
    if (records > (1 << pagesLg2) * perPage) throw new RangeError(`streaming: ${records} records overrun the 256 MiB window`);
    const { p, base, pa } = walkFormats["vtd-ss4"].build(pagesLg2, FUNCTIONAL);
    const requests = encodeTrace(p.core, records, (i) => ({ op: "MWr", sid: SID, addr: base + BigInt(i * TLP), len: TLP }));
    return {
      platform: p,
      requests,
      records,
      pa: (i) => pa(BigInt(i * TLP)),
      check(d) {
        const problems = new Problems();
        checkSecondStageOnly(problems, d, true);
        checkFunctional(problems, d);
        const pages = d.n / BigInt(perPage);
        problems.eq("iotlb.misses (one per page touched)", d.caches.iotlb.misses, pages);
        problems.eq("iotlb.hits (15 of every 16 TLPs)", d.caches.iotlb.hits, d.n - pages);
        return problems.list;
      },
    };
  },
};

/**
 * nested-walk: nested 4x4 (walkFormats["vtd-nested4x4"]), 256 MiB of GVA in 4 KiB FS pages to GPAs
 * the parent maps with 4 KiB SS pages; random pages; with caches or without (24 reads each).
 */
const nestedWalk = (cached: boolean) =>
  walkCase("vtd-nested4x4", { name: cached ? "nested-walk" : "nested-walk-nocache", size: "256 MiB", pagesLg2: 16, seed: 0x9a31, cached, ...(cached ? { goal: { min: 6e6, source: "issue 9" } } : {}) });

// ---- SMMUv3 (issue 10) ----------------------------------------------------------------------------
// The SMMUv3 platforms have the caches of their default preset, gem5-smmuv3 (src/config/timing.ts):
// a 2048-entry 4-way TLB, stage-1 walk caches of 4/28/348 entries (PML4E/PDPE/PDE slots) and
// stage-2 ones of 4/28/92, a 64-entry STE and CD cache.

/**
 * smmu-s1-hit: the iotlb-hit workload (32 pages of 4 KiB, random 64-byte accesses) on an SMMUv3
 * stage-1 domain: once warm, every translation hits the TLB (its first probe, the ASID's entries),
 * so no walk and no walk-cache lookup.
 */
const smmuS1Hit: Workload = {
  name: "smmu-s1-hit",
  description: "TLB hits: SMMUv3 stage-1 4K granule 4-level, 32 pages of 4 KiB (fit the TLB), random 64-byte accesses",
  goal: { min: 100e6, source: "issue 10" },
  prepare(records) {
    return randomWalk("smmu-s1-4k", 5, 0x1f1f, records, FUNCTIONAL, (p, d) => {
      checkFunctional(p, d);
      if (d.warm) {
        p.eq("iotlb.hits (warm: every translation)", d.caches.iotlb.hits, d.n);
        p.eq("walk reads (warm)", d.fsReads + d.ssReads, 0n);
      }
    });
  },
};

/**
 * smmu-s1-walk, smmu-s2-walk: ss4-walk's workload (random pages over 1 GiB) on each SMMUv3 stage;
 * the TLB's 2048 entries cover 0.8% of the 2^18 pages, so a warm pass hits it for about that share
 * of its translations (stage 1: half that share of the lookups, two per miss).
 */
const smmuS1Walk = walkCase("smmu-s1-4k", { name: "smmu-s1-walk", size: "1 GiB", pagesLg2: 18, seed: 0x55d4, cached: true, goal: { min: 20e6, source: "issue 10" } });
const smmuS2Walk = walkCase("smmu-s2-4k", { name: "smmu-s2-walk", size: "1 GiB", pagesLg2: 18, seed: 0x55d4, cached: true, goal: { min: 20e6, source: "issue 10" } });
/**
 * smmu-nested-walk: nested-walk's workload (256 MiB) on SMMUv3 nested 4x4; the TLB covers 3.1% of
 * the 2^16 pages (1.6% of the lookups, two per miss), hence the 5% bound on its warm hit rate.
 */
const smmuNestedWalk = walkCase("smmu-nested4x4", { name: "smmu-nested-walk", size: "256 MiB", pagesLg2: 16, seed: 0x9a31, cached: true, tlbHitMax: 0.05, goal: { min: 5e6, source: "issue 10" } });

/**
 * smmu-timed-walk: smmu-s1-walk with the timing model on (default parameters, back-to-back
 * arrivals): every transaction timed once, in the latency class of what its caches did (checkTimed
 * on the stage-1 walk caches).
 */
const smmuTimedWalk: Workload = {
  name: "smmu-timed-walk",
  description: "smmu-s1-walk with the timing model on (default parameters, back-to-back arrivals)",
  prepare(records) {
    return randomWalk("smmu-s1-4k", 18, 0x55d4, records, {}, (p, d, walks) => {
      checkTimed(p, d, walks, "fs");
      if (d.warm) p.rate("iotlb hit rate (warm)", d.caches.iotlb.hits, d.caches.iotlb.lookups, 0, 0.01);
    });
  },
};

// ---- ingest: trace files on disk ------------------------------------------------------------------

/** A temporary folder for the ingest cases' trace files, removed when the process exits. */
let traceDir: string | undefined;
function tempTraceDir(): string {
  if (!traceDir) {
    const d = (traceDir = mkdtempSync(join(tmpdir(), "iommu-emu-bench-")));
    process.on("exit", () => rmSync(d, { recursive: true, force: true }));
  }
  return traceDir;
}

/** 1 Mi TLPs: a 32 MiB binary trace, a 45 MiB text trace. */
const INGEST_RECORDS = 256 * RING_RECORDS;

/**
 * binary-ingest: the iotlb-hit workload (so that translation costs least and ingest shows) as a
 * binary trace file on disk, replayed end to end as `iommu-emu run` replays it: fs.readSync of 1 MiB
 * chunks (the page cache), records checked and block-copied into the request ring, arrival times
 * written, one core call per 4096 records. The figure is bytes of file per second (goal G5, >= 1
 * GB/s); with 32-byte records, translations/s = bytes/s / 32 (the runner prints both). The
 * correctness pass checks the same counter identities as iotlb-hit and the output addresses.
 */
const binaryIngest: Workload = {
  name: "binary-ingest",
  description: "binary trace file on disk (32-byte records, iotlb-hit workload) -> request ring -> core, end to end, functional",
  records: INGEST_RECORDS,
  unit: "bytes/s",
  goal: { min: 1.5e9, source: "issue 9 (G5 asked 1 GB/s)" },
  prepare(records) {
    const prepared = randomWalk("vtd-ss4", 5, 0x1f1f, records, FUNCTIONAL, checkFunctional);
    // The request records as binary TLP records (no time: unit 0, TIME 0).
    const file = join(tempTraceDir(), "binary-ingest.itb");
    const w = new BinaryTraceWriter(file);
    const bin = new Uint32Array(records * RECORD_WORDS);
    for (let i = 0; i < records; i++) requestRecord(prepared.requests, i, bin, i * RECORD_WORDS);
    w.writeTlpRecords(bin, records);
    w.commit();
    return { ...prepared, ingest: replayFile(prepared.platform as VtdPlatform /* vtd-ss4 */, file, (f) => new BinaryTraceReader(f)) };
  },
};

/**
 * One end-to-end replay of trace `file` per pass, as `iommu-emu run` replays it (the reader
 * `open` makes, replayReader, one driver kept across passes); `bytes` is the file's size.
 */
function replayFile(platform: VtdPlatform, file: string, open: (file: string) => BinaryTraceReader | TextTraceReader, driver = new VtdDriver(platform)): NonNullable<Prepared["ingest"]> {
  return {
    bytes: statSync(file).size,
    pass() {
      const reader = open(file);
      try {
        // the runner's check decodes the last ring's results after a pass
        replayReader(platform, reader, undefined, { driver, resultsRead: true });
      } finally {
        reader.close();
      }
    },
  };
}

/**
 * Writes `records` request records as a text trace v1 file of canonical TLP lines, each with the
 * cycle time of its index (`@i`) when `times`, else none.
 */
function writeTextTrace(file: string, req: Uint32Array, records: number, times: boolean): void {
  const lines: string[] = [];
  for (let i = 0; i < records; i++) lines.push(formatTlp({ ...decodeRequest(req, i, 0), ...(times ? { time: { value: i, unit: "cycles" as const } } : {}) }));
  writeFileSync(file, lines.join("\n") + "\n");
}

/**
 * text-parse: a text trace v1 file on disk (canonical TLP lines with cycle times, e.g.
 * `@1234 MWr 01:00.0 addr=0x100013040 len=64`, about 44 bytes each) read in 1 MiB chunks and
 * parsed into request records (the byte-level parser of src/trace/stream.ts), no translation.
 * Bytes of text per second (goal G5b, >= 300 MB/s); the check compares every record with the
 * binary encoding of the same requests.
 */
const textParse: Workload = {
  name: "text-parse",
  description: "text trace v1 file on disk (44-byte TLP lines with cycle times) -> request records, byte-level parser, no translation",
  records: INGEST_RECORDS,
  unit: "bytes/s",
  goal: { min: 300e6, source: "G5b, shared/notes/performance.md: text trace ingest" },
  prepare(records) {
    const prepared = randomWalk("vtd-ss4", 5, 0x7e7e, records, FUNCTIONAL, () => {});
    const req = prepared.requests;
    const file = join(tempTraceDir(), "text-parse.trace");
    writeTextTrace(file, req, records, true);
    const ring = new Uint32Array(RING_RECORDS * RECORD_WORDS);
    const lineNos = new Float64Array(RING_RECORDS);
    const expected = new Uint32Array(RECORD_WORDS);
    /** One pass; `each` sees every batch (the check), the timed pass nothing. */
    const read = (each?: (at: number, n: number) => void) => {
      const r = new TextTraceReader(file);
      let at = 0;
      try {
        while (!r.done) {
          const n = r.readTlps(ring, lineNos, RING_RECORDS);
          each?.(at, n);
          at += n;
          if (n === 0) r.readDriverEvent();
        }
      } finally {
        r.close();
      }
      return at;
    };
    return {
      ...prepared,
      check: () => [],
      ingest: {
        bytes: statSync(file).size,
        pass: () => void read(),
        check() {
          const problems: string[] = [];
          const total = read((at, n) => {
            for (let k = 0; k < n && problems.length < 8; k++) {
              const o = k * RECORD_WORDS;
              requestRecord(req, at + k, expected, 0);
              const same = [0, 1, 4, 5, 6].every((j) => ring[o + j] === expected[j]) && (ring[o + 7]! & REQ_FLAGS_MASK) === expected[7];
              const time = ring[o + 2] === ((at + k) >>> 0) && ring[o + 3] === 0 && ring[o + 7]! >>> 12 === 1;
              if (!same || !time) problems.push(`record ${at + k}: [${[...ring.subarray(o, o + RECORD_WORDS)].map((x) => x.toString(16))}], expected [${[...expected].map((x) => x.toString(16))}] with time ${at + k}`);
            }
          });
          if (total !== records) problems.push(`${total} records parsed, expected ${records}`);
          return problems;
        },
      },
    };
  },
};

/**
 * text-replay: the iotlb-hit workload as a text trace v1 file on disk (canonical TLP lines without
 * times, 36 bytes each) replayed end to end as `iommu-emu run` replays it: the byte-level
 * parser into the request ring, then the core. The figure is TLPs per second; the correctness pass
 * checks the same counter identities as iotlb-hit and the output addresses.
 */
const textReplay: Workload = {
  name: "text-replay",
  description: "text trace v1 file on disk (TLP lines without times, iotlb-hit workload) -> parser -> request ring -> core, end to end, functional",
  records: INGEST_RECORDS,
  prepare(records) {
    const prepared = randomWalk("vtd-ss4", 5, 0x1f1f, records, FUNCTIONAL, checkFunctional);
    const file = join(tempTraceDir(), "text-replay.trace");
    writeTextTrace(file, prepared.requests, records, false);
    return { ...prepared, ingest: replayFile(prepared.platform as VtdPlatform /* vtd-ss4 */, file, (f) => new TextTraceReader(f)) };
  },
};

/**
 * large-window: TLPs in the generated trace, 2^20 (one per page of the window on average; a 32 MiB
 * binary file). 4 Mi was tried: its set-up (generation, conversion, the two checked passes) took
 * 30 s on the 2-vCPU VM at load 8, and each pass 4 times as long.
 */
const LARGE_WINDOW_RECORDS = 256 * RING_RECORDS;

/** The large-window trace, generated and converted once per run (both cases replay it). */
let largeWindowFiles: { scenario: string; binary: string; records: number } | undefined;
function largeWindowTrace(records: number): { scenario: string; binary: string; records: number } {
  if (largeWindowFiles?.records === records) return largeWindowFiles;
  const dir = tempTraceDir();
  const scenario = join(dir, "large-window.json");
  const binary = join(dir, "large-window.itb");
  // `iommu-emu gen random-window --window 4G --page 4K --tlps N -o large-window.json` (seed 1, 64-byte TLPs)
  const gen = generate("random-window", { window: "4G", page: "4K", levels: 4, tlps: records, seed: 1 }, scenario);
  // `iommu-emu convert large-window.trace large-window.itb`
  const conv = convertCommand(gen.trace, binary);
  if (gen.tlps !== records || conv.tlps !== records || conv.driverEvents !== 0) throw new Error(`large-window: generated ${gen.tlps} TLPs, converted ${conv.tlps} TLPs and ${conv.driverEvents} driver events, expected ${records} TLPs only`);
  return (largeWindowFiles = { scenario, binary, records });
}

/**
 * Every record of binary trace `file` (`records` TLPs, no driver events) in the request-ring layout,
 * as the replay's request writer writes them (arrival times at 1 GHz, each ring from its own base).
 */
function readBinaryRecords(file: string, records: number): Uint32Array {
  const out = new Uint32Array(records * REQ_WORDS);
  const r = new BinaryTraceReader(file);
  const w = new RequestWriter(new ArrivalClock({ clockMHz: 1000, arrival: "trace", injectionRate: 0 }), (m, line) => r.errorAt(m, line));
  try {
    let at = 0;
    while (!r.done && at < records) {
      w.begin(out.subarray(at * REQ_WORDS, Math.min(at + RING_RECORDS, records) * REQ_WORDS), at, Infinity);
      r.readRequests(w);
      w.end();
      if (w.n === 0 && r.readDriverEvent() !== undefined) throw new Error(`${file}: a driver event at TLP ${at}, expected TLPs only`);
      at += w.n;
    }
    if (at !== records) throw new Error(`${file}: ${at} TLPs, expected ${records}`);
  } finally {
    r.close();
  }
  return out;
}

/**
 * large-window / large-window-timed: `gen random-window` over a 4 GiB window mapped with 2^20
 * pages of 4 KiB (second stage, 4 levels; IOVA WINDOW_IOVA + x -> PA WINDOW_PA + x), 2^20
 * uniformly random 64-byte TLPs, converted to a binary trace file; the platform is built from the
 * generated scenario (loadScenario: functional, or the timing model with its defaults), and each
 * pass replays the binary file end to end as binary-ingest does. The figure is TLPs per second.
 * Almost every TLP misses the IOTLB and walks (warm hit rate under 1%).
 */
function largeWindow(timed: boolean): Workload {
  return {
    name: timed ? "large-window-timed" : "large-window",
    description: `gen random-window, 4 GiB window of 4 KiB pages (2^20), second-stage-only 4-level, random 64-byte TLPs, binary trace file replayed end to end, ${timed ? "timing model on (default parameters)" : "functional"}`,
    records: LARGE_WINDOW_RECORDS,
    ...(timed ? {} : { goal: { min: 10e6, source: "issue 9" } }),
    prepare(records) {
      const files = largeWindowTrace(records);
      const loaded = loadScenario(files.scenario, { functional: !timed });
      const platform = loaded.platform as VtdPlatform;
      const requests = readBinaryRecords(files.binary, records);
      const driver = new VtdDriver(platform, { ...loaded.driver, limits: loaded.limits });
      return {
        platform,
        requests,
        records,
        pa(i) {
          const addr = (BigInt(requests[i * REQ_WORDS + 1]!) << 32n) | BigInt(requests[i * REQ_WORDS]!);
          return WINDOW_PA + (addr - WINDOW_IOVA);
        },
        check(d) {
          const p = new Problems();
          const walks = checkSecondStageOnly(p, d, true);
          if (timed) checkTimed(p, d, walks);
          else checkFunctional(p, d);
          if (d.warm) p.rate("iotlb hit rate (warm)", d.caches.iotlb.hits, d.caches.iotlb.lookups, 0, 0.01);
          return p.list;
        },
        ingest: replayFile(platform, files.binary, (f) => new BinaryTraceReader(f), driver),
      };
    },
  };
}

export const workloads: readonly Workload[] = [
  iotlbHit,
  streaming,
  ss4WalkPwc,
  ss4Walk(true),
  ss4WalkNoPwc,
  ss4WalkNoPde,
  ss4Walk(false),
  fs4Walk,
  nestedWalk(true),
  nestedWalk(false),
  timedWalk(false),
  timedWalk(true),
  binaryIngest,
  textParse,
  textReplay,
  largeWindow(false),
  largeWindow(true),
  smmuS1Hit,
  smmuS1Walk,
  smmuS2Walk,
  smmuNestedWalk,
  smmuTimedWalk,
];
