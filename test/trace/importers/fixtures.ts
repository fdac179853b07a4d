/**
 * Every importer fixture with the importer that reads it (and the --map it needs), for the suites
 * that go over all of them (not a suite itself: uvu's "importers" pattern imports it and finds no
 * tests).
 */
import analyzer from "../../fixtures/importers/analyzer-csv.ts";
import dmaEarly from "../../fixtures/importers/dma-early.ts";
import dmaPaddr from "../../fixtures/importers/dma-paddr.ts";
import dmaRecent from "../../fixtures/importers/dma-recent.ts";
import ftraceOld from "../../fixtures/importers/ftrace-old.ts";
import ftraceTrace from "../../fixtures/importers/ftrace-trace.ts";
import iommuDevices from "../../fixtures/importers/ftrace-iommu-devices.ts";
import kernelAcs from "../../fixtures/importers/kernel-acs.ts";
import kernelOld from "../../fixtures/importers/kernel-old.ts";
import kernelRecent from "../../fixtures/importers/kernel-recent.ts";
import perfScript from "../../fixtures/importers/perf-script.ts";
import simple from "../../fixtures/importers/qemu-simpletrace.ts";
import smmuOld from "../../fixtures/importers/qemu-smmu-old.ts";
import smmuRecent from "../../fixtures/importers/qemu-smmu-recent.ts";
import vtdOld from "../../fixtures/importers/qemu-vtd-old.ts";
import vtdRecent from "../../fixtures/importers/qemu-vtd-recent.ts";

/** The analyzer export's column mapping. */
export const CSV_MAP = { addr: "Address", rid: "Requester ID", op: "TLP Type", len: "Length", pasid: "PASID", time: "Time Stamp", ns: "Attr NS", ro: "Attr RO", ido: "Attr IDO" };

/** [importer, fixture name, text, --map]. */
export const FIXTURES: [string, string, string, Record<string, string>?][] = [
  ["ftrace", "ftrace-trace", ftraceTrace, { domain: "1" }], // its attach_device_to_domain needs a domain
  ["ftrace", "ftrace-iommu-devices", iommuDevices, { domain: "2", "0000:03:00.0": "4" }],
  ["ftrace", "ftrace-old", ftraceOld],
  ["ftrace", "perf-script", perfScript],
  ["ftrace", "dma-early", dmaEarly, { "0000:01:00.0": "5" }],
  ["ftrace", "dma-recent", dmaRecent],
  ["ftrace", "dma-paddr", dmaPaddr],
  ["qemu", "qemu-vtd-old", vtdOld],
  ["qemu", "qemu-vtd-recent", vtdRecent],
  ["qemu", "qemu-smmu-old", smmuOld],
  ["qemu", "qemu-smmu-recent", smmuRecent],
  ["qemu", "qemu-simpletrace", simple],
  ["kernel", "kernel-recent", kernelRecent],
  ["kernel", "kernel-old", kernelOld],
  ["kernel", "kernel-acs", kernelAcs],
  ["csv", "analyzer-csv", analyzer, CSV_MAP],
];
