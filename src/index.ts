/**
 * iommu-emu as a library: assemble a platform, write its tables the way Linux does, replay
 * requests, read results, counters and cycles. The CLI (src/cli.ts) is built on the same calls.
 *
 *   const p = createPlatform("vtd");                  // core + guest memory + VT-d builder
 *   const d = p.builder.createDomain({ id: 1, type: "ss" });
 *   p.builder.map(d, 0x1000n, 0x8000_0000n, 0x1000n);
 *   p.builder.attach({ sid: 0x10, domain: 1 });
 *   p.enable();
 *   const r = p.translateOne({ op: "MRd", sid: 0x10, addr: 0x1040n });   // r.pa, r.fault, r.latency
 */
export { Platform, createPlatform, VtdPlatform, defaultSnoopOptions, type AnyPlatform, type PlatformOptions, type SnoopOptions } from "./platform.ts";
export { architectures, architecture, type ModelledArch } from "./arch/index.ts";
export type { ArchitectureModule, PlatformParts, RegisterCatalogue } from "./arch/types.ts";
export { vtd, type VtdModule, type VtdPlatformOptions } from "./arch/vtd/module.ts";
export { DriverError, EventInputError, type ArchDriver, type DriverOptions, type DriverStats } from "./driver/driver.ts";
export { Core, type CoreBuild, type Request, type Result, type TimingStats } from "./core/core.ts";
export * as abi from "./core/abi.ts";
export { VtdBuilder, PageAllocator, type DomainSpec, type MapOptions, type AttachSpec } from "./arch/vtd/builder.ts";
export { InvalidationQueue, desc, type Descriptor } from "./arch/vtd/invalidation.ts";
export { VtdDriver } from "./arch/vtd/driver.ts";
export { loadScenario, loadScenarioSteps, parseScenario, type LoadedScenario, type SetupProgress } from "./scenario.ts";
export { defaultLimits, limitCatalogue, resolveLimits, type Limits, type LimitName } from "./config/limits.ts";
export { parseTraceText, parseTraceLine, parseTraceEvent, formatTlp, formatEvent, type TraceEvent, type TraceTlp } from "./trace/text.ts";
export { importers, type Importer } from "./trace/importers/index.ts";
export { replay, type ResultSink, type ReplayStats } from "./replay/replay.ts";
export { IommuLayer } from "./iommu/iommu.ts";
export { Ownership, RefusedError } from "./iommu/ownership.ts";
export { computeGroups, groupRules } from "./iommu/groups.ts";
export { RegionGuard, scenarioRegions } from "./iommu/regions.ts";
export { ReservedRegions } from "./iommu/reserved-regions.ts";
export { summarize, formatSummary, type RunSummary } from "./report/summary.ts";
export { ReportCollector } from "./report/collector.ts";
export { renderHtmlReport } from "./report/html.ts";
export { generate, workloads } from "./gen/index.ts";
export { defaultCaches, type CacheConfig } from "./config/caches.ts";
export { defaultTiming, presets, type TimingConfig, type PresetName } from "./config/timing.ts";
export { InputError } from "./errors.ts";
export { main } from "./cli.ts";
export { runCommand } from "./cli/run.ts";
