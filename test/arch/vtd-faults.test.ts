/**
 * One test (at least) for every VT-d fault reason the core emits (src/core/abi.ts `vtdFaults`),
 * plus fault-processing-disable (FPD) behaviour, on both builds of the core.
 *
 * Method: the builder writes a healthy configuration (Linux-style root/context/PASID structures and
 * page tables; baseline tests below check that each fixture translates), then each scenario breaks
 * exactly one thing, by corrupting one qword with `core.write64`, by choosing a capability/option,
 * or by choosing the request, and sends one request. Every scenario asserts status "fault", the
 * exact reason code, its condition ID (`fault.name`) and `fault.recorded`.
 *
 * Each scenario runs twice: with FPD=0 (every fault is recorded) and with FPD=1 set by the driver
 * (attach `fpd: true`: context entry and PASID-table entry; for "entry absent" scenarios the test
 * writes FPD=1 into the otherwise empty entry). With FPD=1 the request is still blocked, and the
 * fault is recorded iff it is not "qualified" (spec 7.1.2 / 7.2.2; vtd.md 2.10). Faults found
 * before any FPD bit can be read (RTADDR, root table, unreadable context table) are recorded
 * either way. Separate tests check each FPD source on its own (context, PASID directory, PASID
 * entry), including FPD in entries whose P bit is clear.
 *
 * Scenarios marked [spec] assert the spec behaviour where the model is believed to deviate from it
 * (see the notes on those scenarios); they are expected to fail until the core is fixed.
 *
 * Structure layouts: shared/spec/vtd.md 2.5-2.9. Fault codes and IDs: vtd.md 2.10.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform, type PlatformOptions } from "../../src/platform.ts";
import type { CoreBuild, Request, Result } from "../../src/core/core.ts";
import { vtdFaults, vtdFaultByCode } from "../../src/core/abi.ts";
import { DEFAULT_CAP, DEFAULT_ECAP, capFields, ecapFields, setField, type CapField, type EcapField } from "../../src/arch/vtd/registers.ts";
import type { AttachSpec, Domain, MapOptions } from "../../src/arch/vtd/builder.ts";

// ---- constants ------------------------------------------------------------------------------------

const bit = (n: number) => 1n << BigInt(n);
const hex = (v: number | bigint) => `0x${v.toString(16)}`;
/** Table address in an entry or pointer (bits 51:12). */
const tbl = (e: bigint) => e & ((1n << 52n) - 1n) & ~0xfffn;

const PAGE = 1n << 12n;
const M2 = 1n << 21n;
const G1 = 1n << 30n;

const SID = 0x0100; // bus 1, device 0, function 0
const SID_FN1 = 0x0108; // bus 1, devfn 0x08: same context table, never attached
const SID_HI = 0x0188; // bus 1, devfn 0x88: upper context table in scalable mode
const SID_BUS2 = 0x0200; // a bus without a root entry
const PASID = 5;
const PASID_NO_ENTRY = 6; // same PASID table as PASID, entry never written
const PASID_NO_DIR = 7 << 6; // PASID-directory entry 7, never written

const IOVA = 0x4000_1000n; // the one mapped page
const IOVA2 = IOVA + PAGE; // same leaf table, leaf entry empty
const FAR = 0x7f00_0000_0000n; // top-level entry empty (canonical for 4-level first stage)
const PA = 0x8000_0000n; // output (or nested: guest-physical) address; never read
const HPA = 0x9000_0000n; // nested: host-physical address of PA
const UNWRITTEN = 0x7000_0000n; // a guest-physical page nobody wrote: reads are access errors
const INT_ADDR = 0xfee0_0000n;

// first-stage and second-stage entry bits (vtd.md 2.9)
const FS_P = bit(0), FS_RW = bit(1), FS_US = bit(2), FS_A = bit(5), FS_D = bit(6);
const FS_TABLE = FS_P | FS_RW | FS_US | FS_A; // what the builder writes in non-leaf entries
const SS_R = bit(0), SS_W = bit(1);
const PS = bit(7);
const TM = bit(62);
const SNP = bit(11);
const FPD = bit(1);

function cap(fields: Partial<Record<CapField, bigint>>): bigint {
  let v = DEFAULT_CAP;
  for (const [k, x] of Object.entries(fields)) v = setField(v, capFields[k as CapField], x!);
  return v;
}
function ecap(fields: Partial<Record<EcapField, bigint>>): bigint {
  let v = DEFAULT_ECAP;
  for (const [k, x] of Object.entries(fields)) v = setField(v, ecapFields[k as EcapField], x!);
  return v;
}

// ---- fixtures -------------------------------------------------------------------------------------

interface Env {
  build: CoreBuild;
  /** The driver sets FPD (attach `fpd: true`, or FPD in an entry the scenario writes itself). */
  fpd: boolean;
}

interface Setup {
  plat?: PlatformOptions;
  levels?: number;
  iova?: bigint;
  /** Where the IOVA maps (nested: the guest-physical address). */
  to?: bigint;
  map?: MapOptions;
  attach?: Partial<AttachSpec>;
  presetAccessed?: boolean;
  /** Nested: stage-2 mapping options for the final GPA, its host address, or no mapping at all. */
  s2map?: MapOptions;
  hpa?: bigint;
  noS2Map?: boolean;
}

/** A platform with helpers to find and corrupt the structures the builder wrote. */
class Fx {
  constructor(
    readonly p: VtdPlatform,
    readonly d?: Domain,
    readonly parent?: Domain,
  ) {}

  get sm(): boolean {
    return this.p.builder.mode === "scalable";
  }
  q(pa: bigint): bigint {
    const v = this.p.core.read64(pa);
    if (v === undefined) throw new Error(`test read of unwritten guest memory at ${hex(pa)}`);
    return v;
  }
  set(pa: bigint, v: bigint): void {
    this.p.core.write64(pa, v);
  }
  or(pa: bigint, bits: bigint): void {
    this.set(pa, this.q(pa) | bits);
  }
  clear(pa: bigint, bits: bigint): void {
    this.set(pa, this.q(pa) & ~bits);
  }
  /** Replaces the address field (bits 63:12) of the qword at `pa`, keeping bits 11:0. */
  repoint(pa: bigint, to: bigint): void {
    this.set(pa, (this.q(pa) & 0xfffn) | to);
  }
  rtaddr(ttm: bigint): void {
    this.p.core.setRegister("RTADDR", this.p.builder.root() | (ttm << 10n));
  }

  /** The root-entry qword for `sid` (scalable mode: the LCTP or UCTP half). */
  rootEntry(sid = SID): bigint {
    const bus = sid >> 8, devfn = sid & 0xff;
    return this.p.builder.root() + BigInt(bus * 16 + (this.sm && devfn >= 0x80 ? 8 : 0));
  }
  context(sid = SID): bigint {
    const devfn = sid & 0xff;
    return tbl(this.q(this.rootEntry(sid))) + BigInt(this.sm ? (devfn & 0x7f) * 32 : devfn * 16);
  }
  pasidDirEntry(pasid = PASID, sid = SID): bigint {
    return tbl(this.q(this.context(sid))) + BigInt((pasid >> 6) * 8);
  }
  pasidEntry(pasid = PASID, sid = SID): bigint {
    return tbl(this.q(this.pasidDirEntry(pasid, sid))) + BigInt((pasid & 63) * 64);
  }

  /** Entry addresses a walk of `va` reads in `d`'s tables, top level first, down to the leaf. */
  slots(va = IOVA, d: Domain = this.d!): bigint[] {
    const fs = d.type === "fs" || d.type === "nested";
    const out: bigint[] = [];
    let table = d.root;
    for (let level = d.levels - 1; level >= 0; level--) {
      const slot = table + ((va >> BigInt(12 + 9 * level)) & 511n) * 8n;
      out.push(slot);
      const e = this.q(slot);
      const present = fs ? (e & FS_P) !== 0n : (e & (SS_R | SS_W)) !== 0n;
      if (!present || level === 0 || (e & PS) !== 0n) break;
      table = tbl(e);
    }
    return out;
  }
  leaf(va = IOVA): bigint {
    return this.slots(va).at(-1)!;
  }
  /** Nested: the first-stage table pages a walk of `va` reads (GPA = PA), top level first. */
  fsTablePages(va = IOVA): bigint[] {
    return this.slots(va).map((s) => s & ~0xfffn);
  }
  /** Nested: the stage-2 leaf entry that maps guest-physical page `gpa`. */
  s2Leaf(gpa: bigint): bigint {
    const { slot } = this.p.builder.findLeaf(this.parent!, gpa);
    if (slot === undefined) throw new Error(`GPA ${hex(gpa)} is not mapped in stage 2`);
    return slot;
  }

  tr(r: Request): Result {
    return this.p.translateOne(r);
  }
}

function platform(env: Env, s: Setup, mode: "legacy" | "scalable"): VtdPlatform {
  return new VtdPlatform({ caches: "off", build: env.build, mode, ...s.plat });
}

/** Attaches `domain` to SID for requests without PASID (RID_PASID) and with PASID. */
function attachBoth(p: VtdPlatform, domain: number, env: Env, extra: Partial<AttachSpec> = {}): void {
  const a: AttachSpec = { sid: SID, domain, fpd: env.fpd, ...extra };
  p.builder.attach(a);
  p.builder.attach({ ...a, pasid: PASID });
}

/** Legacy mode, second-stage domain (4-level unless `levels`), one 4 KiB page. */
function legacy(env: Env, s: Setup = {}): Fx {
  const p = platform(env, s, "legacy");
  const d = p.builder.createDomain({ id: 1, type: "ss", levels: s.levels ?? 4 });
  p.builder.map(d, s.iova ?? IOVA, s.to ?? PA, s.map?.pageSize ?? PAGE, s.map);
  p.builder.attach({ sid: SID, domain: 1, fpd: env.fpd, ...s.attach });
  p.enable();
  return new Fx(p, d);
}

/** Legacy mode, pass-through context (TT=10). */
function legacyPt(env: Env, s: Setup = {}): Fx {
  const p = platform(env, s, "legacy");
  p.builder.createDomain({ id: 1, type: "pt" });
  p.builder.attach({ sid: SID, domain: 1, fpd: env.fpd, ...s.attach });
  p.enable();
  return new Fx(p);
}

/** Scalable mode, second-stage-only PASID entries (PGTT=010). */
function smSs(env: Env, s: Setup = {}): Fx {
  const p = platform(env, s, "scalable");
  const d = p.builder.createDomain({ id: 1, type: "ss", levels: s.levels ?? 4 });
  p.builder.map(d, s.iova ?? IOVA, s.to ?? PA, s.map?.pageSize ?? PAGE, s.map);
  attachBoth(p, 1, env, s.attach);
  p.enable();
  return new Fx(p, d);
}

/** Scalable mode, first-stage-only PASID entries (PGTT=001). */
function smFs(env: Env, s: Setup = {}): Fx {
  const p = platform(env, s, "scalable");
  const spec = { id: 1, type: "fs" as const, levels: s.levels ?? 4, ...(s.presetAccessed === undefined ? {} : { presetAccessed: s.presetAccessed }) };
  const d = p.builder.createDomain(spec);
  p.builder.map(d, s.iova ?? IOVA, s.to ?? PA, s.map?.pageSize ?? PAGE, s.map);
  attachBoth(p, 1, env, s.attach);
  p.enable();
  return new Fx(p, d);
}

/** Scalable mode, nested PASID entries (PGTT=011): FS domain 2 over SS domain 1 (4-level). */
function smNested(env: Env, s: Setup = {}): Fx {
  const p = platform(env, s, "scalable");
  const parent = p.builder.createDomain({ id: 1, type: "ss", levels: 4 });
  const spec = { id: 2, type: "nested" as const, parent: 1, ...(s.presetAccessed === undefined ? {} : { presetAccessed: s.presetAccessed }) };
  const d = p.builder.createDomain(spec);
  const gpa = s.to ?? PA;
  p.builder.map(d, s.iova ?? IOVA, gpa, PAGE, s.map);
  if (!s.noS2Map) p.builder.map(parent, gpa, s.hpa ?? HPA, PAGE, s.s2map);
  attachBoth(p, 2, env, s.attach);
  p.enable();
  return new Fx(p, d, parent);
}

/** Scalable mode, pass-through PASID entries (PGTT=100). */
function smPt(env: Env, s: Setup = {}): Fx {
  const p = platform(env, s, "scalable");
  p.builder.createDomain({ id: 1, type: "pt" });
  attachBoth(p, 1, env, s.attach);
  p.enable();
  return new Fx(p);
}

// ---- requests -------------------------------------------------------------------------------------

const rd = (o: Partial<Request> = {}): Request => ({ op: "MRd", sid: SID, addr: IOVA, ...o });
const wr = (o: Partial<Request> = {}): Request => ({ op: "MWr", sid: SID, addr: IOVA, ...o });
const ats = (o: Partial<Request> = {}): Request => ({ op: "ATS", sid: SID, addr: IOVA, ...o });
const P = { pasid: PASID };

// ---- scenarios ------------------------------------------------------------------------------------

interface Scenario {
  code: number;
  what: string;
  run(env: Env): Result;
}
const scenarios: Scenario[] = [];
function sc(code: number, what: string, run: (env: Env) => Result): void {
  if (!vtdFaultByCode.has(code)) throw new Error(`scenario for ${hex(code)}, which is not in vtdFaults`);
  scenarios.push({ code, what, run });
}

// ---- RTADDR (spec 10.4.6 TTM; 7.2.3 RTA.x) ----

sc(0x30, "RTADDR.TTM=10b (reserved), scalable platform", (env) => {
  const fx = smSs(env);
  fx.rtaddr(2n);
  return fx.tr(rd());
});
sc(0x30, "RTADDR.TTM=10b (reserved), legacy platform", (env) => {
  const fx = legacy(env);
  fx.rtaddr(2n);
  return fx.tr(rd());
});
sc(0x30, "RTADDR.TTM=11b (abort-DMA) without ECAP.ADMS", (env) => {
  const fx = smSs(env);
  fx.rtaddr(3n);
  return fx.tr(rd(P));
});
// [spec] RTA.1.3: TTM=01b on hardware without scalable-mode support (ECAP.SMTS=0). The model never
// decodes ECAP.SMTS and walks scalable-mode structures anyway (VirtualBox DevIommuIntel.cpp
// dmarDrMemReqRemap: kDmarDiag_At_Rta_Smts_Not_Supported -> VTDATFAULT_RTA_1_3).
sc(0x30, "[spec] RTADDR.TTM=01b (scalable) with ECAP.SMTS=0", (env) => {
  const fx = smSs(env, { plat: { ecap: ecap({ SMTS: 0n }) } });
  return fx.tr(rd());
});
sc(0x31, "legacy mode (TTM=00b), request with PASID", (env) => legacy(env).tr(rd(P)));
sc(0x31, "legacy mode, request with PASID to an unmapped IOVA", (env) => legacy(env).tr(wr({ ...P, addr: FAR })));

// ---- legacy root entries (spec 9.1; LRT.x) ----

sc(0x8, "root table not readable (RTADDR at unwritten memory)", (env) => {
  const fx = legacy(env);
  fx.p.core.setRegister("RTADDR", UNWRITTEN);
  return fx.tr(rd());
});
sc(0x1, "no root entry for the bus", (env) => legacy(env).tr(rd({ sid: SID_BUS2 })));
sc(0x1, "root entry P cleared", (env) => {
  const fx = legacy(env);
  fx.clear(fx.rootEntry(), 1n);
  return fx.tr(rd());
});
sc(0xa, "root entry upper qword (all reserved) nonzero", (env) => {
  const fx = legacy(env);
  fx.set(fx.rootEntry() + 8n, 1n);
  return fx.tr(rd());
});
sc(0xa, "root entry bit 1 set", (env) => {
  const fx = legacy(env);
  fx.or(fx.rootEntry(), bit(1));
  return fx.tr(rd());
});
sc(0xa, "root entry CTP above HAW (physAddrBits 40)", (env) => {
  const fx = legacy(env, { plat: { physAddrBits: 40 } });
  fx.or(fx.rootEntry(), bit(45));
  return fx.tr(rd());
});

// ---- legacy context entries (spec 9.3; LCT.x) ----

sc(0x9, "context table not readable (CTP at unwritten memory)", (env) => {
  const fx = legacy(env);
  fx.set(fx.rootEntry(), UNWRITTEN | 1n);
  return fx.tr(rd());
});
sc(0x2, "context entry of another function never written", (env) => {
  const fx = legacy(env);
  fx.set(fx.context(SID_FN1), env.fpd ? FPD : 0n);
  return fx.tr(rd({ sid: SID_FN1 }));
});
sc(0x2, "context entry P cleared", (env) => {
  const fx = legacy(env);
  fx.clear(fx.context(), 1n);
  return fx.tr(wr());
});
sc(0xb, "context entry bit 4 (reserved) set", (env) => {
  const fx = legacy(env);
  fx.or(fx.context(), bit(4));
  return fx.tr(rd());
});
sc(0xb, "context entry bit 71 (reserved) set", (env) => {
  const fx = legacy(env);
  fx.or(fx.context() + 8n, bit(7));
  return fx.tr(rd());
});
sc(0xb, "context entry bit 104 (above DID) set", (env) => {
  const fx = legacy(env);
  fx.or(fx.context() + 8n, bit(40));
  return fx.tr(rd());
});
sc(0xb, "context entry SSPTPTR above HAW (physAddrBits 40)", (env) => {
  const fx = legacy(env, { plat: { physAddrBits: 40 } });
  fx.or(fx.context(), bit(45));
  return fx.tr(rd());
});
sc(0x3, "AW=1 (3-level) not in CAP.SAGAW=0xC", (env) => legacy(env, { levels: 3 }).tr(rd()));
sc(0x3, "AW=4 (reserved encoding)", (env) => {
  const fx = legacy(env);
  fx.set(fx.context() + 8n, (fx.q(fx.context() + 8n) & ~7n) | 4n);
  return fx.tr(rd());
});
sc(0x3, "TT=11b (reserved)", (env) => {
  const fx = legacy(env);
  fx.or(fx.context(), 3n << 2n);
  return fx.tr(rd());
});
sc(0x3, "TT=01b (device-TLB) with ECAP.DT=0", (env) => legacy(env, { plat: { ecap: ecap({ DT: 0n }) }, attach: { ats: true } }).tr(rd()));
sc(0x3, "TT=10b (pass-through) with ECAP.PT=0", (env) => legacyPt(env, { plat: { ecap: ecap({ PT: 0n }) } }).tr(rd()));
// [spec] LCT.4.3: "hardware attempt to access the second-stage paging entry referenced through the
// SSPTPTR field resulted in error" is an invalid-context-entry fault (0x3) in legacy mode, not
// LSL.1 (VirtualBox dmarDrSecondLevelTranslate: a failed read of the page at SLPTPTR ->
// kDmarDiag_At_Xm_Slpptr_Read_Failed -> VTDATFAULT_LCT_4_3 in legacy mode). The model reports LSL.1.
sc(0x3, "[spec] SSPTPTR points at unreadable memory (LCT.4.3)", (env) => {
  const fx = legacy(env);
  fx.repoint(fx.context(), UNWRITTEN);
  return fx.tr(rd());
});
sc(0xd, "ATS translation request with TT=00b", (env) => legacy(env).tr(ats()));
sc(0xd, "translated request (AT=10b) with TT=00b", (env) => legacy(env).tr(rd({ translated: true })));
sc(0xd, "ATS translation request with TT=10b (pass-through)", (env) => legacyPt(env).tr(ats()));

// ---- legacy second-stage walk (spec 3.7; LGN.x, LSL.x) ----

sc(0x4, "IOVA 2^48 with a 4-level table", (env) => legacy(env).tr(rd({ addr: 1n << 48n })));
sc(0x4, "IOVA 2^40 with CAP.MGAW+1 = 40 bits (4-level table)", (env) =>
  legacy(env, { plat: { cap: cap({ MGAW: 39n }) } }).tr(wr({ addr: 1n << 40n })),
);
sc(0x5, "write to a read-only page", (env) => legacy(env, { map: { write: false } }).tr(wr()));
sc(0x5, "write through an empty leaf entry (R=W=0)", (env) => legacy(env).tr(wr({ addr: IOVA2 })));
sc(0x5, "write through an empty top-level entry", (env) => legacy(env).tr(wr({ addr: FAR })));
sc(0x5, "write with W=0 in a non-leaf entry only", (env) => {
  const fx = legacy(env);
  fx.clear(fx.slots()[1]!, SS_W);
  return fx.tr(wr());
});
sc(0x6, "read of a write-only page", (env) => legacy(env, { map: { read: false, write: true } }).tr(rd()));
sc(0x6, "read through an empty leaf entry (R=W=0)", (env) => legacy(env).tr(rd({ addr: IOVA2 })));
sc(0x7, "PML4E points at unreadable memory", (env) => {
  const fx = legacy(env);
  fx.set(fx.slots()[0]!, UNWRITTEN | SS_R | SS_W);
  return fx.tr(rd());
});
sc(0x7, "PDE points at unreadable memory", (env) => {
  const fx = legacy(env);
  fx.set(fx.slots()[2]!, UNWRITTEN | SS_R | SS_W);
  return fx.tr(wr());
});
sc(0xc, "TM (bit 62, reserved) in the leaf", (env) => {
  const fx = legacy(env);
  fx.or(fx.leaf(), TM);
  return fx.tr(rd());
});
sc(0xc, "SNP (bit 11) in a non-leaf entry", (env) => {
  const fx = legacy(env);
  fx.or(fx.slots()[1]!, SNP);
  return fx.tr(rd());
});
sc(0xc, "PS in the PML4E", (env) => {
  const fx = legacy(env);
  fx.or(fx.slots()[0]!, PS);
  return fx.tr(rd());
});
sc(0xc, "leaf address above HAW (physAddrBits 40)", (env) => legacy(env, { plat: { physAddrBits: 40 }, to: 1n << 41n }).tr(rd()));
sc(0xc, "SNP in the leaf with ECAP.SC=0 and snpReservedWithoutSc", (env) =>
  legacy(env, { plat: { ecap: ecap({ SC: 0n }), snoop: { snpReservedWithoutSc: true } }, map: { snp: true } }).tr(rd()),
);
sc(0xc, "2 MiB leaf with CAP.SSLPS=0", (env) =>
  legacy(env, { plat: { cap: cap({ SSLPS: 0n }) }, iova: 0x4020_0000n, to: 0x8020_0000n, map: { pageSize: M2 } }).tr(rd({ addr: 0x4020_0000n })),
);
sc(0xe, "read: IOVA maps to 0xFEE00000", (env) => legacy(env, { to: INT_ADDR }).tr(rd()));
sc(0xe, "write: IOVA maps to 0xFEE00000", (env) => legacy(env, { to: INT_ADDR }).tr(wr({ addr: IOVA + 0x10n })));

// ---- scalable-mode root entries (spec 9.2; SRT.x) ----

sc(0x38, "root table not readable (RTADDR at unwritten memory)", (env) => {
  const fx = smSs(env);
  fx.p.core.setRegister("RTADDR", UNWRITTEN | (1n << 10n));
  return fx.tr(rd(P));
});
sc(0x39, "no root entry for the bus", (env) => smSs(env).tr(rd({ sid: SID_BUS2 })));
sc(0x39, "UP clear for devfn 0x88 while LP is set", (env) => smSs(env).tr(rd({ sid: SID_HI })));
sc(0x39, "LP cleared", (env) => {
  const fx = smSs(env);
  fx.clear(fx.rootEntry(), 1n);
  return fx.tr(rd(P));
});
sc(0x3a, "lower half bit 1 set", (env) => {
  const fx = smSs(env);
  fx.or(fx.rootEntry(), bit(1));
  return fx.tr(rd());
});
sc(0x3a, "upper half bit 69 set, request from devfn 0x88", (env) => {
  const fx = smSs(env);
  fx.p.builder.attach({ sid: SID_HI, domain: 1, fpd: env.fpd });
  fx.or(fx.rootEntry(SID_HI), bit(5));
  return fx.tr(rd({ sid: SID_HI }));
});
sc(0x3a, "LCTP above HAW (physAddrBits 40)", (env) => {
  const fx = smSs(env, { plat: { physAddrBits: 40 } });
  fx.or(fx.rootEntry(), bit(45));
  return fx.tr(rd(P));
});

// ---- scalable-mode context entries (spec 9.4; SCT.x) ----

sc(0x40, "lower context table not readable", (env) => {
  const fx = smSs(env);
  fx.set(fx.rootEntry(), UNWRITTEN | 1n);
  return fx.tr(rd());
});
sc(0x40, "upper context table not readable (devfn 0x88)", (env) => {
  const fx = smSs(env);
  fx.set(fx.rootEntry(SID_HI), UNWRITTEN | 1n);
  return fx.tr(rd({ sid: SID_HI, pasid: PASID }));
});
sc(0x41, "context entry of another function never written", (env) => {
  const fx = smSs(env);
  fx.set(fx.context(SID_FN1), env.fpd ? FPD : 0n);
  return fx.tr(rd({ sid: SID_FN1 }));
});
sc(0x41, "context entry P cleared", (env) => {
  const fx = smSs(env);
  fx.clear(fx.context(), 1n);
  return fx.tr(rd(P));
});
sc(0x42, "bit 5 (reserved) set", (env) => {
  const fx = smSs(env);
  fx.or(fx.context(), bit(5));
  return fx.tr(rd());
});
sc(0x42, "bit 85 (reserved) set", (env) => {
  const fx = smSs(env);
  fx.or(fx.context() + 8n, bit(21));
  return fx.tr(rd(P));
});
sc(0x42, "qword 2 (reserved) nonzero", (env) => {
  const fx = smSs(env);
  fx.set(fx.context() + 16n, 1n);
  return fx.tr(rd());
});
sc(0x42, "qword 3 (reserved) nonzero", (env) => {
  const fx = smSs(env);
  fx.set(fx.context() + 24n, bit(63));
  return fx.tr(rd(P));
});
sc(0x42, "RID_PRIV set with ECAP.RPRIVS=0", (env) => {
  const fx = smSs(env);
  fx.or(fx.context() + 8n, bit(20));
  return fx.tr(rd());
});
sc(0x42, "RID_PASID nonzero with ECAP.RPS=0", (env) => {
  const fx = smSs(env, { plat: { ecap: ecap({ RPS: 0n }) } });
  fx.or(fx.context() + 8n, 5n);
  return fx.tr(rd());
});
sc(0x42, "PASIDDIRPTR above HAW (physAddrBits 40)", (env) => {
  const fx = smSs(env, { plat: { physAddrBits: 40 } });
  fx.or(fx.context(), bit(45));
  return fx.tr(rd());
});
sc(0x43, "DTE=1 with ECAP.DT=0", (env) => smSs(env, { plat: { ecap: ecap({ DT: 0n }) }, attach: { ats: true } }).tr(rd()));
sc(0x43, "PRE=1 with ECAP.PRS=0", (env) => smSs(env, { plat: { ecap: ecap({ PRS: 0n }) }, attach: { pri: true } }).tr(rd(P)));
sc(0x43, "PASIDE=1 with ECAP.PASID=0", (env) => {
  const fx = smSs(env, { plat: { ecap: ecap({ PASID: 0n }) } });
  fx.or(fx.context(), bit(3));
  return fx.tr(rd());
});
sc(0x44, "ATS translation request with DTE=0", (env) => smSs(env).tr(ats()));
sc(0x44, "ATS translation request with PASID, DTE=0", (env) => smSs(env).tr(ats(P)));
sc(0x44, "translated request (AT=10b) with DTE=0", (env) => smSs(env).tr(wr({ translated: true })));
sc(0x45, "PASIDE cleared, request with PASID", (env) => {
  const fx = smSs(env);
  fx.clear(fx.context(), bit(3));
  return fx.tr(rd(P));
});
sc(0x45, "ECAP.PASID=0 (driver leaves PASIDE clear), request with PASID", (env) =>
  smSs(env, { plat: { ecap: ecap({ PASID: 0n }) } }).tr(wr(P)),
);
sc(0x46, "PASID 8192 with a 128-entry directory (PDTS=0)", (env) => smSs(env, { attach: { pasidBits: 7 } }).tr(rd({ pasid: 8192 })));
sc(0x46, "PASID 0xFFFFF with a 128-entry directory", (env) => smSs(env, { attach: { pasidBits: 7 } }).tr(wr({ pasid: 0xfffff })));

// ---- PASID directory (spec 9.5; SPD.x) ----

sc(0x50, "PASID directory not readable, request with PASID", (env) => {
  const fx = smSs(env);
  fx.repoint(fx.context(), UNWRITTEN);
  return fx.tr(rd(P));
});
sc(0x50, "PASID directory not readable, request without PASID (RID_PASID)", (env) => {
  const fx = smSs(env);
  fx.repoint(fx.context(), UNWRITTEN);
  return fx.tr(rd());
});
sc(0x51, "directory entry never written", (env) => smSs(env).tr(rd({ pasid: PASID_NO_DIR })));
sc(0x51, "directory entry P cleared", (env) => {
  const fx = smSs(env);
  fx.clear(fx.pasidDirEntry(), 1n);
  return fx.tr(rd(P));
});
sc(0x52, "directory entry bit 2 (reserved) set", (env) => {
  const fx = smSs(env);
  fx.or(fx.pasidDirEntry(), bit(2));
  return fx.tr(rd(P));
});
sc(0x52, "directory entry table pointer above HAW (physAddrBits 40)", (env) => {
  const fx = smSs(env, { plat: { physAddrBits: 40 } });
  fx.or(fx.pasidDirEntry(), bit(45));
  return fx.tr(rd());
});

// ---- PASID-table entries (spec 9.6; SPT.x) ----

sc(0x58, "PASID table not readable", (env) => {
  const fx = smSs(env);
  fx.set(fx.pasidDirEntry(), UNWRITTEN | 1n);
  return fx.tr(rd(P));
});
sc(0x59, "PASID entry never written", (env) => smSs(env).tr(rd({ pasid: PASID_NO_ENTRY })));
sc(0x59, "PASID entry P cleared", (env) => {
  const fx = smSs(env);
  fx.clear(fx.pasidEntry(), 1n);
  return fx.tr(rd(P));
});
sc(0x59, "RID_PASID entry P cleared, request without PASID", (env) => {
  const fx = smFs(env);
  fx.clear(fx.pasidEntry(0), 1n);
  return fx.tr(rd());
});
for (const [off, b, what] of [
  [0n, 10, "qword 0 bit 10"],
  [8n, 16, "qword 1 bit 16 (bits 86:80)"],
  [16n, 8, "qword 2 bit 8 (bits 139:136)"],
  [24n, 0, "qword 3"],
  [56n, 63, "qword 7"],
] as const) {
  sc(0x5a, `reserved bit set: ${what}`, (env) => {
    const fx = smSs(env);
    fx.or(fx.pasidEntry() + off, bit(b));
    return fx.tr(rd(P));
  });
}
sc(0x5a, "PGSNP=1 with ECAP.SC=0 (pgsnpWithoutSc: reserved)", (env) =>
  smFs(env, { plat: { ecap: ecap({ SC: 0n }) }, attach: { pgsnp: true } }).tr(rd(P)),
);
sc(0x5a, "SSPTPTR above HAW (physAddrBits 40)", (env) => {
  const fx = smSs(env, { plat: { physAddrBits: 40 } });
  fx.or(fx.pasidEntry(), bit(45));
  return fx.tr(rd(P));
});
sc(0x5a, "FSPTPTR above HAW (physAddrBits 40)", (env) => {
  const fx = smFs(env, { plat: { physAddrBits: 40 } });
  fx.or(fx.pasidEntry() + 16n, bit(45));
  return fx.tr(rd(P));
});
for (const pgtt of [0n, 5n, 6n, 7n]) {
  sc(0x5b, `PGTT=${pgtt} (reserved)`, (env) => {
    const fx = smSs(env);
    fx.set(fx.pasidEntry(), (fx.q(fx.pasidEntry()) & ~(7n << 6n)) | (pgtt << 6n));
    return fx.tr(rd(P));
  });
}
sc(0x5b, "second stage with AW=1 (3-level) not in CAP.SAGAW", (env) => smSs(env, { levels: 3 }).tr(rd(P)));
sc(0x5b, "FSPM=10b (reserved)", (env) => {
  const fx = smFs(env);
  const q2 = fx.pasidEntry() + 16n;
  fx.set(q2, (fx.q(q2) & ~(3n << 2n)) | (2n << 2n));
  return fx.tr(rd(P));
});
sc(0x5b, "FSPM=01b (5-level) with CAP.FS5LP=0", (env) => smFs(env, { levels: 5, plat: { cap: cap({ FS5LP: 0n }) } }).tr(rd(P)));
sc(0x5b, "SSADE=1 with ECAP.SSADS=0", (env) => smSs(env, { plat: { ecap: ecap({ SSADS: 0n }) }, attach: { ssade: true } }).tr(rd(P)));
sc(0x5b, "PGTT=001 (first stage) with ECAP.FSTS=0", (env) => smFs(env, { plat: { ecap: ecap({ FSTS: 0n }) } }).tr(rd(P)));
sc(0x5b, "PGTT=010 (second stage) with ECAP.SSTS=0", (env) => smSs(env, { plat: { ecap: ecap({ SSTS: 0n }) } }).tr(rd()));
sc(0x5b, "PGTT=011 (nested) with ECAP.NEST=0", (env) => smNested(env, { plat: { ecap: ecap({ NEST: 0n }) } }).tr(rd(P)));
sc(0x5b, "PGTT=100 (pass-through) with ECAP.PT=0", (env) => smPt(env, { plat: { ecap: ecap({ PT: 0n }) } }).tr(rd(P)));
sc(0x5c, "execute request with ERE=0 (ECAP.ERS=1)", (env) => smFs(env, { plat: { ecap: ecap({ ERS: 1n }) } }).tr(rd({ ...P, exe: true })));
sc(0x5c, "execute request with ERE=0, second-stage entry", (env) => smSs(env, { plat: { ecap: ecap({ ERS: 1n }) } }).tr(rd({ ...P, exe: true })));
sc(0x5d, "supervisor request with SRE=0", (env) => smFs(env).tr(rd({ ...P, priv: true })));
sc(0x5d, "supervisor request with SRE=0, second-stage entry", (env) => smSs(env).tr(wr({ ...P, priv: true })));
sc(0x5d, "request without PASID, RID_PRIV=1 (ECAP.RPRIVS=1), SRE=0", (env) => {
  const fx = smFs(env, { plat: { ecap: ecap({ RPRIVS: 1n }) } });
  fx.or(fx.context() + 8n, bit(20));
  return fx.tr(rd());
});

// ---- first-stage walk (spec 3.6, 9.7; SFS.x) ----

sc(0x70, "PML4E points at unreadable memory (PDPE read fails)", (env) => {
  const fx = smFs(env);
  fx.set(fx.slots()[0]!, UNWRITTEN | FS_TABLE);
  return fx.tr(rd(P));
});
sc(0x70, "PDE points at unreadable memory (PTE read fails)", (env) => {
  const fx = smFs(env);
  fx.set(fx.slots()[2]!, UNWRITTEN | FS_TABLE);
  return fx.tr(wr(P));
});
sc(0x71, "leaf PTE not present", (env) => smFs(env).tr(rd({ ...P, addr: IOVA2 })));
sc(0x71, "PML4E not present", (env) => smFs(env).tr(wr({ ...P, addr: FAR })));
sc(0x71, "PDPE P cleared", (env) => {
  const fx = smFs(env);
  fx.clear(fx.slots()[1]!, FS_P);
  return fx.tr(rd(P));
});
sc(0x71, "request without PASID (RID_PASID) to an unmapped address", (env) => smFs(env).tr(rd({ addr: IOVA2 })));
sc(0x72, "PS in the PML4E", (env) => {
  const fx = smFs(env);
  fx.or(fx.slots()[0]!, PS);
  return fx.tr(rd(P));
});
sc(0x72, "XD=1 with NXE=0", (env) => smFs(env, { attach: { nxe: false } }).tr(rd(P)));
sc(0x72, "leaf address above HAW (physAddrBits 40)", (env) => smFs(env, { plat: { physAddrBits: 40 }, to: 1n << 41n }).tr(rd(P)));
sc(0x72, "1 GiB leaf with CAP.FS1GP=0", (env) =>
  smFs(env, { plat: { cap: cap({ FS1GP: 0n }) }, iova: G1, to: 2n * G1, map: { pageSize: G1 } }).tr(rd({ ...P, addr: G1 + 0x1234n })),
);
sc(0x72, "bit 13 (reserved) in a 2 MiB leaf", (env) => {
  const fx = smFs(env, { iova: 0x4020_0000n, to: 0x8020_0000n, map: { pageSize: M2 } });
  fx.or(fx.leaf(0x4020_0000n), bit(13));
  return fx.tr(rd({ ...P, addr: 0x4020_0000n }));
});
sc(0x73, "FSPTPTR points at unreadable memory (4-level)", (env) => {
  const fx = smFs(env);
  fx.repoint(fx.pasidEntry() + 16n, UNWRITTEN);
  return fx.tr(rd(P));
});
sc(0x73, "FSPTPTR points at unreadable memory (5-level)", (env) => {
  const fx = smFs(env, { levels: 5 });
  fx.repoint(fx.pasidEntry() + 16n, UNWRITTEN);
  return fx.tr(wr(P));
});

// ---- nested translation of first-stage structures (spec 3.8; SFS.5-8) ----

sc(0x74, "nested: PML4E points at GPA 2^50, beyond the 48-bit second stage", (env) => {
  const fx = smNested(env);
  fx.set(fx.slots()[0]!, (1n << 50n) | FS_TABLE);
  return fx.tr(rd(P));
});
sc(0x74, "nested: FSPTPTR is GPA 2^50, beyond the 48-bit second stage", (env) => {
  const fx = smNested(env);
  fx.repoint(fx.pasidEntry() + 16n, 1n << 50n);
  return fx.tr(rd(P));
});
sc(0x75, "nested: stage 2 maps the first-stage root table page without R", (env) => {
  const fx = smNested(env);
  fx.clear(fx.s2Leaf(fx.d!.root), SS_R);
  return fx.tr(rd(P));
});
sc(0x76, "nested: stage 2 maps the first-stage PDPT page without R", (env) => {
  const fx = smNested(env);
  fx.clear(fx.s2Leaf(fx.fsTablePages()[1]!), SS_R);
  return fx.tr(rd(P));
});
sc(0x76, "nested: stage 2 maps the first-stage leaf table page without R", (env) => {
  const fx = smNested(env);
  fx.clear(fx.s2Leaf(fx.fsTablePages()[3]!), SS_R);
  return fx.tr(wr(P));
});
sc(0x77, "nested: A update of the FS leaf, stage 2 maps its table page without W", (env) => {
  const fx = smNested(env, { presetAccessed: false });
  fx.clear(fx.s2Leaf(fx.fsTablePages()[3]!), SS_W);
  return fx.tr(rd(P));
});
sc(0x77, "nested: A update of an FS non-leaf entry, stage 2 maps its page without W", (env) => {
  const fx = smNested(env);
  fx.clear(fx.slots()[1]!, FS_A);
  fx.clear(fx.s2Leaf(fx.fsTablePages()[1]!), SS_W);
  return fx.tr(rd(P));
});
sc(0x77, "nested: D update of the FS leaf on a write, stage 2 maps its table page without W", (env) => {
  const fx = smNested(env);
  fx.clear(fx.leaf(), FS_D);
  fx.clear(fx.s2Leaf(fx.fsTablePages()[3]!), SS_W);
  return fx.tr(wr(P));
});

// ---- second-stage walk in scalable mode (spec 3.7; SSS.x) ----

sc(0x78, "PML4E points at unreadable memory (PDPE read fails)", (env) => {
  const fx = smSs(env);
  fx.set(fx.slots()[0]!, UNWRITTEN | SS_R | SS_W);
  return fx.tr(rd(P));
});
sc(0x78, "PDE points at unreadable memory, request without PASID", (env) => {
  const fx = smSs(env);
  fx.set(fx.slots()[2]!, UNWRITTEN | SS_R | SS_W);
  return fx.tr(wr());
});
sc(0x78, "nested: stage-2 PML4E points at unreadable memory", (env) => {
  const fx = smNested(env);
  fx.set(fx.slots(PA, fx.parent!)[0]!, UNWRITTEN | SS_R | SS_W);
  return fx.tr(rd(P));
});
sc(0x79, "leaf entry R=W=0", (env) => smSs(env).tr(rd({ ...P, addr: IOVA2 })));
sc(0x79, "top-level entry R=W=0", (env) => smSs(env).tr(wr({ ...P, addr: FAR })));
sc(0x79, "request without PASID (RID_PASID) to an unmapped IOVA", (env) => smSs(env).tr(rd({ addr: IOVA2 })));
sc(0x79, "nested: the final GPA is not mapped in stage 2", (env) => smNested(env, { noS2Map: true }).tr(rd(P)));
sc(0x79, "nested: a first-stage table page is not mapped in stage 2", (env) => {
  const fx = smNested(env);
  fx.p.builder.unmap(fx.parent!, fx.fsTablePages()[2]!, PAGE);
  return fx.tr(rd(P));
});
sc(0x7a, "TM (bit 62) in the leaf", (env) => {
  const fx = smSs(env);
  fx.or(fx.leaf(), TM);
  return fx.tr(rd(P));
});
sc(0x7a, "SNP in a non-leaf entry", (env) => {
  const fx = smSs(env);
  fx.or(fx.slots()[2]!, SNP);
  return fx.tr(rd(P));
});
sc(0x7a, "PS in the PML4E", (env) => {
  const fx = smSs(env);
  fx.or(fx.slots()[0]!, PS);
  return fx.tr(rd());
});
sc(0x7a, "nested: TM in the stage-2 leaf that maps the FS root table", (env) => {
  const fx = smNested(env);
  fx.or(fx.s2Leaf(fx.d!.root), TM);
  return fx.tr(rd(P));
});
// [spec] SSS.4 (0x7B): the entry referenced through SSPTPTR cannot be read. This is the
// second-stage counterpart of SFS.4 (FSPTPTR), which the model does report by level; Linux names
// 0x7B "Invalid second-level page table pointer", and VirtualBox (dmarDrSecondLevelTranslate) maps
// a failed read of the page at SLPTPTR to VTDATFAULT_SSL_4 in scalable mode. The model reports
// SSS.1 (0x78) for it and never emits 0x7B, although vtdFaults lists it.
sc(0x7b, "[spec] SSPTPTR points at unreadable memory", (env) => {
  const fx = smSs(env);
  fx.repoint(fx.pasidEntry(), UNWRITTEN);
  return fx.tr(rd(P));
});
sc(0x7c, "SSADE=1, PWSNP=0: A update of the top-level entry", (env) => smSs(env, { attach: { ssade: true, pwsnp: false } }).tr(rd(P)));
sc(0x7c, "nested, SSADE=1, PWSNP=0: stage-2 A update while fetching the FS root entry", (env) =>
  smNested(env, { attach: { ssade: true, pwsnp: false } }).tr(rd(P)),
);

// ---- general (SGN.x) ----

sc(0x80, "bit 47 set, bits 63:48 clear (4-level)", (env) => smFs(env).tr(rd({ ...P, addr: 0x0000_8000_0000_0000n })));
sc(0x80, "bits 63:48 set, bit 47 clear (4-level)", (env) => smFs(env).tr(wr({ ...P, addr: 0xffff_0000_4000_1000n })));
sc(0x80, "bit 57 set, bits 63:58 and 56 clear (5-level)", (env) => smFs(env, { levels: 5 }).tr(rd({ ...P, addr: 1n << 57n })));
sc(0x80, "nested, non-canonical GVA", (env) => smNested(env).tr(rd({ ...P, addr: 0x0000_8000_0000_1000n })));
sc(0x81, "user request to a U/S=0 page", (env) => smFs(env, { map: { user: false } }).tr(rd(P)));
sc(0x81, "request without PASID (user) to a U/S=0 page", (env) => smFs(env, { map: { user: false } }).tr(wr()));
sc(0x81, "user request, U/S=0 in a non-leaf entry", (env) => {
  const fx = smFs(env);
  fx.clear(fx.slots()[1]!, FS_US);
  return fx.tr(rd(P));
});
sc(0x82, "execute request to an XD=1 page (NXE=1, ERE=1)", (env) =>
  smFs(env, { plat: { ecap: ecap({ ERS: 1n }) }, attach: { ere: true } }).tr(rd({ ...P, exe: true })),
);
sc(0x82, "supervisor execute of a user page with SMEP=1", (env) =>
  smFs(env, { plat: { ecap: ecap({ ERS: 1n }) }, map: { exec: true }, attach: { ere: true, sre: true, smep: true } }).tr(
    rd({ ...P, exe: true, priv: true }),
  ),
);
sc(0x83, "second stage: IOVA 2^48 with a 4-level table", (env) => smSs(env).tr(rd({ ...P, addr: 1n << 48n })));
sc(0x83, "second stage: IOVA 2^40 with CAP.MGAW+1 = 40 bits", (env) =>
  smSs(env, { plat: { cap: cap({ MGAW: 39n }) } }).tr(rd({ addr: 1n << 40n })),
);
sc(0x83, "nested: final GPA 2^50 beyond the 48-bit second stage", (env) => smNested(env, { to: 1n << 50n, noS2Map: true }).tr(rd(P)));
sc(0x85, "second stage: write to a read-only page", (env) => smSs(env, { map: { write: false } }).tr(wr(P)));
sc(0x85, "first stage: user write to a read-only page", (env) => smFs(env, { map: { write: false } }).tr(wr(P)));
sc(0x85, "first stage: supervisor write to a read-only page with WPE=1", (env) =>
  smFs(env, { map: { write: false }, attach: { sre: true, wpe: true } }).tr(wr({ ...P, priv: true })),
);
sc(0x85, "nested: stage 2 maps the final GPA read-only", (env) => smNested(env, { s2map: { write: false } }).tr(wr(P)));
sc(0x86, "second stage: read of a write-only page", (env) => smSs(env, { map: { read: false, write: true } }).tr(rd(P)));
sc(0x86, "second stage: read with R=0 in a non-leaf entry", (env) => {
  const fx = smSs(env);
  fx.clear(fx.slots()[1]!, SS_R);
  return fx.tr(rd());
});
sc(0x86, "nested: stage 2 maps the final GPA write-only", (env) => smNested(env, { s2map: { read: false, write: true } }).tr(rd(P)));
sc(0x87, "second stage: IOVA maps to 0xFEE00000 (request without PASID)", (env) => smSs(env, { to: INT_ADDR }).tr(rd()));
sc(0x87, "first stage: IOVA maps to 0xFEE01000", (env) => smFs(env, { to: INT_ADDR + PAGE }).tr(wr(P)));
sc(0x87, "nested: final host address 0xFEE00000", (env) => smNested(env, { hpa: INT_ADDR }).tr(rd(P)));
sc(0x87, "pass-through PASID entry, request with PASID to 0xFEE00000", (env) => smPt(env).tr(rd({ ...P, addr: INT_ADDR })));
sc(0x90, "first stage: A update needed with PWSNP=0", (env) => smFs(env, { presetAccessed: false, attach: { pwsnp: false } }).tr(rd(P)));
sc(0x90, "first stage: D update needed on a write with PWSNP=0", (env) => {
  const fx = smFs(env, { attach: { pwsnp: false } });
  fx.clear(fx.leaf(), FS_D);
  return fx.tr(wr(P));
});
sc(0x90, "nested: FS A update needed with PWSNP=0", (env) => smNested(env, { presetAccessed: false, attach: { pwsnp: false } }).tr(rd(P)));

// ---- assertions -----------------------------------------------------------------------------------

function describe(r: Result): string {
  return r.fault ? `${r.fault.name} (${hex(r.fault.code)}, recorded=${r.fault.recorded})` : `status "${r.status}", no fault`;
}

function expectFault(r: Result, code: number, recorded: boolean): void {
  const want = vtdFaultByCode.get(code)!;
  const wantText = `${want.id} (${hex(code)})`;
  assert.is(r.status, "fault", `expected ${wantText}; got ${describe(r)}`);
  assert.ok(r.fault, `expected ${wantText}; no fault record`);
  assert.is(hex(r.fault!.code), hex(code), `expected ${wantText}; got ${describe(r)}`);
  assert.is(r.fault!.name, want.id);
  assert.is(r.fault!.recorded, recorded, `${want.id}: recorded should be ${recorded}`);
}

function expectOk(r: Result, what: string): void {
  assert.is(r.status, "ok", `${what}: expected a translation; got ${describe(r)}`);
  assert.is(r.fault, undefined);
}

// ---- suites, one per build ------------------------------------------------------------------------

for (const build of ["debug", "release"] as const satisfies readonly CoreBuild[]) {
  const test = suite(`vtd-faults [${build}]`);
  const off: Env = { build, fpd: false };
  const on: Env = { build, fpd: true };
  /** Fault codes the tests of this suite targeted (and ran). */
  const seen = new Set<number>();

  // Healthy fixtures translate: every scenario below breaks exactly one thing.
  test("baseline: every fixture translates its request", () => {
    for (const env of [off, on]) {
      expectOk(legacy(env).tr(rd()), "legacy read");
      expectOk(legacy(env).tr(wr()), "legacy write");
      expectOk(legacyPt(env).tr(rd()), "legacy pass-through");
      expectOk(legacy(env, { attach: { ats: true } }).tr(ats()), "legacy ATS with TT=01");
      for (const r of [rd(), wr(), rd(P), wr(P)]) {
        expectOk(smSs(env).tr(r), `second stage ${r.op} pasid=${r.pasid}`);
        expectOk(smFs(env).tr(r), `first stage ${r.op} pasid=${r.pasid}`);
        expectOk(smNested(env).tr(r), `nested ${r.op} pasid=${r.pasid}`);
        expectOk(smPt(env).tr(r), `pass-through ${r.op} pasid=${r.pasid}`);
      }
      expectOk(smSs(env, { attach: { ats: true } }).tr(ats(P)), "scalable ATS with DTE=1");
      expectOk(smSs(env, { attach: { ats: true } }).tr(rd({ translated: true })), "translated request with DTE=1");
      const small = smSs(env, { attach: { pasidBits: 7 } });
      small.p.builder.attach({ sid: SID, pasid: 8191, domain: 1, fpd: env.fpd });
      expectOk(small.tr(rd({ pasid: 8191 })), "last PASID of a 128-entry directory");
      expectOk(smFs(env, { presetAccessed: false }).tr(wr(P)), "first-stage A/D updates with PWSNP=1");
      expectOk(smSs(env, { attach: { ssade: true } }).tr(wr(P)), "second-stage A/D updates with PWSNP=1");
      expectOk(smNested(env, { presetAccessed: false, attach: { ssade: true } }).tr(wr(P)), "nested A/D updates");
      expectOk(smFs(env, { plat: { ecap: ecap({ ERS: 1n }) }, map: { exec: true }, attach: { ere: true } }).tr(rd({ ...P, exe: true })), "execute");
      expectOk(smFs(env, { map: { user: false }, attach: { sre: true } }).tr(wr({ ...P, priv: true })), "supervisor write");
      const hi = smSs(env);
      hi.p.builder.attach({ sid: SID_HI, domain: 1 });
      expectOk(hi.tr(rd({ sid: SID_HI })), "devfn 0x88 (upper context table)");
    }
  });

  for (const s of scenarios) {
    const f = vtdFaultByCode.get(s.code)!;
    const name = `${f.id} ${hex(s.code)} ${s.what}`;
    test(`${name} (FPD=0: recorded)`, () => {
      seen.add(s.code);
      expectFault(s.run(off), s.code, true);
    });
    test(`${name} (FPD=1: ${f.qualified ? "blocked, not recorded" : "non-qualified, still recorded"})`, () => {
      expectFault(s.run(on), s.code, !f.qualified);
    });
  }

  // ---- FPD, one source at a time (spec 9.3/9.4 FPD, 9.5 PASID-directory FPD, 9.6 PASID-entry FPD) ----

  test("FPD in the scalable-mode context entry alone suppresses qualified faults below it", () => {
    const fx = smSs(off);
    fx.or(fx.context(), FPD);
    expectFault(fx.tr(rd({ ...P, addr: IOVA2 })), 0x79, false); // SSS.2
    expectFault(fx.tr(rd({ addr: IOVA2 })), 0x79, false); // without PASID too
    expectFault(fx.tr(rd({ pasid: PASID_NO_ENTRY })), 0x59, false); // SPT.2
    expectFault(fx.tr(rd({ pasid: PASID_NO_DIR })), 0x51, false); // SPD.2
    expectFault(fx.tr(ats()), 0x44, false); // SCT.5
    fx.clear(fx.context(), bit(3));
    expectFault(fx.tr(rd(P)), 0x45, false); // SCT.6
  });

  test("FPD in the PASID-directory entry alone suppresses qualified faults below it", () => {
    const fx = smSs(off);
    fx.or(fx.pasidDirEntry(), FPD);
    expectFault(fx.tr(rd({ ...P, addr: IOVA2 })), 0x79, false); // SSS.2
    expectFault(fx.tr(rd({ pasid: PASID_NO_ENTRY })), 0x59, false); // SPT.2
    const fs = smFs(off, { map: { write: false } });
    fs.or(fs.pasidDirEntry(), FPD);
    expectFault(fs.tr(wr(P)), 0x85, false); // SGN.6
  });

  test("FPD in a PASID-directory entry with P=0 suppresses SPD.2", () => {
    const fx = smSs(off);
    fx.set(fx.pasidDirEntry(PASID_NO_DIR), FPD);
    expectFault(fx.tr(rd({ pasid: PASID_NO_DIR })), 0x51, false);
    // the directory entry next to it has no FPD
    expectFault(fx.tr(rd({ pasid: PASID_NO_DIR + 64 })), 0x51, true);
  });

  test("FPD in the PASID-table entry alone suppresses qualified faults of that PASID only", () => {
    const fx = smSs(off, { map: { read: false, write: true } });
    fx.or(fx.pasidEntry(), FPD);
    expectFault(fx.tr(rd(P)), 0x86, false); // SGN.7
    expectFault(fx.tr(rd({ ...P, addr: IOVA2 })), 0x79, false); // SSS.2
    expectFault(fx.tr(rd({ ...P, addr: 1n << 48n })), 0x83, false); // SGN.4
    // RID_PASID's entry (PASID 0) and an empty entry have no FPD
    expectFault(fx.tr(rd()), 0x86, true);
    expectFault(fx.tr(rd({ pasid: PASID_NO_ENTRY })), 0x59, true);
  });

  test("FPD in a PASID-table entry with P=0 suppresses SPT.2", () => {
    const fx = smFs(off);
    fx.set(fx.pasidEntry(PASID_NO_ENTRY), FPD);
    expectFault(fx.tr(rd({ pasid: PASID_NO_ENTRY })), 0x59, false);
  });

  test("FPD in the PASID-table entry applies to SPT.4, SPT.5, SPT.6 and first-stage faults", () => {
    const fx = smFs(off, { plat: { ecap: ecap({ ERS: 1n }) }, map: { user: false } });
    const pe = fx.pasidEntry();
    fx.or(pe, FPD);
    expectFault(fx.tr(rd(P)), 0x81, false); // SGN.2
    expectFault(fx.tr(rd({ ...P, addr: IOVA2 })), 0x71, false); // SFS.2
    expectFault(fx.tr(rd({ ...P, addr: 0x0000_8000_0000_0000n })), 0x80, false); // SGN.1
    expectFault(fx.tr(rd({ ...P, priv: true })), 0x5d, false); // SPT.6
    expectFault(fx.tr(rd({ ...P, exe: true })), 0x5c, false); // SPT.5
    fx.set(pe, (fx.q(pe) & ~(7n << 6n)) | (5n << 6n));
    expectFault(fx.tr(rd(P)), 0x5b, false); // SPT.4
  });

  test("FPD in the legacy context entry suppresses qualified faults, not LCT.3", () => {
    const fx = legacy(off, { map: { write: false } });
    fx.or(fx.context(), FPD);
    expectFault(fx.tr(wr()), 0x5, false); // LGN.2
    expectFault(fx.tr(rd({ addr: IOVA2 })), 0x6, false); // LGN.3
    expectFault(fx.tr(rd({ addr: 1n << 48n })), 0x4, false); // LGN.1
    expectFault(fx.tr(ats()), 0xd, false); // LCT.5
    fx.or(fx.slots()[1]!, SNP);
    expectFault(fx.tr(rd()), 0xc, false); // LSL.2
    fx.or(fx.context(), bit(4));
    expectFault(fx.tr(rd()), 0xb, true); // LCT.3 is not qualified
  });

  test("non-qualified faults stay recorded with FPD=1 at every level that could be read", () => {
    // SPT.1: FPD in the context entry and in the PASID-directory entry that points at the bad table
    const spt1 = smSs(on);
    spt1.set(spt1.pasidDirEntry(), UNWRITTEN | FPD | 1n);
    expectFault(spt1.tr(rd(P)), 0x58, true);
    // SPD.1: FPD in the context entry
    const spd1 = smSs(on);
    spd1.repoint(spd1.context(), UNWRITTEN);
    assert.ok((spd1.q(spd1.context()) & FPD) !== 0n);
    expectFault(spd1.tr(rd(P)), 0x50, true);
    // SCT.3: FPD in the faulting context entry
    const sct3 = smSs(on);
    sct3.or(sct3.context(), bit(6));
    expectFault(sct3.tr(rd(P)), 0x42, true);
    // SCT.1 / SRT.x / LRT.x / LCT.1 / RTA.x: no FPD can be read before the fault
    const sct1 = smSs(on);
    sct1.set(sct1.rootEntry(), UNWRITTEN | 1n);
    expectFault(sct1.tr(rd(P)), 0x40, true);
    const srt3 = smSs(on);
    srt3.or(srt3.rootEntry(), bit(3));
    expectFault(srt3.tr(rd(P)), 0x3a, true);
    const lrt2 = legacy(on);
    lrt2.clear(lrt2.rootEntry(), 1n);
    expectFault(lrt2.tr(rd()), 0x1, true);
    const lct1 = legacy(on);
    lct1.set(lct1.rootEntry(), UNWRITTEN | 1n);
    expectFault(lct1.tr(rd()), 0x9, true);
    // RTA.2 is decided before any structure is read, FPD or not
    expectFault(legacy(on).tr(rd(P)), 0x31, true);
  });

  // ---- requests that are not translated and not faulted ----

  test("request without PASID to 0xFEEx_xxxx: write is an interrupt, read is blocked, no fault", () => {
    for (const fx of [smSs(off), legacy(off), smFs(off)]) {
      const w = fx.tr(wr({ addr: INT_ADDR + 0x10n }));
      assert.is(w.status, "interrupt");
      assert.is(w.fault, undefined);
      const r = fx.tr(rd({ addr: 0xfeef_f000n }));
      assert.is(r.status, "blocked");
      assert.is(r.fault, undefined);
    }
  });

  test("RTADDR.TTM=11b with ECAP.ADMS=1 blocks every request without a fault", () => {
    const fx = smSs(off, { plat: { ecap: ecap({ ADMS: 1n }) } });
    fx.rtaddr(3n);
    for (const r of [rd(), wr(P), ats()]) {
      const res = fx.tr(r);
      assert.is(res.status, "blocked");
      assert.is(res.fault, undefined);
    }
  });

  test("ATS translation request for an unmapped address completes with R=W=0, no fault", () => {
    for (const fx of [smSs(off, { attach: { ats: true } }), smFs(off, { attach: { ats: true } })]) {
      const r = fx.tr(ats({ ...P, addr: IOVA2 }));
      assert.is(r.status, "ok");
      assert.is(r.fault, undefined);
      assert.equal(r.perms, { r: false, w: false, x: false, u: false });
    }
  });

  // ---- coverage: keep last ----

  test("every fault code in vtdFaults was targeted by a test of this suite", () => {
    const missing = vtdFaults.filter((f) => !seen.has(f.code)).map((f) => `${f.id} (${hex(f.code)})`);
    assert.equal(missing, [], `fault codes without a test: ${missing.join(", ")}`);
    for (const code of seen) assert.ok(vtdFaultByCode.has(code), `${hex(code)} was tested but is not in vtdFaults`);
  });

  test.run();
}
