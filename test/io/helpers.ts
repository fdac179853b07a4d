/** Shared by the I/O suites: the real CLI in a child process, temporary folders, listings, a small scenario. */
import { spawn, spawnSync, type SpawnSyncOptions } from "node:child_process";
import { lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../../", import.meta.url));
export const bin = join(root, "bin/iommu-emu.mjs");

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `iommu-emu ARGS` (cwd: `cwd`, default the repository) and waits for it. */
export function cli(args: string[], o: { cwd?: string; input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const opts: SpawnSyncOptions = { cwd: o.cwd ?? root, encoding: "utf8", timeout: 120_000 };
  if (o.input !== undefined) opts.input = o.input;
  if (o.env) opts.env = o.env;
  const r = spawnSync(process.execPath, [bin, ...args], opts);
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Runs a shell command line (pipes, redirections) in `cwd`. */
export function sh(command: string, cwd: string): CliResult {
  const r = spawnSync("sh", ["-c", command], { cwd, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `node bin/iommu-emu.mjs`, quoted for sh. */
export const emu = `'${process.execPath}' '${bin}'`;

/** A fresh temporary folder, removed after the suite (call in test.after). */
export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `iommu-emu-${name}-`));
}

export const removeDir = (dir: string) => rmSync(dir, { recursive: true, force: true });

/**
 * Everything under `dir`, sorted: `name` for files (with their size), `name/` for folders,
 * `name -> target` for links, `name|` for FIFOs: a change anywhere shows.
 */
export function listing(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out.push(`${prefix}${name} -> ${readlinkSync(p)}`);
    else if (st.isFIFO()) out.push(`${prefix}${name}|`);
    else if (st.isDirectory()) out.push(`${prefix}${name}/`, ...listing(p, `${prefix}${name}/`));
    else out.push(`${prefix}${name} ${st.size}`);
  }
  return out;
}

export function mkfifo(path: string): void {
  const r = spawnSync("mkfifo", [path]);
  if (r.status !== 0) throw new Error(`mkfifo ${path}: ${r.stderr}`);
}

/** A scenario with one device (00:02.0) and 4 KiB mapped at IOVA 0x1000 (PA 0x80000000), its trace beside it. */
export function writeScenario(dir: string, trace = "t.trace"): string {
  const file = join(dir, "s.json");
  writeFileSync(
    file,
    JSON.stringify({
      arch: "vtd",
      build: { domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x1000", pa: "0x80000000", size: "0x1000" }] }], devices: [{ bdf: "00:02.0", domain: 1, paside: false }] },
      trace,
    }),
  );
  return file;
}

/** Three TLPs: two translated, one fault (0x9000 is not mapped). */
export const TRACE = "MRd 00:02.0 addr=0x1040\nMWr 00:02.0 addr=0x1080 len=8\nMRd 00:02.0 addr=0x9000\n";

/** Starts `iommu-emu ARGS` without waiting; `exited` resolves with its exit code. */
export function start(args: string[], cwd: string) {
  const child = spawn(process.execPath, [bin, ...args], { cwd });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

/** Waits until `ready()` is true (polling every 20 ms), failing after `ms`. */
export async function waitFor(ready: () => boolean, what: string, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!ready()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
