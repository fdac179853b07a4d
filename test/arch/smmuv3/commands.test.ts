/**
 * The SMMUv3 command queue in the core: CMDQ_PROD writes process commands (CONS follows, with its
 * wrap bit), CMD_SYNC's MSI write, command errors (CERROR_ILL, CERROR_ABT) in CMDQ_CONS.ERR and
 * GERROR.CMDQ_ERR stopping the queue until GERRORN acknowledges, CR0.CMDQEN.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Core } from "../../../src/core/core.ts";
import { builds, smmu, IDR0 } from "./helpers.ts";

const CMDQ = 0x90000n;
const CR0_ALL = 0xdn; // SMMUEN | EVENTQEN | CMDQEN
const SYNC_MSI = 0x46n | (1n << 12n) | (0xabcdn << 32n); // CMD_SYNC, CS = IRQ, MSIData 0xabcd
const MSI_ADDR = 0x95000n;

function unit(build: (typeof builds)[number], regs: Parameters<typeof smmu>[1] = {}): Core {
  const core = smmu(build, { CR0: CR0_ALL, ...regs });
  core.zeroPage(CMDQ);
  core.setRegister("CMDQ_BASE", CMDQ | 2n); // 4 commands
  return core;
}
const put = (core: Core, index: number, d0: bigint, d1 = 0n) => core.writeQwords(CMDQ + BigInt(index) * 16n, [d0, d1]);

for (const build of builds) {
  const test = suite(`smmuv3 command queue [${build}]`);

  test("commands run when PROD moves; CONS follows with its wrap bit; CMD_SYNC writes its MSI", () => {
    const core = unit(build);
    put(core, 0, 0x01n | (3n << 32n)); // PREFETCH_CONFIG
    put(core, 1, 0x03n | (3n << 32n), 1n); // CFGI_STE, Leaf
    put(core, 2, 0x10n); // TLBI_NH_ALL
    put(core, 3, SYNC_MSI, MSI_ADDR);
    core.writeRegister("CMDQ_PROD", 4n); // index 0, wrap 1
    assert.is(core.getRegister("CMDQ_CONS"), 4n);
    assert.is(core.read64(MSI_ADDR), 0xabcdn);
    put(core, 0, 0x12n | (1n << 48n), 0x4000_0000n | 1n); // TLBI_NH_VA
    put(core, 1, 0x2an, 0x1000n | (1n << 10n)); // TLBI_S2_IPA, range TG 4K (RIL)
    put(core, 2, 0x40n | (3n << 32n), 52n); // ATC_INV
    put(core, 3, 0x46n | (2n << 12n)); // CMD_SYNC, CS = SEV
    core.writeRegister("CMDQ_PROD", 0n); // index 0, wrap 0: four more
    assert.is(core.getRegister("CMDQ_CONS"), 0n);
    const c = core.archCounters();
    assert.equal([c.commands, c.cmdSyncs, c.cmdqErrors], [8n, 2n, 0n]);
    assert.is(core.getRegister("GERROR"), 0n);
  });

  test("an illegal command stops the queue (CONS.ERR 1, GERROR.CMDQ_ERR) until GERRORN acknowledges it", () => {
    const core = unit(build);
    put(core, 0, 0x06n | (3n << 32n)); // CFGI_CD_ALL
    put(core, 1, 0x7fn); // no such opcode
    put(core, 2, 0x46n);
    core.writeRegister("CMDQ_PROD", 3n);
    assert.is(core.getRegister("CMDQ_CONS"), 0x0100_0001n);
    assert.is(core.getRegister("GERROR"), 1n);
    core.writeRegister("CMDQ_PROD", 3n);
    assert.is(core.getRegister("CMDQ_CONS"), 0x0100_0001n, "stopped while the error is active");
    put(core, 1, 0x46n); // software replaces it with a CMD_SYNC, then acknowledges
    core.writeRegister("GERRORN", 1n);
    assert.is(core.getRegister("CMDQ_CONS") & 0xffn, 3n);
    assert.equal([core.archCounters().commands, core.archCounters().cmdqErrors], [3n, 1n]);
  });

  test("CERROR_ILL for commands the unit does not support; CERROR_ABT for a command nobody wrote", () => {
    const cases: [string, Parameters<typeof smmu>[1], bigint, bigint][] = [
      ["ATC_INV without IDR0.ATS", { IDR0: IDR0 & ~(1n << 10n) }, 0x40n, 0n],
      ["PRI_RESP without IDR0.PRI", {}, 0x41n, 0n],
      ["TLBI_EL2_ALL without IDR0.HYP", {}, 0x20n, 0n],
      ["TLBI_EL3_ALL", {}, 0x18n, 0n],
      ["TLBI_NH_VA without IDR0.S1P", { IDR0: IDR0 & ~(1n << 1n) }, 0x12n, 0n],
      ["SSec = 1", {}, 0x46n | (1n << 10n), 0n],
    ];
    for (const [what, regs, d0, d1] of cases) {
      const core = unit(build, regs);
      put(core, 0, d0, d1);
      core.writeRegister("CMDQ_PROD", 1n);
      assert.is(core.getRegister("CMDQ_CONS"), 0x0100_0000n, what);
      assert.is(core.getRegister("GERROR"), 1n, what);
    }
    const core = unit(build);
    core.setRegister("CMDQ_BASE", 0x98000n | 2n);
    core.writeRegister("CMDQ_PROD", 1n);
    assert.is(core.getRegister("CMDQ_CONS"), 0x0200_0000n);
  });

  test("CMD_PRI_RESP, CMD_RESUME, CMD_STALL_TERM: accepted with legal fields; reserved Resp / Action is CERROR_ILL", () => {
    // IDR0.PRI (bit 16) set so that CMD_PRI_RESP is supported at all
    const core = unit(build, { IDR0: IDR0 | (1n << 16n) });
    const sid = 7n << 32n;
    // CMD_PRI_RESP, SSV = 1, SSID 5, PRG index 0x1ff, Resp = 2 (Success); CMD_RESUME Action 1 (Retry), STAG 0x42;
    // CMD_STALL_TERM; CMD_RESUME Action 2 (Abort)
    put(core, 0, 0x41n | (1n << 11n) | (5n << 12n) | sid, 0x1ffn | (2n << 12n));
    put(core, 1, 0x44n | (1n << 12n) | sid, 0x42n);
    put(core, 2, 0x45n | sid);
    put(core, 3, 0x44n | (2n << 12n) | sid, 0x42n);
    core.writeRegister("CMDQ_PROD", 4n); // index 0, wrap 1: all four consumed
    assert.is(core.getRegister("CMDQ_CONS"), 4n);
    assert.equal([core.archCounters().commands, core.archCounters().cmdqErrors], [4n, 0n]);
    assert.is(core.getRegister("GERROR"), 0n);
    // Resp = 0 (Deny) and 1 (Fail) are legal too; Resp = 3 is reserved: CONS stops at index 2 (wrap 1) with ERR = 1
    put(core, 0, 0x41n | sid, 0n);
    put(core, 1, 0x41n | sid, 1n << 12n);
    put(core, 2, 0x41n | sid, 3n << 12n);
    core.writeRegister("CMDQ_PROD", 4n | 3n); // index 3, wrap 1: three commands after CONS = 4 (index 0, wrap 1)
    assert.is(core.getRegister("CMDQ_CONS"), 0x0100_0000n | 4n | 2n, "CONS.ERR = CERROR_ILL at the reserved Resp");
    assert.is(core.getRegister("GERROR"), 1n);
    assert.equal([core.archCounters().commands, core.archCounters().cmdqErrors], [6n, 1n]);
    // CMD_RESUME with Action = 3 (reserved) is CERROR_ILL as well
    const c2 = unit(build);
    put(c2, 0, 0x44n | (3n << 12n) | sid, 0x42n);
    c2.writeRegister("CMDQ_PROD", 1n);
    assert.is(c2.getRegister("CMDQ_CONS"), 0x0100_0000n);
    assert.is(c2.getRegister("GERROR"), 1n);
    // the same CMD_RESUME with Action = 0 (Terminate) is accepted
    const c3 = unit(build);
    put(c3, 0, 0x44n | sid, 0x42n);
    c3.writeRegister("CMDQ_PROD", 1n);
    assert.equal([c3.getRegister("CMDQ_CONS"), c3.getRegister("GERROR")], [1n, 0n]);
  });

  test("nothing runs while CR0.CMDQEN = 0; setting it processes what is queued", () => {
    const core = unit(build, { CR0: 0x5n });
    put(core, 0, 0x46n, 0n);
    core.writeRegister("CMDQ_PROD", 1n);
    assert.is(core.getRegister("CMDQ_CONS"), 0n);
    core.writeRegister("CR0", CR0_ALL);
    assert.is(core.getRegister("CMDQ_CONS"), 1n);
    assert.is(core.getRegister("CR0ACK"), CR0_ALL);
    assert.throws(() => core.writeRegister("IQT" as never, 0n), /IQT is not a register of this smmuv3 unit/);
  });

  test.run();
}
