/**
 * An architecture's part of the reports, and the summary types it shares with src/report/summary.ts.
 * The report layer asks src/report/arch/index.ts for an architecture's part by name; the
 * architecture modules (src/arch) know nothing of reports.
 */
import type { WbinvdVm } from "../../iommu/wbinvd.ts";
import type { VmReport } from "../../iommu/vms.ts";
import type { P2pWindowCount } from "../../iommu/p2p-audit.ts";
import type { DriverEventsSummary } from "../../replay/driver-events.ts";
import type { ArchName, CacheName } from "../../core/abi.ts";
import type { Core } from "../../core/core.ts";
import type { PolicyName } from "../../config/caches.ts";
import type { DomainModes, DriverStats, InvalidationMode } from "../../driver/driver.ts";
import type { InvalidationWindowSummary } from "../../replay/inval-window.ts";
import type { LatencyClassLabels, TimingSummary } from "../timing.ts";
import type { TextRow } from "../text-table.ts";
import type { AuditEntry, CollectedReport } from "../collector.ts";
import type { CellLike, Column } from "../html-parts.ts";

/** One enabled cache's counters (the deviceTlb row sums every device's device-TLB). */
export interface CacheSummary {
  name: CacheName;
  entries: number;
  assoc: number;
  policy: PolicyName;
  lookups: number;
  hits: number;
  misses: number;
  /** hits / lookups (0 without lookups). */
  hitRate: number;
  fills: number;
  evictions: number;
  /** Entries removed by invalidations. */
  invalidations: number;
}

/** The parts of the run summary every architecture has (README "Run summary"). */
export interface RunSummaryBase {
  /** The shape's version: its architecture's (ArchReport.version). */
  version: number;
  /** The architecture, when its report names it (every one but VT-d, whose summary is older than the key). */
  arch?: ArchName;
  scenario: string;
  trace?: string;
  core: string;
  /** TLPs in the trace. */
  tlps: number;
  /** Requests the IOMMU translated: the TLPs plus the ATS requests devices sent on device-TLB misses. */
  requests: number;
  translated: number;
  faulted: number;
  faultsRecorded: number;
  /** Interrupt requests (architectures with an interrupt window only). */
  interrupts?: number;
  blocked: number;
  /** TLPs the root complex routed peer-to-peer before the IOMMU (reserved regions of type RESERVED; status p2p); absent when none. */
  p2p?: number;
  atsRequests: number;
  /** By code: VT-d fault reasons, SMMUv3 event types. */
  faults: { code: number; name: string; text: string; count: number }[];
  snoop: { snooped: number; nonSnooped: number; noSnoopTlps: number; noSnoopForced: number };
  walkReads: { total: number };
  /** Enabled caches the architecture has. */
  caches: CacheSummary[];
  /** The timing model's results (README "Run summary"); absent in a functional run. */
  timing?: TimingSummary;
  /** The deferred-invalidation window (README "Deferred-invalidation window"); present when the trace unmapped something. */
  invalidationWindow?: InvalidationWindowSummary;
  host: { seconds: number; tlpsPerSecond: number };
  /** The wbinvd report per VM (src/iommu/wbinvd.ts); present when the scenario has a topology or drivers. */
  wbinvd?: WbinvdVm[];
  /** Per VM: PASID counts, devices and mediated devices (src/iommu/vms.ts); present when the scenario has `vms`. */
  vms?: VmReport[];
  /**
   * The driver events by kind (carried out, refused) and the first refusals (src/replay/driver-events.ts);
   * present when the scenario has a driver side (topology, drivers, vms, domainAlloc), the trace a
   * driver-side event, or an event was refused.
   */
  driverEvents?: Omit<DriverEventsSummary, "driverSide">;
  /** TLPs routed peer-to-peer per requester and window (src/iommu/p2p-audit.ts); present when the scenario has p2p windows. */
  peerToPeer?: P2pWindowCount[];
}

export interface SummaryInfo {
  scenario: string;
  trace?: string;
  hostSeconds: number;
  /** TLPs in the trace (default: the core's request count). */
  tlps?: number;
  /**
   * `refused`: the driver events refused as results, when the run asked for them; `domainModes`:
   * the domains whose policy is not `mode` (ArchDriver.domainModes), absent or empty when none.
   */
  driver?: { mode: InvalidationMode; stats: DriverStats; refused?: number; domainModes?: DomainModes };
  /** The replay's deferred-invalidation window (ReplayStats.invalidationWindow). */
  invalidationWindow?: InvalidationWindowSummary;
}

/**
 * An architecture's part of the reports (src/report, README "Run summary" and "HTML report"): the
 * summary, `--report` JSON and HTML report are shared; what only one architecture has (its counters
 * by its catalogue's names, its snoop deciders, its caches and their titles, its table reads) comes
 * from here, so the shared code never asks which architecture it reports on.
 */
export interface ArchReport<S extends object = object> {
  /** The run summary's version (README "Run summary"). */
  readonly version: number;
  /** The summary names its architecture (`"arch"` after `version`); VT-d's, older than the key, does not. */
  readonly named: boolean;
  /** The architecture has interrupt requests (the summary's `interrupts`). */
  readonly interrupts: boolean;
  /** The caches the architecture has, in the order reported, with their titles (what they hold). */
  readonly caches: Readonly<Partial<Record<CacheName, string>>>;
  /** The printed summary names a cache by its title (else by its configuration name). */
  readonly cacheRowsByTitle: boolean;
  /**
   * The timing model's latency classes in the architecture's words (printed summary, HTML latency
   * table and chart); the JSON keys (`timing.classes`) are the same for every architecture.
   */
  readonly latencyClasses: LatencyClassLabels;
  /** The walk-cache chart of the HTML report: per level, its label and the caches of each stage. */
  readonly walkCacheLevels: readonly { label: string; fs: CacheName; ss: CacheName }[];
  /** Words the shared sections use. */
  readonly words: {
    /** Requests ended without a translation or a fault (VT-d "blocked"). */
    blocked: string;
    /** A fault and its kind in headings (VT-d "fault", "reason"; SMMUv3 "event", "type"). */
    fault: string;
    reason: string;
    /** The TLP's PASID (SMMUv3 "SSID": the SubstreamID). */
    pasid: string;
    /** What translates a request without one (HTML note). */
    noPasid: string;
    /** Why a fault was not recorded (VT-d "FPD"). */
    unrecorded: string;
  };
  /** The driver's invalidation figures, wherever its summary keeps them (VT-d `invalidation.driver`, SMMUv3 `driver`). */
  driverOf(s: RunSummaryBase & S): { mode: InvalidationMode; flushes: number; flushReasons: DriverStats["flushReasons"]; deferredUnmaps: number };
  /** Its figures in the HTML report's summary, after the shared ones (VT-d: stale translations used). */
  summaryFigures(s: RunSummaryBase & S): [string, string, string?][];
  /** Its sections of the run summary, in the order they are written (the caches among them). */
  sections(core: Core, ctx: ArchSummaryContext): S;
  /** Its lines of the printed summary after the shared counts, before the faults. */
  textHead(s: RunSummaryBase & S): TextRow[];
  /** Its lines of the printed summary after the faults (`caches`: the caches table). */
  text(s: RunSummaryBase & S, caches: TextRow[]): TextRow[];
  /** The stage of a leaf entry in the No-Snoop audit, from the result's `kind`. */
  auditStage(kind: number): string;
  /** The No-Snoop audit table's columns and each entry's cells (HTML report). */
  readonly auditColumns: readonly Column[];
  auditCells(e: AuditEntry): CellLike[];
  /** The HTML report's details section (table reads, counters, queues). */
  detailsHtml(s: RunSummaryBase & S, c: CollectedReport): string;
}

/** What the shared summary gives an architecture's sections. */
export interface ArchSummaryContext {
  /** The enabled caches of the architecture, counted. */
  caches: CacheSummary[];
  tlps: number;
  driver: SummaryInfo["driver"];
}

