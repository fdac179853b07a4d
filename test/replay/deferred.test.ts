/**
 * Work the driver does on its own runs inside the replay's error handling (src/replay/replay.ts):
 * the lazy flush at the end of the trace, the lazy flush timer, and the invalidation queue they
 * allocate. An error there is an input error at the trace position that caused the work (the
 * first deferred unmap, the TLP at which the timer fired); a page it needs that the scenario's raw
 * memory holds is an error at that memory's key, naming the event.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform, type PlatformOptions } from "../../src/platform.ts";
import { VtdDriver, type DriverOptions } from "../../src/arch/vtd/driver.ts";
import { parseTraceText } from "../../src/trace/text.ts";
import { replay } from "../../src/replay/replay.ts";
import { InputError } from "../../src/errors.ts";

const FILE = "t.trace";
const OWNER = { key: "memory[0]", file: "s.json", line: 3, column: 5 };

/** SS domain 1 with 64 KiB at 0x100000, device 00:02.0; `reserve` marks a page of the table region as the scenario's memory[0]. */
function setup(o: { plat?: PlatformOptions; driver?: Partial<DriverOptions>; reserve?: (next: bigint) => bigint } = {}) {
  const p = new VtdPlatform({ build: "debug", ...o.plat });
  const b = p.builder;
  b.map(b.createDomain({ id: 1, type: "ss" }), 0x100000n, 0x80000000n, 0x10000n);
  b.attach({ sid: 0x10, domain: 1, pasidBits: 1 });
  p.enable();
  const next = p.alloc.base + p.alloc.used; // where the driver's queue goes
  if (o.reserve) p.alloc.reserve(o.reserve(next), 8n, OWNER);
  const driver = new VtdDriver(p, o.driver);
  const error = (text: string): string => {
    try {
      replay(p, parseTraceText(text, FILE), undefined, { driver, file: FILE });
    } catch (e) {
      assert.instance(e, InputError);
      return (e as Error).message;
    }
    return "no error";
  };
  return { p, next, error };
}

const lazy = { invalidation: "lazy" as const };

test("the lazy flush at the end of the trace: its queue on raw memory is an error at that memory, naming the first deferred unmap", () => {
  const s = setup({ driver: lazy, reserve: (next) => next });
  assert.is(
    s.error("MRd 00:02.0 addr=0x100000\n@10 unmap 1 0x100000 0x1000\nunmap 1 0x101000 0x1000\nMRd 00:02.0 addr=0x102000"),
    `s.json:3:5: memory[0]: page 0x${s.next.toString(16)} is written here, and the lazy flush at the end of the trace (first deferred unmap at t.trace:2:5) needs it for the invalidation queue (the driver side allocates from build.tableBase 0x10000000 upwards); move build.tableBase or this memory`,
  );
});

test("the lazy flush timer: the TLP at which it fired is named", () => {
  const s = setup({ driver: { ...lazy, lazyTimeoutCycles: 1000 }, reserve: (next) => next });
  assert.is(
    s.error("@10 unmap 1 0x100000 0x1000\n@500 MRd 00:02.0 addr=0x101000\n@1010 MRd 00:02.0 addr=0x102000"),
    `s.json:3:5: memory[0]: page 0x${s.next.toString(16)} is written here, and the lazy flush timer (fired at the TLP at t.trace:3) needs it for the invalidation queue (the driver side allocates from build.tableBase 0x10000000 upwards); move build.tableBase or this memory`,
  );
});

test("strict mode: the unmap that needs the queue is named; the queue's status page too", () => {
  // the queue takes 2 pages (256 descriptors of 32 bytes), the status page comes next
  const s = setup({ reserve: (next) => next + 0x2000n });
  assert.is(
    s.error("\n\n  @5 unmap 1 0x100000 0x1000"),
    `s.json:3:5: memory[0]: page 0x${(s.next + 0x2000n).toString(16)} is written here, and the unmap at t.trace:3:6 needs it for the status page of its wait descriptors (the driver side allocates from build.tableBase 0x10000000 upwards); move build.tableBase or this memory`,
  );
});

test("a deferred flush that fails for another reason is an input error at the first deferred unmap's line", () => {
  // physAddrBits 32: the table region ends at 4 GiB, and the set-up fills it (8 pages)
  const s = setup({ plat: { physAddrBits: 32, tableBase: 0xffff8000n }, driver: lazy });
  assert.is(s.next, 1n << 32n);
  assert.is(
    s.error("MRd 00:02.0 addr=0x100000\n  unmap 1 0x100000 0x1000"),
    `${FILE}:2:3: lazy flush at the end of the trace, of the unmap deferred here: the table region 0xffff8000-0xffffffff is full: no room for the invalidation queue`,
  );
  const t = setup({ plat: { physAddrBits: 32, tableBase: 0xffff8000n }, driver: { ...lazy, lazyTimeoutCycles: 5 } });
  assert.is(
    t.error("@1 unmap 1 0x100000 0x1000\n@6 MRd 00:02.0 addr=0x100000"),
    `${FILE}:2: lazy flush timer, fired at this TLP: the table region 0xffff8000-0xffffffff is full: no room for the invalidation queue`,
  );
});

test.run();
