/**
 * Property test of the driver side (src/iommu) on VT-d scalable, VT-d legacy and SMMUv3: random
 * bind/unbind/attach/replace/detach sequences over the dual-function NIC's group (03:00.0, 03:00.1,
 * port 02:01.0) and the singleton 00:02.0, with a TLP from every device after every event and
 * between the entry-update steps of every attach, replace and block; PASID 1 too (attach,
 * replace and detach with pasid=1, a TLP with PASID 1 from every device at the same points), and
 * attach/replace/detach group=N of the two groups (4: the NIC's, 0: 00:02.0's). Domain 1 is only ever the
 * kernel's default domain (the builder's); the trace attaches 2 and 3. What must hold:
 * - a translated TLP reaches the PA of the domain its device is attached to (during an update: the
 *   domain before the event or the one it attaches), never another domain's;
 * - a device of a user-owned group never reaches domain 1 (the kernel's), even between steps;
 * - after each event, in a user-owned group with no device attached every TLP is `blocked`, and with
 *   devices attached every device of the group reaches the same domain.
 * The test keeps its own account of ownership and attachment from the events the driver side did
 * not refuse (their refusal results), not from the driver side's state.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { GPU, NIC0, NIC1, PORT, UNITS, setup, type Setup } from "./harness.ts";
import { formatBdf } from "../../src/trace/events.ts";

const DEVICES = [NIC0, NIC1, GPU] as const;
const GROUP_OF = new Map<number, readonly number[]>([
  [NIC0, [PORT, NIC0, NIC1]],
  [NIC1, [PORT, NIC0, NIC1]],
  [PORT, [PORT, NIC0, NIC1]],
  [GPU, [GPU]],
]);

type Cmd =
  | { op: "bind"; dev: number; driver: "vfio" | "kernel:k" }
  | { op: "unbind"; dev: number }
  | { op: "attach" | "replace"; dev: number; domain: 2 | 3; pasid?: 1 }
  | { op: "detach"; dev: number; pasid?: 1 }
  /** A group event; `dev` is a device of the group (the one whose ownership decides). */
  | { op: "attach" | "replace"; group: 0 | 4; dev: number; domain: 2 | 3 }
  | { op: "detach"; group: 0 | 4; dev: number };

const dev = fc.constantFrom(...DEVICES);
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant("bind" as const), dev, driver: fc.constantFrom("vfio" as const, "kernel:k" as const) }),
  fc.record({ op: fc.constant("unbind" as const), dev }),
  fc.record({ op: fc.constantFrom("attach" as const, "replace" as const), dev, domain: fc.constantFrom(2 as const, 3 as const), pasid: fc.constantFrom(1 as const, undefined) }, { requiredKeys: ["op", "dev", "domain"] }),
  fc.record({ op: fc.constant("detach" as const), dev, pasid: fc.constantFrom(1 as const, undefined) }, { requiredKeys: ["op", "dev"] }),
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constantFrom("attach" as const, "replace" as const, "detach" as const), group: fc.constantFrom(0 as const, 4 as const), domain: fc.constantFrom(2 as const, 3 as const) }).map(
      ({ op, group, domain }): Cmd => (op === "detach" ? { op, group, dev: group === 4 ? NIC0 : GPU } : { op, group, dev: group === 4 ? NIC0 : GPU, domain }),
    ),
  },
);

const pasidText = (c: Cmd) => ("pasid" in c && c.pasid !== undefined ? ` pasid=${c.pasid}` : "");
const text = (c: Cmd) =>
  "group" in c
    ? `${c.op} group=${c.group}${"domain" in c ? ` domain=${c.domain}` : ""}`
    : c.op === "bind"
    ? `bind ${formatBdf(c.dev)} ${c.driver}`
    : c.op === "attach" || c.op === "replace"
      ? `${c.op} ${formatBdf(c.dev)}${pasidText(c)} domain=${c.domain}`
      : `${c.op} ${formatBdf(c.dev)}${pasidText(c)}`;

/** The domain number an outcome reached (`ok d`), undefined when it was not translated. */
const reached = (o: string) => (o.startsWith("ok ") ? o.slice(3) : undefined);

function check(s: Setup, cmds: Cmd[]): void {
  const drivers = new Map<number, string>();
  /** Per user-owned group (its first member), the devices attached by events that were not refused. */
  const attached = new Map<number, Set<number>>();
  const userOwned = (d: number) => GROUP_OF.get(d)!.some((m) => drivers.get(m) === "vfio");
  const key = (d: number) => GROUP_OF.get(d)![0]!;
  const ALL = [...DEVICES, PORT];
  let step = 0;
  let allowed = new Map<number, Set<string>>();
  let releasing = false;
  const where = (i: number, what: string) => `event ${i} (${cmds.slice(0, i + 1).map(text).join("; ")}): ${what}`;
  const anyTime = (i: number, d: number, o: string) => {
    const r = reached(o);
    if (r === undefined) return;
    assert.ok(allowed.get(d)!.has(r), where(i, `${formatBdf(d)} reached ${o}, allowed ${[...allowed.get(d)!].join(", ") || "none"} (step ${step})`));
    if (userOwned(d) && !(releasing && step >= 0)) assert.is.not(r, "1", where(i, `${formatBdf(d)} of a user-owned group reached the kernel's domain 1`));
  };
  const domainOf = (d: number, pasid?: number) => {
    const x = s.layer.attachedDomain(d, pasid);
    return x === undefined ? undefined : String(x);
  };
  /** PASID 1 of each device: what its TLPs may reach (its domain; during an event on it, also the target). */
  let allowedPasid = new Map<number, Set<string>>();
  const pasidTime = (i: number, d: number, o: string) => {
    const r = reached(o);
    if (r === undefined) return;
    assert.ok(allowedPasid.get(d)!.has(r), where(i, `${formatBdf(d)} PASID 1 reached ${o}, allowed ${[...allowedPasid.get(d)!].join(", ") || "none"} (step ${step})`));
    if (userOwned(d)) assert.is.not(r, "1", where(i, `${formatBdf(d)} PASID 1 of a user-owned group reached the kernel's domain 1`));
  };
  const arch = s.layer.arch as unknown as { onEntryStep?: (x: unknown) => void };
  cmds.forEach((c, i) => {
    // What each device may reach while the event runs: its domain before it, and the event's target.
    allowed = new Map(ALL.map((d) => [d, new Set([domainOf(d), "domain" in c ? String(c.domain) : undefined].filter((x): x is string => x !== undefined))]));
    // A release (the group's last vfio unbinds) gives the group its default domains back: the
    // builder's domain 1, or what a kernel-time replace made it; the group is no longer user-owned.
    releasing = c.op === "unbind" && drivers.get(c.dev) === "vfio" && GROUP_OF.get(c.dev)!.every((m) => m === c.dev || drivers.get(m) !== "vfio");
    if (releasing) for (const d of GROUP_OF.get(c.dev)!) for (const x of ["1", "2", "3"]) allowed.get(d)!.add(x);
    allowedPasid = new Map(ALL.map((d) => [d, new Set([domainOf(d, 1), "domain" in c && "pasid" in c && c.pasid === 1 && c.dev === d ? String(c.domain) : undefined].filter((x): x is string => x !== undefined))]));
    step = 0;
    arch.onEntryStep = () => {
      step++;
      for (const d of ALL) {
        anyTime(i, d, s.dma(d));
        pasidTime(i, d, s.dma(d, 1));
      }
    };
    const wasUser = userOwned(c.dev);
    const { refusals } = s.run(text(c));
    arch.onEntryStep = undefined;
    if (refusals.length === 0) {
      // Account for what happened, from the events alone.
      if ("group" in c) {
        // A group attach attaches every vfio device of the group; a group detach none.
        if (c.op === "attach") attached.set(key(c.dev), new Set(GROUP_OF.get(c.dev)!.filter((m) => drivers.get(m) === "vfio")));
        else if (c.op === "detach") attached.set(key(c.dev), new Set());
      } else if (c.op === "bind") {
        drivers.set(c.dev, c.driver);
        if (!wasUser && c.driver === "vfio") attached.set(key(c.dev), new Set());
      } else if (c.op === "unbind") {
        const had = drivers.get(c.dev);
        drivers.delete(c.dev);
        if (had === "vfio") {
          attached.get(key(c.dev))?.delete(c.dev);
          if (!userOwned(c.dev)) attached.delete(key(c.dev));
        }
      } else if (wasUser && c.op === "attach" && c.pasid === undefined) attached.get(key(c.dev))!.add(c.dev);
      else if (wasUser && c.op === "detach" && c.pasid === undefined) attached.get(key(c.dev))!.delete(c.dev);
    }
    // After the event: what the devices reach now.
    allowed = new Map(ALL.map((d) => [d, new Set([domainOf(d)].filter((x): x is string => x !== undefined))]));
    allowedPasid = new Map(ALL.map((d) => [d, new Set([domainOf(d, 1)].filter((x): x is string => x !== undefined))]));
    step = -1;
    for (const d of ALL) {
      pasidTime(i, d, s.dma(d, 1));
      const o = s.dma(d);
      anyTime(i, d, o);
      if (!userOwned(d)) continue;
      const group = attached.get(key(d))!;
      if (group.size === 0) assert.is(o, "blocked", where(i, `${formatBdf(d)}: its user-owned group has no device attached`));
      else {
        const first = s.dma(group.values().next().value!);
        assert.ok(reached(o) !== undefined && o === first, where(i, `${formatBdf(d)} reached ${o}, its group's attached device ${first}`));
      }
    }
  });
}

for (const unit of UNITS) {
  test(`${unit}: random bind/unbind/attach/replace/detach with DMA between every step: no TLP reaches a domain its device is not attached to; user-owned groups are blocked or share one domain`, () => {
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 24 }), (cmds) => check(setup(unit), cmds)),
      { numRuns: 40, seed: 11 },
    );
  });

  test(`${unit}: the same from a user-owned group (03:00.0 bound to vfio first), where group events are carried out`, () => {
    const claim: Cmd = { op: "bind", dev: NIC0, driver: "vfio" };
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 16 }), (cmds) => check(setup(unit), [claim, ...cmds])),
      { numRuns: 20, seed: 12 },
    );
  });
}

test.run();
