/** Every fuzz target by name, and the groups `--target` accepts (README "Fuzzing"). */
import type { FuzzTarget } from "./target.ts";
import { coreTarget } from "./core.ts";
import { binaryTarget, importerTarget, IMPORTERS, jsonTarget, streamTarget, textTarget } from "./parsers.ts";
import { driverTarget } from "./driver.ts";
import { scenarioTarget } from "./scenario.ts";

const makers: Record<string, () => FuzzTarget<unknown>> = {
  core: () => coreTarget() as FuzzTarget<unknown>,
  text: () => textTarget() as FuzzTarget<unknown>,
  stream: () => streamTarget() as FuzzTarget<unknown>,
  binary: () => binaryTarget() as FuzzTarget<unknown>,
  json: () => jsonTarget() as FuzzTarget<unknown>,
  ...Object.fromEntries(IMPORTERS.map((n) => [n, () => importerTarget(n) as FuzzTarget<unknown>])),
  "driver-strict": () => driverTarget("strict") as FuzzTarget<unknown>,
  "driver-lazy": () => driverTarget("lazy") as FuzzTarget<unknown>,
  scenario: () => scenarioTarget() as FuzzTarget<unknown>,
};

export const targetNames = Object.keys(makers);

export const groups: Record<string, string[]> = {
  core: ["core"],
  parsers: ["text", "stream", "binary", "json", ...IMPORTERS],
  driver: ["driver-strict", "driver-lazy"],
  scenario: ["scenario"],
  all: targetNames,
};

export function makeTarget(name: string): FuzzTarget<unknown> {
  const m = makers[name];
  if (!m) throw new RangeError(`no fuzz target ${name}`);
  return m();
}
