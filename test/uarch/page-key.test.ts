/**
 * Page keys (assembly/uarch/cache/page-key.ts) through the IOTLB: an entry is keyed by page number
 * and size code (4 KiB, 2 MiB, 1 GiB) and owner; a lookup probes every size the cache has held,
 * smallest first, and counts one lookup; a large page is one entry for every address in it; the
 * same address in another domain is another entry. Exact counters of the IOTLB.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VtdPlatform } from "../../src/platform.ts";
import type { Request } from "../../src/core/core.ts";

const K4 = 0x1000n, M2 = 0x20_0000n, G1 = 0x4000_0000n;

/** Domain 1: a 4 KiB page at 0x1000, a 2 MiB page at 2 MiB, a 1 GiB page at 1 GiB; domain 2: 0x1000 elsewhere. */
function platform(build: "release" | "debug") {
  const p = new VtdPlatform({ build, timing: false });
  const b = p.builder;
  const d1 = b.createDomain({ id: 1, type: "ss" });
  b.map(d1, K4, 0x8000_1000n, K4);
  b.map(d1, M2, 0xa000_0000n, M2, { pageSize: M2 });
  b.map(d1, G1, 0x1_0000_0000n, G1, { pageSize: G1 });
  const d2 = b.createDomain({ id: 2, type: "ss" });
  b.map(d2, K4, 0x9000_1000n, K4);
  b.attach({ sid: 0x10, domain: 1 });
  b.attach({ sid: 0x18, domain: 2 });
  p.enable();
  return p;
}
const rd = (addr: bigint, sid = 0x10): Request => ({ op: "MRd", sid, addr });

for (const build of ["release", "debug"] as const)
  test(`${build}: lookups across page sizes and owners, one lookup each, one entry per page`, () => {
    const p = platform(build);
    const steps: [Request, string, bigint | undefined, number][] = [
      [rd(K4 + 0x10n), "miss 4K", 0x8000_1010n, 12],
      [rd(K4 + 0xff0n), "hit 4K", 0x8000_1ff0n, 12],
      [rd(M2 + 0x40n), "miss 2M", 0xa000_0040n, 21],
      [rd(2n * M2 - K4), "hit 2M, another 4 KiB page of it", 0xa01f_f000n, 21],
      [rd(2n * K4), "miss, probes 4K and 2M, faults", undefined, 0],
      [rd(G1 + K4), "miss 1G", 0x1_0000_1000n, 30],
      [rd(2n * G1 - 8n), "hit 1G at its last qword", 0x1_3fff_fff8n, 30],
      [rd(K4 + 0x20n, 0x18), "the same page in domain 2: another owner, a miss", 0x9000_1020n, 12],
      [rd(K4 + 0x30n, 0x18), "hit in domain 2", 0x9000_1030n, 12],
    ];
    for (const [req, what, pa, lg2] of steps) {
      const r = p.translateOne(req);
      if (pa === undefined) assert.is(r.status, "fault", what);
      else assert.equal([r.status, r.pa, r.pageLg2], ["ok", pa, lg2], what);
    }
    const s = p.core.cacheStats().iotlb;
    assert.equal({ lookups: s.lookups, hits: s.hits, misses: s.misses, fills: s.fills }, { lookups: 9n, hits: 4n, misses: 5n, fills: 4n });
  });

test("a 2 MiB entry and a 4 KiB entry of the same address range are distinct keys (size code)", () => {
  const p = new VtdPlatform({ build: "debug", timing: false });
  const b = p.builder;
  const d = b.createDomain({ id: 1, type: "ss" });
  b.map(d, M2, 0xa000_0000n, M2, { pageSize: M2 });
  b.attach({ sid: 0x10, domain: 1 });
  p.enable();
  assert.is(p.translateOne(rd(M2)).pageLg2, 21);
  // the 2 MiB page becomes 4 KiB pages at other addresses (no invalidation: the 2 MiB entry stays)
  b.unmap(d, M2, M2);
  b.map(d, M2, 0xc000_0000n, M2);
  const stale = p.translateOne(rd(M2 + K4));
  assert.equal([stale.pa, stale.pageLg2, stale.stale], [0xa000_1000n, 21, true], "the 2 MiB entry still answers, flagged stale");
  const s = p.core.cacheStats().iotlb;
  assert.equal([s.lookups, s.hits, s.fills], [2n, 1n, 1n]);
});

test.run();
