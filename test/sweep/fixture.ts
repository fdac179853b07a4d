/**
 * A small sweep for the tests: one second-stage scenario whose mappings are 2 MiB aligned (so the
 * page size can be swept), two trace files (one with driver events), and IOTLB size x policy x page
 * size: 2 x 2 x 2 x 2 = 16 points.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const scenario = {
  arch: "vtd",
  description: "sweep test platform",
  build: {
    domains: [
      {
        id: 1,
        type: "ss",
        levels: 4,
        mappings: [
          { iova: "0x0", pa: "0x40000000", size: "0x600000", perm: "rw" },
          { iova: "0x1000000", pa: "0x80000000", size: "0x200000", perm: "r" },
        ],
      },
    ],
    devices: [{ bdf: "00:02.0", domain: 1, paside: false }],
  },
  trace: "own.trace",
  config: { iotlb: { entries: 32, assoc: 4 } },
};

/** A deterministic trace: reads and writes over the mappings, a few faults; `driver` adds map/unmap events. */
export function traceText(seed: number, n: number, driver = false): string {
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const lines: string[] = ["# sweep test trace"];
  for (let i = 0; i < n; i++) {
    const r = rnd();
    let addr: number;
    if (r % 50 === 0) addr = 0x5000000 + (r % 0x1000); // unmapped: a fault
    else if (r % 5 === 0) addr = 0x1000000 + (rnd() % 0x200000); // read-only mapping
    else addr = rnd() % 0x600000;
    const op = r % 3 === 0 ? "MWr" : "MRd";
    lines.push(`@${i * 8} ${op} 00:02.0 addr=0x${(addr & ~0x3f).toString(16)} len=64`);
    if (driver && i === Math.floor(n / 2)) {
      lines.push(`@${i * 8} map 1 0x2000000 0x90000000 0x1000`);
      lines.push(`@${i * 8} MWr 00:02.0 addr=0x2000040`);
      lines.push(`@${i * 8} unmap 1 0x2000000 0x1000`);
    }
  }
  return lines.join("\n") + "\n";
}

export interface Fixture {
  dir: string;
  sweepFile: string;
  sweep: Record<string, unknown>;
}

/** Writes the scenario, the traces and sweep.json (`overrides` replace its keys) into a new folder. */
export function makeFixture(overrides: Record<string, unknown> = {}, name = "sweep.json"): Fixture {
  const dir = mkdtempSync(join(tmpdir(), "iommu-emu-sweep-"));
  mkdirSync(join(dir, "scn"));
  mkdirSync(join(dir, "traces"));
  writeFileSync(join(dir, "scn", "s.json"), JSON.stringify(scenario, null, 2));
  writeFileSync(join(dir, "scn", "own.trace"), traceText(7, 300));
  writeFileSync(join(dir, "traces", "a.trace"), traceText(1, 600));
  writeFileSync(join(dir, "traces", "b.trace"), traceText(2, 400, true));
  const sweep: Record<string, unknown> = {
    scenarios: ["scn/s.json"],
    traces: ["traces/a.trace", "traces/b.trace"],
    parameters: {
      "config.iotlb.entries": [16, 64],
      "config.iotlb.policy": ["lru", "fifo"],
      "build.domains[0].mappings[*].pageSize": ["4K", "2M"],
    },
    ...overrides,
  };
  for (const [k, v] of Object.entries(sweep)) if (v === undefined) delete sweep[k];
  const sweepFile = join(dir, name);
  writeFileSync(sweepFile, JSON.stringify(sweep, null, 2));
  return { dir, sweepFile, sweep };
}

/** A JSON value without its `host` fields (wall time, workers, shards), anywhere in it. */
export function withoutHost(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutHost);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).filter(([k]) => k !== "host").map(([k, x]) => [k, withoutHost(x)]));
  return v;
}
