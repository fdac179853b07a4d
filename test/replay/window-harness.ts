/**
 * What the deferred-invalidation window tests share (inval-window*.test.ts): scenario files in a
 * temporary directory, and a replay of a text trace on a loaded scenario with its unit's driver
 * (or the driver side, src/iommu's IommuLayer, over it), collecting every result.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadScenario } from "../../src/scenario.ts";
import { parseTraceText } from "../../src/trace/text.ts";
import { replay, type ReplayStats } from "../../src/replay/replay.ts";
import { IommuLayer } from "../../src/iommu/iommu.ts";
import { InputError } from "../../src/errors.ts";
import type { Result } from "../../src/core/core.ts";

export const dir = mkdtempSync(join(tmpdir(), "iommu-emu-iw-"));
let n = 0;

/** A fresh path in `dir` ending in `ext`. */
export function tmpPath(ext: string): string {
  return join(dir, `f${n++}${ext}`);
}

/** Writes `obj` as a scenario file; its path. */
export function file(obj: unknown): string {
  const f = tmpPath(".json");
  writeFileSync(f, JSON.stringify(obj, null, 2));
  return f;
}

/** Loads `scenario`, replays `trace` with its unit's driver (`layer`: through the driver side over it); results and stats. */
export function run(scenario: object, trace: string, { layer = false } = {}) {
  const loaded = loadScenario(file(scenario));
  const arch = loaded.platform.createDriver({ ...loaded.driver, limits: loaded.limits });
  const results: Result[] = [];
  const stats: ReplayStats = replay(loaded.platform, parseTraceText(trace, "t.trace"), (_s, _t, r) => results.push(r), { driver: layer ? new IommuLayer(arch) : arch, file: "t.trace" });
  return { loaded, arch, results, stats, counters: loaded.platform.core.counters() };
}

/** The message of the InputError loading `scenario` gives (an Error when it loads). */
export function loadError(scenario: object): string {
  try {
    loadScenario(file(scenario));
  } catch (e) {
    if (e instanceof InputError) return e.message;
    throw e;
  }
  throw new Error("expected an InputError");
}
