/**
 * The table of the architectures' trace commands (src/trace/commands.ts): VT-d's `inv` and SMMUv3's
 * `cmd` are found by their keywords and by each of their binary opcodes, and nothing else is.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commandFor, commandForOp, traceCommands } from "../../src/trace/commands.ts";
import { InvOp } from "../../src/arch/vtd/trace-commands.ts";

test("the table holds VT-d's inv, with opcodes 16..24, and SMMUv3's cmd, with opcode 32", () => {
  assert.equal(traceCommands.map((c) => [c.arch, c.keyword]), [["vtd", "inv"], ["smmuv3", "cmd"]]);
  assert.is(commandForOp(32)?.keyword, "cmd");
  assert.equal([...commandFor("inv")!.ops], [16, 17, 18, 19, 20, 21, 22, 23, 24]);
  assert.equal(InvOp.WAIT, 24);
  for (let op = 16; op <= 24; op++) assert.is(commandForOp(op)?.keyword, "inv", `op ${op}`);
});

test("neutral events and unknown opcodes are no architecture's command", () => {
  for (const k of ["map", "unmap", "flush", "attach", "detach", "MRd"]) assert.is(commandFor(k), undefined, k);
  for (const op of [0, 1, 5, 15, 25, 255]) assert.is(commandForOp(op), undefined, `op ${op}`);
});

test("a command's record round-trips through encode and decode", () => {
  const inv = commandFor("inv")!;
  const base = { line: 3, column: 0 };
  const e = { ...base, op: "inv" as const, inv: { kind: "iotlb" as const, reg: true, gran: "psi" as const, did: 7, addr: 0x20_0000n, am: 9, ih: true } };
  const x = inv.encode(e);
  // gran 2 (psi), reg bit 8, ih bit 9, am 9 in bits 21:16
  assert.equal(x, { op: 18, a: 0x20_0000n, b: 7, c: 0, d: 2 | (1 << 8) | (1 << 9) | (9 << 16) });
  assert.equal(inv.decode({ ...x, ext: [0n, 0n, 0n] }, base), e);
  assert.is(inv.decode({ op: 18, a: 0n, b: 0, c: 0, d: 3, ext: [0n, 0n, 0n] }, base), "inv iotlb with granularity 3");
});

test.run();
