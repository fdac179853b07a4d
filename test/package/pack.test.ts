/**
 * The package as a user gets it (issue 12, README "Install"): dist/ is built from the sources under
 * test, the package is packed (`npm pack`), and the tarball is installed into an empty temporary
 * project as installing from the registry does, with typescript and @types/node beside it. Then,
 * in that project and with plain Node (no tsx): `npx iommu-emu --version`, `examples`, a bundled
 * example with --report, --html and the debug core, `gen` (a worker thread), a 2-point sweep on 2
 * workers, the library from JavaScript, and a TypeScript consumer type-checked against the
 * declarations. A file missing from the package fails here.
 *
 * `npm pack --ignore-scripts`: the cores (build/*.wasm) are the ones `npm ci` (prepare) built and
 * every other suite tests; dist/ is built here, just before, so that what is packed is the code under
 * test. The installs use npm's cache (filled by `npm ci`): --offline first, then --prefer-offline,
 * which asks the registry only for what the cache lacks. The suite is skipped, with the reason
 * printed, only when the registry cannot be reached and the cache lacks something.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string; version: string; dependencies: Record<string, string> };
const work = mkdtempSync(join(tmpdir(), "iommu-emu-pack-"));
const project = join(work, "project");
const tarball = join(work, `${pkg.name}-${pkg.version}.tgz`);
const installed = "node_modules/iommu-emu";
const versionOf = (name: string) => (JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;

/**
 * The environment of every npm and CLI child: without the npm_* variables of an enclosing `npm test`
 * (npm_config_local_prefix would point npm at this repository), but with the cache, the configuration
 * files and the registry the user has.
 */
const keep = new Set(["npm_config_cache", "npm_config_userconfig", "npm_config_globalconfig", "npm_config_registry", "npm_config_cafile"]);
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_") || keep.has(k.toLowerCase()))),
  npm_config_audit: "false",
  npm_config_fund: "false",
  npm_config_update_notifier: "false",
  // An unreachable registry fails in seconds, not after minutes of back-off.
  npm_config_fetch_retries: "1",
  npm_config_fetch_retry_mintimeout: "1000",
  npm_config_fetch_retry_maxtimeout: "5000",
  NO_COLOR: "1",
};

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string): Run {
  const r = spawnSync(command, args, { cwd, env, encoding: "utf8", timeout: 300_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const npm = (args: string[], cwd: string) => run("npm", args, cwd);
/** `npx --no iommu-emu ARGS` in the project (--no: the installed one or nothing). */
const npx = (...args: string[]) => run("npx", ["--no", "--", "iommu-emu", ...args], project);
const show = (r: Run) => `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** Why the suite is skipped (set by the set-up), or undefined. */
let skipped: string | undefined;
/** What went wrong in the set-up, or undefined: every test fails with it. */
let failed: string | undefined;
let packed: string[] = [];

/** Whether a test that needs the installed package runs: false when skipped; fails when the set-up did. */
function ready(): boolean {
  assert.is(failed, undefined, `the set-up failed: ${failed}`);
  return skipped === undefined;
}

const NETWORK_ERRORS = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH)\b/;

function setUp(): void {
  // dist/ from the sources under test, then the tarball.
  const build = run(process.execPath, ["--import", "tsx", "scripts/build-dist.ts"], root);
  assert.is(build.status, 0, `npm run build:dist: ${show(build)}`);
  const pack = npm(["pack", "--ignore-scripts", "--json", "--pack-destination", work], root);
  assert.is(pack.status, 0, `npm pack: ${show(pack)}`);
  packed = (JSON.parse(pack.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort();

  // An empty project; the tarball installed into it as from the registry, with the consumer's tools.
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }, null, 2));
  const specs = [tarball, `typescript@${versionOf("typescript")}`, `@types/node@${versionOf("@types/node")}`];
  let install = npm(["install", "--offline", ...specs], project);
  if (install.status !== 0 && /ENOTCACHED/.test(install.stderr)) {
    const offline = install.stderr;
    install = npm(["install", "--prefer-offline", ...specs], project);
    const network = NETWORK_ERRORS.exec(install.stderr);
    if (install.status !== 0 && network) {
      const missing = /request to (\S+) failed/.exec(offline)?.[1] ?? "a dependency";
      skipped = `the npm registry cannot be reached (${network[1]}) and npm's cache lacks ${missing}`;
      console.log(`test/package/pack.test.ts: skipped: ${skipped}`);
      return;
    }
  }
  assert.is(install.status, 0, `npm install ${specs.join(" ")}: ${show(install)}`);
}

test.before(() => {
  try {
    setUp();
  } catch (e) {
    failed = (e as Error).stack ?? String(e);
  }
});

test.after(() => rmSync(work, { recursive: true, force: true }));

/** Every file under `dir` (relative to `base`, with /). */
function filesUnder(dir: string, base: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? filesUnder(p, base) : [relative(base, p).split("\\").join("/")];
  });
}

test("the tarball holds the compiled host for every source, the cores, the examples, README and LICENSE, and no tests or sources", () => {
  assert.is(failed, undefined, `the set-up failed: ${failed}`);
  const allowed = /^(package\.json|README\.md|LICENSE|bin\/iommu-emu\.mjs|scripts\/prepare\.mjs|build\/(release|debug)\.wasm|examples\/.+|dist\/.+)$/;
  assert.equal(
    packed.filter((f) => !allowed.test(f)),
    [],
    "files outside the allowed list",
  );
  assert.equal(
    packed.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")),
    [],
    "TypeScript sources",
  );
  for (const f of ["package.json", "README.md", "LICENSE", "bin/iommu-emu.mjs", "scripts/prepare.mjs", "build/release.wasm", "build/debug.wasm", "examples/vtd-sm/scenario.json", "examples/vtd-sm/dma.trace"])
    assert.ok(packed.includes(f), `${f} is packed`);
  // Each host module compiled, with its declarations and source map; the worker shims copied. (An
  // ambient .d.ts of src/ only serves the compilation: tsc emits nothing for it, and the consumer's
  // type-check below fails if a declaration in dist/ needed it.)
  const src = join(root, "src");
  for (const f of filesUnder(src, src).filter((x) => !x.endsWith(".d.ts"))) {
    const want = f.endsWith(".ts") ? [".js", ".d.ts", ".js.map"].map((x) => `dist/${f.slice(0, -3)}${x}`) : [`dist/${f}`];
    for (const w of want) assert.ok(packed.includes(w), `${w} is packed (from src/${f})`);
  }
  // Every example the package lists.
  for (const f of filesUnder(join(root, "examples"), root)) assert.ok(packed.includes(f), `${f} is packed`);
});

test("npx iommu-emu --version prints package.json's version from the installed package", () => {
  if (!ready()) return;
  const r = npx("--version");
  assert.is(r.status, 0, show(r));
  assert.is(r.stdout, `${pkg.version}\n`);
  // Nothing of the development set-up came along: no sources, no tsx.
  assert.not.ok(existsSync(join(project, installed, "src")));
  assert.not.ok(existsSync(join(project, "node_modules/tsx")));
});

test("npx iommu-emu --help prints the help commander renders in the clone (dist/help.txt, pre-rendered by build-dist)", () => {
  if (!ready()) return;
  const r = npx("--help");
  assert.is(r.status, 0, show(r));
  assert.ok(existsSync(join(project, installed, "dist/help.txt")));
  const fromClone = spawnSync(process.execPath, [join(root, "bin/iommu-emu.mjs"), "--help"], { encoding: "utf8" });
  assert.is(fromClone.status, 0, fromClone.stderr);
  assert.ok(fromClone.stdout.startsWith("Usage: iommu-emu [options] [command]\n"));
  assert.is(r.stdout, fromClone.stdout);
});

test("examples lists the bundled example at its installed path; run example:vtd-sm replays it with --report and --html", () => {
  if (!ready()) return;
  const list = npx("examples");
  assert.is(list.status, 0, show(list));
  assert.is(
    list.stdout,
    [
      "name         description                                                                                                                         scenario",
      `arm-msi      SMMUv3 reserved regions: MSIs through the SW_MSI window, a fixed doorbell, a p2p window (README "PASIDs and reserved regions").     ${installed}/examples/arm-msi/scenario.json`,
      `gpu-nosnoop  A vfio GPU's No-Snoop DMA under VT-d with and without snoop control and SMMUv3 with and without CANWBS (README "Cache coherency").  ${installed}/examples/gpu-nosnoop/scenario.json`,
      `mdev         A mediated device sharing its parent's non-singleton group with two VMs (README "VMs, PASID allocation and mediated devices").      ${installed}/examples/mdev/scenario.json`,
      `nic-vfio     The dual-function NIC of the /dev/ioasid thread moved from a kernel driver to vfio one function at a time (README "Driver side").   ${installed}/examples/nic-vfio/scenario.json`,
      `pasid-quota  A VM that allocates PASIDs past its quota (README "VMs, PASID allocation and mediated devices").                                    ${installed}/examples/pasid-quota/scenario.json`,
      `smmuv3       Arm SMMUv3.2 (the default profile) as Linux's arm-smmu-v3 driver programs it, CANWBS off.                                           ${installed}/examples/smmuv3/scenario.json`,
      `vtd-sm       Scalable-mode DMAR unit (Sapphire Rapids capabilities with PASID/PRS on).                                                           ${installed}/examples/vtd-sm/scenario.json`,
      "",
      "run one with: iommu-emu run example:NAME",
      "",
    ].join("\n"),
  );
  const r = npx("run", "example:vtd-sm", "--report", "report.json", "--html", "report.html");
  assert.is(r.status, 0, show(r));
  assert.is(r.stdout.split("\n")[0], `iommu-emu run: ${installed}/examples/vtd-sm/scenario.json with ${installed}/examples/vtd-sm/dma.trace (release core)`);
  const report = JSON.parse(readFileSync(join(project, "report.json"), "utf8")) as { tlps: number; translated: number; faulted: number };
  assert.equal([report.tlps, report.translated, report.faulted], [3280, 3200, 40]);
  // The HTML report inlines uPlot from the consumer's node_modules (a dependency).
  const html = readFileSync(join(project, "report.html"), "utf8");
  assert.ok(html.includes(readFileSync(join(project, "node_modules/uplot/dist/uPlot.min.css"), "utf8").trim()), "uPlot's CSS is inlined");
  assert.ok(html.includes("Copyright (c) 2022 Leon Sorokin"), "uPlot's license is inlined");
});

test("the debug core is in the package: run --core debug --functional", () => {
  if (!ready()) return;
  const r = npx("run", `${installed}/examples/vtd-sm/scenario.json`, "--core", "debug", "--functional");
  assert.is(r.status, 0, show(r));
  assert.is(r.stdout.split("\n")[0], `iommu-emu run: ${installed}/examples/vtd-sm/scenario.json with ${installed}/examples/vtd-sm/dma.trace (debug core)`);
  assert.match(r.stdout, /^ {2}TLPs {2,}3280$/m);
});

test("gen (a worker thread) and a 2-point sweep on 2 workers run from the installed package", () => {
  if (!ready()) return;
  const g = npx("gen", "stream", "--tlps", "100", "-o", "g.json");
  assert.is(g.status, 0, show(g));
  assert.is(
    g.stdout,
    "wrote g.json and g.trace: 100 TLPs, 0 maps, 0 unmaps (iommu-emu gen stream --window 64M --page 4K --tlp-size 256 --op write --ns 0 --domain ss --levels 4 --bdf 00:02.0 --tlps 100 --seed 1 --gap 0)\n",
  );
  assert.is(readFileSync(join(project, "g.trace"), "utf8").split("\n").filter((l) => /^(@\S+ )?M(Rd|Wr) /.test(l)).length, 100);

  writeFileSync(join(project, "sweep.json"), JSON.stringify({ scenarios: [`${installed}/examples/vtd-sm/scenario.json`], parameters: { "config.iotlb.entries": [32, 64] } }));
  const s = npx("sweep", "sweep.json", "--workers", "2", "--quiet", "-o", "sweep");
  assert.is(s.status, 0, show(s));
  assert.match(s.stdout, /^iommu-emu sweep: 2 points on 2 workers in \d+\.\d\d s -> sweep\/results\.json, sweep\/results\.csv, sweep\/sweep\.html, sweep\/points\/\n$/);
  const results = JSON.parse(readFileSync(join(project, "sweep/results.json"), "utf8")) as { points: { id: string; parameters: Record<string, number>; metrics: { tlps: number } }[] };
  assert.equal(
    results.points.map((p) => [p.id, p.parameters["config.iotlb.entries"], p.metrics.tlps]),
    [
      ["p0000", 32, 3280],
      ["p0001", 64, 3280],
    ],
  );
});

const libraryUse = `
const p = new VtdPlatform();
const d = p.builder.createDomain({ id: 1, type: "ss" });
p.builder.map(d, 0x1000n, 0x8000_0000n, 0x1000n);
p.builder.attach({ sid: 0x10, domain: 1 });
p.enable();
`;

test("the library imports in plain Node (JavaScript, ESM) and translates", () => {
  if (!ready()) return;
  writeFileSync(
    join(project, "library.mjs"),
    `import { VtdPlatform, abi } from "iommu-emu";\n${libraryUse}const r = p.translateOne({ op: "MRd", sid: 0x10, addr: 0x1040n });\nconsole.log(r.status, "0x" + r.pa.toString(16), typeof abi);\n`,
  );
  const r = run(process.execPath, ["library.mjs"], project);
  assert.is(r.status, 0, show(r));
  assert.is(r.stdout, "ok 0x80000040 object\n");
});

test("a TypeScript consumer type-checks against the package's declarations (strict, skipLibCheck off)", () => {
  if (!ready()) return;
  writeFileSync(
    join(project, "consumer.ts"),
    `import { VtdPlatform, InputError, type Result } from "iommu-emu";\n${libraryUse}` +
      `const r: Result = p.translateOne({ op: "MRd", sid: 0x10, addr: 0x1040n });\nconst pa: bigint = r.pa;\n` +
      // If the declarations were missing, everything would be any and this line no error: tsc would then report the unused directive.
      `// @ts-expect-error: addr is a bigint\np.translateOne({ op: "MRd", sid: 0x10, addr: 0x1040 });\n` +
      `console.log(pa, new InputError("x").message);\n`,
  );
  const tsconfig = { compilerOptions: { target: "es2022", module: "nodenext", moduleResolution: "nodenext", strict: true, noEmit: true, skipLibCheck: false, types: ["node"] }, files: ["consumer.ts"] };
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  const r = run(process.execPath, [join(project, "node_modules/typescript/bin/tsc"), "-p", "."], project);
  assert.is(r.status, 0, show(r));
  assert.is(r.stdout, "");
});

test.run();
