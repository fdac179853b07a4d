/**
 * The scenario loader's set-up (src/scenario.ts): everything is checked before it is built, and a
 * problem is an input error at the key that causes it, with its line and column: an unaligned
 * build.tableBase; raw memory where the builder needs a page (at that memory's key, naming what
 * needed it); levels the capability registers do not support; a mapping outside its domain's
 * format or with a page size CAP does not allow; a duplicate build.devices entry; hex strings
 * without 0x; page sizes that do not exist; budgets (tablePages, traceLines, devices, pasids,
 * cacheEntries) from config.limits and LoadOptions.limits. A UTF-8 BOM is accepted. The step-wise
 * loader reports its progress.
 */
import type { VtdPlatform } from "../../src/platform.ts";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadScenario, loadScenarioSteps, type LoadOptions } from "../../src/scenario.ts";
import { InputError } from "../../src/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "iommu-emu-setup-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Writes the scenario (an object is pretty-printed) and returns its path and text. */
function scenario(s: unknown): { file: string; text: string } {
  const file = join(dir, `s${n++}.json`);
  const text = typeof s === "string" ? s : JSON.stringify(s, null, 2);
  writeFileSync(file, text);
  return { file, text };
}

/** "file:line:column" of the first `needle` in `text` (after `after`, when given). */
function at(file: string, text: string, needle: string, after = ""): string {
  const i = text.indexOf(needle, after ? text.indexOf(after) : 0);
  if (i < 0) throw new Error(`no ${needle} in the scenario`);
  const before = text.slice(0, i).split("\n");
  return `${file}:${before.length}:${before.at(-1)!.length + 1}`;
}

function loadError(s: { file: string }, opts: LoadOptions = {}): string {
  try {
    loadScenario(s.file, opts);
  } catch (e) {
    if (e instanceof InputError) return e.message;
    throw e;
  }
  throw new Error("expected an InputError");
}

const ss = (mappings: unknown[] = [], extra: Record<string, unknown> = {}) => ({ id: 1, type: "ss", mappings, ...extra });

test("build.tableBase must be 4 KiB aligned and below the host address width (it was a stack trace)", () => {
  const s = scenario({ arch: "vtd", build: { tableBase: "0x10000010", domains: [ss()] } });
  assert.is(loadError(s), `${at(s.file, s.text, '"0x10000010"')}: build.tableBase: 0x10000010 is not 4 KiB aligned (tables are 4 KiB pages)`);
  const h = scenario({ arch: "vtd", build: { tableBase: "0x10000000000", domains: [ss()] }, config: { platform: { physAddrBits: 40 } } });
  assert.is(
    loadError(h),
    `${at(h.file, h.text, '"0x10000000000"')}: build.tableBase: 0x10000000000 is not below 2^40, the host address width (config.platform.physAddrBits)`,
  );
});

test("raw memory where the builder puts its root table is an error at that memory (it was a stack trace)", () => {
  // the domain's root table is 0x10000000; the root table (RTADDR) comes next
  const s = scenario({ arch: "vtd", memory: [{ addr: "0x10001000", u64: ["0x1"] }], build: { domains: [ss()] } });
  assert.is(
    loadError(s),
    `${at(s.file, s.text, "{", '"memory"')}: memory[0]: page 0x10001000 is written here, and build needs it for the root table (the driver side allocates from build.tableBase 0x10000000 upwards); move build.tableBase or this memory`,
  );
});

test("raw memory where a mapping needs a table page: every page the entry wrote is reserved, the key and the mapping named", () => {
  // tables for IOVA 0: root 0x10000000, PDPT 0x10001000, PD 0x10002000, PT 0x10003000
  const s = scenario({
    arch: "vtd",
    memory: [
      { addr: "0x50000000", u64: ["0x1"] },
      { addr: "0x10001ff8", u64: ["0x0", "0x0"] },
    ],
    build: { domains: [ss([{ iova: "0x0", pa: "0x80000000", size: "0x1000" }])] },
  });
  assert.is(
    loadError(s),
    `${at(s.file, s.text, "{", '"0x50000000"')}: memory[1]: page 0x10001000 is written here, and build.domains[0].mappings[0] needs it for a page-table page of domain 1 (the driver side allocates from build.tableBase 0x10000000 upwards); move build.tableBase or this memory`,
  );
  const t = scenario({
    arch: "vtd",
    memory: [{ addr: "0x10003ff8", u64: ["0x0", "0x0"] }],
    build: { tableBase: "0x10000000", domains: [ss([{ iova: "0x0", pa: "0x80000000", size: "0x1000" }])] },
  });
  assert.match(loadError(t), /: memory\[0\]: page 0x10003000 is written here, and build\.domains\[0\]\.mappings\[0\] needs it/);
  // the same memory above the tables is fine: the memory is written exactly, the mapping works
  const ok = loadScenario(scenario({ arch: "vtd", memory: [{ addr: "0x10100000", u64: ["0x5"] }], build: { domains: [ss([{ iova: "0x0", pa: "0x80000000", size: "0x1000" }])] } }).file);
  assert.is(ok.platform.core.read64(0x10100000n), 5n);
});

test("levels the capability registers do not support: an error at build.domains[i].levels naming the capability", () => {
  const s = scenario({ arch: "vtd", build: { domains: [{ id: 1, type: "ss", levels: 3 }] } });
  assert.is(
    loadError(s),
    `${at(s.file, s.text, "3", '"levels"')}: build.domains[0].levels: 3-level second-stage tables (39-bit AGAW) need CAP.SAGAW bit 1; this unit's SAGAW=0xc supports 4, 5 levels`,
  );
  const f = scenario({ arch: "vtd", registers: { CAP: { FS5LP: 0 } }, build: { domains: [{ id: 1, type: "ss" }, { id: 2, type: "fs", levels: 5 }] } });
  assert.is(
    loadError(f),
    `${at(f.file, f.text, "5", '"levels"')}: build.domains[1].levels: 5-level first-stage paging needs CAP.FS5LP=1; this unit's FS5LP=0 supports 4 levels`,
  );
  const d = scenario({ arch: "vtd", registers: { CAP: { SAGAW: "0x8" } }, build: { domains: [{ id: 1, type: "ss" }] } });
  assert.is(
    loadError(d),
    `${at(d.file, d.text, "{", '"domains"')}: build.domains[0]: levels 4 (the default): 4-level second-stage tables (48-bit AGAW) need CAP.SAGAW bit 2; this unit's SAGAW=0x8 supports 5 levels`,
  );
  assert.is((loadScenario(scenario({ arch: "vtd", registers: { CAP: { SAGAW: "0xe" } }, build: { domains: [{ id: 1, type: "ss", levels: 3 }] } }).file).platform as VtdPlatform).builder.domains.get(1)!.levels, 3);
});

test("mappings outside the domain's format, or with a page size CAP does not allow, are errors at the mapping", () => {
  const w = scenario({ arch: "vtd", build: { domains: [ss([{ iova: "0xffffffff0000", pa: "0x0", size: "0x20000" }])] } });
  assert.is(
    loadError(w),
    `${at(w.file, w.text, "{", '"mappings"')}: build.domains[0].mappings[0]: IOVA range 0xffffffff0000-0x100000000ffff is beyond the 48-bit input width of domain 1 (4-level second stage: below 0x1000000000000)`,
  );
  const c = scenario({
    arch: "vtd",
    build: { domains: [{ id: 1, type: "fs", mappings: [{ iova: "0xffff800000000000", pa: "0x0", size: "0x1000" }, { iova: "0x800000000000", pa: "0x0", size: "0x1000" }] }] },
  });
  assert.is(
    loadError(c),
    `${at(c.file, c.text, "{", '"0xffff800000000000"')}: build.domains[0].mappings[1]: IOVA range 0x800000000000-0x800000000fff is not canonical for domain 1 (4-level first stage: below 0x800000000000 or from 0xffff800000000000)`,
  );
  const p = scenario({ arch: "vtd", registers: { CAP: { SSLPS: 0 } }, build: { domains: [ss([{ iova: "0x200000", pa: "0x200000", size: "0x200000", pageSize: "2M" }])] } });
  assert.is(
    loadError(p),
    `${at(p.file, p.text, "{", '"mappings"')}: build.domains[0].mappings[0]: domain 1: 2M second-stage pages need CAP.SSLPS bit 0; this unit's SSLPS=0x0 allows 4K pages`,
  );
});

test("page sizes: the allowed ones are listed; a size in bytes is accepted", () => {
  const s = scenario({ arch: "vtd", build: { domains: [ss([{ iova: "0x0", pa: "0x0", size: "0x1000", pageSize: "3M" }])] } });
  assert.is(
    loadError(s),
    `${at(s.file, s.text, '"3M"')}: build.domains[0].mappings[0].pageSize: expected a page size of "4K", "2M" or "1G" (or its bytes: "0x1000", "0x200000", "0x40000000"), got "3M"`,
  );
  const b = scenario({ arch: "vtd", build: { domains: [ss([{ iova: "0x200000", pa: "0x200000", size: "0x200000", pageSize: "0x200000" }, { iova: "0x0", pa: "0x0", size: 4096, pageSize: 4096 }])] } });
  const d = (loadScenario(b.file).platform as VtdPlatform).builder.domains.get(1)!;
  assert.is((loadScenario(b.file).platform as VtdPlatform).builder.findLeaf(d, 0x200000n).level, 1);
});

test('hex strings need "0x": "1000" is refused, not read as decimal; JSON numbers are decimal', () => {
  const s = scenario({ arch: "vtd", build: { domains: [ss([{ iova: "0x0", pa: "0x0", size: "1000" }])] } });
  assert.is(loadError(s), `${at(s.file, s.text, '"1000"')}: build.domains[0].mappings[0].size: expected 0x-prefixed hex or a JSON number, got "1000"`);
  const r = scenario({ arch: "vtd", registers: { RTADDR: "4096" } });
  assert.is(loadError(r), `${at(r.file, r.text, '"4096"')}: registers.RTADDR: expected 0x-prefixed hex or a JSON number, got "4096"`);
  const l = loadScenario(scenario({ arch: "vtd", build: { domains: [ss([{ iova: 8192, pa: "0x3000", size: 4096 }])] } }).file);
  const b = (l.platform as VtdPlatform).builder;
  assert.is(b.findLeaf(b.domains.get(1)!, 0x2000n).level, 0);
  assert.is(l.platform.core.read64(b.findLeaf(b.domains.get(1)!, 0x2000n).slot!), 0x3003n);
});

test("a duplicate build.devices entry (same BDF and PASID) is an error at the second, naming the first", () => {
  const s = scenario({
    arch: "vtd",
    build: { domains: [ss(), { id: 2, type: "fs" }], devices: [{ bdf: "00:02.0", domain: 1 }, { bdf: "00:04.0", pasid: 1, domain: 2 }, { bdf: "00:02.0", domain: 2 }] },
  });
  assert.is(
    loadError(s),
    `${at(s.file, s.text, "{", '"00:04.0"')}: build.devices[2]: 00:02.0 (requests without PASID: PASID-table entry 0) is already attached by build.devices[0] (one entry per device and PASID)`,
  );
  const p = scenario({ arch: "vtd", build: { domains: [ss(), { id: 2, type: "fs" }], devices: [{ bdf: "00:04.0", pasid: 1, domain: 2 }, { bdf: "00:04.0", pasid: 2, domain: 2 }, { bdf: "00:04.0", pasid: 1, domain: 1 }] } });
  assert.is(
    loadError(p),
    `${at(p.file, p.text, "{", '"pasid": 2')}: build.devices[2]: 00:04.0 PASID 1 is already attached by build.devices[0] (one entry per device and PASID)`,
  );
  const l = scenario({ arch: "vtd", build: { mode: "legacy", domains: [ss(), { id: 2, type: "ss" }], devices: [{ bdf: "00:02.0", domain: 1 }, { bdf: "00:02.0", domain: 2 }] } });
  assert.is(loadError(l), `${at(l.file, l.text, "{", '"domain": 1')}: build.devices[1]: 00:02.0 is already attached by build.devices[0] (one entry per device and PASID)`);
});

test("a UTF-8 byte order mark is accepted, and lines and columns count as without it", () => {
  const text = '{\n  "arch": "vtd",\n  "build": { "tableBase": "0x10000010" }\n}\n';
  const s = scenario("\ufeff" + text);
  assert.is(loadError(s), `${s.file}:3:27: build.tableBase: 0x10000010 is not 4 KiB aligned (tables are 4 KiB pages)`);
  assert.is(loadScenario(scenario('\ufeff{ "arch": "vtd" }').file).scenario.arch, "vtd");
});

test("budgets: a mapping over tablePages names the mapping, the estimate and both ways to raise it", () => {
  const s = scenario({ arch: "vtd", build: { domains: [ss([{ iova: "0x0", pa: "0x0", size: "0x100000000000" }])] } });
  assert.is(
    loadError(s),
    `${at(s.file, s.text, "{", '"mappings"')}: build.domains[0].mappings[0]: mapping 16 TiB with 4 KiB pages writes about 4294967296 leaf entries in 8405024 table pages (32.1 GiB of tables), over the budget of 16384 table pages; raise it with config.limits.tablePages or --limit tablePages=N`,
  );
  // 64 MiB at 0: 32 PTs, a PD and a PDPT; the scenario's limit, then the caller's over it
  const m = (limit: number) => scenario({ arch: "vtd", build: { domains: [ss([{ iova: "0x0", pa: "0x0", size: "0x4000000" }])] }, config: { limits: { tablePages: limit } } });
  assert.match(loadError(m(33)), /mappings\[0\]: mapping 64 MiB with 4 KiB pages writes about 16384 leaf entries in 34 table pages \(136 KiB of tables\), over the budget of 33 table pages/);
  assert.is(loadScenario(m(34).file).limits.tablePages, 34);
  assert.is(loadScenario(m(33).file, { limits: { tablePages: 34 } }).limits.tablePages, 34);
  assert.match(loadError(m(34), { limits: { tablePages: 33 } }), /over the budget of 33 table pages/);
});

test("budgets: inline trace lines, devices, PASIDs per device, cache entries", () => {
  const t = scenario({ arch: "vtd", trace: ["MRd 00:02.0 addr=0x0", "MRd 00:02.0 addr=0x0", "# three"], config: { limits: { traceLines: 2 } } });
  assert.is(
    loadError(t),
    `${at(t.file, t.text, "[", '"trace"')}: trace: the inline trace has 3 lines, over the budget of 2 inline trace lines; raise it with config.limits.traceLines or --limit traceLines=N, or put the trace in a file (it streams)`,
  );
  const devices = [{ bdf: "00:02.0", domain: 1 }, { bdf: "00:02.0", pasid: 5, domain: 1 }, { bdf: "00:03.0", domain: 1 }];
  const d = scenario({ arch: "vtd", build: { domains: [ss()], devices }, config: { limits: { devices: 1 } } });
  assert.is(
    loadError(d),
    `${at(d.file, d.text, "{", '"pasid": 5')}: build.devices[2]: attaching 00:03.0 makes 2 devices, over the budget of 1 devices; raise it with config.limits.devices or --limit devices=N`,
  );
  const p = scenario({ arch: "vtd", build: { domains: [ss()], devices }, config: { limits: { pasids: 1 } } });
  assert.match(loadError(p), /: build\.devices\[1\]: attaching 00:02\.0 PASID 5 gives it 2 PASIDs, over the budget of 1 PASIDs per device; raise it with config\.limits\.pasids or --limit pasids=N$/);
  const c = scenario({ arch: "vtd", config: { iotlb: { entries: 1048576 }, pasidCache: { entries: 1048576 }, pwcSsPde: { entries: 1048576 } } });
  assert.is(
    loadError(c),
    `${at(c.file, c.text, "{", '"config"')}: config: the caches hold 3145880 entries (iotlb 1048576, contextCache 64, pasidCache 1048576, pwcFsPde 32, pwcFsPdpe 16, pwcFsPml4e 8, pwcFsPml5e 4, pwcSsPde 1048576, pwcSsPdpe 16, pwcSsPml4e 8, pwcSsPml5e 4), over the budget of 2097152 cache entries; raise it with config.limits.cacheEntries or --limit cacheEntries=N`,
  );
  const a = scenario({ arch: "vtd", build: { domains: [ss()], devices: [{ bdf: "00:02.0", domain: 1, ats: true }, { bdf: "00:03.0", domain: 1, ats: true }] }, config: { limits: { cacheEntries: 504 } } });
  assert.match(loadError(a), /: build\.devices\[1\]: with 00:03\.0 attached with ATS, the caches hold 568 entries \(.*deviceTlb 64 x 2 devices\), over the budget of 504 cache entries/);
});

test("config.limits: positive integers, known names", () => {
  const z = scenario({ arch: "vtd", config: { limits: { tablePages: 0 } } });
  assert.is(loadError(z), `${at(z.file, z.text, "0", '"tablePages"')}: config.limits.tablePages: expected a positive integer (table pages)`);
  const u = scenario({ arch: "vtd", config: { limits: { pages: 5 } } });
  assert.is(loadError(u), `${at(u.file, u.text, '"pages"')}: config.limits.pages: unknown key "pages"`);
});

test("the step-wise loader yields after each run of leaves and each device; loadScenario gives the same platform", () => {
  // 513 pages from 0x1ff000: 1 leaf in the first PT, 512 in the next; then one device
  const s = scenario({ arch: "vtd", build: { domains: [ss([{ iova: "0x1ff000", pa: "0x40000000", size: "0x201000" }])], devices: [{ bdf: "00:02.0", domain: 1 }] } });
  const steps = loadScenarioSteps(s.file);
  const seen: string[] = [];
  let r = steps.next();
  while (!r.done) {
    seen.push(`${r.value.done}/${r.value.total} ${r.value.key}`);
    r = steps.next();
  }
  assert.equal(seen, ["1/514 build.domains[0].mappings[0]", "513/514 build.domains[0].mappings[0]", "514/514 build.devices[0]"]);
  const b = (r.value.platform as VtdPlatform).builder;
  const whole = (loadScenario(s.file).platform as VtdPlatform).builder;
  assert.is(r.value.platform.core.read64(b.findLeaf(b.domains.get(1)!, 0x3ff000n).slot!), 0x40200003n);
  assert.is(whole.findLeaf(whole.domains.get(1)!, 0x3ff000n).slot, b.findLeaf(b.domains.get(1)!, 0x3ff000n).slot);
});

test.run();
