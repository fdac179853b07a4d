/**
 * What a register change does to what the unit has cached (lines the coverage report found no
 * test for): a cached context or PASID-table entry is checked again against the new capabilities
 * (it gives the fault a fresh read would), and SRTP with CAP.ESRTPS empties every cache while SRTP
 * without it keeps them (spec 11.4.4 GCMD.SRTP, 11.4.2 CAP.ESRTPS).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../src/platform.ts";
import { DEFAULT_CAP, capFields, setField } from "../../src/arch/vtd/registers.ts";
import type { Request } from "../../src/core/core.ts";

function platform(mode: "legacy" | "scalable", pasid?: number, build: "release" | "debug" = "debug") {
  const p = new VtdPlatform({ build, mode, timing: false });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, 0x1000n, 0x8000_0000n, 0x1000n);
  p.builder.attach({ sid: 0x10, domain: 1 });
  if (pasid !== undefined) p.builder.attach({ sid: 0x10, domain: 1, pasid });
  p.enable();
  const req: Request = { op: "MRd", sid: 0x10, addr: 0x1010n, ...(pasid !== undefined ? { pasid } : {}) };
  return { p, req };
}

const FIVE_LEVEL_ONLY = setField(DEFAULT_CAP, capFields.SAGAW, 0b01000n);

for (const [mode, pasid, fault] of [["legacy", undefined, "LCT.4"], ["scalable", undefined, "SPT.4"], ["scalable", 5, "SPT.4"]] as const)
  test(`${mode}${pasid ? `, PASID ${pasid}` : ""}: a cached entry is checked again after CAP changes (4-level tables, SAGAW now 5-level only: ${fault})`, () => {
    const { p, req } = platform(mode, pasid);
    assert.is(p.translateOne(req).status, "ok");
    p.core.setRegister("CAP", FIVE_LEVEL_ONLY);
    const r = p.translateOne(req);
    assert.equal([r.status, r.fault?.name], ["fault", fault]);
    const s = p.core.cacheStats();
    // the entries came from the caches, not from memory
    assert.equal([s.contextCache.hits, s.pasidCache.hits], [1n, mode === "scalable" ? 1n : 0n]);
    // and the capabilities back: translated again, from the same cached entries
    p.core.setRegister("CAP", DEFAULT_CAP);
    assert.is(p.translateOne(req).status, "ok");
  });

for (const build of ["release", "debug"] as const)
  test(`${build}: GCMD.SRTP with CAP.ESRTPS empties every cache; without it the caches keep their entries`, () => {
    for (const esrtps of [false, true]) {
      const { p, req } = platform("scalable", undefined, build);
      p.translateOne(req);
      if (esrtps) p.core.setRegister("CAP", DEFAULT_CAP | (1n << 63n));
      p.core.writeRegister("GCMD", p.core.readRegister("GSTS") | (1n << 30n)); // SRTP, TE kept
      assert.is(p.core.readRegister("GSTS") & (3n << 30n), 3n << 30n, "TES and RTPS set");
      const before = p.core.cacheStats();
      assert.is(p.translateOne(req).status, "ok");
      const after = p.core.cacheStats();
      const hits = (k: "iotlb" | "contextCache") => after[k].hits - before[k].hits;
      assert.equal([hits("iotlb"), hits("contextCache")], esrtps ? [0n, 0n] : [1n, 1n], esrtps ? "everything read again" : "the context cache and the IOTLB still hit");
    }
  });

test.run();
