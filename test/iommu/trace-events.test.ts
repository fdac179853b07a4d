/**
 * The driver side's trace events (README "Driver side"; src/trace/events.ts, text.ts, binary.ts):
 * bind, unbind, domain-alloc and replace in the text format (canonical form, located errors) and
 * the binary format (OP 6-9, each record word computed by hand below), both ways.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatEvent } from "../../src/trace/text.ts";
import { decodeDriverEvent, encodeDriverEvent } from "../../src/trace/binary.ts";
import { fails, one, recordsAre } from "./trace-helpers.ts";


test("text: each event parses to its fields and formats back to the same line", () => {
  assert.equal(one("bind 03:00.1 kernel:e1000e"), { line: 1, column: 1, op: "bind", sid: 0x301, driver: "kernel:e1000e" });
  assert.equal(one("@7 unbind 03:00.1"), { line: 1, column: 4, time: { value: 7, unit: "cycles" }, op: "unbind", sid: 0x301 });
  assert.equal(one("domain-alloc 6 nested parent=5"), { line: 1, column: 1, op: "domain-alloc", domain: 6, kind: "nested", parent: 5 });
  assert.equal(one("replace 00:02.0 pasid=3 domain=9"), { line: 1, column: 1, op: "replace", sid: 0x10, pasid: 3, domain: 9 });
  for (const l of ["bind 03:00.1 vfio", "bind 03:00.1 kernel:e1000e", "unbind 03:00.1", "domain-alloc 5 paging format=fs", "domain-alloc 6 nested parent=5", "domain-alloc 7 identity", "domain-alloc 8 blocking", "domain-alloc 9 paging format=s2 invalidation=lazy", "domain-alloc 10 nested parent=9 invalidation=strict", "@3 flush 9", "flush", "replace 00:02.0 domain=2", "@12ns replace 00:02.0 pasid=1 domain=2"])
    assert.is(formatEvent(one(l)), l);
  // Options in any order: the canonical form puts format= before parent= and pasid= before domain=.
  assert.is(formatEvent(one("replace 00:02.0 domain=2 pasid=1")), "replace 00:02.0 pasid=1 domain=2");
  assert.is(formatEvent(one("domain-alloc 5 paging invalidation=lazy format=fs")), "domain-alloc 5 paging format=fs invalidation=lazy");
  assert.equal(one("domain-alloc 5 paging invalidation=lazy"), { line: 1, column: 1, op: "domain-alloc", domain: 5, kind: "paging", invalidation: "lazy" });
  assert.equal(one("flush 5"), { line: 1, column: 1, op: "flush", domain: 5 });
});

test("text: errors at the token, naming what was expected", () => {
  fails("bind 03:00.0 foo", '14: expected a driver: vfio or kernel:NAME (NAME of letters, digits, _ - ., at most 17 characters), got "foo"');
  fails("bind 03:00.0 kernel:abcdefghijklmnopqr", '14: expected a driver: vfio or kernel:NAME (NAME of letters, digits, _ - ., at most 17 characters), got "kernel:abcdefghijklmnopqr"');
  fails("domain-alloc 5 nested", "16: a nested domain needs parent=P, the paging domain it nests over");
  fails("domain-alloc 5 identity format=fs", "25: format= is for paging domains, not identity ones");
  fails("domain-alloc 5 paging parent=1", "23: parent= is for nested domains, not paging ones");
  fails("domain-alloc 5 paging format=zz", '23: expected format=ss or format=fs (VT-d), format=s1 or format=s2 (SMMUv3), got "format=zz"');
  fails("domain-alloc 5 shared", '16: expected a domain kind, paging, nested, identity or blocking, got "shared"');
  fails("domain-alloc 5 paging invalidation=eager", '23: expected invalidation=strict or invalidation=lazy, got "invalidation=eager"');
  fails("domain-alloc 5 identity invalidation=lazy", "25: invalidation= is for paging and nested domains, not identity ones (they have no mappings to unmap)");
  fails("domain-alloc 5 blocking invalidation=strict", "25: invalidation= is for paging and nested domains, not blocking ones (they have no mappings to unmap)");
  fails("flush x", `7: expected a domain id (decimal, as in the scenario's build.domains), got "x"`);
  fails("replace 00:02.0", "1: replace BDF needs domain=");
  fails("unbind 03:00.0 now", '16: unexpected token "now"; unbind BDF takes nothing more');
});

test("binary: the records of each event, word by word, and back", () => {
  // Words: A lo, A hi, time lo, time hi, B, C, D, FLAGS (KIND 4 | OP << 16 | extensions << 24).
  const cases: [string, number[]][] = [
    // bind: B sid 0x301; one extension record: "kernel:e1000e" little-endian = "kernel:e" 0x653a6c656e72656b, "1000e" 0x6530303031.
    ["bind 03:00.1 kernel:e1000e", [0, 0, 0, 0, 0x301, 0, 0, 0x4 | (7 << 16) | (1 << 24), 0x6e72656b, 0x653a6c65, 0x30303031, 0x65, 0, 0, 0, 5]],
    ["unbind 03:00.1", [0, 0, 0, 0, 0x301, 0, 0, 0x4 | (8 << 16)]],
    // domain-alloc: A domain 6, B kind 1 (nested), C parent 5, D bit 0 (parent given).
    ["domain-alloc 6 nested parent=5", [6, 0, 0, 0, 1, 5, 1, 0x4 | (9 << 16)]],
    // format fs is index 1: D bits 7:4 = 2.
    ["domain-alloc 5 paging format=fs", [5, 0, 0, 0, 0, 0, 0x20, 0x4 | (9 << 16)]],
    // invalidation lazy is index 1: D bits 9:8 = 2 (0x200); strict: 1 (0x100) beside format s1 (index 2: 0x30).
    ["domain-alloc 5 paging invalidation=lazy", [5, 0, 0, 0, 0, 0, 0x200, 0x4 | (9 << 16)]],
    ["domain-alloc 5 paging format=s1 invalidation=strict", [5, 0, 0, 0, 0, 0, 0x130, 0x4 | (9 << 16)]],
    // flush D: A the domain 7, D bit 0 (domain given); flush without one: every operand 0.
    ["flush 7", [7, 0, 0, 0, 0, 0, 1, 0x4 | (3 << 16)]],
    ["flush", [0, 0, 0, 0, 0, 0, 0, 0x4 | (3 << 16)]],
    // replace: A domain 9, B sid 0x10, C pasid 3, D bit 0 (pasid given).
    ["replace 00:02.0 pasid=3 domain=9", [9, 0, 0, 0, 0x10, 3, 1, 0x4 | (6 << 16)]],
  ];
  recordsAre(cases);
});

test("binary: a record no text line gives is refused, naming why", () => {
  const w = encodeDriverEvent(one("domain-alloc 6 nested parent=5"));
  w[4] = 7; // kind 7
  assert.is(decodeDriverEvent(w, 0, 1), "domain-alloc with kind 7 (0 paging, 1 nested, 2 identity, 3 blocking)");
  w[4] = 1;
  w[6] = 1 | (9 << 4); // format 9
  assert.is(decodeDriverEvent(w, 0, 1), "domain-alloc with format 9 (1 ss, 2 fs, 3 s1, 4 s2)");
  w[6] = 1 | (3 << 8); // invalidation 3
  assert.is(decodeDriverEvent(w, 0, 1), "domain-alloc with invalidation 3 (1 strict, 2 lazy)");
  w[4] = 3; // a blocking domain with a policy: no text line says that
  w[5] = 0;
  w[6] = 2 << 8;
  assert.is(decodeDriverEvent(w, 0, 1), "the domain-alloc event is not valid: invalidation= is strict or lazy, for paging and nested domains");
  const f = encodeDriverEvent(one("flush"));
  f[0] = 7; // a domain without the bit that says one is given
  assert.is(decodeDriverEvent(f, 0, 1), "the flush event has non-zero bits in unused fields (flush is encoded otherwise)");
  f[6] = 1;
  f[0] = 0x10000;
  assert.is(decodeDriverEvent(f, 0, 1), "flush of domain 65536 (max 65535)");
});

test.run();
