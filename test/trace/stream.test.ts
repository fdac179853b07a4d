/**
 * The streaming text reader: the same events and the same errors (file:line:column) as parsing the
 * whole file with parseTraceText, whatever the chunk size; the byte-level fast path changes no
 * outcome (fuzzed against the full parser alone); skipBad; choosing text or binary by content.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError } from "../../src/errors.ts";
import { formatEvent, formatTlp, parseTraceText, type TraceEvent } from "../../src/trace/text.ts";
import { BinaryTraceWriter, encodeTlpRecord, RECORD_WORDS } from "../../src/trace/binary.ts";
import { TextTraceReader, openTraceReader, parseTlpLineFast, readEvents, readTraceFile } from "../../src/trace/stream.ts";
import { arbTlp, arbTrace } from "./arbitraries.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-stream-"));
let fileNo = 0;
function file(text: string | Buffer, ext = ".trace"): string {
  const f = join(dir, `f${fileNo++}${ext}`);
  writeFileSync(f, text);
  return f;
}

/** Events and errors of a reader, as comparable values. */
function readAll(f: string, opts: { chunkBytes?: number; slowOnly?: boolean; skipBad?: boolean } = {}): { events: TraceEvent[]; skipped: unknown[]; error?: string } {
  const r = new TextTraceReader(f, opts);
  const events: TraceEvent[] = [];
  try {
    for (const e of readEvents(r)) events.push(e);
    return { events, skipped: r.skipped };
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return { events, skipped: r.skipped, error: e.message };
  } finally {
    r.close();
  }
}

function parsed(text: string, f: string): { events: TraceEvent[]; error?: string } {
  try {
    return { events: parseTraceText(text, f) };
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return { events: [], error: e.message };
  }
}

test("the fast path parses every canonical TLP line, to exactly the full parser's record", () => {
  const fast = new Uint32Array(RECORD_WORDS);
  const slow = new Uint32Array(RECORD_WORDS);
  fc.assert(
    fc.property(
      arbTlp,
      fc.option(fc.oneof(fc.record({ value: fc.integer({ min: 0, max: 1e15 - 1 }), unit: fc.constant("cycles" as const) }), fc.record({ value: fc.integer({ min: 0, max: 1e9 }).map((n) => n / 1000), unit: fc.constantFrom("ns" as const, "us" as const) })), { nil: undefined }),
      ({ expect: _expect, ...t }, time) => {
        // expect= lines go to the full parser (they are rare: faults a log recorded)
        const tlp = time === undefined ? t : { ...t, time: { value: time.value, unit: time.unit } };
        const line = formatTlp(tlp);
        assert.is(parseTlpLineFast(Buffer.from(line), fast), "tlp", line);
        encodeTlpRecord(slow, 0, parseTraceText(line, "t")[0] as never);
        assert.equal([...fast], [...slow], line);
      },
    ),
    { numRuns: 2000 },
  );
  assert.is(parseTlpLineFast(Buffer.from("   # comment"), fast), "blank");
  assert.is(parseTlpLineFast(Buffer.from("\t\r"), fast), "blank");
  assert.is(parseTlpLineFast(Buffer.from("map 1 0x0 0x0 0x1000"), fast), "slow");
  assert.is(parseTlpLineFast(Buffer.from("MRd 00:02.0 addr=0x1000 len=0"), fast), "slow");
  assert.is(parseTlpLineFast(Buffer.from("MRd\u00a000:02.0 addr=0x1000"), fast), "slow");
});

// Pieces of TLP lines, valid and not, for the fuzz below.
const times = ["", "", "@0 ", "@123 ", "@12ns ", "@3.5us ", "@0.001ns ", "@1. ", "@.5 ", "@1e3 ", "@12ms ", "@1.5 ", "@99999999999999999 ", "@000000000000000012 ", "@5#x ", "@7", "@2.50us\t"];
const ops = ["MRd", "MRd", "MWr", "ATS", "mrd", "MRD", "map", "inv", "flush", "attach", "MRdx", ""];
const bdfs = ["00:02.0", "0000:00:02.0", "ff:1f.7", "FF:1F.7", "00:20.0", "00:02.8", "0:02.0", "abcd:ef:1f.7", "00:02.0x", "00-02.0", "00:02.0#c", ""];
const opts = [
  "addr=0x1000", "addr=1000", "addr=0X1F", "addr=0x", "addr=", "addr=0xffffffffffffffff", "addr=0x10000000000000000", "addr=00000000000000000000001", "addr=0xg", "addr=0x1000#c",
  "len=64", "len=0", "len=4096", "len=4097", "len=0x40", "len=0X1000", "len=0x", "len=", "len=007",
  "pasid=5", "pasid=0x5", "pasid=1048575", "pasid=0xfffff", "pasid=1048576", "pasid=5,priv", "pasid=5,exe,priv", "pasid=5,priv,priv", "pasid=5,", "pasid=,priv", "pasid=0x", "pasid=5,prive",
  "ns", "ro", "ido", "nw", "at=translated", "at=untranslated", "at=translatedx", "priv", "exe", "NS", "ns=1", "x", "#comment", "@5",
  // pages crossed (PCIe Base 2.2.7) or not; expected faults (always the full parser)
  "addr=0xffe", "addr=0x1fff", "addr=0xff0", "len=17", "len=2", "expect=0x06", "expect=F_TRANSLATION", "expect=0x100", "expect=",
];
const seps = [" ", " ", " ", "  ", "\t", "\r", "\v", "\u00a0", "\f"];
const arbLine = fc
  .record({
    lead: fc.constantFrom("", "", " ", "\t", "\u00a0"),
    time: fc.constantFrom(...times),
    op: fc.constantFrom(...ops),
    s1: fc.constantFrom(...seps),
    bdf: fc.constantFrom(...bdfs),
    rest: fc.array(fc.tuple(fc.constantFrom(...seps), fc.constantFrom(...opts)), { maxLength: 6 }),
    tail: fc.constantFrom("", "", " ", " # c", "\r", "é"),
  })
  .map((l) => l.lead + l.time + l.op + l.s1 + l.bdf + l.rest.map(([s, o]) => s + o).join("") + l.tail);

/** A canonical TLP line (with or without a time) with 0 to 2 small defects: mostly one defect at a time. */
const pool = [...times.map((t) => t.trim()), ...ops, ...bdfs, "00:1f.0", "00:ff.0", "1:02.0", "00:02.00", ...opts].filter((t) => t !== "");
const chars = "0123456789abcdefABCDEFxX.:,=@#gG-";
const edges: Record<string, string[]> = {
  time: ["@9007199254740991", "@9007199254740992", "@99999999999999999", "@999999999999999", "@1000000000000000", "@0.5", "@1.0ns", "@999999999999999ns", "@9999999999999999ns", "@1.00000000000001us", "@0000000000000001", "@0.000000000000001us"],
  "pasid=": ["pasid=0", "pasid=1048575", "pasid=1048576", "pasid=0xfffff", "pasid=0x100000", "pasid=0x1fffff", "pasid=00000001", "pasid=0x000000000000001", "pasid=2097151", "pasid=0xfffff,exe"],
  "len=": ["len=0", "len=1", "len=4096", "len=4097", "len=0x1000", "len=0x1001", "len=0x0", "len=00004", "len=8191"],
  "addr=": ["addr=0xffffffffffffffff", "addr=0x10000000000000000", "addr=0x0000000000000000ffff", "addr=00000000000000000000", "addr=0x1ffffffffffffffff", "addr=ffffffffffffffff", "addr=fffffffffffffffff", "addr=0xffc", "addr=0xffd", "addr=0x7ffff001"],
  bdf: ["ff:1f.7", "ff:20.0", "ff:1f.8", "ffff:ff:1f.7", "00:00.0", "ff:3f.7", "fffff:ff:1f.7"],
};
const arbNearLine = fc
  .record({
    tlp: arbTlp,
    time: fc.option(fc.oneof(fc.integer({ min: 0, max: 1e6 }).map((v) => ({ value: v, unit: "cycles" as const })), fc.integer({ min: 0, max: 1e6 }).map((v) => ({ value: v / 100, unit: "ns" as const }))), { nil: undefined }),
    mutations: fc.array(
      fc.record({ kind: fc.constantFrom("replace", "insert", "dup", "char", "drop", "edge", "edge"), at: fc.nat(), token: fc.constantFrom(...pool), pos: fc.nat(), ch: fc.constantFrom(...chars), edge: fc.nat() }),
      { maxLength: 2 },
    ),
    sep: fc.constantFrom(" ", " ", "\t", "  ", " \r "),
  })
  .map(({ tlp, time, mutations, sep }) => {
    const toks = formatTlp(time ? { ...tlp, time } : tlp).split(" ");
    for (const m of mutations) {
      const i = m.at % (toks.length + (m.kind === "insert" ? 1 : 0));
      if (m.kind === "replace") toks[i] = m.token;
      else if (m.kind === "insert") toks.splice(i, 0, m.token);
      else if (m.kind === "dup") toks.splice(i, 0, toks[i]!);
      else if (m.kind === "drop") toks.splice(i, 1);
      else if (m.kind === "edge") {
        // the token's value replaced by a boundary value of its kind
        const t = toks[i]!;
        const kind = t.startsWith("@") ? "time" : /^[0-9a-f]{2}:/.test(t) || /^[0-9a-f]{4}:/.test(t) ? "bdf" : t.slice(0, t.indexOf("=") + 1);
        const list = edges[kind];
        if (list) toks[i] = list[m.edge % list.length]!;
      }
      else {
        const t = toks[i]!;
        const p = m.pos % t.length;
        toks[i] = t.slice(0, p) + m.ch + t.slice(p + 1);
      }
    }
    return toks.join(sep);
  });

test("fuzz: the fast path never changes an event, an error or a skipped line (against the full parser alone)", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(arbLine, arbNearLine, arbNearLine, fc.constantFrom("map 1 0x0 0x0 0x1000", "@1ns flush", "", "# x")), { maxLength: 30 }), fc.constantFrom("\n", "\r\n"), (lines, eol) => {
      const f = file(lines.join(eol));
      for (const skipBad of [false, true]) {
        const fast = readAll(f, { skipBad });
        const slow = readAll(f, { skipBad, slowOnly: true });
        assert.equal(fast, slow, lines.join("\n"));
      }
    }),
    { numRuns: 1500 },
  );
});

test("the full parser alone reads a file exactly as parseTraceText reads it (events and first error)", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(arbLine, fc.constantFrom("map 1 0x0 0x0 0x1000", "@1ns flush", "", "# x")), { maxLength: 20 }), (lines) => {
      const text = lines.join("\n");
      const f = file(text);
      const r = readAll(f, { slowOnly: true });
      const p = parsed(text, f);
      assert.is(r.error, p.error, text);
      if (p.error === undefined) assert.equal(r.events, p.events);
    }),
    { numRuns: 300 },
  );
});

test("valid traces with comments, blank lines, CRLF and a BOM: the same events as parseTraceText, any chunk size", () => {
  fc.assert(
    fc.property(arbTrace({ maxLength: 30, eventShare: 2 }), fc.constantFrom("\n", "\r\n"), fc.boolean(), fc.integer({ min: 1, max: 40 }), (events, eol, bom, chunk) => {
      const lines = ["# a trace", ...events.map((e) => formatEvent(e) + (e.line % 3 === 0 ? "  # note" : "")), "", "   "];
      const text = (bom ? "\uFEFF" : "") + lines.join(eol);
      const f = file(text);
      const want = parseTraceText(text, f);
      assert.equal(readAll(f, { chunkBytes: chunk }).events, want);
      assert.equal(readAll(f).events, want);
    }),
    { numRuns: 200 },
  );
});

test("errors name file:line:column as parseTraceText does, fast path or not", () => {
  const cases = [
    "MRd 00:02.0 addr=0x1000\nMRd 00:02.0 addr=0x1000 len=0",
    "@10 MRd 00:02.0 addr=0x1000\n\n@9 MWr 00:02.0 addr=0x2000",
    "@10ns MRd 00:02.0 addr=0x1000\n@0.009us MWr 00:02.0 addr=0x2000",
    "@1us MRd 00:02.0 addr=0x1000\n@999ns MWr 00:02.0 addr=0x2000",
    "MRd 00:02.0 addr=0x1000 addr=0x2000",
    "ATS 00:02.0 addr=0x1000 len=4",
    "MRd 00:02.0 addr=0x1000 nw",
    "map 1 0x1000 0x2000",
    "@5 map 1 0x1000 0x2000 0x1000\n@4 unmap 1 0x1000 0x1000",
    "MRd 00:02.0",
    "\uFEFFMRd 00:02.8 addr=0",
    "  \t MWr  00:02.0  addr=0x10  pasid=1,priv,priv",
    "MRd 00:02.0 addr=0x1000\n\t@7  MWr 0001:00:02.0 pasid=3 len=0x10 addr=0x1ff8 ns",
    "MRd 00:02.0 addr=0x1000 expect=0x100",
  ];
  for (const text of cases) {
    const f = file(text);
    const want = parsed(text, f).error;
    assert.ok(want !== undefined, text);
    assert.is(readAll(f).error, want, text);
    assert.is(readAll(f, { chunkBytes: 3 }).error, want, text);
  }
});

test("skipBad: bad lines are left out and listed with their positions; the rest is read", () => {
  const f = file("MRd 00:02.0 addr=0x1000\nMRd 00:02.0 adr=0x1000\n@10 MWr 00:02.0 addr=0x2000\n@5 MWr 00:02.0 addr=0x3000\nmap 1 0x1001 0x0 0x1000\nflush\n");
  const r = readAll(f, { skipBad: true });
  assert.equal(r.events.map((e) => e.line), [1, 3, 6]);
  assert.equal(
    (r.skipped as { line: number; reason: string }[]).map((s) => s.line),
    [2, 4, 5],
  );
  assert.is((r.skipped as { reason: string }[])[1]!.reason, `${f}:4:1: timestamp @5 is earlier than @10 on line 3; timestamps must not decrease`);
});

test("a line longer than the read buffer, and a last line without a newline", () => {
  const long = "MRd 00:02.0 addr=0x1000" + " ".repeat(5000) + "len=8";
  const f = file(`${long}\nMWr 00:02.0 addr=0x2000`);
  const r = readAll(f, { chunkBytes: 64 });
  assert.equal(r.events.map((e) => [e.line, e.op]), [[1, "MRd"], [2, "MWr"]]);
});

test("openTraceReader: binary by the magic whatever the name, text otherwise; .bin/.itb must be binary", () => {
  const text = "MRd 00:02.0 addr=0x1000\n";
  const b = join(dir, "named-like-text.trace");
  const w = new BinaryTraceWriter(b);
  w.write(parseTraceText(text, "t")[0]!);
  w.commit();
  const r1 = openTraceReader(b);
  assert.is(r1.format, "binary");
  r1.close();
  const t = file(text, ".dat");
  const r2 = openTraceReader(t);
  assert.is(r2.format, "text");
  r2.close();
  const fake = file(text, ".itb");
  assert.throws(() => openTraceReader(fake), (e: unknown) => e instanceof InputError && /not a binary trace/.test((e as Error).message));
  assert.equal(readTraceFile(b), readTraceFile(t), "line 1 and record 1");
});

test.run();
