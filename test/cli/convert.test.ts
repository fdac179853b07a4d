/**
 * `iommu-emu convert` end to end (formats by extension, content or option; lossless both ways;
 * importers; --skip-bad; --map; errors with file:line:column or file:record, exit 2, no output
 * left behind) and `iommu-emu run` on binary traces.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../../src/errors.ts";
import { convertCommand } from "../../src/cli/convert.ts";
import { importers, type Importer } from "../../src/trace/importers/index.ts";
import { parseTraceText } from "../../src/trace/text.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-convert-"));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8" });
const at = (name: string) => join(dir, name);

const canonical = [
  "@100 MRd 00:02.0 addr=0x100040 len=64 ns",
  "@100 MWr 0001:00:03.0 pasid=0x5,priv,exe addr=0x7f0000001000 len=4096 ro ido",
  "@1.5ns map 1 0x800000 0x90000000 0x200000 perm=rx page=2M snp sup global",
  "@120 ATS 00:02.0 pasid=0x1 addr=0x0 nw",
  "@2us unmap 1 0x800000 0x200000",
  "MRd 00:02.0 addr=0xffffffffffffffff len=1 at=translated",
  "inv qi 0x100e2 0x0 0x0 0x0",
  "inv reg iotlb psi did=1 addr=0x100000 am=2 ih",
  "inv pdevtlb 00:04.0 pasid=2 addr=0x0 pages=4 all",
  "inv wait addr=0x7000000 data=2",
  "flush",
].join("\n") + "\n";

test("CLI: text -> binary -> text by extension, identical canonical text; binary -> text -> binary identical bytes", () => {
  writeFileSync(at("a.trace"), canonical);
  let r = cli("convert", at("a.trace"), at("a.itb"));
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, `converted ${at("a.trace")} (text) to ${at("a.itb")} (binary): 4 TLPs, 7 driver events\n`);
  r = cli("convert", at("a.itb"), at("b.txt"));
  assert.is(r.status, 0, r.stderr);
  assert.is(readFileSync(at("b.txt"), "utf8"), canonical);
  r = cli("convert", at("b.txt"), at("c.bin"));
  assert.is(r.status, 0, r.stderr);
  assert.ok(readFileSync(at("a.itb")).equals(readFileSync(at("c.bin"))));
});

test("formats: --from/--to over the extension; content decides an unknown input extension; the output needs one or --to", () => {
  writeFileSync(at("x.dat"), canonical);
  const a = convertCommand(at("x.dat"), at("x.out"), { to: "binary" });
  assert.equal([a.from, a.to, a.tlps, a.driverEvents], ["text", "binary", 4, 7]);
  const b = convertCommand(at("x.out"), at("y.log"), { to: "text" });
  assert.is(b.from, "binary", "by the magic");
  assert.is(readFileSync(at("y.log"), "utf8"), canonical);
  assert.throws(() => convertCommand(at("x.dat"), at("z.out")), (e: unknown) => e instanceof InputError && /cannot tell the output format from the name ".*z\.out"; use --to text or --to binary/.test((e as Error).message));
  assert.throws(() => convertCommand(at("x.dat"), at("z.trace"), { from: "binary" }), (e: unknown) => e instanceof InputError && /not a binary trace/.test((e as Error).message));
  assert.throws(() => convertCommand(at("x.dat"), at("z.trace"), { to: "csv" }), /--to: unknown format "csv"; expected text or binary \(importers only read/);
});

test("unknown --from names what exists: text, binary and the registered importers", () => {
  const r = cli("convert", at("a.trace"), at("q.itb"), "--from", "pcap");
  assert.is(r.status, 2);
  const names = Object.keys(importers).sort();
  assert.is(r.stderr, `iommu-emu: --from: unknown format "pcap"; expected text, binary${names.length ? `, or an importer: ${names.join(", ")}` : " (no importers are registered)"}, or auto\n`);
  assert.not.ok(existsSync(at("q.itb")));
});

test("importers: their events go through the same writer (checked, time order too); --map and --skip-bad are passed on", () => {
  const seen: unknown[] = [];
  // every line used: a summary of n lines
  const summary = (n: number) => ({ importer: "fake", lines: n, used: n, ignored: { unrecognised: 0, noDma: 0, repeat: 0, superseded: 0, blank: 0 }, skipped: 0, events: { MRd: 0, MWr: 0, ATS: 0, map: 0, unmap: 0, flush: 0, inv: 0, attach: 0, detach: 0 }, expected: 0, notes: [] });
  const fake: Importer = {
    name: "fake",
    description: "test importer",
    looksLike: "a fake",
    detect: () => 0,
    import(text, file, opts) {
      seen.push(opts);
      const events = parseTraceText(text.replace(/^X /gm, ""), file);
      return { events, skipped: opts.skipBad ? [{ line: 9, reason: "not a TLP" }] : [], summary: summary(2) };
    },
  };
  importers.fake = fake;
  try {
    writeFileSync(at("in.fake"), "X MRd 00:02.0 addr=0x1000\nX @5 map 1 0x0 0x0 0x1000\n");
    const r = convertCommand(at("in.fake"), at("in.itb"), { from: "fake", map: "addr=Address, rid=Requester", skipBad: true });
    assert.equal([r.tlps, r.driverEvents], [1, 1]);
    assert.equal(seen, [{ skipBad: true, map: { addr: "Address", rid: "Requester" } }]);
    assert.equal(r.skipped, [{ line: 9, reason: `${at("in.fake")}:9: not a TLP` }]);
    // an importer's event the format cannot express is an error at its line
    fake.import = (_text, file) => ({ events: [{ ...(parseTraceText("MRd 00:02.0 addr=0x1000", file)[0] as object), line: 4, len: 0 } as never], skipped: [], summary: summary(2) });
    assert.throws(() => convertCommand(at("in.fake"), at("bad.trace"), { from: "fake" }), (e: unknown) => e instanceof InputError && e.message === `${at("in.fake")}:4: cannot write this TLP as text: cannot format TLP from line 4: len 0 out of range`);
    assert.not.ok(existsSync(at("bad.trace")));
    assert.throws(() => convertCommand(at("a.trace"), at("m.itb"), { map: "addr=Address" }), /--map applies to importers/);
    assert.throws(() => convertCommand(at("in.fake"), at("m.itb"), { from: "fake", map: "addr" }), /--map: expected key=Column pairs/);
  } finally {
    delete importers.fake;
  }
});

test("errors: exit 2 with file:line:column (text) or file:record (binary), and no output file", () => {
  writeFileSync(at("bad.trace"), "MRd 00:02.0 addr=0x1000\n@5 MRd 00:02.0 addr=0x1000\n@4 MRd 00:02.0 addr=0x1000\n");
  let r = cli("convert", at("bad.trace"), at("bad.itb"));
  assert.is(r.status, 2);
  assert.is(r.stderr, `iommu-emu: ${at("bad.trace")}:3:1: timestamp @4 is earlier than @5 on line 2; timestamps must not decrease\n`);
  assert.not.ok(existsSync(at("bad.itb")));
  // a binary file with a bad record
  convertCommand(at("a.trace"), at("ok.itb"));
  const b = readFileSync(at("ok.itb"));
  b.writeUInt32LE(0, 32 + 24); // record 1: LEN 0
  writeFileSync(at("broken.itb"), b);
  r = cli("convert", at("broken.itb"), at("broken.trace"));
  assert.is(r.status, 2);
  assert.is(r.stderr, `iommu-emu: ${at("broken.itb")}:record 1: LEN 0 is out of range (1 to 4096)\n`);
  assert.not.ok(existsSync(at("broken.trace")));
  assert.equal(readdirSync(dir).filter((f) => f.endsWith(".tmp")), []);
  // --skip-bad goes on, says how many, and names them
  r = cli("convert", at("bad.trace"), at("skipped.itb"), "--skip-bad");
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /: 2 TLPs, 0 driver events; skipped 1 bad lines\n$/);
  assert.is(r.stderr, `iommu-emu: skipped: ${at("bad.trace")}:3:1: timestamp @4 is earlier than @5 on line 2; timestamps must not decrease\n`);
});

test("run: binary traces by extension or by their first bytes, the same results as the text trace", () => {
  const scenario = {
    arch: "vtd",
    build: {
      domains: [{ id: 1, type: "ss", mappings: [{ iova: "0x100000", pa: "0x80000000", size: "0x100000" }] }],
      devices: [{ bdf: "00:02.0", domain: 1, paside: false }],
    },
    trace: "t.trace",
  };
  writeFileSync(at("s.json"), JSON.stringify(scenario));
  writeFileSync(at("t.trace"), "@10 MRd 00:02.0 addr=0x100040\n@20 unmap 1 0x100000 0x1000\n@30ns MWr 00:02.0 addr=0x100040\n@31ns MWr 00:02.0 addr=0x101040 ns\n");
  convertCommand(at("t.trace"), at("t.itb"));
  convertCommand(at("t.trace"), at("t-binary.data"), { to: "binary" });
  const rows = (args: string[]) => {
    const out = at(`r${Math.random()}.jsonl`);
    const r = cli("run", at("s.json"), "--results", out, ...args);
    assert.is(r.status, 0, r.stderr);
    return readFileSync(out, "utf8").trim().split("\n").map((l) => {
      const { line: _l, ...rest } = JSON.parse(l);
      return rest;
    });
  };
  const text = rows([]);
  assert.is(text.length, 3);
  assert.equal(rows(["--trace", at("t.itb")]), text);
  assert.equal(rows(["--trace", at("t-binary.data")]), text);
  writeFileSync(at("fake.bin"), "MRd 00:02.0 addr=0x100040\n");
  const r = cli("run", at("s.json"), "--trace", at("fake.bin"));
  assert.is(r.status, 2);
  assert.match(r.stderr, /fake\.bin: not a binary trace/);
});

test.run();
