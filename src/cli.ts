/**
 * The command line: argument parsing and wiring only; each command lives in src/cli/. Exit codes:
 * 0 success (faulting DMA is a result, not an error), 2 bad input, 1 internal error.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { InputError } from "./errors.ts";
import { registerRun } from "./cli/run.ts";
import { registerConvert } from "./cli/convert.ts";
import { registerGen } from "./cli/gen.ts";
import { registerSweep } from "./cli/sweep.ts";

export { runCommand, type RunOptions } from "./cli/run.ts";

/** The package's version, read from package.json when asked. */
export function version(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

export function main(argv: string[]): number {
  const program = new Command("iommu-emu")
    .description("Cycle-level IOMMU emulator: replays PCIe DMA traces through a modelled Intel VT-d (scalable mode)")
    .version(version(), "-V, --version", "print the version (package.json) and exit")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  // commands (one file each in src/cli/)
  registerRun(program);
  registerConvert(program);
  registerGen(program);
  registerSweep(program);
  let exitCode = 0;
  try {
    program.parse(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) exitCode = e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0 ? 0 : 2;
    else if (e instanceof InputError) {
      process.stderr.write(`iommu-emu: ${e.message}\n`);
      exitCode = 2;
    } else {
      process.stderr.write(`iommu-emu: internal error: ${(e as Error).stack ?? String(e)}\n`);
      exitCode = 1;
    }
  }
  return exitCode;
}
