/**
 * `qemu`: QEMU trace output of the intel-iommu (`vtd_*`, hw/i386/trace-events) and SMMUv3
 * (`smmuv3_*`, `smmu_*`, hw/arm/trace-events) models, in either text form
 * (shared/notes/ecosystem.md §1b):
 *
 *   log backend (-d trace:vtd_* -D qemu.log, or -trace vtd_*):  EVENT MESSAGE
 *     with `TID@SECONDS.MICROS:EVENT MESSAGE` in older QEMU (and with -msg timestamp=on), or an
 *     ISO-8601 UTC timestamp first in 2025+ QEMU (`2025-05-06T10:11:12.345678Z ... EVENT MESSAGE`).
 *     The first token that is a vtd_/smmuv3_/smmu_ event name starts the event, whatever precedes it.
 *   simpletrace.py text output:  EVENT DELTA_US pid=PID ARG=0xHEX ARG=STRING ...
 *     (DELTA_US is microseconds since the previous record, 3 decimals; the time of each record is
 *     the sum of the deltas so far, from 0 at the first record). Arguments are read by their
 *     trace-events names.
 * Log times are wall-clock seconds and become @TIME in us; simpletrace times become ns or us.
 *
 * Translation events -> TLPs (the source ID as the requester, the address QEMU translated):
 *   vtd_iotlb_page_hit, vtd_iotlb_page_update   "IOTLB page hit|update sid 0x.. iova 0x.. slpte 0x.. domain 0x.."
 *   vtd_piotlb_page_hit                         "PIOTLB page hit sid 0x.. pasid N iova 0x.. pte 0x.. domain 0x.." (with pasid=)
 *   vtd_translate_pt                            "source id 0x.., iova 0x.."  (pass-through; the page address)
 *   vtd_dmar_fault                              "sid 0x.. fault N addr 0x.. write 0|1"  (MWr when write 1; N, the
 *       fault reason QEMU records in FRCD, decimal, becomes the TLP's expected fault `expect=0x..`)
 *   vtd_dmar_translate                          "dev BB:DD.FF iova 0x.. -> gpa 0x.. mask 0x.."  (the page
 *       address): used only in a log that has none of vtd_iotlb_page_hit/update, vtd_piotlb_page_hit
 *       and vtd_translate_pt, because QEMU traces it after each of them for the same translation.
 *   smmuv3_translate_success   "NAME sid=SID iova=0x.. translated=0x.. perm=0x.. [stage=N]"
 *       (stage= since QEMU 9.1; sid decimal before 2024, 0x-hex since). perm 0x1 (read-only) -> MRd,
 *       0x2 (write-only) -> MWr; perm 0x3 does not tell the access (newer QEMU prints the mapping's
 *       permission, older the access flag): the default direction.
 *   smmuv3_translate_abort, _bypass, _disable   "NAME sid=SID abort on|STE bypass|bypass (smmu disabled) iova:0x.. is_write=N"
 *       -> the default direction: QEMU passes a permission, not the access, as is_write (abort
 *       always prints 0, bypass and disable always 1), so it is not used.
 *   A failed SMMUv3 translation (hw/arm/smmuv3.c smmuv3_translate, SMMU_TRANS_ERROR) is no trace
 *   event: QEMU logs it as a guest error (`-d guest_errors`, into the same -D file):
 *       "NAME translation failed for iova=0x.. (SMMU_EVT_TYPE)"   (no space before "(" before 2022)
 *     and then, when it writes the event record (event queue enabled, type not NONE), traces
 *       smmuv3_record_event "SMMU_EVT_TYPE sid=SID"   (sid decimal before 2024, 0x-hex since)
 *     Together -> a TLP of that StreamID at the iova with `expect=` the event type (QEMU's names
 *     from smmuv3-internal.h event_stringify without SMMU_EVT_; F_TRANS_FORBIDDEN is the spec's
 *     F_TRANSL_FORBIDDEN, E_PAGE_REQ E_PAGE_REQUEST); the record_event line is part of it. The
 *     StreamID comes from that line; without it (event queue off, or a fault QEMU does not record:
 *     "no recorded event" when CD.R / STE.S2R is 0) from another line of the log that names the
 *     same memory region with a sid= (smmuv3_translate_*); NAME alone does not give it (recent QEMU
 *     names regions "smmuv3-iommu-memory-region-DEVFN-INDEX", older QEMU BUS-DEVFN with the bus
 *     number at creation: smmu-common.c smmu_find_add_as). A fault QEMU did not record gets no `expect=` (note). Direction: QEMU's
 *     stage-1 permission check faults writes only (smmu-common.c is_permission_fault; the TLB-hit
 *     check in smmuv3_translate too), so F_PERMISSION -> MWr unless the log shows stage-2
 *     translations (stage=2 or 3 on smmuv3_translate_success, stage=2 on smmu_ptw_*), whose
 *     S2AP check also faults reads; every other failed translation takes the default direction
 *     (QEMU logs no access type for them).
 *   smmuv3_record_event without that line before it has no address: no TLP (no DMA, a note).
 *   The default direction for events that do not record it is MRd, or `--map op=MWr`.
 *   QEMU traces no PASID except in vtd_piotlb_page_hit; SMMU events carry no SubstreamID (QEMU's
 *   SMMUv3 has no substreams: it refuses STE.S1CDMAX != 0 with C_BAD_STE).
 *
 * Invalidation events -> `inv` (VT-d descriptors, symbolic; queued, as Linux issues them):
 *   vtd_inv_desc_cc_global -> cc global;  vtd_inv_desc_cc_domain -> cc domain did= (QEMU traces
 *     cc_global right after it, for the same descriptor: that cc_global is dropped);
 *   vtd_inv_desc_cc_devices (sid, fmask) -> cc device sid= fm=;
 *   vtd_inv_desc_iotlb_global -> iotlb global;  _iotlb_domain -> iotlb dsi;  _iotlb_pages -> iotlb psi
 *     (no ih: not traced);  _iotlb_pasid_pages -> piotlb psi;  _iotlb_pasid -> piotlb;
 *   vtd_inv_desc_pasid_cache_gsi|dsi|psi (and their first names vtd_pasid_cache_gsi|dsi|psi) ->
 *     pc global|dsi|pasid;
 *   vtd_inv_desc_wait_sw -> wait addr= data=;  vtd_inv_desc_wait_irq -> wait;  vtd_inv_desc_iec -> iec;
 *   vtd_inv_desc "invalidate desc type T high 0x.. low 0x..": for T = device -> devtlb, T =
 *     device-piotlb -> pdevtlb (decoded from the raw descriptor; these have no event of their own);
 *     for the other types it precedes the symbolic event above and is ignored.
 *   Register-based invalidations (CCMD, IOTLB_REG) trace the same symbolic events and come out as
 *   queued ones.
 *
 * Ignored (not errors), counted in the summary: the events that repeat another line (vtd_dmar_translate
 * after the exact events, the cc_global after cc_domain, vtd_inv_desc before its symbolic event);
 * without DMA: every other vtd_*, smmuv3_* and smmu_* event: register reads and writes,
 * page walks (vtd_page_walk_*, smmu_ptw_*), context and config caches (vtd_iotlb_cc_*,
 * smmuv3_config_cache_*), IOTLB lookups and inserts (smmu_iotlb_*), vtd_iotlb_reset, vtd_fault_disabled,
 * vtd_inv_desc_cc_device (one per device a cc_devices reaches), vtd_inv_desc_wait_write_fail,
 * vtd_inv_qi_*, vtd_pasid_cache_reset/devsi, replay and notifier events, interrupt remapping
 * (vtd_ir_*, vtd_irq_*), vtd_switch_address_space, vtd_frr_new, vtd_fsts_*, vtd_warn_*; and all
 * SMMUv3 invalidations and commands (smmuv3_cmdq_*, smmuv3_range_inval, smmu_iotlb_inv_*,
 * smmuv3_config_cache_inv...): their ASID/VMID/StreamID scopes have no VT-d descriptor. Also
 * ignored: amdvi_* and any line without a vtd_/smmuv3_/smmu_ event. A used event whose message
 * does not parse is an error.
 *
 * --map options: `op=MRd|MWr` (the default direction, above).
 */
import { SMMU_EVENTS } from "../events.ts";
import type { TraceEvent, TraceTlp } from "../text.ts";
import type { Invalidation } from "../../arch/vtd/trace-commands.ts";
import {
  checkOptionKeys,
  cValue,
  makeInv,
  makeTlp,
  MAX_U64,
  opOption,
  Sink,
  splitLines,
  timeFromNs,
  timeFromSeconds,
  type SourceTime,
} from "./common.ts";
import type { ImportOptions, ImportResult, Importer } from "./types.ts";

/** The event name: the first vtd_/smmuv3_/smmu_ token followed by a space or the end of the line. */
const EVENT = /(?:^|[\s:])((?:vtd|smmuv3|smmu)_[a-z0-9_]+)(?= |$)/;
const OLD_PREFIX = /^(\d+)@(\d+)\.(\d+):/;
const ISO_PREFIX = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?/;
const SIMPLE = /^(\S+) (\d+)\.(\d{3}) pid=\d+(?: (.*))?$/;

const X = "(0x[0-9a-fA-F]+)";
const XD = "(0x[0-9a-fA-F]+|\\d+)";
const D = "(\\d+)";

type Fields = Record<string, string>;

interface Spec {
  /** The argument names (trace-events), which name the log regex's groups in order. */
  args: string[];
  /** The log backend's message (without the event name), trimmed. */
  log: RegExp;
  /** Arguments the log prints in hex without 0x. */
  bareHex?: string[];
  handle: (ctx: Ctx, f: Fields) => TraceEvent | null;
}

interface Ctx {
  sink: Sink;
  lineNo: number;
  column: number;
  msgColumn: number;
  event: string;
  defaultOp: "MRd" | "MWr";
}

function num(ctx: Ctx, f: Fields, name: string, max: bigint = MAX_U64): bigint {
  const text = f[name];
  const v = text === undefined ? undefined : cValue(text);
  if (v === undefined) throw ctx.sink.err(`${ctx.event}: ${name} "${text ?? ""}" is not a number`, ctx.lineNo, ctx.msgColumn);
  if (v > max) throw ctx.sink.err(`${ctx.event}: ${name} ${text} is out of range (max 0x${max.toString(16)})`, ctx.lineNo, ctx.msgColumn);
  return v;
}

function small(ctx: Ctx, f: Fields, name: string, max: number): number {
  return Number(num(ctx, f, name, BigInt(max)));
}

function tlp(ctx: Ctx, op: TraceTlp["op"], sid: number, addr: bigint, extra: Partial<TraceTlp> = {}): TraceTlp {
  return makeTlp(ctx.lineNo, { op, sid, addr, ...extra });
}

function inv(ctx: Ctx, i: Invalidation): TraceEvent {
  return makeInv(ctx.lineNo, ctx.column, i);
}

/** addr and am of a page-selective invalidation: 2^am pages, naturally aligned. */
function psi(ctx: Ctx, f: Fields): { addr: bigint; am: number } {
  const addr = num(ctx, f, "addr");
  const am = small(ctx, f, "mask", 63);
  const bytes = 1n << BigInt(12 + am);
  if (addr & (bytes - 1n)) {
    throw ctx.sink.err(`${ctx.event}: addr 0x${addr.toString(16)} is not aligned to 2^${am} pages (0x${bytes.toString(16)} bytes)`, ctx.lineNo, ctx.msgColumn);
  }
  return { addr, am };
}

function iotlbHit(ctx: Ctx, f: Fields): TraceEvent {
  return tlp(ctx, ctx.defaultOp, small(ctx, f, "sid", 0xffff), num(ctx, f, "addr"));
}

/** The number of pages and aligned address of a device-TLB invalidation: S and ADDR[63:12]. */
function devTlbRange(addrField: bigint, s: boolean): { addr: bigint; pagesLg2: number } {
  let addr = addrField & ~0xfffn;
  if (!s) return { addr, pagesLg2: 0 };
  let ones = 0;
  while (ones < 52 && ((addr >> BigInt(12 + ones)) & 1n) === 1n) ones++;
  const pagesLg2 = Math.min(ones + 1, 52);
  addr &= ~((1n << BigInt(12 + pagesLg2)) - 1n);
  return { addr, pagesLg2 };
}

const SPECS: Record<string, Spec> = {
  vtd_iotlb_page_hit: { args: ["sid", "addr", "slpte", "domain"], log: new RegExp(`^IOTLB page hit sid ${X} iova ${X} slpte ${X} domain ${X}$`), handle: iotlbHit },
  vtd_iotlb_page_update: { args: ["sid", "addr", "slpte", "domain"], log: new RegExp(`^IOTLB page update sid ${X} iova ${X} slpte ${X} domain ${X}$`), handle: iotlbHit },
  vtd_piotlb_page_hit: {
    args: ["sid", "pasid", "addr", "pte", "domain"],
    log: new RegExp(`^PIOTLB page hit sid ${X} pasid ${XD} iova ${X} pte ${X} domain ${X}$`),
    handle: (ctx, f) => tlp(ctx, ctx.defaultOp, small(ctx, f, "sid", 0xffff), num(ctx, f, "addr"), { pasid: small(ctx, f, "pasid", 0xfffff) }),
  },
  vtd_translate_pt: { args: ["sid", "addr"], log: new RegExp(`^source id ${X}, iova ${X}$`), handle: iotlbHit },
  vtd_dmar_fault: {
    args: ["sid", "fault", "addr", "is_write"],
    log: new RegExp(`^sid ${X} fault ${D} addr ${X} write ${D}$`),
    handle: (ctx, f) =>
      tlp(ctx, num(ctx, f, "is_write") ? "MWr" : "MRd", small(ctx, f, "sid", 0xffff), num(ctx, f, "addr"), {
        expect: { arch: "vtd", code: small(ctx, f, "fault", 0xff) },
      }),
  },
  vtd_dmar_translate: {
    args: ["bus", "slot", "func", "iova", "gpa", "mask"],
    log: new RegExp(`^dev ([0-9a-fA-F]+):([0-9a-fA-F]+)\\.([0-9a-fA-F]+) iova ${X} -> gpa ${X} mask ${X}$`),
    bareHex: ["bus", "slot", "func"],
    handle: (ctx, f) => {
      const sid = (small(ctx, f, "bus", 0xff) << 8) | (small(ctx, f, "slot", 0x1f) << 3) | small(ctx, f, "func", 7);
      return tlp(ctx, ctx.defaultOp, sid, num(ctx, f, "iova"));
    },
  },
  smmuv3_translate_success: {
    args: ["n", "sid", "iova", "translated", "perm", "stage"],
    log: new RegExp(`^(\\S+) sid=${XD} iova=${X} translated=${X} perm=${X}(?: stage=${D})?$`),
    handle: (ctx, f) => {
      const perm = num(ctx, f, "perm");
      const op = perm === 1n ? "MRd" : perm === 2n ? "MWr" : ctx.defaultOp;
      return tlp(ctx, op, smmuSid(ctx, f), num(ctx, f, "iova"));
    },
  },
  smmuv3_translate_abort: { args: ["n", "sid", "addr", "is_write"], log: new RegExp(`^(\\S+) sid=${XD} abort on iova:${X} is_write=${D}$`), handle: smmuOther },
  smmuv3_translate_bypass: { args: ["n", "sid", "addr", "is_write"], log: new RegExp(`^(\\S+) sid=${XD} STE bypass iova:${X} is_write=${D}$`), handle: smmuOther },
  smmuv3_record_event: {
    args: ["type", "sid"],
    log: new RegExp(`^(\\S+) sid=${XD}$`),
    handle: (ctx) => {
      // Its translation failed line, when there is one, took it in (failedTranslation).
      ctx.sink.note("smmuv3_record_event lines without QEMU's \"translation failed\" line before them (-d guest_errors): no address, no TLP");
      return null;
    },
  },
  smmuv3_translate_disable: {
    args: ["n", "sid", "addr", "is_write"],
    log: new RegExp(`^(\\S+) sid=${XD} bypass \\(smmu disabled\\) iova:${X} is_write=${D}$`),
    handle: smmuOther,
  },

  vtd_inv_desc: {
    args: ["type", "hi", "lo"],
    log: new RegExp(`^invalidate desc type (\\S+) high ${X} low ${X}$`),
    handle: (ctx, f) => {
      const type = f["type"];
      if (type !== "device" && type !== "device-piotlb") {
        // its symbolic event follows and gives the invalidation
        ctx.sink.ignore(ctx.lineNo, "repeat");
        return null;
      }
      const lo = num(ctx, f, "lo");
      const hi = num(ctx, f, "hi");
      if (type === "device") {
        const { addr, pagesLg2 } = devTlbRange(hi, (hi & 1n) === 1n);
        return inv(ctx, { kind: "devtlb", sid: Number((lo >> 32n) & 0xffffn), addr, pagesLg2 });
      }
      const { addr, pagesLg2 } = devTlbRange(hi, ((hi >> 11n) & 1n) === 1n);
      return inv(ctx, { kind: "pdevtlb", sid: Number((lo >> 16n) & 0xffffn), pasid: Number((lo >> 32n) & 0xfffffn), addr, pagesLg2, all: (hi & 1n) === 1n });
    },
  },
  vtd_inv_desc_cc_global: { args: [], log: /^context invalidate globally$/, handle: (ctx) => inv(ctx, { kind: "cc", reg: false, gran: "global" }) },
  vtd_inv_desc_cc_domain: {
    args: ["domain"],
    log: new RegExp(`^context invalidate domain ${X}$`),
    handle: (ctx, f) => inv(ctx, { kind: "cc", reg: false, gran: "domain", did: small(ctx, f, "domain", 0xffff) }),
  },
  vtd_inv_desc_cc_devices: {
    args: ["sid", "fmask"],
    log: new RegExp(`^context invalidate devices sid ${X} fmask ${X}$`),
    handle: (ctx, f) => inv(ctx, { kind: "cc", reg: false, gran: "device", sid: small(ctx, f, "sid", 0xffff), fm: small(ctx, f, "fmask", 3) }),
  },
  vtd_inv_desc_iotlb_global: { args: [], log: /^iotlb invalidate global$/, handle: (ctx) => inv(ctx, { kind: "iotlb", reg: false, gran: "global" }) },
  vtd_inv_desc_iotlb_domain: {
    args: ["domain"],
    log: new RegExp(`^iotlb invalidate whole domain ${X}$`),
    handle: (ctx, f) => inv(ctx, { kind: "iotlb", reg: false, gran: "dsi", did: small(ctx, f, "domain", 0xffff) }),
  },
  vtd_inv_desc_iotlb_pages: {
    args: ["domain", "addr", "mask"],
    log: new RegExp(`^iotlb invalidate domain ${X} addr ${X} mask ${X}$`),
    handle: (ctx, f) =>
      inv(ctx, { kind: "iotlb", reg: false, gran: "psi", did: small(ctx, f, "domain", 0xffff), ...psi(ctx, f), ih: false }),
  },
  vtd_inv_desc_iotlb_pasid_pages: {
    args: ["domain", "addr", "mask", "pasid"],
    log: new RegExp(`^iotlb invalidate domain ${X} addr ${X} mask ${X} pasid ${X}$`),
    handle: (ctx, f) =>
      inv(ctx, {
        kind: "piotlb",
        did: small(ctx, f, "domain", 0xffff),
        pasid: small(ctx, f, "pasid", 0xfffff),
        psi: { ...psi(ctx, f), ih: false },
      }),
  },
  vtd_inv_desc_iotlb_pasid: {
    args: ["domain", "pasid"],
    log: new RegExp(`^iotlb invalidate domain ${X} pasid ${X}$`),
    handle: (ctx, f) => inv(ctx, { kind: "piotlb", did: small(ctx, f, "domain", 0xffff), pasid: small(ctx, f, "pasid", 0xfffff) }),
  },
  vtd_inv_desc_wait_sw: {
    args: ["addr", "data"],
    log: new RegExp(`^wait invalidate status write addr ${X} data ${X}$`),
    handle: (ctx, f) => inv(ctx, { kind: "wait", status: { addr: num(ctx, f, "addr"), data: small(ctx, f, "data", 0xffffffff) } }),
  },
  vtd_inv_desc_wait_irq: { args: ["msg"], log: /^(.*)$/, handle: (ctx) => inv(ctx, { kind: "wait" }) },
  vtd_inv_desc_iec: { args: ["granularity", "index", "mask"], log: new RegExp(`^granularity ${X} index ${X} mask ${X}$`), handle: (ctx) => inv(ctx, { kind: "iec" }) },
};

// The PASID-cache events, under their final and their first names.
for (const prefix of ["vtd_inv_desc_pasid_cache_", "vtd_pasid_cache_"]) {
  SPECS[prefix + "gsi"] = { args: [], log: /^$/, handle: (ctx) => inv(ctx, { kind: "pc", gran: "global" }) };
  SPECS[prefix + "dsi"] = {
    args: ["domain"],
    log: new RegExp(`^\\S+ s\\S*ective PC invalidation domain ${X}$`),
    handle: (ctx, f) => inv(ctx, { kind: "pc", gran: "dsi", did: small(ctx, f, "domain", 0xffff) }),
  };
  SPECS[prefix + "psi"] = {
    args: ["domain", "pasid"],
    log: new RegExp(`^\\S+ s\\S*ective PC invalidation domain ${X} pasid ${X}$`),
    handle: (ctx, f) => inv(ctx, { kind: "pc", gran: "pasid", did: small(ctx, f, "domain", 0xffff), pasid: small(ctx, f, "pasid", 0xfffff) }),
  };
}

function smmuSid(ctx: Ctx, f: Fields): number {
  return Number(num(ctx, f, "sid", 0xffffffffn));
}

function smmuOther(ctx: Ctx, f: Fields): TraceEvent {
  return tlp(ctx, ctx.defaultOp, smmuSid(ctx, f), num(ctx, f, "addr"));
}

/** QEMU's guest-error line of a failed SMMUv3 translation (hw/arm/smmuv3.c smmuv3_translate). */
const FAILED = /(?:^|\s)(\S+) translation failed for iova=0x([0-9a-fA-F]+) ?\(([^()]*)\)\s*$/;
/** A line that names a memory region with its StreamID: NAME sid=SID (the smmuv3_translate_* events). */
const NAMED_SID = /(?:^|[\s:])smmuv3_translate_[a-z]+ (\S+) sid=(0x[0-9a-fA-F]+|\d+)\b/;
/** Signs of stage-2 translations in a log: F_PERMISSION may then be a read. */
const STAGE2 = /(?:^|[\s:])(?:smmuv3_translate_success \S+ sid=\S+ iova=\S+ translated=\S+ perm=\S+ stage=[23]|smmu_ptw_[a-z_]+ stage=2)\b/m;
/** QEMU's event names (smmuv3-internal.h event_stringify, without SMMU_EVT_) that differ from the spec's. */
const QEMU_EVENT_NAMES: Record<string, string> = { F_TRANS_FORBIDDEN: "F_TRANSL_FORBIDDEN", E_PAGE_REQ: "E_PAGE_REQUEST" };
/** QEMU's string for a failed translation with no event (CD.R / STE.S2R = 0): SMMU_EVT_NONE (SMMU_EVT_OK before 2020). */
const NO_EVENT = new Set(["no recorded event", "SMMU_EVT_OK", "SMMU_EVT_NONE"]);
const RECORD_EVENT = /(?:^|[\s:])smmuv3_record_event (\S+) sid=(0x[0-9a-fA-F]+|\d+)\s*$/;

/** Events that give the exact address of a VT-d translation (vtd_dmar_translate repeats them). */
const EXACT_VTD = /(?:^|[\s:])vtd_(?:iotlb_page_hit|iotlb_page_update|piotlb_page_hit|translate_pt)[ \n\r]/m;

function importQemu(text: string, file: string, opts: ImportOptions): ImportResult {
  const map = checkOptionKeys("qemu", opts, ["op"]);
  const defaultOp = opOption("qemu", map);
  const lines = splitLines(text);
  const sink = new Sink("qemu", file, opts.skipBad, lines);
  const useDmarTranslate = !EXACT_VTD.test(text);
  const smmu = smmuContext(text, lines);
  let simpleNs = 0n;
  let ccDomainJustBefore = false;

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const lineNo = i + 1;
    if (smmu.taken.has(lineNo)) continue; // a smmuv3_record_event its failed translation took in
    const failed = FAILED.exec(line);
    if (failed !== null && !SIMPLE.test(line)) {
      failedTranslation(sink, smmu, lines, lineNo, failed, defaultOp);
      continue;
    }
    let event: string;
    let fields: Fields | undefined;
    let message: string | undefined;
    let column: number;
    let msgColumn: number;
    let time: SourceTime | undefined;

    const simple = SIMPLE.exec(line);
    if (simple !== null && /^[a-z0-9_]+$/.test(simple[1]!)) {
      // simpletrace.py: every record advances the clock, used or not.
      simpleNs += BigInt(simple[2]!) * 1000n + BigInt(simple[3]!);
      event = simple[1]!;
      column = 1;
      time = timeFromNs(simpleNs, event.length + 2);
      const args = simple[4] ?? "";
      msgColumn = line.length - args.length + 1;
      fields = {};
      for (const tok of args.split(" ")) {
        const eq = tok.indexOf("=");
        if (eq > 0) fields[tok.slice(0, eq)] = tok.slice(eq + 1);
      }
    } else {
      const m = EVENT.exec(line);
      if (m === null) continue;
      event = m[1]!;
      column = m.index + m[0].length - event.length + 1;
      message = line.slice(column - 1 + event.length).replace(/^ /, "").replace(/\s+$/, "");
      msgColumn = column + event.length + 1;
      const head = line.slice(0, column - 1);
      const old = OLD_PREFIX.exec(head);
      const iso = old === null ? ISO_PREFIX.exec(head) : null;
      if (old !== null) time = timeFromSeconds(old[2]!, old[3]!, old[1]!.length + 2);
      else if (iso !== null) time = isoTime(iso);
    }

    const spec = SPECS[event];
    const afterCcDomain = ccDomainJustBefore;
    ccDomainJustBefore = false;
    if (spec === undefined) {
      sink.ignore(lineNo, "noDma");
      continue;
    }
    if ((event === "vtd_dmar_translate" && !useDmarTranslate) || (event === "vtd_inv_desc_cc_global" && afterCcDomain)) {
      sink.ignore(lineNo, "repeat");
      continue;
    }
    if (event === "vtd_inv_desc_cc_domain") ccDomainJustBefore = true;

    const ctx: Ctx = { sink, lineNo, column, msgColumn, event, defaultOp };
    sink.line(lineNo, time, () => {
      let f = fields;
      if (f === undefined) {
        const m = spec.log.exec(message ?? "");
        if (m === null) {
          throw sink.err(`${event}: unrecognised message "${message}"; expected the format of hw/i386 or hw/arm trace-events`, lineNo, msgColumn);
        }
        f = {};
        spec.args.forEach((name, k) => {
          const v = m[k + 1];
          if (v !== undefined) f![name] = spec.bareHex?.includes(name) ? "0x" + v : v;
        });
      } else {
        for (const name of spec.args) {
          if (f[name] === undefined && name !== "stage" && name !== "msg") {
            throw sink.err(`${event}: no ${name}= in the simpletrace record`, lineNo, msgColumn);
          }
        }
      }
      return spec.handle(ctx, f);
    });
  }
  return sink.result();
}

interface SmmuContext {
  /** StreamIDs of memory regions, from the lines that name both (NAMED_SID). */
  sidOf: Map<string, number>;
  /** The log shows stage-2 translations. */
  stage2: boolean;
  /** smmuv3_record_event lines taken in by the failed translation before them. */
  taken: Set<number>;
}

function smmuContext(text: string, lines: readonly string[]): SmmuContext {
  const sidOf = new Map<string, number>();
  if (text.includes(" translation failed for iova=")) {
    for (const l of lines) {
      const m = NAMED_SID.exec(l);
      if (m !== null && !sidOf.has(m[1]!)) sidOf.set(m[1]!, Number(BigInt(m[2]!))); // 0x-hex or decimal
    }
  }
  return { sidOf, stage2: STAGE2.test(text), taken: new Set() };
}

/**
 * QEMU's "NAME translation failed for iova=0x.. (SMMU_EVT_TYPE)" line and the smmuv3_record_event
 * right after it, if any (the same type): one TLP with expect= the event type (see the header).
 */
function failedTranslation(sink: Sink, smmu: SmmuContext, lines: readonly string[], lineNo: number, m: RegExpExecArray, defaultOp: "MRd" | "MWr"): void {
  const [, name, addrHex, qemuType] = m as unknown as [string, string, string, string];
  const line = lines[lineNo - 1]!;
  const column = m.index + m[0].indexOf(name) + 1;
  const next = lines[lineNo]; // the line after (index lineNo is line lineNo + 1)
  const rec = next !== undefined ? RECORD_EVENT.exec(next) : null;
  const also = rec !== null && rec[1] === qemuType ? [lineNo + 1] : [];
  if (also.length) smmu.taken.add(lineNo + 1);
  // The time: the failed line's ISO-8601 prefix (qemu_log), else the record_event's trace prefix.
  const iso = ISO_PREFIX.exec(line.slice(0, column - 1));
  let time = iso !== null ? isoTime(iso) : undefined;
  if (time === undefined && also.length) {
    const head = next!.slice(0, next!.indexOf("smmuv3_record_event"));
    const old = OLD_PREFIX.exec(head);
    const iso2 = old === null ? ISO_PREFIX.exec(head) : null;
    time = old !== null ? timeFromSeconds(old[2]!, old[3]!, old[1]!.length + 2) : iso2 !== null ? isoTime(iso2) : undefined;
  }
  sink.line(
    lineNo,
    time,
    () => {
      let code: number | undefined;
      if (!NO_EVENT.has(qemuType)) {
        const short = qemuType.startsWith("SMMU_EVT_") ? qemuType.slice("SMMU_EVT_".length) : undefined;
        const spec = short === undefined ? undefined : (QEMU_EVENT_NAMES[short] ?? short);
        code = spec !== undefined && Object.hasOwn(SMMU_EVENTS, spec) ? SMMU_EVENTS[spec] : undefined;
        if (code === undefined)
          throw sink.err(`failed SMMUv3 translation: unknown event type "${qemuType}"; expected a name of QEMU's smmuv3-internal.h (SMMU_EVT_F_TRANSLATION, ...) or "no recorded event"`, lineNo, column);
      } else sink.note("failed SMMUv3 translations QEMU did not record (no event type: CD.R or STE.S2R is 0): TLPs without expect=");
      let sid: number | undefined;
      if (also.length) {
        const v = cValue(rec![2]!);
        if (v === undefined || v > 0xffffn) throw sink.err(`smmuv3_record_event: sid ${rec![2]} is out of range (max 0xffff)`, lineNo + 1);
        sid = Number(v);
      } else sid = smmu.sidOf.get(name);
      if (sid === undefined)
        throw sink.err(
          `failed SMMUv3 translation of ${name}: no StreamID (no smmuv3_record_event follows, and no smmuv3_translate_* line names ${name} with sid=); trace smmuv3_record_event or smmuv3_translate_*`,
          lineNo,
          column,
        );
      const addr = BigInt("0x" + addrHex);
      // F_PERMISSION: only writes at stage 1 in QEMU (is_permission_fault); stage 2 may fault reads.
      const perm = code === SMMU_EVENTS["F_PERMISSION"];
      if (perm && smmu.stage2) sink.note("F_PERMISSION in a log with stage-2 translations (a read or a write): the default direction");
      const op = perm && !smmu.stage2 ? "MWr" : defaultOp;
      const translated = code === SMMU_EVENTS["F_TRANSL_FORBIDDEN"];
      return makeTlp(lineNo, { op, sid, addr, ...(translated ? { translated } : {}), ...(code !== undefined ? { expect: { arch: "smmuv3" as const, code } } : {}) });
    },
    also,
  );
}

/** An ISO-8601 timestamp (UTC, or with an offset) as a time since the epoch. */
function isoTime(m: RegExpExecArray): SourceTime | undefined {
  const [, y, mo, d, h, mi, s, frac = "", zone = "Z"] = m;
  let seconds = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) / 1000;
  if (zone !== "Z") {
    const z = /^([+-])(\d\d):?(\d\d)$/.exec(zone)!;
    seconds -= (z[1] === "-" ? -1 : 1) * (Number(z[2]) * 3600 + Number(z[3]) * 60);
  }
  if (!Number.isFinite(seconds) || seconds < 0) return undefined;
  return timeFromSeconds(String(seconds), frac, 1);
}

export const qemuImporter: Importer = {
  name: "qemu",
  description: "QEMU trace logs (log backend or simpletrace.py text) of intel-iommu vtd_* and SMMUv3 smmuv3_*/smmu_* events, with SMMUv3 failed-translation guest errors",
  looksLike: "a QEMU trace log (vtd_*, smmuv3_* events)",
  import: importQemu,
  detect: (sample) => sample.filter((l) => EVENT.test(l) || SIMPLE.test(l) || FAILED.test(l)).length / sample.length,
};
