/**
 * Benchmark workloads. Each entry of `workloads` builds one platform (page tables written once by
 * the builder, the way a driver would), pre-encodes a request trace in the exact request-ring
 * layout, and states what one pass over that trace must do (the counter check run before timing).
 *
 * Adding a case = adding one entry to `workloads`.
 */
import { VtdPlatform } from "../src/platform.ts";
import type { Core, Request } from "../src/core/core.ts";
import type { Domain } from "../src/guest/vtd-builder.ts";
import { RING_RECORDS, REQ_SIZE } from "../src/core/abi.ts";
import { mulberry32 } from "../src/util/prng.ts";

/** 32-bit words per request record. */
export const REQ_WORDS = REQ_SIZE / 4;

const PAGE_LG2 = 12;
const PAGE = 1n << BigInt(PAGE_LG2);

/** What one pass over the trace must show in the counters (deltas), per request. */
export interface Expect {
  /** First-stage walk reads per request (Core.walkReads().fs, all levels). */
  fsReadsPerRequest: number;
  /** Second-stage walk reads per request (Core.walkReads().ss, all levels). */
  ssReadsPerRequest: number;
  /** The output address request `i` of the trace must translate to (spot-checked). */
  pa(i: number): bigint;
}

export interface Prepared {
  platform: VtdPlatform;
  /** `records` request records, REQ_WORDS words each, exactly as the request ring holds them. */
  requests: Uint32Array;
  records: number;
  expect: Expect;
}

export interface Workload {
  name: string;
  description: string;
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

/** Random MRd/MWr of 64 bytes at a 64-byte-aligned offset of a uniformly random page. */
function randomAccesses(records: number, pagesLg2: number, seed: number) {
  const rand = mulberry32(seed);
  const page = new Uint32Array(records);
  const offset = new Uint16Array(records);
  const write = new Uint8Array(records);
  for (let i = 0; i < records; i++) {
    const r = rand();
    page[i] = r >>> (32 - pagesLg2);
    offset[i] = (r & 63) << 6;
    write[i] = (r >>> 6) & 1;
  }
  return { page, offset, write };
}

const SID = 0x0100; // bus 1, device 0, function 0
const DATA_PA = 0x40_0000_0000n; // host-physical data pages (256 GiB up; far from the tables and 0xFEEx_xxxx)

// ---- workloads -------------------------------------------------------------------------------------

/** ss4-walk: second stage only (PGTT=010), 4 levels, 1 GiB of IOVA in 4 KiB pages, random pages. */
const ss4Walk: Workload = {
  name: "ss4-walk",
  description: "second-stage-only 4-level walk, 1 GiB mapped with 4 KiB pages, uniformly random pages, no PASID",
  prepare(records) {
    const pagesLg2 = 18; // 262144 pages = 1 GiB
    const pages = 1 << pagesLg2;
    const IOVA = 0x1_0000_0000n;
    const dataPage = permutation(pagesLg2, 0x9e3779b1, 0x2545f);
    const order = permutation(pagesLg2, 0x6c8e9cf5, 0x1234);

    const p = new VtdPlatform();
    const d = p.builder.createDomain({ id: 1, type: "ss", levels: 4 });
    mapPages(p, d, pages, order, (v) => IOVA + (BigInt(v) << 12n), (v) => DATA_PA + (BigInt(dataPage(v)) << 12n));
    p.builder.attach({ sid: SID, domain: 1 });
    p.enable();

    const a = randomAccesses(records, pagesLg2, 0x55d4);
    const requests = encodeTrace(p.core, records, (i) => ({
      op: a.write[i] ? "MWr" : "MRd",
      sid: SID,
      addr: IOVA + (BigInt(a.page[i]!) << 12n) + BigInt(a.offset[i]!),
      len: 64,
    }));
    return {
      platform: p,
      requests,
      records,
      expect: {
        fsReadsPerRequest: 0,
        ssReadsPerRequest: 4,
        pa: (i) => DATA_PA + (BigInt(dataPage(a.page[i]!)) << 12n) + BigInt(a.offset[i]!),
      },
    };
  },
};

/**
 * nested-walk: nested (PGTT=011), a 4-level first stage over a 4-level second-stage parent; 256 MiB
 * of GVA in 4 KiB FS pages to GPAs the parent maps with 4 KiB SS pages; random pages. Each
 * translation reads 4 FS entries, each through a 4-read SS walk of its GPA, plus the final 4-read SS
 * walk: 24 reads.
 */
const nestedWalk: Workload = {
  name: "nested-walk",
  description: "nested 4-level FS over 4-level SS, 256 MiB mapped with 4 KiB pages at both stages, uniformly random pages, no PASID",
  prepare(records) {
    const pagesLg2 = 16; // 65536 pages = 256 MiB
    const pages = 1 << pagesLg2;
    const GVA = 0x7f00_0000_0000n; // canonical (bit 47 clear), upper end of the lower half
    const GPA = 0x1_0000_0000n; // guest-physical data window (FS tables sit at GPA = PA near 0x1000_0000)
    const gpaPage = permutation(pagesLg2, 0x9e3779b1, 0x2545f); // FS: GVA page -> GPA page
    const paPage = permutation(pagesLg2, 0x85ebca6b, 0x7f4a); // SS: GPA page -> PA page
    const orderFs = permutation(pagesLg2, 0x6c8e9cf5, 0x1234);
    const orderSs = permutation(pagesLg2, 0xc2b2ae35, 0x0777);

    const p = new VtdPlatform();
    const parent = p.builder.createDomain({ id: 1, type: "ss", levels: 4 });
    const d = p.builder.createDomain({ id: 2, type: "nested", levels: 4, parent: 1 });
    mapPages(p, parent, pages, orderSs, (g) => GPA + (BigInt(g) << 12n), (g) => DATA_PA + (BigInt(paPage(g)) << 12n));
    mapPages(p, d, pages, orderFs, (v) => GVA + (BigInt(v) << 12n), (v) => GPA + (BigInt(gpaPage(v)) << 12n));
    p.builder.attach({ sid: SID, domain: 2 });
    p.enable();

    const a = randomAccesses(records, pagesLg2, 0x9a31);
    const requests = encodeTrace(p.core, records, (i) => ({
      op: a.write[i] ? "MWr" : "MRd",
      sid: SID,
      addr: GVA + (BigInt(a.page[i]!) << 12n) + BigInt(a.offset[i]!),
      len: 64,
    }));
    return {
      platform: p,
      requests,
      records,
      expect: {
        fsReadsPerRequest: 4,
        ssReadsPerRequest: 4 * 4 + 4,
        pa: (i) => DATA_PA + (BigInt(paPage(gpaPage(a.page[i]!))) << 12n) + BigInt(a.offset[i]!),
      },
    };
  },
};

export const workloads: readonly Workload[] = [ss4Walk, nestedWalk];
