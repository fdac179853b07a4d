/**
 * The native baseline of the benchmarks (bench/native/baseline.c, a copy of the project's shared
 * file): built with the machine's C compiler once per run, run once before the JS cases, and read
 * as one JSON line of translations/s per case. The runner divides a case's median by its native
 * counterpart's figure (NATIVE_COUNTERPART) for the table's "x native" column and the JSON's
 * `ratioToNative`.
 */
import { execFileSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The cases the native program measures, in the order it prints them. */
export const NATIVE_CASES = ["iotlb-hit", "streaming", "ss4-walk", "nested-walk"] as const;
export type NativeCase = (typeof NATIVE_CASES)[number];
export type NativeFigures = Record<NativeCase, number>;

/**
 * Bench case -> the native case it is compared with. Only cases doing the same work as a native
 * one are listed (same format, same access pattern, caches as in the C model); another format's
 * case (an SMMUv3 one, say) gets an entry here when the C file measures its counterpart.
 */
export const NATIVE_COUNTERPART: Readonly<Record<string, NativeCase>> = {
  "iotlb-hit": "iotlb-hit",
  streaming: "streaming",
  "ss4-walk": "ss4-walk",
  "nested-walk": "nested-walk",
};

export const NATIVE_SOURCE = fileURLToPath(new URL("./native/baseline.c", import.meta.url));

/**
 * The native program's output: one line holding a JSON object with a positive, finite figure for
 * each of NATIVE_CASES (other keys are ignored). Throws an Error saying what is wrong otherwise.
 */
export function parseNativeOutput(stdout: string): NativeFigures {
  const lines = stdout.split("\n").filter((l) => l.trim() !== "");
  if (lines.length !== 1) throw new Error(`expected one line of JSON, got ${lines.length} lines`);
  let value: unknown;
  try {
    value = JSON.parse(lines[0]!);
  } catch {
    throw new Error(`expected a JSON object, got ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`expected a JSON object, got ${lines[0]!.slice(0, 80)}`);
  const out = {} as NativeFigures;
  for (const c of NATIVE_CASES) {
    const v = (value as Record<string, unknown>)[c];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new Error(`"${c}": expected a positive number of translations/s, got ${JSON.stringify(v)}`);
    out[c] = v;
  }
  return out;
}

/** Whether an executable `name` is on PATH. */
export function onPath(name: string, path = process.env.PATH ?? ""): boolean {
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/**
 * Builds the baseline with `cc -O3 -march=native` in a temporary folder (removed before
 * returning), runs it once and returns its figures, or the reason it could not (compiler missing or
 * failing, the program failing or printing something else).
 */
export function runNativeBaseline(source = NATIVE_SOURCE): { figures: NativeFigures } | { error: string } {
  if (!onPath("cc")) return { error: "no C compiler (cc) on PATH" };
  const dir = mkdtempSync(join(tmpdir(), "iommu-emu-native-"));
  const exe = join(dir, "baseline");
  const firstLine = (e: unknown) => {
    const err = e as { stderr?: Buffer | string; message?: string };
    const text = String(err.stderr ?? "").trim() || String(err.message ?? e);
    return text.split("\n")[0]!;
  };
  try {
    try {
      execFileSync("cc", ["-O3", "-march=native", "-o", exe, source], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      return { error: `cc -O3 -march=native failed: ${firstLine(e)}` };
    }
    let stdout: string;
    try {
      stdout = execFileSync(exe, [], { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
    } catch (e) {
      return { error: `the native baseline failed: ${firstLine(e)}` };
    }
    try {
      return { figures: parseNativeOutput(stdout) };
    } catch (e) {
      return { error: `the native baseline's output: ${(e as Error).message}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
