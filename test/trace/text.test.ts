import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { InputError } from "../../src/errors.ts";
import { formatBdf, formatEvent, formatTlp, isTlp, parseTraceLine, parseTraceText, type TraceEvent, type TraceTlp } from "../../src/trace/text.ts";
import { arbExpect } from "./arbitraries.ts";

/** parseTraceText of a trace that holds only TLPs. */
function parseTlps(text: string, file: string, firstLine = 1): TraceTlp[] {
  return parseTraceText(text, file, firstLine).filter(isTlp);
}

const FILE = "t.trace";

/** A TLP with every optional field at its default; `over` replaces some. */
function tlp(over: Partial<TraceTlp>): TraceTlp {
  return {
    line: 1,
    op: "MRd",
    sid: 0x10,
    priv: false,
    exe: false,
    addr: 0x1000n,
    len: 4,
    ns: false,
    ro: false,
    ido: false,
    translated: false,
    nw: false,
    ...over,
  };
}

function parse1(line: string): TraceTlp {
  const t = parseTraceLine(line, FILE, 1);
  if (t === null) throw new Error(`no TLP in ${JSON.stringify(line)}`);
  return t;
}

/** Asserts that `fn` throws an InputError whose message is exactly `message`. */
function throwsInput(fn: () => unknown, message: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, InputError);
    assert.is((e as InputError).message, message);
    return;
  }
  assert.unreachable(`expected InputError: ${message}`);
}

/** Parses `line` as line 1 of t.trace and expects `file:1:column: message`. */
function lineFails(line: string, column: number, message: string): void {
  throwsInput(() => parseTraceLine(line, FILE, 1), `${FILE}:1:${column}: ${message}`);
}

// ------------------------------------------------------------------------------------------- parsing

test("minimal MRd: defaults for everything optional", () => {
  const t = parse1("MRd 00:02.0 addr=0x1000");
  assert.equal(t, tlp({ sid: 0x10, addr: 0x1000n }));
  assert.not.ok("time" in t, "no time key when there is no timestamp");
  assert.not.ok("pasid" in t, "no pasid key when there is no pasid=");
});

test("every MRd/MWr token kind", () => {
  assert.equal(
    parse1("@1500 MWr 3a:1f.7 pasid=0x42,priv,exe addr=0xdeadbeef000 len=64 ns ro ido at=translated"),
    tlp({
      time: { value: 1500, unit: "cycles" },
      op: "MWr",
      sid: (0x3a << 8) | (0x1f << 3) | 7,
      pasid: 0x42,
      priv: true,
      exe: true,
      addr: 0xdeadbeef000n,
      len: 64,
      ns: true,
      ro: true,
      ido: true,
      translated: true,
    }),
  );
});

test("ATS with nw", () => {
  assert.equal(
    parse1("ATS 00:03.1 pasid=5 addr=fee00000 nw"),
    tlp({ op: "ATS", sid: 0x19, pasid: 5, addr: 0xfee00000n, nw: true }),
  );
  assert.equal(parse1("ATS 00:03.1 addr=0"), tlp({ op: "ATS", sid: 0x19, addr: 0n }));
});

test("tokens after the BDF in any order", () => {
  const a = parse1("MRd 00:02.0 pasid=1,priv addr=0x10 len=8 ns ro ido at=translated");
  const b = parse1("MRd 00:02.0 at=translated ido len=8 ro addr=0x10 ns pasid=1,priv");
  assert.equal(a, b);
  assert.equal(parse1("ATS 00:02.0 nw addr=1 pasid=2"), parse1("ATS 00:02.0 pasid=2 addr=1 nw"));
});

test("pasid: decimal and hex, flags in either order, 0 and max", () => {
  assert.is(parse1("MRd 00:00.0 pasid=17 addr=0").pasid, 17);
  assert.is(parse1("MRd 00:00.0 pasid=0x11 addr=0").pasid, 17);
  assert.is(parse1("MRd 00:00.0 pasid=0X1f addr=0").pasid, 31);
  assert.is(parse1("MRd 00:00.0 pasid=0 addr=0").pasid, 0);
  assert.is(parse1("MRd 00:00.0 pasid=0xfffff addr=0").pasid, 0xfffff);
  assert.is(parse1("MRd 00:00.0 pasid=1048575 addr=0").pasid, 0xfffff);
  const p = parse1("MRd 00:00.0 pasid=1,priv addr=0");
  assert.equal([p.priv, p.exe], [true, false]);
  const e = parse1("MRd 00:00.0 pasid=1,exe addr=0");
  assert.equal([e.priv, e.exe], [false, true]);
  const pe = parse1("MRd 00:00.0 pasid=1,exe,priv addr=0");
  assert.equal([pe.priv, pe.exe], [true, true]);
});

test("addr: with and without 0x, mixed case, 64-bit max", () => {
  assert.is(parse1("MRd 00:00.0 addr=1000").addr, 0x1000n);
  assert.is(parse1("MRd 00:00.0 addr=0x1000").addr, 0x1000n);
  assert.is(parse1("MRd 00:00.0 addr=0XaBcD").addr, 0xabcdn);
  assert.is(parse1("MRd 00:00.0 addr=0").addr, 0n);
  assert.is(parse1("MRd 00:00.0 addr=0xffffffffffffffff len=1").addr, 0xffffffffffffffffn);
  assert.is(parse1("MRd 00:00.0 addr=00000000fffffffffffffffc").addr, 0xfffffffffffffffcn);
});

test("len: decimal and hex, bounds, default", () => {
  assert.is(parse1("MRd 00:00.0 addr=0").len, 4);
  assert.is(parse1("MRd 00:00.0 addr=0 len=1").len, 1);
  assert.is(parse1("MRd 00:00.0 addr=0 len=4096").len, 4096);
  assert.is(parse1("MRd 00:00.0 addr=0 len=0x1000").len, 4096);
  assert.is(parse1("MWr 00:00.0 addr=0 len=0x40").len, 64);
  assert.is(parse1("MWr 00:00.0 addr=0 len=010").len, 10, "leading zeros are still decimal");
});

test("time: cycles, ns, us, fractional; value is not converted", () => {
  assert.equal(parse1("@0 MRd 00:00.0 addr=0").time, { value: 0, unit: "cycles" });
  assert.equal(parse1("@1500 MRd 00:00.0 addr=0").time, { value: 1500, unit: "cycles" });
  assert.equal(parse1("@12ns MRd 00:00.0 addr=0").time, { value: 12, unit: "ns" });
  assert.equal(parse1("@3.5us MRd 00:00.0 addr=0").time, { value: 3.5, unit: "us" });
  assert.equal(parse1("@0.25ns MRd 00:00.0 addr=0").time, { value: 0.25, unit: "ns" });
  assert.equal(parse1("@9007199254740991 MRd 00:00.0 addr=0").time, { value: 9007199254740991, unit: "cycles" });
});

test("BDF: bus/device/function ranges, upper case, segments", () => {
  assert.is(parse1("MRd 00:00.0 addr=0").sid, 0);
  assert.is(parse1("MRd ff:1f.7 addr=0").sid, 0xffff);
  assert.is(parse1("MRd FF:1F.7 addr=0").sid, 0xffff);
  assert.is(parse1("MRd 01:02.3 addr=0").sid, (1 << 8) | (2 << 3) | 3);
  assert.is(parse1("MRd 0000:01:02.3 addr=0").sid, (1 << 8) | (2 << 3) | 3);
  assert.is(parse1("MRd 0001:00:02.0 addr=0").sid, 0x10010);
  assert.is(parse1("MRd abcd:12:1e.5 addr=0").sid, 0xabcd0000 + ((0x12 << 8) | (0x1e << 3) | 5));
  const top = parse1("MRd ffff:ff:1f.7 addr=0").sid;
  assert.is(top, 0xffffffff, "segments >= 0x8000 do not go negative");
  assert.ok(top > 0);
});

test("line numbers and columns honour leading whitespace, tabs and firstLine", () => {
  assert.is(parseTraceLine("  MRd 00:00.0 addr=0", FILE, 42)?.line, 42);
  const ts = parseTraceText("\n\nMRd 00:00.0 addr=0\n", FILE, 10);
  assert.is(ts.length, 1);
  assert.is(ts[0]!.line, 12);
  assert.equal(parse1("\t@5\tMRd\t00:00.0\taddr=0\t"), tlp({ time: { value: 5, unit: "cycles" }, sid: 0, addr: 0n }));
});

test("comments and blank lines", () => {
  assert.is(parseTraceLine("", FILE, 1), null);
  assert.is(parseTraceLine("   \t ", FILE, 1), null);
  assert.is(parseTraceLine("# just a comment", FILE, 1), null);
  assert.is(parseTraceLine("   # indented comment MRd 00:00.0", FILE, 1), null);
  assert.equal(parse1("MRd 00:00.0 addr=0 # read ns ro junk"), parse1("MRd 00:00.0 addr=0"));
  assert.equal(parse1("MRd 00:00.0 addr=0 ns# no space before the hash"), parse1("MRd 00:00.0 addr=0 ns"));
  const text = [
    "# trace header",
    "",
    "@1 MRd 00:02.0 addr=0x1000   # first",
    "   ",
    "\t# indented comment",
    "@2 MWr 00:02.0 addr=0x2000 len=8",
    "",
  ].join("\n");
  const ts = parseTlps(text, FILE);
  assert.equal(
    ts.map((t) => [t.line, t.op, t.addr]),
    [
      [3, "MRd", 0x1000n],
      [6, "MWr", 0x2000n],
    ],
  );
});

test("CRLF line endings (and a BOM) are accepted", () => {
  const text = "\uFEFF# comment\r\n@1 MRd 00:02.0 addr=0x1000\r\n\r\n@2 ATS 00:02.0 addr=0x2000 nw\r\n";
  const ts = parseTlps(text, FILE);
  assert.equal(
    ts.map((t) => [t.line, t.op, t.addr, t.nw]),
    [
      [2, "MRd", 0x1000n, false],
      [4, "ATS", 0x2000n, true],
    ],
  );
  assert.equal(parse1("MRd 00:02.0 addr=0x1000 ns\r"), parse1("MRd 00:02.0 addr=0x1000 ns"));
  // With a BOM, columns on the first line still count from the first real character.
  throwsInput(() => parseTraceText("\uFEFFMRd 0:2 addr=0", FILE), `${FILE}:1:5: expected a BDF like 00:02.0 or 0000:00:02.0, got "0:2"`);
});

test("empty trace", () => {
  assert.equal(parseTraceText("", FILE), []);
  assert.equal(parseTraceText("\n\n# nothing\n", FILE), []);
});

// -------------------------------------------------------------------------------------------- errors

test("errors: opcode", () => {
  const events = "MRd, MWr, ATS, map, unmap, inv, cmd, flush, attach, detach, replace, bind, unbind, domain-alloc, pasid-alloc, pasid-free, quota, mdev, mdev-remove or enforce-coherency";
  lineFails("mrd 00:00.0 addr=0", 1, `unknown event "mrd"; expected ${events} (case-sensitive)`);
  lineFails("@5   READ 00:00.0 addr=0", 6, `unknown event "READ"; expected ${events} (case-sensitive)`);
  lineFails("00:00.0 MRd addr=0", 1, `unknown event "00:00.0"; expected ${events} (case-sensitive)`);
  lineFails("Map 1 0 0 4096", 1, `unknown event "Map"; expected ${events} (case-sensitive)`);
  lineFails("@5", 3, `expected an event (${events}) after the timestamp`);
  lineFails("  @5ns   # comment", 7, `expected an event (${events}) after the timestamp`);
});

test("errors: parseTraceLine takes only TLPs", () => {
  lineFails("  attach 00:02.0 domain=1", 3, `expected a TLP (MRd, MWr or ATS), got the driver event "attach"`);
  lineFails("@1 detach 00:02.0", 4, `expected a TLP (MRd, MWr or ATS), got the driver event "detach"`);
  lineFails("@10 unmap 1 0x1000 0x1000", 5, `expected a TLP (MRd, MWr or ATS), got the driver event "unmap"`);
});

test("errors: BDF", () => {
  const hint = "expected a BDF like 00:02.0 or 0000:00:02.0";
  lineFails("MRd 0:2 addr=0", 5, `${hint}, got "0:2"`);
  lineFails("MRd 00:02 addr=0", 5, `${hint}, got "00:02"`);
  lineFails("MRd 0:02.0 addr=0", 5, `${hint}, got "0:02.0"`);
  lineFails("MRd 000:00:02.0 addr=0", 5, `${hint}, got "000:00:02.0"`);
  lineFails("MRd 10000:00:02.0 addr=0", 5, `${hint}, got "10000:00:02.0"`);
  lineFails("MRd 100:02.0 addr=0", 5, `${hint}, got "100:02.0"`);
  lineFails("MRd 0g:02.0 addr=0", 5, `${hint}, got "0g:02.0"`);
  lineFails("MRd 00:02.10 addr=0", 5, `${hint}, got "00:02.10"`);
  lineFails("MRd addr=0x1000", 5, `${hint}, got "addr=0x1000"`);
  lineFails("MWr", 4, `${hint} after "MWr"`);
  lineFails("@1 ATS   # no bdf", 7, `${hint} after "ATS"`);
  lineFails("MRd 00:20.0 addr=0", 5, `device 0x20 in BDF "00:20.0" is out of range (max 0x1f)`);
  lineFails("MRd 0000:00:ff.0 addr=0", 5, `device 0xff in BDF "0000:00:ff.0" is out of range (max 0x1f)`);
  lineFails("MRd 00:02.8 addr=0", 5, `function 8 in BDF "00:02.8" is out of range (max 7)`);
  lineFails("MRd 00:02.f addr=0", 5, `function f in BDF "00:02.f" is out of range (max 7)`);
});

test("errors: unknown tokens", () => {
  lineFails("MRd 00:02.0 addr=0 foo", 20, `unknown token "foo"; expected pasid=, addr=, len=, ns, ro, ido, at=translated, expect=`);
  lineFails("MWr 00:02.0 NS addr=0", 13, `unknown token "NS"; expected pasid=, addr=, len=, ns, ro, ido, at=translated, expect=`);
  lineFails("MRd 00:02.0 addr=0 size=4", 20, `unknown token "size=4"; expected pasid=, addr=, len=, ns, ro, ido, at=translated, expect=`);
  lineFails("MRd 00:02.0 addr 0x10", 13, `unknown token "addr"; expected pasid=, addr=, len=, ns, ro, ido, at=translated, expect=`);
  lineFails("ATS 00:02.0 addr=0 bar", 20, `unknown token "bar"; expected pasid=, addr=, nw, expect=`);
  lineFails("MRd 00:02.0 addr=0 priv", 20, `"priv" must follow the pasid, as in pasid=1,priv`);
  lineFails("MRd 00:02.0 exe addr=0", 13, `"exe" must follow the pasid, as in pasid=1,exe`);
  lineFails("MRd 00:02.0 addr=0 @5", 20, `a timestamp must be the first token on the line, got "@5"`);
  lineFails("MRd @5 00:02.0 addr=0", 5, `expected a BDF like 00:02.0 or 0000:00:02.0, got "@5"`);
});

test("errors: flags on the wrong opcode", () => {
  lineFails("ATS 00:02.0 addr=0 ns", 20, `"ns" is not allowed on ATS lines (only on MRd and MWr)`);
  lineFails("ATS 00:02.0 ro addr=0", 13, `"ro" is not allowed on ATS lines (only on MRd and MWr)`);
  lineFails("ATS 00:02.0 addr=0 ido", 20, `"ido" is not allowed on ATS lines (only on MRd and MWr)`);
  lineFails("ATS 00:02.0 addr=0 len=8", 20, `"len=" is not allowed on ATS lines (only on MRd and MWr)`);
  lineFails("ATS 00:02.0 addr=0 at=translated", 20, `"at=translated" is not allowed on ATS lines (only on MRd and MWr)`);
  lineFails("MRd 00:02.0 addr=0 nw", 20, `"nw" is only allowed on ATS lines`);
  lineFails("MWr 00:02.0 nw addr=0", 13, `"nw" is only allowed on ATS lines`);
  lineFails("MRd 00:02.0 addr=0 at=untranslated", 20, `expected at=translated, got "at=untranslated"`);
  lineFails("MRd 00:02.0 addr=0 at=", 20, `expected at=translated, got "at="`);
});

test("errors: duplicates", () => {
  lineFails("MRd 00:02.0 ns addr=0 ns", 23, `duplicate token "ns"`);
  lineFails("MRd 00:02.0 ro ro addr=0", 16, `duplicate token "ro"`);
  lineFails("MRd 00:02.0 ido addr=0 ido", 24, `duplicate token "ido"`);
  lineFails("ATS 00:02.0 nw addr=0 nw", 23, `duplicate token "nw"`);
  lineFails("MRd 00:02.0 addr=0 addr=1", 20, `duplicate token "addr="`);
  lineFails("MRd 00:02.0 pasid=1 addr=0 pasid=1", 28, `duplicate token "pasid="`);
  lineFails("MRd 00:02.0 len=8 addr=0 len=8", 26, `duplicate token "len="`);
  lineFails("MRd 00:02.0 at=translated addr=0 at=translated", 34, `duplicate token "at="`);
  lineFails("MRd 00:02.0 pasid=1,priv,priv addr=0", 13, `duplicate pasid flag "priv"`);
  lineFails("MRd 00:02.0 pasid=1,exe,priv,exe addr=0", 13, `duplicate pasid flag "exe"`);
});

test("errors: addr", () => {
  lineFails("MRd 00:02.0", 1, "addr= is required");
  lineFails("@5 MWr 00:02.0 len=8 ns", 4, "addr= is required");
  lineFails("  ATS 00:02.0 pasid=1 nw", 3, "addr= is required");
  lineFails("MRd 00:02.0 addr=", 13, `expected addr=ADDR with ADDR in hex (0x optional), got "addr="`);
  lineFails("MRd 00:02.0 addr=0x", 13, `expected addr=ADDR with ADDR in hex (0x optional), got "addr=0x"`);
  lineFails("MRd 00:02.0 addr=0x10g0", 13, `expected addr=ADDR with ADDR in hex (0x optional), got "addr=0x10g0"`);
  lineFails("MRd 00:02.0 addr=-1", 13, `expected addr=ADDR with ADDR in hex (0x optional), got "addr=-1"`);
  lineFails("MRd 00:02.0 addr=0x10000000000000000", 13, `addr 0x10000000000000000 is out of range (max 0xffffffffffffffff)`);
  lineFails("MRd 00:02.0 addr=10000000000000000", 13, `addr 10000000000000000 is out of range (max 0xffffffffffffffff)`);
});

test("errors: pasid", () => {
  lineFails("MRd 00:02.0 pasid=0x100000 addr=0", 13, "pasid 0x100000 is out of range (max 0xfffff)");
  lineFails("MRd 00:02.0 pasid=1048576 addr=0", 13, "pasid 1048576 is out of range (max 0xfffff)");
  lineFails("MRd 00:02.0 addr=0 pasid=", 20, `expected pasid=N with N decimal or 0x-hex, got "pasid="`);
  lineFails("MRd 00:02.0 pasid=abc addr=0", 13, `expected pasid=N with N decimal or 0x-hex, got "pasid=abc"`);
  lineFails("MRd 00:02.0 pasid=0x addr=0", 13, `expected pasid=N with N decimal or 0x-hex, got "pasid=0x"`);
  lineFails("MRd 00:02.0 pasid=-1 addr=0", 13, `expected pasid=N with N decimal or 0x-hex, got "pasid=-1"`);
  lineFails("MRd 00:02.0 pasid=,priv addr=0", 13, `expected pasid=N with N decimal or 0x-hex, got "pasid=,priv"`);
  lineFails("MRd 00:02.0 pasid=1,sup addr=0", 13, `unknown pasid flag "sup"; expected priv or exe after the comma`);
  lineFails("MRd 00:02.0 pasid=1,PRIV addr=0", 13, `unknown pasid flag "PRIV"; expected priv or exe after the comma`);
  lineFails("MRd 00:02.0 pasid=1, addr=0", 13, `an empty pasid flag in "pasid=1,"; expected priv or exe after the comma`);
  lineFails("MRd 00:02.0 pasid=1,,priv addr=0", 13, `an empty pasid flag in "pasid=1,,priv"; expected priv or exe after the comma`);
});

test("errors: len", () => {
  lineFails("MRd 00:02.0 addr=0 len=0", 20, "len 0 is out of range (expected 1 to 4096 bytes)");
  lineFails("MRd 00:02.0 addr=0 len=4097", 20, "len 4097 is out of range (expected 1 to 4096 bytes)");
  lineFails("MRd 00:02.0 addr=0 len=0x1001", 20, "len 0x1001 is out of range (expected 1 to 4096 bytes)");
  lineFails("MRd 00:02.0 addr=0 len=", 20, `expected len=BYTES with BYTES decimal or 0x-hex, got "len="`);
  lineFails("MRd 00:02.0 addr=0 len=4k", 20, `expected len=BYTES with BYTES decimal or 0x-hex, got "len=4k"`);
  lineFails("MRd 00:02.0 addr=0 len=-4", 20, `expected len=BYTES with BYTES decimal or 0x-hex, got "len=-4"`);
  lineFails("MRd 00:02.0 addr=0 len=1.5", 20, `expected len=BYTES with BYTES decimal or 0x-hex, got "len=1.5"`);
});

test("errors: timestamp syntax", () => {
  const hint = "expected a timestamp like @1500, @12ns or @3.5us";
  lineFails("@ MRd 00:02.0 addr=0", 1, `${hint}, got "@"`);
  lineFails("@x MRd 00:02.0 addr=0", 1, `${hint}, got "@x"`);
  lineFails("  @12ms MRd 00:02.0 addr=0", 3, `${hint}, got "@12ms"`);
  lineFails("@12NS MRd 00:02.0 addr=0", 1, `${hint}, got "@12NS"`);
  lineFails("@.5us MRd 00:02.0 addr=0", 1, `${hint}, got "@.5us"`);
  lineFails("@5.us MRd 00:02.0 addr=0", 1, `${hint}, got "@5.us"`);
  lineFails("@-5 MRd 00:02.0 addr=0", 1, `${hint}, got "@-5"`);
  lineFails("@0x10 MRd 00:02.0 addr=0", 1, `${hint}, got "@0x10"`);
  lineFails("@1e3ns MRd 00:02.0 addr=0", 1, `${hint}, got "@1e3ns"`);
  lineFails(
    "@1.5 MRd 00:02.0 addr=0",
    1,
    `cycle timestamps must be whole numbers, got "@1.5"; add ns or us for a fractional time`,
  );
  lineFails(
    "@9007199254740992 MRd 00:02.0 addr=0",
    1,
    `timestamp "@9007199254740992" is too large (max @9007199254740991 cycles)`,
  );
  // the message quotes 40 characters of the 403-character token (src/errors.ts quote)
  lineFails(`@${"9".repeat(400)}ns MRd 00:02.0 addr=0`, 1, `timestamp "@${"9".repeat(39)}..." (403 characters) is too large`);
});

test("errors in a file carry the right line number", () => {
  const text = "# header\n@1 MRd 00:02.0 addr=0\n\n@2 MRd 00:02.0 addr=0 bogus\n";
  throwsInput(
    () => parseTraceText(text, "dma.trace"),
    `dma.trace:4:23: unknown token "bogus"; expected pasid=, addr=, len=, ns, ro, ido, at=translated, expect=`,
  );
  throwsInput(() => parseTraceText("\r\nMRd 0:2 addr=0\r\n", "w.trace", 100), `w.trace:101:5: expected a BDF like 00:02.0 or 0000:00:02.0, got "0:2"`);
  const e = (() => {
    try {
      parseTraceText(text, "dma.trace");
    } catch (err) {
      return err as InputError;
    }
    return undefined;
  })();
  assert.ok(e);
  assert.equal([e.file, e.line, e.column], ["dma.trace", 4, 23]);
});

// --------------------------------------------------------------------------------------- time order

test("timestamps: non-decreasing is fine, equal is fine, lines without time are skipped", () => {
  const ts = parseTraceText(
    ["@1 MRd 00:02.0 addr=0", "MRd 00:02.0 addr=0", "@1 MRd 00:02.0 addr=0", "@7 MRd 00:02.0 addr=0"].join("\n"),
    FILE,
  );
  assert.equal(
    ts.map((t) => t.time?.value),
    [1, undefined, 1, 7],
  );
});

test("timestamps: going backwards names both times and lines", () => {
  throwsInput(
    () => parseTraceText("@20 MRd 00:02.0 addr=0\n# c\nMRd 00:02.0 addr=0\n  @10 MRd 00:02.0 addr=0\n", FILE),
    `${FILE}:4:3: timestamp @10 is earlier than @20 on line 1; timestamps must not decrease`,
  );
  throwsInput(
    () => parseTraceText("@5 MRd 00:02.0 addr=0\n@9 MRd 00:02.0 addr=0\n@8 MRd 00:02.0 addr=0", FILE, 50),
    `${FILE}:52:1: timestamp @8 is earlier than @9 on line 51; timestamps must not decrease`,
  );
});

test("timestamps: ns and us compare exactly with each other", () => {
  // 1.5us = 1500ns; 0.1us = 100ns exactly (no floating-point 100.00000000000001).
  const ok = ["@1.5us MRd 00:00.0 addr=0", "@1500ns MRd 00:00.0 addr=0", "@1.5us MRd 00:00.0 addr=0", "@2us MRd 00:00.0 addr=0"];
  assert.is(parseTraceText(ok.join("\n"), FILE).length, 4);
  assert.is(parseTraceText("@0.1us MRd 00:00.0 addr=0\n@100ns MRd 00:00.0 addr=0", FILE).length, 2);
  assert.is(parseTraceText("@0.3us MRd 00:00.0 addr=0\n@300ns MRd 00:00.0 addr=0", FILE).length, 2);
  throwsInput(
    () => parseTraceText("@1.5us MRd 00:00.0 addr=0\n@1499.999ns MRd 00:00.0 addr=0", FILE),
    `${FILE}:2:1: timestamp @1499.999ns is earlier than @1.5us on line 1; timestamps must not decrease`,
  );
  throwsInput(
    () => parseTraceText("@3ns MRd 00:00.0 addr=0\n@0.002us MRd 00:00.0 addr=0", FILE),
    `${FILE}:2:1: timestamp @0.002us is earlier than @3ns on line 1; timestamps must not decrease`,
  );
});

test("timestamps: cycle and ns/us times are ordered separately", () => {
  // Without a clock frequency, cycles cannot be compared with ns/us.
  const ts = parseTraceText("@100 MRd 00:00.0 addr=0\n@5ns MRd 00:00.0 addr=0\n@200 MRd 00:00.0 addr=0\n@6ns MRd 00:00.0 addr=0", FILE);
  assert.is(ts.length, 4);
  throwsInput(
    () => parseTraceText("@100 MRd 00:00.0 addr=0\n@5ns MRd 00:00.0 addr=0\n@99 MRd 00:00.0 addr=0", FILE),
    `${FILE}:3:1: timestamp @99 is earlier than @100 on line 1; timestamps must not decrease`,
  );
});

test("parseTraceLine alone does not check time order", () => {
  assert.ok(parseTraceLine("@1 MRd 00:00.0 addr=0", FILE, 2));
});

// ---------------------------------------------------------------------------------------- formatting

test("formatBdf", () => {
  assert.is(formatBdf(0), "00:00.0");
  assert.is(formatBdf(0x10), "00:02.0");
  assert.is(formatBdf((0xab << 8) | (0x1e << 3) | 5), "ab:1e.5");
  assert.is(formatBdf(0xffff), "ff:1f.7");
  assert.is(formatBdf(0x10010), "0001:00:02.0");
  assert.is(formatBdf(0xffffffff), "ffff:ff:1f.7");
  assert.throws(() => formatBdf(-1), RangeError);
  assert.throws(() => formatBdf(2 ** 32), RangeError);
  assert.throws(() => formatBdf(1.5), RangeError);
});

test("formatTlp: canonical form", () => {
  assert.is(formatTlp(parse1("MRd 00:02.0 addr=1000")), "MRd 00:02.0 addr=0x1000");
  assert.is(
    formatTlp(parse1("@3.5us MWr 0001:0A:1f.7 at=translated ido ro ns len=0x40 addr=ABC pasid=10,exe,priv")),
    "@3.5us MWr 0001:0a:1f.7 pasid=0xa,priv,exe addr=0xabc len=64 ns ro ido at=translated",
  );
  assert.is(formatTlp(parse1("@7 ATS 00:02.0 nw addr=0 pasid=0")), "@7 ATS 00:02.0 pasid=0x0 addr=0x0 nw");
  assert.is(formatTlp(parse1("@12ns MRd 00:02.0 addr=0 len=4")), "@12ns MRd 00:02.0 addr=0x0");
  // Very large or small times are written without exponent notation, which the parser does not accept.
  assert.is(formatTlp(tlp({ time: { value: 1e21, unit: "ns" } })), "@1000000000000000000000ns MRd 00:02.0 addr=0x1000");
  assert.is(formatTlp(tlp({ time: { value: 1.5e-7, unit: "us" } })), "@0.00000015us MRd 00:02.0 addr=0x1000");
});

test("formatTlp rejects TLPs the format cannot express", () => {
  assert.throws(() => formatTlp(tlp({ priv: true })), RangeError);
  assert.throws(() => formatTlp(tlp({ op: "MRd", nw: true })), RangeError);
  assert.throws(() => formatTlp(tlp({ op: "ATS", ns: true })), RangeError);
  assert.throws(() => formatTlp(tlp({ op: "ATS", len: 8 })), RangeError);
  assert.throws(() => formatTlp(tlp({ op: "ATS", translated: true })), RangeError);
  assert.throws(() => formatTlp(tlp({ len: 0 })), RangeError);
  assert.throws(() => formatTlp(tlp({ pasid: 0x100000 })), RangeError);
  assert.throws(() => formatTlp(tlp({ addr: 1n << 64n })), RangeError);
  assert.throws(() => formatTlp(tlp({ time: { value: 1.5, unit: "cycles" } })), RangeError);
  assert.throws(() => formatTlp(tlp({ time: { value: -1, unit: "ns" } })), RangeError);
});

// --------------------------------------------------------------------------------------- round trip

const arbTime = fc.oneof(
  fc.record({ value: fc.maxSafeNat(), unit: fc.constant("cycles" as const) }),
  fc.record({
    // Math.abs turns -0 into 0, which is all the text can express.
    value: fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }).map(Math.abs),
    unit: fc.constantFrom("ns" as const, "us" as const),
  }),
  fc.record({
    value: fc.integer({ min: 0, max: 1_000_000 }).map((n) => n / 1000),
    unit: fc.constantFrom("ns" as const, "us" as const),
  }),
);

const arbTlp: fc.Arbitrary<TraceTlp> = fc
  .record({
    line: fc.integer({ min: 1, max: 1_000_000 }),
    time: fc.option(arbTime, { nil: undefined }),
    op: fc.constantFrom("MRd" as const, "MWr" as const, "ATS" as const),
    // Every 32-bit value is a valid sid: 16-bit segment, 8-bit bus, 8-bit devfn.
    sid: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff })),
    pasid: fc.option(fc.integer({ min: 0, max: 0xfffff }), { nil: undefined }),
    priv: fc.boolean(),
    exe: fc.boolean(),
    addr: fc.oneof(fc.bigInt({ min: 0n, max: 0xffffffffn }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
    len: fc.oneof(fc.constant(4), fc.integer({ min: 1, max: 4096 })),
    ns: fc.boolean(),
    ro: fc.boolean(),
    ido: fc.boolean(),
    translated: fc.boolean(),
    nw: fc.boolean(),
    expect: fc.option(arbExpect, { nil: undefined, freq: 4 }),
  })
  .map(({ time, pasid, expect, ...r }): TraceTlp => {
    const ats = r.op === "ATS";
    // A memory request must not cross a 4 KiB boundary: move it down to end at the page's end.
    const over = ats ? 0n : (r.addr & 0xfffn) + BigInt(r.len) - 0x1000n;
    // fc.record builds null-prototype objects; uvu's deep equality compares constructors.
    if (time !== undefined) time = { value: time.value, unit: time.unit };
    const t: TraceTlp = {
      line: r.line,
      ...(time !== undefined ? { time } : {}),
      op: r.op,
      sid: r.sid,
      ...(pasid !== undefined ? { pasid } : {}),
      priv: pasid !== undefined && r.priv,
      exe: pasid !== undefined && r.exe,
      addr: over > 0n ? r.addr - over : r.addr,
      len: ats ? 4 : r.len,
      ns: !ats && r.ns,
      ro: !ats && r.ro,
      ido: !ats && r.ido,
      translated: !ats && r.translated,
      nw: ats && r.nw,
      ...(expect !== undefined ? { expect: { ...expect } } : {}),
    };
    return t;
  });

test("round trip: parseTraceLine(formatTlp(t)) equals t", () => {
  fc.assert(
    fc.property(arbTlp, (t) => {
      const text = formatTlp(t);
      const back = parseTraceLine(text, FILE, t.line);
      assert.equal(back, t, text);
      assert.is(formatTlp(back!), text, "canonical text is a fixed point");
    }),
    { numRuns: 500 },
  );
});

test("round trip: a whole generated trace", () => {
  fc.assert(
    fc.property(fc.array(arbTlp, { maxLength: 30 }), (tlps) => {
      // Drop times so that the order check does not get in the way, and renumber lines.
      const plain = tlps.map(({ time: _time, ...t }, i): TraceTlp => ({ ...t, line: i + 3 }));
      const text = "# generated\n\n" + plain.map(formatTlp).join("\r\n") + "\n";
      assert.equal(parseTlps(text, FILE), plain);
    }),
    { numRuns: 100 },
  );
});

// Driver events have their own suite (events.test.ts: grammar, errors, round trip); here they
// interleave with generated TLPs and the whole text round-trips.
const eventLines = [
  "map 1 0x100000 0x80000000 0x4000",
  "map 2 0x7f0000000000 0x600000000 0x200000 perm=r page=2M sup global",
  "unmap 1 0x100000 0x4000",
  "flush",
  "inv qi 0x100e2 0x0 0x0 0x0",
  "inv reg iotlb psi did=1 addr=0x100000 am=2 ih",
  "inv pdevtlb 00:04.0 pasid=2 addr=0x0 pages=4 all",
  "inv wait addr=0x7000000 data=2",
];

test("round trip: TLPs and driver events in one trace", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(arbTlp, fc.constantFrom(...eventLines)), { maxLength: 30 }), (items) => {
      const text = items.map((x) => (typeof x === "string" ? x : formatTlp({ ...x, time: undefined } as TraceTlp))).join("\n");
      const events: TraceEvent[] = parseTraceText(text, FILE);
      assert.is(events.length, items.length);
      assert.is(events.map(formatEvent).join("\n"), text, "formatEvent gives back the canonical text");
      assert.equal(events.map((e) => isTlp(e)), items.map((x) => typeof x !== "string"));
    }),
    { numRuns: 100 },
  );
});

test.run();
