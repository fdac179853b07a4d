/**
 * The command line: argument parsing and wiring only; each command lives in src/cli/. Exit codes:
 * 0 success (faulting DMA is a result, not an error), 2 bad input, 1 internal error.
 *
 * Start-up is lazy: a command's module (and everything it imports: the schema, the core loader,
 * the readers) is imported only when that command is the one given, `iommu-emu help NAME` and
 * `NAME --help` included. Every other command is listed from the table below, so `iommu-emu
 * --help` loads commander and this file only. In the package, even less: `--version` reads
 * package.json, and `--help` prints dist/help.txt, the same help rendered by commander when dist/
 * was built (scripts/build-dist.ts); neither loads commander (README "Install": under 150 ms,
 * `npm run bench:startup`).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type * as Commander from "commander";
import { InputError } from "./errors.ts";

// commander is a CommonJS package: required, not imported, it loads in about half the time (an ESM
// import of CommonJS first scans the file for its exports); required when first needed, since it
// is still a third of what --help costs over Node's own start-up.
let loaded: typeof Commander | undefined;
const commander = () => (loaded ??= createRequire(import.meta.url)("commander") as typeof Commander);
type Command = Commander.Command;

/** Adds a command (its arguments, options and action) to the program. */
type Register = (program: Command) => void;

/** A command as the top-level help lists it, and how to load it. */
export interface CommandEntry {
  name: string;
  /** What the top-level help shows for it (commander's term: name, `[options]`, arguments); test/cli/commands.test.ts checks it against the loaded command. */
  term: string;
  /** Its description, in the top-level help and its own. */
  summary: string;
  load: () => Promise<Register>;
}

/** Every command, in the order the help lists them. */
export const commands: readonly CommandEntry[] = [
  {
    name: "run",
    term: "run [options] <scenario>",
    summary: "replay a scenario's trace (or --trace FILE) and print a summary; Ctrl-C stops early with a partial summary",
    load: async () => (await import("./cli/run.ts")).registerRun,
  },
  {
    name: "convert",
    term: "convert [options] <in> <out>",
    summary: "convert a trace between text v1 and binary (lossless both ways), or import another tool's format",
    load: async () => (await import("./cli/convert.ts")).registerConvert,
  },
  {
    name: "gen",
    term: "gen",
    summary: "write a synthetic workload: a scenario (-o FILE) and its trace beside it (FILE.trace), deterministic by --seed",
    load: async () => (await import("./cli/gen.ts")).registerGen,
  },
  {
    name: "sweep",
    term: "sweep [options] <sweep>",
    summary: "run a scenario for every combination of traces and parameter values (sweep.json), on worker threads",
    load: async () => (await import("./cli/sweep.ts")).registerSweep,
  },
  {
    name: "merge",
    term: "merge [options] <dirs...>",
    summary: "join the outputs of sweep shards (--shard) into one results.json, .csv and .html",
    load: async () => (await import("./cli/sweep.ts")).registerMerge,
  },
  {
    name: "examples",
    term: "examples",
    summary: "list the bundled example scenarios (run one with: iommu-emu run example:NAME)",
    load: async () => (await import("./cli/examples.ts")).registerExamples,
  },
  {
    name: "groups",
    term: "groups [options] <scenario>",
    summary: "print the IOMMU groups Linux would make of a scenario's PCI topology, and why each device is in its group",
    load: async () => (await import("./cli/groups.ts")).registerGroups,
  },
];

/** The package's version, read from package.json when asked. */
export function version(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

/**
 * The command that `argv` runs, or whose help it asks for: its first word that is not an option
 * (the program itself has no option that takes a value), or the word after `help`.
 */
export function chosenCommand(argv: readonly string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith("-"));
  return words[0] === "help" ? words[1] : words[0];
}

/** The program, with the command `argv` names loaded and every other one listed only. */
export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const { Command, Help } = commander();
  const program = new Command("iommu-emu")
    .description("Cycle-level IOMMU emulator: replays PCIe DMA traces through a modelled Intel VT-d (scalable and legacy mode)")
    .version(version(), "-V, --version", "print the version (package.json) and exit")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const terms = new Map(commands.map((c) => [c.name, c.term]));
  program.configureHelp({
    // The program's own commands by the table (a listed one has no options or arguments yet); a
    // subcommand's (gen's workloads) as commander words it.
    subcommandTerm(cmd: Command): string {
      return (cmd.parent === program ? terms.get(cmd.name()) : undefined) ?? Help.prototype.subcommandTerm.call(this, cmd);
    },
  });
  const chosen = chosenCommand(argv);
  for (const c of commands) {
    if (c.name === chosen) (await c.load())(program);
    else program.command(c.name);
    program.commands.find((x) => x.name() === c.name)!.description(c.summary);
  }
  return program;
}

/** The top-level help as commander renders it when not on a terminal (80 columns), built into dist/ (scripts/build-dist.ts). */
export const PRERENDERED_HELP = "help.txt";

/** `--version` and, where dist/ has it, `--help` alone: answered without commander (the same text it prints). */
function quickAnswer(argv: readonly string[]): string | undefined {
  if (argv.length !== 1) return undefined;
  if (argv[0] === "--version" || argv[0] === "-V") return `${version()}\n`;
  if (argv[0] === "--help" || argv[0] === "-h") {
    try {
      return readFileSync(new URL(PRERENDERED_HELP, import.meta.url), "utf8");
    } catch {
      return undefined; // a clone: commander renders it
    }
  }
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  const quick = quickAnswer(argv);
  if (quick !== undefined) {
    process.stdout.write(quick);
    return 0;
  }
  let exitCode = 0;
  try {
    const program = await buildProgram(argv);
    program.parse(argv, { from: "user" });
  } catch (e) {
    if (loaded && e instanceof loaded.CommanderError) exitCode = e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0 ? 0 : 2;
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
