/** The run summary: collected from the core's counters, printed by `run`, written by --report. */
import type { Core } from "../core/core.ts";
import { vtdFaultByCode } from "../core/abi.ts";

export interface RunSummary {
  version: 1;
  scenario: string;
  trace?: string;
  core: string;
  tlps: number;
  translated: number;
  faulted: number;
  faultsRecorded: number;
  interrupts: number;
  blocked: number;
  atsRequests: number;
  faults: { code: number; name: string; text: string; count: number }[];
  snoop: {
    snooped: number;
    nonSnooped: number;
    noSnoopTlps: number;
    noSnoopForced: number;
    noSnoopForcedByPgsnp: number;
    noSnoopForcedByPte: number;
  };
  walkReads: {
    root: number;
    context: number;
    pasidDir: number;
    pasidTable: number;
    /** Paging-entry reads by spec level, index 0 = level 1 (4 KiB table). */
    firstStage: number[];
    secondStage: number[];
    total: number;
  };
  adWrites: number;
  host: { seconds: number; tlpsPerSecond: number };
}

export function summarize(core: Core, info: { scenario: string; trace?: string; hostSeconds: number }): RunSummary {
  const c = core.counters();
  const n = (v: bigint) => Number(v);
  const w = core.walkReads();
  const fs = w.fs.map(n), ss = w.ss.map(n);
  const structures = n(c.rootReads) + n(c.contextReads) + n(c.pasidDirReads) + n(c.pasidTableReads);
  const s: RunSummary = {
    version: 1,
    scenario: info.scenario,
    core: core.build,
    tlps: n(c.requests),
    translated: n(c.translated),
    faulted: n(c.faulted),
    faultsRecorded: n(c.faultsRecorded),
    interrupts: n(c.interrupts),
    blocked: n(c.blocked),
    atsRequests: n(c.atsRequests),
    faults: [...core.faultCounts()].map(([code, count]) => {
      const f = vtdFaultByCode.get(code);
      return { code, name: f?.id ?? `0x${code.toString(16)}`, text: f?.text ?? "", count: n(count) };
    }),
    snoop: {
      snooped: n(c.snooped),
      nonSnooped: n(c.nonSnooped),
      noSnoopTlps: n(c.noSnoopTlps),
      noSnoopForced: n(c.noSnoopForced),
      noSnoopForcedByPgsnp: n(c.noSnoopForcedPgsnp),
      noSnoopForcedByPte: n(c.noSnoopForcedPte),
    },
    walkReads: {
      root: n(c.rootReads),
      context: n(c.contextReads),
      pasidDir: n(c.pasidDirReads),
      pasidTable: n(c.pasidTableReads),
      firstStage: fs,
      secondStage: ss,
      total: structures + fs.reduce((a, b) => a + b, 0) + ss.reduce((a, b) => a + b, 0),
    },
    adWrites: n(c.adWrites),
    host: { seconds: info.hostSeconds, tlpsPerSecond: info.hostSeconds > 0 ? n(c.requests) / info.hostSeconds : 0 },
  };
  if (info.trace) s.trace = info.trace;
  return s;
}

const pct = (part: number, whole: number) => (whole ? ` (${((100 * part) / whole).toFixed(1)}%)` : "");
const row = (label: string, value: string | number, note = "") => `  ${label.padEnd(26)}${String(value).padStart(10)}${note}`;

export function formatSummary(s: RunSummary): string {
  const out: string[] = [];
  out.push(`iommu-emu run: ${s.scenario}${s.trace ? ` with ${s.trace}` : ""} (${s.core} core)`);
  out.push(row("TLPs", s.tlps));
  out.push(row("translated", s.translated, pct(s.translated, s.tlps)));
  out.push(row("faulted", s.faulted, pct(s.faulted, s.tlps) + (s.faulted ? `, ${s.faultsRecorded} recorded` : "")));
  if (s.interrupts) out.push(row("interrupt requests", s.interrupts));
  if (s.blocked) out.push(row("blocked", s.blocked));
  if (s.atsRequests) out.push(row("ATS translation requests", s.atsRequests));
  if (s.faults.length) {
    out.push("Faults by reason");
    for (const f of s.faults)
      out.push(`  0x${f.code.toString(16).padStart(2, "0")} ${f.name.padEnd(7)}${String(f.count).padStart(8)}  ${f.text}`);
  }
  const sn = s.snoop;
  out.push("Snoop");
  out.push(row("snooped accesses", sn.snooped));
  out.push(row("non-snooped accesses", sn.nonSnooped));
  out.push(row("No-Snoop TLPs translated", sn.noSnoopTlps));
  out.push(row("  forced to snoop", sn.noSnoopForced, `  (PGSNP ${sn.noSnoopForcedByPgsnp}, SS-leaf SNP ${sn.noSnoopForcedByPte})`));
  out.push(row("  left non-snooped", sn.noSnoopTlps - sn.noSnoopForced));
  const r = s.walkReads;
  out.push("Table reads");
  out.push(row("root / context", `${r.root} / ${r.context}`));
  if (r.pasidDir || r.pasidTable) out.push(row("PASID dir / table", `${r.pasidDir} / ${r.pasidTable}`));
  const levels = (a: number[]) => a.map((v, i) => (v ? `L${i + 1} ${v}` : "")).filter(Boolean).reverse().join("  ");
  if (r.firstStage.some(Boolean)) out.push(row("first stage", r.firstStage.reduce((a, b) => a + b, 0), `  ${levels(r.firstStage)}`));
  if (r.secondStage.some(Boolean)) out.push(row("second stage", r.secondStage.reduce((a, b) => a + b, 0), `  ${levels(r.secondStage)}`));
  out.push(row("total", r.total, s.tlps ? `  (${(r.total / s.tlps).toFixed(2)} per TLP)` : ""));
  if (s.adWrites) out.push(row("A/D flag writes", s.adWrites));
  out.push(`Host: replay ${s.host.seconds.toFixed(3)} s, ${(s.host.tlpsPerSecond / 1e6).toFixed(2)} M TLPs/s (trace parsing excluded)`);
  return out.join("\n");
}
