/**
 * The scenario keys of PASID allocation and reserved regions (issue 11; README "PASIDs and reserved
 * regions"), validated with zod issues at the offending key so the scenario loader reports each with
 * its file, line and column. `pasidSpace` and `vms` are scenario keys (src/config/schema.ts; the
 * driver side src/iommu/iommu.ts, vms.ts); `reservedRegions` is exported for the schema.
 *
 *   "pasidSpace": { "policy": "system" | "per-device", "bits": 20, "ridPasid": 0, "defaultQuota": 1000 }
 *   "vms": [ { "name": "vm1", "quota": 8, "devices": ["03:00.0"] }, { "name": "vm2" } ]
 *   "reservedRegions": [ { "device": "03:00.0", "type": "DIRECT", "base": "0x7c000000", "length": "0x100000" } ]
 */
import { z } from "zod";
import { u64 } from "../config/u64.ts";
import { topologyBdf } from "./topology.ts";
import { formatBdf, VM_NAME } from "../trace/events.ts";
import { DEFAULT_PASID_QUOTA, PASID_BITS, pasidPolicies } from "./pasid.ts";
import { regionTypes, type ReservedRegion } from "./reserved-regions.ts";

const MAX_QUOTA = 2 ** PASID_BITS;
const quoted = (words: readonly string[]) => words.map((w) => JSON.stringify(w)).join(", ");
const int = (what: string, min: number, max: number) =>
  z.number({ message: `expected ${what}: an integer ${min}..${max}` }).refine((v) => Number.isInteger(v) && v >= min && v <= max, { message: `expected ${what}: an integer ${min}..${max}` });

/** `pasidSpace`: the PasidAllocator's options (src/iommu/pasid.ts). */
export const pasidSpaceSchema = z
  .strictObject({
    policy: z.enum(pasidPolicies, { message: `expected ${quoted(pasidPolicies)}` }).optional(),
    bits: int("the PASID width in bits", 1, PASID_BITS).optional(),
    ridPasid: int("the VT-d RID_PASID", 0, 2 ** PASID_BITS - 1).optional(),
    defaultQuota: int(`the quota of a VM without one (default ${DEFAULT_PASID_QUOTA})`, 0, MAX_QUOTA).optional(),
  })
  .superRefine((o, ctx) => {
    const bits = o.bits ?? PASID_BITS;
    if (o.ridPasid !== undefined && o.ridPasid >= 2 ** bits)
      ctx.addIssue({ code: "custom", path: ["ridPasid"], message: `RID_PASID ${o.ridPasid} is outside the ${bits}-bit PASID space (0..${2 ** bits - 1})` });
    else if (o.ridPasid && o.policy === "per-device")
      ctx.addIssue({ code: "custom", path: ["ridPasid"], message: 'a RID_PASID is VT-d\'s, for the "system" policy; per-device substreams reserve SSID 0 only' });
  });

/** A VM's name: an owner token, one word of a trace line (`pasid-alloc vm1`). */
const vmName = z
  .string()
  .regex(VM_NAME, { message: "expected a VM name: 1 to 24 letters, digits, _ . : or -, not starting with . : or - (a trace's binary form holds 24)" });

/**
 * `vms`: the VMs (allocation sets) with their PASID quotas and the devices assigned to them whole
 * (bound to vfio for the VM before the trace starts, after `drivers`); names are unique, and a
 * device is assigned to one VM.
 */
export const vmsSchema = z
  .array(z.strictObject({ name: vmName, quota: int("a quota (PASIDs the VM may hold at once)", 0, MAX_QUOTA).optional(), devices: z.array(topologyBdf).optional() }))
  .superRefine((vms, ctx) => {
    const seen = new Map<string, number>();
    const owner = new Map<number, number>();
    for (const [i, v] of vms.entries()) {
      const first = seen.get(v.name);
      if (first !== undefined) ctx.addIssue({ code: "custom", path: [i, "name"], message: `VM ${JSON.stringify(v.name)} is already vms[${first}] (each name once)` });
      else seen.set(v.name, i);
      for (const [j, d] of (v.devices ?? []).entries()) {
        const o = owner.get(d);
        if (o !== undefined) ctx.addIssue({ code: "custom", path: [i, "devices", j], message: `${formatBdf(d)} is already a device of VM ${JSON.stringify(vms[o]!.name)} (vms[${o}])` });
        else owner.set(d, i);
      }
    }
  });

const PAGE = 0x1000n;

/** One region of a device. */
export interface DeviceRegion extends ReservedRegion {
  readonly device: number;
}

/**
 * `reservedRegions`: regions of devices beyond the platform's (README: VT-d's interrupt window and
 * SMMUv3's SW_MSI window every device has). Base and length are 4 KiB aligned (IOVA mappings are
 * page-granular; an RMRR is 4 KiB aligned, VT-d spec 8.4), the region ends at or below 2^64, and an
 * entry is not listed twice. Regions may overlap: those of one type merge, those of different types
 * stay apart (src/iommu/reserved-regions.ts insertRegion).
 */
export const reservedRegionsSchema = z
  .array(
    z.strictObject({
      device: topologyBdf,
      type: z.enum(regionTypes, { message: `expected a region type: ${quoted(regionTypes)}` }),
      base: u64,
      length: u64,
    }),
  )
  .transform((entries, ctx): DeviceRegion[] => {
    for (const [i, e] of entries.entries()) {
      const at = (key: string, message: string) => ctx.addIssue({ code: "custom", path: [i, key], message });
      if (e.base % PAGE) at("base", `expected a base aligned to 4 KiB (0x1000), got 0x${e.base.toString(16)}`);
      else if (e.length === 0n || e.length % PAGE) at("length", `expected a length of whole 4 KiB pages (a multiple of 0x1000, at least 0x1000), got 0x${e.length.toString(16)}`);
      else if (e.base + e.length > 1n << 64n) at("length", `the region 0x${e.base.toString(16)}+0x${e.length.toString(16)} ends beyond 2^64`);
      else {
        const same = entries.findIndex((o) => o.device === e.device && o.type === e.type && o.base === e.base && o.length === e.length);
        if (same < i) at("type", `the same ${e.type} region of ${formatBdf(e.device)} as reservedRegions[${same}]`);
        else continue;
      }
      return z.NEVER;
    }
    return entries.map((e) => ({ device: e.device, type: e.type, base: e.base, length: e.length }));
  });
