/**
 * `tenants`: many tenants, each with its own address space, as in multi-tenant I/O (one device per
 * VM) or Scalable IOV (one PASID per tenant on shared devices). Tenant t is device t / P and, with
 * --pasids P, PASID 1 + t % P of it (without PASIDs, requests without PASID); each tenant has its
 * own domain (DID t + 1), second or first stage, mapping a working set of --working-set bytes at
 * the same IOVAs in every tenant to memory of its own. The TLPs come in bursts of --burst from
 * one tenant, tenants taken round robin or at random, each TLP at a uniformly random address of
 * the tenant's working set.
 */
import { formatBdf } from "../trace/text.ts";
import { formatSize } from "./options.ts";
import { defaultLimits } from "../config/limits.ts";
import { archOf, checkArch, stageWord } from "./arch.ts";
import { bitsFor, chance, checkTlpSize, domainOption, hex, levelsOption, MAX_MAPPED_PAGES, nsOption, pageBytes, pageOption, readsOption, tlpSizeOption, uniform, type Workload } from "./workload.ts";

/** Working sets start here in second-stage domains (above 4 GiB: clear of the interrupt range). */
export const TENANT_IOVA_SS = 0x1_0000_0000n;
/** ... and here in first-stage domains (a user address, canonical). */
export const TENANT_IOVA_FS = 0x7f00_0000_0000n;
/** Tenant t's memory: TENANT_PA + t x (working set rounded up to 1 GiB). */
const TENANT_PA = 0x100_0000_0000n;
/** Device d is BDF 01:00.0 + d (source ID 0x100 + d). */
export const FIRST_TENANT_SID = 0x100;
export const MAX_TENANTS = 16384;

export const tenants: Workload = {
  name: "tenants",
  summary: "many devices and/or PASIDs, each tenant with its own domain and working set (multi-tenant I/O, SIOV)",
  options: [
    // at most what the default budgets allow (README "Budgets"), so every generated scenario loads
    { flag: "devices", kind: "int", min: 1, max: defaultLimits.devices, default: 4, doc: "devices, BDF 01:00.0 upwards" },
    { flag: "pasids", kind: "int", min: 0, max: defaultLimits.pasids, default: 0, doc: "PASIDs per device, 1 upwards, each a tenant (0: one tenant per device, requests without PASID)" },
    domainOption("tenant domains: second stage (ss) or first stage (fs)"),
    { flag: "working-set", kind: "size", min: 1n << 12n, max: 64n << 30n, default: 1n << 20n, doc: "bytes each tenant maps and DMAs to, a multiple of --page" },
    pageOption(),
    tlpSizeOption(64),
    readsOption(),
    nsOption(),
    { flag: "burst", kind: "int", min: 1, max: 1_000_000, default: 8, doc: "TLPs in a row from one tenant" },
    { flag: "schedule", kind: "choice", values: ["round-robin", "random"], default: "round-robin", doc: "which tenant the next burst comes from" },
    levelsOption(),
  ],
  plan(ctx) {
    const { o, prng } = ctx;
    checkArch(ctx);
    const devices = o.devices as number, pasids = o.pasids as number;
    if (pasids > 0 && o.domain === "ss" && archOf(ctx) === "smmuv3")
      ctx.bad("pasids", `--arch smmuv3: stage-2 domains (--domain ss) serve no SubstreamIDs (an S2 STE has no CD table); use --domain fs with --pasids ${pasids}, or --pasids 0`);
    const perDevice = Math.max(1, pasids);
    const count = devices * perDevice;
    const ws = o.workingSet as bigint;
    const page = pageBytes(o.page as string);
    const tlpSize = checkTlpSize(ctx);
    if (count > MAX_TENANTS) ctx.bad(pasids ? "pasids" : "devices", `${devices} devices x ${perDevice} PASIDs is ${count} tenants; at most ${MAX_TENANTS}`);
    if (ws % page !== 0n) ctx.bad("working-set", `${formatSize(ws)} is not a multiple of the ${o.page} page size`);
    const pages = BigInt(count) * (ws / page);
    if (pages > MAX_MAPPED_PAGES)
      ctx.bad("working-set", `${count} tenants x ${formatSize(ws)} is ${pages} pages of ${o.page}; at most ${MAX_MAPPED_PAGES} pages are mapped (use a larger --page, a smaller working set or fewer tenants)`);
    const fs = o.domain === "fs";
    const iova = fs ? TENANT_IOVA_FS : TENANT_IOVA_SS;
    const stride = (ws + (1n << 30n) - 1n) & ~((1n << 30n) - 1n);
    // A PASID directory just large enough (one page) instead of the 2^20-PASID default.
    const pasidBits = bitsFor(pasids);
    const tenant = (t: number) => ({ sid: FIRST_TENANT_SID + Math.floor(t / perDevice), ...(pasids ? { pasid: 1 + (t % perDevice) } : {}) });
    const domains: Record<string, unknown>[] = [];
    const devs: Record<string, unknown>[] = [];
    for (let t = 0; t < count; t++) {
      domains.push({ id: t + 1, type: o.domain, levels: o.levels, mappings: [{ iova: hex(iova), pa: hex(TENANT_PA + BigInt(t) * stride), size: hex(ws), pageSize: o.page, perm: "rw" }] });
      const { sid, pasid } = tenant(t);
      devs.push({ bdf: formatBdf(sid), ...(pasid !== undefined ? { pasid } : {}), domain: t + 1, pasidBits });
    }
    const reads = o.reads as number, ns = o.ns as number, burst = o.burst as number;
    const slots = ws / BigInt(tlpSize);
    return {
      about:
        `tenant t: device ${formatBdf(FIRST_TENANT_SID)} + t${pasids ? ` / ${perDevice}, PASID 1 + t % ${perDevice}` : ""}, domain t + 1; ` +
        `working set IOVA ${hex(iova)}-${hex(iova + ws - 1n)} -> PA ${hex(TENANT_PA)} + t x ${hex(stride)}`,
      scenario: {
        description:
          `Generated by \`${ctx.command}\`: ${count} tenants (${devices} devices${pasids ? ` x ${pasids} PASIDs` : ""}), each with its own ${stageWord(archOf(ctx), o.domain)} domain ` +
          `mapping a ${formatSize(ws)} working set with ${o.page} pages; bursts of ${burst} random ${tlpSize}-byte TLPs from tenants taken ${o.schedule === "random" ? "at random" : "round robin"}.`,
        build: { mode: "scalable", domains, devices: devs },
      },
      trace(out) {
        for (let b = 0; !out.full; b++) {
          const t = o.schedule === "random" ? prng.int(count) : b % count;
          const { sid, pasid } = tenant(t);
          for (let k = 0; k < burst && !out.full; k++) {
            const addr = iova + uniform(prng, slots) * BigInt(tlpSize);
            const read = chance(prng, reads);
            out.tlp({ op: read ? "MRd" : "MWr", sid, addr, len: tlpSize, ns: chance(prng, ns), ...(pasid !== undefined ? { pasid } : {}) });
          }
        }
      },
    };
  },
};
