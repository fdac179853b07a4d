// Preloaded into every Node process and worker of a coverage run (main.ts puts it in NODE_OPTIONS,
// so the CLI processes the tests start get it too; plain JavaScript, so it needs no loader): gives
// every core instance that imports env.__cov (build/coverage.wasm) a function that marks its
// statement as executed, makes the test harnesses from their instrumented builds, and at exit
// writes the marks to $IOMMU_EMU_COVERAGE_DIR (one file per process or thread; main.ts merges them).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { threadId } from "node:worker_threads";

const dir = process.env.IOMMU_EMU_COVERAGE_DIR;
const build = (f) => readFileSync(new URL(`../../build/${f}`, import.meta.url));
const hits = new Uint8Array(JSON.parse(build("coverage.json").toString("utf8")).length);
const cov = (id) => {
  hits[id] = 1;
};

// The test harnesses load their wasm files themselves: a module made from a harness's bytes is
// made from its instrumented build instead.
const swaps = ["walk-harness", "cache-harness"].map((h) => ({ plain: build(`${h}.wasm`), covered: build(`coverage-${h}.wasm`) }));
const W = globalThis.WebAssembly;
const OriginalModule = W.Module;
W.Module = class extends OriginalModule {
  constructor(bytes) {
    const b = Buffer.from(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes);
    super(swaps.find((s) => s.plain.equals(b))?.covered ?? bytes);
  }
};
const OriginalInstance = W.Instance;
W.Instance = class extends OriginalInstance {
  constructor(m, imports = {}) {
    const wants = OriginalModule.imports(m).some((i) => i.module === "env" && i.name === "__cov");
    super(m, wants ? { ...imports, env: { ...imports.env, __cov: cov } } : imports);
  }
};

if (dir) process.on("exit", () => writeFileSync(join(dir, `hits-${process.pid}-${threadId}.bin`), hits));
