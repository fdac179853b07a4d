// NOT ARCHITECTURAL: the cycle model. It turns the events one request emitted (events.ts) into an
// issue (arrival) cycle, a completion cycle and a latency, given the resources of the IOMMU:
//
//   translation slots  how many translations may be outstanding; a request waits for a free slot
//                      (back-pressure, counted as stall cycles)
//   cache ports        each cache serves `ports` lookups per cycle (pipelined: a port is busy one
//                      cycle per lookup), each lookup takes the cache's `latency`; a calendar of
//                      the last CAL_CYCLES cycles per cache lets lookups come in any time order
//   walker slots       how many page walks may be in flight; a walk holds its slot from its start
//                      to its last table read (not through an in-order completion wait)
//   link               SMMUv3: each crossing between the device interface and the SMMU (EV_LINK)
//   memory             each table read costs the read latency of its level (or the structure read
//                      latency), each A/D write the write latency, in sequence within a request
//   coalescing         a request that hits an IOTLB entry whose filling walk has not completed yet
//                      waits for that walk (on), or walks again at the same cost (off)
//   completion order   in order per requester (source ID): a request completes no earlier than the
//                      previous one of the same requester; or out of order
//
// Requests are scheduled greedily in trace order (arrival times must not decrease), which is how a
// FIFO semaphore in gem5's SMMUv3 model hands out slots. Invalidation work is accounted in cycles
// (descriptor fetches, entries removed, wait completions) but does not hold translations back.
import {
  CTRL_BASE, CTRL_TIMING, CTRL_REQ_TIME_BASE, CTRL_CACHES, CACHE_CFG_SIZE, CCFG_LATENCY, CCFG_PORTS, CACHE_COUNT, CACHE_IOTLB, CACHE_MICRO_TLB, CACHE_PWC_FS_PDE,
  TCFG_ENABLED, TCFG_WALKER_SLOTS, TCFG_XLATE_SLOTS, TCFG_COALESCE, TCFG_IN_ORDER, TCFG_STRUCT_READ_LAT, TCFG_READ_LAT,
  TCFG_AD_WRITE_LAT, TCFG_INV_FETCH, TCFG_INV_PER_ENTRY, TCFG_INV_WAIT, TCFG_LINK_LAT, TIMING_STATS_BYTES, TIMING_CLASS_SIZE, HIST_CLASS_BYTES, TST_FIRST_ARRIVAL,
  TST_LAST_COMPLETION, TST_STALL_CYCLES, TST_PEAK_OUTSTANDING, TST_WALKER_BUSY, TST_TIMED, TST_INV_CYCLES, TST_COALESCED,
  TST_REWALKS, TST_CLASSES, TST_HIST, REQ_TIME, REQ_SID, RES_STATUS, RES_LATENCY, RES_ISSUE, ST_OK, ST_FAULT,
} from "../abi";
import { EV_LOOKUP, EV_READ, EV_WRITE, EV_WALK, EV_LINK, STAGE_STRUCT, eventCount, eventAt, setTimingOn } from "../common/events";
import { histRecord } from "./histogram";
import { requestersClear, completeInOrder } from "./requesters";
import { MinHeap } from "./min-heap";

const MAX_PORTS: u32 = 16;
/** Cycles of port-use history kept per cache (a lookup further in the past than this is free). */
const CAL_LG2: u32 = 12;
const CAL_CYCLES: u32 = 1 << CAL_LG2;

// parameters
let enabled: bool = false;
let walkerSlots: i32 = 1;
let xlateSlots: i32 = 1;
let coalesce: bool = true;
let inOrder: bool = true;
let structReadLat: u64 = 0;
let adWriteLat: u64 = 0;
let invFetch: u64 = 0;
let invPerEntry: u64 = 0;
let invWait: u64 = 0;
let linkLat: u64 = 0;
const readLat = new StaticArray<u64>(6); // by spec level 1..5
const cacheLat = new StaticArray<u64>(<i32>CACHE_COUNT);
const cachePorts = new StaticArray<u32>(<i32>CACHE_COUNT);

// resource state
/** Per cache and calendar slot: the cycle the slot stands for, and the lookups issued in it. */
const calCycle = new StaticArray<u64>(<i32>(CACHE_COUNT * CAL_CYCLES));
const calUsed = new StaticArray<u8>(<i32>(CACHE_COUNT * CAL_CYCLES));
/** The cycle each walker slot is free again: a walk takes the earliest. */
let walkersFree = new MinHeap(1);
/**
 * Completion cycles of the translations in flight (at most xlateSlots): a request finds a free slot
 * when fewer are in flight at its arrival, else it waits for the earliest completion.
 */
let inFlight = new MinHeap(1);

/** Per IOTLB slot: the cycle its filling walk completes, and what that walk cost. */
let iotlbReady = new StaticArray<u64>(1);
let iotlbWalkCost = new StaticArray<u64>(1);
let iotlbSlots: i32 = 0;

/** The statistics block the host reads (abi TimingStat). */
let stats: usize = 0;

export function timingStatsAddress(): usize {
  return stats;
}

function p32(off: u32): u32 {
  return load<u32>(CTRL_BASE + CTRL_TIMING + off);
}

/** (Re)reads the parameters and empties the resource state and the statistics. */
export function timingConfigure(iotlbEntries: u32): void {
  enabled = p32(TCFG_ENABLED) != 0;
  setTimingOn(enabled);
  walkerSlots = max(1, <i32>p32(TCFG_WALKER_SLOTS));
  xlateSlots = max(1, <i32>p32(TCFG_XLATE_SLOTS));
  coalesce = p32(TCFG_COALESCE) != 0;
  inOrder = p32(TCFG_IN_ORDER) != 0;
  structReadLat = p32(TCFG_STRUCT_READ_LAT);
  for (let l: u32 = 1; l <= 5; l++) unchecked((readLat[l] = p32(TCFG_READ_LAT + (l - 1) * 4)));
  adWriteLat = p32(TCFG_AD_WRITE_LAT);
  invFetch = p32(TCFG_INV_FETCH);
  invPerEntry = p32(TCFG_INV_PER_ENTRY);
  invWait = p32(TCFG_INV_WAIT);
  linkLat = p32(TCFG_LINK_LAT);
  for (let c: u32 = 0; c < CACHE_COUNT; c++) {
    const at = CTRL_BASE + CTRL_CACHES + c * CACHE_CFG_SIZE;
    unchecked((cacheLat[c] = load<u32>(at, CCFG_LATENCY)));
    unchecked((cachePorts[c] = min(MAX_PORTS, max(1, load<u32>(at, CCFG_PORTS)))));
  }
  for (let i = 0; i < calCycle.length; i++) {
    unchecked((calCycle[i] = <u64>-1));
    unchecked((calUsed[i] = 0));
  }
  requestersClear();
  walkersFree = new MinHeap(walkerSlots);
  walkersFree.reset(walkerSlots, 0);
  inFlight = new MinHeap(xlateSlots);
  iotlbSlots = <i32>max<u32>(1, iotlbEntries);
  iotlbReady = new StaticArray<u64>(iotlbSlots);
  iotlbWalkCost = new StaticArray<u64>(iotlbSlots);
  if (stats == 0) stats = heap.alloc(TIMING_STATS_BYTES);
  memory.fill(stats, 0, TIMING_STATS_BYTES);
  store<u64>(stats, <u64>-1, TST_FIRST_ARRIVAL);
}

// @ts-ignore: decorator
@inline export function timingEnabled(): bool {
  return enabled;
}

// @ts-ignore: decorator
@inline function add(off: u32, v: u64): void {
  store<u64>(stats + off, load<u64>(stats + off) + v);
}

/**
 * A lookup in cache `c` wanting to start at cycle `t`: it starts in the first cycle from `t` with
 * a free port, and its result is known `latency` cycles later.
 */
function lookup(c: u32, t: u64): u64 {
  const ports = unchecked(cachePorts[c]);
  const base = c << CAL_LG2;
  while (true) {
    const i = base + (<u32>t & (CAL_CYCLES - 1));
    if (unchecked(calCycle[i]) != t) {
      unchecked((calCycle[i] = t));
      unchecked((calUsed[i] = 0));
    }
    if (<u32>unchecked(calUsed[i]) < ports) {
      unchecked((calUsed[i] = unchecked(calUsed[i]) + 1));
      return t + unchecked(cacheLat[c]);
    }
    t++;
  }
}

/**
 * Times the request just translated: `iotlbHitSlot` / `iotlbFillSlot` are the IOTLB entries it hit
 * or filled (-1 if none). Writes the issue cycle and latency into the result record.
 */
export function timeRequest(req: usize, res: usize, iotlbHitSlot: i32, iotlbFillSlot: i32): void {
  // Req.TIME is the arrival as a delta from the batch's base cycle (Ctrl.REQ_TIME_BASE)
  const arrival = load<u64>(CTRL_BASE + CTRL_REQ_TIME_BASE) + <u64>load<u32>(req, REQ_TIME);
  // Retire what completed by the arrival; with every slot still busy, wait for the earliest.
  while (inFlight.size > 0 && inFlight.min() <= arrival) inFlight.popMin();
  let start = arrival;
  let outstanding = <u64>inFlight.size + 1; // every remaining one completes after the arrival
  if (inFlight.size >= xlateSlots) {
    start = inFlight.popMin();
    // Those in flight at `start`: every remaining one completes at or after it; those completing at
    // `start` itself are not (they stay in the heap: a later request may arrive before they complete).
    outstanding = 1 + <u64>(inFlight.size - inFlight.countAtMost(start));
  }
  add(TST_STALL_CYCLES, start - arrival);
  if (outstanding > load<u64>(stats, TST_PEAK_OUTSTANDING)) store<u64>(stats, outstanding, TST_PEAK_OUTSTANDING);

  let t = start;
  let walking = false; // this request holds a walker slot
  let walkStart: u64 = 0;
  let iotlbHit = false;
  // Deepest paging-structure-cache hit (1 = PDE, 0 none) per stage. The class of a nested walk is
  // its first-stage hit: second-stage hits there only served the table-pointer walks.
  let fsLevel: u32 = 0;
  let ssLevel: u32 = 0;
  let fsProbed = false;
  for (let i = 0; i < eventCount; i++) {
    const e = eventAt(i);
    const type = e >>> 24, a = (e >>> 16) & 0xff, b = e & 0xffff;
    if (type == EV_LOOKUP) {
      t = lookup(a, t);
      if (b != 0) {
        if (a == CACHE_MICRO_TLB) iotlbHit = true; // SMMUv3 micro-TLB: a TLB hit (no walk to wait for)
        else if (a == CACHE_IOTLB) {
          iotlbHit = true;
          // A hit on an entry whose walk is still in flight: wait for it, or walk again.
          if (iotlbHitSlot >= 0 && iotlbHitSlot < iotlbSlots) {
            const ready = unchecked(iotlbReady[iotlbHitSlot]);
            if (ready > t) {
              if (coalesce) {
                t = ready;
                add(TST_COALESCED, 1);
              } else {
                const ws = max(t, walkersFree.popMin());
                t = ws + unchecked(iotlbWalkCost[iotlbHitSlot]);
                walkersFree.push(t);
                add(TST_WALKER_BUSY, t - ws);
                add(TST_REWALKS, 1);
              }
            }
          }
        } else if (a >= CACHE_PWC_FS_PDE && a < CACHE_PWC_FS_PDE + 8) {
          const level = ((a - CACHE_PWC_FS_PDE) & 3) + 1;
          if (a < CACHE_PWC_FS_PDE + 4) {
            if (fsLevel == 0 || level < fsLevel) fsLevel = level;
          } else if (ssLevel == 0 || level < ssLevel) ssLevel = level;
        }
      }
      if (a >= CACHE_PWC_FS_PDE && a < CACHE_PWC_FS_PDE + 4) fsProbed = true;
    } else if (type == EV_READ) {
      t += a == STAGE_STRUCT ? structReadLat : unchecked(readLat[min<u32>(b, 5)]);
    } else if (type == EV_WRITE) {
      t += adWriteLat;
    } else if (type == EV_LINK) {
      t += linkLat;
    } else if (type == EV_WALK && !walking) {
      t = max(t, walkersFree.popMin());
      walking = true;
      walkStart = t;
    }
  }
  if (walking) {
    walkersFree.push(t);
    add(TST_WALKER_BUSY, t - walkStart);
  }
  let done = t;
  if (inOrder) {
    done = completeInOrder(load<u32>(req, REQ_SID), done);
  }
  inFlight.push(done);
  if (iotlbFillSlot >= 0 && iotlbFillSlot < iotlbSlots) {
    // The entry is usable once the walk has filled it, whatever this request's completion order.
    unchecked((iotlbReady[iotlbFillSlot] = t));
    unchecked((iotlbWalkCost[iotlbFillSlot] = walking ? t - walkStart : 0));
  }

  const latency = done - arrival;
  store<u64>(res, arrival, RES_ISSUE);
  store<u32>(res, <u32>min<u64>(latency, 0xffffffff), RES_LATENCY);
  if (arrival < load<u64>(stats, TST_FIRST_ARRIVAL)) store<u64>(stats, arrival, TST_FIRST_ARRIVAL);
  if (done > load<u64>(stats, TST_LAST_COMPLETION)) store<u64>(stats, done, TST_LAST_COMPLETION);
  add(TST_TIMED, 1);

  // Latency class: what served the translation.
  const status = load<u8>(res, RES_STATUS);
  let cls: u32;
  if (status == ST_FAULT) cls = 6;
  else if (status != ST_OK) cls = 7;
  else if (walking) {
    const level = fsProbed ? fsLevel : ssLevel;
    cls = level != 0 ? level : 5;
  } else cls = iotlbHit ? 0 : 7; // a hit that walked again (coalescing off) stays a hit: see REWALKS
  const c = stats + TST_CLASSES + cls * TIMING_CLASS_SIZE;
  store<u64>(c, load<u64>(c) + 1);
  store<u64>(c, load<u64>(c, 8) + latency, 8);
  if (latency > load<u64>(c, 16)) store<u64>(c, latency, 16);
  histRecord(stats + TST_HIST + cls * HIST_CLASS_BYTES, latency);
}

/** Invalidation work: `descriptors` fetched, `entries` removed from caches, `waits` completed. */
export function timeInvalidation(descriptors: u64, entries: u64, waits: u64): void {
  if (!enabled) return;
  add(TST_INV_CYCLES, descriptors * invFetch + entries * invPerEntry + waits * invWait);
}
