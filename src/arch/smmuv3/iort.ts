/**
 * The scenario key `config.smmu.rootComplexes`: what firmware's IORT says about the PCIe root
 * complexes in front of the SMMU (IORT spec DEN0049, "PCI root complex node"): per root complex its
 * PCI segment, its "memory access properties" CANWBS flag (bit 2 of the memory access flags: the
 * platform keeps the root complex's accesses to Normal memory coherent, No-Snoop included), and its
 * "ID mappings": `rid` (input base), `count` and `streamId` (output base into the SMMU's StreamID
 * space). `count` is the number of IDs itself: IORT's "Number of IDs" field holds that number minus
 * one (Linux drivers/acpi/arm64/iort.c iort_id_map), which a scenario does not make anyone repeat.
 *
 * The map goes into the core (Core.setStreamMap; the core routes every transaction through it). The
 * host keeps `streamIdOf` for the driver side only: Linux's IORT code gives a device's fwspec the
 * StreamIDs from the same table (iort_iommu_configure), and the builder writes the STE there.
 *
 * Checked, each at its key: an empty `idMappings`, a `count` or `rid` whose IDs leave the 16-bit
 * RID space, a StreamID range beyond IDR1.SIDSIZE, two mappings of one root complex whose input
 * ranges overlap, two mappings (of any root complexes) whose StreamID ranges overlap (each StreamID
 * names one requester, so its STE, its ATC entries and its events are that requester's), two root
 * complexes with one segment, more than 32 root complexes or 64 mappings (the core's table).
 */
import { z } from "zod";
import { IORT_MAX_RANGES, IORT_MAX_ROOT_COMPLEXES } from "../../core/abi.ts";
import type { StreamMapRange } from "../../core/core.ts";
import { quote } from "../../errors.ts";
import { formatBdf, parseBdf } from "../../trace/events.ts";
import { u64 } from "../../config/schema.ts";

/** A requester ID within its segment: "bb:dd.f" (hex bus, device 00-1f, function 0-7) or a number 0..0xffff. */
const rid = z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === "number") {
    if (Number.isInteger(v) && v >= 0 && v <= 0xffff) return v;
    ctx.addIssue({ code: "custom", message: `expected a requester ID 0..65535 or "bb:dd.f", got ${v}` });
    return z.NEVER;
  }
  const segmented = /^[0-9a-fA-F]{4}:/.test(v);
  const sid = segmented ? undefined : parseBdf(v);
  if (sid === undefined) {
    const seg = segmented ? " (the segment is the root complex's `segment`, not part of `rid`)" : "";
    ctx.addIssue({ code: "custom", message: `expected a requester ID "bb:dd.f" (hex bus, device 00-1f, function 0-7) or a number, got ${quote(v)}${seg}` });
    return z.NEVER;
  }
  return sid;
});

export const idMappingSchema = z.strictObject({
  rid,
  /** Number of IDs in the range (IORT "Number of IDs" + 1). */
  count: z.number().int().min(1, { message: "expected at least 1 ID" }).max(0x10000, { message: "expected at most 65536 IDs (the RID space)" }),
  streamId: u64,
});

export const rootComplexSchema = z.strictObject({
  segment: z.number().int().min(0).max(0xffff).optional(),
  canwbs: z.boolean().optional(),
  idMappings: z.array(idMappingSchema),
});

export type RootComplexes = z.output<typeof rootComplexSchema>[];

/** A validated map: the core's ranges (input = segment<<16 | RID) and each root complex's CANWBS. */
export interface StreamMap {
  ranges: StreamMapRange[];
  canwbs: boolean[];
}

const hex = (n: number) => "0x" + n.toString(16);

/**
 * Validates `rcs` (at `key`, e.g. "config.smmu.rootComplexes") against IDR1.SIDSIZE `sidBits`;
 * `problemAt` makes the error at a key.
 */
export function streamMapOf(rcs: RootComplexes, sidBits: number, key: string, problemAt: (path: string, message: string) => Error): StreamMap {
  if (rcs.length > IORT_MAX_ROOT_COMPLEXES) throw problemAt(key, `${rcs.length} root complexes: the model holds at most ${IORT_MAX_ROOT_COMPLEXES}`);
  const ranges: (StreamMapRange & { at: string })[] = [];
  const segments = new Map<number, number>();
  const sidLimit = 2 ** sidBits;
  rcs.forEach((rc, i) => {
    const at = `${key}[${i}]`;
    const segment = rc.segment ?? 0;
    const other = segments.get(segment);
    if (other !== undefined) throw problemAt(`${at}.segment`, `segment ${hex(segment)} is already ${key}[${other}]'s (one root complex node per segment)`);
    segments.set(segment, i);
    if (rc.idMappings.length === 0) throw problemAt(`${at}.idMappings`, "expected at least one ID mapping (a root complex without one has no route to the SMMU)");
    rc.idMappings.forEach((m, j) => {
      const mat = `${at}.idMappings[${j}]`;
      if (m.rid + m.count > 0x10000) throw problemAt(`${mat}.count`, `${m.count} IDs from RID ${hex(m.rid)} (${formatBdf(m.rid)}) reach beyond RID 0xffff`);
      if (m.streamId + BigInt(m.count) > BigInt(sidLimit))
        throw problemAt(`${mat}.streamId`, `StreamIDs ${hex(Number(m.streamId))}..${hex(Number(m.streamId) + m.count - 1)} reach beyond IDR1.SIDSIZE ${sidBits} (StreamIDs 0..${hex(sidLimit - 1)})`);
      const r = { inBase: segment * 0x10000 + m.rid, count: m.count, outBase: Number(m.streamId), rc: i, at: mat };
      for (const o of ranges) {
        if (o.rc === i && r.inBase < o.inBase + o.count && o.inBase < r.inBase + r.count)
          throw problemAt(`${mat}.rid`, `RIDs ${formatBdf(m.rid)}..${formatBdf(m.rid + m.count - 1)} overlap ${o.at} (${formatBdf(o.inBase % 0x10000)}..${formatBdf((o.inBase % 0x10000) + o.count - 1)})`);
        if (r.outBase < o.outBase + o.count && o.outBase < r.outBase + r.count)
          throw problemAt(`${mat}.streamId`, `StreamIDs ${hex(r.outBase)}..${hex(r.outBase + r.count - 1)} overlap ${o.at}'s ${hex(o.outBase)}..${hex(o.outBase + o.count - 1)} (a StreamID names one requester)`);
      }
      ranges.push(r);
    });
  });
  if (ranges.length > IORT_MAX_RANGES) throw problemAt(key, `${ranges.length} ID mappings: the model holds at most ${IORT_MAX_RANGES}`);
  return { ranges: ranges.map(({ at: _, ...r }) => r), canwbs: rcs.map((rc) => rc.canwbs ?? false) };
}

/**
 * The StreamID firmware's map gives requester `sid` (segment<<16 | RID), or undefined when no
 * mapping covers it: the driver side's view of the table (Linux iort_node_map_id), for the STEs it
 * writes. The core routes transactions itself.
 */
export function streamIdOf(map: StreamMap, sid: number): number | undefined {
  const r = map.ranges.find((x) => sid >= x.inBase && sid < x.inBase + x.count);
  return r && r.outBase + (sid - r.inBase);
}

/** The requester (segment<<16 | RID) and root complex's CANWBS of StreamID `s`; undefined when no mapping gives it. */
export function requesterOf(map: StreamMap, s: number): { rid: number; canwbs: boolean } | undefined {
  const r = map.ranges.find((x) => s >= x.outBase && s < x.outBase + x.count);
  return r && { rid: r.inBase + (s - r.outBase), canwbs: map.canwbs[r.rc] ?? false };
}
