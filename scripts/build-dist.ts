/**
 * Builds dist/, the JavaScript the installed package runs (README "Install"): the host compiled by
 * tsc with tsconfig.build.json (ESM, .d.ts declarations, source maps with their sources inlined;
 * tsc rewrites the sources' `.ts` import specifiers to `.js`), plus the worker shims
 * (src/**\/*.mjs), which tsc does not copy.
 *
 * The build goes into a fresh temporary folder beside dist/ that then replaces it: a failed build
 * leaves the previous dist/ as it was, and nothing compiled from a source that no longer exists
 * stays behind to be packed.
 *
 * Run: npm run build:dist (also part of npm run build, prepare and prepack).
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const src = join(root, "src");
const dist = join(root, "dist");

/** Every file under `dir` whose name ends with `suffix`, as paths. */
function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), suffix) : e.isFile() && e.name.endsWith(suffix) ? [join(dir, e.name)] : [],
  );
}

const out = mkdtempSync(join(root, ".dist-"));
try {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json"), "--outDir", out], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${r.status ?? r.signal})`);
  for (const file of filesUnder(src, ".mjs")) {
    const to = join(out, relative(src, file));
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(file, to);
  }
  // The top-level help, rendered once by commander (not on a terminal: 80 columns), so that the
  // installed `iommu-emu --help` prints it without loading commander (src/cli.ts quickAnswer).
  const help = spawnSync(process.execPath, ["--input-type=module", "-e", `const { main } = await import(${JSON.stringify(pathToFileURL(join(out, "cli.js")).href)}); process.exitCode = await main(["--help"]);`], { encoding: "utf8" });
  if (help.status !== 0 || !help.stdout.startsWith("Usage: iommu-emu")) throw new Error(`rendering the help failed (exit ${help.status ?? help.signal}): ${help.stderr}`);
  writeFileSync(join(out, "help.txt"), help.stdout);
  // Replace dist/: the old one is moved aside first (a folder cannot be renamed over a non-empty one).
  const old = `${out}.old`;
  try {
    renameSync(dist, old);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  renameSync(out, dist);
  rmSync(old, { recursive: true, force: true });
} catch (e) {
  rmSync(out, { recursive: true, force: true });
  console.error(`build-dist: ${(e as Error).message}`);
  process.exit(1);
}
console.log(`build-dist: wrote ${relative(process.cwd(), dist) || "."}/`);
