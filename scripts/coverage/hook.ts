/**
 * Preloaded (node --import) into every process and worker of a coverage run: gives every core
 * instance that imports env.__cov (build/coverage.wasm) a function that marks its statement as
 * executed (and makes the test harnesses from their instrumented builds), and at exit writes the marks to $IOMMU_EMU_COVERAGE_DIR (one file per process or
 * thread; report.ts merges them).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { threadId } from "node:worker_threads";

const dir = process.env.IOMMU_EMU_COVERAGE_DIR;
const points = (JSON.parse(readFileSync(new URL("../../build/coverage.json", import.meta.url), "utf8")) as unknown[]).length;
const hits = new Uint8Array(points);
const cov = (id: number) => {
  hits[id] = 1;
};

type Imports = Record<string, Record<string, unknown>>;
const W = globalThis.WebAssembly as unknown as {
  Instance: new (m: unknown, i?: Imports) => object;
  Module: { new (bytes: Uint8Array | ArrayBuffer): object; imports(m: unknown): { module: string; name: string }[] };
};

// The test harnesses load their wasm files themselves: a module made from a harness's bytes is
// made from its instrumented build instead.
const build = (f: string) => readFileSync(new URL(`../../build/${f}`, import.meta.url));
const swaps = ["walk-harness", "cache-harness"].map((h) => ({ plain: build(`${h}.wasm`), covered: build(`coverage-${h}.wasm`) }));
const OriginalModule = W.Module;
W.Module = class extends OriginalModule {
  constructor(bytes: Uint8Array | ArrayBuffer) {
    const b = Buffer.from(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes);
    super(swaps.find((s) => s.plain.equals(b))?.covered ?? bytes);
  }
} as typeof W.Module;
const Original = W.Instance;
W.Instance = class extends Original {
  constructor(m: unknown, imports: Imports = {}) {
    const wants = W.Module.imports(m).some((i) => i.module === "env" && i.name === "__cov");
    super(m, wants ? { ...imports, env: { ...imports.env, __cov: cov } } : imports);
  }
};

if (dir) process.on("exit", () => writeFileSync(join(dir, `hits-${process.pid}-${threadId}.bin`), hits));
