// ATS translation requests (AT=01b) and translated requests (AT=10b): spec 4.2.3 completions and the
// DTE (scalable, SCT.5) / TT=01 (legacy, LCT.5) gates.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../src/platform.ts";

function fsPlatform(ats: boolean) {
  const p = new VtdPlatform({ caches: "off", build: "debug" });
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "fs", presetAccessed: false });
  b.map(d, 0x7000_0000n, 0x12_0000_0000n, 0x1000n, { user: false }); // supervisor page
  b.map(d, 0x7000_1000n, 0x12_0000_1000n, 0x1000n, { write: false }); // user, read-only
  b.map(d, 0x7000_2000n, 0x12_0000_2000n, 0x1000n, { exec: true, global: true }); // user, rwx, global
  b.attach({ sid: 0x310, pasid: 0x2a, domain: 1, ats, sre: true });
  p.enable();
  return p;
}
const ats = (addr: bigint, more: object = {}) => ({ op: "ATS" as const, sid: 0x310, pasid: 0x2a, addr, ...more });

test("ATS needs DTE in scalable mode (SCT.5), also for translated requests", () => {
  const p = fsPlatform(false);
  assert.is(p.translateOne(ats(0x7000_2000n)).fault?.name, "SCT.5");
  assert.is(p.translateOne({ op: "MRd", sid: 0x310, pasid: 0x2a, addr: 0x1234_0000n, translated: true }).fault?.name, "SCT.5");
});

test("completion reports the rights of the requested privilege; a user request to a supervisor page gets R=W=0 and no D", () => {
  const p = fsPlatform(true);
  const user = p.translateOne(ats(0x7000_0000n));
  assert.is(user.status, "ok");
  assert.equal(user.perms, { r: false, w: false, x: false, u: false });
  assert.is(user.leafPte, 0x12_0000_0000n | 0x1n | 0x2n | (1n << 63n) | 0x20n, "A set by the walk, no D");
  const sup = p.translateOne(ats(0x7000_0000n, { priv: true }));
  assert.equal(sup.perms, { r: true, w: true, x: false, u: false });
  assert.ok(sup.priv);
  assert.is(sup.leafPte & 0x40n, 0x40n, "D set: write granted, NW=0");
  assert.is(sup.pa, 0x12_0000_0000n);
});

test("NW=1 grants no write and sets no D; read-only pages give R only", () => {
  const p = fsPlatform(true);
  const nw = p.translateOne(ats(0x7000_2000n, { nw: true }));
  assert.equal(nw.perms, { r: true, w: false, x: true, u: true });
  assert.is(nw.leafPte & 0x40n, 0n);
  const ro = p.translateOne(ats(0x7000_1000n));
  assert.equal(ro.perms, { r: true, w: false, x: false, u: true });
});

test("Global and N: G from the leaf; N (no-snoop allowed) unless PGSNP forces snooping", () => {
  const p = fsPlatform(true);
  const r = p.translateOne(ats(0x7000_2000n));
  assert.ok(r.global);
  assert.ok(r.nsAllowed);
  const q = new VtdPlatform({ caches: "off", build: "debug" });
  const d = q.builder.createDomain({ id: 1, type: "fs" });
  q.builder.map(d, 0x1000n, 0x2000n, 0x1000n);
  q.builder.attach({ sid: 0x8, pasid: 1, domain: 1, ats: true, pgsnp: true });
  q.enable();
  const f = q.translateOne({ op: "ATS", sid: 0x8, pasid: 1, addr: 0x1000n });
  assert.is(f.snoopBy, "pgsnp");
  assert.not.ok(f.nsAllowed);
});

test("a not-present translation completes with R=W=0 and no fault; counters count it as an ATS request", () => {
  const p = fsPlatform(true);
  const r = p.translateOne(ats(0x7100_0000n));
  assert.is(r.status, "ok");
  assert.equal(r.perms, { r: false, w: false, x: false, u: false });
  const c = p.core.counters();
  assert.is(c.atsRequests, 1n);
  assert.is(c.faulted, 0n);
  assert.is(c.noSnoopTlps + c.snooped + c.nonSnooped, 0n, "ATS requests are not memory accesses");
});

test("translated requests with DTE=1 pass through untranslated", () => {
  const p = fsPlatform(true);
  const r = p.translateOne({ op: "MWr", sid: 0x310, pasid: 0x2a, addr: 0x1234_5678n, translated: true });
  assert.is(r.status, "ok");
  assert.is(r.pa, 0x1234_5678n);
  assert.ok(r.passthrough);
});

test("legacy mode: ATS and translated requests need TT=01 (LCT.5 otherwise)", () => {
  for (const tt01 of [false, true]) {
    const p = new VtdPlatform({ caches: "off", build: "debug", mode: "legacy" });
    const d = p.builder.createDomain({ id: 3, type: "ss" });
    p.builder.map(d, 0x5000n, 0x9000n, 0x1000n, { write: false });
    p.builder.attach({ sid: 0x20, domain: 3, ats: tt01 });
    p.enable();
    const r = p.translateOne({ op: "ATS", sid: 0x20, addr: 0x5010n });
    const t = p.translateOne({ op: "MRd", sid: 0x20, addr: 0xabc000n, translated: true });
    if (!tt01) {
      assert.is(r.fault?.name, "LCT.5");
      assert.is(t.fault?.name, "LCT.5");
    } else {
      assert.is(r.pa, 0x9010n);
      assert.equal(r.perms, { r: true, w: false, x: false, u: true });
      assert.is(t.pa, 0xabc000n);
    }
  }
});

test.run();
