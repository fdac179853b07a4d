#!/usr/bin/env node
// The `iommu-emu` command (README "Install"). One rule decides what runs:
// - in a clone (src/cli.ts is beside bin/), the TypeScript sources, through tsx: what runs is always
//   what is checked out, with no build step in between; IOMMU_EMU_DIST=1 runs dist/ instead
//   (npm run build:dist first; `npm run bench:startup` measures it that way);
// - in the installed package (no src/), the compiled JavaScript in dist/, with plain Node.
import { existsSync } from "node:fs";

const fromSource = process.env.IOMMU_EMU_DIST !== "1" && existsSync(new URL("../src/cli.ts", import.meta.url));
let main;
if (fromSource) {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli.ts"));
} else {
  const cli = new URL("../dist/cli.js", import.meta.url);
  if (!existsSync(cli)) {
    process.stderr.write(`iommu-emu: internal error: ${cli.pathname} is missing: the package was built without its JavaScript (npm run build:dist)\n`);
    process.exit(1);
  }
  // Stack traces of internal errors name the TypeScript sources (dist/ has their source maps).
  // process.setSourceMapsEnabled(true);
  ({ main } = await import(cli.href));
}
process.exitCode = await main(process.argv.slice(2));
