/**
 * src/iommu/scenario-keys.ts: the keys `pasidSpace`, `vms` and `reservedRegions`, parsed, and
 * their errors at the offending key. The keys are not in the scenario schema yet, so the test puts
 * them in an object of their own and locates the first issue as the scenario loader does (the
 * position parseJsonLocated records at the issue's path). Each entry sits on its own line (line 3 +
 * index) indented by 4, so a column is 5 + the offset of the value in the entry's compact JSON,
 * counted by hand.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { parseJsonLocated, pathString } from "../../src/config/json-locate.ts";
import { pasidSpaceSchema, reservedRegionsSchema, vmsSchema } from "../../src/iommu/scenario-keys.ts";

const keys = z.strictObject({ pasidSpace: pasidSpaceSchema.optional(), vms: vmsSchema.optional(), reservedRegions: reservedRegionsSchema.optional() });

/** `{ "KEY": [ entries, one a line from line 3 ] }`, or `{ "KEY": value }` on line 2 for an object. */
const text = (key: string, value: unknown): string =>
  Array.isArray(value) ? `{\n  "${key}": [\n${value.map((e) => `    ${JSON.stringify(e)}`).join(",\n")}\n  ]\n}\n` : `{\n  "${key}": ${JSON.stringify(value)}\n}\n`;

function parse(key: string, value: unknown) {
  return keys.parse(parseJsonLocated(text(key, value), "s.json").value);
}

function errorOf(key: string, value: unknown): string {
  const located = parseJsonLocated(text(key, value), "s.json");
  const r = keys.safeParse(located.value);
  if (r.success) throw new Error("expected an error");
  const issue = r.error.issues[0]!;
  const path = pathString(issue.path);
  const at = located.at.get(path)!;
  return `s.json:${at.line}:${at.column}: ${path}: ${issue.message}`;
}

test("vms: names and quotas as given; a VM without a quota gets the allocator's default later", () => {
  assert.equal(parse("vms", [{ name: "vm1", quota: 8 }, { name: "guest-2" }]).vms, [{ name: "vm1", quota: 8 }, { name: "guest-2" }]);
  assert.equal(parse("vms", [{ name: "v", quota: 0 }, { name: "w", quota: 1048576 }]).vms, [{ name: "v", quota: 0 }, { name: "w", quota: 1048576 }]);
});

test("vms errors: a bad name, a name twice, a quota out of range or not a number, an unknown key", () => {
  const NAME = "expected a VM name: 1 to 24 letters, digits, _ . : or -, not starting with . : or - (a trace's binary form holds 24)";
  const QUOTA = "expected a quota (PASIDs the VM may hold at once): an integer 0..1048576";
  // {"name": at offset 8 -> column 13
  assert.is(errorOf("vms", [{ name: "vm 1" }]), `s.json:3:13: vms[0].name: ${NAME}`);
  assert.is(errorOf("vms", [{ name: "-x" }]), `s.json:3:13: vms[0].name: ${NAME}`);
  assert.is(errorOf("vms", [{ name: "a" }, { name: "b" }, { name: "a" }]), 's.json:5:13: vms[2].name: VM "a" is already vms[0] (each name once)');
  // {"name":"vm1","quota": is 22 characters -> column 27
  assert.is(errorOf("vms", [{ name: "vm1", quota: -1 }]), `s.json:3:27: vms[0].quota: ${QUOTA}`);
  assert.is(errorOf("vms", [{ name: "vm1", quota: 1048577 }]), `s.json:3:27: vms[0].quota: ${QUOTA}`);
  assert.is(errorOf("vms", [{ name: "vm1", quota: 2.5 }]), `s.json:3:27: vms[0].quota: ${QUOTA}`);
  assert.is(errorOf("vms", [{ name: "vm1", quota: "8" }]), `s.json:3:27: vms[0].quota: ${QUOTA}`);
});

test("pasidSpace: the allocator's options; RID_PASID inside the space and only for the system policy", () => {
  assert.equal(parse("pasidSpace", { policy: "per-device", bits: 5 }).pasidSpace, { policy: "per-device", bits: 5 });
  assert.equal(parse("pasidSpace", { ridPasid: 7, defaultQuota: 64 }).pasidSpace, { ridPasid: 7, defaultQuota: 64 });
  // line 2 is `  "pasidSpace": {...}`: the object starts at column 17; {"policy": is 10 characters -> 27,
  // {"bits": 8 -> 25, {"bits":4,"ridPasid": 21 -> 38, {"policy":"per-device","ridPasid": 34 -> 51
  assert.is(errorOf("pasidSpace", { policy: "global" }), 's.json:2:27: pasidSpace.policy: expected "system", "per-device"');
  assert.is(errorOf("pasidSpace", { bits: 21 }), "s.json:2:25: pasidSpace.bits: expected the PASID width in bits: an integer 1..20");
  assert.is(errorOf("pasidSpace", { bits: 4, ridPasid: 16 }), "s.json:2:38: pasidSpace.ridPasid: RID_PASID 16 is outside the 4-bit PASID space (0..15)");
  assert.is(
    errorOf("pasidSpace", { policy: "per-device", ridPasid: 1 }),
    's.json:2:51: pasidSpace.ridPasid: a RID_PASID is VT-d\'s, for the "system" policy; per-device substreams reserve SSID 0 only',
  );
});

test("reservedRegions: device BDF, type, base and length as numbers", () => {
  assert.equal(
    parse("reservedRegions", [
      { device: "03:00.0", type: "DIRECT", base: "0x7c000000", length: "0x100000" },
      { device: "0001:00:02.0", type: "SW_MSI", base: "0x8000000", length: 1048576 },
    ]).reservedRegions,
    [
      { device: 0x300, type: "DIRECT", base: 0x7c00_0000n, length: 0x10_0000n },
      { device: 0x10010, type: "SW_MSI", base: 0x800_0000n, length: 0x10_0000n },
    ],
  );
});

test("reservedRegions errors: type, alignment, length, the end beyond 2^64, an entry twice", () => {
  const e = (more: object) => ({ device: "03:00.0", type: "MSI", base: "0xfee00000", length: "0x100000", ...more });
  // {"device":"03:00.0","type": is 27 characters -> column 32; ..."type":"MSI","base": 40 -> column 45; ..."base":"0xfee00000","length": 62 -> column 67
  assert.is(errorOf("reservedRegions", [e({ type: "P2P" })]), 's.json:3:32: reservedRegions[0].type: expected a region type: "DIRECT", "DIRECT_RELAXABLE", "RESERVED", "MSI", "SW_MSI"');
  assert.is(errorOf("reservedRegions", [e({ base: "0xfee00010" })]), "s.json:3:45: reservedRegions[0].base: expected a base aligned to 4 KiB (0x1000), got 0xfee00010");
  assert.is(errorOf("reservedRegions", [e({ base: "1000" })]), 's.json:3:45: reservedRegions[0].base: expected 0x-prefixed hex or a JSON number, got "1000"');
  assert.is(
    errorOf("reservedRegions", [e({ length: "0x0" })]),
    "s.json:3:67: reservedRegions[0].length: expected a length of whole 4 KiB pages (a multiple of 0x1000, at least 0x1000), got 0x0",
  );
  assert.is(
    errorOf("reservedRegions", [e({ length: "0x800" })]),
    "s.json:3:67: reservedRegions[0].length: expected a length of whole 4 KiB pages (a multiple of 0x1000, at least 0x1000), got 0x800",
  );
  // base 0xfffffffffffff000 (20 characters with quotes): ..."base":"0xfffffffffffff000","length": is 70 -> column 75
  assert.is(
    errorOf("reservedRegions", [e({ base: "0xfffffffffffff000", length: "0x2000" })]),
    "s.json:3:75: reservedRegions[0].length: the region 0xfffffffffffff000+0x2000 ends beyond 2^64",
  );
  // the last page of the 64-bit space is fine
  assert.equal(parse("reservedRegions", [e({ base: "0xfffffffffffff000", length: "0x1000" })]).reservedRegions![0]!.base, 0xffff_ffff_ffff_f000n);
  // the same entry twice (the third entry, on line 5, repeats the first); the same range of another type or device is not the same region
  assert.is(errorOf("reservedRegions", [e({}), e({ type: "RESERVED" }), e({})]), "s.json:5:32: reservedRegions[2].type: the same MSI region of 03:00.0 as reservedRegions[0]");
  assert.equal(parse("reservedRegions", [e({}), e({ device: "03:00.1" })]).reservedRegions!.length, 2);
  assert.is(errorOf("reservedRegions", [e({ device: "3:00.0" })]), 's.json:3:15: reservedRegions[0].device: expected a BDF like "03:00.1" or "0001:03:00.1" (hex bus:device.function, device 00-1f, function 0-7), got "3:00.0"');
});

test.run();
