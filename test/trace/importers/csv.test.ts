/**
 * `csv` importer: an analyzer export through a column mapping; quoted fields, delimiters, op,
 * requester, length, PASID, time and flag spellings; mapping errors naming the column; row errors
 * with line and column; skipBad.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import analyzer from "../../fixtures/importers/analyzer-csv.ts";
import { isTlp } from "../../../src/trace/text.ts";
import { ns, run, summary, throwsInput, tlp, us } from "./util.ts";

const MAP = {
  addr: "Address",
  rid: "Requester ID",
  op: "TLP Type",
  len: "Length",
  pasid: "PASID",
  time: "Time Stamp",
  ns: "Attr NS",
  ro: "Attr RO",
  ido: "Attr IDO",
};

const csv = (text: string, map: Record<string, string>, skipBad = false) => run("csv", text, "a.csv", { map, skipBad });

test("analyzer export: memory requests kept, completions and DLLPs left out", () => {
  const r = csv(analyzer, MAP);
  assert.equal(r.skipped, []);
  assert.equal(r.events, [
    // "0.000 001 500 s" = 1500 ns; "16 DW" = 64 bytes; "0x00000001_23456780"; Attr NS 1.
    tlp(2, { op: "MRd", sid: 0x0100, addr: 0x123456780n, len: 64, ns: true, time: ns(1500) }),
    // "0100" is a 16-bit requester ID (01:00.0); Length 4 (bytes); PASID 0x5; RO yes.
    tlp(4, { op: "MWr", sid: 0x0100, addr: 0xdeadb100n, len: 4, pasid: 5, ro: true, time: ns(1600) }),
    // "Mem Rd"; 02:00.1; "1 DW"; PASID 17 (decimal); IDO 1.
    tlp(5, { op: "MRd", sid: 0x0201, addr: 0xfee00000n, len: 4, pasid: 17, ido: true, time: ns(1700) }),
  ]);
  // no DMA: the header row, the CplD row (3) and the DLLP row (6)
  assert.equal(r.summary, summary("csv", { lines: 6, used: 3, ignored: { noDma: 3 }, events: { MRd: 2, MWr: 1 } }));
});

test("minimal mapping: addr and bdf only; every row an MRd of 4 bytes; semicolon delimiter; case-insensitive column match", () => {
  const r = csv("ADDR;BDF\n1000;0000:03:00.0\n0x2000h;0001:03:1f.7\n", { addr: "addr", bdf: "bdf" });
  assert.equal(r.events, [tlp(2, { op: "MRd", sid: 0x0300, addr: 0x1000n }), tlp(3, { op: "MRd", sid: 0x1_03ff, addr: 0x2000n })]);
});

test("quoted fields with the delimiter and doubled quotes; tab delimiter; lenunit=dw; timeunit for unitless times", () => {
  const r = csv(
    'rid\taddr\top\tlen\tt\tnote\n01:00:0\tfe000000\tMWr64\t2\t1.5\t"a\tb ""quoted"""\n',
    { rid: "rid", addr: "addr", op: "op", len: "len", time: "t", lenunit: "dw", timeunit: "us" },
  );
  assert.equal(r.events, [tlp(2, { op: "MWr", sid: 0x0100, addr: 0xfe000000n, len: 8, time: ns(1500) })]);
  const r2 = csv('Note,Op,Addr,Rid\n"x, ""y""",Mem Wr,10,0x0008\n"",Write,20,8\n  plain  , WR ,30,08\n', { op: "Op", addr: "Addr", rid: "Rid" });
  // "x, ""y""" is one field (x, "y"), so Op, Addr and Rid stay in place.
  assert.equal(r2.events.map((e) => [e.op, e.line]), [["MWr", 2], ["MWr", 3], ["MWr", 4]]);
});

test("time units and flag spellings", () => {
  const r = csv(
    "t,a,r,ns,ro\n" + "2 us,0,00:00.0,yes,RO\n" + "2.5us,0,00:00.0,NS,-\n" + "3000 ns,0,00:00.0,x,\n" + "0.004 ms,0,00:00.0,No Snoop,false\n" + "0.000005 s,0,00:00.0,0,1\n" + "5000001 ps,0,00:00.0,n,y\n",
    { time: "t", addr: "a", rid: "r", ns: "ns", ro: "ro" },
  );
  assert.equal(
    r.events.filter(isTlp).map((e) => [e.time, e.ns, e.ro]),
    [
      [us(2), true, true],
      [ns(2500), true, false],
      [us(3), true, false],
      [us(4), true, false],
      [us(5), false, true],
      [us(5), false, true], // 5000001 ps rounds down to 5000 ns
    ],
  );
});

test("mapping errors: required keys, unknown keys, columns missing from the header, empty export", () => {
  throwsInput(() => csv("a,b\n", { rid: "a" }), "the csv importer needs --map addr=COLUMN (the address column)");
  throwsInput(() => csv("a,b\n", { addr: "a" }), "the csv importer needs --map rid=COLUMN or bdf=COLUMN (the requester column)");
  throwsInput(() => csv("a,b\n", { addr: "a", rid: "b", bdf: "b" }), "give --map rid= or bdf=, not both: both name the requester");
  throwsInput(
    () => csv("a,b\n", { addr: "a", rid: "b", tag: "c" }),
    'unknown --map key "tag" for the csv importer; it takes addr=, rid=, bdf=, op=, len=, pasid=, time=, ns=, ro=, ido=, lenunit=, timeunit=',
  );
  throwsInput(() => csv("Time,Address,Requester\n", { addr: "Adress", rid: "Requester" }), 'a.csv:1: --map addr=Adress: no column "Adress" in the header (columns: "Time", "Address", "Requester")');
  throwsInput(() => csv("\nAddr,Rid,Addr\n", { addr: "Addr", rid: "Rid" }), 'a.csv:2: --map addr=Addr: the header has more than one column "Addr"');
  throwsInput(() => csv("\n\n", { addr: "a", rid: "b" }), "a.csv: the CSV export is empty: a header row naming the columns is required");
  throwsInput(() => csv("a,b\n", { addr: "a", rid: "b", lenunit: "qw" }), "--map lenunit=qw for the csv importer: expected lenunit=bytes or lenunit=dw");
  throwsInput(() => csv("a,b\n", { addr: "a", rid: "b", timeunit: "min" }), "--map timeunit=min for the csv importer: expected s, ms, us, ns or ps");
});

function fails(row: string, where: string, message: string, map: Record<string, string> = { addr: "Address", rid: "Requester", len: "Len", pasid: "PASID", time: "Time", ns: "NS" }): void {
  throwsInput(() => csv("Time,Requester,Address,Len,PASID,NS\n" + row + "\n", map), `a.csv:${where}: ${message}`);
}

test("row errors name the column, with the line and the field's column", () => {
  fails("1 ns,01:00.0,0xZZ,4,,0", "2:14", 'column "Address": expected a hex address, got "0xZZ"');
  fails("1 ns,01:00.0,10000000000000000,4,,0", "2:14", 'column "Address": address 10000000000000000 is beyond 64 bits');
  fails("1 ns,01:20.0,1000,4,,0", "2:6", 'column "Requester": device 0x20 in "01:20.0" is out of range (max 0x1f)');
  fails("1 ns,dev0,1000,4,,0", "2:6", 'column "Requester": expected a requester as BB:DD.F, SSSS:BB:DD.F or a 16-bit hex requester ID, got "dev0"');
  fails("1 ns,01:00.0,1000,0,,0", "2:19", 'column "Len": length 0 is out of range (1 to 4096 bytes)');
  fails("1 ns,01:00.0,1000,1025 DW,,0", "2:19", 'column "Len": length 1025 DW is out of range (1 to 4096 bytes)');
  fails("1 ns,01:00.0,1000,four,,0", "2:19", 'column "Len": expected a length (bytes, or N DW), got "four"');
  fails("1 ns,01:00.0,1000,4,0x100000,0", "2:21", 'column "PASID": PASID 0x100000 is out of range (max 0xfffff)');
  fails("1 ns,01:00.0,1000,4,abc,0", "2:21", 'column "PASID": expected a PASID (decimal or 0x-hex), got "abc"');
  fails("1 ns,01:00.0,1000,4,,maybe", "2:22", 'column "NS": expected a flag (1/0, yes/no, true/false, NS), got "maybe"');
  fails("1.5,01:00.0,1000,4,,0", "2:1", 'column "Time": the time "1.5" has no unit; write one (s, ms, us, ns, ps) or give --map timeunit=');
  fails("1 min,01:00.0,1000,4,,0", "2:1", 'column "Time": unknown time unit "min" in "1 min" (expected s, ms, us, ns or ps)');
  fails("1 ns,01:00.0", "2:13", 'the row has 2 fields; column "Address" (--map addr) is field 3');
  fails('1 ns,"01:00.0,1000,4,,0', "2:6", "unterminated quoted field (quoted fields cannot span lines)");
  fails('1 ns,"01:00.0"x,1000,4,,0', "2:15", 'unexpected "x" after a quoted field');
  throwsInput(() => csv("Time,Requester,Address\n2 ns,01:00.0,1000\n1 ns,01:00.0,2000\n", { addr: "Address", rid: "Requester", time: "Time" }), "a.csv:3:1: timestamp @1ns is earlier than @2ns on line 2; trace times must not decrease");
});

test("skipBad: bad rows counted with their reasons, the rest kept", () => {
  const r = csv("Address,Requester,Op\n1000,01:00.0,MRd\nxyz,01:00.0,MRd\n2000,01:00.0,CplD\n3000,zz,MWr\n4000,01:00.0,MWr\n", { addr: "Address", rid: "Requester", op: "Op" }, true);
  assert.equal(r.events, [tlp(2, { op: "MRd", sid: 0x100, addr: 0x1000n }), tlp(6, { op: "MWr", sid: 0x100, addr: 0x4000n })]);
  assert.equal(r.skipped, [
    { line: 3, reason: 'column "Address": expected a hex address, got "xyz"' },
    { line: 5, reason: 'column "Requester": expected a requester as BB:DD.F, SSSS:BB:DD.F or a 16-bit hex requester ID, got "zz"' },
  ]);
});

test.run();
