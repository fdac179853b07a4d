/**
 * The release core rebuilt with function names, for the tools that look inside it
 * (bench/instructions.ts counts its instructions natively, bench/profile.ts samples it in V8): asc
 * with --debug, then wasm-opt with the flags of package.json's asbuild:release plus -g. Unless
 * `noInline`, every section but the name section must be byte-identical to build/release.wasm (the
 * code looked at is the release code, only named); with `noInline`, asc without optimisation and
 * wasm-opt -O3 without inlining, every function of the source its own function (not the release's
 * code). Plus the few wasm helpers the tools share: reading and writing sections, and putting
 * another core in the release core's place (instantiatingFrom).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface Section {
  id: number;
  body: Uint8Array;
}

export function readLeb(b: Uint8Array, at: { p: number }): number {
  let r = 0,
    shift = 0,
    x: number;
  do {
    x = b[at.p++]!;
    r += (x & 0x7f) * 2 ** shift;
    shift += 7;
  } while (x & 0x80);
  return r;
}

export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let x = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) x |= 0x80;
    out.push(x);
  } while (n);
  return out;
}

export function sections(b: Uint8Array): Section[] {
  const out: Section[] = [];
  const at = { p: 8 };
  while (at.p < b.length) {
    const id = b[at.p++]!;
    const n = readLeb(b, at);
    out.push({ id, body: b.subarray(at.p, at.p + n) });
    at.p += n;
  }
  return out;
}

export function assemble(head: Uint8Array, list: Section[]): Uint8Array {
  const parts: number[] = [...head.subarray(0, 8)];
  for (const s of list) parts.push(s.id, ...leb(s.body.length), ...s.body);
  return Uint8Array.from(parts);
}

export const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Builds DIR/named.wasm (see the header); `fail` reports a problem and does not return. */
export function buildNamedCore(dir: string, noInline: boolean, fail: (message: string) => never): { path: string; bytes: Uint8Array; list: Section[] } {
  const sh = (cmd: string, argv: string[]) => {
    try {
      execFileSync(cmd, argv, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      fail(`${cmd} ${argv.join(" ")} failed: ${err.stderr?.trim() || err.message}`);
    }
  };
  const release = readFileSync(join(ROOT, "build/release.wasm"));
  const script = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts["asbuild:release"] as string;
  const m = /wasm-opt build\/release\.wasm (.*) -o build\/release\.wasm/.exec(script);
  if (!m) fail(`package.json asbuild:release: expected "... wasm-opt build/release.wasm FLAGS -o build/release.wasm", got ${script}`);
  const path = join(dir, "named.wasm");
  sh(join(ROOT, "node_modules/.bin/asc"), ["assembly/index.ts", "--target", "release", "--debug", ...(noInline ? ["--optimizeLevel", "0"] : []), "-o", path]);
  sh(join(ROOT, "node_modules/.bin/wasm-opt"), [path, "-g", ...(noInline ? ["--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals", "--enable-nontrapping-float-to-int", "-O3", "--no-inline=*"] : m[1]!.split(/\s+/)), "-o", path]);
  const bytes = new Uint8Array(readFileSync(path));
  const list = sections(bytes);
  const releaseCode = sections(release).filter((s) => s.id !== 0);
  const namedCode = list.filter((s) => s.id !== 0);
  if (!noInline && (releaseCode.length !== namedCode.length || releaseCode.some((s, i) => s.id !== namedCode[i]!.id || !same(s.body, namedCode[i]!.body))))
    fail("the named build differs from build/release.wasm outside its name section: rebuild the cores (npm run build:cores) and retry");
  return { path, bytes, list };
}

/**
 * Runs `f` with every WebAssembly instance made from `module` instead of the module the host asks
 * for (the host compiles build/release.wasm once and keeps it, so the swap is at instantiation);
 * returns f's value and how many instances were made. For a tool that runs the bench workloads on
 * another core: bench/run.ts --against, bench/profile.ts's named build.
 */
export function instantiatingFrom<T>(module: WebAssembly.Module, f: () => T): { value: T; instances: number } {
  const Original = WebAssembly.Instance;
  let instances = 0;
  WebAssembly.Instance = class extends Original {
    constructor(_asked: WebAssembly.Module, imports?: ConstructorParameters<typeof WebAssembly.Instance>[1]) {
      super(module, imports);
      instances++;
    }
  } as typeof WebAssembly.Instance;
  try {
    return { value: f(), instances };
  } finally {
    WebAssembly.Instance = Original;
  }
}
