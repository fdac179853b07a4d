/**
 * `nic-rings`: a NIC and its driver (Linux DMA API over a second-stage domain). Each ring has a
 * descriptor ring in coherent memory (mapped once, in the scenario) and buffers the driver maps
 * with `map` events before the device may use them and unmaps with `unmap` events after:
 *
 * - RX rings are filled with --ring-size buffers at the start (mapped write-only, as
 *   dma_map_single(DMA_FROM_DEVICE) maps them). A batch of --batch packets: for each, the device
 *   reads the descriptor (16 bytes), writes the packet into the buffer (--packet-size bytes in
 *   TLPs of --tlp-size) and writes the descriptor back; then one MSI. The driver then unmaps the
 *   batch's buffers and maps fresh ones in their place (NAPI poll and refill).
 * - TX rings: the driver maps the batch's --batch packets (read-only, DMA_TO_DEVICE), the device
 *   reads each descriptor and packet and writes the descriptor back, one MSI, and the driver
 *   unmaps the buffers (TX completion).
 *
 * Batches go round robin over the RX rings, then the TX rings. MSIs are writes to 0xfee00000 with
 * the ring's number as destination ID (bits 19:12): interrupt requests, not faults. When the trace
 * holds --tlps TLPs (possibly within a batch) the driver tears down: every buffer still mapped is
 * unmapped, so maps = unmaps.
 *
 * On SMMUv3 (--arch smmuv3) there is no interrupt window: an MSI is a DMA write like any other.
 * The domain is stage 1 (arm_smmu_domain_alloc_paging prefers stage 1 when IDR0.S1P), and the GIC
 * ITS doorbell page (GITS_TRANSLATER is ITS_base + 0x10040, GICv3 spec 12.19; ITS_base 0x08080000
 * as on QEMU's virt board) is mapped into it as dma-iommu does (iommu_dma_get_msi_page:
 * IOMMU_WRITE | IOMMU_MMIO), at IOVA 0xfee00000, where VT-d's interrupt range would be, so every
 * other IOVA stays where the VT-d layout has it. Every MSI is a 4-byte write to GITS_TRANSLATER
 * through that page (the ring's EventID is the data, which the trace does not carry).
 *
 * IOVAs come top-down from below the interrupt range, size-aligned, as Linux's IOVA allocator hands
 * them out (32-bit first). A freed IOVA is reused at once in strict mode (most recent first, as
 * the IOVA caches do); in lazy mode only after --lazy-batch further unmaps, when the flush queue
 * has certainly invalidated it (Linux frees IOVAs only after the flush), so the run has no stale
 * translations and no faults.
 */
import { formatBdf } from "../trace/text.ts";
import { formatSize } from "./options.ts";
import { TraceFull, type TraceOut } from "./trace-out.ts";
import { archOf, checkArch, stageWord } from "./arch.ts";
import { bdfOption, chance, checkTlpSize, hex, nsOption, tlpSizeOption, type Workload } from "./workload.ts";

/** IOVAs are handed out below this (the interrupt range 0xfee00000-0xfeefffff is reserved). */
export const IOVA_TOP = 0xfee0_0000n;
const IOVA_FLOOR = 0x10_0000n;
/** Descriptor rings' memory: ring r at DESC_PA + r MiB. */
const DESC_PA = 0x1_0000_0000n;
/** Buffer memory: 2^20 buffer slots from here, handed out in a scrambled order. */
const BUF_PA = 0x10_0000_0000n;
const BUF_SLOTS = 1 << 20;
const DESC_BYTES = 16;
const MSI_ADDR = 0xfee0_0000n;
/** SMMUv3: the ITS doorbell page's IOVA and PA (ITS_base 0x08080000 + 0x10000), GITS_TRANSLATER's offset in it. */
export const DOORBELL_IOVA = 0xfee0_0000n;
export const DOORBELL_PA = 0x0809_0000n;
const GITS_TRANSLATER = 0x40n;

const pow2Above = (n: bigint) => {
  let p = 1n;
  while (p < n) p <<= 1n;
  return p;
};

export const nicRings: Workload = {
  name: "nic-rings",
  summary: "a NIC driver's RX/TX rings: buffers mapped, DMAed and unmapped in turn, one MSI per batch",
  options: [
    { flag: "rx-rings", kind: "int", min: 0, max: 64, default: 2, doc: "receive rings" },
    { flag: "tx-rings", kind: "int", min: 0, max: 64, default: 2, doc: "transmit rings" },
    { flag: "ring-size", kind: "int", min: 1, max: 4096, default: 256, doc: "descriptors per ring (RX: buffers mapped at once)" },
    { flag: "batch", kind: "int", min: 1, max: 4096, default: 64, doc: "packets per batch (NAPI budget): one MSI, then the driver's unmaps/maps; at most --ring-size" },
    { flag: "buf-size", kind: "size", min: 64n, max: 64n << 10n, default: 2048n, doc: "bytes per buffer (mapped in whole 4 KiB pages)" },
    { flag: "packet-size", arg: "bytes", kind: "int", min: 1, max: 65536, default: 1500, doc: "bytes DMAed per packet, at most --buf-size" },
    tlpSizeOption(256, "payload bytes per data TLP (a power of two); descriptors are 16-byte TLPs"),
    nsOption("fraction of data TLPs with the No-Snoop attribute"),
    { flag: "invalidation", kind: "choice", values: ["strict", "lazy"], default: "strict", doc: "the driver's unmap invalidation (config.driver.invalidation): strict, or lazy (flush queue)" },
    { flag: "lazy-batch", kind: "int", min: 1, max: 65536, default: 256, doc: "lazy mode: unmaps per flush (config.driver.lazyBatch)" },
    bdfOption("00:02.0"),
  ],
  plan(ctx) {
    checkArch(ctx);
    const { o, prng } = ctx;
    const smmu = archOf(ctx) === "smmuv3";
    const domainType = smmu ? "fs" : "ss";
    const msiAddr = (r: number) => (smmu ? DOORBELL_IOVA + GITS_TRANSLATER : MSI_ADDR | (BigInt(r & 0xff) << 12n));
    const rx = o.rxRings as number, tx = o.txRings as number;
    const ringSize = o.ringSize as number, batch = o.batch as number;
    const bufSize = o.bufSize as bigint, packet = o.packetSize as number;
    const tlpSize = checkTlpSize(ctx);
    const lazy = o.invalidation === "lazy";
    const lazyBatch = o.lazyBatch as number;
    if (rx + tx === 0) ctx.bad("rx-rings", "no rings: at least one of --rx-rings and --tx-rings must be 1 or more");
    if (batch > ringSize) ctx.bad("batch", `${batch} packets do not fit a ring of --ring-size ${ringSize}`);
    if (BigInt(packet) > bufSize) ctx.bad("packet-size", `${packet} bytes do not fit a buffer of --buf-size ${formatSize(bufSize)}`);
    const mapBytes = (bufSize + 0xfffn) & ~0xfffn;
    const slot = pow2Above(mapBytes);
    const ringBytes = (BigInt(ringSize * DESC_BYTES) + 0xfffn) & ~0xfffn;
    // IOVA space: the descriptor rings, every buffer mapped at once, and (lazy) those waiting for a flush.
    const buffers = BigInt(rx * ringSize + tx * batch + (lazy ? lazyBatch + batch : 0));
    const need = BigInt(rx + tx) * pow2Above(ringBytes) + buffers * slot;
    if (need > IOVA_TOP - IOVA_FLOOR)
      ctx.bad("ring-size", `${buffers} buffers of ${formatSize(slot)} IOVA space do not fit below ${hex(IOVA_TOP)}: use fewer or smaller rings or buffers`);

    const sid = o.bdf as number;
    const ns = o.ns as number;
    // IOVA allocator, top-down, size-aligned.
    let next = IOVA_TOP;
    const allocIova = (bytes: bigint) => {
      const align = pow2Above(bytes);
      next = (next - bytes) & ~(align - 1n);
      if (next < IOVA_FLOOR) throw new Error("nic-rings: IOVA space exhausted"); // prevented by the check above
      return next;
    };
    const descIova = Array.from({ length: rx + tx }, () => allocIova(ringBytes));
    const scramble = prng.int(BUF_SLOTS);

    return {
      about:
        `rings 0..${rx - 1}: RX, ${rx}..${rx + tx - 1}: TX; descriptor ring r at IOVA ${descIova.map(hex).join(", ")} -> PA ${hex(DESC_PA)} + r MiB\n` +
        `buffers: ${formatSize(mapBytes)} mapped per buffer at IOVAs below ${hex(IOVA_TOP)}; ` +
        (smmu ? `MSI of every ring: MWr ${hex(msiAddr(0))} (GITS_TRANSLATER, doorbell page IOVA ${hex(DOORBELL_IOVA)} -> PA ${hex(DOORBELL_PA)})` : `MSI of ring r: MWr ${hex(MSI_ADDR)} | r << 12`),
      scenario: {
        description:
          `Generated by \`${ctx.command}\`: a NIC (${formatBdf(sid)}) on a ${stageWord(archOf(ctx), domainType)} DMA domain with ${rx} RX and ${tx} TX rings of ${ringSize} descriptors; ` +
          `its driver maps ${formatSize(bufSize)} buffers before the device uses them and unmaps them after (${o.invalidation} invalidation), ` +
          `${batch} packets of ${packet} bytes per batch and one MSI per batch` +
          (smmu ? ` (a write to the GIC ITS doorbell page the driver mapped at IOVA ${hex(DOORBELL_IOVA)}).` : "."),
        build: {
          mode: "scalable",
          domains: [
            {
              id: 1,
              type: domainType,
              levels: 4,
              mappings: [
                ...descIova.map((iova, r) => ({ iova: hex(iova), pa: hex(DESC_PA + BigInt(r) * 0x10_0000n), size: hex(ringBytes), perm: "rw" })),
                ...(smmu ? [{ iova: hex(DOORBELL_IOVA), pa: hex(DOORBELL_PA), size: "0x1000", perm: "w", mmio: true }] : []),
              ],
            },
          ],
          devices: [{ bdf: formatBdf(sid), domain: 1, paside: false }],
        },
        config: { driver: lazy ? { invalidation: "lazy", lazyBatch } : { invalidation: "strict" } },
      },
      trace(out: TraceOut) {
        let bufCount = 0;
        // Freed IOVAs: strict reuses the latest first; lazy the oldest, once flushed (unmaps since >= lazyBatch).
        const free: { iova: bigint; unmapsAt: number }[] = [];
        let freeHead = 0;
        const allocBuf = () => {
          let iova: bigint;
          if (!lazy && free.length) iova = free.pop()!.iova;
          else if (lazy && freeHead < free.length && out.unmaps - free[freeHead]!.unmapsAt >= lazyBatch) {
            iova = free[freeHead++]!.iova;
            if (freeHead > 4096 && freeHead * 2 > free.length) {
              free.splice(0, freeHead);
              freeHead = 0;
            }
          } else iova = allocIova(mapBytes);
          const k = (Math.imul(bufCount++, 0x9e3779b1) + scramble) & (BUF_SLOTS - 1);
          return { iova, pa: BUF_PA + BigInt(k >>> 0) * slot };
        };
        const unmapBuf = (b: { iova: bigint }) => {
          out.unmap(1, b.iova, mapBytes);
          free.push({ iova: b.iova, unmapsAt: out.unmaps });
        };
        const ring = Array.from({ length: rx + tx }, (_, r) => ({ r, rxRing: r < rx, head: 0, bufs: [] as { iova: bigint; pa: bigint }[] }));
        for (const rg of ring) {
          if (!rg.rxRing) continue;
          for (let i = 0; i < ringSize; i++) {
            const b = allocBuf();
            rg.bufs.push(b);
            out.map(1, b.iova, b.pa, mapBytes, { perm: "w" });
          }
        }
        let txInFlight: { iova: bigint; pa: bigint }[] = [];
        for (let n = 0; !out.full; n++) {
          const rg = ring[n % ring.length]!;
          const slots: number[] = [];
          try {
            if (!rg.rxRing) {
              for (let j = 0; j < batch; j++) {
                const b = allocBuf();
                txInFlight.push(b);
                out.map(1, b.iova, b.pa, mapBytes, { perm: "r" });
              }
            }
            for (let j = 0; j < batch; j++) {
              const s = rg.head % ringSize;
              const desc = descIova[rg.r]! + BigInt(s * DESC_BYTES);
              const buf = rg.rxRing ? rg.bufs[s]!.iova : txInFlight[j]!.iova;
              out.tlp({ op: "MRd", sid, addr: desc, len: DESC_BYTES });
              for (let off = 0; off < packet; off += tlpSize)
                out.tlp({ op: rg.rxRing ? "MWr" : "MRd", sid, addr: buf + BigInt(off), len: Math.min(tlpSize, packet - off), ns: chance(prng, ns) });
              out.tlp({ op: "MWr", sid, addr: desc, len: DESC_BYTES });
              slots.push(s);
              rg.head++;
            }
            out.tlp({ op: "MWr", sid, addr: msiAddr(rg.r), len: 4 });
          } catch (e) {
            if (e instanceof TraceFull) break;
            throw e;
          }
          if (rg.rxRing) {
            for (const s of slots) unmapBuf(rg.bufs[s]!);
            for (const s of slots) {
              const b = allocBuf();
              rg.bufs[s] = b;
              out.map(1, b.iova, b.pa, mapBytes, { perm: "w" });
            }
          } else {
            for (const b of txInFlight) unmapBuf(b);
            txInFlight = [];
          }
        }
        // Teardown: everything still mapped.
        for (const rg of ring) for (const b of rg.bufs) unmapBuf(b);
        for (const b of txInFlight) unmapBuf(b);
      },
    };
  },
};
