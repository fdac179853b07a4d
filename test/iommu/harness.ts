/**
 * The driver-side tests' platform (src/iommu): issue 11's example topology on VT-d (scalable or
 * legacy) or SMMUv3, three paging domains that map the same IOVA page to different PAs, so that a
 * result's PA names the domain that translated it, and the driver side over the unit's driver.
 */
import { createPlatform, type AnyPlatform } from "../../src/platform.ts";
import { IommuLayer } from "../../src/iommu/iommu.ts";
import type { RegionGuard } from "../../src/iommu/regions.ts";
import { topologySchema } from "../../src/iommu/topology.ts";
import { parseTraceText } from "../../src/trace/text.ts";
import { replay, type Refusal } from "../../src/replay/replay.ts";
import type { Result } from "../../src/core/core.ts";
import { issueExample } from "./topology-fixtures.ts";

export type Unit = "vtd" | "vtd-legacy" | "smmuv3";
export const UNITS: readonly Unit[] = ["vtd", "vtd-legacy", "smmuv3"];

/** The IOVA every domain maps, and the PA each domain maps it to (domain d: PA_BASE + d << 24). */
export const IOVA = 0x100000n;
export const PA_BASE = 0x80000000n;
export const paOf = (domain: number) => PA_BASE + (BigInt(domain) << 24n);

/** The dual-function NIC (group 4 with downstream port 02:01.0), the integrated device 00:02.0 (group 0). */
export const NIC0 = 0x300, NIC1 = 0x301, PORT = 0x208, GPU = 0x10;

export interface Setup {
  unit: Unit;
  p: AnyPlatform;
  layer: IommuLayer;
  /** Replays trace text; each TLP's outcome as `ok D` (the domain whose PA it reached), or its status (fault: `fault CODE`). */
  run(text: string): { outcomes: string[]; refusals: string[] };
  /** One TLP now, outside any trace (between the steps of an entry update), as the driver side reports it. */
  dma(sid: number, pasid?: number): string;
}

/** What a result says, in the tests' words: which domain's PA it reached, or how it was refused. */
export function outcome(r: Result): string {
  if (r.status === "ok") {
    for (let d = 1; d <= 6; d++) if (r.pa === paOf(d)) return `ok ${d}`;
    return `ok 0x${r.pa.toString(16)}`;
  }
  return r.status === "fault" ? `fault ${r.fault!.name}` : r.status;
}

/**
 * Domains 1-3 paging (VT-d second stage, SMMUv3 stage 1), each mapping IOVA to paOf(d); 03:00.0,
 * 03:00.1 and 00:02.0 attached to domain 1 (the kernel's default domain) by the builder; `bindings`
 * as the scenario's `drivers`; `regions`: the platform's reserved regions (src/iommu/regions.ts).
 */
export function setup(unit: Unit, bindings: [number, string][] = [], opts: ConstructorParameters<typeof IommuLayer>[4] = {}, regions?: RegionGuard): Setup {
  let p: AnyPlatform;
  if (unit === "smmuv3") {
    const q = createPlatform("smmuv3", { build: "debug" });
    const b = q.builder;
    for (const d of [1, 2, 3]) b.map(b.createDomain({ id: d, type: "s1" }), { iova: IOVA, pa: paOf(d), size: 0x1000n });
    for (const sid of [NIC0, NIC1, GPU]) b.attach({ sid, domain: 1, ssidBits: 4 });
    p = q;
  } else {
    const q = createPlatform("vtd", { build: "debug", ...(unit === "vtd-legacy" ? { mode: "legacy" as const } : {}) });
    const b = q.builder;
    for (const d of [1, 2, 3]) b.map(b.createDomain({ id: d, type: "ss" }), IOVA, paOf(d), 0x1000n);
    for (const sid of [NIC0, NIC1, GPU]) b.attach({ sid, domain: 1 });
    p = q;
  }
  p.enable();
  const layer = new IommuLayer(p.createDriver(), topologySchema.parse(issueExample), bindings, [], opts, regions);
  return {
    unit,
    p,
    layer,
    run(text) {
      const outcomes: string[] = [];
      const refusals: string[] = [];
      replay(p, parseTraceText(text, "t.trace"), (_, _t, r) => outcomes.push(outcome(r)), {
        driver: layer,
        refusals: "results",
        onRefusal: (x: Refusal) => refusals.push(`${x.line}: ${x.reason}`),
      });
      return { outcomes, refusals };
    },
    dma(sid, pasid) {
      const r = p.translateOne({ op: "MRd", sid, addr: IOVA, ...(pasid !== undefined ? { pasid } : {}) });
      return outcome(layer.outcome({ line: 0, op: "MRd", sid, priv: false, exe: false, addr: IOVA, len: 4, ns: false, ro: false, ido: false, translated: false, nw: false }, r));
    },
  };
}
