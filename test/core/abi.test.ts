import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { generateAssemblyAbi, generateVtdFields, generateSmmuFields } from "../../scripts/gen-abi.ts";
import * as abi from "../../src/core/abi.ts";

test("assembly/abi.ts is generated from src/core/abi.ts and current", () => {
  const committed = readFileSync(new URL("../../assembly/abi.ts", import.meta.url), "utf8");
  assert.is(committed, generateAssemblyAbi(), "run: node --import tsx scripts/gen-abi.ts");
  const fields = readFileSync(new URL("../../assembly/arch/vtd/fields.ts", import.meta.url), "utf8");
  assert.is(fields, generateVtdFields(), "run: node --import tsx scripts/gen-abi.ts");
  const smmuFields = readFileSync(new URL("../../assembly/arch/smmuv3/fields.ts", import.meta.url), "utf8");
  assert.is(smmuFields, generateSmmuFields(), "run: node --import tsx scripts/gen-abi.ts");
});

test("regions do not overlap and the heap starts after the result ring", () => {
  assert.ok(abi.STATS_BASE >= abi.CTRL_BASE + 0x100);
  // the SMMUv3 register block sits between the cache configuration and the timing parameters
  assert.is(abi.Ctrl.SMMU, abi.Ctrl.CACHES + abi.CACHE_COUNT * abi.CACHE_CFG_SIZE);
  assert.is(abi.Ctrl.TIMING, abi.Ctrl.SMMU + 0x100);
  assert.ok(abi.FAULT_COUNTS_BASE >= abi.STATS_BASE + 8 * (abi.READS_BY_LEVEL + 16));
  assert.is(abi.STAGE_BASE, abi.FAULT_COUNTS_BASE + 256 * 8 + 0x800);
  assert.is(abi.REQ_BASE, abi.STAGE_BASE + abi.STAGE_QWORDS * 8);
  assert.is(abi.RES_BASE, abi.REQ_BASE + abi.RING_RECORDS * abi.REQ_SIZE);
  assert.is(abi.HEAP_BASE, abi.RES_BASE + abi.RING_RECORDS * abi.RES_SIZE);
  const asconfig = JSON.parse(readFileSync(new URL("../../asconfig.json", import.meta.url), "utf8"));
  assert.is(asconfig.options.memoryBase, abi.HEAP_BASE, "asconfig memoryBase must equal HEAP_BASE");
  assert.ok(abi.counterNames.length <= abi.READS_BY_LEVEL, "counters must not run into the per-level read table");
  // the core clears a result record with eight 64-bit stores (arch/vtd/translate.ts)
  assert.is(abi.RES_SIZE, 64);
  // the request record is 24 bytes: ADDR u64, SID, PASID, TIME (a delta from Ctrl.REQ_TIME_BASE) u32, FLAGS, LEN u16
  assert.is(abi.REQ_SIZE, 24);
  assert.equal([abi.Req.ADDR, abi.Req.SID, abi.Req.PASID, abi.Req.TIME, abi.Req.FLAGS, abi.Req.LEN], [0, 8, 12, 16, 20, 22]);
  assert.is(abi.HEAP_BASE, 438272);
});

test("fault codes are unique and condition IDs follow the spec's naming", () => {
  const codes = abi.vtdFaults.map((f) => f.code);
  assert.is(new Set(codes).size, codes.length);
  for (const f of abi.vtdFaults) {
    assert.match(f.id, /^(LRT|LCT|LGN|LSL|RTA|SRT|SCT|SPD|SPT|SFS|SSS|SGN)\.\d+$/);
    // legacy codes are below 0x30, scalable-mode codes from 0x30
    assert.is(f.code < 0x30, /^L/.test(f.id), f.id);
  }
});

test.run();
