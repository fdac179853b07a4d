/**
 * The VT-d snoop decision table (shared/spec/vtd.md 2.12), enumerated in full:
 *
 *   mode/PGTT {legacy TT=00, legacy TT=10, SM FS, SM SS, SM nested, SM PT}
 *   x ECAP.SC {0,1} x leaf SNP {0,1} x PGSNP {0,1} (scalable only) x TLP No-Snoop {0,1}
 *   x the options for the points the spec leaves open:
 *     nestedSsLeafSnp {false,true} x passThroughPgsnp {false,true}
 *     x pgsnpWithoutSc {"reserved","ignored","honoured"} x snpReservedWithoutSc {false,true}
 *
 * "Leaf SNP" is bit 11 of the second-stage leaf (legacy TT=00, SM SS; for nested, of the parent SS
 * leaf that maps the final GPA). First-stage-only has no SS leaf: there the dimension sets bit 11
 * of the FS leaf, which the FS format ignores (vtd.md 2.12.1 item 4: FS PTEs have no snoop bit),
 * so it must change nothing. Pass-through has no leaf at all, so SNP is only 0 there.
 *
 * Expected outcomes come from `reference()` below, written from vtd.md 2.12 alone; the core is
 * never consulted for an expectation.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform, type SnoopOptions } from "../../src/platform.ts";
import type { CoreBuild, Request, Result } from "../../src/core/core.ts";
import { DEFAULT_CAP, DEFAULT_ECAP, setField, ecapFields } from "../../src/arch/vtd/registers.ts";

const BUILDS: CoreBuild[] = ["release", "debug"];

type Mode = "legacy-tt00" | "legacy-tt10" | "sm-fs" | "sm-ss" | "sm-nested" | "sm-pt";
const MODES: Mode[] = ["legacy-tt00", "legacy-tt10", "sm-fs", "sm-ss", "sm-nested", "sm-pt"];
const isLegacy = (m: Mode) => m === "legacy-tt00" || m === "legacy-tt10";
/** Modes whose final access goes through a second-stage leaf (the SNP bit lives there). */
const hasSsLeaf = (m: Mode) => m === "legacy-tt00" || m === "sm-ss" || m === "sm-nested";
/** Modes with any paging leaf at all (FS has one, with no SNP bit). */
const hasLeaf = (m: Mode) => hasSsLeaf(m) || m === "sm-fs";

type SnoopBy = "tlp" | "pgsnp" | "pte";

interface Case {
  mode: Mode;
  sc: boolean;
  snp: boolean;
  pgsnp: boolean;
  ns: boolean;
  opts: SnoopOptions;
}

type Expected = { status: "ok"; snoop: boolean; snoopBy: SnoopBy } | { status: "fault"; fault: string };

/**
 * vtd.md 2.12, independently of the core:
 *  - 2.12.1(1)/2.9.1: with ECAP.SC=0 the SS-leaf SNP is "reserved(0)": a reserved-bit fault when the
 *    snpReservedWithoutSc option says so (SSS.3 in scalable mode, LSL.2 in legacy), else ignored.
 *  - 2.12.1(5): with ECAP.SC=0, PGSNP=1 is a PASID-entry reserved bit (SPT.3), ignored, or honoured.
 *    The PASID entry is read before any paging entry, so SPT.3 wins over SSS.3.
 *  - 2.12.1(3): PGSNP=1 forces snoop for every scalable-mode PGTT (pass-through only under the
 *    passThroughPgsnp option, 2.12.2) and wins over everything else.
 *  - 2.12.1(2): SC=1 and SS-leaf SNP=1 force snoop (legacy TT=00, SM SS; nested only under the
 *    nestedSsLeafSnp option, 2.12.2). Legacy pass-through never forces.
 *  - 2.12.1(7): otherwise the TLP's No-Snoop attribute decides: snoop = !NS.
 * A forcing bit is reported as snoopBy even when the TLP would have snooped anyway.
 */
function reference(c: Case): Expected {
  const { mode, sc, snp, pgsnp, ns, opts } = c;
  let by: SnoopBy = "tlp";
  if (isLegacy(mode)) {
    if (mode === "legacy-tt00") {
      if (!sc && snp && opts.snpReservedWithoutSc) return { status: "fault", fault: "LSL.2" };
      if (sc && snp) by = "pte";
    }
  } else {
    if (!sc && pgsnp && opts.pgsnpWithoutSc === "reserved") return { status: "fault", fault: "SPT.3" };
    if (!sc && snp && hasSsLeaf(mode) && opts.snpReservedWithoutSc) return { status: "fault", fault: "SSS.3" };
    const pgsnpForces = pgsnp && (sc || opts.pgsnpWithoutSc === "honoured");
    const snpForces = sc && snp;
    switch (mode) {
      case "sm-pt":
        if (pgsnpForces && opts.passThroughPgsnp) by = "pgsnp";
        break;
      case "sm-fs":
        if (pgsnpForces) by = "pgsnp";
        break;
      case "sm-ss":
        if (pgsnpForces) by = "pgsnp";
        else if (snpForces) by = "pte";
        break;
      case "sm-nested":
        if (pgsnpForces) by = "pgsnp";
        else if (snpForces && opts.nestedSsLeafSnp) by = "pte";
        break;
    }
  }
  return { status: "ok", snoop: by !== "tlp" || !ns, snoopBy: by };
}

// ---- enumeration --------------------------------------------------------------------------------

const OPTION_SETS: SnoopOptions[] = [];
for (const nestedSsLeafSnp of [false, true])
  for (const passThroughPgsnp of [false, true])
    for (const pgsnpWithoutSc of ["reserved", "ignored", "honoured"] as const)
      for (const snpReservedWithoutSc of [false, true]) OPTION_SETS.push({ nestedSsLeafSnp, passThroughPgsnp, pgsnpWithoutSc, snpReservedWithoutSc });

const snpValues = (m: Mode) => (hasLeaf(m) ? [false, true] : [false]);
const pgsnpValues = (m: Mode) => (isLegacy(m) ? [false] : [false, true]);

const CASES: Case[] = [];
for (const opts of OPTION_SETS)
  for (const mode of MODES)
    for (const sc of [false, true])
      for (const snp of snpValues(mode))
        for (const pgsnp of pgsnpValues(mode)) for (const ns of [false, true]) CASES.push({ mode, sc, snp, pgsnp, ns, opts });

/** Cases per option set, mode by mode: SC x SNP x PGSNP x NS. */
const PER_OPTION_SET =
  2 * 2 * 1 * 2 + // legacy TT=00: SC x SNP x NS
  2 * 1 * 1 * 2 + // legacy TT=10: SC x NS
  2 * 2 * 2 * 2 + // SM FS (SNP = ignored FS bit 11)
  2 * 2 * 2 * 2 + // SM SS
  2 * 2 * 2 * 2 + // SM nested
  2 * 1 * 2 * 2; // SM PT: SC x PGSNP x NS
const EXPECTED_CASES = PER_OPTION_SET * 2 * 2 * 3 * 2; // x nestedSsLeafSnp x passThroughPgsnp x pgsnpWithoutSc x snpReservedWithoutSc

// ---- building one case -------------------------------------------------------------------------

const SID = 0x0218;
const PASID = 0x31;
const IOVA = 0x0000_1234_5678_9abcn; // SS IOVA / FS GVA
const GPA = 0x0000_0076_5432_1000n; // nested: final guest-physical page
const PA = 0x0000_0abc_def0_1000n;
const PAGE = 0x1000n;
const SNP_BIT = 1n << 11n;

function caseName(c: Case): string {
  const o = c.opts;
  return (
    `${c.mode} SC=${+c.sc} SNP=${+c.snp} PGSNP=${+c.pgsnp} NS=${+c.ns} ` +
    `[nestedSsLeafSnp=${o.nestedSsLeafSnp} passThroughPgsnp=${o.passThroughPgsnp} pgsnpWithoutSc=${o.pgsnpWithoutSc} snpReservedWithoutSc=${o.snpReservedWithoutSc}]`
  );
}

/** Builds the platform for one case and returns the requests to issue and the expected output address. */
function build(c: Case, b: CoreBuild): { p: VtdPlatform; reqs: Request[]; pa: bigint } {
  const ecap = setField(DEFAULT_ECAP, ecapFields.SC, c.sc ? 1n : 0n);
  const p = new VtdPlatform({ caches: "off", build: b, mode: isLegacy(c.mode) ? "legacy" : "scalable", cap: DEFAULT_CAP, ecap, snoop: c.opts });
  const bl = p.builder;
  const page = IOVA & ~(PAGE - 1n);
  let pa = PA + (IOVA & (PAGE - 1n));
  switch (c.mode) {
    case "legacy-tt00":
    case "sm-ss": {
      const d = bl.createDomain({ id: 5, type: "ss", levels: 4 });
      bl.map(d, page, PA, PAGE, { snp: c.snp });
      break;
    }
    case "sm-fs": {
      const d = bl.createDomain({ id: 5, type: "fs", levels: 4 });
      bl.map(d, page, PA, PAGE);
      if (c.snp) {
        // Bit 11 of the first-stage leaf: ignored by the FS format, there is no FS snoop bit.
        const slot = bl.findLeaf(d, IOVA).slot!;
        p.core.write64(slot, p.core.read64(slot)! | SNP_BIT);
      }
      break;
    }
    case "sm-nested": {
      const s2 = bl.createDomain({ id: 4, type: "ss", levels: 4 });
      const d = bl.createDomain({ id: 5, type: "nested", levels: 4, parent: 4 });
      bl.map(d, page, GPA, PAGE);
      bl.map(s2, GPA, PA, PAGE, { snp: c.snp }); // the SS leaf that maps the final GPA
      break;
    }
    case "legacy-tt10":
    case "sm-pt":
      bl.createDomain({ id: 5, type: "pt" });
      pa = IOVA;
      break;
  }
  if (isLegacy(c.mode)) bl.attach({ sid: SID, domain: 5 });
  else bl.attach({ sid: SID, pasid: PASID, domain: 5, pgsnp: c.pgsnp, pasidBits: 8 });
  p.enable();
  const reqs = (["MRd", "MWr"] as const).map(
    (op): Request => (isLegacy(c.mode) ? { op, sid: SID, addr: IOVA, ns: c.ns } : { op, sid: SID, pasid: PASID, addr: IOVA, ns: c.ns }),
  );
  return { p, reqs, pa };
}

// ---- the suite ----------------------------------------------------------------------------------

const Snoop = suite("vtd snoop decision table");

Snoop("case count is the product of the dimensions", () => {
  assert.is(PER_OPTION_SET, 68);
  assert.is(OPTION_SETS.length, 24);
  assert.is(CASES.length, EXPECTED_CASES);
  assert.is(CASES.length, 1632);
});

for (const b of BUILDS) {
  Snoop(`every case of the decision table [${b}]`, () => {
    let checked = 0;
    const tally = { ok: 0, fault: 0, tlp: 0, pgsnp: 0, pte: 0 };
    for (const c of CASES) {
      const want = reference(c);
      const { p, reqs, pa } = build(c, b);
      const name = caseName(c);
      for (const [i, r] of p.translate(reqs).entries()) {
        const op = ` ${reqs[i]!.op}`;
        assert.is(r.status, want.status, `${name}${op}: status (got ${r.fault?.name ?? r.status})`);
        if (want.status === "fault") {
          assert.is(r.fault!.name, want.fault, `${name}${op}: fault`);
          continue;
        }
        assert.is(r.pa, pa, `${name}${op}: pa`);
        assert.is(r.snoopBy, want.snoopBy, `${name}${op}: snoopBy`);
        assert.is(r.snoop, want.snoop, `${name}${op}: snoop`);
        assert.is(r.nsAllowed, want.snoopBy === "tlp", `${name}${op}: nsAllowed is the inverse of forced`);
      }
      if (want.status === "ok") {
        // Two accesses (MRd, MWr) with the same NS attribute.
        const k = p.core.counters();
        assert.is(k.noSnoopTlps, c.ns ? 2n : 0n, `${name}: noSnoopTlps`);
        assert.is(k.snooped, want.snoop ? 2n : 0n, `${name}: snooped`);
        assert.is(k.nonSnooped, want.snoop ? 0n : 2n, `${name}: nonSnooped`);
        assert.is(k.noSnoopForced, c.ns && want.snoop ? 2n : 0n, `${name}: noSnoopForced`);
        tally.ok++;
        tally[want.snoopBy]++;
      } else tally.fault++;
      checked++;
    }
    assert.is(checked, EXPECTED_CASES);
    // Every outcome class occurs (the table is not degenerate).
    for (const [k, v] of Object.entries(tally)) assert.ok(v > 0, `outcome ${k} occurs`);
  });
}

// ---- counters over a hand-computed sequence -------------------------------------------------------

for (const b of BUILDS) {
  Snoop(`counters: noSnoopTlps, snooped, nonSnooped, noSnoopForced over a sequence [${b}]`, () => {
    // ECAP.SC=1, default options. Device A: SS domain with a plain page and an SNP page; device B:
    // FS domain attached with PGSNP=1.
    const p = new VtdPlatform({ caches: "off", build: b, cap: DEFAULT_CAP, ecap: setField(DEFAULT_ECAP, ecapFields.SC, 1n) });
    const bl = p.builder;
    const ss = bl.createDomain({ id: 1, type: "ss", levels: 4 });
    bl.map(ss, 0x10_0000n, 0x2000_0000n, PAGE);
    bl.map(ss, 0x20_0000n, 0x3000_0000n, PAGE, { snp: true });
    const fs = bl.createDomain({ id: 2, type: "fs", levels: 4 });
    bl.map(fs, 0x40_0000n, 0x4000_0000n, PAGE);
    bl.attach({ sid: 0x100, pasid: 1, domain: 1, pasidBits: 8 });
    bl.attach({ sid: 0x108, pasid: 1, domain: 2, pgsnp: true, pasidBits: 8 });
    p.enable();
    const A = (addr: bigint, ns: boolean): Request => ({ op: "MRd", sid: 0x100, pasid: 1, addr, ns });
    const B = (addr: bigint, ns: boolean): Request => ({ op: "MWr", sid: 0x108, pasid: 1, addr, ns });
    const seq: [Request, boolean, SnoopBy][] = [
      [A(0x10_0010n, false), true, "tlp"], // plain page, snooping TLP: snooped
      [A(0x10_0020n, true), false, "tlp"], // plain page, NS TLP: not snooped
      [A(0x20_0030n, true), true, "pte"], // SNP page, NS TLP: forced (SC=1)
      [A(0x20_0040n, false), true, "pte"], // SNP page, snooping TLP: snooped (SNP still reported)
      [B(0x40_0050n, true), true, "pgsnp"], // PGSNP, NS TLP: forced
      [B(0x40_0060n, false), true, "pgsnp"], // PGSNP, snooping TLP
      [A(0x10_0070n, true), false, "tlp"], // plain page, NS TLP: not snooped
    ];
    const before = p.core.counters();
    const res = p.translate(seq.map((s) => s[0]));
    res.forEach((r: Result, i) => {
      assert.is(r.status, "ok", `request ${i}`);
      assert.is(r.snoop, seq[i]![1], `request ${i} snoop`);
      assert.is(r.snoopBy, seq[i]![2], `request ${i} snoopBy`);
      assert.is(r.nsAllowed, seq[i]![2] === "tlp", `request ${i} nsAllowed`);
    });
    const k = p.core.counters();
    const d = (n: keyof typeof k) => k[n] - before[n];
    assert.is(d("translated"), 7n);
    assert.is(d("noSnoopTlps"), 4n); // requests 1, 2, 4, 6 (0-based)
    assert.is(d("snooped"), 5n); // 0, 2, 3, 4, 5
    assert.is(d("nonSnooped"), 2n); // 1, 6
    assert.is(d("noSnoopForced"), 2n); // 2, 4
  });
}

// ---- SNP on large leaves and in non-leaf entries ------------------------------------------------

for (const b of BUILDS) {
  Snoop(`SNP in 2M and 1G SS leaves forces snoop like a 4K leaf (SC=1; SM SS and legacy) [${b}]`, () => {
    for (const mode of ["scalable", "legacy"] as const) {
      for (const pageSize of [1n << 21n, 1n << 30n]) {
        const p = new VtdPlatform({ caches: "off", build: b, mode, ecap: setField(DEFAULT_ECAP, ecapFields.SC, 1n) });
        const d = p.builder.createDomain({ id: 1, type: "ss", levels: 4 });
        const iova = 0x0000_0040_0000_0000n;
        p.builder.map(d, iova, 0x0000_0080_0000_0000n, pageSize, { pageSize, snp: true });
        if (mode === "legacy") p.builder.attach({ sid: 0x100, domain: 1 });
        else p.builder.attach({ sid: 0x100, pasid: 1, domain: 1, pasidBits: 8 });
        p.enable();
        const addr = iova + 0x1_2340n;
        const r = p.translateOne(mode === "legacy" ? { op: "MRd", sid: 0x100, addr, ns: true } : { op: "MRd", sid: 0x100, pasid: 1, addr, ns: true });
        assert.is(r.status, "ok", `${mode} ${pageSize}`);
        assert.is(r.pa, 0x0000_0080_0000_0000n + 0x1_2340n);
        assert.is(r.snoopBy, "pte");
        assert.is(r.snoop, true);
        assert.is(r.nsAllowed, false);
      }
    }
  });

  Snoop(`SNP in a non-leaf SS entry is a reserved bit whatever SC (SSS.3 / LSL.2) [${b}]`, () => {
    for (const mode of ["scalable", "legacy"] as const) {
      for (const sc of [0n, 1n]) {
        const p = new VtdPlatform({ caches: "off", build: b, mode, ecap: setField(DEFAULT_ECAP, ecapFields.SC, sc) });
        const d = p.builder.createDomain({ id: 1, type: "ss", levels: 4 });
        p.builder.map(d, 0x10_0000n, 0x2000_0000n, PAGE);
        // Set SNP in the level-2 (PDE) table pointer that leads to the 4K leaf.
        let table = d.root;
        for (let level = 3; level > 1; level--) table = p.core.read64(table + ((0x10_0000n >> BigInt(12 + 9 * level)) & 511n) * 8n)! & 0x000f_ffff_ffff_f000n;
        const pde = table + ((0x10_0000n >> 21n) & 511n) * 8n;
        p.core.write64(pde, p.core.read64(pde)! | SNP_BIT);
        if (mode === "legacy") p.builder.attach({ sid: 0x100, domain: 1 });
        else p.builder.attach({ sid: 0x100, pasid: 1, domain: 1, pasidBits: 8 });
        p.enable();
        const r = p.translateOne(mode === "legacy" ? { op: "MRd", sid: 0x100, addr: 0x10_0000n } : { op: "MRd", sid: 0x100, pasid: 1, addr: 0x10_0000n });
        assert.is(r.status, "fault", `${mode} SC=${sc}`);
        assert.is(r.fault!.name, mode === "legacy" ? "LSL.2" : "SSS.3");
        assert.is(r.fault!.level, 2);
      }
    }
  });
}

Snoop.run();
