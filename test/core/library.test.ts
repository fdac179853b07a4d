// The library entry point (package.json "exports": src/index.ts): its documented example works.
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as lib from "../../src/index.ts";

test("the documented example translates through the public API", () => {
  const p = new lib.VtdPlatform();
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, 0x1000n, 0x8000_0000n, 0x1000n);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  const r = p.translateOne({ op: "MRd", sid: 0x10, addr: 0x1040n });
  assert.is(r.status, "ok");
  assert.is(r.pa, 0x8000_0040n);
  // cold, default profile: context 2 + 2 x 100, PASID 2 + 2 x 100, IOTLB 2, three paging-structure
  // probes 3 x 2, four reads 4 x 100
  assert.is(r.latency, 812);
  assert.type(lib.replay, "function");
  assert.type(lib.generate, "function");
  assert.ok(Object.keys(lib.importers).length >= 4);
});

test.run();
