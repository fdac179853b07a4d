/**
 * `kernel`: kernel logs (dmesg, journalctl -k, /var/log/kern.log) with IOMMU and PCIe error reports.
 * Three kinds of line become TLPs; every other line is ignored (counted in the summary).
 *
 * 1. AER TLP header logs (drivers/pci/pcie/tlp.c pcie_print_tlp_log, and aer.c before it):
 *      pcieport 0000:00:1c.0: AER:   TLP Header: 0x40000001 0x0000000f 0x90028090 0x00000000 E-E Prefixes: 0x91000002
 *      pcieport 0000:00:1c.0:   TLP Header: 40000001 0000000f 90028090 00000000      (before the 2025 refactor: %08x)
 *    The dwords are decoded by tlp-header.ts (MRd/MWr, 32/64-bit address, requester ID, byte range,
 *    No-Snoop/RO/IDO, AT, the PASID prefix). The PCI segment is the reporting port's (the
 *    `SSSS:BB:DD.F:` before "TLP Header"), 0 when the line has none. A header of a valid TLP that
 *    is no DMA access (a Message, as in the log of an ACS violation, `TLP Header: 34000000 ...`; a
 *    completion, configuration or I/O request) is a line without DMA, not an error. Flit-mode logs
 *    (`TLP Header (Flit):`) are errors: their layout (OHC) is not decoded.
 * 2. Intel DMAR fault reports (drivers/iommu/intel/dmar.c dmar_fault_do_one), in all the forms
 *    kernels have printed:
 *      DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0xfffff000 [fault reason 0x06] PTE Read access is not set
 *      DMAR: [DMA Write PASID 0x2] Request device [3b:00.0] fault addr 0x7f00000 [fault reason 0x71] ...
 *      DMAR: [DMA Read NO_PASID] Request device [0x00:0x02.0] fault addr 0xfffff000 [fault reason 0x06] ...  (5.10-5.13)
 *      DMAR: [DMA Read] Request device [00:02.0] PASID ffffffff fault addr fffff000 [fault reason 06] ...  (5.x; ffffffff = none)
 *      DMAR: [DMA Read] Request device [00:02.0] fault addr fffff000 [fault reason 06] ...                 (4.x)
 *      DMAR:[DMA Read] Request device [00:02.0] fault addr fffff000                                         (3.x; the reason on the next line)
 *    become the faulting request: MRd for DMA Read, MWr for DMA Write, the requester as the source
 *    ID (segment 0: the line names none), the page address, the PASID when there is one, and the
 *    fault reason (hex, spec/vtd.md 2.10) as its expected fault (`expect=0x06`), which `run
 *    --expect-faults` compares with the model's. In the 3.x form the reason is on the next line
 *    (`DMAR:[fault reason 06] ...`), which then belongs to the fault. `[INTR-REMAP]` faults
 *    (interrupt remapping, not DMA), "DRHD: handling fault status" lines, reason lines without a
 *    fault before them and every other `DMAR:`/`DMAR-IR:` line carry no DMA.
 * 3. arm-smmu-v3 event records (drivers/iommu/arm/arm-smmu-v3 arm_smmu_dump_raw_event): the raw
 *    record, which every kernel prints,
 *      arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:
 *      arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000010000000010      (4 dwords, spec/smmuv3.md 2.6)
 *    is decoded: StreamID (dw0[63:32]) as the source ID (a 32-bit StreamID fills the segment bits),
 *    SubstreamID (dw0[31:12]) as the PASID when SSV (dw0[11]), with `priv` from PnU and `exe`
 *    from InD, InputAddr (dw2) as the address, RnW (dw1[35]) for MRd/MWr, and the event type as its
 *    expected fault (`expect=F_TRANSLATION`). The TLP's time is that of the record's last dword
 *    line, its line number the `event ... received:` line.
 *    Events that record the faulting access become TLPs: F_UUT (0x01), F_WALK_EABT (0x0b),
 *    F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION (0x10-0x13), F_TRANSL_FORBIDDEN (0x07,
 *    `at=translated`) and F_BAD_ATS_TREQ (0x05, an ATS translation request of the page; its NW is
 *    not recorded). Events without an input address are ignored: C_BAD_STREAMID, F_STE_FETCH,
 *    C_BAD_STE, F_STREAM_DISABLED, C_BAD_SUBSTREAMID, F_CD_FETCH, C_BAD_CD, F_TLB_CONFLICT,
 *    F_CFG_CONFLICT, E_PAGE_REQUEST, F_VMS_FETCH and unknown ids (no DMA).
 *    The decoded lines recent kernels print after the record (`event: F_TRANSLATION client: ...
 *    sid: ... iova: ...` and `unpriv data read s1 "..." stag: ...`) repeat it and are ignored; an
 *    `event: ... client:` line with no record before it is an error (its ssid cannot tell SSV).
 *    A record cut short (another line of the same SMMU before its 4 dwords, or the end of the
 *    log) is an error at its first line.
 *
 * Other AER lines (the error summary, `PCIe Bus Error`, `error status/mask`, the error bits) and
 * other arm-smmu-v3 lines carry no DMA; lines of other drivers are not lines this importer reads.
 *
 * Times: the `[ seconds.micros]` printk stamp (at the start of the line, or after `kernel: ` in
 * syslog files) becomes @TIME; lines without one (journalctl's default) give events without time.
 * Takes no --map options.
 */
import type { TraceEvent } from "../text.ts";
import { checkOptionKeys, makeTlp, Sink, splitLines, timeFromSeconds, type SourceTime } from "./common.ts";
import type { ImportOptions, ImportResult, Importer } from "./types.ts";
import { decodeTlpHeader, NoDmaTlp, TlpHeaderError } from "./tlp-header.ts";

const PRINTK_TIME = /^(?:<\d+>)?\[\s*(\d+)\.(\d+)\]/;
const SYSLOG_TIME = /\bkernel: \[\s*(\d+)\.(\d+)\]/;

const AER = /TLP Header( \(Flit\))?:/;
const DMAR =
  /DMAR: ?\[DMA (Read|Write)(?: (?:NO_PASID|PASID (0x[0-9a-fA-F]+)))?\] Request device \[(?:0x)?([0-9a-fA-F]{2}):(?:0x)?([0-9a-fA-F]{2})\.([0-7])\] (?:PASID ([0-9a-fA-F]+) )?fault addr (?:0x)?([0-9a-fA-F]+)\b/;
const DMAR_ANY = /DMAR: ?\[(DMA Read|DMA Write|INTR-REMAP)/;
/** The fault reason, on the fault's line or (3.x) on a line of its own after it. */
const REASON = /\[fault reason (?:0x)?([0-9a-fA-F]+)\]/;
const REASON_LINE = /DMAR: ?\[fault reason (?:0x)?([0-9a-fA-F]+)\]/;
/** Lines of IOMMU and PCIe error reports that carry no DMA (checked after the lines that may). */
const NO_DMA = /\bDMAR(?:-IR)?:|\bDRHD: |\bAER:|PCIe Bus Error|error status\/mask=|\[Hardware Error\]|\s\[\s?\d{1,2}\] \S/;
/** A kernel log line: a printk time, syslog's or journalctl's `kernel: `, or an IOMMU/AER report. */
const KERNEL_LINE = /^(?:<\d+>)?\[\s*\d+\.\d+\]|\bkernel: |\bDMAR:|TLP Header|\barm-smmu-v3 /;
const SMMU = /\barm-smmu-v3 (\S+): (.*)$/;
const SMMU_HEADER = /^event 0x([0-9a-fA-F]+) received:\s*$/;
const SMMU_DWORD = /^\s*0x([0-9a-fA-F]{16})\s*$/;
const SMMU_DECODED = /^event: \S+ client: /;

/** Event types whose record holds the faulting access's input address. */
const SMMU_ACCESS_EVENTS = new Set([0x01, 0x05, 0x07, 0x0b, 0x10, 0x11, 0x12, 0x13]);

interface PendingRecord {
  id: number;
  line: number;
  column: number;
  dwords: bigint[];
  /** The dword lines (they share the record's outcome). */
  lines: number[];
}

function importKernel(text: string, file: string, opts: ImportOptions): ImportResult {
  checkOptionKeys("kernel", opts, []);
  const lines = splitLines(text);
  const sink = new Sink("kernel", file, opts.skipBad, lines);
  const pending = new Map<string, PendingRecord>();
  // SMMU devices whose last line was the 4th dword of a record ("record"; the decoded `event:` line
  // may follow) or that decoded line ("decoded"; the `priv`/`unpriv` line may follow).
  const decoded = new Map<string, "record" | "decoded">();

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const lineNo = i + 1;
    let time: SourceTime | undefined;
    const tm = PRINTK_TIME.exec(line) ?? SYSLOG_TIME.exec(line);
    if (tm !== null) {
      time = timeFromSeconds(tm[1]!, tm[2]!, tm.index + tm[0].indexOf(tm[1]!) + 1);
      if (time === undefined) {
        sink.fail(`printk timestamp "${tm[0]}" has more than 9 decimals`, lineNo, tm.index + 1);
        continue;
      }
    }

    const smmu = SMMU.exec(line);
    if (smmu !== null) {
      const device = smmu[1]!;
      const rest = smmu[2]!;
      const restColumn = line.length - rest.length + 1;
      const record = pending.get(device);
      const dword = SMMU_DWORD.exec(rest);
      if (record !== undefined && dword !== null) {
        record.dwords.push(BigInt("0x" + dword[1]!));
        record.lines.push(lineNo);
        if (record.dwords.length === 4) {
          pending.delete(device);
          decoded.set(device, "record");
          sink.line(record.line, time, () => smmuEvent(sink, record), record.lines);
        }
        continue;
      }
      if (record !== undefined) {
        pending.delete(device);
        sink.fail(`arm-smmu-v3 event record cut short: ${record.dwords.length} of its 4 dwords before line ${lineNo}`, record.line, record.column, record.lines);
      }
      const header = SMMU_HEADER.exec(rest);
      if (header !== null) {
        decoded.delete(device);
        pending.set(device, { id: parseInt(header[1]!, 16), line: lineNo, column: restColumn, dwords: [], lines: [] });
        continue;
      }
      if (SMMU_DECODED.test(rest)) {
        if (decoded.get(device) === "record") {
          decoded.set(device, "decoded");
          sink.ignore(lineNo, "repeat");
        } else {
          decoded.delete(device);
          sink.fail(
            "arm-smmu-v3 decoded event line without its raw record before it (`event 0x.. received:` and 4 dwords); " +
              "the importer reads the raw record (the decoded ssid cannot tell whether SSV was set)",
            lineNo,
            restColumn,
          );
        }
        continue;
      }
      // the second decoded line (`unpriv data read s1 "..." stag: ...`) repeats the record too
      sink.ignore(lineNo, /^(?:un)?priv /.test(rest) && decoded.get(device) === "decoded" ? "repeat" : "noDma");
      decoded.delete(device);
      continue;
    }

    const aer = AER.exec(line);
    if (aer !== null) {
      sink.line(lineNo, time, () => aerTlp(sink, line, lineNo, aer));
      continue;
    }

    const dmarAny = DMAR_ANY.exec(line);
    if (dmarAny !== null && dmarAny[1] !== "INTR-REMAP") {
      // 3.x: the reason is on the next line
      const next = REASON.test(line) ? null : REASON_LINE.exec(lines[i + 1] ?? "");
      sink.line(lineNo, time, () => dmarTlp(sink, line, lineNo, dmarAny.index + 1, next?.[1]), next ? [lineNo + 1] : []);
      continue;
    }
    if (NO_DMA.test(line)) sink.ignore(lineNo, "noDma");
  }
  for (const record of pending.values()) {
    sink.fail(`arm-smmu-v3 event record cut short: ${record.dwords.length} of its 4 dwords before the end of the log`, record.line, record.column, record.lines);
  }
  return sink.result();
}

/** `TLP Header: DW0 DW1 DW2 DW3 [E-E Prefixes: P0 ...]`; null for a TLP that is no DMA access. */
function aerTlp(sink: Sink, line: string, lineNo: number, m: RegExpExecArray): TraceEvent | null {
  const column = m.index + 1;
  if (m[1] !== undefined) {
    throw sink.err("Flit-mode TLP header logs (`TLP Header (Flit):`) are not decoded: their OHC layout differs from non-Flit headers", lineNo, column);
  }
  const seg = /\b([0-9a-fA-F]{4}):[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]:/.exec(line.slice(0, m.index));
  const segment = seg === null ? 0 : parseInt(seg[1]!, 16);
  const start = m.index + m[0].length;
  const tokens: { text: string; column: number }[] = [];
  const re = /\S+/g;
  re.lastIndex = start;
  for (let t = re.exec(line); t !== null; t = re.exec(line)) tokens.push({ text: t[0], column: t.index + 1 });
  const dws: number[] = [];
  const prefixes: number[] = [];
  const columns: number[] = [];
  let inPrefixes = false;
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k]!;
    if (!inPrefixes && tok.text === "E-E" && tokens[k + 1]?.text === "Prefixes:") {
      inPrefixes = true;
      k++;
      continue;
    }
    const v = /^(?:0x)?([0-9a-fA-F]{1,10})$/.exec(tok.text);
    const n = v === null ? NaN : parseInt(v[1]!, 16);
    if (!(n <= 0xffffffff)) {
      throw sink.err(`expected a TLP ${inPrefixes ? "prefix" : "header"} dword in hex (0x optional), got "${tok.text}"`, lineNo, tok.column);
    }
    (inPrefixes ? prefixes : dws).push(n);
    columns.push(tok.column);
  }
  if (dws.length === 0) throw sink.err("no dwords after \"TLP Header:\"", lineNo, column);
  // Dwords of the header first, prefixes after (as TlpHeaderError numbers them).
  const headerColumns = columns.slice(0, dws.length);
  const prefixColumns = columns.slice(dws.length);
  try {
    return { line: lineNo, ...decodeTlpHeader(dws, prefixes, segment).tlp };
  } catch (x) {
    if (x instanceof NoDmaTlp) return null; // a Message (ACS violation), completion, config or I/O request
    if (!(x instanceof TlpHeaderError)) throw x;
    const col = x.dword < dws.length ? headerColumns[x.dword] : prefixColumns[x.dword - dws.length];
    throw sink.err(x.message, lineNo, col ?? column);
  }
}

/** A DMAR fault line; `nextReason` is the reason of a 3.x reason line after it. */
function dmarTlp(sink: Sink, line: string, lineNo: number, column: number, nextReason: string | undefined): TraceEvent {
  const m = DMAR.exec(line);
  if (m === null) {
    throw sink.err(
      "unrecognised DMAR fault line: expected `[DMA Read|Write ...] Request device [BB:DD.F] ... fault addr ADDR`",
      lineNo,
      column,
    );
  }
  const [, dir, bracketPasid, bus, dev, fn, oldPasid, addr] = m;
  const device = parseInt(dev!, 16);
  if (device > 0x1f) throw sink.err(`device 0x${dev} in "Request device" is out of range (max 0x1f)`, lineNo, column);
  let pasid: number | undefined;
  const pasidText = bracketPasid ?? oldPasid;
  if (pasidText !== undefined) {
    const n = parseInt(pasidText.replace(/^0x/i, ""), 16);
    // 5.x kernels print PASID -1 (none) as ffffffff.
    if (n !== 0xffffffff) {
      if (n > 0xfffff) throw sink.err(`PASID ${pasidText} is out of range (max 0xfffff)`, lineNo, column);
      pasid = n;
    }
  }
  const sid = (parseInt(bus!, 16) << 8) | (device << 3) | Number(fn);
  const a = BigInt("0x" + addr!);
  if (a > (1n << 64n) - 1n) throw sink.err(`fault addr ${addr} is out of range`, lineNo, column);
  const reasonText = REASON.exec(line.slice(m.index + m[0].length))?.[1] ?? nextReason;
  const reason = reasonText === undefined ? undefined : parseInt(reasonText, 16);
  if (reason !== undefined && reason > 0xff) throw sink.err(`fault reason 0x${reasonText} is out of range (max 0xff)`, lineNo, column);
  return makeTlp(lineNo, {
    op: dir === "Read" ? "MRd" : "MWr",
    sid,
    addr: a,
    ...(pasid !== undefined ? { pasid } : {}),
    ...(reason !== undefined ? { expect: { arch: "vtd" as const, code: reason } } : {}),
  });
}

function smmuEvent(sink: Sink, r: PendingRecord): TraceEvent | null {
  const [dw0, dw1, dw2] = r.dwords as [bigint, bigint, bigint, bigint];
  const id = Number(dw0 & 0xffn);
  if (id !== r.id) {
    throw sink.err(`arm-smmu-v3 event record: the header says event 0x${r.id.toString(16)}, dword 0 says 0x${id.toString(16)}`, r.line, r.column);
  }
  if (!SMMU_ACCESS_EVENTS.has(id)) return null;
  const sid = Number((dw0 >> 32n) & 0xffffffffn);
  const ssv = ((dw0 >> 11n) & 1n) === 1n;
  const ssid = Number((dw0 >> 12n) & 0xfffffn);
  const priv = ((dw1 >> 33n) & 1n) === 1n;
  const exe = ((dw1 >> 34n) & 1n) === 1n;
  const read = ((dw1 >> 35n) & 1n) === 1n;
  const pasidPart = ssv ? { pasid: ssid, priv, exe } : {};
  // the event type is the expected fault (every type in SMMU_ACCESS_EVENTS has a name, text.ts SMMU_EVENTS)
  const expect = { expect: { arch: "smmuv3" as const, code: id } };
  if (id === 0x05) return makeTlp(r.line, { op: "ATS", sid, addr: dw2 & ~0xfffn, ...pasidPart, ...expect });
  return makeTlp(r.line, { op: read ? "MRd" : "MWr", sid, addr: dw2, translated: id === 0x07, ...pasidPart, ...expect });
}

export const kernelImporter: Importer = {
  name: "kernel",
  description: "kernel logs: AER TLP Header dwords, Intel DMAR fault lines, arm-smmu-v3 event records",
  looksLike: "a kernel log (dmesg, journalctl -k, kern.log)",
  import: importKernel,
  detect: (sample) => sample.filter((l) => KERNEL_LINE.test(l)).length / sample.length,
};
