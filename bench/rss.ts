/**
 * Peak memory of a long replay: writes a trace of N TLPs (default 100 million) and a scenario to a
 * temporary folder, replays it with `iommu-emu run` in a child process under /usr/bin/time -v,
 * prints the child's peak resident set size and throughput, and deletes the files (`--keep` keeps
 * them). The replay streams, so the figure should not depend on N.
 *
 *   node --import tsx bench/rss.ts [--tlps 100000000] [--format binary|text] [--functional] [--keep]
 *
 * The trace: 64-byte MRd/MWr with cycle times (one cycle apart) to random 4 KiB pages of a 16 MiB
 * second-stage mapping (IOTLB misses and walks, no faults). A binary trace of 100 M TLPs is 3.2 GB,
 * a text one about 4.4 GB: make sure the temporary folder has room.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BinaryTraceWriter, RECORD_WORDS } from "../src/trace/binary.ts";
import { formatTlp } from "../src/trace/text.ts";

const { values: args } = parseArgs({
  options: {
    tlps: { type: "string", default: "100000000" },
    format: { type: "string", default: "binary" },
    functional: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});
const N = Number(args.tlps);
if (!Number.isSafeInteger(N) || N <= 0) throw new Error(`--tlps: expected a positive integer, got ${args.tlps}`);
if (args.format !== "binary" && args.format !== "text") throw new Error(`--format: binary or text, got ${args.format}`);

const root = fileURLToPath(new URL("../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-rss-"));
const scenario = join(dir, "s.json");
const trace = join(dir, args.format === "binary" ? "t.itb" : "t.trace");
writeFileSync(
  scenario,
  JSON.stringify({
    arch: "vtd",
    build: { domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x0", pa: "0x100000000", size: "0x1000000" }] }], devices: [{ bdf: "00:02.0", domain: 1, paside: false }] },
  }),
);

const t0 = performance.now();
const BATCH = 4096;
let x = 1;
const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
if (args.format === "binary") {
  const w = new BinaryTraceWriter(trace);
  const block = new Uint32Array(BATCH * RECORD_WORDS);
  for (let at = 0; at < N; at += BATCH) {
    const n = Math.min(BATCH, N - at);
    for (let i = 0; i < n; i++) {
      const r = next();
      const t = at + i;
      // ADDR: page (r >>> 20) of 4096, 64-byte offset; TIME: cycle t; SID 00:02.0; LEN 64; MRd/MWr; unit cycles
      block.set([((r >>> 20) << 12) | (r & 0xfc0), 0, t >>> 0, Math.floor(t / 2 ** 32), 0x10, 0, 64, (r & 1) | (1 << 12)], i * RECORD_WORDS);
    }
    w.writeTlpRecords(block, n);
  }
  w.commit();
} else {
  const fd = openSync(trace, "w");
  const lines: string[] = [];
  for (let t = 0; t < N; t++) {
    const r = next();
    lines.push(formatTlp({ line: 0, time: { value: t, unit: "cycles" }, op: r & 1 ? "MWr" : "MRd", sid: 0x10, priv: false, exe: false, addr: BigInt(((r >>> 20) << 12) | (r & 0xfc0)), len: 64, ns: false, ro: false, ido: false, translated: false, nw: false }));
    if (lines.length === 65536) {
      writeSync(fd, lines.join("\n") + "\n");
      lines.length = 0;
    }
  }
  if (lines.length) writeSync(fd, lines.join("\n") + "\n");
  closeSync(fd);
}
const bytes = statSync(trace).size;
console.log(`wrote ${N} TLPs as ${args.format}: ${(bytes / 1e9).toFixed(2)} GB in ${((performance.now() - t0) / 1000).toFixed(1)} s (${trace})`);

const cli = [join(root, "bin/iommu-emu.mjs"), "run", scenario, "--trace", trace, ...(args.functional ? ["--functional"] : [])];
const timeBin = "/usr/bin/time";
const useTime = existsSync(timeBin);
const t1 = performance.now();
const r = useTime ? spawnSync(timeBin, ["-v", process.execPath, ...cli], { encoding: "utf8" }) : spawnSync(process.execPath, cli, { encoding: "utf8" });
const seconds = (performance.now() - t1) / 1000;
if (r.status !== 0) {
  console.error(r.stdout, r.stderr);
  throw new Error(`iommu-emu run exited with ${r.status}`);
}
const tlps = /TLPs\s+(\d+)/.exec(r.stdout)?.[1];
console.log(`replayed ${tlps} TLPs in ${seconds.toFixed(1)} s (${(N / seconds / 1e6).toFixed(2)} M TLPs/s, ${(bytes / seconds / 1e6).toFixed(0)} MB/s of trace, process start and summary included)`);
if (useTime) {
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
  console.log(`peak RSS of iommu-emu run: ${(kb / 1024).toFixed(1)} MiB (/usr/bin/time -v)`);
} else console.log("(no /usr/bin/time: peak RSS not measured)");
if (args.keep) console.log(`kept ${dir}`);
else rmSync(dir, { recursive: true, force: true });
