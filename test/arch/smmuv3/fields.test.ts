/**
 * The SMMUv3 field table (src/arch/smmuv3/fields.ts): no two fields of one register or dword
 * overlap (except the documented aliases), and the positions Linux's arm-smmu-v3.h spells as
 * GENMASK_ULL(hi, lo) or BIT(n) are the table's.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as f from "../../../src/arch/smmuv3/fields.ts";
import { encodeFields, getField, type FieldTable } from "../../../src/arch/fields.ts";

function overlaps(table: FieldTable, allowed: readonly string[][] = []): string[] {
  const out: string[] = [];
  const entries = Object.entries(table);
  for (let i = 0; i < entries.length; i++)
    for (let j = i + 1; j < entries.length; j++) {
      const [a, [ah, al]] = entries[i]!;
      const [b, [bh, bl]] = entries[j]!;
      if (al <= bh && bl <= ah && !allowed.some((p) => p.includes(a) && p.includes(b))) out.push(`${a}/${b}`);
    }
  return out;
}

test("no field of a register, STE, CD or event dword overlaps another", () => {
  for (const [name, t] of Object.entries(f.registerFields)) assert.equal(overlaps(t), [], name);
  for (const t of [...f.steFields, ...f.cdFields, f.l1stdFields, f.l1cdFields]) assert.equal(overlaps(t), []);
  // event dword 3 holds FetchAddr for fetch aborts and the IPA for stage-2 faults
  f.eventFields.forEach((t, i) => assert.equal(overlaps(t, [["FETCH_ADDR", "IPA"]]), [], `event dword ${i}`));
  // config commands: dword 1 is Leaf/Range (CFGI) or Size/Addr (PREFETCH_ADDR)
  assert.equal(overlaps(f.cmdFields.config[1], [["LEAF", "RANGE", "SIZE"]]), []);
  for (const [name, dw] of Object.entries(f.cmdFields)) if (name !== "config") dw.forEach((t, i) => assert.equal(overlaps(t), [], `${name} ${i}`));
});

test("positions agree with Linux arm-smmu-v3.h", () => {
  assert.equal(f.steFields[0].CONFIG, [3, 1]); // STRTAB_STE_0_CFG GENMASK_ULL(3, 1)
  assert.equal(f.steFields[0].S1CONTEXTPTR, [51, 6]); // STRTAB_STE_0_S1CTXPTR_MASK
  assert.equal(f.steFields[0].S1CDMAX, [63, 59]); // STRTAB_STE_0_S1CDMAX
  assert.equal(f.steFields[1].EATS, [29, 28]); // STRTAB_STE_1_EATS
  assert.equal(f.steFields[1].SHCFG, [45, 44]); // STRTAB_STE_1_SHCFG
  assert.equal(f.steFields[2].S2VMID, [15, 0]); // STRTAB_STE_2_S2VMID
  assert.equal(f.steFields[2].S2R, [58, 58]); // STRTAB_STE_2_S2R BIT(58)
  assert.equal(f.steFields[3].S2TTB, [51, 4]); // STRTAB_STE_3_S2TTB_MASK
  assert.equal(f.cdFields[0].V, [31, 31]); // CTXDESC_CD_0_V BIT(31)
  assert.equal(f.cdFields[0].ASID, [63, 48]); // CTXDESC_CD_0_ASID
  assert.equal(f.cdFields[1].TTB0, [51, 4]); // CTXDESC_CD_1_TTB0_MASK
  assert.equal(f.eventFields[0].SID, [63, 32]); // EVTQ_0_SID
  assert.equal(f.eventFields[1].S2, [39, 39]); // EVTQ_1_S2 BIT(39)
  assert.equal(f.strtabBaseCfgFields.SPLIT, [10, 6]); // STRTAB_BASE_CFG_SPLIT
  assert.equal(f.gbpaFields.ABORT, [20, 20]); // GBPA_ABORT BIT(20)
  assert.equal(f.cmdFields.tlbi[0].ASID, [63, 48]); // CMDQ_TLBI_0_ASID
  assert.equal(f.cmdFields.sync[0].CS, [13, 12]); // CMDQ_SYNC_0_CS
});

test("encodeFields composes an STE dword 0 and refuses a value wider than its field", () => {
  // A valid stage-1 STE: V, Config 0b101, S1Fmt 0, S1ContextPtr 0x8000_0000 (>> 6), S1CDMax 0
  const dw0 = encodeFields(f.steFields[0], { V: 1, CONFIG: f.SteConfig.S1, S1CONTEXTPTR: 0x8000_0000n >> 6n });
  assert.is(dw0, 0x8000_0000n | 0b1011n);
  assert.is(getField(dw0, f.steFields[0].CONFIG), 5n);
  assert.throws(() => encodeFields(f.steFields[0], { CONFIG: 8 }), /CONFIG = 8 does not fit in bits \[3:1\]/);
});

test.run();
