/**
 * The budget catalogue (src/config/limits.ts): defaults, the order in which the scenario and the
 * command line override them, `--limit NAME=N` parsing and its messages, byte sizes in messages.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bytesText, defaultLimits, limitNames, parseLimitOptions, resolveLimits } from "../../src/config/limits.ts";
import { InputError } from "../../src/errors.ts";

test("the catalogue: five budgets with their defaults", () => {
  assert.equal(limitNames, ["tablePages", "cacheEntries", "devices", "pasids", "traceLines"]);
  assert.equal(defaultLimits, { tablePages: 16384, cacheEntries: 2097152, devices: 4096, pasids: 4096, traceLines: 1048576 });
});

test("resolveLimits: defaults, then each part in order", () => {
  assert.equal(resolveLimits({ devices: 8, pasids: 2 }, { pasids: 3 }), { ...defaultLimits, devices: 8, pasids: 3 });
  assert.equal(resolveLimits(undefined, {}), defaultLimits);
});

test("--limit NAME=N: values by name; bad forms name the option and what was expected", () => {
  assert.equal(parseLimitOptions(["tablePages=100", "devices=5", "tablePages=200"]), { tablePages: 200, devices: 5 });
  const message = (text: string) => {
    try {
      parseLimitOptions([text]);
    } catch (e) {
      assert.instance(e, InputError);
      return (e as Error).message;
    }
    throw new Error("expected an InputError");
  };
  assert.is(message("tablePages"), '--limit: expected NAME=N with N a positive integer, got "tablePages"');
  assert.is(message("tablePages=0x10"), '--limit: expected NAME=N with N a positive integer, got "tablePages=0x10"');
  assert.is(message("pages=1"), '--limit: unknown budget "pages"; expected one of tablePages, cacheEntries, devices, pasids, traceLines');
  assert.is(message("tablePages=0"), "--limit tablePages: expected a positive integer up to 9007199254740991, got 0");
  assert.is(message("devices=9007199254740992"), "--limit devices: expected a positive integer up to 9007199254740991, got 9007199254740992");
});

test("byte sizes in messages: binary units, one decimal where not whole", () => {
  assert.is(bytesText(1n << 44n), "16 TiB");
  assert.is(bytesText(4096n), "4 KiB");
  assert.is(bytesText(100n), "100 bytes");
  assert.is(bytesText(3n << 29n), "1.5 GiB");
  assert.is(bytesText(8405024n * 4096n), "32.1 GiB");
  assert.is(bytesText((1n << 20n) - 1n), "1024 KiB");
});

test.run();
