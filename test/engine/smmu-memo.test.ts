/**
 * The SMMUv3 replay memo (assembly/engine/smmu-memo.ts over engine/replay-memo.ts) is a simulator
 * fast path: with it on or off, every result line (timing fields included) and the whole run
 * summary (PMCG counters, cache lookups/hits/fills/evictions/invalidations, event counts, stale
 * uses, timing) must be identical, whatever the trace does between TLPs: stage 1 with substreams,
 * stage 2, nested, bypass, faults that write event records, ATS requests and translated requests,
 * strict and lazy unmaps, raw CFGI/TLBI/ATC_INV commands. Then targeted tests: a command that
 * invalidates exactly one StreamID, ASID, VMID or address range drops exactly the memo entries
 * whose cache slots it emptied, seen in the core's replay count (Core.memoReplays); and when the
 * stream context kept between transactions (engine/smmu-context.ts, on and off with the memo) is
 * used (Core.keptContextUses).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createPlatform, type Platform, type PlatformOptions } from "../../src/platform.ts";
import type { SmmuModule } from "../../src/arch/smmuv3/module.ts";
import type { SmmuDriver } from "../../src/arch/smmuv3/driver.ts";
import { parseTraceText } from "../../src/trace/text.ts";
import { replay } from "../../src/replay/replay.ts";
import { summarize } from "../../src/report/summary.ts";
import type { Result } from "../../src/core/core.ts";
import { Prng } from "../../src/util/prng.ts";
import type { Request } from "../../src/core/core.ts";
import { cfgiCd, cfgiSte, tlbiNhAsid, tlbiNhVa, tlbiS12Vmall, tlbiS2Ipa } from "../../src/arch/smmuv3/commands.ts";
import fc from "fast-check";
import { platformCaches } from "../../src/platform.ts";
import { resolveTiming } from "../../src/config/timing.ts";
import { Opt } from "../../src/core/abi.ts";
import { smmu, event } from "../arch/smmuv3/helpers.ts";
import { PAGES, unitCase } from "../arch/smmuv3/random-structures.ts";
import { streamMapOf, rootComplexSchema } from "../../src/arch/smmuv3/iort.ts";

const FILE = "memo.trace";
const hex = (v: bigint | number) => `0x${v.toString(16)}`;

// The devices (StreamID = requester ID): 00:02.0 (0x10) stage 1, ASID 1, with SubstreamID 1 (ASID 2);
// 00:03.0 (0x18) stage 2, VMID 1; 00:04.0 (0x20) nested, ASID 3 over VMID 2; 00:05.0 (0x28) bypass.
const S1 = "00:02.0", S2 = "00:03.0", NESTED = "00:04.0", BYPASS = "00:05.0";
const SID_S1 = 0x10, SID_S2 = 0x18;
const S1_VA = 0x10_0000n, SSID_VA = 0x7f00_0000_0000n, IPA = 0x4000_0000n, GVA = 0x1_0000n;

type Opts = { replayMemo: boolean; timed: boolean; micro: boolean; invalidation: "strict" | "lazy"; small: boolean; debug?: boolean };

function build(o: Opts): Platform<SmmuModule> {
  const caches = {
    ...(o.micro ? {} : { microTlb: { enable: false } }),
    // small: evictions in every cache the memo's slots live in
    ...(o.small ? { iotlb: { entries: 32, assoc: 4 }, contextCache: { entries: 8, assoc: 2 }, pasidCache: { entries: 4, assoc: 2 } } : {}),
  };
  const p = createPlatform("smmuv3", { build: o.debug ? "debug" : "release", replayMemo: o.replayMemo, caches, ...(o.timed ? {} : { timing: false }) } as PlatformOptions<SmmuModule>);
  const b = p.builder;
  const d1 = b.createDomain({ id: 1, type: "s1", asid: 1 });
  const d2 = b.createDomain({ id: 2, type: "s1", asid: 2 });
  const d3 = b.createDomain({ id: 3, type: "s2", vmid: 1 });
  const d4 = b.createDomain({ id: 4, type: "s2", vmid: 2 });
  const d5 = b.createDomain({ id: 5, type: "nested", parent: 4, asid: 3 });
  b.createDomain({ id: 6, type: "identity" });
  b.map(d1, { iova: S1_VA, pa: 0x8000_0000n, size: 48n * 4096n });
  b.map(d1, { iova: 0x20_0000n, pa: 0x8010_0000n, size: 4096n, write: false });
  b.map(d2, { iova: SSID_VA, pa: 0x8100_0000n, size: 16n * 4096n });
  b.map(d3, { iova: IPA, pa: 0x9000_0000n, size: 32n * 4096n });
  b.map(d4, { iova: 0x5000_0000n, pa: 0xa000_0000n, size: 32n * 4096n });
  b.map(d5, { iova: GVA, pa: 0x5000_0000n, size: 32n * 4096n });
  b.attach({ sid: SID_S1, domain: 1, ssidBits: 2, ats: true });
  b.attach({ sid: SID_S1, ssid: 1, domain: 2 });
  b.attach({ sid: SID_S2, domain: 3, ats: true });
  b.attach({ sid: 0x20, domain: 5 });
  b.attach({ sid: 0x28, domain: 6 });
  p.enable();
  return p;
}

/**
 * One TLP line at a random place of a random stream; `faulty`: one that faults (an unmapped address
 * of a stream, a write to the read-only page, SubstreamID 2 without a CD). A recorded fault writes
 * an event record to guest memory, which (conservatively) voids every memo entry.
 */
function tlp(r: Prng, faulty: boolean): string {
  // two in three on 4 hot pages per stream (they fit the micro-TLB and the small TLB), else any page
  const hot = r.int(3) !== 0;
  const pg = (n: number) => BigInt(r.int(hot ? 4 : n)) * 4096n;
  const op = r.int(4) === 0 ? "MWr" : "MRd";
  const ns = r.int(4) === 0 ? " ns" : "";
  const off = BigInt(r.int(64)) * 64n;
  if (faulty) {
    switch (r.int(5)) {
      case 0: return `MWr ${S1} addr=${hex(0x20_0000n + off)} len=64`;
      case 1: return `${op} ${S1} addr=${hex(S1_VA + BigInt(48 + r.int(4)) * 4096n + off)} len=64`;
      case 2: return `${op} ${S2} addr=${hex(IPA + BigInt(32 + r.int(4)) * 4096n + off)} len=64`;
      case 3: return `${op} ${NESTED} addr=${hex(GVA + BigInt(32 + r.int(4)) * 4096n + off)} len=64`;
      default: return `${op} ${S1} pasid=2 addr=${hex(SSID_VA + off)} len=64`;
    }
  }
  const kind = r.int(20);
  if (kind === 0) return `ATS ${S1} addr=${hex(S1_VA + pg(48))}`;
  if (kind === 1) return `MRd ${S1} addr=${hex(S1_VA + pg(48) + off)} len=64 at=translated`;
  if (kind === 2) return `MRd ${S1} addr=${hex(0x20_0000n + off)} len=64${ns}`; // the read-only page
  if (kind === 3) return `${op} ${BYPASS} addr=${hex(0x8800_0000n + off)} len=64${ns}`;
  if (kind < 7) return `${op} ${S1} pasid=${r.int(3) === 0 ? "1,priv" : "1"} addr=${hex(SSID_VA + pg(16) + off)} len=64${ns}`;
  if (kind < 10) return `${op} ${S2} addr=${hex(IPA + pg(32) + off)} len=64${ns}`;
  if (kind < 13) return `${op} ${NESTED} addr=${hex(GVA + pg(32) + off)} len=64${ns}`;
  return `${op} ${S1} addr=${hex(S1_VA + pg(48) + off)} len=64${ns}`;
}

/** A driver event: unmap or map (TLBI_NH_VA / S2_IPA with RIL, or deferred), or a raw command and CMD_SYNC. */
function driverEvent(r: Prng, unmapped: Set<bigint>): string[] {
  const page = BigInt(r.int(48));
  const sync = "cmd 0x46 0x0";
  switch (r.int(10)) {
    case 0: {
      // unmap a page of domain 1 (lazy: its TLB entry lives on until the flush, used stale), or map it back
      const va = S1_VA + (page & 3n) * 4096n;
      if (unmapped.delete(va)) return [`map 1 ${hex(va)} ${hex(0x8800_0000n + page * 4096n)} 0x1000`];
      unmapped.add(va);
      return [`unmap 1 ${hex(va)} 0x1000`];
    }
    case 1: return [`unmap 3 ${hex(IPA + (page & 31n) * 4096n)} 0x1000`, `map 3 ${hex(IPA + (page & 31n) * 4096n)} ${hex(0x9800_0000n + page * 4096n)} 0x1000`];
    case 2: return [`cmd ${hex(0x03n | (BigInt(SID_S1) << 32n))} 0x1`, sync]; // CFGI_STE 0x10, Leaf
    case 3: return [`cmd ${hex(0x05n | (1n << 12n) | (BigInt(SID_S1) << 32n))} 0x1`, sync]; // CFGI_CD 0x10 SSID 1
    case 4: return [`cmd ${hex(0x11n | (BigInt(1 + r.int(3)) << 48n))} 0x0`, sync]; // TLBI_NH_ASID 1..3
    case 5: return [`cmd ${hex(0x28n | (BigInt(1 + r.int(2)) << 32n))} 0x0`, sync]; // TLBI_S12_VMALL 1..2
    case 6: return [`cmd ${hex(0x12n | (1n << 48n))} ${hex(S1_VA + page * 4096n)}`, sync]; // TLBI_NH_VA ASID 1, one address
    case 7: return [`cmd ${hex(0x40n | (BigInt(SID_S1) << 32n))} 0x34`, sync]; // ATC_INV everything (Size 52)
    case 8: return ["flush"];
    default: return [`cmd 0x30 0x0`, sync]; // TLBI_NSNH_ALL
  }
}

function trace(seed: number): string {
  const r = new Prng(seed);
  const lines: string[] = [];
  let t = 0;
  const at = () => `@${(t += 1 + r.int(20))}ns `;
  const unmapped = new Set<bigint>();
  for (let round = 0; round < 10; round++) {
    // faults among the first 20 of 300 TLPs; repeats of the rest so the memo has something to replay
    const reqs = Array.from({ length: 300 }, (_, i) => tlp(r, i < 20 && r.int(4) === 0));
    for (const l of [...reqs, ...reqs.slice(20, 170), ...reqs.slice(50, 250)]) lines.push(at() + l);
    for (let k = 0; k < 3; k++) for (const l of driverEvent(r, unmapped)) lines.push(at() + l);
  }
  return lines.join("\n");
}

/** Replays `text` on a new platform; `unread`: with no result sink (the core gets Opt.RESULTS_UNREAD). */
function run(o: Opts, text: string, unread = false): { results: Result[]; summary: unknown; replays: number; kept: number; p: Platform<SmmuModule> } {
  const p = build(o);
  const driver = p.createDriver({ invalidation: o.invalidation });
  const results: Result[] = [];
  const stats = replay(p, parseTraceText(text, FILE), unread ? undefined : (_, _t, r) => results.push(r), { driver, file: FILE });
  const summary = summarize(p, { scenario: "memo", hostSeconds: 0, tlps: stats.tlps, driver: { mode: o.invalidation, stats: stats.driver } });
  return { results, summary, replays: p.core.memoReplays(), kept: p.core.keptContextUses(), p };
}

const variants: Omit<Opts, "replayMemo">[] = [
  { timed: false, micro: false, invalidation: "strict", small: false },
  { timed: false, micro: true, invalidation: "lazy", small: true },
  { timed: true, micro: true, invalidation: "strict", small: false, debug: true },
  { timed: true, micro: false, invalidation: "lazy", small: true },
];

for (const v of variants) {
  test(`memo on and off: identical results and summary (${v.timed ? "timed" : "functional"}, micro-TLB ${v.micro ? "on" : "off"}, ${v.invalidation}, ${v.small ? "small" : "preset"} caches${v.debug ? ", debug core" : ""})`, () => {
    const text = trace(v.timed ? 23 : 22);
    const on = run({ ...v, replayMemo: true }, text);
    const off = run({ ...v, replayMemo: false }, text);
    assert.is(on.results.length, 6500);
    assert.equal(on.results, off.results);
    assert.equal(on.summary, off.summary);
    assert.equal([off.replays, off.kept], [0, 0]);
    assert.ok(on.kept > 100, `kept contexts used ${on.kept}`);
    // the memo did replay, and the trace reached what it should (faults, stale uses with lazy unmaps)
    // (the small caches thrash: a third of the STE lookups miss with 5 streams over 4 sets)
    assert.ok(on.replays > (v.small ? 100 : 1000), `replays ${on.replays}`);
    const s = on.summary as { faulted: number; pmcg: { pcie_ats_trans_rq: number; config_cache_miss: number } };
    assert.ok(s.faulted > 0);
    assert.ok(s.pmcg.pcie_ats_trans_rq > 0 && s.pmcg.config_cache_miss > 0);
    // lazy unmaps leave TLB entries whose leaf changed: used, flagged stale, never replayed
    const stale = on.p.core.counters().staleIotlbUses;
    if (v.invalidation === "lazy") assert.ok(stale > 0n, `stale uses ${stale}`);
  });
}

for (const timed of [false, true]) {
  test(`results unread (no result sink: Opt.RESULTS_UNREAD, one scratch record), ${timed ? "timed" : "functional"}: the same summary and replays as with results read`, () => {
    const o: Opts = { replayMemo: true, timed, micro: false, invalidation: "lazy", small: false };
    const text = trace(24);
    const read = run(o, text), unread = run(o, text, true);
    assert.is(unread.results.length, 0);
    assert.equal(unread.summary, read.summary);
    assert.equal([unread.replays, unread.kept], [read.replays, read.kept]);
    assert.ok(read.replays > 1000);
  });
}

// ---- which memo entries an invalidation drops ----------------------------------------------------------

// The working set: 12 requests on 12 (stream, page) pairs, each served by hits once warm.
//   A  00:02.0 (STE 0x10, CD 0, ASID 1)        S1_VA pages 0-3       4
//   B  00:02.0 SubstreamID 1 (CD 1, ASID 2)    SSID_VA pages 0-1     2
//   C  00:03.0 (STE 0x18, stage 2, VMID 1)     IPA pages 0-1         2
//   D  00:04.0 (STE 0x20, nested ASID 3/VMID 2) GVA pages 0-1        2
//   E  00:06.0 (STE 0x30, CD 0, ASID 1)        S1_VA pages 0-1       2  (A's TLB entries: same ASID and VA)
const SID_E = 0x30;
const page = (base: bigint, i: number) => base + BigInt(i) * 4096n + 0x40n;
const A = [0, 1, 2, 3].map((i): Request => ({ op: "MRd", sid: SID_S1, addr: page(S1_VA, i) }));
const B = [0, 1].map((i): Request => ({ op: "MRd", sid: SID_S1, pasid: 1, addr: page(SSID_VA, i) }));
const C = [0, 1].map((i): Request => ({ op: "MRd", sid: SID_S2, addr: page(IPA, i) }));
const D = [0, 1].map((i): Request => ({ op: "MRd", sid: 0x20, addr: page(GVA, i) }));
const E = [0, 1].map((i): Request => ({ op: "MRd", sid: SID_E, addr: page(S1_VA, i) }));
const WORK = [...A, ...B, ...C, ...D, ...E];

/**
 * A warm platform (functional, micro-TLB off): the working set translated three times (walks and
 * fills; all hits, remembered; all 12 replayed), then `commands` (each followed by a
 * CMD_SYNC) and the working set once more. Returns the replays of that last pass and its cache
 * misses.
 */
function afterCommands(commands: { q0: bigint; q1: bigint }[]): { replays: number; steMisses: number; cdMisses: number; tlbMisses: number } {
  const p = build({ replayMemo: true, timed: false, micro: false, invalidation: "strict", small: false });
  p.builder.attach({ sid: SID_E, domain: 1 });
  const driver = p.createDriver();
  p.translate(WORK);
  p.translate(WORK);
  // E[1] was all hits in the first pass already (its STE and CD filled by E[0], its TLB entry by
  // A[1]): recorded there and replayed in the second; the rest is recorded in the second
  assert.is(p.core.memoReplays(), 1, "the second pass replays E[1] only");
  p.translate(WORK);
  assert.is(p.core.memoReplays(), 13, "the third pass is replayed entirely");
  const text = commands.flatMap((c) => [`cmd ${hex(c.q0)} ${hex(c.q1)}`, "cmd 0x46 0x0"]).join("\n");
  replay(p, parseTraceText(text, FILE), undefined, { driver, file: FILE });
  const before = p.core.cacheStats();
  const r = p.translate(WORK);
  assert.ok(r.every((x) => x.status === "ok"));
  const after = p.core.cacheStats();
  const misses = (n: "contextCache" | "pasidCache" | "iotlb") => Number(after[n].misses - before[n].misses);
  return { replays: p.core.memoReplays() - 13, steMisses: misses("contextCache"), cdMisses: misses("pasidCache"), tlbMisses: misses("iotlb") };
}

test("nothing invalidated: the fourth pass is replayed entirely (12), no cache misses", () => {
  assert.equal(afterCommands([]), { replays: 12, steMisses: 0, cdMisses: 0, tlbMisses: 0 });
});

test("CMD_CFGI_STE of StreamID 0x10 drops A and B (its STE and both its CDs), nothing else", () => {
  // A's first request misses the STE and CD 0 (refilled: the other A requests' entries name the
  // old slots' generations, so they take the full path too, hitting the refilled entries); B's
  // first misses CD 1. TLB entries are untouched: no TLB miss. 12 - 4 - 2 = 6 replays.
  assert.equal(afterCommands([cfgiSte(SID_S1)]), { replays: 6, steMisses: 1, cdMisses: 2, tlbMisses: 0 });
});

test("CMD_CFGI_CD of (0x10, SubstreamID 1) drops B only", () => {
  assert.equal(afterCommands([cfgiCd(SID_S1, 1)]), { replays: 10, steMisses: 0, cdMisses: 1, tlbMisses: 0 });
});

// A stage-1 or nested TLB miss is two missed lookups (the ASID's entries, then the VMID's global
// ones); a stage-2-only miss is one.

test("CMD_TLBI_NH_ASID of ASID 1 drops A and E (they share ASID 1's TLB entries), not ASID 2 or the nested ASID 3", () => {
  // the TLB entries of ASID 1: S1_VA pages 0-3, 4 requests missing (E's pages 0-1 hit what A refilled), 2 lookups each
  assert.equal(afterCommands([tlbiNhAsid(1, 0)]), { replays: 6, steMisses: 0, cdMisses: 0, tlbMisses: 8 });
});

test("CMD_TLBI_NH_ASID of the nested ASID 3 (VMID 2) drops D only", () => {
  assert.equal(afterCommands([tlbiNhAsid(3, 2)]), { replays: 10, steMisses: 0, cdMisses: 0, tlbMisses: 4 });
});

test("CMD_TLBI_S12_VMALL of VMID 1 drops C only; of VMID 2, D only", () => {
  assert.equal(afterCommands([tlbiS12Vmall(1)]), { replays: 10, steMisses: 0, cdMisses: 0, tlbMisses: 2 });
  assert.equal(afterCommands([tlbiS12Vmall(2)]), { replays: 10, steMisses: 0, cdMisses: 0, tlbMisses: 4 });
});

test("CMD_TLBI_NH_VA of ASID 1: one address drops that page of A and E; a range of 2 pages (RIL) drops A's pages 2-3", () => {
  // one address (TG 0): S1_VA page 1, held once in the TLB, used by A[1] and E[1]
  assert.equal(afterCommands([tlbiNhVa(1, 0, { addr: S1_VA + 0x1000n, leaf: true, num: 0, scale: 0, tg: 0, ttl: 0 })]), { replays: 10, steMisses: 0, cdMisses: 0, tlbMisses: 2 });
  // TG 1 (4K), NUM 1, SCALE 0: (1 + 1) << 0 = 2 pages from S1_VA page 2
  assert.equal(afterCommands([tlbiNhVa(1, 0, { addr: S1_VA + 0x2000n, leaf: true, num: 1, scale: 0, tg: 1, ttl: 3 })]), { replays: 10, steMisses: 0, cdMisses: 0, tlbMisses: 4 });
});

test("CMD_TLBI_S2_IPA of VMID 1, IPA page 1 drops C's page 1 only (nested D keeps its combined entries)", () => {
  assert.equal(afterCommands([tlbiS2Ipa(1, { addr: IPA + 0x1000n, leaf: true, num: 0, scale: 0, tg: 0, ttl: 0 })]), { replays: 11, steMisses: 0, cdMisses: 0, tlbMisses: 1 });
});

test("CMD_CFGI_ALL (CFGI_STE_RANGE, Range 31) drops every entry: 4 STE and 4 CD misses, 0 replays", () => {
  // opcode 0x04, dw1 Range [4:0] = 31; STEs 0x10, 0x18, 0x20, 0x30 and CDs (0x10, 0), (0x10, 1), (0x20, 0), (0x30, 0)
  assert.equal(afterCommands([{ q0: 0x04n, q1: 31n }]), { replays: 0, steMisses: 4, cdMisses: 4, tlbMisses: 0 });
});

test("a register write (GBPA) voids the memo; a guest-memory write voids the entries whose leaf descriptors are in the page written", () => {
  const p = build({ replayMemo: true, timed: false, micro: false, invalidation: "strict", small: false });
  const work = WORK.slice(0, 10); // A, B, C, D
  const first = p.translate(work);
  for (let i = 0; i < 2; i++) p.translate(work);
  assert.is(p.core.memoReplays(), 10);
  p.core.setRegister("GBPA", 1n << 4n); // SHCFG: not read with SMMUEN = 1, but a register the epoch covers
  p.translate(work); // recorded again
  assert.is(p.core.memoReplays(), 10);
  p.translate(work);
  assert.is(p.core.memoReplays(), 20);
  p.core.write64(0x7000_0000n, 1n); // a page no translation reads
  p.translate(work);
  assert.is(p.core.memoReplays(), 30);
  // A's leaf descriptors share one level-3 table page (S1_VA pages 0-3); its own value written back:
  // A's 4 requests take the full path (not stale: the value is the same), B, C and D replay
  const leaf = first[0]!.leafPa;
  p.core.write64(leaf, p.core.read64(leaf)!);
  p.translate(work);
  assert.is(p.core.memoReplays(), 36);
});

test("a lazy unmap: the next TLP on the page is a stale TLB hit, not a replay; the other pages still replay", () => {
  const p = build({ replayMemo: true, timed: false, micro: false, invalidation: "lazy", small: false });
  const driver = p.createDriver({ invalidation: "lazy" });
  for (let i = 0; i < 3; i++) p.translate(A);
  assert.is(p.core.memoReplays(), 4);
  // the leaf of S1_VA page 0 is cleared; its TLBI is deferred to the flush (at the trace's end)
  const r: Result[] = [];
  const text = [`unmap 1 ${hex(S1_VA)} 0x1000`, ...A.map((q) => `MRd ${S1} addr=${hex(q.addr)}`)].join("\n");
  replay(p, parseTraceText(text, FILE), (_, _t, x) => r.push(x), { driver, file: FILE });
  assert.equal(r.map((x) => [x.status, x.stale]), [["ok", true], ["ok", false], ["ok", false], ["ok", false]]);
  assert.is(r[0]!.pa, 0x8000_0040n, "the old translation, used stale");
  // A[0]'s leaf page was written: it and A[1..3] (their leaves are in the same table page) took the full path
  assert.is(p.core.memoReplays(), 4);
  assert.is(p.core.counters().staleIotlbUses, 1n);
  // the flush at the trace's end is Linux's flush-queue flush, CMD_TLBI_NH_ASID (and the ATC): all of ASID 1 is gone
  assert.equal((driver as SmmuDriver).issued.map((c) => c.name), ["CMD_TLBI_NH_ASID", "CMD_SYNC", "CMD_ATC_INV", "CMD_SYNC"]);
  assert.equal(p.translate(A).map((x) => x.status), ["fault", "ok", "ok", "ok"]); // walks
  p.translate(A); // A[1..3] all hits: remembered
  assert.is(p.core.memoReplays(), 4);
  p.translate(A);
  assert.is(p.core.memoReplays(), 7);
});

// ---- the kept stream context (engine/smmu-context.ts) ---------------------------------------------------

test("kept stream context: consecutive walks of one stream use it; another stream's, CFGI_STE or a register write in between do not", () => {
  const steps = (p: Platform<SmmuModule>) => {
    const driver = p.createDriver();
    const walk = (sid: number, base: bigint, from: number, n: number) => Array.from({ length: n }, (_, i): Request => ({ op: "MRd", sid, addr: page(base, from + i) }));
    const out: [Result[], number][] = [];
    const step = (reqs: Request[]) => out.push([p.translate(reqs), p.core.keptContextUses()]);
    // 8 fresh pages of 00:02.0 (TLB misses): the 1st reads its STE and CD (misses), the 2nd hits
    // both (its context is kept), the 3rd-8th use it: 6
    step(walk(SID_S1, S1_VA, 0, 8));
    // interleaved with fresh pages of 00:03.0 (stage 2): the first uses the context step 1 left loaded;
    // after it every transaction loads the other stream's STE: 7
    step(walk(SID_S1, S1_VA, 8, 8).flatMap((q, i) => [q, walk(SID_S2, IPA, i, 1)[0]!]));
    // one walk of 00:02.0 (its context resolved from hits and kept: 7), then CMD_CFGI_STE of 0x10
    // (its STE and CDs leave the caches): the next walk reads them, the one after hits and keeps
    // them, the last two use them: 9
    step(walk(SID_S1, S1_VA, 16, 1));
    replay(p, parseTraceText(`cmd ${hex(cfgiSte(SID_S1).q0)} 0x1\ncmd 0x46 0x0`, FILE), undefined, { driver, file: FILE });
    step(walk(SID_S1, S1_VA, 17, 4));
    // a register write (a new epoch): the first walk resolves its context again, the next two use it: 11
    p.core.setRegister("GBPA", 1n << 4n);
    step(walk(SID_S1, S1_VA, 21, 3));
    // the same for stage-2-only 00:03.0 (a context without a CD): one walk (kept: 11), CMD_CFGI_STE of
    // 0x18, four walks (read, kept, used twice): 13
    step(walk(SID_S2, IPA, 8, 1));
    replay(p, parseTraceText(`cmd ${hex(cfgiSte(SID_S2).q0)} 0x1\ncmd 0x46 0x0`, FILE), undefined, { driver, file: FILE });
    step(walk(SID_S2, IPA, 9, 4));
    // nested 00:04.0 (STE, then its CD through stage 2): 4 fresh pages, the last two use the kept context: 15
    step(walk(0x20, GVA, 0, 4));
    return out;
  };
  const on = steps(build({ replayMemo: true, timed: true, micro: false, invalidation: "strict", small: false }));
  const off = steps(build({ replayMemo: false, timed: true, micro: false, invalidation: "strict", small: false }));
  assert.equal(on.map(([, k]) => k), [6, 7, 7, 9, 11, 11, 13, 15]);
  assert.equal(off.map(([, k]) => k), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(on.map(([r]) => r), off.map(([r]) => r), "identical results, timing included");
  assert.ok(on.every(([r]) => r.every((x) => x.status === "ok")));
});

// ---- with the options main's SMMU gained: IORT routing, TLB conflict detection ---------------------------

/**
 * One stage-1 domain (ASID 1, 16 pages at S1_VA) attached to 00:02.0 of segment 0 and 0001:01:00.0
 * of segment 1, behind two root complexes (segment 0: RIDs 0x000-0x0ff -> StreamIDs 0x100-0x1ff,
 * CANWBS clear; segment 1: RIDs 0x100-0x10f -> 0x200-0x20f, CANWBS set), or without a map.
 */
function routedUnit(fast: boolean, o: { map: boolean; tlbConflict: boolean }): Platform<SmmuModule> {
  const rcs = [
    { segment: 0, idMappings: [{ rid: "00:00.0", count: 256, streamId: 0x100 }] },
    { segment: 1, canwbs: true, idMappings: [{ rid: "01:00.0", count: 16, streamId: 0x200 }] },
  ].map((rc) => rootComplexSchema.parse(rc));
  const streamMap = o.map ? streamMapOf(rcs, 16, "rootComplexes", (_p, m) => new Error(m)) : undefined;
  const p = createPlatform("smmuv3", {
    build: "release", replayMemo: fast, timing: false, caches: { microTlb: { enable: false } },
    ...(streamMap ? { streamMap } : {}), ...(o.tlbConflict ? { tlbConflict: "event" } : {}),
  } as PlatformOptions<SmmuModule>);
  const d = p.builder.createDomain({ id: 1, type: "s1", asid: 1 });
  p.builder.map(d, { iova: S1_VA, pa: 0x8000_0000n, size: 16n * 4096n, pageSize: 4096n });
  // the builder takes StreamIDs: 00:02.0 is 0x100 + 0x10 through the map, 0001:01:00.0 is 0x200
  p.builder.attach({ sid: o.map ? 0x110 : 0x10, domain: 1 });
  if (o.map) p.builder.attach({ sid: 0x200, domain: 1 });
  p.enable();
  return p;
}

for (const o of [{ map: true, tlbConflict: false }, { map: false, tlbConflict: true }]) {
  test(`${o.map ? "an IORT RID-to-StreamID map (memo keyed by requester ID, CANWBS per root complex)" : "TLB conflict detection on (no memo; the kept context still used)"}: fast paths on = off`, () => {
    const r = new Prng(9);
    const reqs = Array.from({ length: 400 }, (): Request => ({
      op: r.int(3) === 0 ? "MWr" : "MRd", sid: o.map && r.int(2) === 0 ? 0x1_0100 : 0x10, addr: page(S1_VA, r.int(o.tlbConflict ? 16 : 6)), ns: r.int(2) === 0,
    }));
    const runs = [true, false].map((fast) => {
      const p = routedUnit(fast, o);
      const results = [p.translate(reqs), p.translate(reqs)];
      return { results, counters: p.core.counters(), caches: p.core.cacheStats(), replays: p.core.memoReplays(), kept: p.core.keptContextUses() };
    });
    const [on, off] = runs as [(typeof runs)[0], (typeof runs)[0]];
    assert.equal(on.results, off.results);
    assert.equal([on.counters, on.caches], [off.counters, off.caches]);
    if (o.map) {
      // the same page through both root complexes: No-Snoop writes stay non-coherent on segment 0, CANWBS makes them coherent on segment 1
      const ns = on.results[1]!.filter((x, i) => reqs[i]!.ns && reqs[i]!.op === "MWr");
      assert.ok(ns.some((x) => x.snoop === false) && ns.some((x) => x.snoopBy === "canwbs"));
      assert.ok(on.replays > 300, `replays ${on.replays}`);
    } else {
      assert.is(on.replays, 0);
      assert.ok(on.kept > 10, `kept ${on.kept}`);
    }
  });
}

// ---- random structures ---------------------------------------------------------------------------------

test("random STE, CD and descriptor memory (arch/smmuv3/random-structures.ts), each request three times: fast paths on = off", () => {
  let replays = 0, kept = 0;
  fc.assert(
    fc.property(unitCase, fc.boolean(), (c, micro) => {
      const runs = [true, false].map((fast) => {
        const core = smmu("release", { CR0: c.cr0, GBPA: c.gbpa });
        // the gem5-smmuv3 preset's caches (micro-TLB on or off), functional
        core.configure({ ...platformCaches("gem5-smmuv3"), ...(micro ? {} : { microTlb: { ...platformCaches("gem5-smmuv3").microTlb, enable: false } }) }, resolveTiming({ enable: false }));
        core.setOptions({ physAddrBits: 52, options: fast ? 0 : Opt.NO_REPLAY_MEMO, pgsnpNoSc: 0 });
        for (const p of PAGES) core.zeroPage(p);
        c.stes.forEach((d, sid) => core.writeQwords(0x10000n + BigInt(sid) * 64n, d));
        c.cds.forEach((d, i) => core.writeQwords(0x20000n + BigInt(i) * 64n, d));
        for (const [page, slot, v] of c.memory) core.write64(page + BigInt(slot) * 8n, v);
        // repeated: the second and third rounds hit what the first filled
        const results = core.translate([...c.requests, ...c.requests, ...c.requests]);
        const queue = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => event(core, i));
        if (fast) {
          replays += core.memoReplays();
          kept += core.keptContextUses();
        }
        return { results, queue, prod: core.getRegister("EVENTQ_PROD"), counters: core.counters(), arch: core.archCounters(), caches: core.cacheStats() };
      });
      assert.equal(runs[0], runs[1]);
    }),
    { numRuns: 150, seed: 20261207 },
  );
  // random tables rarely translate (most requests fault or abort, which neither fast path keeps):
  // this checks on = off over malformed and odd structures more than it exercises the fast paths
  assert.ok(replays + kept > 0, `replays ${replays}, kept contexts ${kept}`);
});

test.run();
