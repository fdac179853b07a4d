/**
 * `ftrace`: Linux tracepoint text as /sys/kernel/tracing/trace (or trace_pipe), `trace-cmd report`
 * and `perf script` print it (shared/notes/ecosystem.md §1a). Line shapes:
 *
 *   COMM-PID [CPU] FLAGS TIMESTAMP: EVENT: BODY        ftrace; FLAGS is 4-7 characters or absent
 *   COMM-PID (TGID) [CPU] FLAGS TIMESTAMP: EVENT: BODY  ftrace with the tgid option
 *   COMM-PID [CPU] TIMESTAMP: EVENT:     BODY          trace-cmd report (event name padded)
 *   COMM PID[/TID] [CPU] TIMESTAMP: SYSTEM:EVENT: BODY  perf script
 *
 * TIMESTAMP is in seconds (6 decimals, 9 with a ns clock) and becomes @TIME in us (in ns when it
 * has sub-microsecond digits). A timestamp without a fraction (counter or TSC clocks) is an error.
 *
 * Events used:
 * - iommu:map `IOMMU: iova=0x... [- 0x...] paddr=0x... size=N` -> `map DOMAIN IOVA PA SIZE`
 *   (perm=rw: the tracepoint has no prot) and iommu:unmap `IOMMU: iova=0x... [- 0x...] size=N
 *   unmapped_size=M` -> `unmap DOMAIN IOVA M` (what was unmapped; nothing when M is 0; a larger
 *   power-of-two M, a large page, from IOVA rounded down to M). The ` - 0x<end>` range is printed
 *   by recent kernels only. The domain is not in these tracepoints: events go to the domain given
 *   with `--map domain=N` (default 1). Pages are 4 KiB (the tracepoint does not say which page
 *   size the driver used).
 *   When the trace also has dma:* map, unmap, alloc or free events, iommu:map and iommu:unmap do not
 *   make events of their own: the DMA API events describe the same mappings (dma-iommu calls
 *   iommu_map and iommu_unmap under them) with the device and direction, and using both would map
 *   twice. An iommu:map still gives its paddr to a dma:* mapping that prints no physical address
 *   (below); the others count as superseded, and those whose pages no dma:* mapping maps (a
 *   mapping made without the DMA API, e.g. by VFIO, which the imported trace lacks) in a note.
 * - iommu:io_page_fault `IOMMU:DRIVER DEVICE iova=0x... flags=0x...` -> the faulting request:
 *   MWr when flags bit 0 (IOMMU_FAULT_WRITE) is set, else MRd; DEVICE must be a PCI name
 *   (SSSS:BB:DD.F) and becomes the source ID with its segment.
 *   No `expect=`: the tracepoint (iommu.c report_iommu_fault, class iommu_error) carries only the
 *   read/write flag, no fault reason or event type, so `run --expect-faults` has nothing to compare;
 *   the replay gives the model's fault.
 * - dma:* (6.12+; dma_map_page/dma_map_resource renamed dma_map_phys later):
 *   dma_map_phys, dma_map_page, dma_map_resource `DEV dir=DIR dma_addr=HEX size=N phys_addr=HEX
 *   attrs=...` -> `map` of the pages holding [dma_addr, dma_addr+size) to the pages of phys_addr
 *   (their offsets within the page must agree); dma_unmap_phys, dma_unmap_page,
 *   dma_unmap_resource `DEV dir=DIR dma_addr=HEX size=N` -> `unmap` of those pages.
 *   dma_map_sg `DEV dir=DIR [nents=.. ents=..] dma_addrs={...} sizes={...} phys_addrs={...}`:
 *   one map per entry when there are as many DMA segments as entries; when dma-iommu merged
 *   entries into fewer segments, entry k is paired with the k-th page of the segments (only when
 *   the segments cover exactly one page per entry; otherwise the pairing is unknown: an error).
 *   Arrays the kernel cut at 128 entries ([TRUNCATED]) are errors. dma_unmap_sg unmaps the
 *   segments: the early form prints them (`dma_addrs=... sizes=...`), the later one prints only
 *   `phys_addrs=`, which are matched to the device's dma_map_sg with the same entries (an error
 *   when there is none).
 *   dma_alloc, dma_alloc_pages `DEV [dir=DIR] dma_addr=HEX size=N (phys_addr=HEX | virt_addr=PTR)
 *   flags=... attrs=...` -> `map`; the first 6.12 form printed phys_addr, later ones a hashed
 *   virt_addr and no physical address: then the physical addresses are those of the iommu:map lines
 *   of the same trace that map its pages (dma-iommu maps the buffer with iommu_map: each page from
 *   the iommu:map covering it that is nearest in the trace and not used by another dma:* line).
 *   Only when no iommu:map covers every page are the pages mapped to the same addresses (PA =
 *   IOVA: the right translations, faults and cache behaviour, not the real PA), counted in the
 *   summary's notes. Without dir= (the 6.12 form) the mapping is bidirectional.
 *   dma_alloc_sgt (`phys_addrs=` of its pages) maps page by page when it has one physical address
 *   per page. dma_free,
 *   dma_free_pages, dma_free_sgt -> `unmap`.
 *   DIR gives perm: TO_DEVICE -> r (the device reads), FROM_DEVICE -> w, BIDIRECTIONAL -> rw;
 *   NONE is an error. attrs PRIVILEGED gives `sup`. DEV (any device name, as printed) goes to
 *   the domain `--map DEV=N` gives, else to `--map domain=N` (default 1).
 * - intel_iommu:qi_submit `TYPE IOMMU: 0xQW0 0xQW1 0xQW2 0xQW3` -> `inv qi QW0 QW1 QW2 QW3` (the
 *   raw descriptor; TYPE and IOMMU are informational).
 * - iommu:attach_device_to_domain `IOMMU: device=DEV` (include/trace/events/iommu.h, class
 *   iommu_device_event; the same text in every kernel that has it; traced by iommu.c
 *   __iommu_attach_device once the driver's attach_dev succeeded) -> `attach BDF domain=D`. The
 *   tracepoint does not name the domain, so D is the device's `--map DEV=N`, else `--map domain=N`
 *   when given (the domain of the iommu:map/unmap events); with neither the line is an error that
 *   says so (the default domain 1 of map/unmap is not taken: an attach to a guessed domain would
 *   replay as a wrong translation, not as a missing one). Linux switches a device's domain with a
 *   new attach; an attach of a device this trace attached and did not detach since would attach it
 *   to the same D again (an error on replay), so it is ignored as repeating and counted in a note.
 *   Older kernels' detach_device_from_domain (same body) -> `detach BDF`. DEV must be a PCI name
 *   of segment 0 (trace attach events name a device of the unit); other (platform) devices have
 *   no requester ID: ignored (no DMA), counted in a note.
 * - iommu:add_device_to_group / remove_device_from_group `IOMMU: groupID=N device=DEV` (class
 *   iommu_group_event; traced by iommu_group_add_device / iommu_group_remove_device): no event;
 *   the groups the kernel formed (devices added and not removed since, PCI names as `iommu-emu
 *   groups` prints them) go into the summary, which `convert` prints for comparing with `iommu-emu
 *   groups SCENARIO`. These lines count as used.
 *
 * Ignored (not errors), counted in the summary: every other event (dma_sync_*, dma_map_sg_err, dma_alloc_sgt_err, intel_iommu:prq_report,
 * cache_tag_*, any other subsystem), trace-cmd's `cpus=N`/`version = N` lines and `CPU:N [LOST N
 * EVENTS]` markers (no DMA; a lost-events marker is also a note: the trace is incomplete); `#`
 * header and comment lines; iommu:map/unmap superseded by dma:* events;
 * anything else (not a line of this format). A line that names one of the events used but does not
 * have the tracepoint line shape is an error.
 *
 * --map options: `domain=N` (the default domain id), `DEV=N` (a device's domain id, DEV as the
 * dma:* and attach events print it, e.g. 0000:c2:00.0=2).
 */
import { formatBdf, type TraceEvent } from "../text.ts";
import {
  checkOptionKeys,
  domainOption,
  hexValue,
  makeAttach,
  makeDetach,
  makeInv,
  makeMap,
  makeTlp,
  makeUnmap,
  MAX_U64,
  PAGE,
  pageDown,
  pageUp,
  pciNameToSid,
  Sink,
  splitLines,
  timeFromSeconds,
  type SourceTime,
} from "./common.ts";
import type { ImportOptions, ImportResult, Importer } from "./types.ts";

const FTRACE =
  /^\s*(?<comm>.+?)-(?<pid>\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(?<cpu>\d+)\]\s+(?:(?<flags>[\w.]{4,8})\s+)?(?<ts>\d+(?:\.\d+)?):\s+(?<event>[\w:]+):(?:\s+(?<body>.*))?$/d;
const PERF =
  /^\s*(?<comm>.+?)\s+(?<pid>\d+)(?:\/\d+)?\s+\[(?<cpu>\d+)\]\s+(?<ts>\d+(?:\.\d+)?):\s+(?:\d+\s+)?(?<event>[\w:]+):(?:\s+(?<body>.*))?$/d;

const MAP = /^IOMMU: iova=0x([0-9a-fA-F]+)(?: - 0x([0-9a-fA-F]+))? paddr=0x([0-9a-fA-F]+) size=(\d+)\s*$/;
const UNMAP = /^IOMMU: iova=0x([0-9a-fA-F]+)(?: - 0x([0-9a-fA-F]+))? size=(\d+) unmapped_size=(\d+)\s*$/;
const FAULT = /^IOMMU:(\S*) (\S+) iova=0x([0-9a-fA-F]+) flags=0x([0-9a-fA-F]+)\s*$/;
const DEVICE_EVENT = /^IOMMU: device=(\S+)$/;
const GROUP_EVENT = /^IOMMU: groupID=(\d+) device=(\S+)$/;
const DEVICE_EVENTS = new Set(["attach_device_to_domain", "detach_device_from_domain"]);
const GROUP_EVENTS = new Set(["add_device_to_group", "remove_device_from_group"]);
const QI = /^(\S+) (\S+): 0x([0-9a-fA-F]+) 0x([0-9a-fA-F]+) 0x([0-9a-fA-F]+) 0x([0-9a-fA-F]+)\s*$/;

const DMA_MAP = new Set(["dma_map_phys", "dma_map_page", "dma_map_resource"]);
const DMA_UNMAP = new Set(["dma_unmap_phys", "dma_unmap_page", "dma_unmap_resource"]);
const DMA_ALLOC = new Set(["dma_alloc", "dma_alloc_pages"]);
const DMA_FREE = new Set(["dma_free", "dma_free_pages", "dma_free_sgt"]);
const DMA_USED = new Set([...DMA_MAP, ...DMA_UNMAP, ...DMA_ALLOC, ...DMA_FREE, "dma_map_sg", "dma_unmap_sg", "dma_alloc_sgt"]);
/** Any line of a used event, whatever its prefix: to tell a broken line from an unrelated one. */
const USED_EVENT_TOKEN = new RegExp(
  `(?:^|\\s)(?:iommu:)?(?:map|unmap|io_page_fault|${[...DEVICE_EVENTS, ...GROUP_EVENTS].join("|")}): IOMMU:|(?:^|\\s)(?:dma:)?(?:${[...DMA_USED].join("|")}):\\s|(?:^|\\s)(?:intel_iommu:)?qi_submit:\\s`,
);
const HAS_DMA_MAPPING = new RegExp(`(?:^|\\s)(?:dma:)?(?:${[...DMA_USED].join("|")}):\\s`, "m");

/** An iommu:map line of a trace with dma:* events: its pages may give a dma:* mapping its physical addresses. */
interface IommuMap {
  line: number;
  iova: bigint;
  pa: bigint;
  size: bigint;
  /** Taken by a dma:* line already. */
  used: boolean;
}

interface Ctx {
  sink: Sink;
  lineNo: number;
  /** More lines that made this line's events (iommu:map lines that gave physical addresses). */
  also: number[];
  /** The iommu:map lines, when dma:* events supersede them (else empty). */
  iommuMaps: IommuMap[];
  /** Column of the event name (the column of driver events). */
  column: number;
  /** Column of the body, for errors. */
  bodyColumn: number;
  /** The domain of events without a device (iommu:map/unmap). */
  defaultDomain: number;
  domainFor(device: string): number;
  /** The segments of each device's dma_map_sg, by its physical addresses (for dma_unmap_sg). */
  sgMaps: Map<string, { iova: bigint; size: bigint }[]>;
  /** The domain of a device's attach: `--map DEV=N`, else an explicit `--map domain=N`, else undefined. */
  attachDomain(device: string): number | undefined;
  /** Devices attached by this trace and not detached since. */
  attached: Set<string>;
  /** The kernel's groups: group number -> device names. */
  groups: Map<number, Set<string>>;
}

function importFtrace(text: string, file: string, opts: ImportOptions): ImportResult {
  const map = checkOptionKeys("ftrace", opts, ["domain"], { accepts: (k) => k.length > 0, what: "DEV= (a device name)" });
  let defaultDomain = 1;
  const domainGiven = map["domain"] !== undefined;
  const deviceDomains = new Map<string, number>();
  for (const [k, v] of Object.entries(map)) {
    if (k === "domain") defaultDomain = domainOption("ftrace", k, v);
    else deviceDomains.set(k, domainOption("ftrace", k, v));
  }
  const lines = splitLines(text);
  const sink = new Sink("ftrace", file, opts.skipBad, lines);
  const useIommuMaps = !HAS_DMA_MAPPING.test(text);
  const sgMaps = new Map<string, { iova: bigint; size: bigint }[]>();
  const iommuMaps = useIommuMaps ? [] : collectIommuMaps(lines);
  const attached = new Set<string>();
  const groups = new Map<number, Set<string>>();
  let sawGroups = false;

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const lineNo = i + 1;
    const m = FTRACE.exec(line) ?? PERF.exec(line);
    if (m === null) {
      if (line.trimStart().startsWith("#")) sink.ignore(lineNo, "blank");
      else if (USED_EVENT_TOKEN.test(line)) {
        sink.fail("not a tracepoint line: expected COMM-PID [CPU] [FLAGS] SECONDS: EVENT: BODY (ftrace, trace-cmd) or COMM PID [CPU] SECONDS: SYSTEM:EVENT: BODY (perf script)", lineNo, 1);
      } else if (TRACE_CMD_LINE.test(line)) sink.ignore(lineNo, "noDma");
      else if (LOST.test(line)) {
        sink.ignore(lineNo, "noDma");
        sink.note("lost-events markers: the tracer dropped events, the trace is incomplete");
      }
      continue;
    }
    const { system, event, body } = eventOf(m);
    const handler = pick(system, event, body, useIommuMaps);
    if (handler === groupEvent) sawGroups = true;
    if (handler === undefined || handler === "superseded") {
      sink.ignore(lineNo, handler === undefined ? "noDma" : "superseded");
      continue;
    }

    const indices = m.indices!.groups!;
    const tsText = m.groups!["ts"]!;
    const tsColumn = indices["ts"]![0] + 1;
    const ctx: Ctx = {
      sink,
      lineNo,
      also: [],
      iommuMaps,
      column: indices["event"]![0] + 1,
      bodyColumn: indices["body"] === undefined ? line.length + 1 : indices["body"][0] + 1,
      defaultDomain,
      domainFor: (device) => deviceDomains.get(device) ?? defaultDomain,
      sgMaps,
      attachDomain: (device) => deviceDomains.get(device) ?? (domainGiven ? defaultDomain : undefined),
      attached,
      groups,
    };
    const [sec, frac] = tsText.split(".") as [string, string | undefined];
    let time: SourceTime | undefined;
    if (frac !== undefined) time = timeFromSeconds(sec, frac, tsColumn);
    if (time === undefined) {
      sink.fail(
        frac === undefined
          ? `timestamp "${tsText}" is not in seconds (a counter or TSC trace clock?); record with a clock in seconds (local, global, mono, boot)`
          : `timestamp "${tsText}" has more than 9 decimals`,
        lineNo,
        tsColumn,
      );
      continue;
    }
    sink.line(lineNo, time, () => handler(ctx, body, event), ctx.also);
  }
  noteUncovered(sink, iommuMaps);
  if (sawGroups) sink.setGroups(kernelGroups(groups));
  return sink.result();
}

/**
 * Notes each iommu:map line no dma:* line used whose pages no `map` event covers: a mapping made
 * without the DMA API (e.g. by VFIO), which the trace leaves out. The maps are sorted by IOVA once,
 * with the furthest end so far, so that each line costs a binary search.
 */
function noteUncovered(sink: Sink, iommuMaps: readonly IommuMap[]): void {
  const maps = sink.events.flatMap((e) => (e.op === "map" ? [{ from: e.iova, to: e.iova + e.size }] : [])).sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  const furthest: bigint[] = [];
  for (const m of maps) furthest.push(furthest.length && furthest[furthest.length - 1]! > m.to ? furthest[furthest.length - 1]! : m.to);
  for (const m of iommuMaps) {
    if (m.used) continue;
    // the last map starting at or before m.iova
    let lo = 0, hi = maps.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (maps[mid]!.from <= m.iova) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && furthest[lo - 1]! >= m.iova + m.size) continue;
    sink.note("iommu:map lines whose pages no dma:* mapping maps: mappings made without the DMA API (e.g. by VFIO), left out");
  }
}

/** trace-cmd report's header lines. */
const TRACE_CMD_LINE = /^\s*(?:cpus=\d+|version = \d+)\s*$/;
/** A ring buffer's lost-events marker. */
const LOST = /^\s*CPU:\s*\d+ \[LOST \d+ EVENTS\]\s*$/;

/** The event name (system and event) and body of a tracepoint line. */
function eventOf(m: RegExpExecArray): { system: string | undefined; event: string; body: string } {
  const g = m.groups!;
  const full = g["event"]!;
  const colon = full.lastIndexOf(":");
  return {
    system: colon < 0 ? undefined : full.slice(0, colon),
    event: colon < 0 ? full : full.slice(colon + 1),
    body: (g["body"] ?? "").replace(/\s+$/, ""),
  };
}

/** The iommu:map lines of a trace (those whose body reads; the others cannot give addresses). */
function collectIommuMaps(lines: readonly string[]): IommuMap[] {
  const out: IommuMap[] = [];
  lines.forEach((line, i) => {
    const m = FTRACE.exec(line) ?? PERF.exec(line);
    if (m === null) return;
    const { system, event, body } = eventOf(m);
    if (event !== "map" || (system !== undefined && system !== "iommu")) return;
    const b = MAP.exec(body);
    if (b === null) return;
    const iova = BigInt("0x" + b[1]!);
    const pa = BigInt("0x" + b[3]!);
    const size = BigInt(b[4]!);
    if (size > 0n && ((iova | pa | size) & (PAGE - 1n)) === 0n) out.push({ line: i + 1, iova, pa, size, used: false });
  });
  return out;
}

type Handler = (ctx: Ctx, body: string, event: string) => TraceEvent[] | TraceEvent | null;

/** The handler of a line's event; "superseded" for iommu:map/unmap when dma:* events give the mappings. */
function pick(system: string | undefined, event: string, body: string, useIommuMaps: boolean): Handler | "superseded" | undefined {
  const sys = (s: string) => system === undefined || system === s;
  if ((event === "map" || event === "unmap" || event === "io_page_fault") && sys("iommu")) {
    // Without the system name (ftrace, trace-cmd), the iommu events are told by their body.
    if (system === undefined && !body.startsWith("IOMMU:")) return undefined;
    if (event === "io_page_fault") return ioPageFault;
    if (!useIommuMaps) return "superseded";
    return event === "map" ? iommuMap : iommuUnmap;
  }
  if ((DEVICE_EVENTS.has(event) || GROUP_EVENTS.has(event)) && sys("iommu")) {
    if (system === undefined && !body.startsWith("IOMMU:")) return undefined;
    return DEVICE_EVENTS.has(event) ? deviceEvent : groupEvent;
  }
  if (event === "qi_submit" && sys("intel_iommu")) return qiSubmit;
  if (DMA_USED.has(event) && sys("dma")) return dmaEvent;
  return undefined;
}

function big(ctx: Ctx, hex: string, what: string): bigint {
  const v = BigInt("0x" + hex);
  if (v > MAX_U64) throw ctx.sink.err(`${what} 0x${hex} is beyond 64 bits`, ctx.lineNo, ctx.bodyColumn);
  return v;
}

function iommuMap(ctx: Ctx, body: string): TraceEvent {
  const m = MAP.exec(body);
  if (m === null) throw ctx.sink.err("expected `IOMMU: iova=0x... [- 0x...] paddr=0x... size=N` (iommu:map)", ctx.lineNo, ctx.bodyColumn);
  const iova = big(ctx, m[1]!, "iova");
  const pa = big(ctx, m[3]!, "paddr");
  const size = BigInt(m[4]!);
  checkRange(ctx, iova, size, m[2]);
  if (size === 0n) throw ctx.sink.err("iommu:map of size 0", ctx.lineNo, ctx.bodyColumn);
  if ((iova | pa | size) & (PAGE - 1n)) {
    throw ctx.sink.err(`iova 0x${iova.toString(16)}, paddr 0x${pa.toString(16)} and size ${size} must be 4 KiB multiples`, ctx.lineNo, ctx.bodyColumn);
  }
  return makeMap(ctx.lineNo, ctx.column, ctx.defaultDomain, iova, pa, size, "rw");
}

function iommuUnmap(ctx: Ctx, body: string): TraceEvent | null {
  const m = UNMAP.exec(body);
  if (m === null) throw ctx.sink.err("expected `IOMMU: iova=0x... [- 0x...] size=N unmapped_size=N` (iommu:unmap)", ctx.lineNo, ctx.bodyColumn);
  let iova = big(ctx, m[1]!, "iova");
  const size = BigInt(m[3]!);
  const unmapped = BigInt(m[4]!);
  checkRange(ctx, iova, size, m[2]);
  if (unmapped === 0n) return null;
  if (unmapped > size) {
    if ((unmapped & (unmapped - 1n)) !== 0n) {
      throw ctx.sink.err(`unmapped_size ${unmapped} is larger than size ${size} and not a power of two`, ctx.lineNo, ctx.bodyColumn);
    }
    iova &= ~(unmapped - 1n);
  }
  if ((iova | unmapped) & (PAGE - 1n)) {
    throw ctx.sink.err(`iova 0x${iova.toString(16)} and unmapped_size ${unmapped} must be 4 KiB multiples`, ctx.lineNo, ctx.bodyColumn);
  }
  return makeUnmap(ctx.lineNo, ctx.column, ctx.defaultDomain, iova, unmapped);
}

/** The ` - 0x<end>` of recent kernels is iova + size. */
function checkRange(ctx: Ctx, iova: bigint, size: bigint, end: string | undefined): void {
  if (end !== undefined && BigInt("0x" + end) !== iova + size) {
    throw ctx.sink.err(`the range end 0x${end} is not iova + size (0x${(iova + size).toString(16)})`, ctx.lineNo, ctx.bodyColumn);
  }
}

function ioPageFault(ctx: Ctx, body: string): TraceEvent {
  const m = FAULT.exec(body);
  if (m === null) throw ctx.sink.err("expected `IOMMU:DRIVER DEVICE iova=0x... flags=0x...` (iommu:io_page_fault)", ctx.lineNo, ctx.bodyColumn);
  const device = m[2]!;
  const sid = pciNameToSid(device);
  if (sid === undefined) {
    throw ctx.sink.err(`device "${device}" is not a PCI device name (SSSS:BB:DD.F); a TLP needs a requester ID`, ctx.lineNo, ctx.bodyColumn);
  }
  const flags = parseInt(m[4]!, 16);
  return makeTlp(ctx.lineNo, { op: flags & 1 ? "MWr" : "MRd", sid, addr: big(ctx, m[3]!, "iova") });
}

/**
 * attach_device_to_domain / detach_device_from_domain `IOMMU: device=DEV` -> `attach BDF
 * domain=D` / `detach BDF` (D from --map, see the file comment).
 */
function deviceEvent(ctx: Ctx, body: string, event: string): TraceEvent | null {
  const m = DEVICE_EVENT.exec(body);
  if (m === null) throw ctx.sink.err(`expected \`IOMMU: device=DEV\` (iommu:${event})`, ctx.lineNo, ctx.bodyColumn);
  const device = m[1]!;
  const sid = pciNameToSid(device);
  if (sid === undefined) {
    ctx.sink.note("attach/detach of devices without a PCI name (no requester ID), left out");
    return null;
  }
  if (sid > 0xffff) {
    throw ctx.sink.err(
      `${device} is in PCI segment ${(sid >>> 16).toString(16).padStart(4, "0")}; attach and detach events name a device of the unit (segment 0000)`,
      ctx.lineNo,
      ctx.bodyColumn,
    );
  }
  if (event === "detach_device_from_domain") {
    ctx.attached.delete(device);
    return makeDetach(ctx.lineNo, ctx.column, sid);
  }
  const domain = ctx.attachDomain(device);
  if (domain === undefined) {
    throw ctx.sink.err(
      `iommu:attach_device_to_domain does not say which domain ${device} was attached to; give it with --map ${device}=N (this device) or --map domain=N (every device)`,
      ctx.lineNo,
      ctx.bodyColumn,
    );
  }
  if (ctx.attached.has(device)) {
    ctx.sink.ignore(ctx.lineNo, "repeat");
    ctx.sink.note("attaches of a device already attached (a domain switch; its domain comes from --map, so it stays), left out");
    return null;
  }
  ctx.attached.add(device);
  return makeAttach(ctx.lineNo, ctx.column, sid, domain);
}

/** add_device_to_group / remove_device_from_group `IOMMU: groupID=N device=DEV`: the kernel's groups, no event. */
function groupEvent(ctx: Ctx, body: string, event: string): null {
  const m = GROUP_EVENT.exec(body);
  if (m === null) throw ctx.sink.err(`expected \`IOMMU: groupID=N device=DEV\` (iommu:${event})`, ctx.lineNo, ctx.bodyColumn);
  const id = Number(m[1]!);
  const device = m[2]!;
  if (event === "add_device_to_group") {
    // A device is in one group at a time: an add moves it out of any other.
    for (const g of ctx.groups.values()) g.delete(device);
    ctx.groups.set(id, (ctx.groups.get(id) ?? new Set()).add(device));
  } else ctx.groups.get(id)?.delete(device);
  ctx.sink.use(ctx.lineNo);
  return null;
}

/**
 * The groups for the summary, ordered as `iommu-emu groups` orders them: PCI devices in BDF order
 * (named as it names them), then other devices by name; groups by their first device; empty groups
 * (every device removed) left out.
 */
function kernelGroups(groups: Map<number, Set<string>>): { id: number; devices: string[] }[] {
  const key = (d: string) => pciNameToSid(d) ?? Infinity;
  const order = (a: string, b: string) => key(a) - key(b) || (a < b ? -1 : a > b ? 1 : 0);
  const out = [...groups]
    .filter(([, devices]) => devices.size > 0)
    .map(([id, devices]) => ({ id, sorted: [...devices].sort(order) }));
  out.sort((a, b) => order(a.sorted[0]!, b.sorted[0]!) || a.id - b.id);
  return out.map(({ id, sorted }) => ({ id, devices: sorted.map((d) => (pciNameToSid(d) === undefined ? d : formatBdf(pciNameToSid(d)!))) }));
}

function qiSubmit(ctx: Ctx, body: string): TraceEvent {
  const m = QI.exec(body);
  if (m === null) throw ctx.sink.err("expected `TYPE IOMMU: 0xQW0 0xQW1 0xQW2 0xQW3` (intel_iommu:qi_submit)", ctx.lineNo, ctx.bodyColumn);
  const qwords = [m[3]!, m[4]!, m[5]!, m[6]!].map((q) => big(ctx, q, "descriptor qword"));
  return makeInv(ctx.lineNo, ctx.column, { kind: "qi", qwords });
}

// ---- dma:* ------------------------------------------------------------------------------------

interface DmaFields {
  device: string;
  values: Map<string, string>;
  truncated: boolean;
}

/** `DEV key=value ...` (arrays `{0x..,0x..}`, a ` [TRUNCATED]` marker). */
function dmaFields(ctx: Ctx, body: string, event: string): DmaFields {
  const tokens = body.split(/\s+/).filter((t) => t !== "");
  const device = tokens[0];
  if (device === undefined || device.includes("=")) throw ctx.sink.err(`expected the device name first in the ${event} event`, ctx.lineNo, ctx.bodyColumn);
  const values = new Map<string, string>();
  let truncated = false;
  for (const tok of tokens.slice(1)) {
    if (tok === "[TRUNCATED]") {
      truncated = true;
      continue;
    }
    const eq = tok.indexOf("=");
    if (eq < 0) continue;
    values.set(tok.slice(0, eq), tok.slice(eq + 1));
  }
  return { device, values, truncated };
}

function need(ctx: Ctx, f: DmaFields, key: string, event: string): string {
  const v = f.values.get(key);
  if (v === undefined) throw ctx.sink.err(`${event} without ${key}=`, ctx.lineNo, ctx.bodyColumn);
  return v;
}

function hexField(ctx: Ctx, f: DmaFields, key: string, event: string): bigint {
  const text = need(ctx, f, key, event);
  const v = hexValue(text);
  if (v === undefined || v > MAX_U64) throw ctx.sink.err(`${event}: ${key}=${text} is not a 64-bit hex address`, ctx.lineNo, ctx.bodyColumn);
  return v;
}

function sizeField(ctx: Ctx, f: DmaFields, event: string): bigint {
  const text = need(ctx, f, "size", event);
  if (!/^\d+$/.test(text) || BigInt(text) === 0n) throw ctx.sink.err(`${event}: size=${text} is not a size in bytes above 0`, ctx.lineNo, ctx.bodyColumn);
  return BigInt(text);
}

/** `{0x1000,0x2000}` (hex or decimal elements). */
function arrayField(ctx: Ctx, f: DmaFields, key: string, event: string): bigint[] {
  const text = need(ctx, f, key, event);
  const m = /^\{(.*)\}$/.exec(text);
  if (m === null) throw ctx.sink.err(`${event}: ${key}=${text} is not an array {...}`, ctx.lineNo, ctx.bodyColumn);
  if (m[1] === "") return [];
  return m[1]!.split(",").map((e) => {
    if (!/^(?:0x[0-9a-fA-F]+|\d+)$/.test(e)) throw ctx.sink.err(`${event}: element "${e}" of ${key} is not a number`, ctx.lineNo, ctx.bodyColumn);
    return BigInt(e);
  });
}

function permOf(ctx: Ctx, f: DmaFields, event: string, fallback?: string): string {
  const dir = f.values.get("dir");
  if (dir === undefined) {
    if (fallback !== undefined) return fallback;
    throw ctx.sink.err(`${event} without dir=`, ctx.lineNo, ctx.bodyColumn);
  }
  switch (dir) {
    case "TO_DEVICE":
      return "r";
    case "FROM_DEVICE":
      return "w";
    case "BIDIRECTIONAL":
      return "rw";
    default:
      throw ctx.sink.err(`${event}: dir=${dir} gives no access (expected TO_DEVICE, FROM_DEVICE or BIDIRECTIONAL)`, ctx.lineNo, ctx.bodyColumn);
  }
}

function userOf(f: DmaFields): boolean {
  return !(f.values.get("attrs") ?? "").split("|").includes("PRIVILEGED");
}

/** The pages holding [addr, addr+size): page-aligned start and size. */
function pagesOf(addr: bigint, size: bigint): { iova: bigint; size: bigint } {
  const iova = pageDown(addr);
  return { iova, size: pageUp(addr + size) - iova };
}

function dmaEvent(ctx: Ctx, body: string, event: string): TraceEvent[] | TraceEvent | null {
  const f = dmaFields(ctx, body, event);
  if (f.truncated) throw ctx.sink.err(`${event}: the kernel truncated the arrays at 128 entries ([TRUNCATED]); the mapping is incomplete`, ctx.lineNo, ctx.bodyColumn);
  const domain = ctx.domainFor(f.device);
  const { lineNo, column } = ctx;

  if (DMA_MAP.has(event)) {
    const dma = hexField(ctx, f, "dma_addr", event);
    const size = sizeField(ctx, f, event);
    const phys = hexField(ctx, f, "phys_addr", event);
    const perm = permOf(ctx, f, event);
    return mapRange(ctx, domain, dma, phys, size, perm, userOf(f), event);
  }
  if (DMA_UNMAP.has(event) || DMA_FREE.has(event)) {
    const dma = hexField(ctx, f, "dma_addr", event);
    const size = sizeField(ctx, f, event);
    const r = pagesOf(dma, size);
    return makeUnmap(lineNo, column, domain, r.iova, r.size);
  }
  if (DMA_ALLOC.has(event)) {
    const dma = hexField(ctx, f, "dma_addr", event);
    const size = sizeField(ctx, f, event);
    const perm = permOf(ctx, f, event, "rw");
    if (f.values.has("phys_addr")) return mapRange(ctx, domain, dma, hexField(ctx, f, "phys_addr", event), size, perm, userOf(f), event);
    return mapFromIommuMaps(ctx, domain, pagesOf(dma, size), perm, userOf(f));
  }
  if (event === "dma_alloc_sgt") {
    const dma = hexField(ctx, f, "dma_addr", event);
    const size = sizeField(ctx, f, event);
    const phys = arrayField(ctx, f, "phys_addrs", event);
    const perm = permOf(ctx, f, event, "rw");
    const r = pagesOf(dma, size);
    if (BigInt(phys.length) * PAGE !== r.size) {
      throw ctx.sink.err(`${event}: ${phys.length} physical addresses for ${r.size / PAGE} pages; the pairing is unknown`, lineNo, ctx.bodyColumn);
    }
    return coalesce(phys.map((p, k) => ({ iova: r.iova + BigInt(k) * PAGE, pa: pageDown(p), size: PAGE }))).map((s) =>
      makeMap(lineNo, column, domain, s.iova, s.pa, s.size, perm, userOf(f)),
    );
  }
  if (event === "dma_map_sg") return mapSg(ctx, f, domain);
  if (event === "dma_unmap_sg") return unmapSg(ctx, f, domain);
  return null;
}

function mapRange(ctx: Ctx, domain: number, dma: bigint, phys: bigint, size: bigint, perm: string, user: boolean, event: string): TraceEvent {
  if ((dma & (PAGE - 1n)) !== (phys & (PAGE - 1n))) {
    throw ctx.sink.err(
      `${event}: dma_addr 0x${dma.toString(16)} and phys_addr 0x${phys.toString(16)} differ in their offset within the page; not an IOMMU page mapping`,
      ctx.lineNo,
      ctx.bodyColumn,
    );
  }
  const r = pagesOf(dma, size);
  return makeMap(ctx.lineNo, ctx.column, domain, r.iova, pageDown(phys), r.size, perm, user);
}

/**
 * A dma:* mapping that prints no physical address: the pages [r.iova, r.iova + r.size) get the
 * physical addresses of the iommu:map lines that map them (each page from the unused iommu:map
 * covering it nearest to this line; those lines then count as used by it), or, when they do not
 * cover every page, PA = IOVA (a note in the summary).
 */
function mapFromIommuMaps(ctx: Ctx, domain: number, r: { iova: bigint; size: bigint }, perm: string, user: boolean): TraceEvent[] {
  const end = r.iova + r.size;
  const near = ctx.iommuMaps
    .filter((m) => !m.used && m.iova < end && m.iova + m.size > r.iova)
    .sort((a, b) => Math.abs(a.line - ctx.lineNo) - Math.abs(b.line - ctx.lineNo) || a.line - b.line);
  const taken: IommuMap[] = [];
  const pieces: { iova: bigint; pa: bigint; size: bigint }[] = [];
  let covered = 0n;
  for (const m of near) {
    const from = m.iova > r.iova ? m.iova : r.iova;
    const to = m.iova + m.size < end ? m.iova + m.size : end;
    if (pieces.some((p) => p.iova < to && p.iova + p.size > from)) continue; // a nearer line maps those pages
    pieces.push({ iova: from, pa: m.pa + (from - m.iova), size: to - from });
    taken.push(m);
    covered += to - from;
    if (covered === r.size) break;
  }
  if (covered !== r.size) {
    ctx.sink.note("maps with PA = IOVA: a dma:* mapping without a physical address whose pages no iommu:map line maps");
    return [makeMap(ctx.lineNo, ctx.column, domain, r.iova, r.iova, r.size, perm, user)];
  }
  for (const m of taken) {
    m.used = true;
    ctx.also.push(m.line);
  }
  pieces.sort((a, b) => (a.iova < b.iova ? -1 : 1));
  return coalesce(pieces).map((p) => makeMap(ctx.lineNo, ctx.column, domain, p.iova, p.pa, p.size, perm, user));
}

/** Consecutive page pairs merged where both IOVA and PA continue. */
function coalesce(pages: { iova: bigint; pa: bigint; size: bigint }[]): { iova: bigint; pa: bigint; size: bigint }[] {
  const out: { iova: bigint; pa: bigint; size: bigint }[] = [];
  for (const p of pages) {
    const last = out[out.length - 1];
    if (last !== undefined && last.iova + last.size === p.iova && last.pa + last.size === p.pa) last.size += p.size;
    else out.push({ ...p });
  }
  return out;
}

function sgKey(device: string, phys: bigint[]): string {
  return device + "|" + phys.map((p) => p.toString(16)).join(",");
}

function mapSg(ctx: Ctx, f: DmaFields, domain: number): TraceEvent[] {
  const event = "dma_map_sg";
  const dmas = arrayField(ctx, f, "dma_addrs", event);
  const sizes = arrayField(ctx, f, "sizes", event);
  const phys = arrayField(ctx, f, "phys_addrs", event);
  const perm = permOf(ctx, f, event);
  const user = userOf(f);
  if (dmas.length !== sizes.length) throw ctx.sink.err(`${event}: ${dmas.length} dma_addrs but ${sizes.length} sizes`, ctx.lineNo, ctx.bodyColumn);
  let pairs: { iova: bigint; pa: bigint; size: bigint }[];
  if (dmas.length === phys.length) {
    pairs = dmas.map((d, k) => {
      if ((d & (PAGE - 1n)) !== (phys[k]! & (PAGE - 1n))) {
        throw ctx.sink.err(`${event}: entry ${k}: dma address 0x${d.toString(16)} and phys 0x${phys[k]!.toString(16)} differ in their offset within the page`, ctx.lineNo, ctx.bodyColumn);
      }
      const r = pagesOf(d, sizes[k]!);
      return { iova: r.iova, pa: pageDown(phys[k]!), size: r.size };
    });
  } else {
    const pages: bigint[] = [];
    dmas.forEach((d, k) => {
      const r = pagesOf(d, sizes[k]!);
      for (let a = r.iova; a < r.iova + r.size; a += PAGE) pages.push(a);
    });
    if (pages.length !== phys.length) {
      throw ctx.sink.err(
        `${event}: ${phys.length} entries merged into ${dmas.length} DMA segments of ${pages.length} pages; the trace does not give each entry's length, so which page holds which entry is unknown`,
        ctx.lineNo,
        ctx.bodyColumn,
      );
    }
    pairs = pages.map((iova, k) => ({ iova, pa: pageDown(phys[k]!), size: PAGE }));
  }
  ctx.sgMaps.set(
    sgKey(f.device, phys),
    dmas.map((d, k) => pagesOf(d, sizes[k]!)),
  );
  return coalesce(pairs).map((p) => makeMap(ctx.lineNo, ctx.column, domain, p.iova, p.pa, p.size, perm, user));
}

function unmapSg(ctx: Ctx, f: DmaFields, domain: number): TraceEvent[] {
  const event = "dma_unmap_sg";
  let segments: { iova: bigint; size: bigint }[];
  if (f.values.has("dma_addrs")) {
    const dmas = arrayField(ctx, f, "dma_addrs", event);
    const sizes = arrayField(ctx, f, "sizes", event);
    if (dmas.length !== sizes.length) throw ctx.sink.err(`${event}: ${dmas.length} dma_addrs but ${sizes.length} sizes`, ctx.lineNo, ctx.bodyColumn);
    segments = dmas.map((d, k) => pagesOf(d, sizes[k]!));
  } else {
    const phys = arrayField(ctx, f, "phys_addrs", event);
    const key = sgKey(f.device, phys);
    const found = ctx.sgMaps.get(key);
    if (found === undefined) {
      throw ctx.sink.err(
        `${event} prints only physical addresses, and no earlier dma_map_sg of ${f.device} has these entries: its DMA addresses are unknown`,
        ctx.lineNo,
        ctx.bodyColumn,
      );
    }
    ctx.sgMaps.delete(key);
    segments = found;
  }
  const merged: { iova: bigint; size: bigint }[] = [];
  for (const s of segments) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.iova + last.size === s.iova) last.size += s.size;
    else merged.push({ ...s });
  }
  return merged.map((s) => makeUnmap(ctx.lineNo, ctx.column, domain, s.iova, s.size));
}

/** Lines of tracepoint output: event lines, trace-cmd's header lines, lost-events markers. */
function detectFtrace(sample: readonly string[]): number {
  return sample.filter((l) => FTRACE.test(l) || PERF.test(l) || TRACE_CMD_LINE.test(l) || LOST.test(l)).length / sample.length;
}

export const ftraceImporter: Importer = {
  name: "ftrace",
  description: "Linux tracepoints (ftrace trace/trace_pipe, trace-cmd report, perf script): iommu:*, dma:*, intel_iommu:qi_submit",
  looksLike: "Linux tracepoint output (ftrace, trace-cmd report, perf script)",
  import: importFtrace,
  detect: detectFtrace,
};
