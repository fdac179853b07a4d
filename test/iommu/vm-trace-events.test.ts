/**
 * The VM trace events (README "VMs, PASID allocation and mediated devices"; src/trace/events.ts,
 * text.ts, binary.ts): pasid-alloc, pasid-free, quota, mdev, mdev-remove and bind ... vm= in the
 * text format (fields, canonical form, located errors) and the binary format (OP 10-12 and 14, each
 * record word computed by hand below), both ways.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatEvent } from "../../src/trace/text.ts";
import { decodeDriverEvent, encodeDriverEvent } from "../../src/trace/binary.ts";
import { fails, one, recordsAre } from "./trace-helpers.ts";


test("text: each event parses to its fields and formats back to the same line", () => {
  assert.equal(one("pasid-alloc vm1"), { line: 1, column: 1, op: "pasid-alloc", vm: "vm1" });
  assert.equal(one("@5 pasid-alloc vm1 03:00.1"), { line: 1, column: 4, time: { value: 5, unit: "cycles" }, op: "pasid-alloc", vm: "vm1", sid: 0x301 });
  assert.equal(one("pasid-free vm1 0x10 00:02.0"), { line: 1, column: 1, op: "pasid-free", vm: "vm1", pasid: 16, sid: 0x10 });
  assert.equal(one("quota guest-2 0"), { line: 1, column: 1, op: "quota", vm: "guest-2", quota: 0 });
  assert.equal(one("mdev 03:00.0 vm=vm1"), { line: 1, column: 1, op: "mdev", sid: 0x300, vm: "vm1" });
  assert.equal(one("bind 03:00.0 vfio vm=vm1"), { line: 1, column: 1, op: "bind", sid: 0x300, driver: "vfio", vm: "vm1" });
  assert.equal(one("mdev-remove 03:00.0 vm=vm1"), { line: 1, column: 1, op: "mdev-remove", sid: 0x300, vm: "vm1" });
  for (const l of ["pasid-alloc vm1", "pasid-alloc vm1 03:00.1", "pasid-free vm1 16", "pasid-free vm1 1048575 00:02.0", "quota vm1 1048576", "mdev 03:00.0 vm=a.b:c", "bind 03:00.0 vfio vm=vm1", "@3ns mdev-remove 03:00.0 vm=a.b:c"])
    assert.is(formatEvent(one(l)), l);
});

test("text: errors at the token, naming what was expected", () => {
  fails("pasid-alloc", '12: expected a VM name after "pasid-alloc"');
  fails("pasid-alloc -vm", '13: expected a VM name (1 to 24 letters, digits, _ . : or -, not starting with . : or -), got "-vm"');
  fails("pasid-alloc abcdefghijklmnopqrstuvwxy", '13: expected a VM name (1 to 24 letters, digits, _ . : or -, not starting with . : or -), got "abcdefghijklmnopqrstuvwxy"'); // 25 characters
  fails("pasid-alloc vm1 03:00.0 03:00.1", '25: unexpected token "03:00.1"; pasid-alloc takes VM and an optional BDF');
  fails("pasid-free vm1", "15: expected the PASID to free (decimal or 0x-hex) after the VM");
  fails("pasid-free vm1 1048576", '16: expected a PASID 0..1048575 (decimal or 0x-hex), got "1048576"');
  fails("quota vm1 1048577", '11: expected a quota 0..1048576 (decimal), got "1048577"');
  fails("quota vm1 0x10", '11: expected a quota 0..1048576 (decimal), got "0x10"');
  fails("mdev 03:00.0", "1: mdev BDF needs vm=");
  fails("mdev-remove 03:00.0", "1: mdev-remove BDF needs vm=");
  fails("mdev-remove vm=vm1", '13: expected a BDF like 00:02.0 or 0000:00:02.0, got "vm=vm1"');
  fails("mdev-remove 03:00.0 vm=vm1 all", '28: unknown token "all"; mdev-remove BDF takes vm=');
  fails("bind 03:00.0 kernel:e1000e vm=vm1", '28: vm= is for vfio binds (a VM owns a user-space device), not "kernel:e1000e"');
});

test("binary: the records of each event, word by word, and back", () => {
  // Words: A lo, A hi, time lo, time hi, B, C, D, FLAGS (KIND 4 | OP << 16 | extensions << 24);
  // extension record: Q0 lo, Q0 hi, Q1 lo, Q1 hi, Q2 lo, Q2 hi, 0, FLAGS 5.
  // "vm1" little-endian: 'v' 0x76, 'm' 0x6d, '1' 0x31 -> 0x316d76. "vfio": 0x6f696676.
  const VM1 = [0x316d76, 0, 0, 0, 0, 0, 0, 5];
  const cases: [string, number[]][] = [
    // pasid-alloc: B sid 0x300, D bit 0 (BDF given); OP 10.
    ["pasid-alloc vm1 03:00.0", [0, 0, 0, 0, 0x300, 0, 1, 0x4 | (10 << 16) | (1 << 24), ...VM1]],
    ["pasid-alloc vm1", [0, 0, 0, 0, 0, 0, 0, 0x4 | (10 << 16) | (1 << 24), ...VM1]],
    // pasid-free: C the PASID 5; OP 11.
    ["pasid-free vm1 5 03:00.0", [0, 0, 0, 0, 0x300, 5, 1, 0x4 | (11 << 16) | (1 << 24), ...VM1]],
    // quota: A the quota 7; OP 12.
    ["quota vm1 7", [7, 0, 0, 0, 0, 0, 0, 0x4 | (12 << 16) | (1 << 24), ...VM1]],
    // mdev: B the parent 0x301; OP 14.
    ["mdev 03:00.1 vm=vm1", [0, 0, 0, 0, 0x301, 0, 0, 0x4 | (14 << 16) | (1 << 24), ...VM1]],
    // mdev-remove: OP 14 with D bit 0 (R, remove).
    ["mdev-remove 03:00.1 vm=vm1", [0, 0, 0, 0, 0x301, 0, 1, 0x4 | (14 << 16) | (1 << 24), ...VM1]],
    // bind with vm=: two extension records, DRIVER then VM.
    ["bind 03:00.0 vfio vm=vm1", [0, 0, 0, 0, 0x300, 0, 0, 0x4 | (7 << 16) | (2 << 24), 0x6f696676, 0, 0, 0, 0, 0, 0, 5, ...VM1]],
  ];
  recordsAre(cases);
});

test("binary: a record no text line gives is refused, naming why", () => {
  const w = encodeDriverEvent(one("quota vm1 7"));
  w[0] = 0x100001; // quota 2^20 + 1
  assert.is(decodeDriverEvent(w, 0, 1), "quota 1048577 (max 1048576)");
  const f = encodeDriverEvent(one("pasid-free vm1 5"));
  f[5] = 0x100000; // PASID 2^20: the text form refuses it, so the record is refused
  assert.is(decodeDriverEvent(f, 0, 1), "the pasid-free event is not valid: pasid 1048576 out of range");
  const m = encodeDriverEvent(one("mdev-remove 03:00.1 vm=vm1"));
  m[6] = 3; // R and an unused bit
  assert.is(decodeDriverEvent(m, 0, 1), "the mdev-remove event has non-zero bits in unused fields (mdev-remove 03:00.1 vm=vm1 is encoded otherwise)");
});

test.run();
