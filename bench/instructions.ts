/**
 * Instructions per translation of the release core, counted by callgrind on a native build of it
 * (wasm2c), so that a change to the hot path can be judged on a loaded machine where wall-clock
 * figures vary 2x. Not part of CI or of `npm run bench`; needs asc (node_modules), wasm2c and the
 * wasm2c runtime (wabt, /usr/share/wabt/wasm2c), cc and valgrind.
 *
 *   node --import tsx bench/instructions.ts [--case NAME]... [--no-inline] [--rings N] [--top K] [--dir DIR]
 *                                           [--annotate FUNCTION] [--unchecked]
 *
 * --no-inline: instead of the release core, a build for finding where the cost is: asc without
 * optimisation (only @inline functions inlined), then wasm-opt -O3 with no inlining, so that every
 * function of the source is its own function in the counts. Its totals are not the release's.
 *
 * --annotate FUNCTION: also prints, for each case, the machine instructions of the functions whose
 * name contains FUNCTION (in the build counted: the release core, or --no-inline's) with how often
 * each ran per translation (callgrind --dump-instr, objdump): where inside a function the cost is.
 *
 * --unchecked: counts even when the native core's state after the passes differs from the wasm
 * core's (step 5), with a warning instead of failing. Only for experiments that change what the core
 * does on purpose (a path cut out to see what it costs): such counts are not the release's.
 *
 * Defaults: the cases iotlb-hit, ss4-walk, ss4-walk-nopwc, ss4-walk-nopde, ss4-walk-nocache and ss4-walk-pwc;
 * 16 rings of 4096 requests per pass; the 12 costliest functions of each case; DIR
 * /tmp/iommu-emu-instructions. Build the cores first (`npm run build:cores`).
 *
 * How:
 *   1. The release core is rebuilt into DIR with its function names (asc --debug, then wasm-opt
 *      with the flags of package.json's asbuild:release and -g). The script stops unless every
 *      non-custom section is byte-identical to build/release.wasm: the code counted is the
 *      release code, only named.
 *   2. wasm2c turns it into C, compiled with `cc -O2` together with a small driver (written here).
 *   3. For each case, the workload of bench/workloads.ts is prepared in this process on the named
 *      core with one export per wasm global added (WebAssembly.Module is wrapped to substitute it
 *      for build/release.wasm; the code is the same), and the core's whole state is written to a
 *      file: linear memory and every global. The driver loads that state into its instance, so it
 *      starts exactly where the host left the core (tables built, caches configured, empty).
 *   4. The driver copies the trace ring by ring into the request ring and calls run(4096), as
 *      the bench's pass does: one warm pass, then one pass counted by callgrind (collection on
 *      only inside run(): the ring copies are not counted). Per translation = counted
 *      instructions / requests of the pass.
 *   5. The same two passes run here on the wasm core; a hash of linear memory and the globals
 *      after them must equal the driver's, or the script fails (the native build did the same
 *      work: same results, counters and cache state).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { REQ_BASE, REQ_SIZE, RING_RECORDS } from "../src/core/abi.ts";
import type { Core } from "../src/core/core.ts";
import { workloads, REQ_WORDS } from "./workloads.ts";
import { buildNamedCore, readLeb, leb, assemble, same, type Section } from "./named-core.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEFAULT_CASES = ["iotlb-hit", "ss4-walk", "ss4-walk-nopwc", "ss4-walk-nopde", "ss4-walk-nocache", "ss4-walk-pwc"];
const usage = "usage: node --import tsx bench/instructions.ts [--case NAME]... [--no-inline] [--rings N] [--top K] [--dir DIR] [--annotate FUNCTION] [--unchecked]";

function die(message: string): never {
  console.error(`bench/instructions: ${message}`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: { case: { type: "string", multiple: true }, "no-inline": { type: "boolean", default: false }, rings: { type: "string", default: "16" }, top: { type: "string", default: "12" }, dir: { type: "string", default: "/tmp/iommu-emu-instructions" }, annotate: { type: "string" }, unchecked: { type: "boolean", default: false } },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (e) {
  die(`${(e as Error).message}\n${usage}`);
}
const cases = args.case?.length ? args.case : DEFAULT_CASES;
for (const c of cases) if (!workloads.some((w) => w.name === c && !w.records)) die(`--case ${c}: expected a translation case of bench/workloads.ts with the default trace length (${DEFAULT_CASES.join(", ")}, ...)`);
const rings = Number(args.rings);
if (!Number.isInteger(rings) || rings < 1 || rings > 64) die(`--rings ${args.rings}: expected an integer from 1 to 64`);
const top = Number(args.top);
if (!Number.isInteger(top) || top < 0) die(`--top ${args.top}: expected a non-negative integer`);
const dir = args.dir!;
mkdirSync(dir, { recursive: true });

function sh(cmd: string, argv: string[], cwd = ROOT): string {
  try {
    return execFileSync(cmd, argv, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    die(`${cmd} ${argv.join(" ")} failed: ${err.stderr?.trim() || err.message}`);
  }
}

/** The value types of the module's own globals (section 6), in index order (no global is imported). */
function globalTypes(list: Section[]): number[] {
  const g = list.find((s) => s.id === 6);
  const imports = list.find((s) => s.id === 2);
  if (imports) {
    const at = { p: 0 };
    for (let n = readLeb(imports.body, at), i = 0; i < n; i++) {
      for (let k = 0; k < 2; k++) {
        const len = readLeb(imports.body, at); // module and field names
        at.p += len;
      }
      const kind = imports.body[at.p++]!;
      if (kind !== 0) die(`import ${i}: only function imports are handled (kind ${kind})`);
      readLeb(imports.body, at); // type index
    }
  }
  if (!g) return [];
  const at = { p: 0 };
  const n = readLeb(g.body, at);
  const types: number[] = [];
  for (let i = 0; i < n; i++) {
    types.push(g.body[at.p++]!);
    at.p++; // mutability
    // the init expression: one constant instruction, then end (0x0b)
    const op = g.body[at.p++]!;
    if (op === 0x41 || op === 0x42) {
      while (g.body[at.p++]! & 0x80);
    } else if (op === 0x44) at.p += 8;
    else if (op === 0x43) at.p += 4;
    else if (op === 0x23) readLeb(g.body, at);
    else die(`global ${i}: unexpected init opcode 0x${op.toString(16)}`);
    if (g.body[at.p++] !== 0x0b) die(`global ${i}: init expression is not one instruction`);
  }
  for (const [i, t] of types.entries()) if (t !== 0x7f && t !== 0x7e) die(`global ${i}: type 0x${t.toString(16)} (only i32 and i64 globals are handled)`);
  return types;
}

/** The module with one export `__gI` for every global I appended to its export section. */
function exportGlobals(bytes: Uint8Array, list: Section[], count: number): Uint8Array {
  const ex = list.find((s) => s.id === 7);
  if (!ex) die("the core has no export section");
  const at = { p: 0 };
  const n = readLeb(ex.body, at);
  const body: number[] = [...leb(n + count), ...ex.body.subarray(at.p)];
  for (let i = 0; i < count; i++) {
    const name = Buffer.from(`__g${i}`);
    body.push(...leb(name.length), ...name, 0x03, ...leb(i));
  }
  return assemble(bytes, list.map((s) => (s === ex ? { id: 7, body: Uint8Array.from(body) } : s)));
}

// ---- 1, 2: the named release core, its C, the driver ----------------------------------------------

const release = readFileSync(join(ROOT, "build/release.wasm"));
const noInline = args["no-inline"]!;
const { path: named, bytes: namedBytes, list: namedSections } = buildNamedCore(dir, noInline, (message) => die(message));
const types = globalTypes(namedSections);
const probe = exportGlobals(namedBytes, namedSections, types.length);

const driverC = `// Written by bench/instructions.ts: runs the core's run() over a trace from a saved state.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>
#include "core.h"

void Z_envZ_abort(struct Z_env_instance_t* env, u32 msg, u32 file, u32 line, u32 col) {
  (void)env; (void)msg; (void)file;
  fprintf(stderr, "core abort at line %u:%u\\n", line, col);
  exit(3);
}

void set_globals(Z_core_instance_t* I, const u64* g);
void get_globals(Z_core_instance_t* I, u64* g);

static void* slurp(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) { perror(path); exit(2); }
  fseek(f, 0, SEEK_END); *size = (size_t)ftell(f); fseek(f, 0, SEEK_SET);
  void* p = malloc(*size);
  if (fread(p, 1, *size, f) != *size) { perror(path); exit(2); }
  fclose(f);
  return p;
}

/* The state file: u32 pages, u32 globals, u64 global values, then pages x 64 KiB of memory. */
int main(int argc, char** argv) {
  if (argc != 4) { fprintf(stderr, "usage: driver STATE TRACE RECORDS\\n"); return 2; }
  size_t ssize, tsize;
  u8* state = slurp(argv[1], &ssize);
  const u8* trace = slurp(argv[2], &tsize);
  const u32 records = (u32)strtoul(argv[3], 0, 10);
  u32 pages, ng;
  memcpy(&pages, state, 4); memcpy(&ng, state + 4, 4);
  wasm_rt_init();
  Z_core_init_module();
  static Z_core_instance_t I;
  Z_core_instantiate(&I, NULL);
  if (ng != ${types.length} || tsize != (size_t)records * ${REQ_SIZE} || ssize != 8 + 8 * (size_t)ng + (size_t)pages * 65536) { fprintf(stderr, "state or trace file does not match\\n"); return 2; }
  if (pages > I.w2c_memory.pages) wasm_rt_grow_memory(&I.w2c_memory, pages - I.w2c_memory.pages);
  memcpy(I.w2c_memory.data, state + 8 + 8 * (size_t)ng, (size_t)pages * 65536);
  set_globals(&I, (const u64*)(state + 8));
  for (int pass = 0; pass < 2; pass++) {
    for (u32 at = 0; at < records; at += ${RING_RECORDS}) {
      memcpy(I.w2c_memory.data + ${REQ_BASE}, trace + (size_t)at * ${REQ_SIZE}, ${RING_RECORDS * REQ_SIZE});
      if (pass == 1) CALLGRIND_TOGGLE_COLLECT;
      Z_coreZ_run(&I, ${RING_RECORDS});
      if (pass == 1) CALLGRIND_TOGGLE_COLLECT;
    }
  }
  /* FNV-1a over the 32-bit words of memory, then of the globals (low, high word each) */
  u32 h = 2166136261u;
  const u32* w = (const u32*)I.w2c_memory.data;
  for (size_t i = 0; i < (size_t)I.w2c_memory.pages * 16384; i++) h = (h ^ w[i]) * 16777619u;
  u64* g = malloc(8 * (size_t)ng);
  get_globals(&I, g);
  for (u32 i = 0; i < ng; i++) { h = (h ^ (u32)g[i]) * 16777619u; h = (h ^ (u32)(g[i] >> 32)) * 16777619u; }
  printf("%u %u\\n", I.w2c_memory.pages, h);
  return 0;
}
`;

const driver = join(dir, "driver"), driverCalls = join(dir, "driver-calls");
const stamp = join(dir, "driver.stamp");
if (!existsSync(driver) || !existsSync(driverCalls) || !existsSync(stamp) || !same(readFileSync(stamp), namedBytes)) {
  const rt = ["/usr/share/wabt/wasm2c", "/usr/src/wasm2c"].find((d) => existsSync(join(d, "wasm-rt-impl.c")));
  if (!rt) die("the wasm2c runtime (wasm-rt-impl.c) is not in /usr/share/wabt/wasm2c or /usr/src/wasm2c");
  sh("wasm2c", [named, "-n", "core", "-o", join(dir, "core.c")], dir);
  const header = readFileSync(join(dir, "core.h"), "utf8");
  // the instance struct lists the globals in index order, named from the name section, before the memory
  const struct = header.slice(header.indexOf("typedef struct Z_core_instance_t"), header.indexOf("wasm_rt_memory_t w2c_memory;"));
  const fields = [...struct.matchAll(/^\s+(u32|u64) (w2c_\w+);$/gm)].map((x, i) => ({ type: x[1]!, field: x[2]!, i }));
  if (fields.length !== types.length || fields.some((f, i) => f.type !== (types[i] === 0x7e ? "u64" : "u32")))
    die(`core.h: expected the ${types.length} globals in index order with the module's types, found ${fields.length}`);
  writeFileSync(
    join(dir, "globals.c"),
    `#include "core.h"\nvoid set_globals(Z_core_instance_t* I, const u64* g) {\n${fields.map((f) => `  I->${f.field} = (${f.type})g[${f.i}];`).join("\n")}\n}\n` +
      `void get_globals(Z_core_instance_t* I, u64* g) {\n${fields.map((f) => `  g[${f.i}] = I->${f.field};`).join("\n")}\n}\n`,
  );
  writeFileSync(join(dir, "driver.c"), driverC);
  // the "calls" build: every wasm function kept a function (V8 in Node 20 inlines no wasm call)
  const c = readFileSync(join(dir, "core.c"), "utf8");
  writeFileSync(join(dir, "core-calls.c"), c.replace(/^static (u32|u64|void|f32|f64) w2c_/gm, "static __attribute__((noinline)) $1 w2c_"));
  for (const [exe, src] of [[driver, "core.c"], [driverCalls, "core-calls.c"]] as const)
    sh("cc", ["-O2", "-I", rt, "-I", dir, "-o", exe, join(dir, src), join(dir, "globals.c"), join(dir, "driver.c"), join(rt, "wasm-rt-impl.c"), "-lm"], dir);
  writeFileSync(stamp, namedBytes);
}

// ---- 3: the cases' states, from the wasm core with its globals exported ---------------------------

const OriginalModule = WebAssembly.Module;
const OriginalInstance = WebAssembly.Instance;
const instances: WebAssembly.Instance[] = [];
WebAssembly.Module = class extends OriginalModule {
  constructor(bytes: BufferSource) {
    super(bytes instanceof Uint8Array && same(bytes, release) ? probe : bytes);
  }
} as typeof WebAssembly.Module;
WebAssembly.Instance = class extends OriginalInstance {
  constructor(module: WebAssembly.Module, imports?: ConstructorParameters<typeof WebAssembly.Instance>[1]) {
    super(module, imports);
    instances.push(this);
  }
} as typeof WebAssembly.Instance;

function globalsOf(ex: WebAssembly.Instance["exports"]): bigint[] {
  return types.map((t, i) => {
    const v = (ex[`__g${i}`] as unknown as { value: number | bigint }).value;
    return t === 0x7e ? BigInt.asUintN(64, v as bigint) : BigInt((v as number) >>> 0);
  });
}

function hash(memory: WebAssembly.Memory, globals: bigint[]): number {
  let h = 2166136261;
  const w = new Uint32Array(memory.buffer);
  for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w[i]!, 16777619) >>> 0;
  for (const g of globals) {
    h = Math.imul(h ^ Number(g & 0xffffffffn), 16777619) >>> 0;
    h = Math.imul(h ^ Number(g >> 32n), 16777619) >>> 0;
  }
  return h;
}

interface Row {
  name: string;
  /** Instructions per translation, every wasm function a call (the "calls" build). */
  perTranslation: number;
  /** The same with cc inlining as it likes (plain -O2). */
  inlined: number;
  functions: { name: string; ir: number }[];
}

const rows: Row[] = [];
for (const name of cases) {
  const records = rings * RING_RECORDS;
  const w = workloads.find((x) => x.name === name)!.prepare(records);
  const core: Core = w.platform.core;
  const memory = (core as unknown as { ex: { memory: WebAssembly.Memory } }).ex.memory; // Core keeps its exports private
  const inst = instances.find((i) => i.exports.memory === memory);
  if (!inst) die(`${name}: the platform's core was not instantiated from the named build`);
  const globals = globalsOf(inst.exports);
  const pages = memory.buffer.byteLength / 65536;
  const head = new DataView(new ArrayBuffer(8 + 8 * globals.length));
  head.setUint32(0, pages, true);
  head.setUint32(4, globals.length, true);
  globals.forEach((g, i) => head.setBigUint64(8 + 8 * i, g, true));
  const stateFile = join(dir, `${name}.state`), traceFile = join(dir, `${name}.trace`);
  writeFileSync(stateFile, Buffer.concat([new Uint8Array(head.buffer), new Uint8Array(memory.buffer)]));
  writeFileSync(traceFile, new Uint8Array(w.requests.buffer, w.requests.byteOffset, records * REQ_WORDS * 4));
  // 5: the same two passes on the wasm core (results unread: no; as the bench's pass)
  for (let pass = 0; pass < 2; pass++)
    for (let at = 0; at < records; at += RING_RECORDS) {
      core.requestWords().set(w.requests.subarray(at * REQ_WORDS, (at + RING_RECORDS) * REQ_WORDS));
      core.run(RING_RECORDS);
    }
  const want = `${memory.buffer.byteLength / 65536} ${hash(memory, globalsOf(inst.exports))}`;
  // 4: the native passes under callgrind, both builds
  const count = (exe: string, tag: string) => {
    const out = join(dir, `${name}${tag}.callgrind`);
    const got = sh("valgrind", ["--tool=callgrind", "--collect-atstart=no", "--dump-instr=yes", `--callgrind-out-file=${out}`, exe, stateFile, traceFile, String(records)]).trim();
    if (got !== want) {
      const problem = `${name}: the native core's state after the passes (pages, hash: ${got}) differs from the wasm core's (${want})`;
      if (!args.unchecked) die(problem);
      console.warn(`bench/instructions: ${problem}; counted anyway (--unchecked)`);
    }
    const annotated = sh("callgrind_annotate", ["--threshold=100", out]);
    const total = /([\d,]+)(?:\s+\(\s*[\d.]+%\))?\s+PROGRAM TOTALS/.exec(annotated);
    if (!total) die(`${name}: no PROGRAM TOTALS in callgrind_annotate's output of ${out}`);
    const functions: Row["functions"] = [];
    for (const line of annotated.split("\n")) {
      const f = /^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?\S*?:(\S+)/.exec(line);
      if (f && !line.includes("PROGRAM TOTALS")) functions.push({ name: f[2]!.replace(/^w2c_(assembly_)?/, ""), ir: Number(f[1]!.replaceAll(",", "")) / records });
    }
    return { perTranslation: Number(total[1]!.replaceAll(",", "")) / records, functions };
  };
  const calls = count(driverCalls, "-calls");
  const inlined = count(driver, "");
  rows.push({ name, perTranslation: calls.perTranslation, inlined: inlined.perTranslation, functions: calls.functions });
  console.log(`${name.padEnd(18)} ${calls.perTranslation.toFixed(1).padStart(8)} instructions per translation (${inlined.perTranslation.toFixed(1)} with cc inlining; ${records} warm translations; state ${args.unchecked ? "not " : ""}checked)`);
  for (const f of calls.functions.slice(0, top)) console.log(`    ${f.ir.toFixed(1).padStart(8)}  ${f.name}`);
  if (args.annotate !== undefined) annotate(driverCalls, join(dir, `${name}-calls.callgrind`), args.annotate, records);
}

/**
 * Self cost per machine instruction of the functions of `exe` whose name contains `fn`, from a
 * callgrind profile written with --dump-instr=yes, printed next to objdump's disassembly (per
 * translation: cost / records). Costs of calls made (callgrind's inclusive "calls=" lines) are left
 * out: each function counts only its own instructions, as in the per-function table.
 */
function annotate(exe: string, profile: string, fn: string, records: number): void {
  const cost = new Map<number, number>();
  const names = new Map<string, string>();
  let fields = 1;
  const last: number[] = [];
  let current = "";
  let skipNext = false;
  for (const line of readFileSync(profile, "utf8").split("\n")) {
    if (line.startsWith("positions:")) fields = line.split(/\s+/).length - 1;
    const named = /^c?fn=\((\d+)\)(?: (.*))?$/.exec(line);
    if (named) {
      if (named[2]) names.set(named[1]!, named[2]);
      if (line.startsWith("fn=")) current = names.get(named[1]!) ?? "";
      continue;
    }
    if (line.startsWith("calls=")) {
      skipNext = true;
      continue;
    }
    if (!/^[-+*0-9]/.test(line)) continue;
    const parts = line.split(/\s+/);
    for (let i = 0; i < fields; i++) {
      const p = parts[i]!;
      last[i] = p === "*" ? last[i]! : p[0] === "+" || p[0] === "-" ? last[i]! + Number(p[0] + "1") * Number(p.slice(1)) : Number(p);
    }
    if (skipNext) {
      skipNext = false;
      continue;
    }
    if (current.includes(fn) && parts.length > fields) cost.set(last[0]!, (cost.get(last[0]!) ?? 0) + Number(parts[fields]));
  }
  let inside = false,
    total = 0;
  const out: string[] = [];
  for (const line of sh("objdump", ["-d", "--no-show-raw-insn", exe]).split("\n")) {
    const head = /^[0-9a-f]+ <(.*)>:$/.exec(line);
    if (head) {
      inside = head[1]!.includes(fn);
      if (inside) out.push(`${line}`);
      continue;
    }
    const at = /^\s*([0-9a-f]+):\s+(.*)$/.exec(line);
    if (!inside || !at) continue;
    const c = (cost.get(parseInt(at[1]!, 16)) ?? 0) / records;
    total += c;
    if (c > 0) out.push(`  ${c.toFixed(2).padStart(8)}  ${at[1]}  ${at[2]}`);
  }
  if (!out.length) die(`--annotate ${fn}: no function of the counted build has that in its name`);
  console.log(`  instructions of *${fn}* that ran, per translation (${total.toFixed(1)} in all):`);
  for (const l of out) console.log(l);
}

writeFileSync(join(dir, "latest.json"), `${JSON.stringify({ rings, rows }, null, 1)}\n`);
