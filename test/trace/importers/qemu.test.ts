/**
 * `qemu` importer: the log backend (old TID@SECONDS prefix, no prefix, ISO-8601 prefix) and
 * simpletrace text; intel-iommu translations, faults and invalidations across QEMU versions
 * (PASID-cache names, vtd_dmar_translate only when nothing exact is traced); SMMUv3 translations
 * with decimal or hex sid and with or without stage=; ignored events; errors and skipBad.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import simple from "../../fixtures/importers/qemu-simpletrace.ts";
import smmuOld from "../../fixtures/importers/qemu-smmu-old.ts";
import smmuRecent from "../../fixtures/importers/qemu-smmu-recent.ts";
import vtdOld from "../../fixtures/importers/qemu-vtd-old.ts";
import vtdRecent from "../../fixtures/importers/qemu-vtd-recent.ts";
import { inv, ns, run, summary, throwsInput, tlp, us } from "./util.ts";

const qemu = (text: string, opts: { map?: Record<string, string>; skipBad?: boolean } = {}) => run("qemu", text, "q.log", opts);

/** The time of `TID@1690000000.MICROS:` in us. */
const t0 = (micros: number) => us(1690000000_000000 + micros);

test("vtd log, old TID@SECONDS prefix: translations, fault, pass-through, symbolic and raw invalidations", () => {
  const r = run("qemu", vtdOld, "vtd-old.log");
  assert.equal(r.skipped, []);
  const c = 24; // the event name follows `3301@1690000000.000101:`
  assert.equal(r.events, [
    // line 1 (vtd_inv_desc of an iotlb descriptor) precedes its symbolic event and is not used.
    inv(2, c, { kind: "iotlb", reg: false, gran: "dsi", did: 1 }, { time: t0(101) }),
    // sid 0x10 = 00:02.0; the exact iova (vtd_dmar_translate on lines 5 and 7 repeats these translations).
    tlp(4, { op: "MRd", sid: 0x10, addr: 0xfffff000n, time: t0(201) }),
    tlp(6, { op: "MRd", sid: 0x10, addr: 0xfffff008n, time: t0(300) }),
    tlp(8, { op: "MRd", sid: 0x18, addr: 0x7000n, time: t0(400) }),
    // write 0 -> MRd; fault 6 (decimal) is the fault reason QEMU recorded: expect=0x06.
    tlp(9, { op: "MRd", sid: 0x10, addr: 0xdead000n, expect: { arch: "vtd", code: 6 }, time: t0(500) }),
    // cc_domain on line 12; the cc_global QEMU traces right after it (line 13) is the same descriptor.
    inv(12, c, { kind: "cc", reg: false, gran: "domain", did: 1 }, { time: t0(601) }),
    inv(15, c, { kind: "cc", reg: false, gran: "device", sid: 0x10, fm: 0 }, { time: t0(701) }),
    inv(19, c, { kind: "iotlb", reg: false, gran: "psi", did: 1, addr: 0xfffff000n, am: 0, ih: false }, { time: t0(801) }),
    inv(21, c, { kind: "wait", status: { addr: 0x7f001000n, data: 1 } }, { time: t0(901) }),
    inv(23, c, { kind: "iec" }, { time: t0(1001) }),
    // Raw device-TLB descriptor: low 0x1000000003 -> type 3, SID (47:32) 0x0010; high 0x80001001 ->
    // S=1, ADDR[63:12] = 0x80001: one trailing 1 -> 16 KiB (4 pages), aligned to 0x80000000.
    inv(24, c, { kind: "devtlb", sid: 0x10, addr: 0x80000000n, pagesLg2: 2 }, { time: t0(1100) }),
    inv(27, c, { kind: "iotlb", reg: false, gran: "global" }, { time: t0(1300) }),
  ]);
  assert.equal(
    r.summary,
    summary("qemu", {
      lines: 27,
      used: 12,
      // repeats: vtd_inv_desc before its symbolic event (1, 11, 14, 18, 20, 22), vtd_dmar_translate
      // (5, 7), the cc_global after cc_domain (13); no DMA: vtd_iotlb_cc_update (3),
      // vtd_inv_desc_cc_device (16), vtd_switch_address_space (17), vtd_reg_write (25),
      // vtd_inv_qi_tail (26); line 10 is QEMU's error report, not a trace event
      ignored: { repeat: 9, noDma: 5, unrecognised: 1 },
      events: { MRd: 4, inv: 8 },
      expected: 1,
    }),
  );
});

test("vtd log, QEMU 9/10 (no prefix): PASID cache, PASID IOTLB, PASID device-TLB, waits, fault with write 1", () => {
  const r = run("qemu", vtdRecent, "vtd.log");
  assert.equal(r.skipped, []);
  assert.equal(r.events, [
    inv(2, 1, { kind: "pc", gran: "pasid", did: 1, pasid: 2 }),
    inv(4, 1, { kind: "pc", gran: "dsi", did: 1 }),
    inv(6, 1, { kind: "pc", gran: "global" }),
    inv(8, 1, { kind: "piotlb", did: 1, pasid: 2, psi: { addr: 0x7f000000n, am: 0, ih: false } }),
    inv(10, 1, { kind: "piotlb", did: 1, pasid: 2 }),
    // low 0x200100008: type 8, SID (31:16) 0x0010, PASID (51:32) 2; high 0x7f001801: G (bit 0) = 1,
    // S (bit 11) = 1, ADDR[63:12] = 0x7f001: one trailing 1 -> 4 pages at 0x7f000000.
    inv(11, 1, { kind: "pdevtlb", sid: 0x10, pasid: 2, addr: 0x7f000000n, pagesLg2: 2, all: true }),
    tlp(12, { op: "MRd", sid: 0x10, addr: 0x7f000123n }),
    // fault 133 = 0x85 (SGN.6, write without write permission)
    tlp(14, { op: "MWr", sid: 0x10, addr: 0x7f002000n, expect: { arch: "vtd", code: 0x85 } }),
    inv(16, 1, { kind: "wait", status: { addr: 0x7e0f1000n, data: 1 } }),
    inv(18, 1, { kind: "wait" }),
  ]);
  // every vtd_inv_desc precedes its symbolic event (1, 3, 5, 7, 9, 15, 17) but the device-piotlb
  // one (11); vtd_dmar_translate (13) repeats line 12
  assert.equal(r.summary, summary("qemu", { lines: 18, used: 10, ignored: { repeat: 8 }, events: { MRd: 1, MWr: 1, inv: 8 }, expected: 1 }));
});

test("smmuv3 log before 2024: decimal sid, no stage; perm 0x2 -> MWr; abort and bypass take the default direction", () => {
  const r = run("qemu", smmuOld, "smmu-old.log");
  assert.equal(r.events, [
    tlp(1, { op: "MWr", sid: 16, addr: 0x8e043242n, time: t0(2000) }),
    tlp(2, { op: "MRd", sid: 16, addr: 0x9000n, time: t0(2100) }),
    // is_write=1 on bypass is QEMU's permission value, not the access: the default MRd.
    tlp(3, { op: "MRd", sid: 24, addr: 0x4000n, time: t0(2200) }),
    // the real line of ecosystem.md: sid=0x10, perm=0x3 (does not tell the access).
    tlp(7, { op: "MRd", sid: 0x10, addr: 0x8e043242n }),
  ]);
  // no DMA: the command and IOTLB invalidation events (4-6)
  assert.equal(r.summary, summary("qemu", { lines: 7, used: 4, ignored: { noDma: 3 }, events: { MRd: 3, MWr: 1 } }));
});

test("smmuv3 log 9.1+: hex sid, stage=; perm 0x1 -> MRd; --map op=MWr for the events that do not record the access", () => {
  const r = run("qemu", smmuRecent, "smmu.log");
  assert.equal(r.summary, summary("qemu", { lines: 10, used: 4, ignored: { noDma: 6 }, events: { MRd: 4 } }));
  assert.equal(r.events, [
    tlp(4, { op: "MRd", sid: 0x10, addr: 0x8e043242n }),
    tlp(5, { op: "MRd", sid: 0x10, addr: 0x8e044000n }),
    tlp(6, { op: "MRd", sid: 0x10, addr: 0xdead0000n }),
    tlp(7, { op: "MRd", sid: 0x8, addr: 0x1000n }),
  ]);
  assert.equal(run("qemu", smmuRecent, "smmu.log", { map: { op: "MWr" } }).events, [
    tlp(4, { op: "MWr", sid: 0x10, addr: 0x8e043242n }), // perm 0x3: the default
    tlp(5, { op: "MRd", sid: 0x10, addr: 0x8e044000n }), // perm 0x1: a read whatever the default
    tlp(6, { op: "MWr", sid: 0x10, addr: 0xdead0000n }),
    tlp(7, { op: "MWr", sid: 0x8, addr: 0x1000n }),
  ]);
});

test("smmuv3 failed translations: QEMU's event names, decimal sid and the old '(...)' without a space, time from the record's prefix", () => {
  const r = qemu(
    // QEMU before 2022 (no space before the parenthesis) and before 2024 (sid decimal), old trace prefix
    "smmuv3-iommu-memory-region-24-0 translation failed for iova=0x7000(SMMU_EVT_F_WALK_EABT)\n" +
      "4000@1690000000.003000:smmuv3_record_event SMMU_EVT_F_WALK_EABT sid=24\n" +
      // QEMU's F_TRANS_FORBIDDEN is the spec's F_TRANSL_FORBIDDEN (a translated request)
      "smmuv3-iommu-memory-region-24-0 translation failed for iova=0x8000 (SMMU_EVT_F_TRANS_FORBIDDEN)\n" +
      "smmuv3_record_event SMMU_EVT_F_TRANS_FORBIDDEN sid=0x18\n" +
      "smmuv3-iommu-memory-region-24-0 translation failed for iova=0x9000 (SMMU_EVT_C_BAD_STE)\n" +
      "smmuv3_record_event SMMU_EVT_C_BAD_STE sid=0x18\n",
  );
  assert.equal(r.events, [
    tlp(1, { op: "MRd", sid: 24, addr: 0x7000n, expect: { arch: "smmuv3", code: 0x0b }, time: t0(3000) }),
    tlp(3, { op: "MRd", sid: 0x18, addr: 0x8000n, translated: true, expect: { arch: "smmuv3", code: 0x07 } }),
    tlp(5, { op: "MRd", sid: 0x18, addr: 0x9000n, expect: { arch: "smmuv3", code: 0x04 } }),
  ]);
  // each record_event is part of its failed translation's record
  assert.equal(r.summary, summary("qemu", { lines: 6, used: 6, events: { MRd: 3 }, expected: 3 }));
});

test("smmuv3 F_PERMISSION: MWr in a stage-1 log; the default direction once the log shows stage-2 translations", () => {
  const fault = "smmuv3-iommu-memory-region-16-0 translation failed for iova=0x200040 (SMMU_EVT_F_PERMISSION)\nsmmuv3_record_event SMMU_EVT_F_PERMISSION sid=0x10\n";
  assert.equal(qemu(fault).events, [tlp(1, { op: "MWr", sid: 0x10, addr: 0x200040n, expect: { arch: "smmuv3", code: 0x13 } })]);
  // QEMU's stage-2 check (S2AP) faults reads as well: which one the log does not say
  const s2 = "smmuv3_translate_success smmuv3-iommu-memory-region-24-1 sid=0x18 iova=0x40000000 translated=0x90000000 perm=0x3 stage=2\n" + fault;
  const r = qemu(s2);
  assert.equal(r.events[1], tlp(2, { op: "MRd", sid: 0x10, addr: 0x200040n, expect: { arch: "smmuv3", code: 0x13 } }));
  assert.equal(r.summary.notes, [{ what: "F_PERMISSION in a log with stage-2 translations (a read or a write): the default direction", count: 1 }]);
  assert.equal(qemu(s2, { map: { op: "MWr" } }).events[1], tlp(2, { op: "MWr", sid: 0x10, addr: 0x200040n, expect: { arch: "smmuv3", code: 0x13 } }));
  // a stage-2 page walk line says the same
  assert.is(qemu("smmu_ptw_invalid_pte stage=2 level=1 base@=0x1000 pte@=0x1008 offset=1 pte=0x0\n" + fault).events[0]!.op, "MRd");
});

test("smmuv3 failed translations without their record: StreamID from a line naming the region, else an error; lone records", () => {
  const r = qemu(
    "smmuv3-iommu-memory-region-16-0 translation failed for iova=0x5000 (no recorded event)\n" +
      "smmuv3_translate_abort smmuv3-iommu-memory-region-16-0 sid=0x10 abort on iova:0x6000 is_write=0\n" +
      // a record of another type does not belong to the failed line before it
      "smmuv3-iommu-memory-region-16-0 translation failed for iova=0x7000 (SMMU_EVT_F_ACCESS)\n" +
      "smmuv3_record_event SMMU_EVT_F_TRANSLATION sid=0x10\n" +
      "smmuv3_record_event 1.000 pid=7 type=SMMU_EVT_C_BAD_CD sid=0x10\n",
  );
  assert.equal(r.events, [
    tlp(1, { op: "MRd", sid: 0x10, addr: 0x5000n }),
    tlp(2, { op: "MRd", sid: 0x10, addr: 0x6000n }),
    tlp(3, { op: "MRd", sid: 0x10, addr: 0x7000n, expect: { arch: "smmuv3", code: 0x12 } }),
  ]);
  assert.equal(
    r.summary,
    summary("qemu", {
      lines: 5,
      used: 3,
      ignored: { noDma: 2 },
      events: { MRd: 3 },
      expected: 1,
      notes: [
        { what: "failed SMMUv3 translations QEMU did not record (no event type: CD.R or STE.S2R is 0): TLPs without expect=", count: 1 },
        { what: 'smmuv3_record_event lines without QEMU\'s "translation failed" line before them (-d guest_errors): no address, no TLP', count: 2 },
      ],
    }),
  );
  fails(
    "smmuv3-iommu-memory-region-8-0 translation failed for iova=0x1000 (SMMU_EVT_F_TRANSLATION)",
    1,
    "failed SMMUv3 translation of smmuv3-iommu-memory-region-8-0: no StreamID (no smmuv3_record_event follows, and no smmuv3_translate_* line names smmuv3-iommu-memory-region-8-0 with sid=); trace smmuv3_record_event or smmuv3_translate_*",
  );
  fails(
    "smmuv3-iommu-memory-region-8-0 translation failed for iova=0x1000 (INVALID)",
    1,
    'failed SMMUv3 translation: unknown event type "INVALID"; expected a name of QEMU\'s smmuv3-internal.h (SMMU_EVT_F_TRANSLATION, ...) or "no recorded event"',
  );
});

test("simpletrace text: arguments by trace-events name, time = sum of the deltas", () => {
  const r = run("qemu", simple, "trace.txt");
  assert.equal(r.events, [
    // 0 + 1.250 + 0.375 us = 1625 ns
    inv(3, 1, { kind: "iotlb", reg: false, gran: "dsi", did: 1 }, { time: ns(1625) }),
    tlp(4, { op: "MRd", sid: 0x10, addr: 0xfffff010n, time: ns(11626) }),
    tlp(5, { op: "MRd", sid: 0x10, addr: 0xfffff020n, time: ns(13626) }),
    tlp(6, { op: "MWr", sid: 0x18, addr: 0x3000n, expect: { arch: "vtd", code: 6 }, time: ns(14126) }),
    inv(7, 1, { kind: "devtlb", sid: 0x10, addr: 0x80000000n, pagesLg2: 2 }, { time: ns(17126) }),
    inv(8, 1, { kind: "wait" }, { time: ns(17226) }),
    tlp(9, { op: "MWr", sid: 0x10, addr: 0x8e043242n, time: ns(18226) }),
  ]);
  // vtd_inv_qi_tail (1) carries no DMA; the iotlb vtd_inv_desc (2) precedes its symbolic event
  assert.equal(r.summary, summary("qemu", { lines: 9, used: 7, ignored: { noDma: 1, repeat: 1 }, events: { MRd: 2, MWr: 2, inv: 3 }, expected: 1 }));
});

test("vtd_dmar_translate is used when the log has no exact translation events (its iova is the page)", () => {
  const r = qemu("vtd_dmar_translate dev 03:1f.07 iova 0x7f000000 -> gpa 0x1234567000 mask 0xfff\nvtd_inv_qi_head read head 3\n");
  // bus 3, slot 0x1f, function 7 -> sid 0x03ff
  assert.equal(r.events, [tlp(1, { op: "MRd", sid: 0x03ff, addr: 0x7f000000n })]);
});

test("ISO-8601 timestamps (2025 QEMU) and the first PASID-cache event names (vtd_pasid_cache_*)", () => {
  const r = qemu(
    "2025-05-06T10:11:12.345678Z vtd_pasid_cache_dsi Domian slective PC invalidation domain 0x3\n" +
      "2025-05-06T10:11:12.345679Z qemu-system-x86_64(1234:CPU 0/KVM): vtd_pasid_cache_psi PASID slective PC invalidation domain 0x3 pasid 0x9\n" +
      "2025-05-06T10:11:13Z vtd_pasid_cache_gsi \n",
  );
  const epoch = Date.UTC(2025, 4, 6, 10, 11, 12) * 1000; // us
  assert.equal(r.events, [
    inv(1, 29, { kind: "pc", gran: "dsi", did: 3 }, { time: us(epoch + 345678) }),
    inv(2, 65, { kind: "pc", gran: "pasid", did: 3, pasid: 9 }, { time: us(epoch + 345679) }),
    inv(3, 22, { kind: "pc", gran: "global" }, { time: us(epoch + 1000000) }),
  ]);
});

test("ignored: other vtd/smmu events, error_report lines that name a vtd_ function, other text", () => {
  const r = qemu(
    "vtd_reg_write addr 0x88 size 0x8 value 0x100\n" +
      "qemu-system-x86_64: vtd_iommu_translate: detected translation failure (dev=00:02:00, iova=0x1000)\n" +
      "smmuv3_cmdq_opcode <--- CMD_CFGI_STE\n" +
      "smmu_iotlb_inv_all IOTLB invalidate all\n" +
      "amdvi_iotlb_hit hit iotlb devid 00:02.0 gpa 0x1000 hpa 0x2000\n" +
      "vtd_inv_desc_cc_device context invalidate device 00:02.00\n" +
      "vtd_inv_desc invalidate desc type iotlb high 0x0 low 0x10012\n",
  );
  assert.equal(r.events, []);
  assert.equal(r.skipped, []);
  // no DMA: vtd_reg_write, smmuv3_cmdq_opcode, smmu_iotlb_inv_all, vtd_inv_desc_cc_device; the
  // vtd_inv_desc of an iotlb descriptor repeats the symbolic event QEMU traces after it; the error
  // report and the amdvi_ event are not lines of this format
  assert.equal(r.summary, summary("qemu", { lines: 7, used: 0, ignored: { noDma: 4, repeat: 1, unrecognised: 2 } }));
});

function fails(line: string, column: number, message: string): void {
  throwsInput(() => qemu(line), `q.log:1:${column}: ${message}`);
}

test("errors: a used event whose message does not parse, values out of range, unwritable events", () => {
  fails("vtd_iotlb_page_hit IOTLB page hit sid 0x10 iova 0x1000", 20, 'vtd_iotlb_page_hit: unrecognised message "IOTLB page hit sid 0x10 iova 0x1000"; expected the format of hw/i386 or hw/arm trace-events');
  fails("smmuv3_translate_success mr sid=0x10 iova=0x1000 translated=0x1000", 26, 'smmuv3_translate_success: unrecognised message "mr sid=0x10 iova=0x1000 translated=0x1000"; expected the format of hw/i386 or hw/arm trace-events');
  fails("vtd_dmar_fault sid 0x10000 fault 6 addr 0x1000 write 0", 16, "vtd_dmar_fault: sid 0x10000 is out of range (max 0xffff)");
  fails("vtd_dmar_fault sid 0x10 fault 256 addr 0x1000 write 0", 16, "vtd_dmar_fault: fault 256 is out of range (max 0xff)");
  fails("vtd_inv_desc_cc_devices context invalidate devices sid 0x10 fmask 0x4", 25, "vtd_inv_desc_cc_devices: fmask 0x4 is out of range (max 0x3)");
  // addr 0x1000 is not aligned to 2^1 pages: no descriptor can say this.
  fails("vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x1 addr 0x1000 mask 0x1", 26, "vtd_inv_desc_iotlb_pages: addr 0x1000 is not aligned to 2^1 pages (0x2000 bytes)");
  fails("vtd_inv_desc_iotlb_pasid_pages iotlb invalidate domain 0x1 addr 0x3000 mask 0x2 pasid 0x1", 32, "vtd_inv_desc_iotlb_pasid_pages: addr 0x3000 is not aligned to 2^2 pages (0x4000 bytes)");
});

test("errors: simpletrace records without an argument; times going back", () => {
  throwsInput(() => qemu("vtd_dmar_fault 1.000 pid=7 sid=0x10 fault=0x6 addr=0x1000\n"), "q.log:1:28: vtd_dmar_fault: no is_write= in the simpletrace record");
  throwsInput(
    () => qemu("1@1690000000.000200:vtd_translate_pt source id 0x18, iova 0x7000\n1@1690000000.000100:vtd_translate_pt source id 0x18, iova 0x8000\n"),
    "q.log:2:3: timestamp @1690000000000100us is earlier than @1690000000000200us on line 1; trace times must not decrease",
  );
});

test("skipBad: bad lines counted with their reasons", () => {
  const r = qemu(
    "vtd_translate_pt source id 0x18, iova 0x7000\n" +
      "vtd_translate_pt source id 0x18 iova 0x7000\n" +
      "vtd_inv_desc_iotlb_domain iotlb invalidate whole domain 0x10000\n" +
      "vtd_inv_desc_iotlb_domain iotlb invalidate whole domain 0x2\n",
    { skipBad: true },
  );
  assert.equal(r.events, [tlp(1, { op: "MRd", sid: 0x18, addr: 0x7000n }), inv(4, 1, { kind: "iotlb", reg: false, gran: "dsi", did: 2 })]);
  assert.equal(r.skipped, [
    { line: 2, reason: 'vtd_translate_pt: unrecognised message "source id 0x18 iova 0x7000"; expected the format of hw/i386 or hw/arm trace-events' },
    { line: 3, reason: "vtd_inv_desc_iotlb_domain: domain 0x10000 is out of range (max 0xffff)" },
  ]);
  assert.equal(r.summary, summary("qemu", { lines: 4, used: 2, skipped: 2, events: { MRd: 1, inv: 1 } }));
});

test("--map op must be MRd or MWr; qemu takes no other keys", () => {
  throwsInput(() => qemu("", { map: { op: "read" } }), "--map op=read for the qemu importer: expected op=MRd or op=MWr");
  throwsInput(() => qemu("", { map: { domain: "1" } }), 'unknown --map key "domain" for the qemu importer; it takes op=');
});

test.run();
