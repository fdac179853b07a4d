/**
 * Generator options: every option error names the workload and the option and says what was
 * expected, before any file is written; `gen --help` and README "Generators" document every
 * workload and option; the CLI's exit codes and atomic output.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { commonOptions, formatJson, generate, workloads } from "../../src/gen/index.ts";
import { formatSize, parseSize } from "../../src/gen/options.ts";
import { dir, errorOf } from "./helpers.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8" });

const errDir = join(dir, "errors");
mkdirSync(errDir);
const out = join(errDir, "s.json");

/** [workload, options, expected message] */
const cases: [string, Record<string, string | number | boolean>, RegExp][] = [
  // common options
  ["random-window", { tlps: 0 }, /^gen random-window: --tlps: expected a whole number from 1 to 100000000, got 0$/],
  ["random-window", { tlps: "ten" }, /--tlps: expected a whole number from 1 to 100000000, got "ten"/],
  ["stream", { tlps: 100_000_001 }, /--tlps: expected a whole number from 1 to 100000000/],
  ["stream", { tlps: "1.5" }, /--tlps: expected a whole number/],
  ["nic-rings", { seed: -1 }, /--seed: expected a whole number from 0 to 4294967295, got -1/],
  ["tenants", { seed: "4294967296" }, /--seed: expected a whole number from 0 to 4294967295/],
  ["sva", { gap: "fast" }, /--gap: expected a time in ns from 0 to 1000000, with at most 3 decimals, e\.g\. 2\.5, got "fast"/],
  ["sva", { gap: "1.2345" }, /--gap: expected a time in ns/],
  ["sva", { gap: "2000000" }, /--gap: expected a time in ns from 0 to 1000000/],
  ["random-window", { gap: "1000000", tlps: 100_000_000 }, /--gap: 100000000 TLPs 1000000 ns apart would need times beyond/],
  ["random-window", { bogus: 1 }, /^gen random-window: unknown option --bogus; random-window takes --window, --page, .*--tlps, --seed, --gap, --arch$/],
  ["stream", { arch: "arm" }, /^gen stream: --arch: expected one of vtd, smmuv3, got "arm"$/],
  ["sva", { lazyBatch: 4 }, /unknown option --lazy-batch; sva takes/],
  // random-window
  ["random-window", { window: "lots" }, /--window: expected a size in bytes like 4096, 64K, 2M or 1G \(from 4K to 64T\), got "lots"/],
  ["random-window", { window: "2K" }, /--window: expected a size from 4K to 64T, got "2K"/],
  ["random-window", { window: "128T" }, /--window: expected a size from 4K to 64T/],
  ["random-window", { window: "6K" }, /--window: 6K is not a multiple of the 4K page size/],
  ["random-window", { window: "3M", page: "2M" }, /--window: 3M is not a multiple of the 2M page size/],
  ["random-window", { window: "8G" }, /--window: 8G is 2097152 pages of 4K; at most 1048576 pages are mapped \(use a larger --page or a smaller window\)/],
  ["random-window", { page: "8K" }, /--page: expected one of 4K, 2M, 1G, got "8K"/],
  ["random-window", { tlpSize: 48 }, /--tlp-size: expected a power of two from 1 to 4096 \(a TLP must not cross a 4 KiB boundary\), got 48/],
  ["random-window", { tlpSize: 8192 }, /--tlp-size: expected a whole number from 1 to 4096, got 8192/],
  ["random-window", { reads: "1.5" }, /--reads: expected a fraction from 0 to 1, e\.g\. 0\.25, got "1\.5"/],
  ["random-window", { reads: "half" }, /--reads: expected a fraction from 0 to 1/],
  ["random-window", { ns: -0.1 }, /--ns: expected a fraction from 0 to 1/],
  ["random-window", { domain: "nested" }, /--domain: expected one of ss, fs, got "nested"/],
  ["random-window", { levels: 3 }, /--levels: expected a whole number from 4 to 5, got 3/],
  ["random-window", { bdf: "00:20.0" }, /--bdf: expected a BDF like 00:02\.0 \(bus:device\.function in hex, device up to 1f\), got "00:20\.0"/],
  ["random-window", { bdf: "zz" }, /--bdf: expected a BDF like 00:02\.0/],
  // stream
  ["stream", { window: "1M", tlpSize: 256, tlps: 4097 }, /--window: 4097 TLPs of 256 bytes need 1048832 bytes, more than the 1M window: use --wrap or a larger --window/],
  ["stream", { op: "copy" }, /--op: expected one of write, read, got "copy"/],
  ["stream", { wrap: "yes" }, /--wrap: is a flag \(no value\), got "yes"/],
  ["stream", { window: "5M", page: "2M" }, /--window: 5M is not a multiple of the 2M page size/],
  ["stream", { window: "6G" }, /--window: 6G is 1572864 pages of 4K; at most 1048576/],
  ["stream", { tlpSize: 100 }, /--tlp-size: expected a power of two/],
  ["stream", { ns: "all" }, /--ns: expected a fraction from 0 to 1/],
  ["stream", { domain: "SS" }, /--domain: expected one of ss, fs, got "SS"/],
  ["stream", { levels: "four" }, /--levels: expected a whole number from 4 to 5/],
  ["stream", { bdf: "0000:00:02.0" }, /--bdf: expected a BDF like 00:02\.0/],
  ["stream", { page: 4096 }, /--page: expected one of 4K, 2M, 1G, got 4096/],
  // nic-rings
  ["nic-rings", { rxRings: 0, txRings: 0 }, /--rx-rings: no rings: at least one of --rx-rings and --tx-rings must be 1 or more/],
  ["nic-rings", { rxRings: 65 }, /--rx-rings: expected a whole number from 0 to 64, got 65/],
  ["nic-rings", { txRings: "x" }, /--tx-rings: expected a whole number from 0 to 64/],
  ["nic-rings", { ringSize: 0 }, /--ring-size: expected a whole number from 1 to 4096, got 0/],
  ["nic-rings", { batch: 512 }, /--batch: 512 packets do not fit a ring of --ring-size 256/],
  ["nic-rings", { batch: 0 }, /--batch: expected a whole number from 1 to 4096/],
  ["nic-rings", { bufSize: "32" }, /--buf-size: expected a size from 64 to 64K, got "32"/],
  ["nic-rings", { bufSize: "128K" }, /--buf-size: expected a size from 64 to 64K/],
  ["nic-rings", { packetSize: 4000 }, /--packet-size: 4000 bytes do not fit a buffer of --buf-size 2K/],
  ["nic-rings", { packetSize: 0 }, /--packet-size: expected a whole number from 1 to 65536/],
  ["nic-rings", { tlpSize: 3 }, /--tlp-size: expected a power of two/],
  ["nic-rings", { ns: 2 }, /--ns: expected a fraction from 0 to 1/],
  ["nic-rings", { invalidation: "eager" }, /--invalidation: expected one of strict, lazy, got "eager"/],
  ["nic-rings", { lazyBatch: 0 }, /--lazy-batch: expected a whole number from 1 to 65536, got 0/],
  ["nic-rings", { rxRings: 64, ringSize: 4096, bufSize: "64K" }, /--ring-size: 262272 buffers of 64K IOVA space do not fit below 0xfee00000: use fewer or smaller rings or buffers/],
  ["nic-rings", { bdf: "1:2.3" }, /--bdf: expected a BDF/],
  // tenants
  ["tenants", { devices: 0 }, /--devices: expected a whole number from 1 to 4096, got 0/],
  ["tenants", { pasids: 4097 }, /--pasids: expected a whole number from 0 to 4096/],
  ["tenants", { devices: 4096, pasids: 8, workingSet: "4K" }, /--pasids: 4096 devices x 8 PASIDs is 32768 tenants; at most 16384/],
  ["tenants", { domain: "pt" }, /--domain: expected one of ss, fs/],
  ["tenants", { workingSet: "1M", page: "2M" }, /--working-set: 1M is not a multiple of the 2M page size/],
  ["tenants", { workingSet: "128G", page: "1G" }, /--working-set: expected a size from 4K to 64G/],
  ["tenants", { devices: 2048, workingSet: "4M" }, /--working-set: 2048 tenants x 4M is 2097152 pages of 4K; at most 1048576 pages are mapped/],
  ["tenants", { page: "16K" }, /--page: expected one of 4K, 2M, 1G/],
  ["tenants", { tlpSize: 6 }, /--tlp-size: expected a power of two/],
  ["tenants", { reads: 7 }, /--reads: expected a fraction/],
  ["tenants", { ns: "x" }, /--ns: expected a fraction/],
  ["tenants", { burst: 0 }, /--burst: expected a whole number from 1 to 1000000, got 0/],
  ["tenants", { schedule: "fair" }, /--schedule: expected one of round-robin, random, got "fair"/],
  ["tenants", { levels: 6 }, /--levels: expected a whole number from 4 to 5/],
  // sva
  ["sva", { pasid: 0 }, /--pasid: expected a whole number from 1 to 1048575, got 0/],
  ["sva", { pasid: "0x100000" }, /--pasid: expected a whole number from 1 to 1048575, got "0x100000"/],
  ["sva", { heap: "3M", page: "2M" }, /--heap: 3M is not a multiple of the 2M page size/],
  ["sva", { heap: "8G" }, /--heap: 8G is 2097152 pages of 4K; at most 1048576 pages are mapped \(use a larger --page or a smaller heap\)/],
  ["sva", { heap: "1K" }, /--heap: expected a size from 4K to 64G/],
  ["sva", { page: "4M" }, /--page: expected one of 4K, 2M, 1G/],
  ["sva", { tlpSize: 0 }, /--tlp-size: expected a whole number from 1 to 4096/],
  ["sva", { reads: -1 }, /--reads: expected a fraction/],
  ["sva", { ns: 1.01 }, /--ns: expected a fraction/],
  ["sva", { faults: "most" }, /--faults: expected a fraction from 0 to 1/],
  ["sva", { remapEvery: -1 }, /--remap-every: expected a whole number from 0 to 100000000, got -1/],
  ["sva", { levels: 4.5 }, /--levels: expected a whole number/],
  ["sva", { bdf: "00:04.8" }, /--bdf: expected a BDF/],
];

test("every option error names the workload and option and says what was expected; no file is written", () => {
  writeFileSync(out, "before");
  for (const [w, o, re] of cases) {
    const msg = errorOf(() => generate(w, o, out));
    assert.match(msg, re, `${w} ${JSON.stringify(o)}: ${msg}`);
    assert.ok(msg.startsWith(`gen ${w}: `), msg);
  }
  assert.is(readFileSync(out, "utf8"), "before", "the existing file is untouched");
  assert.equal(readdirSync(errDir), ["s.json"], "no trace, no temporary files");
});

test("every option of every workload has an error case above", () => {
  const tried = new Set(cases.flatMap(([w, o]) => Object.keys(o).map((k) => `${w}:${k}`)));
  for (const w of workloads)
    for (const s of [...w.options, ...commonOptions]) {
      const key = s.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      const anywhere = commonOptions.includes(s) ? [...tried].some((t) => t.endsWith(`:${key}`)) : tried.has(`${w.name}:${key}`);
      assert.ok(anywhere, `${w.name} --${s.flag}`);
    }
});

test("unknown workload, missing -o, unwritable output", () => {
  assert.match(errorOf(() => generate("fuzz", {}, out)), /^gen: unknown workload "fuzz"; expected one of random-window, stream, nic-rings, tenants, sva$/);
  assert.match(errorOf(() => generate("sva", {}, undefined)), /^gen sva: -o FILE is required/);
  const missing = join(dir, "no-such-dir", "s.json");
  assert.match(errorOf(() => generate("sva", { tlps: 10 }, missing)), /no-such-dir\/s\.trace: cannot write the file \(ENOENT\)/);
  assert.not.ok(existsSync(join(dir, "no-such-dir")));
});

test("sizes: suffixes and hex parse, and print back in their shortest form", () => {
  assert.equal(["4096", "0x1000", "4K", "4k", "4KiB", "4KB", "2M", "1G", "1T", "3 K"].map(parseSize), [4096n, 4096n, 4096n, 4096n, 4096n, 4096n, 2n << 20n, 1n << 30n, 1n << 40n, 3072n]);
  assert.equal(["", "1.5G", "-1", "G", "1P"].map(parseSize), [undefined, undefined, undefined, undefined, undefined]);
  assert.equal([4096n, 1536n, 3n << 30n, 1n << 40n, 100n].map(formatSize), ["4K", "1536", "3G", "1T", "100"]);
});

test("scenario JSON: indented, short objects on one line, and parses back to the same value", () => {
  const v = { a: 1, list: [{ iova: "0x1000", size: "0x1000" }, { iova: "0x2000", size: "0x1000" }], long: "x".repeat(200), empty: [], nested: { deep: [1, [2, 3]] } };
  const text = formatJson(v, "", 60);
  assert.equal(JSON.parse(text), v);
  assert.is(text.split("\n")[3], '    {"iova":"0x1000","size":"0x1000"},');
  assert.is(formatJson({ a: 1 }), '{"a":1}');
});

test("CLI: gen <workload> -o FILE writes both files and prints the counts; errors exit 2 and write nothing", () => {
  const d = join(dir, "cli");
  mkdirSync(d);
  const f = join(d, "nic.json");
  const r = cli("gen", "nic-rings", "-o", f, "--tlps", "1200", "--rx-rings", "1", "--tx-rings", "1", "--invalidation", "lazy", "--seed", "0x10");
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^wrote .*nic\.json and .*nic\.trace: 1200 TLPs, \d+ maps, \d+ unmaps \(iommu-emu gen nic-rings --rx-rings 1 --tx-rings 1 .* --invalidation lazy .* --tlps 1200 --seed 16 --gap 0\)\n$/);
  assert.ok(existsSync(f) && existsSync(f.replace(/\.json$/, ".trace")));
  const run = cli("run", f, "--functional");
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /faulted\s+0 /);
  const bad = (args: string[], re: RegExp) => {
    const x = cli("gen", ...args);
    assert.is(x.status, 2, `${args.join(" ")}: ${x.stderr}`);
    assert.match(x.stderr, re);
  };
  const g = join(d, "bad.json");
  bad(["sva", "-o", g, "--heap", "3M", "--page", "2M"], /iommu-emu: gen sva: --heap: 3M is not a multiple of the 2M page size/);
  bad(["sva", "-o", g, "--wrap"], /unknown option '--wrap'/);
  bad(["stream", "-o", g, "--wrap", "yes"], /too many arguments|unexpected/);
  bad(["random-window"], /required option '-o, --out <file>' not specified/);
  bad(["nope", "-o", g], /unknown command 'nope'/);
  bad(["tenants", "-o", g, "--devices"], /option '--devices <n>' argument missing/);
  assert.equal(readdirSync(d).sort(), ["nic.json", "nic.trace"], "failed runs leave nothing behind");
});

test("gen --help documents every workload and every option, with defaults", () => {
  const r = cli("gen", "--help");
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: iommu-emu gen <workload> \[options\] -o FILE/);
  for (const w of workloads) {
    assert.ok(r.stdout.includes(`  ${w.name}: ${w.summary}`), w.name);
    for (const s of w.options) assert.ok(r.stdout.includes(`--${s.flag}`), `${w.name} --${s.flag}`);
  }
  for (const s of commonOptions) assert.ok(r.stdout.includes(`--${s.flag}`), s.flag);
  assert.match(r.stdout, /--window <size>\s+bytes of IOVA space the TLPs spread over, a multiple of --page \(4K\.\.64T\); default 1G/);
  const one = cli("gen", "tenants", "--help");
  assert.is(one.status, 0);
  assert.match(one.stdout, /--pasids <n>\s+PASIDs per device/);
  assert.match(one.stdout, /-o, --out <file>/);
});

test("README \"Generators\" names every workload and every option", () => {
  const text = readFileSync(join(root, "README.md"), "utf8");
  const start = text.indexOf("### Generators");
  assert.ok(start >= 0, "a Generators section");
  const section = text.slice(start, text.indexOf("\n### ", start + 1));
  for (const w of workloads) {
    assert.ok(section.includes(`\`${w.name}\``), w.name);
    for (const s of w.options) assert.ok(section.includes(`--${s.flag}`), `${w.name} --${s.flag}`);
  }
  for (const s of commonOptions) assert.ok(section.includes(`--${s.flag}`), s.flag);
});

test.run();
