/**
 * The VT-d generator of the core fuzzer. A case is a builder-made, valid platform (legacy or
 * scalable mode; second-stage, first-stage, nested or pass-through; 4 or 5 levels; 4 KiB, 2 MiB or
 * 1 GiB pages; caches and timing on or off; with or without ATS, PASIDs and a queued-invalidation
 * ring), then random capability and root-table registers, and steps that mutate it and send DMA:
 * - memory: a qword of a structure the walk reads (root, context, PASID directory and table
 *   entries, every page-table entry on the walk of a mapped address), of any table page, or at a
 *   random address, flipped bit by bit or replaced;
 * - registers: a software write (GCMD, IQA, IQT, FSTS, ICS, CCMD, IOTLB_REG, IVA) of a random
 *   value, with its side effects (an IQT write processes the queue wherever IQA points);
 * - descriptors: random 128- or 256-bit invalidation descriptors submitted through the ring
 *   (src/arch/vtd/invalidation.ts), sometimes recovering a stopped queue as Linux does;
 * - DMA: a batch of requests with random or attached source IDs, PASIDs, addresses near the
 *   mappings or at the edges of the address space, lengths and TLP flags.
 * Rules (validate): status ok, fault, interrupt or blocked; a fault's code is one of abi's
 * vtdFaults. Work: structure and table reads per request are bounded (maxReadsPerRequest).
 */
import * as fc from "fast-check";
import { createPlatform, type VtdPlatform } from "../../../src/platform.ts";
import type { CoreBuild, Request, Result } from "../../../src/core/core.ts";
import { RegId, vtdFaultByCode } from "../../../src/core/abi.ts";
import { InvalidationQueue, desc, type Descriptor } from "../../../src/arch/vtd/invalidation.ts";
import { DEFAULT_CAP, DEFAULT_ECAP } from "../../../src/arch/vtd/registers.ts";
import type { Domain } from "../../../src/arch/vtd/builder.ts";
import type { ArchGenerator, Execution, Outcome } from "./types.ts";

// ---- the case ---------------------------------------------------------------------------------------

export interface VtdBase {
  mode: "scalable" | "legacy";
  type: "ss" | "fs" | "nested" | "pt";
  levels: 4 | 5;
  /** 0: 4 KiB, 1: 2 MiB, 2: 1 GiB leaves. */
  page: 0 | 1 | 2;
  caches: boolean;
  timing: boolean;
  ats: boolean;
  pasid: boolean;
  qi: boolean;
  physAddrBits: 52 | 48 | 39;
}

/** A 64-bit value: a known-good one with bits flipped, or any value. */
export type Value64 = { flip: number[] } | { raw: bigint };

export type MemTarget = { slot: number } | { table: number } | { raw: bigint };

export type Step =
  | { kind: "mem"; at: MemTarget; value: Value64 }
  | { kind: "reg"; name: keyof typeof RegId; value: bigint }
  | { kind: "desc"; descs: bigint[][]; recover: boolean }
  | { kind: "dma"; reqs: ReqGen[] };

export interface ReqGen {
  op: "MRd" | "MWr" | "ATS";
  /** -1, -2: the attached devices; else a raw source ID (any u32). */
  sid: number;
  /** undefined: none; -1: the attached PASID; else raw. */
  pasid?: number;
  addr: { near: number; offset: bigint } | { edge: number } | { raw: bigint };
  len: number;
  flags: number;
  /** Cycles after the previous request (arrival times never go back). */
  gap: number;
}

export interface VtdCase {
  base: VtdBase;
  cap?: Value64;
  ecap?: Value64;
  rtaddr?: Value64;
  steps: Step[];
}

const PAGE_LG2 = [12, 21, 30] as const;
const IOVA = 0x4000_0000n;
const PA = 0x8000_0000n;
const HPA = 0x2_0000_0000n;
const RO_IOVA = 0x7f00_0000_0000n;
const RO_PA = 0x3_0000_0000n;
const SID_A = 0x0100;
const SID_B = 0x0188; // upper context table in scalable mode
const PASID = 5;
/** Addresses at the edges: zero, the interrupt range, the top of every address width, the very top. */
const EDGES = [0n, 0xfee0_0000n, 0xfeef_fffcn, (1n << 39n) - 4n, (1n << 48n) - 4n, 1n << 47n, (1n << 52n) - 4n, (1n << 57n) - 4n, (1n << 64n) - 4n, 0xffff_8000_0000_0000n];
const REG_NAMES = Object.keys(RegId) as (keyof typeof RegId)[];

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const value64: fc.Arbitrary<Value64> = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.nat({ max: 63 }), { minLength: 1, maxLength: 3 }).map((flip) => ({ flip })) },
  { weight: 1, arbitrary: u64.map((raw) => ({ raw })) },
);

const reqGen: fc.Arbitrary<ReqGen> = fc.record(
  {
    op: fc.constantFrom("MRd", "MWr", "ATS"),
    sid: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(-1, -2) }, { weight: 1, arbitrary: fc.oneof(fc.nat({ max: 0xffff }), fc.nat()) }),
    pasid: fc.option(fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.oneof(fc.nat({ max: 0xfffff }), fc.nat()) }), { nil: undefined }),
    addr: fc.oneof(
      { weight: 4, arbitrary: fc.record({ near: fc.nat({ max: 2 }), offset: fc.bigInt({ min: -4096n, max: 1n << 31n }) }) },
      { weight: 1, arbitrary: fc.record({ edge: fc.nat({ max: EDGES.length - 1 }) }) },
      { weight: 1, arbitrary: fc.record({ raw: u64 }) },
    ),
    len: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(4, 8, 64) }, { weight: 1, arbitrary: fc.nat({ max: 8192 }) }),
    flags: fc.nat({ max: 0x7f }),
    gap: fc.oneof(fc.constant(0), fc.nat({ max: 2000 })),
  },
  { requiredKeys: ["op", "sid", "addr", "len", "flags", "gap"] },
);

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("mem" as const),
      at: fc.oneof(
        { weight: 5, arbitrary: fc.record({ slot: fc.nat() }) },
        { weight: 2, arbitrary: fc.record({ table: fc.nat() }) },
        { weight: 1, arbitrary: fc.record({ raw: u64 }) },
      ),
      value: value64,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reg" as const), name: fc.constantFrom(...REG_NAMES), value: u64 }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("desc" as const),
      descs: fc.array(fc.array(fc.oneof(u64, fc.bigInt({ min: 0n, max: 0xfffn })), { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 4 }),
      recover: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("dma" as const), reqs: fc.array(reqGen, { minLength: 1, maxLength: 64, size: "large" }) }) },
);

export const vtdCase: fc.Arbitrary<VtdCase> = fc.record(
  {
    base: fc.record({
      mode: fc.constantFrom("scalable", "legacy"),
      type: fc.constantFrom("ss", "fs", "nested", "pt"),
      levels: fc.constantFrom(4, 5),
      page: fc.constantFrom(0, 1, 2),
      caches: fc.boolean(),
      timing: fc.boolean(),
      ats: fc.boolean(),
      pasid: fc.boolean(),
      qi: fc.boolean(),
      physAddrBits: fc.constantFrom(52, 48, 39),
    }),
    cap: value64,
    ecap: value64,
    rtaddr: value64,
    // every case ends with DMA, so each mutation is seen by at least one batch
    steps: fc.tuple(fc.array(step, { maxLength: 8 }), step.filter((s) => s.kind === "dma")).map(([a, b]) => [...a, b]),
  },
  { requiredKeys: ["base", "steps"] },
);

// ---- the platform -----------------------------------------------------------------------------------

function apply(v: Value64 | undefined, good: bigint): bigint {
  if (v === undefined) return good;
  if ("raw" in v) return v.raw;
  let x = good;
  for (const b of v.flip) x ^= 1n << BigInt(b);
  return x;
}

interface Built {
  p: VtdPlatform;
  queue?: InvalidationQueue;
  /** Structure and page-table qwords a walk of a mapped address reads. */
  slots: bigint[];
  near: bigint[];
}

/** The domain kind a base can have: legacy mode has second-stage and pass-through only. */
function domainType(b: VtdBase): VtdBase["type"] {
  return b.mode === "legacy" && (b.type === "fs" || b.type === "nested") ? "ss" : b.type;
}

function build(b: VtdBase, build: CoreBuild): Built {
  const p = createPlatform("vtd", { build, mode: b.mode, caches: b.caches ? {} : "off", timing: b.timing ? {} : false, physAddrBits: b.physAddrBits });
  const bl = p.builder;
  const type = domainType(b);
  const size = 1n << BigInt(PAGE_LG2[b.page]);
  let d: Domain;
  if (type === "nested") {
    const parent = bl.createDomain({ id: 2, type: "ss", levels: 4 });
    d = bl.createDomain({ id: 1, type: "nested", parent: 2, levels: b.levels });
    mapOr4K(p, d, IOVA, PA, 2n * size, b.page);
    bl.map(parent, PA, HPA, 2n * size);
    bl.map(parent, RO_PA, RO_PA, 0x1000n);
  } else {
    d = bl.createDomain({ id: 1, type, levels: b.levels });
    if (type !== "pt") mapOr4K(p, d, IOVA, PA, 2n * size, b.page);
  }
  if (type !== "pt") bl.map(d, RO_IOVA, RO_PA, 0x1000n, { write: false });
  bl.attach({ sid: SID_A, domain: 1, ats: b.ats });
  if (b.mode === "scalable" && b.pasid) bl.attach({ sid: SID_A, pasid: PASID, domain: 1 });
  bl.attach({ sid: SID_B, domain: 1 });
  p.enable();
  const queue = b.qi ? new InvalidationQueue(p.core, p.alloc, b.mode === "scalable") : undefined;
  const slots = structureSlots(p, d, b);
  return { p, ...(queue ? { queue } : {}), slots, near: [IOVA, IOVA + size, RO_IOVA] };
}

/** Maps with the base's page size; a size the unit does not offer (CAP) falls back to 4 KiB pages. */
function mapOr4K(p: VtdPlatform, d: Domain, iova: bigint, pa: bigint, bytes: bigint, page: number): void {
  try {
    p.builder.map(d, iova, pa, bytes, { pageSize: 1n << BigInt(PAGE_LG2[page]!) });
  } catch (e) {
    if (!(e instanceof RangeError) || page === 0) throw e;
    p.builder.map(d, iova, pa, bytes);
  }
}

const ADDR = ((1n << 52n) - 1n) & ~0xfffn;

/** Every qword a walk for the attached devices reads: root, context, PASID directory and entry, PTEs. */
function structureSlots(p: VtdPlatform, d: Domain, b: VtdBase): bigint[] {
  const core = p.core;
  const q = (pa: bigint) => core.read64(pa) ?? 0n;
  const out: bigint[] = [];
  const sm = b.mode === "scalable";
  for (const sid of [SID_A, SID_B]) {
    const bus = sid >> 8, devfn = sid & 0xff;
    const root = p.builder.root() + BigInt(bus * 16 + (sm && devfn >= 0x80 ? 8 : 0));
    out.push(root);
    const ctx = (q(root) & ADDR) + BigInt(sm ? (devfn & 0x7f) * 32 : devfn * 16);
    out.push(ctx, ctx + 8n);
    if (!sm) continue;
    out.push(ctx + 16n, ctx + 24n);
    for (const pasid of [0, PASID]) {
      const dir = (q(ctx) & ADDR) + BigInt((pasid >> 6) * 8);
      out.push(dir);
      const entry = (q(dir) & ADDR) + BigInt((pasid & 63) * 64);
      for (let i = 0n; i < 8n; i++) out.push(entry + 8n * i);
    }
  }
  if (d.type !== "pt") {
    const fs = d.type === "fs" || d.type === "nested";
    for (const va of [IOVA, RO_IOVA]) {
      let table = d.root;
      for (let level = d.levels - 1; level >= 0; level--) {
        const slot = table + ((va >> BigInt(12 + 9 * level)) & 511n) * 8n;
        out.push(slot);
        const e = q(slot);
        if (!(fs ? e & 1n : e & 3n) || level === 0 || e & (1n << 7n)) break;
        table = e & ADDR;
        if (d.type === "nested") break; // a GPA: its host page is the parent's business
      }
    }
  }
  return [...new Set(out)].filter((a) => core.read64(a) !== undefined);
}

// ---- running a case -----------------------------------------------------------------------------

const READ_COUNTERS = ["rootReads", "contextReads", "pasidDirReads", "pasidTableReads"] as const;

function tableReads(p: VtdPlatform): number {
  const c = p.core.counters();
  const w = p.core.walkReads();
  let n = 0;
  for (const k of READ_COUNTERS) n += Number(c[k]);
  for (const v of [...w.fs, ...w.ss]) n += Number(v);
  return n;
}

function request(g: ReqGen, near: bigint[], time: bigint): Request {
  const sid = g.sid === -1 ? SID_A : g.sid === -2 ? SID_B : g.sid;
  const addr = "near" in g.addr ? BigInt.asUintN(64, near[g.addr.near % near.length]! + g.addr.offset) : "edge" in g.addr ? EDGES[g.addr.edge]! : g.addr.raw;
  const r: Request = { op: g.op, sid, addr, len: g.len, time };
  if (g.pasid !== undefined) r.pasid = g.pasid === -1 ? PASID : g.pasid;
  const f = g.flags;
  if (f & 1) r.priv = true;
  if (f & 2) r.exe = true;
  if (f & 4) r.ns = true;
  if (f & 8) r.ro = true;
  if (f & 16) r.ido = true;
  if (f & 32) r.translated = true;
  if (f & 64) r.nw = true;
  return r;
}

function outcome(r: Result): Outcome {
  const o: Outcome = { status: r.status, reads: r.reads, detail: r };
  if (r.fault) o.code = r.fault.code;
  return o;
}

function execute(c: VtdCase, buildName: CoreBuild): Execution {
  const { p, queue, slots, near } = build(c.base, buildName);
  const core = p.core;
  core.setRegister("CAP", apply(c.cap, DEFAULT_CAP));
  core.setRegister("ECAP", apply(c.ecap, DEFAULT_ECAP));
  core.setRegister("RTADDR", apply(c.rtaddr, core.getRegister("RTADDR")));
  const outcomes: Outcome[] = [];
  const batches: Execution["batches"] = [];
  const before = core.counters();
  let time = 0n;
  let regWrites = 0;
  let submitted = 0;
  for (const s of c.steps) {
    switch (s.kind) {
      case "mem": {
        const at =
          "slot" in s.at
            ? slots[s.at.slot % slots.length]!
            : "table" in s.at
              ? p.alloc.base + BigInt(s.at.table % Math.max(1, Number(p.alloc.used / 8n))) * 8n
              : s.at.raw & ((1n << 52n) - 8n);
        core.write64(at, apply(s.value, core.read64(at) ?? 0n));
        break;
      }
      case "reg":
        core.writeRegister(s.name, s.value);
        regWrites++;
        break;
      case "desc": {
        if (!queue) break;
        const descs = s.descs.map((q) => (queue.wide ? [q[0], q[1], q[2], q[3]] : [q[0], q[1]]) as unknown as Descriptor);
        if (s.recover && queue.error) queue.replaceHeadAndResume(desc.wait());
        queue.submit(descs);
        submitted += descs.length + 1;
        break;
      }
      case "dma": {
        const reqs = s.reqs.map((g) => request(g, near, (time += BigInt(g.gap))));
        const r0 = tableReads(p);
        const t0 = performance.now();
        const results = core.translate(reqs);
        batches.push({ requests: reqs.length, reads: tableReads(p) - r0, ms: performance.now() - t0 });
        for (const r of results) outcomes.push(outcome(r));
        break;
      }
    }
  }
  const after = core.counters();
  return { outcomes, batches, work: { invDescriptors: Number(after.invDescriptors - before.invDescriptors), regWrites, submitted } };
}

/** Descriptors one IQT write may process: the largest queue (IQA.QS = 7: 2^7 pages of 128-bit descriptors). */
const MAX_QUEUE_DESCRIPTORS = (4096 << 7) / 16;

/**
 * Reads one request may make: nested translation with 5-level first and second stages reads 5 FS
 * entries and walks the second stage (5 reads) for each of the 5 FS table pointers and the final
 * address, 5 + 6 x 5 = 35; plus root, context, PASID-directory and PASID-table entries (4). A
 * translated request whose device has no translation sends an ATS request first: twice that.
 */
export const VTD_MAX_READS = 2 * (5 + 6 * 5 + 4);

export function validateVtd(o: Outcome): string | undefined {
  if (!["ok", "fault", "interrupt", "blocked"].includes(o.status)) return `status ${o.status} is not ok, fault, interrupt or blocked`;
  if (o.status === "fault" && (o.code === undefined || !vtdFaultByCode.has(o.code))) return `fault code 0x${(o.code ?? -1).toString(16)} is not a VT-d fault reason the model lists (abi vtdFaults)`;
  if (o.status !== "fault" && o.code !== undefined) return `status ${o.status} with a fault code`;
  return undefined;
}

export const vtdGenerator: ArchGenerator<VtdCase> = {
  arch: "vtd",
  arbitrary: vtdCase,
  execute,
  validate: validateVtd,
  maxReadsPerRequest: VTD_MAX_READS,
  workBound: (c) => ({
    invDescriptors: c.steps.reduce((n, s) => n + (s.kind === "desc" ? s.descs.length + 2 : s.kind === "reg" ? MAX_QUEUE_DESCRIPTORS + 1 : 0), 0),
  }),
};
