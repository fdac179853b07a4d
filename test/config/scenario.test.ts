import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadScenario, parseScenario } from "../../src/scenario.ts";
import { InputError } from "../../src/errors.ts";
import { DEFAULT_CAP, DEFAULT_ECAP, capFields, ecapFields, getField } from "../../src/arch/vtd/registers.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-scn-"));
let n = 0;
function file(obj: unknown | string): string {
  const f = join(dir, `s${n++}.json`);
  writeFileSync(f, typeof obj === "string" ? obj : JSON.stringify(obj, null, 2));
  return f;
}
function errorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("expected an InputError");
}

test("unknown keys are rejected with their path, line and column", () => {
  const text = '{\n  "arch": "vtd",\n  "build": {\n    "domains": [ { "id": 1, "type": "ss", "levls": 4 } ]\n  }\n}\n';
  const e = errorOf(() => parseScenario(text, "x.json"));
  assert.is(e.message, 'x.json:4:43: build.domains[0].levls: unknown key "levls"');
});

test("wrong types name what was expected", () => {
  const e = errorOf(() => parseScenario('{ "arch": "vtd", "build": { "tableBase": "0x10z" } }', "y.json"));
  assert.is(e.message, 'y.json:1:42: build.tableBase: expected 0x-prefixed hex or a JSON number, got "0x10z"');
  const e2 = errorOf(() => parseScenario('{ "arch": "smmu" }', "z.json"));
  assert.match(e2.message, /^z\.json:1:11: arch: expected "vtd"/);
  const e3 = errorOf(() => parseScenario('{ "arch": "vtd", "build": { "devices": [ { "bdf": "0:2.0", "domain": 1 } ] } }', "w.json"));
  assert.match(e3.message, /w\.json:1:51: build\.devices\[0\]\.bdf: expected a BDF like "00:02\.0", got "0:2\.0"/);
});

test("arch is the union's discriminator: anything but a modelled architecture lists the choices", () => {
  assert.is(errorOf(() => parseScenario('{ "arch": "smmu" }', "z.json")).message, 'z.json:1:11: arch: expected "vtd" or "smmuv3"');
  assert.is(errorOf(() => parseScenario('{ "arch": 9 }', "n.json")).message, 'n.json:1:11: arch: expected "vtd" or "smmuv3"');
  assert.is(errorOf(() => parseScenario('{ "description": "no arch" }', "m.json")).message, 'm.json:1:1: arch: expected "vtd" or "smmuv3"');
  // the SMMUv3 member's keys are its own: VT-d's CAP is unknown there
  assert.is(errorOf(() => parseScenario('{\n  "arch": "smmuv3",\n  "registers": { "CAP": 1 }\n}', "s.json")).message, 's.json:3:18: registers.CAP: unknown key "CAP"');
  // the VT-d member's keys are checked once arch chose it
  assert.is(errorOf(() => parseScenario('{ "arch": "vtd", "config": { "snoop": { "x": true } } }', "v.json")).message, 'v.json:1:41: config.snoop.x: unknown key "x"');
});

test("JSON syntax errors carry line and column", () => {
  const e = errorOf(() => parseScenario('{\n  "arch": "vtd",\n  "x": [1,,2]\n}', "j.json"));
  assert.is(e.message, 'j.json:3:11: expected a JSON value, got ","');
  const dup = errorOf(() => parseScenario('{ "arch": "vtd", "arch": "vtd" }', "d.json"));
  assert.is(dup.message, 'd.json:1:18: duplicate key "arch"');
});

test("registers: default profile, full values and per-field overrides", () => {
  const def = loadScenario(file({ arch: "vtd" }));
  assert.is(def.platform.core.getRegister("CAP"), DEFAULT_CAP);
  assert.is(def.platform.core.getRegister("ECAP"), DEFAULT_ECAP);
  const s = loadScenario(file({ arch: "vtd", registers: { CAP: { SAGAW: "0xe", FS1GP: 0 }, ECAP: { SC: 0, ERS: 1 } } }));
  const cap = s.platform.core.getRegister("CAP"), ecap = s.platform.core.getRegister("ECAP");
  assert.is(getField(cap, capFields.SAGAW), 0xen);
  assert.is(getField(cap, capFields.FS1GP), 0n);
  assert.is(getField(cap, capFields.MGAW), getField(DEFAULT_CAP, capFields.MGAW)); // untouched fields keep the profile
  assert.is(getField(ecap, ecapFields.SC), 0n);
  assert.is(getField(ecap, ecapFields.ERS), 1n);
  const full = loadScenario(file({ arch: "vtd", registers: { CAP: "0x1234" } }));
  assert.is(full.platform.core.getRegister("CAP"), 0x1234n);
  const e = errorOf(() => loadScenario(file({ arch: "vtd", registers: { ECAP: { SC: 2 } } })));
  assert.match(e.message, /registers: registers\.ECAP\.SC: 2 does not fit the 1-bit field/);
});

test("raw memory is written first and exactly; translation is off without RTADDR or build", () => {
  const s = loadScenario(file({ arch: "vtd", memory: [{ addr: "0x200000", u64: ["0x1", "0xfedcba9876543210"] }] }));
  const core = s.platform.core;
  assert.is(core.read64(0x200000n), 1n);
  assert.is(core.read64(0x200008n), 0xfedcba9876543210n);
  assert.is(core.read64(0x300000n), undefined);
  // GSTS.TES=0: DMA passes untranslated
  const r = core.translateOne({ op: "MRd", sid: 0x10, addr: 0x1234n });
  assert.is(r.status, "ok");
  assert.is(r.pa, 0x1234n);
  assert.ok(r.passthrough);
});

test("a hand-made root table through memory + RTADDR gives the spec fault for a missing context table", () => {
  // scalable-mode root entry for bus 0: LP=1, LCTP=0x500000 (never written) -> SCT.1
  const s = loadScenario(file({ arch: "vtd", registers: { RTADDR: "0x400400" }, memory: [{ addr: "0x400000", u64: ["0x500001", "0x0"] }] }));
  const r = s.platform.core.translateOne({ op: "MRd", sid: 0x10, addr: 0x1000n });
  assert.is(r.fault?.name, "SCT.1");
  assert.is(r.fault?.code, 0x40);
});

test("builder errors point at the offending element", () => {
  const text = JSON.stringify({ arch: "vtd", build: { domains: [{ id: 1, type: "ss" }, { id: 2, type: "nested", parent: 7 }] } }, null, 2);
  const f = file(text);
  const e = errorOf(() => loadScenario(f));
  const line = text.split("\n").findIndex((l) => l.includes('"id": 2')) + 1;
  assert.match(e.message, new RegExp(`:${line - 1}:\\d+: build\\.domains\\[1\\]: domain 2: a nested domain needs "parent"`));
});

test("the builder refuses to place tables over memory the scenario wrote: an error at that memory", () => {
  const f = file('{ "arch": "vtd",\n  "memory": [ { "addr": "0x10000000", "u64": ["0x5"] } ],\n  "build": { "domains": [ { "id": 1, "type": "ss" } ] } }');
  const e = errorOf(() => loadScenario(f));
  assert.is(
    e.message,
    `${f}:2:15: memory[0]: page 0x10000000 is written here, and build.domains[0] needs it for a page-table page of domain 1 (the driver side allocates from build.tableBase 0x10000000 upwards); move build.tableBase or this memory`,
  );
});

test.run();
