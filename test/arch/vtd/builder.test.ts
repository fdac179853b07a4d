/**
 * The builder's table walks (src/arch/vtd/builder.ts): unmap reads only the tables that exist, so
 * its cost follows what is mapped (counted in table entries read, not timed); map checks the whole
 * range before writing anything and writes runs of leaves; large pages are cleared whole; ranges
 * outside the format are refused before any entry is touched. The page allocator never hands out
 * a page the scenario's raw memory wrote, and says which key wrote it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../../src/platform.ts";
import { AllocationError, PageAllocator } from "../../../src/arch/vtd/builder.ts";
import { InputError } from "../../../src/errors.ts";

const K4 = 1n << 12n, M2 = 1n << 21n;
const R_W = 3n;

function ss() {
  const p = new VtdPlatform({ build: "debug", caches: "off", timing: false });
  return { p, b: p.builder, d: p.builder.createDomain({ id: 1, type: "ss" }) };
}

const throws = (fn: () => unknown, message: string) => {
  try {
    fn();
  } catch (e) {
    assert.is((e as Error).message, message);
    return;
  }
  assert.unreachable(message);
};

function allocationError(fn: () => unknown): AllocationError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, AllocationError);
    return e as AllocationError;
  }
  throw new Error("expected an AllocationError");
}

test("unmap of the whole 48-bit space of a sparse domain reads only the tables that exist", () => {
  const { b, d } = ss();
  b.map(d, 0x1000n, 0x80001000n, K4);
  b.map(d, 0x7fff00000000n, 0x90000000n, K4);
  const r = b.unmapRange(d, 0n, 1n << 48n);
  // the root's 512 entries; under each of its 2 present ones a PDPT, a PD and a PT of 512 each
  assert.is(r.visited, 512 + 2 * 3 * 512);
  assert.is(r.cleared, 2);
  assert.is(r.start, 0x1000n);
  assert.is(r.end, 0x7fff00000fffn);
  assert.is(b.findLeaf(d, 0x1000n).slot, undefined);
  // again, with nothing mapped but the tables kept: the same walk, nothing cleared
  const again = b.unmapRange(d, 0n, 1n << 48n);
  assert.equal([again.visited, again.cleared, again.start], [3584, 0, undefined]);
  // a one-page unmap reads one entry per level
  b.map(d, 0x1000n, 0x80001000n, K4);
  assert.equal(b.unmapRange(d, 0x1000n, K4), { cleared: 1, start: 0x1000n, end: 0x1fffn, visited: 4 });
});

test("first stage: the upper canonical half is walked by its table indices and reported in its own addresses", () => {
  const p = new VtdPlatform({ build: "debug", caches: "off", timing: false });
  const d = p.builder.createDomain({ id: 2, type: "fs" });
  p.builder.map(d, 0xffff800000001000n, 0x80000000n, K4);
  p.builder.map(d, 0x1000n, 0x80001000n, K4); // the lower half, same PT index: must stay
  const r = p.builder.unmapRange(d, 0xffff800000000000n, 1n << 47n);
  // root entries 256..511; under entry 256 a PDPT, a PD and a PT
  assert.equal(r, { cleared: 1, start: 0xffff800000001000n, end: 0xffff800000001fffn, visited: 256 + 3 * 512 });
  assert.ok(p.builder.findLeaf(d, 0x1000n).slot !== undefined, "the lower-half page with the same low bits is untouched");
  throws(
    () => p.builder.unmapRange(d, 0xffff7ffffffff000n, K4),
    "IOVA range 0xffff7ffffffff000-0xffff7fffffffffff is not canonical for domain 2 (4-level first stage: below 0x800000000000 or from 0xffff800000000000)",
  );
});

test("an unmap outside the width is refused before anything is cleared (it used to clear the page with the same low bits)", () => {
  const { p, b, d } = ss();
  b.map(d, 0x100000n, 0x80000000n, K4);
  const slot = b.findLeaf(d, 0x100000n).slot!;
  throws(
    () => b.unmapRange(d, 0x1000000100000n, K4),
    "IOVA range 0x1000000100000-0x1000000100fff is beyond the 48-bit input width of domain 1 (4-level second stage: below 0x1000000000000)",
  );
  throws(() => b.unmapRange(d, 0xfffffffffffff000n, 0x2000n), "IOVA 0xfffffffffffff000 + SIZE 0x2000 wraps past 2^64");
  assert.is(p.core.read64(slot), 0x80000000n | R_W);
});

test("a large page in the range is cleared whole, and reported whole", () => {
  const { b, d } = ss();
  b.map(d, M2, 0x40000000n, M2, { pageSize: M2 });
  assert.equal(b.unmapRange(d, M2 + 0x1000n, K4), { cleared: 1, start: M2, end: 2n * M2 - 1n, visited: 3 });
});

test("map writes runs of leaves across table boundaries, each leaf its own output address", () => {
  const { p, b, d } = ss();
  b.map(d, 0x1ff000n, 0x7000000n, 0x3000n);
  for (const [va, pa] of [
    [0x1ff000n, 0x7000000n],
    [0x200000n, 0x7001000n],
    [0x201000n, 0x7002000n],
  ] as const) {
    const slot = b.findLeaf(d, va).slot!;
    assert.is(p.core.read64(slot), pa | R_W, `0x${va.toString(16)}`);
  }
  // root + PDPT + PD + 2 PTs
  assert.is(p.alloc.used, 5n * K4);
});

test("map checks the whole range first: nothing is written when any page of it is taken", () => {
  const { p, b, d } = ss();
  b.map(d, 0x2000n, 0x90000000n, K4);
  const used = p.alloc.used;
  throws(() => b.map(d, 0n, 0x80000000n, 0x4000n), "IOVA 0x2000 is already mapped in domain 1");
  assert.is(b.findLeaf(d, 0n).slot, undefined, "the pages before the taken one stay unmapped");
  assert.is(p.alloc.used, used);
  b.map(d, 4n * M2, 0x40000000n, M2, { pageSize: M2 });
  throws(() => b.map(d, 4n * M2 + 0x1000n, 0x80000000n, K4), "IOVA 0x801000 is already mapped by a large page in domain 1");
  throws(
    () => b.map(d, 0n, 0x40000000n, M2, { pageSize: M2 }),
    "IOVA 0x0 holds a page table in domain 1 (smaller pages are or were mapped there; tables are kept): a 2M page cannot go there",
  );
  throws(
    () => b.map(d, 0xffffffff0000n, 0n, 0x20000n),
    "IOVA range 0xffffffff0000-0x100000000ffff is beyond the 48-bit input width of domain 1 (4-level second stage: below 0x1000000000000)",
  );
});

test("the allocator refuses reserved pages, naming the key that wrote them and, located, who needed them", () => {
  const p = new VtdPlatform({ build: "debug", caches: "off", timing: false });
  const a = new PageAllocator(p.core, 0x20000000n);
  a.reserve(0x20001ff8n, 16n, { key: "memory[3]", file: "s.json", line: 7, column: 5 }); // two pages
  assert.is(a.alloc(1, "the root table"), 0x20000000n);
  const e = allocationError(() => a.alloc(1, "a context table"));
  assert.is(e.message, "page 0x20001000 for a context table was written by memory[3] (move build.tableBase)");
  const located = e.located("build.devices[0]")!;
  assert.instance(located, InputError);
  assert.is(
    located.message,
    "s.json:7:5: memory[3]: page 0x20001000 is written here, and build.devices[0] needs it for a context table (the driver side allocates from build.tableBase 0x20000000 upwards); move build.tableBase or this memory",
  );
  // the second page the entry touched is reserved too; pages written by anyone else are refused without a key
  const b = new PageAllocator(p.core, 0x20002000n);
  b.reserve(0x20001ff8n, 16n, { key: "memory[3]" });
  throws(() => b.alloc(), "page 0x20002000 for a page-table page was written by memory[3] (move build.tableBase)");
  p.core.write64(0x30000000n, 1n);
  const c = new PageAllocator(p.core, 0x30000000n);
  const unowned = allocationError(() => c.alloc(2, "the PASID directory of 00:02.0"));
  assert.is(unowned.message, "page 0x30000000 for the PASID directory of 00:02.0 would overwrite guest memory written before (move build.tableBase)");
  assert.is(unowned.located("build.devices[0]"), undefined);
  const full = new PageAllocator(p.core, 0x40000000n, 0x40001000n);
  full.alloc();
  throws(() => full.alloc(1, "the invalidation queue"), "the table region 0x40000000-0x40000fff is full: no room for the invalidation queue");
});

test.run();
