/**
 * The SMMUv3 coherency outcome (`snoop`, `snoopBy`) enumerated over every combination of its inputs
 * and compared with a reference written here from the rules, not from arch/smmuv3/coherency.ts:
 *
 *   inputs   TLP No-Snoop; CANWBS (core Opt.CANWBS); IDR0.COHACC; IDR1.ATTR_TYPES_OVR; the
 *            configuration (GBPA bypass with SMMUEN = 0, STE bypass, stage 1, stage 2, nested);
 *            the overrides (GBPA or STE MTCFG/MemAttr and SHCFG); the stage-1 MAIR attribute and leaf
 *            SH; the stage-2 leaf MemAttr and SH; STE.S2FWB.
 *
 * Rules of the reference:
 *   - Platform (README "SMMUv3 model decisions", shared/spec/smmuv3.md §2.8): CANWBS makes every
 *     access coherent (IORT E.f: coherency is ensured for accesses to Conventional memory whatever
 *     their attributes); otherwise a No-Snoop TLP is not coherent ("tlp"); otherwise without
 *     IDR0.COHACC nothing is ("cohacc").
 *   - Incoming attributes of a snooped TLP: Normal Inner/Outer Write-Back, Inner Shareable ("tlp").
 *   - Stage 1 bypassed (GBPA, STE bypass, stage-2 only): with IDR1.ATTR_TYPES_OVR = 1, MTCFG = 1
 *     replaces the type with MemAttr (the stage-2 MemAttr encoding) and SHCFG != 0b01 replaces the
 *     shareability (0b00 NSH, 0b10 OSH, 0b11 ISH); with ATTR_TYPES_OVR = 0 both are ignored (spec
 *     6.3.2 IDR1.ATTR_TYPES_OVR, 5.2 STE.MTCFG/SHCFG, 6.3.14 GBPA).
 *   - Stage 1 translating: MAIR[AttrIndx] and the leaf SH replace the incoming attributes (Arm ARM
 *     D8.5 MAIR encoding: outer nibble 0 Device; nibbles 0b0100 NC, 0b00RW (RW != 0) and 0b10RW WT,
 *     0b01RW (RW != 0) and 0b11RW WB).
 *   - Stage 2 without S2FWB (Arm ARM "Combining the stage 1 and stage 2 attributes"): Device if
 *     either is Device; otherwise inner and outer cacheability each the weaker of the two (NC < WT <
 *     WB); shareability the more shareable (OSH > ISH > NSH).
 *   - Stage 2 with S2FWB (Arm ARM, FEAT_S2FWB; as QEMU target/arm/ptw.c combined_attrs_fwb reads it):
 *     MemAttr[2:0] 0b0xx Device; 0b101 Normal NC unless stage 1 gave Device (kept); 0b110 Normal
 *     Write-Back whatever stage 1 gave; 0b111 stage 1's attributes. Shareability combined as without
 *     FWB. MemAttr[3] = 1 and 0b100 are reserved and not enumerated.
 *   - Coherent ("snoop") when the result is Normal, inner and outer Write-Back, and shareable.
 *   - What decided: the source of the memory type when it is Write-Back (both nibbles Write-Back:
 *     the earliest source that gave them), else the source of its least cacheable nibble (Device:
 *     the source of the Device type), ties to the earlier source; for Write-Back but Non-shareable,
 *     the source of the shareability. A stage-2 attribute only becomes the source when it changes
 *     the result (strictly weaker cacheability, Device over Normal, strictly more shareable).
 * Reserved encodings (MAIR nibble 0b0000 under a Normal outer nibble, SH 0b01, stage-2 MemAttr
 * 0bxx00 with a Normal outer half) are not enumerated: the reference has no rule for them.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Opt } from "../../../src/core/abi.ts";
import type { Core } from "../../../src/core/core.ts";
import { platformCaches } from "../../../src/platform.ts";
import { defaultTiming } from "../../../src/config/timing.ts";
import { builds, smmu, writeSte, rd, s2Dword, IDR0, IDR1 } from "./helpers.ts";

// ---- the reference ----------------------------------------------------------------------------

type Cacheability = "NC" | "WT" | "WB";
type Shareability = "NSH" | "ISH" | "OSH";
type Source = "tlp" | "gbpa" | "ste-override" | "stage1-attr" | "stage2-attr" | "s2fwb";
/** Sources in the order a transaction meets them (ties go to the earlier). */
const ORDER: Record<Source, number> = { tlp: 0, gbpa: 1, "ste-override": 1, "stage1-attr": 2, "stage2-attr": 3, s2fwb: 3 };
const RANK: Record<Cacheability, number> = { NC: 0, WT: 1, WB: 2 };

interface Nibble {
  c: Cacheability;
  by: Source;
}
/** A memory type with where each part came from: Device (its source), or Normal inner/outer. */
type MemType = { device: Source } | { device: null; inner: Nibble; outer: Nibble };
/** Decoded attribute without a source: "Device", or [inner, outer]. */
type Decoded = "Device" | [Cacheability, Cacheability];

/** A MAIR attribute byte (Arm ARM D8.5.2); null for the reserved encodings. */
function decodeMair(attr: number): Decoded | null {
  const hi = attr >> 4, lo = attr & 0xf;
  if (hi === 0) return (lo & 3) === 0 ? "Device" : null;
  const nib = (n: number): Cacheability | null => {
    if (n === 0) return null;
    if (n === 0b0100) return "NC";
    const top = n >> 2;
    return top === 0b00 || top === 0b10 ? "WT" : "WB";
  };
  const inner = nib(lo), outer = nib(hi);
  return inner && outer ? [inner, outer] : null;
}

/** A stage-2 style MemAttr[3:0] (stage-2 descriptor without FWB, STE.MemAttr, GBPA.MemAttr). */
function decodeS2(m: number): Decoded | null {
  const half = (h: number): Cacheability | null => (h === 1 ? "NC" : h === 2 ? "WT" : h === 3 ? "WB" : null);
  if (m >> 2 === 0) return "Device";
  const inner = half(m & 3), outer = half(m >> 2);
  return inner && outer ? [inner, outer] : null;
}

function typed(d: Decoded, by: Source): MemType {
  return d === "Device" ? { device: by } : { device: null, inner: { c: d[0], by }, outer: { c: d[1], by } };
}

/** The weaker of two nibbles; the first (earlier) one on a tie. */
function weaker(a: Nibble, b: Nibble): Nibble {
  return RANK[b.c] < RANK[a.c] ? b : a;
}

function combineNoFwb(s1: MemType, s2: MemType): MemType {
  if (s1.device !== null) return s1;
  if (s2.device !== null) return s2;
  return { device: null, inner: weaker(s1.inner, s2.inner), outer: weaker(s1.outer, s2.outer) };
}

function applyFwb(s1: MemType, memAttr: number): MemType {
  if ((memAttr & 4) === 0) return { device: "s2fwb" };
  if (memAttr === 0b101) return s1.device !== null ? s1 : typed(["NC", "NC"], "s2fwb");
  if (memAttr === 0b110) return typed(["WB", "WB"], "s2fwb");
  return s1; // 0b111
}

const SH_OF: Record<number, Shareability> = { 0: "NSH", 2: "OSH", 3: "ISH" };
const SH_RANK: Record<Shareability, number> = { NSH: 0, ISH: 1, OSH: 2 };

type Config = "gbpa" | "bypass" | "s1" | "s2" | "nested";
interface Case {
  ns: boolean;
  canwbs: boolean;
  cohacc: boolean;
  ovr: boolean;
  config: Config;
  mtcfg: boolean;
  memAttr: number; // override MemAttr (MTCFG = 1)
  shcfg: number;
  mair: number; // stage-1 MAIR attribute
  s1sh: number;
  s2memAttr: number;
  s2sh: number;
  fwb: boolean;
}

function reference(k: Case): [boolean, string] {
  if (k.canwbs) return [true, "canwbs"];
  if (k.ns) return [false, "tlp"];
  if (!k.cohacc) return [false, "cohacc"];
  let t: MemType = typed(["WB", "WB"], "tlp");
  let sh: [Shareability, Source] = ["ISH", "tlp"];
  const s1 = k.config === "s1" || k.config === "nested";
  const s2 = k.config === "s2" || k.config === "nested";
  if (!s1 && k.ovr) {
    const by: Source = k.config === "gbpa" ? "gbpa" : "ste-override";
    if (k.mtcfg) t = typed(decodeS2(k.memAttr)!, by);
    if (k.shcfg !== 1) sh = [SH_OF[k.shcfg]!, by];
  }
  if (s1) {
    t = typed(decodeMair(k.mair)!, "stage1-attr");
    sh = [SH_OF[k.s1sh]!, "stage1-attr"];
  }
  if (s2) {
    t = k.fwb ? applyFwb(t, k.s2memAttr) : combineNoFwb(t, typed(decodeS2(k.s2memAttr)!, "stage2-attr"));
    const s2sh = SH_OF[k.s2sh]!;
    if (SH_RANK[s2sh] > SH_RANK[sh[0]]) sh = [s2sh, "stage2-attr"];
  }
  if (t.device !== null) return [false, t.device];
  const least = RANK[t.inner.c] < RANK[t.outer.c] ? t.inner
    : RANK[t.outer.c] < RANK[t.inner.c] ? t.outer
    : ORDER[t.outer.by] < ORDER[t.inner.by] ? t.outer : t.inner;
  if (least.c !== "WB") return [false, least.by];
  if (sh[0] === "NSH") return [false, sh[1]];
  return [true, least.by];
}

// ---- the enumeration ------------------------------------------------------------------------------

/** Stage-2 MemAttr values with a rule: every non-reserved one without FWB, MemAttr[3] = 0 and != 0b100 with FWB. */
const S2_MEMATTRS = Array.from({ length: 16 }, (_, m) => m).filter((m) => decodeS2(m) !== null); // 4 Device + 9 Normal
const FWB_MEMATTRS = [0, 1, 2, 3, 5, 6, 7];
/** MAIR attributes: the four Device types and every pair of NC, WT (transient, non-transient), WB (transient, non-transient). */
const NIBBLES = [0b0100, 0b0010, 0b1010, 0b0111, 0b1111];
const MAIRS = [0x00, 0x04, 0x08, 0x0c, ...NIBBLES.flatMap((o) => NIBBLES.map((i) => (o << 4) | i))];
const SHS = [0, 2, 3];
const OVERRIDES: [boolean, number][] = [[false, 0], ...S2_MEMATTRS.map((m): [boolean, number] => [true, m])];

function* cases(): Generator<Omit<Case, "ns" | "canwbs" | "cohacc">> {
  const none = { mtcfg: false, memAttr: 0, shcfg: 1, mair: 0, s1sh: 0, s2memAttr: 0, s2sh: 0, fwb: false };
  for (const ovr of [false, true]) {
    for (const config of ["gbpa", "bypass"] as const)
      for (const [mtcfg, memAttr] of OVERRIDES) for (const shcfg of [0, 1, 2, 3]) yield { ...none, ovr, config, mtcfg, memAttr, shcfg };
    // the STE overrides of a stage-1 STE are not used: two settings show it
    for (const [mtcfg, memAttr, shcfg] of [[false, 0, 1], [true, 0, 0]] as const)
      for (const mair of MAIRS) for (const s1sh of SHS) yield { ...none, ovr, config: "s1", mtcfg, memAttr, shcfg, mair, s1sh };
    for (const fwb of [false, true])
      for (const s2memAttr of fwb ? FWB_MEMATTRS : S2_MEMATTRS)
        for (const s2sh of SHS) {
          for (const [mtcfg, memAttr] of OVERRIDES) for (const shcfg of [0, 1, 2, 3]) yield { ...none, ovr, config: "s2", mtcfg, memAttr, shcfg, s2memAttr, s2sh, fwb };
          for (const mair of MAIRS) for (const s1sh of SHS) yield { ...none, ovr, config: "nested", mair, s1sh, s2memAttr, s2sh, fwb };
        }
  }
}

// ---- the unit ------------------------------------------------------------------------------------

const COHACC = 1n << 4n;
const ATTR_TYPES_OVR = 1n << 27n;
const CD_AT = 0x20000n;
const S1_L1 = 0x30000n, S1_L2 = 0x31000n, S1_L3 = 0x32000n;
const S2_ROOT = 0x110000n;
/** CD dword 0: T0SZ 25, TG0 4K, EPD1, V, IPS 48 bits, AA64, R, A, ASID 7. */
const CD0 = 0x0007_6205_c000_0019n;
/** VA 0x40201000 -> L1[1] -> L2[1] -> L3[1]: PA (IPA when nested) 0x55555000, AttrIndx 1, AP[1], AF. */
const VA = 0x4020_1000n;
const PA = 0x5555_5000n;
const s1Leaf = (sh: number) => PA | 0x447n | (BigInt(sh) << 8n);
/** Stage 2 at level 1 (S2T0SZ 32, S2SL0 1): [0] identity 1 GiB block, WB inner; [1] identity 1 GiB block under test. */
const s2Block = (base: bigint, memAttr: number, sh: number) => base | 0x4c1n | (BigInt(memAttr) << 2n) | (BigInt(sh) << 8n);

function unit(build: (typeof builds)[number]): Core {
  const core = smmu(build);
  // no caches: every case rewrites the structures and tables in place
  core.configure(platformCaches("vtd-default", "off"), { ...defaultTiming, enable: false });
  for (const p of [CD_AT, S1_L1, S1_L2, S1_L3, S2_ROOT]) core.zeroPage(p);
  core.write64(S1_L1 + 8n, S1_L2 | 3n);
  core.write64(S1_L2 + 8n, S1_L3 | 3n);
  core.write64(S2_ROOT, s2Block(0n, 0xf, 3));
  return core;
}

function program(core: Core, k: Omit<Case, "ns" | "canwbs" | "cohacc">): void {
  core.setRegister("IDR1", k.ovr ? IDR1 | ATTR_TYPES_OVR : IDR1);
  const ovr = (k.mtcfg ? 1n << 4n : 0n) | BigInt(k.memAttr) | (BigInt(k.shcfg) << 12n); // GBPA MTCFG 4, MemAttr 3:0, SHCFG 13:12
  if (k.config === "gbpa") {
    core.setRegister("CR0", 0n);
    core.setRegister("GBPA", ovr);
    return;
  }
  core.setRegister("CR0", 0x5n);
  core.setRegister("GBPA", 0n);
  core.writeQwords(CD_AT, [CD0, S1_L1, 0n, BigInt(k.mair) << 8n]);
  core.write64(S1_L3 + 8n, s1Leaf(k.s1sh));
  core.write64(S2_ROOT + 8n, s2Block(0x4000_0000n, k.s2memAttr, k.s2sh));
  // STE dword 1: S2FWB 25, MemAttr 35:32, MTCFG 36, SHCFG 45:44
  const d1 = (k.fwb ? 1n << 25n : 0n) | (k.mtcfg ? 1n << 36n : 0n) | (BigInt(k.memAttr) << 32n) | (BigInt(k.shcfg) << 44n);
  const d0 = { bypass: 0x9n, s1: CD_AT | 0xbn, s2: 0xdn, nested: CD_AT | 0xfn }[k.config];
  writeSte(core, 1, [d0, d1, s2Dword(), S2_ROOT]);
}

for (const build of builds) {
  const test = suite(`smmuv3 coherency reference [${build}]`);

  test("snoop and snoopBy agree with the reference over every combination of the inputs", () => {
    const core = unit(build);
    const all = [...cases()];
    // per ATTR_TYPES_OVR setting: GBPA and STE bypass 2 x 14 x 4 = 112; stage 1 2 x 29 x 3 = 174;
    // stage 2 (13 + 7) x 3 x 14 x 4 = 3360; nested (13 + 7) x 3 x 29 x 3 = 5220: 8866, twice
    assert.is(all.length, 17732);
    const wrong: string[] = [];
    let checked = 0;
    for (const canwbs of [false, true]) {
      core.setOptions({ physAddrBits: 48, options: canwbs ? Opt.CANWBS : 0, pgsnpNoSc: 0 });
      for (const cohacc of [false, true]) {
        core.setRegister("IDR0", cohacc ? IDR0 | COHACC : IDR0 & ~COHACC);
        for (const k of all) {
          program(core, k);
          const addr = k.config === "s1" || k.config === "nested" ? VA : PA;
          const r = core.translate([rd(1, addr), rd(1, addr, { ns: true })]);
          for (const [i, ns] of [false, true].entries()) {
            const got = r[i]!;
            const want = reference({ ...k, ns, canwbs, cohacc });
            checked++;
            if (got.status !== "ok" || got.pa !== PA || got.snoop !== want[0] || got.snoopBy !== want[1])
              wrong.push(`${JSON.stringify({ ...k, ns, canwbs, cohacc })}: core ${got.status} ${got.snoop} ${got.snoopBy}, reference ${want[0]} ${want[1]}`);
          }
        }
      }
    }
    assert.is(checked, 17732 * 8);
    assert.equal(wrong.slice(0, 12), [], `${wrong.length} disagreements`);
  });

  test("the reference itself, on hand-picked cases", () => {
    const base: Case = { ns: false, canwbs: false, cohacc: true, ovr: true, config: "nested", mtcfg: false, memAttr: 0, shcfg: 1, mair: 0xff, s1sh: 3, s2memAttr: 0xf, s2sh: 3, fwb: false };
    assert.equal(reference(base), [true, "stage1-attr"]);
    // stage-2 Normal NC wins over stage-1 WB
    assert.equal(reference({ ...base, s2memAttr: 0b0101 }), [false, "stage2-attr"]);
    // stage 1 Device-nGnRE; FWB 0b110 forces Write-Back; FWB 0b101 keeps stage 1's Device
    assert.equal(reference({ ...base, mair: 0x04, fwb: true, s2memAttr: 0b110 }), [true, "s2fwb"]);
    assert.equal(reference({ ...base, mair: 0x04, fwb: true, s2memAttr: 0b101 }), [false, "stage1-attr"]);
    assert.equal(reference({ ...base, mair: 0xff, fwb: true, s2memAttr: 0b101 }), [false, "s2fwb"]);
    // outer NC (stage 1) and inner WT (stage 2): the least cacheable nibble decides
    assert.equal(reference({ ...base, mair: 0x4f, s2memAttr: 0b1110 }), [false, "stage1-attr"]);
    // Non-shareable at both stages; stage 2 Outer Shareable makes it shareable
    assert.equal(reference({ ...base, s1sh: 0, s2sh: 0 }), [false, "stage1-attr"]);
    assert.equal(reference({ ...base, s1sh: 0, s2sh: 2 }), [true, "stage1-attr"]);
    // bypass with an SHCFG Non-shareable override; ignored without ATTR_TYPES_OVR
    assert.equal(reference({ ...base, config: "bypass", shcfg: 0 }), [false, "ste-override"]);
    assert.equal(reference({ ...base, config: "bypass", shcfg: 0, ovr: false }), [true, "tlp"]);
    assert.equal(reference({ ...base, ns: true }), [false, "tlp"]);
    assert.equal(reference({ ...base, ns: true, canwbs: true }), [true, "canwbs"]);
  });

  test.run();
}
