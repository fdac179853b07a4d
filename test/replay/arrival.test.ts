/**
 * Arrival times: trace times converted to cycles at timing.clockMHz (ns and us exactly, rounded
 * down; cycles as given), a TLP without a time arriving with the line before it, back-to-back
 * (all at cycle 0) and a fixed injection rate (TLP i at floor(i / rate)); the times written into
 * the request records never decrease; the lazy flush timer runs on the same timeline, timed or not.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { VtdPlatform } from "../../src/platform.ts";
import { VtdDriver } from "../../src/arch/vtd/driver.ts";
import { parseTraceText, type TraceTlp } from "../../src/trace/text.ts";
import { replay, timeToCycles, ArrivalClock, ArrivalOverflow } from "../../src/replay/replay.ts";
import type { TimingConfig } from "../../src/config/timing.ts";
import { exactDecimal } from "../../src/util/decimal.ts";
import * as abi from "../../src/core/abi.ts";

function platform(timing: Partial<TimingConfig> = {}): { p: VtdPlatform; times: bigint[] } {
  const p = new VtdPlatform({ build: "release", timing });
  const d = p.builder.createDomain({ id: 1, type: "ss" });
  p.builder.map(d, 0x100000n, 0x80000000n, 0x100000n);
  p.builder.attach({ sid: 0x10, domain: 1 });
  p.enable();
  // Every request record's time, as the replay hands the batch to the core: the batch's base
  // (Ctrl.REQ_TIME_BASE) plus the record's delta (Req.TIME).
  const times: bigint[] = [];
  const run = p.core.run.bind(p.core);
  p.core.run = (n: number) => {
    const ring = p.core.requestWords();
    const base = new BigUint64Array(ring.buffer, abi.CTRL_BASE + abi.Ctrl.REQ_TIME_BASE, 1)[0]!;
    for (let i = 0; i < n; i++) times.push(base + BigInt(ring[(i * abi.REQ_SIZE + abi.Req.TIME) / 4]!));
    run(n);
  };
  return { p, times };
}

const mrd = (time: string, page = 0) => `${time}MRd 00:02.0 addr=0x${(0x100000 + page * 0x1000).toString(16)}`;

/** Replays `lines` and returns the request records' times and the results' issue cycles. */
function run(timing: Partial<TimingConfig>, lines: string[]): { times: bigint[]; issue: bigint[]; latency: number[] } {
  const { p, times } = platform(timing);
  const issue: bigint[] = [];
  const latency: number[] = [];
  replay(p, parseTraceText(lines.join("\n"), "t"), (_, __, r) => (issue.push(r.issue), latency.push(r.latency)));
  return { times, issue, latency };
}

test("ns and us trace times convert at the clock, rounded down to the cycle they fall in; cycles as given", () => {
  const lines = [mrd("@10ns "), mrd("@11ns "), mrd("@13.9ns "), mrd("@0.3us "), mrd("@3.5us "), mrd("@1750 "), mrd("@1751 ")];
  const r = run({ clockMHz: 500 }, lines);
  assert.equal(r.times, [5n, 5n, 6n, 150n, 1750n, 1750n, 1751n]);
  assert.equal(r.issue, r.times, "the model's issue cycle is the record's arrival time");
  assert.equal(run({ clockMHz: 1500 }, [mrd("@7ns "), mrd("@1us ")]).times, [10n, 1500n], "10.5 cycles fall in cycle 10");
  assert.equal(run({ clockMHz: 1000 }, [mrd("@4.35ns "), mrd("@0.00436us ")]).times, [4n, 4n]);
  assert.equal(run({ clockMHz: 2400 }, [mrd("@0.35ns "), mrd("@0.3us ")]).times, [0n, 720n], "0.35 ns at 2.4 GHz is cycle 0.84");
  assert.is(timeToCycles({ value: 0.3, unit: "us" }, 1000), 300n, "0.3 x 1000 exactly, not 299.99...");
  assert.is(timeToCycles({ value: 4.35, unit: "ns" }, 100), 0n);
  assert.is(timeToCycles({ value: 43.5, unit: "ns" }, 100), 4n);
  assert.is(timeToCycles({ value: 12, unit: "ns" }), 12n, "default 1 GHz");
  assert.is(timeToCycles(undefined), 0n);
});

test("the replay's fast conversion equals the exact one for any decimal time and clock", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1e12 }),
      fc.integer({ min: 0, max: 6 }),
      fc.constantFrom("ns" as const, "us" as const),
      fc.integer({ min: 1, max: 5_000_000 }),
      fc.integer({ min: 0, max: 3 }),
      (digits, scale, unit, clockDigits, clockScale) => {
        const value = Number(`${digits}e-${scale}`);
        const clockMHz = Number(`${clockDigits}e-${clockScale}`);
        const exact = timeToCycles({ value, unit }, clockMHz);
        // independent reference: digits x clock / 10^scale / (1000 for ns)
        const v = exactDecimal(value), c = exactDecimal(clockMHz);
        const ref = (v.digits * c.digits * (unit === "us" ? 1000n : 1n)) / (10n ** BigInt(v.scale + c.scale) * 1000n);
        assert.is(exact, ref);
        const clock = new ArrivalClock({ clockMHz, arrival: "trace", injectionRate: 0 });
        // The replay keeps cycles in doubles: exact up to 2^53 - 1, an error beyond.
        if (exact <= BigInt(Number.MAX_SAFE_INTEGER)) assert.is(clock.tlp(0, { time: { value, unit } } as TraceTlp), exact);
        else assert.throws(() => clock.tlp(0, { time: { value, unit } } as TraceTlp), (e: unknown) => e instanceof ArrivalOverflow);
      },
    ),
    { numRuns: 2000 },
  );
});

test("a TLP without a time arrives with the line before it, a driver event's time included", () => {
  const lines = [mrd("@100 "), mrd(""), "@150 map 1 0x800000 0x90000000 0x1000", mrd(""), mrd("@160 "), mrd("")];
  assert.equal(run({}, lines).times, [100n, 100n, 150n, 160n, 160n]);
  assert.equal(run({}, [mrd(""), mrd("")]).times, [0n, 0n], "no time at all: cycle 0");
});

test("arrival times never decrease: an earlier time from the other clock domain is clamped", () => {
  // Cycle and ns times are each in order (the parser checks that); mixed, they may go back.
  const lines = [mrd("@100 "), mrd("@50ns "), mrd("@120 "), mrd("@60ns "), mrd("@0.2us ")];
  const r = run({ clockMHz: 1000 }, lines);
  assert.equal(r.times, [100n, 100n, 120n, 120n, 200n]);
  assert.equal(r.issue, r.times);
});

test("back-to-back: every TLP arrives at cycle 0 whatever the trace says; the translation slots pace them", () => {
  const lines = Array.from({ length: 8 }, (_, i) => mrd(`@${1000 * i} `, i % 2));
  const r = run({ arrival: "back-to-back", translationSlots: 1, completionOrder: "out-of-order" }, lines);
  assert.equal(r.times, Array(8).fill(0n));
  assert.equal(r.issue, Array(8).fill(0n));
  const done = r.latency.map((l, i) => l + Number(r.issue[i]));
  for (let i = 1; i < 8; i++) assert.ok(done[i]! > done[i - 1]!, "one slot: each completes after the one before");
});

test("injectionRate: TLP i arrives at floor(i / rate), exactly, whatever the trace's times and arrival say", () => {
  const lines = Array.from({ length: 12 }, (_, i) => mrd(`@${7 * i} `));
  assert.equal(run({ injectionRate: 0.5 }, lines).times, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22].map(BigInt));
  assert.equal(run({ injectionRate: 3 }, lines).times, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3].map(BigInt));
  assert.equal(run({ injectionRate: 0.3, arrival: "back-to-back" }, lines).times, [0, 3, 6, 10, 13, 16, 20, 23, 26, 30, 33, 36].map(BigInt), "0.3 exactly: 3/0.3 = 10, 9/0.3 = 30");
  // driver events do not count as TLPs: TLP numbering continues across them
  const withEvent = [mrd(""), mrd(""), "map 1 0x800000 0x90000000 0x1000", mrd(""), mrd("")];
  assert.equal(run({ injectionRate: 0.25 }, withEvent).times, [0n, 4n, 8n, 12n]);
});

test("the lazy flush timer runs on the arrival timeline: at the clock, and the same in a functional run", () => {
  // unmap at 20 ns; lazyTimeoutCycles 100. At 500 MHz the unmap is cycle 10, the deadline cycle
  // 110 = 220 ns; at 1000 MHz cycle 20, deadline 120 = 120 ns.
  const text = ["@0ns MRd 00:02.0 addr=0x100000", "@20ns unmap 1 0x100000 0x1000", "@119ns MRd 00:02.0 addr=0x100000", "@120ns MRd 00:02.0 addr=0x100000", "@219ns MRd 00:02.0 addr=0x100000", "@220ns MRd 00:02.0 addr=0x100000"].join("\n");
  const statuses = (timing: Partial<TimingConfig>) => {
    const { p } = platform(timing);
    const driver = new VtdDriver(p, { invalidation: "lazy", lazyTimeoutCycles: 100 });
    const out: string[] = [];
    replay(p, parseTraceText(text, "t"), (_, __, r) => out.push(r.stale ? "stale" : r.status), { driver });
    return out;
  };
  assert.equal(statuses({ clockMHz: 1000 }), ["ok", "stale", "fault", "fault", "fault"]);
  assert.equal(statuses({ clockMHz: 500 }), ["ok", "stale", "stale", "stale", "fault"]);
  assert.equal(statuses({ clockMHz: 500, enable: false }), ["ok", "stale", "stale", "stale", "fault"], "functional: same timeline, same translations");
});

test("a functional run writes the same arrival times and reports no latency", () => {
  const lines = [mrd("@10ns "), mrd("@30ns ", 1), mrd("")];
  const timed = run({ clockMHz: 500 }, lines);
  const functional = run({ clockMHz: 500, enable: false }, lines);
  assert.equal(functional.times, timed.times);
  assert.equal(functional.latency, [0, 0, 0]);
  assert.ok(timed.latency.every((l) => l > 0));
});

test.run();
