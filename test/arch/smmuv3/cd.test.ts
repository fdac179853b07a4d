/**
 * Golden context descriptors and level-1 CD descriptors: each qword hand-encoded from spec 5.3/5.4
 * (Linux arm-smmu-v3.h CTXDESC_*) and compared with src/arch/smmuv3/cd.ts (arm_smmu_make_s1_cd).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { l1cd, s1Cd } from "../../../src/arch/smmuv3/cd.ts";

test("stage-1 CD: 4K granule, 48-bit VA, coherent walks, Linux's MAIR", () => {
  const cd = s1Cd({ tsz: 16, tg: 0, irgn: 1, orgn: 1, sh: 3, ips: 5, ttb: 0x5000_0000n, mair: 0xf404_ff44n }, { asid: 0x1234 });
  // dw0: T0SZ [5:0] 16 (0x10) | TG0 [7:6] 0 | IR0 [9:8] 1 (0x100) | OR0 [11:10] 1 (0x400) | SH0 [13:12] 3 (0x3000)
  //      | EPD1 [30] (0x4000_0000) | V [31] (0x8000_0000) | IPS [34:32] 5 (0x5_0000_0000)
  //      | AA64 [41] (0x200_0000_0000) | R [45] (0x2000_0000_0000) | A [46] (0x4000_0000_0000)
  //      | ASET [47] (0x8000_0000_0000) | ASID [63:48] 0x1234
  // dw1: TTB0 [51:4] 0x5000_0000; dw3: MAIR
  assert.equal(cd, [0x1234_e205_c000_3510n, 0x5000_0000n, 0n, 0xf404_ff44n, 0n, 0n, 0n, 0n]);
});

test("stage-1 CD: 16K granule, 39-bit VA, non-coherent walks, HA/HD, a stalling master", () => {
  const cd = s1Cd({ tsz: 25, tg: 2, irgn: 0, orgn: 0, sh: 2, ips: 2, ttb: 0x1_2345_6000n, mair: 0x0abc_def0_1234_5678n, hd: true }, { asid: 0xffff, stallEnabled: true });
  // dw0: T0SZ 25 (0x19) | TG0 2 (0x80) | IR0 0 | OR0 0 | SH0 2 (0x2000) | EPD1 | V (0xc000_0000)
  //      | IPS 2 (0x2_0000_0000) | AA64 (0x200_0000_0000) | HD [42] (0x400_0000_0000)
  //      | HA [43] (0x800_0000_0000) | S [44] (0x1000_0000_0000) | R | A | ASET (0xe000_0000_0000)
  //      | ASID 0xffff
  assert.equal(cd, [0xffff_fe02_c000_2099n, 0x1_2345_6000n, 0n, 0x0abc_def0_1234_5678n, 0n, 0n, 0n, 0n]);
});

test("an ASID wider than 16 bits or a misaligned TTB0 is refused", () => {
  const s1 = { tsz: 16, tg: 0, irgn: 1, orgn: 1, sh: 3, ips: 5, ttb: 0x5000_0000n, mair: 0n };
  assert.throws(() => s1Cd(s1, { asid: 0x10000 }), /ASID = 65536 does not fit in bits \[63:48\]/);
  assert.throws(() => s1Cd({ ...s1, ttb: 0x5000_0004n }, { asid: 1 }), /TTB0 0x50000004 is not 16-byte aligned/);
});

test("level-1 CD descriptor: V, L2Ptr", () => {
  // V [0] 1 | L2Ptr [51:12] 0x7777_0000
  assert.is(l1cd(0x7777_0000n), 0x7777_0001n);
  assert.throws(() => l1cd(0x7777_0800n), /not 4 KiB aligned/);
});

test.run();
