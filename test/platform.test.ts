/**
 * The neutral platform (src/platform.ts) assembled from an architecture module (src/arch/), the
 * factory that picks the module by name, and the deprecated VtdPlatform alias.
 */
import { smmuv3 } from "../src/arch/smmuv3/module.ts";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Platform, VtdPlatform, createPlatform } from "../src/platform.ts";
import { architecture, architectures, isModelled } from "../src/arch/index.ts";
import { vtd } from "../src/arch/vtd/module.ts";
import { DEFAULT_CAP } from "../src/arch/vtd/registers.ts";
import { VtdDriver } from "../src/arch/vtd/driver.ts";

test("the registry holds VT-d and SMMUv3", () => {
  assert.equal(Object.keys(architectures), ["vtd", "smmuv3"]);
  assert.is(architecture("vtd"), vtd);
  assert.is(architecture("smmuv3"), smmuv3);
  assert.ok(isModelled("smmuv3"));
  assert.not.ok(isModelled("smmu"));
  assert.is(createPlatform("smmuv3").module.title, "SMMUv3");
});

test("createPlatform assembles the module's core, builder and driver", () => {
  const p = createPlatform("vtd", { cap: DEFAULT_CAP, timing: false, preset: "hypersio" });
  assert.ok(p instanceof Platform);
  assert.is(p.module, vtd);
  assert.is(p.core.arch, "vtd");
  assert.is(p.core.getRegister("CAP"), DEFAULT_CAP);
  assert.is(p.preset, "hypersio");
  assert.is(p.timing.enable, false);
  assert.is(p.builder.mode, "scalable");
  assert.ok(p.createDriver({ invalidation: "lazy" }) instanceof VtdDriver);
  // the module's preset when none is named
  assert.is(createPlatform("vtd").preset, vtd.defaultPreset);
  assert.is(vtd.defaultPreset, "vtd-default");
});

test("the deprecated VtdPlatform is a Platform of the VT-d module (test/core/library.test.ts translates through it)", () => {
  const p = new VtdPlatform({ mode: "legacy", physAddrBits: 46 });
  assert.ok(p instanceof Platform);
  assert.is(p.module, vtd);
  assert.is(p.builder.mode, "legacy");
  assert.is(p.core.arch, "vtd");
});

test("the module names faults and counters from the core's catalogues", () => {
  assert.is(vtd.faults.get(0x06)?.id, "LGN.3"); // spec 7.1.3: fault reason 6, read without read permission
  assert.is(vtd.counterNames[0], "requests");
  assert.equal(vtd.traceCommands.map((c) => c.keyword), ["inv"]);
  assert.throws(() => createPlatform("vtd", { physAddrBits: 31 }), (e: Error) => e.message === "physAddrBits 31 must be 32..52");
});

test.run();
