/**
 * Loads the WebAssembly core and gives the host typed access to it: registers, guest memory, the
 * request/result rings and the counters. Translation itself happens only in the core.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as abi from "./abi.ts";
import { bucketLow } from "./histogram.ts";
import type { TimingConfig } from "../config/timing.ts";

export type CoreBuild = "release" | "debug";

interface CoreExports {
  memory: WebAssembly.Memory;
  init(): void;
  run(n: number): number;
  memWrite(lo: number, hi: number, n: number): number;
  memRead(lo: number, hi: number, n: number): number;
  guestPages(): number;
  configure(): void;
  timingStats(): number;
  memoReplays(): number;
  keptContextUses(): number;
  regWrite(id: number, lo: number, hi: number): void;
  smmuStreamId(sid: number): number;
}

const modules = new Map<CoreBuild, WebAssembly.Module>();

function moduleFor(build: CoreBuild): WebAssembly.Module {
  let m = modules.get(build);
  if (!m) {
    const path = fileURLToPath(new URL(`../../build/${process.env.IOMMU_EMU_CORE === "coverage" ? "coverage" : build}.wasm`, import.meta.url)); // npm run coverage
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new Error(`the core is not built (${path} is missing): run "npm run build"`);
    }
    m = new WebAssembly.Module(bytes);
    modules.set(build, m);
  }
  return m;
}

/** A request as the host describes it; `Core.translate` encodes it into the request ring. */
export interface Request {
  op: "MRd" | "MWr" | "ATS";
  sid: number;
  pasid?: number;
  priv?: boolean;
  exe?: boolean;
  addr: bigint;
  len?: number;
  ns?: boolean;
  ro?: boolean;
  ido?: boolean;
  translated?: boolean;
  nw?: boolean;
  time?: bigint;
}

export type Status = (typeof abi.statusNames)[number];

/**
 * The timing model's run statistics (cycles), and per latency class its latency histogram: the
 * non-empty buckets as [smallest latency of the bucket, count] pairs, by latency (src/core/histogram.ts
 * says which latencies a bucket holds: one below 4096 cycles, 2^-8 of them or fewer above).
 */
export interface TimingStats {
  firstArrival: bigint;
  lastCompletion: bigint;
  stallCycles: bigint;
  peakOutstanding: bigint;
  walkerBusyCycles: bigint;
  timed: bigint;
  invalidationCycles: bigint;
  coalesced: bigint;
  rewalks: bigint;
  classes: Record<(typeof abi.latencyClassNames)[number], { count: bigint; sum: bigint; max: bigint; histogram: [number, number][] }>;
}
/** What decided the snoop outcome, by the architecture's catalogue (VT-d: tlp, pgsnp, pte, none). */
export type SnoopByName = string;

/** A decoded result record. */
export interface Result {
  status: Status;
  pa: bigint;
  /** Physical address of the leaf entry used (0n: none) and its value after A/D updates. */
  leafPa: bigint;
  leafPte: bigint;
  /** Nested and second-stage-only: the SS leaf entry that mapped the final address. */
  s2LeafPa: bigint;
  /**
   * `stage`: SMMUv3, the translation stage that faulted (absent for faults of no stage);
   * `class`: for stage-2 faults, what stage 2 was translating (event record CLASS).
   */
  fault?: { code: number; name: string; recorded: boolean; level: number; stage?: 1 | 2; class?: (typeof abi.faultClassNames)[number] };
  pageLg2: number;
  reads: number;
  snoop: boolean;
  snoopBy: SnoopByName;
  perms: { r: boolean; w: boolean; x: boolean; u: boolean };
  priv: boolean;
  global: boolean;
  nsAllowed: boolean;
  passthrough: boolean;
  /** Translated request: the device's own translation cache (device-TLB) supplied the address. */
  atc: boolean;
  /** The translation used had already been removed by software (see README "Stale translations"). */
  stale: boolean;
  /** The root complex routed it before the IOMMU (a p2p window, or a fixed MSI doorbell): never translated, untimed. */
  routed?: true;
  /** The domain tag the translation used (VT-d: the DID of the context or PASID entry). */
  domain: number;
  /** The address-space tag (VT-d: the PASID used, RID_PASID for requests without one); absent: none. */
  addressSpace?: number;
  /** Timing model: arrival cycle at the IOMMU and cycles to completion (0 in a functional run). */
  issue: bigint;
  latency: number;
  /** The translation kind (VT-d scalable mode: PGTT, 1 FS, 2 SS, 3 nested, 4 PT; legacy mode: 0x10 | TT). */
  kind: number;
  /** SMMUv3 with a RID-to-StreamID map (Core.setStreamMap): the StreamID the request was routed to. */
  streamId?: number;
}

/** One range of an SMMUv3 RID-to-StreamID map (abi IortEntry): SIDs inBase..inBase+count-1 of root complex rc. */
export interface StreamMapRange {
  inBase: number;
  count: number;
  outBase: number;
  rc: number;
}

const opKind = { MRd: abi.ReqKind.MRD, MWr: abi.ReqKind.MWR, ATS: abi.ReqKind.ATS } as const;
const MASK32 = 0xffffffffn;
/** Counter indices of the stale uses (staleUses()). */
const STALE_IOTLB = abi.counterNames.indexOf("staleIotlbUses");
const STALE_ATC = abi.counterNames.indexOf("staleAtcUses");

export class Core {
  private readonly ex: CoreExports;
  private buf!: ArrayBuffer;
  private u8!: Uint8Array;
  private u32!: Uint32Array;
  private u64!: BigUint64Array;

  /** `arch`: what the unit is (abi Ctrl.ARCH); the core dispatches every call on it. */
  constructor(
    readonly build: CoreBuild = "release",
    readonly arch: abi.ArchName = "vtd",
  ) {
    const instance = new WebAssembly.Instance(moduleFor(build), {
      env: {
        abort: (msg: number, file: number, line: number, col: number) => {
          throw new Error(`core assertion failed: ${this.str(msg)} at ${this.str(file)}:${line}:${col}`);
        },
      },
    });
    this.ex = instance.exports as unknown as CoreExports;
    this.views();
    this.u32[(abi.CTRL_BASE + abi.Ctrl.ARCH) >>> 2] = abi.archIds[arch];
    this.ex.init();
  }

  /** Typed views over linear memory, rebuilt whenever memory has grown (which detaches them). */
  private views(): void {
    const b = this.ex.memory.buffer;
    if (b === this.buf) return;
    this.buf = b;
    this.u8 = new Uint8Array(b);
    this.u32 = new Uint32Array(b);
    this.u64 = new BigUint64Array(b);
  }

  /** Reads an AssemblyScript string (UTF-16, byte length at ptr - 4) for assertion messages. */
  private str(ptr: number): string {
    if (!ptr) return "";
    this.views();
    const len = this.u32[(ptr - 4) >>> 2]! >>> 1;
    return String.fromCharCode(...new Uint16Array(this.buf, ptr, len));
  }

  // ---- registers and options --------------------------------------------------------------------

  /**
   * Where register `name` of this unit's architecture lives in the control block, and its width in
   * bytes (VT-d: CAP, ECAP, RTADDR; SMMUv3: abi SmmuReg, in the Ctrl.SMMU block). The one place the
   * register names of each architecture map to the core.
   */
  private registerSlot(name: string): { at: number; bytes: 4 | 8 } {
    if (this.arch === "smmuv3" && Object.hasOwn(abi.SmmuReg, name)) {
      const r = name as abi.SmmuRegName;
      return { at: abi.CTRL_BASE + abi.Ctrl.SMMU + abi.SmmuReg[r], bytes: abi.smmuRegBytes[r] };
    }
    if (this.arch === "vtd" && (name === "CAP" || name === "ECAP" || name === "RTADDR")) return { at: abi.CTRL_BASE + abi.Ctrl[name], bytes: 8 };
    throw new RangeError(`${name} is not a register of this ${this.arch} unit`);
  }

  /** Sets a register of the unit's architecture (a 32-bit register takes the low 32 bits of `value`). */
  setRegister(name: "CAP" | "ECAP" | "RTADDR" | abi.SmmuRegName, value: bigint): void {
    const { at, bytes } = this.registerSlot(name);
    this.views();
    if (bytes === 8) this.u64[at >>> 3] = BigInt.asUintN(64, value);
    else this.u32[at >>> 2] = Number(BigInt.asUintN(32, value));
  }

  /**
   * A software write to a register with its side effects. VT-d (abi RegId): GCMD (TE, QIE, SRTP),
   * IQA, IQT (processes the invalidation queue), FSTS/ICS (write 1 to clear), CCMD, IVA, IOTLB_REG.
   * SMMUv3 (abi SmmuReg): any register; CMDQ_PROD, GERRORN and CR0 process the command queue.
   */
  writeRegister(name: keyof typeof abi.RegId | abi.SmmuRegName, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    const id = this.arch === "smmuv3" ? abi.SmmuReg[name as abi.SmmuRegName] : abi.RegId[name as keyof typeof abi.RegId];
    if (id === undefined) throw new RangeError(`${name} is not a register of this ${this.arch} unit`);
    this.ex.regWrite(id, Number(v & MASK32), Number(v >> 32n));
    this.views();
  }

  /** Reads an invalidation or status register from the control block. */
  readRegister(name: "FSTS" | "IQA" | "IQH" | "IQT" | "IQERCD" | "ICS" | "CCMD" | "IOTLB_REG" | "IVA" | "GSTS"): bigint {
    this.views();
    const off = abi.CTRL_BASE + abi.Ctrl[name];
    return name === "FSTS" || name === "ICS" || name === "GSTS" ? BigInt(this.u32[off >>> 2]!) : this.u64[off >>> 3]!;
  }

  /** A register of the unit's architecture as the core left it (SMMUv3: EVENTQ_PROD after events, CR0ACK). */
  getRegister(name: "CAP" | "ECAP" | "RTADDR" | abi.SmmuRegName): bigint {
    const { at, bytes } = this.registerSlot(name);
    this.views();
    return bytes === 8 ? this.u64[at >>> 3]! : BigInt(this.u32[at >>> 2]!);
  }

  setGsts(value: number): void {
    this.views();
    this.u32[(abi.CTRL_BASE + abi.Ctrl.GSTS) >>> 2] = value >>> 0;
  }

  /** Whether an SMMUv3 RID-to-StreamID map is in force (setStreamMap with ranges). */
  streamMapped = false;

  /**
   * SMMUv3: writes the root complexes' RID-to-StreamID map (abi IortMap): `ranges` disjoint (they
   * are sorted here), `canwbs` the CANWBS flag of each root complex by index. No ranges: the identity.
   * The ranges are validated by the scenario (src/arch/smmuv3/iort.ts); a RangeError here is a bug.
   */
  setStreamMap(ranges: readonly StreamMapRange[], canwbs: readonly boolean[]): void {
    if (this.arch !== "smmuv3") throw new RangeError(`a RID-to-StreamID map needs an smmuv3 unit, not ${this.arch}`);
    if (ranges.length > abi.IORT_MAX_RANGES) throw new RangeError(`${ranges.length} ID mappings (at most ${abi.IORT_MAX_RANGES})`);
    if (canwbs.length > abi.IORT_MAX_ROOT_COMPLEXES) throw new RangeError(`${canwbs.length} root complexes (at most ${abi.IORT_MAX_ROOT_COMPLEXES})`);
    this.views();
    const at = abi.CTRL_BASE + abi.Ctrl.IORT;
    const sorted = [...ranges].sort((a, b) => a.inBase - b.inBase);
    sorted.forEach((r, i) => {
      const e = (at + abi.IortMap.ENTRIES + i * abi.IORT_ENTRY_SIZE) >>> 2;
      this.u32[e + abi.IortEntry.IN_BASE / 4] = r.inBase >>> 0;
      this.u32[e + abi.IortEntry.COUNT / 4] = r.count >>> 0;
      this.u32[e + abi.IortEntry.OUT_BASE / 4] = r.outBase >>> 0;
      this.u32[e + abi.IortEntry.RC / 4] = r.rc;
    });
    this.u32[(at + abi.IortMap.CANWBS) >>> 2] = canwbs.reduce((m, f, i) => (f ? m | (1 << i) : m), 0) >>> 0;
    this.u32[(at + abi.IortMap.RANGES) >>> 2] = sorted.length;
    this.streamMapped = sorted.length > 0;
  }

  /**
   * Writes the root complex's peer-to-peer windows (abi P2pMap): requests from `sid` (segment<<16 |
   * RID) to an untranslated address in [base, last] are routed to the peer before the IOMMU (status
   * p2p). Windows come from the scenario's RESERVED regions (src/iommu/regions.ts); a RangeError here is a bug.
   */
  setP2pWindows(windows: readonly { sid: number; base: bigint; last: bigint; doorbell?: boolean }[]): void {
    if (windows.length > abi.P2P_MAX_RANGES) throw new RangeError(`${windows.length} peer-to-peer windows (at most ${abi.P2P_MAX_RANGES})`);
    this.views();
    const at = abi.CTRL_BASE + abi.Ctrl.PEER_WINDOWS;
    windows.forEach((w, i) => {
      const e = at + abi.P2pMap.ENTRIES + i * abi.P2P_ENTRY_SIZE;
      this.u32[(e + abi.P2pEntry.SID) >>> 2] = w.sid >>> 0;
      this.u32[(e + abi.P2pEntry.KIND) >>> 2] = w.doorbell ? abi.PeerKind.DOORBELL : abi.PeerKind.P2P;
      this.u64[(e + abi.P2pEntry.BASE) >>> 3] = w.base;
      this.u64[(e + abi.P2pEntry.LAST) >>> 3] = w.last;
    });
    this.u32[(at + abi.P2pMap.RANGES) >>> 2] = windows.length;
  }

  /** SMMUv3: the MSI doorbells behind the SMMU (abi DoorbellMap), their 4 KiB pages; a write translated into one is an interrupt. */
  setDoorbells(addrs: readonly bigint[]): void {
    if (this.arch !== "smmuv3") throw new RangeError(`MSI doorbells behind the IOMMU need an smmuv3 unit, not ${this.arch}`);
    if (addrs.length > abi.DOORBELL_MAX) throw new RangeError(`${addrs.length} MSI doorbells (at most ${abi.DOORBELL_MAX})`);
    this.views();
    const at = abi.CTRL_BASE + abi.Ctrl.DOORBELLS;
    addrs.forEach((a, i) => (this.u64[(at + abi.DoorbellMap.PAGES + i * 8) >>> 3] = a & ~0xfffn));
    this.u32[(at + abi.DoorbellMap.COUNT) >>> 2] = addrs.length;
  }

  setOptions(o: { physAddrBits: number; options: number; pgsnpNoSc: number }): void {
    this.views();
    this.u32[(abi.CTRL_BASE + abi.Ctrl.PHYS_ADDR_BITS) >>> 2] = o.physAddrBits;
    this.u32[(abi.CTRL_BASE + abi.Ctrl.OPTIONS) >>> 2] = o.options;
    this.u32[(abi.CTRL_BASE + abi.Ctrl.PGSNP_NO_SC) >>> 2] = o.pgsnpNoSc;
  }

  /**
   * Writes every cache's geometry, policy, latency and ports and the timing parameters, then
   * rebuilds the caches and the timing state (empty, counters zero).
   */
  configure(
    caches: Record<abi.CacheName, { entries: number; assoc: number; policy: (typeof abi.policyNames)[number]; enable: boolean; latencyCycles: number; ports: number }>,
    timing: TimingConfig,
    seed = 1,
  ): void {
    this.timingConfig = timing;
    this.views();
    const t = (abi.CTRL_BASE + abi.Ctrl.TIMING) >>> 2;
    const w = (off: number, v: number | boolean) => (this.u32[t + off / 4] = typeof v === "boolean" ? (v ? 1 : 0) : v >>> 0);
    w(abi.TimingCfg.ENABLED, timing.enable);
    w(abi.TimingCfg.WALKER_SLOTS, timing.walkerSlots);
    w(abi.TimingCfg.XLATE_SLOTS, timing.translationSlots);
    w(abi.TimingCfg.COALESCE, timing.coalesce);
    w(abi.TimingCfg.IN_ORDER, timing.completionOrder === "in-order");
    w(abi.TimingCfg.STRUCT_READ_LAT, timing.structureReadLatencyCycles);
    const lat = typeof timing.readLatencyCycles === "number" ? Array(5).fill(timing.readLatencyCycles) : timing.readLatencyCycles;
    lat.forEach((v, i) => w(abi.TimingCfg.READ_LAT + i * 4, v));
    w(abi.TimingCfg.AD_WRITE_LAT, timing.adWriteLatencyCycles);
    w(abi.TimingCfg.INV_FETCH, timing.invDescriptorFetchCycles);
    w(abi.TimingCfg.INV_PER_ENTRY, timing.invPerEntryCycles);
    w(abi.TimingCfg.INV_WAIT, timing.invWaitCycles);
    w(abi.TimingCfg.LINK_LAT, timing.linkLatencyCycles);
    this.writeCaches(caches, seed);
  }

  /** The timing parameters in force. */
  timingConfig?: TimingConfig;

  private writeCaches(caches: Record<abi.CacheName, { entries: number; assoc: number; policy: (typeof abi.policyNames)[number]; enable: boolean; latencyCycles: number; ports: number }>, seed: number): void {
    this.views();
    this.u32[(abi.CTRL_BASE + abi.Ctrl.SEED) >>> 2] = seed >>> 0;
    for (const name of abi.cacheNames) {
      const c = caches[name];
      const o = (abi.CTRL_BASE + abi.Ctrl.CACHES + abi.CacheId[name] * abi.CACHE_CFG_SIZE) >>> 2;
      this.u32[o + abi.CacheCfg.ENTRIES / 4] = c.entries;
      this.u32[o + abi.CacheCfg.ASSOC / 4] = c.assoc;
      this.u32[o + abi.CacheCfg.POLICY / 4] = abi.policyNames.indexOf(c.policy);
      this.u32[o + abi.CacheCfg.ENABLED / 4] = c.enable ? 1 : 0;
      this.u32[o + abi.CacheCfg.LATENCY / 4] = c.latencyCycles;
      this.u32[o + abi.CacheCfg.PORTS / 4] = c.ports;
    }
    this.ex.configure();
    this.views();
  }

  /** The timing statistics block (abi TimingStat), decoded; undefined in a functional run. */
  timingStats(): TimingStats | undefined {
    if (!this.timingConfig?.enable) return undefined;
    this.views();
    const base = this.ex.timingStats();
    const q = (off: number) => this.u64[(base + off) >>> 3]!;
    const classes = {} as TimingStats["classes"];
    abi.latencyClassNames.forEach((name, c) => {
      const o = abi.TimingStat.CLASSES + c * abi.TIMING_CLASS_SIZE;
      // u64 counts read as (lo, hi) u32 pairs: no BigInt per bucket, only the non-empty ones kept
      const words = new Uint32Array(this.buf, base + abi.TimingStat.HIST + c * abi.HIST_CLASS_BYTES, 2 * abi.HIST_BUCKETS);
      const histogram: [number, number][] = [];
      for (let i = 0; i < abi.HIST_BUCKETS; i++) {
        const lo = words[2 * i]!, hi = words[2 * i + 1]!;
        if (lo | hi) histogram.push([bucketLow(i), hi * 2 ** 32 + lo]);
      }
      classes[name] = { count: q(o), sum: q(o + 8), max: q(o + 16), histogram };
    });
    return {
      firstArrival: q(abi.TimingStat.FIRST_ARRIVAL),
      lastCompletion: q(abi.TimingStat.LAST_COMPLETION),
      stallCycles: q(abi.TimingStat.STALL_CYCLES),
      peakOutstanding: q(abi.TimingStat.PEAK_OUTSTANDING),
      walkerBusyCycles: q(abi.TimingStat.WALKER_BUSY),
      timed: q(abi.TimingStat.TIMED),
      invalidationCycles: q(abi.TimingStat.INV_CYCLES),
      coalesced: q(abi.TimingStat.COALESCED),
      rewalks: q(abi.TimingStat.REWALKS),
      classes,
    };
  }

  /** Counters of every cache (zero for a disabled cache). */
  cacheStats(): Record<abi.CacheName, Record<(typeof abi.cacheCounterNames)[number], bigint>> {
    this.views();
    const out = {} as Record<abi.CacheName, Record<(typeof abi.cacheCounterNames)[number], bigint>>;
    for (const name of abi.cacheNames) {
      const base = (abi.CACHE_STATS_BASE + abi.CacheId[name] * abi.CACHE_STATS_SIZE) >>> 3;
      out[name] = Object.fromEntries(abi.cacheCounterNames.map((k, i) => [k, this.u64[base + i]!])) as Record<(typeof abi.cacheCounterNames)[number], bigint>;
    }
    return out;
  }

  // ---- guest memory -----------------------------------------------------------------------------

  /** Writes 64-bit words at guest physical address `pa` (8-byte aligned, below 2^52). */
  writeQwords(pa: bigint, words: ArrayLike<bigint>): void {
    for (let done = 0; done < words.length; ) {
      const n = Math.min(words.length - done, abi.STAGE_QWORDS);
      this.views();
      const base = abi.STAGE_BASE >>> 3;
      for (let i = 0; i < n; i++) this.u64[base + i] = BigInt.asUintN(64, words[done + i]!);
      const at = pa + BigInt(done) * 8n;
      if (this.ex.memWrite(Number(at & MASK32), Number(at >> 32n), n) !== 0)
        throw new RangeError(`guest write of ${n} qwords at 0x${at.toString(16)} is unaligned or beyond 2^52`);
      done += n;
    }
  }

  write64(pa: bigint, value: bigint): void {
    this.writeQwords(pa, [value]);
  }

  /** Writes a zero-filled 4 KiB page, making it readable. */
  zeroPage(pa: bigint): void {
    this.writeQwords(pa, new BigUint64Array(512));
  }

  /** The qword at `pa`, or undefined if nobody wrote that page. */
  read64(pa: bigint): bigint | undefined {
    if (pa < 0n || pa >> 52n !== 0n) return undefined;
    const missing = this.ex.memRead(Number(pa & MASK32), Number(pa >> 32n), 1);
    this.views();
    return missing ? undefined : this.u64[abi.STAGE_BASE >>> 3]!;
  }

  guestPages(): number {
    return this.ex.guestPages();
  }

  /**
   * Requests the core replayed from its replay memo since it was configured (a diagnostic of the
   * simulator's fast path for tests: no result or counter differs with the memo off).
   */
  memoReplays(): number {
    return this.ex.memoReplays() >>> 0;
  }

  /**
   * SMMUv3 transactions the core translated with the stream context kept from the one before
   * (engine/smmu-context.ts) since it was configured: a diagnostic like memoReplays().
   */
  keptContextUses(): number {
    return this.ex.keptContextUses() >>> 0;
  }

  // ---- translation --------------------------------------------------------------------------------

  /** The request ring as 32-bit words (REQ_SIZE / 4 = 6 words per record; abi Req). */
  requestWords(): Uint32Array {
    this.views();
    return new Uint32Array(this.buf, abi.REQ_BASE, (abi.RING_RECORDS * abi.REQ_SIZE) / 4);
  }

  /** The result ring as bytes. */
  resultBytes(): Uint8Array {
    this.views();
    return new Uint8Array(this.buf, abi.RES_BASE, abi.RING_RECORDS * abi.RES_SIZE);
  }

  /**
   * Translates the first `n` records of the request ring (n <= RING_RECORDS). With `resultsUnread`
   * the caller promises to read none of the batch's result records (abi Opt.RESULTS_UNREAD): the
   * core does not write the result ring then, and decode() of this batch is meaningless.
   */
  run(n: number, resultsUnread = false): void {
    this.views();
    const at = (abi.CTRL_BASE + abi.Ctrl.OPTIONS) >>> 2;
    const o = this.u32[at]!;
    this.u32[at] = resultsUnread ? o | abi.Opt.RESULTS_UNREAD : o & ~abi.Opt.RESULTS_UNREAD;
    this.ex.run(n);
    this.views();
  }

  /** The base cycle of the request records' arrival times (abi Ctrl.REQ_TIME_BASE): TIME counts from it. */
  setTimeBase(cycle: number | bigint): void {
    this.views();
    this.u64[(abi.CTRL_BASE + abi.Ctrl.REQ_TIME_BASE) >>> 3] = BigInt(cycle);
  }

  /**
   * Encodes `r` as request record `i` of the ring; its time (default 0) becomes a delta from
   * `base` (abi Req.TIME), which the caller gives the core with setTimeBase. A RangeError when the
   * delta does not fit (below the base, or 2^32 cycles or more after it).
   */
  encode(i: number, r: Request, base = 0n): void {
    const w = this.u32;
    const o = (abi.REQ_BASE + i * abi.REQ_SIZE) >>> 2;
    const addr = BigInt.asUintN(64, r.addr);
    const delta = (r.time ?? 0n) - base;
    if (delta < 0n || delta > BigInt(abi.REQ_TIME_MAX)) throw new RangeError(`arrival ${r.time ?? 0n} is not within 2^32 - 1 cycles after the batch's base ${base}`);
    w[o] = Number(addr & MASK32);
    w[o + 1] = Number(addr >> 32n);
    w[o + 2] = r.sid >>> 0;
    w[o + 3] = (r.pasid ?? 0) >>> 0;
    w[o + 4] = Number(delta);
    let f: number = opKind[r.op];
    if (r.pasid !== undefined) f |= abi.ReqFlag.PASID;
    if (r.priv) f |= abi.ReqFlag.PRIV;
    if (r.exe) f |= abi.ReqFlag.EXE;
    if (r.ns) f |= abi.ReqFlag.NS;
    if (r.ro) f |= abi.ReqFlag.RO;
    if (r.ido) f |= abi.ReqFlag.IDO;
    if (r.translated) f |= abi.ReqFlag.TRANSLATED;
    if (r.nw) f |= abi.ReqFlag.NW;
    w[o + 5] = f | ((r.len ?? 4) << 16);
  }

  /**
   * Whether request record `i` of the batch just run was translated through a stale translation:
   * the core's mark in the request record (abi ReqFlag.STALE_USED), there whether or not the batch
   * wrote its result records (Opt.RESULTS_UNREAD).
   */
  requestStale(i: number): boolean {
    return (this.u32[(abi.REQ_BASE + i * abi.REQ_SIZE + abi.Req.FLAGS) >>> 2]! & abi.ReqFlag.STALE_USED) !== 0;
  }

  /** Stale translations used so far (counters staleIotlbUses + staleAtcUses), read without counters()'s object. */
  staleUses(): bigint {
    this.views();
    const base = abi.STATS_BASE >>> 3;
    return this.u64[base + STALE_IOTLB]! + this.u64[base + STALE_ATC]!;
  }

  /** Decodes result record `i` of the ring. */
  decode(i: number): Result {
    const o = abi.RES_BASE + i * abi.RES_SIZE;
    const u8 = this.u8;
    const q = (off: number) => this.u64[(o + off) >>> 3]!;
    const d = (off: number) => this.u32[(o + off) >>> 2]!;
    const flags = d(abi.Res.FLAGS);
    const code = u8[o + abi.Res.FAULT]!;
    const status = abi.statusNames[u8[o + abi.Res.STATUS]!]!;
    const addressSpace = d(abi.Res.ADDR_SPACE);
    const r: Result = {
      status,
      pa: q(abi.Res.PA),
      leafPa: q(abi.Res.LEAF_PA),
      leafPte: q(abi.Res.LEAF_PTE),
      s2LeafPa: q(abi.Res.S2_LEAF_PA),
      pageLg2: u8[o + abi.Res.PAGE_LG2]!,
      reads: u8[o + abi.Res.READS]!,
      snoop: (flags & abi.ResFlag.SNOOP) !== 0,
      snoopBy: abi.snoopByCatalogues[this.arch][u8[o + abi.Res.SNOOP_BY]!] ?? "none",
      perms: {
        r: (flags & abi.ResFlag.R) !== 0,
        w: (flags & abi.ResFlag.W) !== 0,
        x: (flags & abi.ResFlag.X) !== 0,
        u: (flags & abi.ResFlag.U) !== 0,
      },
      priv: (flags & abi.ResFlag.PRIV) !== 0,
      global: (flags & abi.ResFlag.GLOBAL) !== 0,
      nsAllowed: (flags & abi.ResFlag.NS_ALLOWED) !== 0,
      passthrough: (flags & abi.ResFlag.PASSTHROUGH) !== 0,
      atc: (flags & abi.ResFlag.ATC) !== 0,
      stale: (flags & abi.ResFlag.STALE) !== 0,
      domain: d(abi.Res.DOMAIN),
      issue: q(abi.Res.ISSUE),
      latency: d(abi.Res.LATENCY),
      kind: u8[o + abi.Res.KIND]!,
    };
    if (addressSpace !== 0xffffffff) r.addressSpace = addressSpace;
    if (flags & abi.ResFlag.ROUTED) r.routed = true;
    if (this.streamMapped && status !== "unrouted" && status !== "p2p") r.streamId = this.ex.smmuStreamId(this.u32[(abi.REQ_BASE + i * abi.REQ_SIZE + abi.Req.SID) >>> 2]!) >>> 0;
    if (status === "fault") {
      r.fault = {
        code,
        name: abi.faultCatalogues[this.arch].get(code)?.id ?? `0x${code.toString(16)}`,
        recorded: (flags & abi.ResFlag.RECORDED) !== 0,
        level: u8[o + abi.Res.FAULT_LEVEL]!,
      };
      const fs = u8[o + abi.Res.FAULT_STAGE]!;
      const stage = fs & abi.FaultStage.STAGE_MASK;
      if (stage === 1 || stage === 2) r.fault.stage = stage;
      if (stage === 2) r.fault.class = abi.faultClassNames[(fs >> abi.FaultStage.CLASS_SHIFT) & 3];
    }
    return r;
  }

  /** Translates `reqs` in ring-sized batches and returns the decoded results (tests, small runs). */
  translate(reqs: readonly Request[]): Result[] {
    const out: Result[] = [];
    for (let at = 0; at < reqs.length; ) {
      // A batch: up to the ring's size, as long as its times are within 2^32 - 1 cycles of each other.
      let lo = reqs[at]!.time ?? 0n, hi = lo, n = 1;
      for (; n < abi.RING_RECORDS && at + n < reqs.length; n++) {
        const t = reqs[at + n]!.time ?? 0n;
        const nlo = t < lo ? t : lo, nhi = t > hi ? t : hi;
        if (nhi - nlo > BigInt(abi.REQ_TIME_MAX)) break;
        (lo = nlo), (hi = nhi);
      }
      this.setTimeBase(lo);
      for (let i = 0; i < n; i++) this.encode(i, reqs[at + i]!, lo);
      this.run(n);
      for (let i = 0; i < n; i++) out.push(this.decode(i));
      at += n;
    }
    return out;
  }

  translateOne(req: Request): Result {
    return this.translate([req])[0]!;
  }

  // ---- counters -------------------------------------------------------------------------------

  counters(): Record<(typeof abi.counterNames)[number], bigint> {
    this.views();
    const base = abi.STATS_BASE >>> 3;
    return Object.fromEntries(abi.counterNames.map((n, i) => [n, this.u64[base + i]!])) as Record<
      (typeof abi.counterNames)[number],
      bigint
    >;
  }

  /** The run counters by the architecture's catalogue (abi counterCatalogues): every named index. */
  archCounters(): Record<string, bigint> {
    this.views();
    const base = abi.STATS_BASE >>> 3;
    const out: Record<string, bigint> = {};
    abi.counterCatalogues[this.arch].forEach((n, i) => {
      if (n) out[n] = this.u64[base + i]!;
    });
    return out;
  }

  /** Table reads of paging entries by stage ("fs" | "ss") and spec level (1 = 4 KiB table). */
  walkReads(): { fs: bigint[]; ss: bigint[] } {
    this.views();
    const at = (stage: number, level: number) => this.u64[(abi.STATS_BASE >>> 3) + abi.READS_BY_LEVEL + stage * 8 + level]!;
    const levels = [1, 2, 3, 4, 5];
    return { fs: levels.map((l) => at(0, l)), ss: levels.map((l) => at(1, l)) };
  }

  /** Fault counts by reason code (only codes that occurred). */
  faultCounts(): Map<number, bigint> {
    this.views();
    const m = new Map<number, bigint>();
    for (let code = 0; code < 256; code++) {
      const v = this.u64[(abi.FAULT_COUNTS_BASE >>> 3) + code]!;
      if (v) m.set(code, v);
    }
    return m;
  }
}
