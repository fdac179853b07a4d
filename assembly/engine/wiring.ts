// Wires the layers together once at init: the architecture's ports (arch/ports.ts) get the
// implementation's caches (uarch/) and the engine's cached walk. The only place that knows both.
import { installCachePorts } from "../arch/ports";
import { configLookup, configFill, pageCacheLookup, pageCacheMiss, pageCacheFill, pageCacheMatches, cacheInvalidateWhere } from "../uarch/caches";
import { devTlbMarkStale, devTlbInvalidate } from "../uarch/device-tlb";
import { walkThroughCaches } from "./walk";

export function wirePorts(): void {
  installCachePorts(
    configLookup, configFill, pageCacheLookup, pageCacheMiss, pageCacheFill, pageCacheMatches, walkThroughCaches, cacheInvalidateWhere,
    devTlbMarkStale, devTlbInvalidate,
  );
}
