/**
 * The expected fault of a TLP (`expect=`): its text form (a VT-d fault reason or an SMMUv3 event
 * name; errors), its binary form (version 2: X, SMMU and REASON in FLAGS; version 1 files refuse
 * them; the writer writes version 1 unless a record needs 2), lossless `convert` both ways.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatTlp, parseTraceLine, parseTraceText, SMMU_EVENTS, smmuEventName, type TraceTlp } from "../../src/trace/text.ts";
import { BinaryTraceReader, BinaryTraceWriter, HEADER_BYTES, RecFlag } from "../../src/trace/binary.ts";
import { readEvents, readTraceFile } from "../../src/trace/stream.ts";
import { convertCommand } from "../../src/cli/convert.ts";
import { inputError } from "./importers/util.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-expect-"));
let n = 0;
const tmp = (ext: string) => join(dir, `e${n++}${ext}`);

const parse1 = (line: string) => parseTraceLine(line, "t", 1)!;

test("text: expect=N (decimal or 0x-hex, a VT-d fault reason) or expect=NAME (an SMMUv3 event type); canonical 0x%02x", () => {
  assert.equal(parse1("MRd 00:02.0 addr=0x1000 expect=0x06").expect, { arch: "vtd", code: 6 });
  assert.equal(parse1("MWr 00:02.0 expect=133 addr=0x1000").expect, { arch: "vtd", code: 0x85 });
  assert.equal(parse1("MRd 00:02.0 addr=0x1000 expect=0xff").expect, { arch: "vtd", code: 0xff });
  assert.equal(parse1("MRd 00:02.0 addr=0x1000 expect=F_TRANSLATION").expect, { arch: "smmuv3", code: 0x10 });
  assert.equal(parse1("ATS 00:02.0 addr=0x1000 nw expect=F_BAD_ATS_TREQ").expect, { arch: "smmuv3", code: 0x05 });
  assert.is(parse1("MRd 00:02.0 addr=0x1000").expect, undefined);
  assert.is(formatTlp(parse1("MWr 00:02.0 expect=133 addr=0x1000 len=8 ns")), "MWr 00:02.0 addr=0x1000 len=8 ns expect=0x85");
  assert.is(formatTlp(parse1("ATS 00:02.0 expect=F_BAD_ATS_TREQ addr=0x1000 nw")), "ATS 00:02.0 addr=0x1000 nw expect=F_BAD_ATS_TREQ");
  assert.is(formatTlp(parse1("MRd 00:02.0 addr=0x1000 expect=0")), "MRd 00:02.0 addr=0x1000 expect=0x00");
  // every named event type round-trips
  for (const [name, id] of Object.entries(SMMU_EVENTS)) {
    assert.is(smmuEventName(id), name);
    assert.is(formatTlp(parse1(`MRd 00:02.0 addr=0 expect=${name}`)), `MRd 00:02.0 addr=0x0 expect=${name}`);
  }
});

test("text errors: out of range, unknown names, duplicates; formatTlp refuses what it cannot write", () => {
  const fails = (line: string, message: string) => assert.is(inputError(() => parseTraceLine(line, "t", 1)), `t:1:${message}`);
  fails("MRd 00:02.0 addr=0 expect=0x100", "20: expect=0x100: a VT-d fault reason is 0 to 0xff");
  fails("MRd 00:02.0 addr=0 expect=F_NOPE", '20: expected expect= with a VT-d fault reason (e.g. expect=0x06) or an SMMUv3 event name (e.g. expect=F_TRANSLATION), got "expect=F_NOPE"');
  fails("MRd 00:02.0 addr=0 expect=", '20: expected expect= with a VT-d fault reason (e.g. expect=0x06) or an SMMUv3 event name (e.g. expect=F_TRANSLATION), got "expect="');
  fails("MRd 00:02.0 addr=0 expect=f_translation", '20: expected expect= with a VT-d fault reason (e.g. expect=0x06) or an SMMUv3 event name (e.g. expect=F_TRANSLATION), got "expect=f_translation"');
  fails("MRd 00:02.0 addr=0 expect=6 expect=6", '29: duplicate token "expect="');
  fails("MRd 00:02.0 addr=0 expect=toString", '20: expected expect= with a VT-d fault reason (e.g. expect=0x06) or an SMMUv3 event name (e.g. expect=F_TRANSLATION), got "expect=toString"');
  const t = parse1("MRd 00:02.0 addr=0x1000");
  assert.throws(() => formatTlp({ ...t, expect: { arch: "vtd", code: 256 } }), /cannot format TLP from line 1: VT-d fault reason 256 out of range \(0 to 0xff\)/);
  assert.throws(() => formatTlp({ ...t, expect: { arch: "smmuv3", code: 0x30 } }), /cannot format TLP from line 1: SMMUv3 event type 0x30 has no name/);
});

/** FLAGS of the TLP records of a binary file. */
function flags(file: string): number[] {
  const b = readFileSync(file);
  const out: number[] = [];
  for (let o = HEADER_BYTES; o < b.length; o += 32) out.push(b.readUInt32LE(o + 28));
  return out;
}

test("binary: X (bit 14), SMMU (bit 15) and REASON (23:16) in FLAGS; version 2 only when a record needs it", () => {
  const events = parseTraceText("MRd 00:02.0 addr=0x1000 expect=0x06\nMWr 00:02.0 addr=0x2000 expect=F_PERMISSION\nATS 00:02.0 addr=0x3000\n", "t");
  const f = tmp(".itb");
  const w = new BinaryTraceWriter(f);
  for (const e of events) w.write(e);
  w.commit();
  assert.is(readFileSync(f).readUInt16LE(8), 2);
  assert.equal(flags(f), [0 | RecFlag.EXPECT | (0x06 << 16), 1 | RecFlag.EXPECT | RecFlag.EXPECT_SMMU | (0x13 << 16), 2]);
  assert.equal(flags(f), [0x64000, 0x13c001, 2]);
  assert.equal(readTraceFile(f).map((e) => (e as TraceTlp).expect), [{ arch: "vtd", code: 6 }, { arch: "smmuv3", code: 0x13 }, undefined]);
  // without an expected fault the file is version 1, as before
  const g = tmp(".itb");
  const w1 = new BinaryTraceWriter(g);
  w1.write(events[2]!);
  w1.commit();
  assert.is(readFileSync(g).readUInt16LE(8), 1);
});

test("binary: a version 1 file refuses the bits; version 2 refuses an unnamed SMMUv3 event and REASON without X", () => {
  const f = tmp(".itb");
  const w = new BinaryTraceWriter(f);
  for (const e of parseTraceText("MRd 00:02.0 addr=0x1000 expect=0x06\nMRd 00:02.0 addr=0x2000\n", "t")) w.write(e);
  w.commit();
  const good = readFileSync(f);
  const variant = (edit: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    edit(b);
    const g = tmp(".itb");
    writeFileSync(g, b);
    return g;
  };
  let g = variant((b) => b.writeUInt16LE(1, 8));
  assert.is(inputError(() => readTraceFile(g)), `${g}:record 1: reserved FLAGS bits set (0x64000)`);
  g = variant((b) => b.writeUInt32LE(RecFlag.EXPECT | RecFlag.EXPECT_SMMU | (0x30 << 16), HEADER_BYTES + 28));
  assert.is(inputError(() => readTraceFile(g)), `${g}:record 1: expected SMMUv3 event type 0x30 has no name`);
  g = variant((b) => b.writeUInt32LE(0x06 << 16, HEADER_BYTES + 32 + 28));
  assert.is(inputError(() => readTraceFile(g)), `${g}:record 2: SMMU or REASON set without X (no expected fault)`);
  g = variant((b) => b.writeUInt32LE(RecFlag.EXPECT | (1 << 24), HEADER_BYTES + 28));
  assert.is(inputError(() => readTraceFile(g)), `${g}:record 1: reserved FLAGS bits set (0x1004000)`);
  // skipBad leaves the bad record out
  const r = new BinaryTraceReader(g, { skipBad: true });
  assert.equal([...readEvents(r)].map((e) => e.line), [2]);
  r.close();
});

test("convert: text -> binary -> text keeps every expect= unchanged, binary -> text -> binary the same bytes", () => {
  const text = [
    "@1 MRd 00:02.0 addr=0x1000 expect=0x06",
    "@2 MWr 0001:00:03.0 pasid=0x5,priv addr=0x7f0000001000 len=64 at=translated expect=F_PERMISSION",
    "map 1 0x0 0x0 0x1000",
    "@3ns ATS 00:02.0 addr=0x3000 nw expect=F_BAD_ATS_TREQ",
    "MRd 00:02.0 addr=0x4000",
  ].join("\n") + "\n";
  const a = tmp(".trace");
  writeFileSync(a, text);
  const b = tmp(".itb");
  convertCommand(a, b);
  const c = tmp(".trace");
  convertCommand(b, c);
  assert.is(readFileSync(c, "utf8"), text);
  const d = tmp(".itb");
  convertCommand(c, d);
  assert.ok(readFileSync(b).equals(readFileSync(d)));
});

test.run();
