/**
 * The 4 KiB rule (PCIe Base 2.2.7: a memory request's address and length must not cross a 4 KiB
 * boundary) in every reader and writer: the text parser, its byte-level fast path (the same error
 * at the same line and column), formatTlp, the binary reader (a malformed record, skipped with
 * skipBad) and writer, the importers (through their shared Sink, counted with --skip-bad); and
 * the generators and the bundled example, which never produce such a TLP.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crossesPage, formatTlp, isTlp, parseTraceText, type TraceTlp } from "../../src/trace/text.ts";
import { BinaryTraceReader, BinaryTraceWriter, HEADER_BYTES, RECORD_WORDS } from "../../src/trace/binary.ts";
import { TextTraceReader, parseTlpLineFast, readEvents } from "../../src/trace/stream.ts";
import { generate, workloads } from "../../src/gen/index.ts";
import { inputError, run, tlp } from "./importers/util.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-boundary-"));
let n = 0;
const tmp = (ext: string) => join(dir, `b${n++}${ext}`);

const RULE = (addr: string, len: number) => `malformed TLP: addr=${addr} len=${len} crosses a 4 KiB boundary (PCIe Base 2.2.7 forbids it)`;

test("crossesPage: (addr mod 4096) + len above 4096 crosses; ending exactly at the boundary does not", () => {
  assert.is(crossesPage(0xffcn, 4), undefined);
  assert.is(crossesPage(0x1ffen, 2), undefined);
  assert.is(crossesPage(0x0n, 4096), undefined);
  assert.is(crossesPage(0xffffffffffffffffn, 1), undefined);
  assert.is(crossesPage(0xffen, 8), RULE("0xffe", 8));
  assert.is(crossesPage(0x1001n, 4096), RULE("0x1001", 4096));
  assert.is(crossesPage(0xfffffffffffffffdn, 4), RULE("0xfffffffffffffffd", 4));
});

test("text parser: the line is malformed, at the addr= token; ATS requests carry no length", () => {
  assert.is(inputError(() => parseTraceText("MRd 00:02.0 addr=0xffe len=8", "t.trace")), `t.trace:1:13: ${RULE("0xffe", 8)}`);
  // len 4 by default: 0xffe + 4 crosses
  assert.is(inputError(() => parseTraceText("# x\n@5 MWr 00:02.0 len=2 addr=ffe\n  MWr 00:02.0 ns addr=0xffe", "t.trace")), `t.trace:3:18: ${RULE("0xffe", 4)}`);
  assert.is(inputError(() => parseTraceText("MWr 00:02.0 pasid=1 addr=0x7f0000001001 len=4096 at=translated", "t.trace")), `t.trace:1:21: ${RULE("0x7f0000001001", 4096)}`);
  const ok = parseTraceText("MRd 00:02.0 addr=0xffe len=2\nATS 00:02.0 addr=0xffe\nMWr 00:02.0 addr=0x1000 len=4096", "t.trace");
  assert.equal(ok.map((e) => [(e as TraceTlp).addr, (e as TraceTlp).len]), [[0xffen, 2], [0xffen, 4], [0x1000n, 4096]]);
});

test("formatTlp refuses a crossing TLP (RangeError naming the rule)", () => {
  const t = tlp(7, { op: "MRd", sid: 0x10, addr: 0x1ffdn, len: 4 });
  assert.throws(() => formatTlp(t), (e: unknown) => e instanceof RangeError && e.message === `cannot format TLP from line 7: ${RULE("0x1ffd", 4)}`);
  assert.is(formatTlp({ ...t, len: 3 }), "MRd 00:02.0 addr=0x1ffd len=3");
});

test("fast path: a crossing line goes to the full parser, which gives the same error, line and column", () => {
  const w = new Uint32Array(RECORD_WORDS);
  assert.is(parseTlpLineFast(Buffer.from("MRd 00:02.0 addr=0xffe len=8"), w), "slow");
  assert.is(parseTlpLineFast(Buffer.from("@10 MWr 00:02.0 addr=0x1fff len=2"), w), "slow");
  assert.is(parseTlpLineFast(Buffer.from("MWr 00:02.0 addr=0xfff len=1"), w), "tlp");
  assert.is(parseTlpLineFast(Buffer.from("ATS 00:02.0 addr=0xfff"), w), "tlp");
  const f = tmp(".trace");
  writeFileSync(f, "MRd 00:02.0 addr=0x1000\n@3 MRd 00:02.0 addr=0x1ffc\n\t@4 MWr 00:02.0 addr=0x2ffd len=0x4\nMRd 00:02.0 addr=0x3000\n");
  for (const chunkBytes of [3, 1 << 20]) {
    const r = new TextTraceReader(f, { chunkBytes });
    assert.is(inputError(() => [...readEvents(r)]), `${f}:3:17: ${RULE("0x2ffd", 4)}`);
    r.close();
    const s = new TextTraceReader(f, { chunkBytes, skipBad: true });
    assert.equal([...readEvents(s)].map((e) => e.line), [1, 2, 4]);
    assert.equal(s.skipped, [{ line: 3, reason: `${f}:3:17: ${RULE("0x2ffd", 4)}` }]);
    s.close();
  }
});

test("binary: the writer refuses a crossing TLP; the reader calls such a record malformed (skipBad skips it)", () => {
  const t = tlp(4, { op: "MWr", sid: 0x10, addr: 0x10f00n, len: 256 });
  const w = new BinaryTraceWriter(tmp(".itb"));
  w.write(t); // 0xf00 + 256 ends at the boundary
  assert.throws(() => w.write({ ...t, len: 257 }), (e: unknown) => e instanceof RangeError && e.message === `cannot encode the TLP from line 4: ${RULE("0x10f00", 257)}`);
  w.abort();
  // A valid file, then record 2's LEN changed from 255 to 257 (0xf00 + 256 ends at the boundary, + 257 crosses).
  const f = tmp(".itb");
  const good = new BinaryTraceWriter(f);
  good.write({ ...t, len: 255 });
  good.write({ ...t, addr: 0x20f00n, len: 255 });
  good.write({ ...t, addr: 0x30000n, len: 4096 });
  good.commit();
  const b = readFileSync(f);
  b.writeUInt32LE(257, HEADER_BYTES + 32 + 24);
  writeFileSync(f, b);
  const r = new BinaryTraceReader(f);
  assert.is(inputError(() => [...readEvents(r)]), `${f}:record 2: ${RULE("0x20f00", 257)}`);
  r.close();
  const s = new BinaryTraceReader(f, { skipBad: true });
  assert.equal([...readEvents(s)].map((e) => e.line), [1, 3]);
  assert.equal(s.skipped, [{ line: 2, reason: RULE("0x20f00", 257) }]);
  s.close();
  // the same with a PASID (the reader's slower path) and with a ns time
  const g = tmp(".itb");
  const w2 = new BinaryTraceWriter(g);
  w2.write({ ...t, pasid: 3, len: 16, time: { value: 1.5, unit: "ns" } });
  w2.commit();
  const c = readFileSync(g);
  c.writeUInt32LE(0x10ff8, HEADER_BYTES); // ADDR 0x10f00 -> 0x10ff8
  writeFileSync(g, c);
  const r2 = new BinaryTraceReader(g);
  assert.is(inputError(() => [...readEvents(r2)]), `${g}:record 1: ${RULE("0x10ff8", 16)}`);
  r2.close();
});

test("importers: a crossing TLP is a malformed line (csv len, kernel AER header); --skip-bad counts it", () => {
  const csv = "Address,Requester,Length\n0x1000,00:02.0,64\n0x1fc0,00:02.0,128\n0x2fc0,00:02.0,64\n";
  const map = { addr: "Address", rid: "Requester", len: "Length" };
  assert.is(inputError(() => run("csv", csv, "a.csv", { map })), `a.csv:3: ${RULE("0x1fc0", 128)}`);
  const r = run("csv", csv, "a.csv", { map, skipBad: true });
  assert.equal(r.events, [tlp(2, { op: "MRd", sid: 0x10, addr: 0x1000n, len: 64 }), tlp(4, { op: "MRd", sid: 0x10, addr: 0x2fc0n, len: 64 })]);
  assert.equal(r.skipped, [{ line: 3, reason: RULE("0x1fc0", 128) }]);
  assert.is(r.summary.skipped, 1);
  // AER: MWr32 of 2 DW at DW address 0xffc (0x40000002 ... 0x00000ffc) crosses.
  const aer = "pcieport 0000:00:1c.0: AER:   TLP Header: 0x40000002 0x000000ff 0x00000ffc 0x00000000\n";
  assert.is(aer.indexOf("0x00000ffc"), 64);
  assert.is(inputError(() => run("kernel", aer, "dmesg")), "dmesg:1:65: malformed TLP: the 2-DW request at DW address 0xffc crosses a 4 KiB boundary (PCIe Base 2.2.7 forbids it)");
  assert.equal(run("kernel", aer, "dmesg", { skipBad: true }).summary.skipped, 1);
});

test("importers: a TLP whose source gives no length gets 4 bytes, fewer at a page's end, so it never crosses", () => {
  // QEMU SMMUv3: iova 0x8e043ffe -> 2 bytes; kernel SMMU record InputAddr 0x4fff -> 1 byte.
  const q = run("qemu", "smmuv3_translate_success smmuv3-iommu-memory-region-16-2 sid=0x10 iova=0x8e043ffe translated=0x9e043ffe perm=0x1 stage=1\n", "q.log");
  assert.equal(q.events, [tlp(1, { op: "MRd", sid: 0x10, addr: 0x8e043ffen, len: 2 })]);
  const S = "arm-smmu-v3 smmu0: ";
  const k = run("kernel", `${S}event 0x10 received:\n${S}\t0x0000000800000010\n${S}\t0x0000000800000000\n${S}\t0x0000000000004fff\n${S}\t0x0000000000000000\n`, "dmesg");
  assert.equal(k.events, [tlp(1, { op: "MRd", sid: 0x8, addr: 0x4fffn, len: 1, expect: { arch: "smmuv3", code: 0x10 } })]);
});

test("the generators never produce a crossing TLP (every workload, several seeds and TLP sizes)", () => {
  let checked = 0;
  for (const w of workloads) {
    for (const [seed, extra] of [[1, {}], [2, { tlpSize: 4096 }], [3, { tlpSize: 1 }]] as const) {
      const raw = { tlps: 2000, seed, ...(w.options.some((o) => o.flag === "tlp-size") ? extra : {}) };
      const out = join(mkdtempSync(join(dir, "gen-")), `${w.name}.json`);
      const g = generate(w.name, raw, out);
      // parseTraceText refuses a crossing TLP; check each one explicitly too.
      const tlps = parseTraceText(readFileSync(g.trace, "utf8"), g.trace).filter(isTlp);
      assert.is(tlps.length, 2000, w.name);
      for (const t of tlps) if (t.op !== "ATS") assert.is(crossesPage(t.addr, t.len), undefined, `${w.name} line ${t.line}`);
      checked += tlps.length;
    }
  }
  assert.is(checked, workloads.length * 3 * 2000);
});

test("the bundled example trace has no crossing TLP", () => {
  const f = fileURLToPath(new URL("../../examples/vtd-sm/dma.trace", import.meta.url));
  const tlps = parseTraceText(readFileSync(f, "utf8"), f).filter(isTlp);
  assert.ok(tlps.length > 100);
  assert.ok(tlps.every((t) => crossesPage(t.addr, t.len) === undefined));
});

test.run();
