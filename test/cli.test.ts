/**
 * src/cli.ts: the lazy command table. The top-level help lists every command from the table without
 * loading it; these tests load each one and check that the table says what commander would, that
 * the command named on the command line (or after `help`) is the one loaded, and the help and
 * version output of the real CLI.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, Help } from "commander";
import { buildProgram, chosenCommand, commands } from "../src/cli.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, "bin/iommu-emu.mjs"), ...args], { cwd: root, encoding: "utf8" });

test("the table's term of every command is what commander makes of the loaded command", async () => {
  assert.equal(
    commands.map((c) => c.name),
    ["run", "convert", "gen", "sweep", "merge", "examples", "groups"],
  );
  for (const c of commands) {
    const program = new Command("iommu-emu");
    (await c.load())(program);
    assert.is(program.commands.length, 1, `${c.name} registers one command`);
    const cmd = program.commands[0]!;
    assert.is(cmd.name(), c.name);
    assert.is(new Help().subcommandTerm(cmd), c.term, c.name);
  }
});

test("the command to load: the first word that is not an option, or the word after help", () => {
  assert.is(chosenCommand(["--help"]), undefined);
  assert.is(chosenCommand([]), undefined);
  assert.is(chosenCommand(["-V"]), undefined);
  assert.is(chosenCommand(["run", "s.json", "--trace", "t.trace"]), "run");
  assert.is(chosenCommand(["--", "run"]), "run");
  assert.is(chosenCommand(["help", "sweep"]), "sweep");
  assert.is(chosenCommand(["help"]), undefined);
  assert.is(chosenCommand(["gen", "stream", "-o", "x.json"]), "gen");
  assert.is(chosenCommand(["rn"]), "rn");
});

test("only the chosen command is loaded: the others have no options, arguments or action", async () => {
  const program = await buildProgram(["convert", "a", "b"]);
  const options = (name: string) => program.commands.find((c) => c.name() === name)!.options.length;
  assert.equal(
    commands.map((c) => [c.name, options(c.name)]),
    [
      ["run", 0],
      ["convert", 4],
      ["gen", 0],
      ["sweep", 0],
      ["merge", 0],
      ["examples", 0],
      ["groups", 0],
    ],
  );
  // Each has its summary, loaded or not.
  assert.equal(
    program.commands.map((c) => c.description()),
    commands.map((c) => c.summary),
  );
});

test("iommu-emu --help lists every command by the table, --version prints the version", () => {
  const h = cli("--help");
  assert.is(h.status, 0, h.stderr);
  assert.is(
    h.stdout,
    `Usage: iommu-emu [options] [command]

Cycle-level IOMMU emulator: replays PCIe DMA traces through a modelled Intel
VT-d (scalable and legacy mode)

Options:
  -V, --version                 print the version (package.json) and exit
  -h, --help                    display help for command

Commands:
  run [options] <scenario>      replay a scenario's trace (or --trace FILE) and
                                print a summary; Ctrl-C stops early with a
                                partial summary
  convert [options] <in> <out>  convert a trace between text v1 and binary
                                (lossless both ways), or import another tool's
                                format
  gen                           write a synthetic workload: a scenario (-o FILE)
                                and its trace beside it (FILE.trace),
                                deterministic by --seed
  sweep [options] <sweep>       run a scenario for every combination of traces
                                and parameter values (sweep.json), on worker
                                threads
  merge [options] <dirs...>     join the outputs of sweep shards (--shard) into
                                one results.json, .csv and .html
  examples                      list the bundled example scenarios (run one
                                with: iommu-emu run example:NAME)
  groups [options] <scenario>   print the IOMMU groups Linux would make of a
                                scenario's PCI topology, and why each device is
                                in its group
  help [command]                display help for command
`,
  );
  const v = cli("-V");
  assert.is(v.status, 0, v.stderr);
  assert.is(v.stdout, "0.1.0\n");
});

test("help NAME and NAME --help show the loaded command's own help; an unknown command is an error with a suggestion", () => {
  const viaHelp = cli("help", "merge");
  const viaOption = cli("merge", "--help");
  assert.is(viaHelp.status, 0, viaHelp.stderr);
  assert.is(viaOption.stdout, viaHelp.stdout);
  assert.is(
    viaHelp.stdout,
    `Usage: iommu-emu merge [options] <dirs...>

join the outputs of sweep shards (--shard) into one results.json, .csv and .html

Arguments:
  dirs              sweep output folders (or their results.json)

Options:
  -o, --out <file>  merged results (.json; the .csv and .html are written beside
                    it)
  -h, --help        display help for command
`,
  );
  const bad = cli("rn", "x.json");
  assert.is(bad.status, 2);
  assert.is(bad.stderr, "error: unknown command 'rn'\n(Did you mean run?)\n");
});

test.run();
