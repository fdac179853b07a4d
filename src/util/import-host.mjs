// Imports a module of the host for a worker thread (src/sweep/worker.mjs, src/gen/worker.mjs):
// `path` is relative to `base` and has no extension. Beside its TypeScript source (a clone: src/),
// the source is loaded through tsx, since Node 20 cannot run a .ts file in a worker thread even under
// tsx (ERR_UNKNOWN_FILE_EXTENSION; shared/notes/ecosystem.md §0); in dist/ (the installed package,
// which has no tsx) the compiled JavaScript is imported as it is. The same rule as bin/iommu-emu.mjs.
import { existsSync } from "node:fs";

export async function importHost(path, base) {
  const source = new URL(`${path}.ts`, base);
  if (existsSync(source)) {
    const { tsImport } = await import("tsx/esm/api");
    return tsImport(source.href, base);
  }
  return import(new URL(`${path}.js`, base).href);
}
