/**
 * Guest memory (assembly/common/guest-memory.ts) through the core: pages appear when first written
 * (zero-filled), reads of pages nobody wrote find nothing (and a walk that reads one faults with the
 * structure's access-error code), the page hash table grows past half full without losing a page,
 * and the top of the 52-bit physical address space is usable while 2^52 is refused.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { VtdPlatform } from "../../src/platform.ts";

const TOP = 1n << 52n;

for (const build of ["release", "debug"] as const) {
  test(`${build}: a page exists once written, zero-filled; unwritten pages read as nothing`, () => {
    const c = new Core(build);
    assert.is(c.guestPages(), 0);
    assert.is(c.read64(0x5000n), undefined);
    c.write64(0x5008n, 0x1122_3344_5566_7788n);
    assert.is(c.guestPages(), 1);
    assert.is(c.read64(0x5008n), 0x1122_3344_5566_7788n);
    assert.is(c.read64(0x5000n), 0n, "the rest of the page is zero");
    assert.is(c.read64(0x5ff8n), 0n);
    assert.is(c.read64(0x6000n), undefined, "the next page was not written");
    c.write64(0x5010n, 1n);
    assert.is(c.guestPages(), 1, "a second write to the page allocates nothing");
    // three qwords across a page boundary: two new pages
    c.writeQwords(0x6ff8n, [1n, 2n, 3n]);
    assert.is(c.guestPages(), 3);
    assert.equal([c.read64(0x6ff8n), c.read64(0x7000n), c.read64(0x7008n)], [1n, 2n, 3n]);
  });

  test(`${build}: 5000 pages: the hash table (4096 slots, doubled when half full) grows twice and keeps every page`, () => {
    const c = new Core(build);
    const pageOf = (i: number) => (BigInt(i) * 0x1_0000_1000n) % (TOP - 0x1000n) & ~0xfffn; // spread over 2^52
    for (let i = 0; i < 5000; i++) c.write64(pageOf(i), BigInt(i) + 1n);
    assert.is(c.guestPages(), 5000);
    let wrong = 0;
    for (let i = 0; i < 5000; i++) if (c.read64(pageOf(i)) !== BigInt(i) + 1n) wrong++;
    assert.is(wrong, 0);
    assert.is(c.read64(pageOf(5000)), undefined);
  });

  test(`${build}: addresses up to 2^52 - 1; 2^52 and unaligned writes are refused`, () => {
    const c = new Core(build);
    c.write64(TOP - 8n, 0xfeedn);
    assert.is(c.read64(TOP - 8n), 0xfeedn);
    assert.is(c.read64(TOP - 0x1000n), 0n);
    assert.is(c.guestPages(), 1);
    assert.throws(() => c.write64(TOP, 1n), (e: Error) => e.message === "guest write of 1 qwords at 0x10000000000000 is unaligned or beyond 2^52");
    assert.throws(() => c.writeQwords(TOP - 8n, [1n, 2n]), (e: Error) => e.message === "guest write of 2 qwords at 0xffffffffffff8 is unaligned or beyond 2^52");
    assert.throws(() => c.write64(0x1004n, 1n), (e: Error) => e.message === "guest write of 1 qwords at 0x1004 is unaligned or beyond 2^52");
    assert.is(c.guestPages(), 1, "a refused write allocates nothing");
    assert.is(c.read64(TOP), undefined);
  });

  test(`${build}: a walk that reads a page nobody wrote faults with the structure's access error`, () => {
    const p = new VtdPlatform({ build, caches: "off", timing: false });
    const d = p.builder.createDomain({ id: 1, type: "ss" });
    p.builder.map(d, 0x1000n, 0x8000_0000n, 0x1000n);
    p.builder.attach({ sid: 0x10, domain: 1 });
    p.enable();
    assert.is(p.translateOne({ op: "MRd", sid: 0x10, addr: 0x1000n }).status, "ok");
    const pages = p.core.guestPages();
    // the root table at the last page below 2^52, never written: SRT.1, counted once
    p.core.setRegister("RTADDR", (TOP - 0x1000n) | (1n << 10n));
    const r = p.translateOne({ op: "MRd", sid: 0x10, addr: 0x1000n });
    assert.equal([r.status, r.fault?.code, r.fault?.name], ["fault", 0x38, "SRT.1"]);
    assert.equal([...p.core.faultCounts()], [[0x38, 1n]]);
    assert.is(p.core.guestPages(), pages, "reading it allocated nothing");
  });
}

test.run();
